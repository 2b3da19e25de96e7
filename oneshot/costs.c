/* oneshot/costs.c — `oneshot costs`: what each candidate of a space costs
 * (parameters, multiply-adds per image), or what a child costs in all. */
#include "oneshot/run.h"
#include "ops/count.h"
#include "supernet/arch.h"
#include "tensor/arena.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int os_cmd_costs(os_config *c)
{
    int in_c, in_h, in_w, classes = c->classes > 0 ? c->classes : 10;
    if (os_config_input(c, &in_c, &in_h, &in_w))
        return 2;
    os_arch child = {0};
    const os_space *sp = os_space_find(c->space);
    int rc = c->arch[0] ? os_arch_load(c->arch, os_config_given("space") ? c->space : NULL, &sp, &child) : 0;
    if (rc || (c->arch[0] && os_config_arch_sizes(c, &child))) {
        fprintf(stderr, "oneshot: %s\n", os_last_error());
        if (!rc)
            os_arch_free(&child);
        return rc == -1 ? 1 : 2;
    }
    os_space_opts so = {.cells = c->cells, .channels = c->channels, .in_c = in_c, .in_h = in_h, .in_w = in_w,
                        .num_classes = classes, .seed = 1, .arch = c->arch[0] ? &child : NULL};
    os_net net;
    if (sp->build(&net, &so)) {
        fprintf(stderr, "oneshot: %s\n", os_last_error());
        os_arch_free(&child);
        return 1;
    }
    printf("%s %s, input %dx%dx%d, %d classes; per image:\n", sp->name, c->arch[0] ? "child" : "supernet", in_c,
           in_h, in_w, classes);
    if (c->arch[0]) {
        os_cost t;
        os_net_cost(&net, &t);
        printf("  parameters %lld (%.3f M), multiply-adds %lld (%.1f M)\n", (long long)t.params, t.params / 1e6,
               (long long)t.macs, t.macs / 1e6);
    } else {
        os_cost *k = calloc((size_t)net.n_choices * OS_MAX_CANDIDATES, sizeof *k);
        os_net_candidate_costs(&net, k);
        printf("  %-22s %-16s %12s %14s\n", "choice", "candidate", "parameters", "multiply-adds");
        for (int i = 0; i < net.n_choices; i++)
            for (int j = 0; j < net.choices[i].n && net.choices[i].kind == OS_CHOICE_LAYER; j++) {
                const os_cost *e = &k[i * OS_MAX_CANDIDATES + j];
                printf("  %-22s %-16s %12lld %14lld\n", j ? "" : net.choices[i].label, net.choices[i].names[j],
                       (long long)e->params, (long long)e->macs);
            }
        free(k);
    }
    os_net_free(&net);
    os_arch_free(&child);
    os_step_shutdown();
    return 0;
}
