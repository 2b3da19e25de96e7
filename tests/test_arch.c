/* tests/test_arch.c — architectures through export and import, for every
 * space the registry holds.
 *
 * A searched supernet's export (os_arch_from_alpha -> space->derive ->
 * os_arch_json) loads back (os_arch_load, with and without the space named)
 * as the same child, and that child builds (no choices left) into the same
 * network as the derived one; every named architecture survives arch.json
 * and NNI's bare dict; NNI 3.0's own nb201 dict loads without a space and
 * gives the benchmark's arch string; a file or string of one space loaded as
 * another's is an error naming both.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "tests/test_util.h"
#include "tests/ds_util.h"
#include "supernet/arch.h"
#include "supernet/spaces/spaces.h"
#include "supernet/genotype.h"

#include <cjson/cJSON.h>

/* small options every space accepts (cifar_cell needs 3 cells and an input
 * divisible by 4) */
static os_space_opts small_opts(const os_arch *arch, uint64_t seed)
{
    return (os_space_opts){.cells = 3, .channels = 2, .in_c = 1, .in_h = 8, .in_w = 8, .num_classes = 3,
                           .seed = seed, .arch = arch};
}

static void write_text(const char *dir, const char *name, const char *text, char *path, size_t n)
{
    du_write(dir, name, text, strlen(text), 0);
    snprintf(path, n, "%s/%s", dir, name);
}

/* eval-mode logits of a net on a fixed input [2, 1, 8, 8] -> out[2 * 3] */
static void logits_of(os_net *net, float *out)
{
    float x[2 * 64];
    for (int i = 0; i < 128; i++)
        x[i] = cosf(0.23f * (float)i);
    os_tensor *t = os_tensor_new4(2, 1, 8, 8);
    os_tensor_from_host(t, x);
    os_forward_ctx ctx = {.training = false};
    bool old = os_set_grad_enabled(false);
    os_tensor *y = net->forward(net, t, &ctx, NULL);
    cr_assert(y->ndim == 2 && y->shape[0] == 2 && y->shape[1] == 3, "logits %s", os_shape_str(y));
    os_tensor_to_host(y, out);
    os_set_grad_enabled(old);
    os_step_reset();
}

/* A child of sp from `a`: builds, has no choices, runs; logits out. */
static void build_child(const os_space *sp, const os_arch *a, float *logits, const char *what)
{
    os_net net;
    os_space_opts o = small_opts(a, 7);
    cr_assert_eq(sp->build(&net, &o), 0, "%s: %s: %s", sp->name, what, os_last_error());
    cr_expect_str_eq(net.space, sp->name, "%s", what);
    cr_expect_eq(net.n_choices, 0, "%s: %s: the child has %d choices", sp->name, what, net.n_choices);
    logits_of(&net, logits);
    for (int i = 0; i < 6; i++)
        cr_expect(isfinite(logits[i]), "%s: %s: logit %d is %g", sp->name, what, i, (double)logits[i]);
    os_net_free(&net);
}

/* `a` (child form of sp) read back from `text`: in memory and from a file,
 * with no space given and with sp's; each the same architecture. */
static void expect_loads_back(const os_space *sp, const os_arch *a, const char *text, const char *dir,
                              const char *what)
{
    char path[512];
    write_text(dir, "arch.json", text, path, sizeof path);
    for (int k = 0; k < 4; k++) {
        const char *space = k % 2 ? sp->name : NULL;
        const os_space *got = NULL;
        os_arch back;
        int rc = k < 2 ? os_arch_load(path, space, &got, &back)
                       : os_arch_parse_json(text, what, space, &got, &back);
        cr_assert_eq(rc, 0, "%s: %s (%s, space %s): %s\n%s", sp->name, what, k < 2 ? "file" : "memory",
                     space ? space : "none", os_last_error(), text);
        cr_expect_eq(got, sp, "%s: %s: loaded as %s", sp->name, what, got ? got->name : "?");
        cr_expect(os_arch_complete(&back), "%s: %s: not complete", sp->name, what);
        cr_expect(os_arch_equal(&back, a), "%s: %s (%s, space %s): not the same architecture\n%s", sp->name, what,
                  k < 2 ? "file" : "memory", space ? space : "none", text);
        os_arch_free(&back);
    }
}

Test(arch, export_import_round_trip_every_space)
{
    cr_assert_geq(os_space_count(), 2);
    char dir[256];
    du_tmpdir(dir, sizeof dir);
    os_rng r;
    os_rng_seed(&r, 2024);
    for (int s = 0; s < os_space_count(); s++) {
        const os_space *sp = os_space_at(s);
        cr_assert(sp && sp->build && sp->derive && sp->child_template, "space %d", s);
        cr_expect_eq(os_space_find(sp->name), sp);
        os_net sup;
        os_space_opts o = small_opts(NULL, 3);
        cr_assert_eq(sp->build(&sup, &o), 0, "%s: %s", sp->name, os_last_error());
        cr_assert_gt(sup.n_choices, 0, "%s: the supernet has no choices", sp->name);
        for (int trial = 0; trial < 6; trial++) {
            char what[64];
            snprintf(what, sizeof what, "trial %d", trial);
            for (int i = 0; i < sup.n_choices; i++)
                for (int k = 0; k < sup.choices[i].n; k++)
                    sup.choices[i].alpha->data[k] = 4.0f * os_rng_uniform(&r) - 2.0f;
            os_arch w, child;
            cr_assert_eq(os_arch_from_alpha(&sup, &w), 0, "%s: %s", sp->name, os_last_error());
            cr_expect_eq(w.n, sup.n_choices);
            int max_skip = (sp->features & OS_SPACE_MAX_SKIP) ? trial % 3 - 1 : -1;
            cr_assert_eq(sp->derive(&w, &(os_derive_opts){.max_skip = max_skip}, &child), 0, "%s: %s: %s",
                         sp->name, what, os_last_error());
            cr_expect_str_eq(child.space, sp->name);
            cr_expect(os_arch_complete(&child), "%s: %s: derived child not complete", sp->name, what);
            /* the child form is the space's template, decided */
            os_arch tmpl;
            os_arch_init(&tmpl, sp->name);
            sp->child_template(&tmpl);
            if (sp->features & OS_SPACE_DEPTH_LABELS) /* a shallower net: a prefix of the template */
                cr_expect_leq(child.n, tmpl.n, "%s", sp->name);
            else
                cr_expect_eq(child.n, tmpl.n, "%s", sp->name);
            for (int i = 0; i < tmpl.n && i < child.n; i++)
                cr_expect_str_eq(child.c[i].label, tmpl.c[i].label, "%s choice %d", sp->name, i);
            os_arch_free(&tmpl);

            char *txt = os_arch_json(sp, &child, &w);
            cr_assert(txt);
            cJSON *j = cJSON_Parse(txt);
            cr_assert(j, "%s: arch.json is not JSON: %s", sp->name, txt);
            const cJSON *js = cJSON_GetObjectItemCaseSensitive(j, "space");
            cr_expect(cJSON_IsString(js) && !strcmp(js->valuestring, sp->name), "%s", txt);
            cr_expect(cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(j, "arch")), "%s", txt);
            const cJSON *pj = cJSON_GetObjectItemCaseSensitive(j, "probs");
            cr_expect(cJSON_IsObject(pj) && cJSON_GetArraySize(pj) == sup.n_choices, "%s", txt);
            expect_loads_back(sp, &child, txt, dir, what);
            /* NNI's bare dict (the "arch" object alone) too */
            char *bare = cJSON_PrintUnformatted(cJSON_GetObjectItemCaseSensitive(j, "arch"));
            expect_loads_back(sp, &child, bare, dir, "bare dict");
            free(bare);
            /* the loaded child is the derived one: same network */
            os_arch back;
            const os_space *got;
            char path[512];
            write_text(dir, "again.json", txt, path, sizeof path);
            cr_assert_eq(os_arch_load(path, NULL, &got, &back), 0, "%s", os_last_error());
            /* and exports the same arch.json, less the probabilities */
            char *again = os_arch_json(got, &back, NULL);
            cJSON *ja = cJSON_Parse(again);
            cJSON_DeleteItemFromObjectCaseSensitive(j, "probs");
            cr_expect(cJSON_Compare(j, ja, 1), "%s: re-export differs:\n%s\n%s", sp->name, txt, again);
            cJSON_Delete(ja);
            free(again);
            if (trial < 2) {
                float y0[6], y1[6];
                build_child(sp, &child, y0, "derived");
                build_child(sp, &back, y1, "loaded");
                cr_expect(!memcmp(y0, y1, sizeof y0), "%s: %s: the loaded child computes differently", sp->name,
                          what);
            }
            os_arch_free(&back);
            cJSON_Delete(j);
            free(txt);
            os_arch_free(&child);
            os_arch_free(&w);
        }
        os_net_free(&sup);
    }
    du_rmtree(dir);
    os_step_reset();
}

Test(arch, named_architectures_round_trip)
{
    char dir[256];
    du_tmpdir(dir, sizeof dir);
    int total = 0;
    for (int s = 0; s < os_space_count(); s++) {
        const os_space *sp = os_space_at(s);
        for (const char *const *n = sp->named; n && *n; n++, total++) {
            cr_assert(sp->parse, "%s names architectures but cannot parse them", sp->name);
            os_arch a, p;
            const os_space *got = NULL;
            cr_assert_eq(os_arch_load(*n, NULL, &got, &a), 0, "%s: %s", *n, os_last_error());
            cr_expect_eq(got, sp, "%s loaded as %s", *n, got ? got->name : "?");
            cr_expect(os_arch_complete(&a), "%s", *n);
            os_arch_init(&p, sp->name);
            cr_assert_eq(sp->parse(*n, &p), 0, "%s: %s", *n, os_last_error());
            cr_expect(os_arch_equal(&a, &p), "%s: parse and load disagree", *n);
            os_arch_free(&p);
            cr_assert_eq(os_arch_load(*n, sp->name, &got, &p), 0, "%s: %s", *n, os_last_error());
            cr_expect(os_arch_equal(&a, &p));
            os_arch_free(&p);
            /* parse -> json -> load -> equal (arch.json and NNI's bare dict) */
            char *txt = os_arch_json(sp, &a, NULL);
            expect_loads_back(sp, &a, txt, dir, *n);
            cJSON *j = cJSON_Parse(txt);
            char *bare = cJSON_PrintUnformatted(cJSON_GetObjectItemCaseSensitive(j, "arch"));
            expect_loads_back(sp, &a, bare, dir, *n);
            free(bare);
            cJSON_Delete(j);
            free(txt);
            float y[6];
            build_child(sp, &a, y, *n);
            os_arch_free(&a);
        }
    }
    cr_expect_geq(total, 2, "darts-v1 and darts-v2 at least");
    du_rmtree(dir);
}

/* NNI 3.0's export of an nb201 architecture (REFERENCE.md §4) */
static const char *const NNI_NB201 =
    "{\"cell/0_1\": \"conv_3x3\", \"cell/0_2\": \"conv_3x3\", \"cell/1_2\": \"skip_connect\", "
    "\"cell/0_3\": \"conv_1x1\", \"cell/1_3\": \"avg_pool_3x3\", \"cell/2_3\": \"none\"}";
static const char *const NNI_NB201_STR =
    "|nor_conv_3x3~0|+|nor_conv_3x3~0|skip_connect~1|+|nor_conv_1x1~0|avg_pool_3x3~1|none~2|";

Test(arch, nni_nb201_dict_loads_bare)
{
    char dir[256], path[512];
    du_tmpdir(dir, sizeof dir);
    write_text(dir, "nni.json", NNI_NB201, path, sizeof path);
    os_arch a, s;
    const os_space *sp = NULL;
    cr_assert_eq(os_arch_load(path, NULL, &sp, &a), 0, "%s", os_last_error());
    cr_assert_eq(sp, &os_space_nb201, "loaded as %s", sp ? sp->name : "?");
    cr_expect_str_eq(a.space, "nb201");
    cr_expect(os_arch_complete(&a));
    /* arch.json gives the benchmark's string and NNI's dict back */
    char *txt = os_arch_json(sp, &a, NULL);
    cJSON *j = cJSON_Parse(txt), *ref = cJSON_Parse(NNI_NB201);
    const cJSON *as = cJSON_GetObjectItemCaseSensitive(j, "arch_str");
    cr_assert(cJSON_IsString(as), "%s", txt);
    cr_expect_str_eq(as->valuestring, NNI_NB201_STR);
    cr_expect(cJSON_Compare(cJSON_GetObjectItemCaseSensitive(j, "arch"), ref, 1), "%s", txt);
    cJSON_Delete(ref);
    cJSON_Delete(j);
    free(txt);
    /* the string names the same architecture */
    cr_assert_eq(os_arch_load(NNI_NB201_STR, NULL, &sp, &s), 0, "%s", os_last_error());
    cr_expect_eq(sp, &os_space_nb201);
    cr_expect(os_arch_equal(&a, &s));
    /* in memory, and with the space given */
    os_arch m;
    cr_assert_eq(os_arch_parse_json(NNI_NB201, "nni", "nb201", &sp, &m), 0, "%s", os_last_error());
    cr_expect(os_arch_equal(&a, &m));
    os_arch_free(&m);
    /* children from both: same network */
    float y0[6], y1[6];
    build_child(&os_space_nb201, &a, y0, "NNI dict");
    build_child(&os_space_nb201, &s, y1, "arch string");
    cr_expect(!memcmp(y0, y1, sizeof y0));
    os_arch_free(&s);
    os_arch_free(&a);
    du_rmtree(dir);
}

Test(arch, another_space_is_an_error_naming_both)
{
    char dir[256], path[512];
    du_tmpdir(dir, sizeof dir);
    os_arch a;
    const os_space *sp;
    /* arch.json of nb201, loaded as cifar_cell */
    char *txt = malloc(strlen(NNI_NB201) + 64);
    sprintf(txt, "{\"space\": \"nb201\", \"arch\": %s}", NNI_NB201);
    write_text(dir, "nb.json", txt, path, sizeof path);
    free(txt);
    DU_EXPECT_ERROR_RC(OS_ARCH_MISFIT, os_arch_load(path, "cifar_cell", &sp, &a), "nb.json", "nb201", "cifar_cell");
    cr_assert_eq(os_arch_load(path, "nb201", &sp, &a), 0, "%s", os_last_error());
    os_arch_free(&a);
    /* an nb201 arch string, loaded as cifar_cell */
    DU_EXPECT_ERROR_RC(OS_ARCH_MISFIT, os_arch_load(NNI_NB201_STR, "cifar_cell", &sp, &a), "nb201", "cifar_cell");
    /* a named cifar_cell architecture, loaded as nb201 */
    DU_EXPECT_ERROR_RC(OS_ARCH_MISFIT, os_arch_load("darts-v2", "nb201", &sp, &a), "darts-v2", "cifar_cell", "nb201");
    /* arch.json of cifar_cell, loaded as nb201 */
    cr_assert_eq(os_arch_load("darts-v1", NULL, &sp, &a), 0, "%s", os_last_error());
    txt = os_arch_json(sp, &a, NULL);
    os_arch_free(&a);
    write_text(dir, "dc.json", txt, path, sizeof path);
    free(txt);
    DU_EXPECT_ERROR_RC(OS_ARCH_MISFIT, os_arch_load(path, "nb201", &sp, &a), "dc.json", "cifar_cell", "nb201");
    /* a bare nb201 dict read as cifar_cell's: its labels are unknown there */
    write_text(dir, "bare.json", NNI_NB201, path, sizeof path);
    DU_EXPECT_ERROR_RC(OS_ARCH_MISFIT, os_arch_load(path, "cifar_cell", &sp, &a), "bare.json", "cell/0_1");
    /* a space that does not exist */
    DU_EXPECT_ERROR_RC(OS_ARCH_MISFIT, os_arch_load(path, "nb202", &sp, &a), "nb202");
    du_rmtree(dir);
}

/* NNI's default DARTS() space samples width and depth too: its dicts carry
 * them beside the cell labels; they size the child and leave the cells as
 * they are */
Test(arch, nni_darts_dict_with_width_and_depth)
{
    cJSON *j = os_genotype_to_nni(&os_darts_v2);
    cJSON_AddNumberToObject(j, "width", 16);
    cJSON_AddNumberToObject(j, "depth", 12);
    char *txt = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    const os_space *sp;
    os_arch a, v2;
    cr_assert_eq(os_arch_parse_json(txt, "nni", NULL, &sp, &a), 0, "%s", os_last_error());
    free(txt);
    cr_expect_eq(sp, &os_space_cifar_cell);
    cr_expect(a.width == 16 && a.depth == 12, "width %d depth %d", a.width, a.depth);
    cr_assert_eq(os_arch_load("darts-v2", NULL, &sp, &v2), 0);
    cr_expect(os_arch_equal(&a, &v2));
    cr_expect(v2.width == 0 && v2.depth == 0);
    os_arch_free(&a);
    os_arch_free(&v2);
}
