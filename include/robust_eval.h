/* robust_eval.h - the robustness evaluation of a run's model, as configured on the
 * command line (--attack, --eps-sweep, budgets, --surrogate): every attack at every
 * epsilon on the test images (robustness.h), then the sanity checks (checks.h).
 *
 * Adds to the run: robustness.csv (epsilon,attack,accuracy,mean_linf,mean_l2,seconds;
 * an "all" row per epsilon for the ensemble), robust_examples.csv (per image: index,
 * label, clean and per-attack adversarial prediction, robust), checks.csv
 * (check,status,detail), and metric rows <prefix><attack>_accuracy and
 * <prefix>robust_accuracy at --epsilon with the budgets. With --save-adv, the
 * worst-case example of each image at --epsilon is kept.
 */
#ifndef MNISTSEC_ROBUST_EVAL_H
#define MNISTSEC_ROBUST_EVAL_H

#include "run.h"
#include "status.h"

ms_status robust_eval_run(run *r, const char *prefix, ms_err *err);

#endif
