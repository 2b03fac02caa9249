/* The digits loader: the UCI digits CSV read with zlib, split with crmt_dataset_split. Public
 * API only (see digits.h). */
#include "digits.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#ifndef CRMT_DIGITS_DEFAULT_PATH
#error "CRMT_DIGITS_DEFAULT_PATH must be defined by the build"
#endif

/* More rows than this means the file is not the digits file. */
#define DIGITS_MAX_ROWS 1000000
#define DIGITS_FIELDS (CRMT_DIGITS_N_PIXELS + 1)

/* The message of the calling thread's last failed crmt_digits_* call. */
static _Thread_local char last_error[512];

const char *crmt_digits_last_error(void)
{
    return last_error;
}

#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
static crmt_status fail(crmt_status status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(last_error, sizeof last_error, fmt, ap);
    va_end(ap);
    return status;
}

/* A library call failed: its message (crmt_last_error()) becomes the loader's too. */
static crmt_status library_failed(crmt_status status)
{
    return fail(status, "%s", crmt_last_error());
}

const char *crmt_digits_default_path(void)
{
    return CRMT_DIGITS_DEFAULT_PATH;
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
        return fail(CRMT_ERR_INVALID_ARGUMENT, "crmt_digits_load: out is NULL");
    memset(out, 0, sizeof *out);
    if (!csv_gz_path)
        return fail(CRMT_ERR_INVALID_ARGUMENT, "crmt_digits_load: path is NULL");
    gzFile gz = gzopen(csv_gz_path, "rb");
    if (!gz)
        return fail(CRMT_ERR_IO, "crmt_digits_load: cannot open '%s'", csv_gz_path);

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
            st = fail(CRMT_ERR_FORMAT, "crmt_digits_load: line %zu is too long", line_no);
            break;
        }
        if (blank(line))
            continue;
        int v[DIGITS_FIELDS];
        if (parse_line(line, v) != 0) {
            st = fail(CRMT_ERR_FORMAT,
                      "crmt_digits_load: line %zu is not %d comma-separated integers", line_no,
                      DIGITS_FIELDS);
            break;
        }
        int bad = -1;
        for (int k = 0; k < CRMT_DIGITS_N_PIXELS && bad < 0; k++)
            if (v[k] > 16)
                bad = k;
        if (bad >= 0 || v[CRMT_DIGITS_N_PIXELS] >= CRMT_DIGITS_N_CLASSES) {
            st = fail(CRMT_ERR_FORMAT, "crmt_digits_load: line %zu: %s out of range", line_no,
                      bad >= 0 ? "pixel" : "label");
            break;
        }
        if (n == cap) {
            size_t new_cap = cap ? 2 * cap : 2048;
            if (new_cap > DIGITS_MAX_ROWS) {
                st = fail(CRMT_ERR_FORMAT, "crmt_digits_load: more than %d rows",
                          DIGITS_MAX_ROWS);
                break;
            }
            float *p = realloc(pixels, new_cap * CRMT_DIGITS_N_PIXELS * sizeof *p);
            if (p)
                pixels = p;
            int32_t *l = p ? realloc(labels, new_cap * sizeof *l) : NULL;
            if (l)
                labels = l;
            if (!p || !l) {
                st = fail(CRMT_ERR_OUT_OF_MEMORY, "crmt_digits_load: cannot grow to %zu rows",
                          new_cap);
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
            st = fail(errnum == Z_ERRNO ? CRMT_ERR_IO : CRMT_ERR_FORMAT,
                      "crmt_digits_load: reading '%s' failed: %s", csv_gz_path, zmsg);
        else if (n == 0)
            st = fail(CRMT_ERR_FORMAT, "crmt_digits_load: '%s' has no rows", csv_gz_path);
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

/* All samples of d, in file order, as a two-modality dataset in the given view (copies). */
static crmt_status build(const crmt_digits *d, int view, crmt_dataset **out)
{
    crmt_dataset *ds = NULL;
    crmt_status st = crmt_dataset_create(&ds, d->n, 2);
    if (st != CRMT_OK)
        return library_failed(st);
    float *buf = malloc(d->n * CRMT_DIGITS_N_PIXELS * sizeof *buf);
    if (!buf) {
        crmt_dataset_destroy(ds);
        return fail(CRMT_ERR_OUT_OF_MEMORY, "crmt_digits_make_datasets: out of memory");
    }
    for (int m = 0; m < 2 && st == CRMT_OK; m++) {
        size_t first = 0, count = 0;
        crmt_digits_view_pixels(view, m, &first, &count);
        for (size_t i = 0; i < d->n; i++)
            memcpy(buf + i * count, d->pixels + i * CRMT_DIGITS_N_PIXELS + first,
                   count * sizeof *buf);
        st = crmt_dataset_set_modality(ds, m, buf, count, CRMT_COPY);
    }
    free(buf);
    if (st == CRMT_OK)
        st = crmt_dataset_set_labels(ds, d->labels);
    if (st != CRMT_OK) {
        crmt_dataset_destroy(ds);
        return library_failed(st);
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
        return fail(CRMT_ERR_INVALID_ARGUMENT, "%s: NULL argument", fn);
    if (!d->pixels || !d->labels || d->n < 2 || d->n > DIGITS_MAX_ROWS)
        return fail(CRMT_ERR_INVALID_ARGUMENT, "%s: digits not loaded", fn);
    size_t first, count;
    if (crmt_digits_view_pixels(view, 0, &first, &count) != 0)
        return fail(CRMT_ERR_INVALID_ARGUMENT, "%s: unknown view %d", fn, view);

    crmt_dataset *all = NULL;
    crmt_status st = build(d, view, &all);
    if (st != CRMT_OK)
        return st;
    st = crmt_dataset_split(all, test_fraction, seed, train, test);
    crmt_dataset_destroy(all);
    return st == CRMT_OK ? CRMT_OK : library_failed(st);
}
