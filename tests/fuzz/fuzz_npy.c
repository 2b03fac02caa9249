/* libFuzzer target: the .npy parser (src/data/npy.h) on arbitrary bytes.
 *
 * The parser works on a memory image, so the input goes to it directly: crmti_npy_parse_header,
 * then crmti_npy_parse as features and as labels, with expected_n = 0 (any) and with the
 * first dimension the header declares +- 1 (the CRMT_ERR_SHAPE path). Besides the sanitizers
 * (ASan, UBSan, leaks), every call's documented contract is checked and a violation aborts:
 *  - the status is CRMT_OK or one of the statuses npy.h lists, never anything else;
 *  - a failure leaves a non-empty message and a zeroed output (nothing allocated);
 *  - a success gives exactly one buffer of the right kind, n >= 1, dim >= 1, labels dim 1,
 *    features all finite, labels all >= 0, and (when expected_n != 0) n == expected_n.
 * Seeds: tests/fuzz/corpus/npy/. Run with scripts/fuzz.sh. */
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/error.h"
#include "data/npy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fail(const char *what, crmt_status st, const char *msg)
{
    fprintf(stderr, "fuzz_npy: contract violated: %s (status %d, message \"%s\")\n", what,
            (int)st, msg ? msg : "(null)");
    abort();
}

static int documented(crmt_status st)
{
    switch (st) {
    case CRMT_OK:
    case CRMT_ERR_FORMAT:
    case CRMT_ERR_VERSION:
    case CRMT_ERR_UNSUPPORTED:
    case CRMT_ERR_SHAPE:
    case CRMT_ERR_NON_FINITE:
    case CRMT_ERR_INVALID_ARGUMENT:
    case CRMT_ERR_OUT_OF_MEMORY:
        return 1;
    default:
        return 0;
    }
}

static int is_zero(const crmti_npy_array *a)
{
    return a->n == 0 && a->dim == 0 && a->f32 == NULL && a->i32 == NULL;
}

static void parse_one(const uint8_t *data, size_t size, crmti_npy_kind kind, size_t expected_n)
{
    char msg[CRMTI_ERRMSG_SIZE];
    crmti_npy_array a;
    msg[0] = '\0';
    crmt_clear_error();
    memset(&a, 0xA5, sizeof a); /* the parser must overwrite it */
    crmt_status st = crmti_npy_parse(data, size, kind, expected_n, &a, msg);
    if (!documented(st))
        fail("undocumented status", st, msg);
    if (st != CRMT_OK) {
        if (msg[0] == '\0' || crmt_last_error()[0] == '\0')
            fail("failure without a message", st, msg);
        if (strcmp(msg, crmt_last_error()) != 0)
            fail("handle message differs from crmt_last_error()", st, msg);
        if (!is_zero(&a))
            fail("failure left a non-zeroed output", st, msg);
        return;
    }
    if (a.n == 0 || a.dim == 0)
        fail("success with an empty array", st, msg);
    if (expected_n != 0 && a.n != expected_n)
        fail("success with n != expected_n", st, msg);
    if (kind == CRMTI_NPY_FEATURES) {
        if (!a.f32 || a.i32)
            fail("features: wrong output buffer", st, msg);
        for (size_t i = 0; i < a.n * a.dim; i++)
            if (!isfinite(a.f32[i]))
                fail("features: non-finite value accepted", st, msg);
    } else {
        if (!a.i32 || a.f32 || a.dim != 1)
            fail("labels: wrong output buffer or dim", st, msg);
        for (size_t i = 0; i < a.n; i++)
            if (a.i32[i] < 0)
                fail("labels: negative label accepted", st, msg);
    }
    crmti_npy_array_free(&a);
    if (!is_zero(&a))
        fail("crmti_npy_array_free did not zero the array", st, msg);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char msg[CRMTI_ERRMSG_SIZE];
    crmti_npy_header hdr;
    size_t declared_n = 0;

    msg[0] = '\0';
    crmt_status st = crmti_npy_parse_header(data, size, &hdr, msg);
    if (!documented(st))
        fail("parse_header: undocumented status", st, msg);
    if (st != CRMT_OK && msg[0] == '\0')
        fail("parse_header: failure without a message", st, msg);
    if (st == CRMT_OK) {
        if (hdr.data_offset > size || hdr.ndim < 0 || hdr.ndim > CRMTI_NPY_MAX_DIMS ||
            memchr(hdr.descr, '\0', sizeof hdr.descr) == NULL)
            fail("parse_header: inconsistent header", st, msg);
        if (hdr.ndim > 0 && hdr.shape[0] <= SIZE_MAX - 1)
            declared_n = (size_t)hdr.shape[0];
    }

    parse_one(data, size, CRMTI_NPY_FEATURES, 0);
    parse_one(data, size, CRMTI_NPY_LABELS, 0);
    if (declared_n > 0) {
        parse_one(data, size, CRMTI_NPY_FEATURES, declared_n);
        parse_one(data, size, CRMTI_NPY_LABELS, declared_n + 1);
    }
    return 0;
}
