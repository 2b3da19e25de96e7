/* oneshot/inspect.c — `oneshot eval` and `oneshot export`: read a run back. */
#include "oneshot/run.h"
#include "oneshot/checkpoint.h"
#include "oneshot/data.h"
#include "oneshot/runfiles.h"
#include "tensor/arena.h"
#include "tensor/backend.h"
#include "tensor/safetensors.h"

#include <stdlib.h>

#include <stdio.h>
#include <string.h>

/* Rebuild the run's network from its checkpoint (config + weights). */
static int open_run(const char *dir, os_config *rc, os_net *net, int in_c, int in_h, int in_w, int classes)
{
    char ckpt[700], arch[700];
    snprintf(ckpt, sizeof ckpt, "%s/checkpoint.safetensors", dir);
    snprintf(arch, sizeof arch, "%s/arch.json", dir);
    const os_space *space = os_space_find(rc->space);
    if (!space)
        return os_error("%s: unknown space '%s' in the checkpoint", ckpt, rc->space);
    os_space_opts so = {.cells = rc->cells, .channels = rc->channels, .in_c = in_c, .in_h = in_h, .in_w = in_w,
                        .num_classes = classes, .seed = (uint64_t)rc->seed,
                        .arch_json = rc->cmd == OS_CMD_RETRAIN ? arch : NULL,
                        .auxiliary = rc->cmd == OS_CMD_RETRAIN && rc->auxiliary_weight > 0};
    if (space->build(net, &so))
        return -1;
    if (os_checkpoint_load(ckpt, net, NULL, NULL, NULL, NULL)) {
        os_net_free(net);
        return -1;
    }
    return 0;
}

static int run_config(const char *dir, os_config *rc)
{
    char ckpt[700];
    snprintf(ckpt, sizeof ckpt, "%s/checkpoint.safetensors", dir);
    return os_checkpoint_config(ckpt, rc);
}

int os_cmd_eval(os_config *c)
{
    if (!c->run[0])
        return fprintf(stderr, "oneshot: eval needs --run DIR\n"), 2;
    os_config rc;
    os_config_defaults(&rc, OS_CMD_TRAIN);
    if (run_config(c->run, &rc))
        return fprintf(stderr, "oneshot: %s\n", os_last_error()), 1;
    if (c->data[0])
        snprintf(rc.data, sizeof rc.data, "%s", c->data);
    if (c->format[0])
        snprintf(rc.format, sizeof rc.format, "%s", c->format);
    rc.batch = c->batch > 0 ? c->batch : 100;
    rc.max_per_class_test = c->max_per_class_test;
    os_set_threads(c->threads);
    /* the run's own training split gives the normalisation statistics */
    os_run_data d;
    if (os_run_data_open(&d, &rc, rc.cmd == OS_CMD_TRAIN, 0)) {
        fprintf(stderr, "oneshot: %s\n", os_last_error());
        os_run_data_close(&d);
        return 1;
    }
    os_net net;
    if (open_run(c->run, &rc, &net, d.test.c, d.test.h, d.test.w, d.train.num_classes)) {
        fprintf(stderr, "oneshot: %s\n", os_last_error());
        os_run_data_close(&d);
        return 1;
    }
    os_forward_ctx ctx = {.training = false, .mode = rc.cmd == OS_CMD_TRAIN ? OS_MIX_SOFTMAX : OS_MIX_FIXED};
    double ls = 0;
    long correct = 0, seen = 0;
    int n;
    while ((n = os_loader_next(d.tl, d.xb, d.yb)) > 0) {
        os_batch b = {d.xb, d.yb, n};
        os_step_result r = os_eval_batch(&net, &b, &ctx);
        ls += (double)r.loss * n;
        correct += r.correct;
        seen += n;
    }
    printf("%s: test loss %.4f  accuracy %.2f%%  (%ld images of %s)\n", c->run, ls / seen, 100.0 * correct / seen,
           seen, d.test.source);
    os_net_free(&net);
    os_run_data_close(&d);
    os_step_shutdown();
    return 0;
}

int os_cmd_export(os_config *c)
{
    if (!c->run[0])
        return fprintf(stderr, "oneshot: export needs --run DIR\n"), 2;
    os_config rc;
    os_config_defaults(&rc, OS_CMD_TRAIN);
    if (run_config(c->run, &rc))
        return fprintf(stderr, "oneshot: %s\n", os_last_error()), 1;
    if (rc.cmd != OS_CMD_TRAIN)
        return fprintf(stderr, "oneshot: %s is a retrain run; export reads search runs\n", c->run), 1;
    /* the input shape and classes come from the checkpoint's metadata */
    char ckpt[700];
    snprintf(ckpt, sizeof ckpt, "%s/checkpoint.safetensors", c->run);
    os_st_file *f = os_st_open(ckpt);
    if (!f)
        return fprintf(stderr, "oneshot: %s\n", os_last_error()), 1;
    int ic = 0, ih = 0, iw = 0;
    const char *in = os_st_meta(f, "input"), *cl = os_st_meta(f, "classes");
    int classes = cl ? atoi(cl) : 0;
    int ok = in && sscanf(in, "%dx%dx%d", &ic, &ih, &iw) == 3 && classes > 0;
    os_st_close(f);
    if (!ok)
        return fprintf(stderr, "oneshot: %s: checkpoint lacks its input shape\n", ckpt), 1;
    os_net net;
    if (open_run(c->run, &rc, &net, ic, ih, iw, classes))
        return fprintf(stderr, "oneshot: %s\n", os_last_error()), 1;
    int max_skip = c->max_skip != -1 ? c->max_skip : rc.max_skip;
    int r = os_export_run_arch(os_space_find(rc.space), &net, max_skip, c->run, 1);
    if (r)
        fprintf(stderr, "oneshot: %s\n", os_last_error());
    os_net_free(&net);
    os_step_shutdown();
    return r ? 1 : 0;
}
