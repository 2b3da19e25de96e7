/* tensor/context_impl.h — the context's layout, for the files of tensor/ only.
 * Everything else goes through tensor/context.h. */
#ifndef OS_CONTEXT_IMPL_H
#define OS_CONTEXT_IMPL_H

#include "tensor/context.h"
#include "tensor/arena.h"

struct os_context {
    os_arena *step_data[OS_NUM_DEVICES]; /* tensor data, per device (made on first use) */
    os_arena *step_host;                 /* headers, tape nodes, scratch (made on first use) */
    struct os_scratch *scratch[OS_NUM_DEVICES]; /* transient step memory (tensor/arena.h) */
    os_device default_device;            /* of new step tensors */
    struct {
        void *state;
        const os_context_slot_ops *ops;
    } slot[OS_CTX_SLOTS];
};

/* Tell every slot the step arenas are about to be reset or freed. */
void os_context_step_reset_slots(os_context *c);
/* Free c's step arenas (after os_context_step_reset_slots). */
void os_context_free_arenas(os_context *c);

#endif
