/* search/darts.h — the one piece of DARTS other code may call: the
 * architecture gradient alone (the PyTorch parity test and the benchmark
 * check it). The strategy itself is os_strategy_darts (search/registry.c). */
#ifndef OS_DARTS_H
#define OS_DARTS_H

#include "search/strategy.h"

/* Leave d L_val / d alpha (first order) or the second-order approximation
 * (REFERENCE.md §2; xi = the weight optimizer's lr, with the env's momentum
 * and weight decay) in the alphas' grads; the weights are unchanged.
 * `state` is a darts strategy's (os_strategy_darts.create). */
void os_darts_arch_grad(void *state, const os_batch *train, const os_batch *val);

#endif
