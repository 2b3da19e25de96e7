/* plot/layout.c — a graph laid out by Graphviz (the dot layout of its DOT
 * text) and drawn by us with cairo: boxes at the node positions, the edge
 * splines with arrowheads, the edge labels where dot put them. */
#include "plot/internal.h"
#include "plot/plot.h"
#include "tensor/error.h"

#include <graphviz/gvc.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PAD 16.0
#define TITLE_H 30.0

/* Graphviz's messages, kept instead of printed */
static char gv_msg[512];
static int gv_error(char *msg)
{
    size_t n = strlen(gv_msg);
    if (n < sizeof gv_msg - 1)
        snprintf(gv_msg + n, sizeof gv_msg - n, "%s", msg);
    return 0;
}

static const unsigned fill_hex[] = {0xb4eeb4 /* darkseagreen2 */, 0xadd8e6 /* lightblue */,
                                    0xeee8aa /* palegoldenrod */, 0xadd8e6};

typedef struct {
    const os_plot_graph *g;
    Agraph_t *ag;
    boxf bb;
    double w, h;
} draw_ctx;

static double X(const draw_ctx *c, double x) { return PAD + x - c->bb.LL.x; }
static double Y(const draw_ctx *c, double y) { return TITLE_H + PAD + c->bb.UR.y - y; }

static void arrow(cairo_t *cr, const draw_ctx *c, pointf from, pointf tip)
{
    double dx = tip.x - from.x, dy = tip.y - from.y, len = sqrt(dx * dx + dy * dy);
    if (len < 1e-6)
        return;
    double ux = dx / len, uy = dy / len, hw = len * 0.36;
    cairo_move_to(cr, X(c, tip.x), Y(c, tip.y));
    cairo_line_to(cr, X(c, from.x - uy * hw), Y(c, from.y + ux * hw));
    cairo_line_to(cr, X(c, from.x + uy * hw), Y(c, from.y - ux * hw));
    cairo_close_path(cr);
    cairo_fill(cr);
}

/* a label's text with dot's escapes (\n \l \r) as line breaks */
static void label_text(const char *s, char *out, size_t n)
{
    size_t o = 0;
    for (; *s && o + 1 < n; s++) {
        if (s[0] == '\\' && (s[1] == 'n' || s[1] == 'l' || s[1] == 'r')) {
            out[o++] = '\n';
            s++;
        } else {
            out[o++] = *s;
        }
    }
    while (o > 0 && out[o - 1] == '\n')
        o--;
    out[o] = 0;
}

static void draw_edges(cairo_t *cr, const draw_ctx *c)
{
    for (Agnode_t *n = agfstnode(c->ag); n; n = agnxtnode(c->ag, n))
        for (Agedge_t *e = agfstout(c->ag, n); e; e = agnxtout(c->ag, e)) {
            const char *st = agget(e, "style");
            if (st && strstr(st, "invis"))
                continue;
            int faint = st && strstr(st, "dashed");
            splines *spl = ED_spl(e);
            if (faint) {
                double d[2] = {5, 3};
                cairo_set_dash(cr, d, 2, 0);
                plot_set_hex(cr, 0x999999);
            } else {
                cairo_set_dash(cr, NULL, 0, 0);
                plot_set_hex(cr, 0x333333);
            }
            cairo_set_line_width(cr, 1.3);
            for (int i = 0; spl && i < spl->size; i++) {
                const bezier *bz = &spl->list[i];
                if (bz->size < 1)
                    continue;
                cairo_move_to(cr, X(c, bz->list[0].x), Y(c, bz->list[0].y));
                for (int k = 1; k + 2 < bz->size; k += 3)
                    cairo_curve_to(cr, X(c, bz->list[k].x), Y(c, bz->list[k].y), X(c, bz->list[k + 1].x),
                                   Y(c, bz->list[k + 1].y), X(c, bz->list[k + 2].x), Y(c, bz->list[k + 2].y));
                cairo_stroke(cr);
                cairo_set_dash(cr, NULL, 0, 0);
                if (bz->eflag)
                    arrow(cr, c, bz->list[bz->size - 1], bz->ep);
                if (bz->sflag)
                    arrow(cr, c, bz->list[0], bz->sp);
            }
            textlabel_t *lab = ED_label(e);
            if (lab && lab->text && lab->text[0]) {
                char txt[160];
                label_text(lab->text, txt, sizeof txt);
                /* a light halo keeps the label readable where an edge crosses it */
                double tw = plot_text_width(cr, txt, 11, 0), th = plot_text_lines(txt) * 11 * 1.25;
                cairo_set_source_rgba(cr, 1, 1, 1, 0.8);
                cairo_rectangle(cr, X(c, lab->pos.x) - tw / 2 - 2, Y(c, lab->pos.y) - th / 2, tw + 4, th);
                cairo_fill(cr);
                plot_set_hex(cr, faint ? 0x777777 : 0x111111);
                plot_text(cr, X(c, lab->pos.x), Y(c, lab->pos.y), txt, 11, 0, 0, 1);
            }
        }
    cairo_set_dash(cr, NULL, 0, 0);
}

static void draw_nodes(cairo_t *cr, const draw_ctx *c)
{
    for (int i = 0; i < c->g->n_nodes; i++) {
        const os_plot_node *pn = &c->g->nodes[i];
        Agnode_t *n = agnode(c->ag, (char *)pn->id, 0);
        if (!n)
            continue;
        double w = ND_width(n) * 72, h = ND_height(n) * 72;
        double x = X(c, ND_coord(n).x) - w / 2, y = Y(c, ND_coord(n).y) - h / 2;
        cairo_rectangle(cr, x, y, w, h);
        plot_set_hex(cr, fill_hex[pn->kind >= 0 && pn->kind < 4 ? pn->kind : 1]);
        cairo_fill_preserve(cr);
        cairo_set_source_rgb(cr, 0, 0, 0);
        cairo_set_line_width(cr, 1.6);
        cairo_stroke(cr);
        plot_text(cr, x + w / 2, y + h / 2, pn->text, 14, 0, 0, 1);
    }
}

static void draw_graph(cairo_t *cr, void *arg)
{
    draw_ctx *c = arg;
    cairo_set_source_rgb(cr, 0.1, 0.1, 0.1);
    plot_text(cr, PAD, 21, c->g->title, 14, -1, 1, 0);
    draw_edges(cr, c);
    draw_nodes(cr, c);
}

/* One Graphviz context for the process, made on first use and kept: its
 * plugins load once, and Graphviz 2.42's pango text-layout plugin keeps a
 * pointer to the last font name, owned by the context that measured it — a
 * second context would make it read freed memory (AddressSanitizer saw it). */
static GVC_t *context(void)
{
    static GVC_t *gvc;
    if (!gvc)
        gvc = gvContext();
    return gvc;
}

int os_plot_graph_draw(const os_plot_graph *g, const char *base)
{
    char *dot = os_plot_graph_dot(g);
    if (!dot)
        return os_error("%s: out of memory", base);
    gv_msg[0] = 0;
    agusererrf old = agseterrf(gv_error);
    GVC_t *gvc = context();
    Agraph_t *ag = gvc ? agmemread(dot) : NULL;
    free(dot);
    int rc = 0;
    if (!gvc || !ag) {
        rc = os_error("%s: Graphviz could not read the graph: %s", base, gv_msg[0] ? gv_msg : "no context");
    } else if (gvLayout(gvc, ag, "dot")) {
        rc = os_error("%s: Graphviz's dot layout failed (is libgvc6 with its plugins installed?): %s", base,
                      gv_msg[0] ? gv_msg : "no message");
    } else {
        draw_ctx c = {.g = g, .ag = ag, .bb = GD_bb(ag)};
        double title_w = 14 * 0.62 * (double)strlen(g->title);
        c.w = 2 * PAD + (c.bb.UR.x - c.bb.LL.x);
        if (c.w < title_w + 2 * PAD)
            c.w = title_w + 2 * PAD;
        c.h = TITLE_H + 2 * PAD + (c.bb.UR.y - c.bb.LL.y);
        rc = plot_render(base, c.w, c.h, draw_graph, &c);
        gvFreeLayout(gvc, ag);
    }
    if (ag)
        agclose(ag);
    agseterrf(old);
    return rc;
}
