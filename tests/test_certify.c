/* Certifier (include/crmt/certify.h): closed forms for linear models, soundness against
 * strong attacks on trained digits models, an independent NumPy recomputation
 * (scripts/reference_certify.py, reading models saved with crmt_model_save),
 * missing-modality and raw-unit fields, certified accuracy, concurrent use from several
 * threads, and bad inputs. */
#include <check.h>
#include <float.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "crmt/crmt.h"
#include "test_models.h"
#include "data/dataset.h"
#include "digits_fixture.h"
#include "reference.h"
#include "soundness.h"
#include "model/model.h"
#include "robust/attack.h"
#include "robust/certify.h"
#include "robust/lipschitz.h"
#include "tensor/rng.h"

/* ---- helpers ------------------------------------------------------------------------- */

static crmt_model *build(int k, int n_mod, const int *in_dims, const char *const *layers,
                         const int *widths, crmt_head_kind head, uint64_t seed)
{
    crmt_model *model = crmt_test_build_model(k, n_mod, in_dims, layers, widths, head,
                                              CRMT_NORM_AUTO, seed);
    ck_assert_msg(model != NULL, "model: %s", crmt_last_error());
    return model;
}

static crmt_certifier *sound_certifier(const crmt_model *model)
{
    crmt_certifier *c = NULL;
    ck_assert_int_eq(crmt_certifier_create(&c, model, NULL), CRMT_OK);
    ck_assert_int_eq(crmt_certifier_lipschitz(c), CRMT_LIPSCHITZ_SOUND);
    return c;
}

static void cert_init(crmt_certificate *c)
{
    memset(c, 0, sizeof *c);
    c->struct_size = sizeof *c;
}

static int argmax_d(const double *h, int K)
{
    int b = 0;
    for (int k = 1; k < K; k++)
        if (h[k] > h[b])
            b = k;
    return b;
}

/* ---- digits models -------------------------------------------------------------------- */

/* The digits split, loaded by each test that trains on it. */
static crmt_test_digits digits;

/* Rows 0-1 (16 px) -> 32 -> ReLU -> 16, rows 2-7 (48 px) -> 48 -> ReLU -> 16, K = 10. */
static crmt_model *trained_digits_model(crmt_head_kind head, uint64_t seed, int epochs)
{
    const int in_dims[2] = {16, 48};
    const char *layers[2] = {"LRL", "LRL"};
    const int widths[4] = {32, 16, 48, 16};
    crmt_model *model = build(10, 2, in_dims, layers, widths, head, seed);
    crmt_test_digits_train(model, digits.train, CRMT_SCHEDULE_CONSTANT, epochs, seed);
    return model;
}

/* Image encoders on the same two views, the digits' rows 0-1 as a 1x2x8 image and rows 2-7
 * as 1x6x8 (saved as model format version 2), K = 10:
 *   variant 0, rows 0-1: conv(4, k3, s1, p1) relu maxpool(2, 1) flatten linear(16)
 *              rows 2-7: conv(6, k3, s2, p1) relu avgpool(2, 1) flatten linear(16)
 *   variant 1, rows 0-1: conv(4, k2, s1, p1) relu avgpool(2, 2) flatten linear(16)
 *              rows 2-7: conv(8, k3, s2, p1) relu conv(8, k3, s1, p1) relu maxpool(2, 2)
 *                        linear(24) relu linear(16) */
static crmt_model *conv_digits_model(crmt_head_kind head, int variant, uint64_t seed)
{
    static const char *const layers[2][2] = {
        {"c4/3/1/1 r m2/1 f l16", "c6/3/2/1 r a2/1 f l16"},
        {"c4/2/1/1 r a2/2 f l16", "c8/3/2/1 r c8/3/1/1 r m2/2 l24 r l16"}};
    return crmt_test_digits_image_model(layers[variant], head, seed);
}

/* ---- closed forms ---------------------------------------------------------------------- */

/* Effective linear map of a linear-only one-modality-at-a-time model, in double:
 * weff[m] (K x n_m) = c_k H_m[k] W_L ... W_1, beff (K) = fused bias + encoder biases. */
static void effective_linear(const crmt_model *model, double **weff, double *beff)
{
    const int K = model->n_classes;
    const float *a = crmti_integration(model);
    for (int k = 0; k < K; k++)
        beff[k] = model->params[model->head_b_offset + (size_t)k];
    for (int m = 0; m < model->n_mod; m++) {
        const crmti_encoder *enc = &model->enc[m];
        const int d = enc->out_size;
        float *rows = malloc(sizeof(float) * (size_t)K * d);
        ck_assert_int_eq(crmti_head_rows(model, m, rows), CRMT_OK);
        double *u = malloc(sizeof(double) * (size_t)K * 256), *nu = malloc(sizeof(double) * K * 256);
        int cols = d;
        for (int k = 0; k < K; k++)
            for (int c = 0; c < d; c++)
                u[k * d + c] = (a ? a[m * K + k] : 1.0) * rows[k * d + c];
        for (int l = enc->n_layers - 1; l >= 0; l--) {
            const crmti_layer *ly = &enc->layers[l];
            ck_assert_int_eq(ly->kind, CRMTI_LAYER_LINEAR);
            const float *w = model->params + ly->w_offset, *b = model->params + ly->b_offset;
            for (int k = 0; k < K; k++) {
                for (int o = 0; o < ly->out_size; o++)
                    beff[k] += u[k * cols + o] * b[o];
                for (int c = 0; c < ly->in_size; c++) {
                    double s = 0.0;
                    for (int o = 0; o < ly->out_size; o++)
                        s += u[k * cols + o] * w[o * ly->in_size + c];
                    nu[k * ly->in_size + c] = s;
                }
            }
            cols = ly->in_size;
            memcpy(u, nu, sizeof(double) * K * cols);
        }
        weff[m] = u;
        free(nu);
        free(rows);
    }
}

/* Linear models: the certified radius equals the exact l2 distance to the decision
 * boundary min_j (h_y - h_j) / ||w_y - w_j|| (joint: over the concatenated inputs; per
 * modality: over that modality's part), up to the 1e-6 slack. */
static void check_linear_model(crmt_model *model, uint64_t seed, int *n_checked)
{
    const int K = model->n_classes, M = model->n_mod;
    crmti_rng rng;
    crmti_rng_seed(&rng, seed);
    float *bias = model->params + model->head_b_offset;
    for (int k = 0; k < K; k++)
        bias[k] = (float)(0.3 * crmti_rng_normal(&rng));
    float *a = model->spec.head == CRMT_HEAD_CRMT ? model->params + model->head_a_offset : NULL;
    if (a)
        for (int i = 0; i < M * K; i++)
            a[i] = (float)(0.2 + crmti_rng_uniform(&rng));
    double *weff[CRMT_MAX_MODALITIES], beff[64];
    effective_linear(model, weff, beff);
    crmt_certifier *cert = sound_certifier(model);
    for (int s = 0; s < 40; s++) {
        float *x[CRMT_MAX_MODALITIES];
        for (int m = 0; m < M; m++) {
            x[m] = malloc(sizeof(float) * model->enc[m].in_size);
            for (int c = 0; c < model->enc[m].in_size; c++)
                x[m][c] = (float)crmti_rng_normal(&rng);
        }
        double h[64];
        for (int k = 0; k < K; k++) {
            h[k] = beff[k];
            for (int m = 0; m < M; m++)
                for (int c = 0; c < model->enc[m].in_size; c++)
                    h[k] += weff[m][k * model->enc[m].in_size + c] * x[m][c];
        }
        const int y = argmax_d(h, K);
        double exact = INFINITY, exact_m[CRMT_MAX_MODALITIES];
        int exact_j = -1;
        for (int m = 0; m < M; m++)
            exact_m[m] = INFINITY;
        for (int j = 0; j < K; j++) {
            if (j == y)
                continue;
            double ss = 0.0;
            for (int m = 0; m < M; m++) {
                double sm = 0.0;
                for (int c = 0; c < model->enc[m].in_size; c++) {
                    double v = weff[m][y * model->enc[m].in_size + c] -
                               weff[m][j * model->enc[m].in_size + c];
                    sm += v * v;
                }
                ss += sm;
                double dm = (h[y] - h[j]) / sqrt(sm);
                if (dm < exact_m[m])
                    exact_m[m] = dm;
            }
            double dj = (h[y] - h[j]) / sqrt(ss);
            if (dj < exact) {
                exact = dj;
                exact_j = j;
            }
        }
        crmt_certificate ct;
        cert_init(&ct);
        ck_assert_int_eq(crmt_certify_radius(cert, (const float *const *)x, CRMT_LABEL_PREDICTED,
                                             &ct),
                         CRMT_OK);
        ck_assert_int_eq(ct.predicted, y);
        ck_assert_int_eq(ct.label, y);
        ck_assert_int_eq(ct.certified, 1);
        ck_assert_int_eq(ct.n_modalities, M);
        ck_assert_int_eq(ct.lipschitz, CRMT_LIPSCHITZ_SOUND);
        ck_assert_msg(ct.radius <= exact && ct.radius >= exact * (1 - 1e-4),
                      "K=%d M=%d: radius %.12g, exact distance %.12g", K, M, ct.radius, exact);
        ck_assert_int_eq(ct.closest_class, exact_j);
        for (int m = 0; m < M; m++)
            ck_assert_msg(ct.modality_radius[m] <= exact_m[m] &&
                              ct.modality_radius[m] >= exact_m[m] * (1 - 1e-4),
                          "modality %d: radius %.12g, exact %.12g", m, ct.modality_radius[m],
                          exact_m[m]);
        /* certifying another label than the prediction: not certified, radius 0 */
        crmt_certificate other;
        cert_init(&other);
        ck_assert_int_eq(crmt_certify_radius(cert, (const float *const *)x, (y + 1) % K, &other),
                         CRMT_OK);
        ck_assert_int_eq(other.certified, 0);
        ck_assert(other.radius == 0.0);
        ck_assert_int_eq(other.predicted, y);
        ck_assert(other.margin < 0.0);
        for (int m = 0; m < M; m++) {
            ck_assert(other.modality_radius[m] == 0.0);
            ck_assert_int_eq(other.missing_survives[m], 0);
            free(x[m]);
        }
        ++*n_checked;
    }
    for (int m = 0; m < M; m++)
        free(weff[m]);
    crmt_certifier_destroy(cert);
}

START_TEST(test_linear_closed_form)
{
    int n = 0;
    /* one modality, one linear layer, two classes: |w.x + b| / ||w|| */
    {
        const int in_dims[1] = {5};
        const char *layers[1] = {"L"};
        const int widths[1] = {4};
        for (int head = 0; head < 2; head++) {
            crmt_model *model = build(2, 1, in_dims, layers, widths, (crmt_head_kind)head, 3);
            check_linear_model(model, 10 + head, &n);
            crmt_model_destroy(model);
        }
    }
    /* more classes, two and three modalities, runs of linear layers, no layers at all */
    {
        const int in_dims[3] = {6, 9, 4};
        const char *layers[3] = {"LL", "L", ""};
        const int widths[3] = {8, 7, 10};
        for (int head = 0; head < 2; head++)
            for (int M = 1; M <= 3; M++) {
                crmt_model *model = build(head ? 4 : 6, M, in_dims, layers, widths,
                                          (crmt_head_kind)head, 20 + M);
                check_linear_model(model, 30 + M, &n);
                crmt_model_destroy(model);
            }
    }
    printf("linear closed form: %d samples agree with the exact distance (1e-4)\n", n);
}
END_TEST

/* K = 3, one modality of 2 inputs and no layers, JT head with rows w0 = (1, 0),
 * w1 = (0.9, 0), w2 = (0, -3) and no bias: near x = (1, 0.5) the runner-up of the logits is
 * class 1, but class 2 is closer. */
static crmt_model *closest_not_runner_up_model(void)
{
    const int in_dims[1] = {2};
    const char *layers[1] = {""};
    crmt_model *model = build(3, 1, in_dims, layers, NULL, CRMT_HEAD_JT, 1);
    const float w[6] = {1.0f, 0.0f, 0.9f, 0.0f, 0.0f, -3.0f};
    memcpy(model->params + model->head_w_offset[0], w, sizeof w);
    memset(model->params + model->head_b_offset, 0, 3 * sizeof(float));
    return model;
}

/* The runner-up of the logits is not always the class of the minimum radius. */
START_TEST(test_closest_is_not_runner_up)
{
    crmt_model *model = closest_not_runner_up_model();
    crmt_certifier *cert = sound_certifier(model);
    const float x0[2] = {1.0f, 0.5f};
    const float *x[1] = {x0};
    crmt_certificate ct;
    cert_init(&ct);
    ck_assert_int_eq(crmt_certify_radius(cert, x, CRMT_LABEL_PREDICTED, &ct), CRMT_OK);
    /* h = (1, 0.9, -1.5): runner-up 1 (margin 0.1 over ||w0-w1|| = 0.1: distance 1), but
     * class 2 is closer: 2.5 / sqrt(10) = 0.7906 */
    ck_assert_int_eq(ct.predicted, 0);
    ck_assert_int_eq(ct.closest_class, 2);
    const double exact = 2.5 / sqrt(10.0);
    ck_assert_msg(ct.radius <= exact && ct.radius >= exact * (1 - 1e-5), "radius %.12g",
                  ct.radius);
    ck_assert(fabs(ct.margin - 2.5) < 1e-6);
    crmt_certifier_destroy(cert);
    crmt_model_destroy(model);
}
END_TEST

/* ---- the prediction -------------------------------------------------------------------- */

/* Copy class 0's head row (and bias, and integration weights) onto class 1 in every
 * modality: the two exact logits tie on every sample. */
static void tie_classes_0_and_1(crmt_model *model)
{
    for (int m = 0; m < model->n_mod; m++) {
        const size_t d = (size_t)model->enc[m].out_size;
        float *w = model->params + model->head_w_offset[m];
        memcpy(w + d, w, sizeof(float) * d);
        if (model->spec.head == CRMT_HEAD_CRMT) {
            float *a = model->params + model->head_a_offset + (size_t)m * model->n_classes;
            a[1] = a[0];
        }
    }
    float *b = model->params + model->head_b_offset;
    b[1] = b[0];
}

/* The certificate's prediction is the model's float prediction, both where the double logits
 * settle it and where they cannot (ties: the certifier then runs the float forward pass on
 * those samples). A float prediction may depend on the batch in its last bits (BLAS
 * blocking), so a disagreement with crmt_model_predict is accepted only at a float tie. */
START_TEST(test_prediction_is_the_float_forward)
{
    crmt_test_digits_load(&digits);
    const size_t n = crmt_dataset_num_samples(digits.test);
    const float *inputs[2] = {crmt_dataset_data(digits.test, 0), crmt_dataset_data(digits.test, 1)};
    crmt_certificate *ct = malloc(sizeof *ct * n);
    int32_t *pred = malloc(sizeof *pred * n);
    float *logits = malloc(sizeof *logits * n * 10);
    ck_assert(ct && pred && logits);
    for (int variant = 0; variant < 3; variant++) {
        crmt_model *model =
            trained_digits_model(variant == 2 ? CRMT_HEAD_CRMT : CRMT_HEAD_JT, 7, 3);
        if (variant > 0)
            tie_classes_0_and_1(model);
        crmt_certifier *cert = sound_certifier(model);
        ct[0].struct_size = sizeof *ct;
        ck_assert_int_eq(crmt_certify_batch(cert, inputs, n, NULL, ct), CRMT_OK);
        ck_assert_int_eq(crmt_model_predict(model, inputs, n, pred, logits), CRMT_OK);
        int float_ties = 0;
        for (size_t i = 0; i < n; i++) {
            if (ct[i].predicted == pred[i])
                continue;
            const float *l = logits + i * 10;
            const double gap = fabs((double)l[ct[i].predicted] - (double)l[pred[i]]);
            ck_assert_msg(gap <= 1e-5 * (1.0 + fabs((double)l[pred[i]])),
                          "variant %d sample %zu: certificate predicts %d, the model %d "
                          "(float logits %.9g vs %.9g)",
                          variant, i, ct[i].predicted, (int)pred[i], l[ct[i].predicted],
                          l[pred[i]]);
            float_ties++;
        }
        /* how many samples needed the float pass (internal counter, chunk by chunk) */
        crmti_cert_ws *ws = crmti_cert_ws_create(cert, CRMTI_CERT_CHUNK);
        ck_assert_ptr_nonnull(ws);
        long float_pass = 0, tied = 0;
        for (size_t s = 0; s < n; s += CRMTI_CERT_CHUNK) {
            const int b = (int)(n - s < CRMTI_CERT_CHUNK ? n - s : CRMTI_CERT_CHUNK);
            const float *x[2] = {inputs[0] + s * 16, inputs[1] + s * 48};
            crmti_certify_chunk(cert, ws, x, b, NULL, ct + s);
            float_pass += ws->n_float_pass;
        }
        for (size_t i = 0; i < n; i++) {
            const float *l = logits + i * 10;
            int top = 0;
            for (int k = 1; k < 10; k++)
                if (l[k] > l[top])
                    top = k;
            tied += top <= 1;
            if (variant > 0 && ct[i].predicted <= 1)
                ck_assert_msg(!ct[i].certified, "a tied prediction was certified");
        }
        printf("prediction, %s: %ld of %zu samples needed the float pass (%ld predicted 0 or "
               "1), %d float ties with crmt_model_predict\n",
               variant == 0 ? "trained JT" : variant == 1 ? "JT, classes 0 and 1 tied"
                                                          : "CRMT, classes 0 and 1 tied",
               float_pass, n, tied, float_ties);
        /* every tied sample is unsettled; a trained model settles almost all */
        if (variant > 0)
            ck_assert_int_ge(float_pass, tied);
        else
            ck_assert_int_lt(float_pass, (long)n / 10);
        crmti_cert_ws_destroy(ws);
        crmt_certifier_destroy(cert);
        crmt_model_destroy(model);
    }
    free(ct);
    free(pred);
    free(logits);
    crmt_test_digits_free(&digits);
}
END_TEST

/* ---- the rounding bounds themselves -------------------------------------------------- */

/* The two error bounds of the certifier hold sample by sample: |double logit - exact| <= e
 * (what the margins subtract) and |float logit - exact| <= e_f (what tells the float
 * prediction from the double logits), exact being the long double reference, on trained
 * MLPs and freshly initialised conv encoders. Prints how much of each bound the errors used. */
START_TEST(test_rounding_bounds_hold)
{
    crmt_test_digits_load(&digits);
    const size_t n = crmt_dataset_num_samples(digits.test);
    const float *inputs[2] = {crmt_dataset_data(digits.test, 0), crmt_dataset_data(digits.test, 1)};
    crmt_certificate *ct = malloc(sizeof *ct * CRMTI_CERT_CHUNK);
    ck_assert_ptr_nonnull(ct);
    for (int variant = 0; variant < 4; variant++) {
        const crmt_head_kind head = variant % 2 ? CRMT_HEAD_CRMT : CRMT_HEAD_JT;
        crmt_model *model = variant < 2 ? trained_digits_model(head, 31 + variant, 3)
                                        : conv_digits_model(head, variant - 2, 33 + variant);
        crmt_certifier *cert = sound_certifier(model);
        crmti_cert_ws *ws = crmti_cert_ws_create(cert, CRMTI_CERT_CHUNK);
        crmti_ws *fws = crmti_ws_create(model, CRMTI_CERT_CHUNK);
        ck_assert(ws && fws);
        const int K = model->n_classes;
        double used_d = 0.0, used_f = 0.0, worst_f = 0.0;
        for (size_t s = 0; s < n; s += CRMTI_CERT_CHUNK) {
            const int b = (int)(n - s < CRMTI_CERT_CHUNK ? n - s : CRMTI_CERT_CHUNK);
            const float *x[2] = {inputs[0] + s * 16, inputs[1] + s * 48};
            crmti_certify_chunk(cert, ws, x, b, NULL, ct);
            crmti_forward(model, fws, x, b);
            for (int i = 0; i < b; i++) {
                const float *xi[2] = {x[0] + (size_t)i * 16, x[1] + (size_t)i * 48};
                long double exact[16];
                ck_assert(crmt_test_exact_logits_ld(model, xi, exact));
                for (int k = 0; k < K; k++) {
                    const size_t t = (size_t)i * K + (size_t)k;
                    const long double err_d = fabsl((long double)ws->h[t] - exact[k]);
                    const long double err_f = fabsl((long double)fws->logits[t] - exact[k]);
                    ck_assert_msg(err_d <= ws->e[t] && err_f <= ws->e_f[t],
                                  "variant %d sample %zu class %d: double error %Lg (bound %g), "
                                  "float error %Lg (bound %g)",
                                  variant, s + (size_t)i, k, err_d, ws->e[t], err_f, ws->e_f[t]);
                    if (ws->e[t] > 0 && (double)(err_d / ws->e[t]) > used_d)
                        used_d = (double)(err_d / ws->e[t]);
                    if (ws->e_f[t] > 0 && (double)(err_f / ws->e_f[t]) > used_f)
                        used_f = (double)(err_f / ws->e_f[t]);
                    if ((double)err_f > worst_f)
                        worst_f = (double)err_f;
                }
            }
        }
        printf("rounding bounds, %s %s: largest error / bound %.3g (double pass), %.3g (float "
               "pass, largest float error %.3g)\n",
               variant < 2 ? "MLP" : "conv", head == CRMT_HEAD_CRMT ? "CRMT" : "JT", used_d,
               used_f, worst_f);
        /* the float errors are real (not zero), so the float check measured something */
        ck_assert(worst_f > 0.0);
        crmti_ws_destroy(fws);
        crmti_cert_ws_destroy(ws);
        crmt_certifier_destroy(cert);
        crmt_model_destroy(model);
    }
    free(ct);
    crmt_test_digits_free(&digits);
}
END_TEST

/* ---- soundness against strong attacks ------------------------------------------------ */

START_TEST(test_soundness_against_attacks)
{
    crmt_test_digits_load(&digits);
    crmt_test_attack_tally t;
    memset(&t, 0, sizeof t);
    const uint64_t seeds[3] = {1, 2, 3};
    for (int head = 0; head < 2; head++)
        for (int s = 0; s < 3; s++) {
            crmt_model *model = trained_digits_model((crmt_head_kind)head, seeds[s], 12);
            double acc = 0.0;
            ck_assert_int_eq(crmt_model_accuracy(model, digits.test, &acc), CRMT_OK);
            char name[64];
            snprintf(name, sizeof name, "%s seed %d (test acc %.3f)", head ? "CRMT" : "JT",
                     (int)seeds[s], acc);
            crmt_test_soundness(model, digits.test, name, 25, 0.5, &t);
            crmt_model_destroy(model);
        }
    printf("soundness: %ld certified samples, %ld PGD runs (100 steps, margin loss, joint and "
           "per modality, 0.999 x radius): 0 flips (%ld float-rounding-only flips); at 2x the "
           "radius %ld of %ld samples flipped\n",
           t.samples, t.attacks, t.float_flips, t.flips_at_2r, t.tried_at_2r);
    ck_assert_int_eq(t.float_flips, 0);
    crmt_test_digits_free(&digits);
}
END_TEST

/* ---- missing modality, raw units, empirical, certified accuracy -------------------------- */

START_TEST(test_missing_raw_and_accuracy)
{
    crmt_test_digits_load(&digits);
    crmt_model *model = trained_digits_model(CRMT_HEAD_CRMT, 4, 12);
    const size_t n = crmt_dataset_num_samples(digits.test);
    const float *inputs[2] = {crmt_dataset_data(digits.test, 0), crmt_dataset_data(digits.test, 1)};
    const int32_t *labels = crmt_dataset_labels(digits.test);
    const double scale[2] = {1.0 / 16.0, 1.0 / 16.0};
    crmt_certifier_options co;
    ck_assert_int_eq(crmt_certifier_options_init(&co, sizeof co), CRMT_OK);
    co.fill_mean_data = digits.train;
    co.input_scale = scale;
    crmt_certifier *cert = NULL;
    ck_assert_int_eq(crmt_certifier_create(&cert, model, &co), CRMT_OK);
    crmt_certifier *plain = sound_certifier(model);
    crmt_certificate *a = malloc(sizeof *a * n), *b = malloc(sizeof *b * n);
    a[0].struct_size = b[0].struct_size = sizeof *a;
    ck_assert_int_eq(crmt_certify_batch(cert, inputs, n, labels, a), CRMT_OK);
    ck_assert_int_eq(crmt_certify_batch(plain, inputs, n, NULL, b), CRMT_OK);
    float mean[2][48];
    crmti_dataset_mean(digits.train, 0, mean[0]);
    crmti_dataset_mean(digits.train, 1, mean[1]);
    int survive[2] = {0, 0}, survive_zero[2] = {0, 0}, certified = 0;
    float *fillbuf = malloc(sizeof(float) * 48);
    for (size_t i = 0; i < n; i++) {
        ck_assert_int_eq(a[i].has_raw_units, 1);
        ck_assert_int_eq(b[i].has_raw_units, 0);
        /* same radii whichever fill; labels vs predictions agree on correct samples */
        if (a[i].predicted == labels[i]) {
            ck_assert(a[i].radius == b[i].radius);
            ck_assert_int_eq(a[i].certified, b[i].certified);
        } else {
            ck_assert_int_eq(a[i].certified, 0);
        }
        if (!a[i].certified)
            continue;
        certified++;
        ck_assert(fabs(a[i].radius_raw - 16.0 * a[i].radius) <= 1e-9 * a[i].radius_raw);
        for (int m = 0; m < 2; m++) {
            ck_assert(fabs(a[i].modality_radius_raw[m] - 16.0 * a[i].modality_radius[m]) <=
                      1e-9 * a[i].modality_radius_raw[m]);
            ck_assert(a[i].modality_radius[m] >= a[i].radius);
            ck_assert_int_eq(a[i].missing_survives[m],
                             a[i].missing_distance[m] < a[i].modality_radius[m]);
            survive[m] += a[i].missing_survives[m];
            survive_zero[m] += b[i].missing_survives[m];
            /* the guarantee: the prediction with the modality replaced by the fill is y */
            const int dm = m ? 48 : 16;
            const float *x[2] = {inputs[0] + i * 16, inputs[1] + i * 48};
            int32_t pred;
            if (a[i].missing_survives[m]) {
                memcpy(fillbuf, mean[m], sizeof(float) * dm);
                x[m] = fillbuf;
                ck_assert_int_eq(crmt_model_predict(model, x, 1, &pred, NULL), CRMT_OK);
                ck_assert_int_eq(pred, a[i].label);
            }
            if (b[i].missing_survives[m]) {
                memset(fillbuf, 0, sizeof(float) * dm);
                x[m] = fillbuf;
                ck_assert_int_eq(crmt_model_predict(model, x, 1, &pred, NULL), CRMT_OK);
                ck_assert_int_eq(pred, b[i].label);
            }
        }
    }
    printf("missing modality (CRMT seed 4): of %d certified test samples, provably survive "
           "mean fill: rows0-1 %d, rows2-7 %d; zero fill: %d, %d\n",
           certified, survive[0], survive[1], survive_zero[0], survive_zero[1]);

    /* certified accuracy agrees with the per-sample certificates */
    const double radii[5] = {0.0, 0.05, 0.1, 0.2, 0.5};
    double joint[5], per_mod[10], mean_r = 0.0;
    ck_assert_int_eq(crmt_certified_accuracy(cert, digits.test, radii, 5, joint, per_mod, &mean_r),
                     CRMT_OK);
    double sum = 0.0;
    for (int r = 0; r < 5; r++) {
        size_t cnt = 0, cm[2] = {0, 0};
        for (size_t i = 0; i < n; i++) {
            if (!a[i].certified)
                continue;
            cnt += a[i].radius >= radii[r];
            for (int m = 0; m < 2; m++)
                cm[m] += a[i].modality_radius[m] >= radii[r];
        }
        ck_assert(fabs(joint[r] - (double)cnt / n) < 1e-12);
        for (int m = 0; m < 2; m++)
            ck_assert(fabs(per_mod[m * 5 + r] - (double)cm[m] / n) < 1e-12);
        if (r > 0)
            ck_assert(joint[r] <= joint[r - 1]);
    }
    for (size_t i = 0; i < n; i++)
        sum += a[i].certified ? a[i].radius : 0.0;
    ck_assert(fabs(mean_r - sum / n) < 1e-12);
    double acc = 0.0;
    ck_assert_int_eq(crmt_model_accuracy(model, digits.test, &acc), CRMT_OK);
    ck_assert(joint[0] <= acc + 1e-12);
    printf("certified accuracy (CRMT seed 4, sound): clean %.3f, r>=0 %.3f, 0.05 %.3f, 0.1 %.3f, "
           "0.2 %.3f, 0.5 %.3f; per modality at 0.1: %.3f / %.3f; mean radius %.4f\n",
           acc, joint[0], joint[1], joint[2], joint[3], joint[4], per_mod[2], per_mod[7],
           mean_r);

    /* empirical estimates: smaller constants than the sound bounds */
    crmt_certifier_options eo;
    crmt_certifier_options_init(&eo, sizeof eo);
    eo.lipschitz = CRMT_LIPSCHITZ_EMPIRICAL;
    eo.lipschitz_data = digits.train;
    crmt_certifier *emp = NULL;
    ck_assert_int_eq(crmt_certifier_create(&emp, model, &eo), CRMT_OK);
    ck_assert_int_eq(crmt_certifier_lipschitz(emp), CRMT_LIPSCHITZ_EMPIRICAL);
    for (int m = 0; m < 2; m++)
        for (int k = 0; k < 10; k++) {
            double te, ts;
            ck_assert_int_eq(crmt_certifier_tau(emp, m, k, &te), CRMT_OK);
            ck_assert_int_eq(crmt_certifier_tau(plain, m, k, &ts), CRMT_OK);
            ck_assert_msg(te > 0.0 && te <= ts, "tau %d,%d: empirical %g sound %g", m, k, te, ts);
        }
    crmt_certificate e0;
    cert_init(&e0);
    const float *x0[2] = {inputs[0], inputs[1]};
    ck_assert_int_eq(crmt_certify_radius(emp, x0, CRMT_LABEL_PREDICTED, &e0), CRMT_OK);
    ck_assert_int_eq(e0.lipschitz, CRMT_LIPSCHITZ_EMPIRICAL);
    double ejoint[5], emean;
    ck_assert_int_eq(crmt_certified_accuracy(emp, digits.test, radii, 5, ejoint, NULL, &emean),
                     CRMT_OK);
    printf("certified accuracy (CRMT seed 4, empirical estimate): r>=0.1 %.3f, 0.2 %.3f, 0.5 "
           "%.3f; mean radius %.4f\n",
           ejoint[2], ejoint[3], ejoint[4], emean);

    free(fillbuf);
    free(a);
    free(b);
    crmt_certifier_destroy(emp);
    crmt_certifier_destroy(plain);
    crmt_certifier_destroy(cert);
    crmt_model_destroy(model);
    crmt_test_digits_free(&digits);
}
END_TEST

/* ---- threads --------------------------------------------------------------------------- */

typedef struct thread_job {
    const crmt_certifier *cert;
    const float *inputs[2];
    const int32_t *labels;
    size_t n;
    const crmt_certificate *expect;       /* from single-sample calls */
    const crmt_certificate *expect_batch; /* from one batch call */
    int bad; /* 1: make failing calls and check this thread's own message */
    int errors;
} thread_job;

static int same_certificate(const crmt_certificate *a, const crmt_certificate *b)
{
    if (a->predicted != b->predicted || a->certified != b->certified ||
        a->closest_class != b->closest_class || a->radius != b->radius ||
        a->margin != b->margin)
        return 0;
    for (int m = 0; m < 2; m++)
        if (a->modality_radius[m] != b->modality_radius[m] ||
            a->missing_survives[m] != b->missing_survives[m])
            return 0;
    return 1;
}

static void *thread_main(void *arg)
{
    thread_job *job = arg;
    float nan_input[48];
    for (int rep = 0; rep < 3; rep++) {
        for (size_t i = 0; i < job->n; i++) {
            const float *x[2] = {job->inputs[0] + i * 16, job->inputs[1] + i * 48};
            if (job->bad) {
                memcpy(nan_input, x[1], sizeof nan_input);
                nan_input[i % 48] = NAN;
                x[1] = nan_input;
            }
            crmt_certificate ct;
            cert_init(&ct);
            crmt_status st = crmt_certify_radius(job->cert, x, job->labels[i], &ct);
            if (job->bad) {
                if (st != CRMT_ERR_NON_FINITE || !strstr(crmt_last_error(), "modality 1"))
                    job->errors++;
            } else if (st != CRMT_OK || !same_certificate(&ct, &job->expect[i])) {
                job->errors++;
            }
        }
        if (!job->bad) {
            crmt_certificate *all = malloc(sizeof *all * job->n);
            all[0].struct_size = sizeof *all;
            if (crmt_certify_batch(job->cert, job->inputs, job->n, job->labels, all) != CRMT_OK)
                job->errors++;
            else
                for (size_t i = 0; i < job->n; i++)
                    if (!same_certificate(&all[i], &job->expect_batch[i]))
                        job->errors++;
            free(all);
            if (strcmp(crmt_last_error(), "") != 0)
                job->errors++; /* another thread's failures never show up here */
        }
    }
    return NULL;
}

START_TEST(test_concurrent_certification)
{
    crmt_test_digits_load(&digits);
    crmt_model *model = trained_digits_model(CRMT_HEAD_JT, 5, 4);
    crmt_certifier *cert = sound_certifier(model);
    const size_t n = 120;
    const float *inputs[2] = {crmt_dataset_data(digits.test, 0), crmt_dataset_data(digits.test, 1)};
    const int32_t *labels = crmt_dataset_labels(digits.test);
    /* reference answers from this thread; single calls and one batch call may differ in the
     * last bits (BLAS blocking depends on the batch size), so each is compared with its own */
    crmt_certificate *expect = malloc(sizeof *expect * n), *expect_batch = malloc(sizeof *expect * n);
    expect_batch[0].struct_size = sizeof *expect;
    ck_assert_int_eq(crmt_certify_batch(cert, inputs, n, labels, expect_batch), CRMT_OK);
    for (size_t i = 0; i < n; i++) {
        const float *x[2] = {inputs[0] + i * 16, inputs[1] + i * 48};
        cert_init(&expect[i]);
        ck_assert_int_eq(crmt_certify_radius(cert, x, labels[i], &expect[i]), CRMT_OK);
        ck_assert_int_eq(expect[i].certified, expect_batch[i].certified);
        if (expect[i].certified)
            ck_assert(fabs(expect[i].radius - expect_batch[i].radius) <= 1e-9 * expect[i].radius);
    }
    enum { N_THREADS = 6 };
    pthread_t th[N_THREADS];
    thread_job jobs[N_THREADS];
    for (int t = 0; t < N_THREADS; t++) {
        jobs[t] = (thread_job){cert, {inputs[0], inputs[1]}, labels, n, expect, expect_batch,
                               t == 0, 0};
        ck_assert_int_eq(pthread_create(&th[t], NULL, thread_main, &jobs[t]), 0);
    }
    int errors = 0;
    for (int t = 0; t < N_THREADS; t++) {
        ck_assert_int_eq(pthread_join(th[t], NULL), 0);
        errors += jobs[t].errors;
    }
    printf("threads: %d threads x 3 rounds x %zu samples (single and batch calls, one thread "
           "failing on purpose): %d mismatches\n",
           N_THREADS, n, errors);
    ck_assert_int_eq(errors, 0);
    free(expect);
    free(expect_batch);
    crmt_certifier_destroy(cert);
    crmt_model_destroy(model);
    crmt_test_digits_free(&digits);
}
END_TEST

/* ---- bad inputs and stale certifiers --------------------------------------------------- */

#define EXPECT_FAIL(call, status)                                                              \
    do {                                                                                       \
        crmt_clear_error();                                                                    \
        ck_assert_int_eq((call), (status));                                                    \
        ck_assert_msg(crmt_last_error()[0] != '\0', "no message for " #call);                  \
    } while (0)

START_TEST(test_bad_inputs)
{
    crmt_test_digits_load(&digits);
    crmt_model *model = trained_digits_model(CRMT_HEAD_CRMT, 6, 2);
    crmt_certifier *cert = NULL;
    crmt_certifier_options co;
    EXPECT_FAIL(crmt_certifier_create(NULL, model, NULL), CRMT_ERR_INVALID_ARGUMENT);
    EXPECT_FAIL(crmt_certifier_create(&cert, NULL, NULL), CRMT_ERR_INVALID_ARGUMENT);
    ck_assert_ptr_null(cert);
    EXPECT_FAIL(crmt_certifier_options_init(&co, 4), CRMT_ERR_INVALID_ARGUMENT);
    EXPECT_FAIL(crmt_certifier_options_init(NULL, sizeof co), CRMT_ERR_INVALID_ARGUMENT);
    crmt_certifier_options_init(&co, sizeof co);
    co.struct_size = 3;
    EXPECT_FAIL(crmt_certifier_create(&cert, model, &co), CRMT_ERR_INVALID_ARGUMENT);
    crmt_certifier_options_init(&co, sizeof co);
    co.lipschitz = (crmt_lipschitz_method)7;
    EXPECT_FAIL(crmt_certifier_create(&cert, model, &co), CRMT_ERR_INVALID_ARGUMENT);
    co.lipschitz = CRMT_LIPSCHITZ_EMPIRICAL;
    EXPECT_FAIL(crmt_certifier_create(&cert, model, &co), CRMT_ERR_INVALID_ARGUMENT);
    /* a dataset of the wrong shape */
    crmt_dataset *one = NULL;
    ck_assert_int_eq(crmt_dataset_create(&one, 3, 1), CRMT_OK);
    float ones[3 * 16];
    for (int i = 0; i < 48; i++)
        ones[i] = 1.0f;
    ck_assert_int_eq(crmt_dataset_set_modality(one, 0, ones, 16, CRMT_COPY), CRMT_OK);
    const int32_t lab3[3] = {0, 1, 2};
    ck_assert_int_eq(crmt_dataset_set_labels(one, lab3), CRMT_OK);
    co.lipschitz_data = one;
    EXPECT_FAIL(crmt_certifier_create(&cert, model, &co), CRMT_ERR_SHAPE);
    crmt_certifier_options_init(&co, sizeof co);
    float nanfill[48] = {0};
    nanfill[3] = NAN;
    const float *fills[2] = {NULL, nanfill};
    co.fill = fills;
    EXPECT_FAIL(crmt_certifier_create(&cert, model, &co), CRMT_ERR_NON_FINITE);
    crmt_certifier_options_init(&co, sizeof co);
    const double badscale[2] = {1.0, 0.0};
    co.input_scale = badscale;
    EXPECT_FAIL(crmt_certifier_create(&cert, model, &co), CRMT_ERR_INVALID_ARGUMENT);
    /* unknown non-zero tail */
    struct {
        crmt_certifier_options o;
        int extra;
    } big;
    memset(&big, 0, sizeof big);
    crmt_certifier_options_init(&big.o, sizeof big);
    big.extra = 1;
    EXPECT_FAIL(crmt_certifier_create(&cert, model, &big.o), CRMT_ERR_INVALID_ARGUMENT);
    big.extra = 0;
    ck_assert_int_eq(crmt_certifier_create(&cert, model, &big.o), CRMT_OK);
    crmt_certifier_destroy(cert);
    cert = sound_certifier(model);

    const float *x[2] = {crmt_dataset_data(digits.test, 0), crmt_dataset_data(digits.test, 1)};
    crmt_certificate ct;
    cert_init(&ct);
    EXPECT_FAIL(crmt_certify_radius(NULL, x, 0, &ct), CRMT_ERR_INVALID_ARGUMENT);
    EXPECT_FAIL(crmt_certify_radius(cert, NULL, 0, &ct), CRMT_ERR_INVALID_ARGUMENT);
    EXPECT_FAIL(crmt_certify_radius(cert, x, 0, NULL), CRMT_ERR_INVALID_ARGUMENT);
    const float *half[2] = {x[0], NULL};
    EXPECT_FAIL(crmt_certify_radius(cert, half, 0, &ct), CRMT_ERR_INVALID_ARGUMENT);
    EXPECT_FAIL(crmt_certify_radius(cert, x, 10, &ct), CRMT_ERR_INVALID_ARGUMENT);
    EXPECT_FAIL(crmt_certify_radius(cert, x, -2, &ct), CRMT_ERR_INVALID_ARGUMENT);
    ct.struct_size = 0;
    EXPECT_FAIL(crmt_certify_radius(cert, x, 0, &ct), CRMT_ERR_INVALID_ARGUMENT);
    cert_init(&ct);
    float bad[48];
    memcpy(bad, x[1], sizeof bad);
    bad[7] = NAN;
    const float *xn[2] = {x[0], bad};
    EXPECT_FAIL(crmt_certify_radius(cert, xn, 0, &ct), CRMT_ERR_NON_FINITE);
    bad[7] = INFINITY;
    EXPECT_FAIL(crmt_certify_radius(cert, xn, CRMT_LABEL_PREDICTED, &ct), CRMT_ERR_NON_FINITE);
    EXPECT_FAIL(crmt_certify_batch(cert, x, 0, NULL, &ct), CRMT_ERR_INVALID_ARGUMENT);
    int32_t labels2[2] = {0, 11};
    crmt_certificate two[2];
    cert_init(&two[0]);
    EXPECT_FAIL(crmt_certify_batch(cert, x, 2, labels2, two), CRMT_ERR_INVALID_ARGUMENT);
    /* datasets of the wrong shape or labels */
    double acc[1];
    const double r0[1] = {0.0};
    EXPECT_FAIL(crmt_certified_accuracy(cert, one, r0, 1, acc, NULL, NULL), CRMT_ERR_SHAPE);
    EXPECT_FAIL(crmt_certified_accuracy(cert, NULL, r0, 1, acc, NULL, NULL),
                CRMT_ERR_INVALID_ARGUMENT);
    EXPECT_FAIL(crmt_certified_accuracy(cert, digits.test, NULL, 1, acc, NULL, NULL),
                CRMT_ERR_INVALID_ARGUMENT);
    const double rneg[1] = {-1.0};
    EXPECT_FAIL(crmt_certified_accuracy(cert, digits.test, rneg, 1, acc, NULL, NULL),
                CRMT_ERR_INVALID_ARGUMENT);
    crmt_dataset *wrongdim = NULL;
    ck_assert_int_eq(crmt_dataset_create(&wrongdim, 1, 2), CRMT_OK);
    ck_assert_int_eq(crmt_dataset_set_modality(wrongdim, 0, ones, 16, CRMT_COPY), CRMT_OK);
    ck_assert_int_eq(crmt_dataset_set_modality(wrongdim, 1, ones, 40, CRMT_COPY), CRMT_OK);
    ck_assert_int_eq(crmt_dataset_set_labels(wrongdim, lab3), CRMT_OK);
    EXPECT_FAIL(crmt_certified_accuracy(cert, wrongdim, r0, 1, acc, NULL, NULL), CRMT_ERR_SHAPE);
    crmt_dataset *biglabel = NULL;
    float sample[64] = {0};
    const int32_t l10[1] = {10};
    ck_assert_int_eq(crmt_dataset_create(&biglabel, 1, 2), CRMT_OK);
    ck_assert_int_eq(crmt_dataset_set_modality(biglabel, 0, sample, 16, CRMT_COPY), CRMT_OK);
    ck_assert_int_eq(crmt_dataset_set_modality(biglabel, 1, sample, 48, CRMT_COPY), CRMT_OK);
    ck_assert_int_eq(crmt_dataset_set_labels(biglabel, l10), CRMT_OK);
    EXPECT_FAIL(crmt_certified_accuracy(cert, biglabel, r0, 1, acc, NULL, NULL), CRMT_ERR_SHAPE);
    double tau;
    EXPECT_FAIL(crmt_certifier_tau(cert, 2, 0, &tau), CRMT_ERR_INVALID_ARGUMENT);
    EXPECT_FAIL(crmt_certifier_tau(cert, 0, 10, &tau), CRMT_ERR_INVALID_ARGUMENT);

    /* a good call still works and clears nothing it should not */
    ck_assert_int_eq(crmt_certify_radius(cert, x, CRMT_LABEL_PREDICTED, &ct), CRMT_OK);

    /* stale: one optimizer step through crmt_train_step changes the model */
    crmt_optimizer *opt = NULL;
    ck_assert_int_eq(crmt_optimizer_create(&opt, model, CRMT_OPTIMIZER_SGD), CRMT_OK);
    ck_assert_int_eq(
        crmt_train_step(model, opt, x, crmt_dataset_labels(digits.test), 8, NULL, NULL), CRMT_OK);
    EXPECT_FAIL(crmt_certify_radius(cert, x, CRMT_LABEL_PREDICTED, &ct), CRMT_ERR_STATE);
    ck_assert_ptr_nonnull(strstr(crmt_last_error(), "changed"));
    EXPECT_FAIL(crmt_certify_batch(cert, x, 1, NULL, &ct), CRMT_ERR_STATE);
    EXPECT_FAIL(crmt_certified_accuracy(cert, digits.test, r0, 1, acc, NULL, NULL), CRMT_ERR_STATE);
    crmt_evaluate_options eo;
    crmt_evaluate_options_init(&eo, sizeof eo);
    eo.certifier = cert;
    crmt_evaluation_report rep;
    memset(&rep, 0, sizeof rep);
    rep.struct_size = sizeof rep;
    EXPECT_FAIL(crmt_evaluate(model, digits.test, &eo, &rep), CRMT_ERR_STATE);
    crmt_certifier_destroy(cert);
    cert = sound_certifier(model); /* a new one works */
    ck_assert_int_eq(crmt_certify_radius(cert, x, CRMT_LABEL_PREDICTED, &ct), CRMT_OK);
    crmt_certifier_destroy(cert);
    crmt_certifier_destroy(NULL);
    crmt_optimizer_destroy(opt);
    crmt_dataset_destroy(one);
    crmt_dataset_destroy(wrongdim);
    crmt_dataset_destroy(biglabel);
    crmt_model_destroy(model);
    crmt_test_digits_free(&digits);
}
END_TEST

/* ---- independent NumPy reference ---------------------------------------------------------- */

/* Save the model to model_path (crmt_model_save, docs/file-format.md) and append to the dump
 * its path, the samples (C99 hex floats, exact) and the certifier's answers, in the plain-text
 * format scripts/reference_certify.py reads. */
static void dump_case(FILE *f, const char *model_path, const crmt_model *model,
                      const float *const *inputs, size_t n, const int32_t *labels)
{
    const int M = model->n_mod;
    ck_assert_int_eq(crmt_model_save(model, model_path), CRMT_OK);
    fprintf(f, "case %s\n", model_path);
    crmt_certifier *cert = sound_certifier(model);
    crmt_certificate *ct = malloc(sizeof *ct * n);
    ct[0].struct_size = sizeof *ct;
    ck_assert_int_eq(crmt_certify_batch(cert, inputs, n, labels, ct), CRMT_OK);
    fprintf(f, "samples %zu\n", n);
    for (size_t i = 0; i < n; i++) {
        fprintf(f, "sample %d %d %d %d %.17g %.17g", labels ? (int)labels[i] : -1,
                (int)ct[i].predicted, ct[i].certified, (int)ct[i].closest_class, ct[i].radius,
                ct[i].margin);
        for (int m = 0; m < M; m++)
            fprintf(f, " %.17g", ct[i].modality_radius[m]);
        fprintf(f, "\n");
        for (int m = 0; m < M; m++)
            for (int c = 0; c < model->enc[m].in_size; c++)
                fprintf(f, "%a\n", (double)inputs[m][i * model->enc[m].in_size + c]);
    }
    free(ct);
    crmt_certifier_destroy(cert);
}

/* Fused runner-up of a sample differs from the certifier's closest class. */
static int count_runner_up_differs(const crmt_model *model, const float *const *inputs,
                                   size_t n)
{
    crmt_certifier *cert = sound_certifier(model);
    int count = 0;
    const int K = model->n_classes;
    for (size_t i = 0; i < n; i++) {
        const float *x[CRMT_MAX_MODALITIES];
        for (int m = 0; m < model->n_mod; m++)
            x[m] = inputs[m] + i * model->enc[m].in_size;
        crmt_certificate ct;
        cert_init(&ct);
        ck_assert_int_eq(crmt_certify_radius(cert, x, CRMT_LABEL_PREDICTED, &ct), CRMT_OK);
        float h[64];
        ck_assert_int_eq(crmt_model_predict(model, x, 1, NULL, h), CRMT_OK);
        int second = -1;
        for (int k = 0; k < K; k++)
            if (k != ct.predicted && (second < 0 || h[k] > h[second]))
                second = k;
        if (ct.certified && second != ct.closest_class)
            count++;
    }
    crmt_certifier_destroy(cert);
    return count;
}

/* dump_case on the first n digits test samples with their labels; returns
 * count_runner_up_differs on them. */
static int dump_digits_case(FILE *f, const char *model_path, const crmt_model *model, size_t n)
{
    const float *x[2] = {crmt_dataset_data(digits.test, 0), crmt_dataset_data(digits.test, 1)};
    const int differs = count_runner_up_differs(model, x, n);
    dump_case(f, model_path, model, x, n, crmt_dataset_labels(digits.test));
    return differs;
}

/* dump_case on n unlabelled samples whose inputs are drawn from N(0, 1) (modality by
 * modality, sample by sample); returns count_runner_up_differs on them. */
static int dump_random_case(FILE *f, const char *model_path, const crmt_model *model, size_t n,
                            crmti_rng *rng)
{
    float *xs[CRMT_MAX_MODALITIES];
    for (int m = 0; m < model->n_mod; m++) {
        const size_t count = n * (size_t)model->enc[m].in_size;
        xs[m] = malloc(sizeof(float) * count);
        for (size_t i = 0; i < count; i++)
            xs[m][i] = (float)crmti_rng_normal(rng);
    }
    const int differs = count_runner_up_differs(model, (const float *const *)xs, n);
    dump_case(f, model_path, model, (const float *const *)xs, n, NULL);
    for (int m = 0; m < model->n_mod; m++)
        free(xs[m]);
    return differs;
}

/* Every conv2d and average pooling operator of model is small enough for the library's
 * explicit (Gram iteration) bound, within ~3e-5 of the exact norm the reference computes:
 * the Fourier and norm-1/inf bounds could be much looser than the 1e-4 the check allows. */
static void assert_explicit_conv_bounds(const crmt_model *model)
{
    for (int m = 0; m < model->n_mod; m++)
        for (int l = 0; l < model->enc[m].n_layers; l++) {
            const crmti_layer *ly = &model->enc[m].layers[l];
            double rows, cols;
            if (ly->kind == CRMTI_LAYER_CONV2D) {
                rows = ly->out_size;
                cols = ly->in_size;
            } else if (ly->kind == CRMTI_LAYER_AVGPOOL) { /* bounded on one channel */
                rows = (double)ly->out_h * ly->out_w;
                cols = (double)ly->in_h * ly->in_w;
            } else {
                continue;
            }
            ck_assert_msg(rows * cols <= CRMTI_CONV_EXPLICIT_MAX_ENTRIES &&
                              (rows < cols ? rows : cols) <= CRMTI_CONV_EXPLICIT_MAX_SIDE,
                          "modality %d layer %d: %g x %g operator above the explicit bound's "
                          "limits",
                          m, l, rows, cols);
        }
}

static const char *find_python(void)
{
    static const char *candidates[] = {"python3", "/usr/bin/python3", "/usr/local/bin/python3"};
    const char *env = getenv("CRMT_PYTHON");
    if (env && *env) {
        char cmd[512];
        snprintf(cmd, sizeof cmd, "%s -c 'import numpy' >/dev/null 2>&1", env);
        if (system(cmd) == 0)
            return env;
    }
    for (size_t i = 0; i < sizeof candidates / sizeof candidates[0]; i++) {
        char cmd[512];
        snprintf(cmd, sizeof cmd, "%s -c 'import numpy' >/dev/null 2>&1", candidates[i]);
        if (system(cmd) == 0)
            return candidates[i];
    }
    return NULL;
}

START_TEST(test_numpy_reference)
{
    const char *python = find_python();
    if (!python) {
        printf("reference check SKIPPED: no python3 with numpy (set CRMT_PYTHON)\n");
        return;
    }
    crmt_test_digits_load(&digits);
    char dir[] = "/tmp/crmt_refXXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    enum { N_CASES = 7 };
    char path[64], models[N_CASES][64];
    snprintf(path, sizeof path, "%s/dump.txt", dir);
    for (int c = 0; c < N_CASES; c++)
        snprintf(models[c], sizeof models[c], "%s/case%d.crmt", dir, c);
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    int runner_up_cases = 0;
    /* 1: the hand-made model whose closest class is not the runner-up */
    {
        crmt_model *model = closest_not_runner_up_model();
        const float x0[4] = {1.0f, 0.5f, -0.2f, 0.7f};
        const float *x[1] = {x0};
        runner_up_cases += count_runner_up_differs(model, x, 2);
        dump_case(f, models[0], model, x, 2, NULL);
        crmt_model_destroy(model);
    }
    /* 2, 3: trained digits models, 150 test samples with their labels */
    for (int head = 0; head < 2; head++) {
        crmt_model *model = trained_digits_model((crmt_head_kind)head, 7, 8);
        runner_up_cases += dump_digits_case(f, models[1 + head], model, 150);
        crmt_model_destroy(model);
    }
    /* 4: three modalities, runs of linear layers before and after ReLUs, random weights */
    {
        const int in_dims[3] = {7, 5, 4}; /* modality 2: d = 4 < K, row-normalised head */
        const char *layers[3] = {"LLRL", "RLLRLL", ""};
        const int widths[7] = {9, 8, 10, 6, 12, 7, 9};
        crmt_model *model = build(5, 3, in_dims, layers, widths, CRMT_HEAD_CRMT, 11);
        crmti_rng rng;
        crmti_rng_seed(&rng, 4);
        float *a = model->params + model->head_a_offset;
        for (int i = 0; i < 15; i++)
            a[i] = (float)(0.1 + crmti_rng_uniform(&rng));
        float *b = model->params + model->head_b_offset;
        for (int k = 0; k < 5; k++)
            b[k] = (float)(0.2 * crmti_rng_normal(&rng));
        runner_up_cases += dump_random_case(f, models[3], model, 60, &rng);
        crmt_model_destroy(model);
    }
    /* 5, 6: trained image encoders (format version 2; conv2d with stride 1 and 2 and padding,
     * max and average pooling with and without overlap, flatten, a linear run before the last
     * ReLU), JT and CRMT heads, 150 test samples with their labels */
    for (int head = 0; head < 2; head++) {
        crmt_model *model = conv_digits_model((crmt_head_kind)head, head, 21 + (uint64_t)head);
        assert_explicit_conv_bounds(model);
        crmt_test_digits_train(model, digits.train, CRMT_SCHEDULE_CONSTANT, 8,
                               21 + (uint64_t)head);
        runner_up_cases += dump_digits_case(f, models[4 + head], model, 150);
        crmt_model_destroy(model);
    }
    /* 7: random image encoders, three modalities, CRMT head with K = 4:
     *   2x5x7: conv(3, k4, s1, p2) avgpool(3, 1) (overlapping) relu conv(2, k2, s3, p0)
     *          (stride > kernel; the encoder ends with a conv: nothing folded, d = 4 = K,
     *          orthonormal head rows)
     *   1x6x6: maxpool(3, 1) (overlapping, cover 9) conv(2, k3, s2, p1) flatten linear(5)
     *          linear(3) (a folded run of two linear layers; d = 3 < K, row-normalised)
     *   1x3x4: flatten linear(6) relu linear(5) */
    {
        crmt_spec *spec;
        ck_assert_int_eq(crmt_spec_create(&spec, 4), CRMT_OK);
        ck_assert_int_eq(crmt_spec_add_modality_image(spec, "a", 2, 5, 7, NULL), CRMT_OK);
        ck_assert_int_eq(crmt_spec_add_modality_image(spec, "b", 1, 6, 6, NULL), CRMT_OK);
        ck_assert_int_eq(crmt_spec_add_modality_image(spec, "c", 1, 3, 4, NULL), CRMT_OK);
        ck_assert_int_eq(crmt_spec_add_conv2d(spec, 0, 3, 4, 1, 2), CRMT_OK);
        ck_assert_int_eq(crmt_spec_add_avgpool(spec, 0, 3, 1), CRMT_OK);
        ck_assert_int_eq(crmt_spec_add_relu(spec, 0), CRMT_OK);
        ck_assert_int_eq(crmt_spec_add_conv2d(spec, 0, 2, 2, 3, 0), CRMT_OK);
        ck_assert_int_eq(crmt_spec_add_maxpool(spec, 1, 3, 1), CRMT_OK);
        ck_assert_int_eq(crmt_spec_add_conv2d(spec, 1, 2, 3, 2, 1), CRMT_OK);
        ck_assert_int_eq(crmt_spec_add_flatten(spec, 1), CRMT_OK);
        ck_assert_int_eq(crmt_spec_add_linear(spec, 1, 5), CRMT_OK);
        ck_assert_int_eq(crmt_spec_add_linear(spec, 1, 3), CRMT_OK);
        ck_assert_int_eq(crmt_spec_add_flatten(spec, 2), CRMT_OK);
        ck_assert_int_eq(crmt_spec_add_linear(spec, 2, 6), CRMT_OK);
        ck_assert_int_eq(crmt_spec_add_relu(spec, 2), CRMT_OK);
        ck_assert_int_eq(crmt_spec_add_linear(spec, 2, 5), CRMT_OK);
        ck_assert_int_eq(crmt_spec_set(spec, CRMT_SPEC_HEAD, CRMT_HEAD_CRMT), CRMT_OK);
        crmt_model *model = NULL;
        ck_assert_int_eq(crmt_model_create(&model, spec, 13), CRMT_OK);
        crmt_spec_destroy(spec);
        ck_assert_int_eq(model->enc[0].out_size, 4);
        ck_assert_int_eq(model->enc[1].out_size, 3);
        assert_explicit_conv_bounds(model);
        crmti_rng rng;
        crmti_rng_seed(&rng, 5);
        float *a = model->params + model->head_a_offset;
        for (int i = 0; i < 12; i++)
            a[i] = (float)(0.1 + crmti_rng_uniform(&rng));
        runner_up_cases += dump_random_case(f, models[6], model, 60, &rng);
        crmt_model_destroy(model);
    }
    fclose(f);
    ck_assert_msg(runner_up_cases >= 2, "only %d samples whose closest class is not the runner-up",
                  runner_up_cases);
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "%s %s/../../scripts/reference_certify.py %s", python,
             CRMT_TEST_DATA_DIR, path);
    fflush(stdout);
    int rc = system(cmd);
    printf("reference check (%s): %d certified samples whose closest class is not the runner-up; "
           "exit status %d\n",
           python, runner_up_cases, rc);
    unlink(path);
    for (int c = 0; c < N_CASES; c++)
        unlink(models[c]);
    rmdir(dir);
    ck_assert_int_eq(rc, 0);
    crmt_test_digits_free(&digits);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("certify");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_linear_closed_form);
    tcase_add_test(tc, test_closest_is_not_runner_up);
    tcase_add_test(tc, test_prediction_is_the_float_forward);
    tcase_add_test(tc, test_rounding_bounds_hold);
    tcase_add_test(tc, test_soundness_against_attacks);
    tcase_add_test(tc, test_missing_raw_and_accuracy);
    tcase_add_test(tc, test_concurrent_certification);
    tcase_add_test(tc, test_bad_inputs);
    tcase_add_test(tc, test_numpy_reference);
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
