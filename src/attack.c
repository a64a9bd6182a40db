/* attack.c - FGSM (see attack.h). */
#include "attack.h"

#include "layers.h"

static double cnn_loss_input_grad(void *self, const float *x, const uint8_t *y, size_t n,
                                  float *dx)
{
    cnn *m = self;
    const float *z = cnn_forward(m, x, n);
    double loss = softmax_xent(m->dz, z, y, n, CNN_CLASSES, n);
    cnn_backward(m, m->dz, dx, 0);
    return loss;
}

attack_model cnn_attack_model(cnn *m)
{
    attack_model am = {m, CNN_PIXELS, m->max_batch, cnn_loss_input_grad};
    return am;
}

void fgsm(const attack_model *am, const float *x, const uint8_t *y, size_t n, float eps,
          float *x_adv, float *grad)
{
    am->loss_input_grad(am->self, x, y, n, grad);
    size_t len = n * am->dim;
    for (size_t i = 0; i < len; i++) {
        float g = grad[i];
        float s = (g > 0.0f) ? eps : (g < 0.0f) ? -eps : 0.0f;
        float v = x[i] + s;
        x_adv[i] = v < 0.0f ? 0.0f : (v > 1.0f ? 1.0f : v);
    }
}
