/* tests/test_enas_spaces.c — the ENAS spaces (supernet/spaces/enas_macro.c,
 * enas_micro.c): labels, order and src of the choices, the reduction
 * positions, children equal to supernet paths (same parameters and
 * multiply-adds), NNI label round trips, bad architectures named by label,
 * and a search + retrain through the CLI on tiny data. */
#include <math.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "tests/test_util.h"
#include "tests/cli_util.h"
#include "search/path.h"
#include "supernet/arch.h"
#include "supernet/spaces/spaces.h"
#include "ops/count.h"
#include "tensor/backend.h"

static os_space_opts opts(int cells, int channels, const os_arch *arch)
{
    return (os_space_opts){.cells = cells, .channels = channels, .in_c = 1, .in_h = 8, .in_w = 8, .num_classes = 3,
                           .seed = 4, .arch = arch};
}

static int has_weight(const os_net *net, const char *name)
{
    for (int i = 0; i < net->weights.n; i++)
        if (!strcmp(net->weights.t[i]->name, name))
            return 1;
    return 0;
}

static const os_tensor *weight(const os_net *net, const char *name)
{
    for (int i = 0; i < net->weights.n; i++)
        if (!strcmp(net->weights.t[i]->name, name))
            return net->weights.t[i];
    return NULL;
}

/* ---- enas_macro ------------------------------------------------------------------------ */
Test(enas_macro, labels_order_src_and_reductions)
{
    const os_space *sp = os_space_find("enas_macro");
    cr_assert(sp);
    os_net net;
    os_space_opts o = opts(12, 4, NULL);
    cr_assert_eq(sp->build(&net, &o), 0, "%s", os_last_error());
    cr_expect_eq(net.n_choices, 23);
    static const char *const ops[6] = {"conv_3x3",     "conv_5x5",     "sep_conv_3x3",
                                       "sep_conv_5x5", "avg_pool_3x3", "max_pool_3x3"};
    int at = 0;
    for (int i = 0; i < 12; i++) {
        char label[32];
        snprintf(label, sizeof label, "op_%d", i);
        const os_choice *c = &net.choices[at];
        cr_expect_str_eq(c->label, label, "choice %d", at);
        cr_expect_eq(c->kind, OS_CHOICE_LAYER);
        cr_expect_eq(c->n, 6);
        for (int k = 0; k < 6; k++)
            cr_expect_str_eq(c->names[k], ops[k]);
        at++;
        if (!i)
            continue;
        snprintf(label, sizeof label, "skip_%d", i);
        c = &net.choices[at];
        cr_expect_str_eq(c->label, label, "choice %d", at);
        cr_expect_eq(c->kind, OS_CHOICE_INPUT);
        cr_expect_eq(c->k, 0, "a subset choice");
        cr_expect_eq(c->n, i);
        for (int j = 0; j < i; j++) {
            char want[32];
            snprintf(want, sizeof want, "op_%d", j);
            cr_expect(c->src[j] >= 0 && !strcmp(net.choices[c->src[j]].label, want), "%s input %d: src %d", label,
                      j, c->src[j]);
        }
        at++;
    }
    /* factorized reductions after layers 3 and 7, of every layer so far */
    for (int i = 0; i < 12; i++)
        for (int j = 0; j <= i; j++) {
            char nm[64];
            snprintf(nm, sizeof nm, "pool_at_%d.from_%d.conv1", i, j);
            cr_expect_eq(has_weight(&net, nm), i == 3 || i == 7, "%s", nm);
        }
    os_net_free(&net);
    /* the defaults: 12 layers, 36 channels */
    o = opts(0, 0, NULL);
    o.in_h = o.in_w = 32;
    cr_assert_eq(sp->build(&net, &o), 0, "%s", os_last_error());
    cr_expect_eq(net.cells, 12);
    cr_expect_eq(net.channels, 36);
    os_net_free(&net);
    /* bad sizes are named */
    o = opts(3, 3, NULL);
    cr_expect_eq(sp->build(&net, &o), -1);
    cr_expect(strstr(os_last_error(), "--channels"), "%s", os_last_error());
    o = opts(12, 4, NULL);
    o.in_h = 6;
    cr_expect_eq(sp->build(&net, &o), -1);
    cr_expect(strstr(os_last_error(), "divisible by 4"), "%s", os_last_error());
}

/* child and supernet path: the same parameters and multiply-adds */
static void child_is_the_path(const char *space, int cells)
{
    os_set_threads(1);
    const os_space *sp = os_space_find(space);
    cr_assert(sp, "%s", space);
    os_net sup;
    os_space_opts o = opts(cells, 4, NULL);
    cr_assert_eq(sp->build(&sup, &o), 0, "%s", os_last_error());
    os_path_space ps;
    cr_assert_eq(os_path_space_init(&ps, &sup, sp, 1), 0, "%s", os_last_error());
    os_rng r;
    os_rng_seed(&r, 21);
    os_arch path = {0};
    int empty = 0;
    for (int t = 0; t < 12; t++) {
        os_path_sample(&ps, &r, &path);
        for (int i = 0; i < path.n; i++)
            empty += path.c[i].chosen == OS_CHOSEN_NONE;
        os_arch child;
        cr_assert_eq(sp->derive(&path, NULL, &child), 0, "%s", os_last_error());
        os_net cn;
        os_space_opts co = opts(cells, 4, &child);
        cr_assert_eq(sp->build(&cn, &co), 0, "%s", os_last_error());
        cr_expect_eq(cn.n_choices, 0);
        os_cost cc, pc;
        os_net_cost(&cn, &cc);
        os_net_choose_arch(&sup, &path);
        os_net_cost(&sup, &pc);
        cr_expect_eq(cc.params, pc.params, "%s path %d: child %lld params, path %lld", space, t,
                     (long long)cc.params, (long long)pc.params);
        cr_expect_eq(cc.macs, pc.macs, "%s path %d: child %lld madds, path %lld", space, t, (long long)cc.macs,
                     (long long)pc.macs);
        /* and the export loads back to the same child */
        char *txt = os_arch_json(sp, &child, NULL);
        const os_space *got;
        os_arch back;
        cr_assert_eq(os_arch_parse_json(txt, "t", NULL, &got, &back), 0, "%s\n%s", os_last_error(), txt);
        cr_expect_eq(got, sp);
        cr_expect(os_arch_equal(&back, &child), "%s", txt);
        os_arch_free(&back);
        free(txt);
        os_net_free(&cn);
        os_arch_free(&child);
    }
    if (!strcmp(space, "enas_macro"))
        cr_expect_gt(empty, 0, "some sampled skip subsets are empty");
    os_arch_free(&path);
    os_path_space_free(&ps);
    os_net_free(&sup);
    os_step_reset();
}

Test(enas_macro, child_is_the_supernet_path, .timeout = 120) { child_is_the_path("enas_macro", 6); }

/* with the supernet's weights (same names), a child computes what the
 * supernet computes on its path: the same logits */
Test(enas_macro, child_with_the_supernet_weights_computes_the_path, .timeout = 120)
{
    os_set_threads(1);
    const os_space *sp = os_space_find("enas_macro");
    os_net sup;
    os_space_opts o = opts(6, 4, NULL);
    cr_assert_eq(sp->build(&sup, &o), 0, "%s", os_last_error());
    os_path_space ps;
    cr_assert_eq(os_path_space_init(&ps, &sup, sp, 0), 0, "%s", os_last_error());
    os_rng r;
    os_rng_seed(&r, 5);
    os_tensor *x = os_tensor_new_persistent(os_default_device(), 4, (int[]){2, 1, 8, 8});
    for (int i = 0; i < 128; i++)
        x->data[i] = sinf(0.29f * (float)i);
    os_arch path = {0};
    for (int t = 0; t < 6; t++) {
        os_path_sample(&ps, &r, &path);
        os_arch child;
        cr_assert_eq(sp->derive(&path, NULL, &child), 0, "%s", os_last_error());
        os_net cn;
        os_space_opts co = opts(6, 4, &child);
        co.seed = 99; /* other initial weights, then the supernet's copied in */
        cr_assert_eq(sp->build(&cn, &co), 0, "%s", os_last_error());
        for (int i = 0; i < cn.weights.n; i++) {
            os_tensor *w = cn.weights.t[i];
            const os_tensor *sw = weight(&sup, w->name);
            cr_assert(sw && os_numel(sw) == os_numel(w), "%s: no such supernet weight", w->name);
            memcpy(w->data, sw->data, sizeof(float) * (size_t)os_numel(w));
        }
        os_forward_ctx ctx = {.training = false};
        float ys[6], yc[6];
        os_net_choose_arch(&sup, &path);
        os_tensor_to_host(sup.forward(&sup, x, &ctx, NULL), ys);
        os_step_reset();
        os_tensor_to_host(cn.forward(&cn, x, &ctx, NULL), yc);
        os_step_reset();
        for (int i = 0; i < 6; i++)
            cr_expect(fabsf(ys[i] - yc[i]) <= 1e-5f * (1 + fabsf(ys[i])), "path %d logit %d: supernet %g, child %g", t,
                      i, ys[i], yc[i]);
        os_net_free(&cn);
        os_arch_free(&child);
    }
    os_tensor_free(x);
    os_arch_free(&path);
    os_path_space_free(&ps);
    os_net_free(&sup);
}

static int load(const char *json, os_arch *a)
{
    const os_space *sp;
    return os_arch_parse_json(json, "arch.json", "enas_macro", &sp, a);
}

Test(enas_macro, labels_load_and_bad_skips_are_named)
{
    os_arch a;
    const char *ok = "{\"op_0\": \"conv_5x5\", \"op_1\": \"max_pool_3x3\", \"skip_1\": [0], \"op_2\": \"sep_conv_3x3\", "
                     "\"skip_2\": []}";
    cr_assert_eq(load(ok, &a), 0, "%s", os_last_error());
    cr_expect_eq(a.n, 5);
    cr_expect_eq(a.c[os_arch_find(&a, "skip_1")].chosen, 1u);
    cr_expect_eq(a.c[os_arch_find(&a, "skip_2")].chosen, OS_CHOSEN_NONE);
    cJSON *j = os_arch_to_nni(&a);
    char *t = cJSON_PrintUnformatted(j);
    cr_expect_str_eq(t, "{\"op_0\":\"conv_5x5\",\"op_1\":\"max_pool_3x3\",\"skip_1\":[0],\"op_2\":\"sep_conv_3x3\","
                        "\"skip_2\":[]}");
    free(t);
    cJSON_Delete(j);
    /* a 3-layer child builds with --cells 0 or 3, not with another count */
    os_net net;
    os_space_opts o = opts(0, 4, &a);
    const os_space *sp = os_space_find("enas_macro");
    cr_assert_eq(sp->build(&net, &o), 0, "%s", os_last_error());
    cr_expect_eq(net.cells, 3);
    os_net_free(&net);
    o.cells = 5;
    cr_expect_eq(sp->build(&net, &o), -1);
    cr_expect(strstr(os_last_error(), "--cells 5") && strstr(os_last_error(), "3 layers"), "%s", os_last_error());
    os_arch_free(&a);
    static const char *const bad[][2] = {
        {"{\"op_0\": \"conv_3x3\", \"op_1\": \"conv_3x3\", \"skip_1\": [1]}", "'skip_1': skip input 1 is the layer itself"},
        {"{\"op_0\": \"conv_3x3\", \"op_1\": \"conv_3x3\", \"skip_1\": [0], \"op_2\": \"conv_3x3\", \"skip_2\": [0, 4]}",
         "'skip_2': skip input 4 is a later layer"},
        {"{\"op_0\": \"conv_3x3\", \"op_1\": \"conv_3x3\", \"skip_1\": [-1]}", "'skip_1'"},
        {"{\"op_0\": \"conv_3x3\", \"op_1\": \"conv_3x3\"}", "'skip_1' is missing"},
        {"{\"op_0\": \"conv_7x7\"}", "'op_0': unknown op 'conv_7x7'"},
        {"{\"op_0\": \"conv_3x3\", \"op_2\": \"conv_3x3\"}", "unknown key 'op_2'"},
        {"{\"op_1\": \"conv_3x3\"}", "'op_0' is missing"},
        {"{\"op_0\": \"conv_3x3\", \"op_1\": \"conv_3x3\", \"skip_1\": 0}", "'skip_1' must be a list"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        cr_expect_eq(load(bad[i][0], &a), OS_ARCH_MISFIT, "%s accepted", bad[i][0]);
        cr_expect(strstr(os_last_error(), bad[i][1]), "%s: '%s' lacks '%s'", bad[i][0], os_last_error(), bad[i][1]);
    }
}

Test(enas_macro, search_and_retrain_through_the_cli, .timeout = 300)
{
    char dir[256];
    cu_tmpdir(dir, sizeof dir);
    cu_make_data(dir, "data", 8);
    const char *net = "--space enas_macro --cells 3 --channels 4 --batch 8 --threads 1 --log-every 1 --cutout 0";
    cr_assert_eq(cu_run(dir, "s", NULL, "train --data %s/data %s --strategy spos --epochs 1 --out %s/s", dir, net, dir),
                 0, "%s", cu_slurp2(dir, "s.err"));
    /* evolution over the trained supernet (subset skips mutated and crossed), and its pictures */
    cr_assert_eq(cu_run(dir, "e", NULL, "evolve --run %s/s --population 6 --generations 2 --top 3 --mutations 3 "
                        "--crossovers 3 --bn-batches 1 --val-batches 1 --threads 1 --out %s/e", dir, dir),
                 0, "%s", cu_slurp2(dir, "e.err"));
    cr_assert_eq(cu_run(dir, "p", NULL, "plot --run %s/s --out %s/p", dir, dir), 0, "%s", cu_slurp2(dir, "p.err"));
    char arch[600];
    snprintf(arch, sizeof arch, "%s/e/arch.json", dir);
    cr_assert_eq(cu_run(dir, "r", NULL, "retrain --data %s/data %s --arch %s --epochs 1 --out %s/r", dir, net, arch,
                        dir),
                 0, "%s", cu_slurp2(dir, "r.err"));
    /* a skip to the layer itself: the label named; exit 2 as for every
     * architecture that does not fit its space (README "exit status") */
    {
        const char *b = "{\"op_0\": \"conv_3x3\", \"op_1\": \"avg_pool_3x3\", \"skip_1\": [0, 1]}";
        du_write(dir, "bad.json", b, strlen(b), 0);
    }
    int rc = cu_run(dir, "b", NULL, "retrain --data %s/data %s --arch %s/bad.json --epochs 1 --out %s/b", dir, net,
                    dir, dir);
    cr_expect_eq(rc, 2);
    CU_EXPECT_STDERR(dir, "b", "skip_1", "the layer itself");
    du_rmtree(dir);
}

/* ---- enas_micro ------------------------------------------------------------------------ */
/* an architecture in NNI's ENAS labels: node i takes inputs a, b with ops */
static char *micro_dict(int loose_chain)
{
    static const char *const ops[5] = {"skip_connect", "sep_conv_3x3", "sep_conv_5x5", "avg_pool_3x3",
                                       "max_pool_3x3"};
    cJSON *j = cJSON_CreateObject();
    for (int t = 0; t < 2; t++)
        for (int node = 2; node < 7; node++)
            for (int k = 0; k < 2; k++) {
                char label[40];
                snprintf(label, sizeof label, "%s/op_%d_%d", t ? "reduce" : "normal", node, k);
                cJSON_AddStringToObject(j, label, ops[(node + k + t) % 5]);
                snprintf(label, sizeof label, "%s/input_%d_%d", t ? "reduce" : "normal", node, k);
                /* chain: every node reads the one before (only node 6 loose); else the cell inputs only */
                int in = loose_chain ? (k ? node - 1 : 0) : k;
                cJSON *a = cJSON_AddArrayToObject(j, label);
                cJSON_AddItemToArray(a, cJSON_CreateNumber(in));
            }
    char *txt = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    return txt;
}

Test(enas_micro, labels_order_and_src)
{
    const os_space *sp = os_space_find("enas_micro");
    cr_assert(sp);
    os_net net;
    os_space_opts o = opts(3, 2, NULL);
    cr_assert_eq(sp->build(&net, &o), 0, "%s", os_last_error());
    cr_expect_eq(net.n_choices, 40);
    int at = 0;
    for (int t = 0; t < 2; t++)
        for (int node = 2; node < 7; node++)
            for (int k = 0; k < 2; k++) {
                char label[40];
                snprintf(label, sizeof label, "%s/op_%d_%d", t ? "reduce" : "normal", node, k);
                cr_expect_str_eq(net.choices[at].label, label);
                cr_expect_eq(net.choices[at].n, 5);
                cr_expect_str_eq(net.choices[at].names[0], "skip_connect");
                cr_expect_str_eq(net.choices[at].names[4], "max_pool_3x3");
                at++;
                snprintf(label, sizeof label, "%s/input_%d_%d", t ? "reduce" : "normal", node, k);
                const os_choice *c = &net.choices[at++];
                cr_expect_str_eq(c->label, label);
                cr_expect_eq(c->kind, OS_CHOICE_INPUT);
                cr_expect_eq(c->n, node);
                cr_expect_eq(c->k, 1);
                cr_expect_eq(c->src[0], -1);
                cr_expect_eq(c->src[1], -1);
                for (int j = 2; j < node; j++) {
                    char want[40];
                    snprintf(want, sizeof want, "%s/op_%d_1", t ? "reduce" : "normal", j);
                    cr_expect(c->src[j] >= 0 && !strcmp(net.choices[c->src[j]].label, want), "%s input %d", label,
                              j);
                }
            }
    os_net_free(&net);
}

Test(enas_micro, nni_dict_loads_and_the_child_concats_its_loose_ends)
{
    const os_space *sp = os_space_find("enas_micro");
    for (int chain = 0; chain < 2; chain++) {
        char *txt = micro_dict(chain);
        const os_space *got;
        os_arch a;
        /* a bare NNI dict, no space given: only enas_micro has node 6 */
        cr_assert_eq(os_arch_parse_json(txt, "nni.json", NULL, &got, &a), 0, "%s", os_last_error());
        cr_expect_eq(got, sp);
        os_net net;
        os_space_opts o = opts(3, 2, &a);
        cr_assert_eq(sp->build(&net, &o), 0, "%s", os_last_error());
        cr_expect_eq(net.n_choices, 0);
        /* chain: only node 6 is a loose end; cell inputs only: all 5 nodes are */
        const os_tensor *w = weight(&net, "cells.0.final_conv");
        cr_assert(w);
        cr_expect_eq(w->shape[1], (chain ? 1 : 5) * 2, "final conv %s", os_shape_str(w));
        os_tensor *x = os_tensor_new4(2, 1, 8, 8);
        os_tensor_fill(x, 0.3f);
        os_forward_ctx ctx = {.training = true};
        os_tensor *y = net.forward(&net, x, &ctx, NULL);
        cr_expect(y->shape[0] == 2 && y->shape[1] == 3);
        for (int i = 0; i < 6; i++)
            cr_expect(isfinite(y->data[i]));
        os_step_reset();
        os_net_free(&net);
        /* exported again: the same NNI labels and values */
        char *exp = os_arch_json(sp, &a, NULL);
        cJSON *e = cJSON_Parse(exp), *in = cJSON_Parse(txt);
        cr_expect(cJSON_Compare(cJSON_GetObjectItemCaseSensitive(e, "arch"), in, 1), "%s\n%s", exp, txt);
        cJSON_Delete(e);
        cJSON_Delete(in);
        free(exp);
        os_arch_free(&a);
        free(txt);
    }
    /* bad: an input that is the node itself, NNI's width / depth keys */
    char *txt = micro_dict(1);
    cJSON *j = cJSON_Parse(txt);
    free(txt);
    cJSON *bad = cJSON_CreateArray();
    cJSON_AddItemToArray(bad, cJSON_CreateNumber(4));
    cJSON_ReplaceItemInObjectCaseSensitive(j, "reduce/input_4_1", bad);
    txt = cJSON_PrintUnformatted(j);
    const os_space *got;
    os_arch a;
    cr_expect_eq(os_arch_parse_json(txt, "nni.json", "enas_micro", &got, &a), OS_ARCH_MISFIT);
    cr_expect(strstr(os_last_error(), "reduce/input_4_1") && strstr(os_last_error(), "out of range 0..3"), "%s",
              os_last_error());
    free(txt);
    /* NNI's default ENAS() also samples width and depth: they size the child */
    cJSON_ReplaceItemInObjectCaseSensitive(j, "reduce/input_4_1", cJSON_Parse("[3]"));
    cJSON_AddNumberToObject(j, "depth", 8);
    cJSON_AddNumberToObject(j, "width", 24);
    txt = cJSON_PrintUnformatted(j);
    cr_assert_eq(os_arch_parse_json(txt, "nni.json", NULL, &got, &a), 0, "%s", os_last_error());
    cr_expect_eq(got, &os_space_enas_micro);
    cr_expect(a.width == 24 && a.depth == 8, "width %d depth %d", a.width, a.depth);
    os_arch b;
    os_arch_copy(&b, &a);
    cr_expect(b.width == 24 && b.depth == 8);
    os_arch_free(&b);
    os_space_opts o = {.cells = a.depth, .channels = a.width, .in_c = 1, .in_h = 8, .in_w = 8, .num_classes = 3,
                       .seed = 1, .arch = &a};
    os_net net;
    cr_assert_eq(got->build(&net, &o), 0, "%s", os_last_error());
    cr_expect_eq(net.cells, 8);
    cr_expect_eq(net.channels, 24);
    os_net_free(&net);
    os_arch_free(&a);
    free(txt);
    static const char *const badv[] = {"0", "-8", "8.5", "\"8\""};
    for (size_t i = 0; i < sizeof badv / sizeof *badv; i++) {
        char v[32];
        snprintf(v, sizeof v, "%s", badv[i]);
        cJSON_ReplaceItemInObjectCaseSensitive(j, "depth", cJSON_Parse(v));
        txt = cJSON_PrintUnformatted(j);
        cr_expect_eq(os_arch_parse_json(txt, "nni.json", "enas_micro", &got, &a), OS_ARCH_MISFIT, "depth %s", v);
        cr_expect(strstr(os_last_error(), "'depth'") && strstr(os_last_error(), "--cells"), "%s", os_last_error());
        free(txt);
    }
    cJSON_Delete(j);
}

/* NNI's default ENAS() dict (with width and depth) through the CLI: it sizes
 * the child as --channels / --cells would; a flag that disagrees is exit 2 */
Test(enas_micro, nni_width_depth_through_the_cli, .timeout = 120)
{
    char dir[256];
    cu_tmpdir(dir, sizeof dir);
    char *txt = micro_dict(1);
    du_write(dir, "cells.json", txt, strlen(txt), 0);
    cJSON *j = cJSON_Parse(txt);
    free(txt);
    cJSON_AddNumberToObject(j, "width", 8);
    cJSON_AddNumberToObject(j, "depth", 4);
    txt = cJSON_PrintUnformatted(j);
    du_write(dir, "nni.json", txt, strlen(txt), 0);
    free(txt);
    cJSON_Delete(j);
    cr_assert_eq(cu_run(dir, "a", NULL, "costs --arch %s/nni.json", dir), 0, "%s", cu_slurp2(dir, "a.err"));
    cr_assert_eq(cu_run(dir, "b", NULL, "costs --arch %s/cells.json --channels 8 --cells 4", dir), 0, "%s",
                 cu_slurp2(dir, "b.err"));
    char *a = cu_slurp2(dir, "a.out"), *b = cu_slurp2(dir, "b.out");
    cr_expect(strstr(a, "parameters") && !strcmp(a, b), "%s\n%s", a, b);
    free(a);
    free(b);
    /* agreeing flags are fine, disagreeing ones name both */
    cr_expect_eq(cu_run(dir, "c", NULL, "costs --arch %s/nni.json --cells 4 --channels 8", dir), 0);
    cr_expect_eq(cu_run(dir, "d", NULL, "costs --arch %s/nni.json --cells 5", dir), 2);
    CU_EXPECT_STDERR(dir, "d", "'depth' is 4", "--cells 5");
    cr_expect_eq(cu_run(dir, "e", NULL, "costs --arch %s/nni.json --channels 16", dir), 2);
    CU_EXPECT_STDERR(dir, "e", "'width' is 8", "--channels 16");
    du_rmtree(dir);
}

/* the supernet's cell output reads the loose ends of this forward's path
 * only: changing the final conv's slice of a node another node takes
 * changes nothing, the slice of a loose end changes the output */
Test(enas_micro, supernet_output_reads_the_loose_ends_of_the_path)
{
    const os_space *sp = os_space_find("enas_micro");
    os_net net;
    os_space_opts o = opts(3, 2, NULL);
    cr_assert_eq(sp->build(&net, &o), 0, "%s", os_last_error());
    char *txt = micro_dict(1); /* a chain: nodes 2..5 used, 6 loose */
    os_arch child;
    const os_space *got;
    cr_assert_eq(os_arch_parse_json(txt, "t", "enas_micro", &got, &child), 0, "%s", os_last_error());
    free(txt);
    os_arch path;
    os_arch_of_net(&net, &path);
    for (int i = 0; i < path.n; i++)
        path.c[i].chosen = child.c[os_arch_find(&child, path.c[i].label)].chosen;
    os_net_choose_arch(&net, &path);
    os_tensor *x = os_tensor_new_persistent(os_default_device(), 4, (int[]){2, 1, 8, 8});
    for (int i = 0; i < 128; i++)
        x->data[i] = cosf(0.37f * (float)i);
    os_forward_ctx ctx = {.training = false};
    float y0[6], y1[6], y2[6];
    os_tensor_to_host(net.forward(&net, x, &ctx, NULL), y0);
    os_step_reset();
    os_tensor *w = (os_tensor *)weight(&net, "cells.2.final_conv"); /* [C, 5C], C = 8 in the last cell */
    cr_assert(w && w->shape[1] == 5 * w->shape[0], "%s", w ? os_shape_str(w) : "none");
    int C = w->shape[0];
    for (int oc = 0; oc < C; oc++)
        for (int ic = 0; ic < C; ic++)
            w->data[oc * 5 * C + ic] += 1.0f; /* node 2's slice */
    os_tensor_to_host(net.forward(&net, x, &ctx, NULL), y1);
    os_step_reset();
    for (int i = 0; i < 6; i++)
        cr_expect_eq(y0[i], y1[i], "node 2 is used, its slice must not matter (logit %d)", i);
    for (int oc = 0; oc < C; oc++)
        for (int ic = 0; ic < C; ic++)
            w->data[oc * 5 * C + 4 * C + ic] += 1.0f; /* node 6's */
    os_tensor_to_host(net.forward(&net, x, &ctx, NULL), y2);
    os_step_reset();
    int diff = 0;
    for (int i = 0; i < 6; i++)
        diff += y2[i] != y0[i];
    cr_expect(diff > 0, "node 6 is the loose end, its slice must matter");
    os_tensor_free(x);
    os_arch_free(&path);
    os_arch_free(&child);
    os_net_free(&net);
}

Test(enas_micro, search_and_retrain_through_the_cli, .timeout = 300)
{
    char dir[256];
    cu_tmpdir(dir, sizeof dir);
    cu_make_data(dir, "data", 8);
    const char *net = "--space enas_micro --cells 3 --channels 2 --batch 8 --threads 1 --log-every 1 --cutout 0";
    cr_assert_eq(cu_run(dir, "s", NULL, "train --data %s/data %s --strategy gdas --epochs 1 --out %s/s", dir, net, dir),
                 0, "%s", cu_slurp2(dir, "s.err"));
    char *aj = cu_slurp2(dir, "s/arch.json");
    cJSON *j = cJSON_Parse(aj);
    const cJSON *arch = cJSON_GetObjectItemCaseSensitive(j, "arch");
    cr_expect(cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(arch, "normal/input_6_1")), "%s", aj);
    cr_expect(cJSON_IsString(cJSON_GetObjectItemCaseSensitive(arch, "reduce/op_6_0")), "%s", aj);
    cJSON_Delete(j);
    free(aj);
    cr_assert_eq(cu_run(dir, "r", NULL, "retrain --data %s/data %s --arch %s/s/arch.json --epochs 1 --out %s/r", dir,
                        net, dir, dir),
                 0, "%s", cu_slurp2(dir, "r.err"));
    /* a bare NNI dict */
    char *txt = micro_dict(0);
    du_write(dir, "nni.json", txt, strlen(txt), 0);
    free(txt);
    cr_assert_eq(cu_run(dir, "n", NULL, "retrain --data %s/data %s --arch %s/nni.json --epochs 1 --out %s/n", dir,
                        net, dir, dir),
                 0, "%s", cu_slurp2(dir, "n.err"));
    du_rmtree(dir);
}
