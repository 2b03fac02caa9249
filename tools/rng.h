/* tools: a small seeded random number generator (xoshiro256**, seeded with splitmix64).
 * The data preparation tools use it for splits, pairing, clip parameters and noise, so that
 * their output depends only on their arguments. Not the library's generator: the tools do
 * not link libcrmt. */
#ifndef CRMT_TOOLS_RNG_H
#define CRMT_TOOLS_RNG_H

#include <stddef.h>
#include <stdint.h>

typedef struct tool_rng {
    uint64_t s[4];
    int have_spare; /* Box-Muller keeps its second normal */
    double spare;
} tool_rng;

/* Seed from one 64-bit value (splitmix64 expands it). */
void tool_rng_seed(tool_rng *rng, uint64_t seed);
/* Seed from a seed and a stream number, for independent per-item streams. */
void tool_rng_seed2(tool_rng *rng, uint64_t seed, uint64_t stream);
uint64_t tool_rng_next(tool_rng *rng);
/* Uniform in [0, 1) with 53 random bits. */
double tool_rng_uniform(tool_rng *rng);
/* Uniform integer in [0, n), n >= 1, without modulo bias. */
uint64_t tool_rng_below(tool_rng *rng, uint64_t n);
/* Standard normal (Box-Muller). */
double tool_rng_normal(tool_rng *rng);
/* Fisher-Yates shuffle of idx[0..n). */
void tool_rng_shuffle(tool_rng *rng, size_t *idx, size_t n);

#endif
