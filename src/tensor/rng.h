/* Internal: the library's own seeded RNG (xoshiro256**, seeded through splitmix64).
 * Never rand(): results must not depend on the host's use of the C library RNG. */
#ifndef CRMTI_RNG_H
#define CRMTI_RNG_H

#include <stddef.h>
#include <stdint.h>

typedef struct crmti_rng {
    uint64_t s[4];
} crmti_rng;

void crmti_rng_seed(crmti_rng *rng, uint64_t seed);
uint64_t crmti_rng_next(crmti_rng *rng);
/* Uniform in [0, 1). */
double crmti_rng_uniform(crmti_rng *rng);
/* Standard normal (Box-Muller; one value per call). */
double crmti_rng_normal(crmti_rng *rng);
/* Uniform integer in [0, n). */
size_t crmti_rng_below(crmti_rng *rng, size_t n);
/* Fisher-Yates shuffle of idx[0..n). */
void crmti_rng_shuffle(crmti_rng *rng, size_t *idx, size_t n);
/* Beta(alpha, alpha) sample for mixup (alpha = 1 gives uniform). */
double crmti_rng_beta_symmetric(crmti_rng *rng, double alpha);

#endif
