/* oneshot.h — the oneshot library's public API: one-shot neural
 * architecture search (DARTS, GDAS on the DARTS and NAS-Bench-201 spaces)
 * and the retraining of the architecture found, from C.
 *
 * A session:
 *
 *   oneshot_ctx *ctx = oneshot_ctx_new();
 *   oneshot_data_opts dopt;  oneshot_data_opts_default(&dopt);
 *   oneshot_data *data;      oneshot_data_open(ctx, path_or_NULL, &dopt, &data);
 *   oneshot_model_opts mopt; oneshot_model_opts_default(&mopt);
 *   oneshot_model *net;      oneshot_model_supernet(ctx, "nb201", data, &mopt, &net);
 *   oneshot_train_opts topt; oneshot_train_opts_default(&topt, ONESHOT_SEARCH);
 *   oneshot_run *run;        oneshot_run_new(ctx, net, data, "darts", &topt, &run);
 *   while (!oneshot_run_finished(run))  oneshot_run_epoch(run, NULL, NULL);
 *   char *json;              oneshot_run_derive(run, &json);   ... oneshot_free(json);
 *   oneshot_run_free(run); oneshot_model_free(net); oneshot_data_free(data);
 *   oneshot_ctx_free(ctx);
 *
 * Then retrain what was found: oneshot_model_child(ctx, json, NULL, data,
 * &mopt, &child) and a run with strategy NULL and ONESHOT_RETRAIN options.
 *
 * ERRORS. Every function that can fail returns an oneshot_status (0 =
 * ONESHOT_OK) and records one message naming what was wrong; read it with
 * oneshot_error(ctx). Functions given a handle record it in the handle's
 * context. A failure that has no context to record in (a NULL context or
 * handle, the listing functions) is recorded for the calling thread and
 * read with oneshot_error(NULL). On failure every output is cleared (NULL,
 * 0, NaN) and nothing is left allocated. The library never exits, never
 * aborts and never prints: it talks only through the log callback
 * (oneshot_set_log).
 * An internal programming error of the engine (a shape mismatch, a failed
 * allocation) is caught and returned as ONESHOT_EINTERNAL; a run that got
 * one refuses further work (ONESHOT_EINVAL) until a checkpoint is loaded
 * into it (oneshot_run_load) — free it or load.
 *
 * OPTIONS. Options are plain structs: fill one with its *_default()
 * function, then change fields. Fields are only ever added at the end, so
 * code that starts from the defaults keeps compiling. A strategy's own
 * options (e.g. DARTS' "arch-lr", GDAS' "tau-min") go by name as text,
 * range-checked (oneshot_strategy_option lists them).
 *
 * OWNERSHIP. Handles are reference counted among themselves: a run keeps
 * its model, data and context alive, a model and a data set their context,
 * so the *_free functions may be called in any order. A model is searched
 * or trained by one run at a time (a second oneshot_run_new on it fails
 * until the first run is freed); a data set may feed several runs one after
 * the other. Handles of one context are used with that context only.
 *
 * THREADS AND CONTEXTS. Each context owns the engine's state of its calls
 * (the autograd tape, grad mode, the step arenas): contexts are
 * independent, and two contexts may run at the same time on two threads.
 * One context, and the handles made with it, is used by one thread at a
 * time (it may move from thread to thread between calls). Callbacks run on
 * the calling thread, inside the call; they may call the library (another
 * context, or this one's getters such as oneshot_error), but must not free
 * or drive the run that called them. Process-wide, whatever the context:
 *  - the CPU thread count (OpenMP): oneshot_set_threads sets it for the
 *    whole process; give every context the same count. On a machine shared
 *    with other busy processes OpenMP's spin-waiting makes steps several
 *    times slower: start the program with GOMP_SPINCOUNT=300 in its
 *    environment (the oneshot command does so) or use fewer threads;
 *  - the engine's fatal handler: the library installs its own while any call
 *    runs (an internal error inside a call longjmps back to that call, on
 *    its thread) and puts the previous one back after the last call
 *    returns. A program that also uses the engine directly and installs a
 *    fatal handler of its own (tensor/error.h) does so while no call runs;
 *    an internal error outside any call goes to that handler (by default
 *    the engine prints it and exits). The engine checks its arguments
 *    before its OpenMP parallel regions, so its internal errors are raised
 *    on the calling thread, where the call catches them.
 */
#ifndef ONESHOT_H
#define ONESHOT_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define ONESHOT_API_VERSION 1

typedef struct oneshot_ctx oneshot_ctx;     /* errors, log callback, threads, the engine's state */
typedef struct oneshot_data oneshot_data;   /* a dataset: both splits and the loaders */
typedef struct oneshot_model oneshot_model; /* a network: a supernet, or a child architecture */
typedef struct oneshot_run oneshot_run;     /* a search (supernet + strategy) or a training (child) */

/* ---- status and errors ----------------------------------------------------------- */
typedef enum oneshot_status {
    ONESHOT_OK = 0,
    ONESHOT_EINVAL = 1,    /* bad argument or usage: NULL handle, unknown name, value out of range,
                              an architecture or checkpoint that does not fit (the CLI's exit 2) */
    ONESHOT_EIO = 2,       /* file, data or runtime failure: missing/corrupt file, disk full (exit 1) */
    ONESHOT_ENAN = 3,      /* the loss was not finite (that step's weights were not updated), or a
                              search's architecture parameters are not (derive, evaluate) */
    ONESHOT_ESTOPPED = 4,  /* a should_stop callback stopped the epoch; calling again continues it */
    ONESHOT_EINTERNAL = 5, /* an internal error of the engine, caught (the message says which) */
} oneshot_status;

/* The last error message of ctx, or with ctx NULL the calling thread's last
 * message that had no context to go to. "" when none. Valid until the next
 * failing call on the same context / thread. */
const char *oneshot_error(const oneshot_ctx *ctx);
/* "ONESHOT_OK", "ONESHOT_EINVAL", ...; "ONESHOT_?" for other values. */
const char *oneshot_status_name(int status);
/* Frees what the library returned to the caller (oneshot_run_derive's text). */
void oneshot_free(void *p);

/* ---- context ------------------------------------------------------------------------ */
/* NULL only when out of memory. */
oneshot_ctx *oneshot_ctx_new(void);
void oneshot_ctx_free(oneshot_ctx *ctx);            /* NULL: nothing */
/* Lines about what the library does (the data read, the network built, one
 * line per epoch, errors caught), without a trailing newline. NULL = silent
 * (the default). Called on the thread of the call that logs. */
typedef void (*oneshot_log_fn)(void *user, const char *line);
int oneshot_set_log(oneshot_ctx *ctx, oneshot_log_fn fn, void *user);
/* CPU threads of the kernels, 0 = all cores (the default). Process-wide
 * (see THREADS AND CONTEXTS); applied now and on every thread that calls
 * with this context. */
int oneshot_set_threads(oneshot_ctx *ctx, int n);

/* ---- what is available (no context; errors go to oneshot_error(NULL)) ---------------- */
int oneshot_space_count(void);
const char *oneshot_space_name(int i);          /* NULL when out of range */
const char *oneshot_space_summary(int i);
int oneshot_strategy_count(void);
const char *oneshot_strategy_name(int i);
const char *oneshot_strategy_summary(int i);

typedef struct oneshot_option_info {
    const char *name;       /* "arch-lr" */
    const char *type;       /* "int", "float", "bool" (1/0/true/false), "string" or
                               "enum" (one of the names its help lists) */
    double def, lo, hi;     /* default and the allowed closed range */
    const char *help;
} oneshot_option_info;
/* Option i of a strategy. ONESHOT_EINVAL for an unknown strategy or i out
 * of range; *count (may be NULL) gets the strategy's number of options. */
int oneshot_strategy_option(const char *strategy, int i, oneshot_option_info *info, int *count);

/* ---- data ------------------------------------------------------------------------- */
typedef struct oneshot_data_opts {
    const char *format;     /* NULL: detect; "cifar10", "cifar100", "idx" or "folder" */
    int subset;             /* only the first N training images of each class (0 = all) */
    int test_subset;        /* only the first N test images of each class (0 = all) */
    int batch;              /* batch size of every loader (64) */
    uint64_t seed;          /* the split and the shuffles (2) */
    int split;              /* 1: split the training set into a weights part and an
                               architecture part, as a search needs (default); 0: all
                               of it trains the weights (retraining a child) */
    float train_portion;    /* split: the weights' fraction (0.5) */
    int crop_pad;           /* random crop with this zero padding, 0 = off (4) */
    int flip;               /* random horizontal flip, 1/0 (1) */
    int cutout;             /* cutout square side, 0 = off (0; DARTS retraining: 16) */
} oneshot_data_opts;
void oneshot_data_opts_default(oneshot_data_opts *o);

/* Reads both splits of the dataset in the folder `path` (NULL: Fashion-MNIST
 * from /usr/share/datasets/fashion-mnist, Debian package
 * dataset-fashion-mnist) and makes the loaders; formats and layouts as in
 * README.md. o NULL = the defaults. */
int oneshot_data_open(oneshot_ctx *ctx, const char *path, const oneshot_data_opts *o, oneshot_data **out);
void oneshot_data_free(oneshot_data *d);

typedef struct oneshot_data_info {
    int channels, height, width, classes;
    int train_images, test_images;     /* after subset / test_subset */
    int weight_images, arch_images;    /* the two parts (arch_images 0 without split) */
    int batch, split;
} oneshot_data_info;
int oneshot_data_get_info(const oneshot_data *d, oneshot_data_info *info);

/* ---- models ------------------------------------------------------------------------ */
typedef struct oneshot_model_opts {
    int cells;              /* 0 = the space's default (cifar_cell: cells in all, 8 supernet / 20
                               child, at least 3; nb201: cells per stage, 5) */
    int channels;           /* initial channels; 0 = default (cifar_cell 16 / 36, nb201 16) */
    uint64_t seed;          /* weight initialisation (2) */
    int auxiliary;          /* children of spaces with an auxiliary head (cifar_cell): build it, 1/0 (1) */
} oneshot_model_opts;
void oneshot_model_opts_default(oneshot_model_opts *o);

/* A supernet of `space` ("cifar_cell", "nb201") for the input shape and
 * classes of `data`. o NULL = the defaults. */
int oneshot_model_supernet(oneshot_ctx *ctx, const char *space, const oneshot_data *data,
                           const oneshot_model_opts *o, oneshot_model **out);
/* A child network. `arch` is JSON text (arch.json as oneshot_run_derive
 * writes it, or NNI's flat label dict), the path of such a file, a named
 * architecture ("darts-v1", "darts-v2") or an nb201 arch string
 * ("|nor_conv_3x3~0|+|...|"). `space` NULL: the architecture's own; else
 * the architecture must be of that space (ONESHOT_EINVAL otherwise). */
int oneshot_model_child(oneshot_ctx *ctx, const char *arch, const char *space, const oneshot_data *data,
                        const oneshot_model_opts *o, oneshot_model **out);
void oneshot_model_free(oneshot_model *m);
const char *oneshot_model_space(const oneshot_model *m);   /* NULL for NULL */
int oneshot_model_is_supernet(const oneshot_model *m);     /* 1, 0; -1 for NULL */
long oneshot_model_params(const oneshot_model *m);         /* weights; -1 for NULL */
long oneshot_model_arch_params(const oneshot_model *m);    /* architecture parameters (alphas) */

/* ---- runs ---------------------------------------------------------------------------- */
enum { ONESHOT_SEARCH = 0, ONESHOT_RETRAIN = 1 };

typedef struct oneshot_train_opts {
    int epochs;             /* 0 = the protocol's: search 50 (gdas 250), retrain 600 */
    float lr, lr_min;       /* SGD on the weights, cosine from lr to lr_min (0.025 -> 0.001; retrain -> 0) */
    float momentum;         /* 0.9 */
    float weight_decay;     /* 3e-4 */
    float grad_clip;        /* global gradient-norm clip, 0 = off (5) */
    float label_smoothing;  /* 0 */
    float auxiliary_weight; /* retrain, a child with an auxiliary head: its loss weight (retrain 0.4) */
    float drop_path;        /* retrain, spaces with drop-path: probability, ramped (retrain 0.2) */
    int limit_steps;        /* at most this many steps an epoch (0 = all) */
    int val_batches;        /* search: validation batches at the end of an epoch (0 = all) */
    int max_skip;           /* cifar_cell derive: at most N skip_connect in the normal cell (-1 = off) */
    uint64_t seed;          /* per-step seeds and the strategy's random streams (2) */
    /* The strategy's own options as name/value text pairs, NULL-terminated:
     * {"arch-lr", "6e-4", "unrolled", "1", NULL}. NULL = its defaults. */
    const char *const *strategy_options;
} oneshot_train_opts;
/* kind: ONESHOT_SEARCH (the DARTS search protocol) or ONESHOT_RETRAIN (its
 * evaluation protocol). */
void oneshot_train_opts_default(oneshot_train_opts *o, int kind);

/* A search of a supernet with `strategy` ("darts", "gdas"), or with
 * strategy NULL the training of a child. data must have the model's input
 * shape and classes; a search needs data opened with split = 1 (a child on
 * such data trains on the weights' part only). o NULL = the defaults of the
 * kind. The run starts at epoch 0 (or where oneshot_run_load puts it). */
int oneshot_run_new(oneshot_ctx *ctx, oneshot_model *model, oneshot_data *data, const char *strategy,
                    const oneshot_train_opts *o, oneshot_run **out);
void oneshot_run_free(oneshot_run *r);

typedef struct oneshot_step_info {
    int epoch, epochs;      /* epoch counted from 0, of epochs */
    int step, steps;        /* step of the epoch counted from 0, of steps */
    long global_step;       /* steps taken in the run, this one included */
    float loss;             /* this step's mean loss */
    double mean_loss, accuracy;        /* the epoch's so far */
    double images_per_sec, eta_seconds;
} oneshot_step_info;

typedef struct oneshot_epoch_info {
    int epoch;              /* the epoch that ended, counted from 0 */
    double train_loss, train_acc;
    double val_loss, val_acc;   /* search: the architecture part (val_batches); retrain: the test split */
    float lr;
    double seconds;         /* training steps only */
} oneshot_epoch_info;

typedef struct oneshot_callbacks {
    void (*on_step)(void *user, const oneshot_step_info *s);   /* optional, after every step */
    int (*should_stop)(void *user);   /* optional: nonzero stops after this step (ONESHOT_ESTOPPED) */
    void *user;
} oneshot_callbacks;

/* One training step (search: the strategy's step, e.g. an architecture and
 * a weight step). After an epoch's last step the run moves to the next
 * epoch, without the validation oneshot_run_epoch does. info may be NULL.
 * ONESHOT_ENAN: the loss was not finite; ONESHOT_EINVAL when every epoch
 * is done. */
int oneshot_run_step(oneshot_run *r, oneshot_step_info *info);
/* The rest of the current epoch, then its validation; the run then stands
 * at the next epoch. cb and info may be NULL. ONESHOT_ESTOPPED: should_stop
 * asked to stop, the run stands after that step and a next call continues
 * the epoch. */
int oneshot_run_epoch(oneshot_run *r, const oneshot_callbacks *cb, oneshot_epoch_info *info);

typedef struct oneshot_progress {
    int epoch, epochs;      /* epochs done, of epochs */
    int step, steps;        /* steps done in the current epoch, of steps */
    long global_step;
} oneshot_progress;
int oneshot_run_progress(const oneshot_run *r, oneshot_progress *p);
int oneshot_run_epoch_index(const oneshot_run *r);    /* epochs done; -1 for NULL */
int oneshot_run_finished(const oneshot_run *r);       /* 1 when every epoch is done; -1 for NULL */

/* Test-split loss and accuracy (a supernet as its strategy evaluates it). */
int oneshot_run_evaluate(oneshot_run *r, double *loss, double *accuracy);
/* arch.json text (malloc'd; oneshot_free): a search's architecture so far
 * ("space", NNI labels "arch", the space's extras, the choices'
 * probabilities "probs"), a retrain's the architecture it trains. */
int oneshot_run_derive(oneshot_run *r, char **json);
/* Checkpoint (safetensors, written atomically: a failed save leaves the
 * previous file intact): weights, alphas, BN statistics, optimizer and
 * strategy state, where the run stands, and its settings. */
int oneshot_run_save(oneshot_run *r, const char *path);
/* Into a run built like the one saved (same space, shape, classes, cells,
 * channels, strategy): it then continues exactly where that run stopped.
 * Mismatches are detected before anything is read (ONESHOT_EINVAL); a file
 * that fails part-way (ONESHOT_EIO) leaves the run unusable until a load
 * succeeds. */
int oneshot_run_load(oneshot_run *r, const char *path);

#ifdef __cplusplus
}
#endif

#endif
