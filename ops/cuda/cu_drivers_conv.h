/* ops/cuda/cu_drivers_conv.h — drivers of the convolution kernels (im2col + GEMM, depthwise direct) (included by cu_drivers.h, after its helpers). */
#ifndef OS_CU_DRIVERS_CONV_H
#define OS_CU_DRIVERS_CONV_H

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

#endif
