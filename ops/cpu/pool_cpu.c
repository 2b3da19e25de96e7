/* ops/cpu/pool_cpu.c — max / average / global average pooling kernels.
 *
 * Geometry (ops/pool.c): x [N,C,H,W], y [N,C,OH,OW], window kh x kw, stride s,
 * padding p; output row oh covers input rows oh*s-p .. oh*s-p+kh-1, clipped to
 * [0,H). OpenMP runs one (n, c) plane at a time per thread, so no two threads
 * touch the same output (or dx) element and results do not depend on the
 * thread count.
 *
 * Fast paths (unit W strides, padded width wp = W+2p <= ROW_MAX). A block of
 * output rows at a time, the input rows it needs are copied into a per-thread
 * buffer P of pitch wp with the padding filled in (-inf for max, 0 for avg),
 * so the loops below have no bounds checks and vectorise:
 *  - forward: V = reduction of the kh rows of each window, column by column
 *    (one flat loop when s = 1), then each output = reduction of kw
 *    neighbours in V. Max is separable exactly; for the average the sum is
 *    scaled by 1 / (number of valid cells).
 *  - max backward: each window's first maximum found by a branch-free scan
 *    across the output row, then dy is scattered into dx.
 *  - avg backward (needs no x): the transpose of the forward. Stride 1, the
 *    plane at once as two flat gathers (avgbwd_plane_s1); other strides, per
 *    output row: dy / count spread along a row buffer, which is then added to
 *    the kh input rows.
 * The copy also detects NaN: max pooling propagates NaN like PyTorch (a NaN
 * in the window wins), which plain compares do not, so a plane holding a NaN
 * is redone by the direct loops. Those loops also serve very wide inputs and
 * non-unit W strides.
 */
#include "ops/cpu/cpu_kernels.h"

#include <math.h>

#define ROW_MAX 1024    /* padded width handled by the fast paths */
#define BUF_MAX 8192    /* floats per thread in each row-block buffer */
#define WIN_MAX 64      /* kh * kw handled by the max-pool backward fast path */

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

static inline int unit_rows(const os_tensor *t) { return t->stride[3] == 1 || t->shape[3] == 1; }

/* the fast paths apply: unit W strides, a padded row fits, a window's rows fit */
static int fast_ok(const os_tensor *a, const os_tensor *b, pool_geom g)
{
    int wp = g.W + 2 * g.p;
    return unit_rows(a) && unit_rows(b) && wp <= ROW_MAX && g.kh * wp <= BUF_MAX;
}

/* output rows per block: the input rows they need fit in BUF_MAX floats */
static int block_rows(pool_geom g)
{
    int wp = g.W + 2 * g.p;
    return imax((BUF_MAX / wp - g.kh) / g.s + 1, 1);
}

/* P (pitch wp) = input rows r0 .. r0+nr-1 of plane xp, rows and columns
 * outside the input set to `fill`. Returns nonzero if a copied value is NaN. */
static int load_rows(float *restrict P, const float *restrict xp, long xs2, pool_geom g, int r0, int nr, float fill)
{
    int wp = g.W + 2 * g.p, nan = 0;
    for (int i = 0; i < nr; i++) {
        float *d = P + (long)i * wp;
        int h = r0 + i;
        if (h < 0 || h >= g.H) {
            for (int c = 0; c < wp; c++)
                d[c] = fill;
            continue;
        }
        for (int c = 0; c < g.p; c++)
            d[c] = d[g.p + g.W + c] = fill;
        const float *src = xp + h * xs2;
        float *dst = d + g.p;
        int bad = 0;
        for (int w = 0; w < g.W; w++) {
            dst[w] = src[w];
            bad |= src[w] != src[w];
        }
        nan |= bad;
    }
    return nan;
}

/* ---- forward --------------------------------------------------------------- */

INLINE float red2(float a, float b, int is_max) { return is_max ? (b > a ? b : a) : a + b; }

/* V[r*vp + c] = reduction over i < kh of P[r*pp + i*wp + c], r < rows, c < len */
INLINE void vreduce_k(float *restrict V, const float *restrict P, int rows, int len, long vp, long pp,
                      long wp, int kh, int is_max)
{
    for (int r = 0; r < rows; r++) {
        const float *q = P + r * pp;
        float *v = V + r * vp;
        for (int c = 0; c < len; c++) {
            float acc = q[c];
            for (int i = 1; i < kh; i++)
                acc = red2(acc, q[i * wp + c], is_max);
            v[c] = acc;
        }
    }
}

/* y[o] = reduction of b[o*s .. o*s+k-1], o < n; the average scales the sum
 * by rinv * cinv[o] */
INLINE void hreduce_k(const float *restrict b, float *restrict y, int n, int k, int s, int is_max, float rinv,
                      const float *restrict cinv)
{
    for (int o = 0; o < n; o++) {
        const float *q = b + o * s;
        float acc = q[0];
        for (int j = 1; j < k; j++)
            acc = red2(acc, q[j], is_max);
        y[o] = is_max ? acc : acc * rinv * cinv[o];
    }
}

/* V rows (pitch wp) of output rows 0..nb-1 of a block whose input rows are in P */
static void vreduce(float *V, const float *P, int nb, pool_geom g, int is_max)
{
    long wp = g.W + 2 * g.p;
    int rows = nb, len = (int)wp;
    long pp = g.s * wp;
    if (g.s == 1) { /* the rows are consecutive: one flat loop */
        rows = 1;
        len = nb * (int)wp;
    }
#define VRED(K, M) vreduce_k(V, P, rows, len, wp, pp, wp, K, M)
    if (is_max) {
        if (g.kh == 3) VRED(3, 1); else if (g.kh == 2) VRED(2, 1); else VRED(g.kh, 1);
    } else {
        if (g.kh == 3) VRED(3, 0); else if (g.kh == 2) VRED(2, 0); else VRED(g.kh, 0);
    }
#undef VRED
}

static void hreduce(const float *b, float *y, pool_geom g, int is_max, float rinv, const float *cinv)
{
#define HRED(K, S, M) hreduce_k(b, y, g.OW, K, S, M, rinv, cinv)
    int k = g.kw, s = g.s;
    if (is_max) {
        if (k == 3 && s == 1) HRED(3, 1, 1);
        else if (k == 3 && s == 2) HRED(3, 2, 1);
        else if (k == 2 && s == 2) HRED(2, 2, 1);
        else HRED(k, s, 1);
    } else {
        if (k == 3 && s == 1) HRED(3, 1, 0);
        else if (k == 3 && s == 2) HRED(3, 2, 0);
        else if (k == 2 && s == 2) HRED(2, 2, 0);
        else HRED(k, s, 0);
    }
#undef HRED
}

/* one plane by direct loops, any strides */
static void fwd_plane_direct(os_tensor *y, const os_tensor *x, int n, int c, pool_geom g, int is_max)
{
    for (int oh = 0; oh < g.OH; oh++)
        for (int ow = 0; ow < g.OW; ow++) {
            int h0 = oh * g.s - g.p, w0 = ow * g.s - g.p;
            float r = is_max ? -INFINITY : 0.0f;
            for (int h = imax(h0, 0); h < imin(h0 + g.kh, g.H); h++)
                for (int w = imax(w0, 0); w < imin(w0 + g.kw, g.W); w++) {
                    float v = x->data[os_offset4(x, n, c, h, w)];
                    r = is_max ? ((v > r || v != v) ? v : r) : r + v;
                }
            if (!is_max)
                r /= (float)(avg_count(h0, g.kh, g.H, g.p, g.incl) * avg_count(w0, g.kw, g.W, g.p, g.incl));
            y->data[os_offset4(y, n, c, oh, ow)] = r;
        }
}

/* one plane through the row-block buffers P, V */
static void fwd_plane_fast(os_tensor *y, const os_tensor *x, int n, int c, pool_geom g, int is_max,
                           const float *cinv, float *P, float *V)
{
    int wp = g.W + 2 * g.p, bl = block_rows(g);
    const float *xp = plane_of(x, n, c);
    float *yp = plane_of(y, n, c);
    for (int oh0 = 0; oh0 < g.OH; oh0 += bl) {
        int nb = imin(bl, g.OH - oh0);
        if (load_rows(P, xp, x->stride[2], g, oh0 * g.s - g.p, (nb - 1) * g.s + g.kh, is_max ? -INFINITY : 0.0f)
            && is_max) {
            fwd_plane_direct(y, x, n, c, g, is_max);
            return;
        }
        vreduce(V, P, nb, g, is_max);
        for (int j = 0; j < nb; j++) {
            float *yr = yp + (oh0 + j) * y->stride[2];
            float rinv = 1.0f / (float)avg_count((oh0 + j) * g.s - g.p, g.kh, g.H, g.p, g.incl);
            hreduce(V + (long)j * wp, yr, g, is_max, rinv, cinv);
        }
    }
}

static void pool_fwd(const os_kargs *a, int is_max)
{
    os_tensor *y = a->t[0], *x = a->t[1];
    pool_geom g = geom_of(x, y, a->params);
    if (!fast_ok(x, y, g)) {
#pragma omp parallel for collapse(2) schedule(static)
        for (int n = 0; n < x->shape[0]; n++)
            for (int c = 0; c < x->shape[1]; c++)
                fwd_plane_direct(y, x, n, c, g, is_max);
        return;
    }
    float cinv[ROW_MAX]; /* avg: 1 / (valid columns) of each output column */
    for (int o = 0; o < g.OW; o++)
        cinv[o] = 1.0f / (float)avg_count(o * g.s - g.p, g.kw, g.W, g.p, g.incl);
#pragma omp parallel
    {
        float P[BUF_MAX], V[BUF_MAX];
#pragma omp for collapse(2) schedule(static)
        for (int n = 0; n < x->shape[0]; n++)
            for (int c = 0; c < x->shape[1]; c++)
                fwd_plane_fast(y, x, n, c, g, is_max, cinv, P, V);
    }
}

/* y [N,C,OH,OW] = max over each window of x [N,C,H,W] (-inf padding, NaN wins) */
void os_cpu_maxpool_fwd(const os_kargs *a) { pool_fwd(a, 1); }

/* y [N,C,OH,OW] = mean over each window of x [N,C,H,W] (padding counted only
 * when params->count_include_pad) */
void os_cpu_avgpool_fwd(const os_kargs *a) { pool_fwd(a, 0); }

/* ---- max pool backward ----------------------------------------------------- */

/* For each output o of one row: the window offset i*kw+j of the first maximum
 * of r[i*wp + o*s + j] (r: buffer row at the window's top), -1 if no value
 * beats -inf. (NaN-free planes only.) */
INLINE void argmax_row_k(const float *restrict r, long wp, int n, int kh, int kw, int s, int *restrict code)
{
    for (int o = 0; o < n; o++) {
        const float *q = r + o * s;
        float m = -INFINITY, best = -1.0f;
        for (int i = 0; i < kh; i++)
            for (int j = 0; j < kw; j++) {
                float v = q[i * wp + j];
                int take = v > m;
                best = take ? (float)(i * kw + j) : best;
                m = take ? v : m;
            }
        code[o] = (int)best;
    }
}

static void argmax_row(const float *r, long wp, pool_geom g, int *code)
{
#define AMAX(KH, KW, S) argmax_row_k(r, wp, g.OW, KH, KW, S, code)
    if (g.kh == 3 && g.kw == 3 && g.s == 1) AMAX(3, 3, 1);
    else if (g.kh == 3 && g.kw == 3 && g.s == 2) AMAX(3, 3, 2);
    else if (g.kh == 2 && g.kw == 2 && g.s == 2) AMAX(2, 2, 2);
    else AMAX(g.kh, g.kw, g.s);
#undef AMAX
}

/* output rows oh_from .. OH-1 of one plane by direct loops, any strides */
static void maxbwd_plane_direct(os_tensor *dx, const os_tensor *dy, const os_tensor *x, int n, int c, pool_geom g,
                                int oh_from)
{
    for (int oh = oh_from; oh < g.OH; oh++)
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

/* off[i*kw+j]: dx offset of window cell (i, j) from the window's corner */
static void maxbwd_plane_fast(os_tensor *dx, const os_tensor *dy, const os_tensor *x, int n, int c, pool_geom g,
                              const long *off, float *P, int *code)
{
    int wp = g.W + 2 * g.p, bl = block_rows(g);
    const float *xp = plane_of(x, n, c), *dyp = plane_of(dy, n, c);
    float *dxp = plane_of(dx, n, c);
    for (int oh0 = 0; oh0 < g.OH; oh0 += bl) {
        int nb = imin(bl, g.OH - oh0);
        if (load_rows(P, xp, x->stride[2], g, oh0 * g.s - g.p, (nb - 1) * g.s + g.kh, -INFINITY)) {
            /* a NaN: the remaining rows by the exact loops (the finished blocks
             * already scattered their gradient) */
            maxbwd_plane_direct(dx, dy, x, n, c, g, oh0);
            return;
        }
        for (int j = 0; j < nb; j++) {
            int oh = oh0 + j, h0 = oh * g.s - g.p;
            argmax_row(P + (long)j * g.s * wp, wp, g, code);
            const float *dyr = dyp + oh * dy->stride[2];
            for (int ow = 0; ow < g.OW; ow++) {
                int w0 = ow * g.s - g.p, cd = code[ow];
                if (cd < 0) /* every valid value is -inf: PyTorch keeps the first valid cell */
                    cd = imax(-h0, 0) * g.kw + imax(-w0, 0);
                dxp[h0 * dx->stride[2] + w0 + off[cd]] += dyr[ow * dy->stride[3]];
            }
        }
    }
}

/* dx [N,C,H,W] += dy [N,C,OH,OW] routed to the first maximum of each window
 * of x [N,C,H,W] (recomputed; a NaN counts as the maximum) */
void os_cpu_maxpool_bwd(const os_kargs *a)
{
    os_tensor *dx = a->t[0], *dy = a->t[1], *x = a->t[2];
    pool_geom g = geom_of(x, dy, a->params);
    if (!fast_ok(x, dx, g) || g.kh * g.kw > WIN_MAX) {
#pragma omp parallel for collapse(2) schedule(static)
        for (int n = 0; n < x->shape[0]; n++)
            for (int c = 0; c < x->shape[1]; c++)
                maxbwd_plane_direct(dx, dy, x, n, c, g, 0);
        return;
    }
    long off[WIN_MAX];
    for (int i = 0; i < g.kh; i++)
        for (int j = 0; j < g.kw; j++)
            off[i * g.kw + j] = i * dx->stride[2] + j;
#pragma omp parallel
    {
        float P[BUF_MAX];
        int code[ROW_MAX];
#pragma omp for collapse(2) schedule(static)
        for (int n = 0; n < x->shape[0]; n++)
            for (int c = 0; c < x->shape[1]; c++)
                maxbwd_plane_fast(dx, dy, x, n, c, g, off, P, code);
    }
}

/* ---- average pool backward --------------------------------------------------- */

static void avgbwd_plane_direct(os_tensor *dx, const os_tensor *dy, int n, int c, pool_geom g)
{
    for (int oh = 0; oh < g.OH; oh++)
        for (int ow = 0; ow < g.OW; ow++) {
            int h0 = oh * g.s - g.p, w0 = ow * g.s - g.p;
            float v = dy->data[os_offset4(dy, n, c, oh, ow)] /
                      (float)(avg_count(h0, g.kh, g.H, g.p, g.incl) * avg_count(w0, g.kw, g.W, g.p, g.incl));
            for (int h = imax(h0, 0); h < imin(h0 + g.kh, g.H); h++)
                for (int w = imax(w0, 0); w < imin(w0 + g.kw, g.W); w++)
                    dx->data[os_offset4(dx, n, c, h, w)] += v;
        }
}

/* b[o*s + j] += v[o] for o < n, j < k (b zeroed by the caller) */
INLINE void hspread_k(float *restrict b, const float *restrict v, int n, int k, int s)
{
    for (int j = 0; j < k; j++)
        for (int o = 0; o < n; o++)
            b[o * s + j] += v[o];
}

/* any stride, one output row at a time: v = dy row / count, spread along the
 * row buffer b, b added to the kh input rows */
static void avgbwd_plane_rows(os_tensor *dx, const os_tensor *dy, int n, int c, pool_geom g, const float *cinv,
                              float *b, float *v)
{
    int wp = g.W + 2 * g.p;
    const float *dyp = plane_of(dy, n, c);
    float *dxp = plane_of(dx, n, c);
    for (int oh = 0; oh < g.OH; oh++) {
        int h0 = oh * g.s - g.p;
        float rinv = 1.0f / (float)avg_count(h0, g.kh, g.H, g.p, g.incl);
        const float *dyr = dyp + oh * dy->stride[2];
        for (int o = 0; o < g.OW; o++)
            v[o] = dyr[o] * rinv * cinv[o];
        for (int i = 0; i < wp; i++)
            b[i] = 0.0f;
        if (g.kw == 3 && g.s == 2)
            hspread_k(b, v, g.OW, 3, 2);
        else
            hspread_k(b, v, g.OW, g.kw, g.s);
        const float *bp = b + g.p;
        for (int h = imax(h0, 0); h < imin(h0 + g.kh, g.H); h++) {
            float *d = dxp + h * dx->stride[2];
            for (int w = 0; w < g.W; w++)
                d[w] += bp[w];
        }
    }
}

/* B[q] = sum over j < k of V[q - j], q < len */
INLINE void hgather_k(float *restrict B, const float *restrict V, int len, int k)
{
    for (int q = 0; q < len; q++) {
        float acc = V[q];
        for (int j = 1; j < k; j++)
            acc += V[q - j];
        B[q] = acc;
    }
}

/* stride 1, the whole plane at once, as gathers (no read-modify-write chains):
 * V (pitch wp) row oh = dy row / count followed by kw-1 zeros (OW = wp-kw+1),
 * so one flat pass gives B row oh, column c = the sum over the windows of row
 * oh that cover padded column c; then dx row h gathers the B rows of the
 * windows covering it. Vb holds kw-1 leading zeros and then V. */
static void avgbwd_plane_s1(os_tensor *dx, const os_tensor *dy, int n, int c, pool_geom g, const float *cinv,
                            float *Vb, float *B)
{
    int wp = g.W + 2 * g.p, lead = g.kw - 1;
    const float *dyp = plane_of(dy, n, c);
    float *dxp = plane_of(dx, n, c);
    float *V = Vb + lead;
    for (int i = 0; i < lead; i++)
        Vb[i] = 0.0f;
    for (int oh = 0; oh < g.OH; oh++) {
        float rinv = 1.0f / (float)avg_count(oh - g.p, g.kh, g.H, g.p, g.incl);
        const float *dyr = dyp + oh * dy->stride[2];
        float *vr = V + (long)oh * wp;
        for (int o = 0; o < g.OW; o++)
            vr[o] = dyr[o] * rinv * cinv[o];
        for (int o = g.OW; o < wp; o++)
            vr[o] = 0.0f;
    }
    if (g.kw == 3)
        hgather_k(B, V, g.OH * wp, 3);
    else
        hgather_k(B, V, g.OH * wp, g.kw);
    for (int h = 0; h < g.H; h++) {
        int lo = imax(h + g.p - g.kh + 1, 0), hi = imin(h + g.p, g.OH - 1);
        float *restrict d = dxp + h * dx->stride[2];
        const float *b0 = B + (long)lo * wp + g.p;
        if (hi - lo == 2) {
            const float *b1 = b0 + wp, *b2 = b1 + wp;
            for (int w = 0; w < g.W; w++)
                d[w] += b0[w] + b1[w] + b2[w];
            continue;
        }
        for (int r = lo; r <= hi; r++, b0 += wp)
            for (int w = 0; w < g.W; w++)
                d[w] += b0[w];
    }
}

/* dx [N,C,H,W] += dy [N,C,OH,OW] / count, spread over each window */
void os_cpu_avgpool_bwd(const os_kargs *a)
{
    os_tensor *dx = a->t[0], *dy = a->t[1];
    pool_geom g = geom_of(dx, dy, a->params);
    if (!fast_ok(dx, dy, g)) {
#pragma omp parallel for collapse(2) schedule(static)
        for (int n = 0; n < dx->shape[0]; n++)
            for (int c = 0; c < dx->shape[1]; c++)
                avgbwd_plane_direct(dx, dy, n, c, g);
        return;
    }
    float cinv[ROW_MAX];
    for (int o = 0; o < g.OW; o++)
        cinv[o] = 1.0f / (float)avg_count(o * g.s - g.p, g.kw, g.W, g.p, g.incl);
    int whole = g.s == 1 && (long)g.OH * (g.W + 2 * g.p) + g.kw <= BUF_MAX;
#pragma omp parallel
    {
        float b1[BUF_MAX], b2[BUF_MAX];
#pragma omp for collapse(2) schedule(static)
        for (int n = 0; n < dx->shape[0]; n++)
            for (int c = 0; c < dx->shape[1]; c++) {
                if (whole)
                    avgbwd_plane_s1(dx, dy, n, c, g, cinv, b1, b2);
                else
                    avgbwd_plane_rows(dx, dy, n, c, g, cinv, b1, b2);
            }
    }
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
