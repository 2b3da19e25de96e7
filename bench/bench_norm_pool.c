/* bench/bench_norm_pool.c — batch norm and pooling kernels at the DARTS search
 * shapes (batch 64: 16ch 32x32, 32ch 16x16, 64ch 8x8), against the machine's
 * memory bandwidth measured in the same run.
 *
 * Kernels are run through os_dispatch (OS_RUN) on prepared tensors, so the
 * time is the kernel's alone. Effective GB/s = the minimal bytes the kernel
 * must move / time:
 *   BN train forward   read x, write y                       2 S
 *   BN train backward  read dy, x, read + write dx (+=)      4 S
 *   pool forward       read x, write y                       S + So
 *   max pool backward  read dy, x, read + write dx           So + 3 S
 *   avg pool backward  read dy, read + write dx              So + 2 S
 * (S, So: bytes of the input, output.) Each number is the best single call
 * of up to 60. The tensors (1-4 MB) fit in the L3
 * cache, so the in-cache copy bandwidth is printed too.
 */
#include "tensor/tensor.h"
#include "tensor/arena.h"
#include "tensor/backend.h"
#include "tensor/rng.h"
#include "ops/ops.h"

#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MIN_CALLS 5
#define MAX_CALLS 60
#define BUDGET_S 0.15 /* per measurement: stop after this long once MIN_CALLS ran */

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

typedef void (*bench_fn)(void *ctx);

/* Best single-call time (seconds) over up to MAX_CALLS calls. The machine may
 * be shared: one descheduled OpenMP thread stalls a whole call, so the
 * minimum, not the mean, is the kernel's own speed. */
static double best_time(bench_fn f, void *ctx)
{
    f(ctx); /* warm up: caches, page faults, thread pool */
    double best = 1e30, start = now_s();
    for (int i = 0; i < MAX_CALLS; i++) {
        double t0 = now_s();
        f(ctx);
        double t = now_s() - t0;
        if (t < best)
            best = t;
        if (i + 1 >= MIN_CALLS && now_s() - start > BUDGET_S)
            break;
    }
    return best;
}

/* ---- memory bandwidth -------------------------------------------------------- */

typedef struct {
    float *a, *b, *c;
    long n;
} triad_ctx;

static void triad(void *p)
{
    triad_ctx *t = p;
    float *restrict a = t->a;
    const float *restrict b = t->b, *restrict c = t->c;
#pragma omp parallel for schedule(static)
    for (long i = 0; i < t->n; i++)
        a[i] = b[i] + 0.5f * c[i];
}

static void copy_par(void *p)
{
    triad_ctx *t = p;
#pragma omp parallel
    {
        int nt = omp_get_num_threads(), id = omp_get_thread_num();
        long lo = t->n * id / nt, hi = t->n * (id + 1) / nt;
        memcpy(t->a + lo, t->b + lo, sizeof(float) * (size_t)(hi - lo));
    }
}

/* GB/s of a[i] = b[i] + s*c[i] (12 bytes per element) and of memcpy (8) over n floats */
static void bandwidth(long n, double *triad_gbs, double *copy_gbs)
{
    triad_ctx t = {aligned_alloc(64, sizeof(float) * (size_t)n), aligned_alloc(64, sizeof(float) * (size_t)n),
                   aligned_alloc(64, sizeof(float) * (size_t)n), n};
#pragma omp parallel for schedule(static)
    for (long i = 0; i < n; i++) { /* first touch by the threads that use the pages */
        t.a[i] = 0;
        t.b[i] = 1;
        t.c[i] = 2;
    }
    *triad_gbs = 12.0 * (double)n / best_time(triad, &t) * 1e-9;
    *copy_gbs = 8.0 * (double)n / best_time(copy_par, &t) * 1e-9;
    free(t.a);
    free(t.b);
    free(t.c);
}

/* ---- kernels --------------------------------------------------------------------- */

typedef struct {
    os_tensor *x, *y, *dy, *dx, *mean, *invstd, *rm, *rv;
    os_pool_params pool;
    os_bn_params bn;
} kctx;

static void bn_fwd(void *p)
{
    kctx *k = p;
    OS_RUN(BN_FWD_TRAIN, &k->bn, k->y, k->x, NULL, NULL, k->mean, k->invstd, k->rm, k->rv);
}

static void bn_bwd(void *p)
{
    kctx *k = p;
    OS_RUN(BN_BWD_TRAIN, &k->bn, k->dx, k->dy, k->x, NULL, k->mean, k->invstd, NULL, NULL);
}

static void max_fwd(void *p)
{
    kctx *k = p;
    OS_RUN(MAXPOOL_FWD, &k->pool, k->y, k->x);
}

static void max_bwd(void *p)
{
    kctx *k = p;
    OS_RUN(MAXPOOL_BWD, &k->pool, k->dx, k->dy, k->x);
}

static void avg_fwd(void *p)
{
    kctx *k = p;
    OS_RUN(AVGPOOL_FWD, &k->pool, k->y, k->x);
}

static void avg_bwd(void *p)
{
    kctx *k = p;
    OS_RUN(AVGPOOL_BWD, &k->pool, k->dx, k->dy);
}

static os_tensor *random4(os_rng *r, int n, int c, int h, int w)
{
    os_tensor *t = os_tensor_new4(n, c, h, w);
    for (long i = 0; i < os_numel(t); i++)
        t->data[i] = os_rng_normal(r);
    return t;
}

static double dram_triad;

static void report(const char *what, int C, int H, double bytes, double t)
{
    double gbs = bytes / t * 1e-9;
    printf("  %-24s %3dch %2dx%-2d %8.3f ms %7.1f GB/s  %5.2f x triad\n", what, C, H, H, t * 1e3, gbs,
           gbs / dram_triad);
}

static void bench_shape(os_rng *r, int N, int C, int H)
{
    int cs[1] = {C};
    kctx k = {0};
    k.x = random4(r, N, C, H, H);
    k.y = os_tensor_like(k.x);
    k.dy = random4(r, N, C, H, H);
    k.dx = os_tensor_zeros(4, k.x->shape);
    k.mean = os_tensor_new(1, cs);
    k.invstd = os_tensor_new(1, cs);
    k.rm = os_tensor_zeros(1, cs);
    k.rv = os_tensor_zeros(1, cs);
    k.bn = (os_bn_params){.eps = 1e-5f, .momentum = 0.1f};
    double S = 4.0 * (double)os_numel(k.x);

    report("bn train fwd", C, H, 2 * S, best_time(bn_fwd, &k));
    report("bn train bwd", C, H, 4 * S, best_time(bn_bwd, &k));

    for (int s = 1; s <= 2; s++) {
        int oh = (H + 2 - 3) / s + 1;
        kctx q = k;
        q.pool = (os_pool_params){.kh = 3, .kw = 3, .stride = s, .pad = 1, .count_include_pad = 0};
        q.y = os_tensor_new4(N, C, oh, oh);
        q.dy = random4(r, N, C, oh, oh);
        double So = 4.0 * (double)os_numel(q.y);
        char name[32];
        snprintf(name, sizeof name, "max pool 3x3 s%d fwd", s);
        report(name, C, H, S + So, best_time(max_fwd, &q));
        snprintf(name, sizeof name, "max pool 3x3 s%d bwd", s);
        report(name, C, H, So + 3 * S, best_time(max_bwd, &q));
        snprintf(name, sizeof name, "avg pool 3x3 s%d fwd", s);
        report(name, C, H, S + So, best_time(avg_fwd, &q));
        snprintf(name, sizeof name, "avg pool 3x3 s%d bwd", s);
        report(name, C, H, So + 2 * S, best_time(avg_bwd, &q));
    }
    os_step_reset();
}

int main(void)
{
    /* all cores; BENCH_THREADS=n overrides (1 gives steadier A/B numbers on a shared machine) */
    const char *bt = getenv("BENCH_THREADS");
    os_set_threads(bt ? atoi(bt) : 0);
    double t0 = now_s();
    double cache_triad, cache_copy, dram_copy;
    bandwidth(64L << 20, &dram_triad, &dram_copy);  /* 3 x 256 MB */
    bandwidth(1L << 20, &cache_triad, &cache_copy); /* 3 x 4 MB: the largest DARTS tensor */
    double load[1] = {0};
    getloadavg(load, 1);
    printf("bench_norm_pool: %d threads, load average %.2f on %d cpus%s\n", os_threads(), load[0],
           omp_get_num_procs(), load[0] > 0.5 ? " (shared machine: other work skews these numbers)" : "");
    printf("  memory bandwidth: triad %.1f GB/s, copy %.1f GB/s (3 x 256 MB)\n", dram_triad, dram_copy);
    printf("  in-cache bandwidth: triad %.1f GB/s, copy %.1f GB/s (3 x 4 MB)\n", cache_triad, cache_copy);
    printf("  ratios below are against the 256 MB triad\n");
    os_rng r;
    os_rng_seed(&r, 1);
    bench_shape(&r, 64, 16, 32);
    bench_shape(&r, 64, 32, 16);
    bench_shape(&r, 64, 64, 8);
    printf("  total %.1f s\n", now_s() - t0);
    os_step_shutdown();
    return 0;
}
