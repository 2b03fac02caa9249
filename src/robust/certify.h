/* Internal: the certifier object and its chunked certification routine (used by the public
 * certify API and by crmt_evaluate). */
#ifndef CRMTI_CERTIFY_H
#define CRMTI_CERTIFY_H

#include <stdint.h>

#include "crmt/certify.h"
#include "model/model.h"
#include "robust/lipschitz.h"

/* Modality m's double-precision pass from its input to its head values t_k = H_k . phi_m
 * (K values), with a bound of their rounding error built from norms (certify.c). When the
 * encoder ends with a linear layer and folding is cheaper, that layer is folded into the
 * head: t = (H W_L) x_{L-1} + H b_L. */
typedef struct crmti_cert_path {
    int n_layers; /* encoder layers the pass runs (the folded one excluded) */
    double *w[CRMTI_MAX_LAYERS], *b[CRMTI_MAX_LAYERS]; /* NULL for layers without weights */
    /* Bound of the error of layer l's output (l2 over one sample):
     *   e_out <= norm_gain ||x|| + err_gain e_in + floor,  x the computed input. */
    double norm_gain[CRMTI_MAX_LAYERS], err_gain[CRMTI_MAX_LAYERS], floor[CRMTI_MAX_LAYERS];
    int head_in;        /* width of the head stage's input */
    double *head;       /* K x head_in: H, or H W_L folded */
    double *head_bias;  /* K: H b_L when folded, else NULL */
    /* |computed t_k - exact t_k| <= head_norm_gain[k] ||x|| + head_err_gain[k] e + head_floor[k] */
    double *head_norm_gain, *head_err_gain, *head_floor;
    /* The model's float forward pass, bounded the same way (to tell its prediction from the
     * double logits): norm_gain_f, floor_f per layer (err_gain as above); for a folded last
     * layer its float gains, ||W_L||_F (last_err_gain) and ||b_L||; ||H_k|| (K). */
    double norm_gain_f[CRMTI_MAX_LAYERS], floor_f[CRMTI_MAX_LAYERS];
    double last_norm_gain_f, last_err_gain, last_floor_f, last_bias_norm;
    double *row_norm;
    int folded;         /* the last linear layer is folded into the head */
} crmti_cert_path;

struct crmt_certifier {
    const crmt_model *model;  /* borrowed */
    uint64_t generation;      /* model->generation at creation */
    int n_mod, n_classes;
    crmti_lipschitz lip;
    /* Double-precision pass of each modality for the margins (certify.c). */
    crmti_cert_path path[CRMT_MAX_MODALITIES];
    double *coef;             /* M x K: a for CRMT, 1 for JT */
    double *bias;             /* K: fused bias */
    double gamma_fuse;        /* rounding of the fusion sum, relative */
    double gamma_logits_f;    /* the float pass's head and fusion, relative (certify.c) */
    size_t widest;            /* largest layer width over all modalities */
    float *fill[CRMT_MAX_MODALITIES]; /* n_m floats each */
    int has_scale;
    double scale[CRMT_MAX_MODALITIES];
    /* Pair constants for every (label y, class j): pair[((y K + j) (M + 2)) + m] = L_{m,y,j}
     * for m < M, then sqrt(sum_m L^2) and sqrt(sum_m (L s_m)^2) -- the values the radius
     * loop would compute per sample (the certifier's coefficients never change). NULL when
     * K^2 (M + 2) is too large to cache; the loop then computes them itself. */
    double *pair;
    double *dblock;
    float *fblock;
};

/* Samples per chunk of the certify loops. */
#define CRMTI_CERT_CHUNK 128

/* Per-call buffers for up to max_batch samples (one per thread). */
typedef struct crmti_cert_ws {
    int max_batch;
    crmti_ws *fws;        /* float forward of the samples whose prediction needs it */
    double *x, *y;        /* B x widest: layer input and output */
    double *err;          /* B: bound of the l2 rounding error of each sample's x */
    double *err_f;        /* B: the same for the float forward pass (from the exact x) */
    double *t;            /* B x K: head values of one modality */
    double *h, *e;        /* B x K: fused logits (double) and their rounding allowance */
    double *e_f;          /* B x K: bound of |float logit - exact logit| */
    double *dist;         /* B x M: ||x_m - fill_m||^2 (sum in index order) */
    double *lscratch;     /* conv layers of the double pass (crmti_layer_scratch_size_f64) */
    double *block;
    int *pred;            /* B: the float forward pass's prediction */
    int *redo;            /* B: samples whose prediction the double logits do not settle */
    int n_float_pass;     /* how many of the last chunk's samples needed the float pass */
    float *gather;        /* B x sum_m n_m: their inputs, modality after modality */
} crmti_cert_ws;

/* Build a certifier (arguments validated by the caller). emp_inputs / emp_n: samples for
 * EMPIRICAL constants (ignored for SOUND). fill: NULL or one pointer per modality (NULL
 * entry = zeros). scale: NULL or n_mod positive values. */
crmt_status crmti_certifier_build(crmt_certifier **out, const crmt_model *model,
                                  crmt_lipschitz_method method, const float *const *emp_inputs,
                                  size_t emp_n, const float *const *fill, const double *scale);
void crmti_certifier_free(crmt_certifier *c);

crmti_cert_ws *crmti_cert_ws_create(const crmt_certifier *c, int max_batch);
void crmti_cert_ws_destroy(crmti_cert_ws *ws);

/* 1 when the model's parameters changed since the certifier was created. */
int crmti_certifier_stale(const crmt_certifier *c);

/* Certify b <= ws->max_batch samples (inputs already validated: non-NULL and finite).
 * labels NULL = certify the predictions; otherwise each in [0, K). out: b full-size
 * certificates. Never fails. */
void crmti_certify_chunk(const crmt_certifier *c, crmti_cert_ws *ws, const float *const *inputs,
                         int b, const int32_t *labels, crmt_certificate *out);

/* Certify every sample of a complete, validated, labelled dataset for its label and
 * accumulate: joint[r] / per_mod[m * n_radii + r] = number certified with r(x) / r_m(x) >=
 * radii[r]; sum_radius (+ sum_mod_radius[m]) = sums of the radii of certified samples;
 * missing[m] = number certified whose prediction survives modality m's fill. Arrays are
 * zeroed first; per_mod, sum_mod_radius and missing may be NULL. Fails only on memory. */
crmt_status crmti_certified_stats(const crmt_certifier *c, const crmt_dataset *data,
                                  const double *radii, size_t n_radii, size_t *joint,
                                  size_t *per_mod, double *sum_radius, double *sum_mod_radius,
                                  size_t *missing);

/* Check that data matches model: complete, same modality count and dimensions, at most
 * INT32_MAX samples, and (need_labels) labels set and < K. what names it in messages. */
crmt_status crmti_check_dataset(const crmt_model *model, const crmt_dataset *data,
                                int need_labels, const char *what);

/* Per-modality mean of a complete dataset into fill (n_m floats each). */
void crmti_dataset_mean(const crmt_dataset *data, int m, float *out);

#endif
