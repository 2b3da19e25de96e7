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

#include "tests/darts_fixture.h"



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
    float *ref = ref_read_f32(fx.f, "loss_train", 1);
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
