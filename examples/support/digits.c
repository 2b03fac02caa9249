/* Test support: loading the UCI digits CSV with zlib and splitting it into two-modality
 * datasets. See digits.h. */
#include "digits.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "api/error.h"
#include "tensor/rng.h"

#ifndef CRMT_TEST_DATA_DIR
#error "CRMT_TEST_DATA_DIR must be defined by the build"
#endif

/* More rows than this means the file is not the digits file. */
#define DIGITS_MAX_ROWS 1000000
#define DIGITS_FIELDS (CRMT_DIGITS_N_PIXELS + 1)

const char *crmt_digits_default_path(void)
{
    return CRMT_TEST_DATA_DIR "/digits.csv.gz";
}

void crmt_digits_free(crmt_digits *d)
{
    if (!d)
        return;
    free(d->pixels);
    free(d->labels);
    memset(d, 0, sizeof *d);
}

/* Parse one CSV line of DIGITS_FIELDS non-negative integers into v. 0 on success. */
static int parse_line(const char *s, int *v)
{
    for (int k = 0; k < DIGITS_FIELDS; k++) {
        if (*s < '0' || *s > '9')
            return -1;
        int x = 0;
        while (*s >= '0' && *s <= '9') {
            if (x > 1000)
                return -1;
            x = x * 10 + (*s++ - '0');
        }
        v[k] = x;
        if (k + 1 < DIGITS_FIELDS && *s++ != ',')
            return -1;
    }
    while (*s == '\r' || *s == '\n' || *s == ' ')
        s++;
    return *s == '\0' ? 0 : -1;
}

static int blank(const char *s)
{
    while (*s == ' ' || *s == '\r' || *s == '\n' || *s == '\t')
        s++;
    return *s == '\0';
}

crmt_status crmt_digits_load(const char *csv_gz_path, crmt_digits *out)
{
    if (!out)
        return crmti_fail(NULL, CRMT_ERR_INVALID_ARGUMENT, "crmt_digits_load: out is NULL");
    memset(out, 0, sizeof *out);
    if (!csv_gz_path)
        return crmti_fail(NULL, CRMT_ERR_INVALID_ARGUMENT, "crmt_digits_load: path is NULL");
    gzFile gz = gzopen(csv_gz_path, "rb");
    if (!gz)
        return crmti_fail(NULL, CRMT_ERR_IO, "crmt_digits_load: cannot open '%s'", csv_gz_path);

    crmt_status st = CRMT_OK;
    size_t n = 0, cap = 0;
    float *pixels = NULL;
    int32_t *labels = NULL;
    char line[1024];
    size_t line_no = 0;
    while (gzgets(gz, line, (int)sizeof line)) {
        line_no++;
        size_t len = strlen(line);
        if (len == sizeof line - 1 && line[len - 1] != '\n') {
            st = crmti_fail(NULL, CRMT_ERR_FORMAT, "crmt_digits_load: line %zu is too long",
                            line_no);
            break;
        }
        if (blank(line))
            continue;
        int v[DIGITS_FIELDS];
        if (parse_line(line, v) != 0) {
            st = crmti_fail(NULL, CRMT_ERR_FORMAT,
                            "crmt_digits_load: line %zu is not %d comma-separated integers",
                            line_no, DIGITS_FIELDS);
            break;
        }
        int bad = -1;
        for (int k = 0; k < CRMT_DIGITS_N_PIXELS && bad < 0; k++)
            if (v[k] > 16)
                bad = k;
        if (bad >= 0 || v[CRMT_DIGITS_N_PIXELS] >= CRMT_DIGITS_N_CLASSES) {
            st = crmti_fail(NULL, CRMT_ERR_FORMAT,
                            "crmt_digits_load: line %zu: %s out of range", line_no,
                            bad >= 0 ? "pixel" : "label");
            break;
        }
        if (n == cap) {
            size_t new_cap = cap ? 2 * cap : 2048;
            if (new_cap > DIGITS_MAX_ROWS) {
                st = crmti_fail(NULL, CRMT_ERR_FORMAT,
                                "crmt_digits_load: more than %d rows", DIGITS_MAX_ROWS);
                break;
            }
            float *p = realloc(pixels, new_cap * CRMT_DIGITS_N_PIXELS * sizeof *p);
            if (p)
                pixels = p;
            int32_t *l = p ? realloc(labels, new_cap * sizeof *l) : NULL;
            if (l)
                labels = l;
            if (!p || !l) {
                st = crmti_fail(NULL, CRMT_ERR_OUT_OF_MEMORY,
                                "crmt_digits_load: cannot grow to %zu rows", new_cap);
                break;
            }
            cap = new_cap;
        }
        for (int k = 0; k < CRMT_DIGITS_N_PIXELS; k++)
            pixels[n * CRMT_DIGITS_N_PIXELS + (size_t)k] = (float)v[k] / 16.0f;
        labels[n] = v[CRMT_DIGITS_N_PIXELS];
        n++;
    }
    if (st == CRMT_OK) {
        int errnum = Z_OK;
        const char *zmsg = gzerror(gz, &errnum);
        if (errnum != Z_OK && errnum != Z_STREAM_END)
            st = crmti_fail(NULL, errnum == Z_ERRNO ? CRMT_ERR_IO : CRMT_ERR_FORMAT,
                            "crmt_digits_load: reading '%s' failed: %s", csv_gz_path, zmsg);
        else if (n == 0)
            st = crmti_fail(NULL, CRMT_ERR_FORMAT, "crmt_digits_load: '%s' has no rows",
                            csv_gz_path);
    }
    gzclose(gz);
    if (st != CRMT_OK) {
        free(pixels);
        free(labels);
        return st;
    }
    out->n = n;
    out->pixels = pixels;
    out->labels = labels;
    return CRMT_OK;
}

int crmt_digits_view_pixels(int view, int modality, size_t *first, size_t *count)
{
    if (!first || !count || modality < 0 || modality > 1)
        return -1;
    size_t split;
    if (view == CRMT_DIGITS_VIEW_UNBALANCED)
        split = 2 * 8;
    else if (view == CRMT_DIGITS_VIEW_BALANCED)
        split = 4 * 8;
    else
        return -1;
    *first = modality == 0 ? 0 : split;
    *count = modality == 0 ? split : CRMT_DIGITS_N_PIXELS - split;
    return 0;
}

/* A dataset of the samples idx[0..n) of d in the given view. */
static crmt_status build(const crmt_digits *d, int view, const size_t *idx, size_t n,
                         crmt_dataset **out)
{
    crmt_dataset *ds = NULL;
    crmt_status st = crmt_dataset_create(&ds, n, 2);
    float *buf = NULL;
    int32_t *lab = NULL;
    if (st != CRMT_OK)
        return st;
    buf = malloc(n * CRMT_DIGITS_N_PIXELS * sizeof *buf);
    lab = malloc(n * sizeof *lab);
    if (!buf || !lab) {
        st = crmti_fail(NULL, CRMT_ERR_OUT_OF_MEMORY, "crmt_digits_make_datasets: out of memory");
        goto done;
    }
    for (int m = 0; m < 2 && st == CRMT_OK; m++) {
        size_t first = 0, count = 0;
        crmt_digits_view_pixels(view, m, &first, &count);
        for (size_t i = 0; i < n; i++)
            memcpy(buf + i * count, d->pixels + idx[i] * CRMT_DIGITS_N_PIXELS + first,
                   count * sizeof *buf);
        st = crmt_dataset_set_modality(ds, m, buf, count, CRMT_COPY);
    }
    for (size_t i = 0; i < n; i++)
        lab[i] = d->labels[idx[i]];
    if (st == CRMT_OK)
        st = crmt_dataset_set_labels(ds, lab);
done:
    free(buf);
    free(lab);
    if (st != CRMT_OK) {
        crmt_dataset_destroy(ds);
        return st;
    }
    *out = ds;
    return CRMT_OK;
}

crmt_status crmt_digits_make_datasets(const crmt_digits *d, int view, double test_fraction,
                                      uint64_t seed, crmt_dataset **train,
                                      crmt_dataset **test)
{
    static const char fn[] = "crmt_digits_make_datasets";
    if (train)
        *train = NULL;
    if (test)
        *test = NULL;
    if (!d || !train || !test)
        return crmti_fail(NULL, CRMT_ERR_INVALID_ARGUMENT, "%s: NULL argument", fn);
    if (!d->pixels || !d->labels || d->n < 2 || d->n > DIGITS_MAX_ROWS)
        return crmti_fail(NULL, CRMT_ERR_INVALID_ARGUMENT, "%s: digits not loaded", fn);
    size_t first, count;
    if (crmt_digits_view_pixels(view, 0, &first, &count) != 0)
        return crmti_fail(NULL, CRMT_ERR_INVALID_ARGUMENT, "%s: unknown view %d", fn, view);
    if (!(test_fraction > 0.0 && test_fraction < 1.0))
        return crmti_fail(NULL, CRMT_ERR_INVALID_ARGUMENT,
                          "%s: test_fraction %g is not in (0, 1)", fn, test_fraction);
    size_t n_test = (size_t)floor(test_fraction * (double)d->n + 0.5);
    if (n_test == 0 || n_test >= d->n)
        return crmti_fail(NULL, CRMT_ERR_INVALID_ARGUMENT,
                          "%s: test_fraction %g leaves an empty side of the split", fn,
                          test_fraction);

    size_t *perm = malloc(d->n * sizeof *perm);
    if (!perm)
        return crmti_fail(NULL, CRMT_ERR_OUT_OF_MEMORY, "%s: out of memory", fn);
    for (size_t i = 0; i < d->n; i++)
        perm[i] = i;
    crmti_rng rng;
    crmti_rng_seed(&rng, seed);
    crmti_rng_shuffle(&rng, perm, d->n);

    crmt_dataset *te = NULL, *tr = NULL;
    crmt_status st = build(d, view, perm, n_test, &te);
    if (st == CRMT_OK)
        st = build(d, view, perm + n_test, d->n - n_test, &tr);
    free(perm);
    if (st != CRMT_OK) {
        crmt_dataset_destroy(te);
        return st;
    }
    *train = tr;
    *test = te;
    return CRMT_OK;
}
