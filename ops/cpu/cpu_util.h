/* ops/cpu/cpu_util.h — small helpers shared by CPU kernels.
 *
 *  OS_CPU_PAR_MIN   loops over more elements than this run on OpenMP threads;
 *                   smaller ones stay serial (thread start-up costs more).
 *  os_cpu_elem      element i (row-major logical order) of a tensor of any
 *                   strides: for the small "any stride" operands of kernels
 *                   (a scalar s, the weights w of a weighted sum).
 *  OS_CPU_BLOCK     fixed block length of deterministic reductions: partial
 *                   sums are taken per block (in parallel) and added in block
 *                   order, so results do not depend on the thread count.
 */
#ifndef OS_CPU_UTIL_H
#define OS_CPU_UTIL_H

#include "tensor/tensor.h"

#define OS_CPU_PAR_MIN 65536L
#define OS_CPU_BLOCK 16384L

static inline float *os_cpu_elem(const os_tensor *t, long i)
{
    long off = 0;
    for (int d = OS_MAX_DIMS - 1; d >= 0; d--) {
        long s = t->shape[d];
        off += (i % s) * t->stride[d];
        i /= s;
    }
    return t->data + off;
}

/* sum(a[i] * b[i]), i < n, as double: 8 float lanes (vectorisable) over runs
 * of 256 elements, each run added in double. */
static inline double os_cpu_dot(const float *restrict a, const float *restrict b, long n)
{
    double s = 0;
    long i = 0;
    for (; i + 256 <= n; i += 256) {
        float lane[8] = {0};
        for (long j = 0; j < 256; j += 8)
            for (int l = 0; l < 8; l++)
                lane[l] += a[i + j + l] * b[i + j + l];
        s += ((double)lane[0] + lane[1] + lane[2] + lane[3]) + ((double)lane[4] + lane[5] + lane[6] + lane[7]);
    }
    for (; i < n; i++)
        s += (double)a[i] * b[i];
    return s;
}

#endif
