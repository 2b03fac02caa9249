/* Attacks (src/robust/attack.c, crmt_attack) and crmt_evaluate: budgets and projections,
 * FGM against its closed form on linear models, PGD against the exact distance to the
 * decision boundary, the reusable internal interface (CRMT-AT configuration), evaluation
 * figures cross-checked against the single-purpose calls, and bad inputs. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crmt/crmt.h"
#include "test_models.h"
#include "digits.h"
#include "model/model.h"
#include "robust/attack.h"
#include "tensor/rng.h"

#define EXPECT_FAIL(call, status)                                                              \
    do {                                                                                       \
        crmt_clear_error();                                                                    \
        ck_assert_int_eq((call), (status));                                                    \
        ck_assert_msg(crmt_last_error()[0] != '\0', "no message for " #call);                  \
    } while (0)

static crmt_model *build(int k, int n_mod, const int *in_dims, const char *const *layers,
                         const int *widths, crmt_head_kind head, uint64_t seed)
{
    crmt_model *model = crmt_test_build_model(k, n_mod, in_dims, layers, widths, head,
                                              CRMT_NORM_AUTO, seed);
    ck_assert_msg(model != NULL, "model: %s", crmt_last_error());
    return model;
}

static float *random_inputs(crmti_rng *rng, size_t n, double sd)
{
    float *x = malloc(sizeof(float) * n);
    for (size_t i = 0; i < n; i++)
        x[i] = (float)(sd * crmti_rng_normal(rng));
    return x;
}

static void predict(const crmt_model *model, const float *const *x, size_t n, int32_t *out)
{
    ck_assert_int_eq(crmt_model_predict(model, x, n, out, NULL), CRMT_OK);
}

/* ---- budgets ----------------------------------------------------------------------------- */

START_TEST(test_budgets_and_modalities)
{
    const int in_dims[2] = {7, 11};
    const char *layers[2] = {"LRL", "LR"};
    const int widths[3] = {12, 8, 9};
    crmt_model *model = build(4, 2, in_dims, layers, widths, CRMT_HEAD_CRMT, 3);
    crmti_rng rng;
    crmti_rng_seed(&rng, 1);
    const int B = 40;
    float *x[2] = {random_inputs(&rng, B * 7, 1.0), random_inputs(&rng, B * 11, 1.0)};
    float *adv[2] = {malloc(sizeof(float) * B * 7), malloc(sizeof(float) * B * 11)};
    int32_t y[40], pred[40], pred_adv[40];
    predict(model, (const float *const *)x, B, y);
    crmti_ws *ws = crmti_ws_create(model, B);
    const double eps_list[3] = {0.0, 0.05, 0.7};
    int configs = 0;
    for (int e = 0; e < 3; e++)
        for (int mod = -1; mod < 2; mod++)
            for (int variant = 0; variant < 4; variant++) {
                crmti_attack_cfg cfg;
                if (variant == 0)
                    crmti_attack_cfg_fgm(&cfg, eps_list[e]);
                else
                    crmti_attack_cfg_pgd(&cfg, eps_list[e], 7, eps_list[e] / 3);
                cfg.modality = mod;
                cfg.random_start = variant >= 2;
                cfg.restarts = variant == 3 ? 3 : 1;
                cfg.keep_best = variant == 3;
                cfg.loss = variant == 2 ? CRMTI_LOSS_MARGIN : CRMTI_LOSS_CE;
                cfg.clip = variant == 1;
                cfg.clip_min = -1.5f;
                cfg.clip_max = 1.5f;
                float *scratch = malloc(sizeof(float) * crmti_attack_scratch_size(model, B, &cfg));
                crmti_pgd(model, ws, (const float *const *)x, y, B, &cfg, &rng, adv, scratch,
                          pred_adv);
                predict(model, (const float *const *)adv, B, pred);
                for (int i = 0; i < B; i++) {
                    ck_assert_int_eq(pred[i], pred_adv[i]);
                    double ss = 0.0;
                    for (int m = 0; m < 2; m++)
                        for (int c = 0; c < in_dims[m]; c++) {
                            const double d =
                                (double)adv[m][i * in_dims[m] + c] - x[m][i * in_dims[m] + c];
                            ss += d * d;
                            if (mod >= 0 && m != mod)
                                ck_assert(d == 0.0);
                        }
                    ck_assert_msg(sqrt(ss) <= eps_list[e], "eps %g modality %d variant %d: %.9g",
                                  eps_list[e], mod, variant, sqrt(ss));
                    if (eps_list[e] == 0.0)
                        ck_assert_int_eq(pred[i], y[i]);
                }
                free(scratch);
                configs++;
            }
    printf("budgets: %d configurations x %d samples within their l2 ball\n", configs, B);
    crmti_ws_destroy(ws);
    for (int m = 0; m < 2; m++) {
        free(x[m]);
        free(adv[m]);
    }
    crmt_model_destroy(model);
}
END_TEST

/* ---- linear models: FGM closed form, PGD vs exact distance -------------------------------- */

START_TEST(test_linear_fgm_and_pgd)
{
    /* two modalities with no encoder layers, JT head, two classes: h = W_1 x_1 + W_2 x_2 + b */
    const int in_dims[2] = {5, 3};
    const char *layers[2] = {"", ""};
    crmt_model *model = build(2, 2, in_dims, layers, NULL, CRMT_HEAD_JT, 9);
    model->params[model->head_b_offset] = 0.25f;
    crmti_rng rng;
    crmti_rng_seed(&rng, 2);
    const int B = 60;
    float *x[2] = {random_inputs(&rng, B * 5, 0.3), random_inputs(&rng, B * 3, 0.3)};
    float *adv[2] = {malloc(sizeof(float) * B * 5), malloc(sizeof(float) * B * 3)};
    int32_t y[60], pred[60];
    predict(model, (const float *const *)x, B, y);
    const float *w[2] = {model->params + model->head_w_offset[0],
                         model->params + model->head_w_offset[1]};
    /* effective direction d = (W_1 - W_0) per modality, joint and per-modality norms */
    double dvec[8], dn = 0.0, dn_m[2] = {0, 0};
    for (int m = 0, o = 0; m < 2; m++)
        for (int c = 0; c < in_dims[m]; c++, o++) {
            dvec[o] = (double)w[m][in_dims[m] + c] - w[m][c];
            dn += dvec[o] * dvec[o];
            dn_m[m] += dvec[o] * dvec[o];
        }
    dn = sqrt(dn);
    dn_m[0] = sqrt(dn_m[0]);
    dn_m[1] = sqrt(dn_m[1]);
    crmti_ws *ws = crmti_ws_create(model, B);
    crmti_attack_cfg cfg;
    crmti_attack_cfg_fgm(&cfg, 0.3);
    float *scratch = malloc(sizeof(float) * crmti_attack_scratch_size(model, B, &cfg));
    crmti_pgd(model, ws, (const float *const *)x, y, B, &cfg, NULL, adv, scratch, NULL);
    /* CE gradient of a two-class linear model points along +-(w_1 - w_0) */
    for (int i = 0; i < B; i++) {
        const double sign = y[i] == 0 ? 1.0 : -1.0;
        for (int m = 0, o = 0; m < 2; m++)
            for (int c = 0; c < in_dims[m]; c++, o++) {
                const double got = (double)adv[m][i * in_dims[m] + c] - x[m][i * in_dims[m] + c];
                const double want = 0.3 * sign * dvec[o] / dn;
                ck_assert_msg(fabs(got - want) <= 1e-5, "FGM coordinate %.9g, expected %.9g", got,
                              want);
            }
    }
    free(scratch);
    /* PGD succeeds just above the exact distance and fails just below it */
    int flips_above = 0, flips_below = 0, checked = 0;
    for (int mod = -1; mod < 2; mod++)
        for (int i = 0; i < B; i++) {
            const float *xi[2] = {x[0] + i * 5, x[1] + i * 3};
            float h[2];
            ck_assert_int_eq(crmt_model_predict(model, xi, 1, NULL, h), CRMT_OK);
            const double norm = mod < 0 ? dn : dn_m[mod];
            const double dist = fabs((double)h[1] - h[0]) / norm;
            for (int side = 0; side < 2; side++) {
                crmti_attack_cfg_pgd(&cfg, dist * (side ? 1.01 : 0.99), 20, dist / 4);
                cfg.modality = mod;
                cfg.loss = CRMTI_LOSS_MARGIN;
                cfg.keep_best = 1;
                float *sc = malloc(sizeof(float) * crmti_attack_scratch_size(model, 1, &cfg));
                float *ai[2] = {adv[0], adv[1]};
                int32_t p;
                crmti_pgd(model, ws, xi, &y[i], 1, &cfg, NULL, ai, sc, &p);
                if (side)
                    flips_above += p != y[i];
                else
                    flips_below += p != y[i];
                free(sc);
            }
            checked++;
        }
    printf("linear PGD: %d attacks at 1.01 x exact distance flipped %d; at 0.99 x flipped %d\n",
           checked, flips_above, flips_below);
    ck_assert_int_eq(flips_below, 0);
    ck_assert_int_eq(flips_above, checked);
    (void)pred;
    crmti_ws_destroy(ws);
    for (int m = 0; m < 2; m++) {
        free(x[m]);
        free(adv[m]);
    }
    crmt_model_destroy(model);
}
END_TEST

/* The configuration adversarial training uses: no rng, no tracking, small scratch. */
START_TEST(test_at_configuration)
{
    const int in_dims[2] = {6, 4};
    const char *layers[2] = {"LR", "L"};
    const int widths[2] = {10, 5};
    crmt_model *model = build(3, 2, in_dims, layers, widths, CRMT_HEAD_JT, 4);
    crmti_rng rng;
    crmti_rng_seed(&rng, 3);
    const int B = 16;
    float *x[2] = {random_inputs(&rng, B * 6, 1.0), random_inputs(&rng, B * 4, 1.0)};
    float *adv[2] = {malloc(sizeof(float) * B * 6), malloc(sizeof(float) * B * 4)};
    int32_t y[16];
    for (int i = 0; i < B; i++)
        y[i] = i % 3;
    crmti_attack_cfg cfg;
    crmti_attack_cfg_pgd(&cfg, 0.1, 5, 0.1 / 5);
    ck_assert_uint_eq(crmti_attack_scratch_size(model, B, &cfg), (size_t)B * 10);
    crmti_ws *ws = crmti_ws_create(model, B);
    float *scratch = malloc(sizeof(float) * B * 10);
    crmti_pgd(model, ws, (const float *const *)x, y, B, &cfg, NULL, adv, scratch, NULL);
    /* CE increases (each step climbs the loss of a locally smooth model) */
    double before = 0.0, after = 0.0;
    float logits[16 * 3], logits_adv[16 * 3];
    ck_assert_int_eq(crmt_model_predict(model, (const float *const *)x, B, NULL, logits), CRMT_OK);
    ck_assert_int_eq(crmt_model_predict(model, (const float *const *)adv, B, NULL, logits_adv),
                     CRMT_OK);
    for (int i = 0; i < B; i++) {
        double s0 = 0, s1 = 0;
        for (int k = 0; k < 3; k++) {
            s0 += exp(logits[i * 3 + k]);
            s1 += exp(logits_adv[i * 3 + k]);
        }
        before += log(s0) - logits[i * 3 + y[i]];
        after += log(s1) - logits_adv[i * 3 + y[i]];
    }
    ck_assert_msg(after > before, "CE %g after the attack, %g before", after, before);
    /* deterministic: the same call gives the same bits */
    float *again[2] = {malloc(sizeof(float) * B * 6), malloc(sizeof(float) * B * 4)};
    crmti_pgd(model, ws, (const float *const *)x, y, B, &cfg, NULL, again, scratch, NULL);
    ck_assert_int_eq(memcmp(adv[0], again[0], sizeof(float) * B * 6), 0);
    ck_assert_int_eq(memcmp(adv[1], again[1], sizeof(float) * B * 4), 0);
    free(scratch);
    crmti_ws_destroy(ws);
    for (int m = 0; m < 2; m++) {
        free(x[m]);
        free(adv[m]);
        free(again[m]);
    }
    crmt_model_destroy(model);
}
END_TEST

/* ---- public API and evaluation on digits ---------------------------------------------------- */

static crmt_digits digits;
static crmt_dataset *train_set, *test_set;

static crmt_model *trained(crmt_head_kind head, uint64_t seed)
{
    const int in_dims[2] = {16, 48};
    const char *layers[2] = {"LRL", "LRL"};
    const int widths[4] = {32, 16, 48, 16};
    crmt_model *model = build(10, 2, in_dims, layers, widths, head, seed);
    crmt_optimizer *opt = NULL;
    ck_assert_int_eq(crmt_optimizer_create(&opt, model, CRMT_OPTIMIZER_SGD), CRMT_OK);
    ck_assert_int_eq(crmt_optimizer_set(opt, CRMT_OPT_LR, head == CRMT_HEAD_CRMT ? 0.01 : 0.05),
                     CRMT_OK);
    ck_assert_int_eq(crmt_optimizer_set(opt, CRMT_OPT_MOMENTUM, 0.9), CRMT_OK);
    crmt_train_options o;
    ck_assert_int_eq(crmt_train_options_init(&o, sizeof o), CRMT_OK);
    o.method = head == CRMT_HEAD_CRMT ? CRMT_METHOD_CRMT : CRMT_METHOD_JT;
    o.epochs = 12;
    o.batch_size = 32;
    o.seed = seed;
    ck_assert_int_eq(crmt_train(model, opt, train_set, &o, NULL), CRMT_OK);
    crmt_optimizer_destroy(opt);
    return model;
}

static double attack_accuracy(const crmt_model *model, const crmt_dataset *d,
                              const crmt_attack_options *o)
{
    const size_t n = crmt_dataset_num_samples(d);
    const float *x[2] = {crmt_dataset_data(d, 0), crmt_dataset_data(d, 1)};
    float *adv[2] = {malloc(sizeof(float) * n * 16), malloc(sizeof(float) * n * 48)};
    int32_t *pred = malloc(sizeof(int32_t) * n), *pred2 = malloc(sizeof(int32_t) * n);
    ck_assert_int_eq(crmt_attack(model, x, crmt_dataset_labels(d), n, o, adv, pred), CRMT_OK);
    predict(model, (const float *const *)adv, n, pred2);
    size_t ok = 0;
    for (size_t i = 0; i < n; i++) {
        ck_assert_int_eq(pred[i], pred2[i]);
        ok += pred[i] == crmt_dataset_labels(d)[i];
    }
    free(adv[0]);
    free(adv[1]);
    free(pred);
    free(pred2);
    return (double)ok / n;
}

static void print_report(const char *name, const crmt_evaluation_report *r)
{
    printf("%-5s clean %.3f | FGM %.3f PGD %.3f | uni FGM %.3f/%.3f PGD %.3f/%.3f | missing "
           "%.3f/%.3f | cert@0.1 %.3f (%.3f/%.3f) cert@0.2 %.3f | mean r %.3f | %.2f s\n",
           name, r->clean_accuracy, r->fgm_accuracy, r->pgd_accuracy, r->fgm_modality_accuracy[0],
           r->fgm_modality_accuracy[1], r->pgd_modality_accuracy[0], r->pgd_modality_accuracy[1],
           r->missing_accuracy[0], r->missing_accuracy[1], r->certified_accuracy[2],
           r->modality_certified_accuracy[0][2], r->modality_certified_accuracy[1][2],
           r->certified_accuracy[3], r->mean_certified_radius, r->seconds);
}

START_TEST(test_evaluate_digits)
{
    ck_assert_int_eq(crmt_digits_load(crmt_digits_default_path(), &digits), CRMT_OK);
    ck_assert_int_eq(crmt_digits_make_datasets(&digits, CRMT_DIGITS_VIEW_UNBALANCED,
                                               CRMT_DIGITS_DEFAULT_TEST_FRACTION,
                                               CRMT_DIGITS_DEFAULT_SEED, &train_set, &test_set),
                     CRMT_OK);
    printf("digits rows 0-1 / rows 2-7, official presets (FGM 0.2, PGD 0.2 4 x eps/3), missing "
           "= zeros, sound certificates (uni = modality 0 / modality 1):\n");
    for (int head = 0; head < 2; head++) {
        crmt_model *model = trained((crmt_head_kind)head, 1);
        crmt_evaluate_options eo;
        ck_assert_int_eq(crmt_evaluate_options_init(&eo, sizeof eo), CRMT_OK);
        crmt_evaluation_report r;
        memset(&r, 0, sizeof r);
        r.struct_size = sizeof r;
        ck_assert_int_eq(crmt_evaluate(model, test_set, &eo, &r), CRMT_OK);
        print_report(head ? "CRMT" : "JT", &r);
        const size_t n = crmt_dataset_num_samples(test_set);
        ck_assert_uint_eq(r.n_samples, n);
        ck_assert_int_eq(r.n_modalities, 2);
        ck_assert_int_eq(r.lipschitz, CRMT_LIPSCHITZ_SOUND);
        ck_assert(r.seconds > 0.0);
        double acc;
        ck_assert_int_eq(crmt_model_accuracy(model, test_set, &acc), CRMT_OK);
        ck_assert(fabs(r.clean_accuracy - acc) < 1e-12);
        /* the same figures through crmt_attack with the presets */
        crmt_attack_options ao;
        ck_assert_int_eq(crmt_attack_options_init(&ao, sizeof ao, CRMT_ATTACK_PRESET_FGM), CRMT_OK);
        ck_assert(ao.steps == 1 && ao.epsilon == 0.2);
        ck_assert(fabs(attack_accuracy(model, test_set, &ao) - r.fgm_accuracy) < 1e-12);
        ao.modality = 1;
        ck_assert(fabs(attack_accuracy(model, test_set, &ao) - r.fgm_modality_accuracy[1]) < 1e-12);
        ck_assert_int_eq(crmt_attack_options_init(&ao, sizeof ao, CRMT_ATTACK_PRESET_PGD), CRMT_OK);
        ck_assert(ao.steps == 4 && ao.epsilon == 0.2 && ao.random_start == 0);
        ck_assert(fabs(attack_accuracy(model, test_set, &ao) - r.pgd_accuracy) < 1e-12);
        ck_assert(fabs(attack_accuracy(model, test_set, NULL) - r.pgd_accuracy) < 1e-12);
        ao.modality = 0;
        ck_assert(fabs(attack_accuracy(model, test_set, &ao) - r.pgd_modality_accuracy[0]) < 1e-12);
        /* attacks hurt, PGD at least as much as clean, within [0, 1] */
        ck_assert(r.pgd_accuracy <= r.clean_accuracy && r.fgm_accuracy <= r.clean_accuracy);
        for (int m = 0; m < 2; m++) {
            ck_assert(r.pgd_modality_accuracy[m] <= r.clean_accuracy);
            ck_assert(r.missing_accuracy[m] >= 0.0 && r.missing_accuracy[m] <= 1.0);
        }
        /* missing modality = prediction with zeros */
        float *zeros = calloc(n * 48, sizeof(float));
        int32_t *pred = malloc(sizeof(int32_t) * n);
        const float *xm[2] = {zeros, crmt_dataset_data(test_set, 1)};
        predict(model, xm, n, pred);
        size_t ok = 0;
        for (size_t i = 0; i < n; i++)
            ok += pred[i] == crmt_dataset_labels(test_set)[i];
        ck_assert(fabs(r.missing_accuracy[0] - (double)ok / n) < 1e-12);
        /* certified figures = crmt_certified_accuracy */
        crmt_certifier *cert = NULL;
        ck_assert_int_eq(crmt_certifier_create(&cert, model, NULL), CRMT_OK);
        double joint[6], per_mod[12], mean_r;
        ck_assert_uint_eq(r.n_radii, 6);
        ck_assert_int_eq(crmt_certified_accuracy(cert, test_set, r.radii, 6, joint, per_mod, &mean_r),
                         CRMT_OK);
        for (int k = 0; k < 6; k++) {
            ck_assert(fabs(joint[k] - r.certified_accuracy[k]) < 1e-12);
            ck_assert(fabs(per_mod[6 + k] - r.modality_certified_accuracy[1][k]) < 1e-12);
        }
        ck_assert(fabs(mean_r - r.mean_certified_radius) < 1e-12);
        ck_assert(r.certified_accuracy[0] <= r.clean_accuracy);
        /* a certified radius >= 0.2 means no 0.2-attack can succeed on that sample */
        ck_assert(r.certified_accuracy[3] <= r.pgd_accuracy + 1e-12);
        ck_assert(r.certified_accuracy[3] <= r.fgm_accuracy + 1e-12);

        /* given certifier, mean fill, eps 0, custom radii, restarts with random starts */
        const double radii[2] = {0.0, 0.3};
        eo.certifier = cert;
        eo.fill_mean_data = train_set;
        eo.fgm_epsilon = 0.0;
        eo.pgd_epsilon = 0.0;
        eo.radii = radii;
        eo.n_radii = 2;
        crmt_evaluation_report r2;
        memset(&r2, 0, sizeof r2);
        r2.struct_size = sizeof r2;
        ck_assert_int_eq(crmt_evaluate(model, test_set, &eo, &r2), CRMT_OK);
        ck_assert(r2.fgm_accuracy == r2.clean_accuracy && r2.pgd_accuracy == r2.clean_accuracy);
        ck_assert(r2.pgd_modality_accuracy[0] == r2.clean_accuracy);
        ck_assert_uint_eq(r2.n_radii, 2);
        ck_assert(r2.radii[1] == 0.3);
        ck_assert(r2.certified_accuracy[0] == r.certified_accuracy[0]);
        eo.pgd_epsilon = 0.5;
        eo.pgd_restarts = 3;
        eo.pgd_random_start = 1;
        eo.seed = 77;
        eo.certify = 0;
        eo.missing = 0;
        crmt_evaluation_report r3, r4;
        memset(&r3, 0, sizeof r3);
        r3.struct_size = sizeof r3;
        r4 = r3;
        ck_assert_int_eq(crmt_evaluate(model, test_set, &eo, &r3), CRMT_OK);
        ck_assert_int_eq(crmt_evaluate(model, test_set, &eo, &r4), CRMT_OK);
        ck_assert(r3.pgd_accuracy == r4.pgd_accuracy);
        ck_assert(r3.certified_accuracy[0] == 0.0 && r3.missing_accuracy[0] == 0.0);
        /* a host built against a newer, longer report: the known fields are filled, the
         * unknown tail is left alone and struct_size is kept */
        struct {
            crmt_evaluation_report r;
            char tail[8];
        } long_rep;
        memset(&long_rep, 0x5a, sizeof long_rep);
        long_rep.r.struct_size = sizeof long_rep;
        eo.certify = 1;
        ck_assert_int_eq(crmt_evaluate(model, test_set, &eo, &long_rep.r), CRMT_OK);
        ck_assert(long_rep.r.clean_accuracy == r.clean_accuracy);
        ck_assert_uint_eq(long_rep.r.struct_size, sizeof long_rep);
        ck_assert(long_rep.tail[0] == 0x5a && long_rep.tail[7] == 0x5a);
        long_rep.r.struct_size = offsetof(crmt_evaluation_report, seconds);
        EXPECT_FAIL(crmt_evaluate(model, test_set, &eo, &long_rep.r), CRMT_ERR_INVALID_ARGUMENT);
        free(zeros);
        free(pred);
        crmt_certifier_destroy(cert);
        crmt_model_destroy(model);
    }
    crmt_dataset_destroy(train_set);
    crmt_dataset_destroy(test_set);
    crmt_digits_free(&digits);
}
END_TEST

START_TEST(test_bad_inputs)
{
    const int in_dims[2] = {4, 3};
    const char *layers[2] = {"L", ""};
    const int widths[1] = {5};
    crmt_model *model = build(3, 2, in_dims, layers, widths, CRMT_HEAD_JT, 1);
    crmt_model *other = build(3, 2, in_dims, layers, widths, CRMT_HEAD_JT, 2);
    float x0[8] = {0.1f, 0.2f, 0.3f, 0.4f, 0.5f, 0.6f, 0.7f, 0.8f}, x1[6] = {1, 2, 3, 4, 5, 6};
    const float *x[2] = {x0, x1};
    float a0[8], a1[6];
    float *adv[2] = {a0, a1};
    int32_t y[2] = {0, 2};
    crmt_attack_options o;
    EXPECT_FAIL(crmt_attack_options_init(NULL, sizeof o, CRMT_ATTACK_PRESET_PGD),
                CRMT_ERR_INVALID_ARGUMENT);
    EXPECT_FAIL(crmt_attack_options_init(&o, 8, CRMT_ATTACK_PRESET_PGD), CRMT_ERR_INVALID_ARGUMENT);
    EXPECT_FAIL(crmt_attack_options_init(&o, sizeof o, (crmt_attack_preset)5),
                CRMT_ERR_INVALID_ARGUMENT);
    crmt_attack_options_init(&o, sizeof o, CRMT_ATTACK_PRESET_PGD);
    EXPECT_FAIL(crmt_attack(NULL, x, y, 2, &o, adv, NULL), CRMT_ERR_INVALID_ARGUMENT);
    EXPECT_FAIL(crmt_attack(model, NULL, y, 2, &o, adv, NULL), CRMT_ERR_INVALID_ARGUMENT);
    EXPECT_FAIL(crmt_attack(model, x, NULL, 2, &o, adv, NULL), CRMT_ERR_INVALID_ARGUMENT);
    EXPECT_FAIL(crmt_attack(model, x, y, 2, &o, NULL, NULL), CRMT_ERR_INVALID_ARGUMENT);
    EXPECT_FAIL(crmt_attack(model, x, y, 0, &o, adv, NULL), CRMT_ERR_INVALID_ARGUMENT);
    float *adv_overlap[2] = {x0, a1};
    EXPECT_FAIL(crmt_attack(model, x, y, 2, &o, adv_overlap, NULL), CRMT_ERR_INVALID_ARGUMENT);
    float *adv_null[2] = {a0, NULL};
    EXPECT_FAIL(crmt_attack(model, x, y, 2, &o, adv_null, NULL), CRMT_ERR_INVALID_ARGUMENT);
    int32_t ybad[2] = {0, 3};
    EXPECT_FAIL(crmt_attack(model, x, ybad, 2, &o, adv, NULL), CRMT_ERR_INVALID_ARGUMENT);
    x1[4] = NAN;
    EXPECT_FAIL(crmt_attack(model, x, y, 2, &o, adv, NULL), CRMT_ERR_NON_FINITE);
    x1[4] = 5;
    crmt_attack_options bad = o;
    bad.steps = 0;
    EXPECT_FAIL(crmt_attack(model, x, y, 2, &bad, adv, NULL), CRMT_ERR_INVALID_ARGUMENT);
    bad = o;
    bad.epsilon = -1;
    EXPECT_FAIL(crmt_attack(model, x, y, 2, &bad, adv, NULL), CRMT_ERR_INVALID_ARGUMENT);
    bad = o;
    bad.epsilon = NAN;
    EXPECT_FAIL(crmt_attack(model, x, y, 2, &bad, adv, NULL), CRMT_ERR_INVALID_ARGUMENT);
    bad = o;
    bad.modality = 2;
    EXPECT_FAIL(crmt_attack(model, x, y, 2, &bad, adv, NULL), CRMT_ERR_INVALID_ARGUMENT);
    bad = o;
    bad.loss = (crmt_attack_loss)9;
    EXPECT_FAIL(crmt_attack(model, x, y, 2, &bad, adv, NULL), CRMT_ERR_INVALID_ARGUMENT);
    bad = o;
    bad.restarts = 0;
    EXPECT_FAIL(crmt_attack(model, x, y, 2, &bad, adv, NULL), CRMT_ERR_INVALID_ARGUMENT);
    bad = o;
    bad.clip = 1;
    bad.clip_min = 2;
    bad.clip_max = 1;
    EXPECT_FAIL(crmt_attack(model, x, y, 2, &bad, adv, NULL), CRMT_ERR_INVALID_ARGUMENT);
    bad = o;
    bad.struct_size = 4;
    EXPECT_FAIL(crmt_attack(model, x, y, 2, &bad, adv, NULL), CRMT_ERR_INVALID_ARGUMENT);
    struct {
        crmt_attack_options o;
        double extra;
    } big;
    memset(&big, 0, sizeof big);
    crmt_attack_options_init(&big.o, sizeof big, CRMT_ATTACK_PRESET_FGM);
    big.extra = 1.0;
    EXPECT_FAIL(crmt_attack(model, x, y, 2, &big.o, adv, NULL), CRMT_ERR_INVALID_ARGUMENT);
    big.extra = 0.0;
    ck_assert_int_eq(crmt_attack(model, x, y, 2, &big.o, adv, NULL), CRMT_OK);
    ck_assert_int_eq(crmt_attack(model, x, y, 2, &o, adv, NULL), CRMT_OK);

    /* evaluate */
    crmt_dataset *d = NULL;
    ck_assert_int_eq(crmt_dataset_create(&d, 2, 2), CRMT_OK);
    ck_assert_int_eq(crmt_dataset_set_modality(d, 0, x0, 4, CRMT_COPY), CRMT_OK);
    ck_assert_int_eq(crmt_dataset_set_modality(d, 1, x1, 3, CRMT_COPY), CRMT_OK);
    ck_assert_int_eq(crmt_dataset_set_labels(d, y), CRMT_OK);
    crmt_evaluate_options eo;
    EXPECT_FAIL(crmt_evaluate_options_init(&eo, 2), CRMT_ERR_INVALID_ARGUMENT);
    crmt_evaluate_options_init(&eo, sizeof eo);
    crmt_evaluation_report r;
    memset(&r, 0, sizeof r);
    r.struct_size = sizeof r;
    EXPECT_FAIL(crmt_evaluate(NULL, d, &eo, &r), CRMT_ERR_INVALID_ARGUMENT);
    EXPECT_FAIL(crmt_evaluate(model, NULL, &eo, &r), CRMT_ERR_INVALID_ARGUMENT);
    EXPECT_FAIL(crmt_evaluate(model, d, &eo, NULL), CRMT_ERR_INVALID_ARGUMENT);
    r.struct_size = 0;
    EXPECT_FAIL(crmt_evaluate(model, d, &eo, &r), CRMT_ERR_INVALID_ARGUMENT);
    r.struct_size = sizeof r;
    double many[17] = {0};
    eo.radii = many;
    eo.n_radii = 17;
    EXPECT_FAIL(crmt_evaluate(model, d, &eo, &r), CRMT_ERR_INVALID_ARGUMENT);
    eo.n_radii = 1;
    many[0] = -0.5;
    EXPECT_FAIL(crmt_evaluate(model, d, &eo, &r), CRMT_ERR_INVALID_ARGUMENT);
    crmt_evaluate_options_init(&eo, sizeof eo);
    eo.batch_size = 0;
    EXPECT_FAIL(crmt_evaluate(model, d, &eo, &r), CRMT_ERR_INVALID_ARGUMENT);
    crmt_evaluate_options_init(&eo, sizeof eo);
    eo.pgd_steps = 0;
    EXPECT_FAIL(crmt_evaluate(model, d, &eo, &r), CRMT_ERR_INVALID_ARGUMENT);
    crmt_evaluate_options_init(&eo, sizeof eo);
    crmt_certifier *cert = NULL;
    ck_assert_int_eq(crmt_certifier_create(&cert, other, NULL), CRMT_OK);
    eo.certifier = cert;
    EXPECT_FAIL(crmt_evaluate(model, d, &eo, &r), CRMT_ERR_STATE);
    crmt_evaluate_options_init(&eo, sizeof eo);
    eo.lipschitz = CRMT_LIPSCHITZ_EMPIRICAL; /* without data */
    EXPECT_FAIL(crmt_evaluate(model, d, &eo, &r), CRMT_ERR_INVALID_ARGUMENT);
    crmt_dataset *wrong = NULL;
    ck_assert_int_eq(crmt_dataset_create(&wrong, 2, 1), CRMT_OK);
    ck_assert_int_eq(crmt_dataset_set_modality(wrong, 0, x0, 4, CRMT_COPY), CRMT_OK);
    ck_assert_int_eq(crmt_dataset_set_labels(wrong, y), CRMT_OK);
    crmt_evaluate_options_init(&eo, sizeof eo);
    EXPECT_FAIL(crmt_evaluate(model, wrong, &eo, &r), CRMT_ERR_SHAPE);
    eo.fill_mean_data = wrong;
    EXPECT_FAIL(crmt_evaluate(model, d, &eo, &r), CRMT_ERR_SHAPE);
    crmt_evaluate_options_init(&eo, sizeof eo);
    ck_assert_int_eq(crmt_evaluate(model, d, &eo, &r), CRMT_OK);
    ck_assert_int_eq(crmt_evaluate(model, d, NULL, &r), CRMT_OK);
    crmt_certifier_destroy(cert);
    crmt_dataset_destroy(d);
    crmt_dataset_destroy(wrong);
    crmt_model_destroy(model);
    crmt_model_destroy(other);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("attack");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_budgets_and_modalities);
    tcase_add_test(tc, test_linear_fgm_and_pgd);
    tcase_add_test(tc, test_at_configuration);
    tcase_add_test(tc, test_evaluate_digits);
    tcase_add_test(tc, test_bad_inputs);
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
