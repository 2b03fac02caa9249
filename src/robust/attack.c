/* l2 FGM / PGD attacks on the fused logits. See attack.h. */
#include "robust/attack.h"

#include <math.h>
#include <string.h>

/* Added to gradient norms, as the official release does (avoids 0/0). */
#define GRAD_EPS 1e-13
/* Projections land this much inside the ball so that float rounding never leaves it. */
#define PROJ_SHRINK (1.0 - 1e-6)

void crmti_attack_cfg_fgm(crmti_attack_cfg *cfg, double eps)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->epsilon = eps;
    cfg->steps = 1;
    cfg->step_size = eps;
    cfg->restarts = 1;
    cfg->modality = -1;
    cfg->loss = CRMTI_LOSS_CE;
}

void crmti_attack_cfg_pgd(crmti_attack_cfg *cfg, double eps, int steps, double step_size)
{
    crmti_attack_cfg_fgm(cfg, eps);
    cfg->steps = steps;
    cfg->step_size = step_size;
}

static int tracking(const crmti_attack_cfg *cfg) { return cfg->keep_best || cfg->restarts > 1; }

size_t crmti_attack_scratch_size(const crmt_model *model, int batch,
                                 const crmti_attack_cfg *cfg)
{
    size_t per_sample = 0;
    for (int m = 0; m < model->n_mod; m++)
        per_sample += (size_t)model->enc[m].in_size;
    size_t n = (size_t)batch * per_sample; /* gradients */
    if (tracking(cfg))
        n += (size_t)batch * per_sample + 2 * (size_t)batch; /* iterate, best loss, fooled */
    return n;
}

static int attacked(const crmti_attack_cfg *cfg, int m)
{
    return cfg->modality < 0 || cfg->modality == m;
}

/* Loss of sample i from ws->logits, and its gradient w.r.t. the logits into ws->dlogits
 * (when grad is set). Returns the loss; *pred gets the argmax. */
static double sample_loss(const crmt_model *model, crmti_ws *ws, int i, int y, int loss_kind,
                          int grad, int *pred)
{
    const int K = model->n_classes;
    const float *h = ws->logits + (size_t)i * K;
    float *dl = ws->dlogits + (size_t)i * K;
    int best = 0, other = -1;
    for (int k = 1; k < K; k++)
        if (h[k] > h[best])
            best = k;
    for (int k = 0; k < K; k++)
        if (k != y && (other < 0 || h[k] > h[other]))
            other = k;
    *pred = best;
    if (loss_kind == CRMTI_LOSS_MARGIN) {
        if (grad) {
            memset(dl, 0, sizeof(float) * (size_t)K);
            dl[other] = 1.0f;
            dl[y] = -1.0f;
        }
        return (double)h[other] - (double)h[y];
    }
    const double mx = h[best];
    double s = 0.0;
    for (int k = 0; k < K; k++)
        s += exp((double)h[k] - mx);
    if (grad)
        for (int k = 0; k < K; k++)
            dl[k] = (float)(exp((double)h[k] - mx) / s - (k == y ? 1.0 : 0.0));
    return mx + log(s) - (double)h[y];
}

/* Squared l2 norm of x_adv - x over the attacked coordinates of sample i (in double, from
 * the float values actually stored). */
static double delta_norm(const crmt_model *model, const crmti_attack_cfg *cfg,
                         const float *const *x, float *const *it, int i)
{
    double ss = 0.0;
    for (int m = 0; m < model->n_mod; m++) {
        if (!attacked(cfg, m))
            continue;
        const size_t n = (size_t)model->enc[m].in_size;
        const float *xi = x[m] + (size_t)i * n, *v = it[m] + (size_t)i * n;
        for (size_t k = 0; k < n; k++) {
            const double d = (double)v[k] - (double)xi[k];
            ss += d * d;
        }
    }
    return sqrt(ss);
}

/* Clip sample i to the box (when asked), then project x_adv - x onto the ball. The stored
 * float values are re-measured: when rounding leaves them outside, the perturbation is shrunk
 * a little more (x itself as the last resort), so the budget always holds exactly. */
static void clip_and_project(const crmt_model *model, const crmti_attack_cfg *cfg,
                             const float *const *x, float *const *it, int i)
{
    if (cfg->clip)
        for (int m = 0; m < model->n_mod; m++) {
            if (!attacked(cfg, m))
                continue;
            const size_t n = (size_t)model->enc[m].in_size;
            float *v = it[m] + (size_t)i * n;
            for (size_t k = 0; k < n; k++) {
                if (v[k] < cfg->clip_min)
                    v[k] = cfg->clip_min;
                if (v[k] > cfg->clip_max)
                    v[k] = cfg->clip_max;
            }
        }
    double shrink = PROJ_SHRINK; /* then 1 - 1e-5, 1 - 1e-4, ..., 0.5 */
    for (int attempt = 0;; attempt++) {
        const double dn = delta_norm(model, cfg, x, it, i);
        if (dn <= cfg->epsilon)
            return;
        const double f = attempt < 10 ? cfg->epsilon / dn * shrink : 0.0;
        for (int m = 0; m < model->n_mod; m++) {
            if (!attacked(cfg, m))
                continue;
            const size_t n = (size_t)model->enc[m].in_size;
            const float *xi = x[m] + (size_t)i * n;
            float *v = it[m] + (size_t)i * n;
            for (size_t k = 0; k < n; k++)
                v[k] = (float)((double)xi[k] + ((double)v[k] - (double)xi[k]) * f);
        }
        if (f == 0.0)
            return;
        shrink = 1.0 - 10.0 * (1.0 - shrink);
        if (shrink < 0.5)
            shrink = 0.5;
    }
}

/* Random start: delta uniform in the ball of radius eps over the attacked coordinates. */
static void random_start(const crmt_model *model, const crmti_attack_cfg *cfg, crmti_rng *rng,
                         const float *const *x, float *const *it, int i)
{
    double ss = 0.0, dims = 0.0;
    for (int m = 0; m < model->n_mod; m++) {
        if (!attacked(cfg, m))
            continue;
        const size_t n = (size_t)model->enc[m].in_size;
        float *v = it[m] + (size_t)i * n;
        for (size_t k = 0; k < n; k++) {
            double z = crmti_rng_normal(rng);
            v[k] = (float)z;
            ss += z * z;
        }
        dims += (double)n;
    }
    const double radius = cfg->epsilon * pow(crmti_rng_uniform(rng), 1.0 / dims);
    const double f = ss > 0.0 ? radius / sqrt(ss) : 0.0;
    for (int m = 0; m < model->n_mod; m++) {
        if (!attacked(cfg, m))
            continue;
        const size_t n = (size_t)model->enc[m].in_size;
        float *v = it[m] + (size_t)i * n;
        const float *xi = x[m] + (size_t)i * n;
        for (size_t k = 0; k < n; k++)
            v[k] = (float)((double)xi[k] + f * (double)v[k]);
    }
    clip_and_project(model, cfg, x, it, i);
}

/* Squared joint l2 norms, over the attacked modalities, of a (b == NULL: the gradient rows) or
 * of a - b (the perturbation rows) for the 4 samples idx[0..4): each is summed in exactly the
 * order of step_sample and delta_norm (modality by modality, index by index), but the four
 * dependent chains of additions run side by side instead of one after the other. */
static void sq_norms4(const crmt_model *model, const crmti_attack_cfg *cfg,
                      const float *const *a, const float *const *b, const int *idx,
                      double *out)
{
    double s0 = 0.0, s1 = 0.0, s2 = 0.0, s3 = 0.0;
    for (int m = 0; m < model->n_mod; m++) {
        if (!attacked(cfg, m))
            continue;
        const size_t n = (size_t)model->enc[m].in_size;
        const float *a0 = a[m] + (size_t)idx[0] * n, *a1 = a[m] + (size_t)idx[1] * n,
                    *a2 = a[m] + (size_t)idx[2] * n, *a3 = a[m] + (size_t)idx[3] * n;
        if (!b) {
            for (size_t k = 0; k < n; k++) {
                s0 += (double)a0[k] * a0[k];
                s1 += (double)a1[k] * a1[k];
                s2 += (double)a2[k] * a2[k];
                s3 += (double)a3[k] * a3[k];
            }
            continue;
        }
        const float *b0 = b[m] + (size_t)idx[0] * n, *b1 = b[m] + (size_t)idx[1] * n,
                    *b2 = b[m] + (size_t)idx[2] * n, *b3 = b[m] + (size_t)idx[3] * n;
        for (size_t k = 0; k < n; k++) {
            const double d0 = (double)a0[k] - (double)b0[k], d1 = (double)a1[k] - (double)b1[k],
                         d2 = (double)a2[k] - (double)b2[k], d3 = (double)a3[k] - (double)b3[k];
            s0 += d0 * d0;
            s1 += d1 * d1;
            s2 += d2 * d2;
            s3 += d3 * d3;
        }
    }
    out[0] = s0;
    out[1] = s1;
    out[2] = s2;
    out[3] = s3;
}

/* One normalised gradient step, then clipping and projection, for each of the samples
 * idx[0..n), n <= 4 (distinct): x_adv += step * g / (||g|| + 1e-13), then clip_and_project.
 * The norms of the four samples are computed together (sq_norms4). Without clipping,
 * clip_and_project is called only for the samples whose step left the ball: for the others
 * its first measurement would return at once (it re-measures the ones it gets itself). */
static void step_samples4(const crmt_model *model, const crmti_attack_cfg *cfg,
                          const float *const *x, float *const *it, float *const *grad,
                          const int *idx, int n)
{
    int id[4];
    for (int j = 0; j < 4; j++)
        id[j] = idx[j < n ? j : n - 1]; /* pad with a repeat; its results are unused */
    double ss[4];
    sq_norms4(model, cfg, (const float *const *)grad, NULL, id, ss);
    for (int j = 0; j < n; j++) {
        const double f = cfg->step_size / (sqrt(ss[j]) + GRAD_EPS);
        for (int m = 0; m < model->n_mod; m++) {
            if (!attacked(cfg, m))
                continue;
            const size_t nm = (size_t)model->enc[m].in_size;
            const float *g = grad[m] + (size_t)id[j] * nm;
            float *v = it[m] + (size_t)id[j] * nm;
            for (size_t k = 0; k < nm; k++)
                v[k] = (float)((double)v[k] + f * (double)g[k]);
        }
    }
    if (cfg->clip) {
        for (int j = 0; j < n; j++)
            clip_and_project(model, cfg, x, it, id[j]);
        return;
    }
    sq_norms4(model, cfg, (const float *const *)it, x, id, ss);
    for (int j = 0; j < n; j++)
        if (!(sqrt(ss[j]) <= cfg->epsilon))
            clip_and_project(model, cfg, x, it, id[j]);
}

static void copy_sample(const crmt_model *model, const float *const *src, float *const *dst,
                        int i)
{
    for (int m = 0; m < model->n_mod; m++) {
        const size_t n = (size_t)model->enc[m].in_size;
        memcpy(dst[m] + (size_t)i * n, src[m] + (size_t)i * n, sizeof(float) * n);
    }
}

void crmti_pgd(const crmt_model *model, crmti_ws *ws, const float *const *x, const int32_t *y,
               int batch, const crmti_attack_cfg *cfg, crmti_rng *rng, float *const *x_adv,
               float *scratch, int32_t *adv_pred)
{
    const int M = model->n_mod;
    const int track = tracking(cfg);
    float *grad[CRMT_MAX_MODALITIES] = {0}, *cur[CRMT_MAX_MODALITIES] = {0};
    float *dinputs[CRMT_MAX_MODALITIES] = {0};
    float *p = scratch;
    for (int m = 0; m < M; m++) {
        grad[m] = p;
        p += (size_t)batch * (size_t)model->enc[m].in_size;
        dinputs[m] = attacked(cfg, m) ? grad[m] : NULL;
    }
    float *best_loss = NULL, *fooled = NULL;
    float *const *it = x_adv;
    if (track) {
        for (int m = 0; m < M; m++) {
            cur[m] = p;
            p += (size_t)batch * (size_t)model->enc[m].in_size;
        }
        best_loss = p;
        p += batch;
        fooled = p;
        it = cur;
        for (int i = 0; i < batch; i++) {
            best_loss[i] = -INFINITY;
            fooled[i] = 0.0f;
        }
    }
    /* x_adv starts as x: modalities not attacked stay clean, and it is the fallback. */
    for (int m = 0; m < M; m++)
        memcpy(x_adv[m], x[m], sizeof(float) * (size_t)batch * (size_t)model->enc[m].in_size);
    const float *const *itc = (const float *const *)it;
    for (int r = 0; r < cfg->restarts; r++) {
        if (track)
            for (int m = 0; m < M; m++)
                memcpy(cur[m], x[m],
                       sizeof(float) * (size_t)batch * (size_t)model->enc[m].in_size);
        if (cfg->random_start && rng)
            for (int i = 0; i < batch; i++)
                random_start(model, cfg, rng, x, it, i);
        for (int s = 0; s <= cfg->steps; s++) {
            const int last = (s == cfg->steps);
            if (last && !track)
                break;
            crmti_forward(model, ws, itc, batch);
            for (int i = 0; i < batch; i++) {
                int pred;
                double loss = sample_loss(model, ws, i, y[i], cfg->loss, !last, &pred);
                if (track && fooled[i] == 0.0f) {
                    if (pred != y[i]) {
                        fooled[i] = 1.0f;
                        copy_sample(model, itc, x_adv, i);
                    } else if (loss > best_loss[i]) {
                        best_loss[i] = (float)loss;
                        copy_sample(model, itc, x_adv, i);
                    }
                }
            }
            if (last)
                break;
            ws->dg_active = 0;
            crmti_backward(model, ws, itc, batch, NULL, dinputs);
            int idx[4], n4 = 0;
            for (int i = 0; i < batch; i++) {
                if (track && fooled[i] != 0.0f)
                    continue; /* already misclassified and recorded */
                idx[n4++] = i;
                if (n4 == 4) {
                    step_samples4(model, cfg, x, it, grad, idx, 4);
                    n4 = 0;
                }
            }
            if (n4 > 0)
                step_samples4(model, cfg, x, it, grad, idx, n4);
        }
    }
    if (adv_pred) {
        crmti_forward(model, ws, (const float *const *)x_adv, batch);
        const int K = model->n_classes;
        for (int i = 0; i < batch; i++) {
            const float *h = ws->logits + (size_t)i * K;
            int best = 0;
            for (int k = 1; k < K; k++)
                if (h[k] > h[best])
                    best = k;
            adv_pred[i] = best;
        }
    }
}
