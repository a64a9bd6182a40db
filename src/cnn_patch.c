/* cnn_patch.c - the CNN's logits of a square change to a cached base image (see
 * cnn_patch.h).
 *
 * Legend: S = 28 image side, P = 14 pooled side, C1 = 32, C2 = 64, J = 12544 pooled
 * entries (C2, P, P), H = 128 hidden units, K = 10 classes.
 *
 * Geometry. A window range is the pool windows [pr0, pr1] x [pc0, pc1] (inclusive). A
 * square of side h at (r0, c0) changes conv2's output in rows [r0 - 2, r0 + h + 1]
 * (clipped to the image), so the pooled rows [floor((r0 - 2) / 2), floor((r0 + h + 1)
 * / 2)]; the same for columns. Over a window range the pass is:
 *
 *   a1 (R + 2, C + 2, C1) channels last: conv1 + ReLU at conv2's rows and columns
 *        grown by one; zero outside the image (conv2's padding)
 *   a2 (R, C, C2) channels last: conv2 + ReLU at the R = 2 (pr1 - pr0 + 1) rows and
 *        C = 2 (pc1 - pc0 + 1) columns of the windows
 *   p  the 2x2 maxima, channels last too: (P, P, C2), entry (pr, pc, c) at
 *        (pr P + pc) C2 + c (the model's own pooled layout is (C2, P, P))
 *
 * Channels last makes the inner loops run over the output channels with contiguous
 * weights (conv weights stored (tap, in, out)), which compilers vectorise.
 *
 * fc1: the run keeps W_fc1 transposed into the same order, Wt (P, P, C2, H), so each
 * changed pooled entry adds one contiguous row, and the rows of one window lie
 * together: u_new = u + sum_j (p_new[j] - p[j]) Wt[j], j ascending, entries that did
 * not change skipped. A base's u is kept in double, ud = b + sum_j p[j] Wt[j] when it
 * is set, then moved by the same sum in double on every accept; u is ud rounded to
 * float. So an accept costs a candidate's fc1 work (a recomputation from the whole
 * pooled vector would read most of the 6.4 MB of Wt), and the rounding of the float
 * sums does not accumulate over accepts: ud drifts from b + W_fc1 p by double
 * rounding only, still far below float precision after a million accepts.
 *
 * Threads: one task per worker thread, each with its own scratch; tasks take the
 * images of a call one at a time from a shared counter (so a thread the machine holds
 * back does not hold the others), and every image is computed in the same order
 * whichever task or thread takes it.
 */
#include "cnn_patch.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "checked.h"
#include "kernels.h"
#include "threadpool.h"

#define S CNN_SIDE
#define P (CNN_SIDE / 2)
#define C1 CNN_C1
#define C2 CNN_C2
#define J CNN_POOLED
#define H CNN_HIDDEN
#define K CNN_CLASSES

/* floats of one task's scratch: a1 (S + 2, S + 2, C1) and a2 (S, S, C2) at most */
#define A1_FLOATS ((S + 2) * (S + 2) * C1)
#define A2_FLOATS (S * S * C2)
#define TASK_FLOATS (A1_FLOATS + A2_FLOATS)

typedef struct {
    size_t pr0, pr1, pc0, pc1; /* pool windows, inclusive */
} win_range;

struct cnn_patch {
    cnn *m;
    threadpool *pool;
    size_t cap, tasks;
    float *w1t;     /* (9, C1) conv1 weights, tap-major */
    float *w2t;     /* (9, C1, C2) conv2 weights: w2t[tap][ci][co] = w[co][ci][tap] */
    float *wfc1t;   /* (P, P, C2, H) fc1 weights transposed, rows in p's order */
    float *p;       /* (cap, P, P, C2) pooled vector of each slot's base */
    double *ud;     /* (cap, H) fc1 pre-activation of each base, in double */
    float *u;       /* (cap, H) the same rounded to float */
    float *pn;      /* (cap, P, P, C2) candidates' pooled vectors (their windows only) */
    float *z;       /* (cap, K) logits of the last call */
    float *scratch; /* (tasks, TASK_FLOATS) */
    win_range *win; /* (cap) window range of each candidate of the last forward */
    uint32_t *cslot; /* (cap) slot of each candidate of the last forward */
    void *mem;       /* the one allocation all of the above live in */
};

/* ---- one image ------------------------------------------------------------------- */

static const win_range all_windows = {0, P - 1, 0, P - 1};

/* Pool windows whose conv2 outputs a square of side h at (r0, c0) changes. */
static win_range square_windows(size_t r0, size_t c0, size_t h)
{
    size_t rlo = r0 >= 2 ? r0 - 2 : 0, rhi = r0 + h + 1 < S ? r0 + h + 1 : S - 1;
    size_t clo = c0 >= 2 ? c0 - 2 : 0, chi = c0 + h + 1 < S ? c0 + h + 1 : S - 1;
    win_range w = {rlo / 2, rhi / 2, clo / 2, chi / 2};
    return w;
}

/* conv1 + ReLU at pixel (r, c) of x (S, S) into out (C1). */
static void conv1_pixel(const cnn_patch *cp, const float *x, size_t r, size_t c, float *out)
{
    const float *b = cp->m->conv1_b;
    for (size_t k = 0; k < C1; k++)
        out[k] = b[k];
    for (size_t dy = 0; dy < 3; dy++)
        for (size_t dx = 0; dx < 3; dx++) {
            /* input pixel (r + dy - 1, c + dx - 1); zero padding outside */
            if (r + dy < 1 || r + dy > S || c + dx < 1 || c + dx > S)
                continue;
            const float v = x[(r + dy - 1) * S + (c + dx - 1)];
            const float *w = cp->w1t + (dy * 3 + dx) * C1;
            for (size_t k = 0; k < C1; k++)
                out[k] += v * w[k];
        }
    for (size_t k = 0; k < C1; k++)
        out[k] = out[k] > 0.0f ? out[k] : 0.0f;
}

/* conv2 + ReLU at one pixel: in points at its top-left neighbour in a1 (rows of
 * stride a1_row floats, pixels of C1); out (C2). */
static void conv2_pixel(const cnn_patch *cp, const float *in, size_t a1_row, float *out)
{
    float acc[C2];
    const float *b = cp->m->conv2_b;
    for (size_t o = 0; o < C2; o++)
        acc[o] = b[o];
    for (size_t dy = 0; dy < 3; dy++)
        for (size_t dx = 0; dx < 3; dx++) {
            const float *a = in + dy * a1_row + dx * C1;
            const float *w = cp->w2t + (dy * 3 + dx) * C1 * C2;
            for (size_t ci = 0; ci < C1; ci++) {
                const float v = a[ci];
                if (v == 0.0f) /* ReLU output: adds nothing */
                    continue;
                const float *wc = w + ci * C2;
                for (size_t o = 0; o < C2; o++)
                    acc[o] += v * wc[o];
            }
        }
    for (size_t o = 0; o < C2; o++)
        out[o] = acc[o] > 0.0f ? acc[o] : 0.0f;
}

/* The pooled entries of the windows w of image x (S, S) into pn (P, P, C2; other
 * entries untouched). scratch: TASK_FLOATS. */
static void pool_windows(const cnn_patch *cp, const float *x, win_range w, float *pn,
                         float *scratch)
{
    const size_t ar0 = 2 * w.pr0, ac0 = 2 * w.pc0; /* first conv2 row and column */
    const size_t rows = 2 * (w.pr1 - w.pr0 + 1), cols = 2 * (w.pc1 - w.pc0 + 1);
    const size_t a1_row = (cols + 2) * C1; /* floats per a1 row */
    float *a1 = scratch, *a2 = scratch + A1_FLOATS;

    /* a1 (rows + 2, cols + 2, C1): a1[i][j] is conv1 at (ar0 + i - 1, ac0 + j - 1) */
    for (size_t i = 0; i < rows + 2; i++)
        for (size_t j = 0; j < cols + 2; j++) {
            float *o = a1 + i * a1_row + j * C1;
            if (ar0 + i < 1 || ar0 + i > S || ac0 + j < 1 || ac0 + j > S)
                memset(o, 0, C1 * sizeof *o);
            else
                conv1_pixel(cp, x, ar0 + i - 1, ac0 + j - 1, o);
        }
    /* a2 (rows, cols, C2): a2[i][j] is conv2 at (ar0 + i, ac0 + j) */
    for (size_t i = 0; i < rows; i++)
        for (size_t j = 0; j < cols; j++)
            conv2_pixel(cp, a1 + i * a1_row + j * C1, a1_row, a2 + (i * cols + j) * C2);
    /* 2x2 max pool */
    for (size_t pr = w.pr0; pr <= w.pr1; pr++)
        for (size_t pc = w.pc0; pc <= w.pc1; pc++) {
            const float *t = a2 + ((2 * (pr - w.pr0)) * cols + 2 * (pc - w.pc0)) * C2;
            const float *q[4] = {t, t + C2, t + cols * C2, t + cols * C2 + C2};
            float *out = pn + (pr * P + pc) * C2;
            for (size_t o = 0; o < C2; o++) {
                float v = q[0][o];
                for (size_t e = 1; e < 4; e++)
                    v = q[e][o] > v ? q[e][o] : v;
                out[o] = v;
            }
        }
}

/* ud (H) = b_fc1 + sum_j p[j] Wt[j] in double over the non-zero p[j], j ascending. */
static void fc1_full(const cnn_patch *cp, const float *p, double *ud)
{
    for (size_t o = 0; o < H; o++)
        ud[o] = cp->m->fc1_b[o];
    for (size_t j = 0; j < J; j++) {
        const double v = p[j];
        if (v == 0.0)
            continue;
        const float *wt = cp->wfc1t + j * H;
        for (size_t o = 0; o < H; o++)
            ud[o] += v * (double)wt[o];
    }
}

/* ud (H) += sum_j (pn[j] - p[j]) Wt[j] in double over the entries j of the windows w
 * (j ascending) that changed: fc1_full's sum up to double rounding, so the float
 * rounding of candidates' sums never accumulates over accepts. */
static void fc1_accept(const cnn_patch *cp, const float *p, const float *pn, win_range w,
                       double *ud)
{
    for (size_t pr = w.pr0; pr <= w.pr1; pr++)
        for (size_t j = (pr * P + w.pc0) * C2; j < (pr * P + w.pc1 + 1) * C2; j++) {
            const double d = (double)pn[j] - (double)p[j];
            if (d == 0.0)
                continue;
            const float *wt = cp->wfc1t + j * H;
            for (size_t h = 0; h < H; h++)
                ud[h] += d * (double)wt[h];
        }
}

/* u (H) = ud rounded to float */
static void to_float(const double *ud, float *u)
{
    for (size_t o = 0; o < H; o++)
        u[o] = (float)ud[o];
}

/* u (H) += sum_j (pn[j] - p[j]) Wt[j] over the entries j of the windows w (j
 * ascending) that changed. */
static void fc1_delta(const cnn_patch *cp, const float *p, const float *pn, win_range w,
                      float *u)
{
    for (size_t pr = w.pr0; pr <= w.pr1; pr++)
        for (size_t j = (pr * P + w.pc0) * C2; j < (pr * P + w.pc1 + 1) * C2; j++) {
            const float d = pn[j] - p[j];
            if (d == 0.0f)
                continue;
            const float *wt = cp->wfc1t + j * H;
            for (size_t h = 0; h < H; h++)
                u[h] += d * wt[h];
        }
}

/* z (K) = W_fc2 relu(u) + b_fc2 */
static void logits(const cnn_patch *cp, const float *u, float *z)
{
    float h[H];
    for (size_t o = 0; o < H; o++)
        h[o] = u[o] > 0.0f ? u[o] : 0.0f;
    for (size_t k = 0; k < K; k++) {
        const float *w = cp->m->fc2_w + k * H;
        float acc = cp->m->fc2_b[k];
        for (size_t o = 0; o < H; o++)
            acc += w[o] * h[o];
        z[k] = acc;
    }
}

/* ---- the tasks ------------------------------------------------------------------ */

typedef enum { JOB_SET, JOB_FORWARD, JOB_ACCEPT } job_kind;

typedef struct {
    cnn_patch *cp;
    job_kind kind;
    const float *x;        /* SET, FORWARD: (n, S * S) */
    const uint32_t *slot;  /* FORWARD */
    const uint32_t *rc;    /* FORWARD: (n, 2) */
    const uint32_t *ks;    /* ACCEPT: candidates */
    size_t side, n;
    atomic_size_t next;    /* the next image to take */
} patch_job;

static void job_item(const patch_job *jb, size_t k, float *scratch)
{
    cnn_patch *cp = jb->cp;
    if (jb->kind == JOB_SET) {
        float *p = cp->p + k * J, *u = cp->u + k * H;
        pool_windows(cp, jb->x + k * S * S, all_windows, p, scratch);
        fc1_full(cp, p, cp->ud + k * H);
        to_float(cp->ud + k * H, u);
        logits(cp, u, cp->z + k * K);
    } else if (jb->kind == JOB_FORWARD) {
        const size_t s = jb->slot[k];
        const win_range w = square_windows(jb->rc[2 * k], jb->rc[2 * k + 1], jb->side);
        float *pn = cp->pn + k * J;
        float u[H];
        pool_windows(cp, jb->x + k * S * S, w, pn, scratch);
        memcpy(u, cp->u + s * H, sizeof u);
        fc1_delta(cp, cp->p + s * J, pn, w, u);
        logits(cp, u, cp->z + k * K);
        cp->win[k] = w;
        cp->cslot[k] = (uint32_t)s;
    } else {
        const size_t c = jb->ks[k], s = cp->cslot[c];
        const win_range w = cp->win[c];
        float *p = cp->p + s * J;
        const float *pn = cp->pn + c * J;
        fc1_accept(cp, p, pn, w, cp->ud + s * H);
        to_float(cp->ud + s * H, cp->u + s * H);
        for (size_t pr = w.pr0; pr <= w.pr1; pr++) {
            const size_t at = (pr * P + w.pc0) * C2;
            memcpy(p + at, pn + at, (w.pc1 - w.pc0 + 1) * C2 * sizeof *p);
        }
    }
}

static void job_task(void *arg, size_t t)
{
    patch_job *jb = arg;
    float *scratch = jb->cp->scratch + t * TASK_FLOATS;
    for (;;) {
        const size_t k = atomic_fetch_add_explicit(&jb->next, 1, memory_order_relaxed);
        if (k >= jb->n)
            break;
        job_item(jb, k, scratch);
    }
}

static void run_job(cnn_patch *cp, patch_job *jb)
{
    atomic_init(&jb->next, 0);
    threadpool_run(cp->pool, job_task, jb, jb->n < cp->tasks ? jb->n : cp->tasks);
}

/* ---- the interface -------------------------------------------------------------- */

ms_status cnn_patch_open(cnn_patch **out, cnn *m, size_t cap, ms_err *err)
{
    *out = NULL;
    threadpool *pool = kctx_pool(m->k);
    const size_t tasks = threadpool_size(pool);
    /* floats: w1t, w2t, wfc1t, then per slot p, ud (2 H floats), u, pn, z, then the
     * task scratch (each part a multiple of 16 floats, so every part stays 64-byte
     * aligned); then win and cslot per slot */
    const size_t fixed = 9 * C1 + 9 * C1 * C2 + (size_t)J * H; /* multiples of 16 */
    const size_t per_slot = 2 * (size_t)J + 3 * H + 16; /* ud as 2 H, z padded to 16 */
    size_t floats, t, bytes, tail;
    if (cap == 0 || !size_mul(&floats, cap, per_slot) || !size_add(&floats, floats, fixed) ||
        !size_mul(&t, tasks, TASK_FLOATS) || !size_add(&floats, floats, t) ||
        !size_mul(&bytes, floats, sizeof(float)) ||
        !size_mul(&tail, cap, sizeof(win_range) + sizeof(uint32_t)) ||
        !size_add(&bytes, bytes, tail) || !size_add(&bytes, bytes, 63))
        return ms_fail(err, MS_EINTERNAL, "patch cache size for %zu images overflows", cap);
    cnn_patch *cp = calloc(1, sizeof *cp);
    float *q = cp ? aligned_alloc(64, bytes / 64 * 64) : NULL;
    if (!q) {
        free(cp);
        return ms_fail(err, MS_EINTERNAL, "out of memory allocating %zu bytes of patch caches",
                       bytes);
    }
    cp->m = m, cp->pool = pool, cp->cap = cap, cp->tasks = tasks, cp->mem = q;
    cp->w1t = q, q += 9 * C1;
    cp->w2t = q, q += 9 * C1 * C2;
    cp->wfc1t = q, q += (size_t)J * H;
    cp->p = q, q += cap * J;
    cp->ud = (double *)(void *)q, q += cap * 2 * H;
    cp->u = q, q += cap * H;
    cp->pn = q, q += cap * J;
    cp->z = q, q += cap * 16;
    cp->scratch = q, q += tasks * TASK_FLOATS;
    cp->win = (win_range *)(void *)q;
    cp->cslot = (uint32_t *)(void *)(cp->win + cap);

    /* conv1 (C1, 1, 3, 3) -> (9, C1); conv2 (C2, C1, 3, 3) -> (9, C1, C2); fc1 (H, C2,
     * P, P) -> (P, P, C2, H) */
    for (size_t k = 0; k < C1; k++)
        for (size_t tap = 0; tap < 9; tap++)
            cp->w1t[tap * C1 + k] = m->conv1_w[k * 9 + tap];
    for (size_t o = 0; o < C2; o++)
        for (size_t ci = 0; ci < C1; ci++)
            for (size_t tap = 0; tap < 9; tap++)
                cp->w2t[(tap * C1 + ci) * C2 + o] = m->conv2_w[(o * C1 + ci) * 9 + tap];
    for (size_t h = 0; h < H; h++)
        for (size_t o = 0; o < C2; o++)
            for (size_t pix = 0; pix < P * P; pix++)
                cp->wfc1t[(pix * C2 + o) * H + h] = m->fc1_w[h * J + o * P * P + pix];
    *out = cp;
    return MS_OK;
}

void cnn_patch_close(cnn_patch *cp)
{
    if (!cp)
        return;
    free(cp->mem);
    free(cp);
}

const float *cnn_patch_set(cnn_patch *cp, const float *x, size_t n)
{
    patch_job jb = {.cp = cp, .kind = JOB_SET, .x = x, .n = n};
    run_job(cp, &jb);
    return cp->z;
}

const float *cnn_patch_forward(cnn_patch *cp, const float *x, const uint32_t *slot,
                               const uint32_t *rc, size_t side, size_t n)
{
    patch_job jb = {.cp = cp, .kind = JOB_FORWARD, .x = x, .slot = slot, .rc = rc,
                    .side = side, .n = n};
    run_job(cp, &jb);
    return cp->z;
}

void cnn_patch_accept(cnn_patch *cp, const uint32_t *ks, size_t count)
{
    patch_job jb = {.cp = cp, .kind = JOB_ACCEPT, .ks = ks, .n = count};
    run_job(cp, &jb);
}
