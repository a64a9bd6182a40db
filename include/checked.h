/* checked.h - size arithmetic that reports overflow instead of wrapping.
 *
 * Every size that is computed from input (counts, dimensions, byte lengths) goes
 * through these helpers. Each returns 1 on success and 0 on overflow, leaving *out
 * unspecified on overflow.
 */
#ifndef MNISTSEC_CHECKED_H
#define MNISTSEC_CHECKED_H

#include <stddef.h>
#include <stdint.h>

static inline int size_mul(size_t *out, size_t a, size_t b)
{
#if defined(__GNUC__) || defined(__clang__)
    return !__builtin_mul_overflow(a, b, out);
#else
    if (a != 0 && b > SIZE_MAX / a)
        return 0;
    *out = a * b;
    return 1;
#endif
}

static inline int size_add(size_t *out, size_t a, size_t b)
{
#if defined(__GNUC__) || defined(__clang__)
    return !__builtin_add_overflow(a, b, out);
#else
    if (b > SIZE_MAX - a)
        return 0;
    *out = a + b;
    return 1;
#endif
}

/* out = a * b * c */
static inline int size_mul3(size_t *out, size_t a, size_t b, size_t c)
{
    size_t t;
    return size_mul(&t, a, b) && size_mul(out, t, c);
}

#endif
