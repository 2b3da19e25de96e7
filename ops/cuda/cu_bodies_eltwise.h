/* ops/cuda/cu_bodies_eltwise.h — bodies of the memory, elementwise, dense, selection, recurrent, dropout and optimizer kernels (included by cu_bodies.h; see there). */
#ifndef OS_CU_BODIES_ELTWISE_H
#define OS_CU_BODIES_ELTWISE_H

#include "ops/cuda/cu_common.h"

/* ---- memory ------------------------------------------------------------- */
/* t [S, any strides] = v;  grid: numel(t) */
typedef struct { os_cu_t t; float v; } os_ca_fill;
OS_HD void os_cb_fill(long i, const os_ca_fill *a) { a->t.d[os_cu_off(&a->t, i)] = a->v; }

/* d [S, any strides] = s [S, any strides];  grid: numel */
typedef struct { os_cu_t d, s; } os_ca_copy;
OS_HD void os_cb_copy(long i, const os_ca_copy *a)
{
    a->d.d[os_cu_off(&a->d, i)] = a->s.d[os_cu_off(&a->s, i)];
}

/* d [S, any strides] += al * s [S, any strides];  grid: numel */
typedef struct { os_cu_t d, s; float al; } os_ca_axpy;
OS_HD void os_cb_axpy(long i, const os_ca_axpy *a)
{
    a->d.d[os_cu_off(&a->d, i)] += a->al * a->s.d[os_cu_off(&a->s, i)];
}

/* flat p [n] (contiguous): p *= al;  grid: n */
typedef struct { float *p; float al; } os_ca_scale;
OS_HD void os_cb_scale(long i, const os_ca_scale *a) { a->p[i] *= a->al; }

/* Two-pass sums. Pass 1: part [ceil(n / OS_CU_CHUNK)] doubles, part[b] = sum
 * over chunk b of p*q (q NULL: p*p);  grid: chunks. */
typedef struct { const float *p, *q; long n; double *part; } os_ca_dot_part;
OS_HD void os_cb_dot_part(long b, const os_ca_dot_part *a)
{
    long j0 = b * OS_CU_CHUNK, j1 = j0 + OS_CU_CHUNK < a->n ? j0 + OS_CU_CHUNK : a->n;
    double s = 0;
    const float *q = a->q ? a->q : a->p;
    for (long j = j0; j < j1; j++)
        s += (double)a->p[j] * q[j];
    a->part[b] = s;
}
/* Pass 2: out[0] (= | +=) sum of part [nb] in order;  grid: 1 */
typedef struct { const double *part; long nb; float *out; int acc; } os_ca_dot_final;
OS_HD void os_cb_dot_final(long i, const os_ca_dot_final *a)
{
    (void)i;
    double s = 0;
    for (long b = 0; b < a->nb; b++)
        s += a->part[b];
    if (a->acc)
        a->out[0] += (float)s;
    else
        a->out[0] = (float)s;
}

/* t [n] (contiguous) *= c when c = a / (sqrt(s[0]) + 1e-6) < 1 (gradient
 * clipping by a device norm; NaN c leaves t);  grid: n */
typedef struct { float *t; const float *s; float a; } os_ca_clip;
OS_HD void os_cb_clip_scale(long i, const os_ca_clip *a)
{
    float c = a->a / (sqrtf(a->s[0]) + 1e-6f);
    if (c < 1.0f)
        a->t[i] *= c;
}

/* c[0] = (float)(a * max(s[0], 1e-24)^e) in double;  grid: 1 */
typedef struct { float *c; const float *s; float a, e; } os_ca_pow_coef;
OS_HD void os_cb_pow_coef(long i, const os_ca_pow_coef *a)
{
    (void)i;
    double s = a->s[0];
    a->c[0] = (float)(a->a * pow(s > 1e-24 ? s : 1e-24, (double)a->e));
}
/* d [n] += c[0] * x [n];  grid: n */
typedef struct { float *d; const float *x, *c; } os_ca_axpy_dev;
OS_HD void os_cb_axpy_dev(long i, const os_ca_axpy_dev *a) { a->d[i] += a->c[0] * a->x[i]; }

/* ---- elementwise (flat, contiguous) --------------------------------------- */
OS_HD float os_cu_sigm(float v) { return 1.0f / (1.0f + expf(-v)); }

/* y [n] = f(x [n]), f by kind (os_unary_kind: relu, relu6, sigmoid, tanh);  grid: n */
typedef struct { float *y; const float *x; int kind; } os_ca_unary;
OS_HD void os_cb_unary_fwd(long i, const os_ca_unary *a)
{
    float x = a->x[i], y;
    switch (a->kind) {
    case 0: y = x > 0.0f ? x : 0.0f; break;
    case 1: y = x > 0.0f ? (x < 6.0f ? x : 6.0f) : 0.0f; break;
    case 2: y = os_cu_sigm(x); break;
    default: y = tanhf(x); break;
    }
    a->y[i] = y;
}
/* dx [n] += f'(.) * dy [n], f' from y = f(x) [n];  grid: n */
typedef struct { float *dx; const float *dy, *y; int kind; } os_ca_unary_bwd;
OS_HD void os_cb_unary_bwd(long i, const os_ca_unary_bwd *a)
{
    float y = a->y[i], g = a->dy[i], d;
    switch (a->kind) {
    case 0: d = y > 0.0f ? g : 0.0f; break;
    case 1: d = (y > 0.0f && y < 6.0f) ? g : 0.0f; break;
    case 2: d = g * y * (1.0f - y); break;
    default: d = g * (1.0f - y * y); break;
    }
    a->dx[i] += d;
}

/* op 0: o = p + q; 1: o = p * q; 2: o += p * q; all [n];  grid: n */
typedef struct { float *o; const float *p, *q; int op; } os_ca_binary;
OS_HD void os_cb_binary(long i, const os_ca_binary *a)
{
    if (a->op == 0)
        a->o[i] = a->p[i] + a->q[i];
    else if (a->op == 1)
        a->o[i] = a->p[i] * a->q[i];
    else
        a->o[i] += a->p[i] * a->q[i];
}

/* y [n] (= | +=) s[0] * x [n]; s one device float (any tensor's element);  grid: n */
typedef struct { float *y; const float *x, *s; int acc; } os_ca_scale_by;
OS_HD void os_cb_scale_by(long i, const os_ca_scale_by *a)
{
    float v = a->s[0] * a->x[i];
    if (a->acc)
        a->y[i] += v;
    else
        a->y[i] = v;
}

/* ---- dense ---------------------------------------------------------------- */
/* y [M,N] += b [N] on every row;  grid: M*N */
typedef struct { float *y; const float *b; long N; } os_ca_bias_rows;
OS_HD void os_cb_bias_rows(long i, const os_ca_bias_rows *a) { a->y[i] += a->b[i % a->N]; }

/* s [N] += sum over rows m (in order) of x [M,N];  grid: N (one column each) */
typedef struct { float *s; const float *x; long M, N; } os_ca_sum_rows;
OS_HD void os_cb_sum_rows(long j, const os_ca_sum_rows *a)
{
    double acc = 0;
    for (long m = 0; m < a->M; m++)
        acc += a->x[m * a->N + j];
    a->s[j] += (float)acc;
}

/* ---- selection: argmax, one-hot, accuracy ------------------------------------------ */
/* the first index of the largest of x [K] (j > best only when x[j] > x[best]) */
OS_HD int os_cu_row_argmax(const float *x, int K)
{
    int best = 0;
    for (int j = 1; j < K; j++)
        if (x[j] > x[best])
            best = j;
    return best;
}
/* idx [M, any stride] = argmax of row m of x [M,K] (contiguous), as float;  grid: M */
typedef struct { os_cu_t idx; const float *x; int K; } os_ca_argmax;
OS_HD void os_cb_argmax(long m, const os_ca_argmax *a)
{
    a->idx.d[os_cu_off(&a->idx, m)] = (float)os_cu_row_argmax(a->x + m * a->K, a->K);
}
/* y [M,K] (contiguous) = one-hot of idx [M, any stride] (float indices);  grid: M*K */
typedef struct { float *y; os_cu_t idx; int K; } os_ca_onehot;
OS_HD void os_cb_onehot(long i, const os_ca_onehot *a)
{
    long m = i / a->K, k = i % a->K;
    a->y[i] = k == (long)(int)a->idx.d[os_cu_off(&a->idx, m)] ? 1.0f : 0.0f;
}
/* hit [N] = 1 when row n of x [N,K] has its argmax at labels[n], else 0;  grid: N */
typedef struct { float *hit; const float *x; const int32_t *labels; int K; } os_ca_acc_hit;
OS_HD void os_cb_acc_hit(long n, const os_ca_acc_hit *a)
{
    a->hit[n] = os_cu_row_argmax(a->x + n * a->K, a->K) == a->labels[n] ? 1.0f : 0.0f;
}
/* out[0] += sum of hit [N] in order (exact: integers below 2^24);  grid: 1 */
typedef struct { const float *hit; long N; float *out; } os_ca_acc_sum;
OS_HD void os_cb_acc_sum(long i, const os_ca_acc_sum *a)
{
    (void)i;
    float c = 0.0f;
    for (long n = 0; n < a->N; n++)
        c += a->hit[n];
    a->out[0] += c;
}

/* drop path: m [N, per] (contiguous), row n = 1/(1-p) when the draw for n
 * keeps it, else 0;  grid: N*per */
typedef struct { float *m; long per; uint64_t seed; float p, scale; } os_ca_droppath;
OS_HD void os_cb_droppath(long i, const os_ca_droppath *a)
{
    a->m[i] = os_cu_hash_uniform(a->seed, (uint64_t)(i / a->per)) >= a->p ? a->scale : 0.0f;
}

/* ---- recurrent controller ------------------------------------------------------ */
/* y [n,D] = table [V,D] rows idx;  grid: n*D */
typedef struct { float *y; const float *table; const int32_t *idx; long D; } os_ca_embed;
OS_HD void os_cb_embed_fwd(long j, const os_ca_embed *a)
{
    a->y[j] = a->table[(long)a->idx[j / a->D] * a->D + j % a->D];
}
/* dtable [V,D] += dy [n,D] rows i with idx[i] == v, i in order;  grid: V*D */
typedef struct { float *dt; const float *dy; const int32_t *idx; long D; int n; } os_ca_embed_bwd;
OS_HD void os_cb_embed_bwd(long j, const os_ca_embed_bwd *a)
{
    long v = j / a->D, d = j % a->D;
    float s = a->dt[j];
    for (int i = 0; i < a->n; i++)
        if (a->idx[i] == v)
            s += a->dy[(long)i * a->D + d];
    a->dt[j] = s;
}

/* LSTM pointwise, (n, j) per index (grid: N*H): gates [N,4H] i,f,g,o activated
 * in place; out [2,N,H] = h', c' (see ops/cpu/recurrent_cpu.c) */
typedef struct { float *out, *g; const float *c; long N, H; } os_ca_lstm;
OS_HD void os_cb_lstm_fwd(long k, const os_ca_lstm *a)
{
    long H = a->H, n = k / H, j = k % H;
    float *gi = a->g + n * 4 * H, *gf = gi + H, *gg = gf + H, *go = gg + H;
    gi[j] = os_cu_sigm(gi[j]);
    gf[j] = os_cu_sigm(gf[j]);
    gg[j] = tanhf(gg[j]);
    go[j] = os_cu_sigm(go[j]);
    float c1 = gf[j] * a->c[k] + gi[j] * gg[j];
    a->out[a->N * H + k] = c1;
    a->out[k] = go[j] * tanhf(c1);
}
/* dgates [N,4H] = ..., dc [N,H] += dc_total * f when set;  grid: N*H */
typedef struct { float *dg; const float *dout, *g, *c, *out; float *dc; long N, H; } os_ca_lstm_bwd;
OS_HD void os_cb_lstm_bwd(long k, const os_ca_lstm_bwd *a)
{
    long H = a->H, N = a->N, n = k / H, j = k % H;
    const float *gi = a->g + n * 4 * H, *gf = gi + H, *gg = gf + H, *go = gg + H;
    float *di = a->dg + n * 4 * H, *df = di + H, *dgg = df + H, *dgo = dgg + H;
    float dh1 = a->dout[k], dc1 = a->dout[N * H + k], tc = tanhf(a->out[N * H + k]);
    float dct = dc1 + dh1 * go[j] * (1.0f - tc * tc);
    di[j] = dct * gg[j] * gi[j] * (1.0f - gi[j]);
    df[j] = dct * a->c[k] * gf[j] * (1.0f - gf[j]);
    dgg[j] = dct * gi[j] * (1.0f - gg[j] * gg[j]);
    dgo[j] = dh1 * tc * go[j] * (1.0f - go[j]);
    if (a->dc)
        a->dc[k] += dct * gf[j];
}

/* ---- dropout: the counter-based mask of the CPU kernel --------------------------- */
/* fwd: y = x * keep(i) / (1-p); bwd: dx += dy * keep(i) / (1-p);  grid: n */
typedef struct { float *o; const float *x; uint64_t seed; float p, scale; int acc; } os_ca_dropout;
OS_HD void os_cb_dropout(long i, const os_ca_dropout *a)
{
    float k = os_cu_hash_uniform(a->seed, (uint64_t)i) >= a->p ? a->scale : 0.0f;
    if (a->acc)
        a->o[i] += a->x[i] * k;
    else
        a->o[i] = a->x[i] * k;
}

/* ---- optimizers (flat, contiguous) ------------------------------------------------ */
/* SGD with momentum buffer buf | NULL (PyTorch's rule, ops/cpu/optim_cpu.c);  grid: n */
typedef struct { float *p, *buf; const float *gr; float lr, wd, mom, damp1; int first, nesterov; } os_ca_sgd;
OS_HD void os_cb_sgd(long i, const os_ca_sgd *a)
{
    float g = a->gr[i] + a->wd * a->p[i];
    if (a->buf) {
        float b = a->first ? g : a->mom * a->buf[i] + a->damp1 * g;
        a->buf[i] = b;
        g = a->nesterov ? g + a->mom * b : b;
    }
    a->p[i] -= a->lr * g;
}
/* Adam (bias-corrected, L2 weight decay);  grid: n */
typedef struct { float *p, *m, *v; const float *gr; float b1, b2, wd, eps, step, bc2s; } os_ca_adam;
OS_HD void os_cb_adam(long i, const os_ca_adam *a)
{
    float g = a->gr[i] + a->wd * a->p[i];
    float mi = a->b1 * a->m[i] + (1.0f - a->b1) * g;
    float vi = a->b2 * a->v[i] + (1.0f - a->b2) * g * g;
    a->m[i] = mi;
    a->v[i] = vi;
    a->p[i] -= a->step * mi / (sqrtf(vi) / a->bc2s + a->eps);
}

#endif
