/* ops/backends.c — the backends built into the library, handed to the tensor
 * layer's dispatch (tensor/backend.h: os_builtin_backend). The CPU backend is
 * always there. OS_CUDA: the real CUDA backend (ops/cuda/, built with nvcc:
 * the Makefile defines OS_HAVE_CUDA=1 for this file) when its available()
 * says a GPU can be used, else none. The CUDA emulation (the same kernel
 * bodies on the CPU, ops/cuda/cuda_backend.h) is never the built-in OS_CUDA:
 * `--device cuda-emu` and the tests register it, wrapped in the debug device
 * (ops/debug_backend.h). A backend registered at run time with
 * os_backend_register overrides these. */
#include "tensor/backend.h"
#include "ops/cpu/cpu_kernels.h"

#ifndef OS_HAVE_CUDA
#define OS_HAVE_CUDA 0
#endif
/* the emulation comes with ops/cuda/ (branch cuda-kernels); without it the
 * library still builds, and os_cuda_emu_table() says it is missing */
#if defined(__has_include)
#if __has_include("ops/cuda/cuda_backend.h")
#include "ops/cuda/cuda_backend.h"
#define OS_HAVE_CUDA_EMU 1
#endif
#endif
#ifndef OS_HAVE_CUDA_EMU
#define OS_HAVE_CUDA_EMU 0
#endif

const os_backend *os_builtin_backend(os_device dev)
{
    switch (dev) {
    case OS_CPU:
        return &os_cpu_backend;
    case OS_CUDA:
#if OS_HAVE_CUDA
        return os_cuda_backend.available() ? &os_cuda_backend : NULL;
#else
        return NULL;
#endif
    default:
        return NULL;
    }
}

const char *os_cuda_unavailable(void)
{
#if OS_HAVE_CUDA
    return os_cuda_backend.available() ? NULL : "no CUDA GPU can be used by this process";
#else
    return "this build has no CUDA backend (built without nvcc, or with make CUDA=0)";
#endif
}

const os_backend *os_cuda_emu_table(void)
{
#if OS_HAVE_CUDA_EMU
    return &os_cuda_emu_backend;
#else
    return NULL;
#endif
}
