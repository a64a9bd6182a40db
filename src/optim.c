/* optim.c - Adam (see optim.h). */
#include "optim.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

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
    float *m = j->a->m, *v = j->a->v, *p = j->p, *g = j->g;
    const float b1 = j->b1, b2 = j->b2, c1 = j->c1, c2 = j->c2;
    for (size_t i = lo; i < hi; i++) {
        float gi = g[i];
        m[i] = b1 * m[i] + c1 * gi;
        v[i] = b2 * v[i] + c2 * gi * gi;
        p[i] -= j->step_size * m[i] / (sqrtf(v[i]) * j->inv_bc2_sqrt + j->eps);
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
