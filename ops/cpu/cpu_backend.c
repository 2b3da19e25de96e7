/* ops/cpu/cpu_backend.c — the CPU backend table: host memory and the kernels. */
#include "ops/cpu/cpu_kernels.h"

#include <stdlib.h>
#include <string.h>

static void *cpu_alloc(size_t bytes)
{
    return aligned_alloc(64, (bytes + 63) & ~(size_t)63);
}

static void cpu_copy(void *dst, const void *src, size_t bytes) { memcpy(dst, src, bytes); }

const os_backend os_cpu_backend = {
    .name = "cpu",
    .alloc = cpu_alloc,
    .free = free,
    .copy_to_host = cpu_copy,
    .copy_from_host = cpu_copy,
    .kernels = {
#define OS_KERNEL(name, fn, doc) [OS_K_##name] = os_cpu_##fn,
#include "ops/kernels.def"
#undef OS_KERNEL
    },
};
