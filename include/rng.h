/* rng.h - the program's one random number generator: PCG32 (XSH-RR), seeded through
 * splitmix64, with an independent stream per purpose so that, e.g., changing the
 * poison selection never changes the weight initialisation.
 */
#ifndef MNISTSEC_RNG_H
#define MNISTSEC_RNG_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    uint64_t state;
    uint64_t inc; /* odd; selects the stream */
} rng_t;

/* Purposes; each gets its own stream derived from the seed. */
enum {
    RNG_STREAM_INIT = 1,    /* weight initialisation */
    RNG_STREAM_SHUFFLE = 2, /* per-epoch training order */
    RNG_STREAM_POISON = 3,  /* choice of poisoned training images */
    RNG_STREAM_ATTACK = 4   /* random starts of attacks */
};

void rng_init(rng_t *r, uint64_t seed, uint64_t stream);
uint32_t rng_u32(rng_t *r);
/* Uniform integer in [0, bound), bound > 0, without modulo bias. */
uint32_t rng_below(rng_t *r, uint32_t bound);
/* Uniform float in [0, 1) with 24 random bits. */
float rng_uniform(rng_t *r);
/* Uniform float in [lo, hi). */
float rng_range(rng_t *r, float lo, float hi);
/* Fisher-Yates shuffle of idx[0..n). n must be < 2^32. */
void rng_shuffle(rng_t *r, uint32_t *idx, size_t n);
uint64_t splitmix64(uint64_t *x);

#endif
