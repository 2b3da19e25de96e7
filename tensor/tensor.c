#include "tensor/tensor.h"
#include "tensor/arena.h"
#include "tensor/backend.h"
#include "tensor/context_impl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void os_set_default_device(os_device dev)
{
    if ((int)dev < 0 || dev >= OS_NUM_DEVICES)
        os_fatal("set_default_device: invalid device %d", (int)dev);
    os_context_current()->default_device = dev;
}

os_device os_default_device(void) { return os_context_current()->default_device; }

static void set_shape(os_tensor *t, int ndim, const int *shape)
{
    if (ndim < 1 || ndim > OS_MAX_DIMS)
        os_fatal("tensor: ndim %d out of range 1..%d", ndim, OS_MAX_DIMS);
    t->ndim = ndim;
    long s = 1;
    for (int i = OS_MAX_DIMS - 1; i >= 0; i--) {
        if (i < ndim) {
            if (shape[i] < 0)
                os_fatal("tensor: negative dimension %d at axis %d", shape[i], i);
            t->shape[i] = shape[i];
            t->stride[i] = s;
            s *= shape[i];
        } else {
            t->shape[i] = 1;
            t->stride[i] = 0;
        }
    }
}

long os_numel(const os_tensor *t)
{
    long n = 1;
    for (int i = 0; i < t->ndim; i++)
        n *= t->shape[i];
    return n;
}

os_tensor *os_tensor_new_on(os_device dev, int ndim, const int *shape)
{
    if ((int)dev < 0 || dev >= OS_NUM_DEVICES)
        os_fatal("tensor: invalid device %d", (int)dev);
    os_tensor *t = os_step_alloc(sizeof *t);
    memset(t, 0, sizeof *t);
    set_shape(t, ndim, shape);
    t->device = dev;
    t->data = os_step_alloc_data(t->device, (size_t)os_numel(t) * sizeof(float));
    return t;
}

/* A step header shaped like t, contiguous, on t's device, no data yet. */
static os_tensor *header_like(const os_tensor *t)
{
    os_tensor *r = os_step_alloc(sizeof *r);
    memset(r, 0, sizeof *r);
    set_shape(r, t->ndim, t->shape);
    r->device = t->device;
    return r;
}

os_tensor *os_scratch_tensor_like(const os_tensor *like)
{
    os_tensor *t = header_like(like);
    t->data = os_scratch_alloc(t->device, (size_t)os_numel(t) * sizeof(float));
    return t;
}

os_tensor *os_tensor_new4_on(os_device dev, int n, int c, int h, int w)
{
    int s[4] = {n, c, h, w};
    return os_tensor_new_on(dev, 4, s);
}

os_tensor *os_tensor_new(int ndim, const int *shape) { return os_tensor_new_on(os_default_device(), ndim, shape); }

os_tensor *os_tensor_new4(int n, int c, int h, int w)
{
    return os_tensor_new4_on(os_default_device(), n, c, h, w);
}

os_tensor *os_tensor_zeros(int ndim, const int *shape)
{
    os_tensor *t = os_tensor_new(ndim, shape);
    os_tensor_fill(t, 0.0f);
    return t;
}

os_tensor *os_tensor_like(const os_tensor *t)
{
    os_tensor *r = header_like(t);
    r->data = os_step_alloc_data(r->device, (size_t)os_numel(r) * sizeof(float));
    return r;
}

os_tensor *os_tensor_new_persistent(os_device dev, int ndim, const int *shape)
{
    os_tensor *t = calloc(1, sizeof *t);
    if (!t)
        os_fatal("tensor: out of host memory");
    set_shape(t, ndim, shape);
    t->device = dev;
    t->flags = OS_PERSISTENT | OS_OWNS_DATA;
    size_t bytes = (size_t)os_numel(t) * sizeof(float);
    t->data = os_backend_get(dev)->alloc(bytes ? bytes : 64);
    if (!t->data)
        os_fatal("tensor: out of memory for %s (%zu bytes)", os_shape_str(t), bytes);
    os_tensor_fill(t, 0.0f);
    return t;
}

void os_tensor_free(os_tensor *t)
{
    if (!t)
        return;
    if (!(t->flags & OS_PERSISTENT))
        os_fatal("tensor_free: %s is a step tensor (freed by os_step_reset)", os_shape_str(t));
    if (t->grad && (t->grad->flags & OS_PERSISTENT))
        os_tensor_free(t->grad);
    if (t->flags & OS_OWNS_DATA)
        os_backend_get(t->device)->free(t->data);
    free(t);
}

/* ---- views ----------------------------------------------------------------- */
static os_tensor *view_of(os_tensor *t)
{
    os_tensor *v = os_step_alloc(sizeof *v);
    *v = *t;
    v->flags &= ~(unsigned)(OS_OWNS_DATA | OS_PERSISTENT | OS_PARAM | OS_REQUIRES_GRAD);
    v->grad = NULL;
    v->node = NULL;
    v->name[0] = 0;
    return v;
}

os_tensor *os_view_reshape(os_tensor *t, int ndim, const int *shape)
{
    if (!os_is_contiguous(t))
        os_fatal("view_reshape: input %s is not contiguous", os_shape_str(t));
    os_tensor *v = view_of(t);
    set_shape(v, ndim, shape);
    if (os_numel(v) != os_numel(t))
        os_fatal("view_reshape: cannot reshape %s (%ld elements) to %s",
                 os_shape_str(t), os_numel(t), os_shape_str(v));
    return v;
}

os_tensor *os_view_channels(os_tensor *t, int c0, int nc)
{
    if (t->ndim < 2 || c0 < 0 || nc < 0 || c0 + nc > t->shape[1])
        os_fatal("view_channels: channels [%d,%d) out of range for %s", c0, c0 + nc, os_shape_str(t));
    os_tensor *v = view_of(t);
    v->data = t->data + (long)c0 * t->stride[1];
    v->shape[1] = nc;
    return v;
}

os_tensor *os_view_offset_hw(os_tensor *t, int dh, int dw)
{
    if (t->ndim != 4 || dh < 0 || dw < 0 || dh > t->shape[2] || dw > t->shape[3])
        os_fatal("view_offset_hw: offset (%d,%d) invalid for %s", dh, dw, os_shape_str(t));
    os_tensor *v = view_of(t);
    v->data = t->data + dh * t->stride[2] + dw * t->stride[3];
    v->shape[2] -= dh;
    v->shape[3] -= dw;
    return v;
}

/* ---- queries ------------------------------------------------------------------ */
bool os_is_contiguous(const os_tensor *t)
{
    long s = 1;
    for (int i = t->ndim - 1; i >= 0; i--) {
        if (t->shape[i] != 1 && t->stride[i] != s)
            return false;
        s *= t->shape[i];
    }
    return true;
}

bool os_same_shape(const os_tensor *a, const os_tensor *b)
{
    if (a->ndim != b->ndim)
        return false;
    for (int i = 0; i < a->ndim; i++)
        if (a->shape[i] != b->shape[i])
            return false;
    return true;
}

const char *os_shape_str(const os_tensor *t)
{
    static _Thread_local char buf[8][64];
    static _Thread_local int k;
    char *b = buf[k++ & 7];
    if (!t) {
        snprintf(b, 64, "(null)");
        return b;
    }
    int o = snprintf(b, 64, "[");
    for (int i = 0; i < t->ndim && o < 60; i++)
        o += snprintf(b + o, 64 - o, i ? ",%d" : "%d", t->shape[i]);
    snprintf(b + o, 64 - o, "]");
    return b;
}

/* ---- data movement ----------------------------------------------------------- */
void os_tensor_fill(os_tensor *t, float v)
{
    OS_RUN(FILL, &v, t);
}

void os_tensor_copy(os_tensor *dst, const os_tensor *src)
{
    if (os_numel(dst) != os_numel(src) || dst->ndim != src->ndim || !os_same_shape(dst, src))
        os_fatal("tensor_copy: shape mismatch dst %s src %s", os_shape_str(dst), os_shape_str(src));
    OS_RUN(COPY, NULL, dst, (os_tensor *)src);
}

void os_tensor_from_host(os_tensor *t, const float *src)
{
    if (!os_is_contiguous(t))
        os_fatal("tensor_from_host: %s is not contiguous", os_shape_str(t));
    os_backend_get(t->device)->copy_from_host(t->data, src, (size_t)os_numel(t) * sizeof(float));
}

void os_tensor_to_host(const os_tensor *t, float *dst)
{
    const os_backend *b = os_backend_get(t->device);
    if (os_is_contiguous(t)) {
        b->copy_to_host(dst, t->data, (size_t)os_numel(t) * sizeof(float));
        return;
    }
    /* gather through a contiguous copy on the device */
    os_tensor *c = os_tensor_like(t);
    os_tensor_copy(c, t);
    b->copy_to_host(dst, c->data, (size_t)os_numel(t) * sizeof(float));
}

float os_tensor_item(const os_tensor *t)
{
    if (os_numel(t) != 1)
        os_fatal("tensor_item: %s has %ld elements, expected 1", os_shape_str(t), os_numel(t));
    float v;
    os_backend_get(t->device)->copy_to_host(&v, t->data, sizeof v);
    return v;
}
