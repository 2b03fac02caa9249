/* Internal: encoder layers. Each layer maps a batch of B samples of in_size floats
 * (sample-major) to B x out_size floats. Parameters live in the model's flat parameter
 * vector at w_offset (weights) and b_offset (bias); gradients use the same offsets in the
 * flat gradient vector. Matrix products go through CBLAS.
 *
 * Image-shaped layers (CONV2D, AVGPOOL, MAXPOOL, FLATTEN) see each sample as C x H x W floats,
 * channel-major then row-major (NCHW for the batch): value (c, y, x) of sample i is at
 * i * in_size + (c * H + y) * W + x. Sizes:
 *   CONV2D  out_c filters of in_c x k x k, stride s, zero padding p on every side:
 *           out_h = (in_h + 2p - k) / s + 1 (floor), same for the width.
 *           W is out_c x in_c x k x k (PyTorch's Conv2d layout), b is out_c.
 *   AVGPOOL / MAXPOOL  k x k windows, stride s, no padding, per channel:
 *           out_h = (in_h - k) / s + 1 (floor); windows may overlap (s < k).
 *           Average pooling divides by k^2; max pooling routes the gradient to the first
 *           maximum of each window (row-major order), as PyTorch does.
 *   FLATTEN the identity on memory (the layout above is already the flat vector PyTorch's
 *           nn.Flatten gives); it marks the switch from image to vector.
 *
 * The convolution is lowered onto cblas_sgemm by im2col: for a group of g samples,
 *   col (in_c k k x g P) = im2col(x),  tmp (out_c x g P) = W (out_c x in_c k k) col,
 * then tmp is scattered to the NCHW output (P = out_h out_w). The backward pass recomputes
 * col and uses dW += dOut col^T and dcol = W^T dOut followed by col2im. The col and tmp
 * buffers are the layer's scratch (crmti_layer_scratch_size floats), which the model
 * workspace allocates once; with a NULL scratch the convolution runs as plain loops (slow;
 * a reference for the tests). Nothing here allocates. */
#ifndef CRMTI_LAYER_H
#define CRMTI_LAYER_H

#include <stddef.h>

/* Values pinned: they are the layer kinds of the model file format (docs/file-format.md). */
typedef enum crmti_layer_kind {
    CRMTI_LAYER_LINEAR = 0,
    CRMTI_LAYER_RELU = 1,
    CRMTI_LAYER_CONV2D = 2,
    CRMTI_LAYER_AVGPOOL = 3,
    CRMTI_LAYER_MAXPOOL = 4,
    CRMTI_LAYER_FLATTEN = 5
} crmti_layer_kind;

/* Number of layer kinds (valid kinds are 0 .. CRMTI_LAYER_KINDS - 1). */
#define CRMTI_LAYER_KINDS 6

typedef struct crmti_layer {
    crmti_layer_kind kind;
    int in_size;      /* floats per sample in */
    int out_size;     /* floats per sample out */
    size_t w_offset;  /* LINEAR: W is out_size x in_size, row-major; CONV2D: see above */
    size_t b_offset;  /* LINEAR: out_size biases; CONV2D: out_c biases */
    size_t n_params;  /* 0 for parameter-free layers */
    /* Image-shaped layers only (zero otherwise): input and output shapes C x H x W, and
     * kernel size k, stride s, zero padding p (CONV2D only). */
    int in_c, in_h, in_w;
    int out_c, out_h, out_w;
    int kernel, stride, pad;
} crmti_layer;

/* Floats of scratch the layer's im2col lowering needs for batches up to max_batch (0 for
 * every kind but CONV2D). A scratch sized for max_batch serves every batch <= max_batch. */
size_t crmti_layer_scratch_size(const crmti_layer *layer, int max_batch);

/* out = layer(in). scratch: crmti_layer_scratch_size(layer, >= batch) floats, or NULL (the
 * convolution then runs as direct loops). For FLATTEN, out may equal in (nothing to do). */
void crmti_layer_forward_ws(const crmti_layer *layer, const float *params, const float *in,
                            float *out, int batch, float *scratch);

/* Given dout = dL/dout, write dL/dparams into the layer's slots of dparams (when not NULL)
 * and dL/din into din (when not NULL); both are overwritten, not accumulated, so that the
 * caller need not zero them first. in/out are the values of
 * the forward pass. scratch as for crmti_layer_forward_ws. */
void crmti_layer_backward_ws(const crmti_layer *layer, const float *params, const float *in,
                             const float *out, const float *dout, float *din, float *dparams,
                             int batch, float *scratch);

/* The same without scratch (the convolution runs as direct loops). */
void crmti_layer_forward(const crmti_layer *layer, const float *params, const float *in,
                         float *out, int batch);
void crmti_layer_backward(const crmti_layer *layer, const float *params, const float *in,
                          const float *out, const float *dout, float *din, float *dparams,
                          int batch);

/* Deterministic initialisation, PyTorch's defaults for nn.Linear and nn.Conv2d: weights and
 * biases U(-1/sqrt(fan_in), 1/sqrt(fan_in)), fan_in = in_size (linear) or in_c k^2 (conv). */
struct crmti_rng;
void crmti_layer_init(const crmti_layer *layer, float *params, struct crmti_rng *rng);

/* Weights and biases of a LINEAR or CONV2D layer (0 for the other kinds). */
size_t crmti_layer_n_weights(const crmti_layer *layer);
size_t crmti_layer_n_bias(const crmti_layer *layer);

/* ---- double precision (the certifier's margins) ---- */

/* Length of the longest dot product one output of the layer sums (linear: in_size; conv:
 * in_c k^2; average pooling: k^2; 0 for layers that do not round: ReLU, max pooling,
 * flatten). The double forward pass below computes each output with at most this many
 * products and additions plus the bias and (average pooling) one scaling. */
int crmti_layer_dot_length(const crmti_layer *layer);

/* Doubles of scratch crmti_layer_forward_f64 needs (one sample's im2col for CONV2D). */
size_t crmti_layer_scratch_size_f64(const crmti_layer *layer);

/* out = layer(in) in double precision, with the weights w and biases b given as doubles in
 * the layer's own layout (LINEAR, CONV2D; ignored otherwise). scratch:
 * crmti_layer_scratch_size_f64 doubles. */
void crmti_layer_forward_f64(const crmti_layer *layer, const double *w, const double *b,
                             const double *in, double *out, int batch, double *scratch);

#endif
