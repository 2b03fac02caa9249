/* Test support: an independent extended-precision reference of the model (direct loops, no
 * BLAS, no workspaces), against which the suites check the library's forward passes,
 * Lipschitz bounds and attack results; and the exact spectral norm of a matrix. */
#ifndef CRMT_TEST_REFERENCE_H
#define CRMT_TEST_REFERENCE_H

#include "crmt/model.h"
#include "nn/layer.h"

/* y = layer(x) for one sample (computed in long double, rounded to double), from the
 * layer's float parameters p (the bias left out when with_bias is 0: the layer's linear
 * map). */
void crmt_test_ref_layer_forward(const crmti_layer *l, const float *p, int with_bias,
                                 const double *x, double *y);

/* The exact fused logits h (n_classes values) of one sample x (one pointer per modality),
 * computed in long double; the second form rounds them to double. Return 0 when memory runs
 * out. */
int crmt_test_exact_logits_ld(const crmt_model *model, const float *const *x, long double *h);
int crmt_test_exact_logits(const crmt_model *model, const float *const *x, double *h);

/* ||a||_2 of the rows x cols matrix a (row-major, double): the square root of the largest
 * eigenvalue of the smaller Gram matrix (a a^T or a^T a) by Jacobi rotations, a few ulps
 * from exact; meant for sides up to a few hundred. */
double crmt_test_exact_spectral_norm(const double *a, int rows, int cols);

#endif
