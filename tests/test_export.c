/* tests/test_export.c — deriving and exporting architectures.
 *
 * The DARTS selection rule on hand-made probabilities (top 2 edges per node
 * by the strongest non-none op, ties to the lower input, stronger first,
 * `none` never chosen), the P-DARTS max_skip guard step by step, the DARTS
 * text and NNI formats against REFERENCE.md §2 (strings copied verbatim),
 * NNI round trips, the cifar_cell space's export of a supernet whose alphas
 * encode DARTS_V2 (os_arch_from_alpha -> space->derive -> os_arch_json), the
 * nb201 arch string and NNI 3.0 labels through export, os_arch_load and child
 * build, and malformed architectures (each message must name the culprit).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "tests/test_util.h"
#include "tests/ds_util.h"
#include "supernet/arch.h"
#include "supernet/darts_ops.h"
#include "supernet/genotype.h"
#include "supernet/spaces/spaces.h"

/* REFERENCE.md §2, verbatim (the right-hand sides of DARTS_V1 = / DARTS_V2 =). */
static const char *const REF_V1 =
    "Genotype(normal=[('sep_conv_3x3', 1), ('sep_conv_3x3', 0), ('skip_connect', 0), ('sep_conv_3x3', 1), "
    "('skip_connect', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 0), ('skip_connect', 2)], normal_concat=[2, 3, "
    "4, 5], reduce=[('max_pool_3x3', 0), ('max_pool_3x3', 1), ('skip_connect', 2), ('max_pool_3x3', 0), "
    "('max_pool_3x3', 0), ('skip_connect', 2), ('skip_connect', 2), ('avg_pool_3x3', 0)], reduce_concat=[2, 3, "
    "4, 5])";
static const char *const REF_V2 =
    "Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 0), ('sep_conv_3x3', 1), "
    "('sep_conv_3x3', 1), ('skip_connect', 0), ('skip_connect', 0), ('dil_conv_3x3', 2)], normal_concat=[2, 3, "
    "4, 5], reduce=[('max_pool_3x3', 0), ('max_pool_3x3', 1), ('skip_connect', 2), ('max_pool_3x3', 1), "
    "('max_pool_3x3', 0), ('skip_connect', 2), ('skip_connect', 2), ('max_pool_3x3', 1)], reduce_concat=[2, 3, "
    "4, 5])";
/* REFERENCE.md §2, DARTS_V2 in NNI's labels, verbatim */
static const char *const REF_V2_NNI =
    "{\"normal/op_2_0\": \"sep_conv_3x3\", \"normal/op_2_1\": \"sep_conv_3x3\", \"normal/input_2_0\": [0], "
    "\"normal/input_2_1\": [1],\n"
    " \"normal/op_3_0\": \"sep_conv_3x3\", \"normal/op_3_1\": \"sep_conv_3x3\", \"normal/input_3_0\": [0], "
    "\"normal/input_3_1\": [1],\n"
    " \"normal/op_4_0\": \"sep_conv_3x3\", \"normal/op_4_1\": \"skip_connect\", \"normal/input_4_0\": [1], "
    "\"normal/input_4_1\": [0],\n"
    " \"normal/op_5_0\": \"skip_connect\", \"normal/op_5_1\": \"dil_conv_3x3\", \"normal/input_5_0\": [0], "
    "\"normal/input_5_1\": [2],\n"
    " \"reduce/op_2_0\": \"max_pool_3x3\", \"reduce/op_2_1\": \"max_pool_3x3\", \"reduce/input_2_0\": [0], "
    "\"reduce/input_2_1\": [1],\n"
    " \"reduce/op_3_0\": \"skip_connect\", \"reduce/op_3_1\": \"max_pool_3x3\", \"reduce/input_3_0\": [2], "
    "\"reduce/input_3_1\": [1],\n"
    " \"reduce/op_4_0\": \"max_pool_3x3\", \"reduce/op_4_1\": \"skip_connect\", \"reduce/input_4_0\": [0], "
    "\"reduce/input_4_1\": [2],\n"
    " \"reduce/op_5_0\": \"skip_connect\", \"reduce/op_5_1\": \"max_pool_3x3\", \"reduce/input_5_0\": [2], "
    "\"reduce/input_5_1\": [1]}";

typedef float probs_t[2][OS_CELL_EDGES][8];

#define BASE 0.01f
static void fill_base(probs_t p)
{
    for (int t = 0; t < 2; t++)
        for (int e = 0; e < OS_CELL_EDGES; e++)
            for (int k = 0; k < 8; k++)
                p[t][e][k] = BASE;
}

static void set(probs_t p, int t, int node, int in, int op, float v) { p[t][os_cell_edge(node, in)][op] = v; }

/* expected pairs, 8 (op, input) for one cell */
static void expect_cell(const os_genotype *g, int t, const int want[8][2], const char *what)
{
    char got[1024];
    os_genotype_str(g, got, sizeof got);
    for (int i = 0; i < 8; i++) {
        cr_expect_eq(g->op[t][i], want[i][0], "%s: %s pair %d: op %s, expected %s (%s)", what,
                     os_cell_type_names[t], i, os_darts_op_names[g->op[t][i]], os_darts_op_names[want[i][0]], got);
        cr_expect_eq(g->in[t][i], want[i][1], "%s: %s pair %d: input %d, expected %d (%s)", what,
                     os_cell_type_names[t], i, g->in[t][i], want[i][1], got);
    }
}

/* The same probabilities as a supernet-form os_arch (weights per choice
 * "T/edge_N_J"), derived by the cifar_cell space: its child must be the
 * genotype os_genotype_derive gives (same NNI labels). */
static void expect_space_derive(const probs_t p, int max_skip, const os_genotype *g, const char *what)
{
    os_arch sup, child;
    os_arch_init(&sup, "cifar_cell");
    for (int t = 0; t < 2; t++)
        for (int node = 2; node < 6; node++)
            for (int in = 0; in < node; in++) {
                char label[OS_LABEL_MAX];
                snprintf(label, sizeof label, "%s/edge_%d_%d", os_cell_type_names[t], node, in);
                int c = os_arch_add(&sup, label, OS_CHOICE_LAYER, DARTS_NUM_OPS, 1, os_darts_op_names);
                sup.c[c].has_weights = 1;
                memcpy(sup.c[c].w, p[t][os_cell_edge(node, in)], 8 * sizeof(float));
            }
    os_derive_opts o = {.max_skip = max_skip};
    cr_assert_eq(os_space_cifar_cell.derive(&sup, &o, &child), 0, "%s: %s", what, os_last_error());
    cr_expect(os_arch_complete(&child), "%s: the derived child is not complete", what);
    cJSON *got = os_arch_to_nni(&child), *want = os_genotype_to_nni(g);
    char *a = cJSON_PrintUnformatted(got), *b = cJSON_PrintUnformatted(want);
    cr_expect(cJSON_Compare(got, want, 1), "%s: space derive %s\n genotype derive %s", what, a, b);
    free(a);
    free(b);
    cJSON_Delete(got);
    cJSON_Delete(want);
    os_arch_free(&child);
    os_arch_free(&sup);
}

enum { NONE = DARTS_NONE, MAXP = DARTS_MAX_POOL, AVGP = DARTS_AVG_POOL, SKIP = DARTS_SKIP, SEP3 = DARTS_SEP3,
       SEP5 = DARTS_SEP5, DIL3 = DARTS_DIL3, DIL5 = DARTS_DIL5 };

/* A normal cell that exercises every part of the rule; the reduction cell is
 * separate (so a mix-up of the two cells shows). */
static void rule_probs(probs_t p)
{
    fill_base(p);
    /* node 2: `none` is the largest weight on edge 2_0 but never chosen; edge
     * 2_1 is stronger, so it is listed first */
    set(p, 0, 2, 0, NONE, 0.90f);
    set(p, 0, 2, 0, SEP5, 0.05f);
    set(p, 0, 2, 1, MAXP, 0.30f);
    /* node 3: a three-way tie between inputs 0, 1, 2 -> inputs 0 and 1 */
    set(p, 0, 3, 0, DIL3, 0.20f);
    set(p, 0, 3, 1, DIL3, 0.20f);
    set(p, 0, 3, 2, AVGP, 0.20f);
    /* node 4: edge 4_1 is almost all `none` (its best real op is tiny) */
    set(p, 0, 4, 3, SEP3, 0.60f);
    set(p, 0, 4, 0, SKIP, 0.40f);
    set(p, 0, 4, 0, NONE, 0.99f);
    set(p, 0, 4, 1, NONE, 0.99f);
    for (int k = 1; k < 8; k++)
        set(p, 0, 4, 1, k, 0.001f);
    set(p, 0, 4, 2, AVGP, 0.35f);
    /* node 5: a tie between two ops on edge 5_4 -> the first (sep_conv_3x3) */
    set(p, 0, 5, 4, SEP3, 0.50f);
    set(p, 0, 5, 4, SEP5, 0.50f);
    set(p, 0, 5, 1, DIL5, 0.45f);
    /* reduction cell: node 2 only; the rest ties at BASE (max_pool, inputs 0, 1) */
    set(p, 1, 2, 1, AVGP, 0.50f);
    set(p, 1, 2, 0, SKIP, 0.40f);
}

static const int RULE_NORMAL[8][2] = {{MAXP, 1}, {SEP5, 0}, {DIL3, 0}, {DIL3, 1},
                                      {SEP3, 3}, {SKIP, 0}, {SEP3, 4}, {DIL5, 1}};
static const int RULE_REDUCE[8][2] = {{AVGP, 1}, {SKIP, 0}, {MAXP, 0}, {MAXP, 1},
                                      {MAXP, 0}, {MAXP, 1}, {MAXP, 0}, {MAXP, 1}};

Test(export, derive_selection_rule)
{
    probs_t p;
    rule_probs(p);
    os_genotype g;
    os_genotype_derive(p, -1, &g);
    expect_cell(&g, 0, RULE_NORMAL, "max_skip -1");
    expect_cell(&g, 1, RULE_REDUCE, "max_skip -1");
    for (int t = 0; t < 2; t++)
        cr_expect_eq(os_genotype_count(&g, t, NONE), 0);
    /* a guard that already holds changes nothing */
    os_genotype g2;
    os_genotype_derive(p, 1, &g2);
    cr_expect(!memcmp(&g, &g2, sizeof g), "max_skip 1 with one skip changed the genotype");
    expect_space_derive(p, -1, &g, "rule, max_skip -1");
    expect_space_derive(p, 1, &g, "rule, max_skip 1");
}

Test(export, derive_all_none_edges)
{
    /* every edge's largest weight is `none`: still 2 real ops per node */
    probs_t p;
    fill_base(p);
    for (int t = 0; t < 2; t++)
        for (int e = 0; e < OS_CELL_EDGES; e++)
            p[t][e][NONE] = 0.93f;
    set(p, 0, 5, 3, DIL5, 0.02f);
    os_genotype g;
    os_genotype_derive(p, -1, &g);
    static const int want[8][2] = {{MAXP, 0}, {MAXP, 1}, {MAXP, 0}, {MAXP, 1},
                                   {MAXP, 0}, {MAXP, 1}, {DIL5, 3}, {MAXP, 0}};
    expect_cell(&g, 0, want, "none everywhere");
    expect_space_derive(p, -1, &g, "none everywhere");
}

Test(export, derive_max_skip_guard)
{
    /* four skips in the normal cell; each guard level removes the weakest
     * selected skip edge's skip option and re-derives its node */
    probs_t p;
    fill_base(p);
    set(p, 0, 2, 0, SKIP, 0.50f);
    set(p, 0, 2, 1, SKIP, 0.45f);
    set(p, 0, 2, 1, SEP5, 0.30f);
    set(p, 0, 3, 1, SKIP, 0.40f);
    set(p, 0, 3, 2, SEP3, 0.35f);
    set(p, 0, 4, 0, SKIP, 0.20f);
    set(p, 0, 4, 0, DIL3, 0.05f);
    set(p, 0, 4, 3, SEP5, 0.30f);
    set(p, 0, 5, 4, DIL5, 0.60f);
    set(p, 0, 5, 2, AVGP, 0.50f);
    /* the reduction cell is all skip and is never guarded */
    for (int e = 0; e < OS_CELL_EDGES; e++)
        p[1][e][SKIP] = 0.3f;

    static const int want[5][8][2] = {
        /* max_skip 4 (and off): as derived */
        {{SKIP, 0}, {SKIP, 1}, {SKIP, 1}, {SEP3, 2}, {SEP5, 3}, {SKIP, 0}, {DIL5, 4}, {AVGP, 2}},
        /* 3: edge 4_0 (0.20) falls back to dil_conv_3x3 (0.05), still in node 4's top 2 */
        {{SKIP, 0}, {SKIP, 1}, {SKIP, 1}, {SEP3, 2}, {SEP5, 3}, {DIL3, 0}, {DIL5, 4}, {AVGP, 2}},
        /* 2: edge 3_1 (0.40) drops to BASE; node 3 re-derived: 3_2, then the tie 3_0 / 3_1 -> 3_0 */
        {{SKIP, 0}, {SKIP, 1}, {SEP3, 2}, {MAXP, 0}, {SEP5, 3}, {DIL3, 0}, {DIL5, 4}, {AVGP, 2}},
        /* 1: edge 2_1 (0.45) falls back to sep_conv_5x5 */
        {{SKIP, 0}, {SEP5, 1}, {SEP3, 2}, {MAXP, 0}, {SEP5, 3}, {DIL3, 0}, {DIL5, 4}, {AVGP, 2}},
        /* 0: edge 2_0 drops to BASE, now weaker than 2_1 */
        {{SEP5, 1}, {MAXP, 0}, {SEP3, 2}, {MAXP, 0}, {SEP5, 3}, {DIL3, 0}, {DIL5, 4}, {AVGP, 2}},
    };
    for (int level = 4; level >= 0; level--) {
        os_genotype g;
        char what[32];
        snprintf(what, sizeof what, "max_skip %d", level);
        os_genotype_derive(p, level, &g);
        expect_cell(&g, 0, want[4 - level], what);
        cr_expect_eq(os_genotype_count(&g, 0, SKIP), level, "%s", what);
        cr_expect_eq(os_genotype_count(&g, 1, SKIP), 8, "%s: the reduction cell was guarded", what);
        expect_space_derive(p, level, &g, what);
    }
    os_genotype off;
    os_genotype_derive(p, -1, &off);
    expect_cell(&off, 0, want[0], "max_skip -1");
}

Test(export, darts_text_format_matches_reference)
{
    char buf[1024];
    int n = os_genotype_str(&os_darts_v2, buf, sizeof buf);
    cr_expect_str_eq(buf, REF_V2);
    cr_expect_eq(n, (int)strlen(REF_V2));
    os_genotype_str(&os_darts_v1, buf, sizeof buf);
    cr_expect_str_eq(buf, REF_V1);
    /* a short buffer is truncated, never overrun, and the full length returned */
    char small[40];
    memset(small, 'x', sizeof small);
    cr_expect_eq(os_genotype_str(&os_darts_v2, small, 32), (int)strlen(REF_V2));
    cr_expect_eq(strlen(small), 31u);
    cr_expect_eq(small[33], 'x');
}

/* every key of a with the same value in b, and the same number of keys */
static void expect_same_dict(const cJSON *a, const cJSON *b)
{
    cr_assert(cJSON_IsObject(a) && cJSON_IsObject(b));
    cr_expect_eq(cJSON_GetArraySize(a), cJSON_GetArraySize(b));
    for (const cJSON *it = a->child; it; it = it->next) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(b, it->string);
        cr_expect(v != NULL, "key %s missing", it->string);
        if (v) {
            char *x = cJSON_PrintUnformatted(it), *y = cJSON_PrintUnformatted(v);
            cr_expect(cJSON_Compare(it, v, 1), "key %s: %s vs %s", it->string, x, y);
            free(x);
            free(y);
        }
    }
}

/* a named architecture, through os_arch_load */
static void load_named(const char *name, os_arch *a)
{
    const os_space *sp = NULL;
    cr_assert_eq(os_arch_load(name, NULL, &sp, a), 0, "%s: %s", name, os_last_error());
    cr_assert(sp != NULL);
}

/* the "genotype" text arch.json gives a cifar_cell child */
static void genotype_text_of(const os_arch *child, char *buf, size_t n)
{
    char *txt = os_arch_json(&os_space_cifar_cell, child, NULL);
    cJSON *j = cJSON_Parse(txt);
    cr_assert(j, "arch.json is not JSON: %s", txt);
    const cJSON *g = cJSON_GetObjectItemCaseSensitive(j, "genotype");
    cr_assert(cJSON_IsString(g), "arch.json lacks \"genotype\": %s", txt);
    snprintf(buf, n, "%s", g->valuestring);
    cJSON_Delete(j);
    free(txt);
}

Test(export, nni_darts_v2_matches_reference)
{
    cJSON *ref = cJSON_Parse(REF_V2_NNI);
    cr_assert(ref);
    cr_expect_eq(cJSON_GetArraySize(ref), 32);
    /* the genotype writer and reader */
    cJSON *ours = os_genotype_to_nni(&os_darts_v2);
    expect_same_dict(ours, ref);
    expect_same_dict(ref, ours);
    os_genotype g;
    cr_assert_eq(os_genotype_from_json(ref, &g), 0, "%s", os_last_error());
    cr_expect(!memcmp(&g, &os_darts_v2, sizeof g));
    cJSON_Delete(ours);
    /* the named architecture as an os_arch, in NNI labels */
    os_arch v2;
    load_named("darts-v2", &v2);
    cr_expect_str_eq(v2.space, "cifar_cell");
    cr_expect_eq(v2.n, 32);
    cr_expect(os_arch_complete(&v2));
    ours = os_arch_to_nni(&v2);
    expect_same_dict(ours, ref);
    expect_same_dict(ref, ours);
    cJSON_Delete(ours);
    /* and the reference text read back by the space is that architecture */
    os_arch back;
    const os_space *sp = NULL;
    cr_assert_eq(os_arch_parse_json(REF_V2_NNI, "REF_V2_NNI", "cifar_cell", &sp, &back), 0, "%s", os_last_error());
    cr_expect_eq(sp, &os_space_cifar_cell);
    cr_expect(os_arch_equal(&back, &v2));
    char text[1024];
    genotype_text_of(&back, text, sizeof text);
    cr_expect_str_eq(text, REF_V2);
    os_arch_free(&back);
    os_arch_free(&v2);
    cJSON_Delete(ref);
}

Test(export, nni_round_trip)
{
    os_rng r;
    os_rng_seed(&r, 11);
    for (int trial = 0; trial < 22; trial++) {
        os_genotype g;
        if (trial == 0)
            g = os_darts_v1;
        else if (trial == 1)
            g = os_darts_v2;
        else
            for (int t = 0; t < 2; t++)
                for (int i = 0; i < 8; i++) {
                    g.op[t][i] = 1 + (int)(os_rng_uniform(&r) * 7) % 7;
                    g.in[t][i] = (int)(os_rng_uniform(&r) * (2 + i / 2)) % (2 + i / 2);
                }
        cJSON *j = os_genotype_to_nni(&g);
        char *txt = cJSON_Print(j);
        cJSON *back = cJSON_Parse(txt);
        os_genotype h;
        memset(&h, 0xff, sizeof h);
        cr_assert_eq(os_genotype_from_json(back, &h), 0, "%s", os_last_error());
        cr_expect(!memcmp(&g, &h, sizeof g), "trial %d: %s", trial, txt);
        /* the same text as a bare NNI dict through the loader (no space
         * given: it must find cifar_cell), back out as NNI labels and as
         * DARTS text */
        os_arch a;
        const os_space *sp = NULL;
        cr_assert_eq(os_arch_parse_json(txt, "trial", NULL, &sp, &a), 0, "trial %d: %s", trial, os_last_error());
        cr_expect_eq(sp, &os_space_cifar_cell, "trial %d", trial);
        cJSON *out = os_arch_to_nni(&a);
        cr_expect(cJSON_Compare(out, j, 1), "trial %d: %s", trial, txt);
        char want[1024], got[1024];
        os_genotype_str(&g, want, sizeof want);
        genotype_text_of(&a, got, sizeof got);
        cr_expect_str_eq(got, want, "trial %d", trial);
        cJSON_Delete(out);
        os_arch_free(&a);
        cJSON_Delete(j);
        cJSON_Delete(back);
        free(txt);
    }
}

/* a file in dir holding text; path out */
static void write_text(const char *dir, const char *name, const char *text, char *path, size_t n)
{
    du_write(dir, name, text, strlen(text), 0);
    snprintf(path, n, "%s/%s", dir, name);
}

/* a small cifar_cell child from an architecture: no choices left */
static void build_cifar_child(const os_arch *a)
{
    os_net net;
    os_space_opts o = {.cells = 3, .channels = 4, .in_c = 1, .in_h = 8, .in_w = 8, .num_classes = 4, .seed = 1,
                       .arch = a};
    cr_assert_eq(os_space_cifar_cell.build(&net, &o), 0, "%s", os_last_error());
    cr_expect_eq(net.n_choices, 0);
    cr_expect_str_eq(net.space, "cifar_cell");
    os_net_free(&net);
}

Test(export, nni_flat_file_and_wrapped_file_load)
{
    char dir[256], path[512];
    du_tmpdir(dir, sizeof dir);
    os_arch v2, v1, a;
    load_named("darts-v2", &v2);
    load_named("darts-v1", &v1);
    cr_expect(!os_arch_equal(&v1, &v2));
    const os_space *sp;
    /* NNI's export: the flat dict, with and without the space named */
    write_text(dir, "nni.json", REF_V2_NNI, path, sizeof path);
    for (int named = 0; named < 2; named++) {
        sp = NULL;
        cr_assert_eq(os_arch_load(path, named ? "cifar_cell" : NULL, &sp, &a), 0, "%s", os_last_error());
        cr_expect_eq(sp, &os_space_cifar_cell);
        cr_expect(os_arch_equal(&a, &v2));
        os_arch_free(&a);
    }
    /* our arch.json: the dict under "arch", with other keys beside it */
    char *wrapped = malloc(strlen(REF_V2_NNI) + 200);
    sprintf(wrapped, "{\"space\": \"cifar_cell\", \"genotype\": \"x\", \"probs\": {}, \"arch\": %s}", REF_V2_NNI);
    write_text(dir, "ours.json", wrapped, path, sizeof path);
    free(wrapped);
    sp = NULL;
    cr_assert_eq(os_arch_load(path, NULL, &sp, &a), 0, "%s", os_last_error());
    cr_expect_eq(sp, &os_space_cifar_cell);
    cr_expect(os_arch_equal(&a, &v2));
    os_arch_free(&a);
    /* the genotype reader takes both files too */
    os_genotype g;
    cr_assert_eq(os_genotype_load(path, &g), 0, "%s", os_last_error());
    cr_expect(!memcmp(&g, &os_darts_v2, sizeof g));
    /* the names */
    cr_assert_eq(os_arch_load("darts-v1", "cifar_cell", &sp, &a), 0, "%s", os_last_error());
    cr_expect(os_arch_equal(&a, &v1));
    char text[1024];
    genotype_text_of(&a, text, sizeof text);
    cr_expect_str_eq(text, REF_V1);
    os_arch_free(&a);
    /* the space builds a child from the NNI file */
    write_text(dir, "nni.json", REF_V2_NNI, path, sizeof path);
    cr_assert_eq(os_arch_load(path, NULL, &sp, &a), 0, "%s", os_last_error());
    build_cifar_child(&a);
    os_arch_free(&a);
    os_arch_free(&v1);
    os_arch_free(&v2);
    du_rmtree(dir);
    os_step_reset();
}

/* NNI's DARTS-V2 dict (REFERENCE.md §2) as a bare dict, no space given:
 * the loader finds cifar_cell, and it is darts-v2 (file and memory) */
Test(export, nni_darts_v2_bare_dict_is_darts_v2)
{
    char dir[256], path[512];
    du_tmpdir(dir, sizeof dir);
    write_text(dir, "v2.json", REF_V2_NNI, path, sizeof path);
    os_arch v2, a, m;
    load_named("darts-v2", &v2);
    const os_space *sp = NULL;
    cr_assert_eq(os_arch_load(path, NULL, &sp, &a), 0, "%s", os_last_error());
    cr_expect_eq(sp, &os_space_cifar_cell, "loaded as %s", sp ? sp->name : "?");
    cr_expect(os_arch_equal(&a, &v2));
    sp = NULL;
    cr_assert_eq(os_arch_parse_json(REF_V2_NNI, "REF_V2_NNI", NULL, &sp, &m), 0, "%s", os_last_error());
    cr_expect_eq(sp, &os_space_cifar_cell);
    cr_expect(os_arch_equal(&m, &v2));
    build_cifar_child(&a);
    os_arch_free(&m);
    os_arch_free(&a);
    os_arch_free(&v2);
    du_rmtree(dir);
    os_step_reset();
}

/* A DARTS_V2 dict with one key replaced (value: raw JSON) or added. */
static char *v2_with(const char *key, const char *value)
{
    cJSON *j = cJSON_Parse(REF_V2_NNI);
    cJSON *v = cJSON_Parse(value);
    cr_assert(j && v, "bad test JSON %s", value);
    if (cJSON_GetObjectItemCaseSensitive(j, key))
        cJSON_ReplaceItemInObjectCaseSensitive(j, key, v);
    else
        cJSON_AddItemToObject(j, key, v);
    char *t = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    return t;
}

static char *v2_without(const char *key)
{
    cJSON *j = cJSON_Parse(REF_V2_NNI);
    cJSON_DeleteItemFromObjectCaseSensitive(j, key);
    char *t = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    return t;
}

/* The file must fail to load, as cifar_cell's and with no space given, and
 * the message must name the file and the culprit. */
#define EXPECT_BAD_ARCH(dir, text, ...)                                                  \
    do {                                                                                 \
        char p_[512];                                                                    \
        write_text(dir, "bad.json", text, p_, sizeof p_);                                \
        for (int named_ = 0; named_ < 2; named_++) {                                     \
            os_arch a_;                                                                  \
            const os_space *sp_ = NULL;                                                  \
            DU_EXPECT_ERROR_RC(0, os_arch_load(p_, named_ ? "cifar_cell" : NULL, &sp_, &a_), \
                            "bad.json", __VA_ARGS__);                                    \
        }                                                                                \
    } while (0)

Test(export, bad_cifar_cell_architectures)
{
    char dir[256];
    du_tmpdir(dir, sizeof dir);
    char *t;
    EXPECT_BAD_ARCH(dir, "{\"normal/op_2_0\": \"sep_conv_3x3\",", "malformed JSON");
    EXPECT_BAD_ARCH(dir, "", "malformed JSON", "empty");
    EXPECT_BAD_ARCH(dir, "[1, 2]", "expected a JSON object");
    EXPECT_BAD_ARCH(dir, (t = v2_with("normal/op_6_0", "\"sep_conv_3x3\"")), "unknown key 'normal/op_6_0'");
    free(t);
    EXPECT_BAD_ARCH(dir, (t = v2_with("colour", "\"blue\"")), "unknown key 'colour'");
    free(t);
    /* a known key with something after it is still an unknown key */
    EXPECT_BAD_ARCH(dir, (t = v2_with("normal/op_2_0_extra", "\"sep_conv_3x3\"")), "unknown key 'normal/op_2_0_extra'");
    free(t);
    EXPECT_BAD_ARCH(dir, (t = v2_with("reduce/input_3_1x", "[0]")), "unknown key 'reduce/input_3_1x'");
    free(t);
    EXPECT_BAD_ARCH(dir, (t = v2_with("normal/op_3_1", "\"conv_7x7\"")), "'normal/op_3_1'", "'conv_7x7'");
    free(t);
    EXPECT_BAD_ARCH(dir, (t = v2_with("reduce/op_5_0", "\"none\"")), "'reduce/op_5_0'", "'none'");
    free(t);
    EXPECT_BAD_ARCH(dir, (t = v2_with("normal/op_2_1", "3")), "'normal/op_2_1'");
    free(t);
    EXPECT_BAD_ARCH(dir, (t = v2_with("normal/input_4_1", "[4]")), "'normal/input_4_1'", "out of range");
    free(t);
    EXPECT_BAD_ARCH(dir, (t = v2_with("reduce/input_2_0", "[-1]")), "'reduce/input_2_0'", "out of range");
    free(t);
    EXPECT_BAD_ARCH(dir, (t = v2_with("normal/input_5_1", "[1.5]")), "'normal/input_5_1'");
    free(t);
    EXPECT_BAD_ARCH(dir, (t = v2_with("normal/input_3_0", "[0, 1]")), "'normal/input_3_0'");
    free(t);
    EXPECT_BAD_ARCH(dir, (t = v2_without("reduce/op_4_1")), "'reduce/op_4_1'", "missing");
    free(t);
    EXPECT_BAD_ARCH(dir, (t = v2_without("normal/input_5_0")), "'normal/input_5_0'", "missing");
    free(t);
    /* arch.json with a bad space or no "arch" */
    EXPECT_BAD_ARCH(dir, "{\"space\": \"cifar_cel\", \"arch\": {}}", "'space'", "cifar_cel");
    EXPECT_BAD_ARCH(dir, "{\"space\": \"cifar_cell\", \"genotype\": \"x\"}", "'arch'");
    os_arch a;
    const os_space *sp;
    char missing[512];
    snprintf(missing, sizeof missing, "%s/absent.json", dir);
    DU_EXPECT_ERROR(os_arch_load(missing, NULL, &sp, &a), "absent.json", "cannot open");
    DU_EXPECT_ERROR(os_arch_load("darts-v3", NULL, &sp, &a), "darts-v3", "cannot open");
    /* a child form with a choice that is not a single real op / input:
     * build names the label */
    os_arch v2;
    load_named("darts-v2", &v2);
    static const struct {
        const char *label;
        unsigned chosen;
    } bad[] = {{"normal/op_3_1", 1u << DARTS_NONE}, {"reduce/op_2_0", 0},
               {"normal/op_4_0", (1u << SEP3) | (1u << SEP5)}, {"reduce/input_5_1", 1u << 5},
               {"normal/input_2_1", 3u}, {"reduce/input_4_0", 0}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        os_arch b;
        os_arch_copy(&b, &v2);
        int c = os_arch_find(&b, bad[i].label);
        cr_assert(c >= 0, "darts-v2 lacks %s", bad[i].label);
        b.c[c].chosen = bad[i].chosen;
        os_net net;
        os_space_opts o = {.cells = 3, .channels = 2, .in_c = 1, .in_h = 8, .in_w = 8, .num_classes = 4,
                           .arch = &b};
        char want[64];
        snprintf(want, sizeof want, "'%s'", bad[i].label);
        DU_EXPECT_ERROR(os_space_cifar_cell.build(&net, &o), want);
        os_arch_free(&b);
    }
    os_arch_free(&v2);
    du_rmtree(dir);
}

/* ---- the cifar_cell space's export ------------------------------------------ */
static void build_cifar_supernet(os_net *net)
{
    os_space_opts o = {.cells = 3, .channels = 2, .in_c = 1, .in_h = 8, .in_w = 8, .num_classes = 4, .seed = 3};
    cr_assert_eq(os_space_cifar_cell.build(net, &o), 0, "%s", os_last_error());
    cr_assert_eq(net->n_choices, 2 * OS_CELL_EDGES);
}

/* alphas that make genotype g the derived one: the first pair of each node
 * gets 3, the second 2, everything else 0 */
static void encode_genotype(os_net *net, const os_genotype *g)
{
    for (int i = 0; i < net->n_choices; i++)
        for (int k = 0; k < net->choices[i].n; k++)
            net->choices[i].alpha->data[k] = 0.0f;
    for (int t = 0; t < 2; t++)
        for (int i = 0; i < 8; i++) {
            char label[OS_LABEL_MAX];
            snprintf(label, sizeof label, "%s/edge_%d_%d", os_cell_type_names[t], 2 + i / 2, g->in[t][i]);
            int c = os_net_find_choice(net, label);
            cr_assert(c >= 0, "no choice %s", label);
            net->choices[c].alpha->data[g->op[t][i]] = i % 2 ? 2.0f : 3.0f;
        }
}

/* The export of a searched supernet: weights from the alphas, the space's
 * rule, arch.json. The child comes back in *child (caller frees). */
static cJSON *export_json(const os_space *sp, const os_net *net, int max_skip, os_arch *child)
{
    os_arch w;
    cr_assert_eq(os_arch_from_alpha(net, &w), 0, "%s", os_last_error());
    cr_assert_eq(sp->derive(&w, &(os_derive_opts){.max_skip = max_skip}, child), 0, "%s", os_last_error());
    cr_expect(os_arch_complete(child));
    char *txt = os_arch_json(sp, child, &w);
    cr_assert(txt);
    cJSON *j = cJSON_Parse(txt);
    cr_assert(j, "export is not JSON: %s", txt);
    free(txt);
    os_arch_free(&w);
    return j;
}

Test(export, cifar_cell_export_of_encoded_darts_v2)
{
    os_net net;
    build_cifar_supernet(&net);
    encode_genotype(&net, &os_darts_v2);
    os_arch child, v2;
    load_named("darts-v2", &v2);
    cJSON *j = export_json(&os_space_cifar_cell, &net, -1, &child);
    cr_expect(os_arch_equal(&child, &v2));
    os_arch_free(&child);
    const cJSON *text = cJSON_GetObjectItem(j, "genotype"), *space = cJSON_GetObjectItem(j, "space");
    cr_assert(cJSON_IsString(text) && cJSON_IsString(space));
    cr_expect_str_eq(text->valuestring, REF_V2);
    cr_expect_str_eq(space->valuestring, "cifar_cell");
    cJSON *ref = cJSON_Parse(REF_V2_NNI);
    expect_same_dict(cJSON_GetObjectItem(j, "arch"), ref);
    /* probs: per label, the softmax of that label's alpha; re-deriving from
     * them (keyed by label here) gives the exported architecture */
    const cJSON *pj = cJSON_GetObjectItem(j, "probs");
    cr_assert(cJSON_IsObject(pj));
    cr_expect_eq(cJSON_GetArraySize(pj), 2 * OS_CELL_EDGES);
    probs_t p;
    for (int t = 0; t < 2; t++)
        for (int node = 2; node < 6; node++)
            for (int in = 0; in < node; in++) {
                char label[OS_LABEL_MAX];
                snprintf(label, sizeof label, "%s/edge_%d_%d", os_cell_type_names[t], node, in);
                const cJSON *e = cJSON_GetObjectItemCaseSensitive(pj, label);
                cr_assert(cJSON_IsObject(e), "probs lack %s", label);
                cr_expect_eq(cJSON_GetArraySize(e), 8, "%s", label);
                float want[8];
                os_choice_probs(&net.choices[os_net_find_choice(&net, label)], want);
                for (int k = 0; k < 8; k++) {
                    const cJSON *v = cJSON_GetObjectItemCaseSensitive(e, os_darts_op_names[k]);
                    cr_assert(cJSON_IsNumber(v));
                    p[t][os_cell_edge(node, in)][k] = (float)v->valuedouble;
                    cr_expect_eq(p[t][os_cell_edge(node, in)][k], want[k], "%s %s", label, os_darts_op_names[k]);
                }
            }
    os_genotype g;
    os_genotype_derive(p, -1, &g);
    cr_expect(!memcmp(&g, &os_darts_v2, sizeof g));
    /* the exported file loads back as DARTS_V2 */
    char *txt = cJSON_Print(j);
    const os_space *sp = NULL;
    cr_assert_eq(os_arch_parse_json(txt, "export", NULL, &sp, &child), 0, "%s", os_last_error());
    cr_expect_eq(sp, &os_space_cifar_cell);
    cr_expect(os_arch_equal(&child, &v2));
    os_arch_free(&child);
    free(txt);
    cJSON_Delete(j);

    /* max_skip 1: node 4's skip (the weaker of the two, alpha 2) goes; edge
     * 4_0 then falls below the untouched edges 4_2 and 4_3 (tie -> 4_2) */
    j = export_json(&os_space_cifar_cell, &net, 1, &child);
    os_genotype want = os_darts_v2;
    want.op[0][5] = MAXP;
    want.in[0][5] = 2;
    char a[1024], b[1024];
    genotype_text_of(&child, a, sizeof a);
    os_genotype_str(&want, b, sizeof b);
    cr_expect_str_eq(a, b);
    cr_expect_str_eq(cJSON_GetObjectItem(j, "genotype")->valuestring, b);
    cJSON *want_nni = os_genotype_to_nni(&want);
    expect_same_dict(cJSON_GetObjectItem(j, "arch"), want_nni);
    cr_assert_eq(os_genotype_from_json(j, &g), 0, "%s", os_last_error());
    cr_expect(!memcmp(&g, &want, sizeof g));
    cJSON_Delete(want_nni);
    os_arch_free(&child);
    cJSON_Delete(j);
    cJSON_Delete(ref);
    os_arch_free(&v2);
    os_net_free(&net);
    os_step_reset();
}

/* ---- nb201 ------------------------------------------------------------------------ */
/* the benchmark's op names (arch strings) and NNI 3.0's (labels, arch.json) */
static const char *const NB_OPS[5] = {"none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3"};
static const char *const NNI_OPS[5] = {"none", "skip_connect", "conv_1x1", "conv_3x3", "avg_pool_3x3"};

static void nb_opts(os_space_opts *o, const os_arch *arch)
{
    *o = (os_space_opts){.cells = 1, .channels = 4, .in_c = 1, .in_h = 8, .in_w = 8, .num_classes = 4, .seed = 5,
                         .arch = arch};
}

/* arch string of ops[6] in edge order 1_0, 2_0, 2_1, 3_0, 3_1, 3_2 (to node
 * 1 from 0, ...): NNI's labels cell/0_1, cell/0_2, cell/1_2, cell/0_3, ... */
static void nb_str(const int *ops, char *s, size_t n)
{
    snprintf(s, n, "|%s~0|+|%s~0|%s~1|+|%s~0|%s~1|%s~2|", NB_OPS[ops[0]], NB_OPS[ops[1]], NB_OPS[ops[2]],
             NB_OPS[ops[3]], NB_OPS[ops[4]], NB_OPS[ops[5]]);
}

/* The child's convolutions reveal the conv edges: one [C, C, k, k] weight per
 * conv edge in each cell, none elsewhere. */
static void expect_child_ops(const os_net *net, const int *ops)
{
    int e = 0;
    for (int j = 1; j < 4; j++)
        for (int i = 0; i < j; i++, e++)
            for (int cell = 0; cell < 3; cell++) {
                char nm[64];
                snprintf(nm, sizeof nm, "cells.%d.e%d_%d.conv", cell, j, i);
                os_tensor *w = os_params_find(&net->weights, nm);
                int k = ops[e] == 2 ? 1 : ops[e] == 3 ? 3 : 0;
                cr_expect_eq(w != NULL, k > 0, "%s: conv weight %s for op %s", nm, w ? "present" : "absent",
                             NB_OPS[ops[e]]);
                if (w && k)
                    cr_expect(w->shape[2] == k && w->shape[3] == k && w->shape[0] == 4 << cell, "%s shape %s", nm,
                              os_shape_str(w));
            }
}

static void logits_of(os_net *net, float *out)
{
    float x[2 * 64];
    for (int i = 0; i < 128; i++)
        x[i] = sinf(0.37f * (float)i);
    os_tensor *t = os_tensor_new4(2, 1, 8, 8);
    os_tensor_from_host(t, x);
    os_forward_ctx ctx = {.training = false};
    bool old = os_set_grad_enabled(false);
    os_tensor *y = net->forward(net, t, &ctx, NULL);
    os_tensor_to_host(y, out);
    os_set_grad_enabled(old);
    os_step_reset();
}

Test(export, nb201_arch_string_round_trip)
{
    static const int archs[4][6] = {
        {3, 0, 1, 4, 2, 3},
        {1, 1, 1, 1, 1, 1},
        {0, 2, 0, 3, 4, 1},
        {4, 3, 2, 1, 0, 2},
    };
    char dir[256];
    du_tmpdir(dir, sizeof dir);
    for (int a = 0; a < 4; a++) {
        char want[256];
        nb_str(archs[a], want, sizeof want);
        /* a supernet whose alphas pick these ops exports this string */
        os_net sup;
        os_space_opts o;
        nb_opts(&o, NULL);
        cr_assert_eq(os_space_nb201.build(&sup, &o), 0, "%s", os_last_error());
        cr_assert_eq(sup.n_choices, 6);
        int e = 0;
        for (int j = 1; j < 4; j++)
            for (int i = 0; i < j; i++, e++) {
                char label[24];
                snprintf(label, sizeof label, "cell/%d_%d", i, j);
                int ci = os_net_find_choice(&sup, label);
                cr_assert(ci >= 0, "the nb201 supernet has no choice %s", label);
                os_choice *c = &sup.choices[ci];
                for (int k = 0; k < 5; k++) {
                    cr_expect_str_eq(c->names[k], NNI_OPS[k], "%s candidate %d", label, k);
                    c->alpha->data[k] = k == archs[a][e] ? 1.0f : -0.5f * k;
                }
            }
        os_arch derived;
        cJSON *j = export_json(&os_space_nb201, &sup, -1, &derived);
        char *txt = cJSON_Print(j);
        const cJSON *s = cJSON_GetObjectItem(j, "arch_str"), *arch = cJSON_GetObjectItem(j, "arch");
        const cJSON *space = cJSON_GetObjectItem(j, "space");
        cr_assert(cJSON_IsString(s) && cJSON_IsObject(arch) && cJSON_IsString(space), "%s", txt);
        cr_expect_str_eq(s->valuestring, want);
        cr_expect_str_eq(space->valuestring, "nb201");
        cr_expect_eq(cJSON_GetArraySize(arch), 6, "%s", txt);
        e = 0;
        for (int jj = 1; jj < 4; jj++)
            for (int i = 0; i < jj; i++, e++) {
                char label[24];
                snprintf(label, sizeof label, "cell/%d_%d", i, jj);
                const cJSON *v = cJSON_GetObjectItemCaseSensitive(arch, label);
                cr_expect(cJSON_IsString(v) && !strcmp(v->valuestring, NNI_OPS[archs[a][e]]), "%s: %s", label, txt);
            }
        os_net_free(&sup);

        /* the child from the string, from the exported file, from NNI's
         * flat label dict (no space: the loader finds nb201) and from an
         * arch.json that gives only the string: same ops, same network */
        char path_ours[512], path_flat[512], path_str[512];
        write_text(dir, "ours.json", txt, path_ours, sizeof path_ours);
        char *flat = cJSON_PrintUnformatted(arch);
        write_text(dir, "flat.json", flat, path_flat, sizeof path_flat);
        free(flat);
        char str_only[512];
        snprintf(str_only, sizeof str_only, "{\"space\": \"nb201\", \"arch_str\": \"%s\"}", want);
        write_text(dir, "str.json", str_only, path_str, sizeof path_str);
        free(txt);
        cJSON_Delete(j);
        const char *srcs[4] = {want, path_ours, path_flat, path_str};
        float ref[8];
        for (int k = 0; k < 4; k++) {
            os_arch child;
            const os_space *sp = NULL;
            cr_assert_eq(os_arch_load(srcs[k], NULL, &sp, &child), 0, "%s: %s", srcs[k], os_last_error());
            cr_expect_eq(sp, &os_space_nb201, "%s", srcs[k]);
            cr_expect(os_arch_equal(&child, &derived), "%s: not the exported architecture", srcs[k]);
            os_net net;
            nb_opts(&o, &child);
            cr_assert_eq(os_space_nb201.build(&net, &o), 0, "%s: %s", srcs[k], os_last_error());
            cr_expect_eq(net.n_choices, 0);
            expect_child_ops(&net, archs[a]);
            float y[8];
            logits_of(&net, y);
            if (k == 0)
                memcpy(ref, y, sizeof y);
            else
                cr_expect(!memcmp(ref, y, sizeof y), "child from %s differs from the string's", srcs[k]);
            os_net_free(&net);
            os_arch_free(&child);
        }
        os_arch_free(&derived);
    }
    du_rmtree(dir);
    os_step_reset();
}

/* An nb201 edge named in a message: NNI's label cell/i_j, or the arch
 * string's own "edge j_i" (node j from input i). */
static void expect_names_edge(int i, int j)
{
    char label[32], edge[32];
    snprintf(label, sizeof label, "cell/%d_%d", i, j);
    snprintf(edge, sizeof edge, "edge %d_%d", j, i);
    const char *m = os_last_error();
    cr_expect(strstr(m, label) || strstr(m, edge), "message '%s' names neither %s nor %s", m, label, edge);
}

/* src must fail to load, as nb201's and with no space given (a bare dict is
 * then judged by the space that knows most of its keys), naming the culprit */
#define EXPECT_BAD_NB(src, ...)                                                          \
    do {                                                                                 \
        for (int named_ = 0; named_ < 2; named_++) {                                     \
            os_arch a_;                                                                  \
            const os_space *sp_ = NULL;                                                  \
            DU_EXPECT_ERROR_RC(0, os_arch_load(src, named_ ? "nb201" : NULL, &sp_, &a_), \
                            __VA_ARGS__);                                                \
        }                                                                                \
    } while (0)

Test(export, bad_nb201_architectures)
{
    char dir[256], p[512];
    du_tmpdir(dir, sizeof dir);
    EXPECT_BAD_NB("|conv_9x9~0|+|none~0|none~1|+|none~0|none~1|none~2|", "'conv_9x9'");
    expect_names_edge(0, 1);
    /* NNI's op names are not the arch string's */
    EXPECT_BAD_NB("|conv_3x3~0|+|none~0|none~1|+|none~0|none~1|none~2|", "'conv_3x3'");
    expect_names_edge(0, 1);
    EXPECT_BAD_NB("|none~0|+|none~0|none~1|+|none~0|none~1|", "~");
    expect_names_edge(2, 3);
    EXPECT_BAD_NB("|none~0|+|none~0|none~0|+|none~0|none~1|none~2|", "input 0");
    expect_names_edge(1, 2);
    EXPECT_BAD_NB("|none~0|+|none~0|none~1|+|none~0|none~1|none~2|junk", "junk");
    EXPECT_BAD_NB("|nor_conv_3x3~0x|+|none~0|none~1|+|none~0|none~1|none~2|", "nor_conv_3x3");
    expect_names_edge(0, 1);
    write_text(dir, "m.json", "{\"cell/0_1\": \"none\",", p, sizeof p);
    EXPECT_BAD_NB(p, "m.json", "malformed JSON");
    write_text(dir, "a.json", "[1, 2]", p, sizeof p);
    EXPECT_BAD_NB(p, "a.json", "object");
    write_text(dir, "k.json",
               "{\"cell/0_1\": \"none\", \"cell/0_2\": \"none\", \"cell/1_2\": \"none\", \"cell/0_3\": \"none\", "
               "\"cell/1_3\": \"none\", \"cell/2_3\": \"none\", \"cell/3_4\": \"none\"}", p, sizeof p);
    EXPECT_BAD_NB(p, "k.json", "unknown key 'cell/3_4'");
    write_text(dir, "o.json",
               "{\"cell/0_1\": \"none\", \"cell/0_2\": \"none\", \"cell/1_2\": \"sep_conv_3x3\", \"cell/0_3\": "
               "\"none\", \"cell/1_3\": \"none\", \"cell/2_3\": \"none\"}", p, sizeof p);
    EXPECT_BAD_NB(p, "o.json", "'cell/1_2'", "sep_conv_3x3");
    /* the benchmark's op names are not NNI's */
    write_text(dir, "b.json",
               "{\"cell/0_1\": \"nor_conv_3x3\", \"cell/0_2\": \"none\", \"cell/1_2\": \"none\", \"cell/0_3\": "
               "\"none\", \"cell/1_3\": \"none\", \"cell/2_3\": \"none\"}", p, sizeof p);
    EXPECT_BAD_NB(p, "b.json", "'cell/0_1'", "nor_conv_3x3");
    /* the old j_i labels are unknown keys now */
    write_text(dir, "j.json",
               "{\"1_0\": \"none\", \"2_0\": \"none\", \"2_1\": \"none\", \"3_0\": \"none\", \"3_1\": \"none\", "
               "\"3_2\": \"none\"}", p, sizeof p);
    EXPECT_BAD_NB(p, "j.json", "unknown key '1_0'");
    write_text(dir, "n.json",
               "{\"cell/0_1\": \"none\", \"cell/0_2\": \"none\", \"cell/1_2\": \"none\", \"cell/0_3\": \"none\", "
               "\"cell/1_3\": \"none\"}", p, sizeof p);
    EXPECT_BAD_NB(p, "n.json", "'cell/2_3'", "missing");
    write_text(dir, "v.json",
               "{\"cell/0_1\": \"none\", \"cell/0_2\": \"none\", \"cell/1_2\": \"none\", \"cell/0_3\": \"none\", "
               "\"cell/1_3\": 4, \"cell/2_3\": \"none\"}", p, sizeof p);
    EXPECT_BAD_NB(p, "v.json", "'cell/1_3'");
    /* a child form with an edge not decided, or decided twice: build names it */
    os_arch good;
    const os_space *sp;
    cr_assert_eq(os_arch_load("|nor_conv_3x3~0|+|none~0|skip_connect~1|+|nor_conv_1x1~0|avg_pool_3x3~1|none~2|",
                              "nb201", &sp, &good), 0, "%s", os_last_error());
    static const struct {
        const char *label;
        unsigned chosen;
    } bad[] = {{"cell/0_3", 0}, {"cell/1_2", 3u}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        os_arch b;
        os_arch_copy(&b, &good);
        int c = os_arch_find(&b, bad[i].label);
        cr_assert(c >= 0, "no %s", bad[i].label);
        b.c[c].chosen = bad[i].chosen;
        os_net net;
        os_space_opts o;
        nb_opts(&o, &b);
        char want[64];
        snprintf(want, sizeof want, "'%s'", bad[i].label);
        DU_EXPECT_ERROR(os_space_nb201.build(&net, &o), want);
        os_arch_free(&b);
    }
    os_arch_free(&good);
    du_rmtree(dir);
}

/* An arch.json that gives only "arch_str" (no "arch"): a bad string is an
 * error naming the file, the key and the culprit. */
Test(export, bad_nb201_arch_str_in_arch_json)
{
    char dir[256], p[512];
    du_tmpdir(dir, sizeof dir);
    write_text(dir, "s.json",
               "{\"space\": \"nb201\", \"arch_str\": \"|conv_9x9~0|+|none~0|none~1|+|none~0|none~1|none~2|\"}", p,
               sizeof p);
    EXPECT_BAD_NB(p, "s.json", "arch_str", "conv_9x9");
    /* not an arch string at all (no leading '|') */
    write_text(dir, "g.json", "{\"space\": \"nb201\", \"arch_str\": \"garbage\"}", p, sizeof p);
    EXPECT_BAD_NB(p, "g.json", "arch_str", "garbage");
    du_rmtree(dir);
}

/* A diverged search (a NaN or infinite alpha) exports nothing: an error that
 * names the choice, for both spaces. */
Test(export, non_finite_alpha_is_an_error_naming_the_choice)
{
    os_net net;
    build_cifar_supernet(&net);
    encode_genotype(&net, &os_darts_v2);
    int c = os_net_find_choice(&net, "reduce/edge_4_1");
    cr_assert(c >= 0);
    os_arch w;
    net.choices[c].alpha->data[3] = NAN;
    cr_assert_eq(os_arch_from_alpha(&net, &w), -1);
    cr_expect_eq(w.n, 0);
    cr_expect_null(w.c);
    cr_expect(strstr(os_last_error(), "'reduce/edge_4_1'"), "%s", os_last_error());
    net.choices[c].alpha->data[3] = INFINITY;
    cr_assert_eq(os_arch_from_alpha(&net, &w), -1);
    cr_expect(strstr(os_last_error(), "'reduce/edge_4_1'"), "%s", os_last_error());
    /* finite again: the export works */
    net.choices[c].alpha->data[3] = 0.0f;
    cr_assert_eq(os_arch_from_alpha(&net, &w), 0, "%s", os_last_error());
    os_arch_free(&w);
    os_net_free(&net);

    os_net sup;
    os_space_opts o;
    nb_opts(&o, NULL);
    cr_assert_eq(os_space_nb201.build(&sup, &o), 0, "%s", os_last_error());
    c = os_net_find_choice(&sup, "cell/2_3");
    cr_assert(c >= 0);
    sup.choices[c].alpha->data[0] = -INFINITY;
    cr_assert_eq(os_arch_from_alpha(&sup, &w), -1);
    cr_expect_null(w.c);
    cr_expect(strstr(os_last_error(), "'cell/2_3'"), "%s", os_last_error());
    os_net_free(&sup);
}
