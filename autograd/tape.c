/* autograd/tape.c — the tape, grad mode, the activation-gradient pool and
 * backward. Their state is per context (tensor/context.h): it hangs on the
 * current context's autograd slot, made on first use. The context tells it
 * when the step arenas go (os_step_reset, os_step_shutdown), and the tape and
 * pool, which live in those arenas, are dropped then. */
#include "autograd/autograd.h"
#include "ops/profile.h"
#include "tensor/arena.h"
#include "tensor/backend.h"
#include "tensor/context.h"

#include <stdlib.h>
#include <string.h>

struct pool_class;

typedef struct autograd_state {
    os_node *tape_head;
    size_t tape_len;
    bool grad_on;
    struct pool_class *pool; /* activation-gradient pool, see os_grad_acc */
} autograd_state;

static void state_step_reset(void *s)
{
    autograd_state *a = s;
    a->tape_head = NULL;
    a->tape_len = 0;
    a->pool = NULL; /* its memory goes with the step arena */
}

static const os_context_slot_ops state_ops = {.step_reset = state_step_reset, .free = free};

/* The current context's autograd state. */
static autograd_state *ag(void)
{
    os_context *c = os_context_current();
    autograd_state *a = os_context_slot(c, OS_CTX_SLOT_AUTOGRAD);
    if (a)
        return a;
    a = calloc(1, sizeof *a);
    if (!a)
        os_fatal("autograd: out of host memory");
    a->grad_on = true;
    os_context_set_slot(c, OS_CTX_SLOT_AUTOGRAD, a, &state_ops);
    return a;
}

bool os_grad_enabled(void) { return ag()->grad_on; }

bool os_set_grad_enabled(bool on)
{
    autograd_state *a = ag();
    bool old = a->grad_on;
    a->grad_on = on;
    return old;
}

os_node *os_tape_record(const char *op, os_backward_fn fn, os_tensor *out,
                        int n_in, os_tensor *const *in,
                        const void *params, size_t params_size)
{
    autograd_state *a = ag();
    if (!a->grad_on)
        return NULL;
    bool need = false;
    for (int i = 0; i < n_in; i++)
        if (in[i] && (in[i]->flags & OS_REQUIRES_GRAD))
            need = true;
    if (!need)
        return NULL;
    os_node *n = os_step_alloc(sizeof *n);
    memset(n, 0, sizeof *n);
    n->op = op;
    n->backward = fn;
    n->out = out;
    n->n_in = n_in;
    n->in = os_step_alloc(sizeof(os_tensor *) * (size_t)(n_in ? n_in : 1));
    memcpy(n->in, in, sizeof(os_tensor *) * (size_t)n_in);
    if (params_size) {
        n->params = os_step_alloc(params_size);
        memcpy(n->params, params, params_size);
    }
    n->prev = a->tape_head;
    a->tape_head = n;
    a->tape_len++;
    out->flags |= OS_REQUIRES_GRAD;
    out->node = n;
    return n;
}

void os_tape_clear(void) { state_step_reset(ag()); }

size_t os_tape_length(void) { return ag()->tape_len; }

/* ---- activation-gradient pool -------------------------------------------------
 * An activation's gradient is needed only until its producing node's backward
 * has run (the tape runs newest first, so every consumer has added into it by
 * then). Its buffer then goes back to a free list keyed by size, and the next
 * gradient of that size reuses it: the step arena holds the live set of
 * gradients, not all of them. The lists live in the step arena and are
 * dropped with it. */
typedef struct pool_buf {
    float *data;
    struct pool_buf *next;
} pool_buf;
typedef struct pool_class {
    size_t bytes;
    os_device dev;
    pool_buf *free;
    struct pool_class *next;
} pool_class;

static pool_class *pool_find(autograd_state *a, size_t bytes, os_device dev)
{
    for (pool_class *c = a->pool; c; c = c->next)
        if (c->bytes == bytes && c->dev == dev)
            return c;
    pool_class *c = os_step_alloc(sizeof *c);
    c->bytes = bytes;
    c->dev = dev;
    c->free = NULL;
    c->next = a->pool;
    a->pool = c;
    return c;
}

static void pool_release(autograd_state *a, os_tensor *g)
{
    pool_class *c = pool_find(a, (size_t)os_numel(g) * sizeof(float), g->device);
    pool_buf *b = os_step_alloc(sizeof *b);
    b->data = g->data;
    b->next = c->free;
    c->free = b;
}

os_tensor *os_grad_acc(os_tensor *t)
{
    if (!t || !(t->flags & OS_REQUIRES_GRAD))
        return NULL;
    if (!t->grad) {
        /* activations (and views of them) get a zeroed contiguous buffer */
        os_tensor *g = os_step_alloc(sizeof *g);
        *g = (os_tensor){0};
        g->ndim = t->ndim;
        long s = 1;
        for (int i = OS_MAX_DIMS - 1; i >= 0; i--) {
            g->shape[i] = t->shape[i];
            g->stride[i] = i < t->ndim ? s : 0;
            s *= i < t->ndim ? t->shape[i] : 1;
        }
        g->device = t->device;
        size_t bytes = (size_t)os_numel(g) * sizeof(float);
        pool_class *c = pool_find(ag(), bytes, g->device);
        if (c->free) {
            g->data = c->free->data;
            c->free = c->free->next;
        } else {
            g->data = os_step_alloc_data(g->device, bytes);
            os_profile_grad_alloc(bytes);
        }
        os_tensor_fill(g, 0.0f);
        t->grad = g;
    }
    return t->grad;
}

static void run_backward(void)
{
    autograd_state *a = ag();
    bool old = a->grad_on;
    a->grad_on = false;
    os_profile_tape(a->tape_head);
    for (os_node *n = a->tape_head; n; n = n->prev) {
        os_tensor *out = n->out;
        if (!out->grad)
            continue;
        n->backward(n);
        if (!(out->flags & OS_PERSISTENT)) {
            pool_release(a, out->grad);
            out->grad = NULL;
        }
    }
    a->grad_on = old;
    state_step_reset(a);
}

void os_backward(os_tensor *loss)
{
    if (os_numel(loss) != 1)
        os_fatal("backward: loss %s must have 1 element", os_shape_str(loss));
    if (!(loss->flags & OS_REQUIRES_GRAD))
        os_fatal("backward: the loss does not depend on anything that requires grad");
    os_tensor *g = os_grad_acc(loss);
    float one = 1.0f, a = 1.0f;
    os_tensor *seed = os_tensor_like(loss);
    os_tensor_fill(seed, one);
    OS_RUN(AXPY, &a, g, seed);
    run_backward();
}

void os_backward_seeded(os_tensor *out, os_tensor *seed)
{
    if (!os_same_shape(out, seed))
        os_fatal("backward_seeded: seed %s does not match output %s", os_shape_str(seed), os_shape_str(out));
    os_tensor *g = os_grad_acc(out);
    if (!g)
        os_fatal("backward_seeded: the output does not depend on anything that requires grad");
    float a = 1.0f;
    OS_RUN(AXPY, &a, g, seed);
    run_backward();
}
