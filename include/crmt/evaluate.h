/* libcrmt: robustness evaluation (the protocol of the CRMT paper, docs/certification.md).
 *
 * crmt_evaluate() measures on a labelled dataset: clean accuracy; accuracy under l2 FGM and
 * l2 PGD attacks on all modalities jointly (one budget over the concatenated inputs) and on
 * each modality alone; accuracy with each modality missing (replaced by zeros or by a mean,
 * e.g. of the training set); certified accuracy at a list of radii, jointly and per
 * modality, and the mean certified radius.
 * crmt_attack() returns the adversarial inputs of a batch.
 *
 * Attacks (white-box, on the fused logits): one step moves x_adv along the loss gradient
 * normalised to unit l2 norm -- jointly over all modalities, or over the attacked modality
 * alone -- then projects x_adv - x back onto the l2 ball of radius epsilon. Official presets
 * of the CRMT release (rob_test.py): FGM epsilon 0.2 (one step of size epsilon); PGD epsilon
 * 0.2, 4 steps of epsilon / 3, no random start, the last iterate. No clipping unless asked.
 *
 * Threading: these calls take a const model and allocate their own workspaces; they may run
 * concurrently with other const calls on the same model.
 */
#ifndef CRMT_EVALUATE_H
#define CRMT_EVALUATE_H

#include "crmt/certify.h"
#include "crmt/common.h"
#include "crmt/dataset.h"
#include "crmt/model.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Presets for crmt_attack_options_init. Values pinned. */
typedef enum crmt_attack_preset {
    /** One step of size epsilon, epsilon = 0.2. */
    CRMT_ATTACK_PRESET_FGM = 0,
    /** epsilon = 0.2, 4 steps of epsilon / 3, no random start, last iterate. */
    CRMT_ATTACK_PRESET_PGD = 1
} crmt_attack_preset;

/** Loss the attack ascends. Values pinned. */
typedef enum crmt_attack_loss {
    /** Cross-entropy of the fused logits (the official release). */
    CRMT_ATTACK_LOSS_CE = 0,
    /** max_{j != y} h_j - h_y: attacks the margin directly (stronger near the boundary). */
    CRMT_ATTACK_LOSS_MARGIN = 1
} crmt_attack_loss;

/** Attack every modality jointly (crmt_attack_options.modality). */
#define CRMT_ATTACK_JOINT (-1)

/** Attack options. Initialise with crmt_attack_options_init(&opts, sizeof opts, preset).
 *  Fields are only ever appended; bytes beyond the known fields must be zero. */
typedef struct crmt_attack_options {
    size_t struct_size;
    double epsilon;      /**< l2 budget (joint, or of the attacked modality), >= 0 */
    int steps;           /**< >= 1; 1 = FGM */
    /** Step size > 0; 0 = automatic: epsilon when steps == 1, epsilon / 3 otherwise. */
    double step_size;
    int restarts;        /**< >= 1 independent runs; the best is kept */
    int random_start;    /**< 1: start uniformly in the ball (needs no other change) */
    int modality;        /**< CRMT_ATTACK_JOINT or the only modality perturbed */
    crmt_attack_loss loss;
    /** 1: return per sample the first misclassified iterate, else the one of highest loss
     *  (automatic when restarts > 1); 0: the last iterate (official). */
    int keep_best;
    uint64_t seed;       /**< random starts */
    int clip;            /**< 1: clip adversarial inputs to [clip_min, clip_max] */
    double clip_min, clip_max;
} crmt_attack_options;

CRMT_API crmt_status crmt_attack_options_init(crmt_attack_options *opts, size_t struct_size,
                                              crmt_attack_preset preset);

/** Attack n samples (inputs as in crmt_model_predict, labels: n classes in [0, K)).
 *  adv_out: one pointer per modality, n * n_m floats each, not overlapping the inputs.
 *  adv_pred_out (may be NULL): the model's predictions on adv_out. opts may be NULL (PGD
 *  preset). */
CRMT_API crmt_status crmt_attack(const crmt_model *model, const float *const *inputs,
                                 const int32_t *labels, size_t n,
                                 const crmt_attack_options *opts, float *const *adv_out,
                                 int32_t *adv_pred_out);

/** Largest number of certification radii one evaluation reports. */
#define CRMT_EVAL_MAX_RADII 16

/** Evaluation options. Initialise with crmt_evaluate_options_init(&opts, sizeof opts).
 *  Fields are only ever appended; bytes beyond the known fields must be zero. Pointers are
 *  borrowed for the call. */
typedef struct crmt_evaluate_options {
    size_t struct_size;
    int batch_size;              /**< samples per internal batch, >= 1, default 128 */
    uint64_t seed;               /**< random starts, default 0 */
    int attacks;                 /**< 1 (default): run FGM and PGD */
    int unimodal_attacks;        /**< 1 (default): also attack each modality alone */
    double fgm_epsilon;          /**< default 0.2 */
    double pgd_epsilon;          /**< default 0.2 */
    int pgd_steps;               /**< default 4 */
    double pgd_step_size;        /**< 0 (default) = pgd_epsilon / 3 */
    int pgd_restarts;            /**< default 1 */
    int pgd_random_start;        /**< default 0 */
    /** Budget of the uni-modal attacks; 0 (default) = the joint budgets above. */
    double unimodal_epsilon;
    int missing;                 /**< 1 (default): missing-modality accuracy */
    /** Fill of a missing modality: NULL (default) = zeros; else the per-modality mean of this
     *  dataset (normally the training set). Also the certifier's fill when one is built. */
    const crmt_dataset *fill_mean_data;
    int certify;                 /**< 1 (default): certified accuracy and radius */
    /** Certifier to use (must belong to the same model); NULL = build one with the options
     *  below. */
    const crmt_certifier *certifier;
    crmt_lipschitz_method lipschitz;      /**< default CRMT_LIPSCHITZ_SOUND */
    const crmt_dataset *lipschitz_data;   /**< for CRMT_LIPSCHITZ_EMPIRICAL */
    /** Radii of the certified accuracy (each >= 0, at most CRMT_EVAL_MAX_RADII). NULL =
     *  {0, 0.05, 0.1, 0.2, 0.5, 1}. */
    const double *radii;
    size_t n_radii;
} crmt_evaluate_options;

CRMT_API crmt_status crmt_evaluate_options_init(crmt_evaluate_options *opts,
                                                size_t struct_size);

/** What crmt_evaluate measured. The host sets struct_size = sizeof(crmt_evaluation_report);
 *  fields not measured (options off) are 0. Accuracies are fractions in [0, 1]. */
typedef struct crmt_evaluation_report {
    size_t struct_size;
    size_t n_samples;
    int n_modalities;
    double clean_accuracy;
    double fgm_accuracy;                                  /**< joint FGM */
    double pgd_accuracy;                                  /**< joint PGD */
    double fgm_modality_accuracy[CRMT_MAX_MODALITIES];    /**< FGM on modality m only */
    double pgd_modality_accuracy[CRMT_MAX_MODALITIES];    /**< PGD on modality m only */
    double missing_accuracy[CRMT_MAX_MODALITIES];         /**< modality m replaced by fill */
    /** Method behind the certified figures (sound bound or estimate). */
    crmt_lipschitz_method lipschitz;
    size_t n_radii;
    double radii[CRMT_EVAL_MAX_RADII];
    /** Fraction of samples certified for their label with r(x) >= radii[i]. */
    double certified_accuracy[CRMT_EVAL_MAX_RADII];
    /** The same with r_m(x): only modality m perturbed. */
    double modality_certified_accuracy[CRMT_MAX_MODALITIES][CRMT_EVAL_MAX_RADII];
    /** Mean of r(x) over all samples (0 for samples not certified). */
    double mean_certified_radius;
    double modality_mean_certified_radius[CRMT_MAX_MODALITIES];
    /** Fraction of samples certified correct whose prediction provably survives modality m
     *  being replaced by the certifier's fill value. */
    double missing_certified[CRMT_MAX_MODALITIES];
    double seconds;                                       /**< wall time of the call */
} crmt_evaluation_report;

/** Evaluate model on a labelled dataset. opts may be NULL (defaults). Errors:
 *  INVALID_ARGUMENT, SHAPE (dataset does not match the model, labels >= K), STATE (given
 *  certifier is stale or belongs to another model), OUT_OF_MEMORY. */
CRMT_API crmt_status crmt_evaluate(const crmt_model *model, const crmt_dataset *data,
                                   const crmt_evaluate_options *opts,
                                   crmt_evaluation_report *report);

#ifdef __cplusplus
}
#endif

#endif /* CRMT_EVALUATE_H */
