/* libcrmt: certified l2 robustness radii (CRMT, ICLR 2024, section 3 of docs/certification.md).
 *
 * A certifier is built once from a model and caches the Lipschitz constants of the model's
 * per-modality head functions. For a sample x with class y it reports
 *   - the joint radius r(x): no perturbation delta = (delta_1, ..., delta_M) with
 *     sqrt(sum_m ||delta_m||^2) < r(x) changes the class;
 *   - per-modality radii r_m(x): the same when only modality m is perturbed;
 *   - for every modality whether the prediction survives replacing x_m by a fill value
 *     (zeros, or a host vector such as the training mean): ||x_m - fill_m|| < r_m(x).
 * With CRMT_LIPSCHITZ_SOUND (the default) these are guarantees for the model evaluated in
 * exact arithmetic on its float parameters (rounding of the certifier's own double-precision
 * computations is accounted for). The library's float forward pass adds rounding of about
 * 1e-6 relative to the logits, so a float prediction can still flip when a perturbed margin
 * is within that rounding of zero. With CRMT_LIPSCHITZ_EMPIRICAL the radii are estimates.
 *
 * Ownership and threading: the certifier borrows the model, which must outlive it. The
 * certifier records the model's parameter generation; once the model's parameters change
 * (training, optimizer steps) every certify call returns CRMT_ERR_STATE:
 * create a new certifier. A certifier is read-only after creation: any number of threads may
 * call the crmt_certify_* functions on the same certifier concurrently, as long as no thread
 * modifies the model meanwhile. Errors are reported through the status and the calling
 * thread's crmt_last_error().
 */
#ifndef CRMT_CERTIFY_H
#define CRMT_CERTIFY_H

#include "crmt/common.h"
#include "crmt/dataset.h"
#include "crmt/model.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct crmt_certifier crmt_certifier;

/** Pass as label to certify the model's own prediction. */
#define CRMT_LABEL_PREDICTED (-1)

/** Certifier options. Initialise with crmt_certifier_options_init(&opts, sizeof opts), then
 *  change fields. Fields are only ever appended; bytes beyond the fields this library knows
 *  must be zero. Pointers are borrowed for the duration of crmt_certifier_create only
 *  (everything is copied). */
typedef struct crmt_certifier_options {
    size_t struct_size;
    /** CRMT_LIPSCHITZ_SOUND (default) or CRMT_LIPSCHITZ_EMPIRICAL. */
    crmt_lipschitz_method lipschitz;
    /** EMPIRICAL only (required there): samples over which the largest input-gradient norms
     *  are taken, normally the training set. Must match the model's modalities. */
    const crmt_dataset *lipschitz_data;
    /** Missing-modality fill values: NULL = zeros for every modality; otherwise one pointer
     *  per modality (n_m floats; a NULL entry means zeros for that modality). */
    const float *const *fill;
    /** Alternative to fill: when not NULL (and fill is NULL), fill_m is the per-modality
     *  mean of this dataset (e.g. the training set). */
    const crmt_dataset *fill_mean_data;
    /** Optional per-modality input scale s_m > 0 (n_modalities values): the model input is
     *  s_m times the raw input (e.g. 1/16 for pixels 0..16 scaled to 0..1). When set,
     *  certificates also report radii in raw input units. NULL = not set. */
    const double *input_scale;
} crmt_certifier_options;

/** Fill opts with the defaults. struct_size must be sizeof(crmt_certifier_options) as the
 *  host was compiled with. */
CRMT_API crmt_status crmt_certifier_options_init(crmt_certifier_options *opts,
                                                 size_t struct_size);

/** Result of certifying one sample. The host sets struct_size = sizeof(crmt_certificate)
 *  before the call; the library fills the fields that fit. */
typedef struct crmt_certificate {
    size_t struct_size;
    /** Class predicted by the model (argmax of the fused logits, as crmt_model_predict). */
    int32_t predicted;
    /** Class the radius is about: the given label, or the prediction. */
    int32_t label;
    /** 1 when label == predicted and every margin is positive; then radius > 0. Otherwise 0
     *  and every radius is 0 (a result, not an error). */
    int certified;
    /** Method of the Lipschitz constants behind the radii (sound bound or estimate). */
    crmt_lipschitz_method lipschitz;
    /** Joint radius r(x) = min over every j != label of margin_j / sqrt(sum_m L_{m,j}^2).
     *  May be +infinity when no modality can change the margins. */
    double radius;
    /** The class j attaining that minimum (the closest competing class; need not be the
     *  runner-up of the logits). -1 when there is none. */
    int32_t closest_class;
    /** Fused-logit margin h_label - h_closest (negative when misclassified). */
    double margin;
    /** Number of modalities filled in the arrays below. */
    int n_modalities;
    /** r_m(x) = min over j != label of margin_j / L_{m,j}: only modality m perturbed. */
    double modality_radius[CRMT_MAX_MODALITIES];
    /** 1 when replacing modality m by its fill value provably keeps the class
     *  (||x_m - fill_m|| < r_m(x)); 0 otherwise. */
    int missing_survives[CRMT_MAX_MODALITIES];
    /** ||x_m - fill_m||, the size of the missing-modality perturbation. */
    double missing_distance[CRMT_MAX_MODALITIES];
    /** 1 when the certifier has input scales; then the *_raw fields are in raw input units
     *  (radius_raw uses the Lipschitz constants of the raw inputs, L_{m,j} s_m). */
    int has_raw_units;
    double radius_raw;
    double modality_radius_raw[CRMT_MAX_MODALITIES];
} crmt_certificate;

/** Build a certifier for model (borrowed; must outlive the certifier). opts may be NULL
 *  (defaults). Errors: INVALID_ARGUMENT (NULL out/model, bad options, EMPIRICAL without
 *  data, non-positive scale), SHAPE (data, fill or scale not matching the model),
 *  NON_FINITE (fill contains NaN/Inf), UNSUPPORTED (a layer without a sound bound),
 *  OUT_OF_MEMORY. */
CRMT_API crmt_status crmt_certifier_create(crmt_certifier **out, const crmt_model *model,
                                           const crmt_certifier_options *opts);
CRMT_API void crmt_certifier_destroy(crmt_certifier *certifier);

/** Lipschitz method of the certifier's constants. */
CRMT_API crmt_lipschitz_method crmt_certifier_lipschitz(const crmt_certifier *certifier);

/** Lipschitz constant (bound or estimate) tau_{m,k} of the uni-modal logit g_{m,k} of a CRMT
 *  head, or of the per-modality head logit W_{m,k} phi_m of a JT head. */
CRMT_API crmt_status crmt_certifier_tau(const crmt_certifier *certifier, int modality,
                                        int class_index, double *tau_out);

/** Certify one sample: inputs holds one pointer per modality (n_m floats each); label is a
 *  class in [0, K) or CRMT_LABEL_PREDICTED. A misclassified sample (label != prediction) or
 *  a non-positive margin gives certified = 0 and radius 0, status CRMT_OK.
 *  Errors: INVALID_ARGUMENT (NULL pointers, label out of range, out->struct_size too
 *  small), NON_FINITE (NaN/Inf input), STATE (the model changed since creation),
 *  OUT_OF_MEMORY. */
CRMT_API crmt_status crmt_certify_radius(const crmt_certifier *certifier,
                                         const float *const *inputs, int32_t label,
                                         crmt_certificate *out);

/** Certify n samples (inputs as in crmt_model_predict). labels: n classes, or NULL to certify
 *  the predictions. out: n certificates; out[0].struct_size must be set and is used as the
 *  array stride (so hosts built against an older, shorter struct keep working). */
CRMT_API crmt_status crmt_certify_batch(const crmt_certifier *certifier,
                                        const float *const *inputs, size_t n,
                                        const int32_t *labels, crmt_certificate *out);

/** Certified accuracy of a labelled dataset: for each radius eps in radii[0..n_radii),
 *  joint_accuracy[i] = fraction of samples certified for their label with r(x) >= eps, and
 *  (when modality_accuracy is not NULL) modality_accuracy[m * n_radii + i] = the same with
 *  r_m(x). mean_radius (may be NULL) receives the mean of r(x) over all samples, counting 0
 *  for samples not certified (infinite radii make it infinite). n_radii may be 0 (then the
 *  arrays may be NULL). */
CRMT_API crmt_status crmt_certified_accuracy(const crmt_certifier *certifier,
                                             const crmt_dataset *data, const double *radii,
                                             size_t n_radii, double *joint_accuracy,
                                             double *modality_accuracy, double *mean_radius);

#ifdef __cplusplus
}
#endif

#endif /* CRMT_CERTIFY_H */
