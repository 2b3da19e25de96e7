/* autograd/autograd.h — eager define-by-run tape, backward, parameters, grad check.
 *
 * Every op that needs gradients appends one node to the tape (in the step
 * arena). os_backward(loss) walks the tape from the newest node back: that
 * order is a valid reverse topological order because ops run eagerly.
 *
 * The tape, the grad mode and the activation-gradient pool belong to the
 * calling thread's current context (tensor/context.h): each context has its
 * own, made on first use; os_step_reset (tensor/arena.h) clears the current
 * context's tape together with its arenas.
 *
 * Gradient rule (kept everywhere): every gradient ACCUMULATES (+=).
 * os_grad_acc(t) returns t's gradient buffer, creating it zero-filled on first
 * use (step arena for activations; parameters own a persistent one), or NULL
 * when t needs no gradient — backward rules skip work for NULL.
 */
#ifndef OS_AUTOGRAD_H
#define OS_AUTOGRAD_H

#include <stdbool.h>
#include <stddef.h>
#include "tensor/tensor.h"

#define OS_NODE_SAVED 4

typedef void (*os_backward_fn)(os_node *n);

struct os_node {
    const char *op;
    os_backward_fn backward;
    os_tensor *out;
    int n_in;
    os_tensor **in;                 /* inputs, in the op's order */
    os_tensor *saved[OS_NODE_SAVED];/* extra tensors the rule needs */
    void *params;                   /* copy of the op's params (step arena) */
    os_node *prev;                  /* older node */
};

/* ---- grad mode ----------------------------------------------------------- */
bool os_grad_enabled(void);
bool os_set_grad_enabled(bool on); /* returns the previous mode */

/* ---- recording (used by ops) ------------------------------------------------ */
/* Appends a node if grad mode is on and any input requires grad; marks out as
 * requiring grad. Returns the node (to fill saved[]) or NULL. */
os_node *os_tape_record(const char *op, os_backward_fn fn, os_tensor *out,
                        int n_in, os_tensor *const *in,
                        const void *params, size_t params_size);
/* Drop all nodes of the current context's tape (the arena memory goes at
 * os_step_reset, which also clears the tape). */
void os_tape_clear(void);
size_t os_tape_length(void);

/* ---- backward ------------------------------------------------------------- */
/* loss: 1 element. Seeds d loss = 1, runs every node, then clears the tape. */
void os_backward(os_tensor *loss);
/* Same, seeding out's gradient with `seed` (same shape as out). */
void os_backward_seeded(os_tensor *out, os_tensor *seed);
os_tensor *os_grad_acc(os_tensor *t);

/* ---- parameters ----------------------------------------------------------- */
/* Persistent, zero-filled, with a persistent zeroed grad; requires grad. */
os_tensor *os_param_new(const char *name, int ndim, const int *shape);
/* the same on device dev (os_param_new: the default device) */
os_tensor *os_param_new_on(os_device dev, const char *name, int ndim, const int *shape);
/* A group of parameters stepped together ("weights", "arch"). */
typedef struct os_params {
    os_tensor **t;
    int n, cap;
    os_tensor *flat, *flat_grad; /* after os_params_flatten: the group's storage, else NULL */
} os_params;
/* Move the group into one flat buffer for the values and one for the
 * gradients, on the parameters' (common) device; each t[i] and its grad
 * become views into them (offsets 64-byte aligned, the padding zero), values
 * and gradients kept. Then zeroing the gradients, clipping and an optimizer
 * made afterwards take one launch for the whole group. Checkpoints still name
 * each tensor. Adding a parameter afterwards is fatal; a second call does
 * nothing. The flat buffers go with os_params_free_all. */
void os_params_flatten(os_params *g);
void os_params_add(os_params *g, os_tensor *t);
void os_params_zero_grad(const os_params *g);
void os_params_set_requires_grad(const os_params *g, bool on);
long os_params_numel(const os_params *g);
os_tensor *os_params_find(const os_params *g, const char *name);
void os_params_release(os_params *g);      /* frees the list (and a flattened group's storage), not the tensors */
void os_params_free_all(os_params *g);     /* frees the tensors too */

/* ---- gradient checking ---------------------------------------------------- */
/* f builds an output from the inputs (any shape). The check seeds a fixed
 * random projection r of the output, compares the analytic gradient of
 * sum(r * f) w.r.t. every element of every input that requires grad (or up to
 * max_elems per input, spread evenly) with central differences of step eps.
 * Passes when |a - n| <= atol + rtol * |n| everywhere. Returns the worst
 * relative violation (<= 1 passes) and writes a report line into msg. */
typedef os_tensor *(*os_gradcheck_fn)(os_tensor *const *in, void *ctx);
typedef struct {
    float eps, atol, rtol;
    int max_elems;       /* 0 = all */
    unsigned seed;
} os_gradcheck_opts;
double os_gradcheck(os_gradcheck_fn f, void *ctx, int n_in, os_tensor *const *in,
                    const os_gradcheck_opts *o, char *msg, size_t msg_size);

#endif
