/* tests/test_cli_device.c — `--device` on train, retrain, eval and latency:
 * usage errors, the printed default, config.json; the CLI paths on the debug
 * device (OS_CUDA served by the CPU kernels in poisoned, access-protected
 * memory), which must give the CPU's checkpoint bit for bit; a run stopped on
 * one device and resumed on the other. */
#include "tests/test_util.h"
#include "tests/cli_util.h"
#include "tensor/backend.h"

#define NET "--cells 3 --channels 4 --batch 8 --threads 1 --log-every 1 --cutout 0"

static void setup(char *dir, size_t n)
{
    cu_tmpdir(dir, n);
    cu_make_data(dir, "data", 8);
}

Test(cli_device, flag_errors_and_default, .timeout = 120)
{
    char dir[256];
    setup(dir, sizeof dir);
    if (os_cuda_unavailable()) { /* this machine: no GPU or no CUDA build */
        cr_expect_eq(cu_run(dir, "c", NULL, "train --data %s/data " NET " --device cuda --out %s/c", dir, dir), 1);
        CU_EXPECT_STDERR(dir, "c", "--device cuda", "--device cpu");
        cr_expect(access(dir, F_OK) == 0);
        cr_expect_eq(cu_run(dir, "l", NULL, "latency --space cifar_cell --device cuda"), 1);
        CU_EXPECT_STDERR(dir, "l", "--device cuda");
    }
    cr_expect_eq(cu_run(dir, "b", NULL, "train --data %s/data " NET " --device gpu0 --out %s/b", dir, dir), 2);
    CU_EXPECT_STDERR(dir, "b", "--device", "'gpu0'", "cpu, cuda, cuda-emu");
    if (!os_cuda_emu_table()) {
        cr_expect_eq(cu_run(dir, "e", NULL, "eval --run %s/nothing --device cuda-emu", dir), 1);
    }
    /* the default: printed, and recorded in config.json */
    cr_assert_eq(cu_run(dir, "d", NULL, "train --data %s/data " NET " --epochs 1 --limit-steps 1 --out %s/d", dir, dir),
                 0);
    char *out = cu_slurp2(dir, "d.out");
    const char *want = os_cuda_unavailable() ? "device: cpu" : "device: cuda";
    cr_expect(strstr(out, want), "stdout lacks '%s':\n%s", want, out);
    free(out);
    char cfg[600];
    snprintf(cfg, sizeof cfg, "%s/d/config.json", dir);
    char *j = cu_slurp(cfg);
    cr_expect(strstr(j, "\"device\"") && strstr(j, os_cuda_unavailable() ? "\"cpu\"" : "\"cuda\""), "%s", j);
    free(j);
    du_rmtree(dir);
}

Test(cli_device, search_on_debug_device_as_on_cpu, .timeout = 240)
{
    char dir[256], a[300], b[300], ca[400], cb[400];
    setup(dir, sizeof dir);
    snprintf(a, sizeof a, "%s/cpu", dir);
    snprintf(b, sizeof b, "%s/dbg", dir);
    cr_assert_eq(cu_run(dir, "a", NULL, "train --data %s/data " NET " --epochs 1 --limit-steps 3 --device cpu --out %s",
                        dir, a), 0);
    cr_assert_eq(cu_run(dir, "b", NULL,
                        "train --data %s/data " NET " --epochs 1 --limit-steps 3 --device debug --out %s", dir, b), 0);
    snprintf(ca, sizeof ca, "%s/checkpoint.safetensors", a);
    snprintf(cb, sizeof cb, "%s/checkpoint.safetensors", b);
    cu_expect_same_checkpoint(ca, cb);
    char cfg[400];
    snprintf(cfg, sizeof cfg, "%s/config.json", b);
    char *j = cu_slurp(cfg);
    cr_expect(strstr(j, "\"debug\""), "%s", j);
    free(j);
    du_rmtree(dir);
}

/* stopped on the CPU, resumed on the debug device, then on the CPU again: the
 * checkpoint goes through host copies both ways (the same kernels run, so
 * the result is the uninterrupted run's) */
Test(cli_device, checkpoint_moves_between_devices, .timeout = 240)
{
    char dir[256], ref[300], run[300], cr[400], cn[400];
    setup(dir, sizeof dir);
    snprintf(ref, sizeof ref, "%s/ref", dir);
    snprintf(run, sizeof run, "%s/run", dir);
    cr_assert_eq(cu_run(dir, "ref", NULL, "train --data %s/data " NET " --epochs 2 --limit-steps 3 --device cpu --out %s",
                        dir, ref), 0);
    cr_assert_eq(cu_run(dir, "s1", NULL,
                        "train --data %s/data " NET " --epochs 2 --limit-steps 3 --device cpu --stop-after 2 --out %s",
                        dir, run), 130);
    cr_assert_eq(cu_run(dir, "s2", NULL, "train --resume %s --device debug --stop-after 2", run), 130);
    CU_EXPECT_STDERR(dir, "s2", "--device debug differs from the run's cpu");
    cr_assert_eq(cu_run(dir, "s3", NULL, "train --resume %s --device cpu", run), 0);
    snprintf(cr, sizeof cr, "%s/checkpoint.safetensors", ref);
    snprintf(cn, sizeof cn, "%s/checkpoint.safetensors", run);
    cu_expect_same_checkpoint(cr, cn);
    du_rmtree(dir);
}

Test(cli_device, retrain_eval_latency_on_debug_device, .timeout = 240)
{
    char dir[256];
    setup(dir, sizeof dir);
    cr_assert_eq(cu_run(dir, "r", NULL,
                        "retrain --data %s/data " NET " --arch darts-v2 --auxiliary-weight 0.4 --drop-path 0.2 "
                        "--epochs 1 --limit-steps 2 --device debug --out %s/r", dir, dir), 0);
    cr_assert_eq(cu_run(dir, "e", NULL, "eval --run %s/r --threads 1 --device debug", dir), 0);
    cr_assert_eq(cu_run(dir, "ec", NULL, "eval --run %s/r --threads 1 --device cpu", dir), 0);
    /* the same test accuracy line on both devices */
    char *e = cu_slurp2(dir, "e.out"), *ec = cu_slurp2(dir, "ec.out");
    const char *le = strstr(e, "\n") ? strstr(e, "\n") + 1 : e, *lc = strstr(ec, "\n") ? strstr(ec, "\n") + 1 : ec;
    cr_expect(strstr(le, "test loss") && strstr(le, "accuracy"), "%s", e);
    cr_expect_str_eq(le, lc, "eval on debug:\n%s\non cpu:\n%s", e, ec);
    free(e);
    free(ec);
    cr_assert_eq(cu_run(dir, "l", NULL,
                        "latency --arch darts-v2 --cells 3 --channels 4 --input 1x8x8 --runs 20 --warmup 1 "
                        "--threads 1 --device debug"), 0);
    du_rmtree(dir);
}
