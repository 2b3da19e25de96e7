/* plot/archs.c — how each space's architecture is drawn: a table keyed by
 * space name, one function per space turning arch.json's NNI label dict into
 * graphs; every other space gets the chain of its labels.
 *
 *  cifar_cell  "<type>/op_<node>_<k>": op, "<type>/input_<node>_<k>": [input]
 *              (nodes 2.., inputs 0 and 1 the cell inputs): one DAG per cell
 *              type, the output concatenating every intermediate node (DARTS)
 *  enas_micro  the same labels (NNI's cell spaces share them); the output
 *              concatenates the nodes no other node reads (ENAS's loose ends)
 *  nb201       "cell/<i>_<j>": op of the edge from node i to node j: the 4-node
 *              DAG, `none` edges dashed
 *  enas_macro  "op_<i>": op, "skip_<i>": [earlier layers]: the chain of layers
 *              (input -> layer 0 -> ... -> output, each box its op) with one
 *              edge "skip" from every chosen skip input
 *  (others)    a chain: input, one block per label ("label" over its choice), output
 */
#include "plot/plot.h"
#include "tensor/error.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_TYPES 4
#define MAX_NODES 16
#define MAX_K 4
#define MAX_CHAIN 120

/* ---- cells: NNI's cell labels -------------------------------------------------- */
typedef struct {
    char name[24];
    int max_node, max_k;
    char op[MAX_NODES][MAX_K][OS_PLOT_LABEL];
    int in[MAX_NODES][MAX_K][MAX_K]; /* input indices, -1 = none */
    int n_in[MAX_NODES][MAX_K];
    int has_op[MAX_NODES][MAX_K], has_in[MAX_NODES][MAX_K];
} cell_t;

static int cell_index(cell_t *cells, int *n, const char *type, size_t len)
{
    for (int i = 0; i < *n; i++)
        if (strlen(cells[i].name) == len && !strncmp(cells[i].name, type, len))
            return i;
    if (*n == MAX_TYPES || len >= sizeof cells[0].name)
        return -1;
    memset(&cells[*n], 0, sizeof cells[0]);
    memcpy(cells[*n].name, type, len);
    cells[*n].name[len] = 0;
    return (*n)++;
}

/* every key of the dict into cells; -1 with os_error() naming the key */
static int read_cells(const cJSON *arch, cell_t *cells, int *n)
{
    *n = 0;
    if (!cJSON_IsObject(arch) || !arch->child)
        return os_error("arch: no labels");
    for (const cJSON *e = arch->child; e; e = e->next) {
        const char *key = e->string, *slash = key ? strchr(key, '/') : NULL;
        int node, k, used = 0, is_op;
        if (!slash)
            return os_error("arch: label '%s' is not <cell>/op_<node>_<k> or <cell>/input_<node>_<k>", key ? key : "");
        if (sscanf(slash + 1, "op_%d_%d%n", &node, &k, &used) == 2 && !slash[1 + used])
            is_op = 1;
        else if (sscanf(slash + 1, "input_%d_%d%n", &node, &k, &used) == 2 && !slash[1 + used])
            is_op = 0;
        else
            return os_error("arch: label '%s' is not <cell>/op_<node>_<k> or <cell>/input_<node>_<k>", key);
        if (node < 2 || node >= MAX_NODES || k < 0 || k >= MAX_K)
            return os_error("arch: label '%s': node or position out of range", key);
        int t = cell_index(cells, n, key, (size_t)(slash - key));
        if (t < 0)
            return os_error("arch: label '%s': too many cell types", key);
        cell_t *c = &cells[t];
        if (node > c->max_node)
            c->max_node = node;
        if (k + 1 > c->max_k)
            c->max_k = k + 1;
        if (is_op) {
            if (!cJSON_IsString(e))
                return os_error("arch: '%s' must be an op name", key);
            snprintf(c->op[node][k], OS_PLOT_LABEL, "%s", e->valuestring);
            c->has_op[node][k] = 1;
            continue;
        }
        int cnt = 0;
        if (cJSON_IsNumber(e)) {
            c->in[node][k][cnt++] = e->valueint;
        } else if (cJSON_IsArray(e)) {
            for (const cJSON *x = e->child; x; x = x->next) {
                if (!cJSON_IsNumber(x) || cnt == MAX_K)
                    return os_error("arch: '%s' must be a list of input indices", key);
                c->in[node][k][cnt++] = x->valueint;
            }
        } else {
            return os_error("arch: '%s' must be a list of input indices", key);
        }
        for (int i = 0; i < cnt; i++)
            if (c->in[node][k][i] < 0 || c->in[node][k][i] >= node)
                return os_error("arch: '%s': input %d does not precede node %d", key, c->in[node][k][i], node);
        c->n_in[node][k] = cnt;
        c->has_in[node][k] = 1;
    }
    for (int t = 0; t < *n; t++)
        for (int node = 2; node <= cells[t].max_node; node++)
            for (int k = 0; k < cells[t].max_k; k++)
                if (cells[t].has_op[node][k] != cells[t].has_in[node][k])
                    return os_error("arch: '%s/%s_%d_%d' has no matching '%s_%d_%d'", cells[t].name,
                                    cells[t].has_op[node][k] ? "op" : "input", node, k,
                                    cells[t].has_op[node][k] ? "input" : "op", node, k);
    return 0;
}

static int cells_graphs(const cJSON *arch, os_plot_graph *out, int max, int loose_ends)
{
    cell_t *cells = calloc(MAX_TYPES, sizeof *cells);
    int n = 0;
    if (!cells)
        return os_error("arch: out of memory");
    if (read_cells(arch, cells, &n)) {
        free(cells);
        return -1;
    }
    if (n > max)
        n = max;
    for (int t = 0; t < n; t++) {
        const cell_t *c = &cells[t];
        char name[48], title[96];
        snprintf(name, sizeof name, "cell-%s", c->name);
        snprintf(title, sizeof title, "%s cell", !strcmp(c->name, "reduce") ? "reduction" : c->name);
        os_plot_graph *g = &out[t];
        os_plot_graph_init(g, name, title, 1);
        int ids[MAX_NODES];
        ids[0] = os_plot_graph_node(g, "c_{k-2}", NULL, OS_PLOT_NODE_INPUT);
        ids[1] = os_plot_graph_node(g, "c_{k-1}", NULL, OS_PLOT_NODE_INPUT);
        for (int node = 2; node <= c->max_node; node++) {
            char id[16];
            snprintf(id, sizeof id, "%d", node - 2);
            ids[node] = os_plot_graph_node(g, id, NULL, OS_PLOT_NODE_INNER);
        }
        int used[MAX_NODES] = {0};
        for (int node = 2; node <= c->max_node; node++)
            for (int k = 0; k < c->max_k; k++)
                for (int i = 0; i < c->n_in[node][k]; i++) {
                    int from = c->in[node][k][i];
                    used[from] = 1;
                    os_plot_graph_edge(g, ids[from], ids[node], c->op[node][k], 0);
                }
        int outn = os_plot_graph_node(g, "c_{k}", NULL, OS_PLOT_NODE_OUTPUT);
        for (int node = 2; node <= c->max_node; node++)
            if (!loose_ends || !used[node])
                os_plot_graph_edge(g, ids[node], outn, "", 0);
    }
    free(cells);
    return n;
}

/* DARTS: c_{k} concatenates every intermediate node */
static int cifar_cell_graphs(const cJSON *arch, os_plot_graph *out, int max) { return cells_graphs(arch, out, max, 0); }
/* ENAS micro: c_{k} concatenates the loose ends */
static int enas_micro_graphs(const cJSON *arch, os_plot_graph *out, int max) { return cells_graphs(arch, out, max, 1); }

/* ---- nb201 ------------------------------------------------------------------------ */
static int nb201_graphs(const cJSON *arch, os_plot_graph *out, int max)
{
    int from[64], to[64], n = 0, top = 0;
    const char *ops[64];
    if (max < 1)
        return 0;
    if (!cJSON_IsObject(arch) || !arch->child)
        return os_error("arch: no labels");
    for (const cJSON *e = arch->child; e; e = e->next) {
        const char *key = e->string ? e->string : "", *s = strchr(key, '/');
        int a, b, used = 0;
        s = s ? s + 1 : key;
        if (sscanf(s, "%d_%d%n", &a, &b, &used) != 2 || s[used] || a == b || a < 0 || b < 0 || a > 15 || b > 15)
            return os_error("arch: label '%s' is not cell/<i>_<j>", key);
        if (!cJSON_IsString(e))
            return os_error("arch: '%s' must be an op name", key);
        if (n == 64)
            return os_error("arch: too many edges");
        from[n] = a < b ? a : b;
        to[n] = a < b ? b : a;
        ops[n++] = e->valuestring;
        if (to[n - 1] > top)
            top = to[n - 1];
    }
    os_plot_graph *g = &out[0];
    os_plot_graph_init(g, "cell", "nb201 cell", 1);
    for (int i = 0; i <= top; i++) {
        char id[16];
        snprintf(id, sizeof id, "%d", i);
        os_plot_graph_node(g, id, NULL, i == 0 ? OS_PLOT_NODE_INPUT : i == top ? OS_PLOT_NODE_OUTPUT : OS_PLOT_NODE_INNER);
    }
    for (int i = 0; i < n; i++)
        os_plot_graph_edge(g, from[i], to[i], ops[i], !strcmp(ops[i], "none"));
    return 1;
}

/* ---- enas_macro --------------------------------------------------------------------- */
#define MACRO_MAX 64
static int enas_macro_graphs(const cJSON *arch, os_plot_graph *out, int max)
{
    if (max < 1)
        return 0;
    if (!cJSON_IsObject(arch) || !arch->child)
        return os_error("arch: no labels");
    int L = 0;
    const char *ops[MACRO_MAX];
    for (; L < MACRO_MAX; L++) {
        char key[24];
        snprintf(key, sizeof key, "op_%d", L);
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(arch, key);
        if (!v)
            break;
        if (!cJSON_IsString(v))
            return os_error("arch: '%s' must be an op name", key);
        ops[L] = v->valuestring;
    }
    if (!L)
        return os_error("arch: no label op_0 (enas_macro labels: op_<i>, skip_<i>)");
    os_plot_graph *g = &out[0];
    os_plot_graph_init(g, "layers", "enas_macro layers", 0);
    int ids[MACRO_MAX];
    int prev = os_plot_graph_node(g, "input", NULL, OS_PLOT_NODE_INPUT);
    for (int i = 0; i < L; i++) {
        char id[16], text[64];
        snprintf(id, sizeof id, "l%d", i);
        snprintf(text, sizeof text, "layer %d\n%.40s", i, ops[i]);
        ids[i] = os_plot_graph_node(g, id, text, OS_PLOT_NODE_BLOCK);
        os_plot_graph_edge(g, prev, ids[i], "", 0);
        prev = ids[i];
        char key[24];
        snprintf(key, sizeof key, "skip_%d", i);
        const cJSON *sk = cJSON_GetObjectItemCaseSensitive(arch, key), *x;
        if (i && !cJSON_IsArray(sk))
            return os_error("arch: '%s' must be a list of earlier layers", key);
        cJSON_ArrayForEach(x, sk) {
            if (!cJSON_IsNumber(x) || x->valueint < 0 || x->valueint >= i)
                return os_error("arch: '%s': %g is not an earlier layer (0..%d)", key, x->valuedouble, i - 1);
            os_plot_graph_edge(g, ids[x->valueint], ids[i], "skip", 1);
        }
    }
    os_plot_graph_edge(g, prev, os_plot_graph_node(g, "output", NULL, OS_PLOT_NODE_OUTPUT), "", 0);
    return 1;
}

/* ---- any space: a chain of its labels ------------------------------------------------ */
static void value_text(const cJSON *v, char *buf, size_t n)
{
    if (cJSON_IsString(v)) {
        snprintf(buf, n, "%s", v->valuestring);
    } else if (cJSON_IsNumber(v)) {
        snprintf(buf, n, "%g", v->valuedouble);
    } else if (cJSON_IsArray(v)) {
        size_t o = (size_t)snprintf(buf, n, "input%s ", cJSON_GetArraySize(v) == 1 ? "" : "s");
        for (const cJSON *x = v->child; x && o < n; x = x->next) {
            char one[40];
            value_text(x, one, sizeof one);
            o += (size_t)snprintf(buf + o, n - o, "%s%s", one, x->next ? ", " : "");
        }
    } else {
        char *t = cJSON_PrintUnformatted(v);
        snprintf(buf, n, "%s", t ? t : "?");
        free(t);
    }
}

int os_plot_arch_chain(const cJSON *arch, os_plot_graph *out, int max)
{
    if (max < 1)
        return 0;
    if (!cJSON_IsObject(arch) || !arch->child)
        return os_error("arch: no labels");
    os_plot_graph *g = &out[0];
    os_plot_graph_init(g, "arch", "architecture", 0);
    int prev = os_plot_graph_node(g, "input", NULL, OS_PLOT_NODE_INPUT), count = 0;
    for (const cJSON *e = arch->child; e; e = e->next, count++) {
        char id[16], text[96], val[54];
        snprintf(id, sizeof id, "b%d", count);
        if (count == MAX_CHAIN) {
            snprintf(text, sizeof text, "... %d more", cJSON_GetArraySize(arch) - count);
        } else {
            value_text(e, val, sizeof val);
            snprintf(text, sizeof text, "%.40s\n%s", e->string ? e->string : "?", val);
        }
        int b = os_plot_graph_node(g, id, text, OS_PLOT_NODE_BLOCK);
        os_plot_graph_edge(g, prev, b, "", 0);
        prev = b;
        if (count == MAX_CHAIN)
            break;
    }
    os_plot_graph_edge(g, prev, os_plot_graph_node(g, "output", NULL, OS_PLOT_NODE_OUTPUT), "", 0);
    return 1;
}

/* ---- the table ---------------------------------------------------------------------- */
static const struct {
    const char *space;
    os_plot_arch_fn fn;
} drawers[] = {
    {"cifar_cell", cifar_cell_graphs},
    {"enas_micro", enas_micro_graphs},
    {"nb201", nb201_graphs},
    {"proxyless", os_plot_arch_chain},  /* a chain of blocks, one per layer choice */
    {"enas_macro", enas_macro_graphs},  /* layers and their skip inputs */
};

os_plot_arch_fn os_plot_arch_drawer(const char *space)
{
    for (size_t i = 0; space && i < sizeof drawers / sizeof drawers[0]; i++)
        if (!strcmp(drawers[i].space, space))
            return drawers[i].fn;
    return NULL;
}

int os_plot_arch_graphs(const char *space, const cJSON *arch, os_plot_graph *out, int max, char *note,
                        size_t note_size)
{
    if (note && note_size)
        note[0] = 0;
    os_plot_arch_fn fn = os_plot_arch_drawer(space);
    if (fn && fn != os_plot_arch_chain) {
        int n = fn(arch, out, max);
        if (n >= 0)
            return n;
        if (note && note_size)
            snprintf(note, note_size, "%s: drawn as a chain of its labels (%s)", space, os_last_error());
    }
    int n = os_plot_arch_chain(arch, out, max);
    if (n > 0 && space)
        snprintf(out[0].title, sizeof out[0].title, "%.40s architecture", space);
    return n;
}
