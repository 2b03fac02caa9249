/* Sound Lipschitz bounds of the image layers: the operator norm of a convolution (explicit
 * matrix + Gram iteration, polyphase Fourier + Gram iteration, or sqrt(||A||_1 ||A||_inf)),
 * and the pooling constants. The proofs are in docs/conv.md; every step that rounds carries
 * an allowance, so each value is an upper bound of the real-arithmetic quantity of the
 * float parameters. Only used when a certifier (or CRMT step 2) is built: these functions
 * allocate. */
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "model/model.h"
#include "nn/layer.h"
#include "robust/lipschitz.h"

static double relax(double v, double rel) { return v * (1.0 + rel); }

/* ---- coverage counts ---- */

/* Largest number of windows (k taps, stride s, padding p, `outs` outputs) covering one of the
 * n input positions of one dimension. */
static int max_cover_1d(int n, int outs, int k, int s, int p)
{
    int best = 0;
    /* Input position r is read by output i when 0 <= r + p - i s < k. */
    for (int r = 0; r < n; r++) {
        int cnt = 0;
        const long long rp = (long long)r + p;
        long long i_lo = rp - k + 1 <= 0 ? 0 : (rp - k + 1 + s - 1) / s; /* ceil */
        long long i_hi = rp / s;                                          /* floor */
        if (i_hi > outs - 1)
            i_hi = outs - 1;
        if (i_hi >= i_lo)
            cnt = (int)(i_hi - i_lo + 1);
        if (cnt > best)
            best = cnt;
    }
    return best;
}

int crmti_layer_max_cover(const crmti_layer *l)
{
    const int p = l->kind == CRMTI_LAYER_CONV2D ? l->pad : 0;
    return max_cover_1d(l->in_h, l->out_h, l->kernel, l->stride, p) *
           max_cover_1d(l->in_w, l->out_w, l->kernel, l->stride, p);
}

/* ---- explicit operator ---- */

static int explicit_ok(size_t rows, size_t cols)
{
    const size_t side = rows < cols ? rows : cols;
    return (double)rows * (double)cols <= (double)CRMTI_CONV_EXPLICIT_MAX_ENTRIES &&
           side <= CRMTI_CONV_EXPLICIT_MAX_SIDE;
}

/* Gram-iteration bound of the explicit (out_c OH OW) x (in_c H W) matrix of the convolution
 * of layer geometry l with double weights wd (out_c x in_c x k x k). Entries are copies of
 * the weights, so the matrix is exact; crmti_spectral_norm_bound covers its own rounding. */
static crmt_status explicit_bound(const crmti_layer *l, const double *wd, double *bound)
{
    const int C = l->in_c, H = l->in_h, W = l->in_w, k = l->kernel, s = l->stride;
    const int p = l->pad, OC = l->out_c, OH = l->out_h, OW = l->out_w;
    const size_t rows = (size_t)OC * OH * OW, cols = (size_t)C * H * W;
    double *a = calloc(rows * cols, sizeof(double));
    if (!a)
        return crmti_fail(NULL, CRMT_ERR_OUT_OF_MEMORY,
                          "cannot allocate the %zu x %zu matrix of a convolution", rows, cols);
    for (int o = 0; o < OC; o++)
        for (int oh = 0; oh < OH; oh++)
            for (int ow = 0; ow < OW; ow++) {
                double *row = a + (((size_t)o * OH + oh) * OW + ow) * cols;
                for (int c = 0; c < C; c++)
                    for (int ki = 0; ki < k; ki++) {
                        const int ih = oh * s - p + ki;
                        if (ih < 0 || ih >= H)
                            continue;
                        for (int kj = 0; kj < k; kj++) {
                            const int iw = ow * s - p + kj;
                            if (iw < 0 || iw >= W)
                                continue;
                            row[((size_t)c * H + ih) * W + iw] =
                                wd[(((size_t)o * C + c) * k + ki) * k + kj];
                        }
                    }
            }
    crmt_status st = crmti_spectral_norm_bound(a, (int)rows, (int)cols, bound);
    free(a);
    return st;
}

/* ---- polyphase Fourier bound ---- */

/* Phases r < min(s, k) of each dimension carry weights (a phase r >= k has none: its columns
 * of W-hat are zero and do not change the singular values, so they are left out). */
static int live_phases(const crmti_layer *l)
{
    return l->stride < l->kernel ? l->stride : l->kernel;
}

/* Estimated flops of fourier_bound: half the frequencies, each a Gram iteration on the
 * smaller side of the 2 out_c x 2 in_c sr^2 real matrix. */
static double fourier_cost(const crmti_layer *l)
{
    const int k = l->kernel, s = l->stride, sr = live_phases(l);
    const double kp = (double)((k + s - 1) / s);
    const double m1 = l->out_h + kp - 1.0, m2 = l->out_w + kp - 1.0;
    const double cp = (double)l->in_c * sr * sr, oc = (double)l->out_c;
    const double side = 2.0 * (oc < cp ? oc : cp), big = 2.0 * (oc < cp ? cp : oc);
    return 0.5 * m1 * m2 * (side * side * big + (CRMTI_GRAM_ITERS + 1.0) * side * side * side);
}

static crmt_status fourier_bound(const crmti_layer *l, const float *w, double *bound)
{
    const int C = l->in_c, k = l->kernel, s = l->stride, OC = l->out_c;
    const int kp = (k + s - 1) / s;          /* polyphase kernel size */
    const int sr = live_phases(l);
    const int Cp = C * sr * sr;              /* polyphase input channels with weights;
                                                C sr^2 <= C k^2 <= 10^9 (spec checks) */
    const int M1 = l->out_h + kp - 1, M2 = l->out_w + kp - 1;
    const size_t nq = (size_t)kp * kp;
    const size_t rr = 2 * (size_t)OC, rc = 2 * (size_t)Cp;
    double *wp = calloc((size_t)OC * Cp * nq, sizeof(double));
    double *err = calloc((size_t)OC * Cp, sizeof(double));
    double *e1 = malloc(sizeof(double) * 2 * (size_t)M1 * kp);
    double *e2 = malloc(sizeof(double) * 2 * (size_t)M2 * kp);
    double *r = malloc(sizeof(double) * rr * rc);
    crmt_status st = CRMT_OK;
    *bound = 0.0;
    if (!wp || !err || !e1 || !e2 || !r) {
        st = crmti_fail(NULL, CRMT_ERR_OUT_OF_MEMORY,
                        "cannot allocate the Fourier bound of a convolution");
        goto done;
    }
    /* wp[o][(c sr + r1) sr + r2][q1][q2] = w[o][c][q1 s + r1][q2 s + r2] (0 beyond k) */
    for (int o = 0; o < OC; o++)
        for (int c = 0; c < C; c++)
            for (int ki = 0; ki < k; ki++)
                for (int kj = 0; kj < k; kj++) {
                    const int q1 = ki / s, r1 = ki % s, q2 = kj / s, r2 = kj % s;
                    const size_t cp = ((size_t)c * sr + r1) * sr + r2;
                    wp[(((size_t)o * Cp + cp) * kp + q1) * kp + q2] =
                        (double)w[(((size_t)o * C + c) * k + ki) * k + kj];
                }
    /* Allowance per entry of the computed DFT (real and imaginary parts): each twiddle
     * factor is within 24 eps of exp(i theta) (angle 2 pi j / M with 3 roundings, libm
     * cos/sin within 1 ulp), products of two within 56 eps, and the two-stage sum over
     * kp^2 terms rounds at most (kp^2 + kp + 4) u relative to sum |w'|: so
     * e = 4 (kp^2 + kp + 32) eps sum_q |w'_q| is generous. */
    for (size_t oc = 0; oc < (size_t)OC * Cp; oc++) {
        double sa = 0.0;
        for (size_t q = 0; q < nq; q++)
            sa += fabs(wp[oc * nq + q]);
        err[oc] = 4.0 * ((double)nq + kp + 32.0) * DBL_EPSILON * sa * (1.0 + 1e-10);
    }
    double err_f = 0.0;
    for (size_t oc = 0; oc < (size_t)OC * Cp; oc++)
        err_f += err[oc] * err[oc];
    /* ||Delta R||_F <= 2 sqrt(sum e^2) (each of Re, Im appears twice in R) */
    err_f = 2.0 * sqrt(err_f) * (1.0 + 4.0 * DBL_EPSILON) + DBL_MIN;
    const double two_pi = 6.28318530717958647692; /* 2 pi, rounded: relative error <= u */
    for (int u = 0; u < M1; u++)
        for (int q = 0; q < kp; q++) {
            const double th = two_pi * (double)(((long long)u * q) % M1) / (double)M1;
            e1[2 * ((size_t)u * kp + q)] = cos(th);
            e1[2 * ((size_t)u * kp + q) + 1] = sin(th);
        }
    for (int v = 0; v < M2; v++)
        for (int q = 0; q < kp; q++) {
            const double th = two_pi * (double)(((long long)v * q) % M2) / (double)M2;
            e2[2 * ((size_t)v * kp + q)] = cos(th);
            e2[2 * ((size_t)v * kp + q) + 1] = sin(th);
        }
    double best = 0.0;
    for (int u = 0; u < M1; u++)
        for (int v = 0; v < M2; v++) {
            /* W(-u, -v) = conj W(u, v): same singular values; visit one of the two */
            const long long self = (long long)u * M2 + v;
            const long long mate = (long long)((M1 - u) % M1) * M2 + (M2 - v) % M2;
            if (mate < self)
                continue;
            /* R = [[Re, -Im], [Im, Re]] of W(u, v) = sum_q w'_q exp(2 pi i (u q1/M1 + v q2/M2)) */
            for (int o = 0; o < OC; o++)
                for (int cp = 0; cp < Cp; cp++) {
                    const double *wq = wp + ((size_t)o * Cp + cp) * nq;
                    double re = 0.0, im = 0.0;
                    for (int q1 = 0; q1 < kp; q1++) {
                        double ir = 0.0, ii = 0.0;
                        for (int q2 = 0; q2 < kp; q2++) {
                            const double x = wq[(size_t)q1 * kp + q2];
                            ir += x * e2[2 * ((size_t)v * kp + q2)];
                            ii += x * e2[2 * ((size_t)v * kp + q2) + 1];
                        }
                        const double cr = e1[2 * ((size_t)u * kp + q1)];
                        const double ci = e1[2 * ((size_t)u * kp + q1) + 1];
                        re += cr * ir - ci * ii;
                        im += cr * ii + ci * ir;
                    }
                    r[(size_t)o * rc + cp] = re;
                    r[(size_t)o * rc + Cp + cp] = -im;
                    r[((size_t)OC + o) * rc + cp] = im;
                    r[((size_t)OC + o) * rc + Cp + cp] = re;
                }
            double b = 0.0;
            st = crmti_spectral_norm_bound(r, (int)rr, (int)rc, &b);
            if (st != CRMT_OK)
                goto done;
            b += err_f;
            if (b > best)
                best = b;
        }
    *bound = best;
done:
    free(wp);
    free(err);
    free(e1);
    free(e2);
    free(r);
    return st;
}

/* ---- sqrt(||A||_1 ||A||_inf) on the sparse operator ---- */

/* Taps ki of one dimension that output i uses: [lo, hi). */
static void taps_of_output(int i, int n, int k, int s, int p, int *lo, int *hi)
{
    const int start = i * s - p;
    *lo = start < 0 ? -start : 0;
    *hi = n - start < k ? n - start : k;
    if (*hi < *lo)
        *hi = *lo;
}

static crmt_status norm1inf_bound(const crmti_layer *l, const float *w, double *bound)
{
    const int C = l->in_c, H = l->in_h, W = l->in_w, k = l->kernel, s = l->stride;
    const int p = l->pad, OC = l->out_c, OH = l->out_h, OW = l->out_w;
    const size_t kk = (size_t)k * k;
    double *t = calloc((size_t)OC * kk, sizeof(double)); /* sum_c |w[o,c,ki,kj]| */
    double *sc = calloc((size_t)C * kk, sizeof(double)); /* sum_o |w[o,c,ki,kj]| */
    if (!t || !sc) {
        free(t);
        free(sc);
        return crmti_fail(NULL, CRMT_ERR_OUT_OF_MEMORY,
                          "cannot allocate the norm-1/inf bound of a convolution");
    }
    for (int o = 0; o < OC; o++)
        for (int c = 0; c < C; c++)
            for (size_t q = 0; q < kk; q++) {
                const double a = fabs((double)w[((size_t)o * C + c) * kk + q]);
                t[(size_t)o * kk + q] += a;
                sc[(size_t)c * kk + q] += a;
            }
    /* ||A||_inf: largest row sum, row = output (o, oh, ow) */
    double row_max = 0.0;
    for (int o = 0; o < OC; o++)
        for (int oh = 0; oh < OH; oh++) {
            int hlo, hhi;
            taps_of_output(oh, H, k, s, p, &hlo, &hhi);
            for (int ow = 0; ow < OW; ow++) {
                int wlo, whi;
                taps_of_output(ow, W, k, s, p, &wlo, &whi);
                double sum = 0.0;
                for (int ki = hlo; ki < hhi; ki++)
                    for (int kj = wlo; kj < whi; kj++)
                        sum += t[(size_t)o * kk + (size_t)ki * k + kj];
                if (sum > row_max)
                    row_max = sum;
            }
        }
    /* ||A||_1: largest column sum, column = input (c, r, q); tap ki reads row r for output
     * i = (r + p - ki) / s when that is an integer in [0, OH) */
    double col_max = 0.0;
    for (int c = 0; c < C; c++)
        for (int rr = 0; rr < H; rr++)
            for (int qq = 0; qq < W; qq++) {
                double sum = 0.0;
                for (int ki = 0; ki < k; ki++) {
                    const int a = rr + p - ki;
                    if (a < 0 || a % s != 0 || a / s >= OH)
                        continue;
                    for (int kj = 0; kj < k; kj++) {
                        const int b = qq + p - kj;
                        if (b < 0 || b % s != 0 || b / s >= OW)
                            continue;
                        sum += sc[(size_t)c * kk + (size_t)ki * k + kj];
                    }
                }
                if (sum > col_max)
                    col_max = sum;
            }
    free(t);
    free(sc);
    /* sums of at most n = max(C, OC) + k^2 nonnegative terms: relative error <= gamma_n */
    const double n = (double)(C > OC ? C : OC) + (double)kk + 2.0;
    *bound = relax(sqrt(relax(row_max, n * DBL_EPSILON) * relax(col_max, n * DBL_EPSILON)),
                   4.0 * DBL_EPSILON + CRMTI_LIP_SLACK);
    return CRMT_OK;
}

crmt_status crmti_conv_norm_bound(const crmti_layer *l, const float *w, int method,
                                  double *bound)
{
    *bound = 0.0;
    const size_t rows = (size_t)l->out_size, cols = (size_t)l->in_size;
    const int small = explicit_ok(rows, cols);
    if (method == CRMTI_CONV_BOUND_EXPLICIT && !small)
        return crmti_fail(NULL, CRMT_ERR_UNSUPPORTED,
                          "convolution operator %zu x %zu is too large for the explicit bound",
                          rows, cols);
    crmt_status st;
    if (method == CRMTI_CONV_BOUND_EXPLICIT || (method == CRMTI_CONV_BOUND_AUTO && small)) {
        const size_t nw = crmti_layer_n_weights(l);
        double *wd = malloc(sizeof(double) * nw);
        if (!wd)
            return crmti_fail(NULL, CRMT_ERR_OUT_OF_MEMORY, "cannot copy convolution weights");
        for (size_t i = 0; i < nw; i++)
            wd[i] = (double)w[i];
        st = explicit_bound(l, wd, bound);
        free(wd);
        return st;
    }
    if (method == CRMTI_CONV_BOUND_NORM1INF)
        return norm1inf_bound(l, w, bound);
    double f = INFINITY, n1 = INFINITY;
    if (method == CRMTI_CONV_BOUND_FOURIER || fourier_cost(l) <= CRMTI_CONV_FOURIER_MAX_FLOPS) {
        if ((st = fourier_bound(l, w, &f)) != CRMT_OK)
            return st;
        if (method == CRMTI_CONV_BOUND_FOURIER) {
            *bound = f;
            return CRMT_OK;
        }
    }
    if ((st = norm1inf_bound(l, w, &n1)) != CRMT_OK)
        return st;
    *bound = f < n1 ? f : n1;
    return CRMT_OK;
}

crmt_status crmti_layer_lipschitz_bound(const crmti_layer *l, const float *params,
                                        double *bound)
{
    *bound = 1.0;
    switch (l->kind) {
    case CRMTI_LAYER_RELU:
    case CRMTI_LAYER_FLATTEN:
        return CRMT_OK;
    case CRMTI_LAYER_LINEAR: {
        const size_t n = crmti_layer_n_weights(l);
        double *wd = malloc(sizeof(double) * n);
        if (!wd)
            return crmti_fail(NULL, CRMT_ERR_OUT_OF_MEMORY, "cannot copy layer weights");
        for (size_t i = 0; i < n; i++)
            wd[i] = (double)params[l->w_offset + i];
        crmt_status st = crmti_spectral_norm_bound(wd, l->out_size, l->in_size, bound);
        free(wd);
        return st;
    }
    case CRMTI_LAYER_CONV2D:
        return crmti_conv_norm_bound(l, params + l->w_offset, CRMTI_CONV_BOUND_AUTO, bound);
    case CRMTI_LAYER_MAXPOOL:
        /* |max a - max b| <= max |a - b| <= ||(a - b)_window||, and summing the squares over
         * the windows counts each cell at most cov times. */
        *bound = relax(sqrt((double)crmti_layer_max_cover(l)),
                       4.0 * DBL_EPSILON + CRMTI_LIP_SLACK);
        return CRMT_OK;
    case CRMTI_LAYER_AVGPOOL: {
        /* ||A||_inf = 1 (k^2 weights 1/k^2 per row), ||A||_1 = cov / k^2 */
        const double k = (double)l->kernel;
        double b = relax(sqrt((double)crmti_layer_max_cover(l)) / k,
                         4.0 * DBL_EPSILON + CRMTI_LIP_SLACK);
        /* channels are independent and identical: the norm of one channel's operator */
        crmti_layer one = *l;
        one.in_c = one.out_c = 1;
        one.pad = 0;
        one.in_size = l->in_h * l->in_w;
        one.out_size = l->out_h * l->out_w;
        if (explicit_ok((size_t)one.out_size, (size_t)one.in_size)) {
            const size_t kk = (size_t)l->kernel * (size_t)l->kernel;
            double *wd = malloc(sizeof(double) * kk);
            if (!wd)
                return crmti_fail(NULL, CRMT_ERR_OUT_OF_MEMORY, "cannot allocate pool weights");
            for (size_t i = 0; i < kk; i++)
                wd[i] = 1.0 / (double)kk; /* relative error <= u: covered by the 2 eps below */
            double e = 0.0;
            crmt_status st = explicit_bound(&one, wd, &e);
            free(wd);
            if (st != CRMT_OK)
                return st;
            e = relax(e, 2.0 * DBL_EPSILON);
            if (e < b)
                b = e;
        }
        *bound = b;
        return CRMT_OK;
    }
    }
    return crmti_fail(NULL, CRMT_ERR_UNSUPPORTED, "no Lipschitz bound for layer kind %d",
                      (int)l->kind);
}
