/* bench/bench_search_step.c — one search step of a strategy on the
 * cifar_cell supernet, as `oneshot train` runs it (the strategy's step from
 * the registry). With the default `--strategy darts` it is the same work as
 * ../shared/bench/torch_darts_step.py: a first-order architecture step on a
 * validation batch (`--unrolled 1`: second order), then a weight step on a
 * training batch with grad-norm clip 5; `--strategy gdas` matches
 * bench/torch_gdas_step.py and `--strategy spos` (one uniformly sampled path,
 * a weight step) bench/torch_spos_step.py. Random data; prints seconds per
 * step, images/s and peak RSS.
 *
 *   build/bench/bench_search_step [--strategy darts] [--unrolled 0] [--batch 64] [--cells 8]
 *                                 [--C 16] [--size 32] [--cin 3] [--steps 3] [--warmup 1]
 *                                 [--threads 0] [--profile 0]
 * --profile 1 also prints where the timed steps' time and memory went
 * (ops/profile.h), against the sgemm and bandwidth ceilings measured after
 * them. With no flags under `make bench` it runs a small configuration; pass
 * the paper's (the defaults above) through scripts/bench_vs_torch.sh. */
#include "search/strategy.h"
#include "supernet/spaces/spaces.h"
#include "tensor/arena.h"
#include "tensor/backend.h"
#include "ops/profile.h"
#include "bench/bench_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

int main(int argc, char **argv)
{
    int batch = 16, cells = 5, C = 8, size = 16, cin = 3, steps = 2, warmup = 1, threads = 0, unrolled = 0, profile = 0;
    const char *strategy = "darts";
    for (int i = 1; i + 1 < argc; i += 2) {
        int v = atoi(argv[i + 1]);
        if (!strcmp(argv[i], "--strategy")) strategy = argv[i + 1];
        else if (!strcmp(argv[i], "--profile")) profile = v;
        else if (!strcmp(argv[i], "--batch")) batch = v;
        else if (!strcmp(argv[i], "--cells")) cells = v;
        else if (!strcmp(argv[i], "--C")) C = v;
        else if (!strcmp(argv[i], "--size")) size = v;
        else if (!strcmp(argv[i], "--cin")) cin = v;
        else if (!strcmp(argv[i], "--steps")) steps = v;
        else if (!strcmp(argv[i], "--warmup")) warmup = v;
        else if (!strcmp(argv[i], "--threads")) threads = v;
        else if (!strcmp(argv[i], "--unrolled")) unrolled = v;
        else { fprintf(stderr, "unknown flag %s\n", argv[i]); return 2; }
    }
    os_set_threads(threads);
    os_net net;
    os_space_opts so = {.cells = cells, .channels = C, .in_c = cin, .in_h = size, .in_w = size, .num_classes = 10, .seed = 1};
    if (os_space_cifar_cell.build(&net, &so)) {
        fprintf(stderr, "%s\n", os_last_error());
        return 1;
    }
    /* the strategy through the registry, as `oneshot train` runs it */
    const os_strategy *darts = os_strategy_find(strategy);
    if (!darts) {
        fprintf(stderr, "bench_search_step: unknown strategy '%s'\n", strategy);
        return 2;
    }
    unsigned char opts[512];
    os_options_defaults(darts->options, darts->n_options, opts);
    if (unrolled && os_options_set(darts->options, darts->n_options, opts, "unrolled", "1")) {
        fprintf(stderr, "%s\n", os_last_error());
        return 2;
    }
    os_optim *wopt = os_optim_sgd(&net.weights, &(os_sgd_config){.lr = 0.025f, .momentum = 0.9f, .weight_decay = 3e-4f});
    os_search_env env = {.net = &net, .wopt = wopt, .momentum = 0.9f, .weight_decay = 3e-4f, .grad_clip = 5.0f,
                         .seed = 1};
    void *st;
    if (darts->create(&env, opts, &st)) {
        fprintf(stderr, "%s\n", os_last_error());
        return 1;
    }
    size_t img = (size_t)cin * size * size;
    float *x;
    int32_t *y;
    bench_random_batch(img, 2 * batch, &x, &y); /* a training and a validation batch */
    os_batch tb = {.x = x, .y = y, .n = batch}, vb = {.x = x + img * batch, .y = y + batch, .n = batch};
    double t = 0;
    float loss = 0;
    for (int s = 0; s < warmup + steps; s++) {
        if (s == warmup) {
            t = bench_now();
            if (profile)
                os_profile_begin();
        }
        os_step_result res;
        darts->step(st, &tb, &vb, &res);
        loss = res.loss;
    }
    double wall = bench_now() - t, dt = wall / steps;
    os_profile *prof = profile ? os_profile_end() : NULL;
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf("oneshot threads=%d batch=%d cells=%d C=%d size=%d strategy=%s%s\n", os_threads(), batch, cells, C, size,
           strategy, unrolled ? " unrolled" : "");
    printf("sec_per_search_step %.4f  images_per_sec %.1f  loss %.4f  peak_rss_mb %.0f  arena_mb %.0f  weights %ld\n",
           dt, batch / dt, loss, ru.ru_maxrss / 1024.0, os_step_high_water() / 1048576.0, os_params_numel(&net.weights));
    if (prof)
        os_profile_print(stdout, prof, steps, wall, bench_sgemm_gflops(1024, 1024, 1024, os_threads(), 3),
                         bench_triad_gbs(32L << 20, os_threads(), 5));
    darts->free(st);
    os_optim_free(wopt);
    os_net_free(&net);
    os_step_shutdown();
    free(x);
    free(y);
    return 0;
}
