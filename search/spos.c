/* search/spos.c — SPOS: single-path one-shot (REFERENCE.md §7,
 * arXiv 1904.00420).
 *
 * Every training forward runs one path drawn uniformly from the space's
 * paths (search/path.h: each choice uniform; cifar_cell: per node two
 * edges uniformly, each with a uniform op other than none), and the weight
 * step updates that path's weights only (the others get no gradient). No
 * architecture parameters are learned.
 *
 * The architecture is searched afterwards, on the trained supernet, by
 * evolution with BN recalibration (`oneshot evolve --run DIR`,
 * search/evolve.h). Until then derive() returns the REFERENCE PATH: one path
 * drawn once from the run's seed, which the evaluation forwards run (so the
 * per-epoch validation in metrics.jsonl is that path's, with the
 * supernet's running BN statistics, not recalibrated: a rough monitor of
 * training, not a search result). */
#include "search/strategy.h"
#include "search/path.h"

#include <stdlib.h>

typedef struct {
    os_search_env env;
    os_path_space ps;
    os_rng rng;       /* the training paths */
    os_arch path;     /* this forward's */
    os_arch ref;      /* evaluation: the reference path */
} spos_state;

static void choose(os_net *net, const os_forward_ctx *ctx, void *arg)
{
    spos_state *s = arg;
    const os_arch *p = &s->ref;
    if (ctx->training) {
        os_path_sample(&s->ps, &s->rng, &s->path);
        p = &s->path;
    }
    for (int i = 0; i < net->n_choices; i++)
        os_net_mix_set(net, i, p->c[i].chosen, NULL);
}

static int spos_create(const os_search_env *env, const void *options, void **state)
{
    (void)options;
    if (!env->net->n_choices)
        return os_error("spos: the network has no choices to search");
    const os_space *sp = os_space_find(env->net->space);
    spos_state *s = calloc(1, sizeof *s);
    if (!s)
        return os_error("spos: out of memory");
    s->env = *env;
    if (os_path_space_init(&s->ps, env->net, sp, 0)) {
        free(s);
        return -1;
    }
    os_rng_seed(&s->rng, env->seed * 1000003u + 29);
    os_rng ref;
    os_rng_seed(&ref, env->seed * 1000003u + 31);
    os_path_sample(&s->ps, &ref, &s->ref);
    os_net_set_chooser(env->net, choose, s);
    *state = s;
    return 0;
}

static void spos_free(void *state)
{
    spos_state *s = state;
    if (!s)
        return;
    os_net_set_chooser(s->env.net, NULL, NULL);
    os_arch_free(&s->path);
    os_arch_free(&s->ref);
    os_path_space_free(&s->ps);
    free(s);
}

static void spos_epoch_begin(void *state, int epoch, int epochs) { (void)state, (void)epoch, (void)epochs; }

static int spos_step(void *state, const os_batch *train, const os_batch *val, os_step_result *r)
{
    (void)val;
    spos_state *s = state;
    os_forward_ctx ctx = {.training = true};
    *r = os_weight_step(s->env.net, s->env.wopt, train, &ctx, 0.0f, s->env.label_smoothing, s->env.grad_clip);
    return 0;
}

static int spos_derive(void *state, os_arch *a)
{
    os_arch_copy(a, &((spos_state *)state)->ref);
    return 0;
}

static int spos_save(void *state, os_st_writer *w) { return os_rng_save_meta(w, "spos_rng", &((spos_state *)state)->rng); }

static int spos_load(void *state, os_st_file *f, const char *path)
{
    return os_rng_load_meta(f, path, "spos_rng", &((spos_state *)state)->rng);
}

const os_strategy os_strategy_spos = {
    .name = "spos",
    .summary = "SPOS: one uniformly sampled path a step; then `oneshot evolve` searches the trained supernet",
    .options = NULL,
    .n_options = 0,
    .options_size = 0,
    .uses_arch_split = 0,
    .single_path = 1,
    .create = spos_create,
    .free = spos_free,
    .epoch_begin = spos_epoch_begin,
    .step = spos_step,
    .derive = spos_derive,
    .save = spos_save,
    .load = spos_load,
};
