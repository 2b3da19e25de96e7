/* tests/test_device.c — devices: outputs follow their inputs, dispatch checks
 * that the operands share one device, the CPU backend fills the whole table.
 * OS_CUDA is served here by the CPU backend itself (registered for it), so
 * the tests need no GPU. */
#include <criterion/criterion.h>
#include "tensor/backend.h"
#include "ops/cpu/cpu_kernels.h"
#include "tests/test_util.h"

static void cuda_as_cpu(void) { os_backend_register(OS_CUDA, &os_cpu_backend); }
static void cuda_unset(void)
{
    os_step_shutdown();
    os_backend_register(OS_CUDA, NULL);
}

TestSuite(device, .init = cuda_as_cpu, .fini = cuda_unset);

static os_tensor *on(os_device dev, int n, int c, int h, int w, float v)
{
    os_tensor *t = os_tensor_new4_on(dev, n, c, h, w);
    os_tensor_fill(t, v);
    return t;
}

Test(device, cpu_table_complete)
{
    const os_backend *b = &os_cpu_backend;
    cr_assert(b->sync && b->memset && b->copy_device && b->copy_to_host_async && b->copy_from_host_async &&
              b->supports && b->available);
    cr_expect_eq(b->available(), 1);
    for (int k = 0; k < OS_K_COUNT; k++)
        cr_expect(b->supports(k) && b->kernels[k], "kernel %s", os_kernel_name(k));
    cr_expect(!b->supports(OS_K_COUNT));
}

Test(device, outputs_follow_inputs)
{
    /* the default device stays the CPU; every output lands on cuda */
    cr_assert_eq(os_default_device(), OS_CPU);
    os_tensor *x = on(OS_CUDA, 2, 3, 6, 6, 0.5f);
    os_tensor *w = on(OS_CUDA, 4, 3, 3, 3, 0.1f);
    os_tensor *y = os_conv2d(x, w, NULL, 1, 1, 1, 1);
    cr_expect_eq(y->device, OS_CUDA);
    os_tensor *p = os_max_pool2d(y, 3, 2, 1);
    cr_expect_eq(p->device, OS_CUDA);
    os_tensor *g = os_global_avg_pool(p);
    cr_expect_eq(g->device, OS_CUDA);
    os_tensor *l = os_linear(g, os_tensor_new_on(OS_CUDA, 2, (int[]){5, 4}), NULL);
    cr_expect_eq(l->device, OS_CUDA);
    os_tensor *loss = os_cross_entropy(l, (const int32_t[]){1, 3}, 0.0f);
    cr_expect_eq(loss->device, OS_CUDA);
    cr_expect_eq(os_zero(x, 2)->device, OS_CUDA);
    cr_expect_eq(os_concat_channels(2, (os_tensor *[]){x, x})->device, OS_CUDA);
    cr_expect_eq(os_batch_norm(x, NULL, NULL, NULL, NULL, 1, 0.1f, 1e-5f)->device, OS_CUDA);
}

/* the kernel straight, past the op's checks */
static void conv_kernel(os_tensor *x, os_tensor *w)
{
    os_conv2d_params p = {.stride_h = 1, .stride_w = 1, .dil_h = 1, .dil_w = 1, .groups = 1};
    OS_RUN(CONV2D_FWD, &p, os_tensor_new4_on(OS_CPU, 1, 2, 3, 3), x, w, NULL);
}

Test(device, dispatch_rejects_mixed_devices)
{
    os_tensor *x = on(OS_CPU, 1, 2, 5, 5, 1.0f);
    os_tensor *w = on(OS_CUDA, 2, 2, 3, 3, 1.0f);
    TU_EXPECT_FATAL(os_conv2d(x, w, NULL, 1, 1, 1, 1), "conv2d", "different devices"); /* the op's own check */
    TU_EXPECT_FATAL(os_tensor_copy(x, os_tensor_new4_on(OS_CUDA, 1, 2, 5, 5)), "dispatch: copy: operands on cpu and cuda");
    TU_EXPECT_FATAL(conv_kernel(x, w), "dispatch: conv2d_fwd: operands on cpu and cuda");
    os_tensor *a = on(OS_CUDA, 1, 2, 5, 5, 1.0f);
    TU_EXPECT_FATAL(os_add(a, x), "add", "operands on cuda and cpu");
    os_tensor *wt = os_tensor_new_on(OS_CPU, 1, (int[]){2});
    TU_EXPECT_FATAL(os_weighted_sum(2, (os_tensor *[]){a, a}, wt), "weighted_sum", "on cuda", "w on cpu");
}
