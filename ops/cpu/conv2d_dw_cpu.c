/* ops/cpu/conv2d_dw_cpu.c — direct depthwise convolution (groups == Ci == Co),
 * any kernel size, stride, dilation and padding; no im2col.
 *
 * Each (image, channel) plane is copied into a zero-bordered per-thread
 * buffer, which also absorbs any input strides. For a column stride s > 1 the
 * buffer is split into s column phases (column q goes to phase q % s at q / s),
 * so that every inner loop reads consecutive floats whatever the stride. The
 * loops work on 8-float vectors (GCC vector extensions; 16-float blocks too
 * where AVX-512 is present) with 3x3, 5x5 and 7x7 filters specialised: the forward
 * computes tiles of 4 output rows x 1-2 vectors in registers, the weight
 * gradient keeps all KH*KW sums of a column block in registers. Rows whose
 * width is not a multiple of 8 (28, 14, 7 for Fashion-MNIST) are computed
 * 8-aligned: the padded buffers get the extra zero columns, the forward and
 * the data gradient write a per-thread plane of that width and copy the valid
 * columns out, the weight gradient reads a copy of dy with zero columns, so
 * no column falls to the scalar loops. Each thread
 * takes a fixed range of planes (or channels) and runs it inside one function
 * compiled for AVX-512, AVX2 and baseline x86-64, picked at load time
 * (target_clones; off under AddressSanitizer).
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
typedef float vf16 __attribute__((vector_size(16 * sizeof(float))));
typedef float vf16_u __attribute__((vector_size(16 * sizeof(float)), aligned(4), may_alias));
#define VLOAD(p) (*(const vf_u *)(p))
#define VSTORE(p, v) (*(vf_u *)(p) = (v))

/* A padded plane: `phases` column phases of rows x cols floats each. Column q
 * of the padded image is at phase q % phases, index q / phases. */
typedef struct {
    float *data;
    int rows, cols, phases;
} padded;

/* n rounded up to whole 8-float vectors: the width rows are computed at */
static inline int vec_width(int n) { return (n + VW - 1) / VW * VW; }

/* dst [rows, w] (row stride ds) = src [rows, w] (row stride ss). Inline:
 * short rows (7 floats) are copied many thousands of times a step, where a
 * memcpy call per row costs more than the copy. */
INLINE void copy_rows(float *restrict dst, long ds, const float *restrict src, long ss, int rows, int w)
{
    for (int r = 0; r < rows; r++) {
        float *d = dst + r * ds;
        const float *s = src + r * ss;
        int x = 0;
        for (; x + VW <= w; x += VW)
            VSTORE(d + x, VLOAD(s + x));
        for (; x < w; x++)
            d[x] = s[x];
    }
}

/* dst [rows, w] (row stride ds, column stride cs) += src [rows, w] (row
 * stride ss); vectors when cs == 1 */
INLINE void add_rows(float *restrict dst, long ds, long cs, const float *restrict src, long ss, int rows, int w)
{
    for (int r = 0; r < rows; r++) {
        float *d = dst + r * ds;
        const float *s = src + r * ss;
        int x = 0;
        if (cs == 1)
            for (; x + VW <= w; x += VW)
                VSTORE(d + x, VLOAD(d + x) + VLOAD(s + x));
        for (; x < w; x++)
            d[x * cs] += s[x];
    }
}

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
    if (p->phases == 1 && cs == 1) {
        copy_rows(p->data + (long)top * p->cols + left, p->cols, x, rs, nr, nc);
        return;
    }
    for (int iy = 0; iy < nr; iy++) {
        float *d = p->data + (long)(iy + top) * p->cols;
        const float *s = x + iy * rs;
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
    if (p->phases == 1) {
        add_rows(dx, rs, cs, p->data + (long)top * p->cols + left, p->cols, nr, nc);
        return;
    }
    for (int iy = 0; iy < nr; iy++) {
        float *d = dx + iy * rs;
        const float *s = p->data + (long)(iy + top) * p->cols;
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

/* Output tiles at (s, o): tile4x2 = 4 rows x 2 vectors, tile4x1 = 4 rows x 1
 * vector (sums split over even / odd filter rows), tile1 = 1 row x 1 vector
 * (split likewise). Eight (or two) independent named sums hide the FMA
 * latency; each weight is broadcast once per tile. Stamped out for 8-float
 * vectors and, for AVX-512 machines, 16-float ones.
 * Shared arguments: rs_out = input rows between output rows, rs_tap = between
 * filter rows; tap kx at DW ? kx * DW : to[kx]; store = (accumulate ? out :
 * init) + sums. */
#define OS_TILE_ARGS                                                                    \
    const float *restrict s, long rs_out, long rs_tap, const long *restrict to,        \
        float *restrict o, long ors, const float *restrict k, float init, int accumulate, \
        const int KH, const int KW, const int DW
#define OS_TAP(ky, kx) (s + (ky) * rs_tap + (DW ? (long)(kx) * DW : to[kx]))
#define OS_PUT(VT, VTU, d, sum)                 \
    do {                                        \
        VT base_ = (VT){0} + init;              \
        if (accumulate)                         \
            base_ = *(const VTU *)(d);          \
        *(VTU *)(d) = base_ + (sum);            \
    } while (0)
#define OS_DEFINE_TILES(SUF, VT, VTU, W)                                                   \
    INLINE void tile4x2##SUF(OS_TILE_ARGS)                                                \
    {                                                                                     \
        VT a0 = {0}, a1 = {0}, a2 = {0}, a3 = {0}, b0 = {0}, b1 = {0}, b2 = {0}, b3 = {0}; \
        for (int ky = 0; ky < KH; ky++)                                                   \
            for (int kx = 0; kx < KW; kx++) {                                             \
                VT w = (VT){0} + k[ky * KW + kx];                                         \
                const float *p = OS_TAP(ky, kx);                                          \
                a0 += w * *(const VTU *)p;                                                \
                b0 += w * *(const VTU *)(p + W);                                          \
                a1 += w * *(const VTU *)(p + rs_out);                                     \
                b1 += w * *(const VTU *)(p + rs_out + W);                                 \
                a2 += w * *(const VTU *)(p + 2 * rs_out);                                 \
                b2 += w * *(const VTU *)(p + 2 * rs_out + W);                             \
                a3 += w * *(const VTU *)(p + 3 * rs_out);                                 \
                b3 += w * *(const VTU *)(p + 3 * rs_out + W);                             \
            }                                                                             \
        OS_PUT(VT, VTU, o, a0);                                                           \
        OS_PUT(VT, VTU, o + W, b0);                                                       \
        OS_PUT(VT, VTU, o + ors, a1);                                                     \
        OS_PUT(VT, VTU, o + ors + W, b1);                                                 \
        OS_PUT(VT, VTU, o + 2 * ors, a2);                                                 \
        OS_PUT(VT, VTU, o + 2 * ors + W, b2);                                             \
        OS_PUT(VT, VTU, o + 3 * ors, a3);                                                 \
        OS_PUT(VT, VTU, o + 3 * ors + W, b3);                                             \
    }                                                                                     \
    INLINE void tile4x1##SUF(OS_TILE_ARGS)                                                \
    {                                                                                     \
        VT a0 = {0}, a1 = {0}, a2 = {0}, a3 = {0}, b0 = {0}, b1 = {0}, b2 = {0}, b3 = {0}; \
        for (int ky = 0; ky < KH; ky += 2) {                                              \
            for (int kx = 0; kx < KW; kx++) {                                             \
                VT w = (VT){0} + k[ky * KW + kx];                                         \
                const float *p = OS_TAP(ky, kx);                                          \
                a0 += w * *(const VTU *)p;                                                \
                a1 += w * *(const VTU *)(p + rs_out);                                     \
                a2 += w * *(const VTU *)(p + 2 * rs_out);                                 \
                a3 += w * *(const VTU *)(p + 3 * rs_out);                                 \
            }                                                                             \
            if (ky + 1 < KH)                                                              \
                for (int kx = 0; kx < KW; kx++) {                                         \
                    VT w = (VT){0} + k[(ky + 1) * KW + kx];                               \
                    const float *p = OS_TAP(ky + 1, kx);                                  \
                    b0 += w * *(const VTU *)p;                                            \
                    b1 += w * *(const VTU *)(p + rs_out);                                 \
                    b2 += w * *(const VTU *)(p + 2 * rs_out);                             \
                    b3 += w * *(const VTU *)(p + 3 * rs_out);                             \
                }                                                                         \
        }                                                                                 \
        OS_PUT(VT, VTU, o, a0 + b0);                                                      \
        OS_PUT(VT, VTU, o + ors, a1 + b1);                                                \
        OS_PUT(VT, VTU, o + 2 * ors, a2 + b2);                                            \
        OS_PUT(VT, VTU, o + 3 * ors, a3 + b3);                                            \
    }                                                                                     \
    INLINE void tile1##SUF(OS_TILE_ARGS)                                                  \
    {                                                                                     \
        VT a0 = {0}, b0 = {0};                                                            \
        for (int ky = 0; ky < KH; ky += 2) {                                              \
            for (int kx = 0; kx < KW; kx++)                                               \
                a0 += k[ky * KW + kx] * *(const VTU *)OS_TAP(ky, kx);                     \
            if (ky + 1 < KH)                                                              \
                for (int kx = 0; kx < KW; kx++)                                           \
                    b0 += k[(ky + 1) * KW + kx] * *(const VTU *)OS_TAP(ky + 1, kx);       \
        }                                                                                 \
        OS_PUT(VT, VTU, o, a0 + b0);                                                      \
    }
OS_DEFINE_TILES(, vf, vf_u, VW)
OS_DEFINE_TILES(_16, vf16, vf16_u, 16)

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
                     const int DW, int wide)
{
    long to[7];
    for (int kx = 0; kx < KW; kx++)
        to[kx] = DW ? (long)kx * DW : toff[kx];
    long rs_out = (long)sh * srs, rs_tap = (long)dh * srs;
    int oy = 0;
#define OS_TILE(NAME, X) NAME(s + (X), rs_out, rs_tap, to, o + (X), ors, k, init, accumulate, KH, KW, DW)
    for (; oy + 4 <= oh; oy += 4) { /* blocks of 4 output rows */
        const float *s = src + oy * rs_out;
        float *o = out + oy * ors;
        int ox = 0;
        if (wide)
            for (; ox + 32 <= ow; ox += 32)
                OS_TILE(tile4x2_16, ox);
        for (; ox + 2 * VW <= ow; ox += 2 * VW)
            OS_TILE(tile4x2, ox);
        for (; ox + VW <= ow; ox += VW)
            OS_TILE(tile4x1, ox);
        fwd_scalar(src, srs, to, out, ors, oy, oy + 4, ox, ow, sh, dh, k, init, accumulate, KH, KW);
    }
    for (; oy < oh; oy++) {
        const float *s = src + oy * rs_out;
        float *o = out + oy * ors;
        int ox = 0;
        for (; ox + VW <= ow; ox += VW)
            OS_TILE(tile1, ox);
        fwd_scalar(src, srs, to, out, ors, oy, oy + 1, ox, ow, sh, dh, k, init, accumulate, KH, KW);
    }
#undef OS_TILE
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
                      int accumulate, int wide)
{
    int step = tap_step(toff, kw, dw);
    const float *s0 = src + toff[0];
#define OS_FWD(K, D) fwd_core(D ? s0 : src, srs, toff, out, ors, oh, ow, sh, dh, k, init, accumulate, K, K, D, wide)
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
    } else if (kh == 7 && kw == 7) {
        if (step == 1)
            OS_FWD(7, 1);
        else if (step == 2)
            OS_FWD(7, 2);
        else
            OS_FWD(7, 0);
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
    int owv;             /* vec_width(ow) (forward, weight grad) or vec_width(w) (data grad) */
    int wide;            /* use 16-float vectors where rows allow (AVX-512 present) */
} dw_job;

static int wide_vectors(void)
{
#if defined(__GNUC__) && defined(__x86_64__)
    return __builtin_cpu_supports("avx512f");
#else
    return 0;
#endif
}

/* The zero-bordered plane that the forward and the weight gradient read x
 * through, wide enough for owv = vec_width(OW) output columns. */
static padded input_padding(const os_conv_geom *c, int owv)
{
    return padded_shape((c->oh - 1) * c->sh + (c->kh - 1) * c->dh + 1,
                        (owv - 1) * c->sw + (c->kw - 1) * c->dw + 1, c->sw);
}

/* x can be read in place instead: no padding, stride 1, unit column stride
 * and whole vectors of output columns */
static int reads_in_place(const os_conv_geom *c, const os_tensor *x, int owv)
{
    return c->ph == 0 && c->pw == 0 && c->sw == 1 && (x->stride[3] == 1 || c->w == 1) && owv == c->ow;
}

/* floats of an [OH, owv] per-thread plane, 0 when OW is whole vectors */
static size_t ragged_plane(const os_conv_geom *c, int owv)
{
    return owv > c->ow ? (size_t)c->oh * owv : 0;
}

/* forward over planes [p0, p1) of [N*C]; tmp: an [OH, owv] plane when
 * owv > OW (the valid columns are copied to y), else NULL */
SIMD_CLONES
static void fwd_planes(const dw_job *j, padded xp, float *tmp, long p0, long p1)
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
        float bias = j->bias ? j->bias[ch] : 0.0f;
        if (!tmp) {
            fwd_plane(src, srs, j->toff, c->dw, j->y + p * ohw, c->ow, c->oh, c->ow, c->sh, c->dh,
                      j->w + (long)ch * kk, c->kh, c->kw, bias, 0, j->wide);
            continue;
        }
        fwd_plane(src, srs, j->toff, c->dw, tmp, j->owv, c->oh, j->owv, c->sh, c->dh,
                  j->w + (long)ch * kk, c->kh, c->kw, bias, 0, j->wide);
        copy_rows(j->y + p * ohw, c->ow, tmp, j->owv, c->oh, c->ow);
    }
}

/* y [N,C,OH,OW] contiguous = dwconv(x [N,C,H,W] any strides, w [C,1,KH,KW]) + bias [C] | NULL */
void os_cpu_conv2d_dw_fwd(const os_conv_geom *c, os_tensor *y, const os_tensor *x,
                          const float *w, const float *bias)
{
    int T = os_threads(), owv = vec_width(c->ow), in_place = reads_in_place(c, x, owv);
    padded shape = input_padding(c, owv);
    size_t psz = in_place ? 0 : padded_size(&shape), tsz = ragged_plane(c, owv);
    size_t per = psz + tsz;
    float *scratch = per ? os_scratch_alloc(OS_CPU, sizeof(float) * per * (size_t)T) : NULL;
    long *toff = os_step_alloc(sizeof(long) * (size_t)c->kw);
    tap_offsets(toff, in_place ? NULL : &shape, c->kw, c->dw, 0);
    dw_job j = {.c = c, .x = x, .y = y->data, .w = w, .bias = bias, .toff = toff, .pad = shape,
                .owv = owv, .wide = wide_vectors()};

#pragma omp parallel num_threads(T)
    {
        float *mine = scratch ? scratch + per * (size_t)omp_get_thread_num() : NULL;
        padded xp = j.pad;
        xp.data = psz ? mine : NULL;
        if (xp.data)
            memset(xp.data, 0, sizeof(float) * psz);
        long p0, p1;
        my_range((long)c->n * c->co, &p0, &p1);
        fwd_planes(&j, xp, tsz ? mine + psz : NULL, p0, p1);
    }
}

/* The dy plane [OH, OW] of plane p, or its copy in gv [OH, owv] (zero columns
 * beyond OW, set once per thread) when gv is not NULL. */
static const float *dy_rows(const dw_job *j, float *gv, long p)
{
    const os_conv_geom *c = j->c;
    const float *g = j->dy + p * (long)c->oh * c->ow;
    if (!gv)
        return g;
    copy_rows(gv, j->owv, g, c->ow, c->oh, c->ow);
    return gv;
}

/* ---- backward data ------------------------------------------------------------ */
/* stride 1, planes [p0, p1): dx(iy,ix) += sum_{ky,kx} w[KH-1-ky,KW-1-kx] * dyq(iy+ph+ky*dh, ix+pw+kx*dw),
 * dyq = dy with (KH-1)*dh rows and (KW-1)*dw columns of zeros on each side.
 * kf: room for one flipped filter; tmp: an [H, owv] plane when dx rows are
 * strided or W is not whole vectors (then added to dx), else NULL. */
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
                      c->kh, c->kw, 0.0f, 1, j->wide);
        } else {
            fwd_plane(src, dyq.cols, j->toff, c->dw, tmp, j->owv, c->h, j->owv, 1, c->dh, kf,
                      c->kh, c->kw, 0.0f, 0, j->wide);
            add_rows(d, dx->stride[2], dx->stride[3], tmp, j->owv, c->h, c->w);
        }
    }
}

static void bwd_data_stride1(const os_conv_geom *c, os_tensor *dx, const float *dy, const float *w)
{
    int T = os_threads(), kk = c->kh * c->kw;
    int eh = (c->kh - 1) * c->dh, ew = (c->kw - 1) * c->dw, wv = vec_width(c->w);
    /* dx column ix reads dyq columns ix + pw + kx*dw: room for wv of them */
    int qw = c->ow + 2 * ew > wv + c->pw + ew ? c->ow + 2 * ew : wv + c->pw + ew;
    padded shape = padded_shape(c->oh + 2 * eh, qw, 1);
    int direct = (dx->stride[3] == 1 || c->w == 1) && wv == c->w; /* write dx rows in place */
    size_t qsz = padded_size(&shape), tsz = direct ? 0 : (size_t)c->h * wv;
    size_t per = qsz + (size_t)kk + tsz;
    float *scratch = os_scratch_alloc(OS_CPU, sizeof(float) * per * (size_t)T);
    long *toff = os_step_alloc(sizeof(long) * (size_t)c->kw);
    tap_offsets(toff, &shape, c->kw, c->dw, c->pw);
    dw_job j = {.c = c, .dx = dx, .dy = dy, .w = w, .toff = toff, .pad = shape, .owv = wv,
                .wide = wide_vectors()};

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
 * add its interior to dx. gv: see dy_rows. */
SIMD_CLONES
static void scatter_planes(const dw_job *j, padded dxp, float *gv, long p0, long p1)
{
    const os_conv_geom *c = j->c;
    os_tensor *dx = j->dx;
    int kk = c->kh * c->kw;
    for (long p = p0; p < p1; p++) {
        int n = (int)(p / c->co), ch = (int)(p % c->co);
        memset(dxp.data, 0, sizeof(float) * padded_size(&dxp));
        scatter_plane(dxp.data, dxp.cols, j->toff, dy_rows(j, gv, p), c->oh, j->owv, c->sh, c->dh,
                      j->w + (long)ch * kk, c->kh, c->kw);
        add_from_padded(dx->data + n * dx->stride[0] + ch * dx->stride[1], dx->stride[2],
                        dx->stride[3], c->h, c->w, &dxp, c->ph, c->pw);
    }
}

static void bwd_data_scatter(const os_conv_geom *c, os_tensor *dx, const float *dy, const float *w)
{
    int T = os_threads(), owv = vec_width(c->ow);
    /* dx gets scattered into a plane shaped like the forward's input plane */
    padded shape = input_padding(c, owv);
    size_t psz = padded_size(&shape), gsz = ragged_plane(c, owv);
    float *scratch = os_scratch_alloc(OS_CPU, sizeof(float) * (psz + gsz) * (size_t)T);
    long *toff = os_step_alloc(sizeof(long) * (size_t)c->kw);
    tap_offsets(toff, &shape, c->kw, c->dw, 0);
    dw_job j = {.c = c, .dx = dx, .dy = dy, .w = w, .toff = toff, .pad = shape, .owv = owv};

#pragma omp parallel num_threads(T)
    {
        padded dxp = j.pad;
        dxp.data = scratch + (psz + gsz) * (size_t)omp_get_thread_num();
        float *gv = gsz ? dxp.data + psz : NULL;
        if (gv)
            memset(gv, 0, sizeof(float) * gsz);
        long p0, p1;
        my_range((long)c->n * c->co, &p0, &p1);
        scatter_planes(&j, dxp, gv, p0, p1);
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
 * += sum_{oy,ox} g(oy,ox) * src(oy*sh + ky*dh, tap kx of ox). For one block of
 * columns, all KH*KW sums stay in registers over all output rows (KH, KW <= 7: 7x7 spills some;
 * DW as in fwd_core). With `wide`, 16-column blocks (AVX-512) come first; their
 * halves are folded into the 8-float sums. */
#define OS_WG_BLOCK(VT, VTU, W)                                                    \
    {                                                                              \
        VT a[49];                                                                  \
        for (int t = 0; t < KH * KW; t++)                                          \
            a[t] = (VT){0};                                                        \
        for (int oy = 0; oy < oh; oy++) {                                          \
            VT gv = *(const VTU *)(g + (long)oy * ow + ox);                        \
            const float *r0 = src + (long)oy * sh * srs + ox;                      \
            for (int ky = 0; ky < KH; ky++)                                        \
                for (int kx = 0; kx < KW; kx++)                                    \
                    a[ky * KW + kx] += gv * *(const VTU *)(r0 + ky * rs_tap + to[kx]); \
        }                                                                          \
        for (int t = 0; t < KH * KW; t++) {                                        \
            float h[W];                                                            \
            *(VTU *)h = a[t];                                                      \
            for (int e = 0; e < W; e += VW)                                        \
                accv[t] += VLOAD(h + e);                                           \
        }                                                                          \
    }
INLINE void wgrad_core(const float *restrict src, long srs, const long *restrict toff,
                       const float *restrict g, int oh, int ow, int sh, int dh, vf *restrict accv,
                       float *restrict accs, int wide, const int KH, const int KW, const int DW)
{
    long to[7];
    for (int kx = 0; kx < KW; kx++)
        to[kx] = DW ? (long)kx * DW : toff[kx];
    long rs_tap = (long)dh * srs;
    int ox = 0;
    if (wide)
        for (; ox + 16 <= ow; ox += 16)
            OS_WG_BLOCK(vf16, vf16_u, 16)
    for (; ox + VW <= ow; ox += VW)
        OS_WG_BLOCK(vf, vf_u, VW)
    for (; ox < ow; ox++)
        for (int oy = 0; oy < oh; oy++) {
            float gv = g[(long)oy * ow + ox];
            const float *r0 = src + (long)oy * sh * srs + ox;
            for (int ky = 0; ky < KH; ky++)
                for (int kx = 0; kx < KW; kx++)
                    accs[ky * KW + kx] += gv * r0[ky * rs_tap + to[kx]];
        }
}
#undef OS_WG_BLOCK

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
                        int ow, int sh, int dh, vf *accv, float *accs, int kh, int kw, int wide)
{
    int step = tap_step(toff, kw, dw);
    const float *s0 = src + toff[0];
#define OS_WG(K, D) wgrad_core(D ? s0 : src, srs, toff, g, oh, ow, sh, dh, accv, accs, wide, K, K, D)
    if (kh == 3 && kw == 3) {
        if (step == 1)
            OS_WG(3, 1);
        else if (step == 2)
            OS_WG(3, 2);
        else
            OS_WG(3, 0);
    } else if (kh == 5 && kw == 5) {
        if (step == 1)
            OS_WG(5, 1);
        else if (step == 2)
            OS_WG(5, 2);
        else
            OS_WG(5, 0);
    } else if (kh == 7 && kw == 7) {
        if (step == 1)
            OS_WG(7, 1);
        else if (step == 2)
            OS_WG(7, 2);
        else
            OS_WG(7, 0);
    } else {
        wgrad_generic(src, srs, toff, g, oh, ow, sh, dh, accv, accs, kh, kw);
    }
#undef OS_WG
}

/* backward weight for channels [c0, c1): all images, in order. accv, accs:
 * room for KH*KW vector and scalar sums; gv: see dy_rows. */
SIMD_CLONES
static void wgrad_channels(const dw_job *j, padded xp, float *gv, vf *accv, float *accs, long c0,
                           long c1)
{
    const os_conv_geom *c = j->c;
    const os_tensor *x = j->x;
    int kk = c->kh * c->kw;
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
            wgrad_plane(src, srs, j->toff, c->dw, dy_rows(j, gv, (long)n * c->co + ch), c->oh,
                        j->owv, c->sh, c->dh, accv, accs, c->kh, c->kw, j->wide);
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
    int T = os_threads(), kk = c->kh * c->kw, owv = vec_width(c->ow), in_place = reads_in_place(c, x, owv);
    padded shape = input_padding(c, owv);
    size_t psz = in_place ? 0 : padded_size(&shape), gsz = ragged_plane(c, owv);
    /* per thread: kk vector sums, kk scalar sums, the padded plane, dy rows */
    size_t per = (size_t)kk * (VW + 1) + psz + gsz;
    per = (per + 15) & ~(size_t)15; /* keep every thread's vectors 64-byte aligned */
    float *scratch = os_scratch_alloc(OS_CPU, sizeof(float) * per * (size_t)T);
    long *toff = os_step_alloc(sizeof(long) * (size_t)c->kw);
    tap_offsets(toff, in_place ? NULL : &shape, c->kw, c->dw, 0);
    dw_job j = {.c = c, .x = x, .dy = dy, .dw = dw, .toff = toff, .pad = shape, .owv = owv,
                .wide = wide_vectors()};

#pragma omp parallel num_threads(T)
    {
        float *base = scratch + per * (size_t)omp_get_thread_num();
        vf *accv = (vf *)base;
        float *accs = base + (size_t)kk * VW;
        padded xp = j.pad;
        xp.data = psz ? accs + kk : NULL;
        if (xp.data)
            memset(xp.data, 0, sizeof(float) * psz);
        float *gv = gsz ? accs + kk + psz : NULL;
        if (gv)
            memset(gv, 0, sizeof(float) * gsz);
        long c0, c1;
        my_range(c->co, &c0, &c1);
        wgrad_channels(&j, xp, gv, accv, accs, c0, c1);
    }
}
