/* oneshot/config.c — flags, defaults and the JSON form of a run's configuration. */
#include "oneshot/config.h"
#include "search/strategy.h"
#include "supernet/supernet.h"
#include "tensor/error.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { T_INT, T_FLOAT, T_STR, T_BOOL };
#define TRAIN (1u << OS_CMD_TRAIN)
#define RETRAIN (1u << OS_CMD_RETRAIN)
#define EVAL (1u << OS_CMD_EVAL)
#define EXPORT (1u << OS_CMD_EXPORT)
#define COSTS (1u << OS_CMD_COSTS)
#define EVOLVE (1u << OS_CMD_EVOLVE)
#define FIT (TRAIN | RETRAIN)

typedef struct {
    const char *name;
    int type;
    size_t off, size;
    unsigned cmds;
    const char *help;
} flag;

#define F(nm, ty, field, cmds, help) {nm, ty, offsetof(os_config, field), sizeof(((os_config *)0)->field), cmds, help}
static const flag flags[] = {
    F("space", T_STR, space, TRAIN | RETRAIN | COSTS, "search space (see `oneshot spaces`)"),
    F("strategy", T_STR, strategy, TRAIN, "one-shot strategy (see `oneshot strategies`)"),
    F("data", T_STR, data, FIT | EVAL, "dataset directory (default: Fashion-MNIST from dataset-fashion-mnist)"),
    F("format", T_STR, format, FIT | EVAL, "cifar10 | cifar100 | idx | folder (default: detect)"),
    F("out", T_STR, out, FIT, "run directory (default: runs/<command>-<space>-<time>)"),
    F("resume", T_STR, resume, FIT, "continue the run in this directory where it stopped"),
    F("data", T_STR, data, EVOLVE, "the run's dataset directory, if it moved (default: the run's)"),
    F("format", T_STR, format, EVOLVE, "its format, if it changed (default: the run's)"),
    F("out", T_STR, out, EVOLVE, "where evolution.jsonl, arch.json and the evolution's state go (default: the run directory)"),
    F("run", T_STR, run, EVAL | EXPORT | EVOLVE, "the run directory to read"),
    F("arch", T_STR, arch, RETRAIN | COSTS, "arch.json (ours or NNI's), darts-v1, darts-v2, or an nb201 string"),
    F("epochs", T_INT, epochs, FIT, "epochs"),
    F("batch", T_INT, batch, FIT | EVAL | EVOLVE, "batch size (evolve: 0 = the run's)"),
    F("cells", T_INT, cells, FIT | COSTS, "cells (cifar_cell: in all; nb201: per stage)"),
    F("channels", T_INT, channels, FIT | COSTS, "initial channels"),
    F("subset", T_INT, subset, FIT, "use only the first N training images of each class (0 = all)"),
    F("test-subset", T_INT, max_per_class_test, FIT | EVAL, "use only the first N test images of each class (0 = all)"),
    F("seed", T_INT, seed, FIT | EVOLVE, "random seed (evolve: of the search, default 2)"),
    F("threads", T_INT, threads, FIT | EVAL | EVOLVE, "CPU threads (0 = all cores)"),
    F("train-portion", T_FLOAT, train_portion, TRAIN, "fraction of the training set that trains weights (rest: architecture)"),
    F("lr", T_FLOAT, lr, FIT, "weight learning rate (SGD)"),
    F("lr-min", T_FLOAT, lr_min, FIT, "cosine schedule floor"),
    F("momentum", T_FLOAT, momentum, FIT, "SGD momentum"),
    F("weight-decay", T_FLOAT, weight_decay, FIT, "SGD weight decay"),
    F("grad-clip", T_FLOAT, grad_clip, FIT, "global grad-norm clip (0 = off)"),
    F("max-skip", T_INT, max_skip, TRAIN | EXPORT, "cifar_cell: keep at most N skip_connect in the exported normal cell (-1 = off)"),
    F("auxiliary-weight", T_FLOAT, auxiliary_weight, RETRAIN, "auxiliary head loss weight (0 = no head)"),
    F("drop-path", T_FLOAT, drop_path, RETRAIN, "drop-path probability (ramped linearly over the epochs)"),
    F("label-smoothing", T_FLOAT, label_smoothing, FIT, "cross-entropy label smoothing"),
    F("cutout", T_INT, cutout, FIT, "cutout length (0 = off)"),
    F("crop-pad", T_INT, crop_pad, FIT, "random-crop zero padding (0 = off)"),
    F("flip", T_INT, flip, FIT, "random horizontal flip (1/0)"),
    F("input", T_STR, input, COSTS, "input shape CxHxW (default 3x32x32)"),
    F("classes", T_INT, classes, COSTS, "classes (default 10)"),
    F("log-every", T_INT, log_every, FIT | EVOLVE, "print a line every N steps (evolve: candidates) when not on a terminal"),
    F("val-batches", T_INT, val_batches, TRAIN, "validation batches per epoch (0 = all)"),
    F("val-batches", T_INT, val_batches, EVOLVE, "validation batches per candidate (0 = all of the run's validation half)"),
    F("limit-steps", T_INT, limit_steps, FIT, "at most N steps per epoch (0 = all; for quick runs)"),
    F("stop-after", T_INT, stop_after, FIT | EVOLVE, "stop as if interrupted after N steps (evolve: candidates) of this invocation (0 = never)"),
    F("population", T_INT, population, EVOLVE, "candidates per generation, the first all random (default 50)"),
    F("generations", T_INT, generations, EVOLVE, "generations after the random first one (default 20)"),
    F("top", T_INT, top, EVOLVE, "the best candidates so far that parent each generation (default 10)"),
    F("mutations", T_INT, mutations, EVOLVE, "mutants per generation (default 25)"),
    F("crossovers", T_INT, crossovers, EVOLVE, "crossovers per generation (default 25)"),
    F("mutation-prob", T_FLOAT, mutation_prob, EVOLVE, "probability that a mutation redraws a choice (default 0.1)"),
    F("bn-batches", T_INT, bn_batches, EVOLVE, "training batches that recalibrate each candidate's BN statistics (0 = none; default 10)"),
    F("max-params", T_STR, max_params, EVOLVE, "keep only candidates with at most this many parameters (e.g. 250000, 0.25M)"),
    F("max-madds", T_STR, max_madds, EVOLVE, "... at most this many multiply-adds per image (e.g. 40M)"),
    F("max-latency", T_FLOAT, max_latency, EVOLVE, "... at most this latency in ms (needs --latency-table)"),
    F("latency-table", T_STR, latency_table, EVOLVE, "JSON {\"<choice>\": {\"<candidate>\": ms}, \"fixed\": ms}"),
    F("random", T_INT, random_n, EVOLVE, "random search instead: N random candidates under the same limits"),
};
#undef F
#define N_FLAGS ((int)(sizeof flags / sizeof flags[0]))
static unsigned char given[N_FLAGS];

static const char *cmd_name(os_command c)
{
    static const char *n[] = {"train", "retrain", "eval", "export", "costs", "evolve"};
    return n[c];
}

static const os_strategy *strategy_of(const os_config *c) { return os_strategy_find(c->strategy); }

static void set_strategy_defaults(os_config *c)
{
    const os_strategy *s = strategy_of(c);
    memset(c->strategy_opts, 0, sizeof c->strategy_opts);
    if (s && s->options_size <= sizeof c->strategy_opts)
        os_options_defaults(s->options, s->n_options, c->strategy_opts);
}

int os_config_given(const char *name)
{
    for (int i = 0; i < N_FLAGS; i++)
        if (!strcmp(flags[i].name, name))
            return given[i];
    return 0;
}

void os_config_defaults(os_config *c, os_command cmd)
{
    memset(c, 0, sizeof *c);
    memset(given, 0, sizeof given);
    c->cmd = cmd;
    snprintf(c->space, sizeof c->space, "cifar_cell");
    snprintf(c->strategy, sizeof c->strategy, "darts");
    c->seed = 2;
    c->threads = 0;
    c->train_portion = 0.5f;
    c->momentum = 0.9f;
    c->grad_clip = 5.0f;
    c->max_skip = -1;
    set_strategy_defaults(c);
    c->log_every = 50;
    if (cmd == OS_CMD_EVOLVE) {
        /* SPOS's search (REFERENCE.md §7) */
        c->population = 50;
        c->generations = 20;
        c->top = 10;
        c->mutations = 25;
        c->crossovers = 25;
        c->mutation_prob = 0.1f;
        c->bn_batches = 10;
        c->log_every = 10;
        c->threads = 0;
        return;
    }
    if (cmd == OS_CMD_RETRAIN) {
        /* DARTS evaluation protocol (cnn/train.py) */
        c->epochs = 600;
        c->batch = 96;
        c->lr = 0.025f;
        c->lr_min = 0.0f;
        c->weight_decay = 3e-4f;
        c->auxiliary_weight = 0.4f;
        c->drop_path = 0.2f;
        c->cutout = 16;
        c->crop_pad = 4;
        c->flip = 1;
    } else {
        /* DARTS search protocol (cnn/train_search.py) */
        c->epochs = 50;
        c->batch = 64;
        c->lr = 0.025f;
        c->lr_min = 0.001f;
        c->weight_decay = 3e-4f;
        c->crop_pad = 4;
        c->flip = 1;
    }
}

void os_config_finish(os_config *c)
{
    const os_strategy *s = strategy_of(c);
    if (c->cmd == OS_CMD_TRAIN && s && s->default_epochs > 0 && !os_config_given("epochs"))
        c->epochs = s->default_epochs; /* the strategy's paper setting (GDAS: NAS-Bench-201's 250) */
}

void os_config_usage(os_command cmd)
{
    fprintf(stderr, "usage: oneshot %s [flags]\n\nflags:\n", cmd_name(cmd));
    for (int i = 0; i < N_FLAGS; i++) {
        if (!(flags[i].cmds & (1u << cmd)))
            continue;
        char left[40];
        snprintf(left, sizeof left, "--%s%s", flags[i].name,
                 flags[i].type == T_BOOL ? "" : flags[i].type == T_STR ? " S" : " N");
        fprintf(stderr, "  %-24s %s\n", left, flags[i].help);
    }
    if (cmd != OS_CMD_TRAIN)
        return;
    for (int i = 0; i < os_strategy_count(); i++) {
        const os_strategy *s = os_strategy_at(i);
        char buf[4096];
        os_options_help(s->options, s->n_options, buf, sizeof buf);
        fprintf(stderr, "\n%s options (--strategy %s):\n%s", s->name, s->name, s->n_options ? buf : "  (none)\n");
    }
}

static int set_value(os_config *c, const flag *f, const char *v)
{
    char *p = (char *)c + f->off, *end;
    errno = 0;
    switch (f->type) {
    case T_INT: {
        long x = strtol(v, &end, 10);
        if (*v == 0 || *end || errno || x < -1000000000L || x > 1000000000L)
            return os_error("--%s: '%s' is not an integer", f->name, v);
        *(int *)p = (int)x;
        return 0;
    }
    case T_FLOAT: {
        float x = strtof(v, &end);
        if (*v == 0 || *end || errno)
            return os_error("--%s: '%s' is not a number", f->name, v);
        *(float *)p = x;
        return 0;
    }
    case T_STR:
        if (strlen(v) >= f->size)
            return os_error("--%s: value too long (%zu characters at most)", f->name, f->size - 1);
        snprintf(p, f->size, "%s", v);
        return 0;
    }
    return os_error("--%s: internal flag type", f->name);
}

/* The strategy named on the command line, before the other flags (its
 * options may come first): its defaults replace the previous strategy's. */
static int prescan_strategy(os_config *c, int argc, char **argv, int from)
{
    if (c->cmd != OS_CMD_TRAIN)
        return 0;
    for (int i = from; i < argc; i++) {
        const char *v = NULL;
        if (!strcmp(argv[i], "--strategy") && i + 1 < argc)
            v = argv[i + 1];
        else if (!strncmp(argv[i], "--strategy=", 11))
            v = argv[i] + 11;
        if (v && strcmp(v, c->strategy)) {
            if (strlen(v) >= sizeof c->strategy)
                return os_error("--strategy: value too long (%zu characters at most)", sizeof c->strategy - 1);
            snprintf(c->strategy, sizeof c->strategy, "%s", v);
            set_strategy_defaults(c);
        }
    }
    return 0;
}

/* --name[=value] as an option of the strategy: 0 done, 1 not its option, -1 error */
static int strategy_flag(os_config *c, const char *name, const char *eq, int argc, char **argv, int *i)
{
    const os_strategy *s = c->cmd == OS_CMD_TRAIN ? strategy_of(c) : NULL;
    const os_option *r = NULL;
    for (int k = 0; s && k < s->n_options; k++)
        if (!strcmp(s->options[k].name, name))
            r = &s->options[k];
    if (!r)
        return 1;
    const char *v = eq ? eq + 1 : NULL;
    if (!v && r->type == OS_OPT_BOOL)
        v = "1";
    if (!v && !(*i + 1 < argc))
        return os_error("--%s needs a value", name);
    if (!v)
        v = argv[++*i];
    return os_options_set(s->options, s->n_options, c->strategy_opts, name, v) ? -1 : 0;
}

/* which other strategy has this option (for the message), or NULL */
static const char *owner_of(const char *name)
{
    for (int i = 0; i < os_strategy_count(); i++) {
        const os_strategy *s = os_strategy_at(i);
        for (int k = 0; k < s->n_options; k++)
            if (!strcmp(s->options[k].name, name))
                return s->name;
    }
    return NULL;
}

int os_config_parse(os_config *c, int argc, char **argv, int from)
{
    if (prescan_strategy(c, argc, argv, from))
        return -1;
    for (int i = from; i < argc; i++) {
        const char *a = argv[i];
        if (strncmp(a, "--", 2))
            return os_error("unexpected argument '%s' (flags start with --; see `oneshot %s --help`)", a, cmd_name(c->cmd));
        char name[64];
        const char *eq = strchr(a + 2, '=');
        size_t len = eq ? (size_t)(eq - a - 2) : strlen(a + 2);
        snprintf(name, sizeof name, "%.*s", (int)(len < 63 ? len : 63), a + 2);
        int k = -1;
        for (int j = 0; j < N_FLAGS; j++)
            if (!strcmp(flags[j].name, name) && (flags[j].cmds & (1u << c->cmd)))
                k = j;
        if (k < 0) {
            int r = strategy_flag(c, name, eq, argc, argv, &i);
            if (r <= 0) {
                if (r < 0)
                    return -1;
                continue;
            }
            const char *own = c->cmd == OS_CMD_TRAIN ? owner_of(name) : NULL;
            if (own)
                return os_error("--%s is an option of the %s strategy, not of %s", name, own, c->strategy);
            char list[2048];
            int o = 0;
            for (int j = 0; j < N_FLAGS; j++)
                if (flags[j].cmds & (1u << c->cmd))
                    o += snprintf(list + o, sizeof list - o, "%s--%s", o ? ", " : "", flags[j].name);
            return os_error("unknown flag '--%s' for `oneshot %s`; valid flags: %s, --help", name,
                            cmd_name(c->cmd), list);
        }
        const flag *f = &flags[k];
        given[k] = 1;
        if (f->type == T_BOOL) {
            int v = 1;
            if (eq && (!strcmp(eq + 1, "0") || !strcmp(eq + 1, "false")))
                v = 0;
            *(int *)((char *)c + f->off) = v;
            continue;
        }
        const char *v = eq ? eq + 1 : (i + 1 < argc ? argv[++i] : NULL);
        if (!v)
            return os_error("--%s needs a value", f->name);
        if (set_value(c, f, v))
            return -1;
    }
    return 0;
}

/* Does a flag apply to this run (its command, space and strategy)? */
static int applies(const os_config *c, const flag *f)
{
    if (!(f->cmds & (1u << c->cmd)))
        return 0;
    const os_space *sp = os_space_find(c->space);
    unsigned feat = sp ? sp->features : ~0u;
    if (!strcmp(f->name, "auxiliary-weight"))
        return (feat & OS_SPACE_AUX_HEAD) != 0;
    if (!strcmp(f->name, "drop-path"))
        return (feat & OS_SPACE_DROP_PATH) != 0;
    if (!strcmp(f->name, "max-skip"))
        return (feat & OS_SPACE_MAX_SKIP) != 0;
    return 1;
}

cJSON *os_config_to_json(const os_config *c)
{
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "command", cmd_name(c->cmd));
    for (int i = 0; i < N_FLAGS; i++) {
        const flag *f = &flags[i];
        const char *p = (const char *)c + f->off;
        if (!applies(c, f))
            continue;
        switch (f->type) {
        case T_INT:
        case T_BOOL: cJSON_AddNumberToObject(j, f->name, *(const int *)p); break;
        case T_FLOAT: cJSON_AddNumberToObject(j, f->name, *(const float *)p); break;
        case T_STR: cJSON_AddStringToObject(j, f->name, p); break;
        }
    }
    const os_strategy *s = strategy_of(c);
    if (c->cmd == OS_CMD_TRAIN && s)
        cJSON_AddItemToObject(j, "strategy_options", os_options_to_json(s->options, s->n_options, c->strategy_opts));
    return j;
}

int os_config_from_json(os_config *c, const cJSON *j)
{
    const cJSON *cmd = cJSON_GetObjectItemCaseSensitive(j, "command");
    if (cmd) {
        int k = -1;
        for (int i = 0; i <= OS_CMD_EVOLVE; i++)
            if (cJSON_IsString(cmd) && !strcmp(cmd->valuestring, cmd_name((os_command)i)))
                k = i;
        if (k < 0)
            return os_error("config: key 'command' must be one of train, retrain, eval, export, costs, evolve");
        c->cmd = (os_command)k;
    }
    const cJSON *st = cJSON_GetObjectItemCaseSensitive(j, "strategy");
    if (cJSON_IsString(st) && strcmp(st->valuestring, c->strategy)) {
        snprintf(c->strategy, sizeof c->strategy, "%s", st->valuestring);
        set_strategy_defaults(c);
    }
    for (int i = 0; i < N_FLAGS; i++) {
        const flag *f = &flags[i];
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, f->name);
        if (!v)
            continue;
        char *p = (char *)c + f->off;
        if (f->type == T_STR) {
            if (!cJSON_IsString(v))
                return os_error("config: key '%s' must be a string", f->name);
            snprintf(p, f->size, "%s", v->valuestring);
        } else {
            if (!cJSON_IsNumber(v))
                return os_error("config: key '%s' must be a number", f->name);
            if (f->type == T_FLOAT)
                *(float *)p = (float)v->valuedouble;
            else
                *(int *)p = v->valueint;
        }
    }
    const cJSON *so = cJSON_GetObjectItemCaseSensitive(j, "strategy_options");
    const os_strategy *s = strategy_of(c);
    if (so && s && os_options_from_json(s->options, s->n_options, c->strategy_opts, so))
        return -1;
    return 0;
}
