/* test_run.c - whole runs (run_experiment) on a tiny generated data set: hostile
 * checkpoints with valid checksums, diverging training, an interrupt, a second run on
 * a locked output directory, unwritable targets. Each failing run must return the
 * documented status and leave no output behind. */
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "cnn.h"
#include "idx.h"
#include "interrupt.h"
#include "rng.h"
#include "run.h"
#include "test.h"

static char root[64], data[96];

static void write_split(const char *split, size_t n, uint64_t seed)
{
    uint8_t *px = malloc(n * 784), *lb = malloc(n);
    rng_t r;
    rng_init(&r, seed, 9);
    for (size_t i = 0; i < n; i++) {
        lb[i] = (uint8_t)(i % 10);
        for (size_t p = 0; p < 784; p++)
            px[i * 784 + p] = (uint8_t)((p % 28 == 3 + 2 * (size_t)lb[i]) ? 255 : rng_below(&r, 40));
    }
    char path[160];
    ms_err err;
    size_t idims[3] = {n, 28, 28}, ldims[1] = {n};
    snprintf(path, sizeof path, "%s/%s-images-idx3-ubyte", data, split);
    if (idx_write_file(path, IDX_TYPE_U8, 3, idims, px, &err) != MS_OK)
        fprintf(stderr, "%s\n", err.msg), exit(1);
    snprintf(path, sizeof path, "%s/%s-labels-idx1-ubyte", data, split);
    if (idx_write_file(path, IDX_TYPE_U8, 1, ldims, lb, &err) != MS_OK)
        fprintf(stderr, "%s\n", err.msg), exit(1);
    free(px), free(lb);
}

/* Runs mnistsec with the given arguments (NULL-terminated); returns the status. */
static ms_status run_args(ms_err *err, ...)
{
    char *argv[40];
    int argc = 0;
    argv[argc++] = "mnistsec";
    va_list ap;
    va_start(ap, err);
    for (char *a; (a = va_arg(ap, char *)) != NULL && argc < 38;)
        argv[argc++] = a;
    va_end(ap);
    argv[argc] = NULL;
    config c;
    ms_status s = cli_parse(&c, argc, argv, err);
    if (s != MS_OK)
        return s;
    return run_experiment(&c, argc, argv, err);
}

static int exists(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0;
}

static void test_huge_weights_refused(void)
{
    cnn *m = NULL;
    ms_err err;
    CHECK(cnn_create(&m, 8, 1, &err) == MS_OK, "%s", err.msg);
    cnn_init(m, 1);
    for (size_t i = 0; i < CNN_CLASSES * CNN_HIDDEN; i++)
        m->fc2_w[i] = 3e38f; /* finite, valid checksum, but the logits overflow */
    char ck[160], out[160];
    snprintf(ck, sizeof ck, "%s/huge.ckpt", root);
    snprintf(out, sizeof out, "%s/out_huge", root);
    CHECK(cnn_save(m, ck, &err) == MS_OK, "%s", err.msg);
    cnn_destroy(m);
    ms_status s = run_args(&err, "--mode", "baseline", "--data", data, "--load", ck, "--out", out,
                           "--quiet", "--threads", "1", NULL);
    CHECK(s == MS_EDATA, "status %d: %s", (int)s, err.msg);
    CHECK(strstr(err.msg, "huge.ckpt") && strstr(err.msg, "non-finite"), "message: %s",
          err.msg);
    CHECK(!exists(out), "--out left behind");
}

static void test_divergence_stops(void)
{
    char out[160];
    ms_err err;
    snprintf(out, sizeof out, "%s/out_div", root);
    ms_status s = run_args(&err, "--mode", "baseline", "--data", data, "--lr", "10", "--epochs",
                           "3", "--batch-size", "16", "--out", out, "--quiet", "--threads", "1",
                           NULL);
    CHECK(s == MS_ENUMERIC, "status %d: %s", (int)s, err.msg);
    CHECK(strstr(err.msg, "diverged") && strstr(err.msg, "epoch"), "message: %s", err.msg);
    CHECK(!exists(out), "--out left behind");
}

static void test_interrupt_cleans_up(void)
{
    char out[160];
    ms_err err;
    snprintf(out, sizeof out, "%s/new/out_int", root);
    interrupt_raise_for_test(SIGTERM);
    ms_status s = run_args(&err, "--mode", "baseline", "--data", data, "--out", out, "--quiet",
                           "--threads", "1", NULL);
    interrupt_raise_for_test(0);
    CHECK(s == MS_ESIGTERM, "status %d: %s", (int)s, err.msg);
    CHECK(strstr(err.msg, "SIGTERM") && strstr(err.msg, "epoch 1"), "message: %s", err.msg);
    char parent[160];
    snprintf(parent, sizeof parent, "%s/new", root);
    CHECK(!exists(out) && !exists(parent), "created directories left behind");
}

static void test_locked_out_refused(void)
{
    char out[160], lock[200];
    ms_err err;
    snprintf(out, sizeof out, "%s/out_locked", root);
    snprintf(lock, sizeof lock, "%s/.mnistsec.lock", out);
    mkdir(out, 0777);
    FILE *f = fopen(lock, "w");
    fprintf(f, "%ld\n", (long)getpid()); /* a live process holds it */
    fclose(f);
    ms_status s = run_args(&err, "--mode", "baseline", "--data", data, "--out", out, "--quiet",
                           "--threads", "1", "--epochs", "1", NULL);
    CHECK(s == MS_ECANTCREAT, "status %d: %s", (int)s, err.msg);
    char pid[32];
    snprintf(pid, sizeof pid, "%ld", (long)getpid());
    CHECK(strstr(err.msg, pid) != NULL, "message names no process: %s", err.msg);
    CHECK(exists(lock), "the other run's lock was removed");
    char mpath[200];
    snprintf(mpath, sizeof mpath, "%s/metrics.csv", out);
    CHECK(!exists(mpath), "results written");
    unlink(lock);
    /* unlocked: the run succeeds and removes its own lock */
    s = run_args(&err, "--mode", "baseline", "--data", data, "--out", out, "--quiet", "--threads",
                 "1", "--epochs", "1", NULL);
    CHECK(s == MS_OK, "status %d: %s", (int)s, err.msg);
    CHECK(!exists(lock), "lock file left after the run");
}

static void test_targets_refused_before_training(void)
{
    char out[160], dir[160], file[160];
    ms_err err;
    snprintf(out, sizeof out, "%s/out_t", root);
    snprintf(dir, sizeof dir, "%s/a_dir", root);
    snprintf(file, sizeof file, "%s/a_file", root);
    mkdir(dir, 0777);
    FILE *f = fopen(file, "w");
    fclose(f);
    ms_status s = run_args(&err, "--mode", "baseline", "--data", data, "--out", out, "--save",
                           dir, "--quiet", NULL);
    CHECK(s == MS_ECANTCREAT && strstr(err.msg, "--save"), "--save DIR: %d %s", (int)s, err.msg);
    s = run_args(&err, "--mode", "baseline", "--data", data, "--out", file, "--quiet", NULL);
    CHECK(s == MS_ECANTCREAT && strstr(err.msg, "--out"), "--out FILE: %d %s", (int)s, err.msg);
    s = run_args(&err, "--mode", "adv_only", "--data", data, "--out", out, "--save-adv", file,
                 "--quiet", NULL);
    CHECK(s == MS_ECANTCREAT && strstr(err.msg, "--save-adv"), "--save-adv FILE: %d %s", (int)s,
          err.msg);
    CHECK(!exists(out), "--out created by a refused run");
}

int main(void)
{
    snprintf(root, sizeof root, "/tmp/test_run.XXXXXX");
    if (!mkdtemp(root))
        return perror("mkdtemp"), 1;
    snprintf(data, sizeof data, "%s/data", root);
    mkdir(data, 0777);
    write_split("train", 200, 1);
    write_split("t10k", 50, 2);
    RUN(test_huge_weights_refused);
    RUN(test_divergence_stops);
    RUN(test_interrupt_cleans_up);
    RUN(test_locked_out_refused);
    RUN(test_targets_refused_before_training);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", root);
    TEST_END();
}
