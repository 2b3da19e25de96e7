/* ops/cpu/softmax_cpu.c — softmax / log-softmax over one dim, cross-entropy.
 * A tensor is seen as [outer, D, inner] (contiguous): the D values of one
 * (o, k) pair are at o*D*inner + d*inner + k. */
#include "ops/cpu/cpu_kernels.h"
#include "ops/cpu/cpu_util.h"
#include "tensor/arena.h"

#include <math.h>

/* y [outer,D,inner] = softmax or log_softmax of x [outer,D,inner] over D,
 * shifted by the max for stability */
void os_cpu_softmax_fwd(const os_kargs *a)
{
    const os_softmax_params *p = a->params;
    float *y = a->t[0]->data;
    const float *x = a->t[1]->data;
    const long D = p->dim, in = p->inner, rows = (long)p->outer * in;
#pragma omp parallel for schedule(static) if (rows * D > OS_CPU_PAR_MIN)
    for (long r = 0; r < rows; r++) {
        long base = (r / in) * D * in + r % in;
        const float *xr = x + base;
        float *yr = y + base;
        float m = -INFINITY;
        for (long d = 0; d < D; d++)
            m = xr[d * in] > m ? xr[d * in] : m;
        double s = 0;
        for (long d = 0; d < D; d++) {
            float e = expf(xr[d * in] - m);
            s += e;
            if (!p->log)
                yr[d * in] = e;
        }
        if (p->log) {
            float lse = m + (float)log(s);
            for (long d = 0; d < D; d++)
                yr[d * in] = xr[d * in] - lse;
        } else {
            float inv = (float)(1.0 / s);
            for (long d = 0; d < D; d++)
                yr[d * in] *= inv;
        }
    }
}

/* dx [outer,D,inner] += grad through softmax over D, from y and dy:
 *   softmax:     dx = y * (dy - sum_D(dy * y))
 *   log_softmax: dx = dy - exp(y) * sum_D(dy) */
void os_cpu_softmax_bwd(const os_kargs *a)
{
    const os_softmax_params *p = a->params;
    float *dx = a->t[0]->data;
    const float *dy = a->t[1]->data, *y = a->t[2]->data;
    const long D = p->dim, in = p->inner, rows = (long)p->outer * in;
#pragma omp parallel for schedule(static) if (rows * D > OS_CPU_PAR_MIN)
    for (long r = 0; r < rows; r++) {
        long base = (r / in) * D * in + r % in;
        float *dxr = dx + base;
        const float *dyr = dy + base, *yr = y + base;
        double s = 0;
        if (p->log) {
            for (long d = 0; d < D; d++)
                s += dyr[d * in];
            for (long d = 0; d < D; d++)
                dxr[d * in] += dyr[d * in] - expf(yr[d * in]) * (float)s;
        } else {
            for (long d = 0; d < D; d++)
                s += (double)dyr[d * in] * yr[d * in];
            for (long d = 0; d < D; d++)
                dxr[d * in] += yr[d * in] * (dyr[d * in] - (float)s);
        }
    }
}

/* loss [1] = mean over rows of -sum_k target_k log p_k; probs [N,K] = softmax
 * of logits [N,K] (saved for the backward); target = (1-s) onehot(label) + s/K */
void os_cpu_xent_fwd(const os_kargs *a)
{
    const os_xent_params *p = a->params;
    const float *x = a->t[1]->data;
    float *pr = a->t[2]->data;
    const long N = p->n, K = p->k;
    const double s = p->smoothing;
    double *row = os_scratch_alloc(OS_CPU, sizeof(double) * (size_t)(N ? N : 1));
#pragma omp parallel for schedule(static) if (N * K > OS_CPU_PAR_MIN)
    for (long i = 0; i < N; i++) {
        const float *xr = x + i * K;
        float *pi = pr + i * K;
        float m = -INFINITY;
        for (long k = 0; k < K; k++)
            m = xr[k] > m ? xr[k] : m;
        double z = 0, sum_x = 0;
        for (long k = 0; k < K; k++) {
            float e = expf(xr[k] - m);
            pi[k] = e;
            z += e;
            sum_x += xr[k];
        }
        float inv = (float)(1.0 / z);
        for (long k = 0; k < K; k++)
            pi[k] *= inv;
        double lse = m + log(z);
        double logp_y = xr[p->labels[i]] - lse;
        double sum_logp = sum_x - (double)K * lse;
        row[i] = -((1.0 - s) * logp_y + s / (double)K * sum_logp);
    }
    double loss = 0;
    for (long i = 0; i < N; i++)
        loss += row[i];
    a->t[0]->data[0] = (float)(N ? loss / (double)N : 0.0);
}

/* dlogits [N,K] += dloss[0] * (probs - target) / N */
void os_cpu_xent_bwd(const os_kargs *a)
{
    const os_xent_params *p = a->params;
    float *dx = a->t[0]->data;
    const float *pr = a->t[2]->data;
    const long N = p->n, K = p->k;
    const float g = a->t[1]->data[0] / (float)(N ? N : 1);
    const float off = p->smoothing / (float)K, on = 1.0f - p->smoothing + off;
#pragma omp parallel for schedule(static) if (N * K > OS_CPU_PAR_MIN)
    for (long i = 0; i < N; i++) {
        float *d = dx + i * K;
        const float *pi = pr + i * K;
        for (long k = 0; k < K; k++)
            d[k] += g * (pi[k] - off);
        d[p->labels[i]] -= g * (on - off);
    }
}
