/* oneshot/latency.c — `oneshot latency`: a latency table of every candidate
 * of a space on this machine (search/latency.h), or a child's end-to-end
 * latency (--arch). */
#include "oneshot/run.h"
#include "search/latency.h"
#include "supernet/arch.h"
#include "supernet/spaces/spaces.h"
#include "tensor/arena.h"
#include "tensor/backend.h"
#include "tensor/error.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int os_cmd_latency(os_config *c)
{
    int in_c, in_h, in_w, classes = c->classes > 0 ? c->classes : 10;
    if (os_config_input(c, &in_c, &in_h, &in_w))
        return 2;
    if (strcmp(c->clock, "wall") && strcmp(c->clock, "cpu")) {
        fprintf(stderr, "oneshot: --clock '%s': expected wall or cpu\n", c->clock);
        return 2;
    }
    if (!strcmp(c->clock, "cpu") && c->threads != 1) {
        fprintf(stderr, "oneshot: --clock cpu needs --threads 1 (the process's CPU time adds up every thread's)\n");
        return 2;
    }
    const os_space *sp = os_space_find(c->space);
    if (!c->arch[0] && !sp) {
        fprintf(stderr, "oneshot: unknown space '%s' (see `oneshot spaces`)\n", c->space);
        return 2;
    }
    os_arch child = {0};
    if (c->arch[0] && os_arch_load(c->arch, os_config_given("space") ? c->space : NULL, &sp, &child)) {
        fprintf(stderr, "oneshot: --arch: %s\n", os_last_error());
        return 2;
    }
    os_set_threads(c->threads);
    int drc = os_cli_device(c, "latency");
    if (drc) {
        os_arch_free(&child);
        return drc;
    }
    os_space_opts so = {.cells = c->cells, .channels = c->channels, .in_c = in_c, .in_h = in_h, .in_w = in_w,
                        .num_classes = classes, .seed = 1, .arch = c->arch[0] ? &child : NULL};
    os_net net;
    if (sp->build(&net, &so)) {
        fprintf(stderr, "oneshot: %s\n", os_last_error());
        os_arch_free(&child);
        return 2;
    }
    os_latency_opts lo = {.batch = c->batch, .threads = os_threads(), .warmup = c->warmup, .runs = c->runs,
                          .seed = 1, .cpu_clock = !strcmp(c->clock, "cpu")};
    const char *variant = !strcmp(sp->name, "proxyless") ? (os_proxyless_small_variant(in_h, in_w) ? "small" : "imagenet")
                                                         : NULL;
    int rc = 0;
    if (c->arch[0]) {
        os_latency_stat st;
        rc = os_latency_measure(&net, &lo, &st);
        if (!rc)
            printf("%s child %s, input %dx%dx%d, batch %d, threads %d, %s clock: median %.4f ms (p10 %.4f, p90 %.4f) over %d "
                   "runs\n", sp->name, c->arch, in_c, in_h, in_w, lo.batch, lo.threads, c->clock, st.median, st.p10, st.p90,
                   lo.runs);
        double pred = -1;
        if (!rc && c->latency_table[0]) {
            os_space_opts po = so;
            /* the supernet the table was measured on: --cells as given (a
             * table of a smaller supernet lacks the deeper blocks), else the
             * full one (every depth) */
            po.cells = os_config_given("cells") ? c->cells : 0;
            if (os_latency_predict(sp, &po, &child, c->latency_table, lo.batch, lo.threads, &pred)) {
                fprintf(stderr, "oneshot: --latency-table: %s\n", os_last_error());
                rc = 2;
            } else {
                printf("predicted by %s: %.4f ms (measured / predicted %.3f)\n", c->latency_table, pred,
                       st.median / pred);
            }
        }
        if (!rc && c->out[0]) {
            cJSON *j = cJSON_CreateObject();
            cJSON_AddStringToObject(j, "space", sp->name);
            cJSON_AddStringToObject(j, "arch", c->arch);
            int in[3] = {in_c, in_h, in_w};
            cJSON_AddItemToObject(j, "input", cJSON_CreateIntArray(in, 3));
            cJSON_AddNumberToObject(j, "batch", lo.batch);
            cJSON_AddNumberToObject(j, "threads", lo.threads);
            cJSON_AddNumberToObject(j, "runs", lo.runs);
            cJSON_AddStringToObject(j, "clock", c->clock);
            cJSON_AddNumberToObject(j, "median_ms", st.median);
            if (pred >= 0)
                cJSON_AddNumberToObject(j, "predicted_ms", pred);
            double sp2[2] = {st.p10, st.p90};
            cJSON_AddItemToObject(j, "spread_ms", cJSON_CreateDoubleArray(sp2, 2));
            char *txt = cJSON_Print(j);
            FILE *f = fopen(c->out, "w");
            if (!f || fprintf(f, "%s\n", txt) < 0 || fclose(f)) {
                fprintf(stderr, "oneshot: --out %s: cannot write\n", c->out);
                rc = 1;
            }
            free(txt);
            cJSON_Delete(j);
        }
    } else {
        cJSON *t = os_latency_table(&net, variant, &lo);
        if (!t) {
            fprintf(stderr, "oneshot: %s\n", os_last_error());
            rc = 1;
        } else {
            char *txt = cJSON_Print(t);
            if (c->out[0]) {
                FILE *f = fopen(c->out, "w");
                if (!f || fprintf(f, "%s\n", txt) < 0 || fclose(f)) {
                    fprintf(stderr, "oneshot: --out %s: cannot write the latency table\n", c->out);
                    rc = 1;
                } else {
                    const cJSON *fx = cJSON_GetObjectItemCaseSensitive(t, "fixed");
                    printf("%s%s%s latency table (input %dx%dx%d, batch %d, threads %d, %d runs): fixed %.4f ms; "
                           "written to %s\n", sp->name, variant ? " " : "", variant ? variant : "", in_c, in_h, in_w,
                           lo.batch, lo.threads, lo.runs, fx->valuedouble, c->out);
                }
            } else {
                printf("%s\n", txt);
            }
            free(txt);
            cJSON_Delete(t);
        }
    }
    os_net_free(&net);
    os_arch_free(&child);
    os_step_shutdown();
    return rc;
}
