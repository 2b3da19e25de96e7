/* tensor/backend.c — the backend table and os_dispatch. The table is
 * process-wide: a backend registered with os_backend_register wins; a device
 * with none registered gets the ops layer's built-in backend
 * (os_builtin_backend, ops/backends.c). This file names no backend. */
#include "tensor/backend.h"
#include "ops/profile.h"
#include "tensor/arena.h"

#include <time.h>

static const os_backend *backends[OS_NUM_DEVICES]; /* registered ones */

static const char *kernel_names[OS_K_COUNT] = {
#define OS_KERNEL(name, fn, doc) #fn,
#include "ops/kernels.def"
#undef OS_KERNEL
};

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
    const os_backend *b = backends[dev];
    if (!b)
        b = os_builtin_backend(dev); /* not cached: no write, so no race between threads */
    if (!b)
        os_fatal("backend: no backend registered for device %d", (int)dev);
    return b;
}

const char *os_kernel_name(int k)
{
    return (k >= 0 && k < OS_K_COUNT) ? kernel_names[k] : "?";
}

const char *os_device_name(os_device dev)
{
    switch (dev) {
    case OS_CPU:
        return "cpu";
    case OS_CUDA:
        return "cuda";
    default:
        return "?";
    }
}

void os_dispatch(int k, const os_kargs *a)
{
    /* the device of the operands given (an optional operand may be NULL); all
     * must share it: an op allocates its outputs on its inputs' device */
    os_device dev = OS_NUM_DEVICES;
    for (int i = 0; i < 8; i++) {
        if (!a->t[i])
            continue;
        if (dev == OS_NUM_DEVICES)
            dev = a->t[i]->device;
        else if (a->t[i]->device != dev)
            os_fatal("dispatch: %s: operands on %s and %s (t%d %s)", os_kernel_name(k), os_device_name(dev),
                     os_device_name(a->t[i]->device), i, os_shape_str(a->t[i]));
    }
    if (dev == OS_NUM_DEVICES)
        os_fatal("dispatch: %s: no tensor operand", os_kernel_name(k));
    const os_backend *b = os_backend_get(dev);
    if (k < 0 || k >= OS_K_COUNT || !b->kernels[k] || (b->supports && !b->supports(k)))
        os_fatal("dispatch: backend '%s' has no kernel %s", b->name, os_kernel_name(k));
    /* what the kernel takes of the transient memory goes back when it returns */
    size_t mark = os_scratch_mark(dev);
    if (!os_profiling()) {
        b->kernels[k](a);
        os_scratch_release(dev, mark);
        return;
    }
    /* profiled: the call's wall time and the scratch it took (ops/profile.h) */
    size_t used0 = os_arena_used(os_step_arena(dev));
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    b->kernels[k](a);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    size_t taken = os_scratch_mark(dev) - mark + os_arena_used(os_step_arena(dev)) - used0;
    os_scratch_release(dev, mark);
    os_profile_kernel(k, a, (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec), taken);
}
