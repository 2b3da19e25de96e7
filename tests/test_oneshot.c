/* tests/test_oneshot.c — the `oneshot` command end to end on tiny runs.
 *
 * Every run: IDX data 8x8, 4 classes, 16 training images per class (32 for
 * the weights, 32 for the architecture: 4 steps an epoch), the cifar_cell
 * supernet with 3 cells and 4 channels, batch 8, 2 epochs, 1 thread.
 *
 *  - usage errors (unknown space, strategy, flag, command, a bad value):
 *    exit status 2 and the valid choices on stderr;
 *  - a bad --arch for retrain, a --resume of another space, input shape or
 *    width: exit status 1, a message naming the culprit, the run untouched;
 *  - a NaN loss and a full disk: exit status 1, a message, the previous
 *    checkpoint byte for byte as it was and loadable; after the full disk a
 *    resume ends where an uninterrupted run ends;
 *  - resume equivalence: a run stopped (--stop-after, exit 130) and resumed
 *    ends with the checkpoint tensors (weights, alphas, BN buffers, optimizer
 *    state) and metrics of an uninterrupted run, bit for bit: DARTS first
 *    order stopped mid-epoch and at an epoch boundary, GDAS stopped twice;
 *  - SIGINT / SIGTERM to a running search: exit 130, a loadable checkpoint
 *    at the position it reports, and a resume that finishes;
 *  - `oneshot export --max-skip` on a finished run.
 */
#include <math.h>

#include "tests/test_util.h"
#include "tests/cli_util.h"
#include "supernet/darts_ops.h"
#include "supernet/genotype.h"

/* 8x8 images: no cutout (the retrain default, 16, would erase every image) */
#define NET "--cells 3 --channels 4 --batch 8 --threads 1 --log-every 1 --cutout 0"

/* a temp dir with data/ (8x8) in it */
static void setup_run_dir(char *dir, size_t n)
{
    cu_tmpdir(dir, n);
    cu_make_data(dir, "data", 8);
}

/* ---- usage errors ------------------------------------------------------------- */
Test(oneshot, unknown_space_lists_spaces)
{
    char dir[256];
    cu_tmpdir(dir, sizeof dir);
    cr_expect_eq(cu_run(dir, "t", NULL, "train --space nosuch"), 2);
    CU_EXPECT_STDERR(dir, "t", "unknown space 'nosuch'", "cifar_cell", "nb201");
    cr_expect_eq(cu_run(dir, "r", NULL, "retrain --space nosuch --arch darts-v2"), 2);
    CU_EXPECT_STDERR(dir, "r", "unknown space 'nosuch'");
    for (int i = 0; i < os_space_count(); i++)
        CU_EXPECT_STDERR(dir, "r", os_space_at(i)->name);
    du_rmtree(dir);
}

Test(oneshot, unknown_strategy_lists_strategies)
{
    char dir[256];
    cu_tmpdir(dir, sizeof dir);
    cr_expect_eq(cu_run(dir, "t", NULL, "train --strategy nosuch"), 2);
    CU_EXPECT_STDERR(dir, "t", "unknown strategy 'nosuch'", "darts", "gdas");
    du_rmtree(dir);
}

Test(oneshot, unknown_flag_command_and_bad_value)
{
    char dir[256];
    cu_tmpdir(dir, sizeof dir);
    cr_expect_eq(cu_run(dir, "f", NULL, "train --frobnicate 3"), 2);
    CU_EXPECT_STDERR(dir, "f", "'--frobnicate'", "valid flags", "--space", "--strategy", "--resume", "--max-skip");
    /* a flag of another command is unknown here */
    cr_expect_eq(cu_run(dir, "g", NULL, "export --strategy darts"), 2);
    CU_EXPECT_STDERR(dir, "g", "'--strategy'", "--run");
    cr_expect_eq(cu_run(dir, "c", NULL, "trian"), 2);
    CU_EXPECT_STDERR(dir, "c", "unknown command 'trian'", "train", "retrain", "eval", "export");
    cr_expect_eq(cu_run(dir, "v", NULL, "train --epochs ten"), 2);
    CU_EXPECT_STDERR(dir, "v", "--epochs", "'ten'");
    cr_expect_eq(cu_run(dir, "m", NULL, "train --epochs"), 2);
    CU_EXPECT_STDERR(dir, "m", "--epochs needs a value");
    du_rmtree(dir);
}

/* ---- bad architectures for retrain ------------------------------------------------ */
Test(oneshot, retrain_bad_arch_files)
{
    char dir[256];
    setup_run_dir(dir, sizeof dir);
    os_genotype g = os_darts_v2;
    cJSON *j = os_genotype_to_nni(&g);
    struct {
        const char *file, *key;
        const char *value; /* raw JSON; NULL: the file is malformed */
        const char *want[2];
    } cases[] = {
        {"malformed.json", NULL, NULL, {"malformed.json", "malformed JSON"}},
        {"unknown_key.json", "normal/op_9_0", "\"sep_conv_3x3\"", {"unknown_key.json", "unknown key 'normal/op_9_0'"}},
        {"unknown_op.json", "reduce/op_3_1", "\"conv_11x11\"", {"'reduce/op_3_1'", "'conv_11x11'"}},
        {"bad_input.json", "normal/input_5_1", "[5]", {"'normal/input_5_1'", "out of range"}},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *txt;
        if (!cases[i].value) {
            txt = strdup("{\"normal/op_2_0\": \"sep_conv_3x3\", \"normal/op_2_1\": ");
        } else {
            cJSON *c = cJSON_Duplicate(j, 1);
            cJSON *v = cJSON_Parse(cases[i].value);
            if (cJSON_GetObjectItemCaseSensitive(c, cases[i].key))
                cJSON_ReplaceItemInObjectCaseSensitive(c, cases[i].key, v);
            else
                cJSON_AddItemToObject(c, cases[i].key, v);
            txt = cJSON_Print(c);
            cJSON_Delete(c);
        }
        du_write(dir, cases[i].file, txt, strlen(txt), 0);
        free(txt);
        int rc = cu_run(dir, "r", NULL, "retrain --data %s/data " NET " --epochs 1 --arch %s/%s --out %s/run%zu",
                        dir, dir, cases[i].file, dir, i);
        /* a file that is no JSON: 1; JSON that is no architecture of the space: 2 (usage) */
        cr_expect_eq(rc, cases[i].value ? 2 : 1, "%s: exit status %d", cases[i].file, rc);
        CU_EXPECT_STDERR(dir, "r", cases[i].want[0], cases[i].want[1]);
    }
    /* the NNI dict itself is fine */
    char *txt = cJSON_Print(j);
    du_write(dir, "ok.json", txt, strlen(txt), 0);
    free(txt);
    cr_expect_eq(cu_run(dir, "ok", NULL, "retrain --data %s/data " NET " --epochs 1 --limit-steps 1 --arch %s/ok.json "
                        "--out %s/runok", dir, dir, dir), 0);
    cJSON_Delete(j);
    du_rmtree(dir);
}

/* ---- resume of a different run -------------------------------------------------------- */
Test(oneshot, resume_rejects_other_space_shape_and_width, .timeout = 120)
{
    char dir[256], ck[512], bak[512];
    setup_run_dir(dir, sizeof dir);
    cu_make_data(dir, "data12", 12);
    cr_assert_eq(cu_run(dir, "a", NULL, "train --data %s/data " NET " --epochs 1 --out %s/a", dir, dir), 0);
    snprintf(ck, sizeof ck, "%s/a/checkpoint.safetensors", dir);
    snprintf(bak, sizeof bak, "%s/a.bak", dir);
    cu_copy_file(ck, bak);

    /* a resumed run keeps its space, data and shape: refused before anything loads, with the list */
    cr_expect_eq(cu_run(dir, "s", NULL, "train --resume %s/a --space nb201 --epochs 2", dir), 2);
    CU_EXPECT_STDERR(dir, "s", "--resume", "--space", "'cifar_cell'", "'nb201'");
    cr_expect_eq(cu_run(dir, "i", NULL, "train --resume %s/a --data %s/data12 --epochs 2", dir, dir), 2);
    CU_EXPECT_STDERR(dir, "i", "--resume", "--data", "data12");
    cr_expect_eq(cu_run(dir, "w", NULL, "train --resume %s/a --channels 6 --seed 5 --batch 4 --epochs 2", dir), 2);
    CU_EXPECT_STDERR(dir, "w", "--resume", "--channels: the run has 4, given 6", "--seed", "--batch");
    cr_expect_eq(cu_run(dir, "g", NULL, "train --resume %s/a --strategy gdas --epochs 2", dir), 2);
    CU_EXPECT_STDERR(dir, "g", "--strategy", "'darts'", "'gdas'");
    cr_expect_eq(cu_run(dir, "n", NULL, "train --resume %s/nothing", dir), 1);
    CU_EXPECT_STDERR(dir, "n", "--resume", "nothing");
    cr_expect(cu_same_file(ck, bak), "a failed resume changed the checkpoint");
    int n;
    char a[512];
    snprintf(a, sizeof a, "%s/a", dir);
    cJSON **m = cu_metrics(a, &n);
    cr_expect_eq(n, 1, "a failed resume appended metrics");
    cu_free_metrics(m, n);
    du_rmtree(dir);
}

/* ---- failures during training ----------------------------------------------------------- */
Test(oneshot, nan_loss_stops_and_keeps_checkpoint, .timeout = 120)
{
    char dir[256], run[300], ck[600], bak[512];
    setup_run_dir(dir, sizeof dir);
    snprintf(bak, sizeof bak, "%s/ck.bak", dir);
    /* a learning rate that rises from 1e-9 to 1e6 (cosine towards --lr-min) blows the
     * weights up in epoch 2 */
    cr_assert_eq(cu_run(dir, "z", NULL, "train --data %s/data " NET " --epochs 1 --out %s/z --lr 1e-9 --lr-min 1e6 "
                        "--grad-clip 0", dir, dir), 0);
    snprintf(run, sizeof run, "%s/z", dir);
    snprintf(ck, sizeof ck, "%s/checkpoint.safetensors", run);
    cu_copy_file(ck, bak);
    int rc = cu_run(dir, "b", NULL, "train --resume %s --epochs 3", run);
    cr_expect_eq(rc, 1, "exit status %d", rc);
    char *err = cu_slurp2(dir, "b.err");
    cr_expect(strstr(err, "nan") || strstr(err, "inf"), "no NaN message: %s", err);
    cr_expect(strstr(err, "epoch 2/3"), "the message should give the epoch as the progress lines do: %s", err);
    cr_expect(strstr(err, "checkpoint") && strstr(err, "kept"), "%s", err);
    free(err);
    cr_expect(cu_same_file(ck, bak), "the checkpoint changed");
    os_progress p = cu_load_checkpoint(run);
    cr_expect_eq(p.epoch, 1);
    cr_expect_eq(p.batch, 0);
    int n;
    cJSON **m = cu_metrics(run, &n);
    cr_expect_eq(n, 1, "%d metric lines after a NaN in epoch 2", n);
    cu_free_metrics(m, n);
    du_rmtree(dir);
}

Test(oneshot, disk_full_keeps_checkpoint_and_resumes, .timeout = 120)
{
    char dir[256], run[300], ref[300], ck[600], bak[512], tmp[700];
    setup_run_dir(dir, sizeof dir);
    snprintf(run, sizeof run, "%s/run", dir);
    snprintf(ref, sizeof ref, "%s/ref", dir);
    cr_assert_eq(cu_run(dir, "ref", NULL, "train --data %s/data " NET " --epochs 2 --out %s", dir, ref), 0);
    cr_assert_eq(cu_run(dir, "a", NULL, "train --data %s/data " NET " --epochs 2 --stop-after 4 --out %s", dir, run),
                 130);
    /* epoch 1 ends in the resumed process; the checkpoint (~800 kB) no longer fits */
    snprintf(ck, sizeof ck, "%s/checkpoint.safetensors", run);
    snprintf(bak, sizeof bak, "%s/ck.bak", dir);
    cu_copy_file(ck, bak);
    cu_opts full = {.fsize_limit = 64 << 10};
    int rc = cu_run(dir, "b", &full, "train --resume %s", run);
    cr_expect_eq(rc, 1, "exit status %d", rc);
    CU_EXPECT_STDERR(dir, "b", "checkpoint", "File too large");
    cr_expect(cu_same_file(ck, bak), "the checkpoint changed");
    snprintf(tmp, sizeof tmp, "%s.tmp", ck);
    cr_expect(access(tmp, F_OK) != 0, "%s left behind", tmp);
    os_progress p = cu_load_checkpoint(run);
    cr_expect_eq(p.epoch, 0);
    cr_expect_eq(p.batch, 4);
    cr_expect_eq(p.global_step, 4);
    /* space again: the run ends as if nothing had happened */
    cr_expect_eq(cu_run(dir, "c", NULL, "train --resume %s", run), 0);
    snprintf(tmp, sizeof tmp, "%s/checkpoint.safetensors", ref);
    cu_expect_same_checkpoint(ck, tmp);
    cu_expect_same_metrics(run, ref);
    du_rmtree(dir);
}

/* ---- resume equivalence -------------------------------------------------------------------- */
/* An uninterrupted run and one stopped after each count in stops[] (then
 * resumed; the last resume runs to the end) end the same. */
static void resume_equivalence(const char *strategy, const int *stops, int n_stops, const int (*where)[2])
{
    char dir[256], u[512], s[512], cu[600], cs[600];
    setup_run_dir(dir, sizeof dir);
    snprintf(u, sizeof u, "%s/u", dir);
    snprintf(s, sizeof s, "%s/s", dir);
    cr_assert_eq(cu_run(dir, "u", NULL, "train --data %s/data " NET " --epochs 2 --strategy %s --out %s", dir,
                        strategy, u), 0);
    int rc = cu_run(dir, "s0", NULL, "train --data %s/data " NET " --epochs 2 --strategy %s --stop-after %d --out %s",
                    dir, strategy, stops[0], s);
    cr_assert_eq(rc, 130, "exit status %d", rc);
    CU_EXPECT_STDERR(dir, "s0", "interrupted", "--resume");
    snprintf(cs, sizeof cs, "%s/checkpoint.safetensors", s);
    snprintf(cu, sizeof cu, "%s/checkpoint.safetensors", u);
    for (int i = 0; i < n_stops; i++) {
        os_progress p = cu_load_checkpoint(s);
        cr_expect(p.epoch == where[i][0] && p.batch == where[i][1], "stop %d: checkpoint at epoch %d batch %d, "
                  "expected %d %d", i, p.epoch, p.batch, where[i][0], where[i][1]);
        char tag[16];
        snprintf(tag, sizeof tag, "r%d", i);
        if (i + 1 < n_stops)
            cr_assert_eq(cu_run(dir, tag, NULL, "train --resume %s --stop-after %d", s, stops[i + 1]), 130);
        else
            cr_assert_eq(cu_run(dir, tag, NULL, "train --resume %s", s), 0);
        char name[32];
        snprintf(name, sizeof name, "r%d.out", i);
        char *out = cu_slurp2(dir, name);
        cr_expect(strstr(out, "resumed"), "%s", out);
        free(out);
    }
    cu_expect_same_checkpoint(cs, cu);
    cu_expect_same_metrics(s, u);
    /* and the exported architecture */
    char *a = cu_slurp2(u, "arch.json"), *b = cu_slurp2(s, "arch.json");
    cr_expect(*a && !strcmp(a, b), "arch.json differs");
    free(a);
    free(b);
    du_rmtree(dir);
}

Test(oneshot, resume_darts_mid_epoch, .timeout = 120)
{
    /* 4 steps an epoch: stop after step 2 of epoch 2 */
    resume_equivalence("darts", (int[]){6}, 1, (const int[][2]){{1, 2}});
}

Test(oneshot, resume_darts_at_epoch_boundary, .timeout = 120)
{
    /* after the last step of epoch 1, before its validation and checkpoint */
    resume_equivalence("darts", (int[]){4}, 1, (const int[][2]){{0, 4}});
}

Test(oneshot, resume_gdas_twice, .timeout = 120)
{
    /* stop in epoch 1, resume, stop again in epoch 2 (--stop-after counts the
     * steps of each invocation), resume to the end */
    resume_equivalence("gdas", (int[]){3, 3}, 2, (const int[][2]){{0, 3}, {1, 2}});
}

/* ---- signals -------------------------------------------------------------------------------- */
static void signal_test(int sig)
{
    char dir[256], run[512];
    setup_run_dir(dir, sizeof dir);
    snprintf(run, sizeof run, "%s/run", dir);
    cu_opts bg = {.nowait = 1};
    pid_t pid = cu_run(dir, "a", &bg, "train --data %s/data " NET " --epochs 1000 --out %s", dir, run);
    char out[600];
    snprintf(out, sizeof out, "%s/a.out", dir);
    /* wait for the first progress line (the handlers are installed by then) */
    int seen = 0;
    for (int i = 0; i < 6000 && !seen; i++) {
        char *t = cu_slurp(out);
        seen = strstr(t, " step ") != NULL;
        free(t);
        if (!seen) {
            int st;
            cr_assert_eq(waitpid(pid, &st, WNOHANG), 0, "oneshot ended before a step line");
            nanosleep(&(struct timespec){0, 10000000}, NULL);
        }
    }
    cr_assert(seen, "no step line within 60 s");
    cr_assert_eq(kill(pid, sig), 0);
    int st = 0, done = 0;
    for (int i = 0; i < 3000 && !done; i++) {
        done = waitpid(pid, &st, WNOHANG) == pid;
        if (!done)
            nanosleep(&(struct timespec){0, 10000000}, NULL);
    }
    if (!done) {
        kill(pid, SIGKILL);
        waitpid(pid, &st, 0);
        cr_assert(0, "oneshot did not stop within 30 s of %s", strsignal(sig));
    }
    cr_assert(WIFEXITED(st), "oneshot was killed by the signal instead of stopping");
    cr_expect_eq(WEXITSTATUS(st), 130);
    CU_EXPECT_STDERR(dir, "a", "interrupted", "checkpoint saved", "--resume");
    os_progress p = cu_load_checkpoint(run);
    cr_expect(p.batch >= 1 && p.batch <= 4, "batch %d", p.batch);
    cr_expect_eq(p.global_step, 4L * p.epoch + p.batch);
    /* resume and finish the epoch it was in */
    cr_expect_eq(cu_run(dir, "b", NULL, "train --resume %s --epochs %d", run, p.epoch + 1), 0);
    os_progress q = cu_load_checkpoint(run);
    cr_expect_eq(q.epoch, p.epoch + 1);
    cr_expect_eq(q.global_step, 4L * (p.epoch + 1));
    du_rmtree(dir);
}

Test(oneshot, sigint_saves_checkpoint, .timeout = 150)
{
    signal_test(SIGINT);
}

Test(oneshot, sigterm_saves_checkpoint, .timeout = 150)
{
    signal_test(SIGTERM);
}

/* ---- export of a finished run ------------------------------------------------------------------ */
Test(oneshot, export_with_max_skip, .timeout = 120)
{
    char dir[256], run[512];
    setup_run_dir(dir, sizeof dir);
    snprintf(run, sizeof run, "%s/run", dir);
    cr_assert_eq(cu_run(dir, "a", NULL, "train --data %s/data " NET " --epochs 1 --out %s", dir, run), 0);
    char *first = cu_slurp2(run, "arch.json");
    /* export again from the checkpoint: the same file */
    cr_expect_eq(cu_run(dir, "e", NULL, "export --run %s", run), 0);
    char *again = cu_slurp2(run, "arch.json");
    cr_expect_str_eq(again, first);
    free(again);
    /* with the guard: no skip_connect in the normal cell, and every form of
     * the architecture agrees with the rule applied to the stored probs */
    for (int ms = 0; ms <= 2; ms++) {
        cr_expect_eq(cu_run(dir, "e", NULL, "export --run %s --max-skip %d", run, ms), 0);
        char *txt = cu_slurp2(run, "arch.json");
        cJSON *j = cJSON_Parse(txt);
        cr_assert(j, "%s", txt);
        os_genotype g, want;
        cr_assert_eq(os_genotype_from_json(j, &g), 0, "%s", os_last_error());
        cr_expect_leq(os_genotype_count(&g, 0, DARTS_SKIP), ms);
        float p[2][OS_CELL_EDGES][8];
        const cJSON *pj = cJSON_GetObjectItem(j, "probs");
        for (int t = 0; t < 2; t++)
            for (int node = 2; node < 6; node++)
                for (int in = 0; in < node; in++) {
                    char label[40];
                    snprintf(label, sizeof label, "%s/edge_%d_%d", os_cell_type_names[t], node, in);
                    const cJSON *e = cJSON_GetObjectItemCaseSensitive(pj, label);
                    cr_assert(e, "probs lack %s", label);
                    for (int k = 0; k < 8; k++)
                        p[t][os_cell_edge(node, in)][k] =
                            (float)cJSON_GetObjectItemCaseSensitive(e, os_darts_op_names[k])->valuedouble;
                }
        os_genotype_derive(p, ms, &want);
        cr_expect(!memcmp(&g, &want, sizeof g), "max_skip %d: arch differs from the rule", ms);
        char text[1024];
        os_genotype_str(&want, text, sizeof text);
        cr_expect_str_eq(cJSON_GetObjectItem(j, "genotype")->valuestring, text);
        char *o = cu_slurp2(dir, "e.out");
        cr_expect(strstr(o, text), "export printed: %s", o);
        free(o);
        cJSON_Delete(j);
        free(txt);
    }
    free(first);
    du_rmtree(dir);
}

/* ---- retrain, eval, and resuming with the other command -------------------------------- */
Test(oneshot, retrain_then_eval_and_wrong_resume_command, .timeout = 120)
{
    char dir[256];
    setup_run_dir(dir, sizeof dir);
    cr_assert_eq(cu_run(dir, "r", NULL, "retrain --arch darts-v2 --data %s/data " NET " --epochs 1 --auxiliary-weight 0.4 --out %s/r",
                        dir, dir), 0);
    cr_expect_eq(cu_run(dir, "e", NULL, "eval --run %s/r --data %s/data --threads 1", dir, dir), 0);
    char *out = cu_slurp2(dir, "e.out");
    cr_expect(strstr(out, "test loss") && strstr(out, "accuracy"), "eval printed:\n%s", out);
    free(out);
    /* an nb201 child from an arch string, retrained and evaluated */
    cr_assert_eq(cu_run(dir, "n", NULL, "retrain --space nb201 --arch |nor_conv_3x3~0|+|skip_connect~0|avg_pool_3x3~1|+|none~0|nor_conv_1x1~1|skip_connect~2| "
                        "--data %s/data --cells 1 --channels 4 --batch 8 --threads 1 --cutout 0 --epochs 1 --out %s/n", dir, dir), 0);
    cr_expect_eq(cu_run(dir, "ne", NULL, "eval --run %s/n --data %s/data --threads 1", dir, dir), 0);
    /* a retrain run is not resumed by `train`, nor a search run by `retrain` */
    cr_expect_eq(cu_run(dir, "w", NULL, "train --resume %s/r", dir), 2);
    CU_EXPECT_STDERR(dir, "w", "retrain run", "oneshot retrain --resume");
    du_rmtree(dir);
}
