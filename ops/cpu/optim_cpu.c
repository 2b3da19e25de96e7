/* ops/cpu/optim_cpu.c — one optimizer update of one parameter tensor.
 * Elementwise and independent per element, so the result does not depend on
 * the thread count. The gradient is read only. */
#include "ops/cpu/cpu_kernels.h"
#include "autograd/optim_kernels.h"

#include <math.h>

#define OPTIM_PAR_MIN 32768 /* below this many elements one thread is faster */

/* param [S] (updated), grad [S], buf [S] or NULL (updated); all contiguous.
 * g = grad + wd*p; buf = first ? g : mom*buf + (1-damp)*g;
 * d = nesterov ? g + mom*buf : buf (g without momentum); p -= lr*d */
void os_cpu_sgd_step(const os_kargs *a)
{
    const os_sgd_step_params *sp = a->params;
    float *restrict p = a->t[0]->data;
    const float *restrict gr = a->t[1]->data;
    float *restrict buf = a->t[2] ? a->t[2]->data : NULL;
    long n = os_numel(a->t[0]);
    const float lr = sp->lr, wd = sp->weight_decay, mom = sp->momentum, damp1 = 1.0f - sp->dampening;
    const int first = sp->first_step, nesterov = sp->nesterov;
#pragma omp parallel for schedule(static) if (n >= OPTIM_PAR_MIN)
    for (long i = 0; i < n; i++) {
        float g = gr[i] + wd * p[i];
        if (buf) {
            float b = first ? g : mom * buf[i] + damp1 * g;
            buf[i] = b;
            g = nesterov ? g + mom * b : b;
        }
        p[i] -= lr * g;
    }
}

/* param [S] (updated), grad [S], m [S], v [S] (updated); all contiguous.
 * g = grad + wd*p; m = b1*m + (1-b1)*g; v = b2*v + (1-b2)*g^2;
 * p -= lr/bc1 * m / (sqrt(v)/sqrt(bc2) + eps), bc = 1 - beta^t */
void os_cpu_adam_step(const os_kargs *a)
{
    const os_adam_step_params *ap = a->params;
    float *restrict p = a->t[0]->data;
    const float *restrict gr = a->t[1]->data;
    float *restrict m = a->t[2]->data;
    float *restrict v = a->t[3]->data;
    long n = os_numel(a->t[0]);
    const float b1 = ap->beta1, b2 = ap->beta2, wd = ap->weight_decay, eps = ap->eps;
    const float step_size = ap->lr / ap->bias_corr1, bc2_sqrt = sqrtf(ap->bias_corr2);
#pragma omp parallel for schedule(static) if (n >= OPTIM_PAR_MIN)
    for (long i = 0; i < n; i++) {
        float g = gr[i] + wd * p[i];
        float mi = b1 * m[i] + (1.0f - b1) * g;
        float vi = b2 * v[i] + (1.0f - b2) * g * g;
        m[i] = mi;
        v[i] = vi;
        p[i] -= step_size * mi / (sqrtf(vi) / bc2_sqrt + eps);
    }
}
