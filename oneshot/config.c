/* oneshot/config.c — flags, defaults and the JSON form of a run's configuration. */
#include "oneshot/config.h"
#include "search/evolve.h"
#include "search/strategy.h"
#include "supernet/arch.h"
#include "supernet/supernet.h"
#include "tensor/error.h"

#include <errno.h>
#include <math.h>
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
#define PLOT (1u << OS_CMD_PLOT)
#define EVOLVE (1u << OS_CMD_EVOLVE)
#define LATENCY (1u << OS_CMD_LATENCY)
#define QUERY (1u << OS_CMD_QUERY)
#define PERTURB (1u << OS_CMD_PERTURB)
#define FIT (TRAIN | RETRAIN)

/* On --resume a flag must keep the run's value (FIXED), may change (FREE:
 * how long, how much is printed or evaluated), or may change with a warning
 * (WARN: the thread count changes the float sums' order). */
enum { FIXED, FREE, WARN };

typedef struct {
    const char *name;
    int type;
    size_t off, size;
    unsigned cmds;
    double lo, hi;      /* numbers: the allowed range */
    int on_resume;
    const char *help;
} flag;

#define F(nm, ty, field, cmds, lo, hi, res, help) \
    {nm, ty, offsetof(os_config, field), sizeof(((os_config *)0)->field), cmds, lo, hi, res, help}
#define BIG 1e9
static const flag flags[] = {
    F("space", T_STR, space, TRAIN | RETRAIN | COSTS | LATENCY, 0, 0, FIXED, "search space (see `oneshot spaces`)"),
    F("strategy", T_STR, strategy, TRAIN, 0, 0, FIXED, "one-shot strategy (see `oneshot strategies`)"),
    F("data", T_STR, data, FIT | EVAL, 0, 0, FIXED, "dataset directory (default: Fashion-MNIST from dataset-fashion-mnist)"),
    F("format", T_STR, format, FIT | EVAL, 0, 0, FIXED, "cifar10 | cifar100 | idx | folder (default: detect)"),
    F("out", T_STR, out, FIT, 0, 0, FREE, "run directory (default: runs/<command>-<space>-<time>)"),
    F("force", T_BOOL, force, FIT, 0, 1, FREE, "with --out: remove the run in that directory and start over"),
    F("resume", T_STR, resume, FIT, 0, 0, FREE, "continue the run in this directory where it stopped"),
    F("out", T_STR, out, PLOT, 0, 0, FREE, "where the pictures go (default: RUN/plots; with --arch only: plots)"),
    F("run", T_STR, run, EVAL | EXPORT | PLOT | EVOLVE | PERTURB, 0, 0, FREE, "the run directory to read"),
    F("arch", T_STR, arch, RETRAIN | COSTS | PLOT | LATENCY | QUERY, 0, 0, FIXED, "arch.json (ours or NNI's), darts-v1, darts-v2, or an nb201 string"),
    F("epochs", T_INT, epochs, FIT, 1, BIG, FREE, "epochs"),
    F("batch", T_INT, batch, FIT | EVAL | EVOLVE | PERTURB | LATENCY, 1, 65536, FIXED, "batch size (evolve, perturb: default the run's)"),
    F("cells", T_INT, cells, FIT | COSTS | LATENCY, 1, 1000, FIXED, "cells (cifar_cell: in all; nb201: per stage)"),
    F("channels", T_INT, channels, FIT | COSTS | LATENCY, 1, 4096, FIXED, "initial channels"),
    F("subset", T_INT, subset, FIT, 0, BIG, FIXED, "use only the first N training images of each class (0 = all)"),
    F("test-subset", T_INT, max_per_class_test, FIT | EVAL, 0, BIG, FIXED, "use only the first N test images of each class (0 = all)"),
    F("seed", T_INT, seed, FIT | EVOLVE | PERTURB, 0, 2147483647, FIXED, "random seed (evolve: of the search, perturb: of the order of choices; default 2)"),
    F("threads", T_INT, threads, FIT | EVAL | EVOLVE | PERTURB | LATENCY, 0, 1024, WARN, "CPU threads (0 = all cores)"),
    F("device", T_STR, device, FIT | EVAL | LATENCY, 0, 0, WARN, "cpu | cuda | cuda-emu | debug (default: cuda when a GPU is present, else cpu)"),
    F("train-portion", T_FLOAT, train_portion, TRAIN, 0.01, 0.99, FIXED, "fraction of the training set that trains weights (rest: architecture)"),
    F("lr", T_FLOAT, lr, FIT, 1e-09, 1e6, FIXED, "weight learning rate (SGD)"),
    F("lr-min", T_FLOAT, lr_min, FIT, 0, 1e6, FIXED, "cosine schedule floor"),
    F("momentum", T_FLOAT, momentum, FIT, 0, 0.999, FIXED, "SGD momentum"),
    F("weight-decay", T_FLOAT, weight_decay, FIT, 0, 1, FIXED, "SGD weight decay"),
    F("grad-clip", T_FLOAT, grad_clip, FIT, 0, 1000000.0, FIXED, "global grad-norm clip (0 = off)"),
    F("max-skip", T_INT, max_skip, TRAIN | EXPORT, -1, 8, FREE, "keep at most N skip_connect in the exported cell (cifar_cell: the normal cell; -1 = off)"),
    F("stop-skips", T_INT, stop_skips, TRAIN, 0, 64, FREE, "stop the search once the derived architecture has N or more skip_connect (0 = off)"),
    F("bn-batch-stats", T_INT, bn_batch_stats, TRAIN, 0, 1, FIXED, "nb201: supernet BN without running statistics, batch statistics in train and eval (1/0)"),
    F("protocol", T_STR, protocol, TRAIN, 0, 0, FIXED, "nb201: NAS-Bench-201's search settings for the strategy (explicit flags still override)"),
    F("benchmark", T_STR, benchmark, TRAIN | EXPORT | QUERY | EVOLVE | PERTURB, 0, 0, FREE, "nb201: the NAS-Bench-201 table for scoring (default: $ONESHOT_NB201, or nb201/nats_tss_200ep.csv beside --data)"),
    F("auxiliary-weight", T_FLOAT, auxiliary_weight, RETRAIN, 0, 10, FIXED, "auxiliary head loss weight (0 = no head)"),
    F("drop-path", T_FLOAT, drop_path, RETRAIN, 0, 0.9, FIXED, "drop-path probability (ramped linearly over the epochs)"),
    F("label-smoothing", T_FLOAT, label_smoothing, FIT, 0, 0.99, FIXED, "cross-entropy label smoothing"),
    F("cutout", T_INT, cutout, FIT, 0, 4096, FIXED, "cutout length (0 = off)"),
    F("crop-pad", T_INT, crop_pad, FIT, 0, 4096, FIXED, "random-crop zero padding (0 = off)"),
    F("flip", T_INT, flip, FIT, 0, 1, FIXED, "random horizontal flip (1/0)"),
    F("input", T_STR, input, COSTS | LATENCY, 0, 0, FREE, "input shape CxHxW (default 3x32x32)"),
    F("classes", T_INT, classes, COSTS | LATENCY, 1, 100000, FREE, "classes (default 10)"),
    F("log-every", T_INT, log_every, FIT | EVOLVE, 1, BIG, FREE, "print a line every N steps (evolve: candidates) when not on a terminal"),
    F("val-batches", T_INT, val_batches, TRAIN, 0, BIG, FREE, "validation batches per epoch (0 = all)"),
    F("limit-steps", T_INT, limit_steps, FIT, 0, BIG, FREE, "at most N steps per epoch (0 = all; for quick runs)"),
    F("stop-after", T_INT, stop_after, FIT | EVOLVE, 0, BIG, FREE, "stop as if interrupted after N steps (evolve: candidates) of this invocation (0 = never)"),
    F("plots", T_INT, plots, FIT, 0, BIG, FREE, "redraw the run's pictures and report (DIR/plots) every N epochs (0 = never)"),
    F("data", T_STR, data, EVOLVE | PERTURB, 0, 0, FREE, "the run's dataset directory, if it moved (default: the run's)"),
    F("format", T_STR, format, EVOLVE | PERTURB, 0, 0, FREE, "its format, if it changed (default: the run's)"),
    F("out", T_STR, out, EVOLVE, 0, 0, FREE, "where evolution.jsonl, arch.json and the evolution's state go (default: the run directory)"),
    F("val-batches", T_INT, val_batches, EVOLVE | PERTURB, 0, BIG, FREE, "validation batches per candidate (perturb: per probe; 0 = all of the run's validation half)"),
    F("population", T_INT, population, EVOLVE, 1, 100000, FREE, "candidates per generation, the first all random (default 50)"),
    F("generations", T_INT, generations, EVOLVE, 0, 100000, FREE, "generations after the random first one (default 20)"),
    F("top", T_INT, top, EVOLVE, 1, 100000, FREE, "the best candidates so far that parent each generation (default 10)"),
    F("mutations", T_INT, mutations, EVOLVE, 0, 100000, FREE, "mutants per generation (default 25)"),
    F("crossovers", T_INT, crossovers, EVOLVE, 0, 100000, FREE, "crossovers per generation (default 25)"),
    F("mutation-prob", T_FLOAT, mutation_prob, EVOLVE, 0, 1, FREE, "probability that a mutation redraws a choice (default 0.1)"),
    F("bn-batches", T_INT, bn_batches, EVOLVE | PERTURB, 0, 100000, FREE, "training batches that recalibrate each candidate's BN statistics (0 = none; default 10; none under batch statistics, --protocol nb201)"),
    F("max-params", T_STR, max_params, EVOLVE, 0, 0, FREE, "keep only candidates with at most this many parameters (e.g. 250000, 0.25M)"),
    F("max-madds", T_STR, max_madds, EVOLVE, 0, 0, FREE, "... at most this many multiply-adds per image (e.g. 40M)"),
    F("max-latency", T_FLOAT, max_latency, EVOLVE, 0, 1e9, FREE, "... at most this latency in ms (needs --latency-table)"),
    F("latency-table", T_STR, latency_table, EVOLVE, 0, 0, FREE, "JSON {\"<choice>\": {\"<candidate>\": ms}, \"fixed\": ms}"),
    F("out", T_STR, out, LATENCY, 0, 0, FREE, "write the latency table (JSON) here (default: print it)"),
    F("runs", T_INT, runs, LATENCY, 20, 100000, FREE, "timed forwards; the median is reported (default 30)"),
    F("clock", T_STR, clock, LATENCY, 0, 0, FREE, "wall (default) | cpu: the process's CPU time, steadier on a loaded machine (--threads 1)"),
    F("warmup", T_INT, warmup, LATENCY, 0, 100000, FREE, "untimed forwards first (default 5)"),
    F("latency-table", T_STR, latency_table, LATENCY, 0, 0, FREE, "with --arch: also the latency this table predicts for the child"),
    F("random", T_INT, random_n, EVOLVE, 0, BIG, FREE, "random search instead: N random candidates under the same limits"),
    F("out", T_STR, out, PERTURB, 0, 0, FREE, "where perturb.jsonl and arch.json go (default: RUN/perturb)"),
    F("tune-steps", T_INT, tune_steps, PERTURB, 0, BIG, FREE, "SGD steps of the supernet's weights on the run's weight half after each decision (DARTS-PT's tuning; 0 = none)"),
    F("tune-lr", T_FLOAT, tune_lr, PERTURB, 0, 10, FREE, "their learning rate, constant (0 = the run's --lr-min, where its schedule ends)"),
    F("independent", T_BOOL, independent, PERTURB, 0, 1, FREE, "judge every choice on the supernet as trained: none is decided before the others"),
};
#undef F
#undef BIG
#define N_FLAGS ((int)(sizeof flags / sizeof flags[0]))
static unsigned char given[N_FLAGS];
/* the strategy options given on the command line (names without "--") */
static char given_sopt[32][64];
static int n_given_sopt;

int os_config_strategy_given(const char *name)
{
    for (int i = 0; i < n_given_sopt; i++)
        if (!strcmp(given_sopt[i], name))
            return 1;
    return 0;
}

static const char *cmd_name(os_command c)
{
    static const char *n[] = {"train", "retrain", "eval", "export", "costs", "plot", "evolve", "latency", "query", "perturb"};
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
    n_given_sopt = 0;
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
    c->plots = 1;
    if (cmd == OS_CMD_LATENCY) {
        c->batch = 1;
        c->threads = 1;
        c->runs = 30;
        c->warmup = 5;
        snprintf(c->clock, sizeof c->clock, "wall");
        return;
    }
    if (cmd == OS_CMD_PERTURB) {
        c->bn_batches = 10; /* only for a run whose BN keeps running statistics */
        c->threads = 0;
        return;
    }
    if (cmd == OS_CMD_EVOLVE) {
        /* SPOS's search (REFERENCE.md §7): the library's defaults */
        os_evolve_settings d;
        os_evolve_defaults(&d);
        c->population = d.population;
        c->generations = d.generations;
        c->top = d.top;
        c->mutations = d.mutations;
        c->crossovers = d.crossovers;
        c->mutation_prob = d.mutation_prob;
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
    printf("usage: oneshot %s%s [flags]\n\nflags:\n", cmd_name(cmd),
           cmd == OS_CMD_QUERY ? " ARCH (an nb201 string, arch.json or NNI dict; or --arch)" : "");
    for (int i = 0; i < N_FLAGS; i++) {
        if (!(flags[i].cmds & (1u << cmd)))
            continue;
        char left[40];
        snprintf(left, sizeof left, "--%s%s", flags[i].name,
                 flags[i].type == T_BOOL ? "" : flags[i].type == T_STR ? " S" : " N");
        if (flags[i].type == T_STR || flags[i].lo == flags[i].hi)
            printf("  %-24s %s\n", left, flags[i].help);
        else
            printf("  %-24s %s [%g..%g]\n", left, flags[i].help, flags[i].lo, flags[i].hi);
    }
    if (cmd != OS_CMD_TRAIN)
        return;
    for (int i = 0; i < os_strategy_count(); i++) {
        const os_strategy *s = os_strategy_at(i);
        char buf[4096];
        os_options_help(s->options, s->n_options, buf, sizeof buf);
        printf("\n%s options (--strategy %s):\n%s", s->name, s->name, s->n_options ? buf : "  (none)\n");
    }
}

static int set_value(os_config *c, const flag *f, const char *v)
{
    char *p = (char *)c + f->off, *end;
    errno = 0;
    switch (f->type) {
    case T_INT: {
        long x = strtol(v, &end, 10);
        if (*v == 0 || *end || errno || x < -2147483647L || x > 2147483647L)
            return os_error("--%s: '%s' is not an integer", f->name, v);
        if (x < f->lo || x > f->hi)
            return os_error("--%s: %ld is out of range (%.0f to %.0f)", f->name, x, f->lo, f->hi);
        *(int *)p = (int)x;
        return 0;
    }
    case T_FLOAT: {
        float x = strtof(v, &end);
        if (*v == 0 || *end || errno || !isfinite(x))
            return os_error("--%s: '%s' is not a number", f->name, v);
        if (x < (float)f->lo || x > (float)f->hi)
            return os_error("--%s: %s is out of range (%g to %g)", f->name, v, f->lo, f->hi);
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
    if (n_given_sopt < 32)
        snprintf(given_sopt[n_given_sopt++], sizeof given_sopt[0], "%s", name);
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
    if (!strcmp(f->name, "bn-batch-stats"))
        return (feat & OS_SPACE_BN_BATCH_STATS) != 0;
    if (!strcmp(f->name, "benchmark") || !strcmp(f->name, "protocol"))
        return !sp || !strcmp(sp->name, "nb201");
    return 1;
}

int os_config_resume_check(const os_config *run, const os_config *now, int *threads_changed)
{
    char list[2048];
    size_t o = 0;
    *threads_changed = 0;
    for (int i = 0; i < N_FLAGS; i++) {
        const flag *f = &flags[i];
        if (!(f->cmds & (1u << now->cmd)) || !memcmp((const char *)run + f->off, (const char *)now + f->off, f->size))
            continue;
        if (f->on_resume == WARN)
            *threads_changed = 1;
        if (f->on_resume != FIXED)
            continue;
        char a[96], b[96];
        const char *pa = (const char *)run + f->off, *pb = (const char *)now + f->off;
        if (f->type == T_STR)
            snprintf(a, sizeof a, "'%s'", pa), snprintf(b, sizeof b, "'%s'", pb);
        else if (f->type == T_FLOAT)
            snprintf(a, sizeof a, "%g", *(const float *)pa), snprintf(b, sizeof b, "%g", *(const float *)pb);
        else
            snprintf(a, sizeof a, "%d", *(const int *)pa), snprintf(b, sizeof b, "%d", *(const int *)pb);
        o += (size_t)snprintf(list + o, o < sizeof list ? sizeof list - o : 0, "\n  --%s: the run has %s, given %s",
                              f->name, a, b);
    }
    const os_strategy *s = strategy_of(now);
    for (int k = 0; s && now->cmd == OS_CMD_TRAIN && k < s->n_options; k++) {
        const os_option *r = &s->options[k];
        size_t sz = r->type == OS_OPT_FLOAT ? sizeof(float) : sizeof(int);
        const char *pr = (const char *)run->strategy_opts + r->offset, *pn = (const char *)now->strategy_opts + r->offset;
        if (r->type == OS_OPT_STRING ? strncmp(pr, pn, OS_OPT_STRING_MAX) != 0 : memcmp(pr, pn, sz) != 0)
            o += (size_t)snprintf(list + o, o < sizeof list ? sizeof list - o : 0,
                                  "\n  --%s: differs from the run's (see its config.json)", r->name);
    }
    if (o)
        return os_error("--resume: these settings differ from the run's, which a resumed run keeps:%s\n"
                        "(a resume may change --epochs, --limit-steps, --val-batches, --log-every, --stop-after, "
                        "--max-skip and --threads; start a new run with --out for the rest)", list);
    return 0;
}

int os_config_check_applies(const os_config *c)
{
    const os_space *sp = os_space_find(c->space);
    for (int i = 0; sp && i < N_FLAGS; i++)
        if (given[i] && (flags[i].cmds & (1u << c->cmd)) && !applies(c, &flags[i]))
            return os_error("--%s does not apply to the %s space%s%s", flags[i].name, sp->name,
                            c->cmd == OS_CMD_TRAIN ? " with the " : "", c->cmd == OS_CMD_TRAIN ? c->strategy : "");
    return 0;
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
        for (int i = 0; i < OS_CMD_COUNT; i++)
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

int os_config_input(const os_config *c, int *in_c, int *in_h, int *in_w)
{
    *in_c = 3, *in_h = 32, *in_w = 32;
    char tail;
    if (c->input[0] && (sscanf(c->input, "%dx%dx%d%c", in_c, in_h, in_w, &tail) != 3 || *in_c < 1 || *in_c > 4 ||
                        *in_h < 1 || *in_w < 1 || *in_h > 4096 || *in_w > 4096)) {
        fprintf(stderr, "oneshot: --input '%s': expected CxHxW with C in 1..4 (e.g. 3x32x32)\n", c->input);
        return 2;
    }
    return 0;
}

int os_config_arch_sizes(os_config *c, const os_arch *a)
{
    const struct { int v; const char *key, *flag; int *field; } s[2] = {
        {a->width, "width", "channels", &c->channels},
        {a->depth, "depth", "cells", &c->cells},
    };
    for (int i = 0; i < 2; i++) {
        if (!s[i].v)
            continue;
        if (os_config_given(s[i].flag) && *s[i].field != s[i].v)
            return os_error("the architecture's '%s' is %d but --%s %d was given (drop --%s or make them agree)",
                            s[i].key, s[i].v, s[i].flag, *s[i].field, s[i].flag);
        *s[i].field = s[i].v;
    }
    return 0;
}
