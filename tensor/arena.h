/* tensor/arena.h — the per-step arena.
 *
 * Activations, the autograd tape, activation gradients and kernel scratch are
 * bump-allocated from one arena, which the training loop resets after each
 * optimizer step (os_step_reset). When a step needs more than the arena has,
 * it takes extra chunks; the next reset merges them into one block of the
 * high-water size, so from the second step on nothing is malloc'd.
 *
 * One arena per device holds tensor data; a host arena holds tensor headers
 * and tape nodes. os_step_* manage the arenas that ops allocate from: those
 * of the calling thread's current context (tensor/context.h).
 */
#ifndef OS_ARENA_H
#define OS_ARENA_H

#include <stddef.h>
#include "tensor/tensor.h"

typedef struct os_arena os_arena;

os_arena *os_arena_new(os_device dev, size_t initial_bytes);
void os_arena_free(os_arena *a);
/* 64-byte aligned, uninitialised. Never fails (fatal if the device is out of memory). */
void *os_arena_alloc(os_arena *a, size_t bytes);
void os_arena_reset(os_arena *a);
size_t os_arena_used(const os_arena *a);
size_t os_arena_high_water(const os_arena *a);
size_t os_arena_capacity(const os_arena *a);
/* Number of times the arena had to ask the device for memory since creation. */
size_t os_arena_grow_count(const os_arena *a);

/* The step arenas of the calling thread's current context (tensor/context.h),
 * created on first use. */
os_arena *os_step_arena(os_device dev);   /* tensor data on dev */
os_arena *os_step_host_arena(void);       /* headers, tape nodes */
void *os_step_alloc(size_t bytes);        /* host metadata */
void *os_step_alloc_data(os_device dev, size_t bytes);
/* End the step: the state kept in the arenas by the layers above is dropped
 * (autograd clears its tape and gradient pool, through the context's slots),
 * then every step arena is reset. Tensors from the step are invalid after. */
void os_step_reset(void);
/* ---- transient step memory ---------------------------------------------------
 * Buffers needed only while one op or one kernel runs: a relu recomputed for
 * a convolution, a drop-path mask, a kernel's im2col columns. They are taken
 * and given back in LIFO order:
 *
 *   size_t m = os_scratch_mark(dev);
 *   float *buf = os_scratch_alloc(dev, bytes);   // any number of these
 *   ... kernels that use buf ...
 *   os_scratch_release(dev, m);                  // buf and everything after m
 *
 * os_dispatch releases whatever a kernel took after it returns, so a kernel
 * may take scratch without giving it back. Kernels queued on one device run
 * in order, so memory released after a launch is safe to reuse by the next
 * launch. The buffer of a device is one block; a request that does not fit
 * gets a buffer of its own (freed with its release: the backend's free
 * waits for the device, cudaFree), and at the next os_step_reset the block
 * grows to the most the step held at once: from the second step of the same
 * shape on nothing is allocated. 64-byte aligned, uninitialised. */
size_t os_scratch_mark(os_device dev);
void *os_scratch_alloc(os_device dev, size_t bytes);
void os_scratch_release(os_device dev, size_t mark);
/* the block's size (bytes), for reports */
size_t os_scratch_capacity(os_device dev);
/* A contiguous tensor shaped like `like`, on its device, its data transient
 * (os_scratch_alloc; the header is step memory). */
os_tensor *os_scratch_tensor_like(const os_tensor *like);

/* Sum of high-water marks of all step arenas, in bytes (goes into run metrics). */
size_t os_step_high_water(void);
/* Device allocations of the step memory since its creation: arena growths,
 * and the transient block's growths and spills. Constant in a steady state. */
size_t os_step_grow_count(void);
/* Like os_step_reset, then frees the step arenas (end of program / tests);
 * the context itself stays usable (the arenas come back on next use). */
void os_step_shutdown(void);

#endif
