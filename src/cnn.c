/* cnn.c - the model: parameters, initialisation, forward and backward (see cnn.h). */
#include "cnn.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "checked.h"
#include "layers.h"
#include "rng.h"

#define POOL_SIDE (CNN_SIDE / 2)

/* Parameter tensor shapes, in storage order. */
static const struct {
    const char *name;
    size_t ndim;
    size_t dims[4];
} param_shapes[CNN_NTENSORS] = {
    {"conv1.weight", 4, {CNN_C1, 1, 3, 3}},
    {"conv1.bias", 1, {CNN_C1, 0, 0, 0}},
    {"conv2.weight", 4, {CNN_C2, CNN_C1, 3, 3}},
    {"conv2.bias", 1, {CNN_C2, 0, 0, 0}},
    {"fc1.weight", 2, {CNN_HIDDEN, CNN_POOLED, 0, 0}},
    {"fc1.bias", 1, {CNN_HIDDEN, 0, 0, 0}},
    {"fc2.weight", 2, {CNN_CLASSES, CNN_HIDDEN, 0, 0}},
    {"fc2.bias", 1, {CNN_CLASSES, 0, 0, 0}},
};

static size_t shape_count(size_t i)
{
    size_t c = 1;
    for (size_t d = 0; d < param_shapes[i].ndim; d++)
        c *= param_shapes[i].dims[d];
    return c;
}

ms_status cnn_create(cnn **out, size_t max_batch, size_t nthreads, ms_err *err)
{
    *out = NULL;
    if (max_batch == 0 || max_batch > 100000)
        return ms_fail(err, MS_EINTERNAL, "model batch capacity %zu out of range", max_batch);
    cnn *m = calloc(1, sizeof *m);
    if (!m)
        return ms_fail(err, MS_EINTERNAL, "out of memory allocating the model");
    m->max_batch = max_batch;

    size_t np = 0;
    for (size_t i = 0; i < CNN_NTENSORS; i++)
        np += shape_count(i);
    m->nparams = np;
    /* params, grads, and a discard area for the reference path's parameter gradients
     * when they are not wanted (never touched otherwise, so it costs no memory),
     * 64-byte aligned (one cache line, one 16-float vector), so the kernels' row loads
     * do not straddle two lines; zeroed as calloc would. */
    m->params = aligned_alloc(64, (3 * np * sizeof(float) + 63) / 64 * 64);
    if (m->params) /* the discard area is cleared when used */
        memset(m->params, 0, 2 * np * sizeof(float));
    if (!m->params) {
        free(m);
        return ms_fail(err, MS_EINTERNAL, "out of memory allocating %zu parameters", np);
    }
    m->grads = m->params + np;
    float **views[CNN_NTENSORS] = {&m->conv1_w, &m->conv1_b, &m->conv2_w, &m->conv2_b, &m->fc1_w, &m->fc1_b, &m->fc2_w, &m->fc2_b};
    float **gviews[CNN_NTENSORS] = {&m->gconv1_w, &m->gconv1_b, &m->gconv2_w, &m->gconv2_b,
                                    &m->gfc1_w, &m->gfc1_b, &m->gfc2_w, &m->gfc2_b};
    size_t off = 0;
    for (size_t i = 0; i < CNN_NTENSORS; i++) {
        *views[i] = m->params + off;
        *gviews[i] = m->grads + off;
        m->tensors[i].name = param_shapes[i].name;
        m->tensors[i].ndim = param_shapes[i].ndim;
        memcpy(m->tensors[i].dims, param_shapes[i].dims, sizeof m->tensors[i].dims);
        m->tensors[i].data = m->params + off;
        off += shape_count(i);
    }

    /* Workspace: per image a1, a2, da1, da2 (N,C,28,28), p, dp (12544), h, dh (128),
     * z, dz (10), argmax (12544 uint32, same size as a float). */
    size_t per_image = 2 * (CNN_C1 + CNN_C2) * CNN_PIXELS + 3 * CNN_POOLED + 2 * CNN_HIDDEN +
                       2 * CNN_CLASSES;
    size_t total;
    if (!size_mul(&total, per_image, max_batch) || !size_mul(&total, total, sizeof(float))) {
        cnn_destroy(m);
        return ms_fail(err, MS_EINTERNAL, "model workspace size overflows");
    }
    m->ws = aligned_alloc(64, (total + 63) / 64 * 64);
    if (!m->ws) {
        cnn_destroy(m);
        return ms_fail(err, MS_EINTERNAL, "out of memory allocating %zu bytes of activations",
                       total);
    }
    float *q = m->ws;
    size_t B = max_batch;
    m->a1 = q, q += B * CNN_C1 * CNN_PIXELS;
    m->da1 = q, q += B * CNN_C1 * CNN_PIXELS;
    m->a2 = q, q += B * CNN_C2 * CNN_PIXELS;
    m->da2 = q, q += B * CNN_C2 * CNN_PIXELS;
    m->p = q, q += B * CNN_POOLED;
    m->dp = q, q += B * CNN_POOLED;
    m->argmax = (uint32_t *)(void *)q, q += B * CNN_POOLED;
    m->h = q, q += B * CNN_HIDDEN;
    m->dh = q, q += B * CNN_HIDDEN;
    m->z = q, q += B * CNN_CLASSES;
    m->dz = q;

    ms_status s = kctx_create(&m->k, nthreads, max_batch, err);
    if (s != MS_OK) {
        cnn_destroy(m);
        return s;
    }
    *out = m;
    return MS_OK;
}

void cnn_destroy(cnn *m)
{
    if (!m)
        return;
    kctx_destroy(m->k);
    free(m->ws);
    free(m->params);
    free(m);
}

void cnn_init(cnn *m, uint64_t seed)
{
    rng_t r;
    rng_init(&r, seed, RNG_STREAM_INIT);
    static const size_t fan_in[CNN_NTENSORS / 2] = {9, CNN_C1 * 9, CNN_POOLED, CNN_HIDDEN};
    /* Weight then bias of each layer; both U(-1/sqrt(fan_in), 1/sqrt(fan_in)). */
    for (size_t i = 0; i < CNN_NTENSORS; i++) {
        const size_t layer = i / 2; /* tensors 2l and 2l+1 are layer l's weight and bias */
        float bound = (float)(1.0 / sqrt((double)fan_in[layer]));
        float *t = m->tensors[i].data;
        size_t c = shape_count(i);
        for (size_t j = 0; j < c; j++)
            t[j] = rng_range(&r, -bound, bound);
    }
    cnn_zero_grads(m);
}

void cnn_zero_grads(cnn *m)
{
    memset(m->grads, 0, m->nparams * sizeof(float));
}

const float *cnn_forward(cnn *m, const float *x, size_t n)
{
    m->x = x;
    m->batch = n;
    if (m->reference) {
        conv2d_forward(m->a1, x, m->conv1_w, m->conv1_b, n, 1, CNN_C1, CNN_SIDE, CNN_SIDE);
        relu_forward(m->a1, m->a1, n * CNN_C1 * CNN_PIXELS);
        conv2d_forward(m->a2, m->a1, m->conv2_w, m->conv2_b, n, CNN_C1, CNN_C2, CNN_SIDE, CNN_SIDE);
        relu_forward(m->a2, m->a2, n * CNN_C2 * CNN_PIXELS);
        maxpool2x2_forward(m->p, m->argmax, m->a2, n, CNN_C2, CNN_SIDE, CNN_SIDE);
        linear_forward(m->h, m->p, m->fc1_w, m->fc1_b, n, CNN_POOLED, CNN_HIDDEN);
        relu_forward(m->h, m->h, n * CNN_HIDDEN);
        linear_forward(m->z, m->h, m->fc2_w, m->fc2_b, n, CNN_HIDDEN, CNN_CLASSES);
    } else {
        k_conv3x3_forward(m->k, m->a1, x, m->conv1_w, m->conv1_b, n, 1, CNN_C1, CNN_SIDE, CNN_SIDE, 1);
        /* conv2 + ReLU + pool fused: each image is pooled while it is in cache */
        k_conv3x3_relu_maxpool_forward(m->k, m->a2, m->p, m->argmax, m->a1, m->conv2_w, m->conv2_b, n,
                                       CNN_C1, CNN_C2, CNN_SIDE, CNN_SIDE, m->keep_conv2);
        k_linear_forward(m->k, m->h, m->p, m->fc1_w, m->fc1_b, n, CNN_POOLED, CNN_HIDDEN, 1);
        k_linear_forward(m->k, m->z, m->h, m->fc2_w, m->fc2_b, n, CNN_HIDDEN, CNN_CLASSES, 0);
    }
    return m->z;
}

void cnn_backward(cnn *m, const float *dlogits, float *dx, int param_grads)
{
    size_t n = m->batch;
    float *gfc2_w = param_grads ? m->gfc2_w : NULL, *gfc2_b = param_grads ? m->gfc2_b : NULL;
    float *gfc1_w = param_grads ? m->gfc1_w : NULL, *gfc1_b = param_grads ? m->gfc1_b : NULL;
    float *gconv2_w = param_grads ? m->gconv2_w : NULL, *gconv2_b = param_grads ? m->gconv2_b : NULL;
    float *gconv1_w = param_grads ? m->gconv1_w : NULL, *gconv1_b = param_grads ? m->gconv1_b : NULL;
    int need_conv1 = param_grads || dx;
    if (m->reference) {
        /* The reference ops always accumulate parameter gradients: send them to the
         * discard area when they are not wanted. */
        float *g = param_grads ? m->grads : m->grads + m->nparams;
        if (!param_grads)
            memset(g, 0, m->nparams * sizeof(float));
        float *r4 = g + (m->fc2_w - m->params), *r4b = g + (m->fc2_b - m->params);
        float *r3 = g + (m->fc1_w - m->params), *r3b = g + (m->fc1_b - m->params);
        float *r2 = g + (m->conv2_w - m->params), *r2b = g + (m->conv2_b - m->params);
        float *r1 = g + (m->conv1_w - m->params), *r1b = g + (m->conv1_b - m->params);
        linear_backward(m->dh, r4, r4b, dlogits, m->h, m->fc2_w, n, CNN_HIDDEN, CNN_CLASSES);
        relu_backward(m->dh, m->dh, m->h, n * CNN_HIDDEN);
        linear_backward(m->dp, r3, r3b, m->dh, m->p, m->fc1_w, n, CNN_POOLED, CNN_HIDDEN);
        maxpool2x2_backward(m->da2, m->dp, m->argmax, n, CNN_C2, CNN_SIDE, CNN_SIDE);
        relu_backward(m->da2, m->da2, m->a2, n * CNN_C2 * CNN_PIXELS);
        conv2d_backward(m->da1, r2, r2b, m->da2, m->a1, m->conv2_w, n, CNN_C1, CNN_C2, CNN_SIDE,
                        CNN_SIDE);
        relu_backward(m->da1, m->da1, m->a1, n * CNN_C1 * CNN_PIXELS);
        conv2d_backward(dx, r1, r1b, m->da1, m->x, m->conv1_w, n, 1, CNN_C1, CNN_SIDE, CNN_SIDE);
        return;
    }
    k_linear_backward(m->k, m->dh, gfc2_w, gfc2_b, dlogits, m->h, m->fc2_w, n, CNN_HIDDEN, CNN_CLASSES);
    relu_backward(m->dh, m->dh, m->h, n * CNN_HIDDEN);
    /* dp is masked by [p > 0] (p = max of ReLU outputs), as conv2's backward does again */
    k_linear_relu_input_backward(m->k, m->dp, gfc1_w, gfc1_b, m->dh, m->p, m->fc1_w, n, CNN_POOLED,
                                 CNN_HIDDEN);
    /* the pool routing and conv2's ReLU mask happen inside conv2's backward, which
     * visits only the window maxima (da2 is not written); conv1's ReLU mask is applied
     * while conv1's backward stages da1 */
    k_conv3x3_relu_maxpool_backward(m->k, need_conv1 ? m->da1 : NULL, gconv2_w, gconv2_b, m->dp,
                                    m->argmax, m->p, m->a1, m->conv2_w, n, CNN_C1, CNN_C2,
                                    CNN_SIDE, CNN_SIDE);
    if (!need_conv1)
        return;
    k_conv3x3_relu_backward(m->k, dx, gconv1_w, gconv1_b, m->da1, m->a1, m->x, m->conv1_w, n, 1, CNN_C1,
                            CNN_SIDE, CNN_SIDE);
}

const float *cnn_activation(const cnn *m, cnn_layer layer, size_t *per_image)
{
    size_t sz = 0;
    const float *a = NULL;
    switch (layer) {
    case CNN_LAYER_CONV1: a = m->a1, sz = (size_t)CNN_C1 * CNN_PIXELS; break;
    case CNN_LAYER_CONV2:
        if (m->reference || m->keep_conv2)
            a = m->a2, sz = (size_t)CNN_C2 * CNN_PIXELS;
        break;
    case CNN_LAYER_POOL: a = m->p, sz = CNN_POOLED; break;
    case CNN_LAYER_FC1: a = m->h, sz = CNN_HIDDEN; break;
    case CNN_LAYER_LOGITS: a = m->z, sz = CNN_CLASSES; break;
    case CNN_NLAYERS: break;
    }
    if (per_image)
        *per_image = sz;
    return a;
}

ms_status cnn_save(const cnn *m, const char *path, ms_err *err)
{
    return checkpoint_save(path, m->tensors, CNN_NTENSORS, err);
}

ms_status cnn_load(cnn *m, const char *path, ms_err *err)
{
    return checkpoint_load(path, m->tensors, CNN_NTENSORS, err);
}

void cnn_argmax(const float *logits, size_t n, uint8_t *pred)
{
    for (size_t i = 0; i < n; i++) {
        const float *z = logits + i * CNN_CLASSES;
        size_t best = 0;
        for (size_t c = 1; c < CNN_CLASSES; c++)
            if (z[c] > z[best])
                best = c;
        pred[i] = (uint8_t)best;
    }
}
