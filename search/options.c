/* search/options.c — option tables (see options.h). */
#include "search/options.h"
#include "tensor/error.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int *ifield(void *o, const os_option *r) { return (int *)((char *)o + r->offset); }
static float *ffield(void *o, const os_option *r) { return (float *)((char *)o + r->offset); }
static char *sfield(void *o, const os_option *r) { return (char *)o + r->offset; }
static double value_of(const void *o, const os_option *r)
{
    return r->type == OS_OPT_FLOAT ? (double)*ffield((void *)o, r) : (double)*ifield((void *)o, r);
}

static int enum_count(const os_option *r)
{
    int k = 0;
    while (r->names && r->names[k])
        k++;
    return k;
}

/* "a, b, c" */
static void enum_list(const os_option *r, char *buf, size_t size)
{
    size_t o = 0;
    buf[0] = 0;
    for (int k = 0; k < enum_count(r) && o < size; k++)
        o += (size_t)snprintf(buf + o, size - o, "%s%s", k ? ", " : "", r->names[k]);
}

void os_options_defaults(const os_option *t, int n, void *opts)
{
    for (int i = 0; i < n; i++) {
        if (t[i].type == OS_OPT_FLOAT)
            *ffield(opts, &t[i]) = (float)t[i].def;
        else if (t[i].type == OS_OPT_STRING)
            memset(sfield(opts, &t[i]), 0, OS_OPT_STRING_MAX);
        else
            *ifield(opts, &t[i]) = (int)t[i].def;
    }
}

static int range_error(const os_option *r, const char *value)
{
    if (r->type == OS_OPT_BOOL)
        return os_error("--%s: '%s' must be 1 or 0", r->name, value);
    if (r->type == OS_OPT_ENUM) {
        char list[256];
        enum_list(r, list, sizeof list);
        return os_error("--%s: '%s' must be one of %s", r->name, value, list);
    }
    if (r->type == OS_OPT_STRING)
        return os_error("--%s: value too long (%d characters at most)", r->name, OS_OPT_STRING_MAX - 1);
    return os_error("--%s: %s is out of range (%g to %g)", r->name, value, r->lo, r->hi);
}

int os_options_set(const os_option *t, int n, void *opts, const char *name, const char *value)
{
    const os_option *r = NULL;
    for (int i = 0; i < n; i++)
        if (!strcmp(t[i].name, name))
            r = &t[i];
    if (!r)
        return 1;
    char *end;
    errno = 0;
    if (r->type == OS_OPT_BOOL) {
        int v = !strcmp(value, "1") || !strcmp(value, "true") ? 1 : !strcmp(value, "0") || !strcmp(value, "false") ? 0 : -1;
        if (v < 0)
            return range_error(r, value);
        *ifield(opts, r) = v;
        return 0;
    }
    if (r->type == OS_OPT_STRING) {
        if (strlen(value) >= OS_OPT_STRING_MAX)
            return range_error(r, value);
        memset(sfield(opts, r), 0, OS_OPT_STRING_MAX);
        memcpy(sfield(opts, r), value, strlen(value));
        return 0;
    }
    if (r->type == OS_OPT_ENUM) {
        for (int k = 0; k < enum_count(r); k++)
            if (!strcmp(r->names[k], value)) {
                *ifield(opts, r) = k;
                return 0;
            }
        return range_error(r, value);
    }
    double v = strtod(value, &end);
    if (!*value || *end || errno || !isfinite(v))
        return os_error("--%s: '%s' is not a%s", r->name, value, r->type == OS_OPT_INT ? "n integer" : " number");
    if (r->type == OS_OPT_INT && v != floor(v))
        return os_error("--%s: '%s' is not an integer", r->name, value);
    if (v < r->lo || v > r->hi)
        return range_error(r, value);
    if (r->type == OS_OPT_FLOAT)
        *ffield(opts, r) = strtof(value, NULL); /* the float nearest the text, as a flag gave it */
    else
        *ifield(opts, r) = (int)v;
    return 0;
}

int os_options_check(const os_option *t, int n, const void *opts)
{
    for (int i = 0; i < n; i++) {
        if (t[i].type == OS_OPT_STRING) {
            if (!memchr(sfield((void *)opts, &t[i]), 0, OS_OPT_STRING_MAX))
                return range_error(&t[i], "(unterminated)");
            continue;
        }
        if (t[i].type == OS_OPT_ENUM) {
            int k = *ifield((void *)opts, &t[i]);
            if (k < 0 || k >= enum_count(&t[i])) {
                char b[32];
                snprintf(b, sizeof b, "%d", k);
                return range_error(&t[i], b);
            }
            continue;
        }
        double v = value_of(opts, &t[i]);
        if (!(v >= t[i].lo && v <= t[i].hi)) {
            char b[32];
            snprintf(b, sizeof b, "%g", v);
            return range_error(&t[i], b);
        }
    }
    return 0;
}

cJSON *os_options_to_json(const os_option *t, int n, const void *opts)
{
    cJSON *j = cJSON_CreateObject();
    for (int i = 0; i < n; i++) {
        if (t[i].type == OS_OPT_STRING)
            cJSON_AddStringToObject(j, t[i].name, sfield((void *)opts, &t[i]));
        else if (t[i].type == OS_OPT_ENUM) {
            int k = *ifield((void *)opts, &t[i]);
            cJSON_AddStringToObject(j, t[i].name, k >= 0 && k < enum_count(&t[i]) ? t[i].names[k] : "");
        } else
            cJSON_AddNumberToObject(j, t[i].name, value_of(opts, &t[i]));
    }
    return j;
}

int os_options_from_json(const os_option *t, int n, void *opts, const cJSON *j)
{
    if (!cJSON_IsObject(j))
        return os_error("strategy options: expected a JSON object");
    for (const cJSON *it = j->child; it; it = it->next) {
        const os_option *r = NULL;
        for (int i = 0; i < n; i++)
            if (!strcmp(t[i].name, it->string))
                r = &t[i];
        if (!r)
            return os_error("strategy options: unknown key '%s'", it->string);
        if (r->type == OS_OPT_STRING || r->type == OS_OPT_ENUM) {
            if (!cJSON_IsString(it))
                return os_error("strategy options: key '%s' must be a string", it->string);
            if (os_options_set(t, n, opts, r->name, it->valuestring))
                return -1;
            continue;
        }
        if (!cJSON_IsNumber(it))
            return os_error("strategy options: key '%s' must be a number", it->string);
        char b[64];
        snprintf(b, sizeof b, r->type == OS_OPT_FLOAT ? "%.9g" : "%.0f", it->valuedouble);
        if (os_options_set(t, n, opts, r->name, b))
            return -1;
    }
    return 0;
}

int os_options_help(const os_option *t, int n, char *buf, size_t size)
{
    size_t o = 0;
    if (size)
        buf[0] = 0;
    for (int i = 0; i < n && o < size; i++) {
        char left[40];
        const char *arg = t[i].type == OS_OPT_BOOL ? "" : t[i].type == OS_OPT_STRING ? " FILE"
                          : t[i].type == OS_OPT_ENUM ? " S" : " N";
        snprintf(left, sizeof left, "--%s%s", t[i].name, arg);
        if (t[i].type == OS_OPT_STRING)
            o += (size_t)snprintf(buf + o, size - o, "  %-24s %s (default none)\n", left, t[i].help);
        else if (t[i].type == OS_OPT_ENUM) {
            char list[256];
            enum_list(&t[i], list, sizeof list);
            o += (size_t)snprintf(buf + o, size - o, "  %-24s %s: %s (default %s)\n", left, t[i].help, list,
                                  t[i].names[(int)t[i].def]);
        } else
            o += (size_t)snprintf(buf + o, size - o, "  %-24s %s (default %g)\n", left, t[i].help, t[i].def);
    }
    return (int)o;
}
