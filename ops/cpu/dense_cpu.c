/* ops/cpu/dense_cpu.c — matrix product (OpenBLAS sgemm), bias rows, row sums.
 * All operands are contiguous row-major 2-D tensors. */
#include "ops/cpu/cpu_kernels.h"
#include "ops/cpu/cpu_util.h"
#include "tensor/arena.h"

#include <cblas.h>
#include <string.h>

/* C [M,N] = alpha * op(A) op(B) + beta * C; op(A) [M,K] (A stored [K,M] when
 * trans_a), op(B) [K,N] (B stored [N,K] when trans_b). Large products split
 * the rows of C over the OpenMP threads (OpenBLAS itself runs one thread);
 * the split depends only on the thread count, so results are reproducible.
 * A single row (M = 1) is one sgemv. */
void os_cpu_gemm(const os_kargs *a)
{
    const os_gemm_params *p = a->params;
    os_tensor *C = a->t[0], *A = a->t[1], *B = a->t[2];
    int M = C->shape[0], N = C->shape[1];
    int K = p->trans_a ? A->shape[0] : A->shape[1];
    int lda = A->shape[1], ldb = B->shape[1], ldc = N;
    if (M == 0 || N == 0)
        return;
    if (p->beta == 0.0f) /* C may hold garbage (NaN) from the arena */
        memset(C->data, 0, sizeof(float) * (size_t)M * (size_t)N);
    if (K == 0) {
        if (p->beta != 0.0f && p->beta != 1.0f)
            for (long i = 0; i < (long)M * N; i++)
                C->data[i] *= p->beta;
        return;
    }
    if (M == 1) { /* one row (a controller's LSTM step): sgemv, without sgemm's packing of B */
        /* y [N] = alpha * op(B)^T a + beta * y; a = op(A)'s row, stride 1 either way (lda = M = 1 when trans_a) */
        cblas_sgemv(CblasRowMajor, p->trans_b ? CblasNoTrans : CblasTrans, B->shape[0], B->shape[1], p->alpha,
                    B->data, ldb, A->data, 1, p->beta, C->data, 1);
        return;
    }
    enum CBLAS_TRANSPOSE ta = p->trans_a ? CblasTrans : CblasNoTrans;
    enum CBLAS_TRANSPOSE tb = p->trans_b ? CblasTrans : CblasNoTrans;
    int nt = os_threads();
    double flops = 2.0 * M * N * K;
    int parts = (flops > 4e6 && M >= 2 * nt) ? nt : 1;
#pragma omp parallel for schedule(static) num_threads(parts) if (parts > 1)
    for (int t = 0; t < parts; t++) {
        int m0 = (int)((long)M * t / parts), m1 = (int)((long)M * (t + 1) / parts);
        const float *Ap = p->trans_a ? A->data + m0 : A->data + (long)m0 * lda;
        cblas_sgemm(CblasRowMajor, ta, tb, m1 - m0, N, K, p->alpha, Ap, lda, B->data, ldb,
                    p->beta, C->data + (long)m0 * ldc, ldc);
    }
}

/* y [M,N] += b [N] on every row */
void os_cpu_bias_rows(const os_kargs *a)
{
    os_tensor *y = a->t[0];
    const float *restrict b = a->t[1]->data;
    long M = y->shape[0], N = y->shape[1];
#pragma omp parallel for schedule(static) if (M * N > OS_CPU_PAR_MIN)
    for (long m = 0; m < M; m++) {
        float *restrict r = y->data + m * N;
        for (long j = 0; j < N; j++)
            r[j] += b[j];
    }
}

/* s [N] += sum over m of x [M,N]; columns are split across threads, each
 * column summed in row order (deterministic). */
void os_cpu_sum_rows(const os_kargs *a)
{
    float *s = a->t[0]->data;
    const os_tensor *x = a->t[1];
    long M = x->shape[0], N = x->shape[1];
    const long CB = 256; /* columns per task: one accumulator block on the stack */
    long nb = (N + CB - 1) / CB;
#pragma omp parallel for schedule(static) if (M * N > OS_CPU_PAR_MIN && nb > 1)
    for (long b = 0; b < nb; b++) {
        long j0 = b * CB, w = N - j0 < CB ? N - j0 : CB;
        double acc[256] = {0};
        for (long m = 0; m < M; m++) {
            const float *restrict r = x->data + m * N + j0;
            for (long j = 0; j < w; j++)
                acc[j] += r[j];
        }
        for (long j = 0; j < w; j++)
            s[j0 + j] += (float)acc[j];
    }
}
