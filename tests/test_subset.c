/* tests/test_subset.c — subset input choices (k == 0, NNI's
 * InputChoice(n_chosen=None)) through the shared layer: evaluation with and
 * without weights and with nothing chosen, sigmoid probabilities, NNI JSON
 * (lists, the empty list), single paths (sampling, mutation, crossover,
 * validity), the argmax path, and the darts and gdas choosers. */
#include <math.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "tests/test_util.h"
#include "search/path.h"
#include "search/strategy.h"
#include "supernet/arch.h"
#include "ops/ops.h"

/* a net with one subset choice over 3 inputs (choice 0) and one layer
 * choice (choice 1), alphas 0.4, -0.7, 1.2 on the subset */
static void make_net(os_net *net, os_rng *r)
{
    static const char *const names[2] = {"a", "b"};
    os_net_init(net, "test", 1, 2, 2, 2);
    int s = os_net_input_choice(net, r, "skip", 3, 0);
    int l = os_net_layer_choice(net, r, "op", 2, names);
    cr_assert_eq(s, 0);
    cr_assert_eq(l, 1);
    float a[3] = {0.4f, -0.7f, 1.2f};
    os_tensor_from_host(net->choices[0].alpha, a);
}

static void choose_mask(os_net *net, const os_forward_ctx *ctx, void *arg)
{
    (void)ctx;
    const unsigned *m = arg;
    os_net_mix_set(net, 0, m[0], m[1] ? os_sigmoid(net->choices[0].alpha) : NULL);
    os_net_mix_set(net, 1, 1u, NULL);
}

typedef struct { os_net *net; os_forward_ctx ctx; } sc_ctx;

static os_tensor *gc_subset(os_tensor *const *in, void *vc)
{
    sc_ctx *c = vc;
    os_net_begin_forward(c->net, &c->ctx);
    return os_input_choice_forward(c->net, 0, 3, in, &c->ctx);
}

Test(subset, defaults_src_and_probs)
{
    os_rng r;
    os_rng_seed(&r, 3);
    os_net net;
    make_net(&net, &r);
    const os_choice *c = &net.choices[0];
    cr_expect_eq(c->k, 0);
    for (int j = 0; j < OS_MAX_CANDIDATES; j++)
        cr_expect_eq(c->src[j], -1, "src defaults to -1");
    os_net_set_input_src(&net, 0, 2, 1);
    cr_expect_eq(net.choices[0].src[2], 1);
    TU_EXPECT_FATAL(os_net_set_input_src(&net, 0, 3, 1), "skip", "input 3");
    TU_EXPECT_FATAL(os_net_set_input_src(&net, 1, 0, 0), "not an input choice");
    float p[3];
    os_choice_probs(c, p);
    const float a[3] = {0.4f, -0.7f, 1.2f};
    for (int j = 0; j < 3; j++)
        cr_expect(fabsf(p[j] - 1.0f / (1.0f + expf(-a[j]))) < 1e-6f, "p[%d] = %g is sigmoid(alpha)", j, p[j]);
    os_arch w;
    cr_assert_eq(os_arch_from_alpha(&net, &w), 0);
    cr_expect(w.c[0].has_weights);
    for (int j = 0; j < 3; j++)
        cr_expect(fabsf(w.c[0].w[j] - p[j]) < 1e-6f);
    os_arch_free(&w);
    /* the argmax path keeps the inputs with p > 1/2: 0 and 2 */
    os_arch am;
    cr_assert_eq(os_argmax_path(&net, &am), 0);
    cr_expect_eq(am.c[0].chosen, 5u);
    cr_expect(!am.c[0].has_weights);
    os_arch_free(&am);
    float neg[3] = {-0.1f, -0.2f, -3.0f};
    os_tensor_from_host(net.choices[0].alpha, neg);
    cr_assert_eq(os_argmax_path(&net, &am), 0);
    cr_expect_eq(am.c[0].chosen, OS_CHOSEN_NONE, "no input above 1/2: decided, none kept");
    cr_expect_eq(os_arch_chosen_one(&am.c[0]), -1);
    os_arch_free(&am);
    os_net_free(&net);
}

Test(subset, forward_weights_mask_and_nothing)
{
    os_rng r;
    os_rng_seed(&r, 5);
    os_net net;
    make_net(&net, &r);
    os_tensor *in[4];
    for (int i = 0; i < 3; i++)
        in[i] = tu_param4(&r, 1, 2, 3, 3, -1, 1, 0);
    in[3] = net.choices[0].alpha;
    sc_ctx c = {&net, {.training = true}};
    /* weights sigmoid(alpha) over inputs 0 and 2: value and gradient */
    unsigned arg[2] = {5, 1};
    os_net_set_chooser(&net, choose_mask, arg);
    TU_GRADCHECK(gc_subset, &c, 4, in, 1e-2f, 1e-3f, 1e-2f);
    os_tensor *y = gc_subset(in, &c);
    float p[3];
    os_choice_probs(&net.choices[0], p);
    for (int i = 0; i < 18; i++)
        cr_expect(fabsf(y->data[i] - (p[0] * in[0]->data[i] + p[2] * in[2]->data[i])) < 1e-5f);
    os_step_reset();
    /* every input, no weights: the plain sum */
    arg[0] = 7, arg[1] = 0;
    y = gc_subset(in, &c);
    for (int i = 0; i < 18; i++)
        cr_expect(fabsf(y->data[i] - (in[0]->data[i] + in[1]->data[i] + in[2]->data[i])) < 1e-5f);
    os_step_reset();
    /* nothing chosen: active 0 is allowed, the choice gives NULL; so is OS_CHOSEN_NONE */
    arg[0] = 0;
    cr_expect_null(gc_subset(in, &c));
    arg[0] = OS_CHOSEN_NONE;
    cr_expect_null(gc_subset(in, &c));
    cr_expect_eq(net.mix[0].active, 0u, "OS_CHOSEN_NONE is no candidate bit");
    /* a mask beyond the inputs is still an error */
    TU_EXPECT_FATAL(os_net_mix_set(&net, 0, 8u, NULL), "skip", "0x8");
    /* a layer choice still needs a decision */
    TU_EXPECT_FATAL(os_net_mix_set(&net, 1, 0u, NULL), "op");
    os_step_reset();
    for (int i = 0; i < 3; i++)
        os_tensor_free(in[i]);
    os_net_free(&net);
}

Test(subset, nni_json_lists_and_the_empty_list)
{
    os_arch a;
    os_arch_init(&a, "test");
    os_arch_add(&a, "skip", OS_CHOICE_INPUT, 4, 0, NULL);
    cJSON *d = cJSON_Parse("{\"skip\": [3, 1]}");
    cr_assert_eq(os_arch_from_nni(&a, d, "t.json"), 0, "%s", os_last_error());
    cr_expect_eq(a.c[0].chosen, 10u);
    cJSON_Delete(d);
    cJSON *out = os_arch_to_nni(&a);
    char *txt = cJSON_PrintUnformatted(out);
    cr_expect_str_eq(txt, "{\"skip\":[1,3]}");
    free(txt);
    cJSON_Delete(out);
    /* the empty list: decided, nothing chosen; written back as [] */
    d = cJSON_Parse("{\"skip\": []}");
    cr_assert_eq(os_arch_from_nni(&a, d, "t.json"), 0, "%s", os_last_error());
    cr_expect_eq(a.c[0].chosen, OS_CHOSEN_NONE);
    cr_expect(os_arch_complete(&a));
    cJSON_Delete(d);
    out = os_arch_to_nni(&a);
    txt = cJSON_PrintUnformatted(out);
    cr_expect_str_eq(txt, "{\"skip\":[]}");
    free(txt);
    cJSON_Delete(out);
    /* all four */
    d = cJSON_Parse("{\"skip\": [0, 1, 2, 3]}");
    cr_assert_eq(os_arch_from_nni(&a, d, NULL), 0, "%s", os_last_error());
    cr_expect_eq(a.c[0].chosen, 15u);
    cJSON_Delete(d);
    /* bad: a bare number, a repeat, out of range, a non-integer */
    static const char *const bad[][2] = {
        {"{\"skip\": 1}", "list"},
        {"{\"skip\": [1, 1]}", "twice"},
        {"{\"skip\": [4]}", "out of range 0..3"},
        {"{\"skip\": [0.5]}", "out of range"},
        {"{\"skip\": [\"1\"]}", "out of range"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        d = cJSON_Parse(bad[i][0]);
        cr_expect_eq(os_arch_from_nni(&a, d, "t.json"), -1, "%s accepted", bad[i][0]);
        cr_expect(strstr(os_last_error(), "skip") && strstr(os_last_error(), bad[i][1]), "%s: %s", bad[i][0],
                  os_last_error());
        cJSON_Delete(d);
    }
    os_arch_free(&a);
}

Test(subset, paths_sample_uniformly_mutate_cross_and_check)
{
    os_rng r;
    os_rng_seed(&r, 7);
    os_net net;
    make_net(&net, &r);
    os_path_space ps;
    cr_assert_eq(os_path_space_init(&ps, &net, NULL, 0), 0, "%s", os_last_error());
    long count[8] = {0};
    const int N = 8000;
    os_arch p = {0}, q = {0}, m = {0}, x = {0};
    for (int i = 0; i < N; i++) {
        os_path_sample(&ps, &r, &p);
        cr_assert_eq(os_path_check(&ps, &p), 0, "%s", os_last_error());
        unsigned s = os_arch_mask(&p.c[0]);
        cr_assert(s || p.c[0].chosen == OS_CHOSEN_NONE);
        count[s]++;
    }
    /* chi-square over the 8 subsets, 7 degrees of freedom: 24.3 is p = 0.001 */
    double chi = 0, e = N / 8.0;
    for (int s = 0; s < 8; s++)
        chi += (count[s] - e) * (count[s] - e) / e;
    cr_expect(chi < 24.3, "subsets not uniform: chi-square %g (empty set %ld times)", chi, count[0]);
    /* mutation with p 1 redraws the subset (often different), p 0 keeps it */
    int changed = 0;
    for (int i = 0; i < 200; i++) {
        os_path_sample(&ps, &r, &p);
        os_path_mutate(&ps, &r, 1.0f, &p, &m);
        cr_assert_eq(os_path_check(&ps, &m), 0, "%s", os_last_error());
        changed += m.c[0].chosen != p.c[0].chosen;
        os_path_mutate(&ps, &r, 0.0f, &p, &m);
        cr_expect(os_path_same(&p, &m));
        os_path_sample(&ps, &r, &q);
        os_path_crossover(&ps, &r, &p, &q, &x);
        cr_assert_eq(os_path_check(&ps, &x), 0, "%s", os_last_error());
        cr_expect(x.c[0].chosen == p.c[0].chosen || x.c[0].chosen == q.c[0].chosen);
    }
    cr_expect(changed > 200 * 6 / 8 - 30 && changed < 200, "p = 1 changed %d of 200 subsets", changed);
    /* validity: the empty subset is a path, a bit beyond the inputs or an undecided choice is not */
    p.c[0].chosen = OS_CHOSEN_NONE;
    cr_expect_eq(os_path_check(&ps, &p), 0, "%s", os_last_error());
    p.c[0].chosen = 8u;
    cr_expect_eq(os_path_check(&ps, &p), -1);
    cr_expect(strstr(os_last_error(), "skip"), "%s", os_last_error());
    p.c[0].chosen = 0;
    cr_expect_eq(os_path_check(&ps, &p), -1);
    /* a path with nothing chosen runs (spos's chooser passes chosen through) */
    p.c[0].chosen = OS_CHOSEN_NONE;
    os_net_choose_arch(&net, &p);
    os_tensor *in[3];
    for (int i = 0; i < 3; i++)
        in[i] = tu_param4(&r, 1, 1, 2, 2, -1, 1, 0);
    os_forward_ctx ctx = {.training = false};
    os_net_begin_forward(&net, &ctx);
    cr_expect_null(os_input_choice_forward(&net, 0, 3, in, &ctx));
    for (int i = 0; i < 3; i++)
        os_tensor_free(in[i]);
    os_step_reset();
    os_arch_free(&p);
    os_arch_free(&q);
    os_arch_free(&m);
    os_arch_free(&x);
    os_path_space_free(&ps);
    os_net_free(&net);
}

/* one training forward of a strategy's chooser on the subset choice */
static void strategy_forward(const char *name, os_net *net, void **st, os_optim **w)
{
    const os_strategy *g = os_strategy_find(name);
    cr_assert(g);
    unsigned char opts[512];
    cr_assert(g->options_size <= sizeof opts);
    os_options_defaults(g->options, g->n_options, opts);
    *w = os_optim_sgd(&net->weights, &(os_sgd_config){.lr = 0.1f});
    os_search_env env = {.net = net, .wopt = *w, .seed = 11};
    cr_assert_eq(g->create(&env, opts, st), 0, "%s", os_last_error());
    g->epoch_begin(*st, 0, 10);
}

Test(subset, darts_weights_every_input_by_sigmoid)
{
    os_rng r;
    os_rng_seed(&r, 9);
    os_net net;
    make_net(&net, &r);
    void *st;
    os_optim *w;
    strategy_forward("darts", &net, &st, &w);
    os_forward_ctx ctx = {.training = true};
    os_net_begin_forward(&net, &ctx);
    cr_expect_eq(net.mix[0].active, 7u);
    cr_assert_not_null(net.mix[0].w);
    float wv[3], p[3];
    os_tensor_to_host(net.mix[0].w, wv);
    os_choice_probs(&net.choices[0], p);
    for (int j = 0; j < 3; j++)
        cr_expect(fabsf(wv[j] - p[j]) < 1e-6f, "w[%d] %g vs sigmoid %g", j, wv[j], p[j]);
    os_step_reset();
    os_strategy_find("darts")->free(st);
    os_optim_free(w);
    os_net_free(&net);
}

Test(subset, gdas_bernoulli_straight_through)
{
    os_rng r;
    os_rng_seed(&r, 13);
    os_net net;
    make_net(&net, &r);
    void *st;
    os_optim *w;
    strategy_forward("gdas", &net, &st, &w);
    os_tensor *in[3];
    for (int i = 0; i < 3; i++)
        in[i] = tu_param4(&r, 1, 1, 2, 2, -1, 1, 0);
    float p[3];
    os_choice_probs(&net.choices[0], p);
    long on[3] = {0};
    const int N = 3000;
    int grads = 0;
    for (int t = 0; t < N; t++) {
        os_forward_ctx ctx = {.training = true};
        os_params_zero_grad(&net.arch);
        os_net_begin_forward(&net, &ctx);
        const os_mix *m = &net.mix[0];
        for (int j = 0; j < 3; j++)
            on[j] += (m->active >> j) & 1u;
        if (t < 50 && m->active) {
            float wv[3];
            os_tensor_to_host(m->w, wv);
            for (int j = 0; j < 3; j++)
                if ((m->active >> j) & 1u)
                    cr_expect(fabsf(wv[j] - 1.0f) < 1e-6f, "hard weight %g", wv[j]);
            os_tensor *y = os_input_choice_forward(&net, 0, 3, in, &ctx);
            os_tensor *ones = os_tensor_like(y);
            os_tensor_fill(ones, 1.0f);
            os_backward_seeded(y, ones);
            float ga[3], sx[3] = {0};
            os_tensor_to_host(net.choices[0].alpha->grad, ga);
            for (int j = 0; j < 3; j++)
                for (int e = 0; e < 4; e++)
                    sx[j] += in[j]->data[e];
            /* d/dalpha_j of sum(w_j x_j) = sigmoid'(alpha_j) * sum(x_j) for the active j */
            for (int j = 0; j < 3; j++) {
                float want = (m->active >> j) & 1u ? p[j] * (1 - p[j]) * sx[j] : 0.0f;
                cr_expect(fabsf(ga[j] - want) < 1e-4f, "grad alpha %d: %g vs %g", j, ga[j], want);
            }
            grads++;
        }
        os_step_reset();
    }
    cr_expect(grads > 0);
    for (int j = 0; j < 3; j++) {
        double f = (double)on[j] / N, sd = sqrt(p[j] * (1 - p[j]) / N);
        cr_expect(fabs(f - p[j]) < 5 * sd, "input %d drawn %g of the time, p %g", j, f, p[j]);
    }
    /* evaluation: the inputs with alpha > 0 (0.4, -0.7, 1.2 -> 0 and 2), no weights */
    os_forward_ctx ev = {.training = false};
    os_net_begin_forward(&net, &ev);
    cr_expect_eq(net.mix[0].active, 5u);
    cr_expect_null(net.mix[0].w);
    os_step_reset();
    for (int i = 0; i < 3; i++)
        os_tensor_free(in[i]);
    os_strategy_find("gdas")->free(st);
    os_optim_free(w);
    os_net_free(&net);
}
