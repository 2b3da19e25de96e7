/* supernet/spaces/proxyless.c — the ProxylessNAS space in NNI 3.0's layout
 * (nni/nas/hub/pytorch/proxylessnas.py; REFERENCE.md §6, §7b).
 *
 * stem      conv 3x3 (stride 2; small variant 1) + BN + ReLU6 to w0
 * first     fixed depthwise-separable block: dw 3x3 + BN + ReLU6, 1x1 + BN to w1
 * s2..s7    stages of MBConv blocks to w2..w7; the first block of a stage has
 *           the stage's stride (ImageNet: 2 in s2, s3, s4, s6; small: 2 in
 *           s3, s4, s6), the others stride 1. Block j of stage s is the layer
 *           choice "s{s}_i{j}" among k3e3 k5e3 k7e3 k3e6 k5e6 k7e6 (NNI's
 *           order: expansion outer, kernel inner). MBConv k e: 1x1 expand to
 *           make_divisible(in * e, 8) + BN + ReLU6, depthwise k x k + BN +
 *           ReLU6, 1x1 project + BN, plus x when stride is 1 and in == out.
 *           s2..s6 have a depth choice "s{s}_depth" among 1..4 (JSON numbers)
 *           that gates blocks 1..3 (os_choice.gate); s7 has one block.
 * head      1x1 conv to w8 + BN + ReLU6, global average pool, linear.
 * Widths w = make_divisible(base * channels / 32, 8), base (32, 16, 32, 40,
 * 80, 96, 192, 320, 1280): --channels is the stem width (default 32 = NNI's
 * width_mult 1). --cells is the supernet's most blocks per stage (1..4,
 * default 4; 1 = no depth choices). Every BN has eps 1e-3 and is affine.
 * Variant: the ImageNet layout (/32) when the input is at least 64 pixels on
 * both sides, else the small one (/8: 32x32 -> 4x4, 28x28 -> 4x4).
 * In the supernet, a depth choice mixes the stage's outputs after 1..4 blocks
 * like an input choice (one of them on a single path). The child form is
 * the supernet form minus the blocks the depth leaves out (not exported,
 * as in NNI's published dicts, which also carry "s7_depth": 1: accepted).
 */
#include "supernet/arch.h"
#include "supernet/spaces/spaces.h"
#include "ops/ops.h"
#include "tensor/error.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PX_CANDS 6
#define PX_MAXD 4
#define PX_STAGES 6 /* s2..s7 */
#define PX_EPS 1e-3f

static const char *const px_names[PX_CANDS] = {"k3e3", "k5e3", "k7e3", "k3e6", "k5e6", "k7e6"};
static const int px_k[PX_CANDS] = {3, 5, 7, 3, 5, 7}, px_e[PX_CANDS] = {3, 3, 3, 6, 6, 6};
static const char *const px_depths[PX_MAXD] = {"1", "2", "3", "4"};
static const int px_base[9] = {32, 16, 32, 40, 80, 96, 192, 320, 1280};
/* stride 2 at: [0] stem, [1] first block, [2..7] stage s2..s7 */
static const int px_down_imagenet[8] = {1, 0, 1, 1, 1, 0, 1, 0};
static const int px_down_small[8] = {0, 0, 0, 1, 1, 0, 1, 0};

typedef struct {
    os_tensor *w;
    os_bn bn;
    int k, stride, groups, act;
} px_conv;

typedef struct {
    px_conv expand, dw, project;
    int skip;
} px_mb;

typedef struct {
    px_mb cand[PX_CANDS]; /* search: every candidate; child: cand[0] */
    int choice;
} px_block;

typedef struct {
    px_block blocks[PX_MAXD];
    int n_blocks;    /* built */
    int depth_choice; /* search: the choice, or -1 */
    int depth;        /* child */
} px_stage;

typedef struct {
    int search, small;
    int widths[9];
    px_conv stem, first_dw, first_pw, head;
    int first_skip;
    px_stage st[PX_STAGES];
    os_tensor *fc_w, *fc_b;
} px_net;

static int make_divisible(double v, int divisor)
{
    int nv = (int)(v + divisor / 2) / divisor * divisor;
    if (nv < divisor)
        nv = divisor;
    return nv < 0.9 * v ? nv + divisor : nv;
}

int os_proxyless_small_variant(int h, int w) { return h < 64 || w < 64; }

static os_tensor *fixed_forward(os_net *net, int part, os_tensor *x, const os_forward_ctx *ctx);

static void conv_init(os_net *net, os_rng *r, px_conv *c, const char *name, int cin, int cout, int k, int stride,
                      int groups, int act)
{
    char nm[128];
    c->k = k;
    c->stride = stride;
    c->groups = groups;
    c->act = act;
    int s[4] = {cout, cin / groups, k, k};
    snprintf(nm, sizeof nm, "%.100s.conv", name);
    c->w = os_net_weight(net, r, nm, 4, s, (long)(cin / groups) * k * k);
    snprintf(nm, sizeof nm, "%.100s.bn", name);
    os_bn_init(net, &c->bn, nm, cout, 1);
    c->bn.eps = PX_EPS;
}

static os_tensor *conv_forward(px_conv *c, os_tensor *x, const os_forward_ctx *ctx)
{
    os_tensor *y = os_conv2d(x, c->w, NULL, c->stride, (c->k - 1) / 2, 1, c->groups);
    y = os_bn_forward(&c->bn, y, ctx);
    return c->act ? os_relu6(y) : y;
}

static void mb_init(os_net *net, os_rng *r, px_mb *m, const char *name, int cin, int cout, int k, int e,
                    int stride)
{
    char nm[96];
    int hid = make_divisible((double)cin * e, 8);
    snprintf(nm, sizeof nm, "%s.expand", name);
    conv_init(net, r, &m->expand, nm, cin, hid, 1, 1, 1, 1);
    snprintf(nm, sizeof nm, "%s.dw", name);
    conv_init(net, r, &m->dw, nm, hid, hid, k, stride, hid, 1);
    snprintf(nm, sizeof nm, "%s.project", name);
    conv_init(net, r, &m->project, nm, hid, cout, 1, 1, 1, 0);
    m->skip = stride == 1 && cin == cout;
}

static os_tensor *mb_forward(px_mb *m, os_tensor *x, const os_forward_ctx *ctx)
{
    os_tensor *h = conv_forward(&m->project, conv_forward(&m->dw, conv_forward(&m->expand, x, ctx), ctx), ctx);
    return m->skip ? os_add(x, h) : h;
}

static os_tensor *run_candidate(void *self, int i, os_tensor *x, const os_forward_ctx *ctx)
{
    return mb_forward(&((px_block *)self)->cand[i], x, ctx);
}

static os_tensor *stage_forward(os_net *net, px_net *d, px_stage *st, os_tensor *x, const os_forward_ctx *ctx)
{
    if (!d->search) {
        for (int j = 0; j < st->depth; j++)
            x = mb_forward(&st->blocks[j].cand[0], x, ctx);
        return x;
    }
    int run = 1;
    if (st->depth_choice >= 0) {
        unsigned act = net->mix[st->depth_choice].active;
        if (!act)
            os_fatal("choice '%s': the chooser did not decide it", net->choices[st->depth_choice].label);
        run = 32 - __builtin_clz(act); /* up to the deepest active depth */
    }
    os_tensor *outs[PX_MAXD] = {0};
    for (int j = 0; j < run; j++) {
        px_block *b = &st->blocks[j];
        x = os_layer_choice_forward(net, b->choice, run_candidate, b, x, ctx);
        outs[j] = x;
    }
    if (st->depth_choice < 0)
        return x;
    /* the depth mixes the stage's outputs after 1..n blocks like an input choice */
    return os_input_choice_forward(net, st->depth_choice, st->n_blocks, outs, ctx);
}

static os_tensor *px_forward(os_net *net, os_tensor *x, const os_forward_ctx *ctx, os_tensor **aux)
{
    px_net *d = net->impl;
    if (x->ndim != 4 || x->shape[1] != net->in_c || x->shape[2] != net->in_h || x->shape[3] != net->in_w)
        os_fatal("proxyless: input %s does not match the network's [N,%d,%d,%d]", os_shape_str(x), net->in_c,
                 net->in_h, net->in_w);
    if (aux)
        *aux = NULL;
    os_net_begin_forward(net, ctx);
    os_tensor *h = fixed_forward(net, 0, x, ctx);
    for (int s = 0; s < PX_STAGES; s++)
        h = stage_forward(net, d, &d->st[s], h, ctx);
    return fixed_forward(net, 1, h, ctx);
}

static os_tensor *fixed_forward(os_net *net, int part, os_tensor *x, const os_forward_ctx *ctx)
{
    px_net *d = net->impl;
    if (part == 0) {
        os_tensor *h = conv_forward(&d->stem, x, ctx);
        os_tensor *f = conv_forward(&d->first_pw, conv_forward(&d->first_dw, h, ctx), ctx);
        return d->first_skip ? os_add(h, f) : f;
    }
    os_tensor *h = conv_forward(&d->head, x, ctx);
    return os_linear(os_global_avg_pool(h), d->fc_w, d->fc_b);
}

static void px_free(os_net *net)
{
    free(net->impl);
    net->impl = NULL;
}

/* ---- architectures -------------------------------------------------------------- */
static void px_template(os_arch *a)
{
    char label[OS_LABEL_MAX];
    for (int s = 2; s <= 7; s++) {
        int dc = -1;
        if (s < 7) {
            snprintf(label, sizeof label, "s%d_depth", s);
            dc = os_arch_add(a, label, OS_CHOICE_LAYER, PX_MAXD, 1, px_depths);
        }
        for (int j = 0; j < (s < 7 ? PX_MAXD : 1); j++) {
            snprintf(label, sizeof label, "s%d_i%d", s, j);
            int i = os_arch_add(a, label, OS_CHOICE_LAYER, PX_CANDS, 1, px_names);
            if (j > 0)
                os_arch_gate(a, i, dc, j);
        }
    }
}

/* The child's depth of stage s (2..7) and op of block j, from a child-form arch. */
static int child_plan(const os_arch *a, int depth[PX_STAGES], int op[PX_STAGES][PX_MAXD])
{
    char label[OS_LABEL_MAX];
    for (int s = 2; s <= 7; s++) {
        int ds = 1;
        if (s < 7) {
            snprintf(label, sizeof label, "s%d_depth", s);
            int ci = os_arch_find(a, label);
            int k = ci < 0 ? -1 : os_arch_chosen_one(&a->c[ci]);
            if (k < 0)
                return os_error("proxyless: the architecture has no depth for '%s'", label);
            ds = atoi(a->c[ci].names[k]);
        }
        depth[s - 2] = ds;
        for (int j = 0; j < ds; j++) {
            snprintf(label, sizeof label, "s%d_i%d", s, j);
            int ci = os_arch_find(a, label);
            int k = ci < 0 ? -1 : os_arch_chosen_one(&a->c[ci]);
            if (k < 0 || a->c[ci].n != PX_CANDS)
                return os_error("proxyless: the architecture has no block for '%s' (depth %d)", label, ds);
            op[s - 2][j] = k;
        }
    }
    return 0;
}

static int px_build(os_net *net, const os_space_opts *o)
{
    px_net *d = calloc(1, sizeof *d);
    int op[PX_STAGES][PX_MAXD] = {{0}}, depth[PX_STAGES] = {0};
    d->search = o->arch == NULL;
    if (!d->search && child_plan(o->arch, depth, op)) {
        free(d);
        return -1;
    }
    int maxd = o->cells ? o->cells : PX_MAXD, C = o->channels ? o->channels : 32;
    if (!d->search)
        maxd = PX_MAXD; /* a child's depths are its architecture's */
    if (maxd < 1 || maxd > PX_MAXD || C < 1 || C > 4096 || o->in_h < 1 || o->in_w < 1) {
        free(d);
        return os_error("proxyless: needs cells (the most blocks per stage) in 1..4 and channels (the stem "
                        "width) in 1..4096; got %d and %d", maxd, C);
    }
    d->small = os_proxyless_small_variant(o->in_h, o->in_w);
    const int *down = d->small ? px_down_small : px_down_imagenet;
    for (int i = 0; i < 9; i++)
        d->widths[i] = make_divisible((double)px_base[i] * C / 32.0, 8);
    os_net_init(net, "proxyless", o->in_c, o->in_h, o->in_w, o->num_classes);
    net->cells = maxd;
    net->channels = C;
    net->impl = d;
    net->forward = px_forward;
    net->free_impl = px_free;
    os_rng r;
    os_rng_seed(&r, o->seed);
    int *w = d->widths;
    conv_init(net, &r, &d->stem, "stem", o->in_c, w[0], 3, down[0] ? 2 : 1, 1, 1);
    conv_init(net, &r, &d->first_dw, "first.dw", w[0], w[0], 3, down[1] ? 2 : 1, w[0], 1);
    conv_init(net, &r, &d->first_pw, "first.pw", w[0], w[1], 1, 1, 1, 0);
    d->first_skip = !down[1] && w[0] == w[1];
    char nm[96], label[OS_LABEL_MAX];
    for (int s = 2; s <= 7; s++) {
        px_stage *st = &d->st[s - 2];
        st->depth_choice = -1;
        st->n_blocks = d->search ? (s < 7 ? maxd : 1) : depth[s - 2];
        st->depth = depth[s - 2];
        if (d->search && s < 7 && maxd > 1) {
            snprintf(label, sizeof label, "s%d_depth", s);
            st->depth_choice = os_net_layer_choice(net, &r, label, maxd, px_depths);
        }
        for (int j = 0; j < st->n_blocks; j++) {
            px_block *b = &st->blocks[j];
            int cin = j ? w[s] : w[s - 1], stride = (j == 0 && down[s]) ? 2 : 1;
            if (d->search) {
                snprintf(label, sizeof label, "s%d_i%d", s, j);
                b->choice = os_net_layer_choice(net, &r, label, PX_CANDS, px_names);
                if (j > 0)
                    os_net_choice_gate(net, b->choice, st->depth_choice, j);
                for (int k = 0; k < PX_CANDS; k++) {
                    snprintf(nm, sizeof nm, "s%d.i%d.%s", s, j, px_names[k]);
                    mb_init(net, &r, &b->cand[k], nm, cin, w[s], px_k[k], px_e[k], stride);
                }
            } else {
                int k = op[s - 2][j];
                snprintf(nm, sizeof nm, "s%d.i%d", s, j);
                mb_init(net, &r, &b->cand[0], nm, cin, w[s], px_k[k], px_e[k], stride);
            }
        }
    }
    conv_init(net, &r, &d->head, "head", w[7], w[8], 1, 1, 1, 1);
    int sf[2] = {o->num_classes, w[8]};
    d->fc_w = os_net_weight(net, &r, "classifier.weight", 2, sf, w[8]);
    d->fc_b = os_net_bias(net, &r, "classifier.bias", o->num_classes, w[8]);
    return 0;
}

/* The strongest candidate (weights) or the decided one; -1 if neither. */
static int pick(const os_arch_choice *c)
{
    if (!c->has_weights)
        return os_arch_chosen_one(c);
    int best = 0;
    for (int k = 1; k < c->n; k++)
        if (c->w[k] > c->w[best])
            best = k;
    return best;
}

/* per stage the strongest depth (no depth choice: 1), per running block its strongest op */
static int px_derive(const os_arch *sup, const os_derive_opts *o, os_arch *child)
{
    (void)o;
    os_arch_init(child, "proxyless");
    px_template(child);
    for (int i = 0; i < child->n; i++) {
        os_arch_choice *c = &child->c[i];
        if (os_arch_gated_off(child, i))
            continue;
        int si = os_arch_find(sup, c->label);
        int is_depth = strstr(c->label, "_depth") != NULL;
        if (si < 0 && is_depth) {
            c->chosen = 1u; /* a supernet of one block per stage */
            continue;
        }
        int k = si < 0 ? -1 : pick(&sup->c[si]);
        if (k >= 0)
            k = os_arch_name_index(c, sup->c[si].names[k]);
        if (k < 0) {
            os_arch_free(child);
            return os_error("proxyless: choice '%s' is missing, or neither weighted nor decided, in the supernet "
                            "architecture", c->label);
        }
        c->chosen = 1u << k;
    }
    return 0;
}

/* NNI's dict; its published ones carry "s7_depth": 1, which NNI's space
 * does not have: accepted when it is 1. */
static int px_from_nni(const cJSON *dict, os_arch *child)
{
    if (!cJSON_IsObject(dict))
        return os_arch_from_nni(child, dict, NULL);
    const cJSON *d7 = cJSON_GetObjectItemCaseSensitive(dict, "s7_depth");
    if (!d7)
        return os_arch_from_nni(child, dict, NULL);
    if (!((cJSON_IsNumber(d7) && d7->valuedouble == 1.0) || (cJSON_IsString(d7) && !strcmp(d7->valuestring, "1"))))
        return os_error("architecture: key 's7_depth' must be 1 (stage 7 has one block)");
    cJSON *copy = cJSON_Duplicate(dict, 1);
    cJSON_DeleteItemFromObjectCaseSensitive(copy, "s7_depth");
    int rc = os_arch_from_nni(child, copy, NULL);
    cJSON_Delete(copy);
    return rc;
}

/* NNI's published architectures (typed in as data from proxylessnas.py) */
static const char *const px_named[] = {"acenas-m1", "acenas-m2", NULL};
static const char *const px_named_json[] = {
    "{\"s2_depth\": 2, \"s2_i0\": \"k3e6\", \"s2_i1\": \"k3e3\", \"s3_depth\": 3, \"s3_i0\": \"k5e3\", "
    "\"s3_i1\": \"k3e3\", \"s3_i2\": \"k5e3\", \"s4_depth\": 2, \"s4_i0\": \"k3e6\", \"s4_i1\": \"k5e3\", "
    "\"s5_depth\": 4, \"s5_i0\": \"k7e6\", \"s5_i1\": \"k3e6\", \"s5_i2\": \"k3e6\", \"s5_i3\": \"k7e3\", "
    "\"s6_depth\": 4, \"s6_i0\": \"k7e6\", \"s6_i1\": \"k7e6\", \"s6_i2\": \"k7e3\", \"s6_i3\": \"k7e3\", "
    "\"s7_depth\": 1, \"s7_i0\": \"k7e6\"}",
    "{\"s2_depth\": 1, \"s2_i0\": \"k5e3\", \"s3_depth\": 3, \"s3_i0\": \"k3e6\", \"s3_i1\": \"k3e3\", "
    "\"s3_i2\": \"k5e3\", \"s4_depth\": 2, \"s4_i0\": \"k7e6\", \"s4_i1\": \"k5e6\", \"s5_depth\": 4, "
    "\"s5_i0\": \"k5e6\", \"s5_i1\": \"k5e3\", \"s5_i2\": \"k5e6\", \"s5_i3\": \"k3e6\", \"s6_depth\": 4, "
    "\"s6_i0\": \"k7e6\", \"s6_i1\": \"k5e6\", \"s6_i2\": \"k5e3\", \"s6_i3\": \"k5e6\", \"s7_depth\": 1, "
    "\"s7_i0\": \"k7e6\"}",
};

static int px_parse(const char *s, os_arch *child)
{
    for (int i = 0; px_named[i]; i++)
        if (!strcmp(s, px_named[i])) {
            cJSON *j = cJSON_Parse(px_named_json[i]);
            os_arch_init(child, "proxyless");
            px_template(child);
            int rc = px_from_nni(j, child);
            cJSON_Delete(j);
            if (rc)
                os_arch_free(child);
            return rc ? -1 : 0;
        }
    return 1;
}

const os_space os_space_proxyless = {
    .name = "proxyless",
    .summary = "ProxylessNAS (NNI's layout): MBConv k3/5/7 x e3/6 per block, depth 1..4 per stage; "
               "ImageNet and small-input variants",
    .build = px_build,
    .child_template = px_template,
    .derive = px_derive,
    .parse = px_parse,
    .from_nni = px_from_nni,
    .named = px_named,
};
