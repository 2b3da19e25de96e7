/* ops/cuda/cu_drivers.h — the host side of every CUDA kernel: reads the
 * os_kargs of ops/kernels.def, checks what the bodies assume, picks the grid and runs the bodies of cu_bodies.h, and sends GEMM-shaped
 * work to the one column-major GEMM wrapper. Scratch comes from the
 * backend's workspace (below), reset at the start of each kernel call.
 *
 * Included once by each backend, which first defines the primitives:
 *   OS_CU_RUN(body, args, n)   run body over grid indices [0, n): a __global__
 *                              launch (cuda_backend.cu) or the same 1-D grid
 *                              of OS_CU_BLOCK-thread blocks walked on the CPU
 *                              (emu_backend.c)
 *   os_cu_gemm(...)            C = alpha op(A) op(B) + beta C, column-major,
 *                              `batch` products at element strides sA, sB, sC
 *                              (cublasSgemmStridedBatched's arguments; the
 *                              emulation calls cblas_sgemm(CblasColMajor, ...)
 *                              with the same ones)
 *   os_cu_ws_alloc(bytes), os_cu_ws_free(p)   the workspace's device memory
 * The drivers never read device memory on the host. Each defines
 * os_cuk_<fn> for OS_KERNEL(ID, fn, doc); the backends build their tables from
 * ops/kernels.def, so a kernel without a driver does not compile.
 * This file is compiled as C11 (gcc) and as C++17 (nvcc): it keeps to their
 * common subset (no designated initializers, explicit casts from void *).
 */
#ifndef OS_CU_DRIVERS_H
#define OS_CU_DRIVERS_H

#include <string.h>

#include "ops/cuda/cu_bodies.h"

#ifdef __cplusplus
#define OS_CU_ZERO {}
#else
#define OS_CU_ZERO {0}
#endif

/* a kernel's view of t (all zero for NULL) */
static os_cu_t os_cu_view(const os_tensor *t)
{
    os_cu_t v = OS_CU_ZERO;
    if (!t) {
        for (int k = 0; k < 4; k++)
            v.n[k] = 1;
        return v;
    }
    v.d = t->data;
    for (int k = 0; k < 4; k++) {
        v.n[k] = t->shape[k];
        v.s[k] = t->stride[k];
    }
    return v;
}

/* device address of element i of a small "any stride" vector */
static const float *os_cu_elem_ptr(const os_tensor *t, long i)
{
    os_cu_t v = os_cu_view(t);
    return t->data + os_cu_off(&v, i);
}

/* ---- the backend's workspace: kernel scratch (im2col columns, partial
 * sums, per-channel coefficients), alive for one kernel call. A bump
 * allocator over one buffer that grows and is reused: a call that needs more
 * than the buffer holds gets extra blocks, and at the start of the next call
 * those and the buffer are replaced by one buffer of the largest total seen,
 * so the steady state allocates nothing. Device memory from the backend's own
 * os_cu_ws_alloc (cudaMalloc / aligned host memory): private to the backend,
 * never a tensor, so the debug device (ops/debug_backend.h) does not guard it.
 * Reuse across calls is safe on the GPU too: launches on the one stream run
 * in order. */
#define OS_CU_WS_EXTRA 32
static char *os_cu_ws_base;
static size_t os_cu_ws_cap, os_cu_ws_used, os_cu_ws_over, os_cu_ws_peak;
static void *os_cu_ws_extra[OS_CU_WS_EXTRA];
static int os_cu_ws_n_extra;

static void os_cu_scratch_reset(void)
{
    if (os_cu_ws_n_extra) {
        for (int i = 0; i < os_cu_ws_n_extra; i++)
            os_cu_ws_free(os_cu_ws_extra[i]);
        os_cu_ws_n_extra = 0;
        os_cu_ws_free(os_cu_ws_base);
        os_cu_ws_base = (char *)os_cu_ws_alloc(os_cu_ws_peak);
        os_cu_ws_cap = os_cu_ws_peak;
    }
    os_cu_ws_used = os_cu_ws_over = 0;
}

static void *os_cu_scratch(size_t bytes)
{
    bytes = (bytes + 255) & ~(size_t)255; /* 256-byte aligned pieces */
    if (!bytes)
        bytes = 256;
    void *p;
    if (os_cu_ws_base && os_cu_ws_used + bytes <= os_cu_ws_cap) {
        p = os_cu_ws_base + os_cu_ws_used;
        os_cu_ws_used += bytes;
    } else {
        if (os_cu_ws_n_extra == OS_CU_WS_EXTRA)
            os_fatal("cuda %s: more than %d workspace blocks in one kernel", os_cu_cur_op, OS_CU_WS_EXTRA);
        p = os_cu_ws_alloc(bytes);
        os_cu_ws_extra[os_cu_ws_n_extra++] = p;
        os_cu_ws_over += bytes;
    }
    if (os_cu_ws_used + os_cu_ws_over > os_cu_ws_peak)
        os_cu_ws_peak = os_cu_ws_used + os_cu_ws_over;
    return p;
}

static void os_cu_need_contig(const char *what, const os_tensor *t)
{
    if (t && !os_is_contiguous(t))
        os_fatal("cuda %s: %s %s must be contiguous", os_cu_cur_op, what, os_shape_str(t));
}

/* row-major C [M,N] = alpha op(A) op(B) + beta C, lda/ldb/ldc the stored
 * rows' lengths, as the column-major product C^T = op(B)^T op(A)^T */
static void os_cu_gemm_rm(int ta, int tb, int M, int N, int K, float alpha, const float *A, int lda, long sA,
                          const float *B, int ldb, long sB, float beta, float *C, int ldc, long sC, int batch)
{
    if (M <= 0 || N <= 0 || batch <= 0)
        return;
    os_cu_gemm(tb, ta, N, M, K, alpha, B, ldb, sB, A, lda, sA, beta, C, ldc, sC, batch);
}

/* sum over p*q (q NULL: p*p) of n contiguous floats into out[0] (= | +=), two passes */
static void os_cu_dot(const float *p, const float *q, long n, float *out, int acc)
{
    long nb = (n + OS_CU_CHUNK - 1) / OS_CU_CHUNK;
    os_ca_dot_part P = OS_CU_ZERO;
    P.p = p;
    P.q = q;
    P.n = n;
    P.part = (double *)os_cu_scratch(sizeof(double) * (size_t)(nb ? nb : 1));
    OS_CU_RUN(os_cb_dot_part, P, nb);
    os_ca_dot_final F = OS_CU_ZERO;
    F.part = P.part;
    F.nb = nb;
    F.out = out;
    F.acc = acc;
    OS_CU_RUN(os_cb_dot_final, F, 1);
}

/* ---- memory --------------------------------------------------------------------- */
static void os_cuk_fill(const os_kargs *a)
{
    os_ca_fill A = OS_CU_ZERO;
    A.t = os_cu_view(a->t[0]);
    A.v = *(const float *)a->params;
    OS_CU_RUN(os_cb_fill, A, os_numel(a->t[0]));
}

static void os_cuk_copy(const os_kargs *a)
{
    os_ca_copy A = OS_CU_ZERO;
    A.d = os_cu_view(a->t[0]);
    A.s = os_cu_view(a->t[1]);
    OS_CU_RUN(os_cb_copy, A, os_numel(a->t[0]));
}

static void os_cuk_axpy(const os_kargs *a)
{
    os_ca_axpy A = OS_CU_ZERO;
    A.d = os_cu_view(a->t[0]);
    A.s = os_cu_view(a->t[1]);
    A.al = *(const float *)a->params;
    OS_CU_RUN(os_cb_axpy, A, os_numel(a->t[0]));
}

static void os_cuk_scale(const os_kargs *a)
{
    os_cu_need_contig("t", a->t[0]);
    os_ca_scale A = OS_CU_ZERO;
    A.p = a->t[0]->data;
    A.al = *(const float *)a->params;
    OS_CU_RUN(os_cb_scale, A, os_numel(a->t[0]));
}

static void os_cuk_sumsq(const os_kargs *a)
{
    os_cu_need_contig("x", a->t[1]);
    os_cu_dot(a->t[1]->data, NULL, os_numel(a->t[1]), a->t[0]->data, 0);
}

/* t0[0] (any stride) += sum(x^2) */
static void os_cuk_sumsq_acc(const os_kargs *a)
{
    os_cu_need_contig("x", a->t[1]);
    os_cu_dot(a->t[1]->data, NULL, os_numel(a->t[1]), (float *)os_cu_elem_ptr(a->t[0], 0), 1);
}

/* t0 += a * max(t2[0], 1e-24)^e * t1: the coefficient by one thread, then the update */
static void os_cuk_axpy_pow(const os_kargs *a)
{
    const os_axpy_pow_params *p = (const os_axpy_pow_params *)a->params;
    os_ca_pow_coef C = OS_CU_ZERO;
    C.c = (float *)os_cu_scratch(sizeof(float));
    C.s = os_cu_elem_ptr(a->t[2], 0);
    C.a = p->a;
    C.e = p->e;
    OS_CU_RUN(os_cb_pow_coef, C, 1);
    os_ca_axpy_dev A = OS_CU_ZERO;
    A.d = a->t[0]->data;
    A.x = a->t[1]->data;
    A.c = C.c;
    OS_CU_RUN(os_cb_axpy_dev, A, os_numel(a->t[0]));
}

/* t0 *= max_norm / (sqrt(t1[0]) + 1e-6) when that is below 1 */
static void os_cuk_clip_scale(const os_kargs *a)
{
    os_cu_need_contig("t", a->t[0]);
    os_ca_clip A = OS_CU_ZERO;
    A.t = a->t[0]->data;
    A.s = os_cu_elem_ptr(a->t[1], 0);
    A.a = *(const float *)a->params;
    OS_CU_RUN(os_cb_clip_scale, A, os_numel(a->t[0]));
}

/* ---- elementwise ------------------------------------------------------------------ */
static void os_cuk_unary_fwd(const os_kargs *a)
{
    os_ca_unary A = OS_CU_ZERO;
    A.y = a->t[0]->data;
    A.x = a->t[1]->data;
    A.kind = (int)((const os_unary_params *)a->params)->kind;
    OS_CU_RUN(os_cb_unary_fwd, A, os_numel(a->t[0]));
}

static void os_cuk_unary_bwd(const os_kargs *a)
{
    os_ca_unary_bwd A = OS_CU_ZERO;
    A.dx = a->t[0]->data;
    A.dy = a->t[1]->data;
    A.y = a->t[3]->data;
    A.kind = (int)((const os_unary_params *)a->params)->kind;
    OS_CU_RUN(os_cb_unary_bwd, A, os_numel(a->t[0]));
}

static void os_cu_binary(const os_kargs *a, const os_tensor *p, const os_tensor *q, int op)
{
    os_ca_binary A = OS_CU_ZERO;
    A.o = a->t[0]->data;
    A.p = p->data;
    A.q = q->data;
    A.op = op;
    OS_CU_RUN(os_cb_binary, A, os_numel(a->t[0]));
}
static void os_cuk_add(const os_kargs *a) { os_cu_binary(a, a->t[1], a->t[2], 0); }
static void os_cuk_mul(const os_kargs *a) { os_cu_binary(a, a->t[1], a->t[2], 1); }
static void os_cuk_mul_bwd(const os_kargs *a) { os_cu_binary(a, a->t[2], a->t[3], 2); }

static void os_cuk_scale_by(const os_kargs *a)
{
    os_ca_scale_by A = OS_CU_ZERO;
    A.y = a->t[0]->data;
    A.x = a->t[1]->data;
    A.s = a->t[2]->data;
    OS_CU_RUN(os_cb_scale_by, A, os_numel(a->t[0]));
}

static void os_cuk_dot_acc(const os_kargs *a)
{
    os_cu_dot(a->t[1]->data, a->t[2]->data, os_numel(a->t[1]), a->t[0]->data, 1);
}

/* y (= | +=) sum_i w[w0+i] x_i: one launch per non-NULL input, in order (the
 * first overwrites unless acc); all NULL: y = 0 (or kept with acc) */
static void os_cuk_wsum(const os_kargs *a)
{
    const os_wsum_params *p = (const os_wsum_params *)a->params;
    os_ca_scale_by A = OS_CU_ZERO;
    A.y = a->t[0]->data;
    int first = !p->acc;
    for (int i = 0; i < p->n; i++) {
        if (!p->x[i])
            continue;
        A.x = p->x[i];
        A.s = os_cu_elem_ptr(a->t[1], p->w0 + i);
        A.acc = !first;
        OS_CU_RUN(os_cb_scale_by, A, os_numel(a->t[0]));
        first = 0;
    }
    if (first) {
        float zero = 0.0f;
        os_kargs f = *a;
        f.params = &zero;
        os_cuk_fill(&f);
    }
}

/* dx_i += w[w0+i] dy; dw[w0+i] += sum(dy * x_i) (two passes each) */
static void os_cuk_wsum_bwd(const os_kargs *a)
{
    const os_wsum_bwd_params *p = (const os_wsum_bwd_params *)a->params;
    long len = os_numel(a->t[0]);
    for (int i = 0; i < p->n; i++) {
        if (p->dx[i]) {
            os_ca_scale_by A = OS_CU_ZERO;
            A.y = p->dx[i];
            A.x = a->t[0]->data;
            A.s = os_cu_elem_ptr(a->t[1], p->w0 + i);
            A.acc = 1;
            OS_CU_RUN(os_cb_scale_by, A, len);
        }
        if (a->t[2] && p->x[i])
            os_cu_dot(a->t[0]->data, p->x[i], len, (float *)os_cu_elem_ptr(a->t[2], p->w0 + i), 1);
    }
}

/* ---- convolution --------------------------------------------------------------------- */
static os_cu_conv os_cu_geom(const os_tensor *x, const os_tensor *w, const os_tensor *y, const os_conv2d_params *p)
{
    os_cu_conv c;
    c.n = x->shape[0];
    c.ci = x->shape[1];
    c.h = x->shape[2];
    c.w = x->shape[3];
    c.co = w->shape[0];
    c.kh = w->shape[2];
    c.kw = w->shape[3];
    c.oh = y->shape[2];
    c.ow = y->shape[3];
    c.sh = p->stride_h;
    c.sw = p->stride_w;
    c.ph = p->pad_h;
    c.pw = p->pad_w;
    c.dh = p->dil_h;
    c.dw = p->dil_w;
    c.g = p->groups;
    return c;
}

static int os_cu_depthwise(const os_cu_conv *c) { return c->g == c->ci && c->ci == c->co; }

/* cols [N][ci*kh*kw][oh*ow] of x, in scratch */
static float *os_cu_im2col(const os_tensor *x, const os_cu_conv *c)
{
    long K = (long)c->ci * c->kh * c->kw, ohw = (long)c->oh * c->ow;
    os_ca_im2col A = OS_CU_ZERO;
    A.col = (float *)os_cu_scratch(sizeof(float) * (size_t)(c->n * K * ohw));
    A.x = os_cu_view(x);
    A.c = *c;
    OS_CU_RUN(os_cb_im2col, A, c->n * K * ohw);
    return A.col;
}

/* y [N,Co,OH,OW] = conv(x, w) + bias: depthwise direct; else bias (or 0) fill,
 * im2col, one strided-batched GEMM per group over the N images */
static void os_cuk_conv2d_fwd(const os_kargs *a)
{
    os_tensor *y = a->t[0], *x = a->t[1], *w = a->t[2], *b = a->t[3];
    os_cu_need_contig("y", y);
    os_cu_need_contig("w", w);
    os_cu_need_contig("bias", b);
    os_cu_conv c = os_cu_geom(x, w, y, (const os_conv2d_params *)a->params);
    long ohw = (long)c.oh * c.ow;
    if (os_cu_depthwise(&c)) {
        os_ca_dw_fwd A = OS_CU_ZERO;
        A.y = y->data;
        A.x = os_cu_view(x);
        A.w = w->data;
        A.b = b ? b->data : NULL;
        A.c = c;
        OS_CU_RUN(os_cb_dw_fwd, A, os_numel(y));
        return;
    }
    os_ca_bias_fill B = OS_CU_ZERO;
    B.y = y->data;
    B.b = b ? b->data : NULL;
    B.ohw = ohw;
    B.co = c.co;
    OS_CU_RUN(os_cb_bias_fill, B, os_numel(y));
    float *col = os_cu_im2col(x, &c);
    int cig = c.ci / c.g, cog = c.co / c.g, kg = cig * c.kh * c.kw;
    long K = (long)c.ci * c.kh * c.kw;
    for (int g = 0; g < c.g; g++)
        os_cu_gemm_rm(0, 0, cog, (int)ohw, kg, 1.0f, w->data + (long)g * cog * kg, kg, 0,
                      col + (long)g * kg * ohw, (int)ohw, K * ohw, 1.0f, y->data + (long)g * cog * ohw,
                      (int)ohw, (long)c.co * ohw, c.n);
}

/* dx += conv^T(dy, w): depthwise direct; else GEMM into columns, then col2im
 * gathered per dx element */
static void os_cuk_conv2d_bwd_data(const os_kargs *a)
{
    os_tensor *dx = a->t[0], *dy = a->t[1], *w = a->t[2];
    os_cu_need_contig("dy", dy);
    os_cu_need_contig("w", w);
    os_cu_conv c = os_cu_geom(dx, w, dy, (const os_conv2d_params *)a->params);
    if (os_cu_depthwise(&c)) {
        os_ca_dw_bwd_data A = OS_CU_ZERO;
        A.dx = os_cu_view(dx);
        A.dy = dy->data;
        A.w = w->data;
        A.c = c;
        OS_CU_RUN(os_cb_dw_bwd_data, A, os_numel(dx));
        return;
    }
    int cig = c.ci / c.g, cog = c.co / c.g, kg = cig * c.kh * c.kw;
    long K = (long)c.ci * c.kh * c.kw, ohw = (long)c.oh * c.ow;
    float *col = (float *)os_cu_scratch(sizeof(float) * (size_t)(c.n * K * ohw));
    for (int g = 0; g < c.g; g++)
        os_cu_gemm_rm(1, 0, kg, (int)ohw, cog, 1.0f, w->data + (long)g * cog * kg, kg, 0,
                      dy->data + (long)g * cog * ohw, (int)ohw, (long)c.co * ohw, 0.0f,
                      col + (long)g * kg * ohw, (int)ohw, K * ohw, c.n);
    os_ca_col2im A = OS_CU_ZERO;
    A.dx = os_cu_view(dx);
    A.col = col;
    A.c = c;
    OS_CU_RUN(os_cb_col2im, A, os_numel(dx));
}

/* dw += sum_n dy_n (x) x_n (images in order, one GEMM each and group);
 * dbias += per-channel sums */
static void os_cuk_conv2d_bwd_weight(const os_kargs *a)
{
    os_tensor *dw = a->t[0], *dy = a->t[1], *x = a->t[2], *db = a->t[3];
    os_cu_need_contig("dw", dw);
    os_cu_need_contig("dy", dy);
    os_cu_need_contig("dbias", db);
    os_cu_conv c = os_cu_geom(x, dw, dy, (const os_conv2d_params *)a->params);
    long ohw = (long)c.oh * c.ow;
    if (db) {
        os_ca_bias_grad B = OS_CU_ZERO;
        B.db = db->data;
        B.dy = dy->data;
        B.ohw = ohw;
        B.n = c.n;
        B.co = c.co;
        OS_CU_RUN(os_cb_bias_grad, B, c.co);
    }
    if (os_cu_depthwise(&c)) {
        os_ca_dw_bwd_w A = OS_CU_ZERO;
        A.dw = dw->data;
        A.dy = dy->data;
        A.x = os_cu_view(x);
        A.c = c;
        OS_CU_RUN(os_cb_dw_bwd_w, A, os_numel(dw));
        return;
    }
    float *col = os_cu_im2col(x, &c);
    int cig = c.ci / c.g, cog = c.co / c.g, kg = cig * c.kh * c.kw;
    long K = (long)c.ci * c.kh * c.kw;
    for (int n = 0; n < c.n; n++)
        for (int g = 0; g < c.g; g++)
            os_cu_gemm_rm(0, 1, cog, kg, (int)ohw, 1.0f, dy->data + ((long)n * c.co + (long)g * cog) * ohw,
                          (int)ohw, 0, col + (n * K + (long)g * kg) * ohw, (int)ohw, 0, 1.0f,
                          dw->data + (long)g * cog * kg, kg, 0, 1);
}

/* ---- pooling ------------------------------------------------------------------------ */
static os_cu_pool os_cu_pgeom(const os_tensor *x, const os_tensor *y, const os_pool_params *p)
{
    os_cu_pool g;
    g.H = x->shape[2];
    g.W = x->shape[3];
    g.OH = y->shape[2];
    g.OW = y->shape[3];
    g.kh = p->kh;
    g.kw = p->kw;
    g.s = p->stride;
    g.p = p->pad;
    g.incl = p->count_include_pad;
    return g;
}

static void os_cu_pool_fwd(const os_kargs *a, int is_max)
{
    os_ca_pool_fwd A = OS_CU_ZERO;
    A.y = os_cu_view(a->t[0]);
    A.x = os_cu_view(a->t[1]);
    A.g = os_cu_pgeom(a->t[1], a->t[0], (const os_pool_params *)a->params);
    A.is_max = is_max;
    OS_CU_RUN(os_cb_pool_fwd, A, os_numel(a->t[0]));
}
static void os_cuk_maxpool_fwd(const os_kargs *a) { os_cu_pool_fwd(a, 1); }
static void os_cuk_avgpool_fwd(const os_kargs *a) { os_cu_pool_fwd(a, 0); }

static void os_cu_pool_bwd(const os_kargs *a, int is_max)
{
    os_ca_pool_bwd A = OS_CU_ZERO;
    A.dx = os_cu_view(a->t[0]);
    A.dy = os_cu_view(a->t[1]);
    A.x = os_cu_view(is_max ? a->t[2] : NULL);
    A.g = os_cu_pgeom(a->t[0], a->t[1], (const os_pool_params *)a->params);
    A.is_max = is_max;
    OS_CU_RUN(os_cb_pool_bwd, A, os_numel(a->t[0]));
}
static void os_cuk_maxpool_bwd(const os_kargs *a) { os_cu_pool_bwd(a, 1); }
static void os_cuk_avgpool_bwd(const os_kargs *a) { os_cu_pool_bwd(a, 0); }

static void os_cuk_gap_fwd(const os_kargs *a)
{
    os_ca_gap A = OS_CU_ZERO;
    A.y = os_cu_view(a->t[0]);
    A.x = os_cu_view(a->t[1]);
    OS_CU_RUN(os_cb_gap_fwd, A, (long)a->t[1]->shape[0] * a->t[1]->shape[1]);
}
static void os_cuk_gap_bwd(const os_kargs *a)
{
    os_ca_gap A = OS_CU_ZERO;
    A.x = os_cu_view(a->t[0]);
    A.y = os_cu_view(a->t[1]);
    OS_CU_RUN(os_cb_gap_bwd, A, os_numel(a->t[0]));
}

/* ---- batch norm ------------------------------------------------------------------------ */
/* per-channel pass (statistics or running stats -> scale, shift), then y */
static void os_cu_bn_fwd(const os_kargs *a, int train)
{
    const os_bn_params *p = (const os_bn_params *)a->params;
    os_tensor *x = a->t[1];
    int C = x->shape[1];
    os_ca_bn_stats S = OS_CU_ZERO;
    S.x = os_cu_view(x);
    S.gamma = os_cu_view(a->t[2]);
    S.beta = os_cu_view(a->t[3]);
    if (train) {
        S.mean = os_cu_view(a->t[4]);
        S.invstd = os_cu_view(a->t[5]);
        S.rmean = os_cu_view(a->t[6]);
        S.rvar = os_cu_view(a->t[7]);
    } else {
        S.rmean = os_cu_view(a->t[4]);
        S.rvar = os_cu_view(a->t[5]);
    }
    S.ss = (float *)os_cu_scratch(sizeof(float) * 2 * (size_t)C);
    S.eps = p->eps;
    S.momentum = p->momentum;
    S.train = train;
    OS_CU_RUN(os_cb_bn_stats, S, C);
    os_ca_bn_apply A = OS_CU_ZERO;
    A.y = os_cu_view(a->t[0]);
    A.x = S.x;
    A.ss = S.ss;
    OS_CU_RUN(os_cb_bn_apply, A, os_numel(x));
}
static void os_cuk_bn_fwd_train(const os_kargs *a) { os_cu_bn_fwd(a, 1); }
static void os_cuk_bn_fwd_eval(const os_kargs *a) { os_cu_bn_fwd(a, 0); }

static void os_cu_bn_bwd(const os_kargs *a, int train, float eps)
{
    os_tensor *dx = a->t[0], *x = a->t[2];
    int C = x->shape[1];
    os_ca_bn_bstats S = OS_CU_ZERO;
    S.dy = os_cu_view(a->t[1]);
    S.x = os_cu_view(x);
    S.gamma = os_cu_view(a->t[3]);
    S.mean = os_cu_view(a->t[4]);
    S.stat = os_cu_view(a->t[5]);
    S.dgamma = os_cu_view(a->t[6]);
    S.dbeta = os_cu_view(a->t[7]);
    S.co = (float *)os_cu_scratch(sizeof(float) * 4 * (size_t)C);
    S.eps = eps;
    S.train = train;
    S.need_sums = a->t[6] || a->t[7] || (dx && train);
    OS_CU_RUN(os_cb_bn_bstats, S, C);
    if (!dx)
        return;
    os_ca_bn_dx D = OS_CU_ZERO;
    D.dx = os_cu_view(dx);
    D.dy = S.dy;
    D.x = S.x;
    D.co = S.co;
    OS_CU_RUN(os_cb_bn_dx, D, os_numel(x));
}
static void os_cuk_bn_bwd_train(const os_kargs *a) { os_cu_bn_bwd(a, 1, 0.0f); }
static void os_cuk_bn_bwd_eval(const os_kargs *a)
{
    os_cu_bn_bwd(a, 0, ((const os_bn_params *)a->params)->eps);
}

/* ---- dense ------------------------------------------------------------------------------- */
/* C [M,N] = alpha op(A) op(B) + beta C, row-major contiguous; beta 0 first
 * zeroes C (it may hold the arena's garbage, NaN included) */
static void os_cuk_gemm(const os_kargs *a)
{
    const os_gemm_params *p = (const os_gemm_params *)a->params;
    os_tensor *C = a->t[0], *A = a->t[1], *B = a->t[2];
    int M = C->shape[0], N = C->shape[1];
    int K = p->trans_a ? A->shape[0] : A->shape[1];
    if (M == 0 || N == 0)
        return;
    float beta = p->beta;
    if (beta == 0.0f) {
        float zero = 0.0f;
        os_kargs f = *a;
        f.params = &zero;
        os_cuk_fill(&f);
        beta = 1.0f;
    }
    if (K == 0) {
        if (beta != 1.0f) {
            os_ca_scale S = OS_CU_ZERO;
            S.p = C->data;
            S.al = beta;
            OS_CU_RUN(os_cb_scale, S, (long)M * N);
        }
        return;
    }
    os_cu_gemm_rm(p->trans_a, p->trans_b, M, N, K, p->alpha, A->data, A->shape[1], 0, B->data, B->shape[1], 0,
                  beta, C->data, N, 0, 1);
}

static void os_cuk_bias_rows(const os_kargs *a)
{
    os_ca_bias_rows A = OS_CU_ZERO;
    A.y = a->t[0]->data;
    A.b = a->t[1]->data;
    A.N = a->t[0]->shape[1];
    OS_CU_RUN(os_cb_bias_rows, A, os_numel(a->t[0]));
}

static void os_cuk_sum_rows(const os_kargs *a)
{
    os_ca_sum_rows A = OS_CU_ZERO;
    A.s = a->t[0]->data;
    A.x = a->t[1]->data;
    A.M = a->t[1]->shape[0];
    A.N = a->t[1]->shape[1];
    OS_CU_RUN(os_cb_sum_rows, A, A.N);
}

/* ---- softmax family ---------------------------------------------------------------------- */
static void os_cuk_softmax_fwd(const os_kargs *a)
{
    const os_softmax_params *p = (const os_softmax_params *)a->params;
    os_ca_softmax A = OS_CU_ZERO;
    A.y = a->t[0]->data;
    A.x = a->t[1]->data;
    A.D = p->dim;
    A.in = p->inner;
    A.log = p->log;
    OS_CU_RUN(os_cb_softmax_fwd, A, (long)p->outer * p->inner);
}

static void os_cuk_softmax_bwd(const os_kargs *a)
{
    const os_softmax_params *p = (const os_softmax_params *)a->params;
    os_ca_softmax_bwd A = OS_CU_ZERO;
    A.dx = a->t[0]->data;
    A.dy = a->t[1]->data;
    A.y = a->t[2]->data;
    A.D = p->dim;
    A.in = p->inner;
    A.log = p->log;
    OS_CU_RUN(os_cb_softmax_bwd, A, (long)p->outer * p->inner);
}

static void os_cuk_xent_fwd(const os_kargs *a)
{
    const os_xent_params *p = (const os_xent_params *)a->params;
    os_ca_xent R = OS_CU_ZERO;
    R.x = a->t[1]->data;
    R.pr = a->t[2]->data;
    R.labels = p->labels;
    R.row = (double *)os_cu_scratch(sizeof(double) * (size_t)(p->n > 0 ? p->n : 1));
    R.K = p->k;
    R.s = p->smoothing;
    OS_CU_RUN(os_cb_xent_row, R, p->n);
    os_ca_xent_sum S = OS_CU_ZERO;
    S.row = R.row;
    S.N = p->n;
    S.loss = a->t[0]->data;
    OS_CU_RUN(os_cb_xent_sum, S, 1);
}

static void os_cuk_xent_bwd(const os_kargs *a)
{
    const os_xent_params *p = (const os_xent_params *)a->params;
    os_ca_xent_bwd A = OS_CU_ZERO;
    A.dx = a->t[0]->data;
    A.dloss = a->t[1]->data;
    A.pr = a->t[2]->data;
    A.labels = p->labels;
    A.N = p->n;
    A.K = p->k;
    A.s = p->smoothing;
    OS_CU_RUN(os_cb_xent_bwd, A, (long)p->n * p->k);
}

/* count[0] += rows whose argmax is the label: a flag per row, then their sum in order */
static void os_cuk_acc_count(const os_kargs *a)
{
    const os_xent_params *p = (const os_xent_params *)a->params;
    os_cu_need_contig("logits", a->t[1]);
    os_ca_acc_hit A = OS_CU_ZERO;
    A.hit = (float *)os_cu_scratch(sizeof(float) * (size_t)(p->n > 0 ? p->n : 1));
    A.x = a->t[1]->data;
    A.labels = p->labels;
    A.K = p->k;
    OS_CU_RUN(os_cb_acc_hit, A, p->n);
    os_ca_acc_sum S = OS_CU_ZERO;
    S.hit = A.hit;
    S.N = p->n;
    S.out = (float *)os_cu_elem_ptr(a->t[0], 0);
    OS_CU_RUN(os_cb_acc_sum, S, 1);
}

/* K: the last dim of t (the only one when 1-D) */
static int os_cu_last_dim(const os_tensor *t) { return t->ndim == 1 ? t->shape[0] : t->shape[t->ndim - 1]; }

static void os_cuk_argmax(const os_kargs *a)
{
    os_cu_need_contig("x", a->t[1]);
    os_ca_argmax A = OS_CU_ZERO;
    A.idx = os_cu_view(a->t[0]);
    A.x = a->t[1]->data;
    A.K = os_cu_last_dim(a->t[1]);
    OS_CU_RUN(os_cb_argmax, A, A.K ? os_numel(a->t[1]) / A.K : 0);
}

static void os_cuk_onehot(const os_kargs *a)
{
    os_cu_need_contig("y", a->t[0]);
    os_ca_onehot A = OS_CU_ZERO;
    A.y = a->t[0]->data;
    A.idx = os_cu_view(a->t[1]);
    A.K = os_cu_last_dim(a->t[0]);
    OS_CU_RUN(os_cb_onehot, A, A.K ? os_numel(a->t[0]) : 0);
}

/* ---- recurrent controller ------------------------------------------------------------------ */
static void os_cuk_embed_fwd(const os_kargs *a)
{
    const os_embed_params *p = (const os_embed_params *)a->params;
    os_ca_embed A = OS_CU_ZERO;
    A.y = a->t[0]->data;
    A.table = a->t[1]->data;
    A.idx = p->idx;
    A.D = a->t[1]->shape[1];
    OS_CU_RUN(os_cb_embed_fwd, A, (long)p->n * A.D);
}

static void os_cuk_embed_bwd(const os_kargs *a)
{
    const os_embed_params *p = (const os_embed_params *)a->params;
    os_ca_embed_bwd A = OS_CU_ZERO;
    A.dt = a->t[0]->data;
    A.dy = a->t[1]->data;
    A.idx = p->idx;
    A.D = a->t[0]->shape[1];
    A.n = p->n;
    OS_CU_RUN(os_cb_embed_bwd, A, os_numel(a->t[0]));
}

static void os_cuk_lstm_fwd(const os_kargs *a)
{
    os_ca_lstm A = OS_CU_ZERO;
    A.out = a->t[0]->data;
    A.g = a->t[1]->data;
    A.c = a->t[2]->data;
    A.N = a->t[2]->shape[0];
    A.H = a->t[2]->shape[1];
    OS_CU_RUN(os_cb_lstm_fwd, A, A.N * A.H);
}

static void os_cuk_lstm_bwd(const os_kargs *a)
{
    os_ca_lstm_bwd A = OS_CU_ZERO;
    A.dg = a->t[0]->data;
    A.dout = a->t[1]->data;
    A.g = a->t[2]->data;
    A.c = a->t[3]->data;
    A.out = a->t[4]->data;
    A.dc = a->t[5] ? a->t[5]->data : NULL;
    A.N = a->t[3]->shape[0];
    A.H = a->t[3]->shape[1];
    OS_CU_RUN(os_cb_lstm_bwd, A, A.N * A.H);
}

/* ---- dropout ------------------------------------------------------------------------------ */
static void os_cu_dropout(const os_kargs *a, int acc)
{
    const os_dropout_params *p = (const os_dropout_params *)a->params;
    os_ca_dropout A = OS_CU_ZERO;
    A.o = a->t[0]->data;
    A.x = a->t[1]->data;
    A.seed = p->seed;
    A.p = p->p;
    A.scale = 1.0f / (1.0f - p->p);
    A.acc = acc;
    OS_CU_RUN(os_cb_dropout, A, os_numel(a->t[0]));
}
static void os_cuk_dropout_fwd(const os_kargs *a) { os_cu_dropout(a, 0); }
static void os_cuk_dropout_bwd(const os_kargs *a) { os_cu_dropout(a, 1); }

static void os_cuk_droppath_mask(const os_kargs *a)
{
    const os_dropout_params *p = (const os_dropout_params *)a->params;
    os_cu_need_contig("mask", a->t[0]);
    int N = a->t[0]->shape[0];
    os_ca_droppath A = OS_CU_ZERO;
    A.m = a->t[0]->data;
    A.per = N ? os_numel(a->t[0]) / N : 1;
    A.seed = p->seed;
    A.p = p->p;
    A.scale = 1.0f / (1.0f - p->p);
    OS_CU_RUN(os_cb_droppath, A, N ? os_numel(a->t[0]) : 0);
}

/* ---- optimizers ------------------------------------------------------------------------------ */
static void os_cuk_sgd_step(const os_kargs *a)
{
    const os_sgd_step_params *sp = (const os_sgd_step_params *)a->params;
    os_ca_sgd A = OS_CU_ZERO;
    A.p = a->t[0]->data;
    A.gr = a->t[1]->data;
    A.buf = a->t[2] ? a->t[2]->data : NULL;
    A.lr = sp->lr;
    A.wd = sp->weight_decay;
    A.mom = sp->momentum;
    A.damp1 = 1.0f - sp->dampening;
    A.first = sp->first_step;
    A.nesterov = sp->nesterov;
    OS_CU_RUN(os_cb_sgd, A, os_numel(a->t[0]));
}

static void os_cuk_adam_step(const os_kargs *a)
{
    const os_adam_step_params *ap = (const os_adam_step_params *)a->params;
    os_ca_adam A = OS_CU_ZERO;
    A.p = a->t[0]->data;
    A.gr = a->t[1]->data;
    A.m = a->t[2]->data;
    A.v = a->t[3]->data;
    A.b1 = ap->beta1;
    A.b2 = ap->beta2;
    A.wd = ap->weight_decay;
    A.eps = ap->eps;
    A.step = ap->lr / ap->bias_corr1;
    A.bc2s = sqrtf(ap->bias_corr2);
    OS_CU_RUN(os_cb_adam, A, os_numel(a->t[0]));
}

#endif
