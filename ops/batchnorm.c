/* ops/batchnorm.c — 2-D batch normalisation with PyTorch BatchNorm2d semantics.
 *
 * x [N,C,H,W] (any strides) -> y [N,C,H,W] contiguous.
 *   training: y = (x - mean_c) / sqrt(var_c + eps) * gamma_c + beta_c with the
 *             batch mean and biased variance over N,H,W; when running buffers
 *             are given they are updated in place:
 *               running_mean = (1 - m) * running_mean + m * mean
 *               running_var  = (1 - m) * running_var  + m * var * M / (M - 1)
 *             (M = N*H*W, the unbiased variance). The per-channel mean and
 *             1/sqrt(var + eps) are step tensors saved for backward.
 *   eval:     the running statistics replace the batch ones (both required).
 * gamma, beta NULL: affine=False (gamma = 1, beta = 0, no parameters).
 * Gradients: dx (the full batch-statistics gradient in training mode), dgamma,
 * dbeta; the running buffers get none. Eval-mode backward reads the running
 * buffers themselves (not a copy): a training-mode call on the same buffers
 * between this forward and backward would change them.
 */
#include "ops/ops.h"
#include "ops/count.h"
#include "autograd/autograd.h"
#include "tensor/backend.h"

static void check_channel_vec(const char *what, const os_tensor *v, const os_tensor *x)
{
    if (v && (v->ndim != 1 || v->shape[0] != x->shape[1]))
        os_fatal("batch_norm: %s %s does not match the %d channels of x %s",
                 what, os_shape_str(v), x->shape[1], os_shape_str(x));
}

/* saved: [0] mean, [1] invstd (both [C], step tensors) */
static void bn_backward_train(os_node *n)
{
    os_tensor *x = n->in[0], *gamma = n->in[1], *beta = n->in[2];
    os_tensor *dx = os_grad_acc(x), *dgamma = os_grad_acc(gamma), *dbeta = os_grad_acc(beta);
    if (!dx && !dgamma && !dbeta)
        return;
    OS_RUN(BN_BWD_TRAIN, n->params, dx, n->out->grad, x, gamma, n->saved[0], n->saved[1], dgamma, dbeta);
}

/* saved: [0] running_mean, [1] running_var (persistent, as used in forward) */
static void bn_backward_eval(os_node *n)
{
    os_tensor *x = n->in[0], *gamma = n->in[1], *beta = n->in[2];
    os_tensor *dx = os_grad_acc(x), *dgamma = os_grad_acc(gamma), *dbeta = os_grad_acc(beta);
    if (!dx && !dgamma && !dbeta)
        return;
    OS_RUN(BN_BWD_EVAL, n->params, dx, n->out->grad, x, gamma, n->saved[0], n->saved[1], dgamma, dbeta);
}

os_tensor *os_batch_norm(os_tensor *x, os_tensor *gamma, os_tensor *beta,
                         os_tensor *running_mean, os_tensor *running_var,
                         int training, float momentum, float eps)
{
    if (!x || x->ndim != 4)
        os_fatal("batch_norm: x %s must be [N,C,H,W]", os_shape_str(x));
    check_channel_vec("gamma", gamma, x);
    check_channel_vec("beta", beta, x);
    check_channel_vec("running_mean", running_mean, x);
    check_channel_vec("running_var", running_var, x);
    if (!running_mean != !running_var)
        os_fatal("batch_norm: running_mean %s and running_var %s must be given together",
                 os_shape_str(running_mean), os_shape_str(running_var));
    if (!training && !running_mean)
        os_fatal("batch_norm: eval mode needs running_mean and running_var (x %s)", os_shape_str(x));
    if (!(eps > 0.0f) || !(momentum >= 0.0f && momentum <= 1.0f))
        os_fatal("batch_norm: invalid eps %g or momentum %g (x %s)", eps, momentum, os_shape_str(x));
    long m = (long)x->shape[0] * x->shape[2] * x->shape[3];
    if (training && m < 2)
        os_fatal("batch_norm: training needs more than one value per channel, x %s", os_shape_str(x));

    os_bn_params p = {.eps = eps, .momentum = momentum};
    os_tensor *y = os_tensor_like(x);
    os_tensor *in[3] = {x, gamma, beta};
    os_count_op(0, 3, in); /* gamma, beta: parameters; no multiply-adds */
    if (training) {
        int c[1] = {x->shape[1]};
        os_tensor *mean = os_tensor_new_on(x->device, 1, c), *invstd = os_tensor_new_on(x->device, 1, c);
        OS_RUN(BN_FWD_TRAIN, &p, y, x, gamma, beta, mean, invstd, running_mean, running_var);
        os_node *n = os_tape_record("batch_norm", bn_backward_train, y, 3, in, &p, sizeof p);
        if (n) {
            n->saved[0] = mean;
            n->saved[1] = invstd;
        }
    } else {
        OS_RUN(BN_FWD_EVAL, &p, y, x, gamma, beta, running_mean, running_var);
        os_node *n = os_tape_record("batch_norm", bn_backward_eval, y, 3, in, &p, sizeof p);
        if (n) {
            n->saved[0] = running_mean;
            n->saved[1] = running_var;
        }
    }
    return y;
}
