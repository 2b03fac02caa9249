/* Datasets: n samples of M modalities (copied or borrowed float matrices) and int32 labels. */
#include "data/dataset.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "data/npy.h"
#include "tensor/rng.h"

int crmti_dataset_complete(const crmt_dataset *ds)
{
    if (!ds || !ds->labels)
        return 0;
    for (int m = 0; m < ds->n_mod; m++)
        if (!ds->data[m] || ds->dim[m] == 0)
            return 0;
    return 1;
}

crmt_status crmt_dataset_create(crmt_dataset **out, size_t n_samples, int n_modalities)
{
    if (!out)
        return crmti_fail(NULL, CRMT_ERR_INVALID_ARGUMENT, "crmt_dataset_create: out is NULL");
    *out = NULL;
    if (n_samples == 0 || n_samples > CRMTI_DATASET_MAX_SAMPLES)
        return crmti_fail(NULL, CRMT_ERR_INVALID_ARGUMENT,
                          "crmt_dataset_create: n_samples %zu is not in [1, %zu]", n_samples,
                          (size_t)CRMTI_DATASET_MAX_SAMPLES);
    if (n_modalities < 1 || n_modalities > CRMT_MAX_MODALITIES)
        return crmti_fail(NULL, CRMT_ERR_INVALID_ARGUMENT,
                          "crmt_dataset_create: n_modalities %d is not in [1, %d]", n_modalities,
                          CRMT_MAX_MODALITIES);
    crmt_dataset *ds = calloc(1, sizeof *ds);
    if (!ds)
        return crmti_fail(NULL, CRMT_ERR_OUT_OF_MEMORY,
                          "crmt_dataset_create: cannot allocate the dataset");
    ds->n = n_samples;
    ds->n_mod = n_modalities;
    *out = ds;
    return CRMT_OK;
}

void crmt_dataset_destroy(crmt_dataset *dataset)
{
    if (!dataset)
        return;
    for (int m = 0; m < CRMT_MAX_MODALITIES; m++)
        free(dataset->owned[m]);
    free(dataset->labels);
    free(dataset);
}

const char *crmt_dataset_errmsg(const crmt_dataset *dataset)
{
    return dataset ? dataset->errmsg : "";
}

/* Common checks of the modality setters. */
static crmt_status check_modality(crmt_dataset *ds, int modality, const char *fn)
{
    if (!ds)
        return crmti_fail(NULL, CRMT_ERR_INVALID_ARGUMENT, "%s: dataset is NULL", fn);
    if (modality < 0 || modality >= ds->n_mod)
        return crmti_fail(ds->errmsg, CRMT_ERR_INVALID_ARGUMENT,
                          "%s: modality %d is not in [0, %d)", fn, modality, ds->n_mod);
    return CRMT_OK;
}

/* Replace modality m by data (owned when owned != NULL; then owned == data). */
static void install_modality(crmt_dataset *ds, int m, const float *data, float *owned,
                             size_t dim)
{
    free(ds->owned[m]);
    ds->owned[m] = owned;
    ds->data[m] = data;
    ds->dim[m] = dim;
}

crmt_status crmt_dataset_set_modality(crmt_dataset *dataset, int modality, const float *data,
                                      size_t dim, crmt_ownership ownership)
{
    static const char fn[] = "crmt_dataset_set_modality";
    crmt_status st = check_modality(dataset, modality, fn);
    if (st != CRMT_OK)
        return st;
    char *msg = dataset->errmsg;
    if (!data)
        return crmti_fail(msg, CRMT_ERR_INVALID_ARGUMENT, "%s: data is NULL", fn);
    if (dim == 0 || dim > CRMTI_DATASET_MAX_DIM)
        return crmti_fail(msg, CRMT_ERR_INVALID_ARGUMENT, "%s: dim %zu is not in [1, %zu]", fn,
                          dim, (size_t)CRMTI_DATASET_MAX_DIM);
    if (ownership != CRMT_COPY && ownership != CRMT_BORROW)
        return crmti_fail(msg, CRMT_ERR_INVALID_ARGUMENT,
                          "%s: ownership %d is neither CRMT_COPY nor CRMT_BORROW", fn,
                          (int)ownership);
    if (dataset->n > SIZE_MAX / sizeof(float) / dim)
        return crmti_fail(msg, CRMT_ERR_INVALID_ARGUMENT,
                          "%s: %zu samples x %zu floats overflow size_t", fn, dataset->n, dim);
    size_t count = dataset->n * dim;
    for (size_t i = 0; i < count; i++)
        if (!isfinite(data[i]))
            return crmti_fail(msg, CRMT_ERR_NON_FINITE,
                              "%s: modality %d has a NaN or infinite value at sample %zu, "
                              "feature %zu",
                              fn, modality, i / dim, i % dim);
    if (ownership == CRMT_BORROW) {
        install_modality(dataset, modality, data, NULL, dim);
        return CRMT_OK;
    }
    float *copy = malloc(count * sizeof *copy);
    if (!copy)
        return crmti_fail(msg, CRMT_ERR_OUT_OF_MEMORY, "%s: cannot allocate %zu floats", fn,
                          count);
    memcpy(copy, data, count * sizeof *copy);
    install_modality(dataset, modality, copy, copy, dim);
    return CRMT_OK;
}

crmt_status crmt_dataset_set_labels(crmt_dataset *dataset, const int32_t *labels)
{
    static const char fn[] = "crmt_dataset_set_labels";
    if (!dataset)
        return crmti_fail(NULL, CRMT_ERR_INVALID_ARGUMENT, "%s: dataset is NULL", fn);
    if (!labels)
        return crmti_fail(dataset->errmsg, CRMT_ERR_INVALID_ARGUMENT, "%s: labels is NULL", fn);
    for (size_t i = 0; i < dataset->n; i++)
        if (labels[i] < 0)
            return crmti_fail(dataset->errmsg, CRMT_ERR_INVALID_ARGUMENT,
                              "%s: label %ld at index %zu is negative", fn, (long)labels[i], i);
    /* n <= CRMTI_DATASET_MAX_SAMPLES, so n * 4 fits. */
    int32_t *copy = malloc(dataset->n * sizeof *copy);
    if (!copy)
        return crmti_fail(dataset->errmsg, CRMT_ERR_OUT_OF_MEMORY,
                          "%s: cannot allocate %zu labels", fn, dataset->n);
    memcpy(copy, labels, dataset->n * sizeof *copy);
    free(dataset->labels);
    dataset->labels = copy;
    return CRMT_OK;
}

crmt_status crmt_dataset_load_npy_modality(crmt_dataset *dataset, int modality,
                                           const char *path)
{
    static const char fn[] = "crmt_dataset_load_npy_modality";
    crmt_status st = check_modality(dataset, modality, fn);
    if (st != CRMT_OK)
        return st;
    if (!path)
        return crmti_fail(dataset->errmsg, CRMT_ERR_INVALID_ARGUMENT, "%s: path is NULL", fn);
    crmti_npy_array a;
    st = crmti_npy_load(path, CRMTI_NPY_FEATURES, dataset->n, &a, dataset->errmsg);
    if (st != CRMT_OK)
        return st;
    install_modality(dataset, modality, a.f32, a.f32, a.dim);
    return CRMT_OK;
}

crmt_status crmt_dataset_load_npy_labels(crmt_dataset *dataset, const char *path)
{
    static const char fn[] = "crmt_dataset_load_npy_labels";
    if (!dataset)
        return crmti_fail(NULL, CRMT_ERR_INVALID_ARGUMENT, "%s: dataset is NULL", fn);
    if (!path)
        return crmti_fail(dataset->errmsg, CRMT_ERR_INVALID_ARGUMENT, "%s: path is NULL", fn);
    crmti_npy_array a;
    crmt_status st = crmti_npy_load(path, CRMTI_NPY_LABELS, dataset->n, &a, dataset->errmsg);
    if (st != CRMT_OK)
        return st;
    free(dataset->labels);
    dataset->labels = a.i32;
    return CRMT_OK;
}

crmt_status crmt_dataset_subset(crmt_dataset **out, const crmt_dataset *dataset,
                                const size_t *indices, size_t n_indices)
{
    static const char fn[] = "crmt_dataset_subset";
    if (!out)
        return crmti_fail(NULL, CRMT_ERR_INVALID_ARGUMENT, "%s: out is NULL", fn);
    *out = NULL;
    if (!dataset)
        return crmti_fail(NULL, CRMT_ERR_INVALID_ARGUMENT, "%s: dataset is NULL", fn);
    if (!indices)
        return crmti_fail(NULL, CRMT_ERR_INVALID_ARGUMENT, "%s: indices is NULL", fn);
    if (n_indices == 0 || n_indices > CRMTI_DATASET_MAX_SAMPLES)
        return crmti_fail(NULL, CRMT_ERR_INVALID_ARGUMENT, "%s: n_indices %zu is not in [1, %zu]",
                          fn, n_indices, (size_t)CRMTI_DATASET_MAX_SAMPLES);
    if (!crmti_dataset_complete(dataset))
        return crmti_fail(NULL, CRMT_ERR_STATE,
                          "%s: the dataset is incomplete (a modality or the labels are unset)",
                          fn);
    for (size_t i = 0; i < n_indices; i++)
        if (indices[i] >= dataset->n)
            return crmti_fail(NULL, CRMT_ERR_INVALID_ARGUMENT,
                              "%s: indices[%zu] = %zu is not in [0, %zu)", fn, i, indices[i],
                              dataset->n);
    for (int m = 0; m < dataset->n_mod; m++)
        if (n_indices > SIZE_MAX / sizeof(float) / dataset->dim[m])
            return crmti_fail(NULL, CRMT_ERR_INVALID_ARGUMENT,
                              "%s: %zu samples x %zu floats overflow size_t", fn, n_indices,
                              dataset->dim[m]);

    crmt_dataset *sub;
    crmt_status st = crmt_dataset_create(&sub, n_indices, dataset->n_mod);
    if (st != CRMT_OK)
        return st;
    for (int m = 0; m < dataset->n_mod; m++) {
        size_t dim = dataset->dim[m];
        float *x = malloc(n_indices * dim * sizeof *x);
        if (!x) {
            crmt_dataset_destroy(sub);
            return crmti_fail(NULL, CRMT_ERR_OUT_OF_MEMORY, "%s: cannot allocate %zu floats",
                              fn, n_indices * dim);
        }
        for (size_t i = 0; i < n_indices; i++)
            memcpy(x + i * dim, dataset->data[m] + indices[i] * dim, dim * sizeof *x);
        install_modality(sub, m, x, x, dim);
    }
    sub->labels = malloc(n_indices * sizeof *sub->labels);
    if (!sub->labels) {
        crmt_dataset_destroy(sub);
        return crmti_fail(NULL, CRMT_ERR_OUT_OF_MEMORY, "%s: cannot allocate %zu labels", fn,
                          n_indices);
    }
    for (size_t i = 0; i < n_indices; i++)
        sub->labels[i] = dataset->labels[indices[i]];
    *out = sub;
    return CRMT_OK;
}

crmt_status crmt_dataset_split(const crmt_dataset *dataset, double test_fraction, uint64_t seed,
                               crmt_dataset **train, crmt_dataset **test)
{
    static const char fn[] = "crmt_dataset_split";
    if (train)
        *train = NULL;
    if (test)
        *test = NULL;
    if (!train || !test)
        return crmti_fail(NULL, CRMT_ERR_INVALID_ARGUMENT, "%s: %s is NULL", fn,
                          train ? "test" : "train");
    if (train == test)
        return crmti_fail(NULL, CRMT_ERR_INVALID_ARGUMENT,
                          "%s: train and test are the same pointer", fn);
    if (!dataset)
        return crmti_fail(NULL, CRMT_ERR_INVALID_ARGUMENT, "%s: dataset is NULL", fn);
    if (!(test_fraction > 0.0 && test_fraction < 1.0)) /* also NaN and infinities */
        return crmti_fail(NULL, CRMT_ERR_INVALID_ARGUMENT, "%s: test_fraction %g is not in (0, 1)",
                          fn, test_fraction);
    if (!crmti_dataset_complete(dataset))
        return crmti_fail(NULL, CRMT_ERR_STATE,
                          "%s: the dataset is incomplete (a modality or the labels are unset)",
                          fn);
    size_t n = dataset->n;
    size_t n_test = (size_t)floor(test_fraction * (double)n + 0.5);
    if (n_test == 0 || n_test >= n)
        return crmti_fail(NULL, CRMT_ERR_INVALID_ARGUMENT,
                          "%s: test_fraction %g of %zu samples leaves an empty side (%zu test "
                          "samples)",
                          fn, test_fraction, n, n_test);

    size_t *perm = malloc(n * sizeof *perm);
    if (!perm)
        return crmti_fail(NULL, CRMT_ERR_OUT_OF_MEMORY, "%s: cannot allocate %zu indices", fn, n);
    for (size_t i = 0; i < n; i++)
        perm[i] = i;
    crmti_rng rng;
    crmti_rng_seed(&rng, seed);
    crmti_rng_shuffle(&rng, perm, n);
    crmt_dataset *te = NULL, *tr = NULL;
    crmt_status st = crmt_dataset_subset(&te, dataset, perm, n_test);
    if (st == CRMT_OK)
        st = crmt_dataset_subset(&tr, dataset, perm + n_test, n - n_test);
    free(perm);
    if (st != CRMT_OK) {
        crmt_dataset_destroy(te);
        return st;
    }
    *train = tr;
    *test = te;
    return CRMT_OK;
}

size_t crmt_dataset_num_samples(const crmt_dataset *dataset)
{
    return dataset ? dataset->n : 0;
}

int crmt_dataset_num_modalities(const crmt_dataset *dataset)
{
    return dataset ? dataset->n_mod : 0;
}

size_t crmt_dataset_dim(const crmt_dataset *dataset, int modality)
{
    if (!dataset || modality < 0 || modality >= dataset->n_mod)
        return 0;
    return dataset->dim[modality];
}

const float *crmt_dataset_data(const crmt_dataset *dataset, int modality)
{
    if (!dataset || modality < 0 || modality >= dataset->n_mod)
        return NULL;
    return dataset->data[modality];
}

const int32_t *crmt_dataset_labels(const crmt_dataset *dataset)
{
    return dataset ? dataset->labels : NULL;
}
