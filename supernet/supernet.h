/* supernet/supernet.h — search-space primitives and the network object.
 *
 * A search space is a network whose some parts are choices:
 *  - a LAYER CHOICE: candidate ops on one edge, each with its own weights,
 *    under a label. Choices that share a label share one decision (and one
 *    architecture parameter vector alpha[n]): in the DARTS space every normal
 *    cell's edge 2_0 is the choice "normal/edge_2_0".
 *  - an INPUT CHOICE: k of n incoming tensors, under a label.
 *
 * How a layer choice is evaluated is decided per forward pass by the strategy,
 * through os_mix (one per label, computed once per forward):
 *  - OS_MIX_SOFTMAX   all candidates, weighted by softmax(alpha)      (DARTS)
 *  - OS_MIX_GUMBEL    all candidates, weighted by a Gumbel-softmax sample
 *                     softmax((alpha + g) / tau)                       (soft GDAS, NNI GumbelDARTS)
 *  - OS_MIX_GUMBEL_HARD one candidate, the argmax of the sample, scaled by the
 *                     straight-through weight onehot - sg(soft) + soft (GDAS)
 *  - OS_MIX_FIXED     one given candidate, weight 1, no gradient to alpha
 *                     (a chosen child; ENAS/SPOS sample a path and use this)
 * Input choices follow the same rule with their own alpha.
 *
 * A space is one C file (supernet/spaces/<name>.c) that builds its network
 * from these primitives and registers itself in supernet/registry.c.
 */
#ifndef OS_SUPERNET_H
#define OS_SUPERNET_H

#include <stdint.h>
#include <stdbool.h>
#include "tensor/tensor.h"
#include "tensor/rng.h"
#include "autograd/autograd.h"

#define OS_LABEL_MAX 40
#define OS_MAX_CANDIDATES 16

/* ---- choices ------------------------------------------------------------- */
typedef enum { OS_CHOICE_LAYER, OS_CHOICE_INPUT } os_choice_kind;

typedef struct os_choice {
    char label[OS_LABEL_MAX];
    os_choice_kind kind;
    int n;                                 /* candidates (ops or inputs) */
    int k;                                 /* input choice: how many are kept */
    const char *names[OS_MAX_CANDIDATES];  /* layer choice: op names */
    os_tensor *alpha;                      /* [n] architecture parameter */
    int fixed;                             /* OS_MIX_FIXED: chosen candidate */
    unsigned fixed_mask;                   /* input choice, OS_MIX_FIXED: chosen inputs */
    int zero_index;                        /* the `none` candidate, or -1 */
} os_choice;

typedef enum { OS_MIX_SOFTMAX, OS_MIX_GUMBEL, OS_MIX_GUMBEL_HARD, OS_MIX_FIXED } os_mix_mode;

/* What the strategy decided for one forward pass. */
typedef struct os_forward_ctx {
    bool training;        /* BN batch stats, dropout, drop-path */
    os_mix_mode mode;
    float tau;            /* Gumbel temperature */
    os_rng *rng;          /* Gumbel noise (strategy-owned, checkpointed) */
    float drop_path;      /* child networks: drop-path probability */
    uint64_t step_seed;   /* per-step seed for dropout / drop-path masks */
} os_forward_ctx;

/* The mixing weights of one choice for the current forward pass. */
typedef struct os_mix {
    os_tensor *w;         /* [n] weights on the tape (NULL when mode is FIXED) */
    int active;           /* hard modes: the one candidate to run; -1 = all */
} os_mix;

/* ---- batch norm module --------------------------------------------------- */
typedef struct os_bn {
    int C, affine;
    os_tensor *gamma, *beta;   /* params (affine) or NULL */
    os_tensor *mean, *var;     /* running statistics (persistent buffers) */
} os_bn;

/* ---- the network ------------------------------------------------------------ */
typedef struct os_net os_net;
struct os_net {
    char space[32];
    int in_c, in_h, in_w, num_classes;
    os_params weights;         /* network weights (SGD group) */
    os_params arch;            /* architecture parameters (alpha) */
    os_params buffers;         /* BN running stats: persistent, not trained */
    os_choice *choices;        /* one per label */
    int n_choices;
    os_mix *mix;               /* per choice, filled by os_net_prepare_mix */
    void *impl;
    /* logits [N, classes]; *aux_logits set when the net has an auxiliary head
     * and ctx->training (else NULL). */
    os_tensor *(*forward)(os_net *net, os_tensor *x, const os_forward_ctx *ctx, os_tensor **aux_logits);
    void (*free_impl)(os_net *net);
};

/* Construction helpers used by spaces. */
void os_net_init(os_net *net, const char *space, int in_c, int in_h, int in_w, int classes);
void os_net_free(os_net *net);
os_tensor *os_net_weight(os_net *net, os_rng *r, const char *name, int ndim, const int *shape, long fan_in);
os_tensor *os_net_bias(os_net *net, os_rng *r, const char *name, int n, long fan_in);
void os_bn_init(os_net *net, os_bn *bn, const char *name, int C, int affine);
os_tensor *os_bn_forward(os_bn *bn, os_tensor *x, const os_forward_ctx *ctx);
/* Find or create the choice under `label` (alpha ~ 1e-3 N(0,1) on creation). */
int os_net_layer_choice(os_net *net, os_rng *r, const char *label, int n, const char *const *names);
int os_net_input_choice(os_net *net, os_rng *r, const char *label, int n, int k);
int os_net_find_choice(const os_net *net, const char *label);

/* Compute every choice's mixing weights for one forward pass (call once per
 * forward, after os_step_reset). */
void os_net_prepare_mix(os_net *net, const os_forward_ctx *ctx);
/* Evaluate a layer choice: run(i) returns candidate i's output. Mixed modes
 * skip the `none` candidate (its output and its weight's gradient are zero). */
typedef os_tensor *(*os_candidate_fn)(void *self, int i, os_tensor *x, const os_forward_ctx *ctx);
os_tensor *os_layer_choice_forward(os_net *net, int choice, os_candidate_fn run, void *self,
                                   os_tensor *x, const os_forward_ctx *ctx);
/* Evaluate an input choice over n tensors of one shape: mixed modes weight
 * them by the choice's weights; FIXED sums the inputs in fixed_mask. */
os_tensor *os_input_choice_forward(os_net *net, int choice, int n, os_tensor *const *xs,
                                   const os_forward_ctx *ctx);
/* Softmax probabilities of a choice's alpha, on the host (n floats). */
void os_choice_probs(const os_choice *c, float *p);
/* For a space's export: the probabilities of the choice `label` into p and,
 * as {names[k]: p[k]}, under `label` in the JSON object `probs`. -1 with an
 * error naming the label when the network lacks it (not a `space` supernet)
 * or an alpha is NaN or infinite (a diverged search has nothing to export). */
struct cJSON;
int os_export_choice_probs(const os_net *net, const char *label, const char *space,
                           const char *const *names, float *p, struct cJSON *probs);

/* ---- the space registry ---------------------------------------------------- */
typedef struct os_space_opts {
    int cells;          /* 0 = the space's default */
    int channels;       /* 0 = default */
    int in_c, in_h, in_w, num_classes;
    uint64_t seed;
    /* child networks only */
    const char *arch_json; /* NULL = supernet */
    int auxiliary;         /* build the auxiliary head */
} os_space_opts;

typedef struct os_space {
    const char *name;
    const char *summary;
    /* returns 0, or -1 with os_error() (e.g. an arch that does not fit the space) */
    int (*build)(os_net *net, const os_space_opts *o);
    int (*export_arch)(const os_net *net, int max_skip, char **json_out); /* malloc'd JSON */
} os_space;

const os_space *os_space_find(const char *name);
int os_space_count(void);
const os_space *os_space_at(int i);

#endif
