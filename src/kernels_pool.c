/* kernels_pool.c - 2x2 max pool forward, stride 2: 16 windows per vector where the
 * vector extension is there, the first maximum in row-major order winning, as
 * maxpool2x2_forward.
 *
 * Legend: N batch, C channels, H height, W width.
 */
#include "kernels_internal.h"

typedef struct {
    float *y;          /* (N, C, H/2, W/2) */
    uint32_t *amax;    /* (N, C, H/2, W/2) */
    const float *x;    /* (N, C, H, W) */
    size_t planes, h, w, nitems;
    atomic_size_t next;
} pool_job;

#define POOL_PLANES 16

/* One row of 2x2 windows: wo outputs yr, ar from input rows r0, r1 (2*wo floats each);
 * base: flat index of r0[0], w: input row length. The first maximum of each window in
 * row-major order wins (vpool4, and the same comparisons in the scalar tail). */
static void pool_row(float *restrict yr, uint32_t *restrict ar, const float *restrict r0,
                     const float *restrict r1, uint32_t base, size_t wo, size_t w)
{
    size_t jj = 0;
#ifdef HAVE_VECTOR_POOL
    const vu lane2 = {0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30};
    for (; jj < wo; jj += VL) {
        const size_t cnt = wo - jj < VL ? wo - jj : VL;
        const float *s0 = r0 + 2 * jj, *s1 = r1 + 2 * jj;
        vf a0, a1, c0, c1;
        if (cnt == VL) {
            a0 = vload(s0), a1 = vload(s0 + VL), c0 = vload(s1), c1 = vload(s1 + VL);
        } else {
#if defined(__AVX512F__)
            const unsigned n2 = 2 * (unsigned)cnt; /* 2 .. 30 */
            const __mmask16 k0 = (__mmask16)(n2 >= VL ? 0xffffu : (1u << n2) - 1u);
            const __mmask16 k1 = (__mmask16)(n2 > VL ? (1u << (n2 - VL)) - 1u : 0u);
            a0 = (vf)_mm512_maskz_loadu_ps(k0, s0), a1 = (vf)_mm512_maskz_loadu_ps(k1, s0 + VL);
            c0 = (vf)_mm512_maskz_loadu_ps(k0, s1), c1 = (vf)_mm512_maskz_loadu_ps(k1, s1 + VL);
#else
            float t0[2 * VL] = {0}, t1[2 * VL] = {0};
            memcpy(t0, s0, 2 * cnt * sizeof(float));
            memcpy(t1, s1, 2 * cnt * sizeof(float));
            a0 = vload(t0), a1 = vload(t0 + VL), c0 = vload(t1), c1 = vload(t1 + VL);
#endif
        }
        vu off;
        vf m = vpool4(veven(a0, a1), vodd(a0, a1), veven(c0, c1), vodd(c0, c1), (unsigned)w,
                      &off);
        vu at = vuset1(base + 2 * (uint32_t)jj) + lane2 + off;
        store_run(yr + jj, m, cnt);
        store_run_u32(ar + jj, at, cnt);
    }
#endif
    for (; jj < wo; jj++) {
        float a = r0[2 * jj], b = r0[2 * jj + 1], c = r1[2 * jj], d = r1[2 * jj + 1];
        uint32_t ia = base + 2 * (uint32_t)jj, im = ia;
        float m = a;
        int gb = b > m;
        m = gb ? b : m;
        im = gb ? ia + 1 : im;
        int gc = c > m;
        m = gc ? c : m;
        im = gc ? ia + (uint32_t)w : im;
        int gd = d > m;
        m = gd ? d : m;
        im = gd ? ia + (uint32_t)w + 1 : im;
        yr[jj] = m;
        ar[jj] = im;
    }
}

void kint_pool_planes(float *restrict y, uint32_t *restrict am, const float *restrict x,
                      size_t first, size_t planes, size_t h, size_t w)
{
    const size_t ho = h / 2, wo = w / 2;
    for (size_t pl = 0; pl < planes; pl++)
        for (size_t i = 0; i < ho; i++) {
            const float *r0 = x + (pl * h + 2 * i) * w;
            pool_row(y + (pl * ho + i) * wo, am + (pl * ho + i) * wo, r0, r0 + w,
                     (uint32_t)(first + (pl * h + 2 * i) * w), wo, w);
        }
}

static void pool_fwd_task(void *arg, size_t t)
{
    (void)t;
    pool_job *j = arg;
    const size_t hw = j->h * j->w, howo = (j->h / 2) * (j->w / 2);
    for (;;) {
        size_t item = atomic_fetch_add_explicit(&j->next, 1, memory_order_relaxed);
        if (item >= j->nitems)
            break;
        size_t p0 = item * POOL_PLANES;
        size_t p1 = p0 + POOL_PLANES < j->planes ? p0 + POOL_PLANES : j->planes;
        kint_pool_planes(j->y + p0 * howo, j->amax + p0 * howo, j->x + p0 * hw, p0 * hw,
                         p1 - p0, j->h, j->w);
    }
}

void k_maxpool2x2_forward(kctx *k, float *y, uint32_t *argmax, const float *x, size_t n,
                          size_t c, size_t h, size_t w)
{
    pool_job j;
    memset(&j, 0, sizeof j);
    j.y = y;
    j.amax = argmax;
    j.x = x;
    j.planes = n * c;
    j.h = h;
    j.w = w;
    j.nitems = (j.planes + POOL_PLANES - 1) / POOL_PLANES;
    atomic_init(&j.next, 0);
    run_slots(k, pool_fwd_task, &j, j.nitems);
}
