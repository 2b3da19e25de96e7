/* search/darts.h — the pieces of DARTS other code may call: the
 * architecture gradient alone (the PyTorch parity test and the benchmark
 * check it) and beta-DARTS's term (its test). The strategy itself is os_strategy_darts (search/registry.c). */
#ifndef OS_DARTS_H
#define OS_DARTS_H

#include "search/strategy.h"

/* Leave d L_val / d alpha (first order) or the second-order approximation
 * (REFERENCE.md §2; xi = the weight optimizer's lr, with the env's momentum
 * and weight decay) in the alphas' grads; the weights are unchanged.
 * `state` is a darts strategy's (os_strategy_darts.create). */
void os_darts_arch_grad(void *state, const os_batch *train, const os_batch *val);
/* --beta-decay: add lambda / n * softmax(alpha) to every softmax choice's
 * alpha grad (the gradient of lambda * mean logsumexp(alpha) over the n
 * softmax choices; lambda = the option * epoch / epochs of the last
 * epoch_begin). Nothing when lambda is 0. */
void os_darts_beta_decay(void *state);

#endif
