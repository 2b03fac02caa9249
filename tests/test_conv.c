/* Convolutional encoders (docs/conv.md): conv2d, average and max pooling, flatten.
 *  - finite-difference checks of every layer (parameters and inputs; strides 1 and 2,
 *    paddings 0, 1, 2, 1 and 3 channels, kernels 1, 3, 5, non-square images, overlapping
 *    and non-overlapping pools), the im2col path against direct loops (several im2col
 *    groups), and whole models with conv encoders;
 *  - spec-time shape validation and its messages;
 *  - sound bounds: every method >= a 500-step power iteration on the explicit operator
 *    (built here from an independent double-precision implementation), pooling constants
 *    (tight on the worst case), and sound tau >= observed input-gradient norms, on random
 *    and trained layers;
 *  - a two-modality conv model on the digits (rows 0-1 as a 1x2x8 image, rows 2-7 as 1x6x8)
 *    trained by crmt_train, and the certifier's soundness under PGD (100 steps, 5 random
 *    restarts, 0.999 x the certified radius, joint and per modality);
 *  - save/load: bit-identical round trip, format version 2, corrupted records. */
#include <check.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "crmt/crmt.h"
#include "data/dataset.h"
#include "digits_fixture.h"
#include "gradcheck.h"
#include "reference.h"
#include "soundness.h"
#include "test_models.h"
#include "model/model.h"
#include "model/serialize.h"
#include "nn/layer.h"
#include "robust/attack.h"
#include "robust/certify.h"
#include "robust/lipschitz.h"
#include "tensor/rng.h"
#include "train/loss.h"

/* ---- layer geometry (as crmti_model_build sets it) ----------------------------------- */

static crmti_layer conv_layer(int c, int h, int w, int oc, int k, int s, int p)
{
    crmti_layer l;
    memset(&l, 0, sizeof l);
    l.kind = CRMTI_LAYER_CONV2D;
    l.in_c = c;
    l.in_h = h;
    l.in_w = w;
    l.out_c = oc;
    l.out_h = (h + 2 * p - k) / s + 1;
    l.out_w = (w + 2 * p - k) / s + 1;
    l.kernel = k;
    l.stride = s;
    l.pad = p;
    l.in_size = c * h * w;
    l.out_size = oc * l.out_h * l.out_w;
    l.w_offset = 0;
    l.b_offset = (size_t)oc * c * k * k;
    l.n_params = l.b_offset + (size_t)oc;
    return l;
}

static crmti_layer pool_layer(int kind, int c, int h, int w, int k, int s)
{
    crmti_layer l;
    memset(&l, 0, sizeof l);
    l.kind = (crmti_layer_kind)kind;
    l.in_c = l.out_c = c;
    l.in_h = h;
    l.in_w = w;
    l.out_h = (h - k) / s + 1;
    l.out_w = (w - k) / s + 1;
    l.kernel = k;
    l.stride = s;
    l.in_size = c * h * w;
    l.out_size = c * l.out_h * l.out_w;
    return l;
}

/* ---- explicit operators and their norms (from the reference of tests/support) -------- */

/* Explicit matrix (out_size x in_size) of a linear layer map (bias off), column by column. */
static double *ref_matrix(const crmti_layer *l, const float *p)
{
    double *a = malloc(sizeof(double) * (size_t)l->out_size * l->in_size);
    double *e = calloc((size_t)l->in_size, sizeof(double)), *col = malloc(sizeof(double) * l->out_size);
    for (int j = 0; j < l->in_size; j++) {
        e[j] = 1.0;
        crmt_test_ref_layer_forward(l, p, 0, e, col);
        e[j] = 0.0;
        for (int i = 0; i < l->out_size; i++)
            a[(size_t)i * l->in_size + j] = col[i];
    }
    free(e);
    free(col);
    return a;
}

/* 500 steps of power iteration on A^T A in double: a lower estimate of ||A||_2. */
static double power_norm(const double *a, int rows, int cols, int iters, uint64_t seed)
{
    crmti_rng rng;
    crmti_rng_seed(&rng, seed);
    double *v = malloc(sizeof(double) * cols), *av = malloc(sizeof(double) * rows);
    double est = 0.0;
    for (int j = 0; j < cols; j++)
        v[j] = crmti_rng_normal(&rng);
    for (int it = 0; it < iters; it++) {
        double nv = 0.0;
        for (int j = 0; j < cols; j++)
            nv += v[j] * v[j];
        nv = sqrt(nv);
        for (int j = 0; j < cols; j++)
            v[j] /= nv;
        double na = 0.0;
        for (int i = 0; i < rows; i++) {
            double s = 0.0;
            for (int j = 0; j < cols; j++)
                s += a[(size_t)i * cols + j] * v[j];
            av[i] = s;
            na += s * s;
        }
        est = sqrt(na);
        for (int j = 0; j < cols; j++) {
            double s = 0.0;
            for (int i = 0; i < rows; i++)
                s += a[(size_t)i * cols + j] * av[i];
            v[j] = s;
        }
    }
    free(v);
    free(av);
    return est;
}

/* ---- single layers: L = sum(out * r) ---------------------------------------------------- */

static double objective(const crmti_layer *l, const float *p, const float *in, const float *r,
                        float *out, int batch, float *scratch)
{
    crmti_layer_forward_ws(l, p, in, out, batch, scratch);
    double s = 0.0;
    for (size_t i = 0; i < (size_t)batch * l->out_size; i++)
        s += (double)out[i] * r[i];
    return s;
}

/* Inputs of max pooling: distinct values at least 0.01 apart, so that a 1e-3 step never
 * changes a window's argmax. */
static void fill_separated(float *x, size_t n, crmti_rng *rng)
{
    for (size_t i = 0; i < n; i++)
        x[i] = (float)(0.01 * (double)i - 0.005 * (double)n);
    for (size_t i = n; i > 1; i--) {
        size_t j = (size_t)(crmti_rng_uniform(rng) * (double)i);
        if (j >= i)
            j = i - 1;
        float t = x[i - 1];
        x[i - 1] = x[j];
        x[j] = t;
    }
}

static int g_checked;

typedef struct layer_case {
    const crmti_layer *layer;
    const float *params, *in, *r;
    float *out, *scratch;
    int batch;
} layer_case;

static double layer_value(void *ctx)
{
    layer_case *c = ctx;
    return objective(c->layer, c->params, c->in, c->r, c->out, c->batch, c->scratch);
}

static void check_layer(const crmti_layer *l, int batch, uint64_t seed)
{
    crmti_rng rng;
    crmti_rng_seed(&rng, seed);
    const size_t n_in = (size_t)batch * l->in_size, n_out = (size_t)batch * l->out_size;
    const size_t np = l->n_params ? l->n_params : 1;
    const size_t ns = crmti_layer_scratch_size(l, batch);
    float *p = calloc(np, sizeof(float)), *dp = calloc(np, sizeof(float));
    float *dp2 = calloc(np, sizeof(float));
    float *in = malloc(sizeof(float) * n_in), *din = malloc(sizeof(float) * n_in);
    float *din2 = malloc(sizeof(float) * n_in);
    float *out = malloc(sizeof(float) * n_out), *out2 = malloc(sizeof(float) * n_out);
    float *r = malloc(sizeof(float) * n_out);
    float *scratch = ns ? malloc(sizeof(float) * ns) : NULL;
    crmt_test_fill_uniform(p, np, &rng, 0.5);
    if (l->kind == CRMTI_LAYER_MAXPOOL)
        fill_separated(in, n_in, &rng);
    else
        crmt_test_fill_uniform(in, n_in, &rng, 1.0);
    crmt_test_fill_uniform(r, n_out, &rng, 1.0);
    /* the im2col path equals direct loops, and an independent double reference */
    crmti_layer_forward_ws(l, p, in, out, batch, scratch);
    crmti_layer_forward_ws(l, p, in, out2, batch, NULL);
    double *xd = malloc(sizeof(double) * l->in_size), *yd = malloc(sizeof(double) * l->out_size);
    for (int b = 0; b < batch; b++) {
        for (int i = 0; i < l->in_size; i++)
            xd[i] = in[(size_t)b * l->in_size + i];
        crmt_test_ref_layer_forward(l, p, 1, xd, yd);
        for (int o = 0; o < l->out_size; o++) {
            const double v = out[(size_t)b * l->out_size + o];
            ck_assert_msg(fabs(v - yd[o]) <= 1e-5 * (1 + fabs(yd[o])),
                          "kind %d forward %d/%d: %g vs reference %g", l->kind, b, o, v, yd[o]);
            ck_assert(fabs(v - out2[(size_t)b * l->out_size + o]) <= 1e-5 * (1 + fabs(v)));
        }
    }
    free(xd);
    free(yd);
    crmti_layer_backward_ws(l, p, in, out, r, din, l->n_params ? dp : NULL, batch, scratch);
    crmti_layer_backward_ws(l, p, in, out, r, din2, l->n_params ? dp2 : NULL, batch, NULL);
    for (size_t i = 0; i < n_in; i++)
        ck_assert(fabs(din[i] - din2[i]) <= 1e-4 * (1 + fabs(din[i])));
    for (size_t i = 0; i < l->n_params; i++)
        ck_assert(fabs(dp[i] - dp2[i]) <= 1e-4 * (1 + fabs(dp[i])));
    layer_case lc = {l, p, in, r, out, scratch, batch};
    double numeric = 0.0;
    size_t bad = crmt_test_gradient_mismatch(in, din, n_in, 1e-2, layer_value, &lc, &numeric);
    ck_assert_msg(bad == n_in,
                  "kind %d (c%d %dx%d k%d s%d p%d) input grad %zu: analytic %g numeric %g",
                  l->kind, l->in_c, l->in_h, l->in_w, l->kernel, l->stride, l->pad, bad,
                  bad < n_in ? (double)din[bad] : 0.0, numeric);
    bad = crmt_test_gradient_mismatch(p, dp, l->n_params, 1e-2, layer_value, &lc, &numeric);
    ck_assert_msg(bad == l->n_params,
                  "conv (c%d %dx%d k%d s%d p%d) param grad %zu: analytic %g numeric %g", l->in_c,
                  l->in_h, l->in_w, l->kernel, l->stride, l->pad, bad,
                  bad < l->n_params ? (double)dp[bad] : 0.0, numeric);
    g_checked += (int)(n_in + l->n_params);
    free(p), free(dp), free(dp2), free(in), free(din), free(din2), free(out), free(out2);
    free(r), free(scratch);
}

/* {C, H, W, OC, k, s, p} */
static const int conv_cases[][7] = {
    {1, 5, 7, 2, 3, 1, 1}, {3, 6, 5, 2, 3, 2, 1}, {1, 7, 6, 3, 5, 1, 2}, {3, 5, 4, 2, 1, 1, 0},
    {1, 8, 9, 2, 5, 2, 2}, {3, 7, 4, 4, 3, 2, 0}, {1, 4, 4, 1, 3, 1, 0}, {3, 6, 8, 2, 5, 2, 1},
    {1, 3, 9, 2, 3, 2, 1}, {3, 9, 3, 1, 1, 2, 0}, {1, 6, 6, 2, 5, 1, 0}, {3, 4, 6, 2, 3, 1, 1},
    {3, 8, 7, 2, 2, 3, 0}, /* stride > kernel: uncovered input cells */
};

START_TEST(test_conv_gradients)
{
    g_checked = 0;
    for (size_t i = 0; i < sizeof conv_cases / sizeof conv_cases[0]; i++) {
        const int *c = conv_cases[i];
        crmti_layer l = conv_layer(c[0], c[1], c[2], c[3], c[4], c[5], c[6]);
        check_layer(&l, 1 + (int)(i % 3), 10 + i);
    }
    printf("conv2d: %zu shapes, %d finite-difference checks\n",
           sizeof conv_cases / sizeof conv_cases[0], g_checked);
}
END_TEST

/* {C, H, W, k, s}: overlapping (s < k) and not */
static const int pool_cases[][5] = {
    {2, 6, 7, 2, 2}, {2, 6, 7, 3, 1}, {3, 7, 5, 3, 2}, {1, 5, 5, 5, 1},
    {2, 4, 6, 1, 1}, {1, 8, 5, 2, 3}, {2, 5, 9, 4, 2},
};

START_TEST(test_pool_and_flatten_gradients)
{
    g_checked = 0;
    for (int kind = CRMTI_LAYER_AVGPOOL; kind <= CRMTI_LAYER_MAXPOOL; kind++)
        for (size_t i = 0; i < sizeof pool_cases / sizeof pool_cases[0]; i++) {
            const int *c = pool_cases[i];
            crmti_layer l = pool_layer(kind, c[0], c[1], c[2], c[3], c[4]);
            check_layer(&l, 1 + (int)(i % 3), 40 + i + 100 * kind);
        }
    crmti_layer f;
    memset(&f, 0, sizeof f);
    f.kind = CRMTI_LAYER_FLATTEN;
    f.in_c = 3;
    f.in_h = 2;
    f.in_w = 4;
    f.out_c = 24;
    f.out_h = f.out_w = 1;
    f.in_size = f.out_size = 24;
    check_layer(&f, 2, 77);
    printf("pooling and flatten: %d finite-difference checks\n", g_checked);
}
END_TEST

/* Several im2col groups (CRMTI_CONV_GROUP_FLOATS) give the same values as direct loops. */
START_TEST(test_im2col_groups)
{
    crmti_layer l = conv_layer(3, 16, 16, 8, 5, 1, 2);
    const int batch = 37;
    const int g = (int)(crmti_layer_scratch_size(&l, batch) /
                        ((size_t)(75 + 8) * l.out_h * l.out_w));
    ck_assert_msg(g > 1 && g < batch, "group %d: the test wants several groups", g);
    crmti_rng rng;
    crmti_rng_seed(&rng, 5);
    const size_t n_in = (size_t)batch * l.in_size, n_out = (size_t)batch * l.out_size;
    float *p = malloc(sizeof(float) * l.n_params), *in = malloc(sizeof(float) * n_in);
    float *a = malloc(sizeof(float) * n_out), *b = malloc(sizeof(float) * n_out);
    float *da = malloc(sizeof(float) * n_in), *db = malloc(sizeof(float) * n_in);
    float *pa = calloc(l.n_params, sizeof(float)), *pb = calloc(l.n_params, sizeof(float));
    float *s = malloc(sizeof(float) * crmti_layer_scratch_size(&l, batch));
    crmt_test_fill_uniform(p, l.n_params, &rng, 0.3);
    crmt_test_fill_uniform(in, n_in, &rng, 1.0);
    crmti_layer_forward_ws(&l, p, in, a, batch, s);
    crmti_layer_forward(&l, p, in, b, batch);
    for (size_t i = 0; i < n_out; i++)
        ck_assert(fabs(a[i] - b[i]) <= 1e-5 * (1 + fabs(b[i])));
    crmti_layer_backward_ws(&l, p, in, a, a, da, pa, batch, s);
    crmti_layer_backward(&l, p, in, b, b, db, pb, batch);
    for (size_t i = 0; i < n_in; i++)
        ck_assert(fabs(da[i] - db[i]) <= 1e-4 * (1 + fabs(db[i])));
    for (size_t i = 0; i < l.n_params; i++)
        ck_assert_msg(fabs(pa[i] - pb[i]) <= 1e-4 * (1 + fabs(pb[i])), "param %zu: %g vs %g", i,
                      (double)pa[i], (double)pb[i]);
    /* dparams only (no input gradient), as for the first layer of an encoder */
    memset(pa, 0, sizeof(float) * l.n_params);
    crmti_layer_backward_ws(&l, p, in, a, a, NULL, pa, batch, s);
    for (size_t i = 0; i < l.n_params; i++)
        ck_assert(fabs(pa[i] - pb[i]) <= 1e-4 * (1 + fabs(pb[i])));
    free(p), free(in), free(a), free(b), free(da), free(db), free(pa), free(pb), free(s);
}
END_TEST

/* ---- models -------------------------------------------------------------------------- */

typedef struct mcase {
    crmt_model *model;
    crmti_ws *ws;
    float *x[2];
    int32_t y[3];
    int batch;
} mcase;

static double model_objective(mcase *c, float *dparams, float *const *dinputs)
{
    const int B = c->batch, K = c->model->n_classes;
    crmti_forward(c->model, c->ws, (const float *const *)c->x, B);
    const int grad = dparams || dinputs;
    double loss = crmti_loss_ce(c->ws->logits, c->y, c->y, 1.0, B, K, grad ? c->ws->dlogits : NULL);
    if (c->model->spec.head == CRMT_HEAD_CRMT) {
        loss += crmti_loss_margin((const float *const *)c->ws->g, c->model->n_mod, c->y, c->y,
                                  1.0, B, K, 1.5, grad ? c->ws->dg : NULL);
        c->ws->dg_active = 1;
    }
    if (grad)
        crmti_backward(c->model, c->ws, (const float *const *)c->x, B, dparams, dinputs);
    c->ws->dg_active = 0;
    return loss;
}

static double model_value(void *ctx) { return model_objective(ctx, NULL, NULL); }

static void param_grads(void *ctx, float *out) { model_objective(ctx, out, NULL); }

/* modality 0: 1x5x6 image -> conv(3, k3, s1, p1) -> relu -> maxpool(2, 1) -> flatten ->
 * linear(4); modality 1: 2x4x5 image -> conv(2, k3, s2, p1) -> avgpool(2, 1) -> linear(5) */
static crmt_model *small_conv_model(int head, uint64_t seed)
{
    crmt_spec *spec;
    int m0, m1;
    ck_assert_int_eq(crmt_spec_create(&spec, 3), CRMT_OK);
    ck_assert_int_eq(crmt_spec_add_modality_image(spec, "img", 1, 5, 6, &m0), CRMT_OK);
    ck_assert_int_eq(crmt_spec_add_modality_image(spec, "two", 2, 4, 5, &m1), CRMT_OK);
    ck_assert_int_eq(crmt_spec_add_conv2d(spec, m0, 3, 3, 1, 1), CRMT_OK);
    ck_assert_int_eq(crmt_spec_add_relu(spec, m0), CRMT_OK);
    ck_assert_int_eq(crmt_spec_add_maxpool(spec, m0, 2, 1), CRMT_OK);
    ck_assert_int_eq(crmt_spec_add_flatten(spec, m0), CRMT_OK);
    ck_assert_int_eq(crmt_spec_add_linear(spec, m0, 4), CRMT_OK);
    ck_assert_int_eq(crmt_spec_add_conv2d(spec, m1, 2, 3, 2, 1), CRMT_OK);
    ck_assert_int_eq(crmt_spec_add_avgpool(spec, m1, 2, 1), CRMT_OK);
    ck_assert_int_eq(crmt_spec_add_linear(spec, m1, 5), CRMT_OK);
    ck_assert_int_eq(crmt_spec_set(spec, CRMT_SPEC_HEAD, head), CRMT_OK);
    crmt_model *model = NULL;
    ck_assert_int_eq(crmt_model_create(&model, spec, seed), CRMT_OK);
    crmt_spec_destroy(spec);
    return model;
}

START_TEST(test_model_gradients)
{
    for (int head = 0; head < 2; head++) {
        mcase c;
        memset(&c, 0, sizeof c);
        c.model = small_conv_model(head, 3 + head);
        c.batch = 3;
        ck_assert_int_eq(crmt_model_input_dim(c.model, 0), 30);
        ck_assert_int_eq(crmt_model_input_dim(c.model, 1), 40);
        ck_assert_int_eq(crmt_model_feature_dim(c.model, 0), 4);
        ck_assert_int_eq(crmt_model_feature_dim(c.model, 1), 5);
        /* conv 3x1x3x3+3, linear 4x(3*4*5)+4 (maxpool 2/1 of 5x6 is 4x5), head 3x4;
         * conv 2x2x3x3+2 (out 2x2x3), avgpool -> 2x1x2, linear 5x4+5, head 3x5; b 3 */
        size_t expect = (27 + 3) + (4 * 60 + 4) + 12 + (36 + 2) + (20 + 5) + 15 + 3;
        if (head == CRMT_HEAD_CRMT)
            expect += 6;
        ck_assert_uint_eq(crmt_model_num_parameters(c.model), expect);
        crmti_rng rng;
        crmti_rng_seed(&rng, 9);
        if (head == CRMT_HEAD_CRMT)
            crmt_test_fill_uniform(c.model->params + c.model->head_a_offset, 6, &rng, 1.0);
        crmt_test_fill_uniform(c.model->params + c.model->head_b_offset, 3, &rng, 0.5);
        c.ws = crmti_ws_create(c.model, 3);
        c.x[0] = malloc(sizeof(float) * 90);
        c.x[1] = malloc(sizeof(float) * 120);
        fill_separated(c.x[0], 90, &rng); /* keeps max-pool argmaxes stable */
        crmt_test_fill_uniform(c.x[1], 120, &rng, 1.0);
        c.y[0] = 0, c.y[1] = 2, c.y[2] = 1;
        const size_t np = c.model->n_params;
        float *dp = calloc(np, sizeof(float)), dx0[90], dx1[120];
        float *dx[2] = {dx0, dx1};
        model_objective(&c, dp, dx);
        /* the backward pass overwrites every gradient slot (conv layers included) */
        ck_assert(crmt_test_overwrites_all(np, param_grads, &c));
        double numeric = 0.0;
        size_t bad = crmt_test_gradient_mismatch(c.model->params, dp, np, 2e-2, model_value, &c,
                                                 &numeric);
        ck_assert_msg(bad == np, "head %d param %zu/%zu: analytic %g numeric %g", head, bad, np,
                      bad < np ? (double)dp[bad] : 0.0, numeric);
        for (int m = 0; m < 2; m++) {
            const size_t n = m ? 120 : 90;
            bad = crmt_test_gradient_mismatch(c.x[m], dx[m], n, 2e-2, model_value, &c, &numeric);
            ck_assert_msg(bad == n, "head %d input %d/%zu: analytic %g numeric %g", head, m, bad,
                          bad < n ? (double)dx[m][bad] : 0.0, numeric);
        }
        /* PyTorch's default initialisation: |w| <= 1 / sqrt(fan_in) */
        const crmti_layer *cv = &c.model->enc[1].layers[0];
        for (size_t i = 0; i < cv->n_params; i++)
            ck_assert(fabsf(c.model->params[cv->w_offset + i]) <= 1.0f / sqrtf(18.0f));
        free(dp);
        free(c.x[0]);
        free(c.x[1]);
        crmti_ws_destroy(c.ws);
        crmt_model_destroy(c.model);
    }
}
END_TEST

/* ---- spec validation ----------------------------------------------------------------- */

#define EXPECT_BAD(call, fragment)                                                            \
    do {                                                                                      \
        ck_assert_int_eq((call), CRMT_ERR_INVALID_ARGUMENT);                                  \
        ck_assert_msg(strstr(crmt_last_error(), fragment) != NULL, "message '%s' lacks '%s'", \
                      crmt_last_error(), fragment);                                           \
    } while (0)

START_TEST(test_spec_validation)
{
    crmt_spec *spec;
    int vec, img;
    ck_assert_int_eq(crmt_spec_create(&spec, 4), CRMT_OK);
    ck_assert_int_eq(crmt_spec_add_modality(spec, "v", 12, &vec), CRMT_OK);
    ck_assert_int_eq(crmt_spec_add_modality_image(spec, "i", 2, 7, 5, &img), CRMT_OK);
    EXPECT_BAD(crmt_spec_add_modality_image(spec, "z", 0, 3, 3, NULL), "must be >= 1");
    EXPECT_BAD(crmt_spec_add_modality_image(spec, "z", 3, -1, 3, NULL), "must be >= 1");
    EXPECT_BAD(crmt_spec_add_modality_image(spec, "z", 4096, 4096, 4096, NULL), "more than");
    EXPECT_BAD(crmt_spec_add_modality_image(NULL, "z", 1, 1, 1, NULL), "NULL");
    EXPECT_BAD(crmt_spec_add_conv2d(spec, vec, 4, 3, 1, 1), "image-shaped");
    EXPECT_BAD(crmt_spec_add_avgpool(spec, vec, 2, 2), "image-shaped");
    EXPECT_BAD(crmt_spec_add_flatten(spec, vec), "image-shaped");
    EXPECT_BAD(crmt_spec_add_conv2d(spec, 5, 4, 3, 1, 1), "does not exist");
    EXPECT_BAD(crmt_spec_add_conv2d(NULL, img, 4, 3, 1, 1), "NULL");
    EXPECT_BAD(crmt_spec_add_conv2d(spec, img, 0, 3, 1, 1), "out_channels");
    EXPECT_BAD(crmt_spec_add_conv2d(spec, img, 4, 0, 1, 1), "kernel");
    EXPECT_BAD(crmt_spec_add_conv2d(spec, img, 4, 3, 0, 1), "stride");
    EXPECT_BAD(crmt_spec_add_conv2d(spec, img, 4, 3, 1, 2), "padding");
    EXPECT_BAD(crmt_spec_add_conv2d(spec, img, 4, 3, 1, -1), "padding");
    EXPECT_BAD(crmt_spec_add_conv2d(spec, img, 4, 8, 1, 0), "larger than its input");
    EXPECT_BAD(crmt_spec_add_maxpool(spec, img, 6, 1), "larger than its input");
    EXPECT_BAD(crmt_spec_add_maxpool(spec, img, 2, 0), "stride");
    /* nothing was appended by the failures */
    ck_assert_int_eq(spec->mod[img].n_layers, 0);
    /* 2x7x5 -> conv(4, k5, s1, p2) -> 4x7x5 -> maxpool(3, 2) -> 4x3x2 -> linear */
    ck_assert_int_eq(crmt_spec_add_conv2d(spec, img, 4, 5, 1, 2), CRMT_OK);
    ck_assert_int_eq(crmt_spec_add_relu(spec, img), CRMT_OK);
    ck_assert_int_eq(crmt_spec_add_maxpool(spec, img, 3, 2), CRMT_OK);
    EXPECT_BAD(crmt_spec_add_conv2d(spec, img, 4, 3, 1, 0), "larger than its input");
    ck_assert_int_eq(crmt_spec_add_linear(spec, img, 6), CRMT_OK);
    EXPECT_BAD(crmt_spec_add_conv2d(spec, img, 4, 1, 1, 0), "image-shaped");
    EXPECT_BAD(crmt_spec_add_flatten(spec, img), "image-shaped");
    crmt_model *model = NULL;
    ck_assert_int_eq(crmt_model_create(&model, spec, 1), CRMT_OK);
    ck_assert_int_eq(crmt_model_input_dim(model, img), 70);
    ck_assert_int_eq(crmt_model_feature_dim(model, img), 6);
    const crmti_layer *pool = &model->enc[img].layers[2];
    ck_assert_int_eq(pool->out_c, 4);
    ck_assert_int_eq(pool->out_h, 3);
    ck_assert_int_eq(pool->out_w, 2);
    ck_assert_int_eq(model->enc[img].layers[3].in_size, 24);
    crmt_model_destroy(model);
    /* a corrupted spec (as a loader could build) is caught by model creation */
    spec->mod[img].layers[0].pad = 3;
    EXPECT_BAD(crmt_model_create(&model, spec, 1), "padding");
    ck_assert_ptr_null(model);
    spec->mod[img].layers[0].pad = 2;
    spec->mod[img].height = 8;
    EXPECT_BAD(crmt_model_create(&model, spec, 1), "does not match");
    crmt_spec_destroy(spec);
    /* flatten first, then linear; an image without layers feeds the head directly */
    ck_assert_int_eq(crmt_spec_create(&spec, 3), CRMT_OK);
    ck_assert_int_eq(crmt_spec_add_modality_image(spec, NULL, 3, 2, 2, &img), CRMT_OK);
    ck_assert_int_eq(crmt_spec_add_modality_image(spec, NULL, 1, 4, 4, NULL), CRMT_OK);
    ck_assert_int_eq(crmt_spec_add_flatten(spec, img), CRMT_OK);
    ck_assert_int_eq(crmt_spec_add_linear(spec, img, 5), CRMT_OK);
    ck_assert_int_eq(crmt_model_create(&model, spec, 1), CRMT_OK);
    ck_assert_int_eq(crmt_model_feature_dim(model, 0), 5);
    ck_assert_int_eq(crmt_model_feature_dim(model, 1), 16);
    crmt_model_destroy(model);
    crmt_spec_destroy(spec);
}
END_TEST

/* ---- bounds -------------------------------------------------------------------------- */

static double ratio_max[4];

/* Every method's bound of one conv layer >= the power-iteration estimate (and >= the exact
 * norm, which the explicit bound matches within 1e-4, when the Gram matrix is small). */
static void check_conv_bounds(const crmti_layer *l, const float *w_params, uint64_t seed)
{
    double *a = ref_matrix(l, w_params);
    const double est = power_norm(a, l->out_size, l->in_size, 500, seed);
    const int side = l->out_size < l->in_size ? l->out_size : l->in_size;
    const double exact =
        side <= 200 ? crmt_test_exact_spectral_norm(a, l->out_size, l->in_size) : 0.0;
    free(a);
    ck_assert(exact == 0.0 || exact >= est * (1 - 1e-12));
    for (int method = 0; method < 4; method++) {
        double b = 0.0;
        crmt_status st = crmti_conv_norm_bound(l, w_params + l->w_offset, method, &b);
        if (method == CRMTI_CONV_BOUND_EXPLICIT && st == CRMT_ERR_UNSUPPORTED)
            continue;
        ck_assert_int_eq(st, CRMT_OK);
        ck_assert_msg(b >= est && b >= exact,
                      "method %d (c%d %dx%d oc%d k%d s%d p%d): bound %.12g < power iteration "
                      "%.12g or exact %.12g",
                      method, l->in_c, l->in_h, l->in_w, l->out_c, l->kernel, l->stride, l->pad,
                      b, est, exact);
        const double ref = exact > 0.0 ? exact : est;
        if (b / ref > ratio_max[method])
            ratio_max[method] = b / ref;
        if (method == CRMTI_CONV_BOUND_EXPLICIT && exact > 0.0)
            ck_assert_msg(b <= exact * (1 + 1e-4), "explicit bound %.12g, exact %.12g", b, exact);
    }
}

START_TEST(test_conv_bounds_random)
{
    crmti_rng rng;
    crmti_rng_seed(&rng, 21);
    memset(ratio_max, 0, sizeof ratio_max);
    int n = 0;
    for (size_t i = 0; i < sizeof conv_cases / sizeof conv_cases[0]; i++)
        for (int rep = 0; rep < 2; rep++) {
            const int *c = conv_cases[i];
            crmti_layer l = conv_layer(c[0], c[1], c[2], c[3], c[4], c[5], c[6]);
            float *p = malloc(sizeof(float) * l.n_params);
            crmt_test_fill_uniform(p, l.n_params, &rng, 1.0);
            if (rep == 1) /* all-positive kernels: the largest singular vector is smooth */
                for (size_t j = 0; j < l.n_params; j++)
                    p[j] = fabsf(p[j]);
            check_conv_bounds(&l, p, 100 + i);
            n++;
            free(p);
        }
    /* the bench shapes (scaled down): 1 -> 16 k5 s1 p2 and 16 -> 32 k3 s2 p1 */
    crmti_layer big[2] = {conv_layer(1, 14, 14, 16, 5, 1, 2), conv_layer(16, 8, 8, 32, 3, 2, 1)};
    for (int i = 0; i < 2; i++) {
        float *p = malloc(sizeof(float) * big[i].n_params);
        crmt_test_fill_uniform(p, big[i].n_params, &rng, 1.0 / sqrt(big[i].in_c * 9.0));
        check_conv_bounds(&big[i], p, 7 + i);
        n++;
        free(p);
    }
    printf("conv bounds: %d layers; worst bound / exact norm (power iteration when large): auto %.6f, explicit "
           "%.6f, fourier %.4f, sqrt(norm1 norminf) %.3f\n",
           n, ratio_max[0], ratio_max[1], ratio_max[2], ratio_max[3]);
}
END_TEST

/* Layers above the explicit limits (the benchmark shapes): the AUTO bound (Fourier and
 * sqrt(||A||_1 ||A||_inf)) >= a matrix-free power iteration with the layer's own float
 * forward (A) and input gradient (A^T), 500 steps. */
START_TEST(test_conv_bounds_large)
{
    crmti_rng rng;
    crmti_rng_seed(&rng, 12);
    crmti_layer ls[2] = {conv_layer(1, 28, 28, 16, 5, 1, 2), conv_layer(16, 28, 28, 32, 3, 2, 1)};
    for (int i = 0; i < 2; i++) {
        crmti_layer *l = &ls[i];
        ck_assert_int_eq(crmti_conv_norm_bound(l, NULL, CRMTI_CONV_BOUND_EXPLICIT, &(double){0}),
                         CRMT_ERR_UNSUPPORTED);
        float *p = calloc(l->n_params, sizeof(float)); /* biases stay 0: A x exactly */
        crmt_test_fill_uniform(p, l->n_params - (size_t)l->out_c, &rng, 1.0 / sqrt(l->in_c * 9.0));
        float *v = malloc(sizeof(float) * l->in_size), *av = malloc(sizeof(float) * l->out_size);
        float *s = malloc(sizeof(float) * crmti_layer_scratch_size(l, 1));
        for (int j = 0; j < l->in_size; j++)
            v[j] = (float)crmti_rng_normal(&rng);
        double est = 0.0;
        for (int it = 0; it < 500; it++) {
            double nv = 0.0;
            for (int j = 0; j < l->in_size; j++)
                nv += (double)v[j] * v[j];
            for (int j = 0; j < l->in_size; j++)
                v[j] = (float)(v[j] / sqrt(nv));
            crmti_layer_forward_ws(l, p, v, av, 1, s);
            double na = 0.0;
            for (int j = 0; j < l->out_size; j++)
                na += (double)av[j] * av[j];
            est = sqrt(na);
            crmti_layer_backward_ws(l, p, v, av, av, v, NULL, 1, s);
        }
        double b = 0.0, f = 0.0, n1 = 0.0;
        ck_assert_int_eq(crmti_conv_norm_bound(l, p, CRMTI_CONV_BOUND_AUTO, &b), CRMT_OK);
        ck_assert_int_eq(crmti_conv_norm_bound(l, p, CRMTI_CONV_BOUND_FOURIER, &f), CRMT_OK);
        ck_assert_int_eq(crmti_conv_norm_bound(l, p, CRMTI_CONV_BOUND_NORM1INF, &n1), CRMT_OK);
        ck_assert(b == (f < n1 ? f : n1));
        /* float power iteration: allow its own rounding (1e-5) */
        ck_assert_msg(b >= est * (1 - 1e-5), "bound %.9g < estimate %.9g", b, est);
        printf("conv %dx%dx%d -> %d k%d s%d p%d: power iteration %.6f, fourier %.6f (x%.4f), "
               "sqrt(norm1 norminf) %.6f (x%.3f)\n",
               l->in_c, l->in_h, l->in_w, l->out_c, l->kernel, l->stride, l->pad, est, f, f / est,
               n1, n1 / est);
        free(p);
        free(v);
        free(av);
        free(s);
    }
}
END_TEST

/* Wide layers: AUTO skips the Fourier bound above CRMTI_CONV_FOURIER_MAX_FLOPS and returns
 * the norm-1/inf bound (sound, loose) at once. */
START_TEST(test_conv_bounds_wide)
{
    crmti_layer l = conv_layer(256, 16, 16, 256, 3, 1, 1);
    float *p = malloc(sizeof(float) * l.n_params);
    crmti_rng rng;
    crmti_rng_seed(&rng, 2);
    crmt_test_fill_uniform(p, l.n_params, &rng, 0.02);
    double a = 0.0, n1 = 0.0;
    ck_assert_int_eq(crmti_conv_norm_bound(&l, p, CRMTI_CONV_BOUND_AUTO, &a), CRMT_OK);
    ck_assert_int_eq(crmti_conv_norm_bound(&l, p, CRMTI_CONV_BOUND_NORM1INF, &n1), CRMT_OK);
    ck_assert(a == n1 && a > 0.0);
    free(p);
}
END_TEST

START_TEST(test_pool_bounds)
{
    crmti_rng rng;
    crmti_rng_seed(&rng, 4);
    for (int kind = CRMTI_LAYER_AVGPOOL; kind <= CRMTI_LAYER_MAXPOOL; kind++)
        for (size_t i = 0; i < sizeof pool_cases / sizeof pool_cases[0]; i++) {
            const int *c = pool_cases[i];
            crmti_layer l = pool_layer(kind, c[0], c[1], c[2], c[3], c[4]);
            double b = 0.0;
            ck_assert_int_eq(crmti_layer_lipschitz_bound(&l, NULL, &b), CRMT_OK);
            const int cov = crmti_layer_max_cover(&l);
            const int k = c[3], s = c[4];
            const int per_dim = (k + s - 1) / s; /* windows over one cell, away from borders */
            ck_assert_int_le(cov, per_dim * per_dim);
            if (s >= k)
                ck_assert_int_eq(cov, 1);
            if (kind == CRMTI_LAYER_AVGPOOL) {
                double *a = ref_matrix(&l, NULL);
                const double est = power_norm(a, l.out_size, l.in_size, 500, 3 + i);
                free(a);
                ck_assert_msg(b >= est, "avgpool k%d s%d: bound %.12g < estimate %.12g", k, s, b,
                              est);
                ck_assert(b <= sqrt((double)cov) / k * (1 + 1e-5));
                if (s >= k) /* non-overlapping: exactly 1/k */
                    ck_assert(b <= (1.0 / k) * (1 + 1e-5) && est >= (1.0 / k) * (1 - 1e-9));
            } else {
                ck_assert(b >= sqrt((double)cov) && b <= sqrt((double)cov) * (1 + 1e-5));
                /* tight: a cell covered cov times that is the maximum of every window over
                 * it; raising it by t raises cov outputs by t */
                int best_r = 0, best_q = 0, best_n = -1;
                for (int r = 0; r < l.in_h; r++)
                    for (int q = 0; q < l.in_w; q++) {
                        int nr = 0, nq = 0;
                        for (int oi = 0; oi < l.out_h; oi++)
                            nr += oi * s <= r && r < oi * s + k;
                        for (int oj = 0; oj < l.out_w; oj++)
                            nq += oj * s <= q && q < oj * s + k;
                        if (nr * nq > best_n)
                            best_n = nr * nq, best_r = r, best_q = q;
                    }
                ck_assert_int_eq(best_n, cov);
                double *x = calloc((size_t)l.in_size, sizeof(double));
                double *y0 = malloc(sizeof(double) * l.out_size), *y1 = malloc(sizeof(double) * l.out_size);
                x[best_r * l.in_w + best_q] = 1.0;
                crmt_test_ref_layer_forward(&l, NULL, 0, x, y0);
                x[best_r * l.in_w + best_q] = 1.5;
                crmt_test_ref_layer_forward(&l, NULL, 0, x, y1);
                double ss = 0.0;
                for (int o = 0; o < l.out_size; o++)
                    ss += (y1[o] - y0[o]) * (y1[o] - y0[o]);
                const double ratio = sqrt(ss) / 0.5;
                ck_assert_msg(fabs(ratio - sqrt((double)cov)) < 1e-12, "ratio %g cov %d", ratio,
                              cov);
                /* random pairs never exceed the bound */
                for (int t = 0; t < 200; t++) {
                    double ds = 0.0, os = 0.0;
                    for (int j = 0; j < l.in_size; j++) {
                        x[j] = crmti_rng_normal(&rng);
                    }
                    crmt_test_ref_layer_forward(&l, NULL, 0, x, y0);
                    for (int j = 0; j < l.in_size; j++) {
                        double d = 0.3 * crmti_rng_normal(&rng);
                        x[j] += d;
                        ds += d * d;
                    }
                    crmt_test_ref_layer_forward(&l, NULL, 0, x, y1);
                    for (int o = 0; o < l.out_size; o++)
                        os += (y1[o] - y0[o]) * (y1[o] - y0[o]);
                    ck_assert(sqrt(os) <= b * sqrt(ds));
                }
                free(x);
                free(y0);
                free(y1);
            }
        }
}
END_TEST

/* ---- digits ---------------------------------------------------------------------------- */

/* The digits split, loaded by the test that trains on it. */
static crmt_test_digits digits;

/* The digits' image rows 0-1 and 2-7 (the unbalanced view) as images 1x2x8 and 1x6x8.
 * variant 0: rows0-1: conv(4,k3,s1,p1) relu maxpool(2,1) flatten linear(16);
 *            rows2-7: conv(8,k3,s1,p1) relu avgpool(2,2) flatten linear(16)
 * variant 1: rows0-1: conv(6,k3,s1,p1) relu flatten linear(16);
 *            rows2-7: conv(8,k3,s2,p1) relu conv(8,k3,s1,p1) relu maxpool(2,2) linear(24)
 *            relu linear(16) */
static crmt_model *digits_conv_model(crmt_head_kind head, int variant, uint64_t seed)
{
    static const char *const layers[2][2] = {
        {"c4/3/1/1 r m2/1 f l16", "c8/3/1/1 r a2/2 f l16"},
        {"c6/3/1/1 r f l16", "c8/3/2/1 r c8/3/1/1 r m2/2 l24 r l16"}};
    return crmt_test_digits_image_model(layers[variant], head, seed);
}

/* Sound constants >= empirical ones (largest input-gradient norms over the data), and each
 * conv layer's bound >= the power iteration on its explicit matrix. */
static void check_model_bounds(const crmt_model *model, const float *const *x, size_t n,
                               const char *name)
{
    crmti_lipschitz snd, emp;
    ck_assert_int_eq(crmti_lipschitz_sound(&snd, model), CRMT_OK);
    ck_assert_int_eq(crmti_lipschitz_empirical(&emp, model, x, n), CRMT_OK);
    double tight = INFINITY;
    for (int m = 0; m < model->n_mod; m++)
        for (int k = 0; k < model->n_classes; k++) {
            ck_assert_msg(emp.tau[m][k] <= snd.tau[m][k], "%s tau %d,%d: empirical %.9g > sound %.9g",
                          name, m, k, emp.tau[m][k], snd.tau[m][k]);
            if (snd.tau[m][k] / emp.tau[m][k] < tight)
                tight = snd.tau[m][k] / emp.tau[m][k];
        }
    for (int m = 0; m < model->n_mod; m++)
        for (int l = 0; l < model->enc[m].n_layers; l++)
            if (model->enc[m].layers[l].kind == CRMTI_LAYER_CONV2D)
                check_conv_bounds(&model->enc[m].layers[l], model->params, 17 + l);
    printf("  %s: sound tau / empirical tau >= %.3f\n", name, tight);
    crmti_lipschitz_release(&snd);
    crmti_lipschitz_release(&emp);
}

START_TEST(test_digits_train_bounds_and_soundness)
{
    crmt_test_digits_load(&digits);
    crmt_test_attack_tally t;
    memset(&t, 0, sizeof t);
    /* the MLPs of test_certify reach about 0.94 (JT) and 0.92 (CRMT) on this split; these
     * conv encoders 0.93-0.96 (JT) and 0.90-0.94 (CRMT) over seeds 1-4 (20 epochs, cosine) */
    const struct {
        crmt_head_kind head;
        int variant;
        uint64_t seed;
    } runs[4] = {{CRMT_HEAD_JT, 0, 1}, {CRMT_HEAD_CRMT, 0, 2}, {CRMT_HEAD_JT, 1, 3},
                 {CRMT_HEAD_CRMT, 1, 4}};
    const float *train_x[2] = {crmt_dataset_data(digits.train, 0),
                               crmt_dataset_data(digits.train, 1)};
    memset(ratio_max, 0, sizeof ratio_max);
    for (int r = 0; r < 4; r++) {
        crmt_model *model = digits_conv_model(runs[r].head, runs[r].variant, runs[r].seed);
        crmt_test_digits_train(model, digits.train, CRMT_SCHEDULE_COSINE, 20, runs[r].seed);
        double acc = 0.0;
        ck_assert_int_eq(crmt_model_accuracy(model, digits.test, &acc), CRMT_OK);
        char name[96];
        snprintf(name, sizeof name, "%s conv variant %d seed %d (test acc %.3f)",
                 runs[r].head == CRMT_HEAD_CRMT ? "CRMT" : "JT", runs[r].variant,
                 (int)runs[r].seed, acc);
        ck_assert_msg(acc >= 0.88, "%s: accuracy too low", name);
        check_model_bounds(model, train_x, crmt_dataset_num_samples(digits.train), name);
        crmt_test_soundness(model, digits.test, name, 25, 1.0 / 3.0, &t);
        crmt_model_destroy(model);
    }
    printf("conv soundness: %ld certified samples, %ld PGD runs (100 steps, margin loss, joint "
           "and per modality, 0.999 x radius): 0 flips (%ld float-rounding-only flips); at 2x the "
           "radius %ld of %ld samples flipped; trained conv layers: worst bound/estimate auto "
           "%.6f fourier %.4f\n",
           t.samples, t.attacks, t.float_flips, t.flips_at_2r, t.tried_at_2r, ratio_max[0],
           ratio_max[2]);
    ck_assert_int_eq(t.float_flips, 0);
    ck_assert_int_ge(t.samples, 90);
    crmt_test_digits_free(&digits);
}
END_TEST

/* Random (untrained) conv models: sound tau >= empirical tau at random inputs. */
START_TEST(test_random_model_bounds)
{
    crmti_rng rng;
    crmti_rng_seed(&rng, 8);
    for (int variant = 0; variant < 2; variant++)
        for (int head = 0; head < 2; head++) {
            crmt_model *model = digits_conv_model((crmt_head_kind)head, variant, 30 + head);
            const size_t n = 300;
            float *x[2] = {malloc(sizeof(float) * n * 16), malloc(sizeof(float) * n * 48)};
            crmt_test_fill_uniform(x[0], n * 16, &rng, 2.0);
            crmt_test_fill_uniform(x[1], n * 48, &rng, 2.0);
            char name[64];
            snprintf(name, sizeof name, "random variant %d head %d", variant, head);
            check_model_bounds(model, (const float *const *)x, n, name);
            free(x[0]);
            free(x[1]);
            crmt_model_destroy(model);
        }
}
END_TEST

/* ---- save / load ------------------------------------------------------------------------ */

static unsigned char *save_buf(const crmt_model *m, size_t *size)
{
    ck_assert_int_eq(crmt_model_save_buffer(m, NULL, 0, size), CRMT_OK);
    unsigned char *b = malloc(*size);
    size_t got = 0;
    ck_assert_int_eq(crmt_model_save_buffer(m, b, *size, &got), CRMT_OK);
    ck_assert_uint_eq(got, *size);
    return b;
}

static uint32_t rd32(const unsigned char *b)
{
    return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
}

static void wr32(unsigned char *b, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        b[i] = (unsigned char)(v >> (8 * i));
}

static void fix_crc(unsigned char *b, size_t size)
{
    wr32(b + size - 4, crmti_crc32(0, b, size - 4));
}

START_TEST(test_save_load_round_trip)
{
    for (int variant = 0; variant < 2; variant++)
        for (int head = 0; head < 2; head++) {
            crmt_model *a = digits_conv_model((crmt_head_kind)head, variant, 50 + variant);
            crmti_rng rng;
            crmti_rng_seed(&rng, 3);
            crmt_test_fill_uniform(a->params, a->n_params, &rng, 0.7); /* not just the initialisation */
            size_t size;
            unsigned char *buf = save_buf(a, &size);
            ck_assert_uint_eq(rd32(buf + CRMTI_OFF_VERSION), 2);
            /* modality 0 record: name[32], input_dim 16, n_layers, 1 x 2 x 8 */
            const unsigned char *mod0 = buf + CRMTI_OFF_MODALITIES;
            ck_assert_str_eq((const char *)mod0, "rows0-1");
            ck_assert_uint_eq(rd32(mod0 + 32), 16);
            ck_assert_uint_eq(rd32(mod0 + 40), 1);
            ck_assert_uint_eq(rd32(mod0 + 44), 2);
            ck_assert_uint_eq(rd32(mod0 + 48), 8);
            /* first layer record: conv2d kind 2, 4 fields */
            ck_assert_uint_eq(rd32(mod0 + 52), CRMTI_LAYER_CONV2D);
            ck_assert_uint_eq(rd32(mod0 + 56), 4);
            crmt_model *b = NULL;
            ck_assert_int_eq(crmt_model_load_buffer(&b, buf, size), CRMT_OK);
            size_t size2;
            unsigned char *buf2 = save_buf(b, &size2);
            ck_assert_uint_eq(size, size2);
            ck_assert(memcmp(buf, buf2, size) == 0);
            ck_assert_uint_eq(a->n_params, b->n_params);
            ck_assert(memcmp(a->params, b->params, sizeof(float) * a->n_params) == 0);
            /* the same predictions, bit for bit, and the same certificates */
            float *x[2] = {malloc(sizeof(float) * 20 * 16), malloc(sizeof(float) * 20 * 48)};
            crmt_test_fill_uniform(x[0], 320, &rng, 1.0);
            crmt_test_fill_uniform(x[1], 960, &rng, 1.0);
            float la[200], lb[200];
            ck_assert_int_eq(crmt_model_predict(a, (const float *const *)x, 20, NULL, la), CRMT_OK);
            ck_assert_int_eq(crmt_model_predict(b, (const float *const *)x, 20, NULL, lb), CRMT_OK);
            ck_assert(memcmp(la, lb, sizeof la) == 0);
            crmt_certifier *ca = NULL, *cb = NULL;
            ck_assert_int_eq(crmt_certifier_create(&ca, a, NULL), CRMT_OK);
            ck_assert_int_eq(crmt_certifier_create(&cb, b, NULL), CRMT_OK);
            for (int m = 0; m < 2; m++)
                for (int k = 0; k < 10; k++) {
                    double ta, tb;
                    ck_assert_int_eq(crmt_certifier_tau(ca, m, k, &ta), CRMT_OK);
                    ck_assert_int_eq(crmt_certifier_tau(cb, m, k, &tb), CRMT_OK);
                    ck_assert(ta == tb);
                }
            crmt_certifier_destroy(ca);
            crmt_certifier_destroy(cb);
            free(x[0]);
            free(x[1]);
            /* a file: the same bytes */
            char path[] = "/tmp/crmt_convXXXXXX";
            int fd = mkstemp(path);
            ck_assert_int_ge(fd, 0);
            close(fd);
            ck_assert_int_eq(crmt_model_save(a, path), CRMT_OK);
            crmt_model *c = NULL;
            ck_assert_int_eq(crmt_model_load(&c, path), CRMT_OK);
            unlink(path);
            size_t size3;
            unsigned char *buf3 = save_buf(c, &size3);
            ck_assert(size3 == size && memcmp(buf, buf3, size) == 0);
            /* every truncation and every single-byte corruption is refused */
            if (variant == 0 && head == 0) {
                for (size_t cut = 0; cut < size; cut++) {
                    crmt_model *z = NULL;
                    ck_assert_int_ne(crmt_model_load_buffer(&z, buf, cut), CRMT_OK);
                    ck_assert_ptr_null(z);
                }
                for (size_t i = 0; i < size; i += 7) {
                    buf2[i] ^= 0x5A;
                    crmt_model *z = NULL;
                    ck_assert_int_ne(crmt_model_load_buffer(&z, buf2, size), CRMT_OK);
                    ck_assert_ptr_null(z);
                    buf2[i] ^= 0x5A;
                }
            }
            free(buf);
            free(buf2);
            free(buf3);
            crmt_model_destroy(a);
            crmt_model_destroy(b);
            crmt_model_destroy(c);
        }
}
END_TEST

/* Records a version-1 reader would misread are refused with clear messages; models without
 * conv layers or images keep writing version 1 (readable by older libraries). */
START_TEST(test_format_versions)
{
    /* an MLP still writes version 1 */
    crmt_spec *spec;
    ck_assert_int_eq(crmt_spec_create(&spec, 3), CRMT_OK);
    ck_assert_int_eq(crmt_spec_add_modality(spec, "v", 5, NULL), CRMT_OK);
    ck_assert_int_eq(crmt_spec_add_linear(spec, 0, 4), CRMT_OK);
    ck_assert_int_eq(crmt_spec_add_relu(spec, 0), CRMT_OK);
    crmt_model *mlp = NULL;
    ck_assert_int_eq(crmt_model_create(&mlp, spec, 1), CRMT_OK);
    crmt_spec_destroy(spec);
    size_t size;
    unsigned char *buf = save_buf(mlp, &size);
    ck_assert_uint_eq(rd32(buf + CRMTI_OFF_VERSION), 1);
    /* the same model labelled version 2 (records of the wrong size): refused */
    wr32(buf + CRMTI_OFF_VERSION, 2);
    fix_crc(buf, size);
    crmt_model *z = NULL;
    ck_assert_int_eq(crmt_model_load_buffer(&z, buf, size), CRMT_ERR_FORMAT);
    free(buf);
    crmt_model_destroy(mlp);
    /* a version-2 file of a v1-only model (vector modality, linear layer; written by hand
     * with the version-2 record layout): refused as non-canonical */
    ck_assert_int_eq(crmt_spec_create(&spec, 2), CRMT_OK);
    ck_assert_int_eq(crmt_spec_add_modality(spec, NULL, 3, NULL), CRMT_OK);
    ck_assert_int_eq(crmt_model_create(&mlp, spec, 1), CRMT_OK);
    crmt_spec_destroy(spec);
    buf = save_buf(mlp, &size);
    unsigned char *v2 = calloc(size + 12, 1);
    memcpy(v2, buf, 40 + 40);
    memcpy(v2 + 92, buf + 80, size - 80); /* 12 zero bytes: channels, height, width */
    wr32(v2 + CRMTI_OFF_VERSION, 2);
    fix_crc(v2, size + 12);
    ck_assert_int_eq(crmt_model_load_buffer(&z, v2, size + 12), CRMT_ERR_FORMAT);
    ck_assert_ptr_nonnull(strstr(crmt_last_error(), "lowest version"));
    /* ...and labelled version 1 again with the version-1 layout, it loads */
    ck_assert_int_eq(crmt_model_load_buffer(&z, buf, size), CRMT_OK);
    crmt_model_destroy(z);
    free(v2);
    free(buf);
    crmt_model_destroy(mlp);

    /* conv model: field checks */
    crmt_model *a = digits_conv_model(CRMT_HEAD_JT, 0, 5);
    buf = save_buf(a, &size);
    struct {
        size_t off;
        uint32_t value;
        const char *fragment;
    } bad[] = {
        {0, 1, "fields"}, /* version 1: the image shape is read as a layer record */
        {40, 3, "does not match"},                           /* channels */
        {44, 0, "does not match"},                           /* height 0 */
        {48, 0x80000000u, "width"},                          /* out of range */
        {56, 3, "fields"},                                   /* conv field count */
        {60, 0, "out_channels"},                             /* conv out_channels */
        {60, 5, "parameter count"},                          /* valid, more parameters */
        {68, 0, "stride"},                                   /* conv stride */
        {72, 2, "padding"},                                  /* pad > k/2 */
        {64, 9, "larger than its input"},                    /* kernel 9 on 2x8 (pad 1) */
        {52, 9, "unknown layer kind 9"},
    };
    /* image dimensions that overflow 64 bits when multiplied (a UBSan finding of the fuzzer,
     * tests/fuzz/corpus/model/regress_ubsan_image_shape_overflow.crmt) */
    {
        unsigned char *copy = malloc(size);
        memcpy(copy, buf, size);
        for (int i = 0; i < 3; i++)
            wr32(copy + CRMTI_OFF_MODALITIES + 40 + 4 * i, 1u << 24);
        fix_crc(copy, size);
        ck_assert_int_eq(crmt_model_load_buffer(&z, copy, size), CRMT_ERR_FORMAT);
        ck_assert_ptr_nonnull(strstr(crmt_last_error(), "does not match"));
        free(copy);
        char path[4200];
        snprintf(path, sizeof path, "%s/../fuzz/corpus/model/regress_ubsan_image_shape_overflow.crmt",
                 CRMT_TEST_DATA_DIR);
        if (access(path, R_OK) == 0) {
            ck_assert_int_ne(crmt_model_load(&z, path), CRMT_OK);
            ck_assert_ptr_null(z);
        }
    }
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        unsigned char *copy = malloc(size);
        memcpy(copy, buf, size);
        if (bad[i].off == 0)
            wr32(copy + CRMTI_OFF_VERSION, bad[i].value);
        else
            wr32(copy + CRMTI_OFF_MODALITIES + bad[i].off, bad[i].value);
        fix_crc(copy, size);
        crmt_status st = crmt_model_load_buffer(&z, copy, size);
        ck_assert_msg(st == CRMT_ERR_FORMAT, "case %zu: status %d", i, (int)st);
        ck_assert_msg(strstr(crmt_last_error(), bad[i].fragment) != NULL,
                      "case %zu: message '%s' lacks '%s'", i, crmt_last_error(), bad[i].fragment);
        ck_assert_ptr_null(z);
        free(copy);
    }
    free(buf);
    crmt_model_destroy(a);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("conv");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, test_conv_gradients);
    tcase_add_test(tc, test_pool_and_flatten_gradients);
    tcase_add_test(tc, test_im2col_groups);
    tcase_add_test(tc, test_model_gradients);
    tcase_add_test(tc, test_spec_validation);
    tcase_add_test(tc, test_conv_bounds_random);
    tcase_add_test(tc, test_conv_bounds_large);
    tcase_add_test(tc, test_conv_bounds_wide);
    tcase_add_test(tc, test_pool_bounds);
    tcase_add_test(tc, test_random_model_bounds);
    tcase_add_test(tc, test_digits_train_bounds_and_soundness);
    tcase_add_test(tc, test_save_load_round_trip);
    tcase_add_test(tc, test_format_versions);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
