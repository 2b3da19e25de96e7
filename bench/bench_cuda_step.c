/* bench/bench_cuda_step.c — the DARTS search step and the DARTS_V2 retrain
 * step on a chosen device backend, for scripts/gpu_check.sh: the same work as
 * ../shared/bench/torch_darts_step.py (search: an architecture step on a
 * validation batch, first or second order, then a weight step with grad-norm
 * clip 5) and torch_darts_child_step.py (retrain: the DARTS_V2 child with
 * its auxiliary head (weight 0.4) and drop-path 0.2, grad-norm clip 5, SGD
 * momentum 0.9, weight decay 3e-4). Random data; prints seconds per step
 * (the device synchronised before the clock is read), images/s and the
 * device's step arena high-water mark.
 *
 * --loader 1|2: the weight batches come from a loader over random 8-bit
 * images (4 batches an epoch; crop 4 and flip, as the paper's), as the
 * trainer reads them: 1 staged through pinned memory, the next batch's copy
 * overlapping this step (search/stage.h); 2 copied from the loader's
 * pageable buffer where used. 0 (the default): one fixed batch, no loader.
 * Search's validation batch stays the fixed one.
 *
 *   build/bench/bench_cuda_step [--device cpu|cuda|cuda-emu] [--mode search|retrain]
 *       [--unrolled 0|1] [--batch N] [--cells L] [--C C] [--size S] [--steps N] [--warmup N]
 *       [--loader 0|1|2]
 * Paper settings: search --batch 64 --cells 8 --C 16 --size 32; retrain
 * --batch 96 --cells 20 --C 36 --size 32. With no flags (make bench) it runs a
 * small search on the CUDA emulation. --device cuda on a machine without a
 * GPU (or a build without nvcc) is an error, exit 1. */
#include "search/stage.h"
#include "search/strategy.h"
#include "search/step.h"
#include "supernet/arch.h"
#include "supernet/spaces/spaces.h"
#include "ops/cuda/cuda_backend.h"
#include "tensor/arena.h"
#include "tensor/backend.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void sync_dev(os_device dev)
{
    const os_backend *b = os_backend_get(dev);
    if (b->sync)
        b->sync();
}

int main(int argc, char **argv)
{
    const char *device = "cuda-emu", *mode = "search";
    int batch = 8, cells = 5, C = 8, size = 16, steps = 2, warmup = 1, unrolled = 0, loader = 0;
    for (int i = 1; i < argc; i += 2) {
        if (i + 1 >= argc) {
            fprintf(stderr, "bench_cuda_step: %s needs a value\n", argv[i]);
            return 2;
        }
        const char *v = argv[i + 1];
        if (!strcmp(argv[i], "--device")) device = v;
        else if (!strcmp(argv[i], "--mode")) mode = v;
        else if (!strcmp(argv[i], "--batch")) batch = atoi(v);
        else if (!strcmp(argv[i], "--cells")) cells = atoi(v);
        else if (!strcmp(argv[i], "--C")) C = atoi(v);
        else if (!strcmp(argv[i], "--size")) size = atoi(v);
        else if (!strcmp(argv[i], "--steps")) steps = atoi(v);
        else if (!strcmp(argv[i], "--warmup")) warmup = atoi(v);
        else if (!strcmp(argv[i], "--unrolled")) unrolled = atoi(v);
        else if (!strcmp(argv[i], "--loader")) loader = atoi(v);
        else {
            fprintf(stderr, "bench_cuda_step: unknown flag %s\n", argv[i]);
            return 2;
        }
    }
    int retrain = !strcmp(mode, "retrain");
    if (!retrain && strcmp(mode, "search")) {
        fprintf(stderr, "bench_cuda_step: --mode must be search or retrain, not '%s'\n", mode);
        return 2;
    }
    if (batch < 1 || cells < 3 || C < 1 || size < 8 || steps < 1 || warmup < 0 || loader < 0 || loader > 2) {
        fprintf(stderr, "bench_cuda_step: need --batch >= 1, --cells >= 3, --C >= 1, --size >= 8, --steps >= 1, "
                        "--loader 0, 1 or 2\n");
        return 2;
    }
    os_device dev = OS_CUDA;
    if (!strcmp(device, "cpu"))
        dev = OS_CPU;
    else if (!strcmp(device, "cuda-emu"))
        os_backend_register(OS_CUDA, &os_cuda_emu_backend);
    else if (!strcmp(device, "cuda")) {
        if (!os_builtin_backend(OS_CUDA)) {
            fprintf(stderr, "bench_cuda_step: --device cuda: no CUDA device in this process (or built with CUDA=0)\n");
            return 1;
        }
    } else {
        fprintf(stderr, "bench_cuda_step: --device must be cpu, cuda or cuda-emu, not '%s'\n", device);
        return 2;
    }
    os_set_threads(dev == OS_CPU ? 0 : 1);
    os_set_default_device(dev);

    os_net net;
    os_arch child;
    const os_space *sp = &os_space_cifar_cell;
    os_space_opts so = {.cells = cells, .channels = C, .in_c = 3, .in_h = size, .in_w = size, .num_classes = 10,
                        .seed = 1};
    if (retrain) {
        if (os_arch_load("darts-v2", "cifar_cell", &sp, &child)) {
            fprintf(stderr, "%s\n", os_last_error());
            return 1;
        }
        so.arch = &child;
        so.auxiliary = 1;
    }
    if (sp->build(&net, &so)) {
        fprintf(stderr, "%s\n", os_last_error());
        return 1;
    }
    os_optim *wopt = os_optim_sgd(&net.weights, &(os_sgd_config){.lr = 0.025f, .momentum = 0.9f, .weight_decay = 3e-4f});
    const os_strategy *darts = os_strategy_find("darts");
    void *st = NULL;
    if (!retrain) {
        unsigned char opts[512];
        os_options_defaults(darts->options, darts->n_options, opts);
        os_options_set(darts->options, darts->n_options, opts, "unrolled", unrolled ? "1" : "0");
        os_search_env env = {.net = &net, .wopt = wopt, .momentum = 0.9f, .weight_decay = 3e-4f, .grad_clip = 5.0f,
                             .seed = 1};
        if (darts->create(&env, opts, &st)) {
            fprintf(stderr, "%s\n", os_last_error());
            return 1;
        }
    }
    os_rng r;
    os_rng_seed(&r, 3);
    size_t img = (size_t)3 * size * size;
    float *x = malloc(sizeof(float) * img * (size_t)batch * 2);
    int32_t *y = malloc(sizeof(int32_t) * (size_t)batch * 2);
    for (size_t i = 0; i < img * (size_t)batch * 2; i++)
        x[i] = os_rng_normal(&r);
    for (int i = 0; i < 2 * batch; i++)
        y[i] = (int32_t)os_rng_below(&r, 10);
    os_batch tb = {.x = x, .y = y, .n = batch}, vb = {.x = x + img * batch, .y = y + batch, .n = batch};
    /* --loader: 4 batches of random 8-bit images, augmented as the paper's */
    enum { BPE = 4 };
    os_dataset ds = {.n = BPE * batch, .c = 3, .h = size, .w = size, .num_classes = 10};
    os_loader *ld = NULL;
    os_stage *sg = NULL;
    if (loader) {
        ds.pixels = malloc(img * (size_t)ds.n);
        ds.labels = malloc(sizeof(int32_t) * (size_t)ds.n);
        if (!ds.pixels || !ds.labels) {
            fprintf(stderr, "bench_cuda_step: out of memory for %d images\n", ds.n);
            return 1;
        }
        for (size_t i = 0; i < img * (size_t)ds.n; i++)
            ds.pixels[i] = (uint8_t)os_rng_below(&r, 256);
        for (int i = 0; i < ds.n; i++)
            ds.labels[i] = (int32_t)os_rng_below(&r, 10);
        float mean[3] = {0.5f, 0.5f, 0.5f}, sd[3] = {0.29f, 0.29f, 0.29f};
        ld = os_loader_new(&ds, NULL, ds.n, &(os_loader_opts){.batch_size = batch, .shuffle = true,
                                                              .drop_last = true, .seed = 1, .mean = mean, .std = sd,
                                                              .crop_pad = 4, .flip = true, .prefetch = true});
        if (loader == 1 && dev != OS_CPU)
            sg = os_stage_new(dev, batch, 3, size, size, 10);
    }
    double t = 0;
    float loss = 0;
    for (int s = 0; s < warmup + steps; s++) {
        if (s == warmup) {
            sync_dev(dev);
            t = now();
        }
        if (sg) { /* this step's batch (staged during the last one), then the next one's upload */
            os_stage_load(sg, s & 1, 0, ld, s / BPE, s % BPE);
            os_stage_load(sg, (s + 1) & 1, 0, ld, (s + 1) / BPE, (s + 1) % BPE);
            tb = os_stage_batch(sg, s & 1, 0);
        } else if (ld) {
            if (os_loader_epoch(ld) != s / BPE || os_loader_batch(ld) != s % BPE)
                os_loader_seek(ld, s / BPE, s % BPE);
            tb = (os_batch){.x = x, .y = y, .n = os_loader_next(ld, x, y)};
        }
        os_step_result res;
        if (retrain) {
            os_forward_ctx ctx = {.training = true, .drop_path = 0.2f, .step_seed = (uint64_t)s + 1};
            res = os_weight_step(&net, wopt, &tb, &ctx, 0.4f, 0.0f, 5.0f);
        } else {
            darts->step(st, &tb, &vb, &res);
        }
        loss = res.loss;
    }
    sync_dev(dev);
    double dt = (now() - t) / steps;
    printf("oneshot device=%s mode=%s%s batch=%d cells=%d C=%d size=%d%s\n", device, mode,
           retrain ? "" : (unrolled ? " second-order" : " first-order"), batch, cells, C, size,
           loader == 1 ? " loader=staged" : loader == 2 ? " loader=copied" : "");
    printf("sec_per_step %.4f  images_per_sec %.1f  loss %.4f  arena_mb %.0f  weights %ld\n", dt, batch / dt, loss,
           os_step_high_water() / 1048576.0, os_params_numel(&net.weights));
    os_stage_free(sg);
    if (ld)
        os_loader_free(ld);
    free(ds.pixels);
    free(ds.labels);
    if (st)
        darts->free(st);
    os_optim_free(wopt);
    os_net_free(&net);
    os_step_shutdown();
    os_backend_register(OS_CUDA, NULL);
    free(x);
    free(y);
    return 0;
}
