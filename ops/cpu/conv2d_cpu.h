/* ops/cpu/conv2d_cpu.h — shared by the CPU convolution kernels (internal).
 *
 * conv2d_cpu.c holds the three kernel entry points and the GEMM paths
 * (im2col / col2im + OpenBLAS, a plain GEMM for 1x1 stride-1 convs);
 * conv2d_dw_cpu.c holds the direct depthwise kernels they hand off to.
 */
#ifndef OS_CONV2D_CPU_H
#define OS_CONV2D_CPU_H

#include "ops/cpu/cpu_kernels.h"

/* Geometry of one convolution: x [n,ci,h,w], w [co,ci/g,kh,kw], y [n,co,oh,ow]. */
typedef struct {
    int n, ci, h, w, co, kh, kw, oh, ow;
    int sh, sw, ph, pw, dh, dw, g;
} os_conv_geom;

/* groups == ci == co: one kxk filter per channel */
static inline int os_conv_is_depthwise(const os_conv_geom *c)
{
    return c->g == c->ci && c->ci == c->co;
}

/* Depthwise kernels. x / dx: any strides; y, dy, w, dw: contiguous.
 * y [n,c,oh,ow] = dwconv(x [n,c,h,w], w [c,1,kh,kw]) + bias [c] (or NULL)  */
void os_cpu_conv2d_dw_fwd(const os_conv_geom *c, os_tensor *y, const os_tensor *x,
                          const float *w, const float *bias);
/* dx [n,c,h,w] += dwconv^T(dy [n,c,oh,ow], w) */
void os_cpu_conv2d_dw_bwd_data(const os_conv_geom *c, os_tensor *dx, const float *dy, const float *w);
/* dw [c,1,kh,kw] += sum_n dy (x) x  (correlation of dy with x per channel) */
void os_cpu_conv2d_dw_bwd_weight(const os_conv_geom *c, float *dw, const float *dy, const os_tensor *x);

#endif
