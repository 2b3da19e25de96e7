/* ops/cpu/pool_cpu.c — max / average / global average pooling kernels.
 *
 * Geometry (ops/pool.c): x [N,C,H,W], y [N,C,OH,OW], window kh x kw, stride s,
 * padding p; output row oh covers input rows oh*s-p .. oh*s-p+kh-1, clipped to
 * [0,H). OpenMP runs one (n, c) plane at a time per thread, so no two threads
 * touch the same output (or dx) element and results do not depend on the
 * thread count.
 *
 * Fast paths (rows with unit W stride, padded width <= ROW_MAX):
 *  - forward: for each output row, reduce the kh input rows of its window
 *    element-wise into a padded row buffer (vectorised), then reduce the kw
 *    columns of each window along the buffer. Max is separable exactly; for
 *    the average, the sum is divided by the number of valid cells.
 *  - max backward: copy the plane into a -inf padded buffer, find each
 *    window's argmax with a branch-free scan (vectorised across the row),
 *    then scatter dy into dx.
 *  - avg backward: the transpose of the forward: scatter dy/count of an
 *    output row into a row buffer, then add that buffer to the kh input rows.
 * Anything else (very wide inputs, non-unit W strides) takes the direct loops.
 */
#include "ops/cpu/cpu_kernels.h"

#include <math.h>

#define ROW_MAX 1024      /* padded width handled by the row-buffer fast paths */
#define PLANE_MAX 16384   /* padded plane (floats) handled by the max-pool backward fast path */
#define WIN_MAX 64        /* kh * kw handled by the max-pool backward fast path */

#define INLINE static inline __attribute__((always_inline))

typedef struct {
    int H, W, OH, OW, kh, kw, s, p, incl;
} pool_geom;

static pool_geom geom_of(const os_tensor *x, const os_tensor *y, const os_pool_params *prm)
{
    return (pool_geom){x->shape[2], x->shape[3], y->shape[2], y->shape[3],
                       prm->kh, prm->kw, prm->stride, prm->pad, prm->count_include_pad};
}

static inline int imax(int a, int b) { return a > b ? a : b; }
static inline int imin(int a, int b) { return a < b ? a : b; }

static inline float *plane_of(const os_tensor *t, int n, int c)
{
    return t->data + n * t->stride[0] + c * t->stride[1];
}

/* number of cells averaged over by the window starting at `start` (length k,
 * input length L, padding p) */
static inline int avg_count(int start, int k, int L, int p, int incl)
{
    if (incl)
        return imin(start + k, L + p) - start;
    return imin(start + k, L) - imax(start, 0);
}

/* max that propagates NaN like PyTorch (a NaN candidate always wins) */
static inline float max_nan(float m, float v)
{
    return (v > m || v != v) ? v : m;
}

static int rows_unit(const os_tensor *a, const os_tensor *b)
{
    return (a->stride[3] == 1 || a->shape[3] == 1) && (b->stride[3] == 1 || b->shape[3] == 1);
}

/* ---- forward --------------------------------------------------------------- */

/* y[o] = max / sum of b[o*s .. o*s+k-1] for o < n (b: padded row buffer) */
INLINE void hreduce_k(const float *restrict b, float *restrict y, int n, int k, int s, int is_max)
{
    for (int o = 0; o < n; o++) {
        const float *q = b + o * s;
        float r = q[0];
        for (int j = 1; j < k; j++)
            r = is_max ? max_nan(r, q[j]) : r + q[j];
        y[o] = r;
    }
}

static void hreduce(const float *b, float *y, int n, int k, int s, int is_max)
{
    if (is_max) {
        if (k == 3 && s == 1)
            hreduce_k(b, y, n, 3, 1, 1);
        else if (k == 3 && s == 2)
            hreduce_k(b, y, n, 3, 2, 1);
        else if (k == 2 && s == 2)
            hreduce_k(b, y, n, 2, 2, 1);
        else
            hreduce_k(b, y, n, k, s, 1);
    } else {
        if (k == 3 && s == 1)
            hreduce_k(b, y, n, 3, 1, 0);
        else if (k == 3 && s == 2)
            hreduce_k(b, y, n, 3, 2, 0);
        else if (k == 2 && s == 2)
            hreduce_k(b, y, n, 2, 2, 0);
        else
            hreduce_k(b, y, n, k, s, 0);
    }
}

/* y [N,C,OH,OW] = max or mean over windows of x [N,C,H,W]; rows of x and y unit-stride */
static void pool_fwd_fast(os_tensor *y, const os_tensor *x, pool_geom g, int is_max)
{
    int wp = g.W + 2 * g.p;
    float cinv[ROW_MAX]; /* avg: 1 / (valid columns) per output column */
    for (int o = 0; o < g.OW; o++)
        cinv[o] = 1.0f / (float)avg_count(o * g.s - g.p, g.kw, g.W, g.p, g.incl);
    float fillv = is_max ? -INFINITY : 0.0f;

#pragma omp parallel
    {
        float buf[ROW_MAX];
        for (int i = 0; i < g.p; i++)
            buf[i] = buf[wp - 1 - i] = fillv;
        float *b = buf + g.p;
#pragma omp for collapse(2) schedule(static)
        for (int n = 0; n < x->shape[0]; n++)
            for (int c = 0; c < x->shape[1]; c++) {
                const float *xp = plane_of(x, n, c);
                float *yp = plane_of(y, n, c);
                for (int oh = 0; oh < g.OH; oh++) {
                    int h0 = oh * g.s - g.p, hs = imax(h0, 0), he = imin(h0 + g.kh, g.H);
                    const float *r = xp + hs * x->stride[2];
                    for (int w = 0; w < g.W; w++)
                        b[w] = r[w];
                    for (int h = hs + 1; h < he; h++) {
                        r = xp + h * x->stride[2];
                        if (is_max)
                            for (int w = 0; w < g.W; w++)
                                b[w] = max_nan(b[w], r[w]);
                        else
                            for (int w = 0; w < g.W; w++)
                                b[w] += r[w];
                    }
                    float *yr = yp + oh * y->stride[2];
                    hreduce(buf, yr, g.OW, g.kw, g.s, is_max);
                    if (!is_max) {
                        float rinv = 1.0f / (float)avg_count(h0, g.kh, g.H, g.p, g.incl);
                        for (int o = 0; o < g.OW; o++)
                            yr[o] *= rinv * cinv[o];
                    }
                }
            }
    }
}

/* direct loops, any strides */
static void pool_fwd_direct(os_tensor *y, const os_tensor *x, pool_geom g, int is_max)
{
#pragma omp parallel for collapse(2) schedule(static)
    for (int n = 0; n < x->shape[0]; n++)
        for (int c = 0; c < x->shape[1]; c++)
            for (int oh = 0; oh < g.OH; oh++)
                for (int ow = 0; ow < g.OW; ow++) {
                    int h0 = oh * g.s - g.p, w0 = ow * g.s - g.p;
                    float r = is_max ? -INFINITY : 0.0f;
                    for (int h = imax(h0, 0); h < imin(h0 + g.kh, g.H); h++)
                        for (int w = imax(w0, 0); w < imin(w0 + g.kw, g.W); w++) {
                            float v = x->data[os_offset4(x, n, c, h, w)];
                            r = is_max ? max_nan(r, v) : r + v;
                        }
                    if (!is_max)
                        r /= (float)(avg_count(h0, g.kh, g.H, g.p, g.incl) *
                                     avg_count(w0, g.kw, g.W, g.p, g.incl));
                    y->data[os_offset4(y, n, c, oh, ow)] = r;
                }
}

static void pool_fwd(const os_kargs *a, int is_max)
{
    os_tensor *y = a->t[0], *x = a->t[1];
    pool_geom g = geom_of(x, y, a->params);
    if (rows_unit(x, y) && g.W + 2 * g.p <= ROW_MAX)
        pool_fwd_fast(y, x, g, is_max);
    else
        pool_fwd_direct(y, x, g, is_max);
}

/* y [N,C,OH,OW] = max over each window of x [N,C,H,W] (-inf padding) */
void os_cpu_maxpool_fwd(const os_kargs *a) { pool_fwd(a, 1); }

/* y [N,C,OH,OW] = mean over each window of x [N,C,H,W] (padding counted only
 * when params->count_include_pad) */
void os_cpu_avgpool_fwd(const os_kargs *a) { pool_fwd(a, 0); }

/* ---- max pool backward ----------------------------------------------------- */

/* For each output o of one row: the window offset i*kw+j of the first maximum
 * of r[(i)*wp + o*s + j] (r: padded plane at the window's top row), -1 if no
 * value beats -inf. */
INLINE void argmax_row_k(const float *restrict r, long wp, int n, int kh, int kw, int s, int *restrict code)
{
    for (int o = 0; o < n; o++) {
        const float *q = r + o * s;
        float m = -INFINITY;
        int best = -1;
        for (int i = 0; i < kh; i++)
            for (int j = 0; j < kw; j++) {
                float v = q[i * wp + j];
                int take = v > m || v != v;
                best = take ? i * kw + j : best;
                m = take ? v : m;
            }
        code[o] = best;
    }
}

static void argmax_row(const float *r, long wp, int n, int kh, int kw, int s, int *code)
{
    if (kh == 3 && kw == 3 && s == 1)
        argmax_row_k(r, wp, n, 3, 3, 1, code);
    else if (kh == 3 && kw == 3 && s == 2)
        argmax_row_k(r, wp, n, 3, 3, 2, code);
    else if (kh == 2 && kw == 2 && s == 2)
        argmax_row_k(r, wp, n, 2, 2, 2, code);
    else
        argmax_row_k(r, wp, n, kh, kw, s, code);
}

/* dx [N,C,H,W] += dy scattered to each window's first maximum of x */
static void maxpool_bwd_fast(os_tensor *dx, const os_tensor *dy, const os_tensor *x, pool_geom g)
{
    int wp = g.W + 2 * g.p, hp = g.H + 2 * g.p;
    long off[WIN_MAX]; /* dx offset of window cell i*kw+j from the window's corner */
    for (int i = 0; i < g.kh; i++)
        for (int j = 0; j < g.kw; j++)
            off[i * g.kw + j] = i * dx->stride[2] + j * dx->stride[3];

#pragma omp parallel
    {
        float pp[PLANE_MAX];
        int code[ROW_MAX];
        for (int i = 0; i < hp * wp; i++)
            pp[i] = -INFINITY;
#pragma omp for collapse(2) schedule(static)
        for (int n = 0; n < x->shape[0]; n++)
            for (int c = 0; c < x->shape[1]; c++) {
                const float *xp = plane_of(x, n, c), *dyp = plane_of(dy, n, c);
                float *dxp = plane_of(dx, n, c);
                for (int h = 0; h < g.H; h++) {
                    float *d = pp + (h + g.p) * wp + g.p;
                    const float *r = xp + h * x->stride[2];
                    for (int w = 0; w < g.W; w++)
                        d[w] = r[w];
                }
                for (int oh = 0; oh < g.OH; oh++) {
                    argmax_row(pp + (long)oh * g.s * wp, wp, g.OW, g.kh, g.kw, g.s, code);
                    int h0 = oh * g.s - g.p;
                    const float *dyr = dyp + oh * dy->stride[2];
                    for (int ow = 0; ow < g.OW; ow++) {
                        int w0 = ow * g.s - g.p, cd = code[ow];
                        if (cd < 0) /* every valid value is -inf: PyTorch keeps the first valid cell */
                            cd = imax(-h0, 0) * g.kw + imax(-w0, 0);
                        dxp[h0 * dx->stride[2] + w0 * dx->stride[3] + off[cd]] += dyr[ow * dy->stride[3]];
                    }
                }
            }
    }
}

static void maxpool_bwd_direct(os_tensor *dx, const os_tensor *dy, const os_tensor *x, pool_geom g)
{
#pragma omp parallel for collapse(2) schedule(static)
    for (int n = 0; n < x->shape[0]; n++)
        for (int c = 0; c < x->shape[1]; c++)
            for (int oh = 0; oh < g.OH; oh++)
                for (int ow = 0; ow < g.OW; ow++) {
                    int h0 = oh * g.s - g.p, w0 = ow * g.s - g.p;
                    int bh = imax(h0, 0), bw = imax(w0, 0);
                    float m = -INFINITY;
                    for (int h = imax(h0, 0); h < imin(h0 + g.kh, g.H); h++)
                        for (int w = imax(w0, 0); w < imin(w0 + g.kw, g.W); w++) {
                            float v = x->data[os_offset4(x, n, c, h, w)];
                            if (v > m || v != v) {
                                m = v;
                                bh = h;
                                bw = w;
                            }
                        }
                    dx->data[os_offset4(dx, n, c, bh, bw)] += dy->data[os_offset4(dy, n, c, oh, ow)];
                }
}

/* dx [N,C,H,W] += dy [N,C,OH,OW] routed to the first maximum of each window
 * of x [N,C,H,W] (recomputed) */
void os_cpu_maxpool_bwd(const os_kargs *a)
{
    os_tensor *dx = a->t[0], *dy = a->t[1], *x = a->t[2];
    pool_geom g = geom_of(x, dy, a->params);
    long wp = g.W + 2 * g.p, hp = g.H + 2 * g.p;
    if (rows_unit(x, dx) && wp <= ROW_MAX && wp * hp <= PLANE_MAX && g.kh * g.kw <= WIN_MAX)
        maxpool_bwd_fast(dx, dy, x, g);
    else
        maxpool_bwd_direct(dx, dy, x, g);
}

/* ---- average pool backward --------------------------------------------------- */

/* dx [N,C,H,W] += each dy / count spread over its window */
static void avgpool_bwd_fast(os_tensor *dx, const os_tensor *dy, pool_geom g)
{
    int wp = g.W + 2 * g.p;
    float cinv[ROW_MAX];
    for (int o = 0; o < g.OW; o++)
        cinv[o] = 1.0f / (float)avg_count(o * g.s - g.p, g.kw, g.W, g.p, g.incl);

#pragma omp parallel
    {
        float buf[ROW_MAX];
#pragma omp for collapse(2) schedule(static)
        for (int n = 0; n < dx->shape[0]; n++)
            for (int c = 0; c < dx->shape[1]; c++) {
                const float *dyp = plane_of(dy, n, c);
                float *dxp = plane_of(dx, n, c);
                for (int oh = 0; oh < g.OH; oh++) {
                    int h0 = oh * g.s - g.p;
                    float rinv = 1.0f / (float)avg_count(h0, g.kh, g.H, g.p, g.incl);
                    const float *dyr = dyp + oh * dy->stride[2];
                    for (int i = 0; i < wp; i++)
                        buf[i] = 0.0f;
                    for (int ow = 0; ow < g.OW; ow++) {
                        float v = dyr[ow * dy->stride[3]] * rinv * cinv[ow];
                        float *b = buf + ow * g.s;
                        for (int j = 0; j < g.kw; j++)
                            b[j] += v;
                    }
                    const float *b = buf + g.p;
                    for (int h = imax(h0, 0); h < imin(h0 + g.kh, g.H); h++) {
                        float *d = dxp + h * dx->stride[2];
                        for (int w = 0; w < g.W; w++)
                            d[w] += b[w];
                    }
                }
            }
    }
}

static void avgpool_bwd_direct(os_tensor *dx, const os_tensor *dy, pool_geom g)
{
#pragma omp parallel for collapse(2) schedule(static)
    for (int n = 0; n < dx->shape[0]; n++)
        for (int c = 0; c < dx->shape[1]; c++)
            for (int oh = 0; oh < g.OH; oh++)
                for (int ow = 0; ow < g.OW; ow++) {
                    int h0 = oh * g.s - g.p, w0 = ow * g.s - g.p;
                    float v = dy->data[os_offset4(dy, n, c, oh, ow)] /
                              (float)(avg_count(h0, g.kh, g.H, g.p, g.incl) *
                                      avg_count(w0, g.kw, g.W, g.p, g.incl));
                    for (int h = imax(h0, 0); h < imin(h0 + g.kh, g.H); h++)
                        for (int w = imax(w0, 0); w < imin(w0 + g.kw, g.W); w++)
                            dx->data[os_offset4(dx, n, c, h, w)] += v;
                }
}

/* dx [N,C,H,W] += dy [N,C,OH,OW] / count, spread over each window */
void os_cpu_avgpool_bwd(const os_kargs *a)
{
    os_tensor *dx = a->t[0], *dy = a->t[1];
    pool_geom g = geom_of(dx, dy, a->params);
    if (rows_unit(dx, dx) && g.W + 2 * g.p <= ROW_MAX)
        avgpool_bwd_fast(dx, dy, g);
    else
        avgpool_bwd_direct(dx, dy, g);
}

/* ---- global average pool ------------------------------------------------------ */

/* y [N,C] = mean over H,W of x [N,C,H,W] (sum in double) */
void os_cpu_gap_fwd(const os_kargs *a)
{
    os_tensor *y = a->t[0], *x = a->t[1];
    int H = x->shape[2], W = x->shape[3];
    int dense = (x->stride[3] == 1 || W == 1) && (x->stride[2] == W || H == 1);
    double inv = 1.0 / ((double)H * W);
#pragma omp parallel for collapse(2) schedule(static)
    for (int n = 0; n < x->shape[0]; n++)
        for (int c = 0; c < x->shape[1]; c++) {
            const float *xp = plane_of(x, n, c);
            double s = 0;
            if (dense) {
                double l[8] = {0};
                int i = 0, len = H * W;
                for (; i + 8 <= len; i += 8)
                    for (int j = 0; j < 8; j++)
                        l[j] += xp[i + j];
                for (; i < len; i++)
                    l[0] += xp[i];
                for (int j = 0; j < 8; j++)
                    s += l[j];
            } else {
                for (int h = 0; h < H; h++)
                    for (int w = 0; w < W; w++)
                        s += xp[h * x->stride[2] + w * x->stride[3]];
            }
            y->data[n * y->stride[0] + c * y->stride[1]] = (float)(s * inv);
        }
}

/* dx [N,C,H,W] += dy [N,C] / (H*W) */
void os_cpu_gap_bwd(const os_kargs *a)
{
    os_tensor *dx = a->t[0], *dy = a->t[1];
    int H = dx->shape[2], W = dx->shape[3];
    float inv = 1.0f / (float)(H * W);
#pragma omp parallel for collapse(2) schedule(static)
    for (int n = 0; n < dx->shape[0]; n++)
        for (int c = 0; c < dx->shape[1]; c++) {
            float v = dy->data[n * dy->stride[0] + c * dy->stride[1]] * inv;
            float *d = plane_of(dx, n, c);
            for (int h = 0; h < H; h++)
                for (int w = 0; w < W; w++)
                    d[h * dx->stride[2] + w * dx->stride[3]] += v;
        }
}
