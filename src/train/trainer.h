/* Internal: training state kept in the model between steps, so that a step never allocates
 * once the state has grown to the batch size. */
#ifndef CRMTI_TRAINER_H
#define CRMTI_TRAINER_H

#include "crmt/train.h"
#include "model/model.h"

typedef struct crmti_train_state {
    int capacity;                        /* largest batch the buffers hold */
    crmti_ws *ws;
    float *x[CRMT_MAX_MODALITIES];       /* gathered batch inputs, capacity x n_m */
    float *x_work[CRMT_MAX_MODALITIES];  /* adversarial or mixed inputs */
    float *x_grad[CRMT_MAX_MODALITIES];  /* attack gradient scratch */
    int32_t *ya, *yb;                    /* batch labels (yb: mixup partner) */
    size_t *batch_perm;                  /* mixup permutation of the batch */
    float *backup;                       /* parameters before the last update */
    int backup_valid;                    /* backup holds parameters with a finite loss */
} crmti_train_state;

/* Make model->train_state hold batches of `batch` samples (allocates only when it grows). */
crmt_status crmti_train_state_reserve(crmt_model *model, int batch);
void crmti_train_state_destroy(crmti_train_state *state);

struct crmti_rng;
/* Adversarial inputs of a batch for JT_AT / CRMT_AT: joint-l2 PGD on cross-entropy with the
 * options' budget, written to x_adv (grad: scratch of the same shape). Does not allocate. */
crmt_status crmti_adversarial_batch(crmt_model *model, crmti_ws *ws, const float *const *x,
                                    const int32_t *y, int batch, const crmt_train_options *o,
                                    struct crmti_rng *rng, float *const *x_adv,
                                    float *const *grad);

/* CRMT step 2 after step 1: tunes the integration weights for the certified radius. */
crmt_status crmti_integration_step(crmt_model *model, const crmt_dataset *data,
                                   const crmt_train_options *o, crmt_train_result *result);

#endif
