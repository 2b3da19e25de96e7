/* search/proxyless.c — ProxylessNAS with binary gates (REFERENCE.md §6,
 * arXiv 1812.00332; mit-han-lab/proxylessnas MixedEdge, mode "two").
 *
 * Probabilities: a layer choice or an input choice of k >= 1 inputs has
 * p = softmax(alpha); a subset input choice (k == 0) has one independent
 * gate per input, p_j = sigmoid(alpha_j).
 *
 * Weight step (every step, on the training batch): one path, per choice one
 * candidate drawn from p (an input choice: k distinct inputs drawn from p
 * without replacement; a subset choice: each input with p_j); only it runs.
 *
 * Architecture step (after the first --warmup-epochs epochs, every
 * --arch-every weight steps, on the validation batch): per layer choice two
 * distinct candidates drawn from p without replacement (an input choice:
 * k + 1 inputs), q = softmax of their alphas only, and the active one drawn
 * from q (k of them for an input choice). The binary gates g (1 for the
 * active, 0 for the other) are a tensor on the tape (os_mix.w) and both
 * sampled candidates run, so that the backward gives dL/dg_j = <dL/dy, o_j>.
 * Then, over the two sampled candidates,
 *     dL/dalpha_i = sum_j dL/dg_j q_j (delta_ij - q_i)
 * (a subset choice: dL/dalpha_j = dL/dg_j s_j (1 - s_j), s = sigmoid, every
 * input running with its gate). As the reference code does, a layer choice
 * whose active candidate is `none` gets no gradient in that step, and after
 * the Adam step the two sampled alphas are shifted by one constant so that
 * sum exp(alpha) over them is what it was: the probabilities of the
 * candidates that were not sampled do not move.
 *
 * Latency (--latency-table): E[LAT] = fixed + sum over layer choices of
 * sum_j q_j LAT_j over the sampled pair (the reference's
 * current_prob_over_ops; a block that a depth choice gates counts with the
 * probability that the depth runs it), and the loss is
 *     mul-log:    L = CE * a * (log E[LAT] / log T)^b   (a 0.2, b 0.3)
 *     add-linear: L = CE + lambda * (E[LAT] - T) / T    (lambda 0.1)
 * Its alpha gradient has the same form as the gates': with
 * G_j = dL/dg_j + dL/dE * dE/dq_j the formula above gives the whole
 * dL/dalpha. The metrics report E[LAT] under the full p per epoch. */
#include "search/proxyless.h"
#include "search/path.h"
#include "search/strategy.h"
#include "tensor/arena.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { LOSS_MUL_LOG, LOSS_ADD_LINEAR };
static const char *const loss_names[] = {"mul-log", "add-linear", NULL};

typedef struct {
    int warmup_epochs, arch_every;
    os_alpha_opts alpha;
    char latency_table[OS_OPT_STRING_MAX];
    float latency_target;
    int latency_loss;
    float lat_alpha, lat_beta, lat_lambda;
} px_opts;

static const os_option px_options[] = {
    OS_OPTION("warmup-epochs", OS_OPT_INT, px_opts, warmup_epochs, 40, 0, 100000,
              "first epochs train the weights only (no architecture step)"),
    OS_OPTION("arch-every", OS_OPT_INT, px_opts, arch_every, 5, 1, 100000,
              "one architecture step every N weight steps after the warm-up"),
    OS_OPTION("arch-lr", OS_OPT_FLOAT, px_opts, alpha.arch_lr, 1e-3, 0, 10, "architecture learning rate (Adam)"),
    OS_OPTION("arch-beta1", OS_OPT_FLOAT, px_opts, alpha.arch_beta1, 0, 0, 0.999999, "Adam beta1 for the architecture"),
    OS_OPTION("arch-beta2", OS_OPT_FLOAT, px_opts, alpha.arch_beta2, 0.999, 0, 0.999999,
              "Adam beta2 for the architecture"),
    OS_OPTION("arch-weight-decay", OS_OPT_FLOAT, px_opts, alpha.arch_weight_decay, 0, 0, 1,
              "Adam weight decay for the architecture"),
    OS_OPTION_STRING("latency-table", px_opts, latency_table,
                     "latency table (JSON, ms per candidate) for the latency loss"),
    OS_OPTION("latency-target", OS_OPT_FLOAT, px_opts, latency_target, 0, 0, 100000,
              "target latency T in ms (> 0; needs --latency-table)"),
    OS_OPTION_ENUM("latency-loss", px_opts, latency_loss, LOSS_MUL_LOG, loss_names,
                   "latency loss: CE*a*(log E/log T)^b or CE + lambda*(E-T)/T"),
    OS_OPTION("latency-alpha", OS_OPT_FLOAT, px_opts, lat_alpha, 0.2, 0, 1000, "mul-log: the factor a"),
    OS_OPTION("latency-beta", OS_OPT_FLOAT, px_opts, lat_beta, 0.3, 0, 100, "mul-log: the exponent b"),
    OS_OPTION("latency-lambda", OS_OPT_FLOAT, px_opts, lat_lambda, 0.1, 0, 1000, "add-linear: the weight lambda"),
};

typedef struct {
    os_search_env env;
    px_opts o;
    os_optim *aopt;
    os_rng rng;            /* every sample (weight and architecture steps) */
    int epoch;
    long steps;            /* weight steps taken */
    int n;                 /* choices */
    os_params gates;       /* [n] binary gates, one tensor of n_i per choice */
    unsigned *active;      /* [n] the architecture step's gates that are 1 */
    unsigned *involved;    /* [n] the candidates it runs (active or 0) */
    int arch_mode;         /* the chooser installs the gates */
    int has_table;
    os_path_space ps;      /* latency table */
    double *q, *dq, *old;  /* [n * OS_MAX_CANDIDATES] scratch: probabilities, dE[LAT]/dq, alphas before a step */
} px_state;

static int is_subset(const os_choice *c) { return c->kind == OS_CHOICE_INPUT && c->k == 0; }
/* how many candidates a path runs: 1 for a layer choice, k for an input choice */
static int kept(const os_choice *c) { return c->kind == OS_CHOICE_INPUT ? c->k : 1; }

static void alpha_of(const os_choice *c, double *a)
{
    float h[OS_MAX_CANDIDATES];
    os_tensor_to_host(c->alpha, h);
    for (int j = 0; j < c->n; j++)
        a[j] = h[j];
}

/* softmax of alpha over the candidates in mask (0 elsewhere) */
static void softmax_over(const double *a, int n, unsigned mask, double *q)
{
    double m = -INFINITY, s = 0;
    for (int j = 0; j < n; j++)
        if ((mask >> j) & 1u)
            m = a[j] > m ? a[j] : m;
    for (int j = 0; j < n; j++)
        s += (q[j] = (mask >> j) & 1u ? exp(a[j] - m) : 0.0);
    for (int j = 0; j < n; j++)
        q[j] /= s;
}

static double sigmoid(double x) { return 1.0 / (1.0 + exp(-x)); }

/* one index drawn from weights q over the candidates in mask */
static int draw(os_rng *r, const double *q, int n, unsigned mask)
{
    double tot = 0;
    int last = -1;
    for (int j = 0; j < n; j++)
        if ((mask >> j) & 1u)
            tot += q[j], last = j;
    double u = os_rng_uniform(r) * tot, acc = 0;
    for (int j = 0; j < n; j++)
        if ((mask >> j) & 1u) {
            acc += q[j];
            if (u < acc)
                return j;
        }
    return last; /* rounding at the top end */
}

/* m distinct candidates drawn from q without replacement (torch.multinomial) */
static unsigned draw_distinct(os_rng *r, const double *q, int n, unsigned mask, int m)
{
    unsigned got = 0;
    for (int t = 0; t < m && (mask & ~got); t++)
        got |= 1u << draw(r, q, n, mask & ~got);
    return got;
}

/* the weight step's path for choice c */
static unsigned sample_path(px_state *s, const os_choice *c)
{
    double a[OS_MAX_CANDIDATES], p[OS_MAX_CANDIDATES];
    alpha_of(c, a);
    if (is_subset(c)) {
        unsigned m = 0;
        for (int j = 0; j < c->n; j++)
            if (os_rng_uniform(&s->rng) < sigmoid(a[j]))
                m |= 1u << j;
        return m;
    }
    softmax_over(a, c->n, os_mask_all(c->n), p);
    return draw_distinct(&s->rng, p, c->n, os_mask_all(c->n), kept(c));
}

/* the derived path of choice c: largest alphas; a subset choice p > 0.5 */
static unsigned derived(const os_choice *c)
{
    double a[OS_MAX_CANDIDATES];
    alpha_of(c, a);
    if (is_subset(c)) {
        unsigned m = 0;
        for (int j = 0; j < c->n; j++)
            if (a[j] > 0)
                m |= 1u << j;
        return m;
    }
    unsigned m = 0;
    for (int t = 0; t < kept(c) && t < c->n; t++) {
        int best = -1;
        for (int j = 0; j < c->n; j++)
            if (!((m >> j) & 1u) && (best < 0 || a[j] > a[best]))
                best = j;
        m |= 1u << best;
    }
    return m;
}

/* the architecture step's sample of choice i (active, involved), or the
 * given pair of a layer choice */
static void sample_gates(px_state *s, int i, int act, int other)
{
    const os_choice *c = &s->env.net->choices[i];
    double a[OS_MAX_CANDIDATES], p[OS_MAX_CANDIDATES];
    alpha_of(c, a);
    if (is_subset(c)) {
        s->involved[i] = os_mask_all(c->n);
        s->active[i] = sample_path(s, c);
    } else if (act >= 0) {
        s->active[i] = 1u << act;
        s->involved[i] = s->active[i] | (other >= 0 ? 1u << other : 0u);
    } else {
        softmax_over(a, c->n, os_mask_all(c->n), p);
        s->involved[i] = draw_distinct(&s->rng, p, c->n, os_mask_all(c->n), kept(c) + 1);
        softmax_over(a, c->n, s->involved[i], p);
        s->active[i] = draw_distinct(&s->rng, p, c->n, s->involved[i], kept(c));
    }
    float g[OS_MAX_CANDIDATES];
    for (int j = 0; j < c->n; j++)
        g[j] = (s->active[i] >> j) & 1u ? 1.0f : 0.0f;
    os_tensor_from_host(s->gates.t[i], g);
}

static void choose(os_net *net, const os_forward_ctx *ctx, void *arg)
{
    px_state *s = arg;
    for (int i = 0; i < net->n_choices; i++) {
        const os_choice *c = &net->choices[i];
        if (!ctx->training)
            os_net_mix_set(net, i, derived(c), NULL);
        else if (s->arch_mode)
            os_net_mix_set(net, i, s->involved[i], s->gates.t[i]);
        else
            os_net_mix_set(net, i, sample_path(s, c), NULL);
    }
}

/* ---- latency ------------------------------------------------------------------------ */
/* E[LAT] with per choice the probabilities q (full p, or the sampled pair's),
 * and dE/dq into dq (may be NULL). A block gated by a depth choice
 * (os_choice.gate) counts with the probability that it runs,
 * P = sum over the gate's candidates d >= gate_min of q_gate,d, so that a
 * depth candidate's derivative is its own entry (0: depths are not in the
 * table) plus the expected latency of the blocks it runs. One level of
 * gating (a gate is not gated itself; create checks it). */
static double expected_latency(const px_state *s, const double *q, double *dq)
{
    const os_net *net = s->env.net;
    const double *lat = s->ps.lat;
    double e = s->ps.lat_fixed;
    if (dq)
        memset(dq, 0, sizeof *dq * (size_t)s->n * OS_MAX_CANDIDATES);
    for (int i = 0; i < s->n; i++) {
        const os_choice *c = &net->choices[i];
        if (c->kind != OS_CHOICE_LAYER)
            continue;
        double ei = 0, run = 1;
        for (int j = 0; j < c->n; j++)
            ei += q[i * OS_MAX_CANDIDATES + j] * lat[i * OS_MAX_CANDIDATES + j];
        if (c->gate >= 0) {
            run = 0;
            for (int d = c->gate_min; d < net->choices[c->gate].n; d++)
                run += q[c->gate * OS_MAX_CANDIDATES + d];
            if (dq)
                for (int d = c->gate_min; d < net->choices[c->gate].n; d++)
                    dq[c->gate * OS_MAX_CANDIDATES + d] += ei;
        }
        e += run * ei;
        if (dq)
            for (int j = 0; j < c->n; j++)
                dq[i * OS_MAX_CANDIDATES + j] += run * lat[i * OS_MAX_CANDIDATES + j];
    }
    return e;
}

/* the loss's latency part at E: mul-log the factor F (L = CE * F), add-linear
 * the term (L = CE + term); *dfde its derivative in E */
static double latency_part(const px_state *s, double e, double *dfde)
{
    double t = s->o.latency_target;
    if (s->o.latency_loss == LOSS_ADD_LINEAR) {
        *dfde = s->o.lat_lambda / t;
        return s->o.lat_lambda * (e - t) / t;
    }
    double r = log(e) / log(t), b = s->o.lat_beta;
    *dfde = s->o.lat_alpha * b * pow(r, b - 1) / (e * log(t));
    return s->o.lat_alpha * pow(r, b);
}

static int load_table(px_state *s)
{
    const px_opts *o = &s->o;
    if (!o->latency_table[0]) {
        if (o->latency_target != 0)
            return os_error("--latency-target needs --latency-table FILE (the candidates' latencies)");
        return 0;
    }
    if (!(o->latency_target > 0))
        return os_error("--latency-target: %g ms; a latency target must be > 0 ms with --latency-table",
                        (double)o->latency_target);
    for (int i = 0; i < s->n; i++) {
        const os_choice *c = &s->env.net->choices[i];
        if (c->gate >= 0 && s->env.net->choices[c->gate].gate >= 0)
            return os_error("proxyless: choice '%s' is gated by '%s', itself gated: the latency loss handles one "
                            "level of depth choices", c->label, s->env.net->choices[c->gate].label);
    }
    const os_space *sp = os_space_find(s->env.net->space);
    if (os_path_space_init(&s->ps, s->env.net, sp, 0))
        return -1;
    s->has_table = 1;
    if (os_path_latency_load(&s->ps, o->latency_table))
        return -1;
    if (o->latency_loss == LOSS_MUL_LOG) {
        os_path_cost m;
        os_path_min_cost(&s->ps, &m);
        if (!(o->latency_target > 1.0f) || !(m.latency > 1.0))
            return os_error("--latency-loss mul-log: log E[LAT] / log T needs latencies above 1 ms, but "
                            "--latency-target is %g ms and the fastest path of %s %g ms; use "
                            "--latency-loss add-linear", (double)o->latency_target, o->latency_table, m.latency);
    }
    return 0;
}

/* ---- the architecture step ---------------------------------------------------------- */
static double arch_grad(px_state *s, const os_batch *val, const int *act, const int *other)
{
    os_net *net = s->env.net;
    for (int i = 0; i < s->n; i++) {
        int layer = net->choices[i].kind == OS_CHOICE_LAYER;
        sample_gates(s, i, act && layer ? act[i] : -1, other && layer ? other[i] : -1);
    }
    /* dCE/dg: the gates are the only leaves that need a gradient */
    os_params_set_requires_grad(&net->weights, false);
    os_params_set_requires_grad(&net->arch, false);
    os_params_zero_grad(&s->gates);
    os_params_zero_grad(&net->arch);
    s->arch_mode = 1;
    os_forward_ctx ctx = {.training = true};
    os_tensor *loss = os_forward_loss(net, val, &ctx, 0.0f, 0.0f, NULL);
    double ce = os_tensor_item(loss);
    if (isfinite(ce))
        os_backward(loss);
    os_step_reset();
    s->arch_mode = 0;
    os_params_set_requires_grad(&net->weights, true);
    os_params_set_requires_grad(&net->arch, true);
    if (!isfinite(ce))
        return NAN;

    /* q per choice over its sampled candidates; E[LAT] and dL/dE */
    double *q = s->q;
    for (int i = 0; i < s->n; i++) {
        const os_choice *c = &net->choices[i];
        double a[OS_MAX_CANDIDATES];
        alpha_of(c, a);
        if (is_subset(c))
            for (int j = 0; j < c->n; j++)
                q[i * OS_MAX_CANDIDATES + j] = sigmoid(a[j]);
        else
            softmax_over(a, c->n, s->involved[i], q + i * OS_MAX_CANDIDATES);
    }
    double scale = 1, dlde = 0;
    if (s->has_table) {
        double dfde, f = latency_part(s, expected_latency(s, q, s->dq), &dfde);
        if (s->o.latency_loss == LOSS_MUL_LOG)
            scale = f, dlde = ce * dfde;
        else
            dlde = dfde;
    }
    for (int i = 0; i < s->n; i++) {
        const os_choice *c = &net->choices[i];
        const double *qi = q + i * OS_MAX_CANDIDATES;
        float gg[OS_MAX_CANDIDATES], da[OS_MAX_CANDIDATES] = {0};
        os_tensor_to_host(s->gates.t[i]->grad, gg);
        double G[OS_MAX_CANDIDATES];
        for (int j = 0; j < c->n; j++) {
            G[j] = scale * gg[j] + (s->has_table && c->kind == OS_CHOICE_LAYER ? dlde * s->dq[i * OS_MAX_CANDIDATES + j] : 0.0);
            gg[j] = (float)(scale * gg[j]);
        }
        if (scale != 1)
            os_tensor_from_host(s->gates.t[i]->grad, gg); /* dL/dg of the whole loss (mul-log: times F) */
        int zero_active = c->kind == OS_CHOICE_LAYER && c->zero_index >= 0 && s->active[i] == 1u << c->zero_index;
        if (is_subset(c)) {
            for (int j = 0; j < c->n; j++)
                da[j] = (float)(G[j] * qi[j] * (1 - qi[j]));
        } else if (!zero_active) {
            for (int ii = 0; ii < c->n; ii++) {
                if (!((s->involved[i] >> ii) & 1u))
                    continue;
                double sum = 0;
                for (int j = 0; j < c->n; j++)
                    if ((s->involved[i] >> j) & 1u)
                        sum += G[j] * qi[j] * ((ii == j) - qi[ii]);
                da[ii] = (float)sum;
            }
        }
        os_tensor_from_host(c->alpha->grad, da);
    }
    return ce;
}

/* Adam on the alphas, then the sampled alphas of every softmax choice
 * shifted so that sum exp over them is unchanged (reference:
 * rescale_updated_arch_param) */
static void arch_apply(px_state *s)
{
    os_net *net = s->env.net;
    double *old = s->old;
    for (int i = 0; i < s->n; i++)
        alpha_of(&net->choices[i], old + i * OS_MAX_CANDIDATES);
    os_optim_step(s->aopt);
    for (int i = 0; i < s->n; i++) {
        const os_choice *c = &net->choices[i];
        int zero_active = c->kind == OS_CHOICE_LAYER && c->zero_index >= 0 && s->active[i] == 1u << c->zero_index;
        if (is_subset(c) || zero_active)
            continue;
        double a[OS_MAX_CANDIDATES], so = 0, sn = 0;
        alpha_of(c, a);
        const double *o = old + i * OS_MAX_CANDIDATES;
        for (int j = 0; j < c->n; j++)
            if ((s->involved[i] >> j) & 1u)
                so += exp(o[j]), sn += exp(a[j]);
        double off = log(sn / so);
        float h[OS_MAX_CANDIDATES];
        for (int j = 0; j < c->n; j++)
            h[j] = (float)((s->involved[i] >> j) & 1u ? a[j] - off : a[j]);
        os_tensor_from_host(c->alpha, h);
    }
}

double os_proxyless_arch_step(void *state, const os_batch *val, const int *active, const int *inactive, int apply)
{
    px_state *s = state;
    double ce = arch_grad(s, val, active, inactive);
    if (apply && isfinite(ce))
        arch_apply(s);
    return ce;
}

const os_tensor *os_proxyless_gate(void *state, int choice) { return ((px_state *)state)->gates.t[choice]; }

/* ---- the plugin ---------------------------------------------------------------------- */
static void px_free(void *state);

static int px_create(const os_search_env *env, const void *options, void **state)
{
    if (!env->net->n_choices)
        return os_error("proxyless: the network has no choices to search");
    px_state *s = calloc(1, sizeof *s);
    if (!s)
        return os_error("proxyless: out of memory");
    s->env = *env;
    s->o = *(const px_opts *)options;
    s->o.latency_table[OS_OPT_STRING_MAX - 1] = 0;
    s->n = env->net->n_choices;
    s->active = calloc((size_t)s->n, sizeof *s->active);
    s->involved = calloc((size_t)s->n, sizeof *s->involved);
    s->q = calloc((size_t)s->n * OS_MAX_CANDIDATES, sizeof *s->q);
    s->dq = calloc((size_t)s->n * OS_MAX_CANDIDATES, sizeof *s->dq);
    s->old = calloc((size_t)s->n * OS_MAX_CANDIDATES, sizeof *s->old);
    if (!s->active || !s->involved || !s->q || !s->dq || !s->old) {
        px_free(s);
        return os_error("proxyless: out of memory");
    }
    for (int i = 0; i < s->n; i++) {
        const os_choice *c = &env->net->choices[i];
        char name[96];
        snprintf(name, sizeof name, "proxyless.gate.%s", c->label);
        os_params_add(&s->gates, os_param_new_on(c->alpha->device, name, 1, &c->n));
    }
    if (load_table(s)) {
        px_free(s);
        return -1;
    }
    os_rng_seed(&s->rng, env->seed * 1000003u + 41);
    s->aopt = os_alpha_adam(env->net, &s->o.alpha);
    os_net_set_chooser(env->net, choose, s);
    *state = s;
    return 0;
}

static void px_free(void *state)
{
    px_state *s = state;
    if (!s)
        return;
    if (s->aopt) {
        os_optim_free(s->aopt);
        os_net_set_chooser(s->env.net, NULL, NULL);
    }
    os_params_free_all(&s->gates);
    if (s->has_table)
        os_path_space_free(&s->ps);
    free(s->active);
    free(s->involved);
    free(s->q);
    free(s->dq);
    free(s->old);
    free(s);
}

static void px_epoch_begin(void *state, int epoch, int epochs)
{
    (void)epochs;
    ((px_state *)state)->epoch = epoch;
}

static int px_step(void *state, const os_batch *train, const os_batch *val, os_step_result *r)
{
    px_state *s = state;
    os_forward_ctx ctx = {.training = true};
    *r = os_weight_step(s->env.net, s->env.wopt, train, &ctx, 0.0f, s->env.label_smoothing, s->env.grad_clip);
    if (!isfinite(r->loss))
        return 0;
    s->steps++;
    if (s->epoch >= s->o.warmup_epochs && s->steps % s->o.arch_every == 0) {
        double ce = os_proxyless_arch_step(s, val, NULL, NULL, 1);
        if (!isfinite(ce))
            r->loss = (float)ce; /* the architecture step diverged: the caller stops */
    }
    return 0;
}

static int px_derive(void *state, os_arch *a)
{
    px_state *s = state;
    os_arch_of_net(s->env.net, a);
    for (int i = 0; i < s->n; i++) {
        const os_choice *c = &s->env.net->choices[i];
        float h[OS_MAX_CANDIDATES];
        os_tensor_to_host(c->alpha, h);
        for (int j = 0; j < c->n; j++)
            if (!isfinite(h[j]))
                return os_error("proxyless: choice '%s' has a non-finite alpha", c->label);
        unsigned m = derived(c);
        a->c[i].chosen = m || !is_subset(c) ? m : OS_CHOSEN_NONE; /* a subset choice keeping nothing */
    }
    return 0;
}

static int px_save(void *state, os_st_writer *w)
{
    px_state *s = state;
    if (os_optim_save(w, "aopt", s->aopt) || os_rng_save_meta(w, "proxyless_rng", &s->rng))
        return -1;
    char b[32];
    snprintf(b, sizeof b, "%ld", s->steps);
    os_st_set_meta(w, "proxyless_steps", b);
    return 0;
}

static int px_load(void *state, os_st_file *f, const char *path)
{
    px_state *s = state;
    if (os_optim_load(f, path, "aopt", s->aopt) || os_rng_load_meta(f, path, "proxyless_rng", &s->rng))
        return -1;
    const char *v = os_st_meta(f, "proxyless_steps");
    char *end = NULL;
    long n = v ? strtol(v, &end, 10) : -1;
    if (!v || *end || n < 0)
        return os_error("%s: checkpoint lacks the proxyless step count 'proxyless_steps'", path);
    s->steps = n;
    return 0;
}

static void px_metrics(void *state, cJSON *record)
{
    px_state *s = state;
    if (!s->has_table)
        return;
    double *q = s->q;
    for (int i = 0; i < s->n; i++) {
        const os_choice *c = &s->env.net->choices[i];
        double a[OS_MAX_CANDIDATES];
        alpha_of(c, a);
        if (c->kind == OS_CHOICE_LAYER)
            softmax_over(a, c->n, os_mask_all(c->n), q + i * OS_MAX_CANDIDATES);
    }
    double d, e = expected_latency(s, q, NULL);
    cJSON_AddNumberToObject(record, "expected_latency_ms", e);
    cJSON_AddNumberToObject(record, s->o.latency_loss == LOSS_MUL_LOG ? "latency_factor" : "latency_term",
                            latency_part(s, e, &d));
}

const os_strategy os_strategy_proxyless = {
    .name = "proxyless",
    .summary = "ProxylessNAS: binary gates, one sampled path a weight step, two-path architecture step, "
               "optional latency loss",
    .options = px_options,
    .n_options = (int)(sizeof px_options / sizeof px_options[0]),
    .options_size = sizeof(px_opts),
    .default_epochs = 160,
    .uses_arch_split = 1,
    .create = px_create,
    .free = px_free,
    .epoch_begin = px_epoch_begin,
    .step = px_step,
    .derive = px_derive,
    .save = px_save,
    .load = px_load,
    .metrics = px_metrics,
};
