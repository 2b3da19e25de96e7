/* ops/device.c — small step buffers and masks made on a device, for the
 * kernels that take them (ops/kernels.def): labels and indices as device
 * int32, the drop-path mask drawn on the device. No tape nodes. */
#include "ops/ops.h"
#include "tensor/arena.h"
#include "tensor/backend.h"

const int32_t *os_int32_to_device(os_device dev, int n, const int32_t *host)
{
    int32_t *d = os_step_alloc_data(dev, sizeof(int32_t) * (size_t)(n > 0 ? n : 1));
    if (n > 0)
        os_backend_get(dev)->copy_from_host(d, host, sizeof(int32_t) * (size_t)n);
    return d;
}

os_tensor *os_drop_path_mask(const os_tensor *x, float p, uint64_t seed)
{
    if (!x || x->ndim < 1)
        os_fatal("drop_path_mask: x %s needs a batch dim", os_shape_str(x));
    if (!(p >= 0.0f && p < 1.0f))
        os_fatal("drop_path_mask: p = %g outside [0, 1) (x %s)", (double)p, os_shape_str(x));
    os_tensor *m = os_tensor_like(x);
    os_dropout_params prm = {.p = p, .seed = seed};
    OS_RUN(DROPPATH_MASK, &prm, m);
    return m;
}
