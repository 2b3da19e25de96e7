/* plot/run.c — draw what a run directory holds: the architecture, the choice
 * probabilities, the learning curves, then report.html; say what is missing. */
#include "plot/internal.h"
#include "plot/plot.h"
#include "supernet/arch.h"
#include "tensor/error.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct {
    const char *out;
    plot_picture pics[16];
    int n_pics;
    char notes[4096];
    os_plot_warn_fn warn;
    void *arg;
} job;

/* a warning: to the caller, and into the report's notes */
static void warn_cb(void *arg, const char *msg)
{
    job *j = arg;
    size_t n = strlen(j->notes);
    if (n + strlen(msg) + 2 < sizeof j->notes)
        snprintf(j->notes + n, sizeof j->notes - n, "%s\n", msg);
    if (j->warn)
        j->warn(j->arg, msg);
}

#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
static void note(job *j, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    warn_cb(j, msg);
}

static int mkdirs(const char *path)
{
    char tmp[600];
    snprintf(tmp, sizeof tmp, "%s", path);
    for (char *p = tmp + 1; *p; p++)
        if (*p == '/') {
            *p = 0;
            if (mkdir(tmp, 0755) && errno != EEXIST)
                return os_error("%s: cannot create directory: %s", tmp, strerror(errno));
            *p = '/';
        }
    if (mkdir(tmp, 0755) && errno != EEXIST)
        return os_error("%s: cannot create directory: %s", tmp, strerror(errno));
    return 0;
}

static void add_pic(job *j, const char *stem, const char *caption, int section)
{
    if (j->n_pics == (int)(sizeof j->pics / sizeof j->pics[0]))
        return;
    plot_picture *p = &j->pics[j->n_pics++];
    snprintf(p->stem, sizeof p->stem, "%.47s", stem);
    snprintf(p->caption, sizeof p->caption, "%.127s", caption);
    p->section = section;
}

/* ---- the architecture ------------------------------------------------------------ */
static void draw_arch(job *j, const char *space, const cJSON *nni)
{
    os_plot_graph g[OS_PLOT_MAX_GRAPHS];
    char why[700];
    int n = os_plot_arch_graphs(space, nni, g, OS_PLOT_MAX_GRAPHS, why, sizeof why);
    if (n < 0) {
        note(j, "architecture not drawn: %s", os_last_error());
        return;
    }
    if (why[0])
        note(j, "%s", why);
    for (int i = 0; i < n; i++) {
        char base[800], path[820];
        snprintf(base, sizeof base, "%s/%s", j->out, g[i].name);
        snprintf(path, sizeof path, "%s.dot", base);
        char *dot = os_plot_graph_dot(&g[i]);
        if (!dot || plot_write_file(path, dot, strlen(dot)) || os_plot_graph_draw(&g[i], base))
            note(j, "%s not drawn: %s", g[i].name, dot ? os_last_error() : "out of memory");
        else
            add_pic(j, g[i].name, g[i].title, PLOT_SEC_ARCH);
        free(dot);
        os_plot_graph_free(&g[i]);
    }
}

/* ---- metrics ------------------------------------------------------------------------ */
static int same_names(const os_plot_metrics *m)
{
    for (int c = 1; c < m->n_choices; c++) {
        if (m->choices[c].n != m->choices[0].n)
            return 0;
        for (int k = 0; k < m->choices[c].n; k++)
            if (strcmp(m->choices[c].names[k], m->choices[0].names[k]))
                return 0;
    }
    return 1;
}

static void draw_probs(job *j, const os_plot_metrics *m, const char *space, const char *strategy)
{
    os_plot_panel *p = calloc((size_t)m->n_choices, sizeof *p);
    if (!p) {
        note(j, "probs not drawn: out of memory");
        return;
    }
    int shared = same_names(m);
    for (int c = 0; c < m->n_choices; c++) {
        const os_plot_choice *ch = &m->choices[c];
        p[c] = (os_plot_panel){.title = ch->label, .xlabel = "epoch", .ylabel = "probability", .legend = !shared};
        for (int k = 0, col = 0; k < ch->n && k < OS_PLOT_MAX_LINES; k++) {
            int none = !strcmp(ch->names[k], "none");
            if (!none && col == 7)
                col++;
            p[c].lines[p[c].n_lines++] = (os_plot_line){.name = ch->names[k], .n = m->n, .x = m->v[OS_PM_EPOCH],
                                                        .y = ch->p + k, .stride = OS_PLOT_MAX_CAND,
                                                        .color = none ? 7 : col++, .dashed = none};
        }
    }
    char title[160], base[700];
    snprintf(title, sizeof title, "choice probabilities over epochs%s%s%s%s%s", space || strategy ? " (" : "",
             space ? space : "", space && strategy ? ", " : "", strategy ? strategy : "", space || strategy ? ")" : "");
    os_plot_figure f = {.title = title, .n_panels = m->n_choices, .panels = p, .panel_w = 250, .panel_h = 190,
                        .shared_legend = shared};
    snprintf(base, sizeof base, "%s/probs", j->out);
    if (os_plot_figure_draw(&f, base))
        note(j, "probs not drawn: %s", os_last_error());
    else
        add_pic(j, "probs", "choice probabilities: one panel per choice, one line per candidate", PLOT_SEC_PROBS);
    free(p);
}

static int any_finite(const double *v, int n)
{
    for (int i = 0; i < n; i++)
        if (isfinite(v[i]))
            return 1;
    return 0;
}

static void draw_curves(job *j, const os_plot_metrics *m, int retrain)
{
    int n = m->n;
    double *acc = malloc(2 * (size_t)n * sizeof *acc);
    if (!acc) {
        note(j, "curves not drawn: out of memory");
        return;
    }
    for (int i = 0; i < n; i++) {
        acc[i] = 100 * m->v[OS_PM_TRAIN_ACC][i];
        acc[n + i] = 100 * m->v[OS_PM_VAL_ACC][i];
    }
    const double *x = m->v[OS_PM_EPOCH];
    const char *vn = retrain ? "test" : "validation";
    os_plot_panel p[4] = {
        {.title = "loss", .xlabel = "epoch", .ylabel = "cross-entropy", .legend = 1, .n_lines = 2,
         .lines = {{.name = "train", .n = n, .x = x, .y = m->v[OS_PM_TRAIN_LOSS], .color = 0},
                   {.name = vn, .n = n, .x = x, .y = m->v[OS_PM_VAL_LOSS], .color = 1}}},
        {.title = "accuracy", .xlabel = "epoch", .ylabel = "accuracy %", .legend = 1, .n_lines = 2,
         .lines = {{.name = "train", .n = n, .x = x, .y = acc, .color = 0},
                   {.name = vn, .n = n, .x = x, .y = acc + n, .color = 1}}},
        {.title = "learning rate (weights)", .xlabel = "epoch", .ylabel = "lr", .from_zero = 1, .n_lines = 1,
         .lines = {{.name = "lr", .n = n, .x = x, .y = m->v[OS_PM_LR], .color = 2}}},
        {.title = "temperature (GDAS tau)", .xlabel = "epoch", .ylabel = "tau", .from_zero = 1, .n_lines = 1,
         .lines = {{.name = "tau", .n = n, .x = x, .y = m->v[OS_PM_TAU], .color = 4}}},
    };
    int np = any_finite(m->v[OS_PM_TAU], n) ? 4 : 3;
    os_plot_figure f = {.title = retrain ? "learning curves (retrain)" : "learning curves (search)", .n_panels = np,
                        .cols = np == 4 ? 2 : 3, .panels = p, .panel_w = 330, .panel_h = 230};
    char base[700];
    snprintf(base, sizeof base, "%s/curves", j->out);
    if (os_plot_figure_draw(&f, base))
        note(j, "curves not drawn: %s", os_last_error());
    else
        add_pic(j, "curves", "loss and accuracy per epoch, the learning-rate and temperature schedules",
                PLOT_SEC_CURVES);
    free(acc);
}

/* ---- the run -------------------------------------------------------------------------- */
static const char *str_of(const cJSON *j, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

int os_plot_run(const char *run, const os_plot_opts *o, os_plot_result *r)
{
    static const os_plot_opts none = {0};
    if (!o)
        o = &none;
    memset(r, 0, sizeof *r);
    struct stat sb;
    if (stat(run, &sb) || !S_ISDIR(sb.st_mode))
        return os_error("%s: no such run directory", run);
    char cfg_path[700], met_path[700], arch_path[700];
    snprintf(cfg_path, sizeof cfg_path, "%s/config.json", run);
    snprintf(met_path, sizeof met_path, "%s/metrics.jsonl", run);
    snprintf(arch_path, sizeof arch_path, "%s/arch.json", run);
    r->have_config = access(cfg_path, F_OK) == 0;
    r->have_metrics = access(met_path, F_OK) == 0;
    r->have_arch = access(arch_path, F_OK) == 0;
    if (!r->have_config && !r->have_metrics && !r->have_arch)
        return os_error("%s: no run here (none of config.json, metrics.jsonl, arch.json)", run);
    if (o->out)
        snprintf(r->out, sizeof r->out, "%s", o->out);
    else
        snprintf(r->out, sizeof r->out, "%s/plots", run);
    if (mkdirs(r->out))
        return -1;
    job *j = calloc(1, sizeof *j);
    if (!j)
        return os_error("out of memory");
    j->out = r->out, j->warn = o->warn, j->arg = o->warn_arg;

    char *cfg_text = r->have_config ? plot_read_file(cfg_path, NULL) : NULL;
    cJSON *cfg = cfg_text ? cJSON_Parse(cfg_text) : NULL;
    if (!r->have_config)
        note(j, "%s missing: no configuration or parameter counts", cfg_path);
    else if (!cfg)
        note(j, "%s: %s; the configuration is left out", cfg_path, cfg_text ? "not valid JSON" : "cannot read");
    char *arch_text = r->have_arch ? plot_read_file(arch_path, NULL) : NULL;
    cJSON *arch = arch_text ? cJSON_Parse(arch_text) : NULL;
    const char *space = str_of(arch, "space") ? str_of(arch, "space") : str_of(cfg, "space");
    const char *cmd = str_of(cfg, "command");
    int retrain = cmd && !strcmp(cmd, "retrain");
    if (!r->have_arch) {
        note(j, "%s missing: no architecture picture", arch_path);
    } else if (!cJSON_IsObject(arch)) {
        note(j, "%s: %s; no architecture picture", arch_path, arch_text ? "not a JSON object" : "cannot read");
    } else {
        const cJSON *nni = cJSON_GetObjectItemCaseSensitive(arch, "arch");
        draw_arch(j, space, cJSON_IsObject(nni) ? nni : arch);
    }
    os_plot_metrics m = {0};
    if (!r->have_metrics) {
        note(j, "%s missing: no learning curves or choice probabilities", met_path);
    } else if (os_plot_metrics_read(met_path, &m, warn_cb, j)) {
        note(j, "%s; no learning curves or choice probabilities", os_last_error());
    } else {
        r->skipped_lines = m.skipped;
        if (m.n == 0) {
            note(j, "%s holds no epoch yet: no learning curves", met_path);
        } else {
            os_plot_metrics_names(&m, arch);
            draw_curves(j, &m, retrain);
            if (m.n_choices)
                draw_probs(j, &m, space, retrain ? NULL : str_of(cfg, "strategy"));
            else if (cmd && !strcmp(cmd, "train"))
                note(j, "%s has no alpha_probs: no choice probabilities", met_path);
        }
    }
    plot_report rep = {.run = run, .out = r->out, .config = cfg, .config_text = cfg ? cfg_text : NULL,
                       .arch_text = arch ? arch_text : NULL, .arch = arch, .m = m.n ? &m : NULL, .pics = j->pics,
                       .n_pics = j->n_pics, .notes = j->notes};
    snprintf(r->report, sizeof r->report, "%s/report.html", r->out);
    int rc = plot_report_write(r->report, &rep);
    r->pictures = j->n_pics;
    os_plot_metrics_free(&m);
    cJSON_Delete(cfg);
    cJSON_Delete(arch);
    free(cfg_text);
    free(arch_text);
    free(j);
    return rc;
}

int os_plot_arch_source(const char *src, const char *out, os_plot_warn_fn warn, void *arg, int *pictures)
{
    const os_space *sp;
    os_arch child = {0};
    *pictures = 0;
    if (os_arch_load(src, NULL, &sp, &child))
        return -1;
    cJSON *nni = os_arch_to_nni(&child);
    os_arch_free(&child);
    if (mkdirs(out)) {
        cJSON_Delete(nni);
        return -1;
    }
    job *j = calloc(1, sizeof *j);
    if (!j) {
        cJSON_Delete(nni);
        return os_error("out of memory");
    }
    j->out = out, j->warn = warn, j->arg = arg;
    draw_arch(j, sp->name, nni);
    *pictures = j->n_pics;
    int rc = j->n_pics ? 0 : os_error("%s: no picture drawn", src);
    cJSON_Delete(nni);
    free(j);
    return rc;
}
