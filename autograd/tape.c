#include "autograd/autograd.h"
#include "tensor/arena.h"
#include "tensor/backend.h"

#include <string.h>

static os_node *tape_head;
static size_t tape_len;
static bool grad_on = true;

bool os_grad_enabled(void) { return grad_on; }

bool os_set_grad_enabled(bool on)
{
    bool old = grad_on;
    grad_on = on;
    return old;
}

os_node *os_tape_record(const char *op, os_backward_fn fn, os_tensor *out,
                        int n_in, os_tensor *const *in,
                        const void *params, size_t params_size)
{
    if (!grad_on)
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
    n->prev = tape_head;
    tape_head = n;
    tape_len++;
    out->flags |= OS_REQUIRES_GRAD;
    out->node = n;
    return n;
}

void os_tape_clear(void)
{
    tape_head = NULL;
    tape_len = 0;
}

size_t os_tape_length(void) { return tape_len; }

os_tensor *os_grad_acc(os_tensor *t)
{
    if (!t || !(t->flags & OS_REQUIRES_GRAD))
        return NULL;
    if (!t->grad) {
        /* activations (and views of them) get a zeroed contiguous step buffer */
        os_tensor *g = os_tensor_like(t);
        os_tensor_fill(g, 0.0f);
        t->grad = g;
    }
    return t->grad;
}

static void run_backward(void)
{
    bool old = os_set_grad_enabled(false);
    for (os_node *n = tape_head; n; n = n->prev)
        if (n->out->grad)
            n->backward(n);
    os_set_grad_enabled(old);
    os_tape_clear();
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
