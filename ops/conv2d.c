/* ops/conv2d.c — 2-D convolution (cross-correlation, PyTorch semantics) and its
 * gradient rule.
 *
 *   x [N,Ci,H,W] (any strides: channel slices and spatial offset views work),
 *   w [Co,Ci/groups,KH,KW], bias [Co] or NULL  ->  y [N,Co,OH,OW]
 *   OH = (H + 2*pad_h - dil_h*(KH-1) - 1) / stride_h + 1   (same for OW)
 *
 * Backward: dx (CONV2D_BWD_DATA) and dw/dbias (CONV2D_BWD_WEIGHT), each only
 * when that input requires grad. The kernels read w and bias contiguous; a
 * non-contiguous weight or bias is copied once in the forward and the copy is
 * kept for the backward.
 */
#include "ops/ops.h"
#include "ops/count.h"
#include "autograd/autograd.h"
#include "tensor/arena.h"
#include "tensor/backend.h"

static void conv2d_backward(os_node *n)
{
    const os_conv2d_params *p = n->params;
    os_tensor *dy = n->out->grad;
    os_tensor *x = n->in[0], *w = n->in[1], *b = n->n_in > 2 ? n->in[2] : NULL;
    os_tensor *wc = n->saved[0];

    os_tensor *dx = os_grad_acc(x);
    if (dx)
        OS_RUN(CONV2D_BWD_DATA, p, dx, dy, wc);

    os_tensor *dw = os_grad_acc(w);
    os_tensor *db = os_grad_acc(b);
    if (!dw && db) { /* bias alone needs grad: the kernel still wants a dw target */
        dw = os_tensor_like(w);
        os_tensor_fill(dw, 0.0f);
    }
    if (dw)
        OS_RUN(CONV2D_BWD_WEIGHT, p, dw, dy, x, db);
}

/* A contiguous version of t (t itself when it already is). */
static os_tensor *contiguous(os_tensor *t)
{
    if (!t || os_is_contiguous(t))
        return t;
    os_tensor *c = os_tensor_like(t);
    os_tensor_copy(c, t);
    return c;
}

/* Output extent along one axis; <= 0 when the kernel does not fit. */
static int out_size(int in, int k, int stride, int pad, int dil)
{
    long span = (long)in + 2L * pad - (long)dil * (k - 1) - 1;
    return span < 0 ? 0 : (int)(span / stride + 1);
}

/* Checks the operands and returns the output's height and width. */
static void conv_check(const os_tensor *x, const os_tensor *w, const os_tensor *bias, const os_conv2d_params *p,
                       int *ohp, int *owp)
{
    if (!x || !w || !p)
        os_fatal("conv2d: x %s, w %s and params must be given", os_shape_str(x), os_shape_str(w));
    if (x->ndim != 4 || w->ndim != 4)
        os_fatal("conv2d: x %s and w %s must both be 4-D ([N,Ci,H,W] and [Co,Ci/groups,KH,KW])",
                 os_shape_str(x), os_shape_str(w));
    if (p->stride_h < 1 || p->stride_w < 1 || p->dil_h < 1 || p->dil_w < 1 || p->pad_h < 0 ||
        p->pad_w < 0 || p->groups < 1)
        os_fatal("conv2d: invalid stride (%d,%d), padding (%d,%d), dilation (%d,%d) or groups %d "
                 "for x %s w %s", p->stride_h, p->stride_w, p->pad_h, p->pad_w, p->dil_h, p->dil_w,
                 p->groups, os_shape_str(x), os_shape_str(w));
    int ci = x->shape[1], co = w->shape[0], g = p->groups;
    if (co < 1 || w->shape[1] < 1 || w->shape[2] < 1 || w->shape[3] < 1)
        os_fatal("conv2d: empty weight w %s (x %s)", os_shape_str(w), os_shape_str(x));
    if (ci % g != 0 || co % g != 0)
        os_fatal("conv2d: channels not divisible by groups %d: x %s w %s", g, os_shape_str(x),
                 os_shape_str(w));
    if (w->shape[1] != ci / g)
        os_fatal("conv2d: weight expects %d input channels per group but x %s has %d/%d: w %s",
                 w->shape[1], os_shape_str(x), ci, g, os_shape_str(w));
    if (bias && (bias->ndim != 1 || bias->shape[0] != co))
        os_fatal("conv2d: bias %s must be [%d] for w %s (x %s)", os_shape_str(bias), co,
                 os_shape_str(w), os_shape_str(x));
    if (w->device != x->device || (bias && bias->device != x->device))
        os_fatal("conv2d: x %s, w %s and bias are on different devices", os_shape_str(x), os_shape_str(w));
    int oh = out_size(x->shape[2], w->shape[2], p->stride_h, p->pad_h, p->dil_h);
    int ow = out_size(x->shape[3], w->shape[3], p->stride_w, p->pad_w, p->dil_w);
    if (oh <= 0 || ow <= 0)
        os_fatal("conv2d: output size %dx%d <= 0 for x %s w %s (stride %d,%d pad %d,%d dilation %d,%d)",
                 oh, ow, os_shape_str(x), os_shape_str(w), p->stride_h, p->stride_w, p->pad_h,
                 p->pad_w, p->dil_h, p->dil_w);
    *ohp = oh;
    *owp = ow;
}

static os_tensor *relu_transient(os_tensor *x);
static void relu_conv2d_backward(os_node *n);

/* conv2d of x, or of relu(x) (transient, not kept) when relu: the one
 * forward of os_conv2d_ex and os_relu_conv2d_ex */
static os_tensor *conv_forward(os_tensor *x, os_tensor *w, os_tensor *bias, const os_conv2d_params *p, int relu)
{
    int oh, ow;
    conv_check(x, w, bias, p, &oh, &ow);
    int co = w->shape[0];
    os_tensor *in[3] = {x, w, bias};
    os_count_op((int64_t)x->shape[0] * co * oh * ow * w->shape[1] * w->shape[2] * w->shape[3], bias ? 3 : 2, in);

    os_tensor *wc = contiguous(w), *bc = contiguous(bias);
    os_tensor *y = os_tensor_new4_on(x->device, x->shape[0], co, oh, ow);
    size_t mark = os_scratch_mark(x->device);
    OS_RUN(CONV2D_FWD, p, y, relu ? relu_transient(x) : x, wc, bc);
    os_scratch_release(x->device, mark);

    os_node *n = os_tape_record(relu ? "relu_conv2d" : "conv2d", relu ? relu_conv2d_backward : conv2d_backward, y,
                                bias ? 3 : 2, in, p, sizeof *p);
    if (n)
        n->saved[0] = wc;
    return y;
}

os_tensor *os_conv2d_ex(os_tensor *x, os_tensor *w, os_tensor *bias, const os_conv2d_params *p)
{
    return conv_forward(x, w, bias, p, 0);
}

/* the same stride, padding and dilation along both axes */
static os_conv2d_params square(int stride, int pad, int dilation, int groups)
{
    return (os_conv2d_params){.stride_h = stride, .stride_w = stride, .pad_h = pad, .pad_w = pad,
                              .dil_h = dilation, .dil_w = dilation, .groups = groups};
}

os_tensor *os_conv2d(os_tensor *x, os_tensor *w, os_tensor *bias,
                     int stride, int pad, int dilation, int groups)
{
    os_conv2d_params p = square(stride, pad, dilation, groups);
    return os_conv2d_ex(x, w, bias, &p);
}

/* ---- relu_conv2d: y = conv2d(relu(x), w, bias), relu(x) never kept -----------------
 * The forward computes r = relu(x) in transient memory (tensor/arena.h),
 * convolves it and gives r back: the tape keeps x (which its producer keeps
 * anyway), not r. The backward recomputes r, takes the weight gradient from
 * it, and masks the data gradient: dx += [r > 0] * conv_bwd_data(dy). The
 * same arithmetic as os_conv2d(os_relu(x), ...) in the same order. */

/* r = relu(x) as a contiguous transient tensor (x any strides) */
static os_tensor *relu_transient(os_tensor *x)
{
    static const os_unary_params relu = {.kind = OS_RELU};
    os_tensor *xc = x;
    if (!os_is_contiguous(x)) {
        xc = os_scratch_tensor_like(x);
        OS_RUN(COPY, NULL, xc, x);
    }
    os_tensor *r = os_scratch_tensor_like(x);
    OS_RUN(UNARY_FWD, &relu, r, xc);
    return r;
}

static void relu_conv2d_backward(os_node *n)
{
    static const os_unary_params relu = {.kind = OS_RELU};
    const os_conv2d_params *p = n->params;
    os_tensor *dy = n->out->grad;
    os_tensor *x = n->in[0], *w = n->in[1], *b = n->n_in > 2 ? n->in[2] : NULL;
    os_tensor *wc = n->saved[0];
    os_tensor *dx = os_grad_acc(x), *dw = os_grad_acc(w), *db = os_grad_acc(b);
    if (!dx && !dw && !db)
        return;
    size_t mark = os_scratch_mark(x->device);
    os_tensor *r = relu_transient(x);
    if (dx) {
        os_tensor *g = os_scratch_tensor_like(x);
        os_tensor_fill(g, 0.0f);
        OS_RUN(CONV2D_BWD_DATA, p, g, dy, wc);
        OS_RUN(UNARY_BWD, &relu, dx, g, r, r);
    }
    if (!dw && db) { /* bias alone needs grad: the kernel still wants a dw target */
        dw = os_scratch_tensor_like(w);
        os_tensor_fill(dw, 0.0f);
    }
    if (dw)
        OS_RUN(CONV2D_BWD_WEIGHT, p, dw, dy, r, db);
    os_scratch_release(x->device, mark);
}

os_tensor *os_relu_conv2d_ex(os_tensor *x, os_tensor *w, os_tensor *bias, const os_conv2d_params *p)
{
    return conv_forward(x, w, bias, p, 1);
}

os_tensor *os_relu_conv2d(os_tensor *x, os_tensor *w, os_tensor *bias, int stride, int pad, int dilation, int groups)
{
    os_conv2d_params p = square(stride, pad, dilation, groups);
    return os_relu_conv2d_ex(x, w, bias, &p);
}
