/* tests/test_eltwise.c — activations, add/sum_n/mul, scale_by, weighted_sum,
 * concat_channels, zero, dropout: forward values against naive loops,
 * finite-difference gradients, misuse. */
#include "tests/ops_test_util.h"

static const int shapes[][4] = {{1, 1, 1, 1}, {17, 1, 1, 1}, {3, 5, 7, 1}, {2, 3, 4, 5}};
static const int shape_ndim[] = {1, 1, 3, 4};
#define N_SHAPES 4

/* ---- activations ----------------------------------------------------------------- */
typedef struct {
    const char *name;
    os_tensor *(*op)(os_tensor *);
    float (*ref)(float);
} unary_case;

static float ref_relu(float v) { return v > 0 ? v : 0; }
static float ref_relu6(float v) { return v < 0 ? 0 : v > 6 ? 6 : v; }
static float ref_sigmoid(float v) { return (float)(1.0 / (1.0 + exp(-(double)v))); }
static float ref_tanh(float v) { return (float)tanh((double)v); }

static const unary_case unary_cases[] = {
    {"relu", os_relu, ref_relu},
    {"relu6", os_relu6, ref_relu6},
    {"sigmoid", os_sigmoid, ref_sigmoid},
    {"tanh", os_tanh, ref_tanh},
};

static os_tensor *gc_unary(os_tensor *const *in, void *ctx)
{
    return ((const unary_case *)ctx)->op(in[0]);
}

Test(eltwise, unary_forward_matches_reference)
{
    os_rng r;
    os_rng_seed(&r, 11);
    for (int c = 0; c < 4; c++) {
        const unary_case *uc = &unary_cases[c];
        os_tensor *x = ot_rand(&r, 4, (int[]){2, 3, 5, 7}, -9.0f, 9.0f);
        x->data[0] = 0.0f;
        x->data[1] = 6.0f;
        os_tensor *y = uc->op(x);
        cr_expect(os_same_shape(x, y), "%s: shape %s", uc->name, os_shape_str(y));
        float want[210];
        for (int i = 0; i < 210; i++)
            want[i] = uc->ref(x->data[i]);
        ot_expect_tensor(y, want, 1e-6f, 1e-6f, uc->name);
        /* a channel view (strided) as input */
        os_tensor *v = os_view_channels(x, 1, 2);
        float *vh = ot_host(v);
        for (int i = 0; i < 2 * 2 * 5 * 7; i++)
            vh[i] = uc->ref(vh[i]);
        ot_expect_tensor(uc->op(v), vh, 1e-6f, 1e-6f, "strided input");
        free(vh);
        os_step_reset();
    }
}

Test(eltwise, unary_gradcheck)
{
    os_rng r;
    os_rng_seed(&r, 12);
    for (int c = 0; c < 4; c++)
        for (int s = 0; s < N_SHAPES; s++) {
            os_tensor *x = tu_param(&r, shape_ndim[s], shapes[s], -8.0f, 8.0f, 0.05f);
            ot_keep_off(x, 6.0f, 0.05f); /* relu6's upper kink */
            ot_keep_off(x, -6.0f, 0.05f);
            os_tensor *in[1] = {x};
            OT_GRADCHECK(gc_unary, (void *)&unary_cases[c], 1, in);
            os_tensor_free(x);
            os_step_reset();
        }
}

/* relu'(0) = 0 (PyTorch); relu6' = 0 at 0 and at 6 */
Test(eltwise, relu_gradient_at_kinks)
{
    os_tensor *x = os_param_new("x", 1, (int[]){5});
    const float xv[5] = {0.0f, 6.0f, 3.0f, -1.0f, 7.0f};
    memcpy(x->data, xv, sizeof xv);
    const float want_relu[5] = {0, 1, 1, 0, 1}, want_relu6[5] = {0, 0, 1, 0, 0};
    os_backward_seeded(os_relu(x), ot_full(x, 1.0f));
    ot_expect_close(x->grad->data, want_relu, 5, 0, 0, "relu grad");
    os_tensor_fill(x->grad, 0.0f);
    os_backward_seeded(os_relu6(x), ot_full(x, 1.0f));
    ot_expect_close(x->grad->data, want_relu6, 5, 0, 0, "relu6 grad");
    os_tensor_free(x);
    os_step_reset();
}

/* ---- add, sum_n, mul ------------------------------------------------------------- */
static os_tensor *gc_add(os_tensor *const *in, void *ctx) { return os_add(in[0], in[1]); }
static os_tensor *gc_mul(os_tensor *const *in, void *ctx) { return os_mul(in[0], in[1]); }
static os_tensor *gc_square(os_tensor *const *in, void *ctx) { return os_mul(in[0], in[0]); }
static os_tensor *gc_sum_n(os_tensor *const *in, void *ctx) { return os_sum_n(*(int *)ctx, in); }
/* x0 + x1 + x0 + x2: a repeated input must receive its gradient twice */
static os_tensor *gc_sum_rep(os_tensor *const *in, void *ctx)
{
    os_tensor *x[4] = {in[0], in[1], in[0], in[2]};
    return os_sum_n(4, x);
}

Test(eltwise, add_mul_sum_forward)
{
    os_rng r;
    os_rng_seed(&r, 21);
    int sh[3] = {3, 5, 7};
    os_tensor *a = ot_rand(&r, 3, sh, -2, 2), *b = ot_rand(&r, 3, sh, -2, 2), *c = ot_rand(&r, 3, sh, -2, 2);
    float s[105], m[105], s3[105];
    for (int i = 0; i < 105; i++) {
        s[i] = a->data[i] + b->data[i];
        m[i] = a->data[i] * b->data[i];
        s3[i] = a->data[i] + b->data[i] + c->data[i];
    }
    ot_expect_tensor(os_add(a, b), s, 0, 0, "add");
    ot_expect_tensor(os_mul(a, b), m, 0, 0, "mul");
    os_tensor *x3[3] = {a, b, c};
    ot_expect_tensor(os_sum_n(3, x3), s3, 1e-6f, 1e-6f, "sum_n 3");
    ot_expect_tensor(os_sum_n(1, x3), a->data, 0, 0, "sum_n 1");
    /* views as inputs */
    os_tensor *big = ot_rand(&r, 4, (int[]){2, 4, 3, 3}, -1, 1);
    os_tensor *v1 = os_view_channels(big, 0, 2), *v2 = os_view_channels(big, 2, 2);
    float *h1 = ot_host(v1), *h2 = ot_host(v2), want[36];
    for (int i = 0; i < 36; i++)
        want[i] = h1[i] * h2[i];
    ot_expect_tensor(os_mul(v1, v2), want, 0, 0, "mul of views");
    for (int i = 0; i < 36; i++)
        want[i] = h1[i] + h2[i];
    ot_expect_tensor(os_add(v1, v2), want, 0, 0, "add of views");
    os_tensor *vv[3] = {v1, v2, v1};
    for (int i = 0; i < 36; i++)
        want[i] = 2 * h1[i] + h2[i];
    ot_expect_tensor(os_sum_n(3, vv), want, 1e-6f, 0, "sum_n of views");
    free(h1);
    free(h2);
    os_step_reset();
}

Test(eltwise, add_mul_sum_gradcheck)
{
    os_rng r;
    os_rng_seed(&r, 22);
    for (int s = 0; s < N_SHAPES; s++) {
        os_tensor *x[3];
        for (int i = 0; i < 3; i++)
            x[i] = tu_param(&r, shape_ndim[s], shapes[s], -2, 2, 0);
        OT_GRADCHECK(gc_add, NULL, 2, x);
        OT_GRADCHECK(gc_mul, NULL, 2, x);
        OT_GRADCHECK(gc_square, NULL, 1, x);
        for (int n = 1; n <= 3; n++)
            OT_GRADCHECK(gc_sum_n, &n, n, x);
        OT_GRADCHECK(gc_sum_rep, NULL, 3, x);
        for (int i = 0; i < 3; i++)
            os_tensor_free(x[i]);
        os_step_reset();
    }
}

/* ---- scale_by --------------------------------------------------------------------- */
static os_tensor *gc_scale_by(os_tensor *const *in, void *ctx) { return os_scale_by(in[0], in[1]); }
/* s = softmax(alpha, -1)[e][o]: a one-element view inside a bigger tensor */
static os_tensor *gc_scale_by_alpha(os_tensor *const *in, void *ctx)
{
    const int *eo = ctx;
    os_tensor *s = os_select(os_select(os_softmax(in[1], -1), eo[0]), eo[1]);
    return os_scale_by(in[0], s);
}

Test(eltwise, scale_by_forward_and_gradcheck)
{
    os_rng r;
    os_rng_seed(&r, 31);
    for (int s = 0; s < N_SHAPES; s++) {
        os_tensor *x = tu_param(&r, shape_ndim[s], shapes[s], -2, 2, 0);
        os_tensor *sc = tu_param(&r, 1, (int[]){1}, 0.5f, 1.5f, 0);
        long n = os_numel(x);
        float *want = malloc(sizeof(float) * (size_t)n);
        for (long i = 0; i < n; i++)
            want[i] = sc->data[0] * x->data[i];
        ot_expect_tensor(os_scale_by(x, sc), want, 0, 0, "scale_by");
        free(want);
        os_tensor *in[2] = {x, sc};
        OT_GRADCHECK(gc_scale_by, NULL, 2, in);
        os_tensor *alpha = tu_param(&r, 2, (int[]){3, 4}, -1, 1, 0);
        os_tensor *in2[2] = {x, alpha};
        int eo[2] = {2, 1};
        OT_GRADCHECK(gc_scale_by_alpha, eo, 2, in2);
        cr_expect(alpha->grad->data[0] == 0.0f, "rows other than e get no gradient");
        cr_expect(alpha->grad->data[2 * 4 + 1] != 0.0f, "the selected row gets a gradient");
        os_tensor_free(x);
        os_tensor_free(sc);
        os_tensor_free(alpha);
        os_step_reset();
    }
}

/* ---- weighted_sum -------------------------------------------------------------------- */
typedef struct { int n, e, mode; } wsum_ctx; /* mode 0: w = in[n]; 1: w = softmax(alpha)[e]; 2: x_1 = zero; 3: x_0 = NULL (zero) */
static os_tensor *gc_wsum(os_tensor *const *in, void *ctx)
{
    const wsum_ctx *c = ctx;
    os_tensor *x[8];
    for (int i = 0; i < c->n; i++)
        x[i] = in[i];
    if (c->mode == 2)
        x[1] = os_zero(in[0], 1);
    if (c->mode == 3)
        x[0] = NULL;
    os_tensor *w = c->mode == 0 || c->mode == 3 ? in[c->n] : os_select(os_softmax(in[c->n], -1), c->e);
    return os_weighted_sum(c->n, x, w);
}

Test(eltwise, weighted_sum_forward)
{
    os_rng r;
    os_rng_seed(&r, 41);
    int sh[4] = {2, 3, 5, 5};
    os_tensor *x[4];
    for (int i = 0; i < 4; i++)
        x[i] = ot_rand(&r, 4, sh, -1, 1);
    /* w a strided view: column 1 of a [4,3] tensor, as a [4] view */
    os_tensor *wm = ot_rand(&r, 2, (int[]){4, 3}, -1, 1);
    os_tensor *w = os_view_reshape(wm, 2, (int[]){4, 3});
    w->ndim = 1;
    w->data += 1;
    w->shape[1] = 1;
    w->stride[0] = 3;
    w->stride[1] = 0;
    float want[150];
    for (int j = 0; j < 150; j++) {
        double s = 0;
        for (int i = 0; i < 4; i++)
            s += (double)wm->data[i * 3 + 1] * x[i]->data[j];
        want[j] = (float)s;
    }
    ot_expect_tensor(os_weighted_sum(4, x, w), want, 1e-6f, 1e-5f, "weighted_sum, strided w");
    os_step_reset();
}

Test(eltwise, weighted_sum_gradcheck)
{
    os_rng r;
    os_rng_seed(&r, 42);
    for (int s = 0; s < N_SHAPES; s++)
        for (int mode = 0; mode < 4; mode++) {
            if (mode == 2 && shape_ndim[s] != 4)
                continue; /* os_zero takes [N,C,H,W] */
            wsum_ctx c = {.n = 3 + s % 2, .e = 1, .mode = mode};
            os_tensor *in[6];
            for (int i = 0; i < c.n; i++)
                in[i] = tu_param(&r, shape_ndim[s], shapes[s], -2, 2, 0);
            in[c.n] = mode == 0 || mode == 3 ? tu_param(&r, 1, (int[]){c.n}, -1, 1, 0)
                                : tu_param(&r, 2, (int[]){3, c.n}, -1, 1, 0);
            OT_GRADCHECK(gc_wsum, &c, c.n + 1, in);
            for (int i = 0; i <= c.n; i++)
                os_tensor_free(in[i]);
            os_step_reset();
        }
}

/* Large tensors take the threaded, blocked paths: compare with naive double sums. */
Test(eltwise, weighted_sum_and_scale_by_large)
{
    os_rng r;
    os_rng_seed(&r, 43);
    const int n = 3, len = 100003;
    os_tensor *x[3], *w = tu_param(&r, 1, (int[]){n}, -1, 1, 0);
    for (int i = 0; i < n; i++)
        x[i] = tu_param(&r, 1, (int[]){len}, -1, 1, 0);
    os_tensor *y = os_weighted_sum(n, x, w);
    float *want = malloc(sizeof(float) * len);
    for (int j = 0; j < len; j++)
        want[j] = w->data[0] * x[0]->data[j] + w->data[1] * x[1]->data[j] + w->data[2] * x[2]->data[j];
    ot_expect_tensor(y, want, 1e-6f, 1e-5f, "large weighted_sum");
    os_tensor *dy = ot_rand(&r, 1, (int[]){len}, -1, 1);
    os_backward_seeded(y, dy);
    for (int i = 0; i < n; i++) {
        double s = 0;
        for (int j = 0; j < len; j++)
            s += (double)dy->data[j] * x[i]->data[j];
        cr_expect(fabs(w->grad->data[i] - s) <= 1e-3 + 1e-5 * fabs(s), "dw[%d] %g want %g", i,
                  (double)w->grad->data[i], s);
        for (int j = 0; j < len; j++)
            want[j] = w->data[i] * dy->data[j];
        ot_expect_close(x[i]->grad->data, want, len, 1e-6f, 1e-6f, "large dx_i");
    }
    /* scale_by: ds is the same dot product */
    os_tensor *sc = tu_param(&r, 1, (int[]){1}, 0.5f, 1.5f, 0);
    os_tensor_fill(x[0]->grad, 0.0f);
    os_backward_seeded(os_scale_by(x[0], sc), dy);
    double s = 0;
    for (int j = 0; j < len; j++)
        s += (double)dy->data[j] * x[0]->data[j];
    cr_expect(fabs(sc->grad->data[0] - s) <= 1e-3 + 1e-5 * fabs(s), "ds %g want %g", (double)sc->grad->data[0], s);
    for (int j = 0; j < len; j++)
        want[j] = sc->data[0] * dy->data[j];
    ot_expect_close(x[0]->grad->data, want, len, 1e-6f, 1e-6f, "large scale_by dx");
    free(want);
    for (int i = 0; i < n; i++)
        os_tensor_free(x[i]);
    os_tensor_free(w);
    os_tensor_free(sc);
    os_step_reset();
}

/* ---- concat_channels ----------------------------------------------------------------- */
static os_tensor *gc_concat(os_tensor *const *in, void *ctx) { return os_concat_channels(*(int *)ctx, in); }

Test(eltwise, concat_channels_forward_and_gradcheck)
{
    os_rng r;
    os_rng_seed(&r, 51);
    const int cs[3] = {1, 3, 2};
    os_tensor *x[3];
    for (int i = 0; i < 3; i++)
        x[i] = tu_param4(&r, 2, cs[i], 3, 5, -1, 1, 0);
    os_tensor *y = os_concat_channels(3, x);
    cr_expect(y->ndim == 4 && y->shape[0] == 2 && y->shape[1] == 6 && y->shape[2] == 3 && y->shape[3] == 5,
              "concat shape %s", os_shape_str(y));
    for (int n = 0; n < 2; n++)
        for (int c = 0, i = 0, c0 = 0; c < 6; c++) {
            if (c - c0 >= cs[i])
                c0 += cs[i++];
            for (int k = 0; k < 15; k++)
                cr_expect(y->data[(n * 6 + c) * 15 + k] == x[i]->data[(n * cs[i] + c - c0) * 15 + k],
                          "concat value n %d c %d k %d", n, c, k);
        }
    for (int n = 1; n <= 3; n++)
        OT_GRADCHECK(gc_concat, &n, n, x);
    for (int i = 0; i < 3; i++)
        os_tensor_free(x[i]);
    /* 2-D inputs [N,C] */
    os_tensor *p[2] = {tu_param(&r, 2, (int[]){3, 2}, -1, 1, 0), tu_param(&r, 2, (int[]){3, 5}, -1, 1, 0)};
    int two = 2;
    OT_GRADCHECK(gc_concat, &two, 2, p);
    os_tensor_free(p[0]);
    os_tensor_free(p[1]);
    os_step_reset();
}

/* ---- zero ---------------------------------------------------------------------------- */
Test(eltwise, zero_shape_and_no_tape)
{
    os_rng r;
    os_rng_seed(&r, 61);
    os_tensor *x = tu_param4(&r, 2, 3, 5, 7, -1, 1, 0);
    size_t before = os_tape_length();
    os_tensor *z1 = os_zero(x, 1), *z2 = os_zero(x, 2), *z3 = os_zero(x, 3);
    cr_expect(os_tape_length() == before, "zero recorded a tape node");
    cr_expect(!(z1->flags & OS_REQUIRES_GRAD) && !z1->node, "zero output must not require grad");
    cr_expect(z1->shape[0] == 2 && z1->shape[1] == 3 && z1->shape[2] == 5 && z1->shape[3] == 7, "s=1 %s",
              os_shape_str(z1));
    cr_expect(z2->shape[0] == 2 && z2->shape[1] == 3 && z2->shape[2] == 3 && z2->shape[3] == 4, "s=2 %s",
              os_shape_str(z2));
    cr_expect(z3->shape[2] == 2 && z3->shape[3] == 3, "s=3 %s", os_shape_str(z3));
    float zeros[210] = {0};
    ot_expect_tensor(z1, zeros, 0, 0, "zero s=1");
    ot_expect_tensor(z2, zeros, 0, 0, "zero s=2");
    os_tensor_free(x);
    os_step_reset();
}

/* ---- dropout ------------------------------------------------------------------------- */
static os_tensor *gc_dropout(os_tensor *const *in, void *ctx) { return os_dropout(in[0], 0.4f, 1, 1234); }

Test(eltwise, dropout_gradcheck_fixed_seed)
{
    os_rng r;
    os_rng_seed(&r, 71);
    for (int s = 0; s < N_SHAPES; s++) {
        os_tensor *x = tu_param(&r, shape_ndim[s], shapes[s], -2, 2, 0);
        os_tensor *in[1] = {x};
        OT_GRADCHECK(gc_dropout, NULL, 1, in);
        os_tensor_free(x);
        os_step_reset();
    }
}

Test(eltwise, dropout_scaling_mask_and_eval)
{
    const int len = 200001;
    const float p = 0.3f;
    os_tensor *x = os_tensor_new(1, (int[]){len});
    os_tensor_fill(x, 1.0f);
    os_tensor *y = os_dropout(x, p, 1, 99), *y2 = os_dropout(x, p, 1, 99), *y3 = os_dropout(x, p, 1, 100);
    double sum = 0;
    long zeros = 0, other = 0, same = 0, diff = 0;
    for (int i = 0; i < len; i++) {
        float v = y->data[i];
        sum += v;
        zeros += v == 0.0f;
        other += v != 0.0f && v != 1.0f / (1.0f - p);
        same += v == y2->data[i];
        diff += v != y3->data[i];
        /* the mask is the documented counter-based draw */
        cr_assert((v == 0.0f) == (os_hash_uniform(99, (uint64_t)i) < p), "mask at %d", i);
    }
    cr_expect(fabs(sum / len - 1.0) < 0.01, "mean %g not preserved", sum / len);
    cr_expect(fabs((double)zeros / len - p) < 0.01, "drop rate %g, p %g", (double)zeros / len, (double)p);
    cr_expect(other == 0, "%ld kept values not scaled by 1/(1-p)", other);
    cr_expect(same == len, "same seed, different mask");
    cr_expect(diff > len / 10, "another seed gives the same mask");
    /* eval and p = 0: identity, no node */
    size_t t = os_tape_length();
    cr_expect(os_dropout(x, p, 0, 99) == x, "eval dropout must return x");
    cr_expect(os_dropout(x, 0.0f, 1, 99) == x, "p = 0 must return x");
    cr_expect(os_tape_length() == t, "identity dropout recorded a node");
    /* backward uses the same mask */
    os_tensor *xp = os_param_new("x", 1, (int[]){len});
    os_tensor_fill(xp, 1.0f);
    os_backward_seeded(os_dropout(xp, p, 1, 99), ot_full(xp, 1.0f));
    ot_expect_close(xp->grad->data, y->data, len, 0, 0, "dropout grad = mask / (1-p)");
    os_tensor_free(xp);
    os_step_reset();
}

/* drop_path: the same numbers as x * drop_path_mask, forward and backward, bit
 * for bit, without the mask on the tape; a sample is kept whole or zeroed. */
Test(eltwise, drop_path_matches_mask_multiply)
{
    os_rng r;
    os_rng_seed(&r, 17);
    const int n = 16, c = 3, h = 5, w = 7;
    const float p = 0.3f;
    os_tensor *x = tu_param4(&r, n, c, h, w, -2, 2, 0);
    os_tensor *seed = os_tensor_like(x);
    for (long i = 0; i < os_numel(seed); i++)
        seed->data[i] = (float)(i % 11) - 5.0f;
    long numel = os_numel(x);
    float *ya = malloc(sizeof(float) * (size_t)numel), *ga = malloc(sizeof(float) * (size_t)numel);
    os_tensor *ya_t = os_mul(x, os_drop_path_mask(x, p, 1234));
    memcpy(ya, ya_t->data, sizeof(float) * (size_t)numel);
    os_backward_seeded(ya_t, seed);
    memcpy(ga, x->grad->data, sizeof(float) * (size_t)numel);
    os_tensor_fill(x->grad, 0.0f);
    size_t t0 = os_tape_length();
    os_tensor *yb = os_drop_path(x, p, 1234);
    cr_expect_eq(os_tape_length(), t0 + 1, "drop_path is one node");
    cr_expect_eq(yb->node->saved[0], NULL, "drop_path keeps no tensor");
    cr_expect(!memcmp(ya, yb->data, sizeof(float) * (size_t)numel), "forward differs from x * mask");
    os_backward_seeded(yb, seed);
    cr_expect(!memcmp(ga, x->grad->data, sizeof(float) * (size_t)numel), "backward differs from x * mask");
    int dropped = 0;
    long per = numel / n;
    for (int s = 0; s < n; s++) {
        int zeros = 0;
        for (long i = 0; i < per; i++)
            zeros += yb->data[s * per + i] == 0.0f;
        cr_expect(zeros == 0 || zeros == per, "sample %d partly dropped (%d of %ld)", s, zeros, per);
        dropped += zeros == per;
    }
    cr_expect(dropped > 0 && dropped < n, "%d of %d samples dropped at p = %g", dropped, n, (double)p);
    free(ya);
    free(ga);
    os_tensor_free(x);
    os_step_reset();
}

static os_tensor *gc_drop_path(os_tensor *const *in, void *ctx)
{
    (void)ctx;
    return os_drop_path(in[0], 0.5f, 77);
}

Test(eltwise, drop_path_gradcheck)
{
    os_rng r;
    os_rng_seed(&r, 19);
    os_tensor *x = tu_param4(&r, 6, 2, 3, 3, -2, 2, 0);
    os_tensor *in[1] = {x};
    OT_GRADCHECK(gc_drop_path, NULL, 1, in);
    os_tensor_free(x);
    os_step_reset();
}

/* sum_drop_path: the same numbers as sum_n over drop_path terms (an unmasked
 * term among them), forward and backward, bit for bit, for 1, 2 and 3 terms;
 * it keeps no term on the tape. */
Test(eltwise, sum_drop_path_matches_sum_of_drop_paths)
{
    os_rng r;
    os_rng_seed(&r, 23);
    os_tensor *x[3];
    for (int i = 0; i < 3; i++)
        x[i] = tu_param4(&r, 8, 2, 3, 4, -2, 2, 0);
    const float p[3] = {0.3f, 0.0f, 0.5f};
    const uint64_t seed[3] = {11, 12, 13};
    long numel = os_numel(x[0]);
    for (int n = 1; n <= 3; n++) {
        float *ref[4];
        for (int pass = 0; pass < 2; pass++) {
            os_tensor *dy = os_tensor_like(x[0]); /* step memory: made again after each reset */
            for (long i = 0; i < numel; i++)
                dy->data[i] = (float)(i % 7) - 2.5f;
            for (int i = 0; i < 3; i++)
                os_tensor_fill(x[i]->grad, 0.0f);
            os_tensor *y;
            if (pass == 0) {
                os_tensor *t[3];
                for (int i = 0; i < n; i++)
                    t[i] = p[i] > 0 ? os_drop_path(x[i], p[i], seed[i]) : x[i];
                y = os_sum_n(n, t);
            } else {
                y = os_sum_drop_path(n, x, p, seed);
                cr_expect_eq(y->node->saved[0], NULL, "n %d: a tensor kept", n);
            }
            float *got[4] = {malloc(sizeof(float) * (size_t)numel), NULL, NULL, NULL};
            memcpy(got[0], y->data, sizeof(float) * (size_t)numel);
            os_backward_seeded(y, dy);
            for (int i = 0; i < 3; i++) {
                got[i + 1] = malloc(sizeof(float) * (size_t)numel);
                memcpy(got[i + 1], x[i]->grad->data, sizeof(float) * (size_t)numel);
            }
            for (int k = 0; k < 4; k++) {
                if (pass == 0) {
                    ref[k] = got[k];
                    continue;
                }
                cr_expect(!memcmp(ref[k], got[k], sizeof(float) * (size_t)numel), "n %d: %s differs", n,
                          k ? "a gradient" : "the sum");
                free(ref[k]);
                free(got[k]);
            }
            os_step_reset();
        }
    }
    for (int i = 0; i < 3; i++)
        os_tensor_free(x[i]);
}

/* ---- misuse --------------------------------------------------------------------------- */
Test(eltwise, misuse_is_fatal)
{
    os_tensor *a = os_tensor_new4(2, 3, 4, 4), *b = os_tensor_new4(2, 3, 4, 5);
    os_tensor *s2 = os_tensor_new(1, (int[]){2});
    os_tensor *ab[2] = {a, b}, *aa[3] = {a, a, a};
    TU_EXPECT_FATAL(os_add(a, b), "add", "[2,3,4,4]", "[2,3,4,5]");
    TU_EXPECT_FATAL(os_mul(a, b), "mul", "[2,3,4,4]", "[2,3,4,5]");
    TU_EXPECT_FATAL(os_sum_n(2, ab), "sum_n", "[2,3,4,5]", "[2,3,4,4]");
    TU_EXPECT_FATAL(os_sum_n(0, ab), "sum_n", "n = 0");
    TU_EXPECT_FATAL(os_scale_by(a, s2), "scale_by", "[2]", "[2,3,4,4]");
    TU_EXPECT_FATAL(os_weighted_sum(3, aa, s2), "weighted_sum", "[2]", "n = 3", "[2,3,4,4]");
    TU_EXPECT_FATAL(os_weighted_sum(2, ab, s2), "weighted_sum", "[2,3,4,5]", "[2,3,4,4]");
    TU_EXPECT_FATAL(os_weighted_sum(0, ab, s2), "weighted_sum", "n = 0");
    os_tensor *c1 = os_tensor_new4(2, 3, 4, 4), *c2 = os_tensor_new4(2, 1, 4, 3);
    os_tensor *cc[2] = {c1, c2};
    TU_EXPECT_FATAL(os_concat_channels(2, cc), "concat_channels", "[2,1,4,3]", "[2,3,4,4]");
    TU_EXPECT_FATAL(os_concat_channels(0, cc), "concat_channels", "n = 0");
    TU_EXPECT_FATAL(os_zero(s2, 1), "zero", "[2]");
    TU_EXPECT_FATAL(os_zero(a, 0), "zero", "stride 0", "[2,3,4,4]");
    TU_EXPECT_FATAL(os_dropout(a, 1.0f, 1, 1), "dropout", "p = 1", "[2,3,4,4]");
    TU_EXPECT_FATAL(os_dropout(a, -0.1f, 1, 1), "dropout", "[2,3,4,4]");
    os_step_reset();
}
