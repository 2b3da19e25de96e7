/* bench/bench_conv.c — convolution kernels at the DARTS search shapes
 * (batch 64; 16 ch 32x32, 32 ch 16x16, 64 ch 8x8), against two ceilings
 * measured in the same run with the same thread count:
 *   - one OpenBLAS sgemm call (threads = ours) of a conv-like shape
 *     [C, 9C] x [9C, 4096] and of a square 1024^3 shape;
 *   - memory bandwidth of a triad a = b + s*c, once on 3 x 128 MiB arrays
 *     (DRAM) and once on 3 x 4 MiB arrays (about a conv's working set, which
 *     stays in the last-level cache).
 * A second table runs the depthwise kernels at the Fashion-MNIST widths
 * (16 ch 28x28, 32 ch 14x14, 64 ch 7x7), whose rows are not whole 8-float
 * vectors.
 * Kernels run through the backend (OS_RUN) on preallocated tensors; each
 * number is the best of several repeats.
 * Usage: bench_conv [repeats [threads]]   (threads 0 = all cores, the default)
 */
#include "tensor/tensor.h"
#include "tensor/arena.h"
#include "tensor/backend.h"
#include "ops/ops.h"
#include "bench/bench_util.h"

#include <cblas.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int repeats = 5;

static os_tensor *persistent4(int n, int c, int h, int w, float v)
{
    int s[4] = {n, c, h, w};
    os_tensor *t = os_tensor_new_persistent(OS_CPU, 4, s);
    long k = os_numel(t);
    for (long i = 0; i < k; i++)
        t->data[i] = v * (float)((i * 2654435761u) % 1000) / 1000.0f - 0.5f * v;
    return t;
}

/* ---- convolutions ------------------------------------------------------------- */
typedef struct {
    const char *name;
    int k, dil, depthwise, pointwise;
} conv_kind;

static const conv_kind kinds[] = {
    {"3x3 conv C->C (GEMM)", 3, 1, 0, 0},
    {"1x1 conv C->C (GEMM)", 1, 1, 0, 1},
    {"dw 3x3", 3, 1, 1, 0},
    {"dw 5x5", 5, 1, 1, 0},
    {"dw 3x3 dil 2", 3, 2, 1, 0},
    {"dw 5x5 dil 2", 5, 2, 1, 0},
};

typedef struct { double fwd_ms, bwd_ms, fwd_gf, bwd_gf, fwd_gbs, bwd_gbs; } result;

static result run_conv(const conv_kind *kd, int n, int c, int hw)
{
    int g = kd->depthwise ? c : 1, cig = c / g, pad = kd->dil * (kd->k - 1) / 2;
    os_conv2d_params p = {1, 1, pad, pad, kd->dil, kd->dil, g};
    os_tensor *x = persistent4(n, c, hw, hw, 1.0f), *y = persistent4(n, c, hw, hw, 0.0f);
    os_tensor *dy = persistent4(n, c, hw, hw, 1.0f), *dx = persistent4(n, c, hw, hw, 0.0f);
    os_tensor *w = persistent4(c, cig, kd->k, kd->k, 0.2f), *dw = persistent4(c, cig, kd->k, kd->k, 0.0f);
    double bf = 1e30, bb = 1e30;
    for (int r = 0; r < repeats + 1; r++) {
        double t0 = bench_now();
        OS_RUN(CONV2D_FWD, &p, y, x, w, NULL);
        double t1 = bench_now();
        OS_RUN(CONV2D_BWD_DATA, &p, dx, dy, w);
        OS_RUN(CONV2D_BWD_WEIGHT, &p, dw, dy, x, NULL);
        double t2 = bench_now();
        os_step_reset();
        if (r > 0) { /* the first call warms caches and the arena */
            bf = t1 - t0 < bf ? t1 - t0 : bf;
            bb = t2 - t1 < bb ? t2 - t1 : bb;
        }
    }
    double flops = 2.0 * n * c * hw * hw * (double)cig * kd->k * kd->k;
    double plane = 4.0 * n * c * hw * hw; /* bytes of one activation tensor */
    result res = {bf * 1e3, bb * 1e3, flops / bf * 1e-9, 2 * flops / bb * 1e-9,
                  /* fwd: read x, write y; bwd: data reads dy and dx, writes dx,
                   * weight reads dy and x */
                  2 * plane / bf * 1e-9, 5 * plane / bb * 1e-9};
    os_tensor_free(x);
    os_tensor_free(y);
    os_tensor_free(dy);
    os_tensor_free(dx);
    os_tensor_free(w);
    os_tensor_free(dw);
    return res;
}

typedef struct { double gemm_like[3], gemm_sq, bw_dram, bw_llc; } ceilings;

static const int shapes[3][2] = {{16, 32}, {32, 16}, {64, 8}};
static const int fm_shapes[3][2] = {{16, 28}, {32, 14}, {64, 7}}; /* Fashion-MNIST */
#define N_KINDS (sizeof kinds / sizeof kinds[0])

static void measure_ceilings(ceilings *c, int T)
{
    for (int s = 0; s < 3; s++)
        c->gemm_like[s] = bench_sgemm_gflops(shapes[s][0], 4096, 9 * shapes[s][0], T, repeats);
    c->gemm_sq = bench_sgemm_gflops(1024, 1024, 1024, T, repeats);
    c->bw_dram = bench_triad_gbs(32L << 20, T, 8);  /* 3 x 128 MiB */
    c->bw_llc = bench_triad_gbs(1L << 20, T, 100);  /* 3 x 4 MiB */
}

static double max2(double a, double b) { return a > b ? a : b; }

int main(int argc, char **argv)
{
    if (argc > 1)
        repeats = atoi(argv[1]) > 0 ? atoi(argv[1]) : repeats;
    os_set_threads(argc > 2 ? atoi(argv[2]) : 0);
    int T = os_threads();
    double t_start = bench_now();
    printf("bench_conv: %d threads, best of %d\n\n", T, repeats);

    /* ceilings before and after the convs; the better of the two is used */
    ceilings a, b;
    measure_ceilings(&a, T);
    result res[3][N_KINDS], fm[3][N_KINDS];
    for (int s = 0; s < 3; s++)
        for (size_t k = 0; k < N_KINDS; k++) {
            res[s][k] = run_conv(&kinds[k], 64, shapes[s][0], shapes[s][1]);
            if (kinds[k].depthwise)
                fm[s][k] = run_conv(&kinds[k], 64, fm_shapes[s][0], fm_shapes[s][1]);
        }
    measure_ceilings(&b, T);
    for (int s = 0; s < 3; s++)
        a.gemm_like[s] = max2(a.gemm_like[s], b.gemm_like[s]);
    a.gemm_sq = max2(a.gemm_sq, b.gemm_sq);
    a.bw_dram = max2(a.bw_dram, b.bw_dram);
    a.bw_llc = max2(a.bw_llc, b.bw_llc);

    printf("ceilings (%d threads, best of before / after the convs)\n", T);
    for (int s = 0; s < 3; s++) {
        int c = shapes[s][0];
        char label[40];
        snprintf(label, sizeof label, "sgemm [%d,%d]x[%d,4096]", c, 9 * c, 9 * c);
        printf("  %-29s %8.1f GFLOP/s\n", label, a.gemm_like[s]);
    }
    printf("  sgemm 1024^3                  %8.1f GFLOP/s\n", a.gemm_sq);
    printf("  triad 3 x 128 MiB (DRAM)      %8.1f GB/s\n", a.bw_dram);
    printf("  triad 3 x 4 MiB (cache)       %8.1f GB/s\n\n", a.bw_llc);

    printf("%-21s %-12s %8s %8s %8s %8s %8s %8s %8s %8s\n", "conv (batch 64)", "shape", "fwd ms",
           "GFLOP/s", "bwd ms", "GFLOP/s", "fwd GB/s", "bwd GB/s", "fwd/ceil", "bwd/ceil");
    for (int s = 0; s < 3; s++) {
        int c = shapes[s][0], hw = shapes[s][1];
        for (size_t k = 0; k < N_KINDS; k++) {
            result r = res[s][k];
            char shape[32];
            snprintf(shape, sizeof shape, "%dch %dx%d", c, hw, hw);
            double cf = kinds[k].depthwise ? r.fwd_gbs / a.bw_dram : r.fwd_gf / a.gemm_like[s];
            double cb = kinds[k].depthwise ? r.bwd_gbs / a.bw_dram : r.bwd_gf / a.gemm_like[s];
            printf("%-21s %-12s %8.3f %8.1f %8.3f %8.1f %8.1f %8.1f %8.2f %8.2f\n", kinds[k].name,
                   shape, r.fwd_ms, r.fwd_gf, r.bwd_ms, r.bwd_gf, r.fwd_gbs, r.bwd_gbs, cf, cb);
        }
    }
    printf("\n%-21s %-12s %8s %8s %8s %8s %8s %8s\n", "depthwise (batch 64)", "shape", "fwd ms",
           "bwd ms", "fwd GB/s", "bwd GB/s", "fwd/ceil", "bwd/ceil");
    for (int s = 0; s < 3; s++)
        for (size_t k = 0; k < N_KINDS; k++) {
            if (!kinds[k].depthwise)
                continue;
            result r = fm[s][k];
            char shape[32];
            snprintf(shape, sizeof shape, "%dch %dx%d", fm_shapes[s][0], fm_shapes[s][1], fm_shapes[s][1]);
            printf("%-21s %-12s %8.3f %8.3f %8.1f %8.1f %8.2f %8.2f\n", kinds[k].name, shape, r.fwd_ms,
                   r.bwd_ms, r.fwd_gbs, r.bwd_gbs, r.fwd_gbs / a.bw_dram, r.bwd_gbs / a.bw_dram);
        }
    printf("\nbwd = backward data + backward weight. GB/s: minimal traffic over time (fwd:\n"
           "read x, write y; bwd: read dy twice, x and dx, write dx). ceil: the conv-like\n"
           "sgemm GFLOP/s for GEMM convs, the DRAM triad GB/s for depthwise.\n");
    printf("total bench time %.1f s\n", bench_now() - t_start);
    os_step_shutdown();
    return 0;
}
