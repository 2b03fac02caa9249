/* What the benchmark programs share: the clock, the OpenBLAS kernel every figure names, stopping
 * on a library error, and the machine-readable lines "RESULT <name> <value> <unit> <kernel>"
 * that scripts/bench.sh collects. Header-only: each bench_*.c is one program. */
#ifndef CRMT_BENCH_COMMON_H
#define CRMT_BENCH_COMMON_H

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "crmt/crmt.h"

char *openblas_get_corename(void);

static const char *bench_program = "bench"; /* prefixes error messages */
static const char *bench_kernel = "unknown"; /* the OpenBLAS kernel in use */

/* Call first: names the program and reads the kernel OpenBLAS selected. */
static inline void bench_start(const char *program)
{
    bench_program = program;
    bench_kernel = openblas_get_corename();
}

static inline double bench_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static inline void bench_check(crmt_status s, const char *what)
{
    if (s != CRMT_OK) {
        fprintf(stderr, "%s: %s failed: %s (%s)\n", bench_program, what, crmt_status_string(s),
                crmt_last_error());
        exit(1);
    }
}

static inline void bench_result(const char *name, double value, const char *unit)
{
    printf("RESULT %s %.6g %s %s\n", name, value, unit, bench_kernel);
}

#endif
