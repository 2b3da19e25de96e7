/* oneshot/run.h — the commands that train and read runs.
 *
 * A run directory holds:
 *   config.json         the settings that apply to the run, and the data
 *   metrics.jsonl       one JSON object per epoch
 *   arch.json           search: the architecture found so far (NNI labels,
 *                       the space's extras, choice probabilities); retrain:
 *                       the architecture being trained
 *   checkpoint.safetensors   the trainer's checkpoint (search/trainer.h),
 *                       replaced atomically at every epoch end and on
 *                       SIGINT/SIGTERM
 * Every command returns a process exit status: 0 ok, 1 runtime failure (bad
 * file, NaN loss, disk full), 2 usage error, 130 interrupted (checkpoint saved).
 */
#ifndef OS_RUN_H
#define OS_RUN_H

#include "oneshot/config.h"

int os_cmd_train(os_config *c);   /* search (train) and retrain */
int os_cmd_eval(os_config *c);
int os_cmd_export(os_config *c);
int os_cmd_costs(os_config *c);   /* parameters and multiply-adds per candidate / of a child */
int os_cmd_plot(os_config *c);    /* pictures of a run and report.html (plot/plot.h) */
int os_cmd_evolve(os_config *c);  /* evolution / random search on a single-path supernet */
int os_cmd_latency(os_config *c); /* latency table of a space / a child's measured latency */
int os_cmd_query(os_config *c);   /* an nb201 architecture's NAS-Bench-201 entry */
int os_cmd_perturb(os_config *c); /* perturbation-based selection on a darts supernet (search/perturb.h) */

/* --device (oneshot/device.c): select and announce the device of a command
 * (cmd: its name, for messages); the default device is set, c->device holds
 * the name used. 0, or the exit status: 1 (not available), 2 (unknown). */
int os_cli_device(os_config *c, const char *cmd);

#endif
