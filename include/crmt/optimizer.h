/* libcrmt: optimizers over a model's parameters.
 *
 * SGD follows PyTorch semantics: g = grad + weight_decay * w; with momentum mu the buffer is
 * buf = g on the first step and buf = mu * buf + g afterwards; w -= lr * buf (nesterov off,
 * dampening 0). Adam follows torch.optim.Adam (L2 weight decay added to the gradient,
 * bias-corrected moments, eps added to sqrt(v_hat)).
 *
 * The learning rate of a step is lr(epoch) from the schedule: constant; step decay
 * (lr * gamma^floor(epoch / step_size)); cosine (min_lr + (lr - min_lr)(1 + cos(pi e / T))/2
 * with T = CRMT_OPT_TOTAL_EPOCHS). crmt_train() sets the epoch; a host loop calls
 * crmt_optimizer_set_epoch().
 *
 * An optimizer belongs to one model (the one it was created for) and keeps per-parameter
 * state (momentum, moments). Same threading rule as the model.
 */
#ifndef CRMT_OPTIMIZER_H
#define CRMT_OPTIMIZER_H

#include "crmt/common.h"
#include "crmt/model.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct crmt_optimizer crmt_optimizer;

/** Values pinned. */
typedef enum crmt_optimizer_kind {
    CRMT_OPTIMIZER_SGD = 0,
    CRMT_OPTIMIZER_ADAM = 1
} crmt_optimizer_kind;

/** Learning-rate schedules. Values pinned. */
typedef enum crmt_schedule {
    CRMT_SCHEDULE_CONSTANT = 0,
    CRMT_SCHEDULE_STEP = 1,
    CRMT_SCHEDULE_COSINE = 2
} crmt_schedule;

/** Optimizer options for crmt_optimizer_set/get. Values pinned. Bounds: crmt_optimizer_bounds. */
typedef enum crmt_optimizer_param {
    CRMT_OPT_LR = 0,            /**< base learning rate, default 0.01 (SGD) / 0.001 (Adam) */
    CRMT_OPT_MOMENTUM = 1,      /**< SGD momentum in [0, 1), default 0 */
    CRMT_OPT_WEIGHT_DECAY = 2,  /**< L2 decay added to the gradient, >= 0, default 0 */
    CRMT_OPT_BETA1 = 3,         /**< Adam, [0, 1), default 0.9 */
    CRMT_OPT_BETA2 = 4,         /**< Adam, [0, 1), default 0.999 */
    CRMT_OPT_EPSILON = 5,       /**< Adam, > 0, default 1e-8 */
    CRMT_OPT_SCHEDULE = 6,      /**< a crmt_schedule value, default constant */
    CRMT_OPT_STEP_SIZE = 7,     /**< step schedule: epochs between decays, >= 1, default 30 */
    CRMT_OPT_GAMMA = 8,         /**< step schedule: decay factor in (0, 1], default 0.1 */
    CRMT_OPT_TOTAL_EPOCHS = 9,  /**< cosine schedule: period T in epochs, >= 1, default 100 */
    CRMT_OPT_MIN_LR = 10        /**< cosine schedule: floor, >= 0, default 0 */
} crmt_optimizer_param;

CRMT_API crmt_status crmt_optimizer_create(crmt_optimizer **out, crmt_model *model,
                                           crmt_optimizer_kind kind);
CRMT_API void crmt_optimizer_destroy(crmt_optimizer *optimizer);
CRMT_API const char *crmt_optimizer_errmsg(const crmt_optimizer *optimizer);

CRMT_API crmt_status crmt_optimizer_set(crmt_optimizer *optimizer, crmt_optimizer_param param,
                                        double value);
CRMT_API crmt_status crmt_optimizer_get(const crmt_optimizer *optimizer,
                                        crmt_optimizer_param param, double *value);
/** Inclusive lower and upper bounds accepted for param (open bounds are documented above). */
CRMT_API crmt_status crmt_optimizer_bounds(crmt_optimizer_param param, double *lower,
                                           double *upper);
/** Set the current epoch (0-based); the learning rate follows the schedule. */
CRMT_API crmt_status crmt_optimizer_set_epoch(crmt_optimizer *optimizer, int epoch);
/** Learning rate the next step will use. */
CRMT_API double crmt_optimizer_current_lr(const crmt_optimizer *optimizer);
/** Forget momentum / moment state (as if newly created); options are kept. */
CRMT_API crmt_status crmt_optimizer_reset(crmt_optimizer *optimizer);

#ifdef __cplusplus
}
#endif

#endif /* CRMT_OPTIMIZER_H */
