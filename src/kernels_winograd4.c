/* kernels_winograd4.c - conv + ReLU + 2x2 max pool forward by Winograd F(4x4, 3x3),
 * for shapes whose sides are multiples of 4 (conv2 of the network: 32 -> 64 channels,
 * 28x28). One 4x4 output tile holds four pool windows; bias, ReLU, the pool and its
 * argmax are applied in registers. kernels_winograd.c chooses this path when
 * kint_wg4_fits says so, else its F(2x2, 3x3) path or the direct conv.
 *
 * Legend: N batch, C channels (Ci in, Co out), H height, W width, Ci' and Co' = Ci and
 * Co rounded up to 16, T tiles of an image ((H/4) * (W/4), row-major), RT tiles per
 * block (a register block of the GEMMs), xi the 36 elements of a 6x6 transformed tile,
 * P = (H/2) * (W/2) pooled positions.
 */
#include "kernels_internal.h"

/* Each 4x4 block of conv outputs is one tile: 6x6 inputs d (rows 4ty-1 .. 4ty+4,
 * columns 4tx-1 .. 4tx+4), transformed V = B^T d B, times the transformed kernel
 * U = G g G^T elementwise and summed over input channels (36 GEMMs, one per element
 * xi: M_xi (T, Co) = V_xi (T, Ci) U_xi (Ci, Co)), then Y = A^T M A gives the 4x4
 * outputs. Interpolation points 0, 1, -1, 2, -2 and infinity:
 *   B^T = [4  0 -5  0 1 0]   G = [ 1/4     0    0 ]   A^T = [1 1  1 1  1 0]
 *         [0 -4 -4  1 1 0]       [-1/6  -1/6 -1/6 ]         [0 1 -1 2 -2 0]
 *         [0  4 -4 -1 1 0]       [-1/6   1/6 -1/6 ]         [0 1  1 4  4 0]
 *         [0 -2 -1  2 1 0]       [ 1/24 1/12  1/6 ]         [0 1 -1 8 -8 1]
 *         [0  2 -1 -2 1 0]       [ 1/24 -1/12 1/6 ]
 *         [0  4  0 -5 0 1]       [ 0     0    1   ]
 * That is 36 multiply-adds per 16 outputs and input channel, against 64 for F(2x2)
 * and 144 for the direct conv. The larger transforms round more: against the exact
 * conv, the worst errors seen are about 50 units of 2^-24 times the sum of the
 * magnitudes of an output's terms, against 3 for F(2x2) and the direct conv
 * (tests/test_kernels.c).
 *
 * Vectorised over channels: the input is first copied channel-last (padded, Ci'
 * floats per position), so the input transform of a tile works on 16 input channels
 * per vector; the GEMMs keep a block of RT = 7 tiles (one tile row of a 28-wide image)
 * times up to 4 vectors of 16 output channels in 28 accumulators, each U row loaded
 * once per input channel and each V element broadcast; the output transform, bias,
 * ReLU and pool work on 16 output channels per vector, into channel-last staging
 * buffers that are copied to the (N, Co, ...) outputs once the image is done.
 *
 * Ties: outputs whose 3x3 input patches are identical (constant regions, common in
 * MNIST's background) get the same bits from the direct conv, so the pool picks the
 * first of them; the Winograd sums differ per output and would break such ties by
 * rounding, moving the gradient within the window. The patches are compared once per
 * image (wg4_ties) and each output of a window whose patch equals an earlier one's
 * takes that value, which keeps the direct conv's choice.
 *
 * Determinism: each output element is computed inside one item (an image, or a range
 * of its output channel vectors when there are fewer images than threads), lane by
 * lane in the same order whatever the range, so the split never changes a result. */
#ifdef HAVE_VECTOR_POOL
#define WG4_HAVE 1
#endif

#define WG4_RT 7 /* tiles per GEMM register block */
#define WG4_NX 36

/* Floats of task scratch for one image: channel-last padded input, V and M of one
 * block, staging of the pooled values, their argmax and (keep_y) the conv output. */
size_t kint_wg4_task_need(size_t ci, size_t co, size_t h, size_t w)
{
    const size_t cip = round_up(ci, VL), cop = round_up(co, VL);
    return round_up((h + 2) * (w + 2) * cip, VL) + WG4_NX * WG4_RT * cip +
           WG4_NX * WG4_RT * cop + 2 * (h / 2) * (w / 2) * cop + h * w * cop;
}

int kint_wg4_fits(const kctx *k, size_t ci, size_t co, size_t h, size_t w)
{
#ifdef WG4_HAVE
    if (h < 4 || w < 4 || h % 4 || w % 4 || ci == 0 || co == 0 || ci > CAP_C ||
        co > CAP_C || h > CAP_SIDE || w > CAP_SIDE)
        return 0;
    return WG4_NX * ci * round_up(co, VL) <= k->wgu_floats &&
           kint_wg4_task_need(ci, co, h, w) <= k->task_floats;
#else
    (void)k, (void)ci, (void)co, (void)h, (void)w;
    return 0;
#endif
}

#ifdef WG4_HAVE

/* U[xi][c][o] = (G g G^T)[xi] of w[o][c] (zero for o >= Co), in double.
 * u: (36, Ci, Co')  w: (Co, Ci, 3, 3) */
static void wg4_weights(float *restrict u, const float *restrict w, size_t ci, size_t co)
{
    static const double G[6][3] = {{0.25, 0.0, 0.0},
                                   {-1.0 / 6, -1.0 / 6, -1.0 / 6},
                                   {-1.0 / 6, 1.0 / 6, -1.0 / 6},
                                   {1.0 / 24, 1.0 / 12, 1.0 / 6},
                                   {1.0 / 24, -1.0 / 12, 1.0 / 6},
                                   {0.0, 0.0, 1.0}};
    const size_t cop = round_up(co, VL);
    for (size_t o = 0; o < cop; o++)
        for (size_t c = 0; c < ci; c++) {
            double gt[6][3]; /* G g */
            for (int i = 0; i < 6; i++)
                for (int b = 0; b < 3; b++) {
                    double s = 0.0;
                    if (o < co)
                        for (int a = 0; a < 3; a++)
                            s += G[i][a] * (double)w[(o * ci + c) * 9 + (size_t)(a * 3 + b)];
                    gt[i][b] = s;
                }
            for (int i = 0; i < 6; i++)
                for (int jj = 0; jj < 6; jj++) {
                    const double s = gt[i][0] * G[jj][0] + gt[i][1] * G[jj][1] +
                                     gt[i][2] * G[jj][2];
                    u[((size_t)(i * 6 + jj) * ci + c) * cop + o] = (float)s;
                }
        }
}

/* out = B^T d for one column of 6 vectors. Every multiplication by 2 or 4 is exact, so
 * fusing it with the addition that follows changes nothing; those by 5 are rounded
 * once, in explicit fused multiply-adds, so the result is the same whether or not the
 * compiler contracts. */
static inline void wg4_bt(vf out[6], vf d0, vf d1, vf d2, vf d3, vf d4, vf d5)
{
    const vf four = vset1(4.0f), mfour = vset1(-4.0f), two = vset1(2.0f),
             mtwo = vset1(-2.0f), m5 = vset1(-5.0f);
    const vf a = d1 + d2, b = d3 + d4, c = d1 - d2, e = d4 - d3, f = d1 - d3, g = d4 - d2;
    out[0] = vfma(vfma(d4, m5, d2), four, d0); /* 4 d0 - 5 d2 + d4 */
    out[1] = vfma(b, mfour, a);                /* -4 (d1 + d2) + d3 + d4 */
    out[2] = vfma(e, four, c);                 /* 4 (d1 - d2) - d3 + d4 */
    out[3] = vfma(g, mtwo, f);                 /* -2 (d1 - d3) - d2 + d4 */
    out[4] = vfma(g, two, f);                  /* 2 (d1 - d3) - d2 + d4 */
    out[5] = vfma(vfma(d5, m5, d3), four, d1); /* 4 d1 - 5 d3 + d5 */
}

/* out = A^T m for one column of 6 vectors (multiplications by 2, 4, 8: exact) */
static inline void wg4_at(vf out[4], vf m0, vf m1, vf m2, vf m3, vf m4, vf m5)
{
    const vf a = m1 + m2, b = m3 + m4, c = m1 - m2, d = m3 - m4;
    out[0] = (m0 + a) + b;
    out[1] = vfma(c, vset1(2.0f), d);
    out[2] = vfma(a, vset1(4.0f), b);
    out[3] = vfma(c, vset1(8.0f), d) + m5;
}

/* the first len <= 16 floats at src, zero in the other lanes */
static inline vf load_run(const float *restrict src, size_t len)
{
#if defined(__AVX512F__)
    return (vf)_mm512_maskz_loadu_ps((__mmask16)(len >= VL ? 0xffffu : (1u << len) - 1u), src);
#else
    float t[VL] = {0};
    memcpy(t, src, (len < VL ? len : VL) * sizeof(float));
    return vload(t);
#endif
}

/* The channel-last padded copy of one image: xc[(r*(W+2) + s)*Ci' + c] = x[c][r-1][s-1],
 * zero on the border and for c >= Ci, by 16x16 transposes.  x: (Ci, H, W) */
static void wg4_pad_image(float *restrict xc, const float *restrict x, size_t ci, size_t cip,
                          size_t h, size_t w)
{
    const size_t pw = w + 2;
    memset(xc, 0, pw * cip * sizeof(float));
    memset(xc + (h + 1) * pw * cip, 0, pw * cip * sizeof(float));
    for (size_t r = 0; r < h; r++) {
        memset(xc + (r + 1) * pw * cip, 0, cip * sizeof(float));
        memset(xc + ((r + 1) * pw + w + 1) * cip, 0, cip * sizeof(float));
    }
    /* 16 channels at a time, row by row: 16 sequential read streams */
    for (size_t c0 = 0; c0 < cip; c0 += VL)
        for (size_t r = 0; r < h; r++) {
            float *row = xc + ((r + 1) * pw + 1) * cip + c0;
            for (size_t s0 = 0; s0 < w; s0 += VL) {
                const size_t ns = w - s0 < VL ? w - s0 : VL;
                vf t[16];
                for (size_t l = 0; l < VL; l++)
                    t[l] = c0 + l < ci ? load_run(x + ((c0 + l) * h + r) * w + s0, ns)
                                       : vset1(0.0f);
                vtranspose16(t);
                for (size_t l = 0; l < ns; l++)
                    vstore(row + (s0 + l) * cip, t[l]);
            }
        }
}

/* Staging (positions, Co') -> planes: dst[o][q] = src[q][o] for o0 <= o < o1 and
 * q < nq, by 16x16 transposes; into dstf, or into dstu (the bits of src as uint32).
 * dstf, dstu: (Co, nq) from plane 0 of the image */
static void wg4_unstage(float *restrict dstf, uint32_t *restrict dstu,
                        const float *restrict src, size_t nq, size_t cop, size_t o0,
                        size_t o1)
{
    for (size_t c0 = o0; c0 < o1; c0 += VL)
        for (size_t q0 = 0; q0 < nq; q0 += VL) {
            const size_t len = nq - q0 < VL ? nq - q0 : VL;
            vf t[16];
            for (size_t l = 0; l < VL; l++)
                t[l] = l < len ? vload(src + (q0 + l) * cop + c0) : vset1(0.0f);
            vtranspose16(t);
            for (size_t i = 0; i < VL && c0 + i < o1; i++) {
                if (dstf)
                    store_run(dstf + (c0 + i) * nq + q0, t[i], len);
                else
                    store_run_u32(dstu + (c0 + i) * nq + q0, (vu)t[i], len);
            }
        }
}

/* Which conv outputs of each pool window have identical 3x3 x Ci input patches: the
 * direct conv gives them the same bits, so a tie among them goes to the first in
 * row-major order, while the Winograd tile computes them by different sums and would
 * break the tie by rounding. wrep[win] packs, for the window's outputs k = 1, 2, 3
 * (row-major), in bits 2k .. 2k+1 the first output whose patch is identical (k itself
 * if none); wg4_output copies that value. Patches of outputs (i, j) and (i + di,
 * j + dj) are identical iff x[r][c] == x[r + di][c + dj] (bit for bit, every channel)
 * over the 3x3 patch of (i, j), so four maps of neighbour equality (right, down,
 * down-right, down-left) decide all six pairs. xc: the image's channel-last padded
 * copy, (H+2, W+2, Ci') */
static void wg4_ties(uint8_t *restrict wrep, const float *restrict xc, size_t cip, size_t h,
                     size_t w)
{
    const size_t pw = w + 2, rs = pw * cip;
    /* bit c of eq[d][r]: padded position (r, c) equals (r, c+1) (d 0), (r+1, c) (1),
     * (r+1, c+1) (2); for d 3, (r, c+1) equals (r+1, c) */
    uint32_t eq[4][CAP_SIDE + 2];
    for (size_t r = 0; r < h + 2; r++) {
        const int down = r + 1 < h + 2;
        uint32_t b0 = 0, b1 = 0, b2 = 0, b3 = 0;
        for (size_t c = 0; c < pw; c++) {
            const float *p = xc + r * rs + c * cip;
            const int right = c + 1 < pw;
            vi d0 = {0}, d1 = {0}, d2 = {0}, d3 = {0};
            for (size_t c0 = 0; c0 < cip; c0 += VL) {
                const vi s0 = (vi)vload(p + c0);
                const vi rt = right ? (vi)vload(p + cip + c0) : s0;
                d0 |= s0 ^ rt;
                if (down) {
                    const vi dn = (vi)vload(p + rs + c0);
                    const vi dr = right ? (vi)vload(p + rs + cip + c0) : dn;
                    d1 |= s0 ^ dn;
                    d2 |= s0 ^ dr;
                    d3 |= rt ^ dn;
                }
            }
            b0 |= (uint32_t)(right && vzero((vf)d0)) << c;
            b1 |= (uint32_t)(down && vzero((vf)d1)) << c;
            b2 |= (uint32_t)(down && right && vzero((vf)d2)) << c;
            b3 |= (uint32_t)(down && right && vzero((vf)d3)) << c;
        }
        eq[0][r] = b0;
        eq[1][r] = b1;
        eq[2][r] = b2;
        eq[3][r] = b3;
    }
    /* all nine of a patch: rows r0 .. r0+2, columns c0 .. c0+2 */
#define WG4_ALL9(d, r0, c0)                                                               \
    (((eq[d][(r0)] >> (c0)) & (eq[d][(r0) + 1] >> (c0)) & (eq[d][(r0) + 2] >> (c0)) & 7u) == 7u)
    for (size_t pr = 0; pr < h / 2; pr++)
        for (size_t pc = 0; pc < w / 2; pc++) {
            /* output (2pr + i, 2pc + j) reads padded rows 2pr + i .., columns 2pc + j .. */
            const size_t r = 2 * pr, c = 2 * pc;
            const unsigned r1 = WG4_ALL9(0, r, c) ? 0u : 1u;
            const unsigned r2 = WG4_ALL9(1, r, c) ? 0u : WG4_ALL9(3, r, c) ? r1 : 2u;
            const unsigned r3 = WG4_ALL9(2, r, c)       ? 0u
                                : WG4_ALL9(1, r, c + 1) ? r1
                                : WG4_ALL9(0, r + 1, c) ? r2
                                                        : 3u;
            wrep[pr * (w / 2) + pc] = (uint8_t)(r1 << 2 | r2 << 4 | r3 << 6);
        }
#undef WG4_ALL9
}

/* V[xi][tt][c] = (B^T d B)[xi] of tile t0 + tt, for tt < RT (zero past tile nt - 1).
 * V: (36, RT, Ci')  xc: the image's channel-last padded copy, tw tiles per row. */
static void wg4_input(float *restrict V, const float *restrict xc, size_t t0, size_t nt,
                      size_t tw, size_t cip, size_t pw)
{
    for (size_t tt = 0; tt < WG4_RT; tt++) {
        if (t0 + tt >= nt) {
            for (size_t xi = 0; xi < WG4_NX; xi++)
                memset(V + (xi * WG4_RT + tt) * cip, 0, cip * sizeof(float));
            continue;
        }
        const size_t ty = (t0 + tt) / tw, tx = (t0 + tt) % tw;
        /* padded row 4ty is image row 4ty - 1, padded column 4tx image column 4tx - 1 */
        const float *base = xc + (4 * ty * pw + 4 * tx) * cip;
        for (size_t c0 = 0; c0 < cip; c0 += VL) {
            vf t[6][6]; /* t[i][col] = (B^T d)[i][col] */
            for (size_t col = 0; col < 6; col++) {
                const float *p = base + col * cip + c0;
                vf o[6];
                wg4_bt(o, vload(p), vload(p + pw * cip), vload(p + 2 * pw * cip),
                       vload(p + 3 * pw * cip), vload(p + 4 * pw * cip),
                       vload(p + 5 * pw * cip));
                for (int i = 0; i < 6; i++)
                    t[i][col] = o[i];
            }
            for (size_t i = 0; i < 6; i++) {
                vf o[6];
                wg4_bt(o, t[i][0], t[i][1], t[i][2], t[i][3], t[i][4], t[i][5]);
                for (size_t jj = 0; jj < 6; jj++)
                    vstore(V + ((i * 6 + jj) * WG4_RT + tt) * cip + c0, o[jj]);
            }
        }
    }
}

/* m[tt][q*16 ..] = sum_c v[tt][c] u[c][q*16 ..] for the RT tiles and NV vectors of
 * output channels: one element xi of a block.  u: (Ci, Co') from the first channel
 * vector, v: (RT, Ci'), m: (RT, Co') from the first channel vector */
static inline void wg4_gemm(float *restrict m, const float *restrict u,
                            const float *restrict v, size_t ci, size_t cip, size_t cop,
                            const int NV)
{
    vf acc[WG4_RT][4];
    for (int tt = 0; tt < WG4_RT; tt++)
        for (int q = 0; q < NV; q++)
            acc[tt][q] = vset1(0.0f);
    size_t c = 0;
    do { /* ci >= 1 */
        vf uq[4];
        for (int q = 0; q < NV; q++)
            uq[q] = vload(u + c * cop + (size_t)q * VL);
        for (int tt = 0; tt < WG4_RT; tt++) {
            const vf b = vset1(v[(size_t)tt * cip + c]);
            for (int q = 0; q < NV; q++)
                acc[tt][q] = vfma(acc[tt][q], uq[q], b);
        }
    } while (++c < ci);
    for (int tt = 0; tt < WG4_RT; tt++)
        for (int q = 0; q < NV; q++)
            vstore(m + (size_t)tt * cop + (size_t)q * VL, acc[tt][q]);
}

/* The 36 GEMMs of a block for output channel vectors [v0, v0 + nv).
 * M: (36, RT, Co')  U: (36, Ci, Co')  V: (36, RT, Ci') */
static void wg4_gemms(float *restrict M, const float *restrict U, const float *restrict V,
                      size_t ci, size_t cip, size_t cop, size_t v0, size_t nv)
{
    for (size_t xi = 0; xi < WG4_NX; xi++) {
        float *m = M + xi * WG4_RT * cop + v0 * VL;
        const float *u = U + xi * ci * cop + v0 * VL, *v = V + xi * WG4_RT * cip;
        switch (nv) {
        case 4: wg4_gemm(m, u, v, ci, cip, cop, 4); break;
        case 3: wg4_gemm(m, u, v, ci, cip, cop, 3); break;
        case 2: wg4_gemm(m, u, v, ci, cip, cop, 2); break;
        default:
            for (size_t q = 0; q < nv; q++)
                wg4_gemm(m + q * VL, u + q * VL, v, ci, cip, cop, 1);
            break;
        }
    }
}

typedef struct {
    kctx *k;
    float *y, *p;       /* (N, Co, H, W) or NULL (not kept), (N, Co, H/2, W/2) */
    uint32_t *argmax;   /* (N, Co, H/2, W/2) */
    const float *x;     /* (N, Ci, H, W) */
    const float *u;     /* (36, Ci, Co') */
    const float *b;     /* (Co) or NULL */
    size_t ci, co, cip, cop, h, w, nvec, groups, nitems;
    atomic_size_t next;
} wg4_job;

/* Output transform, bias, ReLU and pool of tile (ty, tx) for output channels
 * o0 .. o0 + 15, from M (per xi (RT, Co')) at the tile's slot and o0, into the staging
 * buffers: pst, ast (P, Co') pooled value and flat argmax, yst (H*W, Co') or NULL;
 * plane0: the flat index of the first element of channel o0 of the image; wrep (P):
 * the outputs of identical patches per window (wg4_ties), given the same value. */
static void wg4_output(const wg4_job *j, const float *restrict M, vf bias, vu plane0,
                       const uint8_t *restrict wrep, float *restrict pst,
                       uint32_t *restrict ast, float *restrict yst, size_t o0, size_t ty,
                       size_t tx)
{
    const size_t w = j->w, cop = j->cop, pw = w / 2;
    const size_t xs = WG4_RT * cop; /* stride of xi in M */
    vf t[4][6];                      /* t = A^T m */
    for (size_t col = 0; col < 6; col++) {
        const float *m = M + col * xs;
        vf o[4];
        wg4_at(o, vload(m), vload(m + 6 * xs), vload(m + 12 * xs), vload(m + 18 * xs),
               vload(m + 24 * xs), vload(m + 30 * xs));
        for (int i = 0; i < 4; i++)
            t[i][col] = o[i];
    }
    vf yv[4][4];
    for (size_t r = 0; r < 4; r++) {
        vf o[4];
        wg4_at(o, t[r][0], t[r][1], t[r][2], t[r][3], t[r][4], t[r][5]);
        for (size_t c = 0; c < 4; c++)
            yv[r][c] = vrelu(o[c] + bias);
    }
    for (size_t a = 0; a < 2; a++)
        for (size_t bb = 0; bb < 2; bb++) {
            const size_t pr = 2 * ty + a, pc = 2 * tx + bb, pos = pr * pw + pc;
            const unsigned rep = wrep[pos];
            if (rep != (1u << 2 | 2u << 4 | 3u << 6)) { /* identical patches: same value */
                vf *o[4] = {&yv[2 * a][2 * bb], &yv[2 * a][2 * bb + 1], &yv[2 * a + 1][2 * bb],
                            &yv[2 * a + 1][2 * bb + 1]};
                for (unsigned kk = 1; kk < 4; kk++)
                    *o[kk] = *o[(rep >> (2 * kk)) & 3u];
            }
            vu off;
            const vf mx = vpool4(yv[2 * a][2 * bb], yv[2 * a][2 * bb + 1], yv[2 * a + 1][2 * bb],
                                 yv[2 * a + 1][2 * bb + 1], (unsigned)w, &off);
            const vu at = plane0 + vuset1((uint32_t)(2 * pr * w + 2 * pc)) + off;
            vstore(pst + pos * cop + o0, mx);
            memcpy(ast + pos * cop + o0, &at, sizeof at);
        }
    if (yst)
        for (size_t r = 0; r < 4; r++)
            for (size_t c = 0; c < 4; c++)
                vstore(yst + ((4 * ty + r) * w + 4 * tx + c) * cop + o0, yv[r][c]);
}

static void wg4_task(void *arg, size_t t)
{
    wg4_job *j = arg;
    kctx *k = j->k;
    const size_t ci = j->ci, co = j->co, cip = j->cip, cop = j->cop, h = j->h, w = j->w;
    const size_t pw = w + 2, tw = w / 4, nt = (h / 4) * tw, np = (h / 2) * (w / 2);
    const size_t hw = h * w;
    float *xc = k->task + t * k->task_floats;
    float *V = xc + round_up((h + 2) * pw * cip, VL);
    float *M = V + WG4_NX * WG4_RT * cip;
    float *pst = M + WG4_NX * WG4_RT * cop;
    uint32_t *ast = (uint32_t *)(void *)(pst + np * cop);
    float *yst = j->y ? pst + 2 * np * cop : NULL;
    const vu lane = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};
    uint8_t wrep[(CAP_SIDE / 2) * (CAP_SIDE / 2)];
    for (;;) {
        size_t item = atomic_fetch_add_explicit(&j->next, 1, memory_order_relaxed);
        if (item >= j->nitems)
            break;
        const size_t img = item / j->groups, grp = item % j->groups;
        const size_t v0 = grp * j->nvec / j->groups, v1 = (grp + 1) * j->nvec / j->groups;
        if (k->tag[t] != img + 1) {
            wg4_pad_image(xc, j->x + img * ci * hw, ci, cip, h, w);
            wg4_ties(wrep, xc, cip, h, w);
            k->tag[t] = img + 1;
        }
        vf bias[CAP_C / VL];
        vu plane0[CAP_C / VL];
        for (size_t v = v0; v < v1; v++) {
            float bb[VL];
            for (size_t l = 0; l < VL; l++)
                bb[l] = j->b && v * VL + l < co ? j->b[v * VL + l] : 0.0f;
            bias[v] = vload(bb);
            /* lanes past Co are computed and never stored */
            plane0[v] = vuset1((uint32_t)((img * co + v * VL) * hw)) +
                        lane * vuset1((uint32_t)hw);
        }
        for (size_t t0 = 0; t0 < nt; t0 += WG4_RT) {
            wg4_input(V, xc, t0, nt, tw, cip, pw);
            wg4_gemms(M, j->u, V, ci, cip, cop, v0, v1 - v0);
            for (size_t tt = 0; tt < WG4_RT && t0 + tt < nt; tt++)
                for (size_t v = v0; v < v1; v++)
                    wg4_output(j, M + tt * cop + v * VL, bias[v], plane0[v], wrep, pst, ast,
                               yst, v * VL, (t0 + tt) / tw, (t0 + tt) % tw);
        }
        /* staging (positions, Co') -> (Co, positions) */
        const size_t o1 = v1 * VL < co ? v1 * VL : co, first = img * co;
        wg4_unstage(j->p + first * np, NULL, pst, np, cop, v0 * VL, o1);
        wg4_unstage(NULL, j->argmax + first * np, (const float *)(const void *)ast, np, cop,
                    v0 * VL, o1);
        if (yst)
            wg4_unstage(j->y + first * hw, NULL, yst, hw, cop, v0 * VL, o1);
    }
}

void kint_wg4_forward(kctx *k, float *y, float *p, uint32_t *argmax, const float *x,
                      const float *w, const float *b, size_t n, size_t ci, size_t co,
                      size_t h, size_t wd)
{
    if (!kint_wg_cached(k, 4, w, ci, co))
        wg4_weights(k->wgu, w, ci, co);
    wg4_job j = {.k = k, .y = y, .p = p, .argmax = argmax, .x = x, .u = k->wgu, .b = b,
                 .ci = ci, .co = co, .cip = round_up(ci, VL), .cop = round_up(co, VL),
                 .h = h, .w = wd};
    j.nvec = j.cop / VL;
    /* fewer images than threads: split each image over its output channel vectors
     * (each part transforms the image's input itself) */
    j.groups = kint_image_parts(n, k->nthreads, j.nvec);
    j.nitems = n * j.groups;
    atomic_init(&j.next, 0);
    run_image_slots(k, wg4_task, &j, j.nitems);
}

#else

void kint_wg4_forward(kctx *k, float *y, float *p, uint32_t *argmax, const float *x,
                      const float *w, const float *b, size_t n, size_t ci, size_t co,
                      size_t h, size_t wd)
{
    /* never called: kint_wg4_fits is 0 without vector extensions */
    kint_conv_forward(k, y, x, w, b, n, ci, co, h, wd, 1, p, argmax);
}

#endif /* WG4_HAVE */
