/* examples/search.c — a small DARTS search of the NAS-Bench-201 cell on
 * Fashion-MNIST with the oneshot library; prints the architecture found.
 *
 *   search [DATA_DIR]      default: /usr/share/datasets/fashion-mnist
 *                          (Debian package dataset-fashion-mnist)
 *   ONESHOT_EXAMPLE_QUICK=1 search    a few steps on a tiny network (seconds)
 *
 * Build: cc search.c $(pkg-config --cflags --libs oneshot) -o search
 */
#include <oneshot.h>

#include <stdio.h>
#include <stdlib.h>

static void log_line(void *user, const char *line)
{
    (void)user;
    fprintf(stderr, "%s\n", line);
}

static void on_step(void *user, const oneshot_step_info *s)
{
    (void)user;
    if (s->step + 1 == s->steps)
        fprintf(stderr, "epoch %d/%d: %d steps, loss %.4f, accuracy %.1f%%\n", s->epoch + 1, s->epochs, s->steps,
                s->mean_loss, 100 * s->accuracy);
}

int main(int argc, char **argv)
{
    const char *quick_env = getenv("ONESHOT_EXAMPLE_QUICK");
    int quick = quick_env && quick_env[0] && quick_env[0] != '0';
    const char *path = argc > 1 ? argv[1] : NULL; /* NULL: the default dataset */

    oneshot_ctx *ctx = oneshot_ctx_new();
    if (!ctx)
        return fprintf(stderr, "search: %s\n", oneshot_error(NULL)), 1;
    oneshot_set_log(ctx, log_line, NULL);
    if (quick)
        oneshot_set_threads(ctx, 1); /* a tiny network: more threads only wait on each other */

    oneshot_data_opts dopt;
    oneshot_data_opts_default(&dopt);
    dopt.subset = quick ? 20 : 200;        /* training images per class */
    dopt.test_subset = quick ? 10 : 100;
    dopt.batch = quick ? 16 : 32;
    oneshot_model_opts mopt;
    oneshot_model_opts_default(&mopt);
    mopt.cells = quick ? 1 : 2;            /* nb201: cells per stage */
    mopt.channels = quick ? 4 : 8;
    oneshot_train_opts topt;
    oneshot_train_opts_default(&topt, ONESHOT_SEARCH);
    topt.epochs = quick ? 1 : 3;
    topt.limit_steps = quick ? 3 : 0;
    const char *const darts_options[] = {"arch-lr", "3e-3", NULL};
    topt.strategy_options = darts_options;

    oneshot_data *data = NULL;
    oneshot_model *net = NULL;
    oneshot_run *run = NULL;
    char *arch = NULL;
    int st = oneshot_data_open(ctx, path, &dopt, &data);
    if (!st)
        st = oneshot_model_supernet(ctx, "nb201", data, &mopt, &net);
    if (!st)
        st = oneshot_run_new(ctx, net, data, "darts", &topt, &run);
    oneshot_callbacks cb = {.on_step = on_step};
    while (!st && !oneshot_run_finished(run))
        st = oneshot_run_epoch(run, &cb, NULL);
    double loss = 0, acc = 0;
    if (!st)
        st = oneshot_run_evaluate(run, &loss, &acc);
    if (!st)
        st = oneshot_run_derive(run, &arch);
    if (!st) {
        fprintf(stderr, "supernet test loss %.4f, accuracy %.1f%%\n", loss, 100 * acc);
        printf("%s\n", arch);
    } else {
        fprintf(stderr, "search: %s: %s\n", oneshot_status_name(st), oneshot_error(ctx));
    }
    oneshot_free(arch);
    oneshot_run_free(run);
    oneshot_model_free(net);
    oneshot_data_free(data);
    oneshot_ctx_free(ctx);
    return st ? 1 : 0;
}
