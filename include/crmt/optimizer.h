/* libcrmt: optimizers over a model's parameters.
 *
 * SGD follows PyTorch semantics: g = grad + weight_decay * w; with momentum mu the buffer is
 * buf = g on the first step and buf = mu * buf + g afterwards; w -= lr * buf (nesterov off,
 * dampening 0). Adam follows torch.optim.Adam (L2 weight decay added to the gradient,
 * bias-corrected moments, eps added to sqrt(v_hat)).
 *
 * The learning rate of a step is lr(epoch) from the schedule: constant; step decay
 * (lr * gamma^floor(epoch / step_size)); cosine (min_lr + (lr - min_lr)(1 + cos(pi e / T))/2
 * with T = CRMT_OPT_TOTAL_EPOCHS and e = min(epoch, T): it stays at min_lr after T epochs,
 * it does not restart). crmt_train() sets the epoch; a host loop calls
 * crmt_optimizer_set_epoch(). min_lr above lr is allowed (the rate then rises).
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

/** Optimizer options for crmt_optimizer_set/get. Values pinned. Exact accepted ranges:
 *  crmt_optimizer_bounds. Every option can be set on either kind; options a kind does not use
 *  (momentum for Adam, betas and epsilon for SGD) are stored and ignored. Integer-valued
 *  options (schedule, step_size, total_epochs) reject non-integral values. */
typedef enum crmt_optimizer_param {
    /** base learning rate, [0, 1e4], default 0.01 (SGD) / 0.001 (Adam) */
    CRMT_OPT_LR = 0,
    CRMT_OPT_MOMENTUM = 1,      /**< SGD momentum in [0, 1), default 0 */
    CRMT_OPT_WEIGHT_DECAY = 2,  /**< L2 decay added to the gradient, [0, 1e4], default 0 */
    CRMT_OPT_BETA1 = 3,         /**< Adam, [0, 1), default 0.9 */
    CRMT_OPT_BETA2 = 4,         /**< Adam, [0, 1), default 0.999 */
    CRMT_OPT_EPSILON = 5,       /**< Adam, [FLT_MIN, 1] (i.e. > 0 as a float), default 1e-8 */
    CRMT_OPT_SCHEDULE = 6,      /**< a crmt_schedule value, default constant */
    CRMT_OPT_STEP_SIZE = 7,     /**< step schedule: epochs per decay, [1, INT_MAX], default 30 */
    CRMT_OPT_GAMMA = 8,         /**< step schedule: decay factor in (0, 1], default 0.1 */
    CRMT_OPT_TOTAL_EPOCHS = 9,  /**< cosine schedule: T in epochs, [1, INT_MAX], default 100 */
    CRMT_OPT_MIN_LR = 10        /**< cosine schedule: floor, [0, 1e4], default 0 */
} crmt_optimizer_param;

/** Create an optimizer for model with the defaults above, epoch 0 and no momentum/moment
 *  state. The model must outlive the optimizer. *out is NULL on failure. */
CRMT_API crmt_status crmt_optimizer_create(crmt_optimizer **out, crmt_model *model,
                                           crmt_optimizer_kind kind);
/** Destroy; NULL is accepted. */
CRMT_API void crmt_optimizer_destroy(crmt_optimizer *optimizer);
/** Detailed message of the last failed call that took this optimizer as non-const ("" if none
 *  or if optimizer is NULL). */
CRMT_API const char *crmt_optimizer_errmsg(const crmt_optimizer *optimizer);

CRMT_API crmt_status crmt_optimizer_set(crmt_optimizer *optimizer, crmt_optimizer_param param,
                                        double value);
CRMT_API crmt_status crmt_optimizer_get(const crmt_optimizer *optimizer,
                                        crmt_optimizer_param param, double *value);
/** Inclusive lower and upper bounds accepted for param: a finite value v is accepted iff
 *  lower <= v <= upper (and v is integral for integer-valued options). An open end, as in
 *  [0, 1), is reported as the closest accepted double (the largest double below 1). */
CRMT_API crmt_status crmt_optimizer_bounds(crmt_optimizer_param param, double *lower,
                                           double *upper);
/** Set the current epoch (0-based, >= 0); the learning rate follows the schedule. */
CRMT_API crmt_status crmt_optimizer_set_epoch(crmt_optimizer *optimizer, int epoch);
/** Learning rate the next step will use (NaN when optimizer is NULL). */
CRMT_API double crmt_optimizer_current_lr(const crmt_optimizer *optimizer);
/** Forget momentum / moment state and the step count (the next step behaves like the first
 *  step of a new optimizer); options and the current epoch are kept. */
CRMT_API crmt_status crmt_optimizer_reset(crmt_optimizer *optimizer);

#ifdef __cplusplus
}
#endif

#endif /* CRMT_OPTIMIZER_H */
