/* optim.c - Adam (see optim.h). */
#include "optim.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#if defined(__AVX512F__)
#include <immintrin.h>
#endif

/* Products and sums rounded separately everywhere (GCC does so in ISO C mode; Clang
 * would otherwise fuse them), so the vector and scalar Adam updates agree bit for bit. */
#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#endif

ms_status adam_create(adam *a, size_t n, double lr, ms_err *err)
{
    memset(a, 0, sizeof *a);
    a->m = calloc(n ? 2 * n : 1, sizeof(float));
    if (!a->m || n > ((size_t)-1) / 2 / sizeof(float))
        return ms_fail(err, MS_EINTERNAL, "out of memory allocating optimiser state");
    a->v = a->m + n;
    a->n = n;
    a->lr = lr;
    a->beta1 = 0.9;
    a->beta2 = 0.999;
    a->eps = 1e-8;
    return MS_OK;
}

void adam_free(adam *a)
{
    free(a->m);
    a->m = a->v = NULL;
}

#define ADAM_CHUNK 16384

typedef struct {
    adam *a;
    float *p, *g;
    float b1, b2, c1, c2, step_size, inv_bc2_sqrt, eps;
} adam_job;

static void adam_task(void *arg, size_t t)
{
    adam_job *j = arg;
    size_t lo = t * ADAM_CHUNK, hi = lo + ADAM_CHUNK;
    if (hi > j->a->n)
        hi = j->a->n;
    float *restrict m = j->a->m, *restrict v = j->a->v, *restrict p = j->p;
    float *restrict g = j->g;
    const float b1 = j->b1, b2 = j->b2, c1 = j->c1, c2 = j->c2;
    const float step_size = j->step_size, inv_bc2_sqrt = j->inv_bc2_sqrt, eps = j->eps;
    size_t i = lo;
#if defined(__AVX512F__)
    /* The same operations 16 at a time (separate multiplies and adds, a correctly
     * rounded square root and division): bit-identical to the scalar loop, which the
     * compiler does not vectorise because sqrtf may set errno. */
    const __m512 vb1 = _mm512_set1_ps(b1), vb2 = _mm512_set1_ps(b2);
    const __m512 vc1 = _mm512_set1_ps(c1), vc2 = _mm512_set1_ps(c2);
    const __m512 vss = _mm512_set1_ps(step_size), vinv = _mm512_set1_ps(inv_bc2_sqrt);
    const __m512 veps = _mm512_set1_ps(eps);
    for (; i + 16 <= hi; i += 16) {
        __m512 gi = _mm512_loadu_ps(g + i);
        __m512 mi = _mm512_add_ps(_mm512_mul_ps(vb1, _mm512_loadu_ps(m + i)),
                                  _mm512_mul_ps(vc1, gi));
        __m512 vi = _mm512_add_ps(_mm512_mul_ps(vb2, _mm512_loadu_ps(v + i)),
                                  _mm512_mul_ps(_mm512_mul_ps(vc2, gi), gi));
        _mm512_storeu_ps(m + i, mi);
        _mm512_storeu_ps(v + i, vi);
        __m512 den = _mm512_add_ps(_mm512_mul_ps(_mm512_sqrt_ps(vi), vinv), veps);
        __m512 upd = _mm512_div_ps(_mm512_mul_ps(vss, mi), den);
        _mm512_storeu_ps(p + i, _mm512_sub_ps(_mm512_loadu_ps(p + i), upd));
        _mm512_storeu_ps(g + i, _mm512_setzero_ps());
    }
#endif
    for (; i < hi; i++) {
        float gi = g[i];
        float mi = b1 * m[i] + c1 * gi;
        float vi = b2 * v[i] + c2 * gi * gi;
        m[i] = mi;
        v[i] = vi;
        p[i] -= step_size * mi / (sqrtf(vi) * inv_bc2_sqrt + eps);
        g[i] = 0.0f;
    }
}

void adam_step(adam *a, float *params, float *grads, threadpool *pool)
{
    a->step++;
    double bc1 = 1.0 - pow(a->beta1, (double)a->step);
    double bc2 = 1.0 - pow(a->beta2, (double)a->step);
    /* 1 - beta is formed in double before rounding, as PyTorch does. */
    adam_job j = {a, params, grads, (float)a->beta1, (float)a->beta2, (float)(1.0 - a->beta1),
                  (float)(1.0 - a->beta2), (float)(a->lr / bc1), (float)(1.0 / sqrt(bc2)),
                  (float)a->eps};
    size_t tasks = (a->n + ADAM_CHUNK - 1) / ADAM_CHUNK;
    if (pool)
        threadpool_run(pool, adam_task, &j, tasks);
    else
        for (size_t t = 0; t < tasks; t++)
            adam_task(&j, t);
}
