/* tests/test_arch_file.c — architecture files: only regular files, read
 * whole up to OS_ARCH_MAX_FILE; folders, FIFOs, empty, oversized, binary and
 * malformed files are errors naming the file (a FIFO must not block). */
#include "tests/ds_util.h"
#include "supernet/arch.h"

#include <fcntl.h>
#include <sys/stat.h>

#define NB201_ARCH                                                                                        \
    "{\"space\": \"nb201\", \"arch\": {\"cell/0_1\": \"conv_3x3\", \"cell/0_2\": \"conv_3x3\", "          \
    "\"cell/1_2\": \"skip_connect\", \"cell/0_3\": \"conv_1x1\", \"cell/1_3\": \"avg_pool_3x3\", "         \
    "\"cell/2_3\": \"none\"}"

static char dir[256];
static void setup(void) { du_tmpdir(dir, sizeof dir); }
static void teardown(void) { du_rmtree(dir); }

static const char *fpath(const char *name)
{
    static char p[2][512];
    static int k;
    k ^= 1;
    snprintf(p[k], sizeof p[k], "%s/%s", dir, name);
    return p[k];
}

/* NB201_ARCH + a "note" of pad bytes + "}" */
static void write_padded(const char *name, size_t pad)
{
    FILE *f = fopen(fpath(name), "wb");
    cr_assert(f);
    fputs(NB201_ARCH ", \"note\": \"", f);
    for (size_t i = 0; i < pad; i++)
        fputc('x', f);
    fputs("\"}\n", f);
    fclose(f);
}

Test(arch_file, large_files_read_whole_up_to_the_limit, .init = setup, .fini = teardown)
{
    const os_space *sp;
    os_arch a;
    write_padded("2mb.json", (size_t)2 << 20);
    cr_assert_eq(os_arch_load(fpath("2mb.json"), NULL, &sp, &a), 0, "%s", os_last_error());
    cr_expect_str_eq(sp->name, "nb201");
    os_arch_free(&a);
    write_padded("big.json", OS_ARCH_MAX_FILE);
    DU_EXPECT_ERROR(os_arch_load(fpath("big.json"), NULL, &sp, &a), "big.json", "larger than 16 MB");
}

Test(arch_file, only_regular_files, .init = setup, .fini = teardown)
{
    const os_space *sp;
    os_arch a;
    cr_assert_eq(mkdir(fpath("adir"), 0755), 0);
    DU_EXPECT_ERROR(os_arch_load(fpath("adir"), NULL, &sp, &a), "adir: not a regular file (a folder)");
    cr_assert_eq(mkfifo(fpath("fifo"), 0644), 0);
    /* no writer: opening it for reading the ordinary way would block forever */
    DU_EXPECT_ERROR(os_arch_load(fpath("fifo"), NULL, &sp, &a), "fifo: not a regular file (a pipe");
    DU_EXPECT_ERROR(os_arch_load("/dev/null", NULL, &sp, &a), "/dev/null: not a regular file");
    DU_EXPECT_ERROR(os_arch_load(fpath("missing.json"), NULL, &sp, &a), "missing.json: cannot open",
                    "No such file", "darts-v1");
    /* a symbolic link to a regular file is read */
    du_write(dir, "real.json", NB201_ARCH "}", strlen(NB201_ARCH "}"), 0);
    cr_assert_eq(symlink(fpath("real.json"), fpath("link.json")), 0);
    cr_expect_eq(os_arch_load(fpath("link.json"), NULL, &sp, &a), 0, "%s", os_last_error());
    os_arch_free(&a);
}

Test(arch_file, empty_binary_and_malformed, .init = setup, .fini = teardown)
{
    const os_space *sp;
    os_arch a;
    du_write(dir, "empty.json", " \n", 2, 0);
    DU_EXPECT_ERROR(os_arch_load(fpath("empty.json"), NULL, &sp, &a), "empty.json: malformed JSON: the file is empty");
    du_write(dir, "zero.json", "{\"a\0\": 1}", 9, 0);
    DU_EXPECT_ERROR(os_arch_load(fpath("zero.json"), NULL, &sp, &a), "zero.json: not a text file");
    const char *bad = "{\"space\": \"nb201\",\n  \"arch\": {\"cell/0_1\": }}";
    du_write(dir, "bad.json", bad, strlen(bad), 0);
    DU_EXPECT_ERROR(os_arch_load(fpath("bad.json"), NULL, &sp, &a), "bad.json: malformed JSON at line 2");
    const char *trail = NB201_ARCH "} {}";
    du_write(dir, "trail.json", trail, strlen(trail), 0);
    DU_EXPECT_ERROR(os_arch_load(fpath("trail.json"), NULL, &sp, &a), "trail.json: malformed JSON at line 1");
    const char *ok = NB201_ARCH "}\n\n";
    du_write(dir, "ok.json", ok, strlen(ok), 0);
    cr_expect_eq(os_arch_load(fpath("ok.json"), NULL, &sp, &a), 0, "%s", os_last_error());
    os_arch_free(&a);
}

/* read and JSON, but not an architecture of the space: OS_ARCH_MISFIT (the
 * CLI's usage error, exit 2), not the bad-file -1 above */
Test(arch_file, misfit_is_its_own_code, .init = setup, .fini = teardown)
{
    const os_space *sp;
    os_arch a;
    const char *unknown = "{\"space\": \"nb201\", \"arch\": {\"cell/0_1\": \"conv_9x9\"}}";
    du_write(dir, "u.json", unknown, strlen(unknown), 0);
    DU_EXPECT_ERROR_RC(OS_ARCH_MISFIT, os_arch_load(fpath("u.json"), NULL, &sp, &a), "u.json", "cell/0_1");
    const char *ok = NB201_ARCH "}";
    du_write(dir, "ok.json", ok, strlen(ok), 0);
    DU_EXPECT_ERROR_RC(OS_ARCH_MISFIT, os_arch_load(fpath("ok.json"), "cifar_cell", &sp, &a), "nb201", "cifar_cell");
    DU_EXPECT_ERROR_RC(OS_ARCH_MISFIT, os_arch_load("|conv_9x9~0|+|none~0|none~1|+|none~0|none~1|none~2|", NULL, &sp,
                                                    &a),
                       "conv_9x9");
    DU_EXPECT_ERROR(os_arch_load(fpath("missing.json"), NULL, &sp, &a), "missing.json");
}
