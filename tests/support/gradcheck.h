/* Test support: finite-difference gradient checks, shared by the suites that check layers,
 * losses, head normalisation and whole models against central differences. */
#ifndef CRMT_TEST_GRADCHECK_H
#define CRMT_TEST_GRADCHECK_H

#include <stddef.h>

#include "tensor/rng.h"

/* Step of the central differences: (f(v + h) - f(v - h)) / 2h with v +- (float)h. */
#define CRMT_TEST_FD_STEP 1e-3

/* A scalar function of whatever ctx points to (the perturbed values live there). */
typedef double (*crmt_test_objective)(void *ctx);

/* 1 when |analytic - numeric| <= tol (1 + |analytic| + |numeric|). */
int crmt_test_close(double analytic, double numeric, double tol);

/* n values uniform in [-scale, scale). */
void crmt_test_fill_uniform(float *x, size_t n, crmti_rng *rng, double scale);

/* Compare analytic[i] with the central difference of f in v[i] for every i < n (each v[i]
 * is restored after its two evaluations). Returns n when every pair is close within tol,
 * otherwise the first index that is not, with its central difference in *numeric. */
size_t crmt_test_gradient_mismatch(float *v, const float *analytic, size_t n, double tol,
                                   crmt_test_objective f, void *ctx, double *numeric);

/* 1 when grads(ctx, out) writes every one of the n slots of out: a buffer full of NaN and a
 * zeroed one come out byte for byte equal (backward passes overwrite, never accumulate). */
int crmt_test_overwrites_all(size_t n, void (*grads)(void *ctx, float *out), void *ctx);

#endif
