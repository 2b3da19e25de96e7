/* api/oneshot.c — contexts, errors, the guard around every call, and the
 * listings of spaces and strategies (include/oneshot.h). */
#include "api/internal.h"
#include "tensor/arena.h"
#include "tensor/backend.h"
#include "tensor/context.h"

#include <pthread.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static _Thread_local char tl_err[API_MSG]; /* failures without a context */

/* ---- errors ------------------------------------------------------------------------------ */
static int vfail(oneshot_ctx *c, int code, const char *fmt, va_list ap)
{
    char *buf = c ? c->err : tl_err;
    char tmp[API_MSG];
    vsnprintf(tmp, sizeof tmp, fmt, ap); /* the message may quote the previous one */
    memcpy(buf, tmp, sizeof tmp);
    return code;
}

int api_fail(oneshot_ctx *c, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vfail(c, code, fmt, ap);
    va_end(ap);
    return code;
}

int api_fail_os(oneshot_ctx *c, int code) { return api_fail(c, code, "%s", os_last_error()); }

void api_log(oneshot_ctx *c, const char *fmt, ...)
{
    if (!c || !c->log)
        return;
    char line[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    c->log(c->log_user, line);
}

const char *oneshot_error(const oneshot_ctx *ctx) { return ctx ? ctx->err : tl_err; }

const char *oneshot_status_name(int status)
{
    static const char *const n[] = {"ONESHOT_OK", "ONESHOT_EINVAL", "ONESHOT_EIO", "ONESHOT_ENAN",
                                    "ONESHOT_ESTOPPED", "ONESHOT_EINTERNAL"};
    return status >= 0 && status < (int)(sizeof n / sizeof n[0]) ? n[status] : "ONESHOT_?";
}

void oneshot_free(void *p) { free(p); }

/* ---- the engine ------------------------------------------------------------------------
 * Each oneshot_ctx owns an engine context (tensor/context.h: the tape, grad
 * mode, the step arenas): a call makes it current on the calling thread and
 * puts back what was current after. So contexts on different threads run
 * at the same time, and an application's own use of the engine on that
 * thread is left as it was. The thread count is process-wide
 * (os_set_threads); a context that set one applies it on each thread that
 * calls with it (OpenMP's team size is a per-thread setting). */
typedef struct engine_frame {
    os_context *prev;      /* what was current on this thread */
} engine_frame;

static _Thread_local int tl_threads; /* the count last applied on this thread */

static void engine_enter(oneshot_ctx *c, engine_frame *f)
{
    f->prev = os_context_use(c->engine);
    if (c->threads > 0 && (c->threads != tl_threads || c->threads != os_threads())) {
        os_set_threads(c->threads);
        tl_threads = c->threads;
    }
}

static void engine_leave(engine_frame *f) { os_context_use(f->prev); }

/* ---- catching os_fatal -------------------------------------------------------------------
 * The engine's fatal handler is process-wide: it is installed while any call
 * runs (counted) and the previous one restored after the last. A fatal error
 * on a thread inside a call longjmps to that call's frame; on any other
 * thread it goes to the previous handler (or the engine's default). */
static pthread_mutex_t handler_lock = PTHREAD_MUTEX_INITIALIZER;
static int handler_users;
static os_fatal_handler handler_prev;
static _Thread_local jmp_buf *tl_jmp;
static _Thread_local char tl_fatal[API_MSG];

static void on_fatal(const char *msg)
{
    if (tl_jmp) {
        snprintf(tl_fatal, sizeof tl_fatal, "%s", msg);
        longjmp(*tl_jmp, 1);
    }
    os_fatal_handler prev = handler_prev;
    if (prev)
        prev(msg);
    /* returning: os_fatal reports and exits, as without the library */
}

static void handler_install(void)
{
    pthread_mutex_lock(&handler_lock);
    if (handler_users++ == 0)
        handler_prev = os_set_fatal_handler(on_fatal);
    pthread_mutex_unlock(&handler_lock);
}

static void handler_remove(void)
{
    pthread_mutex_lock(&handler_lock);
    if (--handler_users == 0)
        os_set_fatal_handler(handler_prev);
    pthread_mutex_unlock(&handler_lock);
}

int api_call(oneshot_ctx *c, int (*work)(oneshot_ctx *, void *), void (*undo)(void *), void *arg)
{
    engine_frame ef;
    engine_enter(c, &ef);
    handler_install();
    jmp_buf jb, *prev_jmp = tl_jmp;
    bool grad = os_grad_enabled();
    volatile int st = ONESHOT_OK, caught = 0;
    tl_jmp = &jb;
    if (setjmp(jb) == 0) {
        st = work(c, arg);
    } else if (!caught) {
        caught = 1;
        st = api_fail(c, ONESHOT_EINTERNAL, "internal error: %s", tl_fatal);
        api_log(c, "oneshot: internal error caught: %s", tl_fatal);
        os_step_reset(); /* the interrupted step's tape and arena */
        os_set_grad_enabled(grad);
        if (undo)
            undo(arg);
    } else {
        /* the undo or the log callback failed too: keep the first message */
        os_step_reset();
        os_set_grad_enabled(grad);
    }
    tl_jmp = prev_jmp;
    handler_remove();
    engine_leave(&ef);
    return st;
}

/* ---- contexts ---------------------------------------------------------------------------- */
static int engine_new(oneshot_ctx *c, void *arg)
{
    (void)arg;
    c->engine = os_context_new(); /* fatal (caught) when out of memory */
    return ONESHOT_OK;
}

oneshot_ctx *oneshot_ctx_new(void)
{
    oneshot_ctx *c = calloc(1, sizeof *c);
    if (!c || api_call(c, engine_new, NULL, NULL)) {
        api_fail(NULL, ONESHOT_EIO, "oneshot_ctx_new: %s", c ? c->err : "out of memory");
        free(c);
        return NULL;
    }
    c->refs = 1;
    return c;
}

void api_ctx_ref(oneshot_ctx *c) { c->refs++; }

void api_ctx_unref(oneshot_ctx *c)
{
    if (--c->refs > 0)
        return;
    os_context_free(c->engine); /* its arenas, tape and gradient pool */
    free(c);
}

void oneshot_ctx_free(oneshot_ctx *ctx)
{
    if (!ctx || ctx->freed)
        return;
    ctx->freed = 1;
    api_ctx_unref(ctx);
}

int oneshot_set_log(oneshot_ctx *ctx, oneshot_log_fn fn, void *user)
{
    if (!ctx)
        return api_fail(NULL, ONESHOT_EINVAL, "oneshot_set_log: NULL context");
    ctx->log = fn;
    ctx->log_user = user;
    return ONESHOT_OK;
}

int oneshot_set_threads(oneshot_ctx *ctx, int n)
{
    if (!ctx)
        return api_fail(NULL, ONESHOT_EINVAL, "oneshot_set_threads: NULL context");
    if (n < 0 || n > 4096)
        return api_fail(ctx, ONESHOT_EINVAL, "oneshot_set_threads: %d threads (0 = all cores, or 1..4096)", n);
    ctx->threads = n;
    os_set_threads(n);
    tl_threads = n;
    return ONESHOT_OK;
}

/* ---- listings ---------------------------------------------------------------------------- */
int oneshot_space_count(void) { return os_space_count(); }

const char *oneshot_space_name(int i)
{
    const os_space *s = os_space_at(i);
    if (!s)
        api_fail(NULL, ONESHOT_EINVAL, "oneshot_space_name: index %d out of range 0..%d", i, os_space_count() - 1);
    return s ? s->name : NULL;
}

const char *oneshot_space_summary(int i)
{
    const os_space *s = os_space_at(i);
    if (!s)
        api_fail(NULL, ONESHOT_EINVAL, "oneshot_space_summary: index %d out of range 0..%d", i,
                 os_space_count() - 1);
    return s ? s->summary : NULL;
}

int oneshot_strategy_count(void) { return os_strategy_count(); }

const char *oneshot_strategy_name(int i)
{
    const os_strategy *s = os_strategy_at(i);
    if (!s)
        api_fail(NULL, ONESHOT_EINVAL, "oneshot_strategy_name: index %d out of range 0..%d", i,
                 os_strategy_count() - 1);
    return s ? s->name : NULL;
}

const char *oneshot_strategy_summary(int i)
{
    const os_strategy *s = os_strategy_at(i);
    if (!s)
        api_fail(NULL, ONESHOT_EINVAL, "oneshot_strategy_summary: index %d out of range 0..%d", i,
                 os_strategy_count() - 1);
    return s ? s->summary : NULL;
}

int oneshot_strategy_option(const char *strategy, int i, oneshot_option_info *info, int *count)
{
    if (info)
        memset(info, 0, sizeof *info);
    if (count)
        *count = 0;
    const os_strategy *s = strategy ? os_strategy_find(strategy) : NULL;
    if (!s) {
        char list[256];
        api_strategy_list(list, sizeof list);
        return api_fail(NULL, ONESHOT_EINVAL, "oneshot_strategy_option: unknown strategy '%s' (%s)",
                        strategy ? strategy : "(NULL)", list);
    }
    if (count)
        *count = s->n_options;
    if (!info)
        return ONESHOT_OK; /* just the count */
    if (i < 0 || i >= s->n_options)
        return api_fail(NULL, ONESHOT_EINVAL, "oneshot_strategy_option: %s has %d options, not an option %d",
                        s->name, s->n_options, i);
    const os_option *o = &s->options[i];
    static const char *const types[] = {"int", "float", "bool", "string", "enum"};
    *info = (oneshot_option_info){.name = o->name, .type = types[o->type], .def = o->def, .lo = o->lo,
                                  .hi = o->hi, .help = o->help};
    return ONESHOT_OK;
}

static void list_names(char *buf, size_t n, int count, const char *(*name)(int))
{
    size_t len = 0;
    buf[0] = 0;
    for (int i = 0; i < count && len < n; i++)
        len += (size_t)snprintf(buf + len, n - len, "%s%s", i ? ", " : "", name(i));
}

static const char *space_at(int i) { return os_space_at(i)->name; }
static const char *strategy_at(int i) { return os_strategy_at(i)->name; }
void api_space_list(char *buf, size_t n) { list_names(buf, n, os_space_count(), space_at); }
void api_strategy_list(char *buf, size_t n) { list_names(buf, n, os_strategy_count(), strategy_at); }
