/* tests/debug_util.h — run OS_CUDA on the debug device (ops/debug_backend.h)
 * in a test: any backend table b (the CPU backend, the CUDA emulation) wrapped
 * so that a host read of its memory outside a kernel crashes.
 *
 *   TestSuite(mine, .init = tu_cuda_debug_cpu, .fini = tu_cuda_debug_off);
 *   or, in a test: tu_cuda_debug(&os_cuda_emu_backend);
 */
#ifndef OS_TEST_DEBUG_UTIL_H
#define OS_TEST_DEBUG_UTIL_H

#include "ops/debug_backend.h"
#include "ops/cpu/cpu_kernels.h"
#include "tensor/arena.h"
#include "tensor/backend.h"

static inline void tu_cuda_debug(const os_backend *b) { os_backend_register(OS_CUDA, os_debug_backend_wrap(b)); }
static inline void tu_cuda_debug_cpu(void)
{
    os_set_threads(1);
    tu_cuda_debug(&os_cpu_backend);
}
static inline void tu_cuda_debug_off(void)
{
    os_step_shutdown();
    os_set_default_device(OS_CPU);
    os_backend_register(OS_CUDA, NULL);
}

#endif
