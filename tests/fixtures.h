/* fixtures.h - small models and images made by the tests themselves. */
#ifndef MNISTSEC_FIXTURES_H
#define MNISTSEC_FIXTURES_H

#include <stdio.h>
#include <stdlib.h>

#include "cnn.h"
#include "dataset.h"
#include "rng.h"

/* A model for batches of up to `batch`, initialised from seed; exits on failure. */
static inline cnn *make_model(size_t batch, size_t threads, int reference, uint64_t seed)
{
    cnn *m = NULL;
    ms_err err;
    if (cnn_create(&m, batch, threads, &err) != MS_OK) {
        fprintf(stderr, "cnn_create: %s\n", err.msg);
        exit(1);
    }
    m->reference = reference;
    cnn_init(m, seed);
    return m;
}

/* Images whose class k is a vertical bar at column 3 + 2k over faint noise. */
static inline void bar_images(float *x, uint8_t *y, size_t n, uint64_t seed)
{
    rng_t r;
    rng_init(&r, seed, 5);
    for (size_t i = 0; i < n; i++) {
        uint8_t k = (uint8_t)(i % CNN_CLASSES);
        y[i] = k;
        for (size_t p = 0; p < CNN_PIXELS; p++)
            x[i * CNN_PIXELS + p] = 0.2f * rng_uniform(&r);
        for (size_t row = 4; row < 24; row++)
            x[i * CNN_PIXELS + row * CNN_SIDE + 3 + 2 * k] = 1.0f;
    }
}

/* An in-memory data set of n bar images (float pixels); free with dataset_free. */
static inline dataset bar_dataset(size_t n, uint64_t seed)
{
    dataset ds = {0};
    ds.n = n, ds.rows = CNN_SIDE, ds.cols = CNN_SIDE;
    ds.pixels_f32 = malloc(n * CNN_PIXELS * sizeof(float));
    ds.labels = malloc(n);
    if (!ds.pixels_f32 || !ds.labels) {
        fprintf(stderr, "out of memory\n");
        exit(1);
    }
    bar_images(ds.pixels_f32, ds.labels, n, seed);
    return ds;
}

#endif
