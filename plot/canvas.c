/* plot/canvas.c — one drawing to PNG and SVG with cairo; text, palette, files. */
#include "plot/internal.h"
#include "tensor/error.h"

#include <cairo/cairo-svg.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdint.h>
#include <unistd.h>
#include <zlib.h>

/* ---- PNG -------------------------------------------------------------------------
 * Our own encoder (zlib): cairo's (libpng's defaults: adaptive filters, level
 * 6) took two thirds of the drawing time of a 28-panel figure. Sub filter and
 * level 3 write it 2-3x faster, about 10 % larger. */
static void be32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24), p[1] = (unsigned char)(v >> 16), p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}

static int chunk(FILE *f, const char *type, const unsigned char *d, uint32_t n)
{
    unsigned char h[8], c[4];
    be32(h, n);
    memcpy(h + 4, type, 4);
    uLong crc = crc32(crc32(0L, h + 4, 4), d, n);
    be32(c, (uint32_t)crc);
    return fwrite(h, 1, 8, f) != 8 || (n && fwrite(d, 1, n, f) != n) || fwrite(c, 1, 4, f) != 4;
}

/* an RGB24 image surface to path; 0 or a cairo-like status */
static cairo_status_t write_png(cairo_surface_t *s, const char *path)
{
    cairo_surface_flush(s);
    int w = cairo_image_surface_get_width(s), h = cairo_image_surface_get_height(s);
    int stride = cairo_image_surface_get_stride(s);
    const unsigned char *data = cairo_image_surface_get_data(s);
    FILE *f = fopen(path, "wb");
    if (!f)
        return CAIRO_STATUS_WRITE_ERROR;
    size_t rl = (size_t)w * 3 + 1, ol = 1 << 16;
    unsigned char *row = malloc(rl), *out = malloc(ol), ihdr[13];
    z_stream z;
    memset(&z, 0, sizeof z);
    int bad = !row || !out || deflateInit(&z, 3) != Z_OK;
    static const unsigned char sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    be32(ihdr, (uint32_t)w), be32(ihdr + 4, (uint32_t)h);
    ihdr[8] = 8, ihdr[9] = 2, ihdr[10] = ihdr[11] = ihdr[12] = 0; /* 8-bit RGB */
    bad = bad || fwrite(sig, 1, 8, f) != 8 || chunk(f, "IHDR", ihdr, 13);
    for (int y = 0; y <= h && !bad; y++) {
        int flush = y == h ? Z_FINISH : Z_NO_FLUSH;
        if (y < h) {
            const uint32_t *px = (const uint32_t *)(data + (size_t)y * stride);
            unsigned char *r = row + 1, prev[3] = {0, 0, 0};
            row[0] = 1; /* Sub */
            for (int x = 0; x < w; x++, r += 3) {
                unsigned char c[3] = {(unsigned char)(px[x] >> 16), (unsigned char)(px[x] >> 8), (unsigned char)px[x]};
                r[0] = (unsigned char)(c[0] - prev[0]), r[1] = (unsigned char)(c[1] - prev[1]);
                r[2] = (unsigned char)(c[2] - prev[2]);
                memcpy(prev, c, 3);
            }
            z.next_in = row, z.avail_in = (uInt)rl;
        }
        int zr;
        do {
            z.next_out = out, z.avail_out = (uInt)ol;
            zr = deflate(&z, flush);
            size_t got = ol - z.avail_out;
            if (zr == Z_STREAM_ERROR || (got && chunk(f, "IDAT", out, (uint32_t)got)))
                bad = 1;
        } while (!bad && (z.avail_out == 0 || (flush == Z_FINISH && zr != Z_STREAM_END)));
    }
    bad = bad || chunk(f, "IEND", NULL, 0);
    deflateEnd(&z);
    free(row);
    free(out);
    bad |= fclose(f) != 0;
    return bad ? CAIRO_STATUS_WRITE_ERROR : CAIRO_STATUS_SUCCESS;
}

static int finish(cairo_t *cr, cairo_surface_t *s, const char *tmp, const char *path, int png)
{
    cairo_status_t st = cairo_status(cr);
    cairo_destroy(cr);
    if (st == CAIRO_STATUS_SUCCESS && png)
        st = write_png(s, tmp);
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
    /* PLOT_PNG_SCALE pixels a unit, less for a big figure (about 3 M pixels at most) */
    double scale = fmin(PLOT_PNG_SCALE, fmax(1.0, sqrt(3e6 / (w * h))));
    int pw = (int)ceil(w * scale), ph = (int)ceil(h * scale);
    if (pw < 1 || ph < 1 || pw > 16000 || ph > 16000)
        return os_error("%s: picture size %.0f x %.0f out of range", base, w, h);
    /* PNG */
    snprintf(path, sizeof path, "%s.png", base);
    snprintf(tmp, sizeof tmp, "%s.png.tmp", base);
    cairo_surface_t *s = cairo_image_surface_create(CAIRO_FORMAT_RGB24, pw, ph);
    cairo_t *cr = cairo_create(s);
    cairo_set_source_rgb(cr, 1, 1, 1);
    cairo_paint(cr);
    cairo_scale(cr, scale, scale);
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
