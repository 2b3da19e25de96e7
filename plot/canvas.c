/* plot/canvas.c — one drawing to PNG and SVG with cairo; text, palette, files. */
#include "plot/internal.h"
#include "tensor/error.h"

#include <cairo/cairo-svg.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int finish(cairo_t *cr, cairo_surface_t *s, const char *tmp, const char *path, int png)
{
    cairo_status_t st = cairo_status(cr);
    cairo_destroy(cr);
    if (st == CAIRO_STATUS_SUCCESS && png)
        st = cairo_surface_write_to_png(s, tmp);
    cairo_surface_finish(s);
    if (st == CAIRO_STATUS_SUCCESS)
        st = cairo_surface_status(s);
    cairo_surface_destroy(s);
    if (st != CAIRO_STATUS_SUCCESS) {
        unlink(tmp);
        return os_error("%s: cannot draw: %s", path, cairo_status_to_string(st));
    }
    if (rename(tmp, path)) {
        int e = errno;
        unlink(tmp);
        return os_error("%s: rename failed: %s", path, strerror(e));
    }
    return 0;
}

static void white(cairo_t *cr, double w, double h)
{
    cairo_set_source_rgb(cr, 1, 1, 1);
    cairo_rectangle(cr, 0, 0, w, h);
    cairo_fill(cr);
}

int plot_render(const char *base, double w, double h, plot_draw_fn fn, void *arg)
{
    char path[700], tmp[720];
    int pw = (int)ceil(w * PLOT_PNG_SCALE), ph = (int)ceil(h * PLOT_PNG_SCALE);
    if (pw < 1 || ph < 1 || pw > 16000 || ph > 16000)
        return os_error("%s: picture size %.0f x %.0f out of range", base, w, h);
    /* PNG */
    snprintf(path, sizeof path, "%s.png", base);
    snprintf(tmp, sizeof tmp, "%s.png.tmp", base);
    cairo_surface_t *s = cairo_image_surface_create(CAIRO_FORMAT_RGB24, pw, ph);
    cairo_t *cr = cairo_create(s);
    cairo_set_source_rgb(cr, 1, 1, 1);
    cairo_paint(cr);
    cairo_scale(cr, PLOT_PNG_SCALE, PLOT_PNG_SCALE);
    fn(cr, arg);
    if (finish(cr, s, tmp, path, 1))
        return -1;
    /* SVG */
    snprintf(path, sizeof path, "%s.svg", base);
    snprintf(tmp, sizeof tmp, "%s.svg.tmp", base);
    s = cairo_svg_surface_create(tmp, w, h);
    cr = cairo_create(s);
    white(cr, w, h);
    fn(cr, arg);
    return finish(cr, s, tmp, path, 0);
}

/* ---- text --------------------------------------------------------------------- */
/* One line of s (up to '\n' or the end): draw it (when draw) at x, y; its width. */
static double line_run(cairo_t *cr, const char *s, size_t len, double x, double y, double size, int draw)
{
    double w = 0;
    size_t i = 0;
    char seg[256];
    while (i < len) {
        int sub = 0;
        size_t j = i, n;
        if (s[i] == '_' && i + 1 < len && s[i + 1] == '{') {
            sub = 1;
            j = i + 2;
            while (j < len && s[j] != '}')
                j++;
            n = j - (i + 2);
            memcpy(seg, s + i + 2, n < sizeof seg ? n : sizeof seg - 1);
            i = j < len ? j + 1 : j;
        } else {
            while (j < len && !(s[j] == '_' && j + 1 < len && s[j + 1] == '{'))
                j++;
            n = j - i;
            memcpy(seg, s + i, n < sizeof seg ? n : sizeof seg - 1);
            i = j;
        }
        seg[n < sizeof seg ? n : sizeof seg - 1] = 0;
        double sz = sub ? size * 0.72 : size;
        cairo_set_font_size(cr, sz);
        cairo_text_extents_t te;
        cairo_text_extents(cr, seg, &te);
        if (draw) {
            cairo_move_to(cr, x + w, y + (sub ? size * 0.28 : 0));
            cairo_show_text(cr, seg);
        }
        w += te.x_advance;
    }
    return w;
}

static void font(cairo_t *cr, int bold)
{
    cairo_select_font_face(cr, PLOT_FONT, CAIRO_FONT_SLANT_NORMAL, bold ? CAIRO_FONT_WEIGHT_BOLD : CAIRO_FONT_WEIGHT_NORMAL);
}

int plot_text_lines(const char *s)
{
    int n = 1;
    for (; *s; s++)
        n += *s == '\n';
    return n;
}

double plot_text_width(cairo_t *cr, const char *s, double size, int bold)
{
    font(cr, bold);
    double w = 0;
    while (1) {
        const char *e = strchr(s, '\n');
        size_t len = e ? (size_t)(e - s) : strlen(s);
        double lw = line_run(cr, s, len, 0, 0, size, 0);
        if (lw > w)
            w = lw;
        if (!e)
            break;
        s = e + 1;
    }
    return w;
}

double plot_text(cairo_t *cr, double x, double y, const char *s, double size, int align, int bold, int vcenter)
{
    font(cr, bold);
    double lh = size * 1.25, wmax = 0;
    int lines = plot_text_lines(s);
    if (vcenter)
        y = y - lines * lh / 2 + lh / 2 + size * 0.36;
    for (int l = 0; l < lines; l++) {
        const char *e = strchr(s, '\n');
        size_t len = e ? (size_t)(e - s) : strlen(s);
        double w = line_run(cr, s, len, 0, 0, size, 0);
        double x0 = align < 0 ? x : align == 0 ? x - w / 2 : x - w;
        line_run(cr, s, len, x0, y + l * lh, size, 1);
        if (w > wmax)
            wmax = w;
        if (!e)
            break;
        s = e + 1;
    }
    return wmax;
}

/* ---- colours -------------------------------------------------------------------- */
static const unsigned palette[] = {0x1f77b4, 0xff7f0e, 0x2ca02c, 0xd62728, 0x9467bd, 0x8c564b, 0xe377c2, 0x7f7f7f,
                                   0xbcbd22, 0x17becf, 0x393b79, 0xad494a, 0x637939, 0x8c6d31, 0x7b4173, 0x3182bd};

void plot_color(int i, double rgb[3])
{
    unsigned c = palette[(unsigned)i % (sizeof palette / sizeof palette[0])];
    rgb[0] = ((c >> 16) & 255) / 255.0;
    rgb[1] = ((c >> 8) & 255) / 255.0;
    rgb[2] = (c & 255) / 255.0;
}

void plot_set_color(cairo_t *cr, int i)
{
    double c[3];
    plot_color(i, c);
    cairo_set_source_rgb(cr, c[0], c[1], c[2]);
}

void plot_set_hex(cairo_t *cr, unsigned c)
{
    cairo_set_source_rgb(cr, ((c >> 16) & 255) / 255.0, ((c >> 8) & 255) / 255.0, (c & 255) / 255.0);
}

/* ---- files ------------------------------------------------------------------------ */
int plot_write_file(const char *path, const void *data, size_t n)
{
    char tmp[720];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "wb");
    if (!f)
        return os_error("%s: cannot write: %s", tmp, strerror(errno));
    int bad = fwrite(data, 1, n, f) != n;
    bad |= fclose(f) != 0;
    if (bad) {
        int e = errno;
        unlink(tmp);
        return os_error("%s: write failed: %s", tmp, strerror(e));
    }
    if (rename(tmp, path)) {
        int e = errno;
        unlink(tmp);
        return os_error("%s: rename failed: %s", path, strerror(e));
    }
    return 0;
}

char *plot_read_file(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = 4096, len = 0;
    char *buf = malloc(cap);
    size_t r;
    while (buf && (r = fread(buf + len, 1, cap - len - 1, f)) > 0) {
        len += r;
        if (cap - len - 1 == 0) {
            char *nb = realloc(buf, cap * 2);
            if (!nb) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = nb;
            cap *= 2;
        }
    }
    int err = ferror(f);
    fclose(f);
    if (!buf || err) {
        free(buf);
        return NULL;
    }
    buf[len] = 0;
    if (n)
        *n = len;
    return buf;
}
