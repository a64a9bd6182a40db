/* modes.h - the four experiments: baseline, poisoned, adv_only, adv_training. */
#ifndef MNISTSEC_MODES_H
#define MNISTSEC_MODES_H

#include "cli.h"
#include "status.h"

/* Runs the experiment c describes and writes its result files into c->out_dir.
 * argc/argv are recorded in the manifest. */
ms_status run_experiment(const config *c, int argc, char **argv, ms_err *err);

#endif
