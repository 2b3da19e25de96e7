/* oneshot/run.h — training runs: search (train), retrain, eval, export.
 *
 * A run directory holds:
 *   config.json         the configuration and the parameter counts
 *   metrics.jsonl       one JSON object per epoch
 *   arch.json           search: the architecture found so far (NNI labels,
 *                       genotype, alpha probabilities); retrain: the
 *                       architecture being trained
 *   checkpoint.safetensors   weights, alphas, BN buffers, optimizer state,
 *                       epoch/step, RNG state and the config (metadata);
 *                       replaced atomically at every epoch end and on
 *                       SIGINT/SIGTERM
 * Every command returns a process exit status: 0 ok, 1 runtime failure (bad
 * file, NaN loss, disk full), 2 usage error, 130 interrupted (checkpoint saved).
 */
#ifndef OS_RUN_H
#define OS_RUN_H

#include "oneshot/config.h"
#include "supernet/supernet.h"
#include "autograd/optim.h"

int os_cmd_train(os_config *c);   /* search (train) and retrain */
int os_cmd_eval(os_config *c);
int os_cmd_export(os_config *c);

/* ---- one-shot strategies ----------------------------------------------------- */
typedef struct os_search_state {
    os_net *net;
    os_optim *wopt, *aopt;
    const os_config *cfg;
    os_rng rng;              /* Gumbel noise */
    float tau;
    os_params backup, hvp;   /* second order: saved weights, dL_val/dw' */
    os_tensor **alpha_acc;   /* second order: accumulated alpha gradient */
} os_search_state;

typedef struct os_batch {
    const float *x;
    const int32_t *y;
    int n;
} os_batch;

typedef struct os_step_result {
    float loss;
    int correct;
} os_step_result;

typedef struct os_strategy {
    const char *name;
    const char *summary;
    /* the forward mode the strategy uses for this epoch's steps */
    void (*epoch_begin)(os_search_state *s, int epoch, int epochs);
    /* one architecture step on the val batch (it may also use the train batch) */
    void (*arch_step)(os_search_state *s, const os_batch *train, const os_batch *val);
    os_mix_mode (*mode)(const os_search_state *s);
} os_strategy;

const os_strategy *os_strategy_find(const char *name);
/* DARTS: leave d L_val / d alpha (first order) or the second-order
 * approximation (REFERENCE.md §2; xi = the weight optimizer's lr, momentum and
 * weight decay from s->cfg) in the alphas' grads. Weights are unchanged. */
void os_darts_arch_grad(os_search_state *s, const os_batch *train, const os_batch *val, int second_order);
int os_strategy_count(void);
const os_strategy *os_strategy_at(int i);

/* Shared step pieces (oneshot/step.c). */
os_tensor *os_batch_tensor(const os_net *net, const os_batch *b);
/* forward + cross-entropy (+ aux); counts correct predictions; records on the
 * tape when grad mode is on. */
os_tensor *os_forward_loss(os_net *net, const os_batch *b, const os_forward_ctx *ctx, float aux_weight,
                           float smoothing, int *correct);
/* One SGD step of the weights on b (alphas frozen). */
os_step_result os_weight_step(os_net *net, os_optim *wopt, const os_batch *b, const os_forward_ctx *ctx,
                              float aux_weight, float smoothing, float grad_clip);
/* Loss and accuracy without gradients (BN in eval mode unless ctx->training). */
os_step_result os_eval_batch(os_net *net, const os_batch *b, const os_forward_ctx *ctx);

#endif
