/* tests/test_supernet.c — the choice primitives: mixing modes of a layer
 * choice (softmax, Gumbel soft/hard, fixed) and an input choice. */
#include <math.h>

#include "tests/test_util.h"
#include "supernet/supernet.h"

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

static os_tensor *gc_layer_choice(os_tensor *const *in, void *vc)
{
    lc_ctx *c = vc;
    os_net_prepare_mix(c->net, &c->ctx);
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
    lc_ctx c = {&net, 0, {.training = true, .mode = OS_MIX_SOFTMAX}};
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

Test(supernet, layer_choice_gumbel_soft_hard_fixed)
{
    os_rng r, g;
    os_rng_seed(&r, 4);
    os_net net;
    make_net(&net, &r);
    os_tensor *x = tu_param4(&r, 1, 2, 2, 2, 0.5f, 1.5f, 0);
    /* soft Gumbel: gradient reaches alpha (the noise is fixed by re-seeding) */
    for (int mode = OS_MIX_GUMBEL; mode <= OS_MIX_GUMBEL_HARD; mode++) {
        os_rng_seed(&g, 11);
        lc_ctx c = {&net, 0, {.training = true, .mode = (os_mix_mode)mode, .tau = 0.7f, .rng = &g}};
        os_net_prepare_mix(&net, &c.ctx);
        os_tensor *y = os_layer_choice_forward(&net, 0, cand, NULL, x, &c.ctx);
        if (mode == OS_MIX_GUMBEL_HARD) {
            /* forward: exactly one candidate, weight 1 */
            int k = net.mix[0].active;
            cr_assert(k >= 0 && k < 3);
            float h[8];
            os_tensor_to_host(y, h);
            for (int i = 0; i < 8; i++) {
                float v = x->data[i], want = k == 0 ? 0 : k == 1 ? 2 * v : v * v;
                cr_expect(fabsf(h[i] - want) < 1e-6f, "hard sample %d element %d: %g vs %g", k, i, h[i], want);
            }
        }
        os_params_zero_grad(&net.arch);
        os_backward_seeded(y, os_tensor_zeros(4, y->shape));
        os_step_reset();
    }
    /* the hard sample's straight-through gradient reaches every alpha */
    os_rng_seed(&g, 11);
    lc_ctx c = {&net, 0, {.training = true, .mode = OS_MIX_GUMBEL_HARD, .tau = 0.7f, .rng = &g}};
    os_params_zero_grad(&net.arch);
    os_net_prepare_mix(&net, &c.ctx);
    os_tensor *y = os_layer_choice_forward(&net, 0, cand, NULL, x, &c.ctx);
    os_tensor *ones = os_tensor_like(y);
    os_tensor_fill(ones, 1.0f);
    os_backward_seeded(y, ones);
    float ga[3];
    os_tensor_to_host(net.choices[0].alpha->grad, ga);
    cr_expect(ga[0] != 0 && ga[1] != 0 && ga[2] != 0, "alpha grads %g %g %g", ga[0], ga[1], ga[2]);
    os_step_reset();
    /* fixed: the chosen candidate, no mixing weights */
    net.choices[0].fixed = 2;
    os_forward_ctx fc = {.training = true, .mode = OS_MIX_FIXED};
    os_net_prepare_mix(&net, &fc);
    y = os_layer_choice_forward(&net, 0, cand, NULL, x, &fc);
    cr_expect(net.mix[0].w == NULL, "fixed mode has no mixing weights");
    for (int i = 0; i < 8; i++)
        cr_expect(fabsf(y->data[i] - x->data[i] * x->data[i]) < 1e-6f, "fixed element %d", i);
    os_tensor_free(x);
    os_net_free(&net);
    os_step_reset();
}

typedef struct { os_net *net; os_forward_ctx ctx; } ic_ctx;

static os_tensor *gc_input_choice(os_tensor *const *in, void *vc)
{
    ic_ctx *c = vc;
    os_net_prepare_mix(c->net, &c->ctx);
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
    ic_ctx c = {&net, {.training = true, .mode = OS_MIX_SOFTMAX}};
    TU_GRADCHECK(gc_input_choice, &c, 4, in, 1e-2f, 1e-3f, 1e-2f);
    /* fixed: keep inputs 0 and 2 */
    net.choices[1].fixed_mask = 5;
    c.ctx.mode = OS_MIX_FIXED;
    os_tensor *y = gc_input_choice(in, &c);
    for (int i = 0; i < 18; i++)
        cr_expect(fabsf(y->data[i] - (in[0]->data[i] + in[2]->data[i])) < 1e-6f);
    TU_EXPECT_FATAL(os_input_choice_forward(&net, 1, 2, in, &c.ctx), "input choice", "ic", "2 inputs");
    for (int i = 0; i < 3; i++)
        os_tensor_free(in[i]);
    os_net_free(&net);
    os_step_reset();
}
