/* libcrmt: training.
 *
 * crmt_train() runs whole epochs of mini-batches with seeded shuffling; crmt_train_step()
 * runs one optimizer step on a host-provided batch, for hosts with their own loop.
 *
 * Methods (crmt_train_method) combine with either head:
 *  - JT: cross-entropy on the fused logits (with a CRMT head this is the paper's "orthogonal
 *    head only" ablation, OJT);
 *  - JT_AT / JT_MIXUP: JT on joint-l2 PGD adversarial examples / with mixup;
 *  - CRMT (needs a CRMT head): step 1 = CE + rho * uni-modal margin regulariser, then, when
 *    integration_epochs > 0, step 2 = integration weights tuned for the certified radius;
 *  - CRMT_AT / CRMT_MIX: step 1 on adversarial examples / with mixup, then step 2.
 *
 * A training run that produces a non-finite loss, gradient or update stops with
 * CRMT_ERR_DIVERGED; the model keeps the last parameters that gave a finite loss.
 */
#ifndef CRMT_TRAIN_H
#define CRMT_TRAIN_H

#include "crmt/common.h"
#include "crmt/dataset.h"
#include "crmt/model.h"
#include "crmt/optimizer.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Values pinned. */
typedef enum crmt_train_method {
    CRMT_METHOD_JT = 0,
    CRMT_METHOD_JT_AT = 1,
    CRMT_METHOD_JT_MIXUP = 2,
    CRMT_METHOD_CRMT = 3,
    CRMT_METHOD_CRMT_AT = 4,
    CRMT_METHOD_CRMT_MIX = 5
} crmt_train_method;

/** Passed to the progress callback after every epoch. */
typedef struct crmt_epoch_stats {
    int epoch;        /**< 0-based epoch within its step */
    int step;         /**< 1 = main training, 2 = integration-weight step */
    double loss;      /**< mean training loss of the epoch */
    double accuracy;  /**< training accuracy of the epoch (on the inputs trained on) */
    double seconds;   /**< wall time of the epoch */
} crmt_epoch_stats;

/** Called after every epoch; return non-zero to stop training (not an error: the result
 *  says stopped = 1). */
typedef int (*crmt_progress_fn)(const crmt_epoch_stats *stats, void *user_data);

/** Training options. Initialise with crmt_train_options_init(&opts, sizeof opts), then
 *  change fields. Fields are only ever appended; struct_size tells the library which
 *  fields the host knows. */
typedef struct crmt_train_options {
    size_t struct_size;
    crmt_train_method method;   /**< default CRMT_METHOD_JT */
    int epochs;                 /**< step-1 epochs, >= 1, default 20 */
    int batch_size;             /**< >= 1, default 64 */
    uint64_t seed;              /**< shuffling, mixup and attack randomness; default 0 */
    double rho;                 /**< margin regulariser weight, >= 0, default 2.0 */
    /* adversarial training (JT_AT, CRMT_AT): joint-l2 PGD on cross-entropy */
    double at_epsilon;          /**< l2 budget over all modalities jointly, default 0.1 */
    int at_steps;               /**< default 5 */
    double at_step_size;        /**< default at_epsilon / at_steps when <= 0 */
    /* step 2 (CRMT methods) */
    int integration_epochs;     /**< 0 = step 1 only; default 0 */
    double integration_lr;      /**< default 0.01 */
    int integration_runner_up_only; /**< 1 = official code: only the fused runner-up class */
    crmt_lipschitz_method integration_lipschitz; /**< default CRMT_LIPSCHITZ_SOUND */
    /** Step 2 is undone epoch by epoch so that accuracy on `validation` (or on the training
     *  set when NULL) drops by at most this much (fraction, default 0.01). */
    double integration_max_accuracy_drop;
    const crmt_dataset *validation; /**< borrowed for the call; may be NULL */
    crmt_progress_fn progress;  /**< may be NULL */
    void *progress_user_data;
} crmt_train_options;

typedef struct crmt_train_result {
    size_t struct_size;         /**< set by the host: sizeof(crmt_train_result) */
    int epochs_run;             /**< step-1 epochs completed */
    int integration_epochs_run; /**< step-2 epochs kept */
    int stopped;                /**< 1 when the progress callback stopped training */
    double final_loss;          /**< mean loss of the last step-1 epoch */
    double final_accuracy;      /**< training accuracy of the last step-1 epoch */
    double seconds;             /**< total wall time */
    double radius_before_step2; /**< mean certified radius of the training set before step 2 */
    double radius_after_step2;  /**< ... and after (equal when step 2 did not run) */
} crmt_train_result;

/** Fill opts with the defaults above. struct_size must be sizeof(crmt_train_options) as
 *  the host was compiled with. */
CRMT_API crmt_status crmt_train_options_init(crmt_train_options *opts, size_t struct_size);

/** Train model on data. result may be NULL. The dataset must match the model's modalities
 *  and dimensions and its labels must be < K. Errors: INVALID_ARGUMENT (NULL pointers,
 *  options out of range), SHAPE (the dataset does not fit the model, labels >= K), STATE (an
 *  incomplete dataset, an optimizer made for another model), UNSUPPORTED (a CRMT method on a
 *  JT head), DIVERGED, OUT_OF_MEMORY. */
CRMT_API crmt_status crmt_train(crmt_model *model, crmt_optimizer *optimizer,
                                const crmt_dataset *data, const crmt_train_options *opts,
                                crmt_train_result *result);

/** One optimizer step of step 1 on a batch of n samples given by the host (inputs: one
 *  pointer per modality, as in crmt_model_predict). loss_out may be NULL. opts may be NULL
 *  (defaults). Errors as crmt_train; a label outside [0, K) is an INVALID_ARGUMENT, non-finite
 *  inputs NON_FINITE. */
CRMT_API crmt_status crmt_train_step(crmt_model *model, crmt_optimizer *optimizer,
                                     const float *const *inputs, const int32_t *labels,
                                     size_t n, const crmt_train_options *opts,
                                     double *loss_out);

/** Fraction of data's samples the model classifies correctly. */
CRMT_API crmt_status crmt_model_accuracy(const crmt_model *model, const crmt_dataset *data,
                                         double *accuracy_out);

#ifdef __cplusplus
}
#endif

#endif /* CRMT_TRAIN_H */
