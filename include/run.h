/* run.h - one run of an experiment: the state every mode shares (configuration, data,
 * model, collected results), set up and written out by run_experiment.
 *
 * run_experiment checks the output locations first, loads the data, creates the
 * model, calls the mode's function from the mode table, then writes every result file
 * -- metrics, confusion matrices, tables, --save checkpoint, --save-adv set,
 * manifest.json -- through one output set, so they appear together or not at all.
 */
#ifndef MNISTSEC_RUN_H
#define MNISTSEC_RUN_H

#include <stddef.h>
#include <stdint.h>

#include "cli.h"
#include "cnn.h"
#include "dataset.h"
#include "figures.h"
#include "results.h"
#include "status.h"

typedef struct run {
    const config *c;
    size_t threads;
    dataset train, test;
    int have_train;
    cnn *m;
    /* results, written by run_experiment */
    metrics mt;
    confusion_list conf;
    csv_table **tables;
    size_t ntables, cap_tables;
    ms_status table_status;
    char started[32];
    double t_start;
    uint32_t *poisoned; /* poisoned training indices (poisoned_indices.csv) */
    size_t npoisoned;
    float *adv_images;  /* --save-adv: (adv_n, 784) */
    uint8_t *adv_labels;
    size_t adv_n;
    size_t checks_failed; /* sanity checks that FAILed (--strict turns them into MS_ECHECK) */
    csv_table *checks;    /* checks.csv, made on first use (run_checks) */
    gallery *gallery;     /* examples.png, or NULL */
    float *activations;   /* --save-activations: (train.n, 128), or NULL */
} run;

/* A new long-format table written as `file` into --out with the run's results; NULL
 * (remembered, reported when writing) if out of memory. */
csv_table *run_table(run *r, const char *file, size_t ncols, const char *const *cols);

/* The run's checks.csv table (check,status,detail); NULL if out of memory. */
csv_table *run_checks(run *r);

/* Runs the experiment c describes and writes its result files into c->out_dir.
 * argc/argv are recorded in the manifest. */
ms_status run_experiment(const config *c, int argc, char **argv, ms_err *err);

#endif
