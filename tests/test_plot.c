/* tests/test_plot.c — the pictures of a run (plot/plot.h) and `oneshot plot`.
 *
 *  - every registered space: a run directory made as a search of it would
 *    leave it (a tiny supernet's labels, 50 epochs of metrics with drifting
 *    probabilities, the child its own derive picks); every PNG decodes
 *    (stb_image) with a sane size, every SVG is well-formed XML (libxml2),
 *    the report references and inlines every picture; the 28-choice
 *    cifar_cell run is drawn in under 5 s (under 1 s when the machine is
 *    quiet: the time is logged);
 *  - the DOT text of darts-v2's cells equals tests/data/darts-v2-*.dot;
 *  - a space without a drawing of its own (ProxylessNAS, ENAS macro, a new
 *    one) is drawn as a chain of its labels; enas_micro's output takes the
 *    loose ends; a cifar_cell arch with a foreign label falls back to the chain;
 *  - bad input: no run, a broken metrics.jsonl line, a missing or broken
 *    arch.json, an empty metrics file: clear messages, exit 0 / 1 / 2;
 *  - `train --plots 1` refreshes the pictures, `--plots 0` draws none;
 *  - base64 and HTML escaping.
 */
#include <libxml/parser.h>
#include <math.h>
#include <time.h>

#include "tests/test_util.h"
#include "tests/cli_util.h"
#include "plot/plot.h"
#include "supernet/arch.h"
#include "stb_image.h"

/* LeakSanitizer (make test SANITIZE=1), for this whole test binary: the
 * one-time font caches of Graphviz's pango plugin, pango, fontconfig and
 * cairo are not leaks of ours (oneshot/main.c has the same list), nor are
 * the 48-byte blocks Criterion's runner keeps (5 of them with --jobs 2). */
const char *__lsan_default_suppressions(void);
const char *__lsan_default_suppressions(void)
{
    return "leak:libcriterion.so\nleak:libgvplugin_pango.so\nleak:libpango-1.0.so\nleak:libpangoft2-1.0.so\nleak:libfontconfig.so\n"
           "leak:cairo_toy_font_face_create\n";
}

/* ---- helpers ---------------------------------------------------------------------- */
static void write_text(const char *dir, const char *name, const char *text)
{
    char p[1024];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    FILE *f = fopen(p, "w");
    cr_assert(f, "write %s", p);
    fputs(text, f);
    fclose(f);
}

static int exists(const char *dir, const char *name)
{
    char p[1024];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    return access(p, F_OK) == 0;
}

/* the PNG decodes with a sane size */
static void expect_png(const char *dir, const char *stem)
{
    char p[1024];
    snprintf(p, sizeof p, "%s/%s.png", dir, stem);
    int w = 0, h = 0, c = 0;
    unsigned char *px = stbi_load(p, &w, &h, &c, 0);
    cr_expect(px != NULL, "%s does not decode: %s", p, stbi_failure_reason());
    cr_expect(w >= 100 && w <= 8000 && h >= 80 && h <= 8000, "%s is %d x %d", p, w, h);
    /* not blank: some pixel is darker than the white background */
    int dark = 0;
    for (long i = 0; px && i < (long)w * h * c && !dark; i++)
        dark = px[i] < 128;
    cr_expect(dark, "%s is blank", p);
    stbi_image_free(px);
}

/* the SVG is well-formed XML with an <svg> root */
static void expect_svg(const char *dir, const char *stem)
{
    char p[1024];
    snprintf(p, sizeof p, "%s/%s.svg", dir, stem);
    xmlDocPtr doc = xmlReadFile(p, NULL, XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
    cr_expect(doc != NULL, "%s is not well-formed XML", p);
    if (doc) {
        xmlNodePtr root = xmlDocGetRootElement(doc);
        cr_expect(root && !strcmp((const char *)root->name, "svg"), "%s: root is not <svg>", p);
        xmlFreeDoc(doc);
    }
}

/* each stem: PNG and SVG check out, and the report inlines the PNG and links the SVG */
static void expect_pictures(const char *out, const char *const *stems, int n)
{
    char *rep = cu_slurp2(out, "report.html");
    cr_expect(strstr(rep, "<!DOCTYPE html>") && strstr(rep, "</html>"), "%s/report.html is not a whole page", out);
    for (int i = 0; i < n; i++) {
        expect_png(out, stems[i]);
        expect_svg(out, stems[i]);
        char want[160];
        snprintf(want, sizeof want, "alt=\"%s.png\" style=\"width:", stems[i]);
        cr_expect(strstr(rep, want) != NULL, "report lacks the inlined %s.png", stems[i]);
        snprintf(want, sizeof want, "href=\"%s.svg\"", stems[i]);
        cr_expect(strstr(rep, want) != NULL, "report lacks a link to %s.svg", stems[i]);
    }
    int uris = 0;
    for (const char *s = rep; (s = strstr(s, "data:image/png;base64,")); s++)
        uris++;
    cr_expect_eq(uris, n, "report inlines %d pictures, expected %d", uris, n);
    free(rep);
}

typedef struct { char msgs[8192]; int n; } warnings;
static void collect(void *arg, const char *msg)
{
    warnings *w = arg;
    size_t l = strlen(w->msgs);
    snprintf(w->msgs + l, sizeof w->msgs - l, "%s\n", msg);
    w->n++;
}

/* A run directory as a search of `sp` leaves it after `epochs` epochs:
 * config.json, metrics.jsonl (probabilities drifting from uniform), and
 * arch.json (the space's own derive of the last probabilities). */
static void make_search_run(const char *dir, const os_space *sp, int epochs)
{
    os_space_opts so = {.cells = 3, .channels = 4, .in_c = 1, .in_h = 8, .in_w = 8, .num_classes = 4, .seed = 1};
    os_net net;
    cr_assert_eq(sp->build(&net, &so), 0, "%s: %s", sp->name, os_last_error());
    os_arch sup;
    os_arch_of_net(&net, &sup);
    char cfg[512];
    snprintf(cfg, sizeof cfg,
             "{\"command\": \"train\", \"space\": \"%s\", \"strategy\": \"darts\", \"epochs\": %d,"
             " \"params\": {\"weights\": %ld, \"arch\": %ld}}\n",
             sp->name, epochs, os_params_numel(&net.weights), os_params_numel(&net.arch));
    write_text(dir, "config.json", cfg);
    char path[1024];
    snprintf(path, sizeof path, "%s/metrics.jsonl", dir);
    FILE *f = fopen(path, "w");
    cr_assert(f);
    for (int e = 1; e <= epochs; e++) {
        fprintf(f, "{\"epoch\":%d,\"train_loss\":%.4f,\"train_acc\":%.4f,\"val_loss\":%.4f,\"val_acc\":%.4f,"
                   "\"lr\":%.6f,\"seconds\":%.2f,\"images_per_sec\":%.1f,\"alpha_probs\":{",
                e, 2.3 * exp(-e / 15.0) + 0.3, 1 - 0.9 * exp(-e / 12.0), 2.3 * exp(-e / 18.0) + 0.45,
                0.95 - 0.9 * exp(-e / 14.0), 0.001 + 0.012 * (1 + cos(M_PI * (e - 1) / epochs)), 40.0 + e % 3,
                50.0);
        for (int c = 0; c < sup.n; c++) {
            os_arch_choice *ch = &sup.c[c];
            double z[OS_MAX_CANDIDATES], s = 0;
            for (int k = 0; k < ch->n; k++)
                s += z[k] = exp(0.04 * e * sin(1.7 * c + 2.3 * k));
            fprintf(f, "%s\"%s\":[", c ? "," : "", ch->label);
            for (int k = 0; k < ch->n; k++) {
                ch->w[k] = (float)(z[k] / s);
                fprintf(f, "%s%.6f", k ? "," : "", z[k] / s);
            }
            ch->has_weights = 1;
            fprintf(f, "]");
        }
        fprintf(f, "}}\n");
    }
    fclose(f);
    os_arch child;
    os_derive_opts d = {.max_skip = -1};
    cr_assert_eq(sp->derive(&sup, &d, &child), 0, "%s: %s", sp->name, os_last_error());
    char *txt = os_arch_json(sp, &child, &sup);
    write_text(dir, "arch.json", txt);
    free(txt);
    os_arch_free(&child);
    os_arch_free(&sup);
    os_net_free(&net);
}

/* ---- every space -------------------------------------------------------------------- */
Test(plot, every_space_draws_checked_pictures)
{
    for (int i = 0; i < os_space_count(); i++) {
        const os_space *sp = os_space_at(i);
        char dir[256];
        cu_tmpdir(dir, sizeof dir);
        make_search_run(dir, sp, 50);
        warnings w = {0};
        os_plot_opts o = {.warn = collect, .warn_arg = &w};
        os_plot_result r;
        struct timespec t0, t1;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        cr_assert_eq(os_plot_run(dir, &o, &r), 0, "%s: %s", sp->name, os_last_error());
        clock_gettime(CLOCK_MONOTONIC, &t1);
        double s = (double)(t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9;
        cr_log_info("plot: %s, 50 epochs: drawn in %.3f s", sp->name, s);
        cr_expect(s < 5.0, "%s: drawing a 50-epoch run took %.2f s", sp->name, s);
        cr_expect_eq(w.n, 0, "%s: warnings:\n%s", sp->name, w.msgs);
        cr_expect(r.have_config && r.have_metrics && r.have_arch);
        const char *stems[8];
        int n = 0;
        if (!strcmp(sp->name, "cifar_cell") || !strcmp(sp->name, "enas_micro")) {
            stems[n++] = "cell-normal";
            stems[n++] = "cell-reduce";
        } else if (!strcmp(sp->name, "nb201")) {
            stems[n++] = "cell";
        } else if (!strcmp(sp->name, "enas_macro")) {
            stems[n++] = "layers";
        } else {
            /* a drawer of cells, or the chain of labels ("arch": proxyless, enas_macro) */
            os_plot_arch_fn fn = os_plot_arch_drawer(sp->name);
            stems[n++] = fn && fn != os_plot_arch_chain ? "cell-normal" : "arch";
        }
        stems[n++] = "probs";
        stems[n++] = "curves";
        cr_expect_eq(r.pictures, n, "%s: %d pictures, expected %d", sp->name, r.pictures, n);
        expect_pictures(r.out, stems, n);
        char *rep = cu_slurp(r.report);
        cr_expect(strstr(rep, "Configuration (config.json)") && strstr(rep, "Architecture JSON (arch.json)") &&
                      strstr(rep, "architecture parameters") && strstr(rep, "every epoch"),
                  "%s: report lacks a section", sp->name);
        free(rep);
        du_rmtree(dir);
    }
}

/* ---- golden DOT ------------------------------------------------------------------------ */
Test(plot, darts_v2_dot_golden)
{
    os_arch child;
    const os_space *sp;
    cr_assert_eq(os_arch_load("darts-v2", NULL, &sp, &child), 0, "%s", os_last_error());
    cJSON *nni = os_arch_to_nni(&child);
    os_plot_graph g[OS_PLOT_MAX_GRAPHS];
    char note[256];
    int n = os_plot_arch_graphs(sp->name, nni, g, OS_PLOT_MAX_GRAPHS, note, sizeof note);
    cr_assert_eq(n, 2, "%d graphs: %s", n, os_last_error());
    cr_expect_str_empty(note);
    const char *golden[2] = {"tests/data/darts-v2-normal.dot", "tests/data/darts-v2-reduce.dot"};
    for (int i = 0; i < 2; i++) {
        char *dot = os_plot_graph_dot(&g[i]), *want = cu_slurp(golden[i]);
        cr_expect(want[0], "%s missing (run from the repository root)", golden[i]);
        cr_expect_str_eq(dot, want, "%s differs; got:\n%s", golden[i], dot);
        free(dot);
        free(want);
        os_plot_graph_free(&g[i]);
    }
    cJSON_Delete(nni);
    os_arch_free(&child);
}

/* ---- spaces without a drawing of their own ------------------------------------------------ */
Test(plot, unknown_space_is_a_chain)
{
    const char *spaces[] = {"proxyless", "enas_macro", "some_new_space"};
    for (int s = 0; s < 3; s++) {
        char dir[256], arch[512];
        cu_tmpdir(dir, sizeof dir);
        snprintf(arch, sizeof arch,
                 "{\"space\": \"%s\", \"arch\": {\"layer_0\": \"mbconv_e3_k3\", \"layer_1\": \"zero\","
                 " \"skip_1\": [0], \"layer_2\": \"conv_5x5\", \"skip_2\": [0, 1]}}",
                 spaces[s]);
        write_text(dir, "arch.json", arch);
        warnings w = {0};
        os_plot_opts o = {.warn = collect, .warn_arg = &w};
        os_plot_result r;
        cr_assert_eq(os_plot_run(dir, &o, &r), 0, "%s", os_last_error());
        cr_expect_eq(r.pictures, 1);
        const char *stems[] = {"arch"};
        expect_pictures(r.out, stems, 1);
        char *dot = cu_slurp2(r.out, "arch.dot");
        cr_expect(strstr(dot, "layer_0\\nmbconv_e3_k3") && strstr(dot, "skip_2\\ninputs 0, 1") &&
                      strstr(dot, "rankdir=TB"),
                  "%s:\n%s", spaces[s], dot);
        free(dot);
        /* config.json and metrics.jsonl are said to be missing */
        cr_expect(strstr(w.msgs, "config.json missing") && strstr(w.msgs, "metrics.jsonl missing"), "%s", w.msgs);
        du_rmtree(dir);
    }
}

Test(plot, enas_micro_output_takes_loose_ends)
{
    cJSON *a = cJSON_Parse("{\"normal/op_2_0\": \"sep_conv_3x3\", \"normal/input_2_0\": [0],"
                           " \"normal/op_2_1\": \"avg_pool\", \"normal/input_2_1\": [1],"
                           " \"normal/op_3_0\": \"identity\", \"normal/input_3_0\": [2],"
                           " \"normal/op_3_1\": \"sep_conv_5x5\", \"normal/input_3_1\": [1],"
                           " \"normal/op_4_0\": \"max_pool\", \"normal/input_4_0\": [0],"
                           " \"normal/op_4_1\": \"identity\", \"normal/input_4_1\": [1]}");
    os_plot_graph g[2];
    cr_assert_eq(os_plot_arch_drawer("enas_micro")(a, g, 2), 1, "%s", os_last_error());
    char *dot = os_plot_graph_dot(&g[0]);
    /* node 2 (drawn 0) feeds node 3: only 1 and 2 are loose ends */
    cr_expect(!strstr(dot, "\"0\" -> \"c_{k}\"") && strstr(dot, "\"1\" -> \"c_{k}\"") &&
                  strstr(dot, "\"2\" -> \"c_{k}\"") && strstr(dot, "\"0\" -> \"1\" [label=\"identity\"]"),
              "%s", dot);
    free(dot);
    os_plot_graph_free(&g[0]);
    /* the same dict in cifar_cell concatenates every node */
    cr_assert_eq(os_plot_arch_drawer("cifar_cell")(a, g, 2), 1);
    dot = os_plot_graph_dot(&g[0]);
    cr_expect(strstr(dot, "\"0\" -> \"c_{k}\""), "%s", dot);
    free(dot);
    os_plot_graph_free(&g[0]);
    cJSON_Delete(a);
}

Test(plot, foreign_labels_fall_back_to_the_chain)
{
    cJSON *a = cJSON_Parse("{\"normal/op_2_0\": \"sep_conv_3x3\", \"normal/input_2_0\": [0], \"stem\": \"conv\"}");
    os_plot_graph g[2];
    char note[512];
    cr_assert_eq(os_plot_arch_graphs("cifar_cell", a, g, 2, note, sizeof note), 1);
    cr_expect(strstr(note, "drawn as a chain") && strstr(note, "'stem'"), "%s", note);
    cr_expect_str_eq(g[0].name, "arch");
    os_plot_graph_free(&g[0]);
    /* an input with no op */
    cJSON_Delete(a);
    a = cJSON_Parse("{\"normal/op_2_0\": \"sep_conv_3x3\", \"normal/input_2_0\": [0], \"normal/input_2_1\": [1]}");
    cr_assert_eq(os_plot_arch_graphs("cifar_cell", a, g, 2, note, sizeof note), 1);
    cr_expect(strstr(note, "normal/input_2_1"), "%s", note);
    os_plot_graph_free(&g[0]);
    cJSON_Delete(a);
}

/* ---- metrics.jsonl ---------------------------------------------------------------------- */
Test(plot, metrics_reader_skips_broken_lines)
{
    char dir[256], path[512];
    cu_tmpdir(dir, sizeof dir);
    write_text(dir, "metrics.jsonl",
               "{\"epoch\":1,\"train_loss\":2.0,\"lr\":0.1,\"alpha_probs\":{\"a\":[0.5,0.5]}}\n"
               "{\"epoch\":2,\"train_loss\":1.5,\"alpha_probs\":{\"a\":[0.6,0.4]\n"  /* cut short */
               "\n"
               "[1, 2]\n"
               "{\"train_loss\":1.0}\n"
               "{\"epoch\":3,\"train_loss\":1.2,\"tau\":5,\"alpha_probs\":{\"a\":[0.7,0.3],\"b\":[0.2,0.3,0.5]}}\n");
    snprintf(path, sizeof path, "%s/metrics.jsonl", dir);
    os_plot_metrics m;
    warnings w = {0};
    cr_assert_eq(os_plot_metrics_read(path, &m, collect, &w), 0);
    cr_expect_eq(m.n, 2);
    cr_expect_eq(m.lines, 5);
    cr_expect_eq(m.skipped, 3);
    cr_expect(strstr(w.msgs, "line 2: not valid JSON; skipped") && strstr(w.msgs, "line 4: not a JSON object") &&
                  strstr(w.msgs, "line 5: no numeric \"epoch\""),
              "%s", w.msgs);
    cr_expect_eq(m.v[OS_PM_EPOCH][1], 3);
    cr_expect(isnan(m.v[OS_PM_LR][1]) && isnan(m.v[OS_PM_TAU][0]) && m.v[OS_PM_TAU][1] == 5);
    cr_assert_eq(m.n_choices, 2);
    cr_expect_eq(m.choices[0].n, 2);
    cr_expect_eq(m.choices[1].n, 3);
    cr_expect(isnan(m.choices[1].p[0]) && m.choices[1].p[OS_PLOT_MAX_CAND + 2] == 0.5);
    cr_expect_str_eq(m.choices[1].names[2], "2");
    cJSON *arch = cJSON_Parse("{\"probs\": {\"a\": {\"x\": 0.7, \"y\": 0.3}, \"b\": {\"p\": 1}}}");
    os_plot_metrics_names(&m, arch);
    cr_expect_str_eq(m.choices[0].names[1], "y");
    cr_expect_str_eq(m.choices[1].names[0], "0"); /* count differs: indices kept */
    cJSON_Delete(arch);
    os_plot_metrics_free(&m);
    cr_expect_eq(os_plot_metrics_read("/nonexistent/metrics.jsonl", &m, NULL, NULL), -1);
    cr_expect(strstr(os_last_error(), "/nonexistent/metrics.jsonl: cannot read"));
    du_rmtree(dir);
}

/* ---- the command: bad input ---------------------------------------------------------------- */
Test(plot, cli_no_run_and_usage)
{
    char dir[256];
    cu_tmpdir(dir, sizeof dir);
    du_mkdir(dir, "empty");
    cr_expect_eq(cu_run(dir, "e", NULL, "plot --run %s/empty", dir), 1);
    CU_EXPECT_STDERR(dir, "e", "no run here", "config.json", "metrics.jsonl", "arch.json");
    cr_expect(!exists(dir, "empty/plots"), "a folder with no run got a plots/ folder");
    cr_expect_eq(cu_run(dir, "n", NULL, "plot --run %s/nosuch", dir), 1);
    CU_EXPECT_STDERR(dir, "n", "no such run directory");
    cr_expect_eq(cu_run(dir, "u", NULL, "plot"), 2);
    CU_EXPECT_STDERR(dir, "u", "plot needs --run DIR");
    cr_expect_eq(cu_run(dir, "f", NULL, "plot --run %s --bogus 1", dir), 2);
    CU_EXPECT_STDERR(dir, "f", "unknown flag '--bogus'", "--run", "--out");
    cr_expect_eq(cu_run(dir, "b", NULL, "plot --run %s --arch darts-v2", dir), 2);
    CU_EXPECT_STDERR(dir, "b", "not both");
    cr_expect_eq(cu_run(dir, "a", NULL, "plot --arch nosuch-arch --out %s/x", dir), 1);
    CU_EXPECT_STDERR(dir, "a", "nosuch-arch");
    du_rmtree(dir);
}

Test(plot, cli_broken_line_and_missing_arch)
{
    char dir[256];
    cu_tmpdir(dir, sizeof dir);
    make_search_run(dir, os_space_find("cifar_cell"), 4);
    /* break line 3 and remove arch.json */
    char path[512];
    snprintf(path, sizeof path, "%s/metrics.jsonl", dir);
    char *m = cu_slurp(path), *l3 = m;
    for (int i = 0; i < 2; i++)
        l3 = strchr(l3, '\n') + 1;
    memcpy(l3, "{\"epoch\": oops", 14);
    write_text(dir, "metrics.jsonl", m);
    free(m);
    snprintf(path, sizeof path, "%s/arch.json", dir);
    unlink(path);
    cr_expect_eq(cu_run(dir, "p", NULL, "plot --run %s --out %s/pics", dir, dir), 0);
    CU_EXPECT_STDERR(dir, "p", "metrics.jsonl: line 3: not valid JSON; skipped", "arch.json missing");
    char *out = cu_slurp2(dir, "p.out");
    cr_expect(strstr(out, "2 picture(s)") && strstr(out, "/pics/report.html"), "%s", out);
    free(out);
    char pics[512];
    snprintf(pics, sizeof pics, "%s/pics", dir);
    const char *stems[] = {"probs", "curves"};
    expect_pictures(pics, stems, 2);
    char *rep = cu_slurp2(pics, "report.html");
    cr_expect(strstr(rep, "<h2>Missing</h2>") && strstr(rep, "arch.json missing") && strstr(rep, "line 3"));
    free(rep);
    /* candidate names are indices without arch.json's probs */
    cr_expect(!exists(pics, "cell-normal.png"));
    du_rmtree(dir);
}

Test(plot, cli_broken_arch_and_empty_metrics)
{
    char dir[256];
    cu_tmpdir(dir, sizeof dir);
    write_text(dir, "arch.json", "{\"space\": \"cifar_cell\", \"arch\": {\"normal/op_2_0\": ");
    write_text(dir, "metrics.jsonl", "");
    write_text(dir, "config.json", "not json");
    cr_expect_eq(cu_run(dir, "p", NULL, "plot --run %s", dir), 0);
    CU_EXPECT_STDERR(dir, "p", "arch.json: not a JSON object", "config.json: not valid JSON",
                     "metrics.jsonl holds no epoch yet");
    cr_expect(exists(dir, "plots/report.html"));
    du_rmtree(dir);
}

Test(plot, cli_arch_alone)
{
    char dir[256];
    cu_tmpdir(dir, sizeof dir);
    cr_expect_eq(cu_run(dir, "d", NULL, "plot --arch darts-v2 --out %s/d", dir), 0);
    char out[512];
    snprintf(out, sizeof out, "%s/d", dir);
    expect_png(out, "cell-normal");
    expect_svg(out, "cell-reduce");
    cr_expect_eq(cu_run(dir, "n", NULL, "plot --arch |nor_conv_3x3~0|+|none~0|skip_connect~1|+|nor_conv_1x1~0|"
                                        "avg_pool_3x3~1|nor_conv_3x3~2| --out %s/n", dir), 0);
    snprintf(out, sizeof out, "%s/n", dir);
    expect_png(out, "cell");
    char *dot = cu_slurp2(out, "cell.dot");
    cr_expect(strstr(dot, "\"0\" -> \"2\" [label=\"none\", style=dashed") &&
                  strstr(dot, "\"2\" -> \"3\" [label=\"conv_3x3\"]"), "%s", dot);
    free(dot);
    du_rmtree(dir);
}

/* ---- train refreshes the pictures ------------------------------------------------------------ */
Test(plot, train_refreshes_pictures)
{
    char dir[256];
    cu_tmpdir(dir, sizeof dir);
    cu_make_data(dir, "data", 8);
    cr_assert_eq(cu_run(dir, "t", NULL,
                        "train --data %s/data --cells 3 --channels 4 --batch 8 --threads 1 --epochs 2 --out %s/s",
                        dir, dir), 0);
    char *out = cu_slurp2(dir, "t.out");
    cr_expect(strstr(out, "pictures: ") && strstr(out, "/s/plots/report.html"), "%s", out);
    free(out);
    char pics[512];
    snprintf(pics, sizeof pics, "%s/s/plots", dir);
    const char *stems[] = {"cell-normal", "cell-reduce", "probs", "curves"};
    expect_pictures(pics, stems, 4);
    char *rep = cu_slurp2(pics, "report.html");
    cr_expect(strstr(rep, "2 of 2") && strstr(rep, "sep_conv_3x3"), "report lacks the epochs or op names");
    free(rep);
    /* retrain with --plots 0 draws nothing */
    cr_assert_eq(cu_run(dir, "r", NULL,
                        "retrain --arch darts-v2 --data %s/data --cells 3 --channels 4 --batch 8 --threads 1 --cutout 0 "
                        "--epochs 1 --plots 0 --out %s/r", dir, dir), 0);
    cr_expect(!exists(dir, "r/plots"));
    /* and a retrain run's report, on demand: its curves say test, not validation */
    cr_expect_eq(cu_run(dir, "p", NULL, "plot --run %s/r", dir), 0);
    cr_expect(exists(dir, "r/plots/curves.png") && exists(dir, "r/plots/cell-normal.png") &&
              !exists(dir, "r/plots/probs.png"));
    du_rmtree(dir);
}

/* ---- pieces ---------------------------------------------------------------------------- */
Test(plot, base64_and_escape)
{
    const char *in[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
    const char *want[] = {"", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"};
    for (int i = 0; i < 7; i++) {
        char *b = os_plot_base64((const unsigned char *)in[i], strlen(in[i]));
        cr_expect_str_eq(b, want[i]);
        free(b);
    }
    unsigned char bin[3] = {0xff, 0xfe, 0x00};
    char *b = os_plot_base64(bin, 3);
    cr_expect_str_eq(b, "//4A");
    free(b);
    char *e = os_plot_html_escape("<a href=\"x\">&</a>");
    cr_expect_str_eq(e, "&lt;a href=&quot;x&quot;&gt;&amp;&lt;/a&gt;");
    free(e);
}
