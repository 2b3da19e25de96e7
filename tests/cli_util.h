/* tests/cli_util.h — running the `oneshot` command from the tests.
 *
 * The command is the one built beside the test binary (<build>/oneshot; `make
 * test` builds both), run with fork/exec, its stdout and stderr captured in
 * files of the test's temporary folder. Tiny IDX data sets (8x8, 4 classes,
 * 16 training images per class) are written there too. Helpers compare two
 * checkpoints tensor by tensor (bit for bit) and two metrics.jsonl files
 * field by field, and load a checkpoint back the way `train --resume` does.
 */
#ifndef OS_CLI_UTIL_H
#define OS_CLI_UTIL_H

#include <errno.h>
#include <libgen.h>
#include <signal.h>
#include <stdarg.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>

#include "tests/ds_util.h"
#include "tensor/safetensors.h"
#include "oneshot/config.h"
#include "search/trainer.h"
#include "supernet/supernet.h"

/* <directory of this test binary>/oneshot */
static inline void cu_bin(char *buf, size_t n)
{
    char exe[1024];
    ssize_t len = readlink("/proc/self/exe", exe, sizeof exe - 1);
    cr_assert(len > 0, "readlink /proc/self/exe");
    exe[len] = 0;
    snprintf(buf, n, "%s/oneshot", dirname(exe));
    cr_assert(access(buf, X_OK) == 0, "%s is missing: `make test` builds it (or make %s)", buf, buf);
}

typedef struct {
    long fsize_limit; /* bytes; > 0: RLIMIT_FSIZE with SIGXFSZ ignored (a full disk) */
    int nowait;       /* return the child's pid at once */
} cu_opts;

/* Start `oneshot ARGS` (ARGS split at spaces) with stdout and stderr in
 * dir/tag.out and dir/tag.err. Returns the exit status, 1000 + the signal if
 * a signal ended it, or the pid with o->nowait. */
static inline int cu_spawn(const char *dir, const char *tag, const cu_opts *o, const char *args)
{
    char bin[1024], out[1024], err[1024];
    cu_bin(bin, sizeof bin);
    snprintf(out, sizeof out, "%s/%s.out", dir, tag);
    snprintf(err, sizeof err, "%s/%s.err", dir, tag);
    char *copy = strdup(args), *argv[64], *save = NULL;
    int argc = 0;
    argv[argc++] = bin;
    for (char *t = strtok_r(copy, " ", &save); t && argc < 63; t = strtok_r(NULL, " ", &save))
        argv[argc++] = t;
    argv[argc] = NULL;
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    cr_assert(pid >= 0, "fork: %s", strerror(errno));
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL); /* never outlive a killed test */
        if (!freopen(out, "w", stdout) || !freopen(err, "w", stderr))
            _exit(125);
        if (o && o->fsize_limit > 0) {
            signal(SIGXFSZ, SIG_IGN); /* write() then fails with EFBIG, as on a full disk */
            struct rlimit rl = {(rlim_t)o->fsize_limit, (rlim_t)o->fsize_limit};
            if (setrlimit(RLIMIT_FSIZE, &rl))
                _exit(126);
        }
        execv(bin, argv);
        _exit(127);
    }
    free(copy);
    if (o && o->nowait)
        return pid;
    int st;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
        ;
    return WIFEXITED(st) ? WEXITSTATUS(st) : 1000 + WTERMSIG(st);
}

/* cu_run(dir, tag, opts, fmt, ...): cu_spawn with printf-made arguments */
static inline int cu_run(const char *dir, const char *tag, const cu_opts *o, const char *fmt, ...)
{
    char args[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(args, sizeof args, fmt, ap);
    va_end(ap);
    return cu_spawn(dir, tag, o, args);
}

/* A whole file as a string (caller frees); "" when absent. */
static inline char *cu_slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return strdup("");
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc((size_t)n + 1);
    size_t got = fread(b, 1, (size_t)n, f);
    b[got] = 0;
    fclose(f);
    return b;
}

static inline char *cu_slurp2(const char *dir, const char *name)
{
    char p[1024];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    return cu_slurp(p);
}

/* the lines of a file */
static inline int cu_count_lines(const char *text)
{
    int n = 0;
    for (const char *p = text; *p; p++)
        n += *p == '\n';
    return n;
}

/* dir/name, a JSON object a line, each line reprinted without `key` (a
 * timing that differs between two runs of the same work) */
static inline char *cu_jsonl_without(const char *dir, const char *name, const char *key)
{
    char *t = cu_slurp2(dir, name);
    size_t len = 0, cap = strlen(t) + 64;
    char *out = calloc(cap, 1);
    char *save = NULL;
    for (char *line = strtok_r(t, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        cJSON *j = cJSON_Parse(line);
        cr_assert_not_null(j, "%s/%s: not JSON: %s", dir, name, line);
        cJSON_DeleteItemFromObject(j, key);
        char *s = cJSON_PrintUnformatted(j);
        size_t n = strlen(s);
        if (len + n + 2 > cap) { /* a reprinted number may be longer than the line's own text */
            cap = 2 * (len + n + 2);
            out = realloc(out, cap);
            cr_assert_not_null(out, "out of memory");
        }
        memcpy(out + len, s, n);
        len += n;
        out[len++] = '\n';
        out[len] = '\0';
        free(s);
        cJSON_Delete(j);
    }
    free(t);
    return out;
}

/* tag's stderr must contain every string */
#define CU_EXPECT_STDERR(dir, tag, ...)                                                   \
    do {                                                                                  \
        char n_[128];                                                                     \
        snprintf(n_, sizeof n_, "%s.err", tag);                                           \
        char *e_ = cu_slurp2(dir, n_);                                                    \
        const char *subs_[] = {__VA_ARGS__};                                              \
        for (size_t i_ = 0; i_ < sizeof subs_ / sizeof subs_[0]; i_++)                    \
            cr_expect(strstr(e_, subs_[i_]) != NULL, "%s: stderr lacks '%s':\n%s", tag,   \
                      subs_[i_], e_);                                                     \
        free(e_);                                                                         \
    } while (0)

/* A temporary folder without spaces (arguments are split at spaces). */
static inline void cu_tmpdir(char *dir, size_t n)
{
    du_tmpdir(dir, n);
    cr_assert(!strchr(dir, ' '), "temporary folder %s has a space", dir);
}

/* dir/NAME: IDX train (64 images: 16 per class, 4 classes) and test (16)
 * sets of side x side single-channel images. */
static inline void cu_make_data(const char *dir, const char *name, int side)
{
    du_mkdir(dir, name);
    char d[512];
    snprintf(d, sizeof d, "%s/%s", dir, name);
    uint8_t lab[64];
    for (int i = 0; i < 64; i++)
        lab[i] = (uint8_t)(i % 4);
    du_write_idx(d, "train-images-idx3-ubyte", "train-labels-idx1-ubyte", 64, side, side, lab, 0);
    du_write_idx(d, "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz", 16, side, side, lab, 1);
}

/* a file's bytes equal a saved copy */
static inline int cu_same_file(const char *a, const char *b)
{
    FILE *fa = fopen(a, "rb"), *fb = fopen(b, "rb");
    int same = fa && fb;
    while (same) {
        int ca = fgetc(fa), cb = fgetc(fb);
        same = ca == cb;
        if (ca == EOF)
            break;
    }
    if (fa)
        fclose(fa);
    if (fb)
        fclose(fb);
    return same;
}

static inline void cu_copy_file(const char *from, const char *to)
{
    char *b = NULL;
    FILE *f = fopen(from, "rb");
    cr_assert(f, "open %s", from);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    b = malloc((size_t)n);
    cr_assert(fread(b, 1, (size_t)n, f) == (size_t)n);
    fclose(f);
    f = fopen(to, "wb");
    cr_assert(f && fwrite(b, 1, (size_t)n, f) == (size_t)n, "write %s", to);
    fclose(f);
    free(b);
}

/* Two checkpoints hold the same tensors, bit for bit, and the same position,
 * optimizer step counts, RNG state and epoch sums. The config metadata is
 * not compared (it names the run directory and the flags of the invocation). */
static inline void cu_expect_same_checkpoint(const char *pa, const char *pb)
{
    os_st_file *a = os_st_open(pa), *b = os_st_open(pb);
    cr_assert(a && b, "%s", os_last_error());
    cr_expect_eq(os_st_count(a), os_st_count(b), "%s has %d tensors, %s %d", pa, os_st_count(a), pb,
                 os_st_count(b));
    int differ = 0, groups[5] = {0};
    static const char *const prefix[5] = {"weights/", "arch/", "buffers/", "wopt/", "aopt/"};
    for (int i = 0; i < os_st_count(a); i++) {
        const os_st_info *ia = os_st_at(a, i), *ib = os_st_find(b, ia->name);
        for (int g = 0; g < 5; g++)
            groups[g] += !strncmp(ia->name, prefix[g], strlen(prefix[g]));
        if (!ib) {
            cr_expect(0, "%s lacks %s", pb, ia->name);
            continue;
        }
        cr_assert_eq(ia->numel, ib->numel, "%s: sizes differ", ia->name);
        float *da = os_st_read_f32(a, ia->name, NULL), *db = os_st_read_f32(b, ia->name, NULL);
        cr_assert(da && db, "%s", os_last_error());
        if (memcmp(da, db, sizeof(float) * (size_t)ia->numel)) {
            if (differ++ < 5)
                cr_expect(0, "tensor %s differs", ia->name);
        }
        free(da);
        free(db);
    }
    cr_expect_eq(differ, 0, "%d tensors differ", differ);
    for (int g = 0; g < 5; g++) /* a search checkpoint has all five groups */
        cr_expect(groups[g] > 0, "no %s tensors in %s", prefix[g], pa);
    static const char *const keys[] = {"space", "input", "classes", "epoch", "batch", "global_step",
                                       "wopt_steps", "aopt_steps", "rng"};
    for (size_t k = 0; k < sizeof keys / sizeof keys[0]; k++) {
        const char *va = os_st_meta(a, keys[k]), *vb = os_st_meta(b, keys[k]);
        /* "rng" is the Gumbel strategies' own: absent from both, or equal */
        int optional = !strcmp(keys[k], "rng");
        cr_expect((optional && !va && !vb) || (va && vb && !strcmp(va, vb)), "metadata %s: %s vs %s", keys[k],
                  va ? va : "-", vb ? vb : "-");
    }
    cJSON *ja = cJSON_Parse(os_st_meta(a, "acc")), *jb = cJSON_Parse(os_st_meta(b, "acc"));
    cr_assert(ja && jb, "metadata acc");
    static const char *const acc[] = {"loss_sum", "correct", "seen"};
    for (int k = 0; k < 3; k++)
        cr_expect(cJSON_Compare(cJSON_GetObjectItem(ja, acc[k]), cJSON_GetObjectItem(jb, acc[k]), 1),
                  "acc.%s differs", acc[k]);
    cJSON_Delete(ja);
    cJSON_Delete(jb);
    os_st_close(a);
    os_st_close(b);
}

/* The lines of a metrics.jsonl, parsed; *n gets the count. */
static inline cJSON **cu_metrics(const char *dir, int *n)
{
    char *txt = cu_slurp2(dir, "metrics.jsonl");
    cJSON **v = NULL;
    *n = 0;
    char *save = NULL;
    for (char *l = strtok_r(txt, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
        v = realloc(v, sizeof *v * (size_t)(*n + 1));
        v[*n] = cJSON_Parse(l);
        cr_assert(v[*n], "%s/metrics.jsonl: a line is not JSON: %s", dir, l);
        (*n)++;
    }
    free(txt);
    return v;
}

static inline void cu_free_metrics(cJSON **v, int n)
{
    for (int i = 0; i < n; i++)
        cJSON_Delete(v[i]);
    free(v);
}

/* Same epochs with the same losses, accuracies, lr, tau and alpha
 * probabilities (not the timings). */
static inline void cu_expect_same_metrics(const char *da, const char *db)
{
    int na, nb;
    cJSON **a = cu_metrics(da, &na), **b = cu_metrics(db, &nb);
    cr_expect_eq(na, nb, "%s has %d metric lines, %s %d", da, na, db, nb);
    static const char *const keys[] = {"epoch", "train_loss", "train_acc", "val_loss", "val_acc", "lr", "tau",
                                       "alpha_probs"};
    for (int i = 0; i < na && i < nb; i++)
        for (size_t k = 0; k < sizeof keys / sizeof keys[0]; k++) {
            const cJSON *x = cJSON_GetObjectItem(a[i], keys[k]), *y = cJSON_GetObjectItem(b[i], keys[k]);
            cr_expect((!x && !y) || (x && y && cJSON_Compare(x, y, 1)), "line %d: %s differs", i + 1, keys[k]);
        }
    cu_free_metrics(a, na);
    cu_free_metrics(b, nb);
}

/* Load DIR/checkpoint.safetensors the way `train --resume` does: rebuild the
 * network and the trainer (strategy included) from its config, read
 * everything back. */
static inline os_progress cu_load_checkpoint(const char *dir)
{
    char ck[1024];
    snprintf(ck, sizeof ck, "%s/checkpoint.safetensors", dir);
    os_config c;
    os_config_defaults(&c, OS_CMD_TRAIN);
    cJSON *cj = os_checkpoint_config_json(ck);
    cr_assert(cj, "%s", os_last_error());
    cr_assert_eq(os_config_from_json(&c, cj), 0, "%s", os_last_error());
    cJSON_Delete(cj);
    os_st_file *f = os_st_open(ck);
    cr_assert(f, "%s", os_last_error());
    int ic, ih, iw;
    cr_assert_eq(sscanf(os_st_meta(f, "input"), "%dx%dx%d", &ic, &ih, &iw), 3);
    int classes = atoi(os_st_meta(f, "classes"));
    os_st_close(f);
    const os_space *sp = os_space_find(c.space);
    cr_assert(sp);
    os_space_opts so = {.cells = c.cells, .channels = c.channels, .in_c = ic, .in_h = ih, .in_w = iw,
                        .num_classes = classes, .seed = (uint64_t)c.seed};
    os_net net;
    cr_assert_eq(sp->build(&net, &so), 0, "%s", os_last_error());
    os_train_settings ts = {.search = 1, .epochs = c.epochs, .batch = c.batch, .seed = (uint64_t)c.seed,
                            .lr = c.lr, .momentum = c.momentum};
    os_trainer t;
    cr_assert_eq(os_trainer_init(&t, &net, sp, &ts, os_strategy_find(c.strategy), c.strategy_opts), 0, "%s",
                 os_last_error());
    cr_expect_eq(os_trainer_load(&t, ck), 0, "%s", os_last_error());
    os_progress p = t.pr;
    os_trainer_free(&t);
    os_net_free(&net);
    return p;
}

#endif
