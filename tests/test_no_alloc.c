/* No allocation in a training step (docs/design.md, "Workspaces").
 *
 * This binary is linked with -Wl,--wrap=malloc,--wrap=calloc,--wrap=realloc,--wrap=free
 * (tests/CMakeLists.txt): every call to those functions from the test, the test support code
 * and the white-box static library goes through the counting wrappers below. Allocations made
 * inside other shared libraries (libc internals, OpenBLAS) are not seen; the library itself
 * must not call the allocator at all once its training state has grown to the batch size.
 *
 * Checked:
 *  - crmt_train_step allocates on its first call (the training state; this also proves the
 *    wrappers are active) and never again for the same or a smaller batch, for every method
 *    (JT, JT-AT, JT-Mixup with a JT head; CRMT, CRMT-AT, CRMT-Mix with a CRMT head, both head
 *    normalisations), with SGD and Adam; a larger batch grows the state once, then no more;
 *  - crmt_train: a 3-epoch run makes exactly as many allocator calls as a 1-epoch run (the
 *    epochs' inner steps allocate nothing), also with CRMT step 2 (1 vs 3 integration epochs)
 *    and with a batch size that does not divide the dataset (a short last batch). */
#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crmt/crmt.h"

/* ------------------------------------------------------------------ counting allocator */

void *__real_malloc(size_t size);
void *__real_calloc(size_t n, size_t size);
void *__real_realloc(void *p, size_t size);
void __real_free(void *p);
void *__wrap_malloc(size_t size);
void *__wrap_calloc(size_t n, size_t size);
void *__wrap_realloc(void *p, size_t size);
void __wrap_free(void *p);

static int counting;
static size_t n_malloc, n_calloc, n_realloc, n_free;

void *__wrap_malloc(size_t size)
{
    if (counting)
        n_malloc++;
    return __real_malloc(size);
}

void *__wrap_calloc(size_t n, size_t size)
{
    if (counting)
        n_calloc++;
    return __real_calloc(n, size);
}

void *__wrap_realloc(void *p, size_t size)
{
    if (counting)
        n_realloc++;
    return __real_realloc(p, size);
}

void __wrap_free(void *p)
{
    if (counting && p)
        n_free++;
    __real_free(p);
}

static void count_start(void)
{
    n_malloc = n_calloc = n_realloc = n_free = 0;
    counting = 1;
}

/* Allocator calls (malloc + calloc + realloc + non-NULL free) since count_start. */
static size_t count_stop(void)
{
    counting = 0;
    return n_malloc + n_calloc + n_realloc + n_free;
}

/* ------------------------------------------------------------------ fixtures */

#define N_SAMPLES 200
#define N_CLASSES 4
static const int dims[2] = {12, 8};

static float *xs[2];
static int32_t *ys;
static crmt_dataset *data;

static void setup(void)
{
    uint64_t s = 0x9e3779b97f4a7c15ULL;
    ys = malloc(sizeof(int32_t) * N_SAMPLES);
    ck_assert_ptr_nonnull(ys);
    for (int i = 0; i < N_SAMPLES; i++) {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        ys[i] = (int32_t)(s % N_CLASSES);
    }
    for (int m = 0; m < 2; m++) {
        xs[m] = malloc(sizeof(float) * N_SAMPLES * (size_t)dims[m]);
        ck_assert_ptr_nonnull(xs[m]);
        for (int i = 0; i < N_SAMPLES * dims[m]; i++) {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            const int sample = i / dims[m], k = i % dims[m];
            xs[m][i] = (float)((double)(s >> 11) * 0x1.0p-53 - 0.5) +
                       (k % N_CLASSES == ys[sample] ? 1.0f : 0.0f);
        }
    }
    ck_assert_int_eq(crmt_dataset_create(&data, N_SAMPLES, 2), CRMT_OK);
    for (int m = 0; m < 2; m++)
        ck_assert_int_eq(crmt_dataset_set_modality(data, m, xs[m], (size_t)dims[m], CRMT_BORROW),
                         CRMT_OK);
    ck_assert_int_eq(crmt_dataset_set_labels(data, ys), CRMT_OK);
}

static void teardown(void)
{
    crmt_dataset_destroy(data);
    for (int m = 0; m < 2; m++)
        free(xs[m]);
    free(ys);
}

static int is_crmt(crmt_train_method m)
{
    return m == CRMT_METHOD_CRMT || m == CRMT_METHOD_CRMT_AT || m == CRMT_METHOD_CRMT_MIX;
}

static crmt_model *make_model(int crmt_head, crmt_head_norm norm)
{
    crmt_spec *spec = NULL;
    ck_assert_int_eq(crmt_spec_create(&spec, N_CLASSES), CRMT_OK);
    for (int m = 0; m < 2; m++) {
        ck_assert_int_eq(crmt_spec_add_modality(spec, NULL, dims[m], NULL), CRMT_OK);
        ck_assert_int_eq(crmt_spec_add_linear(spec, m, 16), CRMT_OK);
        ck_assert_int_eq(crmt_spec_add_relu(spec, m), CRMT_OK);
        ck_assert_int_eq(crmt_spec_add_linear(spec, m, 6), CRMT_OK);
    }
    ck_assert_int_eq(crmt_spec_set(spec, CRMT_SPEC_HEAD, crmt_head ? CRMT_HEAD_CRMT : CRMT_HEAD_JT),
                     CRMT_OK);
    ck_assert_int_eq(crmt_spec_set(spec, CRMT_SPEC_HEAD_NORM, norm), CRMT_OK);
    crmt_model *model = NULL;
    ck_assert_int_eq(crmt_model_create(&model, spec, 11), CRMT_OK);
    crmt_spec_destroy(spec);
    return model;
}

static crmt_optimizer *make_optimizer(crmt_model *model, crmt_optimizer_kind kind)
{
    crmt_optimizer *opt = NULL;
    ck_assert_int_eq(crmt_optimizer_create(&opt, model, kind), CRMT_OK);
    ck_assert_int_eq(crmt_optimizer_set(opt, CRMT_OPT_LR, 0.01), CRMT_OK);
    ck_assert_int_eq(crmt_optimizer_set(opt, CRMT_OPT_MOMENTUM, 0.9), CRMT_OK);
    ck_assert_int_eq(crmt_optimizer_set(opt, CRMT_OPT_WEIGHT_DECAY, 1e-4), CRMT_OK);
    ck_assert_int_eq(crmt_optimizer_set(opt, CRMT_OPT_SCHEDULE, CRMT_SCHEDULE_COSINE), CRMT_OK);
    return opt;
}

/* ------------------------------------------------------------------ crmt_train_step */

static const crmt_train_method all_methods[6] = {
    CRMT_METHOD_JT,   CRMT_METHOD_JT_AT,   CRMT_METHOD_JT_MIXUP,
    CRMT_METHOD_CRMT, CRMT_METHOD_CRMT_AT, CRMT_METHOD_CRMT_MIX};

/* _i: method index (loop test), times optimizer kind and head norm. */
START_TEST(train_step_no_alloc_after_warmup)
{
    const crmt_train_method method = all_methods[_i % 6];
    const crmt_optimizer_kind kind = (_i / 6) % 2 ? CRMT_OPTIMIZER_ADAM : CRMT_OPTIMIZER_SGD;
    const crmt_head_norm norm = (_i / 12) ? CRMT_NORM_ROWS : CRMT_NORM_ORTHONORMAL;
    /* JT-family methods also run on a CRMT head (the OJT ablation) for half the cases. */
    const int crmt_head = is_crmt(method) || (_i / 12);
    crmt_model *model = make_model(crmt_head, norm);
    crmt_optimizer *opt = make_optimizer(model, kind);
    crmt_train_options o;
    ck_assert_int_eq(crmt_train_options_init(&o, sizeof o), CRMT_OK);
    o.method = method;
    o.seed = 3;
    const float *in[2] = {xs[0], xs[1]};
    const size_t batch = 48;
    double loss = 0.0;

    /* Check's assertions allocate (their location messages), so no ck_assert runs while
     * counting. */
    count_start();
    crmt_status s0 = crmt_train_step(model, opt, in, ys, batch, &o, &loss);
    const size_t warm = count_stop();
    ck_assert_int_eq(s0, CRMT_OK);
    ck_assert_msg(warm > 0, "the first step made no allocator call: are the --wrap wrappers "
                            "linked? (method %d)",
                  (int)method);

    for (int rep = 0; rep < 4; rep++) {
        /* the same batch size, then smaller ones, from different offsets */
        const size_t n = rep < 2 ? batch : batch - 7 * (size_t)rep;
        const size_t off = (size_t)rep * 13;
        const float *inr[2] = {xs[0] + off * (size_t)dims[0], xs[1] + off * (size_t)dims[1]};
        count_start();
        crmt_status s = crmt_train_step(model, opt, inr, ys + off, n, &o, &loss);
        const size_t calls = count_stop();
        ck_assert_int_eq(s, CRMT_OK);
        ck_assert_msg(calls == 0,
                      "crmt_train_step (method %d, %s, batch %zu) made %zu allocator calls "
                      "after the warm-up (malloc %zu, calloc %zu, realloc %zu, free %zu)",
                      (int)method, kind == CRMT_OPTIMIZER_ADAM ? "Adam" : "SGD", n, calls,
                      n_malloc, n_calloc, n_realloc, n_free);
    }

    /* A larger batch grows the state (allowed), after which steps are free again. */
    ck_assert_int_eq(crmt_train_step(model, opt, in, ys, 2 * batch, &o, &loss), CRMT_OK);
    count_start();
    crmt_status s = crmt_train_step(model, opt, in, ys, 2 * batch, &o, &loss);
    const size_t grown = count_stop(); /* no Check call inside a counting window */
    ck_assert_int_eq(s, CRMT_OK);
    ck_assert_uint_eq(grown, 0);
    ck_assert_msg(loss == loss, "loss is NaN");
    crmt_optimizer_destroy(opt);
    crmt_model_destroy(model);
}
END_TEST

/* ------------------------------------------------------------------ crmt_train epochs */

/* Allocator calls of one crmt_train run on a fresh model. */
static size_t train_calls(crmt_train_method method, int epochs, int integration_epochs,
                          int batch_size)
{
    crmt_model *model = make_model(is_crmt(method), CRMT_NORM_AUTO);
    crmt_optimizer *opt = make_optimizer(model, CRMT_OPTIMIZER_SGD);
    crmt_train_options o;
    ck_assert_int_eq(crmt_train_options_init(&o, sizeof o), CRMT_OK);
    o.method = method;
    o.epochs = epochs;
    o.batch_size = batch_size;
    o.seed = 9;
    o.integration_epochs = integration_epochs;
    o.integration_max_accuracy_drop = 1.0; /* never undo: run every step-2 epoch */
    crmt_train_result r = {.struct_size = sizeof r};
    count_start();
    crmt_status s = crmt_train(model, opt, data, &o, &r);
    const size_t calls = count_stop();
    ck_assert_int_eq(s, CRMT_OK);
    ck_assert_int_eq(r.epochs_run, epochs);
    ck_assert_int_eq(r.integration_epochs_run, integration_epochs);
    crmt_optimizer_destroy(opt);
    crmt_model_destroy(model);
    return calls;
}

START_TEST(train_epochs_do_not_allocate)
{
    const crmt_train_method method = all_methods[_i];
    /* 200 samples, batch 64: three full batches and a short one of 8 per epoch */
    const size_t one = train_calls(method, 1, 0, 64);
    const size_t three = train_calls(method, 3, 0, 64);
    ck_assert_msg(one > 0, "crmt_train made no allocator call: wrappers not linked?");
    ck_assert_msg(one == three,
                  "method %d: 1 epoch made %zu allocator calls, 3 epochs %zu: the inner steps "
                  "allocate",
                  (int)method, one, three);
}
END_TEST

START_TEST(integration_epochs_do_not_allocate)
{
    const crmt_train_method method = all_methods[3 + _i]; /* CRMT, CRMT-AT, CRMT-Mix */
    const size_t one = train_calls(method, 1, 1, 32);
    const size_t three = train_calls(method, 1, 3, 32);
    ck_assert_msg(one == three,
                  "method %d: 1 integration epoch made %zu allocator calls, 3 epochs %zu",
                  (int)method, one, three);
}
END_TEST

/* The wrappers see the library's own calls: creating and destroying a spec allocates and
 * frees through them (guards against a link where --wrap silently does nothing). */
START_TEST(wrappers_see_library_calls)
{
    crmt_spec *spec = NULL;
    count_start();
    crmt_status s = crmt_spec_create(&spec, N_CLASSES);
    crmt_spec_destroy(spec);
    count_stop();
    ck_assert_int_eq(s, CRMT_OK);
    ck_assert_uint_gt(n_malloc + n_calloc, 0);
    ck_assert_uint_eq(n_malloc + n_calloc, n_free);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("no_alloc");
    TCase *tc = tcase_create("no_alloc");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, wrappers_see_library_calls);
    tcase_add_loop_test(tc, train_step_no_alloc_after_warmup, 0, 24);
    tcase_add_loop_test(tc, train_epochs_do_not_allocate, 0, 6);
    tcase_add_loop_test(tc, integration_epochs_do_not_allocate, 0, 3);
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
