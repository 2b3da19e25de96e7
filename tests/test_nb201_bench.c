/* tests/test_nb201_bench.c — NAS-Bench-201 built in: the table's reader and
 * its checks (a synthetic table of all 15,625 architectures, written here,
 * and broken copies of it), index / arch string / lookup / rank, the real
 * table when ../shared/data is there, nb201's skip cap and BN without
 * running statistics, and the CLI: --benchmark (metrics, export, usage
 * errors), `oneshot query`, --protocol nb201, --stop-skips, and a search
 * that runs bit-identically with and without the table. */
#include "tests/test_util.h"
#include "tests/cli_util.h"
#include "supernet/nb201_bench.h"
#include "supernet/spaces/spaces.h"
#include "tensor/arena.h"

#include <cjson/cJSON.h>
#include <math.h>

static const char *const ops[5] = {"none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3"};
static const int src[6] = {0, 0, 1, 0, 1, 2};

static void arch_str_of(int idx, char *s, size_t n)
{
    int d[6];
    for (int e = 5; e >= 0; e--, idx /= 5)
        d[e] = idx % 5;
    size_t o = 0;
    for (int e = 0; e < 6; e++)
        o += (size_t)snprintf(s + o, n - o, "%s%s%s~%d|", e == 0 ? "|" : "", e == 1 || e == 3 ? "+|" : "", ops[d[e]],
                              src[e]);
}

/* the synthetic accuracies of architecture idx */
static double acc10(int idx) { return 10.0 + 80.0 * idx / (OS_NB201_ARCHS - 1); }

typedef enum { T_OK, T_HEADER, T_SHORT, T_DUP, T_BADOP, T_RANGE, T_NAN } table_kind;

/* dir/name: the table of all architectures (or a broken one); returns the path */
static void write_table(const char *dir, const char *name, table_kind kind, char *path, size_t n)
{
    snprintf(path, n, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    cr_assert(f);
    fprintf(f, "%s\n", kind == T_HEADER ? "acc10,acc100,accIN,arch"
                                        : "CIFAR10TestAccuracy200Epochs,CIFAR100TestAccuracy200Epochs,"
                                          "ImageNetTestAccuracy200Epochs,ArchitectureString");
    for (int i = 0; i < OS_NB201_ARCHS; i++) {
        char s[160];
        arch_str_of(kind == T_DUP && i == 77 ? 76 : i, s, sizeof s);
        if (kind == T_SHORT && i == 100)
            continue;
        if (kind == T_BADOP && i == 200)
            snprintf(s, sizeof s, "|sep_conv_3x3~0|+|none~0|none~1|+|none~0|none~1|none~2|");
        double a = acc10(i);
        if (kind == T_RANGE && i == 300)
            a = 101.5;
        if (kind == T_NAN && i == 400)
            fprintf(f, "abc,%.6f,%.6f,%s\n", a / 2, a / 3, s);
        else
            fprintf(f, "%.6f,%.6f,%.6f,%s\n", a, a / 2, a / 3, s);
    }
    fclose(f);
}

Test(nb201_bench, reads_a_whole_table)
{
    char dir[256], path[512];
    du_tmpdir(dir, sizeof dir);
    write_table(dir, "t.csv", T_OK, path, sizeof path);
    os_nb201_bench *b = os_nb201_bench_load(path);
    cr_assert(b, "%s", os_last_error());
    int probe[] = {0, 1, 5, 1234, 7777, OS_NB201_ARCHS - 1};
    for (size_t k = 0; k < sizeof probe / sizeof probe[0]; k++) {
        char s[160], back[160];
        arch_str_of(probe[k], s, sizeof s);
        os_arch child = {0};
        cr_assert_eq(os_space_nb201.parse(s, &child), 0, "%s", os_last_error());
        cr_expect_eq(os_nb201_index(&child), probe[k], "%s", s);
        cr_assert_eq(os_nb201_arch_str(&child, back, sizeof back), 0);
        cr_expect_str_eq(back, s);
        const os_nb201_entry *e = os_nb201_lookup(b, &child);
        cr_assert(e);
        cr_expect(fabs(e->cifar10 - acc10(probe[k])) < 1e-4, "%s: %g", s, (double)e->cifar10);
        cr_expect(fabs(e->cifar100 - acc10(probe[k]) / 2) < 1e-4);
        cr_expect(fabs(e->imagenet16 - acc10(probe[k]) / 3) < 1e-4);
        cr_expect_eq(e->rank_cifar10, OS_NB201_ARCHS - probe[k], "rank of %d", probe[k]); /* higher idx, better */
        os_arch_free(&child);
    }
    os_nb201_bench_free(b);
    du_rmtree(dir);
}

Test(nb201_bench, ranks_share_ties)
{
    char dir[256], path[512];
    du_tmpdir(dir, sizeof dir);
    snprintf(path, sizeof path, "%s/t.csv", dir);
    FILE *f = fopen(path, "w");
    fprintf(f, "CIFAR10TestAccuracy200Epochs,CIFAR100TestAccuracy200Epochs,ImageNetTestAccuracy200Epochs,"
               "ArchitectureString\r\n"); /* CRLF is fine */
    for (int i = 0; i < OS_NB201_ARCHS; i++) {
        char s[160];
        arch_str_of(i, s, sizeof s);
        fprintf(f, "%d,1,1,%s\r\n", i < 3 ? 99 : i < 10 ? 50 : 10, s);
    }
    fclose(f);
    os_nb201_bench *b = os_nb201_bench_load(path);
    cr_assert(b, "%s", os_last_error());
    cr_expect_eq(b->e[0].rank_cifar10, 1);
    cr_expect_eq(b->e[2].rank_cifar10, 1);
    cr_expect_eq(b->e[3].rank_cifar10, 4);
    cr_expect_eq(b->e[9].rank_cifar10, 4);
    cr_expect_eq(b->e[10].rank_cifar10, 11);
    cr_expect_eq(b->e[OS_NB201_ARCHS - 1].rank_cifar10, 11);
    os_nb201_bench_free(b);
    du_rmtree(dir);
}

static void expect_refused(table_kind kind, const char *a, const char *b2)
{
    char dir[256], path[512];
    du_tmpdir(dir, sizeof dir);
    write_table(dir, "bad.csv", kind, path, sizeof path);
    cr_expect_null(os_nb201_bench_load(path), "table kind %d accepted", kind);
    const char *m = os_last_error();
    cr_expect(strstr(m, path), "the message does not name the file: %s", m);
    cr_expect(strstr(m, a) && strstr(m, b2), "kind %d: '%s' / '%s' not in: %s", kind, a, b2, m);
    du_rmtree(dir);
}

Test(nb201_bench, refuses_what_is_not_the_table)
{
    expect_refused(T_HEADER, "line 1", "header");
    expect_refused(T_SHORT, "15624 architecture rows", "expected 15625");
    expect_refused(T_DUP, "line 79", "already on line 78");
    expect_refused(T_BADOP, "line 202", "unknown op 'sep_conv_3x3'");
    expect_refused(T_RANGE, "line 302", "101.5 is outside 0..100");
    expect_refused(T_NAN, "line 402", "CIFAR-10 accuracy is not a number");
    cr_expect_null(os_nb201_bench_load("/nonexistent/nats.csv"));
    cr_expect(strstr(os_last_error(), "/nonexistent/nats.csv") && strstr(os_last_error(), "cannot open"));
    char dir[256], path[512];
    du_tmpdir(dir, sizeof dir);
    snprintf(path, sizeof path, "%s/empty.csv", dir);
    fclose(fopen(path, "w"));
    cr_expect_null(os_nb201_bench_load(path));
    cr_expect(strstr(os_last_error(), "empty"), "%s", os_last_error());
    du_rmtree(dir);
}

/* the table in ../shared/data, when this checkout has it: the figures its README gives */
Test(nb201_bench, the_real_table)
{
    const char *p = "../shared/data/nb201/nats_tss_200ep.csv";
    if (access(p, R_OK))
        cr_skip_test("%s is not here", p);
    os_nb201_bench *b = os_nb201_bench_load(p);
    cr_assert(b, "%s", os_last_error());
    os_arch best = {0}, skip = {0};
    cr_assert_eq(os_space_nb201.parse("|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|"
                                      "nor_conv_1x1~2|", &best), 0);
    cr_assert_eq(os_space_nb201.parse("|skip_connect~0|+|skip_connect~0|skip_connect~1|+|skip_connect~0|skip_connect~1|"
                                      "skip_connect~2|", &skip), 0);
    cr_expect(fabsf(os_nb201_lookup(b, &best)->cifar10 - 94.37f) < 0.005f);
    cr_expect_eq(os_nb201_lookup(b, &best)->rank_cifar10, 1);
    cr_expect(fabsf(os_nb201_lookup(b, &skip)->cifar10 - 54.30f) < 0.005f);
    os_arch_free(&best);
    os_arch_free(&skip);
    os_nb201_bench_free(b);
}

/* ---- nb201's collapse guard and BN without running statistics ------------------- */

static void build_small(os_net *net, int batch_stats)
{
    os_space_opts so = {.cells = 1, .channels = 2, .in_c = 1, .in_h = 8, .in_w = 8, .num_classes = 3, .seed = 4,
                        .bn_batch_stats = batch_stats};
    cr_assert_eq(os_space_nb201.build(net, &so), 0, "%s", os_last_error());
}

Test(nb201_bench, max_skip_caps_the_skips)
{
    os_net net;
    build_small(&net, 0);
    os_arch w;
    cr_assert_eq(os_arch_from_alpha(&net, &w), 0);
    /* edges 0..3 prefer skip (strength 0.9, 0.5, 0.7, 0.6); 1 and 3 have conv_3x3 / none second */
    const float skipw[6] = {0.9f, 0.5f, 0.7f, 0.6f, 0.0f, 0.0f};
    for (int e = 0; e < 6; e++) {
        for (int k = 0; k < 5; k++)
            w.c[e].w[k] = 0.01f * (float)k;
        w.c[e].w[1] = skipw[e];
        if (e >= 4)
            w.c[e].w[2] = 0.8f; /* conv_1x1 */
    }
    w.c[1].w[3] = 0.3f;
    w.c[3].w[0] = 0.35f;
    os_arch child;
    char s[160];
    cr_assert_eq(os_space_nb201.derive(&w, &(os_derive_opts){.max_skip = -1}, &child), 0);
    os_nb201_arch_str(&child, s, sizeof s);
    cr_expect_str_eq(s, "|skip_connect~0|+|skip_connect~0|skip_connect~1|+|skip_connect~0|nor_conv_1x1~1|nor_conv_1x1~2|");
    os_arch_free(&child);
    cr_assert_eq(os_space_nb201.derive(&w, &(os_derive_opts){.max_skip = 2}, &child), 0);
    os_nb201_arch_str(&child, s, sizeof s);
    cr_expect_str_eq(s, "|skip_connect~0|+|nor_conv_3x3~0|skip_connect~1|+|none~0|nor_conv_1x1~1|nor_conv_1x1~2|");
    os_arch_free(&child);
    cr_assert_eq(os_space_nb201.derive(&w, &(os_derive_opts){.max_skip = 0}, &child), 0);
    os_nb201_arch_str(&child, s, sizeof s);
    cr_expect_str_eq(s, "|avg_pool_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|none~0|nor_conv_1x1~1|nor_conv_1x1~2|");
    os_arch_free(&child);
    /* a decided path has no weights to rank skips by: the cap says so */
    for (int e = 0; e < 6; e++) {
        w.c[e].has_weights = 0;
        w.c[e].chosen = 1u << 1;
    }
    cr_expect_eq(os_space_nb201.derive(&w, &(os_derive_opts){.max_skip = 3}, &child), -1);
    cr_expect(strstr(os_last_error(), "--max-skip needs choice weights"), "%s", os_last_error());
    cr_assert_eq(os_space_nb201.derive(&w, &(os_derive_opts){.max_skip = 6}, &child), 0); /* under the cap */
    os_arch_free(&child);
    os_arch_free(&w);
    os_net_free(&net);
}

/* logits of one forward on the path conv_3x3 everywhere */
static void forward_once(os_net *net, bool training, const os_tensor *x, float *out)
{
    os_arch a;
    os_arch_of_net(net, &a);
    for (int i = 0; i < a.n; i++)
        a.c[i].chosen = 1u << 3;
    os_net_choose_arch(net, &a);
    os_forward_ctx ctx = {.training = training};
    os_tensor *y = net->forward(net, (os_tensor *)x, &ctx, NULL);
    os_tensor_to_host(y, out);
    os_step_reset();
    os_arch_free(&a);
}

Test(nb201_bench, bn_batch_stats_eval_is_train)
{
    os_rng r;
    os_rng_seed(&r, 3);
    int shape[4] = {4, 1, 8, 8};
    os_tensor *x = os_tensor_new_persistent(OS_CPU, 4, shape);
    for (int i = 0; i < 256; i++)
        x->data[i] = os_rng_normal(&r) * 2.0f + 1.0f;
    float tr[12], ev[12];
    os_net net;
    build_small(&net, 1);
    cr_expect_eq(net.bn_batch_stats, 1);
    forward_once(&net, true, x, tr);
    forward_once(&net, false, x, ev);
    for (int i = 0; i < 12; i++)
        cr_expect_eq(tr[i], ev[i], "logit %d: train %g, eval %g", i, (double)tr[i], (double)ev[i]);
    /* the running buffers are neither read nor updated */
    for (int i = 0; i < net.buffers.n; i++) {
        const os_tensor *t = net.buffers.t[i];
        float want = strstr(t->name, "running_var") ? 1.0f : 0.0f;
        for (long k = 0; k < os_numel(t); k++)
            cr_expect_eq(t->data[k], want, "%s[%ld] changed", t->name, k);
    }
    os_net_free(&net);
    /* with running statistics, eval differs from train (control) */
    build_small(&net, 0);
    cr_expect_eq(net.bn_batch_stats, 0);
    forward_once(&net, true, x, tr);
    forward_once(&net, false, x, ev);
    int differ = 0;
    for (int i = 0; i < 12; i++)
        differ |= tr[i] != ev[i];
    cr_expect(differ, "running statistics should change the eval forward");
    os_net_free(&net);
    /* children and other spaces: no batch-statistics BN (a retrain is the usual child) */
    os_arch child = {0};
    cr_assert_eq(os_space_nb201.parse("|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|"
                                      "nor_conv_1x1~2|", &child), 0);
    os_space_opts so = {.cells = 1, .channels = 2, .in_c = 1, .in_h = 8, .in_w = 8, .num_classes = 3, .seed = 4,
                        .bn_batch_stats = 1, .arch = &child};
    cr_assert_eq(os_space_nb201.build(&net, &so), 0);
    cr_expect_eq(net.bn_batch_stats, 0);
    os_net_free(&net);
    os_arch_free(&child);
    os_tensor_free(x);
    os_step_shutdown();
}

/* ---- the command line ------------------------------------------------------------- */

#define SEARCH "train --space nb201 --strategy darts --cells 1 --channels 4 --batch 8 --threads 1 --plots 0"

/* the value of key in the JSON line `line` of a metrics file (1-based), as a new cJSON */
static cJSON *metrics_line(const char *run, int line)
{
    char p[700];
    snprintf(p, sizeof p, "%s/metrics.jsonl", run);
    char *all = cu_slurp(p), *s = all;
    for (int i = 1; i < line && s; i++) {
        s = strchr(s, '\n');
        s = s ? s + 1 : NULL;
    }
    cJSON *j = s && *s ? cJSON_Parse(s) : NULL;
    free(all);
    return j;
}

static int count_lines(const char *run)
{
    char p[700];
    snprintf(p, sizeof p, "%s/metrics.jsonl", run);
    char *all = cu_slurp(p);
    int n = 0;
    for (char *s = all; *s; s++)
        n += *s == '\n';
    free(all);
    return n;
}

/* no table by default in this test: no $ONESHOT_NB201, no ../shared beside the data */
static void isolate(const char *dir)
{
    unsetenv("ONESHOT_NB201");
    cr_assert_eq(chdir(dir), 0);
}

Test(nb201_cli, benchmark_scores_and_never_steers, .timeout = 300)
{
    char dir[256], table[512];
    cu_tmpdir(dir, sizeof dir);
    isolate(dir);
    cu_make_data(dir, "data", 8);
    write_table(dir, "t.csv", T_OK, table, sizeof table);
    cr_assert_eq(cu_run(dir, "a", NULL, SEARCH " --data %s/data --epochs 2 --benchmark %s --out %s/a", dir, table, dir),
                 0);
    cr_assert_eq(cu_run(dir, "b", NULL, SEARCH " --data %s/data --epochs 2 --out %s/b", dir, dir), 0);
    /* the same search: the same architecture, probabilities, losses */
    char pa[600], pb[600];
    snprintf(pa, sizeof pa, "%s/a", dir);
    snprintf(pb, sizeof pb, "%s/b", dir);
    char *aa = cu_slurp2(pa, "arch.json"), *ab = cu_slurp2(pb, "arch.json");
    cr_expect_str_eq(aa, ab);
    for (int e = 1; e <= 2; e++) {
        cJSON *la = metrics_line(pa, e), *lb = metrics_line(pb, e);
        cr_assert(la && lb, "epoch %d lines", e);
        const char *keys[] = {"train_loss", "val_loss", "train_acc", "val_acc"};
        for (int k = 0; k < 4; k++)
            cr_expect_eq(cJSON_GetObjectItem(la, keys[k])->valuedouble, cJSON_GetObjectItem(lb, keys[k])->valuedouble,
                         "epoch %d %s", e, keys[k]);
        char *pra = cJSON_PrintUnformatted(cJSON_GetObjectItem(la, "alpha_probs"));
        char *prb = cJSON_PrintUnformatted(cJSON_GetObjectItem(lb, "alpha_probs"));
        cr_expect_str_eq(pra, prb, "epoch %d alpha_probs", e);
        free(pra);
        free(prb);
        /* a: the entry of the epoch's architecture; b: none */
        cJSON *be = cJSON_GetObjectItem(la, "benchmark");
        cr_assert(be, "epoch %d: no benchmark entry", e);
        cr_expect_null(cJSON_GetObjectItem(lb, "benchmark"));
        os_arch child = {0};
        const char *s = cJSON_GetObjectItem(be, "arch_str")->valuestring;
        cr_assert_eq(os_space_nb201.parse(s, &child), 0);
        int idx = os_nb201_index(&child);
        cr_expect(fabs(cJSON_GetObjectItem(be, "cifar10")->valuedouble - acc10(idx)) < 1e-4);
        cr_expect_eq(cJSON_GetObjectItem(be, "rank_cifar10")->valueint, OS_NB201_ARCHS - idx);
        cr_expect(cJSON_GetObjectItem(be, "cifar100") && cJSON_GetObjectItem(be, "imagenet16_120"));
        if (e == 2)
            cr_expect(strstr(aa, s), "the last entry is not arch.json's architecture");
        os_arch_free(&child);
        cJSON_Delete(la);
        cJSON_Delete(lb);
    }
    free(aa);
    free(ab);
    char *cfg = cu_slurp2(pa, "config.json");
    cr_expect(strstr(cfg, table), "config.json does not record the table");
    free(cfg);
    /* export prints the entry (the run's table) */
    cr_expect_eq(cu_run(dir, "x", NULL, "export --run %s/a", dir), 0);
    char *out = cu_slurp2(dir, "x.out");
    cr_expect(strstr(out, "NAS-Bench-201") && strstr(out, "CIFAR-10") && strstr(out, "ImageNet16-120") &&
              strstr(out, "rank"), "export printed:\n%s", out);
    free(out);
    /* and not for b, which had none */
    cr_expect_eq(cu_run(dir, "y", NULL, "export --run %s/b", dir), 0);
    out = cu_slurp2(dir, "y.out");
    cr_expect_null(strstr(out, "NAS-Bench-201"), "%s", out);
    free(out);
    du_rmtree(dir);
}

Test(nb201_cli, bad_benchmark_input, .timeout = 120)
{
    char dir[256], table[512], bad[512];
    cu_tmpdir(dir, sizeof dir);
    isolate(dir);
    cu_make_data(dir, "data", 8);
    write_table(dir, "t.csv", T_OK, table, sizeof table);
    write_table(dir, "short.csv", T_SHORT, bad, sizeof bad);
    /* another space: a usage error */
    cr_expect_eq(cu_run(dir, "c", NULL, "train --space cifar_cell --data %s/data --benchmark %s --out %s/c", dir,
                        table, dir), 2);
    CU_EXPECT_STDERR(dir, "c", "--benchmark does not apply to the cifar_cell space");
    cr_expect_neq(access("c", F_OK), 0);
    /* a missing or broken explicit table: an error naming it, no run left behind */
    cr_expect_eq(cu_run(dir, "m", NULL, SEARCH " --data %s/data --epochs 1 --benchmark %s/nope.csv --out %s/m", dir,
                        dir, dir), 1);
    CU_EXPECT_STDERR(dir, "m", "nope.csv", "cannot open");
    cr_expect_neq(access("m", F_OK), 0, "a failed run left its directory");
    cr_expect_eq(cu_run(dir, "s", NULL, SEARCH " --data %s/data --epochs 1 --benchmark %s --out %s/s", dir, bad, dir),
                 1);
    CU_EXPECT_STDERR(dir, "s", "short.csv", "15624 architecture rows");
    /* $ONESHOT_NB201 is explicit too */
    setenv("ONESHOT_NB201", bad, 1);
    cr_expect_eq(cu_run(dir, "v", NULL, SEARCH " --data %s/data --epochs 1 --out %s/v", dir, dir), 1);
    CU_EXPECT_STDERR(dir, "v", "short.csv", "ONESHOT_NB201");
    unsetenv("ONESHOT_NB201");
    /* export of a cifar_cell run: --benchmark does not apply */
    cr_assert_eq(cu_run(dir, "cc", NULL, "train --space cifar_cell --cells 3 --channels 4 --batch 8 --threads 1 "
                        "--plots 0 --limit-steps 1 --epochs 1 --data %s/data --out %s/cc", dir, dir), 0);
    cr_expect_eq(cu_run(dir, "cx", NULL, "export --run %s/cc --benchmark %s", dir, table), 2);
    CU_EXPECT_STDERR(dir, "cx", "--benchmark", "cifar_cell");
    du_rmtree(dir);
}

Test(nb201_cli, query, .timeout = 60)
{
    char dir[256], table[512];
    cu_tmpdir(dir, sizeof dir);
    isolate(dir);
    write_table(dir, "t.csv", T_OK, table, sizeof table);
    const char *s = "|nor_conv_3x3~0|+|nor_conv_3x3~0|skip_connect~1|+|nor_conv_1x1~0|avg_pool_3x3~1|none~2|";
    os_arch child = {0};
    cr_assert_eq(os_space_nb201.parse(s, &child), 0);
    int idx = os_nb201_index(&child);
    os_arch_free(&child);
    char want[64], rank[64];
    snprintf(want, sizeof want, "%.2f %%", acc10(idx));
    snprintf(rank, sizeof rank, "rank %d of 15625", OS_NB201_ARCHS - idx);
    /* as a string, as NNI's dict, as our arch.json */
    cr_expect_eq(cu_run(dir, "q1", NULL, "query %s --benchmark %s", s, table), 0);
    char *o = cu_slurp2(dir, "q1.out");
    cr_expect(strstr(o, s) && strstr(o, want) && strstr(o, rank) && strstr(o, "cifar100") &&
              strstr(o, "imagenet16-120"), "query printed:\n%s", o);
    free(o);
    static const char nni[] = "{\"cell/0_1\": \"conv_3x3\", \"cell/0_2\": \"conv_3x3\", \"cell/1_2\": \"skip_connect\", "
                              "\"cell/0_3\": \"conv_1x1\", \"cell/1_3\": \"avg_pool_3x3\", \"cell/2_3\": \"none\"}";
    du_write(dir, "nni.json", nni, strlen(nni), 0);
    setenv("ONESHOT_NB201", table, 1); /* the default location */
    cr_expect_eq(cu_run(dir, "q2", NULL, "query %s/nni.json", dir), 0);
    o = cu_slurp2(dir, "q2.out");
    cr_expect(strstr(o, s) && strstr(o, want), "query of an NNI dict printed:\n%s", o);
    free(o);
    unsetenv("ONESHOT_NB201");
    /* errors: no table (usage), an unknown op, a DARTS cell */
    cr_expect_eq(cu_run(dir, "q3", NULL, "query %s", s), 2);
    CU_EXPECT_STDERR(dir, "q3", "--benchmark FILE", "ONESHOT_NB201");
    cr_expect_eq(cu_run(dir, "q4", NULL, "query |conv_7x7~0|+|none~0|none~1|+|none~0|none~1|none~2| --benchmark %s",
                        table), 2);
    CU_EXPECT_STDERR(dir, "q4", "conv_7x7");
    cr_expect_eq(cu_run(dir, "q5", NULL, "query darts-v2 --benchmark %s", table), 2);
    cr_expect_eq(cu_run(dir, "q6", NULL, "query"), 2);
    CU_EXPECT_STDERR(dir, "q6", "query needs an architecture");
    du_rmtree(dir);
}

Test(nb201_cli, protocol_nb201, .timeout = 120)
{
    char dir[256];
    cu_tmpdir(dir, sizeof dir);
    isolate(dir);
    cu_make_data(dir, "data", 8);
    /* explicit flags win; the rest is the protocol's */
    cr_assert_eq(cu_run(dir, "p", NULL, "train --space nb201 --strategy gdas --protocol nb201 --data %s/data --cells 1 "
                        "--channels 4 --batch 8 --epochs 1 --threads 1 --plots 0 --tau-min 0.5 --out %s/p", dir, dir), 0);
    char pd[600];
    snprintf(pd, sizeof pd, "%s/p", dir);
    char *txt = cu_slurp2(pd, "config.json");
    cJSON *c = cJSON_Parse(txt);
    free(txt);
    cr_assert(c);
    cr_expect_str_eq(cJSON_GetObjectItem(c, "protocol")->valuestring, "nb201");
    cr_expect_eq(cJSON_GetObjectItem(c, "bn-batch-stats")->valueint, 1);
    cr_expect_eq(cJSON_GetObjectItem(c, "epochs")->valueint, 1);
    cr_expect_eq(cJSON_GetObjectItem(c, "batch")->valueint, 8);
    cr_expect_eq(cJSON_GetObjectItem(c, "cells")->valueint, 1);
    cr_expect(fabs(cJSON_GetObjectItem(c, "weight-decay")->valuedouble - 5e-4) < 1e-9);
    cr_expect(fabs(cJSON_GetObjectItem(c, "lr-min")->valuedouble - 1e-3) < 1e-9);
    cr_expect(fabs(cJSON_GetObjectItem(c, "train-portion")->valuedouble - 0.5) < 1e-9);
    cr_expect_eq(cJSON_GetObjectItem(c, "cutout")->valueint, 0);
    const cJSON *so = cJSON_GetObjectItem(c, "strategy_options");
    cr_expect(fabs(cJSON_GetObjectItem(so, "tau-min")->valuedouble - 0.5) < 1e-7);
    cr_expect(fabs(cJSON_GetObjectItem(so, "tau-max")->valuedouble - 10) < 1e-6);
    cr_expect(fabs(cJSON_GetObjectItem(so, "arch-weight-decay")->valuedouble - 1e-3) < 1e-9);
    cJSON_Delete(c);
    char *out = cu_slurp2(dir, "p.out");
    cr_expect(strstr(out, "protocol nb201") && strstr(out, "--weight-decay 0.0005") && !strstr(out, "--tau-min"),
              "%s", out);
    free(out);
    /* without the protocol: nb201 keeps the running statistics and DARTS's weight decay */
    cr_assert_eq(cu_run(dir, "n", NULL, SEARCH " --data %s/data --epochs 1 --out %s/n", dir, dir), 0);
    txt = cu_slurp2(dir, "n/config.json");
    c = cJSON_Parse(txt);
    free(txt);
    cr_expect_eq(cJSON_GetObjectItem(c, "bn-batch-stats")->valueint, 0);
    cr_expect(fabs(cJSON_GetObjectItem(c, "weight-decay")->valuedouble - 3e-4) < 1e-9);
    cJSON_Delete(c);
    /* usage errors */
    cr_expect_eq(cu_run(dir, "u1", NULL, "train --space cifar_cell --protocol nb201 --data %s/data", dir), 2);
    CU_EXPECT_STDERR(dir, "u1", "--protocol");
    cr_expect_eq(cu_run(dir, "u2", NULL, "train --space nb201 --protocol nb301 --data %s/data", dir), 2);
    CU_EXPECT_STDERR(dir, "u2", "unknown protocol 'nb301'");
    cr_expect_eq(cu_run(dir, "u3", NULL, "train --space cifar_cell --bn-batch-stats 1 --data %s/data", dir), 2);
    CU_EXPECT_STDERR(dir, "u3", "--bn-batch-stats does not apply to the cifar_cell space");
    du_rmtree(dir);
}

static int skips_in(const char *arch_str)
{
    int n = 0;
    for (const char *p = arch_str; (p = strstr(p, "skip_connect")); p++)
        n++;
    return n;
}

/* --stop-skips N ends the search after the first epoch whose architecture has N skips */
Test(nb201_cli, stop_skips, .timeout = 300)
{
    char dir[256], table[512];
    cu_tmpdir(dir, sizeof dir);
    isolate(dir);
    cu_make_data(dir, "data", 8);
    write_table(dir, "t.csv", T_OK, table, sizeof table);
    const char *fast = "--arch-lr 0.3"; /* alphas that move within a few steps */
    cr_assert_eq(cu_run(dir, "f", NULL, SEARCH " %s --data %s/data --epochs 3 --benchmark %s --out %s/f", fast, dir,
                        table, dir), 0);
    char pf[600], ps[600];
    snprintf(pf, sizeof pf, "%s/f", dir);
    int skips[4] = {0}, most = 0;
    for (int e = 1; e <= 3; e++) {
        cJSON *l = metrics_line(pf, e);
        cr_assert(l);
        skips[e] = skips_in(cJSON_GetObjectItem(cJSON_GetObjectItem(l, "benchmark"), "arch_str")->valuestring);
        most = skips[e] > most ? skips[e] : most;
        cJSON_Delete(l);
    }
    int n = most > 0 ? most : 1, want = 3;
    for (int e = 3; e >= 1; e--)
        if (skips[e] >= n)
            want = e;
    cr_assert_eq(cu_run(dir, "s", NULL, SEARCH " %s --data %s/data --epochs 3 --benchmark %s --stop-skips %d --out %s/s",
                        fast, dir, table, n, dir), 0);
    snprintf(ps, sizeof ps, "%s/s", dir);
    cr_expect_eq(count_lines(ps), want, "skips by epoch %d %d %d, --stop-skips %d", skips[1], skips[2], skips[3], n);
    cJSON *l = metrics_line(ps, count_lines(ps));
    cr_assert(l);
    cr_expect_eq(cJSON_GetObjectItem(l, "stopped_skips") != NULL, most > 0);
    cJSON_Delete(l);
    char *out = cu_slurp2(dir, "s.out");
    if (most > 0)
        cr_expect(strstr(out, "the search stops here"), "%s", out);
    free(out);
    du_rmtree(dir);
}

/* evolve on an nb201 spos supernet at a batch larger than the test split
 * (evolve reads 1 test image a class): its batches once overran a buffer
 * sized for the test batch (seen by ASan); the answer gets its entry */
Test(nb201_cli, evolve_prints_the_entry, .timeout = 300)
{
    char dir[256], table[512];
    cu_tmpdir(dir, sizeof dir);
    isolate(dir);
    cu_make_data(dir, "data", 8);
    write_table(dir, "t.csv", T_OK, table, sizeof table);
    cr_assert_eq(cu_run(dir, "t", NULL, "train --space nb201 --strategy spos --bn-batch-stats 1 --cells 1 --channels 4 "
                        "--batch 8 --threads 1 --plots 0 --epochs 1 --data %s/data --benchmark %s --out %s/s", dir,
                        table, dir), 0);
    cr_expect_eq(cu_run(dir, "e", NULL, "evolve --run %s/s --population 4 --generations 1 --top 2 --mutations 2 "
                        "--crossovers 2 --bn-batches 0 --threads 1", dir), 0);
    char *out = cu_slurp2(dir, "e.out");
    cr_expect(strstr(out, "best of") && strstr(out, "NAS-Bench-201") && strstr(out, "rank"), "%s", out);
    free(out);
    du_rmtree(dir);
}
