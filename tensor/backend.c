#include "tensor/backend.h"

#include <omp.h>

static const os_backend *backends[OS_NUM_DEVICES];

static const char *kernel_names[OS_K_COUNT] = {
#define OS_KERNEL(name, fn, doc) #name,
#include "ops/kernels.def"
#undef OS_KERNEL
};

extern const os_backend os_cpu_backend;

void os_backend_register(os_device dev, const os_backend *b)
{
    if ((int)dev < 0 || dev >= OS_NUM_DEVICES)
        os_fatal("backend_register: invalid device %d", (int)dev);
    backends[dev] = b;
}

const os_backend *os_backend_get(os_device dev)
{
    if ((int)dev < 0 || dev >= OS_NUM_DEVICES)
        os_fatal("backend: invalid device %d", (int)dev);
    if (dev == OS_CPU && !backends[OS_CPU])
        backends[OS_CPU] = &os_cpu_backend;
    if (!backends[dev])
        os_fatal("backend: no backend registered for device %d", (int)dev);
    return backends[dev];
}

const char *os_kernel_name(int k)
{
    return (k >= 0 && k < OS_K_COUNT) ? kernel_names[k] : "?";
}

void os_dispatch(int k, const os_kargs *a)
{
    /* the device of the first tensor given (an optional operand may be NULL) */
    os_device dev = OS_CPU;
    for (int i = 0; i < 8; i++)
        if (a->t[i]) {
            dev = a->t[i]->device;
            break;
        }
    const os_backend *b = os_backend_get(dev);
    if (k < 0 || k >= OS_K_COUNT || !b->kernels[k])
        os_fatal("dispatch: backend '%s' has no kernel %s", b->name, os_kernel_name(k));
    b->kernels[k](a);
}

extern void openblas_set_num_threads(int);
static int n_threads;

void os_set_threads(int n)
{
    if (n < 1)
        n = omp_get_num_procs();
    n_threads = n;
    omp_set_num_threads(n);
    openblas_set_num_threads(1);
}

int os_threads(void)
{
    if (!n_threads)
        os_set_threads(0);
    return n_threads;
}
