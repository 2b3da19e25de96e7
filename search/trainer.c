/* search/trainer.c — one training run: the epoch loop, evaluation, the
 * derived architecture, checkpoints (trainer.h). */
#include "search/trainer.h"
#include "tensor/arena.h"

#include <cjson/cJSON.h>
#include <math.h>
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
    if (first == 0) {
        pr->loss_sum = 0;
        pr->correct = pr->seen = 0;
        pr->seconds = 0;
    }
    int nbv = t->strategy ? os_loader_batches_per_epoch(d->al) : 1;
    size_t img = (size_t)d->train.c * d->train.h * d->train.w;
    double t_epoch = now() - pr->seconds;
    for (int step = first; step < steps; step++) {
        double t0 = now();
        seek_to(d->wl, epoch, step);
        int n = next_batch(d->wl, d->xb, d->yb);
        os_batch tb = {d->xb, d->yb, n}, vb = {0};
        if (t->strategy && t->strategy->uses_arch_split) {
            seek_to(d->al, epoch * 1000 + step / nbv, step % nbv);
            int m = next_batch(d->al, d->xb + img * (size_t)d->batch, d->yb + d->batch);
            vb = (os_batch){d->xb + img * (size_t)d->batch, d->yb + d->batch, m};
        }
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
        double el = now() - t_epoch, per = el / (step + 1);
        if (h && h->on_step) {
            os_step_info si = {.epoch = epoch, .epochs = s->epochs, .step = step, .steps = steps, .loss = r.loss,
                               .mean_loss = pr->loss_sum / pr->seen, .accuracy = (double)pr->correct / pr->seen,
                               .images_per_sec = n / (now() - t0),
                               .eta_seconds = per * (steps - step - 1) + per * steps * (s->epochs - epoch - 1)};
            h->on_step(h->arg, &si);
        }
        if (h && h->should_stop && h->should_stop(h->arg)) {
            pr->batch = step + 1;
            pr->seconds = now() - t_epoch;
            return 1;
        }
    }
    pr->batch = steps;
    pr->seconds = now() - t_epoch;
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
    int n, b = 0;
    while ((n = os_loader_next(l, xb, yb)) > 0) {
        os_batch bt = {xb, yb, n};
        os_step_result r = os_eval_batch(t->net, &bt, &ctx);
        ls += (double)r.loss * n;
        correct += r.correct;
        seen += n;
        if (max_batches > 0 && ++b >= max_batches)
            break;
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
    return check_net(f, path, net) || load_group(f, path, "weights", &net->weights) ||
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

int os_trainer_load(os_trainer *t, const char *path)
{
    os_st_file *f = os_st_open(path);
    if (!f)
        return -1;
    int rc = load_net(f, path, t->net) || os_optim_load(f, path, "wopt", t->wopt) ||
             (t->strategy && t->strategy->load(t->state, f, path));
    if (!rc) {
        os_progress *p = &t->pr;
        memset(p, 0, sizeof *p);
        p->epoch = (int)meta_num(f, "epoch");
        p->batch = (int)meta_num(f, "batch");
        p->global_step = meta_num(f, "global_step");
        const char *acc = os_st_meta(f, "acc");
        cJSON *a = acc ? cJSON_Parse(acc) : NULL;
        if (a) {
            cJSON *v;
            if ((v = cJSON_GetObjectItem(a, "loss_sum")))
                p->loss_sum = v->valuedouble;
            if ((v = cJSON_GetObjectItem(a, "correct")))
                p->correct = (long)v->valuedouble;
            if ((v = cJSON_GetObjectItem(a, "seen")))
                p->seen = (long)v->valuedouble;
            if ((v = cJSON_GetObjectItem(a, "seconds")))
                p->seconds = v->valuedouble;
            cJSON_Delete(a);
        }
    }
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
