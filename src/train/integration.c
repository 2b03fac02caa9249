/* CRMT step 2: with encoders and head rows frozen, tune the integration weights a to
 * maximise the mean certified radius of the training samples (spec section 2).
 *
 * For sample i with label y and each modality the uni-modal logits g_m are fixed, so they
 * are computed once. With margin_j = sum_m (a_{m,y} g_{m,y} - a_{m,j} g_{m,j}) + b_y - b_j
 * and L_{m,j}(a) from the shared Lipschitz module,
 *     r_i(a) = min_{j != y} margin_j / sqrt(sum_m L_{m,j}^2)
 * (runner-up-only option: j = the fused runner-up). Mini-batch gradient ascent with momentum
 * on mean r_i, a projected onto a >= 0 after every step. A guard undoes the last epoch and
 * stops when accuracy (validation set, else training set) falls more than the allowed drop
 * below its value before step 2: on small models the radius objective easily trades
 * accuracy away. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "data/dataset.h"
#include "robust/lipschitz.h"
#include "tensor/rng.h"
#include "train/trainer.h"

#define MOMENTUM 0.9

typedef struct {
    size_t n;
    int n_mod, k;
    float *g;              /* n x M x K uni-modal logits */
    const int32_t *labels;
} cached_logits;

static crmt_status cache_logits(crmt_model *model, const crmt_dataset *data, cached_logits *c)
{
    const int M = model->n_mod, K = model->n_classes;
    c->n = data->n;
    c->n_mod = M;
    c->k = K;
    c->labels = data->labels;
    c->g = malloc(sizeof(float) * data->n * (size_t)M * (size_t)K);
    crmti_ws *ws = crmti_ws_create(model, 256);
    if (!c->g || !ws) {
        crmti_ws_destroy(ws);
        free(c->g);
        c->g = NULL;
        return crmti_fail(model->errmsg, CRMT_ERR_OUT_OF_MEMORY,
                          "cannot allocate step-2 logits for %zu samples", data->n);
    }
    const float *in[CRMT_MAX_MODALITIES];
    for (size_t start = 0; start < data->n; start += 256) {
        int b = data->n - start < 256 ? (int)(data->n - start) : 256;
        for (int m = 0; m < M; m++)
            in[m] = data->data[m] + start * data->dim[m];
        crmti_forward(model, ws, in, b);
        for (int i = 0; i < b; i++)
            for (int m = 0; m < M; m++)
                memcpy(c->g + ((start + (size_t)i) * (size_t)M + (size_t)m) * (size_t)K,
                       ws->g[m] + (size_t)i * K, sizeof(float) * (size_t)K);
    }
    crmti_ws_destroy(ws);
    return CRMT_OK;
}

static void fused(const cached_logits *c, size_t i, const float *a, const float *b, double *h)
{
    const int M = c->n_mod, K = c->k;
    const float *g = c->g + i * (size_t)M * (size_t)K;
    for (int k = 0; k < K; k++) {
        double s = b[k];
        for (int m = 0; m < M; m++)
            s += (double)a[m * K + k] * g[m * K + k];
        h[k] = s;
    }
}

static double accuracy(const cached_logits *c, const float *a, const float *b, double *h)
{
    size_t correct = 0;
    for (size_t i = 0; i < c->n; i++) {
        fused(c, i, a, b, h);
        int best = 0;
        for (int k = 1; k < c->k; k++)
            if (h[k] > h[best])
                best = k;
        correct += best == c->labels[i];
    }
    return (double)correct / (double)c->n;
}

/* Certified radius of sample i (signed: negative when misclassified) and, when grad is not
 * NULL, its gradient w.r.t. a added to grad with the given weight. */
static double radius(const cached_logits *c, size_t i, const float *a, const float *b,
                     const crmti_lipschitz *lip, int runner_up_only, double *h, double *grad,
                     double weight)
{
    const int M = c->n_mod, K = c->k, y = c->labels[i];
    const float *g = c->g + i * (size_t)M * (size_t)K;
    fused(c, i, a, b, h);
    int runner_up = -1;
    for (int k = 0; k < K; k++)
        if (k != y && (runner_up < 0 || h[k] > h[runner_up]))
            runner_up = k;
    double best = INFINITY;
    int best_j = -1;
    for (int j = 0; j < K; j++) {
        if (j == y || (runner_up_only && j != runner_up))
            continue;
        double den2 = 0.0;
        for (int m = 0; m < M; m++) {
            double l = crmti_lipschitz_pair(lip, m, y, j, a[m * K + y], a[m * K + j]);
            den2 += l * l;
        }
        double r = den2 > 0.0 ? (h[y] - h[j]) / sqrt(den2) : (h[y] > h[j] ? INFINITY : -INFINITY);
        if (r < best) {
            best = r;
            best_j = j;
        }
    }
    if (grad && best_j >= 0 && isfinite(best)) {
        const int j = best_j;
        double l[CRMT_MAX_MODALITIES], dy[CRMT_MAX_MODALITIES], dj[CRMT_MAX_MODALITIES];
        double den2 = 0.0;
        for (int m = 0; m < M; m++) {
            l[m] = crmti_lipschitz_pair_grad(lip, m, y, j, a[m * K + y], a[m * K + j], &dy[m],
                                             &dj[m]);
            den2 += l[m] * l[m];
        }
        const double den = sqrt(den2), num = h[y] - h[j];
        for (int m = 0; m < M; m++) {
            grad[m * K + y] += weight * (g[m * K + y] / den - num * l[m] * dy[m] / (den2 * den));
            grad[m * K + j] += weight * (-g[m * K + j] / den - num * l[m] * dj[m] / (den2 * den));
        }
    }
    return best;
}

double crmti_step2_objective(const crmt_model *model, const crmti_lipschitz *lip,
                             const float *g, const int32_t *labels, const size_t *idx, size_t n,
                             const float *a, int runner_up_only, double *h, double *grad)
{
    cached_logits c = {n, model->n_mod, model->n_classes, (float *)g, labels};
    const float *b = model->params + model->head_b_offset;
    double s = 0.0;
    for (size_t t = 0; t < n; t++) {
        double r = radius(&c, idx ? idx[t] : t, a, b, lip, runner_up_only, h, grad,
                          1.0 / (double)n);
        s += isfinite(r) ? r : 0.0;
    }
    return s / (double)n;
}

static double mean_radius(const cached_logits *c, const float *a, const float *b,
                          const crmti_lipschitz *lip, int runner_up_only, double *h)
{
    double s = 0.0;
    for (size_t i = 0; i < c->n; i++) {
        double r = radius(c, i, a, b, lip, runner_up_only, h, NULL, 0.0);
        s += isfinite(r) ? r : 0.0;
    }
    return s / (double)c->n;
}

crmt_status crmti_integration_step(crmt_model *model, const crmt_dataset *data,
                                   const crmt_train_options *o, crmt_train_result *result)
{
    if (o->integration_epochs == 0 || model->spec.head != CRMT_HEAD_CRMT)
        return CRMT_OK;
    const int M = model->n_mod, K = model->n_classes;
    const size_t na = (size_t)M * (size_t)K;
    float *a = model->params + model->head_a_offset;
    const float *b = model->params + model->head_b_offset;
    crmti_lipschitz lip;
    memset(&lip, 0, sizeof lip);
    cached_logits train_c = {0}, val_c = {0};
    crmt_status s = o->integration_lipschitz == CRMT_LIPSCHITZ_SOUND
                        ? crmti_lipschitz_sound(&lip, model)
                        : crmti_lipschitz_empirical(&lip, model, data->data, data->n);
    if (s == CRMT_OK)
        s = cache_logits(model, data, &train_c);
    if (s == CRMT_OK && o->validation)
        s = cache_logits(model, o->validation, &val_c);
    double *h = malloc(sizeof(double) * (size_t)K);
    double *grad = malloc(sizeof(double) * na), *velocity = calloc(na, sizeof(double));
    float *previous = malloc(sizeof(float) * na);
    size_t *perm = malloc(sizeof(size_t) * data->n);
    if (s == CRMT_OK && (!h || !grad || !velocity || !previous || !perm))
        s = crmti_fail(model->errmsg, CRMT_ERR_OUT_OF_MEMORY, "cannot allocate step-2 buffers");
    if (s != CRMT_OK)
        goto done;
    const cached_logits *guard = o->validation ? &val_c : &train_c;
    const double acc0 = accuracy(guard, a, b, h);
    result->radius_before_step2 = mean_radius(&train_c, a, b, &lip, o->integration_runner_up_only, h);
    result->radius_after_step2 = result->radius_before_step2;
    for (size_t i = 0; i < data->n; i++)
        perm[i] = i;
    crmti_rng rng;
    crmti_rng_seed(&rng, o->seed ^ 0x5bd1e995ULL);
    const size_t batch = (size_t)o->batch_size;
    for (int epoch = 0; epoch < o->integration_epochs; epoch++) {
        memcpy(previous, a, sizeof(float) * na);
        crmti_rng_shuffle(&rng, perm, data->n);
        double radius_sum = 0.0;
        for (size_t start = 0; start < data->n; start += batch) {
            size_t nb = data->n - start < batch ? data->n - start : batch;
            memset(grad, 0, sizeof(double) * na);
            radius_sum += (double)nb * crmti_step2_objective(model, &lip, train_c.g, data->labels,
                                                             perm + start, nb, a,
                                                             o->integration_runner_up_only, h,
                                                             grad);
            for (size_t q = 0; q < na; q++) {
                velocity[q] = MOMENTUM * velocity[q] + grad[q];
                double v = a[q] + o->integration_lr * velocity[q];
                a[q] = (float)(v > 0.0 ? v : 0.0);
            }
        }
        model->generation++;
        double acc = accuracy(guard, a, b, h);
        if (!crmti_all_finite(a, na) || acc < acc0 - o->integration_max_accuracy_drop) {
            memcpy(a, previous, sizeof(float) * na);
            break;
        }
        result->integration_epochs_run = epoch + 1;
        if (o->progress) {
            crmt_epoch_stats es = {epoch, 2, -radius_sum / (double)data->n, acc, 0.0};
            if (o->progress(&es, o->progress_user_data)) {
                result->stopped = 1;
                break;
            }
        }
    }
    result->radius_after_step2 = mean_radius(&train_c, a, b, &lip, o->integration_runner_up_only, h);
done:
    crmti_lipschitz_release(&lip);
    free(train_c.g);
    free(val_c.g);
    free(h);
    free(grad);
    free(velocity);
    free(previous);
    free(perm);
    return s;
}
