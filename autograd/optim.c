/* autograd/optim.c — SGD and Adam over a parameter group, grad-norm clipping,
 * the cosine schedule. See autograd/optim.h for the exact update rules. */
#include "autograd/optim.h"
#include "autograd/optim_kernels.h"
#include "tensor/arena.h"
#include "tensor/backend.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef enum { OPT_SGD, OPT_ADAM } opt_kind;

struct os_optim {
    opt_kind kind;
    os_sgd_config sgd;
    os_adam_config adam;
    const os_params *group;
    int n_params;
    int per_param;      /* state tensors per parameter: 0, 1 (SGD) or 2 (Adam) */
    os_tensor **state;  /* [n_params * per_param], param-major */
    os_tensor *flat[2]; /* a flattened group: the state's flat buffers (state[] are views), else NULL */
    long steps;
};

static const char *state_label(const os_optim *o, int j)
{
    if (o->kind == OPT_SGD)
        return "sgd.momentum";
    return j == 0 ? "adam.exp_avg" : "adam.exp_avg_sq";
}

static os_optim *optim_new(opt_kind kind, const os_params *group, int per_param)
{
    os_optim *o = calloc(1, sizeof *o);
    if (!o)
        os_fatal("optim: out of host memory");
    o->kind = kind;
    o->group = group;
    o->n_params = group->n;
    o->per_param = per_param;
    int n_state = group->n * per_param;
    if (n_state) {
        o->state = calloc((size_t)n_state, sizeof *o->state);
        if (!o->state)
            os_fatal("optim: out of host memory");
    }
    for (int j = 0; group->flat && j < per_param; j++)
        o->flat[j] = os_tensor_new_persistent(group->flat->device, 1, group->flat->shape);
    for (int i = 0; i < group->n; i++) {
        os_tensor *p = group->t[i];
        if (!p->grad)
            os_fatal("optim: parameter '%s' %s has no gradient buffer", p->name, os_shape_str(p));
        if (!os_is_contiguous(p))
            os_fatal("optim: parameter '%s' %s is not contiguous", p->name, os_shape_str(p));
        for (int j = 0; j < per_param; j++) {
            if (!o->flat[j]) {
                o->state[i * per_param + j] = os_tensor_new_persistent(p->device, p->ndim, p->shape);
                continue;
            }
            /* a view at the parameter's offset in the group's flat buffer */
            os_tensor *v = calloc(1, sizeof *v);
            if (!v)
                os_fatal("optim: out of host memory");
            *v = *p;
            v->data = o->flat[j]->data + (p->data - group->flat->data);
            v->flags = OS_PERSISTENT; /* os_tensor_free: the header only */
            v->grad = NULL;
            v->node = NULL;
            v->name[0] = 0;
            o->state[i * per_param + j] = v;
        }
    }
    return o;
}

os_optim *os_optim_sgd(const os_params *group, const os_sgd_config *c)
{
    if (!(c->lr >= 0) || !(c->momentum >= 0) || !(c->weight_decay >= 0))
        os_fatal("optim_sgd: invalid lr %g, momentum %g or weight decay %g",
                 c->lr, c->momentum, c->weight_decay);
    if (c->nesterov && (c->momentum <= 0 || c->dampening != 0))
        os_fatal("optim_sgd: Nesterov needs momentum > 0 and dampening 0 (momentum %g, dampening %g)",
                 c->momentum, c->dampening);
    os_optim *o = optim_new(OPT_SGD, group, c->momentum != 0 ? 1 : 0);
    o->sgd = *c;
    return o;
}

os_optim *os_optim_adam(const os_params *group, const os_adam_config *c)
{
    if (!(c->lr >= 0) || !(c->eps >= 0) || !(c->weight_decay >= 0))
        os_fatal("optim_adam: invalid lr %g, eps %g or weight decay %g", c->lr, c->eps, c->weight_decay);
    if (!(c->beta1 >= 0 && c->beta1 < 1) || !(c->beta2 >= 0 && c->beta2 < 1))
        os_fatal("optim_adam: betas (%g, %g) must lie in [0, 1)", c->beta1, c->beta2);
    os_optim *o = optim_new(OPT_ADAM, group, 2);
    o->adam = *c;
    return o;
}

void os_optim_free(os_optim *o)
{
    if (!o)
        return;
    for (int i = 0; i < o->n_params * o->per_param; i++)
        os_tensor_free(o->state[i]);
    os_tensor_free(o->flat[0]);
    os_tensor_free(o->flat[1]);
    free(o->state);
    free(o);
}

void os_optim_step(os_optim *o)
{
    const os_params *g = o->group;
    if (g->n != o->n_params)
        os_fatal("optim_step: the group had %d parameters when the optimizer was made, now %d",
                 o->n_params, g->n);
    if (o->kind == OPT_SGD) {
        os_sgd_step_params sp = {
            .lr = o->sgd.lr, .momentum = o->sgd.momentum, .dampening = o->sgd.dampening,
            .weight_decay = o->sgd.weight_decay, .nesterov = o->sgd.nesterov,
            .first_step = o->steps == 0,
        };
        if (o->per_param ? o->flat[0] != NULL : g->flat != NULL) /* one launch for the group */
            OS_RUN(SGD_STEP, &sp, g->flat, g->flat_grad, o->flat[0]);
        else
            for (int i = 0; i < g->n; i++) {
                os_tensor *buf = o->per_param ? o->state[i] : NULL;
                OS_RUN(SGD_STEP, &sp, g->t[i], g->t[i]->grad, buf);
            }
    } else {
        double t = (double)(o->steps + 1);
        os_adam_step_params ap = {
            .lr = o->adam.lr, .beta1 = o->adam.beta1, .beta2 = o->adam.beta2,
            .eps = o->adam.eps, .weight_decay = o->adam.weight_decay,
            .bias_corr1 = (float)(1.0 - pow(o->adam.beta1, t)),
            .bias_corr2 = (float)(1.0 - pow(o->adam.beta2, t)),
        };
        if (o->flat[0]) /* one launch for the group */
            OS_RUN(ADAM_STEP, &ap, g->flat, g->flat_grad, o->flat[0], o->flat[1]);
        else
            for (int i = 0; i < g->n; i++)
                OS_RUN(ADAM_STEP, &ap, g->t[i], g->t[i]->grad, o->state[2 * i], o->state[2 * i + 1]);
    }
    o->steps++;
}

float os_optim_lr(const os_optim *o) { return o->kind == OPT_SGD ? o->sgd.lr : o->adam.lr; }

void os_optim_set_lr(os_optim *o, float lr)
{
    if (!(lr >= 0))
        os_fatal("optim_set_lr: invalid lr %g", lr);
    if (o->kind == OPT_SGD)
        o->sgd.lr = lr;
    else
        o->adam.lr = lr;
}

const char *os_optim_kind(const os_optim *o) { return o->kind == OPT_SGD ? "sgd" : "adam"; }

long os_optim_steps(const os_optim *o) { return o->steps; }

void os_optim_set_steps(os_optim *o, long steps)
{
    if (steps < 0)
        os_fatal("optim_set_steps: negative step count %ld", steps);
    o->steps = steps;
}

int os_optim_state_count(const os_optim *o) { return o->n_params * o->per_param; }

os_tensor *os_optim_state(const os_optim *o, int i, char *name, size_t name_size)
{
    if (i < 0 || i >= os_optim_state_count(o))
        os_fatal("optim_state: index %d out of range 0..%d", i, os_optim_state_count(o) - 1);
    const os_tensor *p = o->group->t[i / o->per_param];
    if (name && name_size)
        snprintf(name, name_size, "%s.%s", state_label(o, i % o->per_param), p->name);
    return o->state[i];
}

os_tensor *os_optim_state_find(const os_optim *o, const char *name)
{
    for (int j = 0; j < o->per_param; j++) {
        const char *label = state_label(o, j);
        size_t len = strlen(label);
        if (strncmp(name, label, len) || name[len] != '.')
            continue;
        for (int i = 0; i < o->n_params; i++)
            if (!strcmp(name + len + 1, o->group->t[i]->name))
                return o->state[i * o->per_param + j];
    }
    return NULL;
}

/* a 1-element step tensor on dev (os_tensor_new uses the default device) */
static os_tensor *scalar_on(os_device dev)
{
    os_tensor *s = os_step_alloc(sizeof *s);
    memset(s, 0, sizeof *s);
    s->ndim = 1;
    for (int d = 0; d < OS_MAX_DIMS; d++)
        s->shape[d] = 1;
    s->stride[0] = 1;
    s->device = dev;
    s->data = os_step_alloc_data(dev, sizeof(float));
    return s;
}

/* the sum of squares of every gradient of the group, on their device (one
 * SUMSQ_ACC per tensor into one scalar); NULL when no parameter has one */
static os_tensor *grad_sumsq(const os_params *group)
{
    if (group->flat_grad) { /* one launch for the group (the padding is zero) */
        os_tensor *f = scalar_on(group->flat_grad->device);
        os_tensor_fill(f, 0.0f);
        OS_RUN(SUMSQ_ACC, NULL, f, group->flat_grad);
        return f;
    }
    os_tensor *s = NULL;
    for (int i = 0; i < group->n; i++) {
        os_tensor *gr = group->t[i]->grad;
        if (!gr)
            continue;
        if (!s) {
            s = scalar_on(gr->device);
            os_tensor_fill(s, 0.0f);
        }
        OS_RUN(SUMSQ_ACC, NULL, s, gr);
    }
    return s;
}

static void clip_by(const os_params *group, float max_norm, os_tensor *s)
{
    if (group->flat_grad) {
        OS_RUN(CLIP_SCALE, &max_norm, group->flat_grad, s);
        return;
    }
    for (int i = 0; i < group->n; i++)
        if (group->t[i]->grad)
            OS_RUN(CLIP_SCALE, &max_norm, group->t[i]->grad, s);
}

void os_clip_grad_norm_dev(const os_params *group, float max_norm)
{
    os_tensor *s = grad_sumsq(group);
    if (s)
        clip_by(group, max_norm, s);
}

float os_clip_grad_norm(const os_params *group, float max_norm)
{
    os_tensor *s = grad_sumsq(group);
    if (!s)
        return 0.0f;
    float norm = sqrtf(os_tensor_item(s));
    clip_by(group, max_norm, s);
    return norm;
}

float os_cosine_lr(float lr0, float eta_min, int epoch, int t_max)
{
    if (t_max <= 0)
        os_fatal("cosine_lr: t_max %d must be positive", t_max);
    const double pi = 3.14159265358979323846;
    return (float)(eta_min + (lr0 - eta_min) * (1.0 + cos(pi * epoch / t_max)) / 2.0);
}
