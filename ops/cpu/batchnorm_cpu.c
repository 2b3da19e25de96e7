/* ops/cpu/batchnorm_cpu.c — batch norm kernels (see ops/batchnorm.c for the maths).
 *
 * One OpenMP task per channel: a channel's N*H*W values are reduced in a fixed
 * order, so results do not depend on the thread count: runs of at most CHUNK
 * values are summed in float (SIMD lanes), each run's sum is added in double.
 * The statistics pass sums x - (the channel's first value), so a mean far
 * from 0 costs no precision in the variance.
 * Training forward reads x twice (statistics, then normalise) and writes y
 * once; training backward reads dy and x twice and dx once. A channel is N
 * planes of H*W values: at the DARTS shapes (64 x 1024 floats) the second
 * read comes from the core's L2.
 *
 * Planes are walked as runs of contiguous values: the whole plane when every
 * operand stores it densely, else row by row (views: channel slices, spatial
 * offsets); a non-unit W stride takes the scalar path.
 */
#include "ops/cpu/cpu_kernels.h"

#include <math.h>

#define CHUNK 512 /* values summed in float (SIMD lanes) before the partial moves to double */

/* How one (n, c) plane is walked: `rows` runs of `len` values, run r of
 * tensor t starting at t->data + n*s0 + c*s1 + r*s2, values s3 apart. */
typedef struct {
    int rows, len;
} plane_walk;

static int plane_is_dense(const os_tensor *t)
{
    return !t || ((t->stride[3] == 1 || t->shape[3] == 1) &&
                  (t->stride[2] == t->shape[3] || t->shape[2] == 1));
}

static plane_walk walk_of(const os_tensor *a, const os_tensor *b, const os_tensor *c)
{
    if (plane_is_dense(a) && plane_is_dense(b) && plane_is_dense(c))
        return (plane_walk){1, a->shape[2] * a->shape[3]};
    return (plane_walk){a->shape[2], a->shape[3]};
}

/* start of run r of plane (n, c); `es` gets the value step */
static inline float *run_ptr(const os_tensor *t, int n, int c, int r, long *es)
{
    *es = t->shape[3] == 1 ? 1 : t->stride[3];
    return t->data + n * t->stride[0] + c * t->stride[1] + r * t->stride[2];
}

static inline float vec_at(const os_tensor *v, int c, float dflt)
{
    return v ? v->data[c * v->stride[0]] : dflt;
}

/* s += sum(x - k), q += sum((x - k)^2) over one run */
static void run_sums(const float *x, long es, int len, float k, double *s, double *q)
{
    for (int c0 = 0; c0 < len; c0 += CHUNK) {
        int n = len - c0 < CHUNK ? len - c0 : CHUNK;
        const float *p = x + (long)c0 * es;
        float fs = 0, fq = 0;
        if (es == 1) {
#pragma omp simd reduction(+ : fs, fq)
            for (int i = 0; i < n; i++) {
                float v = p[i] - k;
                fs += v;
                fq += v * v;
            }
        } else {
            for (int i = 0; i < n; i++) {
                float v = p[i * es] - k;
                fs += v;
                fq += v * v;
            }
        }
        *s += fs;
        *q += fq;
    }
}

/* s += sum(dy), q += sum(dy * (x - mean)) over one run */
static void run_dsums(const float *dy, long ds, const float *x, long xs, int len, float mean,
                      double *s, double *q)
{
    for (int c0 = 0; c0 < len; c0 += CHUNK) {
        int n = len - c0 < CHUNK ? len - c0 : CHUNK;
        const float *g = dy + (long)c0 * ds, *p = x + (long)c0 * xs;
        float fs = 0, fq = 0;
        if (ds == 1 && xs == 1) {
#pragma omp simd reduction(+ : fs, fq)
            for (int i = 0; i < n; i++) {
                fs += g[i];
                fq += g[i] * (p[i] - mean);
            }
        } else {
            for (int i = 0; i < n; i++) {
                fs += g[i * ds];
                fq += g[i * ds] * (p[i * xs] - mean);
            }
        }
        *s += fs;
        *q += fq;
    }
}

/* y = x * a + b over one run */
static void run_affine(float *restrict y, long ys, const float *restrict x, long xs, int len, float a, float b)
{
    if (ys == 1 && xs == 1) {
        for (int i = 0; i < len; i++)
            y[i] = x[i] * a + b;
        return;
    }
    for (int i = 0; i < len; i++)
        y[i * ys] = x[i * xs] * a + b;
}

/* dx += a * dy + b * (x - mean) + c over one run */
static void run_dx(float *restrict dx, long dxs, const float *restrict dy, long ds,
                   const float *restrict x, long xs, int len, float mean, float a, float b, float c)
{
    if (dxs == 1 && ds == 1 && xs == 1) {
        for (int i = 0; i < len; i++)
            dx[i] += a * dy[i] + b * (x[i] - mean) + c;
        return;
    }
    for (int i = 0; i < len; i++)
        dx[i * dxs] += a * dy[i * ds] + b * (x[i * xs] - mean) + c;
}

/* y = x * scale[c] + shift[c] for every plane of channel c */
static void affine_channel(os_tensor *y, const os_tensor *x, int c, plane_walk pw, float scale, float shift)
{
    for (int n = 0; n < x->shape[0]; n++)
        for (int r = 0; r < pw.rows; r++) {
            long ys, xs;
            float *yp = run_ptr(y, n, c, r, &ys);
            const float *xp = run_ptr(x, n, c, r, &xs);
            run_affine(yp, ys, xp, xs, pw.len, scale, shift);
        }
}

/* x,y [N,C,H,W]; gamma,beta [C]|NULL; mean,invstd [C] (written);
 * running_mean,running_var [C]|NULL (updated with the unbiased variance) */
void os_cpu_bn_fwd_train(const os_kargs *a)
{
    os_tensor *y = a->t[0], *x = a->t[1], *gamma = a->t[2], *beta = a->t[3];
    os_tensor *mean = a->t[4], *invstd = a->t[5], *rmean = a->t[6], *rvar = a->t[7];
    const os_bn_params *p = a->params;
    int C = x->shape[1];
    long m = (long)x->shape[0] * x->shape[2] * x->shape[3];
    plane_walk pw = walk_of(x, y, NULL);

#pragma omp parallel for schedule(static)
    for (int c = 0; c < C; c++) {
        /* sums of x - k, k = the channel's first value: no cancellation when
         * the mean is large against the spread */
        long xs0;
        float k = *run_ptr(x, 0, c, 0, &xs0);
        double s = 0, q = 0;
        for (int n = 0; n < x->shape[0]; n++)
            for (int r = 0; r < pw.rows; r++) {
                long xs;
                const float *xp = run_ptr(x, n, c, r, &xs);
                run_sums(xp, xs, pw.len, k, &s, &q);
            }
        double d = s / (double)m, mu = (double)k + d;
        double var = q / (double)m - d * d;
        if (var < 0)
            var = 0;
        double is = 1.0 / sqrt(var + (double)p->eps);
        mean->data[c * mean->stride[0]] = (float)mu;
        invstd->data[c * invstd->stride[0]] = (float)is;
        if (rmean) {
            float mo = p->momentum;
            float *rm = &rmean->data[c * rmean->stride[0]], *rv = &rvar->data[c * rvar->stride[0]];
            *rm = (1.0f - mo) * *rm + mo * (float)mu;
            *rv = (1.0f - mo) * *rv + mo * (float)(var * (double)m / (double)(m - 1));
        }
        float scale = (float)is * vec_at(gamma, c, 1.0f);
        float shift = vec_at(beta, c, 0.0f) - (float)mu * scale;
        affine_channel(y, x, c, pw, scale, shift);
    }
}

/* x,y [N,C,H,W]; gamma,beta [C]|NULL; running_mean,running_var [C] */
void os_cpu_bn_fwd_eval(const os_kargs *a)
{
    os_tensor *y = a->t[0], *x = a->t[1], *gamma = a->t[2], *beta = a->t[3];
    os_tensor *rmean = a->t[4], *rvar = a->t[5];
    const os_bn_params *p = a->params;
    plane_walk pw = walk_of(x, y, NULL);

#pragma omp parallel for schedule(static)
    for (int c = 0; c < x->shape[1]; c++) {
        float is = (float)(1.0 / sqrt((double)vec_at(rvar, c, 0) + (double)p->eps));
        float scale = is * vec_at(gamma, c, 1.0f);
        float shift = vec_at(beta, c, 0.0f) - vec_at(rmean, c, 0) * scale;
        affine_channel(y, x, c, pw, scale, shift);
    }
}

/* Shared backward: per channel, sum dy and dy*(x - mu); then
 * dgamma += sum(dy*xhat), dbeta += sum(dy), and dx += a*dy + b*(x - mu) + c with
 * the coefficients chosen by the caller (train: batch-stat terms; eval: b = c = 0). */
static void bn_backward(const os_kargs *a, int train, float eps)
{
    os_tensor *dx = a->t[0], *dy = a->t[1], *x = a->t[2], *gamma = a->t[3];
    os_tensor *mean = a->t[4], *stat = a->t[5], *dgamma = a->t[6], *dbeta = a->t[7];
    long m = (long)x->shape[0] * x->shape[2] * x->shape[3];
    plane_walk pw = walk_of(x, dy, dx);

#pragma omp parallel for schedule(static)
    for (int c = 0; c < x->shape[1]; c++) {
        float mu = vec_at(mean, c, 0);
        /* train: stat is invstd; eval: stat is the running variance */
        float is = train ? vec_at(stat, c, 0) : (float)(1.0 / sqrt((double)vec_at(stat, c, 0) + (double)eps));
        float g = vec_at(gamma, c, 1.0f);
        double sdy = 0, sdyx = 0;
        if (dgamma || dbeta || (dx && train)) {
            for (int n = 0; n < x->shape[0]; n++)
                for (int r = 0; r < pw.rows; r++) {
                    long ds, xs;
                    const float *dp = run_ptr(dy, n, c, r, &ds), *xp = run_ptr(x, n, c, r, &xs);
                    run_dsums(dp, ds, xp, xs, pw.len, mu, &sdy, &sdyx);
                }
        }
        if (dbeta)
            dbeta->data[c * dbeta->stride[0]] += (float)sdy;
        if (dgamma)
            dgamma->data[c * dgamma->stride[0]] += (float)(sdyx * is);
        if (!dx)
            continue;
        float ca = g * is, cb = 0, cc = 0;
        if (train) {
            cb = (float)(-(double)ca * is * is * sdyx / (double)m);
            cc = (float)(-(double)ca * sdy / (double)m);
        }
        for (int n = 0; n < x->shape[0]; n++)
            for (int r = 0; r < pw.rows; r++) {
                long dxs, ds, xs;
                float *dxp = run_ptr(dx, n, c, r, &dxs);
                const float *dp = run_ptr(dy, n, c, r, &ds), *xp = run_ptr(x, n, c, r, &xs);
                run_dx(dxp, dxs, dp, ds, xp, xs, pw.len, mu, ca, cb, cc);
            }
    }
}

/* dx [N,C,H,W] +=|NULL; dy, x [N,C,H,W]; gamma [C]|NULL; mean, invstd [C];
 * dgamma, dbeta [C] +=|NULL */
void os_cpu_bn_bwd_train(const os_kargs *a)
{
    bn_backward(a, 1, 0.0f);
}

/* dx [N,C,H,W] +=|NULL; dy, x [N,C,H,W]; gamma [C]|NULL; running_mean,
 * running_var [C]; dgamma, dbeta [C] +=|NULL */
void os_cpu_bn_bwd_eval(const os_kargs *a)
{
    const os_bn_params *p = a->params;
    bn_backward(a, 0, p->eps);
}
