/* ops/cuda/cu_bodies.h — the arithmetic of every CUDA kernel: one body per
 * grid index, shared by the __global__ launchers (cuda_backend.cu) and the CPU
 * emulation (emu_backend.c); see cu_common.h. The drivers that pick the grid
 * and call these are in cu_drivers.h.
 *
 * Body `os_cb_X(long i, const os_ca_X *a)` computes grid index i of kernel X.
 * Shapes are given above each body. Reductions never use atomics: one index
 * owns one output and sums its inputs in a fixed order (per channel, per row,
 * per column), or, for whole-tensor sums, a first pass writes one double per
 * OS_CU_CHUNK elements and a second, single-index pass adds them in order.
 */
#ifndef OS_CU_BODIES_H
#define OS_CU_BODIES_H

#include <math.h>
#include "ops/cuda/cu_common.h"

/* ---- memory ------------------------------------------------------------- */
/* t [S, any strides] = v;  grid: numel(t) */
typedef struct { os_cu_t t; float v; } os_ca_fill;
OS_HD void os_cb_fill(long i, const os_ca_fill *a) { a->t.d[os_cu_off(&a->t, i)] = a->v; }

/* d [S, any strides] = s [S, any strides];  grid: numel */
typedef struct { os_cu_t d, s; } os_ca_copy;
OS_HD void os_cb_copy(long i, const os_ca_copy *a)
{
    a->d.d[os_cu_off(&a->d, i)] = a->s.d[os_cu_off(&a->s, i)];
}

/* d [S, any strides] += al * s [S, any strides];  grid: numel */
typedef struct { os_cu_t d, s; float al; } os_ca_axpy;
OS_HD void os_cb_axpy(long i, const os_ca_axpy *a)
{
    a->d.d[os_cu_off(&a->d, i)] += a->al * a->s.d[os_cu_off(&a->s, i)];
}

/* flat p [n] (contiguous): p *= al;  grid: n */
typedef struct { float *p; float al; } os_ca_scale;
OS_HD void os_cb_scale(long i, const os_ca_scale *a) { a->p[i] *= a->al; }

/* Two-pass sums. Pass 1: part [ceil(n / OS_CU_CHUNK)] doubles, part[b] = sum
 * over chunk b of p*q (q NULL: p*p);  grid: chunks. */
typedef struct { const float *p, *q; long n; double *part; } os_ca_dot_part;
OS_HD void os_cb_dot_part(long b, const os_ca_dot_part *a)
{
    long j0 = b * OS_CU_CHUNK, j1 = j0 + OS_CU_CHUNK < a->n ? j0 + OS_CU_CHUNK : a->n;
    double s = 0;
    const float *q = a->q ? a->q : a->p;
    for (long j = j0; j < j1; j++)
        s += (double)a->p[j] * q[j];
    a->part[b] = s;
}
/* Pass 2: out[0] (= | +=) sum of part [nb] in order;  grid: 1 */
typedef struct { const double *part; long nb; float *out; int acc; } os_ca_dot_final;
OS_HD void os_cb_dot_final(long i, const os_ca_dot_final *a)
{
    (void)i;
    double s = 0;
    for (long b = 0; b < a->nb; b++)
        s += a->part[b];
    if (a->acc)
        a->out[0] += (float)s;
    else
        a->out[0] = (float)s;
}

/* t [n] (contiguous) *= c when c = a / (sqrt(s[0]) + 1e-6) < 1 (gradient
 * clipping by a device norm; NaN c leaves t);  grid: n */
typedef struct { float *t; const float *s; float a; } os_ca_clip;
OS_HD void os_cb_clip_scale(long i, const os_ca_clip *a)
{
    float c = a->a / (sqrtf(a->s[0]) + 1e-6f);
    if (c < 1.0f)
        a->t[i] *= c;
}

/* c[0] = (float)(a * max(s[0], 1e-24)^e) in double;  grid: 1 */
typedef struct { float *c; const float *s; float a, e; } os_ca_pow_coef;
OS_HD void os_cb_pow_coef(long i, const os_ca_pow_coef *a)
{
    (void)i;
    double s = a->s[0];
    a->c[0] = (float)(a->a * pow(s > 1e-24 ? s : 1e-24, (double)a->e));
}
/* d [n] += c[0] * x [n];  grid: n */
typedef struct { float *d; const float *x, *c; } os_ca_axpy_dev;
OS_HD void os_cb_axpy_dev(long i, const os_ca_axpy_dev *a) { a->d[i] += a->c[0] * a->x[i]; }

/* ---- elementwise (flat, contiguous) --------------------------------------- */
OS_HD float os_cu_sigm(float v) { return 1.0f / (1.0f + expf(-v)); }

/* y [n] = f(x [n]), f by kind (os_unary_kind: relu, relu6, sigmoid, tanh);  grid: n */
typedef struct { float *y; const float *x; int kind; } os_ca_unary;
OS_HD void os_cb_unary_fwd(long i, const os_ca_unary *a)
{
    float x = a->x[i], y;
    switch (a->kind) {
    case 0: y = x > 0.0f ? x : 0.0f; break;
    case 1: y = x > 0.0f ? (x < 6.0f ? x : 6.0f) : 0.0f; break;
    case 2: y = os_cu_sigm(x); break;
    default: y = tanhf(x); break;
    }
    a->y[i] = y;
}
/* dx [n] += f'(.) * dy [n], f' from y = f(x) [n];  grid: n */
typedef struct { float *dx; const float *dy, *y; int kind; } os_ca_unary_bwd;
OS_HD void os_cb_unary_bwd(long i, const os_ca_unary_bwd *a)
{
    float y = a->y[i], g = a->dy[i], d;
    switch (a->kind) {
    case 0: d = y > 0.0f ? g : 0.0f; break;
    case 1: d = (y > 0.0f && y < 6.0f) ? g : 0.0f; break;
    case 2: d = g * y * (1.0f - y); break;
    default: d = g * (1.0f - y * y); break;
    }
    a->dx[i] += d;
}

/* op 0: o = p + q; 1: o = p * q; 2: o += p * q; all [n];  grid: n */
typedef struct { float *o; const float *p, *q; int op; } os_ca_binary;
OS_HD void os_cb_binary(long i, const os_ca_binary *a)
{
    if (a->op == 0)
        a->o[i] = a->p[i] + a->q[i];
    else if (a->op == 1)
        a->o[i] = a->p[i] * a->q[i];
    else
        a->o[i] += a->p[i] * a->q[i];
}

/* y [n] (= | +=) s[0] * x [n]; s one device float (any tensor's element);  grid: n */
typedef struct { float *y; const float *x, *s; int acc; } os_ca_scale_by;
OS_HD void os_cb_scale_by(long i, const os_ca_scale_by *a)
{
    float v = a->s[0] * a->x[i];
    if (a->acc)
        a->y[i] += v;
    else
        a->y[i] = v;
}

/* ---- dense ---------------------------------------------------------------- */
/* y [M,N] += b [N] on every row;  grid: M*N */
typedef struct { float *y; const float *b; long N; } os_ca_bias_rows;
OS_HD void os_cb_bias_rows(long i, const os_ca_bias_rows *a) { a->y[i] += a->b[i % a->N]; }

/* s [N] += sum over rows m (in order) of x [M,N];  grid: N (one column each) */
typedef struct { float *s; const float *x; long M, N; } os_ca_sum_rows;
OS_HD void os_cb_sum_rows(long j, const os_ca_sum_rows *a)
{
    double acc = 0;
    for (long m = 0; m < a->M; m++)
        acc += a->x[m * a->N + j];
    a->s[j] += (float)acc;
}

/* ---- convolution ------------------------------------------------------------ */
/* Geometry: x [n,ci,h,w], w [co,ci/g,kh,kw], y [n,co,oh,ow]. */
typedef struct {
    int n, ci, h, w, co, kh, kw, oh, ow;
    int sh, sw, ph, pw, dh, dw, g;
} os_cu_conv;

/* cols [N][ci*kh*kw][oh*ow] = receptive fields of x [N,ci,h,w] (any strides),
 * zero outside the image;  grid: N*ci*kh*kw*oh*ow */
typedef struct { float *col; os_cu_t x; os_cu_conv c; } os_ca_im2col;
OS_HD void os_cb_im2col(long i, const os_ca_im2col *a)
{
    const os_cu_conv *c = &a->c;
    long ohw = (long)c->oh * c->ow, r = i / ohw, p = i % ohw;
    long K = (long)c->ci * c->kh * c->kw, n = r / K, k = r % K;
    int ch = (int)(k / (c->kh * c->kw)), ky = (int)(k / c->kw % c->kh), kx = (int)(k % c->kw);
    int oy = (int)(p / c->ow), ox = (int)(p % c->ow);
    int iy = oy * c->sh - c->ph + ky * c->dh, ix = ox * c->sw - c->pw + kx * c->dw;
    float v = 0.0f;
    if (iy >= 0 && iy < c->h && ix >= 0 && ix < c->w)
        v = a->x.d[os_cu_off4(&a->x, n, ch, iy, ix)];
    a->col[i] = v;
}

/* dx [N,ci,h,w] (any strides) += col2im(cols [N][ci*kh*kw][oh*ow]): each dx
 * element gathers the column entries that read it, in (ky, kx) order;
 * grid: N*ci*h*w */
typedef struct { os_cu_t dx; const float *col; os_cu_conv c; } os_ca_col2im;
OS_HD void os_cb_col2im(long i, const os_ca_col2im *a)
{
    const os_cu_conv *c = &a->c;
    int ix = (int)(i % c->w), iy = (int)(i / c->w % c->h), ch = (int)(i / ((long)c->w * c->h) % c->ci);
    long n = i / ((long)c->w * c->h * c->ci);
    long ohw = (long)c->oh * c->ow, K = (long)c->ci * c->kh * c->kw;
    float s = 0.0f;
    for (int ky = 0; ky < c->kh; ky++) {
        int ty = iy + c->ph - ky * c->dh;
        if (ty < 0 || ty % c->sh)
            continue;
        int oy = ty / c->sh;
        if (oy >= c->oh)
            continue;
        for (int kx = 0; kx < c->kw; kx++) {
            int tx = ix + c->pw - kx * c->dw;
            if (tx < 0 || tx % c->sw)
                continue;
            int ox = tx / c->sw;
            if (ox >= c->ow)
                continue;
            long k = ((long)ch * c->kh + ky) * c->kw + kx;
            s += a->col[(n * K + k) * ohw + (long)oy * c->ow + ox];
        }
    }
    a->dx.d[os_cu_off4(&a->dx, n, ch, iy, ix)] += s;
}

/* y [N,co,oh,ow] (contiguous) = bias[o] (0 when NULL), before a GEMM adds
 * into it;  grid: N*co*oh*ow */
typedef struct { float *y; const float *b; long ohw; int co; } os_ca_bias_fill;
OS_HD void os_cb_bias_fill(long i, const os_ca_bias_fill *a)
{
    a->y[i] = a->b ? a->b[i / a->ohw % a->co] : 0.0f;
}

/* db [co] += sum over n, then oh*ow, of dy [N,co,oh,ow] (contiguous);  grid: co */
typedef struct { float *db; const float *dy; long ohw; int n, co; } os_ca_bias_grad;
OS_HD void os_cb_bias_grad(long o, const os_ca_bias_grad *a)
{
    double s = 0;
    for (int n = 0; n < a->n; n++) {
        const float *r = a->dy + ((long)n * a->co + o) * a->ohw;
        for (long j = 0; j < a->ohw; j++)
            s += r[j];
    }
    a->db[o] += (float)s;
}

/* Depthwise (g == ci == co): y [N,C,oh,ow] (contiguous) = sum over the
 * window of x [N,C,h,w] (any strides) * w [C,1,kh,kw] + bias[C] | 0;
 * grid: N*C*oh*ow */
typedef struct { float *y; os_cu_t x; const float *w, *b; os_cu_conv c; } os_ca_dw_fwd;
OS_HD void os_cb_dw_fwd(long i, const os_ca_dw_fwd *a)
{
    const os_cu_conv *c = &a->c;
    int ox = (int)(i % c->ow), oy = (int)(i / c->ow % c->oh), ch = (int)(i / ((long)c->ow * c->oh) % c->co);
    long n = i / ((long)c->ow * c->oh * c->co);
    const float *k = a->w + (long)ch * c->kh * c->kw;
    float s = 0.0f;
    for (int ky = 0; ky < c->kh; ky++) {
        int iy = oy * c->sh - c->ph + ky * c->dh;
        if (iy < 0 || iy >= c->h)
            continue;
        for (int kx = 0; kx < c->kw; kx++) {
            int ix = ox * c->sw - c->pw + kx * c->dw;
            if (ix >= 0 && ix < c->w)
                s += k[ky * c->kw + kx] * a->x.d[os_cu_off4(&a->x, n, ch, iy, ix)];
        }
    }
    a->y[i] = s + (a->b ? a->b[ch] : 0.0f);
}

/* Depthwise backward data: dx [N,C,h,w] (any strides) += sum of dy [N,C,oh,ow]
 * (contiguous) * w over the outputs that read the element;  grid: N*C*h*w */
typedef struct { os_cu_t dx; const float *dy, *w; os_cu_conv c; } os_ca_dw_bwd_data;
OS_HD void os_cb_dw_bwd_data(long i, const os_ca_dw_bwd_data *a)
{
    const os_cu_conv *c = &a->c;
    int ix = (int)(i % c->w), iy = (int)(i / c->w % c->h), ch = (int)(i / ((long)c->w * c->h) % c->ci);
    long n = i / ((long)c->w * c->h * c->ci);
    const float *k = a->w + (long)ch * c->kh * c->kw;
    const float *g = a->dy + (n * c->co + ch) * (long)c->oh * c->ow;
    float s = 0.0f;
    for (int ky = 0; ky < c->kh; ky++) {
        int ty = iy + c->ph - ky * c->dh;
        if (ty < 0 || ty % c->sh || ty / c->sh >= c->oh)
            continue;
        for (int kx = 0; kx < c->kw; kx++) {
            int tx = ix + c->pw - kx * c->dw;
            if (tx < 0 || tx % c->sw || tx / c->sw >= c->ow)
                continue;
            s += k[ky * c->kw + kx] * g[(long)(ty / c->sh) * c->ow + tx / c->sw];
        }
    }
    a->dx.d[os_cu_off4(&a->dx, n, ch, iy, ix)] += s;
}

/* Depthwise backward weight: dw [C,1,kh,kw] += sum over n, oy, ox (in order)
 * of dy [N,C,oh,ow] (contiguous) * x (any strides) at the tap;  grid: C*kh*kw */
typedef struct { float *dw; const float *dy; os_cu_t x; os_cu_conv c; } os_ca_dw_bwd_w;
OS_HD void os_cb_dw_bwd_w(long i, const os_ca_dw_bwd_w *a)
{
    const os_cu_conv *c = &a->c;
    int kx = (int)(i % c->kw), ky = (int)(i / c->kw % c->kh), ch = (int)(i / ((long)c->kw * c->kh));
    double s = 0;
    for (long n = 0; n < c->n; n++) {
        const float *g = a->dy + (n * c->co + ch) * (long)c->oh * c->ow;
        for (int oy = 0; oy < c->oh; oy++) {
            int iy = oy * c->sh - c->ph + ky * c->dh;
            if (iy < 0 || iy >= c->h)
                continue;
            for (int ox = 0; ox < c->ow; ox++) {
                int ix = ox * c->sw - c->pw + kx * c->dw;
                if (ix >= 0 && ix < c->w)
                    s += (double)g[(long)oy * c->ow + ox] * a->x.d[os_cu_off4(&a->x, n, ch, iy, ix)];
            }
        }
    }
    a->dw[i] += (float)s;
}

/* ---- pooling: x [N,C,H,W], y [N,C,OH,OW] (any strides) ----------------------- */
typedef struct { int H, W, OH, OW, kh, kw, s, p, incl; } os_cu_pool;

/* cells averaged over by a window starting at `start` (length k, input L, pad p) */
OS_HD int os_cu_avg_count(int start, int k, int L, int p, int incl)
{
    if (incl)
        return os_cu_imin(start + k, L + p) - start;
    return os_cu_imin(start + k, L) - os_cu_imax(start, 0);
}

/* the first maximum of the window of output (oh, ow) of plane (n, c): its
 * input cell in *bh, *bw (the first valid cell when all are -inf); NaN wins */
OS_HD float os_cu_window_max(const os_cu_t *x, long n, long c, int oh, int ow, const os_cu_pool *g,
                             int *bh, int *bw)
{
    int h0 = oh * g->s - g->p, w0 = ow * g->s - g->p;
    float m = -INFINITY;
    *bh = os_cu_imax(h0, 0);
    *bw = os_cu_imax(w0, 0);
    for (int h = os_cu_imax(h0, 0); h < os_cu_imin(h0 + g->kh, g->H); h++)
        for (int w = os_cu_imax(w0, 0); w < os_cu_imin(w0 + g->kw, g->W); w++) {
            float v = x->d[os_cu_off4(x, n, c, h, w)];
            if (v > m || v != v) {
                m = v;
                *bh = h;
                *bw = w;
            }
        }
    return m;
}

/* y = max (is_max) or mean (padding counted when incl) of each window;
 * grid: N*C*OH*OW */
typedef struct { os_cu_t y, x; os_cu_pool g; int is_max; } os_ca_pool_fwd;
OS_HD void os_cb_pool_fwd(long i, const os_ca_pool_fwd *a)
{
    const os_cu_pool *g = &a->g;
    int ow = (int)(i % g->OW), oh = (int)(i / g->OW % g->OH);
    long nc = i / ((long)g->OW * g->OH), C = a->x.n[1], n = nc / C, c = nc % C;
    float r;
    if (a->is_max) {
        int bh, bw;
        r = os_cu_window_max(&a->x, n, c, oh, ow, g, &bh, &bw);
    } else {
        int h0 = oh * g->s - g->p, w0 = ow * g->s - g->p;
        r = 0.0f;
        for (int h = os_cu_imax(h0, 0); h < os_cu_imin(h0 + g->kh, g->H); h++)
            for (int w = os_cu_imax(w0, 0); w < os_cu_imin(w0 + g->kw, g->W); w++)
                r += a->x.d[os_cu_off4(&a->x, n, c, h, w)];
        r /= (float)(os_cu_avg_count(h0, g->kh, g->H, g->p, g->incl) *
                     os_cu_avg_count(w0, g->kw, g->W, g->p, g->incl));
    }
    a->y.d[os_cu_off4(&a->y, n, c, oh, ow)] = r;
}

/* dx [N,C,H,W] += dy of every output whose window covers the cell (max: only
 * where the cell is the window's first maximum; avg: dy / count), outputs in
 * (oh, ow) order;  grid: N*C*H*W */
typedef struct { os_cu_t dx, dy, x; os_cu_pool g; int is_max; } os_ca_pool_bwd;
OS_HD void os_cb_pool_bwd(long i, const os_ca_pool_bwd *a)
{
    const os_cu_pool *g = &a->g;
    int w = (int)(i % g->W), h = (int)(i / g->W % g->H);
    long nc = i / ((long)g->W * g->H), C = a->dx.n[1], n = nc / C, c = nc % C;
    /* outputs oh with oh*s - p <= h <= oh*s - p + kh - 1 */
    int oh0 = h + g->p - g->kh + 1, ow0 = w + g->p - g->kw + 1;
    oh0 = oh0 <= 0 ? 0 : (oh0 + g->s - 1) / g->s;
    ow0 = ow0 <= 0 ? 0 : (ow0 + g->s - 1) / g->s;
    int oh1 = os_cu_imin((h + g->p) / g->s, g->OH - 1), ow1 = os_cu_imin((w + g->p) / g->s, g->OW - 1);
    float *d = &a->dx.d[os_cu_off4(&a->dx, n, c, h, w)];
    float acc = *d;
    for (int oh = oh0; oh <= oh1; oh++)
        for (int ow = ow0; ow <= ow1; ow++) {
            float gy = a->dy.d[os_cu_off4(&a->dy, n, c, oh, ow)];
            if (a->is_max) {
                int bh, bw;
                os_cu_window_max(&a->x, n, c, oh, ow, g, &bh, &bw);
                if (bh == h && bw == w)
                    acc += gy;
            } else {
                int h0 = oh * g->s - g->p, w0 = ow * g->s - g->p;
                if (h < h0 + g->kh && w < w0 + g->kw)
                    acc += gy / (float)(os_cu_avg_count(h0, g->kh, g->H, g->p, g->incl) *
                                        os_cu_avg_count(w0, g->kw, g->W, g->p, g->incl));
            }
        }
    *d = acc;
}

/* global average: y [N,C] = mean of x [N,C,H,W] plane (double sum, row order);
 * grid: N*C */
typedef struct { os_cu_t y, x; } os_ca_gap;
OS_HD void os_cb_gap_fwd(long i, const os_ca_gap *a)
{
    long C = a->x.n[1], n = i / C, c = i % C;
    int H = a->x.n[2], W = a->x.n[3];
    double s = 0;
    for (int h = 0; h < H; h++)
        for (int w = 0; w < W; w++)
            s += a->x.d[os_cu_off4(&a->x, n, c, h, w)];
    a->y.d[n * a->y.s[0] + c * a->y.s[1]] = (float)(s * (1.0 / ((double)H * W)));
}
/* dx [N,C,H,W] += dy [N,C] / (H*W);  grid: N*C*H*W (dx's shape in a->x) */
OS_HD void os_cb_gap_bwd(long i, const os_ca_gap *a)
{
    const os_cu_t *dx = &a->x, *dy = &a->y;
    int H = dx->n[2], W = dx->n[3];
    long w = i % W, h = i / W % H, c = i / ((long)W * H) % dx->n[1], n = i / ((long)W * H * dx->n[1]);
    dx->d[os_cu_off4(dx, n, c, h, w)] += dy->d[n * dy->s[0] + c * dy->s[1]] * (1.0f / (float)(H * W));
}

/* ---- batch norm: x [N,C,H,W] (any strides), per-channel vectors [C] --------- */
OS_HD float os_cu_vec(const os_cu_t *v, long c, float dflt) { return v->d ? v->d[c * v->s[0]] : dflt; }

/* Per channel c (grid: C): train statistics of x (sums of x - x[0,c,0,0] in
 * double, so a large mean loses no precision), written to mean, invstd and
 * (when running_mean is set) the running stats with the unbiased variance;
 * ss [2C] gets scale, shift of y = x*scale + shift. eval: from the running
 * stats instead. */
typedef struct {
    os_cu_t x, gamma, beta, mean, invstd, rmean, rvar;
    float *ss;
    float eps, momentum;
    int train;
} os_ca_bn_stats;
OS_HD void os_cb_bn_stats(long c, const os_ca_bn_stats *a)
{
    const os_cu_t *x = &a->x;
    int N = x->n[0], H = x->n[2], W = x->n[3];
    float mu_f, is_f;
    if (a->train) {
        long m = (long)N * H * W;
        float k = x->d[os_cu_off4(x, 0, c, 0, 0)];
        double s = 0, q = 0;
        for (int n = 0; n < N; n++)
            for (int h = 0; h < H; h++)
                for (int w = 0; w < W; w++) {
                    float v = x->d[os_cu_off4(x, n, c, h, w)] - k;
                    s += v;
                    q += (double)v * v;
                }
        double d = s / (double)m, mu = (double)k + d;
        double var = q / (double)m - d * d;
        if (var < 0)
            var = 0;
        double is = 1.0 / sqrt(var + (double)a->eps);
        mu_f = (float)mu;
        is_f = (float)is;
        a->mean.d[c * a->mean.s[0]] = mu_f;
        a->invstd.d[c * a->invstd.s[0]] = is_f;
        if (a->rmean.d) {
            float mo = a->momentum;
            float *rm = &a->rmean.d[c * a->rmean.s[0]], *rv = &a->rvar.d[c * a->rvar.s[0]];
            *rm = (1.0f - mo) * *rm + mo * mu_f;
            *rv = (1.0f - mo) * *rv + mo * (float)(var * (double)m / (double)(m - 1));
        }
    } else {
        mu_f = os_cu_vec(&a->rmean, c, 0.0f);
        is_f = (float)(1.0 / sqrt((double)os_cu_vec(&a->rvar, c, 0.0f) + (double)a->eps));
    }
    float scale = is_f * os_cu_vec(&a->gamma, c, 1.0f);
    a->ss[2 * c] = scale;
    a->ss[2 * c + 1] = os_cu_vec(&a->beta, c, 0.0f) - mu_f * scale;
}

/* y [N,C,H,W] = x * ss[2c] + ss[2c+1];  grid: N*C*H*W */
typedef struct { os_cu_t y, x; const float *ss; } os_ca_bn_apply;
OS_HD void os_cb_bn_apply(long i, const os_ca_bn_apply *a)
{
    int H = a->x.n[2], W = a->x.n[3], C = a->x.n[1];
    long w = i % W, h = i / W % H, c = i / ((long)W * H) % C, n = i / ((long)W * H * C);
    a->y.d[os_cu_off4(&a->y, n, c, h, w)] = a->x.d[os_cu_off4(&a->x, n, c, h, w)] * a->ss[2 * c] + a->ss[2 * c + 1];
}

/* Backward, per channel c (grid: C): sdy = sum dy, sdyx = sum dy*(x - mu);
 * dbeta += sdy, dgamma += sdyx*is; co [4C] = mu, a, b, c of
 * dx += a*dy + b*(x - mu) + c (train: batch-statistics terms; eval: b = c = 0).
 * stat: invstd (train) or running_var (eval). */
typedef struct {
    os_cu_t dy, x, gamma, mean, stat, dgamma, dbeta;
    float *co;
    float eps;
    int train, need_sums;
} os_ca_bn_bstats;
OS_HD void os_cb_bn_bstats(long c, const os_ca_bn_bstats *a)
{
    const os_cu_t *x = &a->x, *dy = &a->dy;
    int N = x->n[0], H = x->n[2], W = x->n[3];
    long m = (long)N * H * W;
    float mu = os_cu_vec(&a->mean, c, 0.0f);
    float is = a->train ? os_cu_vec(&a->stat, c, 0.0f)
                        : (float)(1.0 / sqrt((double)os_cu_vec(&a->stat, c, 0.0f) + (double)a->eps));
    float g = os_cu_vec(&a->gamma, c, 1.0f);
    double sdy = 0, sdyx = 0;
    if (a->need_sums)
        for (int n = 0; n < N; n++)
            for (int h = 0; h < H; h++)
                for (int w = 0; w < W; w++) {
                    float gy = dy->d[os_cu_off4(dy, n, c, h, w)];
                    sdy += gy;
                    sdyx += (double)gy * (x->d[os_cu_off4(x, n, c, h, w)] - mu);
                }
    if (a->dbeta.d)
        a->dbeta.d[c * a->dbeta.s[0]] += (float)sdy;
    if (a->dgamma.d)
        a->dgamma.d[c * a->dgamma.s[0]] += (float)(sdyx * is);
    float ca = g * is, cb = 0.0f, cc = 0.0f;
    if (a->train) {
        cb = (float)(-(double)ca * is * is * sdyx / (double)m);
        cc = (float)(-(double)ca * sdy / (double)m);
    }
    a->co[4 * c] = mu;
    a->co[4 * c + 1] = ca;
    a->co[4 * c + 2] = cb;
    a->co[4 * c + 3] = cc;
}
/* dx [N,C,H,W] += a*dy + b*(x - mu) + c with co [4C];  grid: N*C*H*W */
typedef struct { os_cu_t dx, dy, x; const float *co; } os_ca_bn_dx;
OS_HD void os_cb_bn_dx(long i, const os_ca_bn_dx *a)
{
    int H = a->x.n[2], W = a->x.n[3], C = a->x.n[1];
    long w = i % W, h = i / W % H, c = i / ((long)W * H) % C, n = i / ((long)W * H * C);
    const float *k = a->co + 4 * c;
    a->dx.d[os_cu_off4(&a->dx, n, c, h, w)] +=
        k[1] * a->dy.d[os_cu_off4(&a->dy, n, c, h, w)] + k[2] * (a->x.d[os_cu_off4(&a->x, n, c, h, w)] - k[0]) + k[3];
}

/* ---- softmax over D of [outer, D, inner] (contiguous) --------------------------- */
/* one row (o, k) per index;  grid: outer*inner */
typedef struct { float *y; const float *x; long D, in; int log; } os_ca_softmax;
OS_HD void os_cb_softmax_fwd(long r, const os_ca_softmax *a)
{
    long D = a->D, in = a->in, base = (r / in) * D * in + r % in;
    const float *xr = a->x + base;
    float *yr = a->y + base;
    float m = -INFINITY;
    for (long d = 0; d < D; d++)
        m = xr[d * in] > m ? xr[d * in] : m;
    double s = 0;
    for (long d = 0; d < D; d++) {
        float e = expf(xr[d * in] - m);
        s += e;
        if (!a->log)
            yr[d * in] = e;
    }
    if (a->log) {
        float lse = m + (float)log(s);
        for (long d = 0; d < D; d++)
            yr[d * in] = xr[d * in] - lse;
    } else {
        float inv = (float)(1.0 / s);
        for (long d = 0; d < D; d++)
            yr[d * in] *= inv;
    }
}
/* dx += softmax: y*(dy - sum(dy*y)); log_softmax: dy - exp(y)*sum(dy);  grid: outer*inner */
typedef struct { float *dx; const float *dy, *y; long D, in; int log; } os_ca_softmax_bwd;
OS_HD void os_cb_softmax_bwd(long r, const os_ca_softmax_bwd *a)
{
    long D = a->D, in = a->in, base = (r / in) * D * in + r % in;
    float *dxr = a->dx + base;
    const float *dyr = a->dy + base, *yr = a->y + base;
    double s = 0;
    if (a->log) {
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

/* Cross-entropy with label smoothing s, row i (grid: N): probs [N,K] = softmax
 * of logits [N,K]; row [N] (doubles) = -((1-s) log p_label + s/K sum log p) */
typedef struct { const float *x; float *pr; const int32_t *labels; double *row; long K; float s; } os_ca_xent;
OS_HD void os_cb_xent_row(long i, const os_ca_xent *a)
{
    long K = a->K;
    const float *xr = a->x + i * K;
    float *pi = a->pr + i * K;
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
    double s = a->s, lse = m + log(z);
    double logp_y = xr[a->labels[i]] - lse;
    double sum_logp = sum_x - (double)K * lse;
    a->row[i] = -((1.0 - s) * logp_y + s / (double)K * sum_logp);
}
/* loss[0] = mean of row [N] added in order;  grid: 1 */
typedef struct { const double *row; long N; float *loss; } os_ca_xent_sum;
OS_HD void os_cb_xent_sum(long i, const os_ca_xent_sum *a)
{
    (void)i;
    double l = 0;
    for (long r = 0; r < a->N; r++)
        l += a->row[r];
    a->loss[0] = (float)(a->N ? l / (double)a->N : 0.0);
}
/* dlogits [N,K] += dloss[0]/N * (probs - target);  grid: N*K */
typedef struct { float *dx; const float *pr, *dloss; const int32_t *labels; long N, K; float s; } os_ca_xent_bwd;
OS_HD void os_cb_xent_bwd(long j, const os_ca_xent_bwd *a)
{
    long i = j / a->K, k = j % a->K;
    const float g = a->dloss[0] / (float)(a->N ? a->N : 1);
    const float off = a->s / (float)a->K, on = 1.0f - a->s + off;
    float d = g * (a->pr[j] - off);
    if (k == a->labels[i])
        d -= g * (on - off);
    a->dx[j] += d;
}

/* ---- selection: argmax, one-hot, accuracy ------------------------------------------ */
/* the first index of the largest of x [K] (j > best only when x[j] > x[best]) */
OS_HD int os_cu_row_argmax(const float *x, int K)
{
    int best = 0;
    for (int j = 1; j < K; j++)
        if (x[j] > x[best])
            best = j;
    return best;
}
/* idx [M, any stride] = argmax of row m of x [M,K] (contiguous), as float;  grid: M */
typedef struct { os_cu_t idx; const float *x; int K; } os_ca_argmax;
OS_HD void os_cb_argmax(long m, const os_ca_argmax *a)
{
    a->idx.d[os_cu_off(&a->idx, m)] = (float)os_cu_row_argmax(a->x + m * a->K, a->K);
}
/* y [M,K] (contiguous) = one-hot of idx [M, any stride] (float indices);  grid: M*K */
typedef struct { float *y; os_cu_t idx; int K; } os_ca_onehot;
OS_HD void os_cb_onehot(long i, const os_ca_onehot *a)
{
    long m = i / a->K, k = i % a->K;
    a->y[i] = k == (long)(int)a->idx.d[os_cu_off(&a->idx, m)] ? 1.0f : 0.0f;
}
/* hit [N] = 1 when row n of x [N,K] has its argmax at labels[n], else 0;  grid: N */
typedef struct { float *hit; const float *x; const int32_t *labels; int K; } os_ca_acc_hit;
OS_HD void os_cb_acc_hit(long n, const os_ca_acc_hit *a)
{
    a->hit[n] = os_cu_row_argmax(a->x + n * a->K, a->K) == a->labels[n] ? 1.0f : 0.0f;
}
/* out[0] += sum of hit [N] in order (exact: integers below 2^24);  grid: 1 */
typedef struct { const float *hit; long N; float *out; } os_ca_acc_sum;
OS_HD void os_cb_acc_sum(long i, const os_ca_acc_sum *a)
{
    (void)i;
    float c = 0.0f;
    for (long n = 0; n < a->N; n++)
        c += a->hit[n];
    a->out[0] += c;
}

/* drop path: m [N, per] (contiguous), row n = 1/(1-p) when the draw for n
 * keeps it, else 0;  grid: N*per */
typedef struct { float *m; long per; uint64_t seed; float p, scale; } os_ca_droppath;
OS_HD void os_cb_droppath(long i, const os_ca_droppath *a)
{
    a->m[i] = os_cu_hash_uniform(a->seed, (uint64_t)(i / a->per)) >= a->p ? a->scale : 0.0f;
}

/* ---- recurrent controller ------------------------------------------------------ */
/* y [n,D] = table [V,D] rows idx;  grid: n*D */
typedef struct { float *y; const float *table; const int32_t *idx; long D; } os_ca_embed;
OS_HD void os_cb_embed_fwd(long j, const os_ca_embed *a)
{
    a->y[j] = a->table[(long)a->idx[j / a->D] * a->D + j % a->D];
}
/* dtable [V,D] += dy [n,D] rows i with idx[i] == v, i in order;  grid: V*D */
typedef struct { float *dt; const float *dy; const int32_t *idx; long D; int n; } os_ca_embed_bwd;
OS_HD void os_cb_embed_bwd(long j, const os_ca_embed_bwd *a)
{
    long v = j / a->D, d = j % a->D;
    float s = a->dt[j];
    for (int i = 0; i < a->n; i++)
        if (a->idx[i] == v)
            s += a->dy[(long)i * a->D + d];
    a->dt[j] = s;
}

/* LSTM pointwise, (n, j) per index (grid: N*H): gates [N,4H] i,f,g,o activated
 * in place; out [2,N,H] = h', c' (see ops/cpu/recurrent_cpu.c) */
typedef struct { float *out, *g; const float *c; long N, H; } os_ca_lstm;
OS_HD void os_cb_lstm_fwd(long k, const os_ca_lstm *a)
{
    long H = a->H, n = k / H, j = k % H;
    float *gi = a->g + n * 4 * H, *gf = gi + H, *gg = gf + H, *go = gg + H;
    gi[j] = os_cu_sigm(gi[j]);
    gf[j] = os_cu_sigm(gf[j]);
    gg[j] = tanhf(gg[j]);
    go[j] = os_cu_sigm(go[j]);
    float c1 = gf[j] * a->c[k] + gi[j] * gg[j];
    a->out[a->N * H + k] = c1;
    a->out[k] = go[j] * tanhf(c1);
}
/* dgates [N,4H] = ..., dc [N,H] += dc_total * f when set;  grid: N*H */
typedef struct { float *dg; const float *dout, *g, *c, *out; float *dc; long N, H; } os_ca_lstm_bwd;
OS_HD void os_cb_lstm_bwd(long k, const os_ca_lstm_bwd *a)
{
    long H = a->H, N = a->N, n = k / H, j = k % H;
    const float *gi = a->g + n * 4 * H, *gf = gi + H, *gg = gf + H, *go = gg + H;
    float *di = a->dg + n * 4 * H, *df = di + H, *dgg = df + H, *dgo = dgg + H;
    float dh1 = a->dout[k], dc1 = a->dout[N * H + k], tc = tanhf(a->out[N * H + k]);
    float dct = dc1 + dh1 * go[j] * (1.0f - tc * tc);
    di[j] = dct * gg[j] * gi[j] * (1.0f - gi[j]);
    df[j] = dct * a->c[k] * gf[j] * (1.0f - gf[j]);
    dgg[j] = dct * gi[j] * (1.0f - gg[j] * gg[j]);
    dgo[j] = dh1 * tc * go[j] * (1.0f - go[j]);
    if (a->dc)
        a->dc[k] += dct * gf[j];
}

/* ---- dropout: the counter-based mask of the CPU kernel --------------------------- */
/* fwd: y = x * keep(i) / (1-p); bwd: dx += dy * keep(i) / (1-p);  grid: n */
typedef struct { float *o; const float *x; uint64_t seed; float p, scale; int acc; } os_ca_dropout;
OS_HD void os_cb_dropout(long i, const os_ca_dropout *a)
{
    float k = os_cu_hash_uniform(a->seed, (uint64_t)i) >= a->p ? a->scale : 0.0f;
    if (a->acc)
        a->o[i] += a->x[i] * k;
    else
        a->o[i] = a->x[i] * k;
}

/* ---- optimizers (flat, contiguous) ------------------------------------------------ */
/* SGD with momentum buffer buf | NULL (PyTorch's rule, ops/cpu/optim_cpu.c);  grid: n */
typedef struct { float *p, *buf; const float *gr; float lr, wd, mom, damp1; int first, nesterov; } os_ca_sgd;
OS_HD void os_cb_sgd(long i, const os_ca_sgd *a)
{
    float g = a->gr[i] + a->wd * a->p[i];
    if (a->buf) {
        float b = a->first ? g : a->mom * a->buf[i] + a->damp1 * g;
        a->buf[i] = b;
        g = a->nesterov ? g + a->mom * b : b;
    }
    a->p[i] -= a->lr * g;
}
/* Adam (bias-corrected, L2 weight decay);  grid: n */
typedef struct { float *p, *m, *v; const float *gr; float b1, b2, wd, eps, step, bc2s; } os_ca_adam;
OS_HD void os_cb_adam(long i, const os_ca_adam *a)
{
    float g = a->gr[i] + a->wd * a->p[i];
    float mi = a->b1 * a->m[i] + (1.0f - a->b1) * g;
    float vi = a->b2 * a->v[i] + (1.0f - a->b2) * g * g;
    a->m[i] = mi;
    a->v[i] = vi;
    a->p[i] -= a->step * mi / (sqrtf(vi) / a->bc2s + a->eps);
}

#endif
