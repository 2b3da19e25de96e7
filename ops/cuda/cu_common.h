/* ops/cuda/cu_common.h — what the CUDA kernels' bodies share with their two
 * launchers (internal to ops/cuda/).
 *
 * A body is a function of one grid index (an element, a row, a channel) and a
 * small argument struct passed by value. It is marked OS_HD: __host__
 * __device__ under nvcc (the __global__ launchers of cuda_backend.cu call
 * it), static inline under gcc (the emulation backend, emu_backend.c, runs the
 * same body over the same grid on the CPU). Bodies touch only the memory
 * their struct points at, so a body that works in the emulation works on the
 * device, and the other way round. This header and cu_bodies.h are the
 * common subset of C11 and C++17 that both compilers accept.
 */
#ifndef OS_CU_COMMON_H
#define OS_CU_COMMON_H

#include <stdint.h>

#ifdef __CUDACC__
#define OS_HD static __host__ __device__ __forceinline__
#else
#define OS_HD static inline
#endif

/* threads per block of every 1-D launch; the emulation walks the same grid */
#define OS_CU_BLOCK 256
/* elements per partial sum of the two-pass reductions (sumsq, dot) */
#define OS_CU_CHUNK 4096L

/* A tensor as a kernel sees it: device data, shape, strides (elements). */
typedef struct {
    float *d;
    int n[4];
    long s[4];
} os_cu_t;

/* offset of logical (row-major) element i of t */
OS_HD long os_cu_off(const os_cu_t *t, long i)
{
    long off = 0;
    for (int k = 3; k >= 0; k--) {
        long e = t->n[k];
        off += (i % e) * t->s[k];
        i /= e;
    }
    return off;
}

OS_HD long os_cu_off4(const os_cu_t *t, long n, long c, long h, long w)
{
    return n * t->s[0] + c * t->s[1] + h * t->s[2] + w * t->s[3];
}

OS_HD long os_cu_numel(const os_cu_t *t) { return (long)t->n[0] * t->n[1] * t->n[2] * t->n[3]; }

OS_HD int os_cu_imin(int a, int b) { return a < b ? a : b; }
OS_HD int os_cu_imax(int a, int b) { return a > b ? a : b; }

/* the counter-based dropout draw of tensor/rng.h (os_hash64, os_hash_uniform),
 * the same arithmetic bit for bit */
OS_HD uint64_t os_cu_hash64(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}
OS_HD float os_cu_hash_uniform(uint64_t seed, uint64_t i)
{
    return (float)(os_cu_hash64(seed ^ os_cu_hash64(i)) >> 40) * (1.0f / 16777216.0f);
}

#endif
