/* ops/cpu/select_cpu.c — argmax per row, one-hot rows, the accuracy count:
 * what a training step needs of its logits and alphas without reading them
 * on the host. Ties go to the first index (j replaces best only when
 * x[j] > x[best]), as the host code did. */
#include "ops/cpu/cpu_kernels.h"
#include "ops/cpu/cpu_util.h"

static int row_argmax(const float *x, int K)
{
    int best = 0;
    for (int j = 1; j < K; j++)
        if (x[j] > x[best])
            best = j;
    return best;
}

/* idx [M, any stride] = argmax of each row of x [M,K] (contiguous), as float */
void os_cpu_argmax(const os_kargs *a)
{
    const os_tensor *x = a->t[1];
    int K = x->ndim == 1 ? x->shape[0] : x->shape[x->ndim - 1];
    long M = K ? os_numel(x) / K : 0;
    for (long m = 0; m < M; m++)
        *os_cpu_elem(a->t[0], m) = (float)row_argmax(x->data + m * K, K);
}

/* y [M,K] (contiguous) = one-hot of idx [M, any stride] (float indices) */
void os_cpu_onehot(const os_kargs *a)
{
    os_tensor *y = a->t[0];
    int K = y->ndim == 1 ? y->shape[0] : y->shape[y->ndim - 1];
    long M = K ? os_numel(y) / K : 0;
    for (long m = 0; m < M; m++) {
        int j = (int)*os_cpu_elem(a->t[1], m);
        for (int k = 0; k < K; k++)
            y->data[m * K + k] = k == j ? 1.0f : 0.0f;
    }
}

/* count [1, any stride] += #rows m of logits [N,K] (contiguous) with argmax == labels[m] */
void os_cpu_acc_count(const os_kargs *a)
{
    const os_xent_params *p = a->params;
    const float *x = a->t[1]->data;
    int c = 0;
    for (int n = 0; n < p->n; n++)
        c += row_argmax(x + (long)n * p->k, p->k) == p->labels[n];
    *os_cpu_elem(a->t[0], 0) += (float)c;
}
