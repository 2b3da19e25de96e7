/* tests/test_view.c — differentiable views (os_offset_hw) and the gradient pool. */
#include "tests/test_util.h"

static os_tensor *gc_offset(os_tensor *const *in, void *ctx)
{
    (void)ctx;
    /* a consumer that weights every element differently: conv 1x1 stride 2 */
    return os_conv2d(os_offset_hw(in[0], 1, 1), in[1], NULL, 2, 0, 1, 1);
}

Test(view, offset_hw_gradcheck)
{
    os_rng r;
    os_rng_seed(&r, 5);
    os_tensor *in[2] = {tu_param4(&r, 2, 3, 6, 6, -1, 1, 0), tu_param4(&r, 2, 3, 1, 1, -1, 1, 0)};
    TU_GRADCHECK(gc_offset, NULL, 2, in, 1e-2f, 1e-3f, 1e-2f);
    os_tensor_free(in[0]);
    os_tensor_free(in[1]);
    os_step_reset();
}

Test(view, offset_hw_values_and_misuse)
{
    os_tensor *x = os_tensor_new4(1, 1, 3, 3);
    for (int i = 0; i < 9; i++)
        x->data[i] = (float)i;
    os_tensor *v = os_offset_hw(x, 1, 2);
    cr_expect_eq(v->shape[2], 2);
    cr_expect_eq(v->shape[3], 1);
    float h[2];
    os_tensor_to_host(v, h);
    cr_expect_float_eq(h[0], 5.0f, 0);
    cr_expect_float_eq(h[1], 8.0f, 0);
    TU_EXPECT_FATAL(os_offset_hw(x, 3, 0), "offset_hw", "[1,1,3,3]");
    os_step_reset();
}

/* Gradients of activations are pooled: a deep chain of same-shaped ops needs
 * a handful of gradient buffers, not one per op. */
Test(view, gradient_pool_bounds_memory)
{
    os_rng r;
    os_rng_seed(&r, 9);
    os_tensor *w = tu_param4(&r, 1, 8, 16, 16, 0.5f, 1.5f, 0);
    size_t hw[2];
    for (int depth = 0; depth < 2; depth++) {
        os_tensor *y = w;
        for (int i = 0; i < (depth ? 64 : 32); i++)
            y = os_tanh(y);
        os_tensor *s = os_global_avg_pool(y);
        os_backward_seeded(s, os_tensor_zeros(2, s->shape));
        hw[depth] = os_arena_used(os_step_arena(OS_CPU));
        os_step_reset();
    }
    /* twice the depth: 32 more activations (8 KiB each), but no more gradients */
    size_t act = 8 * 16 * 16 * sizeof(float);
    cr_expect(hw[1] - hw[0] <= 32 * act + 4096, "arena grew by %zu for 32 activations of %zu", hw[1] - hw[0], act);
    os_tensor_free(w);
}
