/* oneshot/strategy.c — the one-shot strategies: DARTS (first and second
 * order) and GDAS. Each training step is: one architecture step (here), then
 * one weight step on a training batch (oneshot/step.c, the same for all). */
#include "oneshot/run.h"
#include "ops/ops.h"
#include "tensor/arena.h"
#include "tensor/backend.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static os_forward_ctx ctx_of(os_search_state *s)
{
    const os_strategy *st = os_strategy_find(s->cfg->strategy);
    return (os_forward_ctx){.training = true, .mode = st->mode(s), .tau = s->tau, .rng = &s->rng};
}

/* gradient of the loss on b w.r.t. the parameters that require grad */
static float loss_grad(os_search_state *s, const os_batch *b, const os_forward_ctx *ctx)
{
    os_tensor *loss = os_forward_loss(s->net, b, ctx, 0.0f, 0.0f, NULL);
    float l = os_tensor_item(loss);
    os_backward(loss);
    os_step_reset();
    return l;
}

/* ---- DARTS first order ---------------------------------------------------------- */
static void first_order_grad(os_search_state *s, const os_batch *val)
{
    os_net *net = s->net;
    os_forward_ctx ctx = ctx_of(s);
    os_params_set_requires_grad(&net->weights, false); /* no weight gradients needed */
    os_params_zero_grad(&net->arch);
    loss_grad(s, val, &ctx);
    os_params_set_requires_grad(&net->weights, true);
}

static void first_order(os_search_state *s, const os_batch *train, const os_batch *val)
{
    (void)train;
    first_order_grad(s, val);
    os_optim_step(s->aopt);
}

/* ---- DARTS second order (REFERENCE.md §2) ------------------------------------------ */
static void axpy(os_tensor *dst, float a, os_tensor *src) { OS_RUN(AXPY, &a, dst, src); }

static void ensure_buffers(os_search_state *s)
{
    if (s->backup.n)
        return;
    const os_params *w = &s->net->weights;
    for (int i = 0; i < w->n; i++) {
        os_tensor *b = os_param_new(w->t[i]->name, w->t[i]->ndim, w->t[i]->shape);
        b->flags &= ~(unsigned)OS_REQUIRES_GRAD;
        os_params_add(&s->backup, b);
        os_tensor *h = os_param_new(w->t[i]->name, w->t[i]->ndim, w->t[i]->shape);
        h->flags &= ~(unsigned)OS_REQUIRES_GRAD;
        os_params_add(&s->hvp, h);
    }
    const os_params *A = &s->net->arch;
    s->alpha_acc = calloc((size_t)A->n, sizeof *s->alpha_acc);
    for (int i = 0; i < A->n; i++)
        s->alpha_acc[i] = os_tensor_new_persistent(A->t[i]->device, A->t[i]->ndim, A->t[i]->shape);
}

static void unrolled_grad(os_search_state *s, const os_batch *train, const os_batch *val)
{
    os_net *net = s->net;
    const os_params *W = &net->weights, *A = &net->arch;
    os_forward_ctx ctx = ctx_of(s);
    ensure_buffers(s);
    float xi = os_optim_lr(s->wopt), mom = s->cfg->momentum, wd = s->cfg->weight_decay;

    /* w' = w - xi * (momentum * buf + dL_train/dw + wd * w) */
    for (int i = 0; i < W->n; i++)
        os_tensor_copy(s->backup.t[i], W->t[i]);
    os_params_set_requires_grad(A, false);
    os_params_zero_grad(W);
    loss_grad(s, train, &ctx);
    for (int i = 0; i < W->n; i++) {
        char name[128];
        snprintf(name, sizeof name, "sgd.momentum.%s", W->t[i]->name);
        os_tensor *buf = os_optim_state_find(s->wopt, name);
        if (buf && os_optim_steps(s->wopt) > 0)
            axpy(W->t[i], -xi * mom, buf);
        axpy(W->t[i], -xi, W->t[i]->grad);
        axpy(W->t[i], -xi * wd, s->backup.t[i]);
    }

    /* at w': dL_val/dalpha and v = dL_val/dw' */
    os_params_set_requires_grad(A, true);
    os_params_zero_grad(W);
    os_params_zero_grad(A);
    loss_grad(s, val, &ctx);
    double nrm = 0;
    for (int i = 0; i < W->n; i++) {
        os_tensor_copy(s->hvp.t[i], W->t[i]->grad);
        int one = 1;
        os_tensor *sq = os_tensor_new(1, &one);
        OS_RUN(SUMSQ, NULL, sq, W->t[i]->grad);
        nrm += os_tensor_item(sq);
        os_step_reset();
    }
    float eps = 0.01f / (float)sqrt(nrm > 0 ? nrm : 1e-24);
    /* keep dL_val/dalpha in alpha_acc */
    for (int i = 0; i < A->n; i++)
        os_tensor_copy(s->alpha_acc[i], A->t[i]->grad);

    /* finite-difference Hessian-vector product around the original w */
    os_params_set_requires_grad(W, false);
    for (int sign = 1; sign >= -1; sign -= 2) {
        for (int i = 0; i < W->n; i++) {
            os_tensor_copy(W->t[i], s->backup.t[i]);
            axpy(W->t[i], (float)sign * eps, s->hvp.t[i]);
        }
        os_params_zero_grad(A);
        loss_grad(s, train, &ctx);
        for (int i = 0; i < A->n; i++)
            axpy(s->alpha_acc[i], -(float)sign * xi / (2.0f * eps), A->t[i]->grad);
    }
    os_params_set_requires_grad(W, true);

    /* restore w, step alpha with the combined gradient */
    for (int i = 0; i < W->n; i++)
        os_tensor_copy(W->t[i], s->backup.t[i]);
    for (int i = 0; i < A->n; i++)
        os_tensor_copy(A->t[i]->grad, s->alpha_acc[i]);
}

void os_darts_arch_grad(os_search_state *s, const os_batch *train, const os_batch *val, int second_order)
{
    if (second_order)
        unrolled_grad(s, train, val);
    else
        first_order_grad(s, val);
}

static void darts_arch_step(os_search_state *s, const os_batch *train, const os_batch *val)
{
    os_darts_arch_grad(s, train, val, s->cfg->unrolled);
    os_optim_step(s->aopt);
}

static void darts_epoch(os_search_state *s, int epoch, int epochs) { (void)s, (void)epoch, (void)epochs; }
static os_mix_mode darts_mode(const os_search_state *s) { (void)s; return OS_MIX_SOFTMAX; }

/* ---- GDAS ------------------------------------------------------------------------ */
static void gdas_epoch(os_search_state *s, int epoch, int epochs)
{
    /* linear annealing tau_max -> tau_min over the epochs */
    float t = epochs > 1 ? (float)epoch / (float)(epochs - 1) : 1.0f;
    s->tau = s->cfg->tau_max - (s->cfg->tau_max - s->cfg->tau_min) * t;
}

static os_mix_mode gdas_mode(const os_search_state *s) { return s->cfg->hard ? OS_MIX_GUMBEL_HARD : OS_MIX_GUMBEL; }

static const os_strategy strategies[] = {
    {"darts", "DARTS: softmax-weighted mixed ops; 1st order, or 2nd order with --unrolled",
     darts_epoch, darts_arch_step, darts_mode},
    {"gdas", "GDAS: Gumbel-softmax sample per edge, tau annealed; hard (one op per edge) or --hard 0 soft",
     gdas_epoch, first_order, gdas_mode},
};

int os_strategy_count(void) { return (int)(sizeof strategies / sizeof strategies[0]); }
const os_strategy *os_strategy_at(int i) { return (i >= 0 && i < os_strategy_count()) ? &strategies[i] : NULL; }

const os_strategy *os_strategy_find(const char *name)
{
    for (int i = 0; i < os_strategy_count(); i++)
        if (!strcmp(strategies[i].name, name))
            return &strategies[i];
    return NULL;
}
