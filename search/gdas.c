/* search/gdas.c — GDAS and NNI's GumbelDARTS (REFERENCE.md §3).
 *
 * Every training forward samples each choice from a Gumbel-softmax of its
 * alpha at temperature tau: soft = softmax((alpha + g) / tau), g = -log(-log u).
 *  - hard (GDAS, default): only the argmax candidate runs, scaled by the
 *    straight-through weight onehot - sg(soft) + soft;
 *  - soft (--hard 0, NNI GumbelDARTS): every candidate, weighted by soft.
 * A subset input choice (k == 0) draws each input j from a Bernoulli with
 * p_j = sigmoid(alpha_j): only the drawn inputs run, weighted by the
 * straight-through h_j - sg(p_j) + p_j (value 1, gradient of sigmoid).
 * tau is annealed linearly from --tau-max to --tau-min over the epochs. Each
 * step: one first-order architecture step on a validation batch, then one
 * weight step. Evaluation runs the derived path (argmax alpha per choice).
 * --warmup-epochs N: the first N epochs make the weight step only, on paths
 * sampled from the alphas as they stand (uniformly, from the initial
 * alphas); tau keeps its schedule over all the epochs. */
#include "search/strategy.h"
#include "ops/ops.h"
#include "tensor/arena.h"
#include "tensor/backend.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>

typedef struct {
    float tau_max, tau_min;
    int hard, warmup_epochs;
    os_alpha_opts alpha;
} gdas_opts;

static const os_option gdas_options[] = {
    OS_OPTION("tau-max", OS_OPT_FLOAT, gdas_opts, tau_max, 10.0, 1e-3, 1e3, "initial Gumbel temperature"),
    OS_OPTION("tau-min", OS_OPT_FLOAT, gdas_opts, tau_min, 0.1, 1e-3, 1e3, "final Gumbel temperature"),
    OS_OPTION("hard", OS_OPT_INT, gdas_opts, hard, 1, 0, 1,
              "1 = hard straight-through sample (GDAS), 0 = soft (NNI GumbelDARTS)"),
    OS_OPTION("warmup-epochs", OS_OPT_INT, gdas_opts, warmup_epochs, 0, 0, 100000,
              "first epochs train the weights only (no architecture step)"),
    OS_ALPHA_OPTIONS(gdas_opts, alpha),
};

typedef struct {
    os_search_env env;
    gdas_opts o;
    os_optim *aopt;
    os_rng rng;        /* Gumbel noise */
    float tau;
    int epoch;         /* the current epoch (0-based), for the warm-up */
} gdas_state;

/* a constant next to the alphas (on their device) */
static os_tensor *const_tensor(const os_choice *c, const float *h)
{
    int n = c->n;
    os_tensor *t = os_tensor_new_on(c->alpha->device, 1, &n);
    os_tensor_from_host(t, h);
    return t;
}

/* a subset choice in training: a Bernoulli(sigmoid(alpha_j)) per input,
 * straight-through (hard forward, sigmoid gradient) */
static void choose_subset(gdas_state *s, os_net *net, int i)
{
    os_choice *c = &net->choices[i];
    os_tensor *p = os_sigmoid(c->alpha);
    float pv[OS_MAX_CANDIDATES], d[OS_MAX_CANDIDATES];
    os_tensor_to_host(p, pv);
    unsigned m = 0;
    for (int j = 0; j < c->n; j++) {
        int h = os_rng_uniform(&s->rng) < pv[j];
        m |= (unsigned)h << j;
        d[j] = (float)h - pv[j];
    }
    os_net_mix_set(net, i, m, m ? os_add(p, const_tensor(c, d)) : NULL);
}

static void choose(os_net *net, const os_forward_ctx *ctx, void *arg)
{
    gdas_state *s = arg;
    if (!ctx->training) {
        /* the derived path: per choice the largest alpha (the first when
         * alphas are NaN: a diverged run is stopped by its caller) */
        for (int i = 0; i < net->n_choices; i++) {
            os_choice *c = &net->choices[i];
            float a[OS_MAX_CANDIDATES];
            os_tensor_to_host(c->alpha, a);
            if (c->kind == OS_CHOICE_INPUT && c->k == 0) {
                unsigned m = 0; /* sigmoid(alpha) > 1/2 */
                for (int k = 0; k < c->n; k++)
                    m |= (unsigned)(a[k] > 0.0f) << k;
                os_net_mix_set(net, i, m, NULL);
                continue;
            }
            int best = 0;
            for (int k = 1; k < c->n; k++)
                if (a[k] > a[best])
                    best = k;
            os_net_mix_set(net, i, 1u << best, NULL);
        }
        return;
    }
    /* hard: every choice's argmax goes into one device vector, read once per
     * forward (which candidates run depends on it) */
    os_tensor *soft_of[net->n_choices > 0 ? net->n_choices : 1];
    os_tensor *best_dev = NULL;
    int n_hard = 0;
    for (int i = 0; i < net->n_choices; i++) {
        os_choice *c = &net->choices[i];
        soft_of[i] = NULL;
        if (c->kind == OS_CHOICE_INPUT && c->k == 0) {
            choose_subset(s, net, i);
            continue;
        }
        float g[OS_MAX_CANDIDATES], inv[OS_MAX_CANDIDATES];
        for (int j = 0; j < c->n; j++) {
            float u = os_rng_uniform(&s->rng);
            u = u < 1e-10f ? 1e-10f : u;
            g[j] = -logf(-logf(u) + 1e-20f);
            inv[j] = 1.0f / s->tau;
        }
        os_tensor *soft = os_softmax(os_mul(os_add(c->alpha, const_tensor(c, g)), const_tensor(c, inv)), 0);
        if (!s->o.hard) {
            os_net_mix_set(net, i, os_mask_all(c->n), soft);
            continue;
        }
        /* hard, straight-through: forward value one-hot, gradient of soft */
        if (!best_dev) {
            int nc = net->n_choices;
            best_dev = os_tensor_new_on(c->alpha->device, 2, (int[]){1, nc});
        }
        soft_of[i] = soft;
        OS_RUN(ARGMAX, NULL, os_view_channels(best_dev, i, 1), soft);
        n_hard++;
    }
    if (!n_hard)
        return;
    float best[net->n_choices];
    os_tensor_to_host(best_dev, best); /* the forward's one host read */
    for (int i = 0; i < net->n_choices; i++) {
        if (!soft_of[i])
            continue;
        /* d = onehot - soft, a constant (no tape): soft + d has value onehot */
        os_tensor *d = os_tensor_like(soft_of[i]);
        OS_RUN(ONEHOT, NULL, d, os_view_channels(best_dev, i, 1));
        float minus = -1.0f;
        OS_RUN(AXPY, &minus, d, soft_of[i]);
        os_net_mix_set(net, i, 1u << (int)best[i], os_add(soft_of[i], d));
    }
}

static int gdas_create(const os_search_env *env, const void *options, void **state)
{
    gdas_state *s = calloc(1, sizeof *s);
    if (!s)
        return os_error("gdas: out of memory");
    s->env = *env;
    s->o = *(const gdas_opts *)options;
    if (!env->net->n_choices) {
        free(s);
        return os_error("gdas: the network has no choices to search");
    }
    s->tau = s->o.tau_max;
    os_rng_seed(&s->rng, env->seed * 1000003u + 17);
    s->aopt = os_alpha_adam(env->net, &s->o.alpha);
    os_net_set_chooser(env->net, choose, s);
    *state = s;
    return 0;
}

static void gdas_free(void *state)
{
    gdas_state *s = state;
    if (!s)
        return;
    os_optim_free(s->aopt);
    os_net_set_chooser(s->env.net, NULL, NULL);
    free(s);
}

static void gdas_epoch_begin(void *state, int epoch, int epochs)
{
    gdas_state *s = state;
    /* linear annealing tau_max -> tau_min over the epochs */
    float t = epochs > 1 ? (float)epoch / (float)(epochs - 1) : 1.0f;
    s->tau = s->o.tau_max - (s->o.tau_max - s->o.tau_min) * t;
    s->epoch = epoch;
}

static int gdas_step(void *state, const os_batch *train, const os_batch *val, os_step_result *r)
{
    gdas_state *s = state;
    os_net *net = s->env.net;
    os_forward_ctx ctx = {.training = true};
    if (s->epoch >= s->o.warmup_epochs) {
        /* first-order architecture step on the validation batch */
        os_params_set_requires_grad(&net->weights, false);
        os_params_zero_grad(&net->arch);
        os_tensor *loss = os_forward_loss(net, val, &ctx, 0.0f, 0.0f, NULL);
        os_backward(loss);
        os_step_reset();
        os_params_set_requires_grad(&net->weights, true);
        os_optim_step(s->aopt);
    }
    *r = os_weight_step(net, s->env.wopt, train, &ctx, 0.0f, s->env.label_smoothing, s->env.grad_clip);
    return 0;
}

static int gdas_derive(void *state, os_arch *a) { return os_arch_from_alpha(((gdas_state *)state)->env.net, a); }

static int gdas_save(void *state, os_st_writer *w)
{
    gdas_state *s = state;
    if (os_optim_save(w, "aopt", s->aopt))
        return -1;
    return os_rng_save_meta(w, "rng", &s->rng);
}

static int gdas_load(void *state, os_st_file *f, const char *path)
{
    gdas_state *s = state;
    if (os_optim_load(f, path, "aopt", s->aopt))
        return -1;
    return os_rng_load_meta(f, path, "rng", &s->rng);
}

static void gdas_metrics(void *state, cJSON *record) { cJSON_AddNumberToObject(record, "tau", ((gdas_state *)state)->tau); }

const os_strategy os_strategy_gdas = {
    .name = "gdas",
    .summary = "GDAS: Gumbel-softmax sample per choice, tau annealed; hard (one op per edge) or --hard 0 soft",
    .options = gdas_options,
    .n_options = (int)(sizeof gdas_options / sizeof gdas_options[0]),
    .options_size = sizeof(gdas_opts),
    .default_epochs = 250,
    .uses_arch_split = 1,
    .create = gdas_create,
    .free = gdas_free,
    .epoch_begin = gdas_epoch_begin,
    .step = gdas_step,
    .derive = gdas_derive,
    .save = gdas_save,
    .load = gdas_load,
    .metrics = gdas_metrics,
};
