/* tests/test_cuda_faults.c — the real CUDA backend's failures go through the
 * library's error path (os_fatal) with the kernel and the CUDA call named,
 * and never abort. Built with nvcc (OS_HAVE_CUDA) only; the cases depend on
 * the machine:
 *  - no GPU or no driver (CI, these build machines): available() is 0
 *    without aborting, and the first CUDA call of an allocation or a kernel
 *    fails through os_fatal naming the call (and the kernel);
 *  - a GPU: asking for far more memory than it has is the out-of-memory
 *    error that gives the size asked for, the free memory and the flags to
 *    change. */
#include "tests/test_util.h"
#include "tensor/backend.h"
#include "ops/cuda/cuda_backend.h"

#if defined(OS_HAVE_CUDA) && OS_HAVE_CUDA

Test(cuda_faults, no_gpu_is_not_an_abort)
{
    int avail = os_cuda_backend.available();
    cr_assert(avail == 0 || avail == 1);
    cr_expect_eq(os_builtin_backend(OS_CUDA) != NULL, avail);
    cr_expect_eq(os_cuda_backend.available(), avail, "asked once, the same answer");
}

Test(cuda_faults, a_failed_call_names_the_kernel_and_the_call)
{
    if (os_cuda_backend.available()) {
        cr_log_info("a GPU is present: covered by out_of_memory_says_what_to_change");
        return;
    }
    /* no device: the first call (the stream, made on first use) fails */
    TU_EXPECT_FATAL(os_cuda_backend.alloc(4096), "cuda: ", "failed");
    os_tensor t = {0};
    float v = 1.0f;
    t.ndim = 1;
    t.shape[0] = 4;
    t.shape[1] = t.shape[2] = t.shape[3] = 1;
    t.stride[0] = 1;
    t.device = OS_CUDA;
    os_kargs a = {.t = {&t}, .params = &v};
    TU_EXPECT_FATAL(os_cuda_backend.kernels[OS_K_FILL](&a), "cuda: FILL: ", "failed");
    TU_EXPECT_FATAL(os_cuda_backend.sync(), "cuda: ", "cudaStreamCreate");
}

/* staging (search/stage.h): pinned memory and the copy stream's calls fail
 * through os_fatal naming the call */
Test(cuda_faults, a_failed_staging_call_names_the_call)
{
    if (os_cuda_backend.available()) {
        cr_log_info("a GPU is present: covered by out_of_pinned_memory_gives_the_size");
        return;
    }
    TU_EXPECT_FATAL(os_cuda_backend.alloc_host(4096), "cuda: alloc_host: cudaHostAlloc of 4096 bytes failed");
    char src[16] = {0};
    TU_EXPECT_FATAL(os_cuda_backend.upload((void *)src, src, sizeof src, 0), "cuda: upload: ", "failed");
    TU_EXPECT_FATAL(os_cuda_backend.upload_wait(0), "cuda: upload_wait: ", "failed");
    TU_EXPECT_FATAL(os_cuda_backend.upload_done(1), "cuda: upload_done: ", "failed");
    TU_EXPECT_FATAL(os_cuda_backend.upload(NULL, NULL, 0, OS_UPLOAD_SLOTS), "cuda: upload: upload slot 4 outside");
}

Test(cuda_faults, out_of_pinned_memory_gives_the_size)
{
    if (!os_cuda_backend.available()) {
        cr_log_info("no GPU in this process: the pinned out-of-memory message is checked on a GPU run");
        return;
    }
    size_t huge = (size_t)1 << 50; /* 1 PiB */
    TU_EXPECT_FATAL(os_cuda_backend.alloc_host(huge), "cuda: alloc_host", "cudaHostAlloc", "1125899906842624 bytes");
    void *p = os_cuda_backend.alloc_host(1024); /* pinned memory still works afterwards */
    cr_expect_not_null(p);
    os_cuda_backend.free_host(p);
}

Test(cuda_faults, out_of_memory_says_what_to_change)
{
    if (!os_cuda_backend.available()) {
        cr_log_info("no GPU in this process: the out-of-memory message is checked on a GPU run");
        return;
    }
    size_t huge = (size_t)1 << 50; /* 1 PiB */
    TU_EXPECT_FATAL(os_cuda_backend.alloc(huge), "out of GPU memory", "1125899906842624 bytes", "MiB free",
                    "--batch", "--channels");
    void *p = os_cuda_backend.alloc(1024); /* the device still works afterwards */
    cr_expect_not_null(p);
    os_cuda_backend.free(p);
}

#else

Test(cuda_faults, built_without_cuda)
{
    cr_expect_null(os_builtin_backend(OS_CUDA), "a CUDA=0 build has no built-in OS_CUDA backend");
}

#endif
