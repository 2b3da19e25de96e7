/* autograd/optim.h — optimizers over a parameter group, with PyTorch semantics.
 *
 *   os_optim *opt = os_optim_sgd(&weights, &(os_sgd_config){
 *       .lr = 0.025f, .momentum = 0.9f, .weight_decay = 3e-4f});
 *   for each step:
 *       os_params_zero_grad(&weights);
 *       ... forward, os_backward(loss) ...
 *       os_clip_grad_norm(&weights, 5.0f);
 *       os_optim_step(opt);
 *       os_step_reset();
 *   each epoch: os_optim_set_lr(opt, os_cosine_lr(0.025f, 0.001f, epoch, epochs));
 *   os_optim_free(opt);
 *
 * SGD is torch.optim.SGD: g = grad + wd * p; with momentum, buf = g on the
 * first step, then buf = momentum * buf + (1 - dampening) * g; the update
 * direction is buf, or g + momentum * buf with Nesterov; p -= lr * direction.
 * Adam is torch.optim.Adam (coupled L2, not AdamW): g = grad + wd * p;
 * m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2;
 * p -= lr / (1-b1^t) * m / (sqrt(v) / sqrt(1-b2^t) + eps).
 * Every parameter of the group is updated every step, also one whose grad is
 * zero (as torch 1.13 does after zero_grad(), which zeroes rather than frees).
 * The gradients are read, never modified.
 *
 * The optimizer keeps a pointer to the group: the group must outlive it and
 * must not gain or lose parameters (os_optim_step checks the count).
 * State tensors are persistent, on the parameters' devices, owned by the
 * optimizer. Updates run through the SGD_STEP / ADAM_STEP kernels: one
 * launch for the whole group when the group was flattened
 * (os_params_flatten) before the optimizer was made (the state is then one
 * flat buffer too, each state tensor a view of it), else one per parameter.
 *
 * Checkpoints: the state is a list of tensors with stable names
 *     "sgd.momentum.<param name>"                  (SGD with momentum != 0)
 *     "adam.exp_avg.<param name>", "adam.exp_avg_sq.<param name>"   (Adam)
 * plus the step count (and the learning rate, which the schedule sets).
 * A checkpoint writer saves every os_optim_state(o, i, ...) and
 * os_optim_steps(o); a reader fills the same tensors (found by name with
 * os_optim_state_find) and calls os_optim_set_steps. Names are unique when
 * the parameter names are.
 */
#ifndef OS_OPTIM_H
#define OS_OPTIM_H

#include <stddef.h>
#include "autograd/autograd.h"

typedef struct {
    float lr, momentum, dampening, weight_decay;
    int nesterov; /* needs momentum > 0 and dampening 0 (as torch) */
} os_sgd_config;

typedef struct {
    float lr, beta1, beta2, eps, weight_decay; /* torch defaults: 1e-3, 0.9, 0.999, 1e-8, 0 */
} os_adam_config;

typedef struct os_optim os_optim;

/* Misuse (a negative lr, eps, momentum or weight decay, betas outside [0,1),
 * Nesterov without momentum) is fatal. */
os_optim *os_optim_sgd(const os_params *group, const os_sgd_config *c);
os_optim *os_optim_adam(const os_params *group, const os_adam_config *c);
void os_optim_free(os_optim *o);

/* One update of every parameter from its current gradient. */
void os_optim_step(os_optim *o);

float os_optim_lr(const os_optim *o);
void os_optim_set_lr(os_optim *o, float lr);
const char *os_optim_kind(const os_optim *o); /* "sgd" or "adam" */

/* ---- state for checkpoints ------------------------------------------------ */
long os_optim_steps(const os_optim *o);          /* steps taken so far */
void os_optim_set_steps(os_optim *o, long steps); /* after restoring the state */
int os_optim_state_count(const os_optim *o);
/* State tensor i (0 <= i < count); its stable name goes into name. */
os_tensor *os_optim_state(const os_optim *o, int i, char *name, size_t name_size);
os_tensor *os_optim_state_find(const os_optim *o, const char *name); /* NULL if none */

/* ---- helpers ----------------------------------------------------------------- */
/* torch.nn.utils.clip_grad_norm_: the L2 norm of all the group's gradients
 * together; when max_norm / (norm + 1e-6) < 1 every gradient is scaled by it.
 * Returns the norm before clipping (a non-finite norm leaves the gradients
 * as they are). One 1-element step tensor holds the sum; one host read. */
float os_clip_grad_norm(const os_params *group, float max_norm);
/* The same without reading the norm: the sums of squares (SUMSQ_ACC) and the
 * scaling (CLIP_SCALE) stay on the device. */
void os_clip_grad_norm_dev(const os_params *group, float max_norm);

/* CosineAnnealingLR in closed form:
 * eta_min + (lr0 - eta_min) * (1 + cos(pi * epoch / t_max)) / 2.
 * Past t_max the cosine goes on (rises again), as in torch. */
float os_cosine_lr(float lr0, float eta_min, int epoch, int t_max);

#endif
