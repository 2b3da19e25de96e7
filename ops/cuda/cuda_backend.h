/* ops/cuda/cuda_backend.h — the CUDA backends' tables (tensor/backend.h).
 *
 *  os_cuda_emu_backend   always built (plain C): the CUDA backend's drivers
 *                        and __host__ __device__ bodies (cu_drivers.h,
 *                        cu_bodies.h) run over the same launch grid on the
 *                        CPU, in aligned host memory; the GEMM wrapper maps
 *                        onto cblas_sgemm(CblasColMajor, ...) with cuBLAS's
 *                        arguments. Tests and `--device cuda-emu` run OS_CUDA
 *                        through it: os_backend_register(OS_CUDA, &os_cuda_emu_backend).
 *  os_cuda_backend       only when the library is built with nvcc
 *                        (OS_HAVE_CUDA): the same drivers and bodies as
 *                        __global__ launches on one stream, cuBLAS for GEMMs,
 *                        cudaMalloc'ed memory. Its available() is 0 when the
 *                        process sees no GPU (no driver, no device).
 * Both are one thread at a time: ops on OS_CUDA run from one thread.
 */
#ifndef OS_CUDA_BACKEND_H
#define OS_CUDA_BACKEND_H

#include "tensor/backend.h"

#ifdef __cplusplus
extern "C" {
#endif

extern const os_backend os_cuda_emu_backend;
#if defined(OS_HAVE_CUDA) && OS_HAVE_CUDA
extern const os_backend os_cuda_backend;
#endif

#ifdef __cplusplus
}
#endif

#endif
