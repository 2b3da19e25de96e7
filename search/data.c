/* search/data.c — datasets, splits and loaders for a run (data.h). */
#include "search/data.h"
#include "tensor/error.h"

#include <stdlib.h>
#include <string.h>

static int fail(os_run_data *d)
{
    os_run_data_close(d);
    return -1;
}

int os_run_data_open(os_run_data *d, const os_data_settings *c)
{
    memset(d, 0, sizeof *d);
    int search = c->search, need_train = c->need_train;
    d->batch = c->batch;
    const char *path = c->path && c->path[0] ? c->path : NULL;
    const char *fmt = c->format && c->format[0] ? c->format : NULL;
    os_load_opts lo = {.format = fmt, .split = OS_SPLIT_TRAIN, .max_per_class = c->subset};
    if (os_dataset_load_opts(path, &lo, &d->train))
        return fail(d);
    lo.split = OS_SPLIT_TEST;
    lo.max_per_class = c->test_subset;
    if (os_dataset_load_opts(path, &lo, &d->test))
        return fail(d);
    if (d->train.c > 4) {
        os_error("%s: %d channels (at most 4 supported)", d->train.source, d->train.c);
        return fail(d);
    }
    if (search) {
        if (os_split_train_arch(&d->train, c->train_portion, (uint64_t)c->seed, &d->idx_w, &d->n_w, &d->idx_a,
                                &d->n_a))
            return fail(d);
    } else {
        d->n_w = d->train.n;
        d->idx_w = malloc(sizeof(int32_t) * (size_t)d->n_w);
        for (int i = 0; i < d->n_w; i++)
            d->idx_w[i] = i;
    }
    if (need_train && (d->n_w < c->batch || (search && d->n_a < c->batch))) {
        os_error("%s: %d training images (%d for weights, %d for the architecture) are fewer than "
                 "one batch of %d", d->train.source, d->train.n, d->n_w, d->n_a, c->batch);
        return fail(d);
    }
    os_dataset_channel_stats(&d->train, d->idx_w, d->n_w, d->mean, d->std);
    os_loader_opts o = {
        .batch_size = c->batch, .shuffle = true, .drop_last = true, .seed = (uint64_t)c->seed,
        .mean = d->mean, .std = d->std, .crop_pad = c->crop_pad, .flip = c->flip != 0,
        .cutout = c->cutout, .prefetch = true,
    };
    if (need_train) {
        d->wl = os_loader_new(&d->train, d->idx_w, d->n_w, &o);
        if (search) {
            o.seed = (uint64_t)c->seed + 7919;
            d->al = os_loader_new(&d->train, d->idx_a, d->n_a, &o);
        }
    }
    os_loader_opts t = {.batch_size = c->batch, .mean = d->mean, .std = d->std, .prefetch = true};
    d->tl = os_loader_new(&d->test, NULL, d->test.n, &t);
    size_t img = (size_t)d->train.c * d->train.h * d->train.w;
    d->xb = malloc(sizeof(float) * img * (size_t)c->batch * 2);
    d->yb = malloc(sizeof(int32_t) * (size_t)c->batch * 2);
    return 0;
}

void os_run_data_close(os_run_data *d)
{
    if (d->wl)
        os_loader_free(d->wl);
    if (d->al)
        os_loader_free(d->al);
    if (d->tl)
        os_loader_free(d->tl);
    os_dataset_free(&d->train);
    os_dataset_free(&d->test);
    free(d->idx_w);
    free(d->idx_a);
    free(d->xb);
    free(d->yb);
    memset(d, 0, sizeof *d);
}
