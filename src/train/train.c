/* Training loops: crmt_train (epochs of shuffled mini-batches) and crmt_train_step. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api/options.h"
#include "crmt/train.h"
#include "data/dataset.h"
#include "model/model.h"
#include "robust/attack.h"
#include "tensor/rng.h"
#include "train/loss.h"
#include "train/optimizer.h"
#include "train/trainer.h"

void crmti_train_state_destroy(crmti_train_state *state)
{
    if (!state)
        return;
    crmti_ws_destroy(state->ws);
    for (int m = 0; m < CRMT_MAX_MODALITIES; m++) {
        free(state->x[m]);
        free(state->x_work[m]);
    }
    free(state->ya);
    free(state->yb);
    free(state->batch_perm);
    free(state->backup);
    free(state->attack_scratch);
    free(state);
}

crmt_status crmti_train_state_reserve(crmt_model *model, int batch)
{
    if (model->train_state && model->train_state->capacity >= batch)
        return CRMT_OK;
    crmti_train_state *st = calloc(1, sizeof *st);
    int ok = st != NULL;
    if (ok) {
        const size_t B = (size_t)batch;
        st->capacity = batch;
        st->ws = crmti_ws_create(model, batch);
        st->ya = malloc(sizeof(int32_t) * B);
        st->yb = malloc(sizeof(int32_t) * B);
        st->batch_perm = malloc(sizeof(size_t) * B);
        st->backup = malloc(sizeof(float) * model->n_params);
        crmt_train_options defaults;
        crmti_attack_cfg cfg;
        crmt_train_options_init(&defaults, sizeof defaults);
        crmti_adversarial_cfg(&defaults, &cfg);
        st->attack_scratch = malloc(sizeof(float) * crmti_attack_scratch_size(model, batch, &cfg));
        ok = st->ws && st->ya && st->yb && st->batch_perm && st->backup && st->attack_scratch;
        for (int m = 0; ok && m < model->n_mod; m++) {
            size_t n = B * (size_t)model->enc[m].in_size;
            st->x[m] = malloc(sizeof(float) * n);
            st->x_work[m] = malloc(sizeof(float) * n);
            ok = st->x[m] && st->x_work[m];
        }
    }
    if (!ok) {
        crmti_train_state_destroy(st);
        return crmti_fail(model->errmsg, CRMT_ERR_OUT_OF_MEMORY,
                          "cannot allocate training buffers for batch %d", batch);
    }
    if (model->train_state && model->train_state->backup_valid) {
        memcpy(st->backup, model->train_state->backup, sizeof(float) * model->n_params);
        st->backup_valid = 1;
    }
    crmti_train_state_destroy(model->train_state);
    model->train_state = st;
    return CRMT_OK;
}

static int is_crmt_method(crmt_train_method m)
{
    return m == CRMT_METHOD_CRMT || m == CRMT_METHOD_CRMT_AT || m == CRMT_METHOD_CRMT_MIX;
}

static int is_adversarial(crmt_train_method m)
{
    return m == CRMT_METHOD_JT_AT || m == CRMT_METHOD_CRMT_AT;
}

static int is_mixup(crmt_train_method m)
{
    return m == CRMT_METHOD_JT_MIXUP || m == CRMT_METHOD_CRMT_MIX;
}

crmt_status crmt_train_options_init(crmt_train_options *opts, size_t struct_size)
{
    if (!opts)
        return crmti_fail(NULL, CRMT_ERR_INVALID_ARGUMENT, "opts is NULL");
    if (struct_size < offsetof(crmt_train_options, rho) || struct_size > sizeof *opts)
        return crmti_fail(NULL, CRMT_ERR_INVALID_ARGUMENT,
                          "struct_size %zu does not match any version of crmt_train_options",
                          struct_size);
    crmt_train_options d;
    memset(&d, 0, sizeof d);
    d.struct_size = struct_size;
    d.method = CRMT_METHOD_JT;
    d.epochs = 20;
    d.batch_size = 64;
    d.seed = 0;
    d.rho = 2.0;
    d.at_epsilon = 0.1;
    d.at_steps = 5;
    d.at_step_size = 0.0;
    d.integration_epochs = 0;
    d.integration_lr = 0.01;
    d.integration_runner_up_only = 0;
    d.integration_lipschitz = CRMT_LIPSCHITZ_SOUND;
    d.integration_max_accuracy_drop = 0.01;
    memcpy(opts, &d, struct_size);
    return CRMT_OK;
}

/* Host options -> complete options of this library version (defaults for unknown tail). */
static crmt_status read_options(const crmt_train_options *user, crmt_train_options *o,
                                char *msg)
{
    crmt_train_options_init(o, sizeof *o);
    if (!user)
        return CRMT_OK;
    crmt_status rs = crmti_read_options(o, sizeof *o, user, offsetof(crmt_train_options, rho),
                                        "crmt_train_options_init", msg);
    if (rs != CRMT_OK)
        return rs;
    if (o->method < CRMT_METHOD_JT || o->method > CRMT_METHOD_CRMT_MIX)
        return crmti_fail(msg, CRMT_ERR_INVALID_ARGUMENT, "unknown training method %d",
                          (int)o->method);
    if (o->epochs < 1 || o->epochs > 1000000)
        return crmti_fail(msg, CRMT_ERR_INVALID_ARGUMENT, "epochs %d outside [1, 1000000]",
                          o->epochs);
    if (o->batch_size < 1 || o->batch_size > 1 << 20)
        return crmti_fail(msg, CRMT_ERR_INVALID_ARGUMENT, "batch_size %d outside [1, 2^20]",
                          o->batch_size);
    if (!(o->rho >= 0.0 && o->rho <= 1e6))
        return crmti_fail(msg, CRMT_ERR_INVALID_ARGUMENT, "rho %g outside [0, 1e6]", o->rho);
    if (!(o->at_epsilon >= 0.0 && o->at_epsilon <= 1e6) || o->at_steps < 1 ||
        o->at_steps > 10000 || !(o->at_step_size >= 0.0 && o->at_step_size <= 1e6))
        return crmti_fail(msg, CRMT_ERR_INVALID_ARGUMENT,
                          "adversarial options out of range (epsilon %g, steps %d, step size %g)",
                          o->at_epsilon, o->at_steps, o->at_step_size);
    if (o->integration_epochs < 0 || o->integration_epochs > 1000000 ||
        !(o->integration_lr > 0.0 && o->integration_lr <= 1e3) ||
        (o->integration_lipschitz != CRMT_LIPSCHITZ_SOUND &&
         o->integration_lipschitz != CRMT_LIPSCHITZ_EMPIRICAL) ||
        !(o->integration_max_accuracy_drop >= 0.0 && o->integration_max_accuracy_drop <= 1.0))
        return crmti_fail(msg, CRMT_ERR_INVALID_ARGUMENT,
                          "integration options out of range (epochs %d, lr %g, lipschitz %d, "
                          "max accuracy drop %g)",
                          o->integration_epochs, o->integration_lr,
                          (int)o->integration_lipschitz, o->integration_max_accuracy_drop);
    return CRMT_OK;
}

static crmt_status check_model_options(const crmt_model *model, const crmt_train_options *o)
{
    if (is_crmt_method(o->method) && model->spec.head != CRMT_HEAD_CRMT)
        return crmti_fail((char *)model->errmsg, CRMT_ERR_UNSUPPORTED,
                          "method %d needs a model with a CRMT head", (int)o->method);
    return CRMT_OK;
}

/* Divergence: leave (restore_backup 0) or put back (1) the last parameters that gave a finite
 * loss. */
static crmt_status diverged(crmt_model *model, const char *what, int restore_backup)
{
    crmti_train_state *st = model->train_state;
    if (restore_backup && st->backup_valid) {
        memcpy(model->params, st->backup, sizeof(float) * model->n_params);
        model->generation++;
    }
    return crmti_fail(model->errmsg, CRMT_ERR_DIVERGED,
                      "%s: training stopped; the model keeps the parameters of the last step "
                      "with a finite loss (lower the learning rate)",
                      what);
}

/* One optimizer step on a gathered batch. Does not allocate. */
static crmt_status train_batch(crmt_model *model, crmt_optimizer *opt, const float *const *x,
                               const int32_t *y, int batch, const crmt_train_options *o,
                               crmti_rng *rng, double *loss_out, int *correct_out)
{
    crmti_train_state *st = model->train_state;
    crmti_ws *ws = st->ws;
    const int K = model->n_classes, M = model->n_mod;
    const float *xin[CRMT_MAX_MODALITIES];
    for (int m = 0; m < M; m++)
        xin[m] = x[m];
    const int32_t *yb = y;
    double lam = 1.0;
    if (is_adversarial(o->method)) {
        crmt_status s = crmti_adversarial_batch(model, ws, x, y, batch, o, rng, st->x_work,
                                                st->attack_scratch);
        if (s != CRMT_OK)
            return s;
        for (int m = 0; m < M; m++)
            xin[m] = st->x_work[m];
    } else if (is_mixup(o->method)) {
        lam = crmti_rng_beta_symmetric(rng, 1.0);
        for (int i = 0; i < batch; i++)
            st->batch_perm[i] = (size_t)i;
        crmti_rng_shuffle(rng, st->batch_perm, (size_t)batch);
        for (int m = 0; m < M; m++) {
            const size_t n = (size_t)model->enc[m].in_size;
            for (int i = 0; i < batch; i++) {
                const float *a = x[m] + (size_t)i * n, *b = x[m] + st->batch_perm[i] * n;
                float *dst = st->x_work[m] + (size_t)i * n;
                for (size_t t = 0; t < n; t++)
                    dst[t] = (float)(lam * a[t] + (1.0 - lam) * b[t]);
            }
            xin[m] = st->x_work[m];
        }
        for (int i = 0; i < batch; i++)
            st->yb[i] = y[st->batch_perm[i]];
        yb = st->yb;
    }
    crmti_forward(model, ws, xin, batch);
    double loss = crmti_loss_ce(ws->logits, y, yb, lam, batch, K, ws->dlogits);
    if (is_crmt_method(o->method) && o->rho > 0.0) {
        loss += crmti_loss_margin((const float *const *)ws->g, M, y, yb, lam, batch, K, o->rho,
                                  ws->dg);
        ws->dg_active = 1;
    }
    int correct = 0;
    for (int i = 0; i < batch; i++) {
        const float *row = ws->logits + (size_t)i * K;
        int best = 0;
        for (int k = 1; k < K; k++)
            if (row[k] > row[best])
                best = k;
        correct += best == y[i];
    }
    if (!isfinite(loss)) {
        ws->dg_active = 0;
        return diverged(model, "non-finite training loss", 1); /* the previous step's */
    }
    crmti_backward(model, ws, xin, batch, model->grads, NULL); /* overwrites every gradient */
    /* the current parameters gave a finite loss and are untouched: they stay */
    if (!crmti_all_finite(model->grads, model->n_params))
        return diverged(model, "non-finite gradient", 0);
    /* These parameters gave a finite loss: they become the backup. The update writes the new
     * parameters into the backup buffer and the two arrays swap, so keeping the old ones
     * costs no copy (and the finiteness check is part of the update's pass). */
    float *const current = model->params;
    if (!crmti_optimizer_apply(opt, current, model->grads, st->backup)) {
        /* the parameters are untouched; the backup buffer holds the broken update, so it
         * becomes a copy of them (the optimizer's state has taken the step: training stops) */
        memcpy(st->backup, current, sizeof(float) * model->n_params);
        st->backup_valid = 1;
        return diverged(model, "the update overflowed", 0);
    }
    model->params = st->backup;
    st->backup = current;
    st->backup_valid = 1;
    *loss_out = loss;
    *correct_out = correct;
    return CRMT_OK;
}

static crmt_status check_dataset(crmt_model *model, const crmt_dataset *data)
{
    if (!crmti_dataset_complete(data))
        return crmti_fail(model->errmsg, CRMT_ERR_STATE,
                          "dataset is incomplete (a modality or the labels are not set)");
    if (data->n_mod != model->n_mod)
        return crmti_fail(model->errmsg, CRMT_ERR_SHAPE,
                          "dataset has %d modalities, the model %d", data->n_mod, model->n_mod);
    for (int m = 0; m < model->n_mod; m++)
        if (data->dim[m] != (size_t)model->enc[m].in_size)
            return crmti_fail(model->errmsg, CRMT_ERR_SHAPE,
                              "modality %d: dataset dimension %zu, model input %d", m,
                              data->dim[m], model->enc[m].in_size);
    for (size_t i = 0; i < data->n; i++)
        if (data->labels[i] < 0 || data->labels[i] >= model->n_classes)
            return crmti_fail(model->errmsg, CRMT_ERR_SHAPE,
                              "label %d of sample %zu outside [0, %d)", (int)data->labels[i], i,
                              model->n_classes);
    return CRMT_OK;
}

/* Rows idx[0..b) of every modality into x[m] (b x dim_m). The rows are scattered over the
 * dataset, so each one is mostly cache misses: the row GATHER_AHEAD places further on is
 * prefetched while one is copied, so that the misses of several rows overlap. */
#define GATHER_AHEAD 4
static void gather_batch(const crmt_dataset *data, const size_t *idx, int b, float *const *x)
{
    for (int m = 0; m < data->n_mod; m++) {
        const size_t dim = data->dim[m], row_bytes = sizeof(float) * dim;
        const float *src = data->data[m];
        for (int i = 0; i < b; i++) {
            if (i + GATHER_AHEAD < b) {
                const char *ahead = (const char *)(src + idx[i + GATHER_AHEAD] * dim);
                for (size_t off = 0; off < row_bytes; off += 64)
                    __builtin_prefetch(ahead + off);
            }
            memcpy(x[m] + (size_t)i * dim, src + idx[i] * dim, row_bytes);
        }
    }
}

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static crmt_status check_pair(crmt_model *model, crmt_optimizer *optimizer)
{
    if (!model)
        return crmti_fail(NULL, CRMT_ERR_INVALID_ARGUMENT, "model is NULL");
    if (!optimizer)
        return crmti_fail(model->errmsg, CRMT_ERR_INVALID_ARGUMENT, "optimizer is NULL");
    if (optimizer->model != model)
        return crmti_fail(model->errmsg, CRMT_ERR_STATE,
                          "the optimizer was created for another model");
    return CRMT_OK;
}

crmt_status crmt_train(crmt_model *model, crmt_optimizer *optimizer, const crmt_dataset *data,
                       const crmt_train_options *opts, crmt_train_result *result)
{
    crmt_status s = check_pair(model, optimizer);
    if (s != CRMT_OK)
        return s;
    if (!data)
        return crmti_fail(model->errmsg, CRMT_ERR_INVALID_ARGUMENT, "dataset is NULL");
    if (result && (result->struct_size < sizeof(size_t) + sizeof(int) ||
                   result->struct_size > sizeof *result))
        return crmti_fail(model->errmsg, CRMT_ERR_INVALID_ARGUMENT,
                          "result->struct_size %zu is not a crmt_train_result size",
                          result->struct_size);
    crmt_train_options o;
    if ((s = read_options(opts, &o, model->errmsg)) != CRMT_OK ||
        (s = check_model_options(model, &o)) != CRMT_OK || (s = check_dataset(model, data)) != CRMT_OK)
        return s;
    if (o.validation && (s = check_dataset(model, o.validation)) != CRMT_OK)
        return s;
    const size_t n = data->n;
    const int batch_cap = (size_t)o.batch_size < n ? o.batch_size : (int)n;
    if ((s = crmti_train_state_reserve(model, batch_cap)) != CRMT_OK)
        return s;
    size_t *perm = malloc(sizeof(size_t) * n);
    if (!perm)
        return crmti_fail(model->errmsg, CRMT_ERR_OUT_OF_MEMORY, "cannot allocate %zu indices",
                          n);
    for (size_t i = 0; i < n; i++)
        perm[i] = i;
    crmti_rng rng;
    crmti_rng_seed(&rng, o.seed);
    crmti_train_state *st = model->train_state;
    crmt_train_result r;
    memset(&r, 0, sizeof r);
    const double t_start = now_seconds();
    for (int epoch = 0; epoch < o.epochs && s == CRMT_OK && !r.stopped; epoch++) {
        const double t_epoch = now_seconds();
        crmt_optimizer_set_epoch(optimizer, epoch);
        crmti_rng_shuffle(&rng, perm, n);
        double loss_sum = 0.0;
        size_t correct = 0;
        for (size_t start = 0; start < n && s == CRMT_OK; start += (size_t)batch_cap) {
            int b = (n - start < (size_t)batch_cap) ? (int)(n - start) : batch_cap;
            gather_batch(data, perm + start, b, st->x);
            for (int i = 0; i < b; i++)
                st->ya[i] = data->labels[perm[start + (size_t)i]];
            double loss = 0.0;
            int c = 0;
            /* ya is also the label array of the batch; train_batch may reuse yb only. */
            s = train_batch(model, optimizer, (const float *const *)st->x, st->ya, b, &o, &rng,
                            &loss, &c);
            loss_sum += loss * b;
            correct += (size_t)c;
        }
        if (s != CRMT_OK)
            break;
        r.epochs_run = epoch + 1;
        r.final_loss = loss_sum / (double)n;
        r.final_accuracy = (double)correct / (double)n;
        if (o.progress) {
            crmt_epoch_stats es = {epoch, 1, r.final_loss, r.final_accuracy,
                                   now_seconds() - t_epoch};
            if (o.progress(&es, o.progress_user_data))
                r.stopped = 1;
        }
    }
    free(perm);
    if (s == CRMT_OK && is_crmt_method(o.method) && !r.stopped)
        s = crmti_integration_step(model, data, &o, &r);
    r.seconds = now_seconds() - t_start;
    if (result) {
        size_t sz = result->struct_size;
        r.struct_size = sz;
        memcpy(result, &r, sz);
    }
    return s;
}

crmt_status crmt_train_step(crmt_model *model, crmt_optimizer *optimizer,
                            const float *const *inputs, const int32_t *labels, size_t n,
                            const crmt_train_options *opts, double *loss_out)
{
    crmt_status s = check_pair(model, optimizer);
    if (s != CRMT_OK)
        return s;
    crmt_train_options o;
    if ((s = read_options(opts, &o, model->errmsg)) != CRMT_OK ||
        (s = check_model_options(model, &o)) != CRMT_OK ||
        (s = crmti_check_inputs(model, inputs, n, model->errmsg)) != CRMT_OK)
        return s;
    if (n > (1u << 20))
        return crmti_fail(model->errmsg, CRMT_ERR_INVALID_ARGUMENT,
                          "batch of %zu samples is too large (max 2^20)", n);
    if (!labels)
        return crmti_fail(model->errmsg, CRMT_ERR_INVALID_ARGUMENT, "labels is NULL");
    for (size_t i = 0; i < n; i++)
        if (labels[i] < 0 || labels[i] >= model->n_classes)
            return crmti_fail(model->errmsg, CRMT_ERR_INVALID_ARGUMENT,
                              "label %d of sample %zu outside [0, %d)", (int)labels[i], i,
                              model->n_classes);
    if ((s = crmti_train_state_reserve(model, (int)n)) != CRMT_OK)
        return s;
    /* Randomness of mixup and attacks: seeded by the options and the step count, so a host
     * loop is reproducible. */
    crmti_rng rng;
    crmti_rng_seed(&rng, o.seed ^ (0x9e3779b97f4a7c15ULL * (uint64_t)(optimizer->step_count + 1)));
    double loss = 0.0;
    int correct = 0;
    s = train_batch(model, optimizer, inputs, labels, (int)n, &o, &rng, &loss, &correct);
    if (s == CRMT_OK && loss_out)
        *loss_out = loss;
    return s;
}

crmt_status crmt_model_accuracy(const crmt_model *model, const crmt_dataset *data,
                                double *accuracy_out)
{
    if (!model || !data || !accuracy_out)
        return crmti_fail(NULL, CRMT_ERR_INVALID_ARGUMENT, "model, data or accuracy_out is NULL");
    if (!crmti_dataset_complete(data))
        return crmti_fail(NULL, CRMT_ERR_STATE,
                          "dataset is incomplete (a modality or the labels are not set)");
    if (data->n_mod != model->n_mod)
        return crmti_fail(NULL, CRMT_ERR_SHAPE, "dataset has %d modalities, the model %d",
                          data->n_mod, model->n_mod);
    for (int m = 0; m < model->n_mod; m++)
        if (data->dim[m] != (size_t)model->enc[m].in_size)
            return crmti_fail(NULL, CRMT_ERR_SHAPE, "modality %d: dataset dimension %zu, model %d",
                              m, data->dim[m], model->enc[m].in_size);
    int32_t *pred = malloc(sizeof(int32_t) * data->n);
    if (!pred)
        return crmti_fail(NULL, CRMT_ERR_OUT_OF_MEMORY, "cannot allocate predictions");
    crmt_status s = crmt_model_predict(model, data->data, data->n, pred, NULL);
    if (s == CRMT_OK) {
        size_t correct = 0;
        for (size_t i = 0; i < data->n; i++)
            correct += pred[i] == data->labels[i];
        *accuracy_out = (double)correct / (double)data->n;
    }
    free(pred);
    return s;
}
