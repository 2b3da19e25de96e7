/* ops/debug_backend.h — the debug device: a backend table that wraps another
 * one (the CPU backend, or the CUDA emulation of ops/cuda/) and keeps every
 * byte of its memory unreadable from the host outside backend calls.
 *
 *   os_backend_register(OS_CUDA, os_debug_backend_wrap(&os_cpu_backend));
 *
 * Memory comes from one reserved mmap region, page-granular, filled with
 * 0xFF bytes (a NaN pattern) when allocated and PROT_NONE whenever no kernel
 * or copy of this table is running. Each kernel, copy and memset makes the
 * pages of its operands readable, runs the wrapped table's function, and
 * protects them again. So any host dereference of device data outside a
 * kernel (t->data[i] on a tensor of that device) is a SIGSEGV at the faulting
 * line: the CI check, without a GPU, that the engine never reads device
 * memory directly. A kernel must touch only its operands: the tensors of
 * os_kargs and the device pointers its params carry (ops/kernels.def; each
 * such kernel is listed in ops/debug_backend.c, open_params).
 *
 * The wrapped kernels must be host code (the CPU backend, the emulation).
 * One wrapper per process at a time: a second call returns the same table
 * with the new inner table (fatal while memory of the old one is live).
 * Backend calls may come from several host threads: a lock serialises them
 * (a debug device is for checking, not for speed).
 *
 * Uploads of staged batches (upload, tensor/backend.h) are deferred to the
 * slot's upload_wait / upload_done, and their host source must not change
 * until then (a fatal error otherwise): see ops/debug_backend.c.
 *
 * Counters (os_debug_counts) count the calls made through the table since the
 * last os_debug_counts_reset(): the tests bound the host reads of a step. */
#ifndef OS_DEBUG_BACKEND_H
#define OS_DEBUG_BACKEND_H

#include "tensor/backend.h"

const os_backend *os_debug_backend_wrap(const os_backend *inner);

typedef struct {
    long kernels;          /* kernel launches */
    long kernel[OS_K_COUNT];
    long to_host;          /* copy_to_host + copy_to_host_async calls */
    long to_host_bytes;
    long from_host;        /* copy_from_host + copy_from_host_async + upload calls */
    long uploads;          /* upload calls (staged batches, deferred to the slot's wait) */
    long allocs, frees;
    long live_bytes;       /* allocated and not freed (page-rounded) */
} os_debug_counts;

void os_debug_counts_get(os_debug_counts *c);
void os_debug_counts_reset(void); /* live_bytes is kept */

#endif
