/* supernet/net.c — the network object: parameters, BN modules, choices, mixing. */
#include "supernet/supernet.h"
#include "ops/ops.h"
#include "ops/count.h"
#include "tensor/arena.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void os_net_init(os_net *net, const char *space, int in_c, int in_h, int in_w, int classes)
{
    memset(net, 0, sizeof *net);
    snprintf(net->space, sizeof net->space, "%s", space);
    net->in_c = in_c;
    net->in_h = in_h;
    net->in_w = in_w;
    net->num_classes = classes;
}

void os_net_free(os_net *net)
{
    if (net->free_impl)
        net->free_impl(net);
    os_params_free_all(&net->weights);
    os_params_free_all(&net->arch);
    os_params_free_all(&net->buffers);
    free(net->choices);
    free(net->mix);
    memset(net, 0, sizeof *net);
}

/* PyTorch's default init for conv and linear weights: kaiming_uniform(a=sqrt(5)),
 * i.e. U(-1/sqrt(fan_in), 1/sqrt(fan_in)). */
os_device os_net_device(const os_net *net)
{
    if (net->weights.n)
        return net->weights.t[0]->device;
    if (net->arch.n)
        return net->arch.t[0]->device;
    return os_default_device();
}

os_tensor *os_net_weight(os_net *net, os_rng *r, const char *name, int ndim, const int *shape, long fan_in)
{
    os_tensor *t = os_param_new(name, ndim, shape);
    long n = os_numel(t);
    float b = 1.0f / sqrtf((float)fan_in);
    float *h = malloc(sizeof(float) * (size_t)n);
    for (long i = 0; i < n; i++)
        h[i] = (2.0f * os_rng_uniform(r) - 1.0f) * b;
    os_tensor_from_host(t, h);
    free(h);
    os_params_add(&net->weights, t);
    return t;
}

os_tensor *os_net_bias(os_net *net, os_rng *r, const char *name, int n, long fan_in)
{
    return os_net_weight(net, r, name, 1, &n, fan_in);
}

static os_tensor *buffer(os_net *net, const char *name, int C, float v)
{
    os_tensor *t = os_tensor_new_persistent(os_default_device(), 1, &C);
    snprintf(t->name, sizeof t->name, "%s", name);
    os_tensor_fill(t, v);
    /* buffers are kept in a params-like list for checkpoints; mark as param
     * for the list's check but never as requiring grad */
    t->flags |= OS_PARAM;
    os_params_add(&net->buffers, t);
    return t;
}

void os_bn_init(os_net *net, os_bn *bn, const char *name, int C, int affine)
{
    char nm[64];
    bn->C = C;
    bn->affine = affine;
    bn->eps = 1e-5f;
    bn->batch_stats = net->bn_batch_stats;
    bn->gamma = bn->beta = NULL;
    if (affine) {
        snprintf(nm, sizeof nm, "%s.weight", name);
        bn->gamma = os_param_new(nm, 1, &C);
        os_tensor_fill(bn->gamma, 1.0f);
        os_params_add(&net->weights, bn->gamma);
        snprintf(nm, sizeof nm, "%s.bias", name);
        bn->beta = os_param_new(nm, 1, &C);
        os_params_add(&net->weights, bn->beta);
    }
    snprintf(nm, sizeof nm, "%s.running_mean", name);
    bn->mean = buffer(net, nm, C, 0.0f);
    snprintf(nm, sizeof nm, "%s.running_var", name);
    bn->var = buffer(net, nm, C, 1.0f);
}

os_tensor *os_bn_forward(os_bn *bn, os_tensor *x, const os_forward_ctx *ctx)
{
    if (bn->batch_stats)
        return os_batch_norm(x, bn->gamma, bn->beta, NULL, NULL, 1, 0.1f, bn->eps);
    return os_batch_norm(x, bn->gamma, bn->beta, bn->mean, bn->var, ctx->training, 0.1f, bn->eps);
}

/* ---- choices ---------------------------------------------------------------- */
int os_net_find_choice(const os_net *net, const char *label)
{
    for (int i = 0; i < net->n_choices; i++)
        if (!strcmp(net->choices[i].label, label))
            return i;
    return -1;
}

static int add_choice(os_net *net, os_rng *r, const char *label, os_choice_kind kind, int n)
{
    if (n < 1 || n > OS_MAX_CANDIDATES)
        os_fatal("choice '%s': %d candidates (1..%d allowed)", label, n, OS_MAX_CANDIDATES);
    net->choices = realloc(net->choices, sizeof *net->choices * (size_t)(net->n_choices + 1));
    net->mix = realloc(net->mix, sizeof *net->mix * (size_t)(net->n_choices + 1));
    if (!net->choices || !net->mix)
        os_fatal("choice: out of memory");
    os_choice *c = &net->choices[net->n_choices];
    memset(c, 0, sizeof *c);
    snprintf(c->label, sizeof c->label, "%s", label);
    c->kind = kind;
    c->n = n;
    c->k = 1;
    c->zero_index = -1;
    for (int j = 0; j < OS_MAX_CANDIDATES; j++)
        c->src[j] = -1;
    c->gate = c->gate_min = -1;
    c->alpha = os_param_new(label, 1, &n);
    float h[OS_MAX_CANDIDATES];
    for (int i = 0; i < n; i++)
        h[i] = 1e-3f * os_rng_normal(r);
    os_tensor_from_host(c->alpha, h);
    os_params_add(&net->arch, c->alpha);
    memset(&net->mix[net->n_choices], 0, sizeof(os_mix));
    return net->n_choices++;
}

int os_net_layer_choice(os_net *net, os_rng *r, const char *label, int n, const char *const *names)
{
    int i = os_net_find_choice(net, label);
    if (i >= 0) {
        if (net->choices[i].n != n || net->choices[i].kind != OS_CHOICE_LAYER)
            os_fatal("layer choice '%s': redefined with %d candidates (had %d)", label, n, net->choices[i].n);
        return i;
    }
    i = add_choice(net, r, label, OS_CHOICE_LAYER, n);
    for (int j = 0; j < n; j++) {
        net->choices[i].names[j] = names[j];
        if (!strcmp(names[j], "none"))
            net->choices[i].zero_index = j;
    }
    return i;
}

void os_net_choice_gate(os_net *net, int choice, int gate, int min)
{
    if (choice < 0 || choice >= net->n_choices || gate < 0 || gate >= choice || min < 0 ||
        min >= net->choices[gate].n)
        os_fatal("choice_gate: choice %d gated by %d from candidate %d (of %d choices)", choice, gate, min,
                 net->n_choices);
    net->choices[choice].gate = gate;
    net->choices[choice].gate_min = min;
}

int os_net_input_choice(os_net *net, os_rng *r, const char *label, int n, int k)
{
    int i = os_net_find_choice(net, label);
    if (i >= 0) {
        if (net->choices[i].n != n || net->choices[i].kind != OS_CHOICE_INPUT)
            os_fatal("input choice '%s': redefined with %d inputs (had %d)", label, n, net->choices[i].n);
        return i;
    }
    if (k < 0 || k > n)
        os_fatal("input choice '%s': cannot keep %d of %d inputs", label, k, n);
    i = add_choice(net, r, label, OS_CHOICE_INPUT, n);
    net->choices[i].k = k;
    return i;
}

void os_net_set_input_src(os_net *net, int choice, int j, int src)
{
    if (choice < 0 || choice >= net->n_choices || net->choices[choice].kind != OS_CHOICE_INPUT)
        os_fatal("set_input_src: choice %d is not an input choice", choice);
    os_choice *c = &net->choices[choice];
    if (j < 0 || j >= c->n || src < -1 || src >= net->n_choices)
        os_fatal("input choice '%s': input %d from choice %d (has %d inputs, the net %d choices)", c->label, j, src,
                 c->n, net->n_choices);
    c->src[j] = src;
}

void os_choice_probs(const os_choice *c, float *p)
{
    float a[OS_MAX_CANDIDATES], m = -INFINITY, s = 0;
    os_tensor_to_host(c->alpha, a);
    if (c->kind == OS_CHOICE_INPUT && c->k == 0) {
        for (int i = 0; i < c->n; i++)
            p[i] = 1.0f / (1.0f + expf(-a[i]));
        return;
    }
    for (int i = 0; i < c->n; i++)
        m = a[i] > m ? a[i] : m;
    for (int i = 0; i < c->n; i++)
        s += (p[i] = expf(a[i] - m));
    for (int i = 0; i < c->n; i++)
        p[i] /= s;
}

/* ---- the chooser ------------------------------------------------------------- */
void os_net_set_chooser(os_net *net, void (*choose)(os_net *, const os_forward_ctx *, void *), void *arg)
{
    net->choose = choose;
    net->choose_arg = arg;
}

void os_net_mix_clear(os_net *net)
{
    if (net->n_choices)
        memset(net->mix, 0, sizeof *net->mix * (size_t)net->n_choices);
}

void os_net_mix_set(os_net *net, int choice, unsigned active, os_tensor *w)
{
    if (choice < 0 || choice >= net->n_choices)
        os_fatal("mix_set: choice %d of %d", choice, net->n_choices);
    const os_choice *c = &net->choices[choice];
    int subset = c->kind == OS_CHOICE_INPUT && c->k == 0;
    if (subset)
        active &= ~OS_CHOSEN_NONE;
    if ((!active && !subset) || (active & ~os_mask_all(c->n)))
        os_fatal("choice '%s': active mask 0x%x does not fit %d candidates", c->label, active, c->n);
    if (w && (w->ndim != 1 || w->shape[0] != c->n))
        os_fatal("choice '%s': mixing weights %s, expected [%d]", c->label, os_shape_str(w), c->n);
    net->mix[choice] = (os_mix){.w = w, .active = active};
}

void os_net_begin_forward(os_net *net, const os_forward_ctx *ctx)
{
    if (!net->n_choices)
        return;
    if (!net->choose)
        os_fatal("%s supernet: no strategy decided its choices (os_net_set_chooser)", net->space);
    os_net_mix_clear(net);
    net->choose(net, ctx, net->choose_arg);
}

static const os_mix *mix_of(const os_net *net, int choice)
{
    const os_mix *m = &net->mix[choice];
    const os_choice *c = &net->choices[choice];
    if (!m->active && !(c->kind == OS_CHOICE_INPUT && c->k == 0))
        os_fatal("choice '%s': the chooser did not decide it", net->choices[choice].label);
    return m;
}

static int only_one(unsigned mask) { return mask && !(mask & (mask - 1)); }
static int lowest(unsigned mask) { return __builtin_ctz(mask); }

/* run candidate i; while os_net_candidate_costs measures, add its cost */
static os_tensor *run_one(os_net *net, int choice, os_candidate_fn run, void *self, int i, os_tensor *x,
                          const os_forward_ctx *ctx)
{
    if (net->cand_seconds) {
        double t0 = net->cand_clock();
        os_tensor *y = run(self, i, x, ctx);
        net->cand_seconds[choice * OS_MAX_CANDIDATES + i] += net->cand_clock() - t0;
        return y;
    }
    if (!net->cand_costs)
        return run(self, i, x, ctx);
    os_cost a, b;
    os_count_now(&a);
    os_tensor *y = run(self, i, x, ctx);
    os_count_now(&b);
    os_cost *c = &net->cand_costs[choice * OS_MAX_CANDIDATES + i];
    c->macs += b.macs - a.macs;
    c->params += b.params - a.params;
    c->param_tensors += b.param_tensors - a.param_tensors;
    return y;
}

bool os_layer_choice_is_zero(const os_net *net, int choice)
{
    unsigned a = mix_of(net, choice)->active;
    return only_one(a) && lowest(a) == net->choices[choice].zero_index;
}

int os_layer_choice_active(const os_net *net, int choice)
{
    unsigned a = mix_of(net, choice)->active;
    int n = 0;
    for (; a; a &= a - 1)
        n++;
    return n;
}

os_tensor *os_layer_choice_forward(os_net *net, int choice, os_candidate_fn run, void *self,
                                   os_tensor *x, const os_forward_ctx *ctx)
{
    os_choice *c = &net->choices[choice];
    const os_mix *m = mix_of(net, choice);
    if (only_one(m->active)) {
        int k = lowest(m->active);
        os_tensor *y = run_one(net, choice, run, self, k, x, ctx);
        return m->w ? os_scale_by(y, os_select(m->w, k)) : y;
    }
    os_tensor *outs[OS_MAX_CANDIDATES];
    int n_out = 0;
    for (int i = 0; i < c->n; i++) {
        int on = (m->active >> i) & 1u;
        outs[i] = (on && !(m->w && i == c->zero_index)) ? run_one(net, choice, run, self, i, x, ctx) : NULL;
        n_out += outs[i] != NULL;
    }
    if (m->w)
        return os_weighted_sum(c->n, outs, m->w);
    int k = 0;
    for (int i = 0; i < c->n; i++)
        if (outs[i])
            outs[k++] = outs[i];
    return os_sum_n(n_out, outs);
}

os_tensor *os_input_choice_forward(os_net *net, int choice, int n, os_tensor *const *xs,
                                   const os_forward_ctx *ctx)
{
    (void)ctx;
    os_choice *c = &net->choices[choice];
    if (n != c->n)
        os_fatal("input choice '%s': given %d inputs, defined with %d", c->label, n, c->n);
    const os_mix *m = mix_of(net, choice);
    if (!m->active)
        return NULL; /* a subset choice that keeps nothing */
    if (only_one(m->active)) {
        int k = lowest(m->active);
        return m->w ? os_scale_by(xs[k], os_select(m->w, k)) : xs[k];
    }
    os_tensor *sel[OS_MAX_CANDIDATES];
    int k = 0;
    for (int i = 0; i < n; i++)
        sel[i] = ((m->active >> i) & 1u) ? xs[i] : NULL;
    if (m->w)
        return os_weighted_sum(n, sel, m->w);
    for (int i = 0; i < n; i++)
        if (sel[i])
            sel[k++] = sel[i];
    return os_sum_n(k, sel);
}

/* ---- costs --------------------------------------------------------------------- */
static void choose_all(os_net *net, const os_forward_ctx *ctx, void *arg)
{
    (void)ctx, (void)arg;
    for (int i = 0; i < net->n_choices; i++) {
        const os_choice *c = &net->choices[i];
        /* every candidate of a layer choice; an input choice its first k
         * (a subset choice all its inputs) */
        int k = c->kind == OS_CHOICE_LAYER || c->k == 0 ? c->n : c->k;
        os_net_mix_set(net, i, os_mask_all(k), NULL);
    }
}

static void cost_forward(os_net *net, os_cost *total)
{
    int one = 1;
    bool old = os_set_grad_enabled(false);
    os_tensor *x = os_tensor_new4_on(os_net_device(net), one, net->in_c, net->in_h, net->in_w);
    os_tensor_fill(x, 0.0f);
    os_forward_ctx ctx = {.training = false};
    os_count_begin();
    net->forward(net, x, &ctx, NULL);
    os_count_end(total);
    os_step_reset();
    os_set_grad_enabled(old);
}

void os_net_candidate_costs(os_net *net, os_cost *out)
{
    memset(out, 0, sizeof *out * (size_t)net->n_choices * OS_MAX_CANDIDATES);
    void (*choose)(os_net *, const os_forward_ctx *, void *) = net->choose;
    void *arg = net->choose_arg;
    os_net_set_chooser(net, choose_all, NULL);
    net->cand_costs = out;
    os_cost total;
    cost_forward(net, &total);
    net->cand_costs = NULL;
    os_net_set_chooser(net, choose, arg);
}

void os_net_cost(os_net *net, os_cost *out) { cost_forward(net, out); }
