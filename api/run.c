/* api/run.c — oneshot_run: a search or a child's training, stepped by the
 * caller (include/oneshot.h). The trainer (search/trainer.h) does the work. */
#include "api/internal.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void oneshot_train_opts_default(oneshot_train_opts *o, int kind)
{
    if (!o)
        return;
    /* DARTS' search protocol (cnn/train_search.py) or evaluation protocol (cnn/train.py) */
    int re = kind == ONESHOT_RETRAIN;
    *o = (oneshot_train_opts){.epochs = 0, .lr = 0.025f, .lr_min = re ? 0.0f : 0.001f, .momentum = 0.9f,
                              .weight_decay = 3e-4f, .grad_clip = 5.0f, .auxiliary_weight = re ? 0.4f : 0.0f,
                              .drop_path = re ? 0.2f : 0.0f, .max_skip = -1, .seed = 2};
}

/* ---- creating a run ------------------------------------------------------------------------ */
static int check_opts(oneshot_ctx *c, const oneshot_train_opts *o)
{
#define BAD(...) api_fail(c, ONESHOT_EINVAL, "oneshot_run_new: " __VA_ARGS__)
    if (o->epochs < 0 || o->epochs > 1000000)
        return BAD("epochs %d out of range (0 = the protocol's, up to 1000000)", o->epochs);
    if (!(o->lr > 0) || !isfinite(o->lr) || !(o->lr_min >= 0) || !(o->lr_min <= o->lr))
        return BAD("lr %g must be positive and finite, lr_min %g in 0..lr", (double)o->lr, (double)o->lr_min);
    if (!(o->momentum >= 0 && o->momentum < 1))
        return BAD("momentum %g must lie in [0, 1)", (double)o->momentum);
    if (!(o->weight_decay >= 0) || !isfinite(o->weight_decay))
        return BAD("weight_decay %g must be >= 0", (double)o->weight_decay);
    if (!(o->grad_clip >= 0) || !isfinite(o->grad_clip))
        return BAD("grad_clip %g must be >= 0 (0 = off)", (double)o->grad_clip);
    if (!(o->label_smoothing >= 0 && o->label_smoothing < 1))
        return BAD("label_smoothing %g must lie in [0, 1)", (double)o->label_smoothing);
    if (!(o->auxiliary_weight >= 0) || !isfinite(o->auxiliary_weight))
        return BAD("auxiliary_weight %g must be >= 0", (double)o->auxiliary_weight);
    if (!(o->drop_path >= 0 && o->drop_path < 1))
        return BAD("drop_path %g must lie in [0, 1)", (double)o->drop_path);
    if (o->limit_steps < 0 || o->val_batches < 0)
        return BAD("limit_steps %d and val_batches %d must be >= 0 (0 = all)", o->limit_steps, o->val_batches);
    if (o->max_skip < -1)
        return BAD("max_skip %d must be >= 0, or -1 (off)", o->max_skip);
#undef BAD
    return ONESHOT_OK;
}

/* The strategy's options: its defaults, then the caller's name/value pairs. */
static int strategy_options(oneshot_ctx *c, const os_strategy *s, const char *const *kv, void *opts)
{
    os_options_defaults(s->options, s->n_options, opts);
    for (int i = 0; kv && kv[i]; i += 2) {
        if (!kv[i + 1])
            return api_fail(c, ONESHOT_EINVAL, "oneshot_run_new: %s option '%s' has no value (strategy_options "
                            "holds name, value pairs and a NULL)", s->name, kv[i]);
        int rc = os_options_set(s->options, s->n_options, opts, kv[i], kv[i + 1]);
        if (rc > 0) {
            char list[512];
            size_t len = 0;
            list[0] = 0;
            for (int k = 0; k < s->n_options && len < sizeof list; k++)
                len += (size_t)snprintf(list + len, sizeof list - len, "%s%s", k ? ", " : "", s->options[k].name);
            return api_fail(c, ONESHOT_EINVAL, "oneshot_run_new: %s has no option '%s' (its options: %s)", s->name,
                            kv[i], list[0] ? list : "none");
        }
        if (rc < 0)
            return api_fail(c, ONESHOT_EINVAL, "oneshot_run_new: %s option %s", s->name, os_last_error());
    }
    return ONESHOT_OK;
}

typedef struct {
    oneshot_run *r;
    const void *sopts;
} new_args;

static int new_work(oneshot_ctx *c, void *arg)
{
    new_args *a = arg;
    oneshot_run *r = a->r;
    oneshot_model *m = r->model;
    const oneshot_train_opts *o = &r->opts;
    int drop = m->space->features & OS_SPACE_DROP_PATH;
    os_train_settings s = {.search = r->strategy != NULL, .epochs = o->epochs, .batch = r->data->d.batch,
                           .seed = o->seed, .lr = o->lr, .lr_min = o->lr_min, .momentum = o->momentum,
                           .weight_decay = o->weight_decay, .grad_clip = o->grad_clip,
                           .label_smoothing = o->label_smoothing,
                           .auxiliary_weight = m->aux_head ? o->auxiliary_weight : 0.0f,
                           .drop_path = r->strategy || !drop ? 0.0f : o->drop_path, .limit_steps = o->limit_steps};
    if (os_trainer_init(&r->t, &m->net, m->space, &s, r->strategy, a->sopts))
        return api_fail(c, ONESHOT_EINVAL, "oneshot_run_new: %s", os_last_error());
    r->have_trainer = 1;
    return ONESHOT_OK;
}

static void new_undo(void *arg)
{
    new_args *a = arg;
    if (a->r->have_trainer)
        os_trainer_free(&a->r->t);
    a->r->have_trainer = 0;
}

static int check_new(oneshot_ctx *c, oneshot_model *m, oneshot_data *d, const char *strategy,
                     const os_strategy **st)
{
    *st = NULL;
    if (!m || !d)
        return api_fail(c, ONESHOT_EINVAL, "oneshot_run_new: NULL %s", !m ? "model" : "data");
    if (m->ctx != c || d->ctx != c)
        return api_fail(c, ONESHOT_EINVAL, "oneshot_run_new: the %s belongs to another context",
                        m->ctx != c ? "model" : "data");
    if (m->freed || d->freed)
        return api_fail(c, ONESHOT_EINVAL, "oneshot_run_new: the %s was freed", m->freed ? "model" : "data");
    if (m->in_use)
        return api_fail(c, ONESHOT_EINVAL, "oneshot_run_new: the model is already used by another run (free that "
                        "run first)");
    char list[256];
    api_strategy_list(list, sizeof list);
    if (m->child && strategy)
        return api_fail(c, ONESHOT_EINVAL, "oneshot_run_new: a child network is trained, not searched: give "
                        "strategy NULL, not '%s'", strategy);
    if (!m->child && !strategy)
        return api_fail(c, ONESHOT_EINVAL, "oneshot_run_new: a supernet is searched with a strategy (%s), not "
                        "NULL", list);
    if (strategy && !(*st = os_strategy_find(strategy)))
        return api_fail(c, ONESHOT_EINVAL, "oneshot_run_new: unknown strategy '%s' (%s)", strategy, list);
    const os_net *n = &m->net;
    const os_dataset *t = &d->d.train;
    if (n->in_c != t->c || n->in_h != t->h || n->in_w != t->w || n->num_classes != t->num_classes)
        return api_fail(c, ONESHOT_EINVAL, "oneshot_run_new: the model takes %dx%dx%d images in %d classes, the "
                        "data has %dx%dx%d in %d", n->in_c, n->in_h, n->in_w, n->num_classes, t->c, t->h, t->w,
                        t->num_classes);
    if (*st && !d->split)
        return api_fail(c, ONESHOT_EINVAL, "oneshot_run_new: a search needs data opened with split = 1 (a weights "
                        "part and an architecture part)");
    return ONESHOT_OK;
}

int oneshot_run_new(oneshot_ctx *ctx, oneshot_model *model, oneshot_data *data, const char *strategy,
                    const oneshot_train_opts *o, oneshot_run **out)
{
    if (out)
        *out = NULL;
    if (!ctx)
        return api_fail(NULL, ONESHOT_EINVAL, "oneshot_run_new: NULL context");
    if (!out)
        return api_fail(ctx, ONESHOT_EINVAL, "oneshot_run_new: NULL output pointer");
    const os_strategy *st;
    int rc = check_new(ctx, model, data, strategy, &st);
    oneshot_train_opts dflt;
    oneshot_train_opts_default(&dflt, st ? ONESHOT_SEARCH : ONESHOT_RETRAIN);
    if (!o)
        o = &dflt;
    if (!rc)
        rc = check_opts(ctx, o);
    if (!rc && !st && o->strategy_options && o->strategy_options[0])
        rc = api_fail(ctx, ONESHOT_EINVAL, "oneshot_run_new: strategy option '%s' given to a child's training",
                      o->strategy_options[0]);
    if (!rc && !st && o->auxiliary_weight > 0 && (model->space->features & OS_SPACE_AUX_HEAD) && !model->aux_head)
        rc = api_fail(ctx, ONESHOT_EINVAL, "oneshot_run_new: auxiliary_weight %g, but the model was built without "
                      "its auxiliary head (oneshot_model_opts.auxiliary = 1, or auxiliary_weight 0)",
                      (double)o->auxiliary_weight);
    if (rc)
        return rc;
    void *sopts = st ? calloc(1, st->options_size ? st->options_size : 1) : NULL;
    oneshot_run *r = calloc(1, sizeof *r);
    if (!r || (st && !sopts)) {
        free(r);
        free(sopts);
        return api_fail(ctx, ONESHOT_EIO, "oneshot_run_new: out of memory");
    }
    rc = st ? strategy_options(ctx, st, o->strategy_options, sopts) : ONESHOT_OK;
    r->ctx = ctx;
    r->model = model;
    r->data = data;
    r->strategy = st;
    r->opts = *o;
    r->opts.strategy_options = NULL;
    if (!r->opts.epochs)
        r->opts.epochs = !st ? 600 : st->default_epochs > 0 ? st->default_epochs : 50;
    new_args a = {.r = r, .sopts = sopts};
    if (!rc)
        rc = api_call(ctx, new_work, new_undo, &a);
    free(sopts);
    if (rc) {
        free(r);
        return rc;
    }
    model->in_use = 1;
    model->refs++;
    data->refs++;
    api_ctx_ref(ctx);
    *out = r;
    return ONESHOT_OK;
}

static int free_work(oneshot_ctx *c, void *arg)
{
    (void)c;
    oneshot_run *r = arg;
    if (r->have_trainer)
        os_trainer_free(&r->t);
    /* the strategy's chooser goes with its state: a later run installs its own */
    os_net_set_chooser(&r->model->net, NULL, NULL);
    return ONESHOT_OK;
}

void oneshot_run_free(oneshot_run *r)
{
    if (!r)
        return;
    oneshot_ctx *c = r->ctx;
    api_call(c, free_work, NULL, r);
    r->model->in_use = 0;
    api_model_unref(r->model);
    api_data_unref(r->data);
    free(r);
    api_ctx_unref(c);
}

int api_run_call(oneshot_run *r, int (*work)(oneshot_ctx *, void *), void (*undo)(void *), void *arg)
{
    int st = api_call(r->ctx, work, undo, arg);
    if (st == ONESHOT_EINTERNAL)
        r->broken = 1;
    return st;
}

/* ---- steps and epochs ------------------------------------------------------------------------ */
/* 0 when r may train; else the status, recorded */
static int usable(oneshot_run *r, const char *fn, int training)
{
    if (r->broken)
        return api_fail(r->ctx, ONESHOT_EINVAL, "%s: the run was interrupted by an error; load a checkpoint "
                        "into it (oneshot_run_load) or free it", fn);
    if (training && r->t.pr.epoch >= r->t.set.epochs)
        return api_fail(r->ctx, ONESHOT_EINVAL, "%s: the run has done its %d epochs", fn, r->t.set.epochs);
    return ONESHOT_OK;
}

typedef struct {
    oneshot_run *r;
    const oneshot_callbacks *cb;
    oneshot_step_info *step_out;
    oneshot_epoch_info *epoch_out;
    int one_step;
} train_args;

static void on_step(void *arg, const os_step_info *s)
{
    train_args *a = arg;
    oneshot_step_info i = {.epoch = s->epoch, .epochs = s->epochs, .step = s->step, .steps = s->steps,
                           .global_step = a->r->t.pr.global_step, .loss = s->loss, .mean_loss = s->mean_loss,
                           .accuracy = s->accuracy, .images_per_sec = s->images_per_sec,
                           .eta_seconds = s->eta_seconds};
    if (a->step_out)
        *a->step_out = i;
    if (a->cb && a->cb->on_step)
        a->cb->on_step(a->cb->user, &i);
}

static int should_stop(void *arg)
{
    train_args *a = arg;
    if (a->one_step)
        return 1;
    return a->cb && a->cb->should_stop && a->cb->should_stop(a->cb->user);
}

/* the trainer's epoch loop, from where the run stands */
static int run_steps(oneshot_ctx *c, train_args *a)
{
    oneshot_run *r = a->r;
    os_epoch_hooks h = {.on_step = on_step, .should_stop = should_stop, .arg = a};
    int e = os_trainer_run_epoch(&r->t, &r->data->d, &h);
    if (e < 0) {
        /* the trainer's message for a non-finite loss starts so (search/trainer.c) */
        int nan = e == OS_TRAIN_DIVERGED;
        api_log(c, "oneshot: %s", os_last_error());
        return api_fail_os(c, nan ? ONESHOT_ENAN : ONESHOT_EIO);
    }
    if (e > 0 && !a->one_step)
        return api_fail(c, ONESHOT_ESTOPPED, "stopped by the should_stop callback after step %d/%d of epoch %d/%d",
                        r->t.pr.batch, os_trainer_steps(&r->t, &r->data->d), r->t.pr.epoch + 1, r->t.set.epochs);
    return e > 0 ? ONESHOT_ESTOPPED : ONESHOT_OK;
}

static int step_work(oneshot_ctx *c, void *arg)
{
    train_args *a = arg;
    os_trainer *t = &a->r->t;
    int steps = os_trainer_steps(t, &a->r->data->d);
    if (t->pr.batch >= steps) /* an epoch stopped after its last step */
        os_trainer_end_epoch(t);
    int st = usable(a->r, "oneshot_run_step", 1);
    if (!st)
        st = run_steps(c, a);
    if (st == ONESHOT_ESTOPPED)
        st = ONESHOT_OK; /* one step, as asked */
    if (!st && t->pr.batch >= steps)
        os_trainer_end_epoch(t);
    return st;
}

int oneshot_run_step(oneshot_run *r, oneshot_step_info *info)
{
    if (info)
        memset(info, 0, sizeof *info);
    if (!r)
        return api_fail(NULL, ONESHOT_EINVAL, "oneshot_run_step: NULL run");
    int st = usable(r, "oneshot_run_step", 0);
    if (st)
        return st;
    train_args a = {.r = r, .step_out = info, .one_step = 1};
    return api_run_call(r, step_work, NULL, &a);
}

static int epoch_work(oneshot_ctx *c, void *arg)
{
    train_args *a = arg;
    oneshot_run *r = a->r;
    os_trainer *t = &r->t;
    os_run_data *d = &r->data->d;
    int st = run_steps(c, a);
    if (st)
        return st;
    double vl, va, secs = t->pr.seconds;
    if (r->strategy)
        os_trainer_evaluate(t, d->al, d->xb, d->yb, r->opts.val_batches, &vl, &va);
    else
        os_trainer_evaluate(t, d->tl, d->xb, d->yb, 0, &vl, &va);
    oneshot_epoch_info i = {.epoch = t->pr.epoch, .train_loss = t->pr.seen ? t->pr.loss_sum / t->pr.seen : NAN,
                            .train_acc = t->pr.seen ? (double)t->pr.correct / t->pr.seen : NAN, .val_loss = vl,
                            .val_acc = va, .lr = t->lr, .seconds = secs};
    api_log(c, "epoch %d/%d: train loss %.4f acc %.2f%% | %s loss %.4f acc %.2f%% | lr %.5f | %.1f s", i.epoch + 1,
            t->set.epochs, i.train_loss, 100 * i.train_acc, r->strategy ? "val" : "test", vl, 100 * va,
            (double)t->lr, secs);
    if (a->epoch_out)
        *a->epoch_out = i;
    os_trainer_end_epoch(t);
    return ONESHOT_OK;
}

int oneshot_run_epoch(oneshot_run *r, const oneshot_callbacks *cb, oneshot_epoch_info *info)
{
    if (info)
        memset(info, 0, sizeof *info);
    if (!r)
        return api_fail(NULL, ONESHOT_EINVAL, "oneshot_run_epoch: NULL run");
    int st = usable(r, "oneshot_run_epoch", 1);
    if (st)
        return st;
    train_args a = {.r = r, .cb = cb, .epoch_out = info};
    return api_run_call(r, epoch_work, NULL, &a);
}

int oneshot_run_progress(const oneshot_run *r, oneshot_progress *p)
{
    if (p)
        memset(p, 0, sizeof *p);
    if (!r)
        return api_fail(NULL, ONESHOT_EINVAL, "oneshot_run_progress: NULL run");
    if (!p)
        return api_fail(r->ctx, ONESHOT_EINVAL, "oneshot_run_progress: NULL output pointer");
    *p = (oneshot_progress){.epoch = r->t.pr.epoch, .epochs = r->t.set.epochs, .step = r->t.pr.batch,
                            .steps = os_trainer_steps(&r->t, &r->data->d), .global_step = r->t.pr.global_step};
    return ONESHOT_OK;
}

int oneshot_run_epoch_index(const oneshot_run *r)
{
    if (!r)
        return api_fail(NULL, ONESHOT_EINVAL, "oneshot_run_epoch_index: NULL run"), -1;
    return r->t.pr.epoch;
}

int oneshot_run_finished(const oneshot_run *r)
{
    if (!r)
        return api_fail(NULL, ONESHOT_EINVAL, "oneshot_run_finished: NULL run"), -1;
    return r->t.pr.epoch >= r->t.set.epochs;
}

/* ---- evaluation and the architecture --------------------------------------------------------- */
typedef struct {
    oneshot_run *r;
    double loss, acc;
    char *json;
    os_arch w, child;      /* derive: the supernet and child forms */
} out_args;

/* a search's alphas must be finite to be read as an architecture */
static int check_alphas(oneshot_ctx *c, const os_net *net, const char *fn)
{
    for (int i = 0; i < net->n_choices; i++) {
        const os_choice *ch = &net->choices[i];
        float v[OS_MAX_CANDIDATES];
        os_tensor_to_host(ch->alpha, v);
        for (int k = 0; k < ch->n; k++)
            if (!isfinite(v[k]))
                return api_fail(c, ONESHOT_ENAN, "%s: alpha %d of choice '%s' is %g: the search diverged (load a "
                                "checkpoint)", fn, k, ch->label, (double)v[k]);
    }
    return ONESHOT_OK;
}

static int evaluate_work(oneshot_ctx *c, void *arg)
{
    out_args *a = arg;
    /* a strategy's evaluation reads the alphas (gdas: their argmax path) */
    int st = a->r->strategy ? check_alphas(c, &a->r->model->net, "oneshot_run_evaluate") : ONESHOT_OK;
    if (st)
        return st;
    os_run_data *d = &a->r->data->d;
    os_trainer_evaluate(&a->r->t, d->tl, d->xb, d->yb, 0, &a->loss, &a->acc);
    return ONESHOT_OK;
}

int oneshot_run_evaluate(oneshot_run *r, double *loss, double *accuracy)
{
    if (loss)
        *loss = NAN;
    if (accuracy)
        *accuracy = NAN;
    if (!r)
        return api_fail(NULL, ONESHOT_EINVAL, "oneshot_run_evaluate: NULL run");
    int st = usable(r, "oneshot_run_evaluate", 0);
    if (st)
        return st;
    out_args a = {.r = r};
    st = api_run_call(r, evaluate_work, NULL, &a);
    if (!st && loss)
        *loss = a.loss;
    if (!st && accuracy)
        *accuracy = a.acc;
    return st;
}

static int derive_work(oneshot_ctx *c, void *arg)
{
    out_args *a = arg;
    oneshot_run *r = a->r;
    if (!r->strategy) {
        a->json = os_arch_json(r->model->space, &r->model->arch, NULL);
        return ONESHOT_OK;
    }
    int st = check_alphas(c, &r->model->net, "oneshot_run_derive");
    if (st)
        return st;
    os_derive_opts o = {.max_skip = r->opts.max_skip};
    if (os_trainer_derive(&r->t, &o, &a->w, &a->child))
        return api_fail(c, ONESHOT_EIO, "oneshot_run_derive: %s", os_last_error());
    a->json = os_arch_json(r->model->space, &a->child, &a->w);
    return ONESHOT_OK;
}

static void derive_undo(void *arg)
{
    out_args *a = arg;
    free(a->json);
    a->json = NULL;
}

int oneshot_run_derive(oneshot_run *r, char **json)
{
    if (json)
        *json = NULL;
    if (!r)
        return api_fail(NULL, ONESHOT_EINVAL, "oneshot_run_derive: NULL run");
    if (!json)
        return api_fail(r->ctx, ONESHOT_EINVAL, "oneshot_run_derive: NULL output pointer");
    int st = usable(r, "oneshot_run_derive", 0);
    if (st)
        return st;
    out_args a = {.r = r};
    st = api_run_call(r, derive_work, derive_undo, &a);
    os_arch_free(&a.w);
    os_arch_free(&a.child);
    if (!st && !a.json)
        st = api_fail(r->ctx, ONESHOT_EIO, "oneshot_run_derive: out of memory");
    if (st)
        free(a.json);
    else
        *json = a.json;
    return st;
}
