/* oneshot/inspect.c — `oneshot eval` and `oneshot export`: read a run back. */
#include "oneshot/query.h"
#include "oneshot/run.h"
#include "oneshot/runfiles.h"
#include "search/trainer.h"
#include "tensor/arena.h"
#include "tensor/backend.h"
#include "tensor/safetensors.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int fail(int code)
{
    fprintf(stderr, "oneshot: %s\n", os_last_error());
    return code;
}

static int run_config(const char *dir, os_config *rc)
{
    char ckpt[700];
    snprintf(ckpt, sizeof ckpt, "%s/checkpoint.safetensors", dir);
    cJSON *j = os_checkpoint_config_json(ckpt);
    if (!j)
        return -1;
    int r = os_config_from_json(rc, j);
    cJSON_Delete(j);
    return r;
}

/* Rebuild the run's network (a retrain run's child from its arch.json) and
 * read its tensors from the checkpoint. */
static int open_net(const char *dir, const os_config *rc, os_net *net, const os_space **sp, os_arch *child,
                    int in_c, int in_h, int in_w, int classes)
{
    char ckpt[700], arch[700];
    snprintf(ckpt, sizeof ckpt, "%s/checkpoint.safetensors", dir);
    snprintf(arch, sizeof arch, "%s/arch.json", dir);
    *sp = os_space_find(rc->space);
    if (!*sp)
        return os_error("%s: unknown space '%s' in the checkpoint", ckpt, rc->space);
    int retrain = rc->cmd == OS_CMD_RETRAIN;
    if (retrain && os_arch_load(arch, rc->space, sp, child))
        return -1;
    os_space_opts so = {.cells = rc->cells, .channels = rc->channels, .bn_batch_stats = rc->bn_batch_stats, .in_c = in_c, .in_h = in_h, .in_w = in_w,
                        .num_classes = classes, .seed = (uint64_t)rc->seed, .arch = retrain ? child : NULL,
                        .auxiliary = retrain && rc->auxiliary_weight > 0 && ((*sp)->features & OS_SPACE_AUX_HEAD)};
    if ((*sp)->build(net, &so))
        return -1;
    if (os_checkpoint_load_net(ckpt, net)) {
        os_net_free(net);
        return -1;
    }
    return 0;
}

/* A trainer around a loaded network: a search run's strategy decides how
 * the supernet is evaluated and derived. */
static int attach(os_trainer *t, os_net *net, const os_space *sp, const os_config *rc)
{
    os_train_settings s = {.search = rc->cmd == OS_CMD_TRAIN, .epochs = rc->epochs, .batch = rc->batch,
                           .seed = (uint64_t)rc->seed, .lr = rc->lr, .momentum = rc->momentum,
                           .weight_decay = rc->weight_decay};
    const os_strategy *st = s.search ? os_strategy_find(rc->strategy) : NULL;
    if (s.search && !st)
        return os_error("unknown strategy '%s' in the run's config", rc->strategy);
    return os_trainer_init(t, net, sp, &s, st, s.search ? rc->strategy_opts : NULL);
}

int os_cmd_eval(os_config *c)
{
    if (!c->run[0])
        return fprintf(stderr, "oneshot: eval needs --run DIR\n"), 2;
    os_config rc;
    os_config_defaults(&rc, OS_CMD_TRAIN);
    if (run_config(c->run, &rc))
        return fail(1);
    if (c->data[0])
        snprintf(rc.data, sizeof rc.data, "%s", c->data);
    if (c->format[0])
        snprintf(rc.format, sizeof rc.format, "%s", c->format);
    rc.batch = c->batch > 0 ? c->batch : 100;
    os_set_threads(c->threads);
    int drc = os_cli_device(c, "eval");
    if (drc)
        return drc;
    /* the run's own training split gives the normalisation statistics */
    os_run_data d;
    os_data_settings ds = {.path = rc.data, .format = rc.format, .subset = rc.subset,
                           .test_subset = c->max_per_class_test, .batch = rc.batch, .seed = (uint64_t)rc.seed,
                           .search = rc.cmd == OS_CMD_TRAIN, .train_portion = rc.train_portion};
    if (os_run_data_open(&d, &ds))
        return fail(1);
    os_net net;
    const os_space *sp;
    os_arch child = {0};
    os_trainer t = {0};
    int r = open_net(c->run, &rc, &net, &sp, &child, d.test.c, d.test.h, d.test.w, d.train.num_classes);
    if (r) {
        os_arch_free(&child);
        os_run_data_close(&d);
        return fail(1);
    }
    if (attach(&t, &net, sp, &rc)) {
        r = fail(1);
    } else {
        double loss, acc;
        os_trainer_evaluate(&t, d.tl, d.xb, d.yb, 0, &loss, &acc);
        printf("%s: test loss %.4f  accuracy %.2f%%  (%d images of %s)\n", c->run, loss, 100.0 * acc, d.test.n,
               d.test.source);
    }
    os_trainer_free(&t);
    os_net_free(&net);
    os_arch_free(&child);
    os_run_data_close(&d);
    os_step_shutdown();
    return r;
}

int os_cmd_export(os_config *c)
{
    if (!c->run[0])
        return fprintf(stderr, "oneshot: export needs --run DIR\n"), 2;
    os_config rc;
    os_config_defaults(&rc, OS_CMD_TRAIN);
    if (run_config(c->run, &rc))
        return fail(1);
    if (rc.cmd != OS_CMD_TRAIN)
        return fprintf(stderr, "oneshot: %s is a retrain run; export reads search runs\n", c->run), 1;
    const os_space *rsp = os_space_find(rc.space);
    if (c->max_skip != -1 && rsp && !(rsp->features & OS_SPACE_MAX_SKIP))
        return fprintf(stderr, "oneshot: --max-skip does not apply to the %s space of %s\n", rsp->name, c->run), 2;
    int nb201 = rsp && !strcmp(rsp->name, "nb201");
    if (c->benchmark[0] && !nb201)
        return fprintf(stderr, "oneshot: --benchmark (NAS-Bench-201) does not apply to the %s space of %s\n",
                       rsp ? rsp->name : rc.space, c->run), 2;
    os_nb201_bench *bench = NULL;
    char used[1024];
    if (nb201 && os_bench_open(c->benchmark[0] ? c->benchmark : rc.benchmark, rc.data, &bench, used, sizeof used))
        return fail(1);
    /* the input shape and classes come from the checkpoint's metadata */
    char ckpt[700];
    snprintf(ckpt, sizeof ckpt, "%s/checkpoint.safetensors", c->run);
    os_st_file *f = os_st_open(ckpt);
    if (!f)
        return fail(1);
    int ic = 0, ih = 0, iw = 0;
    const char *in = os_st_meta(f, "input"), *cl = os_st_meta(f, "classes");
    int classes = cl ? atoi(cl) : 0;
    int ok = in && sscanf(in, "%dx%dx%d", &ic, &ih, &iw) == 3 && classes > 0;
    os_st_close(f);
    if (!ok) {
        os_nb201_bench_free(bench);
        return fprintf(stderr, "oneshot: %s: checkpoint lacks its input shape\n", ckpt), 1;
    }
    os_net net;
    const os_space *sp;
    os_arch child = {0}, found = {0};
    if (open_net(c->run, &rc, &net, &sp, &child, ic, ih, iw, classes)) {
        os_nb201_bench_free(bench);
        return fail(1);
    }
    os_trainer t = {0};
    int r = 0;
    if (attach(&t, &net, sp, &rc))
        r = fail(1);
    else if (os_export_run_arch(&t, c->max_skip != -1 ? c->max_skip : rc.max_skip, c->run, 1, &found))
        r = fail(1);
    else if (bench)
        os_bench_print(bench, &found);
    os_arch_free(&found);
    os_nb201_bench_free(bench);
    os_trainer_free(&t);
    os_net_free(&net);
    os_step_shutdown();
    return r;
}
