/* poison.c - backdoor trigger and training-set poisoning (see poison.h). */
#include "poison.h"

#include <stdlib.h>

#include "rng.h"

void poison_trigger(float *x, size_t n)
{
    for (size_t i = 0; i < n; i++)
        for (size_t r = TRIGGER_LO; r <= TRIGGER_HI; r++)
            for (size_t c = TRIGGER_LO; c <= TRIGGER_HI; c++)
                x[i * 784 + r * 28 + c] = 1.0f;
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

ms_status poison_select(const dataset *ds, const poison_opts *o, uint32_t *chosen, ms_err *err)
{
    if (o->source < 0 || o->source > 9)
        return ms_fail(err, MS_EUSAGE, "--poison-source: class %d is outside 0..9", o->source);
    if (o->target < 0 || o->target > 9)
        return ms_fail(err, MS_EUSAGE, "--poison-target: class %d is outside 0..9", o->target);
    if (o->source == o->target)
        return ms_fail(err, MS_EUSAGE,
                       "--poison-target: must differ from --poison-source (both %d)", o->source);
    if (o->count == 0)
        return ms_fail(err, MS_EUSAGE, "--poison-count: must be at least 1");
    size_t avail = 0;
    for (size_t i = 0; i < ds->n; i++)
        avail += ds->labels[i] == o->source;
    if (o->count > avail)
        return ms_fail(err, MS_EUSAGE,
                       "--poison-count: %zu exceeds the %zu training images of class %d",
                       o->count, avail, o->source);
    if (o->pick == POISON_PICK_FIRST) {
        size_t k = 0;
        for (size_t i = 0; i < ds->n && k < o->count; i++)
            if (ds->labels[i] == o->source)
                chosen[k++] = (uint32_t)i;
        return MS_OK;
    }
    /* Random: a partial Fisher-Yates over the indices of the source class. */
    uint32_t *pool = malloc(avail * sizeof *pool);
    if (!pool)
        return ms_fail(err, MS_EINTERNAL, "out of memory choosing poisoned images");
    size_t k = 0;
    for (size_t i = 0; i < ds->n; i++)
        if (ds->labels[i] == o->source)
            pool[k++] = (uint32_t)i;
    rng_t r;
    rng_init(&r, o->seed, RNG_STREAM_POISON);
    for (size_t i = 0; i < o->count; i++) {
        size_t j = i + rng_below(&r, (uint32_t)(avail - i));
        uint32_t t = pool[i];
        pool[i] = pool[j];
        pool[j] = t;
        chosen[i] = pool[i];
    }
    free(pool);
    qsort(chosen, o->count, sizeof *chosen, cmp_u32);
    return MS_OK;
}

void poison_apply(dataset *ds, const uint32_t *chosen, size_t count, int target)
{
    size_t px = ds->rows * ds->cols;
    for (size_t k = 0; k < count; k++) {
        size_t i = chosen[k];
        for (size_t r = TRIGGER_LO; r <= TRIGGER_HI; r++)
            for (size_t c = TRIGGER_LO; c <= TRIGGER_HI; c++) {
                size_t off = i * px + r * ds->cols + c;
                if (ds->pixels_u8)
                    ds->pixels_u8[off] = 255;
                else
                    ds->pixels_f32[off] = 1.0f;
            }
        ds->labels[i] = (uint8_t)target;
    }
}

static double ratio(uint64_t a, uint64_t b)
{
    return b ? (double)a / (double)b : 0.0;
}

backdoor_metrics backdoor_measure(const uint64_t clean[CNN_CLASSES][CNN_CLASSES],
                                  const uint64_t trig[CNN_CLASSES][CNN_CLASSES], int source,
                                  int target)
{
    uint64_t src_count = 0, non_count = 0, non_correct = 0, non_to_target = 0;
    for (int t = 0; t < CNN_CLASSES; t++)
        for (int p = 0; p < CNN_CLASSES; p++) {
            if (t == source)
                src_count += trig[t][p];
            else {
                non_count += trig[t][p];
                non_correct += t == p ? trig[t][p] : 0;
                /* images of the target class itself are correct when predicted so */
                non_to_target += (p == target && t != target) ? trig[t][p] : 0;
            }
        }
    uint64_t other_count = non_count;
    for (int p = 0; p < CNN_CLASSES; p++)
        other_count -= trig[target][p];
    backdoor_metrics bm = {
        .triggered_source_images = src_count,
        .attack_success_rate = ratio(trig[source][target], src_count),
        .source_clean_accuracy = ratio(clean[source][source], src_count),
        .source_clean_to_target_rate = ratio(clean[source][target], src_count),
        .triggered_nonsource_accuracy = ratio(non_correct, non_count),
        .triggered_other_to_target_rate = ratio(non_to_target, other_count),
    };
    return bm;
}
