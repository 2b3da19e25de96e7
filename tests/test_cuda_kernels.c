/* tests/test_cuda_kernels.c — every kernel of ops/kernels.def, forward and
 * backward, on every available device backend against the CPU backend.
 *
 * A case (below) makes its tensors through tc_new (deterministic random data,
 * the same on every backend), optionally takes views of them (channel slices,
 * spatial offsets: the "any strides" operands), and dispatches one or more
 * kernels. It runs once with the tensors on OS_CPU (the reference, one
 * thread) and once per backend under test with them on OS_CUDA; afterwards
 * every tensor it made is read back and compared with the CPU run, inputs
 * included (a kernel writing where it must not is caught too):
 *     |got - want| <= tol * (max|want| over the tensor) + tol * |want|
 * with the case's tolerance: 0 (bit for bit: data movement, the dropout mask,
 * the optimizers' elementwise updates), 1e-6 (elementwise arithmetic with
 * libm calls), 1e-5 (reductions summed in another order, GEMMs).
 * Backends under test: the CUDA emulation (os_cuda_emu_backend: the CUDA
 * drivers and bodies on the CPU), and the real CUDA backend when the library
 * was built with nvcc and this process sees a GPU (os_builtin_backend(OS_CUDA)
 * is then non-NULL). The shapes are those of the gradient checks in
 * tests/test_conv.c, test_norm_pool.c, test_dense.c, test_softmax.c,
 * test_eltwise.c and test_enas.c.
 *
 * cuda_kernels.every_kernel_has_a_case runs all cases through a recording
 * table and fails if a kernel id of ops/kernels.def was never dispatched: a
 * kernel added there needs a case here.
 */
#include "tests/test_util.h"
#include "tensor/backend.h"
#include "ops/cuda/cuda_backend.h"
#include "ops/debug_backend.h"
#include "autograd/optim_kernels.h"

#include <math.h>
#include <stdlib.h>

#define TC_MAX 128

typedef struct {
    os_device dev;
    os_rng rng;
    int n;
    os_tensor *t[TC_MAX];
} tc;

/* compare (or record) and free what the case made so far; see the harness */
static void tc_checkpoint(tc *c);

/* a persistent tensor on the run's device, uniform in [lo, hi) */
static os_tensor *tc_new(tc *c, int ndim, const int *shape, float lo, float hi)
{
    cr_assert(c->n < TC_MAX);
    os_tensor *t = os_tensor_new_persistent(c->dev, ndim, shape);
    long n = os_numel(t);
    float *h = malloc(sizeof(float) * (size_t)(n ? n : 1));
    for (long i = 0; i < n; i++)
        h[i] = lo + (hi - lo) * os_rng_uniform(&c->rng);
    os_tensor_from_host(t, h);
    free(h);
    c->t[c->n++] = t;
    return t;
}
static os_tensor *tc4(tc *c, int n, int ch, int h, int w, float lo, float hi)
{
    return tc_new(c, 4, (int[]){n, ch, h, w}, lo, hi);
}
static os_tensor *tc2(tc *c, int m, int n, float lo, float hi) { return tc_new(c, 2, (int[]){m, n}, lo, hi); }
static os_tensor *tc1(tc *c, int n, float lo, float hi) { return tc_new(c, 1, (int[]){n}, lo, hi); }

/* a [n,ch,h,w] operand: plain (view 0), a channel slice [:, 1:1+ch] of a
 * wider tensor (1) or the offset view [:, :, 1:, 1:] of a larger one (2) */
static os_tensor *tcv(tc *c, int view, int n, int ch, int h, int w, float lo, float hi)
{
    if (view == 1)
        return os_view_channels(tc4(c, n, ch + 2, h, w, lo, hi), 1, ch);
    if (view == 2)
        return os_view_offset_hw(tc4(c, n, ch, h + 1, w + 1, lo, hi), 1, 1);
    return tc4(c, n, ch, h, w, lo, hi);
}

typedef struct {
    const char *name;
    void (*run)(tc *c);
    float tol;
} kcase;

/* ---- memory ---------------------------------------------------------------------- */
static void c_fill(tc *c)
{
    float v = 1.5f, z = 0.0f;
    OS_RUN(FILL, &v, tcv(c, 1, 2, 3, 4, 5, -1, 1));
    OS_RUN(FILL, &z, tc4(c, 2, 3, 4, 5, -1, 1));
}
static void c_copy(tc *c)
{
    OS_RUN(COPY, NULL, tcv(c, 2, 2, 3, 4, 5, -1, 1), tcv(c, 1, 2, 3, 4, 5, -1, 1));
    OS_RUN(COPY, NULL, tc4(c, 2, 3, 4, 5, -1, 1), tc4(c, 2, 3, 4, 5, -1, 1));
}
static void c_axpy(tc *c)
{
    float al = -0.75f;
    OS_RUN(AXPY, &al, tcv(c, 1, 2, 3, 4, 5, -1, 1), tcv(c, 2, 2, 3, 4, 5, -1, 1));
}
static void c_scale(tc *c)
{
    float al = 1.25f;
    OS_RUN(SCALE, &al, tc4(c, 2, 3, 4, 5, -1, 1));
}
static void c_sumsq(tc *c)
{
    OS_RUN(SUMSQ, NULL, tc1(c, 1, 0, 1), tc1(c, 3 * 4096 + 17, -1, 1)); /* several partial sums */
    OS_RUN(SUMSQ, NULL, tc1(c, 1, 0, 1), tc4(c, 2, 3, 4, 5, -1, 1));
}

/* ---- elementwise ------------------------------------------------------------------ */
static void c_unary(tc *c)
{
    for (int k = 0; k < 4; k++) {
        os_unary_params p = {(os_unary_kind)k};
        os_tensor *x = tc4(c, 2, 3, 4, 5, -8, 8), *y = tc4(c, 2, 3, 4, 5, -1, 1);
        OS_RUN(UNARY_FWD, &p, y, x);
        OS_RUN(UNARY_BWD, &p, tc4(c, 2, 3, 4, 5, -1, 1), tc4(c, 2, 3, 4, 5, -1, 1), x, y);
    }
}
static void c_binary(tc *c)
{
    os_tensor *a = tc4(c, 2, 3, 4, 5, -1, 1), *b = tc4(c, 2, 3, 4, 5, -1, 1);
    OS_RUN(ADD, NULL, tc4(c, 2, 3, 4, 5, -1, 1), a, b);
    OS_RUN(MUL, NULL, tc4(c, 2, 3, 4, 5, -1, 1), a, b);
    OS_RUN(MUL_BWD, NULL, tc4(c, 2, 3, 4, 5, -1, 1), NULL, a, b);
}
static void c_scale_by(tc *c)
{
    os_tensor *s = tc2(c, 2, 3, -2, 2);
    OS_RUN(SCALE_BY, NULL, tc4(c, 2, 3, 4, 5, -1, 1), tc4(c, 2, 3, 4, 5, -1, 1),
           os_view_channels(s, 1, 1)); /* an element of a wider tensor */
}
static void c_dot_acc(tc *c)
{
    os_tensor *acc = tc1(c, 3, -1, 1);
    os_tensor *el = os_view_channels(tc2(c, 1, 3, -1, 1), 2, 1);
    OS_RUN(DOT_ACC, NULL, acc, tc1(c, 2 * 4096 + 5, -1, 1), tc1(c, 2 * 4096 + 5, -1, 1));
    OS_RUN(DOT_ACC, NULL, el, tc4(c, 2, 3, 4, 5, -1, 1), tc4(c, 2, 3, 4, 5, -1, 1));
}
static void c_wsum(tc *c)
{
    /* w: every second element of an [6,2] tensor (a strided view); weights
     * w0 = 2 .. 5 of it */
    os_tensor *w = os_view_channels(tc2(c, 6, 2, -1, 1), 1, 1);
    os_wsum_params p = {4, 2, 0, {tc4(c, 2, 3, 4, 5, -1, 1)->data, NULL, tc4(c, 2, 3, 4, 5, -1, 1)->data,
                                  tc4(c, 2, 3, 4, 5, -1, 1)->data}};
    OS_RUN(WSUM, &p, tc4(c, 2, 3, 4, 5, -1, 1), w);
    p.acc = 1;
    OS_RUN(WSUM, &p, tc4(c, 2, 3, 4, 5, -1, 1), w);
    os_wsum_params none = {2, 0, 0, {NULL, NULL}}; /* every input zero */
    OS_RUN(WSUM, &none, tc4(c, 2, 3, 4, 5, -1, 1), w);
    none.acc = 1;
    OS_RUN(WSUM, &none, tc4(c, 2, 3, 4, 5, -1, 1), w);
    os_wsum_bwd_params pb = {4, 1, {p.x[0], p.x[1], p.x[2], p.x[3]},
                             {tc4(c, 2, 3, 4, 5, -1, 1)->data, tc4(c, 2, 3, 4, 5, -1, 1)->data, NULL,
                              tc4(c, 2, 3, 4, 5, -1, 1)->data}};
    os_tensor *dw = os_view_channels(tc2(c, 6, 2, -1, 1), 0, 1);
    OS_RUN(WSUM_BWD, &pb, tc4(c, 2, 3, 4, 5, -1, 1), w, dw);
    OS_RUN(WSUM_BWD, &pb, tc4(c, 2, 3, 4, 5, -1, 1), w, NULL);
}

/* the norm-driven updates of a step without host reads */
static void c_norms(tc *c)
{
    os_tensor *s = os_view_channels(tc2(c, 1, 3, 0, 1), 1, 1);
    OS_RUN(SUMSQ_ACC, NULL, s, tc1(c, 2 * 4096 + 3, -1, 1));
    OS_RUN(SUMSQ_ACC, NULL, s, tc2(c, 7, 3, -1, 1));
    float clip = 5.0f, big = 1e6f;
    os_tensor *n2 = tc1(c, 1, 50, 60); /* norm about 7.4: scaled */
    OS_RUN(CLIP_SCALE, &clip, tc4(c, 2, 3, 4, 5, -1, 1), n2);
    OS_RUN(CLIP_SCALE, &big, tc4(c, 2, 3, 4, 5, -1, 1), n2); /* not scaled */
    os_axpy_pow_params ap = {0.01f, -0.5f};
    OS_RUN(AXPY_POW, &ap, tc4(c, 2, 3, 4, 5, -1, 1), tc4(c, 2, 3, 4, 5, -1, 1), s);
    os_tensor *zero = tc1(c, 1, 0, 0); /* clamped at 1e-24 */
    os_axpy_pow_params ap1 = {1e-13f, 0.5f};
    OS_RUN(AXPY_POW, &ap1, tc1(c, 50, -1, 1), tc1(c, 50, -1, 1), zero);
}

/* argmax, one-hot, the accuracy count (ties: the first index) */
static void c_select(tc *c)
{
    os_tensor *x = tc2(c, 6, 5, -1, 1);
    float h[30];
    for (int i = 0; i < 30; i++)
        h[i] = (float)((i * 7) % 4); /* ties in every row */
    os_tensor_from_host(x, h);
    os_tensor *idx = os_view_channels(tc2(c, 6, 2, 0, 1), 1, 1);
    OS_RUN(ARGMAX, NULL, idx, x);
    OS_RUN(ARGMAX, NULL, tc1(c, 6, 0, 1), tc2(c, 6, 5, -1, 1));
    OS_RUN(ONEHOT, NULL, tc2(c, 6, 5, -1, 1), idx);
    static const int32_t lab[6] = {0, 1, 2, 3, 4, 0};
    os_tensor *lg = tc2(c, 6, 5, -1, 1);
    os_xent_params p = {os_int32_to_device(c->dev, 6, lab), 6, 5, 0.0f};
    os_tensor *cnt = os_view_channels(tc2(c, 1, 2, 0, 0), 1, 1);
    OS_RUN(ACC_COUNT, &p, cnt, lg);
    OS_RUN(ACC_COUNT, &p, cnt, x);
}

/* ---- convolution: the cases of tests/test_conv.c ------------------------------------ */
typedef struct {
    int n, ci, h, w, co, kh, kw, s, pad, dil, g, bias, view;
} cconv;
static const cconv conv_cases[] = {
    {2, 3, 6, 6, 4, 3, 3, 1, 1, 1, 1, 1, 0}, {2, 3, 7, 7, 4, 3, 3, 2, 1, 1, 1, 1, 0},
    {2, 3, 7, 7, 4, 3, 3, 1, 2, 2, 1, 0, 0}, {2, 4, 6, 6, 4, 3, 3, 1, 1, 1, 4, 1, 0},
    {2, 4, 7, 7, 4, 3, 3, 2, 1, 1, 4, 0, 0}, {2, 4, 9, 9, 4, 5, 5, 1, 4, 2, 4, 0, 0},
    {1, 3, 6, 5, 3, 3, 3, 2, 3, 2, 3, 0, 0}, {2, 3, 5, 5, 3, 4, 2, 1, 1, 1, 3, 0, 0},
    {2, 2, 5, 5, 4, 3, 3, 1, 1, 1, 2, 1, 0}, {2, 4, 5, 5, 6, 3, 3, 1, 1, 1, 2, 1, 0},
    {2, 4, 5, 5, 3, 1, 1, 1, 0, 1, 1, 1, 0}, {2, 4, 6, 6, 3, 1, 1, 2, 0, 1, 1, 0, 0},
    {2, 4, 5, 5, 6, 1, 1, 1, 0, 1, 2, 0, 0}, {3, 3, 7, 5, 2, 3, 3, 2, 0, 1, 1, 0, 0},
    {2, 3, 6, 6, 4, 3, 3, 1, 1, 1, 1, 1, 1}, {2, 3, 5, 5, 4, 1, 1, 1, 0, 1, 1, 0, 1},
    {2, 3, 6, 6, 3, 3, 3, 1, 1, 1, 3, 0, 1}, {2, 4, 6, 6, 3, 1, 1, 2, 0, 1, 1, 0, 2},
    {2, 3, 6, 6, 2, 3, 3, 1, 1, 1, 1, 0, 2}, {2, 4, 7, 7, 4, 3, 3, 2, 1, 1, 4, 1, 2},
    {2, 3, 9, 9, 3, 7, 7, 1, 3, 1, 3, 1, 0}, {1, 2, 28, 28, 2, 5, 5, 1, 4, 2, 2, 1, 0},
};
static int conv_out(int in, int k, int s, int p, int d) { return (in + 2 * p - d * (k - 1) - 1) / s + 1; }

static void c_conv(tc *c)
{
    for (size_t i = 0; i < sizeof conv_cases / sizeof conv_cases[0]; i++) {
        const cconv *k = &conv_cases[i];
        os_conv2d_params p = {k->s, k->s, k->pad, k->pad, k->dil, k->dil, k->g};
        int oh = conv_out(k->h, k->kh, k->s, k->pad, k->dil), ow = conv_out(k->w, k->kw, k->s, k->pad, k->dil);
        os_tensor *x = tcv(c, k->view, k->n, k->ci, k->h, k->w, -1, 1);
        os_tensor *w = tc4(c, k->co, k->ci / k->g, k->kh, k->kw, -1, 1);
        os_tensor *b = k->bias ? tc1(c, k->co, -1, 1) : NULL;
        os_tensor *dy = tc4(c, k->n, k->co, oh, ow, -1, 1);
        OS_RUN(CONV2D_FWD, &p, tc4(c, k->n, k->co, oh, ow, -1, 1), x, w, b);
        OS_RUN(CONV2D_BWD_DATA, &p, tcv(c, k->view, k->n, k->ci, k->h, k->w, -1, 1), dy, w);
        OS_RUN(CONV2D_BWD_WEIGHT, &p, tc4(c, k->co, k->ci / k->g, k->kh, k->kw, -1, 1), dy, x,
               k->bias ? tc1(c, k->co, -1, 1) : NULL);
        /* compare this geometry's tensors now, then start the next */
        tc_checkpoint(c);
    }
}

/* ---- pooling: tests/test_norm_pool.c's windows ------------------------------------------ */
static void c_pool(tc *c)
{
    int cfg[][3] = {{3, 1, 1}, {3, 2, 1}, {2, 2, 0}, {5, 2, 2}, {4, 3, 1}, {1, 1, 0}};
    for (size_t i = 0; i < sizeof cfg / sizeof cfg[0]; i++)
        for (int incl = 0; incl < 2; incl++) {
            int k = cfg[i][0], s = cfg[i][1], pd = cfg[i][2];
            os_pool_params p = {k, k, s, pd, incl};
            int H = 7, W = 5, oh = (H + 2 * pd - k) / s + 1, ow = (W + 2 * pd - k) / s + 1;
            os_tensor *x = tcv(c, (int)(i % 3), 2, 3, H, W, -1, 1);
            os_tensor *dy = tcv(c, incl, 2, 3, oh, ow, -1, 1);
            OS_RUN(MAXPOOL_FWD, &p, tc4(c, 2, 3, oh, ow, -1, 1), x);
            OS_RUN(MAXPOOL_BWD, &p, tcv(c, 1, 2, 3, H, W, -1, 1), dy, x);
            OS_RUN(AVGPOOL_FWD, &p, tcv(c, 2, 2, 3, oh, ow, -1, 1), x);
            OS_RUN(AVGPOOL_BWD, &p, tc4(c, 2, 3, H, W, -1, 1), dy);
                tc_checkpoint(c);
        }
}
/* ties and an all -inf window: the first maximum, then the first valid cell */
static void c_pool_ties(tc *c)
{
    os_pool_params p = {3, 3, 2, 1, 0};
    os_tensor *x = tc4(c, 1, 2, 5, 5, 0, 1);
    float h[50];
    for (int i = 0; i < 50; i++)
        h[i] = i < 25 ? (float)(i % 3) : -INFINITY;
    os_tensor_from_host(x, h);
    OS_RUN(MAXPOOL_FWD, &p, tc4(c, 1, 2, 3, 3, -1, 1), x);
    OS_RUN(MAXPOOL_BWD, &p, tc4(c, 1, 2, 5, 5, -1, 1), tc4(c, 1, 2, 3, 3, -1, 1), x);
}
static void c_gap(tc *c)
{
    OS_RUN(GAP_FWD, NULL, tc2(c, 2, 3, -1, 1), tcv(c, 1, 2, 3, 4, 5, -1, 1));
    OS_RUN(GAP_BWD, NULL, tcv(c, 2, 2, 3, 4, 5, -1, 1), tc2(c, 2, 3, -1, 1));
}

/* ---- batch norm --------------------------------------------------------------------------- */
static void c_bn(tc *c)
{
    os_bn_params p = {1e-5f, 0.1f};
    for (int view = 0; view < 3; view++)
        for (int affine = 0; affine < 2; affine++) {
            os_tensor *x = tcv(c, view, 2, 3, 4, 5, 2, 4); /* a mean away from 0 */
            os_tensor *g = affine ? tc1(c, 3, 0.5f, 1.5f) : NULL, *b = affine ? tc1(c, 3, -1, 1) : NULL;
            os_tensor *mean = tc1(c, 3, 0, 1), *is = tc1(c, 3, 0, 1);
            os_tensor *rm = tc1(c, 3, -1, 1), *rv = tc1(c, 3, 0.5f, 2);
            OS_RUN(BN_FWD_TRAIN, &p, tcv(c, view, 2, 3, 4, 5, -1, 1), x, g, b, mean, is, rm, rv);
            OS_RUN(BN_FWD_TRAIN, &p, tc4(c, 2, 3, 4, 5, -1, 1), x, g, b, tc1(c, 3, 0, 1), tc1(c, 3, 0, 1), NULL, NULL);
            OS_RUN(BN_FWD_EVAL, &p, tcv(c, view, 2, 3, 4, 5, -1, 1), x, g, b, rm, rv);
            os_tensor *dy = tcv(c, 2 - view, 2, 3, 4, 5, -1, 1);
            OS_RUN(BN_BWD_TRAIN, NULL, tcv(c, view, 2, 3, 4, 5, -1, 1), dy, x, g, mean, is,
                   affine ? tc1(c, 3, -1, 1) : NULL, affine ? tc1(c, 3, -1, 1) : NULL);
            OS_RUN(BN_BWD_TRAIN, NULL, NULL, dy, x, g, mean, is, tc1(c, 3, -1, 1), tc1(c, 3, -1, 1));
            OS_RUN(BN_BWD_EVAL, &p, tcv(c, view, 2, 3, 4, 5, -1, 1), dy, x, g, rm, rv,
                   affine ? tc1(c, 3, -1, 1) : NULL, affine ? tc1(c, 3, -1, 1) : NULL);
                tc_checkpoint(c);
        }
}

/* ---- dense --------------------------------------------------------------------------------- */
static void c_gemm(tc *c)
{
    int M = 3, N = 5, K = 4;
    for (int ta = 0; ta < 2; ta++)
        for (int tb = 0; tb < 2; tb++)
            for (int beta = 0; beta < 2; beta++) {
                os_gemm_params p = {ta, tb, 0.5f, beta ? 1.0f : 0.0f};
                os_tensor *A = ta ? tc2(c, K, M, -1, 1) : tc2(c, M, K, -1, 1);
                os_tensor *B = tb ? tc2(c, N, K, -1, 1) : tc2(c, K, N, -1, 1);
                OS_RUN(GEMM, &p, tc2(c, M, N, -1, 1), A, B);
            }
    os_gemm_params p1 = {0, 1, 1.0f, 1.0f}; /* one row (the controller's LSTM) */
    OS_RUN(GEMM, &p1, tc2(c, 1, 8, -1, 1), tc2(c, 1, 6, -1, 1), tc2(c, 8, 6, -1, 1));
    os_gemm_params p2 = {0, 0, 1.0f, 0.0f}; /* a larger product */
    OS_RUN(GEMM, &p2, tc2(c, 40, 70, -1, 1), tc2(c, 40, 50, -1, 1), tc2(c, 50, 70, -1, 1));
}
static void c_bias_sum_rows(tc *c)
{
    OS_RUN(BIAS_ROWS, NULL, tc2(c, 4, 7, -1, 1), tc1(c, 7, -1, 1));
    OS_RUN(SUM_ROWS, NULL, tc1(c, 7, -1, 1), tc2(c, 4, 7, -1, 1));
}

/* ---- softmax family ------------------------------------------------------------------------ */
static void c_softmax(tc *c)
{
    int dims[][3] = {{2, 5, 3}, {6, 4, 1}, {1, 7, 1}};
    for (int i = 0; i < 3; i++)
        for (int lg = 0; lg < 2; lg++) {
            os_softmax_params p = {dims[i][0], dims[i][1], dims[i][2], lg};
            int n = dims[i][0] * dims[i][1] * dims[i][2];
            os_tensor *y = tc1(c, n, -1, 1);
            OS_RUN(SOFTMAX_FWD, &p, y, tc1(c, n, -4, 4));
            OS_RUN(SOFTMAX_BWD, &p, tc1(c, n, -1, 1), tc1(c, n, -1, 1), y);
        }
}
static void c_xent(tc *c)
{
    static const int32_t lab[5] = {3, 0, 4, 4, 1};
    for (int sm = 0; sm < 2; sm++) {
        os_xent_params p = {os_int32_to_device(c->dev, 5, lab), 5, 6, sm ? 0.1f : 0.0f};
        os_tensor *probs = tc2(c, 5, 6, 0, 1);
        OS_RUN(XENT_FWD, &p, tc1(c, 1, 0, 1), tc2(c, 5, 6, -3, 3), probs);
        OS_RUN(XENT_BWD, &p, tc2(c, 5, 6, -1, 1), tc1(c, 1, 0.5f, 2), probs);
    }
}

/* ---- recurrent ------------------------------------------------------------------------------ */
static void c_embed(tc *c)
{
    static const int32_t idx[5] = {2, 0, 2, 5, 2};
    os_embed_params p = {os_int32_to_device(c->dev, 5, idx), 5};
    OS_RUN(EMBED_FWD, &p, tc2(c, 5, 3, -1, 1), tc2(c, 6, 3, -1, 1));
    OS_RUN(EMBED_BWD, &p, tc2(c, 6, 3, -1, 1), tc2(c, 5, 3, -1, 1));
}
static void c_lstm(tc *c)
{
    os_tensor *gates = tc2(c, 2, 12, -2, 2), *cc = tc2(c, 2, 3, -1, 1);
    os_tensor *out = tc_new(c, 3, (int[]){2, 2, 3}, -1, 1);
    OS_RUN(LSTM_FWD, NULL, out, gates, cc);
    os_tensor *dout = tc_new(c, 3, (int[]){2, 2, 3}, -1, 1);
    OS_RUN(LSTM_BWD, NULL, tc2(c, 2, 12, -1, 1), dout, gates, cc, out, tc2(c, 2, 3, -1, 1));
    OS_RUN(LSTM_BWD, NULL, tc2(c, 2, 12, -1, 1), dout, gates, cc, out, NULL);
}

/* ---- dropout: the mask must be the CPU's, bit for bit ------------------------------------- */
static void c_dropout(tc *c)
{
    os_dropout_params p = {0.3f, 0x1234abcdull};
    OS_RUN(DROPOUT_FWD, &p, tc1(c, 5000, -1, 1), tc1(c, 5000, -1, 1));
    OS_RUN(DROPOUT_BWD, &p, tc1(c, 5000, -1, 1), tc1(c, 5000, -1, 1));
    os_dropout_params q = {0.4f, 77};
    OS_RUN(DROPPATH_MASK, &q, tc4(c, 64, 3, 2, 2, -1, 1));
}

/* ---- optimizers ------------------------------------------------------------------------------ */
static void c_optim(tc *c)
{
    for (int v = 0; v < 4; v++) {
        os_sgd_step_params p = {0.1f, v ? 0.9f : 0.0f, v == 3 ? 0.1f : 0.0f, 3e-4f, v == 2, v == 1};
        OS_RUN(SGD_STEP, &p, tc4(c, 2, 3, 4, 5, -1, 1), tc4(c, 2, 3, 4, 5, -1, 1),
               v ? tc4(c, 2, 3, 4, 5, -1, 1) : NULL);
    }
    os_adam_step_params a = {3e-4f, 0.5f, 0.999f, 1e-8f, 1e-3f, 1.0f - 0.5f * 0.5f, 1.0f - 0.999f * 0.999f};
    OS_RUN(ADAM_STEP, &a, tc4(c, 2, 3, 4, 5, -1, 1), tc4(c, 2, 3, 4, 5, -1, 1), tc4(c, 2, 3, 4, 5, -1, 1),
           tc4(c, 2, 3, 4, 5, 0, 1));
}

static const kcase cases[] = {
    {"fill", c_fill, 0},          {"copy", c_copy, 0},
    {"axpy", c_axpy, 0},          {"scale", c_scale, 0},
    {"sumsq", c_sumsq, 1e-6f},    {"unary", c_unary, 1e-6f},
    {"binary", c_binary, 0},      {"scale_by", c_scale_by, 0},
    {"dot_acc", c_dot_acc, 1e-6f}, {"wsum", c_wsum, 1e-6f},
    {"norms", c_norms, 1e-6f},    {"select", c_select, 0},
    {"conv2d", c_conv, 1e-5f},    {"pool", c_pool, 1e-6f},
    {"pool_ties", c_pool_ties, 0}, {"gap", c_gap, 1e-6f},
    {"batchnorm", c_bn, 1e-5f},   {"gemm", c_gemm, 1e-5f},
    {"bias_sum_rows", c_bias_sum_rows, 1e-6f}, {"softmax", c_softmax, 1e-6f},
    {"xent", c_xent, 1e-6f},      {"embed", c_embed, 0},
    {"lstm", c_lstm, 1e-6f},      {"dropout", c_dropout, 0},
    {"optim", c_optim, 1e-6f},
};
#define N_KCASES ((int)(sizeof cases / sizeof cases[0]))

/* ---- the harness ------------------------------------------------------------------------------- */
/* A case runs twice, in lockstep: tc_checkpoint is where a case with several
 * geometries compares and frees what it made so far. The harness runs the
 * reference first up to the checkpoint, then the backend under test. To keep
 * that simple the case is run whole on the reference, with every checkpoint's
 * tensors read back into `ref`, then whole on the backend, compared at the
 * same checkpoints. */
typedef struct {
    int phase;          /* 0: reference run, 1: backend run */
    int seg;            /* checkpoint index */
    float *ref[4096];   /* host copies, reference run, in order */
    long len[4096];
    int nref, pos;
    const char *cname, *bname;
    float tol;
} harness;
static harness H;

static float *to_host(os_tensor *t, long *n)
{
    *n = os_numel(t);
    float *h = malloc(sizeof(float) * (size_t)(*n ? *n : 1));
    os_tensor_to_host(t, h);
    return h;
}

static void tc_checkpoint(tc *c)
{
    for (int i = 0; i < c->n; i++) {
        long n;
        float *h = to_host(c->t[i], &n);
        if (H.phase == 0) {
            cr_assert(H.nref < 4096);
            H.ref[H.nref] = h;
            H.len[H.nref++] = n;
        } else {
            cr_assert(H.pos < H.nref, "%s on %s: more tensors than on the CPU", H.cname, H.bname);
            const float *want = H.ref[H.pos];
            cr_assert_eq(H.len[H.pos], n);
            float mx = 0.0f;
            for (long j = 0; j < n; j++)
                mx = fmaxf(mx, fabsf(want[j]));
            long bad = -1;
            for (long j = 0; j < n && bad < 0; j++) {
                float d = fabsf(h[j] - want[j]);
                if (!(d <= H.tol * mx + H.tol * fabsf(want[j])) && !(isnan(h[j]) && isnan(want[j])) &&
                    !(h[j] == want[j]))
                    bad = j;
            }
            cr_expect(bad < 0, "%s on %s: checkpoint %d tensor %d %s element %ld: got %.9g, CPU %.9g (tol %g)",
                      H.cname, H.bname, H.seg, i, os_shape_str(c->t[i]), bad, bad >= 0 ? h[bad] : 0.0,
                      bad >= 0 ? want[bad] : 0.0, (double)H.tol);
            H.pos++;
            free(h);
        }
        os_tensor_free(c->t[i]);
    }
    c->n = 0;
    H.seg++;
    os_step_reset();
}

static void run_case(const kcase *k, os_device dev, unsigned seed)
{
    tc c;
    memset(&c, 0, sizeof c);
    c.dev = dev;
    os_rng_seed(&c.rng, seed);
    H.seg = 0;
    k->run(&c);
    tc_checkpoint(&c);
}

/* every case on backend b (registered for OS_CUDA), against the CPU */
static void check_backend(const os_backend *b, const char *bname)
{
    os_set_threads(1);
    os_backend_register(OS_CUDA, b);
    for (int i = 0; i < N_KCASES; i++) {
        memset(&H, 0, sizeof H);
        H.cname = cases[i].name;
        H.bname = bname;
        H.tol = cases[i].tol;
        H.phase = 0;
        run_case(&cases[i], OS_CPU, 1000u + (unsigned)i);
        H.phase = 1;
        run_case(&cases[i], OS_CUDA, 1000u + (unsigned)i);
        cr_expect_eq(H.pos, H.nref, "%s on %s: fewer tensors than on the CPU", H.cname, bname);
        for (int j = 0; j < H.nref; j++)
            free(H.ref[j]);
    }
    os_step_shutdown(); /* the device's step arena goes back through b */
    os_backend_register(OS_CUDA, NULL);
}

Test(cuda_kernels, emulation_matches_cpu)
{
    check_backend(&os_cuda_emu_backend, "cuda-emu");
}

/* the emulation inside the debug device (ops/debug_backend.h): its memory is
 * poisoned and PROT_NONE outside backend calls, so a driver that read device
 * data on the host, or a kernel that touched memory it was not given, crashes */
Test(cuda_kernels, emulation_in_debug_device_matches_cpu)
{
    check_backend(os_debug_backend_wrap(&os_cuda_emu_backend), "debug(cuda-emu)");
}

Test(cuda_kernels, real_cuda_matches_cpu_when_available)
{
    const os_backend *real = os_builtin_backend(OS_CUDA);
    if (!real) {
        cr_log_info("no CUDA device in this process (or built without nvcc): real backend not run");
        return;
    }
    check_backend(real, "cuda");
}

/* ---- coverage: every kernel id is dispatched by some case -------------------------------------- */
static int covered[OS_K_COUNT];
#define OS_KERNEL(name, fn, doc)                                   \
    static void rec_##fn(const os_kargs *a)                        \
    {                                                              \
        covered[OS_K_##name] = 1;                                  \
        os_cuda_emu_backend.kernels[OS_K_##name](a);               \
    }
#include "ops/kernels.def"
#undef OS_KERNEL

Test(cuda_kernels, every_kernel_has_a_case)
{
    os_backend rec = os_cuda_emu_backend;
#define OS_KERNEL(name, fn, doc) rec.kernels[OS_K_##name] = rec_##fn;
#include "ops/kernels.def"
#undef OS_KERNEL
    memset(covered, 0, sizeof covered);
    os_set_threads(1);
    os_backend_register(OS_CUDA, &rec);
    for (int i = 0; i < N_KCASES; i++) {
        memset(&H, 0, sizeof H);
        H.phase = 0;
        run_case(&cases[i], OS_CUDA, 1u);
        for (int j = 0; j < H.nref; j++)
            free(H.ref[j]);
    }
    os_step_shutdown();
    os_backend_register(OS_CUDA, NULL);
    for (int k = 0; k < OS_K_COUNT; k++)
        cr_expect(covered[k], "kernel %s has no case in tests/test_cuda_kernels.c", os_kernel_name(k));
    /* the emulation's table has every kernel too */
    for (int k = 0; k < OS_K_COUNT; k++)
        cr_expect(os_cuda_emu_backend.kernels[k] && os_cuda_emu_backend.supports(k), "%s", os_kernel_name(k));
}
