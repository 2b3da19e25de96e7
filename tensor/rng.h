/* tensor/rng.h — seeded, reproducible random numbers (xoshiro256**).
 * The whole state is four words, saved in checkpoints so a resumed run draws
 * the same numbers. os_hash64 is the counter-based generator kernels use
 * (dropout masks) so a mask can be recomputed from (seed, index) anywhere. */
#ifndef OS_RNG_H
#define OS_RNG_H

#include <stdint.h>

typedef struct { uint64_t s[4]; } os_rng;

void os_rng_seed(os_rng *r, uint64_t seed);
uint64_t os_rng_next(os_rng *r);
float os_rng_uniform(os_rng *r);              /* [0, 1) */
float os_rng_normal(os_rng *r);               /* N(0, 1) */
uint32_t os_rng_below(os_rng *r, uint32_t n); /* [0, n), unbiased */
void os_rng_shuffle(os_rng *r, int32_t *a, int n);

static inline uint64_t os_hash64(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}
/* uniform [0,1) from (seed, index) */
static inline float os_hash_uniform(uint64_t seed, uint64_t i)
{
    return (float)(os_hash64(seed ^ os_hash64(i)) >> 40) * (1.0f / 16777216.0f);
}

#endif
