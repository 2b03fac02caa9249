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
    return K * D + 4 * K * K;
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
        for (int j = i; j < k; j++) {
            double s = 0.0;
            for (int t = 0; t < d; t++)
                s += zc[i * D + t] * zc[j * D + t];
            if (i == j)
                s += ORTHO_EPS;
            p[i * K + j] = p[j * K + i] = s;
        }
    crmti_sym_eigen(p, k, evals, evecs);
    for (int i = 0; i < k; i++)
        for (int j = 0; j < k; j++) {
            double s = 0.0;
            for (int t = 0; t < k; t++)
                s += evecs[i * K + t] * evecs[j * K + t] / sqrt(evals[t]);
            p[i * K + j] = s;
        }
    for (int i = 0; i < k; i++)
        for (int t = 0; t < d; t++) {
            double s = 0.0;
            for (int j = 0; j < k; j++)
                s += p[i * K + j] * zc[j * D + t];
            wt[i * D + t] = (float)s;
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
    /* dZc = P dWt (P symmetric); dP = dWt Zc^T. */
    for (size_t i = 0; i < K; i++)
        for (size_t t = 0; t < D; t++) {
            double s = 0.0;
            for (size_t j = 0; j < K; j++)
                s += p[i * K + j] * dwt[j * D + t];
            dzc[i * D + t] = s;
        }
    for (size_t i = 0; i < K; i++)
        for (size_t j = 0; j < K; j++) {
            double s = 0.0;
            for (size_t t = 0; t < D; t++)
                s += dwt[i * D + t] * zc[j * D + t];
            dp[i * K + j] = s;
        }
    /* Daleckii-Krein: dS = U (F o (U^T sym(dP) U)) U^T with f(x) = x^{-1/2}. */
    for (size_t i = 0; i < K; i++)
        for (size_t j = 0; j < K; j++) {
            double s = 0.0;
            for (size_t a = 0; a < K; a++)
                for (size_t b = 0; b < K; b++)
                    s += evecs[a * K + i] * 0.5 * (dp[a * K + b] + dp[b * K + a]) *
                         evecs[b * K + j];
            tmp[i * K + j] = s;
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
    for (size_t i = 0; i < K; i++)
        for (size_t j = 0; j < K; j++) {
            double s = 0.0;
            for (size_t a = 0; a < K; a++)
                for (size_t b = 0; b < K; b++)
                    s += evecs[i * K + a] * f[a * K + b] * evecs[j * K + b];
            ds[i * K + j] = s;
        }
    /* S = Zc Zc^T: dZc += (dS + dS^T) Zc. */
    for (size_t i = 0; i < K; i++)
        for (size_t t = 0; t < D; t++) {
            double s = 0.0;
            for (size_t j = 0; j < K; j++)
                s += (ds[i * K + j] + ds[j * K + i]) * zc[j * D + t];
            dzc[i * D + t] += s;
        }
    for (size_t i = 0; i < K * D; i++)
        dv[i] += (float)dzc[i];
}
