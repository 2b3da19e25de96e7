/* search/strategy.h — one-shot strategies as plugins.
 *
 * A strategy is ONE file in search/ that defines a `const os_strategy`, plus
 * one line in search/registry.c. It owns everything it learns and samples:
 * architecture parameters' optimizer, a controller, RNG streams, a
 * temperature. The trainer (search/trainer.h) gives it the supernet and the
 * weights' optimizer (os_search_env) and calls, in this order:
 *
 *   create(env, options)           once; installs the net's chooser
 *                                  (os_net_set_chooser): the strategy
 *                                  decides every choice of every forward
 *   load(state, checkpoint)        on resume
 *   for each epoch:
 *     epoch_begin(epoch, epochs)   schedules (tau, warm-up)
 *     step(train, val) * steps     one training step: the strategy decides
 *                                  what it updates (architecture, weights,
 *                                  controller) and reports the weight
 *                                  step's loss and accuracy on `train`
 *     (evaluation forwards run with ctx->training false: the chooser picks
 *      what to evaluate, e.g. the currently derived path)
 *     derive(arch)                 the architecture found so far, in the
 *                                  supernet form (supernet/arch.h); the
 *                                  space turns it into a child
 *     save(state, writer)          every checkpoint
 *   free(state)
 *
 * Options: a strategy describes its own struct of options with an
 * os_option table (search/options.h); `oneshot train --help` lists them
 * under the strategy's name and config.json records them.
 */
#ifndef OS_STRATEGY_H
#define OS_STRATEGY_H

#include "search/options.h"
#include "search/step.h"
#include "supernet/arch.h"
#include "tensor/safetensors.h"

struct cJSON;

/* What a strategy gets from the trainer. */
typedef struct os_search_env {
    os_net *net;               /* the supernet */
    os_optim *wopt;            /* the weights' SGD, stepped by os_weight_step */
    float momentum, weight_decay; /* wopt's settings (DARTS' second order replays a step) */
    float grad_clip;           /* of the weights' gradient norm; 0 = off */
    float label_smoothing;
    uint64_t seed;             /* the run's seed: derive the strategy's RNG streams from it */
} os_search_env;

typedef struct os_strategy {
    const char *name;
    const char *summary;
    const os_option *options;  /* its own options (may be empty) */
    int n_options;
    size_t options_size;       /* sizeof its options struct */
    int default_epochs;        /* the paper's epochs; 0 = the trainer's default */
    int uses_arch_split;       /* step() reads the validation batch */
    int single_path;           /* trains one uniformly sampled path a step
                                  (search/path.h): its supernet can be
                                  evolved (oneshot evolve) */

    /* 0, or -1 with os_error(). `options` is copied or read, not kept. */
    int (*create)(const os_search_env *env, const void *options, void **state);
    void (*free)(void *state);
    void (*epoch_begin)(void *state, int epoch, int epochs);
    /* One training step. 0, or -1 with os_error() when the step cannot be
     * taken (a non-finite loss is reported in r->loss, not as an error). */
    int (*step)(void *state, const os_batch *train, const os_batch *val, os_step_result *r);
    /* The architecture so far, supernet form: weights and/or chosen
     * candidates per choice (a is overwritten). 0, or -1 with os_error(). */
    int (*derive)(void *state, os_arch *a);
    /* Its state into a checkpoint / back. Tensor names and metadata keys
     * must not collide with the trainer's ("weights/", "arch/", "buffers/",
     * "wopt/", and the keys listed in search/checkpoint.h). */
    int (*save)(void *state, os_st_writer *w);
    int (*load)(void *state, os_st_file *f, const char *path);
    /* Optional: extra keys of an epoch's metrics line (e.g. "tau"). */
    void (*metrics)(void *state, struct cJSON *record);
} os_strategy;

const os_strategy *os_strategy_find(const char *name);
int os_strategy_count(void);
const os_strategy *os_strategy_at(int i);

/* Helpers for strategies that learn alphas (net->arch) with Adam. */
typedef struct os_alpha_opts {
    float arch_lr, arch_beta1, arch_beta2, arch_weight_decay;
} os_alpha_opts;
/* Rows of an os_option table for an os_alpha_opts member `field` of `st`. */
#define OS_ALPHA_OPTIONS(st, field)                                                                         \
    OS_OPTION("arch-lr", OS_OPT_FLOAT, st, field.arch_lr, 3e-4, 0, 10, "architecture learning rate (Adam)"), \
    OS_OPTION("arch-beta1", OS_OPT_FLOAT, st, field.arch_beta1, 0.5, 0, 0.999999, "Adam beta1 for the architecture"), \
    OS_OPTION("arch-beta2", OS_OPT_FLOAT, st, field.arch_beta2, 0.999, 0, 0.999999, "Adam beta2 for the architecture"), \
    OS_OPTION("arch-weight-decay", OS_OPT_FLOAT, st, field.arch_weight_decay, 1e-3, 0, 1, "Adam weight decay for the architecture")
os_optim *os_alpha_adam(os_net *net, const os_alpha_opts *o);
/* Save/load an optimizer's state under "<prefix>/<state>" + metadata "<prefix>_steps". */
int os_optim_save(os_st_writer *w, const char *prefix, const os_optim *o);
int os_optim_load(os_st_file *f, const char *path, const char *prefix, os_optim *o);
/* An RNG state as 64 hex digits under a metadata key / back. */
int os_rng_save_meta(os_st_writer *w, const char *key, const os_rng *r);
int os_rng_load_meta(os_st_file *f, const char *path, const char *key, os_rng *r);
/* The derived path of alphas: per choice the candidate of the largest alpha
 * (ties: the first; an input choice its k largest; a subset choice the
 * inputs with sigmoid(alpha) > 1/2, possibly none), no weights. */
int os_argmax_path(const os_net *net, os_arch *a);

#endif
