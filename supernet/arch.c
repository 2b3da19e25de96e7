/* supernet/arch.c — the architecture type: choices, NNI JSON, arch.json, loading. */
#include "supernet/arch.h"
#include "tensor/error.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

void os_arch_init(os_arch *a, const char *space)
{
    memset(a, 0, sizeof *a);
    snprintf(a->space, sizeof a->space, "%s", space ? space : "");
}

void os_arch_free(os_arch *a)
{
    free(a->c);
    memset(a, 0, sizeof *a);
}

void os_arch_copy(os_arch *dst, const os_arch *src)
{
    os_arch_init(dst, src->space);
    dst->n = src->n;
    dst->c = malloc(sizeof *dst->c * (size_t)(src->n ? src->n : 1));
    if (!dst->c)
        os_fatal("arch_copy: out of memory");
    memcpy(dst->c, src->c, sizeof *dst->c * (size_t)src->n);
    dst->width = src->width;
    dst->depth = src->depth;
}

cJSON *os_arch_nds_sizes(const cJSON *dict, os_arch *a)
{
    static const char *const keys[2] = {"width", "depth"};
    int v[2] = {0, 0};
    for (int i = 0; i < 2; i++) {
        const cJSON *x = cJSON_GetObjectItemCaseSensitive(dict, keys[i]);
        if (!x)
            continue;
        if (!cJSON_IsNumber(x) || x->valuedouble != (double)(int)x->valuedouble || x->valueint < 1 ||
            x->valueint > 4096) {
            os_error("key '%s': NNI's %s must be a positive integer (%s)", keys[i], keys[i],
                     i ? "the number of cells, --cells" : "the initial channels, --channels");
            return NULL;
        }
        v[i] = x->valueint;
    }
    cJSON *rest = cJSON_Duplicate(dict, 1);
    if (!rest) {
        os_error("out of memory");
        return NULL;
    }
    for (int i = 0; i < 2; i++)
        cJSON_DeleteItemFromObjectCaseSensitive(rest, keys[i]);
    a->width = v[0];
    a->depth = v[1];
    return rest;
}

int os_arch_add(os_arch *a, const char *label, os_choice_kind kind, int n, int k, const char *const *names)
{
    if (n < 1 || n > OS_MAX_CANDIDATES)
        os_fatal("arch_add '%s': %d candidates (1..%d allowed)", label, n, OS_MAX_CANDIDATES);
    os_arch_choice *c = realloc(a->c, sizeof *a->c * (size_t)(a->n + 1));
    if (!c)
        os_fatal("arch_add: out of memory");
    a->c = c;
    c = &a->c[a->n];
    memset(c, 0, sizeof *c);
    snprintf(c->label, sizeof c->label, "%s", label);
    c->kind = kind;
    c->n = n;
    c->k = k;
    c->gate = c->gate_min = -1;
    for (int i = 0; names && i < n; i++)
        c->names[i] = names[i];
    return a->n++;
}

int os_arch_find(const os_arch *a, const char *label)
{
    for (int i = 0; i < a->n; i++)
        if (!strcmp(a->c[i].label, label))
            return i;
    return -1;
}

void os_arch_gate(os_arch *a, int i, int gate, int min)
{
    if (i < 0 || i >= a->n || gate < 0 || gate >= i || min < 0 || min >= a->c[gate].n)
        os_fatal("arch_gate: choice %d gated by %d from candidate %d", i, gate, min);
    a->c[i].gate = gate;
    a->c[i].gate_min = min;
}

int os_arch_gated_off(const os_arch *a, int i)
{
    const os_arch_choice *c = &a->c[i];
    if (c->gate < 0)
        return 0;
    int g = os_arch_chosen_one(&a->c[c->gate]);
    return g >= 0 && g < c->gate_min;
}

void os_arch_of_net(const os_net *net, os_arch *a)
{
    os_arch_init(a, net->space);
    for (int i = 0; i < net->n_choices; i++) {
        const os_choice *c = &net->choices[i];
        os_arch_add(a, c->label, c->kind, c->n, c->k, c->kind == OS_CHOICE_LAYER ? c->names : NULL);
        a->c[i].gate = c->gate;
        a->c[i].gate_min = c->gate_min;
    }
}

int os_arch_from_alpha(const os_net *net, os_arch *a)
{
    os_arch_of_net(net, a);
    for (int i = 0; i < net->n_choices; i++) {
        const os_choice *c = &net->choices[i];
        float al[OS_MAX_CANDIDATES];
        os_tensor_to_host(c->alpha, al);
        for (int k = 0; k < c->n; k++)
            if (!isfinite(al[k])) {
                os_arch_free(a);
                return os_error("alpha %d of choice '%s' is %g: the search diverged, there is no "
                                "architecture to derive", k, c->label, (double)al[k]);
            }
        os_choice_probs(c, a->c[i].w);
        a->c[i].has_weights = 1;
    }
    return 0;
}

int os_arch_name_index(const os_arch_choice *c, const char *name)
{
    for (int i = 0; i < c->n; i++)
        if (c->names[i] && !strcmp(c->names[i], name))
            return i;
    return -1;
}

int os_arch_chosen_one(const os_arch_choice *c)
{
    unsigned m = os_arch_mask(c);
    return m ? __builtin_ctz(m) : -1;
}

int os_arch_complete(const os_arch *a)
{
    for (int i = 0; i < a->n; i++)
        if (!a->c[i].chosen && !os_arch_gated_off(a, i))
            return 0;
    return 1;
}

int os_arch_equal(const os_arch *a, const os_arch *b)
{
    if (a->n != b->n || strcmp(a->space, b->space))
        return 0;
    for (int i = 0; i < a->n; i++)
        if (strcmp(a->c[i].label, b->c[i].label) || a->c[i].chosen != b->c[i].chosen)
            return 0;
    return 1;
}

/* ---- NNI labels ----------------------------------------------------------------- */
/* 1 when every candidate name is a decimal integer (a depth choice) */
static int names_are_ints(const os_arch_choice *c)
{
    if (c->kind != OS_CHOICE_LAYER)
        return 0;
    for (int k = 0; k < c->n; k++) {
        const char *s = c->names[k];
        if (!s || !*s || strlen(s) > 9 || strspn(s, "0123456789") != strlen(s))
            return 0;
    }
    return 1;
}

cJSON *os_arch_to_nni(const os_arch *a)
{
    cJSON *j = cJSON_CreateObject();
    for (int i = 0; i < a->n; i++) {
        const os_arch_choice *c = &a->c[i];
        if (!c->chosen || os_arch_gated_off(a, i))
            continue;
        if (names_are_ints(c)) {
            cJSON_AddNumberToObject(j, c->label, atoi(c->names[os_arch_chosen_one(c)]));
        } else if (c->kind == OS_CHOICE_LAYER) {
            cJSON_AddStringToObject(j, c->label, c->names[os_arch_chosen_one(c)]);
        } else {
            cJSON *arr = cJSON_AddArrayToObject(j, c->label);
            for (int k = 0; k < c->n; k++)
                if ((c->chosen >> k) & 1u)
                    cJSON_AddItemToArray(arr, cJSON_CreateNumber(k));
        }
    }
    return j;
}

static void list_names(const os_arch_choice *c, char *buf, size_t n)
{
    size_t o = 0;
    buf[0] = 0;
    for (int k = 0; k < c->n && o < n; k++)
        o += (size_t)snprintf(buf + o, n - o, "%s%s", k ? ", " : "", c->names[k]);
}

static void list_labels(const os_arch *a, char *buf, size_t n)
{
    size_t o = 0;
    buf[0] = 0;
    for (int i = 0; i < a->n && o < n; i++) {
        if (i == 4 && a->n > 6) {
            o += (size_t)snprintf(buf + o, n - o, ", ... %s", a->c[a->n - 1].label);
            break;
        }
        o += (size_t)snprintf(buf + o, n - o, "%s%s", i ? ", " : "", a->c[i].label);
    }
}

int os_arch_from_nni(os_arch *a, const cJSON *dict, const char *src)
{
    const char *pre = src ? src : "architecture", *sep = ": ";
    char list[512];
    if (!cJSON_IsObject(dict))
        return os_error("%s%sexpected a JSON object of labels", pre, sep);
    for (const cJSON *it = dict->child; it; it = it->next)
        if (os_arch_find(a, it->string) < 0) {
            list_labels(a, list, sizeof list);
            return os_error("%s%sunknown key '%s' (%s expects the labels %s)", pre, sep, it->string, a->space, list);
        }
    for (int i = 0; i < a->n; i++) {
        os_arch_choice *c = &a->c[i];
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(dict, c->label);
        c->chosen = 0;
        if (os_arch_gated_off(a, i))
            continue; /* does not run: its key may be missing, and is ignored */
        if (!v)
            return os_error("%s%skey '%s' is missing", pre, sep, c->label);
        if (names_are_ints(c)) {
            char num[32];
            int ok = cJSON_IsNumber(v) && v->valuedouble == (double)v->valueint;
            if (ok)
                snprintf(num, sizeof num, "%d", v->valueint);
            int k = ok ? os_arch_name_index(c, num) : cJSON_IsString(v) ? os_arch_name_index(c, v->valuestring) : -1;
            if (k < 0) {
                list_names(c, list, sizeof list);
                return os_error("%s%skey '%s' must be one of the integers %s", pre, sep, c->label, list);
            }
            c->chosen = 1u << k;
            continue;
        }
        if (c->kind == OS_CHOICE_LAYER) {
            int k = cJSON_IsString(v) ? os_arch_name_index(c, v->valuestring) : -1;
            list_names(c, list, sizeof list);
            if (!cJSON_IsString(v))
                return os_error("%s%skey '%s' must be a string, one of %s", pre, sep, c->label, list);
            if (k < 0)
                return os_error("%s%skey '%s': unknown op '%s' (%s has %s)", pre, sep, c->label, v->valuestring,
                                a->space, list);
            c->chosen = 1u << k;
            continue;
        }
        /* input choice: [i, ...] with k distinct indices (a bare integer for
         * k = 1); a subset choice (k == 0) any list of distinct indices */
        int cnt = cJSON_IsArray(v) ? cJSON_GetArraySize(v) : 1;
        if (c->k == 0 && !cJSON_IsArray(v))
            return os_error("%s%skey '%s' must be a list of distinct input indices in 0..%d (any number, [] "
                            "included)", pre, sep, c->label, c->n - 1);
        if ((!cJSON_IsArray(v) && !cJSON_IsNumber(v)) || (c->k && cnt != c->k))
            return os_error("%s%skey '%s' must be a list of %d input index(es) in 0..%d", pre, sep, c->label, c->k,
                            c->n - 1);
        for (int e = 0; e < cnt; e++) {
            const cJSON *x = cJSON_IsArray(v) ? cJSON_GetArrayItem(v, e) : v;
            if (!cJSON_IsNumber(x) || x->valuedouble != (double)x->valueint || x->valueint < 0 ||
                x->valueint >= c->n)
                return os_error("%s%skey '%s': input index out of range 0..%d", pre, sep, c->label, c->n - 1);
            if ((c->chosen >> x->valueint) & 1u)
                return os_error("%s%skey '%s': input %d given twice", pre, sep, c->label, x->valueint);
            c->chosen |= 1u << x->valueint;
        }
        if (!c->chosen)
            c->chosen = OS_CHOSEN_NONE;
    }
    return 0;
}

/* ---- arch.json ------------------------------------------------------------------- */
char *os_arch_json(const os_space *sp, const os_arch *child, const os_arch *weights)
{
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "space", sp->name);
    cJSON_AddItemToObject(root, "arch", os_arch_to_nni(child));
    if (sp->describe)
        sp->describe(child, root);
    if (weights) {
        cJSON *pj = cJSON_AddObjectToObject(root, "probs");
        for (int i = 0; i < weights->n; i++) {
            const os_arch_choice *c = &weights->c[i];
            if (!c->has_weights)
                continue;
            cJSON *e = cJSON_AddObjectToObject(pj, c->label);
            for (int k = 0; k < c->n; k++) {
                char idx[16];
                snprintf(idx, sizeof idx, "%d", k);
                cJSON_AddNumberToObject(e, c->names[k] ? c->names[k] : idx, c->w[k]);
            }
        }
    }
    char *txt = cJSON_Print(root);
    cJSON_Delete(root);
    return txt;
}

/* ---- loading ----------------------------------------------------------------------- */
static int child_from_dict(const os_space *sp, const cJSON *dict, const char *what, os_arch *child)
{
    os_arch_init(child, sp->name);
    sp->child_template(child);
    int rc;
    if (sp->from_nni) {
        rc = sp->from_nni(dict, child);
        if (rc) {
            char msg[1024];
            snprintf(msg, sizeof msg, "%s", os_last_error());
            os_error("%s: %s", what, msg);
        }
    } else {
        rc = os_arch_from_nni(child, dict, what);
    }
    if (rc)
        os_arch_free(child);
    return rc;
}

static int disagree(const char *what, const char *found, const char *space)
{
    return os_error("%s is an architecture of the %s space, but the space given is %s (drop --space or make "
                    "them agree)", what, found, space);
}

int os_arch_parse_json(const char *text, const char *what, const char *space, const os_space **sp,
                       os_arch *child)
{
    cJSON *j = cJSON_ParseWithOpts(text, NULL, 1); /* nothing but white space after the value */
    if (!j) {
        const char *at = cJSON_GetErrorPtr();
        size_t n = strlen(text);
        if (!at || at < text || at > text + n)
            return os_error("%s: malformed JSON", what);
        int line = 1, col = 1;
        for (const char *c = text; c < at; c++, col++)
            if (*c == '\n')
                line++, col = 0;
        return os_error("%s: malformed JSON at line %d, column %d", what, line, col);
    }
    if (!cJSON_IsObject(j)) {
        cJSON_Delete(j);
        return os_error("%s: expected a JSON object (arch.json, or NNI's label dict)", what);
    }
    int rc = -1;
    const cJSON *js = cJSON_GetObjectItemCaseSensitive(j, "space");
    const cJSON *inner = cJSON_GetObjectItemCaseSensitive(j, "arch");
    const os_space *s = NULL;
    if (js) {
        if (!cJSON_IsString(js) || !(s = os_space_find(js->valuestring))) {
            rc = OS_ARCH_MISFIT;
            os_error("%s: key 'space': unknown space %s%s%s", what, cJSON_IsString(js) ? "'" : "",
                          cJSON_IsString(js) ? js->valuestring : "(not a string)", cJSON_IsString(js) ? "'" : "");
            goto out;
        }
        if (space && strcmp(space, s->name)) {
            disagree(what, s->name, space);
            rc = OS_ARCH_MISFIT;
            goto out;
        }
        const cJSON *as = cJSON_GetObjectItemCaseSensitive(j, "arch_str");
        if (!inner && cJSON_IsString(as) && s->parse) {
            int r = s->parse(as->valuestring, child);
            rc = r ? OS_ARCH_MISFIT : 0;
            if (r) {
                char msg[1024];
                if (r == 1)
                    snprintf(msg, sizeof msg, "'%s' is not an architecture string of %s", as->valuestring, s->name);
                else
                    snprintf(msg, sizeof msg, "%s", os_last_error());
                os_error("%s: key 'arch_str': %s", what, msg);
            }
        } else if (!cJSON_IsObject(inner)) {
            os_error("%s: key 'arch' is missing or not an object of NNI labels", what);
            rc = OS_ARCH_MISFIT;
        } else {
            rc = child_from_dict(s, inner, what, child) ? OS_ARCH_MISFIT : 0;
        }
    } else {
        const cJSON *dict = cJSON_IsObject(inner) ? inner : j;
        if (space) {
            if (!(s = os_space_find(space))) {
                os_error("unknown space '%s'", space);
                rc = OS_ARCH_MISFIT;
                goto out;
            }
            rc = child_from_dict(s, dict, what, child) ? OS_ARCH_MISFIT : 0;
        } else {
            /* a bare NNI dict: the one space whose labels it matches; when
             * none does, the error of the space whose labels it matches best
             * (fewest unknown keys plus missing labels; the first on ties) */
            int found = 0, best_miss = -1;
            char first_err[1024] = "";
            for (int i = 0; i < os_space_count(); i++) {
                os_arch a;
                if (child_from_dict(os_space_at(i), dict, what, &a) == 0) {
                    if (!found++) {
                        *child = a;
                        s = os_space_at(i);
                    } else {
                        os_arch_free(&a);
                    }
                    continue;
                }
                char err[1024];
                snprintf(err, sizeof err, "%s", os_last_error());
                os_arch t;
                os_arch_init(&t, os_space_at(i)->name);
                os_space_at(i)->child_template(&t);
                int known = 0, keys = 0;
                for (const cJSON *it = dict->child; it; it = it->next, keys++)
                    known += os_arch_find(&t, it->string) >= 0;
                int miss = (keys - known) + (t.n - known);
                os_arch_free(&t);
                if (best_miss < 0 || miss < best_miss) {
                    best_miss = miss;
                    snprintf(first_err, sizeof first_err, "%s", err);
                }
            }
            if (found == 1) {
                rc = 0;
            } else {
                if (found > 1)
                    os_arch_free(child);
                os_error("%s", found ? "the labels fit several spaces: give --space" : first_err);
                rc = OS_ARCH_MISFIT;
            }
        }
    }
out:
    cJSON_Delete(j);
    if (!rc)
        *sp = s;
    return rc;
}

int os_arch_load(const char *src, const char *space, const os_space **sp, os_arch *child)
{
    /* named architectures and string forms first */
    for (int i = 0; i < os_space_count(); i++) {
        const os_space *s = os_space_at(i);
        if (!s->parse)
            continue;
        os_arch a;
        os_arch_init(&a, s->name);
        int r = s->parse(src, &a);
        if (r == 1) {
            os_arch_free(&a);
            continue;
        }
        if (r) {
            os_arch_free(&a);
            return OS_ARCH_MISFIT;
        }
        if (space && strcmp(space, s->name)) {
            os_arch_free(&a);
            disagree(src, s->name, space);
            return OS_ARCH_MISFIT;
        }
        *child = a;
        *sp = s;
        return 0;
    }
    /* a file: only a regular one (a FIFO would block, a folder is no JSON), read whole up to the limit */
    int fd = open(src, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        char names[256] = "";
        size_t o = 0;
        for (int i = 0; i < os_space_count(); i++)
            for (const char *const *n = os_space_at(i)->named; n && *n && o < sizeof names; n++)
                o += (size_t)snprintf(names + o, sizeof names - o, "%s, ", *n);
        return os_error("%s: cannot open architecture file: %s (give arch.json, an NNI label dict, %san nb201 "
                        "string |op~0|+...)", src, strerror(e), names);
    }
    struct stat st;
    if (fstat(fd, &st)) {
        int e = errno;
        close(fd);
        return os_error("%s: cannot read architecture file: %s", src, strerror(e));
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return os_error("%s: not a regular file (%s): give the architecture file itself (arch.json or an NNI label "
                        "dict)", src, S_ISDIR(st.st_mode) ? "a folder" : "a pipe, socket or device");
    }
    size_t cap = (size_t)st.st_size < OS_ARCH_MAX_FILE ? (size_t)st.st_size + 1 : OS_ARCH_MAX_FILE + 1, len = 0;
    char *buf = malloc(cap + 1);
    if (!buf) {
        close(fd);
        return os_error("%s: out of memory for %zu bytes", src, cap);
    }
    for (;;) { /* to the end, even when the file grew since fstat */
        if (len == cap) {
            if (cap > OS_ARCH_MAX_FILE)
                break;
            size_t nc = cap * 2 > OS_ARCH_MAX_FILE + 1 ? OS_ARCH_MAX_FILE + 1 : cap * 2;
            char *nb = realloc(buf, nc + 1);
            if (!nb) {
                free(buf);
                close(fd);
                return os_error("%s: out of memory for %zu bytes", src, nc);
            }
            buf = nb;
            cap = nc;
        }
        ssize_t r = read(fd, buf + len, cap - len);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            int e = errno;
            free(buf);
            close(fd);
            return os_error("%s: cannot read architecture file: %s", src, strerror(e));
        }
        if (r == 0)
            break;
        len += (size_t)r;
    }
    close(fd);
    if (len > OS_ARCH_MAX_FILE) {
        free(buf);
        return os_error("%s: larger than %d MB, the limit for an architecture file (arch.json files are a few kB): "
                        "is it the right file?", src, (int)(OS_ARCH_MAX_FILE >> 20));
    }
    if (memchr(buf, 0, len)) {
        free(buf);
        return os_error("%s: not a text file (it holds a zero byte): give arch.json or an NNI label dict", src);
    }
    buf[len] = 0;
    if (strspn(buf, " \t\r\n") == len) {
        free(buf);
        return os_error("%s: malformed JSON: the file is empty (give arch.json or an NNI label dict)", src);
    }
    int rc = os_arch_parse_json(buf, src, space, sp, child);
    free(buf);
    return rc;
}

/* ---- a fixed path through a supernet ---------------------------------------------- */
static void choose_fixed(os_net *net, const os_forward_ctx *ctx, void *arg)
{
    (void)ctx;
    const os_arch *a = arg;
    if (a->n != net->n_choices)
        os_fatal("%s supernet: the path has %d choices, the net %d", net->space, a->n, net->n_choices);
    for (int i = 0; i < net->n_choices; i++) {
        if (!a->c[i].chosen)
            os_fatal("%s supernet: choice '%s' of the path is not decided", net->space, a->c[i].label);
        os_net_mix_set(net, i, a->c[i].chosen, NULL);
    }
}

void os_net_choose_arch(os_net *net, const os_arch *a) { os_net_set_chooser(net, choose_fixed, (void *)a); }
