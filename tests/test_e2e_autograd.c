/* tests/test_e2e_autograd.c — the engine end to end: a tiny MLP
 * (linear-relu-linear + cross-entropy) learns a task no linear model can
 * (XOR of the signs of two coordinates, plus a third "far" class), with a
 * plain SGD loop written here. Also checks that from the second step on the
 * step arena neither grows nor raises its high-water mark (the first step
 * sizes it; the reset after it merges its chunks into one block). */
#include "tests/ops_test_util.h"

#include <criterion/logging.h>

#define E2E_N 192
#define E2E_HIDDEN 24
#define E2E_STEPS 300
#define E2E_LR 0.5f
#define E2E_LOSS_BOUND 0.05f

/* Points in 2-D: class 0/1 = XOR of the signs (|coords| in [0.3, 1]),
 * class 2 = points on a ring of radius 2.5 to 3. */
static void make_data(os_rng *r, float *x, int32_t *y)
{
    for (int i = 0; i < E2E_N; i++) {
        int c = i % 3;
        if (c < 2) {
            float a = 0.3f + 0.7f * os_rng_uniform(r), b = 0.3f + 0.7f * os_rng_uniform(r);
            int sa = os_rng_below(r, 2), sb = sa ^ c; /* c = 0: same signs, 1: different */
            x[2 * i] = sa ? a : -a;
            x[2 * i + 1] = sb ? b : -b;
        } else {
            float t = 6.2831853f * os_rng_uniform(r), rad = 2.5f + 0.5f * os_rng_uniform(r);
            x[2 * i] = rad * cosf(t);
            x[2 * i + 1] = rad * sinf(t);
        }
        y[i] = c;
    }
}

static void sgd(os_tensor *const *p, int n, float lr)
{
    for (int k = 0; k < n; k++) {
        for (long i = 0; i < os_numel(p[k]); i++)
            p[k]->data[i] -= lr * p[k]->grad->data[i];
        os_tensor_fill(p[k]->grad, 0.0f);
    }
}

static os_tensor *mlp(os_tensor *x, os_tensor *const *p)
{
    return os_linear(os_relu(os_linear(x, p[0], p[1])), p[2], p[3]);
}

Test(e2e, mlp_learns_and_step_memory_is_flat)
{
    os_rng r;
    os_rng_seed(&r, 301);
    static float xs[E2E_N * 2];
    static int32_t ys[E2E_N];
    make_data(&r, xs, ys);
    os_tensor *p[4] = {
        tu_param(&r, 2, (int[]){E2E_HIDDEN, 2}, -0.7f, 0.7f, 0),    /* 1/sqrt(2) */
        tu_param(&r, 1, (int[]){E2E_HIDDEN}, -0.1f, 0.1f, 0),
        tu_param(&r, 2, (int[]){3, E2E_HIDDEN}, -0.2f, 0.2f, 0),    /* 1/sqrt(24) */
        tu_param(&r, 1, (int[]){3}, -0.1f, 0.1f, 0),
    };
    float first = 0, last = 0;
    size_t hw = 0, grow = 0;
    for (int step = 0; step < E2E_STEPS; step++) {
        os_tensor *x = os_tensor_new(2, (int[]){E2E_N, 2});
        os_tensor_from_host(x, xs);
        os_tensor *loss = os_cross_entropy(mlp(x, p), ys, 0.0f);
        last = os_tensor_item(loss);
        if (step == 0)
            first = last;
        os_backward(loss);
        sgd(p, 4, E2E_LR);
        os_step_reset();
        if (step == 0) {
            hw = os_step_high_water();
            grow = os_step_grow_count();
        } else {
            cr_assert(os_step_high_water() == hw, "step %d: high water %zu, was %zu", step, os_step_high_water(), hw);
            cr_assert(os_step_grow_count() == grow, "step %d: arena grew (%zu, was %zu)", step,
                      os_step_grow_count(), grow);
        }
    }
    cr_log_info("e2e: loss %g -> %g, hw %zu grow %zu\n", (double)first, (double)last, hw, grow);
    cr_expect(first > 0.9f, "initial loss %g should be near log 3", (double)first);
    cr_expect(last < E2E_LOSS_BOUND, "loss %g after %d steps (first %g), want < %g", (double)last, E2E_STEPS,
              (double)first, (double)E2E_LOSS_BOUND);
    /* every training point classified correctly */
    bool old = os_set_grad_enabled(false);
    os_tensor *x = os_tensor_new(2, (int[]){E2E_N, 2});
    os_tensor_from_host(x, xs);
    os_tensor *logits = mlp(x, p);
    int correct = 0;
    for (int i = 0; i < E2E_N; i++) {
        const float *l = logits->data + 3 * i;
        int arg = l[1] > l[0] ? 1 : 0;
        arg = l[2] > l[arg] ? 2 : arg;
        correct += arg == ys[i];
    }
    cr_expect(correct == E2E_N, "train accuracy %d / %d", correct, E2E_N);
    os_set_grad_enabled(old);
    for (int k = 0; k < 4; k++)
        os_tensor_free(p[k]);
    os_step_reset();
}
