/* search/data.c — datasets, splits and loaders for a run (data.h). */
#include "search/data.h"
#include "tensor/error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int fail(os_run_data *d)
{
    os_run_data_close(d);
    return -1;
}

/* The settings alone, before anything is read. */
static int check_settings(const os_data_settings *c)
{
    if (c->batch < 1)
        return os_error("--batch %d: the batch size must be at least 1", c->batch);
    if (c->subset < 0)
        return os_error("--subset %d: give a number of training images per class, or 0 for all", c->subset);
    if (c->test_subset < 0)
        return os_error("--test-subset %d: give a number of test images per class, or 0 for all", c->test_subset);
    if (c->crop_pad < 0)
        return os_error("--crop-pad %d: the crop padding must be 0 (no random crop) or more", c->crop_pad);
    if (c->cutout < 0)
        return os_error("--cutout %d: the cutout size must be 0 (no cutout) or more", c->cutout);
    if (c->search && !(c->train_portion > 0 && c->train_portion < 1))
        return os_error("--train-portion %g: the fraction of the training images for the weights must be between 0 "
                        "and 1 (the rest train the architecture; DARTS: 0.5)", (double)c->train_portion);
    return 0;
}

/* The test split must be shaped as the training split, with its classes. */
static int check_splits(const os_dataset *tr, const os_dataset *te)
{
    if (tr->c != te->c || tr->h != te->h || tr->w != te->w)
        return os_error("the test images are %dx%dx%d (channels x height x width; first image %s) but the training "
                        "images are %dx%dx%d (first image %s): a network trained on one cannot be tested on the "
                        "other; convert the test images to the training images' size and channels",
                        te->c, te->h, te->w, te->first, tr->c, tr->h, tr->w, tr->first);
    if (tr->num_classes != te->num_classes)
        return os_error("the test split %s has %d classes but the training split %s has %d: give both splits the "
                        "same classes", te->source, te->num_classes, tr->source, tr->num_classes);
    return 0;
}

/* At least two classes among the training images. */
static int check_classes(const os_dataset *tr)
{
    for (int i = 1; i < tr->n; i++)
        if (tr->labels[i] != tr->labels[0])
            return 0;
    int k = tr->labels[0];
    const char *name = tr->class_names ? tr->class_names[k] : NULL;
    return os_error("%s: every training image (%d) is of class %d%s%s%s: a classifier needs at least two classes; "
                    "check the labels (or the class folders)", tr->source, tr->n, k, name ? " ('" : "",
                    name ? name : "", name ? "')" : "");
}

/* Augmentation that fits the image. */
static int check_augment(const os_data_settings *c, const os_dataset *tr)
{
    int small = tr->h < tr->w ? tr->h : tr->w, big = tr->h > tr->w ? tr->h : tr->w;
    if (c->crop_pad >= small)
        return os_error("--crop-pad %d: the crop padding must be smaller than the image (%dx%d, height x width), "
                        "or 0 for no random crop", c->crop_pad, tr->h, tr->w);
    if (c->cutout > big)
        return os_error("--cutout %d: the cutout square is larger than the image (%dx%d, height x width): use at "
                        "most %d, or 0 for no cutout", c->cutout, tr->h, tr->w, big);
    return 0;
}

static const char *channel_name(int c, int k)
{
    static const char *const rgb[] = {"red", "green", "blue", "alpha"}, *const ga[] = {"grey", "alpha"};
    return c <= 2 ? ga[k] : rgb[k];
}

int os_run_data_open(os_run_data *d, const os_data_settings *c)
{
    memset(d, 0, sizeof *d);
    if (check_settings(c))
        return -1;
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
    if (check_splits(&d->train, &d->test) || check_classes(&d->train) || (need_train && check_augment(c, &d->train)))
        return fail(d);
    if (search) {
        if (os_split_train_arch(&d->train, c->train_portion, (uint64_t)c->seed, &d->idx_w, &d->n_w, &d->idx_a,
                                &d->n_a))
            return fail(d);
    } else {
        d->n_w = d->train.n;
        d->idx_w = malloc(sizeof(int32_t) * (size_t)d->n_w);
        if (!d->idx_w) {
            os_error("%s: out of memory for %d indices", d->train.source, d->n_w);
            return fail(d);
        }
        for (int i = 0; i < d->n_w; i++)
            d->idx_w[i] = i;
    }
    if (d->n_w == 0) {
        os_error("%s: %d training images leave none for the weights at --train-portion %g: use more images",
                 d->train.source, d->train.n, (double)c->train_portion);
        return fail(d);
    }
    if (need_train && (d->n_w < c->batch || (search && d->n_a < c->batch))) {
        os_error("%s: %d training images (%d for weights, %d for the architecture) are fewer than "
                 "one batch of %d: lower --batch or use more images", d->train.source, d->train.n, d->n_w, d->n_a,
                 c->batch);
        return fail(d);
    }
    os_dataset_channel_stats(&d->train, d->idx_w, d->n_w, d->mean, d->std);
    for (int k = 0; k < d->train.c; k++)
        if (!(d->std[k] > 0)) {
            os_error("%s: channel %d (%s) of the %d training images%s is constant (every pixel %.0f of 255): it "
                     "carries no information and cannot be normalised; check the images (first image %s)",
                     d->train.source, k, channel_name(d->train.c, k), d->n_w, search ? " for the weights" : "",
                     (double)d->mean[k] * 255.0, d->train.first);
            return fail(d);
        }
    /* without training, the batch only sizes the test batches: no larger than the test split */
    if (!need_train && d->batch > d->test.n)
        d->batch = d->test.n;
    os_loader_opts o = {
        .batch_size = d->batch, .shuffle = true, .drop_last = true, .seed = (uint64_t)c->seed,
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
    /* evaluation: unaugmented, one fixed shuffled order (data.h) */
    os_loader_opts t = {.batch_size = d->batch, .shuffle = true, .seed = (uint64_t)c->seed ^ 0x6576616cull, /* "eval" */
                        .mean = d->mean, .std = d->std, .prefetch = true};
    d->tl = os_loader_new(&d->test, NULL, d->test.n, &t);
    if (search) {
        t.batch_size = c->batch; /* the test batches' cap above is not the architecture half's */
        t.prefetch = false;      /* read by evolve only: no idle thread in a training run */
        d->vl = os_loader_new(&d->train, d->idx_a, d->n_a, &t);
    }
    size_t img = (size_t)d->train.c * d->train.h * d->train.w;
    d->xb = malloc(sizeof(float) * img * (size_t)d->batch * 2);
    d->yb = malloc(sizeof(int32_t) * (size_t)d->batch * 2);
    if (!d->xb || !d->yb) {
        os_error("out of memory for two batches of %d images of %dx%dx%d: lower --batch", d->batch, d->train.c,
                 d->train.h, d->train.w);
        return fail(d);
    }
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
    if (d->vl)
        os_loader_free(d->vl);
    os_dataset_free(&d->train);
    os_dataset_free(&d->test);
    free(d->idx_w);
    free(d->idx_a);
    free(d->xb);
    free(d->yb);
    memset(d, 0, sizeof *d);
}
