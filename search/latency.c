/* search/latency.c — latency tables and end-to-end timing (latency.h). */
#include "search/latency.h"
#include "search/path.h"
#include "autograd/autograd.h"
#include "tensor/arena.h"
#include "tensor/clock.h"
#include "tensor/error.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#ifndef OS_GIT_COMMIT
#define OS_GIT_COMMIT ""
#endif
#ifndef OS_BUILD_FLAGS
#define OS_BUILD_FLAGS ""
#endif

static double cpu_seconds(void)
{
    struct timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static int check_opts(const os_latency_opts *o)
{
    if (o->batch < 1 || o->runs < 1 || o->warmup < 0)
        return os_error("latency: batch and runs must be >= 1, warmup >= 0");
    if (o->cpu_clock && o->threads != 1)
        return os_error("latency: the CPU-time clock needs one thread (--threads 1): the process's CPU time "
                        "adds up every thread's");
    return 0;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double quantile(const double *v, int n, double q)
{
    double pos = q * (n - 1);
    int lo = (int)floor(pos), hi = lo + 1 < n ? lo + 1 : lo;
    return v[lo] + (pos - lo) * (v[hi] - v[lo]);
}

void os_latency_stats(double *v, int n, os_latency_stat *st)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    st->median = quantile(v, n, 0.5);
    st->p10 = quantile(v, n, 0.1);
    st->p90 = quantile(v, n, 0.9);
}

int os_latency_meta_key(const char *key)
{
    static const char *const keys[] = {"space", "variant", "input", "batch", "threads", "runs", "warmup",
                                       "machine", "build", "date", "units", "fixed_spread", "spread", "clock",
                                       NULL};
    for (int i = 0; keys[i]; i++)
        if (!strcmp(key, keys[i]))
            return 1;
    return 0;
}

static os_tensor *random_input(const os_net *net, const os_latency_opts *o)
{
    int s[4] = {o->batch, net->in_c, net->in_h, net->in_w};
    os_tensor *x = os_tensor_new_persistent(os_net_device(net), 4, s);
    long n = os_numel(x);
    float *h = malloc(sizeof *h * (size_t)n);
    if (!h)
        os_fatal("latency: out of memory for the input");
    os_rng r;
    os_rng_seed(&r, o->seed);
    for (long i = 0; i < n; i++)
        h[i] = os_rng_normal(&r);
    os_tensor_from_host(x, h);
    free(h);
    return x;
}

/* Batch-norm statistics from a few random batches (os_bn_recalibrate), so
 * that the timed forwards see normalised activations as a trained network
 * does: with the initial statistics (mean 0, var 1) the activations of an
 * untrained net shrink block after block into denormal floats, which the
 * CPU handles many times slower (seen: a proxyless child 3x slower than
 * its candidates' sum). */
typedef struct {
    float *x;
    int n;
} calib;

static int calib_next(void *arg, int i, os_batch *b)
{
    calib *c = arg;
    if (i >= 4)
        return 0;
    *b = (os_batch){.x = c->x, .n = c->n}; /* one batch: statistics, not learning; no labels */
    return 1;
}

static void calibrate(os_net *net)
{
    calib c = {.n = 8};
    long per = (long)net->in_c * net->in_h * net->in_w;
    c.x = malloc(sizeof *c.x * (size_t)(per * c.n));
    if (!c.x)
        os_fatal("latency: out of memory");
    os_rng r;
    os_rng_seed(&r, 7);
    for (long i = 0; i < per * c.n; i++)
        c.x[i] = os_rng_normal(&r);
    os_bn_recalibrate(net, calib_next, &c, 1);
    free(c.x);
}

/* one inference forward; its time in ms on the net's clock */
static double timed_forward(os_net *net, os_tensor *x)
{
    os_forward_ctx ctx = {.training = false};
    double t0 = net->cand_clock();
    net->forward(net, x, &ctx, NULL);
    double t = 1e3 * (net->cand_clock() - t0);
    os_step_reset();
    return t;
}

int os_latency_measure(os_net *net, const os_latency_opts *o, os_latency_stat *st)
{
    if (check_opts(o))
        return -1;
    net->cand_clock = o->cpu_clock ? cpu_seconds : os_seconds;
    calibrate(net);
    bool old = os_set_grad_enabled(false);
    os_tensor *x = random_input(net, o);
    double *v = malloc(sizeof *v * (size_t)o->runs);
    for (int i = 0; i < o->warmup; i++)
        timed_forward(net, x);
    for (int i = 0; i < o->runs; i++)
        v[i] = timed_forward(net, x);
    os_latency_stats(v, o->runs, st);
    free(v);
    os_tensor_free(x);
    os_set_grad_enabled(old);
    return 0;
}

/* every candidate of every layer choice; an input choice its first k (at least one) */
static void choose_every(os_net *net, const os_forward_ctx *ctx, void *arg)
{
    (void)ctx, (void)arg;
    for (int i = 0; i < net->n_choices; i++) {
        const os_choice *c = &net->choices[i];
        os_net_mix_set(net, i, c->kind == OS_CHOICE_LAYER ? os_mask_all(c->n) : os_mask_all(c->k > 0 ? c->k : 1),
                       NULL);
    }
}

/* 1 when choice i gates another (a depth choice) */
static int gates_others(const os_net *net, int i)
{
    for (int j = 0; j < net->n_choices; j++)
        if (net->choices[j].gate == i)
            return 1;
    return 0;
}

/* Round r's single path: candidate (r + i) mod n of layer choice i, so that
 * every candidate runs in r = 0 .. n-1 (and again every n rounds); a depth
 * choice its deepest candidate (every block runs); an input choice its first
 * k inputs. */
static void choose_round(os_net *net, const os_forward_ctx *ctx, void *arg)
{
    (void)ctx;
    int r = *(const int *)arg;
    for (int i = 0; i < net->n_choices; i++) {
        const os_choice *c = &net->choices[i];
        unsigned m = c->kind == OS_CHOICE_INPUT ? os_mask_all(c->k > 0 ? c->k : 1)
                     : gates_others(net, i)     ? 1u << (c->n - 1)
                                                : 1u << ((r + i) % c->n);
        os_net_mix_set(net, i, m, NULL);
    }
}

static void add_machine(cJSON *root)
{
    cJSON *m = cJSON_AddObjectToObject(root, "machine");
    char line[512], cpu[256] = "unknown";
    FILE *f = fopen("/proc/cpuinfo", "r");
    while (f && fgets(line, sizeof line, f)) {
        /* x86: "model name"; arm64: "Hardware" or "CPU part" (the first that is there) */
        if (!strncmp(line, "model name", 10) || !strncmp(line, "Hardware", 8)) {
            char *c = strchr(line, ':');
            if (c) {
                c += 1 + strspn(c + 1, " \t");
                c[strcspn(c, "\n")] = 0;
                snprintf(cpu, sizeof cpu, "%s", c);
                break;
            }
        }
    }
    if (f)
        fclose(f);
    cJSON_AddStringToObject(m, "cpu", cpu);
    cJSON_AddNumberToObject(m, "cores", (double)sysconf(_SC_NPROCESSORS_ONLN));
    char host[256] = "";
    if (!gethostname(host, sizeof host - 1))
        cJSON_AddStringToObject(m, "hostname", host);
}

static void add_build(cJSON *root)
{
    cJSON *b = cJSON_AddObjectToObject(root, "build");
#ifdef __VERSION__
    cJSON_AddStringToObject(b, "compiler", __VERSION__);
#endif
    cJSON_AddStringToObject(b, "flags", OS_BUILD_FLAGS);
    cJSON_AddStringToObject(b, "commit", OS_GIT_COMMIT);
}

static void add_date(cJSON *root)
{
    char d[64];
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(d, sizeof d, "%Y-%m-%dT%H:%M:%SZ", &tm);
    cJSON_AddStringToObject(root, "date", d);
}

cJSON *os_latency_table(os_net *net, const char *variant, const os_latency_opts *o)
{
    if (check_opts(o))
        return NULL;
    net->cand_clock = o->cpu_clock ? cpu_seconds : os_seconds;
    int nc = net->n_choices, slots = nc * OS_MAX_CANDIDATES;
    void (*choose)(os_net *, const os_forward_ctx *, void *) = net->choose;
    void *arg = net->choose_arg;
    bool old = os_set_grad_enabled(false);
    os_tensor *x = random_input(net, o);
    double *sec = calloc((size_t)slots, sizeof *sec);
    double *samples = malloc(sizeof *samples * (size_t)slots * (size_t)o->runs);
    double *fixed = malloc(sizeof *fixed * (size_t)o->runs);
    if (!sec || !samples || !fixed)
        os_fatal("latency: out of memory");

    /* BN statistics with every candidate running, then single paths that
     * rotate the candidates: each candidate is timed inside a forward like a
     * child's, `runs` times; the fixed rest is each forward's time minus its
     * candidates' */
    os_net_set_chooser(net, choose_every, NULL);
    calibrate(net);
    int round = 0, maxn = 1;
    for (int i = 0; i < nc; i++)
        maxn = net->choices[i].n > maxn ? net->choices[i].n : maxn;
    int *count = calloc((size_t)slots, sizeof *count);
    int n_fixed = 0, forwards = maxn * o->runs;
    fixed = realloc(fixed, sizeof *fixed * (size_t)forwards);
    if (!count || !fixed)
        os_fatal("latency: out of memory");
    os_net_set_chooser(net, choose_round, &round);
    for (int w = 0; w < o->warmup; w++)
        timed_forward(net, x);
    net->cand_seconds = sec;
    for (round = 0; round < forwards; round++) {
        memset(sec, 0, sizeof *sec * (size_t)slots);
        double t = timed_forward(net, x), in = 0;
        for (int s = 0; s < slots; s++) {
            if (sec[s] <= 0)
                continue;
            in += 1e3 * sec[s];
            if (count[s] < o->runs)
                samples[(size_t)s * o->runs + count[s]++] = 1e3 * sec[s];
        }
        fixed[n_fixed++] = t - in;
    }
    net->cand_seconds = NULL;
    os_net_set_chooser(net, choose, arg);

    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "space", net->space);
    if (variant)
        cJSON_AddStringToObject(root, "variant", variant);
    int in[3] = {net->in_c, net->in_h, net->in_w};
    cJSON_AddItemToObject(root, "input", cJSON_CreateIntArray(in, 3));
    cJSON_AddNumberToObject(root, "batch", o->batch);
    cJSON_AddNumberToObject(root, "threads", o->threads);
    cJSON_AddNumberToObject(root, "runs", o->runs);
    cJSON_AddNumberToObject(root, "warmup", o->warmup);
    cJSON_AddStringToObject(root, "clock", o->cpu_clock ? "cpu" : "wall");
    add_machine(root);
    add_build(root);
    add_date(root);
    cJSON_AddStringToObject(root, "units", "ms");
    os_latency_stat st;
    os_latency_stats(fixed, n_fixed, &st);
    cJSON_AddNumberToObject(root, "fixed", st.median);
    double fs[2] = {st.p10, st.p90};
    cJSON_AddItemToObject(root, "fixed_spread", cJSON_CreateDoubleArray(fs, 2));
    cJSON *spread = cJSON_AddObjectToObject(root, "spread");
    for (int i = 0; i < nc; i++) {
        const os_choice *c = &net->choices[i];
        if (c->kind != OS_CHOICE_LAYER || gates_others(net, i))
            continue; /* input choices cost nothing; a depth's blocks carry its latency */
        cJSON *e = cJSON_AddObjectToObject(root, c->label), *sp = cJSON_AddObjectToObject(spread, c->label);
        for (int k = 0; k < c->n; k++) {
            int s = i * OS_MAX_CANDIDATES + k;
            if (count[s] < 1) /* never ran (cannot happen: every candidate has its rounds) */
                os_fatal("latency: candidate '%s' of '%s' was not timed", c->names[k], c->label);
            os_latency_stats(samples + (size_t)s * o->runs, count[s], &st);
            cJSON_AddNumberToObject(e, c->names[k], st.median);
            double ps[2] = {st.p10, st.p90};
            cJSON_AddItemToObject(sp, c->names[k], cJSON_CreateDoubleArray(ps, 2));
        }
    }
    free(sec);
    free(samples);
    free(fixed);
    free(count);
    os_tensor_free(x);
    os_set_grad_enabled(old);
    return root;
}

int os_latency_predict(const os_space *sp, const os_space_opts *so, const os_arch *child, const char *table,
                       int batch, int threads, double *ms)
{
    os_space_opts o = *so;
    o.arch = NULL;
    os_net net;
    if (sp->build(&net, &o))
        return -1;
    os_path_space ps;
    if (os_path_space_init(&ps, &net, sp, 0)) {
        os_net_free(&net);
        return -1;
    }
    ps.expect_batch = batch;
    ps.expect_threads = threads;
    int rc = os_path_latency_load(&ps, table);
    os_arch path;
    os_arch_copy(&path, &ps.tmpl);
    for (int i = 0; i < path.n && !rc; i++) {
        os_arch_choice *c = &path.c[i];
        int ci = os_arch_find(child, c->label);
        int k = ci < 0 ? -1 : os_arch_chosen_one(&child->c[ci]);
        if (k >= 0 && c->kind == OS_CHOICE_LAYER)
            k = os_arch_name_index(c, child->c[ci].names[k]);
        if (k >= 0) {
            c->chosen = c->kind == OS_CHOICE_LAYER ? 1u << k : child->c[ci].chosen;
        } else if (os_arch_gated_off(&path, i)) {
            c->chosen = 1u; /* does not run */
        } else {
            rc = os_error("%s: the child has no decision for the table's choice '%s' (a table predicts children "
                          "whose labels are the supernet's: nb201, proxyless)", table, c->label);
        }
    }
    if (!rc) {
        os_path_cost pc;
        os_path_cost_of(&ps, &path, &pc);
        *ms = pc.latency;
    }
    os_arch_free(&path);
    os_path_space_free(&ps);
    os_net_free(&net);
    os_step_reset();
    return rc;
}
