#include "autograd/autograd.h"
#include "tensor/backend.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

os_tensor *os_param_new(const char *name, int ndim, const int *shape)
{
    return os_param_new_on(os_default_device(), name, ndim, shape);
}

os_tensor *os_param_new_on(os_device dev, const char *name, int ndim, const int *shape)
{
    os_tensor *t = os_tensor_new_persistent(dev, ndim, shape);
    t->flags |= OS_PARAM | OS_REQUIRES_GRAD;
    t->grad = os_tensor_new_persistent(t->device, ndim, shape);
    snprintf(t->name, sizeof t->name, "%s", name ? name : "");
    return t;
}

void os_params_add(os_params *g, os_tensor *t)
{
    if (g->flat)
        os_fatal("params_add: '%s' added to a flattened group", t->name);
    if (!(t->flags & OS_PARAM))
        os_fatal("params_add: tensor '%s' %s is not a parameter", t->name, os_shape_str(t));
    if (g->n == g->cap) {
        g->cap = g->cap ? 2 * g->cap : 16;
        g->t = realloc(g->t, sizeof *g->t * (size_t)g->cap);
        if (!g->t)
            os_fatal("params_add: out of memory");
    }
    g->t[g->n++] = t;
}

void os_params_zero_grad(const os_params *g)
{
    if (g->flat_grad) {
        os_tensor_fill(g->flat_grad, 0.0f);
        return;
    }
    for (int i = 0; i < g->n; i++)
        os_tensor_fill(g->t[i]->grad, 0.0f);
}

void os_params_set_requires_grad(const os_params *g, bool on)
{
    for (int i = 0; i < g->n; i++) {
        if (on)
            g->t[i]->flags |= OS_REQUIRES_GRAD;
        else
            g->t[i]->flags &= ~(unsigned)OS_REQUIRES_GRAD;
    }
}

long os_params_numel(const os_params *g)
{
    long n = 0;
    for (int i = 0; i < g->n; i++)
        n += os_numel(g->t[i]);
    return n;
}

os_tensor *os_params_find(const os_params *g, const char *name)
{
    for (int i = 0; i < g->n; i++)
        if (!strcmp(g->t[i]->name, name))
            return g->t[i];
    return NULL;
}

void os_params_release(os_params *g)
{
    os_tensor_free(g->flat);
    os_tensor_free(g->flat_grad);
    free(g->t);
    memset(g, 0, sizeof *g);
}

void os_params_free_all(os_params *g)
{
    for (int i = 0; i < g->n; i++)
        os_tensor_free(g->t[i]);
    os_params_release(g);
}

/* t's storage moved to flat + off (a COPY on the device), its own freed */
static void move_into(os_tensor *t, os_tensor *flat, long off)
{
    os_tensor v = *t;
    v.data = flat->data + off;
    v.grad = NULL;
    v.node = NULL;
    os_tensor_copy(&v, t);
    if (t->flags & OS_OWNS_DATA)
        os_backend_get(t->device)->free(t->data);
    t->data = v.data;
    t->flags &= ~(unsigned)OS_OWNS_DATA; /* os_tensor_free: the header only */
}

void os_params_flatten(os_params *g)
{
    if (g->flat || g->n == 0)
        return;
    os_device dev = g->t[0]->device;
    long total = 0;
    for (int i = 0; i < g->n; i++) {
        os_tensor *t = g->t[i];
        if (t->device != dev)
            os_fatal("params_flatten: '%s' is on %s, '%s' on %s", t->name, os_device_name(t->device),
                     g->t[0]->name, os_device_name(dev));
        if (!os_is_contiguous(t) || !t->grad || !os_is_contiguous(t->grad))
            os_fatal("params_flatten: '%s' %s is not contiguous or has no gradient", t->name, os_shape_str(t));
        total += (os_numel(t) + 15) / 16 * 16; /* 64-byte aligned offsets */
        if (total > 0x7fffffffL)
            os_fatal("params_flatten: the group has more than 2^31 elements (at '%s')", t->name);
    }
    int n = (int)total;
    os_tensor *flat = os_tensor_new_persistent(dev, 1, &n), *flat_grad = os_tensor_new_persistent(dev, 1, &n);
    long off = 0;
    for (int i = 0; i < g->n; i++) {
        os_tensor *t = g->t[i];
        move_into(t, flat, off);
        move_into(t->grad, flat_grad, off);
        off += (os_numel(t) + 15) / 16 * 16;
    }
    g->flat = flat;
    g->flat_grad = flat_grad;
}
