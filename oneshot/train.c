/* oneshot/train.c — `oneshot train` (search) and `oneshot retrain`: the
 * command-line side of a run (search/trainer.h does the training): the run
 * directory, the network, progress lines, metrics, signals, checkpoints. */
#include "oneshot/query.h"
#include "oneshot/run.h"
#include "oneshot/runfiles.h"
#include "plot/plot.h"
#include "search/trainer.h"
#include "tensor/arena.h"
#include "tensor/backend.h"

#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* SIGINT, SIGTERM, SIGHUP and SIGPIPE stop the run after the current step
 * with a checkpoint. One that arrives while a checkpoint is being written
 * waits for it (and says so). */
static volatile sig_atomic_t stop_requested, saving;
static void on_signal(int sig)
{
    stop_requested = sig;
    if (saving) {
        static const char msg[] = "\noneshot: writing the checkpoint; stopping when it is safe\n";
        ssize_t w = write(STDERR_FILENO, msg, sizeof msg - 1);
        (void)w;
    }
}
static const int stop_signals[] = {SIGINT, SIGTERM, SIGHUP, SIGPIPE};

typedef struct {
    os_config *c;
    int search;
    char dir[600], ckpt[700];
    int created, lock;
    os_run_data d;
    const os_space *space;
    os_arch child;          /* retrain: the architecture */
    os_net net;
    int have_net;
    os_trainer t;
    int tty, steps_here;
    os_nb201_bench *bench;  /* nb201 search: the table, for scoring only */
    int stopped_skips;      /* --stop-skips ended the search */
} run;

static int fail(int code)
{
    fprintf(stderr, "oneshot: %s\n", os_last_error());
    return code;
}

static void fmt_eta(double s, char *b, size_t n)
{
    long t = (long)s;
    if (t >= 3600)
        snprintf(b, n, "%ldh%02ldm", t / 3600, t / 60 % 60);
    else
        snprintf(b, n, "%ldm%02lds", t / 60, t % 60);
}

/* the data, with the settings of the command line */
static int open_data(run *r)
{
    os_config *c = r->c;
    os_data_settings ds = {.path = c->data, .format = c->format, .subset = c->subset,
                           .test_subset = c->max_per_class_test, .batch = c->batch, .seed = (uint64_t)c->seed,
                           .search = r->search, .train_portion = c->train_portion, .need_train = 1,
                           .crop_pad = c->crop_pad, .flip = c->flip, .cutout = c->cutout};
    if (os_run_data_open(&r->d, &ds))
        return fail(1);
    char desc[700];
    os_dataset_describe(&r->d.train, desc, sizeof desc);
    printf("data: %s\n", desc);
    if (r->search)
        printf("      split %d images for weights, %d for the architecture\n", r->d.n_w, r->d.n_a);
    if (r->d.train.warning[0])
        fprintf(stderr, "oneshot: warning: %s\n", r->d.train.warning);
    return 0;
}

/* retrain: the architecture (the run's copy on resume), and its space */
static int read_arch(run *r)
{
    os_config *c = r->c;
    if (!c->arch[0] && !c->resume[0]) {
        fprintf(stderr, "oneshot: retrain needs --arch FILE|darts-v1|darts-v2|<nb201 string>\n");
        return 2;
    }
    char path[700];
    snprintf(path, sizeof path, "%s/arch.json", r->dir);
    const char *src = c->resume[0] ? path : c->arch;
    const os_space *sp;
    if (os_arch_load(src, os_config_given("space") || c->resume[0] ? c->space : NULL, &sp, &r->child))
        return fail(1);
    snprintf(c->space, sizeof c->space, "%s", sp->name);
    r->space = sp;
    if (os_config_check_applies(c))
        return fail(2);
    if (!c->resume[0]) {
        char *txt = os_arch_json(sp, &r->child, NULL);
        int rc = os_write_text(path, txt);
        free(txt);
        if (rc)
            return fail(1);
    }
    return 0;
}

static int build_net(run *r)
{
    os_config *c = r->c;
    os_space_opts so = {.cells = c->cells, .channels = c->channels, .bn_batch_stats = c->bn_batch_stats, .in_c = r->d.train.c, .in_h = r->d.train.h,
                        .in_w = r->d.train.w, .num_classes = r->d.train.num_classes, .seed = (uint64_t)c->seed,
                        .arch = r->search ? NULL : &r->child,
                        .auxiliary = !r->search && c->auxiliary_weight > 0 &&
                                     (r->space->features & OS_SPACE_AUX_HEAD)};
    if (r->space->build(&r->net, &so))
        return fail(1);
    r->have_net = 1;
    c->cells = r->net.cells; /* config.json records what was built */
    c->channels = r->net.channels;
    long nw = os_params_numel(&r->net.weights), na = os_params_numel(&r->net.arch);
    printf("network: %s %s, %ld weights (%.2f M), %ld architecture parameters in %d choices\n", c->space,
           r->search ? "supernet" : "child", nw, nw / 1e6, na, r->net.n_choices);
    return 0;
}

static int make_trainer(run *r)
{
    os_config *c = r->c;
    int drop = r->space->features & OS_SPACE_DROP_PATH;
    os_train_settings s = {.search = r->search, .epochs = c->epochs, .batch = c->batch, .seed = (uint64_t)c->seed,
                           .lr = c->lr, .lr_min = c->lr_min, .momentum = c->momentum,
                           .weight_decay = c->weight_decay, .grad_clip = c->grad_clip,
                           .label_smoothing = c->label_smoothing,
                           .auxiliary_weight = r->search ? 0.0f : c->auxiliary_weight,
                           .drop_path = r->search || !drop ? 0.0f : c->drop_path, .limit_steps = c->limit_steps};
    const os_strategy *st = r->search ? os_strategy_find(c->strategy) : NULL;
    if (os_trainer_init(&r->t, &r->net, r->space, &s, st, r->search ? c->strategy_opts : NULL))
        return fail(2);
    return 0;
}

/* a fresh run writes config.json; a resumed one reads its checkpoint */
static int start_or_resume(run *r)
{
    os_config *c = r->c;
    if (c->resume[0]) {
        if (os_trainer_load(&r->t, r->ckpt) || os_trim_metrics(r->dir, r->t.pr.epoch)) {
            fprintf(stderr, "oneshot: --resume %s: %s\n", c->resume, os_last_error());
            return 1;
        }
        printf("resumed %s after %d epoch(s) and %d step(s) of the next\n", r->dir, r->t.pr.epoch, r->t.pr.batch);
        /* config.json shows the settings in force (more epochs, say) */
        if (os_write_config(c, r->dir, os_params_numel(&r->net.weights), os_params_numel(&r->net.arch), &r->d))
            return fail(1);
        return 0;
    }
    if (os_write_config(c, r->dir, os_params_numel(&r->net.weights), os_params_numel(&r->net.arch), &r->d))
        return fail(1);
    return 0;
}

static char *config_text(const os_config *c)
{
    cJSON *j = os_config_to_json(c);
    char *txt = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    return txt;
}

static int save(run *r)
{
    char *txt = config_text(r->c);
    saving = 1;
    int rc = os_trainer_save(&r->t, r->ckpt, txt);
    saving = 0;
    free(txt);
    return rc;
}

static void on_step(void *arg, const os_step_info *s)
{
    run *r = arg;
    char e[32];
    fmt_eta(s->eta_seconds, e, sizeof e);
    if (r->tty) {
        fprintf(stderr, "\repoch %d/%d  step %d/%d  loss %.4f  acc %.2f%%  %.1f img/s  ETA %s   ", s->epoch + 1,
                s->epochs, s->step + 1, s->steps, s->mean_loss, 100.0 * s->accuracy, s->images_per_sec, e);
    } else if ((s->step + 1) % (r->c->log_every > 0 ? r->c->log_every : 50) == 0 || s->step + 1 == s->steps) {
        printf("epoch %d/%d step %d/%d loss %.4f acc %.2f%% %.1f img/s ETA %s\n", s->epoch + 1, s->epochs,
               s->step + 1, s->steps, s->mean_loss, 100.0 * s->accuracy, s->images_per_sec, e);
        fflush(stdout);
    }
}

static int should_stop(void *arg)
{
    run *r = arg;
    if (r->c->stop_after > 0 && ++r->steps_here >= r->c->stop_after)
        stop_requested = SIGINT;
    return stop_requested != 0;
}

/* an interrupted epoch: checkpoint where it stopped */
static int interrupted(run *r)
{
    const os_progress *p = &r->t.pr;
    int steps = os_trainer_steps(&r->t, &r->d);
    if (save(r)) {
        fprintf(stderr, "\noneshot: interrupted, and saving the checkpoint failed: %s\n", os_last_error());
        return 1;
    }
    fprintf(stderr, "\noneshot: interrupted; checkpoint saved at epoch %d/%d step %d/%d. Continue with: oneshot %s "
                    "--resume %s\n", p->epoch + 1, r->c->epochs, p->batch, steps, r->search ? "train" : "retrain",
            r->dir);
    return 130;
}

/* the first weight or BN statistic that is NaN or infinite, or NULL (ReLU
 * and BN can hide diverged weights behind a finite training loss) */
static const char *diverged(const os_net *net)
{
    const os_params *groups[3] = {&net->weights, &net->arch, &net->buffers};
    for (int g = 0; g < 3; g++)
        for (int i = 0; i < groups[g]->n; i++) {
            const os_tensor *t = groups[g]->t[i];
            long n = os_numel(t);
            float *h = malloc(sizeof(float) * (size_t)n);
            os_tensor_to_host(t, h);
            long k = 0;
            while (k < n && isfinite(h[k]))
                k++;
            free(h);
            if (k < n)
                return t->name;
        }
    return NULL;
}

/* a run that diverged stops; the checkpoint of the last good epoch stays */
static int stop_diverged(run *r, const char *what)
{
    fprintf(stderr, "\noneshot: %s at epoch %d/%d: the run diverged (try a smaller --lr, or --grad-clip); "
                    "stopping. ", what, r->t.pr.epoch + 1, r->c->epochs);
    if (access(r->ckpt, F_OK) == 0)
        fprintf(stderr, "The last checkpoint (%s) is kept.\n", r->ckpt);
    else
        fprintf(stderr, "No checkpoint was written yet.\n");
    return 1;
}

/* the run's pictures and report.html (plot/plot.h), every --plots N epochs
 * and after the last; a failure to draw is said and the run goes on */
static void draw_pictures(run *r, int epoch)
{
    int every = r->c->plots;
    if (every <= 0 || (epoch % every && epoch != r->c->epochs))
        return;
    os_plot_opts o = {0}; /* what is missing or skipped is listed in the report */
    os_plot_result pr;
    if (os_plot_run(r->dir, &o, &pr))
        fprintf(stderr, "oneshot: pictures not drawn (the run goes on): %s\n", os_last_error());
    else if (epoch == r->c->epochs)
        printf("pictures: %s\n", pr.report);
}

/* how many choices of a child chose the candidate `name` (--stop-skips) */
static int count_op(const os_arch *a, const char *name)
{
    int n = 0;
    for (int i = 0; i < a->n; i++)
        for (int k = 0; k < a->c[i].n; k++)
            if (a->c[i].kind == OS_CHOICE_LAYER && (a->c[i].chosen >> k & 1u) && a->c[i].names[k] &&
                !strcmp(a->c[i].names[k], name))
                n++;
    return n;
}

/* end of an epoch: validation (search) or test (retrain), metrics, the
 * architecture found so far, the checkpoint, the pictures */
static int end_epoch(run *r)
{
    os_config *c = r->c;
    os_trainer *t = &r->t;
    double secs = t->pr.seconds, vl, va;
    if (r->tty)
        fprintf(stderr, "\n");
    if (r->search)
        os_trainer_evaluate(t, r->d.al, r->d.xb, r->d.yb, c->val_batches, &vl, &va);
    else
        os_trainer_evaluate(t, r->d.tl, r->d.xb, r->d.yb, 0, &vl, &va);
    char what[200];
    const char *bad = diverged(&r->net);
    if (bad) {
        snprintf(what, sizeof what, "'%s' holds NaN or infinite values", bad);
        return stop_diverged(r, what);
    }
    if (!isfinite(vl)) {
        snprintf(what, sizeof what, "the %s loss is %f", r->search ? "validation" : "test", vl);
        return stop_diverged(r, what);
    }
    os_epoch_record er = {.epoch = t->pr.epoch + 1, .train_loss = t->pr.loss_sum / t->pr.seen,
                          .train_acc = (double)t->pr.correct / t->pr.seen, .val_loss = vl, .val_acc = va, .lr = t->lr,
                          .seconds = secs, .images_per_sec = t->pr.seen / secs,
                          .arena_bytes = os_step_high_water()};
    printf("epoch %d/%d: train loss %.4f acc %.2f%% | %s loss %.4f acc %.2f%% | lr %.5f | %.1f s, %.1f img/s\n",
           er.epoch, c->epochs, er.train_loss, 100 * er.train_acc, r->search ? "val" : "test", vl, 100 * va, t->lr,
           secs, er.images_per_sec);
    os_arch child = {0};
    if (r->search && os_export_run_arch(t, c->max_skip, r->dir, 0, &child))
        return fail(1);
    cJSON *extra = cJSON_CreateObject();
    os_trainer_metrics(t, extra);
    /* scoring only: the table's entry of what was derived is recorded, never read back */
    cJSON *be = r->bench ? os_bench_entry_json(r->bench, &child) : NULL;
    if (be)
        cJSON_AddItemToObject(extra, "benchmark", be);
    int skips = r->search ? count_op(&child, "skip_connect") : 0;
    if (r->search && c->stop_skips > 0 && skips >= c->stop_skips) {
        r->stopped_skips = 1;
        cJSON_AddNumberToObject(extra, "stopped_skips", skips);
    }
    os_arch_free(&child);
    int rc = os_append_metrics(r->dir, &er, r->search ? &r->net : NULL, extra);
    cJSON_Delete(extra);
    if (rc)
        return fail(1);
    os_trainer_end_epoch(t);
    int had = access(r->ckpt, F_OK) == 0;
    if (save(r)) {
        fprintf(stderr, "oneshot: checkpoint not written (%s): %s\n",
                had ? "the previous one is intact" : "there is none yet", os_last_error());
        return 1;
    }
    draw_pictures(r, er.epoch);
    fflush(stdout);
    return 0;
}

static int loop(run *r)
{
    os_config *c = r->c;
    os_epoch_hooks h = {.on_step = on_step, .should_stop = should_stop, .arg = r};
    r->tty = isatty(STDERR_FILENO);
    printf("%s: %d epochs x %d steps, batch %d, %d threads; run dir %s\n", r->search ? "search" : "retrain",
           c->epochs, os_trainer_steps(&r->t, &r->d), c->batch, os_threads(), r->dir);
    fflush(stdout);
    while (r->t.pr.epoch < c->epochs) {
        int e = os_trainer_run_epoch(&r->t, &r->d, &h);
        if (e < 0) {
            fprintf(stderr, "\noneshot: %s; stopping. ", os_last_error());
            if (access(r->ckpt, F_OK) == 0)
                fprintf(stderr, "The last checkpoint (%s) is kept.\n", r->ckpt);
            else
                fprintf(stderr, "No checkpoint was written yet.\n");
            return 1;
        }
        if (e > 0)
            return interrupted(r);
        if (end_epoch(r))
            return 1;
        if (r->stopped_skips) {
            printf("--stop-skips %d: the derived architecture has %d or more skip_connect after epoch %d; the search "
                   "stops here\n", c->stop_skips, c->stop_skips, r->t.pr.epoch);
            break;
        }
    }
    os_arch child = {0};
    if (r->search && os_export_run_arch(&r->t, c->max_skip, r->dir, 1, &child))
        return fail(1);
    if (r->bench)
        os_bench_print(r->bench, &child);
    os_arch_free(&child);
    return 0;
}

int os_cmd_train(os_config *c)
{
    run r = {.c = c, .search = c->cmd == OS_CMD_TRAIN};
    r.space = os_space_find(c->space);
    if (c->threads >= 0)
        os_set_threads(c->threads);
    int drc = os_cli_device(c, r.search ? "train" : "retrain");
    if (drc)
        return drc;
    if (os_run_dir(c, r.dir, sizeof r.dir, &r.created))
        return fail(c->out[0] && !c->force && access(r.dir, F_OK) == 0 ? 2 : 1);
    if ((r.lock = os_run_lock(r.dir)) < 0) {
        fail(1);
        os_run_unlock(r.dir, -1, r.created);
        return 1;
    }
    snprintf(r.ckpt, sizeof r.ckpt, "%s/checkpoint.safetensors", r.dir);
    int rc = r.search ? 0 : read_arch(&r);
    if (!rc && r.search && r.space && !strcmp(r.space->name, "nb201")) {
        char used[512];
        if (os_bench_open(c->benchmark, c->data, &r.bench, used, sizeof used))
            rc = fail(1);
        else if (r.bench)
            printf("benchmark: %s (NAS-Bench-201, for scoring only: it does not steer the search)\n", used);
        snprintf(c->benchmark, sizeof c->benchmark, "%s", used); /* config.json: the table read, if any */
    }
    if (!rc && !r.space)
        rc = 2; /* validated by the caller */
    if (!rc)
        rc = open_data(&r);
    if (!rc)
        rc = build_net(&r);
    if (!rc)
        rc = make_trainer(&r);
    if (!rc)
        rc = start_or_resume(&r);
    if (!rc) {
        struct sigaction sa = {0};
        sa.sa_handler = on_signal;
        for (size_t i = 0; i < sizeof stop_signals / sizeof stop_signals[0]; i++)
            sigaction(stop_signals[i], &sa, NULL);
        stop_requested = 0;
        rc = loop(&r);
        for (size_t i = 0; i < sizeof stop_signals / sizeof stop_signals[0]; i++)
            signal(stop_signals[i], SIG_DFL);
    }
    os_run_unlock(r.dir, r.lock, r.created && rc);
    os_trainer_free(&r.t);
    if (r.have_net)
        os_net_free(&r.net);
    os_arch_free(&r.child);
    os_nb201_bench_free(r.bench);
    os_run_data_close(&r.d);
    os_step_shutdown();
    return rc;
}
