/* oneshot/checkpoint.c — run state to and from safetensors. */
#include "oneshot/checkpoint.h"
#include "tensor/safetensors.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int add_group(os_st_writer *w, const char *prefix, const os_params *g)
{
    char name[160];
    for (int i = 0; i < g->n; i++) {
        snprintf(name, sizeof name, "%s/%s", prefix, g->t[i]->name);
        if (os_st_add_tensor(w, name, g->t[i]))
            return -1;
    }
    return 0;
}

static int add_optim(os_st_writer *w, const char *prefix, const os_optim *o)
{
    char name[160], sn[128];
    for (int i = 0; o && i < os_optim_state_count(o); i++) {
        os_tensor *t = os_optim_state(o, i, sn, sizeof sn);
        snprintf(name, sizeof name, "%s/%s", prefix, sn);
        if (os_st_add_tensor(w, name, t))
            return -1;
    }
    return 0;
}

static void meta_long(os_st_writer *w, const char *k, long v)
{
    char b[32];
    snprintf(b, sizeof b, "%ld", v);
    os_st_set_meta(w, k, b);
}

int os_checkpoint_save(const char *path, const os_config *c, os_net *net, os_optim *wopt, os_optim *aopt,
                       const os_rng *rng, const os_progress *p)
{
    os_st_writer *w = os_st_writer_new();
    int rc = add_group(w, "weights", &net->weights) || add_group(w, "arch", &net->arch) ||
             add_group(w, "buffers", &net->buffers) || add_optim(w, "wopt", wopt) || add_optim(w, "aopt", aopt);
    if (!rc) {
        cJSON *cj = os_config_to_json(c);
        char *txt = cJSON_PrintUnformatted(cj);
        os_st_set_meta(w, "config", txt);
        free(txt);
        cJSON_Delete(cj);
        char b[256];
        os_st_set_meta(w, "space", net->space);
        snprintf(b, sizeof b, "%dx%dx%d", net->in_c, net->in_h, net->in_w);
        os_st_set_meta(w, "input", b);
        meta_long(w, "classes", net->num_classes);
        meta_long(w, "epoch", p->epoch);
        meta_long(w, "batch", p->batch);
        meta_long(w, "global_step", p->global_step);
        meta_long(w, "wopt_steps", wopt ? os_optim_steps(wopt) : 0);
        meta_long(w, "aopt_steps", aopt ? os_optim_steps(aopt) : 0);
        snprintf(b, sizeof b, "%016" PRIx64 "%016" PRIx64 "%016" PRIx64 "%016" PRIx64, rng->s[0], rng->s[1],
                 rng->s[2], rng->s[3]);
        os_st_set_meta(w, "rng", b);
        snprintf(b, sizeof b, "{\"loss_sum\": %.17g, \"correct\": %ld, \"seen\": %ld, \"seconds\": %.17g}",
                 p->loss_sum, p->correct, p->seen, p->seconds);
        os_st_set_meta(w, "acc", b);
        rc = os_st_write(w, path);
    }
    os_st_writer_free(w);
    return rc ? -1 : 0;
}

static int load_group(os_st_file *f, const char *path, const char *prefix, const os_params *g)
{
    char name[160];
    for (int i = 0; i < g->n; i++) {
        snprintf(name, sizeof name, "%s/%s", prefix, g->t[i]->name);
        if (!os_st_find(f, name))
            return os_error("%s: checkpoint lacks tensor '%s' (a run of another space or shape?)", path, name);
        if (os_st_read_into(f, name, g->t[i]))
            return -1;
    }
    return 0;
}

static int load_optim(os_st_file *f, const char *path, const char *prefix, os_optim *o, const char *steps_key)
{
    if (!o)
        return 0;
    char name[160], sn[128];
    for (int i = 0; i < os_optim_state_count(o); i++) {
        os_tensor *t = os_optim_state(o, i, sn, sizeof sn);
        snprintf(name, sizeof name, "%s/%s", prefix, sn);
        if (!os_st_find(f, name))
            return os_error("%s: checkpoint lacks optimizer state '%s'", path, name);
        if (os_st_read_into(f, name, t))
            return -1;
    }
    const char *s = os_st_meta(f, steps_key);
    os_optim_set_steps(o, s ? atol(s) : 0);
    return 0;
}

static long meta_num(os_st_file *f, const char *k) { const char *s = os_st_meta(f, k); return s ? atol(s) : 0; }

int os_checkpoint_load(const char *path, os_net *net, os_optim *wopt, os_optim *aopt, os_rng *rng, os_progress *p)
{
    os_st_file *f = os_st_open(path);
    if (!f)
        return -1;
    int rc = -1;
    char in[64];
    snprintf(in, sizeof in, "%dx%dx%d", net->in_c, net->in_h, net->in_w);
    const char *space = os_st_meta(f, "space"), *input = os_st_meta(f, "input");
    if (!space || strcmp(space, net->space))
        os_error("%s: checkpoint is of space '%s', this run is '%s'", path, space ? space : "?", net->space);
    else if (!input || strcmp(input, in))
        os_error("%s: checkpoint input shape %s differs from this run's %s", path, input ? input : "?", in);
    else if (meta_num(f, "classes") != net->num_classes)
        os_error("%s: checkpoint has %ld classes, this run's data has %d", path, meta_num(f, "classes"),
                 net->num_classes);
    else if (!load_group(f, path, "weights", &net->weights) && !load_group(f, path, "arch", &net->arch) &&
             !load_group(f, path, "buffers", &net->buffers) && !load_optim(f, path, "wopt", wopt, "wopt_steps") &&
             !load_optim(f, path, "aopt", aopt, "aopt_steps"))
        rc = 0;
    if (!rc && p) {
        memset(p, 0, sizeof *p);
        p->epoch = (int)meta_num(f, "epoch");
        p->batch = (int)meta_num(f, "batch");
        p->global_step = meta_num(f, "global_step");
        const char *acc = os_st_meta(f, "acc");
        cJSON *a = acc ? cJSON_Parse(acc) : NULL;
        if (a) {
            cJSON *v;
            if ((v = cJSON_GetObjectItem(a, "loss_sum")))
                p->loss_sum = v->valuedouble;
            if ((v = cJSON_GetObjectItem(a, "correct")))
                p->correct = (long)v->valuedouble;
            if ((v = cJSON_GetObjectItem(a, "seen")))
                p->seen = (long)v->valuedouble;
            if ((v = cJSON_GetObjectItem(a, "seconds")))
                p->seconds = v->valuedouble;
            cJSON_Delete(a);
        }
    }
    if (!rc && rng) {
        const char *r = os_st_meta(f, "rng");
        if (!r || strlen(r) != 64) {
            rc = os_error("%s: checkpoint lacks its RNG state", path);
        } else {
            for (int i = 0; i < 4; i++) {
                char part[17];
                memcpy(part, r + 16 * i, 16);
                part[16] = 0;
                rng->s[i] = strtoull(part, NULL, 16);
            }
        }
    }
    os_st_close(f);
    return rc;
}

int os_checkpoint_config(const char *path, os_config *c)
{
    os_st_file *f = os_st_open(path);
    if (!f)
        return -1;
    const char *txt = os_st_meta(f, "config");
    cJSON *j = txt ? cJSON_Parse(txt) : NULL;
    int rc = j ? os_config_from_json(c, j) : os_error("%s: checkpoint has no readable config", path);
    cJSON_Delete(j);
    os_st_close(f);
    return rc;
}
