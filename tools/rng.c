/* tools: xoshiro256** seeded by splitmix64. See rng.h. */
#include "rng.h"

#include <math.h>

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

void tool_rng_seed(tool_rng *rng, uint64_t seed)
{
    uint64_t x = seed;
    for (int i = 0; i < 4; i++)
        rng->s[i] = splitmix64(&x);
    rng->have_spare = 0;
    rng->spare = 0.0;
}

void tool_rng_seed2(tool_rng *rng, uint64_t seed, uint64_t stream)
{
    uint64_t x = stream;
    tool_rng_seed(rng, seed ^ splitmix64(&x));
}

static uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

uint64_t tool_rng_next(tool_rng *rng)
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

double tool_rng_uniform(tool_rng *rng)
{
    return (double)(tool_rng_next(rng) >> 11) * 0x1.0p-53;
}

uint64_t tool_rng_below(tool_rng *rng, uint64_t n)
{
    uint64_t limit = UINT64_MAX - UINT64_MAX % n; /* accept x < limit: a multiple of n */
    uint64_t x;
    do
        x = tool_rng_next(rng);
    while (x >= limit);
    return x % n;
}

double tool_rng_normal(tool_rng *rng)
{
    if (rng->have_spare) {
        rng->have_spare = 0;
        return rng->spare;
    }
    double u1 = 1.0 - tool_rng_uniform(rng); /* (0, 1]: log is finite */
    double u2 = tool_rng_uniform(rng);
    double r = sqrt(-2.0 * log(u1));
    double a = 6.283185307179586476925286766559 * u2;
    rng->spare = r * sin(a);
    rng->have_spare = 1;
    return r * cos(a);
}

void tool_rng_shuffle(tool_rng *rng, size_t *idx, size_t n)
{
    for (size_t i = n; i > 1; i--) {
        size_t j = (size_t)tool_rng_below(rng, i);
        size_t t = idx[i - 1];
        idx[i - 1] = idx[j];
        idx[j] = t;
    }
}
