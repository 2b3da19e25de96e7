/* search/alpha.c — helpers shared by strategies that learn alphas, and
 * optimizer state in checkpoints. */
#include "search/strategy.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

os_optim *os_alpha_adam(os_net *net, const os_alpha_opts *o)
{
    return os_optim_adam(&net->arch, &(os_adam_config){.lr = o->arch_lr, .beta1 = o->arch_beta1,
                                                        .beta2 = o->arch_beta2, .eps = 1e-8f,
                                                        .weight_decay = o->arch_weight_decay});
}

int os_optim_save(os_st_writer *w, const char *prefix, const os_optim *o)
{
    char name[192], sn[128];
    for (int i = 0; i < os_optim_state_count(o); i++) {
        os_tensor *t = os_optim_state(o, i, sn, sizeof sn);
        snprintf(name, sizeof name, "%s/%s", prefix, sn);
        if (os_st_add_tensor(w, name, t))
            return -1;
    }
    char key[64], b[32];
    snprintf(key, sizeof key, "%s_steps", prefix);
    snprintf(b, sizeof b, "%ld", os_optim_steps(o));
    os_st_set_meta(w, key, b);
    return 0;
}

int os_optim_load(os_st_file *f, const char *path, const char *prefix, os_optim *o)
{
    char name[192], sn[128];
    for (int i = 0; i < os_optim_state_count(o); i++) {
        os_tensor *t = os_optim_state(o, i, sn, sizeof sn);
        snprintf(name, sizeof name, "%s/%s", prefix, sn);
        if (!os_st_find(f, name))
            return os_error("%s: checkpoint lacks optimizer state '%s'", path, name);
        if (os_st_read_into(f, name, t))
            return -1;
    }
    char key[64];
    snprintf(key, sizeof key, "%s_steps", prefix);
    const char *s = os_st_meta(f, key);
    os_optim_set_steps(o, s ? atol(s) : 0);
    return 0;
}

int os_argmax_path(const os_net *net, os_arch *a)
{
    if (os_arch_from_alpha(net, a))
        return -1;
    for (int i = 0; i < a->n; i++) {
        os_arch_choice *c = &a->c[i];
        c->chosen = 0;
        c->has_weights = 0;
        if (c->kind == OS_CHOICE_INPUT && c->k == 0) {
            /* a subset choice: the inputs with sigmoid(alpha) > 1/2 */
            for (int k = 0; k < c->n; k++)
                if (c->w[k] > 0.5f)
                    c->chosen |= 1u << k;
            if (!c->chosen)
                c->chosen = OS_CHOSEN_NONE;
            continue;
        }
        /* the largest weight; an input choice its k largest (ties: the lower index) */
        int keep = c->kind == OS_CHOICE_INPUT ? c->k : 1;
        for (int t = 0; t < keep; t++) {
            int best = -1;
            for (int k = 0; k < c->n; k++)
                if (!((c->chosen >> k) & 1u) && (best < 0 || c->w[k] > c->w[best]))
                    best = k;
            c->chosen |= 1u << best;
        }
    }
    return 0;
}

int os_rng_save_meta(os_st_writer *w, const char *key, const os_rng *r)
{
    char b[80];
    snprintf(b, sizeof b, "%016" PRIx64 "%016" PRIx64 "%016" PRIx64 "%016" PRIx64, r->s[0], r->s[1], r->s[2],
             r->s[3]);
    os_st_set_meta(w, key, b);
    return 0;
}

int os_rng_load_meta(os_st_file *f, const char *path, const char *key, os_rng *r)
{
    const char *s = os_st_meta(f, key);
    if (!s || strlen(s) != 64 || strspn(s, "0123456789abcdef") != 64)
        return os_error("%s: checkpoint lacks its RNG state '%s'", path, key);
    for (int i = 0; i < 4; i++) {
        char part[17];
        memcpy(part, s + 16 * i, 16);
        part[16] = 0;
        r->s[i] = strtoull(part, NULL, 16);
    }
    return 0;
}
