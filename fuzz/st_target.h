/* fuzz/st_target.h — what the safetensors fuzz harness does with one file,
 * shared with the replay test (tests/test_fuzz_regress.c): a property that
 * fails calls abort().
 *
 *  1. the reader: os_st_open; on success every tensor is found by name and
 *     read (F32 as floats, also into a tensor of its shape when small; I32 /
 *     I64 as int32; other dtypes refused by both readers), every metadata key
 *     looked up; on failure the message names the file;
 *  2. the checkpoint reader: the file loaded into two small trainers (a DARTS
 *     search of cifar_cell and a GDAS search of nb201: weights, alphas, BN
 *     buffers, SGD and Adam state, an RNG, the position), and into a bare
 *     net, and its config read.
 * st_target_seeds(dir) writes valid checkpoints of those trainers (and of
 * a child) and a few small safetensors files to start from. */
#ifndef OS_FUZZ_ST_TARGET_H
#define OS_FUZZ_ST_TARGET_H

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "search/trainer.h"
#include "tensor/arena.h"
#include "tensor/backend.h"
#include "tensor/error.h"
#include "tensor/safetensors.h"

typedef struct {
    os_net net;
    os_trainer t;
} st_rig;

static st_rig st_rigs[2];
static os_net st_child;
static int st_ready;

static void st_rig_open(st_rig *g, const char *space, const char *strategy, int cells)
{
    const os_space *sp = os_space_find(space);
    os_space_opts so = {.cells = cells, .channels = 1, .in_c = 1, .in_h = 8, .in_w = 8, .num_classes = 3, .seed = 5};
    os_train_settings ts = {.search = 1, .epochs = 3, .batch = 4, .seed = 9, .lr = 0.05f, .lr_min = 0.001f,
                            .momentum = 0.9f, .weight_decay = 3e-4f, .grad_clip = 5.0f};
    if (!sp || sp->build(&g->net, &so) ||
        os_trainer_init(&g->t, &g->net, sp, &ts, os_strategy_find(strategy), NULL)) {
        fprintf(stderr, "st_target: cannot build %s/%s: %s\n", space, strategy, os_last_error());
        abort();
    }
}

static void st_target_init(void)
{
    if (st_ready)
        return;
    os_set_threads(1);
    st_rig_open(&st_rigs[0], "cifar_cell", "darts", 3); /* the smallest of each: big files fuzz slowly */
    st_rig_open(&st_rigs[1], "nb201", "gdas", 1);
    os_arch child;
    const os_space *sp;
    if (os_arch_load("darts-v2", NULL, &sp, &child)) {
        fprintf(stderr, "st_target: %s\n", os_last_error());
        abort();
    }
    os_space_opts so = {.cells = 3, .channels = 1, .in_c = 1, .in_h = 8, .in_w = 8, .num_classes = 3, .seed = 5,
                        .arch = &child};
    if (sp->build(&st_child, &so))
        abort();
    os_arch_free(&child);
    st_ready = 1;
}

/* a failure's message must name the file */
static void st_expect_named(const char *path)
{
    if (!strstr(os_last_error(), path)) {
        fprintf(stderr, "st_target: message without the file: %s\n", os_last_error());
        abort();
    }
}

/* the reader's checks; the file's "space" into space ("" if none), -1 when it does not open */
static int st_read_all(const char *path, char *space, size_t space_len)
{
    os_st_file *f = os_st_open(path);
    if (!f) {
        st_expect_named(path);
        return -1;
    }
    const char *sp = os_st_meta(f, "space");
    snprintf(space, space_len, "%s", sp ? sp : "");
    int n = os_st_count(f);
    for (int i = 0; i < n; i++) {
        const os_st_info *in = os_st_at(f, i);
        if (os_st_find(f, in->name) != in || in->ndim < 0 || in->ndim > OS_ST_MAX_DIMS)
            abort();
        int64_t numel = 1;
        for (int d = 0; d < in->ndim; d++)
            numel *= in->shape[d];
        if (numel != in->numel)
            abort();
        int is_f32 = !strcmp(in->dtype, "F32"), is_int = !strcmp(in->dtype, "I32") || !strcmp(in->dtype, "I64");
        const os_st_info *got = NULL;
        float *v = os_st_read_f32(f, in->name, &got);
        if (v) {
            if (!is_f32 || got != in)
                abort();
            volatile float acc = 0;
            for (int64_t k = 0; k < in->numel; k++)
                acc += v[k];
            (void)acc;
            free(v);
        } else {
            st_expect_named(path);
        }
        int32_t *y = os_st_read_i32(f, in->name, NULL);
        if (y) {
            if (!is_int)
                abort();
            volatile uint32_t acc = 0;
            for (int64_t k = 0; k < in->numel; k++)
                acc += (uint32_t)y[k];
            (void)acc;
            free(y);
        } else {
            st_expect_named(path);
        }
        /* into a tensor of its shape (small ones) */
        int fits = is_f32 && in->ndim >= 1 && in->ndim <= OS_MAX_DIMS && in->numel >= 1 && in->numel <= 4096;
        if (fits) {
            int shape[OS_MAX_DIMS];
            for (int d = 0; d < in->ndim; d++)
                shape[d] = (int)in->shape[d];
            os_tensor *t = os_tensor_new(in->ndim, shape);
            if (os_st_read_into(f, in->name, t))
                st_expect_named(path);
        }
    }
    for (int i = 0; i < os_st_meta_count(f); i++) {
        const char *k = os_st_meta_key(f, i), *v = os_st_meta(f, k);
        if (!v)
            abort();
        volatile size_t l = strlen(k) + strlen(v);
        (void)l;
    }
    os_st_close(f);
    return 0;
}

static void st_target_file(const char *path)
{
    st_target_init();
    char space[64];
    if (st_read_all(path, space, sizeof space))
        return; /* the loads would open it the same way */
    /* the trainer of the file's space (another fails at its first check) */
    for (int r = 0; r < 2; r++)
        if (strcmp(space, st_rigs[r].net.space)) {
            continue;
        } else if (os_trainer_load(&st_rigs[r].t, path)) {
            st_expect_named(path);
        } else {
            const os_progress *p = &st_rigs[r].t.pr;
            if (p->epoch < 0 || p->epoch > OS_MAX_EPOCHS || p->batch < 0 || p->global_step < 0 ||
                p->correct < 0 || p->seen < 0 || p->correct > p->seen)
                abort();
        }
    if (!strcmp(space, "cifar_cell") && os_checkpoint_load_net(path, &st_child))
        st_expect_named(path);
    cJSON *c = os_checkpoint_config_json(path);
    cJSON_Delete(c);
    os_step_reset();
}

/* ---- seeds --------------------------------------------------------------------- */
static void st_seed(const char *dir, const char *name, os_st_writer *w)
{
    char p[1024];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    if (os_st_write(w, p)) {
        fprintf(stderr, "st_target: %s\n", os_last_error());
        abort();
    }
    os_st_writer_free(w);
}

static void st_target_seeds(const char *dir)
{
    st_target_init();
    char p[1024];
    const char *names[2] = {"darts_cifar_cell.ckpt", "gdas_nb201.ckpt"};
    for (int r = 0; r < 2; r++) {
        snprintf(p, sizeof p, "%s/%s", dir, names[r]);
        st_rigs[r].t.pr = (os_progress){.epoch = 1, .batch = 2, .global_step = 7, .loss_sum = 3.5, .correct = 2,
                                        .seen = 8, .seconds = 1.25};
        if (os_trainer_save(&st_rigs[r].t, p, "{\"space\": \"x\", \"epochs\": 3}"))
            abort();
        st_rigs[r].t.pr = (os_progress){0};
    }
    /* a retrain child's weights as a checkpoint of its own */
    os_st_writer *w = os_st_writer_new();
    for (int i = 0; i < st_child.weights.n && i < 8; i++) {
        snprintf(p, sizeof p, "weights/%s", st_child.weights.t[i]->name);
        os_st_add_tensor(w, p, st_child.weights.t[i]);
    }
    os_st_set_meta(w, "space", "cifar_cell");
    os_st_set_meta(w, "input", "1x8x8");
    os_st_set_meta(w, "classes", "3");
    st_seed(dir, "child_part.st", w);
    /* small plain files: every dtype the writer has, scalars, empty tensors */
    float f6[6] = {0.5f, -1, 2, 1e30f, -0.0f, 3};
    int32_t i3[3] = {7, -1, 2147483647};
    int64_t s23[2] = {2, 3}, s3[1] = {3}, s0[1] = {0};
    w = os_st_writer_new();
    os_st_add_f32(w, "x", 2, s23, f6);
    os_st_add_i32(w, "labels", 1, s3, i3);
    os_st_add_f32(w, "scalar", 0, NULL, f6 + 1);
    os_st_add_f32(w, "empty", 1, s0, f6);
    os_st_set_meta(w, "note", "a \"quoted\" value");
    st_seed(dir, "small.st", w);
    w = os_st_writer_new();
    st_seed(dir, "empty.st", w);
}

#endif
