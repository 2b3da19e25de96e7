/* plot/report.c — report.html: one self-contained page with the run's
 * pictures (PNG inlined as base64 data URIs, each linked to its SVG), a
 * summary (parameter counts, timings, final metrics), what is missing, the
 * per-epoch table, the configuration and the architecture JSON. */
#include "plot/internal.h"
#include "plot/plot.h"
#include "tensor/error.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

char *os_plot_base64(const unsigned char *d, size_t n)
{
    static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    char *out = malloc((n + 2) / 3 * 4 + 1), *o = out;
    if (!out)
        return NULL;
    size_t i = 0;
    for (; i + 2 < n; i += 3) {
        unsigned v = (unsigned)d[i] << 16 | (unsigned)d[i + 1] << 8 | d[i + 2];
        *o++ = tab[v >> 18], *o++ = tab[(v >> 12) & 63], *o++ = tab[(v >> 6) & 63], *o++ = tab[v & 63];
    }
    if (i < n) {
        unsigned v = (unsigned)d[i] << 16 | (i + 1 < n ? (unsigned)d[i + 1] << 8 : 0);
        *o++ = tab[v >> 18], *o++ = tab[(v >> 12) & 63];
        *o++ = i + 1 < n ? tab[(v >> 6) & 63] : '=';
        *o++ = '=';
    }
    *o = 0;
    return out;
}

char *os_plot_html_escape(const char *s)
{
    size_t n = 1;
    for (const char *p = s; *p; p++)
        n += *p == '&' ? 5 : *p == '<' || *p == '>' ? 4 : *p == '"' ? 6 : 1;
    char *out = malloc(n), *o = out;
    if (!out)
        return NULL;
    for (; *s; s++) {
        const char *r = *s == '&' ? "&amp;" : *s == '<' ? "&lt;" : *s == '>' ? "&gt;" : *s == '"' ? "&quot;" : NULL;
        if (r) {
            size_t l = strlen(r);
            memcpy(o, r, l);
            o += l;
        } else {
            *o++ = *s;
        }
    }
    *o = 0;
    return out;
}

/* ---- a growing string ------------------------------------------------------------ */
typedef struct { char *s; size_t n, cap; int oom; } html;

static void add(html *h, const char *s, size_t len)
{
    if (h->oom)
        return;
    if (h->n + len + 1 > h->cap) {
        size_t cap = h->cap ? h->cap : 1 << 16;
        while (cap < h->n + len + 1)
            cap *= 2;
        char *ns = realloc(h->s, cap);
        if (!ns) {
            h->oom = 1;
            return;
        }
        h->s = ns, h->cap = cap;
    }
    memcpy(h->s + h->n, s, len);
    h->n += len;
    h->s[h->n] = 0;
}

static void adds(html *h, const char *s) { add(h, s, strlen(s)); }

#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
static void addf(html *h, const char *fmt, ...)
{
    char buf[2048];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (n > 0)
        add(h, buf, (size_t)n < sizeof buf ? (size_t)n : sizeof buf - 1);
}

static void add_esc(html *h, const char *s)
{
    char *e = os_plot_html_escape(s ? s : "");
    if (!e) {
        h->oom = 1;
        return;
    }
    add(h, e, strlen(e));
    free(e);
}

/* ---- pieces -------------------------------------------------------------------------- */
static const char *str_of(const cJSON *j, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static double num_of(const cJSON *j, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, key);
    return cJSON_IsNumber(v) ? v->valuedouble : NAN;
}

static void row(html *h, const char *k, const char *v)
{
    adds(h, "<tr><th>");
    add_esc(h, k);
    adds(h, "</th><td>");
    add_esc(h, v);
    adds(h, "</td></tr>\n");
}

/* The width to show a picture at: its drawing units (the SVG's width, in
 * pt), or half the PNG's pixels. */
static double display_width(const char *out, const char *stem, const unsigned char *png)
{
    char path[700], head[512];
    snprintf(path, sizeof path, "%s/%s.svg", out, stem);
    FILE *f = fopen(path, "rb");
    size_t n = f ? fread(head, 1, sizeof head - 1, f) : 0;
    if (f)
        fclose(f);
    head[n] = 0;
    const char *svg = strstr(head, "<svg"), *w = svg ? strstr(svg, " width=\"") : NULL;
    double v = w ? atof(w + 8) : 0;
    if (v > 0)
        return v;
    return ((unsigned)png[16] << 24 | (unsigned)png[17] << 16 | (unsigned)png[18] << 8 | png[19]) / PLOT_PNG_SCALE;
}

static void picture(html *h, const char *out, const plot_picture *p)
{
    char path[700];
    snprintf(path, sizeof path, "%s/%s.png", out, p->stem);
    size_t n = 0;
    unsigned char *png = (unsigned char *)plot_read_file(path, &n);
    addf(h, "<figure id=\"%s\">", p->stem);
    if (png && n > 24) {
        char *b64 = os_plot_base64(png, n);
        addf(h, "<a href=\"%s.svg\"><img alt=\"%s.png\" style=\"width:%.0fpx\" src=\"data:image/png;base64,", p->stem,
             p->stem, display_width(out, p->stem, png));
        if (b64)
            add(h, b64, strlen(b64));
        else
            h->oom = 1;
        adds(h, "\"></a>");
        free(b64);
    } else {
        addf(h, "<p class=\"missing\">%s.png could not be read</p>", p->stem);
    }
    free(png);
    adds(h, "<figcaption>");
    add_esc(h, p->caption);
    addf(h, " &middot; <a href=\"%s.png\">%s.png</a> &middot; <a href=\"%s.svg\">%s.svg</a></figcaption></figure>\n",
         p->stem, p->stem, p->stem, p->stem);
}

static void summary(html *h, const plot_report *r)
{
    const cJSON *c = r->config;
    const os_plot_metrics *m = r->m;
    char buf[256];
    adds(h, "<table class=\"kv\">\n");
    const char *cmd = str_of(c, "command");
    row(h, "run", r->run);
    if (cmd)
        row(h, "command", cmd);
    const char *space = str_of(c, "space") ? str_of(c, "space") : str_of(r->arch, "space");
    if (space)
        row(h, "space", space);
    if (str_of(c, "strategy") && (!cmd || !strcmp(cmd, "train")))
        row(h, "strategy", str_of(c, "strategy"));
    const cJSON *params = cJSON_GetObjectItemCaseSensitive(c, "params");
    if (isfinite(num_of(params, "weights"))) {
        snprintf(buf, sizeof buf, "%.0f (%.3f M)", num_of(params, "weights"), num_of(params, "weights") / 1e6);
        row(h, "weights", buf);
    }
    if (isfinite(num_of(params, "arch"))) {
        snprintf(buf, sizeof buf, "%.0f", num_of(params, "arch"));
        row(h, "architecture parameters", buf);
    }
    const cJSON *ds = cJSON_GetObjectItemCaseSensitive(c, "dataset");
    if (str_of(ds, "source")) {
        snprintf(buf, sizeof buf, "%s (%.0fx%.0fx%.0f, %.0f classes; %.0f train, %.0f arch, %.0f test images)",
                 str_of(ds, "source"), num_of(ds, "channels"), num_of(ds, "height"), num_of(ds, "width"),
                 num_of(ds, "classes"), num_of(ds, "train_images"), num_of(ds, "arch_images"),
                 num_of(ds, "test_images"));
        row(h, "data", buf);
    }
    const char *g = str_of(r->arch, "genotype") ? str_of(r->arch, "genotype") : str_of(r->arch, "arch_str");
    if (g)
        row(h, "architecture", g);
    if (m && m->n > 0) {
        int last = m->n - 1;
        double total = 0, ips = 0;
        int nips = 0;
        for (int i = 0; i < m->n; i++) {
            if (isfinite(m->v[OS_PM_SECONDS][i]))
                total += m->v[OS_PM_SECONDS][i];
            if (isfinite(m->v[OS_PM_IMAGES_PER_SEC][i]))
                ips += m->v[OS_PM_IMAGES_PER_SEC][i], nips++;
        }
        if (isfinite(num_of(c, "epochs")))
            snprintf(buf, sizeof buf, "%.0f of %.0f", m->v[OS_PM_EPOCH][last], num_of(c, "epochs"));
        else
            snprintf(buf, sizeof buf, "%.0f", m->v[OS_PM_EPOCH][last]);
        row(h, "epochs", buf);
        snprintf(buf, sizeof buf, "%.1f s in all, %.1f s an epoch, %.1f images/s", total, total / m->n,
                 nips ? ips / nips : NAN);
        row(h, "time (training epochs)", buf);
        const char *vn = cmd && !strcmp(cmd, "retrain") ? "test" : "validation";
        snprintf(buf, sizeof buf, "train loss %.4f, acc %.2f %% | %s loss %.4f, acc %.2f %%",
                 m->v[OS_PM_TRAIN_LOSS][last], 100 * m->v[OS_PM_TRAIN_ACC][last], vn, m->v[OS_PM_VAL_LOSS][last],
                 100 * m->v[OS_PM_VAL_ACC][last]);
        row(h, "last epoch", buf);
    }
    adds(h, "</table>\n");
}

/* a number cell; empty when the line lacked the key */
static void cell(html *h, const char *fmt, double v)
{
    if (!isfinite(v)) {
        adds(h, "<td></td>");
        return;
    }
    adds(h, "<td>");
    addf(h, fmt, v);
    adds(h, "</td>");
}

static void epochs_table(html *h, const os_plot_metrics *m, int retrain)
{
    const char *vn = retrain ? "test" : "val";
    addf(h, "<details><summary>every epoch</summary><table class=\"grid\">\n<tr><th>epoch</th><th>train loss</th>"
            "<th>train acc %%</th><th>%s loss</th><th>%s acc %%</th><th>lr</th><th>tau</th><th>seconds</th>"
            "<th>images/s</th></tr>\n", vn, vn);
    static const int key[] = {OS_PM_EPOCH, OS_PM_TRAIN_LOSS, OS_PM_TRAIN_ACC, OS_PM_VAL_LOSS, OS_PM_VAL_ACC,
                              OS_PM_LR, OS_PM_TAU, OS_PM_SECONDS, OS_PM_IMAGES_PER_SEC};
    static const char *const fmt[] = {"%.0f", "%.4f", "%.2f", "%.4f", "%.2f", "%.6g", "%.4g", "%.1f", "%.1f"};
    for (int i = 0; i < m->n; i++) {
        adds(h, "<tr>");
        for (int k = 0; k < 9; k++) {
            double v = m->v[key[k]][i];
            cell(h, fmt[k], key[k] == OS_PM_TRAIN_ACC || key[k] == OS_PM_VAL_ACC ? 100 * v : v);
        }
        adds(h, "</tr>\n");
    }
    adds(h, "</table></details>\n");
}

static const char *const css =
    "body{font-family:'DejaVu Sans',sans-serif;max-width:1700px;margin:1.5em auto;padding:0 1em;color:#222}"
    "h1{font-size:1.4em}h2{font-size:1.15em;border-bottom:1px solid #ccc;padding-bottom:.2em;margin-top:1.6em}"
    "table.kv th{text-align:left;padding-right:1.2em;vertical-align:top;font-weight:600}"
    "table.grid{border-collapse:collapse;font-size:.85em}table.grid td,table.grid th{border:1px solid #ddd;"
    "padding:.15em .5em;text-align:right}figure{display:inline-block;margin:.5em 1em .5em 0;vertical-align:top}"
    "figure img{max-width:100%;border:1px solid #eee}figcaption{font-size:.85em;color:#555}"
    "pre{background:#f6f6f6;padding:.8em;overflow:auto;max-height:40em;font-size:.8em}"
    ".missing{color:#a33}";

int plot_report_write(const char *path, const plot_report *r)
{
    html h = {0};
    adds(&h, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n<title>oneshot run ");
    add_esc(&h, r->run);
    addf(&h, "</title>\n<style>%s</style></head>\n<body>\n<h1>oneshot run <code>", css);
    add_esc(&h, r->run);
    adds(&h, "</code></h1>\n");
    summary(&h, r);
    if (r->notes && r->notes[0]) {
        adds(&h, "<h2>Missing</h2>\n<ul class=\"missing\">\n");
        for (const char *s = r->notes; *s;) {
            const char *e = strchr(s, '\n');
            size_t len = e ? (size_t)(e - s) : strlen(s);
            char line[1024];
            snprintf(line, sizeof line, "%.*s", (int)(len < sizeof line ? len : sizeof line - 1), s);
            adds(&h, "<li>");
            add_esc(&h, line);
            adds(&h, "</li>\n");
            s = e ? e + 1 : s + len;
        }
        adds(&h, "</ul>\n");
    }
    static const char *const titles[] = {"Architecture", "Choice probabilities", "Learning curves"};
    for (int sec = PLOT_SEC_ARCH; sec <= PLOT_SEC_CURVES; sec++) {
        int any = 0;
        for (int i = 0; i < r->n_pics; i++)
            if (r->pics[i].section == sec) {
                if (!any++)
                    addf(&h, "<h2>%s</h2>\n", titles[sec]);
                picture(&h, r->out, &r->pics[i]);
            }
    }
    if (r->m && r->m->n > 0) {
        adds(&h, "<h2>Timings and metrics</h2>\n");
        const char *cmd = str_of(r->config, "command");
        epochs_table(&h, r->m, cmd && !strcmp(cmd, "retrain"));
    }
    if (r->config_text) {
        adds(&h, "<h2>Configuration (config.json)</h2>\n<pre>");
        add_esc(&h, r->config_text);
        adds(&h, "</pre>\n");
    }
    if (r->arch_text) {
        adds(&h, "<h2>Architecture JSON (arch.json)</h2>\n<pre>");
        add_esc(&h, r->arch_text);
        adds(&h, "</pre>\n");
    }
    adds(&h, "</body></html>\n");
    int rc = h.oom ? os_error("%s: out of memory", path) : plot_write_file(path, h.s, h.n);
    free(h.s);
    return rc;
}
