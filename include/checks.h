/* checks.h - automatic sanity checks of a robustness evaluation (Carlini et al. 2019,
 * "On Evaluating Adversarial Robustness"; the flags of Croce & Hein's AutoAttack):
 * each check is one row of the check table and one function, and reports PASS, WARN,
 * FAIL or SKIP (it could not be run on these results) with a one-line detail.
 */
#ifndef MNISTSEC_CHECKS_H
#define MNISTSEC_CHECKS_H

#include <stddef.h>

#include "results.h"
#include "robustness.h"

typedef enum { CHECK_PASS = 0, CHECK_WARN, CHECK_FAIL, CHECK_SKIP } check_status;

typedef struct {
    const robust_result *r;
    double largest_class_share; /* of the evaluated images' labels */
    /* Convergence: PGD on the first conv_n images at epsilon index conv_eps, once with
     * the run's budget and once with twice the steps and one more restart. */
    int have_conv;
    size_t conv_n, conv_eps, conv_base_correct, conv_strong_correct;
} check_input;

typedef struct {
    const char *name;
    check_status (*run)(const check_input *in, char *detail, size_t cap);
    const char *help;
} check_def;

size_t check_count(void);
const check_def *check_at(size_t i);
const char *check_status_name(check_status s);

/* Runs every check into table t (columns check,status,detail), prints each FAIL and
 * WARN as one line on stderr, and counts them. */
void checks_run(const check_input *in, csv_table *t, size_t *nfail, size_t *nwarn);

#endif
