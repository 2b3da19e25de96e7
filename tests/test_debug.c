/* tests/test_debug.c — the debug device (ops/debug_backend.h): its memory is
 * poisoned and unreadable from the host outside backend calls; a DARTS search
 * step and a retrain step of a child run on it (OS_CUDA served by the
 * debug-wrapped CPU backend) exactly as on the CPU: same losses, same weights,
 * bit for bit (the same kernels run, one thread). */
#include "tests/test_util.h"
#include "tests/debug_util.h"
#include "search/trainer.h"
#include "supernet/spaces/spaces.h"

#include <math.h>
#include <signal.h>
#include <stdlib.h>

TestSuite(debug, .init = tu_cuda_debug_cpu, .fini = tu_cuda_debug_off);

Test(debug, host_read_of_device_data_crashes, .signal = SIGSEGV)
{
    os_tensor *t = os_tensor_new_persistent(OS_CUDA, 1, (int[]){16});
    os_tensor_fill(t, 1.0f); /* through the backend: fine */
    cr_assert_eq(os_tensor_item(os_view_channels(os_view_reshape(t, 2, (int[]){1, 16}), 3, 1)), 1.0f);
    signal(SIGSEGV, SIG_DFL); /* no sanitizer report: the default action, as without one */
    volatile float v = t->data[3]; /* a host read of device data */
    cr_assert_fail("read %g from protected device memory", (double)v);
}

Test(debug, host_write_of_device_data_crashes, .signal = SIGSEGV)
{
    os_tensor *t = os_tensor_new4_on(OS_CUDA, 2, 3, 4, 4);
    signal(SIGSEGV, SIG_DFL);
    t->data[0] = 1.0f;
    cr_assert_fail("wrote to protected device memory");
}

Test(debug, memory_is_poisoned)
{
    os_tensor *t = os_tensor_new_on(OS_CUDA, 1, (int[]){100});
    float h[100];
    os_tensor_to_host(t, h);
    for (int i = 0; i < 100; i++)
        cr_assert(isnan(h[i]), "element %d is %g, not the poison", i, (double)h[i]);
    os_tensor *z = os_tensor_new_persistent(OS_CUDA, 1, (int[]){100}); /* zero-filled by a kernel */
    os_tensor_to_host(z, h);
    for (int i = 0; i < 100; i++)
        cr_assert_eq(h[i], 0.0f);
    os_tensor_free(z);
}

Test(debug, counts_copies_and_kernels)
{
    os_tensor *t = os_tensor_new_on(OS_CUDA, 1, (int[]){8});
    os_debug_counts_reset();
    float h[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    os_tensor_from_host(t, h);
    os_tensor_fill(t, 2.0f);
    os_tensor_to_host(t, h);
    os_debug_counts c;
    os_debug_counts_get(&c);
    cr_expect_eq(c.from_host, 1);
    cr_expect_eq(c.to_host, 1);
    cr_expect_eq(c.to_host_bytes, 32);
    cr_expect_eq(c.kernels, 1);
    cr_expect_eq(c.kernel[OS_K_FILL], 1);
    cr_expect_eq(h[7], 2.0f);
    cr_expect_str_eq(os_backend_get(OS_CUDA)->name, "debug(cpu)");
}

/* ---- a DARTS search step and a retrain step: the debug device against the CPU ---- */
#define B 4
#define CLASSES 3

typedef struct {
    os_net net;
    os_trainer t;
} rig;

static void rig_open(rig *g, os_device dev, const char *strategy, const void *opts, const os_arch *child)
{
    const os_space *sp = &os_space_cifar_cell;
    os_set_default_device(dev);
    os_space_opts so = {.cells = 3, .channels = 4, .in_c = 1, .in_h = 8, .in_w = 8, .num_classes = CLASSES,
                        .seed = 5, .arch = child, .auxiliary = child != NULL};
    cr_assert_eq(sp->build(&g->net, &so), 0, "%s", os_last_error());
    os_train_settings ts = {.search = child == NULL, .epochs = 3, .batch = B, .seed = 9, .lr = 0.05f,
                            .lr_min = 0.001f, .momentum = 0.9f, .weight_decay = 3e-4f, .grad_clip = 5.0f,
                            .auxiliary_weight = child ? 0.4f : 0.0f, .drop_path = child ? 0.3f : 0.0f};
    const os_strategy *st = strategy ? os_strategy_find(strategy) : NULL;
    void *o = NULL;
    if (st) {
        o = calloc(1, st->options_size + 1);
        os_options_defaults(st->options, st->n_options, o);
        if (opts)
            memcpy(o, opts, st->options_size);
    }
    cr_assert_eq(os_trainer_init(&g->t, &g->net, sp, &ts, st, o), 0, "%s", os_last_error());
    free(o);
    os_set_default_device(OS_CPU);
}

static void rig_close(rig *g)
{
    os_trainer_free(&g->t);
    os_net_free(&g->net);
}

static void batches(int s, float *x, int32_t *y)
{
    os_rng r;
    os_rng_seed(&r, 100 + (uint64_t)s);
    for (int i = 0; i < 2 * B * 64; i++)
        x[i] = os_rng_normal(&r);
    for (int i = 0; i < 2 * B; i++)
        y[i] = (int32_t)os_rng_below(&r, CLASSES);
}

static void run(rig *g, int steps, os_step_result *res)
{
    float x[2 * B * 64];
    int32_t y[2 * B];
    for (int s = 0; s < steps; s++) {
        g->t.pr.epoch = s / 2;
        if (g->t.strategy)
            g->t.strategy->epoch_begin(g->t.state, s / 2, g->t.set.epochs);
        batches(s, x, y);
        os_batch tb = {.x = x, .y = y, .n = B}, vb = {.x = x + B * 64, .y = y + B, .n = B};
        cr_assert_eq(os_trainer_step(&g->t, &tb, &vb, &res[s]), 0, "%s", os_last_error());
        cr_assert(isfinite(res[s].loss));
        g->t.pr.global_step++;
    }
}

static void parity(const char *strategy, const void *opts, const os_arch *child)
{
    enum { STEPS = 3 };
    rig c, d;
    os_step_result rc[STEPS], rd[STEPS];
    rig_open(&c, OS_CPU, strategy, opts, child);
    rig_open(&d, OS_CUDA, strategy, opts, child);
    cr_assert_eq(d.net.weights.t[0]->device, OS_CUDA);
    run(&c, STEPS, rc);
    run(&d, STEPS, rd);
    for (int s = 0; s < STEPS; s++) {
        cr_expect_eq(rc[s].loss, rd[s].loss, "step %d: loss %.9g on cpu, %.9g on the debug device", s,
                     (double)rc[s].loss, (double)rd[s].loss);
        cr_expect_eq(rc[s].correct, rd[s].correct, "step %d", s);
    }
    tu_same_params(&c.net.weights, &d.net.weights, "weight", 1);
    tu_same_params(&c.net.arch, &d.net.arch, "alpha", 1);
    rig_close(&c);
    rig_close(&d);
}

Test(debug, darts_search_step_as_on_cpu) { parity("darts", NULL, NULL); }

Test(debug, darts_second_order_step_as_on_cpu)
{
    const os_strategy *st = os_strategy_find("darts");
    void *o = calloc(1, st->options_size + 1);
    os_options_defaults(st->options, st->n_options, o);
    cr_assert_eq(os_options_set(st->options, st->n_options, o, "unrolled", "1"), 0, "%s", os_last_error());
    parity("darts", o, NULL);
    free(o);
}

Test(debug, gdas_search_step_as_on_cpu) { parity("gdas", NULL, NULL); }

Test(debug, retrain_step_as_on_cpu)
{
    os_arch child = {0};
    cr_assert_eq(os_space_cifar_cell.parse("darts-v2", &child), 0);
    parity(NULL, NULL, &child);
    os_arch_free(&child);
}

/* every strategy on every space: three steps and a derived architecture on the
 * debug device, the same as on the CPU (losses bit for bit, same child) */
static void strategy_on_debug(const os_space *sp, const os_strategy *st)
{
    enum { STEPS = 3 };
    os_net net[2];
    os_trainer t[2];
    float loss[2][STEPS];
    char *json[2];
    for (int d = 0; d < 2; d++) {
        os_set_default_device(d ? OS_CUDA : OS_CPU);
        os_space_opts so = {.cells = 3, .channels = 2, .in_c = 1, .in_h = 8, .in_w = 8, .num_classes = CLASSES,
                            .seed = 5};
        cr_assert_eq(sp->build(&net[d], &so), 0, "%s: %s", sp->name, os_last_error());
        os_train_settings ts = {.search = 1, .epochs = 3, .batch = B, .seed = 9, .lr = 0.05f, .lr_min = 0.001f,
                                .momentum = 0.9f, .weight_decay = 3e-4f, .grad_clip = 5.0f};
        cr_assert_eq(os_trainer_init(&t[d], &net[d], sp, &ts, st, NULL), 0, "%s/%s: %s", sp->name, st->name,
                     os_last_error());
        os_set_default_device(OS_CPU);
        float x[2 * B * 64];
        int32_t y[2 * B];
        for (int s = 0; s < STEPS; s++) {
            t[d].pr.epoch = s / 2;
            st->epoch_begin(t[d].state, s / 2, 3);
            batches(s, x, y);
            os_batch tb = {.x = x, .y = y, .n = B}, vb = {.x = x + B * 64, .y = y + B, .n = B};
            os_step_result r;
            cr_assert_eq(os_trainer_step(&t[d], &tb, &vb, &r), 0, "%s/%s: %s", sp->name, st->name, os_last_error());
            loss[d][s] = r.loss;
            t[d].pr.global_step++;
        }
        os_arch w, child;
        cr_assert_eq(os_trainer_derive(&t[d], NULL, &w, &child), 0, "%s", os_last_error());
        json[d] = os_arch_json(sp, &child, &w);
        os_arch_free(&w);
        os_arch_free(&child);
    }
    for (int s = 0; s < STEPS; s++)
        cr_expect_eq(loss[0][s], loss[1][s], "%s/%s step %d: loss %.9g on cpu, %.9g on the debug device", sp->name,
                     st->name, s, (double)loss[0][s], (double)loss[1][s]);
    cr_expect_str_eq(json[0], json[1], "%s/%s: derived architecture", sp->name, st->name);
    for (int d = 0; d < 2; d++) {
        free(json[d]);
        os_trainer_free(&t[d]);
        os_net_free(&net[d]);
    }
    os_step_reset();
}

Test(debug, every_strategy_on_every_space_as_on_cpu, .timeout = 300)
{
    for (int i = 0; i < os_strategy_count(); i++)
        for (int s = 0; s < os_space_count(); s++)
            strategy_on_debug(os_space_at(s), os_strategy_at(i));
}

/* ---- host reads per step: at most one small one (GDAS: one more per forward,
 * whose candidates depend on the sample) ------------------------------------------ */
/* max_reads reads of at most 8 bytes each, plus per_forward reads of one
 * float per choice (GDAS's samples) */
static void reads_per_step(const char *strategy, const void *opts, const os_arch *child, long max_reads,
                           long per_forward)
{
    enum { STEPS = 2 };
    rig d;
    os_step_result r[STEPS + 1];
    rig_open(&d, OS_CUDA, strategy, opts, child);
    run(&d, 1, r); /* the first step makes the lazy buffers */
    float x[2 * B * 64];
    int32_t y[2 * B];
    for (int s = 0; s < STEPS; s++) {
        batches(s + 1, x, y);
        os_batch tb = {.x = x, .y = y, .n = B}, vb = {.x = x + B * 64, .y = y + B, .n = B};
        os_debug_counts_reset();
        cr_assert_eq(os_trainer_step(&d.t, &tb, &vb, &r[s]), 0, "%s", os_last_error());
        os_debug_counts c;
        os_debug_counts_get(&c);
        cr_expect(c.to_host <= max_reads + per_forward, "%s%s: %ld host reads in a step (at most %ld)",
                  strategy ? strategy : "retrain", opts ? " (second order)" : "", c.to_host, max_reads + per_forward);
        long max_bytes = 8 * max_reads + 4L * d.net.n_choices * per_forward;
        cr_expect(c.to_host_bytes <= max_bytes, "%ld bytes read (at most %ld)", c.to_host_bytes, max_bytes);
        cr_expect(c.kernels > 100, "the step ran on the debug device (%ld kernels)", c.kernels);
        d.t.pr.global_step++;
    }
    rig_close(&d);
}

Test(debug, one_host_read_per_step)
{
    reads_per_step("darts", NULL, NULL, 1, 0);
    const os_strategy *st = os_strategy_find("darts");
    void *o = calloc(1, st->options_size + 1);
    os_options_defaults(st->options, st->n_options, o);
    cr_assert_eq(os_options_set(st->options, st->n_options, o, "unrolled", "1"), 0);
    reads_per_step("darts", o, NULL, 1, 0);
    free(o);
    reads_per_step("gdas", NULL, NULL, 1, 2); /* the stats; the arch and weight forwards' samples */
    os_arch child = {0};
    cr_assert_eq(os_space_cifar_cell.parse("darts-v2", &child), 0);
    reads_per_step(NULL, NULL, &child, 1, 0); /* auxiliary head, drop path, clipping */
    os_arch_free(&child);
}

/* a trainer's groups are flat: one optimizer launch per group and step */
Test(debug, one_optimizer_launch_per_group)
{
    rig d;
    os_step_result r[2];
    rig_open(&d, OS_CUDA, "darts", NULL, NULL);
    cr_assert(d.net.weights.flat && d.net.arch.flat);
    run(&d, 1, r);
    os_debug_counts_reset();
    run(&d, 1, r + 1);
    os_debug_counts c;
    os_debug_counts_get(&c);
    cr_expect_eq(c.kernel[OS_K_SGD_STEP], 1, "weights: %ld SGD launches in a step", c.kernel[OS_K_SGD_STEP]);
    cr_expect_eq(c.kernel[OS_K_ADAM_STEP], 1, "alphas: %ld Adam launches in a step", c.kernel[OS_K_ADAM_STEP]);
    cr_expect_eq(c.kernel[OS_K_CLIP_SCALE], 1);
    cr_expect_eq(c.kernel[OS_K_SUMSQ_ACC], 1);
    rig_close(&d);
}
