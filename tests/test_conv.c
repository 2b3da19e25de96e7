/* tests/test_conv.c — os_conv2d: forward against a naive loop, gradients
 * against finite differences, strided-view inputs, misuse. */
#include "tests/test_util.h"
#include "tensor/backend.h"
#include "ops/profile.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* One test configuration. view: 0 plain input, 1 channel slice x[:, 1:1+ci],
 * 2 offset view x[:, :, 1:, 1:] (the param is then one pixel larger). */
typedef struct {
    int n, ci, h, w, co, kh, kw;
    os_conv2d_params p;
    int bias, view;
} conv_case;

#define P(s, pd, d, g) {.stride_h = s, .stride_w = s, .pad_h = pd, .pad_w = pd, .dil_h = d, .dil_w = d, .groups = g}

static const conv_case cases[] = {
    /* n ci h w co kh kw  params               bias view */
    {2, 3, 6, 6, 4, 3, 3, P(1, 1, 1, 1), 1, 0},  /* plain 3x3 pad 1 */
    {2, 3, 6, 6, 4, 3, 3, P(1, 1, 1, 1), 0, 0},  /* ... without bias */
    {2, 3, 7, 7, 4, 3, 3, P(2, 1, 1, 1), 1, 0},  /* stride 2 */
    {2, 3, 7, 7, 4, 3, 3, P(1, 2, 2, 1), 0, 0},  /* dilation 2 */
    {2, 4, 6, 6, 4, 3, 3, P(1, 1, 1, 4), 1, 0},  /* depthwise 3x3 */
    {2, 4, 7, 7, 4, 3, 3, P(2, 1, 1, 4), 0, 0},  /* depthwise 3x3 stride 2 */
    {2, 4, 7, 7, 4, 3, 3, P(1, 2, 2, 4), 0, 0},  /* depthwise 3x3 dilation 2 */
    {2, 4, 8, 8, 4, 5, 5, P(1, 2, 1, 4), 1, 0},  /* depthwise 5x5 */
    {2, 4, 9, 9, 4, 5, 5, P(2, 2, 1, 4), 0, 0},  /* depthwise 5x5 stride 2 */
    {2, 4, 9, 9, 4, 5, 5, P(1, 4, 2, 4), 0, 0},  /* depthwise 5x5 dilation 2 */
    {2, 3, 6, 6, 3, 3, 3, P(1, 0, 1, 3), 1, 0},  /* depthwise, no padding */
    {1, 3, 6, 5, 3, 3, 3, P(2, 3, 2, 3), 0, 0},  /* depthwise, big pad, stride 2, dil 2 */
    {2, 3, 5, 5, 3, 4, 2, P(1, 1, 1, 3), 0, 0},  /* depthwise, 4x2 kernel (generic) */
    {2, 2, 5, 5, 4, 3, 3, P(1, 1, 1, 2), 1, 0},  /* groups = ci, co = 2 ci (GEMM path) */
    {2, 4, 5, 5, 6, 3, 3, P(1, 1, 1, 2), 1, 0},  /* groups = 2 */
    {2, 4, 5, 5, 3, 1, 1, P(1, 0, 1, 1), 1, 0},  /* 1x1 */
    {2, 4, 6, 6, 3, 1, 1, P(2, 0, 1, 1), 0, 0},  /* 1x1 stride 2 */
    {2, 4, 5, 5, 6, 1, 1, P(1, 0, 1, 2), 0, 0},  /* 1x1 groups 2 */
    {1, 3, 7, 5, 2, 3, 3, P(1, 1, 1, 1), 1, 0},  /* odd sizes */
    {3, 3, 7, 5, 2, 3, 3, P(2, 0, 1, 1), 0, 0},  /* odd sizes, stride 2, no pad */
    {2, 3, 6, 6, 4, 3, 3, P(1, 1, 1, 1), 1, 1},  /* channel slice, 3x3 */
    {2, 3, 5, 5, 4, 1, 1, P(1, 0, 1, 1), 0, 1},  /* channel slice, 1x1 (in-place GEMM) */
    {2, 3, 6, 6, 3, 3, 3, P(1, 1, 1, 3), 0, 1},  /* channel slice, depthwise */
    {2, 4, 6, 6, 3, 1, 1, P(2, 0, 1, 1), 0, 2},  /* x[:, :, 1:, 1:], 1x1 stride 2 */
    {2, 4, 5, 5, 4, 1, 1, P(1, 0, 1, 1), 1, 2},  /* x[:, :, 1:, 1:], 1x1 */
    {2, 3, 6, 6, 2, 3, 3, P(1, 1, 1, 1), 0, 2},  /* x[:, :, 1:, 1:], 3x3 */
    {2, 4, 6, 6, 4, 3, 3, P(1, 1, 1, 4), 0, 2},  /* x[:, :, 1:, 1:], depthwise */
    {2, 4, 7, 7, 4, 3, 3, P(2, 1, 1, 4), 1, 2},  /* x[:, :, 1:, 1:], depthwise stride 2 */
    {2, 4, 6, 6, 4, 3, 3, P(1, 0, 1, 4), 0, 2},  /* x[:, :, 1:, 1:], depthwise no pad */
    /* depthwise, wide enough for the vector tiles (8 / 16 columns, 4-row
     * blocks) plus leftover rows and columns */
    {2, 3, 13, 19, 3, 3, 3, P(1, 1, 1, 3), 1, 0},
    {1, 2, 11, 20, 2, 5, 5, P(1, 4, 2, 2), 0, 0},
    {1, 2, 17, 18, 2, 5, 5, P(2, 2, 1, 2), 1, 0},
    {1, 2, 20, 21, 2, 3, 3, P(2, 2, 2, 2), 0, 0},
    {1, 2, 12, 17, 2, 3, 3, P(1, 0, 1, 2), 0, 0},
    {1, 2, 10, 12, 2, 7, 7, P(1, 3, 1, 2), 0, 0},
    {2, 3, 9, 18, 3, 3, 3, P(1, 1, 1, 3), 0, 2},
    {1, 2, 9, 12, 2, 3, 3, P(1, 1, 1, 2), 1, 1},
    /* 32 + 8 + 3 and 32 + 5 columns: the 16-float blocks (AVX-512) as well */
    {1, 2, 9, 43, 2, 3, 3, P(1, 1, 1, 2), 1, 0},
    {1, 2, 6, 37, 2, 5, 5, P(1, 2, 1, 2), 0, 0},
    /* Fashion-MNIST widths 28 / 14 / 7 (computed 8-aligned), stride 2 from
     * 28 and 14, no padding with a ragged width, ragged strided view */
    {1, 2, 28, 28, 2, 5, 5, P(1, 4, 2, 2), 1, 0},
    {2, 2, 14, 14, 2, 3, 3, P(1, 1, 1, 2), 0, 0},
    {2, 3, 7, 7, 3, 5, 5, P(1, 2, 1, 3), 1, 0},
    {1, 2, 28, 28, 2, 3, 3, P(2, 1, 1, 2), 0, 0},
    {2, 2, 14, 14, 2, 5, 5, P(2, 4, 2, 2), 1, 0},
    {1, 2, 9, 12, 2, 3, 3, P(1, 0, 1, 2), 0, 0},
    {2, 3, 7, 14, 3, 3, 3, P(1, 1, 1, 3), 0, 2},
    /* depthwise 7x7 (ProxylessNAS): stride 1 and 2, wide rows for the vector
     * tiles, 28 / 14 / 7 widths, a dilated one and a strided view */
    {2, 3, 9, 9, 3, 7, 7, P(1, 3, 1, 3), 1, 0},
    {2, 3, 11, 11, 3, 7, 7, P(2, 3, 1, 3), 0, 0},
    {1, 2, 13, 43, 2, 7, 7, P(1, 3, 1, 2), 0, 0},
    {1, 2, 15, 37, 2, 7, 7, P(2, 3, 1, 2), 1, 0},
    {1, 2, 28, 28, 2, 7, 7, P(1, 3, 1, 2), 0, 0},
    {2, 2, 14, 14, 2, 7, 7, P(2, 3, 1, 2), 1, 0},
    {2, 3, 7, 7, 3, 7, 7, P(1, 3, 1, 3), 0, 0},
    {1, 2, 12, 19, 2, 7, 7, P(1, 6, 2, 2), 0, 0},
    {2, 3, 9, 14, 3, 7, 7, P(2, 3, 1, 3), 0, 2},
};
#define N_CASES ((int)(sizeof cases / sizeof cases[0]))

/* The shape of the parameter behind x (larger than x for the view cases). */
static void base_shape(const conv_case *c, int s[4])
{
    s[0] = c->n;
    s[1] = c->view == 1 ? c->ci + 3 : c->ci;
    s[2] = c->view == 2 ? c->h + 1 : c->h;
    s[3] = c->view == 2 ? c->w + 1 : c->w;
}

static os_tensor *make_view(const conv_case *c, os_tensor *base)
{
    if (c->view == 1)
        return os_view_channels(base, 1, c->ci);
    if (c->view == 2)
        return os_view_offset_hw(base, 1, 1);
    return base;
}

/* A differentiable view for the test: gradients of the view go back into the
 * matching part of the base's gradient. */
static void view_backward(os_node *nd)
{
    const conv_case *c = *(const conv_case *const *)nd->params;
    os_tensor *gb = os_grad_acc(nd->in[0]);
    if (!gb)
        return;
    float one = 1.0f;
    OS_RUN(AXPY, &one, make_view(c, gb), nd->out->grad);
}

static os_tensor *input_of(const conv_case *c, os_tensor *base)
{
    if (!c->view)
        return base;
    os_tensor *v = make_view(c, base);
    os_tape_record("test_view", view_backward, v, 1, &base, &c, sizeof c);
    return v;
}

static os_tensor *conv_fn(os_tensor *const *in, void *ctx)
{
    const conv_case *c = ctx;
    return os_conv2d_ex(input_of(c, in[0]), in[1], c->bias ? in[2] : NULL, &c->p);
}

static int out_dim(int in, int k, int s, int p, int d) { return (in + 2 * p - d * (k - 1) - 1) / s + 1; }

/* Naive reference: x [n,ci,h,w], w [co,ci/g,kh,kw], b [co] | NULL -> y [n,co,oh,ow] */
static void ref_conv(const conv_case *c, const float *x, const float *w, const float *b, float *y)
{
    const os_conv2d_params *p = &c->p;
    int oh = out_dim(c->h, c->kh, p->stride_h, p->pad_h, p->dil_h);
    int ow = out_dim(c->w, c->kw, p->stride_w, p->pad_w, p->dil_w);
    int cig = c->ci / p->groups, cog = c->co / p->groups;
    for (int n = 0; n < c->n; n++)
        for (int o = 0; o < c->co; o++)
            for (int oy = 0; oy < oh; oy++)
                for (int ox = 0; ox < ow; ox++) {
                    double s = b ? b[o] : 0.0;
                    int g = o / cog;
                    for (int i = 0; i < cig; i++)
                        for (int ky = 0; ky < c->kh; ky++)
                            for (int kx = 0; kx < c->kw; kx++) {
                                int iy = oy * p->stride_h - p->pad_h + ky * p->dil_h;
                                int ix = ox * p->stride_w - p->pad_w + kx * p->dil_w;
                                if (iy < 0 || iy >= c->h || ix < 0 || ix >= c->w)
                                    continue;
                                s += (double)w[((o * cig + i) * c->kh + ky) * c->kw + kx] *
                                     x[((n * c->ci + g * cig + i) * c->h + iy) * c->w + ix];
                            }
                    y[((n * c->co + o) * oh + oy) * ow + ox] = (float)s;
                }
}

typedef struct { os_tensor *x, *w, *b; } conv_inputs;

static conv_inputs make_inputs(const conv_case *c, unsigned seed)
{
    os_rng r;
    os_rng_seed(&r, seed);
    int xs[4];
    base_shape(c, xs);
    int ws[4] = {c->co, c->ci / c->p.groups, c->kh, c->kw}, bs[1] = {c->co};
    conv_inputs in = {tu_param(&r, 4, xs, -1, 1, 0), tu_param(&r, 4, ws, -1, 1, 0),
                      tu_param(&r, 1, bs, -1, 1, 0)};
    return in;
}

static void free_inputs(conv_inputs *in)
{
    os_tensor_free(in->x);
    os_tensor_free(in->w);
    os_tensor_free(in->b);
}

Test(conv, forward_matches_naive_loop)
{
    for (int k = 0; k < N_CASES; k++) {
        const conv_case *c = &cases[k];
        conv_inputs in = make_inputs(c, 100 + k);
        os_tensor *xv = make_view(c, in.x);
        os_tensor *y = os_conv2d_ex(xv, in.w, c->bias ? in.b : NULL, &c->p);
        long nx = os_numel(xv), ny = os_numel(y);
        float *xh = malloc(sizeof(float) * nx), *yh = malloc(sizeof(float) * ny),
              *yr = malloc(sizeof(float) * ny);
        os_tensor_to_host(xv, xh);
        os_tensor_to_host(y, yh);
        ref_conv(c, xh, in.w->data, c->bias ? in.b->data : NULL, yr);
        cr_expect_eq(y->shape[2], out_dim(c->h, c->kh, c->p.stride_h, c->p.pad_h, c->p.dil_h));
        cr_expect_eq(y->shape[3], out_dim(c->w, c->kw, c->p.stride_w, c->p.pad_w, c->p.dil_w));
        float worst = 0;
        for (long i = 0; i < ny; i++)
            worst = fmaxf(worst, fabsf(yh[i] - yr[i]));
        cr_expect(worst <= 1e-4f, "case %d: max |y - ref| = %g", k, worst);
        free(xh);
        free(yh);
        free(yr);
        free_inputs(&in);
        os_step_reset();
    }
}

Test(conv, gradients_match_finite_differences)
{
    for (int k = 0; k < N_CASES; k++) {
        conv_case c = cases[k];
        conv_inputs in = make_inputs(&c, 200 + k);
        os_tensor *inputs[3] = {in.x, in.w, in.b};
        char msg[512];
        os_gradcheck_opts o = {.eps = 1e-2f, .atol = 1e-3f, .rtol = 1e-2f, .max_elems = 160, .seed = 7};
        double worst = os_gradcheck(conv_fn, &c, c.bias ? 3 : 2, inputs, &o, msg, sizeof msg);
        cr_expect(worst <= 1.0, "case %d: %s (worst %.3g)", k, msg, worst);
        /* every input got a gradient */
        float gx = 0, gw = 0;
        for (long i = 0; i < os_numel(in.x); i++)
            gx += fabsf(in.x->grad->data[i]);
        for (long i = 0; i < os_numel(in.w); i++)
            gw += fabsf(in.w->grad->data[i]);
        cr_expect(gx > 0 && gw > 0, "case %d: missing gradient (|dx| %g |dw| %g)", k, gx, gw);
        free_inputs(&in);
        os_step_reset();
    }
}

/* The three gradients through TU_GRADCHECK for the main DARTS shapes. */
static os_tensor *sep_fn(os_tensor *const *in, void *ctx)
{
    (void)ctx;
    os_tensor *h = os_conv2d(in[0], in[1], NULL, 1, 1, 1, 4); /* depthwise 3x3 */
    return os_conv2d(h, in[2], in[3], 1, 0, 1, 1);            /* 1x1 with bias */
}

Test(conv, sep_conv_chain_gradcheck)
{
    os_rng r;
    os_rng_seed(&r, 5);
    os_tensor *x = tu_param4(&r, 2, 4, 5, 5, -1, 1, 0);
    os_tensor *dw = tu_param4(&r, 4, 1, 3, 3, -1, 1, 0);
    os_tensor *pw = tu_param4(&r, 6, 4, 1, 1, -1, 1, 0);
    int bs[1] = {6};
    os_tensor *b = tu_param(&r, 1, bs, -1, 1, 0);
    os_tensor *in[4] = {x, dw, pw, b};
    TU_GRADCHECK(sep_fn, NULL, 4, in, 1e-2f, 2e-3f, 1e-2f);
    for (int i = 0; i < 4; i++)
        os_tensor_free(in[i]);
    os_step_reset();
}

/* Only the inputs that require grad get one; a frozen weight with a trainable
 * bias still gets the bias gradient. */
Test(conv, gradients_only_where_required)
{
    os_rng r;
    os_rng_seed(&r, 9);
    os_tensor *x = tu_param4(&r, 2, 3, 5, 5, -1, 1, 0);
    os_tensor *w = tu_param4(&r, 2, 3, 3, 3, -1, 1, 0);
    int bs[1] = {2};
    os_tensor *b = tu_param(&r, 1, bs, -1, 1, 0);
    x->flags &= ~(unsigned)OS_REQUIRES_GRAD;
    w->flags &= ~(unsigned)OS_REQUIRES_GRAD;
    os_tensor *y = os_conv2d(x, w, b, 1, 1, 1, 1);
    os_tensor *seed = os_tensor_like(y);
    os_tensor_fill(seed, 1.0f);
    os_backward_seeded(y, seed);
    /* d/db of sum(y) = number of output pixels per channel */
    cr_expect_float_eq(b->grad->data[0], 2.0f * 25.0f, 1e-3);
    cr_expect_float_eq(b->grad->data[1], 2.0f * 25.0f, 1e-3);
    for (long i = 0; i < os_numel(w); i++)
        cr_expect_float_eq(w->grad->data[i], 0.0f, 0);
    for (long i = 0; i < os_numel(x); i++)
        cr_expect_float_eq(x->grad->data[i], 0.0f, 0);
    os_tensor_free(x);
    os_tensor_free(w);
    os_tensor_free(b);
    os_step_reset();
}

/* Backward adds to existing gradients: a second backward pass without zeroing
 * doubles dx, dw and dbias (every path). */
Test(conv, backward_accumulates)
{
    static const conv_case ks[] = {
        {2, 3, 9, 10, 4, 3, 3, P(1, 1, 1, 1), 1, 0},  /* im2col + GEMM */
        {2, 4, 9, 10, 3, 1, 1, P(1, 0, 1, 1), 1, 0},  /* 1x1 in place */
        {2, 3, 9, 10, 3, 3, 3, P(1, 1, 1, 3), 1, 0},  /* depthwise stride 1 */
        {2, 3, 9, 10, 3, 3, 3, P(2, 1, 1, 3), 1, 0},  /* depthwise stride 2 */
    };
    for (int k = 0; k < (int)(sizeof ks / sizeof ks[0]); k++) {
        conv_inputs in = make_inputs(&ks[k], 500 + k);
        os_tensor *t[3] = {in.x, in.w, in.b};
        float *first[3];
        for (int pass = 0; pass < 2; pass++) {
            os_tensor *y = os_conv2d_ex(in.x, in.w, in.b, &ks[k].p);
            os_tensor *seed = os_tensor_like(y);
            for (long i = 0; i < os_numel(seed); i++)
                seed->data[i] = (float)((i * 5) % 9) - 4.0f;
            os_backward_seeded(y, seed);
            os_step_reset();
            for (int j = 0; j < 3; j++) {
                long n = os_numel(t[j]);
                if (pass == 0) {
                    first[j] = malloc(sizeof(float) * n);
                    memcpy(first[j], t[j]->grad->data, sizeof(float) * n);
                    continue;
                }
                for (long i = 0; i < n; i++)
                    cr_expect(fabsf(t[j]->grad->data[i] - 2 * first[j][i]) <= 1e-4f * (1 + fabsf(first[j][i])),
                              "case %d input %d elem %ld: %g after two passes, %g after one", k, j, i,
                              t[j]->grad->data[i], first[j][i]);
                free(first[j]);
            }
        }
        free_inputs(&in);
    }
}

/* The backward-data kernel accumulates into a strided dx exactly as into a
 * contiguous one (every path: depthwise stride 1 / 2, im2col, 1x1). */
Test(conv, bwd_data_into_strided_dx)
{
    static const conv_case ks[] = {
        {2, 4, 6, 6, 4, 3, 3, P(1, 1, 1, 4), 0, 0},
        {2, 4, 6, 6, 4, 3, 3, P(2, 1, 1, 4), 0, 0},
        {2, 4, 6, 6, 3, 3, 3, P(1, 1, 2, 1), 0, 0},
        {2, 4, 6, 6, 3, 1, 1, P(1, 0, 1, 1), 0, 0},
        {1, 3, 9, 18, 3, 3, 3, P(1, 1, 1, 3), 0, 0},
        {1, 3, 9, 18, 3, 5, 5, P(2, 2, 1, 3), 0, 0},
    };
    for (int k = 0; k < (int)(sizeof ks / sizeof ks[0]); k++) {
        const conv_case *c = &ks[k];
        conv_inputs in = make_inputs(c, 300 + k);
        int oh = out_dim(c->h, c->kh, c->p.stride_h, c->p.pad_h, c->p.dil_h);
        int ow = out_dim(c->w, c->kw, c->p.stride_w, c->p.pad_w, c->p.dil_w);
        os_tensor *dy = os_tensor_new4(c->n, c->co, oh, ow);
        for (long i = 0; i < os_numel(dy); i++)
            dy->data[i] = (float)((i * 7) % 11) - 5.0f;
        os_tensor *dx = os_tensor_new4(c->n, c->ci, c->h, c->w);
        os_tensor_fill(dx, 0.5f);
        os_tensor *big = os_tensor_new4(c->n, c->ci + 2, c->h + 1, c->w + 2);
        os_tensor_fill(big, 0.5f);
        os_tensor *dxv = os_view_offset_hw(os_view_channels(big, 1, c->ci), 1, 2);
        OS_RUN(CONV2D_BWD_DATA, &c->p, dx, dy, in.w);
        OS_RUN(CONV2D_BWD_DATA, &c->p, dxv, dy, in.w);
        float *h = malloc(sizeof(float) * os_numel(dx));
        os_tensor_to_host(dxv, h);
        for (long i = 0; i < os_numel(dx); i++)
            cr_expect_float_eq(h[i], dx->data[i], 1e-5, "case %d elem %ld", k, i);
        /* cells outside the view are untouched */
        cr_expect_float_eq(big->data[0], 0.5f, 0);
        free(h);
        free_inputs(&in);
        os_step_reset();
    }
}

/* Backward of one case with t threads: copies of dW and dX in wg, xg. */
static void grads_with_threads(const conv_case *c, conv_inputs *in, int t, float *wg, float *xg)
{
    os_set_threads(t);
    os_tensor_fill(in->w->grad, 0.0f);
    os_tensor_fill(in->x->grad, 0.0f);
    os_tensor *y = os_conv2d_ex(in->x, in->w, in->b, &c->p);
    os_tensor *seed = os_tensor_like(y);
    for (long i = 0; i < os_numel(seed); i++)
        seed->data[i] = (float)((i * 13) % 7) - 3.0f;
    os_backward_seeded(y, seed);
    memcpy(wg, in->w->grad->data, sizeof(float) * os_numel(in->w));
    memcpy(xg, in->x->grad->data, sizeof(float) * os_numel(in->x));
    os_step_reset();
}

/* Same gradients for any thread count (up to summation order), and bitwise
 * repeatable for a fixed one. */
Test(conv, thread_counts_agree)
{
    static const conv_case cs[] = {
        {7, 8, 9, 9, 8, 3, 3, P(1, 1, 1, 1), 1, 0},
        {7, 8, 9, 9, 8, 3, 3, P(1, 1, 1, 8), 1, 0},
        {7, 8, 9, 9, 8, 1, 1, P(1, 0, 1, 1), 1, 0},
    };
    for (int k = 0; k < 3; k++) {
        conv_inputs in = make_inputs(&cs[k], 400 + k);
        long nw = os_numel(in.w), nx = os_numel(in.x);
        float *w1 = malloc(sizeof(float) * nw), *x1 = malloc(sizeof(float) * nx);
        float *w3 = malloc(sizeof(float) * nw), *x3 = malloc(sizeof(float) * nx);
        float *w3b = malloc(sizeof(float) * nw), *x3b = malloc(sizeof(float) * nx);
        grads_with_threads(&cs[k], &in, 1, w1, x1);
        grads_with_threads(&cs[k], &in, 3, w3, x3);
        grads_with_threads(&cs[k], &in, 3, w3b, x3b);
        for (long i = 0; i < nw; i++)
            cr_expect(fabsf(w3[i] - w1[i]) <= 1e-4f * (1 + fabsf(w1[i])), "case %d dw[%ld]", k, i);
        for (long i = 0; i < nx; i++)
            cr_expect(fabsf(x3[i] - x1[i]) <= 1e-5f * (1 + fabsf(x1[i])), "case %d dx[%ld]", k, i);
        cr_expect(memcmp(w3, w3b, sizeof(float) * nw) == 0, "case %d: dw not repeatable", k);
        cr_expect(memcmp(x3, x3b, sizeof(float) * nx) == 0, "case %d: dx not repeatable", k);
        free(w1); free(x1); free(w3); free(x3); free(w3b); free(x3b);
        free_inputs(&in);
    }
    os_set_threads(0);
}

/* Expects os_conv2d(x, w, b, stride, pad, 1, groups) to be fatal with a
 * message naming conv2d and containing s1 and s2 (one use of the macro per
 * function keeps -Wclobbered quiet). */
static void expect_conv_fatal(os_tensor *x, os_tensor *w, os_tensor *b, int stride, int pad,
                              int groups, const char *s1, const char *s2)
{
    TU_EXPECT_FATAL(os_conv2d(x, w, b, stride, pad, 1, groups), "conv2d", s1, s2);
}

Test(conv, misuse_is_fatal)
{
    os_tensor *x = os_tensor_new4(1, 4, 5, 5);
    os_tensor *w = os_tensor_new4(2, 4, 3, 3);
    int s3[3] = {4, 5, 5};
    expect_conv_fatal(os_tensor_new(3, s3), w, NULL, 1, 1, 1, "[4,5,5]", "[2,4,3,3]");
    /* 4 input channels, groups 3 */
    expect_conv_fatal(x, os_tensor_new4(3, 1, 3, 3), NULL, 1, 1, 3, "[1,4,5,5]", "[3,1,3,3]");
    /* weight expects 3 input channels, x has 4 */
    expect_conv_fatal(x, os_tensor_new4(2, 3, 3, 3), NULL, 1, 1, 1, "[1,4,5,5]", "[2,3,3,3]");
    /* kernel larger than the padded input */
    expect_conv_fatal(x, os_tensor_new4(2, 4, 7, 7), NULL, 1, 0, 1, "[1,4,5,5]", "[2,4,7,7]");
    /* bias of the wrong length and rank */
    int b3[1] = {3}, b22[2] = {2, 1};
    expect_conv_fatal(x, w, os_tensor_new(1, b3), 1, 1, 1, "[3]", "[2,4,3,3]");
    expect_conv_fatal(x, w, os_tensor_new(2, b22), 1, 1, 1, "[2,1]", "[2,4,3,3]");
    /* stride 0, negative padding */
    expect_conv_fatal(x, w, NULL, 0, 1, 1, "[1,4,5,5]", "stride");
    expect_conv_fatal(x, w, NULL, 1, -1, 1, "[1,4,5,5]", "padding");
    os_step_reset();
}

/* ---- relu_conv2d: conv2d(relu(x)) with relu(x) recomputed, not kept ---------------- */
typedef struct { float *y, *gx, *gw, *gb; } conv_result;

static float *dup_data(const os_tensor *t)
{
    float *p = malloc(sizeof(float) * (size_t)os_numel(t));
    memcpy(p, t->data, sizeof(float) * (size_t)os_numel(t));
    return p;
}

/* forward (fused or relu then conv), a fixed seed backward; copies of y and the gradients */
static conv_result run_relu_conv(const conv_case *c, conv_inputs *in, int fused)
{
    os_params_zero_grad(&(os_params){.t = (os_tensor *[]){in->x, in->w, in->b}, .n = 3});
    os_tensor *x = input_of(c, in->x), *b = c->bias ? in->b : NULL;
    os_tensor *y = fused ? os_relu_conv2d_ex(x, in->w, b, &c->p) : os_conv2d_ex(os_relu(x), in->w, b, &c->p);
    os_tensor *seed = os_tensor_like(y);
    for (long i = 0; i < os_numel(seed); i++)
        seed->data[i] = (float)((i * 7919) % 13) / 13.0f - 0.4f;
    conv_result r = {dup_data(y), NULL, NULL, NULL};
    os_backward_seeded(y, seed);
    r.gx = dup_data(in->x->grad);
    r.gw = dup_data(in->w->grad);
    r.gb = dup_data(in->b->grad);
    os_step_reset();
    return r;
}

static void free_result(conv_result *r)
{
    free(r->y);
    free(r->gx);
    free(r->gw);
    free(r->gb);
}

/* The fused op computes the same numbers as relu then conv, bit for bit, on
 * every case of the table (every kernel path, strided views included). */
Test(conv, relu_conv_matches_relu_then_conv_bitwise)
{
    for (int k = 0; k < N_CASES; k++) {
        const conv_case *c = &cases[k];
        conv_inputs in = make_inputs(c, 900 + k);
        conv_result a = run_relu_conv(c, &in, 0), b = run_relu_conv(c, &in, 1);
        int oh = out_dim(c->h, c->kh, c->p.stride_h, c->p.pad_h, c->p.dil_h);
        int ow = out_dim(c->w, c->kw, c->p.stride_w, c->p.pad_w, c->p.dil_w);
        size_t ny = (size_t)c->n * c->co * oh * ow;
        cr_expect(!memcmp(a.y, b.y, sizeof(float) * ny), "case %d: forward differs", k);
        cr_expect(!memcmp(a.gx, b.gx, sizeof(float) * (size_t)os_numel(in.x)), "case %d: dx differs", k);
        cr_expect(!memcmp(a.gw, b.gw, sizeof(float) * (size_t)os_numel(in.w)), "case %d: dw differs", k);
        cr_expect(!memcmp(a.gb, b.gb, sizeof(float) * (size_t)os_numel(in.b)), "case %d: db differs", k);
        free_result(&a);
        free_result(&b);
        free_inputs(&in);
    }
}

static os_tensor *relu_conv_fn(os_tensor *const *in, void *ctx)
{
    const conv_case *c = ctx;
    return os_relu_conv2d_ex(input_of(c, in[0]), in[1], c->bias ? in[2] : NULL, &c->p);
}

/* Finite differences, the inputs kept 0.05 away from the relu's kink. */
Test(conv, relu_conv_gradcheck)
{
    static const int pick[] = {0, 4, 9, 15, 21, 23, 26};
    for (int j = 0; j < (int)(sizeof pick / sizeof pick[0]); j++) {
        const conv_case *c = &cases[pick[j]];
        os_rng r;
        os_rng_seed(&r, 77 + j);
        int xs[4];
        base_shape(c, xs);
        int ws[4] = {c->co, c->ci / c->p.groups, c->kh, c->kw}, bs[1] = {c->co};
        os_tensor *in[3] = {tu_param(&r, 4, xs, -1, 1, 0.05f), tu_param(&r, 4, ws, -1, 1, 0),
                            tu_param(&r, 1, bs, -1, 1, 0)};
        char msg[512];
        os_gradcheck_opts o = {.eps = 1e-2f, .atol = 1e-3f, .rtol = 1e-2f, .max_elems = 160, .seed = 3};
        double worst = os_gradcheck(relu_conv_fn, (void *)c, c->bias ? 3 : 2, in, &o, msg, sizeof msg);
        cr_expect(worst <= 1.0, "case %d: %s (worst %.3g)", pick[j], msg, worst);
        for (int i = 0; i < 3; i++)
            os_tensor_free(in[i]);
        os_step_reset();
    }
}

/* The point of the op: the tape keeps x and y, not relu(x). The profile's
 * tape walk (ops/profile.h) sees exactly relu(x)'s bytes less. */
Test(conv, relu_conv_keeps_no_relu_output)
{
    const conv_case *c = &cases[0];
    double bytes[2];
    for (int fused = 0; fused < 2; fused++) {
        conv_inputs in = make_inputs(c, 31);
        os_profile_begin();
        conv_result r = run_relu_conv(c, &in, fused);
        os_profile *p = os_profile_end();
        bytes[fused] = p->tape_bytes;
        int relu_rows = 0;
        for (int i = 0; i < p->n_mem; i++)
            relu_rows += !strcmp(p->mem[i].op, "relu");
        cr_expect_eq(relu_rows, fused ? 0 : 1, "fused %d: %d relu rows on the tape", fused, relu_rows);
        free_result(&r);
        free_inputs(&in);
    }
    cr_expect_eq(bytes[0] - bytes[1], 4.0 * c->n * c->ci * c->h * c->w, "tape %.0f bytes unfused, %.0f fused",
                 bytes[0], bytes[1]);
}
