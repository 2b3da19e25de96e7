/* tests/test_perturb.c — perturbation-based selection (search/perturb.h) and
 * `oneshot perturb`:
 *  - on a synthetic supernet whose accuracy loses a known amount when a
 *    candidate is removed, every choice gets the candidate whose removal
 *    costs the most; ties go to the larger loss, then the lower index;
 *  - the probes: a baseline first, then every candidate but `none`, as many
 *    as planned; the order of choices is a permutation the seed sets;
 *  - the chooser: decided choices run their candidate alone, open ones mix
 *    by softmax(alpha), the probed one without the removed candidate;
 *    independent selection keeps every choice mixing;
 *  - on a real nb201 supernet removing `none` leaves the loss bit for bit
 *    (why it is not probed) and removing a convolution changes it;
 *  - supernets with input or gated choices are refused by name;
 *  - the command: darts nb201 runs only, usage errors exit 2, its files,
 *    the run left untouched, the same answer twice, tuning steps. */
#include "tests/test_util.h"
#include "tests/cli_util.h"
#include "search/perturb.h"
#include "search/step.h"
#include "supernet/arch.h"

#include <cjson/cJSON.h>
#include <math.h>

static void build(const char *space, os_net *net)
{
    os_space_opts so = {.cells = 3, .channels = 2, .in_c = 1, .in_h = 8, .in_w = 8, .num_classes = 3, .seed = 5};
    cr_assert_eq(os_space_find(space)->build(net, &so), 0, "%s", os_last_error());
}

/* synthetic: accuracy 0.9, minus drop[choice][k] when k is removed from the
 * probed choice; loss 1 - accuracy, plus extra[choice][k] */
typedef struct {
    double drop[64][OS_MAX_CANDIDATES], extra[64][OS_MAX_CANDIDATES];
} synth;

static void run_synth(os_perturb *p, const synth *s, int *probes, int *baselines)
{
    *probes = *baselines = 0;
    int last_choice = -2;
    while (os_perturb_next(p)) {
        int c = p->choice, k = p->removed;
        cr_assert(c >= 0 && c < p->n);
        if (c != last_choice && (!p->independent || last_choice == -2))
            cr_assert_eq(k, -1, "a choice's first probe is its baseline (independent: the first choice's only)");
        if (p->independent && last_choice != -2)
            cr_assert_neq(k, -1, "independent: one baseline");
        last_choice = c;
        cr_assert(k != p->net->choices[c].zero_index, "`none` is never probed");
        double acc = 0.9 - (k >= 0 ? s->drop[c][k] : 0), loss = 1 - acc + (k >= 0 ? s->extra[c][k] : 0);
        *baselines += k < 0;
        (*probes)++;
        int decided = os_perturb_tell(p, acc, loss);
        if (decided >= 0) /* the decided choice's figures, for the log, until the next answer */
            for (int j = 0; j < p->net->choices[decided].n; j++)
                cr_assert(p->acc[j] == (j == p->net->choices[decided].zero_index ? 0.9 : 0.9 - s->drop[decided][j]),
                          "choice %d candidate %d: the figures logged are not the choice's", decided, j);
    }
}

Test(perturb, chooses_the_candidate_whose_removal_hurts_most)
{
    os_net net;
    build("nb201", &net);
    os_rng r;
    os_rng_seed(&r, 11);
    synth s = {0};
    int want[64];
    for (int i = 0; i < net.n_choices; i++) {
        const os_choice *c = &net.choices[i];
        want[i] = -1;
        for (int k = 0; k < c->n; k++) {
            if (k == c->zero_index)
                continue;
            s.drop[i][k] = os_rng_uniform(&r) * 0.2 - 0.05; /* some removals help */
            if (want[i] < 0 || s.drop[i][k] > s.drop[i][want[i]])
                want[i] = k;
        }
    }
    os_perturb p;
    cr_assert_eq(os_perturb_init(&p, &net, 3, 0), 0, "%s", os_last_error());
    int probes, baselines;
    run_synth(&p, &s, &probes, &baselines);
    cr_expect_eq(probes, os_perturb_planned(&p));
    cr_expect_eq(probes, p.n_probes);
    cr_expect_eq(baselines, net.n_choices);
    cr_expect_eq(probes, net.n_choices * 5, "nb201: a baseline and 4 candidates per edge");
    os_arch a;
    cr_assert_eq(os_perturb_result(&p, &a), 0, "%s", os_last_error());
    for (int i = 0; i < net.n_choices; i++)
        cr_expect_eq(a.c[i].chosen, 1u << want[i], "%s: chose %u, want candidate %d", a.c[i].label, a.c[i].chosen,
                     want[i]);
    os_arch_free(&a);
    os_perturb_free(&p);
    /* independent: the same answer here (the synthetic supernet does not
     * change with decisions), one baseline */
    cr_assert_eq(os_perturb_init(&p, &net, 3, 1), 0);
    run_synth(&p, &s, &probes, &baselines);
    cr_expect_eq(probes, os_perturb_planned(&p));
    cr_expect_eq(probes, 1 + net.n_choices * 4);
    cr_expect_eq(baselines, 1);
    for (int i = 0; i < net.n_choices; i++)
        cr_expect_eq(p.decided[i], want[i]);
    os_perturb_free(&p);

    /* every removal helps on one edge: `none` (the baseline's figures) is
     * the one whose removal costs the most */
    for (int k = 0; k < net.choices[0].n; k++)
        s.drop[0][k] = -0.1;
    cr_assert_eq(os_perturb_init(&p, &net, 3, 0), 0);
    run_synth(&p, &s, &probes, &baselines);
    cr_expect_eq(p.decided[0], net.choices[0].zero_index);
    os_perturb_free(&p);
    os_net_free(&net);
}

Test(perturb, ties_go_to_the_larger_loss_then_the_lower_index)
{
    os_net net;
    build("nb201", &net);
    synth s = {0};
    for (int i = 0; i < net.n_choices; i++)
        for (int k = 0; k < net.choices[i].n; k++)
            s.drop[i][k] = 0.1; /* every removal costs the same accuracy */
    s.extra[1][2] = 0.5;     /* choice 1: candidate 2's removal has the larger loss */
    os_perturb p;
    cr_assert_eq(os_perturb_init(&p, &net, 4, 0), 0);
    int probes, baselines;
    run_synth(&p, &s, &probes, &baselines);
    cr_expect_eq(p.decided[1], 2);
    cr_expect_eq(p.decided[0], 1, "a tie in both: the lowest index but `none` (0)");
    os_perturb_free(&p);
    os_net_free(&net);
}

Test(perturb, the_seed_sets_a_permutation_of_the_choices)
{
    os_net net;
    build("nb201", &net);
    int differ = 0;
    for (uint64_t seed = 1; seed <= 4; seed++) {
        os_perturb p, q;
        cr_assert_eq(os_perturb_init(&p, &net, seed, 0), 0);
        cr_assert_eq(os_perturb_init(&q, &net, seed + 100, 0), 0);
        int seen[64] = {0};
        for (int i = 0; i < p.n; i++)
            seen[p.order[i]]++;
        for (int i = 0; i < p.n; i++)
            cr_expect_eq(seen[i], 1, "choice %d appears %d times", i, seen[i]);
        differ += memcmp(p.order, q.order, sizeof *p.order * (size_t)p.n) != 0;
        cr_expect_eq(p.choice, p.order[0]);
        os_perturb_free(&p);
        os_perturb_free(&q);
    }
    cr_expect(differ >= 3, "other seeds, other orders (%d of 4 differed)", differ);
    os_net_free(&net);
}

/* the masks the chooser sets, and whether it gave weights */
static void chooser_masks(os_net *net, os_perturb *p, unsigned *active, int *weighted)
{
    os_forward_ctx ctx = {.training = false};
    os_net_mix_clear(net);
    bool old = os_set_grad_enabled(false);
    os_perturb_choose(net, &ctx, p);
    os_set_grad_enabled(old);
    for (int i = 0; i < net->n_choices; i++) {
        active[i] = net->mix[i].active;
        weighted[i] = net->mix[i].w != NULL;
    }
    os_step_reset();
}

static void chooser_case(int independent)
{
    os_net net;
    build("nb201", &net);
    os_perturb p;
    cr_assert_eq(os_perturb_init(&p, &net, 7, independent), 0);
    unsigned active[64];
    int weighted[64];
    /* decide the first choice: candidate 3's removal costs the most */
    int first = p.choice;
    while (p.choice == first) {
        double acc = p.removed == 3 ? 0.2 : 0.8;
        os_perturb_tell(&p, acc, 1 - acc);
    }
    cr_expect_eq(p.decided[first], 3);
    /* probe candidate 2 of the second choice */
    int second = p.choice;
    if (!independent)
        os_perturb_tell(&p, 0.8, 0.2); /* its baseline (independent: the first choice's serves) */
    os_perturb_tell(&p, 0.8, 0.2);     /* candidate 1 */
    cr_assert_eq(p.removed, 2);
    chooser_masks(&net, &p, active, weighted);
    for (int i = 0; i < net.n_choices; i++) {
        unsigned all = os_mask_all(net.choices[i].n);
        if (i == first && !independent)
            cr_expect(active[i] == 1u << 3 && !weighted[i], "decided: its candidate alone, unscaled");
        else if (i == second)
            cr_expect(active[i] == (all & ~(1u << 2)) && weighted[i], "probed: every candidate but the removed");
        else
            cr_expect(active[i] == all && weighted[i], "open (or independent): the whole mixture");
    }
    /* when every choice is decided, the chooser runs the answer */
    while (os_perturb_next(&p))
        os_perturb_tell(&p, 0.5, 0.5);
    chooser_masks(&net, &p, active, weighted);
    for (int i = 0; i < net.n_choices; i++)
        cr_expect(active[i] == 1u << p.decided[i] && !weighted[i]);
    os_perturb_free(&p);
    os_net_free(&net);
}

Test(perturb, the_chooser_runs_decided_alone_and_the_probe_without_its_candidate) { chooser_case(0); }
Test(perturb, independent_selection_keeps_every_choice_mixing) { chooser_case(1); }

/* the supernet's loss on one fixed batch with the chooser as p sets it */
static float probe_loss(os_net *net, os_perturb *p, const os_batch *b)
{
    os_net_set_chooser(net, os_perturb_choose, p);
    os_forward_ctx ev = {.training = false};
    return os_eval_batch(net, b, &ev).loss;
}

Test(perturb, removing_none_changes_nothing_and_removing_a_conv_does)
{
    os_net net;
    build("nb201", &net);
    os_rng r;
    os_rng_seed(&r, 3);
    for (int i = 0; i < net.n_choices; i++) { /* alphas away from uniform */
        float al[OS_MAX_CANDIDATES];
        for (int k = 0; k < net.choices[i].n; k++)
            al[k] = os_rng_normal(&r);
        os_tensor_from_host(net.choices[i].alpha, al);
    }
    float x[4 * 64];
    int32_t y[4] = {0, 1, 2, 1};
    for (int i = 0; i < 4 * 64; i++)
        x[i] = os_rng_normal(&r);
    os_batch b = {.x = x, .y = y, .n = 4};
    os_perturb p;
    cr_assert_eq(os_perturb_init(&p, &net, 1, 0), 0);
    const os_choice *c = &net.choices[p.choice];
    cr_assert_eq(p.removed, -1);
    float base = probe_loss(&net, &p, &b);
    p.removed = c->zero_index;
    cr_expect(probe_loss(&net, &p, &b) == base, "without none: bit for bit the baseline");
    p.removed = 3;
    cr_expect_str_eq(c->names[3], "conv_3x3");
    float without = probe_loss(&net, &p, &b);
    cr_expect(isfinite(without) && without != base, "without the 3x3 conv: %g, baseline %g", without, base);
    os_perturb_free(&p);
    os_net_free(&net);
}

Test(perturb, input_and_gated_choices_are_refused_by_name)
{
    os_net net;
    build("enas_micro", &net);
    os_perturb p;
    cr_expect_eq(os_perturb_init(&p, &net, 1, 0), -1);
    cr_expect(strstr(os_last_error(), "input choice"), "%s", os_last_error());
    os_net_free(&net);
    os_space_opts so = {.in_c = 3, .in_h = 32, .in_w = 32, .num_classes = 10, .seed = 5};
    cr_assert_eq(os_space_find("proxyless")->build(&net, &so), 0, "%s", os_last_error());
    cr_expect_eq(os_perturb_init(&p, &net, 1, 0), -1);
    cr_expect(strstr(os_last_error(), "ungated"), "%s", os_last_error());
    os_net_free(&net);
}

/* ---- the command ------------------------------------------------------------------------------------ */
#define NET "--cells 3 --channels 4 --batch 8 --threads 1 --log-every 1"

static void trained(const char *dir, const char *name, const char *strategy, const char *space)
{
    cr_assert_eq(cu_run(dir, name, NULL, "train --data %s/data " NET " --space %s --epochs 2 --strategy %s "
                                         "--out %s/%s", dir, space, strategy, dir, name),
                 0, "training %s on %s failed", strategy, space);
}

/* perturb.jsonl without the timing of each line */
static char *decisions(const char *dir) { return cu_jsonl_without(dir, "perturb.jsonl", "seconds"); }

Test(perturb_cli, usage_errors_exit_2, .timeout = 180)
{
    char dir[256];
    cu_tmpdir(dir, sizeof dir);
    cu_make_data(dir, "data", 8);
    trained(dir, "spos", "spos", "nb201");
    trained(dir, "cell", "darts", "cifar_cell");
    trained(dir, "darts", "darts", "nb201");
    cr_expect_eq(cu_run(dir, "a", NULL, "perturb"), 2);
    CU_EXPECT_STDERR(dir, "a", "--run");
    cr_expect_eq(cu_run(dir, "b", NULL, "perturb --run %s/spos", dir), 2);
    CU_EXPECT_STDERR(dir, "b", "spos", "darts");
    cr_expect_eq(cu_run(dir, "c", NULL, "perturb --run %s/cell", dir), 2);
    CU_EXPECT_STDERR(dir, "c", "cifar_cell", "nb201");
    cr_expect_eq(cu_run(dir, "d", NULL, "perturb --run %s/darts --independent --tune-steps 2", dir), 2);
    CU_EXPECT_STDERR(dir, "d", "--independent", "--tune-steps");
    cr_expect_eq(cu_run(dir, "e", NULL, "perturb --run %s/darts --population 3", dir), 2);
    CU_EXPECT_STDERR(dir, "e", "unknown flag '--population'");
    cr_expect_eq(cu_run(dir, "f", NULL, "perturb --run %s/nosuch", dir), 1);
    cr_expect_eq(cu_run(dir, "g", NULL, "perturb --run %s/darts --tune-lr -1", dir), 2);
    char p[600];
    snprintf(p, sizeof p, "%s/darts/perturb", dir);
    cr_expect(access(p, F_OK) != 0, "nothing was written");
    du_rmtree(dir);
}

Test(perturb_cli, files_the_same_answer_twice_and_tuning, .timeout = 240)
{
    char dir[256];
    cu_tmpdir(dir, sizeof dir);
    cu_make_data(dir, "data", 8);
    trained(dir, "run", "darts", "nb201");
    char run[600], saved[700], ckpt[700];
    snprintf(run, sizeof run, "%s/run", dir);
    snprintf(ckpt, sizeof ckpt, "%s/checkpoint.safetensors", run);
    snprintf(saved, sizeof saved, "%s/ckpt.copy", dir);
    cu_copy_file(ckpt, saved);
    char *arch_before = cu_slurp2(run, "arch.json");

    cr_assert_eq(cu_run(dir, "u", NULL, "perturb --run %s --threads 1", run), 0);
    char *out = cu_slurp2(dir, "u.out");
    cr_expect(strstr(out, "chosen after 30 probes"), "%s", out);
    free(out);
    char pd[700];
    snprintf(pd, sizeof pd, "%s/perturb", run);
    char *d1 = decisions(pd);
    cr_expect_eq(cu_count_lines(d1), 6, "one line per edge:\n%s", d1);
    cJSON *first = cJSON_Parse(d1);
    cr_assert_not_null(first);
    static const char *keys[] = {"step", "label", "val_acc", "val_loss", "removed", "chosen"};
    for (int k = 0; k < 6; k++)
        cr_expect(cJSON_GetObjectItem(first, keys[k]), "perturb.jsonl lacks '%s'", keys[k]);
    cr_expect_eq(cJSON_GetArraySize(cJSON_GetObjectItem(first, "removed")), 5);
    cJSON_Delete(first);
    /* arch.json: an nb201 child that retrain accepts, with its record */
    char arch[800];
    snprintf(arch, sizeof arch, "%s/arch.json", pd);
    const os_space *sp;
    os_arch child;
    cr_expect_eq(os_arch_load(arch, "nb201", &sp, &child), 0, "%s", os_last_error());
    os_arch_free(&child);
    char *aj = cu_slurp(arch);
    cr_expect(strstr(aj, "\"perturb\"") && strstr(aj, "\"probes\":\t30") && strstr(aj, "arch_str"), "%s", aj);
    /* the run is untouched */
    cr_expect(cu_same_file(ckpt, saved), "the run's checkpoint changed");
    char *arch_after = cu_slurp2(run, "arch.json");
    cr_expect_str_eq(arch_after, arch_before);
    free(arch_after);
    /* the same command again, elsewhere: the same decisions and answer */
    cr_assert_eq(cu_run(dir, "v", NULL, "perturb --run %s --threads 1 --out %s/again", run, dir), 0);
    char ad[700];
    snprintf(ad, sizeof ad, "%s/again", dir);
    char *d2 = decisions(ad);
    cr_expect_str_eq(d1, d2);
    char *aj2 = cu_slurp2(ad, "arch.json");
    cJSON *ja = cJSON_Parse(aj), *jb = cJSON_Parse(aj2);
    cr_expect(cJSON_Compare(cJSON_GetObjectItem(ja, "arch"), cJSON_GetObjectItem(jb, "arch"), 1));
    cJSON_Delete(ja);
    cJSON_Delete(jb);
    free(aj2);
    free(d2);
    free(d1);
    free(aj);
    /* tuning between decisions (5 times: not after the last), and independent */
    cr_assert_eq(cu_run(dir, "w", NULL, "perturb --run %s --threads 1 --tune-steps 3 --tune-lr 0.01 --out %s/tuned",
                        run, dir), 0);
    out = cu_slurp2(dir, "w.out");
    int tuned = 0;
    for (const char *q = out; (q = strstr(q, "tuned the weights: 3 steps")); q++)
        tuned++;
    cr_expect_eq(tuned, 5, "%s", out);
    free(out);
    cr_expect(cu_same_file(ckpt, saved), "tuning changed the run's checkpoint");
    cr_assert_eq(cu_run(dir, "x", NULL, "perturb --run %s --threads 1 --independent --val-batches 1 --out %s/ind",
                        run, dir), 0);
    out = cu_slurp2(dir, "x.out");
    cr_expect(strstr(out, "(independent)") && strstr(out, "chosen after 25 probes"), "%s", out);
    free(out);
    free(arch_before);
    du_rmtree(dir);
}
