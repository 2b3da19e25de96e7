/* tests/test_supernet.c — the choice primitives: how a layer choice and an
 * input choice evaluate what the chooser decided (weights, active sets of
 * any size), and GDAS's Gumbel samples through the strategy registry. */
#include <math.h>

#include "tests/test_util.h"
#include "search/strategy.h"
#include "supernet/arch.h"
#include "ops/ops.h"

static const char *const names[3] = {"none", "double", "square"};

/* candidate 0 = none (zero), 1 = 2x, 2 = x*x */
static os_tensor *cand(void *self, int i, os_tensor *x, const os_forward_ctx *ctx)
{
    (void)self, (void)ctx;
    if (i == 0)
        return os_zero(x, 1);
    return i == 1 ? os_add(x, x) : os_mul(x, x);
}

typedef struct { os_net *net; int choice; os_forward_ctx ctx; } lc_ctx;

/* a chooser: softmax(alpha) over every candidate of every choice */
static void choose_softmax(os_net *net, const os_forward_ctx *ctx, void *arg)
{
    (void)ctx, (void)arg;
    for (int i = 0; i < net->n_choices; i++)
        os_net_mix_set(net, i, os_mask_all(net->choices[i].n), os_softmax(net->choices[i].alpha, 0));
}

/* a chooser: the active set in *arg, with softmax weights when arg[1] */
static void choose_mask(os_net *net, const os_forward_ctx *ctx, void *arg)
{
    (void)ctx;
    const unsigned *m = arg;
    for (int i = 0; i < net->n_choices; i++)
        os_net_mix_set(net, i, m[0] & os_mask_all(net->choices[i].n), m[1] ? os_softmax(net->choices[i].alpha, 0) : NULL);
}

static os_tensor *gc_layer_choice(os_tensor *const *in, void *vc)
{
    lc_ctx *c = vc;
    os_net_begin_forward(c->net, &c->ctx);
    return os_layer_choice_forward(c->net, c->choice, cand, NULL, in[0], &c->ctx);
}

static void make_net(os_net *net, os_rng *r)
{
    os_net_init(net, "test", 1, 2, 2, 2);
    os_net_layer_choice(net, r, "lc", 3, names);
    os_net_input_choice(net, r, "ic", 3, 1);
    /* non-uniform alphas */
    float a[3] = {0.3f, -0.5f, 0.8f};
    os_tensor_from_host(net->choices[0].alpha, a);
    os_tensor_from_host(net->choices[1].alpha, a);
}

Test(supernet, layer_choice_softmax_value_and_gradient)
{
    os_rng r;
    os_rng_seed(&r, 3);
    os_net net;
    make_net(&net, &r);
    cr_expect_eq(net.choices[0].zero_index, 0);
    cr_expect_eq(os_net_layer_choice(&net, &r, "lc", 3, names), 0, "a label is one shared choice");
    os_tensor *x = tu_param4(&r, 2, 3, 2, 2, -1, 1, 0);
    lc_ctx c = {&net, 0, {.training = true}};
    os_net_set_chooser(&net, choose_softmax, NULL);
    os_tensor *y = gc_layer_choice(&x, &c);
    float p[3];
    os_choice_probs(&net.choices[0], p);
    float h[24];
    os_tensor_to_host(y, h);
    for (int i = 0; i < 24; i++) {
        float v = x->data[i];
        cr_expect(fabsf(h[i] - (p[1] * 2 * v + p[2] * v * v)) < 1e-5f, "element %d", i);
    }
    os_step_reset();
    os_tensor *in[2] = {x, net.choices[0].alpha};
    TU_GRADCHECK(gc_layer_choice, &c, 2, in, 1e-2f, 1e-3f, 1e-2f);
    os_tensor_free(x);
    os_net_free(&net);
    os_step_reset();
}

/* GDAS's chooser (search/gdas.c) on a training forward: soft samples weight
 * every candidate, the hard sample runs one with a straight-through weight
 * whose gradient reaches every alpha; evaluation runs the argmax path. */
static void gdas_case(int hard)
{
    os_rng r;
    os_rng_seed(&r, 4);
    os_net net;
    make_net(&net, &r);
    os_tensor *x = tu_param4(&r, 1, 2, 2, 2, 0.5f, 1.5f, 0);
    const os_strategy *g = os_strategy_find("gdas");
    cr_assert(g);
    unsigned char opts[512];
    cr_assert(g->options_size <= sizeof opts);
    os_options_defaults(g->options, g->n_options, opts);
    cr_assert_eq(os_options_set(g->options, g->n_options, opts, "hard", hard ? "1" : "0"), 0);
    cr_assert_eq(os_options_set(g->options, g->n_options, opts, "tau-max", "0.7"), 0);
    os_optim *w = os_optim_sgd(&net.weights, &(os_sgd_config){.lr = 0.1f});
    os_search_env env = {.net = &net, .wopt = w, .seed = 11};
    void *st;
    cr_assert_eq(g->create(&env, opts, &st), 0, "%s", os_last_error());
    g->epoch_begin(st, 0, 10);
    os_forward_ctx ctx = {.training = true};
    os_params_zero_grad(&net.arch);
    os_net_begin_forward(&net, &ctx);
    const os_mix *m = &net.mix[0];
    cr_assert_not_null(m->w, "a Gumbel sample has weights");
    float wv[3];
    os_tensor_to_host(m->w, wv);
    os_tensor *y = os_layer_choice_forward(&net, 0, cand, NULL, x, &ctx);
    if (hard) {
        /* forward: exactly one candidate, weight 1 */
        cr_assert(m->active && !(m->active & (m->active - 1)), "one active candidate, mask 0x%x", m->active);
        int k = __builtin_ctz(m->active);
        cr_expect(fabsf(wv[k] - 1.0f) < 1e-6f, "straight-through weight %g", wv[k]);
        float h[8];
        os_tensor_to_host(y, h);
        for (int i = 0; i < 8; i++) {
            float v = x->data[i], want = k == 0 ? 0 : k == 1 ? 2 * v : v * v;
            cr_expect(fabsf(h[i] - want) < 1e-6f, "hard sample %d element %d: %g vs %g", k, i, h[i], want);
        }
    } else {
        cr_expect_eq(m->active, 7u, "a soft sample weights every candidate");
        cr_expect(fabsf(wv[0] + wv[1] + wv[2] - 1.0f) < 1e-5f, "soft weights sum to 1");
    }
    os_tensor *ones = os_tensor_like(y);
    os_tensor_fill(ones, 1.0f);
    os_backward_seeded(y, ones);
    float ga[3];
    os_tensor_to_host(net.choices[0].alpha->grad, ga);
    cr_expect(ga[1] != 0 && ga[2] != 0, "alpha grads %g %g %g", ga[0], ga[1], ga[2]);
    if (hard)
        cr_expect(ga[0] != 0, "the straight-through gradient reaches alpha of none too");
    os_step_reset();
    /* evaluation: the argmax of alpha (0.3, -0.5, 0.8 -> candidate 2), no weights */
    os_forward_ctx ev = {.training = false};
    os_net_begin_forward(&net, &ev);
    cr_expect_eq(net.mix[0].active, 4u);
    cr_expect(net.mix[0].w == NULL);
    y = os_layer_choice_forward(&net, 0, cand, NULL, x, &ev);
    for (int i = 0; i < 8; i++)
        cr_expect(fabsf(y->data[i] - x->data[i] * x->data[i]) < 1e-6f, "argmax path element %d", i);
    os_step_reset();
    g->free(st);
    os_optim_free(w);
    os_tensor_free(x);
    os_net_free(&net);
    os_step_reset();
}

Test(supernet, gdas_hard_sample) { gdas_case(1); }
Test(supernet, gdas_soft_sample) { gdas_case(0); }

/* every size of active set, with and without weights */
Test(supernet, layer_choice_active_sets)
{
    os_rng r;
    os_rng_seed(&r, 6);
    os_net net;
    make_net(&net, &r);
    os_tensor *x = tu_param4(&r, 1, 2, 2, 2, 0.5f, 1.5f, 0);
    float p[3];
    os_choice_probs(&net.choices[0], p);
    os_forward_ctx ctx = {.training = true};
    struct { unsigned mask, weighted; } cases[] = {{4, 0}, {4, 1}, {6, 0}, {6, 1}, {7, 0}, {7, 1}, {3, 1}};
    for (size_t t = 0; t < sizeof cases / sizeof cases[0]; t++) {
        unsigned arg[2] = {cases[t].mask, cases[t].weighted};
        os_net_set_chooser(&net, choose_mask, arg);
        os_net_begin_forward(&net, &ctx);
        os_tensor *y = os_layer_choice_forward(&net, 0, cand, NULL, x, &ctx);
        for (int i = 0; i < 8; i++) {
            float v = x->data[i], want = 0, c[3] = {0, 2 * v, v * v};
            for (int k = 0; k < 3; k++)
                if ((cases[t].mask >> k) & 1u)
                    want += (cases[t].weighted ? p[k] : 1.0f) * c[k];
            cr_expect(fabsf(y->data[i] - want) < 1e-5f, "mask %u weighted %u element %d: %g vs %g", cases[t].mask,
                      cases[t].weighted, i, y->data[i], want);
        }
        os_step_reset();
    }
    /* a supernet without a chooser, and a chooser that leaves a choice out */
    os_net_set_chooser(&net, NULL, NULL);
    TU_EXPECT_FATAL(os_net_begin_forward(&net, &ctx), "no strategy");
    os_net_mix_clear(&net);
    TU_EXPECT_FATAL(os_layer_choice_forward(&net, 0, cand, NULL, x, &ctx), "lc", "did not decide");
    TU_EXPECT_FATAL(os_net_mix_set(&net, 0, 8u, NULL), "lc", "does not fit");
    os_tensor_free(x);
    os_net_free(&net);
    os_step_reset();
}

/* a fixed path given as an os_arch (what SPOS/ENAS children and GDAS's
 * evaluation run) */
Test(supernet, choose_arch_runs_the_path)
{
    os_rng r;
    os_rng_seed(&r, 7);
    os_net net;
    make_net(&net, &r);
    os_arch a;
    os_arch_of_net(&net, &a);
    cr_assert_eq(a.n, 2);
    cr_expect_str_eq(a.c[0].label, "lc");
    a.c[0].chosen = 2;    /* double */
    a.c[1].chosen = 1;    /* input 0 */
    os_net_choose_arch(&net, &a);
    os_tensor *x = tu_param4(&r, 1, 2, 2, 2, 0.5f, 1.5f, 0);
    os_forward_ctx ctx = {.training = false};
    os_net_begin_forward(&net, &ctx);
    os_tensor *y = os_layer_choice_forward(&net, 0, cand, NULL, x, &ctx);
    for (int i = 0; i < 8; i++)
        cr_expect(fabsf(y->data[i] - 2 * x->data[i]) < 1e-6f);
    os_step_reset();
    a.c[0].chosen = 0;
    TU_EXPECT_FATAL(os_net_begin_forward(&net, &ctx), "lc", "not decided");
    os_arch_free(&a);
    os_tensor_free(x);
    os_net_free(&net);
    os_step_reset();
}

typedef struct { os_net *net; os_forward_ctx ctx; } ic_ctx;

static os_tensor *gc_input_choice(os_tensor *const *in, void *vc)
{
    ic_ctx *c = vc;
    os_net_begin_forward(c->net, &c->ctx);
    return os_input_choice_forward(c->net, 1, 3, in, &c->ctx);
}

Test(supernet, input_choice_mixed_and_fixed)
{
    os_rng r;
    os_rng_seed(&r, 5);
    os_net net;
    make_net(&net, &r);
    os_tensor *in[4];
    for (int i = 0; i < 3; i++)
        in[i] = tu_param4(&r, 1, 2, 3, 3, -1, 1, 0);
    in[3] = net.choices[1].alpha;
    ic_ctx c = {&net, {.training = true}};
    os_net_set_chooser(&net, choose_softmax, NULL);
    TU_GRADCHECK(gc_input_choice, &c, 4, in, 1e-2f, 1e-3f, 1e-2f);
    /* no weights: the sum of inputs 0 and 2 */
    unsigned arg[2] = {5, 0};
    os_net_set_chooser(&net, choose_mask, arg);
    os_tensor *y = gc_input_choice(in, &c);
    for (int i = 0; i < 18; i++)
        cr_expect(fabsf(y->data[i] - (in[0]->data[i] + in[2]->data[i])) < 1e-6f);
    TU_EXPECT_FATAL(os_input_choice_forward(&net, 1, 2, in, &c.ctx), "input choice", "ic", "2 inputs");
    for (int i = 0; i < 3; i++)
        os_tensor_free(in[i]);
    os_net_free(&net);
    os_step_reset();
}
