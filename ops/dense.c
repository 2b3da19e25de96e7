/* ops/dense.c — matmul, linear (PyTorch layout), flatten, reshape, select.
 *   matmul  a [M,K] x b [K,N] -> [M,N]      da += dy b^T, db += a^T dy
 *   linear  x [N,F], w [O,F], b [O] -> [N,O] = x w^T + b
 *           dx += dy w, dw += dy^T x, db += column sums of dy
 *   reshape / flatten / select return views that share x's storage; their
 *   nodes pass the gradient back into the matching part of dx. */
#include "ops/ops.h"
#include "ops/count.h"
#include "ops/op_util.h"
#include "autograd/autograd.h"
#include "tensor/arena.h"
#include "tensor/backend.h"

#include <stdio.h>
#include <string.h>

static const float one = 1.0f;

/* ---- matmul ----------------------------------------------------------------- */
static void matmul_backward(os_node *n)
{
    os_tensor *dy = n->out->grad, *a = n->saved[0], *b = n->saved[1];
    os_tensor *ga = os_grad_acc(n->in[0]), *gb = os_grad_acc(n->in[1]);
    if (ga) {
        os_gemm_params p = {.trans_a = 0, .trans_b = 1, .alpha = 1, .beta = 1};
        OS_RUN(GEMM, &p, ga, dy, b);
    }
    if (gb) {
        os_gemm_params p = {.trans_a = 1, .trans_b = 0, .alpha = 1, .beta = 1};
        OS_RUN(GEMM, &p, gb, a, dy);
    }
}

os_tensor *os_matmul(os_tensor *a, os_tensor *b)
{
    if (!a || !b || a->ndim != 2 || b->ndim != 2 || a->shape[1] != b->shape[0])
        os_fatal("matmul: need a [M,K] and b [K,N]: a %s b %s", os_shape_str(a), os_shape_str(b));
    os_tensor *in[2] = {a, b};
    os_count_op((int64_t)a->shape[0] * a->shape[1] * b->shape[1], 2, in);
    os_tensor *ac = os_op_contig(a), *bc = os_op_contig(b);
    os_tensor *y = os_tensor_new_on(a->device, 2, (int[]){a->shape[0], b->shape[1]});
    os_node *n = os_tape_record("matmul", matmul_backward, y, 2, in, NULL, 0);
    if (n) {
        n->saved[0] = ac;
        n->saved[1] = bc;
    }
    os_gemm_params p = {.trans_a = 0, .trans_b = 0, .alpha = 1, .beta = 0};
    OS_RUN(GEMM, &p, y, ac, bc);
    return y;
}

/* ---- linear ------------------------------------------------------------------ */
static void linear_backward(os_node *n)
{
    os_tensor *dy = n->out->grad, *x = n->saved[0], *w = n->saved[1];
    os_tensor *gx = os_grad_acc(n->in[0]), *gw = os_grad_acc(n->in[1]), *gb = os_grad_acc(n->in[2]);
    if (gx) {
        os_gemm_params p = {.trans_a = 0, .trans_b = 0, .alpha = 1, .beta = 1};
        OS_RUN(GEMM, &p, gx, dy, w);
    }
    if (gw) {
        os_gemm_params p = {.trans_a = 1, .trans_b = 0, .alpha = 1, .beta = 1};
        OS_RUN(GEMM, &p, gw, dy, x);
    }
    if (gb)
        OS_RUN(SUM_ROWS, NULL, gb, dy);
}

os_tensor *os_linear(os_tensor *x, os_tensor *w, os_tensor *bias)
{
    if (!x || !w || x->ndim != 2 || w->ndim != 2 || x->shape[1] != w->shape[1])
        os_fatal("linear: need x [N,F] and w [O,F]: x %s w %s", os_shape_str(x), os_shape_str(w));
    if (bias && (bias->ndim != 1 || bias->shape[0] != w->shape[0]))
        os_fatal("linear: bias %s must be [O] for w %s (x %s)", os_shape_str(bias), os_shape_str(w),
                 os_shape_str(x));
    os_tensor *in[3] = {x, w, bias};
    os_count_op((int64_t)x->shape[0] * x->shape[1] * w->shape[0], 3, in);
    os_tensor *xc = os_op_contig(x), *wc = os_op_contig(w);
    os_tensor *y = os_tensor_new_on(x->device, 2, (int[]){x->shape[0], w->shape[0]});
    os_node *n = os_tape_record("linear", linear_backward, y, 3, in, NULL, 0);
    if (n) {
        n->saved[0] = xc;
        n->saved[1] = wc;
    }
    os_gemm_params p = {.trans_a = 0, .trans_b = 1, .alpha = 1, .beta = 0};
    OS_RUN(GEMM, &p, y, xc, wc);
    if (bias)
        OS_RUN(BIAS_ROWS, NULL, y, os_op_contig(bias));
    return y;
}

/* ---- contiguous copy (for reshaping a view): dx += dy --------------------------- */
static void copy_backward(os_node *n)
{
    os_tensor *g = os_grad_acc(n->in[0]);
    if (g)
        OS_RUN(AXPY, &one, g, n->out->grad);
}

static os_tensor *contiguous(os_tensor *x)
{
    if (os_is_contiguous(x))
        return x;
    os_tensor *y = os_tensor_like(x);
    os_tape_record("contiguous", copy_backward, y, 1, &x, NULL, 0);
    OS_RUN(COPY, NULL, y, x);
    return y;
}

/* ---- reshape / flatten ------------------------------------------------------------ */
static void reshape_backward(os_node *n)
{
    os_tensor *x = n->in[0], *g = os_grad_acc(x);
    if (g)
        OS_RUN(AXPY, &one, g, os_view_reshape(n->out->grad, x->ndim, x->shape));
}

os_tensor *os_reshape(os_tensor *x, int ndim, const int *shape)
{
    if (!x || !shape || ndim < 1 || ndim > OS_MAX_DIMS)
        os_fatal("reshape: x %s, ndim %d must be 1..%d", os_shape_str(x), ndim, OS_MAX_DIMS);
    long m = 1;
    for (int d = 0; d < ndim; d++)
        m *= shape[d] < 0 ? -1 : shape[d];
    if (m != os_numel(x)) {
        char want[64];
        int o = snprintf(want, sizeof want, "[");
        for (int d = 0; d < ndim && o < 56; d++)
            o += snprintf(want + o, sizeof want - (size_t)o, d ? ",%d" : "%d", shape[d]);
        snprintf(want + o, sizeof want - (size_t)o, "]");
        os_fatal("reshape: cannot reshape x %s (%ld elements) to %s", os_shape_str(x), os_numel(x), want);
    }
    os_count_op(0, 1, &x);
    os_tensor *xc = contiguous(x);
    os_tensor *y = os_view_reshape(xc, ndim, shape);
    os_tape_record("reshape", reshape_backward, y, 1, &xc, NULL, 0);
    return y;
}

os_tensor *os_flatten(os_tensor *x)
{
    if (!x || x->ndim < 1)
        os_fatal("flatten: x %s must be [N,...]", os_shape_str(x));
    int f = 1;
    for (int d = 1; d < x->ndim; d++)
        f *= x->shape[d];
    return os_reshape(x, 2, (int[]){x->shape[0], f});
}

/* ---- select: x[i] along dim 0, a view ----------------------------------------------- */
/* t[i] as a view: the remaining dims, or [1] when t is 1-D */
static os_tensor *row_view(os_tensor *t, int i)
{
    os_tensor *v = os_step_alloc(sizeof *v);
    memset(v, 0, sizeof *v);
    v->device = t->device;
    v->data = t->data + (long)i * t->stride[0];
    v->ndim = t->ndim > 1 ? t->ndim - 1 : 1;
    for (int d = 0; d < OS_MAX_DIMS; d++) {
        int live = d < v->ndim && t->ndim > 1;
        v->shape[d] = live ? t->shape[d + 1] : 1;
        v->stride[d] = live ? t->stride[d + 1] : (d == 0 ? 1 : 0);
    }
    return v;
}

static void select_backward(os_node *n)
{
    os_tensor *g = os_grad_acc(n->in[0]);
    if (g)
        OS_RUN(AXPY, &one, row_view(g, *(const int *)n->params), n->out->grad);
}

os_tensor *os_select(os_tensor *x, int i)
{
    if (!x || x->ndim < 1)
        os_fatal("select: x %s has no dim 0", os_shape_str(x));
    if (i < 0 || i >= x->shape[0])
        os_fatal("select: index %d out of range for x %s", i, os_shape_str(x));
    os_count_op(0, 1, &x);
    os_tensor *y = row_view(x, i);
    os_tape_record("select", select_backward, y, 1, &x, &i, sizeof i);
    return y;
}
