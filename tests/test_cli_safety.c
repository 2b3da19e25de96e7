/* tests/test_cli_safety.c — runs that cannot be lost or silently wrong:
 * a run directory is never overwritten, a second process is locked out,
 * default names never collide, metrics survive a kill during an append,
 * SIGHUP and SIGPIPE checkpoint like SIGTERM, flags are range-checked before
 * anything loads (exit 2), flags that do not apply are errors, --help goes to
 * stdout, and a failed start leaves no empty run directory. */
#include <math.h>
#include <sys/file.h>

#include "tests/test_util.h"
#include "tests/cli_util.h"

#define NET "--cells 3 --channels 4 --batch 8 --threads 1 --log-every 1 --cutout 0"

static void setup(char *dir, size_t n)
{
    cu_tmpdir(dir, n);
    cu_make_data(dir, "data", 8);
}

Test(cli_safety, out_on_a_run_is_refused_unless_force, .timeout = 120)
{
    char dir[256], run[512], ck[600], bak[600];
    setup(dir, sizeof dir);
    snprintf(run, sizeof run, "%s/run", dir);
    cr_assert_eq(cu_run(dir, "a", NULL, "train --data %s/data " NET " --epochs 1 --out %s", dir, run), 0);
    snprintf(ck, sizeof ck, "%s/checkpoint.safetensors", run);
    snprintf(bak, sizeof bak, "%s/ck.bak", dir);
    cu_copy_file(ck, bak);
    cr_expect_eq(cu_run(dir, "b", NULL, "train --data %s/data " NET " --epochs 1 --out %s", dir, run), 2);
    CU_EXPECT_STDERR(dir, "b", "--out", "holds a run", "--resume", "--force");
    /* a retrain pointed at the search run, too */
    cr_expect_eq(cu_run(dir, "r", NULL, "retrain --data %s/data " NET " --arch darts-v2 --epochs 1 --out %s", dir, run),
                 2);
    CU_EXPECT_STDERR(dir, "r", "holds a run");
    cr_expect(cu_same_file(ck, bak), "a refused run touched the checkpoint");
    int n;
    cJSON **m = cu_metrics(run, &n);
    cr_expect_eq(n, 1);
    cu_free_metrics(m, n);
    /* --force starts over: one epoch line again, not 1,1 */
    cr_expect_eq(cu_run(dir, "f", NULL, "train --data %s/data " NET " --epochs 1 --out %s --force", dir, run), 0);
    m = cu_metrics(run, &n);
    cr_expect_eq(n, 1, "--force left %d metric lines", n);
    cu_free_metrics(m, n);
    du_rmtree(dir);
}

Test(cli_safety, a_second_process_is_locked_out, .timeout = 120)
{
    char dir[256], run[512], lock[600];
    setup(dir, sizeof dir);
    snprintf(run, sizeof run, "%s/run", dir);
    cr_assert_eq(cu_run(dir, "a", NULL, "train --data %s/data " NET " --epochs 1 --stop-after 1 --out %s", dir, run),
                 130);
    /* hold the lock as a running oneshot would */
    snprintf(lock, sizeof lock, "%s/.lock", run);
    int fd = open(lock, O_RDWR | O_CREAT, 0644);
    cr_assert(fd >= 0);
    cr_assert_eq(flock(fd, LOCK_EX | LOCK_NB), 0);
    cr_assert_eq(write(fd, "4242\n", 5), 5);
    cr_expect_eq(cu_run(dir, "b", NULL, "train --resume %s", run), 1);
    CU_EXPECT_STDERR(dir, "b", "in use by another oneshot process", "pid 4242");
    close(fd);
    cr_expect_eq(cu_run(dir, "c", NULL, "train --resume %s", run), 0);
    cr_expect(access(lock, F_OK) != 0, "the lock file stays after the run");
    du_rmtree(dir);
}

Test(cli_safety, default_run_names_never_collide, .timeout = 120)
{
    char dir[256];
    setup(dir, sizeof dir);
    /* two runs in the same second get two directories */
    for (int i = 0; i < 2; i++) {
        char tag[16];
        snprintf(tag, sizeof tag, "r%d", i);
        cr_assert_eq(cu_run(dir, tag, NULL, "train --data %s/data " NET " --epochs 1 --limit-steps 1", dir), 0);
    }
    char *a = cu_slurp2(dir, "r0.out"), *b = cu_slurp2(dir, "r1.out");
    const char *pa = strstr(a, "run dir "), *pb = strstr(b, "run dir ");
    cr_assert(pa && pb);
    cr_expect(strcspn(pa, "\n") != strcspn(pb, "\n") || strncmp(pa, pb, strcspn(pa, "\n")),
              "both runs used one directory: %.*s", (int)strcspn(pa, "\n"), pa);
    free(a);
    free(b);
    du_rmtree(dir);
}

Test(cli_safety, a_partial_metrics_line_is_dropped_on_resume, .timeout = 120)
{
    char dir[256], run[512], path[600];
    setup(dir, sizeof dir);
    snprintf(run, sizeof run, "%s/run", dir);
    cr_assert_eq(cu_run(dir, "a", NULL, "train --data %s/data " NET " --epochs 3 --stop-after 5 --out %s", dir, run),
                 130);
    /* a kill during an append of epoch 2's line (after the checkpoint of epoch 1) */
    snprintf(path, sizeof path, "%s/metrics.jsonl", run);
    FILE *f = fopen(path, "a");
    cr_assert(f);
    fputs("{\"epoch\":2,\"train_loss\":2.3,\"tr", f);
    fclose(f);
    cr_expect_eq(cu_run(dir, "b", NULL, "train --resume %s", run), 0);
    char *t = cu_slurp(path);
    int lines = 0;
    for (char *line = strtok(t, "\n"); line; line = strtok(NULL, "\n"), lines++) {
        cJSON *j = cJSON_Parse(line);
        cr_expect(j, "not a JSON line: %s", line);
        cJSON *e = cJSON_GetObjectItem(j, "epoch");
        cr_expect(e && e->valueint == lines + 1, "line %d is epoch %d", lines + 1, e ? e->valueint : -1);
        cJSON_Delete(j);
    }
    free(t);
    cr_expect_eq(lines, 3);
    du_rmtree(dir);
}

/* SIGHUP (a closed terminal) and SIGPIPE (`oneshot train | head`) stop the run with a checkpoint */
static void stop_signal(int sig)
{
    char dir[256], run[512];
    setup(dir, sizeof dir);
    snprintf(run, sizeof run, "%s/run", dir);
    cu_opts bg = {.nowait = 1};
    pid_t pid = cu_run(dir, "a", &bg, "train --data %s/data " NET " --epochs 1000 --out %s", dir, run);
    char out[600];
    snprintf(out, sizeof out, "%s/a.out", dir);
    int seen = 0;
    for (int i = 0; i < 6000 && !seen; i++) {
        char *t = cu_slurp(out);
        seen = strstr(t, " step ") != NULL;
        free(t);
        if (!seen)
            nanosleep(&(struct timespec){0, 10000000}, NULL);
    }
    cr_assert(seen, "no step line within 60 s");
    cr_assert_eq(kill(pid, sig), 0);
    int st = 0;
    cr_assert_eq(waitpid(pid, &st, 0), pid);
    cr_assert(WIFEXITED(st), "killed by %s instead of stopping", strsignal(sig));
    cr_expect_eq(WEXITSTATUS(st), 130);
    CU_EXPECT_STDERR(dir, "a", "interrupted", "checkpoint saved");
    os_progress p = cu_load_checkpoint(run);
    cr_expect(p.global_step >= 1);
    du_rmtree(dir);
}

Test(cli_safety, sighup_saves_checkpoint, .timeout = 150) { stop_signal(SIGHUP); }
Test(cli_safety, sigpipe_saves_checkpoint, .timeout = 150) { stop_signal(SIGPIPE); }

Test(cli_safety, flags_are_range_checked_before_loading)
{
    char dir[256];
    cu_tmpdir(dir, sizeof dir);
    struct { const char *args, *want; } cases[] = {
        {"train --momentum 2", "--momentum: 2 is out of range"},
        {"train --threads -7", "--threads: -7 is out of range"},
        {"train --flip 5", "--flip: 5 is out of range"},
        {"train --cells 0", "--cells: 0 is out of range"},
        {"train --channels 0", "--channels: 0 is out of range"},
        {"train --strategy gdas --tau-min -1", "--tau-min: -1 is out of range"},
        {"train --strategy gdas --unrolled", "--unrolled is an option of the darts strategy"},
        {"train --space cifar_cell --bn-batch-stats 1", "--bn-batch-stats does not apply to the cifar_cell space"},
        {"train --space cifar_cell --benchmark x.csv", "--benchmark does not apply to the cifar_cell space"},
        {"retrain --arch darts-v2 --lr -1", "--lr: -1 is out of range"},
        {"train --epochs 0", "--epochs: 0 is out of range"},
        {"train --train-portion 1.5", "--train-portion: 1.5 is out of range"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        /* a data path that does not exist: the flag is reported first */
        int rc = cu_run(dir, "x", NULL, "%s --data %s/nowhere --out %s/run%zu", cases[i].args, dir, dir, i);
        cr_expect_eq(rc, 2, "%s: exit %d", cases[i].args, rc);
        CU_EXPECT_STDERR(dir, "x", cases[i].want);
        char p[600];
        snprintf(p, sizeof p, "%s/run%zu", dir, i);
        cr_expect(access(p, F_OK) != 0, "%s: left a run directory", cases[i].args);
    }
    /* nb201 children have no drop-path or auxiliary head */
    cu_make_data(dir, "data", 8);
    int rc = cu_run(dir, "d", NULL, "retrain --data %s/data --arch |nor_conv_3x3~0|+|none~0|none~1|+|skip_connect~0|"
                    "none~1|none~2| --drop-path 0.1 --out %s/nbd", dir, dir);
    cr_expect_eq(rc, 2);
    CU_EXPECT_STDERR(dir, "d", "--drop-path does not apply to the nb201 space");
    du_rmtree(dir);
}

Test(cli_safety, no_empty_run_directory_after_a_failure)
{
    char dir[256], p[600];
    cu_tmpdir(dir, sizeof dir);
    cr_expect_eq(cu_run(dir, "x", NULL, "train --data %s/nowhere --out %s/run", dir, dir), 1);
    snprintf(p, sizeof p, "%s/run", dir);
    cr_expect(access(p, F_OK) != 0, "a failed start left %s", p);
    du_rmtree(dir);
}

Test(cli_safety, help_goes_to_stdout)
{
    char dir[256];
    cu_tmpdir(dir, sizeof dir);
    cr_expect_eq(cu_run(dir, "h", NULL, "train --help"), 0);
    char *out = cu_slurp2(dir, "h.out");
    cr_expect(strstr(out, "--epochs") && strstr(out, "darts options") && strstr(out, "--tau-min"), "%s", out);
    free(out);
    cr_expect_eq(cu_run(dir, "b", NULL, "bogus --help"), 2);
    CU_EXPECT_STDERR(dir, "b", "unknown command 'bogus'");
    du_rmtree(dir);
}

/* output that cannot be written (a full disk) is a failure, not a silent 0 */
Test(cli_safety, a_full_stdout_is_an_error)
{
    char bin[1024], cmd[1200];
    cu_bin(bin, sizeof bin);
    snprintf(cmd, sizeof cmd, "%s spaces > /dev/full 2>/dev/null", bin);
    int st = system(cmd);
    cr_assert(WIFEXITED(st));
    cr_expect_eq(WEXITSTATUS(st), 1, "exit %d", WEXITSTATUS(st));
    snprintf(cmd, sizeof cmd, "%s train --help > /dev/full 2>/dev/null", bin);
    st = system(cmd);
    cr_expect_eq(WEXITSTATUS(st), 1);
}

/* the case: retrain darts-v2 on data whose test images have another
 * shape used to print an accuracy; now it stops, naming both files */
Test(cli_safety, a_test_split_of_another_shape_is_refused, .timeout = 60)
{
    char dir[256], d[300];
    cu_tmpdir(dir, sizeof dir);
    snprintf(d, sizeof d, "%s/mixed", dir);
    cr_assert_eq(mkdir(d, 0755), 0);
    uint8_t lab[16];
    for (int i = 0; i < 16; i++)
        lab[i] = (uint8_t)(i % 2);
    du_write_idx(d, "train-images-idx3-ubyte", "train-labels-idx1-ubyte", 16, 8, 8, lab, 0);
    du_write_idx(d, "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte", 8, 4, 4, lab, 0);
    int rc = cu_run(dir, "r", NULL, "retrain --arch darts-v2 --data %s " NET " --epochs 1 --out %s/r", d, dir);
    cr_expect_eq(rc, 1, "exit %d", rc);
    CU_EXPECT_STDERR(dir, "r", "the test images are", "1x4x4", "1x8x8", "t10k-images-idx3-ubyte",
                     "train-images-idx3-ubyte");
    du_rmtree(dir);
}

/* a damaged checkpoint (one byte of a tensor flipped) is refused by resume
 * and eval, naming the tensor; the file is left as it was */
Test(cli_safety, a_damaged_checkpoint_is_refused, .timeout = 120)
{
    char dir[256], run[512], ck[600];
    setup(dir, sizeof dir);
    snprintf(run, sizeof run, "%s/run", dir);
    cr_assert_eq(cu_run(dir, "a", NULL, "train --data %s/data " NET " --epochs 1 --out %s", dir, run), 0);
    snprintf(ck, sizeof ck, "%s/checkpoint.safetensors", run);
    /* the last byte of the file is tensor data */
    FILE *f = fopen(ck, "r+b");
    cr_assert(f);
    cr_assert_eq(fseek(f, -1, SEEK_END), 0);
    int c = fgetc(f);
    cr_assert_eq(fseek(f, -1, SEEK_END), 0);
    fputc(c ^ 0x40, f);
    fclose(f);
    cr_expect_eq(cu_run(dir, "r", NULL, "train --resume %s --epochs 2", run), 1);
    CU_EXPECT_STDERR(dir, "r", "CRC32", "tensor '");
    cr_expect_eq(cu_run(dir, "e", NULL, "eval --run %s --data %s/data --threads 1", run, dir), 1);
    CU_EXPECT_STDERR(dir, "e", "CRC32");
    int n;
    cJSON **m = cu_metrics(run, &n);
    cr_expect_eq(n, 1, "a refused resume appended metrics");
    cu_free_metrics(m, n);
    du_rmtree(dir);
}
