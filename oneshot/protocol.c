/* oneshot/protocol.c — the NAS-Bench-201 search protocol (oneshot/protocol.h). */
#include "oneshot/protocol.h"
#include "search/strategy.h"
#include "tensor/error.h"

#include <stdio.h>
#include <string.h>

/* One row per strategy: its epochs and options under NAS-Bench-201's
 * protocol. A strategy's nb201 variant is one more row. Sources: the
 * NAS-Bench-201 paper's search settings and AutoDL-Projects'
 * configs/nas-benchmark/algos/ (DARTS-V1/V2: 50 epochs; GDAS,
 * RANDOM (RSPS), SETN, ENAS: 250; arch Adam 3e-4, betas (0.5, 0.999), weight
 * decay 1e-3; GDAS tau 10 -> 0.1). */
typedef struct {
    const char *strategy;
    int epochs;
    const char *options; /* "name=value name=value ..." of the strategy's own options */
} protocol_row;

static const protocol_row nb201_rows[] = {
    {"darts", 50, "arch-lr=3e-4 arch-beta1=0.5 arch-beta2=0.999 arch-weight-decay=1e-3"},
    {"gdas", 250, "arch-lr=3e-4 arch-beta1=0.5 arch-beta2=0.999 arch-weight-decay=1e-3 tau-max=10 tau-min=0.1"},
    {"spos", 250, ""},
    {"random", 250, "samples=100"}, /* RSPS: the best of 100 random paths */
    {"enas", 250, ""},              /* the benchmark's ENAS epochs; the controller keeps
                                       REFERENCE §5's (NNI's) settings */
};
#define N_ROWS ((int)(sizeof nb201_rows / sizeof nb201_rows[0]))

static void set_int(int *f, const char *flag, int v, char *log, size_t n)
{
    if (os_config_given(flag))
        return;
    *f = v;
    size_t o = strlen(log);
    snprintf(log + o, n - o, " --%s %d", flag, v);
}

static void set_float(float *f, const char *flag, float v, char *log, size_t n)
{
    if (os_config_given(flag))
        return;
    *f = v;
    size_t o = strlen(log);
    snprintf(log + o, n - o, " --%s %g", flag, (double)v);
}

int os_protocol_apply(os_config *c)
{
    if (!c->protocol[0])
        return 0;
    if (strcmp(c->protocol, "nb201"))
        return os_error("--protocol: unknown protocol '%s' (known: nb201)", c->protocol);
    if (strcmp(c->space, "nb201"))
        return os_error("--protocol nb201 is NAS-Bench-201's protocol for the nb201 space, not for --space %s",
                        c->space);
    const protocol_row *row = NULL;
    char names[256] = "";
    for (int i = 0; i < N_ROWS; i++) {
        if (!strcmp(nb201_rows[i].strategy, c->strategy))
            row = &nb201_rows[i];
        size_t o = strlen(names);
        snprintf(names + o, sizeof names - o, "%s%s", i ? ", " : "", nb201_rows[i].strategy);
    }
    if (!row)
        return os_error("--protocol nb201 has no settings for the %s strategy yet (it has: %s)", c->strategy, names);
    const os_strategy *st = os_strategy_find(c->strategy);
    char log[1024] = "";
    set_int(&c->epochs, "epochs", row->epochs, log, sizeof log);
    set_int(&c->batch, "batch", 64, log, sizeof log);
    set_int(&c->cells, "cells", 5, log, sizeof log);
    set_int(&c->channels, "channels", 16, log, sizeof log);
    set_int(&c->bn_batch_stats, "bn-batch-stats", 1, log, sizeof log);
    set_float(&c->train_portion, "train-portion", 0.5f, log, sizeof log);
    set_float(&c->lr, "lr", 0.025f, log, sizeof log);
    set_float(&c->lr_min, "lr-min", 0.001f, log, sizeof log);
    set_float(&c->momentum, "momentum", 0.9f, log, sizeof log);
    set_float(&c->weight_decay, "weight-decay", 5e-4f, log, sizeof log);
    set_float(&c->grad_clip, "grad-clip", 5.0f, log, sizeof log);
    set_int(&c->crop_pad, "crop-pad", 4, log, sizeof log);
    set_int(&c->flip, "flip", 1, log, sizeof log);
    set_int(&c->cutout, "cutout", 0, log, sizeof log);
    char opts[256];
    snprintf(opts, sizeof opts, "%s", row->options);
    for (char *save = NULL, *tok = strtok_r(opts, " ", &save); tok; tok = strtok_r(NULL, " ", &save)) {
        char *eq = strchr(tok, '=');
        if (!eq)
            return os_error("--protocol nb201: bad table entry '%s' for %s", tok, c->strategy);
        *eq = 0;
        if (os_config_strategy_given(tok))
            continue;
        if (!st || os_options_set(st->options, st->n_options, c->strategy_opts, tok, eq + 1))
            return os_error("--protocol nb201: the %s strategy does not take --%s=%s", c->strategy, tok, eq + 1);
        size_t o = strlen(log);
        snprintf(log + o, sizeof log - o, " --%s %s", tok, eq + 1);
    }
    printf("protocol nb201 (NAS-Bench-201's search settings for %s) sets:%s\n", c->strategy, log[0] ? log : " nothing (all given)");
    return 0;
}
