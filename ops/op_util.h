/* ops/op_util.h — helpers for op code (ops/<op>.c), not part of the API. */
#ifndef OS_OP_UTIL_H
#define OS_OP_UTIL_H

#include "tensor/tensor.h"
#include "tensor/backend.h"

/* t itself when contiguous, else a contiguous step copy of it (not recorded:
 * ops keep the original as the tape input, so gradients reach it, and use the
 * copy only as the value kernels read). */
static inline os_tensor *os_op_contig(os_tensor *t)
{
    if (os_is_contiguous(t))
        return t;
    os_tensor *c = os_tensor_like(t);
    OS_RUN(COPY, NULL, c, t);
    return c;
}

#endif
