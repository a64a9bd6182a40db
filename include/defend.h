/* defend.h - backdoor defences: training-set detectors over per-image feature vectors
 * (spectral signatures, activation clustering, SPECTRE-style robust whitening) and
 * the inference-time detector STRIP.
 *
 * Legend: n images, d features per image (e.g. 128 FC1 activations after ReLU),
 * n_c images carrying one assigned label, k kept principal directions.
 *
 * The training-set detectors see the features and the ASSIGNED labels only (possibly
 * poisoned); they never see which images were poisoned. Each label is examined on its
 * own: the images of a label are taken in index order and the label's random numbers
 * come from the stream DETECT_RNG_STREAM + label of the seed, so a label's flags do
 * not depend on the other labels, on the order labels are processed, or on threads
 * (all reductions run in a fixed order, in double precision).
 *
 * Detectors are rows of one table (detector_count / detector_at / detector_find):
 *
 *   spectral    Tran et al. 2018. Centre the label's vectors, find the top right-
 *               singular vector v of the centred matrix (top eigenvector of the
 *               covariance), score_i = ((x_i - mean) . v)^2, flag the
 *               floor(spectral_multiplier * expected_fraction * n_c) highest scores
 *               (floor, so the share flagged never exceeds the configured one).
 *   clustering  Chen et al. 2018. Project the centred vectors on the top
 *               cluster_dims (10) principal directions, 2-means (k-means++ starts,
 *               kmeans_restarts = 10, lowest inertia kept), flag the smaller cluster
 *               when its share of the label is below cluster_threshold (0.35). The
 *               silhouette of the 2-clustering is reported per label.
 *   spectre     After Hayase et al. 2021 (SPECTRE). Project on the top spectre_dims
 *               (16) principal directions; estimate mean and covariance robustly by
 *               iterative trimming (up to spectre_rounds = 5 rounds; each re-estimates
 *               on the images whose Mahalanobis distance is not among the highest
 *               spectral_multiplier * expected_fraction), rescaled so the median
 *               squared distance matches the chi-square(k) median; whiten with it;
 *               score by QUantum Entropy (QUE): tau_i = z_i^T Q z_i / tr Q with
 *               Q = exp(alpha (S - I) / (|S|_2 - 1)), S the second moment of the
 *               whitened z, alpha = spectre_alpha = 4 (0 scores by |z_i|^2); flag as
 *               many as spectral. Why: a 1.5% poison adds little variance, so the top
 *               singular direction stays that of the clean images' own variation; in
 *               robustly whitened coordinates every clean direction has unit variance
 *               and the poison's offset stands out. On the published backdoor (100
 *               triggered 7s labelled 1, FC1 features, two trained models, budget
 *               1.5 x 100 = 150 of 6,842) k = 8..24 with 3 or more trimming rounds
 *               flag all 100 poisons, k = 16 with QUE ranking them above all but at
 *               most one clean image; without trimming recall at k = 16..32 is
 *               0.71-0.85, with k >= 48 it is 0.52-0.84.
 *               Label test (label_anomaly > 0): a clean label has no group apart
 *               from its robust centre, so flagging its top scores removes clean
 *               images; the spreads of the labels are compared (median and MAD, as
 *               Neural Cleanse's anomaly index) and only outlying labels keep flags.
 *
 * Principal directions come from subspace iteration (block power iteration with a
 * Rayleigh-Ritz step, Jacobi for the small eigenproblems) started from the seeded
 * RNG; for d <= DETECT_DENSE_MAX_D the d x d covariance is formed once, above it the
 * covariance is applied through the data (O(n_c d) per vector per iteration).
 */
#ifndef MNISTSEC_DEFEND_H
#define MNISTSEC_DEFEND_H

#include <stddef.h>
#include <stdint.h>

#include "cnn.h"
#include "status.h"

#define DETECT_LABELS 10                 /* assigned labels are 0..9 */
#define DETECT_RNG_STREAM 0x646566656e64ULL /* + label: the label's own stream */
#define DETECT_DENSE_MAX_D 1024
#define STRIP_RNG_STREAM 0x7374726970ULL

typedef struct {
    /* Expected share of poisoned images in a label; sets the flag budget
     * spectral_multiplier * expected_fraction * n_c of spectral and spectre and the
     * trimming share of spectre. Default 0.05 when nothing is known, the upper end of
     * the poison rates Tran et al. evaluate (flags 7.5% of each label). A defender
     * who knows a bound passes it, as both papers do: for the published backdoor,
     * 100 / 6,842 images labelled 1 gives a budget of 150 (2.2%). */
    double expected_fraction;
    double spectral_multiplier; /* 1.5, as in Tran et al. and SPECTRE */
    double cluster_threshold;   /* 0.35: flag the smaller cluster below this share */
    size_t cluster_dims;        /* 10 principal directions before 2-means */
    size_t kmeans_restarts;     /* 10 */
    size_t silhouette_sample;   /* 0: exact silhouette (O(n_c^2)); else at most this
                                 * many images (every ceil(n_c/s)-th) are scored against
                                 * all images of the label (O(s n_c)) */
    size_t spectre_dims;        /* 16 principal directions kept by spectre */
    size_t spectre_rounds;      /* 5 trimming rounds */
    double spectre_alpha;       /* 4: QUE exponent; 0 scores by the whitened norm */
    double label_anomaly;       /* spectre's label test. 0: flag in every examined label.
                                 * X > 0: flag only in labels whose anomaly index (the
                                 * label's spread against the other labels', below) is
                                 * above X; Neural Cleanse's rule uses 2 */
    uint64_t seed;              /* 20251122 */
    int target_label;           /* -1: examine every label; else only this one */
} detect_opts;

/* Fills o with the defaults above. */
void detect_opts_default(detect_opts *o);

typedef struct {
    int examined;          /* 1 if the detector looked at this label */
    size_t n;              /* images carrying the label */
    size_t budget;         /* most images the detector could flag in this label */
    size_t flagged;        /* images flagged */
    double silhouette;     /* clustering: mean silhouette of the 2-clustering in
                            * [-1,1] (0 for fewer than 3 images); others: 0 */
    double minority_share; /* clustering: share of the smaller cluster; others: 0 */
    double spread;         /* spectre: top eigenvalue of the second moment of the label's
                            * robustly whitened vectors; near 1 when no group of images
                            * sits apart from the robust centre, larger when one does
                            * (a poison cluster); others: 0 */
    double anomaly;        /* spectre: (spread - median) / (1.4826 MAD) of the spreads of
                            * the examined labels with 3 or more images; 0 when fewer than
                            * 3 labels or MAD 0; others: 0 */
} detect_label_report;

typedef struct {
    detect_label_report label[DETECT_LABELS];
} detect_report;

/* A training-set detector. feat: (n, d) finite floats, label: (n) values 0..9.
 * flag: out (n), 1 = flagged as poisoned (0 for labels not examined).
 * score: out (n) or NULL, the detector's suspicion score (higher = more suspicious,
 * comparable within a label only; 0 for labels not examined).
 * rep: out or NULL. Status: MS_EUSAGE for bad options or d == 0, MS_EDATA for a
 * label outside 0..9 or a non-finite feature, MS_EINTERNAL when out of memory. */
typedef ms_status (*detector_fn)(const float *feat, size_t n, size_t d, const uint8_t *label,
                                 const detect_opts *o, uint8_t *flag, float *score,
                                 detect_report *rep, ms_err *err);

typedef struct detector_def {
    const char *name;
    detector_fn run;
    const char *help; /* one line */
} detector_def;

size_t detector_count(void);
const detector_def *detector_at(size_t i); /* NULL if i >= detector_count() */
const detector_def *detector_find(const char *name); /* NULL if unknown */

ms_status detect_spectral(const float *feat, size_t n, size_t d, const uint8_t *label,
                          const detect_opts *o, uint8_t *flag, float *score,
                          detect_report *rep, ms_err *err);
ms_status detect_clustering(const float *feat, size_t n, size_t d, const uint8_t *label,
                            const detect_opts *o, uint8_t *flag, float *score,
                            detect_report *rep, ms_err *err);
ms_status detect_spectre(const float *feat, size_t n, size_t d, const uint8_t *label,
                         const detect_opts *o, uint8_t *flag, float *score,
                         detect_report *rep, ms_err *err);

/* Detection quality against the truth (1 = really poisoned), per assigned label and in
 * total. recall = tp / positives and precision = tp / flagged; with nothing to find
 * recall is 1 (nothing missed) and with nothing flagged precision is 1 (no false
 * alarm), so no field is ever NaN. */
typedef struct {
    size_t n;         /* images carrying the label */
    size_t positives; /* of them really poisoned */
    size_t flagged, true_positives, false_positives;
    double recall, precision;
} detect_score_row;

typedef struct {
    detect_score_row label[DETECT_LABELS];
    detect_score_row total;
} detect_scores;

/* flag, truth, label: (n). MS_EDATA for a label outside 0..9. */
ms_status detect_score(const uint8_t *flag, const uint8_t *truth, const uint8_t *label,
                       size_t n, detect_scores *out, ms_err *err);

/* --- STRIP (Gao et al. 2019) -------------------------------------------------------
 * Each input x is superimposed on n_blend clean images c_j drawn without replacement
 * from a held-out pool, as the paper blends images (OpenCV addWeighted with weights
 * 1 and 1, saturating): x_j = clip(x + c_j, 0, 1). The model classifies the blends;
 * the input's score is the mean over the blends of the Shannon entropy of the softmax,
 * in bits (in [0, log2(10)]). A trigger survives the blending and keeps pulling the
 * blends to the target class, so trojaned inputs have low entropy. Input i is image
 * first_index + i of its data set and draws its partners from
 * rng_init(seed ^ splitmix64(first_index + i), STRIP_RNG_STREAM), so its entropy does
 * not depend on the other inputs, on how a set is cut into calls, on the batch size or
 * on the thread count. A source-specific backdoor evades it in part: the published one
 * fires on 7s, and a 7 blended with another digit is no longer a 7, so on the published
 * model (20 blends, pool of 1,000 clean test images) triggered 7s average 0.17 bits
 * against 0.33 for clean images, and a 5% false-positive threshold catches 21%. */

/* x: (n_inputs, 784), clean_pool: (pool_n, 784), entropy: out (n_inputs).
 * 1 <= n_blend <= pool_n. MS_EUSAGE for bad sizes, MS_EINTERNAL out of memory,
 * MS_ENUMERIC if the model's logits are not finite. */
ms_status strip_entropy(cnn *m, const float *x, size_t n_inputs, const float *clean_pool,
                        size_t pool_n, size_t n_blend, uint64_t seed, uint64_t first_index,
                        float *entropy, ms_err *err);

/* The entropy threshold for a false-positive rate fpr in [0, 1] on clean held-out
 * entropies (n >= 1): inputs with entropy < threshold are flagged as trojaned. It is
 * the floor(fpr * n)-th smallest clean entropy (0-based), so at most floor(fpr * n)
 * clean inputs fall below it (exactly that many without ties); fpr * n >= n gives
 * +infinity (flag everything). */
ms_status strip_threshold(const float *clean_entropy, size_t n, double fpr, float *threshold,
                          ms_err *err);

typedef struct {
    size_t positives, negatives; /* trojaned and clean inputs */
    size_t true_positives, false_positives;
    double tpr, fpr; /* 0 when there are no positives / negatives */
} strip_rates;

/* Rates of the rule "entropy < threshold" against trojaned (n) (1 = trojaned). */
strip_rates strip_measure(const float *entropy, const uint8_t *trojaned, size_t n,
                          float threshold);

#endif
