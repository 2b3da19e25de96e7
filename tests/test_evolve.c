/* tests/test_evolve.c — SPOS's evolution (search/evolve.h) and `oneshot
 * evolve`:
 *  - the defaults are SPOS's; bad settings are errors naming the flag;
 *  - on a synthetic fitness with a known optimum (the fraction of choices
 *    that agree with a hidden path), evolution beats random search at the
 *    same number of evaluations, on every space, over several seeds (the
 *    mean and spread are logged);
 *  - limits hold: no candidate over a limit is proposed, evaluated or
 *    returned as the best, even when the fitness rewards size;
 *  - candidates are never evaluated twice; a space smaller than the budget
 *    ends the search early;
 *  - the state survives JSON: a search saved and restored mid-generation
 *    continues exactly as the uninterrupted one;
 *  - the command: single-path runs only, usage errors exit 2, its files, a
 *    latency limit, and an interrupted search that resumes to the same
 *    result; spos and random runs resume bit for bit like the others. */
#include "tests/test_util.h"
#include "tests/cli_util.h"
#include "search/evolve.h"
#include "tensor/backend.h"

#include <cjson/cJSON.h>
#include <math.h>

static void build(const char *space, os_net *net)
{
    os_space_opts so = {.cells = 3, .channels = 2, .in_c = 1, .in_h = 8, .in_w = 8, .num_classes = 3, .seed = 5};
    cr_assert_eq(os_space_find(space)->build(net, &so), 0, "%s", os_last_error());
}

/* the fraction of choices that agree with the target */
static double agreement(const os_arch *p, const os_arch *target)
{
    int same = 0;
    for (int i = 0; i < p->n; i++)
        same += p->c[i].chosen == target->c[i].chosen;
    return (double)same / p->n;
}

typedef double (*fitness_fn)(const os_evo_record *r, void *arg);

static double fit_agree(const os_evo_record *r, void *arg) { return agreement(&r->path, arg); }

/* run a search to the end with a fitness; returns the best fitness */
static double run_search(os_evolution *e, fitness_fn f, void *arg)
{
    const os_evo_record *c;
    while ((c = os_evolution_next(e))) {
        double v = f(c, arg);
        os_evolution_tell(e, v, 1.0 - v);
    }
    const os_evo_record *b = os_evolution_best(e);
    cr_assert_not_null(b);
    return b->acc;
}

Test(evolve, defaults_are_spos_and_bad_settings_are_named)
{
    os_evolve_settings s;
    os_evolve_defaults(&s);
    cr_expect(s.population == 50 && s.generations == 20 && s.top == 10 && s.mutations == 25 && s.crossovers == 25);
    cr_expect_float_eq(s.mutation_prob, 0.1f, 1e-7);
    cr_expect_eq(os_evolve_check(&s), 0);
    os_evolve_settings b = s;
    b.population = 5;
    cr_expect_eq(os_evolve_check(&b), -1);
    cr_expect(strstr(os_last_error(), "--population 5 is smaller than --top 10"), "%s", os_last_error());
    b = s;
    b.mutation_prob = 1.5f;
    cr_expect_eq(os_evolve_check(&b), -1);
    cr_expect(strstr(os_last_error(), "--mutation-prob"), "%s", os_last_error());
    b = s;
    b.top = 0;
    cr_expect_eq(os_evolve_check(&b), -1);
    b = s;
    b.generations = -1;
    cr_expect_eq(os_evolve_check(&b), -1);
    os_net net;
    build("nb201", &net);
    os_path_space ps;
    cr_assert_eq(os_path_space_init(&ps, &net, os_space_find("nb201"), 1), 0);
    os_evolution e;
    cr_assert_eq(os_evolution_init(&e, &ps, &s), 0);
    cr_expect_eq(os_evolution_planned(&e), 1050);
    os_evolution_free(&e);
    os_path_cost lo;
    os_path_min_cost(&ps, &lo);
    s.limits.max_params = lo.params - 1;
    cr_expect_eq(os_evolution_init(&e, &ps, &s), -1, "limits no path meets");
    cr_expect(strstr(os_last_error(), "--max-params"), "%s", os_last_error());
    os_path_space_free(&ps);
    os_net_free(&net);
}

/* ---- evolution vs random search --------------------------------------------------------------- */
static void evolution_beats_random(const char *space)
{
    os_set_threads(1);
    os_net net;
    build(space, &net);
    os_path_space ps;
    cr_assert_eq(os_path_space_init(&ps, &net, os_space_find(space), 0), 0);
    enum { SEEDS = 5 };
    double evo[SEEDS], rnd[SEEDS];
    int wins = 0;
    for (int seed = 0; seed < SEEDS; seed++) {
        os_rng r;
        os_rng_seed(&r, 100 + (uint64_t)seed);
        os_arch target = {0};
        os_path_sample(&ps, &r, &target);
        os_evolve_settings s;
        os_evolve_defaults(&s);
        s.seed = (uint64_t)seed + 1;
        os_evolution e;
        cr_assert_eq(os_evolution_init(&e, &ps, &s), 0);
        evo[seed] = run_search(&e, fit_agree, &target);
        int n = e.n_done;
        os_evolution_free(&e);
        s.random = n; /* the same budget */
        cr_assert_eq(os_evolution_init(&e, &ps, &s), 0);
        rnd[seed] = run_search(&e, fit_agree, &target);
        cr_expect_eq(e.n_done, n);
        os_evolution_free(&e);
        wins += evo[seed] > rnd[seed];
        os_arch_free(&target);
    }
    double me = 0, mr = 0, se = 0, sr = 0;
    for (int i = 0; i < SEEDS; i++)
        me += evo[i] / SEEDS, mr += rnd[i] / SEEDS;
    for (int i = 0; i < SEEDS; i++)
        se += (evo[i] - me) * (evo[i] - me) / (SEEDS - 1), sr += (rnd[i] - mr) * (rnd[i] - mr) / (SEEDS - 1);
    cr_log_info("%s, synthetic fitness (agreement with a hidden path, optimum 1), 1050 evaluations, %d seeds: "
                "evolution %.3f +- %.3f, random %.3f +- %.3f (mean +- sd)", space, SEEDS, me, sqrt(se), mr, sqrt(sr));
    cr_expect(me > mr, "%s: evolution %.3f vs random %.3f", space, me, mr);
    cr_expect(wins >= SEEDS - 1, "%s: evolution won %d of %d seeds", space, wins, SEEDS);
    os_path_space_free(&ps);
    os_net_free(&net);
}

Test(evolve, beats_random_search_on_a_synthetic_fitness_nb201, .timeout = 120) { evolution_beats_random("nb201"); }
Test(evolve, beats_random_search_on_a_synthetic_fitness_cifar_cell, .timeout = 120)
{
    evolution_beats_random("cifar_cell");
}

/* ---- limits, uniqueness, running out ------------------------------------------------------------ */
static double fit_big(const os_evo_record *r, void *arg)
{
    (void)arg;
    return r->cost.params / 1e6 + r->cost.madds / 1e9; /* bigger is better: pushes against the limits */
}

Test(evolve, limits_hold_and_candidates_are_unique, .timeout = 120)
{
    os_set_threads(1);
    for (int s = 0; s < os_space_count(); s++) {
        const os_space *sp = os_space_at(s);
        os_net net;
        build(sp->name, &net);
        os_path_space ps;
        cr_assert_eq(os_path_space_init(&ps, &net, sp, 1), 0);
        /* limits at the median of random paths */
        os_rng r;
        os_rng_seed(&r, 9);
        double pp[201], mm[201];
        os_arch p = {0};
        for (int k = 0; k < 201; k++) {
            os_path_sample(&ps, &r, &p);
            os_path_cost c;
            os_path_cost_of(&ps, &p, &c);
            pp[k] = c.params;
            mm[k] = c.madds;
        }
        os_arch_free(&p);
        for (int k = 0; k < 201; k++)
            for (int q = k + 1; q < 201; q++) {
                if (pp[q] < pp[k]) { double t = pp[k]; pp[k] = pp[q]; pp[q] = t; }
                if (mm[q] < mm[k]) { double t = mm[k]; mm[k] = mm[q]; mm[q] = t; }
            }
        for (int rnd = 0; rnd < 2; rnd++) {
            os_evolve_settings st;
            os_evolve_defaults(&st);
            st.generations = 8;
            st.random = rnd ? 300 : 0;
            st.limits.max_params = pp[100];
            st.limits.max_madds = mm[120];
            os_evolution e;
            cr_assert_eq(os_evolution_init(&e, &ps, &st), 0, "%s", os_last_error());
            run_search(&e, fit_big, NULL);
            cr_expect(e.n_done > 100, "%s: only %d evaluated", sp->name, e.n_done);
            for (int i = 0; i < e.n_done; i++) {
                cr_expect(e.done[i].cost.params <= st.limits.max_params && e.done[i].cost.madds <= st.limits.max_madds,
                          "%s: candidate %d over a limit (%.0f params, %.0f madds)", sp->name, i, e.done[i].cost.params,
                          e.done[i].cost.madds);
                cr_expect_eq(os_path_check(&ps, &e.done[i].path), 0);
                for (int j = 0; j < i; j++)
                    cr_expect(!os_path_same(&e.done[i].path, &e.done[j].path), "%s: candidates %d and %d are the same",
                              sp->name, j, i);
            }
            const os_evo_record *b = os_evolution_best(&e);
            os_path_cost c;
            os_path_cost_of(&ps, &b->path, &c);
            cr_expect(c.params <= st.limits.max_params && c.madds <= st.limits.max_madds);
            cr_log_info("%s %s: best %.0f params (limit %.0f), %.0f madds (limit %.0f)", sp->name,
                        rnd ? "random" : "evolution", c.params, st.limits.max_params, c.madds, st.limits.max_madds);
            os_evolution_free(&e);
        }
        os_path_space_free(&ps);
        os_net_free(&net);
    }
}

Test(evolve, a_space_smaller_than_the_budget_ends_the_search, .timeout = 60)
{
    os_set_threads(1);
    os_net net;
    build("nb201", &net);
    os_path_space ps;
    cr_assert_eq(os_path_space_init(&ps, &net, os_space_find("nb201"), 1), 0);
    os_path_cost lo;
    os_path_min_cost(&ps, &lo);
    /* only parameter-free ops (none, skip, avg pool): 3^6 = 729 paths */
    os_evolve_settings s;
    os_evolve_defaults(&s);
    s.limits.max_params = lo.params;
    os_evolution e;
    cr_assert_eq(os_evolution_init(&e, &ps, &s), 0);
    os_arch target = {0};
    os_rng r;
    os_rng_seed(&r, 1);
    os_path_sample(&ps, &r, &target);
    run_search(&e, fit_agree, &target);
    cr_expect(e.n_done <= 729 && e.n_done > 300, "%d evaluated", e.n_done);
    cr_expect(e.finished);
    os_arch_free(&target);
    os_evolution_free(&e);
    os_path_space_free(&ps);
    os_net_free(&net);
}

/* ---- the state through JSON ---------------------------------------------------------------------- */
Test(evolve, a_restored_search_continues_as_the_uninterrupted_one, .timeout = 120)
{
    os_set_threads(1);
    for (int sidx = 0; sidx < os_space_count(); sidx++) {
        const os_space *sp = os_space_at(sidx);
        os_net net;
        build(sp->name, &net);
        os_path_space ps;
        cr_assert_eq(os_path_space_init(&ps, &net, sp, 1), 0);
        os_arch target = {0};
        os_rng r;
        os_rng_seed(&r, 4);
        os_path_sample(&ps, &r, &target);
        os_evolve_settings s;
        os_evolve_defaults(&s);
        s.population = 12, s.generations = 4, s.top = 4, s.mutations = 6, s.crossovers = 6;
        os_evolution a, b;
        cr_assert_eq(os_evolution_init(&a, &ps, &s), 0);
        run_search(&a, fit_agree, &target);
        /* stop at 7 (mid-generation), 24 (a generation's end), 31 */
        static const int stops[] = {7, 24, 31};
        for (int k = 0; k < 3; k++) {
            cr_assert_eq(os_evolution_init(&b, &ps, &s), 0);
            const os_evo_record *c;
            for (int i = 0; i < stops[k] && (c = os_evolution_next(&b)); i++) {
                double v = fit_agree(c, &target);
                os_evolution_tell(&b, v, 1 - v);
            }
            cJSON *j = os_evolution_to_json(&b);
            char *txt = cJSON_PrintUnformatted(j);
            cJSON_Delete(j);
            os_evolution_free(&b);
            cr_assert_eq(os_evolution_init(&b, &ps, &s), 0);
            j = cJSON_Parse(txt);
            cr_assert_eq(os_evolution_from_json(&b, j), 0, "%s", os_last_error());
            cJSON_Delete(j);
            free(txt);
            cr_expect_eq(b.n_done, stops[k]);
            run_search(&b, fit_agree, &target);
            cr_expect_eq(a.n_done, b.n_done, "%s stop %d: %d vs %d evaluations", sp->name, stops[k], a.n_done, b.n_done);
            for (int i = 0; i < a.n_done && i < b.n_done; i++)
                cr_expect(os_path_same(&a.done[i].path, &b.done[i].path) && a.done[i].generation == b.done[i].generation &&
                              a.done[i].origin == b.done[i].origin,
                          "%s stop %d: candidate %d differs", sp->name, stops[k], i);
            cr_expect_eq(os_evolution_best(&a)->index, os_evolution_best(&b)->index);
            os_evolution_free(&b);
        }
        /* other settings: an error naming the field */
        cJSON *j = os_evolution_to_json(&a);
        os_evolve_settings t = s;
        t.top = 3;
        cr_assert_eq(os_evolution_init(&b, &ps, &t), 0);
        cr_expect_eq(os_evolution_from_json(&b, j), -1);
        cr_expect(strstr(os_last_error(), "top"), "%s", os_last_error());
        os_evolution_free(&b);
        cJSON_Delete(j);
        os_evolution_free(&a);
        os_arch_free(&target);
        os_path_space_free(&ps);
        os_net_free(&net);
    }
}

/* ---- the command ------------------------------------------------------------------------------------ */
#define NET "--cells 3 --channels 4 --batch 8 --threads 1 --log-every 1"
#define SMALL "--population 6 --generations 2 --top 2 --mutations 3 --crossovers 3 --bn-batches 2 --threads 1"

/* dir/data and a trained run dir/<name> of a strategy (2 epochs of 4 steps) */
static void trained_run(const char *dir, const char *name, const char *strategy, const char *space)
{
    char run[600];
    snprintf(run, sizeof run, "%s/%s", dir, name);
    cr_assert_eq(cu_run(dir, name, NULL, "train --data %s/data " NET " --space %s --epochs 2 --strategy %s --out %s",
                        dir, space, strategy, run),
                 0, "training %s failed", strategy);
}

Test(evolve_cli, usage_errors_exit_2, .timeout = 180)
{
    char dir[256];
    cu_tmpdir(dir, sizeof dir);
    cu_make_data(dir, "data", 8);
    trained_run(dir, "spos", "spos", "cifar_cell");
    trained_run(dir, "darts", "darts", "cifar_cell");
    cr_expect_eq(cu_run(dir, "a", NULL, "evolve"), 2);
    CU_EXPECT_STDERR(dir, "a", "--run");
    cr_expect_eq(cu_run(dir, "b", NULL, "evolve --run %s/darts " SMALL, dir), 2);
    CU_EXPECT_STDERR(dir, "b", "darts", "single-path", "spos", "random");
    cr_expect_eq(cu_run(dir, "c", NULL, "evolve --run %s/spos --population 5 --top 10", dir), 2);
    CU_EXPECT_STDERR(dir, "c", "--population 5 is smaller than --top 10");
    cr_expect_eq(cu_run(dir, "d", NULL, "evolve --run %s/spos " SMALL " --max-params 10", dir), 2);
    CU_EXPECT_STDERR(dir, "d", "--max-params", "smallest has");
    cr_expect_eq(cu_run(dir, "e", NULL, "evolve --run %s/spos " SMALL " --max-madds 1k", dir), 2);
    CU_EXPECT_STDERR(dir, "e", "--max-madds");
    cr_expect_eq(cu_run(dir, "f", NULL, "evolve --run %s/spos " SMALL " --max-latency 3", dir), 2);
    CU_EXPECT_STDERR(dir, "f", "--latency-table");
    cr_expect_eq(cu_run(dir, "g", NULL, "evolve --run %s/spos " SMALL " --max-params lots", dir), 2);
    CU_EXPECT_STDERR(dir, "g", "--max-params", "lots");
    cr_expect_eq(cu_run(dir, "h", NULL, "evolve --run %s/spos --mutation-prob 2", dir), 2);
    cr_expect_eq(cu_run(dir, "i", NULL, "evolve --run %s/spos --epochs 3", dir), 2);
    CU_EXPECT_STDERR(dir, "i", "unknown flag '--epochs'");
    cr_expect_eq(cu_run(dir, "j", NULL, "evolve --run %s/nosuch", dir), 1);
    /* nothing was written into the runs */
    char p[600];
    snprintf(p, sizeof p, "%s/spos/evolution.jsonl", dir);
    cr_expect(access(p, F_OK) != 0);
    du_rmtree(dir);
}

static void end_to_end(const char *space)
{
    char dir[256];
    cu_tmpdir(dir, sizeof dir);
    cu_make_data(dir, "data", 8);
    trained_run(dir, "run", "spos", space);
    /* uninterrupted, into u/ */
    cr_assert_eq(cu_run(dir, "u", NULL, "evolve --run %s/run " SMALL " --out %s/u", dir, dir), 0);
    char *out = cu_slurp2(dir, "u.out");
    cr_expect(strstr(out, "generation 3") && strstr(out, "best of 18 candidates"), "%s", out);
    free(out);
    char ud[600], sd[600];
    snprintf(ud, sizeof ud, "%s/u", dir);
    snprintf(sd, sizeof sd, "%s/s", dir);
    char *lu = cu_slurp2(ud, "evolution.jsonl");
    cr_expect_eq(cu_count_lines(lu), 18, "%s: 6 + 2 x 6 candidates:\n%s", space, lu);
    /* every line: the fields the issue lists */
    cJSON *first = cJSON_Parse(lu);
    cr_assert_not_null(first);
    static const char *keys[] = {"index", "generation", "origin", "arch", "val_acc", "val_loss", "params", "madds"};
    for (int k = 0; k < 8; k++)
        cr_expect(cJSON_GetObjectItem(first, keys[k]), "%s: evolution.jsonl lacks '%s'", space, keys[k]);
    cJSON_Delete(first);
    free(lu);
    /* arch.json: a child retrain accepts */
    char arch[700];
    snprintf(arch, sizeof arch, "%s/arch.json", ud);
    const os_space *sp;
    os_arch child;
    cr_expect_eq(os_arch_load(arch, space, &sp, &child), 0, "%s", os_last_error());
    os_arch_free(&child);
    char *aj = cu_slurp(arch);
    cr_expect(strstr(aj, "\"val_acc\"") && strstr(aj, "\"evaluations\":\t18"), "%s", aj);
    /* interrupted twice (--stop-after counts this invocation's candidates), then resumed */
    cr_assert_eq(cu_run(dir, "s0", NULL, "evolve --run %s/run " SMALL " --out %s --stop-after 4", dir, sd), 130);
    CU_EXPECT_STDERR(dir, "s0", "interrupted after 4 evaluations", "Continue");
    cr_assert_eq(cu_run(dir, "s1", NULL, "evolve --run %s/run " SMALL " --out %s --stop-after 5", dir, sd), 130);
    /* other settings do not continue it */
    cr_expect_eq(cu_run(dir, "s2", NULL, "evolve --run %s/run " SMALL " --out %s --seed 9", dir, sd), 2);
    CU_EXPECT_STDERR(dir, "s2", "unfinished search", "seed");
    cr_assert_eq(cu_run(dir, "s3", NULL, "evolve --run %s/run " SMALL " --out %s", dir, sd), 0);
    out = cu_slurp2(dir, "s3.out");
    cr_expect(strstr(out, "resumed the search") && strstr(out, "after 9 evaluations"), "%s", out);
    free(out);
    char *a = cu_jsonl_without(ud, "evolution.jsonl", "seconds");
    char *b = cu_jsonl_without(sd, "evolution.jsonl", "seconds");
    cr_expect_str_eq(a, b, "%s: the resumed search differs", space);
    free(a);
    free(b);
    char *bj = cu_slurp2(sd, "arch.json");
    /* the same best (the "run" path is the same, the output folders differ) */
    cr_expect_str_eq(aj, bj);
    free(aj);
    free(bj);
    /* random search at a budget */
    cr_assert_eq(cu_run(dir, "r", NULL, "evolve --run %s/run --random 7 --bn-batches 1 --threads 1 --out %s/r", dir, dir),
                 0);
    char rd[600];
    snprintf(rd, sizeof rd, "%s/r", dir);
    char *lr = cu_slurp2(rd, "evolution.jsonl");
    cr_expect_eq(cu_count_lines(lr), 7);
    cr_expect(!strstr(lr, "mutation") && !strstr(lr, "crossover"));
    free(lr);
    /* a batch larger than the run's, and larger than two test batches (the
     * test split of 4 images once sized evolve's buffers: a heap overflow) */
    cr_assert_eq(cu_run(dir, "rb", NULL, "evolve --run %s/run --random 3 --batch 16 --bn-batches 2 --threads 1 --out %s/rb",
                        dir, dir),
                 0);
    snprintf(rd, sizeof rd, "%s/rb", dir);
    lr = cu_slurp2(rd, "evolution.jsonl");
    cr_expect_eq(cu_count_lines(lr), 3);
    free(lr);
    du_rmtree(dir);
}

Test(evolve_cli, cifar_cell_files_and_resume, .timeout = 240) { end_to_end("cifar_cell"); }
Test(evolve_cli, nb201_files_and_resume, .timeout = 240) { end_to_end("nb201"); }

Test(evolve_cli, latency_limit_holds, .timeout = 180)
{
    char dir[256];
    cu_tmpdir(dir, sizeof dir);
    cu_make_data(dir, "data", 8);
    trained_run(dir, "run", "spos", "nb201");
    /* 1 ms per conv, 0.1 per pool or skip, 0 for none; fixed 2 ms */
    char tab[600];
    snprintf(tab, sizeof tab, "%s/lat.json", dir);
    FILE *f = fopen(tab, "w");
    fprintf(f, "{\"fixed\": 2");
    static const char *edges[] = {"cell/0_1", "cell/0_2", "cell/1_2", "cell/0_3", "cell/1_3", "cell/2_3"};
    for (int i = 0; i < 6; i++)
        fprintf(f, ", \"%s\": {\"none\": 0, \"skip_connect\": 0.1, \"conv_1x1\": 1, \"conv_3x3\": 1, "
                   "\"avg_pool_3x3\": 0.1}", edges[i]);
    fprintf(f, "}\n");
    fclose(f);
    cr_assert_eq(cu_run(dir, "e", NULL, "evolve --run %s/run " SMALL " --latency-table %s --max-latency 3.5", dir, tab),
                 0);
    char rd[600];
    snprintf(rd, sizeof rd, "%s/run", dir);
    char *t = cu_slurp2(rd, "evolution.jsonl");
    int lines = 0;
    char *save = NULL;
    for (char *line = strtok_r(t, "\n", &save); line; line = strtok_r(NULL, "\n", &save), lines++) {
        cJSON *j = cJSON_Parse(line);
        const cJSON *l = cJSON_GetObjectItem(j, "latency_ms");
        cr_assert(cJSON_IsNumber(l), "%s", line);
        cr_expect(l->valuedouble <= 3.5 + 1e-9, "latency %g over the limit", l->valuedouble);
        cJSON_Delete(j);
    }
    cr_expect(lines > 6);
    free(t);
    char *aj = cu_slurp2(rd, "arch.json");
    cr_expect(strstr(aj, "latency_ms"), "%s", aj);
    free(aj);
    /* a table of another space is a usage error (exit 2) naming the label */
    f = fopen(tab, "w");
    fprintf(f, "{\"normal/edge_2_0\": {\"none\": 0}}\n");
    fclose(f);
    cr_expect_eq(cu_run(dir, "b", NULL, "evolve --run %s/run " SMALL " --latency-table %s --max-latency 3.5 --out %s/b",
                        dir, tab, dir), 2);
    CU_EXPECT_STDERR(dir, "b", "normal/edge_2_0");
    du_rmtree(dir);
}

/* Two checkpoints: every tensor bit for bit (F32 or I32), every metadata
 * value but the config and the epoch's timing. */
static void expect_same_checkpoint(const char *pa, const char *pb)
{
    os_st_file *a = os_st_open(pa), *b = os_st_open(pb);
    cr_assert(a && b, "%s", os_last_error());
    cr_expect_eq(os_st_count(a), os_st_count(b));
    for (int i = 0; i < os_st_count(a); i++) {
        const os_st_info *ia = os_st_at(a, i), *ib = os_st_find(b, ia->name);
        cr_assert(ib, "%s lacks %s", pb, ia->name);
        cr_assert_eq(ia->numel, ib->numel, "%s", ia->name);
        int f32 = !strcmp(ia->dtype, "F32");
        void *da = f32 ? (void *)os_st_read_f32(a, ia->name, NULL) : (void *)os_st_read_i32(a, ia->name, NULL);
        void *db = f32 ? (void *)os_st_read_f32(b, ia->name, NULL) : (void *)os_st_read_i32(b, ia->name, NULL);
        cr_assert(da && db, "%s", os_last_error());
        cr_expect(!memcmp(da, db, 4 * (size_t)ia->numel), "tensor %s differs", ia->name);
        free(da);
        free(db);
    }
    cr_expect_eq(os_st_meta_count(a), os_st_meta_count(b));
    for (int k = 0; k < os_st_meta_count(a); k++) {
        const char *key = os_st_meta_key(a, k), *va = os_st_meta(a, key), *vb = os_st_meta(b, key);
        if (!strcmp(key, "config") || !strcmp(key, "acc"))
            continue;
        cr_expect(vb && !strcmp(va, vb), "metadata %s: %s vs %s", key, va, vb ? vb : "-");
    }
    cJSON *ja = cJSON_Parse(os_st_meta(a, "acc")), *jb = cJSON_Parse(os_st_meta(b, "acc"));
    static const char *const acc[] = {"loss_sum", "correct", "seen"};
    for (int k = 0; k < 3; k++)
        cr_expect(cJSON_Compare(cJSON_GetObjectItem(ja, acc[k]), cJSON_GetObjectItem(jb, acc[k]), 1), "acc.%s", acc[k]);
    cJSON_Delete(ja);
    cJSON_Delete(jb);
    os_st_close(a);
    os_st_close(b);
}

/* spos and random runs stop and resume bit for bit, as darts and gdas do */
static void train_resume(const char *strategy)
{
    char dir[256], u[512], s[512], cu_[600], cs[600];
    cu_tmpdir(dir, sizeof dir);
    cu_make_data(dir, "data", 8);
    snprintf(u, sizeof u, "%s/u", dir);
    snprintf(s, sizeof s, "%s/s", dir);
    cr_assert_eq(cu_run(dir, "u", NULL, "train --data %s/data " NET " --epochs 2 --strategy %s --out %s", dir, strategy,
                        u), 0);
    cr_assert_eq(cu_run(dir, "s0", NULL, "train --data %s/data " NET " --epochs 2 --strategy %s --stop-after 6 --out %s",
                        dir, strategy, s), 130);
    cr_assert_eq(cu_run(dir, "r0", NULL, "train --resume %s", s), 0);
    snprintf(cs, sizeof cs, "%s/checkpoint.safetensors", s);
    snprintf(cu_, sizeof cu_, "%s/checkpoint.safetensors", u);
    expect_same_checkpoint(cs, cu_);
    cu_expect_same_metrics(s, u);
    char *a = cu_slurp2(u, "arch.json"), *b = cu_slurp2(s, "arch.json");
    cr_expect(*a && !strcmp(a, b), "arch.json differs");
    free(a);
    free(b);
    du_rmtree(dir);
}

Test(evolve_cli, spos_run_resumes_bit_for_bit, .timeout = 120) { train_resume("spos"); }
Test(evolve_cli, random_run_resumes_bit_for_bit, .timeout = 120) { train_resume("random"); }
