/* Internal: the CRMT head's map from the free parameter V_m (K x d) to Wt_m with unit-norm
 * class rows, forward and backward, in double. */
#ifndef CRMTI_HEAD_NORM_H
#define CRMTI_HEAD_NORM_H

#include <stddef.h>

/* Doubles of cache one modality needs (forward state kept for backward). */
size_t crmti_head_norm_cache_size(int k, int d, int orthonormal);

/* Wt = normalise(V). Row mode (official code, OWN with K groups): rows centred, then scaled
 * to unit norm. Orthonormal mode: Wt = (V V^T + eps I)^{-1/2} V (whitening without centring,
 * which would cost a rank and need K < d), so Wt Wt^T = I up to eps. */
void crmti_head_norm_forward(const float *v, int k, int d, int orthonormal, float *wt,
                             double *cache);

/* Given dWt (K x d) and the cache of the forward pass, add dL/dV to dv. scratch needs
 * crmti_head_norm_scratch_size doubles. */
void crmti_head_norm_backward(const float *dwt, int k, int d, int orthonormal,
                              const double *cache, double *scratch, float *dv);
size_t crmti_head_norm_scratch_size(int k, int d);

#endif
