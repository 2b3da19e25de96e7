/* tensor/backend.c — the backend table and os_dispatch. The table is
 * process-wide: a backend registered with os_backend_register wins; a device
 * with none registered gets the ops layer's built-in backend
 * (os_builtin_backend, ops/backends.c). This file names no backend. */
#include "tensor/backend.h"

static const os_backend *backends[OS_NUM_DEVICES]; /* registered ones */

static const char *kernel_names[OS_K_COUNT] = {
#define OS_KERNEL(name, fn, doc) #name,
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
