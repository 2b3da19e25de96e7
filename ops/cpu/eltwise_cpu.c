/* ops/cpu/eltwise_cpu.c — activations, add/mul, scalar scaling, weighted sums,
 * dropout. Operands are contiguous unless a comment says "any stride"; all
 * same-shape operands are read as flat arrays of numel(t0) elements. */
#include "ops/cpu/cpu_kernels.h"
#include "ops/cpu/cpu_util.h"
#include "tensor/arena.h"
#include "tensor/rng.h"

#include <math.h>

static inline float sigmoidf(float v) { return 1.0f / (1.0f + expf(-v)); }

/* Runs `body` for i in [0, n), on threads when n is large. */
#define PAR_FOR(n, body)                                                    \
    do {                                                                    \
        long n_ = (n);                                                      \
        _Pragma("omp parallel for schedule(static) if (n_ > OS_CPU_PAR_MIN)") \
        for (long i = 0; i < n_; i++) {                                     \
            body;                                                           \
        }                                                                   \
    } while (0)

/* y [S] = f(x [S]), f = relu | relu6 | sigmoid | tanh */
void os_cpu_unary_fwd(const os_kargs *a)
{
    float *restrict y = a->t[0]->data;
    const float *restrict x = a->t[1]->data;
    long n = os_numel(a->t[0]);
    switch (((const os_unary_params *)a->params)->kind) {
    case OS_RELU:
        PAR_FOR(n, y[i] = x[i] > 0.0f ? x[i] : 0.0f);
        break;
    case OS_RELU6:
        PAR_FOR(n, y[i] = x[i] > 0.0f ? (x[i] < 6.0f ? x[i] : 6.0f) : 0.0f);
        break;
    case OS_SIGMOID:
        PAR_FOR(n, y[i] = sigmoidf(x[i]));
        break;
    case OS_TANH:
        PAR_FOR(n, y[i] = tanhf(x[i]));
        break;
    }
}

/* dx [S] += f'(x) * dy [S], f' taken from y = f(x) [S] (t3); t2 = x unused.
 * relu: 1 where y > 0 (0 at x = 0); relu6: 1 where 0 < y < 6;
 * sigmoid: y (1 - y); tanh: 1 - y^2. */
void os_cpu_unary_bwd(const os_kargs *a)
{
    float *restrict dx = a->t[0]->data;
    const float *restrict dy = a->t[1]->data;
    const float *restrict y = a->t[3]->data;
    long n = os_numel(a->t[0]);
    switch (((const os_unary_params *)a->params)->kind) {
    case OS_RELU:
        PAR_FOR(n, dx[i] += y[i] > 0.0f ? dy[i] : 0.0f);
        break;
    case OS_RELU6:
        PAR_FOR(n, dx[i] += (y[i] > 0.0f && y[i] < 6.0f) ? dy[i] : 0.0f);
        break;
    case OS_SIGMOID:
        PAR_FOR(n, dx[i] += dy[i] * y[i] * (1.0f - y[i]));
        break;
    case OS_TANH:
        PAR_FOR(n, dx[i] += dy[i] * (1.0f - y[i] * y[i]));
        break;
    }
}

/* y [S] = a [S] + b [S] */
void os_cpu_add(const os_kargs *a)
{
    float *restrict y = a->t[0]->data;
    const float *restrict p = a->t[1]->data, *restrict q = a->t[2]->data;
    PAR_FOR(os_numel(a->t[0]), y[i] = p[i] + q[i]);
}

/* y [S] = a [S] * b [S] */
void os_cpu_mul(const os_kargs *a)
{
    float *restrict y = a->t[0]->data;
    const float *restrict p = a->t[1]->data, *restrict q = a->t[2]->data;
    PAR_FOR(os_numel(a->t[0]), y[i] = p[i] * q[i]);
}

/* d [S] += dy [S] (t2) * other [S] (t3); t1 unused */
void os_cpu_mul_bwd(const os_kargs *a)
{
    float *restrict d = a->t[0]->data;
    const float *restrict dy = a->t[2]->data, *restrict o = a->t[3]->data;
    PAR_FOR(os_numel(a->t[0]), d[i] += dy[i] * o[i]);
}

/* y [S] = s * x [S]; s = t2, 1 element, any stride */
void os_cpu_scale_by(const os_kargs *a)
{
    float *restrict y = a->t[0]->data;
    const float *restrict x = a->t[1]->data;
    const float s = a->t[2]->data[0];
    PAR_FOR(os_numel(a->t[0]), y[i] = s * x[i]);
}

/* Deterministic sum(p * q) over n elements: per-block partials (parallel for
 * large n) added in block order. */
static double dot_blocked(const float *p, const float *q, long n)
{
    long nb = (n + OS_CPU_BLOCK - 1) / OS_CPU_BLOCK;
    if (nb <= 1)
        return os_cpu_dot(p, q, n);
    double *part = os_scratch_alloc(OS_CPU, sizeof(double) * (size_t)nb);
#pragma omp parallel for schedule(static) if (n > OS_CPU_PAR_MIN)
    for (long b = 0; b < nb; b++) {
        long j0 = b * OS_CPU_BLOCK, len = n - j0 < OS_CPU_BLOCK ? n - j0 : OS_CPU_BLOCK;
        part[b] = os_cpu_dot(p + j0, q + j0, len);
    }
    double s = 0;
    for (long b = 0; b < nb; b++)
        s += part[b];
    return s;
}

/* acc [1, any stride] += sum(p [S] * q [S]) */
void os_cpu_dot_acc(const os_kargs *a)
{
    float *acc = a->t[0]->data;
    *acc += (float)dot_blocked(a->t[1]->data, a->t[2]->data, os_numel(a->t[1]));
}

/* y [S] (=, or += when acc) sum_{i<n} w[w0+i] * x_i [S]; x_i: data pointers
 * in the params (NULL = zero); w: t1, any stride. All NULL: y = 0 (or kept). */
void os_cpu_wsum(const os_kargs *a)
{
    const os_wsum_params *p = a->params;
    float *y = a->t[0]->data;
    long len = os_numel(a->t[0]);
    long nb = (len + 4095) / 4096;
#pragma omp parallel for schedule(static) if (len > OS_CPU_PAR_MIN)
    for (long b = 0; b < nb; b++) {
        long j0 = b * 4096, j1 = j0 + 4096 < len ? j0 + 4096 : len;
        float *restrict yb = y;
        int first = !p->acc;
        for (int i = 0; i < p->n; i++) {
            if (!p->x[i])
                continue;
            const float *restrict xi = p->x[i];
            const float wi = *os_cpu_elem(a->t[1], p->w0 + i);
            if (first)
                for (long j = j0; j < j1; j++)
                    yb[j] = wi * xi[j];
            else
                for (long j = j0; j < j1; j++)
                    yb[j] += wi * xi[j];
            first = 0;
        }
        if (first) /* every input zero, nothing to add to */
            for (long j = j0; j < j1; j++)
                yb[j] = 0.0f;
    }
}

/* dx_i [S] += w[w0+i] * dy [S] (dx_i NULL: skipped); dw[w0+i] += sum(dy * x_i [S])
 * (x_i NULL: 0). t0 = dy, t1 = w (any stride), t2 = dw (any stride) or NULL;
 * x_i, dx_i: data pointers in the params.
 * One pass over dy in blocks; dw partials per block, added in block order. */
void os_cpu_wsum_bwd(const os_kargs *a)
{
    const os_wsum_bwd_params *p = a->params;
    const float *dy = a->t[0]->data;
    os_tensor *dw = a->t[2];
    long len = os_numel(a->t[0]);
    int n = p->n;
    long nb = (len + OS_CPU_BLOCK - 1) / OS_CPU_BLOCK;
    double *part = dw ? os_scratch_alloc(OS_CPU, sizeof(double) * (size_t)(nb * n + 1)) : NULL;
#pragma omp parallel for schedule(static) if (len > OS_CPU_PAR_MIN)
    for (long b = 0; b < nb; b++) {
        long j0 = b * OS_CPU_BLOCK, bl = len - j0 < OS_CPU_BLOCK ? len - j0 : OS_CPU_BLOCK;
        const float *restrict g = dy + j0;
        for (int i = 0; i < n; i++) {
            if (p->dx[i]) {
                float *restrict d = p->dx[i] + j0;
                const float wi = *os_cpu_elem(a->t[1], p->w0 + i);
                for (long j = 0; j < bl; j++)
                    d[j] += wi * g[j];
            }
            if (part)
                part[b * n + i] = p->x[i] ? os_cpu_dot(g, p->x[i] + j0, bl) : 0.0;
        }
    }
    if (!part)
        return;
    for (int i = 0; i < n; i++) {
        double s = 0;
        for (long b = 0; b < nb; b++)
            s += part[b * n + i];
        *os_cpu_elem(dw, p->w0 + i) += (float)s;
    }
}

/* Element i is kept when its counter-based uniform draw is >= p. */
static inline float keep_scale(const os_dropout_params *p, float scale, long i)
{
    return os_hash_uniform(p->seed, (uint64_t)i) >= p->p ? scale : 0.0f;
}

/* y [S] = x [S] * keep(i) / (1 - p); keep(i) from os_hash_uniform(seed, i) */
void os_cpu_dropout_fwd(const os_kargs *a)
{
    const os_dropout_params *p = a->params;
    float *restrict y = a->t[0]->data;
    const float *restrict x = a->t[1]->data;
    const float scale = 1.0f / (1.0f - p->p);
    PAR_FOR(os_numel(a->t[0]), y[i] = x[i] * keep_scale(p, scale, i));
}

/* dx [S] += dy [S] * keep(i) / (1 - p), the forward's mask recomputed */
void os_cpu_dropout_bwd(const os_kargs *a)
{
    const os_dropout_params *p = a->params;
    float *restrict dx = a->t[0]->data;
    const float *restrict dy = a->t[1]->data;
    const float scale = 1.0f / (1.0f - p->p);
    PAR_FOR(os_numel(a->t[0]), dx[i] += dy[i] * keep_scale(p, scale, i));
}

/* mask [N, per] (contiguous): row n = 1/(1-p) when os_hash_uniform(seed, n) >= p, else 0 */
void os_cpu_droppath_mask(const os_kargs *a)
{
    const os_dropout_params *p = a->params;
    os_tensor *m = a->t[0];
    int N = m->shape[0];
    long per = N ? os_numel(m) / N : 0;
    const float scale = 1.0f / (1.0f - p->p);
    for (int n = 0; n < N; n++) {
        float k = keep_scale(p, scale, n);
        float *restrict row = m->data + (long)n * per;
        for (long i = 0; i < per; i++)
            row[i] = k;
    }
}
