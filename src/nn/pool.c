/* Average and max pooling (k x k windows, stride s, no padding, windows may overlap). See
 * layer.h. */
#include <string.h>

#include "nn/conv.h"

#define DEFINE_POOL_FORWARD(NAME, T)                                                         \
    static void NAME(const crmti_layer *l, const T *in, T *out, int batch)                    \
    {                                                                                         \
        const int C = l->in_c, H = l->in_h, W = l->in_w, k = l->kernel, s = l->stride;        \
        const int OH = l->out_h, OW = l->out_w;                                               \
        const int avg = l->kind == CRMTI_LAYER_AVGPOOL;                                       \
        const T inv = (T)1 / (T)(k * k);                                                      \
        for (int n = 0; n < batch; n++)                                                       \
            for (int c = 0; c < C; c++) {                                                     \
                const T *x = in + (size_t)n * (size_t)l->in_size +                            \
                             (size_t)c * (size_t)H * (size_t)W;                               \
                T *y = out + (size_t)n * (size_t)l->out_size +                                \
                       (size_t)c * (size_t)OH * (size_t)OW;                                   \
                for (int oh = 0; oh < OH; oh++)                                               \
                    for (int ow = 0; ow < OW; ow++) {                                         \
                        const T *win = x + (size_t)(oh * s) * (size_t)W + (size_t)(ow * s);   \
                        T acc = avg ? (T)0 : win[0];                                          \
                        for (int i = 0; i < k; i++)                                           \
                            for (int j = 0; j < k; j++) {                                     \
                                const T v = win[(size_t)i * (size_t)W + (size_t)j];           \
                                if (avg)                                                      \
                                    acc += v;                                                 \
                                else if (v > acc)                                             \
                                    acc = v;                                                  \
                            }                                                                 \
                        y[(size_t)oh * (size_t)OW + (size_t)ow] = avg ? acc * inv : acc;      \
                    }                                                                         \
            }                                                                                 \
    }

DEFINE_POOL_FORWARD(pool_forward_f, float)
DEFINE_POOL_FORWARD(pool_forward_d, double)

void crmti_pool_forward(const crmti_layer *l, const float *in, float *out, int batch)
{
    pool_forward_f(l, in, out, batch);
}

void crmti_pool_forward_f64(const crmti_layer *l, const double *in, double *out, int batch)
{
    pool_forward_d(l, in, out, batch);
}

void crmti_pool_backward(const crmti_layer *l, const float *in, const float *dout, float *din,
                         int batch)
{
    if (!din)
        return;
    const int C = l->in_c, H = l->in_h, W = l->in_w, k = l->kernel, s = l->stride;
    const int OH = l->out_h, OW = l->out_w;
    const int avg = l->kind == CRMTI_LAYER_AVGPOOL;
    const float inv = 1.0f / (float)(k * k);
    memset(din, 0, sizeof(float) * (size_t)batch * (size_t)l->in_size);
    for (int n = 0; n < batch; n++)
        for (int c = 0; c < C; c++) {
            const size_t base = (size_t)n * (size_t)l->in_size + (size_t)c * (size_t)H * W;
            const float *x = in + base;
            float *dx = din + base;
            const float *dy =
                dout + (size_t)n * (size_t)l->out_size + (size_t)c * (size_t)OH * (size_t)OW;
            for (int oh = 0; oh < OH; oh++)
                for (int ow = 0; ow < OW; ow++) {
                    const float g = dy[(size_t)oh * (size_t)OW + (size_t)ow];
                    const size_t corner = (size_t)(oh * s) * (size_t)W + (size_t)(ow * s);
                    if (avg) {
                        const float gi = g * inv;
                        for (int i = 0; i < k; i++)
                            for (int j = 0; j < k; j++)
                                dx[corner + (size_t)i * (size_t)W + (size_t)j] += gi;
                        continue;
                    }
                    /* the first maximum in row-major window order, as the forward pass */
                    size_t best = corner;
                    for (int i = 0; i < k; i++)
                        for (int j = 0; j < k; j++) {
                            const size_t at = corner + (size_t)i * (size_t)W + (size_t)j;
                            if (x[at] > x[best])
                                best = at;
                        }
                    dx[best] += g;
                }
        }
}
