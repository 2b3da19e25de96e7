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
    free(g->t);
    memset(g, 0, sizeof *g);
}

void os_params_free_all(os_params *g)
{
    for (int i = 0; i < g->n; i++)
        os_tensor_free(g->t[i]);
    os_params_release(g);
}
