/* defend.c - training-set backdoor detectors: spectral signatures, activation
 * clustering, SPECTRE-style robust whitening (see defend.h), and their scoring.
 *
 * Legend: n images, d features, n_c images of one label, k principal directions,
 * b = min(d, k + DETECT_OVERSAMPLE) vectors in the subspace iteration.
 * All arithmetic on features is in double; every sum runs in a fixed order.
 */
#include "defend.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "checked.h"
#include "rng.h"

#define DETECT_OVERSAMPLE 8   /* extra vectors of the subspace iteration */
#define EIG_MAX_ITER 150      /* subspace iterations at most (dense covariance) */
#define EIG_MAX_ITER_WIDE 60  /* ... when each costs O(n_c d b) through the data */
#define EIG_TOL 1e-9          /* Ritz residual, relative to the top eigenvalue, to stop */
#define KMEANS_MAX_ITER 100
#define JACOBI_MAX_SWEEPS 100

void detect_opts_default(detect_opts *o)
{
    o->expected_fraction = 0.05;
    o->spectral_multiplier = 1.5;
    o->cluster_threshold = 0.35;
    o->cluster_dims = 10;
    o->kmeans_restarts = 10;
    o->silhouette_sample = 0;
    o->spectre_dims = 16;
    o->spectre_rounds = 5;
    o->spectre_alpha = 4.0;
    o->label_anomaly = 0.0;
    o->seed = 20251122;
    o->target_label = -1;
}

/* --- argument checks -------------------------------------------------------------- */

static ms_status check_args(const char *who, const float *feat, size_t n, size_t d,
                            const uint8_t *label, const detect_opts *o, const uint8_t *flag,
                            ms_err *err)
{
    size_t nd;
    if (d == 0)
        return ms_fail(err, MS_EUSAGE, "%s: feature dimension is 0", who);
    if (!size_mul(&nd, n, d) || n > UINT32_MAX)
        return ms_fail(err, MS_EUSAGE, "%s: %zu images of %zu features is too many", who, n, d);
    if (n > 0 && (!feat || !label || !flag))
        return ms_fail(err, MS_EUSAGE, "%s: features, labels and flags are required", who);
    if (!(o->expected_fraction > 0.0 && o->expected_fraction <= 0.5))
        return ms_fail(err, MS_EUSAGE, "%s: expected fraction %g is outside (0, 0.5]", who,
                       o->expected_fraction);
    if (!(o->spectral_multiplier > 0.0 &&
          o->spectral_multiplier * o->expected_fraction <= 0.5))
        return ms_fail(err, MS_EUSAGE,
                       "%s: multiplier %g times expected fraction %g must lie in (0, 0.5]", who,
                       o->spectral_multiplier, o->expected_fraction);
    if (!(o->cluster_threshold > 0.0 && o->cluster_threshold <= 0.5))
        return ms_fail(err, MS_EUSAGE, "%s: cluster threshold %g is outside (0, 0.5]", who,
                       o->cluster_threshold);
    if (o->cluster_dims < 1 || o->cluster_dims > 256)
        return ms_fail(err, MS_EUSAGE, "%s: cluster dims %zu is outside 1..256", who,
                       o->cluster_dims);
    if (o->kmeans_restarts < 1 || o->kmeans_restarts > 1000)
        return ms_fail(err, MS_EUSAGE, "%s: k-means restarts %zu is outside 1..1000", who,
                       o->kmeans_restarts);
    if (o->spectre_dims < 1 || o->spectre_dims > 256)
        return ms_fail(err, MS_EUSAGE, "%s: spectre dims %zu is outside 1..256", who,
                       o->spectre_dims);
    if (o->spectre_rounds > 100)
        return ms_fail(err, MS_EUSAGE, "%s: spectre rounds %zu exceeds 100", who,
                       o->spectre_rounds);
    if (!(o->spectre_alpha >= 0.0 && o->spectre_alpha <= 50.0))
        return ms_fail(err, MS_EUSAGE, "%s: spectre alpha %g is outside [0, 50]", who,
                       o->spectre_alpha);
    if (!(o->label_anomaly >= 0.0 && o->label_anomaly <= 1000.0))
        return ms_fail(err, MS_EUSAGE, "%s: label anomaly threshold %g is outside [0, 1000]",
                       who, o->label_anomaly);
    if (o->target_label < -1 || o->target_label >= DETECT_LABELS)
        return ms_fail(err, MS_EUSAGE, "%s: target label %d is outside -1..9", who,
                       o->target_label);
    for (size_t i = 0; i < n; i++)
        if (label[i] >= DETECT_LABELS)
            return ms_fail(err, MS_EDATA, "%s: label of image %zu is %u, outside 0..9", who, i,
                           (unsigned)label[i]);
    for (size_t i = 0; i < nd; i++)
        if (!isfinite(feat[i]))
            return ms_fail(err, MS_EDATA, "%s: feature %zu of image %zu is %g", who, i % d,
                           i / d, (double)feat[i]);
    return MS_OK;
}

/* --- the workspace: one allocation carved into the arrays below ------------------ */

typedef struct {
    double score;
    uint32_t pos; /* position inside the label */
} scored;

typedef struct {
    uint32_t *order;                 /* (n) image indices grouped by label, in index order */
    size_t start[DETECT_LABELS + 1]; /* label c is order[start[c] .. start[c+1]) */
    size_t d, k, b;
    double *mean;                    /* (d) */
    double *cov;                     /* (d, d), or NULL: covariance applied through data */
    double *bv, *bw, *br;            /* (b, d) subspace iteration blocks */
    double *bh, *bs;                 /* (b, b) Rayleigh quotient matrix, its eigenvectors */
    double *theta;                   /* (b) Ritz values */
    double *row;                     /* (d) one centred image */
    double *proj;                    /* (n_max, k) projected vectors */
    scored *rank;                    /* (n_max) */
    uint8_t *assign, *best;          /* (n_max) cluster of each image */
    double *sil;                     /* (n_max, 2) distance sums to each cluster */
    double *ka, *kb, *kc;            /* (k, k) or (2, k) small matrices */
    double *kv, *kw;                 /* (k) */
    uint8_t *kept;                   /* (n_max) spectre's trimmed set */
    void *block;
} work;

/* Reserves count elements of size elem at *off (16-byte aligned); 0 on overflow. */
static int reserve(size_t *off, size_t count, size_t elem, size_t *at)
{
    size_t bytes, o;
    if (!size_add(&o, *off, 15))
        return 0;
    o &= ~(size_t)15;
    if (!size_mul(&bytes, count, elem) || !size_add(off, o, bytes))
        return 0;
    *at = o;
    return 1;
}

/* Groups the images by label and allocates the workspace for k principal directions. */
static ms_status work_create(work *w, const char *who, size_t n, size_t d, size_t k,
                             const uint8_t *label, ms_err *err)
{
    memset(w, 0, sizeof *w);
    size_t count[DETECT_LABELS] = {0}, nmax = 0;
    for (size_t i = 0; i < n; i++)
        count[label[i]]++;
    for (int c = 0; c < DETECT_LABELS; c++) {
        w->start[c + 1] = w->start[c] + count[c];
        nmax = count[c] > nmax ? count[c] : nmax;
    }
    w->d = d;
    w->k = k < d ? k : d;
    w->b = w->k + DETECT_OVERSAMPLE < d ? w->k + DETECT_OVERSAMPLE : d;
    /* small matrices: (k, k), or two centroids (2, k) */
    size_t kk = w->k, b = w->b, dd = d <= DETECT_DENSE_MAX_D ? d * d : 0, ks = kk * kk + 2 * kk;
    size_t off = 0, at[18], bd, nk;
    int ok = size_mul(&bd, b, d) && size_mul(&nk, nmax, kk);
    ok = ok && reserve(&off, n, sizeof(uint32_t), &at[0]) && reserve(&off, d, 8, &at[1]) &&
         reserve(&off, dd, 8, &at[2]) && reserve(&off, bd, 8, &at[3]) &&
         reserve(&off, bd, 8, &at[4]) && reserve(&off, bd, 8, &at[5]) &&
         reserve(&off, b * b, 8, &at[6]) && reserve(&off, b * b, 8, &at[7]) &&
         reserve(&off, b, 8, &at[8]) && reserve(&off, d, 8, &at[9]) &&
         reserve(&off, nk, 8, &at[10]) && reserve(&off, nmax, sizeof(scored), &at[11]) &&
         reserve(&off, nmax, 1, &at[12]) && reserve(&off, nmax, 1, &at[13]) &&
         reserve(&off, nmax, 16, &at[14]) && reserve(&off, ks * 3, 8, &at[15]) &&
         reserve(&off, kk * 2, 8, &at[16]) && reserve(&off, nmax, 1, &at[17]);
    if (!ok)
        return ms_fail(err, MS_EINTERNAL, "%s: workspace size overflows (%zu x %zu)", who, n, d);
    char *p = malloc(off ? off : 1);
    if (!p)
        return ms_fail(err, MS_EINTERNAL, "%s: out of memory (%zu bytes of workspace)", who, off);
    w->block = p;
    w->order = (uint32_t *)(void *)(p + at[0]);
    w->mean = (double *)(void *)(p + at[1]);
    w->cov = dd ? (double *)(void *)(p + at[2]) : NULL;
    w->bv = (double *)(void *)(p + at[3]);
    w->bw = (double *)(void *)(p + at[4]);
    w->br = (double *)(void *)(p + at[5]);
    w->bh = (double *)(void *)(p + at[6]);
    w->bs = (double *)(void *)(p + at[7]);
    w->theta = (double *)(void *)(p + at[8]);
    w->row = (double *)(void *)(p + at[9]);
    w->proj = (double *)(void *)(p + at[10]);
    w->rank = (scored *)(void *)(p + at[11]);
    w->assign = (uint8_t *)(p + at[12]);
    w->best = (uint8_t *)(p + at[13]);
    w->sil = (double *)(void *)(p + at[14]);
    w->ka = (double *)(void *)(p + at[15]);
    w->kb = w->ka + ks;
    w->kc = w->kb + ks;
    w->kv = (double *)(void *)(p + at[16]);
    w->kw = w->kv + kk;
    w->kept = (uint8_t *)(p + at[17]);
    size_t fill[DETECT_LABELS];
    memcpy(fill, w->start, sizeof fill);
    for (size_t i = 0; i < n; i++)
        w->order[fill[label[i]]++] = (uint32_t)i;
    return MS_OK;
}

/* --- small dense linear algebra ---------------------------------------------------- */

/* Eigen-decomposition of the symmetric a (m, m) by cyclic Jacobi rotations; a is
 * destroyed. val (m) descending, vec (m, m) row j = eigenvector j (orthonormal). */
static void jacobi_eigen(double *a, size_t m, double *val, double *vec)
{
    for (size_t i = 0; i < m; i++)
        for (size_t j = 0; j < m; j++)
            vec[i * m + j] = i == j;
    for (int sweep = 0; sweep < JACOBI_MAX_SWEEPS; sweep++) {
        double off = 0.0, tot = 0.0;
        for (size_t i = 0; i < m; i++)
            for (size_t j = 0; j < m; j++) {
                tot += a[i * m + j] * a[i * m + j];
                if (i != j)
                    off += a[i * m + j] * a[i * m + j];
            }
        if (off <= 1e-30 * tot || off == 0.0)
            break;
        for (size_t p = 0; p + 1 < m; p++)
            for (size_t q = p + 1; q < m; q++) {
                double apq = a[p * m + q];
                if (apq == 0.0)
                    continue;
                /* rotation angle that zeroes a[p][q]: tan(2t) = 2 apq / (aqq - app) */
                double tau = (a[q * m + q] - a[p * m + p]) / (2.0 * apq);
                double t = (tau >= 0 ? 1.0 : -1.0) / (fabs(tau) + sqrt(1.0 + tau * tau));
                double c = 1.0 / sqrt(1.0 + t * t), s = t * c;
                for (size_t r = 0; r < m; r++) { /* columns p, q */
                    double x = a[r * m + p], y = a[r * m + q];
                    a[r * m + p] = c * x - s * y;
                    a[r * m + q] = s * x + c * y;
                }
                for (size_t r = 0; r < m; r++) { /* rows p, q */
                    double x = a[p * m + r], y = a[q * m + r];
                    a[p * m + r] = c * x - s * y;
                    a[q * m + r] = s * x + c * y;
                }
                for (size_t r = 0; r < m; r++) { /* eigenvectors are rows of vec */
                    double x = vec[p * m + r], y = vec[q * m + r];
                    vec[p * m + r] = c * x - s * y;
                    vec[q * m + r] = s * x + c * y;
                }
            }
    }
    for (size_t i = 0; i < m; i++)
        val[i] = a[i * m + i];
    /* selection sort, descending; ties keep their order */
    for (size_t i = 0; i < m; i++) {
        size_t best = i;
        for (size_t j = i + 1; j < m; j++)
            if (val[j] > val[best])
                best = j;
        if (best != i) {
            double t = val[i];
            val[i] = val[best], val[best] = t;
            for (size_t r = 0; r < m; r++) {
                t = vec[i * m + r];
                vec[i * m + r] = vec[best * m + r], vec[best * m + r] = t;
            }
        }
    }
}

/* a . b in four interleaved partial sums, combined as (s0 + s1) + (s2 + s3): a fixed
 * order that vectorises without reassociation. */
static double dot(const double *a, const double *b, size_t m)
{
    double s0 = 0.0, s1 = 0.0, s2 = 0.0, s3 = 0.0;
    size_t i = 0;
    for (; i + 4 <= m; i += 4) {
        s0 += a[i] * b[i];
        s1 += a[i + 1] * b[i + 1];
        s2 += a[i + 2] * b[i + 2];
        s3 += a[i + 3] * b[i + 3];
    }
    for (; i < m; i++)
        s0 += a[i] * b[i];
    return (s0 + s1) + (s2 + s3);
}

/* Uniform double in [0, 1) with 53 random bits. */
static double rng_double(rng_t *r)
{
    uint64_t hi = rng_u32(r) >> 5, lo = rng_u32(r) >> 6;
    return (double)((hi << 26) | lo) * (1.0 / 9007199254740992.0);
}

/* Random vector in [-1, 1)^m, orthogonalised against rows v[0..j) (two passes of
 * Gram-Schmidt) and normalised, into v[j]. */
static void random_orthonormal(double *v, size_t j, size_t m, rng_t *r)
{
    double *x = v + j * m;
    for (int attempt = 0; attempt < 16; attempt++) {
        for (size_t i = 0; i < m; i++)
            x[i] = 2.0 * rng_double(r) - 1.0;
        for (int pass = 0; pass < 2; pass++)
            for (size_t q = 0; q < j; q++) {
                double c = dot(x, v + q * m, m);
                for (size_t i = 0; i < m; i++)
                    x[i] -= c * v[q * m + i];
            }
        double nrm = sqrt(dot(x, x, m));
        if (nrm > 1e-6) {
            for (size_t i = 0; i < m; i++)
                x[i] /= nrm;
            return;
        }
    }
}

/* Orthonormalises the rows of v (b, m) in order by modified Gram-Schmidt, twice; a row
 * that vanishes (the covariance has lower rank than b) is replaced by a random one. */
static void orthonormalise(double *v, size_t b, size_t m, rng_t *r)
{
    for (size_t j = 0; j < b; j++) {
        double *x = v + j * m, before = sqrt(dot(x, x, m));
        for (int pass = 0; pass < 2; pass++)
            for (size_t q = 0; q < j; q++) {
                double c = dot(x, v + q * m, m);
                for (size_t i = 0; i < m; i++)
                    x[i] -= c * v[q * m + i];
            }
        double nrm = sqrt(dot(x, x, m));
        if (!(nrm > 1e-12 * before) || nrm == 0.0) {
            random_orthonormal(v, j, m, r);
            continue;
        }
        for (size_t i = 0; i < m; i++)
            x[i] /= nrm;
    }
}

/* --- one label's covariance --------------------------------------------------------- */

/* Mean (d) of the label's images idx[0..nc) into w->mean; the covariance
 * (1/nc) sum (x - mean)(x - mean)^T into w->cov when it is dense. */
static void label_moments(work *w, const float *feat, const uint32_t *idx, size_t nc)
{
    size_t d = w->d;
    for (size_t j = 0; j < d; j++)
        w->mean[j] = 0.0;
    for (size_t i = 0; i < nc; i++) {
        const float *x = feat + (size_t)idx[i] * d;
        for (size_t j = 0; j < d; j++)
            w->mean[j] += x[j];
    }
    for (size_t j = 0; j < d; j++)
        w->mean[j] /= (double)nc;
    if (!w->cov)
        return;
    double *c = w->cov;
    memset(c, 0, d * d * sizeof(double));
    for (size_t i = 0; i < nc; i++) {
        const float *x = feat + (size_t)idx[i] * d;
        for (size_t j = 0; j < d; j++)
            w->row[j] = x[j] - w->mean[j];
        for (size_t a = 0; a < d; a++) {
            double ra = w->row[a];
            double *ca = c + a * d;
            for (size_t e = a; e < d; e++)
                ca[e] += ra * w->row[e];
        }
    }
    for (size_t a = 0; a < d; a++)
        for (size_t e = a; e < d; e++) {
            c[a * d + e] /= (double)nc;
            c[e * d + a] = c[a * d + e];
        }
}

/* out (b, d) = C in (b, d), row by row; C dense or applied as (1/nc) X_c^T (X_c v). */
static void cov_apply(work *w, const float *feat, const uint32_t *idx, size_t nc,
                      const double *in, double *out, size_t b)
{
    size_t d = w->d;
    if (w->cov) {
        for (size_t q = 0; q < b; q++)
            for (size_t a = 0; a < d; a++)
                out[q * d + a] = dot(w->cov + a * d, in + q * d, d);
        return;
    }
    memset(out, 0, b * d * sizeof(double));
    for (size_t i = 0; i < nc; i++) {
        const float *x = feat + (size_t)idx[i] * d;
        for (size_t j = 0; j < d; j++)
            w->row[j] = x[j] - w->mean[j];
        for (size_t q = 0; q < b; q++) {
            double c = dot(w->row, in + q * d, d) / (double)nc;
            for (size_t j = 0; j < d; j++)
                out[q * d + j] += c * w->row[j];
        }
    }
}

/* out (b, d) = s (b, b) in (b, d), row by row as sums of scaled rows of in */
static void rotate(double *out, const double *s, const double *in, size_t b, size_t d)
{
    for (size_t p = 0; p < b; p++) {
        double *o = out + p * d;
        for (size_t j = 0; j < d; j++)
            o[j] = 0.0;
        for (size_t q = 0; q < b; q++) {
            double c = s[p * b + q];
            const double *v = in + q * d;
            for (size_t j = 0; j < d; j++)
                o[j] += c * v[j];
        }
    }
}

/* Top w->k eigenpairs of the label's covariance by subspace iteration with a
 * Rayleigh-Ritz step: V <- orth(S C V), S the eigenvectors of V C V^T, over b = w->b
 * vectors, until every top-k Ritz pair (theta, u) has |C u - theta u| <= EIG_TOL
 * theta_0, or after EIG_MAX_ITER iterations (EIG_MAX_ITER_WIDE when the covariance is
 * applied through the data). On return the rows of w->bv are the Ritz vectors with
 * descending Ritz values in w->theta; the first k are used. */
static void top_eigen(work *w, const float *feat, const uint32_t *idx, size_t nc, rng_t *r)
{
    size_t d = w->d, b = w->b, k = w->k;
    int max_iter = w->cov ? EIG_MAX_ITER : EIG_MAX_ITER_WIDE;
    for (size_t q = 0; q < b; q++)
        random_orthonormal(w->bv, q, d, r);
    for (int it = 0;; it++) {
        cov_apply(w, feat, idx, nc, w->bv, w->bw, b);
        for (size_t p = 0; p < b; p++)
            for (size_t q = p; q < b; q++) {
                /* H = V C V^T, symmetrised against round-off */
                double h = 0.5 * (dot(w->bv + p * d, w->bw + q * d, d) +
                                  dot(w->bw + p * d, w->bv + q * d, d));
                w->bh[p * b + q] = w->bh[q * b + p] = h;
            }
        jacobi_eigen(w->bh, b, w->theta, w->bs);
        /* Ritz vectors U = S V into br, then C U = S (C V) into bv */
        rotate(w->br, w->bs, w->bv, b, d);
        rotate(w->bv, w->bs, w->bw, b, d);
        double worst = 0.0;
        for (size_t p = 0; p < k; p++) {
            double res = 0.0;
            for (size_t j = 0; j < d; j++) {
                double e = w->bv[p * d + j] - w->theta[p] * w->br[p * d + j];
                res += e * e;
            }
            worst = res > worst ? res : worst;
        }
        if (sqrt(worst) <= EIG_TOL * w->theta[0] || w->theta[0] <= 0.0 || it + 1 >= max_iter) {
            memcpy(w->bv, w->br, b * d * sizeof(double));
            return;
        }
        orthonormalise(w->bv, b, d, r);
    }
}

/* proj (nc, k) = (x_i - mean) . v_q for the first k rows v_q of w->bv. */
static void project(work *w, const float *feat, const uint32_t *idx, size_t nc)
{
    size_t d = w->d, k = w->k;
    for (size_t i = 0; i < nc; i++) {
        const float *x = feat + (size_t)idx[i] * d;
        for (size_t j = 0; j < d; j++)
            w->row[j] = x[j] - w->mean[j];
        for (size_t q = 0; q < k; q++)
            w->proj[i * k + q] = dot(w->row, w->bv + q * d, d);
    }
}

/* --- ranking ---------------------------------------------------------------------------- */

static int cmp_scored(const void *pa, const void *pb)
{
    const scored *a = pa, *b = pb;
    if (a->score != b->score)
        return a->score > b->score ? -1 : 1;
    return (a->pos > b->pos) - (a->pos < b->pos);
}

/* Flags the m highest positive scores of the label (ties: lower index first); returns
 * how many were flagged. rank[0..nc) holds the scores by position on entry. */
static size_t flag_top(work *w, const uint32_t *idx, size_t nc, size_t m, uint8_t *flag)
{
    qsort(w->rank, nc, sizeof(scored), cmp_scored);
    size_t f = 0;
    for (size_t i = 0; i < m && i < nc && w->rank[i].score > 0.0; i++, f++)
        flag[idx[w->rank[i].pos]] = 1;
    return f;
}

static size_t budget_of(const detect_opts *o, size_t nc)
{
    double m = floor(o->spectral_multiplier * o->expected_fraction * (double)nc);
    return m >= (double)nc ? nc : (size_t)m;
}

/* The labels a detector examines, and what is common to all of them: validated
 * arguments, cleared outputs, the workspace. */
static ms_status begin(work *w, const char *who, const float *feat, size_t n, size_t d,
                       const uint8_t *label, const detect_opts *o, uint8_t *flag, float *score,
                       detect_report *rep, size_t k, ms_err *err)
{
    ms_status st = check_args(who, feat, n, d, label, o, flag, err);
    if (st != MS_OK)
        return st;
    if (n > 0)
        memset(flag, 0, n);
    if (score)
        for (size_t i = 0; i < n; i++)
            score[i] = 0.0f;
    if (rep)
        memset(rep, 0, sizeof *rep);
    return work_create(w, who, n, d, k, label, err);
}

static int examined(const detect_opts *o, int c)
{
    return o->target_label < 0 || o->target_label == c;
}

static void start_label(work *w, const detect_opts *o, int c, detect_report *rep, rng_t *r)
{
    rng_init(r, o->seed, DETECT_RNG_STREAM + (uint64_t)c);
    if (rep) {
        rep->label[c].examined = 1;
        rep->label[c].n = w->start[c + 1] - w->start[c];
    }
}

/* --- spectral signatures ---------------------------------------------------------- */

ms_status detect_spectral(const float *feat, size_t n, size_t d, const uint8_t *label,
                          const detect_opts *o, uint8_t *flag, float *score,
                          detect_report *rep, ms_err *err)
{
    work w;
    ms_status st = begin(&w, "spectral", feat, n, d, label, o, flag, score, rep, 1, err);
    if (st != MS_OK)
        return st;
    for (int c = 0; c < DETECT_LABELS; c++) {
        const uint32_t *idx = w.order + w.start[c];
        size_t nc = w.start[c + 1] - w.start[c];
        rng_t r;
        if (!examined(o, c))
            continue;
        start_label(&w, o, c, rep, &r);
        if (nc < 2)
            continue;
        label_moments(&w, feat, idx, nc);
        top_eigen(&w, feat, idx, nc, &r);
        project(&w, feat, idx, nc);
        for (size_t i = 0; i < nc; i++) {
            /* score = ((x - mean) . v)^2 */
            w.rank[i].score = w.proj[i] * w.proj[i];
            w.rank[i].pos = (uint32_t)i;
            if (score)
                score[idx[i]] = (float)w.rank[i].score;
        }
        size_t m = budget_of(o, nc), f = flag_top(&w, idx, nc, m, flag);
        if (rep)
            rep->label[c].budget = m, rep->label[c].flagged = f;
    }
    free(w.block);
    return MS_OK;
}

/* --- activation clustering --------------------------------------------------------- */

static double sqdist(const double *a, const double *b, size_t m)
{
    double s = 0.0;
    for (size_t i = 0; i < m; i++)
        s += (a[i] - b[i]) * (a[i] - b[i]);
    return s;
}

/* One 2-means run on y (nc, k) from a k-means++ start; assignments into as, centroids
 * into cen (2, k); returns the inertia (sum of squared distances to the centroid). */
static double two_means(const double *y, size_t nc, size_t k, rng_t *r, uint8_t *as,
                        double *cen, size_t *cnt)
{
    size_t first = rng_below(r, (uint32_t)nc), second = first;
    memcpy(cen, y + first * k, k * sizeof(double));
    double total = 0.0;
    for (size_t i = 0; i < nc; i++)
        total += sqdist(y + i * k, cen, k);
    if (total > 0.0) { /* k-means++: second centre with probability ~ D^2 */
        double u = rng_double(r) * total, acc = 0.0;
        second = nc;
        for (size_t i = 0; i < nc && second == nc; i++) {
            acc += sqdist(y + i * k, cen, k);
            if (acc > u)
                second = i;
        }
        if (second == nc) { /* u landed on round-off: take the farthest */
            second = 0;
            for (size_t i = 1; i < nc; i++)
                if (sqdist(y + i * k, cen, k) > sqdist(y + second * k, cen, k))
                    second = i;
        }
    }
    memcpy(cen + k, y + second * k, k * sizeof(double));
    memset(as, 0xff, nc);
    double inertia = 0.0;
    for (int it = 0; it < KMEANS_MAX_ITER; it++) {
        int changed = 0;
        inertia = 0.0;
        cnt[0] = cnt[1] = 0;
        for (size_t i = 0; i < nc; i++) {
            double d0 = sqdist(y + i * k, cen, k), d1 = sqdist(y + i * k, cen + k, k);
            uint8_t a = d1 < d0;
            inertia += a ? d1 : d0;
            changed |= as[i] != a;
            as[i] = a;
            cnt[a]++;
        }
        if (!changed)
            break;
        if (cnt[0] == 0 || cnt[1] == 0) { /* refill the empty cluster with the farthest */
            uint8_t full = cnt[0] ? 0 : 1;
            size_t far = 0;
            for (size_t i = 1; i < nc; i++)
                if (sqdist(y + i * k, cen + full * k, k) > sqdist(y + far * k, cen + full * k, k))
                    far = i;
            if (sqdist(y + far * k, cen + full * k, k) == 0.0)
                break; /* all points equal: one cluster */
            as[far] = (uint8_t)!full;
            cnt[full]--, cnt[!full]++;
        }
        memset(cen, 0, 2 * k * sizeof(double));
        for (size_t i = 0; i < nc; i++)
            for (size_t q = 0; q < k; q++)
                cen[as[i] * k + q] += y[i * k + q];
        for (size_t a = 0; a < 2; a++)
            for (size_t q = 0; q < k; q++)
                cen[a * k + q] = cnt[a] ? cen[a * k + q] / (double)cnt[a] : cen[a * k + q];
    }
    return inertia;
}

/* Mean silhouette of the 2-clustering as of y (nc, k): s_i = (b_i - a_i) / max(a_i, b_i)
 * with a_i the mean distance to the rest of i's cluster and b_i to the other cluster
 * (s_i = 0 in a singleton cluster). Exact over all images when sample is 0 or >= nc,
 * else over every ceil(nc/sample)-th image (each against all images). */
static double silhouette(const double *y, size_t nc, size_t k, const uint8_t *as,
                         size_t sample, double *sum /* (nc, 2) */)
{
    size_t cnt[2] = {0, 0};
    for (size_t i = 0; i < nc; i++)
        cnt[as[i]]++;
    if (cnt[0] == 0 || cnt[1] == 0 || nc < 3)
        return 0.0;
    size_t stride = 1;
    if (sample > 0 && sample < nc)
        stride = (nc + sample - 1) / sample;
    memset(sum, 0, nc * 2 * sizeof(double));
    if (stride == 1) {
        for (size_t i = 0; i < nc; i++)
            for (size_t j = i + 1; j < nc; j++) {
                double dist = sqrt(sqdist(y + i * k, y + j * k, k));
                sum[i * 2 + as[j]] += dist;
                sum[j * 2 + as[i]] += dist;
            }
    } else {
        for (size_t i = 0; i < nc; i += stride)
            for (size_t j = 0; j < nc; j++)
                if (j != i)
                    sum[i * 2 + as[j]] += sqrt(sqdist(y + i * k, y + j * k, k));
    }
    double total = 0.0;
    size_t scored_n = 0;
    for (size_t i = 0; i < nc; i += stride, scored_n++) {
        uint8_t own = as[i];
        if (cnt[own] < 2)
            continue;
        double a = sum[i * 2 + own] / (double)(cnt[own] - 1);
        double bb = sum[i * 2 + !own] / (double)cnt[!own];
        double mx = a > bb ? a : bb;
        total += mx > 0.0 ? (bb - a) / mx : 0.0;
    }
    return total / (double)scored_n;
}

ms_status detect_clustering(const float *feat, size_t n, size_t d, const uint8_t *label,
                            const detect_opts *o, uint8_t *flag, float *score,
                            detect_report *rep, ms_err *err)
{
    work w;
    ms_status st =
        begin(&w, "clustering", feat, n, d, label, o, flag, score, rep, o->cluster_dims, err);
    if (st != MS_OK)
        return st;
    size_t k = w.k;
    for (int c = 0; c < DETECT_LABELS; c++) {
        const uint32_t *idx = w.order + w.start[c];
        size_t nc = w.start[c + 1] - w.start[c], cnt[2], best_cnt[2] = {0, 0};
        rng_t r;
        if (!examined(o, c))
            continue;
        start_label(&w, o, c, rep, &r);
        if (nc < 2)
            continue;
        label_moments(&w, feat, idx, nc);
        top_eigen(&w, feat, idx, nc, &r);
        project(&w, feat, idx, nc);
        double best = INFINITY, *cen = w.ka, *best_cen = w.kb; /* (2, k) each */
        for (size_t rs = 0; rs < o->kmeans_restarts; rs++) {
            double inertia = two_means(w.proj, nc, k, &r, w.assign, cen, cnt);
            if (inertia < best) {
                best = inertia;
                memcpy(w.best, w.assign, nc);
                memcpy(best_cen, cen, 2 * k * sizeof(double));
                best_cnt[0] = cnt[0], best_cnt[1] = cnt[1];
            }
        }
        uint8_t small = best_cnt[1] < best_cnt[0];
        double share = (double)best_cnt[small] / (double)nc;
        size_t f = 0;
        for (size_t i = 0; i < nc; i++) {
            /* score: how much closer the image is to the smaller cluster's centroid */
            double s = sqdist(w.proj + i * k, best_cen + !small * k, k) -
                       sqdist(w.proj + i * k, best_cen + small * k, k);
            if (score)
                score[idx[i]] = (float)s;
            if (share < o->cluster_threshold && w.best[i] == small)
                flag[idx[i]] = 1, f++;
        }
        if (rep) {
            rep->label[c].budget = share < o->cluster_threshold ? best_cnt[small] : 0;
            rep->label[c].flagged = f;
            rep->label[c].minority_share = share;
            rep->label[c].silhouette =
                silhouette(w.proj, nc, k, w.best, o->silhouette_sample, w.sil);
        }
    }
    free(w.block);
    return MS_OK;
}

/* --- SPECTRE-style robust whitening ------------------------------------------------- */

/* Mean (k) into mu and covariance (k, k) into cov of the rows y_i with kept[i]. */
static void kept_moments(const double *y, size_t nc, size_t k, const uint8_t *kept,
                         double *mu, double *cov)
{
    size_t m = 0;
    memset(mu, 0, k * sizeof(double));
    memset(cov, 0, k * k * sizeof(double));
    for (size_t i = 0; i < nc; i++)
        if (kept[i]) {
            m++;
            for (size_t q = 0; q < k; q++)
                mu[q] += y[i * k + q];
        }
    for (size_t q = 0; q < k; q++)
        mu[q] /= (double)m;
    for (size_t i = 0; i < nc; i++)
        if (kept[i])
            for (size_t p = 0; p < k; p++) {
                double a = y[i * k + p] - mu[p];
                for (size_t q = p; q < k; q++)
                    cov[p * k + q] += a * (y[i * k + q] - mu[q]);
            }
    for (size_t p = 0; p < k; p++)
        for (size_t q = p; q < k; q++)
            cov[q * k + p] = cov[p * k + q] /= (double)m;
}

/* Whitens the label's projected vectors y (nc, k) in place: z_i = L^-1/2 E (y_i - mu)
 * with (mu, E^T L E) the robust mean and covariance, estimated by `rounds` rounds of
 * trimming the `trim` largest Mahalanobis distances and re-estimating, then scaled so
 * that the median squared distance equals the chi-square(k) median. */
static void robust_whiten(work *w, size_t nc, size_t trim, size_t rounds)
{
    size_t k = w->k;
    double *y = w->proj, *mu = w->kv, *lam = w->kw, *cov = w->ka, *e = w->kb;
    memset(w->kept, 1, nc);
    for (size_t round = 0;; round++) {
        kept_moments(y, nc, k, w->kept, mu, cov);
        jacobi_eigen(cov, k, lam, e);
        double floor_lam = fmax(1e-12 * lam[0], 1e-300); /* against a singular covariance */
        for (size_t q = 0; q < k; q++)
            lam[q] = lam[q] > floor_lam ? lam[q] : floor_lam;
        for (size_t i = 0; i < nc; i++) {
            double d2 = 0.0;
            for (size_t q = 0; q < k; q++) {
                double t = 0.0;
                for (size_t p = 0; p < k; p++)
                    t += e[q * k + p] * (y[i * k + p] - mu[p]);
                d2 += t * t / lam[q];
            }
            w->rank[i].score = d2;
            w->rank[i].pos = (uint32_t)i;
        }
        if (round >= rounds || trim == 0)
            break;
        qsort(w->rank, nc, sizeof(scored), cmp_scored);
        int changed = 0;
        for (size_t j = 0; j < nc; j++) {
            uint8_t keep = j >= trim;
            changed |= w->kept[w->rank[j].pos] != keep;
            w->kept[w->rank[j].pos] = keep;
        }
        if (!changed)
            break;
    }
    /* consistency scale: median d^2 against the Wilson-Hilferty chi-square median */
    qsort(w->rank, nc, sizeof(scored), cmp_scored);
    double med = w->rank[nc / 2].score, chi = (double)k * pow(1.0 - 2.0 / (9.0 * (double)k), 3);
    double scale = med > 0.0 ? med / chi : 1.0;
    for (size_t i = 0; i < nc; i++) {
        double *yi = y + i * k, *t = w->kc; /* kc: (k) scratch */
        for (size_t q = 0; q < k; q++) {
            double s = 0.0;
            for (size_t p = 0; p < k; p++)
                s += e[q * k + p] * (yi[p] - mu[p]);
            t[q] = s / sqrt(lam[q] * scale);
        }
        memcpy(yi, t, k * sizeof(double));
    }
}

/* QUE scores of whitened z (nc, k) into rank[].score: tau_i = z_i^T Q z_i / tr(Q),
 * Q = exp(alpha (S - I) / (|S|_2 - 1)), S = (1/nc) sum z z^T. alpha = 0, or S without
 * an eigenvalue above 1, gives |z_i|^2 / k. */
static double que_scores(work *w, size_t nc, double alpha)
{
    size_t k = w->k;
    double *z = w->proj, *s = w->ka, *v = w->kb, *lam = w->kw, *wt = w->kv;
    memset(s, 0, k * k * sizeof(double));
    for (size_t i = 0; i < nc; i++)
        for (size_t p = 0; p < k; p++)
            for (size_t q = p; q < k; q++)
                s[p * k + q] += z[i * k + p] * z[i * k + q];
    for (size_t p = 0; p < k; p++)
        for (size_t q = p; q < k; q++)
            s[q * k + p] = s[p * k + q] /= (double)nc;
    jacobi_eigen(s, k, lam, v);
    double tr = 0.0;
    for (size_t q = 0; q < k; q++) {
        wt[q] = (alpha > 0.0 && lam[0] > 1.0 + 1e-9) ? exp(alpha * (lam[q] - 1.0) / (lam[0] - 1.0))
                                                     : 1.0;
        tr += wt[q];
    }
    for (size_t i = 0; i < nc; i++) {
        double t = 0.0;
        for (size_t q = 0; q < k; q++) {
            double pr = dot(z + i * k, v + q * k, k);
            t += wt[q] * pr * pr;
        }
        w->rank[i].score = t / tr;
        w->rank[i].pos = (uint32_t)i;
    }
    return lam[0];
}

static int cmp_double(const void *pa, const void *pb)
{
    double a = *(const double *)pa, b = *(const double *)pb;
    return (a > b) - (a < b);
}

static double median_of(double *v, size_t n) /* sorts v; n >= 1 */
{
    qsort(v, n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* Anomaly index of each label's spread among the labels that have one (have[c]):
 * (spread - median) / (1.4826 MAD); all 0 with fewer than 3 such labels or MAD 0. */
static void anomaly_index(const double *spread, const int *have, double *index)
{
    double v[DETECT_LABELS], dev[DETECT_LABELS];
    size_t m = 0;
    for (int c = 0; c < DETECT_LABELS; c++) {
        index[c] = 0.0;
        if (have[c])
            v[m++] = spread[c];
    }
    if (m < 3)
        return;
    double med = median_of(v, m);
    m = 0;
    for (int c = 0; c < DETECT_LABELS; c++)
        if (have[c])
            dev[m++] = fabs(spread[c] - med);
    double mad = 1.4826 * median_of(dev, m);
    if (!(mad > 0.0))
        return;
    for (int c = 0; c < DETECT_LABELS; c++)
        if (have[c])
            index[c] = (spread[c] - med) / mad;
}

ms_status detect_spectre(const float *feat, size_t n, size_t d, const uint8_t *label,
                         const detect_opts *o, uint8_t *flag, float *score,
                         detect_report *rep, ms_err *err)
{
    work w;
    ms_status st =
        begin(&w, "spectre", feat, n, d, label, o, flag, score, rep, o->spectre_dims, err);
    if (st != MS_OK)
        return st;
    size_t k_all = w.k;
    double spread[DETECT_LABELS] = {0}, index[DETECT_LABELS];
    int have[DETECT_LABELS] = {0};
    for (int c = 0; c < DETECT_LABELS; c++) {
        const uint32_t *idx = w.order + w.start[c];
        size_t nc = w.start[c + 1] - w.start[c];
        rng_t r;
        if (!examined(o, c))
            continue;
        start_label(&w, o, c, rep, &r);
        if (nc < 3)
            continue;
        have[c] = 1;
        /* at most nc - 2 directions, so the trimmed covariance can have full rank */
        w.k = k_all < nc - 2 ? k_all : nc - 2;
        if (w.k == 0)
            w.k = 1;
        label_moments(&w, feat, idx, nc);
        top_eigen(&w, feat, idx, nc, &r);
        project(&w, feat, idx, nc);
        size_t m = budget_of(o, nc), trim = m;
        if (nc - trim < w.k + 2)
            trim = nc > w.k + 2 ? nc - w.k - 2 : 0;
        robust_whiten(&w, nc, trim, o->spectre_rounds);
        spread[c] = que_scores(&w, nc, o->spectre_alpha);
        if (score)
            for (size_t i = 0; i < nc; i++)
                score[idx[i]] = (float)w.rank[i].score;
        size_t f = flag_top(&w, idx, nc, m, flag);
        if (rep)
            rep->label[c].budget = m, rep->label[c].flagged = f;
        w.k = k_all;
    }
    anomaly_index(spread, have, index);
    for (int c = 0; c < DETECT_LABELS; c++) {
        if (rep)
            rep->label[c].spread = spread[c], rep->label[c].anomaly = index[c];
        if (!have[c] || !(o->label_anomaly > 0.0) || index[c] > o->label_anomaly)
            continue;
        for (size_t i = w.start[c]; i < w.start[c + 1]; i++)
            flag[w.order[i]] = 0; /* a label without an outlying spread keeps no flags */
        if (rep)
            rep->label[c].flagged = 0;
    }
    free(w.block);
    return MS_OK;
}

/* --- the table ------------------------------------------------------------------------ */

static const detector_def detectors[] = {
    {"spectral", detect_spectral,
     "spectral signatures: top singular direction per label, flag the largest projections"},
    {"clustering", detect_clustering,
     "activation clustering: PCA to 10 dims, 2-means, flag a cluster under 35% of a label"},
    {"spectre", detect_spectre,
     "robust whitening (trimmed covariance, top 16 directions) and QUE scores per label"},
};

size_t detector_count(void)
{
    return sizeof detectors / sizeof detectors[0];
}

const detector_def *detector_at(size_t i)
{
    return i < detector_count() ? &detectors[i] : NULL;
}

const detector_def *detector_find(const char *name)
{
    for (size_t i = 0; name && i < detector_count(); i++)
        if (strcmp(detectors[i].name, name) == 0)
            return &detectors[i];
    return NULL;
}

/* --- scoring against the truth ------------------------------------------------------ */

static void finish_row(detect_score_row *r)
{
    r->recall = r->positives ? (double)r->true_positives / (double)r->positives : 1.0;
    r->precision = r->flagged ? (double)r->true_positives / (double)r->flagged : 1.0;
}

ms_status detect_score(const uint8_t *flag, const uint8_t *truth, const uint8_t *label,
                       size_t n, detect_scores *out, ms_err *err)
{
    memset(out, 0, sizeof *out);
    for (size_t i = 0; i < n; i++) {
        if (label[i] >= DETECT_LABELS)
            return ms_fail(err, MS_EDATA, "detect_score: label of image %zu is %u, outside 0..9",
                           i, (unsigned)label[i]);
        detect_score_row *rows[2] = {&out->label[label[i]], &out->total};
        for (int j = 0; j < 2; j++) {
            rows[j]->n++;
            rows[j]->positives += truth[i] != 0;
            rows[j]->flagged += flag[i] != 0;
            rows[j]->true_positives += flag[i] && truth[i];
            rows[j]->false_positives += flag[i] && !truth[i];
        }
    }
    for (int c = 0; c < DETECT_LABELS; c++)
        finish_row(&out->label[c]);
    finish_row(&out->total);
    return MS_OK;
}
