/* tests/test_proxyless_ref.c — one architecture step of the proxyless
 * strategy against PyTorch (tests/ref/gen_proxyless.py, which follows
 * mit-han-lab/proxylessnas mode "two": binary gates, the gate formula on top
 * of the mul#log latency term, no gradient when `none` is active, Adam with
 * betas (0, 0.999), the rescaling of the sampled pair).
 *
 * The network is gen_supernet.py's tiny DARTS search network (cifar_cell: 3
 * cells, C = 4, input 3x8x8, 10 classes, batch 2; weights, alphas and the
 * validation batch from supernet_darts.safetensors); the sampled pair of
 * every choice and the latency table come from proxyless_step.safetensors.
 * Compared: the cross-entropy, dL/dg of both sampled gates of every choice,
 * dL/dalpha, and the alphas after the step. Tolerances are those of
 * tests/test_supernet_parity.c (the same ill-conditioned network): per
 * tensor |ours - ref| <= 1e-3 * max|ref| + 1e-3 * |ref|, and a relative L2
 * error under 1e-3 over all alpha gradients; float32 PyTorch uses at most 6 %
 * of that allowance (gen_proxyless.py prints it). After the step the alphas
 * must agree to 2e-6 (one Adam step with beta1 0 moves each by about lr). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "tests/test_util.h"
#include "tests/ds_util.h"
#include "tests/ref_util.h"
#include "tensor/safetensors.h"
#include "tensor/backend.h"
#include "search/proxyless.h"
#include "search/trainer.h"
#include "supernet/spaces/spaces.h"

#define WEIGHTS "tests/ref/fixtures/supernet_darts.safetensors"
#define STEP "tests/ref/fixtures/proxyless_step.safetensors"

/* worst |d| / (1e-3 max|ref| + 1e-3 |ref|) over the entries in mask */
static double worst_of(const float *ours, const float *ref, int n, unsigned mask)
{
    double mx = 0, w = 0;
    for (int j = 0; j < n; j++)
        if ((mask >> j) & 1u)
            mx = fmax(mx, fabs(ref[j]));
    for (int j = 0; j < n; j++)
        if ((mask >> j) & 1u)
            w = fmax(w, fabs(ours[j] - ref[j]) / (1e-3 * mx + 1e-3 * fabs(ref[j]) + 1e-12));
    return w;
}

Test(proxyless_ref, two_path_step_matches_pytorch, .timeout = 60)
{
    os_set_threads(1);
    os_st_file *wf = os_st_open(WEIGHTS), *sf = os_st_open(STEP);
    cr_assert_not_null(wf, "%s (tests run from the repository root; `make ref` makes the fixtures)", os_last_error());
    cr_assert_not_null(sf, "%s", os_last_error());
    os_net net;
    os_space_opts o = {.cells = 3, .channels = 4, .in_c = 3, .in_h = 8, .in_w = 8, .num_classes = 10, .seed = 1};
    cr_assert_eq(os_space_cifar_cell.build(&net, &o), 0, "%s", os_last_error());
    const os_params *groups[2] = {&net.weights, &net.arch};
    for (int g = 0; g < 2; g++)
        for (int i = 0; i < groups[g]->n; i++)
            cr_assert_eq(os_st_read_into(wf, groups[g]->t[i]->name, groups[g]->t[i]), 0, "%s", os_last_error());
    float *x = ref_read_f32(wf, "x_val", 2L * 3 * 8 * 8);
    const os_st_info *yi;
    int32_t *y = os_st_read_i32(wf, "y_val", &yi);
    cr_assert_not_null(y);
    os_batch val = {.x = x, .y = y, .n = 2};

    /* the table and the pairs */
    int n = net.n_choices, act[64], other[64];
    cr_assert(n == 28, "%d choices", n);
    char dir[256], table[512];
    du_tmpdir(dir, sizeof dir);
    snprintf(table, sizeof table, "%s/lat.json", dir);
    cJSON *root = cJSON_CreateObject();
    float *fixed = ref_read_f32(sf, "latency_fixed", 1);
    cJSON_AddNumberToObject(root, "fixed", fixed[0]);
    free(fixed);
    for (int i = 0; i < n; i++) {
        const os_choice *c = &net.choices[i];
        char key[96];
        snprintf(key, sizeof key, "latency/%s", c->label);
        float *lat = ref_read_f32(sf, key, c->n);
        cJSON *row = cJSON_AddObjectToObject(root, c->label);
        for (int j = 0; j < c->n; j++)
            cJSON_AddNumberToObject(row, c->names[j], lat[j]);
        free(lat);
        snprintf(key, sizeof key, "pair/%s", c->label);
        int32_t *p = os_st_read_i32(sf, key, &yi);
        cr_assert_not_null(p, "%s", os_last_error());
        act[i] = p[0];
        other[i] = p[1];
        free(p);
    }
    char *txt = cJSON_Print(root);
    FILE *tf = fopen(table, "w");
    fputs(txt, tf);
    fclose(tf);
    free(txt);
    cJSON_Delete(root);

    const os_strategy *st = os_strategy_find("proxyless");
    void *opts = calloc(1, st->options_size);
    os_options_defaults(st->options, st->n_options, opts);
    const char *kv[] = {"warmup-epochs", "0", "latency-table", table, "latency-target", os_st_meta(sf, "target"),
                        "latency-loss", "mul-log", "latency-alpha", os_st_meta(sf, "alpha"), "latency-beta",
                        os_st_meta(sf, "beta")};
    for (int k = 0; k < 12; k += 2)
        cr_assert_eq(os_options_set(st->options, st->n_options, opts, kv[k], kv[k + 1]), 0, "%s", os_last_error());
    os_trainer t;
    os_train_settings ts = {.search = 1, .epochs = 1, .batch = 2, .seed = 1, .lr = 0.025f, .momentum = 0.9f};
    cr_assert_eq(os_trainer_init(&t, &net, &os_space_cifar_cell, &ts, st, opts), 0, "%s", os_last_error());
    free(opts);

    double ce = os_proxyless_arch_step(t.state, &val, act, other, 1);
    float *ce_ref = ref_read_f32(sf, "ce", 1);
    cr_expect(fabs(ce - ce_ref[0]) <= 1e-5 * fabs(ce_ref[0]), "cross-entropy %.8g, PyTorch %.8g", ce, ce_ref[0]);
    free(ce_ref);

    double wg = 0, wa = 0, wafter = 0, d2 = 0, r2 = 0;
    for (int i = 0; i < n; i++) {
        const os_choice *c = &net.choices[i];
        char key[96];
        float ours[OS_MAX_CANDIDATES];
        unsigned pair = 1u << act[i] | 1u << other[i];
        snprintf(key, sizeof key, "gate_grad/%s", c->label);
        float *ref = ref_read_f32(sf, key, c->n);
        os_tensor_to_host(os_proxyless_gate(t.state, i)->grad, ours);
        double w = worst_of(ours, ref, c->n, pair);
        cr_expect(w <= 1, "%s: dL/dg %g %g, PyTorch %g %g", c->label, ours[act[i]], ours[other[i]], ref[act[i]],
                  ref[other[i]]);
        wg = fmax(wg, w);
        free(ref);

        snprintf(key, sizeof key, "alpha_grad/%s", c->label);
        ref = ref_read_f32(sf, key, c->n);
        os_tensor_to_host(c->alpha->grad, ours);
        w = worst_of(ours, ref, c->n, os_mask_all(c->n));
        cr_expect(w <= 1, "%s: dL/dalpha differs (%.3g of the allowance)", c->label, w);
        wa = fmax(wa, w);
        for (int j = 0; j < c->n; j++) {
            d2 += (ours[j] - ref[j]) * (double)(ours[j] - ref[j]);
            r2 += ref[j] * (double)ref[j];
            if (!((pair >> j) & 1u) || act[i] == c->zero_index)
                cr_expect_eq(ours[j], 0.0f, "%s candidate %d: gradient %g, expected none", c->label, j, ours[j]);
        }
        free(ref);

        snprintf(key, sizeof key, "alpha_after/%s", c->label);
        ref = ref_read_f32(sf, key, c->n);
        os_tensor_to_host(c->alpha, ours);
        for (int j = 0; j < c->n; j++) {
            cr_expect(fabs(ours[j] - ref[j]) <= 2e-6, "%s candidate %d: alpha after the step %.8g, PyTorch %.8g",
                      c->label, j, ours[j], ref[j]);
            wafter = fmax(wafter, fabs(ours[j] - ref[j]));
        }
        free(ref);
    }
    double l2 = sqrt(d2 / r2);
    cr_expect(l2 <= 1e-3, "alpha gradients: relative L2 error %.3g", l2);
    if (getenv("OS_REF_VERBOSE"))
        fprintf(stderr, "proxyless_ref: gates worst %.3g, alpha grads worst %.3g (L2 %.3g) of the allowance, "
                        "alphas after the step max |d| %.3g\n", wg, wa, l2, wafter);
    os_trainer_free(&t);
    os_net_free(&net);
    free(x);
    free(y);
    os_st_close(wf);
    os_st_close(sf);
    du_rmtree(dir);
}
