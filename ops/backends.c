/* ops/backends.c — the backends built into the library, handed to the tensor
 * layer's dispatch (tensor/backend.h: os_builtin_backend). The CPU backend is
 * always there; the CUDA backend (ops/cuda/) is returned for OS_CUDA when the
 * library is built with nvcc (OS_HAVE_CUDA) and the process sees a GPU, else
 * NULL. A backend registered at run time with os_backend_register overrides
 * these (the CUDA emulation, os_cuda_emu_backend, is registered that way). */
#include "tensor/backend.h"
#include "ops/cpu/cpu_kernels.h"
#if defined(OS_HAVE_CUDA) && OS_HAVE_CUDA
#include "ops/cuda/cuda_backend.h"
#endif

const os_backend *os_builtin_backend(os_device dev)
{
    switch (dev) {
    case OS_CPU:
        return &os_cpu_backend;
#if defined(OS_HAVE_CUDA) && OS_HAVE_CUDA
    case OS_CUDA:
        return os_cuda_backend.available() ? &os_cuda_backend : NULL;
#endif
    default:
        return NULL;
    }
}
