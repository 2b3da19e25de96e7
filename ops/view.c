/* ops/view.c — differentiable views: no copy forward, the gradient flows
 * back into the matching region of the input's gradient. */
#include "ops/ops.h"
#include "ops/count.h"
#include "autograd/autograd.h"
#include "tensor/backend.h"

static const float one = 1.0f;

/* ---- offset_hw: x [N,C,H,W] -> x[:, :, dh:, dw:] ----------------------------------- */
typedef struct { int dh, dw; } offset_params;

static void offset_hw_backward(os_node *n)
{
    const offset_params *p = n->params;
    os_tensor *g = os_grad_acc(n->in[0]);
    if (g)
        OS_RUN(AXPY, &one, os_view_offset_hw(g, p->dh, p->dw), n->out->grad);
}

os_tensor *os_offset_hw(os_tensor *x, int dh, int dw)
{
    if (!x || x->ndim != 4)
        os_fatal("offset_hw: x %s must be [N,C,H,W]", os_shape_str(x));
    if (dh < 0 || dw < 0 || dh >= x->shape[2] || dw >= x->shape[3])
        os_fatal("offset_hw: offset (%d,%d) out of range for x %s", dh, dw, os_shape_str(x));
    os_count_op(0, 1, &x);
    os_tensor *y = os_view_offset_hw(x, dh, dw);
    offset_params p = {dh, dw};
    os_tape_record("offset_hw", offset_hw_backward, y, 1, &x, &p, sizeof p);
    return y;
}
