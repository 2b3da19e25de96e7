/* ops/cpu/memory_cpu.c — fill, copy, axpy, scale, sums of squares and the
 * norm-driven updates (clip, axpy by a power of a device scalar). */
#include "ops/cpu/cpu_kernels.h"
#include "ops/cpu/cpu_util.h"

#include <math.h>
#include <omp.h>

#include <string.h>

/* t0 [any strides] = v */
void os_cpu_fill(const os_kargs *a)
{
    os_tensor *t = a->t[0];
    float v = *(const float *)a->params;
    if (os_is_contiguous(t)) {
        long n = os_numel(t);
        if (v == 0.0f) {
            /* zeroing a new gradient buffer is a large share of a step:
             * one memset per thread, as one core does not saturate memory */
            if (n <= OS_CPU_PAR_MIN) {
                memset(t->data, 0, sizeof(float) * (size_t)n);
                return;
            }
#pragma omp parallel
            {
                long T = omp_get_num_threads(), k = omp_get_thread_num();
                long lo = n * k / T, hi = n * (k + 1) / T;
                memset(t->data + lo, 0, sizeof(float) * (size_t)(hi - lo));
            }
            return;
        }
        for (long i = 0; i < n; i++)
            t->data[i] = v;
        return;
    }
    OS_FOR4(t, n, c, h, w) t->data[os_offset4(t, n, c, h, w)] = v;
}

/* dst [shape S, any strides] = src [shape S, any strides] */
void os_cpu_copy(const os_kargs *a)
{
    os_tensor *d = a->t[0], *s = a->t[1];
    if (os_is_contiguous(d) && os_is_contiguous(s)) {
        memcpy(d->data, s->data, sizeof(float) * (size_t)os_numel(d));
        return;
    }
    /* rows along the last dim are often contiguous on both sides */
    if (d->stride[3] == 1 && s->stride[3] == 1 && d->ndim == 4) {
        for (int n = 0; n < d->shape[0]; n++)
            for (int c = 0; c < d->shape[1]; c++)
                for (int h = 0; h < d->shape[2]; h++)
                    memcpy(d->data + os_offset4(d, n, c, h, 0), s->data + os_offset4(s, n, c, h, 0),
                           sizeof(float) * (size_t)d->shape[3]);
        return;
    }
    OS_FOR4(d, n, c, h, w) d->data[os_offset4(d, n, c, h, w)] = s->data[os_offset4(s, n, c, h, w)];
}

/* dst [S] += alpha * src [S], any strides */
void os_cpu_axpy(const os_kargs *a)
{
    os_tensor *d = a->t[0], *s = a->t[1];
    float al = *(const float *)a->params;
    if (os_is_contiguous(d) && os_is_contiguous(s)) {
        long n = os_numel(d);
        float *restrict dp = d->data;
        const float *restrict sp = s->data;
        if (al == 1.0f)
            for (long i = 0; i < n; i++)
                dp[i] += sp[i];
        else
            for (long i = 0; i < n; i++)
                dp[i] += al * sp[i];
        return;
    }
    OS_FOR4(d, n, c, h, w) d->data[os_offset4(d, n, c, h, w)] += al * s->data[os_offset4(s, n, c, h, w)];
}

/* t0 [contiguous] *= alpha */
void os_cpu_scale(const os_kargs *a)
{
    os_tensor *t = a->t[0];
    float al = *(const float *)a->params;
    long n = os_numel(t);
    for (long i = 0; i < n; i++)
        t->data[i] *= al;
}

/* out [1] = sum(x^2), x contiguous; accumulated in double */
void os_cpu_sumsq(const os_kargs *a)
{
    os_tensor *o = a->t[0], *x = a->t[1];
    long n = os_numel(x);
    double s = 0;
    for (long i = 0; i < n; i++)
        s += (double)x->data[i] * x->data[i];
    o->data[0] = (float)s;
}

/* out [1, any stride] += sum(x^2), x contiguous; the tensor's sum in double */
void os_cpu_sumsq_acc(const os_kargs *a)
{
    const os_tensor *x = a->t[1];
    long n = os_numel(x);
    double s = 0;
    for (long i = 0; i < n; i++)
        s += (double)x->data[i] * x->data[i];
    *os_cpu_elem(a->t[0], 0) += (float)s;
}

/* dst [S] += a * max(s[0], 1e-24)^e * src [S] (contiguous); s: 1 element */
void os_cpu_axpy_pow(const os_kargs *a)
{
    const os_axpy_pow_params *p = a->params;
    double s = *os_cpu_elem(a->t[2], 0);
    float c = (float)(p->a * pow(s > 1e-24 ? s : 1e-24, p->e));
    float *restrict d = a->t[0]->data;
    const float *restrict x = a->t[1]->data;
    long n = os_numel(a->t[0]);
    for (long i = 0; i < n; i++)
        d[i] += c * x[i];
}

/* t0 [S] (contiguous) *= c when c = a / (sqrt(s[0]) + 1e-6) < 1; s: 1 element */
void os_cpu_clip_scale(const os_kargs *a)
{
    float max_norm = *(const float *)a->params;
    float norm = sqrtf(*os_cpu_elem(a->t[1], 0));
    float c = max_norm / (norm + 1e-6f);
    if (!(c < 1.0f))
        return;
    float *restrict t = a->t[0]->data;
    long n = os_numel(a->t[0]);
    for (long i = 0; i < n; i++)
        t[i] *= c;
}
