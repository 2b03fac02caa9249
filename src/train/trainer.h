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
    float *attack_scratch;               /* scratch of crmti_pgd for adversarial training */
    int32_t *ya, *yb;                    /* batch labels (yb: mixup partner) */
    size_t *batch_perm;                  /* mixup permutation of the batch */
    float *backup;                       /* parameters before the last update; the next update
                                            writes into it, then it swaps with model->params */
    int backup_valid;                    /* backup holds parameters with a finite loss */
} crmti_train_state;

/* Make model->train_state hold batches of `batch` samples (allocates only when it grows). */
crmt_status crmti_train_state_reserve(crmt_model *model, int batch);
void crmti_train_state_destroy(crmti_train_state *state);

struct crmti_rng;
struct crmti_attack_cfg;
/* The PGD configuration adversarial training uses for these options. */
void crmti_adversarial_cfg(const crmt_train_options *o, struct crmti_attack_cfg *cfg);
/* Adversarial inputs of a batch for JT_AT / CRMT_AT: joint-l2 PGD on cross-entropy with the
 * options' budget, written to x_adv (scratch: the state's attack_scratch). No allocation. */
crmt_status crmti_adversarial_batch(crmt_model *model, crmti_ws *ws, const float *const *x,
                                    const int32_t *y, int batch, const crmt_train_options *o,
                                    struct crmti_rng *rng, float *const *x_adv, float *scratch);

/* CRMT step 2 after step 1: tunes the integration weights for the certified radius. */
crmt_status crmti_integration_step(crmt_model *model, const crmt_dataset *data,
                                   const crmt_train_options *o, crmt_train_result *result);

struct crmti_lipschitz;
/* Step-2 objective: mean certified radius (signed) of samples idx[0..n) (idx NULL: 0..n-1)
 * whose uni-modal logits are g (sample-major, M x K per sample), under integration weights
 * a (M x K) and the model's bias; when grad is not NULL, adds d(mean)/da to it. h: K doubles
 * of scratch. */
double crmti_step2_objective(const crmt_model *model, const struct crmti_lipschitz *lip,
                             const float *g, const int32_t *labels, const size_t *idx, size_t n,
                             const float *a, int runner_up_only, double *h, double *grad);

#endif
