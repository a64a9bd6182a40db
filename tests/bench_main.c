/* bench_main.c - speed of the network's workloads with the fast kernels (make bench).
 *
 *   training step     forward + softmax cross-entropy + backward + Adam, batch 64 and 128
 *   inference         forward of 1000 images (in chunks of BENCH_CHUNK, the model's
 *                     capacity)
 *   FGSM gradient     forward + backward to the input, no parameter gradients, 1000 images
 *   latency           forward of one image
 *   pgd40_attack      PGD-40 (attack_pgd through attack_run, as the evaluation runs it):
 *                     eps 0.3, step 0.01, random start, every image takes all 40 steps
 *                     (keep_going), batches of 100 (the evaluation batch), 1000 images
 *   pgd7_advtrain     PGD-7 adversarial training (advtrain_run, method pgd): eps 0.3, 7
 *                     steps of advtrain's default size 2.5 eps / 7, random start, the
 *                     step on the adversarial batch alone, Adam 1e-3, batch 64, 12 batches
 *   trades7_advtrain  TRADES adversarial training (advtrain_run, method trades): per
 *                     batch of 64 a forward of the clean batch, then 7 steps (as for
 *                     PGD-7; the method's default is 10) of advtrain's default size
 *                     2.5 eps / 7 ascending KL(p(x) || p(x')) from x + U(-0.001, 0.001),
 *                     eps 0.3; then one step on the clean and adversarial halves
 *                     together (128 images), loss CE(clean) + 6 KL (beta 6, the CLI's
 *                     default), Adam 1e-3, 12 batches
 *
 * For each thread count (default: 1 and 2) every workload runs once to warm up, then
 * `--runs` times (default 5); the median images/s is reported, with GFLOP/s from the
 * per-image operation counts below. Those are the counts of direct convolution and
 * dense matrix products (what PyTorch executes); the Winograd forward and the sparse
 * backward through the pool do less arithmetic, so their GFLOP/s are "effective"
 * rates and can exceed the machine's peak. Results go to stdout as a table and to
 * results/bench.csv (written atomically: header, LF line ends, %.9g). Its columns
 * torch_images_per_s and ratio (ours / PyTorch's images/s) are left empty here and
 * filled in by scripts/bench.sh when PyTorch runs; revision is the source revision
 * (--revision, default the one compiled into the library).
 *
 * Usage: bench_main [--threads LIST] [--runs N] [--out PATH] [--quick] [--kernels]
 *                   [--workloads NAMES] [--revision REV]
 *   LIST is comma-separated, e.g. 1,2; NAMES too (default: all workloads).
 *   --quick: fewer calls per run (a smoke test of the harness, not a measurement).
 *   --kernels: instead, the process CPU time of each kernel and of whole steps at batch
 *   64 (minimum of the runs): robust on a shared machine, where wall-clock times are
 *   not. With more than one thread it includes the workers' time, spinning included.
 *
 * The network is cnn.c's (fast path), the optimiser optim.c's Adam, the attack and the
 * adversarial training the library's own (attack.h, advtrain.h). Every workload runs on
 * the same synthetic images; no PGD example stops early (TRADES's KL attack has no
 * early stop), so the adversarial workloads do the same number of steps whichever
 * images the model gets right.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "advtrain.h"
#include "attack.h"
#include "build_info.h"
#include "cnn.h"
#include "dataset.h"
#include "fileio.h"
#include "kernels.h"
#include "layers.h"
#include "optim.h"
#include "results.h"
#include "rng.h"

#define PIX CNN_PIXELS
#define C1 CNN_C1
#define C2 CNN_C2
#define POOLED CNN_POOLED
#define HID CNN_HIDDEN
#define CLS CNN_CLASSES
#define BENCH_CHUNK 125 /* images per forward in the 1000-image workloads */
#define MAX_BATCH 128
#define N_IMAGES 1000   /* synthetic images */
#define PGD_BATCH 100   /* the evaluation batch of modes.c and robust_eval.c */
#define PGD_STEPS 40
#define ADV_BATCH 64    /* advtrain's default batch */
#define ADV_STEPS 7
#define EPS 0.3f

/* Floating-point operations per image (multiply-add = 2). */
#define FLOP_CONV1 (2.0 * C1 * PIX * 9)
#define FLOP_CONV2 (2.0 * C2 * PIX * C1 * 9)
#define FLOP_FC1 (2.0 * POOLED * HID)
#define FLOP_FC2 (2.0 * HID * CLS)
#define FLOP_FWD (FLOP_CONV1 + FLOP_CONV2 + FLOP_FC1 + FLOP_FC2)
/* backward: dw for every layer, dx for all but conv1 */
#define FLOP_TRAIN (FLOP_FWD + FLOP_FWD + FLOP_CONV2 + FLOP_FC1 + FLOP_FC2)
/* input gradient: dx for every layer, conv1's included */
#define FLOP_FGSM (FLOP_FWD + FLOP_FWD)
/* PGD: an input gradient per step, then a forward to score the result */
#define FLOP_PGD40 (PGD_STEPS * FLOP_FGSM + FLOP_FWD)
/* PGD-7 adversarial training: the attack's input gradients, then a training step on
 * its batch (attack_pgd's forward that scores the result is not counted: PyTorch's
 * loop has none) */
#define FLOP_ADV7 (ADV_STEPS * FLOP_FGSM + FLOP_TRAIN)
/* TRADES-7 adversarial training, per clean image of the batch (images/s counts the
 * clean images, as for PGD-7): the KL attack's forward of the clean image (its
 * probabilities, once), 7 input gradients of the KL at the adversarial image, then a
 * training step on the clean image and its adversarial copy together (the loss's
 * softmax and KL in doubles are not counted) */
#define FLOP_TRADES7 (FLOP_FWD + ADV_STEPS * FLOP_FGSM + 2 * FLOP_TRAIN)

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void *xcalloc(size_t count, size_t size)
{
    void *p = calloc(count ? count : 1, size);
    if (!p) {
        fprintf(stderr, "bench: out of memory\n");
        exit(70);
    }
    return p;
}

/* The model (cnn.c, fast path), its optimiser, and the PGD attack's workspace and
 * outputs for one batch of PGD_BATCH. */
typedef struct {
    cnn *m;
    adam opt;
    float dz[MAX_BATCH * CLS];
    attack_model am;
    attack_ws ws;
    float *x_adv;              /* (PGD_BATCH, PIX) */
    float loss[PGD_BATCH];
    uint8_t correct[PGD_BATCH];
} net;

static net *net_create(size_t nthreads, uint64_t seed)
{
    net *n = xcalloc(1, sizeof *n);
    ms_err err;
    if (cnn_create(&n->m, MAX_BATCH, nthreads, &err) != MS_OK ||
        adam_create(&n->opt, n->m->nparams, 1e-3, &err) != MS_OK ||
        attack_ws_create(&n->ws, PGD_BATCH, PIX, CLS, &err) != MS_OK) {
        fprintf(stderr, "bench: %s\n", err.msg);
        exit(70);
    }
    cnn_init(n->m, seed);
    cnn_zero_grads(n->m);
    n->am = cnn_attack_model(n->m);
    n->x_adv = xcalloc(PGD_BATCH * PIX, sizeof(float));
    return n;
}

static void net_destroy(net *n)
{
    free(n->x_adv);
    attack_ws_free(&n->ws);
    adam_free(&n->opt);
    cnn_destroy(n->m);
    free(n);
}

static const float *forward(net *n, const float *x, size_t b) { return cnn_forward(n->m, x, b); }

static double train_step(net *n, const float *x, const uint8_t *y, size_t b)
{
    const float *z = cnn_forward(n->m, x, b);
    double loss = softmax_xent(n->dz, z, y, b, CLS, b);
    cnn_backward(n->m, n->dz, NULL, 1);
    adam_step(&n->opt, n->m->params, n->m->grads, kctx_pool(n->m->k));
    return loss;
}

/* ---- workloads ---------------------------------------------------------------------- */

typedef struct {
    const char *name;
    size_t batch;  /* images per call */
    double flop;   /* per image */
    int kind;      /* 0 train, 1 inference, 2 fgsm, 3 latency, 4 pgd, 5 advtrain */
    size_t calls;  /* per timed run */
    const char *method; /* kind 5: advtrain's method */
} workload;

static float *g_x;          /* N_IMAGES images */
static uint8_t *g_y;        /* their labels */
static uint32_t *g_ids;     /* 0, 1, ..., N_IMAGES - 1 */
static float *g_dx;         /* N_IMAGES input gradients */
static volatile float g_sink;

static void die(const ms_err *err)
{
    fprintf(stderr, "bench: %s\n", err->msg);
    exit(70);
}

/* PGD-40 on images [off, off + PGD_BATCH), as the evaluation runs it. */
static void pgd_call(net *m, size_t off)
{
    attack_params p = attack_params_default(EPS, 1);
    p.steps = PGD_STEPS;
    p.keep_going = 1; /* all 40 steps for every image, as PyTorch's loop takes them */
    attack_batch b = {g_x + off * PIX, g_y + off, g_ids + off, PGD_BATCH};
    attack_out o = {m->x_adv, m->loss, m->correct};
    ms_err err;
    if (attack_run(attack_find("pgd"), &m->am, &b, &p, &m->ws, &o, NULL, &err) != MS_OK)
        die(&err);
    g_sink += m->loss[0];
}

/* Adversarial training by method (advtrain.c: "pgd", "trades") with ADV_STEPS steps
 * of the method's default size, one epoch over the first batches * ADV_BATCH images. */
static void advtrain_calls(net *m, const char *method, size_t batches)
{
    dataset ds = {.n = batches * ADV_BATCH, .rows = 28, .cols = 28, .pixels_f32 = g_x,
                  .labels = g_y};
    const adv_method *am = adv_method_find(method);
    if (!am) {
        fprintf(stderr, "bench: no adversarial training method %s\n", method);
        exit(70);
    }
    advtrain_opts o = {.method = am,
                       .eps = EPS,
                       .steps = ADV_STEPS,
                       .trades_beta = 6.0, /* the CLI's default; read by trades alone */
                       .epochs = 1,
                       .batch_size = ADV_BATCH,
                       .lr = 1e-3,
                       .schedule = LR_CONSTANT,
                       .seed = 1,
                       .shuffle_stream = RNG_STREAM_SHUFFLE,
                       .quiet = 1};
    csv_table log;
    table_init(&log, "training_log.csv", ADVTRAIN_LOG_NCOLS, advtrain_log_columns);
    static advtrain_result res;
    ms_err err;
    if (advtrain_run(m->m, &ds, &o, &log, NULL, &res, &err) != MS_OK)
        die(&err);
    table_free(&log);
    g_sink += (float)res.epoch_loss[0];
}

static void run_calls(net *m, const workload *w, size_t calls)
{
    for (size_t c = 0; c < calls; c++) {
        switch (w->kind) {
        case 0: {
            size_t off = (c * w->batch) % (N_IMAGES - w->batch);
            g_sink += (float)train_step(m, g_x + off * PIX, g_y + off, w->batch);
            break;
        }
        case 1:
            for (size_t lo = 0; lo < w->batch; lo += BENCH_CHUNK)
                g_sink += forward(m, g_x + lo * PIX, BENCH_CHUNK)[0];
            break;
        case 4:
            pgd_call(m, (c * w->batch) % N_IMAGES);
            break;
        case 5:
            advtrain_calls(m, w->method, calls); /* one epoch of `calls` batches */
            return;
        case 2:
            for (size_t lo = 0; lo < w->batch; lo += BENCH_CHUNK) {
                const float *z = forward(m, g_x + lo * PIX, BENCH_CHUNK);
                (void)softmax_xent(m->dz, z, g_y + lo, BENCH_CHUNK, CLS, BENCH_CHUNK);
                cnn_backward(m->m, m->dz, g_dx + lo * PIX, 0);
                g_sink += g_dx[lo * PIX + 300];
            }
            break;
        default:
            g_sink += forward(m, g_x + (c % N_IMAGES) * PIX, 1)[0];
            break;
        }
    }
}

/* Whether name is one of the comma-separated names of list. */
static int name_in_list(const char *name, const char *list)
{
    size_t len = strlen(name);
    for (const char *s = list; *s;) {
        size_t l = strcspn(s, ",");
        if (l == len && !strncmp(s, name, len))
            return 1;
        s += l + (s[l] == ',');
    }
    return 0;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

typedef struct {
    const char *name;
    size_t threads, batch;
    double ips, gflops, ms_per_call, lo, hi;
} result;

static double cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static float *frand(rng_t *r, size_t len, float lo, float hi)
{
    float *v = xcalloc(len, sizeof(float));
    for (size_t i = 0; i < len; i++)
        v[i] = rng_range(r, lo, hi);
    return v;
}

/* Minimum process CPU time of runs calls of STMT, after one warm-up call. */
#define KTIME(label, flop, STMT)                                                          \
    do {                                                                                  \
        STMT;                                                                             \
        double best = 1e30;                                                               \
        for (int rr_ = 0; rr_ < runs; rr_++) {                                            \
            double c0_ = cpu_now();                                                       \
            STMT;                                                                         \
            double c_ = cpu_now() - c0_;                                                  \
            best = c_ < best ? c_ : best;                                                 \
        }                                                                                 \
        printf("%-28s %7zu %10.3f %10.1f\n", label, nt, 1e3 * best,                      \
               (flop) > 0 ? (flop) / best * 1e-9 : 0.0);                                  \
    } while (0)

/* Per-kernel CPU time at batch B = 64 on random data of the network's shapes. */
static void bench_kernels(const size_t *threads, size_t nthr, int runs)
{
    const size_t B = 64;
    printf("%-28s %7s %10s %10s\n", "kernel (batch 64)", "threads", "cpu ms", "GFLOP/s");
    for (size_t ti = 0; ti < nthr; ti++) {
        const size_t nt = threads[ti];
        net *m = net_create(nt, 1);
        kctx *k = m->m->k;
        rng_t r;
        rng_init(&r, 11, RNG_STREAM_SHUFFLE);
        float *x = frand(&r, B * PIX, 0.0f, 1.0f), *a1 = frand(&r, B * C1 * PIX, -0.5f, 0.5f);
        float *a2 = frand(&r, B * C2 * PIX, -0.5f, 0.5f), *p = frand(&r, B * POOLED, -0.5f, 0.5f);
        float *dp = frand(&r, B * POOLED, -0.5f, 0.5f), *da1 = frand(&r, B * C1 * PIX, -0.5f, 0.5f);
        float *dx = xcalloc(B * PIX, sizeof(float)), *h = frand(&r, B * HID, -0.5f, 0.5f);
        float *dh = frand(&r, B * HID, -0.5f, 0.5f);
        uint32_t *am = xcalloc(B * POOLED, sizeof(uint32_t));
        uint8_t *y = xcalloc(B, 1);
        for (size_t i = 0; i < B; i++)
            y[i] = (uint8_t)rng_below(&r, CLS);
        cnn *c = m->m;
        KTIME("conv1 fwd+relu", B * FLOP_CONV1,
              k_conv3x3_forward(k, a1, x, c->conv1_w, c->conv1_b, B, 1, C1, 28, 28, 1));
        KTIME("conv2 fwd+relu+pool", B * FLOP_CONV2,
              k_conv3x3_relu_maxpool_forward(k, a2, p, am, a1, c->conv2_w, c->conv2_b, B, C1, C2, 28, 28, 0));
        KTIME("fc1 fwd+relu", B * FLOP_FC1,
              k_linear_forward(k, h, p, c->fc1_w, c->fc1_b, B, POOLED, HID, 1));
        KTIME("fc1 bwd dx+dw", 2 * B * FLOP_FC1,
              k_linear_relu_input_backward(k, dp, c->gfc1_w, c->gfc1_b, dh, p, c->fc1_w, B, POOLED,
                                           HID));
        KTIME("conv2 bwd (pool,relu) dx+dw", 2 * B * FLOP_CONV2,
              k_conv3x3_relu_maxpool_backward(k, da1, c->gconv2_w, c->gconv2_b, dp, am, p, a1, c->conv2_w, B,
                                              C1, C2, 28, 28));
        KTIME("conv2 bwd (pool,relu) dx", B * FLOP_CONV2,
              k_conv3x3_relu_maxpool_backward(k, da1, NULL, NULL, dp, am, p, a1, c->conv2_w, B, C1,
                                              C2, 28, 28));
        KTIME("conv1 bwd (relu) dw", B * FLOP_CONV1,
              k_conv3x3_relu_backward(k, NULL, c->gconv1_w, c->gconv1_b, da1, a1, x, c->conv1_w, B, 1, C1, 28,
                                      28));
        KTIME("conv1 bwd (relu) dx", B * FLOP_CONV1,
              k_conv3x3_relu_backward(k, dx, NULL, NULL, da1, a1, x, c->conv1_w, B, 1, C1, 28, 28));
        KTIME("adam", 0.0, adam_step(&m->opt, c->params, c->grads, kctx_pool(k)));
        KTIME("step: train", B * FLOP_TRAIN, (void)train_step(m, x, y, B));
        KTIME("step: forward", B * FLOP_FWD, (void)forward(m, x, B));
        KTIME("step: fgsm input gradient", B * FLOP_FGSM,
              ((void)forward(m, x, B), (void)softmax_xent(m->dz, c->z, y, B, CLS, B),
               cnn_backward(c, m->dz, dx, 0)));
        KTIME("step: forward, 1 image", FLOP_FWD, (void)forward(m, x, 1));
        free(x), free(a1), free(a2), free(p), free(dp), free(da1), free(dx), free(h), free(dh);
        free(am), free(y);
        net_destroy(m);
    }
}

int main(int argc, char **argv)
{
    size_t threads[8] = {1, 2}, nthr = 2;
    int runs = 5, quick = 0, kernels = 0;
    const char *out = "results/bench.csv", *only = NULL, *revision = build_revision();
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--threads") && i + 1 < argc) {
            nthr = 0;
            char *s = argv[++i], *end;
            while (*s && nthr < 8) {
                long v = strtol(s, &end, 10);
                if (end == s || v < 1 || v > 256) {
                    fprintf(stderr, "bench: bad --threads list\n");
                    return 64;
                }
                threads[nthr++] = (size_t)v;
                s = *end == ',' ? end + 1 : end;
                if (*end && *end != ',') {
                    fprintf(stderr, "bench: bad --threads list\n");
                    return 64;
                }
            }
        } else if (!strcmp(argv[i], "--runs") && i + 1 < argc) {
            char *end;
            long v = strtol(argv[++i], &end, 10);
            if (*end || v < 3 || v > 100) {
                fprintf(stderr, "bench: --runs must be 3..100\n");
                return 64;
            }
            runs = (int)v;
        } else if (!strcmp(argv[i], "--out") && i + 1 < argc) {
            out = argv[++i];
        } else if (!strcmp(argv[i], "--workloads") && i + 1 < argc) {
            only = argv[++i];
        } else if (!strcmp(argv[i], "--revision") && i + 1 < argc) {
            revision = argv[++i];
        } else if (!strcmp(argv[i], "--quick")) {
            quick = 1;
        } else if (!strcmp(argv[i], "--kernels")) {
            kernels = 1;
        } else if (!strcmp(argv[i], "--help")) {
            printf("usage: bench_main [--threads 1,2] [--runs N] [--out PATH] [--quick] "
                   "[--kernels] [--workloads NAME,...] [--revision REV]\n");
            return 0;
        } else {
            fprintf(stderr, "bench: unknown argument %s (see --help)\n", argv[i]);
            return 64;
        }
    }

    if (kernels) {
        bench_kernels(threads, nthr, runs);
        return 0;
    }

    if (only && !*only) {
        fprintf(stderr, "bench: --workloads needs at least one name\n");
        return 64;
    }
    /* the revision goes into a CSV field as is */
    if (!*revision || strpbrk(revision, ",\"\r\n")) {
        fprintf(stderr, "bench: --revision must be non-empty, without commas, quotes or "
                        "line breaks\n");
        return 64;
    }

    /* synthetic images in [0, 1] with MNIST-like sparsity, random labels */
    float *x = xcalloc(N_IMAGES * PIX, sizeof(float));
    uint8_t *y = xcalloc(N_IMAGES, 1);
    g_ids = xcalloc(N_IMAGES, sizeof(uint32_t));
    g_dx = xcalloc(N_IMAGES * PIX, sizeof(float));
    rng_t r;
    rng_init(&r, 7, RNG_STREAM_SHUFFLE);
    for (size_t i = 0; i < N_IMAGES * PIX; i++) {
        float u = rng_uniform(&r);
        x[i] = u < 0.8f ? 0.0f : rng_uniform(&r);
    }
    for (size_t i = 0; i < N_IMAGES; i++) {
        y[i] = (uint8_t)rng_below(&r, CLS);
        g_ids[i] = (uint32_t)i;
    }
    g_x = x;
    g_y = y;

    const workload all[] = {
        {"train", 64, FLOP_TRAIN, 0, quick ? 3 : 8, NULL},
        {"train", 128, FLOP_TRAIN, 0, quick ? 2 : 4, NULL},
        {"inference", N_IMAGES, FLOP_FWD, 1, 1, NULL},
        {"fgsm_input_grad", N_IMAGES, FLOP_FGSM, 2, 1, NULL},
        {"latency", 1, FLOP_FWD, 3, quick ? 50 : 200, NULL},
        {"pgd40_attack", PGD_BATCH, FLOP_PGD40, 4, quick ? 2 : N_IMAGES / PGD_BATCH, NULL},
        {"pgd7_advtrain", ADV_BATCH, FLOP_ADV7, 5, quick ? 3 : 12, "pgd"},
        {"trades7_advtrain", ADV_BATCH, FLOP_TRADES7, 5, quick ? 3 : 12, "trades"},
    };
    const size_t nall = sizeof all / sizeof all[0];
    /* the workloads named by --workloads (every name must be known), else all */
    workload wl[sizeof all / sizeof all[0]];
    size_t nwl = 0;
    for (size_t i = 0; i < nall; i++)
        if (!only || name_in_list(all[i].name, only))
            wl[nwl++] = all[i];
    for (const char *s = only; s && *s;) {
        size_t len = strcspn(s, ",");
        int known = 0;
        for (size_t i = 0; i < nall; i++)
            known |= strlen(all[i].name) == len && !strncmp(all[i].name, s, len);
        if (!known) {
            fprintf(stderr, "bench: unknown workload '%.*s' in --workloads\n", (int)len, s);
            return 64;
        }
        s += len + (s[len] == ',');
    }
    result res[8 * (sizeof all / sizeof all[0])];
    size_t nres = 0;
    double times[100];
    printf("%-16s %7s %6s %12s %10s %9s %14s\n", "workload", "threads", "batch", "images/s",
           "ms/call", "GFLOP/s", "range img/s");
    for (size_t ti = 0; ti < nthr; ti++) {
        net *m = net_create(threads[ti], 1);
        for (size_t wi = 0; wi < nwl; wi++) {
            const workload *w = &wl[wi];
            run_calls(m, w, w->kind == 3 ? 20 : 1); /* warm-up */
            for (int rr = 0; rr < runs; rr++) {
                double t0 = now();
                run_calls(m, w, w->calls);
                times[rr] = now() - t0;
            }
            qsort(times, (size_t)runs, sizeof times[0], cmp_double);
            double med = times[runs / 2];
            double imgs = (double)(w->batch * w->calls);
            result *q = &res[nres++];
            q->name = w->name;
            q->threads = threads[ti];
            q->batch = w->batch;
            q->ips = imgs / med;
            q->gflops = q->ips * w->flop * 1e-9;
            q->ms_per_call = 1e3 * med / (double)w->calls;
            q->lo = imgs / times[runs - 1];
            q->hi = imgs / times[0];
            printf("%-16s %7zu %6zu %12.1f %10.3f %9.1f %6.0f-%-7.0f\n", q->name, q->threads,
                   q->batch, q->ips, q->ms_per_call, q->gflops, q->lo, q->hi);
            fflush(stdout);
        }
        net_destroy(m);
    }

    outset os;
    ms_err err;
    FILE *fp;
    outset_init(&os);
    if (outset_open(&os, out, &fp, &err) != MS_OK) {
        fprintf(stderr, "bench: %s\n", err.msg);
        return 73;
    }
    fprintf(fp, "workload,threads,batch,images_per_s,ms_per_call,gflops,images_per_s_min,"
                "images_per_s_max,torch_images_per_s,ratio,revision\n");
    for (size_t i = 0; i < nres; i++)
        fprintf(fp, "%s,%zu,%zu,%.9g,%.9g,%.9g,%.9g,%.9g,,,%s\n", res[i].name, res[i].threads,
                res[i].batch, res[i].ips, res[i].ms_per_call, res[i].gflops, res[i].lo,
                res[i].hi, revision);
    if (outset_commit(&os, &err) != MS_OK) {
        fprintf(stderr, "bench: %s\n", err.msg);
        return 74;
    }
    fprintf(stderr, "bench: wrote %s\n", out);
    free(x);
    free(y);
    free(g_ids);
    free(g_dx);
    return 0;
}
