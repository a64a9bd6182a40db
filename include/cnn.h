/* cnn.h - the model: the published MNIST CNN, its parameters, forward and backward.
 *
 *   x (N,1,28,28) -> conv1 3x3 1->32 pad 1 -> ReLU -> a1 (N,32,28,28)
 *   -> conv2 3x3 32->64 pad 1 -> ReLU -> a2 (N,64,28,28) -> maxpool 2x2 -> p (N,12544)
 *   -> fc1 12544->128 -> ReLU -> h (N,128) -> fc2 128->10 -> z (N,10) logits
 *
 * Parameters and their gradients each live in one allocation, carved into tensors in
 * the order of cnn_param_names. Activations for up to max_batch images live in one
 * workspace allocation, so training allocates nothing per step. Every layer's output
 * of the last forward pass can be read with cnn_activation().
 */
#ifndef MNISTSEC_CNN_H
#define MNISTSEC_CNN_H

#include <stddef.h>
#include <stdint.h>

#include "checkpoint.h"
#include "kernels.h"
#include "status.h"

#define CNN_SIDE 28
#define CNN_PIXELS (CNN_SIDE * CNN_SIDE)
#define CNN_C1 32
#define CNN_C2 64
#define CNN_POOLED (CNN_C2 * (CNN_SIDE / 2) * (CNN_SIDE / 2)) /* 12544 */
#define CNN_HIDDEN 128
#define CNN_CLASSES 10
#define CNN_NTENSORS 8

/* Layers whose outputs can be read out (post-activation). */
typedef enum {
    CNN_LAYER_CONV1 = 0, /* (N, 32, 28, 28) after ReLU */
    CNN_LAYER_CONV2,     /* (N, 64, 28, 28) after ReLU */
    CNN_LAYER_POOL,      /* (N, 12544) */
    CNN_LAYER_FC1,       /* (N, 128) after ReLU */
    CNN_LAYER_LOGITS,    /* (N, 10) */
    CNN_NLAYERS
} cnn_layer;

typedef struct {
    size_t max_batch;
    size_t nparams;
    float *params; /* nparams floats */
    float *grads;  /* nparams floats, same layout */
    /* views into params / grads */
    float *conv1_w, *conv1_b, *conv2_w, *conv2_b, *fc1_w, *fc1_b, *fc2_w, *fc2_b;
    float *gconv1_w, *gconv1_b, *gconv2_w, *gconv2_b, *gfc1_w, *gfc1_b, *gfc2_w, *gfc2_b;
    ckpt_tensor tensors[CNN_NTENSORS]; /* names and shapes, data -> params */

    /* workspace for max_batch images (one allocation) */
    float *ws;
    const float *x;                     /* input of the last forward (caller-owned) */
    float *a1, *a2, *p, *h, *z;         /* activations */
    float *da1, *da2, *dp, *dh, *dz;    /* their gradients */
    uint32_t *argmax;                   /* (N, 64, 14, 14) */
    size_t batch;                       /* N of the last forward */

    int reference;  /* 1: use the reference ops of layers.h (for tests) */
    int keep_conv2; /* 1: keep conv2's output a2 for cnn_activation (off by default: the
                     * fast path does not need it, and writing it costs time) */
    kctx *k;
} cnn;

/* Allocates a model for batches of up to max_batch images, with nthreads workers. */
ms_status cnn_create(cnn **m, size_t max_batch, size_t nthreads, ms_err *err);
void cnn_destroy(cnn *m);

/* PyTorch's default initialisation: weights Kaiming-uniform with a = sqrt(5), i.e.
 * U(-1/sqrt(fan_in), 1/sqrt(fan_in)), biases U(-1/sqrt(fan_in), 1/sqrt(fan_in)),
 * drawn from the RNG_STREAM_INIT stream of seed. */
void cnn_init(cnn *m, uint64_t seed);

/* Forward pass. x: (N, 784) pixels in [0,1], n <= max_batch. Returns the logits
 * (N, 10), valid until the next forward. x must stay unchanged until cnn_backward. */
const float *cnn_forward(cnn *m, const float *x, size_t n);

/* Backward pass for the batch of the last cnn_forward. dlogits: (N, 10).
 * If param_grads, parameter gradients are accumulated into m->grads; if dx is non-NULL
 * it receives dL/dx (N, 784). */
void cnn_backward(cnn *m, const float *dlogits, float *dx, int param_grads);

/* Zeroes m->grads. */
void cnn_zero_grads(cnn *m);

/* Output of a layer from the last forward, and its per-image size in floats.
 * CNN_LAYER_CONV2 needs m->keep_conv2 = 1 before the forward (else NULL, size 0). */
const float *cnn_activation(const cnn *m, cnn_layer layer, size_t *per_image);

/* Checkpoint I/O of the parameters. */
ms_status cnn_save(const cnn *m, const char *path, ms_err *err);
ms_status cnn_load(cnn *m, const char *path, ms_err *err);

/* Predicted class of each row of logits (N, 10) (the first maximum). */
void cnn_argmax(const float *logits, size_t n, uint8_t *pred);

#endif
