/* search/enas.c — ENAS (REFERENCE.md §5, arXiv 1802.03268; NNI v2.x
 * EnasTrainer + ReinforceController): an LSTM controller
 * (search/enas_controller.h) samples children of the supernet; the shared
 * weights train on the sampled children, the controller by REINFORCE on
 * their validation accuracy.
 *
 * Decisions, derived from the net and the space (no space names here), in
 * the order of net->choices:
 *  - a free layer choice: one categorical decision over its candidates;
 *  - an input choice keeping k >= 1: k categorical decisions over its n
 *    inputs, WITHOUT replacement (a path keeps k distinct inputs);
 *  - a subset input choice (k == 0): one attention decision; input j's
 *    anchor is the LSTM output at the (last) decision of choice src[j], or
 *    the learned anchor when src[j] is -1 or not decided earlier;
 *  - a path group (search/path.h; cifar_cell: the edges into a node, keep 2)
 *    at its first member's place: per kept slot an input decision over the
 *    group's members (without replacement) then an op decision over the
 *    candidates other than `none`; every other member runs `none`. So every
 *    sample is one of the space's paths.
 *
 * A step (the trainer calls step(train, val) once per training batch):
 *  1. weight step: a fresh child sampled from the controller, trained on the
 *     train batch as a single path (only its candidates compute);
 *  2. controller sample (while the epoch's controller steps last): another
 *     child, its reward = its accuracy on the val batch (BN in eval mode, as
 *     NNI's model.eval()) + entropy_weight * entropy; baseline <- decay *
 *     baseline + (1 - decay) * reward; loss = (-log p) * (reward - baseline)
 *     + skip_weight * skip penalty, / samples, gradients accumulated; every
 *     `ctrl-samples` samples one clipped Adam step of the controller.
 * NNI runs the two phases one after the other within an epoch (all train
 * batches, then all val batches); here they interleave batch by batch with
 * the same counts (one controller sample per val batch).
 *
 * derive: the best of the last K controller samples (K = --derive-k) by
 * their reward's accuracy part (each on its own validation batch, as the
 * ENAS paper's "reward on a single minibatch"; ties: the most recent); before
 * any controller sample, the controller's most likely child (greedy). The
 * evaluation forwards run that child. */
#include "search/strategy.h"
#include "search/path.h"
#include "search/enas.h"
#include "search/enas_controller.h"
#include "ops/ops.h"
#include "tensor/arena.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    float ctrl_lr, tanh_constant, temperature, entropy_weight, baseline_decay, skip_target, skip_weight;
    int ctrl_steps, ctrl_samples;
    float ctrl_grad_clip;
    int derive_k;
} enas_opts;

static const os_option enas_options[] = {
    OS_OPTION("ctrl-lr", OS_OPT_FLOAT, enas_opts, ctrl_lr, 3.5e-4, 1e-8, 1, "controller learning rate (Adam)"),
    OS_OPTION("tanh-constant", OS_OPT_FLOAT, enas_opts, tanh_constant, 1.5, 0, 100,
              "logits = C * tanh(logits / T) (1.5 NNI; 0 = no tanh)"),
    OS_OPTION("temperature", OS_OPT_FLOAT, enas_opts, temperature, 0, 0, 100,
              "controller logits divided by it (0 = none)"),
    OS_OPTION("entropy-weight", OS_OPT_FLOAT, enas_opts, entropy_weight, 1e-4, 0, 1, "entropy bonus in the reward"),
    OS_OPTION("baseline-decay", OS_OPT_FLOAT, enas_opts, baseline_decay, 0.999, 0, 0.999999,
              "reward baseline EMA decay (0.999 NNI, 0.99 ENAS code)"),
    OS_OPTION("skip-target", OS_OPT_FLOAT, enas_opts, skip_target, 0.4, 0.01, 0.99,
              "target skip density of subset choices"),
    OS_OPTION("skip-weight", OS_OPT_FLOAT, enas_opts, skip_weight, 0.8, 0, 100, "weight of the skip penalty"),
    OS_OPTION("ctrl-steps", OS_OPT_INT, enas_opts, ctrl_steps, 0, 0, 100000,
              "controller steps per epoch (0 = one sample per validation batch, as NNI)"),
    OS_OPTION("ctrl-samples", OS_OPT_INT, enas_opts, ctrl_samples, 20, 1, 10000,
              "samples per controller step (gradients accumulated)"),
    OS_OPTION("ctrl-grad-clip", OS_OPT_FLOAT, enas_opts, ctrl_grad_clip, 5.0, 0, 1000,
              "controller gradient norm clip (0 = off)"),
    OS_OPTION("derive-k", OS_OPT_INT, enas_opts, derive_k, 10, 1, 10000,
              "derive: best of the last K controller samples by validation accuracy"),
};

/* what a decision decides */
typedef enum { D_LAYER, D_INPUT, D_SUBSET, D_GROUP_INPUT, D_GROUP_OP } dkind;
typedef struct {
    dkind kind;
    int choice;     /* D_LAYER, D_INPUT, D_SUBSET */
    int group;      /* D_GROUP_*: index into groups */
    int in_dec;     /* D_GROUP_OP: its slot's input decision */
} dmap;

typedef struct {
    int n, m[OS_MAX_CANDIDATES]; /* member choices */
    int zero, n_cand;
} group_info;

typedef struct {
    os_search_env env;
    enas_opts o;
    os_path_space ps;
    os_controller ctrl;
    os_optim *copt;
    int n_dec;
    dmap *map;
    group_info *groups;
    os_rng rng;             /* controller samples */
    float baseline;
    int samples_acc;        /* samples accumulated since the last controller step */
    int ctrl_taken;         /* controller steps this epoch */
    int ring_n, ring_pos;   /* derive: the last K samples */
    int32_t *ring_val;      /* [K * n_dec] */
    float *ring_acc;        /* [K] */
    int *val;               /* [n_dec] scratch */
    int in_step;
    os_arch cur, eval;      /* this step's child; the evaluated (derived) one */
    os_arch trained;        /* the child of the last weight step */
    double reward_sum;
    long reward_n;
} enas_state;

static void choose(os_net *net, const os_forward_ctx *ctx, void *arg)
{
    (void)ctx;
    enas_state *s = arg;
    const os_arch *p = s->in_step ? &s->cur : &s->eval;
    for (int i = 0; i < net->n_choices; i++)
        os_net_mix_set(net, i, p->c[i].chosen, NULL);
}

/* ---- decisions <-> paths ------------------------------------------------------------ */
/* dec and s->map have room (build_decisions counts an upper bound first) */
static int add_dec(enas_state *s, os_ctrl_decision *dec, os_ctrl_decision d, dmap m)
{
    dec[s->n_dec] = d;
    s->map[s->n_dec] = m;
    return s->n_dec++;
}

static int build_decisions(enas_state *s, os_ctrl_decision **out)
{
    const os_net *net = s->env.net;
    int nc = net->n_choices, cap = 0;
    /* an upper bound: every choice gives at most OS_MAX_CANDIDATES decisions, a group 2 per kept slot */
    for (int i = 0; i < nc; i++)
        cap += (net->choices[i].kind == OS_CHOICE_INPUT && net->choices[i].k > 0) ? net->choices[i].k : 2;
    os_ctrl_decision *dec = calloc((size_t)cap, sizeof *dec);
    s->map = calloc((size_t)cap, sizeof *s->map);
    s->groups = calloc((size_t)(s->ps.n_groups > 0 ? s->ps.n_groups : 1), sizeof *s->groups);
    int *last = malloc(sizeof *last * (size_t)nc);
    int *gdone = calloc((size_t)(s->ps.n_groups > 0 ? s->ps.n_groups : 1), sizeof *gdone);
    if (!dec || !s->map || !s->groups || !last || !gdone) {
        free(dec), free(last), free(gdone);
        return os_error("enas: out of memory");
    }
    for (int i = 0; i < nc; i++)
        last[i] = -1;
    int rc = 0;
    for (int i = 0; i < nc && !rc; i++) {
        const os_choice *c = &net->choices[i];
        int g = s->ps.group[i];
        if (g >= 0) {
            if (gdone[g])
                continue;
            gdone[g] = 1;
            group_info *gi = &s->groups[g];
            for (int j = 0; j < nc; j++)
                if (s->ps.group[j] == g) {
                    if (gi->n == OS_MAX_CANDIDATES) {
                        rc = os_error("enas: path group of '%s' has more than %d members", c->label,
                                      OS_MAX_CANDIDATES);
                        break;
                    }
                    const os_choice *mc = &net->choices[j];
                    if (gi->n && (mc->n != net->choices[gi->m[0]].n || mc->zero_index != gi->zero)) {
                        rc = os_error("enas: the choices of the path group of '%s' differ in their candidates "
                                      "('%s')", c->label, mc->label);
                        break;
                    }
                    gi->zero = mc->zero_index;
                    gi->n_cand = mc->n;
                    gi->m[gi->n++] = j;
                }
            int first_in = s->n_dec;
            for (int slot = 0; !rc && slot < s->ps.keep[g]; slot++) {
                os_ctrl_decision d = {.kind = OS_CTRL_CATEGORICAL, .n = gi->n, .n_excl = slot};
                for (int k = 0; k < slot; k++)
                    d.excl[k] = first_in + 2 * k;
                int din = add_dec(s, dec, d, (dmap){.kind = D_GROUP_INPUT, .group = g});
                add_dec(s, dec, (os_ctrl_decision){.kind = OS_CTRL_CATEGORICAL, .n = gi->n_cand - 1},
                        (dmap){.kind = D_GROUP_OP, .group = g, .in_dec = din});
            }
            for (int k = 0; k < gi->n; k++)
                last[gi->m[k]] = s->n_dec - 1;
        } else if (c->kind == OS_CHOICE_LAYER) {
            last[i] = add_dec(s, dec, (os_ctrl_decision){.kind = OS_CTRL_CATEGORICAL, .n = c->n},
                              (dmap){.kind = D_LAYER, .choice = i});
        } else if (c->k > 0) {
            if (c->k > c->n) {
                rc = os_error("enas: input choice '%s' keeps %d of %d inputs", c->label, c->k, c->n);
                break;
            }
            int first = s->n_dec;
            for (int k = 0; k < c->k; k++) {
                os_ctrl_decision d = {.kind = OS_CTRL_CATEGORICAL, .n = c->n, .n_excl = k};
                for (int e = 0; e < k; e++)
                    d.excl[e] = first + e;
                last[i] = add_dec(s, dec, d, (dmap){.kind = D_INPUT, .choice = i});
            }
        } else {
            os_ctrl_decision d = {.kind = OS_CTRL_SUBSET, .n = c->n};
            for (int j = 0; j < c->n; j++) {
                int src = c->src[j];
                d.anchor[j] = (src >= 0 && src < nc) ? last[src] : -1;
            }
            last[i] = add_dec(s, dec, d, (dmap){.kind = D_SUBSET, .choice = i});
        }
    }
    free(last);
    free(gdone);
    if (rc) {
        free(dec);
        return -1;
    }
    *out = dec;
    return 0;
}

/* dst = src, reusing dst's storage when it has the same choices (dst
 * initialised: {0} or an earlier copy) */
static void arch_set(os_arch *dst, const os_arch *src)
{
    if (dst->c && dst->n == src->n) {
        memcpy(dst->c, src->c, sizeof *dst->c * (size_t)src->n);
        return;
    }
    os_arch_free(dst);
    os_arch_copy(dst, src);
}

/* the path of decision values v (every value in range) */
static void path_of(const enas_state *s, const int *v, os_arch *p)
{
    arch_set(p, &s->ps.tmpl);
    for (int i = 0; i < p->n; i++)
        p->c[i].chosen = 0;
    for (int d = 0; d < s->n_dec; d++) {
        const dmap *m = &s->map[d];
        switch (m->kind) {
        case D_LAYER:
            p->c[m->choice].chosen = 1u << v[d];
            break;
        case D_INPUT:
            p->c[m->choice].chosen |= 1u << v[d];
            break;
        case D_SUBSET:
            p->c[m->choice].chosen = v[d] ? (unsigned)v[d] : OS_CHOSEN_NONE;
            break;
        case D_GROUP_INPUT:
            break;
        case D_GROUP_OP: {
            const group_info *g = &s->groups[m->group];
            int cand = v[d] < g->zero ? v[d] : v[d] + 1;
            p->c[g->m[v[m->in_dec]]].chosen = 1u << cand;
            break;
        }
        }
    }
    for (int g = 0; g < s->ps.n_groups; g++)
        for (int k = 0; k < s->groups[g].n; k++)
            if (!p->c[s->groups[g].m[k]].chosen)
                p->c[s->groups[g].m[k]].chosen = 1u << s->groups[g].zero;
}

/* the evaluated child: best of the ring, or the greedy child */
static void update_eval(enas_state *s)
{
    if (s->ring_n == 0) {
        os_ctrl_greedy(&s->ctrl, s->val);
        path_of(s, s->val, &s->eval);
        return;
    }
    int K = s->o.derive_k, best = -1;
    /* oldest to newest: a later sample wins ties */
    for (int i = 0; i < s->ring_n; i++) {
        int slot = (s->ring_pos - s->ring_n + i + K) % K;
        if (best < 0 || s->ring_acc[slot] >= s->ring_acc[best])
            best = slot;
    }
    int *v = s->val;
    for (int d = 0; d < s->n_dec; d++)
        v[d] = s->ring_val[(long)best * s->n_dec + d];
    path_of(s, v, &s->eval);
}

static void enas_free(void *state)
{
    enas_state *s = state;
    if (!s)
        return;
    if (s->env.net->choose_arg == s)
        os_net_set_chooser(s->env.net, NULL, NULL);
    if (s->copt)
        os_optim_free(s->copt);
    os_ctrl_free(&s->ctrl);
    os_path_space_free(&s->ps);
    os_arch_free(&s->cur);
    os_arch_free(&s->eval);
    os_arch_free(&s->trained);
    free(s->map);
    free(s->groups);
    free(s->ring_val);
    free(s->ring_acc);
    free(s->val);
    free(s);
}

static int enas_create(const os_search_env *env, const void *options, void **state)
{
    if (!env->net->n_choices)
        return os_error("enas: the network has no choices to search");
    enas_state *s = calloc(1, sizeof *s);
    if (!s)
        return os_error("enas: out of memory");
    s->env = *env;
    if (options)
        memcpy(&s->o, options, sizeof s->o);
    else
        os_options_defaults(enas_options, (int)(sizeof enas_options / sizeof enas_options[0]), &s->o);
    if (os_options_check(enas_options, (int)(sizeof enas_options / sizeof enas_options[0]), &s->o)) {
        free(s);
        return -1;
    }
    const os_space *sp = os_space_find(env->net->space);
    if (os_path_space_init(&s->ps, env->net, sp, 0)) {
        free(s);
        return -1;
    }
    os_ctrl_decision *dec = NULL;
    if (build_decisions(s, &dec)) {
        s->copt = NULL;
        enas_free(s);
        return -1;
    }
    os_rng init;
    os_rng_seed(&init, env->seed * 1000003u + 41);
    os_ctrl_config cfg = {.hidden = OS_CTRL_HIDDEN, .tanh_constant = s->o.tanh_constant,
                          .temperature = s->o.temperature, .skip_target = s->o.skip_target};
    int rc = os_ctrl_init(&s->ctrl, &cfg, s->n_dec, dec, &init, "ctrl");
    free(dec);
    if (rc) {
        enas_free(s);
        return -1;
    }
    /* NNI's controller optimizer: Adam(lr 3.5e-4), torch's other defaults */
    s->copt = os_optim_adam(&s->ctrl.params, &(os_adam_config){.lr = s->o.ctrl_lr, .beta1 = 0.9f, .beta2 = 0.999f,
                                                                   .eps = 1e-8f});
    os_rng_seed(&s->rng, env->seed * 1000003u + 43);
    s->ring_val = calloc((size_t)s->o.derive_k * (size_t)s->n_dec, sizeof *s->ring_val);
    s->ring_acc = calloc((size_t)s->o.derive_k, sizeof *s->ring_acc);
    s->val = calloc((size_t)s->n_dec, sizeof *s->val);
    if (!s->ring_val || !s->ring_acc || !s->val) {
        enas_free(s);
        return os_error("enas: out of memory");
    }
    path_of(s, s->val, &s->cur);
    arch_set(&s->trained, &s->cur);
    update_eval(s);
    os_net_set_chooser(env->net, choose, s);
    *state = s;
    return 0;
}

static void enas_epoch_begin(void *state, int epoch, int epochs)
{
    (void)epoch, (void)epochs;
    enas_state *s = state;
    s->ctrl_taken = 0;
    s->reward_sum = 0;
    s->reward_n = 0;
}

/* a fresh sample from the controller into s->val and s->cur (no tape) */
static int sample(enas_state *s, os_ctrl_result *res)
{
    bool old = os_set_grad_enabled(false);
    os_ctrl_draws dr = {.rng = &s->rng};
    int rc = os_ctrl_run(&s->ctrl, 0, &dr, s->val, res);
    os_set_grad_enabled(old);
    if (rc)
        return -1;
    path_of(s, s->val, &s->cur);
    return 0;
}

static os_tensor *scalar(float v)
{
    os_tensor *t = os_tensor_new_on(OS_CPU, 1, (int[]){1});
    os_tensor_fill(t, v);
    return t;
}

static int controller_sample(enas_state *s, const os_batch *val)
{
    os_ctrl_result res;
    if (sample(s, &res))
        return -1;
    double entropy = res.entropy;
    os_step_reset();
    os_forward_ctx ev = {.training = false};
    os_step_result er = os_eval_batch(s->env.net, val, &ev);
    float acc = (float)er.correct / (float)val->n;
    float reward = acc + s->o.entropy_weight * (float)entropy;
    int K = s->o.derive_k;
    for (int d = 0; d < s->n_dec; d++)
        s->ring_val[(long)s->ring_pos * s->n_dec + d] = s->val[d];
    s->ring_acc[s->ring_pos] = acc;
    s->ring_pos = (s->ring_pos + 1) % K;
    if (s->ring_n < K)
        s->ring_n++;
    s->reward_sum += reward;
    s->reward_n++;
    float b = s->o.baseline_decay;
    s->baseline = b * s->baseline + (1.0f - b) * reward;
    /* the sample again, on the tape */
    if (os_ctrl_run(&s->ctrl, 1, NULL, s->val, &res))
        return -1;
    float n = (float)s->o.ctrl_samples;
    os_tensor *loss = os_scale_by(res.nlp, scalar((reward - s->baseline) / n));
    if (res.penalty && s->o.skip_weight > 0)
        loss = os_add(loss, os_scale_by(res.penalty, scalar(s->o.skip_weight / n)));
    os_backward(loss);
    os_step_reset();
    if (++s->samples_acc == s->o.ctrl_samples) {
        if (s->o.ctrl_grad_clip > 0)
            os_clip_grad_norm(&s->ctrl.params, s->o.ctrl_grad_clip);
        os_optim_step(s->copt);
        os_params_zero_grad(&s->ctrl.params);
        os_step_reset();
        s->samples_acc = 0;
        s->ctrl_taken++;
    }
    return 0;
}

static int enas_step(void *state, const os_batch *train, const os_batch *val, os_step_result *r)
{
    enas_state *s = state;
    os_ctrl_result res;
    if (sample(s, &res))
        return -1;
    os_step_reset();
    s->in_step = 1;
    os_forward_ctx ctx = {.training = true};
    *r = os_weight_step(s->env.net, s->env.wopt, train, &ctx, 0.0f, s->env.label_smoothing, s->env.grad_clip);
    arch_set(&s->trained, &s->cur);
    int rc = 0;
    if (isfinite(r->loss) && val && val->n > 0 && (s->o.ctrl_steps == 0 || s->ctrl_taken < s->o.ctrl_steps)) {
        rc = controller_sample(s, val);
        if (!rc)
            update_eval(s);
    }
    s->in_step = 0;
    return rc;
}

void os_enas_last_path(void *state, os_arch *a)
{
    os_arch_free(a);
    os_arch_copy(a, &((enas_state *)state)->trained);
}

static int enas_derive(void *state, os_arch *a)
{
    enas_state *s = state;
    update_eval(s);
    os_arch_copy(a, &s->eval);
    return 0;
}

/* ---- checkpoints ------------------------------------------------------------------------ */
static int enas_save(void *state, os_st_writer *w)
{
    enas_state *s = state;
    char name[160], b[128];
    for (int i = 0; i < s->ctrl.params.n; i++) {
        os_tensor *t = s->ctrl.params.t[i];
        snprintf(name, sizeof name, "enas/param/%s", t->name);
        if (os_st_add_tensor(w, name, t))
            return -1;
        snprintf(name, sizeof name, "enas/grad/%s", t->name);
        if (os_st_add_tensor(w, name, t->grad))
            return -1;
    }
    if (os_optim_save(w, "enas_opt", s->copt) || os_rng_save_meta(w, "enas_rng", &s->rng))
        return -1;
    if (os_st_add_f32(w, "enas/baseline", 1, (const int64_t[]){1}, &s->baseline) ||
        os_st_add_f32(w, "enas/ring_acc", 1, (const int64_t[]){s->o.derive_k}, s->ring_acc) ||
        os_st_add_i32(w, "enas/ring_val", 2, (const int64_t[]){s->o.derive_k, s->n_dec}, s->ring_val))
        return -1;
    snprintf(b, sizeof b, "%d %d %d %d %ld %.17g", s->samples_acc, s->ctrl_taken, s->ring_n, s->ring_pos,
             s->reward_n, s->reward_sum);
    os_st_set_meta(w, "enas_counters", b);
    return 0;
}

static int read_exact(os_st_file *f, const char *path, const char *name, os_tensor *t)
{
    if (!os_st_find(f, name))
        return os_error("%s: checkpoint lacks the ENAS state '%s' (not an enas run of this space?)", path, name);
    return os_st_read_into(f, name, t) ? -1 : 0;
}

static int enas_load(void *state, os_st_file *f, const char *path)
{
    enas_state *s = state;
    char name[160];
    int K = s->o.derive_k;
    /* check everything before changing anything */
    const char *cn = os_st_meta(f, "enas_counters");
    int acc_n, taken, rn, rp;
    long reward_n;
    double reward_sum;
    if (!cn || sscanf(cn, "%d %d %d %d %ld %lg", &acc_n, &taken, &rn, &rp, &reward_n, &reward_sum) != 6 ||
        acc_n < 0 || acc_n >= s->o.ctrl_samples || taken < 0 || rn < 0 || rn > K || rp < 0 || rp >= K ||
        reward_n < 0 || !isfinite(reward_sum))
        return os_error("%s: 'enas_counters' is missing or out of range (saved with other --ctrl-samples or "
                        "--derive-k?)", path);
    const os_st_info *in;
    int32_t *rv = os_st_find(f, "enas/ring_val") ? os_st_read_i32(f, "enas/ring_val", &in) : NULL;
    if (!rv)
        return os_error("%s: checkpoint lacks the ENAS state 'enas/ring_val'", path);
    if (in->ndim != 2 || in->shape[0] != K || in->shape[1] != s->n_dec) {
        free(rv);
        return os_error("%s: 'enas/ring_val' has the wrong shape for --derive-k %d and %d decisions", path, K,
                        s->n_dec);
    }
    for (long i = 0; i < (long)rn * s->n_dec; i++) {
        long slot = i / s->n_dec, d = i % s->n_dec;
        long at = ((rp - rn + slot + K) % K) * s->n_dec + d;
        const os_ctrl_decision *e = &s->ctrl.dec[d];
        int32_t v = rv[at];
        int ok = e->kind == OS_CTRL_SUBSET ? (v >= 0 && (unsigned)v <= os_mask_all(e->n)) : (v >= 0 && v < e->n);
        if (!ok) {
            free(rv);
            return os_error("%s: 'enas/ring_val' holds %d, not a value of decision %ld", path, (int)v, d);
        }
    }
    for (int slot = 0; slot < rn; slot++) { /* each a path of the space (no input taken twice) */
        long at = (long)((rp - rn + slot + K) % K) * s->n_dec;
        for (int d = 0; d < s->n_dec; d++)
            s->val[d] = rv[at + d];
        path_of(s, s->val, &s->cur);
        if (os_path_check(&s->ps, &s->cur)) {
            free(rv);
            return os_error("%s: 'enas/ring_val' holds a sample that is not a path of the space: %s", path,
                            os_last_error());
        }
    }
    for (int i = 0; i < s->ctrl.params.n; i++) {
        os_tensor *t = s->ctrl.params.t[i];
        snprintf(name, sizeof name, "enas/param/%s", t->name);
        int rc = read_exact(f, path, name, t);
        snprintf(name, sizeof name, "enas/grad/%s", t->name);
        if (rc || read_exact(f, path, name, t->grad)) {
            free(rv);
            return -1;
        }
    }
    os_tensor *bt = os_tensor_new_on(OS_CPU, 1, (int[]){1}), *ra = os_tensor_new_on(OS_CPU, 1, (int[]){K});
    if (read_exact(f, path, "enas/baseline", bt) || read_exact(f, path, "enas/ring_acc", ra) ||
        os_optim_load(f, path, "enas_opt", s->copt) || os_rng_load_meta(f, path, "enas_rng", &s->rng)) {
        free(rv);
        return -1;
    }
    s->baseline = os_tensor_item(bt);
    os_tensor_to_host(ra, s->ring_acc);
    memcpy(s->ring_val, rv, sizeof *rv * (size_t)K * (size_t)s->n_dec);
    free(rv);
    s->samples_acc = acc_n;
    s->ctrl_taken = taken;
    s->ring_n = rn;
    s->ring_pos = rp;
    s->reward_n = reward_n;
    s->reward_sum = reward_sum;
    update_eval(s);
    return 0;
}

static void enas_metrics(void *state, cJSON *record)
{
    enas_state *s = state;
    cJSON_AddNumberToObject(record, "baseline", s->baseline);
    cJSON_AddNumberToObject(record, "ctrl_steps", s->ctrl_taken);
    if (s->reward_n)
        cJSON_AddNumberToObject(record, "ctrl_reward", s->reward_sum / (double)s->reward_n);
}

const os_strategy os_strategy_enas = {
    .name = "enas",
    .summary = "ENAS: an LSTM controller samples children (REINFORCE on validation accuracy); weights train on "
               "the samples",
    .options = enas_options,
    .n_options = (int)(sizeof enas_options / sizeof enas_options[0]),
    .options_size = sizeof(enas_opts),
    .default_epochs = 0,
    .uses_arch_split = 1,
    .single_path = 0,
    .create = enas_create,
    .free = enas_free,
    .epoch_begin = enas_epoch_begin,
    .step = enas_step,
    .derive = enas_derive,
    .save = enas_save,
    .load = enas_load,
    .metrics = enas_metrics,
};
