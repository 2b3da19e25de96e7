/* tests/test_ref.c — our ops and optimizers against PyTorch 1.13 (float32),
 * from the fixtures of tests/ref/gen_engine.py.
 *
 * Each op case loads the inputs as parameters, runs the forward, seeds the
 * backward with the stored r (so the gradient of sum(out * r) is compared)
 * and compares the output and every gradient.
 * Tolerance: |ours - torch| <= 1e-4 + 1e-4 * |torch| for ops, and
 * 1e-5 + 1e-5 * |torch| for the optimizer updates (elementwise, no sums).
 * OS_REF_VERBOSE=1 prints the worst difference of each comparison. */
#include <criterion/criterion.h>

#include "autograd/optim.h"
#include "tests/ref_util.h"


#define OP_ATOL 1e-4
#define OP_RTOL 1e-4
#define OPT_ATOL 1e-5
#define OPT_RTOL 1e-5

static void finish(os_st_file *f, os_params *g)
{
    os_st_close(f);
    os_params_free_all(g);
    os_step_reset();
}

/* ---- convolution ------------------------------------------------------------ */
static void conv_case(const char *name)
{
    os_st_file *f = ref_open(name);
    os_params g = {0};
    os_tensor *x = ref_param(f, "x", &g), *w = ref_param(f, "w", &g);
    os_tensor *b = ref_meta_int(f, "bias") ? ref_param(f, "b", &g) : NULL;
    os_tensor *out = os_conv2d(x, w, b, ref_meta_int(f, "stride"), ref_meta_int(f, "pad"),
                               ref_meta_int(f, "dilation"), ref_meta_int(f, "groups"));
    ref_compare(f, "out", out, OP_ATOL, OP_RTOL);
    os_backward_seeded(out, ref_tensor(f, "r"));
    ref_compare(f, "grad_x", x->grad, OP_ATOL, OP_RTOL);
    ref_compare(f, "grad_w", w->grad, OP_ATOL, OP_RTOL);
    if (b)
        ref_compare(f, "grad_b", b->grad, OP_ATOL, OP_RTOL);
    finish(f, &g);
}

Test(ref_conv, conv_3x3_p1) { conv_case("conv_3x3_p1"); }
Test(ref_conv, conv_3x3_s2) { conv_case("conv_3x3_s2"); }
Test(ref_conv, conv_3x3_d2) { conv_case("conv_3x3_d2"); }
Test(ref_conv, conv_1x1) { conv_case("conv_1x1"); }
Test(ref_conv, conv_1x1_s2) { conv_case("conv_1x1_s2"); }
Test(ref_conv, dw_3x3_s1) { conv_case("dw_3x3_s1"); }
Test(ref_conv, dw_3x3_s2) { conv_case("dw_3x3_s2"); }
Test(ref_conv, dw_5x5_s1) { conv_case("dw_5x5_s1"); }
Test(ref_conv, dw_5x5_s2) { conv_case("dw_5x5_s2"); }
Test(ref_conv, dw_3x3_d2) { conv_case("dw_3x3_d2"); }
Test(ref_conv, dw_5x5_d2) { conv_case("dw_5x5_d2"); }
Test(ref_conv, dw_3x3_d2_s2) { conv_case("dw_3x3_d2_s2"); }
Test(ref_conv, dw_7x7_s1) { conv_case("dw_7x7_s1"); }
Test(ref_conv, dw_7x7_s2) { conv_case("dw_7x7_s2"); }

/* ---- batch norm ---------------------------------------------------------------- */
static os_tensor *persistent_from(os_st_file *f, const char *name)
{
    const os_st_info *in = os_st_find(f, name);
    cr_assert_not_null(in);
    int n = (int)in->numel;
    os_tensor *t = os_tensor_new_persistent(OS_CPU, 1, &n);
    cr_assert_eq(os_st_read_into(f, name, t), 0, "%s", os_last_error());
    return t;
}

static void bn_case(const char *name)
{
    os_st_file *f = ref_open(name);
    os_params g = {0};
    int training = ref_meta_int(f, "training"), affine = ref_meta_int(f, "affine");
    os_tensor *x = ref_param(f, "x", &g);
    os_tensor *gamma = affine ? ref_param(f, "gamma", &g) : NULL;
    os_tensor *beta = affine ? ref_param(f, "beta", &g) : NULL;
    os_tensor *rm = persistent_from(f, "running_mean"), *rv = persistent_from(f, "running_var");
    os_tensor *out = os_batch_norm(x, gamma, beta, rm, rv, training, ref_meta_float(f, "momentum"),
                                   ref_meta_float(f, "eps"));
    ref_compare(f, "out", out, OP_ATOL, OP_RTOL);
    os_backward_seeded(out, ref_tensor(f, "r"));
    ref_compare(f, "grad_x", x->grad, OP_ATOL, OP_RTOL);
    if (affine) {
        ref_compare(f, "grad_gamma", gamma->grad, OP_ATOL, OP_RTOL);
        ref_compare(f, "grad_beta", beta->grad, OP_ATOL, OP_RTOL);
    }
    ref_compare(f, training ? "running_mean_after" : "running_mean", rm, OP_ATOL, OP_RTOL);
    ref_compare(f, training ? "running_var_after" : "running_var", rv, OP_ATOL, OP_RTOL);
    os_tensor_free(rm);
    os_tensor_free(rv);
    finish(f, &g);
}

Test(ref_bn, train_affine) { bn_case("bn_train_affine"); }
Test(ref_bn, train_plain) { bn_case("bn_train_plain"); }
Test(ref_bn, eval_affine) { bn_case("bn_eval_affine"); }
Test(ref_bn, eval_plain) { bn_case("bn_eval_plain"); }
Test(ref_bn, train_eps_1e3) { bn_case("bn_train_eps1e-3"); }
Test(ref_bn, eval_eps_1e3) { bn_case("bn_eval_eps1e-3"); }

/* ---- relu6 ------------------------------------------------------------------------- */
Test(ref_act, relu6)
{
    os_st_file *f = ref_open("relu6");
    os_params g = {0};
    os_tensor *x = ref_param(f, "x", &g);
    os_tensor *out = os_relu6(x);
    ref_compare(f, "out", out, OP_ATOL, OP_RTOL);
    os_backward_seeded(out, ref_tensor(f, "r"));
    ref_compare(f, "grad_x", x->grad, OP_ATOL, OP_RTOL);
    finish(f, &g);
}

/* ---- pooling ---------------------------------------------------------------------- */
static void pool_case(const char *name, int max)
{
    os_st_file *f = ref_open(name);
    os_params g = {0};
    os_tensor *x = ref_param(f, "x", &g);
    int k = ref_meta_int(f, "kernel"), s = ref_meta_int(f, "stride"), p = ref_meta_int(f, "pad");
    os_tensor *out = max ? os_max_pool2d(x, k, s, p) : os_avg_pool2d(x, k, s, p);
    ref_compare(f, "out", out, OP_ATOL, OP_RTOL);
    os_backward_seeded(out, ref_tensor(f, "r"));
    ref_compare(f, "grad_x", x->grad, OP_ATOL, OP_RTOL);
    finish(f, &g);
}

Test(ref_pool, max_3x3_s1) { pool_case("maxpool_3x3_s1", 1); }
Test(ref_pool, max_3x3_s2) { pool_case("maxpool_3x3_s2", 1); }
Test(ref_pool, avg_3x3_s1) { pool_case("avgpool_3x3_s1", 0); }
Test(ref_pool, avg_3x3_s2) { pool_case("avgpool_3x3_s2", 0); }

/* ---- softmax and cross-entropy ----------------------------------------------------- */
static void softmax_case(const char *name, int log)
{
    os_st_file *f = ref_open(name);
    os_params g = {0};
    os_tensor *x = ref_param(f, "x", &g);
    int dim = ref_meta_int(f, "dim");
    os_tensor *out = log ? os_log_softmax(x, dim) : os_softmax(x, dim);
    ref_compare(f, "out", out, OP_ATOL, OP_RTOL);
    os_backward_seeded(out, ref_tensor(f, "r"));
    ref_compare(f, "grad_x", x->grad, OP_ATOL, OP_RTOL);
    finish(f, &g);
}

Test(ref_softmax, softmax_4d) { softmax_case("softmax_4d", 0); }
Test(ref_softmax, log_softmax_4d) { softmax_case("log_softmax_4d", 1); }
Test(ref_softmax, softmax_2d) { softmax_case("softmax_2d", 0); }
Test(ref_softmax, log_softmax_2d) { softmax_case("log_softmax_2d", 1); }

static void xent_case(const char *name)
{
    os_st_file *f = ref_open(name);
    os_params g = {0};
    os_tensor *logits = ref_param(f, "logits", &g);
    int32_t *labels = os_st_read_i32(f, "labels", NULL);
    cr_assert_not_null(labels, "%s", os_last_error());
    os_tensor *loss = os_cross_entropy(logits, labels, ref_meta_float(f, "label_smoothing"));
    ref_compare(f, "out", loss, OP_ATOL, OP_RTOL);
    os_backward_seeded(loss, ref_tensor(f, "r"));
    ref_compare(f, "grad_logits", logits->grad, OP_ATOL, OP_RTOL);
    free(labels);
    finish(f, &g);
}

Test(ref_xent, plain) { xent_case("xent_plain"); }
Test(ref_xent, label_smoothing) { xent_case("xent_smooth"); }

/* ---- optimizers --------------------------------------------------------------------- */
/* 3 steps with torch's gradients; params compared after every step */
static void optim_case(const char *name)
{
    os_st_file *f = ref_open(name);
    os_params g = {0};
    os_tensor *p[2] = {ref_param(f, "param0.w", &g), ref_param(f, "param0.b", &g)};
    const char *key[2] = {"w", "b"};
    os_optim *o;
    if (!strcmp(ref_meta(f, "kind"), "sgd"))
        o = os_optim_sgd(&g, &(os_sgd_config){
                                 .lr = ref_meta_float(f, "lr"), .momentum = ref_meta_float(f, "momentum"),
                                 .dampening = ref_meta_float(f, "dampening"),
                                 .weight_decay = ref_meta_float(f, "weight_decay"),
                                 .nesterov = ref_meta_int(f, "nesterov")});
    else
        o = os_optim_adam(&g, &(os_adam_config){
                                  .lr = ref_meta_float(f, "lr"), .beta1 = ref_meta_float(f, "beta1"),
                                  .beta2 = ref_meta_float(f, "beta2"), .eps = ref_meta_float(f, "eps"),
                                  .weight_decay = ref_meta_float(f, "weight_decay")});
    int steps = ref_meta_int(f, "steps");
    for (int t = 1; t <= steps; t++) {
        char nm[32];
        for (int i = 0; i < 2; i++) {
            snprintf(nm, sizeof nm, "grad%d.%s", t, key[i]);
            cr_assert_eq(os_st_read_into(f, nm, p[i]->grad), 0, "%s", os_last_error());
        }
        os_optim_step(o);
        for (int i = 0; i < 2; i++) {
            snprintf(nm, sizeof nm, "param%d.%s", t, key[i]);
            ref_compare(f, nm, p[i], OPT_ATOL, OPT_RTOL);
        }
    }
    cr_expect_eq(os_optim_steps(o), steps);
    os_optim_free(o);
    finish(f, &g);
}

Test(ref_optim, sgd_momentum) { optim_case("optim_sgd_momentum"); }
Test(ref_optim, sgd_nesterov) { optim_case("optim_sgd_nesterov"); }
Test(ref_optim, sgd_plain) { optim_case("optim_sgd_plain"); }
Test(ref_optim, sgd_strong_wd_dampening) { optim_case("optim_sgd_strong_wd"); }
Test(ref_optim, adam_darts) { optim_case("optim_adam_darts"); }
Test(ref_optim, adam_default) { optim_case("optim_adam_default"); }
Test(ref_optim, adam_big_eps) { optim_case("optim_adam_big_eps"); }
Test(ref_optim, adam_strong_wd) { optim_case("optim_adam_strong_wd"); }

static void clip_case(const char *name)
{
    os_st_file *f = ref_open(name);
    os_params g = {0};
    os_tensor *w = ref_param(f, "grad_in.w", &g), *b = ref_param(f, "grad_in.b", &g);
    cr_assert_eq(os_st_read_into(f, "grad_in.w", w->grad), 0);
    cr_assert_eq(os_st_read_into(f, "grad_in.b", b->grad), 0);
    float norm = os_clip_grad_norm(&g, ref_meta_float(f, "max_norm"));
    os_tensor *nt = os_tensor_new(1, (int[]){1});
    nt->data[0] = norm;
    ref_compare(f, "total_norm", nt, OPT_ATOL, OPT_RTOL);
    ref_compare(f, "grad_out.w", w->grad, OPT_ATOL, OPT_RTOL);
    ref_compare(f, "grad_out.b", b->grad, OPT_ATOL, OPT_RTOL);
    finish(f, &g);
}

Test(ref_optim, clip_grad_norm_clips) { clip_case("clip_grad_norm_1"); }
Test(ref_optim, clip_grad_norm_noop) { clip_case("clip_grad_norm_100"); }

/* CosineAnnealingLR (torch steps it recursively) against our closed form */
Test(ref_optim, cosine_lr)
{
    os_st_file *f = ref_open("cosine_lr");
    int t_max = ref_meta_int(f, "t_max");
    float lr0 = ref_meta_float(f, "lr0"), eta_min = ref_meta_float(f, "eta_min");
    os_tensor *lr = os_tensor_new(1, (int[]){t_max + 1});
    for (int e = 0; e <= t_max; e++)
        lr->data[e] = os_cosine_lr(lr0, eta_min, e, t_max);
    ref_compare(f, "lr", lr, 1e-8, 1e-6);
    os_st_close(f);
    os_step_reset();
}
