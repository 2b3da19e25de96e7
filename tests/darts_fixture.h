/* tests/darts_fixture.h — the DARTS supernet PyTorch fixture
 * (tests/ref/fixtures/supernet_darts.safetensors, made by tests/ref/) read
 * into a net, its batches and the darts strategy, with the tolerances its
 * comparisons use: shared by the CPU parity test (test_supernet_parity.c)
 * and the same check on every CUDA backend (test_cuda_parity.c). */
#ifndef OS_TESTS_DARTS_FIXTURE_H
#define OS_TESTS_DARTS_FIXTURE_H

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "tests/test_util.h"
#include "tests/ref_util.h"
#include "tensor/safetensors.h"
#include "autograd/optim.h"
#include "supernet/spaces/spaces.h"
#include "search/darts.h"

#define FIXTURE "tests/ref/fixtures/supernet_darts.safetensors"
#define ATOL 1e-3 /* times max|ref| of the tensor */
#define RTOL 1e-3
#define L2_TOL 1e-3

typedef struct {
    os_st_file *f;
    os_net net;
    float *x[2];
    int32_t *y[2];
    os_batch train, val;
} fixture;

static int starts_with(const char *s, const char *p) { return !strncmp(s, p, strlen(p)); }

/* builds the net, overwrites every weight and alpha from the fixture, and
 * checks that the fixture holds no weight the net lacks */
static void fixture_load(fixture *fx)
{
    memset(fx, 0, sizeof *fx);
    fx->f = os_st_open(FIXTURE);
    cr_assert_not_null(fx->f, "%s (tests run from the repository root; `make ref` makes the fixture)",
                       os_last_error());
    os_space_opts o = {.cells = 3, .channels = 4, .in_c = 3, .in_h = 8, .in_w = 8, .num_classes = 10, .seed = 1};
    cr_assert_eq(os_space_cifar_cell.build(&fx->net, &o), 0, "%s", os_last_error());
    const os_params *groups[2] = {&fx->net.weights, &fx->net.arch};
    int loaded = 0;
    for (int g = 0; g < 2; g++)
        for (int i = 0; i < groups[g]->n; i++, loaded++) {
            os_tensor *t = groups[g]->t[i];
            cr_assert_eq(os_st_read_into(fx->f, t->name, t), 0, "%s", os_last_error());
        }
    int in_file = 0;
    for (int i = 0; i < os_st_count(fx->f); i++) {
        const char *n = os_st_at(fx->f, i)->name;
        if (!starts_with(n, "grad/") && !starts_with(n, "alpha_grad") && !starts_with(n, "x_") &&
            !starts_with(n, "y_") && !starts_with(n, "loss_"))
            in_file++;
    }
    cr_assert_eq(in_file, loaded, "the fixture has %d weights and alphas, the net %d", in_file, loaded);
    cr_assert_eq(fx->net.arch.n, 28, "%d alphas", fx->net.arch.n);
    const char *xs[2] = {"x_train", "x_val"}, *ys[2] = {"y_train", "y_val"};
    for (int b = 0; b < 2; b++) {
        fx->x[b] = ref_read_f32(fx->f, xs[b], 2L * 3 * 8 * 8);
        fx->y[b] = ref_read_i32(fx->f, ys[b], 2);
    }
    fx->train = (os_batch){.x = fx->x[0], .y = fx->y[0], .n = 2};
    fx->val = (os_batch){.x = fx->x[1], .y = fx->y[1], .n = 2};
}

static void fixture_free(fixture *fx)
{
    for (int b = 0; b < 2; b++) {
        free(fx->x[b]);
        free(fx->y[b]);
    }
    os_net_free(&fx->net);
    os_st_close(fx->f);
    os_step_reset();
}

/* Compares every tensor of a group with "<prefix><name>" in the fixture under
 * the rule above; reports each failing tensor and returns the relative L2
 * error over the whole group. */
static double compare_group(os_st_file *f, const char *prefix, const os_params *g, int use_grad)
{
    double worst = 0, d2 = 0, r2 = 0;
    char worst_msg[256] = "";
    for (int i = 0; i < g->n; i++) {
        os_tensor *t = use_grad ? g->t[i]->grad : g->t[i];
        char key[96];
        snprintf(key, sizeof key, "%s%s", prefix, g->t[i]->name);
        long n = os_numel(g->t[i]);
        float *ref = ref_read_f32(f, key, n);
        float *got = malloc(sizeof(float) * (size_t)n);
        if (t)
            os_tensor_to_host(t, got);
        else
            memset(got, 0, sizeof(float) * (size_t)n); /* no gradient buffer: zero */
        double amax = 0;
        for (long j = 0; j < n; j++)
            amax = fmax(amax, fabs(ref[j]));
        double tw = 0;
        long at = 0, bad = 0;
        for (long j = 0; j < n; j++) {
            double diff = fabs((double)got[j] - ref[j]);
            double viol = diff / (ATOL * amax + RTOL * fabs(ref[j]) + 1e-30);
            d2 += diff * diff;
            r2 += (double)ref[j] * ref[j];
            if (!(viol <= 1.0))
                bad++;
            if (!(viol <= tw)) {
                tw = viol;
                at = j;
            }
        }
        cr_expect_eq(bad, 0, "%s: %ld of %ld elements off; worst [%ld]: ours %.8g torch %.8g (max|torch| %.3g)",
                     key, bad, n, at, got[at], ref[at], amax);
        if (tw > worst) {
            worst = tw;
            snprintf(worst_msg, sizeof worst_msg, "%s [%ld] ours %.8g torch %.8g, max|torch| %.3g", key, at,
                     got[at], ref[at], amax);
        }
        free(ref);
        free(got);
    }
    double l2 = sqrt(d2 / (r2 > 0 ? r2 : 1));
    if (getenv("OS_REF_VERBOSE"))
        fprintf(stderr, "parity %-13s %3d tensors: worst %.3g of the tolerance (%s); relative L2 error %.3g\n",
                prefix, g->n, worst, worst_msg, l2);
    return l2;
}

/* the fixture's weights, bit for bit (the arch gradient must leave them as they were) */
static void expect_weights_unchanged(fixture *fx)
{
    for (int i = 0; i < fx->net.weights.n; i++) {
        os_tensor *t = fx->net.weights.t[i];
        long n = os_numel(t);
        float *ref = ref_read_f32(fx->f, t->name, n);
        float *got = malloc(sizeof(float) * (size_t)n);
        os_tensor_to_host(t, got);
        cr_expect(!memcmp(ref, got, sizeof(float) * (size_t)n), "weight %s changed by the arch gradient", t->name);
        free(ref);
        free(got);
    }
}

/* a darts strategy on the fixture's net (its chooser mixes by softmax) */
static void *darts_on(fixture *fx, os_optim *wopt, float wd, int unrolled)
{
    const os_strategy *d = os_strategy_find("darts");
    cr_assert(d);
    unsigned char opts[512];
    cr_assert(d->options_size <= sizeof opts);
    os_options_defaults(d->options, d->n_options, opts);
    cr_assert_eq(os_options_set(d->options, d->n_options, opts, "unrolled", unrolled ? "1" : "0"), 0);
    os_search_env env = {.net = &fx->net, .wopt = wopt, .momentum = 0.9f, .weight_decay = wd, .seed = 1};
    void *st;
    cr_assert_eq(d->create(&env, opts, &st), 0, "%s", os_last_error());
    return st;
}
#endif
