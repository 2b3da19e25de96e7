/* tests/test_cuda_parity.c — the DARTS supernet parity fixture of
 * tests/test_supernet_parity.c (PyTorch, float64 reference) run with the
 * network on OS_CUDA, on every available device backend: the CUDA emulation
 * (os_cuda_emu_backend) always, bare and inside the debug device, and the
 * real CUDA backend when this process sees a GPU. Same fixture, same quantities (train loss, every weight gradient,
 * the first- and second-order alpha gradients), same tolerances as the CPU
 * parity test (see there for why they are what they are): the CUDA kernels
 * must reproduce PyTorch as closely as the CPU kernels do.
 *
 * The fixture helpers below are those of tests/test_supernet_parity.c; the
 * backend under test is registered for OS_CUDA and the default device set to
 * OS_CUDA before the net is built, so parameters, activations and kernel
 * scratch all live there, and reset afterwards.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "tests/test_util.h"
#include "tensor/backend.h"
#include "tensor/safetensors.h"
#include "autograd/optim.h"
#include "ops/cuda/cuda_backend.h"
#include "ops/debug_backend.h"
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

static float *read_f32(os_st_file *f, const char *name, long numel)
{
    const os_st_info *in;
    float *p = os_st_read_f32(f, name, &in);
    cr_assert_not_null(p, "%s", os_last_error());
    cr_assert_eq(in->numel, numel, "'%s': %lld elements, expected %ld", name, (long long)in->numel, numel);
    return p;
}

static int32_t *read_i32(os_st_file *f, const char *name, long numel)
{
    const os_st_info *in;
    int32_t *p = os_st_read_i32(f, name, &in);
    cr_assert_not_null(p, "%s", os_last_error());
    cr_assert_eq(in->numel, numel, "'%s': %lld elements, expected %ld", name, (long long)in->numel, numel);
    return p;
}

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
        fx->x[b] = read_f32(fx->f, xs[b], 2L * 3 * 8 * 8);
        fx->y[b] = read_i32(fx->f, ys[b], 2);
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
        float *ref = read_f32(f, key, n);
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
        float *ref = read_f32(fx->f, t->name, n);
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


/* the backend under test on OS_CUDA and the default device (NULL: restore) */
static void use_backend(const os_backend *b)
{
    if (!b)
        os_step_shutdown(); /* the device's step arena goes back through its backend */
    os_backend_register(OS_CUDA, b);
    os_set_default_device(b ? OS_CUDA : OS_CPU);
    os_set_threads(1);
}

static void loss_and_weight_grads(const os_backend *b)
{
    use_backend(b);
    fixture fx;
    fixture_load(&fx);
    cr_assert_eq(fx.net.weights.t[0]->device, OS_CUDA);
    os_optim *wopt = os_optim_sgd(&fx.net.weights, &(os_sgd_config){.lr = 0.025f});
    void *st = darts_on(&fx, wopt, 3e-4f, 0);
    os_params_zero_grad(&fx.net.weights);
    os_params_zero_grad(&fx.net.arch);
    os_forward_ctx ctx = {.training = true};
    os_tensor *loss = os_forward_loss(&fx.net, &fx.train, &ctx, 0.0f, 0.0f, NULL);
    cr_expect_eq(loss->device, OS_CUDA);
    float l = os_tensor_item(loss);
    os_backward(loss);
    os_step_reset();
    float *ref = read_f32(fx.f, "loss_train", 1);
    cr_expect(fabs(l - ref[0]) <= 1e-5 * fabs(ref[0]), "%s: loss: ours %.8g torch %.8g", b->name, l, ref[0]);
    free(ref);
    double l2 = compare_group(fx.f, "grad/", &fx.net.weights, 1);
    cr_expect(l2 <= L2_TOL, "%s: weight gradients: relative L2 error %.3g", b->name, l2);
    os_strategy_find("darts")->free(st);
    os_optim_free(wopt);
    fixture_free(&fx);
    use_backend(NULL);
}

/* mode 0: first order; 1: second order, fresh optimizer; 2: second order with
 * momentum buffers and weight decay 0.1 (see tests/test_supernet_parity.c) */
static void arch_grad_case(const os_backend *b, int mode)
{
    static const char *const prefix[3] = {"alpha_grad1/", "alpha_grad2/", "alpha_grad2_mom/"};
    use_backend(b);
    fixture fx;
    fixture_load(&fx);
    float wd = mode == 2 ? 0.1f : 3e-4f;
    os_optim *wopt = os_optim_sgd(&fx.net.weights, &(os_sgd_config){.lr = 0.025f, .momentum = 0.9f,
                                                                    .weight_decay = wd});
    if (mode == 2) {
        for (int i = 0; i < fx.net.weights.n; i++) {
            char name[128], key[96];
            snprintf(name, sizeof name, "sgd.momentum.%s", fx.net.weights.t[i]->name);
            snprintf(key, sizeof key, "grad/%s", fx.net.weights.t[i]->name);
            os_tensor *buf = os_optim_state_find(wopt, name);
            cr_assert_not_null(buf, "the SGD optimizer has no state '%s'", name);
            cr_assert_eq(os_st_read_into(fx.f, key, buf), 0, "%s", os_last_error());
        }
        os_optim_set_steps(wopt, 1);
    }
    void *st = darts_on(&fx, wopt, wd, mode > 0);
    os_darts_arch_grad(st, &fx.train, &fx.val);
    double l2 = compare_group(fx.f, prefix[mode], &fx.net.arch, 1);
    cr_expect(l2 <= L2_TOL, "%s: alpha gradients (mode %d): relative L2 error %.3g", b->name, mode, l2);
    expect_weights_unchanged(&fx);
    os_strategy_find("darts")->free(st);
    os_optim_free(wopt);
    fixture_free(&fx);
    use_backend(NULL);
}

static void all_cases(const os_backend *b)
{
    loss_and_weight_grads(b);
    for (int mode = 0; mode < 3; mode++)
        arch_grad_case(b, mode);
}

Test(cuda_parity, emulation) { all_cases(&os_cuda_emu_backend); }

/* the emulation inside the debug device (ops/debug_backend.h): the engine
 * reads none of its memory on the host outside backend calls, and its kernels
 * touch only their operands */
Test(cuda_parity, emulation_in_debug_device) { all_cases(os_debug_backend_wrap(&os_cuda_emu_backend)); }

Test(cuda_parity, real_cuda_when_available)
{
    const os_backend *real = os_builtin_backend(OS_CUDA);
    if (!real) {
        cr_log_info("no CUDA device in this process (or built without nvcc): real backend not run");
        return;
    }
    all_cases(real);
}
