/* Internal to src/nn: the image-shaped layers (conv.c, pool.c), dispatched by layer.c. */
#ifndef CRMTI_NN_CONV_H
#define CRMTI_NN_CONV_H

#include "nn/layer.h"

/* Samples per im2col group are chosen so that the group's col and tmp buffers hold at most
 * this many floats (at least one sample): 256 KB, so that they stay in L2 between im2col and
 * the sgemm calls, and the workspace does not grow with the batch. Measured with
 * bench/bench_conv (docs/conv.md): the sgemm calls on L2-resident groups run up to twice as
 * fast as one call over the whole batch, whose operands stream from memory. */
#define CRMTI_CONV_GROUP_FLOATS (1u << 16)

/* Samples per group for a batch. */
int crmti_conv_group(const crmti_layer *l, int batch);

size_t crmti_conv_scratch_size(const crmti_layer *l, int max_batch);
void crmti_conv_forward(const crmti_layer *l, const float *p, const float *in, float *out,
                        int batch, float *scratch);
void crmti_conv_backward(const crmti_layer *l, const float *p, const float *in,
                         const float *dout, float *din, float *dp, int batch, float *scratch);
void crmti_conv_forward_f64(const crmti_layer *l, const double *w, const double *b,
                            const double *in, double *out, int batch,
                            double *scratch);

void crmti_pool_forward(const crmti_layer *l, const float *in, float *out, int batch);
void crmti_pool_backward(const crmti_layer *l, const float *in, const float *dout, float *din,
                         int batch);
void crmti_pool_forward_f64(const crmti_layer *l, const double *in, double *out, int batch);

#endif
