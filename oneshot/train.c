/* oneshot/train.c — `oneshot train` (search) and `oneshot retrain`: the loop,
 * progress, metrics, checkpoints, resume, interruption. */
#include "oneshot/run.h"
#include "oneshot/checkpoint.h"
#include "oneshot/data.h"
#include "oneshot/runfiles.h"
#include "tensor/arena.h"
#include "tensor/backend.h"

#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t stop_requested;
static void on_signal(int sig) { stop_requested = sig; }

double os_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void fmt_eta(double s, char *b, size_t n)
{
    long t = (long)s;
    if (t >= 3600)
        snprintf(b, n, "%ldh%02ldm", t / 3600, t / 60 % 60);
    else
        snprintf(b, n, "%ldm%02lds", t / 60, t % 60);
}

/* position a loader at (epoch, batch) unless it is already there */
static void seek_to(os_loader *l, int epoch, int batch)
{
    if (os_loader_epoch(l) != epoch || os_loader_batch(l) != batch)
        os_loader_seek(l, epoch, batch);
}

static int next_batch(os_loader *l, float *x, int32_t *y)
{
    int n = os_loader_next(l, x, y);
    if (n == 0)
        n = os_loader_next(l, x, y);
    return n;
}

/* Evaluate on a loader: mean loss and accuracy over up to max_batches. */
static void evaluate(os_net *net, os_loader *l, os_run_data *d, const os_forward_ctx *ctx, int max_batches,
                     double *loss, double *acc)
{
    double ls = 0;
    long correct = 0, seen = 0;
    os_loader_seek(l, 0, 0);
    int n, b = 0;
    while ((n = os_loader_next(l, d->xb, d->yb)) > 0) {
        os_batch bt = {d->xb, d->yb, n};
        os_step_result r = os_eval_batch(net, &bt, ctx);
        ls += (double)r.loss * n;
        correct += r.correct;
        seen += n;
        if (max_batches > 0 && ++b >= max_batches)
            break;
    }
    *loss = seen ? ls / seen : NAN;
    *acc = seen ? (double)correct / seen : NAN;
}

/* GDAS/DARTS evaluation of the search net: DARTS mixes by softmax; sampling
 * strategies evaluate the currently derived architecture (argmax per choice). */
static os_forward_ctx search_eval_ctx(os_net *net, const char *strategy)
{
    os_forward_ctx ctx = {.training = false, .mode = OS_MIX_SOFTMAX};
    if (strcmp(strategy, "darts")) {
        ctx.mode = OS_MIX_FIXED;
        for (int i = 0; i < net->n_choices; i++) {
            float p[OS_MAX_CANDIDATES];
            os_choice_probs(&net->choices[i], p);
            int best = 0;
            for (int k = 1; k < net->choices[i].n; k++)
                if (p[k] > p[best])
                    best = k;
            net->choices[i].fixed = best;
        }
    }
    return ctx;
}

int os_cmd_train(os_config *c)
{
    int search = c->cmd == OS_CMD_TRAIN;
    const os_space *space = os_space_find(c->space);
    const os_strategy *strat = search ? os_strategy_find(c->strategy) : NULL;
    if (!space || (search && !strat))
        return 2; /* validated by the caller */
    if (c->threads >= 0)
        os_set_threads(c->threads);
    char dir[600];
    if (os_run_dir(c, dir, sizeof dir))
        return fprintf(stderr, "oneshot: %s\n", os_last_error()), 1;

    os_run_data d;
    if (os_run_data_open(&d, c, search, 1)) {
        fprintf(stderr, "oneshot: %s\n", os_last_error());
        os_run_data_close(&d);
        return 1;
    }
    char desc[700];
    os_dataset_describe(&d.train, desc, sizeof desc);
    printf("data: %s\n", desc);
    if (search)
        printf("      split %d images for weights, %d for the architecture\n", d.n_w, d.n_a);

    /* the network */
    char arch_path[700] = "";
    os_space_opts so = {.cells = c->cells, .channels = c->channels, .in_c = d.train.c, .in_h = d.train.h,
                        .in_w = d.train.w, .num_classes = d.train.num_classes, .seed = (uint64_t)c->seed,
                        .auxiliary = !search && c->auxiliary_weight > 0};
    if (!search) {
        if (!c->arch[0]) {
            fprintf(stderr, "oneshot: retrain needs --arch FILE|darts-v1|darts-v2\n");
            os_run_data_close(&d);
            return 2;
        }
        if (os_write_arch_copy(c, dir, arch_path, sizeof arch_path)) {
            fprintf(stderr, "oneshot: %s\n", os_last_error());
            os_run_data_close(&d);
            return 1;
        }
        /* built from what the user gave (errors name it); a resume reads the run's copy */
        so.arch_json = c->resume[0] ? arch_path : c->arch;
    }
    os_net net;
    if (space->build(&net, &so)) {
        fprintf(stderr, "oneshot: %s\n", os_last_error());
        os_run_data_close(&d);
        return 1;
    }
    long nw = os_params_numel(&net.weights), na = os_params_numel(&net.arch);
    printf("network: %s %s, %ld weights (%.2f M), %ld architecture parameters in %d choices\n", c->space,
           search ? "supernet" : "child", nw, nw / 1e6, na, net.n_choices);

    /* optimizers */
    os_optim *wopt = os_optim_sgd(&net.weights, &(os_sgd_config){.lr = c->lr, .momentum = c->momentum,
                                                                  .weight_decay = c->weight_decay});
    os_optim *aopt = search ? os_optim_adam(&net.arch, &(os_adam_config){.lr = c->arch_lr, .beta1 = c->arch_beta1,
                                                                          .beta2 = c->arch_beta2, .eps = 1e-8f,
                                                                          .weight_decay = c->arch_weight_decay})
                            : NULL;
    os_search_state st = {.net = &net, .wopt = wopt, .aopt = aopt, .cfg = c, .tau = c->tau_max};
    os_rng_seed(&st.rng, (uint64_t)c->seed * 1000003u + 17);

    os_progress pr = {0};
    char ckpt[700];
    snprintf(ckpt, sizeof ckpt, "%s/checkpoint.safetensors", dir);
    int rc = 0;
    if (c->resume[0]) {
        if (os_checkpoint_load(ckpt, &net, wopt, aopt, &st.rng, &pr)) {
            fprintf(stderr, "oneshot: --resume %s: %s\n", c->resume, os_last_error());
            rc = 1;
            goto done;
        }
        if (os_trim_metrics(dir, pr.epoch)) {
            fprintf(stderr, "oneshot: --resume %s: %s\n", c->resume, os_last_error());
            rc = 1;
            goto done;
        }
        printf("resumed %s after %d epoch(s) and %d step(s) of the next\n", dir, pr.epoch, pr.batch);
    } else if (os_write_config(c, dir, nw, na, &d)) {
        fprintf(stderr, "oneshot: %s\n", os_last_error());
        rc = 1;
        goto done;
    }

    struct sigaction sa = {0};
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    stop_requested = 0;

    int steps = os_loader_batches_per_epoch(d.wl);
    if (c->limit_steps > 0 && c->limit_steps < steps)
        steps = c->limit_steps;
    int nbv = search ? os_loader_batches_per_epoch(d.al) : 1;
    int tty = isatty(STDERR_FILENO), steps_here = 0;
    printf("%s: %d epochs x %d steps, batch %d, %d threads; run dir %s\n", search ? "search" : "retrain",
           c->epochs, steps, c->batch, os_threads(), dir);
    fflush(stdout);

    for (int epoch = pr.epoch; epoch < c->epochs && !rc; epoch++) {
        float lr = os_cosine_lr(c->lr, c->lr_min, epoch, c->epochs);
        os_optim_set_lr(wopt, lr);
        if (search)
            strat->epoch_begin(&st, epoch, c->epochs);
        int first = epoch == pr.epoch ? pr.batch : 0;
        if (first == 0) {
            pr.loss_sum = 0;
            pr.correct = pr.seen = 0;
            pr.seconds = 0;
        }
        double t_epoch = os_now() - pr.seconds;
        for (int step = first; step < steps; step++) {
            double t0 = os_now();
            seek_to(d.wl, epoch, step);
            int n = next_batch(d.wl, d.xb, d.yb);
            os_batch tb = {d.xb, d.yb, n};
            size_t img = (size_t)d.train.c * d.train.h * d.train.w;
            os_batch vb = {0};
            if (search) {
                seek_to(d.al, epoch * 1000 + step / nbv, step % nbv);
                int m = next_batch(d.al, d.xb + img * (size_t)c->batch, d.yb + c->batch);
                vb = (os_batch){d.xb + img * (size_t)c->batch, d.yb + c->batch, m};
                strat->arch_step(&st, &tb, &vb);
            }
            os_forward_ctx ctx = {.training = true, .mode = search ? strat->mode(&st) : OS_MIX_FIXED,
                                  .tau = st.tau, .rng = &st.rng,
                                  .drop_path = search ? 0.0f : c->drop_path * (float)epoch / (float)c->epochs,
                                  .step_seed = os_hash64((uint64_t)c->seed ^ ((uint64_t)pr.global_step << 16))};
            os_step_result r = os_weight_step(&net, wopt, &tb, &ctx, search ? 0.0f : c->auxiliary_weight,
                                              c->label_smoothing, c->grad_clip);
            if (!isfinite(r.loss)) {
                /* epochs and steps counted from 1, as in the progress lines */
                fprintf(stderr, "\noneshot: loss is %f at epoch %d/%d step %d/%d; stopping. ", r.loss, epoch + 1,
                        c->epochs, step + 1, steps);
                if (access(ckpt, F_OK) == 0)
                    fprintf(stderr, "The last checkpoint (%s) is kept.\n", ckpt);
                else
                    fprintf(stderr, "No checkpoint was written yet.\n");
                rc = 1;
                break;
            }
            pr.global_step++;
            pr.loss_sum += (double)r.loss * n;
            pr.correct += r.correct;
            pr.seen += n;
            double dt = os_now() - t0;
            double el = os_now() - t_epoch;
            int done_steps = step + 1 - first;
            double per = el / (step + 1), eta = per * (steps - step - 1) + per * steps * (c->epochs - epoch - 1);
            (void)done_steps;
            char e[32];
            fmt_eta(eta, e, sizeof e);
            if (tty) {
                fprintf(stderr, "\repoch %d/%d  step %d/%d  loss %.4f  acc %.2f%%  %.1f img/s  ETA %s   ",
                        epoch + 1, c->epochs, step + 1, steps, pr.loss_sum / pr.seen, 100.0 * pr.correct / pr.seen,
                        n / dt, e);
            } else if ((step + 1) % (c->log_every > 0 ? c->log_every : 50) == 0 || step + 1 == steps) {
                printf("epoch %d/%d step %d/%d loss %.4f acc %.2f%% %.1f img/s ETA %s\n", epoch + 1, c->epochs,
                       step + 1, steps, pr.loss_sum / pr.seen, 100.0 * pr.correct / pr.seen, n / dt, e);
                fflush(stdout);
            }
            if (c->stop_after > 0 && ++steps_here >= c->stop_after)
                stop_requested = SIGINT;
            if (stop_requested) {
                pr.epoch = epoch;
                pr.batch = step + 1;
                pr.seconds = os_now() - t_epoch;
                if (os_checkpoint_save(ckpt, c, &net, wopt, aopt, &st.rng, &pr)) {
                    fprintf(stderr, "\noneshot: interrupted, and saving the checkpoint failed: %s\n", os_last_error());
                    rc = 1;
                } else {
                    fprintf(stderr, "\noneshot: interrupted; checkpoint saved at epoch %d/%d step %d/%d. Continue "
                                    "with: oneshot %s --resume %s\n", epoch + 1, c->epochs, step + 1, steps,
                            search ? "train" : "retrain", dir);
                    rc = 130;
                }
                break;
            }
        }
        if (rc)
            break;
        if (tty)
            fprintf(stderr, "\n");
        double secs = os_now() - t_epoch;
        /* end of epoch: validation, metrics, architecture, checkpoint */
        double vl, va;
        os_forward_ctx ectx = search ? search_eval_ctx(&net, c->strategy) : (os_forward_ctx){.training = false,
                                                                                          .mode = OS_MIX_FIXED};
        if (search)
            evaluate(&net, d.al, &d, &ectx, c->val_batches, &vl, &va);
        else
            evaluate(&net, d.tl, &d, &ectx, 0, &vl, &va);
        os_epoch_record er = {.epoch = epoch + 1, .train_loss = pr.loss_sum / pr.seen,
                              .train_acc = (double)pr.correct / pr.seen, .val_loss = vl, .val_acc = va, .lr = lr,
                              .seconds = secs, .images_per_sec = pr.seen / secs,
                              .arena_bytes = os_step_high_water(), .tau = search && strcmp(c->strategy, "darts") ? st.tau : 0};
        printf("epoch %d/%d: train loss %.4f acc %.2f%% | %s loss %.4f acc %.2f%% | lr %.5f | %.1f s, %.1f img/s\n",
               epoch + 1, c->epochs, er.train_loss, 100 * er.train_acc, search ? "val" : "test", vl, 100 * va, lr,
               secs, er.images_per_sec);
        if (os_append_metrics(dir, &er, search ? &net : NULL) ||
            (search && os_export_run_arch(space, &net, c->max_skip, dir, 0))) {
            fprintf(stderr, "oneshot: %s\n", os_last_error());
            rc = 1;
            break;
        }
        pr.epoch = epoch + 1;
        pr.batch = 0;
        pr.loss_sum = 0;
        pr.correct = pr.seen = 0;
        pr.seconds = 0;
        if (os_checkpoint_save(ckpt, c, &net, wopt, aopt, &st.rng, &pr)) {
            fprintf(stderr, "oneshot: checkpoint not written (the previous one is intact): %s\n", os_last_error());
            rc = 1;
            break;
        }
        fflush(stdout);
    }
    if (!rc && search)
        os_export_run_arch(space, &net, c->max_skip, dir, 1);

done:
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    os_optim_free(wopt);
    if (aopt)
        os_optim_free(aopt);
    os_params_free_all(&st.backup);
    os_params_free_all(&st.hvp);
    if (st.alpha_acc) {
        for (int i = 0; i < net.arch.n; i++)
            os_tensor_free(st.alpha_acc[i]);
        free(st.alpha_acc);
    }
    os_net_free(&net);
    os_run_data_close(&d);
    os_step_shutdown();
    return rc;
}
