#include "tensor/rng.h"

#include <math.h>

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

void crmti_rng_seed(crmti_rng *rng, uint64_t seed)
{
    uint64_t x = seed;
    for (int i = 0; i < 4; i++)
        rng->s[i] = splitmix64(&x);
}

uint64_t crmti_rng_next(crmti_rng *rng)
{
    uint64_t *s = rng->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

double crmti_rng_uniform(crmti_rng *rng)
{
    return (double)(crmti_rng_next(rng) >> 11) * 0x1.0p-53;
}

double crmti_rng_normal(crmti_rng *rng)
{
    double u1 = crmti_rng_uniform(rng);
    double u2 = crmti_rng_uniform(rng);
    if (u1 < 1e-300)
        u1 = 1e-300;
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

size_t crmti_rng_below(crmti_rng *rng, size_t n)
{
    /* Lemire-style rejection keeps the draw unbiased. */
    uint64_t limit = UINT64_MAX - UINT64_MAX % n;
    uint64_t x;
    do
        x = crmti_rng_next(rng);
    while (x >= limit);
    return (size_t)(x % n);
}

void crmti_rng_shuffle(crmti_rng *rng, size_t *idx, size_t n)
{
    for (size_t i = n; i > 1; i--) {
        size_t j = crmti_rng_below(rng, i);
        size_t t = idx[i - 1];
        idx[i - 1] = idx[j];
        idx[j] = t;
    }
}

/* Gamma(a, 1) by Marsaglia-Tsang (a >= 1; a < 1 boosted). */
static double gamma_sample(crmti_rng *rng, double a)
{
    if (a < 1.0) {
        double u = crmti_rng_uniform(rng);
        return gamma_sample(rng, a + 1.0) * pow(u > 0 ? u : 1e-300, 1.0 / a);
    }
    double d = a - 1.0 / 3.0, c = 1.0 / sqrt(9.0 * d);
    for (;;) {
        double x = crmti_rng_normal(rng), v = 1.0 + c * x;
        if (v <= 0)
            continue;
        v = v * v * v;
        double u = crmti_rng_uniform(rng);
        if (u < 1.0 - 0.0331 * x * x * x * x || log(u > 0 ? u : 1e-300) < 0.5 * x * x + d * (1.0 - v + log(v)))
            return d * v;
    }
}

double crmti_rng_beta_symmetric(crmti_rng *rng, double alpha)
{
    if (alpha == 1.0)
        return crmti_rng_uniform(rng);
    double x = gamma_sample(rng, alpha), y = gamma_sample(rng, alpha);
    return x / (x + y);
}
