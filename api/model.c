/* api/model.c — oneshot_model: a supernet, or a child built from an
 * architecture (include/oneshot.h). */
#include "api/internal.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void oneshot_model_opts_default(oneshot_model_opts *o)
{
    if (o)
        *o = (oneshot_model_opts){.cells = 0, .channels = 0, .seed = 2, .auxiliary = 1};
}

typedef struct {
    const char *fn;            /* the public function, for messages */
    const char *arch_src;      /* child: the caller's architecture */
    const char *space_name;    /* child: the space expected (may be NULL) */
    const oneshot_data *data;
    const oneshot_model_opts *o;
    oneshot_model *m;
    int built;
} build_args;

/* child: the architecture, from JSON text or a file / name / string form */
static int read_arch(oneshot_ctx *c, build_args *a)
{
    oneshot_model *m = a->m;
    const char *s = a->arch_src;
    while (isspace((unsigned char)*s))
        s++;
    if (*s == '{') {
        if (os_arch_parse_json(s, "architecture JSON", a->space_name, &m->space, &m->arch))
            return api_fail_os(c, ONESHOT_EINVAL);
        return ONESHOT_OK;
    }
    int rc = os_arch_load(a->arch_src, a->space_name, &m->space, &m->arch);
    if (rc) {
        /* a file that is not there is a failure on input; any other an unusable architecture */
        int path_like = strchr(a->arch_src, '/') || strstr(a->arch_src, ".json");
        return api_fail_os(c, rc != OS_ARCH_MISFIT && path_like && access(a->arch_src, F_OK) ? ONESHOT_EIO
                                                                                              : ONESHOT_EINVAL);
    }
    return ONESHOT_OK;
}

/* NNI's `width` / `depth` in the architecture size the child when the
 * options leave them to the default (0); given, they must agree */
static int arch_size(oneshot_ctx *c, const char *fn, const char *key, int opt, int arch, int *out)
{
    *out = opt ? opt : arch;
    if (opt && arch && opt != arch)
        return api_fail(c, ONESHOT_EINVAL, "%s: the architecture's '%s' is %d but the options give %d", fn, key,
                        arch, opt);
    return ONESHOT_OK;
}

static int build_work(oneshot_ctx *c, void *arg)
{
    build_args *a = arg;
    oneshot_model *m = a->m;
    int st = m->child ? read_arch(c, a) : ONESHOT_OK;
    if (st)
        return st;
    const os_run_data *d = &a->data->d;
    m->aux_head = m->child && a->o->auxiliary && (m->space->features & OS_SPACE_AUX_HEAD);
    int cells, channels;
    if ((st = arch_size(c, a->fn, "depth", a->o->cells, m->child ? m->arch.depth : 0, &cells)) ||
        (st = arch_size(c, a->fn, "width", a->o->channels, m->child ? m->arch.width : 0, &channels)))
        return st;
    os_space_opts so = {.cells = cells, .channels = channels, .in_c = d->train.c, .in_h = d->train.h,
                        .in_w = d->train.w, .num_classes = d->train.num_classes, .seed = a->o->seed,
                        .arch = m->child ? &m->arch : NULL, .auxiliary = m->aux_head};
    if (m->space->build(&m->net, &so))
        return api_fail(c, ONESHOT_EINVAL, "%s: %s", a->fn, os_last_error());
    a->built = 1;
    long nw = os_params_numel(&m->net.weights), na = os_params_numel(&m->net.arch);
    api_log(c, "network: %s %s, %ld weights (%.2f M), %ld architecture parameters in %d choices", m->space->name,
            m->child ? "child" : "supernet", nw, nw / 1e6, na, m->net.n_choices);
    return ONESHOT_OK;
}

static void build_undo(void *arg)
{
    build_args *a = arg;
    if (a->m->net.impl || a->m->net.weights.n)
        os_net_free(&a->m->net); /* as far as the build went */
    os_arch_free(&a->m->arch);
}

static int check_args(oneshot_ctx *c, build_args *a, oneshot_model **out)
{
    if (out)
        *out = NULL;
    if (!c)
        return api_fail(NULL, ONESHOT_EINVAL, "%s: NULL context", a->fn);
    if (!out)
        return api_fail(c, ONESHOT_EINVAL, "%s: NULL output pointer", a->fn);
    if (!a->data)
        return api_fail(c, ONESHOT_EINVAL, "%s: NULL data (the model takes its input shape and classes from it)",
                        a->fn);
    if (a->data->ctx != c)
        return api_fail(c, ONESHOT_EINVAL, "%s: the data belongs to another context", a->fn);
    if (a->data->freed)
        return api_fail(c, ONESHOT_EINVAL, "%s: the data was freed", a->fn);
    const oneshot_model_opts *o = a->o;
    if (o->cells < 0 || o->channels < 0 || o->cells > 10000 || o->channels > 100000)
        return api_fail(c, ONESHOT_EINVAL, "%s: cells %d (0..10000) or channels %d (0..100000) out of range "
                        "(0 = the space's default)", a->fn, o->cells, o->channels);
    if (o->auxiliary != 0 && o->auxiliary != 1)
        return api_fail(c, ONESHOT_EINVAL, "%s: auxiliary %d must be 1 or 0", a->fn, o->auxiliary);
    return ONESHOT_OK;
}

static int build(oneshot_ctx *c, build_args *a, oneshot_model **out)
{
    oneshot_model *m = calloc(1, sizeof *m);
    if (!m)
        return api_fail(c, ONESHOT_EIO, "%s: out of memory", a->fn);
    m->child = a->arch_src != NULL;
    m->space = m->child ? NULL : os_space_find(a->space_name);
    a->m = m;
    int st = api_call(c, build_work, build_undo, a);
    if (st) {
        if (a->built)
            os_net_free(&m->net);
        os_arch_free(&m->arch);
        free(m);
        return st;
    }
    m->ctx = c;
    m->refs = 1;
    m->opts = *a->o;
    api_ctx_ref(c);
    *out = m;
    return ONESHOT_OK;
}

int oneshot_model_supernet(oneshot_ctx *ctx, const char *space, const oneshot_data *data,
                           const oneshot_model_opts *o, oneshot_model **out)
{
    oneshot_model_opts dflt;
    oneshot_model_opts_default(&dflt);
    build_args a = {.fn = "oneshot_model_supernet", .space_name = space, .data = data, .o = o ? o : &dflt};
    int st = check_args(ctx, &a, out);
    if (st)
        return st;
    if (!space || !os_space_find(space)) {
        char list[256];
        api_space_list(list, sizeof list);
        return api_fail(ctx, ONESHOT_EINVAL, "oneshot_model_supernet: unknown space '%s' (%s)",
                        space ? space : "(NULL)", list);
    }
    return build(ctx, &a, out);
}

int oneshot_model_child(oneshot_ctx *ctx, const char *arch, const char *space, const oneshot_data *data,
                        const oneshot_model_opts *o, oneshot_model **out)
{
    oneshot_model_opts dflt;
    oneshot_model_opts_default(&dflt);
    build_args a = {.fn = "oneshot_model_child", .arch_src = arch, .space_name = space, .data = data,
                    .o = o ? o : &dflt};
    int st = check_args(ctx, &a, out);
    if (st)
        return st;
    if (!arch || !arch[0])
        return api_fail(ctx, ONESHOT_EINVAL, "oneshot_model_child: no architecture (give arch.json text or "
                        "path, an NNI label dict, a named architecture or an nb201 string)");
    if (space && !os_space_find(space)) {
        char list[256];
        api_space_list(list, sizeof list);
        return api_fail(ctx, ONESHOT_EINVAL, "oneshot_model_child: unknown space '%s' (%s)", space, list);
    }
    return build(ctx, &a, out);
}

static int free_work(oneshot_ctx *c, void *arg)
{
    (void)c;
    oneshot_model *m = arg;
    os_net_free(&m->net);
    os_arch_free(&m->arch);
    return ONESHOT_OK;
}

void api_model_unref(oneshot_model *m)
{
    if (--m->refs > 0)
        return;
    oneshot_ctx *c = m->ctx;
    api_call(c, free_work, NULL, m);
    free(m);
    api_ctx_unref(c);
}

void oneshot_model_free(oneshot_model *m)
{
    if (!m || m->freed)
        return;
    m->freed = 1;
    api_model_unref(m);
}

const char *oneshot_model_space(const oneshot_model *m)
{
    if (!m)
        api_fail(NULL, ONESHOT_EINVAL, "oneshot_model_space: NULL model");
    return m ? m->space->name : NULL;
}

int oneshot_model_is_supernet(const oneshot_model *m)
{
    if (!m)
        return api_fail(NULL, ONESHOT_EINVAL, "oneshot_model_is_supernet: NULL model"), -1;
    return !m->child;
}

long oneshot_model_params(const oneshot_model *m)
{
    if (!m)
        return api_fail(NULL, ONESHOT_EINVAL, "oneshot_model_params: NULL model"), -1;
    return os_params_numel(&m->net.weights);
}

long oneshot_model_arch_params(const oneshot_model *m)
{
    if (!m)
        return api_fail(NULL, ONESHOT_EINVAL, "oneshot_model_arch_params: NULL model"), -1;
    return os_params_numel(&m->net.arch);
}
