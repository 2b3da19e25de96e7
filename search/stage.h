/* search/stage.h — the device batch stager: batches reach a non-CPU device
 * from pinned host memory, the copy of the next batch overlapping the step
 * on this one.
 *
 * Two slots (double buffering), each of up to OS_STAGE_LANES batches (lane
 * 0: the training batch, lane 1: the validation batch of a search step).
 * Every (slot, lane) owns, allocated once at its first use: a pinned host
 * batch (images and int32 labels, the backend's alloc_host) and the same on
 * the device (an image tensor [B, C, H, W], device int32 labels [B]). A
 * batch goes: loader -> pinned buffer (host) -> upload on the backend's copy
 * queue (tensor/backend.h) -> os_stage_batch, after which the kernels wait
 * for that upload. The trainer (search/trainer.c) fills the other slot and
 * queues its upload before it runs the step on this one:
 *
 *     os_stage_load(s, k & 1, 0, loader, epoch, k);        (held already: no-op)
 *     os_stage_load(s, (k + 1) & 1, 0, loader, epoch, k + 1); (copies during step k)
 *     os_batch b = os_stage_batch(s, k & 1, 0);
 *     ... step on b ...
 *
 * A pinned buffer is written again only after the host waited for its last
 * upload (upload_done). Batches are the loader's, in its order: a slot
 * remembers which (loader, epoch, batch) it holds, so a batch is read once.
 * Not for the CPU device (the trainer keeps its host path there); memory is
 * freed by os_stage_free. One thread at a time. */
#ifndef OS_STAGE_H
#define OS_STAGE_H

#include "datasets/datasets.h"
#include "search/step.h"

#define OS_STAGE_SLOTS 2
#define OS_STAGE_LANES 2

typedef struct os_stage os_stage;

/* Batches of up to `batch` images c x h x w with labels in [0, classes), on
 * dev. Nothing is allocated until a (slot, lane) is first filled. */
os_stage *os_stage_new(os_device dev, int batch, int c, int h, int w, int classes);
/* Waits for every upload, then frees the buffers (NULL: nothing). */
void os_stage_free(os_stage *s);
/* 1 when s stages such batches (else make a new one). */
int os_stage_fits(const os_stage *s, os_device dev, int batch, int c, int h, int w, int classes);

/* (slot, lane) gets the batch l returns at (epoch, batch), seeking l when it
 * stands elsewhere, as the trainer reads its loaders (a 0-sized end-of-epoch
 * batch is skipped); its upload is queued. Nothing is read when (slot, lane)
 * holds that batch of l already. Returns its size. */
int os_stage_load(os_stage *s, int slot, int lane, os_loader *l, int epoch, int batch);
/* (slot, lane) gets l's next batch, wherever l stands; returns its size, 0 at
 * the end of an epoch (nothing staged then). */
int os_stage_next(os_stage *s, int slot, int lane, os_loader *l);
/* The batch in (slot, lane) for a step: x and y the pinned host copies, xd
 * and yd on the device. Kernels queued after this call wait for its upload
 * (the host does not). Fatal if (slot, lane) holds no batch. */
os_batch os_stage_batch(os_stage *s, int slot, int lane);
/* Forget which batches the slots hold (their buffers stay). */
void os_stage_forget(os_stage *s);

/* Counters, for tests: batches read from a loader into a pinned buffer, and
 * host waits for an upload before a refill. */
typedef struct {
    long loads, reuses, host_waits;
} os_stage_counts;
void os_stage_counts_get(const os_stage *s, os_stage_counts *c);

#endif
