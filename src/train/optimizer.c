#include "train/optimizer.h"

#include <float.h>
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "model/model.h"

#define N_PARAMS (CRMT_OPT_MIN_LR + 1)

/* Largest accepted learning rate, weight decay and cosine floor: far beyond any useful value,
 * and small enough that lr * buf stays well inside float range for sane gradients. */
#define MAX_RATE 1e4

typedef struct param_info {
    const char *name;
    double lower, upper; /* inclusive */
    int integer;         /* value must be integral */
} param_info;

/* Open ends are expressed as the closest accepted double, so that [lower, upper] is exactly
 * the accepted set. The epsilon floor is the smallest normal float: the update runs in float,
 * and a smaller value would round to zero there (0/0 for a parameter with no gradient). */
static param_info param_table(crmt_optimizer_param p)
{
    param_info info = {NULL, 0.0, 0.0, 0};
    switch (p) {
    case CRMT_OPT_LR: info = (param_info){"lr", 0.0, MAX_RATE, 0}; break;
    case CRMT_OPT_MOMENTUM: info = (param_info){"momentum", 0.0, nextafter(1.0, 0.0), 0}; break;
    case CRMT_OPT_WEIGHT_DECAY: info = (param_info){"weight_decay", 0.0, MAX_RATE, 0}; break;
    case CRMT_OPT_BETA1: info = (param_info){"beta1", 0.0, nextafter(1.0, 0.0), 0}; break;
    case CRMT_OPT_BETA2: info = (param_info){"beta2", 0.0, nextafter(1.0, 0.0), 0}; break;
    case CRMT_OPT_EPSILON: info = (param_info){"epsilon", FLT_MIN, 1.0, 0}; break;
    case CRMT_OPT_SCHEDULE:
        info = (param_info){"schedule", CRMT_SCHEDULE_CONSTANT, CRMT_SCHEDULE_COSINE, 1};
        break;
    case CRMT_OPT_STEP_SIZE: info = (param_info){"step_size", 1.0, (double)INT_MAX, 1}; break;
    case CRMT_OPT_GAMMA: info = (param_info){"gamma", DBL_TRUE_MIN, 1.0, 0}; break;
    case CRMT_OPT_TOTAL_EPOCHS:
        info = (param_info){"total_epochs", 1.0, (double)INT_MAX, 1};
        break;
    case CRMT_OPT_MIN_LR: info = (param_info){"min_lr", 0.0, MAX_RATE, 0}; break;
    }
    return info;
}

static int param_known(int p) { return p >= 0 && p < N_PARAMS; }

static void set_defaults(crmt_optimizer *opt)
{
    opt->value[CRMT_OPT_LR] = opt->kind == CRMT_OPTIMIZER_ADAM ? 0.001 : 0.01;
    opt->value[CRMT_OPT_MOMENTUM] = 0.0;
    opt->value[CRMT_OPT_WEIGHT_DECAY] = 0.0;
    opt->value[CRMT_OPT_BETA1] = 0.9;
    opt->value[CRMT_OPT_BETA2] = 0.999;
    opt->value[CRMT_OPT_EPSILON] = 1e-8;
    opt->value[CRMT_OPT_SCHEDULE] = CRMT_SCHEDULE_CONSTANT;
    opt->value[CRMT_OPT_STEP_SIZE] = 30.0;
    opt->value[CRMT_OPT_GAMMA] = 0.1;
    opt->value[CRMT_OPT_TOTAL_EPOCHS] = 100.0;
    opt->value[CRMT_OPT_MIN_LR] = 0.0;
}

crmt_status crmt_optimizer_create(crmt_optimizer **out, crmt_model *model,
                                  crmt_optimizer_kind kind)
{
    char *msg = model ? model->errmsg : NULL;
    if (!out)
        return crmti_fail(msg, CRMT_ERR_INVALID_ARGUMENT, "crmt_optimizer_create: out is NULL");
    *out = NULL;
    if (!model)
        return crmti_fail(NULL, CRMT_ERR_INVALID_ARGUMENT,
                          "crmt_optimizer_create: model is NULL");
    if (kind != CRMT_OPTIMIZER_SGD && kind != CRMT_OPTIMIZER_ADAM)
        return crmti_fail(msg, CRMT_ERR_INVALID_ARGUMENT,
                          "crmt_optimizer_create: unknown optimizer kind %d", (int)kind);
    size_t n = model->n_params;
    if (n > SIZE_MAX / sizeof(float))
        return crmti_fail(msg, CRMT_ERR_INVALID_ARGUMENT,
                          "crmt_optimizer_create: model has too many parameters (%zu)", n);

    crmt_optimizer *opt = calloc(1, sizeof *opt);
    if (!opt)
        return crmti_fail(msg, CRMT_ERR_OUT_OF_MEMORY,
                          "crmt_optimizer_create: cannot allocate the optimizer");
    opt->model = model;
    opt->kind = kind;
    opt->n = n;
    set_defaults(opt);
    /* Zeroed buffers: see crmti_optimizer_apply for why zero is the "no state" value. At least
     * one element so that a successful create never holds a NULL buffer. */
    size_t alloc = n ? n : 1;
    opt->buf1 = calloc(alloc, sizeof(float));
    if (opt->buf1 && kind == CRMT_OPTIMIZER_ADAM)
        opt->buf2 = calloc(alloc, sizeof(float));
    if (!opt->buf1 || (kind == CRMT_OPTIMIZER_ADAM && !opt->buf2)) {
        crmt_optimizer_destroy(opt);
        return crmti_fail(msg, CRMT_ERR_OUT_OF_MEMORY,
                          "crmt_optimizer_create: cannot allocate state for %zu parameters", n);
    }
    *out = opt;
    return CRMT_OK;
}

void crmt_optimizer_destroy(crmt_optimizer *optimizer)
{
    if (!optimizer)
        return;
    free(optimizer->buf1);
    free(optimizer->buf2);
    free(optimizer);
}

const char *crmt_optimizer_errmsg(const crmt_optimizer *optimizer)
{
    return optimizer ? optimizer->errmsg : "";
}

crmt_status crmt_optimizer_set(crmt_optimizer *optimizer, crmt_optimizer_param param,
                               double value)
{
    if (!optimizer)
        return crmti_fail(NULL, CRMT_ERR_INVALID_ARGUMENT, "crmt_optimizer_set: optimizer is NULL");
    char *msg = optimizer->errmsg;
    if (!param_known((int)param))
        return crmti_fail(msg, CRMT_ERR_INVALID_ARGUMENT,
                          "crmt_optimizer_set: unknown optimizer parameter %d", (int)param);
    param_info info = param_table(param);
    if (!isfinite(value))
        return crmti_fail(msg, CRMT_ERR_INVALID_ARGUMENT,
                          "crmt_optimizer_set: %s must be finite", info.name);
    if (!(value >= info.lower && value <= info.upper))
        return crmti_fail(msg, CRMT_ERR_INVALID_ARGUMENT,
                          "crmt_optimizer_set: %s = %.17g is outside [%.17g, %.17g]", info.name,
                          value, info.lower, info.upper);
    if (info.integer && value != floor(value))
        return crmti_fail(msg, CRMT_ERR_INVALID_ARGUMENT,
                          "crmt_optimizer_set: %s = %.17g is not an integer", info.name, value);
    optimizer->value[param] = value;
    return CRMT_OK;
}

crmt_status crmt_optimizer_get(const crmt_optimizer *optimizer, crmt_optimizer_param param,
                               double *value)
{
    if (!optimizer)
        return crmti_fail(NULL, CRMT_ERR_INVALID_ARGUMENT, "crmt_optimizer_get: optimizer is NULL");
    if (!value)
        return crmti_fail(NULL, CRMT_ERR_INVALID_ARGUMENT, "crmt_optimizer_get: value is NULL");
    if (!param_known((int)param))
        return crmti_fail(NULL, CRMT_ERR_INVALID_ARGUMENT,
                          "crmt_optimizer_get: unknown optimizer parameter %d", (int)param);
    *value = optimizer->value[param];
    return CRMT_OK;
}

crmt_status crmt_optimizer_bounds(crmt_optimizer_param param, double *lower, double *upper)
{
    if (!lower || !upper)
        return crmti_fail(NULL, CRMT_ERR_INVALID_ARGUMENT,
                          "crmt_optimizer_bounds: lower or upper is NULL");
    if (!param_known((int)param))
        return crmti_fail(NULL, CRMT_ERR_INVALID_ARGUMENT,
                          "crmt_optimizer_bounds: unknown optimizer parameter %d", (int)param);
    param_info info = param_table(param);
    *lower = info.lower;
    *upper = info.upper;
    return CRMT_OK;
}

crmt_status crmt_optimizer_set_epoch(crmt_optimizer *optimizer, int epoch)
{
    if (!optimizer)
        return crmti_fail(NULL, CRMT_ERR_INVALID_ARGUMENT,
                          "crmt_optimizer_set_epoch: optimizer is NULL");
    if (epoch < 0)
        return crmti_fail(optimizer->errmsg, CRMT_ERR_INVALID_ARGUMENT,
                          "crmt_optimizer_set_epoch: epoch %d is negative", epoch);
    optimizer->epoch = epoch;
    return CRMT_OK;
}

/* lr(epoch) of a valid optimizer. */
static double scheduled_lr(const crmt_optimizer *opt)
{
    const double *v = opt->value;
    double lr = v[CRMT_OPT_LR];
    switch ((int)v[CRMT_OPT_SCHEDULE]) {
    case CRMT_SCHEDULE_STEP: {
        int step_size = (int)v[CRMT_OPT_STEP_SIZE];
        return lr * pow(v[CRMT_OPT_GAMMA], (double)(opt->epoch / step_size));
    }
    case CRMT_SCHEDULE_COSINE: {
        const double pi = 3.14159265358979323846;
        double total = v[CRMT_OPT_TOTAL_EPOCHS];
        double e = opt->epoch < total ? (double)opt->epoch : total;
        double min_lr = v[CRMT_OPT_MIN_LR];
        return min_lr + (lr - min_lr) * (1.0 + cos(pi * e / total)) / 2.0;
    }
    default: return lr;
    }
}

double crmt_optimizer_current_lr(const crmt_optimizer *optimizer)
{
    if (!optimizer) {
        crmti_fail(NULL, CRMT_ERR_INVALID_ARGUMENT, "crmt_optimizer_current_lr: optimizer is NULL");
        return NAN;
    }
    return scheduled_lr(optimizer);
}

crmt_status crmt_optimizer_reset(crmt_optimizer *optimizer)
{
    if (!optimizer)
        return crmti_fail(NULL, CRMT_ERR_INVALID_ARGUMENT,
                          "crmt_optimizer_reset: optimizer is NULL");
    if (optimizer->n) {
        memset(optimizer->buf1, 0, optimizer->n * sizeof(float));
        if (optimizer->buf2)
            memset(optimizer->buf2, 0, optimizer->n * sizeof(float));
    }
    optimizer->step_count = 0;
    return CRMT_OK;
}

/* SGD, PyTorch semantics (dampening 0, no Nesterov). The momentum buffer is all zeros after
 * create/reset, so buf = mu * buf + g gives exactly buf = g on the first step (mu * 0 + g == g
 * in float), and also when momentum is switched on later, as with PyTorch's lazily created
 * buffer. With mu == 0 the buffer is left untouched, as PyTorch does. Returns 1 when every
 * new parameter is finite. */
static int sgd_step(crmt_optimizer *opt, const float *w, const float *grad, float *w_new,
                    double lr_d)
{
    const float lr = (float)lr_d;
    const float wd = (float)opt->value[CRMT_OPT_WEIGHT_DECAY];
    const float mu = (float)opt->value[CRMT_OPT_MOMENTUM];
    float *buf = opt->buf1;
    size_t n = opt->n;
    uint32_t bad = 0;
    if (mu == 0.0f) {
        for (size_t i = 0; i < n; i++) {
            const float wi = w[i];
            float g = grad[i] + wd * wi;
            const float updated = wi - lr * g;
            w_new[i] = updated;
            bad |= crmti_non_finite_bit(updated);
        }
    } else {
        for (size_t i = 0; i < n; i++) {
            const float wi = w[i];
            float g = grad[i] + wd * wi;
            float b = mu * buf[i] + g;
            buf[i] = b;
            const float updated = wi - lr * b;
            w_new[i] = updated;
            bad |= crmti_non_finite_bit(updated);
        }
    }
    return !bad;
}

/* Adam as torch.optim.Adam (amsgrad off): bias corrections in double, then
 * w -= (lr / bc1) * m / (sqrt(v) / sqrt(bc2) + eps), which equals
 * lr * m_hat / (sqrt(v_hat) + eps). t = step_count after this step's increment. Returns 1
 * when every new parameter and second moment is finite. */
static int adam_step(crmt_optimizer *opt, const float *w, const float *grad, float *w_new,
                     double lr_d)
{
    const double b1d = opt->value[CRMT_OPT_BETA1], b2d = opt->value[CRMT_OPT_BETA2];
    const double t = (double)opt->step_count;
    const double bc1 = 1.0 - pow(b1d, t), bc2 = 1.0 - pow(b2d, t);
    const float step = (float)(lr_d / bc1);
    const float inv_sqrt_bc2 = (float)(1.0 / sqrt(bc2));
    const float eps = (float)opt->value[CRMT_OPT_EPSILON];
    const float wd = (float)opt->value[CRMT_OPT_WEIGHT_DECAY];
    const float b1 = (float)b1d, one_m_b1 = (float)(1.0 - b1d);
    const float b2 = (float)b2d, one_m_b2 = (float)(1.0 - b2d);
    float *m = opt->buf1, *v = opt->buf2;
    size_t n = opt->n;
    uint32_t bad = 0;
    for (size_t i = 0; i < n; i++) {
        const float wi = w[i];
        float g = grad[i] + wd * wi;
        float mi = b1 * m[i] + one_m_b1 * g;
        float vi = b2 * v[i] + one_m_b2 * g * g;
        m[i] = mi;
        v[i] = vi;
        const float updated = wi - step * mi / (sqrtf(vi) * inv_sqrt_bc2 + eps);
        w_new[i] = updated;
        /* an overflowed second moment still gives a finite update (m / inf = 0), and then
         * freezes that parameter for good: it counts as an overflow too */
        bad |= crmti_non_finite_bit(updated) | crmti_non_finite_bit(vi);
    }
    return !bad;
}

int crmti_optimizer_apply(crmt_optimizer *opt, const float *params, const float *grads,
                          float *params_new)
{
    double lr = scheduled_lr(opt);
    opt->step_count++;
    const int finite = opt->kind == CRMT_OPTIMIZER_ADAM
                           ? adam_step(opt, params, grads, params_new, lr)
                           : sgd_step(opt, params, grads, params_new, lr);
    opt->model->generation++;
    return finite;
}
