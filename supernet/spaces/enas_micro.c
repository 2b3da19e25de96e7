/* supernet/spaces/enas_micro.c — NNI's ENAS cell space (REFERENCE.md §5,
 * §7b; nasnet.py `ENAS`, the ENAS code's src/cifar10/micro_child.py).
 *
 * Skeleton (NDS, as cifar_cell): stem 3x3 conv to 3C + BN; `cells` cells
 * (search default 8, child 20; reductions at cells/3 and 2*cells/3 where C
 * doubles); ReLU, global average pool, linear. Each cell has two inputs
 * (the previous two cells' outputs), preprocessed to C channels: a
 * factorized reduction when the input has twice the cell's resolution,
 * else ReLU-1x1 conv-BN. As in the ENAS code, a reduction cell reduces its
 * inputs that way first and every op then has stride 1 (NNI's NDS cell
 * instead gives the ops on the cell inputs stride 2).
 *
 * Nodes 2..6, each op(input) + op(input): per node i and slot k = 0, 1 an
 * input choice `<type>/input_{i}_{k}` (one of the nodes 0..i-1) and a layer
 * choice `<type>/op_{i}_{k}` over skip_connect, sep_conv_3x3, sep_conv_5x5,
 * avg_pool_3x3, max_pool_3x3 (<type> = normal | reduce; shared by every cell
 * of the type). These are NNI's labels: the supernet form IS the child form.
 * Op weights are per cell, node slot (i, k) and op, shared by whichever
 * input the slot takes. In the supernet src[j] of an input choice is the
 * choice `<type>/op_{j}_1` (the last decision producing node j), -1 for the
 * cell inputs 0 and 1.
 *
 * Cell output: the loose ends (nodes 2..6 that no input choice of the cell
 * takes). Supernet (ENAS `_enas_cell`): loose ends = nodes no ACTIVE input
 * of the cell's input choices takes in this forward (with a single path
 * the sampled child's loose ends; with every input active, as DARTS runs
 * it, only node 6); out = BN(1x1 conv over concat_j m_j ReLU(node_j)),
 * m_j = 1 for a loose end, 0 else: one [C, 5C] weight whose slice j serves
 * node j, so the cost does not depend on the path. Child (ENAS
 * `_fixed_cell`): BN(1x1 conv over concat of ReLU(loose ends)), L*C -> C.
 * Search BNs are affine-free (pools followed by BN), a child's affine, as in
 * cifar_cell (supernet/darts_ops.c). No drop-path, no auxiliary head.
 */
#include "supernet/arch.h"
#include "supernet/darts_ops.h"
#include "supernet/genotype.h"
#include "supernet/spaces/spaces.h"
#include "ops/ops.h"
#include "tensor/error.h"

#include <cjson/cJSON.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define U_NODES 5
#define U_SLOTS (2 * U_NODES)
#define U_STATES (2 + U_NODES)
enum { U_SKIP, U_SEP3, U_SEP5, U_AVG, U_MAX, U_NUM };
static const char *const micro_ops[U_NUM] = {"skip_connect", "sep_conv_3x3", "sep_conv_5x5", "avg_pool_3x3",
                                             "max_pool_3x3"};
static const int micro_kind[U_NUM] = {DARTS_SKIP, DARTS_SEP3, DARTS_SEP5, DARTS_AVG_POOL, DARTS_MAX_POOL};

typedef struct {
    int fr[2];                    /* preprocess input t with fr[t] factorized reductions
                                     (0: ReLU-1x1 conv-BN) */
    os_relu_conv_bn rcb[2];
    os_fact_reduce frr[2][2];
    os_darts_op ops[U_SLOTS][U_NUM]; /* supernet: every op; child: [s][0] the chosen */
    int in_choice[U_SLOTS], op_choice[U_SLOTS];
    int child_in[U_SLOTS];
    unsigned child_loose;         /* child: bit j = node j is a loose end */
    int n_loose;
    os_tensor *final_w;
    os_bn final_bn;
} ucell;

typedef struct {
    int search, n_cells, C;
    os_tensor *stem_w;
    os_bn stem_bn;
    ucell *cells;
    os_tensor *fc_w, *fc_b;
} micro_net;

/* slot s = 2 * (node - 2) + k */
static int slot_of(int node, int k) { return 2 * (node - 2) + k; }

/* ---- the child form (NNI's labels) ------------------------------------------------- */
static void micro_template(os_arch *a)
{
    char label[OS_LABEL_MAX];
    for (int t = 0; t < 2; t++)
        for (int node = 2; node < U_STATES; node++)
            for (int k = 0; k < 2; k++) {
                snprintf(label, sizeof label, "%s/op_%d_%d", os_cell_type_names[t], node, k);
                os_arch_add(a, label, OS_CHOICE_LAYER, U_NUM, 1, micro_ops);
                snprintf(label, sizeof label, "%s/input_%d_%d", os_cell_type_names[t], node, k);
                os_arch_add(a, label, OS_CHOICE_INPUT, node, 1, NULL);
            }
}

/* ops and inputs of a child-form architecture: 0, or -1 with os_error() naming the label */
static int cells_of(const os_arch *a, int op[2][U_SLOTS], int in[2][U_SLOTS])
{
    char label[OS_LABEL_MAX];
    for (int t = 0; t < 2; t++)
        for (int node = 2; node < U_STATES; node++)
            for (int k = 0; k < 2; k++) {
                int s = slot_of(node, k);
                snprintf(label, sizeof label, "%s/op_%d_%d", os_cell_type_names[t], node, k);
                int ci = os_arch_find(a, label);
                int o = ci < 0 ? -1 : os_arch_chosen_one(&a->c[ci]);
                if (ci < 0 || a->c[ci].kind != OS_CHOICE_LAYER || a->c[ci].n != U_NUM || o < 0 ||
                    os_arch_mask(&a->c[ci]) != 1u << o)
                    return os_error("enas_micro: the architecture has no single op for '%s'", label);
                snprintf(label, sizeof label, "%s/input_%d_%d", os_cell_type_names[t], node, k);
                ci = os_arch_find(a, label);
                int x = ci < 0 ? -1 : os_arch_chosen_one(&a->c[ci]);
                if (ci < 0 || a->c[ci].kind != OS_CHOICE_INPUT || x < 0 || x >= node ||
                    os_arch_mask(&a->c[ci]) != 1u << x)
                    return os_error("enas_micro: the architecture has no single input in 0..%d for '%s'", node - 1,
                                    label);
                op[t][s] = o;
                in[t][s] = x;
            }
    return 0;
}

/* nodes 2..6 that no slot takes as input */
static unsigned loose_of(const int *in)
{
    unsigned used = 0;
    for (int s = 0; s < U_SLOTS; s++)
        used |= 1u << in[s];
    unsigned loose = 0;
    for (int j = 2; j < U_STATES; j++)
        if (!((used >> j) & 1u))
            loose |= 1u << j;
    return loose;
}

/* ---- construction ------------------------------------------------------------------- */
static void cell_init(os_net *net, os_rng *r, micro_net *d, ucell *c, int idx, const int *cin, const int *hw_in,
                      int hw, int C, int red, const int op[2][U_SLOTS], const int in[2][U_SLOTS])
{
    char nm[64];
    int affine = !d->search;
    for (int t = 0; t < 2; t++) {
        snprintf(nm, sizeof nm, "cells.%d.pre%d", idx, t);
        /* an input of 2x or 4x the cell's resolution (4x: the input of the
         * second of two adjacent reduction cells) */
        c->fr[t] = hw_in[t] == 4 * hw ? 2 : hw_in[t] == 2 * hw;
        if (!c->fr[t])
            os_rcb_init(net, r, &c->rcb[t], nm, cin[t], C, 1, 1, 0, affine);
        for (int f = 0; f < c->fr[t]; f++) {
            snprintf(nm, sizeof nm, "cells.%d.pre%d%s", idx, t, f ? ".again" : "");
            os_fr_init(net, r, &c->frr[t][f], nm, f ? C : cin[t], C, affine);
        }
    }
    const char *type = os_cell_type_names[red];
    if (d->search) {
        for (int node = 2; node < U_STATES; node++)
            for (int k = 0; k < 2; k++) {
                int s = slot_of(node, k);
                char label[OS_LABEL_MAX];
                snprintf(label, sizeof label, "%s/op_%d_%d", type, node, k);
                c->op_choice[s] = os_net_layer_choice(net, r, label, U_NUM, micro_ops);
                snprintf(label, sizeof label, "%s/input_%d_%d", type, node, k);
                c->in_choice[s] = os_net_input_choice(net, r, label, node, 1);
                for (int j = 2; j < node; j++) {
                    snprintf(label, sizeof label, "%s/op_%d_1", type, j);
                    os_net_set_input_src(net, c->in_choice[s], j, os_net_find_choice(net, label));
                }
                for (int o = 0; o < U_NUM; o++) {
                    snprintf(nm, sizeof nm, "cells.%d.n%d_%d.%s", idx, node, k, micro_ops[o]);
                    os_darts_op_init(net, r, &c->ops[s][o], nm, micro_kind[o], C, 1, 1);
                }
            }
        c->n_loose = U_NODES; /* the weight covers every node */
    } else {
        for (int s = 0; s < U_SLOTS; s++) {
            snprintf(nm, sizeof nm, "cells.%d.n%d_%d.%s", idx, s / 2 + 2, s % 2, micro_ops[op[red][s]]);
            os_darts_op_init(net, r, &c->ops[s][0], nm, micro_kind[op[red][s]], C, 1, 0);
            c->child_in[s] = in[red][s];
        }
        c->child_loose = loose_of(in[red]);
        c->n_loose = __builtin_popcount(c->child_loose);
    }
    int sw[4] = {C, c->n_loose * C, 1, 1};
    snprintf(nm, sizeof nm, "cells.%d.final_conv", idx);
    c->final_w = os_net_weight(net, r, nm, 4, sw, (long)c->n_loose * C);
    snprintf(nm, sizeof nm, "cells.%d.final_bn", idx);
    os_bn_init(net, &c->final_bn, nm, C, affine);
}

/* ---- forward ---------------------------------------------------------------------------- */
typedef struct {
    ucell *c;
    int s;
} slot_run;

static os_tensor *run_op(void *self, int i, os_tensor *x, const os_forward_ctx *ctx)
{
    slot_run *sr = self;
    return os_darts_op_forward(&sr->c->ops[sr->s][i], x, NULL, ctx);
}

/* s0, s1 [N, *, H', W'] -> [N, C, H, W] */
static os_tensor *cell_forward(os_net *net, micro_net *d, ucell *c, os_tensor *s0, os_tensor *s1,
                               const os_forward_ctx *ctx)
{
    os_tensor *st[U_STATES], *in[2] = {s0, s1};
    for (int t = 0; t < 2; t++) {
        st[t] = c->fr[t] ? in[t] : os_rcb_forward(&c->rcb[t], in[t], ctx);
        for (int f = 0; f < c->fr[t]; f++)
            st[t] = os_fr_forward(&c->frr[t][f], st[t], NULL, ctx);
    }
    unsigned used = 0;
    for (int node = 2; node < U_STATES; node++) {
        os_tensor *terms[2];
        for (int k = 0; k < 2; k++) {
            int s = slot_of(node, k);
            if (!d->search) {
                terms[k] = os_darts_op_forward(&c->ops[s][0], st[c->child_in[s]], NULL, ctx);
                continue;
            }
            /* the op on every input the input choice runs, then the input choice over those */
            unsigned act = net->mix[c->in_choice[s]].active;
            os_tensor *ys[U_STATES] = {0};
            slot_run sr = {c, s};
            for (int j = 0; j < node; j++)
                if ((act >> j) & 1u)
                    ys[j] = os_layer_choice_forward(net, c->op_choice[s], run_op, &sr, st[j], ctx);
            used |= act;
            terms[k] = os_input_choice_forward(net, c->in_choice[s], node, ys, ctx);
        }
        st[node] = os_add(terms[0], terms[1]);
    }
    os_tensor *parts[U_NODES];
    int n = 0;
    for (int j = 2; j < U_STATES; j++) {
        int loose = d->search ? !((used >> j) & 1u) : (int)((c->child_loose >> j) & 1u);
        if (loose)
            parts[n++] = os_relu(st[j]);
        else if (d->search)
            parts[n++] = os_zero(st[j], 1);
    }
    os_tensor *y = os_conv2d(os_concat_channels(n, parts), c->final_w, NULL, 1, 0, 1, 1);
    return os_bn_forward(&c->final_bn, y, ctx);
}

static os_tensor *micro_forward(os_net *net, os_tensor *x, const os_forward_ctx *ctx, os_tensor **aux)
{
    micro_net *d = net->impl;
    if (x->ndim != 4 || x->shape[1] != net->in_c || x->shape[2] != net->in_h || x->shape[3] != net->in_w)
        os_fatal("enas_micro: input %s does not match the network's [N,%d,%d,%d]", os_shape_str(x), net->in_c,
                 net->in_h, net->in_w);
    if (aux)
        *aux = NULL;
    os_net_begin_forward(net, ctx);
    os_tensor *s0 = os_bn_forward(&d->stem_bn, os_conv2d(x, d->stem_w, NULL, 1, 1, 1, 1), ctx), *s1 = s0;
    for (int i = 0; i < d->n_cells; i++) {
        os_tensor *s2 = cell_forward(net, d, &d->cells[i], s0, s1, ctx);
        s0 = s1;
        s1 = s2;
    }
    return os_linear(os_global_avg_pool(os_relu(s1)), d->fc_w, d->fc_b);
}

static void micro_free(os_net *net)
{
    micro_net *d = net->impl;
    if (!d)
        return;
    free(d->cells);
    free(d);
    net->impl = NULL;
}

static int micro_build(os_net *net, const os_space_opts *o)
{
    int op[2][U_SLOTS], in[2][U_SLOTS];
    int search = o->arch == NULL;
    if (!search && cells_of(o->arch, op, in))
        return -1;
    int n_cells = o->cells ? o->cells : (search ? 8 : 20);
    int C = o->channels ? o->channels : (search ? 16 : 36);
    if (n_cells < 3)
        return os_error("enas_micro: --cells must be at least 3 (got %d)", n_cells);
    if (C < 1)
        return os_error("enas_micro: --channels must be positive (got %d)", C);
    if (o->in_h % 4 || o->in_w % 4)
        return os_error("enas_micro: input %dx%d must be divisible by 4 (two reductions)", o->in_h, o->in_w);
    micro_net *d = calloc(1, sizeof *d);
    if (!d || !(d->cells = calloc((size_t)n_cells, sizeof *d->cells)))
        os_fatal("enas_micro: out of memory");
    d->search = search;
    d->n_cells = n_cells;
    d->C = C;
    os_net_init(net, "enas_micro", o->in_c, o->in_h, o->in_w, o->num_classes);
    net->cells = n_cells;
    net->channels = C;
    net->impl = d;
    net->forward = micro_forward;
    net->free_impl = micro_free;
    os_rng r;
    os_rng_seed(&r, o->seed);
    int sw[4] = {3 * C, o->in_c, 3, 3};
    d->stem_w = os_net_weight(net, &r, "stem.conv", 4, sw, o->in_c * 9L);
    os_bn_init(net, &d->stem_bn, "stem.bn", 3 * C, 1);
    int cin[2] = {3 * C, 3 * C}, hw_in[2] = {o->in_h, o->in_h}, Ccur = C, hw = o->in_h;
    for (int i = 0; i < n_cells; i++) {
        int red = i == n_cells / 3 || i == 2 * n_cells / 3;
        if (red) {
            Ccur *= 2;
            hw /= 2;
        }
        cell_init(net, &r, d, &d->cells[i], i, cin, hw_in, hw, Ccur, red, (const int (*)[U_SLOTS])op,
                  (const int (*)[U_SLOTS])in);
        cin[0] = cin[1];
        hw_in[0] = hw_in[1];
        cin[1] = Ccur;
        hw_in[1] = hw;
    }
    int sf[2] = {o->num_classes, Ccur};
    d->fc_w = os_net_weight(net, &r, "classifier.weight", 2, sf, Ccur);
    d->fc_b = os_net_bias(net, &r, "classifier.bias", o->num_classes, Ccur);
    return 0;
}

/* ---- derive: the supernet form has the child's labels --------------------------------- */
static int micro_derive(const os_arch *sup, const os_derive_opts *o, os_arch *child)
{
    (void)o;
    os_arch_init(child, "enas_micro");
    micro_template(child);
    for (int i = 0; i < child->n; i++) {
        os_arch_choice *c = &child->c[i];
        int si = os_arch_find(sup, c->label);
        if (si < 0 || sup->c[si].n != c->n || sup->c[si].kind != c->kind) {
            char label[OS_LABEL_MAX];
            snprintf(label, sizeof label, "%s", c->label);
            os_arch_free(child);
            return os_error("enas_micro: the supernet architecture lacks choice '%s'", label);
        }
        const os_arch_choice *s = &sup->c[si];
        if (s->has_weights) {
            int best = 0;
            for (int k = 1; k < c->n; k++)
                if (s->w[k] > s->w[best])
                    best = k;
            c->chosen = 1u << best;
        } else {
            c->chosen = s->chosen;
        }
    }
    int op[2][U_SLOTS], in[2][U_SLOTS];
    if (cells_of(child, op, in)) {
        os_arch_free(child);
        return -1;
    }
    return 0;
}

/* NNI's dicts: the cell labels, and `width` / `depth` when NNI's default
 * ENAS space sampled them (they size the child: os_arch.width). */
static int micro_from_nni(const cJSON *dict, os_arch *child)
{
    cJSON *cells = os_arch_nds_sizes(dict, child);
    if (!cells)
        return -1;
    int rc = os_arch_from_nni(child, cells, NULL);
    cJSON_Delete(cells);
    return rc;
}

const os_space os_space_enas_micro = {
    .name = "enas_micro",
    .summary = "ENAS micro (NNI ENAS) cells: 5 nodes of op(input) + op(input), 5 ops, loose ends out",
    .build = micro_build,
    .child_template = micro_template,
    .derive = micro_derive,
    .from_nni = micro_from_nni,
};
