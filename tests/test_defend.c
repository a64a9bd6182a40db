/* test_defend.c - the backdoor detectors on generated features whose poison is known:
 * an obvious case every detector must find, a subtle 1.5% case that defeats the top
 * singular direction but not the robust method, clean data where each detector keeps
 * to its configured share, determinism and independence from label order, the
 * silhouette against a direct computation, scoring, argument checks; STRIP on a small
 * CNN trained with a planted backdoor. */
#include <stdlib.h>
#include <string.h>

#include "defend.h"
#include "layers.h"
#include "optim.h"
#include "poison.h"
#include "rng.h"
#include "fixtures.h"
#include "test.h"

enum { D = 128 };

static double gauss(rng_t *r)
{
    double u1 = 1.0 - (double)rng_uniform(r), u2 = (double)rng_uniform(r);
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

/* A random unit vector (D) orthogonal to the first `skip` coordinate axes. */
static void unit_vector(double *u, size_t skip, rng_t *r)
{
    double nrm = 0.0;
    for (size_t j = 0; j < D; j++) {
        u[j] = j < skip ? 0.0 : gauss(r);
        nrm += u[j] * u[j];
    }
    for (size_t j = 0; j < D; j++)
        u[j] /= sqrt(nrm);
}

/* A generated training set in features: `clean` gaussian vectors per label for labels
 * 0..nlabels-1 (standard deviation sd_top on the first three axes, 1 elsewhere, mean
 * 5 + label on every axis), and n_poison extra vectors of label poison_label shifted by
 * `shift` along a random unit direction orthogonal to those three axes. Rows are in
 * label order, poison last. */
typedef struct {
    size_t n;
    float *feat;     /* (n, D) */
    uint8_t *label;  /* (n) */
    uint8_t *truth;  /* (n) 1 = poison */
} gen_set;

static gen_set generate(size_t nlabels, size_t clean, size_t n_poison, int poison_label,
                        double sd_top, double shift, uint64_t seed)
{
    gen_set g;
    g.n = nlabels * clean + n_poison;
    g.feat = malloc(g.n * D * sizeof(float));
    g.label = malloc(g.n);
    g.truth = malloc(g.n);
    rng_t r;
    rng_init(&r, seed, 77);
    double u[D];
    unit_vector(u, 3, &r);
    size_t i = 0;
    for (size_t c = 0; c < nlabels; c++)
        for (size_t t = 0; t < clean; t++, i++) {
            for (size_t j = 0; j < D; j++)
                g.feat[i * D + j] = (float)(5.0 + (double)c + (j < 3 ? sd_top : 1.0) * gauss(&r));
            g.label[i] = (uint8_t)c, g.truth[i] = 0;
        }
    for (size_t t = 0; t < n_poison; t++, i++) {
        for (size_t j = 0; j < D; j++)
            g.feat[i * D + j] = (float)(5.0 + poison_label + (j < 3 ? sd_top : 1.0) * gauss(&r) +
                                        shift * u[j]);
        g.label[i] = (uint8_t)poison_label, g.truth[i] = 1;
    }
    return g;
}

static void gen_free(gen_set *g)
{
    free(g->feat), free(g->label), free(g->truth);
}

static const detect_opts *opts_with(detect_opts *o, double expected)
{
    detect_opts_default(o);
    o->expected_fraction = expected;
    return o;
}

/* Runs a detector and scores it; returns the row of label c. */
static detect_score_row run_detector(const detector_def *det, const gen_set *g,
                                     const detect_opts *o, int c, detect_report *rep)
{
    uint8_t *flag = malloc(g->n);
    detect_scores s;
    ms_err err;
    ms_status st = det->run(g->feat, g->n, D, g->label, o, flag, NULL, rep, &err);
    CHECK(st == MS_OK, "%s: %s", det->name, err.msg);
    CHECK(detect_score(flag, g->truth, g->label, g->n, &s, &err) == MS_OK, "%s", err.msg);
    free(flag);
    return s.label[c];
}

/* 1,000 gaussian vectors plus 15 shifted by 20 along one direction (1.5%): every
 * detector finds them. */
static void test_obvious_poison(void)
{
    gen_set g = generate(1, 1000, 15, 0, 1.0, 20.0, 1);
    detect_opts o;
    opts_with(&o, 0.015);
    for (size_t t = 0; t < detector_count(); t++) {
        const detector_def *det = detector_at(t);
        detect_report rep;
        detect_score_row s = run_detector(det, &g, &o, 0, &rep);
        fprintf(stderr, "  obvious, %-10s: flagged %zu, recall %.3f, precision %.3f\n",
                det->name, s.flagged, s.recall, s.precision);
        CHECK(s.recall >= 0.9, "%s recall %.3f", det->name, s.recall);
        CHECK(s.precision >= 0.6, "%s precision %.3f", det->name, s.precision);
        CHECK(rep.label[0].examined && rep.label[0].n == 1015 && rep.label[0].flagged == s.flagged,
              "%s report: examined %d, n %zu, flagged %zu", det->name, rep.label[0].examined,
              rep.label[0].n, rep.label[0].flagged);
        if (strcmp(det->name, "clustering") == 0)
            CHECK(rep.label[0].silhouette > 0.3 && rep.label[0].silhouette <= 1.0,
                  "silhouette %.3f of a well-separated cluster", rep.label[0].silhouette);
    }
    gen_free(&g);
}

/* 1.5% poison shifted by 8 along a direction of unit variance, while three other
 * directions have standard deviation 3: the poison adds 0.015 * 64 ~ 1 to the variance
 * of its direction, far below the 9 of the top direction, so the top singular vector
 * misses it; after robust whitening the poison stands 8 standard deviations out. */
static void test_subtle_poison(void)
{
    gen_set g = generate(1, 1000, 15, 0, 3.0, 8.0, 2);
    detect_opts o;
    opts_with(&o, 0.015);
    detect_score_row sp = run_detector(detector_find("spectral"), &g, &o, 0, NULL);
    detect_score_row se = run_detector(detector_find("spectre"), &g, &o, 0, NULL);
    o.spectre_alpha = 0.0;
    detect_score_row sn = run_detector(detector_find("spectre"), &g, &o, 0, NULL);
    fprintf(stderr,
            "  subtle: spectral recall %.3f; spectre recall %.3f precision %.3f; "
            "spectre (norm) recall %.3f precision %.3f\n",
            sp.recall, se.recall, se.precision, sn.recall, sn.precision);
    CHECK(sp.recall < 0.5, "the case is meant to beat the top direction (recall %.3f)",
          sp.recall);
    CHECK(se.recall >= 0.9 && se.precision >= 0.55, "spectre recall %.3f precision %.3f",
          se.recall, se.precision);
    CHECK(sn.recall >= 0.9 && sn.precision >= 0.55, "spectre norm recall %.3f precision %.3f",
          sn.recall, sn.precision);
    gen_free(&g);
}

/* Ten labels, a subtle poison (as above) in label 3 only. Without the label test
 * spectre flags its budget in every label; with --label-anomaly 2 only label 3 has an
 * outlying spread, keeps its flags (the poison among them) and every other label none. */
static void test_label_test(void)
{
    gen_set g = generate(10, 500, 8, 3, 3.0, 8.0, 9);
    detect_opts o;
    opts_with(&o, 0.016);
    detect_report rep;
    const detector_def *det = detector_find("spectre");
    detect_score_row off = run_detector(det, &g, &o, 3, &rep);
    size_t others = 0;
    int top = 0;
    for (int c = 0; c < DETECT_LABELS; c++) {
        if (c != 3)
            others += rep.label[c].flagged;
        if (rep.label[c].spread > rep.label[top].spread)
            top = c;
    }
    fprintf(stderr, "  label test off: recall %.3f, %zu flags in clean labels; spread of label 3 "
            "%.3f (anomaly %.2f), label 0 %.3f (anomaly %.2f)\n", off.recall, others,
            rep.label[3].spread, rep.label[3].anomaly, rep.label[0].spread, rep.label[0].anomaly);
    CHECK(off.recall >= 0.9 && others >= 9 * rep.label[0].budget && rep.label[0].budget > 0,
          "without the test: recall %.3f, %zu flags in the clean labels", off.recall, others);
    CHECK(top == 3 && rep.label[3].anomaly > 2.0, "label %d has the largest spread, label 3's "
          "anomaly index is %.2f", top, rep.label[3].anomaly);
    o.label_anomaly = 2.0;
    detect_score_row on = run_detector(det, &g, &o, 3, &rep);
    others = 0;
    for (int c = 0; c < DETECT_LABELS; c++)
        if (c != 3)
            others += rep.label[c].flagged;
    CHECK(on.recall == off.recall && on.flagged == off.flagged && others == 0,
          "with the test: recall %.3f (%.3f without), %zu flagged in label 3, %zu elsewhere",
          on.recall, off.recall, on.flagged, others);
    gen_free(&g);
}

/* No poison: spectral and spectre flag at most their budget, clustering nothing (a
 * gaussian splits near the middle, above the 35% threshold). */
static void test_clean_shares(void)
{
    gen_set g = generate(3, 700, 0, 0, 1.0, 0.0, 3);
    detect_opts o;
    opts_with(&o, 0.05);
    for (size_t t = 0; t < detector_count(); t++) {
        const detector_def *det = detector_at(t);
        detect_report rep;
        run_detector(det, &g, &o, 0, &rep);
        for (int c = 0; c < 3; c++) {
            double share = (double)rep.label[c].flagged / (double)rep.label[c].n;
            double allowed = strcmp(det->name, "clustering") == 0
                                 ? 0.0
                                 : o.spectral_multiplier * o.expected_fraction + 1e-9;
            CHECK(rep.label[c].n == 700 && share <= allowed, "%s label %d flags %.4f > %.4f",
                  det->name, c, share, allowed);
            CHECK(rep.label[c].flagged <= rep.label[c].budget, "%s label %d over budget",
                  det->name, c);
        }
        for (int c = 3; c < DETECT_LABELS; c++)
            CHECK(rep.label[c].n == 0 && rep.label[c].flagged == 0, "empty label %d", c);
    }
    gen_free(&g);
}

/* Same input, same flags and scores bit for bit; a label's result does not depend on
 * the other labels (target_label runs) nor on how the labels interleave in the rows. */
static void test_deterministic_and_order_free(void)
{
    gen_set g = generate(3, 400, 12, 1, 1.0, 15.0, 4);
    size_t n = g.n;
    uint8_t *f1 = malloc(n), *f2 = malloc(n), *f3 = malloc(n);
    float *s1 = malloc(n * sizeof(float)), *s2 = malloc(n * sizeof(float));
    /* interleaved copy: rows of the labels merged in random order, each label's rows
     * keeping their relative order; where[i] is the new row of row i */
    float *feat2 = malloc(n * D * sizeof(float));
    uint8_t *label2 = malloc(n);
    size_t *where = malloc(n * sizeof(size_t)), *list[3], len[3] = {0, 0, 0}, pos[3] = {0, 0, 0};
    for (int c = 0; c < 3; c++)
        list[c] = malloc(n * sizeof(size_t));
    for (size_t i = 0; i < n; i++)
        list[g.label[i]][len[g.label[i]]++] = i;
    rng_t r;
    rng_init(&r, 4, 8);
    for (size_t next = 0; next < n;) {
        int c = (int)rng_below(&r, 3);
        if (pos[c] < len[c])
            where[list[c][pos[c]++]] = next++;
    }
    for (size_t i = 0; i < n; i++) {
        memcpy(feat2 + where[i] * D, g.feat + i * D, D * sizeof(float));
        label2[where[i]] = g.label[i];
    }
    detect_opts o;
    opts_with(&o, 0.03);
    ms_err err;
    for (size_t t = 0; t < detector_count(); t++) {
        const detector_def *det = detector_at(t);
        detect_report r1, r2;
        CHECK(det->run(g.feat, n, D, g.label, &o, f1, s1, &r1, &err) == MS_OK, "%s", err.msg);
        CHECK(det->run(g.feat, n, D, g.label, &o, f2, s2, &r2, &err) == MS_OK, "%s", err.msg);
        CHECK(memcmp(f1, f2, n) == 0 && memcmp(s1, s2, n * sizeof(float)) == 0 &&
                  memcmp(&r1, &r2, sizeof r1) == 0,
              "%s: two runs differ", det->name);
        size_t bad_target = 0, bad_perm = 0;
        for (int c = 0; c < 3; c++) {
            detect_opts oc = o;
            oc.target_label = c;
            CHECK(det->run(g.feat, n, D, g.label, &oc, f2, s2, &r2, &err) == MS_OK, "%s",
                  err.msg);
            for (size_t i = 0; i < n; i++)
                if (g.label[i] == c)
                    bad_target += f2[i] != f1[i] || memcmp(&s2[i], &s1[i], sizeof(float)) != 0;
                else
                    bad_target += f2[i] != 0 || s2[i] != 0.0f;
            CHECK(r2.label[c].flagged == r1.label[c].flagged && !r2.label[(c + 1) % 3].examined,
                  "%s label %d: report differs alone", det->name, c);
        }
        CHECK(det->run(feat2, n, D, label2, &o, f3, s2, &r2, &err) == MS_OK, "%s", err.msg);
        for (size_t i = 0; i < n; i++)
            bad_perm += f3[where[i]] != f1[i] || memcmp(&s2[where[i]], &s1[i], sizeof(float));
        CHECK(bad_target == 0, "%s: %zu images differ when labels run alone", det->name,
              bad_target);
        CHECK(bad_perm == 0, "%s: %zu images differ when labels interleave", det->name,
              bad_perm);
    }
    free(f1), free(f2), free(f3), free(s1), free(s2), free(feat2), free(label2), free(where);
    for (int c = 0; c < 3; c++)
        free(list[c]);
    gen_free(&g);
}

/* With as many principal directions as features the projection is a rotation, so the
 * silhouette of the reported 2-clustering can be recomputed from the raw vectors. */
static void test_silhouette(void)
{
    enum { N = 300, DD = 6 };
    float *feat = malloc(N * DD * sizeof(float));
    uint8_t label[N], flag[N];
    rng_t r;
    rng_init(&r, 9, 1);
    for (size_t i = 0; i < N; i++) {
        label[i] = 4;
        for (size_t j = 0; j < DD; j++)
            feat[i * DD + j] = (float)(gauss(&r) + (i < 60 && j == 2 ? 2.5 : 0.0));
    }
    detect_opts o;
    detect_opts_default(&o);
    o.cluster_dims = DD;
    o.cluster_threshold = 0.5; /* flag the smaller cluster whatever its size */
    detect_report rep;
    ms_err err;
    CHECK(detect_clustering(feat, N, DD, label, &o, flag, NULL, &rep, &err) == MS_OK, "%s",
          err.msg);
    size_t cnt[2] = {0, 0};
    for (size_t i = 0; i < N; i++)
        cnt[flag[i]]++;
    double total = 0.0;
    for (size_t i = 0; i < N; i++) {
        double sum[2] = {0, 0};
        for (size_t j = 0; j < N; j++) {
            double s = 0.0;
            for (size_t q = 0; q < DD; q++) {
                double t = (double)feat[i * DD + q] - (double)feat[j * DD + q];
                s += t * t;
            }
            sum[flag[j]] += sqrt(s);
        }
        double a = sum[flag[i]] / (double)(cnt[flag[i]] - 1);
        double b = sum[!flag[i]] / (double)cnt[!flag[i]];
        total += (b - a) / (a > b ? a : b);
    }
    double ref = total / N, got = rep.label[4].silhouette;
    fprintf(stderr, "  silhouette %.9f, direct %.9f, clusters %zu/%zu\n", got, ref, cnt[0], cnt[1]);
    CHECK(cnt[1] > 0 && cnt[1] < cnt[0], "no smaller cluster flagged (%zu/%zu)", cnt[0], cnt[1]);
    CHECK(close_enough(got, ref, 1e-6, 1e-6), "silhouette %.9f vs direct %.9f", got, ref);
    CHECK(got >= -1.0 && got <= 1.0, "silhouette %.9f outside [-1,1]", got);
    o.silhouette_sample = 100;
    CHECK(detect_clustering(feat, N, DD, label, &o, flag, NULL, &rep, &err) == MS_OK, "%s",
          err.msg);
    double sub = rep.label[4].silhouette;
    CHECK(sub >= -1.0 && sub <= 1.0 && fabs(sub - ref) < 0.05,
          "subsampled silhouette %.4f far from %.4f", sub, ref);
    free(feat);
}

/* Above DETECT_DENSE_MAX_D features the covariance is applied through the data instead
 * of being formed: an obvious case padded with zeros to 1,030 features has the same
 * principal directions, so spectral flags the same images with the same scores, and
 * the other detectors still find the poison. */
static void test_wide_features(void)
{
    enum { W = DETECT_DENSE_MAX_D + 6 };
    gen_set g = generate(1, 400, 8, 0, 1.0, 20.0, 1);
    float *wide = calloc(g.n * W, sizeof(float));
    for (size_t i = 0; i < g.n; i++)
        memcpy(wide + i * W, g.feat + i * D, D * sizeof(float));
    uint8_t *f1 = malloc(g.n), *f2 = malloc(g.n);
    float *s1 = malloc(g.n * sizeof(float)), *s2 = malloc(g.n * sizeof(float));
    detect_opts o;
    opts_with(&o, 0.02);
    ms_err err;
    CHECK(detect_spectral(g.feat, g.n, D, g.label, &o, f1, s1, NULL, &err) == MS_OK, "%s", err.msg);
    CHECK(detect_spectral(wide, g.n, W, g.label, &o, f2, s2, NULL, &err) == MS_OK, "%s", err.msg);
    double worst = 0.0;
    for (size_t i = 0; i < g.n; i++) {
        double e = fabs((double)s1[i] - (double)s2[i]) / (1e-3 + fabs((double)s1[i]));
        worst = e > worst ? e : worst;
    }
    CHECK(memcmp(f1, f2, g.n) == 0 && worst < 1e-6,
          "wide spectral differs: flags %s, worst score difference %.3g",
          memcmp(f1, f2, g.n) ? "differ" : "agree", worst);
    for (size_t t = 0; t < detector_count(); t++) {
        detect_scores sc;
        CHECK(detector_at(t)->run(wide, g.n, W, g.label, &o, f2, NULL, NULL, &err) == MS_OK,
              "%s", err.msg);
        detect_score(f2, g.truth, g.label, g.n, &sc, &err);
        CHECK(sc.label[0].recall >= 0.9, "wide %s recall %.3f", detector_at(t)->name,
              sc.label[0].recall);
    }
    free(wide), free(f1), free(f2), free(s1), free(s2);
    gen_free(&g);
}

static void test_score_and_table(void)
{
    uint8_t flag[6] = {1, 1, 0, 0, 1, 0}, truth[6] = {1, 0, 1, 0, 0, 0};
    uint8_t lab[6] = {2, 2, 2, 2, 5, 5};
    detect_scores s;
    ms_err err;
    CHECK(detect_score(flag, truth, lab, 6, &s, &err) == MS_OK, "%s", err.msg);
    CHECK(s.label[2].n == 4 && s.label[2].positives == 2 && s.label[2].flagged == 2 &&
              s.label[2].true_positives == 1 && s.label[2].false_positives == 1 &&
              s.label[2].recall == 0.5 && s.label[2].precision == 0.5,
          "label 2 row wrong");
    CHECK(s.label[5].recall == 1.0 && s.label[5].precision == 0.0 && s.label[0].precision == 1.0,
          "vacuous recall/precision wrong");
    CHECK(s.total.n == 6 && s.total.flagged == 3 && s.total.true_positives == 1,
          "total row wrong");
    lab[3] = 10;
    CHECK(detect_score(flag, truth, lab, 6, &s, &err) == MS_EDATA, "label 10 accepted");
    CHECK(detector_count() >= 3 && detector_find("spectral") && detector_find("clustering") &&
              detector_find("spectre") && !detector_find("nope") && !detector_at(detector_count()),
          "detector table");
    for (size_t t = 0; t < detector_count(); t++)
        CHECK(detector_at(t)->help && detector_at(t)->help[0], "detector %zu has no help", t);
}

static void test_bad_arguments(void)
{
    float feat[4 * 2] = {0, 1, 2, 3, 4, 5, 6, 7};
    uint8_t lab[4] = {0, 0, 1, 1}, flag[4];
    detect_opts o;
    ms_err err;
    detect_opts_default(&o);
    for (size_t t = 0; t < detector_count(); t++) {
        detector_fn run = detector_at(t)->run;
        CHECK(run(feat, 4, 2, lab, &o, flag, NULL, NULL, &err) == MS_OK, "tiny set: %s", err.msg);
        CHECK(run(feat, 4, 0, lab, &o, flag, NULL, NULL, &err) == MS_EUSAGE, "d = 0 accepted");
        o.expected_fraction = 0.0;
        CHECK(run(feat, 4, 2, lab, &o, flag, NULL, NULL, &err) == MS_EUSAGE, "fraction 0 accepted");
        o.expected_fraction = 0.4; /* 1.5 * 0.4 > 0.5 */
        CHECK(run(feat, 4, 2, lab, &o, flag, NULL, NULL, &err) == MS_EUSAGE,
              "budget 60%% accepted");
        detect_opts_default(&o);
        o.label_anomaly = -1.0;
        CHECK(run(feat, 4, 2, lab, &o, flag, NULL, NULL, &err) == MS_EUSAGE,
              "label anomaly -1 accepted");
        o.label_anomaly = NAN;
        CHECK(run(feat, 4, 2, lab, &o, flag, NULL, NULL, &err) == MS_EUSAGE,
              "label anomaly NaN accepted");
        detect_opts_default(&o);
        o.target_label = 10;
        CHECK(run(feat, 4, 2, lab, &o, flag, NULL, NULL, &err) == MS_EUSAGE, "target 10 accepted");
        detect_opts_default(&o);
        lab[2] = 12;
        CHECK(run(feat, 4, 2, lab, &o, flag, NULL, NULL, &err) == MS_EDATA, "label 12 accepted");
        lab[2] = 1;
        feat[5] = NAN;
        CHECK(run(feat, 4, 2, lab, &o, flag, NULL, NULL, &err) == MS_EDATA &&
                  strstr(err.msg, "image 2"),
              "NaN feature accepted or not located: %s", err.msg);
        feat[5] = 5;
    }
    /* no images: nothing to do */
    for (size_t t = 0; t < detector_count(); t++)
        CHECK(detector_at(t)->run(NULL, 0, 5, NULL, &o, NULL, NULL, NULL, &err) == MS_OK,
              "empty set: %s", err.msg);
    /* all vectors equal: nothing to flag */
    float same[50 * 3];
    uint8_t lab50[50], f50[50];
    for (size_t i = 0; i < 150; i++)
        same[i] = 1.0f;
    memset(lab50, 3, 50);
    for (size_t t = 0; t < detector_count(); t++) {
        size_t nf = 0;
        CHECK(detector_at(t)->run(same, 50, 3, lab50, &o, f50, NULL, NULL, &err) == MS_OK, "%s",
              err.msg);
        for (size_t i = 0; i < 50; i++)
            nf += f50[i];
        CHECK(nf == 0, "%s flags %zu identical vectors", detector_at(t)->name, nf);
    }
}

/* --- STRIP ----------------------------------------------------------------------------- */

/* A CNN trained briefly on bar images of which every third (of every class) carries
 * the trigger and the label 1. */
static cnn *backdoored_model(void)
{
    enum { TRAIN = 40, STEPS = 30 };
    cnn *m = make_model(TRAIN, 2, 0, 11);
    float *x = malloc(TRAIN * CNN_PIXELS * sizeof(float));
    uint8_t y[TRAIN];
    bar_images(x, y, TRAIN, 21);
    for (size_t i = 0; i < TRAIN; i += 3) {
        poison_trigger(x + i * CNN_PIXELS, 1);
        y[i] = 1;
    }
    adam opt;
    ms_err err;
    if (adam_create(&opt, m->nparams, 2e-3, &err) != MS_OK)
        exit(1);
    for (size_t s = 0; s < STEPS; s++) {
        const float *z = cnn_forward(m, x, TRAIN);
        softmax_xent(m->dz, z, y, TRAIN, CNN_CLASSES, TRAIN);
        cnn_backward(m, m->dz, NULL, 1);
        adam_step(&opt, m->params, m->grads, kctx_pool(m->k));
    }
    adam_free(&opt);
    free(x);
    return m;
}

static void test_strip(void)
{
    enum { POOL = 60, HELD = 40, TEST = 30, BLEND = 16 };
    cnn *m = backdoored_model();
    float *pool = malloc(POOL * CNN_PIXELS * sizeof(float));
    float *held = malloc(HELD * CNN_PIXELS * sizeof(float));
    float *test = malloc(2 * TEST * CNN_PIXELS * sizeof(float));
    uint8_t yp[POOL], yh[HELD], yt[2 * TEST], troj[2 * TEST];
    bar_images(pool, yp, POOL, 31);
    bar_images(held, yh, HELD, 32);
    bar_images(test, yt, 2 * TEST, 33);
    for (size_t i = 0; i < 2 * TEST; i++) {
        troj[i] = i >= TEST;
        if (troj[i])
            poison_trigger(test + i * CNN_PIXELS, 1);
    }
    /* the backdoor works: triggered non-1 images go to 1 */
    uint8_t pred[TEST];
    cnn_argmax(cnn_forward(m, test + TEST * CNN_PIXELS, TEST), TEST, pred);
    size_t hit = 0, src = 0;
    for (size_t i = 0; i < TEST; i++)
        if (yt[TEST + i] != 1)
            src++, hit += pred[i] == 1;
    float held_h[HELD], test_h[2 * TEST], again[2 * TEST];
    ms_err err;
    CHECK(strip_entropy(m, held, HELD, pool, POOL, BLEND, 5, 1000, held_h, &err) == MS_OK, "%s",
          err.msg);
    CHECK(strip_entropy(m, test, 2 * TEST, pool, POOL, BLEND, 5, 0, test_h, &err) == MS_OK, "%s",
          err.msg);
    double mc = 0.0, mt = 0.0;
    for (size_t i = 0; i < TEST; i++)
        mc += test_h[i] / TEST, mt += test_h[TEST + i] / TEST;
    float thr;
    CHECK(strip_threshold(held_h, HELD, 0.05, &thr, &err) == MS_OK, "%s", err.msg);
    strip_rates on_held = strip_measure(held_h, (const uint8_t[HELD]){0}, HELD, thr);
    strip_rates rt = strip_measure(test_h, troj, 2 * TEST, thr);
    fprintf(stderr,
            "  strip: backdoor %zu/%zu; mean entropy clean %.3f, triggered %.3f bits; "
            "threshold %.3f: held-out FPR %.3f, test TPR %.3f FPR %.3f\n",
            hit, src, mc, mt, (double)thr, on_held.fpr, rt.tpr, rt.fpr);
    CHECK(hit * 10 >= src * 9, "the planted backdoor did not take (%zu/%zu)", hit, src);
    CHECK(mt < mc, "triggered entropy %.3f not below clean %.3f", mt, mc);
    CHECK(on_held.false_positives == 2 && on_held.negatives == HELD,
          "threshold gives %zu of %d held-out false positives, wanted floor(0.05*40) = 2",
          on_held.false_positives, HELD);
    CHECK(rt.tpr >= 0.8, "STRIP catches only %.3f of triggered inputs", rt.tpr);
    for (size_t i = 0; i < 2 * TEST; i++)
        CHECK(test_h[i] >= 0.0f && test_h[i] <= 3.3220f, "entropy %g outside [0, log2 10]",
              (double)test_h[i]);
    /* per-input determinism: input 7 alone (first_index 7) gets its value in the set */
    CHECK(strip_entropy(m, test + 7 * CNN_PIXELS, 1, pool, POOL, BLEND, 5, 7, again, &err) == MS_OK,
          "%s", err.msg);
    CHECK(memcmp(again, test_h + 7, sizeof(float)) == 0, "input 7 alone: %.9g, in the batch %.9g",
          (double)again[0], (double)test_h[7]);
    cnn *small = make_model(5, 1, 0, 11); /* other batch size and threads, same weights */
    memcpy(small->params, m->params, m->nparams * sizeof(float));
    CHECK(strip_entropy(small, test + 20 * CNN_PIXELS, 20, pool, POOL, BLEND, 5, 20, again,
                        &err) == MS_OK,
          "%s", err.msg);
    CHECK(memcmp(again, test_h + 20, 20 * sizeof(float)) == 0,
          "entropies depend on the batch size or thread count");
    /* thresholds: fpr 0 flags no clean input, fpr 1 flags all */
    CHECK(strip_threshold(held_h, HELD, 0.0, &thr, &err) == MS_OK &&
              strip_measure(held_h, (const uint8_t[HELD]){0}, HELD, thr).false_positives == 0,
          "fpr 0");
    CHECK(strip_threshold(held_h, HELD, 1.0, &thr, &err) == MS_OK &&
              strip_measure(held_h, (const uint8_t[HELD]){0}, HELD, thr).fpr == 1.0,
          "fpr 1");
    CHECK(strip_threshold(held_h, HELD, 1.5, &thr, &err) == MS_EUSAGE, "fpr 1.5 accepted");
    CHECK(strip_entropy(m, test, 1, pool, POOL, POOL + 1, 5, 0, again, &err) == MS_EUSAGE,
          "more blends than pool images accepted");
    cnn_destroy(small);
    cnn_destroy(m);
    free(pool), free(held), free(test);
}

/* The entropy of a single blend is that of the softmax: a model whose logits are all
 * equal gives log2(10) bits whatever the input. */
static void test_strip_uniform(void)
{
    cnn *m = make_model(4, 1, 0, 1);
    memset(m->params, 0, m->nparams * sizeof(float));
    float x[CNN_PIXELS * 2], pool[CNN_PIXELS * 3], h[2];
    uint8_t y[3];
    bar_images(pool, y, 3, 1);
    bar_images(x, y, 2, 2);
    ms_err err;
    CHECK(strip_entropy(m, x, 2, pool, 3, 3, 1, 0, h, &err) == MS_OK, "%s", err.msg);
    CHECK(close_enough(h[0], log2(10.0), 1e-6, 0) && close_enough(h[1], log2(10.0), 1e-6, 0),
          "uniform softmax entropy %.7f %.7f, want %.7f", (double)h[0], (double)h[1], log2(10.0));
    cnn_destroy(m);
}

int main(void)
{
    RUN(test_obvious_poison);
    RUN(test_subtle_poison);
    RUN(test_clean_shares);
    RUN(test_label_test);
    RUN(test_deterministic_and_order_free);
    RUN(test_silhouette);
    RUN(test_wide_features);
    RUN(test_score_and_table);
    RUN(test_bad_arguments);
    RUN(test_strip_uniform);
    RUN(test_strip);
    TEST_END();
}
