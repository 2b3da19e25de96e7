/* search/enas_controller.c — the ENAS controller (enas_controller.h). */
#include "search/enas_controller.h"
#include "ops/ops.h"
#include "tensor/arena.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { RUN_SAMPLE, RUN_FORCED, RUN_GREEDY };

static os_tensor *new_param(os_controller *c, os_rng *r, const char *prefix, const char *what, int rows, int cols,
                            float scale, int normal)
{
    char name[80];
    snprintf(name, sizeof name, "%s.%s", prefix, what);
    os_tensor *t = os_param_new_on(OS_CPU, name, 2, (int[]){rows, cols});
    long n = (long)rows * cols;
    float *h = malloc(sizeof *h * (size_t)n);
    for (long i = 0; i < n; i++)
        h[i] = normal ? scale * os_rng_normal(r) : scale * (2.0f * os_rng_uniform(r) - 1.0f);
    os_tensor_from_host(t, h);
    free(h);
    os_params_add(&c->params, t);
    return t;
}

int os_ctrl_init(os_controller *c, const os_ctrl_config *cfg, int n_dec, const os_ctrl_decision *dec, os_rng *r,
                 const char *prefix)
{
    memset(c, 0, sizeof *c);
    if (n_dec < 1)
        return os_error("controller: no decisions to make");
    int any_subset = 0;
    for (int d = 0; d < n_dec; d++) {
        const os_ctrl_decision *e = &dec[d];
        if (e->n < 1 || e->n > OS_MAX_CANDIDATES)
            return os_error("controller: decision %d has %d options (1..%d)", d, e->n, OS_MAX_CANDIDATES);
        if (e->kind == OS_CTRL_SUBSET) {
            any_subset = 1;
            for (int j = 0; j < e->n; j++)
                if (e->anchor[j] < -1 || e->anchor[j] >= d)
                    return os_error("controller: decision %d input %d: anchor %d is not an earlier decision", d, j,
                                    e->anchor[j]);
        } else {
            if (e->n_excl < 0 || e->n_excl >= e->n)
                return os_error("controller: decision %d excludes %d of %d options", d, e->n_excl, e->n);
            for (int k = 0; k < e->n_excl; k++) {
                int x = e->excl[k];
                if (x < 0 || x >= d || dec[x].kind != OS_CTRL_CATEGORICAL || dec[x].n != e->n)
                    return os_error("controller: decision %d excludes the value of decision %d, which is not an "
                                    "earlier %d-way categorical one", d, x, e->n);
            }
        }
    }
    c->cfg = *cfg;
    c->H = cfg->hidden > 0 ? cfg->hidden : OS_CTRL_HIDDEN;
    c->n_dec = n_dec;
    c->dec = malloc(sizeof *c->dec * (size_t)n_dec);
    c->emb = calloc((size_t)n_dec, sizeof *c->emb);
    c->head = calloc((size_t)n_dec, sizeof *c->head);
    if (!c->dec || !c->emb || !c->head) {
        os_ctrl_free(c);
        return os_error("controller: out of memory");
    }
    memcpy(c->dec, dec, sizeof *c->dec * (size_t)n_dec);
    int H = c->H;
    c->w_lstm = new_param(c, r, prefix, "w_lstm", 4 * H, 2 * H, 0.1f, 0);
    c->g_emb = new_param(c, r, prefix, "g_emb", 1, H, 0.1f, 1);
    if (any_subset) {
        c->w_anchor = new_param(c, r, prefix, "w_anchor", H, H, 0.1f, 0);
        c->w_query = new_param(c, r, prefix, "w_query", H, H, 0.1f, 0);
        c->v_attn = new_param(c, r, prefix, "v_attn", 1, H, 0.1f, 0);
        c->anchor0 = new_param(c, r, prefix, "anchor0", 1, H, 0.1f, 0);
    }
    for (int d = 0; d < n_dec; d++) {
        char w[32];
        snprintf(w, sizeof w, "emb.%d", d);
        c->emb[d] = new_param(c, r, prefix, w, dec[d].n, H, 0.1f, 0);
        if (dec[d].kind == OS_CTRL_CATEGORICAL) {
            snprintf(w, sizeof w, "head.%d", d);
            c->head[d] = new_param(c, r, prefix, w, dec[d].n, H, 0.1f, 0);
        }
    }
    return 0;
}

void os_ctrl_free(os_controller *c)
{
    os_params_free_all(&c->params);
    free(c->dec);
    free(c->emb);
    free(c->head);
    memset(c, 0, sizeof *c);
}

/* ---- small tensor helpers (step tensors, no gradient) --------------------------- */
static os_tensor *full(int rows, int cols, float v)
{
    os_tensor *t = os_tensor_new_on(OS_CPU, 2, (int[]){rows, cols});
    os_tensor_fill(t, v);
    return t;
}

static os_tensor *scalar(float v)
{
    os_tensor *t = os_tensor_new_on(OS_CPU, 1, (int[]){1});
    os_tensor_fill(t, v);
    return t;
}

static os_tensor *from_host(int rows, int cols, const float *v)
{
    os_tensor *t = os_tensor_new_on(OS_CPU, 2, (int[]){rows, cols});
    os_tensor_from_host(t, v);
    return t;
}

/* sum of every element of x [r,c] -> [1] */
static os_tensor *sum_all(os_tensor *x)
{
    int m = (int)os_numel(x);
    os_tensor *s = os_matmul(os_reshape(x, 2, (int[]){1, m}), full(m, 1, 1.0f));
    return os_reshape(s, 1, (int[]){1});
}

/* temperature, then tanh constant */
static os_tensor *shape_logits(const os_controller *c, os_tensor *x)
{
    if (c->cfg.temperature > 0)
        x = os_scale_by(x, scalar(1.0f / c->cfg.temperature));
    if (c->cfg.tanh_constant > 0)
        x = os_scale_by(os_tanh(x), scalar(c->cfg.tanh_constant));
    return x;
}

static int draw(os_ctrl_draws *d, float *u)
{
    if (d->rng) {
        *u = os_rng_uniform(d->rng);
        return 0;
    }
    if (!d->u || d->used >= d->n)
        return os_error("controller: the list of %d draws ran out", d->n);
    *u = d->u[d->used++];
    return 0;
}

/* One categorical decision: logits [1,n] -> value, -log p [1] on the tape. */
static int categorical(os_controller *c, int dd, int mode, os_ctrl_draws *dr, int *value, os_tensor *h,
                       os_tensor **nll, double *lp_sum, double *ent)
{
    const os_ctrl_decision *e = &c->dec[dd];
    int n = e->n;
    os_tensor *logits = shape_logits(c, os_linear(h, c->head[dd], NULL));
    unsigned excl = 0;
    for (int k = 0; k < e->n_excl; k++)
        excl |= 1u << value[e->excl[k]];
    if (excl) {
        float m[OS_MAX_CANDIDATES];
        for (int k = 0; k < n; k++)
            m[k] = (excl >> k & 1u) ? -1e30f : 0.0f;
        logits = os_add(logits, from_host(1, n, m));
    }
    float lg[OS_MAX_CANDIDATES];
    os_tensor_to_host(logits, lg);
    float mx = -INFINITY;
    for (int k = 0; k < n; k++)
        if (!(excl >> k & 1u) && lg[k] > mx)
            mx = lg[k];
    double z = 0, p[OS_MAX_CANDIDATES];
    for (int k = 0; k < n; k++)
        z += (excl >> k & 1u) ? 0.0 : exp((double)lg[k] - mx);
    for (int k = 0; k < n; k++)
        p[k] = (excl >> k & 1u) ? 0.0 : exp((double)lg[k] - mx) / z;
    int v = -1;
    if (mode == RUN_FORCED) {
        v = value[dd];
        if (v < 0 || v >= n || (excl >> v & 1u))
            return os_error("controller: decision %d: value %d is not one of its %d options%s", dd, v, n,
                            (v >= 0 && v < n) ? " (excluded: an earlier decision took it)" : "");
    } else if (mode == RUN_GREEDY) {
        for (int k = 0; k < n; k++)
            if (!(excl >> k & 1u) && (v < 0 || p[k] > p[v]))
                v = k;
    } else {
        float u = 0;
        if (draw(dr, &u))
            return -1;
        double cum = 0;
        for (int k = 0; k < n && v < 0; k++) {
            if (excl >> k & 1u)
                continue;
            cum += p[k];
            if ((double)u < cum)
                v = k;
        }
        for (int k = n - 1; v < 0 && k >= 0; k--) /* rounding: the last allowed option */
            if (!(excl >> k & 1u))
                v = k;
    }
    value[dd] = v;
    int32_t lab = v;
    *nll = os_cross_entropy(logits, &lab, 0.0f);
    double nl = -((double)lg[v] - mx - log(z));
    *lp_sum -= nl;
    *ent += nl * exp(-nl);
    return 0;
}

/* One subset decision by attention; -log p [1] and the penalty [1] on the tape. */
static int subset(os_controller *c, int dd, int mode, os_ctrl_draws *dr, int *value, os_tensor *h,
                  os_tensor *const *rec, os_tensor **nll, os_tensor **pen, double *lp_sum, double *ent,
                  double *pen_sum)
{
    const os_ctrl_decision *e = &c->dec[dd];
    int n = e->n, H = c->H;
    os_tensor *a[OS_MAX_CANDIDATES];
    for (int j = 0; j < n; j++)
        a[j] = e->anchor[j] >= 0 ? rec[e->anchor[j]] : c->anchor0;
    os_tensor *S = os_reshape(os_concat_channels(n, a), 2, (int[]){n, H});
    os_tensor *q = os_matmul(full(n, 1, 1.0f), os_linear(h, c->w_query, NULL));
    os_tensor *l = os_linear(os_tanh(os_add(os_linear(S, c->w_anchor, NULL), q)), c->v_attn, NULL); /* [n,1] */
    l = shape_logits(c, l);
    os_tensor *z2 = os_matmul(l, from_host(1, 2, (const float[]){-1.0f, 1.0f})); /* [n,2] = [-l, l] */
    float lv[OS_MAX_CANDIDATES];
    os_tensor_to_host(l, lv);
    unsigned mask = 0;
    if (mode == RUN_FORCED) {
        mask = (unsigned)value[dd];
        if (value[dd] < 0 || mask > os_mask_all(n))
            return os_error("controller: decision %d: mask %d is not a subset of its %d inputs", dd, value[dd], n);
    }
    int32_t lab[OS_MAX_CANDIDATES];
    for (int j = 0; j < n; j++) {
        /* log p(chosen) = log sigmoid(2l), log p(not) = log sigmoid(-2l) */
        double x = 2.0 * lv[j];
        double lp1 = x >= 0 ? -log1p(exp(-x)) : x - log1p(exp(x)), lp0 = lp1 - x;
        if (mode == RUN_SAMPLE) {
            float u = 0;
            if (draw(dr, &u))
                return -1;
            if ((double)u < exp(lp1))
                mask |= 1u << j;
        } else if (mode == RUN_GREEDY && lv[j] > 0) {
            mask |= 1u << j;
        }
        lab[j] = (int32_t)(mask >> j & 1u);
        double nl = lab[j] ? -lp1 : -lp0;
        *lp_sum -= nl;
        *ent += nl * exp(-nl);
    }
    value[dd] = (int)mask;
    *nll = os_scale_by(os_cross_entropy(z2, lab, 0.0f), scalar((float)n));
    /* KL(sigmoid([-l, l]) || [1 - t, t]) summed over the inputs */
    float t = c->cfg.skip_target;
    os_tensor *y = os_matmul(l, from_host(1, 2, (const float[]){0.0f, 1.0f})); /* [n,2] = [0, l] */
    float nlt[2 * OS_MAX_CANDIDATES];
    for (int j = 0; j < n; j++) {
        nlt[2 * j] = -logf(1.0f - t);
        nlt[2 * j + 1] = -logf(t);
    }
    os_tensor *kl = os_mul(os_softmax(y, 1), os_add(os_log_softmax(y, 1), from_host(n, 2, nlt)));
    *pen = sum_all(kl);
    *pen_sum += os_tensor_item(*pen);
    return 0;
}

static int walk(os_controller *c, int mode, os_ctrl_draws *dr, int *value, os_ctrl_result *out)
{
    int H = c->H, nd = c->n_dec;
    os_tensor **rec = os_step_alloc(sizeof *rec * (size_t)nd);
    os_tensor **nll = os_step_alloc(sizeof *nll * (size_t)nd);
    os_tensor **pen = os_step_alloc(sizeof *pen * (size_t)nd);
    int n_pen = 0;
    double lp = 0, ent = 0, ps = 0;
    os_tensor *x = c->g_emb, *h = full(1, H, 0.0f), *cc = full(1, H, 0.0f);
    for (int d = 0; d < nd; d++) {
        os_tensor *o = os_lstm_cell(x, h, cc, c->w_lstm, NULL);
        h = os_select(o, 0);
        cc = os_select(o, 1);
        rec[d] = h;
        if (c->dec[d].kind == OS_CTRL_CATEGORICAL) {
            if (categorical(c, d, mode, dr, value, h, &nll[d], &lp, &ent))
                return -1;
            int32_t v = value[d];
            x = os_embedding(c->emb[d], 1, &v);
        } else {
            if (subset(c, d, mode, dr, value, h, rec, &nll[d], &pen[n_pen++], &lp, &ent, &ps))
                return -1;
            int32_t idx[OS_MAX_CANDIDATES];
            int cnt = 0;
            for (int j = 0; j < c->dec[d].n; j++)
                if ((unsigned)value[d] >> j & 1u)
                    idx[cnt++] = j;
            if (cnt) {
                os_tensor *s = os_matmul(full(1, cnt, 1.0f), os_embedding(c->emb[d], cnt, idx));
                x = os_scale_by(s, scalar(1.0f / (1.0f + (float)cnt)));
            } else {
                x = full(1, H, 0.0f);
            }
        }
    }
    if (out) {
        out->nlp = os_sum_n(nd, nll);
        out->penalty = n_pen ? os_sum_n(n_pen, pen) : NULL;
        out->log_prob = lp;
        out->entropy = ent;
        out->skip_penalty = ps;
    }
    return 0;
}

int os_ctrl_run(os_controller *c, int forced, os_ctrl_draws *d, int *value, os_ctrl_result *out)
{
    if (!forced && !d)
        return os_error("controller: sampling needs a source of draws");
    return walk(c, forced ? RUN_FORCED : RUN_SAMPLE, d, value, out);
}

void os_ctrl_greedy(os_controller *c, int *value)
{
    bool old = os_set_grad_enabled(false);
    walk(c, RUN_GREEDY, NULL, value, NULL);
    os_set_grad_enabled(old);
}
