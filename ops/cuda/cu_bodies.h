/* ops/cuda/cu_bodies.h — the arithmetic of every CUDA kernel: one body per
 * grid index, shared by the __global__ launchers (cuda_backend.cu) and the CPU
 * emulation (emu_backend.c); see cu_common.h. The drivers that pick the grid
 * and call these are in cu_drivers.h.
 *
 * Body `os_cb_X(long i, const os_ca_X *a)` computes grid index i of kernel X.
 * Shapes are given above each body. Reductions never use atomics: one index
 * owns one output and sums its inputs in a fixed order (per channel, per row,
 * per column), or, for whole-tensor sums, a first pass writes one double per
 * OS_CU_CHUNK elements and a second, single-index pass adds them in order.
 */
#ifndef OS_CU_BODIES_H
#define OS_CU_BODIES_H

#include <math.h>
#include "ops/cuda/cu_common.h"
#include "ops/cuda/cu_bodies_eltwise.h"
#include "ops/cuda/cu_bodies_conv.h"
#include "ops/cuda/cu_bodies_norm.h"

#endif
