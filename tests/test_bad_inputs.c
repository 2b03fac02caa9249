/* Bad-input matrix over every public function (the CRMT_API declarations of include/crmt).
 *
 * For each function: NULL handles and pointers, zero and huge sizes, mismatched modality
 * counts and dimensions, NaN/Inf data, out-of-range options and unknown enum values, and
 * wrong call order (an incomplete dataset, the optimizer of another model, a stale
 * certifier). Every failing case asserts
 *  - the documented status (common.h's error model, and the function's own comment where it
 *    names one; where the headers allow two readings the case accepts both and says so);
 *  - a non-empty crmt_last_error() set by that very call (it is cleared before the call);
 *  - for calls taking a non-const handle that has a message accessor (dataset, optimizer,
 *    model), the same message in the handle (common.h: "also store it in the handle");
 *  - that creators leave *out NULL;
 * and Check's fork mode turns any crash into a failed test. Before the bad inputs, every
 * function is called once with good arguments ("baseline"), so each failure is caused by
 * the one bad argument, and so that valgrind (scripts/valgrind.sh) sees every library path
 * on tiny models.
 *
 * test_every_function_covered reads the CRMT_API declarations of the public headers
 * (include/crmt) and fails when a public function has no case here: a new function needs
 * its rows in this matrix.
 *
 * A contract violation does not stop its test: every case runs, each violation is printed
 * (file, line, call, status, message), and the test fails at its end listing them all.
 *
 * Also here (docs/api.md, "Files"): a save into a directory the process cannot write leaves
 * the previous model file intact (as root, the save runs with the effective uid of nobody).
 * test_serialize.c covers saves failing midway (injected write
 * failures, RLIMIT_FSIZE) and newer-format files (CRMT_ERR_VERSION) in depth.
 *
 * At the end: "bad-input matrix: N cases". */
#define _DEFAULT_SOURCE /* MAP_ANONYMOUS */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <float.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include "crmt/certify.h"
#include "crmt/crmt.h"
#include "crmt/evaluate.h"

#define INCLUDE_DIR CRMT_TEST_DATA_DIR "/../../include/crmt"

/* ------------------------------------------------------------------------------------------
 * Case bookkeeping, shared between Check's forked test processes (MAP_SHARED). */

#define MAX_FUNCS 256
#define NAME_LEN 64

typedef struct shared_state {
    int cases;
    int n_funcs;
    char funcs[MAX_FUNCS][NAME_LEN]; /* public functions that have at least one case */
} shared_state;

static shared_state *shared;

/* Record the function a case exercises: the first crmt_ identifier of the case's text. */
static void note_function(const char *expr)
{
    const char *p = expr;
    while ((p = strstr(p, "crmt_")) != NULL) {
        if (p == expr || !(p[-1] == '_' || (p[-1] >= 'a' && p[-1] <= 'z') ||
                           (p[-1] >= 'A' && p[-1] <= 'Z') || (p[-1] >= '0' && p[-1] <= '9')))
            break;
        p += 5;
    }
    if (!p)
        return;
    char name[NAME_LEN];
    size_t n = 0;
    while (n + 1 < sizeof name && (p[n] == '_' || (p[n] >= 'a' && p[n] <= 'z') ||
                                   (p[n] >= '0' && p[n] <= '9')))
        n++;
    memcpy(name, p, n);
    name[n] = '\0';
    for (int i = 0; i < shared->n_funcs; i++)
        if (strcmp(shared->funcs[i], name) == 0)
            return;
    if (shared->n_funcs < MAX_FUNCS)
        memcpy(shared->funcs[shared->n_funcs++], name, n + 1);
}

/* Contract violations of the running test (process-local: one test per Check child, or
 * reset by each test in no-fork mode). */
static int n_violations;
static char violations[8192];

static void violation(int line, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void violation(int line, const char *fmt, ...)
{
    char text[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    fprintf(stderr, "CONTRACT VIOLATION %s:%d: %s\n", __FILE__, line, text);
    n_violations++;
    size_t used = strlen(violations);
    if (used + 64 < sizeof violations)
        snprintf(violations + used, sizeof violations - used, "\n  line %d: %.*s", line,
                 (int)(sizeof violations - used - 32), text);
}

/* First statement of every test / last statement of every test. */
static void begin_test(void)
{
    n_violations = 0;
    violations[0] = '\0';
}

static void end_test(void)
{
    ck_assert_msg(n_violations == 0, "%d contract violation(s):%s", n_violations, violations);
}

static const char *st_name(crmt_status st)
{
    switch (st) {
    case CRMT_OK: return "CRMT_OK";
    case CRMT_ERR_INVALID_ARGUMENT: return "CRMT_ERR_INVALID_ARGUMENT";
    case CRMT_ERR_OUT_OF_MEMORY: return "CRMT_ERR_OUT_OF_MEMORY";
    case CRMT_ERR_NON_FINITE: return "CRMT_ERR_NON_FINITE";
    case CRMT_ERR_SHAPE: return "CRMT_ERR_SHAPE";
    case CRMT_ERR_IO: return "CRMT_ERR_IO";
    case CRMT_ERR_FORMAT: return "CRMT_ERR_FORMAT";
    case CRMT_ERR_VERSION: return "CRMT_ERR_VERSION";
    case CRMT_ERR_UNSUPPORTED: return "CRMT_ERR_UNSUPPORTED";
    case CRMT_ERR_STATE: return "CRMT_ERR_STATE";
    case CRMT_ERR_DIVERGED: return "CRMT_ERR_DIVERGED";
    }
    return "(unknown status)";
}

/* A failing case: status is want (or also want2 when want2 != CRMT_OK), the thread message
 * (cleared before the call) is non-empty, and handle_msg (when not NULL) holds the same. */
static void check_failure(crmt_status got, crmt_status want, crmt_status want2,
                          const char *handle_msg, const char *expr, int line)
{
    shared->cases++;
    note_function(expr);
    if (!(got == want || (want2 != CRMT_OK && got == want2)))
        violation(line, "%s returned %s (%d), documented %s%s%s; message \"%s\"", expr,
                  st_name(got), (int)got, st_name(want), want2 != CRMT_OK ? " or " : "",
                  want2 != CRMT_OK ? st_name(want2) : "", crmt_last_error());
    else if (crmt_last_error() == NULL || crmt_last_error()[0] == '\0')
        violation(line, "%s failed with %s but crmt_last_error() is empty", expr, st_name(got));
    else if (handle_msg && strcmp(handle_msg, crmt_last_error()) != 0)
        violation(line, "%s: handle message \"%s\" differs from crmt_last_error() \"%s\"",
                  expr, handle_msg, crmt_last_error());
}

/* The call fails with status st. */
#define FAILS(call, st)                                                                   \
    do {                                                                                  \
        crmt_clear_error();                                                               \
        crmt_status got_ = (call);                                                        \
        check_failure(got_, (st), CRMT_OK, NULL, #call, __LINE__);                        \
    } while (0)
/* The headers allow either status (see the comment at the call). */
#define FAILS2(call, st, st2)                                                             \
    do {                                                                                  \
        crmt_clear_error();                                                               \
        crmt_status got_ = (call);                                                        \
        check_failure(got_, (st), (st2), NULL, #call, __LINE__);                          \
    } while (0)
/* The call fails with st and stores the message in the handle too (errmsg: an expression
 * evaluated after the call, e.g. crmt_dataset_errmsg(ds)). */
#define FAILS_H(call, st, errmsg)                                                         \
    do {                                                                                  \
        crmt_clear_error();                                                               \
        crmt_status got_ = (call);                                                        \
        check_failure(got_, (st), CRMT_OK, (errmsg), #call, __LINE__);                    \
    } while (0)
#define FAILS2_H(call, st, st2, errmsg)                                                   \
    do {                                                                                  \
        crmt_clear_error();                                                               \
        crmt_status got_ = (call);                                                        \
        check_failure(got_, (st), (st2), (errmsg), #call, __LINE__);                      \
    } while (0)
/* A creator fails with st and leaves *out NULL. */
#define FAILS_OUT(call, st, out)                                                          \
    do {                                                                                  \
        (out) = (void *)(uintptr_t)1;                                                     \
        FAILS(call, st);                                                                  \
        if ((out) != NULL)                                                                \
            violation(__LINE__, "%s failed but left *out non-NULL", #call);               \
    } while (0)
#define FAILS2_OUT(call, st, st2, out)                                                    \
    do {                                                                                  \
        (out) = (void *)(uintptr_t)1;                                                     \
        FAILS2(call, st, st2);                                                            \
        if ((out) != NULL)                                                                \
            violation(__LINE__, "%s failed but left *out non-NULL", #call);               \
    } while (0)
/* A creator of two handles fails with st and leaves both *out1 and *out2 NULL. */
#define FAILS_OUT2(call, st, out1, out2)                                                  \
    do {                                                                                  \
        (out1) = (void *)(uintptr_t)1;                                                    \
        (out2) = (void *)(uintptr_t)1;                                                    \
        FAILS(call, st);                                                                  \
        if ((out1) != NULL || (out2) != NULL)                                             \
            violation(__LINE__, "%s failed but left an output non-NULL", #call);          \
    } while (0)
/* A function without a status (query, destroyer): the documented result, no crash. */
#define HOLDS(expr)                                                                       \
    do {                                                                                  \
        shared->cases++;                                                                  \
        note_function(#expr);                                                             \
        if (!(expr))                                                                      \
            violation(__LINE__, "%s does not hold", #expr);                               \
    } while (0)
#define NO_CRASH(call)                                                                    \
    do {                                                                                  \
        shared->cases++;                                                                  \
        note_function(#call);                                                             \
        call;                                                                             \
    } while (0)
/* A good call of the baseline. */
#define OK(call)                                                                          \
    do {                                                                                  \
        crmt_status got_ = (call);                                                        \
        ck_assert_msg(got_ == CRMT_OK, "line %d: baseline %s returned %s: %s", __LINE__,  \
                      #call, st_name(got_), crmt_last_error());                           \
    } while (0)

/* ------------------------------------------------------------------------------------------
 * Fixtures: two modalities ("a": 4 inputs -> linear 5 -> relu; "b": 3 inputs, no layers),
 * K = 3 classes, N = 12 samples. */

#define K 3
#define N 12
#define DA 4
#define DB 3

static float xa[N * DA], xb[N * DB];
static int32_t labels[N];

static void fill_data(void)
{
    for (int i = 0; i < N; i++) {
        labels[i] = i % K;
        for (int j = 0; j < DA; j++)
            xa[i * DA + j] = (float)(0.1 * ((i * 7 + j * 3) % 11) - 0.5 + (j == labels[i]));
        for (int j = 0; j < DB; j++)
            xb[i * DB + j] = (float)(0.05 * ((i * 5 + j) % 7) + 0.5 * (j == labels[i]));
    }
}

static crmt_spec *make_spec(crmt_head_kind head)
{
    crmt_spec *spec = NULL;
    OK(crmt_spec_create(&spec, K));
    OK(crmt_spec_add_modality(spec, "a", DA, NULL));
    OK(crmt_spec_add_linear(spec, 0, 5));
    OK(crmt_spec_add_relu(spec, 0));
    OK(crmt_spec_add_modality(spec, "b", DB, NULL));
    OK(crmt_spec_set(spec, CRMT_SPEC_HEAD, head));
    return spec;
}

static crmt_model *make_model(crmt_head_kind head, uint64_t seed)
{
    crmt_spec *spec = make_spec(head);
    crmt_model *model = NULL;
    OK(crmt_model_create(&model, spec, seed));
    crmt_spec_destroy(spec);
    return model;
}

static crmt_dataset *make_dataset(void)
{
    crmt_dataset *ds = NULL;
    OK(crmt_dataset_create(&ds, N, 2));
    OK(crmt_dataset_set_modality(ds, 0, xa, DA, CRMT_BORROW));
    OK(crmt_dataset_set_modality(ds, 1, xb, DB, CRMT_COPY));
    OK(crmt_dataset_set_labels(ds, labels));
    return ds;
}

static char *make_temp_dir(void)
{
    const char *base = getenv("TMPDIR");
    char *dir = malloc(4096);
    ck_assert_ptr_nonnull(dir);
    snprintf(dir, 4096, "%s/crmt-bad-XXXXXX", base && *base ? base : "/tmp");
    ck_assert_msg(mkdtemp(dir) != NULL, "mkdtemp: %s", strerror(errno));
    return dir;
}

static void remove_tree(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *e;
    char path[4200];
    while ((e = readdir(d)) != NULL) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        struct stat sb;
        if (lstat(path, &sb) == 0 && S_ISDIR(sb.st_mode))
            remove_tree(path);
        else
            unlink(path);
    }
    closedir(d);
    rmdir(dir);
}

static void write_file(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    ck_assert_msg(f != NULL, "cannot create %s: %s", path, strerror(errno));
    ck_assert_uint_eq(fwrite(data, 1, len, f), len);
    ck_assert_int_eq(fclose(f), 0);
}

static unsigned char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    ck_assert_msg(f != NULL, "cannot open %s: %s", path, strerror(errno));
    unsigned char *buf = malloc(1 << 16);
    ck_assert_ptr_nonnull(buf);
    *len = fread(buf, 1, 1 << 16, f);
    fclose(f);
    return buf;
}

/* An .npy file: version major.0, header dict text, then data bytes. */
static void write_npy(const char *path, int major, const char *dict, const void *data,
                      size_t nbytes)
{
    unsigned char buf[1024];
    const size_t prefix = major == 1 ? 10 : 12;
    size_t hlen = strlen(dict) + 1;
    while ((prefix + hlen) % 64)
        hlen++;
    ck_assert_uint_le(prefix + hlen + nbytes, sizeof buf);
    memcpy(buf, "\x93NUMPY", 6);
    buf[6] = (unsigned char)major;
    buf[7] = 0;
    if (major == 1) {
        buf[8] = (unsigned char)(hlen & 0xff);
        buf[9] = (unsigned char)(hlen >> 8);
    } else {
        for (int i = 0; i < 4; i++)
            buf[8 + i] = (unsigned char)(hlen >> (8 * i));
    }
    memset(buf + prefix, ' ', hlen);
    memcpy(buf + prefix, dict, strlen(dict));
    buf[prefix + hlen - 1] = '\n';
    if (nbytes)
        memcpy(buf + prefix + hlen, data, nbytes);
    write_file(path, buf, prefix + hlen + nbytes);
}

static void put32(unsigned char *b, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        b[i] = (unsigned char)(v >> (8 * i));
}

/* CRC-32 (zlib polynomial) for re-sealing edited model bytes. */
static uint32_t crc32_of(const unsigned char *p, size_t n)
{
    uint32_t c = 0xffffffffu;
    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++)
            c = (c >> 1) ^ (0xedb88320u & (0u - (c & 1u)));
    }
    return c ^ 0xffffffffu;
}

static unsigned char *save_to_buffer(const crmt_model *model, size_t *size)
{
    OK(crmt_model_save_buffer(model, NULL, 0, size));
    unsigned char *buf = malloc(*size);
    ck_assert_ptr_nonnull(buf);
    size_t written = 0;
    OK(crmt_model_save_buffer(model, buf, *size, &written));
    ck_assert_uint_eq(written, *size);
    return buf;
}

/* ------------------------------------------------------------------------------------------
 * common.h */

START_TEST(test_common)
{
    begin_test();
    /* Baseline. */
    ck_assert_uint_eq(crmt_version_number(), CRMT_VERSION_NUMBER);
    ck_assert_str_eq(crmt_version_string(), CRMT_VERSION_STRING);
    crmt_spec *s = NULL;
    ck_assert_int_ne(crmt_spec_create(&s, 0), CRMT_OK);
    ck_assert_str_ne(crmt_last_error(), "");
    crmt_clear_error();

    HOLDS(crmt_last_error() != NULL && crmt_last_error()[0] == '\0');
    NO_CRASH(crmt_clear_error());
    HOLDS(crmt_last_error()[0] == '\0');
    /* Every status, and values no status has, give a non-NULL non-empty text. */
    for (int v = -12; v <= 2; v++)
        HOLDS(crmt_status_string((crmt_status)v) != NULL &&
              crmt_status_string((crmt_status)v)[0] != '\0');
    HOLDS(crmt_status_string((crmt_status)INT_MIN) != NULL);
    HOLDS(crmt_status_string((crmt_status)INT_MAX) != NULL);
    HOLDS(crmt_version_number() == CRMT_VERSION_NUMBER);
    HOLDS(strcmp(crmt_version_string(), CRMT_VERSION_STRING) == 0);
    /* The message is per thread and survives successful calls. */
    FAILS(crmt_spec_create(&s, 1), CRMT_ERR_INVALID_ARGUMENT);
    char saved[512];
    snprintf(saved, sizeof saved, "%s", crmt_last_error());
    crmt_model *m = make_model(CRMT_HEAD_JT, 1);
    HOLDS(strcmp(crmt_last_error(), saved) == 0);
    crmt_model_destroy(m);
    end_test();
}
END_TEST

/* ------------------------------------------------------------------------------------------
 * model.h: spec */

START_TEST(test_spec)
{
    begin_test();
    crmt_spec *spec = NULL, *out = NULL;
    int idx = -1;
    /* Baseline. */
    spec = make_spec(CRMT_HEAD_CRMT);
    OK(crmt_spec_set(spec, CRMT_SPEC_HEAD_NORM, CRMT_NORM_ROWS));
    OK(crmt_spec_set(spec, CRMT_SPEC_INTEGRATION_INIT, 0.5));

    FAILS(crmt_spec_create(NULL, K), CRMT_ERR_INVALID_ARGUMENT);
    FAILS_OUT(crmt_spec_create(&out, 0), CRMT_ERR_INVALID_ARGUMENT, out);
    FAILS_OUT(crmt_spec_create(&out, 1), CRMT_ERR_INVALID_ARGUMENT, out);
    FAILS_OUT(crmt_spec_create(&out, -3), CRMT_ERR_INVALID_ARGUMENT, out);
    FAILS_OUT(crmt_spec_create(&out, INT_MIN), CRMT_ERR_INVALID_ARGUMENT, out);
    FAILS_OUT(crmt_spec_create(&out, INT_MAX), CRMT_ERR_INVALID_ARGUMENT, out);
    NO_CRASH(crmt_spec_destroy(NULL));

    FAILS(crmt_spec_add_modality(NULL, "x", 3, &idx), CRMT_ERR_INVALID_ARGUMENT);
    FAILS(crmt_spec_add_modality(spec, "x", 0, &idx), CRMT_ERR_INVALID_ARGUMENT);
    FAILS(crmt_spec_add_modality(spec, "x", -1, &idx), CRMT_ERR_INVALID_ARGUMENT);
    FAILS(crmt_spec_add_modality(spec, "x", INT_MAX, &idx), CRMT_ERR_INVALID_ARGUMENT);
    FAILS(crmt_spec_add_modality(spec, "0123456789012345678901234567890123", 3, &idx),
          CRMT_ERR_INVALID_ARGUMENT); /* name above 31 bytes */
    FAILS(crmt_spec_add_modality(spec, "01234567890123456789012345678901", 3, &idx),
          CRMT_ERR_INVALID_ARGUMENT); /* exactly 32 bytes */
    {
        crmt_spec *full = NULL;
        OK(crmt_spec_create(&full, K));
        for (int m = 0; m < CRMT_MAX_MODALITIES; m++)
            OK(crmt_spec_add_modality(full, NULL, 1, NULL));
        FAILS(crmt_spec_add_modality(full, NULL, 1, NULL), CRMT_ERR_INVALID_ARGUMENT);
        crmt_spec_destroy(full);
    }

    FAILS(crmt_spec_add_linear(NULL, 0, 4), CRMT_ERR_INVALID_ARGUMENT);
    FAILS(crmt_spec_add_linear(spec, -1, 4), CRMT_ERR_INVALID_ARGUMENT);
    FAILS(crmt_spec_add_linear(spec, 2, 4), CRMT_ERR_INVALID_ARGUMENT);
    FAILS(crmt_spec_add_linear(spec, INT_MAX, 4), CRMT_ERR_INVALID_ARGUMENT);
    FAILS(crmt_spec_add_linear(spec, 0, 0), CRMT_ERR_INVALID_ARGUMENT);
    FAILS(crmt_spec_add_linear(spec, 0, -7), CRMT_ERR_INVALID_ARGUMENT);
    FAILS(crmt_spec_add_linear(spec, 0, INT_MAX), CRMT_ERR_INVALID_ARGUMENT);
    FAILS(crmt_spec_add_relu(NULL, 0), CRMT_ERR_INVALID_ARGUMENT);
    FAILS(crmt_spec_add_relu(spec, -1), CRMT_ERR_INVALID_ARGUMENT);
    FAILS(crmt_spec_add_relu(spec, 2), CRMT_ERR_INVALID_ARGUMENT);
    {
        /* Too many layers in one encoder. */
        crmt_spec *deep = NULL;
        crmt_status st = CRMT_OK;
        OK(crmt_spec_create(&deep, K));
        OK(crmt_spec_add_modality(deep, NULL, 2, NULL));
        for (int l = 0; l < 10000 && st == CRMT_OK; l++)
            st = crmt_spec_add_relu(deep, 0);
        ck_assert_int_ne(st, CRMT_OK);
        FAILS(crmt_spec_add_relu(deep, 0), CRMT_ERR_INVALID_ARGUMENT);
        FAILS(crmt_spec_add_linear(deep, 0, 2), CRMT_ERR_INVALID_ARGUMENT);
        crmt_spec_destroy(deep);
    }

    FAILS(crmt_spec_set(NULL, CRMT_SPEC_HEAD, CRMT_HEAD_JT), CRMT_ERR_INVALID_ARGUMENT);
    FAILS(crmt_spec_set(spec, (crmt_spec_param)3, 0.0), CRMT_ERR_INVALID_ARGUMENT);
    FAILS(crmt_spec_set(spec, (crmt_spec_param)-1, 0.0), CRMT_ERR_INVALID_ARGUMENT);
    FAILS(crmt_spec_set(spec, (crmt_spec_param)INT_MAX, 0.0), CRMT_ERR_INVALID_ARGUMENT);
    static const double bad_head[] = {2, -1, 0.5, 1e300};
    for (size_t i = 0; i < sizeof bad_head / sizeof *bad_head; i++)
        FAILS(crmt_spec_set(spec, CRMT_SPEC_HEAD, bad_head[i]), CRMT_ERR_INVALID_ARGUMENT);
    FAILS(crmt_spec_set(spec, CRMT_SPEC_HEAD, NAN), CRMT_ERR_INVALID_ARGUMENT);
    FAILS(crmt_spec_set(spec, CRMT_SPEC_HEAD, INFINITY), CRMT_ERR_INVALID_ARGUMENT);
    static const double bad_norm[] = {3, -1, 1.5};
    for (size_t i = 0; i < sizeof bad_norm / sizeof *bad_norm; i++)
        FAILS(crmt_spec_set(spec, CRMT_SPEC_HEAD_NORM, bad_norm[i]), CRMT_ERR_INVALID_ARGUMENT);
    FAILS(crmt_spec_set(spec, CRMT_SPEC_HEAD_NORM, NAN), CRMT_ERR_INVALID_ARGUMENT);
    static const double bad_init[] = {-1e-9, -1, 1000.5, 1e300};
    for (size_t i = 0; i < sizeof bad_init / sizeof *bad_init; i++)
        FAILS(crmt_spec_set(spec, CRMT_SPEC_INTEGRATION_INIT, bad_init[i]),
              CRMT_ERR_INVALID_ARGUMENT);
    FAILS(crmt_spec_set(spec, CRMT_SPEC_INTEGRATION_INIT, NAN), CRMT_ERR_INVALID_ARGUMENT);
    FAILS(crmt_spec_set(spec, CRMT_SPEC_INTEGRATION_INIT, INFINITY), CRMT_ERR_INVALID_ARGUMENT);
    FAILS(crmt_spec_set(spec, CRMT_SPEC_INTEGRATION_INIT, -INFINITY),
          CRMT_ERR_INVALID_ARGUMENT);

    /* The failed calls changed nothing: the spec still builds the same model. */
    crmt_model *model = NULL;
    OK(crmt_model_create(&model, spec, 3));
    ck_assert_int_eq(crmt_model_num_modalities(model), 2);
    ck_assert_int_eq(crmt_model_head(model), CRMT_HEAD_CRMT);
    crmt_model_destroy(model);
    crmt_spec_destroy(spec);
    end_test();
}
END_TEST

/* ------------------------------------------------------------------------------------------
 * model.h: image modalities, convolution, pooling, flatten */

START_TEST(test_spec_image)
{
    begin_test();
    crmt_spec *spec = NULL;
    int img = -1, flat = -1;
    /* Baseline: a 2 x 6 x 6 image through conv, max pool, avg pool, flatten and a linear layer,
     * next to a flat modality; built, trained one step, predicted, certified, saved and
     * loaded (the conv paths valgrind sees: test_conv is too slow for it). */
    OK(crmt_spec_create(&spec, K));
    OK(crmt_spec_add_modality_image(spec, "img", 2, 6, 6, &img));
    OK(crmt_spec_add_conv2d(spec, img, 3, 3, 1, 1));
    OK(crmt_spec_add_relu(spec, img));
    OK(crmt_spec_add_maxpool(spec, img, 2, 2));
    OK(crmt_spec_add_avgpool(spec, img, 2, 1));
    OK(crmt_spec_add_flatten(spec, img));
    OK(crmt_spec_add_linear(spec, img, 4));
    OK(crmt_spec_add_modality(spec, "flat", DB, &flat));
    {
        crmt_model *model = NULL, *back = NULL;
        crmt_optimizer *opt = NULL;
        static float pix[N * 2 * 6 * 6];
        for (size_t i = 0; i < sizeof pix / sizeof *pix; i++)
            pix[i] = (float)((i * 37) % 17) / 17.0f;
        const float *in[2] = {pix, xb};
        int32_t pred[N];
        OK(crmt_model_create(&model, spec, 1));
        OK(crmt_optimizer_create(&opt, model, CRMT_OPTIMIZER_SGD));
        OK(crmt_train_step(model, opt, in, labels, N, NULL, NULL));
        OK(crmt_model_predict(model, in, N, pred, NULL));
        crmt_certifier *cert = NULL;
        crmt_certificate ct;
        memset(&ct, 0, sizeof ct);
        ct.struct_size = sizeof ct;
        OK(crmt_certifier_create(&cert, model, NULL)); /* sound bounds of conv and pooling */
        OK(crmt_certify_radius(cert, in, CRMT_LABEL_PREDICTED, &ct));
        crmt_certifier_destroy(cert);
        size_t size = 0;
        unsigned char *buf = save_to_buffer(model, &size);
        OK(crmt_model_load_buffer(&back, buf, size));
        free(buf);
        crmt_model_destroy(back);
        crmt_optimizer_destroy(opt);
        crmt_model_destroy(model);
    }

    FAILS(crmt_spec_add_modality_image(NULL, "x", 1, 2, 2, NULL), CRMT_ERR_INVALID_ARGUMENT);
    static const int bad_shape[][3] = {{0, 4, 4}, {1, 0, 4}, {1, 4, 0}, {-1, 4, 4},
                                       {1, -4, 4}, {1, 4, INT_MIN}, {4096, 4096, 4096},
                                       {INT_MAX, INT_MAX, INT_MAX}, {1, 1 << 13, 1 << 12}};
    for (size_t i = 0; i < sizeof bad_shape / sizeof *bad_shape; i++)
        FAILS(crmt_spec_add_modality_image(spec, "x", bad_shape[i][0], bad_shape[i][1],
                                           bad_shape[i][2], NULL),
              CRMT_ERR_INVALID_ARGUMENT);
    FAILS(crmt_spec_add_modality_image(spec, "0123456789012345678901234567890123", 1, 2, 2,
                                       NULL),
          CRMT_ERR_INVALID_ARGUMENT);
    {
        crmt_spec *full = NULL;
        OK(crmt_spec_create(&full, K));
        for (int m = 0; m < CRMT_MAX_MODALITIES; m++)
            OK(crmt_spec_add_modality_image(full, NULL, 1, 1, 1, NULL));
        FAILS(crmt_spec_add_modality_image(full, NULL, 1, 1, 1, NULL),
              CRMT_ERR_INVALID_ARGUMENT);
        crmt_spec_destroy(full);
    }

    crmt_spec *s2 = NULL;
    int im = -1;
    OK(crmt_spec_create(&s2, K));
    OK(crmt_spec_add_modality_image(s2, NULL, 2, 5, 5, &im));
    OK(crmt_spec_add_modality(s2, NULL, 6, NULL)); /* modality 1: a flat vector */
    /* conv2d(spec, modality, out_channels, kernel, stride, padding) */
    FAILS(crmt_spec_add_conv2d(NULL, 0, 2, 3, 1, 0), CRMT_ERR_INVALID_ARGUMENT);
    FAILS(crmt_spec_add_conv2d(s2, -1, 2, 3, 1, 0), CRMT_ERR_INVALID_ARGUMENT);
    FAILS(crmt_spec_add_conv2d(s2, 2, 2, 3, 1, 0), CRMT_ERR_INVALID_ARGUMENT);
    static const int bad_conv[][4] = {
        {0, 3, 1, 0},       /* no output channel */
        {-2, 3, 1, 0},      {INT_MAX, 3, 1, 0}, /* output too large */
        {2, 0, 1, 0},       /* kernel 0 */
        {2, -3, 1, 0},      {2, 6, 1, 0}, /* kernel larger than the 5 x 5 input */
        {2, INT_MAX, 1, 0}, {2, 3, 0, 0}, /* stride 0 */
        {2, 3, -1, 0},      {2, 3, 1, -1}, /* negative padding */
        {2, 3, 1, 2},       /* padding above kernel / 2 */
        {2, 1, 1, 1},       {1 << 20, 1, 1, 0}, /* output above 2^24 values */
    };
    for (size_t i = 0; i < sizeof bad_conv / sizeof *bad_conv; i++)
        FAILS(crmt_spec_add_conv2d(s2, im, bad_conv[i][0], bad_conv[i][1], bad_conv[i][2],
                                   bad_conv[i][3]),
              CRMT_ERR_INVALID_ARGUMENT);
    FAILS(crmt_spec_add_avgpool(NULL, 0, 2, 2), CRMT_ERR_INVALID_ARGUMENT);
    FAILS(crmt_spec_add_maxpool(NULL, 0, 2, 2), CRMT_ERR_INVALID_ARGUMENT);
    static const int bad_pool[][2] = {{0, 1}, {-1, 1}, {6, 1}, {INT_MAX, 1}, {2, 0}, {2, -2}};
    for (size_t i = 0; i < sizeof bad_pool / sizeof *bad_pool; i++) {
        FAILS(crmt_spec_add_avgpool(s2, im, bad_pool[i][0], bad_pool[i][1]),
              CRMT_ERR_INVALID_ARGUMENT);
        FAILS(crmt_spec_add_maxpool(s2, im, bad_pool[i][0], bad_pool[i][1]),
              CRMT_ERR_INVALID_ARGUMENT);
    }
    FAILS(crmt_spec_add_avgpool(s2, 5, 2, 2), CRMT_ERR_INVALID_ARGUMENT);
    FAILS(crmt_spec_add_maxpool(s2, -1, 2, 2), CRMT_ERR_INVALID_ARGUMENT);
    FAILS(crmt_spec_add_flatten(NULL, 0), CRMT_ERR_INVALID_ARGUMENT);
    FAILS(crmt_spec_add_flatten(s2, -1), CRMT_ERR_INVALID_ARGUMENT);
    FAILS(crmt_spec_add_flatten(s2, 2), CRMT_ERR_INVALID_ARGUMENT);
    /* Image layers on a flat modality, or after a flatten / linear layer: the modality
     * argument does not name an image (docs/api.md, "Errors"). */
    FAILS(crmt_spec_add_conv2d(s2, 1, 2, 1, 1, 0), CRMT_ERR_INVALID_ARGUMENT);
    FAILS(crmt_spec_add_avgpool(s2, 1, 1, 1), CRMT_ERR_INVALID_ARGUMENT);
    FAILS(crmt_spec_add_maxpool(s2, 1, 1, 1), CRMT_ERR_INVALID_ARGUMENT);
    FAILS(crmt_spec_add_flatten(s2, 1), CRMT_ERR_INVALID_ARGUMENT);
    OK(crmt_spec_add_maxpool(s2, im, 2, 1)); /* 2 x 4 x 4 */
    OK(crmt_spec_add_flatten(s2, im));
    FAILS(crmt_spec_add_conv2d(s2, im, 2, 1, 1, 0), CRMT_ERR_INVALID_ARGUMENT);
    FAILS(crmt_spec_add_avgpool(s2, im, 1, 1), CRMT_ERR_INVALID_ARGUMENT);
    FAILS(crmt_spec_add_flatten(s2, im), CRMT_ERR_INVALID_ARGUMENT);
    OK(crmt_spec_add_linear(s2, im, 3));
    FAILS(crmt_spec_add_maxpool(s2, im, 1, 1), CRMT_ERR_INVALID_ARGUMENT);
    {
        /* Too many layers. */
        crmt_spec *deep = NULL;
        crmt_status st = CRMT_OK;
        int d = -1;
        OK(crmt_spec_create(&deep, K));
        OK(crmt_spec_add_modality_image(deep, NULL, 1, 3, 3, &d));
        for (int l = 0; l < 10000 && st == CRMT_OK; l++)
            st = crmt_spec_add_maxpool(deep, d, 1, 1);
        ck_assert_int_ne(st, CRMT_OK);
        FAILS(crmt_spec_add_avgpool(deep, d, 1, 1), CRMT_ERR_INVALID_ARGUMENT);
        FAILS(crmt_spec_add_conv2d(deep, d, 1, 1, 1, 0), CRMT_ERR_INVALID_ARGUMENT);
        crmt_spec_destroy(deep);
    }
    /* The failed calls changed nothing: the spec still builds. */
    crmt_model *model = NULL;
    OK(crmt_model_create(&model, s2, 2));
    ck_assert_int_eq(crmt_model_feature_dim(model, im), 3);
    crmt_model_destroy(model);
    crmt_spec_destroy(s2);
    crmt_spec_destroy(spec);
    end_test();
}
END_TEST

/* ------------------------------------------------------------------------------------------
 * model.h: model creation and queries */

START_TEST(test_model_create_and_queries)
{
    begin_test();
    crmt_model *out = NULL;
    crmt_spec *spec = make_spec(CRMT_HEAD_JT);
    crmt_model *model = make_model(CRMT_HEAD_CRMT, 2);
    /* Baseline. */
    ck_assert_int_eq(crmt_model_num_modalities(model), 2);
    ck_assert_int_eq(crmt_model_num_classes(model), K);
    ck_assert_int_eq(crmt_model_input_dim(model, 0), DA);
    ck_assert_int_eq(crmt_model_feature_dim(model, 0), 5);
    ck_assert_uint_gt(crmt_model_num_parameters(model), 0);
    ck_assert_str_eq(crmt_model_errmsg(model), "");

    FAILS(crmt_model_create(NULL, spec, 1), CRMT_ERR_INVALID_ARGUMENT);
    FAILS_OUT(crmt_model_create(&out, NULL, 1), CRMT_ERR_INVALID_ARGUMENT, out);
    {
        /* Wrong call order: a spec without modalities (an incomplete object: STATE). */
        crmt_spec *empty = NULL;
        OK(crmt_spec_create(&empty, K));
        FAILS_OUT(crmt_model_create(&out, empty, 1), CRMT_ERR_STATE, out);
        crmt_spec_destroy(empty);
    }
    {
        /* Huge sizes: every dimension is accepted alone, their product is too large. */
        crmt_spec *huge = NULL;
        OK(crmt_spec_create(&huge, K));
        OK(crmt_spec_add_modality(huge, NULL, 1 << 24, NULL));
        OK(crmt_spec_add_linear(huge, 0, 1 << 24));
        FAILS_OUT(crmt_model_create(&out, huge, 1), CRMT_ERR_INVALID_ARGUMENT, out);
        crmt_spec_destroy(huge);
        OK(crmt_spec_create(&huge, 65536));
        OK(crmt_spec_add_modality(huge, NULL, 1 << 24, NULL));
        FAILS_OUT(crmt_model_create(&out, huge, 1), CRMT_ERR_INVALID_ARGUMENT, out);
        crmt_spec_destroy(huge);
    }
    {
        /* CRMT_NORM_ORTHONORMAL needs K <= d_m (model.h): 5 classes over 2 features. */
        crmt_spec *ortho = NULL;
        OK(crmt_spec_create(&ortho, 5));
        OK(crmt_spec_add_modality(ortho, NULL, 2, NULL));
        OK(crmt_spec_set(ortho, CRMT_SPEC_HEAD, CRMT_HEAD_CRMT));
        OK(crmt_spec_set(ortho, CRMT_SPEC_HEAD_NORM, CRMT_NORM_ORTHONORMAL));
        FAILS_OUT(crmt_model_create(&out, ortho, 1), CRMT_ERR_UNSUPPORTED, out);
        crmt_spec_destroy(ortho);
    }
    NO_CRASH(crmt_model_destroy(NULL));
    HOLDS(crmt_model_errmsg(NULL) != NULL);
    HOLDS(crmt_model_num_modalities(NULL) <= 0);
    HOLDS(crmt_model_num_classes(NULL) <= 0);
    HOLDS(crmt_model_input_dim(NULL, 0) == -1);
    HOLDS(crmt_model_input_dim(model, -1) == -1);
    HOLDS(crmt_model_input_dim(model, 2) == -1);
    HOLDS(crmt_model_input_dim(model, INT_MAX) == -1);
    HOLDS(crmt_model_input_dim(model, INT_MIN) == -1);
    HOLDS(crmt_model_feature_dim(NULL, 0) == -1);
    HOLDS(crmt_model_feature_dim(model, -1) == -1);
    HOLDS(crmt_model_feature_dim(model, 2) == -1);
    HOLDS(crmt_model_head(NULL) == CRMT_HEAD_JT || crmt_model_head(NULL) == CRMT_HEAD_CRMT);
    HOLDS(crmt_model_num_parameters(NULL) == 0);
    crmt_model_destroy(model);
    crmt_spec_destroy(spec);
    end_test();
}
END_TEST

/* ------------------------------------------------------------------------------------------
 * model.h: predict, uni-modal logits, integration weights */

START_TEST(test_model_compute)
{
    begin_test();
    crmt_model *jt = make_model(CRMT_HEAD_JT, 1), *cr = make_model(CRMT_HEAD_CRMT, 1);
    const float *in[2] = {xa, xb};
    const float *in_null[2] = {xa, NULL};
    int32_t pred[N];
    float logits[N * K], w[K];
    /* Baseline. */
    OK(crmt_model_predict(jt, in, N, pred, logits));
    OK(crmt_model_predict(cr, in, N, pred, NULL));
    OK(crmt_model_predict(cr, in, N, NULL, logits));
    OK(crmt_model_unimodal_logits(cr, 1, xb, N, logits));
    OK(crmt_model_get_integration(cr, 0, w, K));

    FAILS(crmt_model_predict(NULL, in, N, pred, logits), CRMT_ERR_INVALID_ARGUMENT);
    FAILS(crmt_model_predict(jt, NULL, N, pred, logits), CRMT_ERR_INVALID_ARGUMENT);
    FAILS(crmt_model_predict(jt, in_null, N, pred, logits), CRMT_ERR_INVALID_ARGUMENT);
    FAILS(crmt_model_predict(jt, in, 0, pred, logits), CRMT_ERR_INVALID_ARGUMENT);
    FAILS(crmt_model_predict(jt, in, SIZE_MAX, pred, logits), CRMT_ERR_INVALID_ARGUMENT);
    FAILS(crmt_model_predict(jt, in, (size_t)INT32_MAX + 1, pred, logits),
          CRMT_ERR_INVALID_ARGUMENT);
    FAILS(crmt_model_predict(jt, in, N, NULL, NULL), CRMT_ERR_INVALID_ARGUMENT);
    {
        float bad[N * DB];
        memcpy(bad, xb, sizeof bad);
        const float *in_bad[2] = {xa, bad};
        const float specials[3] = {NAN, INFINITY, -INFINITY};
        for (int s = 0; s < 3; s++) {
            bad[N * DB - 1] = specials[s]; /* the very last value */
            FAILS(crmt_model_predict(jt, in_bad, N, pred, logits), CRMT_ERR_NON_FINITE);
            FAILS(crmt_model_unimodal_logits(cr, 1, bad, N, logits), CRMT_ERR_NON_FINITE);
        }
    }

    FAILS(crmt_model_unimodal_logits(NULL, 0, xa, N, logits), CRMT_ERR_INVALID_ARGUMENT);
    FAILS(crmt_model_unimodal_logits(jt, 0, xa, N, logits), CRMT_ERR_UNSUPPORTED);
    FAILS(crmt_model_unimodal_logits(cr, -1, xa, N, logits), CRMT_ERR_INVALID_ARGUMENT);
    FAILS(crmt_model_unimodal_logits(cr, 2, xa, N, logits), CRMT_ERR_INVALID_ARGUMENT);
    FAILS(crmt_model_unimodal_logits(cr, 0, NULL, N, logits), CRMT_ERR_INVALID_ARGUMENT);
    FAILS(crmt_model_unimodal_logits(cr, 0, xa, N, NULL), CRMT_ERR_INVALID_ARGUMENT);
    FAILS(crmt_model_unimodal_logits(cr, 0, xa, 0, logits), CRMT_ERR_INVALID_ARGUMENT);
    FAILS(crmt_model_unimodal_logits(cr, 0, xa, SIZE_MAX, logits), CRMT_ERR_INVALID_ARGUMENT);

    FAILS(crmt_model_get_integration(NULL, 0, w, K), CRMT_ERR_INVALID_ARGUMENT);
    FAILS(crmt_model_get_integration(cr, 0, NULL, K), CRMT_ERR_INVALID_ARGUMENT);
    FAILS(crmt_model_get_integration(jt, 0, w, K), CRMT_ERR_UNSUPPORTED);
    FAILS(crmt_model_get_integration(cr, -1, w, K), CRMT_ERR_INVALID_ARGUMENT);
    FAILS(crmt_model_get_integration(cr, 2, w, K), CRMT_ERR_INVALID_ARGUMENT);
    FAILS(crmt_model_get_integration(cr, 0, w, 0), CRMT_ERR_INVALID_ARGUMENT);
    FAILS(crmt_model_get_integration(cr, 0, w, K - 1), CRMT_ERR_INVALID_ARGUMENT);
    crmt_model_destroy(jt);
    crmt_model_destroy(cr);
    end_test();
}
END_TEST

/* ------------------------------------------------------------------------------------------
 * model.h: save and load (files and buffers) */

START_TEST(test_model_files)
{
    begin_test();
    crmt_model *model = make_model(CRMT_HEAD_CRMT, 4), *out = NULL;
    char *dir = make_temp_dir();
    char path[4200], missing[4200], empty[4200], garbage[4200], newer[4200];
    snprintf(path, sizeof path, "%s/model.crmt", dir);
    snprintf(missing, sizeof missing, "%s/no/such/dir/model.crmt", dir);
    snprintf(empty, sizeof empty, "%s/empty.crmt", dir);
    snprintf(garbage, sizeof garbage, "%s/garbage.crmt", dir);
    snprintf(newer, sizeof newer, "%s/newer.crmt", dir);
    /* Baseline. */
    OK(crmt_model_save(model, path));
    OK(crmt_model_load(&out, path));
    crmt_model_destroy(out);
    size_t size = 0;
    unsigned char *buf = save_to_buffer(model, &size);
    OK(crmt_model_load_buffer(&out, buf, size));
    crmt_model_destroy(out);

    FAILS(crmt_model_save(NULL, path), CRMT_ERR_INVALID_ARGUMENT);
    FAILS(crmt_model_save(model, NULL), CRMT_ERR_INVALID_ARGUMENT);
    FAILS(crmt_model_save(model, ""), CRMT_ERR_INVALID_ARGUMENT);
    FAILS(crmt_model_save(model, missing), CRMT_ERR_IO);
    FAILS(crmt_model_save(model, dir), CRMT_ERR_IO); /* the target is a directory */

    FAILS(crmt_model_load(NULL, path), CRMT_ERR_INVALID_ARGUMENT);
    FAILS_OUT(crmt_model_load(&out, NULL), CRMT_ERR_INVALID_ARGUMENT, out);
    FAILS_OUT(crmt_model_load(&out, missing), CRMT_ERR_IO, out);
    FAILS_OUT(crmt_model_load(&out, dir), CRMT_ERR_IO, out);
    write_file(empty, "", 0);
    FAILS_OUT(crmt_model_load(&out, empty), CRMT_ERR_FORMAT, out);
    write_file(garbage, "this is not a model file at all", 31);
    FAILS_OUT(crmt_model_load(&out, garbage), CRMT_ERR_FORMAT, out);
    {
        /* A file of a newer format version than any this library reads (the version field
         * is bytes 12..15; docs/file-format.md). */
        unsigned char *v2 = malloc(size);
        memcpy(v2, buf, size);
        put32(v2 + 12, 1000);
        put32(v2 + size - 4, crc32_of(v2, size - 4));
        write_file(newer, v2, size);
        FAILS_OUT(crmt_model_load(&out, newer), CRMT_ERR_VERSION, out);
        FAILS_OUT(crmt_model_load_buffer(&out, v2, size), CRMT_ERR_VERSION, out);
        free(v2);
    }

    size_t need = 0;
    unsigned char small[8];
    FAILS(crmt_model_save_buffer(NULL, NULL, 0, &need), CRMT_ERR_INVALID_ARGUMENT);
    FAILS(crmt_model_save_buffer(model, NULL, 0, NULL), CRMT_ERR_INVALID_ARGUMENT);
    FAILS(crmt_model_save_buffer(model, buf, size, NULL), CRMT_ERR_INVALID_ARGUMENT);
    need = 0;
    FAILS(crmt_model_save_buffer(model, small, sizeof small, &need), CRMT_ERR_INVALID_ARGUMENT);
    HOLDS(need == size); /* the needed size is reported with the error */
    FAILS(crmt_model_save_buffer(model, buf, size - 1, &need), CRMT_ERR_INVALID_ARGUMENT);
    FAILS(crmt_model_save_buffer(model, buf, 0, &need), CRMT_ERR_INVALID_ARGUMENT);

    FAILS(crmt_model_load_buffer(NULL, buf, size), CRMT_ERR_INVALID_ARGUMENT);
    FAILS_OUT(crmt_model_load_buffer(&out, NULL, size), CRMT_ERR_INVALID_ARGUMENT, out);
    FAILS_OUT(crmt_model_load_buffer(&out, NULL, 0), CRMT_ERR_INVALID_ARGUMENT, out);
    FAILS_OUT(crmt_model_load_buffer(&out, buf, 0), CRMT_ERR_FORMAT, out);
    FAILS_OUT(crmt_model_load_buffer(&out, buf, 7), CRMT_ERR_FORMAT, out);
    FAILS_OUT(crmt_model_load_buffer(&out, buf, size - 1), CRMT_ERR_FORMAT, out);
    FAILS_OUT(crmt_model_load_buffer(&out, "garbage", 7), CRMT_ERR_FORMAT, out);
    {
        unsigned char *bad = malloc(size + 1);
        memcpy(bad, buf, size);
        bad[size] = 0;
        FAILS_OUT(crmt_model_load_buffer(&out, bad, size + 1), CRMT_ERR_FORMAT, out);
        bad[size / 2] ^= 0x40; /* checksum mismatch */
        FAILS_OUT(crmt_model_load_buffer(&out, bad, size), CRMT_ERR_FORMAT, out);
        free(bad);
    }
    /* A model with a non-finite parameter cannot be produced through the API (training
     * restores finite parameters), so that save path is covered by test_serialize.c. */
    free(buf);
    crmt_model_destroy(model);
    remove_tree(dir);
    free(dir);
    end_test();
}
END_TEST

/* ------------------------------------------------------------------------------------------
 * dataset.h */

START_TEST(test_dataset)
{
    begin_test();
    crmt_dataset *ds = NULL, *out = NULL;
    /* Baseline. */
    ds = make_dataset();
    ck_assert_uint_eq(crmt_dataset_num_samples(ds), N);
    ck_assert_int_eq(crmt_dataset_num_modalities(ds), 2);
    ck_assert_uint_eq(crmt_dataset_dim(ds, 1), DB);
    ck_assert_ptr_eq(crmt_dataset_data(ds, 0), xa); /* borrowed */
    ck_assert_ptr_ne(crmt_dataset_data(ds, 1), xb); /* copied */
    ck_assert_ptr_nonnull(crmt_dataset_labels(ds));
    {
        size_t idx[3] = {0, 5, 5};
        OK(crmt_dataset_subset(&out, ds, idx, 3));
        crmt_dataset_destroy(out);
        crmt_dataset *test = NULL;
        OK(crmt_dataset_split(ds, 0.25, 1, &out, &test));
        ck_assert_uint_eq(crmt_dataset_num_samples(test), N / 4);
        crmt_dataset_destroy(out);
        crmt_dataset_destroy(test);
    }

    FAILS(crmt_dataset_create(NULL, N, 2), CRMT_ERR_INVALID_ARGUMENT);
    FAILS_OUT(crmt_dataset_create(&out, 0, 2), CRMT_ERR_INVALID_ARGUMENT, out);
    FAILS_OUT(crmt_dataset_create(&out, SIZE_MAX, 2), CRMT_ERR_INVALID_ARGUMENT, out);
    FAILS_OUT(crmt_dataset_create(&out, N, 0), CRMT_ERR_INVALID_ARGUMENT, out);
    FAILS_OUT(crmt_dataset_create(&out, N, -1), CRMT_ERR_INVALID_ARGUMENT, out);
    FAILS_OUT(crmt_dataset_create(&out, N, CRMT_MAX_MODALITIES + 1), CRMT_ERR_INVALID_ARGUMENT,
              out);
    FAILS_OUT(crmt_dataset_create(&out, N, INT_MAX), CRMT_ERR_INVALID_ARGUMENT, out);
    NO_CRASH(crmt_dataset_destroy(NULL));
    HOLDS(crmt_dataset_errmsg(NULL) != NULL);

    const char *dm = crmt_dataset_errmsg(ds);
    FAILS(crmt_dataset_set_modality(NULL, 0, xa, DA, CRMT_COPY), CRMT_ERR_INVALID_ARGUMENT);
    FAILS_H(crmt_dataset_set_modality(ds, -1, xa, DA, CRMT_COPY), CRMT_ERR_INVALID_ARGUMENT, dm);
    FAILS_H(crmt_dataset_set_modality(ds, 2, xa, DA, CRMT_COPY), CRMT_ERR_INVALID_ARGUMENT, dm);
    FAILS_H(crmt_dataset_set_modality(ds, INT_MAX, xa, DA, CRMT_COPY),
            CRMT_ERR_INVALID_ARGUMENT, dm);
    FAILS_H(crmt_dataset_set_modality(ds, 0, NULL, DA, CRMT_COPY), CRMT_ERR_INVALID_ARGUMENT,
            dm);
    FAILS_H(crmt_dataset_set_modality(ds, 0, xa, 0, CRMT_COPY), CRMT_ERR_INVALID_ARGUMENT, dm);
    FAILS_H(crmt_dataset_set_modality(ds, 0, xa, SIZE_MAX, CRMT_COPY),
            CRMT_ERR_INVALID_ARGUMENT, dm);
    FAILS_H(crmt_dataset_set_modality(ds, 0, xa, SIZE_MAX / 2, CRMT_BORROW),
            CRMT_ERR_INVALID_ARGUMENT, dm);
    FAILS_H(crmt_dataset_set_modality(ds, 0, xa, DA, (crmt_ownership)2),
            CRMT_ERR_INVALID_ARGUMENT, dm);
    FAILS_H(crmt_dataset_set_modality(ds, 0, xa, DA, (crmt_ownership)-1),
            CRMT_ERR_INVALID_ARGUMENT, dm);
    {
        float bad[N * DA];
        const float specials[3] = {NAN, INFINITY, -INFINITY};
        for (int s = 0; s < 3; s++) {
            memcpy(bad, xa, sizeof bad);
            bad[(s * 17) % (N * DA)] = specials[s];
            FAILS_H(crmt_dataset_set_modality(ds, 0, bad, DA, CRMT_COPY), CRMT_ERR_NON_FINITE,
                    dm);
            FAILS_H(crmt_dataset_set_modality(ds, 0, bad, DA, CRMT_BORROW),
                    CRMT_ERR_NON_FINITE, dm);
        }
        /* The failed calls kept the previous data. */
        ck_assert_ptr_eq(crmt_dataset_data(ds, 0), xa);
    }
    FAILS(crmt_dataset_set_labels(NULL, labels), CRMT_ERR_INVALID_ARGUMENT);
    FAILS_H(crmt_dataset_set_labels(ds, NULL), CRMT_ERR_INVALID_ARGUMENT, dm);
    {
        int32_t neg[N];
        memcpy(neg, labels, sizeof neg);
        neg[N - 1] = -1;
        FAILS_H(crmt_dataset_set_labels(ds, neg), CRMT_ERR_INVALID_ARGUMENT, dm);
        neg[N - 1] = INT32_MIN;
        FAILS_H(crmt_dataset_set_labels(ds, neg), CRMT_ERR_INVALID_ARGUMENT, dm);
        ck_assert_int_eq(crmt_dataset_labels(ds)[N - 1], labels[N - 1]);
    }

    size_t idx[2] = {0, N - 1};
    size_t bad_idx[2] = {0, N};
    size_t huge_idx[1] = {SIZE_MAX};
    FAILS(crmt_dataset_subset(NULL, ds, idx, 2), CRMT_ERR_INVALID_ARGUMENT);
    FAILS_OUT(crmt_dataset_subset(&out, NULL, idx, 2), CRMT_ERR_INVALID_ARGUMENT, out);
    FAILS_OUT(crmt_dataset_subset(&out, ds, NULL, 2), CRMT_ERR_INVALID_ARGUMENT, out);
    FAILS_OUT(crmt_dataset_subset(&out, ds, idx, 0), CRMT_ERR_INVALID_ARGUMENT, out);
    FAILS_OUT(crmt_dataset_subset(&out, ds, idx, SIZE_MAX), CRMT_ERR_INVALID_ARGUMENT, out);
    FAILS_OUT(crmt_dataset_subset(&out, ds, bad_idx, 2), CRMT_ERR_INVALID_ARGUMENT, out);
    FAILS_OUT(crmt_dataset_subset(&out, ds, huge_idx, 1), CRMT_ERR_INVALID_ARGUMENT, out);
    crmt_dataset *test = NULL;
    FAILS_OUT2(crmt_dataset_split(NULL, 0.25, 1, &out, &test), CRMT_ERR_INVALID_ARGUMENT, out,
               test);
    FAILS_OUT(crmt_dataset_split(ds, 0.25, 1, NULL, &test), CRMT_ERR_INVALID_ARGUMENT, test);
    FAILS_OUT(crmt_dataset_split(ds, 0.25, 1, &out, NULL), CRMT_ERR_INVALID_ARGUMENT, out);
    FAILS_OUT(crmt_dataset_split(ds, 0.25, 1, &out, &out), CRMT_ERR_INVALID_ARGUMENT, out);
    FAILS_OUT2(crmt_dataset_split(ds, 0.0, 1, &out, &test), CRMT_ERR_INVALID_ARGUMENT, out, test);
    FAILS_OUT2(crmt_dataset_split(ds, 1.0, 1, &out, &test), CRMT_ERR_INVALID_ARGUMENT, out, test);
    FAILS_OUT2(crmt_dataset_split(ds, -0.25, 1, &out, &test), CRMT_ERR_INVALID_ARGUMENT, out,
               test);
    FAILS_OUT2(crmt_dataset_split(ds, NAN, 1, &out, &test), CRMT_ERR_INVALID_ARGUMENT, out, test);
    FAILS_OUT2(crmt_dataset_split(ds, INFINITY, 1, &out, &test), CRMT_ERR_INVALID_ARGUMENT, out,
               test);
    /* 12 samples: 0.04 rounds to 0 test samples, 0.96 to 12 (an empty side). */
    FAILS_OUT2(crmt_dataset_split(ds, 0.04, 1, &out, &test), CRMT_ERR_INVALID_ARGUMENT, out,
               test);
    FAILS_OUT2(crmt_dataset_split(ds, 0.96, 1, &out, &test), CRMT_ERR_INVALID_ARGUMENT, out,
               test);
    {
        /* Wrong call order: labels not set yet. */
        crmt_dataset *partial = NULL;
        OK(crmt_dataset_create(&partial, N, 2));
        OK(crmt_dataset_set_modality(partial, 0, xa, DA, CRMT_BORROW));
        OK(crmt_dataset_set_modality(partial, 1, xb, DB, CRMT_BORROW));
        FAILS_OUT(crmt_dataset_subset(&out, partial, idx, 2), CRMT_ERR_STATE, out);
        FAILS_OUT2(crmt_dataset_split(partial, 0.25, 1, &out, &test), CRMT_ERR_STATE, out, test);
        HOLDS(crmt_dataset_labels(partial) == NULL);
        crmt_dataset_destroy(partial);
    }

    HOLDS(crmt_dataset_num_samples(NULL) == 0);
    HOLDS(crmt_dataset_num_modalities(NULL) == 0);
    HOLDS(crmt_dataset_dim(NULL, 0) == 0);
    HOLDS(crmt_dataset_dim(ds, -1) == 0);
    HOLDS(crmt_dataset_dim(ds, 2) == 0);
    HOLDS(crmt_dataset_data(NULL, 0) == NULL);
    HOLDS(crmt_dataset_data(ds, -1) == NULL);
    HOLDS(crmt_dataset_data(ds, 2) == NULL);
    HOLDS(crmt_dataset_labels(NULL) == NULL);
    {
        crmt_dataset *fresh = NULL;
        OK(crmt_dataset_create(&fresh, N, 2));
        HOLDS(crmt_dataset_dim(fresh, 0) == 0); /* unset */
        HOLDS(crmt_dataset_data(fresh, 1) == NULL);
        crmt_dataset_destroy(fresh);
    }
    crmt_dataset_destroy(ds);
    end_test();
}
END_TEST

START_TEST(test_dataset_npy)
{
    begin_test();
    char *dir = make_temp_dir();
    char good_f[4200], good_l[4200], p[4200];
    float fdata[N * DB];
    int64_t ldata[N];
    for (int i = 0; i < N * DB; i++)
        fdata[i] = (float)i * 0.25f;
    for (int i = 0; i < N; i++)
        ldata[i] = i % K;
    snprintf(good_f, sizeof good_f, "%s/features.npy", dir);
    snprintf(good_l, sizeof good_l, "%s/labels.npy", dir);
    write_npy(good_f, 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (12, 3), }", fdata,
              sizeof fdata);
    write_npy(good_l, 1, "{'descr': '<i8', 'fortran_order': False, 'shape': (12,), }", ldata,
              sizeof ldata);
    crmt_dataset *ds = NULL;
    OK(crmt_dataset_create(&ds, N, 2));
    const char *dm = crmt_dataset_errmsg(ds);
    /* Baseline. */
    OK(crmt_dataset_load_npy_modality(ds, 1, good_f));
    OK(crmt_dataset_load_npy_labels(ds, good_l));

    FAILS(crmt_dataset_load_npy_modality(NULL, 0, good_f), CRMT_ERR_INVALID_ARGUMENT);
    FAILS_H(crmt_dataset_load_npy_modality(ds, -1, good_f), CRMT_ERR_INVALID_ARGUMENT, dm);
    FAILS_H(crmt_dataset_load_npy_modality(ds, 2, good_f), CRMT_ERR_INVALID_ARGUMENT, dm);
    FAILS_H(crmt_dataset_load_npy_modality(ds, 0, NULL), CRMT_ERR_INVALID_ARGUMENT, dm);
    snprintf(p, sizeof p, "%s/missing.npy", dir);
    FAILS_H(crmt_dataset_load_npy_modality(ds, 0, p), CRMT_ERR_IO, dm);
    FAILS_H(crmt_dataset_load_npy_modality(ds, 0, dir), CRMT_ERR_IO, dm);
    FAILS(crmt_dataset_load_npy_labels(NULL, good_l), CRMT_ERR_INVALID_ARGUMENT);
    FAILS_H(crmt_dataset_load_npy_labels(ds, NULL), CRMT_ERR_INVALID_ARGUMENT, dm);
    FAILS_H(crmt_dataset_load_npy_labels(ds, p), CRMT_ERR_IO, dm);

    /* Files that are not what the caller needs, one defect each. */
    static const struct {
        const char *name, *dict;
        size_t bytes;
        int major;
        int as_labels; /* load with crmt_dataset_load_npy_labels */
        crmt_status want;
    } files[] = {
        /* wrong sample count (11 != 12) */
        {"n11.npy", "{'descr': '<f4', 'fortran_order': False, 'shape': (11, 3), }", 11 * 3 * 4,
         1, 0, CRMT_ERR_SHAPE},
        {"n11l.npy", "{'descr': '<i4', 'fortran_order': False, 'shape': (11,), }", 11 * 4, 1,
         1, CRMT_ERR_SHAPE},
        /* labels must be 1-D */
        {"2d.npy", "{'descr': '<i4', 'fortran_order': False, 'shape': (12, 1), }", 12 * 4, 1,
         1, CRMT_ERR_SHAPE},
        /* a 0-d array */
        {"0d.npy", "{'descr': '<f4', 'fortran_order': False, 'shape': (), }", 4, 1, 0,
         CRMT_ERR_SHAPE},
        /* empty arrays */
        {"empty.npy", "{'descr': '<f4', 'fortran_order': False, 'shape': (0, 3), }", 0, 1, 0,
         CRMT_ERR_SHAPE},
        {"emptyl.npy", "{'descr': '<i8', 'fortran_order': False, 'shape': (0,), }", 0, 1, 1,
         CRMT_ERR_SHAPE},
        /* unsupported dtypes: float16 features, float labels, int features */
        {"f2.npy", "{'descr': '<f2', 'fortran_order': False, 'shape': (12, 3), }", 12 * 3 * 2,
         1, 0, CRMT_ERR_UNSUPPORTED},
        {"fl.npy", "{'descr': '<f4', 'fortran_order': False, 'shape': (12,), }", 12 * 4, 1, 1,
         CRMT_ERR_UNSUPPORTED},
        {"i4f.npy", "{'descr': '<i4', 'fortran_order': False, 'shape': (12, 3), }", 12 * 3 * 4,
         1, 0, CRMT_ERR_UNSUPPORTED},
        /* structured dtype */
        {"rec.npy", "{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (12,), }",
         12 * 4, 1, 0, CRMT_ERR_UNSUPPORTED},
        /* Fortran order */
        {"fortran.npy", "{'descr': '<f4', 'fortran_order': True, 'shape': (12, 3), }",
         12 * 3 * 4, 1, 0, CRMT_ERR_UNSUPPORTED},
        /* truncated data, trailing data */
        {"short.npy", "{'descr': '<f4', 'fortran_order': False, 'shape': (12, 3), }", 12 * 3,
         1, 0, CRMT_ERR_FORMAT},
        {"long.npy", "{'descr': '<i8', 'fortran_order': False, 'shape': (12,), }", 12 * 8 + 1,
         1, 1, CRMT_ERR_FORMAT},
        /* corrupt headers */
        {"corrupt.npy", "{'descr': '<f4', 'fortran_order': False, 'shape': (12, 3) ", 0, 1, 0,
         CRMT_ERR_FORMAT},
        {"nokey.npy", "{'descr': '<i8', 'shape': (12,), }", 12 * 8, 1, 1, CRMT_ERR_FORMAT},
        {"negdim.npy", "{'descr': '<f4', 'fortran_order': False, 'shape': (12, -3), }", 0, 1,
         0, CRMT_ERR_FORMAT},
        /* newer format version */
        {"v9.npy", "{'descr': '<f4', 'fortran_order': False, 'shape': (12, 3), }", 12 * 3 * 4,
         9, 0, CRMT_ERR_VERSION},
        {"v9l.npy", "{'descr': '<i8', 'fortran_order': False, 'shape': (12,), }", 12 * 8, 9, 1,
         CRMT_ERR_VERSION},
        /* huge shapes: the size products overflow 64 bits */
        {"huge.npy",
         "{'descr': '<f4', 'fortran_order': False, 'shape': (12, 18446744073709551615, 2), }",
         0, 1, 0, CRMT_ERR_FORMAT},
        {"hugel.npy", "{'descr': '<i8', 'fortran_order': False, 'shape': (4611686018427387905,), }",
         0, 1, 1, CRMT_ERR_FORMAT},
    };
    static unsigned char zeros[1024];
    for (size_t i = 0; i < sizeof files / sizeof *files; i++) {
        snprintf(p, sizeof p, "%s/%s", dir, files[i].name);
        write_npy(p, files[i].major > 3 ? 1 : files[i].major, files[i].dict, zeros,
                  files[i].bytes);
        if (files[i].major > 3) { /* patch the version byte */
            size_t len;
            unsigned char *b = read_file(p, &len);
            b[6] = (unsigned char)files[i].major;
            write_file(p, b, len);
            free(b);
        }
        if (files[i].as_labels)
            FAILS_H(crmt_dataset_load_npy_labels(ds, p), files[i].want, dm);
        else
            FAILS_H(crmt_dataset_load_npy_modality(ds, 0, p), files[i].want, dm);
    }
    {
        float nan_data[N * DB];
        memcpy(nan_data, fdata, sizeof nan_data);
        nan_data[7] = NAN;
        snprintf(p, sizeof p, "%s/nan.npy", dir);
        write_npy(p, 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (12, 3), }",
                  nan_data, sizeof nan_data);
        FAILS_H(crmt_dataset_load_npy_modality(ds, 0, p), CRMT_ERR_NON_FINITE, dm);
        nan_data[7] = INFINITY;
        write_npy(p, 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (12, 3), }",
                  nan_data, sizeof nan_data);
        FAILS_H(crmt_dataset_load_npy_modality(ds, 0, p), CRMT_ERR_NON_FINITE, dm);
        int64_t neg[N];
        memcpy(neg, ldata, sizeof neg);
        neg[3] = -2;
        snprintf(p, sizeof p, "%s/neg.npy", dir);
        write_npy(p, 1, "{'descr': '<i8', 'fortran_order': False, 'shape': (12,), }", neg,
                  sizeof neg);
        FAILS_H(crmt_dataset_load_npy_labels(ds, p), CRMT_ERR_INVALID_ARGUMENT, dm);
        neg[3] = (int64_t)INT32_MAX + 1;
        write_npy(p, 1, "{'descr': '<i8', 'fortran_order': False, 'shape': (12,), }", neg,
                  sizeof neg);
        FAILS_H(crmt_dataset_load_npy_labels(ds, p), CRMT_ERR_INVALID_ARGUMENT, dm);
    }
    /* The failed loads kept what the baseline loaded. */
    ck_assert_uint_eq(crmt_dataset_dim(ds, 1), DB);
    ck_assert_ptr_null(crmt_dataset_data(ds, 0));
    ck_assert_int_eq(crmt_dataset_labels(ds)[4], 1);
    crmt_dataset_destroy(ds);
    remove_tree(dir);
    free(dir);
    end_test();
}
END_TEST

/* ------------------------------------------------------------------------------------------
 * optimizer.h */

START_TEST(test_optimizer)
{
    begin_test();
    crmt_model *model = make_model(CRMT_HEAD_JT, 1);
    crmt_optimizer *opt = NULL, *out = NULL;
    double v = 0.0, lo = 0.0, hi = 0.0;
    /* Baseline. */
    OK(crmt_optimizer_create(&opt, model, CRMT_OPTIMIZER_ADAM));
    OK(crmt_optimizer_set(opt, CRMT_OPT_LR, 0.01));
    OK(crmt_optimizer_get(opt, CRMT_OPT_LR, &v));
    OK(crmt_optimizer_bounds(CRMT_OPT_LR, &lo, &hi));
    OK(crmt_optimizer_set_epoch(opt, 3));
    ck_assert(isfinite(crmt_optimizer_current_lr(opt)));
    OK(crmt_optimizer_reset(opt));
    ck_assert_str_eq(crmt_optimizer_errmsg(opt), "");

    const char *om = crmt_optimizer_errmsg(opt);
    FAILS(crmt_optimizer_create(NULL, model, CRMT_OPTIMIZER_SGD), CRMT_ERR_INVALID_ARGUMENT);
    FAILS_OUT(crmt_optimizer_create(&out, NULL, CRMT_OPTIMIZER_SGD), CRMT_ERR_INVALID_ARGUMENT,
              out);
    FAILS_OUT(crmt_optimizer_create(&out, model, (crmt_optimizer_kind)2),
              CRMT_ERR_INVALID_ARGUMENT, out);
    HOLDS(strcmp(crmt_model_errmsg(model), crmt_last_error()) == 0); /* non-const model */
    FAILS_OUT(crmt_optimizer_create(&out, model, (crmt_optimizer_kind)-1),
              CRMT_ERR_INVALID_ARGUMENT, out);
    NO_CRASH(crmt_optimizer_destroy(NULL));
    HOLDS(crmt_optimizer_errmsg(NULL) != NULL && crmt_optimizer_errmsg(NULL)[0] == '\0');

    FAILS(crmt_optimizer_set(NULL, CRMT_OPT_LR, 0.1), CRMT_ERR_INVALID_ARGUMENT);
    FAILS_H(crmt_optimizer_set(opt, (crmt_optimizer_param)11, 0.1), CRMT_ERR_INVALID_ARGUMENT,
            om);
    FAILS_H(crmt_optimizer_set(opt, (crmt_optimizer_param)-1, 0.1), CRMT_ERR_INVALID_ARGUMENT,
            om);
    FAILS_H(crmt_optimizer_set(opt, (crmt_optimizer_param)INT_MAX, 0.1),
            CRMT_ERR_INVALID_ARGUMENT, om);
    /* Every option: non-finite values and the first doubles outside its bounds. */
    for (int p = CRMT_OPT_LR; p <= CRMT_OPT_MIN_LR; p++) {
        OK(crmt_optimizer_bounds((crmt_optimizer_param)p, &lo, &hi));
        ck_assert(lo <= hi);
        FAILS_H(crmt_optimizer_set(opt, (crmt_optimizer_param)p, NAN), CRMT_ERR_INVALID_ARGUMENT,
                om);
        FAILS_H(crmt_optimizer_set(opt, (crmt_optimizer_param)p, INFINITY),
                CRMT_ERR_INVALID_ARGUMENT, om);
        FAILS_H(crmt_optimizer_set(opt, (crmt_optimizer_param)p, -INFINITY),
                CRMT_ERR_INVALID_ARGUMENT, om);
        FAILS_H(crmt_optimizer_set(opt, (crmt_optimizer_param)p, nextafter(lo, -INFINITY)),
                CRMT_ERR_INVALID_ARGUMENT, om);
        FAILS_H(crmt_optimizer_set(opt, (crmt_optimizer_param)p, nextafter(hi, INFINITY)),
                CRMT_ERR_INVALID_ARGUMENT, om);
        FAILS_H(crmt_optimizer_set(opt, (crmt_optimizer_param)p, -1e300),
                CRMT_ERR_INVALID_ARGUMENT, om);
        FAILS_H(crmt_optimizer_set(opt, (crmt_optimizer_param)p, 1e300),
                CRMT_ERR_INVALID_ARGUMENT, om);
    }
    /* Integer-valued options reject fractions; the schedule rejects unknown values. */
    FAILS_H(crmt_optimizer_set(opt, CRMT_OPT_SCHEDULE, 0.5), CRMT_ERR_INVALID_ARGUMENT, om);
    FAILS_H(crmt_optimizer_set(opt, CRMT_OPT_SCHEDULE, 3), CRMT_ERR_INVALID_ARGUMENT, om);
    FAILS_H(crmt_optimizer_set(opt, CRMT_OPT_STEP_SIZE, 2.5), CRMT_ERR_INVALID_ARGUMENT, om);
    FAILS_H(crmt_optimizer_set(opt, CRMT_OPT_TOTAL_EPOCHS, 10.25), CRMT_ERR_INVALID_ARGUMENT,
            om);
    /* The failed sets kept the value set by the baseline. */
    OK(crmt_optimizer_get(opt, CRMT_OPT_LR, &v));
    ck_assert(v == 0.01);

    FAILS(crmt_optimizer_get(NULL, CRMT_OPT_LR, &v), CRMT_ERR_INVALID_ARGUMENT);
    FAILS(crmt_optimizer_get(opt, CRMT_OPT_LR, NULL), CRMT_ERR_INVALID_ARGUMENT);
    FAILS(crmt_optimizer_get(opt, (crmt_optimizer_param)11, &v), CRMT_ERR_INVALID_ARGUMENT);
    FAILS(crmt_optimizer_get(opt, (crmt_optimizer_param)-5, &v), CRMT_ERR_INVALID_ARGUMENT);
    FAILS(crmt_optimizer_bounds(CRMT_OPT_LR, NULL, &hi), CRMT_ERR_INVALID_ARGUMENT);
    FAILS(crmt_optimizer_bounds(CRMT_OPT_LR, &lo, NULL), CRMT_ERR_INVALID_ARGUMENT);
    FAILS(crmt_optimizer_bounds((crmt_optimizer_param)11, &lo, &hi), CRMT_ERR_INVALID_ARGUMENT);
    FAILS(crmt_optimizer_bounds((crmt_optimizer_param)-1, &lo, &hi), CRMT_ERR_INVALID_ARGUMENT);
    FAILS(crmt_optimizer_set_epoch(NULL, 0), CRMT_ERR_INVALID_ARGUMENT);
    FAILS_H(crmt_optimizer_set_epoch(opt, -1), CRMT_ERR_INVALID_ARGUMENT, om);
    FAILS_H(crmt_optimizer_set_epoch(opt, INT_MIN), CRMT_ERR_INVALID_ARGUMENT, om);
    crmt_clear_error();
    HOLDS(isnan(crmt_optimizer_current_lr(NULL)));
    HOLDS(crmt_last_error()[0] != '\0');
    FAILS(crmt_optimizer_reset(NULL), CRMT_ERR_INVALID_ARGUMENT);
    crmt_optimizer_destroy(opt);
    crmt_model_destroy(model);
    end_test();
}
END_TEST

/* ------------------------------------------------------------------------------------------
 * train.h */

static int stop_at_once(const crmt_epoch_stats *stats, void *user)
{
    (void)stats;
    ++*(int *)user;
    return 1;
}

static void small_options(crmt_train_options *o, crmt_train_method method)
{
    OK(crmt_train_options_init(o, sizeof *o));
    o->method = method;
    o->epochs = 1;
    o->batch_size = 5;
    o->at_steps = 1;
    o->integration_epochs = 1;
}

START_TEST(test_train)
{
    begin_test();
    crmt_model *jt = make_model(CRMT_HEAD_JT, 1), *cr = make_model(CRMT_HEAD_CRMT, 1);
    crmt_model *other = make_model(CRMT_HEAD_JT, 2);
    crmt_optimizer *opt = NULL, *copt = NULL, *other_opt = NULL;
    OK(crmt_optimizer_create(&opt, jt, CRMT_OPTIMIZER_SGD));
    OK(crmt_optimizer_create(&copt, cr, CRMT_OPTIMIZER_ADAM));
    OK(crmt_optimizer_create(&other_opt, other, CRMT_OPTIMIZER_SGD));
    crmt_dataset *ds = make_dataset();
    crmt_train_options o;
    crmt_train_result r;
    memset(&r, 0, sizeof r);
    r.struct_size = sizeof r;
    double acc = -1.0, loss = -1.0;
    const float *in[2] = {xa, xb};
    const float *in_null[2] = {xa, NULL};
    /* Baseline: every method once (tiny: 1 epoch, 1 attack step, 1 step-2 epoch). */
    small_options(&o, CRMT_METHOD_JT);
    OK(crmt_train(jt, opt, ds, &o, &r));
    ck_assert_int_eq(r.epochs_run, 1);
    OK(crmt_train(jt, opt, ds, NULL, NULL));
    static const crmt_train_method jt_methods[] = {CRMT_METHOD_JT_AT, CRMT_METHOD_JT_MIXUP};
    for (int i = 0; i < 2; i++) {
        small_options(&o, jt_methods[i]);
        OK(crmt_train(jt, opt, ds, &o, NULL));
    }
    static const crmt_train_method crmt_methods[] = {CRMT_METHOD_CRMT, CRMT_METHOD_CRMT_AT,
                                                     CRMT_METHOD_CRMT_MIX};
    for (int i = 0; i < 3; i++) {
        small_options(&o, crmt_methods[i]);
        o.validation = ds;
        OK(crmt_train(cr, copt, ds, &o, &r));
    }
    {
        int calls = 0;
        small_options(&o, CRMT_METHOD_JT);
        o.epochs = 3;
        o.progress = stop_at_once;
        o.progress_user_data = &calls;
        OK(crmt_train(jt, opt, ds, &o, &r)); /* a stop is a result, not an error */
        ck_assert_int_eq(r.stopped, 1);
        ck_assert_int_eq(calls, 1);
    }
    OK(crmt_train_step(jt, opt, in, labels, N, NULL, &loss));
    OK(crmt_model_accuracy(jt, ds, &acc));
    ck_assert(acc >= 0.0 && acc <= 1.0);

    const char *mm = crmt_model_errmsg(jt);
    small_options(&o, CRMT_METHOD_JT);
    FAILS(crmt_train_options_init(NULL, sizeof o), CRMT_ERR_INVALID_ARGUMENT);
    {
        crmt_train_options t;
        FAILS(crmt_train_options_init(&t, 0), CRMT_ERR_INVALID_ARGUMENT);
        FAILS(crmt_train_options_init(&t, 3), CRMT_ERR_INVALID_ARGUMENT);
        FAILS(crmt_train_options_init(&t, sizeof(size_t)), CRMT_ERR_INVALID_ARGUMENT);
    }
    {
        /* A host compiled against a newer header (a longer struct): refused (train.h:
         * struct_size must be sizeof as the host was compiled with; this library knows
         * only its own fields). */
        unsigned char big[sizeof(crmt_train_options) + 64];
        FAILS(crmt_train_options_init((crmt_train_options *)(void *)big, sizeof big),
              CRMT_ERR_INVALID_ARGUMENT);
    }

    FAILS(crmt_train(NULL, opt, ds, &o, NULL), CRMT_ERR_INVALID_ARGUMENT);
    FAILS_H(crmt_train(jt, NULL, ds, &o, NULL), CRMT_ERR_INVALID_ARGUMENT, mm);
    FAILS_H(crmt_train(jt, opt, NULL, &o, NULL), CRMT_ERR_INVALID_ARGUMENT, mm);
    /* Wrong pairing: the optimizer of another model. The headers do not name the status
     * (optimizer.h: "An optimizer belongs to one model"). */
    FAILS_H(crmt_train(jt, other_opt, ds, &o, NULL), CRMT_ERR_STATE, mm);
    {
        crmt_train_result bad = r;
        bad.struct_size = 0;
        FAILS_H(crmt_train(jt, opt, ds, &o, &bad), CRMT_ERR_INVALID_ARGUMENT, mm);
        bad.struct_size = sizeof bad + 8;
        FAILS_H(crmt_train(jt, opt, ds, &o, &bad), CRMT_ERR_INVALID_ARGUMENT, mm);
    }
    /* Out-of-range options, one field at a time. */
    {
        crmt_train_options b;
#define BAD_OPTION(field, value)                                                            \
    do {                                                                                    \
        small_options(&b, CRMT_METHOD_JT);                                                  \
        b.field = value;                                                                    \
        FAILS_H(crmt_train(jt, opt, ds, &b, NULL), CRMT_ERR_INVALID_ARGUMENT, mm);          \
        FAILS_H(crmt_train_step(jt, opt, in, labels, N, &b, NULL), CRMT_ERR_INVALID_ARGUMENT, \
                mm);                                                                        \
    } while (0)
        BAD_OPTION(struct_size, 0);
        BAD_OPTION(struct_size, 5);
        {
            /* A newer host's larger struct: refused when a field this library does not know
             * is set (the memory past sizeof(crmt_train_options) is really there). */
            struct {
                crmt_train_options o;
                unsigned char newer[8];
            } big;
            memset(&big, 0, sizeof big);
            small_options(&big.o, CRMT_METHOD_JT);
            big.o.struct_size = sizeof big;
            big.newer[3] = 1;
            FAILS_H(crmt_train(jt, opt, ds, &big.o, NULL), CRMT_ERR_INVALID_ARGUMENT, mm);
        }
        BAD_OPTION(method, (crmt_train_method)6);
        BAD_OPTION(method, (crmt_train_method)-1);
        BAD_OPTION(epochs, 0);
        BAD_OPTION(epochs, -1);
        BAD_OPTION(epochs, INT_MAX);
        BAD_OPTION(batch_size, 0);
        BAD_OPTION(batch_size, -5);
        BAD_OPTION(batch_size, INT_MAX);
        BAD_OPTION(rho, -1.0);
        BAD_OPTION(rho, NAN);
        BAD_OPTION(rho, INFINITY);
        BAD_OPTION(at_epsilon, -0.1);
        BAD_OPTION(at_epsilon, NAN);
        BAD_OPTION(at_steps, 0);
        BAD_OPTION(at_steps, INT_MAX);
        BAD_OPTION(at_step_size, NAN);
        BAD_OPTION(at_step_size, INFINITY);
        BAD_OPTION(integration_epochs, -1);
        BAD_OPTION(integration_lr, 0.0);
        BAD_OPTION(integration_lr, -1.0);
        BAD_OPTION(integration_lr, NAN);
        BAD_OPTION(integration_lipschitz, (crmt_lipschitz_method)2);
        BAD_OPTION(integration_lipschitz, (crmt_lipschitz_method)-1);
        BAD_OPTION(integration_max_accuracy_drop, -0.5);
        BAD_OPTION(integration_max_accuracy_drop, 1.5);
        BAD_OPTION(integration_max_accuracy_drop, NAN);
#undef BAD_OPTION
        /* A CRMT method needs a CRMT head (train.h): a valid request this model does not
         * support. */
        for (int i = 0; i < 3; i++) {
            small_options(&b, crmt_methods[i]);
            FAILS_H(crmt_train(jt, opt, ds, &b, NULL), CRMT_ERR_UNSUPPORTED, mm);
            FAILS_H(crmt_train_step(jt, opt, in, labels, N, &b, NULL), CRMT_ERR_UNSUPPORTED, mm);
        }
    }
    /* Datasets that do not match the model. */
    {
        crmt_dataset *one = NULL, *swapped = NULL, *many = NULL;
        OK(crmt_dataset_create(&one, N, 1));
        OK(crmt_dataset_set_modality(one, 0, xa, DA, CRMT_BORROW));
        OK(crmt_dataset_set_labels(one, labels));
        FAILS_H(crmt_train(jt, opt, one, &o, NULL), CRMT_ERR_SHAPE, mm);
        FAILS(crmt_model_accuracy(jt, one, &acc), CRMT_ERR_SHAPE);
        OK(crmt_dataset_create(&swapped, N, 2)); /* dimensions 3 and 4 instead of 4 and 3 */
        OK(crmt_dataset_set_modality(swapped, 0, xb, DB, CRMT_BORROW));
        OK(crmt_dataset_set_modality(swapped, 1, xa, DA, CRMT_BORROW));
        OK(crmt_dataset_set_labels(swapped, labels));
        FAILS_H(crmt_train(jt, opt, swapped, &o, NULL), CRMT_ERR_SHAPE, mm);
        FAILS(crmt_model_accuracy(jt, swapped, &acc), CRMT_ERR_SHAPE);
        OK(crmt_dataset_create(&many, N, 3));
        OK(crmt_dataset_set_modality(many, 0, xa, DA, CRMT_BORROW));
        OK(crmt_dataset_set_modality(many, 1, xb, DB, CRMT_BORROW));
        OK(crmt_dataset_set_modality(many, 2, xb, DB, CRMT_BORROW));
        OK(crmt_dataset_set_labels(many, labels));
        FAILS_H(crmt_train(jt, opt, many, &o, NULL), CRMT_ERR_SHAPE, mm);
        {
            crmt_train_options v = o;
            v.validation = many;
            FAILS_H(crmt_train(jt, opt, ds, &v, NULL), CRMT_ERR_SHAPE, mm);
        }
        /* Labels >= K ("its labels must be < K"). */
        int32_t big_labels[N];
        memcpy(big_labels, labels, sizeof big_labels);
        big_labels[N - 1] = K;
        crmt_dataset *lab = NULL;
        OK(crmt_dataset_create(&lab, N, 2));
        OK(crmt_dataset_set_modality(lab, 0, xa, DA, CRMT_BORROW));
        OK(crmt_dataset_set_modality(lab, 1, xb, DB, CRMT_BORROW));
        OK(crmt_dataset_set_labels(lab, big_labels));
        FAILS_H(crmt_train(jt, opt, lab, &o, NULL), CRMT_ERR_SHAPE, mm);
        big_labels[N - 1] = INT32_MAX;
        OK(crmt_dataset_set_labels(lab, big_labels));
        FAILS_H(crmt_train(jt, opt, lab, &o, NULL), CRMT_ERR_SHAPE, mm);
        crmt_dataset_destroy(one);
        crmt_dataset_destroy(swapped);
        crmt_dataset_destroy(many);
        crmt_dataset_destroy(lab);
    }
    /* Wrong call order: the dataset is used before its labels (or a modality) are set. */
    {
        crmt_dataset *partial = NULL;
        OK(crmt_dataset_create(&partial, N, 2));
        OK(crmt_dataset_set_modality(partial, 0, xa, DA, CRMT_BORROW));
        OK(crmt_dataset_set_modality(partial, 1, xb, DB, CRMT_BORROW));
        FAILS_H(crmt_train(jt, opt, partial, &o, NULL), CRMT_ERR_STATE, mm);
        FAILS(crmt_model_accuracy(jt, partial, &acc), CRMT_ERR_STATE);
        crmt_train_options v = o;
        v.validation = partial;
        FAILS_H(crmt_train(jt, opt, ds, &v, NULL), CRMT_ERR_STATE, mm);
        crmt_dataset *nomod = NULL;
        OK(crmt_dataset_create(&nomod, N, 2));
        OK(crmt_dataset_set_modality(nomod, 0, xa, DA, CRMT_BORROW));
        OK(crmt_dataset_set_labels(nomod, labels));
        FAILS_H(crmt_train(jt, opt, nomod, &o, NULL), CRMT_ERR_STATE, mm);
        FAILS(crmt_model_accuracy(jt, nomod, &acc), CRMT_ERR_STATE);
        crmt_dataset_destroy(partial);
        crmt_dataset_destroy(nomod);
    }

    FAILS(crmt_train_step(NULL, opt, in, labels, N, NULL, &loss), CRMT_ERR_INVALID_ARGUMENT);
    FAILS_H(crmt_train_step(jt, NULL, in, labels, N, NULL, &loss), CRMT_ERR_INVALID_ARGUMENT,
            mm);
    FAILS_H(crmt_train_step(jt, other_opt, in, labels, N, NULL, &loss), CRMT_ERR_STATE, mm);
    FAILS_H(crmt_train_step(jt, opt, NULL, labels, N, NULL, &loss), CRMT_ERR_INVALID_ARGUMENT,
            mm);
    FAILS_H(crmt_train_step(jt, opt, in_null, labels, N, NULL, &loss),
            CRMT_ERR_INVALID_ARGUMENT, mm);
    FAILS_H(crmt_train_step(jt, opt, in, NULL, N, NULL, &loss), CRMT_ERR_INVALID_ARGUMENT, mm);
    FAILS_H(crmt_train_step(jt, opt, in, labels, 0, NULL, &loss), CRMT_ERR_INVALID_ARGUMENT,
            mm);
    FAILS_H(crmt_train_step(jt, opt, in, labels, SIZE_MAX, NULL, &loss),
            CRMT_ERR_INVALID_ARGUMENT, mm);
    {
        int32_t bad_labels[N];
        memcpy(bad_labels, labels, sizeof bad_labels);
        bad_labels[2] = K;
        FAILS_H(crmt_train_step(jt, opt, in, bad_labels, N, NULL, &loss), CRMT_ERR_INVALID_ARGUMENT,
                mm);
        bad_labels[2] = -1;
        FAILS_H(crmt_train_step(jt, opt, in, bad_labels, N, NULL, &loss), CRMT_ERR_INVALID_ARGUMENT,
                mm);
        float bad[N * DA];
        memcpy(bad, xa, sizeof bad);
        bad[N * DA - 1] = NAN;
        const float *in_bad[2] = {bad, xb};
        FAILS_H(crmt_train_step(jt, opt, in_bad, labels, N, NULL, &loss), CRMT_ERR_NON_FINITE,
                mm);
        bad[N * DA - 1] = -INFINITY;
        FAILS_H(crmt_train_step(jt, opt, in_bad, labels, N, NULL, &loss), CRMT_ERR_NON_FINITE,
                mm);
    }

    FAILS(crmt_model_accuracy(NULL, ds, &acc), CRMT_ERR_INVALID_ARGUMENT);
    FAILS(crmt_model_accuracy(jt, NULL, &acc), CRMT_ERR_INVALID_ARGUMENT);
    FAILS(crmt_model_accuracy(jt, ds, NULL), CRMT_ERR_INVALID_ARGUMENT);

    crmt_dataset_destroy(ds);
    crmt_optimizer_destroy(opt);
    crmt_optimizer_destroy(copt);
    crmt_optimizer_destroy(other_opt);
    crmt_model_destroy(jt);
    crmt_model_destroy(cr);
    crmt_model_destroy(other);
    end_test();
}
END_TEST

/* ------------------------------------------------------------------------------------------
 * certify.h */

START_TEST(test_certify)
{
    begin_test();
    crmt_model *model = make_model(CRMT_HEAD_CRMT, 5), *other = make_model(CRMT_HEAD_CRMT, 6);
    crmt_dataset *ds = make_dataset();
    crmt_certifier *cert = NULL, *out = NULL;
    crmt_certifier_options co;
    crmt_certificate ct, cts[N];
    const float *in[2] = {xa, xb};
    const float *in_null[2] = {NULL, xb};
    double tau = -1.0, radii[2] = {0.0, 0.1}, joint[2], per_mod[4], mean = -1.0;
    memset(&ct, 0, sizeof ct);
    ct.struct_size = sizeof ct;
    memset(cts, 0, sizeof cts);
    cts[0].struct_size = sizeof cts[0];
    /* Baseline: sound and empirical certifiers, every query. */
    OK(crmt_certifier_options_init(&co, sizeof co));
    OK(crmt_certifier_create(&cert, model, NULL));
    ck_assert_int_eq(crmt_certifier_lipschitz(cert), CRMT_LIPSCHITZ_SOUND);
    OK(crmt_certifier_tau(cert, 1, K - 1, &tau));
    OK(crmt_certify_radius(cert, in, CRMT_LABEL_PREDICTED, &ct));
    OK(crmt_certify_radius(cert, in, 1, &ct));
    OK(crmt_certify_batch(cert, in, N, labels, cts));
    OK(crmt_certify_batch(cert, in, N, NULL, cts));
    OK(crmt_certified_accuracy(cert, ds, radii, 2, joint, per_mod, &mean));
    OK(crmt_certified_accuracy(cert, ds, NULL, 0, NULL, NULL, NULL));
    {
        crmt_certifier *emp = NULL;
        co.lipschitz = CRMT_LIPSCHITZ_EMPIRICAL;
        co.lipschitz_data = ds;
        co.fill_mean_data = ds;
        OK(crmt_certifier_create(&emp, model, &co));
        ck_assert_int_eq(crmt_certifier_lipschitz(emp), CRMT_LIPSCHITZ_EMPIRICAL);
        crmt_certifier_destroy(emp);
        OK(crmt_certifier_options_init(&co, sizeof co));
    }

    FAILS(crmt_certifier_options_init(NULL, sizeof co), CRMT_ERR_INVALID_ARGUMENT);
    FAILS(crmt_certifier_options_init(&co, 0), CRMT_ERR_INVALID_ARGUMENT);
    FAILS(crmt_certifier_options_init(&co, sizeof(size_t)), CRMT_ERR_INVALID_ARGUMENT);
    FAILS(crmt_certifier_options_init(&co, sizeof co - 1), CRMT_ERR_INVALID_ARGUMENT);

    FAILS(crmt_certifier_create(NULL, model, NULL), CRMT_ERR_INVALID_ARGUMENT);
    FAILS_OUT(crmt_certifier_create(&out, NULL, NULL), CRMT_ERR_INVALID_ARGUMENT, out);
    {
        crmt_certifier_options b;
#define BAD_CERT_OPTS(stmt, st)                                                             \
    do {                                                                                    \
        OK(crmt_certifier_options_init(&b, sizeof b));                                      \
        stmt;                                                                               \
        FAILS_OUT(crmt_certifier_create(&out, model, &b), st, out);                         \
    } while (0)
        BAD_CERT_OPTS(b.struct_size = 0, CRMT_ERR_INVALID_ARGUMENT);
        BAD_CERT_OPTS(b.struct_size = sizeof(size_t), CRMT_ERR_INVALID_ARGUMENT);
        BAD_CERT_OPTS(b.lipschitz = (crmt_lipschitz_method)2, CRMT_ERR_INVALID_ARGUMENT);
        BAD_CERT_OPTS(b.lipschitz = (crmt_lipschitz_method)-1, CRMT_ERR_INVALID_ARGUMENT);
        /* EMPIRICAL needs lipschitz_data. */
        BAD_CERT_OPTS(b.lipschitz = CRMT_LIPSCHITZ_EMPIRICAL, CRMT_ERR_INVALID_ARGUMENT);
        double scale_bad[3][2] = {{0.0, 1.0}, {1.0, -2.0}, {NAN, 1.0}};
        for (int i = 0; i < 3; i++)
            BAD_CERT_OPTS(b.input_scale = scale_bad[i], CRMT_ERR_INVALID_ARGUMENT);
        double scale_inf[2] = {1.0, INFINITY};
        BAD_CERT_OPTS(b.input_scale = scale_inf, CRMT_ERR_INVALID_ARGUMENT);
        float fill_a[DA] = {0}, fill_b[DB] = {0};
        const float *fill[2] = {fill_a, fill_b};
        fill_b[1] = NAN;
        BAD_CERT_OPTS(b.fill = fill, CRMT_ERR_NON_FINITE);
        fill_b[1] = INFINITY;
        BAD_CERT_OPTS(b.fill = fill, CRMT_ERR_NON_FINITE);
        /* Data that does not match the model. */
        crmt_dataset *one = NULL, *swapped = NULL;
        OK(crmt_dataset_create(&one, N, 1));
        OK(crmt_dataset_set_modality(one, 0, xa, DA, CRMT_BORROW));
        OK(crmt_dataset_set_labels(one, labels));
        OK(crmt_dataset_create(&swapped, N, 2));
        OK(crmt_dataset_set_modality(swapped, 0, xb, DB, CRMT_BORROW));
        OK(crmt_dataset_set_modality(swapped, 1, xa, DA, CRMT_BORROW));
        OK(crmt_dataset_set_labels(swapped, labels));
        BAD_CERT_OPTS((b.lipschitz = CRMT_LIPSCHITZ_EMPIRICAL, b.lipschitz_data = one),
                      CRMT_ERR_SHAPE);
        BAD_CERT_OPTS((b.lipschitz = CRMT_LIPSCHITZ_EMPIRICAL, b.lipschitz_data = swapped),
                      CRMT_ERR_SHAPE);
        BAD_CERT_OPTS(b.fill_mean_data = one, CRMT_ERR_SHAPE);
        BAD_CERT_OPTS(b.fill_mean_data = swapped, CRMT_ERR_SHAPE);
        /* Wrong call order: an incomplete dataset (modality 1 unset). */
        crmt_dataset *partial = NULL;
        OK(crmt_dataset_create(&partial, N, 2));
        OK(crmt_dataset_set_modality(partial, 0, xa, DA, CRMT_BORROW));
        OK(crmt_certifier_options_init(&b, sizeof b));
        b.fill_mean_data = partial;
        FAILS_OUT(crmt_certifier_create(&out, model, &b), CRMT_ERR_STATE, out);
        FAILS(crmt_certified_accuracy(cert, partial, radii, 2, joint, NULL, NULL), CRMT_ERR_STATE);
        /* Options grown by a newer host: unknown trailing bytes must be zero. */
        unsigned char grown[sizeof(crmt_certifier_options) + 16] = {0};
        crmt_certifier_options *g = (crmt_certifier_options *)(void *)grown;
        OK(crmt_certifier_options_init(g, sizeof grown));
        OK(crmt_certifier_create(&out, model, g));
        crmt_certifier_destroy(out);
        grown[sizeof grown - 1] = 1;
        FAILS_OUT(crmt_certifier_create(&out, model, g), CRMT_ERR_INVALID_ARGUMENT, out);
#undef BAD_CERT_OPTS
        crmt_dataset_destroy(one);
        crmt_dataset_destroy(swapped);
        crmt_dataset_destroy(partial);
    }
    NO_CRASH(crmt_certifier_destroy(NULL));
    HOLDS(crmt_certifier_lipschitz(NULL) == CRMT_LIPSCHITZ_SOUND ||
          crmt_certifier_lipschitz(NULL) == CRMT_LIPSCHITZ_EMPIRICAL);

    FAILS(crmt_certifier_tau(NULL, 0, 0, &tau), CRMT_ERR_INVALID_ARGUMENT);
    FAILS(crmt_certifier_tau(cert, 0, 0, NULL), CRMT_ERR_INVALID_ARGUMENT);
    FAILS(crmt_certifier_tau(cert, -1, 0, &tau), CRMT_ERR_INVALID_ARGUMENT);
    FAILS(crmt_certifier_tau(cert, 2, 0, &tau), CRMT_ERR_INVALID_ARGUMENT);
    FAILS(crmt_certifier_tau(cert, 0, -1, &tau), CRMT_ERR_INVALID_ARGUMENT);
    FAILS(crmt_certifier_tau(cert, 0, K, &tau), CRMT_ERR_INVALID_ARGUMENT);
    FAILS(crmt_certifier_tau(cert, INT_MAX, INT_MAX, &tau), CRMT_ERR_INVALID_ARGUMENT);

    FAILS(crmt_certify_radius(NULL, in, 0, &ct), CRMT_ERR_INVALID_ARGUMENT);
    FAILS(crmt_certify_radius(cert, NULL, 0, &ct), CRMT_ERR_INVALID_ARGUMENT);
    FAILS(crmt_certify_radius(cert, in_null, 0, &ct), CRMT_ERR_INVALID_ARGUMENT);
    FAILS(crmt_certify_radius(cert, in, 0, NULL), CRMT_ERR_INVALID_ARGUMENT);
    FAILS(crmt_certify_radius(cert, in, K, &ct), CRMT_ERR_INVALID_ARGUMENT);
    FAILS(crmt_certify_radius(cert, in, -2, &ct), CRMT_ERR_INVALID_ARGUMENT);
    FAILS(crmt_certify_radius(cert, in, INT32_MIN, &ct), CRMT_ERR_INVALID_ARGUMENT);
    {
        crmt_certificate small = ct;
        small.struct_size = 0;
        FAILS(crmt_certify_radius(cert, in, 0, &small), CRMT_ERR_INVALID_ARGUMENT);
        small.struct_size = sizeof(size_t);
        FAILS(crmt_certify_radius(cert, in, 0, &small), CRMT_ERR_INVALID_ARGUMENT);
        FAILS(crmt_certify_batch(cert, in, 1, NULL, &small), CRMT_ERR_INVALID_ARGUMENT);
    }
    FAILS(crmt_certify_batch(NULL, in, N, labels, cts), CRMT_ERR_INVALID_ARGUMENT);
    FAILS(crmt_certify_batch(cert, NULL, N, labels, cts), CRMT_ERR_INVALID_ARGUMENT);
    FAILS(crmt_certify_batch(cert, in_null, N, labels, cts), CRMT_ERR_INVALID_ARGUMENT);
    FAILS(crmt_certify_batch(cert, in, N, labels, NULL), CRMT_ERR_INVALID_ARGUMENT);
    FAILS(crmt_certify_batch(cert, in, 0, labels, cts), CRMT_ERR_INVALID_ARGUMENT);
    FAILS(crmt_certify_batch(cert, in, SIZE_MAX, labels, cts), CRMT_ERR_INVALID_ARGUMENT);
    {
        int32_t bad_labels[N];
        memcpy(bad_labels, labels, sizeof bad_labels);
        bad_labels[N - 1] = K;
        FAILS(crmt_certify_batch(cert, in, N, bad_labels, cts), CRMT_ERR_INVALID_ARGUMENT);
        bad_labels[N - 1] = CRMT_LABEL_PREDICTED; /* only for crmt_certify_radius */
        FAILS(crmt_certify_batch(cert, in, N, bad_labels, cts), CRMT_ERR_INVALID_ARGUMENT);
        float bad[N * DA];
        memcpy(bad, xa, sizeof bad);
        bad[1] = NAN;
        const float *in_bad[2] = {bad, xb};
        FAILS(crmt_certify_radius(cert, in_bad, 0, &ct), CRMT_ERR_NON_FINITE);
        FAILS(crmt_certify_batch(cert, in_bad, N, NULL, cts), CRMT_ERR_NON_FINITE);
        bad[1] = INFINITY;
        FAILS(crmt_certify_radius(cert, in_bad, CRMT_LABEL_PREDICTED, &ct), CRMT_ERR_NON_FINITE);
    }

    FAILS(crmt_certified_accuracy(NULL, ds, radii, 2, joint, NULL, NULL),
          CRMT_ERR_INVALID_ARGUMENT);
    FAILS(crmt_certified_accuracy(cert, NULL, radii, 2, joint, NULL, NULL),
          CRMT_ERR_INVALID_ARGUMENT);
    FAILS(crmt_certified_accuracy(cert, ds, NULL, 2, joint, NULL, NULL),
          CRMT_ERR_INVALID_ARGUMENT);
    FAILS(crmt_certified_accuracy(cert, ds, radii, 2, NULL, NULL, NULL),
          CRMT_ERR_INVALID_ARGUMENT);
    {
        double neg[2] = {0.1, -0.1}, nan_r[1] = {NAN};
        FAILS(crmt_certified_accuracy(cert, ds, neg, 2, joint, NULL, NULL),
              CRMT_ERR_INVALID_ARGUMENT);
        FAILS(crmt_certified_accuracy(cert, ds, nan_r, 1, joint, NULL, NULL),
              CRMT_ERR_INVALID_ARGUMENT);
        crmt_dataset *one = NULL, *lab = NULL;
        OK(crmt_dataset_create(&one, N, 1));
        OK(crmt_dataset_set_modality(one, 0, xa, DA, CRMT_BORROW));
        OK(crmt_dataset_set_labels(one, labels));
        FAILS(crmt_certified_accuracy(cert, one, radii, 2, joint, NULL, NULL), CRMT_ERR_SHAPE);
        int32_t big[N];
        memcpy(big, labels, sizeof big);
        big[0] = K;
        OK(crmt_dataset_create(&lab, N, 2));
        OK(crmt_dataset_set_modality(lab, 0, xa, DA, CRMT_BORROW));
        OK(crmt_dataset_set_modality(lab, 1, xb, DB, CRMT_BORROW));
        OK(crmt_dataset_set_labels(lab, big));
        FAILS(crmt_certified_accuracy(cert, lab, radii, 2, joint, NULL, NULL), CRMT_ERR_SHAPE);
        crmt_dataset_destroy(one);
        crmt_dataset_destroy(lab);
    }

    /* Wrong call order: the model changed after the certifier was created. */
    {
        crmt_optimizer *opt = NULL;
        OK(crmt_optimizer_create(&opt, model, CRMT_OPTIMIZER_SGD));
        OK(crmt_train_step(model, opt, in, labels, N, NULL, NULL));
        FAILS(crmt_certify_radius(cert, in, CRMT_LABEL_PREDICTED, &ct), CRMT_ERR_STATE);
        FAILS(crmt_certify_batch(cert, in, N, labels, cts), CRMT_ERR_STATE);
        FAILS(crmt_certified_accuracy(cert, ds, radii, 2, joint, NULL, NULL), CRMT_ERR_STATE);
        HOLDS(crmt_certifier_tau(cert, 0, 0, &tau) == CRMT_OK || crmt_last_error()[0] != '\0');
        crmt_optimizer_destroy(opt);
    }
    crmt_certifier_destroy(cert);
    crmt_dataset_destroy(ds);
    crmt_model_destroy(model);
    crmt_model_destroy(other);
    end_test();
}
END_TEST

/* ------------------------------------------------------------------------------------------
 * evaluate.h */

START_TEST(test_attack_and_evaluate)
{
    begin_test();
    crmt_model *model = make_model(CRMT_HEAD_JT, 7), *other = make_model(CRMT_HEAD_JT, 8);
    crmt_dataset *ds = make_dataset();
    const float *in[2] = {xa, xb};
    const float *in_null[2] = {xa, NULL};
    static float adv_a[N * DA], adv_b[N * DB];
    float *adv[2] = {adv_a, adv_b};
    float *adv_null[2] = {adv_a, NULL};
    int32_t adv_pred[N];
    crmt_attack_options ao;
    crmt_evaluate_options eo;
    crmt_evaluation_report rep;
    memset(&rep, 0, sizeof rep);
    rep.struct_size = sizeof rep;
    /* Baseline (tiny: one PGD step). */
    OK(crmt_attack_options_init(&ao, sizeof ao, CRMT_ATTACK_PRESET_FGM));
    OK(crmt_attack(model, in, labels, N, &ao, adv, adv_pred));
    OK(crmt_attack_options_init(&ao, sizeof ao, CRMT_ATTACK_PRESET_PGD));
    ao.steps = 1;
    ao.modality = 1;
    OK(crmt_attack(model, in, labels, N, &ao, adv, NULL));
    OK(crmt_evaluate_options_init(&eo, sizeof eo));
    eo.pgd_steps = 1;
    OK(crmt_evaluate(model, ds, &eo, &rep));
    ck_assert_uint_eq(rep.n_samples, N);
    {
        crmt_certifier *cert = NULL;
        OK(crmt_certifier_create(&cert, model, NULL));
        eo.certifier = cert;
        eo.attacks = 0;
        OK(crmt_evaluate(model, ds, &eo, &rep));
        /* The certifier of another model ("STATE (given certifier is stale or belongs to
         * another model)", evaluate.h). */
        FAILS(crmt_evaluate(other, ds, &eo, &rep), CRMT_ERR_STATE);
        /* A stale certifier. */
        crmt_optimizer *opt = NULL;
        OK(crmt_optimizer_create(&opt, model, CRMT_OPTIMIZER_SGD));
        OK(crmt_train_step(model, opt, in, labels, N, NULL, NULL));
        FAILS(crmt_evaluate(model, ds, &eo, &rep), CRMT_ERR_STATE);
        crmt_optimizer_destroy(opt);
        crmt_certifier_destroy(cert);
        OK(crmt_evaluate_options_init(&eo, sizeof eo));
        eo.pgd_steps = 1;
    }

    FAILS(crmt_attack_options_init(NULL, sizeof ao, CRMT_ATTACK_PRESET_PGD),
          CRMT_ERR_INVALID_ARGUMENT);
    FAILS(crmt_attack_options_init(&ao, 0, CRMT_ATTACK_PRESET_PGD), CRMT_ERR_INVALID_ARGUMENT);
    FAILS(crmt_attack_options_init(&ao, sizeof ao - 1, CRMT_ATTACK_PRESET_PGD),
          CRMT_ERR_INVALID_ARGUMENT);
    FAILS(crmt_attack_options_init(&ao, sizeof ao, (crmt_attack_preset)2),
          CRMT_ERR_INVALID_ARGUMENT);
    FAILS(crmt_attack_options_init(&ao, sizeof ao, (crmt_attack_preset)-1),
          CRMT_ERR_INVALID_ARGUMENT);

    OK(crmt_attack_options_init(&ao, sizeof ao, CRMT_ATTACK_PRESET_FGM));
    FAILS(crmt_attack(NULL, in, labels, N, &ao, adv, adv_pred), CRMT_ERR_INVALID_ARGUMENT);
    FAILS(crmt_attack(model, NULL, labels, N, &ao, adv, adv_pred), CRMT_ERR_INVALID_ARGUMENT);
    FAILS(crmt_attack(model, in_null, labels, N, &ao, adv, adv_pred), CRMT_ERR_INVALID_ARGUMENT);
    FAILS(crmt_attack(model, in, NULL, N, &ao, adv, adv_pred), CRMT_ERR_INVALID_ARGUMENT);
    FAILS(crmt_attack(model, in, labels, N, &ao, NULL, adv_pred), CRMT_ERR_INVALID_ARGUMENT);
    FAILS(crmt_attack(model, in, labels, N, &ao, adv_null, adv_pred), CRMT_ERR_INVALID_ARGUMENT);
    FAILS(crmt_attack(model, in, labels, 0, &ao, adv, adv_pred), CRMT_ERR_INVALID_ARGUMENT);
    FAILS(crmt_attack(model, in, labels, SIZE_MAX, &ao, adv, adv_pred),
          CRMT_ERR_INVALID_ARGUMENT);
    {
        /* adv_out must not overlap the inputs. */
        float *overlap[2] = {xa, adv_b};
        FAILS(crmt_attack(model, in, labels, N, &ao, overlap, adv_pred),
              CRMT_ERR_INVALID_ARGUMENT);
        int32_t bad_labels[N];
        memcpy(bad_labels, labels, sizeof bad_labels);
        bad_labels[0] = K;
        FAILS(crmt_attack(model, in, bad_labels, N, &ao, adv, adv_pred), CRMT_ERR_INVALID_ARGUMENT);
        bad_labels[0] = -1;
        FAILS(crmt_attack(model, in, bad_labels, N, &ao, adv, adv_pred), CRMT_ERR_INVALID_ARGUMENT);
        float bad[N * DB];
        memcpy(bad, xb, sizeof bad);
        bad[5] = NAN;
        const float *in_bad[2] = {xa, bad};
        FAILS(crmt_attack(model, in_bad, labels, N, &ao, adv, adv_pred), CRMT_ERR_NON_FINITE);
    }
    {
        crmt_attack_options b;
#define BAD_ATTACK(stmt)                                                                    \
    do {                                                                                    \
        OK(crmt_attack_options_init(&b, sizeof b, CRMT_ATTACK_PRESET_PGD));                 \
        stmt;                                                                               \
        FAILS(crmt_attack(model, in, labels, N, &b, adv, adv_pred), CRMT_ERR_INVALID_ARGUMENT); \
    } while (0)
        BAD_ATTACK(b.struct_size = 0);
        BAD_ATTACK(b.epsilon = -0.1);
        BAD_ATTACK(b.epsilon = NAN);
        BAD_ATTACK(b.epsilon = INFINITY);
        BAD_ATTACK(b.steps = 0);
        BAD_ATTACK(b.steps = -3);
        BAD_ATTACK(b.steps = INT_MAX);
        BAD_ATTACK(b.step_size = -1.0);
        BAD_ATTACK(b.step_size = NAN);
        BAD_ATTACK(b.restarts = 0);
        BAD_ATTACK(b.restarts = INT_MAX);
        BAD_ATTACK(b.modality = 2);
        BAD_ATTACK(b.modality = -2);
        BAD_ATTACK(b.loss = (crmt_attack_loss)2);
        BAD_ATTACK(b.loss = (crmt_attack_loss)-1);
        BAD_ATTACK((b.clip = 1, b.clip_min = 1.0, b.clip_max = 0.0));
        BAD_ATTACK((b.clip = 1, b.clip_min = NAN));
        BAD_ATTACK((b.clip = 1, b.clip_max = INFINITY));
#undef BAD_ATTACK
        unsigned char grown[sizeof(crmt_attack_options) + 16] = {0};
        crmt_attack_options *g = (crmt_attack_options *)(void *)grown;
        OK(crmt_attack_options_init(g, sizeof grown, CRMT_ATTACK_PRESET_FGM));
        OK(crmt_attack(model, in, labels, N, g, adv, NULL));
        grown[sizeof grown - 3] = 7;
        FAILS(crmt_attack(model, in, labels, N, g, adv, NULL), CRMT_ERR_INVALID_ARGUMENT);
    }

    FAILS(crmt_evaluate_options_init(NULL, sizeof eo), CRMT_ERR_INVALID_ARGUMENT);
    FAILS(crmt_evaluate_options_init(&eo, 0), CRMT_ERR_INVALID_ARGUMENT);
    FAILS(crmt_evaluate_options_init(&eo, sizeof eo - 1), CRMT_ERR_INVALID_ARGUMENT);
    OK(crmt_evaluate_options_init(&eo, sizeof eo));
    eo.pgd_steps = 1;
    FAILS(crmt_evaluate(NULL, ds, &eo, &rep), CRMT_ERR_INVALID_ARGUMENT);
    FAILS(crmt_evaluate(model, NULL, &eo, &rep), CRMT_ERR_INVALID_ARGUMENT);
    FAILS(crmt_evaluate(model, ds, &eo, NULL), CRMT_ERR_INVALID_ARGUMENT);
    {
        crmt_evaluation_report small = rep;
        small.struct_size = 0;
        FAILS(crmt_evaluate(model, ds, &eo, &small), CRMT_ERR_INVALID_ARGUMENT);
        small.struct_size = sizeof(size_t) * 2;
        FAILS(crmt_evaluate(model, ds, &eo, &small), CRMT_ERR_INVALID_ARGUMENT);
    }
    {
        crmt_evaluate_options b;
        double neg_r[2] = {0.0, -1.0}, nan_r[1] = {NAN}, many_r[CRMT_EVAL_MAX_RADII + 1] = {0};
#define BAD_EVAL(stmt, st)                                                                  \
    do {                                                                                    \
        OK(crmt_evaluate_options_init(&b, sizeof b));                                       \
        b.pgd_steps = 1;                                                                    \
        stmt;                                                                               \
        FAILS(crmt_evaluate(model, ds, &b, &rep), st);                                      \
    } while (0)
        BAD_EVAL(b.struct_size = 0, CRMT_ERR_INVALID_ARGUMENT);
        BAD_EVAL(b.batch_size = 0, CRMT_ERR_INVALID_ARGUMENT);
        BAD_EVAL(b.batch_size = -1, CRMT_ERR_INVALID_ARGUMENT);
        BAD_EVAL(b.batch_size = INT_MAX, CRMT_ERR_INVALID_ARGUMENT);
        BAD_EVAL(b.fgm_epsilon = -0.2, CRMT_ERR_INVALID_ARGUMENT);
        BAD_EVAL(b.pgd_epsilon = NAN, CRMT_ERR_INVALID_ARGUMENT);
        BAD_EVAL(b.unimodal_epsilon = -1.0, CRMT_ERR_INVALID_ARGUMENT);
        BAD_EVAL(b.pgd_steps = 0, CRMT_ERR_INVALID_ARGUMENT);
        BAD_EVAL(b.pgd_restarts = 0, CRMT_ERR_INVALID_ARGUMENT);
        BAD_EVAL(b.pgd_step_size = -0.5, CRMT_ERR_INVALID_ARGUMENT);
        BAD_EVAL((b.radii = neg_r, b.n_radii = 2), CRMT_ERR_INVALID_ARGUMENT);
        BAD_EVAL((b.radii = nan_r, b.n_radii = 1), CRMT_ERR_INVALID_ARGUMENT);
        BAD_EVAL((b.radii = many_r, b.n_radii = CRMT_EVAL_MAX_RADII + 1),
                 CRMT_ERR_INVALID_ARGUMENT);
        BAD_EVAL((b.radii = many_r, b.n_radii = SIZE_MAX), CRMT_ERR_INVALID_ARGUMENT);
        BAD_EVAL(b.lipschitz = (crmt_lipschitz_method)3, CRMT_ERR_INVALID_ARGUMENT);
        BAD_EVAL(b.lipschitz = CRMT_LIPSCHITZ_EMPIRICAL, CRMT_ERR_INVALID_ARGUMENT);
        crmt_dataset *one = NULL, *lab = NULL, *partial = NULL;
        OK(crmt_dataset_create(&one, N, 1));
        OK(crmt_dataset_set_modality(one, 0, xa, DA, CRMT_BORROW));
        OK(crmt_dataset_set_labels(one, labels));
        BAD_EVAL(b.fill_mean_data = one, CRMT_ERR_SHAPE);
        BAD_EVAL((b.lipschitz = CRMT_LIPSCHITZ_EMPIRICAL, b.lipschitz_data = one),
                 CRMT_ERR_SHAPE);
        FAILS(crmt_evaluate(model, one, &eo, &rep), CRMT_ERR_SHAPE);
        int32_t big[N];
        memcpy(big, labels, sizeof big);
        big[3] = K;
        OK(crmt_dataset_create(&lab, N, 2));
        OK(crmt_dataset_set_modality(lab, 0, xa, DA, CRMT_BORROW));
        OK(crmt_dataset_set_modality(lab, 1, xb, DB, CRMT_BORROW));
        OK(crmt_dataset_set_labels(lab, big));
        FAILS(crmt_evaluate(model, lab, &eo, &rep), CRMT_ERR_SHAPE); /* "labels >= K" */
        OK(crmt_dataset_create(&partial, N, 2));
        OK(crmt_dataset_set_modality(partial, 0, xa, DA, CRMT_BORROW));
        OK(crmt_dataset_set_modality(partial, 1, xb, DB, CRMT_BORROW));
        FAILS(crmt_evaluate(model, partial, &eo, &rep), CRMT_ERR_STATE);
        unsigned char grown[sizeof(crmt_evaluate_options) + 16] = {0};
        crmt_evaluate_options *g = (crmt_evaluate_options *)(void *)grown;
        OK(crmt_evaluate_options_init(g, sizeof grown));
        g->attacks = 0;
        OK(crmt_evaluate(model, ds, g, &rep));
        grown[sizeof(crmt_evaluate_options) + 2] = 1;
        FAILS(crmt_evaluate(model, ds, g, &rep), CRMT_ERR_INVALID_ARGUMENT);
#undef BAD_EVAL
        crmt_dataset_destroy(one);
        crmt_dataset_destroy(lab);
        crmt_dataset_destroy(partial);
    }
    crmt_dataset_destroy(ds);
    crmt_model_destroy(model);
    crmt_model_destroy(other);
    end_test();
}
END_TEST

/* ------------------------------------------------------------------------------------------
 * Files: a save into a directory the process cannot write keeps the previous file. */

/* Whether the calling process can create files in dir (root can, whatever the mode). */
static int can_write_dir(const char *dir)
{
    char probe[4200];
    snprintf(probe, sizeof probe, "%s/.probe", dir);
    FILE *f = fopen(probe, "wb");
    if (!f)
        return 0;
    fclose(f);
    unlink(probe);
    return 1;
}

static int count_entries(const char *dir)
{
    DIR *d = opendir(dir);
    ck_assert_ptr_nonnull(d);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
            n++;
    closedir(d);
    return n;
}

START_TEST(test_save_unwritable_dir)
{
    begin_test();
    char *dir = make_temp_dir();
    char path[4200];
    snprintf(path, sizeof path, "%s/model.crmt", dir);
    crmt_model *old = make_model(CRMT_HEAD_JT, 11), *fresh = make_model(CRMT_HEAD_CRMT, 12);
    OK(crmt_model_save(old, path));
    size_t old_size, new_size;
    unsigned char *old_bytes = read_file(path, &old_size);
    free(save_to_buffer(fresh, &new_size));
    ck_assert_uint_ne(old_size, new_size);

    /* Read-only for everybody but root; root writes anywhere, so as root the save runs with
     * the effective uid of nobody (65534), dropped with seteuid and restored afterwards (the
     * saved set-user-ID stays 0). The directory must then be traversable by nobody: the
     * temporary directory is 0555 and TMPDIR (normally /tmp) world-searchable; if it is not,
     * mkstemp fails with EACCES all the same. */
    ck_assert_int_eq(chmod(dir, 0555), 0);
    int ran = 0;
    const uid_t euid = geteuid();
    if (euid == 0)
        ck_assert_msg(seteuid(65534) == 0, "seteuid(65534): %s", strerror(errno));
    if (!can_write_dir(dir)) {
        FAILS(crmt_model_save(fresh, path), CRMT_ERR_IO);
        if (!strstr(crmt_last_error(), strerror(EACCES)))
            violation(__LINE__, "the message of a save into a read-only directory does not "
                                "name EACCES: \"%s\"",
                      crmt_last_error());
        ran = 1;
    }
    if (euid == 0)
        ck_assert_msg(seteuid(0) == 0, "seteuid(0): %s", strerror(errno));
    ck_assert_int_eq(chmod(dir, 0700), 0);
    if (ran) {
        /* The previous file is intact, and no temporary file is left. */
        size_t now_size;
        unsigned char *now = read_file(path, &now_size);
        ck_assert_uint_eq(now_size, old_size);
        ck_assert(memcmp(now, old_bytes, old_size) == 0);
        ck_assert_int_eq(count_entries(dir), 1);
        crmt_model *back = NULL;
        OK(crmt_model_load(&back, path));
        ck_assert_int_eq(crmt_model_head(back), CRMT_HEAD_JT);
        crmt_model_destroy(back);
        free(now);
    } else {
        printf("test_save_unwritable_dir: cannot make a directory unwritable here; skipped\n");
    }
    free(old_bytes);
    crmt_model_destroy(old);
    crmt_model_destroy(fresh);
    remove_tree(dir);
    free(dir);
    end_test();
}
END_TEST

/* ------------------------------------------------------------------------------------------
 * Coverage of the matrix: every CRMT_API function of include/crmt has a case. */

START_TEST(test_every_function_covered)
{
    DIR *d = opendir(INCLUDE_DIR);
    ck_assert_msg(d != NULL, "cannot list %s", INCLUDE_DIR);
    struct dirent *e;
    int n_public = 0, n_missing = 0;
    char missing[4096] = "";
    while ((e = readdir(d)) != NULL) {
        size_t len = strlen(e->d_name);
        if (len < 3 || strcmp(e->d_name + len - 2, ".h") != 0)
            continue;
        char path[4200];
        snprintf(path, sizeof path, "%s/%s", INCLUDE_DIR, e->d_name);
        FILE *f = fopen(path, "r");
        ck_assert_ptr_nonnull(f);
        char line[1024];
        while (fgets(line, sizeof line, f)) {
            if (strncmp(line, "CRMT_API ", 9) != 0)
                continue;
            char *paren = strchr(line, '(');
            ck_assert_msg(paren != NULL, "%s: cannot find the name in: %s", e->d_name, line);
            char *end = paren, *start = paren;
            while (start > line && (start[-1] == '_' || (start[-1] >= 'a' && start[-1] <= 'z') ||
                                    (start[-1] >= '0' && start[-1] <= '9')))
                start--;
            char name[NAME_LEN];
            size_t n = (size_t)(end - start);
            ck_assert_uint_lt(n, sizeof name);
            memcpy(name, start, n);
            name[n] = '\0';
            n_public++;
            int found = 0;
            for (int i = 0; i < shared->n_funcs; i++)
                found |= strcmp(shared->funcs[i], name) == 0;
            if (!found) {
                n_missing++;
                strncat(missing, " ", sizeof missing - strlen(missing) - 1);
                strncat(missing, name, sizeof missing - strlen(missing) - 1);
            }
        }
        fclose(f);
    }
    closedir(d);
    printf("bad-input matrix: %d public functions, %d with cases\n", n_public,
           n_public - n_missing);
    ck_assert_int_gt(n_public, 50);
    ck_assert_msg(n_missing == 0,
                  "public functions without a bad-input case in tests/test_bad_inputs.c:%s",
                  missing);
}
END_TEST

static Suite *bad_inputs_suite(void)
{
    Suite *s = suite_create("bad_inputs");
    TCase *tc = tcase_create("matrix");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_common);
    tcase_add_test(tc, test_spec);
    tcase_add_test(tc, test_spec_image);
    tcase_add_test(tc, test_model_create_and_queries);
    tcase_add_test(tc, test_model_compute);
    tcase_add_test(tc, test_model_files);
    tcase_add_test(tc, test_dataset);
    tcase_add_test(tc, test_dataset_npy);
    tcase_add_test(tc, test_optimizer);
    tcase_add_test(tc, test_train);
    tcase_add_test(tc, test_certify);
    tcase_add_test(tc, test_attack_and_evaluate);
    tcase_add_test(tc, test_save_unwritable_dir);
    suite_add_tcase(s, tc);
    /* Last: needs the cases recorded by the tests above (shared memory). */
    TCase *cov = tcase_create("coverage");
    tcase_add_test(cov, test_every_function_covered);
    suite_add_tcase(s, cov);
    return s;
}

int main(void)
{
    shared = mmap(NULL, sizeof *shared, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1,
                  0);
    if (shared == MAP_FAILED) {
        perror("mmap");
        return EXIT_FAILURE;
    }
    memset(shared, 0, sizeof *shared);
    fill_data();
    SRunner *sr = srunner_create(bad_inputs_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    printf("bad-input matrix: %d cases\n", shared->cases);
    munmap(shared, sizeof *shared);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
