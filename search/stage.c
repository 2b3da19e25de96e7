/* search/stage.c — the device batch stager (stage.h). */
#include "search/stage.h"
#include "tensor/backend.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    float *hx;          /* pinned host: batch images */
    int32_t *hy;        /* pinned host: batch labels */
    os_tensor *dx;      /* device [B, C, H, W] (persistent) */
    int32_t *dy;        /* device int32 [B] */
    os_tensor view;     /* dx's first n images: what a step gets */
    const os_loader *l; /* what it holds: l's batch (epoch, batch) of n images; l NULL: nothing */
    int epoch, batch, n;
    int pending;        /* an upload from hx / hy was queued and not waited for on the host */
} lane;

struct os_stage {
    os_device dev;
    const os_backend *be;
    int b, c, h, w, classes;
    size_t img; /* floats per image */
    lane ln[OS_STAGE_SLOTS][OS_STAGE_LANES];
    os_stage_counts counts;
};

os_stage *os_stage_new(os_device dev, int batch, int c, int h, int w, int classes)
{
    if (batch < 1 || c < 1 || h < 1 || w < 1 || classes < 1)
        os_fatal("stage: batches of %d images %dx%dx%d with %d classes", batch, c, h, w, classes);
    os_stage *s = calloc(1, sizeof *s);
    if (!s)
        os_fatal("stage: out of host memory");
    *s = (os_stage){.dev = dev, .be = os_backend_get(dev), .b = batch, .c = c, .h = h, .w = w,
                    .classes = classes, .img = (size_t)c * h * w};
    return s;
}

void os_stage_free(os_stage *s)
{
    if (!s)
        return;
    for (int k = 0; k < OS_STAGE_SLOTS; k++)
        s->be->upload_done(k); /* no copy may read a buffer freed below */
    for (int k = 0; k < OS_STAGE_SLOTS; k++)
        for (int j = 0; j < OS_STAGE_LANES; j++) {
            lane *ln = &s->ln[k][j];
            if (!ln->hx)
                continue;
            s->be->free_host(ln->hx);
            s->be->free_host(ln->hy);
            os_tensor_free(ln->dx);
            s->be->free(ln->dy);
        }
    free(s);
}

int os_stage_fits(const os_stage *s, os_device dev, int batch, int c, int h, int w, int classes)
{
    return s && s->dev == dev && s->b >= batch && s->c == c && s->h == h && s->w == w && s->classes == classes;
}

static lane *lane_at(os_stage *s, int slot, int ln, const char *what)
{
    if (slot < 0 || slot >= OS_STAGE_SLOTS || ln < 0 || ln >= OS_STAGE_LANES)
        os_fatal("stage: %s: slot %d lane %d outside %d x %d", what, slot, ln, OS_STAGE_SLOTS, OS_STAGE_LANES);
    return &s->ln[slot][ln];
}

/* the buffers of a (slot, lane), once */
static void lane_alloc(os_stage *s, lane *ln)
{
    if (ln->hx)
        return;
    ln->hx = s->be->alloc_host(sizeof(float) * s->img * (size_t)s->b);
    ln->hy = s->be->alloc_host(sizeof(int32_t) * (size_t)s->b);
    ln->dx = os_tensor_new_persistent(s->dev, 4, (int[]){s->b, s->c, s->h, s->w});
    ln->dy = s->be->alloc(sizeof(int32_t) * (size_t)s->b);
    if (!ln->dy)
        os_fatal("stage: out of %s memory for %d labels (%zu bytes); try a smaller --batch", os_device_name(s->dev),
                 s->b, sizeof(int32_t) * (size_t)s->b);
}

/* before the host writes the pinned buffers of (slot, lane): their last
 * upload has read them (one host wait covers the slot's lanes) */
static void lane_writable(os_stage *s, int slot, lane *ln)
{
    if (!ln->pending)
        return;
    s->be->upload_done(slot);
    s->counts.host_waits++;
    for (int j = 0; j < OS_STAGE_LANES; j++)
        s->ln[slot][j].pending = 0;
}

/* n images read into (slot, lane): check the labels, queue the upload */
static void lane_upload(os_stage *s, int slot, lane *ln, int n)
{
    for (int i = 0; i < n; i++)
        if (ln->hy[i] < 0 || ln->hy[i] >= s->classes)
            os_fatal("stage: label %d of image %d of the batch is outside [0, %d classes)", (int)ln->hy[i], i,
                     s->classes);
    ln->n = n;
    if (n == 0)
        return;
    s->be->upload(ln->dx->data, ln->hx, sizeof(float) * s->img * (size_t)n, slot);
    s->be->upload(ln->dy, ln->hy, sizeof(int32_t) * (size_t)n, slot);
    ln->pending = 1;
    s->counts.loads++;
}

int os_stage_load(os_stage *s, int slot, int lane_i, os_loader *l, int epoch, int batch)
{
    lane *ln = lane_at(s, slot, lane_i, "load");
    if (ln->l == l && ln->epoch == epoch && ln->batch == batch && ln->n > 0) {
        s->counts.reuses++;
        return ln->n;
    }
    lane_alloc(s, ln);
    lane_writable(s, slot, ln);
    ln->l = NULL;
    if (os_loader_epoch(l) != epoch || os_loader_batch(l) != batch)
        os_loader_seek(l, epoch, batch);
    int n = os_loader_next(l, ln->hx, ln->hy);
    if (n == 0) /* at the end-of-epoch mark: the next epoch's first batch */
        n = os_loader_next(l, ln->hx, ln->hy);
    lane_upload(s, slot, ln, n);
    if (n > 0) {
        ln->l = l;
        ln->epoch = epoch;
        ln->batch = batch;
    }
    return n;
}

int os_stage_next(os_stage *s, int slot, int lane_i, os_loader *l)
{
    lane *ln = lane_at(s, slot, lane_i, "next");
    lane_alloc(s, ln);
    lane_writable(s, slot, ln);
    ln->l = NULL; /* not a batch os_stage_load may reuse */
    int n = os_loader_next(l, ln->hx, ln->hy);
    lane_upload(s, slot, ln, n);
    return n;
}

os_batch os_stage_batch(os_stage *s, int slot, int lane_i)
{
    lane *ln = lane_at(s, slot, lane_i, "batch");
    if (!ln->hx || ln->n < 1)
        os_fatal("stage: slot %d lane %d holds no batch", slot, lane_i);
    s->be->upload_wait(slot);
    ln->view = *ln->dx;
    ln->view.shape[0] = ln->n;
    ln->view.flags = OS_PERSISTENT; /* a view: the stager owns the data */
    ln->view.grad = NULL;
    ln->view.node = NULL;
    snprintf(ln->view.name, sizeof ln->view.name, "batch");
    return (os_batch){.x = ln->hx, .y = ln->hy, .n = ln->n, .xd = &ln->view, .yd = ln->dy};
}

void os_stage_forget(os_stage *s)
{
    for (int k = 0; k < OS_STAGE_SLOTS; k++)
        for (int j = 0; j < OS_STAGE_LANES; j++) {
            s->ln[k][j].l = NULL;
            s->ln[k][j].n = 0;
        }
}

void os_stage_counts_get(const os_stage *s, os_stage_counts *c) { *c = s->counts; }
