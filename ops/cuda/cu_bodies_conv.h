/* ops/cuda/cu_bodies_conv.h — bodies of the convolution kernels: im2col, col2im, bias, depthwise (included by cu_bodies.h; see there). */
#ifndef OS_CU_BODIES_CONV_H
#define OS_CU_BODIES_CONV_H

#include "ops/cuda/cu_common.h"

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

#endif
