/* kernels_conv_pool_backward.c - the conv backward of a conv followed by ReLU and a 2x2
 * max pool, from the window maxima only (one image per call of kint_pooled_bwd_image,
 * from the item loop of kernels_conv_backward.c).
 *
 * Legend: N batch, C channels (Ci in, Co out), H height, W width, Ci' = Ci rounded up
 * to 16 (channel-last planes), Co' = Co rounded up to 16.
 */
#include "kernels_internal.h"

/* Routed through a 2x2 max pool, dy has one non-zero per window and channel at most
 * (none where the ReLU masks the maximum). This path visits only those, channel-last:
 *   dw[o][c][tap] += sum_hits g * x[c][hit + off(tap)]   (hits of channel o, q order):
 *     the same terms, in the same order, through the same fused multiply-adds as in
 *     the dense kernel, which only adds exact zeros besides, so bit-identical to it;
 *   dx: window by window, each window's maxima add their kernels into a 4x4 patch in
 *     registers (pooled_dx), so equal to the dense kernel up to rounding.
 * Both are checked against the dense kernel in tests/test_kernels.c. */

/* acc[tap][v] = sum_{e < n} g[e] * xc[pos[e] + off(tap) + v*16 ..], stored to
 * out[tap][v*16 ..] (9 rows of NV*16). xc: channel-last padded plane, cip floats per
 * position, rs = cip * (W + 2) per row. */
static inline void pooled_dw_tile(float *restrict out, const float *restrict xc,
                                  const uint32_t *restrict pos, const float *restrict g,
                                  size_t n, size_t cip, size_t rs, const int NV)
{
    vf acc[9][2];
    for (int t = 0; t < 9; t++)
        for (int v = 0; v < NV; v++)
            acc[t][v] = vset1(0.0f);
    for (size_t e = 0; e < n; e++) {
        const float *c = xc + (size_t)pos[e] * cip - rs - cip;
        const vf gv = vset1(g[e]);
        for (int p = 0; p < 3; p++)
            for (int t = 0; t < 3; t++)
                for (int v = 0; v < NV; v++)
                    acc[p * 3 + t][v] =
                        vfma(acc[p * 3 + t][v], vload(c + p * rs + t * cip + v * VL), gv);
    }
    for (int t = 0; t < 9; t++)
        for (int v = 0; v < NV; v++)
            vstore(out + (t * NV + v) * VL, acc[t][v]);
}

static void pooled_dw_tile1(float *out, const float *xc, const uint32_t *pos, const float *g,
                            size_t n, size_t cip, size_t rs)
{
    pooled_dw_tile(out, xc, pos, g, n, cip, rs, 1);
}

static void pooled_dw_tile2(float *out, const float *xc, const uint32_t *pos, const float *g,
                            size_t n, size_t cip, size_t rs)
{
    pooled_dw_tile(out, xc, pos, g, n, cip, rs, 2);
}

/* acc[(DR + p) * 4 + DC + t] += wT[o][p*3 + t][c0 ..] * g for the n maxima (o, g) of
 * one window whose offset in the window is (DR, DC): their 3x3 footprints in the 4x4
 * patch around the window. wt: wT + c0, cip floats per tap. */
static inline void patch_class(vf acc[16], const float *restrict wt, size_t cip,
                               const uint32_t *restrict os, const float *restrict gs,
                               size_t n, const int DR, const int DC)
{
    for (size_t e = 0; e < n; e++) {
        const float *wo = wt + (size_t)os[e] * 9 * cip;
        const vf gv = vset1(gs[e]);
        for (int p = 0; p < 3; p++)
            for (int t = 0; t < 3; t++)
                acc[(DR + p) * 4 + DC + t] =
                    vfma(acc[(DR + p) * 4 + DC + t], vload(wo + (size_t)(p * 3 + t) * cip), gv);
    }
}

/* The maxima of a window, grouped by their offset class c (2*dr + dc): os[c] their
 * channels in increasing order, gs[c] their gradients, cnt[c] how many. Zero gradients
 * (masked by the ReLU, or zero) are left out: they add nothing. Each list has room for
 * CAP_C + VL entries (the vector path writes up to VL past its end). */
typedef struct {
    uint32_t os[4][CAP_C + VL];
    float gs[4][CAP_C + VL];
    size_t cnt[4];
} window_lists;

/* The lists of window win from wcls, wgv (per channel and window, nw windows). */
static void window_lists_scalar(window_lists *l, const uint32_t *wcls, const float *wgv,
                                size_t co, size_t nw, size_t win)
{
    for (int c = 0; c < 4; c++)
        l->cnt[c] = 0;
    for (size_t o = 0; o < co; o++) {
        const float g = wgv[o * nw + win];
        const size_t c = wcls[o * nw + win] & 3u;
        /* always written, kept only if non-zero (NaN is kept): no branch to mispredict */
        l->os[c][l->cnt[c]] = (uint32_t)o;
        l->gs[c][l->cnt[c]] = g;
        l->cnt[c] += !(g == 0.0f);
    }
}

#if defined(__AVX512F__) && !defined(MS_PORTABLE_VECTORS)
#define HAVE_WINDOW_LISTS_VECTOR 1
/* wcls and wgv window-major: clsT, gT (round_up(nw, 16), cop), by 16 x 16 blocks.
 * co % 16 == 0; the last block reads up to 15 floats past wcls/wgv[co * nw] (room
 * pooled_hits' lists have) into rows past nw, which are never read. */
static void windows_major(float *restrict gT, uint32_t *restrict clsT, const uint32_t *wcls,
                          const float *wgv, size_t co, size_t cop, size_t nw)
{
    for (size_t wb = 0; wb < nw; wb += VL)
        for (size_t ob = 0; ob < co; ob += VL) {
            vf r[VL];
            for (int q = 0; q < VL; q++)
                r[q] = vload(wgv + (ob + (size_t)q) * nw + wb);
            vtranspose16(r);
            for (int q = 0; q < VL; q++)
                vstore(gT + (wb + (size_t)q) * cop + ob, r[q]);
            for (int q = 0; q < VL; q++)
                r[q] = vload((const float *)(const void *)(wcls + (ob + (size_t)q) * nw + wb));
            vtranspose16(r);
            for (int q = 0; q < VL; q++)
                vstore((float *)(void *)(clsT + (wb + (size_t)q) * cop + ob), r[q]);
        }
}

/* window_lists_scalar from the window-major rows g, cls (co floats), 16 channels at a
 * time by compression: the same lists. */
static void window_lists_vector(window_lists *l, const uint32_t *cls, const float *g,
                                size_t co)
{
    const __m512i iota = _mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0);
    const __m512i three = _mm512_set1_epi32(3);
    for (int c = 0; c < 4; c++)
        l->cnt[c] = 0;
    for (size_t o0 = 0; o0 < co; o0 += VL) {
        const __m512 gv = _mm512_loadu_ps(g + o0);
        const __m512i cv = _mm512_and_si512(_mm512_loadu_si512((const void *)(cls + o0)), three);
        const __m512i ov = _mm512_add_epi32(iota, _mm512_set1_epi32((int)o0));
        const __mmask16 nz = _mm512_cmp_ps_mask(gv, _mm512_setzero_ps(), _CMP_NEQ_UQ);
        for (int c = 0; c < 4; c++) {
            const __mmask16 m =
                (__mmask16)(nz & _mm512_cmpeq_epi32_mask(cv, _mm512_set1_epi32(c)));
            _mm512_storeu_ps(l->gs[c] + l->cnt[c], _mm512_maskz_compress_ps(m, gv));
            _mm512_storeu_si512((void *)(l->os[c] + l->cnt[c]),
                                _mm512_maskz_compress_epi32(m, ov));
            l->cnt[c] += (size_t)__builtin_popcount((unsigned)m);
        }
    }
}
#endif

/* dL/dx of one image through the pool, window by window: the non-zero maxima of the
 * window's channels, grouped by their offset in the window, add their kernels into a
 * 4x4 patch of 16 channels held in registers, which is then added to dxc (channel-last,
 * padded: patch row r is padded row 2i + r). Patches overlap by one row and column and
 * are added in window order. wcls, wgv: per channel and window (pooled_hits); tw:
 * scratch of pooled_dx_need floats. */
static void pooled_dx(float *restrict dxc, const float *restrict wT, const uint32_t *wcls,
                      const float *wgv, size_t co, size_t cip, size_t ho, size_t wo, size_t pw,
                      float *tw)
{
    const size_t nw = ho * wo;
    window_lists l;
#ifdef HAVE_WINDOW_LISTS_VECTOR
    const size_t cop = round_up(co, VL);
    float *gT = tw;
    uint32_t *clsT = (uint32_t *)(void *)(tw + round_up(nw, VL) * cop);
    const int vec = co % VL == 0;
    if (vec)
        windows_major(gT, clsT, wcls, wgv, co, cop, nw);
#else
    (void)tw;
#endif
    for (size_t win = 0; win < nw; win++) {
#ifdef HAVE_WINDOW_LISTS_VECTOR
        if (vec)
            window_lists_vector(&l, clsT + win * cop, gT + win * cop, co);
        else
#endif
            window_lists_scalar(&l, wcls, wgv, co, nw, win);
        if (l.cnt[0] + l.cnt[1] + l.cnt[2] + l.cnt[3] == 0)
            continue;
        const size_t i = win / wo, jj = win % wo;
        float *d0 = dxc + (2 * i * pw + 2 * jj) * cip;
        for (size_t c0 = 0; c0 < cip; c0 += VL) {
            vf acc[16];
            for (int q = 0; q < 16; q++)
                acc[q] = vset1(0.0f);
            patch_class(acc, wT + c0, cip, l.os[0], l.gs[0], l.cnt[0], 0, 0);
            patch_class(acc, wT + c0, cip, l.os[1], l.gs[1], l.cnt[1], 0, 1);
            patch_class(acc, wT + c0, cip, l.os[2], l.gs[2], l.cnt[2], 1, 0);
            patch_class(acc, wT + c0, cip, l.os[3], l.gs[3], l.cnt[3], 1, 1);
            for (size_t r = 0; r < 4; r++)
                for (size_t c = 0; c < 4; c++) {
                    float *d = d0 + (r * pw + c) * cip + c0;
                    vstore(d, vadd(vload(d), acc[r * 4 + c]));
                }
        }
    }
}

/* The hits of channel ch of image img: hg the routed, masked gradient, hp its position
 * in the channel-last padded plane, in q (row-major) order: of each pair of rows, the
 * windows whose maximum is in the upper row first. May write up to VL entries past
 * the last hit. Zero gradients are left out (they add nothing); returns the count.
 * If wcls, also per window in window order: wcls the offset class 2*dr + dc of the
 * maximum in its window, wgv its gradient. hg may be NULL. The offset in each window
 * is decoded without leaving the window, so a stray argmax cannot make this read
 * outside the image. */
static size_t pooled_hits(float *restrict hg, uint32_t *restrict hp, uint32_t *restrict wcls,
                          float *restrict wgv, const conv_bwd_job *j, size_t img, size_t ch)
{
    const size_t co = j->co, h = j->g.h, w = j->g.w, ho = h / 2, wo = w / 2, pw = w + 2;
    const size_t base = (img * co + ch) * h * w; /* flat index of the plane's (0, 0) */
    const float *gp = j->dy + (img * co + ch) * ho * wo;
    const uint32_t *am = j->argmax + (img * co + ch) * ho * wo;
    const float *msk = j->mask ? j->mask + (img * co + ch) * ho * wo : NULL;
    size_t nh = 0;
#if defined(__AVX512F__) && !defined(MS_PORTABLE_VECTORS)
    const __m512i lane2 = _mm512_set_epi32(30, 28, 26, 24, 22, 20, 18, 16, 14, 12, 10, 8, 6,
                                           4, 2, 0);
    const __m512i wv = _mm512_set1_epi32((int)w), one = _mm512_set1_epi32(1);
    for (size_t i = 0; i < ho; i++)
        for (unsigned pass = 0; pass < 2; pass++)
            for (size_t j0 = 0; j0 < wo; j0 += VL) {
                const size_t cnt = wo - j0 < VL ? wo - j0 : VL;
                const __mmask16 km = (__mmask16)(cnt == VL ? 0xffffu : (1u << cnt) - 1u);
                const size_t e0 = i * wo + j0;
                /* window corners relative to the plane, and the argmax relative to them */
                const __m512i win =
                    _mm512_add_epi32(_mm512_set1_epi32((int)(2 * i * w + 2 * j0)), lane2);
                const __m512i a = _mm512_maskz_loadu_epi32(km, am + e0);
                const __m512i off =
                    _mm512_sub_epi32(a, _mm512_add_epi32(win, _mm512_set1_epi32((int)base)));
                const __mmask16 lower = _mm512_cmpge_epu32_mask(off, wv);
                const __m512i dr = _mm512_maskz_mov_epi32(lower, one);
                const __m512i dc =
                    _mm512_and_si512(_mm512_sub_epi32(off, _mm512_maskz_mov_epi32(lower, wv)), one);
                __m512 g = _mm512_maskz_loadu_ps(km, gp + e0);
                if (msk) {
                    const __m512 m = _mm512_maskz_loadu_ps(km, msk + e0);
                    g = _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(m, _mm512_setzero_ps(), _CMP_GT_OQ),
                                            g);
                }
                /* (2i + dr + 1) * pw + 2j + dc + 1 */
                const __m512i pos = _mm512_add_epi32(
                    _mm512_add_epi32(_mm512_set1_epi32((int)((2 * i + 1) * pw + 1 + 2 * j0)), lane2),
                    _mm512_add_epi32(_mm512_mullo_epi32(dr, _mm512_set1_epi32((int)pw)), dc));
                if (wcls && pass == 0) {
                    /* class dr * 2 + dc per window */
                    _mm512_mask_storeu_epi32(wcls + e0, km,
                                             _mm512_add_epi32(_mm512_add_epi32(dr, dr), dc));
                    _mm512_mask_storeu_ps(wgv + e0, km, g);
                }
                if (!hg)
                    continue;
                const __mmask16 nz = _mm512_cmp_ps_mask(g, _mm512_setzero_ps(), _CMP_NEQ_UQ);
                const __mmask16 take =
                    (__mmask16)(km & nz & (pass ? lower : (__mmask16)~lower));
                _mm512_storeu_ps(hg + nh, _mm512_maskz_compress_ps(take, g));
                _mm512_storeu_si512((void *)(hp + nh), _mm512_maskz_compress_epi32(take, pos));
                nh += (size_t)__builtin_popcount((unsigned)take);
            }
#else
    for (size_t i = 0; i < ho; i++)
        for (size_t pass = 0; pass < 2; pass++)
            for (size_t jj = 0; jj < wo; jj++) {
                const size_t e = i * wo + jj, win = 2 * i * w + 2 * jj;
                const size_t off = (size_t)am[e] - (base + win);
                const size_t dr = off >= w, dc = (off - dr * w) & 1;
                float gv = gp[e];
                if (msk)
                    gv = keep_if_positive(gv, msk[e]);
                if (wcls && pass == 0) {
                    wcls[e] = (uint32_t)(2 * dr + dc);
                    wgv[e] = gv;
                }
                if (!hg)
                    continue;
                hg[nh] = gv;
                hp[nh] = (uint32_t)((2 * i + dr + 1) * pw + 2 * jj + dc + 1);
                nh += (dr == pass) & (gv != 0.0f);
            }
#endif
    return nh;
}

/* One image of the pooled backward: hits, then dx and the dw/db partial sums in the
 * image's slot (same layout as the dense path). */
void kint_pooled_bwd_image(const conv_bwd_job *j, float *scratch, size_t img, float *slot)
{
    const plane_geom *g = &j->g;
    const size_t ci = j->ci, co = j->co, h = g->h, w = g->w, hw = h * w;
    const size_t ho = h / 2, wo = w / 2, cip = round_up(ci, VL);
    const size_t pw = w + 2, rs = pw * cip, plane = (h + 2) * rs;
    float *xc = scratch, *dxc = scratch + round_up(plane, VL);
    const size_t nlist = round_up(co * ho * wo + VL, VL);
    float *hg = dxc + round_up(plane, VL);
    uint32_t *hp = (uint32_t *)(void *)(hg + nlist);
    uint32_t *wcls = (uint32_t *)(void *)(hg + 2 * nlist);
    float *wgv = hg + 3 * nlist;

    size_t nhit[CAP_C];
    for (size_t ch = 0; ch < co; ch++)
        nhit[ch] = pooled_hits(j->want_dw ? hg + ch * ho * wo : NULL, hp + ch * ho * wo,
                               j->dx ? wcls + ch * ho * wo : NULL, wgv + ch * ho * wo, j, img,
                               ch);
    const size_t nhits = ho * wo; /* room per channel */

    if (j->dx) {
        /* wT[o][tap][c] in j->wf */
        memset(dxc, 0, plane * sizeof(float));
        pooled_dx(dxc, j->wf, wcls, wgv, co, cip, ho, wo, pw, wgv + nlist);
        /* back to channel-first: 16 positions x 16 channels at a time, transposed in
         * registers (rows of w >= 16, whole blocks of channels), else one by one */
        float *dximg = j->dx + img * ci * hw;
        if (w >= VL && ci % VL == 0) {
            for (size_t r = 0; r < h; r++)
                for (size_t v = 0; v < (w + VL - 1) / VL; v++) {
                    const size_t s0 = kint_row_vec_start(v, w);
                    for (size_t c0 = 0; c0 < ci; c0 += VL) {
                        vf blk[VL];
                        for (int q = 0; q < VL; q++)
                            blk[q] = vload(dxc + ((r + 1) * pw + s0 + (size_t)q + 1) * cip + c0);
                        vtranspose16(blk);
                        for (int q = 0; q < VL; q++)
                            vstore(dximg + ((c0 + (size_t)q) * h + r) * w + s0, blk[q]);
                    }
                }
        } else {
            for (size_t c = 0; c < ci; c++)
                for (size_t r = 0; r < h; r++)
                    for (size_t s = 0; s < w; s++)
                        dximg[(c * h + r) * w + s] = dxc[((r + 1) * pw + s + 1) * cip + c];
        }
    }
    if (!j->want_dw)
        return;

    /* channel-last padded x */
    memset(xc, 0, plane * sizeof(float));
    const float *ximg = j->x + img * ci * hw;
    for (size_t c = 0; c < ci; c++)
        for (size_t r = 0; r < h; r++)
            for (size_t s = 0; s < w; s++)
                xc[((r + 1) * pw + s + 1) * cip + c] = ximg[(c * h + r) * w + s];
    const size_t cop = j->cop;
    float tile[9 * 2 * VL];
    for (size_t o = 0; o < co; o++) {
        for (size_t c0 = 0; c0 < cip; c0 += 2 * VL) {
            const int nv = cip - c0 >= 2 * VL ? 2 : 1;
            if (nv == 2)
                pooled_dw_tile2(tile, xc + c0, hp + o * nhits, hg + o * nhits, nhit[o], cip,
                                rs);
            else
                pooled_dw_tile1(tile, xc + c0, hp + o * nhits, hg + o * nhits, nhit[o], cip,
                                rs);
            /* slot[(c*9 + tap)][o] */
            for (size_t t = 0; t < 9; t++)
                for (size_t l = 0; l < (size_t)nv * VL && c0 + l < ci; l++)
                    slot[((c0 + l) * 9 + t) * cop + o] = tile[t * nv * VL + l];
        }
        float s = 0.0f;
        for (size_t e = 0; e < nhit[o]; e++)
            s += hg[o * nhits + e];
        slot[ci * 9 * cop + o] = s;
    }
}
