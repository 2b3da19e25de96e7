/* ops/profile.h — where a step's time and memory go: a per-kernel profile
 * and the step's activation memory by kind.
 *
 *   os_profile_begin();
 *   ... some training steps ...
 *   os_profile *p = os_profile_end();           // valid until the next begin
 *   os_profile_print(stdout, p, steps, wall, sgemm_gflops, bandwidth_gbs);
 *
 * While a profile is open in the current context (tensor/context.h),
 * os_dispatch times every kernel call (the wall clock around the call: the
 * CPU backend runs synchronously, so that is the kernel's time; on an
 * asynchronous device it would be the launch only) and files it under a row:
 * the kernel's name, convolutions split by kind ("dense 3x3", "1x1",
 * "depthwise 5x5 d2", ...). A row keeps:
 *   calls, seconds;
 *   flops   2 x the multiply-adds of convolutions and GEMMs (0 elsewhere);
 *   bytes   the operands' elements x 4, each operand read or written once:
 *           a lower bound on the memory traffic (for a GB/s figure);
 *   scratch bytes the kernel took from the step arenas during the call.
 * At every backward pass (os_backward) it walks the tape once and files the
 * memory the tape keeps alive by the op that made it: every node's output
 * and saved tensors, each byte of storage counted once (a view counts no
 * storage of its own), parameters and other persistent tensors not counted;
 * the largest such tape of the profile is kept. The activation gradients
 * the backward pass allocates (the gradient pool's new buffers) are counted
 * at the same time.
 *
 * Profiling allocates only at os_profile_begin (its state is kept for the
 * context's life); a closed profile costs os_dispatch one look at the
 * context. It is a diagnostic for benchmarks, not a timer for tests. */
#ifndef OS_PROFILE_H
#define OS_PROFILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include "tensor/backend.h"

#define OS_PROFILE_ROWS 96
#define OS_PROFILE_MEM_ROWS 48

typedef struct os_profile_row {
    char name[48];
    long calls;
    double seconds, flops, bytes, scratch;
} os_profile_row;

typedef struct os_profile_mem_row {
    char op[40];
    double bytes;
    long tensors;
} os_profile_mem_row;

typedef struct os_profile {
    bool on;
    os_profile_row rows[OS_PROFILE_ROWS];
    int n_rows, dropped;          /* dropped: calls of kinds beyond the table (counted in "other") */
    os_profile_mem_row mem[OS_PROFILE_MEM_ROWS];
    int n_mem;
    double tape_bytes;            /* the largest tape's total (sum of mem[]) */
    long backwards;               /* backward passes seen */
    double grad_bytes, grad_bytes_max; /* new gradient buffers: this backward, the largest */
} os_profile;

/* Open a profile in the current context (counters to zero). Fatal if one is open. */
void os_profile_begin(void);
/* Close it; the result stays readable until the next os_profile_begin in this context. */
os_profile *os_profile_end(void);
bool os_profiling(void);

/* Hooks (tensor/backend.c, autograd/tape.c): one kernel call of kernel k,
 * seconds long, that took scratch bytes; the tape before a backward pass
 * (head = newest node); a new activation-gradient buffer. */
void os_profile_kernel(int k, const os_kargs *a, double seconds, size_t scratch);
void os_profile_tape(const os_node *head);
void os_profile_grad_alloc(size_t bytes);

/* A table: per row calls/step, ms/step, share of the kernels' time,
 * GFLOP/s and GB/s (and their fraction of the ceilings given; 0 = none),
 * scratch MB/step; then the memory rows, largest first. steps > 0. */
void os_profile_print(FILE *f, const os_profile *p, int steps, double wall_seconds, double sgemm_gflops,
                      double bandwidth_gbs);

#endif
