/* bench/bench_child_step.c — one training step of a DARTS evaluation
 * network (a retrain step), the same work as
 * ../shared/bench/torch_darts_child_step.py: a named genotype (darts-v2 or
 * darts-v1) built as a cifar_cell child with affine BN and the auxiliary
 * head, forward with drop-path, cross-entropy + aux_weight x the auxiliary
 * head's, backward, grad-norm clip 5, SGD (momentum 0.9, weight decay
 * 3e-4). Random data; prints the parameter count, seconds per step, images/s
 * and peak RSS.
 *
 *   build/bench/bench_child_step [--genotype darts-v2] [--cells 20] [--C 36] [--batch 96]
 *                                [--size 32] [--cin 3] [--aux 1] [--drop-path 0.2]
 *                                [--steps 3] [--warmup 1] [--threads 0] [--profile 0]
 * The evaluation settings are the defaults above; with no flags under `make
 * bench` it runs a small configuration (8 cells, C 16, batch 32). --profile 1
 * also prints where the timed steps' time and memory went (ops/profile.h). */
#include "search/step.h"
#include "supernet/arch.h"
#include "supernet/spaces/spaces.h"
#include "tensor/arena.h"
#include "tensor/backend.h"
#include "ops/profile.h"
#include "bench/bench_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

int main(int argc, char **argv)
{
    int batch = 32, cells = 8, C = 16, size = 32, cin = 3, aux = 1, steps = 2, warmup = 1, threads = 0, profile = 0;
    float drop_path = 0.2f;
    const char *genotype = "darts-v2";
    for (int i = 1; i + 1 < argc; i += 2) {
        int v = atoi(argv[i + 1]);
        if (!strcmp(argv[i], "--genotype")) genotype = argv[i + 1];
        else if (!strcmp(argv[i], "--drop-path")) drop_path = (float)atof(argv[i + 1]);
        else if (!strcmp(argv[i], "--batch")) batch = v;
        else if (!strcmp(argv[i], "--cells")) cells = v;
        else if (!strcmp(argv[i], "--C")) C = v;
        else if (!strcmp(argv[i], "--size")) size = v;
        else if (!strcmp(argv[i], "--cin")) cin = v;
        else if (!strcmp(argv[i], "--aux")) aux = v;
        else if (!strcmp(argv[i], "--steps")) steps = v;
        else if (!strcmp(argv[i], "--warmup")) warmup = v;
        else if (!strcmp(argv[i], "--threads")) threads = v;
        else if (!strcmp(argv[i], "--profile")) profile = v;
        else { fprintf(stderr, "bench_child_step: unknown flag %s\n", argv[i]); return 2; }
    }
    if (batch < 1 || cells < 3 || C < 1 || size < 8 || steps < 1 || warmup < 0) {
        fprintf(stderr, "bench_child_step: need --batch >= 1, --cells >= 3, --C >= 1, --size >= 8, --steps >= 1\n");
        return 2;
    }
    os_set_threads(threads);
    const os_space *sp = &os_space_cifar_cell;
    os_arch arch = {0};
    if (sp->parse(genotype, &arch)) {
        fprintf(stderr, "bench_child_step: --genotype %s: %s\n", genotype, os_last_error());
        return 2;
    }
    os_net net;
    os_space_opts so = {.cells = cells, .channels = C, .in_c = cin, .in_h = size, .in_w = size, .num_classes = 10,
                        .seed = 1, .arch = &arch, .auxiliary = aux};
    if (sp->build(&net, &so)) {
        fprintf(stderr, "%s\n", os_last_error());
        return 1;
    }
    os_optim *opt = os_optim_sgd(&net.weights, &(os_sgd_config){.lr = 0.025f, .momentum = 0.9f, .weight_decay = 3e-4f});
    float *x;
    int32_t *y;
    bench_random_batch((size_t)cin * size * size, batch, &x, &y);
    os_batch b = {.x = x, .y = y, .n = batch};
    double t = 0;
    os_step_result res = {0};
    for (int s = 0; s < warmup + steps; s++) {
        if (s == warmup) {
            t = bench_now();
            if (profile)
                os_profile_begin();
        }
        os_forward_ctx ctx = {.training = true, .drop_path = drop_path, .step_seed = (uint64_t)s + 1};
        res = os_weight_step(&net, opt, &b, &ctx, aux ? 0.4f : 0.0f, 0.0f, 5.0f);
    }
    double wall = bench_now() - t, dt = wall / steps;
    os_profile *prof = profile ? os_profile_end() : NULL;
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf("oneshot threads=%d genotype=%s batch=%d cells=%d C=%d size=%dx%dx%d aux=%d drop_path=%g\n", os_threads(),
           genotype, batch, cells, C, size, size, cin, aux, (double)drop_path);
    printf("params %ld (with the auxiliary head)\n", os_params_numel(&net.weights));
    printf("sec_per_train_step %.4f  images_per_sec %.1f  loss %.4f  peak_rss_mb %.0f  arena_mb %.0f\n", dt,
           batch / dt, (double)res.loss, ru.ru_maxrss / 1024.0, os_step_high_water() / 1048576.0);
    if (prof)
        os_profile_print(stdout, prof, steps, wall, bench_sgemm_gflops(1024, 1024, 1024, os_threads(), 3),
                         bench_triad_gbs(32L << 20, os_threads(), 5));
    os_optim_free(opt);
    os_net_free(&net);
    os_arch_free(&arch);
    os_step_shutdown();
    free(x);
    free(y);
    return 0;
}
