/* Finite-difference checks of every layer, the head normalisations, the losses and the input
 * gradients, against the analytic backward pass. Central differences of the float forward
 * pass, accumulated in double. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crmt/crmt.h"
#include "model/head_norm.h"
#include "model/model.h"
#include "nn/layer.h"
#include "tensor/rng.h"
#include "train/loss.h"

#include "gradcheck.h"

/* ---- single layers: L = sum(out * r) for a fixed random r ---- */

static double layer_objective(const crmti_layer *layer, const float *params, const float *in,
                              const float *r, float *out, int batch)
{
    crmti_layer_forward(layer, params, in, out, batch);
    double s = 0.0;
    for (size_t i = 0; i < (size_t)batch * (size_t)layer->out_size; i++)
        s += (double)out[i] * r[i];
    return s;
}

typedef struct layer_case {
    const crmti_layer *layer;
    const float *params, *in, *r;
    float *out;
    int batch;
} layer_case;

static double layer_value(void *ctx)
{
    layer_case *c = ctx;
    return layer_objective(c->layer, c->params, c->in, c->r, c->out, c->batch);
}

static void check_layer(crmti_layer *layer, int batch, unsigned seed)
{
    crmti_rng rng;
    crmti_rng_seed(&rng, seed);
    size_t n_in = (size_t)batch * (size_t)layer->in_size;
    size_t n_out = (size_t)batch * (size_t)layer->out_size;
    size_t np = layer->n_params ? layer->n_params : 1;
    float *p = calloc(np, sizeof *p), *dp = calloc(np, sizeof *dp);
    float *in = malloc(sizeof(float) * n_in), *din = malloc(sizeof(float) * n_in);
    float *out = malloc(sizeof(float) * n_out), *r = malloc(sizeof(float) * n_out);
    crmt_test_fill_uniform(p, np, &rng, 0.5);
    crmt_test_fill_uniform(in, n_in, &rng, 1.0);
    crmt_test_fill_uniform(r, n_out, &rng, 1.0);
    layer_objective(layer, p, in, r, out, batch);
    crmti_layer_backward(layer, p, in, out, r, din, layer->n_params ? dp : NULL, batch);
    layer_case lc = {layer, p, in, r, out, batch};
    double numeric = 0.0;
    size_t bad = crmt_test_gradient_mismatch(in, din, n_in, 1e-2, layer_value, &lc, &numeric);
    ck_assert_msg(bad == n_in, "layer kind %d input grad %zu: analytic %g numeric %g",
                  layer->kind, bad, bad < n_in ? (double)din[bad] : 0.0, numeric);
    bad = crmt_test_gradient_mismatch(p, dp, layer->n_params, 1e-2, layer_value, &lc, &numeric);
    ck_assert_msg(bad == layer->n_params, "layer kind %d param grad %zu: analytic %g numeric %g",
                  layer->kind, bad, bad < layer->n_params ? (double)dp[bad] : 0.0, numeric);
    ck_assert_uint_gt(n_in + layer->n_params, 0);
    free(p), free(dp), free(in), free(din), free(out), free(r);
}

START_TEST(test_linear_layer)
{
    crmti_layer l = {.kind = CRMTI_LAYER_LINEAR, .in_size = 7, .out_size = 5, .b_offset = 35,
                     .n_params = 40};
    check_layer(&l, 4, 1);
    crmti_layer one = {.kind = CRMTI_LAYER_LINEAR, .in_size = 1, .out_size = 3, .b_offset = 3,
                       .n_params = 6};
    check_layer(&one, 1, 2);
}
END_TEST

START_TEST(test_relu_layer)
{
    crmti_layer l = {.kind = CRMTI_LAYER_RELU, .in_size = 9, .out_size = 9};
    check_layer(&l, 3, 3);
}
END_TEST

/* ---- head normalisation: L = sum(Wt * r) ---- */

static double norm_objective(const float *v, int k, int d, int ortho, const float *r, float *wt,
                             double *cache)
{
    crmti_head_norm_forward(v, k, d, ortho, wt, cache);
    double s = 0.0;
    for (int i = 0; i < k * d; i++)
        s += (double)wt[i] * r[i];
    return s;
}

typedef struct norm_case {
    const float *v, *r;
    int k, d, ortho;
    float *wt;
    double *cache;
} norm_case;

static double norm_value(void *ctx)
{
    norm_case *c = ctx;
    return norm_objective(c->v, c->k, c->d, c->ortho, c->r, c->wt, c->cache);
}

static void check_head_norm(int k, int d, int ortho)
{
    crmti_rng rng;
    crmti_rng_seed(&rng, (uint64_t)(k * 100 + d + ortho));
    size_t n = (size_t)k * (size_t)d;
    float *v = malloc(sizeof(float) * n), *r = malloc(sizeof(float) * n);
    float *wt = malloc(sizeof(float) * n), *dv = calloc(n, sizeof(float));
    double *cache = malloc(sizeof(double) * crmti_head_norm_cache_size(k, d, ortho));
    double *scratch = malloc(sizeof(double) * crmti_head_norm_scratch_size(k, d));
    crmt_test_fill_uniform(v, n, &rng, 1.0);
    crmt_test_fill_uniform(r, n, &rng, 1.0);
    norm_objective(v, k, d, ortho, r, wt, cache);
    /* the defining property of each variant */
    for (int i = 0; i < k; i++)
        for (int j = 0; j < k; j++) {
            double dot = 0.0;
            for (int t = 0; t < d; t++)
                dot += (double)wt[i * d + t] * wt[j * d + t];
            if (i == j)
                ck_assert_msg(fabs(dot - 1.0) < 1e-4, "row %d norm^2 %g", i, dot);
            else if (ortho)
                ck_assert_msg(fabs(dot) < 1e-4, "rows %d,%d dot %g", i, j, dot);
        }
    crmti_head_norm_backward(r, k, d, ortho, cache, scratch, dv);
    norm_case nc = {v, r, k, d, ortho, wt, cache};
    double numeric = 0.0;
    const size_t bad = crmt_test_gradient_mismatch(v, dv, n, 2e-2, norm_value, &nc, &numeric);
    ck_assert_msg(bad == n, "head norm (k %d d %d ortho %d) grad %zu: analytic %g numeric %g", k,
                  d, ortho, bad, bad < n ? (double)dv[bad] : 0.0, numeric);
    free(v), free(r), free(wt), free(dv), free(cache), free(scratch);
}

START_TEST(test_head_norm_rows)
{
    check_head_norm(3, 6, 0);
    check_head_norm(5, 3, 0); /* more classes than features: rows only */
}
END_TEST

START_TEST(test_head_norm_orthonormal)
{
    check_head_norm(3, 6, 1);
    check_head_norm(4, 4, 1);
}
END_TEST

/* ---- losses on their own ---- */

static double loss_objective(const float *logits, float *const *g, int n_mod, const int32_t *ya,
                             const int32_t *yb, double lam, int batch, int k, double rho,
                             float *dlogits, float *const *dg)
{
    return crmti_loss_ce(logits, ya, yb, lam, batch, k, dlogits) +
           crmti_loss_margin((const float *const *)g, n_mod, ya, yb, lam, batch, k, rho, dg);
}

typedef struct loss_case {
    const float *logits;
    float *const *g;
    const int32_t *ya, *yb;
    double lam;
} loss_case;

static double loss_value(void *ctx)
{
    loss_case *c = ctx;
    return loss_objective(c->logits, c->g, 2, c->ya, c->yb, c->lam, 3, 4, 2.0, NULL, NULL);
}

START_TEST(test_losses)
{
    enum { B = 3, K = 4, M = 2 };
    crmti_rng rng;
    crmti_rng_seed(&rng, 11);
    float logits[B * K], dlogits[B * K], g0[B * K], g1[B * K], dg0[B * K], dg1[B * K];
    float *g[M] = {g0, g1}, *dg[M] = {dg0, dg1};
    crmt_test_fill_uniform(logits, B * K, &rng, 3.0);
    crmt_test_fill_uniform(g0, B * K, &rng, 3.0);
    crmt_test_fill_uniform(g1, B * K, &rng, 3.0);
    const int32_t ya[B] = {0, 3, 1}, yb_plain[B] = {0, 3, 1}, yb_mix[B] = {2, 3, 0};
    const int32_t *ybs[2] = {yb_plain, yb_mix};
    const double lams[2] = {1.0, 0.3};
    for (int variant = 0; variant < 2; variant++) {
        const int32_t *yb = ybs[variant];
        double lam = lams[variant];
        loss_objective(logits, g, M, ya, yb, lam, B, K, 2.0, dlogits, dg);
        loss_case lc = {logits, g, ya, yb, lam};
        float *targets[3] = {logits, g0, g1};
        const float *analytic[3] = {dlogits, dg0, dg1};
        for (int t = 0; t < 3; t++) {
            double numeric = 0.0;
            const size_t bad = crmt_test_gradient_mismatch(targets[t], analytic[t], B * K, 1e-2,
                                                           loss_value, &lc, &numeric);
            ck_assert_msg(bad == B * K, "loss variant %d target %d index %zu: analytic %g numeric %g",
                          variant, t, bad, bad < B * K ? (double)analytic[t][bad] : 0.0,
                          numeric);
        }
    }
    /* Numerical stability: huge logit gaps give a finite loss (the official code's raw exps
     * overflow here). */
    for (int i = 0; i < B * K; i++)
        g0[i] = (i % K == 0) ? -400.0f : 400.0f;
    double big = crmti_loss_margin((const float *const *)g, M, ya, yb_plain, 1.0, B, K, 1.0, dg);
    ck_assert(isfinite(big));
}
END_TEST

START_TEST(test_margin_loss_closed_form)
{
    /* One modality, one sample, K = 3, y = 0, g = (1, 2, 3):
     * log(exp(2-1) + exp(3-1)) = log(e + e^2). */
    const float g0[3] = {1, 2, 3};
    const float *g[1] = {g0};
    const int32_t y[1] = {0};
    double v = crmti_loss_margin(g, 1, y, y, 1.0, 1, 3, 1.0, NULL);
    ck_assert_double_eq_tol(v, log(exp(1.0) + exp(2.0)), 1e-6);
    /* CE of logits (0, 0) is log 2. */
    const float z[2] = {0, 0};
    const int32_t y1[1] = {1};
    ck_assert_double_eq_tol(crmti_loss_ce(z, y1, y1, 1.0, 1, 2, NULL), log(2.0), 1e-7);
}
END_TEST

/* ---- the whole model: encoders, head, losses, input gradients ---- */

typedef struct {
    crmt_model *model;
    crmti_ws *ws;
    float *x[2];
    int32_t ya[3], yb[3];
    double lam, rho;
} model_case;

static double model_objective(model_case *c, float *dparams, float *const *dinputs)
{
    const int B = 3, K = c->model->n_classes;
    crmti_forward(c->model, c->ws, (const float *const *)c->x, B);
    double loss = crmti_loss_ce(c->ws->logits, c->ya, c->yb, c->lam, B, K,
                                dparams || dinputs ? c->ws->dlogits : NULL);
    if (c->model->spec.head == CRMT_HEAD_CRMT) {
        loss += crmti_loss_margin((const float *const *)c->ws->g, c->model->n_mod, c->ya, c->yb,
                                  c->lam, B, K, c->rho,
                                  dparams || dinputs ? c->ws->dg : NULL);
        c->ws->dg_active = 1;
    }
    if (dparams || dinputs)
        crmti_backward(c->model, c->ws, (const float *const *)c->x, B, dparams, dinputs);
    c->ws->dg_active = 0;
    return loss;
}

static double model_value(void *ctx) { return model_objective(ctx, NULL, NULL); }

static void param_grads(void *ctx, float *out) { model_objective(ctx, out, NULL); }

static void check_model(int head, int norm, double lam)
{
    crmt_spec *spec;
    int m0, m1;
    ck_assert_int_eq(crmt_spec_create(&spec, 4), CRMT_OK);
    ck_assert_int_eq(crmt_spec_add_modality(spec, "a", 5, &m0), CRMT_OK);
    ck_assert_int_eq(crmt_spec_add_modality(spec, "b", 3, &m1), CRMT_OK);
    ck_assert_int_eq(crmt_spec_add_linear(spec, m0, 6), CRMT_OK);
    ck_assert_int_eq(crmt_spec_add_relu(spec, m0), CRMT_OK);
    ck_assert_int_eq(crmt_spec_add_linear(spec, m0, 5), CRMT_OK);
    ck_assert_int_eq(crmt_spec_add_linear(spec, m1, 4), CRMT_OK);
    ck_assert_int_eq(crmt_spec_add_relu(spec, m1), CRMT_OK);
    ck_assert_int_eq(crmt_spec_set(spec, CRMT_SPEC_HEAD, head), CRMT_OK);
    ck_assert_int_eq(crmt_spec_set(spec, CRMT_SPEC_HEAD_NORM, norm), CRMT_OK);
    ck_assert_int_eq(crmt_spec_set(spec, CRMT_SPEC_INTEGRATION_INIT, 0.7), CRMT_OK);
    model_case c;
    memset(&c, 0, sizeof c);
    ck_assert_int_eq(crmt_model_create(&c.model, spec, 5), CRMT_OK);
    crmt_spec_destroy(spec);
    crmti_rng rng;
    crmti_rng_seed(&rng, 99);
    /* spread the integration weights and bias so that their gradients differ */
    if (head == CRMT_HEAD_CRMT)
        crmt_test_fill_uniform(c.model->params + c.model->head_a_offset, 8, &rng, 1.0);
    crmt_test_fill_uniform(c.model->params + c.model->head_b_offset, 4, &rng, 0.5);
    c.ws = crmti_ws_create(c.model, 3);
    c.x[0] = malloc(sizeof(float) * 15);
    c.x[1] = malloc(sizeof(float) * 9);
    crmt_test_fill_uniform(c.x[0], 15, &rng, 1.0);
    crmt_test_fill_uniform(c.x[1], 9, &rng, 1.0);
    const int32_t ya[3] = {0, 2, 3}, yb[3] = {1, 2, 0};
    memcpy(c.ya, ya, sizeof ya);
    memcpy(c.yb, lam < 1.0 ? yb : ya, sizeof yb);
    c.lam = lam;
    c.rho = 1.5;
    const size_t np = c.model->n_params;
    float *dp = calloc(np, sizeof(float));
    float dx0[15], dx1[9];
    float *dx[2] = {dx0, dx1};
    model_objective(&c, dp, dx);
    /* the backward pass overwrites every gradient slot: stale NaNs leave no trace */
    ck_assert(crmt_test_overwrites_all(np, param_grads, &c));
    double numeric = 0.0;
    size_t bad = crmt_test_gradient_mismatch(c.model->params, dp, np, 2e-2, model_value, &c,
                                             &numeric);
    ck_assert_msg(bad == np, "head %d norm %d lam %g param %zu/%zu: analytic %g numeric %g", head,
                  norm, lam, bad, np, bad < np ? (double)dp[bad] : 0.0, numeric);
    for (int m = 0; m < 2; m++) {
        const size_t n = m ? 9 : 15;
        bad = crmt_test_gradient_mismatch(c.x[m], dx[m], n, 2e-2, model_value, &c, &numeric);
        ck_assert_msg(bad == n, "head %d norm %d input %d/%zu: analytic %g numeric %g", head,
                      norm, m, bad, bad < n ? (double)dx[m][bad] : 0.0, numeric);
    }
    free(dp);
    free(c.x[0]);
    free(c.x[1]);
    crmti_ws_destroy(c.ws);
    crmt_model_destroy(c.model);
}

START_TEST(test_model_jt)
{
    check_model(CRMT_HEAD_JT, CRMT_NORM_AUTO, 1.0);
    check_model(CRMT_HEAD_JT, CRMT_NORM_AUTO, 0.35);
}
END_TEST

START_TEST(test_model_crmt_rows)
{
    check_model(CRMT_HEAD_CRMT, CRMT_NORM_ROWS, 1.0);
    check_model(CRMT_HEAD_CRMT, CRMT_NORM_ROWS, 0.35); /* CRMT-Mix loss */
}
END_TEST

START_TEST(test_model_crmt_orthonormal)
{
    check_model(CRMT_HEAD_CRMT, CRMT_NORM_ORTHONORMAL, 1.0);
    check_model(CRMT_HEAD_CRMT, CRMT_NORM_ORTHONORMAL, 0.35);
}
END_TEST

static Suite *gradcheck_suite(void)
{
    Suite *s = suite_create("gradcheck");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_linear_layer);
    tcase_add_test(tc, test_relu_layer);
    tcase_add_test(tc, test_head_norm_rows);
    tcase_add_test(tc, test_head_norm_orthonormal);
    tcase_add_test(tc, test_losses);
    tcase_add_test(tc, test_margin_loss_closed_form);
    tcase_add_test(tc, test_model_jt);
    tcase_add_test(tc, test_model_crmt_rows);
    tcase_add_test(tc, test_model_crmt_orthonormal);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(gradcheck_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
