/* search/darts.c — DARTS (REFERENCE.md §2): every choice mixes all its
 * candidates by softmax(alpha). Each step: one architecture step on a
 * validation batch (first order: d L_val / d alpha; second order: the
 * unrolled approximation), then one weight step on a training batch.
 * --warmup-epochs N: the first N epochs make the weight step only (the
 * alphas and their Adam state stay as they were; PC-DARTS's and DrNAS's
 * warm-up), so the architecture is first judged on trained weights.
 * --beta-decay L: beta-DARTS's regularization (Ye et al., CVPR 2022): the
 * architecture loss gets lambda * mean over the softmax choices of
 * logsumexp(alpha), lambda ramped linearly over the epochs (L * epoch /
 * epochs at 0-based epoch), so the largest alphas are pulled down the most
 * and none runs away (the skip collapse). */
#include "search/darts.h"
#include "ops/ops.h"
#include "tensor/arena.h"
#include "tensor/backend.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    int unrolled, warmup_epochs;
    float beta_decay;
    os_alpha_opts alpha;
} darts_opts;

static const os_option darts_options[] = {
    OS_OPTION("unrolled", OS_OPT_BOOL, darts_opts, unrolled, 0, 0, 1, "second-order architecture gradient"),
    OS_OPTION("warmup-epochs", OS_OPT_INT, darts_opts, warmup_epochs, 0, 0, 100000,
              "first epochs train the weights only (no architecture step)"),
    OS_OPTION("beta-decay", OS_OPT_FLOAT, darts_opts, beta_decay, 0, 0, 1000,
              "beta-DARTS: + lambda * mean logsumexp(alpha), lambda ramped 0 -> this over the epochs "
              "(0 = off; 0.5 x epochs is the paper's ramp of 0.5 an epoch)"),
    OS_ALPHA_OPTIONS(darts_opts, alpha),
};

typedef struct {
    os_search_env env;
    darts_opts o;
    os_optim *aopt;
    os_params backup, hvp;   /* second order: saved weights, dL_val/dw' */
    os_tensor **alpha_acc;   /* second order: accumulated alpha gradient */
    os_tensor *nrm2;         /* second order: ||dL_val/dw'||^2, on the device */
    int epoch, epochs;       /* the current epoch (0-based) and how many: warm-up, beta decay */
} darts_state;

/* softmax(alpha) for every choice, all candidates (training and evaluation);
 * a subset choice (k == 0): every input, weighted by sigmoid(alpha_j) */
static void choose_softmax(os_net *net, const os_forward_ctx *ctx, void *arg)
{
    (void)ctx, (void)arg;
    for (int i = 0; i < net->n_choices; i++) {
        const os_choice *c = &net->choices[i];
        int subset = c->kind == OS_CHOICE_INPUT && c->k == 0;
        os_net_mix_set(net, i, os_mask_all(c->n), subset ? os_sigmoid(c->alpha) : os_softmax(c->alpha, 0));
    }
}

/* gradient of the loss on b w.r.t. the parameters that require grad (the
 * loss itself is not read: no host read) */
static void loss_grad(darts_state *s, const os_batch *b)
{
    os_forward_ctx ctx = {.training = true};
    os_tensor *loss = os_forward_loss(s->env.net, b, &ctx, 0.0f, 0.0f, NULL);
    os_backward(loss);
    os_step_reset();
}

/* ---- first order ------------------------------------------------------------------ */
static void first_order_grad(darts_state *s, const os_batch *val)
{
    os_net *net = s->env.net;
    os_params_set_requires_grad(&net->weights, false); /* no weight gradients needed */
    os_params_zero_grad(&net->arch);
    loss_grad(s, val);
    os_params_set_requires_grad(&net->weights, true);
}

/* ---- second order (REFERENCE.md §2) --------------------------------------------------- */
static void axpy(os_tensor *dst, float a, os_tensor *src) { OS_RUN(AXPY, &a, dst, src); }

static void ensure_buffers(darts_state *s)
{
    if (s->backup.n)
        return;
    const os_params *w = &s->env.net->weights;
    for (int i = 0; i < w->n; i++) {
        os_tensor *b = os_param_new_on(w->t[i]->device, w->t[i]->name, w->t[i]->ndim, w->t[i]->shape);
        b->flags &= ~(unsigned)OS_REQUIRES_GRAD;
        os_params_add(&s->backup, b);
        os_tensor *h = os_param_new_on(w->t[i]->device, w->t[i]->name, w->t[i]->ndim, w->t[i]->shape);
        h->flags &= ~(unsigned)OS_REQUIRES_GRAD;
        os_params_add(&s->hvp, h);
    }
    const os_params *A = &s->env.net->arch;
    s->nrm2 = os_tensor_new_persistent(w->t[0]->device, 1, (int[]){1});
    s->alpha_acc = calloc((size_t)A->n, sizeof *s->alpha_acc);
    for (int i = 0; i < A->n; i++)
        s->alpha_acc[i] = os_tensor_new_persistent(A->t[i]->device, A->t[i]->ndim, A->t[i]->shape);
}

static void unrolled_grad(darts_state *s, const os_batch *train, const os_batch *val)
{
    os_net *net = s->env.net;
    const os_params *W = &net->weights, *A = &net->arch;
    ensure_buffers(s);
    float xi = os_optim_lr(s->env.wopt), mom = s->env.momentum, wd = s->env.weight_decay;

    /* w' = w - xi * (momentum * buf + dL_train/dw + wd * w) */
    for (int i = 0; i < W->n; i++)
        os_tensor_copy(s->backup.t[i], W->t[i]);
    os_params_set_requires_grad(A, false);
    os_params_zero_grad(W);
    loss_grad(s, train);
    for (int i = 0; i < W->n; i++) {
        char name[128];
        snprintf(name, sizeof name, "sgd.momentum.%s", W->t[i]->name);
        os_tensor *buf = os_optim_state_find(s->env.wopt, name);
        if (buf && os_optim_steps(s->env.wopt) > 0)
            axpy(W->t[i], -xi * mom, buf);
        axpy(W->t[i], -xi, W->t[i]->grad);
        axpy(W->t[i], -xi * wd, s->backup.t[i]);
    }

    /* at w': dL_val/dalpha and v = dL_val/dw' */
    os_params_set_requires_grad(A, true);
    os_params_zero_grad(W);
    os_params_zero_grad(A);
    loss_grad(s, val);
    /* ||v||^2 on the device (nrm2, persistent: it outlives the step resets);
     * eps = 0.01 / ||v|| is applied by AXPY_POW, never read on the host */
    os_tensor_fill(s->nrm2, 0.0f);
    for (int i = 0; i < W->n; i++) {
        os_tensor_copy(s->hvp.t[i], W->t[i]->grad);
        OS_RUN(SUMSQ_ACC, NULL, s->nrm2, W->t[i]->grad);
    }
    /* keep dL_val/dalpha in alpha_acc */
    for (int i = 0; i < A->n; i++)
        os_tensor_copy(s->alpha_acc[i], A->t[i]->grad);

    /* finite-difference Hessian-vector product around the original w */
    os_params_set_requires_grad(W, false);
    for (int sign = 1; sign >= -1; sign -= 2) {
        /* w = w0 + sign * eps * v, eps = 0.01 * nrm2^-1/2 */
        os_axpy_pow_params pw = {.a = (float)sign * 0.01f, .e = -0.5f};
        for (int i = 0; i < W->n; i++) {
            os_tensor_copy(W->t[i], s->backup.t[i]);
            OS_RUN(AXPY_POW, &pw, W->t[i], s->hvp.t[i], s->nrm2);
        }
        os_params_zero_grad(A);
        loss_grad(s, train);
        /* alpha_acc -= sign * xi / (2 eps) * dalpha = sign * xi / 0.02 * nrm2^1/2 */
        os_axpy_pow_params pa = {.a = -(float)sign * xi / 0.02f, .e = 0.5f};
        for (int i = 0; i < A->n; i++)
            OS_RUN(AXPY_POW, &pa, s->alpha_acc[i], A->t[i]->grad, s->nrm2);
    }
    os_params_set_requires_grad(W, true);

    /* restore w, leave the combined gradient in the alphas' grads */
    for (int i = 0; i < W->n; i++)
        os_tensor_copy(W->t[i], s->backup.t[i]);
    for (int i = 0; i < A->n; i++)
        os_tensor_copy(A->t[i]->grad, s->alpha_acc[i]);
}

/* ---- beta decay --------------------------------------------------------------------- */
static float beta_lambda(const darts_state *s)
{
    return s->epochs > 0 ? s->o.beta_decay * (float)s->epoch / (float)s->epochs : 0.0f;
}

void os_darts_beta_decay(void *state)
{
    darts_state *s = state;
    float lambda = beta_lambda(s);
    if (lambda <= 0.0f)
        return;
    os_net *net = s->env.net;
    int n = 0;
    for (int i = 0; i < net->n_choices; i++)
        n += !(net->choices[i].kind == OS_CHOICE_INPUT && net->choices[i].k == 0);
    if (!n)
        return;
    /* d/dalpha of lambda / n * logsumexp(alpha) = lambda / n * softmax(alpha) */
    float a = lambda / (float)n;
    bool old = os_set_grad_enabled(false);
    for (int i = 0; i < net->n_choices; i++) {
        const os_choice *c = &net->choices[i];
        if (c->kind == OS_CHOICE_INPUT && c->k == 0)
            continue; /* a subset choice: per-input sigmoids, no softmax to decay */
        axpy(c->alpha->grad, a, os_softmax(c->alpha, 0));
    }
    os_set_grad_enabled(old);
    os_step_reset();
}

void os_darts_arch_grad(void *state, const os_batch *train, const os_batch *val)
{
    darts_state *s = state;
    if (s->o.unrolled)
        unrolled_grad(s, train, val);
    else
        first_order_grad(s, val);
}

/* ---- the plugin ---------------------------------------------------------------------- */
static int darts_create(const os_search_env *env, const void *options, void **state)
{
    darts_state *s = calloc(1, sizeof *s);
    if (!s)
        return os_error("darts: out of memory");
    s->env = *env;
    s->o = *(const darts_opts *)options;
    if (!env->net->n_choices) {
        free(s);
        return os_error("darts: the network has no choices to search");
    }
    s->aopt = os_alpha_adam(env->net, &s->o.alpha);
    os_net_set_chooser(env->net, choose_softmax, s);
    *state = s;
    return 0;
}

static void darts_free(void *state)
{
    darts_state *s = state;
    if (!s)
        return;
    os_optim_free(s->aopt);
    os_params_free_all(&s->backup);
    os_params_free_all(&s->hvp);
    os_tensor_free(s->nrm2);
    if (s->alpha_acc) {
        for (int i = 0; i < s->env.net->arch.n; i++)
            os_tensor_free(s->alpha_acc[i]);
        free(s->alpha_acc);
    }
    os_net_set_chooser(s->env.net, NULL, NULL);
    free(s);
}

static void darts_epoch_begin(void *state, int epoch, int epochs)
{
    ((darts_state *)state)->epoch = epoch;
    ((darts_state *)state)->epochs = epochs;
}

static int darts_step(void *state, const os_batch *train, const os_batch *val, os_step_result *r)
{
    darts_state *s = state;
    if (s->epoch >= s->o.warmup_epochs) {
        os_darts_arch_grad(s, train, val);
        os_darts_beta_decay(s);
        os_optim_step(s->aopt);
    }
    os_forward_ctx ctx = {.training = true};
    *r = os_weight_step(s->env.net, s->env.wopt, train, &ctx, 0.0f, s->env.label_smoothing, s->env.grad_clip);
    return 0;
}

/* the epoch's beta-decay lambda, when the option is on */
static void darts_metrics(void *state, cJSON *record)
{
    darts_state *s = state;
    if (s->o.beta_decay > 0.0f)
        cJSON_AddNumberToObject(record, "beta_decay_lambda", beta_lambda(s));
}

static int darts_derive(void *state, os_arch *a)
{
    darts_state *s = state;
    return os_arch_from_alpha(s->env.net, a);
}

static int darts_save(void *state, os_st_writer *w) { return os_optim_save(w, "aopt", ((darts_state *)state)->aopt); }

static int darts_load(void *state, os_st_file *f, const char *path)
{
    return os_optim_load(f, path, "aopt", ((darts_state *)state)->aopt);
}

const os_strategy os_strategy_darts = {
    .name = "darts",
    .summary = "DARTS: softmax-weighted mixed ops; 1st order, or 2nd order with --unrolled",
    .options = darts_options,
    .n_options = (int)(sizeof darts_options / sizeof darts_options[0]),
    .options_size = sizeof(darts_opts),
    .uses_arch_split = 1,
    .create = darts_create,
    .free = darts_free,
    .epoch_begin = darts_epoch_begin,
    .step = darts_step,
    .derive = darts_derive,
    .save = darts_save,
    .load = darts_load,
    .metrics = darts_metrics,
};
