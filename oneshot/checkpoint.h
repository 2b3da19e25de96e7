/* oneshot/checkpoint.h — save and restore a run (safetensors).
 *
 * Tensor names: "weights/<param>", "arch/<label>", "buffers/<name>",
 * "wopt/<state>", "aopt/<state>". Metadata: "config" (JSON), "space",
 * "input" ("CxHxW"), "classes", "epoch", "batch" (next batch of that epoch),
 * "global_step", "wopt_steps", "aopt_steps", "rng" (Gumbel RNG state, hex),
 * "acc" (the running epoch sums, JSON), "best" (unused keys are ignored).
 * Writes are atomic (tensor/safetensors.h): a failed save leaves the
 * previous checkpoint as it was. */
#ifndef OS_CHECKPOINT_H
#define OS_CHECKPOINT_H

#include "oneshot/run.h"

typedef struct os_progress {
    int epoch, batch;      /* where to continue */
    long global_step;
    double loss_sum;       /* running sums of the current epoch */
    long correct, seen;
    double seconds;        /* time spent in this epoch so far */
} os_progress;

int os_checkpoint_save(const char *path, const os_config *c, os_net *net, os_optim *wopt, os_optim *aopt,
                       const os_rng *rng, const os_progress *p);
/* Loads into an already built net/optimizers; checks that space, input shape
 * and classes match. 0, or -1 with os_error(). */
int os_checkpoint_load(const char *path, os_net *net, os_optim *wopt, os_optim *aopt, os_rng *rng,
                       os_progress *p);
/* The config stored in a checkpoint (for resume/eval). */
int os_checkpoint_config(const char *path, os_config *c);

#endif
