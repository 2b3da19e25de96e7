/* tests/test_enas.c — the ENAS controller's ops and the controller:
 * embedding forward, gradients and misuse; the fused LSTM cell against
 * torch.nn.LSTMCell (tests/ref/gen_enas.py) and by finite differences; the
 * controller against its PyTorch re-implementation (sampled values, log p,
 * entropy, skip penalty, and the gradients of -log p and of the penalty for
 * every parameter); and a seeded synthetic bandit. */
#include "tests/ops_test_util.h"
#include "tests/ref_util.h"
#include "search/enas_controller.h"
#include "ops/ops.h"
#include "autograd/optim.h"
#include "tensor/arena.h"
#include "tensor/backend.h"

/* ---- embedding ---------------------------------------------------------------- */
static const int32_t emb_idx[5] = {2, 0, 2, 3, 2}; /* repeated rows: the gradient adds up */

static os_tensor *gc_embedding(os_tensor *const *in, void *ctx)
{
    (void)ctx;
    return os_embedding(in[0], 5, emb_idx);
}

Test(enas, embedding_forward_and_gradient)
{
    os_rng r;
    os_rng_seed(&r, 3);
    os_tensor *t = tu_param(&r, 2, (int[]){4, 6}, -1.0f, 1.0f, 0.0f);
    os_tensor *y = os_embedding(t, 5, emb_idx);
    cr_assert_eq(y->shape[0], 5);
    cr_assert_eq(y->shape[1], 6);
    for (int i = 0; i < 5; i++)
        ot_expect_tensor(os_select(y, i), t->data + emb_idx[i] * 6, 0, 0, "row");
    os_tensor *in[1] = {t};
    OT_GRADCHECK(gc_embedding, NULL, 1, in);
    /* the scatter: row 2 gets three rows of dy, row 1 none */
    os_params_zero_grad(&(os_params){.t = &t, .n = 1});
    y = os_embedding(t, 5, emb_idx);
    os_tensor *seed = os_tensor_like(y);
    os_tensor_fill(seed, 1.0f);
    os_backward_seeded(y, seed);
    cr_expect_eq(t->grad->data[2 * 6 + 1], 3.0f);
    cr_expect_eq(t->grad->data[0], 1.0f);
    cr_expect_eq(t->grad->data[1 * 6 + 4], 0.0f);
    os_tensor_free(t);
    os_step_reset();
}

Test(enas, embedding_misuse_names_the_index)
{
    os_tensor *t = os_param_new("table", 2, (int[]){3, 2});
    TU_EXPECT_FATAL(os_embedding(t, 1, (const int32_t[]){3}), "embedding", "index 3", "[3,2]");
    TU_EXPECT_FATAL(os_embedding(t, 0, (const int32_t[]){0}), "embedding", "at least one");
    os_tensor_free(t);
    os_step_reset();
}

/* ---- LSTM cell ------------------------------------------------------------------ */
static os_tensor *gc_lstm(os_tensor *const *in, void *ctx)
{
    return os_lstm_cell(in[0], in[1], in[2], in[3], ctx ? in[4] : NULL);
}

Test(enas, lstm_cell_gradcheck)
{
    os_rng r;
    os_rng_seed(&r, 4);
    for (int bias = 0; bias < 2; bias++) {
        os_tensor *in[5] = {
            tu_param(&r, 2, (int[]){2, 3}, -1.0f, 1.0f, 0.0f), tu_param(&r, 2, (int[]){2, 4}, -1.0f, 1.0f, 0.0f),
            tu_param(&r, 2, (int[]){2, 4}, -1.0f, 1.0f, 0.0f), tu_param(&r, 2, (int[]){16, 7}, -0.8f, 0.8f, 0.0f),
            tu_param(&r, 1, (int[]){16}, -0.5f, 0.5f, 0.0f)};
        OT_GRADCHECK(gc_lstm, bias ? (void *)1 : NULL, bias ? 5 : 4, in);
        for (int i = 0; i < 5; i++)
            os_tensor_free(in[i]);
        os_step_reset();
    }
}

Test(enas, lstm_cell_matches_torch)
{
    os_st_file *f = ref_open("lstm_cell");
    os_params g = {0};
    os_tensor *x = ref_param(f, "x", &g), *h = ref_param(f, "h", &g), *c = ref_param(f, "c", &g);
    os_tensor *w = ref_param(f, "w", &g), *b = ref_param(f, "b", &g);
    os_tensor *out = os_lstm_cell(x, h, c, w, b);
    ref_compare(f, "out", out, 1e-6, 1e-5);
    os_backward_seeded(out, ref_tensor(f, "r"));
    ref_compare(f, "dx", x->grad, 1e-6, 1e-5);
    ref_compare(f, "dh", h->grad, 1e-6, 1e-5);
    ref_compare(f, "dc", c->grad, 1e-6, 1e-5);
    ref_compare(f, "dw", w->grad, 1e-6, 1e-5);
    ref_compare(f, "db", b->grad, 1e-6, 1e-5);
    os_params_free_all(&g);
    os_st_close(f);
    os_step_reset();
}

Test(enas, lstm_cell_misuse_names_the_shapes)
{
    os_tensor *x = os_tensor_zeros(2, (int[]){1, 3}), *h = os_tensor_zeros(2, (int[]){1, 4});
    os_tensor *w = os_tensor_zeros(2, (int[]){16, 6});
    TU_EXPECT_FATAL(os_lstm_cell(x, h, h, w, NULL), "lstm_cell", "[16,6]", "[4H,I+H]");
    os_step_reset();
}

/* ---- the controller against PyTorch ------------------------------------------------ */
/* the list of tests/ref/gen_enas.py DECISIONS */
static void fixture_decisions(os_ctrl_decision *d)
{
    memset(d, 0, sizeof *d * 7);
    const int n[7] = {3, 4, 2, 4, 3, 2, 4};
    for (int i = 0; i < 7; i++) {
        d[i].n = n[i];
        d[i].kind = (i == 2 || i == 4 || i == 6) ? OS_CTRL_SUBSET : OS_CTRL_CATEGORICAL;
    }
    d[2].anchor[0] = 0, d[2].anchor[1] = -1;
    d[3].n_excl = 1, d[3].excl[0] = 1;
    d[4].anchor[0] = 1, d[4].anchor[1] = 3, d[4].anchor[2] = -1;
    d[6].anchor[0] = -1, d[6].anchor[1] = 2, d[6].anchor[2] = 4, d[6].anchor[3] = 5;
}

static void expect_grads(os_st_file *f, os_controller *c, const char *what)
{
    char name[128];
    for (int i = 0; i < c->params.n; i++) {
        snprintf(name, sizeof name, "%s.%s", what, c->params.t[i]->name);
        ref_compare(f, name, c->params.t[i]->grad, 2e-6, 2e-4);
    }
}

Test(enas, controller_matches_torch)
{
    os_st_file *f = ref_open("enas_controller");
    os_ctrl_decision dec[7];
    fixture_decisions(dec);
    os_ctrl_config cfg = {.hidden = ref_meta_int(f, "hidden"), .tanh_constant = ref_meta_float(f, "tanh_constant"),
                          .temperature = ref_meta_float(f, "temperature"),
                          .skip_target = ref_meta_float(f, "skip_target")};
    os_rng r;
    os_rng_seed(&r, 1);
    os_controller c;
    cr_assert_eq(os_ctrl_init(&c, &cfg, 7, dec, &r, "ctrl"), 0, "%s", os_last_error());
    for (int i = 0; i < c.params.n; i++)
        cr_assert_eq(os_st_read_into(f, c.params.t[i]->name, c.params.t[i]), 0, "%s", os_last_error());
    const os_st_info *in;
    float *u = os_st_read_f32(f, "u", &in);
    int32_t *want = os_st_read_i32(f, "values", NULL);
    cr_assert(u && want, "%s", os_last_error());

    /* sampled from the fixture's draws */
    os_ctrl_draws dr = {.u = u, .n = (int)in->shape[0]};
    int v[7];
    os_ctrl_result res;
    cr_assert_eq(os_ctrl_run(&c, 0, &dr, v, &res), 0, "%s", os_last_error());
    for (int i = 0; i < 7; i++)
        cr_expect_eq(v[i], want[i], "decision %d: sampled %d, torch %d", i, v[i], want[i]);
    ref_compare(f, "nlp", res.nlp, 1e-5, 1e-5);
    ref_compare(f, "penalty", res.penalty, 1e-6, 1e-5);
    os_tensor *t = os_tensor_new(1, (int[]){1});
    t->data[0] = (float)res.log_prob;
    ref_compare(f, "log_prob", t, 1e-5, 1e-5);
    t->data[0] = (float)res.entropy;
    ref_compare(f, "entropy", t, 1e-5, 1e-5);
    cr_expect(fabs(res.skip_penalty - os_tensor_item(res.penalty)) < 1e-6);
    cr_expect(fabs(res.log_prob + os_tensor_item(res.nlp)) < 1e-4);
    os_params_zero_grad(&c.params);
    os_backward(res.nlp);
    expect_grads(f, &c, "gnlp");
    os_step_reset();

    /* forced to the same values: the same -log p; the penalty's gradients */
    cr_assert_eq(os_ctrl_run(&c, 1, NULL, v, &res), 0, "%s", os_last_error());
    ref_compare(f, "nlp", res.nlp, 1e-5, 1e-5);
    os_params_zero_grad(&c.params);
    os_backward(res.penalty);
    expect_grads(f, &c, "gpen");
    os_step_reset();

    free(u);
    free(want);
    os_ctrl_free(&c);
    os_st_close(f);
}

Test(enas, controller_rejects_bad_decisions)
{
    os_rng r;
    os_rng_seed(&r, 1);
    os_controller c;
    os_ctrl_config cfg = {.tanh_constant = 1.5f, .skip_target = 0.4f};
    os_ctrl_decision d[2] = {{.kind = OS_CTRL_CATEGORICAL, .n = 3}, {.kind = OS_CTRL_SUBSET, .n = 2}};
    d[1].anchor[0] = 1; /* itself */
    cr_expect_eq(os_ctrl_init(&c, &cfg, 2, d, &r, "c"), -1);
    cr_expect(strstr(os_last_error(), "anchor"), "%s", os_last_error());
    d[1].anchor[0] = 0;
    d[0].n = 0;
    cr_expect_eq(os_ctrl_init(&c, &cfg, 2, d, &r, "c"), -1);
    d[0].n = 3;
    cr_assert_eq(os_ctrl_init(&c, &cfg, 2, d, &r, "c"), 0, "%s", os_last_error());
    int v[2] = {3, 0};
    os_ctrl_result res;
    cr_expect_eq(os_ctrl_run(&c, 1, NULL, v, &res), -1);
    cr_expect(strstr(os_last_error(), "decision 0"), "%s", os_last_error());
    os_ctrl_draws dr = {.u = (const float[]){0.5f}, .n = 1};
    cr_expect_eq(os_ctrl_run(&c, 0, &dr, v, &res), -1);
    cr_expect(strstr(os_last_error(), "ran out"), "%s", os_last_error());
    os_ctrl_free(&c);
    os_step_reset();
}

/* ---- bandit: reward = fraction of decisions equal to a hidden target -------------- */
#define BANDIT_DEC 6
#define BANDIT_STEPS 150

Test(enas, controller_learns_a_bandit, .timeout = 120)
{
    os_set_threads(1);
    os_ctrl_decision d[BANDIT_DEC] = {0};
    const int n[BANDIT_DEC] = {5, 5, 4, 3, 6, 4};
    const int target[BANDIT_DEC] = {3, 0, 2, 1, 5, 9}; /* the subset: inputs 0 and 3 */
    for (int i = 0; i < BANDIT_DEC; i++)
        d[i].n = n[i], d[i].kind = OS_CTRL_CATEGORICAL;
    d[5].kind = OS_CTRL_SUBSET;
    d[5].anchor[0] = 0, d[5].anchor[1] = 1, d[5].anchor[2] = -1, d[5].anchor[3] = 4;
    os_rng init, samp;
    os_rng_seed(&init, 21);
    os_rng_seed(&samp, 22);
    os_controller c;
    os_ctrl_config cfg = {.tanh_constant = 1.5f, .skip_target = 0.4f};
    cr_assert_eq(os_ctrl_init(&c, &cfg, BANDIT_DEC, d, &init, "ctrl"), 0, "%s", os_last_error());
    os_optim *opt = os_optim_adam(&c.params, &(os_adam_config){.lr = 0.02f, .beta1 = 0.9f, .beta2 = 0.999f,
                                                                 .eps = 1e-8f});
    float baseline = 0;
    int reached = -1;
    for (int step = 0; step < BANDIT_STEPS && reached < 0; step++) {
        os_params_zero_grad(&c.params);
        for (int s = 0; s < 10; s++) { /* samples per controller step */
            int v[BANDIT_DEC];
            os_ctrl_result res;
            os_ctrl_draws dr = {.rng = &samp};
            cr_assert_eq(os_ctrl_run(&c, 0, &dr, v, &res), 0);
            int hit = 0;
            for (int i = 0; i < BANDIT_DEC; i++)
                hit += v[i] == target[i];
            float reward = (float)hit / BANDIT_DEC;
            baseline = step == 0 && s == 0 ? reward : 0.9f * baseline + 0.1f * reward;
            os_tensor *adv = os_tensor_new(1, (int[]){1});
            os_tensor_fill(adv, (reward - baseline) / 10.0f);
            os_backward(os_scale_by(res.nlp, adv));
            os_step_reset();
        }
        os_clip_grad_norm(&c.params, 5.0f);
        os_optim_step(opt);
        int g[BANDIT_DEC];
        os_ctrl_greedy(&c, g);
        os_step_reset();
        if (!memcmp(g, target, sizeof g))
            reached = step + 1;
    }
    cr_expect(reached > 0, "the greedy architecture did not reach the target in %d controller steps", BANDIT_STEPS);
    if (getenv("OS_REF_VERBOSE"))
        fprintf(stderr, "bandit: target reached after %d controller steps\n", reached);
    os_optim_free(opt);
    os_ctrl_free(&c);
}

/* ---- the `enas` strategy ---------------------------------------------------------- */
#include "search/path.h"
#include "search/strategy.h"

/* A toy supernet with every choice kind: op0, op1 (layer choices: identity
 * or relu), skip (a subset choice over [op0's output, op1's output], src =
 * op0, op1), pick (an input choice keeping 1 of [x, op0's, skip + op1's]);
 * then a linear classifier. */
static os_tensor *toy_op(void *self, int i, os_tensor *x, const os_forward_ctx *ctx)
{
    (void)self, (void)ctx;
    return i ? os_relu(x) : x;
}

static os_tensor *toy_forward(os_net *net, os_tensor *x, const os_forward_ctx *ctx, os_tensor **aux)
{
    if (aux)
        *aux = NULL;
    os_net_begin_forward(net, ctx);
    os_tensor *y0 = os_layer_choice_forward(net, 0, toy_op, NULL, x, ctx);
    os_tensor *y1 = os_layer_choice_forward(net, 1, toy_op, NULL, os_add(y0, x), ctx);
    os_tensor *s = os_input_choice_forward(net, 2, 2, (os_tensor *[]){y0, y1}, ctx);
    os_tensor *z = s ? os_add(s, y1) : y1;
    os_tensor *p = os_input_choice_forward(net, 3, 3, (os_tensor *[]){x, y0, z}, ctx);
    return os_linear(os_flatten(p), net->weights.t[0], NULL);
}

static void toy_net(os_net *net)
{
    static const char *const names[2] = {"identity", "relu"};
    os_rng r;
    os_rng_seed(&r, 8);
    os_net_init(net, "toy", 1, 2, 2, 3);
    os_net_weight(net, &r, "fc", 2, (int[]){3, 4}, 4);
    os_net_layer_choice(net, &r, "op0", 2, names);
    os_net_layer_choice(net, &r, "op1", 2, names);
    os_net_input_choice(net, &r, "skip", 2, 0);
    os_net_set_input_src(net, 2, 0, 0);
    os_net_set_input_src(net, 2, 1, 1);
    os_net_input_choice(net, &r, "pick", 3, 1);
    net->forward = toy_forward;
}

/* steps of the strategy on net; with derive-k 1 derive() is the last
 * controller sample: each must be one of the space's paths */
static void run_and_check_paths(os_net *net, const os_space *sp, int steps, unsigned *seen_subset)
{
    const os_strategy *st = os_strategy_find("enas");
    cr_assert_not_null(st);
    unsigned char opts[256];
    cr_assert(st->options_size <= sizeof opts);
    os_options_defaults(st->options, st->n_options, opts);
    cr_assert_eq(os_options_set(st->options, st->n_options, opts, "ctrl-samples", "2"), 0);
    cr_assert_eq(os_options_set(st->options, st->n_options, opts, "derive-k", "1"), 0);
    cr_assert_eq(os_options_set(st->options, st->n_options, opts, "ctrl-lr", "0.01"), 0);
    os_optim *wopt = os_optim_sgd(&net->weights, &(os_sgd_config){.lr = 0.05f, .momentum = 0.9f});
    os_search_env env = {.net = net, .wopt = wopt, .momentum = 0.9f, .grad_clip = 5.0f, .seed = 3};
    void *s;
    cr_assert_eq(st->create(&env, opts, &s), 0, "%s", os_last_error());
    os_path_space ps;
    cr_assert_eq(os_path_space_init(&ps, net, sp, 0), 0, "%s", os_last_error());
    int img = net->in_c * net->in_h * net->in_w, B = 4;
    float *x = malloc(sizeof(float) * (size_t)(2 * B * img));
    int32_t y[8];
    os_rng r;
    os_rng_seed(&r, 5);
    os_arch a = {0}, prev = {0};
    int changed = 0;
    for (int step = 0; step < steps; step++) {
        for (int i = 0; i < 2 * B * img; i++)
            x[i] = os_rng_normal(&r);
        for (int i = 0; i < 2 * B; i++)
            y[i] = (int32_t)os_rng_below(&r, (uint32_t)net->num_classes);
        os_step_result res;
        os_batch tb = {.x = x, .y = y, .n = B}, vb = {.x = x + B * img, .y = y + B, .n = B};
        cr_assert_eq(st->step(s, &tb, &vb, &res), 0, "%s", os_last_error());
        cr_assert(isfinite(res.loss));
        os_arch_free(&a);
        cr_assert_eq(st->derive(s, &a), 0, "%s", os_last_error());
        cr_expect_eq(os_path_check(&ps, &a), 0, "%s step %d: %s", net->space, step, os_last_error());
        if (step && !os_path_same(&a, &prev))
            changed++;
        os_arch_free(&prev);
        os_arch_copy(&prev, &a);
        for (int i = 0; seen_subset && i < a.n; i++)
            if (a.c[i].kind == OS_CHOICE_INPUT && a.c[i].k == 0)
                *seen_subset |= 1u << (a.c[i].chosen == OS_CHOSEN_NONE ? 0 : os_arch_mask(&a.c[i]));
    }
    cr_expect(changed > 0, "%s: the controller's samples never changed", net->space);
    os_arch_free(&a);
    os_arch_free(&prev);
    os_path_space_free(&ps);
    st->free(s);
    os_optim_free(wopt);
    free(x);
}

Test(enas, samples_are_paths_of_every_space, .timeout = 240)
{
    os_set_threads(1);
    for (int i = 0; i < os_space_count(); i++) {
        const os_space *sp = os_space_at(i);
        os_net net;
        os_space_opts so = {.cells = 3, .channels = 2, .in_c = 1, .in_h = 8, .in_w = 8, .num_classes = 3, .seed = 5};
        cr_assert_eq(sp->build(&net, &so), 0, "%s", os_last_error());
        run_and_check_paths(&net, sp, 12, NULL);
        os_net_free(&net);
    }
    os_step_reset();
}

Test(enas, subset_and_input_choices)
{
    os_set_threads(1);
    os_net net;
    toy_net(&net);
    unsigned seen = 0; /* bit m: the subset choice took mask m (0: none) */
    run_and_check_paths(&net, NULL, 60, &seen);
    cr_expect_eq(seen, 0xfu, "subsets sampled: mask set 0x%x (want none, {0}, {1}, {0,1})", seen);
    os_net_free(&net);
    os_step_reset();
}

/* A damaged ENAS state is refused with a message naming the key, and the
 * strategy keeps working after the refusal. */
#include "tests/ds_util.h"

static int load_file(const os_strategy *st, void *s, os_st_writer *w, const char *path)
{
    cr_assert_eq(os_st_write(w, path), 0, "%s", os_last_error());
    os_st_writer_free(w);
    os_st_file *f = os_st_open(path);
    cr_assert_not_null(f, "%s", os_last_error());
    int rc = st->load(s, f, path);
    os_st_close(f);
    return rc;
}

Test(enas, damaged_state_is_refused)
{
    os_set_threads(1);
    os_net net;
    toy_net(&net);
    const os_strategy *st = os_strategy_find("enas");
    os_optim *wopt = os_optim_sgd(&net.weights, &(os_sgd_config){.lr = 0.05f});
    os_search_env env = {.net = &net, .wopt = wopt, .seed = 3};
    void *s;
    cr_assert_eq(st->create(&env, NULL, &s), 0, "%s", os_last_error());
    char dir[256], path[512];
    du_tmpdir(dir, sizeof dir);
    snprintf(path, sizeof path, "%s/ck.safetensors", dir);

    /* a good state loads back */
    os_st_writer *w = os_st_writer_new();
    cr_assert_eq(st->save(s, w), 0, "%s", os_last_error());
    cr_expect_eq(load_file(st, s, w, path), 0, "%s", os_last_error());

    /* counters out of range */
    w = os_st_writer_new();
    cr_assert_eq(st->save(s, w), 0);
    os_st_set_meta(w, "enas_counters", "0 0 11 0 0 0"); /* 11 samples in a ring of 10 */
    cr_expect_eq(load_file(st, s, w, path), -1);
    cr_expect(strstr(os_last_error(), "enas_counters"), "%s", os_last_error());

    /* a ring value outside its decision (checked before anything else is read) */
    w = os_st_writer_new();
    int32_t bad[10 * 4] = {0};
    bad[4 + 3] = 3; /* sample 1, decision 3: `pick` has 3 inputs */
    os_st_add_i32(w, "enas/ring_val", 2, (const int64_t[]){10, 4}, bad);
    os_st_set_meta(w, "enas_counters", "0 0 2 2 0 0");
    cr_expect_eq(load_file(st, s, w, path), -1);
    cr_expect(strstr(os_last_error(), "ring_val") && strstr(os_last_error(), "decision 3"), "%s", os_last_error());

    /* a checkpoint of something else: no ENAS state */
    w = os_st_writer_new();
    os_st_set_meta(w, "enas_counters", "0 0 0 0 0 0");
    os_st_add_i32(w, "enas/ring_val", 2, (const int64_t[]){10, 4}, (int32_t[40]){0});
    cr_expect_eq(load_file(st, s, w, path), -1);
    cr_expect(strstr(os_last_error(), "enas/param/ctrl.w_lstm"), "%s", os_last_error());

    /* still usable */
    float x[2 * 4 * 4] = {0};
    int32_t y[8] = {0};
    os_step_result r;
    os_batch tb = {.x = x, .y = y, .n = 4}, vb = {.x = x + 16, .y = y + 4, .n = 4};
    cr_expect_eq(st->step(s, &tb, &vb, &r), 0, "%s", os_last_error());
    st->free(s);
    os_optim_free(wopt);
    os_net_free(&net);
    du_rmtree(dir);
    os_step_reset();
}
