/* ops/backends.c — the backends built into the library, handed to the tensor
 * layer's dispatch (tensor/backend.h: os_builtin_backend). The CPU backend is
 * always there; a CUDA backend (ops/cuda/) will return its table for OS_CUDA
 * here when the library is built with it. A backend registered at run time
 * with os_backend_register overrides these. */
#include "tensor/backend.h"
#include "ops/cpu/cpu_kernels.h"

const os_backend *os_builtin_backend(os_device dev)
{
    switch (dev) {
    case OS_CPU:
        return &os_cpu_backend;
    default:
        return NULL;
    }
}
