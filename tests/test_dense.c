/* tests/test_dense.c — matmul, linear, flatten, reshape, select: values against
 * naive loops, finite-difference gradients, views, misuse. */
#include "tests/ops_test_util.h"

/* C [M,N] = A [M,K] B [K,N], naive, double accumulation */
static void naive_mm(const float *A, const float *B, float *C, int M, int K, int N)
{
    for (int m = 0; m < M; m++)
        for (int n = 0; n < N; n++) {
            double s = 0;
            for (int k = 0; k < K; k++)
                s += (double)A[m * K + k] * B[k * N + n];
            C[m * N + n] = (float)s;
        }
}

static os_tensor *gc_matmul(os_tensor *const *in, void *ctx) { return os_matmul(in[0], in[1]); }
static os_tensor *gc_linear(os_tensor *const *in, void *ctx) { return os_linear(in[0], in[1], in[2]); }
static os_tensor *gc_linear_nobias(os_tensor *const *in, void *ctx) { return os_linear(in[0], in[1], NULL); }

static const int mkn[][3] = {{3, 5, 4}, {1, 7, 1}, {6, 1, 3}, {4, 4, 4}, {2, 9, 5}};

Test(dense, matmul_forward_and_gradcheck)
{
    os_rng r;
    os_rng_seed(&r, 101);
    for (int c = 0; c < 5; c++) {
        int M = mkn[c][0], K = mkn[c][1], N = mkn[c][2];
        os_tensor *a = tu_param(&r, 2, (int[]){M, K}, -1, 1, 0), *b = tu_param(&r, 2, (int[]){K, N}, -1, 1, 0);
        float want[64];
        naive_mm(a->data, b->data, want, M, K, N);
        os_tensor *y = os_matmul(a, b);
        cr_expect(y->shape[0] == M && y->shape[1] == N, "matmul shape %s", os_shape_str(y));
        ot_expect_tensor(y, want, 1e-5f, 1e-5f, "matmul");
        os_tensor *in[2] = {a, b};
        OT_GRADCHECK(gc_matmul, NULL, 2, in);
        os_tensor_free(a);
        os_tensor_free(b);
        os_step_reset();
    }
}

/* Big enough to split the rows over threads; also a strided (view) operand. */
Test(dense, matmul_large_and_views)
{
    os_rng r;
    os_rng_seed(&r, 102);
    const int M = 128, K = 257, N = 65;
    os_tensor *a = ot_rand(&r, 2, (int[]){M, K}, -1, 1), *b = ot_rand(&r, 2, (int[]){K, N}, -1, 1);
    float *want = malloc(sizeof(float) * M * N);
    naive_mm(a->data, b->data, want, M, K, N);
    ot_expect_tensor(os_matmul(a, b), want, 1e-4f, 1e-4f, "large matmul");
    /* a as the channel view [M, K] of a [M, K + 3] tensor */
    os_tensor *wide = ot_rand(&r, 2, (int[]){M, K + 3}, -1, 1);
    os_tensor *av = os_view_channels(wide, 2, K);
    float *ah = ot_host(av);
    naive_mm(ah, b->data, want, M, K, N);
    ot_expect_tensor(os_matmul(av, b), want, 1e-4f, 1e-4f, "matmul of a view");
    free(ah);
    free(want);
    os_step_reset();
}

Test(dense, linear_forward_and_gradcheck)
{
    os_rng r;
    os_rng_seed(&r, 103);
    for (int c = 0; c < 5; c++) {
        int Nb = mkn[c][0], F = mkn[c][1], O = mkn[c][2];
        os_tensor *x = tu_param(&r, 2, (int[]){Nb, F}, -1, 1, 0);
        os_tensor *w = tu_param(&r, 2, (int[]){O, F}, -1, 1, 0);
        os_tensor *b = tu_param(&r, 1, (int[]){O}, -1, 1, 0);
        float want[64], want_nb[64];
        for (int n = 0; n < Nb; n++)
            for (int o = 0; o < O; o++) {
                double s = 0;
                for (int f = 0; f < F; f++)
                    s += (double)x->data[n * F + f] * w->data[o * F + f];
                want_nb[n * O + o] = (float)s;
                want[n * O + o] = (float)(s + b->data[o]);
            }
        os_tensor *y = os_linear(x, w, b);
        cr_expect(y->shape[0] == Nb && y->shape[1] == O, "linear shape %s", os_shape_str(y));
        ot_expect_tensor(y, want, 1e-5f, 1e-5f, "linear");
        ot_expect_tensor(os_linear(x, w, NULL), want_nb, 1e-5f, 1e-5f, "linear without bias");
        os_tensor *in[3] = {x, w, b};
        OT_GRADCHECK(gc_linear, NULL, 3, in);
        OT_GRADCHECK(gc_linear_nobias, NULL, 2, in);
        os_tensor_free(x);
        os_tensor_free(w);
        os_tensor_free(b);
        os_step_reset();
    }
}

/* Bias gradient over many rows (the row-sum kernel's threaded path). */
Test(dense, linear_bias_grad_large)
{
    os_rng r;
    os_rng_seed(&r, 104);
    const int Nb = 300, F = 3, O = 301;
    os_tensor *x = tu_param(&r, 2, (int[]){Nb, F}, -1, 1, 0);
    os_tensor *w = tu_param(&r, 2, (int[]){O, F}, -1, 1, 0);
    os_tensor *b = tu_param(&r, 1, (int[]){O}, -1, 1, 0);
    os_tensor *y = os_linear(x, w, b);
    os_tensor *dy = ot_rand(&r, 2, (int[]){Nb, O}, -1, 1);
    os_backward_seeded(y, dy);
    float want[301];
    for (int o = 0; o < O; o++) {
        double s = 0;
        for (int n = 0; n < Nb; n++)
            s += dy->data[n * O + o];
        want[o] = (float)s;
    }
    ot_expect_close(b->grad->data, want, O, 1e-4f, 1e-5f, "bias grad");
    os_tensor_free(x);
    os_tensor_free(w);
    os_tensor_free(b);
    os_step_reset();
}

/* ---- flatten, reshape, select ------------------------------------------------------------ */
static os_tensor *gc_flatten(os_tensor *const *in, void *ctx) { return os_flatten(in[0]); }
static os_tensor *gc_reshape(os_tensor *const *in, void *ctx)
{
    /* reshape, then an op that reads the view, then reshape back */
    os_tensor *y = os_reshape(in[0], 2, (int[]){5, 6});
    return os_reshape(os_mul(y, y), 3, (int[]){3, 2, 5});
}
static os_tensor *gc_select(os_tensor *const *in, void *ctx)
{
    const int *i = ctx;
    os_tensor *row = os_select(in[0], i[0]);
    /* selecting twice from the same tensor: gradients must add */
    return os_add(os_mul(row, row), os_select(in[0], i[1]));
}

Test(dense, flatten_reshape_views_and_gradcheck)
{
    os_rng r;
    os_rng_seed(&r, 111);
    os_tensor *x = tu_param4(&r, 2, 3, 5, 1, -1, 1, 0);
    os_tensor *f = os_flatten(x);
    cr_expect(f->ndim == 2 && f->shape[0] == 2 && f->shape[1] == 15, "flatten shape %s", os_shape_str(f));
    cr_expect(f->data == x->data, "flatten of a contiguous tensor is a view");
    os_tensor *in[1] = {x};
    OT_GRADCHECK(gc_flatten, NULL, 1, in);
    os_tensor *x3 = tu_param(&r, 3, (int[]){2, 3, 5}, -1, 1, 0);
    os_tensor *in3[1] = {x3};
    OT_GRADCHECK(gc_reshape, NULL, 1, in3);
    /* reshape of a strided view copies first: values in logical order */
    os_tensor *t = ot_rand(&r, 4, (int[]){2, 4, 3, 3}, -1, 1);
    os_tensor *v = os_view_channels(t, 1, 2);
    float *vh = ot_host(v);
    os_tensor *fv = os_flatten(v);
    cr_expect(fv->shape[0] == 2 && fv->shape[1] == 18, "flatten of a view %s", os_shape_str(fv));
    ot_expect_tensor(fv, vh, 0, 0, "flatten of a view");
    free(vh);
    os_tensor_free(x);
    os_tensor_free(x3);
    os_step_reset();
}

Test(dense, select_views_and_gradcheck)
{
    os_rng r;
    os_rng_seed(&r, 112);
    os_tensor *x2 = tu_param(&r, 2, (int[]){4, 7}, -1, 1, 0);
    os_tensor *row = os_select(x2, 2);
    cr_expect(row->ndim == 1 && row->shape[0] == 7 && row->data == x2->data + 14, "row view %s",
              os_shape_str(row));
    os_tensor *el = os_select(row, 3);
    cr_expect(el->ndim == 1 && el->shape[0] == 1 && os_tensor_item(el) == x2->data[17], "element view");
    os_tensor *x4 = tu_param4(&r, 3, 2, 3, 4, -1, 1, 0);
    os_tensor *s4 = os_select(x4, 1);
    cr_expect(s4->ndim == 3 && s4->shape[0] == 2 && s4->shape[2] == 4, "select 4-D %s", os_shape_str(s4));
    ot_expect_tensor(s4, x4->data + 24, 0, 0, "select 4-D values");
    os_tensor *x1 = tu_param(&r, 1, (int[]){5}, -1, 1, 0);
    int i2[2] = {2, 0}, i4[2] = {1, 1}, i1[2] = {4, 1};
    os_tensor *in2[1] = {x2}, *in4[1] = {x4}, *in1[1] = {x1};
    OT_GRADCHECK(gc_select, i2, 1, in2);
    OT_GRADCHECK(gc_select, i4, 1, in4);
    OT_GRADCHECK(gc_select, i1, 1, in1);
    os_tensor_free(x1);
    os_tensor_free(x2);
    os_tensor_free(x4);
    os_step_reset();
}

Test(dense, misuse_is_fatal)
{
    os_tensor *a = os_tensor_new(2, (int[]){3, 4}), *b = os_tensor_new(2, (int[]){5, 2});
    os_tensor *v = os_tensor_new(1, (int[]){4}), *bias = os_tensor_new(1, (int[]){3});
    os_tensor *w = os_tensor_new(2, (int[]){2, 4});
    TU_EXPECT_FATAL(os_matmul(a, b), "matmul", "[3,4]", "[5,2]");
    TU_EXPECT_FATAL(os_matmul(a, v), "matmul", "[3,4]", "[4]");
    TU_EXPECT_FATAL(os_linear(a, b, NULL), "linear", "[3,4]", "[5,2]");
    TU_EXPECT_FATAL(os_linear(v, w, NULL), "linear", "[4]", "[2,4]");
    TU_EXPECT_FATAL(os_linear(a, w, bias), "linear", "bias [3]", "[2,4]");
    TU_EXPECT_FATAL(os_reshape(a, 2, (int[]){5, 2}), "reshape", "[3,4]", "[5,2]");
    TU_EXPECT_FATAL(os_reshape(a, 5, (int[]){1, 1, 3, 4, 1}), "reshape", "[3,4]", "ndim 5");
    TU_EXPECT_FATAL(os_select(a, 3), "select", "index 3", "[3,4]");
    TU_EXPECT_FATAL(os_select(a, -1), "select", "index -1", "[3,4]");
    os_step_reset();
}
