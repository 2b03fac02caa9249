/* Public attack and evaluation functions (include/crmt/evaluate.h). */
#include "crmt/evaluate.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api/options.h"
#include "data/dataset.h"
#include "robust/attack.h"
#include "robust/certify.h"

#define ATTACK_OPTIONS_V1_SIZE (offsetof(crmt_attack_options, clip_max) + sizeof(double))
#define EVAL_OPTIONS_V1_SIZE (offsetof(crmt_evaluate_options, n_radii) + sizeof(size_t))
#define REPORT_V1_SIZE (offsetof(crmt_evaluation_report, seconds) + sizeof(double))
#define ATTACK_CHUNK 128

static const double default_radii[] = {0.0, 0.05, 0.1, 0.2, 0.5, 1.0};


crmt_status crmt_attack_options_init(crmt_attack_options *opts, size_t struct_size,
                                     crmt_attack_preset preset)
{
    if (!opts)
        return crmti_fail(NULL, CRMT_ERR_INVALID_ARGUMENT, "opts is NULL");
    if (struct_size < ATTACK_OPTIONS_V1_SIZE)
        return crmti_fail(NULL, CRMT_ERR_INVALID_ARGUMENT,
                          "struct_size %zu is smaller than any crmt_attack_options (%zu)",
                          struct_size, (size_t)ATTACK_OPTIONS_V1_SIZE);
    if (preset != CRMT_ATTACK_PRESET_FGM && preset != CRMT_ATTACK_PRESET_PGD)
        return crmti_fail(NULL, CRMT_ERR_INVALID_ARGUMENT, "unknown attack preset %d",
                          (int)preset);
    memset(opts, 0, struct_size);
    opts->struct_size = struct_size;
    opts->epsilon = 0.2;
    opts->steps = preset == CRMT_ATTACK_PRESET_FGM ? 1 : 4;
    opts->step_size = 0.0;
    opts->restarts = 1;
    opts->random_start = 0;
    opts->modality = CRMT_ATTACK_JOINT;
    opts->loss = CRMT_ATTACK_LOSS_CE;
    opts->keep_best = 0;
    opts->clip_min = 0.0;
    opts->clip_max = 1.0;
    return CRMT_OK;
}

/* Validate host attack options against the model and turn them into the internal config. */
static crmt_status attack_cfg_from(const crmt_model *model, const crmt_attack_options *opts,
                                   crmti_attack_cfg *cfg, uint64_t *seed)
{
    crmt_attack_options o;
    crmt_attack_options_init(&o, sizeof o, CRMT_ATTACK_PRESET_PGD);
    if (opts) {
        crmt_status rs = crmti_read_options(&o, sizeof o, opts, ATTACK_OPTIONS_V1_SIZE,
                                            "crmt_attack_options_init", NULL);
        if (rs != CRMT_OK)
            return rs;
    }
    if (!(o.epsilon >= 0.0 && isfinite(o.epsilon)))
        return crmti_fail(NULL, CRMT_ERR_INVALID_ARGUMENT, "attack epsilon %g", o.epsilon);
    if (o.steps < 1 || o.steps > 1000000)
        return crmti_fail(NULL, CRMT_ERR_INVALID_ARGUMENT, "attack steps %d outside [1, 1e6]",
                          o.steps);
    if (!(o.step_size >= 0.0 && isfinite(o.step_size)))
        return crmti_fail(NULL, CRMT_ERR_INVALID_ARGUMENT, "attack step size %g", o.step_size);
    if (o.restarts < 1 || o.restarts > 100000)
        return crmti_fail(NULL, CRMT_ERR_INVALID_ARGUMENT,
                          "attack restarts %d outside [1, 1e5]", o.restarts);
    if (o.modality != CRMT_ATTACK_JOINT && (o.modality < 0 || o.modality >= model->n_mod))
        return crmti_fail(NULL, CRMT_ERR_INVALID_ARGUMENT,
                          "attack modality %d: the model has %d modalities", o.modality,
                          model->n_mod);
    if (o.loss != CRMT_ATTACK_LOSS_CE && o.loss != CRMT_ATTACK_LOSS_MARGIN)
        return crmti_fail(NULL, CRMT_ERR_INVALID_ARGUMENT, "unknown attack loss %d",
                          (int)o.loss);
    if (o.clip && !(o.clip_min <= o.clip_max && isfinite(o.clip_min) && isfinite(o.clip_max)))
        return crmti_fail(NULL, CRMT_ERR_INVALID_ARGUMENT, "clip range [%g, %g]", o.clip_min,
                          o.clip_max);
    double step = o.step_size > 0.0 ? o.step_size
                                    : (o.steps == 1 ? o.epsilon : o.epsilon / 3.0);
    crmti_attack_cfg_pgd(cfg, o.epsilon, o.steps, step);
    cfg->restarts = o.restarts;
    cfg->random_start = o.random_start != 0;
    cfg->modality = o.modality;
    cfg->loss = o.loss == CRMT_ATTACK_LOSS_MARGIN ? CRMTI_LOSS_MARGIN : CRMTI_LOSS_CE;
    cfg->keep_best = o.keep_best != 0;
    cfg->clip = o.clip != 0;
    cfg->clip_min = (float)o.clip_min;
    cfg->clip_max = (float)o.clip_max;
    *seed = o.seed;
    return CRMT_OK;
}

crmt_status crmt_attack(const crmt_model *model, const float *const *inputs,
                        const int32_t *labels, size_t n, const crmt_attack_options *opts,
                        float *const *adv_out, int32_t *adv_pred_out)
{
    if (!model)
        return crmti_fail(NULL, CRMT_ERR_INVALID_ARGUMENT, "model is NULL");
    if (!labels || !adv_out)
        return crmti_fail(NULL, CRMT_ERR_INVALID_ARGUMENT, "labels or adv_out is NULL");
    crmt_status st = crmti_check_inputs(model, inputs, n, NULL);
    if (st != CRMT_OK)
        return st;
    for (int m = 0; m < model->n_mod; m++) {
        if (!adv_out[m])
            return crmti_fail(NULL, CRMT_ERR_INVALID_ARGUMENT, "adv_out[%d] is NULL", m);
        const uintptr_t bytes = (uintptr_t)(n * (size_t)model->enc[m].in_size * sizeof(float));
        const uintptr_t a = (uintptr_t)adv_out[m], x = (uintptr_t)inputs[m];
        if (a < x + bytes && x < a + bytes)
            return crmti_fail(NULL, CRMT_ERR_INVALID_ARGUMENT,
                              "adv_out[%d] overlaps the inputs", m);
    }
    for (size_t i = 0; i < n; i++)
        if (labels[i] < 0 || labels[i] >= model->n_classes)
            return crmti_fail(NULL, CRMT_ERR_INVALID_ARGUMENT,
                              "label %d of sample %zu is outside [0, %d)", (int)labels[i], i,
                              model->n_classes);
    crmti_attack_cfg cfg;
    uint64_t seed = 0;
    st = attack_cfg_from(model, opts, &cfg, &seed);
    if (st != CRMT_OK)
        return st;
    const int chunk = n < ATTACK_CHUNK ? (int)n : ATTACK_CHUNK;
    crmti_ws *ws = crmti_ws_create(model, chunk);
    float *scratch = malloc(sizeof(float) * crmti_attack_scratch_size(model, chunk, &cfg));
    if (!ws || !scratch) {
        crmti_ws_destroy(ws);
        free(scratch);
        return crmti_fail(NULL, CRMT_ERR_OUT_OF_MEMORY, "cannot allocate an attack workspace");
    }
    crmti_rng rng;
    crmti_rng_seed(&rng, seed);
    const float *in[CRMT_MAX_MODALITIES];
    float *out[CRMT_MAX_MODALITIES];
    for (size_t start = 0; start < n; start += (size_t)chunk) {
        const int b = (n - start < (size_t)chunk) ? (int)(n - start) : chunk;
        for (int m = 0; m < model->n_mod; m++) {
            in[m] = inputs[m] + start * (size_t)model->enc[m].in_size;
            out[m] = adv_out[m] + start * (size_t)model->enc[m].in_size;
        }
        crmti_pgd(model, ws, in, labels + start, b, &cfg, &rng, out, scratch,
                  adv_pred_out ? adv_pred_out + start : NULL);
    }
    crmti_ws_destroy(ws);
    free(scratch);
    return CRMT_OK;
}

crmt_status crmt_evaluate_options_init(crmt_evaluate_options *opts, size_t struct_size)
{
    if (!opts)
        return crmti_fail(NULL, CRMT_ERR_INVALID_ARGUMENT, "opts is NULL");
    if (struct_size < EVAL_OPTIONS_V1_SIZE)
        return crmti_fail(NULL, CRMT_ERR_INVALID_ARGUMENT,
                          "struct_size %zu is smaller than any crmt_evaluate_options (%zu)",
                          struct_size, (size_t)EVAL_OPTIONS_V1_SIZE);
    memset(opts, 0, struct_size);
    opts->struct_size = struct_size;
    opts->batch_size = 128;
    opts->attacks = 1;
    opts->unimodal_attacks = 1;
    opts->fgm_epsilon = 0.2;
    opts->pgd_epsilon = 0.2;
    opts->pgd_steps = 4;
    opts->pgd_step_size = 0.0;
    opts->pgd_restarts = 1;
    opts->missing = 1;
    opts->certify = 1;
    opts->lipschitz = CRMT_LIPSCHITZ_SOUND;
    return CRMT_OK;
}

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

typedef struct eval_buffers {
    crmti_ws *ws;
    float *scratch;
    float *adv[CRMT_MAX_MODALITIES];
    float *fill[CRMT_MAX_MODALITIES]; /* B copies of the fill vector */
    int32_t *pred;
    float *block;
} eval_buffers;

static void free_buffers(eval_buffers *b)
{
    crmti_ws_destroy(b->ws);
    free(b->scratch);
    free(b->block);
    free(b->pred);
}

static size_t count_correct(const int32_t *pred, const int32_t *y, int b)
{
    size_t c = 0;
    for (int i = 0; i < b; i++)
        c += pred[i] == y[i];
    return c;
}

static void predict_ws(const crmt_model *model, crmti_ws *ws, const float *const *in, int b,
                       int32_t *pred)
{
    const int K = model->n_classes;
    crmti_forward(model, ws, in, b);
    for (int i = 0; i < b; i++) {
        const float *h = ws->logits + (size_t)i * K;
        int best = 0;
        for (int k = 1; k < K; k++)
            if (h[k] > h[best])
                best = k;
        pred[i] = best;
    }
}

crmt_status crmt_evaluate(const crmt_model *model, const crmt_dataset *data,
                          const crmt_evaluate_options *opts, crmt_evaluation_report *report)
{
    const double t0 = now_seconds();
    if (!model || !data || !report)
        return crmti_fail(NULL, CRMT_ERR_INVALID_ARGUMENT, "model, data or report is NULL");
    if (report->struct_size < REPORT_V1_SIZE)
        return crmti_fail(NULL, CRMT_ERR_INVALID_ARGUMENT,
                          "report->struct_size %zu is too small: set it to "
                          "sizeof(crmt_evaluation_report) (%zu)",
                          report->struct_size, sizeof(crmt_evaluation_report));
    crmt_evaluate_options o;
    crmt_evaluate_options_init(&o, sizeof o);
    if (opts) {
        crmt_status rs = crmti_read_options(&o, sizeof o, opts, EVAL_OPTIONS_V1_SIZE,
                                            "crmt_evaluate_options_init", NULL);
        if (rs != CRMT_OK)
            return rs;
    }
    if (o.batch_size < 1 || o.batch_size > 65536)
        return crmti_fail(NULL, CRMT_ERR_INVALID_ARGUMENT, "batch_size %d outside [1, 65536]",
                          o.batch_size);
    const double *radii = o.radii ? o.radii : default_radii;
    const size_t n_radii = o.radii ? o.n_radii : sizeof default_radii / sizeof default_radii[0];
    if (n_radii > CRMT_EVAL_MAX_RADII)
        return crmti_fail(NULL, CRMT_ERR_INVALID_ARGUMENT, "%zu radii; at most %d", n_radii,
                          CRMT_EVAL_MAX_RADII);
    for (size_t r = 0; r < n_radii; r++)
        if (!(radii[r] >= 0.0))
            return crmti_fail(NULL, CRMT_ERR_INVALID_ARGUMENT, "radius %zu is %g (must be >= 0)",
                              r, radii[r]);
    crmt_status st = crmti_check_dataset(model, data, 1, "data");
    if (st != CRMT_OK)
        return st;
    if (o.fill_mean_data) {
        st = crmti_check_dataset(model, o.fill_mean_data, 0, "fill_mean_data");
        if (st != CRMT_OK)
            return st;
    }
    if (o.certify && o.certifier) {
        if (o.certifier->model != model)
            return crmti_fail(NULL, CRMT_ERR_STATE,
                              "the certifier was built for another model");
        if (crmti_certifier_stale(o.certifier))
            return crmti_fail(NULL, CRMT_ERR_STATE,
                              "the model changed after the certifier was created");
    }
    /* The certifier first: its errors (e.g. empirical without data) come before the work. */
    crmt_certifier *own = NULL;
    const crmt_certifier *cert = o.certifier;
    if (o.certify && !cert) {
        crmt_certifier_options co;
        crmt_certifier_options_init(&co, sizeof co);
        co.lipschitz = o.lipschitz;
        co.lipschitz_data = o.lipschitz_data;
        co.fill_mean_data = o.fill_mean_data;
        st = crmt_certifier_create(&own, model, &co);
        if (st != CRMT_OK)
            return st;
        cert = own;
    }
    const int M = model->n_mod;
    const double fgm_eps = o.fgm_epsilon, pgd_eps = o.pgd_epsilon;
    const double uni_fgm = o.unimodal_epsilon > 0.0 ? o.unimodal_epsilon : fgm_eps;
    const double uni_pgd = o.unimodal_epsilon > 0.0 ? o.unimodal_epsilon : pgd_eps;
    crmti_attack_cfg fgm, pgd;
    if (o.attacks) {
        if (!(fgm_eps >= 0.0 && pgd_eps >= 0.0 && isfinite(fgm_eps) && isfinite(pgd_eps) &&
              o.unimodal_epsilon >= 0.0 && isfinite(o.unimodal_epsilon))) {
            crmt_certifier_destroy(own);
            return crmti_fail(NULL, CRMT_ERR_INVALID_ARGUMENT, "attack budgets must be >= 0");
        }
        if (o.pgd_steps < 1 || o.pgd_steps > 1000000 || o.pgd_restarts < 1 ||
            o.pgd_restarts > 100000 || !(o.pgd_step_size >= 0.0 && isfinite(o.pgd_step_size))) {
            crmt_certifier_destroy(own);
            return crmti_fail(NULL, CRMT_ERR_INVALID_ARGUMENT,
                              "PGD steps %d / restarts %d / step size %g", o.pgd_steps,
                              o.pgd_restarts, o.pgd_step_size);
        }
    }
    crmti_attack_cfg_fgm(&fgm, fgm_eps);
    crmti_attack_cfg_pgd(&pgd, pgd_eps, o.pgd_steps,
                         o.pgd_step_size > 0.0 ? o.pgd_step_size : pgd_eps / 3.0);
    pgd.restarts = o.pgd_restarts;
    pgd.random_start = o.pgd_random_start != 0;

    const size_t n = data->n;
    const int B = n < (size_t)o.batch_size ? (int)n : o.batch_size;
    eval_buffers buf;
    memset(&buf, 0, sizeof buf);
    size_t per_sample = 0;
    for (int m = 0; m < M; m++)
        per_sample += (size_t)model->enc[m].in_size;
    buf.ws = crmti_ws_create(model, B);
    size_t scratch = crmti_attack_scratch_size(model, B, &pgd);
    size_t s2 = crmti_attack_scratch_size(model, B, &fgm);
    buf.scratch = malloc(sizeof(float) * (scratch > s2 ? scratch : s2));
    buf.block = calloc(2 * (size_t)B * per_sample, sizeof(float));
    buf.pred = malloc(sizeof(int32_t) * (size_t)B);
    if (!buf.ws || !buf.scratch || !buf.block || !buf.pred) {
        free_buffers(&buf);
        crmt_certifier_destroy(own);
        return crmti_fail(NULL, CRMT_ERR_OUT_OF_MEMORY, "cannot allocate evaluation buffers");
    }
    {
        float *p = buf.block;
        for (int m = 0; m < M; m++) {
            const size_t nm = (size_t)model->enc[m].in_size;
            buf.adv[m] = p;
            p += (size_t)B * nm;
            buf.fill[m] = p;
            p += (size_t)B * nm;
            if (o.fill_mean_data) {
                crmti_dataset_mean(o.fill_mean_data, m, buf.fill[m]);
                for (int i = 1; i < B; i++)
                    memcpy(buf.fill[m] + (size_t)i * nm, buf.fill[m], sizeof(float) * nm);
            }
        }
    }
    crmti_rng rng;
    crmti_rng_seed(&rng, o.seed);
    size_t clean = 0, fgm_ok = 0, pgd_ok = 0;
    size_t fgm_m[CRMT_MAX_MODALITIES] = {0}, pgd_m[CRMT_MAX_MODALITIES] = {0};
    size_t miss[CRMT_MAX_MODALITIES] = {0};
    const float *in[CRMT_MAX_MODALITIES], *mixed[CRMT_MAX_MODALITIES];
    for (size_t start = 0; start < n; start += (size_t)B) {
        const int b = (n - start < (size_t)B) ? (int)(n - start) : B;
        const int32_t *y = data->labels + start;
        for (int m = 0; m < M; m++)
            in[m] = data->data[m] + start * data->dim[m];
        predict_ws(model, buf.ws, in, b, buf.pred);
        clean += count_correct(buf.pred, y, b);
        if (o.attacks) {
            crmti_attack_cfg c = fgm;
            crmti_pgd(model, buf.ws, in, y, b, &c, &rng, buf.adv, buf.scratch, buf.pred);
            fgm_ok += count_correct(buf.pred, y, b);
            c = pgd;
            crmti_pgd(model, buf.ws, in, y, b, &c, &rng, buf.adv, buf.scratch, buf.pred);
            pgd_ok += count_correct(buf.pred, y, b);
            if (o.unimodal_attacks)
                for (int m = 0; m < M; m++) {
                    c = fgm;
                    c.epsilon = uni_fgm;
                    c.step_size = uni_fgm;
                    c.modality = m;
                    crmti_pgd(model, buf.ws, in, y, b, &c, &rng, buf.adv, buf.scratch, buf.pred);
                    fgm_m[m] += count_correct(buf.pred, y, b);
                    c = pgd;
                    c.epsilon = uni_pgd;
                    c.step_size = o.pgd_step_size > 0.0 ? o.pgd_step_size : uni_pgd / 3.0;
                    c.modality = m;
                    crmti_pgd(model, buf.ws, in, y, b, &c, &rng, buf.adv, buf.scratch, buf.pred);
                    pgd_m[m] += count_correct(buf.pred, y, b);
                }
        }
        if (o.missing)
            for (int m = 0; m < M; m++) {
                for (int k = 0; k < M; k++)
                    mixed[k] = (k == m) ? buf.fill[k] : in[k];
                predict_ws(model, buf.ws, mixed, b, buf.pred);
                miss[m] += count_correct(buf.pred, y, b);
            }
    }
    free_buffers(&buf);

    crmt_evaluation_report r;
    memset(&r, 0, sizeof r);
    r.n_samples = n;
    r.n_modalities = M;
    const double dn = (double)n;
    r.clean_accuracy = (double)clean / dn;
    if (o.attacks) {
        r.fgm_accuracy = (double)fgm_ok / dn;
        r.pgd_accuracy = (double)pgd_ok / dn;
        if (o.unimodal_attacks)
            for (int m = 0; m < M; m++) {
                r.fgm_modality_accuracy[m] = (double)fgm_m[m] / dn;
                r.pgd_modality_accuracy[m] = (double)pgd_m[m] / dn;
            }
    }
    if (o.missing)
        for (int m = 0; m < M; m++)
            r.missing_accuracy[m] = (double)miss[m] / dn;
    if (o.certify) {
        size_t joint[CRMT_EVAL_MAX_RADII], per_mod[CRMT_MAX_MODALITIES * CRMT_EVAL_MAX_RADII];
        size_t missing[CRMT_MAX_MODALITIES];
        double sum_r = 0.0, sum_mr[CRMT_MAX_MODALITIES];
        st = crmti_certified_stats(cert, data, radii, n_radii, joint, per_mod, &sum_r, sum_mr,
                                   missing);
        r.lipschitz = cert->lip.method;
        if (st != CRMT_OK) {
            crmt_certifier_destroy(own);
            return st;
        }
        r.n_radii = n_radii;
        for (size_t k = 0; k < n_radii; k++) {
            r.radii[k] = radii[k];
            r.certified_accuracy[k] = (double)joint[k] / dn;
            for (int m = 0; m < M; m++)
                r.modality_certified_accuracy[m][k] = (double)per_mod[(size_t)m * n_radii + k] / dn;
        }
        r.mean_certified_radius = sum_r / dn;
        for (int m = 0; m < M; m++) {
            r.modality_mean_certified_radius[m] = sum_mr[m] / dn;
            r.missing_certified[m] = (double)missing[m] / dn;
        }
    }
    crmt_certifier_destroy(own);
    r.seconds = now_seconds() - t0;
    const size_t size = report->struct_size;
    memcpy(report, &r, size < sizeof r ? size : sizeof r);
    report->struct_size = size;
    return CRMT_OK;
}
