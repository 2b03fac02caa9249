/* Internal: recording error messages (thread-local, and per handle where one is given). */
#ifndef CRMTI_ERROR_H
#define CRMTI_ERROR_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "crmt/common.h"

#define CRMTI_ERRMSG_SIZE 256

#if defined(__GNUC__)
#define CRMTI_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define CRMTI_PRINTF(a, b)
#endif

/* Record a failure: formats the message into the calling thread's slot and, when
 * handle_msg is not NULL, into that CRMTI_ERRMSG_SIZE buffer too. Returns status so that
 * callers can write `return crmti_fail(...)`. */
crmt_status crmti_fail(char *handle_msg, crmt_status status, const char *fmt, ...)
    CRMTI_PRINTF(3, 4);

/* 1 when x is infinite or NaN (its exponent bits are all ones), else 0: a branch-free test
 * that loops can OR together and stay vectorised. */
static inline uint32_t crmti_non_finite_bit(float x)
{
    uint32_t b;
    memcpy(&b, &x, sizeof b);
    return (uint32_t)((b & 0x7f800000u) == 0x7f800000u);
}

/* 1 when all n values are finite. */
int crmti_all_finite(const float *x, size_t n);

#endif
