/* tests/test_costs.c — costs per candidate and of a whole child
 * (os_net_candidate_costs, os_net_cost), against hand-computed counts. */
#include "tests/test_util.h"
#include "ops/count.h"
#include "autograd/autograd.h"

#include <stdlib.h>
#include "supernet/arch.h"
#include "supernet/spaces/spaces.h"

/* nb201, 5 cells a stage, C = 16, 3x32x32: a ReLU-Conv-BN candidate on an
 * edge exists in 5 cells of each stage at C, 2C, 4C channels and 32, 16, 8
 * pixels; its search BN has no parameters */
Test(costs, nb201_candidates_by_hand)
{
    os_space_opts so = {.cells = 5, .channels = 16, .in_c = 3, .in_h = 32, .in_w = 32, .num_classes = 10, .seed = 1};
    os_net net;
    cr_assert_eq(os_space_nb201.build(&net, &so), 0, "%s", os_last_error());
    os_cost *k = calloc((size_t)net.n_choices * OS_MAX_CANDIDATES, sizeof *k);
    os_net_candidate_costs(&net, k);
    long p1 = 0, m1 = 0, p3 = 0, m3 = 0;
    for (int s = 0; s < 3; s++) {
        long C = 16L << s, hw = (32L >> s) * (32L >> s);
        p1 += 5 * C * C;
        m1 += 5 * C * C * hw;
        p3 += 5 * C * C * 9;
        m3 += 5 * C * C * 9 * hw;
    }
    for (int i = 0; i < net.n_choices; i++) {
        const os_cost *c = &k[i * OS_MAX_CANDIDATES];
        cr_expect_eq(c[0].params + c[0].macs + c[1].params + c[1].macs + c[4].params + c[4].macs, 0,
                     "%s: none, skip and pooling cost nothing", net.choices[i].label);
        cr_expect_eq(c[2].params, p1, "%s conv_1x1 params", net.choices[i].label);
        cr_expect_eq(c[2].macs, m1, "%s conv_1x1 macs", net.choices[i].label);
        cr_expect_eq(c[3].params, p3, "%s conv_3x3 params", net.choices[i].label);
        cr_expect_eq(c[3].macs, m3, "%s conv_3x3 macs", net.choices[i].label);
    }
    cr_expect_eq(p3, 241920);
    free(k);
    cr_expect(net.choose == NULL, "the chooser is put back");
    os_net_free(&net);
}

/* a child reads every weight in evaluation, except the auxiliary head */
Test(costs, child_totals)
{
    const char *archs[] = {"darts-v2", "|nor_conv_3x3~0|+|none~0|skip_connect~1|+|nor_conv_1x1~0|avg_pool_3x3~1|nor_conv_3x3~2|"};
    for (int a = 0; a < 2; a++) {
        os_arch child;
        const os_space *sp;
        cr_assert_eq(os_arch_load(archs[a], NULL, &sp, &child), 0, "%s", os_last_error());
        for (int aux = 0; aux < 2; aux++) {
            os_space_opts so = {.cells = 6, .channels = 8, .in_c = 3, .in_h = 16, .in_w = 16, .num_classes = 10,
                                .seed = 1, .arch = &child, .auxiliary = aux};
            os_net net;
            cr_assert_eq(sp->build(&net, &so), 0, "%s", os_last_error());
            os_cost t;
            os_net_cost(&net, &t);
            long aux_params = 0;
            for (int i = 0; i < net.weights.n; i++)
                if (!strncmp(net.weights.t[i]->name, "aux.", 4))
                    aux_params += os_numel(net.weights.t[i]);
            cr_expect_eq(t.params, os_params_numel(&net.weights) - aux_params, "%s aux %d", archs[a], aux);
            cr_expect(t.macs > 0);
            os_net_free(&net);
        }
        os_arch_free(&child);
    }
}
