/* Datasets: create / set / borrow / copy semantics, validation of every argument, subsets,
 * random splits, error messages, and the digits test data read by the digits loader
 * (examples/support/digits.h). */
#include <check.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "crmt/crmt.h"
#include "data/dataset.h"
#include "digits.h"
#include "tensor/rng.h"

static crmt_dataset *make(size_t n, int n_mod)
{
    crmt_dataset *ds = NULL;
    ck_assert_int_eq(crmt_dataset_create(&ds, n, n_mod), CRMT_OK);
    ck_assert_ptr_nonnull(ds);
    return ds;
}

/* The status is an error and both the handle (when given) and the thread hold a message. */
static void expect_fail(crmt_status got, crmt_status want, const crmt_dataset *ds)
{
    ck_assert_int_eq(got, want);
    ck_assert_msg(crmt_last_error()[0] != '\0', "no thread message");
    if (ds)
        ck_assert_str_eq(crmt_dataset_errmsg(ds), crmt_last_error());
}

/* ------------------------------------------------------------------------------------------
 * Creation and getters. */

START_TEST(test_create_and_getters)
{
    crmt_dataset *ds = make(5, 3);
    ck_assert_uint_eq(crmt_dataset_num_samples(ds), 5);
    ck_assert_int_eq(crmt_dataset_num_modalities(ds), 3);
    for (int m = -1; m <= 3; m++) {
        ck_assert_uint_eq(crmt_dataset_dim(ds, m), 0);
        ck_assert_ptr_null(crmt_dataset_data(ds, m));
    }
    ck_assert_ptr_null(crmt_dataset_labels(ds));
    ck_assert_str_eq(crmt_dataset_errmsg(ds), "");
    ck_assert(!crmti_dataset_complete(ds));
    crmt_dataset_destroy(ds);

    ds = make(1, CRMT_MAX_MODALITIES);
    ck_assert_int_eq(crmt_dataset_num_modalities(ds), CRMT_MAX_MODALITIES);
    crmt_dataset_destroy(ds);
}
END_TEST

START_TEST(test_create_invalid)
{
    crmt_dataset *ds = (crmt_dataset *)(uintptr_t)1;
    crmt_clear_error();
    expect_fail(crmt_dataset_create(NULL, 5, 1), CRMT_ERR_INVALID_ARGUMENT, NULL);
    crmt_clear_error();
    expect_fail(crmt_dataset_create(&ds, 0, 1), CRMT_ERR_INVALID_ARGUMENT, NULL);
    ck_assert_ptr_null(ds);
    ck_assert_ptr_nonnull(strstr(crmt_last_error(), "n_samples"));
    expect_fail(crmt_dataset_create(&ds, SIZE_MAX, 1), CRMT_ERR_INVALID_ARGUMENT, NULL);
    expect_fail(crmt_dataset_create(&ds, (size_t)INT32_MAX + 1, 1), CRMT_ERR_INVALID_ARGUMENT,
                NULL);
    expect_fail(crmt_dataset_create(&ds, 5, 0), CRMT_ERR_INVALID_ARGUMENT, NULL);
    ck_assert_ptr_nonnull(strstr(crmt_last_error(), "n_modalities"));
    expect_fail(crmt_dataset_create(&ds, 5, -1), CRMT_ERR_INVALID_ARGUMENT, NULL);
    expect_fail(crmt_dataset_create(&ds, 5, CRMT_MAX_MODALITIES + 1), CRMT_ERR_INVALID_ARGUMENT,
                NULL);
    ck_assert_ptr_null(ds);
    /* The largest sample count is accepted without allocating per-sample storage. */
    ck_assert_int_eq(crmt_dataset_create(&ds, (size_t)INT32_MAX, 1), CRMT_OK);
    crmt_dataset_destroy(ds);
}
END_TEST

START_TEST(test_null_everywhere)
{
    float x[2] = {1, 2};
    int32_t l[2] = {0, 1};
    size_t idx[1] = {0};
    crmt_dataset *out = NULL;
    crmt_dataset_destroy(NULL);
    ck_assert_str_eq(crmt_dataset_errmsg(NULL), "");
    ck_assert_uint_eq(crmt_dataset_num_samples(NULL), 0);
    ck_assert_int_eq(crmt_dataset_num_modalities(NULL), 0);
    ck_assert_uint_eq(crmt_dataset_dim(NULL, 0), 0);
    ck_assert_ptr_null(crmt_dataset_data(NULL, 0));
    ck_assert_ptr_null(crmt_dataset_labels(NULL));
    ck_assert(!crmti_dataset_complete(NULL));
    expect_fail(crmt_dataset_set_modality(NULL, 0, x, 1, CRMT_COPY), CRMT_ERR_INVALID_ARGUMENT,
                NULL);
    expect_fail(crmt_dataset_set_labels(NULL, l), CRMT_ERR_INVALID_ARGUMENT, NULL);
    expect_fail(crmt_dataset_load_npy_modality(NULL, 0, "x.npy"), CRMT_ERR_INVALID_ARGUMENT,
                NULL);
    expect_fail(crmt_dataset_load_npy_labels(NULL, "x.npy"), CRMT_ERR_INVALID_ARGUMENT, NULL);
    expect_fail(crmt_dataset_subset(&out, NULL, idx, 1), CRMT_ERR_INVALID_ARGUMENT, NULL);
    ck_assert_ptr_null(out);

    crmt_dataset *ds = make(2, 1);
    expect_fail(crmt_dataset_set_modality(ds, 0, NULL, 1, CRMT_COPY), CRMT_ERR_INVALID_ARGUMENT,
                ds);
    expect_fail(crmt_dataset_set_labels(ds, NULL), CRMT_ERR_INVALID_ARGUMENT, ds);
    expect_fail(crmt_dataset_load_npy_modality(ds, 0, NULL), CRMT_ERR_INVALID_ARGUMENT, ds);
    expect_fail(crmt_dataset_load_npy_labels(ds, NULL), CRMT_ERR_INVALID_ARGUMENT, ds);
    ck_assert_int_eq(crmt_dataset_set_modality(ds, 0, x, 1, CRMT_BORROW), CRMT_OK);
    ck_assert_int_eq(crmt_dataset_set_labels(ds, l), CRMT_OK);
    expect_fail(crmt_dataset_subset(NULL, ds, idx, 1), CRMT_ERR_INVALID_ARGUMENT, NULL);
    expect_fail(crmt_dataset_subset(&out, ds, NULL, 1), CRMT_ERR_INVALID_ARGUMENT, NULL);
    ck_assert_ptr_null(out);
    crmt_dataset_destroy(ds);
}
END_TEST

/* ------------------------------------------------------------------------------------------
 * Modalities and labels. */

START_TEST(test_borrow_is_same_pointer)
{
    crmt_dataset *ds = make(3, 2);
    float x[6] = {1, 2, 3, 4, 5, 6};
    ck_assert_int_eq(crmt_dataset_set_modality(ds, 1, x, 2, CRMT_BORROW), CRMT_OK);
    ck_assert_ptr_eq(crmt_dataset_data(ds, 1), x);
    ck_assert_uint_eq(crmt_dataset_dim(ds, 1), 2);
    ck_assert_ptr_null(crmt_dataset_data(ds, 0));
    ck_assert_uint_eq(crmt_dataset_dim(ds, 0), 0);
    crmt_dataset_destroy(ds); /* must not free x */
    ck_assert(x[5] == 6.0f);
}
END_TEST

START_TEST(test_copy_survives_host_free)
{
    crmt_dataset *ds = make(4, 1);
    float *host = malloc(12 * sizeof *host);
    ck_assert_ptr_nonnull(host);
    for (int i = 0; i < 12; i++)
        host[i] = (float)i * 0.5f;
    ck_assert_int_eq(crmt_dataset_set_modality(ds, 0, host, 3, CRMT_COPY), CRMT_OK);
    ck_assert_ptr_ne(crmt_dataset_data(ds, 0), host);
    free(host);
    const float *x = crmt_dataset_data(ds, 0);
    for (int i = 0; i < 12; i++)
        ck_assert(x[i] == (float)i * 0.5f);

    int32_t *labels = malloc(4 * sizeof *labels);
    ck_assert_ptr_nonnull(labels);
    for (int i = 0; i < 4; i++)
        labels[i] = 3 - i;
    ck_assert_int_eq(crmt_dataset_set_labels(ds, labels), CRMT_OK);
    ck_assert_ptr_ne(crmt_dataset_labels(ds), labels);
    labels[0] = 99;
    free(labels);
    ck_assert_int_eq(crmt_dataset_labels(ds)[0], 3);
    ck_assert_int_eq(crmt_dataset_labels(ds)[3], 0);
    ck_assert(crmti_dataset_complete(ds));
    crmt_dataset_destroy(ds);
}
END_TEST

START_TEST(test_replace_modality_and_labels)
{
    crmt_dataset *ds = make(2, 1);
    float a[4] = {1, 2, 3, 4}, b[2] = {7, 8};
    ck_assert_int_eq(crmt_dataset_set_modality(ds, 0, a, 2, CRMT_COPY), CRMT_OK);
    ck_assert_int_eq(crmt_dataset_set_modality(ds, 0, b, 1, CRMT_BORROW), CRMT_OK);
    ck_assert_ptr_eq(crmt_dataset_data(ds, 0), b);
    ck_assert_uint_eq(crmt_dataset_dim(ds, 0), 1);
    ck_assert_int_eq(crmt_dataset_set_modality(ds, 0, a, 2, CRMT_COPY), CRMT_OK);
    ck_assert_uint_eq(crmt_dataset_dim(ds, 0), 2);
    /* Re-setting from the dataset's own copy is safe. */
    ck_assert_int_eq(crmt_dataset_set_modality(ds, 0, crmt_dataset_data(ds, 0), 2, CRMT_COPY),
                     CRMT_OK);
    ck_assert(crmt_dataset_data(ds, 0)[3] == 4.0f);
    int32_t l1[2] = {0, 1}, l2[2] = {5, 6};
    ck_assert_int_eq(crmt_dataset_set_labels(ds, l1), CRMT_OK);
    ck_assert_int_eq(crmt_dataset_set_labels(ds, l2), CRMT_OK);
    ck_assert_int_eq(crmt_dataset_labels(ds)[1], 6);
    ck_assert_int_eq(crmt_dataset_set_labels(ds, crmt_dataset_labels(ds)), CRMT_OK);
    ck_assert_int_eq(crmt_dataset_labels(ds)[0], 5);
    crmt_dataset_destroy(ds);
}
END_TEST

START_TEST(test_set_modality_invalid)
{
    crmt_dataset *ds = make(2, 2);
    float x[4] = {1, 2, 3, 4};
    crmt_clear_error();
    expect_fail(crmt_dataset_set_modality(ds, 2, x, 2, CRMT_COPY), CRMT_ERR_INVALID_ARGUMENT, ds);
    ck_assert_ptr_nonnull(strstr(crmt_dataset_errmsg(ds), "modality 2"));
    expect_fail(crmt_dataset_set_modality(ds, -1, x, 2, CRMT_COPY), CRMT_ERR_INVALID_ARGUMENT,
                ds);
    expect_fail(crmt_dataset_set_modality(ds, CRMT_MAX_MODALITIES, x, 2, CRMT_COPY),
                CRMT_ERR_INVALID_ARGUMENT, ds);
    expect_fail(crmt_dataset_set_modality(ds, 0, x, 0, CRMT_COPY), CRMT_ERR_INVALID_ARGUMENT, ds);
    expect_fail(crmt_dataset_set_modality(ds, 0, x, SIZE_MAX, CRMT_COPY),
                CRMT_ERR_INVALID_ARGUMENT, ds);
    expect_fail(crmt_dataset_set_modality(ds, 0, x, ((size_t)1 << 24) + 1, CRMT_BORROW),
                CRMT_ERR_INVALID_ARGUMENT, ds);
    expect_fail(crmt_dataset_set_modality(ds, 0, x, 2, (crmt_ownership)7),
                CRMT_ERR_INVALID_ARGUMENT, ds);
    ck_assert_ptr_null(crmt_dataset_data(ds, 0));
    ck_assert_ptr_null(crmt_dataset_data(ds, 1));
    crmt_dataset_destroy(ds);
}
END_TEST

START_TEST(test_non_finite_refused)
{
    crmt_dataset *ds = make(2, 1);
    float good[4] = {1, 2, 3, 4};
    ck_assert_int_eq(crmt_dataset_set_modality(ds, 0, good, 2, CRMT_BORROW), CRMT_OK);
    const float bad_values[3] = {NAN, INFINITY, -INFINITY};
    for (int k = 0; k < 3; k++) {
        for (int own = 0; own < 2; own++) {
            float x[4] = {1, 2, 3, 4};
            x[3] = bad_values[k];
            expect_fail(crmt_dataset_set_modality(ds, 0, x, 2, (crmt_ownership)own),
                        CRMT_ERR_NON_FINITE, ds);
            ck_assert_ptr_nonnull(strstr(crmt_dataset_errmsg(ds), "sample 1, feature 1"));
            /* The previous data is kept. */
            ck_assert_ptr_eq(crmt_dataset_data(ds, 0), good);
            ck_assert_uint_eq(crmt_dataset_dim(ds, 0), 2);
        }
    }
    crmt_dataset_destroy(ds);
}
END_TEST

START_TEST(test_negative_labels)
{
    crmt_dataset *ds = make(3, 1);
    int32_t ok[3] = {0, 1, 2}, bad[3] = {0, -1, 2}, min[3] = {INT32_MIN, 0, 0};
    ck_assert_int_eq(crmt_dataset_set_labels(ds, ok), CRMT_OK);
    const int32_t *kept = crmt_dataset_labels(ds);
    crmt_clear_error();
    expect_fail(crmt_dataset_set_labels(ds, bad), CRMT_ERR_INVALID_ARGUMENT, ds);
    ck_assert_ptr_nonnull(strstr(crmt_dataset_errmsg(ds), "index 1"));
    expect_fail(crmt_dataset_set_labels(ds, min), CRMT_ERR_INVALID_ARGUMENT, ds);
    ck_assert_ptr_eq(crmt_dataset_labels(ds), kept);
    ck_assert_int_eq(kept[1], 1);
    int32_t big[3] = {INT32_MAX, 0, 7};
    ck_assert_int_eq(crmt_dataset_set_labels(ds, big), CRMT_OK);
    crmt_dataset_destroy(ds);
}
END_TEST

START_TEST(test_complete)
{
    crmt_dataset *ds = make(2, 2);
    float x[4] = {1, 2, 3, 4};
    int32_t l[2] = {0, 1};
    ck_assert(!crmti_dataset_complete(ds));
    ck_assert_int_eq(crmt_dataset_set_modality(ds, 0, x, 2, CRMT_BORROW), CRMT_OK);
    ck_assert(!crmti_dataset_complete(ds));
    ck_assert_int_eq(crmt_dataset_set_labels(ds, l), CRMT_OK);
    ck_assert(!crmti_dataset_complete(ds));
    ck_assert_int_eq(crmt_dataset_set_modality(ds, 1, x, 1, CRMT_COPY), CRMT_OK);
    ck_assert(crmti_dataset_complete(ds));
    crmt_dataset_destroy(ds);
}
END_TEST

/* ------------------------------------------------------------------------------------------
 * Subsets. */

START_TEST(test_subset)
{
    crmt_dataset *ds = make(4, 2);
    float a[8] = {0, 1, 10, 11, 20, 21, 30, 31}, b[4] = {100, 101, 102, 103};
    int32_t l[4] = {5, 6, 7, 8};
    ck_assert_int_eq(crmt_dataset_set_modality(ds, 0, a, 2, CRMT_BORROW), CRMT_OK);
    ck_assert_int_eq(crmt_dataset_set_modality(ds, 1, b, 1, CRMT_COPY), CRMT_OK);
    ck_assert_int_eq(crmt_dataset_set_labels(ds, l), CRMT_OK);

    size_t idx[5] = {3, 0, 3, 2, 1};
    crmt_dataset *sub = NULL;
    ck_assert_int_eq(crmt_dataset_subset(&sub, ds, idx, 5), CRMT_OK);
    ck_assert_uint_eq(crmt_dataset_num_samples(sub), 5);
    ck_assert_int_eq(crmt_dataset_num_modalities(sub), 2);
    ck_assert_uint_eq(crmt_dataset_dim(sub, 0), 2);
    ck_assert_uint_eq(crmt_dataset_dim(sub, 1), 1);
    ck_assert(crmti_dataset_complete(sub));
    for (size_t i = 0; i < 5; i++) {
        ck_assert(crmt_dataset_data(sub, 0)[2 * i] == a[2 * idx[i]]);
        ck_assert(crmt_dataset_data(sub, 0)[2 * i + 1] == a[2 * idx[i] + 1]);
        ck_assert(crmt_dataset_data(sub, 1)[i] == b[idx[i]]);
        ck_assert_int_eq(crmt_dataset_labels(sub)[i], l[idx[i]]);
    }
    /* The subset owns copies: it outlives its source. */
    ck_assert_ptr_ne(crmt_dataset_data(sub, 0), a);
    crmt_dataset_destroy(ds);
    ck_assert(crmt_dataset_data(sub, 0)[0] == 30.0f);
    crmt_dataset_destroy(sub);
}
END_TEST

START_TEST(test_subset_invalid)
{
    crmt_dataset *ds = make(3, 1);
    float a[3] = {1, 2, 3};
    int32_t l[3] = {0, 1, 2};
    size_t idx[2] = {0, 2}, bad[3] = {0, 3, 1};
    crmt_dataset *sub = (crmt_dataset *)(uintptr_t)1;
    /* Incomplete dataset. */
    ck_assert_int_eq(crmt_dataset_set_modality(ds, 0, a, 1, CRMT_BORROW), CRMT_OK);
    expect_fail(crmt_dataset_subset(&sub, ds, idx, 2), CRMT_ERR_STATE, NULL);
    ck_assert_ptr_null(sub);
    ck_assert_int_eq(crmt_dataset_set_labels(ds, l), CRMT_OK);
    /* Index out of range, no indices. */
    crmt_clear_error();
    expect_fail(crmt_dataset_subset(&sub, ds, bad, 3), CRMT_ERR_INVALID_ARGUMENT, NULL);
    ck_assert_ptr_nonnull(strstr(crmt_last_error(), "indices[1]"));
    ck_assert_ptr_null(sub);
    size_t huge[1] = {SIZE_MAX};
    expect_fail(crmt_dataset_subset(&sub, ds, huge, 1), CRMT_ERR_INVALID_ARGUMENT, NULL);
    expect_fail(crmt_dataset_subset(&sub, ds, idx, 0), CRMT_ERR_INVALID_ARGUMENT, NULL);
    expect_fail(crmt_dataset_subset(&sub, ds, idx, SIZE_MAX), CRMT_ERR_INVALID_ARGUMENT, NULL);
    ck_assert_ptr_null(sub);
    /* The source is untouched by failed subsets (const: no handle message either). */
    ck_assert_str_eq(crmt_dataset_errmsg(ds), "");
    crmt_dataset_destroy(ds);
}
END_TEST

/* ------------------------------------------------------------------------------------------
 * crmt_dataset_split. */

#define SPLIT_N 23

/* A complete dataset of SPLIT_N samples whose values name their sample: modality 0 (dim 3,
 * borrowed from x0) holds 10 i + j, modality 1 (dim 2, copied) -i - j / 10, label i % 5. */
static crmt_dataset *make_numbered(float *x0)
{
    float x1[SPLIT_N * 2];
    int32_t l[SPLIT_N];
    for (int i = 0; i < SPLIT_N; i++) {
        for (int j = 0; j < 3; j++)
            x0[i * 3 + j] = (float)(10 * i + j);
        for (int j = 0; j < 2; j++)
            x1[i * 2 + j] = (float)(-i - j / 10.0);
        l[i] = i % 5;
    }
    crmt_dataset *ds = make(SPLIT_N, 2);
    ck_assert_int_eq(crmt_dataset_set_modality(ds, 0, x0, 3, CRMT_BORROW), CRMT_OK);
    ck_assert_int_eq(crmt_dataset_set_modality(ds, 1, x1, 2, CRMT_COPY), CRMT_OK);
    ck_assert_int_eq(crmt_dataset_set_labels(ds, l), CRMT_OK);
    return ds;
}

/* part holds exactly the samples idx[0..n) of src, in that order (compared value by value). */
static void expect_samples(const crmt_dataset *part, const crmt_dataset *src, const size_t *idx,
                           size_t n)
{
    ck_assert_uint_eq(crmt_dataset_num_samples(part), n);
    ck_assert_int_eq(crmt_dataset_num_modalities(part), crmt_dataset_num_modalities(src));
    ck_assert(crmti_dataset_complete(part));
    for (int m = 0; m < crmt_dataset_num_modalities(src); m++) {
        size_t dim = crmt_dataset_dim(src, m);
        ck_assert_uint_eq(crmt_dataset_dim(part, m), dim);
        ck_assert_ptr_ne(crmt_dataset_data(part, m), crmt_dataset_data(src, m));
        for (size_t i = 0; i < n; i++)
            ck_assert(memcmp(crmt_dataset_data(part, m) + i * dim,
                             crmt_dataset_data(src, m) + idx[i] * dim, dim * sizeof(float)) == 0);
    }
    for (size_t i = 0; i < n; i++)
        ck_assert_int_eq(crmt_dataset_labels(part)[i], crmt_dataset_labels(src)[idx[i]]);
}

/* The documented permutation: 0..n-1 shuffled by the library's RNG seeded with seed. */
static void documented_permutation(uint64_t seed, size_t *perm, size_t n)
{
    for (size_t i = 0; i < n; i++)
        perm[i] = i;
    crmti_rng rng;
    crmti_rng_seed(&rng, seed);
    crmti_rng_shuffle(&rng, perm, n);
}

/* crmt_dataset_split(ds, fraction, seed) gives n_test samples to the test side, and both
 * sides are the documented permutation's (checked against the RNG directly). */
static void expect_documented_split(const crmt_dataset *ds, double fraction, uint64_t seed,
                                    size_t n_test)
{
    size_t n = crmt_dataset_num_samples(ds);
    size_t *perm = malloc(n * sizeof *perm);
    ck_assert_ptr_nonnull(perm);
    documented_permutation(seed, perm, n);
    crmt_dataset *train = NULL, *test = NULL;
    ck_assert_int_eq(crmt_dataset_split(ds, fraction, seed, &train, &test), CRMT_OK);
    expect_samples(test, ds, perm, n_test);
    expect_samples(train, ds, perm + n_test, n - n_test);
    crmt_dataset_destroy(train);
    crmt_dataset_destroy(test);
    free(perm);
}

START_TEST(test_split)
{
    float x0[SPLIT_N * 3];
    crmt_dataset *ds = make_numbered(x0);
    crmt_dataset *train = NULL, *test = NULL;
    ck_assert_int_eq(crmt_dataset_split(ds, 0.3, 11, &train, &test), CRMT_OK);
    /* n_test = floor(0.3 * 23 + 0.5) = floor(7.4) = 7. */
    size_t perm[SPLIT_N];
    documented_permutation(11, perm, SPLIT_N);
    expect_samples(test, ds, perm, 7);
    expect_samples(train, ds, perm + 7, SPLIT_N - 7);

    /* Together the two sides hold every sample exactly once (read back from the values). */
    int seen[SPLIT_N] = {0};
    const crmt_dataset *parts[2] = {test, train};
    for (int p = 0; p < 2; p++)
        for (size_t i = 0; i < crmt_dataset_num_samples(parts[p]); i++) {
            int sample = (int)crmt_dataset_data(parts[p], 0)[i * 3] / 10;
            ck_assert_int_ge(sample, 0);
            ck_assert_int_lt(sample, SPLIT_N);
            seen[sample]++;
        }
    for (int i = 0; i < SPLIT_N; i++)
        ck_assert_int_eq(seen[i], 1);
    /* Not the identity: the samples really are shuffled. */
    size_t moved = 0;
    for (size_t i = 0; i < SPLIT_N; i++)
        moved += perm[i] != i;
    ck_assert_uint_gt(moved, 0);

    /* The same sides as crmt_dataset_subset with the documented permutation. */
    crmt_dataset *sub_test = NULL, *sub_train = NULL;
    ck_assert_int_eq(crmt_dataset_subset(&sub_test, ds, perm, 7), CRMT_OK);
    ck_assert_int_eq(crmt_dataset_subset(&sub_train, ds, perm + 7, SPLIT_N - 7), CRMT_OK);
    size_t ident[SPLIT_N];
    for (size_t i = 0; i < SPLIT_N; i++)
        ident[i] = i;
    expect_samples(test, sub_test, ident, 7);
    expect_samples(train, sub_train, ident, SPLIT_N - 7);
    crmt_dataset_destroy(sub_test);
    crmt_dataset_destroy(sub_train);

    /* Copies: both sides outlive the source (and its borrowed buffer's contents). */
    crmt_dataset_destroy(ds);
    memset(x0, 0, sizeof x0);
    ck_assert(crmt_dataset_data(test, 0)[0] == (float)(10 * perm[0]));
    ck_assert(crmt_dataset_data(train, 0)[0] == (float)(10 * perm[7]));
    crmt_dataset_destroy(train);
    crmt_dataset_destroy(test);
}
END_TEST

START_TEST(test_split_seeds)
{
    float x0[SPLIT_N * 3];
    crmt_dataset *ds = make_numbered(x0);
    crmt_dataset *a = NULL, *ta = NULL, *b = NULL, *tb = NULL, *c = NULL, *tc = NULL;
    ck_assert_int_eq(crmt_dataset_split(ds, 0.5, 7, &a, &ta), CRMT_OK);
    ck_assert_int_eq(crmt_dataset_split(ds, 0.5, 7, &b, &tb), CRMT_OK);
    ck_assert_int_eq(crmt_dataset_split(ds, 0.5, 8, &c, &tc), CRMT_OK);
    /* n_test = floor(11.5 + 0.5) = 12: a half rounds up. */
    ck_assert_uint_eq(crmt_dataset_num_samples(ta), 12);
    ck_assert_uint_eq(crmt_dataset_num_samples(a), 11);
    /* Same seed, same split. */
    ck_assert(memcmp(crmt_dataset_data(ta, 0), crmt_dataset_data(tb, 0), 12 * 3 * 4) == 0);
    ck_assert(memcmp(crmt_dataset_data(a, 1), crmt_dataset_data(b, 1), 11 * 2 * 4) == 0);
    ck_assert(memcmp(crmt_dataset_labels(a), crmt_dataset_labels(b), 11 * 4) == 0);
    /* Another seed, another split. */
    ck_assert(memcmp(crmt_dataset_data(ta, 0), crmt_dataset_data(tc, 0), 12 * 3 * 4) != 0);
    crmt_dataset *parts[6] = {a, ta, b, tb, c, tc};
    for (int p = 0; p < 6; p++)
        crmt_dataset_destroy(parts[p]);

    /* Fractions that leave a single sample on one side (round(0.6) = 1, round(22.4) = 22). */
    expect_documented_split(ds, 0.5, 7, 12);
    expect_documented_split(ds, 0.6 / SPLIT_N, 3, 1);
    expect_documented_split(ds, 1.0 - 0.6 / SPLIT_N, 3, SPLIT_N - 1);
    crmt_dataset_destroy(ds);
}
END_TEST

START_TEST(test_split_invalid)
{
    float x0[SPLIT_N * 3];
    crmt_dataset *ds = make_numbered(x0);
    crmt_dataset *train = (crmt_dataset *)(uintptr_t)1, *test = (crmt_dataset *)(uintptr_t)1;
    const double bad_fractions[] = {0.0, 1.0, -0.25, 1.5, NAN, INFINITY, -INFINITY,
                                    /* round to 0 or n test samples */
                                    0.4 / SPLIT_N, 1.0 - 0.4 / SPLIT_N};
    for (size_t k = 0; k < sizeof bad_fractions / sizeof bad_fractions[0]; k++) {
        train = test = (crmt_dataset *)(uintptr_t)1;
        crmt_clear_error();
        expect_fail(crmt_dataset_split(ds, bad_fractions[k], 1, &train, &test),
                    CRMT_ERR_INVALID_ARGUMENT, NULL);
        ck_assert_ptr_nonnull(strstr(crmt_last_error(), "test_fraction"));
        ck_assert_ptr_null(train);
        ck_assert_ptr_null(test);
    }
    expect_fail(crmt_dataset_split(NULL, 0.5, 1, &train, &test), CRMT_ERR_INVALID_ARGUMENT,
                NULL);
    ck_assert_ptr_null(train);
    ck_assert_ptr_null(test);
    test = (crmt_dataset *)(uintptr_t)1;
    expect_fail(crmt_dataset_split(ds, 0.5, 1, NULL, &test), CRMT_ERR_INVALID_ARGUMENT, NULL);
    ck_assert_ptr_null(test);
    train = (crmt_dataset *)(uintptr_t)1;
    expect_fail(crmt_dataset_split(ds, 0.5, 1, &train, NULL), CRMT_ERR_INVALID_ARGUMENT, NULL);
    ck_assert_ptr_null(train);
    expect_fail(crmt_dataset_split(ds, 0.5, 1, &train, &train), CRMT_ERR_INVALID_ARGUMENT, NULL);
    ck_assert_ptr_null(train);

    /* Incomplete source: labels unset. */
    crmt_dataset *partial = make(SPLIT_N, 2);
    ck_assert_int_eq(crmt_dataset_set_modality(partial, 0, x0, 3, CRMT_BORROW), CRMT_OK);
    ck_assert_int_eq(crmt_dataset_set_modality(partial, 1, x0, 3, CRMT_BORROW), CRMT_OK);
    train = test = (crmt_dataset *)(uintptr_t)1;
    expect_fail(crmt_dataset_split(partial, 0.5, 1, &train, &test), CRMT_ERR_STATE, NULL);
    ck_assert_ptr_null(train);
    ck_assert_ptr_null(test);
    crmt_dataset_destroy(partial);
    /* A dataset of one sample cannot be split. */
    crmt_dataset *one = make(1, 1);
    int32_t l0 = 0;
    ck_assert_int_eq(crmt_dataset_set_modality(one, 0, x0, 3, CRMT_COPY), CRMT_OK);
    ck_assert_int_eq(crmt_dataset_set_labels(one, &l0), CRMT_OK);
    expect_fail(crmt_dataset_split(one, 0.5, 1, &train, &test), CRMT_ERR_INVALID_ARGUMENT, NULL);
    crmt_dataset_destroy(one);

    /* The source is const: no handle message. */
    ck_assert_str_eq(crmt_dataset_errmsg(ds), "");
    crmt_dataset_destroy(ds);
}
END_TEST

/* ------------------------------------------------------------------------------------------
 * Digits through the digits loader (examples/support/digits.h). */

static const int digits_histogram[10] = {178, 182, 177, 183, 181, 182, 181, 179, 174, 180};

/* A loader call fails with want, and the loader's message (crmt_digits_last_error()) names
 * the problem (contains words). */
static void expect_digits_fail(crmt_status got, crmt_status want, const char *words)
{
    ck_assert_int_eq(got, want);
    ck_assert_msg(strstr(crmt_digits_last_error(), words) != NULL,
                  "loader message \"%s\" lacks \"%s\"", crmt_digits_last_error(), words);
}

START_TEST(test_digits_load)
{
    crmt_digits d;
    crmt_status st = crmt_digits_load(crmt_digits_default_path(), &d);
    ck_assert_msg(st == CRMT_OK, "%s", crmt_digits_last_error());
    ck_assert_uint_eq(d.n, CRMT_DIGITS_N_SAMPLES);
    int hist[10] = {0};
    size_t total = 0;
    for (size_t i = 0; i < d.n; i++) {
        ck_assert_int_ge(d.labels[i], 0);
        ck_assert_int_lt(d.labels[i], 10);
        hist[d.labels[i]]++;
    }
    for (int k = 0; k < 10; k++) {
        ck_assert_int_eq(hist[k], digits_histogram[k]);
        total += (size_t)hist[k];
    }
    ck_assert_uint_eq(total, 1797);
    /* First row: 0,0,5,13,9,1,0,0,0,0,13,15,10,15,5,0,... label 0. */
    static const int first[16] = {0, 0, 5, 13, 9, 1, 0, 0, 0, 0, 13, 15, 10, 15, 5, 0};
    for (int k = 0; k < 16; k++)
        ck_assert(d.pixels[k] == (float)first[k] / 16.0f);
    ck_assert(d.pixels[63] == 0.0f);
    ck_assert_int_eq(d.labels[0], 0);
    ck_assert_int_eq(d.labels[1], 1);
    ck_assert_int_eq(d.labels[d.n - 1], 8);
    /* All pixels in [0, 1], and their exact total (sum of the raw integers / 16). */
    double sum = 0;
    for (size_t i = 0; i < d.n * CRMT_DIGITS_N_PIXELS; i++) {
        ck_assert(d.pixels[i] >= 0.0f && d.pixels[i] <= 1.0f);
        sum += d.pixels[i];
    }
    ck_assert(sum == 561718.0 / 16.0);
    crmt_digits_free(&d);
    ck_assert_ptr_null(d.pixels);
    crmt_digits_free(&d);
    crmt_digits_free(NULL);
}
END_TEST

static void check_split(const crmt_digits *d, int view, size_t dim0)
{
    crmt_dataset *train = NULL, *test = NULL;
    crmt_status st = crmt_digits_make_datasets(d, view, CRMT_DIGITS_DEFAULT_TEST_FRACTION,
                                               CRMT_DIGITS_DEFAULT_SEED, &train, &test);
    ck_assert_msg(st == CRMT_OK, "%s", crmt_digits_last_error());
    ck_assert_uint_eq(crmt_dataset_num_samples(test), 449);
    ck_assert_uint_eq(crmt_dataset_num_samples(train), 1348);
    const crmt_dataset *parts[2] = {test, train};
    int hist[10] = {0};
    for (int p = 0; p < 2; p++) {
        ck_assert_int_eq(crmt_dataset_num_modalities(parts[p]), 2);
        ck_assert_uint_eq(crmt_dataset_dim(parts[p], 0), dim0);
        ck_assert_uint_eq(crmt_dataset_dim(parts[p], 1), 64 - dim0);
        ck_assert(crmti_dataset_complete(parts[p]));
        for (size_t i = 0; i < crmt_dataset_num_samples(parts[p]); i++)
            hist[crmt_dataset_labels(parts[p])[i]]++;
    }
    for (int k = 0; k < 10; k++)
        ck_assert_int_eq(hist[k], digits_histogram[k]);

    /* The split is the documented permutation: test = first 449 samples of it. */
    size_t perm[CRMT_DIGITS_N_SAMPLES];
    for (size_t i = 0; i < d->n; i++)
        perm[i] = i;
    crmti_rng rng;
    crmti_rng_seed(&rng, CRMT_DIGITS_DEFAULT_SEED);
    crmti_rng_shuffle(&rng, perm, d->n);
    for (size_t i = 0; i < d->n; i++) {
        const crmt_dataset *ds = i < 449 ? test : train;
        size_t j = i < 449 ? i : i - 449;
        const float *row = d->pixels + perm[i] * 64;
        ck_assert_int_eq(crmt_dataset_labels(ds)[j], d->labels[perm[i]]);
        ck_assert(memcmp(crmt_dataset_data(ds, 0) + j * dim0, row, dim0 * sizeof(float)) == 0);
        ck_assert(memcmp(crmt_dataset_data(ds, 1) + j * (64 - dim0), row + dim0,
                         (64 - dim0) * sizeof(float)) == 0);
    }
    crmt_dataset_destroy(train);
    crmt_dataset_destroy(test);
}

START_TEST(test_digits_split)
{
    crmt_digits d;
    ck_assert_int_eq(crmt_digits_load(crmt_digits_default_path(), &d), CRMT_OK);
    check_split(&d, CRMT_DIGITS_VIEW_UNBALANCED, 16);
    check_split(&d, CRMT_DIGITS_VIEW_BALANCED, 32);

    size_t first, count;
    ck_assert_int_eq(crmt_digits_view_pixels(CRMT_DIGITS_VIEW_UNBALANCED, 1, &first, &count), 0);
    ck_assert_uint_eq(first, 16);
    ck_assert_uint_eq(count, 48);
    ck_assert_int_eq(crmt_digits_view_pixels(7, 0, &first, &count), -1);
    ck_assert_int_eq(crmt_digits_view_pixels(CRMT_DIGITS_VIEW_BALANCED, 2, &first, &count), -1);

    /* Same seed, same split; another seed, another split. */
    crmt_dataset *a, *b, *c, *t1, *t2, *t3;
    ck_assert_int_eq(crmt_digits_make_datasets(&d, CRMT_DIGITS_VIEW_BALANCED, 0.25, 7, &a, &t1),
                     CRMT_OK);
    ck_assert_int_eq(crmt_digits_make_datasets(&d, CRMT_DIGITS_VIEW_BALANCED, 0.25, 7, &b, &t2),
                     CRMT_OK);
    ck_assert_int_eq(crmt_digits_make_datasets(&d, CRMT_DIGITS_VIEW_BALANCED, 0.25, 8, &c, &t3),
                     CRMT_OK);
    ck_assert(memcmp(crmt_dataset_labels(t1), crmt_dataset_labels(t2), 449 * 4) == 0);
    ck_assert(memcmp(crmt_dataset_data(a, 1), crmt_dataset_data(b, 1), 1348 * 32 * 4) == 0);
    ck_assert(memcmp(crmt_dataset_data(a, 1), crmt_dataset_data(c, 1), 1348 * 32 * 4) != 0);
    crmt_dataset_destroy(a);
    crmt_dataset_destroy(b);
    crmt_dataset_destroy(c);
    crmt_dataset_destroy(t1);
    crmt_dataset_destroy(t2);
    crmt_dataset_destroy(t3);

    /* The datasets do not depend on d. */
    ck_assert_int_eq(crmt_digits_make_datasets(&d, CRMT_DIGITS_VIEW_BALANCED, 0.5, 1, &a, &t1),
                     CRMT_OK);
    ck_assert_uint_eq(crmt_dataset_num_samples(t1), 899); /* round(898.5) */
    crmt_digits_free(&d);
    ck_assert_uint_eq(crmt_dataset_dim(a, 0), 32);
    crmt_dataset_destroy(a);
    crmt_dataset_destroy(t1);
}
END_TEST

START_TEST(test_digits_errors)
{
    crmt_digits d;
    memset(&d, 0xff, sizeof d);
    expect_digits_fail(crmt_digits_load(NULL, &d), CRMT_ERR_INVALID_ARGUMENT, "path is NULL");
    ck_assert_ptr_null(d.pixels);
    expect_digits_fail(crmt_digits_load(crmt_digits_default_path(), NULL),
                       CRMT_ERR_INVALID_ARGUMENT, "out is NULL");
    expect_digits_fail(crmt_digits_load("/nonexistent/dir/digits.csv.gz", &d), CRMT_ERR_IO,
                       "cannot open");

    /* Plain-text CSVs (zlib reads them transparently): a good one and broken ones. */
    char dir[] = "/tmp/crmt_test_digits_XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    char path[256];
    snprintf(path, sizeof path, "%s/d.csv", dir);
    static const char *bodies[] = {
        "", "1,2,3\n", "x\n", "17" /* pixel > 16 */, "0" /* label 10 */, "0,, bad",
    };
    static const char *formats[] = {
        "has no rows", "line 1 is not 65", "line 1 is not 65", "pixel out of range",
        "label out of range", "line 1 is not 65",
    };
    for (size_t b = 0; b < sizeof bodies / sizeof bodies[0]; b++) {
        FILE *f = fopen(path, "w");
        ck_assert_ptr_nonnull(f);
        if (b == 3 || b == 4) {
            fprintf(f, "%s", b == 3 ? "17" : "0");
            for (int k = 1; k < 64; k++)
                fprintf(f, ",0");
            fprintf(f, ",%d\n", b == 3 ? 1 : 10);
        } else {
            fputs(bodies[b], f);
        }
        fclose(f);
        expect_digits_fail(crmt_digits_load(path, &d), CRMT_ERR_FORMAT, formats[b]);
        ck_assert_ptr_null(d.pixels);
    }
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    for (int r = 0; r < 3; r++) {
        for (int k = 0; k < 64; k++)
            fprintf(f, "%d,", (k + r) % 17);
        fprintf(f, "%d\r\n", r);
    }
    fprintf(f, "\n");
    fclose(f);
    ck_assert_int_eq(crmt_digits_load(path, &d), CRMT_OK);
    ck_assert_uint_eq(d.n, 3);
    ck_assert(d.pixels[64 + 16] == 0.0f);
    ck_assert(d.pixels[64 + 15] == 1.0f);
    ck_assert_int_eq(d.labels[2], 2);

    /* Split arguments. */
    crmt_dataset *train = (crmt_dataset *)(uintptr_t)1, *test = (crmt_dataset *)(uintptr_t)1;
    expect_digits_fail(crmt_digits_make_datasets(&d, 2, 0.25, 1, &train, &test),
                       CRMT_ERR_INVALID_ARGUMENT, "unknown view 2");
    ck_assert_ptr_null(train);
    ck_assert_ptr_null(test);
    /* Fractions are checked by crmt_dataset_split: its message, in both places. */
    const double bad_fractions[] = {0.0, 1.0, NAN, 0.1 /* round(0.3) = 0 test samples */};
    for (size_t k = 0; k < sizeof bad_fractions / sizeof bad_fractions[0]; k++) {
        crmt_clear_error();
        expect_digits_fail(crmt_digits_make_datasets(&d, 0, bad_fractions[k], 1, &train, &test),
                           CRMT_ERR_INVALID_ARGUMENT, "crmt_dataset_split: test_fraction");
        ck_assert_str_eq(crmt_last_error(), crmt_digits_last_error());
        ck_assert_ptr_null(train);
        ck_assert_ptr_null(test);
    }
    expect_digits_fail(crmt_digits_make_datasets(NULL, 0, 0.5, 1, &train, &test),
                       CRMT_ERR_INVALID_ARGUMENT, "NULL argument");
    expect_digits_fail(crmt_digits_make_datasets(&d, 0, 0.5, 1, NULL, &test),
                       CRMT_ERR_INVALID_ARGUMENT, "NULL argument");
    ck_assert_int_eq(crmt_digits_make_datasets(&d, 0, 0.5, 1, &train, &test), CRMT_OK);
    ck_assert_uint_eq(crmt_dataset_num_samples(test), 2);
    ck_assert_uint_eq(crmt_dataset_num_samples(train), 1);
    crmt_dataset_destroy(train);
    crmt_dataset_destroy(test);
    crmt_digits_free(&d);
    expect_digits_fail(crmt_digits_make_datasets(&d, 0, 0.5, 1, &train, &test),
                       CRMT_ERR_INVALID_ARGUMENT, "not loaded");
    unlink(path);
    rmdir(dir);
}
END_TEST

static Suite *dataset_suite(void)
{
    Suite *s = suite_create("dataset");
    TCase *api = tcase_create("api");
    tcase_add_test(api, test_create_and_getters);
    tcase_add_test(api, test_create_invalid);
    tcase_add_test(api, test_null_everywhere);
    tcase_add_test(api, test_borrow_is_same_pointer);
    tcase_add_test(api, test_copy_survives_host_free);
    tcase_add_test(api, test_replace_modality_and_labels);
    tcase_add_test(api, test_set_modality_invalid);
    tcase_add_test(api, test_non_finite_refused);
    tcase_add_test(api, test_negative_labels);
    tcase_add_test(api, test_complete);
    tcase_add_test(api, test_subset);
    tcase_add_test(api, test_subset_invalid);
    tcase_add_test(api, test_split);
    tcase_add_test(api, test_split_seeds);
    tcase_add_test(api, test_split_invalid);
    suite_add_tcase(s, api);
    TCase *digits = tcase_create("digits");
    tcase_add_test(digits, test_digits_load);
    tcase_add_test(digits, test_digits_split);
    tcase_add_test(digits, test_digits_errors);
    suite_add_tcase(s, digits);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(dataset_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
