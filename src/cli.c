/* cli.c - command-line parsing (see cli.h). */
#include "cli.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "advtrain.h"
#include "attack.h"
#include "defend.h"
#include "modes.h"
#include "poison.h"

void cli_usage(FILE *f)
{
    fputs("usage: mnistsec --mode MODE [options]\n"
          "\n"
          "Red Team / Blue Team experiments on an MNIST CNN.\n"
          "\n"
          "Modes:\n",
          f);
    for (size_t i = 0; i < mode_count(); i++)
        fprintf(f, "  %-14s %s\n", mode_at(i)->name, mode_at(i)->help);
    fputs(
        "\n"
        "Common options:\n"
        "  --mode MODE             one of the modes above (required)\n"
        "  --data DIR              IDX files, raw or .gz (default $MNIST_DIR, data/mnist)\n"
        "  --out DIR               output directory (default results/MODE)\n"
        "  --epochs N              training epochs (5)\n"
        "  --batch-size N          mini-batch size (64)\n"
        "  --lr X                  Adam learning rate (0.001)\n"
        "  --seed N                random seed (20251122)\n"
        "  --threads N             worker threads (default: all cores)\n"
        "  --train-limit N         use only the first N training images\n"
        "  --test-limit N          use only the first N test images\n"
        "  --save FILE             write the trained model (checkpoint)\n"
        "  --load FILE             load a model instead of training the baseline\n"
        "  --quiet                 no progress lines on stderr\n"
        "  --help, --version\n"
        "\n"
        "poisoned:\n"
        "  --poison-count N        training images to poison (100)\n"
        "  --poison-source C       class that gets the trigger (7)\n"
        "  --poison-target C       label given to them (1)\n"
        "  --poison-pick first|random   first N in file order (default) or seeded random\n"
        "  --poison-sweep LIST     counts to poison in turn, e.g. 10,25,50,100: for each,\n"
        "                          a model trained from scratch and --defend run on it;\n"
        "                          backdoor_sweep.csv/.svg (no --poison-count/save/load)\n"
        "\n"
        "adv_only / adv_training:\n"
        "  --epsilon X             L-inf radius in [0,1] pixel space (0.3)\n"
        "  --attack-limit N        attack only the first N test images (default: all)\n"
        "  --save-adv DIR          adv_only: write the worst-case adversarial images at\n"
        "                          --epsilon into DIR as t10k-images-idx3-ubyte (float32\n"
        "                          IDX) and t10k-labels-idx1-ubyte (read by --data DIR)\n"
        "                          and adv_images.npy, adv_labels.npy (numpy.load)\n"
        "  --attack LIST           attacks to run, comma-separated, or all (default fgsm;\n"
        "                          adv_training: on the hardened model)\n"
        "  --eps-sweep LIST        epsilons to evaluate, e.g. 0,0.1,0.2,0.3 (--epsilon is\n"
        "                          always among them); robustness.csv has one row each\n"
        "  --pgd-steps N           PGD and transfer iterations (40)\n"
        "  --pgd-step-size X       PGD step (0.01)\n"
        "  --restarts N            restarts of pgd, apgd-*, square (1); each restart runs\n"
        "                          only on the images still classified correctly\n"
        "  --no-random-start       PGD from the original image (BIM)\n"
        "  --apgd-iters N          APGD iterations (100)\n"
        "  --apgd-targets N        APGD-T target classes (3)\n"
        "  --square-queries N      Square Attack queries per image (1000)\n"
        "  --surrogate FILE        checkpoint of the model transfer examples are made on\n"
        "  --strict                exit 1 if a sanity check FAILs (results still written)\n"
        "\n"
        "adv_training:\n"
        "  --adv-method M          adversarial training method (fgsm, as published)\n"
        "  --adv-epochs N          adversarial training epochs (3)\n"
        "  --adv-lr X              adversarial training learning rate (0.0001)\n"
        "  --adv-eps X             training epsilon (default --epsilon)\n"
        "  --adv-steps N           steps of the inner maximisation (method's default)\n"
        "  --adv-step-size X       its step (method's default rule)\n"
        "  --adv-eps-ramp N        grow the training epsilon linearly over N epochs (0)\n"
        "  --adv-from baseline|scratch   fine-tune the baseline (published) or start anew\n"
        "  --lr-schedule S         constant (default), cosine or onecycle\n"
        "  --val-count N           hold out the last N training images; after every epoch\n"
        "                          their clean and PGD-20 accuracy; keeps the best epoch\n"
        "  --trades-beta X         TRADES weight of the KL term (6)\n"
        "\n",
        f);
    fputs("Attacks (--attack):\n", f);
    for (size_t i = 0; i < attack_count(); i++)
        fprintf(f, "  %-14s %s\n", attack_at(i)->name, attack_at(i)->help);
    fputs("\nAdversarial training methods (--adv-method):\n", f);
    for (size_t i = 0; i < adv_method_count(); i++)
        fprintf(f, "  %-14s %s\n", adv_method_at(i)->name, adv_method_at(i)->help);
    fputs(
        "\n"
        "poisoned, defence:\n"
        "  --defend LIST           spectral, clustering, spectre (remove the flagged\n"
        "                          training images, retrain, measure again) and strip\n"
        "  --expected-poison X     assumed poisoned share of a class (0.05)\n"
        "  --spectral-multiplier X flag X times the expected share (1.5)\n"
        "  --cluster-threshold X   clustering flags a cluster smaller than X (0.35)\n"
        "  --label-anomaly X       spectre flags only in labels whose spread is an\n"
        "                          outlier: anomaly index above X (0: every label)\n"
        "  --save-activations FILE FC1 activations of the training set (float32 IDX, or\n"
        "                          .npy if FILE ends in .npy)\n"
        "\n"
        "Aliases: --batch_size, --data_dir, --epsilon_fgsm, --poison_count,\n"
        "         --poison_target_label, --poison_source_label.\n"
        "\n"
        "Exit status: 0 success, 1 a sanity check FAILed under --strict (results\n"
        "written), 64 usage error, 65 bad input data, 66 missing or unreadable input,\n"
        "70 internal error (including out of memory), 73 cannot create output or --out\n"
        "in use, 74 I/O error, 75 non-finite numbers (training diverged), 130/143\n"
        "SIGINT/SIGTERM.\n",
        f);
}

typedef enum {
    OPT_FLAG,
    OPT_STR,
    OPT_SIZE,
    OPT_U64,
    OPT_INT,
    OPT_DOUBLE,
    OPT_MODE,
    OPT_CHOICE, /* int: the index of the value in choices[] */
    OPT_ADVMETHOD,
    OPT_DEFEND, /* defend_list */
    OPT_NUMS,   /* num_list, elements in [lo, hi] */
    OPT_COUNTS, /* count_list, integers in [lo, hi] */
    OPT_ATTACKS /* attack_list */
} opt_kind;

typedef struct {
    const char *name;
    opt_kind kind;
    size_t offset;
    double lo, hi; /* inclusive range for numbers */
    const char *const *choices; /* OPT_CHOICE: the accepted values, NULL-terminated */
} opt_def;

#define OFF(f) offsetof(config, f)

/* In the order of their enums (poison.h, advtrain.h). */
static const char *const pick_choices[] = {"first", "random", NULL};
static const char *const from_choices[] = {"baseline", "scratch", NULL};
static const char *const schedule_choices[] = {"constant", "cosine", "onecycle", NULL};

static const opt_def opts[] = {
    {"mode", OPT_MODE, OFF(mode), 0, 0, NULL},
    {"data", OPT_STR, OFF(data_dir), 0, 0, NULL},
    {"data_dir", OPT_STR, OFF(data_dir), 0, 0, NULL},
    {"out", OPT_STR, OFF(out_dir), 0, 0, NULL},
    {"epochs", OPT_SIZE, OFF(epochs), 0, 1000, NULL},
    {"batch-size", OPT_SIZE, OFF(batch_size), 1, 4096, NULL},
    {"batch_size", OPT_SIZE, OFF(batch_size), 1, 4096, NULL},
    {"lr", OPT_DOUBLE, OFF(lr), 1e-9, 10, NULL},
    {"seed", OPT_U64, OFF(seed), 0, 0, NULL},
    {"threads", OPT_SIZE, OFF(threads), 1, 256, NULL},
    {"train-limit", OPT_SIZE, OFF(train_limit), 1, 10000000, NULL},
    {"test-limit", OPT_SIZE, OFF(test_limit), 1, 10000000, NULL},
    {"save", OPT_STR, OFF(save), 0, 0, NULL},
    {"load", OPT_STR, OFF(load), 0, 0, NULL},
    {"quiet", OPT_FLAG, OFF(quiet), 0, 0, NULL},
    {"poison-count", OPT_SIZE, OFF(poison_count), 1, 10000000, NULL},
    {"poison_count", OPT_SIZE, OFF(poison_count), 1, 10000000, NULL},
    {"poison-source", OPT_INT, OFF(poison_source), 0, 9, NULL},
    {"poison_source_label", OPT_INT, OFF(poison_source), 0, 9, NULL},
    {"poison-target", OPT_INT, OFF(poison_target), 0, 9, NULL},
    {"poison_target_label", OPT_INT, OFF(poison_target), 0, 9, NULL},
    {"poison-pick", OPT_CHOICE, OFF(poison_pick), 0, 0, pick_choices},
    {"poison-sweep", OPT_COUNTS, OFF(poison_sweep), 1, CLI_POISON_SWEEP_MAX, NULL},
    {"epsilon", OPT_DOUBLE, OFF(epsilon), 0, 1, NULL},
    {"epsilon_fgsm", OPT_DOUBLE, OFF(epsilon), 0, 1, NULL},
    {"attack-limit", OPT_SIZE, OFF(attack_limit), 1, 10000000, NULL},
    {"save-adv", OPT_STR, OFF(save_adv), 0, 0, NULL},
    {"adv-epochs", OPT_SIZE, OFF(adv_epochs), 0, 1000, NULL},
    {"adv-lr", OPT_DOUBLE, OFF(adv_lr), 1e-9, 10, NULL},
    {"attack", OPT_ATTACKS, OFF(attacks), 0, 0, NULL},
    {"eps-sweep", OPT_NUMS, OFF(eps_sweep), 0, 1, NULL},
    {"pgd-steps", OPT_SIZE, OFF(pgd_steps), 1, 100000, NULL},
    {"pgd-step-size", OPT_DOUBLE, OFF(pgd_step_size), 1e-6, 1, NULL},
    {"restarts", OPT_SIZE, OFF(restarts), 1, 1000, NULL},
    {"no-random-start", OPT_FLAG, OFF(no_random_start), 0, 0, NULL},
    {"apgd-iters", OPT_SIZE, OFF(apgd_iters), 1, 100000, NULL},
    {"apgd-targets", OPT_SIZE, OFF(apgd_targets), 1, 9, NULL},
    {"square-queries", OPT_SIZE, OFF(square_queries), 1, 1000000, NULL},
    {"surrogate", OPT_STR, OFF(surrogate), 0, 0, NULL},
    {"strict", OPT_FLAG, OFF(strict), 0, 0, NULL},
    {"adv-method", OPT_ADVMETHOD, OFF(adv_method), 0, 0, NULL},
    {"adv-steps", OPT_SIZE, OFF(adv_steps), 1, 1000, NULL},
    {"adv-step-size", OPT_DOUBLE, OFF(adv_step_size), 1e-6, 1, NULL},
    {"adv-eps", OPT_DOUBLE, OFF(adv_eps), 0, 1, NULL},
    {"adv-eps-ramp", OPT_SIZE, OFF(adv_eps_ramp), 0, 1000, NULL},
    {"adv-from", OPT_CHOICE, OFF(adv_from), 0, 0, from_choices},
    {"lr-schedule", OPT_CHOICE, OFF(lr_schedule), 0, 0, schedule_choices},
    {"val-count", OPT_SIZE, OFF(val_count), 0, 10000000, NULL},
    {"trades-beta", OPT_DOUBLE, OFF(trades_beta), 0, 1000, NULL},
    {"defend", OPT_DEFEND, OFF(defend), 0, 0, NULL},
    {"expected-poison", OPT_DOUBLE, OFF(expected_poison), 1e-6, 0.5, NULL},
    {"spectral-multiplier", OPT_DOUBLE, OFF(spectral_multiplier), 0.01, 100, NULL},
    {"cluster-threshold", OPT_DOUBLE, OFF(cluster_threshold), 0.001, 0.5, NULL},
    {"label-anomaly", OPT_DOUBLE, OFF(label_anomaly), 0, 1000, NULL},
    {"save-activations", OPT_STR, OFF(save_activations), 0, 0, NULL},
    {"help", OPT_FLAG, OFF(help), 0, 0, NULL},
    {"version", OPT_FLAG, OFF(version), 0, 0, NULL},
};

/* One element of a list (elements are separated by commas; none may be empty). */
static ms_status list_next(const char *flag, const char **p, size_t k, char *elem, size_t cap,
                           int *last, ms_err *err)
{
    const char *end = strchr(*p, ',');
    size_t len = end ? (size_t)(end - *p) : strlen(*p);
    if (len == 0)
        return ms_fail(err, MS_EUSAGE, "--%s: element %zu is empty", flag, k + 1);
    if (len >= cap)
        return ms_fail(err, MS_EUSAGE, "--%s: element %zu is too long", flag, k + 1);
    memcpy(elem, *p, len);
    elem[len] = '\0';
    *last = end == NULL;
    *p = end ? end + 1 : *p + len;
    return MS_OK;
}

/* "a, b, c or d" from a table of count names. */
static void join_names(char *buf, size_t cap, size_t count, const char *(*name)(size_t))
{
    size_t len = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < count && len < cap; i++) {
        const char *sep = i == 0 ? "" : (i + 1 == count ? " or " : ", ");
        int k = snprintf(buf + len, cap - len, "%s%s", sep, name(i));
        if (k < 0)
            break;
        len += (size_t)k;
    }
}

static const char *mode_name_at(size_t i)
{
    return mode_at(i)->name;
}

static const char *adv_method_name_at(size_t i)
{
    return adv_method_at(i)->name;
}

/* The choices being listed in a message (join_names takes an index function). */
static const char *const *choice_list;

static const char *choice_at(size_t i)
{
    return choice_list[i];
}

static size_t count_choices(const char *const *c)
{
    size_t n = 0;
    while (c[n])
        n++;
    return n;
}

static const char *attack_name_at(size_t i)
{
    return i < attack_count() ? attack_at(i)->name : "all";
}

/* The numbers of a list, each in [lo, hi], none twice. OPT_COUNTS: integers, digits
 * only (no sign, point or exponent); strtod reads them exactly up to 2^53, far above any
 * bound of the table, and larger ones fail the range check. */
static ms_status parse_nums(const opt_def *o, const char *v, num_list *l, ms_err *err)
{
    const int integer = o->kind == OPT_COUNTS;
    memset(l, 0, sizeof *l);
    const char *p = v;
    int last = 0;
    for (size_t k = 0; !last; k++) {
        char elem[64], *end;
        if (k == CLI_LIST_MAX)
            return ms_fail(err, MS_EUSAGE, "--%s: more than %d values", o->name, CLI_LIST_MAX);
        ms_status s = list_next(o->name, &p, k, elem, sizeof elem, &last, err);
        if (s != MS_OK)
            return s;
        errno = 0;
        double d = strtod(elem, &end);
        if (integer ? strspn(elem, "0123456789") != strlen(elem)
                    : end == elem || *end || errno == ERANGE || !isfinite(d))
            return ms_fail(err, MS_EUSAGE, "--%s: element %zu '%s' is not a %s", o->name,
                           k + 1, elem, integer ? "positive integer" : "finite number");
        if (d < o->lo || d > o->hi)
            return ms_fail(err, MS_EUSAGE, "--%s: element %zu (%s) is outside [%g, %g]", o->name,
                           k + 1, elem, o->lo, o->hi);
        for (size_t j = 0; j < l->n; j++)
            if (l->v[j] == d)
                return ms_fail(err, MS_EUSAGE, "--%s: element %zu (%s) is given twice", o->name,
                               k + 1, elem);
        l->v[l->n++] = d;
    }
    return MS_OK;
}

static int cmp_size(const void *a, const void *b)
{
    size_t x = *(const size_t *)a, y = *(const size_t *)b;
    return (x > y) - (x < y);
}

/* A list of counts, in increasing order. */
static ms_status parse_counts(const opt_def *o, const char *v, count_list *l, ms_err *err)
{
    num_list nums;
    ms_status s = parse_nums(o, v, &nums, err);
    if (s != MS_OK)
        return s;
    l->n = nums.n;
    for (size_t i = 0; i < nums.n; i++)
        l->v[i] = (size_t)nums.v[i];
    qsort(l->v, l->n, sizeof l->v[0], cmp_size);
    return MS_OK;
}

static const char *detector_name_at(size_t i)
{
    return i < detector_count() ? detector_at(i)->name : "strip";
}

static ms_status parse_defend(const opt_def *o, const char *v, defend_list *l, ms_err *err)
{
    memset(l, 0, sizeof *l);
    const char *p = v;
    int last = 0;
    for (size_t k = 0; !last; k++) {
        char elem[64];
        ms_status s = list_next(o->name, &p, k, elem, sizeof elem, &last, err);
        if (s != MS_OK)
            return s;
        const detector_def *d = detector_find(elem);
        if (!d && strcmp(elem, "strip") != 0) {
            char names[160];
            join_names(names, sizeof names, detector_count() + 1, detector_name_at);
            return ms_fail(err, MS_EUSAGE, "--%s: element %zu '%s' is not one of %s", o->name,
                           k + 1, elem, names);
        }
        int twice = d ? 0 : l->strip;
        for (size_t j = 0; d && j < l->n; j++)
            twice |= l->det[j] == d;
        if (twice)
            return ms_fail(err, MS_EUSAGE, "--%s: '%s' is given twice", o->name, elem);
        if (!d)
            l->strip = 1;
        else if (l->n == sizeof l->det / sizeof l->det[0])
            return ms_fail(err, MS_EUSAGE, "--%s: too many detectors", o->name);
        else
            l->det[l->n++] = d;
    }
    return MS_OK;
}

static ms_status parse_attacks(const opt_def *o, const char *v, attack_list *l, ms_err *err)
{
    memset(l, 0, sizeof *l);
    const char *p = v;
    int last = 0;
    for (size_t k = 0; !last; k++) {
        char elem[64];
        if (k == CLI_LIST_MAX)
            return ms_fail(err, MS_EUSAGE, "--%s: more than %d names", o->name, CLI_LIST_MAX);
        ms_status s = list_next(o->name, &p, k, elem, sizeof elem, &last, err);
        if (s != MS_OK)
            return s;
        if (strcmp(elem, "all") == 0) {
            l->all = 1;
        } else {
            const attack_def *a = attack_find(elem);
            if (!a) {
                char names[256];
                join_names(names, sizeof names, attack_count() + 1, attack_name_at);
                return ms_fail(err, MS_EUSAGE, "--%s: element %zu '%s' is not one of %s", o->name,
                               k + 1, elem, names);
            }
            for (size_t j = 0; j < l->n; j++)
                if (l->a[j] == a)
                    return ms_fail(err, MS_EUSAGE, "--%s: '%s' is given twice", o->name, elem);
            l->a[l->n++] = a;
        }
    }
    return MS_OK;
}

static ms_status parse_value(config *c, const opt_def *o, const char *v, ms_err *err)
{
    if (o->kind == OPT_NUMS)
        return parse_nums(o, v, (num_list *)(void *)((char *)c + o->offset), err);
    if (o->kind == OPT_COUNTS)
        return parse_counts(o, v, (count_list *)(void *)((char *)c + o->offset), err);
    if (o->kind == OPT_DEFEND)
        return parse_defend(o, v, (defend_list *)(void *)((char *)c + o->offset), err);
    if (o->kind == OPT_ATTACKS)
        return parse_attacks(o, v, (attack_list *)(void *)((char *)c + o->offset), err);
    char *base = (char *)c + o->offset;
    char *end = NULL;
    if (o->kind == OPT_STR) {
        if (!*v)
            return ms_fail(err, MS_EUSAGE, "--%s: empty value", o->name);
        *(const char **)(void *)base = v;
        return MS_OK;
    }
    if (o->kind == OPT_MODE) {
        const mode_def *md = mode_find(v);
        if (!md) {
            char names[256];
            join_names(names, sizeof names, mode_count(), mode_name_at);
            return ms_fail(err, MS_EUSAGE, "--mode: '%s' is not one of %s", v, names);
        }
        *(const mode_def **)(void *)base = md;
        return MS_OK;
    }
    if (o->kind == OPT_CHOICE) {
        for (int i = 0; o->choices[i]; i++)
            if (strcmp(v, o->choices[i]) == 0) {
                *(int *)(void *)base = i;
                return MS_OK;
            }
        char names[160];
        choice_list = o->choices;
        join_names(names, sizeof names, count_choices(o->choices), choice_at);
        return ms_fail(err, MS_EUSAGE, "--%s: '%s' is not one of %s", o->name, v, names);
    }
    if (o->kind == OPT_ADVMETHOD) {
        const adv_method *am = adv_method_find(v);
        if (!am) {
            char names[160];
            join_names(names, sizeof names, adv_method_count(), adv_method_name_at);
            return ms_fail(err, MS_EUSAGE, "--%s: '%s' is not one of %s", o->name, v, names);
        }
        *(const adv_method **)(void *)base = am;
        return MS_OK;
    }
    if (o->kind == OPT_DOUBLE) {
        errno = 0;
        double d = strtod(v, &end);
        if (end == v || *end || errno == ERANGE || !isfinite(d))
            return ms_fail(err, MS_EUSAGE, "--%s: '%s' is not a finite number", o->name, v);
        if (d < o->lo || d > o->hi)
            return ms_fail(err, MS_EUSAGE, "--%s: %s is outside [%g, %g]", o->name, v, o->lo,
                           o->hi);
        *(double *)(void *)base = d;
        return MS_OK;
    }
    /* Integers: digits only (no sign, no spaces), then range. */
    if (*v < '0' || *v > '9')
        return ms_fail(err, MS_EUSAGE, "--%s: '%s' is not a non-negative integer", o->name, v);
    errno = 0;
    unsigned long long u = strtoull(v, &end, 10);
    if (*end || errno == ERANGE)
        return ms_fail(err, MS_EUSAGE, "--%s: '%s' is not a non-negative integer in range",
                       o->name, v);
    if (o->kind != OPT_U64 && ((double)u < o->lo || (double)u > o->hi))
        return ms_fail(err, MS_EUSAGE, "--%s: %s is outside %.0f..%.0f", o->name, v, o->lo,
                       o->hi);
    if (o->kind == OPT_SIZE)
        *(size_t *)(void *)base = (size_t)u;
    else if (o->kind == OPT_U64)
        *(uint64_t *)(void *)base = (uint64_t)u;
    else
        *(int *)(void *)base = (int)u;
    return MS_OK;
}

/* The attack list after parsing: fgsm when none was given; "all" is every attack of
 * the table, transfer only when a surrogate is given. */
static ms_status resolve_attacks(config *c, ms_err *err)
{
    attack_list *l = &c->attacks;
    if (l->all) {
        l->n = 0;
        for (size_t i = 0; i < attack_count() && l->n < CLI_LIST_MAX; i++)
            if (!attack_at(i)->needs_surrogate || c->surrogate)
                l->a[l->n++] = attack_at(i);
    }
    if (l->n == 0)
        l->a[l->n++] = attack_find("fgsm");
    int uses_surrogate = 0;
    for (size_t i = 0; i < l->n; i++) {
        if (l->a[i]->needs_surrogate && !c->surrogate)
            return ms_fail(err, MS_EUSAGE, "--attack: %s needs --surrogate FILE", l->a[i]->name);
        uses_surrogate |= l->a[i]->needs_surrogate;
    }
    if (c->surrogate && !uses_surrogate)
        return ms_fail(err, MS_EUSAGE, "--surrogate: only with --attack transfer or all");
    return MS_OK;
}

ms_status cli_parse(config *c, int argc, char **argv, ms_err *err)
{
    memset(c, 0, sizeof *c);
    c->mode = NULL;
    /* MNIST_DIR is only the default for --data: a path the user could give anyway, and
     * the files under it are validated (idx.c); flawfinder's getenv hit is moot. */
    const char *env = getenv("MNIST_DIR"); /* Flawfinder: ignore */
    c->data_dir = (env && *env) ? env : "data/mnist";
    c->epochs = 5;
    c->batch_size = 64;
    c->lr = 1e-3;
    c->seed = DEFAULT_SEED;
    c->poison_count = 0; /* 100 unless given, or set by --poison-sweep (below) */
    c->poison_source = 7;
    c->poison_target = 1;
    c->poison_pick = POISON_PICK_FIRST;
    c->epsilon = 0.3;
    c->adv_epochs = 3;
    c->adv_lr = 1e-4;
    c->pgd_steps = 40;
    c->pgd_step_size = 0.01;
    c->restarts = 1;
    c->apgd_iters = 100;
    c->apgd_targets = 3;
    c->square_queries = 1000;
    c->adv_method = adv_method_find("fgsm");
    c->adv_eps = -1.0; /* --epsilon */
    c->trades_beta = 6.0;
    c->expected_poison = 0.05;
    c->spectral_multiplier = 1.5;
    c->cluster_threshold = 0.35;

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strncmp(a, "--", 2) != 0 || a[2] == '\0')
            return ms_fail(err, MS_EUSAGE, "'%s': unexpected argument (options start with --)",
                           a);
        const char *name = a + 2;
        const char *eq = strchr(name, '=');
        size_t nlen = eq ? (size_t)(eq - name) : strlen(name);
        const opt_def *o = NULL;
        for (size_t k = 0; k < sizeof opts / sizeof *opts; k++)
            if (strlen(opts[k].name) == nlen && strncmp(opts[k].name, name, nlen) == 0)
                o = &opts[k];
        if (!o)
            return ms_fail(err, MS_EUSAGE, "--%.*s: unknown option (see --help)", (int)nlen,
                           name);
        if (o->kind == OPT_FLAG) {
            if (eq)
                return ms_fail(err, MS_EUSAGE, "--%s: takes no value", o->name);
            *(int *)(void *)((char *)c + o->offset) = 1;
            continue;
        }
        const char *v;
        if (eq) {
            v = eq + 1;
        } else {
            if (i + 1 >= argc)
                return ms_fail(err, MS_EUSAGE, "--%s: missing value", o->name);
            v = argv[++i];
        }
        ms_status s = parse_value(c, o, v, err);
        if (s != MS_OK)
            return s;
    }
    if (c->help || c->version)
        return MS_OK;
    if (!c->mode) {
        char names[256];
        join_names(names, sizeof names, mode_count(), mode_name_at);
        return ms_fail(err, MS_EUSAGE, "--mode: required (%s)", names);
    }
    if (c->epochs == 0 && !c->load)
        return ms_fail(err, MS_EUSAGE, "--epochs: 0 is allowed only with --load");
    if (c->poison_source == c->poison_target)
        return ms_fail(err, MS_EUSAGE,
                       "--poison-target: must differ from --poison-source (both %d)",
                       c->poison_source);
    if (c->save_adv && !c->mode->saves_adv)
        return ms_fail(err, MS_EUSAGE, "--save-adv: only with --mode adv_only");
    if ((c->attacks.n || c->attacks.all || c->eps_sweep.n || c->surrogate || c->strict) &&
        !c->mode->evaluates_attacks)
        return ms_fail(err, MS_EUSAGE,
                       "--%s: only with --mode adv_only or adv_training",
                       c->attacks.n || c->attacks.all ? "attack"
                       : c->eps_sweep.n               ? "eps-sweep"
                       : c->surrogate                 ? "surrogate"
                                                      : "strict");
    if ((c->defend.n || c->defend.strip || c->save_activations) && !c->mode->defends_backdoor)
        return ms_fail(err, MS_EUSAGE, "--%s: only with --mode poisoned",
                       c->save_activations && !c->defend.n ? "save-activations" : "defend");
    if ((c->defend.n || c->save_activations) && c->load)
        return ms_fail(err, MS_EUSAGE,
                       "--%s: needs the poisoned training set, so not with --load",
                       c->defend.n ? "defend" : "save-activations");
    if (c->save_activations && !c->defend.n)
        return ms_fail(err, MS_EUSAGE, "--save-activations: with a training-set detector of "
                                       "--defend");
    if (c->label_anomaly > 0.0) {
        int spectre = 0;
        for (size_t i = 0; i < c->defend.n; i++)
            spectre |= strcmp(c->defend.det[i]->name, "spectre") == 0;
        if (!spectre)
            return ms_fail(err, MS_EUSAGE, "--label-anomaly: only with --defend spectre");
    }
    if (c->poison_sweep.n) {
        const char *why = !c->mode->sweeps_poison ? "only with --mode poisoned"
                          : c->load ? "trains a model per count, so not with --load"
                          : c->save ? "trains a model per count, so not with --save"
                          : c->save_activations
                              ? "has activations per count, so not with --save-activations"
                          : c->poison_count ? "gives the counts, so not with --poison-count"
                                            : NULL;
        if (why)
            return ms_fail(err, MS_EUSAGE, "--poison-sweep: %s", why);
    } else if (!c->poison_count) {
        c->poison_count = 100;
    }
    if (c->adv_eps < 0)
        c->adv_eps = c->epsilon;
    if (c->adv_from == ADV_FROM_SCRATCH && c->load)
        return ms_fail(err, MS_EUSAGE, "--adv-from scratch: trains from scratch, not from --load");
    ms_status s = resolve_attacks(c, err);
    if (s != MS_OK)
        return s;
    if (!c->out_dir) {
        snprintf(c->out_default, sizeof c->out_default, "results/%s", c->mode->name);
        c->out_dir = c->out_default;
    }
    return MS_OK;
}
