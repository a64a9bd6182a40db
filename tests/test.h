/* test.h - the unit-test harness: tests are functions run with RUN(); a test fails
 * if any CHECK in it fails, and counts as skipped (neither passed nor failed) if it
 * calls SKIP() before any check failed. TEST_END() prints "N passed, N failed,
 * N skipped" and returns the process status: non-zero if anything failed or no test
 * ran at all (a binary whose every test skipped exits 0; tests/run.sh shows it as a
 * skip, never as a pass). */
#ifndef MNISTSEC_TEST_H
#define MNISTSEC_TEST_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

static int test_passed, test_failed, test_skipped, test_cur_failed, test_cur_skipped;

#define CHECK(cond, ...)                                                                   \
    do {                                                                                   \
        if (!(cond)) {                                                                     \
            test_cur_failed = 1;                                                           \
            fprintf(stderr, "  check failed at %s:%d: %s: ", __FILE__, __LINE__, #cond);   \
            fprintf(stderr, __VA_ARGS__);                                                  \
            fputc('\n', stderr);                                                           \
        }                                                                                  \
    } while (0)

/* Marks the running test as skipped, with a reason on stderr; the caller returns. */
#define SKIP(...)                                                                          \
    do {                                                                                   \
        test_cur_skipped = 1;                                                              \
        fprintf(stderr, "  skipped: ");                                                    \
        fprintf(stderr, __VA_ARGS__);                                                      \
        fputc('\n', stderr);                                                               \
    } while (0)

#define RUN(fn)                                                                            \
    do {                                                                                   \
        test_cur_failed = 0;                                                               \
        test_cur_skipped = 0;                                                              \
        fn();                                                                              \
        if (test_cur_skipped && !test_cur_failed) {                                        \
            test_skipped++;                                                                \
            fprintf(stderr, "skip %s\n", #fn);                                             \
        } else if (test_cur_failed) {                                                      \
            test_failed++;                                                                 \
            fprintf(stderr, "FAIL %s\n", #fn);                                             \
        } else {                                                                           \
            test_passed++;                                                                 \
            fprintf(stderr, "ok   %s\n", #fn);                                             \
        }                                                                                  \
    } while (0)

#define TEST_END()                                                                         \
    do {                                                                                   \
        printf("%d passed, %d failed, %d skipped\n", test_passed, test_failed,             \
               test_skipped);                                                              \
        return (test_failed || !(test_passed + test_skipped)) ? 1 : 0;                     \
    } while (0)

/* |a-b| <= atol + rtol*|ref| */
static inline int close_enough(double a, double ref, double atol, double rtol)
{
    return fabs(a - ref) <= atol + rtol * fabs(ref);
}

#endif
