/* tensor/arena.c — bump arenas, and the step arenas of the current context.
 * The step functions know nothing of the tape: before a context's step
 * arenas are reset or freed, the layers that keep pointers into them (the
 * autograd tape and gradient pool) are told through the context's slots
 * (tensor/context.h). */
#include "tensor/arena.h"
#include "tensor/backend.h"
#include "tensor/context_impl.h"

#include <stdlib.h>
#include <string.h>

#define ARENA_ALIGN 64

typedef struct chunk {
    char *base;
    size_t cap, used;
    struct chunk *next;
} chunk;

struct os_arena {
    os_device dev;
    chunk *head;        /* the main block */
    chunk *extra;       /* overflow chunks taken during this step */
    size_t used_total;  /* bytes handed out this step (incl. alignment) */
    size_t high_water;
    size_t grow_count;
};

static void *dev_alloc(os_device dev, size_t bytes)
{
    void *p = os_backend_get(dev)->alloc(bytes);
    if (!p)
        os_fatal("arena: out of memory allocating %zu bytes on device %d", bytes, (int)dev);
    return p;
}

static chunk *chunk_new(os_device dev, size_t cap)
{
    chunk *c = calloc(1, sizeof *c);
    if (!c)
        os_fatal("arena: out of host memory");
    c->base = dev_alloc(dev, cap);
    c->cap = cap;
    return c;
}

static void chunk_free(os_device dev, chunk *c)
{
    os_backend_get(dev)->free(c->base);
    free(c);
}

os_arena *os_arena_new(os_device dev, size_t initial)
{
    os_arena *a = calloc(1, sizeof *a);
    if (!a)
        os_fatal("arena: out of host memory");
    a->dev = dev;
    if (initial) {
        a->head = chunk_new(dev, initial);
        a->grow_count = 1;
    }
    return a;
}

void os_arena_free(os_arena *a)
{
    if (!a)
        return;
    if (a->head)
        chunk_free(a->dev, a->head);
    for (chunk *c = a->extra, *n; c; c = n) {
        n = c->next;
        chunk_free(a->dev, c);
    }
    free(a);
}

static void *chunk_take(chunk *c, size_t bytes)
{
    size_t off = (c->used + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1);
    if (off + bytes > c->cap)
        return NULL;
    c->used = off + bytes;
    return c->base + off;
}

void *os_arena_alloc(os_arena *a, size_t bytes)
{
    if (bytes == 0)
        bytes = 1;
    bytes = (bytes + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1);
    a->used_total += bytes;
    if (a->used_total > a->high_water)
        a->high_water = a->used_total;
    void *p = a->head ? chunk_take(a->head, bytes) : NULL;
    if (p)
        return p;
    if (a->extra && (p = chunk_take(a->extra, bytes)))
        return p;
    /* overflow: a new chunk, at least 1 MiB and twice the request */
    size_t cap = bytes * 2 > ((size_t)1 << 20) ? bytes * 2 : ((size_t)1 << 20);
    chunk *c = chunk_new(a->dev, cap);
    a->grow_count++;
    c->next = a->extra;
    a->extra = c;
    return chunk_take(c, bytes);
}

void os_arena_reset(os_arena *a)
{
    if (a->extra) {
        /* merge: one block big enough for the whole step next time */
        size_t cap = a->high_water + a->high_water / 16 + ARENA_ALIGN;
        for (chunk *c = a->extra, *n; c; c = n) {
            n = c->next;
            chunk_free(a->dev, c);
        }
        a->extra = NULL;
        if (a->head)
            chunk_free(a->dev, a->head);
        a->head = chunk_new(a->dev, cap);
        a->grow_count++;
    }
    if (a->head)
        a->head->used = 0;
    a->used_total = 0;
}

size_t os_arena_used(const os_arena *a) { return a->used_total; }
size_t os_arena_high_water(const os_arena *a) { return a->high_water; }
size_t os_arena_grow_count(const os_arena *a) { return a->grow_count; }

size_t os_arena_capacity(const os_arena *a)
{
    size_t cap = a->head ? a->head->cap : 0;
    for (chunk *c = a->extra; c; c = c->next)
        cap += c->cap;
    return cap;
}

/* ---- the step arenas (of the calling thread's current context) ------------- */
os_arena *os_step_arena(os_device dev)
{
    if ((int)dev < 0 || dev >= OS_NUM_DEVICES)
        os_fatal("step_arena: invalid device %d", (int)dev);
    os_context *c = os_context_current();
    if (!c->step_data[dev])
        c->step_data[dev] = os_arena_new(dev, 0);
    return c->step_data[dev];
}

os_arena *os_step_host_arena(void)
{
    os_context *c = os_context_current();
    if (!c->step_host)
        c->step_host = os_arena_new(OS_CPU, 0);
    return c->step_host;
}

void *os_step_alloc(size_t bytes) { return os_arena_alloc(os_step_host_arena(), bytes); }

void *os_step_alloc_data(os_device dev, size_t bytes)
{
    return os_arena_alloc(os_step_arena(dev), bytes);
}

/* ---- transient step memory ------------------------------------------------- */
typedef struct spill {
    void *p;
    size_t pos; /* where it would lie in the block */
    struct spill *next;
} spill;

struct os_scratch {
    char *base;
    size_t cap, used, want; /* want: the block size the step needed */
    spill *spills;          /* requests that did not fit, freed with their release */
    size_t grows;           /* device allocations: spills and block growths */
};

static struct os_scratch *scratch_of(os_device dev)
{
    if ((int)dev < 0 || dev >= OS_NUM_DEVICES)
        os_fatal("scratch: invalid device %d", (int)dev);
    os_context *c = os_context_current();
    if (!c->scratch[dev]) {
        c->scratch[dev] = calloc(1, sizeof *c->scratch[dev]);
        if (!c->scratch[dev])
            os_fatal("scratch: out of host memory");
    }
    return c->scratch[dev];
}

size_t os_scratch_mark(os_device dev) { return scratch_of(dev)->used; }

void *os_scratch_alloc(os_device dev, size_t bytes)
{
    struct os_scratch *s = scratch_of(dev);
    size_t off = (s->used + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1);
    size_t end = off + ((bytes + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1));
    if (end > s->want)
        s->want = end;
    s->used = end; /* a spill takes its place too, so marks stay LIFO */
    if (end <= s->cap)
        return s->base + off;
    /* does not fit: a buffer of its own until the reset, when the block grows
     * to the step's need (so only the first steps get here) */
    spill *sp = malloc(sizeof *sp);
    if (!sp)
        os_fatal("scratch: out of host memory");
    sp->p = dev_alloc(dev, bytes ? bytes : 1);
    s->grows++;
    sp->pos = off;
    sp->next = s->spills;
    s->spills = sp;
    return sp->p;
}

void os_scratch_release(os_device dev, size_t mark)
{
    struct os_scratch *s = scratch_of(dev);
    if (mark > s->used)
        os_fatal("scratch: release to %zu beyond the %zu bytes in use (not LIFO)", mark, s->used);
    s->used = mark;
    while (s->spills && s->spills->pos >= mark) { /* the newest first */
        spill *sp = s->spills;
        s->spills = sp->next;
        os_backend_get(dev)->free(sp->p);
        free(sp);
    }
}

size_t os_scratch_capacity(os_device dev) { return scratch_of(dev)->cap; }

static void scratch_reset(os_device dev, struct os_scratch *s, bool shutdown)
{
    if (!s)
        return;
    s->used = 0;
    for (spill *sp = s->spills, *nx; sp; sp = nx) {
        nx = sp->next;
        os_backend_get(dev)->free(sp->p);
        free(sp);
    }
    s->spills = NULL;
    if (shutdown || s->want > s->cap) {
        if (s->base)
            os_backend_get(dev)->free(s->base);
        s->base = NULL;
        s->cap = 0;
        if (!shutdown) {
            s->cap = s->want + s->want / 16;
            s->base = dev_alloc(dev, s->cap);
            s->grows++;
        }
    }
    s->want = 0;
}

void os_step_reset(void)
{
    os_context *c = os_context_current();
    os_context_step_reset_slots(c); /* autograd drops its tape and pool first */
    for (int d = 0; d < OS_NUM_DEVICES; d++)
        scratch_reset((os_device)d, c->scratch[d], false);
    for (int d = 0; d < OS_NUM_DEVICES; d++)
        if (c->step_data[d])
            os_arena_reset(c->step_data[d]);
    if (c->step_host)
        os_arena_reset(c->step_host);
}

size_t os_step_high_water(void)
{
    const os_context *c = os_context_current();
    size_t s = c->step_host ? c->step_host->high_water : 0;
    for (int d = 0; d < OS_NUM_DEVICES; d++) {
        if (c->step_data[d])
            s += c->step_data[d]->high_water;
        if (c->scratch[d]) /* the transient block, at the size the step needs */
            s += c->scratch[d]->cap > c->scratch[d]->want ? c->scratch[d]->cap : c->scratch[d]->want;
    }
    return s;
}

size_t os_step_grow_count(void)
{
    const os_context *c = os_context_current();
    size_t s = c->step_host ? c->step_host->grow_count : 0;
    for (int d = 0; d < OS_NUM_DEVICES; d++) {
        if (c->step_data[d])
            s += c->step_data[d]->grow_count;
        if (c->scratch[d])
            s += c->scratch[d]->grows;
    }
    return s;
}

void os_context_free_arenas(os_context *c)
{
    for (int d = 0; d < OS_NUM_DEVICES; d++) {
        scratch_reset((os_device)d, c->scratch[d], true);
        free(c->scratch[d]);
        c->scratch[d] = NULL;
        os_arena_free(c->step_data[d]);
        c->step_data[d] = NULL;
    }
    os_arena_free(c->step_host);
    c->step_host = NULL;
}

void os_step_shutdown(void)
{
    os_context *c = os_context_current();
    os_context_step_reset_slots(c);
    os_context_free_arenas(c);
}
