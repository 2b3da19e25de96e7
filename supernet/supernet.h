/* supernet/supernet.h — search-space primitives and the network object.
 *
 * A search space is a network whose some parts are choices:
 *  - a LAYER CHOICE: candidate ops on one edge, each with its own weights,
 *    under a label. Choices that share a label share one decision (and one
 *    architecture parameter vector alpha[n]): in the DARTS space every normal
 *    cell's edge 2_0 is the choice "normal/edge_2_0".
 *  - an INPUT CHOICE: k of n incoming tensors, under a label.
 *
 * How a choice is evaluated is decided per forward pass by the STRATEGY
 * (search/), never by the space: at the start of every forward the space
 * calls os_net_begin_forward(), which calls the chooser the strategy
 * installed (os_net_set_chooser). The chooser fills one os_mix per choice:
 *  - w       mixing weights [n] on the tape (softmax(alpha) for DARTS, a
 *            Gumbel sample for GDAS, gates for ProxylessNAS), or NULL
 *  - active  the candidates to run, as a bit mask (any number of them)
 * A layer choice then returns
 *  - one active candidate:   op_k(x), times w[k] when w is given
 *                            (the straight-through GDAS path: w is one-hot
 *                            forward, soft backward)
 *  - several, with w:        sum over the active k of w[k] * op_k(x); the
 *                            `none` candidate is skipped (its output and the
 *                            gradient of its weight are zero)
 *  - several, without w:     the plain sum of the active candidates
 * An input choice does the same over its n input tensors. A subset choice
 * (k == 0) may have active == 0: nothing is chosen and it contributes
 * nothing (os_input_choice_forward returns NULL); its w, when given, is n
 * per-input weights (sigmoid(alpha) for DARTS): sum over active j of w[j] x_j.
 * Sampling (Gumbel, uniform, a controller's samples, binary gates) lives in
 * the strategies; os_net_choose_arch() installs a chooser that runs one fixed
 * path given as an os_arch (supernet/arch.h).
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

struct cJSON;

/* ---- choices ------------------------------------------------------------- */
typedef enum { OS_CHOICE_LAYER, OS_CHOICE_INPUT } os_choice_kind;

typedef struct os_choice {
    char label[OS_LABEL_MAX];
    os_choice_kind kind;
    int n;                                 /* candidates (ops or inputs) */
    int k;                                 /* input choice: how many are kept;
                                              0 = any subset (none included) */
    const char *names[OS_MAX_CANDIDATES];  /* layer choice: op names */
    os_tensor *alpha;                      /* [n] architecture parameter (used by
                                              the strategies that learn one) */
    int zero_index;                        /* the `none` candidate, or -1 */
    int src[OS_MAX_CANDIDATES];            /* input choice: for input j the index
                                              (in net->choices) of the choice whose
                                              decision produces it (a controller's
                                              attention anchor), -1 = none (a cell
                                              input); set by os_net_set_input_src */
    /* A choice that runs only when another decides so (a stage's depth
     * choice gates its blocks): gate = the index (in net->choices) of that
     * choice, and this one runs when the gate's chosen candidate index is
     * >= gate_min; -1 = always runs. Set with os_net_choice_gate. A path's
     * costs and latency (search/path.h) and an NNI export (supernet/arch.h)
     * leave a gated-off choice out. */
    int gate, gate_min;
} os_choice;

/* One forward pass. */
typedef struct os_forward_ctx {
    bool training;        /* BN batch stats, dropout, drop-path */
    float drop_path;      /* child networks: drop-path probability */
    uint64_t step_seed;   /* per-step seed for dropout / drop-path masks */
} os_forward_ctx;

/* What the strategy decided for one choice in the current forward pass. */
typedef struct os_mix {
    os_tensor *w;         /* [n] weights on the tape, or NULL */
    unsigned active;      /* bit k: candidate k runs; 0 = not set (an error),
                             except for a subset choice: nothing chosen */
} os_mix;

/* os_arch_choice.chosen of a subset choice (k == 0) that keeps none of its
 * inputs: decided, nothing chosen (chosen == 0 means undecided). Never a
 * candidate bit (n <= OS_MAX_CANDIDATES); os_net_mix_set drops it. */
#define OS_CHOSEN_NONE (1u << 31)

/* All candidates of an n-way choice, as an active mask. */
static inline unsigned os_mask_all(int n) { return n >= 32 ? ~0u : (1u << n) - 1u; }

/* ---- batch norm module --------------------------------------------------- */
typedef struct os_bn {
    int C, affine;
    float eps;                 /* 1e-5 from os_bn_init (PyTorch's default); a
                                  space may set another (proxyless: 1e-3) */
    os_tensor *gamma, *beta;   /* params (affine) or NULL */
    os_tensor *mean, *var;     /* running statistics (persistent buffers) */
    int batch_stats;           /* 1: batch statistics in train and eval alike,
                                  the buffers neither read nor updated
                                  (PyTorch's track_running_stats=False) */
} os_bn;

/* ---- the network ------------------------------------------------------------ */
typedef struct os_net os_net;
struct os_net {
    char space[32];
    int in_c, in_h, in_w, num_classes;
    int cells, channels;       /* as built (the space's defaults resolved) */
    int bn_batch_stats;        /* os_bn_init makes BNs with batch_stats set */
    os_params weights;         /* network weights (SGD group) */
    os_params arch;            /* architecture parameters (alpha) */
    os_params buffers;         /* BN running stats: persistent, not trained */
    os_choice *choices;        /* one per label */
    int n_choices;
    os_mix *mix;               /* per choice, filled by the chooser each forward */
    /* the strategy's chooser: fills mix[] for one forward (see the top) */
    void (*choose)(os_net *net, const os_forward_ctx *ctx, void *arg);
    void *choose_arg;
    struct os_cost *cand_costs; /* [n_choices][OS_MAX_CANDIDATES] while os_net_candidate_costs runs */
    double *cand_seconds;      /* [n_choices][OS_MAX_CANDIDATES] while set (search/latency.c): each
                                  candidate's time in the forward adds here, */
    double (*cand_clock)(void); /* ... read from this clock (seconds) */
    void *impl;
    /* logits [N, classes]; *aux_logits set when the net has an auxiliary head
     * and ctx->training (else NULL). */
    os_tensor *(*forward)(os_net *net, os_tensor *x, const os_forward_ctx *ctx, os_tensor **aux_logits);
    void (*free_impl)(os_net *net);
};

/* Construction helpers used by spaces. */
void os_net_init(os_net *net, const char *space, int in_c, int in_h, int in_w, int classes);
void os_net_free(os_net *net);
/* The device of the net's parameters (they are made on the default device
 * when the net is built): where its inputs go. */
os_device os_net_device(const os_net *net);
os_tensor *os_net_weight(os_net *net, os_rng *r, const char *name, int ndim, const int *shape, long fan_in);
os_tensor *os_net_bias(os_net *net, os_rng *r, const char *name, int n, long fan_in);
void os_bn_init(os_net *net, os_bn *bn, const char *name, int C, int affine);
os_tensor *os_bn_forward(os_bn *bn, os_tensor *x, const os_forward_ctx *ctx);
/* Find or create the choice under `label` (alpha ~ 1e-3 N(0,1) on creation).
 * An input choice keeps k of its n inputs; k == 0: any subset. */
int os_net_layer_choice(os_net *net, os_rng *r, const char *label, int n, const char *const *names);
int os_net_input_choice(os_net *net, os_rng *r, const char *label, int n, int k);
/* Input j of input choice `choice` is produced by choice `src` (-1: none). */
void os_net_set_input_src(os_net *net, int choice, int j, int src);
int os_net_find_choice(const os_net *net, const char *label);
/* Choice `choice` runs only when choice `gate` (created earlier) picks a
 * candidate index >= min (see os_choice.gate). */
void os_net_choice_gate(os_net *net, int choice, int gate, int min);

/* Install the chooser that decides every choice for each forward pass. */
void os_net_set_chooser(os_net *net, void (*choose)(os_net *, const os_forward_ctx *, void *), void *arg);
/* Spaces call this first in their forward: it runs the chooser (a supernet
 * without one is a fatal misuse). Child networks have no choices. */
void os_net_begin_forward(os_net *net, const os_forward_ctx *ctx);
/* Chooser helpers: clear every mix / set one choice. */
void os_net_mix_clear(os_net *net);
void os_net_mix_set(os_net *net, int choice, unsigned active, os_tensor *w);
/* Evaluate a layer choice: run(i) returns candidate i's output (rules at the top). */
typedef os_tensor *(*os_candidate_fn)(void *self, int i, os_tensor *x, const os_forward_ctx *ctx);
os_tensor *os_layer_choice_forward(os_net *net, int choice, os_candidate_fn run, void *self,
                                   os_tensor *x, const os_forward_ctx *ctx);
/* How many candidates of a layer choice the current forward runs (the
 * chooser's decision): 1 on a single path, more in a mixed op. */
int os_layer_choice_active(const os_net *net, int choice);
/* Whether the current forward runs only the choice's `none` candidate: its
 * output is zero (scaled or not), and a space may leave the term out of a
 * sum (the sum, and every gradient, are the same without it). */
bool os_layer_choice_is_zero(const os_net *net, int choice);
/* Evaluate an input choice over n tensors of one shape (rules at the top);
 * NULL when a subset choice keeps no input. */
os_tensor *os_input_choice_forward(os_net *net, int choice, int n, os_tensor *const *xs,
                                   const os_forward_ctx *ctx);
/* Probabilities of a choice's alpha, on the host (n floats): softmax; for a
 * subset choice (k == 0) per input sigmoid(alpha_j). */
void os_choice_probs(const os_choice *c, float *p);

/* ---- costs (ops/count.h) ---------------------------------------------------- */
/* Per candidate of every layer choice: the parameters (elements) and the
 * multiply-adds of one image at the net's input shape, summed over every
 * place the choice's label is used (all cells of a type). Measured by one
 * counting forward of the supernet that runs every candidate; `out` gets
 * n_choices * OS_MAX_CANDIDATES entries, [choice * OS_MAX_CANDIDATES + k].
 * Input choices cost nothing (zeros). Search-time BNs have no affine
 * parameters, so a child's BNs add 2 * C parameters per candidate conv. */
void os_net_candidate_costs(os_net *net, struct os_cost *out);
/* A whole network for one image, as it evaluates (a child; or a supernet on
 * the path its chooser sets): the parameters it reads and its
 * multiply-adds. The auxiliary head (training only) is not included. */
void os_net_cost(os_net *net, struct os_cost *out);

/* ---- the space registry ---------------------------------------------------- */
struct os_arch;

typedef struct os_space_opts {
    int cells;          /* 0 = the space's default */
    int channels;       /* 0 = default */
    int in_c, in_h, in_w, num_classes;
    uint64_t seed;
    int bn_batch_stats;         /* supernets of spaces with OS_SPACE_BN_BATCH_STATS:
                                   BN without running statistics */
    /* child networks only */
    const struct os_arch *arch; /* a child architecture (child form); NULL = supernet */
    int auxiliary;              /* build the auxiliary head */
} os_space_opts;

/* How a space turns the supernet's decisions into a child (os_space.derive). */
typedef struct os_derive_opts {
    int max_skip;       /* at most this many skip_connect (cifar_cell: in the normal cell); -1 = off */
} os_derive_opts;

/* What a space supports beyond the basics (os_space.features). */
enum {
    OS_SPACE_AUX_HEAD  = 1u << 0,  /* the child has an auxiliary head (--auxiliary-weight) */
    OS_SPACE_DROP_PATH = 1u << 1,  /* the child uses drop-path (--drop-path) */
    OS_SPACE_MAX_SKIP  = 1u << 2,  /* derive honours os_derive_opts.max_skip */
    OS_SPACE_DEPTH_LABELS = 1u << 3, /* the child's labels depend on --cells: child_template
                                        is the default depth's; a shallower net's labels are
                                        a prefix of it (enas_macro) */
    OS_SPACE_BN_BATCH_STATS = 1u << 4, /* build honours os_space_opts.bn_batch_stats */
};

/* A search space. Two forms of an architecture (supernet/arch.h):
 *  - the SUPERNET form: the labels of the supernet's own choices (what a
 *    strategy decides: weights or chosen candidates per choice);
 *  - the CHILD form: the labels of NNI's format for the space (what arch.json
 *    holds and what a child network is built from).
 * For nb201 the two are the same; for cifar_cell the supernet has one 8-way
 * choice per edge and the child names two (op, input) pairs per node. */
typedef struct os_space {
    const char *name;
    const char *summary;
    unsigned features;
    /* Supernet (o->arch NULL) or child. 0, or -1 with os_error() (e.g. an
     * arch that does not fit the space). */
    int (*build)(os_net *net, const os_space_opts *o);
    /* The child form's labels and candidates (nothing chosen). */
    void (*child_template)(struct os_arch *a);
    /* The child from the supernet form (weights or chosen candidates): the
     * space's selection rule. 0, or -1 with os_error() naming the choice. */
    int (*derive)(const struct os_arch *supernet, const os_derive_opts *o, struct os_arch *child);
    /* Optional. A named architecture ("darts-v2") or a string form (an nb201
     * arch string) into the child form: 0, -1 with os_error(), or 1 when s is
     * not one of this space's forms. */
    int (*parse)(const char *s, struct os_arch *child);
    /* Optional. Extra keys of arch.json for a child (genotype, arch_str). */
    void (*describe)(const struct os_arch *child, struct cJSON *root);
    /* Optional. The child form from an NNI label dict when the space needs
     * more checks than the generic reader (supernet/arch.c); 0 or -1 with
     * os_error() naming the key. */
    int (*from_nni)(const struct cJSON *dict, struct os_arch *child);
    /* Optional. Named architectures, NULL-terminated (for help texts). */
    const char *const *named;
    /* Optional, for single-path search (search/path.h: spos, random,
     * evolve). When a supernet path (one candidate per choice) is not
     * itself a child, the groups of layer choices of which exactly keep[g]
     * run a candidate other than `none`, the others `none`: then every
     * sampled, mutated or crossed path is one of the space's children and
     * derive() returns that child. Fills group[i] for each of the
     * supernet's choices (-1: not in a group) and keep[g] (room for
     * n_choices groups); returns the number of groups. cifar_cell: the
     * edges into each node, 2 kept. NULL: no groups (nb201). */
    int (*path_groups)(const os_net *supernet, int *group, int *keep);
} os_space;

const os_space *os_space_find(const char *name);
int os_space_count(void);
const os_space *os_space_at(int i);

#endif
