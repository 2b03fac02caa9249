#include "gradcheck.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

int crmt_test_close(double analytic, double numeric, double tol)
{
    return fabs(analytic - numeric) <= tol * (1.0 + fabs(analytic) + fabs(numeric));
}

void crmt_test_fill_uniform(float *x, size_t n, crmti_rng *rng, double scale)
{
    for (size_t i = 0; i < n; i++)
        x[i] = (float)(scale * (2.0 * crmti_rng_uniform(rng) - 1.0));
}

size_t crmt_test_gradient_mismatch(float *v, const float *analytic, size_t n, double tol,
                                   crmt_test_objective f, void *ctx, double *numeric)
{
    const double h = CRMT_TEST_FD_STEP;
    for (size_t i = 0; i < n; i++) {
        const float keep = v[i];
        v[i] = keep + (float)h;
        const double up = f(ctx);
        v[i] = keep - (float)h;
        const double down = f(ctx);
        v[i] = keep;
        const double d = (up - down) / (2 * h);
        if (!crmt_test_close(analytic[i], d, tol)) {
            *numeric = d;
            return i;
        }
    }
    return n;
}

int crmt_test_overwrites_all(size_t n, void (*grads)(void *ctx, float *out), void *ctx)
{
    float *clean = calloc(n ? n : 1, sizeof(float)), *stale = malloc(sizeof(float) * (n ? n : 1));
    if (!clean || !stale) {
        free(clean), free(stale);
        return 0;
    }
    for (size_t i = 0; i < n; i++)
        stale[i] = NAN;
    grads(ctx, clean);
    grads(ctx, stale);
    const int same = memcmp(clean, stale, sizeof(float) * n) == 0;
    free(clean), free(stale);
    return same;
}
