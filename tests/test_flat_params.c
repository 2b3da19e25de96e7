/* tests/test_flat_params.c — parameter groups in one flat buffer
 * (os_params_flatten): values and gradients kept, tensors are views, the
 * optimizers give the per-parameter results bit for bit (elementwise kernels
 * over the same numbers), clipping gives the same norm. */
#include "tests/ops_test_util.h"
#include "autograd/optim.h"

#include <math.h>

static void make_group(os_params *g, uint64_t seed)
{
    os_rng r;
    os_rng_seed(&r, seed);
    static const int shapes[][4] = {{3, 2, 3, 3}, {7, 1, 1, 1}, {5, 4, 1, 1}, {1, 1, 1, 1}};
    for (int i = 0; i < 4; i++) {
        os_tensor *t = tu_param(&r, i == 1 ? 1 : 4, shapes[i], -1, 1, 0);
        snprintf(t->name, sizeof t->name, "p%d", i);
        for (long k = 0; k < os_numel(t); k++)
            t->grad->data[k] = os_rng_uniform(&r) - 0.5f;
        os_params_add(g, t);
    }
}

static void expect_same(const os_params *a, const os_params *b, const char *what)
{
    for (int i = 0; i < a->n; i++) {
        cr_expect(!memcmp(a->t[i]->data, b->t[i]->data, sizeof(float) * (size_t)os_numel(a->t[i])), "%s: %s",
                  what, a->t[i]->name);
        cr_expect(!memcmp(a->t[i]->grad->data, b->t[i]->grad->data, sizeof(float) * (size_t)os_numel(a->t[i])),
                  "%s: grad of %s", what, a->t[i]->name);
    }
}

Test(flat_params, views_keep_values_and_gradients)
{
    os_params a = {0}, b = {0};
    make_group(&a, 1);
    make_group(&b, 1);
    os_params_flatten(&b);
    cr_assert(b.flat && b.flat_grad);
    expect_same(&a, &b, "after flatten");
    for (int i = 0; i < b.n; i++) {
        long off = b.t[i]->data - b.flat->data;
        cr_expect(off >= 0 && off % 16 == 0 && off + os_numel(b.t[i]) <= os_numel(b.flat), "p%d at %ld", i, off);
        cr_expect_eq(b.t[i]->grad->data - b.flat_grad->data, off);
    }
    os_params_flatten(&b); /* a second call: nothing */
    expect_same(&a, &b, "after a second flatten");
    os_params_zero_grad(&b);
    for (long k = 0; k < os_numel(b.flat_grad); k++)
        cr_assert_eq(b.flat_grad->data[k], 0.0f);
    TU_EXPECT_FATAL(os_params_add(&b, os_param_new("late", 1, (int[]){2})), "params_add", "flattened");
    os_params_free_all(&a);
    os_params_free_all(&b);
}

Test(flat_params, optimizers_and_clip_as_per_parameter)
{
    for (int kind = 0; kind < 2; kind++) {
        os_params a = {0}, b = {0};
        make_group(&a, 2);
        make_group(&b, 2);
        os_params_flatten(&b);
        os_optim *oa, *ob;
        if (kind == 0) {
            os_sgd_config c = {.lr = 0.1f, .momentum = 0.9f, .weight_decay = 3e-4f, .nesterov = 1};
            oa = os_optim_sgd(&a, &c);
            ob = os_optim_sgd(&b, &c);
        } else {
            os_adam_config c = {.lr = 3e-3f, .beta1 = 0.5f, .beta2 = 0.999f, .eps = 1e-8f, .weight_decay = 1e-3f};
            oa = os_optim_adam(&a, &c);
            ob = os_optim_adam(&b, &c);
        }
        for (int s = 0; s < 3; s++) {
            os_optim_step(oa);
            os_optim_step(ob);
        }
        expect_same(&a, &b, kind ? "adam" : "sgd");
        char na[128], nb[128];
        for (int i = 0; i < os_optim_state_count(oa); i++) {
            os_tensor *sa = os_optim_state(oa, i, na, sizeof na), *sb = os_optim_state(ob, i, nb, sizeof nb);
            cr_expect_str_eq(na, nb);
            cr_expect(!memcmp(sa->data, sb->data, sizeof(float) * (size_t)os_numel(sa)), "state %s", na);
        }
        float norm_a = os_clip_grad_norm(&a, 0.5f), norm_b = os_clip_grad_norm(&b, 0.5f);
        cr_expect(fabsf(norm_a - norm_b) <= 1e-6f * norm_a, "norm %g vs %g", (double)norm_a, (double)norm_b);
        for (int i = 0; i < a.n; i++)
            ot_expect_close(b.t[i]->grad->data, a.t[i]->grad->data, os_numel(a.t[i]), 1e-7f, 1e-6f, "clipped");
        os_optim_free(oa);
        os_optim_free(ob);
        os_params_free_all(&a);
        os_params_free_all(&b);
        os_step_reset();
    }
}
