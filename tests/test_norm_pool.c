/* tests/test_norm_pool.c — batch norm, max / avg / global average pooling:
 * forward against naive loops written here, gradients against finite
 * differences, strided views against contiguous copies, misuse messages. */
#include "tests/test_util.h"
#include "tensor/backend.h"

#include <math.h>
#include <stdlib.h>

/* ---- helpers ------------------------------------------------------------------ */

static float *host_of(const os_tensor *t)
{
    float *h = malloc(sizeof(float) * (size_t)os_numel(t));
    os_tensor_to_host(t, h);
    return h;
}

/* |a - b| <= atol + rtol * |b| everywhere (NaN matches NaN) */
static void expect_near(const float *a, const float *b, long n, float atol, float rtol, const char *what)
{
    for (long i = 0; i < n; i++)
        if (!(fabsf(a[i] - b[i]) <= atol + rtol * fabsf(b[i])) && !(isnan(a[i]) && isnan(b[i]))) {
            cr_expect(0, "%s: element %ld: got %.7g want %.7g", what, i, a[i], b[i]);
            return;
        }
}

static void expect_close(const float *a, const float *b, long n, float tol, const char *what)
{
    expect_near(a, b, n, tol, tol, what);
}

/* a persistent, non-trainable [C] buffer (running stats) */
static os_tensor *buffer_vec(int c, const float *v)
{
    int s[1] = {c};
    os_tensor *t = os_tensor_new_persistent(OS_CPU, 1, s);
    os_tensor_from_host(t, v);
    return t;
}

/* x [N,C,H,W] filled with a random permutation of 0.1 * (0 .. n-1) - offset:
 * values at least 0.1 apart, so a step of 1e-2 never changes a window's max */
static os_tensor *separated_param(os_rng *r, int n, int c, int h, int w)
{
    os_tensor *x = tu_param4(r, n, c, h, w, 0, 1, 0);
    long m = os_numel(x);
    int32_t *perm = malloc(sizeof(int32_t) * (size_t)m);
    for (long i = 0; i < m; i++)
        perm[i] = (int32_t)i;
    os_rng_shuffle(r, perm, (int)m);
    for (long i = 0; i < m; i++)
        x->data[i] = 0.1f * (float)perm[i] - 0.05f * (float)m;
    free(perm);
    return x;
}

/* a tensor of the same shape as x holding x's values (any strides) */
static os_tensor *contiguous_copy(os_tensor *x)
{
    os_tensor *c = os_tensor_like(x);
    os_tensor_copy(c, x);
    return c;
}

/* ---- naive references ----------------------------------------------------------- */

typedef struct {
    int k, s, p;
} pool_cfg;

static int out_size(int L, pool_cfg g) { return (L + 2 * g.p - g.k) / g.s + 1; }

/* y = max / mean (padding excluded) over windows; y [N,C,OH,OW]. As in
 * PyTorch, a NaN in a window is its maximum. */
static void ref_pool(const float *x, int N, int C, int H, int W, pool_cfg g, int is_max, float *y)
{
    int OH = out_size(H, g), OW = out_size(W, g);
    for (int nc = 0; nc < N * C; nc++)
        for (int oh = 0; oh < OH; oh++)
            for (int ow = 0; ow < OW; ow++) {
                double acc = is_max ? -INFINITY : 0;
                int cnt = 0;
                for (int i = 0; i < g.k; i++)
                    for (int j = 0; j < g.k; j++) {
                        int h = oh * g.s - g.p + i, w = ow * g.s - g.p + j;
                        if (h < 0 || h >= H || w < 0 || w >= W)
                            continue;
                        double v = x[(nc * H + h) * W + w];
                        acc = is_max ? ((v > acc || isnan(v)) ? v : acc) : acc + v;
                        cnt++;
                    }
                y[(nc * OH + oh) * OW + ow] = (float)(is_max ? acc : acc / cnt);
            }
}

/* dx += dy routed to the first max of each window (max; the last NaN if any,
 * as PyTorch's scan `v > max || isnan(v)` gives) or spread / count (avg) */
static void ref_pool_bwd(const float *x, const float *dy, int N, int C, int H, int W, pool_cfg g,
                         int is_max, float *dx)
{
    int OH = out_size(H, g), OW = out_size(W, g);
    for (int nc = 0; nc < N * C; nc++)
        for (int oh = 0; oh < OH; oh++)
            for (int ow = 0; ow < OW; ow++) {
                float d = dy[(nc * OH + oh) * OW + ow];
                int best = -1, cnt = 0;
                float m = -INFINITY;
                for (int i = 0; i < g.k; i++)
                    for (int j = 0; j < g.k; j++) {
                        int h = oh * g.s - g.p + i, w = ow * g.s - g.p + j;
                        if (h < 0 || h >= H || w < 0 || w >= W)
                            continue;
                        int at = (nc * H + h) * W + w;
                        if (best < 0 || x[at] > m || isnan(x[at])) {
                            best = at;
                            m = x[at];
                        }
                        cnt++;
                    }
                if (is_max) {
                    dx[best] += d;
                    continue;
                }
                for (int i = 0; i < g.k; i++)
                    for (int j = 0; j < g.k; j++) {
                        int h = oh * g.s - g.p + i, w = ow * g.s - g.p + j;
                        if (h >= 0 && h < H && w >= 0 && w < W)
                            dx[(nc * H + h) * W + w] += d / (float)cnt;
                    }
            }
}

/* ---- batch norm: forward ------------------------------------------------------------ */

/* naive training-mode BN in double; also the running-stat update */
static void ref_bn_train(const float *x, int N, int C, int H, int W, const float *gamma, const float *beta,
                         float eps, float mom, float *rm, float *rv, float *y)
{
    int M = N * H * W;
    for (int c = 0; c < C; c++) {
        double s = 0, q = 0;
        for (int n = 0; n < N; n++)
            for (int i = 0; i < H * W; i++)
                s += x[(n * C + c) * H * W + i];
        double mu = s / M;
        for (int n = 0; n < N; n++)
            for (int i = 0; i < H * W; i++) {
                double d = x[(n * C + c) * H * W + i] - mu;
                q += d * d;
            }
        double var = q / M;
        for (int n = 0; n < N; n++)
            for (int i = 0; i < H * W; i++) {
                int at = (n * C + c) * H * W + i;
                y[at] = (float)((x[at] - mu) / sqrt(var + eps) * (gamma ? gamma[c] : 1) + (beta ? beta[c] : 0));
            }
        rm[c] = (float)((1 - mom) * rm[c] + mom * mu);
        rv[c] = (float)((1 - mom) * rv[c] + mom * q / (M - 1));
    }
}

Test(norm_pool, bn_train_forward_and_running_stats)
{
    os_rng r;
    os_rng_seed(&r, 11);
    int N = 3, C = 4, H = 7, W = 5;
    os_tensor *x = tu_param4(&r, N, C, H, W, -2, 3, 0);
    for (long i = 0; i < os_numel(x); i++) /* per-channel offsets: a mean well away from 0 */
        x->data[i] += 10.0f * (float)((i / (H * W)) % C);
    float g[4] = {1.5f, -0.5f, 0.7f, 2.0f}, b[4] = {0.1f, -0.2f, 0.3f, 0.0f};
    float rm0[4] = {0.5f, -1, 0, 2}, rv0[4] = {1, 2, 0.5f, 3};
    int cs[1] = {C};
    os_tensor *gamma = os_param_new("g", 1, cs), *beta = os_param_new("b", 1, cs);
    os_tensor_from_host(gamma, g);
    os_tensor_from_host(beta, b);
    os_tensor *rm = buffer_vec(C, rm0), *rv = buffer_vec(C, rv0);

    for (int affine = 0; affine < 2; affine++) {
        float want_rm[4], want_rv[4], got_rm[4], got_rv[4];
        os_tensor_to_host(rm, want_rm);
        os_tensor_to_host(rv, want_rv);
        float *want = malloc(sizeof(float) * (size_t)os_numel(x));
        ref_bn_train(x->data, N, C, H, W, affine ? g : NULL, affine ? b : NULL, 1e-5f, 0.1f, want_rm, want_rv, want);
        os_tensor *y = os_batch_norm(x, affine ? gamma : NULL, affine ? beta : NULL, rm, rv, 1, 0.1f, 1e-5f);
        float *got = host_of(y);
        expect_close(got, want, os_numel(x), 1e-5f, affine ? "bn train affine y" : "bn train y");
        os_tensor_to_host(rm, got_rm);
        os_tensor_to_host(rv, got_rv);
        expect_close(got_rm, want_rm, C, 1e-6f, "running_mean");
        expect_close(got_rv, want_rv, C, 1e-6f, "running_var");
        free(want);
        free(got);
    }
    os_tensor_free(gamma);
    os_tensor_free(beta);
    os_tensor_free(rm);
    os_tensor_free(rv);
    os_tensor_free(x);
    os_step_reset();
}

/* a mean far from 0 against a small spread: the variance (seen through the
 * running_var update) keeps its precision */
Test(norm_pool, bn_train_large_mean)
{
    os_rng r;
    os_rng_seed(&r, 13);
    int N = 8, C = 2, H = 33, W = 31; /* runs longer than the kernel's float chunks */
    os_tensor *x = tu_param4(&r, N, C, H, W, -0.1f, 0.1f, 0);
    for (long i = 0; i < os_numel(x); i++)
        x->data[i] += 1000.0f;
    float rm0[2] = {0, 0}, rv0[2] = {0, 0}, want_rm[2] = {0, 0}, want_rv[2] = {0, 0}, got_rv[2];
    os_tensor *rm = buffer_vec(C, rm0), *rv = buffer_vec(C, rv0);
    float *want = malloc(sizeof(float) * (size_t)os_numel(x));
    ref_bn_train(x->data, N, C, H, W, NULL, NULL, 1e-5f, 1.0f, want_rm, want_rv, want);
    os_tensor *y = os_batch_norm(x, NULL, NULL, rm, rv, 1, 1.0f, 1e-5f); /* momentum 1: rv = unbiased var */
    os_tensor_to_host(rv, got_rv);
    for (int c = 0; c < C; c++)
        cr_expect(fabsf(got_rv[c] - want_rv[c]) <= 1e-4f * want_rv[c], "var[%d] %.8g want %.8g", c, got_rv[c],
                  want_rv[c]);
    float *got = host_of(y);
    expect_near(got, want, os_numel(x), 2e-3f, 0, "bn y, mean 1000"); /* x - mean loses ~1e-4 of 0.06 */
    free(want);
    free(got);
    os_tensor_free(rm);
    os_tensor_free(rv);
    os_tensor_free(x);
    os_step_reset();
}

Test(norm_pool, bn_eval_forward_uses_running_stats)
{
    os_rng r;
    os_rng_seed(&r, 12);
    int N = 2, C = 3, H = 5, W = 7;
    os_tensor *x = tu_param4(&r, N, C, H, W, -2, 2, 0);
    float g[3] = {1.5f, -0.5f, 0.7f}, b[3] = {0.1f, -0.2f, 0.3f};
    float rm0[3] = {0.5f, -1, 0}, rv0[3] = {1, 2, 0.5f};
    int cs[1] = {C};
    os_tensor *gamma = os_param_new("g", 1, cs), *beta = os_param_new("b", 1, cs);
    os_tensor_from_host(gamma, g);
    os_tensor_from_host(beta, b);
    os_tensor *rm = buffer_vec(C, rm0), *rv = buffer_vec(C, rv0);
    os_tensor *y = os_batch_norm(x, gamma, beta, rm, rv, 0, 0.1f, 1e-5f);
    float *got = host_of(y);
    for (long i = 0; i < os_numel(x); i++) {
        int c = (int)((i / (H * W)) % C);
        double want = (x->data[i] - rm0[c]) / sqrt(rv0[c] + 1e-5) * g[c] + b[c];
        cr_expect(fabs(got[i] - want) < 1e-5, "eval y[%ld] = %g want %g", i, got[i], want);
    }
    float after[3];
    os_tensor_to_host(rm, after);
    cr_expect(after[0] == rm0[0] && after[1] == rm0[1] && after[2] == rm0[2], "eval must not touch running_mean");
    free(got);
    os_tensor_free(gamma);
    os_tensor_free(beta);
    os_tensor_free(rm);
    os_tensor_free(rv);
    os_tensor_free(x);
    os_step_reset();
}

/* ---- batch norm: gradients --------------------------------------------------------------- */

typedef struct {
    int training, affine;
    os_tensor *rm, *rv;
} bn_ctx;

static os_tensor *bn_fn(os_tensor *const *in, void *ctx)
{
    bn_ctx *b = ctx;
    return os_batch_norm(in[0], b->affine ? in[1] : NULL, b->affine ? in[2] : NULL, b->rm, b->rv,
                         b->training, 0.1f, 1e-5f);
}

static void bn_gradcheck(int training, int affine, unsigned seed)
{
    os_rng r;
    os_rng_seed(&r, seed);
    int C = 3, cs[1] = {C};
    os_tensor *x = tu_param4(&r, 2, C, 7, 5, -2, 2, 0);
    os_tensor *gamma = tu_param(&r, 1, cs, 0.5f, 1.5f, 0), *beta = tu_param(&r, 1, cs, -1, 1, 0);
    float rm0[3] = {0.2f, -0.3f, 0.1f}, rv0[3] = {0.8f, 1.5f, 0.6f};
    bn_ctx ctx = {training, affine, buffer_vec(C, rm0), buffer_vec(C, rv0)};
    os_tensor *in[3] = {x, gamma, beta};
    TU_GRADCHECK(bn_fn, &ctx, affine ? 3 : 1, in, 1e-2f, 2e-3f, 2e-2f);
    if (affine) /* the check must have produced parameter gradients */
        cr_expect(gamma->grad->data[0] != 0.0f && beta->grad->data[0] != 0.0f);
    os_tensor_free(ctx.rm);
    os_tensor_free(ctx.rv);
    os_tensor_free(x);
    os_tensor_free(gamma);
    os_tensor_free(beta);
    os_step_reset();
}

Test(norm_pool, bn_train_grad_affine) { bn_gradcheck(1, 1, 21); }
Test(norm_pool, bn_train_grad_no_affine) { bn_gradcheck(1, 0, 22); }
Test(norm_pool, bn_eval_grad_affine) { bn_gradcheck(0, 1, 23); }
Test(norm_pool, bn_eval_grad_no_affine) { bn_gradcheck(0, 0, 24); }

/* dgamma / dbeta against their closed forms: dbeta = sum dy, dgamma = sum dy * xhat */
Test(norm_pool, bn_param_grads_closed_form)
{
    os_rng r;
    os_rng_seed(&r, 25);
    int N = 4, C = 2, H = 3, W = 5, cs[1] = {C};
    os_tensor *x = tu_param4(&r, N, C, H, W, -1, 3, 0);
    os_tensor *gamma = tu_param(&r, 1, cs, 0.5f, 1.5f, 0), *beta = tu_param(&r, 1, cs, -1, 1, 0);
    os_tensor *y = os_batch_norm(x, gamma, beta, NULL, NULL, 1, 0.1f, 1e-5f);
    os_tensor *seed = os_tensor_like(y);
    for (long i = 0; i < os_numel(seed); i++)
        seed->data[i] = os_rng_uniform(&r) - 0.5f;
    float *dy = host_of(seed);
    os_backward_seeded(y, seed);
    for (int c = 0; c < C; c++) {
        double s = 0, q = 0, mu = 0, var = 0;
        for (int n = 0; n < N; n++)
            for (int i = 0; i < H * W; i++)
                mu += x->data[(n * C + c) * H * W + i];
        mu /= N * H * W;
        for (int n = 0; n < N; n++)
            for (int i = 0; i < H * W; i++) {
                double d = x->data[(n * C + c) * H * W + i] - mu;
                var += d * d;
            }
        var /= N * H * W;
        for (int n = 0; n < N; n++)
            for (int i = 0; i < H * W; i++) {
                int at = (n * C + c) * H * W + i;
                s += dy[at];
                q += dy[at] * (x->data[at] - mu) / sqrt(var + 1e-5);
            }
        cr_expect(fabs(beta->grad->data[c] - s) < 1e-4, "dbeta[%d] %g want %g", c, beta->grad->data[c], s);
        cr_expect(fabs(gamma->grad->data[c] - q) < 1e-4, "dgamma[%d] %g want %g", c, gamma->grad->data[c], q);
    }
    free(dy);
    os_tensor_free(x);
    os_tensor_free(gamma);
    os_tensor_free(beta);
    os_step_reset();
}

/* ---- strided views: same results as on a contiguous copy ------------------------------------ */

typedef os_tensor *(*unary_op)(os_tensor *x, void *ctx);

static os_tensor *op_bn_train(os_tensor *x, void *ctx) { return os_batch_norm(x, ctx, ctx, NULL, NULL, 1, 0.1f, 1e-5f); }
static os_tensor *op_max(os_tensor *x, void *ctx) { pool_cfg *g = ctx; return os_max_pool2d(x, g->k, g->s, g->p); }
static os_tensor *op_avg(os_tensor *x, void *ctx) { pool_cfg *g = ctx; return os_avg_pool2d(x, g->k, g->s, g->p); }
static os_tensor *op_gap(os_tensor *x, void *ctx) { return os_global_avg_pool(x); }

/* Runs op on v (a view, marked as requiring grad so its gradient is kept) and
 * on a contiguous copy of it, seeds both outputs alike and compares y and dx.
 * (Each backward clears the tape, so the two runs go one after the other.) */
static void expect_view_matches(os_tensor *v, unary_op op, void *ctx, const char *what)
{
    os_tensor *c = contiguous_copy(v);
    os_tensor *t[2] = {v, c};
    float *y[2], *dx[2];
    long ny = 0;
    for (int k = 0; k < 2; k++) {
        t[k]->grad = NULL;
        t[k]->flags |= OS_REQUIRES_GRAD;
        os_tensor *out = op(t[k], ctx);
        os_tensor *seed = os_tensor_like(out);
        ny = os_numel(out);
        for (long i = 0; i < ny; i++)
            seed->data[i] = 0.01f * (float)(i % 37) - 0.1f;
        y[k] = host_of(out);
        os_backward_seeded(out, seed);
        dx[k] = host_of(t[k]->grad);
    }
    expect_close(y[0], y[1], ny, 1e-6f, what);
    expect_close(dx[0], dx[1], os_numel(c), 1e-6f, what);
    for (int k = 0; k < 2; k++) {
        free(y[k]);
        free(dx[k]);
    }
    v->grad = NULL;
}

Test(norm_pool, strided_views_match_contiguous)
{
    os_rng r;
    os_rng_seed(&r, 31);
    os_tensor *base = separated_param(&r, 3, 6, 9, 8);
    int cs[1] = {3};
    os_tensor *gamma = tu_param(&r, 1, cs, 0.5f, 1.5f, 0);
    pool_cfg g31 = {3, 1, 1}, g32 = {3, 2, 1}, g22 = {2, 2, 0};
    /* channel slice (planes not adjacent across N), then a spatial offset (rows not dense) */
    os_tensor *slice = os_view_channels(base, 2, 3);
    os_tensor *off = os_view_offset_hw(slice, 1, 2);
    os_tensor *views[2] = {slice, off};
    for (int i = 0; i < 2; i++) {
        expect_view_matches(views[i], op_bn_train, gamma, "bn train view");
        expect_view_matches(views[i], op_max, &g31, "max 3/1 view");
        expect_view_matches(views[i], op_max, &g32, "max 3/2 view");
        expect_view_matches(views[i], op_avg, &g32, "avg 3/2 view");
        expect_view_matches(views[i], op_avg, &g22, "avg 2/2 view");
        expect_view_matches(views[i], op_gap, NULL, "gap view");
    }
    os_tensor_free(base);
    os_tensor_free(gamma);
    os_step_reset();
}

/* ---- pooling: forward and backward against naive loops ------------------------------------- */

/* nan > 0: that many NaNs at random places */
static void pool_vs_ref_nan(int N, int C, int H, int W, pool_cfg g, int is_max, unsigned seed, int nan)
{
    os_rng r;
    os_rng_seed(&r, seed);
    os_tensor *x = separated_param(&r, N, C, H, W);
    if (nan && H > 200) /* tall planes: one NaN, in the kernels' last row block */
        x->data[(H - 5) * W + 3] = NAN;
    else
        for (int i = 0; i < nan; i++)
            x->data[os_rng_below(&r, (uint32_t)os_numel(x))] = NAN;
    os_tensor *y = is_max ? os_max_pool2d(x, g.k, g.s, g.p) : os_avg_pool2d(x, g.k, g.s, g.p);
    int OH = out_size(H, g), OW = out_size(W, g);
    cr_assert(y->shape[2] == OH && y->shape[3] == OW, "output %s, want %dx%d", os_shape_str(y), OH, OW);
    long ny = os_numel(y), nx = os_numel(x);
    float *want = malloc(sizeof(float) * (size_t)ny), *got = host_of(y);
    ref_pool(x->data, N, C, H, W, g, is_max, want);
    /* the separated values grow with the tensor: sums lose 1e-7 of the largest */
    float atol = 1e-6f * 0.05f * (float)nx;
    expect_near(got, want, ny, atol, 1e-5f, is_max ? "max pool y" : "avg pool y");

    os_tensor *seed_t = os_tensor_like(y);
    for (long i = 0; i < ny; i++)
        seed_t->data[i] = os_rng_uniform(&r) - 0.5f;
    float *dy = host_of(seed_t), *dx = calloc((size_t)nx, sizeof(float));
    ref_pool_bwd(x->data, dy, N, C, H, W, g, is_max, dx);
    os_tensor_fill(x->grad, 0.0f);
    os_backward_seeded(y, seed_t);
    expect_close(x->grad->data, dx, nx, 1e-5f, is_max ? "max pool dx" : "avg pool dx");
    free(want);
    free(got);
    free(dy);
    free(dx);
    os_tensor_free(x);
    os_step_reset();
}

static void pool_vs_ref(int N, int C, int H, int W, pool_cfg g, int is_max, unsigned seed)
{
    pool_vs_ref_nan(N, C, H, W, g, is_max, seed, 0);
}

Test(norm_pool, pool_forward_backward_vs_naive)
{
    pool_cfg cfgs[] = {{3, 1, 1}, {3, 2, 1}, {2, 2, 0}, {5, 2, 2}, {4, 3, 1}, {1, 1, 0}};
    for (size_t i = 0; i < sizeof cfgs / sizeof cfgs[0]; i++)
        for (int is_max = 0; is_max < 2; is_max++) {
            pool_vs_ref(2, 3, 7, 5, cfgs[i], is_max, 40 + (unsigned)i);
            pool_vs_ref(1, 2, 8, 9, cfgs[i], is_max, 50 + (unsigned)i);
        }
}

/* wider than the row buffers: exercises the direct loops */
Test(norm_pool, pool_wide_input_vs_naive)
{
    pool_cfg a = {3, 1, 1}, b = {3, 2, 1};
    for (int is_max = 0; is_max < 2; is_max++) {
        pool_vs_ref(1, 2, 4, 1100, a, is_max, 61);
        pool_vs_ref(1, 1, 9, 2100, b, is_max, 62);
    }
}

/* The kernels also honour count_include_pad (the op always passes 0):
 * y = sum over the valid cells / k^2, and with dy = 1, dx = (number of
 * windows covering the cell) / k^2. */
Test(norm_pool, avg_kernels_count_include_pad)
{
    os_rng r;
    os_rng_seed(&r, 64);
    int shapes[2][4] = {{2, 3, 7, 5}, {1, 1, 3, 1100}}; /* fast path, direct loops */
    for (int sh = 0; sh < 2; sh++)
        for (int s = 1; s <= 2; s++) {
            int NC = shapes[sh][0] * shapes[sh][1], H = shapes[sh][2], W = shapes[sh][3];
            pool_cfg g = {3, s, 1};
            int OH = out_size(H, g), OW = out_size(W, g);
            os_pool_params p = {.kh = 3, .kw = 3, .stride = s, .pad = 1, .count_include_pad = 1};
            os_tensor *x = tu_param(&r, 4, shapes[sh], -1, 1, 0);
            os_tensor *y = os_tensor_new4(shapes[sh][0], shapes[sh][1], OH, OW);
            os_tensor *dy = os_tensor_like(y), *dx = os_tensor_zeros(4, shapes[sh]);
            long nx = os_numel(x), ny = os_numel(y);
            float *want_y = calloc((size_t)ny, sizeof(float)), *want_dx = calloc((size_t)nx, sizeof(float));
            for (int nc = 0; nc < NC; nc++)
                for (int oh = 0; oh < OH; oh++)
                    for (int ow = 0; ow < OW; ow++)
                        for (int i = 0; i < 3; i++)
                            for (int j = 0; j < 3; j++) {
                                int h = oh * s - 1 + i, w = ow * s - 1 + j;
                                if (h < 0 || h >= H || w < 0 || w >= W)
                                    continue;
                                want_y[(nc * OH + oh) * OW + ow] += x->data[(nc * H + h) * W + w] / 9.0f;
                                want_dx[(nc * H + h) * W + w] += 1.0f / 9.0f;
                            }
            OS_RUN(AVGPOOL_FWD, &p, y, x);
            expect_close(y->data, want_y, ny, 1e-5f, "avg include-pad y");
            os_tensor_fill(dy, 1.0f);
            OS_RUN(AVGPOOL_BWD, &p, dx, dy);
            expect_close(dx->data, want_dx, nx, 1e-5f, "avg include-pad dx");
            free(want_y);
            free(want_dx);
            os_tensor_free(x);
            os_step_reset();
        }
}

/* taller than one row block of the kernels' buffers */
Test(norm_pool, pool_tall_input_vs_naive)
{
    pool_cfg cfgs[] = {{3, 1, 1}, {3, 2, 1}, {5, 2, 2}};
    for (int i = 0; i < 3; i++)
        for (int is_max = 0; is_max < 2; is_max++)
            pool_vs_ref(1, 2, 230, 40, cfgs[i], is_max, 63 + (unsigned)i);
}

/* a NaN is the maximum of every window holding it (forward and backward);
 * the average propagates it */
Test(norm_pool, pool_nan_like_pytorch)
{
    pool_cfg cfgs[] = {{3, 1, 1}, {3, 2, 1}, {2, 2, 0}};
    for (int i = 0; i < 3; i++)
        for (int is_max = 0; is_max < 2; is_max++) {
            pool_vs_ref_nan(2, 3, 7, 5, cfgs[i], is_max, 70 + (unsigned)i, 4);
            pool_vs_ref_nan(1, 1, 230, 40, cfgs[i], is_max, 73 + (unsigned)i, 3);
            pool_vs_ref_nan(1, 1, 3, 1100, cfgs[i], is_max, 76 + (unsigned)i, 3);
        }
}

/* ties go to the first maximum (row-major in the window); -inf windows to the
 * first valid cell; padding never receives gradient. A small plane (fast
 * path) and a wide one (direct loops). */
Test(norm_pool, max_pool_ties_and_neg_inf)
{
    int shapes[2][4] = {{1, 1, 4, 5}, {1, 1, 3, 1100}};
    pool_cfg cfgs[2] = {{3, 1, 1}, {3, 2, 1}};
    for (int sh = 0; sh < 2; sh++)
        for (int kind = 0; kind < 2; kind++)
            for (int ci = 0; ci < 2; ci++) {
                pool_cfg g = cfgs[ci];
                int H = shapes[sh][2], W = shapes[sh][3];
                os_tensor *x = os_param_new("x", 4, shapes[sh]);
                for (long i = 0; i < os_numel(x); i++)
                    x->data[i] = kind ? -INFINITY : (i % 3 == 0 ? 1.0f : 2.0f);
                os_tensor *y = os_max_pool2d(x, g.k, g.s, g.p);
                os_tensor *seed = os_tensor_like(y);
                for (long i = 0; i < os_numel(y); i++)
                    seed->data[i] = 1.0f + (float)i;
                float *dx = calloc((size_t)os_numel(x), sizeof(float));
                ref_pool_bwd(x->data, seed->data, 1, 1, H, W, g, 1, dx);
                os_backward_seeded(y, seed);
                expect_close(x->grad->data, dx, os_numel(x), 0, kind ? "-inf windows" : "ties");
                free(dx);
                os_tensor_free(x);
                os_step_reset();
            }
}

Test(norm_pool, gap_forward_backward)
{
    os_rng r;
    os_rng_seed(&r, 70);
    os_tensor *x = tu_param4(&r, 3, 4, 7, 5, -1, 1, 0);
    os_tensor *y = os_global_avg_pool(x);
    cr_assert(y->ndim == 2 && y->shape[0] == 3 && y->shape[1] == 4, "gap output %s", os_shape_str(y));
    for (int nc = 0; nc < 12; nc++) {
        double s = 0;
        for (int i = 0; i < 35; i++)
            s += x->data[nc * 35 + i];
        cr_expect(fabs(y->data[nc] - s / 35) < 1e-6, "gap[%d] %g want %g", nc, y->data[nc], s / 35);
    }
    os_tensor_free(x);
    os_step_reset();
}

/* ---- pooling: gradients by finite differences --------------------------------------------------- */

static os_tensor *max_fn(os_tensor *const *in, void *ctx) { return op_max(in[0], ctx); }
static os_tensor *avg_fn(os_tensor *const *in, void *ctx) { return op_avg(in[0], ctx); }
static os_tensor *gap_fn(os_tensor *const *in, void *ctx) { return os_global_avg_pool(in[0]); }

static void pool_gradcheck(os_gradcheck_fn f, pool_cfg g, int separated, unsigned seed)
{
    os_rng r;
    os_rng_seed(&r, seed);
    os_tensor *x = separated ? separated_param(&r, 2, 2, 7, 5) : tu_param4(&r, 2, 2, 7, 5, -1, 1, 0);
    TU_GRADCHECK(f, &g, 1, &x, 1e-2f, 1e-3f, 1e-2f);
    os_tensor_free(x);
    os_step_reset();
}

Test(norm_pool, max_pool_grad)
{
    pool_gradcheck(max_fn, (pool_cfg){3, 1, 1}, 1, 81);
    pool_gradcheck(max_fn, (pool_cfg){3, 2, 1}, 1, 82);
    pool_gradcheck(max_fn, (pool_cfg){2, 2, 0}, 1, 83);
}

Test(norm_pool, avg_pool_grad)
{
    pool_gradcheck(avg_fn, (pool_cfg){3, 1, 1}, 0, 84);
    pool_gradcheck(avg_fn, (pool_cfg){3, 2, 1}, 0, 85);
    pool_gradcheck(avg_fn, (pool_cfg){2, 2, 0}, 0, 86);
}

Test(norm_pool, gap_grad) { pool_gradcheck(gap_fn, (pool_cfg){0, 0, 0}, 0, 87); }

/* ---- misuse ---------------------------------------------------------------------------- */

Test(norm_pool, misuse_is_reported)
{
    int s3[3] = {2, 3, 4}, c4[1] = {4}, c3[1] = {3};
    os_tensor *x = os_tensor_new4(2, 3, 5, 5), *x3 = os_tensor_new(3, s3);
    os_tensor *v4 = os_tensor_new(1, c4), *v3 = os_tensor_new(1, c3);
    TU_EXPECT_FATAL(os_batch_norm(x3, NULL, NULL, NULL, NULL, 1, 0.1f, 1e-5f), "batch_norm", "[2,3,4]");
    TU_EXPECT_FATAL(os_batch_norm(x, v4, NULL, NULL, NULL, 1, 0.1f, 1e-5f), "batch_norm", "gamma", "[4]", "[2,3,5,5]");
    TU_EXPECT_FATAL(os_batch_norm(x, v3, v4, NULL, NULL, 1, 0.1f, 1e-5f), "batch_norm", "beta", "[4]");
    TU_EXPECT_FATAL(os_batch_norm(x, NULL, NULL, v4, v3, 1, 0.1f, 1e-5f), "batch_norm", "running_mean", "[4]");
    TU_EXPECT_FATAL(os_batch_norm(x, NULL, NULL, v3, v4, 0, 0.1f, 1e-5f), "batch_norm", "running_var", "[4]");
    TU_EXPECT_FATAL(os_batch_norm(x, NULL, NULL, v3, NULL, 1, 0.1f, 1e-5f), "batch_norm", "together");
    TU_EXPECT_FATAL(os_batch_norm(x, NULL, NULL, NULL, NULL, 0, 0.1f, 1e-5f), "batch_norm", "eval", "[2,3,5,5]");
    TU_EXPECT_FATAL(os_batch_norm(x, NULL, NULL, NULL, NULL, 1, 0.1f, 0.0f), "batch_norm", "eps");
    TU_EXPECT_FATAL(os_batch_norm(os_tensor_new4(1, 3, 1, 1), NULL, NULL, NULL, NULL, 1, 0.1f, 1e-5f),
                    "batch_norm", "more than one value", "[1,3,1,1]");

    TU_EXPECT_FATAL(os_max_pool2d(x3, 3, 1, 1), "max_pool2d", "[2,3,4]");
    TU_EXPECT_FATAL(os_avg_pool2d(x3, 3, 1, 1), "avg_pool2d", "[2,3,4]");
    TU_EXPECT_FATAL(os_max_pool2d(x, 3, 1, 2), "max_pool2d", "padding 2", "[2,3,5,5]");
    TU_EXPECT_FATAL(os_avg_pool2d(x, 2, 2, 2), "avg_pool2d", "padding 2");
    TU_EXPECT_FATAL(os_max_pool2d(x, 8, 1, 1), "max_pool2d", "kernel 8 larger", "[2,3,5,5]");
    TU_EXPECT_FATAL(os_avg_pool2d(os_tensor_new4(1, 1, 9, 2), 5, 1, 1), "avg_pool2d", "larger", "[1,1,9,2]");
    TU_EXPECT_FATAL(os_max_pool2d(x, 3, 0, 1), "max_pool2d", "stride 0");
    TU_EXPECT_FATAL(os_max_pool2d(x, 0, 1, 0), "max_pool2d", "kernel 0");
    TU_EXPECT_FATAL(os_max_pool2d(os_tensor_new4(1, 1, 3, 0), 2, 1, 1), "max_pool2d", "empty", "[1,1,3,0]");
    TU_EXPECT_FATAL(os_global_avg_pool(x3), "global_avg_pool", "[2,3,4]");
    TU_EXPECT_FATAL(os_global_avg_pool(os_tensor_new4(2, 3, 0, 4)), "global_avg_pool", "empty", "[2,3,0,4]");
    os_step_reset();
}

/* the backward kernels accumulate into dx (never overwrite) */
Test(norm_pool, backward_accumulates)
{
    os_rng r;
    os_rng_seed(&r, 90);
    os_tensor *x = separated_param(&r, 2, 2, 6, 6);
    unary_op ops[4] = {op_max, op_avg, op_gap, op_bn_train};
    pool_cfg g = {3, 2, 1};
    long n = os_numel(x);
    float *once = malloc(sizeof(float) * (size_t)n);
    for (int k = 0; k < 4; k++) {
        os_tensor_fill(x->grad, 0.0f);
        for (int rep = 0; rep < 2; rep++) {
            os_tensor *y = ops[k](x, k == 3 ? NULL : (void *)&g);
            os_tensor *seed = os_tensor_like(y);
            for (long i = 0; i < os_numel(y); i++)
                seed->data[i] = 0.3f + 0.01f * (float)i;
            os_backward_seeded(y, seed);
            if (rep == 0)
                os_tensor_to_host(x->grad, once);
            os_step_reset();
        }
        for (long i = 0; i < n; i++)
            once[i] *= 2.0f;
        expect_close(x->grad->data, once, n, 1e-6f, "accumulated dx");
    }
    free(once);
    os_tensor_free(x);
}
