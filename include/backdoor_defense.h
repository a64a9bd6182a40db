/* backdoor_defense.h - the Blue Team against the backdoor, as --mode poisoned runs it
 * with --defend:
 *   - training-set detectors (defend.h: spectral, clustering, spectre) on the FC1
 *     activations of every training image, scored against the poisoned indices
 *     (detection.csv: method,class,flagged,true_positives,false_positives,recall,
 *     precision, and spectre's spread,anomaly_index per class); the detectors themselves
 *     never see those indices;
 *   - for each detector: the flagged images removed, the model retrained from scratch
 *     with the same seed and settings, clean accuracy and attack success rate measured
 *     again (metric rows <method>_after_*; before_* for the poisoned model);
 *   - strip: the inference-time detector, its threshold set on clean held-out test
 *     images for a 1% false-positive rate, and its true- and false-positive rates on
 *     triggered source-class and other clean test images.
 * The last retrained model is the run's model (--save).
 *
 * backdoor_defend_model is the work for one poisoned model; the single run
 * (backdoor_defend) and --poison-sweep (backdoor_sweep.h) both call it, so a sweep's
 * figures for a count are those of a single run with that --poison-count.
 */
#ifndef MNISTSEC_BACKDOOR_DEFENSE_H
#define MNISTSEC_BACKDOOR_DEFENSE_H

#include <stddef.h>
#include <stdint.h>

#include "cli.h"
#include "defend.h"
#include "eval.h"
#include "poison.h"
#include "results.h"
#include "run.h"
#include "status.h"

/* An evaluate() transform (ctx: a backdoor_trigger) that stamps the trigger on the test
 * images marked; labels are kept. */
typedef struct {
    const uint8_t *mark; /* per test image: 1 to trigger, or NULL for every image */
} backdoor_trigger;

ms_status backdoor_trigger_transform(void *ctx, cnn *m, float *x, const uint8_t *y,
                                     const uint32_t *idx, size_t n, ms_err *err);

/* metrics.csv rows poison_source, poison_target, poison_pick. */
void backdoor_poison_rows(run *r);

/* The run's model on the whole test set, clean and with every image triggered (batches of
 * 100), and the backdoor figures of the two (backdoor_measure of poison.h). */
ms_status backdoor_evaluate(run *r, eval_result *clean, eval_result *trig,
                            backdoor_metrics *bm, ms_err *err);

/* What a model does on the test set. */
typedef struct {
    double clean_accuracy;
    double attack_success_rate; /* triggered test images of the source class sent to the
                                 * target */
} backdoor_figures;

/* One training-set detector on one poisoned model. */
typedef struct {
    const detector_def *det;
    detect_scores sc;       /* against the poisoned indices (sc.total: all labels) */
    size_t removed;         /* training images flagged and left out of the retraining */
    backdoor_figures after; /* the model retrained without them */
    double detect_seconds;  /* the detector's statistics on the activations */
    double retrain_seconds; /* the retraining and its measurement */
} backdoor_detection;

/* --defend on one poisoned model. */
typedef struct {
    int strip;               /* 1 if STRIP ran */
    float strip_threshold;   /* entropy threshold (bits): 1% false positives on held-out
                              * clean test images */
    strip_rates strip_rates; /* on triggered source-class and other clean test images */
    double activation_seconds; /* FC1 activations of every training image */
    size_t ndet;
    backdoor_detection det[CLI_DEFEND_MAX]; /* in the order of --defend */
} backdoor_defence;

/* --defend (r->c->defend) on the run's model, trained on the poisoned training set
 * r->train whose poisoned indices are r->poisoned[0..r->npoisoned) (used only to score
 * the detectors): STRIP first, on that model; then the FC1 activations of every training
 * image, and for each detector its flags, their scores (rows added to detection when not
 * NULL) and the model retrained without them (r->m holds the last). activations: NULL, or
 * out: the (train.n, 128) activations (the caller frees them; NULL without a detector). */
ms_status backdoor_defend_model(run *r, csv_table *detection, float **activations,
                                backdoor_defence *out, ms_err *err);

/* The single run's defence: backdoor_defend_model with detection.csv, its metric rows
 * (before_*: the figures of the poisoned model) and --save-activations. */
ms_status backdoor_defend(run *r, const backdoor_figures *before, ms_err *err);

#endif
