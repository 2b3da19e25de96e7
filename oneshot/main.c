/* oneshot/main.c — the `oneshot` command. */
#include "oneshot/protocol.h"
#include "oneshot/run.h"
#include "search/strategy.h"
#include "search/trainer.h"
#include "supernet/supernet.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>


/* Under LeakSanitizer (make SANITIZE=1): the font caches that Graphviz's
 * pango text-layout plugin, pango, fontconfig and cairo's toy font API fill
 * once per process and never free (constant, not per picture) are not
 * leaks of ours. Unused in other builds. */
const char *__lsan_default_suppressions(void);
const char *__lsan_default_suppressions(void)
{
    return "leak:libgvplugin_pango.so\nleak:libpango-1.0.so\nleak:libpangoft2-1.0.so\nleak:libfontconfig.so\n"
           "leak:cairo_toy_font_face_create\n";
}

static void usage(FILE *f)
{
    fprintf(f,
            "oneshot — one-shot neural architecture search in C\n\n"
            "usage: oneshot COMMAND [flags]    (oneshot COMMAND --help for its flags)\n\n"
            "commands:\n"
            "  train       search: train a supernet with a one-shot strategy, export the architecture\n"
            "  retrain     train the fixed child network of an architecture from scratch\n"
            "  eval        test loss and accuracy of a trained run (--run DIR)\n"
            "  export      write a search run's architecture to DIR/arch.json (--run DIR)\n"
            "  costs       parameters and multiply-adds of every candidate (--space) or of a child (--arch)\n"
            "  plot        pictures of a run (cells, choice probabilities, learning curves) and report.html\n"
            "  evolve      search a trained single-path supernet (spos, random) by evolution (--run DIR)\n"
            "  latency     time every candidate of a space on this machine (a latency table), or a child (--arch)\n"
            "  perturb     choose on a trained darts supernet by perturbation (DARTS-PT; nb201; --run DIR)\n"
            "  query       NAS-Bench-201 accuracies of an nb201 architecture (ARCH: string, arch.json, NNI dict)\n"
            "  spaces      list the search spaces\n"
            "  strategies  list the one-shot strategies\n\n"
            "quick start:  oneshot train --space cifar_cell --strategy darts --epochs 5 --subset 500\n");
}

static int list_spaces(char *buf, size_t n)
{
    int o = 0;
    for (int i = 0; i < os_space_count(); i++)
        o += snprintf(buf + o, n - o, "%s%s", i ? ", " : "", os_space_at(i)->name);
    return o;
}

static int list_strategies(char *buf, size_t n)
{
    int o = 0;
    for (int i = 0; i < os_strategy_count(); i++)
        o += snprintf(buf + o, n - o, "%s%s", i ? ", " : "", os_strategy_at(i)->name);
    return o;
}

/* OpenMP threads spin at barriers by default (libgomp: 300,000 spins). When
 * another process takes a core, a spinning thread waits for a descheduled one
 * at every parallel region, and a training step runs 2-40x slower (seen on a
 * shared 2-core machine). Sleeping at once (OMP_WAIT_POLICY=passive) is
 * robust but pays a wake-up per region: 1.6x slower on a quiet machine at
 * the Fashion-MNIST search shapes. A short spin (GOMP_SPINCOUNT=300) keeps
 * most of both: within 10 % of passive beside a busy process, within 10 % of
 * spinning on a quiet machine (README, Measured). libgomp reads these when
 * it loads, so set it and restart once; a user's OMP_WAIT_POLICY or
 * GOMP_SPINCOUNT is kept. */
static void short_spin_openmp(char **argv)
{
    if (getenv("OMP_WAIT_POLICY") || getenv("GOMP_SPINCOUNT"))
        return;
    setenv("GOMP_SPINCOUNT", "300", 1);
    execv("/proc/self/exe", argv);
    /* no /proc: carry on with the default policy */
}

/* Internal errors (os_fatal) end the command with status 1: they are not
 * usage errors. Out of memory says what to try. */
static void cli_fatal(const char *msg)
{
    fflush(stdout);
    fprintf(stderr, "\noneshot: %s\n", msg);
    if (strstr(msg, "out of memory"))
        fprintf(stderr, "oneshot: the run needs more memory than this machine has: try a smaller --batch or "
                        "--channels (or fewer --cells)\n");
    exit(1);
}

static int command_of(const char *cmd, os_command *c)
{
    static const char *const names[] = {"train", "retrain", "eval", "export", "costs", "plot", "evolve", "latency", "query", "perturb"};
    for (int i = 0; i < OS_CMD_COUNT; i++)
        if (!strcmp(cmd, names[i])) {
            *c = (os_command)i;
            return 0;
        }
    fprintf(stderr, "oneshot: unknown command '%s'; valid commands: train, retrain, eval, export, costs, "
                    "plot, evolve, latency, query, perturb, spaces, strategies\n", cmd);
    return -1;
}

/* --resume: the run's own configuration, then the flags given now on top;
 * settings a resumed run must keep are compared */
static int resume_config(os_config *cfg, os_command c, int argc, char **argv)
{
    char ckpt[600];
    snprintf(ckpt, sizeof ckpt, "%s/checkpoint.safetensors", cfg->resume);
    os_config saved;
    os_config_defaults(&saved, c);
    cJSON *sj = os_checkpoint_config_json(ckpt);
    int bad = !sj || os_config_from_json(&saved, sj);
    cJSON_Delete(sj);
    if (bad) {
        fprintf(stderr, "oneshot: --resume %s: %s\n", cfg->resume, os_last_error());
        return 1;
    }
    if (saved.cmd != c) {
        fprintf(stderr, "oneshot: --resume %s: that is a %s run; continue it with `oneshot %s --resume %s`\n",
                cfg->resume, saved.cmd == OS_CMD_TRAIN ? "search" : "retrain",
                saved.cmd == OS_CMD_TRAIN ? "train" : "retrain", cfg->resume);
        return 2;
    }
    saved.stop_after = 0; /* a one-off for the invocation that stopped */
    os_config before = saved;
    if (os_config_parse(&saved, argc, argv, 2)) {
        fprintf(stderr, "oneshot: %s\n", os_last_error());
        return 2;
    }
    snprintf(saved.resume, sizeof saved.resume, "%s", cfg->resume);
    int threads_changed;
    if (os_config_resume_check(&before, &saved, &threads_changed)) {
        fprintf(stderr, "oneshot: %s\n", os_last_error());
        return 2;
    }
    if (threads_changed && saved.threads != before.threads)
        fprintf(stderr, "oneshot: warning: --threads %d differs from the run's %d: the run continues, but its "
                        "results will not be bit-identical to an uninterrupted run\n", saved.threads, before.threads);
    if (threads_changed && strcmp(saved.device, before.device))
        fprintf(stderr, "oneshot: warning: --device %s differs from the run's %s: the run continues from its "
                        "checkpoint, but its results will not be bit-identical to an uninterrupted run\n",
                saved.device, before.device[0] ? before.device : "cpu");
    *cfg = saved;
    return 0;
}

static int run_command(int argc, char **argv)
{
    const char *cmd = argv[1];
    for (int i = 2; i < argc; i++)
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            os_command hc;
            if (!strcmp(cmd, "spaces") || !strcmp(cmd, "strategies")) {
                usage(stdout);
                return 0;
            }
            if (command_of(cmd, &hc))
                return 2;
            os_config_usage(hc);
            return 0;
        }
    if (!strcmp(cmd, "spaces")) {
        for (int i = 0; i < os_space_count(); i++)
            printf("%-12s %s\n", os_space_at(i)->name, os_space_at(i)->summary);
        return 0;
    }
    if (!strcmp(cmd, "strategies")) {
        for (int i = 0; i < os_strategy_count(); i++)
            printf("%-12s %s\n", os_strategy_at(i)->name, os_strategy_at(i)->summary);
        return 0;
    }
    os_command c;
    if (command_of(cmd, &c))
        return 2;
    os_config cfg;
    os_config_defaults(&cfg, c);
    int first = 2;
    if (c == OS_CMD_QUERY && argc > 2 && strncmp(argv[2], "--", 2)) { /* oneshot query ARCH [flags] */
        if (strlen(argv[2]) >= sizeof cfg.arch) {
            fprintf(stderr, "oneshot: query: the architecture argument is longer than %zu characters\n",
                    sizeof cfg.arch - 1);
            return 2;
        }
        snprintf(cfg.arch, sizeof cfg.arch, "%s", argv[2]);
        first = 3;
    }
    if (os_config_parse(&cfg, argc, argv, first)) {
        fprintf(stderr, "oneshot: %s\n", os_last_error());
        return 2;
    }
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    if (cfg.threads > cores && cores > 0) {
        fprintf(stderr, "oneshot: --threads %d: this machine has %ld cores; more threads than cores only slow a run "
                        "down (0 = all cores)\n", cfg.threads, cores);
        return 2;
    }
    /* a relative --data would not be found from another directory (eval, resume) */
    char abs[PATH_MAX];
    size_t alen;
    if (cfg.data[0] && realpath(cfg.data, abs) && (alen = strlen(abs)) < sizeof cfg.data)
        memcpy(cfg.data, abs, alen + 1);
    if (c == OS_CMD_TRAIN || c == OS_CMD_RETRAIN) {
        if (!cfg.resume[0])
            os_config_finish(&cfg); /* strategy defaults for what was not given */
        if (!cfg.resume[0] && c == OS_CMD_TRAIN && os_protocol_apply(&cfg)) {
            fprintf(stderr, "oneshot: %s\n", os_last_error());
            return 2;
        }
        if (cfg.resume[0]) {
            int rc = resume_config(&cfg, c, argc, argv);
            if (rc)
                return rc;
        }
        char list[512];
        if ((c == OS_CMD_TRAIN || os_config_given("space")) && !os_space_find(cfg.space)) {
            list_spaces(list, sizeof list);
            fprintf(stderr, "oneshot: unknown space '%s'; valid spaces: %s\n", cfg.space, list);
            return 2;
        }
        if (c == OS_CMD_TRAIN && !os_strategy_find(cfg.strategy)) {
            list_strategies(list, sizeof list);
            fprintf(stderr, "oneshot: unknown strategy '%s'; valid strategies: %s\n", cfg.strategy, list);
            return 2;
        }
        if (c == OS_CMD_TRAIN && os_config_check_applies(&cfg)) {
            fprintf(stderr, "oneshot: %s\n", os_last_error());
            return 2;
        }
        return os_cmd_train(&cfg);
    }
    if (c == OS_CMD_COSTS)
        return os_cmd_costs(&cfg);
    if (c == OS_CMD_PLOT)
        return os_cmd_plot(&cfg);
    if (c == OS_CMD_EVOLVE)
        return os_cmd_evolve(&cfg);
    if (c == OS_CMD_LATENCY)
        return os_cmd_latency(&cfg);
    if (c == OS_CMD_QUERY)
        return os_cmd_query(&cfg);
    if (c == OS_CMD_PERTURB)
        return os_cmd_perturb(&cfg);
    return c == OS_CMD_EVAL ? os_cmd_eval(&cfg) : os_cmd_export(&cfg);
}

int main(int argc, char **argv)
{
    short_spin_openmp(argv);
    setvbuf(stdout, NULL, _IOLBF, 0);
    os_set_fatal_handler(cli_fatal);
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    int rc = run_command(argc, argv);
    /* output that did not reach its reader (a full disk, a closed pipe) is a failure */
    if ((fflush(stdout) || ferror(stdout)) && rc != 130) {
        fprintf(stderr, "oneshot: writing the output failed: %s\n", strerror(errno));
        return rc ? rc : 1;
    }
    return rc;
}
