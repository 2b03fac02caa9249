/* Internal: optimizer state and the update step used by training. */
#ifndef CRMTI_OPTIMIZER_H
#define CRMTI_OPTIMIZER_H

#include "api/error.h"
#include "crmt/optimizer.h"

struct crmt_optimizer {
    crmt_model *model;
    crmt_optimizer_kind kind;
    double value[CRMT_OPT_MIN_LR + 1]; /* indexed by crmt_optimizer_param */
    int epoch;
    long step_count;
    size_t n;           /* number of parameters */
    float *buf1;        /* SGD momentum buffer / Adam first moment */
    float *buf2;        /* Adam second moment (NULL for SGD) */
    char errmsg[CRMTI_ERRMSG_SIZE];
};

/* Apply one update to params[0..n) with grads[0..n) at the current learning rate; n must
 * equal opt->n. Does not allocate. */
void crmti_optimizer_apply(crmt_optimizer *opt, float *params, const float *grads);

#endif
