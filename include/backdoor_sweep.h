/* backdoor_sweep.h - --mode poisoned --poison-sweep LIST: the backdoor and the defence
 * against it as the number of poisoned images grows.
 *
 * For each count N of the list, in increasing order: the training images a single run
 * with --poison-count N would poison (same --poison-pick, source, target and seed) get
 * the trigger and the target label; a model is trained from scratch on them and
 * measured; backdoor_defend_model (backdoor_defense.h) runs --defend on it; the images
 * are then restored for the next count. Every step is the single run's own code, so the
 * figures for N are those of `--poison-count N` with the same flags.
 *
 * backdoor_sweep.csv (LF, %.9g, accuracies and rates in [0,1]; an empty cell does not
 * apply to the row), one row per count and method:
 *
 *   poison_count           N
 *   method                 none (the poisoned model, undefended), a training-set
 *                          detector of --defend, or strip
 *   asr_before             attack success rate of the poisoned model
 *   clean_accuracy_before  its clean test accuracy
 *   flagged                training images the detector flagged, removed before
 *                          retraining (none: 0; strip: empty)
 *   recall, precision      of those flags against the N poisoned indices (empty for
 *                          none and strip)
 *   asr_after              attack success rate of the model retrained without them
 *                          (none: the poisoned model's; strip: empty)
 *   clean_accuracy_after   its clean test accuracy (same rule)
 *   strip_tpr, strip_fpr   strip only: share of triggered source-class test images and
 *                          of held-out clean test images STRIP flags, at the threshold
 *                          set for 1% false positives on other clean test images
 *
 * Besides backdoor_sweep.csv and backdoor_sweep.svg (the attack success rate against N
 * on a log axis: no defence, and each detector after retraining), the run writes
 * metrics.csv (the run's settings, poison_sweep, sweep_models_trained, sweep_seconds)
 * and manifest.json; no confusion matrices, per_class.csv, poisoned_indices.csv,
 * detection.csv or examples.png, which describe one model.
 */
#ifndef MNISTSEC_BACKDOOR_SWEEP_H
#define MNISTSEC_BACKDOOR_SWEEP_H

#include "run.h"
#include "status.h"

/* MS_EUSAGE, before any training, if a count exceeds the training images of the source
 * class. */
ms_status backdoor_sweep(run *r, ms_err *err);

#endif
