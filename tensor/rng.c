#include "tensor/rng.h"

#include <math.h>

static inline uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

void os_rng_seed(os_rng *r, uint64_t seed)
{
    for (int i = 0; i < 4; i++) {
        seed += 0x9e3779b97f4a7c15ull;
        r->s[i] = os_hash64(seed);
    }
}

uint64_t os_rng_next(os_rng *r)
{
    uint64_t *s = r->s;
    uint64_t res = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return res;
}

float os_rng_uniform(os_rng *r) { return (float)(os_rng_next(r) >> 40) * (1.0f / 16777216.0f); }

float os_rng_normal(os_rng *r)
{
    double u1 = ((os_rng_next(r) >> 11) + 1.0) * (1.0 / 9007199254740993.0); /* (0,1] */
    double u2 = (os_rng_next(r) >> 11) * (1.0 / 9007199254740992.0);
    return (float)(sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2));
}

uint32_t os_rng_below(os_rng *r, uint32_t n)
{
    if (n <= 1)
        return 0;
    uint64_t lim = UINT64_MAX - UINT64_MAX % n;
    uint64_t x;
    do
        x = os_rng_next(r);
    while (x >= lim);
    return (uint32_t)(x % n);
}

void os_rng_shuffle(os_rng *r, int32_t *a, int n)
{
    for (int i = n - 1; i > 0; i--) {
        int j = (int)os_rng_below(r, (uint32_t)i + 1);
        int32_t t = a[i];
        a[i] = a[j];
        a[j] = t;
    }
}
