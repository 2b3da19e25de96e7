/* ops/cuda/emu_backend.c — the CUDA backend run on the CPU (os_cuda_emu_backend,
 * see cuda_backend.h). The launch primitive walks the same 1-D grid the
 * __global__ launchers use (blocks of OS_CU_BLOCK threads, index = block *
 * OS_CU_BLOCK + thread, indices past n idle) and calls the same body for
 * each index; blocks run on OpenMP threads when the grid is large. The one
 * GEMM wrapper takes cublasSgemmStridedBatched's column-major arguments and
 * hands each product to cblas_sgemm(CblasColMajor, ...). */
#include "ops/cuda/cuda_backend.h"
#include "ops/ops.h"
#include "autograd/optim_kernels.h"

#include <cblas.h>
#include <stdlib.h>
#include <string.h>

/* the kernel id being run, for messages */
static _Thread_local const char *os_cu_cur_op = "?";

#define OS_CU_EMU_PAR_MIN 65536L

#define OS_CU_RUN(body, A, n)                                                        \
    do {                                                                             \
        long n_ = (n), nb_ = (n_ + OS_CU_BLOCK - 1) / OS_CU_BLOCK;                   \
        _Pragma("omp parallel for schedule(static) if (n_ > OS_CU_EMU_PAR_MIN)")    \
        for (long b_ = 0; b_ < nb_; b_++)                                            \
            for (long t_ = 0; t_ < OS_CU_BLOCK; t_++) {                              \
                long i_ = b_ * OS_CU_BLOCK + t_;                                     \
                if (i_ < n_)                                                         \
                    body(i_, &(A));                                                  \
            }                                                                        \
    } while (0)

/* cublasSgemmStridedBatched(handle, ta, tb, m, n, k, alpha, A, lda, sA, B, ldb,
 * sB, beta, C, ldc, sC, batch), column-major, as cblas_sgemm calls */
static void os_cu_gemm(int ta, int tb, int m, int n, int k, float alpha, const float *A, int lda, long sA,
                       const float *B, int ldb, long sB, float beta, float *C, int ldc, long sC, int batch)
{
    for (int b = 0; b < batch; b++)
        cblas_sgemm(CblasColMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, m, n, k, alpha,
                    A + b * sA, lda, B + b * sB, ldb, beta, C + b * sC, ldc);
}

static void *os_cu_ws_alloc(size_t bytes)
{
    void *p = aligned_alloc(256, (bytes + 255) & ~(size_t)255);
    if (!p)
        os_fatal("cuda-emu %s: out of memory for %zu bytes of kernel workspace", os_cu_cur_op, bytes);
    return p;
}
static void os_cu_ws_free(void *p) { free(p); }

#include "ops/cuda/cu_drivers.h"

/* the table's entries: name the kernel for messages, run its driver */
#define OS_KERNEL(name, fn, doc)                  \
    static void os_emu_##fn(const os_kargs *a)    \
    {                                             \
        os_cu_cur_op = #name;                     \
        os_cu_scratch_reset();                    \
        os_cuk_##fn(a);                           \
    }
#include "ops/kernels.def"
#undef OS_KERNEL

static void *emu_alloc(size_t bytes) { return aligned_alloc(64, (bytes + 63) & ~(size_t)63); }
static void emu_copy(void *dst, const void *src, size_t bytes) { memcpy(dst, src, bytes); }
static void emu_memset(void *p, int byte, size_t bytes) { memset(p, byte, bytes); }
static void emu_sync(void) {}
static int emu_available(void) { return 1; }

/* staging memory and uploads: host memory, copied at once */
static void *emu_alloc_host(size_t bytes)
{
    void *p = aligned_alloc(64, ((bytes ? bytes : 1) + 63) & ~(size_t)63);
    if (!p)
        os_fatal("cuda-emu: alloc_host: out of host memory for a staging buffer of %zu bytes (%.1f MiB); try a "
                 "smaller --batch", bytes, bytes / 1048576.0);
    return p;
}

static void emu_upload(void *dst, const void *src, size_t bytes, int slot)
{
    if (slot < 0 || slot >= OS_UPLOAD_SLOTS)
        os_fatal("cuda-emu: upload: slot %d outside 0..%d", slot, OS_UPLOAD_SLOTS - 1);
    memcpy(dst, src, bytes);
}

static void emu_upload_sync(int slot) { (void)slot; }
static bool emu_supports(int k) { return k >= 0 && k < OS_K_COUNT; }

const os_backend os_cuda_emu_backend = {
    .name = "cuda-emu",
    .alloc = emu_alloc,
    .free = free,
    .copy_to_host = emu_copy,
    .copy_from_host = emu_copy,
    .sync = emu_sync,
    .memset = emu_memset,
    .copy_device = emu_copy,
    .copy_to_host_async = emu_copy,
    .copy_from_host_async = emu_copy,
    .alloc_host = emu_alloc_host,
    .free_host = free,
    .upload = emu_upload,
    .upload_wait = emu_upload_sync,
    .upload_done = emu_upload_sync,
    .supports = emu_supports,
    .available = emu_available,
    .kernels = {
#define OS_KERNEL(name, fn, doc) [OS_K_##name] = os_emu_##fn,
#include "ops/kernels.def"
#undef OS_KERNEL
    },
};
