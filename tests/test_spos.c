/* tests/test_spos.c — single paths (search/path.h) and the single-path
 * strategies (spos, random), on every space:
 *  - uniform sampling: a chi-square test on 10,000 draws of the spos
 *    chooser per choice (and, for a space's path groups, per group of kept
 *    choices), with a biased sampler as the negative control;
 *  - mutation and crossover give valid paths on many seeds, and the space's
 *    derive() makes a child from each that builds (cifar_cell: exactly the
 *    cell the path runs);
 *  - a path's costs are what the engine counts on a forward of it; the
 *    least cost is the least over every path (nb201, exhaustively);
 *    latency tables and impossible limits;
 *  - BN recalibration computes the plain average of the batch statistics,
 *    leaves the BNs the path does not run alone, and on an SPOS-trained
 *    supernet beats the running statistics;
 *  - random's derive() is deterministic and leaves the supernet as it was. */
#include "tests/test_util.h"
#include "search/evolve.h"
#include "search/path.h"
#include "search/trainer.h"
#include "tensor/backend.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>

#define CLASSES 3

static void build(const os_space *sp, os_net *net)
{
    os_space_opts so = {.cells = 3, .channels = 2, .in_c = 1, .in_h = 8, .in_w = 8, .num_classes = CLASSES, .seed = 5};
    cr_assert_eq(sp->build(net, &so), 0, "%s: %s", sp->name, os_last_error());
}

/* chi-square statistic of counts against expected probabilities */
static double chi2(const long *count, const double *p, int k, long n)
{
    double s = 0;
    for (int i = 0; i < k; i++) {
        double e = p[i] * (double)n;
        s += (count[i] - e) * (count[i] - e) / e;
    }
    return s;
}

/* the chi-square quantile at 1 - 1e-4 (Wilson-Hilferty) */
static double chi2_crit(int df)
{
    double z = 3.719, a = 2.0 / (9.0 * df);
    double t = 1 - a + z * sqrt(a);
    return df * t * t * t;
}

/* ---- uniform sampling ----------------------------------------------------------------- */
#define DRAWS 10000

static void uniformity(const os_space *sp, const char *strategy)
{
    os_net net;
    build(sp, &net);
    os_trainer t;
    os_train_settings ts = {.search = 1, .epochs = 1, .batch = 4, .seed = 3, .lr = 0.1f};
    cr_assert_eq(os_trainer_init(&t, &net, sp, &ts, os_strategy_find(strategy), NULL), 0, "%s", os_last_error());
    os_path_space ps;
    cr_assert_eq(os_path_space_init(&ps, &net, sp, 0), 0);
    int n = net.n_choices;
    long(*count)[OS_MAX_CANDIDATES] = calloc((size_t)n, sizeof *count);
    long **masks = calloc((size_t)n, sizeof *masks); /* input choices: per chosen subset */
    for (int i = 0; i < n; i++)
        if (net.choices[i].kind == OS_CHOICE_INPUT)
            masks[i] = calloc((size_t)1 << net.choices[i].n, sizeof **masks);
    long *subsets = calloc((size_t)ps.n_groups * 64, sizeof *subsets);
    os_forward_ctx tr = {.training = true};
    for (int d = 0; d < DRAWS; d++) {
        os_net_begin_forward(&net, &tr);
        unsigned sub[64] = {0};
        for (int i = 0; i < n; i++) {
            unsigned a = net.mix[i].active;
            /* a subset choice (k == 0) may keep nothing */
            cr_assert((a || (net.choices[i].kind == OS_CHOICE_INPUT && !net.choices[i].k)) &&
                      !(a & ~os_mask_all(net.choices[i].n)));
            cr_assert_null(net.mix[i].w, "a single path has no weights");
            for (int k = 0; k < net.choices[i].n; k++)
                count[i][k] += (a >> k) & 1u;
            if (masks[i])
                masks[i][a]++;
            int g = ps.group[i];
            if (g >= 0 && a != 1u << ps.zero[i]) {
                int pos = 0;
                for (int j = 0; j < i; j++)
                    pos += ps.group[j] == g;
                sub[g] |= 1u << pos;
            }
        }
        for (int g = 0; g < ps.n_groups; g++)
            subsets[g * 64 + sub[g]]++;
    }
    double worst = 0; /* the largest statistic / its critical value */
    for (int i = 0; i < n; i++) {
        const os_choice *c = &net.choices[i];
        if (c->kind == OS_CHOICE_INPUT) {
            /* every k-subset of the inputs equally likely (k == 0: every subset) */
            long cnt[256];
            double p[256];
            int k = 0;
            for (unsigned m = 0; m < (1u << c->n); m++)
                if (__builtin_popcount(m) == c->k || !c->k) {
                    if (k < 256)
                        cnt[k] = masks[i][m];
                    k++;
                } else {
                    cr_expect_eq(masks[i][m], 0, "input choice '%s': %d inputs chosen", c->label,
                                 __builtin_popcount(m));
                }
            for (int j = 0; j < k && j < 256; j++)
                p[j] = 1.0 / k;
            if (k <= 256 && k > 1) {
                double x = chi2(cnt, p, k, DRAWS);
                cr_expect(x < chi2_crit(k - 1), "%s/%s input choice '%s': chi-square %.1f over %d subsets", sp->name,
                          strategy, c->label, x, k);
            }
            continue;
        }
        double p[OS_MAX_CANDIDATES];
        int g = ps.group[i];
        int m = 0;
        for (int j = 0; j < n; j++)
            m += g >= 0 && ps.group[j] == g;
        for (int k = 0; k < c->n; k++) {
            if (g < 0)
                p[k] = 1.0 / c->n;
            else /* kept with probability keep/m, then a uniform op other than none */
                p[k] = k == ps.zero[i] ? 1.0 - (double)ps.keep[g] / m : (double)ps.keep[g] / m / (c->n - 1);
        }
        /* candidates that cannot be drawn (none where a group keeps all) are left out */
        long cc[OS_MAX_CANDIDATES];
        double pp[OS_MAX_CANDIDATES];
        int nc = 0;
        for (int k = 0; k < c->n; k++)
            if (p[k] > 0) {
                cc[nc] = count[i][k];
                pp[nc++] = p[k];
            } else {
                cr_expect_eq(count[i][k], 0, "%s choice '%s': candidate %d drawn", sp->name, c->label, k);
            }
        double x = chi2(cc, pp, nc, DRAWS);
        worst = fmax(worst, x / chi2_crit(nc - 1));
        cr_expect(x < chi2_crit(nc - 1), "%s/%s choice '%s': chi-square %.1f over %d candidates (critical %.1f)",
                  sp->name, strategy, c->label, x, nc, chi2_crit(nc - 1));
    }
    /* a group: every keep-subset of its members equally likely */
    for (int g = 0; g < ps.n_groups; g++) {
        int m = 0;
        for (int j = 0; j < n; j++)
            m += ps.group[j] == g;
        long cnt[64];
        double p[64];
        int k = 0;
        for (unsigned s = 0; s < (1u << m); s++)
            if (__builtin_popcount(s) == ps.keep[g]) {
                cnt[k] = subsets[g * 64 + s];
                k++;
            } else {
                cr_expect_eq(subsets[g * 64 + s], 0, "group %d: %d kept", g, __builtin_popcount(s));
            }
        for (int j = 0; j < k; j++)
            p[j] = 1.0 / k;
        if (k == 1) { /* a group that keeps all its members */
            cr_expect_eq(cnt[0], DRAWS);
            continue;
        }
        double x = chi2(cnt, p, k, DRAWS);
        worst = fmax(worst, x / chi2_crit(k - 1));
        cr_expect(x < chi2_crit(k - 1), "%s group %d: chi-square %.1f over %d subsets", sp->name, g, x, k);
    }
    cr_log_info("%s/%s: %d choices, %d groups, %d draws; the largest chi-square is %.2f of its critical value "
                "(p = 1e-4)", sp->name, strategy, n, ps.n_groups, DRAWS, worst);
    for (int i = 0; i < n; i++)
        free(masks[i]);
    free(masks);
    free(count);
    free(subsets);
    os_path_space_free(&ps);
    os_trainer_free(&t);
    os_net_free(&net);
}

Test(spos, uniform_sampling_chi_square, .timeout = 120)
{
    os_set_threads(1);
    for (int s = 0; s < os_space_count(); s++) {
        uniformity(os_space_at(s), "spos");
        uniformity(os_space_at(s), "random");
    }
}

Test(spos, chi_square_rejects_a_biased_sampler)
{
    /* the negative control: 5 candidates, the last drawn 20 % less often */
    os_rng r;
    os_rng_seed(&r, 7);
    long cnt[5] = {0};
    for (int d = 0; d < DRAWS; d++) {
        int k = (int)os_rng_below(&r, 5);
        if (k == 4 && os_rng_uniform(&r) < 0.2f)
            k = (int)os_rng_below(&r, 4);
        cnt[k]++;
    }
    double p[5] = {0.2, 0.2, 0.2, 0.2, 0.2};
    cr_expect(chi2(cnt, p, 5, DRAWS) > chi2_crit(4));
}

/* ---- mutation and crossover: valid paths, valid children -------------------------------- */
/* cifar_cell: the derived child's (op, input) pairs are the path's kept edges */
static void expect_child_is_path(const os_arch *path, const os_arch *child)
{
    static const char *types[2] = {"normal", "reduce"};
    for (int t = 0; t < 2; t++)
        for (int node = 2; node < 6; node++) {
            int want[8] = {0}, got[8] = {0}; /* per input: op index + 1 */
            for (int j = 0; j < node; j++) {
                char l[64];
                snprintf(l, sizeof l, "%s/edge_%d_%d", types[t], node, j);
                int ci = os_arch_find(path, l);
                cr_assert(ci >= 0);
                int op = os_arch_chosen_one(&path->c[ci]);
                if (strcmp(path->c[ci].names[op], "none"))
                    want[j] = op + 1;
            }
            for (int k = 0; k < 2; k++) {
                char lo[64], li[64];
                snprintf(lo, sizeof lo, "%s/op_%d_%d", types[t], node, k);
                snprintf(li, sizeof li, "%s/input_%d_%d", types[t], node, k);
                int co = os_arch_find(child, lo), cin = os_arch_find(child, li);
                cr_assert(co >= 0 && cin >= 0);
                got[os_arch_chosen_one(&child->c[cin])] = os_arch_chosen_one(&child->c[co]) + 1;
            }
            cr_expect(!memcmp(want, got, sizeof want), "%s node %d: the child is not the path", types[t], node);
        }
}

static void check_path(const os_space *sp, const os_path_space *ps, const os_arch *p, int build_child)
{
    cr_assert_eq(os_path_check(ps, p), 0, "%s: %s", sp->name, os_last_error());
    os_arch child;
    os_derive_opts o = {.max_skip = -1};
    cr_assert_eq(sp->derive(p, &o, &child), 0, "%s: %s", sp->name, os_last_error());
    cr_expect(os_arch_complete(&child));
    if (ps->n_groups && !strcmp(sp->name, "cifar_cell"))
        expect_child_is_path(p, &child);
    if (build_child) {
        os_net cn;
        os_space_opts co = {.cells = 3, .channels = 2, .in_c = 1, .in_h = 8, .in_w = 8, .num_classes = CLASSES,
                            .seed = 1, .arch = &child};
        cr_assert_eq(sp->build(&cn, &co), 0, "%s: the child does not build: %s", sp->name, os_last_error());
        os_net_free(&cn);
    }
    os_arch_free(&child);
}

Test(spos, mutation_and_crossover_give_valid_paths_in_every_space, .timeout = 120)
{
    os_set_threads(1);
    for (int s = 0; s < os_space_count(); s++) {
        const os_space *sp = os_space_at(s);
        os_net net;
        build(sp, &net);
        os_path_space ps;
        cr_assert_eq(os_path_space_init(&ps, &net, sp, 0), 0, "%s", os_last_error());
        static const float probs[] = {0.0f, 0.1f, 0.5f, 1.0f};
        long changed = 0, total = 0;
        for (int seed = 0; seed < 500; seed++) {
            os_rng r;
            os_rng_seed(&r, (uint64_t)seed);
            os_arch a = {0}, b = {0}, m = {0}, x = {0};
            os_path_sample(&ps, &r, &a);
            os_path_sample(&ps, &r, &b);
            check_path(sp, &ps, &a, seed < 10);
            float p = probs[seed % 4];
            os_path_mutate(&ps, &r, p, &a, &m);
            check_path(sp, &ps, &m, seed < 10);
            if (p == 0.0f)
                cr_expect(os_path_same(&a, &m), "a mutation with p 0 changed the path");
            if (p == 1.0f) {
                changed += !os_path_same(&a, &m);
                total++;
            }
            os_path_crossover(&ps, &r, &a, &b, &x);
            check_path(sp, &ps, &x, seed < 10);
            /* every choice of the crossover comes from a parent */
            for (int i = 0; i < ps.n; i++)
                cr_expect(x.c[i].chosen == a.c[i].chosen || x.c[i].chosen == b.c[i].chosen);
            /* chains of operators stay valid */
            for (int k = 0; k < 5; k++) {
                os_path_mutate(&ps, &r, 0.3f, &x, &x);
                os_path_crossover(&ps, &r, &x, &m, &x);
            }
            check_path(sp, &ps, &x, 0);
            os_arch_free(&a);
            os_arch_free(&b);
            os_arch_free(&m);
            os_arch_free(&x);
        }
        cr_expect(changed > total * 9 / 10, "%s: p = 1 mutations changed only %ld of %ld paths", sp->name, changed,
                  total);
        /* an invalid path is named */
        os_rng r;
        os_rng_seed(&r, 1);
        os_arch a = {0};
        os_path_sample(&ps, &r, &a);
        a.c[0].chosen = 0;
        cr_expect_eq(os_path_check(&ps, &a), -1);
        cr_expect(strstr(os_last_error(), a.c[0].label), "%s", os_last_error());
        if (ps.n_groups) {
            /* a group with a third edge on */
            os_path_sample(&ps, &r, &a);
            for (int i = 0; i < ps.n; i++)
                if (ps.group[i] == ps.n_groups - 1 && a.c[i].chosen == 1u << ps.zero[i]) {
                    a.c[i].chosen = 1u << (ps.zero[i] == 0 ? 1 : 0);
                    break;
                }
            cr_expect_eq(os_path_check(&ps, &a), -1);
            cr_expect(strstr(os_last_error(), "keeps 2"), "%s", os_last_error());
        }
        os_arch_free(&a);
        os_path_space_free(&ps);
        os_net_free(&net);
    }
}

/* ---- costs, latency, limits ------------------------------------------------------------------ */
Test(spos, path_costs_are_the_forward_count, .timeout = 120)
{
    os_set_threads(1);
    for (int s = 0; s < os_space_count(); s++) {
        const os_space *sp = os_space_at(s);
        os_net net;
        build(sp, &net);
        os_path_space ps;
        cr_assert_eq(os_path_space_init(&ps, &net, sp, 1), 0, "%s", os_last_error());
        cr_assert(ps.has_costs);
        os_rng r;
        os_rng_seed(&r, 11);
        os_arch p = {0};
        for (int k = 0; k < 20; k++) {
            os_path_sample(&ps, &r, &p);
            os_path_cost c;
            os_path_cost_of(&ps, &p, &c);
            os_net_choose_arch(&net, &p);
            os_cost f;
            os_net_cost(&net, &f);
            cr_expect_eq((int64_t)c.params, f.params, "%s path %d: params %.0f vs counted %lld", sp->name, k,
                         c.params, (long long)f.params);
            cr_expect_eq((int64_t)c.madds, f.macs, "%s path %d: madds %.0f vs counted %lld", sp->name, k, c.madds,
                         (long long)f.macs);
            cr_expect(c.latency < 0, "no latency without a table");
        }
        os_arch_free(&p);
        os_path_space_free(&ps);
        os_net_free(&net);
    }
}

Test(spos, least_cost_is_the_least_of_every_path, .timeout = 120)
{
    os_set_threads(1);
    for (int s = 0; s < os_space_count(); s++) {
        const os_space *sp = os_space_at(s);
        os_net net;
        build(sp, &net);
        os_path_space ps;
        cr_assert_eq(os_path_space_init(&ps, &net, sp, 1), 0);
        os_path_cost lo;
        os_path_min_cost(&ps, &lo);
        /* every path: nb201's 5^6 exhaustively; otherwise 3,000 samples */
        long space = 1;
        for (int i = 0; i < ps.n && space < 100000; i++)
            space *= ps.tmpl.c[i].n;
        int exhaustive = !ps.n_groups && space <= 20000;
        double min_p = INFINITY, min_m = INFINITY;
        os_arch p = {0};
        os_rng r;
        os_rng_seed(&r, 5);
        long count = exhaustive ? space : 3000;
        for (long k = 0; k < count; k++) {
            if (exhaustive) {
                os_arch_free(&p);
                os_arch_copy(&p, &ps.tmpl);
                long q = k;
                for (int i = 0; i < ps.n; i++) {
                    p.c[i].chosen = 1u << (q % p.c[i].n);
                    q /= p.c[i].n;
                }
            } else {
                os_path_sample(&ps, &r, &p);
            }
            os_path_cost c;
            os_path_cost_of(&ps, &p, &c);
            cr_assert(c.params >= lo.params && c.madds >= lo.madds);
            min_p = fmin(min_p, c.params);
            min_m = fmin(min_m, c.madds);
        }
        if (exhaustive) {
            cr_expect_eq(min_p, lo.params, "%s: least params %.0f, os_path_min_cost %.0f", sp->name, min_p, lo.params);
            cr_expect_eq(min_m, lo.madds);
        }
        /* limits below the least are errors naming the flag; at the least they pass */
        os_path_limits l = {.max_params = lo.params - 1};
        cr_expect_eq(os_path_limits_check(&ps, &l), -1);
        cr_expect(strstr(os_last_error(), "--max-params"), "%s", os_last_error());
        l = (os_path_limits){.max_madds = lo.madds - 1};
        cr_expect_eq(os_path_limits_check(&ps, &l), -1);
        cr_expect(strstr(os_last_error(), "--max-madds"), "%s", os_last_error());
        l = (os_path_limits){.max_params = lo.params, .max_madds = lo.madds};
        cr_expect_eq(os_path_limits_check(&ps, &l), 0);
        l = (os_path_limits){.max_latency = 1};
        cr_expect_eq(os_path_limits_check(&ps, &l), -1, "a latency limit without a table");
        cr_expect(strstr(os_last_error(), "latency table"), "%s", os_last_error());
        os_arch_free(&p);
        os_path_space_free(&ps);
        os_net_free(&net);
    }
}

/* a table giving candidate k of choice i the latency (i + 1) * 0.5 + k * 0.25 ms */
static char *latency_json(const os_path_space *ps, const char *skip_label, const char *skip_cand)
{
    cJSON *j = cJSON_CreateObject();
    cJSON_AddNumberToObject(j, "fixed", 1.5);
    for (int i = 0; i < ps->n; i++) {
        const os_arch_choice *c = &ps->tmpl.c[i];
        if (c->kind != OS_CHOICE_LAYER || (skip_label && !skip_cand && !strcmp(c->label, skip_label)))
            continue;
        cJSON *e = cJSON_AddObjectToObject(j, c->label);
        for (int k = 0; k < c->n; k++)
            if (!(skip_cand && !strcmp(c->label, skip_label) && !strcmp(c->names[k], skip_cand)))
                cJSON_AddNumberToObject(e, c->names[k], (i + 1) * 0.5 + k * 0.25);
    }
    char *t = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    return t;
}

Test(spos, latency_table_sums_and_bad_tables_are_named)
{
    os_set_threads(1);
    for (int s = 0; s < os_space_count(); s++) {
        const os_space *sp = os_space_at(s);
        os_net net;
        build(sp, &net);
        os_path_space ps;
        cr_assert_eq(os_path_space_init(&ps, &net, sp, 0), 0);
        char *t = latency_json(&ps, NULL, NULL);
        cr_assert_eq(os_path_latency_parse(&ps, t, "lat.json"), 0, "%s", os_last_error());
        free(t);
        os_rng r;
        os_rng_seed(&r, 3);
        os_arch p = {0};
        os_path_sample(&ps, &r, &p);
        os_path_cost c;
        os_path_cost_of(&ps, &p, &c);
        double want = 1.5;
        for (int i = 0; i < ps.n; i++) /* a block its depth leaves out (proxyless) counts nothing */
            if (p.c[i].kind == OS_CHOICE_LAYER && !os_arch_gated_off(&p, i))
                want += (i + 1) * 0.5 + os_arch_chosen_one(&p.c[i]) * 0.25;
        cr_expect(fabs(c.latency - want) < 1e-9, "%s: latency %g, want %g", sp->name, c.latency, want);
        /* the least latency: every choice's fastest (groups: the fastest kept) */
        os_path_cost lo;
        os_path_min_cost(&ps, &lo);
        cr_expect(lo.latency <= c.latency);
        os_path_limits l = {.max_latency = lo.latency * 0.99};
        cr_expect_eq(os_path_limits_check(&ps, &l), -1);
        cr_expect(strstr(os_last_error(), "--max-latency"), "%s", os_last_error());
        /* a missing label, a missing candidate, an unknown label, a bad value */
        /* (a depth choice, which gates others, may be left out: take the last
         * layer choice; input choices have no latency entries) */
        int last = ps.n - 1;
        while (last > 0 && ps.tmpl.c[last].kind != OS_CHOICE_LAYER)
            last--;
        const os_arch_choice *c0 = &ps.tmpl.c[last];
        cr_assert_eq(c0->kind, OS_CHOICE_LAYER, "%s: no layer choice", sp->name);
        t = latency_json(&ps, c0->label, NULL);
        cr_expect_eq(os_path_latency_parse(&ps, t, "lat.json"), -1);
        cr_expect(strstr(os_last_error(), c0->label) && strstr(os_last_error(), "lat.json"), "%s", os_last_error());
        free(t);
        t = latency_json(&ps, c0->label, c0->names[1]);
        cr_expect_eq(os_path_latency_parse(&ps, t, "lat.json"), -1);
        cr_expect(strstr(os_last_error(), c0->names[1]), "%s", os_last_error());
        free(t);
        cr_expect_eq(os_path_latency_parse(&ps, "{\"no/such\": {\"a\": 1}}", "lat.json"), -1);
        cr_expect(strstr(os_last_error(), "no/such"), "%s", os_last_error());
        cr_expect_eq(os_path_latency_parse(&ps, "[1, 2]", "lat.json"), -1);
        cr_expect_eq(os_path_latency_parse(&ps, "{\"fixed\": -1}", "lat.json"), -1);
        cr_expect(strstr(os_last_error(), "fixed"), "%s", os_last_error());
        os_arch_free(&p);
        os_path_space_free(&ps);
        os_net_free(&net);
    }
}

/* ---- BN recalibration ------------------------------------------------------------------------- */
typedef struct {
    os_bn used, unused;
} toy_bn;

static os_tensor *toy_forward(os_net *net, os_tensor *x, const os_forward_ctx *ctx, os_tensor **aux)
{
    if (aux)
        *aux = NULL;
    return os_bn_forward(&((toy_bn *)net->impl)->used, x, ctx);
}

typedef struct {
    float *x;
    int32_t *y;
    int n, batches;
    size_t img;
} mem_batches;

static int mem_batch(void *arg, int i, os_batch *b)
{
    mem_batches *m = arg;
    if (i >= m->batches)
        return 0;
    *b = (os_batch){.x = m->x + (size_t)i * m->n * m->img, .y = m->y + (size_t)i * m->n, .n = m->n};
    return 1;
}

Test(spos, bn_recalibration_is_the_average_of_the_batch_statistics)
{
    os_set_threads(1);
    enum { C = 3, H = 4, W = 5, N = 6, NB = 4 };
    os_net net;
    toy_bn toy;
    os_net_init(&net, "toy", C, H, W, 2);
    os_bn_init(&net, &toy.used, "used", C, 0);
    os_bn_init(&net, &toy.unused, "unused", C, 1);
    net.impl = &toy;
    net.forward = toy_forward;
    os_tensor_fill(toy.used.mean, 7.0f);
    os_tensor_fill(toy.unused.mean, 0.25f);
    os_tensor_fill(toy.unused.var, 3.0f);
    size_t img = (size_t)C * H * W;
    float *x = malloc(sizeof(float) * img * N * NB);
    int32_t *y = calloc((size_t)N * NB, sizeof *y);
    os_rng r;
    os_rng_seed(&r, 4);
    for (size_t i = 0; i < img * N * NB; i++)
        x[i] = 2.0f + 1.5f * os_rng_normal(&r) + (float)(i % 7) * 0.1f;
    mem_batches mb = {x, y, N, NB, img};
    cr_assert_eq(os_bn_recalibrate(&net, mem_batch, &mb, 10), NB);
    /* expected: per channel the mean of the batch means and of the unbiased batch variances */
    for (int c = 0; c < C; c++) {
        double em = 0, ev = 0;
        for (int b = 0; b < NB; b++) {
            double s = 0, q = 0;
            int m = N * H * W;
            for (int n = 0; n < N; n++)
                for (int p = 0; p < H * W; p++) {
                    double v = x[((size_t)b * N + n) * img + (size_t)c * H * W + p];
                    s += v;
                    q += v * v;
                }
            double mu = s / m;
            em += mu / NB;
            ev += (q / m - mu * mu) * m / (m - 1) / NB;
        }
        float gm = toy.used.mean->data[c], gv = toy.used.var->data[c];
        cr_expect(fabs(gm - em) < 1e-5 * (1 + fabs(em)), "channel %d: mean %g, want %g", c, gm, em);
        cr_expect(fabs(gv - ev) < 1e-5 * (1 + fabs(ev)), "channel %d: var %g, want %g", c, gv, ev);
        cr_expect_eq(toy.unused.mean->data[c], 0.25f, "a BN the path does not run keeps its statistics");
        cr_expect_eq(toy.unused.var->data[c], 3.0f);
    }
    /* fewer batches than asked: what there is; none: nothing changes */
    mb.batches = 1;
    cr_expect_eq(os_bn_recalibrate(&net, mem_batch, &mb, 10), 1);
    float m1 = toy.used.mean->data[0];
    mb.batches = 0;
    cr_expect_eq(os_bn_recalibrate(&net, mem_batch, &mb, 10), 0);
    cr_expect_eq(toy.used.mean->data[0], m1);
    net.impl = NULL;
    os_net_free(&net);
    free(x);
    free(y);
    os_step_reset();
}

/* Synthetic 8x8 images: class k has a bright 3x3 blob at one of four places
 * (+ noise); learnable in a few hundred steps by a tiny supernet. */
static void synth(os_rng *r, float *x, int32_t *y, int n)
{
    for (int i = 0; i < n; i++) {
        int k = (int)os_rng_below(r, CLASSES + 1) % CLASSES;
        y[i] = k;
        float *im = x + (size_t)i * 64;
        for (int p = 0; p < 64; p++)
            im[p] = 0.3f * os_rng_normal(r);
        int oy = k == 1 ? 4 : 1, ox = k == 2 ? 4 : 1;
        oy += (int)os_rng_below(r, 2);
        ox += (int)os_rng_below(r, 2);
        for (int a = 0; a < 3; a++)
            for (int b = 0; b < 3; b++)
                im[(oy + a) * 8 + ox + b] += k == 0 ? 1.5f : k == 1 ? -1.5f : 1.0f;
    }
}

Test(spos, bn_recalibration_beats_the_running_statistics, .timeout = 240)
{
    os_set_threads(1);
    const os_space *sp = os_space_find("nb201");
    os_net net;
    os_space_opts so = {.cells = 1, .channels = 8, .in_c = 1, .in_h = 8, .in_w = 8, .num_classes = CLASSES, .seed = 5};
    cr_assert_eq(sp->build(&net, &so), 0);
    os_trainer t;
    os_train_settings ts = {.search = 1, .epochs = 1, .batch = 32, .seed = 3, .lr = 0.05f, .momentum = 0.9f,
                            .weight_decay = 1e-4f, .grad_clip = 5.0f};
    cr_assert_eq(os_trainer_init(&t, &net, sp, &ts, os_strategy_find("spos"), NULL), 0);
    os_rng r;
    os_rng_seed(&r, 21);
    float x[32 * 64];
    int32_t y[32];
    for (int s = 0; s < 300; s++) {
        synth(&r, x, y, 32);
        os_step_result sr;
        cr_assert_eq(os_trainer_step(&t, &(os_batch){.x = x, .y = y, .n = 32}, NULL, &sr), 0);
        cr_assert(isfinite(sr.loss));
    }
    /* held-out validation and recalibration batches */
    enum { NV = 8, NR = 8 };
    float *vx = malloc(sizeof(float) * 64 * 32 * NV), *rx = malloc(sizeof(float) * 64 * 32 * NR);
    int32_t *vy = malloc(sizeof(int32_t) * 32 * NV), *ry = malloc(sizeof(int32_t) * 32 * NR);
    synth(&r, vx, vy, 32 * NV);
    synth(&r, rx, ry, 32 * NR);
    mem_batches val = {vx, vy, 32, NV, 64}, rec = {rx, ry, 32, NR, 64};
    os_path_space ps;
    cr_assert_eq(os_path_space_init(&ps, &net, sp, 0), 0);
    /* the running statistics SPOS training left, to start every plain evaluation from */
    const os_params *B = &net.buffers;
    float **saved = calloc((size_t)B->n, sizeof *saved);
    for (int i = 0; i < B->n; i++) {
        saved[i] = malloc(sizeof(float) * (size_t)os_numel(B->t[i]));
        os_tensor_to_host(B->t[i], saved[i]);
    }
    os_rng pr;
    os_rng_seed(&pr, 8);
    os_arch p = {0};
    double with = 0, without = 0;
    int wins = 0, paths = 12;
    for (int k = 0; k < paths; k++) {
        os_path_sample(&ps, &pr, &p);
        double l0, a0, l1, a1;
        for (int i = 0; i < B->n; i++)
            os_tensor_from_host(B->t[i], saved[i]);
        os_path_evaluate(&net, &p, NULL, NULL, 0, mem_batch, &val, 0, &l0, &a0);
        os_path_evaluate(&net, &p, mem_batch, &rec, NR, mem_batch, &val, 0, &l1, &a1);
        without += a0 / paths;
        with += a1 / paths;
        wins += a1 > a0;
        cr_log_info("path %d: val acc %.3f running statistics, %.3f recalibrated", k, a0, a1);
    }
    cr_log_info("mean val acc over %d paths: %.3f without, %.3f with recalibration (%d wins)", paths, without, with,
                wins);
    cr_expect(with > without + 0.05, "recalibrated %.3f vs running statistics %.3f", with, without);
    cr_expect(wins >= paths / 2, "recalibration won on %d of %d paths", wins, paths);
    for (int i = 0; i < B->n; i++)
        free(saved[i]);
    free(saved);
    os_arch_free(&p);
    os_path_space_free(&ps);
    free(vx);
    free(rx);
    free(vy);
    free(ry);
    os_trainer_free(&t);
    os_net_free(&net);
}

/* ---- the random strategy's selection --------------------------------------------------------- */
Test(spos, random_derive_is_deterministic_and_leaves_the_supernet_alone, .timeout = 120)
{
    os_set_threads(1);
    for (int s = 0; s < os_space_count(); s++) {
        const os_space *sp = os_space_at(s);
        os_net net;
        build(sp, &net);
        os_trainer t;
        os_train_settings ts = {.search = 1, .epochs = 1, .batch = 8, .seed = 3, .lr = 0.05f};
        cr_assert_eq(os_trainer_init(&t, &net, sp, &ts, os_strategy_find("random"), NULL), 0);
        os_rng r;
        os_rng_seed(&r, 2);
        float x[16 * 64];
        int32_t y[16];
        for (int k = 0; k < 6; k++) {
            synth(&r, x, y, 16);
            os_step_result sr;
            os_batch tb = {.x = x, .y = y, .n = 8}, vb = {.x = x + 8 * 64, .y = y + 8, .n = 8};
            cr_assert_eq(os_trainer_step(&t, &tb, &vb, &sr), 0);
        }
        const os_params *B = &net.buffers;
        long nb = 0;
        for (int i = 0; i < B->n; i++)
            nb += os_numel(B->t[i]);
        float *before = malloc(sizeof(float) * (size_t)nb), *after = malloc(sizeof(float) * (size_t)nb);
        for (int i = 0, o = 0; i < B->n; o += (int)os_numel(B->t[i]), i++)
            os_tensor_to_host(B->t[i], before + o);
        os_arch a1, a2, c1, c2;
        cr_assert_eq(os_trainer_derive(&t, NULL, &a1, &c1), 0, "%s", os_last_error());
        cr_assert_eq(os_trainer_derive(&t, NULL, &a2, &c2), 0);
        for (int i = 0, o = 0; i < B->n; o += (int)os_numel(B->t[i]), i++)
            os_tensor_to_host(B->t[i], after + o);
        cr_expect(!memcmp(before, after, sizeof(float) * (size_t)nb), "%s: derive changed the BN statistics",
                  sp->name);
        cr_expect(os_arch_equal(&a1, &a2));
        cr_expect(os_arch_equal(&c1, &c2));
        os_path_space ps;
        cr_assert_eq(os_path_space_init(&ps, &net, sp, 0), 0);
        cr_expect_eq(os_path_check(&ps, &a1), 0, "%s: %s", sp->name, os_last_error());
        os_path_space_free(&ps);
        free(before);
        free(after);
        os_arch_free(&a1);
        os_arch_free(&a2);
        os_arch_free(&c1);
        os_arch_free(&c2);
        os_trainer_free(&t);
        os_net_free(&net);
    }
}
