/* plot/internal.h — what the files of plot/ share: the cairo canvas (one
 * drawing function rendered to PNG and to SVG), text with subscripts and
 * line breaks, the palette, whole-file writes. Not part of the API. */
#ifndef OS_PLOT_INTERNAL_H
#define OS_PLOT_INTERNAL_H

#include <cairo/cairo.h>
#include <stddef.h>

#define PLOT_FONT "DejaVu Sans"
#define PLOT_PNG_SCALE 2.0 /* PNG pixels per drawing unit (sharp on high-density screens); big figures get less */

/* Draw into cr, a w x h area of drawing units. */
typedef void (*plot_draw_fn)(cairo_t *cr, void *arg);

/* base.png (w x h scaled by PLOT_PNG_SCALE, or less so that it stays near 3 M
 * pixels) and base.svg (w x h). Each is
 * written to a temporary name and renamed. 0, or -1 with os_error(). */
int plot_render(const char *base, double w, double h, plot_draw_fn fn, void *arg);

/* Text: "_{...}" is a subscript, '\n' a line break. align: -1 left, 0 centre,
 * 1 right of x; y is the baseline of the first line (or the middle of the
 * block when vcenter). Returns the width. */
double plot_text(cairo_t *cr, double x, double y, const char *s, double size, int align, int bold, int vcenter);
double plot_text_width(cairo_t *cr, const char *s, double size, int bold);
int plot_text_lines(const char *s);

/* Palette (Tableau 10, then darker variants): colour i as r, g, b in 0..1. */
void plot_color(int i, double rgb[3]);
void plot_set_color(cairo_t *cr, int i);
void plot_set_hex(cairo_t *cr, unsigned rgb);

/* path.tmp, then rename: 0, or -1 with os_error(). */
int plot_write_file(const char *path, const void *data, size_t n);
/* A whole file (malloc'd, NUL-terminated; *n its length when n != NULL) or NULL. */
char *plot_read_file(const char *path, size_t *n);

/* ---- the report (plot/report.c) ---- */
struct cJSON;
struct os_plot_metrics;

typedef struct plot_picture {
    char stem[48];      /* file stem in the output folder: stem.png, stem.svg */
    char caption[128];
    int section;        /* PLOT_SEC_* */
} plot_picture;

enum { PLOT_SEC_ARCH, PLOT_SEC_PROBS, PLOT_SEC_CURVES };

typedef struct plot_report {
    const char *run, *out;
    const struct cJSON *config;          /* may be NULL */
    const char *config_text, *arch_text; /* the files as they are; may be NULL */
    const struct cJSON *arch;            /* may be NULL */
    const struct os_plot_metrics *m;     /* may be NULL */
    const plot_picture *pics;
    int n_pics;
    const char *notes;                   /* what is missing, one per line; may be "" */
} plot_report;

/* out/report.html: 0, or -1 with os_error(). */
int plot_report_write(const char *path, const plot_report *r);

#endif
