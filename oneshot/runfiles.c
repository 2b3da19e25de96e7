/* oneshot/runfiles.c — config.json, metrics.jsonl, arch.json of a run. */
#include "oneshot/runfiles.h"
#include "search/latency.h"
#include "tensor/error.h"
#include "ops/count.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

int os_mkdirs(const char *path)
{
    char tmp[600];
    snprintf(tmp, sizeof tmp, "%s", path);
    for (char *p = tmp + 1; *p; p++)
        if (*p == '/') {
            *p = 0;
            if (mkdir(tmp, 0755) && errno != EEXIST)
                return os_error("%s: cannot create directory: %s", tmp, strerror(errno));
            *p = '/';
        }
    if (mkdir(tmp, 0755) && errno != EEXIST)
        return os_error("%s: cannot create directory: %s", tmp, strerror(errno));
    return 0;
}

static int has_run(const char *dir)
{
    static const char *const files[] = {"checkpoint.safetensors", "metrics.jsonl", "config.json"};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        char p[700];
        snprintf(p, sizeof p, "%s/%s", dir, files[i]);
        if (access(p, F_OK) == 0)
            return 1;
    }
    return 0;
}

/* remove a run's files (--force), keeping anything else in the directory */
static int clear_run(const char *dir)
{
    static const char *const files[] = {"checkpoint.safetensors", "checkpoint.safetensors.tmp", "metrics.jsonl",
                                        "config.json", "arch.json"};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        char p[700];
        snprintf(p, sizeof p, "%s/%s", dir, files[i]);
        if (unlink(p) && errno != ENOENT)
            return os_error("--force: cannot remove %s: %s", p, strerror(errno));
    }
    return 0;
}

int os_run_dir(const os_config *c, char *dir, size_t n, int *created)
{
    struct stat sb;
    *created = 0;
    if (c->resume[0]) {
        snprintf(dir, n, "%s", c->resume);
        if (stat(dir, &sb) || !S_ISDIR(sb.st_mode))
            return os_error("--resume %s: no such run directory", dir);
        return 0;
    }
    if (c->out[0]) {
        snprintf(dir, n, "%s", c->out);
        if (stat(dir, &sb) == 0) {
            if (!S_ISDIR(sb.st_mode))
                return os_error("--out %s: exists and is not a directory", dir);
            if (has_run(dir) && !c->force)
                return os_error("--out %s holds a run already: continue it with `oneshot %s --resume %s`, or "
                                "start it over with --force", dir, c->cmd == OS_CMD_TRAIN ? "train" : "retrain", dir);
            return c->force ? clear_run(dir) : 0;
        }
        if (os_mkdirs(dir))
            return -1;
        *created = 1;
        return 0;
    }
    /* runs/<cmd>-<space>-<time>, then -2, -3, ...: never an existing one */
    char ts[32], base[600];
    time_t t = time(NULL);
    strftime(ts, sizeof ts, "%Y%m%d-%H%M%S", localtime(&t));
    snprintf(base, sizeof base, "runs/%s-%s-%s", c->cmd == OS_CMD_TRAIN ? "search" : "retrain", c->space, ts);
    if (os_mkdirs("runs"))
        return -1;
    for (int k = 1; k < 10000; k++) {
        if (k == 1)
            snprintf(dir, n, "%s", base);
        else
            snprintf(dir, n, "%s-%d", base, k);
        if (mkdir(dir, 0755) == 0) {
            *created = 1;
            return 0;
        }
        if (errno != EEXIST)
            return os_error("%s: cannot create directory: %s", dir, strerror(errno));
    }
    return os_error("%s: too many runs with this name", base);
}

int os_run_lock(const char *dir)
{
    char p[700];
    snprintf(p, sizeof p, "%s/.lock", dir);
    int fd = open(p, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0)
        return os_error("%s: cannot create the run's lock file: %s", p, strerror(errno));
    if (flock(fd, LOCK_EX | LOCK_NB)) {
        char pid[32] = "";
        ssize_t got = pread(fd, pid, sizeof pid - 1, 0);
        pid[got > 0 ? got : 0] = 0;
        pid[strcspn(pid, "\n")] = 0;
        close(fd);
        return os_error("%s is in use by another oneshot process%s%s (two runs in one directory would mix "
                        "their files)", dir, pid[0] ? ", pid " : "", pid);
    }
    char b[32];
    int len = snprintf(b, sizeof b, "%ld\n", (long)getpid());
    if (ftruncate(fd, 0) || pwrite(fd, b, (size_t)len, 0) != len) {
        /* the lock holds without the pid */
    }
    return fd;
}

void os_run_unlock(const char *dir, int fd, int remove_dir)
{
    char p[700];
    snprintf(p, sizeof p, "%s/.lock", dir);
    if (fd >= 0) {
        unlink(p);
        close(fd);
    }
    if (remove_dir) {
        /* a run that failed before it wrote anything leaves nothing behind */
        if (!has_run(dir)) {
            snprintf(p, sizeof p, "%s/arch.json", dir);
            unlink(p);
            rmdir(dir);
        }
    }
}

int os_write_file_atomic(const char *path, const char *text)
{
    char tmp[700];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0)
        return os_error("%s: cannot write: %s", tmp, strerror(errno));
    size_t len = strlen(text), off = 0;
    while (off < len) {
        ssize_t w = write(fd, text + off, len - off);
        if (w < 0) {
            int e = errno;
            close(fd);
            unlink(tmp);
            return os_error("%s: write failed: %s", tmp, strerror(e));
        }
        off += (size_t)w;
    }
    if (fsync(fd) || close(fd)) {
        int e = errno;
        unlink(tmp);
        return os_error("%s: fsync failed: %s", tmp, strerror(e));
    }
    if (rename(tmp, path)) {
        int e = errno;
        unlink(tmp);
        return os_error("%s: rename failed: %s", path, strerror(e));
    }
    return 0;
}

int os_write_text(const char *path, const char *text)
{
    size_t n = strlen(text);
    char *t2 = malloc(n + 2);
    if (!t2)
        return os_error("%s: out of memory", path);
    memcpy(t2, text, n);
    memcpy(t2 + n, "\n", 2);
    int rc = os_write_file_atomic(path, t2);
    free(t2);
    return rc;
}

static int write_json(const char *path, cJSON *j)
{
    char *txt = cJSON_Print(j);
    int rc = os_write_text(path, txt);
    free(txt);
    return rc;
}

int os_write_config(const os_config *c, const char *dir, long n_weights, long n_arch, const os_run_data *d)
{
    cJSON *j = os_config_to_json(c);
    cJSON *p = cJSON_CreateObject();
    cJSON_AddNumberToObject(p, "weights", (double)n_weights);
    cJSON_AddNumberToObject(p, "arch", (double)n_arch);
    cJSON_AddItemToObject(j, "params", p);
    cJSON *in = cJSON_CreateObject();
    cJSON_AddStringToObject(in, "source", d->train.source);
    cJSON_AddStringToObject(in, "format", d->train.format);
    cJSON_AddNumberToObject(in, "channels", d->train.c);
    cJSON_AddNumberToObject(in, "height", d->train.h);
    cJSON_AddNumberToObject(in, "width", d->train.w);
    cJSON_AddNumberToObject(in, "classes", d->train.num_classes);
    cJSON_AddNumberToObject(in, "train_images", d->n_w);
    cJSON_AddNumberToObject(in, "arch_images", d->n_a);
    cJSON_AddNumberToObject(in, "test_images", d->test.n);
    cJSON_AddItemToObject(j, "dataset", in);
    char path[700];
    snprintf(path, sizeof path, "%s/config.json", dir);
    int rc = write_json(path, j);
    cJSON_Delete(j);
    return rc;
}

int os_append_metrics(const char *dir, const os_epoch_record *r, const os_net *net, const cJSON *extra)
{
    cJSON *j = cJSON_CreateObject();
    cJSON_AddNumberToObject(j, "epoch", r->epoch);
    cJSON_AddNumberToObject(j, "train_loss", r->train_loss);
    cJSON_AddNumberToObject(j, "train_acc", r->train_acc);
    cJSON_AddNumberToObject(j, "val_loss", r->val_loss);
    cJSON_AddNumberToObject(j, "val_acc", r->val_acc);
    cJSON_AddNumberToObject(j, "lr", r->lr);
    cJSON_AddNumberToObject(j, "seconds", r->seconds);
    cJSON_AddNumberToObject(j, "images_per_sec", r->images_per_sec);
    cJSON_AddNumberToObject(j, "arena_high_water_bytes", (double)r->arena_bytes);
    for (const cJSON *e = extra ? extra->child : NULL; e; e = e->next)
        cJSON_AddItemToObject(j, e->string, cJSON_Duplicate(e, 1));
    if (net && net->n_choices) {
        cJSON *a = cJSON_CreateObject();
        for (int i = 0; i < net->n_choices; i++) {
            float p[OS_MAX_CANDIDATES];
            os_choice_probs(&net->choices[i], p);
            cJSON *arr = cJSON_CreateArray();
            for (int k = 0; k < net->choices[i].n; k++)
                cJSON_AddItemToArray(arr, cJSON_CreateNumber(((int)(p[k] * 1e6 + 0.5)) / 1e6));
            cJSON_AddItemToObject(a, net->choices[i].label, arr);
        }
        cJSON_AddItemToObject(j, "alpha_probs", a);
    }
    char *txt = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    char path[700];
    snprintf(path, sizeof path, "%s/metrics.jsonl", dir);
    /* the line goes out in one write; a failed or short one is cut off again,
     * so the file stays whole JSON lines (os_trim_metrics drops a partial
     * line left by a kill) */
    size_t len = strlen(txt);
    txt = realloc(txt, len + 2);
    memcpy(txt + len, "\n", 2);
    int rc = 0, fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) {
        rc = os_error("%s: cannot append: %s", path, strerror(errno));
    } else {
        off_t before = lseek(fd, 0, SEEK_END);
        ssize_t w = write(fd, txt, len + 1);
        if (w != (ssize_t)(len + 1) || fsync(fd)) {
            int e = w < 0 ? errno : ENOSPC;
            if (before >= 0 && ftruncate(fd, before)) {
                /* nothing more to do: the resume drops a partial line */
            }
            rc = os_error("%s: cannot append: %s", path, strerror(e));
        }
        close(fd);
    }
    free(txt);
    return rc;
}

int os_trim_metrics(const char *dir, int epochs_done)
{
    char path[700];
    snprintf(path, sizeof path, "%s/metrics.jsonl", dir);
    FILE *f = fopen(path, "rb");
    if (!f)
        return 0;
    char *keep = NULL, *line = NULL;
    size_t kept = 0, cap = 0;
    int dropped = 0;
    ssize_t len;
    while ((len = getline(&line, &cap, f)) > 0) {
        cJSON *j = cJSON_Parse(line);
        const cJSON *e = cJSON_GetObjectItem(j, "epoch");
        /* a line cut by a kill or a full disk, or one of an epoch after the
         * checkpoint, goes */
        if (!j || line[len - 1] != '\n' || !cJSON_IsNumber(e) || e->valueint > epochs_done) {
            dropped++;
        } else {
            keep = realloc(keep, kept + (size_t)len + 1);
            memcpy(keep + kept, line, (size_t)len);
            kept += (size_t)len;
        }
        cJSON_Delete(j);
    }
    free(line);
    fclose(f);
    int rc = 0;
    if (dropped) {
        keep = realloc(keep, kept + 1);
        keep[kept] = 0;
        rc = os_write_file_atomic(path, keep);
    }
    free(keep);
    return rc;
}

/* the value of a strategy's string option by name, or NULL */
static const char *strategy_string_option(const os_trainer *t, const char *name)
{
    if (!t->strategy || !t->options)
        return NULL;
    for (int i = 0; i < t->strategy->n_options; i++) {
        const os_option *op = &t->strategy->options[i];
        if (op->type == OS_OPT_STRING && !strcmp(op->name, name))
            return (const char *)t->options + op->offset;
    }
    return NULL;
}

/* "costs" of arch.json: the child's parameters and multiply-adds per image,
 * built at the search's input, cells and channels (a retrain at other
 * settings costs more or less) */
static void child_costs(os_trainer *t, const os_arch *child, char **txt)
{
    const os_net *n = t->net;
    os_space_opts so = {.cells = n->cells, .channels = n->channels, .in_c = n->in_c, .in_h = n->in_h,
                        .in_w = n->in_w, .num_classes = n->num_classes, .seed = 1, .arch = child};
    os_net cn;
    if (t->space->build(&cn, &so))
        return; /* arch.json without costs rather than no arch.json */
    os_cost c;
    os_net_cost(&cn, &c);
    os_net_free(&cn);
    cJSON *j = cJSON_Parse(*txt);
    if (!j)
        return;
    cJSON *o = cJSON_AddObjectToObject(j, "costs");
    int in[3] = {n->in_c, n->in_h, n->in_w};
    cJSON_AddItemToObject(o, "input", cJSON_CreateIntArray(in, 3));
    cJSON_AddNumberToObject(o, "cells", n->cells);
    cJSON_AddNumberToObject(o, "channels", n->channels);
    cJSON_AddNumberToObject(o, "params", (double)c.params);
    cJSON_AddNumberToObject(o, "madds", (double)c.macs);
    /* a strategy searching against a latency table (its string option
     * "latency-table", e.g. proxyless): the latency that table predicts */
    const char *table = strategy_string_option(t, "latency-table");
    if (table && table[0]) {
        os_space_opts po = so;
        po.arch = NULL;
        double ms;
        if (!os_latency_predict(t->space, &po, child, table, 0, 0, &ms)) {
            cJSON_AddNumberToObject(o, "predicted_latency_ms", ms);
            cJSON_AddStringToObject(o, "latency_table", table);
        }
    }
    char *nt = cJSON_Print(j);
    cJSON_Delete(j);
    if (nt) {
        free(*txt);
        *txt = nt;
    }
}

int os_export_run_arch(os_trainer *t, int max_skip, const char *dir, int verbose, os_arch *child_out)
{
    os_arch w, child;
    os_derive_opts o = {.max_skip = max_skip};
    if (os_trainer_derive(t, &o, &w, &child)) {
        char msg[1024];
        snprintf(msg, sizeof msg, "%s", os_last_error());
        return os_error("export: %s", msg);
    }
    char *txt = os_arch_json(t->space, &child, &w);
    child_costs(t, &child, &txt);
    char path[700];
    snprintf(path, sizeof path, "%s/arch.json", dir);
    int rc = os_write_text(path, txt);
    if (!rc && verbose) {
        cJSON *j = cJSON_Parse(txt);
        const cJSON *g = cJSON_GetObjectItem(j, "genotype");
        const cJSON *s = cJSON_GetObjectItem(j, "arch_str");
        char *flat = NULL;
        if (!cJSON_IsString(g) && !cJSON_IsString(s))
            flat = cJSON_PrintUnformatted(cJSON_GetObjectItem(j, "arch"));
        printf("architecture found (%s):\n  %s\n", path,
               cJSON_IsString(g) ? g->valuestring : cJSON_IsString(s) ? s->valuestring : flat);
        free(flat);
        cJSON_Delete(j);
    }
    free(txt);
    os_arch_free(&w);
    if (child_out && !rc)
        *child_out = child;
    else
        os_arch_free(&child);
    return rc;
}
