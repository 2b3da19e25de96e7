/* oneshot/config.h — a run's configuration: defaults, command-line flags,
 * and its JSON form (config.json, checkpoint metadata).
 *
 * Every hyperparameter is a flag (the table in config.c lists them with their
 * help line). Defaults are the papers' (REFERENCE.md): the DARTS search
 * protocol for `train`, the DARTS evaluation protocol for `retrain`. */
#ifndef OS_CONFIG_H
#define OS_CONFIG_H

#include <stdint.h>
#include <cjson/cJSON.h>

typedef enum { OS_CMD_TRAIN, OS_CMD_RETRAIN, OS_CMD_EVAL, OS_CMD_EXPORT } os_command;

typedef struct os_config {
    os_command cmd;
    char space[32], strategy[16];
    char data[512], format[16];
    char out[512], resume[512], run[512], arch[512];
    int epochs, batch, cells, channels, subset, threads, seed;
    float train_portion;          /* search: weight half of the training set */
    /* weights (SGD) */
    float lr, lr_min, momentum, weight_decay, grad_clip;
    /* architecture (Adam) */
    float arch_lr, arch_beta1, arch_beta2, arch_weight_decay;
    int unrolled;
    /* gdas */
    float tau_max, tau_min;
    int hard;
    /* export */
    int max_skip;
    /* retrain */
    float auxiliary_weight, drop_path, label_smoothing;
    int cutout, crop_pad, flip;
    /* running */
    int log_every, val_batches, limit_steps, max_per_class_test, stop_after;
} os_config;

/* Defaults for a command (strategy-specific ones are filled by os_config_finish). */
void os_config_defaults(os_config *c, os_command cmd);
/* Parse argv[from..]; unknown flags and bad values: message, return -1. The
 * `set` array (one flag per table row) says which flags were given. */
int os_config_parse(os_config *c, int argc, char **argv, int from);
/* Apply strategy defaults to what the user did not set. */
void os_config_finish(os_config *c);
void os_config_usage(os_command cmd);

cJSON *os_config_to_json(const os_config *c);
/* Overwrite the fields present in j (used by resume/eval: the run's config). */
int os_config_from_json(os_config *c, const cJSON *j);

#endif
