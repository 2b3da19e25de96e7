/* search/trainer.c — one training run: the epoch loop, evaluation, the
 * derived architecture, checkpoints (trainer.h). */
#include "search/trainer.h"
#include "search/stage.h"
#include "tensor/arena.h"
#include "tensor/clock.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int os_trainer_init(os_trainer *t, os_net *net, const os_space *space, const os_train_settings *s,
                    const os_strategy *strategy, const void *strategy_options)
{
    memset(t, 0, sizeof *t);
    t->net = net;
    t->space = space;
    t->set = *s;
    if (s->search && !strategy)
        return os_error("a search needs a strategy");
    if (s->search && !net->n_choices)
        return os_error("%s: a search needs a supernet (this network has no choices)", net->space);
    if (!s->search && net->n_choices)
        return os_error("%s: a supernet is searched with a strategy, not retrained", net->space);
    /* one flat buffer per group: the optimizers, zeroing and clipping take
     * one launch each (autograd.h, os_params_flatten) */
    os_params_flatten(&net->weights);
    os_params_flatten(&net->arch);
    t->wopt = os_optim_sgd(&net->weights, &(os_sgd_config){.lr = s->lr, .momentum = s->momentum,
                                                            .weight_decay = s->weight_decay});
    t->lr = s->lr;
    if (s->search) {
        t->strategy = strategy;
        t->options = calloc(1, strategy->options_size ? strategy->options_size : 1);
        if (strategy_options)
            memcpy(t->options, strategy_options, strategy->options_size);
        else
            os_options_defaults(strategy->options, strategy->n_options, t->options);
        if (os_options_check(strategy->options, strategy->n_options, t->options)) {
            os_trainer_free(t);
            return -1;
        }
        os_search_env env = {.net = net, .wopt = t->wopt, .momentum = s->momentum, .weight_decay = s->weight_decay,
                             .grad_clip = s->grad_clip, .label_smoothing = s->label_smoothing, .seed = s->seed};
        if (strategy->create(&env, t->options, &t->state)) {
            t->strategy = NULL;
            os_trainer_free(t);
            return -1;
        }
    }
    return 0;
}

void os_trainer_free(os_trainer *t)
{
    if (t->strategy && t->state)
        t->strategy->free(t->state);
    if (t->wopt)
        os_optim_free(t->wopt);
    os_stage_free(t->stage);
    free(t->options);
    memset(t, 0, sizeof *t);
}

int os_trainer_steps(const os_trainer *t, const os_run_data *d)
{
    int steps = os_loader_batches_per_epoch(d->wl);
    if (t->set.limit_steps > 0 && t->set.limit_steps < steps)
        steps = t->set.limit_steps;
    return steps;
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

int os_trainer_step(os_trainer *t, const os_batch *train, const os_batch *val, os_step_result *r)
{
    if (t->strategy)
        return t->strategy->step(t->state, train, val, r);
    const os_train_settings *s = &t->set;
    os_forward_ctx ctx = {.training = true, .drop_path = s->drop_path * (float)t->pr.epoch / (float)s->epochs,
                          .step_seed = os_hash64(s->seed ^ ((uint64_t)t->pr.global_step << 16))};
    *r = os_weight_step(t->net, t->wopt, train, &ctx, s->auxiliary_weight, s->label_smoothing, s->grad_clip);
    return 0;
}

/* The stager for batches of `batch` images when the net is off the CPU (and
 * staging is on), else NULL: the host path. */
static os_stage *stager(os_trainer *t, int batch)
{
    os_net *net = t->net;
    os_device dev = os_net_device(net);
    if (dev == OS_CPU || t->set.no_stage)
        return NULL;
    if (!os_stage_fits(t->stage, dev, batch, net->in_c, net->in_h, net->in_w, net->num_classes)) {
        os_stage_free(t->stage);
        t->stage = os_stage_new(dev, batch, net->in_c, net->in_h, net->in_w, net->num_classes);
    }
    return t->stage;
}

/* Step `step`'s batches (training; validation when the strategy reads it)
 * into slot step & 1, then step + 1's into the other slot, whose upload
 * runs during this step. */
static void stage_step(os_stage *st, os_run_data *d, int epoch, int step, int steps, int nbv, int val,
                       os_batch *tb, os_batch *vb)
{
    for (int k = step; k <= step + 1 && k < steps; k++) {
        os_stage_load(st, k & 1, 0, d->wl, epoch, k);
        if (val)
            os_stage_load(st, k & 1, 1, d->al, epoch * 1000 + k / nbv, k % nbv);
    }
    *tb = os_stage_batch(st, step & 1, 0);
    if (val)
        *vb = os_stage_batch(st, step & 1, 1);
}

int os_trainer_run_epoch(os_trainer *t, os_run_data *d, const os_epoch_hooks *h)
{
    const os_train_settings *s = &t->set;
    os_progress *pr = &t->pr;
    int epoch = pr->epoch, steps = os_trainer_steps(t, d);
    t->lr = os_cosine_lr(s->lr, s->lr_min, epoch, s->epochs);
    os_optim_set_lr(t->wopt, t->lr);
    if (t->strategy)
        t->strategy->epoch_begin(t->state, epoch, s->epochs);
    int first = pr->batch;
    if (first > steps) /* a checkpoint of other data or another batch size */
        return os_error("the run stopped at step %d of epoch %d, but an epoch has %d steps with this data and batch "
                        "size: resume with the run's own data and settings", first, epoch + 1, steps);
    if (first == 0) {
        pr->loss_sum = 0;
        pr->correct = pr->seen = 0;
        pr->seconds = 0;
    }
    int nbv = t->strategy ? os_loader_batches_per_epoch(d->al) : 1;
    size_t img = (size_t)d->train.c * d->train.h * d->train.w;
    int val = t->strategy && t->strategy->uses_arch_split;
    os_stage *st = stager(t, d->batch);
    double t_epoch = os_seconds() - pr->seconds;
    for (int step = first; step < steps; step++) {
        double t0 = os_seconds();
        os_batch tb = {0}, vb = {0};
        if (st) {
            stage_step(st, d, epoch, step, steps, nbv, val, &tb, &vb);
        } else {
            seek_to(d->wl, epoch, step);
            int n = next_batch(d->wl, d->xb, d->yb);
            tb = (os_batch){.x = d->xb, .y = d->yb, .n = n};
            if (val) {
                seek_to(d->al, epoch * 1000 + step / nbv, step % nbv);
                int m = next_batch(d->al, d->xb + img * (size_t)d->batch, d->yb + d->batch);
                vb = (os_batch){.x = d->xb + img * (size_t)d->batch, .y = d->yb + d->batch, .n = m};
            }
        }
        int n = tb.n;
        os_step_result r;
        if (os_trainer_step(t, &tb, &vb, &r))
            return -1;
        if (!isfinite(r.loss)) {
            /* epochs and steps counted from 1, as in progress lines */
            os_error("loss is %f at epoch %d/%d step %d/%d", r.loss, epoch + 1, s->epochs, step + 1, steps);
            return OS_TRAIN_DIVERGED;
        }
        pr->global_step++;
        pr->loss_sum += (double)r.loss * n;
        pr->correct += r.correct;
        pr->seen += n;
        double el = os_seconds() - t_epoch, per = el / (step + 1);
        if (h && h->on_step) {
            os_step_info si = {.epoch = epoch, .epochs = s->epochs, .step = step, .steps = steps, .loss = r.loss,
                               .mean_loss = pr->loss_sum / pr->seen, .accuracy = (double)pr->correct / pr->seen,
                               .images_per_sec = n / (os_seconds() - t0),
                               .eta_seconds = per * (steps - step - 1) + per * steps * (s->epochs - epoch - 1)};
            h->on_step(h->arg, &si);
        }
        if (h && h->should_stop && h->should_stop(h->arg)) {
            pr->batch = step + 1;
            pr->seconds = os_seconds() - t_epoch;
            return 1;
        }
    }
    pr->batch = steps;
    pr->seconds = os_seconds() - t_epoch;
    return 0;
}

void os_trainer_end_epoch(os_trainer *t)
{
    os_progress *pr = &t->pr;
    pr->epoch++;
    pr->batch = 0;
    pr->loss_sum = 0;
    pr->correct = pr->seen = 0;
    pr->seconds = 0;
}

void os_trainer_evaluate(os_trainer *t, os_loader *l, float *xb, int32_t *yb, int max_batches, double *loss,
                         double *acc)
{
    os_forward_ctx ctx = {.training = false};
    double ls = 0;
    long correct = 0, seen = 0;
    os_loader_seek(l, 0, 0);
    os_stage *st = stager(t, os_loader_batch_size(l));
    int n, b = 0, slot = 0;
    n = st ? os_stage_next(st, slot, 0, l) : os_loader_next(l, xb, yb);
    while (n > 0) {
        int last = max_batches > 0 && b + 1 >= max_batches;
        os_batch bt = {.x = xb, .y = yb, .n = n};
        if (st) { /* the next batch's upload runs during this one */
            int nn = last ? 0 : os_stage_next(st, slot ^ 1, 0, l);
            bt = os_stage_batch(st, slot, 0);
            slot ^= 1;
            n = nn;
        }
        os_step_result r = os_eval_batch(t->net, &bt, &ctx);
        ls += (double)r.loss * bt.n;
        correct += r.correct;
        seen += bt.n;
        if (last)
            break;
        b++;
        if (!st)
            n = os_loader_next(l, xb, yb);
    }
    *loss = seen ? ls / seen : NAN;
    *acc = seen ? (double)correct / seen : NAN;
}

int os_trainer_derive(os_trainer *t, const os_derive_opts *o, os_arch *weights, os_arch *child)
{
    if (!t->strategy)
        return os_error("a retrain run has no architecture to derive (it trains one)");
    os_arch w;
    if (t->strategy->derive(t->state, &w))
        return -1;
    os_derive_opts dflt = {.max_skip = -1};
    int rc = t->space->derive(&w, o ? o : &dflt, child);
    if (!rc && weights)
        *weights = w;
    else
        os_arch_free(&w);
    return rc;
}

void os_trainer_metrics(os_trainer *t, cJSON *record)
{
    if (t->strategy && t->strategy->metrics)
        t->strategy->metrics(t->state, record);
}

/* ---- checkpoints --------------------------------------------------------------------- */
static int add_group(os_st_writer *w, const char *prefix, const os_params *g)
{
    char name[160];
    for (int i = 0; i < g->n; i++) {
        snprintf(name, sizeof name, "%s/%s", prefix, g->t[i]->name);
        if (os_st_add_tensor(w, name, g->t[i]))
            return -1;
    }
    return 0;
}

static void meta_long(os_st_writer *w, const char *k, long v)
{
    char b[32];
    snprintf(b, sizeof b, "%ld", v);
    os_st_set_meta(w, k, b);
}

int os_trainer_save(os_trainer *t, const char *path, const char *config_json)
{
    os_net *net = t->net;
    const os_progress *p = &t->pr;
    os_st_writer *w = os_st_writer_new();
    int rc = add_group(w, "weights", &net->weights) || add_group(w, "arch", &net->arch) ||
             add_group(w, "buffers", &net->buffers) || os_optim_save(w, "wopt", t->wopt) ||
             (t->strategy && t->strategy->save(t->state, w));
    if (!rc) {
        char b[256];
        os_st_set_meta(w, "config", config_json ? config_json : "{}");
        os_st_set_meta(w, "space", net->space);
        snprintf(b, sizeof b, "%dx%dx%d", net->in_c, net->in_h, net->in_w);
        os_st_set_meta(w, "input", b);
        meta_long(w, "classes", net->num_classes);
        meta_long(w, "epoch", p->epoch);
        meta_long(w, "batch", p->batch);
        meta_long(w, "global_step", p->global_step);
        snprintf(b, sizeof b, "{\"loss_sum\": %.17g, \"correct\": %ld, \"seen\": %ld, \"seconds\": %.17g}",
                 p->loss_sum, p->correct, p->seen, p->seconds);
        os_st_set_meta(w, "acc", b);
        rc = os_st_write(w, path);
    }
    os_st_writer_free(w);
    return rc ? -1 : 0;
}

static int load_group(os_st_file *f, const char *path, const char *prefix, const os_params *g)
{
    char name[160];
    for (int i = 0; i < g->n; i++) {
        snprintf(name, sizeof name, "%s/%s", prefix, g->t[i]->name);
        if (!os_st_find(f, name))
            return os_error("%s: checkpoint lacks tensor '%s' (a run of another space or shape?)", path, name);
        if (os_st_read_into(f, name, g->t[i]))
            return -1;
    }
    return 0;
}

static long meta_num(os_st_file *f, const char *k)
{
    const char *s = os_st_meta(f, k);
    return s ? atol(s) : 0;
}

/* a whole number in [lo, hi] under metadata key k */
static int meta_count(os_st_file *f, const char *path, const char *k, long lo, long hi, long *out)
{
    const char *s = os_st_meta(f, k);
    if (!s)
        return os_error("%s: checkpoint metadata lacks '%s' (not a checkpoint of this program, or damaged)", path,
                        k);
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi)
        return os_error("%s: checkpoint metadata '%s' is '%.40s', expected a whole number in %ld..%ld (the file is "
                        "damaged: use an intact copy)", path, k, s, lo, hi);
    *out = v;
    return 0;
}

/* Every tensor reads (its checksum, when the file has them, holds) and every
 * float is finite, before anything is loaded: a damaged checkpoint leaves
 * the trainer as it was. */
static int check_tensors(os_st_file *f, const char *path)
{
    for (int i = 0; i < os_st_count(f); i++) {
        const os_st_info *in = os_st_at(f, i);
        if (!strcmp(in->dtype, "F32")) {
            float *v = os_st_read_f32(f, in->name, NULL);
            if (!v)
                return -1;
            for (int64_t k = 0; k < in->numel; k++)
                if (!isfinite(v[k])) {
                    float x = v[k];
                    free(v);
                    return os_error("%s: tensor '%s' holds %s (element %lld of %lld): a checkpoint holds finite "
                                    "numbers only, so this one is damaged or was saved from a run that diverged; "
                                    "resume from an earlier copy or start the run again",
                                    path, in->name, isnan(x) ? "NaN" : x > 0 ? "+Inf" : "-Inf", (long long)k,
                                    (long long)in->numel);
                }
            free(v);
        } else if (!strcmp(in->dtype, "I32") || !strcmp(in->dtype, "I64")) {
            int32_t *v = os_st_read_i32(f, in->name, NULL);
            if (!v)
                return -1;
            free(v);
        } else {
            return os_error("%s: tensor '%s' is of dtype %s; a checkpoint holds F32 and I32 tensors only (not a "
                            "checkpoint of this program)", path, in->name, in->dtype);
        }
    }
    return 0;
}

static int check_net(os_st_file *f, const char *path, const os_net *net)
{
    char in[64];
    snprintf(in, sizeof in, "%dx%dx%d", net->in_c, net->in_h, net->in_w);
    const char *space = os_st_meta(f, "space"), *input = os_st_meta(f, "input");
    if (!space || strcmp(space, net->space))
        return os_error("%s: checkpoint is of space '%s', this run is '%s'", path, space ? space : "?", net->space);
    if (!input || strcmp(input, in))
        return os_error("%s: checkpoint input shape %s differs from this run's %s", path, input ? input : "?", in);
    if (meta_num(f, "classes") != net->num_classes)
        return os_error("%s: checkpoint has %ld classes, this run's data has %d", path, meta_num(f, "classes"),
                        net->num_classes);
    return 0;
}

static int load_net(os_st_file *f, const char *path, os_net *net)
{
    return check_net(f, path, net) || check_tensors(f, path) || load_group(f, path, "weights", &net->weights) ||
                   load_group(f, path, "arch", &net->arch) || load_group(f, path, "buffers", &net->buffers)
               ? -1
               : 0;
}

int os_checkpoint_load_net(const char *path, os_net *net)
{
    os_st_file *f = os_st_open(path);
    if (!f)
        return -1;
    int rc = load_net(f, path, net);
    os_st_close(f);
    return rc;
}

/* a number of "acc" in [0, hi] (absent: 0) */
static int acc_field(const cJSON *a, const char *path, const char *k, double hi, double *out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(a, k);
    *out = 0;
    if (!v)
        return 0;
    if (!cJSON_IsNumber(v) || !(v->valuedouble >= 0 && v->valuedouble <= hi))
        return os_error("%s: checkpoint metadata 'acc': '%s' must be a number in 0..%g (the file is damaged: use an "
                        "intact copy)", path, k, hi);
    *out = v->valuedouble;
    return 0;
}

/* where the run stands: epoch, batch, step and the epoch's running sums */
static int read_progress(os_st_file *f, const char *path, os_progress *p)
{
    long epoch, batch, step;
    if (meta_count(f, path, "epoch", 0, OS_MAX_EPOCHS, &epoch) || meta_count(f, path, "batch", 0, INT32_MAX, &batch) ||
        meta_count(f, path, "global_step", 0, LONG_MAX, &step))
        return -1;
    /* the optimizers' step counts (os_optim_save's "<prefix>_steps") */
    for (int i = 0; i < os_st_meta_count(f); i++) {
        const char *k = os_st_meta_key(f, i);
        size_t kl = strlen(k);
        long v;
        if (kl > 6 && !strcmp(k + kl - 6, "_steps") && strncmp(k, OS_ST_CRC_PREFIX, strlen(OS_ST_CRC_PREFIX)) &&
            meta_count(f, path, k, 0, LONG_MAX, &v))
            return -1;
    }
    memset(p, 0, sizeof *p);
    p->epoch = (int)epoch;
    p->batch = (int)batch;
    p->global_step = step;
    const char *acc = os_st_meta(f, "acc");
    if (!acc)
        return 0;
    cJSON *a = cJSON_Parse(acc);
    double correct = 0, seen = 0;
    int rc = !cJSON_IsObject(a) ? os_error("%s: checkpoint metadata 'acc' is not a JSON object (the file is damaged: "
                                           "use an intact copy)", path)
             : acc_field(a, path, "loss_sum", 1e300, &p->loss_sum) || acc_field(a, path, "correct", 1e15, &correct) ||
                     acc_field(a, path, "seen", 1e15, &seen) || acc_field(a, path, "seconds", 1e300, &p->seconds)
                 ? -1
                 : 0;
    cJSON_Delete(a);
    if (rc)
        return -1;
    p->correct = (long)correct;
    p->seen = (long)seen;
    if (p->correct > p->seen)
        return os_error("%s: checkpoint metadata 'acc': %ld correct of %ld seen (the file is damaged: use an intact "
                        "copy)", path, p->correct, p->seen);
    return 0;
}

int os_trainer_load(os_trainer *t, const char *path)
{
    os_st_file *f = os_st_open(path);
    if (!f)
        return -1;
    /* the position first: nothing is loaded from a checkpoint without a valid one */
    os_progress p = {0};
    int rc = read_progress(f, path, &p) || load_net(f, path, t->net) || os_optim_load(f, path, "wopt", t->wopt) ||
             (t->strategy && t->strategy->load(t->state, f, path));
    if (!rc)
        t->pr = p;
    os_st_close(f);
    return rc ? -1 : 0;
}

cJSON *os_checkpoint_config_json(const char *path)
{
    os_st_file *f = os_st_open(path);
    if (!f)
        return NULL;
    const char *txt = os_st_meta(f, "config");
    cJSON *j = txt ? cJSON_Parse(txt) : NULL;
    if (!j)
        os_error("%s: checkpoint has no readable config", path);
    os_st_close(f);
    return j;
}
