/* Training through the public API on real data: the handwritten digits split into two
 * modalities (image rows 0-1 and rows 2-7), plus determinism, the progress callback, the
 * single-step call and divergence handling. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crmt/crmt.h"
#include "digits_fixture.h"
#include "model/model.h"

/* crmti_backward, wrapped at link time (tests/CMakeLists.txt): when poison_next_gradient is
 * set, the next backward pass leaves a NaN in the first parameter gradient. */
void __real_crmti_backward(const crmt_model *model, crmti_ws *ws, const float *const *inputs,
                           int batch, float *dparams, float *const *dinputs);
void __wrap_crmti_backward(const crmt_model *model, crmti_ws *ws, const float *const *inputs,
                           int batch, float *dparams, float *const *dinputs);
static int poison_next_gradient;

void __wrap_crmti_backward(const crmt_model *model, crmti_ws *ws, const float *const *inputs,
                           int batch, float *dparams, float *const *dinputs)
{
    __real_crmti_backward(model, ws, inputs, batch, dparams, dinputs);
    if (poison_next_gradient && dparams) {
        dparams[0] = NAN;
        poison_next_gradient = 0;
    }
}

/* The digits split, loaded by each test. */
static crmt_test_digits digits;

static crmt_optimizer *make_sgd(crmt_model *model)
{
    crmt_optimizer *opt = NULL;
    ck_assert_int_eq(crmt_optimizer_create(&opt, model, CRMT_OPTIMIZER_SGD), CRMT_OK);
    ck_assert_int_eq(crmt_optimizer_set(opt, CRMT_OPT_LR, 0.05), CRMT_OK);
    ck_assert_int_eq(crmt_optimizer_set(opt, CRMT_OPT_MOMENTUM, 0.9), CRMT_OK);
    ck_assert_int_eq(crmt_optimizer_set(opt, CRMT_OPT_WEIGHT_DECAY, 1e-4), CRMT_OK);
    return opt;
}

static void jt_options(crmt_train_options *o, int epochs)
{
    ck_assert_int_eq(crmt_train_options_init(o, sizeof *o), CRMT_OK);
    o->method = CRMT_METHOD_JT;
    o->epochs = epochs;
    o->batch_size = 32;
    o->seed = 7;
}

START_TEST(test_jt_reaches_accuracy)
{
    crmt_test_digits_load(&digits);
    crmt_model *model = crmt_test_digits_mlp(CRMT_HEAD_JT, CRMT_NORM_AUTO, 1);
    crmt_optimizer *opt = make_sgd(model);
    crmt_train_options o;
    jt_options(&o, 30);
    crmt_train_result r;
    memset(&r, 0, sizeof r);
    r.struct_size = sizeof r;
    ck_assert_int_eq(crmt_train(model, opt, digits.train, &o, &r), CRMT_OK);
    double acc = 0.0;
    ck_assert_int_eq(crmt_model_accuracy(model, digits.test, &acc), CRMT_OK);
    printf("digits JT (rows 0-1 / rows 2-7): train loss %.4f, train acc %.4f, test acc %.4f, "
           "%.2f s\n",
           r.final_loss, r.final_accuracy, acc, r.seconds);
    ck_assert_int_eq(r.epochs_run, 30);
    ck_assert_int_eq(r.stopped, 0);
    ck_assert_msg(acc >= 0.93, "test accuracy %.4f < 0.93", acc);
    crmt_optimizer_destroy(opt);
    crmt_model_destroy(model);
    crmt_test_digits_free(&digits);
}
END_TEST

START_TEST(test_same_seed_same_model)
{
    crmt_test_digits_load(&digits);
    size_t size_a = 0, size_b = 0;
    unsigned char *bytes[2] = {NULL, NULL};
    for (int run = 0; run < 2; run++) {
        crmt_model *model = crmt_test_digits_mlp(CRMT_HEAD_CRMT, CRMT_NORM_AUTO, 3);
        crmt_optimizer *opt = make_sgd(model);
        crmt_train_options o;
        jt_options(&o, 2);
        o.method = CRMT_METHOD_CRMT;
        ck_assert_int_eq(crmt_train(model, opt, digits.train, &o, NULL), CRMT_OK);
        size_t *size = run ? &size_b : &size_a;
        ck_assert_int_eq(crmt_model_save_buffer(model, NULL, 0, size), CRMT_OK);
        bytes[run] = malloc(*size);
        ck_assert_int_eq(crmt_model_save_buffer(model, bytes[run], *size, size), CRMT_OK);
        crmt_optimizer_destroy(opt);
        crmt_model_destroy(model);
    }
    ck_assert_uint_eq(size_a, size_b);
    ck_assert_int_eq(memcmp(bytes[0], bytes[1], size_a), 0);
    free(bytes[0]);
    free(bytes[1]);
    crmt_test_digits_free(&digits);
}
END_TEST

static int stop_after_two(const crmt_epoch_stats *s, void *user)
{
    int *calls = user;
    ++*calls;
    ck_assert_int_eq(s->step, 1);
    ck_assert(isfinite(s->loss) && s->accuracy >= 0.0 && s->accuracy <= 1.0 && s->seconds >= 0.0);
    return s->epoch == 1;
}

START_TEST(test_progress_can_stop)
{
    crmt_test_digits_load(&digits);
    crmt_model *model = crmt_test_digits_mlp(CRMT_HEAD_JT, CRMT_NORM_AUTO, 1);
    crmt_optimizer *opt = make_sgd(model);
    crmt_train_options o;
    jt_options(&o, 10);
    int calls = 0;
    o.progress = stop_after_two;
    o.progress_user_data = &calls;
    crmt_train_result r;
    memset(&r, 0, sizeof r);
    r.struct_size = sizeof r;
    ck_assert_int_eq(crmt_train(model, opt, digits.train, &o, &r), CRMT_OK);
    ck_assert_int_eq(calls, 2);
    ck_assert_int_eq(r.epochs_run, 2);
    ck_assert_int_eq(r.stopped, 1);
    crmt_optimizer_destroy(opt);
    crmt_model_destroy(model);
    crmt_test_digits_free(&digits);
}
END_TEST

START_TEST(test_single_step_lowers_loss)
{
    crmt_test_digits_load(&digits);
    crmt_model *model = crmt_test_digits_mlp(CRMT_HEAD_CRMT, CRMT_NORM_AUTO, 2);
    crmt_optimizer *opt = make_sgd(model);
    const float *inputs[2] = {crmt_dataset_data(digits.train, 0),
                              crmt_dataset_data(digits.train, 1)};
    const int32_t *labels = crmt_dataset_labels(digits.train);
    crmt_train_options o;
    jt_options(&o, 1);
    o.method = CRMT_METHOD_CRMT;
    double first = 0.0, loss = 0.0;
    for (int step = 0; step < 60; step++) {
        ck_assert_int_eq(crmt_train_step(model, opt, inputs, labels, 64, &o, &loss), CRMT_OK);
        if (step == 0)
            first = loss;
    }
    ck_assert_msg(loss < 0.8 * first, "loss %g after 60 steps, %g at first", loss, first);
    /* bad labels are refused and leave the model untouched */
    int32_t bad[64];
    memcpy(bad, labels, sizeof bad);
    bad[5] = 10;
    ck_assert_int_eq(crmt_train_step(model, opt, inputs, bad, 64, &o, &loss),
                     CRMT_ERR_INVALID_ARGUMENT);
    ck_assert_str_ne(crmt_model_errmsg(model), "");
    crmt_optimizer_destroy(opt);
    crmt_model_destroy(model);
    crmt_test_digits_free(&digits);
}
END_TEST

START_TEST(test_divergence_keeps_finite_parameters)
{
    crmt_test_digits_load(&digits);
    crmt_model *model = crmt_test_digits_mlp(CRMT_HEAD_JT, CRMT_NORM_AUTO, 1);
    crmt_optimizer *opt = NULL;
    ck_assert_int_eq(crmt_optimizer_create(&opt, model, CRMT_OPTIMIZER_SGD), CRMT_OK);
    ck_assert_int_eq(crmt_optimizer_set(opt, CRMT_OPT_LR, 1e4), CRMT_OK);
    crmt_train_options o;
    jt_options(&o, 50);
    crmt_status s = crmt_train(model, opt, digits.train, &o, NULL);
    ck_assert_int_eq(s, CRMT_ERR_DIVERGED);
    ck_assert_str_ne(crmt_model_errmsg(model), "");
    /* the model still answers with finite logits */
    const float *inputs[2] = {crmt_dataset_data(digits.test, 0), crmt_dataset_data(digits.test, 1)};
    float logits[10 * 4];
    ck_assert_int_eq(crmt_model_predict(model, inputs, 4, NULL, logits), CRMT_OK);
    for (int i = 0; i < 40; i++)
        ck_assert(isfinite(logits[i]));
    crmt_optimizer_destroy(opt);
    crmt_model_destroy(model);
    crmt_test_digits_free(&digits);
}
END_TEST

/* The model's serialised bytes (parameters included). */
static unsigned char *snapshot(const crmt_model *model, size_t *size)
{
    ck_assert_int_eq(crmt_model_save_buffer(model, NULL, 0, size), CRMT_OK);
    unsigned char *buf = malloc(*size);
    ck_assert_ptr_nonnull(buf);
    ck_assert_int_eq(crmt_model_save_buffer(model, buf, *size, size), CRMT_OK);
    return buf;
}

static void assert_same_model(const crmt_model *model, const unsigned char *bytes, size_t size)
{
    size_t now_size = 0;
    unsigned char *now = snapshot(model, &now_size);
    ck_assert_uint_eq(now_size, size);
    ck_assert_mem_eq(now, bytes, size);
    free(now);
}

/* Which parameters a diverged step leaves: after a non-finite loss, those of the step before
 * (the last that gave a finite loss); after a non-finite gradient, the current ones (their
 * loss was finite and nothing touched them). */
START_TEST(test_divergence_by_cause)
{
    crmt_test_digits_load(&digits);
    crmt_model *model = crmt_test_digits_mlp(CRMT_HEAD_JT, CRMT_NORM_AUTO, 1);
    crmt_optimizer *opt = NULL;
    ck_assert_int_eq(crmt_optimizer_create(&opt, model, CRMT_OPTIMIZER_SGD), CRMT_OK);
    ck_assert_int_eq(crmt_optimizer_set(opt, CRMT_OPT_MOMENTUM, 0.9), CRMT_OK);
    const size_t n = 32;
    const float *in[2] = {crmt_dataset_data(digits.train, 0), crmt_dataset_data(digits.train, 1)};
    const int32_t *labels = crmt_dataset_labels(digits.train);
    float *huge0 = malloc(sizeof(float) * n * 16), *huge1 = malloc(sizeof(float) * n * 48);
    for (size_t i = 0; i < n * 16; i++)
        huge0[i] = 3e38f;
    for (size_t i = 0; i < n * 48; i++)
        huge1[i] = 3e38f;
    const float *huge[2] = {huge0, huge1};
    double loss = 0.0;
    size_t size_a = 0, size_b = 0;

    ck_assert_int_eq(crmt_train_step(model, opt, in, labels, n, NULL, &loss), CRMT_OK);
    unsigned char *after_first = snapshot(model, &size_a); /* P1 */
    ck_assert_int_eq(crmt_train_step(model, opt, in, labels, n, NULL, &loss), CRMT_OK);
    /* the loss at P2 overflows: back to P1 */
    ck_assert_int_eq(crmt_train_step(model, opt, huge, labels, n, NULL, &loss),
                     CRMT_ERR_DIVERGED);
    assert_same_model(model, after_first, size_a);

    ck_assert_int_eq(crmt_train_step(model, opt, in, labels, n, NULL, &loss), CRMT_OK);
    unsigned char *before_poison = snapshot(model, &size_b);
    poison_next_gradient = 1;
    ck_assert_int_eq(crmt_train_step(model, opt, in, labels, n, NULL, &loss), CRMT_ERR_DIVERGED);
    ck_assert_int_eq(poison_next_gradient, 0);
    ck_assert_msg(strstr(crmt_model_errmsg(model), "non-finite gradient") != NULL, "%s",
                  crmt_model_errmsg(model));
    assert_same_model(model, before_poison, size_b);
    /* and training can go on from there */
    ck_assert_int_eq(crmt_train_step(model, opt, in, labels, n, NULL, &loss), CRMT_OK);
    ck_assert(isfinite(loss));

    free(after_first);
    free(before_poison);
    free(huge0);
    free(huge1);
    crmt_optimizer_destroy(opt);
    crmt_model_destroy(model);
    crmt_test_digits_free(&digits);
}
END_TEST

START_TEST(test_bad_training_arguments)
{
    crmt_test_digits_load(&digits);
    crmt_model *model = crmt_test_digits_mlp(CRMT_HEAD_JT, CRMT_NORM_AUTO, 1);
    crmt_model *other = crmt_test_digits_mlp(CRMT_HEAD_JT, CRMT_NORM_AUTO, 2);
    crmt_optimizer *opt = make_sgd(model), *other_opt = make_sgd(other);
    crmt_train_options o;
    jt_options(&o, 1);
    ck_assert_int_eq(crmt_train(NULL, opt, digits.train, &o, NULL), CRMT_ERR_INVALID_ARGUMENT);
    ck_assert_int_eq(crmt_train(model, NULL, digits.train, &o, NULL), CRMT_ERR_INVALID_ARGUMENT);
    ck_assert_int_eq(crmt_train(model, opt, NULL, &o, NULL), CRMT_ERR_INVALID_ARGUMENT);
    ck_assert_int_eq(crmt_train(model, other_opt, digits.train, &o, NULL), CRMT_ERR_STATE);
    o.epochs = 0;
    ck_assert_int_eq(crmt_train(model, opt, digits.train, &o, NULL), CRMT_ERR_INVALID_ARGUMENT);
    jt_options(&o, 1);
    o.rho = NAN;
    ck_assert_int_eq(crmt_train(model, opt, digits.train, &o, NULL), CRMT_ERR_INVALID_ARGUMENT);
    jt_options(&o, 1);
    o.method = CRMT_METHOD_CRMT; /* JT head */
    ck_assert_int_eq(crmt_train(model, opt, digits.train, &o, NULL), CRMT_ERR_UNSUPPORTED);
    jt_options(&o, 1);
    o.struct_size = 3;
    ck_assert_int_eq(crmt_train(model, opt, digits.train, &o, NULL), CRMT_ERR_INVALID_ARGUMENT);
    ck_assert_str_ne(crmt_last_error(), "");
    /* a dataset with the modalities swapped does not match the model */
    crmt_dataset *swapped = NULL;
    size_t n = crmt_dataset_num_samples(digits.train);
    ck_assert_int_eq(crmt_dataset_create(&swapped, n, 2), CRMT_OK);
    ck_assert_int_eq(crmt_dataset_set_modality(swapped, 0, crmt_dataset_data(digits.train, 1), 48,
                                               CRMT_BORROW),
                     CRMT_OK);
    ck_assert_int_eq(crmt_dataset_set_modality(swapped, 1, crmt_dataset_data(digits.train, 0), 16,
                                               CRMT_BORROW),
                     CRMT_OK);
    ck_assert_int_eq(crmt_dataset_set_labels(swapped, crmt_dataset_labels(digits.train)), CRMT_OK);
    jt_options(&o, 1);
    ck_assert_int_eq(crmt_train(model, opt, swapped, &o, NULL), CRMT_ERR_SHAPE);
    crmt_dataset_destroy(swapped);
    crmt_optimizer_destroy(opt);
    crmt_optimizer_destroy(other_opt);
    crmt_model_destroy(model);
    crmt_model_destroy(other);
    crmt_test_digits_free(&digits);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("train_digits");
    TCase *tc = tcase_create("digits");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_jt_reaches_accuracy);
    tcase_add_test(tc, test_same_seed_same_model);
    tcase_add_test(tc, test_progress_can_stop);
    tcase_add_test(tc, test_single_step_lowers_loss);
    tcase_add_test(tc, test_divergence_keeps_finite_parameters);
    tcase_add_test(tc, test_divergence_by_cause);
    tcase_add_test(tc, test_bad_training_arguments);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
