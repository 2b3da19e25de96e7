/* oneshot/trained.c — a finished search run opened again (oneshot/trained.h). */
#include "oneshot/trained.h"
#include "search/trainer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int os_trained_batch(void *arg, int i, os_batch *b)
{
    os_trained_source *s = arg;
    if (i == 0)
        os_loader_seek(s->l, 0, 0);
    int n = os_loader_next(s->l, s->x, s->y);
    if (n <= 0)
        return 0;
    *b = (os_batch){.x = s->x, .y = s->y, .n = n};
    return 1;
}

static int fail(void)
{
    fprintf(stderr, "oneshot: %s\n", os_last_error());
    return 1;
}

int os_trained_config(os_trained *t, const os_config *c)
{
    snprintf(t->ckpt, sizeof t->ckpt, "%s/checkpoint.safetensors", c->run);
    cJSON *j = os_checkpoint_config_json(t->ckpt);
    os_config_defaults(&t->rc, OS_CMD_TRAIN);
    int bad = !j || os_config_from_json(&t->rc, j);
    cJSON_Delete(j);
    return bad ? fail() : 0;
}

int os_trained_open(os_trained *t, const os_config *c)
{
    os_config *rc = &t->rc;
    t->sp = os_space_find(rc->space);
    if (!t->sp)
        return os_error("%s: unknown space '%s' in the checkpoint", t->ckpt, rc->space), fail();
    if (c->data[0])
        snprintf(rc->data, sizeof rc->data, "%s", c->data);
    if (c->format[0])
        snprintf(rc->format, sizeof rc->format, "%s", c->format);
    int batch = t->batch = c->batch > 0 ? c->batch : rc->batch;
    /* the run's split: weights half (recalibration), architecture half (validation) */
    os_data_settings ds = {.path = rc->data, .format = rc->format, .subset = rc->subset, .test_subset = 1,
                           .batch = batch, .seed = (uint64_t)rc->seed, .search = 1,
                           .train_portion = rc->train_portion};
    if (os_run_data_open(&t->d, &ds))
        return fail();
    os_run_data *d = &t->d;
    if (d->n_w < 1 || d->n_a < 1)
        return os_error("%s: the run's split leaves %d images for recalibration and %d for validation", c->run,
                        d->n_w, d->n_a), fail();
    os_loader_opts lo = {.batch_size = batch, .shuffle = true, .drop_last = true, .seed = (uint64_t)rc->seed,
                         .mean = d->mean, .std = d->std, .crop_pad = rc->crop_pad, .flip = rc->flip != 0,
                         .cutout = rc->cutout};
    t->recal_l = os_loader_new(&d->train, d->idx_w, d->n_w, &lo);
    t->xb = malloc(sizeof(float) * (size_t)d->train.c * d->train.h * d->train.w * (size_t)batch);
    t->yb = malloc(sizeof(int32_t) * (size_t)batch);
    if (!t->xb || !t->yb)
        return os_error("out of memory for batches of %d images of %dx%dx%d: lower --batch", batch, d->train.c,
                        d->train.h, d->train.w), fail();
    t->recal = (os_trained_source){t->recal_l, t->xb, t->yb};
    t->val = (os_trained_source){d->vl, t->xb, t->yb}; /* unaugmented, one fixed shuffled order (data.h) */
    char desc[700];
    os_dataset_describe(&d->train, desc, sizeof desc);
    int nb = os_loader_batches_per_epoch(t->recal_l), nv = os_loader_batches_per_epoch(d->vl);
    nb = c->bn_batches < nb ? c->bn_batches : nb;
    nv = c->val_batches > 0 && c->val_batches < nv ? c->val_batches : nv;
    if (rc->bn_batch_stats)
        printf("data: %s\n      BN: batch statistics (the run's protocol), nothing to recalibrate; validation: %d "
               "batches of %d from the run's %d architecture images\n", desc, nv, batch, d->n_a);
    else
        printf("data: %s\n      BN recalibration: %d batches of %d from the run's %d weight images; validation: %d "
               "batches from its %d architecture images\n", desc, nb, batch, d->n_w, nv, d->n_a);
    if (!rc->bn_batch_stats && c->bn_batches > 0 && nb < c->bn_batches)
        printf("      (--bn-batches %d: only %d whole batches there)\n", c->bn_batches, nb);

    os_space_opts so = {.cells = rc->cells, .channels = rc->channels, .bn_batch_stats = rc->bn_batch_stats,
                        .in_c = d->train.c, .in_h = d->train.h, .in_w = d->train.w,
                        .num_classes = d->train.num_classes, .seed = (uint64_t)rc->seed};
    if (t->sp->build(&t->net, &so))
        return fail();
    t->have_net = 1;
    if (os_checkpoint_load_net(t->ckpt, &t->net))
        return fail();
    return 0;
}

void os_trained_close(os_trained *t)
{
    if (t->have_net)
        os_net_free(&t->net);
    t->have_net = 0;
    if (t->recal_l)
        os_loader_free(t->recal_l);
    t->recal_l = NULL;
    free(t->xb);
    free(t->yb);
    t->xb = NULL;
    t->yb = NULL;
    os_run_data_close(&t->d);
}
