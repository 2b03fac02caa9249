#include "model/head_norm.h"

#include <math.h>
#include <string.h>

#include "tensor/linalg.h"

/* Regularises the whitening of nearly rank-deficient rows; small against |V|^2 of any
 * sensibly initialised head. */
#define ORTHO_EPS 1e-5
#define ROW_EPS 1e-12

/* Cache layout. Row mode: norms (K), then Wt in double (K*d). Orthonormal: Z = V in double
 * (K*d), evals (K), evecs (K*K), P = S^{-1/2} (K*K). */
size_t crmti_head_norm_cache_size(int k, int d, int orthonormal)
{
    size_t K = (size_t)k, D = (size_t)d;
    return orthonormal ? K * D + K + 2 * K * K : K + K * D;
}

size_t crmti_head_norm_scratch_size(int k, int d)
{
    size_t K = (size_t)k, D = (size_t)d;
    return K * D + 4 * K * K + D;
}

/* Performance note for the loops below: every sum is accumulated exactly as the plain
 * definition reads -- from 0.0, over its index in increasing order -- so results are
 * bit-identical to the straightforward triple loops; only independent sums are interleaved
 * (four dot products side by side, or one row of sums vectorised over its columns) so that
 * they do not wait on each other's additions. */

/* out[r] = sum_t a[t] * b[r * ldb + t] (t = 0..n-1, from 0.0) for r < nr <= 4. */
static void dots4(const double *a, const double *b, size_t ldb, int nr, size_t n, double *out)
{
    const double *b0 = b, *b1 = b + (nr > 1 ? ldb : 0), *b2 = b + (nr > 2 ? 2 * ldb : 0),
                 *b3 = b + (nr > 3 ? 3 * ldb : 0);
    double s0 = 0.0, s1 = 0.0, s2 = 0.0, s3 = 0.0;
    for (size_t t = 0; t < n; t++) {
        s0 += a[t] * b0[t];
        s1 += a[t] * b1[t];
        s2 += a[t] * b2[t];
        s3 += a[t] * b3[t];
    }
    out[0] = s0;
    if (nr > 1)
        out[1] = s1;
    if (nr > 2)
        out[2] = s2;
    if (nr > 3)
        out[3] = s3;
}

void crmti_head_norm_forward(const float *v, int k, int d, int orthonormal, float *wt,
                             double *cache)
{
    if (!orthonormal) {
        for (int i = 0; i < k; i++) {
            const float *row = v + (size_t)i * d;
            double mean = 0.0, ss = 0.0;
            for (int j = 0; j < d; j++)
                mean += row[j];
            mean /= d;
            for (int j = 0; j < d; j++)
                ss += (row[j] - mean) * (row[j] - mean);
            double nrm = sqrt(ss) + ROW_EPS;
            cache[i] = nrm;
            double *wd = cache + k + (size_t)i * d;
            for (int j = 0; j < d; j++) {
                wd[j] = (row[j] - mean) / nrm;
                wt[(size_t)i * d + j] = (float)wd[j];
            }
        }
        return;
    }
    size_t K = (size_t)k, D = (size_t)d;
    double *zc = cache, *evals = zc + K * D, *evecs = evals + K, *p = evecs + K * K;
    for (size_t i = 0; i < K * D; i++)
        zc[i] = v[i];
    /* S = Zc Zc^T + eps I, eigen-decomposed in place of p (used as scratch first). */
    for (int i = 0; i < k; i++)
        for (int j = i; j < k; j += 4) {
            const int nr = k - j < 4 ? k - j : 4;
            double s[4];
            dots4(zc + (size_t)i * D, zc + (size_t)j * D, D, nr, D, s);
            for (int r = 0; r < nr; r++) {
                if (i == j + r)
                    s[r] += ORTHO_EPS;
                p[(size_t)i * K + (size_t)(j + r)] = p[(size_t)(j + r) * K + (size_t)i] = s[r];
            }
        }
    crmti_sym_eigen(p, k, evals, evecs);
    /* P = U diag(evals)^{-1/2} U^T; the square roots computed once per eigenvalue when K is
     * small enough for a stack table (sqrt is correctly rounded: the same values). */
    double root[64];
    const int cached = k <= 64;
    if (cached)
        for (int t = 0; t < k; t++)
            root[t] = sqrt(evals[t]);
    for (int i = 0; i < k; i++)
        for (int j = 0; j < k; j++) {
            double s = 0.0;
            if (cached)
                for (int t = 0; t < k; t++)
                    s += evecs[i * K + t] * evecs[j * K + t] / root[t];
            else
                for (int t = 0; t < k; t++)
                    s += evecs[i * K + t] * evecs[j * K + t] / sqrt(evals[t]);
            p[i * K + j] = s;
        }
    for (size_t i = 0; i < K; i++) {
        size_t t = 0;
        for (; t + 4 <= D; t += 4) {
            double s0 = 0.0, s1 = 0.0, s2 = 0.0, s3 = 0.0;
            for (size_t j = 0; j < K; j++) {
                const double pij = p[i * K + j];
                const double *z = zc + j * D + t;
                s0 += pij * z[0];
                s1 += pij * z[1];
                s2 += pij * z[2];
                s3 += pij * z[3];
            }
            wt[i * D + t] = (float)s0;
            wt[i * D + t + 1] = (float)s1;
            wt[i * D + t + 2] = (float)s2;
            wt[i * D + t + 3] = (float)s3;
        }
        for (; t < D; t++) {
            double s = 0.0;
            for (size_t j = 0; j < K; j++)
                s += p[i * K + j] * zc[j * D + t];
            wt[i * D + t] = (float)s;
        }
    }
}

void crmti_head_norm_backward(const float *dwt, int k, int d, int orthonormal,
                              const double *cache, double *scratch, float *dv)
{
    size_t K = (size_t)k, D = (size_t)d;
    double *dzc = scratch;
    if (!orthonormal) {
        /* wt_i = c_i / n_i: dc_i = (dwt_i - wt_i <wt_i, dwt_i>) / n_i; centring: subtract
         * the row mean of dc_i. */
        for (size_t i = 0; i < K; i++) {
            const double *w = cache + K + i * D;
            const float *g = dwt + i * D;
            double dot = 0.0, mean = 0.0;
            for (size_t t = 0; t < D; t++)
                dot += w[t] * g[t];
            for (size_t t = 0; t < D; t++) {
                dzc[t] = (g[t] - w[t] * dot) / cache[i];
                mean += dzc[t];
            }
            mean /= (double)D;
            for (size_t t = 0; t < D; t++)
                dv[i * D + t] += (float)(dzc[t] - mean);
        }
        return;
    }
    const double *zc = cache, *evals = zc + K * D, *evecs = evals + K, *p = evecs + K * K;
    double *dp = dzc + K * D, *tmp = dp + K * K, *f = tmp + K * K, *ds = f + K * K;
    double *row = ds + K * K; /* D doubles */
    /* dZc = P dWt (P symmetric): row i of sums over j, vectorised over t. */
    for (size_t i = 0; i < K; i++) {
        double *z = dzc + i * D;
        for (size_t t = 0; t < D; t++)
            z[t] = 0.0;
        for (size_t j = 0; j < K; j++) {
            const double pij = p[i * K + j];
            const float *g = dwt + j * D;
            for (size_t t = 0; t < D; t++)
                z[t] += pij * g[t];
        }
    }
    /* dP = dWt Zc^T: four dot products at a time, with row i of dWt promoted to double once
     * (exact; the products are the mixed float * double ones). row is free until the end. */
    for (size_t i = 0; i < K; i++) {
        for (size_t t = 0; t < D; t++)
            row[t] = dwt[i * D + t];
        for (size_t j = 0; j < K; j += 4) {
            const int nr = K - j < 4 ? (int)(K - j) : 4;
            dots4(row, zc + j * D, D, nr, D, dp + i * K + j);
        }
    }
    /* Daleckii-Krein: dS = U (F o (U^T sym(dP) U)) U^T with f(x) = x^{-1/2}. Each term
     * (U_ai * 0.5 * (dP_ab + dP_ba)) * U_bj is summed over (a, b) in that order, for the
     * whole row j at once (its first factor does not depend on j). */
    for (size_t i = 0; i < K; i++) {
        double *acc = tmp + i * K;
        for (size_t j = 0; j < K; j++)
            acc[j] = 0.0;
        for (size_t a = 0; a < K; a++)
            for (size_t b = 0; b < K; b++) {
                const double c = evecs[a * K + i] * 0.5 * (dp[a * K + b] + dp[b * K + a]);
                const double *u = evecs + b * K;
                for (size_t j = 0; j < K; j++)
                    acc[j] += c * u[j];
            }
    }
    for (size_t i = 0; i < K; i++)
        for (size_t j = 0; j < K; j++) {
            double li = evals[i], lj = evals[j], fij;
            if (fabs(li - lj) <= 1e-9 * (li + lj))
                fij = -0.5 / (li * sqrt(li));
            else
                fij = (1.0 / sqrt(li) - 1.0 / sqrt(lj)) / (li - lj);
            f[i * K + j] = fij * tmp[i * K + j];
        }
    /* ds_ij = sum_a sum_b (U_ia F_ab) U_jb, row i at once over j through U^T (tmp is free
     * again: copy U^T into it). */
    double *ut = tmp;
    for (size_t a = 0; a < K; a++)
        for (size_t b = 0; b < K; b++)
            ut[b * K + a] = evecs[a * K + b];
    for (size_t i = 0; i < K; i++) {
        double *acc = ds + i * K;
        for (size_t j = 0; j < K; j++)
            acc[j] = 0.0;
        for (size_t a = 0; a < K; a++)
            for (size_t b = 0; b < K; b++) {
                const double c = evecs[i * K + a] * f[a * K + b];
                const double *u = ut + b * K;
                for (size_t j = 0; j < K; j++)
                    acc[j] += c * u[j];
            }
    }
    /* S = Zc Zc^T: dZc += (dS + dS^T) Zc; the sum over j of row i first, then added. */
    for (size_t i = 0; i < K; i++) {
        for (size_t t = 0; t < D; t++)
            row[t] = 0.0;
        for (size_t j = 0; j < K; j++) {
            const double c = ds[i * K + j] + ds[j * K + i];
            const double *z = zc + j * D;
            for (size_t t = 0; t < D; t++)
                row[t] += c * z[t];
        }
        for (size_t t = 0; t < D; t++)
            dzc[i * D + t] += row[t];
    }
    for (size_t i = 0; i < K * D; i++)
        dv[i] += (float)dzc[i];
}
