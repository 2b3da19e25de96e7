/* api/checkpoint.c — oneshot_run_save / oneshot_run_load (include/oneshot.h).
 *
 * The checkpoint is the trainer's (search/trainer.h). Its "config" metadata
 * uses the command line's keys (oneshot/config.c), so `oneshot eval` and
 * `oneshot export` read a run saved here as checkpoint.safetensors in a run
 * directory. A load checks everything that would make it fail part-way
 * (space, input shape, classes, strategy, every tensor's shape) before it
 * reads anything into the run. */
#include "api/internal.h"
#include "tensor/safetensors.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *config_text(const oneshot_run *r)
{
    const oneshot_train_opts *o = &r->opts;
    const oneshot_data *d = r->data;
    const oneshot_model *m = r->model;
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "command", r->strategy ? "train" : "retrain");
    cJSON_AddStringToObject(j, "space", m->space->name);
    if (r->strategy)
        cJSON_AddStringToObject(j, "strategy", r->strategy->name);
    cJSON_AddStringToObject(j, "data", d->path);
    cJSON_AddStringToObject(j, "format", d->format);
#define NUM(k, v) cJSON_AddNumberToObject(j, k, (double)(v))
    NUM("epochs", r->t.set.epochs);
    NUM("batch", d->opts.batch);
    NUM("cells", m->opts.cells);
    NUM("channels", m->opts.channels);
    NUM("subset", d->opts.subset);
    NUM("test-subset", d->opts.test_subset);
    NUM("seed", d->opts.seed);
    NUM("train-portion", d->opts.train_portion);
    NUM("lr", o->lr);
    NUM("lr-min", o->lr_min);
    NUM("momentum", o->momentum);
    NUM("weight-decay", o->weight_decay);
    NUM("grad-clip", o->grad_clip);
    NUM("max-skip", o->max_skip);
    NUM("auxiliary-weight", r->t.set.auxiliary_weight);
    NUM("drop-path", r->t.set.drop_path);
    NUM("label-smoothing", o->label_smoothing);
    NUM("cutout", d->opts.cutout);
    NUM("crop-pad", d->opts.crop_pad);
    NUM("flip", d->opts.flip);
    NUM("val-batches", o->val_batches);
    NUM("limit-steps", o->limit_steps);
    cJSON *api = cJSON_AddObjectToObject(j, "api");
    cJSON_AddNumberToObject(api, "version", ONESHOT_API_VERSION);
    cJSON_AddNumberToObject(api, "data_seed", (double)d->opts.seed);
    cJSON_AddNumberToObject(api, "model_seed", (double)m->opts.seed);
    cJSON_AddNumberToObject(api, "train_seed", (double)o->seed);
    cJSON_AddNumberToObject(api, "split", d->opts.split);
#undef NUM
    if (r->strategy)
        cJSON_AddItemToObject(j, "strategy_options",
                              os_options_to_json(r->strategy->options, r->strategy->n_options, r->t.options));
    char *txt = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    return txt;
}

typedef struct {
    oneshot_run *r;
    const char *path;
    char *config;
    os_st_file *f;
} ck_args;

static int save_work(oneshot_ctx *c, void *arg)
{
    ck_args *a = arg;
    a->config = config_text(a->r);
    if (!a->config)
        return api_fail(c, ONESHOT_EIO, "oneshot_run_save: out of memory");
    if (os_trainer_save(&a->r->t, a->path, a->config))
        return api_fail(c, ONESHOT_EIO, "oneshot_run_save: %s", os_last_error());
    return ONESHOT_OK;
}

int oneshot_run_save(oneshot_run *r, const char *path)
{
    if (!r)
        return api_fail(NULL, ONESHOT_EINVAL, "oneshot_run_save: NULL run");
    if (!path || !path[0])
        return api_fail(r->ctx, ONESHOT_EINVAL, "oneshot_run_save: no path");
    if (r->broken)
        return api_fail(r->ctx, ONESHOT_EINVAL, "oneshot_run_save: the run was interrupted by an error; its state "
                        "is not worth a checkpoint (load one into it, or free it)");
    ck_args a = {.r = r, .path = path};
    int st = api_run_call(r, save_work, NULL, &a);
    free(a.config);
    return st;
}

/* every tensor of a group in the file, of the same shape */
static int check_group(oneshot_ctx *c, const ck_args *a, const char *prefix, const os_params *g)
{
    char name[160];
    for (int i = 0; i < g->n; i++) {
        const os_tensor *t = g->t[i];
        snprintf(name, sizeof name, "%s/%s", prefix, t->name);
        const os_st_info *e = os_st_find(a->f, name);
        int same = e && e->ndim == t->ndim;
        for (int k = 0; same && k < t->ndim; k++)
            same = e->shape[k] == t->shape[k];
        if (!same)
            return api_fail(c, ONESHOT_EINVAL, "oneshot_run_load: %s: %s tensor '%s' %s (a run with other cells or "
                            "channels?)", a->path, e ? "the" : "no", name,
                            e ? "has another shape than this run's" : "in the checkpoint");
    }
    return ONESHOT_OK;
}

/* what the checkpoint's config says about how it was made */
static int check_config(oneshot_ctx *c, const ck_args *a)
{
    const oneshot_run *r = a->r;
    const char *txt = os_st_meta(a->f, "config");
    cJSON *j = txt ? cJSON_Parse(txt) : NULL;
    const cJSON *cmd = cJSON_GetObjectItemCaseSensitive(j, "command");
    const cJSON *st = cJSON_GetObjectItemCaseSensitive(j, "strategy");
    int search = cJSON_IsString(cmd) ? !strcmp(cmd->valuestring, "train") : cJSON_IsString(st);
    int rc = ONESHOT_OK;
    if (j && search != (r->strategy != NULL))
        rc = api_fail(c, ONESHOT_EINVAL, "oneshot_run_load: %s is the checkpoint of a %s, this run %s", a->path,
                      search ? "search" : "child's training", r->strategy ? "is a search" : "trains a child");
    else if (j && search && cJSON_IsString(st) && strcmp(st->valuestring, r->strategy->name))
        rc = api_fail(c, ONESHOT_EINVAL, "oneshot_run_load: %s is a search with strategy '%s', this run's is '%s'",
                      a->path, st->valuestring, r->strategy->name);
    cJSON_Delete(j);
    return rc;
}

static int load_work(oneshot_ctx *c, void *arg)
{
    ck_args *a = arg;
    oneshot_run *r = a->r;
    const os_net *net = &r->model->net;
    a->f = os_st_open(a->path);
    if (!a->f)
        return api_fail(c, ONESHOT_EIO, "oneshot_run_load: %s", os_last_error());
    const char *space = os_st_meta(a->f, "space"), *input = os_st_meta(a->f, "input"),
               *classes = os_st_meta(a->f, "classes");
    char in[64];
    snprintf(in, sizeof in, "%dx%dx%d", net->in_c, net->in_h, net->in_w);
    int st = ONESHOT_OK;
    if (!space || strcmp(space, net->space))
        st = api_fail(c, ONESHOT_EINVAL, "oneshot_run_load: %s: the checkpoint is of space '%s', this run's is '%s'",
                      a->path, space ? space : "?", net->space);
    else if (!input || strcmp(input, in) || !classes || atoi(classes) != net->num_classes)
        st = api_fail(c, ONESHOT_EINVAL, "oneshot_run_load: %s: the checkpoint takes %s images in %s classes, this "
                      "run %s in %d", a->path, input ? input : "?", classes ? classes : "?", in, net->num_classes);
    if (!st)
        st = check_config(c, a);
    if (!st)
        st = check_group(c, a, "weights", &net->weights);
    if (!st)
        st = check_group(c, a, "arch", &net->arch);
    if (!st)
        st = check_group(c, a, "buffers", &net->buffers);
    os_st_close(a->f);
    a->f = NULL;
    if (st)
        return st;
    if (os_trainer_load(&r->t, a->path)) {
        r->broken = 1; /* part of it may have been read */
        return api_fail(c, ONESHOT_EIO, "oneshot_run_load: %s", os_last_error());
    }
    r->broken = 0;
    return ONESHOT_OK;
}

static void load_undo(void *arg)
{
    ck_args *a = arg;
    if (a->f)
        os_st_close(a->f);
    a->f = NULL;
    a->r->broken = 1;
}

int oneshot_run_load(oneshot_run *r, const char *path)
{
    if (!r)
        return api_fail(NULL, ONESHOT_EINVAL, "oneshot_run_load: NULL run");
    if (!path || !path[0])
        return api_fail(r->ctx, ONESHOT_EINVAL, "oneshot_run_load: no path");
    ck_args a = {.r = r, .path = path};
    return api_call(r->ctx, load_work, load_undo, &a);
}
