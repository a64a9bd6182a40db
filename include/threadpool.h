/* threadpool.h - a small persistent pool of C11 threads.
 *
 * threadpool_run(pool, fn, arg, ntasks) calls fn(arg, t) once for every task index
 * t in [0, ntasks) spread over the workers (the caller's thread works too) and
 * returns when all are done. Tasks must write disjoint outputs; results then do not
 * depend on how many threads there are or which thread ran which task.
 */
#ifndef MNISTSEC_THREADPOOL_H
#define MNISTSEC_THREADPOOL_H

#include <stddef.h>

#include "status.h"

typedef struct threadpool threadpool;
typedef void (*threadpool_fn)(void *arg, size_t task);

/* nthreads >= 1 counts the caller; nthreads == 1 runs everything inline. */
ms_status threadpool_create(threadpool **pool, size_t nthreads, ms_err *err);
void threadpool_destroy(threadpool *pool);
size_t threadpool_size(const threadpool *pool);
void threadpool_run(threadpool *pool, threadpool_fn fn, void *arg, size_t ntasks);

/* Number of online processors (1 if unknown). */
size_t threadpool_cpu_count(void);

#endif
