/* supernet/spaces/cifar_cell.c — the DARTS cell space (REFERENCE.md §2).
 *
 * Supernet: stem (3x3 conv to 3C, affine BN), `cells` cells (reductions at
 * cells/3 and 2*cells/3, channels doubling there), each cell: preprocess the
 * two inputs, 4 nodes summing a mixed op on every earlier node (14 edges,
 * choice labels "normal/edge_<node>_<input>" / "reduce/edge_<node>_<input>",
 * alpha shared by all cells of a type), concat of nodes 2..5; global average
 * pool, linear. BNs inside cells are affine-free during the search.
 *
 * Child (an exported genotype): the same skeleton with the chosen two ops per
 * node, affine BNs, drop-path on every non-identity op, and optionally the
 * DARTS auxiliary head after the cell at 2*cells/3.
 */
#include "supernet/arch.h"
#include "supernet/darts_ops.h"
#include "supernet/genotype.h"
#include "supernet/spaces/spaces.h"
#include "ops/ops.h"
#include "tensor/arena.h"

#include <cjson/cJSON.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    os_darts_op ops[DARTS_NUM_OPS];
    int choice;
} mixed_edge;

typedef struct {
    int reduction, reduction_prev, C;
    os_relu_conv_bn pre0_rcb, pre1;
    os_fact_reduce pre0_fr;
    mixed_edge *edges;          /* search: 14 */
    os_darts_op child_ops[8];   /* child: 2 per node */
    int child_in[8];
} cell;

typedef struct {
    os_tensor *conv1, *conv2, *fc_w, *fc_b;
    os_bn bn1, bn2;
    int pool_k, conv2_k, feat;
} aux_head;

typedef struct {
    int search, n_cells, C;
    os_tensor *stem_w;
    os_bn stem_bn;
    cell *cells;
    os_tensor *fc_w, *fc_b;
    int aux_after;              /* cell index, -1 = none */
    aux_head aux;
    os_genotype geno;
    int drop_counter;
} darts_net;

static int genotype_of(const os_arch *a, os_genotype *g);

/* ---- construction ------------------------------------------------------------ */
static void cell_init(os_net *net, os_rng *r, darts_net *d, cell *c, int idx, int Cpp, int Cp, int C,
                      int reduction, int reduction_prev)
{
    char nm[48];
    int affine = !d->search;
    c->reduction = reduction;
    c->reduction_prev = reduction_prev;
    c->C = C;
    snprintf(nm, sizeof nm, "cells.%d.pre0", idx);
    if (reduction_prev)
        os_fr_init(net, r, &c->pre0_fr, nm, Cpp, C, affine);
    else
        os_rcb_init(net, r, &c->pre0_rcb, nm, Cpp, C, 1, 1, 0, affine);
    snprintf(nm, sizeof nm, "cells.%d.pre1", idx);
    os_rcb_init(net, r, &c->pre1, nm, Cp, C, 1, 1, 0, affine);
    const char *type = os_cell_type_names[reduction];
    if (d->search) {
        c->edges = calloc(OS_CELL_EDGES, sizeof *c->edges);
        for (int node = 2; node < 2 + OS_CELL_NODES; node++)
            for (int j = 0; j < node; j++) {
                mixed_edge *e = &c->edges[os_cell_edge(node, j)];
                int stride = reduction && j < 2 ? 2 : 1;
                char label[OS_LABEL_MAX];
                snprintf(label, sizeof label, "%s/edge_%d_%d", type, node, j);
                e->choice = os_net_layer_choice(net, r, label, DARTS_NUM_OPS, os_darts_op_names);
                for (int k = 0; k < DARTS_NUM_OPS; k++) {
                    snprintf(nm, sizeof nm, "cells.%d.e%d_%d.%d", idx, node, j, k);
                    os_darts_op_init(net, r, &e->ops[k], nm, k, C, stride, 1);
                }
            }
    } else {
        for (int i = 0; i < 8; i++) {
            int in = d->geno.in[reduction][i];
            int stride = reduction && in < 2 ? 2 : 1;
            snprintf(nm, sizeof nm, "cells.%d.op%d", idx, i);
            os_darts_op_init(net, r, &c->child_ops[i], nm, d->geno.op[reduction][i], C, stride, 0);
            c->child_in[i] = in;
        }
    }
}

static void aux_init(os_net *net, os_rng *r, aux_head *a, int C, int hw, int classes)
{
    /* DARTS AuxiliaryHeadCIFAR: ReLU, AvgPool 5 s3, 1x1 conv 128, BN, ReLU,
     * 2x2 conv 768, BN, ReLU, linear. Small inputs (e.g. 28x28 -> 7x7 here)
     * shrink the pool and the second conv so the head still fits. */
    a->pool_k = hw >= 5 ? 5 : hw;
    int ph = (hw - a->pool_k) / 3 + 1;
    a->conv2_k = ph >= 2 ? 2 : 1;
    int oh = ph - a->conv2_k + 1;
    int s1[4] = {128, C, 1, 1}, s2[4] = {768, 128, a->conv2_k, a->conv2_k};
    a->conv1 = os_net_weight(net, r, "aux.conv1", 4, s1, C);
    os_bn_init(net, &a->bn1, "aux.bn1", 128, 1);
    a->conv2 = os_net_weight(net, r, "aux.conv2", 4, s2, 128L * a->conv2_k * a->conv2_k);
    os_bn_init(net, &a->bn2, "aux.bn2", 768, 1);
    a->feat = 768 * oh * oh;
    int sf[2] = {classes, a->feat};
    a->fc_w = os_net_weight(net, r, "aux.fc.weight", 2, sf, a->feat);
    a->fc_b = os_net_bias(net, r, "aux.fc.bias", classes, a->feat);
}

static os_tensor *aux_forward(aux_head *a, os_tensor *x, const os_forward_ctx *ctx)
{
    os_tensor *y = os_avg_pool2d(os_relu(x), a->pool_k, 3, 0);
    y = os_relu(os_bn_forward(&a->bn1, os_conv2d(y, a->conv1, NULL, 1, 0, 1, 1), ctx));
    y = os_relu(os_bn_forward(&a->bn2, os_conv2d(y, a->conv2, NULL, 1, 0, 1, 1), ctx));
    return os_linear(os_flatten(y), a->fc_w, a->fc_b);
}

/* ---- forward -------------------------------------------------------------------- */
typedef struct {
    mixed_edge *e;
    os_tensor *xr; /* relu(x), shared by the edge's candidates */
    int shared;    /* more than one candidate runs: keep xr for all of them */
} edge_run;

static os_tensor *run_candidate(void *self, int i, os_tensor *x, const os_forward_ctx *ctx)
{
    edge_run *er = self;
    os_darts_op *op = &er->e->ops[i];
    if (er->shared && !er->xr && os_darts_op_starts_with_relu(op->kind, op->stride))
        er->xr = os_relu(x);
    return os_darts_op_forward(op, x, er->xr, ctx);
}

/* the seed of the next drop-path mask of this forward (per-sample keep /
 * (1 - p), drawn on the device by DROPPATH_MASK) */
static uint64_t drop_path_seed(darts_net *d, const os_forward_ctx *ctx)
{
    uint64_t call = (uint64_t)d->drop_counter++;
    return ctx->step_seed ^ (call << 20);
}

static os_tensor *cell_forward(os_net *net, darts_net *d, cell *c, os_tensor *s0, os_tensor *s1,
                               const os_forward_ctx *ctx)
{
    os_tensor *st[2 + OS_CELL_NODES];
    st[0] = c->reduction_prev ? os_fr_forward(&c->pre0_fr, s0, NULL, ctx) : os_rcb_forward(&c->pre0_rcb, s0, ctx);
    st[1] = os_rcb_forward(&c->pre1, s1, ctx);
    for (int node = 2; node < 2 + OS_CELL_NODES; node++) {
        os_tensor *terms[2 + OS_CELL_NODES];
        int nt = 0;
        if (d->search) {
            for (int j = 0; j < node; j++) {
                mixed_edge *e = &c->edges[os_cell_edge(node, j)];
                /* an edge that runs only `none` adds zero: left out (single
                 * paths), unless the node would have no term at all */
                if (os_layer_choice_is_zero(net, e->choice) && (nt > 0 || j < node - 1))
                    continue;
                edge_run er = {e, NULL, os_layer_choice_active(net, e->choice) > 1};
                terms[nt++] = os_layer_choice_forward(net, e->choice, run_candidate, &er, st[j], ctx);
            }
        } else {
            /* drop-path on every term but an identity, fused into the sum */
            float p[2] = {0, 0};
            uint64_t seed[2] = {0, 0};
            for (int k = 0; k < 2; k++) {
                int i = 2 * (node - 2) + k;
                os_darts_op *op = &c->child_ops[i];
                terms[nt] = os_darts_op_forward(op, st[c->child_in[i]], NULL, ctx);
                if (!(op->kind == DARTS_SKIP && op->stride == 1) && ctx->training && ctx->drop_path > 0.0f) {
                    p[nt] = ctx->drop_path;
                    seed[nt] = drop_path_seed(d, ctx);
                }
                nt++;
            }
            st[node] = os_sum_drop_path(nt, terms, p, seed);
            continue;
        }
        st[node] = os_sum_n(nt, terms);
    }
    return os_concat_channels(OS_CELL_NODES, st + 2);
}

static os_tensor *darts_forward(os_net *net, os_tensor *x, const os_forward_ctx *ctx, os_tensor **aux)
{
    darts_net *d = net->impl;
    if (x->ndim != 4 || x->shape[1] != net->in_c || x->shape[2] != net->in_h || x->shape[3] != net->in_w)
        os_fatal("cifar_cell: input %s does not match the network's [N,%d,%d,%d]", os_shape_str(x),
                 net->in_c, net->in_h, net->in_w);
    d->drop_counter = 0;
    if (aux)
        *aux = NULL;
    os_net_begin_forward(net, ctx);
    os_tensor *s0 = os_bn_forward(&d->stem_bn, os_conv2d(x, d->stem_w, NULL, 1, 1, 1, 1), ctx), *s1 = s0;
    for (int i = 0; i < d->n_cells; i++) {
        os_tensor *s2 = cell_forward(net, d, &d->cells[i], s0, s1, ctx);
        s0 = s1;
        s1 = s2;
        if (i == d->aux_after && aux && ctx->training)
            *aux = aux_forward(&d->aux, s1, ctx);
    }
    return os_linear(os_global_avg_pool(s1), d->fc_w, d->fc_b);
}

static void darts_free(os_net *net)
{
    darts_net *d = net->impl;
    if (!d)
        return;
    for (int i = 0; i < d->n_cells; i++)
        free(d->cells[i].edges);
    free(d->cells);
    free(d);
    net->impl = NULL;
}

static int cifar_cell_build(os_net *net, const os_space_opts *o)
{
    darts_net *d = calloc(1, sizeof *d);
    d->search = o->arch == NULL;
    if (!d->search && genotype_of(o->arch, &d->geno)) {
        free(d);
        return -1;
    }
    d->n_cells = o->cells ? o->cells : (d->search ? 8 : 20);
    d->C = o->channels ? o->channels : (d->search ? 16 : 36);
    int bad = d->n_cells < 3 ? os_error("cifar_cell: --cells must be at least 3 (got %d)", d->n_cells)
            : d->C < 1 ? os_error("cifar_cell: --channels must be positive (got %d)", d->C)
            : (o->in_h % 4 || o->in_w % 4)
                ? os_error("cifar_cell: input %dx%d must be divisible by 4 (two reductions)", o->in_h, o->in_w)
                : 0;
    if (bad) {
        free(d);
        return -1;
    }
    os_net_init(net, "cifar_cell", o->in_c, o->in_h, o->in_w, o->num_classes);
    net->cells = d->n_cells;
    net->channels = d->C;
    net->impl = d;
    net->forward = darts_forward;
    net->free_impl = darts_free;
    os_rng r;
    os_rng_seed(&r, o->seed);

    int C = d->C, Cc = 3 * C;
    int sw[4] = {Cc, o->in_c, 3, 3};
    d->stem_w = os_net_weight(net, &r, "stem.conv", 4, sw, o->in_c * 9L);
    os_bn_init(net, &d->stem_bn, "stem.bn", Cc, 1);
    int Cpp = Cc, Cp = Cc, Ccur = C, red_prev = 0, hw = o->in_h;
    d->cells = calloc((size_t)d->n_cells, sizeof *d->cells);
    d->aux_after = (!d->search && o->auxiliary) ? 2 * d->n_cells / 3 : -1;
    for (int i = 0; i < d->n_cells; i++) {
        int red = i == d->n_cells / 3 || i == 2 * d->n_cells / 3;
        if (red) {
            Ccur *= 2;
            hw /= 2;
        }
        cell_init(net, &r, d, &d->cells[i], i, Cpp, Cp, Ccur, red, red_prev);
        red_prev = red;
        Cpp = Cp;
        Cp = OS_CELL_NODES * Ccur;
        if (i == d->aux_after)
            aux_init(net, &r, &d->aux, Cp, hw, o->num_classes);
    }
    int sf[2] = {o->num_classes, Cp};
    d->fc_w = os_net_weight(net, &r, "classifier.weight", 2, sf, Cp);
    d->fc_b = os_net_bias(net, &r, "classifier.bias", o->num_classes, Cp);
    return 0;
}

/* ---- architectures: the child form is NNI's (T/op_N_K, T/input_N_K) ---------------- */
static void cifar_cell_template(os_arch *a)
{
    char label[OS_LABEL_MAX];
    for (int t = 0; t < 2; t++)
        for (int node = 2; node < 2 + OS_CELL_NODES; node++)
            for (int k = 0; k < 2; k++) {
                snprintf(label, sizeof label, "%s/op_%d_%d", os_cell_type_names[t], node, k);
                os_arch_add(a, label, OS_CHOICE_LAYER, DARTS_NUM_OPS, 1, os_darts_op_names);
                snprintf(label, sizeof label, "%s/input_%d_%d", os_cell_type_names[t], node, k);
                os_arch_add(a, label, OS_CHOICE_INPUT, node, 1, NULL);
            }
}

static void arch_of_genotype(const os_genotype *g, os_arch *a)
{
    os_arch_init(a, "cifar_cell");
    cifar_cell_template(a);
    for (int t = 0, e = 0; t < 2; t++)
        for (int i = 0; i < 2 * OS_CELL_NODES; i++) {
            a->c[e++].chosen = 1u << g->op[t][i];
            a->c[e++].chosen = 1u << g->in[t][i];
        }
}

/* the child form back into a genotype (any os_arch: from a file, the API, derive) */
static int genotype_of(const os_arch *a, os_genotype *g)
{
    char label[OS_LABEL_MAX];
    for (int t = 0; t < 2; t++)
        for (int node = 2; node < 2 + OS_CELL_NODES; node++)
            for (int k = 0; k < 2; k++) {
                int i = 2 * (node - 2) + k;
                snprintf(label, sizeof label, "%s/op_%d_%d", os_cell_type_names[t], node, k);
                int ci = os_arch_find(a, label);
                int op = ci < 0 ? -1 : os_arch_chosen_one(&a->c[ci]);
                if (ci < 0 || a->c[ci].kind != OS_CHOICE_LAYER || op < 0 || op == DARTS_NONE ||
                    a->c[ci].chosen != 1u << op)
                    return os_error("cifar_cell: the architecture has no single op other than none for '%s'", label);
                snprintf(label, sizeof label, "%s/input_%d_%d", os_cell_type_names[t], node, k);
                ci = os_arch_find(a, label);
                int in = ci < 0 ? -1 : os_arch_chosen_one(&a->c[ci]);
                if (ci < 0 || in < 0 || in >= node || a->c[ci].chosen != 1u << in)
                    return os_error("cifar_cell: the architecture has no single input in 0..%d for '%s'", node - 1,
                                    label);
                g->op[t][i] = op;
                g->in[t][i] = in;
            }
    return 0;
}

/* DARTS's rule (supernet/genotype.h) on the edges' weights; a decided path
 * (no weights) counts as one-hot weights. */
static int cifar_cell_derive(const os_arch *sup, const os_derive_opts *o, os_arch *child)
{
    float probs[2][OS_CELL_EDGES][8];
    for (int t = 0; t < 2; t++)
        for (int node = 2; node < 2 + OS_CELL_NODES; node++)
            for (int j = 0; j < node; j++) {
                char label[OS_LABEL_MAX];
                snprintf(label, sizeof label, "%s/edge_%d_%d", os_cell_type_names[t], node, j);
                int ci = os_arch_find(sup, label);
                if (ci < 0 || sup->c[ci].n != DARTS_NUM_OPS)
                    return os_error("cifar_cell: the supernet architecture lacks choice '%s'", label);
                const os_arch_choice *c = &sup->c[ci];
                if (!c->has_weights && !c->chosen)
                    return os_error("cifar_cell: choice '%s' is neither weighted nor decided", label);
                for (int k = 0; k < DARTS_NUM_OPS; k++)
                    probs[t][os_cell_edge(node, j)][k] = c->has_weights ? c->w[k] : (float)((c->chosen >> k) & 1u);
            }
    os_genotype g;
    os_genotype_derive((const float (*)[OS_CELL_EDGES][8])probs, o ? o->max_skip : -1, &g);
    arch_of_genotype(&g, child);
    return 0;
}

static int cifar_cell_parse(const char *s, os_arch *child)
{
    if (strcmp(s, "darts-v1") && strcmp(s, "darts-v2"))
        return 1;
    arch_of_genotype(!strcmp(s, "darts-v1") ? &os_darts_v1 : &os_darts_v2, child);
    return 0;
}

/* NNI's DARTS dicts: the cell labels, and `width` / `depth` when NNI's
 * default DARTS space sampled them (they size the child: os_arch.width). */
static int cifar_cell_from_nni(const cJSON *dict, os_arch *child)
{
    os_arch sizes = {0};
    cJSON *cells = os_arch_nds_sizes(dict, &sizes);
    if (!cells)
        return -1;
    os_genotype g;
    int rc = os_genotype_from_json(cells, &g);
    cJSON_Delete(cells);
    if (rc)
        return -1;
    os_arch_free(child);
    arch_of_genotype(&g, child);
    child->width = sizes.width;
    child->depth = sizes.depth;
    return 0;
}

static void cifar_cell_describe(const os_arch *child, cJSON *root)
{
    os_genotype g;
    if (genotype_of(child, &g))
        return;
    char text[1024];
    os_genotype_str(&g, text, sizeof text);
    cJSON_AddStringToObject(root, "genotype", text);
}

/* single-path search: of the edges into a node, two run an op, the others
 * none (a path is then a DARTS child: the node sums its two inputs' ops) */
static int cifar_cell_path_groups(const os_net *net, int *group, int *keep)
{
    for (int i = 0; i < net->n_choices; i++)
        group[i] = -1;
    int g = 0;
    for (int t = 0; t < 2; t++)
        for (int node = 2; node < 2 + OS_CELL_NODES; node++, g++) {
            keep[g] = 2;
            for (int j = 0; j < node; j++) {
                char label[OS_LABEL_MAX];
                snprintf(label, sizeof label, "%s/edge_%d_%d", os_cell_type_names[t], node, j);
                int ci = os_net_find_choice(net, label);
                if (ci >= 0)
                    group[ci] = g;
            }
        }
    return g;
}

static const char *const cifar_cell_named[] = {"darts-v1", "darts-v2", NULL};

const os_space os_space_cifar_cell = {
    .name = "cifar_cell",
    .summary = "DARTS cell space: 8 ops x 14 edges, normal + reduction cells",
    .features = OS_SPACE_AUX_HEAD | OS_SPACE_DROP_PATH | OS_SPACE_MAX_SKIP,
    .build = cifar_cell_build,
    .child_template = cifar_cell_template,
    .derive = cifar_cell_derive,
    .parse = cifar_cell_parse,
    .describe = cifar_cell_describe,
    .from_nni = cifar_cell_from_nni,
    .named = cifar_cell_named,
    .path_groups = cifar_cell_path_groups,
};
