/* gradcheck.h - finite-difference gradient checks for the tests (header-only).
 *
 * A check compares an analytic gradient `grad` of a scalar loss L with respect to a
 * float tensor `p` against central differences
 *     num[k] = (L(p + h e_k) - L(p - h e_k)) / (p_k^+ - p_k^-)
 * where p_k^+ and p_k^- are the float values actually stored (so rounding of p_k +- h
 * to float does not bias the quotient). L is evaluated by a callback returning double;
 * each element passes when |grad - num| <= atol + rtol*|num|.
 *
 * Typical use for an op y = f(p): fix a random r of y's shape, let the callback run the
 * forward and return gc_dot(r, y, len) (L = sum r*y), and get the analytic gradient by
 * running the backward with dy = r. A whole network uses its loss directly.
 */
#ifndef MNISTSEC_GRADCHECK_H
#define MNISTSEC_GRADCHECK_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "rng.h"

/* Evaluates the scalar loss at the current parameter values. */
typedef double (*gc_loss_fn)(void *ctx);

typedef struct {
    double h;          /* finite-difference step */
    double atol, rtol; /* pass when |a - ref| <= atol + rtol*|ref| */
    size_t max_checks; /* 0: every element; otherwise a random subset of this size */
    uint64_t seed;     /* chooses the subset */
    int quiet;         /* 1: do not print the summary line */
} gc_opts;

typedef struct {
    size_t checked;     /* elements compared */
    size_t failed;      /* elements outside the tolerance */
    double worst_abs;   /* largest |a - ref| */
    double worst_ref;   /* ref at that element */
    size_t worst_idx;   /* index of that element */
    double worst_ratio; /* largest |a - ref| / (atol + rtol*|ref|); < 1 means all pass */
    size_t first_bad;   /* index of the first failing element (valid if failed > 0) */
} gc_result;

/* sum_k r[k] * y[k] in double: the loss L = sum(r .* y) whose dL/dy is r. */
static inline double gc_dot(const float *r, const float *y, size_t len)
{
    double s = 0.0;
    for (size_t k = 0; k < len; k++)
        s += (double)r[k] * (double)y[k];
    return s;
}

/* Central difference of loss with respect to p[idx]; p[idx] is restored. */
static inline double gc_numeric(gc_loss_fn loss, void *ctx, float *p, size_t idx, double h)
{
    const float saved = p[idx];
    const float plus = (float)((double)saved + h);
    const float minus = (float)((double)saved - h);
    p[idx] = plus;
    const double lp = loss(ctx);
    p[idx] = minus;
    const double lm = loss(ctx);
    p[idx] = saved;
    return (lp - lm) / ((double)plus - (double)minus);
}

static inline void gc_result_init(gc_result *res)
{
    res->checked = 0;
    res->failed = 0;
    res->worst_abs = 0.0;
    res->worst_ref = 0.0;
    res->worst_idx = 0;
    res->worst_ratio = 0.0;
    res->first_bad = 0;
}

/* Adds one comparison of analytic value a with reference ref at element idx. */
static inline void gc_result_add(gc_result *res, size_t idx, double a, double ref, double atol,
                          double rtol)
{
    const double diff = fabs(a - ref);
    const double tol = atol + rtol * fabs(ref);
    /* NaN compares false, so `!(diff <= tol)` also fails on NaN. */
    if (!(diff <= tol)) {
        if (res->failed == 0)
            res->first_bad = idx;
        res->failed++;
    }
    if (!(diff <= res->worst_abs)) {
        res->worst_abs = diff;
        res->worst_ref = ref;
        res->worst_idx = idx;
    }
    const double ratio = tol > 0.0 ? diff / tol : (diff > 0.0 ? INFINITY : 0.0);
    if (!(ratio <= res->worst_ratio))
        res->worst_ratio = ratio;
    res->checked++;
}

static inline void gc_report(const char *name, const gc_result *res, double h, double atol,
                      double rtol)
{
    fprintf(stderr,
            "  gradcheck %-22s %5zu checked, %zu outside tol; worst |a-b| = %.3g "
            "(ref %.4g, idx %zu), worst |a-b|/tol = %.3g; tol = %.1g + %.1g*|ref|, h = %.1g\n",
            name, res->checked, res->failed, res->worst_abs, res->worst_ref, res->worst_idx,
            res->worst_ratio, atol, rtol, h);
}

/* Compares analytic grad[0..len) with central differences of loss with respect to
 * p[0..len): all elements, or opts->max_checks of them chosen uniformly without
 * replacement (selection sampling, so no allocation). Prints a summary line to stderr
 * unless opts->quiet. */
static inline gc_result gc_check(const char *name, gc_loss_fn loss, void *ctx, float *p,
                          const float *grad, size_t len, const gc_opts *opts)
{
    gc_result res;
    gc_result_init(&res);
    size_t want = (opts->max_checks == 0 || opts->max_checks > len) ? len : opts->max_checks;
    rng_t r;
    rng_init(&r, opts->seed, 0x67636b);
    for (size_t k = 0; k < len && want > 0; k++) {
        /* Select element k with probability want / (len - k). */
        if (want < len - k) {
            const double u = (double)rng_u32(&r) / 4294967296.0;
            if (u * (double)(len - k) >= (double)want)
                continue;
        }
        want--;
        const double num = gc_numeric(loss, ctx, p, k, opts->h);
        gc_result_add(&res, k, (double)grad[k], num, opts->atol, opts->rtol);
    }
    if (!opts->quiet)
        gc_report(name, &res, opts->h, opts->atol, opts->rtol);
    return res;
}

#endif
