/* search/enas_controller.h — the ENAS controller (REFERENCE.md §5): an LSTM
 * (one layer, no bias, as NNI's ReinforceController and the ENAS code) that
 * emits a list of decisions in order, built from the engine's ops so that the
 * log-probability of a sample has gradients for every controller parameter.
 *
 * Per decision d, one LSTM step on the previous decision's input (the first
 * on the learned start input g_emb [1,H]), then:
 *  - CATEGORICAL (n options): logits = head_d h [1,n] (no bias), / temperature
 *    when set, then tanh_constant * tanh(.); options listed in `excl` (the
 *    values sampled by earlier decisions: sampling without replacement) get
 *    -1e30 added; value ~ softmax; -log p is the cross-entropy; the next
 *    input is row `value` of the decision's embedding table emb_d [n,H].
 *  - SUBSET (n inputs, any subset, the ENAS code's attention sampler): input
 *    j's anchor a_j is the LSTM output h recorded at decision anchor[j]
 *    (an earlier one) or the learned anchor when anchor[j] == -1;
 *    l_j = v^T tanh(W_anchor a_j + W_query h), then temperature and tanh
 *    constant as above; input j is chosen with the two-class softmax over
 *    [-l_j, l_j] (p = sigmoid(2 l_j)); -log p summed over j; skip penalty
 *    sum_j KL(sigmoid([-l_j, l_j]) || [1 - target, target]) (as NNI); the next
 *    input is the sum of the chosen rows of emb_d / (1 + count), or zeros.
 * Entropy: per decision (-log p) * p of the sampled value (a subset: summed
 * over its inputs), a plain number (no gradient), as NNI.
 *
 * Device: the controller always lives on the CPU (its parameters and step
 * tensors), whatever device the supernet uses: it is a tiny LSTM whose every
 * decision is read on the host to sample, and it never touches the net's
 * tensors (the reward reaches it as a number).
 *
 * Sampling draws uniforms from a source (an os_rng, or a list for the
 * PyTorch fixture): one per categorical decision (value = the first option
 * whose cumulative probability exceeds u), one per input of a subset (chosen
 * when u < p). A run can also be FORCED: the values are given and only their
 * log-probability is computed (how the strategy replays a sample on the
 * tape after evaluating it).
 *
 * Init (the ENAS code's): every weight U(-0.1, 0.1); g_emb ~ N(0, 0.1). */
#ifndef OS_ENAS_CONTROLLER_H
#define OS_ENAS_CONTROLLER_H

#include "supernet/supernet.h"
#include "autograd/autograd.h"

#define OS_CTRL_HIDDEN 64

typedef enum { OS_CTRL_CATEGORICAL, OS_CTRL_SUBSET } os_ctrl_kind;

typedef struct os_ctrl_decision {
    os_ctrl_kind kind;
    int n;                              /* options (categorical) or inputs (subset), 1..OS_MAX_CANDIDATES */
    int n_excl;                         /* categorical: earlier decisions whose value is excluded */
    int excl[OS_MAX_CANDIDATES];
    int anchor[OS_MAX_CANDIDATES];      /* subset: input j's anchor decision (< this one) or -1 */
} os_ctrl_decision;

typedef struct os_ctrl_config {
    int hidden;                         /* 0 = OS_CTRL_HIDDEN */
    float tanh_constant;                /* 0 = no tanh */
    float temperature;                  /* 0 = none */
    float skip_target;                  /* subset penalty target, e.g. 0.4 */
} os_ctrl_config;

typedef struct os_controller {
    os_ctrl_config cfg;
    int H, n_dec;
    os_ctrl_decision *dec;
    os_params params;                   /* every trainable tensor below */
    os_tensor *w_lstm;                  /* [4H, 2H]: torch's weight_ih | weight_hh */
    os_tensor *g_emb;                   /* [1,H] */
    os_tensor *w_anchor, *w_query;      /* [H,H] (only with subset decisions) */
    os_tensor *v_attn, *anchor0;        /* [1,H] */
    os_tensor **emb, **head;            /* per decision: [n,H] each */
} os_controller;

/* A source of uniforms in [0,1). */
typedef struct os_ctrl_draws {
    os_rng *rng;                        /* when not NULL */
    const float *u;                     /* else u[0..n) in order */
    int n, used;
} os_ctrl_draws;

typedef struct os_ctrl_result {
    os_tensor *nlp;                     /* [1] sum of -log p, on the tape when grad mode is on */
    os_tensor *penalty;                 /* [1] skip penalty, or NULL without subset decisions */
    double log_prob, entropy, skip_penalty; /* host values */
} os_ctrl_result;

/* Tensors are named "<prefix>.<what>". 0, or -1 with os_error() for a bad
 * decision list (n out of range, an anchor or exclusion not earlier). */
int os_ctrl_init(os_controller *c, const os_ctrl_config *cfg, int n_dec, const os_ctrl_decision *dec,
                 os_rng *r, const char *prefix);
void os_ctrl_free(os_controller *c);
/* One walk over the decisions. forced: value[] holds the decisions (a
 * categorical: the option; a subset: the bit mask of chosen inputs) and d
 * may be NULL; else value[] receives the sample drawn from d. Tape nodes go
 * into the step arena (os_step_reset frees them). 0, or -1 with os_error()
 * when the draws run out or a forced value is out of range. */
int os_ctrl_run(os_controller *c, int forced, os_ctrl_draws *d, int *value, os_ctrl_result *out);
/* The most likely value of every decision on its own (argmax; a subset
 * input when l_j > 0), walking the LSTM on those values; no gradients. */
void os_ctrl_greedy(os_controller *c, int *value);

#endif
