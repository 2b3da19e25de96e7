/* tests/test_stage.c — batches staged through pinned memory (search/stage.h)
 * and the backends' staging calls (tensor/backend.h: alloc_host, upload,
 * upload_wait, upload_done).
 *
 * OS_CUDA is served by the debug device (ops/debug_backend.h) around the
 * CUDA emulation or the CPU backend: device memory is poisoned and closed to
 * the host, and an upload is deferred to its slot's wait, with a check that
 * its pinned source was not written meanwhile. Training with the stager must
 * give bit for bit the losses, evaluations and weights of the same run
 * without it (each batch copied where it is used), and on debug(cpu) those
 * of the CPU device. What emulation cannot show: the copy really running
 * beside the kernels, and the fence before a device buffer is overwritten
 * (README, "The CUDA backend"; scripts/gpu_check.sh). */
#include "tests/test_util.h"
#include "tests/ds_util.h"
#include "tests/debug_util.h"
#include "ops/cuda/cuda_backend.h"
#include "search/stage.h"
#include "search/trainer.h"
#include "supernet/spaces/spaces.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define B 4
#define CLASSES 3
#define MAX_STEPS 64

static char tdir[256];

/* 40 training images (search: 20 for the weights, 20 for the architecture:
 * 5 steps an epoch) and 10 test images (batches of 4, 4 and 2) */
static void setup(void)
{
    os_set_threads(1);
    du_tmpdir(tdir, sizeof tdir);
    uint8_t lab[40];
    for (int i = 0; i < 40; i++)
        lab[i] = (uint8_t)((i * 7) % CLASSES);
    du_write_idx(tdir, "train-images-idx3-ubyte", "train-labels-idx1-ubyte", 40, 8, 8, lab, 0);
    du_write_idx(tdir, "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte", 10, 8, 8, lab, 0);
}

static void teardown(void)
{
    du_rmtree(tdir);
    tu_cuda_debug_off();
}

TestSuite(stage, .init = setup, .fini = teardown);

static void open_data(os_run_data *d, int search)
{
    os_data_settings ds = {.path = tdir, .batch = B, .seed = 1, .search = search, .train_portion = 0.5f,
                           .need_train = 1, .crop_pad = 2, .flip = 1};
    cr_assert_eq(os_run_data_open(d, &ds), 0, "%s", os_last_error());
}

typedef struct {
    os_net net;
    os_trainer t;
    os_arch child;
    os_run_data d;
    float loss[MAX_STEPS];
    int steps;
    double eval[8];
    int evals;
} rig;

static int limit_steps; /* os_train_settings.limit_steps of the rigs */

/* a search (strategy) or a DARTS_V2 retrain (NULL) with auxiliary head and
 * drop path, its net on dev */
static void rig_open(rig *g, os_device dev, const char *strategy, int no_stage)
{
    memset(g, 0, sizeof *g);
    const os_space *sp = &os_space_cifar_cell;
    if (!strategy)
        cr_assert_eq(sp->parse("darts-v2", &g->child), 0);
    os_set_default_device(dev);
    os_space_opts so = {.cells = 3, .channels = 2, .in_c = 1, .in_h = 8, .in_w = 8, .num_classes = CLASSES,
                        .seed = 5, .arch = strategy ? NULL : &g->child, .auxiliary = !strategy};
    cr_assert_eq(sp->build(&g->net, &so), 0, "%s", os_last_error());
    os_train_settings ts = {.search = strategy != NULL, .epochs = 2, .batch = B, .seed = 9, .lr = 0.05f,
                            .lr_min = 0.001f, .momentum = 0.9f, .weight_decay = 3e-4f, .grad_clip = 5.0f,
                            .auxiliary_weight = strategy ? 0.0f : 0.4f, .drop_path = strategy ? 0.0f : 0.2f,
                            .limit_steps = limit_steps, .no_stage = no_stage};
    const os_strategy *st = strategy ? os_strategy_find(strategy) : NULL;
    cr_assert_eq(os_trainer_init(&g->t, &g->net, sp, &ts, st, NULL), 0, "%s", os_last_error());
    os_set_default_device(OS_CPU);
    open_data(&g->d, strategy != NULL);
}

static void rig_close(rig *g)
{
    os_trainer_free(&g->t);
    os_net_free(&g->net);
    os_arch_free(&g->child);
    os_run_data_close(&g->d);
    os_step_reset();
}

static void on_step(void *arg, const os_step_info *si)
{
    rig *g = arg;
    cr_assert(g->steps < MAX_STEPS);
    g->loss[g->steps++] = si->loss;
}

static int stop_at = -1; /* should_stop: after this many steps of the epoch */
static int should_stop(void *arg)
{
    rig *g = arg;
    return stop_at >= 0 && g->t.pr.global_step == stop_at;
}

/* two epochs, each followed by an evaluation on the test split (a partial
 * last batch) and, searching, on two batches of the architecture split */
static void rig_train(rig *g)
{
    os_epoch_hooks h = {.on_step = on_step, .arg = g};
    for (int e = 0; e < 2; e++) {
        cr_assert_eq(os_trainer_run_epoch(&g->t, &g->d, &h), 0, "%s", os_last_error());
        os_trainer_evaluate(&g->t, g->d.tl, g->d.xb, g->d.yb, 0, &g->eval[g->evals], &g->eval[g->evals + 1]);
        g->evals += 2;
        if (g->t.strategy) {
            os_trainer_evaluate(&g->t, g->d.al, g->d.xb, g->d.yb, 2, &g->eval[g->evals], &g->eval[g->evals + 1]);
            g->evals += 2;
        }
        os_trainer_end_epoch(&g->t);
    }
}

static void same_run(const rig *a, const rig *b, const char *what)
{
    cr_assert_eq(a->steps, b->steps, "%s: steps", what);
    for (int s = 0; s < a->steps; s++)
        cr_expect_eq(a->loss[s], b->loss[s], "%s: step %d loss %.9g vs %.9g", what, s, (double)a->loss[s],
                     (double)b->loss[s]);
    cr_assert_eq(a->evals, b->evals);
    for (int i = 0; i < a->evals; i++)
        cr_expect_eq(a->eval[i], b->eval[i], "%s: evaluation %d: %.17g vs %.17g", what, i, a->eval[i], b->eval[i]);
    tu_same_params(&a->net.weights, &b->net.weights, "weight", 0);
    tu_same_params(&a->net.arch, &b->net.arch, "alpha", 0);
    tu_same_params(&a->net.buffers, &b->net.buffers, "buffer", 0);
}

/* the run staged and not, on OS_CUDA as registered; with `cpu`, also on the CPU */
static void staged_as_unstaged(const char *strategy, int cpu)
{
    static rig r[3];
    rig_open(&r[0], OS_CUDA, strategy, 0);
    rig_open(&r[1], OS_CUDA, strategy, 1);
    rig_train(&r[0]);
    rig_train(&r[1]);
    cr_assert_not_null(r[0].t.stage, "the staged run made a stager");
    cr_assert_null(r[1].t.stage, "no_stage: no stager");
    cr_expect_eq(r[0].steps, strategy ? 10 : 20, "two epochs of 5 (search) or 10 (retrain) steps");
    const char *name = strategy ? strategy : "retrain";
    same_run(&r[0], &r[1], name);
    if (cpu) {
        rig_open(&r[2], OS_CPU, strategy, 0);
        rig_train(&r[2]);
        cr_assert_null(r[2].t.stage, "the CPU never stages");
        same_run(&r[0], &r[2], name);
        rig_close(&r[2]);
    }
    rig_close(&r[0]);
    rig_close(&r[1]);
}

Test(stage, darts_on_debug_emu_as_without_staging)
{
    tu_cuda_debug(&os_cuda_emu_backend);
    staged_as_unstaged("darts", 0);
}

Test(stage, retrain_on_debug_emu_as_without_staging)
{
    tu_cuda_debug(&os_cuda_emu_backend);
    staged_as_unstaged(NULL, 0);
}

Test(stage, darts_on_plain_emu_as_without_staging)
{
    os_backend_register(OS_CUDA, &os_cuda_emu_backend);
    staged_as_unstaged("darts", 0);
}

/* on a GPU (scripts/gpu_check.sh): the copy stream, its events and pinned
 * memory for real; the kernels are deterministic, so bit for bit again */
#if defined(OS_HAVE_CUDA) && OS_HAVE_CUDA
Test(stage, real_gpu_staged_as_unstaged)
{
    if (!os_cuda_backend.available()) {
        cr_log_info("no GPU in this process: the real copy stream is checked by scripts/gpu_check.sh");
        return;
    }
    os_backend_register(OS_CUDA, NULL); /* the built-in table: the real backend */
    staged_as_unstaged("darts", 0);
    staged_as_unstaged(NULL, 0);
}
#endif

Test(stage, darts_and_retrain_on_debug_cpu_as_on_the_cpu)
{
    tu_cuda_debug_cpu();
    staged_as_unstaged("darts", 1);
    staged_as_unstaged(NULL, 1);
}

/* every strategy: two epochs of two steps and the evaluations, staged and not */
Test(stage, every_strategy_on_debug_emu_as_without_staging, .timeout = 300)
{
    tu_cuda_debug(&os_cuda_emu_backend);
    limit_steps = 2;
    for (int i = 0; i < os_strategy_count(); i++) {
        static rig r[2];
        const char *name = os_strategy_at(i)->name;
        for (int k = 0; k < 2; k++) {
            rig_open(&r[k], OS_CUDA, name, k);
            rig_train(&r[k]);
        }
        cr_expect_eq(r[0].steps, 4, "%s", name);
        same_run(&r[0], &r[1], name);
        rig_close(&r[0]);
        rig_close(&r[1]);
    }
}

/* each batch is read from its loader once and uploaded once (images and
 * labels); the step still reads the device once */
Test(stage, one_load_and_one_upload_per_batch)
{
    tu_cuda_debug(&os_cuda_emu_backend);
    static rig g;
    rig_open(&g, OS_CUDA, "darts", 0);
    os_debug_counts_reset();
    cr_assert_eq(os_trainer_run_epoch(&g.t, &g.d, NULL), 0, "%s", os_last_error());
    os_stage_counts c;
    os_stage_counts_get(g.t.stage, &c);
    cr_expect_eq(c.loads, 10, "5 training and 5 validation batches, each read once (%ld)", c.loads);
    cr_expect_eq(c.reuses, 8, "steps 1..4 find both batches staged during the step before (%ld)", c.reuses);
    cr_expect_eq(c.host_waits, 3, "the refills of steps 2, 3, 4 wait for their slot's last upload, once for both "
                 "lanes (%ld)", c.host_waits);
    os_debug_counts dc;
    os_debug_counts_get(&dc);
    cr_expect_eq(dc.uploads, 20, "images and labels of 10 batches (%ld)", dc.uploads);
    cr_expect_eq(dc.from_host, dc.uploads, "no other copy to the device (%ld)", dc.from_host);
    cr_expect_eq(dc.to_host, 5, "one host read a step (%ld)", dc.to_host);
    /* evaluation: 3 test batches (4, 4, 2), each read and uploaded once */
    double l, a;
    os_debug_counts_reset();
    os_trainer_evaluate(&g.t, g.d.tl, g.d.xb, g.d.yb, 0, &l, &a);
    os_stage_counts_get(g.t.stage, &c);
    cr_expect_eq(c.loads, 13);
    os_debug_counts_get(&dc);
    cr_expect_eq(dc.uploads, 6);
    cr_expect_eq(dc.to_host, 3);
    cr_expect(isfinite(l) && a >= 0 && a <= 1);
    rig_close(&g);
}

/* stopped after step 2 and resumed from the checkpoint (the stager had
 * staged step 3 already): the same as the run that did not stop */
Test(stage, resume_is_bit_identical)
{
    tu_cuda_debug(&os_cuda_emu_backend);
    static rig whole, first, rest;
    rig_open(&whole, OS_CUDA, "darts", 0);
    rig_train(&whole);
    rig_open(&first, OS_CUDA, "darts", 0);
    stop_at = 2;
    os_epoch_hooks h = {.on_step = on_step, .should_stop = should_stop, .arg = &first};
    cr_assert_eq(os_trainer_run_epoch(&first.t, &first.d, &h), 1);
    stop_at = -1;
    cr_assert_eq(first.t.pr.batch, 2);
    char path[512];
    snprintf(path, sizeof path, "%s/ck.safetensors", tdir);
    cr_assert_eq(os_trainer_save(&first.t, path, "{}"), 0, "%s", os_last_error());
    rig_open(&rest, OS_CUDA, "darts", 0);
    cr_assert_eq(os_trainer_load(&rest.t, path), 0, "%s", os_last_error());
    rest.steps = first.steps;
    memcpy(rest.loss, first.loss, sizeof first.loss);
    rig_train(&rest);
    same_run(&whole, &rest, "resumed");
    rig_close(&whole);
    rig_close(&first);
    rig_close(&rest);
}

/* ---- the stager alone ----------------------------------------------------------- */
static os_loader *test_loader(os_run_data *d)
{
    open_data(d, 0);
    return d->tl; /* 10 images in order: 4, 4, 2 */
}

static void expect_on_device(const os_batch *b)
{
    float x[B * 64];
    int32_t y[B];
    cr_assert_eq(b->xd->shape[0], b->n);
    cr_assert_eq(b->xd->device, OS_CUDA);
    os_tensor_to_host(b->xd, x);
    cr_expect(!memcmp(x, b->x, sizeof(float) * 64 * (size_t)b->n), "the device images are the host batch");
    os_backend_get(OS_CUDA)->copy_to_host(y, b->yd, sizeof(int32_t) * (size_t)b->n);
    cr_expect(!memcmp(y, b->y, sizeof(int32_t) * (size_t)b->n), "the device labels are the host batch");
}

Test(stage, batches_reach_the_device_partial_last_one_too)
{
    tu_cuda_debug(&os_cuda_emu_backend);
    os_run_data d;
    os_loader *l = test_loader(&d);
    os_stage *s = os_stage_new(OS_CUDA, B, 1, 8, 8, CLASSES);
    int sizes[] = {4, 4, 2}, slot = 0;
    os_loader_seek(l, 0, 0);
    for (int i = 0; i < 3; i++, slot ^= 1) {
        cr_assert_eq(os_stage_next(s, slot, 0, l), sizes[i]);
        os_batch b = os_stage_batch(s, slot, 0);
        cr_expect_eq(b.n, sizes[i]);
        expect_on_device(&b);
    }
    cr_expect_eq(os_stage_next(s, slot, 0, l), 0, "the end of the epoch");
    TU_EXPECT_FATAL(os_stage_batch(s, slot, 0), "slot", "holds no batch");
    os_stage_free(s);
    os_run_data_close(&d);
}

/* refilling a slot whose upload has not been waited for: the stager waits
 * on the host first (the debug device would report the written source) */
Test(stage, a_pending_upload_is_waited_for_before_a_refill)
{
    tu_cuda_debug(&os_cuda_emu_backend);
    os_run_data d;
    os_loader *l = test_loader(&d);
    os_stage *s = os_stage_new(OS_CUDA, B, 1, 8, 8, CLASSES);
    os_stage_counts c;
    cr_assert_eq(os_stage_load(s, 1, 0, l, 0, 0), 4);
    cr_assert_eq(os_stage_load(s, 1, 0, l, 0, 0), 4, "held already");
    os_stage_counts_get(s, &c);
    cr_expect_eq(c.loads, 1);
    cr_expect_eq(c.reuses, 1);
    cr_expect_eq(c.host_waits, 0);
    cr_assert_eq(os_stage_load(s, 1, 0, l, 0, 2), 2, "another batch into the same slot, upload pending");
    os_stage_counts_get(s, &c);
    cr_expect_eq(c.host_waits, 1);
    os_batch b = os_stage_batch(s, 1, 0);
    expect_on_device(&b);
    cr_expect_eq(os_loader_batch(l), 3, "the loader was sought to batch 2");
    os_stage_forget(s);
    cr_assert_eq(os_stage_load(s, 1, 0, l, 0, 2), 2);
    os_stage_counts_get(s, &c);
    cr_expect_eq(c.loads, 3, "forgotten: read again");
    os_stage_free(s);
    os_run_data_close(&d);
}

Test(stage, labels_outside_the_classes_are_refused)
{
    tu_cuda_debug(&os_cuda_emu_backend);
    os_run_data d;
    os_loader *l = test_loader(&d);
    os_stage *s = os_stage_new(OS_CUDA, B, 1, 8, 8, 2); /* the data has 3 classes */
    TU_EXPECT_FATAL(os_stage_next(s, 0, 0, l), "stage: label 2", "outside [0, 2 classes)");
    os_stage_free(s);
    os_run_data_close(&d);
}

/* ---- the backends' staging calls ------------------------------------------------- */
Test(stage, every_table_has_the_staging_calls)
{
    const os_backend *t[] = {os_builtin_backend(OS_CPU), &os_cuda_emu_backend,
                             os_debug_backend_wrap(&os_cuda_emu_backend)};
    for (int i = 0; i < 3; i++) {
        cr_expect(t[i]->alloc_host && t[i]->free_host && t[i]->upload && t[i]->upload_wait && t[i]->upload_done,
                  "%s", t[i]->name);
        float *p = t[i]->alloc_host(100);
        cr_assert_not_null(p);
        cr_expect_eq((uintptr_t)p % 64, 0, "%s: aligned", t[i]->name);
        t[i]->free_host(p);
        TU_EXPECT_FATAL(t[i]->upload(NULL, NULL, 0, OS_UPLOAD_SLOTS), "slot 4 outside 0..3");
    }
#ifndef __SANITIZE_ADDRESS__ /* ASan stops at an impossible size instead of returning NULL */
    TU_EXPECT_FATAL(os_cpu_backend.alloc_host((size_t)1 << 62), "alloc_host", "out of host memory",
                    "4611686018427387904 bytes", "--batch");
    TU_EXPECT_FATAL(os_cuda_emu_backend.alloc_host((size_t)1 << 62), "cuda-emu: alloc_host", "out of host memory",
                    "--batch");
#endif
}

/* the debug device defers an upload to its slot's wait: a kernel or copy
 * before it sees the old (poisoned) bytes */
Test(stage, debug_upload_lands_at_the_wait)
{
    tu_cuda_debug(&os_cuda_emu_backend);
    const os_backend *be = os_backend_get(OS_CUDA);
    float *p = be->alloc_host(64 * sizeof(float)), h[64];
    float *dv = be->alloc(64 * sizeof(float));
    for (int i = 0; i < 64; i++)
        p[i] = (float)i;
    be->upload(dv, p, sizeof h, 2);
    be->copy_to_host(h, dv, sizeof h);
    cr_expect(isnan(h[5]), "before the wait: the poison (%g)", (double)h[5]);
    be->upload_wait(2);
    be->copy_to_host(h, dv, sizeof h);
    cr_expect(!memcmp(h, p, sizeof h), "after the wait: the upload");
    be->upload(dv, p, sizeof h, 3);
    be->upload_done(3);
    p[0] = -1.0f; /* after upload_done: allowed */
    be->upload_wait(3);
    be->copy_to_host(h, dv, sizeof h);
    cr_expect_eq(h[0], 0.0f, "copied at upload_done, before the write");
    be->free(dv);
    be->free_host(p);
}

Test(stage, debug_source_written_while_pending_is_an_error)
{
    tu_cuda_debug(&os_cuda_emu_backend);
    const os_backend *be = os_backend_get(OS_CUDA);
    float *p = be->alloc_host(64 * sizeof(float));
    float *dv = be->alloc(64 * sizeof(float));
    memset(p, 0, 64 * sizeof(float));
    be->upload(dv, p, 64 * sizeof(float), 1);
    p[7] = 3.0f; /* a refill before upload_done: a GPU would copy torn data */
    TU_EXPECT_FATAL(be->upload_wait(1), "upload_wait", "slot 1", "256 bytes", "written before upload_done");
    /* written after the kernels waited for it, before the host did: also a race on a GPU */
    p[7] = 0.0f;
    be->upload(dv, p, 64 * sizeof(float), 1);
    be->upload_wait(1);
    p[7] = 3.0f;
    TU_EXPECT_FATAL(be->upload(dv, p, 64 * sizeof(float), 1), "debug backend: upload:", "slot 1",
                    "written before upload_done");
    be->free(dv);
    be->free_host(p);
}
