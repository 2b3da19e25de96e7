/* search/path.c — single paths: sampling, mutation, crossover, validity,
 * costs, latency, BN recalibration, evaluation (path.h). */
#include "search/path.h"
#include "search/latency.h"
#include "tensor/arena.h"
#include "tensor/error.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* os_bn_forward's momentum (supernet/net.c): recalibration reads the batch
 * statistics back from the running ones it updates */
#define BN_MOMENTUM 0.1f
/* the most choices in one path group */
#define GROUP_MAX 64

static void *xcalloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size);
    if (!p)
        os_fatal("path: out of memory");
    return p;
}

static int popcount(unsigned m) { return __builtin_popcount(m); }

/* the members of group g, in choice order; returns how many */
static int members(const os_path_space *ps, int g, int *m)
{
    int k = 0;
    for (int i = 0; i < ps->n; i++)
        if (ps->group[i] == g)
            m[k++] = i;
    return k;
}

int os_path_space_init(os_path_space *ps, os_net *net, const os_space *sp, int costs)
{
    memset(ps, 0, sizeof *ps);
    os_arch_of_net(net, &ps->tmpl);
    ps->n = net->n_choices;
    ps->in_c = net->in_c;
    ps->in_h = net->in_h;
    ps->in_w = net->in_w;
    ps->group = xcalloc((size_t)ps->n, sizeof *ps->group);
    ps->keep = xcalloc((size_t)ps->n, sizeof *ps->keep);
    ps->zero = xcalloc((size_t)ps->n, sizeof *ps->zero);
    for (int i = 0; i < ps->n; i++) {
        ps->group[i] = -1;
        ps->zero[i] = net->choices[i].zero_index;
    }
    if (sp && sp->path_groups)
        ps->n_groups = sp->path_groups(net, ps->group, ps->keep);
    int *m = xcalloc((size_t)ps->n, sizeof *m);
    for (int g = 0; g < ps->n_groups; g++) {
        int k = members(ps, g, m);
        if (k < ps->keep[g] || ps->keep[g] < 1 || k > GROUP_MAX) {
            free(m);
            os_path_space_free(ps);
            return os_error("%s: path group %d keeps %d of %d choices", net->space, g, ps->keep[g], k);
        }
        for (int j = 0; j < k; j++) {
            const os_choice *c = &net->choices[m[j]];
            if (c->kind != OS_CHOICE_LAYER || c->zero_index < 0 || c->n < 2) {
                const char *label = c->label;
                free(m);
                os_path_space_free(ps);
                return os_error("%s: choice '%s' is in a path group but has no `none` candidate", net->space,
                                label);
            }
        }
    }
    free(m);
    if (!costs)
        return 0;
    ps->cand = xcalloc((size_t)ps->n * OS_MAX_CANDIDATES, sizeof *ps->cand);
    os_net_candidate_costs(net, ps->cand);
    /* the rest: a whole path's cost minus its candidates' */
    os_arch path = {0};
    os_rng r;
    os_rng_seed(&r, 1);
    os_path_sample(ps, &r, &path);
    void (*choose)(os_net *, const os_forward_ctx *, void *) = net->choose;
    void *arg = net->choose_arg;
    os_net_choose_arch(net, &path);
    os_cost total;
    os_net_cost(net, &total);
    os_net_set_chooser(net, choose, arg);
    ps->fixed = total;
    for (int i = 0; i < ps->n; i++)
        for (int k = 0; k < path.c[i].n && !os_arch_gated_off(&path, i); k++)
            if ((path.c[i].chosen >> k) & 1u) {
                ps->fixed.macs -= ps->cand[i * OS_MAX_CANDIDATES + k].macs;
                ps->fixed.params -= ps->cand[i * OS_MAX_CANDIDATES + k].params;
            }
    os_arch_free(&path);
    ps->has_costs = 1;
    return 0;
}

void os_path_space_free(os_path_space *ps)
{
    os_arch_free(&ps->tmpl);
    free(ps->group);
    free(ps->keep);
    free(ps->zero);
    free(ps->cand);
    free(ps->lat);
    memset(ps, 0, sizeof *ps);
}

/* ---- sampling, mutation, crossover ----------------------------------------------------- */
static void fresh(const os_path_space *ps, os_arch *path)
{
    os_arch_free(path);
    os_arch_copy(path, &ps->tmpl);
}

/* a uniform k-subset of n as a mask */
static unsigned subset(os_rng *r, int n, int k)
{
    int idx[OS_MAX_CANDIDATES];
    for (int i = 0; i < n; i++)
        idx[i] = i;
    unsigned m = 0;
    for (int i = 0; i < k; i++) {
        int j = i + (int)os_rng_below(r, (uint32_t)(n - i));
        int t = idx[i];
        idx[i] = idx[j];
        idx[j] = t;
        m |= 1u << idx[i];
    }
    return m;
}

static unsigned draw_free(os_rng *r, const os_arch_choice *c)
{
    if (c->kind == OS_CHOICE_LAYER)
        return 1u << os_rng_below(r, (uint32_t)c->n);
    if (c->k == 0) {
        /* any subset: each input with probability 1/2 (uniform over the 2^n) */
        unsigned m = 0;
        for (int j = 0; j < c->n; j++)
            m |= (unsigned)os_rng_below(r, 2) << j;
        return m ? m : OS_CHOSEN_NONE;
    }
    return subset(r, c->n, c->k);
}

/* a candidate other than none, uniformly */
static unsigned draw_op(os_rng *r, const os_arch_choice *c, int zero)
{
    int k = (int)os_rng_below(r, (uint32_t)(c->n - 1));
    return 1u << (k >= zero ? k + 1 : k);
}

static int zero_index(const os_path_space *ps, int i) { return ps->zero[i]; }

static void sample_group(const os_path_space *ps, os_rng *r, int g, os_arch *path)
{
    int m[GROUP_MAX];
    int k = members(ps, g, m);
    /* which members are kept: a uniform keep-subset (positions into m) */
    int idx[GROUP_MAX], kept[GROUP_MAX] = {0};
    for (int j = 0; j < k; j++)
        idx[j] = j;
    for (int j = 0; j < ps->keep[g]; j++) {
        int s = j + (int)os_rng_below(r, (uint32_t)(k - j));
        int t = idx[j];
        idx[j] = idx[s];
        idx[s] = t;
        kept[idx[j]] = 1;
    }
    for (int j = 0; j < k; j++) {
        os_arch_choice *c = &path->c[m[j]];
        int z = zero_index(ps, m[j]);
        c->chosen = kept[j] ? draw_op(r, c, z) : 1u << z;
    }
}

void os_path_sample(const os_path_space *ps, os_rng *r, os_arch *path)
{
    fresh(ps, path);
    for (int i = 0; i < ps->n; i++)
        if (ps->group[i] < 0)
            path->c[i].chosen = draw_free(r, &path->c[i]);
    for (int g = 0; g < ps->n_groups; g++)
        sample_group(ps, r, g, path);
}

/* a group as the child sees it: slots (member, candidate) in member order;
 * each slot redraws its member and its candidate with probability prob */
static void mutate_group(const os_path_space *ps, os_rng *r, float prob, int g, os_arch *path)
{
    int m[GROUP_MAX], pos[GROUP_MAX], kept[GROUP_MAX] = {0}, ns = 0;
    unsigned op[GROUP_MAX];
    int k = members(ps, g, m);
    for (int j = 0; j < k; j++)
        if (path->c[m[j]].chosen != 1u << zero_index(ps, m[j])) {
            pos[ns] = j;
            op[ns++] = path->c[m[j]].chosen;
            kept[j] = 1;
        }
    for (int s = 0; s < ns; s++) {
        if (os_rng_uniform(r) < prob) {
            int cand[GROUP_MAX], nc = 0;
            cand[nc++] = pos[s];
            for (int q = 0; q < k; q++)
                if (!kept[q])
                    cand[nc++] = q;
            int to = cand[os_rng_below(r, (uint32_t)nc)];
            kept[pos[s]] = 0;
            kept[to] = 1;
            pos[s] = to;
        }
        if (os_rng_uniform(r) < prob)
            op[s] = draw_op(r, &path->c[m[pos[s]]], zero_index(ps, m[pos[s]]));
    }
    for (int j = 0; j < k; j++)
        path->c[m[j]].chosen = 1u << zero_index(ps, m[j]);
    for (int s = 0; s < ns; s++)
        path->c[m[pos[s]]].chosen = op[s];
}

void os_path_mutate(const os_path_space *ps, os_rng *r, float prob, const os_arch *src, os_arch *path)
{
    os_arch tmp;
    os_arch_copy(&tmp, src);
    for (int i = 0; i < ps->n; i++)
        if (ps->group[i] < 0 && os_rng_uniform(r) < prob)
            tmp.c[i].chosen = draw_free(r, &tmp.c[i]);
    for (int g = 0; g < ps->n_groups; g++)
        mutate_group(ps, r, prob, g, &tmp);
    os_arch_free(path);
    *path = tmp;
}

void os_path_crossover(const os_path_space *ps, os_rng *r, const os_arch *a, const os_arch *b, os_arch *path)
{
    os_arch tmp;
    os_arch_copy(&tmp, a);
    for (int i = 0; i < ps->n; i++)
        if (ps->group[i] < 0 && os_rng_below(r, 2))
            tmp.c[i].chosen = b->c[i].chosen;
    for (int g = 0; g < ps->n_groups; g++)
        if (os_rng_below(r, 2))
            for (int i = 0; i < ps->n; i++)
                if (ps->group[i] == g)
                    tmp.c[i].chosen = b->c[i].chosen;
    os_arch_free(path);
    *path = tmp;
}

int os_path_check(const os_path_space *ps, const os_arch *path)
{
    if (path->n != ps->n)
        return os_error("the path has %d choices, the supernet %d", path->n, ps->n);
    for (int i = 0; i < ps->n; i++) {
        const os_arch_choice *c = &path->c[i], *t = &ps->tmpl.c[i];
        if (strcmp(c->label, t->label))
            return os_error("the path's choice %d is '%s', the supernet's '%s'", i, c->label, t->label);
        unsigned all = os_mask_all(t->n);
        if (t->kind == OS_CHOICE_INPUT && t->k == 0) {
            /* any subset, none included (then exactly OS_CHOSEN_NONE) */
            if (!c->chosen || (c->chosen != OS_CHOSEN_NONE && (c->chosen & ~all)))
                return os_error("choice '%s': not a subset of its %d inputs", t->label, t->n);
            continue;
        }
        int want = t->kind == OS_CHOICE_LAYER ? 1 : t->k;
        if (!c->chosen || (c->chosen & ~all) || popcount(c->chosen) != want)
            return os_error("choice '%s': %s", t->label,
                            t->kind == OS_CHOICE_LAYER ? "not exactly one candidate" : "not exactly k inputs");
    }
    int m[GROUP_MAX];
    for (int g = 0; g < ps->n_groups; g++) {
        int k = members(ps, g, m), on = 0;
        for (int j = 0; j < k; j++)
            on += path->c[m[j]].chosen != 1u << zero_index(ps, m[j]);
        if (on != ps->keep[g])
            return os_error("choices '%s'...: %d run a candidate other than none, the space keeps %d",
                            ps->tmpl.c[m[0]].label, on, ps->keep[g]);
    }
    return 0;
}

int os_path_same(const os_arch *a, const os_arch *b)
{
    if (a->n != b->n)
        return 0;
    for (int i = 0; i < a->n; i++)
        if (a->c[i].chosen != b->c[i].chosen && !(os_arch_gated_off(a, i) && os_arch_gated_off(b, i)))
            return 0; /* a block neither path runs (its depth leaves it out) does not count */
    return 1;
}

/* ---- costs ---------------------------------------------------------------------------- */
void os_path_cost_of(const os_path_space *ps, const os_arch *path, os_path_cost *c)
{
    c->params = c->madds = 0;
    c->latency = -1;
    if (ps->has_costs) {
        c->params = (double)ps->fixed.params;
        c->madds = (double)ps->fixed.macs;
    }
    if (ps->has_latency)
        c->latency = ps->lat_fixed;
    for (int i = 0; i < ps->n; i++) {
        if (path->c[i].kind != OS_CHOICE_LAYER)
            continue;
        int k = os_arch_chosen_one(&path->c[i]);
        if (k < 0 || os_arch_gated_off(path, i))
            continue;
        if (ps->has_costs) {
            c->params += (double)ps->cand[i * OS_MAX_CANDIDATES + k].params;
            c->madds += (double)ps->cand[i * OS_MAX_CANDIDATES + k].macs;
        }
        if (ps->has_latency)
            c->latency += ps->lat[i * OS_MAX_CANDIDATES + k];
    }
}

/* measure 0 params, 1 madds, 2 latency of candidate k of choice i */
static double measure(const os_path_space *ps, int what, int i, int k)
{
    if (what == 0)
        return ps->has_costs ? (double)ps->cand[i * OS_MAX_CANDIDATES + k].params : 0;
    if (what == 1)
        return ps->has_costs ? (double)ps->cand[i * OS_MAX_CANDIDATES + k].macs : 0;
    return ps->has_latency ? ps->lat[i * OS_MAX_CANDIDATES + k] : 0;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double min_of(const os_path_space *ps, int what)
{
    double s = what == 0 ? (double)ps->fixed.params : what == 1 ? (double)ps->fixed.macs : ps->lat_fixed;
    for (int i = 0; i < ps->n; i++) {
        const os_arch_choice *c = &ps->tmpl.c[i];
        /* a gated choice is off when its gate picks candidate 0 (a depth of 1) */
        if (c->kind != OS_CHOICE_LAYER || ps->group[i] >= 0 || c->gate_min > 0)
            continue;
        double best = measure(ps, what, i, 0);
        for (int k = 1; k < c->n; k++)
            best = fmin(best, measure(ps, what, i, k));
        s += best;
    }
    int m[GROUP_MAX];
    double extra[GROUP_MAX];
    for (int g = 0; g < ps->n_groups; g++) {
        int k = members(ps, g, m);
        for (int j = 0; j < k; j++) {
            int z = zero_index(ps, m[j]);
            double zc = measure(ps, what, m[j], z), best = INFINITY;
            for (int q = 0; q < ps->tmpl.c[m[j]].n; q++)
                if (q != z)
                    best = fmin(best, measure(ps, what, m[j], q));
            s += zc;
            extra[j] = best - zc;
        }
        qsort(extra, (size_t)k, sizeof *extra, cmp_double);
        for (int j = 0; j < ps->keep[g]; j++)
            s += extra[j];
    }
    return s;
}

void os_path_min_cost(const os_path_space *ps, os_path_cost *c)
{
    c->params = ps->has_costs ? min_of(ps, 0) : 0;
    c->madds = ps->has_costs ? min_of(ps, 1) : 0;
    c->latency = ps->has_latency ? min_of(ps, 2) : -1;
}

int os_path_within(const os_path_cost *c, const os_path_limits *l)
{
    if (l->max_params > 0 && c->params > l->max_params)
        return 0;
    if (l->max_madds > 0 && c->madds > l->max_madds)
        return 0;
    if (l->max_latency > 0 && (c->latency < 0 || c->latency > l->max_latency))
        return 0;
    return 1;
}

int os_path_limits_check(const os_path_space *ps, const os_path_limits *l)
{
    os_path_cost m;
    os_path_min_cost(ps, &m);
    if (l->max_params > 0 && m.params > l->max_params)
        return os_error("--max-params %.0f: no architecture has so few; the smallest has %.0f parameters",
                        l->max_params, m.params);
    if (l->max_madds > 0 && m.madds > l->max_madds)
        return os_error("--max-madds %.0f: no architecture has so few; the smallest has %.0f multiply-adds per "
                        "image", l->max_madds, m.madds);
    if (l->max_latency > 0 && !ps->has_latency)
        return os_error("--max-latency needs a latency table (--latency-table FILE)");
    if (l->max_latency > 0 && m.latency > l->max_latency)
        return os_error("--max-latency %g: no architecture is so fast; the fastest takes %g ms", l->max_latency,
                        m.latency);
    return 0;
}

/* ---- latency table -------------------------------------------------------------------- */
/* the table's metadata against the supernet and the expectations */
static int check_meta(const os_path_space *ps, const cJSON *j, const char *what)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, "space");
    if (v && (!cJSON_IsString(v) || strcmp(v->valuestring, ps->tmpl.space)))
        return os_error("%s: a latency table of the %s space, but the supernet is %s", what,
                        cJSON_IsString(v) ? v->valuestring : "(not a string)", ps->tmpl.space);
    v = cJSON_GetObjectItemCaseSensitive(j, "input");
    if (v) {
        int ok = cJSON_IsArray(v) && cJSON_GetArraySize(v) == 3, in[3] = {0, 0, 0};
        for (int k = 0; ok && k < 3; k++) {
            const cJSON *e = cJSON_GetArrayItem(v, k);
            ok = cJSON_IsNumber(e);
            in[k] = ok ? e->valueint : 0;
        }
        if (!ok)
            return os_error("%s: \"input\" must be [C, H, W]", what);
        if (in[0] != ps->in_c || in[1] != ps->in_h || in[2] != ps->in_w)
            return os_error("%s: measured at input %dx%dx%d, but the supernet's input is %dx%dx%d (measure the table "
                            "at the search's input: oneshot latency --input %dx%dx%d)", what, in[0], in[1], in[2],
                            ps->in_c, ps->in_h, ps->in_w, ps->in_c, ps->in_h, ps->in_w);
    }
    v = cJSON_GetObjectItemCaseSensitive(j, "batch");
    if (v && ps->expect_batch > 0 && (!cJSON_IsNumber(v) || v->valueint != ps->expect_batch))
        return os_error("%s: measured at batch %d, but %d is expected here (oneshot latency --batch %d)", what,
                        cJSON_IsNumber(v) ? v->valueint : -1, ps->expect_batch, ps->expect_batch);
    v = cJSON_GetObjectItemCaseSensitive(j, "threads");
    if (v && ps->expect_threads > 0 && (!cJSON_IsNumber(v) || v->valueint != ps->expect_threads))
        return os_error("%s: measured with %d threads, but %d are used here (oneshot latency --threads %d)", what,
                        cJSON_IsNumber(v) ? v->valueint : -1, ps->expect_threads, ps->expect_threads);
    return 0;
}

/* 1 when choice i gates another (a depth choice) */
static int is_gate(const os_path_space *ps, int i)
{
    for (int j = 0; j < ps->n; j++)
        if (ps->tmpl.c[j].gate == i)
            return 1;
    return 0;
}

int os_path_latency_parse(os_path_space *ps, const char *json, const char *what)
{
    cJSON *j = cJSON_Parse(json);
    if (!j || !cJSON_IsObject(j)) {
        cJSON_Delete(j);
        return os_error("%s: not a JSON object (a latency table is {\"<label>\": {\"<candidate>\": ms, ...}, "
                        "...})", what);
    }
    double *lat = xcalloc((size_t)ps->n * OS_MAX_CANDIDATES, sizeof *lat);
    double fixed = 0;
    int rc = check_meta(ps, j, what), tb = 0, tt = 0;
    const cJSON *mb = cJSON_GetObjectItemCaseSensitive(j, "batch"), *mt = cJSON_GetObjectItemCaseSensitive(j, "threads");
    tb = cJSON_IsNumber(mb) ? mb->valueint : 0;
    tt = cJSON_IsNumber(mt) ? mt->valueint : 0;
    for (const cJSON *it = j->child; it && !rc; it = it->next) {
        if (os_latency_meta_key(it->string))
            continue;
        if (!strcmp(it->string, "fixed")) {
            if (!cJSON_IsNumber(it) || !isfinite(it->valuedouble) || it->valuedouble < 0)
                rc = os_error("%s: \"fixed\" must be a number of milliseconds >= 0", what);
            else
                fixed = it->valuedouble;
            continue;
        }
        int i = os_arch_find(&ps->tmpl, it->string);
        if (i < 0 || ps->tmpl.c[i].kind != OS_CHOICE_LAYER) {
            rc = os_error("%s: '%s' is not a layer choice of this supernet (%s)", what, it->string, ps->tmpl.space);
            break;
        }
        if (!cJSON_IsObject(it)) {
            rc = os_error("%s: '%s' must map candidates to milliseconds", what, it->string);
            break;
        }
    }
    for (int i = 0; i < ps->n && !rc; i++) {
        const os_arch_choice *c = &ps->tmpl.c[i];
        if (c->kind != OS_CHOICE_LAYER)
            continue;
        const cJSON *e = cJSON_GetObjectItemCaseSensitive(j, c->label);
        if (!e && is_gate(ps, i))
            continue; /* a depth: its blocks carry the latency */
        if (!e) {
            rc = os_error("%s: no entry for choice '%s' (a table of another supernet? give the --cells and "
                          "--channels it was measured with)", what, c->label);
            break;
        }
        for (const cJSON *it = e->child; it && !rc; it = it->next)
            if (os_arch_name_index(c, it->string) < 0)
                rc = os_error("%s: '%s' has no candidate '%s'", what, c->label, it->string);
        for (int k = 0; k < c->n && !rc; k++) {
            const cJSON *v = cJSON_GetObjectItemCaseSensitive(e, c->names[k]);
            if (!v)
                rc = os_error("%s: '%s' lacks candidate '%s'", what, c->label, c->names[k]);
            else if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble) || v->valuedouble < 0)
                rc = os_error("%s: '%s' / '%s' must be a number of milliseconds >= 0", what, c->label,
                              c->names[k]);
            else
                lat[i * OS_MAX_CANDIDATES + k] = v->valuedouble;
        }
    }
    cJSON_Delete(j);
    if (rc) {
        free(lat);
        return -1;
    }
    free(ps->lat);
    ps->lat = lat;
    ps->lat_fixed = fixed;
    ps->has_latency = 1;
    ps->lat_batch = tb;
    ps->lat_threads = tt;
    return 0;
}

int os_path_latency_load(os_path_space *ps, const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return os_error("%s: cannot open the latency table", path);
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    if (len < 0 || len > (16L << 20)) {
        fclose(f);
        return os_error("%s: not a latency table (%ld bytes)", path, len);
    }
    char *buf = malloc((size_t)len + 1);
    size_t got = fread(buf, 1, (size_t)len, f);
    fclose(f);
    buf[got] = 0;
    int rc = os_path_latency_parse(ps, buf, path);
    free(buf);
    return rc;
}

/* ---- batch-norm recalibration ----------------------------------------------------------- */
static int ends_with(const char *s, const char *suf)
{
    size_t a = strlen(s), b = strlen(suf);
    return a >= b && !strcmp(s + a - b, suf);
}

int os_bn_recalibrate(os_net *net, os_batch_fn next, void *arg, int max_batches)
{
    const os_params *B = &net->buffers;
    int n = B->n;
    if (max_batches <= 0 || n == 0 || net->bn_batch_stats)
        return 0; /* batch statistics: the buffers are neither read nor updated */
    /* pairs (mean, var) by name; everything else is restored as it was */
    int *var_of = xcalloc((size_t)n, sizeof *var_of);
    float **saved = xcalloc((size_t)n, sizeof *saved);
    double **sum = xcalloc((size_t)n, sizeof *sum);
    int *touched = xcalloc((size_t)n, sizeof *touched);
    for (int i = 0; i < n; i++) {
        long c = os_numel(B->t[i]);
        saved[i] = xcalloc((size_t)c, sizeof(float));
        sum[i] = xcalloc((size_t)c, sizeof(double));
        os_tensor_to_host(B->t[i], saved[i]);
        var_of[i] = -1;
        if (ends_with(B->t[i]->name, ".running_mean")) {
            char want[256];
            snprintf(want, sizeof want, "%.*s.running_var", (int)(strlen(B->t[i]->name) - 13), B->t[i]->name);
            for (int j = 0; j < n; j++)
                if (!strcmp(B->t[j]->name, want))
                    var_of[i] = j;
        }
    }
    long cmax = 1;
    for (int i = 0; i < n; i++)
        cmax = os_numel(B->t[i]) > cmax ? os_numel(B->t[i]) : cmax;
    float *h = xcalloc((size_t)cmax, sizeof(float));
    bool old = os_set_grad_enabled(false);
    os_forward_ctx ctx = {.training = true};
    int used = 0;
    os_batch b = {0};
    while (used < max_batches && next(arg, used, &b)) {
        /* before the batch: mean 0, var 0 where the path's BNs are known,
         * var 1 on the first batch (a BN the path does not run keeps it) */
        for (int i = 0; i < n; i++) {
            int v = var_of[i];
            if (v < 0)
                continue;
            long c = os_numel(B->t[i]);
            memset(h, 0, sizeof(float) * (size_t)c);
            os_tensor_from_host(B->t[i], h);
            for (long q = 0; q < c; q++)
                h[q] = used == 0 || !touched[i] ? 1.0f : 0.0f;
            os_tensor_from_host(B->t[v], h);
        }
        net->forward(net, os_batch_tensor(net, &b), &ctx, NULL);
        os_step_reset();
        for (int i = 0; i < n; i++) {
            int v = var_of[i];
            if (v < 0)
                continue;
            long c = os_numel(B->t[i]);
            if (used == 0) {
                os_tensor_to_host(B->t[v], h);
                for (long q = 0; q < c && !touched[i]; q++)
                    touched[i] = h[q] != 1.0f;
            }
            if (!touched[i])
                continue;
            float init = used == 0 ? 1.0f : 0.0f;
            os_tensor_to_host(B->t[v], h);
            for (long q = 0; q < c; q++)
                sum[v][q] += ((double)h[q] - (double)(1.0f - BN_MOMENTUM) * init) / (double)BN_MOMENTUM;
            os_tensor_to_host(B->t[i], h);
            for (long q = 0; q < c; q++)
                sum[i][q] += (double)h[q] / (double)BN_MOMENTUM;
        }
        used++;
    }
    os_set_grad_enabled(old);
    /* the averages where the path ran; the saved values elsewhere */
    for (int i = 0; i < n; i++) {
        long c = os_numel(B->t[i]);
        int v = var_of[i];
        if (v >= 0 && touched[i] && used > 0) {
            for (long q = 0; q < c; q++)
                h[q] = (float)(sum[i][q] / used);
            os_tensor_from_host(B->t[i], h);
            for (long q = 0; q < c; q++)
                h[q] = (float)(sum[v][q] / used);
            os_tensor_from_host(B->t[v], h);
        } else if (v >= 0) {
            os_tensor_from_host(B->t[i], saved[i]);
            os_tensor_from_host(B->t[v], saved[v]);
        }
    }
    /* buffers that are neither a mean nor its var: as they were */
    for (int i = 0; i < n; i++) {
        int paired = var_of[i] >= 0;
        for (int j = 0; j < n && !paired; j++)
            paired = var_of[j] == i;
        if (!paired)
            os_tensor_from_host(B->t[i], saved[i]);
    }
    for (int i = 0; i < n; i++) {
        free(saved[i]);
        free(sum[i]);
    }
    free(saved);
    free(sum);
    free(touched);
    free(var_of);
    free(h);
    return used;
}

long os_net_evaluate(os_net *net, os_batch_fn recal, void *recal_arg, int n_recal, os_batch_fn val, void *val_arg,
                     int n_val, double *loss, double *acc)
{
    if (recal && n_recal > 0)
        os_bn_recalibrate(net, recal, recal_arg, n_recal);
    os_forward_ctx ev = {.training = false};
    double ls = 0;
    long correct = 0, seen = 0;
    os_batch b = {0};
    for (int i = 0; (n_val <= 0 || i < n_val) && val(val_arg, i, &b); i++) {
        os_step_result r = os_eval_batch(net, &b, &ev);
        ls += (double)r.loss * b.n;
        correct += r.correct;
        seen += b.n;
    }
    *loss = seen ? ls / seen : NAN;
    *acc = seen ? (double)correct / seen : NAN;
    return seen;
}

long os_path_evaluate(os_net *net, const os_arch *path, os_batch_fn recal, void *recal_arg, int n_recal,
                      os_batch_fn val, void *val_arg, int n_val, double *loss, double *acc)
{
    void (*choose)(os_net *, const os_forward_ctx *, void *) = net->choose;
    void *arg = net->choose_arg;
    os_net_choose_arch(net, path);
    long seen = os_net_evaluate(net, recal, recal_arg, n_recal, val, val_arg, n_val, loss, acc);
    os_net_set_chooser(net, choose, arg);
    return seen;
}
