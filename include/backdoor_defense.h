/* backdoor_defense.h - the Blue Team against the backdoor, as --mode poisoned runs it
 * with --defend:
 *   - training-set detectors (defend.h: spectral, clustering, spectre) on the FC1
 *     activations of every training image, scored against the poisoned indices
 *     (detection.csv: method,class,flagged,true_positives,false_positives,recall,
 *     precision); the detectors themselves never see those indices;
 *   - for each detector: the flagged images removed, the model retrained from scratch
 *     with the same seed and settings, clean accuracy and attack success rate measured
 *     again (metric rows <method>_after_*; before_* for the poisoned model);
 *   - strip: the inference-time detector, its threshold set on clean held-out test
 *     images for a 1% false-positive rate, and its true- and false-positive rates on
 *     triggered source-class and other clean test images.
 * The last retrained model is the run's model (--save).
 */
#ifndef MNISTSEC_BACKDOOR_DEFENSE_H
#define MNISTSEC_BACKDOOR_DEFENSE_H

#include "run.h"
#include "status.h"

ms_status backdoor_defend(run *r, ms_err *err);

#endif
