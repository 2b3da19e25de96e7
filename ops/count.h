/* ops/count.h — cost counters: the multiply-adds the ops do and the
 * parameters they read, for the costs of a candidate (or any part of a
 * forward pass).
 *
 *   os_count_begin();
 *   os_cost a, b, total;
 *   ... part 1 of the forward ...
 *   os_count_now(&a);
 *   ... part 2 ...
 *   os_count_now(&b);          // part 2 cost b.macs - a.macs, b.params - a.params
 *   os_count_end(&total);
 *
 * While a counting window is open in the current context (tensor/context.h;
 * each context has its own), every op adds to the running totals:
 *   macs   multiply-adds of the ops that do them:
 *            conv2d  N * Cout * Hout * Wout * (Cin / groups) * KH * KW
 *            linear  N * F * O       (x [N,F], w [O,F]; the bias add is not a MAC)
 *            matmul  M * K * N       ([M,K] x [K,N])
 *          every other op (elementwise, batch norm, pooling, softmax, loss,
 *          views, the weighted sum of a mixed op) adds none;
 *   params elements of the distinct parameter tensors (flags & OS_PARAM) that
 *          ops read: each tensor counts once per window, however many ops
 *          read it (a shared weight, alpha used by every cell). Views of a
 *          parameter are not parameters; the op that made the view
 *          (os_select, os_reshape, os_offset_hw) read and counted it.
 *          Batch norm's gamma and beta count; its running statistics are not
 *          parameters. os_zero reads only its input's shape and counts
 *          nothing.
 *   param_tensors  how many distinct parameter tensors that is.
 * Only ops count (the forward): backward rules and optimizer steps run
 * kernels, not ops, and add nothing. Counting does not depend on grad mode.
 *
 * Cost: with no window open an op pays a look at the current context and one
 * test. The set of parameters seen
 * is an open-addressing pointer set owned by the context, kept from window to
 * window (it grows, by doubling, only while more distinct parameters are seen
 * than ever before); counting allocates nothing in a steady state.
 */
#ifndef OS_COUNT_H
#define OS_COUNT_H

#include <stdbool.h>
#include <stdint.h>
#include "tensor/tensor.h"

typedef struct os_cost {
    int64_t macs;          /* multiply-adds */
    int64_t params;        /* elements of the distinct parameter tensors read */
    int64_t param_tensors; /* distinct parameter tensors read */
} os_cost;

/* Open a counting window in the current context: totals to zero, no
 * parameter seen. Fatal if one is already open. */
void os_count_begin(void);
/* The running totals of the open window (fatal if none). */
void os_count_now(os_cost *out);
/* Close the window; out (may be NULL) gets its totals. Fatal if none is open. */
void os_count_end(os_cost *out);
/* Whether a window is open in the current context. */
bool os_counting(void);

/* For ops: add macs, and every parameter among in[0..n-1] (NULL entries
 * skipped) not yet seen in this window. Returns at once when no window is
 * open. */
void os_count_op(int64_t macs, int n, os_tensor *const *in);

#endif
