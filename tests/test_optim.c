/* tests/test_optim.c — optimizer API: state names, checkpoint round trip
 * through safetensors, the parallel kernel path, misuse. (Agreement with
 * torch.optim is in tests/test_ref.c.) */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <unistd.h>

#include "autograd/optim.h"
#include "tensor/backend.h"
#include "tensor/safetensors.h"
#include "tests/test_util.h"

static void two_params(os_params *g, os_rng *r)
{
    os_tensor *w = tu_param(r, 2, (int[]){4, 3}, -1, 1, 0);
    os_tensor *b = tu_param(r, 1, (int[]){3}, -1, 1, 0);
    snprintf(w->name, sizeof w->name, "fc.w");
    snprintf(b->name, sizeof b->name, "fc.b");
    os_params_add(g, w);
    os_params_add(g, b);
}

static void random_grads(const os_params *g, os_rng *r)
{
    for (int i = 0; i < g->n; i++)
        for (long j = 0; j < os_numel(g->t[i]); j++)
            g->t[i]->grad->data[j] = os_rng_normal(r);
}

Test(optim, state_names)
{
    os_rng r;
    os_rng_seed(&r, 1);
    os_params g = {0};
    two_params(&g, &r);
    char name[96];

    os_optim *o = os_optim_sgd(&g, &(os_sgd_config){.lr = 0.1f, .momentum = 0.9f, .weight_decay = 0.01f});
    cr_expect_str_eq(os_optim_kind(o), "sgd");
    cr_assert_eq(os_optim_state_count(o), 2);
    os_tensor *m1 = os_optim_state(o, 1, name, sizeof name);
    cr_expect_str_eq(name, "sgd.momentum.fc.b");
    cr_expect_eq(os_optim_state_find(o, "sgd.momentum.fc.b"), m1);
    cr_expect_null(os_optim_state_find(o, "sgd.momentum.fc"));
    cr_expect_null(os_optim_state_find(o, "adam.exp_avg.fc.b"));
    cr_expect(os_same_shape(m1, g.t[1]));
    /* first step: the buffer is the decayed gradient itself (torch) */
    random_grads(&g, &r);
    float g0 = g.t[1]->grad->data[0], p0 = g.t[1]->data[0];
    os_optim_step(o);
    cr_expect_float_eq(m1->data[0], g0 + 0.01f * p0, 1e-7);
    cr_expect_float_eq(g.t[1]->data[0], p0 - 0.1f * (g0 + 0.01f * p0), 1e-6);
    cr_expect_float_eq(g.t[1]->grad->data[0], g0, 0, "the gradient was modified");
    os_optim_set_lr(o, 0.5f);
    cr_expect_float_eq(os_optim_lr(o), 0.5f, 0);
    os_optim_free(o);

    o = os_optim_sgd(&g, &(os_sgd_config){.lr = 0.1f});
    cr_expect_eq(os_optim_state_count(o), 0, "plain SGD keeps no state");
    os_optim_free(o);

    o = os_optim_adam(&g, &(os_adam_config){.lr = 1e-3f, .beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-8f});
    cr_assert_eq(os_optim_state_count(o), 4);
    const char *want[4] = {"adam.exp_avg.fc.w", "adam.exp_avg_sq.fc.w", "adam.exp_avg.fc.b", "adam.exp_avg_sq.fc.b"};
    for (int i = 0; i < 4; i++) {
        os_tensor *t = os_optim_state(o, i, name, sizeof name);
        cr_expect_str_eq(name, want[i]);
        cr_expect_eq(os_optim_state_find(o, want[i]), t);
    }
    os_optim_free(o);
    os_params_free_all(&g);
}

static os_optim *make_opt(int adam, const os_params *g)
{
    if (adam)
        return os_optim_adam(g, &(os_adam_config){.lr = 0.05f, .beta1 = 0.5f, .beta2 = 0.999f,
                                                  .eps = 1e-8f, .weight_decay = 1e-3f});
    return os_optim_sgd(g, &(os_sgd_config){.lr = 0.1f, .momentum = 0.9f, .weight_decay = 3e-4f,
                                            .nesterov = 1});
}

/* Save params + optimizer state after 2 steps, load them into fresh objects,
 * take step 3 on both: the parameters agree bit for bit. */
static void checkpoint_round_trip(int adam)
{
    char dir[] = "/tmp/os_optim_XXXXXX";
    cr_assert(mkdtemp(dir));
    char path[64];
    snprintf(path, sizeof path, "%s/ckpt.safetensors", dir);

    os_rng r, rg;
    os_rng_seed(&r, 3);
    os_rng_seed(&rg, 4);
    os_params a = {0}, b = {0};
    two_params(&a, &r);
    two_params(&b, &r); /* other values; overwritten from the file */
    os_optim *oa = make_opt(adam, &a), *ob = make_opt(adam, &b), *oc = make_opt(adam, &b);
    for (int s = 0; s < 2; s++) {
        random_grads(&a, &rg);
        os_optim_step(oa);
    }

    os_st_writer *w = os_st_writer_new();
    char name[96], steps[32];
    for (int i = 0; i < a.n; i++)
        cr_assert_eq(os_st_add_tensor(w, a.t[i]->name, a.t[i]), 0);
    for (int i = 0; i < os_optim_state_count(oa); i++) {
        os_tensor *t = os_optim_state(oa, i, name, sizeof name);
        cr_assert_eq(os_st_add_tensor(w, name, t), 0, "%s", os_last_error());
    }
    snprintf(steps, sizeof steps, "%ld", os_optim_steps(oa));
    os_st_set_meta(w, "optim.steps", steps);
    cr_assert_eq(os_st_write(w, path), 0, "%s", os_last_error());
    os_st_writer_free(w);

    os_st_file *f = os_st_open(path);
    cr_assert_not_null(f, "%s", os_last_error());
    for (int i = 0; i < b.n; i++)
        cr_assert_eq(os_st_read_into(f, b.t[i]->name, b.t[i]), 0, "%s", os_last_error());
    os_optim *into[2] = {ob, oc};
    for (int k = 0; k < 2; k++)
        for (int i = 0; i < os_optim_state_count(into[k]); i++) {
            os_tensor *t = os_optim_state(into[k], i, name, sizeof name);
            cr_assert_eq(os_st_read_into(f, name, t), 0, "%s", os_last_error());
        }
    os_optim_set_steps(ob, atol(os_st_meta(f, "optim.steps")));
    os_st_close(f);
    cr_expect_eq(os_optim_steps(ob), 2);

    random_grads(&a, &rg);
    float keep[15];
    for (int i = 0; i < b.n; i++)
        os_tensor_copy(b.t[i]->grad, a.t[i]->grad);
    memcpy(keep, b.t[0]->data, 12 * sizeof(float));
    memcpy(keep + 12, b.t[1]->data, 3 * sizeof(float));
    os_optim_step(oa);
    os_optim_step(ob);
    for (int i = 0; i < a.n; i++)
        cr_expect_eq(memcmp(a.t[i]->data, b.t[i]->data, sizeof(float) * (size_t)os_numel(a.t[i])), 0,
                     "%s: resumed step differs", a.t[i]->name);
    /* the step count matters: oc has the state but believes it is at step 0 */
    memcpy(b.t[0]->data, keep, 12 * sizeof(float));
    memcpy(b.t[1]->data, keep + 12, 3 * sizeof(float));
    os_optim_step(oc);
    cr_expect_neq(memcmp(a.t[0]->data, b.t[0]->data, 12 * sizeof(float)), 0);

    os_optim_free(oa);
    os_optim_free(ob);
    os_optim_free(oc);
    os_params_free_all(&a);
    os_params_free_all(&b);
    unlink(path);
    rmdir(dir);
}

Test(optim, checkpoint_round_trip_sgd) { checkpoint_round_trip(0); }
Test(optim, checkpoint_round_trip_adam) { checkpoint_round_trip(1); }

/* A tensor large enough for the OpenMP path: the same numbers for 1 and 2
 * threads, and equal to the rule written out here. */
Test(optim, large_tensor_threads)
{
    os_rng r;
    os_rng_seed(&r, 9);
    int n = 100003;
    float *p0 = malloc(sizeof(float) * (size_t)n), *res[2];
    os_params g = {0};
    os_tensor *p = tu_param(&r, 1, &n, -1, 1, 0);
    os_params_add(&g, p);
    memcpy(p0, p->data, sizeof(float) * (size_t)n);
    for (int i = 0; i < n; i++)
        p->grad->data[i] = os_rng_normal(&r);
    int old = os_threads();
    for (int k = 0; k < 2; k++) {
        os_set_threads(k + 1);
        memcpy(p->data, p0, sizeof(float) * (size_t)n);
        os_optim *o = os_optim_adam(&g, &(os_adam_config){.lr = 0.01f, .beta1 = 0.9f, .beta2 = 0.99f,
                                                          .eps = 1e-8f, .weight_decay = 0.1f});
        os_optim_step(o);
        os_optim_step(o);
        os_optim_free(o);
        res[k] = malloc(sizeof(float) * (size_t)n);
        memcpy(res[k], p->data, sizeof(float) * (size_t)n);
    }
    os_set_threads(old);
    cr_expect_eq(memcmp(res[0], res[1], sizeof(float) * (size_t)n), 0, "thread count changed the result");
    int bad = 0;
    for (int i = 0; i < n; i++) {
        double x = p0[i], gi = p->grad->data[i], m = 0, v = 0;
        for (int t = 1; t <= 2; t++) {
            double gg = gi + 0.1 * x;
            m = 0.9 * m + 0.1 * gg;
            v = 0.99 * v + 0.01 * gg * gg;
            x -= 0.01 / (1 - pow(0.9, t)) * m / (sqrt(v) / sqrt(1 - pow(0.99, t)) + 1e-8);
        }
        bad += fabs(res[0][i] - x) > 1e-6 + 1e-5 * fabs(x);
    }
    cr_expect_eq(bad, 0, "%d elements differ from the written-out rule", bad);
    free(res[0]);
    free(res[1]);
    free(p0);
    os_params_free_all(&g);
}

Test(optim, clip_grad_norm_rule)
{
    os_rng r;
    os_rng_seed(&r, 5);
    os_params g = {0};
    two_params(&g, &r);
    for (int i = 0; i < 12; i++)
        g.t[0]->grad->data[i] = 1.0f; /* norm sqrt(12 + 3 * 4) = sqrt(24) */
    for (int i = 0; i < 3; i++)
        g.t[1]->grad->data[i] = -2.0f;
    float n = os_clip_grad_norm(&g, 10.0f);
    cr_expect_float_eq(n, sqrtf(24.0f), 1e-6);
    cr_expect_float_eq(g.t[0]->grad->data[0], 1.0f, 0, "clipped below max_norm");
    n = os_clip_grad_norm(&g, 1.0f);
    cr_expect_float_eq(n, sqrtf(24.0f), 1e-6);
    float c = 1.0f / (sqrtf(24.0f) + 1e-6f);
    cr_expect_float_eq(g.t[0]->grad->data[5], c, 1e-7);
    cr_expect_float_eq(g.t[1]->grad->data[2], -2.0f * c, 1e-7);
    os_params_zero_grad(&g);
    cr_expect_float_eq(os_clip_grad_norm(&g, 1.0f), 0.0f, 0, "zero gradients");
    os_params_free_all(&g);
    os_step_reset();
}

Test(optim, cosine_lr_ends)
{
    cr_expect_float_eq(os_cosine_lr(0.025f, 0.001f, 0, 50), 0.025f, 1e-9);
    cr_expect_float_eq(os_cosine_lr(0.025f, 0.001f, 25, 50), 0.013f, 1e-9);
    cr_expect_float_eq(os_cosine_lr(0.025f, 0.001f, 50, 50), 0.001f, 1e-9);
}

Test(optim, misuse)
{
    os_rng r;
    os_rng_seed(&r, 2);
    os_params g = {0};
    two_params(&g, &r);
    TU_EXPECT_FATAL(os_optim_sgd(&g, &(os_sgd_config){.lr = 0.1f, .nesterov = 1}), "optim_sgd", "Nesterov");
    TU_EXPECT_FATAL(os_optim_sgd(&g, &(os_sgd_config){.lr = -1.0f}), "optim_sgd", "lr -1");
    TU_EXPECT_FATAL(os_optim_adam(&g, &(os_adam_config){.lr = 1e-3f, .beta1 = 1.0f, .beta2 = 0.9f}),
                    "optim_adam", "betas (1, 0.9)");
    TU_EXPECT_FATAL(os_cosine_lr(0.1f, 0, 1, 0), "cosine_lr", "t_max 0");
    os_optim *o = os_optim_sgd(&g, &(os_sgd_config){.lr = 0.1f});
    os_tensor *extra = tu_param(&r, 1, (int[]){2}, 0, 1, 0);
    os_params_add(&g, extra);
    TU_EXPECT_FATAL(os_optim_step(o), "optim_step", "had 2 parameters", "now 3");
    TU_EXPECT_FATAL(os_optim_state(o, 0, NULL, 0), "optim_state", "out of range");
    os_optim_free(o);
    os_params_free_all(&g);
}
