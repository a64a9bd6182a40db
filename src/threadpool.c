/* threadpool.c - a persistent pool of C11 threads with low dispatch overhead.
 *
 * A job is published by bumping a generation number packed with the next-task
 * counter into one 64-bit atomic word: ticket = (generation << 32) | next_task.
 * Threads claim tasks with a compare-and-swap on that word, which fails if a new
 * job has been published since the thread read the job's fields, so a thread that
 * was descheduled for a long time can never run a task of one job with the function
 * of another. The caller also claims tasks, then waits until every task of the job
 * has finished (a count of finished tasks), not until every worker has woken up.
 *
 * Idle workers spin for a short while (jobs come in quick succession during a
 * training step) and then sleep on a condition variable.
 */
#include "threadpool.h"

#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <threads.h>
#include <unistd.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define CPU_RELAX() _mm_pause()
#else
#define CPU_RELAX() ((void)0)
#endif

/* Spin iterations before a worker sleeps and before a waiting caller yields. */
#define WORKER_SPIN 20000u
#define CALLER_SPIN 2000u

struct threadpool {
    size_t nthreads; /* including the caller */
    thrd_t *workers; /* nthreads - 1 */
    size_t nstarted;

    /* the current job; written by the caller before the ticket is published */
    _Atomic(threadpool_fn) fn;
    _Atomic(void *) arg;
    atomic_size_t ntasks;

    atomic_uint_fast64_t ticket; /* generation << 32 | next task */
    atomic_size_t finished;      /* tasks of the current job that have returned */
    atomic_int stop;

    mtx_t mtx;
    cnd_t wake;
    atomic_int sleepers; /* workers waiting on wake */
};

/* task field of a closed ticket: larger than any job's task count */
#define TICKET_CLOSED 0xffffffffu

static inline uint64_t ticket_gen(uint64_t t) { return t >> 32; }
static inline uint64_t ticket_task(uint64_t t) { return t & 0xffffffffu; }

/* Claims and runs tasks of the job of generation gen until none are left. */
static void run_tasks(threadpool *p, uint64_t gen)
{
    threadpool_fn fn = atomic_load_explicit(&p->fn, memory_order_relaxed);
    void *arg = atomic_load_explicit(&p->arg, memory_order_relaxed);
    size_t ntasks = atomic_load_explicit(&p->ntasks, memory_order_relaxed);
    uint64_t t = atomic_load_explicit(&p->ticket, memory_order_acquire);
    for (;;) {
        if (ticket_gen(t) != gen || ticket_task(t) >= ntasks)
            return;
        if (atomic_compare_exchange_weak_explicit(&p->ticket, &t, t + 1,
                                                  memory_order_acq_rel,
                                                  memory_order_acquire)) {
            fn(arg, (size_t)ticket_task(t));
            atomic_fetch_add_explicit(&p->finished, 1, memory_order_release);
            t = atomic_load_explicit(&p->ticket, memory_order_acquire);
        }
    }
}

static int worker_main(void *vp)
{
    threadpool *p = vp;
    uint64_t seen = ticket_gen(atomic_load_explicit(&p->ticket, memory_order_acquire));
    for (;;) {
        uint64_t gen;
        unsigned spin = 0;
        for (;;) {
            if (atomic_load_explicit(&p->stop, memory_order_acquire))
                return 0;
            gen = ticket_gen(atomic_load_explicit(&p->ticket, memory_order_acquire));
            if (gen != seen)
                break;
            if (++spin < WORKER_SPIN) {
                CPU_RELAX();
                continue;
            }
            /* Sleep. The caller publishes then reads sleepers; we increment sleepers
             * then re-read the ticket (both sequentially consistent), so one of us
             * sees the other; the mutex makes the wake-up impossible to miss. */
            mtx_lock(&p->mtx);
            atomic_fetch_add(&p->sleepers, 1);
            while (!atomic_load(&p->stop) && ticket_gen(atomic_load(&p->ticket)) == seen)
                cnd_wait(&p->wake, &p->mtx);
            atomic_fetch_sub(&p->sleepers, 1);
            mtx_unlock(&p->mtx);
            spin = 0;
        }
        seen = gen;
        run_tasks(p, gen);
    }
}

size_t threadpool_cpu_count(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (size_t)n : 1;
}

size_t threadpool_size(const threadpool *pool) { return pool ? pool->nthreads : 1; }

ms_status threadpool_create(threadpool **pool, size_t nthreads, ms_err *err)
{
    *pool = NULL;
    if (nthreads < 1 || nthreads > 1024)
        return ms_fail(err, MS_EUSAGE, "threadpool: thread count %zu out of range 1..1024",
                       nthreads);
    threadpool *p = calloc(1, sizeof *p);
    if (!p)
        return ms_fail(err, MS_EINTERNAL, "threadpool: out of memory");
    p->nthreads = nthreads;
    atomic_init(&p->fn, NULL);
    atomic_init(&p->arg, NULL);
    atomic_init(&p->ntasks, 0);
    atomic_init(&p->ticket, 0);
    atomic_init(&p->finished, 0);
    atomic_init(&p->stop, 0);
    atomic_init(&p->sleepers, 0);
    if (mtx_init(&p->mtx, mtx_plain) != thrd_success) {
        free(p);
        return ms_fail(err, MS_EINTERNAL, "threadpool: mtx_init failed");
    }
    if (cnd_init(&p->wake) != thrd_success) {
        mtx_destroy(&p->mtx);
        free(p);
        return ms_fail(err, MS_EINTERNAL, "threadpool: cnd_init failed");
    }
    if (nthreads > 1) {
        p->workers = calloc(nthreads - 1, sizeof *p->workers);
        if (!p->workers) {
            threadpool_destroy(p);
            return ms_fail(err, MS_EINTERNAL, "threadpool: out of memory");
        }
        for (size_t i = 0; i + 1 < nthreads; i++) {
            if (thrd_create(&p->workers[i], worker_main, p) != thrd_success) {
                threadpool_destroy(p);
                return ms_fail(err, MS_EINTERNAL,
                               "threadpool: cannot start thread %zu of %zu", i + 2,
                               nthreads);
            }
            p->nstarted++;
        }
    }
    *pool = p;
    return MS_OK;
}

void threadpool_destroy(threadpool *pool)
{
    if (!pool)
        return;
    mtx_lock(&pool->mtx);
    atomic_store(&pool->stop, 1);
    cnd_broadcast(&pool->wake);
    mtx_unlock(&pool->mtx);
    for (size_t i = 0; i < pool->nstarted; i++)
        thrd_join(pool->workers[i], NULL);
    cnd_destroy(&pool->wake);
    mtx_destroy(&pool->mtx);
    free(pool->workers);
    free(pool);
}

void threadpool_run(threadpool *pool, threadpool_fn fn, void *arg, size_t ntasks)
{
    if (ntasks == 0)
        return;
    if (!pool || pool->nthreads == 1 || ntasks == 1 || ntasks >= TICKET_CLOSED) {
        for (size_t t = 0; t < ntasks; t++)
            fn(arg, t);
        return;
    }
    uint64_t gen = ticket_gen(atomic_load_explicit(&pool->ticket, memory_order_relaxed));
    /* Close the previous job first: a thread still holding its generation can then
     * claim nothing, even if it reads the new ntasks below. */
    atomic_store(&pool->ticket, (((gen + 1) & 0xffffffffu) << 32) | TICKET_CLOSED);
    atomic_store_explicit(&pool->fn, fn, memory_order_relaxed);
    atomic_store_explicit(&pool->arg, arg, memory_order_relaxed);
    atomic_store_explicit(&pool->ntasks, ntasks, memory_order_relaxed);
    atomic_store_explicit(&pool->finished, 0, memory_order_relaxed);
    gen = (gen + 2) & 0xffffffffu;
    /* seq_cst: ordered before the read of sleepers below (see worker_main) */
    atomic_store(&pool->ticket, gen << 32);
    if (atomic_load(&pool->sleepers) > 0) {
        mtx_lock(&pool->mtx);
        cnd_broadcast(&pool->wake);
        mtx_unlock(&pool->mtx);
    }
    run_tasks(pool, gen);
    unsigned spin = 0;
    while (atomic_load_explicit(&pool->finished, memory_order_acquire) < ntasks) {
        if (++spin < CALLER_SPIN) {
            CPU_RELAX();
        } else {
            thrd_yield();
            spin = 0;
        }
    }
}
