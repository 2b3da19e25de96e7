/* ops/pool.c — 2-D max / average pooling and global average pooling.
 *
 * x [N,C,H,W] (any strides) -> y [N,C,OH,OW] contiguous, square kernel k,
 * stride s, padding p on every side, PyTorch floor mode:
 *   OH = (H + 2p - k) / s + 1, OW likewise.
 * Max pool pads with -inf; its backward recomputes the argmax from x (the
 * first maximum in row-major window order wins, as in PyTorch) instead of
 * storing indices. Average pool leaves padding out of the mean
 * (count_include_pad=False). PyTorch's limits apply: p <= k/2 and the kernel
 * must fit the padded input.
 * Global average pool: [N,C,H,W] -> [N,C].
 */
#include "ops/ops.h"
#include "ops/count.h"
#include "autograd/autograd.h"
#include "tensor/backend.h"

static void pool_backward_max(os_node *n)
{
    os_tensor *x = n->in[0], *dx = os_grad_acc(x);
    if (dx)
        OS_RUN(MAXPOOL_BWD, n->params, dx, n->out->grad, x);
}

static void pool_backward_avg(os_node *n)
{
    os_tensor *dx = os_grad_acc(n->in[0]);
    if (dx)
        OS_RUN(AVGPOOL_BWD, n->params, dx, n->out->grad);
}

static os_tensor *pool2d(const char *op, os_tensor *x, int k, int stride, int pad, int is_max)
{
    if (!x || x->ndim != 4)
        os_fatal("%s: x %s must be [N,C,H,W]", op, os_shape_str(x));
    if (k < 1 || stride < 1 || pad < 0)
        os_fatal("%s: invalid kernel %d stride %d padding %d for x %s", op, k, stride, pad, os_shape_str(x));
    if (pad > k / 2)
        os_fatal("%s: padding %d exceeds half the kernel %d (x %s)", op, pad, k, os_shape_str(x));
    int H = x->shape[2], W = x->shape[3];
    if (H < 1 || W < 1)
        os_fatal("%s: x %s has an empty plane", op, os_shape_str(x));
    if (k > H + 2 * pad || k > W + 2 * pad)
        os_fatal("%s: kernel %d larger than the padded input (padding %d) of x %s", op, k, pad, os_shape_str(x));
    os_count_op(0, 1, &x);
    os_tensor *y = os_tensor_new4_on(x->device, x->shape[0], x->shape[1], (H + 2 * pad - k) / stride + 1,
                                  (W + 2 * pad - k) / stride + 1);
    os_pool_params p = {.kh = k, .kw = k, .stride = stride, .pad = pad, .count_include_pad = 0};
    if (is_max)
        OS_RUN(MAXPOOL_FWD, &p, y, x);
    else
        OS_RUN(AVGPOOL_FWD, &p, y, x);
    os_tape_record(op, is_max ? pool_backward_max : pool_backward_avg, y, 1, &x, &p, sizeof p);
    return y;
}

os_tensor *os_max_pool2d(os_tensor *x, int k, int stride, int pad)
{
    return pool2d("max_pool2d", x, k, stride, pad, 1);
}

os_tensor *os_avg_pool2d(os_tensor *x, int k, int stride, int pad)
{
    return pool2d("avg_pool2d", x, k, stride, pad, 0);
}

static void gap_backward(os_node *n)
{
    os_tensor *dx = os_grad_acc(n->in[0]);
    if (dx)
        OS_RUN(GAP_BWD, NULL, dx, n->out->grad);
}

os_tensor *os_global_avg_pool(os_tensor *x)
{
    if (!x || x->ndim != 4)
        os_fatal("global_avg_pool: x %s must be [N,C,H,W]", os_shape_str(x));
    if (x->shape[2] * x->shape[3] == 0)
        os_fatal("global_avg_pool: x %s has an empty plane", os_shape_str(x));
    os_count_op(0, 1, &x);
    int s[2] = {x->shape[0], x->shape[1]};
    os_tensor *y = os_tensor_new_on(x->device, 2, s);
    OS_RUN(GAP_FWD, NULL, y, x);
    os_tape_record("global_avg_pool", gap_backward, y, 1, &x, NULL, 0);
    return y;
}
