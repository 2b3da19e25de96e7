/* search/latency.c — latency tables and end-to-end timing (latency.h). */
#include "search/latency.h"
#include "autograd/autograd.h"
#include "tensor/arena.h"
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

static double now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return 1e3 * (double)t.tv_sec + 1e-6 * (double)t.tv_nsec;
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
                                       "machine", "build", "date", "units", "fixed_spread", "spread", NULL};
    for (int i = 0; keys[i]; i++)
        if (!strcmp(key, keys[i]))
            return 1;
    return 0;
}

static os_tensor *random_input(const os_net *net, const os_latency_opts *o)
{
    int s[4] = {o->batch, net->in_c, net->in_h, net->in_w};
    os_tensor *x = os_tensor_new_persistent(os_default_device(), 4, s);
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

/* one inference forward; its wall time in ms */
static double timed_forward(os_net *net, os_tensor *x)
{
    os_forward_ctx ctx = {.training = false};
    double t0 = now_ms();
    net->forward(net, x, &ctx, NULL);
    double t = now_ms() - t0;
    os_step_reset();
    return t;
}

int os_latency_measure(os_net *net, const os_latency_opts *o, os_latency_stat *st)
{
    if (o->batch < 1 || o->runs < 1 || o->warmup < 0)
        return os_error("latency: batch and runs must be >= 1, warmup >= 0");
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

/* one path: candidate 0 of every choice, the first k inputs */
static void choose_first(os_net *net, const os_forward_ctx *ctx, void *arg)
{
    (void)ctx, (void)arg;
    for (int i = 0; i < net->n_choices; i++) {
        const os_choice *c = &net->choices[i];
        os_net_mix_set(net, i, c->kind == OS_CHOICE_LAYER ? 1u : os_mask_all(c->k > 0 ? c->k : 1), NULL);
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
    if (o->batch < 1 || o->runs < 1 || o->warmup < 0) {
        os_error("latency: batch and runs must be >= 1, warmup >= 0");
        return NULL;
    }
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

    /* every candidate, timed inside the forward */
    os_net_set_chooser(net, choose_every, NULL);
    net->cand_seconds = sec;
    for (int r = -o->warmup; r < o->runs; r++) {
        memset(sec, 0, sizeof *sec * (size_t)slots);
        timed_forward(net, x);
        for (int s = 0; r >= 0 && s < slots; s++)
            samples[(size_t)s * o->runs + r] = 1e3 * sec[s];
    }
    /* the fixed rest on one path: its forward minus its candidates */
    os_net_set_chooser(net, choose_first, NULL);
    for (int r = -o->warmup; r < o->runs; r++) {
        memset(sec, 0, sizeof *sec * (size_t)slots);
        double t = timed_forward(net, x), in = 0;
        for (int s = 0; s < slots; s++)
            in += 1e3 * sec[s];
        if (r >= 0)
            fixed[r] = t - in;
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
    add_machine(root);
    add_build(root);
    add_date(root);
    cJSON_AddStringToObject(root, "units", "ms");
    os_latency_stat st;
    os_latency_stats(fixed, o->runs, &st);
    cJSON_AddNumberToObject(root, "fixed", st.median);
    double fs[2] = {st.p10, st.p90};
    cJSON_AddItemToObject(root, "fixed_spread", cJSON_CreateDoubleArray(fs, 2));
    cJSON *spread = cJSON_AddObjectToObject(root, "spread");
    for (int i = 0; i < nc; i++) {
        const os_choice *c = &net->choices[i];
        int gates = 0;
        for (int j = 0; j < nc; j++)
            gates |= net->choices[j].gate == i;
        if (c->kind != OS_CHOICE_LAYER || gates)
            continue; /* input choices cost nothing; a depth's blocks carry its latency */
        cJSON *e = cJSON_AddObjectToObject(root, c->label), *sp = cJSON_AddObjectToObject(spread, c->label);
        for (int k = 0; k < c->n; k++) {
            os_latency_stats(samples + (size_t)(i * OS_MAX_CANDIDATES + k) * o->runs, o->runs, &st);
            cJSON_AddNumberToObject(e, c->names[k], st.median);
            double ps[2] = {st.p10, st.p90};
            cJSON_AddItemToObject(sp, c->names[k], cJSON_CreateDoubleArray(ps, 2));
        }
    }
    free(sec);
    free(samples);
    free(fixed);
    os_tensor_free(x);
    os_set_grad_enabled(old);
    return root;
}
