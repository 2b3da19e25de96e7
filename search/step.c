/* search/step.c — the pieces every training step is made of (step.h). */
#include "search/step.h"
#include "ops/ops.h"
#include "tensor/arena.h"

#include <math.h>
#include <stdlib.h>

os_tensor *os_batch_tensor(const os_net *net, const os_batch *b)
{
    os_tensor *x = os_tensor_new4_on(os_net_device(net), b->n, net->in_c, net->in_h, net->in_w);
    os_tensor_from_host(x, b->x);
    return x;
}

static int count_correct(const os_tensor *logits, const int32_t *y)
{
    int N = logits->shape[0], K = logits->shape[1], c = 0;
    float *h = os_step_alloc(sizeof(float) * (size_t)N * K);
    os_tensor_to_host(logits, h);
    for (int n = 0; n < N; n++) {
        int best = 0;
        for (int k = 1; k < K; k++)
            if (h[n * K + k] > h[n * K + best])
                best = k;
        c += best == y[n];
    }
    return c;
}

os_tensor *os_forward_loss(os_net *net, const os_batch *b, const os_forward_ctx *ctx, float aux_weight,
                           float smoothing, int *correct)
{
    os_tensor *aux = NULL;
    os_tensor *logits = net->forward(net, os_batch_tensor(net, b), ctx, aux_weight > 0 ? &aux : NULL);
    os_tensor *loss = os_cross_entropy(logits, b->y, smoothing);
    if (aux) {
        os_tensor *la = os_cross_entropy(aux, b->y, smoothing);
        int one = 1;
        os_tensor *w = os_tensor_new_on(la->device, 1, &one);
        os_tensor_fill(w, aux_weight);
        loss = os_add(loss, os_scale_by(la, w));
    }
    if (correct)
        *correct = count_correct(logits, b->y);
    return loss;
}

os_step_result os_weight_step(os_net *net, os_optim *wopt, const os_batch *b, const os_forward_ctx *ctx,
                              float aux_weight, float smoothing, float grad_clip)
{
    os_step_result r;
    os_params_set_requires_grad(&net->arch, false);
    os_params_zero_grad(&net->weights);
    os_tensor *loss = os_forward_loss(net, b, ctx, aux_weight, smoothing, &r.correct);
    r.loss = os_tensor_item(loss);
    if (!isfinite(r.loss)) { /* leave the weights as they were; the caller stops */
        os_step_reset();
        os_params_set_requires_grad(&net->arch, true);
        return r;
    }
    os_backward(loss);
    if (grad_clip > 0)
        os_clip_grad_norm(&net->weights, grad_clip);
    os_optim_step(wopt);
    os_step_reset();
    os_params_set_requires_grad(&net->arch, true);
    return r;
}

os_step_result os_eval_batch(os_net *net, const os_batch *b, const os_forward_ctx *ctx)
{
    os_step_result r;
    bool old = os_set_grad_enabled(false);
    os_tensor *loss = os_forward_loss(net, b, ctx, 0.0f, 0.0f, &r.correct);
    r.loss = os_tensor_item(loss);
    os_step_reset();
    os_set_grad_enabled(old);
    return r;
}
