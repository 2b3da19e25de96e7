/* ops/cpu/conv2d_cpu.c — CPU convolution kernels: forward, backward data,
 * backward weight (ids CONV2D_* in ops/kernels.def).
 *
 * Paths, chosen per call from the geometry:
 *  - depthwise (groups == Ci == Co): direct kernels in conv2d_dw_cpu.c;
 *  - 1x1, stride 1, no padding, each input channel one contiguous row of H*W
 *    (contiguous tensors and channel slices): a plain GEMM per image and group,
 *    Y_n[Co,HW] = W[Co,Ci] X_n[Ci,HW], reading X_n in place;
 *  - everything else: im2col of one image into a per-thread scratch buffer
 *    (step arena), then one GEMM per group; backward data is GEMM + col2im.
 * Images are spread over OpenMP threads (static schedule); each thread calls
 * single-threaded OpenBLAS on its own images. Backward weight sums per-thread
 * partial dW buffers in thread order, so results are deterministic for a
 * given thread count.
 */
#include "ops/cpu/conv2d_cpu.h"
#include "tensor/arena.h"

#include <cblas.h>
#include <omp.h>
#include <string.h>

static os_conv_geom geometry(const os_tensor *x, const os_tensor *w, const os_tensor *y,
                             const os_conv2d_params *p)
{
    return (os_conv_geom){
        .n = x->shape[0], .ci = x->shape[1], .h = x->shape[2], .w = x->shape[3],
        .co = w->shape[0], .kh = w->shape[2], .kw = w->shape[3],
        .oh = y->shape[2], .ow = y->shape[3],
        .sh = p->stride_h, .sw = p->stride_w, .ph = p->pad_h, .pw = p->pad_w,
        .dh = p->dil_h, .dw = p->dil_w, .g = p->groups,
    };
}

static void need_contiguous(const char *kernel, const char *what, const os_tensor *t)
{
    if (t && !os_is_contiguous(t))
        os_fatal("conv2d %s: %s %s must be contiguous", kernel, what, os_shape_str(t));
}

/* 1x1, stride 1, no padding, and channel rows of x contiguous (x[n,c,:,:] is
 * H*W consecutive floats): x can be read (or dx written) as a [C, HW] matrix
 * with leading dimension *ld. */
static int direct_1x1(const os_conv_geom *c, const os_tensor *x, int *ld)
{
    if (c->kh != 1 || c->kw != 1 || c->sh != 1 || c->sw != 1 || c->ph != 0 || c->pw != 0)
        return 0;
    long hw = (long)c->h * c->w;
    if (x->stride[3] != 1 && c->w > 1)
        return 0;
    if (x->stride[2] != c->w && c->h > 1)
        return 0;
    long s1 = c->ci > 1 ? x->stride[1] : hw;
    if (s1 < hw || s1 > 0x7fffffffL)
        return 0;
    *ld = (int)s1;
    return 1;
}

/* Output columns ox whose input column ox*s + off lies in [0, in): [*lo, *hi). */
static void valid_range(int off, int s, int in, int out, int *lo, int *hi)
{
    int l = off >= 0 ? 0 : (-off + s - 1) / s;
    int h = in - 1 - off < 0 ? 0 : (in - 1 - off) / s + 1;
    if (l > out)
        l = out;
    if (h > out)
        h = out;
    if (h < l)
        h = l;
    *lo = l;
    *hi = h;
}

/* col [ci*kh*kw, oh*ow] = the receptive fields of one image x [ci,h,w] (strides
 * xs[1..3]); zero where a window leaves the image. */
static void im2col(const os_conv_geom *c, const float *x, const long *xs, float *col)
{
    int ow = c->ow;
    long ohw = (long)c->oh * ow;
    for (int ch = 0; ch < c->ci; ch++)
        for (int ky = 0; ky < c->kh; ky++)
            for (int kx = 0; kx < c->kw; kx++) {
                float *row = col + ((long)(ch * c->kh + ky) * c->kw + kx) * ohw;
                int off = kx * c->dw - c->pw, lo, hi;
                valid_range(off, c->sw, c->w, ow, &lo, &hi);
                for (int oy = 0; oy < c->oh; oy++) {
                    float *r = row + (long)oy * ow;
                    int iy = oy * c->sh - c->ph + ky * c->dh;
                    if (iy < 0 || iy >= c->h) {
                        memset(r, 0, sizeof(float) * (size_t)ow);
                        continue;
                    }
                    const float *xr = x + ch * xs[1] + iy * xs[2];
                    for (int ox = 0; ox < lo; ox++)
                        r[ox] = 0.0f;
                    if (c->sw == 1 && xs[3] == 1)
                        memcpy(r + lo, xr + lo + off, sizeof(float) * (size_t)(hi - lo));
                    else
                        for (int ox = lo; ox < hi; ox++)
                            r[ox] = xr[(long)(ox * c->sw + off) * xs[3]];
                    for (int ox = hi; ox < ow; ox++)
                        r[ox] = 0.0f;
                }
            }
}

/* dx [ci,h,w] (strides xs[1..3]) += the columns col [ci*kh*kw, oh*ow] folded
 * back onto the image (the adjoint of im2col). */
static void col2im(const os_conv_geom *c, const float *col, float *dx, const long *xs)
{
    int ow = c->ow;
    long ohw = (long)c->oh * ow;
    for (int ch = 0; ch < c->ci; ch++)
        for (int ky = 0; ky < c->kh; ky++)
            for (int kx = 0; kx < c->kw; kx++) {
                const float *row = col + ((long)(ch * c->kh + ky) * c->kw + kx) * ohw;
                int off = kx * c->dw - c->pw, lo, hi;
                valid_range(off, c->sw, c->w, ow, &lo, &hi);
                for (int oy = 0; oy < c->oh; oy++) {
                    int iy = oy * c->sh - c->ph + ky * c->dh;
                    if (iy < 0 || iy >= c->h)
                        continue;
                    const float *r = row + (long)oy * ow;
                    float *xr = dx + ch * xs[1] + iy * xs[2];
                    if (c->sw == 1 && xs[3] == 1) {
                        float *restrict d = xr + off;
                        for (int ox = lo; ox < hi; ox++)
                            d[ox] += r[ox];
                    } else {
                        for (int ox = lo; ox < hi; ox++)
                            xr[(long)(ox * c->sw + off) * xs[3]] += r[ox];
                    }
                }
            }
}

/* y [N,Co,OH,OW] = conv(x [N,Ci,H,W] any strides, w [Co,Ci/g,KH,KW]) + bias [Co] | NULL */
void os_cpu_conv2d_fwd(const os_kargs *a)
{
    os_tensor *y = a->t[0], *x = a->t[1], *w = a->t[2], *b = a->t[3];
    need_contiguous("forward", "y", y);
    need_contiguous("forward", "w", w);
    need_contiguous("forward", "bias", b);
    os_conv_geom c = geometry(x, w, y, a->params);
    if (os_conv_is_depthwise(&c)) {
        os_cpu_conv2d_dw_fwd(&c, y, x, w->data, b ? b->data : NULL);
        return;
    }
    int T = os_threads(), ld = 0;
    int direct = direct_1x1(&c, x, &ld);
    int cig = c.ci / c.g, cog = c.co / c.g, kg = cig * c.kh * c.kw;
    long ohw = (long)c.oh * c.ow;
    size_t colsz = direct ? 0 : (size_t)c.ci * c.kh * c.kw * (size_t)ohw;
    float *scratch = colsz ? os_scratch_alloc(OS_CPU, sizeof(float) * colsz * (size_t)T) : NULL;
    const float *wd = w->data;

#pragma omp parallel for num_threads(T) schedule(static)
    for (int n = 0; n < c.n; n++) {
        const float *xn = x->data + n * x->stride[0];
        float *yn = y->data + (long)n * c.co * ohw;
        float beta = 0.0f;
        if (b) {
            for (int o = 0; o < c.co; o++)
                for (long i = 0; i < ohw; i++)
                    yn[o * ohw + i] = b->data[o];
            beta = 1.0f;
        }
        const float *src = xn;
        int ldb = ld;
        long gstep = (long)cig * ld;
        if (!direct) {
            float *col = scratch + colsz * (size_t)omp_get_thread_num();
            im2col(&c, xn, x->stride, col);
            src = col;
            ldb = (int)ohw;
            gstep = (long)kg * ohw;
        }
        for (int g = 0; g < c.g; g++)
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, cog, (int)ohw, kg, 1.0f,
                        wd + (long)g * cog * kg, kg, src + g * gstep, ldb, beta,
                        yn + (long)g * cog * ohw, (int)ohw);
    }
}

/* dx [N,Ci,H,W] (any strides) += conv_transpose(dy [N,Co,OH,OW], w [Co,Ci/g,KH,KW]) */
void os_cpu_conv2d_bwd_data(const os_kargs *a)
{
    os_tensor *dx = a->t[0], *dy = a->t[1], *w = a->t[2];
    need_contiguous("backward data", "dy", dy);
    need_contiguous("backward data", "w", w);
    os_conv_geom c = geometry(dx, w, dy, a->params);
    if (os_conv_is_depthwise(&c)) {
        os_cpu_conv2d_dw_bwd_data(&c, dx, dy->data, w->data);
        return;
    }
    int T = os_threads(), ld = 0;
    int direct = direct_1x1(&c, dx, &ld);
    int cig = c.ci / c.g, cog = c.co / c.g, kg = cig * c.kh * c.kw;
    long ohw = (long)c.oh * c.ow;
    size_t colsz = direct ? 0 : (size_t)c.ci * c.kh * c.kw * (size_t)ohw;
    float *scratch = colsz ? os_scratch_alloc(OS_CPU, sizeof(float) * colsz * (size_t)T) : NULL;
    const float *wd = w->data;

#pragma omp parallel for num_threads(T) schedule(static)
    for (int n = 0; n < c.n; n++) {
        float *dxn = dx->data + n * dx->stride[0];
        const float *dyn = dy->data + (long)n * c.co * ohw;
        if (direct) {
            for (int g = 0; g < c.g; g++)
                cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, cig, (int)ohw, cog, 1.0f,
                            wd + (long)g * cog * kg, kg, dyn + (long)g * cog * ohw, (int)ohw, 1.0f,
                            dxn + (long)g * cig * ld, ld);
            continue;
        }
        float *col = scratch + colsz * (size_t)omp_get_thread_num();
        for (int g = 0; g < c.g; g++)
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, kg, (int)ohw, cog, 1.0f,
                        wd + (long)g * cog * kg, kg, dyn + (long)g * cog * ohw, (int)ohw, 0.0f,
                        col + (long)g * kg * ohw, (int)ohw);
        col2im(&c, col, dxn, dx->stride);
    }
}

/* db [Co] += sum over n, oh, ow of dy [N,Co,OH,OW]; one channel per iteration,
 * images in order (deterministic). */
static void bias_grad(const os_conv_geom *c, float *db, const float *dy, int T)
{
    long ohw = (long)c->oh * c->ow;
#pragma omp parallel for num_threads(T) schedule(static)
    for (int o = 0; o < c->co; o++) {
        float acc[8] = {0};
        float tail = 0.0f;
        for (int n = 0; n < c->n; n++) {
            const float *r = dy + ((long)n * c->co + o) * ohw;
            long i = 0;
            for (; i + 8 <= ohw; i += 8)
                for (int j = 0; j < 8; j++)
                    acc[j] += r[i + j];
            for (; i < ohw; i++)
                tail += r[i];
        }
        float s = tail;
        for (int j = 0; j < 8; j++)
            s += acc[j];
        db[o] += s;
    }
}

/* dw [Co,Ci/g,KH,KW] += sum_n dy_n (x) x_n;  db [Co] | NULL += sum dy.
 * dy [N,Co,OH,OW] contiguous, x [N,Ci,H,W] any strides. */
void os_cpu_conv2d_bwd_weight(const os_kargs *a)
{
    os_tensor *dw = a->t[0], *dy = a->t[1], *x = a->t[2], *db = a->t[3];
    need_contiguous("backward weight", "dw", dw);
    need_contiguous("backward weight", "dy", dy);
    need_contiguous("backward weight", "dbias", db);
    os_conv_geom c = geometry(x, dw, dy, a->params);
    int T = os_threads();
    if (db)
        bias_grad(&c, db->data, dy->data, T);
    if (os_conv_is_depthwise(&c)) {
        os_cpu_conv2d_dw_bwd_weight(&c, dw->data, dy->data, x);
        return;
    }
    int ld = 0;
    int direct = direct_1x1(&c, x, &ld);
    int cig = c.ci / c.g, cog = c.co / c.g, kg = cig * c.kh * c.kw;
    long ohw = (long)c.oh * c.ow;
    size_t colsz = direct ? 0 : (size_t)c.ci * c.kh * c.kw * (size_t)ohw;
    size_t wsz = (size_t)c.co * kg;
    /* per thread: a zeroed partial dW and (if needed) an im2col buffer */
    float *parts = os_scratch_alloc(OS_CPU, sizeof(float) * wsz * (size_t)T);
    float *cols = colsz ? os_scratch_alloc(OS_CPU, sizeof(float) * colsz * (size_t)T) : NULL;
    memset(parts, 0, sizeof(float) * wsz * (size_t)T);

#pragma omp parallel num_threads(T)
    {
        float *part = parts + wsz * (size_t)omp_get_thread_num();
        float *col = cols ? cols + colsz * (size_t)omp_get_thread_num() : NULL;
#pragma omp for schedule(static)
        for (int n = 0; n < c.n; n++) {
            const float *xn = x->data + n * x->stride[0];
            const float *dyn = dy->data + (long)n * c.co * ohw;
            const float *src = xn;
            int ldb = ld;
            long gstep = (long)cig * ld;
            if (!direct) {
                im2col(&c, xn, x->stride, col);
                src = col;
                ldb = (int)ohw;
                gstep = (long)kg * ohw;
            }
            for (int g = 0; g < c.g; g++)
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, cog, kg, (int)ohw, 1.0f,
                            dyn + (long)g * cog * ohw, (int)ohw, src + g * gstep, ldb, 1.0f,
                            part + (long)g * cog * kg, kg);
        }
        /* implicit barrier: every partial is complete; reduce in thread order */
#pragma omp for schedule(static)
        for (long e = 0; e < (long)wsz; e++) {
            float s = dw->data[e];
            for (int t = 0; t < T; t++)
                s += parts[wsz * (size_t)t + (size_t)e];
            dw->data[e] = s;
        }
    }
}
