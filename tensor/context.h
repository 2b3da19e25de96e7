/* tensor/context.h — the engine's per-run state, in one object.
 *
 * A context owns what used to be process globals:
 *   - the step arenas (tensor/arena.h): one per device for tensor data, one
 *     on the host for tensor headers, tape nodes and kernel scratch;
 *   - the default device of new step tensors (os_set_default_device);
 *   - the state the layers above attach to it (slots, below): autograd's
 *     tape, grad mode and activation-gradient pool (autograd/tape.c), the
 *     cost counter (ops/count.h).
 *
 * Every function that uses that state (os_step_*, os_tensor_new, os_tape_*,
 * os_backward, os_grad_enabled, os_count_*, every op) uses the calling
 * thread's current context. A thread that never chooses one gets its own
 * default context, made on first use and freed when the thread exits; so a
 * program, a test or a benchmark that never mentions contexts behaves as
 * before.
 *
 *   os_context *c = os_context_new();
 *   os_context *prev = os_context_use(c);  // this thread now records on c
 *   ... forward, os_backward, os_step_reset() ...
 *   os_context_use(prev);                   // back to what was current
 *   os_context_free(c);                     // its arenas, tape, counters
 *
 * Threads. Two contexts may be used at the same time from different threads:
 * each thread has its own current context, and nothing a context owns is
 * shared. One context must not be used by two threads at once (its arenas
 * and tape are unsynchronised); handing it from one thread to another
 * between uses is fine. A step tensor belongs to the context whose arena it
 * came from and is valid until that context's os_step_reset; do not hand step
 * tensors of one context to ops running in another. Persistent tensors (parameters, optimizer state) belong to no context and
 * may be read by several contexts at once; a thread that writes one (an
 * optimizer step, a gradient) must not overlap with a reader.
 *
 * Process-wide, whatever the context: the fatal handler
 * (os_set_fatal_handler), the kernel thread count (os_set_threads: OpenMP
 * and OpenBLAS settings), and the backend table (os_backend_register). Set
 * them before starting threads that run ops. (os_last_error() is per thread.)
 *
 * Kernels run parallel regions on OpenMP worker threads; those threads must
 * not allocate from the step arena (they would see their own contexts).
 * Kernels take their scratch before entering a parallel region.
 */
#ifndef OS_CONTEXT_H
#define OS_CONTEXT_H

typedef struct os_context os_context;

/* A new, empty context (arenas are made on first use). Never NULL (fatal on
 * out of memory). */
os_context *os_context_new(void);

/* Frees everything c owns: its step arenas (every step tensor made in it
 * becomes invalid), the tape, the gradient pool, the slots' state.
 * Persistent tensors are not c's and stay. If c is the calling thread's
 * current context, the thread goes back to its default one. c must not be
 * current in another thread. NULL is a no-op. */
void os_context_free(os_context *c);

/* The calling thread's current context: the one os_context_use made
 * current, else the thread's default context (made on first use). */
os_context *os_context_current(void);

/* Make c current for the calling thread (NULL: the thread's default) and
 * return the previous current context (NULL when it was the default), so
 * that os_context_use(prev) restores it. */
os_context *os_context_use(os_context *c);

/* ---- slots: state that the layers above tensor/ keep per context ---------
 * The tensor layer knows nothing of the tape or the counters; they hang
 * their state on the context under a fixed slot id and are told when the
 * step arenas go (so nothing keeps pointers into freed step memory) and when
 * the context is freed. */
enum {
    OS_CTX_SLOT_AUTOGRAD, /* autograd/tape.c: tape, grad mode, gradient pool */
    OS_CTX_SLOT_COSTS,    /* ops/count.c: the cost counter */
    OS_CTX_SLOT_PROFILE,  /* ops/profile.c: the kernel profile */
    OS_CTX_SLOTS
};

typedef struct os_context_slot_ops {
    /* The context's step arenas are about to be reset or freed
     * (os_step_reset, os_step_shutdown): drop every pointer into them. May
     * be NULL. */
    void (*step_reset)(void *state);
    /* The context is being freed: free state. May be NULL. */
    void (*free)(void *state);
} os_context_slot_ops;

/* The state in slot id of c (NULL if none was set). */
void *os_context_slot(const os_context *c, int id);
/* Set slot id of c; ops must outlive c (a static table). A state already in
 * the slot is not freed. */
void os_context_set_slot(os_context *c, int id, void *state, const os_context_slot_ops *ops);

#endif
