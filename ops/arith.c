/* ops/arith.c — sums, products, scalar and weighted scaling, channel concat,
 * the zero op and dropout. Same-shape ops take inputs of any strides (views)
 * and return contiguous outputs. */
#include "ops/ops.h"
#include "ops/count.h"
#include "ops/op_util.h"
#include "autograd/autograd.h"
#include "tensor/arena.h"
#include "tensor/backend.h"

static const float one = 1.0f;

static void check_same(const char *op, const char *an, const os_tensor *a, const char *bn, const os_tensor *b)
{
    if (!a || !b)
        os_fatal("%s: NULL input (%s %s, %s %s)", op, an, os_shape_str(a), bn, os_shape_str(b));
    if (!os_same_shape(a, b))
        os_fatal("%s: shapes differ: %s %s, %s %s", op, an, os_shape_str(a), bn, os_shape_str(b));
}

/* Checks x_0..x_{n-1} are non-NULL and share x_0's shape. */
static void check_list(const char *op, int n, os_tensor *const *x)
{
    if (n < 1 || !x)
        os_fatal("%s: n = %d, need at least one input", op, n);
    for (int i = 0; i < n; i++) {
        if (!x[i])
            os_fatal("%s: x[%d] is NULL (n = %d)", op, i, n);
        if (!os_same_shape(x[i], x[0]))
            os_fatal("%s: x[%d] %s does not match x[0] %s", op, i, os_shape_str(x[i]), os_shape_str(x[0]));
    }
}

/* ---- add, sum_n: y = sum of inputs; dx_i += dy ------------------------------- */
static void sum_backward(os_node *n)
{
    for (int i = 0; i < n->n_in; i++) {
        os_tensor *g = os_grad_acc(n->in[i]);
        if (g)
            OS_RUN(AXPY, &one, g, n->out->grad);
    }
}

os_tensor *os_add(os_tensor *a, os_tensor *b)
{
    check_same("add", "a", a, "b", b);
    os_tensor *in[2] = {a, b};
    os_count_op(0, 2, in);
    os_tensor *y = os_tensor_like(a);
    os_tape_record("add", sum_backward, y, 2, in, NULL, 0);
    OS_RUN(ADD, NULL, y, os_op_contig(a), os_op_contig(b));
    return y;
}

os_tensor *os_sum_n(int n, os_tensor *const *x)
{
    check_list("sum_n", n, x);
    os_count_op(0, n, x);
    os_tensor *y = os_tensor_like(x[0]);
    os_tape_record("sum_n", sum_backward, y, n, x, NULL, 0);
    if (n == 1) {
        OS_RUN(COPY, NULL, y, x[0]);
        return y;
    }
    OS_RUN(ADD, NULL, y, os_op_contig(x[0]), os_op_contig(x[1]));
    for (int i = 2; i < n; i++)
        OS_RUN(AXPY, &one, y, x[i]);
    return y;
}

/* ---- mul: y = a * b; da += dy * b, db += dy * a ------------------------------- */
static void mul_backward(os_node *n)
{
    os_tensor *dy = n->out->grad, *ga = os_grad_acc(n->in[0]), *gb = os_grad_acc(n->in[1]);
    if (ga)
        OS_RUN(MUL_BWD, NULL, ga, NULL, dy, n->saved[1]);
    if (gb)
        OS_RUN(MUL_BWD, NULL, gb, NULL, dy, n->saved[0]);
}

os_tensor *os_mul(os_tensor *a, os_tensor *b)
{
    check_same("mul", "a", a, "b", b);
    os_tensor *in[2] = {a, b};
    os_count_op(0, 2, in);
    os_tensor *ac = os_op_contig(a), *bc = os_op_contig(b);
    os_tensor *y = os_tensor_like(a);
    os_node *n = os_tape_record("mul", mul_backward, y, 2, in, NULL, 0);
    if (n) {
        n->saved[0] = ac;
        n->saved[1] = bc;
    }
    OS_RUN(MUL, NULL, y, ac, bc);
    return y;
}

/* ---- scale_by: y = s * x, s one element (any view); dx += s dy, ds += sum(dy x) */
static void scale_by_backward(os_node *n)
{
    os_tensor *dy = n->out->grad, *xc = n->saved[0];
    os_tensor *gx = os_grad_acc(n->in[0]), *gs = os_grad_acc(n->in[1]);
    if (gx) {
        os_wsum_bwd_params p = {.n = 1, .x = {xc->data}, .dx = {gx->data}};
        OS_RUN(WSUM_BWD, &p, dy, n->in[1], NULL);
    }
    if (gs)
        OS_RUN(DOT_ACC, NULL, gs, dy, xc);
}

os_tensor *os_scale_by(os_tensor *x, os_tensor *s)
{
    if (!x || !s)
        os_fatal("scale_by: NULL input (x %s, s %s)", os_shape_str(x), os_shape_str(s));
    if (os_numel(s) != 1)
        os_fatal("scale_by: s %s must have 1 element (x %s)", os_shape_str(s), os_shape_str(x));
    os_tensor *in[2] = {x, s};
    os_count_op(0, 2, in);
    os_tensor *xc = os_op_contig(x);
    os_tensor *y = os_tensor_like(x);
    os_node *n = os_tape_record("scale_by", scale_by_backward, y, 2, in, NULL, 0);
    if (n)
        n->saved[0] = xc;
    OS_RUN(SCALE_BY, NULL, y, xc, s);
    return y;
}

/* ---- weighted_sum: y = sum_i w[i] x_i (the DARTS mixed op) --------------------
 * Inputs on the tape: x_0..x_{n-1}, w. Backward, one fused pass over dy per
 * launch: dx_i += w[i] dy, dw[i] += sum(dy x_i). The kernels get the x_i and
 * dx_i as data pointers by value, OS_WSUM_MAX a launch (ops/kernels.def). */
typedef struct {
    int n;
    os_tensor **xc; /* contiguous inputs (NULL = zero), step arena */
} wsum_node;

static void weighted_sum_backward(os_node *n)
{
    const wsum_node *p = n->params;
    os_tensor *w = n->in[p->n];
    os_tensor *dw = os_grad_acc(w);
    for (int c0 = 0; c0 < p->n; c0 += OS_WSUM_MAX) {
        os_wsum_bwd_params b = {.n = p->n - c0 < OS_WSUM_MAX ? p->n - c0 : OS_WSUM_MAX, .w0 = c0};
        int any = 0;
        for (int i = 0; i < b.n; i++) {
            os_tensor *g = os_grad_acc(n->in[c0 + i]);
            b.dx[i] = g ? g->data : NULL;
            b.x[i] = p->xc[c0 + i] ? p->xc[c0 + i]->data : NULL;
            any |= g != NULL;
        }
        if (any || dw)
            OS_RUN(WSUM_BWD, &b, n->out->grad, w, dw);
    }
}

os_tensor *os_weighted_sum(int n, os_tensor *const *x, os_tensor *w)
{
    /* NULL entries stand for zero tensors (the `none` candidate of a mixed
     * op): skipped in the sum, their weight's gradient is 0 */
    if (n < 1 || !x)
        os_fatal("weighted_sum: n = %d, need at least one input", n);
    int first = -1;
    for (int i = 0; i < n; i++)
        if (x[i] && first < 0)
            first = i;
    if (first < 0)
        os_fatal("weighted_sum: all %d inputs are NULL (zero)", n);
    for (int i = 0; i < n; i++)
        if (x[i] && !os_same_shape(x[i], x[first]))
            os_fatal("weighted_sum: x[%d] %s does not match x[%d] %s", i, os_shape_str(x[i]), first,
                     os_shape_str(x[first]));
    if (!w)
        os_fatal("weighted_sum: w is NULL (n = %d, x %s)", n, os_shape_str(x[first]));
    if (os_numel(w) != n)
        os_fatal("weighted_sum: w %s has %ld elements, expected n = %d (x %s)",
                 os_shape_str(w), os_numel(w), n, os_shape_str(x[first]));
    for (int i = 0; i < n; i++) /* the x_i reach the kernel as data pointers, unseen by dispatch */
        if (x[i] && x[i]->device != w->device)
            os_fatal("weighted_sum: x[%d] on %s, w on %s", i, os_device_name(x[i]->device),
                     os_device_name(w->device));
    os_tensor **xc = os_step_alloc(sizeof(os_tensor *) * (size_t)n);
    os_tensor **in = os_step_alloc(sizeof(os_tensor *) * (size_t)(n + 1));
    for (int i = 0; i < n; i++) {
        xc[i] = x[i] ? os_op_contig(x[i]) : NULL;
        in[i] = x[i];
    }
    in[n] = w;
    os_count_op(0, n + 1, in);
    wsum_node node = {.n = n, .xc = xc};
    os_tensor *y = os_tensor_like(x[first]);
    os_tape_record("weighted_sum", weighted_sum_backward, y, n + 1, in, &node, sizeof node);
    for (int c0 = 0; c0 < n; c0 += OS_WSUM_MAX) {
        os_wsum_params p = {.n = n - c0 < OS_WSUM_MAX ? n - c0 : OS_WSUM_MAX, .w0 = c0, .acc = c0 > 0};
        for (int i = 0; i < p.n; i++)
            p.x[i] = xc[c0 + i] ? xc[c0 + i]->data : NULL;
        OS_RUN(WSUM, &p, y, w);
    }
    return y;
}

/* ---- concat_channels: x_i [N,C_i,...] -> y [N,sum C_i,...] ---------------------- */
static void concat_backward(os_node *n)
{
    int c0 = 0;
    for (int i = 0; i < n->n_in; i++) {
        int c = n->in[i]->shape[1];
        os_tensor *g = os_grad_acc(n->in[i]);
        if (g)
            OS_RUN(AXPY, &one, g, os_view_channels(n->out->grad, c0, c));
        c0 += c;
    }
}

os_tensor *os_concat_channels(int n, os_tensor *const *x)
{
    if (n < 1 || !x)
        os_fatal("concat_channels: n = %d, need at least one input", n);
    int shape[OS_MAX_DIMS], c = 0;
    for (int i = 0; i < n; i++) {
        if (!x[i])
            os_fatal("concat_channels: x[%d] is NULL (n = %d)", i, n);
        if (x[i]->ndim < 2)
            os_fatal("concat_channels: x[%d] %s has no channel dim", i, os_shape_str(x[i]));
        int ok = x[i]->ndim == x[0]->ndim;
        for (int d = 0; ok && d < x[0]->ndim; d++)
            ok = d == 1 || x[i]->shape[d] == x[0]->shape[d];
        if (!ok)
            os_fatal("concat_channels: x[%d] %s does not match x[0] %s outside dim 1",
                     i, os_shape_str(x[i]), os_shape_str(x[0]));
        c += x[i]->shape[1];
    }
    os_count_op(0, n, x);
    for (int d = 0; d < x[0]->ndim; d++)
        shape[d] = d == 1 ? c : x[0]->shape[d];
    os_tensor *y = os_tensor_new_on(x[0]->device, x[0]->ndim, shape);
    os_tape_record("concat_channels", concat_backward, y, n, x, NULL, 0);
    c = 0;
    for (int i = 0; i < n; i++) {
        OS_RUN(COPY, NULL, os_view_channels(y, c, x[i]->shape[1]), x[i]);
        c += x[i]->shape[1];
    }
    return y;
}

/* ---- zero: zeros [N,C,ceil(H/s),ceil(W/s)], no tape node -------------------------- */
os_tensor *os_zero(os_tensor *x, int stride)
{
    if (!x || x->ndim != 4)
        os_fatal("zero: x %s must be [N,C,H,W]", os_shape_str(x));
    if (stride < 1)
        os_fatal("zero: stride %d < 1 (x %s)", stride, os_shape_str(x));
    os_tensor *y = os_tensor_new4_on(x->device, x->shape[0], x->shape[1], (x->shape[2] + stride - 1) / stride,
                                  (x->shape[3] + stride - 1) / stride);
    float z = 0.0f;
    OS_RUN(FILL, &z, y);
    return y;
}

/* ---- dropout: y = x * keep / (1-p), keep(i) = hash_uniform(seed, i) >= p ---------- */
static void dropout_backward(os_node *n)
{
    os_tensor *g = os_grad_acc(n->in[0]);
    if (g)
        OS_RUN(DROPOUT_BWD, n->params, g, n->out->grad);
}

os_tensor *os_dropout(os_tensor *x, float p, int training, uint64_t seed)
{
    if (!x)
        os_fatal("dropout: x is NULL");
    if (!(p >= 0.0f && p < 1.0f))
        os_fatal("dropout: p = %g outside [0, 1) (x %s)", (double)p, os_shape_str(x));
    if (!training || p == 0.0f)
        return x; /* identity: the same tensor, gradients flow through unchanged */
    os_count_op(0, 1, &x);
    os_dropout_params prm = {.p = p, .seed = seed};
    os_tensor *y = os_tensor_like(x);
    os_tape_record("dropout", dropout_backward, y, 1, &x, &prm, sizeof prm);
    OS_RUN(DROPOUT_FWD, &prm, y, os_op_contig(x));
    return y;
}

/* ---- drop_path: y = x * m, m one value per sample, the mask never kept ------------
 * m[n] = 1/(1-p) when os_hash_uniform(seed, n) >= p, else 0 (DROPPATH_MASK).
 * The forward draws the mask into transient memory (tensor/arena.h) and gives
 * it back; the backward draws it again: dx += dy * m. The same numbers as
 * os_mul(x, os_drop_path_mask(x, p, seed)), without a mask the size of x on
 * the tape. */
static void drop_path_backward(os_node *n)
{
    os_tensor *g = os_grad_acc(n->in[0]);
    if (!g)
        return;
    size_t mark = os_scratch_mark(g->device);
    os_tensor *m = os_scratch_tensor_like(g);
    OS_RUN(DROPPATH_MASK, n->params, m);
    OS_RUN(MUL_BWD, NULL, g, NULL, n->out->grad, m);
    os_scratch_release(g->device, mark);
}

os_tensor *os_drop_path(os_tensor *x, float p, uint64_t seed)
{
    if (!x || x->ndim < 1)
        os_fatal("drop_path: x %s needs a batch dim", os_shape_str(x));
    if (!(p >= 0.0f && p < 1.0f))
        os_fatal("drop_path: p = %g outside [0, 1) (x %s)", (double)p, os_shape_str(x));
    os_count_op(0, 1, &x);
    os_dropout_params prm = {.p = p, .seed = seed};
    os_tensor *xc = os_op_contig(x), *y = os_tensor_like(x);
    size_t mark = os_scratch_mark(x->device);
    os_tensor *m = os_scratch_tensor_like(x);
    OS_RUN(DROPPATH_MASK, &prm, m);
    OS_RUN(MUL, NULL, y, xc, m);
    os_scratch_release(x->device, mark);
    os_tape_record("drop_path", drop_path_backward, y, 1, &x, &prm, sizeof prm);
    return y;
}

/* ---- sum_drop_path: y = sum_i m_i * x_i, no term kept ------------------------------
 * A DARTS node of a child network: each term times its drop-path mask (p[i] >
 * 0; p[i] = 0: the term as it is), summed. The masked terms live in transient
 * memory only while the sum is made; the backward draws each mask again:
 * dx_i += dy * m_i (dx_i += dy for an unmasked term). The same numbers as
 * os_sum_n over os_drop_path(x_i, p[i], seed[i]), without those n outputs on
 * the tape. */
typedef struct {
    int n;
    float p[OS_SUM_DROP_MAX];
    uint64_t seed[OS_SUM_DROP_MAX];
} sum_drop_params;

static void sum_drop_path_backward(os_node *nd)
{
    const sum_drop_params *sp = nd->params;
    os_tensor *dy = nd->out->grad;
    size_t mark = os_scratch_mark(dy->device);
    for (int i = 0; i < sp->n; i++) {
        os_tensor *g = os_grad_acc(nd->in[i]);
        if (!g)
            continue;
        if (sp->p[i] > 0.0f) {
            os_dropout_params prm = {.p = sp->p[i], .seed = sp->seed[i]};
            os_tensor *m = os_scratch_tensor_like(g);
            OS_RUN(DROPPATH_MASK, &prm, m);
            OS_RUN(MUL_BWD, NULL, g, NULL, dy, m);
            os_scratch_release(dy->device, mark);
        } else {
            OS_RUN(AXPY, &one, g, dy);
        }
    }
}

os_tensor *os_sum_drop_path(int n, os_tensor *const *x, const float *p, const uint64_t *seed)
{
    check_list("sum_drop_path", n, x);
    if (n > OS_SUM_DROP_MAX)
        os_fatal("sum_drop_path: %d terms, at most %d (x[0] %s)", n, OS_SUM_DROP_MAX, os_shape_str(x[0]));
    sum_drop_params sp = {.n = n};
    for (int i = 0; i < n; i++) {
        if (!(p[i] >= 0.0f && p[i] < 1.0f))
            os_fatal("sum_drop_path: p[%d] = %g outside [0, 1) (x %s)", i, (double)p[i], os_shape_str(x[i]));
        sp.p[i] = p[i];
        sp.seed[i] = seed[i];
    }
    os_count_op(0, n, x);
    os_tensor *y = os_tensor_like(x[0]);
    size_t mark = os_scratch_mark(y->device);
    os_tensor *t[OS_SUM_DROP_MAX] = {0};
    for (int i = 0; i < n; i++) {
        t[i] = os_op_contig(x[i]);
        if (p[i] > 0.0f) {
            os_dropout_params prm = {.p = p[i], .seed = seed[i]};
            os_tensor *m = os_scratch_tensor_like(x[i]), *xm = os_scratch_tensor_like(x[i]);
            OS_RUN(DROPPATH_MASK, &prm, m);
            OS_RUN(MUL, NULL, xm, t[i], m);
            t[i] = xm;
        }
    }
    if (n == 1)
        OS_RUN(COPY, NULL, y, t[0]);
    else
        OS_RUN(ADD, NULL, y, t[0], t[1]);
    for (int i = 2; i < n; i++)
        OS_RUN(AXPY, &one, y, t[i]);
    os_scratch_release(y->device, mark);
    os_tape_record("sum_drop_path", sum_drop_path_backward, y, n, x, &sp, sizeof sp);
    return y;
}
