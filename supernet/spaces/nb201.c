/* supernet/spaces/nb201.c — the NAS-Bench-201 cell space (REFERENCE.md §4).
 *
 * Cell: nodes 0..3, node j sums an op on every earlier node i (6 edges, choice
 * labels "j_i" as NNI names them, one alpha per edge shared by all cells),
 * output node 3. Ops: none, skip_connect, nor_conv_1x1, nor_conv_3x3,
 * avg_pool_3x3 (convs are ReLU-Conv-BN). Skeleton: 3x3 stem to C + BN;
 * `cells` cells at C; residual block to 2C; cells at 2C; residual block to 4C;
 * cells at 4C; BN, ReLU, global average pool, linear. Defaults C=16, 5 cells.
 * Architecture string: |op~0|+|op~0|op~1|+|op~0|op~1|op~2|.
 */
#include "supernet/darts_ops.h"
#include "supernet/spaces/spaces.h"
#include "ops/ops.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { NB_NONE, NB_SKIP, NB_CONV1, NB_CONV3, NB_AVG, NB_NUM_OPS };
static const char *const nb_names[NB_NUM_OPS] = {"none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3"};
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
    if (d->search)
        os_net_prepare_mix(net, ctx);
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
                for (int i = 0; i < j; i++) {
                    nb_edge_t *e = &cell->edges[nb_edge(j, i)];
                    terms[i] = d->search ? os_layer_choice_forward(net, e->choice, run_candidate, e, node[i], ctx)
                                         : op_forward(&e->ops[0], node[i], ctx);
                }
                node[j] = os_sum_n(j, terms);
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
                return os_error("nb201 arch string '%s': missing '~' for edge %d_%d", s, j, i);
            int k = -1;
            for (int o = 0; o < NB_NUM_OPS; o++)
                if ((size_t)(t - p) == strlen(nb_names[o]) && !strncmp(p, nb_names[o], (size_t)(t - p)))
                    k = o;
            if (k < 0)
                return os_error("nb201 arch string: unknown op '%.*s' on edge %d_%d", (int)(t - p), p, j, i);
            char *end;
            long src = strtol(t + 1, &end, 10);
            if (end == t + 1 || *end != '|')
                return os_error("nb201 arch string '%s': edge %d_%d: expected ~<input>| after '%.*s'", s, j, i,
                                (int)(t - p), p);
            if (src != i)
                return os_error("nb201 arch string: edge %d_%d names input %ld", j, i, src);
            fixed[nb_edge(j, i)] = k;
            p = end;
        }
        p++;
    }
    if (*p)
        return os_error("nb201 arch string '%s': unexpected text after the last node: '%s'", s, p);
    return 0;
}

static int load_arch(const char *src, int *fixed)
{
    if (src[0] == '|')
        return parse_arch_str(src, fixed);
    FILE *f = fopen(src, "rb");
    if (!f)
        return os_error("%s: cannot open architecture file (or pass an arch string |op~0|+...)", src);
    char buf[1 << 16];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    cJSON *j = cJSON_Parse(buf);
    if (!j)
        return os_error("%s: malformed JSON", src);
    if (!cJSON_IsObject(j)) {
        cJSON_Delete(j);
        return os_error("%s: expected a JSON object (labels j_i, or \"arch_str\")", src);
    }
    int rc = 0;
    const cJSON *as = cJSON_GetObjectItemCaseSensitive(j, "arch_str");
    const cJSON *arch = cJSON_GetObjectItemCaseSensitive(j, "arch");
    if (cJSON_IsString(as)) {
        rc = parse_arch_str(as->valuestring, fixed);
    } else {
        const cJSON *m = cJSON_IsObject(arch) ? arch : j;
        for (const cJSON *it = m->child; it && !rc; it = it->next) {
            int jj, ii;
            char tail;
            if (sscanf(it->string, "%d_%d%c", &jj, &ii, &tail) != 2 || jj < 1 || jj > 3 || ii < 0 || ii >= jj)
                rc = os_error("%s: unknown key '%s' (nb201 expects labels j_i with 0 <= i < j <= 3)", src, it->string);
        }
        for (int jj = 1; jj < 4 && !rc; jj++)
            for (int ii = 0; ii < jj && !rc; ii++) {
                char key[24];
                snprintf(key, sizeof key, "%d_%d", jj, ii);
                const cJSON *v = cJSON_GetObjectItemCaseSensitive(m, key);
                int k = -1;
                for (int o = 0; v && cJSON_IsString(v) && o < NB_NUM_OPS; o++)
                    if (!strcmp(v->valuestring, nb_names[o]))
                        k = o;
                if (!cJSON_IsString(v))
                    rc = os_error("%s: key '%s' is missing or not a string", src, key);
                else if (k < 0)
                    rc = os_error("%s: key '%s': unknown op '%s' (nb201 has none, skip_connect, nor_conv_1x1, "
                                  "nor_conv_3x3, avg_pool_3x3)", src, key, v->valuestring);
                else
                    fixed[nb_edge(jj, ii)] = k;
            }
    }
    cJSON_Delete(j);
    return rc;
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
    d->search = o->arch_json == NULL;
    if (!d->search && load_arch(o->arch_json, d->fixed)) {
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
                        char label[24];
                        snprintf(label, sizeof label, "%d_%d", j, i);
                        e->choice = os_net_layer_choice(net, &r, label, NB_NUM_OPS, nb_names);
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

static int nb_export(const os_net *net, int max_skip, char **json_out)
{
    (void)max_skip;
    cJSON *root = cJSON_CreateObject(), *arch = cJSON_CreateObject(), *pj = cJSON_CreateObject();
    char str[256];
    int o = 0;
    for (int j = 1; j < 4; j++) {
        o += snprintf(str + o, sizeof str - o, "%s|", j > 1 ? "+" : "");
        for (int i = 0; i < j; i++) {
            char label[24];
            snprintf(label, sizeof label, "%d_%d", j, i);
            float p[NB_NUM_OPS];
            if (os_export_choice_probs(net, label, "nb201", nb_names, p, pj)) {
                cJSON_Delete(root);
                cJSON_Delete(arch);
                cJSON_Delete(pj);
                return -1;
            }
            int best = 0;
            for (int k = 1; k < NB_NUM_OPS; k++)
                if (p[k] > p[best])
                    best = k;
            cJSON_AddStringToObject(arch, label, nb_names[best]);
            o += snprintf(str + o, sizeof str - o, "%s~%d|", nb_names[best], i);
        }
    }
    cJSON_AddStringToObject(root, "space", "nb201");
    cJSON_AddItemToObject(root, "arch", arch);
    cJSON_AddStringToObject(root, "arch_str", str);
    cJSON_AddItemToObject(root, "probs", pj);
    *json_out = cJSON_Print(root);
    cJSON_Delete(root);
    return 0;
}

const os_space os_space_nb201 = {
    .name = "nb201",
    .summary = "NAS-Bench-201 cell space: 5 ops x 6 edges, 15,625 architectures",
    .build = nb_build,
    .export_arch = nb_export,
};
