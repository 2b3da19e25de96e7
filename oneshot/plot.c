/* oneshot/plot.c — `oneshot plot`: the pictures and report.html of a run
 * (plot/plot.h), or the pictures of an architecture alone (--arch).
 * Exit status: 0 drawn (also in part: what is missing is said on stderr),
 * 1 no run in the directory or a file that cannot be written, 2 usage. */
#include "oneshot/config.h"
#include "plot/plot.h"
#include "tensor/error.h"

#include <stdio.h>
#include <time.h>

static void warn(void *arg, const char *msg)
{
    (void)arg;
    fprintf(stderr, "oneshot: plot: %s\n", msg);
}

int os_cmd_plot(os_config *c)
{
    if (!c->run[0] && !c->arch[0]) {
        fprintf(stderr, "oneshot: plot needs --run DIR (a run directory) or --arch ARCH (an architecture alone); "
                        "see `oneshot plot --help`\n");
        return 2;
    }
    if (c->run[0] && c->arch[0]) {
        fprintf(stderr, "oneshot: plot takes --run or --arch, not both (a run's architecture is its arch.json)\n");
        return 2;
    }
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    if (c->arch[0]) {
        const char *out = c->out[0] ? c->out : "plots";
        int n = 0;
        if (os_plot_arch_source(c->arch, out, warn, NULL, &n)) {
            fprintf(stderr, "oneshot: plot: %s\n", os_last_error());
            return 1;
        }
        printf("%d picture(s) of %s in %s/\n", n, c->arch, out);
        return 0;
    }
    os_plot_opts o = {.out = c->out[0] ? c->out : NULL, .warn = warn};
    os_plot_result r;
    if (os_plot_run(c->run, &o, &r)) {
        fprintf(stderr, "oneshot: plot: %s\n", os_last_error());
        return 1;
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double ms = (t1.tv_sec - t0.tv_sec) * 1e3 + (t1.tv_nsec - t0.tv_nsec) / 1e6;
    printf("%d picture(s) in %s/ (%.0f ms)\nreport: %s\n", r.pictures, r.out, ms, r.report);
    return 0;
}
