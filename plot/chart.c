/* plot/chart.c — line charts: a grid of panels, each with a title, labelled
 * axes, nice ticks, grid lines, one line per series and a legend (in the
 * panel's emptiest corner, or one shared legend under the figure's title). */
#include "plot/internal.h"
#include "plot/plot.h"
#include "tensor/error.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#define PAD 14.0
#define TITLE_H 32.0
#define LEG_ROW 18.0
/* inside a panel: room for the title, tick labels and axis labels */
#define P_TOP 24.0
#define P_LEFT 56.0
#define P_BOTTOM 38.0
#define P_RIGHT 12.0

typedef struct {
    const os_plot_figure *f;
    double w, h, legend_h;
    int cols, rows;
} fig_ctx;

static double yv(const os_plot_line *l, int i) { return l->y[(size_t)i * (size_t)(l->stride > 0 ? l->stride : 1)]; }

/* a step of 1, 2 or 5 times a power of ten, about range / n */
static double nice_step(double range, int n)
{
    double raw = range / n, p = pow(10, floor(log10(raw))), m = raw / p;
    return (m < 1.5 ? 1 : m < 3.5 ? 2 : m < 7.5 ? 5 : 10) * p;
}

static void tick_label(char *buf, size_t n, double v, double step)
{
    if (fabs(v) < step * 1e-6)
        v = 0;
    int dec = (int)ceil(-log10(step) - 1e-9);
    if (dec < 0)
        dec = 0;
    if (dec > 5 || fabs(v) >= 1e6)
        snprintf(buf, n, "%.1e", v);
    else
        snprintf(buf, n, "%.*f", dec, v);
}

typedef struct { double x0, x1, y0, y1, xstep, ystep; int any; } ranges;

static void data_ranges(const os_plot_panel *p, ranges *r)
{
    double x0 = INFINITY, x1 = -INFINITY, y0 = INFINITY, y1 = -INFINITY;
    int xint = 1;
    for (int l = 0; l < p->n_lines; l++)
        for (int i = 0; i < p->lines[l].n; i++) {
            double x = p->lines[l].x[i], y = yv(&p->lines[l], i);
            if (!isfinite(x) || !isfinite(y))
                continue;
            x0 = fmin(x0, x), x1 = fmax(x1, x), y0 = fmin(y0, y), y1 = fmax(y1, y);
            xint &= x == floor(x);
        }
    r->any = isfinite(x0);
    if (!r->any)
        x0 = 0, x1 = 1, y0 = 0, y1 = 1;
    if (p->from_zero && y0 > 0)
        y0 = 0;
    if (x1 - x0 < 1e-12)
        x0 -= 0.5, x1 += 0.5;
    if (y1 - y0 < 1e-12 * fmax(1, fabs(y1))) {
        double d = fabs(y1) > 0 ? fabs(y1) * 0.1 : 0.5;
        y0 -= d, y1 += d;
        if (p->from_zero && y0 < 0 && y1 > 0 && r->any)
            y0 = 0;
    }
    r->xstep = nice_step(x1 - x0, 5);
    if (xint && r->xstep < 1)
        r->xstep = 1;
    r->ystep = nice_step(y1 - y0, 4);
    r->x0 = x0, r->x1 = x1;
    r->y0 = floor(y0 / r->ystep + 1e-9) * r->ystep;
    r->y1 = ceil(y1 / r->ystep - 1e-9) * r->ystep;
}

static void line_style(cairo_t *cr, const os_plot_line *l)
{
    plot_set_color(cr, l->color);
    cairo_set_line_width(cr, 1.6);
    if (l->dashed) {
        double d[2] = {5, 3};
        cairo_set_dash(cr, d, 2, 0);
    } else {
        cairo_set_dash(cr, NULL, 0, 0);
    }
}

/* the legend entries' size */
static void legend_size(cairo_t *cr, const os_plot_panel *p, double *w, double *h)
{
    double tw = 0;
    for (int l = 0; l < p->n_lines; l++)
        tw = fmax(tw, plot_text_width(cr, p->lines[l].name ? p->lines[l].name : "", 9.5, 0));
    *w = tw + 30;
    *h = p->n_lines * 13.0 + 6;
}

static void legend_entry(cairo_t *cr, const os_plot_line *l, double x, double y, double size)
{
    line_style(cr, l);
    cairo_move_to(cr, x, y);
    cairo_line_to(cr, x + 18, y);
    cairo_stroke(cr);
    cairo_set_dash(cr, NULL, 0, 0);
    cairo_set_source_rgb(cr, 0.1, 0.1, 0.1);
    plot_text(cr, x + 23, y, l->name ? l->name : "", size, -1, 0, 1);
}

static void draw_legend(cairo_t *cr, const os_plot_panel *p, double ax, double ay, double aw, double ah,
                        const ranges *r)
{
    double lw, lh;
    legend_size(cr, p, &lw, &lh);
    if (lw > aw || lh > ah)
        return;
    /* the corner that covers the fewest points */
    double best_x = ax + aw - lw - 4, best_y = ay + 4;
    long best = -1;
    for (int corner = 0; corner < 4; corner++) {
        double cx = corner & 1 ? ax + 4 : ax + aw - lw - 4, cy = corner & 2 ? ay + ah - lh - 4 : ay + 4;
        long hits = 0;
        for (int l = 0; l < p->n_lines; l++) {
            double qx = NAN, qy = NAN; /* the previous point: segments are sampled too */
            for (int i = 0; i < p->lines[l].n; i++) {
                double x = p->lines[l].x[i], y = yv(&p->lines[l], i);
                if (!isfinite(x) || !isfinite(y)) {
                    qx = NAN;
                    continue;
                }
                double px = ax + (x - r->x0) / (r->x1 - r->x0) * aw, py = ay + ah - (y - r->y0) / (r->y1 - r->y0) * ah;
                for (int t = isfinite(qx) ? 1 : 8; t <= 8; t++) {
                    double sx = isfinite(qx) ? qx + (px - qx) * t / 8 : px, sy = isfinite(qx) ? qy + (py - qy) * t / 8 : py;
                    hits += sx >= cx - 6 && sx <= cx + lw + 6 && sy >= cy - 6 && sy <= cy + lh + 6;
                }
                qx = px, qy = py;
            }
        }
        if (best < 0 || hits < best)
            best = hits, best_x = cx, best_y = cy;
    }
    cairo_set_source_rgba(cr, 1, 1, 1, 0.85);
    cairo_rectangle(cr, best_x, best_y, lw, lh);
    cairo_fill_preserve(cr);
    cairo_set_source_rgb(cr, 0.8, 0.8, 0.8);
    cairo_set_line_width(cr, 0.8);
    cairo_stroke(cr);
    for (int l = 0; l < p->n_lines; l++)
        legend_entry(cr, &p->lines[l], best_x + 5, best_y + 3 + 6.5 + l * 13.0, 9.5);
}

static void draw_panel(cairo_t *cr, const os_plot_panel *p, double px, double py, double pw, double ph)
{
    ranges r;
    data_ranges(p, &r);
    double ax = px + P_LEFT, ay = py + P_TOP, aw = pw - P_LEFT - P_RIGHT, ah = ph - P_TOP - P_BOTTOM;
    cairo_set_source_rgb(cr, 0.1, 0.1, 0.1);
    plot_text(cr, ax + aw / 2, py + 15, p->title ? p->title : "", 11.5, 0, 1, 0);
#define SX(x) (ax + ((x)-r.x0) / (r.x1 - r.x0) * aw)
#define SY(y) (ay + ah - ((y)-r.y0) / (r.y1 - r.y0) * ah)
    /* grid and ticks */
    char buf[32];
    cairo_set_line_width(cr, 0.6);
    for (double t = ceil(r.y0 / r.ystep - 1e-9) * r.ystep; t <= r.y1 + r.ystep * 1e-6; t += r.ystep) {
        cairo_set_source_rgb(cr, 0.88, 0.88, 0.88);
        cairo_move_to(cr, ax, SY(t));
        cairo_line_to(cr, ax + aw, SY(t));
        cairo_stroke(cr);
        tick_label(buf, sizeof buf, t, r.ystep);
        cairo_set_source_rgb(cr, 0.25, 0.25, 0.25);
        plot_text(cr, ax - 4, SY(t), buf, 9, 1, 0, 1);
    }
    for (double t = ceil(r.x0 / r.xstep - 1e-9) * r.xstep; t <= r.x1 + r.xstep * 1e-6; t += r.xstep) {
        cairo_set_source_rgb(cr, 0.88, 0.88, 0.88);
        cairo_move_to(cr, SX(t), ay);
        cairo_line_to(cr, SX(t), ay + ah);
        cairo_stroke(cr);
        tick_label(buf, sizeof buf, t, r.xstep);
        cairo_set_source_rgb(cr, 0.25, 0.25, 0.25);
        plot_text(cr, SX(t), ay + ah + 13, buf, 9, 0, 0, 0);
    }
    cairo_set_source_rgb(cr, 0.3, 0.3, 0.3);
    cairo_set_line_width(cr, 1);
    cairo_rectangle(cr, ax, ay, aw, ah);
    cairo_stroke(cr);
    /* axis labels */
    cairo_set_source_rgb(cr, 0.1, 0.1, 0.1);
    if (p->xlabel)
        plot_text(cr, ax + aw / 2, ay + ah + 29, p->xlabel, 10, 0, 0, 0);
    if (p->ylabel) {
        cairo_save(cr);
        cairo_translate(cr, px + 13, ay + ah / 2);
        cairo_rotate(cr, -M_PI / 2);
        plot_text(cr, 0, 0, p->ylabel, 10, 0, 0, 1);
        cairo_restore(cr);
    }
    if (!r.any) {
        cairo_set_source_rgb(cr, 0.5, 0.5, 0.5);
        plot_text(cr, ax + aw / 2, ay + ah / 2, "no data", 11, 0, 0, 1);
        return;
    }
    /* the lines */
    cairo_save(cr);
    cairo_rectangle(cr, ax, ay, aw, ah);
    cairo_clip(cr);
    for (int l = 0; l < p->n_lines; l++) {
        const os_plot_line *ln = &p->lines[l];
        int pen = 0, finite = 0;
        line_style(cr, ln);
        for (int i = 0; i < ln->n; i++) {
            double x = ln->x[i], y = yv(ln, i);
            if (!isfinite(x) || !isfinite(y)) {
                pen = 0;
                continue;
            }
            finite++;
            if (pen)
                cairo_line_to(cr, SX(x), SY(y));
            else
                cairo_move_to(cr, SX(x), SY(y));
            pen = 1;
        }
        cairo_stroke(cr);
        cairo_set_dash(cr, NULL, 0, 0);
        if (finite <= 25)
            for (int i = 0; i < ln->n; i++) {
                double x = ln->x[i], y = yv(ln, i);
                if (isfinite(x) && isfinite(y)) {
                    cairo_new_sub_path(cr);
                    cairo_arc(cr, SX(x), SY(y), 2.2, 0, 2 * M_PI);
                }
            }
        cairo_fill(cr);
    }
    cairo_restore(cr);
#undef SX
#undef SY
    if (p->legend)
        draw_legend(cr, p, ax, ay, aw, ah, &r);
}

/* the shared legend: entries in rows that fit the width; returns its height */
static double shared_legend(cairo_t *cr, const os_plot_panel *p, double w, double y, int draw)
{
    double x = PAD, rows = 1;
    for (int l = 0; l < p->n_lines; l++) {
        double ew = plot_text_width(cr, p->lines[l].name ? p->lines[l].name : "", 11, 0) + 42;
        if (x + ew > w - PAD && x > PAD) {
            x = PAD;
            rows++;
        }
        if (draw)
            legend_entry(cr, &p->lines[l], x, y + (rows - 1) * LEG_ROW + LEG_ROW / 2, 11);
        x += ew;
    }
    return rows * LEG_ROW + 6;
}

static void draw_figure(cairo_t *cr, void *arg)
{
    fig_ctx *c = arg;
    const os_plot_figure *f = c->f;
    cairo_set_source_rgb(cr, 0.1, 0.1, 0.1);
    plot_text(cr, PAD, 22, f->title ? f->title : "", 15, -1, 1, 0);
    if (c->legend_h > 0)
        shared_legend(cr, &f->panels[0], c->w, TITLE_H, 1);
    double pw = f->panel_w > 0 ? f->panel_w : 300, ph = f->panel_h > 0 ? f->panel_h : 210;
    for (int i = 0; i < f->n_panels; i++)
        draw_panel(cr, &f->panels[i], PAD + (i % c->cols) * pw, TITLE_H + c->legend_h + (i / c->cols) * ph, pw, ph);
}

int os_plot_figure_draw(const os_plot_figure *f, const char *base)
{
    if (f->n_panels < 1)
        return os_error("%s: a figure needs a panel", base);
    fig_ctx c = {.f = f};
    c.cols = f->cols > 0 ? f->cols : (int)lround(sqrt(f->n_panels * 1.75));
    if (c.cols < 1)
        c.cols = 1;
    if (c.cols > f->n_panels)
        c.cols = f->n_panels;
    c.rows = (f->n_panels + c.cols - 1) / c.cols;
    double pw = f->panel_w > 0 ? f->panel_w : 300, ph = f->panel_h > 0 ? f->panel_h : 210;
    c.w = 2 * PAD + c.cols * pw;
    if (f->shared_legend) {
        /* measure on a scratch surface */
        cairo_surface_t *s = cairo_image_surface_create(CAIRO_FORMAT_RGB24, 1, 1);
        cairo_t *cr = cairo_create(s);
        c.legend_h = shared_legend(cr, &f->panels[0], c.w, TITLE_H, 0);
        cairo_destroy(cr);
        cairo_surface_destroy(s);
    }
    c.h = TITLE_H + c.legend_h + c.rows * ph + PAD;
    return plot_render(base, c.w, c.h, draw_figure, &c);
}
