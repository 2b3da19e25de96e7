/* ops/cuda/cuda_backend.cu — the real CUDA backend (os_cuda_backend, see
 * cuda_backend.h), built only when nvcc is found (Makefile, OS_HAVE_CUDA).
 *
 * The drivers (cu_drivers.h) and bodies (cu_bodies.h) are the ones the CPU
 * emulation runs; this file supplies their primitives:
 *   OS_CU_RUN   one __global__ launch, os_k1d<args, body>, of ceil(n /
 *               OS_CU_BLOCK) blocks of OS_CU_BLOCK threads on the backend's
 *               stream; thread i runs body(i, &args) for i < n
 *   os_cu_gemm  cublasSgemm / cublasSgemmStridedBatched, column-major, with
 *               the arguments the drivers give (the emulation hands the same
 *               ones to cblas_sgemm(CblasColMajor, ...))
 *   os_cu_h2d   cudaMemcpyAsync on the stream
 * Uploads of staged batches (upload, upload_wait, upload_done) run on a
 * second, copy stream from pinned memory (cudaHostAlloc), ordered against
 * the kernel stream by events, so that batch k+1 copies while step k runs.
 * Memory: cudaMalloc / cudaFree; copies and memset on the one stream
 * (created with the cuBLAS handle on first use); copies to the host wait for
 * the stream. Every CUDA and cuBLAS call is checked: a failure goes through
 * os_fatal (tensor/error.h) with the kernel and the call named, never an
 * abort here. A failed cudaMalloc reports the size asked for and the free
 * memory (cudaMemGetInfo) and suggests a smaller --batch or --channels.
 * available() asks cudaGetDeviceCount once; no driver or no device is 0, not
 * an error, so the same binary starts on machines without a GPU.
 */
#include <cuda_runtime.h>
#include <cublas_v2.h>

extern "C" {
#include "ops/cuda/cuda_backend.h"
#include "ops/ops.h"
#include "autograd/optim_kernels.h"
}
#include "ops/cuda/cu_common.h"

#include <stdlib.h>
#include <string.h>

/* the kernel id being run, for messages */
static thread_local const char *os_cu_cur_op = "memory";

static cudaStream_t os_cu_stream;
static cublasHandle_t os_cu_blas;
static int os_cu_ready;

static void os_cu_check(cudaError_t e, const char *call)
{
    if (e != cudaSuccess)
        os_fatal("cuda: %s: %s failed: %s (%s)", os_cu_cur_op, call, cudaGetErrorString(e), cudaGetErrorName(e));
}

static const char *os_cu_blas_str(cublasStatus_t s)
{
    switch (s) {
    case CUBLAS_STATUS_NOT_INITIALIZED: return "CUBLAS_STATUS_NOT_INITIALIZED";
    case CUBLAS_STATUS_ALLOC_FAILED: return "CUBLAS_STATUS_ALLOC_FAILED";
    case CUBLAS_STATUS_INVALID_VALUE: return "CUBLAS_STATUS_INVALID_VALUE";
    case CUBLAS_STATUS_ARCH_MISMATCH: return "CUBLAS_STATUS_ARCH_MISMATCH";
    case CUBLAS_STATUS_MAPPING_ERROR: return "CUBLAS_STATUS_MAPPING_ERROR";
    case CUBLAS_STATUS_EXECUTION_FAILED: return "CUBLAS_STATUS_EXECUTION_FAILED";
    case CUBLAS_STATUS_INTERNAL_ERROR: return "CUBLAS_STATUS_INTERNAL_ERROR";
    case CUBLAS_STATUS_NOT_SUPPORTED: return "CUBLAS_STATUS_NOT_SUPPORTED";
    default: return "cuBLAS error";
    }
}

static void os_cu_check_blas(cublasStatus_t s, const char *call)
{
    if (s != CUBLAS_STATUS_SUCCESS)
        os_fatal("cuda: %s: %s failed: %s (%d)", os_cu_cur_op, call, os_cu_blas_str(s), (int)s);
}

/* the stream and the cuBLAS handle, made once */
static void os_cu_init(void)
{
    if (os_cu_ready)
        return;
    os_cu_check(cudaStreamCreateWithFlags(&os_cu_stream, cudaStreamNonBlocking), "cudaStreamCreateWithFlags");
    os_cu_check_blas(cublasCreate(&os_cu_blas), "cublasCreate");
    os_cu_check_blas(cublasSetStream(os_cu_blas, os_cu_stream), "cublasSetStream");
    /* full float32 products (no TF32), like the CPU */
    os_cu_check_blas(cublasSetMathMode(os_cu_blas, CUBLAS_PEDANTIC_MATH), "cublasSetMathMode");
    os_cu_ready = 1;
}

template <typename A, void (*F)(long, const A *)>
__global__ void os_k1d(A a, long n)
{
    long i = (long)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n)
        F(i, &a);
}

template <typename A, void (*F)(long, const A *)>
static void os_cu_launch(const A &a, long n, const char *what)
{
    if (n <= 0)
        return;
    long nb = (n + OS_CU_BLOCK - 1) / OS_CU_BLOCK;
    if (nb > 0x7fffffffL)
        os_fatal("cuda: %s: %s: grid of %ld blocks is too large", os_cu_cur_op, what, nb);
    os_k1d<A, F><<<(unsigned)nb, OS_CU_BLOCK, 0, os_cu_stream>>>(a, n);
    os_cu_check(cudaGetLastError(), what);
}

#define OS_CU_RUN(body, A, n) os_cu_launch<decltype(A), body>((A), (long)(n), "launch of " #body)

static void os_cu_gemm(int ta, int tb, int m, int n, int k, float alpha, const float *A, int lda, long sA,
                       const float *B, int ldb, long sB, float beta, float *C, int ldc, long sC, int batch)
{
    cublasOperation_t oa = ta ? CUBLAS_OP_T : CUBLAS_OP_N, ob = tb ? CUBLAS_OP_T : CUBLAS_OP_N;
    if (batch == 1)
        os_cu_check_blas(cublasSgemm(os_cu_blas, oa, ob, m, n, k, &alpha, A, lda, B, ldb, &beta, C, ldc),
                         "cublasSgemm");
    else
        os_cu_check_blas(cublasSgemmStridedBatched(os_cu_blas, oa, ob, m, n, k, &alpha, A, lda, sA, B, ldb, sB,
                                                   &beta, C, ldc, sC, batch),
                         "cublasSgemmStridedBatched");
}

static void os_cu_h2d(void *dst, const void *src, size_t bytes)
{
    os_cu_check(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, os_cu_stream), "cudaMemcpyAsync (to device)");
}

static void *cud_alloc(size_t bytes);
static void cud_free(void *p);
static void *os_cu_ws_alloc(size_t bytes) { return cud_alloc(bytes); }
static void os_cu_ws_free(void *p) { cud_free(p); }

#include "ops/cuda/cu_drivers.h"

#define OS_KERNEL(name, fn, doc)               \
    static void os_cud_##fn(const os_kargs *a) \
    {                                          \
        os_cu_cur_op = #name;                  \
        os_cu_init();                          \
        os_cu_scratch_reset();                 \
        os_cuk_##fn(a);                        \
        os_cu_cur_op = "memory";               \
    }
#include "ops/kernels.def"
#undef OS_KERNEL

/* ---- memory ------------------------------------------------------------------------- */
static void *cud_alloc(size_t bytes)
{
    os_cu_init();
    void *p = NULL;
    cudaError_t e = cudaMalloc(&p, bytes ? bytes : 1);
    if (e == cudaErrorMemoryAllocation) {
        cudaGetLastError(); /* clear it */
        size_t fr = 0, tot = 0;
        cudaMemGetInfo(&fr, &tot);
        os_fatal("cuda: out of GPU memory: cudaMalloc of %zu bytes (%.1f MiB) failed with %.1f MiB free of "
                 "%.1f MiB; try a smaller --batch or --channels",
                 bytes, bytes / 1048576.0, fr / 1048576.0, tot / 1048576.0);
    }
    os_cu_check(e, "cudaMalloc");
    return p;
}

static void cud_free(void *p)
{
    if (!p)
        return;
    cudaError_t e = cudaFree(p);
    if (e == cudaErrorCudartUnloading) /* at exit, after the runtime went away */
        return;
    os_cu_check(e, "cudaFree");
}

static void cud_sync(void)
{
    os_cu_init();
    os_cu_check(cudaStreamSynchronize(os_cu_stream), "cudaStreamSynchronize");
}

static void cud_copy_to_host_async(void *dst, const void *src, size_t bytes)
{
    os_cu_init();
    os_cu_check(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToHost, os_cu_stream), "cudaMemcpyAsync (to host)");
}

static void cud_copy_to_host(void *dst, const void *src, size_t bytes)
{
    cud_copy_to_host_async(dst, src, bytes);
    cud_sync();
}

static void cud_copy_from_host_async(void *dst, const void *src, size_t bytes)
{
    os_cu_init();
    os_cu_h2d(dst, src, bytes);
}

static void cud_copy_from_host(void *dst, const void *src, size_t bytes)
{
    cud_copy_from_host_async(dst, src, bytes);
    cud_sync(); /* the caller may reuse src at once */
}

static void cud_copy_device(void *dst, const void *src, size_t bytes)
{
    os_cu_init();
    os_cu_check(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, os_cu_stream), "cudaMemcpyAsync (device)");
}

static void cud_memset(void *p, int byte, size_t bytes)
{
    os_cu_init();
    os_cu_check(cudaMemsetAsync(p, byte, bytes, os_cu_stream), "cudaMemsetAsync");
}

/* ---- staging memory and uploads (search/stage.h) ------------------------------------ */
/* A second stream for host-to-device copies beside the kernels, made on the
 * first upload with an event pair per upload slot: fence (recorded on the
 * kernel stream: the kernels queued so far; the copy stream waits for it
 * before it overwrites device memory they may still read) and done
 * (recorded on the copy stream after the slot's copies). */
static cudaStream_t os_cu_copy_stream;
static cudaEvent_t os_cu_fence[OS_UPLOAD_SLOTS], os_cu_done[OS_UPLOAD_SLOTS];
static int os_cu_copy_ready;

static void os_cu_copy_init(void)
{
    if (os_cu_copy_ready)
        return;
    os_cu_init();
    os_cu_check(cudaStreamCreateWithFlags(&os_cu_copy_stream, cudaStreamNonBlocking),
                "cudaStreamCreateWithFlags (copy stream)");
    for (int i = 0; i < OS_UPLOAD_SLOTS; i++) {
        os_cu_check(cudaEventCreateWithFlags(&os_cu_fence[i], cudaEventDisableTiming), "cudaEventCreateWithFlags");
        os_cu_check(cudaEventCreateWithFlags(&os_cu_done[i], cudaEventDisableTiming), "cudaEventCreateWithFlags");
    }
    os_cu_copy_ready = 1;
}

static void os_cu_check_slot(int slot)
{
    if (slot < 0 || slot >= OS_UPLOAD_SLOTS)
        os_fatal("cuda: %s: upload slot %d outside 0..%d", os_cu_cur_op, slot, OS_UPLOAD_SLOTS - 1);
}

/* pinned (page-locked) host memory: the copy engine reads it while kernels run */
static void *cud_alloc_host(size_t bytes)
{
    os_cu_cur_op = "alloc_host";
    void *p = NULL;
    cudaError_t e = cudaHostAlloc(&p, bytes ? bytes : 1, cudaHostAllocDefault);
    if (e == cudaErrorMemoryAllocation) {
        cudaGetLastError(); /* clear it */
        os_fatal("cuda: alloc_host: out of pinned host memory: cudaHostAlloc of %zu bytes (%.1f MiB) failed; try "
                 "a smaller --batch", bytes, bytes / 1048576.0);
    }
    if (e != cudaSuccess)
        os_fatal("cuda: alloc_host: cudaHostAlloc of %zu bytes failed: %s (%s)", bytes, cudaGetErrorString(e),
                 cudaGetErrorName(e));
    os_cu_cur_op = "memory";
    return p;
}

static void cud_free_host(void *p)
{
    if (!p)
        return;
    cudaError_t e = cudaFreeHost(p);
    if (e == cudaErrorCudartUnloading)
        return;
    os_cu_cur_op = "free_host";
    os_cu_check(e, "cudaFreeHost");
    os_cu_cur_op = "memory";
}

/* shape: bytes from pinned src to device dst, on the copy stream, after the
 * kernels queued so far; then the slot's done event */
static void cud_upload(void *dst, const void *src, size_t bytes, int slot)
{
    os_cu_cur_op = "upload";
    os_cu_check_slot(slot);
    os_cu_copy_init();
    os_cu_check(cudaEventRecord(os_cu_fence[slot], os_cu_stream), "cudaEventRecord (fence)");
    os_cu_check(cudaStreamWaitEvent(os_cu_copy_stream, os_cu_fence[slot], 0), "cudaStreamWaitEvent (copy stream)");
    os_cu_check(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, os_cu_copy_stream),
                "cudaMemcpyAsync (upload)");
    os_cu_check(cudaEventRecord(os_cu_done[slot], os_cu_copy_stream), "cudaEventRecord (upload)");
    os_cu_cur_op = "memory";
}

/* the kernels queued from now on wait for the slot's uploads (no host block) */
static void cud_upload_wait(int slot)
{
    os_cu_cur_op = "upload_wait";
    os_cu_check_slot(slot);
    os_cu_copy_init();
    os_cu_check(cudaStreamWaitEvent(os_cu_stream, os_cu_done[slot], 0), "cudaStreamWaitEvent");
    os_cu_cur_op = "memory";
}

/* the host waits until the slot's uploads have read their pinned sources */
static void cud_upload_done(int slot)
{
    os_cu_cur_op = "upload_done";
    os_cu_check_slot(slot);
    os_cu_copy_init();
    os_cu_check(cudaEventSynchronize(os_cu_done[slot]), "cudaEventSynchronize");
    os_cu_cur_op = "memory";
}

/* 1 when this process sees a CUDA device; asked once, never fatal */
static int cud_available(void)
{
    static int known = -1;
    if (known < 0) {
        int n = 0;
        cudaError_t e = cudaGetDeviceCount(&n);
        if (e != cudaSuccess)
            cudaGetLastError(); /* no driver / no device: not an error here */
        known = e == cudaSuccess && n > 0;
    }
    return known;
}

static bool cud_supports(int k) { return k >= 0 && k < OS_K_COUNT; }

static os_backend os_cu_make_table(void)
{
    os_backend b;
    memset(&b, 0, sizeof b);
    b.name = "cuda";
    b.alloc = cud_alloc;
    b.free = cud_free;
    b.copy_to_host = cud_copy_to_host;
    b.copy_from_host = cud_copy_from_host;
    b.sync = cud_sync;
    b.memset = cud_memset;
    b.copy_device = cud_copy_device;
    b.copy_to_host_async = cud_copy_to_host_async;
    b.copy_from_host_async = cud_copy_from_host_async;
    b.alloc_host = cud_alloc_host;
    b.free_host = cud_free_host;
    b.upload = cud_upload;
    b.upload_wait = cud_upload_wait;
    b.upload_done = cud_upload_done;
    b.supports = cud_supports;
    b.available = cud_available;
#define OS_KERNEL(name, fn, doc) b.kernels[OS_K_##name] = os_cud_##fn;
#include "ops/kernels.def"
#undef OS_KERNEL
    return b;
}

extern "C" const os_backend os_cuda_backend = os_cu_make_table();
