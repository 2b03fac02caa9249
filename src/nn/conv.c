/* 2-D convolution: im2col lowering onto cblas_sgemm (and dgemm for the certifier's double
 * pass), plus direct loops used when no scratch is given. See layer.h for shapes and
 * layouts. */
#include <cblas.h>
#include <string.h>

#include "nn/conv.h"

/* First and one-past-last output column ow whose input column ow * s + kj - p lies in
 * [0, W); columns outside get the zero padding. */
static void valid_range(const crmti_layer *l, int kj, int *lo_out, int *hi_out)
{
    const int s = l->stride, OW = l->out_w;
    const int lead = l->pad - kj;
    int lo = lead <= 0 ? 0 : (lead + s - 1) / s;
    const int num = l->in_w + l->pad - kj;
    int hi = num <= 0 ? 0 : (num + s - 1) / s;
    if (lo > OW)
        lo = OW;
    if (hi > OW)
        hi = OW;
    if (hi < lo)
        hi = lo;
    *lo_out = lo;
    *hi_out = hi;
}

/* Inner loops of im2col and col2im over one output row: output columns [lo, hi) read input
 * columns ow * s + off (off = kj - p). OP(i) is the operation on column i. The stride is a
 * compile-time constant for strides 1 and 2, and the loop is unrolled by 4, so that
 * compilers vectorise it even at -O2 (GCC's -O2 loop vectoriser only takes loops whose trip
 * count is a known multiple of the vector width; its SLP vectoriser takes the unrolled
 * body). */
#define ROW_UNROLLED(OP)                                                                      \
    do {                                                                                      \
        int ow = lo;                                                                          \
        for (; ow + 4 <= hi; ow += 4) {                                                       \
            OP(ow);                                                                           \
            OP(ow + 1);                                                                       \
            OP(ow + 2);                                                                       \
            OP(ow + 3);                                                                       \
        }                                                                                     \
        for (; ow < hi; ow++)                                                                 \
            OP(ow);                                                                           \
    } while (0)

#define ROW_LOOP(S, OP)                                                                       \
    do {                                                                                      \
        if ((S) == 1) {                                                                       \
            enum { s_ = 1 };                                                                  \
            ROW_UNROLLED(OP);                                                                 \
        } else if ((S) == 2) {                                                                \
            enum { s_ = 2 };                                                                  \
            ROW_UNROLLED(OP);                                                                 \
        } else {                                                                              \
            const int s_ = (S);                                                               \
            ROW_UNROLLED(OP);                                                                 \
        }                                                                                     \
    } while (0)

/* im2col: copy input column i * s_ of srow to column i of drow; col2im: add it back. */
#define GATHER_OP(i) (drow[(i)] = srow[(i) * s_])
#define SCATTER_ADD_OP(i) (xrow[(i) * s_] += drow[(i)])

/* First and one-past-last output row oh whose input row oh * s + ki - p lies in [0, H). */
static void valid_rows(const crmti_layer *l, int ki, int *lo_out, int *hi_out)
{
    const int s = l->stride, OH = l->out_h;
    const int lead = l->pad - ki;
    int lo = lead <= 0 ? 0 : (lead + s - 1) / s;
    const int num = l->in_h + l->pad - ki;
    int hi = num <= 0 ? 0 : (num + s - 1) / s;
    if (lo > OH)
        lo = OH;
    if (hi > OH)
        hi = OH;
    if (hi < lo)
        hi = lo;
    *lo_out = lo;
    *hi_out = hi;
}

/* col (C k k rows, g P columns, row-major with leading dimension g P): row (c, ki, kj),
 * column n P + oh OW + ow holds x_n[c, oh s - p + ki, ow s - p + kj] (0 outside). Tap by
 * tap, then sample by sample: the g input planes of channel c stay in cache over the k^2
 * taps, each row of col is written sequentially, and the valid ranges are computed once per
 * tap. */
#define DEFINE_IM2COL(NAME, T)                                                               \
    static void NAME(const crmti_layer *l, const T *in, int g, T *col)                        \
    {                                                                                         \
        const int C = l->in_c, H = l->in_h, W = l->in_w, k = l->kernel, s = l->stride;        \
        const int p = l->pad, OW = l->out_w;                                                  \
        const size_t P = (size_t)l->out_h * (size_t)OW, ld = (size_t)g * P;                   \
        for (int c = 0; c < C; c++)                                                           \
            for (int ki = 0; ki < k; ki++) {                                                  \
                int rlo, rhi;                                                                 \
                valid_rows(l, ki, &rlo, &rhi);                                                \
                for (int kj = 0; kj < k; kj++) {                                              \
                    T *row = col + ((size_t)(c * k + ki) * (size_t)k + (size_t)kj) * ld;      \
                    int lo, hi;                                                               \
                    valid_range(l, kj, &lo, &hi);                                             \
                    for (int n = 0; n < g; n++) {                                             \
                        const T *src = in + (size_t)n * (size_t)l->in_size +                  \
                                       (size_t)c * (size_t)H * (size_t)W;                     \
                        T *d = row + (size_t)n * P;                                           \
                        memset(d, 0, sizeof(T) * (size_t)rlo * (size_t)OW);                   \
                        for (int oh = rlo; oh < rhi; oh++) {                                  \
                            T *restrict drow = d + (size_t)oh * (size_t)OW;                   \
                            const T *restrict srow =                                          \
                                src + (size_t)(oh * s - p + ki) * (size_t)W + (kj - p);       \
                            for (int ow = 0; ow < lo; ow++)                                   \
                                drow[ow] = 0;                                                 \
                            if (s == 1)                                                       \
                                memcpy(drow + lo, srow + lo, sizeof(T) * (size_t)(hi - lo));  \
                            else                                                              \
                                ROW_LOOP(s, GATHER_OP);                                       \
                            for (int ow = hi; ow < OW; ow++)                                  \
                                drow[ow] = 0;                                                 \
                        }                                                                     \
                        memset(d + (size_t)rhi * (size_t)OW, 0,                               \
                               sizeof(T) * (P - (size_t)rhi * (size_t)OW));                   \
                    }                                                                         \
                }                                                                             \
            }                                                                                 \
    }

DEFINE_IM2COL(im2col_f, float)
DEFINE_IM2COL(im2col_d, double)

/* The adjoint of im2col: din_n (g samples, overwritten) = col2im(col), in the same order. */
static void col2im_f(const crmti_layer *l, const float *col, int g, float *din)
{
    const int C = l->in_c, H = l->in_h, W = l->in_w, k = l->kernel, s = l->stride;
    const int p = l->pad, OW = l->out_w;
    const size_t P = (size_t)l->out_h * (size_t)OW, ld = (size_t)g * P;
    memset(din, 0, sizeof(float) * (size_t)g * (size_t)l->in_size);
    for (int c = 0; c < C; c++)
        for (int ki = 0; ki < k; ki++) {
            int rlo, rhi;
            valid_rows(l, ki, &rlo, &rhi);
            for (int kj = 0; kj < k; kj++) {
                const float *row = col + ((size_t)(c * k + ki) * (size_t)k + (size_t)kj) * ld;
                int lo, hi;
                valid_range(l, kj, &lo, &hi);
                for (int n = 0; n < g; n++) {
                    float *dst =
                        din + (size_t)n * (size_t)l->in_size + (size_t)c * (size_t)H * (size_t)W;
                    const float *d = row + (size_t)n * P;
                    for (int oh = rlo; oh < rhi; oh++) {
                        const float *restrict drow = d + (size_t)oh * (size_t)OW;
                        float *restrict xrow =
                            dst + (size_t)(oh * s - p + ki) * (size_t)W + (kj - p);
                        ROW_LOOP(s, SCATTER_ADD_OP);
                    }
                }
            }
        }
}

static size_t col_rows(const crmti_layer *l)
{
    return (size_t)l->in_c * (size_t)l->kernel * (size_t)l->kernel;
}

static size_t out_pixels(const crmti_layer *l)
{
    return (size_t)l->out_h * (size_t)l->out_w;
}

int crmti_conv_group(const crmti_layer *l, int batch)
{
    const size_t per_sample = (col_rows(l) + (size_t)l->out_c) * out_pixels(l);
    size_t g = CRMTI_CONV_GROUP_FLOATS / (per_sample ? per_sample : 1);
    if (g < 1)
        g = 1;
    if (g > (size_t)batch)
        g = (size_t)batch;
    return (int)g;
}

size_t crmti_conv_scratch_size(const crmti_layer *l, int max_batch)
{
    if (max_batch < 1)
        max_batch = 1;
    const size_t g = (size_t)crmti_conv_group(l, max_batch);
    return g * (col_rows(l) + (size_t)l->out_c) * out_pixels(l);
}

/* ---- direct loops (no scratch) ---- */

static void direct_forward(const crmti_layer *l, const float *p, const float *in, float *out,
                           int batch)
{
    const int C = l->in_c, H = l->in_h, W = l->in_w, k = l->kernel, s = l->stride;
    const int pad = l->pad, OC = l->out_c, OH = l->out_h, OW = l->out_w;
    const float *w = p + l->w_offset, *b = p + l->b_offset;
    for (int n = 0; n < batch; n++) {
        const float *x = in + (size_t)n * (size_t)l->in_size;
        float *y = out + (size_t)n * (size_t)l->out_size;
        for (int o = 0; o < OC; o++)
            for (int oh = 0; oh < OH; oh++)
                for (int ow = 0; ow < OW; ow++) {
                    float acc = b[o];
                    for (int c = 0; c < C; c++)
                        for (int ki = 0; ki < k; ki++) {
                            const int ih = oh * s - pad + ki;
                            if (ih < 0 || ih >= H)
                                continue;
                            for (int kj = 0; kj < k; kj++) {
                                const int iw = ow * s - pad + kj;
                                if (iw < 0 || iw >= W)
                                    continue;
                                acc += w[((size_t)(o * C + c) * k + ki) * k + kj] *
                                       x[((size_t)c * H + ih) * W + iw];
                            }
                        }
                    y[((size_t)o * OH + oh) * OW + ow] = acc;
                }
    }
}

static void direct_backward(const crmti_layer *l, const float *p, const float *in,
                            const float *dout, float *din, float *dp, int batch)
{
    const int C = l->in_c, H = l->in_h, W = l->in_w, k = l->kernel, s = l->stride;
    const int pad = l->pad, OC = l->out_c, OH = l->out_h, OW = l->out_w;
    const float *w = p + l->w_offset;
    float *dw = dp ? dp + l->w_offset : NULL, *db = dp ? dp + l->b_offset : NULL;
    if (din)
        memset(din, 0, sizeof(float) * (size_t)batch * (size_t)l->in_size);
    for (int n = 0; n < batch; n++) {
        const float *x = in + (size_t)n * (size_t)l->in_size;
        float *dx = din ? din + (size_t)n * (size_t)l->in_size : NULL;
        const float *dy = dout + (size_t)n * (size_t)l->out_size;
        for (int o = 0; o < OC; o++)
            for (int oh = 0; oh < OH; oh++)
                for (int ow = 0; ow < OW; ow++) {
                    const float g = dy[((size_t)o * OH + oh) * OW + ow];
                    if (db)
                        db[o] += g;
                    for (int c = 0; c < C; c++)
                        for (int ki = 0; ki < k; ki++) {
                            const int ih = oh * s - pad + ki;
                            if (ih < 0 || ih >= H)
                                continue;
                            for (int kj = 0; kj < k; kj++) {
                                const int iw = ow * s - pad + kj;
                                if (iw < 0 || iw >= W)
                                    continue;
                                const size_t wi = ((size_t)(o * C + c) * k + ki) * k + kj;
                                const size_t xi = ((size_t)c * H + ih) * W + iw;
                                if (dw)
                                    dw[wi] += g * x[xi];
                                if (dx)
                                    dx[xi] += g * w[wi];
                            }
                        }
                }
    }
}

/* ---- im2col + sgemm ---- */

void crmti_conv_forward(const crmti_layer *l, const float *p, const float *in, float *out,
                        int batch, float *scratch)
{
    if (!scratch) {
        direct_forward(l, p, in, out, batch);
        return;
    }
    const int OC = l->out_c, CKK = (int)col_rows(l);
    const size_t P = out_pixels(l);
    const int G = crmti_conv_group(l, batch);
    const float *w = p + l->w_offset, *b = p + l->b_offset;
    float *col = scratch, *tmp = scratch + (size_t)G * (size_t)CKK * P;
    for (int n0 = 0; n0 < batch; n0 += G) {
        const int g = batch - n0 < G ? batch - n0 : G;
        const int gp = (int)((size_t)g * P);
        im2col_f(l, in + (size_t)n0 * (size_t)l->in_size, g, col);
        /* tmp (OC x gP) = W (OC x CKK) col (CKK x gP) */
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, OC, gp, CKK, 1.0f, w, CKK, col,
                    gp, 0.0f, tmp, gp);
        for (int n = 0; n < g; n++)
            for (int o = 0; o < OC; o++) {
                float *dst = out + (size_t)(n0 + n) * (size_t)l->out_size + (size_t)o * P;
                const float *src = tmp + (size_t)o * (size_t)gp + (size_t)n * P;
                const float bo = b[o];
                for (size_t t = 0; t < P; t++)
                    dst[t] = src[t] + bo;
            }
    }
}

void crmti_conv_backward(const crmti_layer *l, const float *p, const float *in,
                         const float *dout, float *din, float *dp, int batch, float *scratch)
{
    if (!din && !dp)
        return;
    if (dp) { /* both paths below accumulate over the batch into the layer's gradient */
        memset(dp + l->w_offset, 0, sizeof(float) * crmti_layer_n_weights(l));
        memset(dp + l->b_offset, 0, sizeof(float) * crmti_layer_n_bias(l));
    }
    if (!scratch) {
        direct_backward(l, p, in, dout, din, dp, batch);
        return;
    }
    const int OC = l->out_c, CKK = (int)col_rows(l);
    const size_t P = out_pixels(l);
    const int G = crmti_conv_group(l, batch);
    const float *w = p + l->w_offset;
    float *col = scratch, *tmp = scratch + (size_t)G * (size_t)CKK * P;
    for (int n0 = 0; n0 < batch; n0 += G) {
        const int g = batch - n0 < G ? batch - n0 : G;
        const int gp = (int)((size_t)g * P);
        /* tmp (OC x gP) = dOut of the group, channel-major */
        for (int n = 0; n < g; n++)
            for (int o = 0; o < OC; o++)
                memcpy(tmp + (size_t)o * (size_t)gp + (size_t)n * P,
                       dout + (size_t)(n0 + n) * (size_t)l->out_size + (size_t)o * P,
                       sizeof(float) * P);
        if (dp) {
            im2col_f(l, in + (size_t)n0 * (size_t)l->in_size, g, col);
            /* dW (OC x CKK) += tmp (OC x gP) col^T (gP x CKK) */
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, OC, CKK, gp, 1.0f, tmp, gp,
                        col, gp, 1.0f, dp + l->w_offset, CKK);
            float *db = dp + l->b_offset;
            for (int o = 0; o < OC; o++) {
                const float *row = tmp + (size_t)o * (size_t)gp;
                double acc = 0.0;
                for (int t = 0; t < gp; t++)
                    acc += row[t];
                db[o] += (float)acc;
            }
        }
        if (din) {
            /* dcol (CKK x gP) = W^T (CKK x OC) tmp (OC x gP) */
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, CKK, gp, OC, 1.0f, w, CKK, tmp,
                        gp, 0.0f, col, gp);
            col2im_f(l, col, g, din + (size_t)n0 * (size_t)l->in_size);
        }
    }
}

void crmti_conv_forward_f64(const crmti_layer *l, const double *w, const double *b,
                            const double *in, double *out, int batch,
                            double *scratch)
{
    const int OC = l->out_c, CKK = (int)col_rows(l);
    const int P = (int)out_pixels(l);
    for (int n = 0; n < batch; n++) {
        double *y = out + (size_t)n * (size_t)l->out_size;
        for (int o = 0; o < OC; o++) {
            const double bo = b[o];
            for (int t = 0; t < P; t++)
                y[(size_t)o * (size_t)P + (size_t)t] = bo;
        }
        im2col_d(l, in + (size_t)n * (size_t)l->in_size, 1, scratch);
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, OC, P, CKK, 1.0, w, CKK, scratch,
                    P, 1.0, y, P);
    }
}
