#include "nn/layer.h"

#include <cblas.h>
#include <math.h>
#include <string.h>

#include "nn/conv.h"
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
        /* dW (O x I) = dout^T (O x B) * in (B x I), overwritten: zeroed, then accumulated
         * with beta 1. The same values as beta 0 (OpenBLAS then zeroes C itself and
         * accumulates the same way), but its beta-0 pass is about half as fast as memset. */
        float *dw = dp + l->w_offset;
        memset(dw, 0, sizeof(float) * (size_t)l->out_size * (size_t)l->in_size);
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, l->out_size, l->in_size, batch,
                    1.0f, dout, l->out_size, in, l->in_size, 1.0f, dw, l->in_size);
        float *db = dp + l->b_offset;
        memset(db, 0, sizeof(float) * (size_t)l->out_size);
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

size_t crmti_layer_scratch_size(const crmti_layer *layer, int max_batch)
{
    return layer->kind == CRMTI_LAYER_CONV2D ? crmti_conv_scratch_size(layer, max_batch) : 0;
}

void crmti_layer_forward_ws(const crmti_layer *layer, const float *params, const float *in,
                            float *out, int batch, float *scratch)
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
    case CRMTI_LAYER_CONV2D:
        crmti_conv_forward(layer, params, in, out, batch, scratch);
        break;
    case CRMTI_LAYER_AVGPOOL:
    case CRMTI_LAYER_MAXPOOL:
        crmti_pool_forward(layer, in, out, batch);
        break;
    case CRMTI_LAYER_FLATTEN:
        if (out != in)
            memcpy(out, in, sizeof(float) * n);
        break;
    }
}

void crmti_layer_backward_ws(const crmti_layer *layer, const float *params, const float *in,
                             const float *out, const float *dout, float *din, float *dparams,
                             int batch, float *scratch)
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
    case CRMTI_LAYER_CONV2D:
        crmti_conv_backward(layer, params, in, dout, din, dparams, batch, scratch);
        break;
    case CRMTI_LAYER_AVGPOOL:
    case CRMTI_LAYER_MAXPOOL:
        crmti_pool_backward(layer, in, dout, din, batch);
        break;
    case CRMTI_LAYER_FLATTEN:
        if (din && din != dout)
            memcpy(din, dout, sizeof(float) * n);
        break;
    }
}

void crmti_layer_forward(const crmti_layer *layer, const float *params, const float *in,
                         float *out, int batch)
{
    crmti_layer_forward_ws(layer, params, in, out, batch, NULL);
}

void crmti_layer_backward(const crmti_layer *layer, const float *params, const float *in,
                          const float *out, const float *dout, float *din, float *dparams,
                          int batch)
{
    crmti_layer_backward_ws(layer, params, in, out, dout, din, dparams, batch, NULL);
}

size_t crmti_layer_n_weights(const crmti_layer *layer)
{
    switch (layer->kind) {
    case CRMTI_LAYER_LINEAR:
        return (size_t)layer->out_size * (size_t)layer->in_size;
    case CRMTI_LAYER_CONV2D:
        return (size_t)layer->out_c * (size_t)layer->in_c * (size_t)layer->kernel *
               (size_t)layer->kernel;
    default:
        return 0;
    }
}

size_t crmti_layer_n_bias(const crmti_layer *layer)
{
    switch (layer->kind) {
    case CRMTI_LAYER_LINEAR:
        return (size_t)layer->out_size;
    case CRMTI_LAYER_CONV2D:
        return (size_t)layer->out_c;
    default:
        return 0;
    }
}

void crmti_layer_init(const crmti_layer *layer, float *params, crmti_rng *rng)
{
    const size_t nw = crmti_layer_n_weights(layer), nb = crmti_layer_n_bias(layer);
    if (nw == 0)
        return;
    /* fan_in: inputs of one output (PyTorch: in_features, or in_channels k^2) */
    const double fan_in = (double)(nw / nb);
    const double bound = 1.0 / sqrt(fan_in);
    for (size_t i = 0; i < nw; i++)
        params[layer->w_offset + i] = (float)((2.0 * crmti_rng_uniform(rng) - 1.0) * bound);
    for (size_t o = 0; o < nb; o++)
        params[layer->b_offset + o] = (float)((2.0 * crmti_rng_uniform(rng) - 1.0) * bound);
}

/* ---- double precision ---- */

int crmti_layer_dot_length(const crmti_layer *layer)
{
    switch (layer->kind) {
    case CRMTI_LAYER_LINEAR:
        return layer->in_size;
    case CRMTI_LAYER_CONV2D:
        return layer->in_c * layer->kernel * layer->kernel;
    case CRMTI_LAYER_AVGPOOL:
        return layer->kernel * layer->kernel;
    default:
        return 0;
    }
}

size_t crmti_layer_scratch_size_f64(const crmti_layer *layer)
{
    if (layer->kind != CRMTI_LAYER_CONV2D)
        return 0;
    return (size_t)layer->in_c * (size_t)layer->kernel * (size_t)layer->kernel *
           (size_t)layer->out_h * (size_t)layer->out_w;
}

void crmti_layer_forward_f64(const crmti_layer *layer, const double *w, const double *b,
                             const double *in, double *out, int batch,
                             double *scratch)
{
    const size_t n = (size_t)batch * (size_t)layer->out_size;
    switch (layer->kind) {
    case CRMTI_LAYER_LINEAR: {
        const int o = layer->out_size, in_size = layer->in_size;
        for (int i = 0; i < batch; i++)
            for (int k = 0; k < o; k++)
                out[(size_t)i * o + k] = b[k];
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, batch, o, in_size, 1.0, in,
                    in_size, w, in_size, 1.0, out, o);
        break;
    }
    case CRMTI_LAYER_RELU:
        for (size_t i = 0; i < n; i++)
            out[i] = in[i] > 0.0 ? in[i] : 0.0;
        break;
    case CRMTI_LAYER_CONV2D:
        crmti_conv_forward_f64(layer, w, b, in, out, batch, scratch);
        break;
    case CRMTI_LAYER_AVGPOOL:
    case CRMTI_LAYER_MAXPOOL:
        crmti_pool_forward_f64(layer, in, out, batch);
        break;
    case CRMTI_LAYER_FLATTEN:
        if (out != in)
            memcpy(out, in, sizeof(double) * n);
        break;
    }
}
