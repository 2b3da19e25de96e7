/* bench/bench_enas_step.c — the cost of an ENAS weight step against a
 * retrain step of the same child at the same batch (issue #10's target:
 * at most 1.3x).
 *
 * On the cifar_cell supernet, with the `enas` strategy from the registry:
 *   enas_step   the strategy's step with no validation batch: a fresh
 *               controller sample, then the weight step on that single path
 *   path_step   a weight step of the supernet running that same child as a
 *               fixed path (no controller), its second run; the first run
 *               (the path's first step after the ENAS one) is printed too
 *   child_step  a weight step of that same child built as a retrain network
 *               (affine BN), same cells, channels and batch
 * Each is averaged over the same `--steps` sampled children; it prints the
 * seconds per step, the ratios enas/child (the target; also the median of
 * the per-child ratios, steadier on a loaded machine) and path/child.
 *
 *   build/bench/bench_enas_step [--batch 16] [--cells 5] [--C 8] [--size 16]
 *                               [--steps 5] [--warmup 1] [--threads 0] */
#include "search/enas.h"
#include "search/strategy.h"
#include "supernet/spaces/spaces.h"
#include "tensor/arena.h"
#include "tensor/backend.h"
#include "bench/bench_util.h"

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

typedef struct {
    int warmup, steps;
} timing;

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double time_weight_steps(os_net *net, os_optim *opt, const os_batch *b, const timing *tm)
{
    double t = 0;
    os_forward_ctx ctx = {.training = true};
    for (int s = 0; s < tm->warmup + tm->steps; s++) {
        if (s == tm->warmup)
            t = now();
        os_weight_step(net, opt, b, &ctx, 0.0f, 0.0f, 5.0f);
    }
    return (now() - t) / tm->steps;
}

int main(int argc, char **argv)
{
    int batch = 16, cells = 5, C = 8, size = 16, threads = 0;
    timing tm = {1, 5};
    for (int i = 1; i + 1 < argc; i += 2) {
        int v = atoi(argv[i + 1]);
        if (!strcmp(argv[i], "--batch")) batch = v;
        else if (!strcmp(argv[i], "--cells")) cells = v;
        else if (!strcmp(argv[i], "--C")) C = v;
        else if (!strcmp(argv[i], "--size")) size = v;
        else if (!strcmp(argv[i], "--steps")) tm.steps = v;
        else if (!strcmp(argv[i], "--warmup")) tm.warmup = v;
        else if (!strcmp(argv[i], "--threads")) threads = v;
        else { fprintf(stderr, "unknown flag %s\n", argv[i]); return 2; }
    }
    if (batch < 1 || cells < 3 || C < 1 || size < 4 || tm.steps < 1 || tm.warmup < 0) {
        fprintf(stderr, "bench_enas_step: need --batch >= 1, --cells >= 3, --C >= 1, --size >= 4, --steps >= 1\n");
        return 2;
    }
    os_set_threads(threads);
    const os_space *sp = &os_space_cifar_cell;
    os_net net, child;
    os_space_opts so = {.cells = cells, .channels = C, .in_c = 3, .in_h = size, .in_w = size, .num_classes = 10,
                        .seed = 1};
    if (sp->build(&net, &so)) {
        fprintf(stderr, "%s\n", os_last_error());
        return 1;
    }
    const os_strategy *enas = os_strategy_find("enas");
    unsigned char opts[512];
    os_options_defaults(enas->options, enas->n_options, opts);
    os_sgd_config sgd = {.lr = 0.025f, .momentum = 0.9f, .weight_decay = 3e-4f};
    os_optim *wopt = os_optim_sgd(&net.weights, &sgd);
    os_search_env env = {.net = &net, .wopt = wopt, .momentum = 0.9f, .weight_decay = 3e-4f, .grad_clip = 5.0f,
                         .seed = 1};
    void *st;
    if (enas->create(&env, opts, &st)) {
        fprintf(stderr, "%s\n", os_last_error());
        return 1;
    }
    float *x;
    int32_t *y;
    bench_random_batch((size_t)3 * size * size, batch, &x, &y);
    os_batch tb = {.x = x, .y = y, .n = batch}, none = {0};

    /* every step: the ENAS step (timed), then its child as a fixed supernet
     * path and as a retrain network (each timed on its second step: the
     * first one grows the arena and makes the gradients) */
    double t_enas = 0, t_first = 0, t_path = 0, t_child = 0;
    double *ratio = malloc(sizeof *ratio * (size_t)tm.steps);
    os_arch path = {0}, ch = {0};
    os_derive_opts dopt = {.max_skip = -1};
    void (*enas_choose)(os_net *, const os_forward_ctx *, void *) = net.choose;
    void *enas_arg = net.choose_arg;
    for (int s = 0; s < tm.warmup + tm.steps; s++) {
        double t0 = now();
        os_step_result res;
        if (enas->step(st, &tb, &none, &res)) {
            fprintf(stderr, "%s\n", os_last_error());
            return 1;
        }
        double t1 = now();
        if (s < tm.warmup)
            continue;
        t_enas += t1 - t0;
        double te = t1 - t0;
        os_enas_last_path(st, &path);
        os_net_choose_arch(&net, &path);
        t_first += time_weight_steps(&net, wopt, &tb, &(timing){0, 1});
        t_path += time_weight_steps(&net, wopt, &tb, &(timing){0, 1});
        os_net_set_chooser(&net, enas_choose, enas_arg);
        os_arch_free(&ch);
        if (sp->derive(&path, &dopt, &ch)) {
            fprintf(stderr, "%s\n", os_last_error());
            return 1;
        }
        os_space_opts co = so;
        co.arch = &ch;
        if (sp->build(&child, &co)) {
            fprintf(stderr, "%s\n", os_last_error());
            return 1;
        }
        os_optim *copt = os_optim_sgd(&child.weights, &sgd);
        double tc = time_weight_steps(&child, copt, &tb, &(timing){1, 1});
        t_child += tc;
        ratio[s - tm.warmup] = te / tc;
        os_optim_free(copt);
        os_net_free(&child);
    }
    t_enas /= tm.steps, t_first /= tm.steps, t_path /= tm.steps, t_child /= tm.steps;
    qsort(ratio, (size_t)tm.steps, sizeof *ratio, cmp_double);
    printf("enas threads=%d batch=%d cells=%d C=%d size=%d steps=%d\n", os_threads(), batch, cells, C, size, tm.steps);
    printf("sec_per_step (mean over the same sampled children) enas_step %.4f  path_step %.4f (its first run "
           "%.4f)  child_step %.4f\nenas/child %.2fx (target <= 1.3x; median over the children %.2fx)  path/child %.2fx  "
           "enas/path-first-run %.2fx\n", t_enas, t_path, t_first, t_child, t_enas / t_child, ratio[tm.steps / 2],
           t_path / t_child, t_enas / t_first);
    free(ratio);
    os_arch_free(&path);
    os_arch_free(&ch);
    enas->free(st);
    os_optim_free(wopt);
    os_net_free(&net);
    os_step_shutdown();
    free(x);
    free(y);
    return 0;
}
