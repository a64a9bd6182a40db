/* kernels_linear.c - fully connected forward and backward: register tiles of vector
 * dot products (forward) and of rows times vectors (backward), skipping inputs that
 * are exactly zero (the sums are unchanged).
 *
 * Legend: N batch, I inputs, O outputs.
 */
#include "kernels_internal.h"

static inline float relu1(float v) { return v > 0.0f ? v : 0.0f; }

#define LF_RN 4 /* images per forward tile */
#define LF_RO 6 /* outputs per forward tile */

/* y[r][o] for RN rows of x and LF_RO rows of w: vector dot products over i, lanes summed
 * pairwise, then the scalar tail, bias and ReLU. Rows past the end are clamped
 * (computed twice, stored once). */
static inline void lin_fwd_tile(float *y, const float *x, const float *w, const float *b,
                                size_t n0, size_t o0, size_t n, size_t in, size_t out,
                                int relu, const int RN)
{
    const float *xr[LF_RN], *wr[LF_RO];
    for (int r = 0; r < RN; r++)
        xr[r] = x + (n0 + (size_t)r < n ? n0 + (size_t)r : n0) * in;
    for (int c = 0; c < LF_RO; c++)
        wr[c] = w + (o0 + (size_t)c < out ? o0 + (size_t)c : o0) * in;
    vf acc[LF_RN][LF_RO];
    for (int r = 0; r < RN; r++)
        for (int c = 0; c < LF_RO; c++)
            acc[r][c] = vset1(0.0f);
    const size_t iv = in / VL * VL;
    for (size_t i = 0; i < iv; i += VL) {
        vf xv[LF_RN], any = vset1(0.0f);
        for (int r = 0; r < RN; r++) {
            xv[r] = vload(xr[r] + i);
            any = vor(any, xv[r]);
        }
        /* inputs of exactly +0 (most of a ReLU + pool output) add exact zeros: skip them
         * (the sums are bit-identical, and the same for every batch size) */
        if (vzero(any))
            continue;
        for (int c = 0; c < LF_RO; c++) {
            vf wv = vload(wr[c] + i);
            for (int r = 0; r < RN; r++)
                acc[r][c] = vfma(acc[r][c], xv[r], wv);
        }
    }
    for (int r = 0; r < RN; r++) {
        if (n0 + (size_t)r >= n)
            break;
        for (int c = 0; c < LF_RO; c++) {
            if (o0 + (size_t)c >= out)
                break;
            float s = vhsum(acc[r][c]);
            for (size_t i = iv; i < in; i++)
                s += xr[r][i] * wr[c][i];
            s += b ? b[o0 + c] : 0.0f;
            y[(n0 + r) * out + o0 + c] = relu ? relu1(s) : s;
        }
    }
}

typedef struct {
    float *y, *dx, *dw;
    const float *x, *w, *b, *dy;
    size_t n, in, out, nnb, nob, nitems;
    int relu;
    int dx_relu; /* backward: dx times [x > 0] (x is a ReLU output) */
    atomic_size_t next;
} lin_job;

static void lin_fwd_task(void *arg, size_t t)
{
    (void)t;
    lin_job *j = arg;
    for (;;) {
        size_t item = atomic_fetch_add_explicit(&j->next, 1, memory_order_relaxed);
        if (item >= j->nitems)
            break;
        /* item = (output block, image block): the w rows stay in cache across images */
        size_t ob = item / j->nnb, nb = item % j->nnb;
        size_t n0 = nb * LF_RN, o0 = ob * LF_RO, rn = j->n - n0;
        switch (rn >= 4 ? 4 : rn) {
        case 4: lin_fwd_tile(j->y, j->x, j->w, j->b, n0, o0, j->n, j->in, j->out, j->relu, 4); break;
        case 3: lin_fwd_tile(j->y, j->x, j->w, j->b, n0, o0, j->n, j->in, j->out, j->relu, 3); break;
        case 2: lin_fwd_tile(j->y, j->x, j->w, j->b, n0, o0, j->n, j->in, j->out, j->relu, 2); break;
        default: lin_fwd_tile(j->y, j->x, j->w, j->b, n0, o0, j->n, j->in, j->out, j->relu, 1); break;
        }
    }
}

void k_linear_forward(kctx *k, float *y, const float *x, const float *w, const float *b,
                      size_t n, size_t in, size_t out, int relu)
{
    if (n == 0 || out == 0)
        return;
    lin_job j;
    memset(&j, 0, sizeof j);
    j.y = y;
    j.x = x;
    j.w = w;
    j.b = b;
    j.n = n;
    j.in = in;
    j.out = out;
    j.relu = relu;
    j.nnb = (n + LF_RN - 1) / LF_RN;
    j.nob = (out + LF_RO - 1) / LF_RO;
    j.nitems = j.nnb * j.nob;
    atomic_init(&j.next, 0);
    run_slots(k, lin_fwd_task, &j, j.nitems);
}

#define LB_R 6  /* rows (images for dx, outputs for dw) per backward tile */
#define LB_NV 4 /* vectors of inputs per backward tile */
#define LB_COLS (LB_NV * VL)
#define LB_CAP_OUT 256 /* largest out for the masked dx path */

/* acc[r][v] = sum_{s < len} a[r*ars + s*ass] * bm[s*bs + v*16 ..], i.e. rows of
 * coefficients a times rows of bm; stored (or added if add) to dst[r*ds + v*16]. Rows
 * r >= nr are clamped to row 0 and not stored. */
static inline void lin_bwd_tile(float *dst, size_t ds, const float *a, size_t ars, size_t ass,
                                const float *bm, size_t bs, size_t len, size_t nr, int add,
                                const int NV, const int skip_zero)
{
    vf acc[LB_R][LB_NV];
    const float *ar[LB_R];
    for (int r = 0; r < LB_R; r++) {
        ar[r] = a + ((size_t)r < nr ? (size_t)r : 0) * ars;
        for (int v = 0; v < NV; v++)
            acc[r][v] = vset1(0.0f);
    }
    for (size_t s = 0; s < len; s++) {
        vf bv[LB_NV];
        for (int v = 0; v < NV; v++)
            bv[v] = vload(bm + s * bs + v * VL);
        if (skip_zero) {
            /* rows of exact +0 (ReLU outputs) add exact zeros: skip them */
            vf any = bv[0];
            for (int v = 1; v < NV; v++)
                any = vor(any, bv[v]);
            if (vzero(any))
                continue;
        }
        for (int r = 0; r < LB_R; r++) {
            vf av = vset1(ar[r][s * ass]);
            for (int v = 0; v < NV; v++)
                acc[r][v] = vfma(acc[r][v], av, bv[v]);
        }
    }
    for (int r = 0; r < LB_R && (size_t)r < nr; r++)
        for (int v = 0; v < NV; v++) {
            float *d = dst + r * ds + v * VL;
            vstore(d, add ? vadd(vload(d), acc[r][v]) : acc[r][v]);
        }
}

/* dx[m][i0 .. i0 + LB_COLS) = (sum_o dy[m][o] w[o][..]) * [x[m][..] > 0] for every
 * image m: rows whose inputs are all zero there get zeros without any arithmetic, the
 * others go through lin_bwd_tile in groups of LB_R (gathered), so each computed value
 * is the same as in the unmasked path. */
static void lin_bwd_dx_relu(const lin_job *j, size_t i0)
{
    const size_t n = j->n, in = j->in, out = j->out;
    float a[LB_R * LB_CAP_OUT], d[LB_R * LB_COLS];
    size_t act[LB_R], na = 0;
    for (size_t m = 0; m <= n; m++) {
        if (m < n) {
            const float *xr = j->x + m * in + i0;
            vf any = vload(xr);
            for (int v = 1; v < LB_NV; v++)
                any = vor(any, vload(xr + v * VL));
            if (vzero(any)) {
                memset(j->dx + m * in + i0, 0, LB_COLS * sizeof(float));
                continue;
            }
            memcpy(a + na * out, j->dy + m * out, out * sizeof(float));
            act[na++] = m;
            if (na < LB_R)
                continue;
        }
        if (na == 0)
            break;
        lin_bwd_tile(d, LB_COLS, a, out, 1, j->w + i0, in, out, na, 0, LB_NV, 0);
        for (size_t r = 0; r < na; r++) {
            const float *xr = j->x + act[r] * in + i0;
            float *dr = j->dx + act[r] * in + i0;
            for (int v = 0; v < LB_NV; v++)
                vstore(dr + v * VL, vkeep_positive(vload(d + r * LB_COLS + (size_t)v * VL),
                                                   vload(xr + v * VL)));
        }
        na = 0;
    }
}

static void lin_bwd_task(void *arg, size_t t)
{
    (void)t;
    lin_job *j = arg;
    const size_t n = j->n, in = j->in, out = j->out;
    for (;;) {
        size_t item = atomic_fetch_add_explicit(&j->next, 1, memory_order_relaxed);
        if (item >= j->nitems)
            break;
        size_t i0 = item * LB_COLS, i1 = i0 + LB_COLS < in ? i0 + LB_COLS : in;
        size_t iv = i0 + (i1 - i0) / VL * VL; /* end of whole vectors */
        /* dx[n][i] = sum_o dy[n][o] w[o][i] [* (x[n][i] > 0)] */
        if (j->dx && j->dx_relu && iv - i0 == LB_COLS && iv == i1 && out <= LB_CAP_OUT) {
            lin_bwd_dx_relu(j, i0);
        } else if (j->dx) {
            for (size_t n0 = 0; n0 < n; n0 += LB_R) {
                size_t nr = n - n0 < LB_R ? n - n0 : LB_R;
                const float *a = j->dy + n0 * out;
                if (iv - i0 == LB_COLS)
                    lin_bwd_tile(j->dx + n0 * in + i0, in, a, out, 1, j->w + i0, in, out, nr,
                                 0, LB_NV, 0);
                else
                    for (size_t i = i0; i < iv; i += VL)
                        lin_bwd_tile(j->dx + n0 * in + i, in, a, out, 1, j->w + i, in, out,
                                     nr, 0, 1, 0);
                for (size_t r = 0; r < nr; r++)
                    for (size_t i = iv; i < i1; i++) {
                        float s = 0.0f;
                        for (size_t o = 0; o < out; o++)
                            s += j->dy[(n0 + r) * out + o] * j->w[o * in + i];
                        j->dx[(n0 + r) * in + i] = s;
                    }
                if (j->dx_relu)
                    for (size_t r = 0; r < nr; r++)
                        for (size_t i = i0; i < i1; i++)
                            j->dx[(n0 + r) * in + i] =
                                keep_if_positive(j->dx[(n0 + r) * in + i], j->x[(n0 + r) * in + i]);
            }
        }
        /* dw[o][i] += sum_n dy[n][o] x[n][i] */
        if (j->dw) {
            for (size_t o0 = 0; o0 < out; o0 += LB_R) {
                size_t nr = out - o0 < LB_R ? out - o0 : LB_R;
                const float *a = j->dy + o0;
                if (iv - i0 == LB_COLS)
                    lin_bwd_tile(j->dw + o0 * in + i0, in, a, 1, out, j->x + i0, in, n, nr, 1,
                                 LB_NV, 1);
                else
                    for (size_t i = i0; i < iv; i += VL)
                        lin_bwd_tile(j->dw + o0 * in + i, in, a, 1, out, j->x + i, in, n, nr,
                                     1, 1, 1);
                for (size_t r = 0; r < nr; r++)
                    for (size_t i = iv; i < i1; i++) {
                        float s = 0.0f;
                        for (size_t m = 0; m < n; m++)
                            s += j->dy[m * out + o0 + r] * j->x[m * in + i];
                        j->dw[(o0 + r) * in + i] += s;
                    }
            }
        }
    }
}

static void linear_backward(kctx *k, float *dx, float *dw, float *db, const float *dy,
                            const float *x, const float *w, size_t n, size_t in, size_t out,
                            int dx_relu)
{
    if (n == 0)
        return;
    if (db)
        for (size_t o = 0; o < out; o++) {
            float s = 0.0f;
            for (size_t m = 0; m < n; m++)
                s += dy[m * out + o];
            db[o] += s;
        }
    if (!dx && !dw)
        return;
    lin_job j;
    memset(&j, 0, sizeof j);
    j.dx = dx;
    j.dw = dw;
    j.dy = dy;
    j.x = x;
    j.w = w;
    j.n = n;
    j.in = in;
    j.out = out;
    j.dx_relu = dx_relu;
    j.nitems = (in + LB_COLS - 1) / LB_COLS;
    atomic_init(&j.next, 0);
    run_slots(k, lin_bwd_task, &j, j.nitems);
}

void k_linear_backward(kctx *k, float *dx, float *dw, float *db, const float *dy,
                       const float *x, const float *w, size_t n, size_t in, size_t out)
{
    linear_backward(k, dx, dw, db, dy, x, w, n, in, out, 0);
}

void k_linear_relu_input_backward(kctx *k, float *dx, float *dw, float *db, const float *dy,
                                  const float *x, const float *w, size_t n, size_t in,
                                  size_t out)
{
    linear_backward(k, dx, dw, db, dy, x, w, n, in, out, 1);
}
