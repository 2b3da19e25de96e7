/* search/trainer.h — one training run, search or retrain, without a CLI.
 *
 * A trainer holds a network (a supernet with a strategy, or a child), the
 * weights' SGD with its cosine schedule, and where the run stands
 * (os_progress). The command-line tool (oneshot/) and the public API
 * (api/) both drive it:
 *
 *   os_trainer t;
 *   os_trainer_init(&t, net, space, &settings, strategy, strategy_options);
 *   [os_trainer_load(&t, checkpoint)]
 *   while (t.pr.epoch < settings.epochs) {
 *       os_trainer_run_epoch(&t, &data, &hooks);   -> 0 done, 1 stopped, -1 error
 *       os_trainer_evaluate(...); os_trainer_derive(...);
 *       os_trainer_end_epoch(&t); os_trainer_save(&t, path, config_json);
 *   }
 *   os_trainer_free(&t);
 *
 * Nothing here prints, exits or installs signal handlers: a caller learns
 * of every step through hooks and stops a run through hooks->should_stop.
 */
#ifndef OS_TRAINER_H
#define OS_TRAINER_H

#include "search/data.h"
#include "search/strategy.h"

typedef struct os_train_settings {
    int search;                 /* 1: a supernet with a strategy; 0: a child */
    int epochs, batch;
    uint64_t seed;
    float lr, lr_min, momentum, weight_decay, grad_clip, label_smoothing;
    float auxiliary_weight, drop_path; /* children of spaces with those features */
    int limit_steps;            /* at most this many steps an epoch (0 = all) */
    int no_stage;               /* a net off the CPU: 1 copies each batch where it is used instead of
                                   staging it (search/stage.h; for comparisons); the CPU never stages */
} os_train_settings;

/* Where a run stands (saved in checkpoints). */
typedef struct os_progress {
    int epoch, batch;           /* where to continue */
    long global_step;
    double loss_sum;            /* running sums of the current epoch */
    long correct, seen;
    double seconds;             /* time spent in this epoch so far */
} os_progress;

typedef struct os_trainer {
    os_net *net;
    const os_space *space;
    const os_strategy *strategy; /* NULL when training a child */
    void *state;                 /* the strategy's */
    void *options;               /* a copy of the strategy's options */
    os_optim *wopt;
    os_train_settings set;
    os_progress pr;
    float lr;                    /* this epoch's */
    struct os_stage *stage;      /* a net off the CPU: batches staged through pinned memory (search/stage.h) */
} os_trainer;

/* One step, for progress reports. */
typedef struct os_step_info {
    int epoch, epochs, step, steps;
    float loss;                  /* this step's */
    double mean_loss, accuracy;  /* the epoch's so far */
    double images_per_sec, eta_seconds;
} os_step_info;

typedef struct os_epoch_hooks {
    void (*on_step)(void *arg, const os_step_info *s);   /* optional */
    int (*should_stop)(void *arg);                        /* optional: nonzero stops after this step */
    void *arg;
} os_epoch_hooks;

int os_trainer_init(os_trainer *t, os_net *net, const os_space *space, const os_train_settings *s,
                    const os_strategy *strategy, const void *strategy_options);
void os_trainer_free(os_trainer *t);  /* not the net */

/* Steps per epoch with these loaders (limit_steps applied). */
int os_trainer_steps(const os_trainer *t, const os_run_data *d);
/* Run the rest of the current epoch (t->pr.epoch, from t->pr.batch).
 * 0: the epoch's steps are done; 1: should_stop asked to stop (t->pr says
 * where, for a checkpoint); OS_TRAIN_DIVERGED with os_error(): the loss was
 * not finite (the weights of that step were not updated); -1 with
 * os_error(): the strategy's step failed. */
#define OS_TRAIN_DIVERGED (-2)
int os_trainer_run_epoch(os_trainer *t, os_run_data *d, const os_epoch_hooks *h);
/* One training step on given batches (val: search only); the loop above is
 * made of these. */
int os_trainer_step(os_trainer *t, const os_batch *train, const os_batch *val, os_step_result *r);
/* After an epoch's steps: the progress moves to the next epoch. */
void os_trainer_end_epoch(os_trainer *t);

/* Mean loss and accuracy on a loader, up to max_batches (0 = all), without
 * gradients; a supernet is evaluated as its strategy chooses. */
void os_trainer_evaluate(os_trainer *t, os_loader *l, float *xb, int32_t *yb, int max_batches, double *loss,
                         double *acc);
/* Search: the architecture so far, in the supernet form (weights; may be
 * NULL) and the child form. 0, or -1 with os_error(). */
int os_trainer_derive(os_trainer *t, const os_derive_opts *o, os_arch *weights, os_arch *child);
/* Extra keys of an epoch's metrics (the strategy's, e.g. tau). */
void os_trainer_metrics(os_trainer *t, struct cJSON *record);

/* Checkpoints (safetensors, written atomically: a failed save leaves the
 * previous file as it was). Tensor names: "weights/<param>", "arch/<label>",
 * "buffers/<name>", "wopt/<state>", and the strategy's own ("aopt/...").
 * Metadata: "config" (the caller's JSON text), "space", "input" ("CxHxW"),
 * "classes", "epoch", "batch", "global_step", "wopt_steps", "acc", the
 * strategy's ("aopt_steps", "rng"), and the writer's CRC32 of every tensor
 * ("crc32/<tensor name>", tensor/safetensors.h).
 *
 * Loading checks the whole file before it changes anything: every tensor's
 * checksum (checkpoints written before checksums existed have none and load
 * as before), every float finite (weights, alphas, buffers, optimizer and
 * strategy state), the position ("epoch" 0..OS_MAX_EPOCHS, "batch",
 * "global_step" whole numbers >= 0, "acc" sums >= 0), and refuses a damaged
 * file before anything is loaded into the trainer or net. A failure is -1
 * with os_error() naming the file and the tensor or key. */
#define OS_MAX_EPOCHS 1000000
int os_trainer_save(os_trainer *t, const char *path, const char *config_json);
/* Into an initialised trainer of the same space, shape and strategy. */
int os_trainer_load(os_trainer *t, const char *path);
/* Only the network's tensors (eval, export); the same checks. */
int os_checkpoint_load_net(const char *path, os_net *net);
/* The "config" metadata of a checkpoint, parsed (caller frees), or NULL
 * with os_error(). */
struct cJSON *os_checkpoint_config_json(const char *path);

#endif
