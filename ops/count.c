/* ops/count.c — the cost counters of ops/count.h. The state hangs on the
 * current context's cost slot (tensor/context.h), made by the first
 * os_count_begin and freed with the context. */
#include "ops/count.h"
#include "tensor/context.h"

#include <stdlib.h>
#include <string.h>

#define SET_MIN 256 /* initial capacity of the pointer set (a power of 2) */

typedef struct count_state {
    bool on;
    os_cost total;
    const os_tensor **set; /* open addressing, linear probing; NULL = empty */
    size_t cap, n;         /* cap a power of 2; n <= cap / 2 */
} count_state;

static void state_free(void *p)
{
    count_state *s = p;
    free(s->set);
    free(s);
}

static const os_context_slot_ops state_ops = {.step_reset = NULL, .free = state_free};

static count_state *state_get(void) { return os_context_slot(os_context_current(), OS_CTX_SLOT_COSTS); }

static count_state *state_open(const char *who)
{
    count_state *s = state_get();
    if (!s || !s->on)
        os_fatal("%s: no counting window is open (os_count_begin)", who);
    return s;
}

static size_t slot_of(const os_tensor *t, size_t cap)
{
    uint64_t h = (uint64_t)(uintptr_t)t * 0x9e3779b97f4a7c15ull;
    return (size_t)(h >> 32) & (cap - 1);
}

/* true when t was not in the set (and is now) */
static bool set_insert(count_state *s, const os_tensor *t)
{
    size_t i = slot_of(t, s->cap);
    while (s->set[i]) {
        if (s->set[i] == t)
            return false;
        i = (i + 1) & (s->cap - 1);
    }
    if (2 * (s->n + 1) > s->cap) { /* keep the load at most 1/2: grow, then insert */
        size_t cap = 2 * s->cap;
        const os_tensor **set = calloc(cap, sizeof *set);
        if (!set)
            os_fatal("count: out of host memory (%zu parameters)", s->n + 1);
        for (size_t j = 0; j < s->cap; j++)
            if (s->set[j]) {
                size_t k = slot_of(s->set[j], cap);
                while (set[k])
                    k = (k + 1) & (cap - 1);
                set[k] = s->set[j];
            }
        free(s->set);
        s->set = set;
        s->cap = cap;
        i = slot_of(t, cap);
        while (s->set[i])
            i = (i + 1) & (cap - 1);
    }
    s->set[i] = t;
    s->n++;
    return true;
}

void os_count_begin(void)
{
    os_context *c = os_context_current();
    count_state *s = os_context_slot(c, OS_CTX_SLOT_COSTS);
    if (!s) {
        s = calloc(1, sizeof *s);
        if (s)
            s->set = calloc(SET_MIN, sizeof *s->set);
        if (!s || !s->set)
            os_fatal("count_begin: out of host memory");
        s->cap = SET_MIN;
        os_context_set_slot(c, OS_CTX_SLOT_COSTS, s, &state_ops);
    } else if (s->on) {
        os_fatal("count_begin: a counting window is already open");
    } else {
        memset(s->set, 0, s->cap * sizeof *s->set);
    }
    s->n = 0;
    s->total = (os_cost){0};
    s->on = true;
}

void os_count_now(os_cost *out)
{
    count_state *s = state_open("count_now");
    if (out)
        *out = s->total;
}

void os_count_end(os_cost *out)
{
    count_state *s = state_open("count_end");
    if (out)
        *out = s->total;
    s->on = false;
}

bool os_counting(void)
{
    count_state *s = state_get();
    return s && s->on;
}

void os_count_op(int64_t macs, int n, os_tensor *const *in)
{
    count_state *s = state_get();
    if (!s || !s->on)
        return;
    s->total.macs += macs;
    for (int i = 0; i < n; i++)
        if (in[i] && (in[i]->flags & OS_PARAM) && set_insert(s, in[i])) {
            s->total.params += os_numel(in[i]);
            s->total.param_tensors++;
        }
}
