/* tests/test_proxyless.c — the proxyless space (NNI's labels, depth choices
 * gating blocks, NNI's published dicts), costs by hand, and latency tables
 * (search/latency.h): what they hold, how a path's prediction adds up, and
 * the mismatches a table is refused for (library and CLI, exit 2). */
#include "tests/cli_util.h"
#include "ops/count.h"
#include "search/latency.h"
#include "search/path.h"
#include "supernet/arch.h"
#include "supernet/spaces/spaces.h"
#include "tensor/arena.h"
#include "tensor/backend.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static const char *const cands[6] = {"k3e3", "k5e3", "k7e3", "k3e6", "k5e6", "k7e6"};

static void build(os_net *net, int cells, int channels, int c, int h, int w, const os_arch *arch)
{
    os_space_opts so = {.cells = cells, .channels = channels, .in_c = c, .in_h = h, .in_w = w, .num_classes = 10,
                        .seed = 1, .arch = arch};
    cr_assert_eq(os_space_proxyless.build(net, &so), 0, "%s", os_last_error());
}

/* NNI's labels, its candidate order (expansion outer, kernel inner), depth
 * choices first in each stage and gating blocks 1..3 */
Test(proxyless, labels_candidates_and_gates)
{
    os_net net;
    build(&net, 0, 0, 3, 32, 32, NULL);
    cr_assert_eq(net.n_choices, 5 * 5 + 1);
    int i = 0;
    for (int s = 2; s <= 7; s++) {
        char l[OS_LABEL_MAX];
        int dc = -1;
        if (s < 7) {
            snprintf(l, sizeof l, "s%d_depth", s);
            cr_expect_str_eq(net.choices[i].label, l);
            cr_expect_eq(net.choices[i].n, 4);
            cr_expect_str_eq(net.choices[i].names[0], "1");
            cr_expect_str_eq(net.choices[i].names[3], "4");
            dc = i++;
        }
        for (int j = 0; j < (s < 7 ? 4 : 1); j++, i++) {
            snprintf(l, sizeof l, "s%d_i%d", s, j);
            cr_expect_str_eq(net.choices[i].label, l);
            cr_expect_eq(net.choices[i].n, 6);
            for (int k = 0; k < 6; k++)
                cr_expect_str_eq(net.choices[i].names[k], cands[k]);
            cr_expect_eq(net.choices[i].gate, j ? dc : -1, "%s gate", l);
            cr_expect_eq(net.choices[i].gate_min, j ? j : -1, "%s gate_min", l);
        }
    }
    os_net_free(&net);
    /* --cells 1: no depth choices; --cells 3: depths 1..3 */
    build(&net, 1, 0, 3, 32, 32, NULL);
    cr_expect_eq(net.n_choices, 6);
    os_net_free(&net);
    build(&net, 3, 0, 3, 32, 32, NULL);
    cr_expect_eq(net.choices[0].n, 3);
    os_net_free(&net);
}

/* MBConv by hand, s2_i0 of the small variant at 3x32x32: 16 -> 32 channels,
 * stride 1 at 32x32; k3e3: hidden 48; expand 16*48 + BN 2*48, depthwise 48*9
 * + BN 2*48, project 48*32 + BN 2*32 */
Test(proxyless, mbconv_costs_by_hand)
{
    os_net net;
    build(&net, 0, 0, 3, 32, 32, NULL);
    os_cost *k = calloc((size_t)net.n_choices * OS_MAX_CANDIDATES, sizeof *k);
    os_net_candidate_costs(&net, k);
    int i = os_net_find_choice(&net, "s2_i0");
    long p = 16 * 48 + 96 + 48 * 9 + 96 + 48 * 32 + 64, m = (16 * 48 + 48 * 9 + 48 * 32) * 1024L;
    cr_expect_eq(k[i * OS_MAX_CANDIDATES + 0].params, p);
    cr_expect_eq(k[i * OS_MAX_CANDIDATES + 0].macs, m);
    /* k7e6: hidden make_divisible(96) = 96 */
    long p7 = 16 * 96 + 192 + 96 * 49 + 192 + 96 * 32 + 64, m7 = (16 * 96 + 96 * 49 + 96 * 32) * 1024L;
    cr_expect_eq(k[i * OS_MAX_CANDIDATES + 5].params, p7);
    cr_expect_eq(k[i * OS_MAX_CANDIDATES + 5].macs, m7);
    /* a depth choice runs nothing of its own */
    int d = os_net_find_choice(&net, "s2_depth");
    for (int c = 0; c < 4; c++)
        cr_expect_eq(k[d * OS_MAX_CANDIDATES + c].macs + k[d * OS_MAX_CANDIDATES + c].params, 0);
    free(k);
    os_net_free(&net);
}

/* NNI's published acenas-m1 (typed in from proxylessnas.py, with its
 * "s7_depth": 1) loads as a file and by name, builds at ImageNet's shape,
 * and exports back with numbers for depths and without the blocks the
 * depths leave out */
Test(proxyless, nni_published_dict_loads_and_exports)
{
    const os_space *sp = NULL;
    os_arch a, b;
    cr_assert_eq(os_arch_load("tests/data/proxyless/acenas-m1.json", NULL, &sp, &a), 0, "%s", os_last_error());
    cr_expect_str_eq(sp->name, "proxyless");
    cr_expect(os_arch_complete(&a));
    cr_assert_eq(os_arch_load("acenas-m1", NULL, &sp, &b), 0, "%s", os_last_error());
    cr_expect(os_arch_equal(&a, &b));
    os_arch_free(&b);
    cJSON *j = os_arch_to_nni(&a);
    const cJSON *d2 = cJSON_GetObjectItem(j, "s2_depth");
    cr_expect(cJSON_IsNumber(d2) && d2->valueint == 2, "s2_depth is the number 2");
    cr_expect_null(cJSON_GetObjectItem(j, "s2_i2"), "a block the depth leaves out is not exported");
    cr_expect_str_eq(cJSON_GetObjectItem(j, "s6_i3")->valuestring, "k7e3");
    cr_expect_eq(cJSON_GetArraySize(j), 21, "NNI's 22 keys less s7_depth");
    /* our export reads back as the same child */
    char *txt = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    cr_assert_eq(os_arch_parse_json(txt, "export", NULL, &sp, &b), 0, "%s", os_last_error());
    cr_expect(os_arch_equal(&a, &b));
    free(txt);
    os_arch_free(&b);
    /* ImageNet's network: 224x224, 1000 classes */
    os_space_opts so = {.in_c = 3, .in_h = 224, .in_w = 224, .num_classes = 1000, .seed = 1, .arch = &a};
    os_net net;
    cr_assert_eq(os_space_proxyless.build(&net, &so), 0, "%s", os_last_error());
    os_cost c;
    os_net_cost(&net, &c);
    cr_expect(c.params > 3500000 && c.params < 4600000, "acenas-m1 has about 4 M parameters (%lld)",
              (long long)c.params);
    os_net_free(&net);
    os_arch_free(&a);
    os_step_reset();
}

static int parse(const char *json, os_arch *a)
{
    const os_space *sp;
    return os_arch_parse_json(json, "t.json", "proxyless", &sp, a);
}

#define BASE "\"s2_depth\": 1, \"s2_i0\": \"k3e3\", \"s3_depth\": 1, \"s3_i0\": \"k3e3\", \"s4_depth\": 1, " \
             "\"s4_i0\": \"k3e3\", \"s5_depth\": 1, \"s5_i0\": \"k3e3\", \"s7_i0\": \"k3e3\""

Test(proxyless, nni_dict_errors_name_the_key)
{
    os_arch a;
    cr_expect_eq(parse("{" BASE ", \"s6_depth\": 2, \"s6_i0\": \"k5e6\", \"s6_i1\": \"k7e3\"}", &a), 0, "%s",
                 os_last_error());
    os_arch_free(&a);
    /* a depth as a string, and a block the depth leaves out: accepted */
    cr_expect_eq(parse("{" BASE ", \"s6_depth\": \"1\", \"s6_i0\": \"k5e6\", \"s6_i3\": \"k7e3\"}", &a), 0, "%s",
                 os_last_error());
    os_arch_free(&a);
    cr_expect_eq(parse("{" BASE ", \"s6_depth\": 2, \"s6_i0\": \"k5e6\"}", &a), OS_ARCH_MISFIT);
    cr_expect(strstr(os_last_error(), "'s6_i1' is missing"), "%s", os_last_error());
    cr_expect_eq(parse("{" BASE ", \"s6_depth\": 5, \"s6_i0\": \"k5e6\"}", &a), OS_ARCH_MISFIT);
    cr_expect(strstr(os_last_error(), "'s6_depth'") && strstr(os_last_error(), "1, 2, 3, 4"), "%s", os_last_error());
    cr_expect_eq(parse("{" BASE ", \"s6_depth\": 1.5, \"s6_i0\": \"k5e6\"}", &a), OS_ARCH_MISFIT);
    cr_expect_eq(parse("{" BASE ", \"s6_depth\": 1, \"s6_i0\": \"k9e6\"}", &a), OS_ARCH_MISFIT);
    cr_expect(strstr(os_last_error(), "k9e6"), "%s", os_last_error());
    cr_expect_eq(parse("{" BASE ", \"s6_depth\": 1, \"s6_i0\": \"k3e3\", \"s7_depth\": 2}", &a), OS_ARCH_MISFIT);
    cr_expect(strstr(os_last_error(), "s7_depth"), "%s", os_last_error());
}

/* derive: the strongest depth, the strongest op of each block that runs;
 * the others undecided, and the child complete */
Test(proxyless, derive_from_weights)
{
    os_net net;
    build(&net, 0, 8, 1, 8, 8, NULL);
    os_arch w, child;
    cr_assert_eq(os_arch_from_alpha(&net, &w), 0);
    for (int i = 0; i < w.n; i++) {
        memset(w.c[i].w, 0, sizeof w.c[i].w);
        w.c[i].w[strstr(w.c[i].label, "_depth") ? 1 : (i + 1) % w.c[i].n] = 1; /* depth 2, op (i + 1) mod 6 */
    }
    os_derive_opts o = {.max_skip = -1};
    cr_assert_eq(os_space_proxyless.derive(&w, &o, &child), 0, "%s", os_last_error());
    cr_expect(os_arch_complete(&child));
    int d = os_arch_find(&child, "s3_depth"), b1 = os_arch_find(&child, "s3_i1"), b2 = os_arch_find(&child, "s3_i2");
    cr_expect_eq(os_arch_chosen_one(&child.c[d]), 1);
    cr_expect_eq(child.c[b1].chosen, 1u << ((os_arch_find(&w, "s3_i1") + 1) % 6));
    cr_expect_eq(child.c[b2].chosen, 0u, "s3_i2 does not run at depth 2");
    os_net cn;
    build(&cn, 0, 8, 1, 8, 8, &child);
    os_net_free(&cn);
    os_arch_free(&w);
    os_arch_free(&child);
    os_net_free(&net);
    os_step_reset();
}

/* a path's cost counts the blocks its depths run, and equals the supernet's
 * measured cost on that path */
Test(proxyless, path_costs_follow_the_depths)
{
    os_net net;
    build(&net, 0, 8, 1, 8, 8, NULL);
    os_path_space ps;
    cr_assert_eq(os_path_space_init(&ps, &net, &os_space_proxyless, 1), 0, "%s", os_last_error());
    os_rng r;
    os_rng_seed(&r, 3);
    for (int t = 0; t < 6; t++) {
        os_arch path = {0};
        os_path_sample(&ps, &r, &path);
        os_path_cost pc;
        os_path_cost_of(&ps, &path, &pc);
        os_net_choose_arch(&net, &path);
        os_cost c;
        os_net_cost(&net, &c);
        cr_expect_eq((long long)pc.params, (long long)c.params, "path %d params", t);
        cr_expect_eq((long long)pc.madds, (long long)c.macs, "path %d madds", t);
        os_net_set_chooser(&net, NULL, NULL);
        os_arch_free(&path);
    }
    os_path_space_free(&ps);
    os_net_free(&net);
}

/* two paths that differ only in a block neither runs are the same child */
Test(proxyless, same_path_ignores_blocks_left_out)
{
    os_net net;
    build(&net, 0, 8, 1, 8, 8, NULL);
    os_path_space ps;
    cr_assert_eq(os_path_space_init(&ps, &net, &os_space_proxyless, 0), 0);
    os_arch a = {0}, b;
    os_rng r;
    os_rng_seed(&r, 9);
    os_path_sample(&ps, &r, &a);
    int d = os_arch_find(&a, "s4_depth"), b3 = os_arch_find(&a, "s4_i3"), b0 = os_arch_find(&a, "s4_i0");
    a.c[d].chosen = 1u << 1; /* depth 2: s4_i3 does not run */
    os_arch_copy(&b, &a);
    b.c[b3].chosen = a.c[b3].chosen == 1u ? 2u : 1u;
    cr_expect(os_path_same(&a, &b), "a block left out does not count");
    b.c[d].chosen = 1u << 3; /* depth 4: now it runs */
    a.c[d].chosen = 1u << 3;
    cr_expect(!os_path_same(&a, &b), "a block that runs counts");
    b.c[b3].chosen = a.c[b3].chosen;
    b.c[b0].chosen = a.c[b0].chosen == 1u ? 2u : 1u;
    cr_expect(!os_path_same(&a, &b));
    os_arch_free(&a);
    os_arch_free(&b);
    os_path_space_free(&ps);
    os_net_free(&net);
}

/* ---- latency tables ------------------------------------------------------------ */
static char *tiny_table(os_net *net)
{
    build(net, 2, 2, 1, 8, 8, NULL);
    os_latency_opts o = {.batch = 2, .threads = 1, .warmup = 1, .runs = 3, .seed = 1};
    os_set_threads(1);
    cJSON *t = os_latency_table(net, "small", &o);
    cr_assert_not_null(t, "%s", os_last_error());
    char *txt = cJSON_Print(t);
    cJSON_Delete(t);
    return txt;
}

Test(proxyless, latency_table_holds_every_block_and_predicts_paths)
{
    os_net net;
    char *txt = tiny_table(&net);
    cJSON *t = cJSON_Parse(txt);
    cr_expect_str_eq(cJSON_GetObjectItem(t, "space")->valuestring, "proxyless");
    cr_expect_str_eq(cJSON_GetObjectItem(t, "variant")->valuestring, "small");
    cr_expect_eq(cJSON_GetObjectItem(t, "batch")->valueint, 2);
    cr_expect_eq(cJSON_GetObjectItem(t, "threads")->valueint, 1);
    cr_expect_not_null(cJSON_GetObjectItem(cJSON_GetObjectItem(t, "machine"), "cpu"));
    cr_expect_not_null(cJSON_GetObjectItem(t, "date"));
    cr_expect_null(cJSON_GetObjectItem(t, "s2_depth"), "depths have no entry");
    for (int i = 0; i < net.n_choices; i++) {
        if (strstr(net.choices[i].label, "_depth"))
            continue;
        const cJSON *e = cJSON_GetObjectItem(t, net.choices[i].label);
        cr_assert_not_null(e, "%s", net.choices[i].label);
        for (int k = 0; k < 6; k++) {
            const cJSON *v = cJSON_GetObjectItem(e, cands[k]);
            cr_expect(cJSON_IsNumber(v) && v->valuedouble > 0, "%s/%s timed", net.choices[i].label, cands[k]);
        }
    }
    /* it loads, and a path's prediction is fixed + the blocks its depths run */
    os_path_space ps;
    cr_assert_eq(os_path_space_init(&ps, &net, &os_space_proxyless, 0), 0);
    ps.expect_batch = 2;
    ps.expect_threads = 1;
    cr_assert_eq(os_path_latency_parse(&ps, txt, "t.json"), 0, "%s", os_last_error());
    os_rng r;
    os_rng_seed(&r, 5);
    for (int n = 0; n < 5; n++) {
        os_arch path = {0};
        os_path_sample(&ps, &r, &path);
        double want = cJSON_GetObjectItem(t, "fixed")->valuedouble;
        for (int i = 0; i < path.n; i++) {
            int k = os_arch_chosen_one(&path.c[i]);
            if (strstr(path.c[i].label, "_depth") || os_arch_gated_off(&path, i))
                continue;
            want += cJSON_GetObjectItem(cJSON_GetObjectItem(t, path.c[i].label), cands[k])->valuedouble;
        }
        os_path_cost pc;
        os_path_cost_of(&ps, &path, &pc);
        cr_expect(fabs(pc.latency - want) <= 1e-9 * want, "path %d: %g ms, by hand %g", n, pc.latency, want);
        os_arch_free(&path);
    }
    os_path_space_free(&ps);
    cJSON_Delete(t);
    free(txt);
    os_net_free(&net);
}

static void expect_refused(os_net *net, const char *txt, int batch, int threads, const char *needle)
{
    os_path_space ps;
    cr_assert_eq(os_path_space_init(&ps, net, &os_space_proxyless, 0), 0);
    ps.expect_batch = batch;
    ps.expect_threads = threads;
    cr_expect_eq(os_path_latency_parse(&ps, txt, "t.json"), -1, "accepted; expected '%s'", needle);
    cr_expect(strstr(os_last_error(), needle), "'%s' lacks '%s'", os_last_error(), needle);
    os_path_space_free(&ps);
}

static char *edited(const char *txt, const char *key, cJSON *value)
{
    cJSON *t = cJSON_Parse(txt);
    if (value)
        cJSON_ReplaceItemInObject(t, key, value);
    else
        cJSON_DeleteItemFromObject(cJSON_GetObjectItem(t, "s3_i1"), key);
    char *o = cJSON_Print(t);
    cJSON_Delete(t);
    return o;
}

Test(proxyless, latency_table_mismatches_are_named)
{
    os_net net;
    char *txt = tiny_table(&net);
    expect_refused(&net, txt, 4, 0, "batch 2, but 4");
    expect_refused(&net, txt, 0, 2, "1 threads, but 2");
    char *e = edited(txt, "space", cJSON_CreateString("nb201"));
    expect_refused(&net, e, 0, 0, "of the nb201 space, but the supernet is proxyless");
    free(e);
    int in[3] = {3, 32, 32};
    e = edited(txt, "input", cJSON_CreateIntArray(in, 3));
    expect_refused(&net, e, 0, 0, "input 3x32x32, but the supernet's input is 1x8x8");
    free(e);
    e = edited(txt, "k7e3", NULL);
    expect_refused(&net, e, 0, 0, "'s3_i1' lacks candidate 'k7e3'");
    free(e);
    free(txt);
    os_net_free(&net);
}

/* the CLI: a table and a child's measurement; a mismatched table is exit 2 */
Test(proxyless, cli_latency, .timeout = 300)
{
    char dir[256];
    cu_tmpdir(dir, sizeof dir);
    cr_assert_eq(cu_run(dir, "table", NULL, "latency --space proxyless --input 1x8x8 --channels 8 --runs 20 "
                                           "--warmup 1 --out %s/t.json", dir), 0);
    char *t = cu_slurp2(dir, "t.json");
    cr_expect(strstr(t, "\"variant\":\t\"small\"") && strstr(t, "\"s6_i3\""), "%s", t);
    free(t);
    cr_expect_eq(cu_run(dir, "child", NULL, "latency --arch acenas-m1 --input 1x8x8 --channels 8 --runs 20 "
                                           "--warmup 1 --latency-table %s/t.json --out %s/m.json", dir, dir), 0);
    char *m = cu_slurp2(dir, "m.json");
    cr_expect(strstr(m, "\"median_ms\"") && strstr(m, "\"predicted_ms\""), "%s", m);
    free(m);
    cr_expect_eq(cu_run(dir, "input", NULL, "latency --arch acenas-m1 --input 1x16x16 --channels 8 --runs 20 "
                                           "--latency-table %s/t.json", dir), 2);
    CU_EXPECT_STDERR(dir, "input", "input 1x8x8, but the supernet's input is 1x16x16");
    cr_expect_eq(cu_run(dir, "batch", NULL, "latency --arch acenas-m1 --input 1x8x8 --channels 8 --runs 20 "
                                           "--batch 3 --latency-table %s/t.json", dir), 2);
    CU_EXPECT_STDERR(dir, "batch", "measured at batch 1, but 3");
    cr_expect_eq(cu_run(dir, "clock", NULL, "latency --space proxyless --clock sun"), 2);
    CU_EXPECT_STDERR(dir, "clock", "--clock 'sun'");
    cr_expect_eq(cu_run(dir, "runs", NULL, "latency --space proxyless --runs 5"), 2);
    /* a table of a smaller supernet (--cells 2) predicts with the same --cells;
     * without it the deeper blocks are missing and the message says what to give */
    cr_assert_eq(cu_run(dir, "table2", NULL, "latency --space proxyless --input 1x8x8 --channels 8 --cells 2 "
                                            "--runs 20 --warmup 1 --out %s/t2.json", dir), 0);
    char ap[600];
    snprintf(ap, sizeof ap, "%s/shallow.json", dir);
    FILE *f = fopen(ap, "w");
    cr_assert(f);
    fputs("{\"s2_depth\": 1, \"s2_i0\": \"k3e3\", \"s3_depth\": 2, \"s3_i0\": \"k5e3\", \"s3_i1\": \"k3e6\", "
          "\"s4_depth\": 1, \"s4_i0\": \"k7e3\", \"s5_depth\": 1, \"s5_i0\": \"k3e6\", \"s6_depth\": 1, "
          "\"s6_i0\": \"k3e3\", \"s7_i0\": \"k3e3\"}\n", f);
    fclose(f);
    cr_expect_eq(cu_run(dir, "shallow", NULL, "latency --arch %s --space proxyless --input 1x8x8 --channels 8 --cells 2 "
                                             "--runs 20 --warmup 1 --latency-table %s/t2.json", ap, dir), 0);
    cr_expect_eq(cu_run(dir, "deep", NULL, "latency --arch %s --space proxyless --input 1x8x8 --channels 8 --runs 20 "
                                          "--warmup 1 --latency-table %s/t2.json", ap, dir), 2);
    CU_EXPECT_STDERR(dir, "deep", "give the --cells and --channels");
    /* a search against that table records the latency it predicts for the child */
    cu_make_data(dir, "data", 8);
    cr_assert_eq(cu_run(dir, "search", NULL, "train --data %s/data --space proxyless --strategy proxyless --cells 2 "
                                            "--channels 8 --batch 8 --epochs 1 --warmup-epochs 0 --threads 1 "
                                            "--latency-table %s/t2.json --latency-target 2 --latency-loss add-linear "
                                            "--out %s/px", dir, dir, dir), 0);
    char pd[600];
    snprintf(pd, sizeof pd, "%s/px", dir);
    char *aj = cu_slurp2(pd, "arch.json");
    cr_expect(strstr(aj, "\"predicted_latency_ms\"") && strstr(aj, "\"madds\""), "%s", aj);
    free(aj);
}
