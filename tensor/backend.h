/* tensor/backend.h — the one dispatch point through which every kernel runs.
 *
 * An op (ops/<op>.c) checks shapes, allocates its output on its inputs'
 * device, records itself on the tape and then calls
 * os_dispatch(OS_K_<KERNEL>, &args). The backend of the operands' (one)
 * device runs the kernel. A backend is a table: memory
 * functions plus one function pointer per kernel id. The kernel ids are listed
 * once, in ops/kernels.def; each backend fills the entries it supports
 * (ops/cpu/cpu_backend.c for the CPU). The ops layer hands the built-in
 * backends to this layer (os_builtin_backend, ops/backends.c). Adding a CUDA
 * backend means filling a second table (ops/cuda/) and returning it there —
 * op code does not change.
 *
 * Kernel arguments: up to 8 tensors (the order is documented with each kernel
 * in ops/kernels.def) and a pointer to the op's parameter struct.
 */
#ifndef OS_BACKEND_H
#define OS_BACKEND_H

#include <stdbool.h>
#include <stddef.h>
#include "tensor/tensor.h"

enum {
#define OS_KERNEL(name, fn, doc) OS_K_##name,
#include "ops/kernels.def"
#undef OS_KERNEL
    OS_K_COUNT
};

typedef struct os_kargs {
    os_tensor *t[8];
    const void *params;
} os_kargs;

typedef void (*os_kernel_fn)(const os_kargs *a);

/* upload slots of a backend (upload, upload_wait, upload_done) */
#define OS_UPLOAD_SLOTS 4

typedef struct os_backend {
    const char *name;
    void *(*alloc)(size_t bytes);          /* device memory, 64-byte aligned */
    void (*free)(void *p);
    void (*copy_to_host)(void *dst, const void *src, size_t bytes);
    void (*copy_from_host)(void *dst, const void *src, size_t bytes);
    /* Device backends (shared with cuda-engine). The async copies may be
     * synchronous in host backends; sync waits for all queued work. */
    void (*sync)(void);
    void (*memset)(void *p, int byte, size_t bytes);
    void (*copy_device)(void *dst, const void *src, size_t bytes);
    void (*copy_to_host_async)(void *dst, const void *src, size_t bytes);
    void (*copy_from_host_async)(void *dst, const void *src, size_t bytes);
    /* Host staging memory and uploads that overlap compute (the batch
     * stager, search/stage.h). alloc_host: host memory the device copies
     * from asynchronously (CUDA: pinned, cudaHostAlloc; host backends:
     * 64-byte aligned malloc); never NULL: a failure is os_fatal naming the
     * call and the size. upload: copy bytes from src (host memory of
     * alloc_host) to dst (device) on a copy queue that runs beside the
     * kernels, after the kernels queued so far are done with dst, and mark
     * the end in upload slot `slot` (0 <= slot < OS_UPLOAD_SLOTS).
     * upload_wait: kernels queued after it start once the slot's uploads are
     * done (CUDA: cudaStreamWaitEvent, no host block). upload_done: the host
     * waits until the slot's uploads have read their sources, so that it can
     * write them again (CUDA: cudaEventSynchronize). Host backends copy at
     * once; the debug device (ops/debug_backend.h) defers its copies to the
     * slot's wait or done, to catch a missing wait and a source written
     * while its upload is pending. */
    void *(*alloc_host)(size_t bytes);
    void (*free_host)(void *p);
    void (*upload)(void *dst, const void *src, size_t bytes, int slot);
    void (*upload_wait)(int slot);
    void (*upload_done)(int slot);
    bool (*supports)(int kernel);
    int (*available)(void); /* 1 when the device can be used in this process */
    os_kernel_fn kernels[OS_K_COUNT];
} os_backend;

/* The backend table is process-wide: register before starting threads that
 * run ops. A registered backend overrides the built-in one of its device. */
void os_backend_register(os_device dev, const os_backend *b);
/* The registered backend of dev, else the built-in one; fatal if none. */
const os_backend *os_backend_get(os_device dev);
/* Provided by the ops layer (ops/backends.c): the backend built into the
 * library for dev (the CPU one, ops/cpu/), or NULL. The tensor layer names no
 * backend itself. */
const os_backend *os_builtin_backend(os_device dev);
/* Also from the ops layer: why OS_CUDA has no built-in backend (no CUDA in
 * this build, or no GPU), NULL when it has one; and the CUDA emulation's
 * table (ops/cuda/), NULL when the library was built without it. */
const char *os_cuda_unavailable(void);
const os_backend *os_cuda_emu_table(void);
const char *os_kernel_name(int kernel); /* "conv2d_fwd" (the fn of kernels.def) */
const char *os_device_name(os_device dev); /* "cpu", "cuda" */

/* Run kernel k on the device of its tensor operands. Fatal when the non-NULL
 * operands are not all on one device ("dispatch: conv2d_fwd: operands on cpu
 * and cuda"), when none is given, or when that device's backend lacks the
 * kernel (a NULL entry, or supports(k) false). */
void os_dispatch(int k, const os_kargs *a);

/* Convenience: dispatch with tensors listed inline. */
#define OS_RUN(k, prm, ...) \
    os_dispatch(OS_K_##k, &(os_kargs){ .t = { __VA_ARGS__ }, .params = (prm) })

/* Threads used by CPU kernels (OpenMP); OpenBLAS is kept single-threaded and
 * called from inside the parallel regions. Default: all cores. Process-wide;
 * defined by the CPU backend (ops/cpu/cpu_threads.c), declared here so that
 * everything that includes the dispatch header sees it. */
void os_set_threads(int n);
int os_threads(void);

#endif
