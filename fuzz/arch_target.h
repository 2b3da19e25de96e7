/* fuzz/arch_target.h — what the architecture fuzz harness does with one
 * text, shared with the replay test (tests/test_fuzz_regress.c): a property
 * that fails calls abort().
 *
 *  1. the JSON reader, os_arch_parse_json, with no space and with each
 *     space's name; an architecture it accepts must be complete, export to
 *     arch.json (os_arch_json) and read back equal, and build a small child
 *     network of its space;
 *  2. each space's string forms (named architectures, nb201 strings): an
 *     accepted one must be complete.
 * arch_target_seeds(dir) writes arch.json files, bare NNI dicts and string
 * forms of every named architecture to start from. */
#ifndef OS_FUZZ_ARCH_TARGET_H
#define OS_FUZZ_ARCH_TARGET_H

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "supernet/arch.h"
#include "tensor/arena.h"
#include "tensor/backend.h"
#include "tensor/error.h"

static void arch_check_child(const os_space *sp, const os_arch *child)
{
    if (!os_arch_complete(child) || strcmp(child->space, sp->name)) {
        fprintf(stderr, "arch_target: an incomplete or mislabelled architecture was accepted\n");
        abort();
    }
    /* arch.json and back */
    char *txt = os_arch_json(sp, child, NULL);
    const os_space *sp2;
    os_arch back;
    if (!txt || os_arch_parse_json(txt, "export", sp->name, &sp2, &back)) {
        fprintf(stderr, "arch_target: the exported architecture does not read back: %s\n%s\n", os_last_error(),
                txt ? txt : "(null)");
        abort();
    }
    if (sp2 != sp || !os_arch_equal(child, &back)) {
        fprintf(stderr, "arch_target: the architecture changed in the round trip\n%s\n", txt);
        abort();
    }
    os_arch_free(&back);
    free(txt);
    /* a child network of the smallest size */
    os_net net;
    os_space_opts so = {.cells = 3, .channels = 2, .in_c = 1, .in_h = 8, .in_w = 8, .num_classes = 3, .seed = 1,
                        .arch = child};
    if (sp->build(&net, &so)) {
        fprintf(stderr, "arch_target: an accepted architecture does not build: %s\n", os_last_error());
        abort();
    }
    os_net_free(&net);
    os_step_reset();
}

static void arch_target_text(const char *text)
{
    os_set_threads(1);
    for (int s = -1; s < os_space_count(); s++) {
        const char *space = s < 0 ? NULL : os_space_at(s)->name;
        const os_space *sp = NULL;
        os_arch child;
        if (os_arch_parse_json(text, "fuzz", space, &sp, &child) == 0) {
            if (!sp || (space && strcmp(sp->name, space)))
                abort();
            arch_check_child(sp, &child);
            os_arch_free(&child);
        } else if (!strstr(os_last_error(), "fuzz") && !strstr(os_last_error(), "space")) {
            fprintf(stderr, "arch_target: message names neither the source nor the space: %s\n", os_last_error());
            abort();
        }
    }
    for (int s = 0; s < os_space_count(); s++) {
        const os_space *sp = os_space_at(s);
        if (!sp->parse)
            continue;
        os_arch a;
        os_arch_init(&a, sp->name);
        int r = sp->parse(text, &a);
        if (r == 0)
            arch_check_child(sp, &a);
        os_arch_free(&a);
    }
}

/* ---- seeds --------------------------------------------------------------------- */
static void arch_seed(const char *dir, const char *name, const char *text)
{
    char p[1024];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    FILE *f = fopen(p, "wb");
    if (!f)
        abort();
    fputs(text, f);
    fclose(f);
}

static void arch_target_seeds(const char *dir)
{
    char name[128];
    for (int s = 0; s < os_space_count(); s++) {
        const os_space *sp = os_space_at(s);
        for (const char *const *n = sp->named; n && *n; n++) {
            const os_space *got;
            os_arch a;
            if (os_arch_load(*n, NULL, &got, &a))
                abort();
            snprintf(name, sizeof name, "name_%s", *n);
            arch_seed(dir, name, *n);
            char *txt = os_arch_json(got, &a, NULL); /* arch.json */
            snprintf(name, sizeof name, "arch_%s.json", *n);
            arch_seed(dir, name, txt);
            cJSON *j = cJSON_Parse(txt);
            char *nni = cJSON_PrintUnformatted(cJSON_GetObjectItem(j, "arch")); /* a bare NNI dict */
            snprintf(name, sizeof name, "nni_%s.json", *n);
            arch_seed(dir, name, nni);
            cJSON *as = cJSON_GetObjectItem(j, "arch_str");
            if (cJSON_IsString(as)) { /* the string form, bare and in arch.json without "arch" */
                snprintf(name, sizeof name, "str_%s", *n);
                arch_seed(dir, name, as->valuestring);
                cJSON_DeleteItemFromObject(j, "arch");
                char *t2 = cJSON_PrintUnformatted(j);
                snprintf(name, sizeof name, "arch_str_%s.json", *n);
                arch_seed(dir, name, t2);
                free(t2);
            }
            free(nni);
            free(txt);
            cJSON_Delete(j);
            os_arch_free(&a);
        }
    }
    arch_seed(dir, "nb201_str", "|nor_conv_3x3~0|+|nor_conv_3x3~0|skip_connect~1|+|nor_conv_1x1~0|avg_pool_3x3~1|none~2|");
    arch_seed(dir, "nni_nb201.json",
              "{\"cell/0_1\": \"conv_3x3\", \"cell/0_2\": \"conv_3x3\", \"cell/1_2\": \"skip_connect\", "
              "\"cell/0_3\": \"conv_1x1\", \"cell/1_3\": \"avg_pool_3x3\", \"cell/2_3\": \"none\"}");
}

#endif
