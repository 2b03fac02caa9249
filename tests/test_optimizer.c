/* Optimizer: options, bounds, schedules, and the SGD / Adam update (crmti_optimizer_apply).
 *
 * White-box: the update is exercised on a hand-made struct crmt_model that only has
 * n_params/params/grads set, so these tests do not depend on the model code. */
#include <check.h>
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "crmt/crmt.h"
#include "model/model.h"
#include "train/optimizer.h"

#define PI 3.14159265358979323846

/* A model with only the fields the optimizer uses. */
static crmt_model *fake_model(size_t n)
{
    crmt_model *m = calloc(1, sizeof *m);
    ck_assert_ptr_nonnull(m);
    m->n_params = n;
    m->params = calloc(n, sizeof(float));
    m->grads = calloc(n, sizeof(float));
    ck_assert_ptr_nonnull(m->params);
    ck_assert_ptr_nonnull(m->grads);
    return m;
}

static void fake_free(crmt_model *m)
{
    free(m->params);
    free(m->grads);
    free(m);
}

static crmt_optimizer *make_opt(crmt_model *m, crmt_optimizer_kind kind)
{
    crmt_optimizer *opt = NULL;
    ck_assert_int_eq(crmt_optimizer_create(&opt, m, kind), CRMT_OK);
    ck_assert_ptr_nonnull(opt);
    return opt;
}

static void set_ok(crmt_optimizer *opt, crmt_optimizer_param p, double v)
{
    ck_assert_int_eq(crmt_optimizer_set(opt, p, v), CRMT_OK);
}

static double get_val(const crmt_optimizer *opt, crmt_optimizer_param p)
{
    double v = NAN;
    ck_assert_int_eq(crmt_optimizer_get(opt, p, &v), CRMT_OK);
    return v;
}

/* Apply one step with the given gradient. */
static void step(crmt_optimizer *opt, crmt_model *m, const float *grad)
{
    memcpy(m->grads, grad, m->n_params * sizeof(float));
    ck_assert_int_eq(crmti_optimizer_apply(opt, m->params, m->grads, m->params), 1);
}

/* A failed call left a message both in the thread slot and (when given) in a handle. */
static void assert_failed_with_message(const char *handle_msg)
{
    ck_assert_str_ne(crmt_last_error(), "");
    if (handle_msg)
        ck_assert_str_eq(handle_msg, crmt_last_error());
}

/* call fails with CRMT_ERR_INVALID_ARGUMENT and leaves its message (the thread's message is
 * cleared first, so an older one does not count). A macro: the clearing must come before
 * the call is evaluated. */
#define ASSERT_INVALID_ARGUMENT(call, handle_msg)                                              \
    do {                                                                                       \
        crmt_clear_error();                                                                    \
        ck_assert_int_eq((call), CRMT_ERR_INVALID_ARGUMENT);                                   \
        assert_failed_with_message(handle_msg);                                                \
    } while (0)

/* ---------------------------------------------------------------- create / defaults */

START_TEST(test_defaults)
{
    crmt_model *m = fake_model(3);
    crmt_optimizer *sgd = make_opt(m, CRMT_OPTIMIZER_SGD);
    crmt_optimizer *adam = make_opt(m, CRMT_OPTIMIZER_ADAM);
    ck_assert_double_eq(get_val(sgd, CRMT_OPT_LR), 0.01);
    ck_assert_double_eq(get_val(adam, CRMT_OPT_LR), 0.001);
    crmt_optimizer *both[2] = {sgd, adam};
    for (int k = 0; k < 2; k++) {
        crmt_optimizer *o = both[k];
        ck_assert_double_eq(get_val(o, CRMT_OPT_MOMENTUM), 0.0);
        ck_assert_double_eq(get_val(o, CRMT_OPT_WEIGHT_DECAY), 0.0);
        ck_assert_double_eq(get_val(o, CRMT_OPT_BETA1), 0.9);
        ck_assert_double_eq(get_val(o, CRMT_OPT_BETA2), 0.999);
        ck_assert_double_eq(get_val(o, CRMT_OPT_EPSILON), 1e-8);
        ck_assert_double_eq(get_val(o, CRMT_OPT_SCHEDULE), CRMT_SCHEDULE_CONSTANT);
        ck_assert_double_eq(get_val(o, CRMT_OPT_STEP_SIZE), 30.0);
        ck_assert_double_eq(get_val(o, CRMT_OPT_GAMMA), 0.1);
        ck_assert_double_eq(get_val(o, CRMT_OPT_TOTAL_EPOCHS), 100.0);
        ck_assert_double_eq(get_val(o, CRMT_OPT_MIN_LR), 0.0);
        ck_assert_double_eq(crmt_optimizer_current_lr(o), get_val(o, CRMT_OPT_LR));
        ck_assert_str_eq(crmt_optimizer_errmsg(o), "");
        ck_assert_int_eq(o->step_count, 0);
        ck_assert_int_eq(o->epoch, 0);
        ck_assert_uint_eq(o->n, 3);
        for (int i = 0; i < 3; i++)
            ck_assert_float_eq(o->buf1[i], 0.0f);
    }
    ck_assert_ptr_null(sgd->buf2);
    ck_assert_ptr_nonnull(adam->buf2);
    crmt_optimizer_destroy(sgd);
    crmt_optimizer_destroy(adam);
    fake_free(m);
}
END_TEST

START_TEST(test_create_invalid)
{
    crmt_model *m = fake_model(2);
    int dummy;
    crmt_optimizer *opt = (crmt_optimizer *)(void *)&dummy;

    ASSERT_INVALID_ARGUMENT(crmt_optimizer_create(NULL, m, CRMT_OPTIMIZER_SGD), m->errmsg);

    ASSERT_INVALID_ARGUMENT(crmt_optimizer_create(&opt, NULL, CRMT_OPTIMIZER_SGD), NULL);
    ck_assert_ptr_null(opt);

    const int bad_kinds[] = {-1, 2, 100};
    for (size_t i = 0; i < sizeof bad_kinds / sizeof bad_kinds[0]; i++) {
        opt = (crmt_optimizer *)(void *)&dummy;
        m->errmsg[0] = '\0';
        ASSERT_INVALID_ARGUMENT(crmt_optimizer_create(&opt, m, (crmt_optimizer_kind)bad_kinds[i]),
                                m->errmsg);
        ck_assert_ptr_null(opt);
    }
    fake_free(m);
}
END_TEST

START_TEST(test_null_handles)
{
    crmt_model *m = fake_model(1);
    crmt_optimizer *opt = make_opt(m, CRMT_OPTIMIZER_SGD);
    double v = 0.0, lo = 0.0, hi = 0.0;

    crmt_optimizer_destroy(NULL); /* no-op */
    ck_assert_str_eq(crmt_optimizer_errmsg(NULL), "");

    ASSERT_INVALID_ARGUMENT(crmt_optimizer_set(NULL, CRMT_OPT_LR, 0.1), NULL);
    ASSERT_INVALID_ARGUMENT(crmt_optimizer_get(NULL, CRMT_OPT_LR, &v), NULL);
    ASSERT_INVALID_ARGUMENT(crmt_optimizer_get(opt, CRMT_OPT_LR, NULL), NULL);
    ASSERT_INVALID_ARGUMENT(crmt_optimizer_bounds(CRMT_OPT_LR, NULL, &hi), NULL);
    ASSERT_INVALID_ARGUMENT(crmt_optimizer_bounds(CRMT_OPT_LR, &lo, NULL), NULL);
    ASSERT_INVALID_ARGUMENT(crmt_optimizer_set_epoch(NULL, 1), NULL);
    ASSERT_INVALID_ARGUMENT(crmt_optimizer_reset(NULL), NULL);
    crmt_clear_error();
    ck_assert(isnan(crmt_optimizer_current_lr(NULL)));
    assert_failed_with_message(NULL);

    crmt_optimizer_destroy(opt);
    fake_free(m);
}
END_TEST

/* ---------------------------------------------------------------- options and bounds */

static int is_integer_param(int p)
{
    return p == CRMT_OPT_SCHEDULE || p == CRMT_OPT_STEP_SIZE || p == CRMT_OPT_TOTAL_EPOCHS;
}

/* Expect a rejected set: status, unchanged value, message in the handle and thread slot. */
static void set_rejected(crmt_optimizer *opt, int p, double v)
{
    double before = get_val(opt, (crmt_optimizer_param)p);
    crmt_clear_error();
    opt->errmsg[0] = '\0';
    ck_assert_msg(crmt_optimizer_set(opt, (crmt_optimizer_param)p, v) ==
                      CRMT_ERR_INVALID_ARGUMENT,
                  "param %d accepted %.17g", p, v);
    assert_failed_with_message(opt->errmsg);
    ck_assert_str_eq(crmt_optimizer_errmsg(opt), crmt_last_error());
    ck_assert_double_eq(get_val(opt, (crmt_optimizer_param)p), before);
}

START_TEST(test_bounds_every_param)
{
    crmt_model *m = fake_model(1);
    crmt_optimizer *opt = make_opt(m, CRMT_OPTIMIZER_SGD);
    for (int p = CRMT_OPT_LR; p <= CRMT_OPT_MIN_LR; p++) {
        double lo = NAN, hi = NAN;
        ck_assert_int_eq(crmt_optimizer_bounds((crmt_optimizer_param)p, &lo, &hi), CRMT_OK);
        ck_assert(isfinite(lo) && isfinite(hi));
        ck_assert_msg(lo <= hi, "param %d: bounds [%g, %g]", p, lo, hi);
        double dflt = get_val(opt, (crmt_optimizer_param)p);
        ck_assert_msg(dflt >= lo && dflt <= hi, "param %d: default outside its bounds", p);

        set_rejected(opt, p, NAN);
        set_rejected(opt, p, INFINITY);
        set_rejected(opt, p, -INFINITY);
        set_rejected(opt, p, nextafter(lo, -INFINITY));
        set_rejected(opt, p, nextafter(hi, INFINITY));
        set_rejected(opt, p, lo - 1.0);
        set_rejected(opt, p, hi + 1.0);
        if (is_integer_param(p)) {
            set_rejected(opt, p, lo + 0.5);
            set_rejected(opt, p, nextafter(lo + 1.0, INFINITY));
        }

        /* both ends are inclusive */
        set_ok(opt, (crmt_optimizer_param)p, lo);
        ck_assert_double_eq(get_val(opt, (crmt_optimizer_param)p), lo);
        set_ok(opt, (crmt_optimizer_param)p, hi);
        ck_assert_double_eq(get_val(opt, (crmt_optimizer_param)p), hi);
        set_ok(opt, (crmt_optimizer_param)p, dflt);
    }
    crmt_optimizer_destroy(opt);
    fake_free(m);
}
END_TEST

/* The documented ranges, value by value. */
START_TEST(test_documented_ranges)
{
    crmt_model *m = fake_model(1);
    crmt_optimizer *opt = make_opt(m, CRMT_OPTIMIZER_ADAM);

    set_rejected(opt, CRMT_OPT_LR, -1e-3);
    set_ok(opt, CRMT_OPT_LR, 0.0);
    set_ok(opt, CRMT_OPT_LR, 0.5);

    set_rejected(opt, CRMT_OPT_MOMENTUM, -0.1);
    set_rejected(opt, CRMT_OPT_MOMENTUM, 1.0);
    set_ok(opt, CRMT_OPT_MOMENTUM, 0.0);
    set_ok(opt, CRMT_OPT_MOMENTUM, 0.999);

    set_rejected(opt, CRMT_OPT_WEIGHT_DECAY, -1e-4);
    set_ok(opt, CRMT_OPT_WEIGHT_DECAY, 0.0);
    set_ok(opt, CRMT_OPT_WEIGHT_DECAY, 5e-4);

    for (int p = CRMT_OPT_BETA1; p <= CRMT_OPT_BETA2; p++) {
        set_rejected(opt, p, -0.5);
        set_rejected(opt, p, 1.0);
        set_rejected(opt, p, 1.5);
        set_ok(opt, (crmt_optimizer_param)p, 0.0);
        set_ok(opt, (crmt_optimizer_param)p, 0.99);
    }

    set_rejected(opt, CRMT_OPT_EPSILON, 0.0);
    set_rejected(opt, CRMT_OPT_EPSILON, -1e-8);
    set_ok(opt, CRMT_OPT_EPSILON, 1e-12);

    set_rejected(opt, CRMT_OPT_SCHEDULE, -1.0);
    set_rejected(opt, CRMT_OPT_SCHEDULE, 3.0);
    set_rejected(opt, CRMT_OPT_SCHEDULE, 1.5);
    set_ok(opt, CRMT_OPT_SCHEDULE, CRMT_SCHEDULE_CONSTANT);
    set_ok(opt, CRMT_OPT_SCHEDULE, CRMT_SCHEDULE_STEP);
    set_ok(opt, CRMT_OPT_SCHEDULE, CRMT_SCHEDULE_COSINE);

    set_rejected(opt, CRMT_OPT_STEP_SIZE, 0.0);
    set_rejected(opt, CRMT_OPT_STEP_SIZE, 2.5);
    set_ok(opt, CRMT_OPT_STEP_SIZE, 1.0);

    set_rejected(opt, CRMT_OPT_GAMMA, 0.0);
    set_rejected(opt, CRMT_OPT_GAMMA, -0.1);
    set_rejected(opt, CRMT_OPT_GAMMA, 1.01);
    set_ok(opt, CRMT_OPT_GAMMA, 1.0);
    set_ok(opt, CRMT_OPT_GAMMA, 1e-3);

    set_rejected(opt, CRMT_OPT_TOTAL_EPOCHS, 0.0);
    set_rejected(opt, CRMT_OPT_TOTAL_EPOCHS, 10.25);
    set_ok(opt, CRMT_OPT_TOTAL_EPOCHS, 1.0);

    set_rejected(opt, CRMT_OPT_MIN_LR, -1e-6);
    set_ok(opt, CRMT_OPT_MIN_LR, 0.0);
    set_ok(opt, CRMT_OPT_MIN_LR, 1e-4);

    crmt_optimizer_destroy(opt);
    fake_free(m);
}
END_TEST

START_TEST(test_unknown_param)
{
    crmt_model *m = fake_model(1);
    crmt_optimizer *opt = make_opt(m, CRMT_OPTIMIZER_SGD);
    const int bad[] = {-1, CRMT_OPT_MIN_LR + 1, 1000};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        crmt_optimizer_param p = (crmt_optimizer_param)bad[i];
        double v = 42.0, lo = 42.0, hi = 42.0;
        opt->errmsg[0] = '\0';
        ASSERT_INVALID_ARGUMENT(crmt_optimizer_set(opt, p, 0.1), opt->errmsg);
        ASSERT_INVALID_ARGUMENT(crmt_optimizer_get(opt, p, &v), NULL);
        ck_assert_double_eq(v, 42.0);
        ASSERT_INVALID_ARGUMENT(crmt_optimizer_bounds(p, &lo, &hi), NULL);
    }
    crmt_optimizer_destroy(opt);
    fake_free(m);
}
END_TEST

START_TEST(test_set_epoch)
{
    crmt_model *m = fake_model(1);
    crmt_optimizer *opt = make_opt(m, CRMT_OPTIMIZER_SGD);
    ck_assert_int_eq(crmt_optimizer_set_epoch(opt, 0), CRMT_OK);
    ck_assert_int_eq(crmt_optimizer_set_epoch(opt, 7), CRMT_OK);
    ck_assert_int_eq(opt->epoch, 7);
    ASSERT_INVALID_ARGUMENT(crmt_optimizer_set_epoch(opt, -1), opt->errmsg);
    ck_assert_int_eq(opt->epoch, 7);
    crmt_optimizer_destroy(opt);
    fake_free(m);
}
END_TEST

/* ---------------------------------------------------------------- schedules */

static double lr_at(crmt_optimizer *opt, int epoch)
{
    ck_assert_int_eq(crmt_optimizer_set_epoch(opt, epoch), CRMT_OK);
    return crmt_optimizer_current_lr(opt);
}

START_TEST(test_schedule_constant)
{
    crmt_model *m = fake_model(1);
    crmt_optimizer *opt = make_opt(m, CRMT_OPTIMIZER_SGD);
    set_ok(opt, CRMT_OPT_LR, 0.05);
    /* constant ignores step/cosine options */
    set_ok(opt, CRMT_OPT_GAMMA, 0.5);
    set_ok(opt, CRMT_OPT_STEP_SIZE, 1);
    set_ok(opt, CRMT_OPT_TOTAL_EPOCHS, 2);
    const int epochs[] = {0, 1, 5, 99, 100, 100000};
    for (size_t i = 0; i < sizeof epochs / sizeof epochs[0]; i++)
        ck_assert_double_eq(lr_at(opt, epochs[i]), 0.05);
    crmt_optimizer_destroy(opt);
    fake_free(m);
}
END_TEST

START_TEST(test_schedule_step)
{
    crmt_model *m = fake_model(1);
    crmt_optimizer *opt = make_opt(m, CRMT_OPTIMIZER_SGD);
    set_ok(opt, CRMT_OPT_LR, 0.1);
    set_ok(opt, CRMT_OPT_SCHEDULE, CRMT_SCHEDULE_STEP);
    set_ok(opt, CRMT_OPT_STEP_SIZE, 3);
    set_ok(opt, CRMT_OPT_GAMMA, 0.5);
    /* lr * 0.5^floor(e / 3) */
    const double tol = 1e-15;
    ck_assert_double_eq_tol(lr_at(opt, 0), 0.1, tol);
    ck_assert_double_eq_tol(lr_at(opt, 1), 0.1, tol);
    ck_assert_double_eq_tol(lr_at(opt, 2), 0.1, tol);
    ck_assert_double_eq_tol(lr_at(opt, 3), 0.05, tol);
    ck_assert_double_eq_tol(lr_at(opt, 5), 0.05, tol);
    ck_assert_double_eq_tol(lr_at(opt, 6), 0.025, tol);
    ck_assert_double_eq_tol(lr_at(opt, 10), 0.0125, tol);
    ck_assert_double_eq_tol(lr_at(opt, 30), 0.1 / 1024.0, tol);

    /* defaults: step_size 30, gamma 0.1 */
    set_ok(opt, CRMT_OPT_STEP_SIZE, 30);
    set_ok(opt, CRMT_OPT_GAMMA, 0.1);
    set_ok(opt, CRMT_OPT_LR, 1.0);
    ck_assert_double_eq_tol(lr_at(opt, 29), 1.0, tol);
    ck_assert_double_eq_tol(lr_at(opt, 30), 0.1, tol);
    ck_assert_double_eq_tol(lr_at(opt, 89), 0.01, tol);
    ck_assert_double_eq_tol(lr_at(opt, 90), 0.001, tol);
    crmt_optimizer_destroy(opt);
    fake_free(m);
}
END_TEST

START_TEST(test_schedule_cosine)
{
    crmt_model *m = fake_model(1);
    crmt_optimizer *opt = make_opt(m, CRMT_OPTIMIZER_SGD);
    set_ok(opt, CRMT_OPT_LR, 0.1);
    set_ok(opt, CRMT_OPT_SCHEDULE, CRMT_SCHEDULE_COSINE);
    set_ok(opt, CRMT_OPT_TOTAL_EPOCHS, 10);
    set_ok(opt, CRMT_OPT_MIN_LR, 0.01);
    const double tol = 1e-15;
    /* min_lr + (lr - min_lr)(1 + cos(pi e / T)) / 2 with e clamped to T */
    ck_assert_double_eq_tol(lr_at(opt, 0), 0.1, tol);
    ck_assert_double_eq_tol(lr_at(opt, 5), 0.055, tol); /* cos(pi/2) = 0 */
    ck_assert_double_eq_tol(lr_at(opt, 10), 0.01, tol); /* cos(pi) = -1 */
    ck_assert_double_eq_tol(lr_at(opt, 11), 0.01, tol); /* clamped */
    ck_assert_double_eq_tol(lr_at(opt, 1000), 0.01, tol);
    for (int e = 0; e <= 10; e++) {
        double expect = 0.01 + 0.09 * (1.0 + cos(PI * e / 10.0)) / 2.0;
        ck_assert_double_eq_tol(lr_at(opt, e), expect, tol);
    }
    /* e = 2: cos(pi/5) = (1 + sqrt 5) / 4 */
    ck_assert_double_eq_tol(lr_at(opt, 2), 0.01 + 0.09 * (1.0 + (1.0 + sqrt(5.0)) / 4.0) / 2.0,
                            tol);
    /* min_lr 0: lr (1 + cos(pi e / T)) / 2; e = T/4 -> lr (1 + sqrt(2)/2) / 2 */
    set_ok(opt, CRMT_OPT_MIN_LR, 0.0);
    set_ok(opt, CRMT_OPT_TOTAL_EPOCHS, 100);
    ck_assert_double_eq_tol(lr_at(opt, 25), 0.1 * (1.0 + sqrt(0.5)) / 2.0, tol);
    ck_assert_double_eq_tol(lr_at(opt, 100), 0.0, tol);
    crmt_optimizer_destroy(opt);
    fake_free(m);
}
END_TEST

/* The update uses the scheduled learning rate, not the base one. */
START_TEST(test_apply_uses_schedule)
{
    crmt_model *m = fake_model(1);
    crmt_optimizer *opt = make_opt(m, CRMT_OPTIMIZER_SGD);
    set_ok(opt, CRMT_OPT_LR, 1.0);
    set_ok(opt, CRMT_OPT_SCHEDULE, CRMT_SCHEDULE_STEP);
    set_ok(opt, CRMT_OPT_STEP_SIZE, 2);
    set_ok(opt, CRMT_OPT_GAMMA, 0.5);
    const float g[1] = {1.0f};
    m->params[0] = 1.0f;
    ck_assert_int_eq(crmt_optimizer_set_epoch(opt, 2), CRMT_OK); /* lr 0.5 */
    step(opt, m, g);
    ck_assert_float_eq(m->params[0], 0.5f);
    ck_assert_int_eq(crmt_optimizer_set_epoch(opt, 4), CRMT_OK); /* lr 0.25 */
    step(opt, m, g);
    ck_assert_float_eq(m->params[0], 0.25f);

    set_ok(opt, CRMT_OPT_SCHEDULE, CRMT_SCHEDULE_COSINE);
    set_ok(opt, CRMT_OPT_TOTAL_EPOCHS, 4);
    set_ok(opt, CRMT_OPT_MIN_LR, 0.125);
    step(opt, m, g); /* epoch 4 = T: lr = min_lr */
    ck_assert_float_eq(m->params[0], 0.125f);
    crmt_optimizer_destroy(opt);
    fake_free(m);
}
END_TEST

/* ---------------------------------------------------------------- SGD */

START_TEST(test_sgd_plain)
{
    crmt_model *m = fake_model(3);
    crmt_optimizer *opt = make_opt(m, CRMT_OPTIMIZER_SGD);
    set_ok(opt, CRMT_OPT_LR, 0.5);
    const float w0[3] = {1.0f, -2.0f, 0.5f};
    memcpy(m->params, w0, sizeof w0);
    /* w -= 0.5 g:  1 - 0.5*0.5 = 0.75;  -2 - 0.5*0.25 = -2.125;  0.5 - 0.5*(-1) = 1 */
    const float g1[3] = {0.5f, 0.25f, -1.0f};
    step(opt, m, g1);
    ck_assert_float_eq(m->params[0], 0.75f);
    ck_assert_float_eq(m->params[1], -2.125f);
    ck_assert_float_eq(m->params[2], 1.0f);
    /* no momentum: the second step only depends on its own gradient:
     * 0.75 - 0.5*1 = 0.25;  -2.125 - 0.5*(-0.25) = -2;  1 - 0 = 1 */
    const float g2[3] = {1.0f, -0.25f, 0.0f};
    step(opt, m, g2);
    ck_assert_float_eq(m->params[0], 0.25f);
    ck_assert_float_eq(m->params[1], -2.0f);
    ck_assert_float_eq(m->params[2], 1.0f);
    ck_assert_int_eq(opt->step_count, 2);
    ck_assert_uint_eq(m->generation, 2);
    crmt_optimizer_destroy(opt);
    fake_free(m);
}
END_TEST

START_TEST(test_sgd_momentum_3_steps)
{
    crmt_model *m = fake_model(2);
    crmt_optimizer *opt = make_opt(m, CRMT_OPTIMIZER_SGD);
    set_ok(opt, CRMT_OPT_LR, 0.25);
    set_ok(opt, CRMT_OPT_MOMENTUM, 0.5);
    m->params[0] = 1.0f;
    m->params[1] = -1.0f;
    /* element 0, grads 1, 0.5, -1:
     *   step 1: buf = g = 1               w = 1 - 0.25*1 = 0.75
     *   step 2: buf = 0.5*1 + 0.5 = 1     w = 0.75 - 0.25*1 = 0.5
     *   step 3: buf = 0.5*1 - 1 = -0.5    w = 0.5 + 0.25*0.5 = 0.625
     * element 1, grads 2, 2, 2:
     *   step 1: buf = 2                   w = -1 - 0.5 = -1.5
     *   step 2: buf = 0.5*2 + 2 = 3       w = -1.5 - 0.75 = -2.25
     *   step 3: buf = 0.5*3 + 2 = 3.5     w = -2.25 - 0.875 = -3.125 */
    const float g[3][2] = {{1.0f, 2.0f}, {0.5f, 2.0f}, {-1.0f, 2.0f}};
    const float w_expect[3][2] = {{0.75f, -1.5f}, {0.5f, -2.25f}, {0.625f, -3.125f}};
    const float buf_expect[3][2] = {{1.0f, 2.0f}, {1.0f, 3.0f}, {-0.5f, 3.5f}};
    for (int s = 0; s < 3; s++) {
        step(opt, m, g[s]);
        for (int i = 0; i < 2; i++) {
            ck_assert_float_eq(m->params[i], w_expect[s][i]);
            ck_assert_float_eq(opt->buf1[i], buf_expect[s][i]);
        }
    }
    ck_assert_int_eq(opt->step_count, 3);
    ck_assert_uint_eq(m->generation, 3);
    crmt_optimizer_destroy(opt);
    fake_free(m);
}
END_TEST

START_TEST(test_sgd_weight_decay)
{
    crmt_model *m = fake_model(2);
    /* no momentum: lr 0.5, wd 0.5, w0 = 2, grad 1 each step:
     *   step 1: g = 1 + 0.5*2 = 2        w = 2 - 0.5*2 = 1
     *   step 2: g = 1 + 0.5*1 = 1.5      w = 1 - 0.75 = 0.25
     *   step 3: g = 1 + 0.125 = 1.125    w = 0.25 - 0.5625 = -0.3125
     * element 1: w0 = -4, grad 0: g = 0.5*w, w *= (1 - 0.25) = 0.75 each step:
     *   -3, -2.25, -1.6875 */
    crmt_optimizer *opt = make_opt(m, CRMT_OPTIMIZER_SGD);
    set_ok(opt, CRMT_OPT_LR, 0.5);
    set_ok(opt, CRMT_OPT_WEIGHT_DECAY, 0.5);
    m->params[0] = 2.0f;
    m->params[1] = -4.0f;
    const float g[2] = {1.0f, 0.0f};
    const float expect[3][2] = {{1.0f, -3.0f}, {0.25f, -2.25f}, {-0.3125f, -1.6875f}};
    for (int s = 0; s < 3; s++) {
        step(opt, m, g);
        ck_assert_float_eq(m->params[0], expect[s][0]);
        ck_assert_float_eq(m->params[1], expect[s][1]);
    }
    crmt_optimizer_destroy(opt);

    /* with momentum 0.5: lr 0.5, wd 0.5, w0 = 2, grad 0 each step:
     *   step 1: g = 1            buf = 1                    w = 2 - 0.5 = 1.5
     *   step 2: g = 0.75         buf = 0.5 + 0.75 = 1.25    w = 1.5 - 0.625 = 0.875
     *   step 3: g = 0.4375       buf = 0.625 + 0.4375 = 1.0625
     *                                                       w = 0.875 - 0.53125 = 0.34375 */
    opt = make_opt(m, CRMT_OPTIMIZER_SGD);
    set_ok(opt, CRMT_OPT_LR, 0.5);
    set_ok(opt, CRMT_OPT_WEIGHT_DECAY, 0.5);
    set_ok(opt, CRMT_OPT_MOMENTUM, 0.5);
    m->params[0] = 2.0f;
    m->params[1] = 0.0f;
    const float zero[2] = {0.0f, 0.0f};
    const float w_expect[3] = {1.5f, 0.875f, 0.34375f};
    for (int s = 0; s < 3; s++) {
        step(opt, m, zero);
        ck_assert_float_eq(m->params[0], w_expect[s]);
        ck_assert_float_eq(m->params[1], 0.0f);
    }
    crmt_optimizer_destroy(opt);
    fake_free(m);
}
END_TEST

/* Momentum switched on after some plain steps starts from buf = g (PyTorch creates the buffer
 * lazily on the first step with momentum). */
START_TEST(test_sgd_momentum_enabled_late)
{
    crmt_model *m = fake_model(1);
    crmt_optimizer *opt = make_opt(m, CRMT_OPTIMIZER_SGD);
    set_ok(opt, CRMT_OPT_LR, 0.5);
    m->params[0] = 1.0f;
    const float g[1] = {1.0f};
    step(opt, m, g); /* w = 1 - 0.5 = 0.5 */
    ck_assert_float_eq(m->params[0], 0.5f);
    set_ok(opt, CRMT_OPT_MOMENTUM, 0.5);
    step(opt, m, g); /* buf = 1, w = 0.5 - 0.5 = 0 */
    ck_assert_float_eq(m->params[0], 0.0f);
    step(opt, m, g); /* buf = 0.5 + 1 = 1.5, w = 0 - 0.75 = -0.75 */
    ck_assert_float_eq(m->params[0], -0.75f);
    crmt_optimizer_destroy(opt);
    fake_free(m);
}
END_TEST

/* ---------------------------------------------------------------- Adam */

/* Independent reference in double, straight from the torch.optim.Adam formula. */
static void adam_reference(double *w, double *m, double *v, const float *grad, size_t n, int t,
                           double lr, double b1, double b2, double eps, double wd)
{
    for (size_t i = 0; i < n; i++) {
        double g = (double)grad[i] + wd * w[i];
        m[i] = b1 * m[i] + (1.0 - b1) * g;
        v[i] = b2 * v[i] + (1.0 - b2) * g * g;
        double mhat = m[i] / (1.0 - pow(b1, t));
        double vhat = v[i] / (1.0 - pow(b2, t));
        w[i] -= lr * mhat / (sqrt(vhat) + eps);
    }
}

static void check_adam_run(int custom)
{
    enum { N = 5 };
    const float w0[N] = {0.5f, -1.0f, 2.0f, 0.0f, 1e-3f};
    /* element 3: zero weight and zero gradient must stay exactly 0 (no 0/0);
     * element 2: zero gradient, moved by weight decay only (when wd > 0). */
    const float grads[3][N] = {{0.1f, -0.2f, 0.0f, 0.0f, 1e-4f},
                               {0.3f, -0.1f, 0.0f, 0.0f, -2.0f},
                               {-0.2f, 0.4f, 0.0f, 0.0f, 5.0f}};
    double lr = 0.001, b1 = 0.9, b2 = 0.999, eps = 1e-8, wd = 0.0;
    if (custom) {
        lr = 0.05;
        b1 = 0.5;
        b2 = 0.75;
        eps = 1e-3;
        wd = 0.1;
    }
    crmt_model *model = fake_model(N);
    crmt_optimizer *opt = make_opt(model, CRMT_OPTIMIZER_ADAM);
    if (custom) {
        set_ok(opt, CRMT_OPT_LR, lr);
        set_ok(opt, CRMT_OPT_BETA1, b1);
        set_ok(opt, CRMT_OPT_BETA2, b2);
        set_ok(opt, CRMT_OPT_EPSILON, eps);
        set_ok(opt, CRMT_OPT_WEIGHT_DECAY, wd);
    }
    memcpy(model->params, w0, sizeof w0);
    double w[N], m[N] = {0}, v[N] = {0};
    for (int i = 0; i < N; i++)
        w[i] = w0[i];
    for (int s = 0; s < 3; s++) {
        step(opt, model, grads[s]);
        adam_reference(w, m, v, grads[s], N, s + 1, lr, b1, b2, eps, wd);
        for (int i = 0; i < N; i++) {
            ck_assert_msg(fabs(model->params[i] - w[i]) <= 1e-6 * fmax(1.0, fabs(w[i])),
                          "custom %d step %d element %d: %.9g vs reference %.9g", custom, s, i,
                          (double)model->params[i], w[i]);
            ck_assert(fabs((double)opt->buf1[i] - m[i]) <= 1e-6 * fmax(1.0, fabs(m[i])));
            ck_assert(fabs((double)opt->buf2[i] - v[i]) <= 1e-6 * fmax(1.0, fabs(v[i])));
        }
        /* each step moved the weights by O(lr), not by a rounding error */
        ck_assert(fabs(model->params[0] - w0[0]) > 0.1 * lr);
        ck_assert_float_eq(model->params[3], 0.0f);
    }
    ck_assert_int_eq(opt->step_count, 3);
    ck_assert_uint_eq(model->generation, 3);
    crmt_optimizer_destroy(opt);
    fake_free(model);
}

START_TEST(test_adam_defaults_3_steps) { check_adam_run(0); }
END_TEST

START_TEST(test_adam_custom_3_steps) { check_adam_run(1); }
END_TEST

/* First Adam step is -lr * sign(g) * |g| / (|g| + eps): checked in closed form. */
START_TEST(test_adam_first_step_closed_form)
{
    crmt_model *m = fake_model(2);
    crmt_optimizer *opt = make_opt(m, CRMT_OPTIMIZER_ADAM);
    set_ok(opt, CRMT_OPT_LR, 0.1);
    set_ok(opt, CRMT_OPT_EPSILON, 0.5);
    const float g[2] = {0.5f, -2.0f};
    step(opt, m, g);
    /* mhat = g, vhat = g^2: w = -0.1 * g / (|g| + 0.5) -> -0.05, 0.08 */
    ck_assert_double_eq_tol(m->params[0], -0.05, 1e-7);
    ck_assert_double_eq_tol(m->params[1], 0.08, 1e-7);
    crmt_optimizer_destroy(opt);
    fake_free(m);
}
END_TEST

/* ---------------------------------------------------------------- reset */

START_TEST(test_reset_sgd)
{
    crmt_model *m = fake_model(1);
    crmt_optimizer *opt = make_opt(m, CRMT_OPTIMIZER_SGD);
    set_ok(opt, CRMT_OPT_LR, 0.25);
    set_ok(opt, CRMT_OPT_MOMENTUM, 0.5);
    ck_assert_int_eq(crmt_optimizer_set_epoch(opt, 3), CRMT_OK);
    m->params[0] = 1.0f;
    const float g[1] = {1.0f};
    step(opt, m, g); /* buf 1, w 0.75 */
    step(opt, m, g); /* buf 1.5, w 0.375 */
    ck_assert_float_eq(m->params[0], 0.375f);
    ck_assert_int_eq(crmt_optimizer_reset(opt), CRMT_OK);
    ck_assert_int_eq(opt->step_count, 0);
    /* options and epoch are kept */
    ck_assert_double_eq(get_val(opt, CRMT_OPT_LR), 0.25);
    ck_assert_double_eq(get_val(opt, CRMT_OPT_MOMENTUM), 0.5);
    ck_assert_int_eq(opt->epoch, 3);
    /* first-step semantics again: buf = g = 1, w = 0.375 - 0.25 = 0.125 (not 0.375 - 0.25*2) */
    step(opt, m, g);
    ck_assert_float_eq(opt->buf1[0], 1.0f);
    ck_assert_float_eq(m->params[0], 0.125f);
    crmt_optimizer_destroy(opt);
    fake_free(m);
}
END_TEST

START_TEST(test_reset_adam)
{
    enum { N = 3 };
    crmt_model *a = fake_model(N), *b = fake_model(N);
    crmt_optimizer *used = make_opt(a, CRMT_OPTIMIZER_ADAM);
    set_ok(used, CRMT_OPT_LR, 0.01);
    const float g1[N] = {1.0f, -0.5f, 0.25f}, g2[N] = {-0.3f, 0.2f, 0.7f};
    step(used, a, g1);
    step(used, a, g2);
    ck_assert_int_eq(crmt_optimizer_reset(used), CRMT_OK);
    ck_assert_int_eq(used->step_count, 0);
    for (int i = 0; i < N; i++) {
        ck_assert_float_eq(used->buf1[i], 0.0f);
        ck_assert_float_eq(used->buf2[i], 0.0f);
    }
    /* A fresh optimizer from the same weights must give the identical next step. */
    memcpy(b->params, a->params, N * sizeof(float));
    crmt_optimizer *fresh = make_opt(b, CRMT_OPTIMIZER_ADAM);
    set_ok(fresh, CRMT_OPT_LR, 0.01);
    step(used, a, g2);
    step(fresh, b, g2);
    ck_assert_mem_eq(a->params, b->params, N * sizeof(float));
    step(used, a, g1);
    step(fresh, b, g1);
    ck_assert_mem_eq(a->params, b->params, N * sizeof(float));
    crmt_optimizer_destroy(used);
    crmt_optimizer_destroy(fresh);
    fake_free(a);
    fake_free(b);
}
END_TEST

/* ---------------------------------------------------------------- error messages */

START_TEST(test_errmsg)
{
    crmt_model *m = fake_model(1);
    crmt_optimizer *opt = make_opt(m, CRMT_OPTIMIZER_ADAM);
    ck_assert_str_eq(crmt_optimizer_errmsg(opt), "");
    crmt_clear_error();
    ck_assert_int_eq(crmt_optimizer_set(opt, CRMT_OPT_BETA2, 2.0), CRMT_ERR_INVALID_ARGUMENT);
    ck_assert_str_ne(crmt_optimizer_errmsg(opt), "");
    ck_assert_str_eq(crmt_optimizer_errmsg(opt), crmt_last_error());
    ck_assert_ptr_nonnull(strstr(crmt_optimizer_errmsg(opt), "beta2"));
    /* a success does not clear the handle's message */
    set_ok(opt, CRMT_OPT_BETA2, 0.99);
    ck_assert_str_ne(crmt_optimizer_errmsg(opt), "");
    crmt_optimizer_destroy(opt);
    fake_free(m);
}
END_TEST

/* ---------------------------------------------------------------- real model */

START_TEST(test_real_model)
{
    crmt_spec *spec = NULL;
    ck_assert_int_eq(crmt_spec_create(&spec, 3), CRMT_OK);
    int a = -1, b = -1;
    ck_assert_int_eq(crmt_spec_add_modality(spec, "audio", 4, &a), CRMT_OK);
    ck_assert_int_eq(crmt_spec_add_modality(spec, "video", 2, &b), CRMT_OK);
    ck_assert_int_eq(crmt_spec_add_linear(spec, a, 5), CRMT_OK);
    ck_assert_int_eq(crmt_spec_add_relu(spec, a), CRMT_OK);
    ck_assert_int_eq(crmt_spec_add_linear(spec, b, 3), CRMT_OK);
    crmt_model *model = NULL;
    ck_assert_int_eq(crmt_model_create(&model, spec, 7), CRMT_OK);
    crmt_spec_destroy(spec);
    size_t n = crmt_model_num_parameters(model);
    ck_assert_uint_gt(n, 0);

    float *before = malloc(n * sizeof(float));
    ck_assert_ptr_nonnull(before);

    /* SGD, lr 0.5, gradient i -> w_i - 0.5 * g_i (computed the same way in float) */
    crmt_optimizer *sgd = make_opt(model, CRMT_OPTIMIZER_SGD);
    ck_assert_uint_eq(sgd->n, n);
    ck_assert_ptr_eq(sgd->model, model);
    set_ok(sgd, CRMT_OPT_LR, 0.5);
    memcpy(before, model->params, n * sizeof(float));
    for (size_t i = 0; i < n; i++)
        model->grads[i] = (float)((int)(i % 7) - 3) * 0.125f;
    uint64_t gen = model->generation;
    ck_assert_int_eq(crmti_optimizer_apply(sgd, model->params, model->grads, model->params), 1);
    ck_assert_uint_eq(model->generation, gen + 1);
    for (size_t i = 0; i < n; i++)
        ck_assert_float_eq(model->params[i], before[i] - 0.5f * model->grads[i]);
    /* out of place: the same values in another array, the input left as it was */
    float *updated = malloc(n * sizeof(float));
    ck_assert_ptr_nonnull(updated);
    memcpy(before, model->params, n * sizeof(float));
    ck_assert_int_eq(crmti_optimizer_apply(sgd, model->params, model->grads, updated), 1);
    for (size_t i = 0; i < n; i++) {
        ck_assert_float_eq(model->params[i], before[i]);
        ck_assert_float_eq(updated[i], before[i] - 0.5f * model->grads[i]);
    }
    /* an update that overflows reports it (the non-finite value may be anywhere) */
    model->grads[n - 1] = 3e38f;
    set_ok(sgd, CRMT_OPT_LR, 1e4);
    ck_assert_int_eq(crmti_optimizer_apply(sgd, model->params, model->grads, updated), 0);
    set_ok(sgd, CRMT_OPT_LR, 0.5);
    model->grads[n - 1] = (float)((int)((n - 1) % 7) - 3) * 0.125f;
    free(updated);
    crmt_optimizer_destroy(sgd);

    /* Adam, first step: each weight with a nonzero gradient moves by ~lr against it */
    crmt_optimizer *adam = make_opt(model, CRMT_OPTIMIZER_ADAM);
    ck_assert_uint_eq(adam->n, n);
    memcpy(before, model->params, n * sizeof(float));
    ck_assert_int_eq(crmti_optimizer_apply(adam, model->params, model->grads, model->params), 1);
    ck_assert_uint_eq(model->generation, gen + 4);
    for (size_t i = 0; i < n; i++) {
        double d = (double)model->params[i] - before[i], g = model->grads[i];
        if (g == 0.0)
            ck_assert_float_eq(model->params[i], before[i]);
        else
            ck_assert_msg(fabs(d + 0.001 * (g > 0 ? 1.0 : -1.0)) < 1e-6,
                          "element %zu moved by %g", i, d);
    }
    /* a finite gradient whose square overflows the second moment: the update itself would be
     * finite (m / inf = 0) and the parameter frozen for good, so it reports an overflow */
    const float saved_grad = model->grads[0];
    model->grads[0] = 1e30f;
    float *scratch = malloc(n * sizeof(float));
    ck_assert_ptr_nonnull(scratch);
    ck_assert_int_eq(crmti_optimizer_apply(adam, model->params, model->grads, scratch), 0);
    ck_assert(isinf(adam->buf2[0]));
    ck_assert(isfinite(scratch[0])); /* the case the moment check exists for */
    model->grads[0] = saved_grad;
    free(scratch);
    crmt_optimizer_destroy(adam);

    /* create failures on a real model record the message in the model */
    crmt_optimizer *opt = NULL;
    crmt_clear_error();
    ck_assert_int_eq(crmt_optimizer_create(&opt, model, (crmt_optimizer_kind)5),
                     CRMT_ERR_INVALID_ARGUMENT);
    ck_assert_ptr_null(opt);
    ck_assert_str_ne(crmt_model_errmsg(model), "");
    ck_assert_str_eq(crmt_model_errmsg(model), crmt_last_error());

    free(before);
    crmt_model_destroy(model);
}
END_TEST

static Suite *optimizer_suite(void)
{
    Suite *s = suite_create("optimizer");
    TCase *tc = tcase_create("api");
    tcase_add_test(tc, test_defaults);
    tcase_add_test(tc, test_create_invalid);
    tcase_add_test(tc, test_null_handles);
    tcase_add_test(tc, test_bounds_every_param);
    tcase_add_test(tc, test_documented_ranges);
    tcase_add_test(tc, test_unknown_param);
    tcase_add_test(tc, test_set_epoch);
    tcase_add_test(tc, test_errmsg);
    suite_add_tcase(s, tc);

    tc = tcase_create("schedule");
    tcase_add_test(tc, test_schedule_constant);
    tcase_add_test(tc, test_schedule_step);
    tcase_add_test(tc, test_schedule_cosine);
    tcase_add_test(tc, test_apply_uses_schedule);
    suite_add_tcase(s, tc);

    tc = tcase_create("update");
    tcase_add_test(tc, test_sgd_plain);
    tcase_add_test(tc, test_sgd_momentum_3_steps);
    tcase_add_test(tc, test_sgd_weight_decay);
    tcase_add_test(tc, test_sgd_momentum_enabled_late);
    tcase_add_test(tc, test_adam_defaults_3_steps);
    tcase_add_test(tc, test_adam_custom_3_steps);
    tcase_add_test(tc, test_adam_first_step_closed_form);
    tcase_add_test(tc, test_reset_sgd);
    tcase_add_test(tc, test_reset_adam);
    suite_add_tcase(s, tc);

    tc = tcase_create("model");
    tcase_add_test(tc, test_real_model);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(optimizer_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
