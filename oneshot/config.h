/* oneshot/config.h — the command line's configuration of a run: defaults,
 * flags, and its JSON form (config.json, checkpoint metadata).
 *
 * Every hyperparameter is a flag. The common ones are in the table in
 * config.c; a strategy's own options come from its os_option table
 * (search/strategy.h) and live in strategy_opts. Defaults are the papers'
 * (REFERENCE.md): the DARTS search protocol for `train`, the DARTS
 * evaluation protocol for `retrain`, a strategy's own defaults (GDAS: 250
 * epochs). */
#ifndef OS_CONFIG_H
#define OS_CONFIG_H

#include <stdint.h>
#include <cjson/cJSON.h>

typedef enum { OS_CMD_TRAIN, OS_CMD_RETRAIN, OS_CMD_EVAL, OS_CMD_EXPORT, OS_CMD_COSTS, OS_CMD_PLOT, OS_CMD_EVOLVE,
               OS_CMD_LATENCY, OS_CMD_QUERY, OS_CMD_PERTURB, OS_CMD_COUNT } os_command;

typedef struct os_config {
    os_command cmd;
    char space[32], strategy[16];
    char data[512], format[16];
    char out[512], resume[512], run[512], arch[512];
    int epochs, batch, cells, channels, subset, threads, seed;
    char device[16];              /* --device: cpu | cuda | cuda-emu | debug ("": the default) */
    float train_portion;          /* search: weight half of the training set */
    /* weights (SGD) */
    float lr, lr_min, momentum, weight_decay, grad_clip;
    /* the strategy's own options (its os_option table) */
    _Alignas(16) unsigned char strategy_opts[512];
    /* export */
    int max_skip;
    /* retrain */
    float auxiliary_weight, drop_path, label_smoothing;
    int cutout, crop_pad, flip;
    /* costs */
    char input[32];
    int classes;
    /* running */
    int log_every, val_batches, limit_steps, max_per_class_test, stop_after;
    int force;                    /* --out: start over a run that is there */
    int plots;                    /* redraw the run's pictures every N epochs (0 = never) */
    /* evolve (search/evolve.h) */
    int population, generations, top, mutations, crossovers, bn_batches, random_n;
    float mutation_prob, max_latency;
    char max_params[32], max_madds[32], latency_table[512];
    int tune_steps, independent;  /* perturb (search/perturb.h): weight steps between decisions; */
    float tune_lr;                /* judge every choice on the supernet as trained */
    int runs, warmup;             /* latency: timed and untimed forwards */
    char clock[8];                /* latency: wall | cpu */
    /* NAS-Bench-201 (supernet/nb201_bench.h, oneshot/protocol.h) */
    char benchmark[512];          /* the accuracy table: scoring only */
    char protocol[16];            /* "nb201": the benchmark's search settings */
    int bn_batch_stats;           /* search BN without running statistics */
    int stop_skips;               /* stop the search at N skip_connect in the derived arch (0 = off) */
} os_config;

/* Defaults for a command (the default strategy's options included). */
void os_config_defaults(os_config *c, os_command cmd);
/* Parse argv[from..]; unknown flags and bad values: message, return -1.
 * `--strategy` is read first, so its options may come anywhere. Remembers
 * which flags were given (os_config_given). */
int os_config_parse(os_config *c, int argc, char **argv, int from);
/* 1 when the flag (without "--") was given on the command line. */
int os_config_given(const char *name);
/* 1 when the strategy option (without "--") was given on the command line. */
int os_config_strategy_given(const char *name);
/* Apply strategy defaults to what the user did not set. */
void os_config_finish(os_config *c);
void os_config_usage(os_command cmd);

/* --resume: 0 when `now` (the run's config with today's flags on top) keeps
 * every setting that must not change, else -1 with os_error() listing each
 * difference. *threads_changed says whether the thread count changed
 * (allowed; the result is then not bit-identical). */
int os_config_resume_check(const os_config *run, const os_config *now, int *threads_changed);
/* -1 with os_error() when a flag given does not apply to the space (and
 * strategy): --max-skip, --drop-path, --auxiliary-weight on nb201, ... */
int os_config_check_applies(const os_config *c);
/* The settings that apply to this command, space and strategy, each once. */
cJSON *os_config_to_json(const os_config *c);
/* Overwrite the fields present in j (used by resume/eval: the run's config). */
int os_config_from_json(os_config *c, const cJSON *j);

/* An architecture that sizes its child (NNI's `width` / `depth`,
 * os_arch.width): sets --channels / --cells from it when those flags were
 * not given; a flag given with another value is an error naming both
 * (-1 with os_error(): a usage error, exit 2). */
struct os_arch;
int os_config_arch_sizes(os_config *c, const struct os_arch *a);

/* --input CxHxW (default 3x32x32) of costs and latency: 0, or 2 after
 * printing what is wrong. */
int os_config_input(const os_config *c, int *in_c, int *in_h, int *in_w);

#endif
