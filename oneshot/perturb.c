/* oneshot/perturb.c — `oneshot perturb`: perturbation-based selection
 * (DARTS-PT, search/perturb.h) on a trained DARTS supernet.
 *
 * It opens the run as evolve does (oneshot/trained.h) and decides the
 * choices one at a time: for the choice at hand, each candidate is removed
 * from its mixture in turn and the supernet validated on --val-batches
 * batches of the run's architecture half (unaugmented, the same images for
 * every probe); the candidate whose removal costs the most accuracy is
 * chosen. A run whose BN keeps running statistics has them recalibrated
 * before every probe on --bn-batches batches of its weight half (a probe
 * changes the mixture the statistics were gathered on); under batch
 * statistics (--protocol nb201) there is nothing to recalibrate.
 * --tune-steps N: after each decision the supernet's weights take N SGD
 * steps on the run's weight half (augmented as in training; the run's
 * momentum, weight decay and gradient clip; --tune-lr constant), with the
 * decided choices running their candidate alone: DARTS-PT's tuning, which
 * lets the network adapt before the next choice is judged. The run's
 * checkpoint is not touched. --independent: every choice is judged on the
 * supernet as trained (search/perturb.h), nothing tuned.
 *
 * Files, in --out (default RUN/perturb; the run's own files are not touched):
 *   perturb.jsonl   one line per decided choice: step, label, the baseline's
 *                   val_acc and val_loss, per candidate the figures with it
 *                   removed, the chosen candidate, seconds
 *   arch.json       the chosen child (NNI labels and the space's extras),
 *                   with a "perturb" object: run, probes, val_batches
 * A selection takes minutes; an interrupted one (SIGINT, SIGTERM) writes
 * no arch.json and exits 130: run it again to start over.
 */
#include "oneshot/query.h"
#include "oneshot/run.h"
#include "oneshot/runfiles.h"
#include "oneshot/trained.h"
#include "search/path.h"
#include "search/perturb.h"
#include "search/strategy.h"
#include "tensor/arena.h"
#include "tensor/backend.h"
#include "tensor/clock.h"

#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t stop_requested;
static void on_signal(int sig) { stop_requested = sig; }

static int fail(int code)
{
    fprintf(stderr, "oneshot: %s\n", os_last_error());
    return code;
}

/* the supernet as the chooser p sets it: validation loss and accuracy */
static void probe(os_trained *t, const os_config *c, double *loss, double *acc)
{
    os_net_evaluate(&t->net, os_trained_batch, &t->recal, c->bn_batches, os_trained_batch, &t->val, c->val_batches,
                    loss, acc);
}

static cJSON *number_or_null(double v) { return isfinite(v) ? cJSON_CreateNumber(v) : cJSON_CreateNull(); }

static int log_decision(const char *path, const os_perturb *p, int choice, int step, double secs)
{
    const os_choice *ch = &p->net->choices[choice];
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "step", step);
    cJSON_AddStringToObject(o, "label", ch->label);
    cJSON_AddItemToObject(o, "val_acc", number_or_null(p->base_acc));
    cJSON_AddItemToObject(o, "val_loss", number_or_null(p->base_loss));
    cJSON *rm = cJSON_AddObjectToObject(o, "removed");
    for (int k = 0; k < ch->n; k++) {
        cJSON *r = cJSON_AddObjectToObject(rm, ch->names[k]);
        cJSON_AddItemToObject(r, "val_acc", number_or_null(p->acc[k]));
        cJSON_AddItemToObject(r, "val_loss", number_or_null(p->loss[k]));
    }
    cJSON_AddStringToObject(o, "chosen", ch->names[p->decided[choice]]);
    cJSON_AddNumberToObject(o, "seconds", secs);
    char *txt = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    FILE *f = fopen(path, "ab");
    int bad = !f || fputs(txt, f) < 0 || fputc('\n', f) == EOF;
    if (f)
        bad |= fclose(f) != 0;
    free(txt);
    return bad ? os_error("%s: write failed", path) : 0;
}

static int write_answer(os_trained *t, const os_config *c, const os_perturb *p, const char *arch_path)
{
    os_arch path, child;
    if (os_perturb_result(p, &path))
        return -1;
    os_derive_opts o = {.max_skip = -1};
    int rc = t->sp->derive(&path, &o, &child);
    os_arch_free(&path);
    if (rc)
        return -1;
    char *txt = os_arch_json(t->sp, &child, NULL);
    cJSON *j = cJSON_Parse(txt);
    free(txt);
    cJSON *pj = cJSON_AddObjectToObject(j, "perturb");
    cJSON_AddStringToObject(pj, "run", c->run);
    cJSON_AddNumberToObject(pj, "probes", p->n_probes);
    cJSON_AddNumberToObject(pj, "val_batches", c->val_batches);
    cJSON_AddBoolToObject(pj, "independent", c->independent != 0);
    cJSON_AddNumberToObject(pj, "tune_steps", c->tune_steps);
    if (c->tune_steps > 0)
        cJSON_AddNumberToObject(pj, "tune_lr", c->tune_lr > 0 ? c->tune_lr : t->rc.lr_min);
    txt = cJSON_Print(j);
    rc = os_write_text(arch_path, txt);
    free(txt);
    if (!rc) {
        const cJSON *s = cJSON_GetObjectItem(j, "arch_str"), *g = cJSON_GetObjectItem(j, "genotype");
        printf("chosen after %d probes (%s):\n  %s\n", p->n_probes, arch_path,
               cJSON_IsString(s) ? s->valuestring : cJSON_IsString(g) ? g->valuestring : "(see the file)");
        if (!strcmp(t->sp->name, "nb201")) /* scoring only: the selection never saw the table */
            os_bench_report(c->benchmark, t->rc.benchmark, t->rc.data, &child);
    }
    cJSON_Delete(j);
    os_arch_free(&child);
    return rc;
}

/* --tune-steps: SGD on the weight half, continuing through its epochs from
 * where the last tuning stopped */
typedef struct {
    os_optim *opt;
    int epoch, batch;
    long steps;
} tuner;

static double tune(os_trained *t, const os_config *c, tuner *tu)
{
    os_loader_seek(t->recal_l, tu->epoch, tu->batch);
    double ls = 0;
    int done = 0;
    while (done < c->tune_steps) {
        int n = os_loader_next(t->recal_l, t->xb, t->yb);
        if (n <= 0)
            continue; /* the end of an epoch: the next call starts another */
        os_batch b = {.x = t->xb, .y = t->yb, .n = n};
        os_forward_ctx tr = {.training = true,
                             .step_seed = os_hash64((uint64_t)c->seed * 1000003u + (uint64_t)tu->steps)};
        os_step_result r = os_weight_step(&t->net, tu->opt, &b, &tr, 0.0f, 0.0f, t->rc.grad_clip);
        ls += r.loss;
        done++;
        tu->steps++;
    }
    tu->epoch = os_loader_epoch(t->recal_l);
    tu->batch = os_loader_batch(t->recal_l);
    return done ? ls / done : NAN;
}

static int select_loop(os_trained *t, const os_config *c, os_perturb *p, tuner *tu, const char *log_path)
{
    long planned = os_perturb_planned(p);
    int step = 0;
    double t0 = os_seconds(), since = t0;
    while (os_perturb_next(p)) {
        if (stop_requested)
            return 130;
        int choice = p->choice, removed = p->removed;
        double loss, acc;
        probe(t, c, &loss, &acc);
        int decided = os_perturb_tell(p, acc, loss);
        if (removed < 0)
            printf("%s: val acc %.2f%% (loss %.4f) with every candidate\n", t->net.choices[choice].label, 100 * acc,
                   loss);
        else
            printf("%s: val acc %.2f%% (loss %.4f) without %s   [%d/%ld probes, %.1f s each]\n",
                   t->net.choices[choice].label, 100 * acc, loss, t->net.choices[choice].names[removed], p->n_probes,
                   planned, (os_seconds() - t0) / p->n_probes);
        if (decided >= 0) {
            double now = os_seconds(), secs = now - since;
            since = now;
            printf("%s: chose %s\n", t->net.choices[decided].label,
                   t->net.choices[decided].names[p->decided[decided]]);
            if (log_decision(log_path, p, decided, step++, secs))
                return fail(1);
            if (tu->opt && os_perturb_next(p) && !stop_requested) {
                double t1 = os_seconds(), l = tune(t, c, tu);
                printf("tuned the weights: %d steps, train loss %.4f, %.1f s\n", c->tune_steps, l,
                       os_seconds() - t1);
                if (!isfinite(l))
                    return os_error("tuning after '%s' diverged (train loss %g): lower --tune-lr",
                                    t->net.choices[decided].label, l), fail(1);
            }
        }
        fflush(stdout);
    }
    return 0;
}

int os_cmd_perturb(os_config *c)
{
    if (!c->run[0])
        return fprintf(stderr, "oneshot: perturb needs --run DIR (a search run trained with darts)\n"), 2;
    if (c->bn_batches < 0 || c->val_batches < 0 || c->batch < 0)
        return fprintf(stderr, "oneshot: --bn-batches, --val-batches and --batch must not be negative\n"), 2;
    os_trained t = {0};
    int rc = os_trained_config(&t, c);
    if (rc)
        return rc;
    if (t.rc.cmd != OS_CMD_TRAIN || strcmp(t.rc.strategy, "darts")) {
        if (t.rc.cmd != OS_CMD_TRAIN)
            fprintf(stderr, "oneshot: %s is a retrain run: perturb chooses on a search run's supernet trained with "
                            "darts\n", c->run);
        else
            fprintf(stderr, "oneshot: %s was searched with %s: perturb needs a supernet trained with darts (every "
                            "candidate mixed by softmax(alpha))\n", c->run, t.rc.strategy);
        return 2;
    }
    if (strcmp(t.rc.space, "nb201")) {
        fprintf(stderr, "oneshot: %s is a %s run: perturb chooses on nb201 supernets (a cell's edges, the DARTS "
                        "space's topology, are not chosen by perturbation yet)\n", c->run, t.rc.space);
        return 2;
    }
    if (c->threads >= 0)
        os_set_threads(c->threads);
    char out[600], log_path[700], arch_path[700];
    if (c->out[0])
        snprintf(out, sizeof out, "%s", c->out);
    else
        snprintf(out, sizeof out, "%s/perturb", c->run);
    snprintf(log_path, sizeof log_path, "%s/perturb.jsonl", out);
    snprintf(arch_path, sizeof arch_path, "%s/arch.json", out);
    if (c->independent && c->tune_steps > 0)
        return fprintf(stderr, "oneshot: --independent judges every choice on the supernet as trained: it takes no "
                               "--tune-steps\n"), 2;
    os_perturb p = {0};
    tuner tu = {0};
    rc = os_trained_open(&t, c);
    if (!rc && os_mkdirs(out))
        rc = fail(1);
    if (!rc && os_perturb_init(&p, &t.net, (uint64_t)c->seed, c->independent))
        rc = fail(2);
    if (!rc && c->tune_steps > 0) {
        if (os_loader_batches_per_epoch(t.recal_l) < 1)
            rc = (os_error("--tune-steps: the run's %d weight images make no whole batch of %d", t.d.n_w, t.batch),
                  fail(2));
        else
            tu.opt = os_optim_sgd(&t.net.weights,
                                  &(os_sgd_config){.lr = c->tune_lr > 0 ? c->tune_lr : t.rc.lr_min,
                                                   .momentum = t.rc.momentum, .weight_decay = t.rc.weight_decay});
    }
    if (!rc) {
        unlink(log_path);
        printf("perturbation%s: %d choices in a random order (seed %d), %ld probes of %s", c->independent ?
               " (independent)" : "", p.n, c->seed, os_perturb_planned(&p),
               c->val_batches > 0 ? "--val-batches batches" : "the whole validation half");
        if (tu.opt)
            printf(", %d tuning steps at lr %g after each decision", c->tune_steps,
                   (double)(c->tune_lr > 0 ? c->tune_lr : t.rc.lr_min));
        printf(", out %s\n", out);
        os_net_set_chooser(&t.net, os_perturb_choose, &p);
        struct sigaction sa = {0};
        sa.sa_handler = on_signal;
        sigaction(SIGINT, &sa, NULL);
        sigaction(SIGTERM, &sa, NULL);
        stop_requested = 0;
        rc = select_loop(&t, c, &p, &tu, log_path);
        signal(SIGINT, SIG_DFL);
        signal(SIGTERM, SIG_DFL);
        if (rc == 130)
            fprintf(stderr, "oneshot: interrupted after %d probes; nothing was chosen (%s is partial). Run the "
                            "command again to start over\n", p.n_probes, log_path);
        else if (!rc && write_answer(&t, c, &p, arch_path))
            rc = fail(1);
    }
    if (tu.opt)
        os_optim_free(tu.opt);
    os_perturb_free(&p);
    os_trained_close(&t);
    os_step_shutdown();
    return rc;
}
