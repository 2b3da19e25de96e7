/* ops/cpu/cpu_kernels.h — the CPU backend's kernels, one per id in ops/kernels.def.
 * Kernel `fn` of OS_KERNEL(ID, fn, doc) is os_cpu_<fn>(const os_kargs *).
 * A backend may leave an entry NULL; os_dispatch then reports the kernel by
 * name. The CPU backend has every one. */
#ifndef OS_CPU_KERNELS_H
#define OS_CPU_KERNELS_H

#include "tensor/backend.h"
#include "ops/ops.h"

#define OS_KERNEL(name, fn, doc) void os_cpu_##fn(const os_kargs *a);
#include "ops/kernels.def"
#undef OS_KERNEL

/* The CPU backend's table (ops/cpu/cpu_backend.c); the library hands it to
 * the dispatch through os_builtin_backend (ops/backends.c). */
extern const os_backend os_cpu_backend;

/* Iterate a 4-D strided tensor's elements in logical (row-major) order. */
#define OS_FOR4(t, n, c, h, w)                         \
    for (int n = 0; n < (t)->shape[0]; n++)            \
        for (int c = 0; c < (t)->shape[1]; c++)        \
            for (int h = 0; h < (t)->shape[2]; h++)    \
                for (int w = 0; w < (t)->shape[3]; w++)

#endif
