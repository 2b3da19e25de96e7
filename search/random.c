/* search/random.c — random one-shot (NNI's RandomOneShot; random search
 * with weight sharing, Li & Talwalkar 2019).
 *
 * Training is SPOS's (search/spos.c, run as is underneath): one uniformly
 * sampled path a step. The architecture is then chosen by evaluating random
 * samples: derive() draws --samples paths (from a stream of the run's seed,
 * the same paths at every call), evaluates each on the last
 * --select-batches validation batches the training steps were given
 * (uses_arch_split: the trainer hands one to every step), after
 * recalibrating its batch-norm statistics on the last --bn-batches
 * training batches, and returns the best by validation accuracy (ties: the
 * lower loss, then the earlier sample). Those batches are kept in the
 * strategy's state and in checkpoints, so a resumed run derives the same
 * architecture. derive() leaves the supernet's BN statistics as it found
 * them.
 *
 * `oneshot evolve --run DIR --random N` does the same search on a finished
 * run with the evolution's data, limits and budget. */
#include "search/strategy.h"
#include "search/path.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern const os_strategy os_strategy_spos;

typedef struct {
    int samples, select_batches, bn_batches;
} random_opts;

static const os_option random_options[] = {
    OS_OPTION("samples", OS_OPT_INT, random_opts, samples, 50, 1, 100000, "random paths evaluated to choose the architecture"),
    OS_OPTION("select-batches", OS_OPT_INT, random_opts, select_batches, 4, 1, 1000,
              "validation batches (the last ones seen) each sample is evaluated on"),
    OS_OPTION("bn-batches", OS_OPT_INT, random_opts, bn_batches, 4, 0, 1000,
              "training batches (the last ones seen) that recalibrate each sample's BN statistics (0 = none)"),
};

/* the last `cap` batches seen, oldest first from `head` */
typedef struct {
    int cap, count, head;
    float **x;
    int32_t **y;
    int *n;
} stash;

typedef struct {
    void *spos;
    os_search_env env;
    random_opts o;
    os_path_space ps;
    stash val, train;
    size_t img;       /* floats per image */
} random_state;

static void stash_init(stash *s, int cap)
{
    memset(s, 0, sizeof *s);
    s->cap = cap;
    s->x = calloc((size_t)(cap ? cap : 1), sizeof *s->x);
    s->y = calloc((size_t)(cap ? cap : 1), sizeof *s->y);
    s->n = calloc((size_t)(cap ? cap : 1), sizeof *s->n);
}

static void stash_free(stash *s)
{
    for (int i = 0; i < s->cap; i++) {
        free(s->x[i]);
        free(s->y[i]);
    }
    free(s->x);
    free(s->y);
    free(s->n);
    memset(s, 0, sizeof *s);
}

static void stash_put(stash *s, const float *x, const int32_t *y, int n, size_t img)
{
    if (!s->cap || n <= 0)
        return;
    int at = s->count < s->cap ? (s->head + s->count) % s->cap : s->head;
    free(s->x[at]);
    free(s->y[at]);
    s->x[at] = malloc(sizeof(float) * img * (size_t)n);
    s->y[at] = malloc(sizeof(int32_t) * (size_t)n);
    if (!s->x[at] || !s->y[at])
        os_fatal("random: out of memory");
    memcpy(s->x[at], x, sizeof(float) * img * (size_t)n);
    memcpy(s->y[at], y, sizeof(int32_t) * (size_t)n);
    s->n[at] = n;
    if (s->count < s->cap)
        s->count++;
    else
        s->head = (s->head + 1) % s->cap;
}

/* os_batch_fn over a stash, oldest first */
static int stash_batch(void *arg, int i, os_batch *b)
{
    stash *s = arg;
    if (i >= s->count)
        return 0;
    int at = (s->head + i) % s->cap;
    *b = (os_batch){.x = s->x[at], .y = s->y[at], .n = s->n[at]};
    return 1;
}

static int random_create(const os_search_env *env, const void *options, void **state)
{
    random_state *s = calloc(1, sizeof *s);
    if (!s)
        return os_error("random: out of memory");
    s->env = *env;
    s->o = *(const random_opts *)options;
    if (os_strategy_spos.create(env, NULL, &s->spos)) {
        free(s);
        return -1;
    }
    if (os_path_space_init(&s->ps, env->net, os_space_find(env->net->space), 0)) {
        os_strategy_spos.free(s->spos);
        free(s);
        return -1;
    }
    stash_init(&s->val, s->o.select_batches);
    stash_init(&s->train, s->o.bn_batches);
    s->img = (size_t)env->net->in_c * env->net->in_h * env->net->in_w;
    *state = s;
    return 0;
}

static void random_free(void *state)
{
    random_state *s = state;
    if (!s)
        return;
    os_strategy_spos.free(s->spos);
    os_path_space_free(&s->ps);
    stash_free(&s->val);
    stash_free(&s->train);
    free(s);
}

static void random_epoch_begin(void *state, int epoch, int epochs)
{
    os_strategy_spos.epoch_begin(((random_state *)state)->spos, epoch, epochs);
}

static int random_step(void *state, const os_batch *train, const os_batch *val, os_step_result *r)
{
    random_state *s = state;
    stash_put(&s->train, train->x, train->y, train->n, s->img);
    if (val && val->n > 0)
        stash_put(&s->val, val->x, val->y, val->n, s->img);
    return os_strategy_spos.step(s->spos, train, val, r);
}

static int random_derive(void *state, os_arch *a)
{
    random_state *s = state;
    os_net *net = s->env.net;
    /* the supernet's BN statistics as they are, to put back */
    const os_params *B = &net->buffers;
    float **saved = calloc((size_t)(B->n ? B->n : 1), sizeof *saved);
    for (int i = 0; i < B->n; i++) {
        saved[i] = malloc(sizeof(float) * (size_t)os_numel(B->t[i]));
        os_tensor_to_host(B->t[i], saved[i]);
    }
    os_rng r;
    os_rng_seed(&r, s->env.seed * 1000003u + 37);
    os_arch path = {0}, best = {0};
    double best_acc = -1, best_loss = INFINITY;
    for (int k = 0; k < s->o.samples; k++) {
        os_path_sample(&s->ps, &r, &path);
        double loss = NAN, acc = NAN;
        if (s->val.count)
            os_path_evaluate(net, &path, stash_batch, &s->train, s->o.bn_batches, stash_batch, &s->val, 0, &loss,
                             &acc);
        int better = !best.n || (isfinite(acc) && (acc > best_acc || (acc == best_acc && loss < best_loss)));
        if (better) {
            os_arch_free(&best);
            os_arch_copy(&best, &path);
            best_acc = isfinite(acc) ? acc : -1;
            best_loss = isfinite(loss) ? loss : INFINITY;
        }
        if (!s->val.count)
            break; /* no step yet, no data: the first sample */
    }
    for (int i = 0; i < B->n; i++) {
        os_tensor_from_host(B->t[i], saved[i]);
        free(saved[i]);
    }
    free(saved);
    os_arch_free(&path);
    *a = best;
    return 0;
}

/* ---- checkpoints: the spos state and both stashes ---------------------------------- */
static int save_stash(os_st_writer *w, const char *name, const stash *s, const os_net *net)
{
    char key[64], meta[32];
    for (int i = 0; i < s->count; i++) {
        int at = (s->head + i) % s->cap;
        int64_t xs[4] = {s->n[at], net->in_c, net->in_h, net->in_w}, ys[1] = {s->n[at]};
        snprintf(key, sizeof key, "random/%s_x.%d", name, i);
        if (os_st_add_f32(w, key, 4, xs, s->x[at]))
            return -1;
        snprintf(key, sizeof key, "random/%s_y.%d", name, i);
        if (os_st_add_i32(w, key, 1, ys, s->y[at]))
            return -1;
    }
    snprintf(key, sizeof key, "random_%s_batches", name);
    snprintf(meta, sizeof meta, "%d", s->count);
    os_st_set_meta(w, key, meta);
    return 0;
}

static int load_stash(os_st_file *f, const char *path, const char *name, stash *s, const os_net *net, size_t img)
{
    char key[64];
    snprintf(key, sizeof key, "random_%s_batches", name);
    const char *m = os_st_meta(f, key);
    if (!m)
        return os_error("%s: checkpoint lacks '%s' (not a random run?)", path, key);
    int count = atoi(m);
    int cap = s->cap;
    stash_free(s);
    stash_init(s, cap);
    for (int i = 0; i < count; i++) {
        const os_st_info *info;
        char ykey[64];
        snprintf(key, sizeof key, "random/%s_x.%d", name, i);
        snprintf(ykey, sizeof ykey, "random/%s_y.%d", name, i);
        float *x = os_st_read_f32(f, key, &info);
        int32_t *y = x ? os_st_read_i32(f, ykey, NULL) : NULL;
        if (!x || !y) {
            free(x);
            return -1;
        }
        int n = (int)info->shape[0];
        if (info->ndim != 4 || info->numel != (int64_t)img * n) {
            free(x);
            free(y);
            return os_error("%s: '%s' is not a batch of %dx%dx%d images", path, key, net->in_c, net->in_h,
                            net->in_w);
        }
        stash_put(s, x, y, n, img);
        free(x);
        free(y);
    }
    return 0;
}

static int random_save(void *state, os_st_writer *w)
{
    random_state *s = state;
    return os_strategy_spos.save(s->spos, w) || save_stash(w, "val", &s->val, s->env.net) ||
                   save_stash(w, "train", &s->train, s->env.net)
               ? -1
               : 0;
}

static int random_load(void *state, os_st_file *f, const char *path)
{
    random_state *s = state;
    return os_strategy_spos.load(s->spos, f, path) || load_stash(f, path, "val", &s->val, s->env.net, s->img) ||
                   load_stash(f, path, "train", &s->train, s->env.net, s->img)
               ? -1
               : 0;
}

const os_strategy os_strategy_random = {
    .name = "random",
    .summary = "random one-shot (NNI RandomOneShot): SPOS training, then the best of --samples random paths",
    .options = random_options,
    .n_options = (int)(sizeof random_options / sizeof random_options[0]),
    .options_size = sizeof(random_opts),
    .uses_arch_split = 1,
    .single_path = 1,
    .create = random_create,
    .free = random_free,
    .epoch_begin = random_epoch_begin,
    .step = random_step,
    .derive = random_derive,
    .save = random_save,
    .load = random_load,
};
