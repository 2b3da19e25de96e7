/* tests/test_proxyless_strategy.c — the proxyless strategy (search/proxyless.c):
 *  - dL/dg of the binary gates against central differences of the loss in
 *    the gate values, the sampled pair fixed (nb201);
 *  - dL/dalpha against the formula sum_j G_j q_j (delta_ij - q_i) computed
 *    here from those gate gradients, with the latency term checked by
 *    central differences of the latency part in alpha (mul-log and
 *    add-linear);
 *  - one Adam step and the rescaling: the alphas that were not sampled keep
 *    their values, the sampled ones keep sum exp(alpha);
 *  - a latency loss with a synthetic table moves the probabilities to the
 *    cheaper candidates;
 *  - resume with architecture steps and a table is bit-identical (nb201,
 *    cifar_cell);
 *  - subset input choices: gates, the sigmoid formula, sampling, derive;
 *  - bad input: the target, the table, the loss form;
 *  - the STRING and ENUM option types. */
#include "tests/test_util.h"
#include "tests/ds_util.h"
#include "search/proxyless.h"
#include "search/trainer.h"
#include "tensor/backend.h"
#include "ops/ops.h"

#include <cjson/cJSON.h>

#include <math.h>
#include <stdlib.h>

#define B 4
#define CLASSES 3

typedef struct {
    os_net net;
    os_trainer t;
    char dir[256];
} rig;

/* a latency table for the net: every layer choice, candidate j of choice i
 * lat(i, j) ms, "none" 0 */
static double table_lat(int i, int j) { return 1.0 + 0.7 * ((j * 7 + i * 3) % 5) + 0.05 * i; }

/* 1 when choice i gates another (a depth choice of the proxyless space) */
static int is_gate(const os_net *net, int i)
{
    for (int k = 0; k < net->n_choices; k++)
        if (net->choices[k].gate == i)
            return 1;
    return 0;
}

static void write_table(const os_net *net, const char *path, double fixed, double (*lat)(int, int))
{
    cJSON *root = cJSON_CreateObject();
    cJSON_AddNumberToObject(root, "fixed", fixed);
    for (int i = 0; i < net->n_choices; i++) {
        const os_choice *c = &net->choices[i];
        if (c->kind != OS_CHOICE_LAYER || is_gate(net, i)) /* a depth is not in a table */
            continue;
        cJSON *o = cJSON_AddObjectToObject(root, c->label);
        for (int j = 0; j < c->n; j++)
            cJSON_AddNumberToObject(o, c->names[j], j == c->zero_index ? 0.0 : lat(i, j));
    }
    char *txt = cJSON_Print(root);
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f);
    fputs(txt, f);
    fclose(f);
    free(txt);
    cJSON_Delete(root);
}

/* kv: option name, value, ..., NULL; "@table" as a value: a table written for the net */
static int rig_try(rig *g, const char *space, const char *const *kv)
{
    const os_space *sp = os_space_find(space);
    const os_strategy *st = os_strategy_find("proxyless");
    cr_assert_not_null(st);
    os_space_opts so = {.cells = 3, .channels = 2, .in_c = 1, .in_h = 8, .in_w = 8, .num_classes = CLASSES,
                        .seed = 5};
    cr_assert_eq(sp->build(&g->net, &so), 0, "%s", os_last_error());
    du_tmpdir(g->dir, sizeof g->dir);
    char table[512];
    snprintf(table, sizeof table, "%s/lat.json", g->dir);
    write_table(&g->net, table, 1.5, table_lat);
    void *opts = calloc(1, st->options_size);
    os_options_defaults(st->options, st->n_options, opts);
    for (int i = 0; kv && kv[i]; i += 2)
        cr_assert_eq(os_options_set(st->options, st->n_options, opts, kv[i],
                                    !strcmp(kv[i + 1], "@table") ? table : kv[i + 1]),
                     0, "%s", os_last_error());
    os_train_settings ts = {.search = 1, .epochs = 3, .batch = B, .seed = 9, .lr = 0.05f, .lr_min = 0.001f,
                            .momentum = 0.9f, .weight_decay = 3e-4f, .grad_clip = 5.0f};
    int rc = os_trainer_init(&g->t, &g->net, sp, &ts, st, opts);
    free(opts);
    return rc;
}

static void rig_open(rig *g, const char *space, const char *const *kv)
{
    cr_assert_eq(rig_try(g, space, kv), 0, "%s", os_last_error());
}

static void rig_close(rig *g)
{
    os_trainer_free(&g->t);
    os_net_free(&g->net);
    du_rmtree(g->dir);
}

static void batches(int s, float *x, int32_t *y)
{
    os_rng r;
    os_rng_seed(&r, 100 + (uint64_t)s);
    for (int i = 0; i < 2 * B * 64; i++)
        x[i] = os_rng_normal(&r);
    for (int i = 0; i < 2 * B; i++)
        y[i] = (int32_t)os_rng_below(&r, CLASSES);
}

static void run_steps(rig *g, int from, int to, float *losses)
{
    float x[2 * B * 64];
    int32_t y[2 * B];
    for (int s = from; s < to; s++) {
        if (s % 2 == 0 || s == from) {
            g->t.pr.epoch = s / 2;
            g->t.lr = os_cosine_lr(g->t.set.lr, g->t.set.lr_min, s / 2, g->t.set.epochs);
            os_optim_set_lr(g->t.wopt, g->t.lr);
            g->t.strategy->epoch_begin(g->t.state, s / 2, g->t.set.epochs);
        }
        batches(s, x, y);
        os_batch tb = {.x = x, .y = y, .n = B}, vb = {.x = x + B * 64, .y = y + B, .n = B};
        os_step_result r;
        cr_assert_eq(os_trainer_step(&g->t, &tb, &vb, &r), 0, "%s", os_last_error());
        cr_assert(isfinite(r.loss), "step %d: loss %g", s, r.loss);
        losses[s] = r.loss;
        g->t.pr.global_step++;
    }
}

static void alphas(const os_net *net, int i, double *a)
{
    float h[OS_MAX_CANDIDATES];
    os_tensor_to_host(net->choices[i].alpha, h);
    for (int j = 0; j < net->choices[i].n; j++)
        a[j] = h[j];
}

/* ---- the gate gradient against finite differences ------------------------------------ */
typedef struct {
    const unsigned *involved;
    os_tensor **g;
} fixed_gates;

static void choose_fixed(os_net *net, const os_forward_ctx *ctx, void *arg)
{
    (void)ctx;
    const fixed_gates *f = arg;
    for (int i = 0; i < net->n_choices; i++)
        os_net_mix_set(net, i, f->involved[i], f->g[i]);
}

/* the validation loss with the gates of choice ci perturbed by d at j */
static double loss_at(os_net *net, const os_batch *vb, fixed_gates *f, int ci, int j, float d)
{
    float h[OS_MAX_CANDIDATES];
    os_tensor_to_host(f->g[ci], h);
    float keep = h[j];
    h[j] = keep + d;
    os_tensor_from_host(f->g[ci], h);
    os_forward_ctx ctx = {.training = true};
    double l = os_eval_batch(net, vb, &ctx).loss;
    h[j] = keep;
    os_tensor_from_host(f->g[ci], h);
    return l;
}

/* a fixed pair per choice: active (i + 1) % n, the other (i + 3) % n */
static void pairs(const os_net *net, int *act, int *other)
{
    for (int i = 0; i < net->n_choices; i++) {
        int n = net->choices[i].n;
        act[i] = (i + 1) % n;
        other[i] = (i + 3) % n;
    }
}

Test(proxyless_strategy, gate_gradient_matches_finite_differences)
{
    os_set_threads(1);
    rig g;
    rig_open(&g, "nb201", (const char *const[]){"warmup-epochs", "0", NULL});
    float x[2 * B * 64];
    int32_t y[2 * B];
    batches(0, x, y);
    os_batch vb = {.x = x + B * 64, .y = y + B, .n = B};
    int n = g.net.n_choices, act[64], other[64];
    cr_assert(n <= 64);
    pairs(&g.net, act, &other[0]);
    double ce = os_proxyless_arch_step(g.t.state, &vb, act, other, 0);
    cr_assert(isfinite(ce));

    /* the loss as a function of the gates, the same pair running */
    unsigned inv[64];
    os_tensor *gate[64];
    for (int i = 0; i < n; i++) {
        inv[i] = 1u << act[i] | 1u << other[i];
        gate[i] = (os_tensor *)os_proxyless_gate(g.t.state, i);
        float h[OS_MAX_CANDIDATES];
        os_tensor_to_host(gate[i], h);
        for (int j = 0; j < g.net.choices[i].n; j++)
            cr_expect_eq(h[j], j == act[i] ? 1.0f : 0.0f, "choice %d gate %d: %g", i, j, h[j]);
    }
    fixed_gates f = {inv, gate};
    void (*keep)(os_net *, const os_forward_ctx *, void *) = g.net.choose;
    void *keep_arg = g.net.choose_arg;
    os_net_set_chooser(&g.net, choose_fixed, &f);
    os_forward_ctx ctx = {.training = true};
    double l0 = os_eval_batch(&g.net, &vb, &ctx).loss;
    cr_expect(fabs(l0 - ce) <= 1e-6 * fabs(ce), "the loss at the gates %.9g, the step's %.9g", l0, ce);
    int checked = 0, nonzero = 0;
    for (int i = 0; i < n; i++) {
        float gg[OS_MAX_CANDIDATES];
        os_tensor_to_host(gate[i]->grad, gg);
        for (int j = 0; j < g.net.choices[i].n; j++) {
            if (!((inv[i] >> j) & 1u)) {
                cr_expect_eq(gg[j], 0.0f, "choice %d candidate %d was not sampled: dL/dg %g", i, j, gg[j]);
                continue;
            }
            /* central differences with a small step: the loss has kinks in a
             * gate (ReLUs after the sums, batch norms over 4 images of 2
             * channels), so larger steps cross them; float32 rounding of the
             * loss (~1e-7) then limits the precision to ~1e-3 */
            const float h = getenv("PX_EPS") ? strtof(getenv("PX_EPS"), NULL) : 1e-4f;
            double num = (loss_at(&g.net, &vb, &f, i, j, h) - loss_at(&g.net, &vb, &f, i, j, -h)) / (2 * (double)h);
            if (getenv("OS_REF_VERBOSE"))
                fprintf(stderr, "gate %d/%d: dL/dg %.6g numeric %.6g\n", i, j, gg[j], num);
            cr_expect(fabs(gg[j] - num) <= 3e-3 + 2e-2 * fabs(num), "choice %d (%s) candidate %d: dL/dg %.6g, numeric %.6g",
                      i, g.net.choices[i].label, j, gg[j], num);
            checked++;
            nonzero += fabs(num) > 1e-4;
        }
    }
    cr_expect(checked >= 2 * n - 1 && nonzero >= n, "checked %d gates, %d non-zero", checked, nonzero);
    os_net_set_chooser(&g.net, keep, keep_arg);
    os_step_reset();
    rig_close(&g);
}

/* ---- the alpha gradient: the formula, and the latency term by finite differences ------- */
typedef struct {
    const os_net *net;
    const unsigned *inv;
    double fixed;
    int mul_log;
    double target, a, b, lambda, ce;
} lat_ctx;

/* the loss's latency part as the test computes it: mul-log CE * F(E), add-linear lambda (E - T) / T,
 * E over the sampled pairs at alphas A (A[i][j]) */
static double latency_loss(const lat_ctx *c, double A[][OS_MAX_CANDIDATES])
{
    static double q[64][OS_MAX_CANDIDATES];
    for (int i = 0; i < c->net->n_choices; i++) {
        const os_choice *ch = &c->net->choices[i];
        double m = -INFINITY, s = 0;
        for (int j = 0; j < ch->n; j++)
            if ((c->inv[i] >> j) & 1u)
                m = fmax(m, A[i][j]);
        for (int j = 0; j < ch->n; j++)
            s += (q[i][j] = (c->inv[i] >> j) & 1u ? exp(A[i][j] - m) : 0);
        for (int j = 0; j < ch->n; j++)
            q[i][j] /= s;
    }
    double e = c->fixed;
    for (int i = 0; i < c->net->n_choices; i++) {
        const os_choice *ch = &c->net->choices[i];
        if (is_gate(c->net, i))
            continue;
        double ei = 0, run = 1;
        for (int j = 0; j < ch->n; j++)
            ei += q[i][j] * (j == ch->zero_index ? 0.0 : table_lat(i, j));
        if (ch->gate >= 0) { /* a block of a stage: runs when the depth reaches it */
            run = 0;
            for (int d = ch->gate_min; d < c->net->choices[ch->gate].n; d++)
                run += q[ch->gate][d];
        }
        e += run * ei;
    }
    if (c->mul_log)
        return c->ce * c->a * pow(log(e) / log(c->target), c->b);
    return c->lambda * (e - c->target) / c->target;
}

static void alpha_formula_case(const char *space, const char *loss)
{
    os_set_threads(1);
    rig g;
    rig_open(&g, space,
             (const char *const[]){"warmup-epochs", "0", "latency-table", "@table", "latency-target", "4.5",
                                   "latency-loss", loss, "latency-lambda", "0.3", NULL});
    int mul_log = !strcmp(loss, "mul-log");
    float x[2 * B * 64];
    int32_t y[2 * B];
    batches(1, x, y);
    os_batch vb = {.x = x + B * 64, .y = y + B, .n = B};
    int n = g.net.n_choices, act[64], other[64];
    cr_assert(n <= 64);
    pairs(&g.net, act, other);
    double ce = os_proxyless_arch_step(g.t.state, &vb, act, other, 0);
    cr_assert(isfinite(ce));
    unsigned inv[64];
    static double A[64][OS_MAX_CANDIDATES];
    for (int i = 0; i < n; i++) {
        inv[i] = 1u << act[i] | 1u << other[i];
        alphas(&g.net, i, A[i]);
    }
    lat_ctx lc = {&g.net, inv, 1.5, mul_log, 4.5, 0.2, 0.3, 0.3, ce};
    double worst = 0;
    for (int i = 0; i < n; i++) {
        const os_choice *c = &g.net.choices[i];
        float gg[OS_MAX_CANDIDATES], ga[OS_MAX_CANDIDATES];
        os_tensor_to_host(os_proxyless_gate(g.t.state, i)->grad, gg);
        os_tensor_to_host(c->alpha->grad, ga);
        double q[OS_MAX_CANDIDATES], s = 0;
        for (int j = 0; j < c->n; j++)
            s += (q[j] = (inv[i] >> j) & 1u ? exp(A[i][j]) : 0);
        for (int j = 0; j < c->n; j++)
            q[j] /= s;
        int zero_active = act[i] == c->zero_index;
        for (int k = 0; k < c->n; k++) {
            double want = 0;
            if ((inv[i] >> k) & 1u && !zero_active) {
                for (int j = 0; j < c->n; j++)
                    if ((inv[i] >> j) & 1u)
                        want += gg[j] * q[j] * ((j == k) - q[k]); /* gg: dL/dg, F included */
                /* the latency part by central differences in alpha */
                const double h = 1e-5;
                double keep = A[i][k];
                A[i][k] = keep + h;
                double lp = latency_loss(&lc, A);
                A[i][k] = keep - h;
                double lm = latency_loss(&lc, A);
                A[i][k] = keep;
                want += (lp - lm) / (2 * h);
            }
            double err = fabs(ga[k] - want) / (1e-6 + 1e-3 * fabs(want));
            worst = fmax(worst, err);
            cr_expect(err <= 1, "%s choice %d candidate %d: dL/dalpha %.7g, expected %.7g", loss, i, k, ga[k], want);
        }
    }
    if (getenv("OS_REF_VERBOSE"))
        fprintf(stderr, "proxyless %s alpha formula: worst %.3g of the allowance\n", loss, worst);
    rig_close(&g);
}

Test(proxyless_strategy, alpha_gradient_formula_mul_log) { alpha_formula_case("nb201", "mul-log"); }
Test(proxyless_strategy, alpha_gradient_formula_add_linear) { alpha_formula_case("nb201", "add-linear"); }
/* depth choices gate the blocks: E[LAT] counts a block with the probability that it runs */
Test(proxyless_strategy, alpha_gradient_formula_depth_gated, .timeout = 120)
{
    alpha_formula_case("proxyless", "mul-log");
    alpha_formula_case("proxyless", "add-linear");
}

Test(proxyless_strategy, adam_step_keeps_the_unsampled_probabilities)
{
    os_set_threads(1);
    rig g;
    rig_open(&g, "nb201", (const char *const[]){"warmup-epochs", "0", "arch-lr", "0.05", NULL});
    float x[2 * B * 64];
    int32_t y[2 * B];
    batches(2, x, y);
    os_batch vb = {.x = x + B * 64, .y = y + B, .n = B};
    int n = g.net.n_choices, act[64], other[64];
    pairs(&g.net, act, other);
    static double before[64][OS_MAX_CANDIDATES], after[64][OS_MAX_CANDIDATES];
    for (int i = 0; i < n; i++)
        alphas(&g.net, i, before[i]);
    cr_assert(isfinite(os_proxyless_arch_step(g.t.state, &vb, act, other, 1)));
    int moved = 0;
    for (int i = 0; i < n; i++) {
        const os_choice *c = &g.net.choices[i];
        alphas(&g.net, i, after[i]);
        double so = 0, sn = 0;
        for (int j = 0; j < c->n; j++) {
            int in = j == act[i] || j == other[i];
            if (!in || act[i] == c->zero_index)
                cr_expect_eq(after[i][j], before[i][j], "choice %d candidate %d moved", i, j);
            if (in)
                so += exp(before[i][j]), sn += exp(after[i][j]);
            moved += after[i][j] != before[i][j];
        }
        cr_expect(fabs(sn - so) <= 1e-5 * so, "choice %d: sum exp over the pair %.8g, was %.8g", i, sn, so);
    }
    cr_expect(moved > 0);
    rig_close(&g);
}

/* ---- the latency loss steers ------------------------------------------------------------ */
Test(proxyless_strategy, latency_loss_moves_to_cheaper_candidates)
{
    os_set_threads(1);
    rig g;
    rig_open(&g, "nb201",
             (const char *const[]){"warmup-epochs", "0", "arch-lr", "0.05", "latency-table", "@table",
                                   "latency-target", "2", "latency-loss", "add-linear", "latency-lambda", "50",
                                   NULL});
    const os_strategy *st = g.t.strategy;
    cJSON *m0 = cJSON_CreateObject();
    st->metrics(g.t.state, m0);
    double e0 = cJSON_GetObjectItem(m0, "expected_latency_ms")->valuedouble;
    cr_expect(cJSON_GetObjectItem(m0, "latency_term") != NULL);
    cJSON_Delete(m0);
    int n = g.net.n_choices;
    static float p0[64][OS_MAX_CANDIDATES];
    for (int i = 0; i < n; i++)
        os_choice_probs(&g.net.choices[i], p0[i]);
    float x[2 * B * 64];
    int32_t y[2 * B];
    for (int s = 0; s < 40; s++) {
        batches(s, x, y);
        os_batch vb = {.x = x + B * 64, .y = y + B, .n = B};
        cr_assert(isfinite(os_proxyless_arch_step(g.t.state, &vb, NULL, NULL, 1)));
    }
    cJSON *m1 = cJSON_CreateObject();
    st->metrics(g.t.state, m1);
    double e1 = cJSON_GetObjectItem(m1, "expected_latency_ms")->valuedouble;
    cJSON_Delete(m1);
    cr_expect(e1 < e0 - 0.05 * (e0 - 1.5), "expected latency %.4f ms, was %.4f", e1, e0);
    for (int i = 0; i < n; i++) {
        const os_choice *c = &g.net.choices[i];
        float p1[OS_MAX_CANDIDATES];
        os_choice_probs(c, p1);
        int cheap = 0, dear = 0;
        for (int j = 0; j < c->n; j++) {
            double lj = j == c->zero_index ? 0 : table_lat(i, j);
            double lc = cheap == c->zero_index ? 0 : table_lat(i, cheap), ld = dear == c->zero_index ? 0 : table_lat(i, dear);
            cheap = lj < lc ? j : cheap;
            dear = lj > ld ? j : dear;
        }
        cr_expect(p1[cheap] > p0[i][cheap], "choice %d: the cheapest candidate's p %.4f, was %.4f", i, p1[cheap],
                  p0[i][cheap]);
        cr_expect(p1[dear] < p0[i][dear], "choice %d: the dearest candidate's p %.4f, was %.4f", i, p1[dear],
                  p0[i][dear]);
    }
    rig_close(&g);
}

/* ---- resume ------------------------------------------------------------------------------- */
static void expect_same(const os_net *a, const os_net *b)
{
    for (int i = 0; i < a->weights.n; i++)
        cr_expect(!memcmp(a->weights.t[i]->data, b->weights.t[i]->data, sizeof(float) * (size_t)os_numel(a->weights.t[i])),
                  "weight %s differs", a->weights.t[i]->name);
    for (int i = 0; i < a->arch.n; i++)
        cr_expect(!memcmp(a->arch.t[i]->data, b->arch.t[i]->data, sizeof(float) * (size_t)os_numel(a->arch.t[i])),
                  "alpha %s differs", a->arch.t[i]->name);
}

static void resume_case(const char *space)
{
    os_set_threads(1);
    const char *const kv[] = {"warmup-epochs", "1", "arch-every", "1", "latency-table", "@table",
                              "latency-target", "6", NULL};
    rig a, b;
    float la[8], lb[8];
    rig_open(&a, space, kv);
    run_steps(&a, 0, 4, la); /* epoch 0 warm-up, epoch 1 with architecture steps */
    char path[512];
    snprintf(path, sizeof path, "%s/ck.safetensors", a.dir);
    a.t.pr.batch = 0;
    cr_assert_eq(os_trainer_save(&a.t, path, "{\"test\": 1}"), 0, "%s", os_last_error());
    rig_open(&b, space, kv);
    cr_assert_eq(os_trainer_load(&b.t, path), 0, "%s", os_last_error());
    expect_same(&a.net, &b.net);
    run_steps(&a, 4, 7, la);
    run_steps(&b, 4, 7, lb);
    for (int s = 4; s < 7; s++)
        cr_expect(la[s] == lb[s], "%s step %d: %.9g vs resumed %.9g", space, s, la[s], lb[s]);
    expect_same(&a.net, &b.net);
    /* the architecture moved (the steps are not all warm-up) */
    int moved = 0;
    for (int i = 0; i < a.net.n_choices; i++) {
        double al[OS_MAX_CANDIDATES];
        alphas(&a.net, i, al);
        for (int j = 1; j < a.net.choices[i].n; j++)
            moved += al[j] != al[0];
    }
    cr_expect(moved > 0);
    cJSON *m = cJSON_CreateObject();
    a.t.strategy->metrics(a.t.state, m);
    cr_expect(cJSON_GetObjectItem(m, "expected_latency_ms") && cJSON_GetObjectItem(m, "latency_factor"));
    cJSON_Delete(m);
    rig_close(&b);
    rig_close(&a);
}

Test(proxyless_strategy, resume_is_bit_identical_nb201, .timeout = 120) { resume_case("nb201"); }
Test(proxyless_strategy, resume_is_bit_identical_cifar_cell, .timeout = 120) { resume_case("cifar_cell"); }

/* ---- bad input ---------------------------------------------------------------------------- */
static void expect_refused(const char *const *kv, const char *needle)
{
    rig g;
    cr_expect_eq(rig_try(&g, "nb201", kv), -1, "accepted (%s)", needle);
    cr_expect(strstr(os_last_error(), needle), "'%s' not in: %s", needle, os_last_error());
    os_net_free(&g.net);
    du_rmtree(g.dir);
}

Test(proxyless_strategy, bad_latency_settings_are_refused)
{
    os_set_threads(1);
    expect_refused((const char *const[]){"latency-table", "@table", NULL}, "--latency-target");
    expect_refused((const char *const[]){"latency-table", "@table", "latency-target", "0", NULL}, "--latency-target");
    expect_refused((const char *const[]){"latency-target", "5", NULL}, "--latency-table");
    expect_refused((const char *const[]){"latency-table", "/nonexistent/lat.json", "latency-target", "5", NULL},
                   "/nonexistent/lat.json");
    /* mul-log needs log T > 0: a target of 0.5 ms */
    expect_refused((const char *const[]){"latency-table", "@table", "latency-target", "0.5", NULL}, "add-linear");
    /* a negative target is out of the option's range, named */
    const os_strategy *st = os_strategy_find("proxyless");
    void *opts = calloc(1, st->options_size);
    os_options_defaults(st->options, st->n_options, opts);
    cr_expect_eq(os_options_set(st->options, st->n_options, opts, "latency-target", "-3"), -1);
    cr_expect(strstr(os_last_error(), "--latency-target"), "%s", os_last_error());
    cr_expect_eq(os_options_set(st->options, st->n_options, opts, "latency-loss", "mul#log"), -1);
    cr_expect(strstr(os_last_error(), "--latency-loss") && strstr(os_last_error(), "add-linear"), "%s",
              os_last_error());
    free(opts);
    /* with add-linear, sub-millisecond targets are fine */
    rig g;
    rig_open(&g, "nb201", (const char *const[]){"latency-table", "@table", "latency-target", "0.5", "latency-loss",
                                                "add-linear", NULL});
    rig_close(&g);
}

/* ---- option types --------------------------------------------------------------------------- */
typedef struct {
    char file[OS_OPT_STRING_MAX];
    int form;
} str_opts;
static const char *const forms[] = {"one", "two-words", NULL};
static const os_option str_table[] = {
    OS_OPTION_STRING("file", str_opts, file, "a file"),
    OS_OPTION_ENUM("form", str_opts, form, 1, forms, "a form"),
};

Test(proxyless_strategy, string_and_enum_options)
{
    str_opts o;
    memset(&o, 0x5a, sizeof o);
    os_options_defaults(str_table, 2, &o);
    cr_expect_str_eq(o.file, "");
    cr_expect_eq(o.form, 1);
    cr_expect_eq(os_options_check(str_table, 2, &o), 0);
    cr_expect_eq(os_options_set(str_table, 2, &o, "file", "runs/lat table.json"), 0);
    cr_expect_str_eq(o.file, "runs/lat table.json");
    cr_expect_eq(os_options_set(str_table, 2, &o, "form", "one"), 0);
    cr_expect_eq(o.form, 0);
    cr_expect_eq(os_options_set(str_table, 2, &o, "form", "1"), -1);
    cr_expect(strstr(os_last_error(), "--form: '1' must be one of one, two-words"), "%s", os_last_error());
    char longname[OS_OPT_STRING_MAX + 8];
    memset(longname, 'a', sizeof longname - 1);
    longname[sizeof longname - 1] = 0;
    cr_expect_eq(os_options_set(str_table, 2, &o, "file", longname), -1);
    cr_expect(strstr(os_last_error(), "--file"), "%s", os_last_error());
    cr_expect_str_eq(o.file, "runs/lat table.json");
    /* JSON: strings both ways */
    cJSON *j = os_options_to_json(str_table, 2, &o);
    cr_expect_str_eq(cJSON_GetObjectItem(j, "file")->valuestring, "runs/lat table.json");
    cr_expect_str_eq(cJSON_GetObjectItem(j, "form")->valuestring, "one");
    str_opts back;
    os_options_defaults(str_table, 2, &back);
    cr_expect_eq(os_options_from_json(str_table, 2, &back, j), 0, "%s", os_last_error());
    cr_expect(!memcmp(&o, &back, sizeof o));
    cJSON_Delete(j);
    cJSON *bad = cJSON_Parse("{\"form\": 1}");
    cr_expect_eq(os_options_from_json(str_table, 2, &back, bad), -1);
    cr_expect(strstr(os_last_error(), "'form' must be a string"), "%s", os_last_error());
    cJSON_Delete(bad);
    back.form = 7;
    cr_expect_eq(os_options_check(str_table, 2, &back), -1);
    char help[1024];
    os_options_help(str_table, 2, help, sizeof help);
    cr_expect(strstr(help, "--file FILE") && strstr(help, "one, two-words (default two-words)"), "%s", help);
}

/* ---- input choices: k == 1, k == 2 and subsets (k == 0) -------------------------------------- */
/* a net on 1x2x2 images, 2 classes: choice 0 a subset of {x, relu x, x*x},
 * choice 1 one of them, choice 2 two of them, choice 3 a layer choice
 * {identity, relu} on their sum, then a linear head */
static os_tensor *tiny_candidate(void *self, int i, os_tensor *x, const os_forward_ctx *ctx)
{
    (void)self, (void)ctx;
    return i == 0 ? x : os_relu(x);
}

static os_tensor *tiny_forward(os_net *net, os_tensor *x, const os_forward_ctx *ctx, os_tensor **aux)
{
    if (aux)
        *aux = NULL;
    os_net_begin_forward(net, ctx);
    os_tensor *xs[3] = {x, os_relu(x), os_mul(x, x)};
    os_tensor *parts[3];
    int k = 0;
    for (int c = 0; c < 3; c++) {
        os_tensor *y = os_input_choice_forward(net, c, 3, xs, ctx);
        if (y) /* a subset that keeps nothing adds nothing */
            parts[k++] = y;
    }
    os_tensor *h = os_layer_choice_forward(net, 3, tiny_candidate, NULL, os_sum_n(k, parts), ctx);
    return os_linear(os_flatten(h), os_params_find(&net->weights, "fc"), NULL);
}

static void tiny_net(os_net *net, const float *subset_alpha)
{
    static const char *const names[2] = {"identity", "relu"};
    os_rng r;
    os_rng_seed(&r, 3);
    os_net_init(net, "test", 1, 2, 2, 2);
    cr_assert_eq(os_net_input_choice(net, &r, "any", 3, 0), 0);
    cr_assert_eq(os_net_input_choice(net, &r, "one", 3, 1), 1);
    cr_assert_eq(os_net_input_choice(net, &r, "two", 3, 2), 2);
    cr_assert_eq(os_net_layer_choice(net, &r, "op", 2, names), 3);
    os_net_weight(net, &r, "fc", 2, (int[]){2, 4}, 4);
    net->forward = tiny_forward;
    os_tensor_from_host(net->choices[0].alpha, subset_alpha);
    float a1[3] = {0.3f, -0.2f, 0.5f}, a2[3] = {-0.4f, 0.6f, 0.1f};
    os_tensor_from_host(net->choices[1].alpha, a1);
    os_tensor_from_host(net->choices[2].alpha, a2);
}

static void *tiny_strategy(os_net *net, os_optim **wopt)
{
    const os_strategy *st = os_strategy_find("proxyless");
    void *opts = calloc(1, st->options_size), *state;
    os_options_defaults(st->options, st->n_options, opts);
    cr_assert_eq(os_options_set(st->options, st->n_options, opts, "warmup-epochs", "0"), 0);
    *wopt = os_optim_sgd(&net->weights, &(os_sgd_config){.lr = 0.1f});
    os_search_env env = {.net = net, .wopt = *wopt, .seed = 4};
    cr_assert_eq(st->create(&env, opts, &state), 0, "%s", os_last_error());
    free(opts);
    st->epoch_begin(state, 0, 1);
    return state;
}

Test(proxyless_strategy, input_and_subset_choices)
{
    os_set_threads(1);
    os_net net;
    const float sa[3] = {0.4f, -0.7f, 1.2f};
    tiny_net(&net, sa);
    os_optim *wopt;
    void *state = tiny_strategy(&net, &wopt);
    const os_strategy *st = os_strategy_find("proxyless");
    float x[8] = {0.5f, -1.7f, 1.5f, 0.2f, -0.3f, 0.8f, -1.2f, 0.9f}; /* no sum of inputs at the relu kink */
    int32_t y[2] = {1, 0};
    os_batch b = {.x = x, .y = y, .n = 2};

    /* architecture steps: the gates, their gradients by finite differences, the formulas */
    for (int rep = 0; rep < 6; rep++) {
        cr_assert(isfinite(os_proxyless_arch_step(state, &b, NULL, NULL, 0)));
        unsigned inv[4];
        os_tensor *gate[4];
        for (int i = 0; i < 4; i++) {
            gate[i] = (os_tensor *)os_proxyless_gate(state, i);
            float h[OS_MAX_CANDIDATES];
            os_tensor_to_host(gate[i], h);
            int ones = 0;
            for (int j = 0; j < net.choices[i].n; j++)
                ones += h[j] == 1.0f;
            if (i == 1 || i == 3)
                cr_expect_eq(ones, 1, "choice %d: %d gates on", i, ones);
            if (i == 2)
                cr_expect_eq(ones, 2, "choice 2 keeps 2: %d gates on", ones);
            /* k + 1 candidates run: 2, 3; a subset all 3; the layer choice both */
            inv[i] = i == 1 ? 0 : 7u; /* set below for choice 1 */
        }
        inv[3] = 3u;
        {
            float g1[3];
            os_tensor_to_host(gate[1]->grad, g1);
            float h1[3];
            os_tensor_to_host(gate[1], h1);
            /* the sampled pair of choice 1: the running inputs have a gradient (or the active gate) */
            for (int j = 0; j < 3; j++)
                if (g1[j] != 0.0f || h1[j] == 1.0f)
                    inv[1] |= 1u << j;
        }
        fixed_gates f = {inv, gate};
        void (*keep)(os_net *, const os_forward_ctx *, void *) = net.choose;
        void *keep_arg = net.choose_arg;
        os_net_set_chooser(&net, choose_fixed, &f);
        for (int i = 0; i < 4; i++) {
            float gg[OS_MAX_CANDIDATES], ga[OS_MAX_CANDIDATES], a[OS_MAX_CANDIDATES];
            os_tensor_to_host(gate[i]->grad, gg);
            os_tensor_to_host(net.choices[i].alpha->grad, ga);
            os_tensor_to_host(net.choices[i].alpha, a);
            const int n = net.choices[i].n;
            for (int j = 0; j < n; j++) {
                if (!((inv[i] >> j) & 1u))
                    continue;
                const float h = 1e-3f;
                double num = (loss_at(&net, &b, &f, i, j, h) - loss_at(&net, &b, &f, i, j, -h)) / (2 * (double)h);
                cr_expect(fabs(gg[j] - num) <= 1e-3 + 1e-2 * fabs(num), "rep %d choice %d input %d: dL/dg %.6g numeric %.6g",
                          rep, i, j, gg[j], num);
            }
            for (int k = 0; k < n; k++) {
                double want = 0;
                if (i == 0) { /* subset: sigmoid'(alpha) dL/dg */
                    double s = 1 / (1 + exp(-(double)a[k]));
                    want = gg[k] * s * (1 - s);
                } else if ((inv[i] >> k) & 1u) {
                    double q[OS_MAX_CANDIDATES], z = 0;
                    for (int j = 0; j < n; j++)
                        z += (q[j] = (inv[i] >> j) & 1u ? exp((double)a[j]) : 0);
                    for (int j = 0; j < n; j++)
                        q[j] /= z;
                    for (int j = 0; j < n; j++)
                        want += gg[j] * q[j] * ((j == k) - q[k]);
                }
                cr_expect(fabs(ga[k] - want) <= 1e-6 + 1e-4 * fabs(want), "rep %d choice %d: dL/dalpha_%d %.7g, want %.7g",
                          rep, i, k, ga[k], want);
            }
        }
        os_net_set_chooser(&net, keep, keep_arg);
    }

    /* weight steps: a subset keeps input j with p sigmoid(alpha_j), any number (none included);
     * choice 2 always two inputs */
    long on[3] = {0}, empty = 0;
    const int N = 2000;
    for (int t = 0; t < N; t++) {
        os_forward_ctx ctx = {.training = true};
        os_net_begin_forward(&net, &ctx);
        unsigned m = net.mix[0].active;
        for (int j = 0; j < 3; j++)
            on[j] += (m >> j) & 1u;
        empty += m == 0;
        cr_expect_null(net.mix[0].w);
        cr_expect_eq(__builtin_popcount(net.mix[2].active), 2);
        cr_expect_eq(__builtin_popcount(net.mix[1].active), 1);
        os_step_reset();
    }
    for (int j = 0; j < 3; j++) {
        double p = 1 / (1 + exp(-(double)sa[j])), fr = (double)on[j] / N;
        cr_expect(fabs(fr - p) < 5 * sqrt(p * (1 - p) / N), "input %d kept %.3f of the time, p %.3f", j, fr, p);
    }
    cr_expect(empty > 0, "the empty subset was never drawn");
    /* a weight step runs (the empty subset included) */
    for (int t = 0; t < 20; t++) {
        os_step_result r;
        cr_assert_eq(st->step(state, &b, &b, &r), 0);
        cr_expect(isfinite(r.loss));
    }

    /* derive: the subset's inputs with alpha > 0, the k largest otherwise */
    os_arch a = {0};
    float neg[3] = {-0.1f, -2.0f, -0.5f}, a2[3] = {-0.4f, 0.6f, 0.1f};
    os_tensor_from_host(net.choices[0].alpha, neg);
    os_tensor_from_host(net.choices[2].alpha, a2);
    cr_assert_eq(st->derive(state, &a), 0, "%s", os_last_error());
    cr_expect_eq(a.c[0].chosen, OS_CHOSEN_NONE);
    cr_expect_eq(a.c[2].chosen, 6u);
    os_tensor_from_host(net.choices[0].alpha, sa);
    cr_assert_eq(st->derive(state, &a), 0);
    cr_expect_eq(a.c[0].chosen, 5u);
    os_arch_free(&a);

    st->free(state);
    os_optim_free(wopt);
    os_net_free(&net);
}

Test(proxyless_strategy, resume_is_bit_identical_proxyless_space, .timeout = 120) { resume_case("proxyless"); }
