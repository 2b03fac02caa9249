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

/* One update at the current learning rate: params_new[i] = params[i] updated with grads[i]
 * (n = opt->n values each). params_new may be params itself (in place) or a separate array,
 * which lets training keep the old parameters without copying them. Returns 1 when every new
 * parameter (and Adam's second moment, whose overflow the parameters would not show) is
 * finite, checked in the same pass; 0 otherwise. Does not allocate. */
int crmti_optimizer_apply(crmt_optimizer *opt, const float *params, const float *grads,
                          float *params_new);

#endif
