/* bench/bench_util.h — what the benchmarks share: a clock and the machine's
 * ceilings measured in the same run (one OpenBLAS sgemm call, the memory
 * bandwidth of a triad), against which a kernel's GFLOP/s or GB/s is read. */
#ifndef OS_BENCH_UTIL_H
#define OS_BENCH_UTIL_H

#include <cblas.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

#include "tensor/rng.h"

extern void openblas_set_num_threads(int);

static inline double bench_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* best GFLOP/s of C[m,n] = A[m,k] B[k,n] with `threads` OpenBLAS threads */
static inline double bench_sgemm_gflops(int m, int n, int k, int threads, int repeats)
{
    float *a = aligned_alloc(64, sizeof(float) * (size_t)m * k + 64);
    float *b = aligned_alloc(64, sizeof(float) * (size_t)k * n + 64);
    float *c = aligned_alloc(64, sizeof(float) * (size_t)m * n + 64);
    for (long i = 0; i < (long)m * k; i++)
        a[i] = (float)(i % 7) * 0.1f;
    for (long i = 0; i < (long)k * n; i++)
        b[i] = (float)(i % 5) * 0.1f;
    openblas_set_num_threads(threads);
    double best = 1e30;
    for (int r = 0; r < repeats + 1; r++) {
        double t0 = bench_now();
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, n, k, 1.0f, a, k, b, n, 0.0f, c, n);
        double t = bench_now() - t0;
        if (r > 0 && t < best)
            best = t;
    }
    openblas_set_num_threads(1);
    free(a);
    free(b);
    free(c);
    return 2.0 * m * n * k / best * 1e-9;
}

/* best GB/s of a[i] = b[i] + s * c[i] (12 bytes per element moved) */
static inline double bench_triad_gbs(long n, int threads, int reps)
{
    float *a = aligned_alloc(64, sizeof(float) * n), *b = aligned_alloc(64, sizeof(float) * n),
          *c = aligned_alloc(64, sizeof(float) * n);
#pragma omp parallel for num_threads(threads) schedule(static)
    for (long i = 0; i < n; i++) {
        a[i] = 0.0f;
        b[i] = 1.0f;
        c[i] = 2.0f;
    }
    double best = 1e30;
    for (int r = 0; r < reps + 1; r++) {
        double t0 = bench_now();
#pragma omp parallel for num_threads(threads) schedule(static)
        for (long i = 0; i < n; i++)
            a[i] = b[i] + 0.5f * c[i];
        double t = bench_now() - t0;
        if (r > 0 && t < best)
            best = t;
    }
    volatile float sink = a[n / 2];
    (void)sink;
    free(a);
    free(b);
    free(c);
    return 12.0 * n / best * 1e-9;
}

/* n random samples of `pixels` floats each (standard normal) and n labels
 * in [0, 10), drawn from seed 3: the benchmarks' data. Free both. */
static inline void bench_random_batch(size_t pixels, int n, float **x, int32_t **y)
{
    os_rng r;
    os_rng_seed(&r, 3);
    *x = malloc(sizeof(float) * pixels * (size_t)n);
    *y = malloc(sizeof(int32_t) * (size_t)n);
    for (size_t i = 0; i < pixels * (size_t)n; i++)
        (*x)[i] = os_rng_normal(&r);
    for (int i = 0; i < n; i++)
        (*y)[i] = (int32_t)os_rng_below(&r, 10);
}

#endif
