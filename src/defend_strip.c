/* defend_strip.c - STRIP (Gao et al. 2019): the entropy of the model's predictions on
 * superimposed inputs, its threshold for a false-positive rate, and its rates (see
 * defend.h).
 *
 * Legend: N inputs, P pool images, B blends per input, M = the model's max_batch;
 * images are (., 784) floats in [0,1].
 */
#include "defend.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "checked.h"
#include "rng.h"

/* Shannon entropy in bits of softmax(z), z (10): log S - sum p_j (z_j - max), S the
 * sum of exp(z_j - max); exact at p_j = 0 where the p log p form needs a special case. */
static double softmax_entropy_bits(const float *z)
{
    double mx = z[0], s = 0.0, e[CNN_CLASSES], t = 0.0;
    for (size_t j = 1; j < CNN_CLASSES; j++)
        mx = z[j] > mx ? z[j] : mx;
    for (size_t j = 0; j < CNN_CLASSES; j++)
        s += e[j] = exp((double)z[j] - mx);
    for (size_t j = 0; j < CNN_CLASSES; j++)
        t += e[j] / s * ((double)z[j] - mx);
    double h = (log(s) - t) / log(2.0);
    return h > 0.0 ? h : 0.0;
}

ms_status strip_entropy(cnn *m, const float *x, size_t n_inputs, const float *clean_pool,
                        size_t pool_n, size_t n_blend, uint64_t seed, uint64_t first_index,
                        float *entropy, ms_err *err)
{
    size_t bytes, blend_floats, perm_bytes, off;
    if (!m || m->max_batch == 0)
        return ms_fail(err, MS_EUSAGE, "strip: no model");
    if (n_blend == 0 || n_blend > pool_n)
        return ms_fail(err, MS_EUSAGE, "strip: %zu blends per input from a pool of %zu images",
                       n_blend, pool_n);
    if (pool_n > UINT32_MAX || !clean_pool)
        return ms_fail(err, MS_EUSAGE, "strip: pool of %zu images is unusable", pool_n);
    if (n_inputs > 0 && (!x || !entropy))
        return ms_fail(err, MS_EUSAGE, "strip: inputs and entropy output are required");
    size_t chunk = n_blend < m->max_batch ? n_blend : m->max_batch;
    /* one allocation: blends (chunk, 784) floats, then perm (P) and swaps (B) indices */
    if (!size_mul(&blend_floats, chunk, CNN_PIXELS) ||
        !size_mul(&bytes, blend_floats, sizeof(float)) ||
        !size_mul(&perm_bytes, pool_n + n_blend, sizeof(uint32_t)) ||
        !size_add(&off, bytes, perm_bytes))
        return ms_fail(err, MS_EINTERNAL, "strip: workspace size overflows");
    float *blend = malloc(off);
    if (!blend)
        return ms_fail(err, MS_EINTERNAL, "strip: out of memory (%zu bytes)", off);
    uint32_t *perm = (uint32_t *)(void *)((char *)blend + bytes), *swaps = perm + pool_n;
    for (size_t j = 0; j < pool_n; j++)
        perm[j] = (uint32_t)j;
    ms_status st = MS_OK;
    for (size_t i = 0; i < n_inputs && st == MS_OK; i++) {
        const float *xi = x + i * CNN_PIXELS;
        uint64_t mix = first_index + i;
        rng_t r;
        rng_init(&r, seed ^ splitmix64(&mix), STRIP_RNG_STREAM);
        /* partners perm[0..B): a partial Fisher-Yates shuffle, undone afterwards so
         * every input starts from the identity permutation */
        for (size_t j = 0; j < n_blend; j++) {
            size_t s = j + rng_below(&r, (uint32_t)(pool_n - j));
            uint32_t t = perm[j];
            perm[j] = perm[s], perm[s] = t;
            swaps[j] = (uint32_t)s;
        }
        double sum = 0.0;
        for (size_t j0 = 0; j0 < n_blend && st == MS_OK; j0 += chunk) {
            size_t nb = n_blend - j0 < chunk ? n_blend - j0 : chunk;
            for (size_t j = 0; j < nb; j++) {
                const float *c = clean_pool + (size_t)perm[j0 + j] * CNN_PIXELS;
                float *o = blend + j * CNN_PIXELS;
                for (size_t p = 0; p < CNN_PIXELS; p++) {
                    float v = xi[p] + c[p]; /* x + c, saturating at 1 */
                    o[p] = v < 0.0f ? 0.0f : v > 1.0f ? 1.0f : v;
                }
            }
            const float *z = cnn_forward(m, blend, nb);
            for (size_t j = 0; j < nb; j++) {
                for (size_t q = 0; q < CNN_CLASSES; q++)
                    if (!isfinite(z[j * CNN_CLASSES + q])) {
                        st = ms_fail(err, MS_ENUMERIC,
                                     "strip: logit %zu of blend %zu of input %zu is %g", q,
                                     j0 + j, i, (double)z[j * CNN_CLASSES + q]);
                        break;
                    }
                if (st != MS_OK)
                    break;
                sum += softmax_entropy_bits(z + j * CNN_CLASSES);
            }
        }
        for (size_t j = n_blend; j-- > 0;) {
            uint32_t t = perm[j];
            perm[j] = perm[swaps[j]], perm[swaps[j]] = t;
        }
        entropy[i] = (float)(sum / (double)n_blend);
    }
    free(blend);
    return st;
}

static int cmp_float(const void *pa, const void *pb)
{
    float a = *(const float *)pa, b = *(const float *)pb;
    return (a > b) - (a < b);
}

ms_status strip_threshold(const float *clean_entropy, size_t n, double fpr, float *threshold,
                          ms_err *err)
{
    if (n == 0 || !clean_entropy)
        return ms_fail(err, MS_EUSAGE, "strip: no clean entropies to set a threshold on");
    if (!(fpr >= 0.0 && fpr <= 1.0))
        return ms_fail(err, MS_EUSAGE, "strip: false-positive rate %g is outside [0, 1]", fpr);
    for (size_t i = 0; i < n; i++)
        if (!isfinite(clean_entropy[i]))
            return ms_fail(err, MS_EDATA, "strip: clean entropy %zu is %g", i,
                           (double)clean_entropy[i]);
    double kd = floor(fpr * (double)n);
    if (kd >= (double)n) {
        *threshold = INFINITY;
        return MS_OK;
    }
    size_t bytes;
    if (!size_mul(&bytes, n, sizeof(float)))
        return ms_fail(err, MS_EINTERNAL, "strip: %zu entropies overflow", n);
    float *s = malloc(bytes);
    if (!s)
        return ms_fail(err, MS_EINTERNAL, "strip: out of memory sorting %zu entropies", n);
    memcpy(s, clean_entropy, bytes);
    qsort(s, n, sizeof(float), cmp_float);
    *threshold = s[(size_t)kd];
    free(s);
    return MS_OK;
}

strip_rates strip_measure(const float *entropy, const uint8_t *trojaned, size_t n,
                          float threshold)
{
    strip_rates r = {0};
    for (size_t i = 0; i < n; i++) {
        int flagged = entropy[i] < threshold;
        if (trojaned[i])
            r.positives++, r.true_positives += (size_t)flagged;
        else
            r.negatives++, r.false_positives += (size_t)flagged;
    }
    r.tpr = r.positives ? (double)r.true_positives / (double)r.positives : 0.0;
    r.fpr = r.negatives ? (double)r.false_positives / (double)r.negatives : 0.0;
    return r;
}
