/* plot/graph.c — the graph of a cell or a chain, and its DOT text (the
 * DARTS paper's figure style: filled boxes, left to right, ops on the edges). */
#include "plot/plot.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void os_plot_graph_init(os_plot_graph *g, const char *name, const char *title, int left_to_right)
{
    memset(g, 0, sizeof *g);
    snprintf(g->name, sizeof g->name, "%s", name);
    snprintf(g->title, sizeof g->title, "%s", title);
    g->left_to_right = left_to_right;
}

void os_plot_graph_free(os_plot_graph *g)
{
    free(g->nodes);
    free(g->edges);
    memset(g, 0, sizeof *g);
}

int os_plot_graph_node(os_plot_graph *g, const char *id, const char *text, int kind)
{
    if (g->n_nodes == g->cap_nodes) {
        int cap = g->cap_nodes ? 2 * g->cap_nodes : 16;
        os_plot_node *n = realloc(g->nodes, (size_t)cap * sizeof *n);
        if (!n)
            return -1;
        g->nodes = n;
        g->cap_nodes = cap;
    }
    os_plot_node *n = &g->nodes[g->n_nodes];
    snprintf(n->id, sizeof n->id, "%s", id);
    snprintf(n->text, sizeof n->text, "%s", text ? text : id);
    n->kind = kind;
    return g->n_nodes++;
}

void os_plot_graph_edge(os_plot_graph *g, int from, int to, const char *label, int faint)
{
    if (from < 0 || to < 0 || from >= g->n_nodes || to >= g->n_nodes)
        return;
    if (g->n_edges == g->cap_edges) {
        int cap = g->cap_edges ? 2 * g->cap_edges : 32;
        os_plot_edge *e = realloc(g->edges, (size_t)cap * sizeof *e);
        if (!e)
            return;
        g->edges = e;
        g->cap_edges = cap;
    }
    os_plot_edge *e = &g->edges[g->n_edges++];
    e->from = from;
    e->to = to;
    snprintf(e->label, sizeof e->label, "%s", label ? label : "");
    e->faint = faint;
}

int os_plot_graph_find(const os_plot_graph *g, const char *id)
{
    for (int i = 0; i < g->n_nodes; i++)
        if (!strcmp(g->nodes[i].id, id))
            return i;
    return -1;
}

/* ---- DOT ------------------------------------------------------------------------ */
typedef struct { char *s; size_t n, cap; int oom; } sbuf;

static void put(sbuf *b, const char *s)
{
    size_t len = strlen(s);
    if (b->oom)
        return;
    if (b->n + len + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 1024;
        while (cap < b->n + len + 1)
            cap *= 2;
        char *ns = realloc(b->s, cap);
        if (!ns) {
            b->oom = 1;
            return;
        }
        b->s = ns;
        b->cap = cap;
    }
    memcpy(b->s + b->n, s, len + 1);
    b->n += len;
}

/* a DOT double-quoted string */
static void quoted(sbuf *b, const char *s)
{
    char c[3] = {0};
    put(b, "\"");
    for (; *s; s++) {
        if (*s == '"' || *s == '\\') {
            c[0] = '\\', c[1] = *s;
        } else if (*s == '\n') {
            c[0] = '\\', c[1] = 'n';
        } else {
            c[0] = *s, c[1] = 0;
        }
        put(b, c);
    }
    put(b, "\"");
}

static const char *const fills[] = {"darkseagreen2", "lightblue", "palegoldenrod", "lightblue"};

char *os_plot_graph_dot(const os_plot_graph *g)
{
    sbuf b = {0};
    put(&b, "digraph ");
    quoted(&b, g->name);
    put(&b, " {\n");
    put(&b, g->left_to_right ? "  rankdir=LR;\n" : "  rankdir=TB;\n");
    put(&b, "  node [style=filled, shape=rect, align=center, fontname=\"DejaVu Sans\", fontsize=14, "
            "height=0.5, width=0.5, penwidth=2];\n");
    put(&b, "  edge [fontname=\"DejaVu Sans\", fontsize=11];\n");
    for (int i = 0; i < g->n_nodes; i++) {
        const os_plot_node *n = &g->nodes[i];
        put(&b, "  ");
        quoted(&b, n->id);
        put(&b, " [");
        if (strcmp(n->id, n->text)) {
            put(&b, "label=");
            quoted(&b, n->text);
            put(&b, ", ");
        }
        put(&b, "fillcolor=");
        put(&b, fills[n->kind >= 0 && n->kind < 4 ? n->kind : 1]);
        put(&b, "];\n");
    }
    /* the inputs in one column (row, top to bottom), in order */
    int in[8], n_in = 0;
    for (int i = 0; i < g->n_nodes && n_in < 8; i++)
        if (g->nodes[i].kind == OS_PLOT_NODE_INPUT)
            in[n_in++] = i;
    if (n_in > 1) {
        put(&b, "  { rank=same;");
        for (int i = 0; i < n_in; i++) {
            put(&b, " ");
            quoted(&b, g->nodes[in[i]].id);
            put(&b, ";");
        }
        put(&b, " }\n");
        for (int i = 0; i + 1 < n_in; i++) {
            put(&b, "  ");
            quoted(&b, g->nodes[in[i]].id);
            put(&b, " -> ");
            quoted(&b, g->nodes[in[i + 1]].id);
            put(&b, " [style=invis];\n");
        }
    }
    for (int i = 0; i < g->n_edges; i++) {
        const os_plot_edge *e = &g->edges[i];
        put(&b, "  ");
        quoted(&b, g->nodes[e->from].id);
        put(&b, " -> ");
        quoted(&b, g->nodes[e->to].id);
        if (e->label[0] || e->faint) {
            put(&b, " [");
            if (e->label[0]) {
                put(&b, "label=");
                quoted(&b, e->label);
            }
            if (e->faint)
                put(&b, e->label[0] ? ", style=dashed, color=gray60, fontcolor=gray45"
                                    : "style=dashed, color=gray60");
            put(&b, "]");
        }
        put(&b, ";\n");
    }
    put(&b, "}\n");
    if (b.oom) {
        free(b.s);
        return NULL;
    }
    return b.s;
}
