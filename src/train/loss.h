/* Internal: training losses. All return the batch mean of the loss (in double) and, when the
 * gradient pointer is not NULL, write the gradient of that mean (overwriting). */
#ifndef CRMTI_LOSS_H
#define CRMTI_LOSS_H

#include <stdint.h>

/* Mixed cross-entropy: lam * CE(logits, ya) + (1 - lam) * CE(logits, yb). Plain CE is
 * ya == yb (or lam == 1). Computed with a max shift in double. */
double crmti_loss_ce(const float *logits, const int32_t *ya, const int32_t *yb, double lam,
                     int batch, int k, float *dlogits);

/* CRMT uni-modal margin regulariser, spec section 2, with mixup generalisation:
 *   rho * mean_i log E_i,  E_i = sum_m sum_{k not in {ya, yb}} exp(g_{m,k} - c_m),
 *   c_m = lam g_{m,ya} + (1 - lam) g_{m,yb}.
 * ya == yb gives the step-1 term log sum_m sum_{k != y} exp(g_{m,k} - g_{m,y}).
 * Log-sum-exp with a max shift. g[m] and dg[m] are batch x k. Samples whose excluded set
 * covers every class (k == 2 with ya != yb) contribute 0. */
double crmti_loss_margin(const float *const *g, int n_mod, const int32_t *ya,
                         const int32_t *yb, double lam, int batch, int k, double rho,
                         float *const *dg);

#endif
