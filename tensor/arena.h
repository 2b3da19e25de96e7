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
/* Sum of high-water marks of all step arenas, in bytes (goes into run metrics). */
size_t os_step_high_water(void);
size_t os_step_grow_count(void);
/* Like os_step_reset, then frees the step arenas (end of program / tests);
 * the context itself stays usable (the arenas come back on next use). */
void os_step_shutdown(void);

#endif
