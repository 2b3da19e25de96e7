/* ops/cuda/cu_drivers.h — the host side of every CUDA kernel: reads the
 * os_kargs of ops/kernels.def, checks what the bodies assume, picks the grid and runs the bodies of cu_bodies.h, and sends GEMM-shaped
 * work to the one column-major GEMM wrapper. Scratch comes from the
 * backend's workspace (below), reset at the start of each kernel call.
 *
 * Included once by each backend, which first defines the primitives:
 *   OS_CU_RUN(body, args, n)   run body over grid indices [0, n): a __global__
 *                              launch (cuda_backend.cu) or the same 1-D grid
 *                              of OS_CU_BLOCK-thread blocks walked on the CPU
 *                              (emu_backend.c)
 *   os_cu_gemm(...)            C = alpha op(A) op(B) + beta C, column-major,
 *                              `batch` products at element strides sA, sB, sC
 *                              (cublasSgemmStridedBatched's arguments; the
 *                              emulation calls cblas_sgemm(CblasColMajor, ...)
 *                              with the same ones)
 *   os_cu_ws_alloc(bytes), os_cu_ws_free(p)   the workspace's device memory
 * The drivers never read device memory on the host. Each defines
 * os_cuk_<fn> for OS_KERNEL(ID, fn, doc); the backends build their tables from
 * ops/kernels.def, so a kernel without a driver does not compile.
 * This file is compiled as C11 (gcc) and as C++17 (nvcc): it keeps to their
 * common subset (no designated initializers, explicit casts from void *).
 */
#ifndef OS_CU_DRIVERS_H
#define OS_CU_DRIVERS_H

#include <string.h>

#include "ops/cuda/cu_bodies.h"

#ifdef __cplusplus
#define OS_CU_ZERO {}
#else
#define OS_CU_ZERO {0}
#endif

/* a kernel's view of t (all zero for NULL) */
static os_cu_t os_cu_view(const os_tensor *t)
{
    os_cu_t v = OS_CU_ZERO;
    if (!t) {
        for (int k = 0; k < 4; k++)
            v.n[k] = 1;
        return v;
    }
    v.d = t->data;
    for (int k = 0; k < 4; k++) {
        v.n[k] = t->shape[k];
        v.s[k] = t->stride[k];
    }
    return v;
}

/* device address of element i of a small "any stride" vector */
static const float *os_cu_elem_ptr(const os_tensor *t, long i)
{
    os_cu_t v = os_cu_view(t);
    return t->data + os_cu_off(&v, i);
}

/* ---- the backend's workspace: kernel scratch (im2col columns, partial
 * sums, per-channel coefficients), alive for one kernel call. A bump
 * allocator over one buffer that grows and is reused: a call that needs more
 * than the buffer holds gets extra blocks, and at the start of the next call
 * those and the buffer are replaced by one buffer of the largest total seen,
 * so the steady state allocates nothing. Device memory from the backend's own
 * os_cu_ws_alloc (cudaMalloc / aligned host memory): private to the backend,
 * never a tensor, so the debug device (ops/debug_backend.h) does not guard it.
 * Reuse across calls is safe on the GPU too: launches on the one stream run
 * in order. */
#define OS_CU_WS_EXTRA 32
static char *os_cu_ws_base;
static size_t os_cu_ws_cap, os_cu_ws_used, os_cu_ws_over, os_cu_ws_peak;
static void *os_cu_ws_extra[OS_CU_WS_EXTRA];
static int os_cu_ws_n_extra;

static void os_cu_scratch_reset(void)
{
    if (os_cu_ws_n_extra) {
        for (int i = 0; i < os_cu_ws_n_extra; i++)
            os_cu_ws_free(os_cu_ws_extra[i]);
        os_cu_ws_n_extra = 0;
        os_cu_ws_free(os_cu_ws_base);
        os_cu_ws_base = (char *)os_cu_ws_alloc(os_cu_ws_peak);
        os_cu_ws_cap = os_cu_ws_peak;
    }
    os_cu_ws_used = os_cu_ws_over = 0;
}

static void *os_cu_scratch(size_t bytes)
{
    bytes = (bytes + 255) & ~(size_t)255; /* 256-byte aligned pieces */
    if (!bytes)
        bytes = 256;
    void *p;
    if (os_cu_ws_base && os_cu_ws_used + bytes <= os_cu_ws_cap) {
        p = os_cu_ws_base + os_cu_ws_used;
        os_cu_ws_used += bytes;
    } else {
        if (os_cu_ws_n_extra == OS_CU_WS_EXTRA)
            os_fatal("cuda %s: more than %d workspace blocks in one kernel", os_cu_cur_op, OS_CU_WS_EXTRA);
        p = os_cu_ws_alloc(bytes);
        os_cu_ws_extra[os_cu_ws_n_extra++] = p;
        os_cu_ws_over += bytes;
    }
    if (os_cu_ws_used + os_cu_ws_over > os_cu_ws_peak)
        os_cu_ws_peak = os_cu_ws_used + os_cu_ws_over;
    return p;
}

static void os_cu_need_contig(const char *what, const os_tensor *t)
{
    if (t && !os_is_contiguous(t))
        os_fatal("cuda %s: %s %s must be contiguous", os_cu_cur_op, what, os_shape_str(t));
}

/* row-major C [M,N] = alpha op(A) op(B) + beta C, lda/ldb/ldc the stored
 * rows' lengths, as the column-major product C^T = op(B)^T op(A)^T */
static void os_cu_gemm_rm(int ta, int tb, int M, int N, int K, float alpha, const float *A, int lda, long sA,
                          const float *B, int ldb, long sB, float beta, float *C, int ldc, long sC, int batch)
{
    if (M <= 0 || N <= 0 || batch <= 0)
        return;
    os_cu_gemm(tb, ta, N, M, K, alpha, B, ldb, sB, A, lda, sA, beta, C, ldc, sC, batch);
}

/* sum over p*q (q NULL: p*p) of n contiguous floats into out[0] (= | +=), two passes */
static void os_cu_dot(const float *p, const float *q, long n, float *out, int acc)
{
    long nb = (n + OS_CU_CHUNK - 1) / OS_CU_CHUNK;
    os_ca_dot_part P = OS_CU_ZERO;
    P.p = p;
    P.q = q;
    P.n = n;
    P.part = (double *)os_cu_scratch(sizeof(double) * (size_t)(nb ? nb : 1));
    OS_CU_RUN(os_cb_dot_part, P, nb);
    os_ca_dot_final F = OS_CU_ZERO;
    F.part = P.part;
    F.nb = nb;
    F.out = out;
    F.acc = acc;
    OS_CU_RUN(os_cb_dot_final, F, 1);
}

#include "ops/cuda/cu_drivers_eltwise.h"
#include "ops/cuda/cu_drivers_conv.h"
#include "ops/cuda/cu_drivers_norm.h"

#endif
