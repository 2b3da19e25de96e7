/* supernet/spaces/enas_macro.c — the ENAS macro search space (REFERENCE.md
 * §5; the ENAS code's src/cifar10/general_child.py, whole_channels).
 *
 * Network: stem (3x3 conv in_c -> C, BN), then L layers (--cells, default
 * 12) of C channels (--channels, default 36). Layer i:
 *   out_i = BN( op_i(out_{i-1}) + sum over the chosen skips j < i of out_j )
 * (layer 0 reads the stem). op_i is one of the six branches below (labels
 * `op_{i}`); the skip inputs are a subset choice `skip_{i}` (i >= 1) over
 * the i earlier layers' outputs, input j = layer j (src = choice `op_{j}`).
 * Factorized reductions at the ENAS code's positions: pool_distance = L / 3,
 * after layers pool_distance - 1 and 2 * pool_distance - 1 (3 and 7 for
 * L = 12) every earlier layer's output (and the current one) goes through
 * its own factorized reduction (stride 2, C channels: ReLU, two 1x1 convs
 * on x and x shifted by one pixel, concat, BN; the ENAS code has no ReLU
 * there). Then global average pool and a linear classifier.
 *
 * Branches (ENAS `_conv_branch` / `_pool_branch`): conv_kxk = 1x1 conv, BN,
 * ReLU, kxk conv, BN, ReLU; sep_conv_kxk the same with a depthwise kxk and a
 * pointwise 1x1 in place of the kxk conv; avg/max_pool_3x3 = 1x1 conv, BN,
 * ReLU, pool 3x3 stride 1 pad 1. Every BN is affine (as in the ENAS code).
 *
 * The child (retrain) is the same network with only the chosen branch per
 * layer and the chosen skips: weights are per (layer, branch) in the
 * supernet, so a child is exactly one supernet path. (The ENAS code's
 * fixed-arc child instead concatenates the skips and doubles the channels at
 * the reductions; we keep the search form.)
 *
 * Labels (NNI has no macro space; ours, README "ENAS spaces"): op_{i}
 * (i = 0..L-1) over conv_3x3, conv_5x5, sep_conv_3x3, sep_conv_5x5,
 * avg_pool_3x3, max_pool_3x3; skip_{i} (i = 1..L-1) a list of the earlier
 * layers taken as skip inputs, [] for none. Choices are created in the order
 * op_0, op_1, skip_1, op_2, skip_2, ...; the child form is the supernet
 * form. The labels of an L-layer net are a prefix of the 12-layer template.
 */
#include "supernet/arch.h"
#include "supernet/darts_ops.h"
#include "supernet/spaces/spaces.h"
#include "ops/ops.h"
#include "tensor/error.h"

#include <cjson/cJSON.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { M_CONV3, M_CONV5, M_SEP3, M_SEP5, M_AVG, M_MAX, M_NUM };
static const char *const macro_ops[M_NUM] = {"conv_3x3",     "conv_5x5",     "sep_conv_3x3",
                                             "sep_conv_5x5", "avg_pool_3x3", "max_pool_3x3"};
#define MACRO_DEFAULT_LAYERS 12
#define MACRO_MAX_LAYERS 64

typedef struct {
    int kind;
    os_tensor *w_in, *w, *w_pw;   /* 1x1 in; kxk (or depthwise kxk); pointwise */
    os_bn bn_in, bn;
} branch;

typedef struct {
    branch br[M_NUM];     /* supernet: every branch; child: br[0] the chosen one */
    int op_choice, skip_choice;
    unsigned skips;       /* child: the chosen skip inputs */
    os_bn bn;
    os_fact_reduce *pool; /* [i + 1] after this layer, or NULL */
} mlayer;

typedef struct {
    int search, L, C;
    os_tensor *stem_w;
    os_bn stem_bn;
    mlayer *layers;
    os_tensor **outs;     /* [L] this forward's layer outputs */
    os_tensor *fc_w, *fc_b;
} macro_net;

static int pool_after(int L, int i)
{
    int d = L / 3;
    return d > 0 && (i == d - 1 || i == 2 * d - 1);
}

/* ---- branches ----------------------------------------------------------------- */
static void branch_init(os_net *net, os_rng *r, branch *b, int idx, int kind, int C)
{
    char nm[64];
    b->kind = kind;
    int w1[4] = {C, C, 1, 1};
    snprintf(nm, sizeof nm, "layers.%d.%s.inp_conv", idx, macro_ops[kind]);
    b->w_in = os_net_weight(net, r, nm, 4, w1, C);
    snprintf(nm, sizeof nm, "layers.%d.%s.inp_bn", idx, macro_ops[kind]);
    os_bn_init(net, &b->bn_in, nm, C, 1);
    if (kind >= M_AVG)
        return;
    int k = kind == M_CONV3 || kind == M_SEP3 ? 3 : 5;
    snprintf(nm, sizeof nm, "layers.%d.%s.conv", idx, macro_ops[kind]);
    if (kind == M_CONV3 || kind == M_CONV5) {
        int s[4] = {C, C, k, k};
        b->w = os_net_weight(net, r, nm, 4, s, (long)C * k * k);
    } else {
        int s[4] = {C, 1, k, k};
        b->w = os_net_weight(net, r, nm, 4, s, (long)k * k);
        snprintf(nm, sizeof nm, "layers.%d.%s.pw", idx, macro_ops[kind]);
        b->w_pw = os_net_weight(net, r, nm, 4, w1, C);
    }
    snprintf(nm, sizeof nm, "layers.%d.%s.bn", idx, macro_ops[kind]);
    os_bn_init(net, &b->bn, nm, C, 1);
}

/* x [N, C, H, W] -> [N, C, H, W] */
static os_tensor *branch_forward(branch *b, os_tensor *x, const os_forward_ctx *ctx)
{
    int C = x->shape[1];
    os_tensor *y = os_relu(os_bn_forward(&b->bn_in, os_conv2d(x, b->w_in, NULL, 1, 0, 1, 1), ctx));
    switch (b->kind) {
    case M_AVG:
        return os_avg_pool2d(y, 3, 1, 1);
    case M_MAX:
        return os_max_pool2d(y, 3, 1, 1);
    case M_CONV3:
    case M_CONV5:
        y = os_conv2d(y, b->w, NULL, 1, b->kind == M_CONV3 ? 1 : 2, 1, 1);
        break;
    default:
        y = os_conv2d(y, b->w, NULL, 1, b->kind == M_SEP3 ? 1 : 2, 1, C);
        y = os_conv2d(y, b->w_pw, NULL, 1, 0, 1, 1);
        break;
    }
    return os_relu(os_bn_forward(&b->bn, y, ctx));
}

static os_tensor *run_branch(void *self, int i, os_tensor *x, const os_forward_ctx *ctx)
{
    mlayer *l = self;
    return branch_forward(&l->br[i], x, ctx);
}

/* ---- forward -------------------------------------------------------------------- */
static os_tensor *macro_forward(os_net *net, os_tensor *x, const os_forward_ctx *ctx, os_tensor **aux)
{
    macro_net *d = net->impl;
    if (x->ndim != 4 || x->shape[1] != net->in_c || x->shape[2] != net->in_h || x->shape[3] != net->in_w)
        os_fatal("enas_macro: input %s does not match the network's [N,%d,%d,%d]", os_shape_str(x), net->in_c,
                 net->in_h, net->in_w);
    if (aux)
        *aux = NULL;
    os_net_begin_forward(net, ctx);
    os_tensor *in = os_bn_forward(&d->stem_bn, os_conv2d(x, d->stem_w, NULL, 1, 1, 1, 1), ctx);
    for (int i = 0; i < d->L; i++) {
        mlayer *l = &d->layers[i];
        os_tensor *y, *skip = NULL;
        if (d->search) {
            y = os_layer_choice_forward(net, l->op_choice, run_branch, l, in, ctx);
            if (i > 0)
                skip = os_input_choice_forward(net, l->skip_choice, i, d->outs, ctx);
        } else {
            y = branch_forward(&l->br[0], in, ctx);
            os_tensor *sel[MACRO_MAX_LAYERS];
            int n = 0;
            for (int j = 0; j < i; j++)
                if ((l->skips >> j) & 1u)
                    sel[n++] = d->outs[j];
            skip = n ? os_sum_n(n, sel) : NULL;
        }
        if (skip)
            y = os_add(y, skip);
        d->outs[i] = os_bn_forward(&l->bn, y, ctx);
        if (l->pool)
            for (int j = 0; j <= i; j++)
                d->outs[j] = os_fr_forward(&l->pool[j], d->outs[j], NULL, ctx);
        in = d->outs[i];
    }
    return os_linear(os_global_avg_pool(in), d->fc_w, d->fc_b);
}

static void macro_free(os_net *net)
{
    macro_net *d = net->impl;
    if (!d)
        return;
    for (int i = 0; d->layers && i < d->L; i++)
        free(d->layers[i].pool);
    free(d->layers);
    free(d->outs);
    free(d);
    net->impl = NULL;
}

/* ---- the child form ---------------------------------------------------------------- */
static void template_of(os_arch *a, int L)
{
    char label[OS_LABEL_MAX];
    for (int i = 0; i < L; i++) {
        snprintf(label, sizeof label, "op_%d", i);
        os_arch_add(a, label, OS_CHOICE_LAYER, M_NUM, 1, macro_ops);
        if (i > 0) {
            snprintf(label, sizeof label, "skip_%d", i);
            os_arch_add(a, label, OS_CHOICE_INPUT, i, 0, NULL);
        }
    }
}

static void macro_template(os_arch *a) { template_of(a, MACRO_DEFAULT_LAYERS); }

/* the layers of a child-form architecture: op_0 .. op_{L-1} with one op each,
 * skip_i a subset of 0..i-1; 0 or -1 with os_error() naming the label */
static int layers_of(const os_arch *a, int *L, int *ops, unsigned *skips)
{
    char label[OS_LABEL_MAX];
    int n = 0;
    while (n <= MACRO_MAX_LAYERS) {
        snprintf(label, sizeof label, "op_%d", n);
        if (os_arch_find(a, label) < 0)
            break;
        n++;
    }
    if (n < 1 || n > MACRO_MAX_LAYERS)
        return os_error("enas_macro: the architecture has %d layers (labels op_0 ..; 1..%d allowed)", n,
                        MACRO_MAX_LAYERS);
    if (a->n != 2 * n - 1)
        return os_error("enas_macro: the architecture has %d labels, %d layers need op_0..op_%d and "
                        "skip_1..skip_%d (%d labels)", a->n, n, n - 1, n - 1, 2 * n - 1);
    for (int i = 0; i < n; i++) {
        snprintf(label, sizeof label, "op_%d", i);
        int ci = os_arch_find(a, label);
        const os_arch_choice *c = &a->c[ci];
        int op = os_arch_chosen_one(c);
        if (c->kind != OS_CHOICE_LAYER || c->n != M_NUM || op < 0 || os_arch_mask(c) != 1u << op)
            return os_error("enas_macro: '%s' must be one op of conv_3x3, conv_5x5, sep_conv_3x3, sep_conv_5x5, "
                            "avg_pool_3x3, max_pool_3x3", label);
        ops[i] = op;
        skips[i] = 0;
        if (!i)
            continue;
        snprintf(label, sizeof label, "skip_%d", i);
        ci = os_arch_find(a, label);
        if (ci < 0)
            return os_error("enas_macro: the architecture lacks '%s'", label);
        c = &a->c[ci];
        if (c->kind != OS_CHOICE_INPUT || !c->chosen || (os_arch_mask(c) & ~os_mask_all(i)))
            return os_error("enas_macro: '%s' must list earlier layers 0..%d only (no skip to itself or a "
                            "later layer)", label, i - 1);
        skips[i] = os_arch_mask(c);
    }
    *L = n;
    return 0;
}

/* ---- construction ------------------------------------------------------------------- */
static int macro_build(os_net *net, const os_space_opts *o)
{
    int ops[MACRO_MAX_LAYERS];
    unsigned skips[MACRO_MAX_LAYERS];
    int L = o->cells ? o->cells : MACRO_DEFAULT_LAYERS;
    if (o->arch) {
        int La;
        if (layers_of(o->arch, &La, ops, skips))
            return -1;
        if (o->cells && o->cells != La)
            return os_error("enas_macro: --cells %d, but the architecture has %d layers (give --cells %d or "
                            "leave it out)", o->cells, La, La);
        L = La;
    }
    int C = o->channels ? o->channels : 36;
    if (L < 1 || L > MACRO_MAX_LAYERS)
        return os_error("enas_macro: --cells (layers) must be in 1..%d (got %d)", MACRO_MAX_LAYERS, L);
    if (C < 2 || C % 2)
        return os_error("enas_macro: --channels must be even and at least 2 (factorized reductions split "
                        "them in halves; got %d)", C);
    int pools = 0;
    for (int i = 0; i < L; i++)
        pools += pool_after(L, i);
    int div = 1 << pools;
    if (o->in_h % div || o->in_w % div)
        return os_error("enas_macro: input %dx%d must be divisible by %d (%d reductions)", o->in_h, o->in_w, div,
                        pools);
    macro_net *d = calloc(1, sizeof *d);
    d->layers = calloc((size_t)L, sizeof *d->layers);
    d->outs = calloc((size_t)L, sizeof *d->outs);
    if (!d || !d->layers || !d->outs)
        os_fatal("enas_macro: out of memory");
    d->search = o->arch == NULL;
    d->L = L;
    d->C = C;
    os_net_init(net, "enas_macro", o->in_c, o->in_h, o->in_w, o->num_classes);
    net->cells = L;
    net->channels = C;
    net->impl = d;
    net->forward = macro_forward;
    net->free_impl = macro_free;
    os_rng r;
    os_rng_seed(&r, o->seed);
    int sw[4] = {C, o->in_c, 3, 3};
    d->stem_w = os_net_weight(net, &r, "stem.conv", 4, sw, o->in_c * 9L);
    os_bn_init(net, &d->stem_bn, "stem.bn", C, 1);
    char nm[64];
    for (int i = 0; i < L; i++) {
        mlayer *l = &d->layers[i];
        if (d->search) {
            char label[OS_LABEL_MAX];
            snprintf(label, sizeof label, "op_%d", i);
            l->op_choice = os_net_layer_choice(net, &r, label, M_NUM, macro_ops);
            for (int k = 0; k < M_NUM; k++)
                branch_init(net, &r, &l->br[k], i, k, C);
            l->skip_choice = -1;
            if (i > 0) {
                snprintf(label, sizeof label, "skip_%d", i);
                l->skip_choice = os_net_input_choice(net, &r, label, i, 0);
                for (int j = 0; j < i; j++)
                    os_net_set_input_src(net, l->skip_choice, j, d->layers[j].op_choice);
            }
        } else {
            branch_init(net, &r, &l->br[0], i, ops[i], C);
            l->skips = skips[i];
        }
        snprintf(nm, sizeof nm, "layers.%d.bn", i);
        os_bn_init(net, &l->bn, nm, C, 1);
        if (pool_after(L, i)) {
            l->pool = calloc((size_t)i + 1, sizeof *l->pool);
            if (!l->pool)
                os_fatal("enas_macro: out of memory");
            for (int j = 0; j <= i; j++) {
                snprintf(nm, sizeof nm, "pool_at_%d.from_%d", i, j);
                os_fr_init(net, &r, &l->pool[j], nm, C, C, 1);
            }
        }
    }
    int sf[2] = {o->num_classes, C};
    d->fc_w = os_net_weight(net, &r, "classifier.weight", 2, sf, C);
    d->fc_b = os_net_bias(net, &r, "classifier.bias", o->num_classes, C);
    return 0;
}

/* ---- architectures --------------------------------------------------------------------- */
/* the child from the supernet form: a decided choice as it is; weights: the
 * op of the largest weight, the skips with weight (sigmoid) above 1/2 */
static int macro_derive(const os_arch *sup, const os_derive_opts *o, os_arch *child)
{
    (void)o;
    os_arch_copy(child, sup);
    snprintf(child->space, sizeof child->space, "enas_macro");
    for (int i = 0; i < child->n; i++) {
        os_arch_choice *c = &child->c[i];
        if (c->has_weights) {
            c->chosen = 0;
            if (c->kind == OS_CHOICE_LAYER) {
                int best = 0;
                for (int k = 1; k < c->n; k++)
                    if (c->w[k] > c->w[best])
                        best = k;
                c->chosen = 1u << best;
            } else {
                for (int k = 0; k < c->n; k++)
                    if (c->w[k] > 0.5f)
                        c->chosen |= 1u << k;
                if (!c->chosen)
                    c->chosen = OS_CHOSEN_NONE;
            }
            c->has_weights = 0;
        } else if (!c->chosen) {
            char label[OS_LABEL_MAX];
            snprintf(label, sizeof label, "%s", c->label);
            os_arch_free(child);
            return os_error("enas_macro: choice '%s' is neither weighted nor decided", label);
        }
    }
    int L, ops[MACRO_MAX_LAYERS];
    unsigned skips[MACRO_MAX_LAYERS];
    if (layers_of(child, &L, ops, skips)) {
        os_arch_free(child);
        return -1;
    }
    return 0;
}

/* an NNI-style dict of any depth: op_0..op_{L-1}, skip_1..skip_{L-1} */
static int macro_from_nni(const cJSON *dict, os_arch *child)
{
    if (!cJSON_IsObject(dict))
        return os_error("expected a JSON object of labels");
    int L = 0;
    char label[OS_LABEL_MAX];
    while (L <= MACRO_MAX_LAYERS) {
        snprintf(label, sizeof label, "op_%d", L);
        if (!cJSON_GetObjectItemCaseSensitive(dict, label))
            break;
        L++;
    }
    if (L < 1 || L > MACRO_MAX_LAYERS)
        return os_error("enas_macro expects the labels op_0, op_1, skip_1, ... (1..%d layers); key 'op_%d' is "
                        "missing", MACRO_MAX_LAYERS, L > MACRO_MAX_LAYERS ? 0 : L);
    /* a skip to the layer itself or a later one, named before the generic checks */
    for (int i = 1; i < L; i++) {
        snprintf(label, sizeof label, "skip_%d", i);
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(dict, label);
        if (!cJSON_IsArray(v))
            continue;
        const cJSON *x;
        cJSON_ArrayForEach(x, v)
            if (cJSON_IsNumber(x) && x->valuedouble >= i && x->valuedouble == (double)x->valueint)
                return os_error("key '%s': skip input %d is %s (layer %d takes skips from the earlier layers "
                                "0..%d)", label, x->valueint, x->valueint == i ? "the layer itself" : "a later layer",
                                i, i - 1);
    }
    os_arch_free(child);
    os_arch_init(child, "enas_macro");
    template_of(child, L);
    return os_arch_from_nni(child, dict, NULL);
}

const os_space os_space_enas_macro = {
    .name = "enas_macro",
    .summary = "ENAS macro space: --cells layers (12), each one of 6 ops + any subset of earlier layers as skips",
    .features = OS_SPACE_DEPTH_LABELS,
    .build = macro_build,
    .child_template = macro_template,
    .derive = macro_derive,
    .from_nni = macro_from_nni,
};
