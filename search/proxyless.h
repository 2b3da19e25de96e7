/* search/proxyless.h — hooks into the proxyless strategy (search/proxyless.c)
 * for tests: one architecture step on a given sample instead of a drawn one,
 * and the gates it ran. */
#ifndef OS_PROXYLESS_H
#define OS_PROXYLESS_H

#include "search/step.h"

/* One architecture step of the proxyless strategy `state` (made by its
 * create) on the batch val. active[i] / inactive[i]: for every LAYER choice
 * i the candidate whose gate is 1 and the other sampled one (gate 0; -1 =
 * none); NULL: drawn as in training (input choices are always drawn).
 * Leaves dL/dg in the gates' gradients (os_proxyless_gate; L the whole
 * loss, the latency factor of mul-log included) and dL/dalpha in the
 * alphas' gradients; with apply, also takes the Adam step and rescales
 * the sampled alphas. Returns the batch's cross-entropy (the loss before
 * the latency term), NaN when it is not finite (nothing applied). */
double os_proxyless_arch_step(void *state, const os_batch *val, const int *active, const int *inactive, int apply);
/* The binary gates of choice i as the last architecture step ran them ([n],
 * grad: dL/dg). */
const os_tensor *os_proxyless_gate(void *state, int choice);

#endif
