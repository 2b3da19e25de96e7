/* tests/test_checkpoint.c — checkpoints that cannot be silently wrong: the
 * CRC32 of every tensor, finite values, a valid position; damaged files are
 * refused with a message naming the tensor or key, before anything is
 * loaded; checkpoints written before checksums existed still load. */
#include "tests/test_util.h"
#include "tests/ds_util.h"
#include "search/trainer.h"
#include "tensor/backend.h"
#include "tensor/safetensors.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>

#define B 4
#define CLASSES 3

typedef struct {
    os_net net;
    os_trainer t;
} rig;

/* a tiny DARTS search (weights, alphas, BN buffers, SGD and Adam state) */
static void rig_open(rig *g, uint64_t seed)
{
    const os_space *sp = os_space_find("cifar_cell");
    const os_strategy *st = os_strategy_find("darts");
    cr_assert(sp && st);
    os_space_opts so = {.cells = 3, .channels = 2, .in_c = 1, .in_h = 8, .in_w = 8, .num_classes = CLASSES,
                        .seed = seed};
    cr_assert_eq(sp->build(&g->net, &so), 0, "%s", os_last_error());
    os_train_settings ts = {.search = 1, .epochs = 3, .batch = B, .seed = 9, .lr = 0.05f, .lr_min = 0.001f,
                            .momentum = 0.9f, .weight_decay = 3e-4f, .grad_clip = 5.0f};
    cr_assert_eq(os_trainer_init(&g->t, &g->net, sp, &ts, st, NULL), 0, "%s", os_last_error());
}

static void rig_close(rig *g)
{
    os_trainer_free(&g->t);
    os_net_free(&g->net);
}

static void rig_steps(rig *g, int n)
{
    float x[2 * B * 64];
    int32_t y[2 * B];
    os_rng r;
    os_rng_seed(&r, 3);
    g->t.strategy->epoch_begin(g->t.state, 0, g->t.set.epochs);
    for (int s = 0; s < n; s++) {
        for (int i = 0; i < 2 * B * 64; i++)
            x[i] = os_rng_normal(&r);
        for (int i = 0; i < 2 * B; i++)
            y[i] = (int32_t)os_rng_below(&r, CLASSES);
        os_batch tb = {.x = x, .y = y, .n = B}, vb = {.x = x + B * 64, .y = y + B, .n = B};
        os_step_result res;
        cr_assert_eq(os_trainer_step(&g->t, &tb, &vb, &res), 0, "%s", os_last_error());
        g->t.pr.global_step++;
    }
    g->t.pr.batch = n;
}

static char tdir[256];
static void setup(void)
{
    os_set_threads(1);
    du_tmpdir(tdir, sizeof tdir);
}
static void teardown(void)
{
    du_rmtree(tdir);
    os_step_reset();
}

static const char *tpath(const char *name)
{
    static char p[4][512];
    static int k;
    k = (k + 1) % 4;
    snprintf(p[k], sizeof p[k], "%s/%s", tdir, name);
    return p[k];
}

/* a checkpoint after two steps */
static const char *saved(rig *g, const char *name)
{
    rig_open(g, 5);
    rig_steps(g, 2);
    const char *p = tpath(name);
    cr_assert_eq(os_trainer_save(&g->t, p, "{}"), 0, "%s", os_last_error());
    return p;
}

static unsigned char *slurp(const char *p, size_t *n)
{
    FILE *f = fopen(p, "rb");
    cr_assert(f, "%s", p);
    fseek(f, 0, SEEK_END);
    *n = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *b = malloc(*n);
    cr_assert_eq(fread(b, 1, *n, f), *n);
    fclose(f);
    return b;
}

static uint64_t header_len(const unsigned char *b)
{
    uint64_t h = 0;
    for (int i = 7; i >= 0; i--)
        h = h << 8 | b[i];
    return h;
}

/* Rewrite the file's JSON header through edit(root); the data stays. */
static void edit_header(const char *p, void (*edit)(cJSON *root, const void *arg), const void *arg)
{
    size_t n;
    unsigned char *b = slurp(p, &n);
    uint64_t h = header_len(b);
    cJSON *root = cJSON_ParseWithLength((const char *)b + 8, (size_t)h);
    cr_assert(root);
    edit(root, arg);
    char *txt = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    size_t tl = strlen(txt), pad = (tl + 7) & ~(size_t)7;
    FILE *f = fopen(p, "wb");
    unsigned char l8[8];
    for (int i = 0; i < 8; i++)
        l8[i] = (unsigned char)((uint64_t)pad >> (8 * i));
    fwrite(l8, 1, 8, f);
    fwrite(txt, 1, tl, f);
    for (size_t i = tl; i < pad; i++)
        fputc(' ', f);
    fwrite(b + 8 + h, 1, n - 8 - h, f);
    fclose(f);
    free(txt);
    free(b);
}

static void drop_checksums(cJSON *root, const void *arg)
{
    (void)arg;
    cJSON *m = cJSON_GetObjectItemCaseSensitive(root, "__metadata__");
    cJSON *it = m->child;
    while (it) {
        cJSON *next = it->next;
        if (!strncmp(it->string, "crc32/", 6))
            cJSON_DeleteItemFromObjectCaseSensitive(m, it->string);
        it = next;
    }
}

typedef struct {
    const char *key, *value;
} kv;

static void set_meta(cJSON *root, const void *arg)
{
    const kv *e = arg;
    cJSON *m = cJSON_GetObjectItemCaseSensitive(root, "__metadata__");
    cJSON_DeleteItemFromObjectCaseSensitive(m, e->key);
    cJSON_AddStringToObject(m, e->key, e->value);
}

/* Flip one byte of tensor `name`'s data in the file. */
static void flip_byte(const char *p, const char *name, long at)
{
    size_t n;
    unsigned char *b = slurp(p, &n);
    uint64_t h = header_len(b);
    cJSON *root = cJSON_ParseWithLength((const char *)b + 8, (size_t)h);
    cJSON *e = cJSON_GetObjectItemCaseSensitive(root, name);
    cr_assert(e, "no tensor %s", name);
    long begin = (long)cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(e, "data_offsets"), 0)->valuedouble;
    cJSON_Delete(root);
    b[8 + h + (size_t)begin + (size_t)at] ^= 0x04;
    FILE *f = fopen(p, "wb");
    fwrite(b, 1, n, f);
    fclose(f);
    free(b);
}

static void expect_error(int rc, const char *a, const char *b, const char *c)
{
    cr_expect_eq(rc, -1, "a damaged checkpoint loaded (expected '%s', '%s')", a, b);
    const char *m = os_last_error();
    cr_expect(strstr(m, a) && (!b || strstr(m, b)) && (!c || strstr(m, c)), "message '%s' lacks '%s' / '%s' / '%s'",
              m, a, b ? b : "", c ? c : "");
    cr_expect(!strstr(m, "os_st_") && !strstr(m, "os_trainer") && !strstr(m, "os_optim") && !strstr(m, "st_read"),
              "an internal name in '%s'", m);
}

/* the name of the net's first weight (the stem's convolution) */
static const char *stem_weight(const os_net *net)
{
    static char name[160];
    snprintf(name, sizeof name, "weights/%s", net->weights.t[0]->name);
    cr_assert(strstr(name, "stem"), "first weight %s is not the stem's", name);
    return name;
}

Test(checkpoint, saved_with_checksums_and_loads, .init = setup, .fini = teardown)
{
    rig a, b;
    const char *p = saved(&a, "ck");
    os_st_file *f = os_st_open(p);
    cr_assert_not_null(f, "%s", os_last_error());
    for (int i = 0; i < os_st_count(f); i++) {
        char key[256];
        snprintf(key, sizeof key, "crc32/%s", os_st_at(f, i)->name);
        cr_expect_not_null(os_st_meta(f, key), "no checksum for %s", os_st_at(f, i)->name);
    }
    os_st_close(f);
    rig_open(&b, 6);
    cr_expect_eq(os_trainer_load(&b.t, p), 0, "%s", os_last_error());
    cr_expect_eq(b.t.pr.global_step, 2);
    cr_expect_eq(b.t.pr.batch, 2);
    cr_expect(!memcmp(a.net.weights.t[0]->data, b.net.weights.t[0]->data,
                      sizeof(float) * (size_t)os_numel(a.net.weights.t[0])));
    rig_close(&a);
    rig_close(&b);
}

/* One flipped byte in each kind of tensor: the load fails naming it, and the
 * trainer it was loaded into is unchanged. */
Test(checkpoint, flipped_byte_names_the_tensor, .init = setup, .fini = teardown)
{
    rig a, b;
    const char *p = saved(&a, "ck");
    size_t n;
    unsigned char *good = slurp(p, &n);
    rig_open(&b, 6);
    float w0 = b.net.weights.t[0]->data[0];
    const char *names[4] = {stem_weight(&a.net), NULL, NULL, NULL};
    char arch[160], buf[160], wopt[160];
    snprintf(arch, sizeof arch, "arch/%s", a.net.arch.t[0]->name);
    snprintf(buf, sizeof buf, "buffers/%s", a.net.buffers.t[a.net.buffers.n - 1]->name);
    names[1] = arch, names[2] = buf;
    os_st_file *f = os_st_open(p);
    for (int i = 0; i < os_st_count(f); i++)
        if (!strncmp(os_st_at(f, i)->name, "wopt/", 5)) {
            snprintf(wopt, sizeof wopt, "%s", os_st_at(f, i)->name);
            names[3] = wopt;
        }
    os_st_close(f);
    cr_assert(names[3], "no optimizer state in the checkpoint");
    for (int k = 0; k < 4; k++) {
        FILE *g = fopen(p, "wb");
        fwrite(good, 1, n, g);
        fclose(g);
        flip_byte(p, names[k], 1);
        char want[200];
        snprintf(want, sizeof want, "tensor '%s' fails its CRC32 check", names[k]);
        expect_error(os_trainer_load(&b.t, p), want, p, NULL);
        cr_expect_eq(b.net.weights.t[0]->data[0], w0, "the net changed on a failed load");
        cr_expect_eq(b.t.pr.global_step, 0, "the position changed on a failed load");
        os_net eval;
        os_space_opts so = {.cells = 3, .channels = 2, .in_c = 1, .in_h = 8, .in_w = 8, .num_classes = CLASSES};
        cr_assert_eq(os_space_find("cifar_cell")->build(&eval, &so), 0);
        expect_error(os_checkpoint_load_net(p, &eval), want, NULL, NULL);
        os_net_free(&eval);
    }
    free(good);
    rig_close(&a);
    rig_close(&b);
}

/* NaN or Inf saved into a stem weight, an alpha, the optimizer state: the
 * checksums hold (that is what was written), the finiteness check does not. */
Test(checkpoint, non_finite_values_name_the_tensor, .init = setup, .fini = teardown)
{
    for (int k = 0; k < 3; k++) {
        rig a, b;
        rig_open(&a, 5);
        rig_steps(&a, 1);
        char want[200];
        if (k == 0) {
            a.net.weights.t[0]->data[3] = NAN;
            snprintf(want, sizeof want, "tensor '%s' holds NaN (element 3 of", stem_weight(&a.net));
        } else if (k == 1) {
            a.net.arch.t[1]->data[0] = -INFINITY;
            snprintf(want, sizeof want, "tensor 'arch/%s' holds -Inf (element 0 of", a.net.arch.t[1]->name);
        } else {
            char sn[128];
            os_tensor *st = os_optim_state(a.t.wopt, 0, sn, sizeof sn);
            st->data[0] = INFINITY;
            snprintf(want, sizeof want, "tensor 'wopt/%s' holds +Inf", sn);
        }
        const char *p = tpath("nan");
        cr_assert_eq(os_trainer_save(&a.t, p, "{}"), 0, "%s", os_last_error());
        rig_open(&b, 6);
        expect_error(os_trainer_load(&b.t, p), want, p, "earlier copy");
        rig_close(&a);
        rig_close(&b);
    }
}

/* A checkpoint from before checksums (no crc32/ keys) loads as it did. */
Test(checkpoint, without_checksums_loads, .init = setup, .fini = teardown)
{
    rig a, b;
    const char *p = saved(&a, "old");
    edit_header(p, drop_checksums, NULL);
    os_st_file *f = os_st_open(p);
    cr_assert_not_null(f, "%s", os_last_error());
    for (int i = 0; i < os_st_meta_count(f); i++)
        cr_expect(strncmp(os_st_meta_key(f, i), "crc32/", 6), "checksum %s left", os_st_meta_key(f, i));
    os_st_close(f);
    rig_open(&b, 6);
    cr_expect_eq(os_trainer_load(&b.t, p), 0, "%s", os_last_error());
    cr_expect(!memcmp(a.net.weights.t[0]->data, b.net.weights.t[0]->data,
                      sizeof(float) * (size_t)os_numel(a.net.weights.t[0])));
    /* without checksums a flipped byte is not caught here, but a NaN still is */
    rig_close(&a);
    rig_close(&b);
}

/* The position and step counts: whole numbers in range, or an error naming the key. */
Test(checkpoint, bad_position_names_the_key, .init = setup, .fini = teardown)
{
    rig a, b;
    const char *p = saved(&a, "ck");
    size_t n;
    unsigned char *good = slurp(p, &n);
    rig_open(&b, 6);
    const kv bad[] = {{"epoch", "-5"}, {"epoch", "12x"}, {"epoch", "2000000"}, {"batch", "-1"},
                      {"global_step", ""}, {"wopt_steps", "-3"}, {"aopt_steps", "abc"},
                      {"acc", "{\"seen\": -4}"}, {"acc", "{\"correct\": 9, \"seen\": 4}"}, {"acc", "[1]"}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        FILE *g = fopen(p, "wb");
        fwrite(good, 1, n, g);
        fclose(g);
        edit_header(p, set_meta, &bad[i]);
        char want[64];
        snprintf(want, sizeof want, "checkpoint metadata '%s'", bad[i].key);
        expect_error(os_trainer_load(&b.t, p), want, p, NULL);
        cr_expect_eq(b.t.pr.global_step, 0);
    }
    free(good);
    rig_close(&a);
    rig_close(&b);
}

/* A run resumed on other data: its stopping step beyond this epoch's steps
 * is an error, not a seek the loader refuses. */
Test(checkpoint, resume_position_beyond_the_epoch, .init = setup, .fini = teardown)
{
    uint8_t lab[24];
    for (int i = 0; i < 24; i++)
        lab[i] = (uint8_t)(i % CLASSES);
    du_write_idx(tdir, "train-images-idx3-ubyte", "train-labels-idx1-ubyte", 24, 8, 8, lab, 0);
    du_write_idx(tdir, "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte", 6, 8, 8, lab, 0);
    os_run_data d;
    os_data_settings ds = {.path = tdir, .batch = B, .seed = 1, .search = 1, .train_portion = 0.5f,
                           .need_train = 1};
    cr_assert_eq(os_run_data_open(&d, &ds), 0, "%s", os_last_error());
    rig a;
    rig_open(&a, 5);
    a.t.pr.batch = 50;
    cr_expect_eq(os_trainer_run_epoch(&a.t, &d, NULL), -1);
    cr_expect(strstr(os_last_error(), "stopped at step 50 of epoch 1, but an epoch has 3 steps"), "%s",
              os_last_error());
    rig_close(&a);
    os_run_data_close(&d);
}
