/* ops/cpu/recurrent_cpu.c — embedding rows and the LSTM cell's pointwise
 * part. Small tensors (a controller: N = 1, H = 64): plain serial loops. */
#include "ops/cpu/cpu_kernels.h"

#include <math.h>
#include <string.h>

static inline float sigm(float v) { return 1.0f / (1.0f + expf(-v)); }

/* y [n,D] = table [V,D] rows idx[0..n) (both contiguous) */
void os_cpu_embed_fwd(const os_kargs *a)
{
    const os_embed_params *p = a->params;
    long D = a->t[1]->shape[1];
    for (int i = 0; i < p->n; i++)
        memcpy(a->t[0]->data + i * D, a->t[1]->data + (long)p->idx[i] * D, sizeof(float) * (size_t)D);
}

/* dtable [V,D] += dy [n,D] row i into row idx[i], i = 0, 1, ... in order */
void os_cpu_embed_bwd(const os_kargs *a)
{
    const os_embed_params *p = a->params;
    long D = a->t[0]->shape[1];
    for (int i = 0; i < p->n; i++) {
        float *restrict g = a->t[0]->data + (long)p->idx[i] * D;
        const float *restrict dy = a->t[1]->data + i * D;
        for (long j = 0; j < D; j++)
            g[j] += dy[j];
    }
}

/* gates [N,4H] (pre-activation i, f, g, o; activated in place), c [N,H]
 * -> out [2,N,H]: out[0] = h' = sig(o) tanh(c'), out[1] = c' = f c + i g */
void os_cpu_lstm_fwd(const os_kargs *a)
{
    float *restrict out = a->t[0]->data, *restrict g = a->t[1]->data;
    const float *restrict c = a->t[2]->data;
    long N = a->t[2]->shape[0], H = a->t[2]->shape[1];
    for (long n = 0; n < N; n++) {
        float *gi = g + n * 4 * H, *gf = gi + H, *gg = gf + H, *go = gg + H;
        for (long j = 0; j < H; j++) {
            gi[j] = sigm(gi[j]);
            gf[j] = sigm(gf[j]);
            gg[j] = tanhf(gg[j]);
            go[j] = sigm(go[j]);
            float c1 = gf[j] * c[n * H + j] + gi[j] * gg[j];
            out[N * H + n * H + j] = c1;
            out[n * H + j] = go[j] * tanhf(c1);
        }
    }
}

/* dgates [N,4H] = from dout [2,N,H] (dh', dc'), gates (activated) [N,4H],
 * c [N,H], out [2,N,H]; dc [N,H] += dc_total * f (when not NULL).
 *   dc_total = dc' + dh' o (1 - tanh(c')^2)
 *   di = dc_total g i (1-i), df = dc_total c f (1-f), dg = dc_total i (1-g^2),
 *   do = dh' tanh(c') o (1-o) */
void os_cpu_lstm_bwd(const os_kargs *a)
{
    float *restrict dg = a->t[0]->data;
    const float *restrict dout = a->t[1]->data, *restrict g = a->t[2]->data, *restrict c = a->t[3]->data;
    const float *restrict out = a->t[4]->data;
    float *dc = a->t[5] ? a->t[5]->data : NULL;
    long N = a->t[3]->shape[0], H = a->t[3]->shape[1];
    for (long n = 0; n < N; n++) {
        const float *gi = g + n * 4 * H, *gf = gi + H, *gg = gf + H, *go = gg + H;
        float *di = dg + n * 4 * H, *df = di + H, *dgg = df + H, *dgo = dgg + H;
        for (long j = 0; j < H; j++) {
            long k = n * H + j;
            float dh1 = dout[k], dc1 = dout[N * H + k], tc = tanhf(out[N * H + k]);
            float dct = dc1 + dh1 * go[j] * (1.0f - tc * tc);
            di[j] = dct * gg[j] * gi[j] * (1.0f - gi[j]);
            df[j] = dct * c[k] * gf[j] * (1.0f - gf[j]);
            dgg[j] = dct * gi[j] * (1.0f - gg[j] * gg[j]);
            dgo[j] = dh1 * tc * go[j] * (1.0f - go[j]);
            if (dc)
                dc[k] += dct * gf[j];
        }
    }
}
