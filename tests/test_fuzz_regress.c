/* tests/test_fuzz_regress.c — the checkpoint and architecture fuzz
 * harnesses' checks (fuzz/st_target.h, fuzz/arch_target.h) run on the
 * inputs the fuzzers found (fuzz/regress/safetensors/, fuzz/regress/arch/)
 * and on the seeds the harnesses start from. A failing property aborts: the
 * test crashes. (The dataset readers' regressions are replayed in
 * tests/test_datasets.c.) */
#include <dirent.h>

#include "tests/ds_util.h"
#include "fuzz/arch_target.h"
#include "fuzz/st_target.h"

typedef void (*replay_fn)(const char *path);

/* every file in dir through fn; the count, -1 when dir is missing */
static int replay_dir(const char *dir, replay_fn fn)
{
    DIR *dp = opendir(dir);
    if (!dp)
        return -1;
    struct dirent *e;
    int n = 0;
    while ((e = readdir(dp))) {
        if (e->d_name[0] == '.')
            continue;
        char p[1024];
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        fn(p);
        n++;
    }
    closedir(dp);
    return n;
}

static void arch_file(const char *path)
{
    uint8_t *b;
    size_t len;
    cr_assert_eq(os_read_file(path, &b, &len), 0, "%s", os_last_error());
    char *text = malloc(len + 1);
    memcpy(text, b, len);
    text[len] = 0; /* the harness's input: the text up to a zero byte */
    arch_target_text(text);
    free(text);
    free(b);
}

Test(fuzz_regress, safetensors, .timeout = 120)
{
    int n = replay_dir("fuzz/regress/safetensors", st_target_file);
    if (n < 0)
        cr_skip_test("run from the repository root (no fuzz/regress/safetensors)");
    /* and the seeds: valid checkpoints load, their checks hold */
    char dir[256];
    du_tmpdir(dir, sizeof dir);
    st_target_seeds(dir);
    cr_expect_geq(replay_dir(dir, st_target_file), 5);
    const char *ck[2] = {"darts_cifar_cell.ckpt", "gdas_nb201.ckpt"};
    for (int r = 0; r < 2; r++) {
        char p[512];
        snprintf(p, sizeof p, "%s/%s", dir, ck[r]);
        cr_expect_eq(os_trainer_load(&st_rigs[r].t, p), 0, "%s", os_last_error());
        cr_expect_eq(st_rigs[r].t.pr.global_step, 7);
    }
    du_rmtree(dir);
}

Test(fuzz_regress, arch, .timeout = 120)
{
    int n = replay_dir("fuzz/regress/arch", arch_file);
    if (n < 0)
        cr_skip_test("run from the repository root (no fuzz/regress/arch)");
    char dir[256];
    du_tmpdir(dir, sizeof dir);
    arch_target_seeds(dir);
    cr_expect_geq(replay_dir(dir, arch_file), 5);
    const char *ok[3] = {"arch_darts-v2.json", "nni_darts-v1.json", "nni_nb201.json"};
    for (int i = 0; i < 3; i++) {
        char p[512];
        snprintf(p, sizeof p, "%s/%s", dir, ok[i]);
        const os_space *sp;
        os_arch a;
        cr_expect_eq(os_arch_load(p, NULL, &sp, &a), 0, "%s", os_last_error());
        os_arch_free(&a);
    }
    du_rmtree(dir);
    os_step_reset();
}
