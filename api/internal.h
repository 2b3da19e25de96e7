/* api/internal.h — what the files of api/ share: the handles' structs, error
 * recording, and the guard every public entry point runs its work in.
 *
 * The guard (api_call): takes the engine (engine_enter), installs the fatal
 * handler for the call and a setjmp point on this thread; an os_fatal()
 * inside the work longjmps back, drops the step's tape and arena, restores
 * grad mode, runs the work's undo function (frees what it had built) and
 * returns ONESHOT_EINTERNAL with the message. Work functions record their
 * failures with api_fail / api_fail_os and return the status.
 */
#ifndef ONESHOT_API_INTERNAL_H
#define ONESHOT_API_INTERNAL_H

#include "include/oneshot.h"
#include "search/trainer.h"

#include <stdarg.h>

#define API_MSG 1024

struct oneshot_ctx {
    int refs;                    /* the user's + one per live handle */
    int freed;                   /* oneshot_ctx_free was called */
    char err[API_MSG];
    oneshot_log_fn log;
    void *log_user;
    int threads;                 /* 0 = all cores */
    struct os_context *engine;   /* the engine's state for this context's calls (tensor/context.h) */
};

struct oneshot_data {
    oneshot_ctx *ctx;
    int refs, freed;             /* freed: the user's reference is gone */
    os_run_data d;
    int split;
    oneshot_data_opts opts;      /* as opened (format points to format[]) */
    char path[512], format[16];  /* path "" = the default dataset */
};

struct oneshot_model {
    oneshot_ctx *ctx;
    int refs, freed;
    const os_space *space;
    os_net net;
    int child;                   /* a child network (arch holds its architecture) */
    os_arch arch;
    oneshot_model_opts opts;
    int aux_head;                /* built with the auxiliary head */
    int in_use;                  /* a run holds it */
};

struct oneshot_run {
    oneshot_ctx *ctx;
    oneshot_model *model;
    oneshot_data *data;
    oneshot_train_opts opts;     /* strategy_options not kept (NULL) */
    const os_strategy *strategy; /* NULL: a child */
    os_trainer t;
    int have_trainer;
    int broken;                  /* an internal error or a failed load: only load and free */
};

/* ---- errors --------------------------------------------------------------------------- */
/* Record a message for c (NULL: the thread's) and return code. */
#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
int api_fail(oneshot_ctx *c, int code, const char *fmt, ...);
/* The same with the engine's last message (os_last_error()). */
int api_fail_os(oneshot_ctx *c, int code);
/* A line to the log callback, if any. */
#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
void api_log(oneshot_ctx *c, const char *fmt, ...);

/* ---- the guard ------------------------------------------------------------------------ */
/* Run work(c, arg) as one API call (see the top); undo(arg) (may be NULL)
 * frees what work had built when an internal error interrupted it. */
int api_call(oneshot_ctx *c, int (*work)(oneshot_ctx *, void *), void (*undo)(void *), void *arg);

/* api_call on a run's context; an internal error leaves the run unusable
 * (r->broken) until a checkpoint is loaded into it. */
int api_run_call(oneshot_run *r, int (*work)(oneshot_ctx *, void *), void (*undo)(void *), void *arg);

/* ---- references ---------------------------------------------------------------------- */
void api_ctx_ref(oneshot_ctx *c);
void api_ctx_unref(oneshot_ctx *c);
void api_data_unref(oneshot_data *d);
void api_model_unref(oneshot_model *m);

/* name1, name2, ... of the spaces / strategies into buf (for messages) */
void api_space_list(char *buf, size_t n);
void api_strategy_list(char *buf, size_t n);

#endif
