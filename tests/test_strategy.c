/* tests/test_strategy.c — the contract every strategy of the registry keeps,
 * checked for each one on each space (a new strategy is covered as soon as
 * its registry line exists):
 *  - its options have defaults inside their ranges and a help line;
 *  - after a few steps it derives an architecture from which the space
 *    makes a valid child (that builds and runs a forward pass);
 *  - its state survives a checkpoint: a run saved after k steps and loaded
 *    into a fresh trainer continues exactly as the uninterrupted run (same
 *    losses, same derived architecture, same weights, bit for bit).
 * And darts' and gdas' --warmup-epochs: the alphas stay put (bit for bit)
 * through the warm-up while the weights train, then move; resume across
 * the warm-up's end is bit-identical. darts' --beta-decay adds the
 * gradient of lambda * mean logsumexp(alpha) (central differences), with
 * lambda ramped over the epochs. */
#include "tests/test_util.h"
#include "tests/ds_util.h"
#include "search/darts.h"
#include "search/trainer.h"
#include "tensor/backend.h"

#include <cjson/cJSON.h>

#include <math.h>
#include <stdlib.h>

#define B 4
#define CLASSES 3

typedef struct {
    os_net net;
    os_trainer t;
} rig;

/* kv: option name, value, ..., NULL (or NULL: the defaults) */
static void rig_open_kv(rig *g, const os_space *sp, const os_strategy *st, const char *const *kv)
{
    os_space_opts so = {.cells = 3, .channels = 2, .in_c = 1, .in_h = 8, .in_w = 8, .num_classes = CLASSES,
                        .seed = 5};
    cr_assert_eq(sp->build(&g->net, &so), 0, "%s: %s", sp->name, os_last_error());
    void *opts = calloc(1, st->options_size + 1);
    os_options_defaults(st->options, st->n_options, opts);
    for (int i = 0; kv && kv[i]; i += 2)
        cr_assert_eq(os_options_set(st->options, st->n_options, opts, kv[i], kv[i + 1]), 0, "%s", os_last_error());
    os_train_settings ts = {.search = 1, .epochs = 3, .batch = B, .seed = 9, .lr = 0.05f, .lr_min = 0.001f,
                            .momentum = 0.9f, .weight_decay = 3e-4f, .grad_clip = 5.0f};
    cr_assert_eq(os_trainer_init(&g->t, &g->net, sp, &ts, st, opts), 0, "%s/%s: %s", sp->name, st->name,
                 os_last_error());
    free(opts);
}

static void rig_open(rig *g, const os_space *sp, const os_strategy *st) { rig_open_kv(g, sp, st, NULL); }

static void rig_close(rig *g)
{
    os_trainer_free(&g->t);
    os_net_free(&g->net);
}

/* deterministic batches: step s gets its own images */
static void batches(int s, float *x, int32_t *y)
{
    os_rng r;
    os_rng_seed(&r, 100 + (uint64_t)s);
    for (int i = 0; i < 2 * B * 64; i++)
        x[i] = os_rng_normal(&r);
    for (int i = 0; i < 2 * B; i++)
        y[i] = (int32_t)os_rng_below(&r, CLASSES);
}

/* steps [from, to) with the epoch schedule as the trainer's loop applies it */
static void run_steps(rig *g, int from, int to, float *losses)
{
    float x[2 * B * 64];
    int32_t y[2 * B];
    for (int s = from; s < to; s++) {
        if (s % 2 == 0 || s == from) { /* two steps an epoch; a resumed run starts its epoch again */
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
        cr_assert(r.correct >= 0 && r.correct <= B);
        losses[s] = r.loss;
        g->t.pr.global_step++;
    }
}

static char *derived_json(rig *g)
{
    os_arch w, child;
    cr_assert_eq(os_trainer_derive(&g->t, NULL, &w, &child), 0, "%s", os_last_error());
    char *txt = os_arch_json(g->t.space, &child, &w);
    os_arch_free(&w);
    os_arch_free(&child);
    return txt;
}

static void expect_same_weights(const os_net *a, const os_net *b)
{
    cr_assert_eq(a->weights.n, b->weights.n);
    for (int i = 0; i < a->weights.n; i++) {
        long n = os_numel(a->weights.t[i]);
        cr_expect(!memcmp(a->weights.t[i]->data, b->weights.t[i]->data, sizeof(float) * (size_t)n),
                  "weight %s differs", a->weights.t[i]->name);
    }
    for (int i = 0; i < a->arch.n; i++)
        cr_expect(!memcmp(a->arch.t[i]->data, b->arch.t[i]->data, sizeof(float) * (size_t)os_numel(a->arch.t[i])),
                  "alpha %s differs", a->arch.t[i]->name);
}

static void contract(const os_space *sp, const os_strategy *st)
{
    /* options: defaults within range, every one documented */
    void *opts = calloc(1, st->options_size + 1);
    os_options_defaults(st->options, st->n_options, opts);
    cr_expect_eq(os_options_check(st->options, st->n_options, opts), 0, "%s: %s", st->name, os_last_error());
    for (int i = 0; i < st->n_options; i++)
        cr_expect(st->options[i].help && st->options[i].help[0], "%s --%s has no help", st->name, st->options[i].name);
    free(opts);

    float la[6], lb[6];
    rig a, b;
    rig_open(&a, sp, st);
    run_steps(&a, 0, 3, la);

    /* a valid child from the derived architecture */
    os_arch w, child;
    cr_assert_eq(os_trainer_derive(&a.t, NULL, &w, &child), 0, "%s", os_last_error());
    cr_expect(os_arch_complete(&child), "%s/%s: the derived child is not complete", sp->name, st->name);
    os_net cn;
    os_space_opts co = {.cells = 3, .channels = 2, .in_c = 1, .in_h = 8, .in_w = 8, .num_classes = CLASSES, .seed = 1,
                        .arch = &child};
    cr_assert_eq(sp->build(&cn, &co), 0, "%s/%s: the derived child does not build: %s", sp->name, st->name,
                 os_last_error());
    cr_expect_eq(cn.n_choices, 0);
    float x[2 * B * 64];
    int32_t y[2 * B];
    batches(0, x, y);
    os_forward_ctx ev = {.training = false};
    os_step_result er = os_eval_batch(&cn, &(os_batch){.x = x, .y = y, .n = B}, &ev);
    cr_expect(isfinite(er.loss));
    os_net_free(&cn);
    os_arch_free(&w);
    os_arch_free(&child);

    /* checkpoint after 3 steps (mid-epoch), load into a fresh trainer */
    char dir[256], path[512];
    du_tmpdir(dir, sizeof dir);
    snprintf(path, sizeof path, "%s/ck.safetensors", dir);
    a.t.pr.batch = 1;
    cr_assert_eq(os_trainer_save(&a.t, path, "{\"test\": 1}"), 0, "%s", os_last_error());
    rig_open(&b, sp, st);
    cr_assert_eq(os_trainer_load(&b.t, path), 0, "%s/%s: %s", sp->name, st->name, os_last_error());
    cr_expect_eq(b.t.pr.global_step, a.t.pr.global_step);
    expect_same_weights(&a.net, &b.net);
    char *ja = derived_json(&a), *jb = derived_json(&b);
    cr_expect_str_eq(ja, jb, "%s/%s: derived architecture differs after the round trip", sp->name, st->name);
    free(ja);
    free(jb);

    /* both continue: the same steps (the strategy's RNG, optimizer, schedule) */
    run_steps(&a, 3, 6, la);
    run_steps(&b, 3, 6, lb);
    for (int s = 3; s < 6; s++)
        cr_expect(la[s] == lb[s], "%s/%s step %d: loss %.9g vs resumed %.9g", sp->name, st->name, s, la[s], lb[s]);
    expect_same_weights(&a.net, &b.net);
    ja = derived_json(&a);
    jb = derived_json(&b);
    cr_expect_str_eq(ja, jb);
    free(ja);
    free(jb);

    rig_close(&b);
    rig_close(&a);
    du_rmtree(dir);
    os_step_reset();
}

Test(strategy, contract_every_strategy_on_every_space, .timeout = 300)
{
    os_set_threads(1); /* tiny tensors: threads only add waiting (and this checks bits, not speed) */
    for (int i = 0; i < os_strategy_count(); i++)
        for (int s = 0; s < os_space_count(); s++)
            contract(os_space_at(s), os_strategy_at(i));
}

Test(strategy, options_by_name_are_range_checked)
{
    for (int i = 0; i < os_strategy_count(); i++) {
        const os_strategy *st = os_strategy_at(i);
        void *opts = calloc(1, st->options_size + 1);
        os_options_defaults(st->options, st->n_options, opts);
        cr_expect_eq(os_options_set(st->options, st->n_options, opts, "no-such-option", "1"), 1);
        for (int k = 0; k < st->n_options; k++) {
            const os_option *o = &st->options[k];
            if (o->type == OS_OPT_STRING) /* a file name: any text that fits */
                continue;
            char big[32];
            snprintf(big, sizeof big, "%g", o->hi + 1);
            cr_expect_eq(os_options_set(st->options, st->n_options, opts, o->name, big), -1, "%s --%s %s", st->name,
                         o->name, big);
            cr_expect(strstr(os_last_error(), o->name), "%s", os_last_error());
            cr_expect_eq(os_options_set(st->options, st->n_options, opts, o->name, "abc"), -1);
        }
        /* the JSON form round trips */
        cJSON *j = os_options_to_json(st->options, st->n_options, opts);
        void *back = calloc(1, st->options_size + 1);
        cr_expect_eq(os_options_from_json(st->options, st->n_options, back, j), 0, "%s", os_last_error());
        cr_expect(!memcmp(opts, back, st->options_size), "%s: options JSON round trip", st->name);
        cJSON_Delete(j);
        free(back);
        free(opts);
    }
}

/* ---- --warmup-epochs (darts, gdas) ---------------------------------------------------- */
/* 1 when every alpha of a equals that of the copy h (bit for bit) */
static int alphas_equal(const os_net *a, float *const *h)
{
    for (int i = 0; i < a->arch.n; i++)
        if (memcmp(a->arch.t[i]->data, h[i], sizeof(float) * (size_t)os_numel(a->arch.t[i])))
            return 0;
    return 1;
}

static float **copy_alphas(const os_net *a)
{
    float **h = calloc((size_t)a->arch.n, sizeof *h);
    for (int i = 0; i < a->arch.n; i++) {
        size_t n = (size_t)os_numel(a->arch.t[i]);
        h[i] = malloc(sizeof(float) * n);
        memcpy(h[i], a->arch.t[i]->data, sizeof(float) * n);
    }
    return h;
}

static void free_alphas(const os_net *a, float **h)
{
    for (int i = 0; i < a->arch.n; i++)
        free(h[i]);
    free(h);
}

static void warmup_case(const char *strategy, const char *space, int unrolled)
{
    os_set_threads(1);
    const os_space *sp = os_space_find(space);
    const os_strategy *st = os_strategy_find(strategy);
    cr_assert(sp && st);
    const char *const kv[] = {"warmup-epochs", "1", "arch-lr", "0.05", unrolled ? "unrolled" : NULL, "1", NULL};
    rig a, b;
    float la[6], lb[6];
    rig_open_kv(&a, sp, st, kv);
    float **init = copy_alphas(&a.net);
    os_tensor *w0 = a.net.weights.t[0];
    float first = ((float *)w0->data)[0];
    run_steps(&a, 0, 2, la); /* epoch 0: the warm-up */
    cr_expect(alphas_equal(&a.net, init), "%s %s: the alphas moved during the warm-up", strategy, space);
    cr_expect(((float *)w0->data)[0] != first, "%s %s: the weights did not train in the warm-up", strategy, space);
    /* resume at the warm-up's end: the same steps after it, bit for bit */
    char dir[256], path[512];
    du_tmpdir(dir, sizeof dir);
    snprintf(path, sizeof path, "%s/ck.safetensors", dir);
    a.t.pr.batch = 0;
    cr_assert_eq(os_trainer_save(&a.t, path, "{\"test\": 1}"), 0, "%s", os_last_error());
    rig_open_kv(&b, sp, st, kv);
    cr_assert_eq(os_trainer_load(&b.t, path), 0, "%s", os_last_error());
    run_steps(&a, 2, 4, la); /* epoch 1: architecture steps */
    run_steps(&b, 2, 4, lb);
    cr_expect(!alphas_equal(&a.net, init), "%s %s: the alphas did not move after the warm-up", strategy, space);
    for (int s = 2; s < 4; s++)
        cr_expect(la[s] == lb[s], "%s %s step %d: %.9g vs resumed %.9g", strategy, space, s, la[s], lb[s]);
    expect_same_weights(&a.net, &b.net);
    /* without the warm-up the first step moves them */
    rig c;
    float lc[2];
    rig_open_kv(&c, sp, st, (const char *const[]){"arch-lr", "0.05", unrolled ? "unrolled" : NULL, "1", NULL});
    run_steps(&c, 0, 1, lc);
    cr_expect(!alphas_equal(&c.net, init), "%s %s: warmup-epochs 0 kept the alphas", strategy, space);
    rig_close(&c);
    free_alphas(&a.net, init);
    rig_close(&b);
    rig_close(&a);
    du_rmtree(dir);
}

Test(strategy, darts_warmup_keeps_alphas_then_moves_them, .timeout = 120)
{
    warmup_case("darts", "nb201", 0);
    warmup_case("darts", "cifar_cell", 0);
    warmup_case("darts", "nb201", 1);
}

Test(strategy, gdas_warmup_keeps_alphas_then_moves_them, .timeout = 120)
{
    warmup_case("gdas", "nb201", 0);
    warmup_case("gdas", "cifar_cell", 0);
}

/* ---- --beta-decay (darts) -------------------------------------------------------------- */
/* lambda / n * sum over the softmax choices of logsumexp(alpha), in double */
static double beta_term(const os_net *net, double lambda)
{
    double sum = 0;
    int n = 0;
    for (int i = 0; i < net->n_choices; i++) {
        const os_choice *c = &net->choices[i];
        if (c->kind == OS_CHOICE_INPUT && c->k == 0)
            continue;
        const float *a = c->alpha->data;
        double m = a[0], e = 0;
        for (int k = 1; k < c->n; k++)
            m = fmax(m, a[k]);
        for (int k = 0; k < c->n; k++)
            e += exp(a[k] - m);
        sum += m + log(e);
        n++;
    }
    return lambda * sum / n;
}

static void beta_case(const char *space)
{
    os_set_threads(1);
    const os_space *sp = os_space_find(space);
    const os_strategy *st = os_strategy_find("darts");
    rig g;
    rig_open_kv(&g, sp, st, (const char *const[]){"beta-decay", "6", NULL});
    os_rng r;
    os_rng_seed(&r, 21);
    for (int i = 0; i < g.net.arch.n; i++) {
        float *a = g.net.arch.t[i]->data;
        for (long k = 0; k < os_numel(g.net.arch.t[i]); k++)
            a[k] = os_rng_normal(&r);
    }
    /* epoch 0 of 3: lambda 0, nothing added */
    os_params_zero_grad(&g.net.arch);
    st->epoch_begin(g.t.state, 0, 3);
    os_darts_beta_decay(g.t.state);
    for (int i = 0; i < g.net.arch.n; i++)
        for (long k = 0; k < os_numel(g.net.arch.t[i]); k++)
            cr_expect(g.net.arch.t[i]->grad->data[k] == 0.0f, "%s: lambda 0 changed a grad", space);
    /* epoch 2 of 3: lambda 4 */
    st->epoch_begin(g.t.state, 2, 3);
    os_darts_beta_decay(g.t.state);
    double worst = 0;
    for (int i = 0; i < g.net.arch.n; i++) {
        float *a = g.net.arch.t[i]->data;
        for (long k = 0; k < os_numel(g.net.arch.t[i]); k++) {
            const float h = 1e-2f, a0 = a[k];
            a[k] = a0 + h;
            double up = beta_term(&g.net, 4.0);
            a[k] = a0 - h;
            double down = beta_term(&g.net, 4.0);
            a[k] = a0;
            double fd = (up - down) / (2.0 * h), got = g.net.arch.t[i]->grad->data[k];
            worst = fmax(worst, fabs(got - fd));
            cr_expect(fabs(got - fd) <= 1e-4 + 1e-3 * fabs(fd), "%s alpha %d[%ld]: %.6g, differences %.6g", space, i,
                      k, got, fd);
        }
    }
    cr_log_info("beta decay %s: worst |grad - central difference| %.2g", space, worst);
    rig_close(&g);
}

Test(strategy, darts_beta_decay_is_the_gradient_of_lambda_mean_logsumexp, .timeout = 60)
{
    beta_case("nb201");
    beta_case("cifar_cell");
    beta_case("enas_micro"); /* input choices too (softmax over k of n) */
}
