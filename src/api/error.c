#include "api/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static _Thread_local char thread_message[CRMTI_ERRMSG_SIZE];

crmt_status crmti_fail(char *handle_msg, crmt_status status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(thread_message, sizeof thread_message, fmt, ap);
    va_end(ap);
    if (handle_msg)
        memcpy(handle_msg, thread_message, CRMTI_ERRMSG_SIZE);
    return status;
}

/* No early exit per element, so that the compiler vectorises the test; one exit test per
 * block of 4096 values (the per-step checks of training run over every gradient). */
int crmti_all_finite(const float *x, size_t n)
{
    for (size_t start = 0; start < n; start += 4096) {
        const size_t end = n - start > 4096 ? start + 4096 : n;
        uint32_t bad = 0;
        for (size_t i = start; i < end; i++)
            bad |= crmti_non_finite_bit(x[i]);
        if (bad)
            return 0;
    }
    return 1;
}

const char *crmt_last_error(void) { return thread_message; }

void crmt_clear_error(void) { thread_message[0] = '\0'; }

const char *crmt_status_string(crmt_status status)
{
    switch (status) {
    case CRMT_OK: return "ok";
    case CRMT_ERR_INVALID_ARGUMENT: return "invalid argument";
    case CRMT_ERR_OUT_OF_MEMORY: return "out of memory";
    case CRMT_ERR_NON_FINITE: return "non-finite value (NaN or infinity)";
    case CRMT_ERR_SHAPE: return "shape mismatch";
    case CRMT_ERR_IO: return "input/output error";
    case CRMT_ERR_FORMAT: return "corrupt or truncated data";
    case CRMT_ERR_VERSION: return "unsupported (newer) format version";
    case CRMT_ERR_UNSUPPORTED: return "unsupported";
    case CRMT_ERR_STATE: return "invalid state for this call";
    case CRMT_ERR_DIVERGED: return "training diverged";
    }
    return "unknown status";
}

unsigned crmt_version_number(void) { return CRMT_VERSION_NUMBER; }

const char *crmt_version_string(void) { return CRMT_VERSION_STRING; }
