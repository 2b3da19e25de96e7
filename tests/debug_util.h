/* tests/debug_util.h — run OS_CUDA on the debug device (ops/debug_backend.h)
 * in a test: any backend table b (the CPU backend, the CUDA emulation) wrapped
 * so that a host read of its memory outside a kernel crashes.
 *
 *   TestSuite(mine, .init = tu_cuda_debug_cpu, .fini = tu_cuda_debug_off);
 *   or, in a test: tu_cuda_debug(&os_cuda_emu_backend);
 */
#ifndef OS_TEST_DEBUG_UTIL_H
#define OS_TEST_DEBUG_UTIL_H

#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "autograd/autograd.h"
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

/* every tensor of two parameter groups (on any devices) bit for bit, and
 * their gradients too when grads; what names the group in a failure */
static inline void tu_same_params(const os_params *a, const os_params *b, const char *what, int grads)
{
    cr_assert_eq(a->n, b->n);
    for (int i = 0; i < a->n; i++) {
        long n = os_numel(a->t[i]);
        float *ha = malloc(sizeof(float) * (size_t)n * 2), *hb = ha + n;
        os_tensor_to_host(a->t[i], ha);
        os_tensor_to_host(b->t[i], hb);
        cr_expect(!memcmp(ha, hb, sizeof(float) * (size_t)n), "%s %s differs", what, a->t[i]->name);
        if (grads) {
            os_tensor_to_host(a->t[i]->grad, ha);
            os_tensor_to_host(b->t[i]->grad, hb);
            cr_expect(!memcmp(ha, hb, sizeof(float) * (size_t)n), "%s grad of %s differs", what, a->t[i]->name);
        }
        free(ha);
    }
}

#endif
