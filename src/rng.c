/* rng.c - PCG32 seeded through splitmix64 (see rng.h). */
#include "rng.h"

uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

void rng_init(rng_t *r, uint64_t seed, uint64_t stream)
{
    uint64_t sm = seed ^ (stream * 0xD1B54A32D192ED03ULL);
    uint64_t init_state = splitmix64(&sm);
    r->inc = (splitmix64(&sm) << 1) | 1u;
    r->state = 0;
    (void)rng_u32(r);
    r->state += init_state;
    (void)rng_u32(r);
}

uint32_t rng_u32(rng_t *r)
{
    uint64_t old = r->state;
    r->state = old * 6364136223846793005ULL + r->inc;
    uint32_t xorshifted = (uint32_t)(((old >> 18) ^ old) >> 27);
    uint32_t rot = (uint32_t)(old >> 59);
    return (xorshifted >> rot) | (xorshifted << ((32u - rot) & 31u));
}

uint32_t rng_below(rng_t *r, uint32_t bound)
{
    /* Reject the low values that would make the modulo uneven. */
    uint32_t threshold = (uint32_t)(-bound) % bound;
    for (;;) {
        uint32_t v = rng_u32(r);
        if (v >= threshold)
            return v % bound;
    }
}

float rng_uniform(rng_t *r)
{
    return (float)(rng_u32(r) >> 8) * (1.0f / 16777216.0f);
}

float rng_range(rng_t *r, float lo, float hi)
{
    return lo + (hi - lo) * rng_uniform(r);
}

void rng_shuffle(rng_t *r, uint32_t *idx, size_t n)
{
    for (size_t i = n; i > 1; i--) {
        size_t j = rng_below(r, (uint32_t)i);
        uint32_t t = idx[i - 1];
        idx[i - 1] = idx[j];
        idx[j] = t;
    }
}
