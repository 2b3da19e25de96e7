/* supernet/spaces/nb201.c — the NAS-Bench-201 cell space (REFERENCE.md §4).
 *
 * Cell: nodes 0..3, node j sums an op on every earlier node i (6 edges, choice
 * labels "cell/{i}_{j}" as NNI 3.0 names them, one alpha per edge shared by
 * all cells), output node 3. Ops, with NNI's names: none, skip_connect,
 * conv_1x1, conv_3x3, avg_pool_3x3 (convs are ReLU-Conv-BN); the benchmark's
 * own strings call the convs nor_conv_1x1 / nor_conv_3x3. Skeleton: 3x3 stem to C + BN;
 * `cells` cells at C; residual block to 2C; cells at 2C; residual block to 4C;
 * cells at 4C; BN, ReLU, global average pool, linear. Defaults C=16, 5 cells.
 * Architecture string (benchmark notation): |op~0|+|op~0|op~1|+|op~0|op~1|op~2|.
 * The supernet form and the child form of an architecture are the same
 * labels (supernet/arch.h).
 */
#include "supernet/arch.h"
#include "supernet/darts_ops.h"
#include "supernet/spaces/spaces.h"
#include "ops/ops.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { NB_NONE, NB_SKIP, NB_CONV1, NB_CONV3, NB_AVG, NB_NUM_OPS };
/* the benchmark's names (arch strings) and NNI's (labels, arch.json) */
static const char *const nb_names[NB_NUM_OPS] = {"none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3"};
static const char *const nni_names[NB_NUM_OPS] = {"none", "skip_connect", "conv_1x1", "conv_3x3", "avg_pool_3x3"};
#define NB_EDGES 6

static int nb_edge(int j, int i) { return j * (j - 1) / 2 + i; } /* j in 1..3, i < j */

typedef struct {
    int kind;
    os_relu_conv_bn conv;
} nb_op;

typedef struct {
    nb_op ops[NB_NUM_OPS]; /* search: all; child: ops[0] is the chosen one */
    int choice;
} nb_edge_t;

typedef struct {
    nb_edge_t edges[NB_EDGES];
} nb_cell;

typedef struct {
    os_relu_conv_bn a, b;
    os_tensor *short_w;
} nb_res;

typedef struct {
    int search, per_stage, C;
    int fixed[NB_EDGES];
    os_tensor *stem_w;
    os_bn stem_bn, last_bn;
    nb_cell *cells;       /* 3 * per_stage */
    nb_res res[2];
    os_tensor *fc_w, *fc_b;
} nb_net;

static void op_init(os_net *net, os_rng *r, nb_op *op, const char *name, int kind, int C, int affine)
{
    op->kind = kind;
    if (kind == NB_CONV1)
        os_rcb_init(net, r, &op->conv, name, C, C, 1, 1, 0, affine);
    else if (kind == NB_CONV3)
        os_rcb_init(net, r, &op->conv, name, C, C, 3, 1, 1, affine);
}

static os_tensor *op_forward(nb_op *op, os_tensor *x, const os_forward_ctx *ctx)
{
    switch (op->kind) {
    case NB_NONE: return os_zero(x, 1);
    case NB_SKIP: return x;
    case NB_AVG: return os_avg_pool2d(x, 3, 1, 1);
    default: return os_rcb_forward(&op->conv, x, ctx);
    }
}

static os_tensor *run_candidate(void *self, int i, os_tensor *x, const os_forward_ctx *ctx)
{
    return op_forward(&((nb_edge_t *)self)->ops[i], x, ctx);
}

static os_tensor *nb_forward(os_net *net, os_tensor *x, const os_forward_ctx *ctx, os_tensor **aux)
{
    nb_net *d = net->impl;
    if (x->ndim != 4 || x->shape[1] != net->in_c || x->shape[2] != net->in_h || x->shape[3] != net->in_w)
        os_fatal("nb201: input %s does not match the network's [N,%d,%d,%d]", os_shape_str(x),
                 net->in_c, net->in_h, net->in_w);
    if (aux)
        *aux = NULL;
    os_net_begin_forward(net, ctx);
    os_tensor *h = os_bn_forward(&d->stem_bn, os_conv2d(x, d->stem_w, NULL, 1, 1, 1, 1), ctx);
    for (int s = 0; s < 3; s++) {
        if (s > 0) {
            nb_res *rb = &d->res[s - 1];
            os_tensor *y = os_rcb_forward(&rb->b, os_rcb_forward(&rb->a, h, ctx), ctx);
            os_tensor *sc = os_conv2d(os_avg_pool2d(h, 2, 2, 0), rb->short_w, NULL, 1, 0, 1, 1);
            h = os_add(y, sc);
        }
        for (int c = 0; c < d->per_stage; c++) {
            nb_cell *cell = &d->cells[s * d->per_stage + c];
            os_tensor *node[4] = {h};
            for (int j = 1; j < 4; j++) {
                os_tensor *terms[3];
                int nt = 0;
                for (int i = 0; i < j; i++) {
                    nb_edge_t *e = &cell->edges[nb_edge(j, i)];
                    /* an edge that runs only `none` adds zero: left out (single
                     * paths), unless the node would have no term at all */
                    if (d->search && os_layer_choice_is_zero(net, e->choice) && (nt > 0 || i < j - 1))
                        continue;
                    terms[nt++] = d->search ? os_layer_choice_forward(net, e->choice, run_candidate, e, node[i], ctx)
                                            : op_forward(&e->ops[0], node[i], ctx);
                }
                node[j] = os_sum_n(nt, terms);
            }
            h = node[3];
        }
    }
    h = os_relu(os_bn_forward(&d->last_bn, h, ctx));
    return os_linear(os_global_avg_pool(h), d->fc_w, d->fc_b);
}

static void nb_free(os_net *net)
{
    nb_net *d = net->impl;
    if (d) {
        free(d->cells);
        free(d);
    }
    net->impl = NULL;
}

/* "|nor_conv_3x3~0|+|none~0|skip_connect~1|+|...~0|...~1|...~2|" -> fixed[6] */
static int parse_arch_str(const char *s, int *fixed)
{
    const char *p = s;
    for (int j = 1; j < 4; j++) {
        if (j > 1) {
            if (strncmp(p, "+", 1))
                return os_error("nb201 arch string '%s': expected '+' before node %d", s, j);
            p++;
        }
        for (int i = 0; i < j; i++) {
            if (*p != '|')
                return os_error("nb201 arch string '%s': expected '|' at offset %ld", s, (long)(p - s));
            p++;
            const char *t = strchr(p, '~');
            if (!t)
                return os_error("nb201 arch string '%s': missing '~' for edge cell/%d_%d", s, i, j);
            int k = -1;
            for (int o = 0; o < NB_NUM_OPS; o++)
                if ((size_t)(t - p) == strlen(nb_names[o]) && !strncmp(p, nb_names[o], (size_t)(t - p)))
                    k = o;
            if (k < 0)
                return os_error("nb201 arch string: unknown op '%.*s' on edge cell/%d_%d (ops: none, skip_connect, "
                                "nor_conv_1x1, nor_conv_3x3, avg_pool_3x3)", (int)(t - p), p, i, j);
            char *end;
            long src = strtol(t + 1, &end, 10);
            if (end == t + 1 || *end != '|')
                return os_error("nb201 arch string '%s': edge cell/%d_%d: expected ~<input>| after '%.*s'", s, i, j,
                                (int)(t - p), p);
            if (src != i)
                return os_error("nb201 arch string: edge cell/%d_%d names input %ld", i, j, src);
            fixed[nb_edge(j, i)] = k;
            p = end;
        }
        p++;
    }
    if (*p)
        return os_error("nb201 arch string '%s': unexpected text after the last node: '%s'", s, p);
    return 0;
}

static void edge_label(int j, int i, char *label, size_t n) { snprintf(label, n, "cell/%d_%d", i, j); }

/* the chosen op of every edge of a child-form architecture */
static int fixed_of(const os_arch *a, int *fixed)
{
    for (int j = 1; j < 4; j++)
        for (int i = 0; i < j; i++) {
            char label[OS_LABEL_MAX];
            edge_label(j, i, label, sizeof label);
            int ci = os_arch_find(a, label);
            int k = ci < 0 ? -1 : os_arch_chosen_one(&a->c[ci]);
            if (ci < 0 || a->c[ci].n != NB_NUM_OPS || k < 0 || a->c[ci].chosen != 1u << k)
                return os_error("nb201: the architecture has no single op for '%s'", label);
            fixed[nb_edge(j, i)] = k;
        }
    return 0;
}

static void res_init(os_net *net, os_rng *r, nb_res *rb, const char *name, int cin, int cout, int affine)
{
    char nm[64];
    snprintf(nm, sizeof nm, "%s.a", name);
    os_rcb_init(net, r, &rb->a, nm, cin, cout, 3, 2, 1, affine);
    snprintf(nm, sizeof nm, "%s.b", name);
    os_rcb_init(net, r, &rb->b, nm, cout, cout, 3, 1, 1, affine);
    snprintf(nm, sizeof nm, "%s.shortcut", name);
    int s[4] = {cout, cin, 1, 1};
    rb->short_w = os_net_weight(net, r, nm, 4, s, cin);
}

static int nb_build(os_net *net, const os_space_opts *o)
{
    nb_net *d = calloc(1, sizeof *d);
    d->search = o->arch == NULL;
    if (!d->search && fixed_of(o->arch, d->fixed)) {
        free(d);
        return -1;
    }
    d->per_stage = o->cells ? o->cells : 5;
    d->C = o->channels ? o->channels : 16;
    if (d->per_stage < 1 || d->C < 1 || o->in_h % 4 || o->in_w % 4) {
        free(d);
        return os_error("nb201: needs cells >= 1, channels >= 1 and an input size divisible by 4");
    }
    os_net_init(net, "nb201", o->in_c, o->in_h, o->in_w, o->num_classes);
    net->cells = d->per_stage;
    net->channels = d->C;
    net->bn_batch_stats = d->search && o->bn_batch_stats; /* NAS-Bench-201's search: track_running_stats=False */
    net->impl = d;
    net->forward = nb_forward;
    net->free_impl = nb_free;
    os_rng r;
    os_rng_seed(&r, o->seed);
    int affine = !d->search, C = d->C;
    int sw[4] = {C, o->in_c, 3, 3};
    d->stem_w = os_net_weight(net, &r, "stem.conv", 4, sw, o->in_c * 9L);
    os_bn_init(net, &d->stem_bn, "stem.bn", C, 1);
    d->cells = calloc((size_t)(3 * d->per_stage), sizeof *d->cells);
    for (int s = 0; s < 3; s++) {
        int Cs = C << s;
        char nm[48];
        if (s > 0) {
            snprintf(nm, sizeof nm, "res%d", s);
            res_init(net, &r, &d->res[s - 1], nm, Cs / 2, Cs, 1);
        }
        for (int c = 0; c < d->per_stage; c++) {
            nb_cell *cell = &d->cells[s * d->per_stage + c];
            for (int j = 1; j < 4; j++)
                for (int i = 0; i < j; i++) {
                    nb_edge_t *e = &cell->edges[nb_edge(j, i)];
                    if (d->search) {
                        char label[OS_LABEL_MAX];
                        edge_label(j, i, label, sizeof label);
                        e->choice = os_net_layer_choice(net, &r, label, NB_NUM_OPS, nni_names);
                        for (int k = 0; k < NB_NUM_OPS; k++) {
                            snprintf(nm, sizeof nm, "cells.%d.e%d_%d.%d", s * d->per_stage + c, j, i, k);
                            op_init(net, &r, &e->ops[k], nm, k, Cs, affine);
                        }
                    } else {
                        snprintf(nm, sizeof nm, "cells.%d.e%d_%d", s * d->per_stage + c, j, i);
                        op_init(net, &r, &e->ops[0], nm, d->fixed[nb_edge(j, i)], Cs, affine);
                    }
                }
        }
    }
    os_bn_init(net, &d->last_bn, "lastact.bn", 4 * C, 1);
    int sf[2] = {o->num_classes, 4 * C};
    d->fc_w = os_net_weight(net, &r, "classifier.weight", 2, sf, 4 * C);
    d->fc_b = os_net_bias(net, &r, "classifier.bias", o->num_classes, 4 * C);
    return 0;
}

/* ---- architectures -------------------------------------------------------------- */
static void nb_template(os_arch *a)
{
    for (int j = 1; j < 4; j++)
        for (int i = 0; i < j; i++) {
            char label[OS_LABEL_MAX];
            edge_label(j, i, label, sizeof label);
            os_arch_add(a, label, OS_CHOICE_LAYER, NB_NUM_OPS, 1, nni_names);
        }
}

/* The skip cap (o->max_skip >= 0): when more edges than that chose
 * skip_connect, the ones with the strongest skip weight keep it (ties: the
 * first edge) and the others take their strongest other op. */
static int cap_skips(const os_arch *sup, const os_arch *child, int max_skip, int *best)
{
    int n_skip = 0;
    for (int e = 0; e < NB_EDGES; e++)
        n_skip += best[e] == NB_SKIP;
    while (n_skip > max_skip) {
        int drop = -1;
        float wd = 0;
        for (int e = 0; e < NB_EDGES; e++) {
            if (best[e] != NB_SKIP)
                continue;
            const os_arch_choice *c = &sup->c[os_arch_find(sup, child->c[e].label)];
            if (!c->has_weights)
                return os_error("nb201: --max-skip needs choice weights (a differentiable strategy's), but '%s' "
                                "has only a decided op", c->label);
            if (drop < 0 || c->w[NB_SKIP] <= wd) /* the weakest; ties: the later edge goes */
                drop = e, wd = c->w[NB_SKIP];
        }
        const os_arch_choice *c = &sup->c[os_arch_find(sup, child->c[drop].label)];
        int k2 = -1;
        for (int k = 0; k < NB_NUM_OPS; k++)
            if (k != NB_SKIP && (k2 < 0 || c->w[k] > c->w[k2]))
                k2 = k;
        best[drop] = k2;
        n_skip--;
    }
    return 0;
}

/* per edge the strongest op (ties: the first), or the decided one; then
 * the skip cap */
static int nb_derive(const os_arch *sup, const os_derive_opts *o, os_arch *child)
{
    os_arch_init(child, "nb201");
    nb_template(child);
    int best[NB_EDGES];
    for (int e = 0; e < child->n; e++) {
        int ci = os_arch_find(sup, child->c[e].label);
        if (ci < 0 || sup->c[ci].n != NB_NUM_OPS) {
            os_arch_free(child);
            return os_error("nb201: the supernet architecture lacks choice '%s'", child->c[e].label);
        }
        const os_arch_choice *c = &sup->c[ci];
        best[e] = os_arch_chosen_one(c);
        if (c->has_weights) {
            best[e] = 0;
            for (int k = 1; k < NB_NUM_OPS; k++)
                if (c->w[k] > c->w[best[e]])
                    best[e] = k;
        }
        if (best[e] < 0) {
            os_arch_free(child);
            return os_error("nb201: choice '%s' is neither weighted nor decided", c->label);
        }
    }
    if (o && o->max_skip >= 0 && cap_skips(sup, child, o->max_skip, best)) {
        os_arch_free(child);
        return -1;
    }
    for (int e = 0; e < child->n; e++)
        child->c[e].chosen = 1u << best[e];
    return 0;
}

/* "|nor_conv_3x3~0|+|none~0|skip_connect~1|+|...~0|...~1|...~2|" (1 = not an arch string) */
static int nb_parse(const char *s, os_arch *child)
{
    if (s[0] != '|')
        return 1;
    int fixed[NB_EDGES];
    if (parse_arch_str(s, fixed))
        return -1;
    os_arch_init(child, "nb201");
    nb_template(child);
    for (int j = 1, e = 0; j < 4; j++)
        for (int i = 0; i < j; i++)
            child->c[e++].chosen = 1u << fixed[nb_edge(j, i)];
    return 0;
}

static void nb_describe(const os_arch *child, cJSON *root)
{
    int fixed[NB_EDGES];
    if (fixed_of(child, fixed))
        return;
    char str[256];
    int o = 0;
    for (int j = 1; j < 4; j++) {
        o += snprintf(str + o, sizeof str - o, "%s|", j > 1 ? "+" : "");
        for (int i = 0; i < j; i++)
            o += snprintf(str + o, sizeof str - o, "%s~%d|", nb_names[fixed[nb_edge(j, i)]], i);
    }
    cJSON_AddStringToObject(root, "arch_str", str);
}

const os_space os_space_nb201 = {
    .name = "nb201",
    .summary = "NAS-Bench-201 cell space: 5 ops x 6 edges, 15,625 architectures",
    .features = OS_SPACE_MAX_SKIP | OS_SPACE_BN_BATCH_STATS,
    .build = nb_build,
    .child_template = nb_template,
    .derive = nb_derive,
    .parse = nb_parse,
    .describe = nb_describe,
};
