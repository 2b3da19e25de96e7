/* plot/metrics.c — metrics.jsonl into columns: the per-epoch numbers and the
 * choice probabilities (alpha_probs), broken lines skipped with a warning. */
#include "plot/plot.h"
#include "tensor/error.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *const os_plot_metric_keys[OS_PM_N] = {"epoch",  "train_loss", "val_loss", "train_acc",     "val_acc",
                                                   "lr",     "tau",        "seconds",  "images_per_sec"};

static void warnf(os_plot_warn_fn warn, void *arg, const char *fmt, const char *path, long line, const char *what)
{
    if (!warn)
        return;
    char msg[900];
    snprintf(msg, sizeof msg, fmt, path, line, what);
    warn(arg, msg);
}

static int grow(os_plot_metrics *m)
{
    if (m->n < m->cap)
        return 0;
    int cap = m->cap ? m->cap * 2 : 64;
    for (int k = 0; k < OS_PM_N; k++) {
        double *v = realloc(m->v[k], (size_t)cap * sizeof *v);
        if (!v)
            return -1;
        m->v[k] = v;
    }
    for (int c = 0; c < m->n_choices; c++) {
        double *p = realloc(m->choices[c].p, (size_t)cap * OS_PLOT_MAX_CAND * sizeof *p);
        if (!p)
            return -1;
        m->choices[c].p = p;
    }
    m->cap = cap;
    return 0;
}

static os_plot_choice *choice(os_plot_metrics *m, const char *label)
{
    for (int c = 0; c < m->n_choices; c++)
        if (!strcmp(m->choices[c].label, label))
            return &m->choices[c];
    os_plot_choice *nc = realloc(m->choices, (size_t)(m->n_choices + 1) * sizeof *nc);
    if (!nc)
        return NULL;
    m->choices = nc;
    os_plot_choice *c = &nc[m->n_choices];
    memset(c, 0, sizeof *c);
    snprintf(c->label, sizeof c->label, "%s", label);
    c->p = malloc((size_t)m->cap * OS_PLOT_MAX_CAND * sizeof *c->p);
    if (!c->p)
        return NULL;
    for (size_t i = 0; i < (size_t)m->cap * OS_PLOT_MAX_CAND; i++)
        c->p[i] = NAN;
    m->n_choices++;
    return c;
}

/* one parsed line into row m->n; 0, or a reason to skip it */
static const char *take(os_plot_metrics *m, const cJSON *j)
{
    if (!cJSON_IsObject(j))
        return "not a JSON object";
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(j, "epoch");
    if (!cJSON_IsNumber(e) || !isfinite(e->valuedouble))
        return "no numeric \"epoch\"";
    if (grow(m))
        return "out of memory";
    int r = m->n;
    for (int k = 0; k < OS_PM_N; k++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, os_plot_metric_keys[k]);
        m->v[k][r] = cJSON_IsNumber(v) ? v->valuedouble : NAN;
    }
    for (int c = 0; c < m->n_choices; c++)
        for (int k = 0; k < OS_PLOT_MAX_CAND; k++)
            m->choices[c].p[r * OS_PLOT_MAX_CAND + k] = NAN;
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(j, "alpha_probs");
    for (const cJSON *arr = cJSON_IsObject(a) ? a->child : NULL; arr; arr = arr->next) {
        if (!cJSON_IsArray(arr) || !arr->string || !arr->string[0])
            continue;
        os_plot_choice *c = choice(m, arr->string);
        if (!c)
            return "out of memory";
        int k = 0;
        for (const cJSON *x = arr->child; x && k < OS_PLOT_MAX_CAND; x = x->next, k++)
            c->p[r * OS_PLOT_MAX_CAND + k] = cJSON_IsNumber(x) ? x->valuedouble : NAN;
        if (k > c->n)
            c->n = k;
    }
    m->n++;
    return NULL;
}

int os_plot_metrics_read(const char *path, os_plot_metrics *m, os_plot_warn_fn warn, void *arg)
{
    memset(m, 0, sizeof *m);
    FILE *f = fopen(path, "rb");
    if (!f)
        return os_error("%s: cannot read: %s", path, strerror(errno));
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    long no = 0;
    while ((len = getline(&line, &cap, f)) >= 0) {
        no++;
        size_t sp = strspn(line, " \t\r\n");
        if (line[sp] == 0)
            continue;
        m->lines++;
        cJSON *j = cJSON_ParseWithLength(line, (size_t)len);
        const char *why = j ? take(m, j) : "not valid JSON";
        cJSON_Delete(j);
        if (why) {
            m->skipped++;
            warnf(warn, arg, "%s: line %ld: %s; skipped", path, no, why);
        }
    }
    free(line);
    int err = ferror(f);
    fclose(f);
    if (err) {
        os_plot_metrics_free(m);
        return os_error("%s: read error", path);
    }
    for (int c = 0; c < m->n_choices; c++)
        for (int k = 0; k < m->choices[c].n; k++)
            snprintf(m->choices[c].names[k], OS_PLOT_NAME, "%d", k);
    return 0;
}

void os_plot_metrics_names(os_plot_metrics *m, const cJSON *arch_json)
{
    const cJSON *probs = cJSON_GetObjectItemCaseSensitive(arch_json, "probs");
    for (int c = 0; c < m->n_choices; c++) {
        os_plot_choice *ch = &m->choices[c];
        const cJSON *d = cJSON_GetObjectItemCaseSensitive(probs, ch->label);
        if (!cJSON_IsObject(d) || cJSON_GetArraySize(d) != ch->n)
            continue;
        int k = 0;
        for (const cJSON *x = d->child; x && k < ch->n; x = x->next, k++)
            snprintf(ch->names[k], OS_PLOT_NAME, "%s", x->string ? x->string : "?");
    }
}

void os_plot_metrics_free(os_plot_metrics *m)
{
    for (int k = 0; k < OS_PM_N; k++)
        free(m->v[k]);
    for (int c = 0; c < m->n_choices; c++)
        free(m->choices[c].p);
    free(m->choices);
    memset(m, 0, sizeof *m);
}
