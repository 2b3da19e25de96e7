/* tests/test_softmax.c — softmax / log_softmax over several dims, cross-entropy
 * with and without label smoothing: values, gradients, misuse. */
#include "tests/ops_test_util.h"

/* softmax (or log_softmax) of x (contiguous, ndim dims) over dim d, naive, double */
static void naive_softmax(const os_tensor *x, int d, int log_, float *y)
{
    long outer = 1, inner = 1, D = x->shape[d];
    for (int i = 0; i < d; i++)
        outer *= x->shape[i];
    for (int i = d + 1; i < x->ndim; i++)
        inner *= x->shape[i];
    for (long o = 0; o < outer; o++)
        for (long k = 0; k < inner; k++) {
            const float *xr = x->data + o * D * inner + k;
            double m = -INFINITY, s = 0;
            for (long j = 0; j < D; j++)
                m = fmax(m, xr[j * inner]);
            for (long j = 0; j < D; j++)
                s += exp(xr[j * inner] - m);
            for (long j = 0; j < D; j++) {
                double lp = xr[j * inner] - m - log(s);
                y[o * D * inner + j * inner + k] = (float)(log_ ? lp : exp(lp));
            }
        }
}

typedef struct { int dim, log; } sm_ctx;
static os_tensor *gc_softmax(os_tensor *const *in, void *ctx)
{
    const sm_ctx *c = ctx;
    return c->log ? os_log_softmax(in[0], c->dim) : os_softmax(in[0], c->dim);
}

static const int sm_shapes[][4] = {{3, 4, 5, 1}, {2, 3, 2, 3}, {7, 1, 1, 1}, {1, 6, 1, 1}};
static const int sm_ndim[] = {3, 4, 1, 2};

Test(softmax, forward_matches_reference_all_dims)
{
    os_rng r;
    os_rng_seed(&r, 201);
    for (int s = 0; s < 4; s++) {
        os_tensor *x = ot_rand(&r, sm_ndim[s], sm_shapes[s], -4, 4);
        long n = os_numel(x);
        float *want = malloc(sizeof(float) * n);
        for (int d = 0; d < sm_ndim[s]; d++)
            for (int lg = 0; lg < 2; lg++) {
                naive_softmax(x, d, lg, want);
                os_tensor *y = lg ? os_log_softmax(x, d) : os_softmax(x, d);
                cr_expect(os_same_shape(x, y), "shape %s", os_shape_str(y));
                ot_expect_tensor(y, want, 1e-6f, 1e-5f, lg ? "log_softmax" : "softmax");
                /* negative dims count from the end */
                os_tensor *yn = lg ? os_log_softmax(x, d - sm_ndim[s]) : os_softmax(x, d - sm_ndim[s]);
                ot_expect_tensor(yn, want, 1e-6f, 1e-5f, "negative dim");
            }
        free(want);
        os_step_reset();
    }
}

Test(softmax, stable_for_large_logits)
{
    os_tensor *x = os_tensor_new(2, (int[]){2, 3});
    os_tensor_from_host(x, (float[]){1000, 1001, 1002, -1000, -1001, -1002});
    float *p = ot_host(os_softmax(x, 1)), *lp = ot_host(os_log_softmax(x, 1));
    /* softmax([0,1,2]) = [0.09003057, 0.24472847, 0.66524096] */
    const float want[6] = {0.09003057f, 0.24472847f, 0.66524096f, 0.66524096f, 0.24472847f, 0.09003057f};
    ot_expect_close(p, want, 6, 1e-6f, 1e-5f, "softmax of large logits");
    for (int i = 0; i < 6; i++)
        cr_expect(fabsf(lp[i] - logf(want[i])) < 1e-4f, "log_softmax %d: %g", i, (double)lp[i]);
    free(p);
    free(lp);
    os_step_reset();
}

Test(softmax, gradcheck_dims_0_1_last)
{
    os_rng r;
    os_rng_seed(&r, 202);
    for (int s = 0; s < 4; s++) {
        os_tensor *x = tu_param(&r, sm_ndim[s], sm_shapes[s], -2, 2, 0);
        os_tensor *in[1] = {x};
        const int dims[3] = {0, sm_ndim[s] > 1 ? 1 : 0, -1};
        for (int d = 0; d < 3; d++)
            for (int lg = 0; lg < 2; lg++) {
                sm_ctx c = {.dim = dims[d], .log = lg};
                OT_GRADCHECK(gc_softmax, &c, 1, in);
            }
        os_tensor_free(x);
        os_step_reset();
    }
}

/* Rows of a large tensor (threaded path) still sum to one. */
Test(softmax, large_rows_sum_to_one)
{
    os_rng r;
    os_rng_seed(&r, 203);
    os_tensor *x = ot_rand(&r, 2, (int[]){1000, 97}, -5, 5);
    float *want = malloc(sizeof(float) * 97000);
    naive_softmax(x, 1, 0, want);
    ot_expect_tensor(os_softmax(x, 1), want, 1e-6f, 1e-5f, "large softmax");
    naive_softmax(x, 0, 1, want);
    ot_expect_tensor(os_log_softmax(x, 0), want, 1e-5f, 1e-5f, "large log_softmax dim 0");
    free(want);
    os_step_reset();
}

/* ---- cross-entropy --------------------------------------------------------------------- */
static double naive_xent(const float *x, const int32_t *lab, int N, int K, double s)
{
    double tot = 0;
    for (int i = 0; i < N; i++) {
        double m = -INFINITY, z = 0;
        for (int k = 0; k < K; k++)
            m = fmax(m, x[i * K + k]);
        for (int k = 0; k < K; k++)
            z += exp(x[i * K + k] - m);
        for (int k = 0; k < K; k++) {
            double t = (1 - s) * (k == lab[i]) + s / K;
            tot -= t * (x[i * K + k] - m - log(z));
        }
    }
    return tot / N;
}

typedef struct { const int32_t *labels; float s; } xent_ctx;
static os_tensor *gc_xent(os_tensor *const *in, void *ctx)
{
    const xent_ctx *c = ctx;
    return os_cross_entropy(in[0], c->labels, c->s);
}

Test(softmax, cross_entropy_values)
{
    /* reference values from PyTorch 1.13 F.cross_entropy (mean), without and
     * with label_smoothing = 0.2 */
    os_tensor *x = os_tensor_new(2, (int[]){2, 3});
    os_tensor_from_host(x, (float[]){1, 2, 3, 0.5f, -1, 2});
    const int32_t lab[2] = {2, 0};
    os_tensor *l0 = os_cross_entropy(x, lab, 0.0f), *l2 = os_cross_entropy(x, lab, 0.2f);
    cr_expect(l0->ndim == 1 && l0->shape[0] == 1, "loss shape %s", os_shape_str(l0));
    cr_expect(fabsf(os_tensor_item(l0) - 1.0744586f) < 1e-5f, "loss %g", (double)os_tensor_item(l0));
    cr_expect(fabsf(os_tensor_item(l2) - 1.1744586f) < 1e-5f, "smoothed loss %g", (double)os_tensor_item(l2));
    /* uniform logits: log K whatever the smoothing */
    os_tensor *z = os_tensor_zeros(2, (int[]){4, 5});
    const int32_t lz[4] = {0, 4, 2, 1};
    cr_expect(fabsf(os_tensor_item(os_cross_entropy(z, lz, 0.3f)) - logf(5.0f)) < 1e-6f, "uniform logits");
    /* random logits against the naive formula */
    os_rng r;
    os_rng_seed(&r, 204);
    os_tensor *xr = ot_rand(&r, 2, (int[]){37, 11}, -6, 6);
    int32_t lr[37];
    for (int i = 0; i < 37; i++)
        lr[i] = (int32_t)os_rng_below(&r, 11);
    for (int k = 0; k < 3; k++) {
        float s = k * 0.15f;
        double want = naive_xent(xr->data, lr, 37, 11, s);
        float got = os_tensor_item(os_cross_entropy(xr, lr, s));
        cr_expect(fabs(got - want) < 1e-5 * (1 + fabs(want)), "xent s %g: %g want %g", (double)s, (double)got, want);
    }
    os_step_reset();
}

Test(softmax, cross_entropy_gradcheck)
{
    os_rng r;
    os_rng_seed(&r, 205);
    const int nk[][2] = {{5, 7}, {1, 3}, {4, 2}, {9, 10}};
    for (int c = 0; c < 4; c++) {
        os_tensor *x = tu_param(&r, 2, nk[c], -3, 3, 0);
        int32_t lab[16];
        for (int i = 0; i < nk[c][0]; i++)
            lab[i] = (int32_t)os_rng_below(&r, (uint32_t)nk[c][1]);
        os_tensor *in[1] = {x};
        for (int k = 0; k < 2; k++) {
            xent_ctx ctx = {.labels = lab, .s = k ? 0.1f : 0.0f};
            OT_GRADCHECK(gc_xent, &ctx, 1, in);
        }
        os_tensor_free(x);
        os_step_reset();
    }
}

/* The labels may be freed or reused right after the call: the op keeps a copy. */
Test(softmax, cross_entropy_keeps_its_labels)
{
    os_tensor *x = os_param_new("x", 2, (int[]){2, 3});
    memcpy(x->data, (float[]){1, 2, 3, 0.5f, -1, 2}, sizeof(float) * 6);
    int32_t lab[2] = {2, 0};
    os_tensor *loss = os_cross_entropy(x, lab, 0.0f);
    lab[0] = 0;
    lab[1] = 1;
    os_backward(loss);
    float g[6];
    double p0[3] = {exp(1.0), exp(2.0), exp(3.0)}, p1[3] = {exp(0.5), exp(-1.0), exp(2.0)};
    double z0 = p0[0] + p0[1] + p0[2], z1 = p1[0] + p1[1] + p1[2];
    for (int k = 0; k < 3; k++) {
        g[k] = (float)((p0[k] / z0 - (k == 2)) / 2);
        g[3 + k] = (float)((p1[k] / z1 - (k == 0)) / 2);
    }
    ot_expect_close(x->grad->data, g, 6, 1e-6f, 1e-5f, "xent grad with the original labels");
    os_tensor_free(x);
    os_step_reset();
}

Test(softmax, misuse_is_fatal)
{
    os_tensor *x = os_tensor_zeros(2, (int[]){3, 4});
    os_tensor *x3 = os_tensor_zeros(3, (int[]){2, 3, 4});
    const int32_t bad[3] = {0, 4, 1}, neg[3] = {0, 1, -1}, ok[3] = {0, 1, 2};
    TU_EXPECT_FATAL(os_cross_entropy(x, bad, 0), "cross_entropy", "label 4", "index 1", "K = 4", "[3,4]");
    TU_EXPECT_FATAL(os_cross_entropy(x, neg, 0), "cross_entropy", "label -1", "index 2", "K = 4");
    TU_EXPECT_FATAL(os_cross_entropy(x3, bad, 0), "cross_entropy", "[2,3,4]");
    TU_EXPECT_FATAL(os_cross_entropy(x, ok, 1.5f), "cross_entropy", "smoothing", "[3,4]");
    TU_EXPECT_FATAL(os_softmax(x, 2), "softmax", "dim 2", "[3,4]");
    TU_EXPECT_FATAL(os_log_softmax(x3, -4), "log_softmax", "dim -4", "[2,3,4]");
    os_step_reset();
}
