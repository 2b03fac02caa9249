/* Internal: encoder layers. Each layer maps a batch of B samples of in_size floats
 * (sample-major) to B x out_size floats. Parameters live in the model's flat parameter
 * vector at w_offset (weights) and b_offset (bias); gradients use the same offsets in the
 * flat gradient vector. Matrix products go through CBLAS. */
#ifndef CRMTI_LAYER_H
#define CRMTI_LAYER_H

#include <stddef.h>

typedef enum crmti_layer_kind {
    CRMTI_LAYER_LINEAR = 0,
    CRMTI_LAYER_RELU = 1
    /* conv2d, pooling and flatten are reserved for the convolution issue */
} crmti_layer_kind;

typedef struct crmti_layer {
    crmti_layer_kind kind;
    int in_size;      /* floats per sample in */
    int out_size;     /* floats per sample out */
    size_t w_offset;  /* LINEAR: W is out_size x in_size, row-major */
    size_t b_offset;  /* LINEAR: out_size biases */
    size_t n_params;  /* 0 for parameter-free layers */
} crmti_layer;

/* out = layer(in). */
void crmti_layer_forward(const crmti_layer *layer, const float *params, const float *in,
                         float *out, int batch);

/* Given dout = dL/dout, accumulate dL/dparams into dparams (when not NULL) and write
 * dL/din into din (when not NULL; overwritten, not accumulated). in/out are the values of
 * the forward pass. */
void crmti_layer_backward(const crmti_layer *layer, const float *params, const float *in,
                          const float *out, const float *dout, float *din, float *dparams,
                          int batch);

/* Deterministic initialisation (PyTorch nn.Linear default: U(-1/sqrt(fan_in), +)). */
struct crmti_rng;
void crmti_layer_init(const crmti_layer *layer, float *params, struct crmti_rng *rng);

#endif
