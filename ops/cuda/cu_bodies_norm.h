/* ops/cuda/cu_bodies_norm.h — bodies of pooling, batch norm, softmax and cross-entropy (included by cu_bodies.h; see there). */
#ifndef OS_CU_BODIES_NORM_H
#define OS_CU_BODIES_NORM_H

#include "ops/cuda/cu_common.h"

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

#endif
