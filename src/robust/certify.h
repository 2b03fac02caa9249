/* Internal: the certifier object and its chunked certification routine (used by the public
 * certify API and by crmt_evaluate). */
#ifndef CRMTI_CERTIFY_H
#define CRMTI_CERTIFY_H

#include <stdint.h>

#include "crmt/certify.h"
#include "model/model.h"
#include "robust/lipschitz.h"

struct crmt_certifier {
    const crmt_model *model;  /* borrowed */
    uint64_t generation;      /* model->generation at creation */
    int n_mod, n_classes;
    crmti_lipschitz lip;
    /* Double-precision copy of the model for the margins: per linear or conv2d layer W and
     * |W| (in the layer's layout) and b; head rows H and |H| (K x d_m); coefficients c (M x K:
     * a for CRMT, 1 for JT) and fused bias (K). */
    double *w[CRMT_MAX_MODALITIES][CRMTI_MAX_LAYERS];
    double *wabs[CRMT_MAX_MODALITIES][CRMTI_MAX_LAYERS];
    double *bias_l[CRMT_MAX_MODALITIES][CRMTI_MAX_LAYERS];
    double *head[CRMT_MAX_MODALITIES];
    double *head_abs[CRMT_MAX_MODALITIES];
    double *coef;
    double *bias;
    /* Rounding allowance of the double forward pass of modality m up to its head logits,
     * as a multiple of the absolute-value forward pass (see certify.c). */
    double gamma[CRMT_MAX_MODALITIES];
    double gamma_fuse;
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
    crmti_ws *fws;        /* float forward (prediction) */
    double *x, *xa;       /* B x widest: layer input and its absolute bound */
    double *y, *ya;       /* B x widest: layer output and its absolute bound */
    double *g, *ga;       /* B x K */
    double *h, *e;        /* B x K: fused logits (double) and their rounding allowance */
    double *dist;         /* B x M: ||x_m - fill_m||^2 (sum in index order) */
    double *lscratch;     /* conv layers of the double pass (crmti_layer_scratch_size_f64) */
    double *block;
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
