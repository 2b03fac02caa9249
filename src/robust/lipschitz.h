/* Internal: Lipschitz constants of the per-modality head functions, shared by the certifier
 * (src/robust/certify.c) and by CRMT step 2 (integration-weight training).
 *
 * Notation. Modality m has encoder phi_m and head rows H_m (K x d_m): W_m for a JT head,
 * the normalised Wt_m for a CRMT head (exactly the float rows the forward pass uses, from
 * crmti_head_rows). g_{m,k}(x_m) = H_m[k] . phi_m(x_m). For a pair (y, j) and coefficients
 * (c_y, c_j) -- c = 1 for JT, c = a_{m,y}, a_{m,j} for CRMT -- the function whose Lipschitz
 * constant the certificate needs is
 *     f_{m,y,j}(x_m) = c_y g_{m,y}(x_m) - c_j g_{m,j}(x_m) = u^T H_m phi_m(x_m),
 *     u = c_y e_y - c_j e_j.
 *
 * CRMT_LIPSCHITZ_SOUND (guaranteed upper bounds, real arithmetic on the float parameters):
 *   The encoder is cut at its ReLUs (1-Lipschitz) into runs of consecutive linear layers.
 *   - The trailing run (after the last ReLU; possibly empty) is folded into the head:
 *       U_m = H_m W_L W_{L-1} ... W_s   (K x c_m), computed in double,
 *     so Lip(f) <= ||u^T U_m||_2 * P_m exactly for that part, with
 *       G_m = U_m U_m^T (K x K)   and   ||u^T U_m||^2 = c_y^2 G_yy - 2 c_y c_j G_yj + c_j^2 G_jj.
 *   - Every earlier run R (product of its linear layers, in double) contributes its spectral
 *     norm: P_m = prod_R ||R||_2, each bounded by Gram iteration (crmti_spectral_norm_bound).
 *   An encoder ending with ReLU, or without layers, has U_m = H_m.
 *   Rounding of the double computations is covered explicitly (see lipschitz.c): the pair
 *   bound is
 *       L = P_m (1 + 1e-6) sqrt(max(q, 0) + fp_m (|c_y| N_y + |c_j| N_j)^2)
 *   where q is the quadratic form above, N_k = || |H_m[k]| |W_L| ... |W_s| ||_2 and fp_m a
 *   few hundred ulps times the summed inner dimensions. For a linear encoder with one
 *   modality the bound is exact up to that slack.
 *   tau_{m,k} = the same with u = e_k (the bound of g_{m,k} itself).
 *
 * CRMT_LIPSCHITZ_EMPIRICAL (estimate, the official release's get_lip without its bug):
 *   tau_{m,k} = max over the given samples of ||d g_{m,k} / d x_m||_2, and the pair value is
 *   L = |c_y| tau_{m,y} + |c_j| tau_{m,j} (the triangle inequality applied to the estimates;
 *   used for JT too, with c = 1). Not an upper bound: certificates built on it are estimates.
 *
 * Step 2 of CRMT keeps encoders and head rows fixed and varies a: compute the constants once
 * with crmti_lipschitz_sound / _empirical, then call crmti_lipschitz_pair (value) and
 * crmti_lipschitz_pair_grad (value and derivatives w.r.t. c_y, c_j) for any a. Everything
 * here is read-only after construction and may be shared between threads.
 */
#ifndef CRMTI_LIPSCHITZ_H
#define CRMTI_LIPSCHITZ_H

#include <stddef.h>

#include "crmt/common.h"
#include "crmt/model.h"

/* Relative slack applied to every sound bound on top of the rounding allowances. */
#define CRMTI_LIP_SLACK 1e-6
/* Squarings of the Gram iteration after the first product W W^T (or W^T W). The bound
 * exceeds ||W||_2 by at most a factor rank^(1/2^(CRMTI_GRAM_ITERS+2)), i.e. 1 + 1.6e-5 for
 * rank 64 and 1 + 2.7e-5 for rank 1000. Cost: (CRMTI_GRAM_ITERS + 1) s^3 flops in dgemm. */
#define CRMTI_GRAM_ITERS 16

typedef struct crmti_lipschitz {
    crmt_lipschitz_method method;
    int n_mod, n_classes;
    /* SOUND: P_m with its slack already applied (product of the bounds of the runs before
     * the folded one; 1 when there are none). EMPIRICAL: 0. */
    double prefix[CRMT_MAX_MODALITIES];
    /* SOUND: G_m = U_m U_m^T, K x K row-major. EMPIRICAL: NULL. */
    double *gram[CRMT_MAX_MODALITIES];
    /* SOUND: N_k (K values) and fp_m, the rounding allowance of the pair bound. */
    double *absnorm[CRMT_MAX_MODALITIES];
    double fp[CRMT_MAX_MODALITIES];
    /* Both methods: tau_{m,k} (K values): sound bound or estimate of Lip(g_{m,k}). */
    double *tau[CRMT_MAX_MODALITIES];
    /* EMPIRICAL: number of samples the maximum was taken over. */
    size_t n_samples;
    double *block; /* owns every array above */
} crmti_lipschitz;

/* Sound constants of model (see above). On failure *out is left empty (safe to release)
 * and a message is recorded (crmti_fail) with status OUT_OF_MEMORY or UNSUPPORTED. */
crmt_status crmti_lipschitz_sound(crmti_lipschitz *out, const crmt_model *model);

/* Empirical constants over n samples (inputs: one pointer per modality, n x n_m floats,
 * sample-major; the caller has validated them). Allocates its own workspace. */
crmt_status crmti_lipschitz_empirical(crmti_lipschitz *out, const crmt_model *model,
                                      const float *const *inputs, size_t n);

/* Free the arrays; lip may be zero-initialised or already released. */
void crmti_lipschitz_release(crmti_lipschitz *lip);

/* L_{m,y,j}(c_y, c_j) as described above (y != j; 0 <= m < n_mod). */
double crmti_lipschitz_pair(const crmti_lipschitz *lip, int m, int y, int j, double cy,
                            double cj);

/* The same, plus dL/dc_y and dL/dc_j (0 where L is not differentiable at 0). */
double crmti_lipschitz_pair_grad(const crmti_lipschitz *lip, int m, int y, int j, double cy,
                                 double cj, double *d_cy, double *d_cj);

/* Provable upper bound of ||w||_2 for a rows x cols row-major matrix (double): Gram
 * iteration with Frobenius rescaling (Delattre et al. 2023),
 *     ||w||_2 <= prod_t r_t^(1/2^(t+1)),  r_t = ||A_t||_F,
 *     A_0 = w w^T (or w^T w, whichever is smaller),  A_{t+1} = B_t^T B_t, B_t = A_t / r_t,
 * for t < CRMTI_GRAM_ITERS, times (1 + CRMTI_LIP_SLACK + 2 s (max(rows, cols) + 2) eps), the
 * second term covering the double rounding of every product (relative error of sigma_1 of
 * each computed Gram matrix <= s gamma_n, since sigma_1(B^T B) >= ||B||_F^2 / s). Never a power-iteration estimate.
 * Returns CRMT_ERR_OUT_OF_MEMORY (with a message) when the s x s scratch (s = min(rows,
 * cols)) cannot be allocated. */
crmt_status crmti_spectral_norm_bound(const double *w, int rows, int cols, double *bound);

/* ---- image layers (src/robust/conv_bound.c, docs/conv.md) ---- */

struct crmti_layer;

/* How crmti_conv_norm_bound bounds the operator norm of a convolution. */
typedef enum crmti_conv_bound_method {
    /* EXPLICIT when the operator is small (see below), otherwise the smaller of FOURIER
     * (when its cost is below CRMTI_CONV_FOURIER_MAX_FLOPS) and NORM1INF (the default). */
    CRMTI_CONV_BOUND_AUTO = 0,
    /* The explicit out_size x in_size matrix of the padded, strided convolution in double,
     * bounded by crmti_spectral_norm_bound (Gram iteration): within 1 + 3e-5 of the norm. */
    CRMTI_CONV_BOUND_EXPLICIT = 1,
    /* Polyphase + Fourier: the strided, zero-padded convolution is a selection of the
     * outputs of a stride-1 circular convolution with in_c s^2 channels on an
     * (out_h + k' - 1) x (out_w + k' - 1) grid (k' = ceil(k / s)); its norm is the largest,
     * over the grid's frequencies, spectral norm of the out_c x in_c s^2 complex matrix of
     * the kernel's DFT (phases r >= k, whose columns are zero, left out), each bounded by
     * Gram iteration on its real 2x2-block form. */
    CRMTI_CONV_BOUND_FOURIER = 2,
    /* sqrt(||A||_1 ||A||_inf), both computed exactly (up to rounding) on the sparse
     * operator. Always an upper bound, often loose. */
    CRMTI_CONV_BOUND_NORM1INF = 3
} crmti_conv_bound_method;

/* The explicit path is used (AUTO) when the operator has at most this many entries and its
 * smaller side is at most CRMTI_CONV_EXPLICIT_MAX_SIDE. */
#define CRMTI_CONV_EXPLICIT_MAX_ENTRIES (1u << 21)
#define CRMTI_CONV_EXPLICIT_MAX_SIDE 512
/* AUTO computes the Fourier bound only when its estimated cost is at most this many flops
 * (a few seconds); wider layers (hundreds of channels on both sides) get the norm-1/inf
 * bound alone, sound but loose. */
#define CRMTI_CONV_FOURIER_MAX_FLOPS 2e10

/* Provable upper bound of ||A||_2, A the linear map of a CONV2D layer (its weights w in the
 * layer's layout; the bias does not enter a Lipschitz constant), for the layer's actual
 * padding and stride. method: crmti_conv_bound_method; EXPLICIT on a layer above the size
 * limits gives CRMT_ERR_UNSUPPORTED. Every double computation is covered by an explicit
 * rounding allowance and the relative slack CRMTI_LIP_SLACK. Fails only on memory. */
crmt_status crmti_conv_norm_bound(const struct crmti_layer *layer, const float *w, int method,
                                  double *bound);

/* Provable upper bound of the l2 Lipschitz constant of one encoder layer: CONV2D as above
 * (AUTO), AVGPOOL min(sqrt(cov_max) / k, explicit single-channel bound when small),
 * MAXPOOL sqrt(cov_max), where cov_max is the largest number of pooling windows covering
 * one input cell (1 without overlap); LINEAR its spectral bound; RELU and FLATTEN 1. */
crmt_status crmti_layer_lipschitz_bound(const struct crmti_layer *layer, const float *params,
                                        double *bound);

/* Largest number of pooling (or convolution, padding included) windows covering one input
 * cell of the layer: the product of the per-dimension maxima. */
int crmti_layer_max_cover(const struct crmti_layer *layer);

#endif
