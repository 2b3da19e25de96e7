/* oneshot/trained.h — a finished search run opened again to choose on its
 * supernet (`oneshot evolve`, `oneshot perturb`).
 *
 * It opens the run as `eval` does: its config and checkpoint give the space,
 * widths, data and split; --data and --format override a dataset that
 * moved. The supernet is rebuilt and gets the checkpoint's weights, alphas
 * and BN buffers. Two sources of batches, both of the selection's batch
 * size (--batch, default the run's):
 *   recal  the run's weight half, shuffled and augmented as in training
 *          (BN recalibration, --bn-batches)
 *   val    the run's architecture half, unaugmented, in one fixed shuffled
 *          order (search/data.h: d.vl), restarted for every evaluation
 *
 *   os_trained t = {0};
 *   int rc = os_trained_config(&t, c);     // the run's config: t.rc
 *   ... check t.rc (its strategy) ...
 *   rc = os_trained_open(&t, c);           // data, supernet, weights
 *   os_net_set_chooser(&t.net, ...);
 *   evaluate with os_trained_batch(&t.val, i, &b) ...
 *   os_trained_close(&t);
 */
#ifndef OS_TRAINED_H
#define OS_TRAINED_H

#include "oneshot/config.h"
#include "search/data.h"
#include "search/step.h"
#include "supernet/supernet.h"

typedef struct os_trained_source {
    os_loader *l;
    float *x;
    int32_t *y;
} os_trained_source;

typedef struct os_trained {
    os_config rc;            /* the run's configuration */
    char ckpt[700];          /* RUN/checkpoint.safetensors */
    os_run_data d;
    const os_space *sp;
    os_net net;
    int have_net;
    os_loader *recal_l;
    float *xb;               /* one batch of the selection's size (d's own */
    int32_t *yb;             /* buffers fit capped test batches only) */
    os_trained_source recal, val;
    int batch;
} os_trained;

/* The run's configuration (c->run) into t->rc. 0, or 1 after printing why
 * (no checkpoint, a damaged one). */
int os_trained_config(os_trained *t, const os_config *c);
/* Its data and supernet. Prints the data line with the batches --bn-batches
 * and --val-batches give. 0, or 1 after printing why. */
int os_trained_open(os_trained *t, const os_config *c);
void os_trained_close(os_trained *t);
/* os_batch_fn (search/path.h) over a source: batch i, the loader restarted
 * at its first batch when i == 0; 0 when the source is exhausted. */
int os_trained_batch(void *source, int i, os_batch *b);

#endif
