/* ops/cpu/conv2d_dw_cpu.c — direct depthwise convolution (groups == Ci == Co),
 * any kernel size, stride, dilation and padding; no im2col.
 *
 * Each (image, channel) plane is copied into a zero-bordered per-thread
 * buffer, which also absorbs any input strides. For a column stride s > 1 the
 * buffer is split into s column phases (column q goes to phase q % s at q / s),
 * so that every inner loop reads consecutive floats whatever the stride. The
 * loops work on 8-float vectors (GCC vector extensions) with the taps of 3x3
 * and 5x5 filters unrolled; the hot functions are compiled for AVX-512, AVX2
 * and baseline x86-64 and picked at load time (target_clones).
 *
 *   forward      y[n,c](oy,ox) = b[c] + sum_{ky,kx} w[c,ky,kx] * xpad(oy*sh + ky*dh, ox*sw + kx*dw)
 *   bwd data     stride 1: dx = the same loop over dy padded by (k-1)*d, with
 *                the flipped filter; other strides: scatter into a padded buffer
 *   bwd weight   dw[c,ky,kx] += sum_{n,oy,ox} dy[n,c](oy,ox) * xpad(...), one
 *                channel per iteration, images in order (deterministic)
 */
#include "ops/cpu/conv2d_cpu.h"
#include "tensor/arena.h"

#include <omp.h>
#include <string.h>

/* fused multiply-add where the target has it (ISO C modes default to off) */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("fp-contract=fast")
#endif

#define INLINE static inline __attribute__((always_inline))
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && !defined(__SANITIZE_ADDRESS__)
#define SIMD_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define SIMD_CLONES
#endif

#define VW 8
typedef float vf __attribute__((vector_size(VW * sizeof(float))));
typedef float vf_u __attribute__((vector_size(VW * sizeof(float)), aligned(4), may_alias));
#define VLOAD(p) (*(const vf_u *)(p))
#define VSTORE(p, v) (*(vf_u *)(p) = (v))

/* A padded plane: `phases` column phases of rows x cols floats each. Column q
 * of the padded image is at phase q % phases, index q / phases. */
typedef struct {
    float *data;
    int rows, cols, phases;
} padded;

/* The buffer for a padded image of hp x wp split into s column phases. */
static inline padded padded_shape(int hp, int wp, int s)
{
    return (padded){NULL, hp, (wp + s - 1) / s, s};
}

static inline size_t padded_size(const padded *p) { return (size_t)p->rows * p->cols * p->phases; }

/* Offset of padded column q, relative to a row start. */
static inline long col_offset(const padded *p, int q)
{
    return (long)(q % p->phases) * p->rows * p->cols + q / p->phases;
}

/* Write plane x [h,w] (strides rs, cs) at (top, left) of the padded image.
 * Only those cells are written; the rest of the buffer keeps its zeros (set
 * once per thread; all planes of a call cover the same cells). */
INLINE void load_padded(const padded *p, const float *x, long rs, long cs, int h, int w, int top, int left)
{
    int wp = p->cols * p->phases;
    int nr = h < p->rows - top ? h : p->rows - top;
    int nc = w < wp - left ? w : wp - left;
    if (nc <= 0)
        return;
    for (int iy = 0; iy < nr; iy++) {
        float *d = p->data + (long)(iy + top) * p->cols;
        const float *s = x + iy * rs;
        if (p->phases == 1 && cs == 1) {
            float *dl = d + left;
            int ix = 0;
            for (; ix + VW <= nc; ix += VW)
                VSTORE(dl + ix, VLOAD(s + ix));
            for (; ix < nc; ix++)
                dl[ix] = s[ix];
        } else
            for (int ix = 0; ix < nc; ix++)
                d[col_offset(p, ix + left)] = s[ix * cs];
    }
}

/* dx [h,w] (strides rs, cs) += the padded image's cells at (top + iy, left + ix). */
INLINE void add_from_padded(float *dx, long rs, long cs, int h, int w, const padded *p, int top, int left)
{
    int wp = p->cols * p->phases;
    int nr = h < p->rows - top ? h : p->rows - top;
    int nc = w < wp - left ? w : wp - left;
    for (int iy = 0; iy < nr; iy++) {
        float *d = dx + iy * rs;
        const float *s = p->data + (long)(iy + top) * p->cols;
        if (p->phases == 1 && cs == 1)
            for (int ix = 0; ix < nc; ix++)
                d[ix] += s[ix + left];
        else
            for (int ix = 0; ix < nc; ix++)
                d[ix * cs] += s[col_offset(p, ix + left)];
    }
}

/* ---- forward core ------------------------------------------------------------ */
/* out [oh,ow] (row stride ors) (= init + | +=) sum_{ky,kx} k[ky,kx] * src(oy*sh + ky*dh, tap kx)
 * where src rows are srs apart and tap kx of output column ox is at
 * src_row[ox + to(kx)]: to(kx) = kx * DW when DW > 0 (a compile-time constant,
 * which keeps the addressing in the instructions), else toff[kx] (which folds
 * dilation, stride phases and padding). KH, KW <= 5 are compile-time too, so
 * the taps unroll. */

/* One tile of RB output rows x CB vectors at (s, o): RB*CB*P independent sums
 * (P = 2 splits each over even / odd filter rows) so the FMA latency hides;
 * each filter weight is broadcast once per tile. */
INLINE void fwd_tile(const float *restrict s, long rs_out, long rs_tap, const long *restrict to,
                     float *restrict o, long ors, const float *restrict k, float init,
                     int accumulate, const int KH, const int KW, const int DW, const int RB,
                     const int CB, const int P)
{
    vf acc[2][4][2];
    for (int q = 0; q < P; q++)
        for (int r = 0; r < RB; r++)
            for (int c = 0; c < CB; c++)
                acc[q][r][c] = (vf){0};
    for (int ky = 0; ky < KH; ky++)
        for (int kx = 0; kx < KW; kx++) {
            float w = k[ky * KW + kx];
            long off = ky * rs_tap + (DW ? (long)kx * DW : to[kx]);
            for (int r = 0; r < RB; r++)
                for (int c = 0; c < CB; c++)
                    acc[ky % P][r][c] += w * VLOAD(s + r * rs_out + off + c * VW);
        }
    for (int r = 0; r < RB; r++)
        for (int c = 0; c < CB; c++) {
            float *d = o + r * ors + c * VW;
            vf a = (vf){0} + init;
            if (accumulate)
                a = VLOAD(d);
            a += acc[0][r][c];
            if (P > 1)
                a += acc[1][r][c];
            VSTORE(d, a);
        }
}

/* scalar: output rows [oy0, oy1), columns [ox0, ow) */
INLINE void fwd_scalar(const float *restrict src, long srs, const long *restrict to,
                       float *restrict out, long ors, int oy0, int oy1, int ox0, int ow, int sh,
                       int dh, const float *restrict k, float init, int accumulate, const int KH,
                       const int KW)
{
    for (int oy = oy0; oy < oy1; oy++)
        for (int ox = ox0; ox < ow; ox++) {
            float a = accumulate ? out[oy * ors + ox] : init;
            for (int ky = 0; ky < KH; ky++) {
                const float *r = src + (long)(oy * sh + ky * dh) * srs + ox;
                for (int kx = 0; kx < KW; kx++)
                    a += k[ky * KW + kx] * r[to[kx]];
            }
            out[oy * ors + ox] = a;
        }
}

INLINE void fwd_core(const float *restrict src, long srs, const long *restrict toff,
                     float *restrict out, long ors, int oh, int ow, int sh, int dh,
                     const float *restrict k, float init, int accumulate, const int KH, const int KW,
                     const int DW)
{
    long to[5];
    for (int kx = 0; kx < KW; kx++)
        to[kx] = DW ? (long)kx * DW : toff[kx];
    long rs_out = (long)sh * srs, rs_tap = (long)dh * srs;
    int oy = 0;
    /* blocks of 4 output rows: 2 vectors wide (8 sums), then 1 (4 rows x 2 parities) */
    for (; oy + 4 <= oh; oy += 4) {
        const float *s = src + oy * rs_out;
        float *o = out + oy * ors;
        int ox = 0;
        for (; ox + 2 * VW <= ow; ox += 2 * VW)
            fwd_tile(s + ox, rs_out, rs_tap, to, o + ox, ors, k, init, accumulate, KH, KW, DW, 4, 2, 1);
        for (; ox + VW <= ow; ox += VW)
            fwd_tile(s + ox, rs_out, rs_tap, to, o + ox, ors, k, init, accumulate, KH, KW, DW, 4, 1, 2);
        fwd_scalar(src, srs, to, out, ors, oy, oy + 4, ox, ow, sh, dh, k, init, accumulate, KH, KW);
    }
    for (; oy < oh; oy++) {
        const float *s = src + oy * rs_out;
        float *o = out + oy * ors;
        int ox = 0;
        for (; ox + VW <= ow; ox += VW)
            fwd_tile(s + ox, rs_out, rs_tap, to, o + ox, ors, k, init, accumulate, KH, KW, DW, 1, 1, 2);
        fwd_scalar(src, srs, to, out, ors, oy, oy + 1, ox, ow, sh, dh, k, init, accumulate, KH, KW);
    }
}

/* Any filter size: one pass over the output row per tap. */
INLINE void fwd_generic(const float *restrict src, long srs, const long *restrict toff,
                        float *restrict out, long ors, int oh, int ow, int sh, int dh,
                        const float *restrict k, int kh, int kw, float init, int accumulate)
{
    for (int oy = 0; oy < oh; oy++) {
        const float *s = src + (long)oy * sh * srs;
        float *o = out + oy * ors;
        if (!accumulate)
            for (int ox = 0; ox < ow; ox++)
                o[ox] = init;
        for (int ky = 0; ky < kh; ky++)
            for (int kx = 0; kx < kw; kx++) {
                const float *r = s + (long)ky * dh * srs + toff[kx];
                float wv = k[ky * kw + kx];
                int ox = 0;
                for (; ox + VW <= ow; ox += VW)
                    VSTORE(o + ox, VLOAD(o + ox) + wv * VLOAD(r + ox));
                for (; ox < ow; ox++)
                    o[ox] += wv * r[ox];
            }
    }
}

/* 1 or 2 when tap kx sits at toff[0] + kx * that, else 0 */
static inline int tap_step(const long *toff, int kw, int dw)
{
    if (dw > 2)
        return 0;
    for (int kx = 1; kx < kw; kx++)
        if (toff[kx] != toff[0] + (long)kx * dw)
            return 0;
    return dw;
}

INLINE void fwd_plane(const float *src, long srs, const long *toff, int dw, float *out, long ors,
                      int oh, int ow, int sh, int dh, const float *k, int kh, int kw, float init,
                      int accumulate)
{
    int step = tap_step(toff, kw, dw);
    const float *s0 = src + toff[0];
#define OS_FWD(K, D) fwd_core(D ? s0 : src, srs, toff, out, ors, oh, ow, sh, dh, k, init, accumulate, K, K, D)
    if (kh == 3 && kw == 3) {
        if (step == 1)
            OS_FWD(3, 1);
        else if (step == 2)
            OS_FWD(3, 2);
        else
            OS_FWD(3, 0);
    } else if (kh == 5 && kw == 5) {
        if (step == 1)
            OS_FWD(5, 1);
        else if (step == 2)
            OS_FWD(5, 2);
        else
            OS_FWD(5, 0);
    } else {
        fwd_generic(src, srs, toff, out, ors, oh, ow, sh, dh, k, kh, kw, init, accumulate);
    }
#undef OS_FWD
}

/* toff[kx] for padded image p (or an unpadded row when p is NULL) */
static void tap_offsets(long *toff, const padded *p, int kw, int dw, int left)
{
    for (int kx = 0; kx < kw; kx++)
        toff[kx] = p ? col_offset(p, left + kx * dw) : (long)left + (long)kx * dw;
}

/* This thread's share [*a, *b) of n items (static, so fixed for a thread count). */
static void my_range(long n, long *a, long *b)
{
    long t = omp_get_thread_num(), nt = omp_get_num_threads();
    *a = n * t / nt;
    *b = n * (t + 1) / nt;
}

/* What the per-thread workers need; pad.data is set per thread. */
typedef struct {
    const os_conv_geom *c;
    const os_tensor *x;  /* forward and backward weight input (any strides) */
    os_tensor *dx;       /* backward data output (any strides) */
    float *y;            /* forward output, contiguous */
    const float *dy;     /* contiguous */
    const float *w;      /* [C,1,KH,KW] */
    const float *bias;   /* [C] or NULL */
    float *dw;           /* [C,1,KH,KW] */
    const long *toff;    /* tap offsets in the padded (or in-place) rows */
    padded pad;          /* per-thread padded plane; data NULL: read x in place */
} dw_job;

/* forward over planes [p0, p1) of [N*C] */
SIMD_CLONES
static void fwd_planes(const dw_job *j, padded xp, long p0, long p1)
{
    const os_conv_geom *c = j->c;
    const os_tensor *x = j->x;
    int kk = c->kh * c->kw;
    long ohw = (long)c->oh * c->ow;
    for (long p = p0; p < p1; p++) {
        int n = (int)(p / c->co), ch = (int)(p % c->co);
        const float *xs = x->data + n * x->stride[0] + ch * x->stride[1];
        const float *src = xs;
        long srs = x->stride[2];
        if (xp.data) {
            load_padded(&xp, xs, x->stride[2], x->stride[3], c->h, c->w, c->ph, c->pw);
            src = xp.data;
            srs = xp.cols;
        }
        fwd_plane(src, srs, j->toff, c->dw, j->y + p * ohw, c->ow, c->oh, c->ow, c->sh, c->dh,
                  j->w + (long)ch * kk, c->kh, c->kw, j->bias ? j->bias[ch] : 0.0f, 0);
    }
}

/* y [N,C,OH,OW] contiguous = dwconv(x [N,C,H,W] any strides, w [C,1,KH,KW]) + bias [C] | NULL */
void os_cpu_conv2d_dw_fwd(const os_conv_geom *c, os_tensor *y, const os_tensor *x,
                          const float *w, const float *bias)
{
    int T = os_threads();
    /* no padding, stride 1 and unit column stride: read x in place */
    int in_place = c->ph == 0 && c->pw == 0 && c->sw == 1 && (x->stride[3] == 1 || c->w == 1);
    padded shape = padded_shape((c->oh - 1) * c->sh + (c->kh - 1) * c->dh + 1,
                                (c->ow - 1) * c->sw + (c->kw - 1) * c->dw + 1, c->sw);
    size_t psz = in_place ? 0 : padded_size(&shape);
    float *scratch = psz ? os_step_alloc_data(OS_CPU, sizeof(float) * psz * (size_t)T) : NULL;
    long *toff = os_step_alloc(sizeof(long) * (size_t)c->kw);
    tap_offsets(toff, in_place ? NULL : &shape, c->kw, c->dw, 0);
    dw_job j = {.c = c, .x = x, .y = y->data, .w = w, .bias = bias, .toff = toff, .pad = shape};

#pragma omp parallel num_threads(T)
    {
        padded xp = j.pad;
        xp.data = scratch ? scratch + psz * (size_t)omp_get_thread_num() : NULL;
        if (xp.data)
            memset(xp.data, 0, sizeof(float) * psz);
        long p0, p1;
        my_range((long)c->n * c->co, &p0, &p1);
        fwd_planes(&j, xp, p0, p1);
    }
}

/* ---- backward data ------------------------------------------------------------ */
/* stride 1, planes [p0, p1): dx(iy,ix) += sum_{ky,kx} w[KH-1-ky,KW-1-kx] * dyq(iy+ph+ky*dh, ix+pw+kx*dw),
 * dyq = dy with (KH-1)*dh rows and (KW-1)*dw columns of zeros on each side.
 * kf: room for one flipped filter; tmp: an H*W plane when dx rows are strided. */
SIMD_CLONES
static void bwd_data1_planes(const dw_job *j, padded dyq, float *kf, float *tmp, long p0, long p1)
{
    const os_conv_geom *c = j->c;
    os_tensor *dx = j->dx;
    int kk = c->kh * c->kw, eh = (c->kh - 1) * c->dh, ew = (c->kw - 1) * c->dw;
    long ohw = (long)c->oh * c->ow;
    for (long p = p0; p < p1; p++) {
        int n = (int)(p / c->co), ch = (int)(p % c->co);
        const float *k = j->w + (long)ch * kk;
        for (int t = 0; t < kk; t++) /* flip both axes */
            kf[t] = k[kk - 1 - t];
        load_padded(&dyq, j->dy + p * ohw, c->ow, 1, c->oh, c->ow, eh, ew);
        float *d = dx->data + n * dx->stride[0] + ch * dx->stride[1];
        const float *src = dyq.data + (long)c->ph * dyq.cols;
        if (!tmp) {
            fwd_plane(src, dyq.cols, j->toff, c->dw, d, dx->stride[2], c->h, c->w, 1, c->dh, kf,
                      c->kh, c->kw, 0.0f, 1);
        } else {
            fwd_plane(src, dyq.cols, j->toff, c->dw, tmp, c->w, c->h, c->w, 1, c->dh, kf, c->kh,
                      c->kw, 0.0f, 0);
            for (int iy = 0; iy < c->h; iy++)
                for (int ix = 0; ix < c->w; ix++)
                    d[iy * dx->stride[2] + ix * dx->stride[3]] += tmp[iy * c->w + ix];
        }
    }
}

static void bwd_data_stride1(const os_conv_geom *c, os_tensor *dx, const float *dy, const float *w)
{
    int T = os_threads(), kk = c->kh * c->kw;
    int eh = (c->kh - 1) * c->dh, ew = (c->kw - 1) * c->dw;
    padded shape = padded_shape(c->oh + 2 * eh, c->ow + 2 * ew, 1);
    int direct = dx->stride[3] == 1 || c->w == 1; /* write dx rows in place */
    size_t qsz = padded_size(&shape), tsz = direct ? 0 : (size_t)c->h * c->w;
    size_t per = qsz + (size_t)kk + tsz;
    float *scratch = os_step_alloc_data(OS_CPU, sizeof(float) * per * (size_t)T);
    long *toff = os_step_alloc(sizeof(long) * (size_t)c->kw);
    tap_offsets(toff, &shape, c->kw, c->dw, c->pw);
    dw_job j = {.c = c, .dx = dx, .dy = dy, .w = w, .toff = toff, .pad = shape};

#pragma omp parallel num_threads(T)
    {
        padded dyq = j.pad;
        dyq.data = scratch + per * (size_t)omp_get_thread_num();
        float *kf = dyq.data + qsz;
        memset(dyq.data, 0, sizeof(float) * qsz);
        long p0, p1;
        my_range((long)c->n * c->co, &p0, &p1);
        bwd_data1_planes(&j, dyq, kf, direct ? NULL : kf + kk, p0, p1);
    }
}

/* xp(oy*sh + ky*dh, tap kx of ox) += k[ky,kx] * g(oy, ox) for one plane */
INLINE void scatter_plane(float *xp, long srs, const long *toff, const float *g, int oh, int ow,
                          int sh, int dh, const float *k, int kh, int kw)
{
    for (int oy = 0; oy < oh; oy++) {
        const float *gr = g + (long)oy * ow;
        for (int ky = 0; ky < kh; ky++)
            for (int kx = 0; kx < kw; kx++) {
                float wv = k[ky * kw + kx];
                float *r = xp + (long)(oy * sh + ky * dh) * srs + toff[kx];
                int ox = 0;
                for (; ox + VW <= ow; ox += VW)
                    VSTORE(r + ox, VLOAD(r + ox) + wv * VLOAD(gr + ox));
                for (; ox < ow; ox++)
                    r[ox] += wv * gr[ox];
            }
    }
}

/* any stride, planes [p0, p1): scatter dy * w into a zeroed padded plane, then
 * add its interior to dx */
SIMD_CLONES
static void scatter_planes(const dw_job *j, padded dxp, long p0, long p1)
{
    const os_conv_geom *c = j->c;
    os_tensor *dx = j->dx;
    int kk = c->kh * c->kw;
    long ohw = (long)c->oh * c->ow;
    for (long p = p0; p < p1; p++) {
        int n = (int)(p / c->co), ch = (int)(p % c->co);
        memset(dxp.data, 0, sizeof(float) * padded_size(&dxp));
        scatter_plane(dxp.data, dxp.cols, j->toff, j->dy + p * ohw, c->oh, c->ow, c->sh, c->dh,
                      j->w + (long)ch * kk, c->kh, c->kw);
        add_from_padded(dx->data + n * dx->stride[0] + ch * dx->stride[1], dx->stride[2],
                        dx->stride[3], c->h, c->w, &dxp, c->ph, c->pw);
    }
}

static void bwd_data_scatter(const os_conv_geom *c, os_tensor *dx, const float *dy, const float *w)
{
    int T = os_threads();
    padded shape = padded_shape((c->oh - 1) * c->sh + (c->kh - 1) * c->dh + 1,
                                (c->ow - 1) * c->sw + (c->kw - 1) * c->dw + 1, c->sw);
    size_t psz = padded_size(&shape);
    float *scratch = os_step_alloc_data(OS_CPU, sizeof(float) * psz * (size_t)T);
    long *toff = os_step_alloc(sizeof(long) * (size_t)c->kw);
    tap_offsets(toff, &shape, c->kw, c->dw, 0);
    dw_job j = {.c = c, .dx = dx, .dy = dy, .w = w, .toff = toff, .pad = shape};

#pragma omp parallel num_threads(T)
    {
        padded dxp = j.pad;
        dxp.data = scratch + psz * (size_t)omp_get_thread_num();
        long p0, p1;
        my_range((long)c->n * c->co, &p0, &p1);
        scatter_planes(&j, dxp, p0, p1);
    }
}

/* dx [N,C,H,W] (any strides) += dwconv^T(dy [N,C,OH,OW], w [C,1,KH,KW]) */
void os_cpu_conv2d_dw_bwd_data(const os_conv_geom *c, os_tensor *dx, const float *dy, const float *w)
{
    if (c->sh == 1 && c->sw == 1)
        bwd_data_stride1(c, dx, dy, w);
    else
        bwd_data_scatter(c, dx, dy, w);
}

/* ---- backward weight ---------------------------------------------------------- */
/* For one plane: accv[ky*KW+kx] (vectors) and accs[...] (scalars, tail columns)
 * += sum_{oy,ox} g(oy,ox) * src(oy*sh + ky*dh, tap kx of ox). The sums of R
 * filter rows x KW columns for one column block stay in registers over all
 * output rows (R*KW independent chains). KH, KW, R <= 5; DW as in fwd_core. */
INLINE void wgrad_core(const float *restrict src, long srs, const long *restrict toff,
                       const float *restrict g, int oh, int ow, int sh, int dh, vf *restrict accv,
                       float *restrict accs, const int KH, const int KW, const int R, const int DW)
{
    long to[5];
    for (int kx = 0; kx < KW; kx++)
        to[kx] = DW ? (long)kx * DW : toff[kx];
    for (int ky0 = 0; ky0 < KH; ky0 += R) {
        const int nr = KH - ky0 < R ? KH - ky0 : R;
        int ox = 0;
        for (; ox + VW <= ow; ox += VW) {
            vf a[25];
            for (int t = 0; t < R * KW; t++)
                a[t] = (vf){0};
            for (int oy = 0; oy < oh; oy++) {
                vf gv = VLOAD(g + (long)oy * ow + ox);
                const float *r0 = src + (long)(oy * sh + ky0 * dh) * srs + ox;
                for (int j = 0; j < R; j++) {
                    if (j >= nr)
                        break;
                    const float *r = r0 + (long)j * dh * srs;
                    for (int kx = 0; kx < KW; kx++)
                        a[j * KW + kx] += gv * VLOAD(r + to[kx]);
                }
            }
            for (int j = 0; j < nr; j++)
                for (int kx = 0; kx < KW; kx++)
                    accv[(ky0 + j) * KW + kx] += a[j * KW + kx];
        }
        for (; ox < ow; ox++)
            for (int oy = 0; oy < oh; oy++) {
                float gv = g[(long)oy * ow + ox];
                for (int j = 0; j < nr; j++) {
                    const float *r = src + (long)(oy * sh + (ky0 + j) * dh) * srs + ox;
                    for (int kx = 0; kx < KW; kx++)
                        accs[(ky0 + j) * KW + kx] += gv * r[to[kx]];
                }
            }
    }
}

/* any kernel size: one tap at a time */
INLINE void wgrad_generic(const float *src, long srs, const long *toff, const float *g, int oh,
                          int ow, int sh, int dh, vf *accv, float *accs, int kh, int kw)
{
    for (int ky = 0; ky < kh; ky++)
        for (int kx = 0; kx < kw; kx++) {
            vf a = {0};
            float as = 0.0f;
            for (int oy = 0; oy < oh; oy++) {
                const float *gr = g + (long)oy * ow;
                const float *r = src + (long)(oy * sh + ky * dh) * srs + toff[kx];
                int ox = 0;
                for (; ox + VW <= ow; ox += VW)
                    a += VLOAD(gr + ox) * VLOAD(r + ox);
                for (; ox < ow; ox++)
                    as += gr[ox] * r[ox];
            }
            accv[ky * kw + kx] += a;
            accs[ky * kw + kx] += as;
        }
}

INLINE void wgrad_plane(const float *src, long srs, const long *toff, int dw, const float *g, int oh,
                        int ow, int sh, int dh, vf *accv, float *accs, int kh, int kw)
{
    int step = tap_step(toff, kw, dw);
    const float *s0 = src + toff[0];
#define OS_WG(K, R, D) wgrad_core(D ? s0 : src, srs, toff, g, oh, ow, sh, dh, accv, accs, K, K, R, D)
    if (kh == 3 && kw == 3) {
        if (step == 1)
            OS_WG(3, 3, 1);
        else if (step == 2)
            OS_WG(3, 3, 2);
        else
            OS_WG(3, 3, 0);
    } else if (kh == 5 && kw == 5) {
        if (step == 1)
            OS_WG(5, 5, 1);
        else if (step == 2)
            OS_WG(5, 5, 2);
        else
            OS_WG(5, 5, 0);
    } else {
        wgrad_generic(src, srs, toff, g, oh, ow, sh, dh, accv, accs, kh, kw);
    }
#undef OS_WG
}

/* backward weight for channels [c0, c1): all images, in order. accv, accs:
 * room for KH*KW vector and scalar sums. */
SIMD_CLONES
static void wgrad_channels(const dw_job *j, padded xp, vf *accv, float *accs, long c0, long c1)
{
    const os_conv_geom *c = j->c;
    const os_tensor *x = j->x;
    int kk = c->kh * c->kw;
    long ohw = (long)c->oh * c->ow;
    for (long ch = c0; ch < c1; ch++) {
        for (int t = 0; t < kk; t++) {
            accv[t] = (vf){0};
            accs[t] = 0.0f;
        }
        for (int n = 0; n < c->n; n++) {
            const float *xs = x->data + n * x->stride[0] + ch * x->stride[1];
            const float *src = xs;
            long srs = x->stride[2];
            if (xp.data) {
                load_padded(&xp, xs, x->stride[2], x->stride[3], c->h, c->w, c->ph, c->pw);
                src = xp.data;
                srs = xp.cols;
            }
            wgrad_plane(src, srs, j->toff, c->dw, j->dy + ((long)n * c->co + ch) * ohw, c->oh,
                        c->ow, c->sh, c->dh, accv, accs, c->kh, c->kw);
        }
        for (int t = 0; t < kk; t++) {
            float s = accs[t];
            for (int e = 0; e < VW; e++)
                s += accv[t][e];
            j->dw[ch * kk + t] += s;
        }
    }
}

/* dw [C,1,KH,KW] += sum_{n,oy,ox} dy[n,c](oy,ox) * xpad[n,c](oy*sh+ky*dh, ox*sw+kx*dw);
 * dy [N,C,OH,OW] contiguous, x [N,C,H,W] any strides. Channels are split over
 * threads; each channel's sums run over the images in order (deterministic). */
void os_cpu_conv2d_dw_bwd_weight(const os_conv_geom *c, float *dw, const float *dy, const os_tensor *x)
{
    int T = os_threads(), kk = c->kh * c->kw;
    int in_place = c->ph == 0 && c->pw == 0 && c->sw == 1 && (x->stride[3] == 1 || c->w == 1);
    padded shape = padded_shape((c->oh - 1) * c->sh + (c->kh - 1) * c->dh + 1,
                                (c->ow - 1) * c->sw + (c->kw - 1) * c->dw + 1, c->sw);
    size_t psz = in_place ? 0 : padded_size(&shape);
    /* per thread: kk vector sums, kk scalar sums, the padded plane */
    size_t per = (size_t)kk * (VW + 1) + psz;
    per = (per + 15) & ~(size_t)15; /* keep every thread's vectors 64-byte aligned */
    float *scratch = os_step_alloc_data(OS_CPU, sizeof(float) * per * (size_t)T);
    long *toff = os_step_alloc(sizeof(long) * (size_t)c->kw);
    tap_offsets(toff, in_place ? NULL : &shape, c->kw, c->dw, 0);
    dw_job j = {.c = c, .x = x, .dy = dy, .dw = dw, .toff = toff, .pad = shape};

#pragma omp parallel num_threads(T)
    {
        float *base = scratch + per * (size_t)omp_get_thread_num();
        vf *accv = (vf *)base;
        float *accs = base + (size_t)kk * VW;
        padded xp = j.pad;
        xp.data = psz ? accs + kk : NULL;
        if (xp.data)
            memset(xp.data, 0, sizeof(float) * psz);
        long c0, c1;
        my_range(c->co, &c0, &c1);
        wgrad_channels(&j, xp, accv, accs, c0, c1);
    }
}
