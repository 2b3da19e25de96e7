/* tests/test_count.c — cost counters (ops/count.h): multiply-adds and
 * parameters of a small conv + linear network against hand-computed values,
 * a parameter read twice counts once, deltas with os_count_now, windows are
 * independent, per context, and independent of grad mode; misuse is fatal. */
#include "tests/test_util.h"
#include "tensor/context.h"
#include "ops/count.h"

typedef struct {
    os_tensor *w1, *b1, *g, *be, *dw, *fc, *fb, *alpha, *m; /* 9 parameters */
    os_tensor *rm, *rv;
} net;

static void net_init(net *n)
{
    os_rng r;
    os_rng_seed(&r, 3);
    n->w1 = tu_param4(&r, 4, 3, 3, 3, -0.5f, 0.5f, 0);                 /* 108 */
    n->b1 = tu_param(&r, 1, (int[]){4}, -0.1f, 0.1f, 0);               /* 4 */
    n->g = tu_param(&r, 1, (int[]){4}, 0.5f, 1.5f, 0);                 /* 4 */
    n->be = tu_param(&r, 1, (int[]){4}, -0.1f, 0.1f, 0);               /* 4 */
    n->dw = tu_param4(&r, 4, 1, 3, 3, -0.5f, 0.5f, 0);                 /* 36 */
    n->fc = tu_param(&r, 2, (int[]){5, 4}, -0.5f, 0.5f, 0);            /* 20 */
    n->fb = tu_param(&r, 1, (int[]){5}, -0.1f, 0.1f, 0);               /* 5 */
    n->alpha = tu_param(&r, 1, (int[]){3}, -0.1f, 0.1f, 0);            /* 3 */
    n->m = tu_param(&r, 2, (int[]){4, 6}, -0.5f, 0.5f, 0);             /* 24 */
    n->rm = os_tensor_new_persistent(OS_CPU, 1, (int[]){4});
    n->rv = os_tensor_new_persistent(OS_CPU, 1, (int[]){4});
    os_tensor_fill(n->rv, 1.0f);
}

static void net_free(net *n)
{
    os_tensor *t[] = {n->w1, n->b1, n->g, n->be, n->dw, n->fc, n->fb, n->alpha, n->m, n->rm, n->rv};
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
        os_tensor_free(t[i]);
}

/* Hand-computed costs, x [2,3,8,8]:
 *   conv 3->4, 3x3, pad 1     [2,4,8,8]  2*4*8*8 * 3*3*3 = 13824 MACs, w1 108 + b1 4
 *   batch norm (train)                    gamma 4 + beta 4 (running stats: not parameters)
 *   relu
 *   depthwise 3x3, groups 4   [2,4,8,8]  2*4*8*8 * 1*3*3 = 4608 MACs, dw 36
 *   the same depthwise again  [2,4,8,8]  4608 MACs, dw already counted
 *   max pool 2, GAP           [2,4]
 *   linear 4->5               [2,5]      2*4*5 = 40 MACs, fc 20 + fb 5
 *   softmax(alpha)                        alpha 3
 *   matmul [2,4] x [4,6]                  2*4*6 = 48 MACs, m 24
 * total 23128 MACs, 208 parameter elements in 9 tensors */
#define MACS_CONV1 13824
#define PARAMS_CONV1 112
#define MACS_DW 4608
#define TOTAL_MACS (13824 + 2 * 4608 + 40 + 48)
#define TOTAL_PARAMS 208

static os_cost mid1, mid2, mid3;

static os_tensor *forward(net *n, os_tensor *x)
{
    os_tensor *h = os_conv2d(x, n->w1, n->b1, 1, 1, 1, 1);
    if (os_counting())
        os_count_now(&mid1);
    h = os_relu(os_batch_norm(h, n->g, n->be, n->rm, n->rv, 1, 0.1f, 1e-5f));
    h = os_conv2d(h, n->dw, NULL, 1, 1, 1, 4);
    if (os_counting())
        os_count_now(&mid2);
    h = os_conv2d(h, n->dw, NULL, 1, 1, 1, 4);
    if (os_counting())
        os_count_now(&mid3);
    h = os_global_avg_pool(os_max_pool2d(h, 2, 2, 0));
    os_tensor *logits = os_linear(h, n->fc, n->fb);
    os_tensor *a = os_softmax(n->alpha, 0);
    os_tensor *mm = os_matmul(h, n->m);
    (void)a;
    (void)mm;
    return os_cross_entropy(logits, (int32_t[]){1, 4}, 0.0f);
}

static os_tensor *input(void)
{
    os_tensor *x = os_tensor_new4(2, 3, 8, 8);
    for (long i = 0; i < os_numel(x); i++)
        x->data[i] = (float)((i * 7) % 11) / 11.0f - 0.5f;
    return x;
}

Test(count, conv_linear_net_exact)
{
    net n;
    net_init(&n);
    os_tensor *x = input();
    os_count_begin();
    cr_expect(os_counting());
    os_tensor *loss = forward(&n, x);
    os_cost c;
    os_count_now(&c);
    os_count_end(&c);
    cr_expect_not(os_counting());
    cr_expect_eq(c.macs, TOTAL_MACS, "macs %lld", (long long)c.macs);
    cr_expect_eq(c.params, TOTAL_PARAMS, "params %lld", (long long)c.params);
    cr_expect_eq(c.param_tensors, 9);
    /* deltas around parts of the pass */
    cr_expect_eq(mid1.macs, MACS_CONV1);
    cr_expect_eq(mid1.params, PARAMS_CONV1);
    cr_expect_eq(mid2.macs - mid1.macs, MACS_DW);
    cr_expect_eq(mid2.params - mid1.params, 8 + 36, "bn gamma, beta and the depthwise weight");
    cr_expect_eq(mid3.macs - mid2.macs, MACS_DW, "the second use adds its MACs");
    cr_expect_eq(mid3.params - mid2.params, 0, "the second use of dw adds no parameters");
    cr_expect_eq(mid3.param_tensors - mid2.param_tensors, 0);

    /* backward adds nothing (it runs kernels, not ops) */
    os_count_begin();
    os_backward(loss);
    os_count_end(&c);
    cr_expect_eq(c.macs, 0);
    cr_expect_eq(c.params, 0);
    os_step_reset();

    /* outside a window nothing is counted; a new window counts from zero */
    forward(&n, input());
    os_step_reset();
    os_count_begin();
    os_count_now(&c);
    cr_expect_eq(c.macs, 0);
    cr_expect_eq(c.params, 0);
    /* grad mode off, frozen parameters: the same costs */
    bool old = os_set_grad_enabled(false);
    n.w1->flags &= ~(unsigned)OS_REQUIRES_GRAD;
    forward(&n, input());
    os_count_end(&c);
    os_set_grad_enabled(old);
    cr_expect_eq(c.macs, TOTAL_MACS);
    cr_expect_eq(c.params, TOTAL_PARAMS);
    cr_expect_eq(c.param_tensors, 9);
    os_step_reset();
    net_free(&n);
}

Test(count, views_of_parameters_count_through_the_op)
{
    os_rng r;
    os_rng_seed(&r, 9);
    os_tensor *a = tu_param(&r, 2, (int[]){4, 5}, -1, 1, 0); /* 20 */
    os_count_begin();
    os_tensor *row = os_select(a, 2);               /* counts a */
    os_tensor *flat = os_reshape(a, 1, (int[]){20}); /* a again: nothing new */
    os_relu(row);                                    /* a view: not a parameter */
    os_relu(flat);
    os_cost c;
    os_count_end(&c);
    cr_expect_eq(c.params, 20);
    cr_expect_eq(c.param_tensors, 1);
    cr_expect_eq(c.macs, 0);
    os_step_reset();
    os_tensor_free(a);
}

Test(count, many_parameters_grow_the_set)
{
    enum { NP = 1000 };
    static os_tensor *p[NP];
    os_rng r;
    os_rng_seed(&r, 11);
    long want = 0;
    for (int i = 0; i < NP; i++) {
        int len = 1 + i % 3;
        p[i] = tu_param(&r, 1, (int[]){len}, -1, 1, 0);
        want += len;
    }
    for (int round = 0; round < 2; round++) {
        os_count_begin();
        for (int i = 0; i < NP; i++) {
            os_relu(p[i]);
            os_relu(p[(i * 7) % NP]); /* every one read twice */
        }
        os_cost c;
        os_count_end(&c);
        cr_expect_eq(c.param_tensors, NP, "round %d", round);
        cr_expect_eq(c.params, want, "round %d", round);
        os_step_reset();
    }
    for (int i = 0; i < NP; i++)
        os_tensor_free(p[i]);
}

Test(count, windows_are_per_context)
{
    net n;
    net_init(&n);
    os_count_begin();
    os_context *B = os_context_new();
    os_context_use(B);
    cr_expect_not(os_counting(), "B has no window open");
    forward(&n, input()); /* counted nowhere */
    os_step_reset();
    os_count_begin();
    os_linear(os_tensor_zeros(2, (int[]){3, 4}), n.fc, NULL);
    os_cost cb;
    os_count_end(&cb);
    cr_expect_eq(cb.macs, 3 * 4 * 5);
    cr_expect_eq(cb.params, 20);
    os_context_use(NULL);
    os_context_free(B);
    cr_expect(os_counting());
    os_cost ca;
    os_count_end(&ca);
    cr_expect_eq(ca.macs, 0, "B's ops did not count in the default context");
    cr_expect_eq(ca.params, 0);
    os_step_reset();
    net_free(&n);
}

Test(count, misuse_is_fatal)
{
    os_cost c;
    TU_EXPECT_FATAL(os_count_end(&c), "count_end", "no counting window");
    TU_EXPECT_FATAL(os_count_now(&c), "count_now", "no counting window");
    os_count_begin();
    TU_EXPECT_FATAL(os_count_begin(), "count_begin", "already open");
    os_count_end(NULL);
    TU_EXPECT_FATAL(os_count_end(NULL), "count_end");
}
