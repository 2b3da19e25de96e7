/* tensor/tensor.h — float32 tensors of up to 4 dims (NCHW), their storage and views.
 *
 * Conventions
 *  - Shapes are int[4], strides are in elements (not bytes). A tensor of ndim d
 *    uses shape[0..d-1]; the rest are 1 (and their strides 0), so kernels can
 *    always index four dims.
 *  - `data` points at the first element of the view: views (reshape, channel
 *    slice, spatial offset) share storage and differ in data/shape/stride.
 *  - Two lifetimes:
 *      persistent: parameters, their gradients, optimizer state, BN running
 *                  stats. Made with os_tensor_new_persistent(), freed with
 *                  os_tensor_free().
 *      step:       activations, activation gradients, the tape, kernel scratch.
 *                  Made with os_tensor_new() from the step arena of the
 *                  current context (tensor/arena.h, tensor/context.h); all
 *                  freed at once by os_step_reset().
 *  - Every kernel runs on the tensor's device through os_dispatch()
 *    (tensor/backend.h). Op code never tests the device.
 */
#ifndef OS_TENSOR_H
#define OS_TENSOR_H

#include <stddef.h>
#include <stdbool.h>

#include "tensor/error.h"

#define OS_MAX_DIMS 4

typedef enum { OS_CPU = 0, OS_CUDA = 1, OS_NUM_DEVICES } os_device;

enum {
    OS_REQUIRES_GRAD = 1u << 0, /* gradients flow to / through this tensor */
    OS_PARAM         = 1u << 1, /* a trainable leaf: grad is persistent and accumulates */
    OS_PERSISTENT    = 1u << 2, /* storage outlives the step arena */
    OS_OWNS_DATA     = 1u << 3, /* persistent tensor that frees its storage */
};

typedef struct os_node os_node;

typedef struct os_tensor {
    float *data;              /* first element of this view */
    int ndim;
    int shape[OS_MAX_DIMS];
    long stride[OS_MAX_DIMS]; /* elements */
    os_device device;
    unsigned flags;
    struct os_tensor *grad;   /* contiguous, same shape; NULL until needed */
    os_node *node;            /* tape node that produced it (NULL for leaves) */
    char name[80];            /* parameters: "cells.0.edge3.sep_conv_3x3.dw1" */
} os_tensor;

/* ---- creation ------------------------------------------------------------ */
/* Step tensor, contiguous, uninitialised, on device dev. Ops make their
 * outputs and scratch with these on their inputs' device (outputs follow
 * their inputs). */
os_tensor *os_tensor_new_on(os_device dev, int ndim, const int *shape);
os_tensor *os_tensor_new4_on(os_device dev, int n, int c, int h, int w);
/* The same on the default device: only for tensors made from nothing (a
 * data batch, a constant built on the host), never for an op's output. */
os_tensor *os_tensor_new(int ndim, const int *shape);
os_tensor *os_tensor_new4(int n, int c, int h, int w);
os_tensor *os_tensor_zeros(int ndim, const int *shape);
/* Step tensor shaped like t (contiguous). */
os_tensor *os_tensor_like(const os_tensor *t);
/* Persistent tensor, zero-filled. */
os_tensor *os_tensor_new_persistent(os_device dev, int ndim, const int *shape);
void os_tensor_free(os_tensor *t); /* persistent tensors (and their grad) only */

/* The default device (OS_CPU unless set), a setting of the current context
 * (tensor/context.h): where tensors made from nothing go: os_tensor_new,
 * parameters (os_param_new), data batches. An op's outputs go on its
 * inputs' device instead, whatever the default. */
void os_set_default_device(os_device dev);
os_device os_default_device(void);

/* ---- views (no copies) ----------------------------------------------------- */
os_tensor *os_view_reshape(os_tensor *t, int ndim, const int *shape); /* t contiguous */
os_tensor *os_view_channels(os_tensor *t, int c0, int nc);            /* t[:, c0:c0+nc] */
os_tensor *os_view_offset_hw(os_tensor *t, int dh, int dw);           /* t[:, :, dh:, dw:] */

/* ---- queries ------------------------------------------------------------- */
long os_numel(const os_tensor *t);
bool os_is_contiguous(const os_tensor *t);
bool os_same_shape(const os_tensor *a, const os_tensor *b);
/* "[2,3,8,8]"; uses one of 8 rotating thread-local buffers (for messages). */
const char *os_shape_str(const os_tensor *t);
static inline long os_offset4(const os_tensor *t, int n, int c, int h, int w)
{
    return n * t->stride[0] + c * t->stride[1] + h * t->stride[2] + w * t->stride[3];
}

/* ---- host data movement (go through the backend) --------------------------- */
void os_tensor_fill(os_tensor *t, float v);
void os_tensor_copy(os_tensor *dst, const os_tensor *src); /* same shape, any strides */
void os_tensor_from_host(os_tensor *t, const float *src);   /* t contiguous */
void os_tensor_to_host(const os_tensor *t, float *dst);     /* any strides */
/* Value of a 1-element tensor. */
float os_tensor_item(const os_tensor *t);

#endif
