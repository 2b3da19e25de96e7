/* api/data.c — oneshot_data: a dataset's splits and loaders (include/oneshot.h). */
#include "api/internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void oneshot_data_opts_default(oneshot_data_opts *o)
{
    if (!o)
        return;
    /* the DARTS search protocol, as `oneshot train` */
    *o = (oneshot_data_opts){.format = NULL, .batch = 64, .seed = 2, .split = 1, .train_portion = 0.5f,
                             .crop_pad = 4, .flip = 1};
}

static int check_opts(oneshot_ctx *c, const oneshot_data_opts *o)
{
    static const char *const formats[] = {"auto", "cifar10", "cifar100", "idx", "folder"};
    int known = !o->format || !o->format[0];
    for (size_t i = 0; i < sizeof formats / sizeof formats[0] && !known; i++)
        known = !strcmp(o->format, formats[i]);
#define BAD(...) api_fail(c, ONESHOT_EINVAL, "oneshot_data_open: " __VA_ARGS__)
    if (!known)
        return BAD("unknown format '%s' (cifar10, cifar100, idx, folder, or NULL to detect)", o->format);
    if (o->batch < 1)
        return BAD("batch %d must be at least 1", o->batch);
    if (o->subset < 0 || o->test_subset < 0)
        return BAD("subset %d and test_subset %d must be >= 0 (0 = all)", o->subset, o->test_subset);
    if (o->split != 0 && o->split != 1)
        return BAD("split %d must be 1 or 0", o->split);
    if (o->split && !(o->train_portion > 0 && o->train_portion < 1))
        return BAD("train_portion %g must lie strictly between 0 and 1", (double)o->train_portion);
    if (o->crop_pad < 0 || o->crop_pad > 1024 || o->cutout < 0 || o->cutout > 1 << 16)
        return BAD("crop_pad %d (0..1024) or cutout %d (0..65536) out of range", o->crop_pad, o->cutout);
    if (o->flip != 0 && o->flip != 1)
        return BAD("flip %d must be 1 or 0", o->flip);
#undef BAD
    return ONESHOT_OK;
}

typedef struct {
    const char *path;
    const oneshot_data_opts *o;
    oneshot_data *d;
} open_args;

static int open_work(oneshot_ctx *c, void *arg)
{
    open_args *a = arg;
    const oneshot_data_opts *o = a->o;
    os_data_settings s = {.path = a->path, .format = o->format, .subset = o->subset, .test_subset = o->test_subset,
                          .batch = o->batch, .seed = o->seed, .search = o->split, .train_portion = o->train_portion,
                          .need_train = 1, .crop_pad = o->crop_pad, .flip = o->flip, .cutout = o->cutout};
    if (os_run_data_open(&a->d->d, &s))
        return api_fail_os(c, ONESHOT_EIO);
    if (c->log) {
        char desc[700];
        os_dataset_describe(&a->d->d.train, desc, sizeof desc);
        api_log(c, "data: %s", desc);
        if (o->split)
            api_log(c, "      split %d images for weights, %d for the architecture", a->d->d.n_w, a->d->d.n_a);
        if (a->d->d.train.warning[0])
            api_log(c, "warning: %s", a->d->d.train.warning);
    }
    return ONESHOT_OK;
}

static void open_undo(void *arg)
{
    open_args *a = arg;
    os_run_data_close(&a->d->d);
}

int oneshot_data_open(oneshot_ctx *ctx, const char *path, const oneshot_data_opts *o, oneshot_data **out)
{
    if (out)
        *out = NULL;
    if (!ctx)
        return api_fail(NULL, ONESHOT_EINVAL, "oneshot_data_open: NULL context");
    if (!out)
        return api_fail(ctx, ONESHOT_EINVAL, "oneshot_data_open: NULL output pointer");
    oneshot_data_opts dflt;
    if (!o) {
        oneshot_data_opts_default(&dflt);
        o = &dflt;
    }
    int st = check_opts(ctx, o);
    if (st)
        return st;
    open_args a = {.path = path && path[0] ? path : NULL, .o = o, .d = calloc(1, sizeof(oneshot_data))};
    if (!a.d)
        return api_fail(ctx, ONESHOT_EIO, "oneshot_data_open: out of memory");
    st = api_call(ctx, open_work, open_undo, &a);
    if (st) {
        free(a.d);
        return st;
    }
    a.d->ctx = ctx;
    a.d->refs = 1;
    a.d->split = o->split;
    a.d->opts = *o;
    snprintf(a.d->path, sizeof a.d->path, "%s", a.path ? a.path : "");
    snprintf(a.d->format, sizeof a.d->format, "%s", o->format ? o->format : "");
    a.d->opts.format = a.d->format;
    api_ctx_ref(ctx);
    *out = a.d;
    return ONESHOT_OK;
}

static int close_work(oneshot_ctx *c, void *arg)
{
    (void)c;
    os_run_data_close(&((oneshot_data *)arg)->d);
    return ONESHOT_OK;
}

void api_data_unref(oneshot_data *d)
{
    if (--d->refs > 0)
        return;
    oneshot_ctx *c = d->ctx;
    api_call(c, close_work, NULL, d);
    free(d);
    api_ctx_unref(c);
}

void oneshot_data_free(oneshot_data *d)
{
    if (!d || d->freed)
        return;
    d->freed = 1;
    api_data_unref(d);
}

int oneshot_data_get_info(const oneshot_data *d, oneshot_data_info *info)
{
    if (info)
        memset(info, 0, sizeof *info);
    if (!d)
        return api_fail(NULL, ONESHOT_EINVAL, "oneshot_data_get_info: NULL data");
    if (!info)
        return api_fail(d->ctx, ONESHOT_EINVAL, "oneshot_data_get_info: NULL output pointer");
    const os_run_data *r = &d->d;
    *info = (oneshot_data_info){.channels = r->train.c, .height = r->train.h, .width = r->train.w,
                                .classes = r->train.num_classes, .train_images = r->train.n,
                                .test_images = r->test.n, .weight_images = r->n_w, .arch_images = r->n_a,
                                .batch = r->batch, .split = d->split};
    return ONESHOT_OK;
}
