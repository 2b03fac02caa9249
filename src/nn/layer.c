#include "nn/layer.h"

#include <cblas.h>
#include <math.h>
#include <string.h>

#include "tensor/rng.h"

static void linear_forward(const crmti_layer *l, const float *p, const float *in, float *out,
                           int batch)
{
    const float *w = p + l->w_offset, *b = p + l->b_offset;
    for (int i = 0; i < batch; i++)
        memcpy(out + (size_t)i * l->out_size, b, sizeof(float) * (size_t)l->out_size);
    /* out (B x O) += in (B x I) * W^T (I x O) */
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, batch, l->out_size, l->in_size, 1.0f,
                in, l->in_size, w, l->in_size, 1.0f, out, l->out_size);
}

static void linear_backward(const crmti_layer *l, const float *p, const float *in,
                            const float *dout, float *din, float *dp, int batch)
{
    if (dp) {
        /* dW (O x I) += dout^T (O x B) * in (B x I) */
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, l->out_size, l->in_size, batch,
                    1.0f, dout, l->out_size, in, l->in_size, 1.0f, dp + l->w_offset,
                    l->in_size);
        float *db = dp + l->b_offset;
        for (int i = 0; i < batch; i++) {
            const float *row = dout + (size_t)i * l->out_size;
            for (int o = 0; o < l->out_size; o++)
                db[o] += row[o];
        }
    }
    if (din)
        /* din (B x I) = dout (B x O) * W (O x I) */
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, batch, l->in_size, l->out_size,
                    1.0f, dout, l->out_size, p + l->w_offset, l->in_size, 0.0f, din,
                    l->in_size);
}

void crmti_layer_forward(const crmti_layer *layer, const float *params, const float *in,
                         float *out, int batch)
{
    size_t n = (size_t)batch * (size_t)layer->out_size;
    switch (layer->kind) {
    case CRMTI_LAYER_LINEAR:
        linear_forward(layer, params, in, out, batch);
        break;
    case CRMTI_LAYER_RELU:
        for (size_t i = 0; i < n; i++)
            out[i] = in[i] > 0.0f ? in[i] : 0.0f;
        break;
    }
}

void crmti_layer_backward(const crmti_layer *layer, const float *params, const float *in,
                          const float *out, const float *dout, float *din, float *dparams,
                          int batch)
{
    size_t n = (size_t)batch * (size_t)layer->out_size;
    switch (layer->kind) {
    case CRMTI_LAYER_LINEAR:
        linear_backward(layer, params, in, dout, din, dparams, batch);
        break;
    case CRMTI_LAYER_RELU:
        if (din)
            for (size_t i = 0; i < n; i++)
                din[i] = out[i] > 0.0f ? dout[i] : 0.0f;
        break;
    }
}

void crmti_layer_init(const crmti_layer *layer, float *params, crmti_rng *rng)
{
    if (layer->kind != CRMTI_LAYER_LINEAR)
        return;
    double bound = 1.0 / sqrt((double)layer->in_size);
    size_t nw = (size_t)layer->out_size * (size_t)layer->in_size;
    for (size_t i = 0; i < nw; i++)
        params[layer->w_offset + i] = (float)((2.0 * crmti_rng_uniform(rng) - 1.0) * bound);
    for (int o = 0; o < layer->out_size; o++)
        params[layer->b_offset + (size_t)o] = (float)((2.0 * crmti_rng_uniform(rng) - 1.0) * bound);
}
