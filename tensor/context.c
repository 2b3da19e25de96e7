/* tensor/context.c — contexts, the calling thread's current one, and the
 * per-thread default context (made on first use, freed at thread exit by a
 * pthread key destructor; the main thread's lives until the process ends). */
#include "tensor/context_impl.h"

#include <pthread.h>
#include <stdlib.h>

static _Thread_local os_context *current;        /* os_context_use; NULL = the default */
static _Thread_local os_context *thread_default; /* made on first use */
static pthread_key_t default_key;                /* its destructor frees thread_default */
static pthread_once_t default_key_once = PTHREAD_ONCE_INIT;

static void default_destructor(void *c) { os_context_free(c); }

static void make_default_key(void)
{
    if (pthread_key_create(&default_key, default_destructor) != 0)
        os_fatal("context: cannot create the thread key of the default context");
}

os_context *os_context_new(void)
{
    os_context *c = calloc(1, sizeof *c);
    if (!c)
        os_fatal("context: out of host memory");
    c->default_device = OS_CPU;
    return c;
}

void os_context_free(os_context *c)
{
    if (!c)
        return;
    for (int i = 0; i < OS_CTX_SLOTS; i++)
        if (c->slot[i].ops && c->slot[i].ops->free)
            c->slot[i].ops->free(c->slot[i].state);
    os_context_free_arenas(c);
    if (current == c)
        current = NULL;
    if (thread_default == c) {
        thread_default = NULL;
        pthread_setspecific(default_key, NULL);
    }
    free(c);
}

static os_context *make_thread_default(void)
{
    pthread_once(&default_key_once, make_default_key);
    thread_default = os_context_new();
    if (pthread_setspecific(default_key, thread_default) != 0)
        os_fatal("context: cannot register the thread's default context");
    return thread_default;
}

os_context *os_context_current(void)
{
    os_context *c = current;
    if (c)
        return c;
    return thread_default ? thread_default : make_thread_default();
}

os_context *os_context_use(os_context *c)
{
    os_context *prev = current;
    current = c;
    return prev;
}

void *os_context_slot(const os_context *c, int id)
{
    if (id < 0 || id >= OS_CTX_SLOTS)
        os_fatal("context_slot: invalid slot %d", id);
    return c->slot[id].state;
}

void os_context_set_slot(os_context *c, int id, void *state, const os_context_slot_ops *ops)
{
    if (id < 0 || id >= OS_CTX_SLOTS)
        os_fatal("context_set_slot: invalid slot %d", id);
    c->slot[id].state = state;
    c->slot[id].ops = ops;
}

void os_context_step_reset_slots(os_context *c)
{
    for (int i = 0; i < OS_CTX_SLOTS; i++)
        if (c->slot[i].ops && c->slot[i].ops->step_reset)
            c->slot[i].ops->step_reset(c->slot[i].state);
}
