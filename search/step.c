/* search/step.c — the pieces every training step is made of (step.h). */
#include "search/step.h"
#include "ops/ops.h"
#include "tensor/arena.h"
#include "tensor/backend.h"

#include <math.h>
#include <stdlib.h>

os_tensor *os_batch_tensor(const os_net *net, const os_batch *b)
{
    if (b->xd) {
        if (b->xd->device != os_net_device(net) || b->xd->ndim != 4 || b->xd->shape[0] != b->n ||
            b->xd->shape[1] != net->in_c || b->xd->shape[2] != net->in_h || b->xd->shape[3] != net->in_w)
            os_fatal("batch_tensor: staged batch %s on %s, the net takes [%d,%d,%d,%d] on %s", os_shape_str(b->xd),
                     os_device_name(b->xd->device), b->n, net->in_c, net->in_h, net->in_w,
                     os_device_name(os_net_device(net)));
        return b->xd;
    }
    os_tensor *x = os_tensor_new4_on(os_net_device(net), b->n, net->in_c, net->in_h, net->in_w);
    os_tensor_from_host(x, b->x);
    return x;
}

/* cross-entropy with the batch's labels: the staged device copy, else the host's */
static os_tensor *batch_xent(os_tensor *logits, const os_batch *b, float smoothing)
{
    return b->yd ? os_cross_entropy_dev(logits, b->yd, smoothing) : os_cross_entropy(logits, b->y, smoothing);
}

os_tensor *os_forward_loss_dev(os_net *net, const os_batch *b, const os_forward_ctx *ctx, float aux_weight,
                               float smoothing, os_tensor *count)
{
    os_tensor *aux = NULL;
    os_tensor *logits = net->forward(net, os_batch_tensor(net, b), ctx, aux_weight > 0 ? &aux : NULL);
    os_tensor *loss = batch_xent(logits, b, smoothing);
    if (aux) {
        os_tensor *la = batch_xent(aux, b, smoothing);
        int one = 1;
        os_tensor *w = os_tensor_new_on(la->device, 1, &one);
        os_tensor_fill(w, aux_weight);
        loss = os_add(loss, os_scale_by(la, w));
    }
    if (count && b->yd)
        os_accuracy_count_dev(count, logits, b->yd);
    else if (count)
        os_accuracy_count(count, logits, b->y);
    return loss;
}

os_tensor *os_forward_loss(os_net *net, const os_batch *b, const os_forward_ctx *ctx, float aux_weight,
                           float smoothing, int *correct)
{
    os_tensor *count = NULL;
    if (correct) {
        int one = 1;
        count = os_tensor_new_on(os_net_device(net), 1, &one);
        os_tensor_fill(count, 0.0f);
    }
    os_tensor *loss = os_forward_loss_dev(net, b, ctx, aux_weight, smoothing, count);
    if (correct)
        *correct = (int)os_tensor_item(count);
    return loss;
}

/* element i of a contiguous [n] tensor as a [1] view */
static os_tensor *slot(os_tensor *t, int i)
{
    int one = 1;
    return os_view_reshape(os_view_channels(os_view_reshape(t, 2, (int[]){1, (int)os_numel(t)}), i, 1), 1, &one);
}

/* forward; loss and correct count read together: the step's one host read */
static os_tensor *loss_and_count(os_net *net, const os_batch *b, const os_forward_ctx *ctx, float aux_weight,
                                 float smoothing, os_step_result *r)
{
    int two = 2;
    os_tensor *stats = os_tensor_new_on(os_net_device(net), 1, &two);
    os_tensor_fill(stats, 0.0f);
    os_tensor *loss = os_forward_loss_dev(net, b, ctx, aux_weight, smoothing, slot(stats, 1));
    os_tensor_copy(slot(stats, 0), loss);
    float h[2];
    os_tensor_to_host(stats, h);
    r->loss = h[0];
    r->correct = (int)h[1];
    return loss;
}

os_step_result os_weight_step(os_net *net, os_optim *wopt, const os_batch *b, const os_forward_ctx *ctx,
                              float aux_weight, float smoothing, float grad_clip)
{
    os_step_result r;
    os_params_set_requires_grad(&net->arch, false);
    os_params_zero_grad(&net->weights);
    os_tensor *loss = loss_and_count(net, b, ctx, aux_weight, smoothing, &r);
    if (!isfinite(r.loss)) { /* leave the weights as they were; the caller stops */
        os_step_reset();
        os_params_set_requires_grad(&net->arch, true);
        return r;
    }
    os_backward(loss);
    if (grad_clip > 0)
        os_clip_grad_norm_dev(&net->weights, grad_clip);
    os_optim_step(wopt);
    os_step_reset();
    os_params_set_requires_grad(&net->arch, true);
    return r;
}

os_step_result os_eval_batch(os_net *net, const os_batch *b, const os_forward_ctx *ctx)
{
    os_step_result r;
    bool old = os_set_grad_enabled(false);
    loss_and_count(net, b, ctx, 0.0f, 0.0f, &r);
    os_step_reset();
    os_set_grad_enabled(old);
    return r;
}
