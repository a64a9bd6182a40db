/* cli.c - command-line parsing (see cli.h). */
#include "cli.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

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
        "  --data DIR              MNIST IDX files, raw or .gz (default $MNIST_DIR, else data/mnist)\n"
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
        "\n"
        "adv_only / adv_training:\n"
        "  --epsilon X             FGSM L-inf radius in [0,1] pixel space (0.3)\n"
        "  --attack-limit N        attack only the first N test images (default: all)\n"
        "  --save-adv DIR          adv_only: write the adversarial test images into DIR as\n"
        "                          t10k-images-idx3-ubyte (float32 IDX) and\n"
        "                          t10k-labels-idx1-ubyte, readable with --data DIR\n"
        "  --adv-epochs N          adversarial training epochs (3)\n"
        "  --adv-lr X              adversarial training learning rate (0.0001)\n"
        "\n"
        "Aliases: --batch_size, --data_dir, --epsilon_fgsm, --poison_count,\n"
        "         --poison_target_label, --poison_source_label.\n"
        "\n"
        "Exit status: 0 success, 64 usage error, 65 bad input data, 66 missing or\n"
        "unreadable input, 70 internal error (including out of memory), 73 cannot create\n"
        "output, 74 I/O error.\n",
        f);
}

typedef enum { OPT_FLAG, OPT_STR, OPT_SIZE, OPT_U64, OPT_INT, OPT_DOUBLE, OPT_MODE, OPT_PICK } opt_kind;

typedef struct {
    const char *name;
    opt_kind kind;
    size_t offset;
    double lo, hi; /* inclusive range for numbers */
} opt_def;

#define OFF(f) offsetof(config, f)

static const opt_def opts[] = {
    {"mode", OPT_MODE, OFF(mode), 0, 0},
    {"data", OPT_STR, OFF(data_dir), 0, 0},
    {"data_dir", OPT_STR, OFF(data_dir), 0, 0},
    {"out", OPT_STR, OFF(out_dir), 0, 0},
    {"epochs", OPT_SIZE, OFF(epochs), 0, 1000},
    {"batch-size", OPT_SIZE, OFF(batch_size), 1, 4096},
    {"batch_size", OPT_SIZE, OFF(batch_size), 1, 4096},
    {"lr", OPT_DOUBLE, OFF(lr), 1e-9, 10},
    {"seed", OPT_U64, OFF(seed), 0, 0},
    {"threads", OPT_SIZE, OFF(threads), 1, 256},
    {"train-limit", OPT_SIZE, OFF(train_limit), 1, 10000000},
    {"test-limit", OPT_SIZE, OFF(test_limit), 1, 10000000},
    {"save", OPT_STR, OFF(save), 0, 0},
    {"load", OPT_STR, OFF(load), 0, 0},
    {"quiet", OPT_FLAG, OFF(quiet), 0, 0},
    {"poison-count", OPT_SIZE, OFF(poison_count), 1, 10000000},
    {"poison_count", OPT_SIZE, OFF(poison_count), 1, 10000000},
    {"poison-source", OPT_INT, OFF(poison_source), 0, 9},
    {"poison_source_label", OPT_INT, OFF(poison_source), 0, 9},
    {"poison-target", OPT_INT, OFF(poison_target), 0, 9},
    {"poison_target_label", OPT_INT, OFF(poison_target), 0, 9},
    {"poison-pick", OPT_PICK, OFF(poison_pick), 0, 0},
    {"epsilon", OPT_DOUBLE, OFF(epsilon), 0, 1},
    {"epsilon_fgsm", OPT_DOUBLE, OFF(epsilon), 0, 1},
    {"attack-limit", OPT_SIZE, OFF(attack_limit), 1, 10000000},
    {"save-adv", OPT_STR, OFF(save_adv), 0, 0},
    {"adv-epochs", OPT_SIZE, OFF(adv_epochs), 0, 1000},
    {"adv-lr", OPT_DOUBLE, OFF(adv_lr), 1e-9, 10},
    {"help", OPT_FLAG, OFF(help), 0, 0},
    {"version", OPT_FLAG, OFF(version), 0, 0},
};

/* "a, b, c or d" from the mode table. */
static void mode_names(char *buf, size_t cap)
{
    size_t len = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < mode_count() && len < cap; i++) {
        const char *sep = i == 0 ? "" : (i + 1 == mode_count() ? " or " : ", ");
        int k = snprintf(buf + len, cap - len, "%s%s", sep, mode_at(i)->name);
        if (k < 0)
            break;
        len += (size_t)k;
    }
}

static ms_status parse_value(config *c, const opt_def *o, const char *v, ms_err *err)
{
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
            mode_names(names, sizeof names);
            return ms_fail(err, MS_EUSAGE, "--mode: '%s' is not one of %s", v, names);
        }
        *(const mode_def **)(void *)base = md;
        return MS_OK;
    }
    if (o->kind == OPT_PICK) {
        if (strcmp(v, "first") == 0)
            *(int *)(void *)base = POISON_PICK_FIRST;
        else if (strcmp(v, "random") == 0)
            *(int *)(void *)base = POISON_PICK_RANDOM;
        else
            return ms_fail(err, MS_EUSAGE, "--%s: '%s' is not 'first' or 'random'", o->name, v);
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
    c->poison_count = 100;
    c->poison_source = 7;
    c->poison_target = 1;
    c->poison_pick = POISON_PICK_FIRST;
    c->epsilon = 0.3;
    c->adv_epochs = 3;
    c->adv_lr = 1e-4;

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
        mode_names(names, sizeof names);
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
    if (!c->out_dir) {
        snprintf(c->out_default, sizeof c->out_default, "results/%s", c->mode->name);
        c->out_dir = c->out_default;
    }
    return MS_OK;
}
