/* tests/test_api.c — the public API (include/oneshot.h) end to end.
 *
 * Data: IDX sets of 8x8 images in 4 classes (64 training images, 16 test)
 * written to a temporary folder; networks of 1 cell per stage (nb201) or 3
 * cells (cifar_cell) with 4 channels; batch 8, one thread.
 *
 *  - a search: steps and epochs, the derived arch.json is JSON that builds
 *    a child, which trains; a checkpoint loaded into a fresh run gives the
 *    same architecture, position and next loss; darts-v2 trains on
 *    cifar_cell; a stop callback stops and the next call continues;
 *  - every error path: the status, a message naming the culprit, the
 *    process alive, nothing leaked (run it under ASan);
 *  - an internal os_fatal (a callback's, and the constant-image data set's)
 *    comes back as ONESHOT_EINTERNAL, the fatal handler is restored;
 *  - nothing is printed; the log callback gets the lines; two contexts on
 *    two threads.
 */
#include "include/oneshot.h" /* the installed <oneshot.h> */
#include "search/strategy.h"  /* the registry, to count the strategies */

#include <cjson/cJSON.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>

#include "tests/ds_util.h"

/* ---- helpers ----------------------------------------------------------------------------- */
#define EXPECT_STATUS(ctx, code, call, ...)                                                                  \
    do {                                                                                                     \
        int st_ = (call);                                                                                    \
        cr_expect_eq(st_, (code), "%s: %s (%s), expected %s", #call, oneshot_status_name(st_),              \
                     oneshot_error(ctx), oneshot_status_name(code));                                         \
        const char *subs_[] = {"", __VA_ARGS__};                                                             \
        cr_expect(oneshot_error(ctx)[0], "%s: no message", #call);                                           \
        for (size_t i_ = 1; i_ < sizeof subs_ / sizeof subs_[0]; i_++)                                       \
            cr_expect(strstr(oneshot_error(ctx), subs_[i_]) != NULL, "%s: message '%s' lacks '%s'", #call,  \
                      oneshot_error(ctx), subs_[i_]);                                                        \
    } while (0)

#define OK(ctx, call)                                                                                        \
    do {                                                                                                     \
        int st_ = (call);                                                                                    \
        cr_assert_eq(st_, ONESHOT_OK, "%s: %s: %s", #call, oneshot_status_name(st_), oneshot_error(ctx));   \
    } while (0)

/* dir/name: 64 training and 16 test images of side x side in 4 classes;
 * constant: every pixel 0 */
static void make_data(const char *dir, const char *name, int side, int constant)
{
    du_mkdir(dir, name);
    char d[600];
    snprintf(d, sizeof d, "%s/%s", dir, name);
    uint8_t lab[64];
    for (int i = 0; i < 64; i++)
        lab[i] = (uint8_t)(i % 4);
    if (!constant) {
        du_write_idx(d, "train-images-idx3-ubyte", "train-labels-idx1-ubyte", 64, side, side, lab, 0);
        du_write_idx(d, "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte", 16, side, side, lab, 0);
        return;
    }
    static const char *const files[2][2] = {{"train-images-idx3-ubyte", "train-labels-idx1-ubyte"},
                                            {"t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"}};
    for (int s = 0; s < 2; s++) {
        int n = s ? 16 : 64;
        size_t isz = 16 + (size_t)n * side * side;
        uint8_t *img = calloc(1, isz), lb[8 + 64];
        uint32_t di[3] = {(uint32_t)n, (uint32_t)side, (uint32_t)side}, dl[1] = {(uint32_t)n};
        du_idx_header(img, 8, 3, di);
        size_t o = du_idx_header(lb, 8, 1, dl);
        memcpy(lb + o, lab, (size_t)n);
        du_write(d, files[s][0], img, isz, 0);
        du_write(d, files[s][1], lb, o + (size_t)n, 0);
        free(img);
    }
}

typedef struct {
    char dir[256], data[300];
    oneshot_ctx *ctx;
} fx;

static void setup(fx *f)
{
    du_tmpdir(f->dir, sizeof f->dir);
    make_data(f->dir, "data", 8, 0);
    snprintf(f->data, sizeof f->data, "%s/data", f->dir);
    f->ctx = oneshot_ctx_new();
    cr_assert(f->ctx);
    OK(f->ctx, oneshot_set_threads(f->ctx, 1));
}

static void teardown(fx *f)
{
    oneshot_ctx_free(f->ctx);
    du_rmtree(f->dir);
}

static oneshot_data *open_data(fx *f, const char *path, int split)
{
    oneshot_data_opts o;
    oneshot_data_opts_default(&o);
    o.batch = 8;
    o.split = split;
    oneshot_data *d = NULL;
    OK(f->ctx, oneshot_data_open(f->ctx, path, &o, &d));
    return d;
}

static oneshot_model_opts small(int cells)
{
    oneshot_model_opts o;
    oneshot_model_opts_default(&o);
    o.cells = cells;
    o.channels = 4;
    return o;
}

static oneshot_model *supernet(fx *f, const char *space, oneshot_data *d)
{
    oneshot_model_opts mo = small(!strcmp(space, "nb201") ? 1 : 3);
    oneshot_model *m = NULL;
    OK(f->ctx, oneshot_model_supernet(f->ctx, space, d, &mo, &m));
    return m;
}

static oneshot_train_opts search_opts(int epochs)
{
    oneshot_train_opts o;
    oneshot_train_opts_default(&o, ONESHOT_SEARCH);
    o.epochs = epochs;
    return o;
}

static oneshot_run *new_search(fx *f, oneshot_model *m, oneshot_data *d, const char *strategy, int epochs)
{
    oneshot_train_opts o = search_opts(epochs);
    oneshot_run *r = NULL;
    OK(f->ctx, oneshot_run_new(f->ctx, m, d, strategy, &o, &r));
    return r;
}

/* ---- the happy paths ----------------------------------------------------------------------- */
Test(api, search_derive_and_retrain_the_child, .timeout = 300)
{
    fx f;
    setup(&f);
    oneshot_data *d = open_data(&f, f.data, 1);
    oneshot_data_info di;
    OK(f.ctx, oneshot_data_get_info(d, &di));
    cr_expect(di.channels == 1 && di.height == 8 && di.width == 8 && di.classes == 4, "data info");
    cr_expect(di.weight_images == 32 && di.arch_images == 32 && di.test_images == 16, "data split");
    oneshot_model *m = supernet(&f, "nb201", d);
    cr_expect_eq(oneshot_model_is_supernet(m), 1);
    cr_expect_str_eq(oneshot_model_space(m), "nb201");
    cr_expect_gt(oneshot_model_params(m), 0);
    cr_expect_eq(oneshot_model_arch_params(m), 30);
    oneshot_run *r = new_search(&f, m, d, "darts", 2);

    oneshot_progress p;
    OK(f.ctx, oneshot_run_progress(r, &p));
    cr_expect(p.epoch == 0 && p.epochs == 2 && p.step == 0 && p.steps == 4, "progress %d/%d %d/%d", p.epoch,
              p.epochs, p.step, p.steps);
    oneshot_step_info si;
    OK(f.ctx, oneshot_run_step(r, &si));
    cr_expect(si.step == 0 && si.global_step == 1 && isfinite(si.loss), "step info");
    OK(f.ctx, oneshot_run_step(r, &si));
    oneshot_epoch_info ei;
    OK(f.ctx, oneshot_run_epoch(r, NULL, &ei)); /* the rest of epoch 1 */
    cr_expect(ei.epoch == 0 && isfinite(ei.train_loss) && isfinite(ei.val_loss), "epoch info");
    cr_expect_eq(oneshot_run_epoch_index(r), 1);
    for (int i = 0; i < 4; i++)
        OK(f.ctx, oneshot_run_step(r, &si)); /* epoch 2 by steps */
    cr_expect_eq(oneshot_run_epoch_index(r), 2);
    cr_expect_eq(oneshot_run_finished(r), 1);
    OK(f.ctx, oneshot_run_progress(r, &p));
    cr_expect_eq(p.global_step, 8);
    EXPECT_STATUS(f.ctx, ONESHOT_EINVAL, oneshot_run_step(r, &si), "done its 2 epochs");

    double loss, acc;
    OK(f.ctx, oneshot_run_evaluate(r, &loss, &acc));
    cr_expect(isfinite(loss) && acc >= 0 && acc <= 1, "evaluate: %g %g", loss, acc);
    char *json = NULL;
    OK(f.ctx, oneshot_run_derive(r, &json));
    cJSON *j = cJSON_Parse(json);
    cr_assert(j, "derive gives JSON: %s", json);
    cr_expect_str_eq(cJSON_GetObjectItem(j, "space")->valuestring, "nb201");
    cr_expect_eq(cJSON_GetArraySize(cJSON_GetObjectItem(j, "arch")), 6);
    cr_expect(cJSON_IsObject(cJSON_GetObjectItem(j, "probs")));
    cJSON_Delete(j);

    /* the found cell as a child, on all of the training set */
    oneshot_data *d2 = open_data(&f, f.data, 0);
    oneshot_model_opts mo = small(1);
    oneshot_model *c = NULL;
    OK(f.ctx, oneshot_model_child(f.ctx, json, NULL, d2, &mo, &c));
    cr_expect_eq(oneshot_model_is_supernet(c), 0);
    cr_expect_str_eq(oneshot_model_space(c), "nb201");
    cr_expect_eq(oneshot_model_arch_params(c), 0);
    oneshot_train_opts to;
    oneshot_train_opts_default(&to, ONESHOT_RETRAIN);
    to.epochs = 1;
    oneshot_run *cr = NULL;
    OK(f.ctx, oneshot_run_new(f.ctx, c, d2, NULL, &to, &cr));
    OK(f.ctx, oneshot_run_progress(cr, &p));
    cr_expect_eq(p.steps, 8); /* 64 images, batch 8 */
    OK(f.ctx, oneshot_run_step(cr, &si));
    cr_expect(isfinite(si.loss));
    /* a child's "derive" is the architecture it trains */
    char *json2 = NULL;
    OK(f.ctx, oneshot_run_derive(cr, &json2));
    cJSON *a = cJSON_Parse(json), *b = cJSON_Parse(json2);
    cr_expect(cJSON_Compare(cJSON_GetObjectItem(a, "arch"), cJSON_GetObjectItem(b, "arch"), 1), "same arch");
    cJSON_Delete(a);
    cJSON_Delete(b);
    oneshot_free(json);
    oneshot_free(json2);
    /* freed in an order other than creation: handles keep what they use */
    oneshot_model_free(c);
    oneshot_data_free(d2);
    oneshot_run_free(cr);
    oneshot_data_free(d);
    oneshot_model_free(m);
    oneshot_run_free(r);
    teardown(&f);
}

Test(api, save_load_into_a_fresh_run_continues_exactly, .timeout = 300)
{
    fx f;
    setup(&f);
    char ck[400];
    snprintf(ck, sizeof ck, "%s/ck.safetensors", f.dir);
    oneshot_data *d = open_data(&f, f.data, 1);
    oneshot_model *ma = supernet(&f, "nb201", d), *mb = supernet(&f, "nb201", d);
    const char *const gopts[] = {"tau-min", "0.5", "arch-lr", "0.01", NULL};
    oneshot_train_opts o = search_opts(3);
    o.strategy_options = gopts;
    oneshot_run *a = NULL, *b = NULL;
    OK(f.ctx, oneshot_run_new(f.ctx, ma, d, "gdas", &o, &a));
    OK(f.ctx, oneshot_run_epoch(a, NULL, NULL));
    oneshot_step_info si;
    OK(f.ctx, oneshot_run_step(a, &si)); /* mid-epoch */
    OK(f.ctx, oneshot_run_save(a, ck));
    OK(f.ctx, oneshot_run_new(f.ctx, mb, d, "gdas", &o, &b));
    OK(f.ctx, oneshot_run_load(b, ck));
    oneshot_progress pa, pb;
    OK(f.ctx, oneshot_run_progress(a, &pa));
    OK(f.ctx, oneshot_run_progress(b, &pb));
    cr_expect(pa.epoch == pb.epoch && pa.step == pb.step && pa.global_step == pb.global_step, "progress");
    cr_expect_eq(oneshot_run_epoch_index(b), 1);
    char *ja = NULL, *jb = NULL;
    OK(f.ctx, oneshot_run_derive(a, &ja));
    OK(f.ctx, oneshot_run_derive(b, &jb));
    cr_expect_str_eq(ja, jb);
    oneshot_free(ja);
    oneshot_free(jb);
    /* the next step is the same, bit for bit (weights, optimizers, RNG, loader position) */
    oneshot_step_info sa, sb;
    OK(f.ctx, oneshot_run_step(a, &sa));
    OK(f.ctx, oneshot_run_step(b, &sb));
    cr_expect(sa.loss == sb.loss && sa.global_step == sb.global_step, "next step: %.9g vs %.9g", sa.loss, sb.loss);
    oneshot_run_free(a);
    oneshot_run_free(b);
    oneshot_model_free(ma);
    oneshot_model_free(mb);
    oneshot_data_free(d);
    teardown(&f);
}

Test(api, darts_v2_child_on_cifar_cell_trains, .timeout = 300)
{
    fx f;
    setup(&f);
    oneshot_data *d = open_data(&f, f.data, 0);
    oneshot_model_opts mo = small(3);
    oneshot_model *c = NULL;
    OK(f.ctx, oneshot_model_child(f.ctx, "darts-v2", "cifar_cell", d, &mo, &c));
    cr_expect_str_eq(oneshot_model_space(c), "cifar_cell");
    oneshot_train_opts to;
    oneshot_train_opts_default(&to, ONESHOT_RETRAIN); /* auxiliary head and drop-path on */
    oneshot_run *r = NULL;
    OK(f.ctx, oneshot_run_new(f.ctx, c, d, NULL, &to, &r));
    oneshot_progress p;
    OK(f.ctx, oneshot_run_progress(r, &p));
    cr_expect_eq(p.epochs, 600);
    oneshot_step_info si;
    OK(f.ctx, oneshot_run_step(r, &si));
    cr_expect(isfinite(si.loss), "loss %g", si.loss);
    oneshot_run_free(r);
    oneshot_model_free(c);
    oneshot_data_free(d);
    teardown(&f);
}

typedef struct {
    int steps, stop_at;
} stop_state;

static void count_step(void *user, const oneshot_step_info *s)
{
    (void)s;
    ((stop_state *)user)->steps++;
}

static int stop_now(void *user)
{
    stop_state *s = user;
    return s->steps >= s->stop_at;
}

Test(api, stop_callback_stops_and_the_epoch_continues, .timeout = 300)
{
    fx f;
    setup(&f);
    oneshot_data *d = open_data(&f, f.data, 1);
    oneshot_model *m = supernet(&f, "nb201", d);
    oneshot_run *r = new_search(&f, m, d, "darts", 1);
    stop_state s = {.stop_at = 2};
    oneshot_callbacks cb = {.on_step = count_step, .should_stop = stop_now, .user = &s};
    EXPECT_STATUS(f.ctx, ONESHOT_ESTOPPED, oneshot_run_epoch(r, &cb, NULL));
    oneshot_progress p;
    OK(f.ctx, oneshot_run_progress(r, &p));
    cr_expect(p.epoch == 0 && p.step == 2, "stopped at %d/%d", p.epoch, p.step);
    s.stop_at = 100;
    oneshot_epoch_info ei;
    OK(f.ctx, oneshot_run_epoch(r, &cb, &ei));
    cr_expect_eq(s.steps, 4);
    cr_expect_eq(oneshot_run_finished(r), 1);
    oneshot_run_free(r);
    oneshot_model_free(m);
    oneshot_data_free(d);
    teardown(&f);
}

Test(api, listings)
{
    cr_expect_eq(oneshot_space_count(), os_space_count()); /* every registered space */
    int has_nb201 = 0, has_enas = 0;
    for (int i = 0; i < oneshot_space_count(); i++) {
        has_nb201 |= !strcmp(oneshot_space_name(i), "nb201");
        has_enas += !strcmp(oneshot_space_name(i), "enas_macro") + !strcmp(oneshot_space_name(i), "enas_micro");
        cr_expect(oneshot_space_summary(i) != NULL);
    }
    cr_expect(has_nb201);
    cr_expect_eq(has_enas, 2);
    cr_expect_null(oneshot_space_name(99));
    cr_expect(strstr(oneshot_error(NULL), "99"), "%s", oneshot_error(NULL));
    cr_expect_eq(oneshot_strategy_count(), os_strategy_count());
    cr_expect_str_eq(oneshot_strategy_name(0), "darts");
    cr_expect_null(oneshot_strategy_name(-1));
    cr_expect_null(oneshot_strategy_summary(oneshot_strategy_count()));
    int n = 0;
    oneshot_option_info info;
    cr_expect_eq(oneshot_strategy_option("gdas", 0, NULL, &n), ONESHOT_OK);
    cr_expect_gt(n, 3);
    int found = 0;
    for (int i = 0; i < n; i++) {
        cr_expect_eq(oneshot_strategy_option("gdas", i, &info, NULL), ONESHOT_OK);
        if (!strcmp(info.name, "tau-min"))
            found = info.lo > 0 && info.def == 0.1 && !strcmp(info.type, "float");
    }
    cr_expect(found, "gdas tau-min");
    EXPECT_STATUS(NULL, ONESHOT_EINVAL, oneshot_strategy_option("nosuch", 0, &info, &n), "nosuch", "darts", "gdas");
    EXPECT_STATUS(NULL, ONESHOT_EINVAL, oneshot_strategy_option("darts", 99, &info, &n), "99");
    cr_expect_str_eq(oneshot_status_name(ONESHOT_ENAN), "ONESHOT_ENAN");
    cr_expect_str_eq(oneshot_status_name(42), "ONESHOT_?");
}

/* ---- error paths ---------------------------------------------------------------------------- */
Test(api, null_context_and_handles)
{
    oneshot_data *d = (oneshot_data *)1;
    oneshot_model *m = (oneshot_model *)1;
    oneshot_run *r = (oneshot_run *)1;
    char *json = (char *)1;
    oneshot_data_opts dopt;
    oneshot_data_opts_default(&dopt);
    EXPECT_STATUS(NULL, ONESHOT_EINVAL, oneshot_data_open(NULL, NULL, &dopt, &d), "NULL context");
    cr_expect_null(d, "outputs are cleared on failure");
    EXPECT_STATUS(NULL, ONESHOT_EINVAL, oneshot_model_supernet(NULL, "nb201", NULL, NULL, &m), "NULL context");
    cr_expect_null(m);
    EXPECT_STATUS(NULL, ONESHOT_EINVAL, oneshot_model_child(NULL, "darts-v2", NULL, NULL, NULL, &m), "NULL context");
    EXPECT_STATUS(NULL, ONESHOT_EINVAL, oneshot_run_new(NULL, NULL, NULL, "darts", NULL, &r), "NULL context");
    cr_expect_null(r);
    EXPECT_STATUS(NULL, ONESHOT_EINVAL, oneshot_set_log(NULL, NULL, NULL), "NULL context");
    EXPECT_STATUS(NULL, ONESHOT_EINVAL, oneshot_set_threads(NULL, 1), "NULL context");
    oneshot_step_info si;
    oneshot_epoch_info ei;
    oneshot_progress p;
    oneshot_data_info di;
    double l, a;
    EXPECT_STATUS(NULL, ONESHOT_EINVAL, oneshot_run_step(NULL, &si), "oneshot_run_step", "NULL run");
    EXPECT_STATUS(NULL, ONESHOT_EINVAL, oneshot_run_epoch(NULL, NULL, &ei), "oneshot_run_epoch", "NULL run");
    EXPECT_STATUS(NULL, ONESHOT_EINVAL, oneshot_run_progress(NULL, &p), "NULL run");
    EXPECT_STATUS(NULL, ONESHOT_EINVAL, oneshot_run_evaluate(NULL, &l, &a), "NULL run");
    cr_expect(isnan(l) && isnan(a));
    EXPECT_STATUS(NULL, ONESHOT_EINVAL, oneshot_run_derive(NULL, &json), "NULL run");
    cr_expect_null(json);
    EXPECT_STATUS(NULL, ONESHOT_EINVAL, oneshot_run_save(NULL, "x"), "oneshot_run_save", "NULL run");
    EXPECT_STATUS(NULL, ONESHOT_EINVAL, oneshot_run_load(NULL, "x"), "oneshot_run_load", "NULL run");
    EXPECT_STATUS(NULL, ONESHOT_EINVAL, oneshot_data_get_info(NULL, &di), "NULL data");
    cr_expect_eq(oneshot_run_epoch_index(NULL), -1);
    cr_expect_eq(oneshot_run_finished(NULL), -1);
    cr_expect_eq(oneshot_model_params(NULL), -1);
    cr_expect_eq(oneshot_model_arch_params(NULL), -1);
    cr_expect_eq(oneshot_model_is_supernet(NULL), -1);
    cr_expect_null(oneshot_model_space(NULL));
    oneshot_run_free(NULL);
    oneshot_model_free(NULL);
    oneshot_data_free(NULL);
    oneshot_ctx_free(NULL);
    oneshot_free(NULL);

    fx f;
    setup(&f);
    EXPECT_STATUS(f.ctx, ONESHOT_EINVAL, oneshot_data_open(f.ctx, f.data, NULL, NULL), "NULL output");
    EXPECT_STATUS(f.ctx, ONESHOT_EINVAL, oneshot_set_threads(f.ctx, -3), "-3 threads");
    EXPECT_STATUS(f.ctx, ONESHOT_EINVAL, oneshot_model_supernet(f.ctx, "nb201", NULL, NULL, &m), "NULL data");
    EXPECT_STATUS(f.ctx, ONESHOT_EINVAL, oneshot_model_child(f.ctx, NULL, NULL, NULL, NULL, &m), "NULL data");
    oneshot_data *dd = open_data(&f, f.data, 1);
    EXPECT_STATUS(f.ctx, ONESHOT_EINVAL, oneshot_model_child(f.ctx, NULL, NULL, dd, NULL, &m), "no architecture");
    EXPECT_STATUS(f.ctx, ONESHOT_EINVAL, oneshot_model_supernet(f.ctx, "nb201", dd, NULL, NULL), "NULL output");
    EXPECT_STATUS(f.ctx, ONESHOT_EINVAL, oneshot_run_new(f.ctx, NULL, dd, "darts", NULL, &r), "NULL model");
    oneshot_model *mm = supernet(&f, "nb201", dd);
    EXPECT_STATUS(f.ctx, ONESHOT_EINVAL, oneshot_run_new(f.ctx, mm, NULL, "darts", NULL, &r), "NULL data");
    oneshot_run *rr = new_search(&f, mm, dd, "darts", 1);
    EXPECT_STATUS(f.ctx, ONESHOT_EINVAL, oneshot_run_derive(rr, NULL), "NULL output");
    EXPECT_STATUS(f.ctx, ONESHOT_EINVAL, oneshot_run_progress(rr, NULL), "NULL output");
    EXPECT_STATUS(f.ctx, ONESHOT_EINVAL, oneshot_run_save(rr, NULL), "no path");
    EXPECT_STATUS(f.ctx, ONESHOT_EINVAL, oneshot_run_load(rr, ""), "no path");
    EXPECT_STATUS(f.ctx, ONESHOT_EINVAL, oneshot_data_get_info(dd, NULL), "NULL output");
    oneshot_run_free(rr);
    oneshot_model_free(mm);
    oneshot_data_free(dd);
    teardown(&f);
}

Test(api, unknown_space_and_strategy, .timeout = 120)
{
    fx f;
    setup(&f);
    oneshot_data *d = open_data(&f, f.data, 1);
    oneshot_model *m = NULL;
    EXPECT_STATUS(f.ctx, ONESHOT_EINVAL, oneshot_model_supernet(f.ctx, "nosuch", d, NULL, &m),
                  "unknown space 'nosuch'", "cifar_cell", "nb201");
    EXPECT_STATUS(f.ctx, ONESHOT_EINVAL, oneshot_model_supernet(f.ctx, NULL, d, NULL, &m), "unknown space");
    EXPECT_STATUS(f.ctx, ONESHOT_EINVAL, oneshot_model_child(f.ctx, "darts-v2", "nosuch", d, NULL, &m),
                  "unknown space 'nosuch'");
    oneshot_model_opts mo = small(1);
    mo.channels = -4;
    EXPECT_STATUS(f.ctx, ONESHOT_EINVAL, oneshot_model_supernet(f.ctx, "nb201", d, &mo, &m), "channels -4");
    mo = small(2); /* cifar_cell needs 3 cells: the space says so */
    EXPECT_STATUS(f.ctx, ONESHOT_EINVAL, oneshot_model_supernet(f.ctx, "cifar_cell", d, &mo, &m), "cells",
                  "at least 3");
    cr_expect_null(m);
    m = supernet(&f, "nb201", d);
    oneshot_run *r = NULL;
    EXPECT_STATUS(f.ctx, ONESHOT_EINVAL, oneshot_run_new(f.ctx, m, d, "nosuch", NULL, &r),
                  "unknown strategy 'nosuch'", "darts", "gdas");
    cr_expect_null(r);
    oneshot_model_free(m);
    oneshot_data_free(d);
    teardown(&f);
}

Test(api, strategy_and_train_options, .timeout = 120)
{
    fx f;
    setup(&f);
    oneshot_data *d = open_data(&f, f.data, 1);
    oneshot_model *m = supernet(&f, "nb201", d);
    oneshot_run *r = NULL;
    oneshot_train_opts o = search_opts(1);
    const char *const bad_range[] = {"tau-min", "-1", NULL};
    o.strategy_options = bad_range;
    EXPECT_STATUS(f.ctx, ONESHOT_EINVAL, oneshot_run_new(f.ctx, m, d, "gdas", &o, &r), "gdas", "tau-min", "-1",
                  "out of range");
    const char *const unknown[] = {"arch-lr", "1e-3", "tau", "2", NULL};
    o.strategy_options = unknown;
    EXPECT_STATUS(f.ctx, ONESHOT_EINVAL, oneshot_run_new(f.ctx, m, d, "gdas", &o, &r), "no option 'tau'",
                  "tau-min");
    const char *const not_number[] = {"arch-lr", "fast", NULL};
    o.strategy_options = not_number;
    EXPECT_STATUS(f.ctx, ONESHOT_EINVAL, oneshot_run_new(f.ctx, m, d, "darts", &o, &r), "arch-lr", "fast");
    const char *const no_value[] = {"unrolled", NULL};
    o.strategy_options = no_value;
    EXPECT_STATUS(f.ctx, ONESHOT_EINVAL, oneshot_run_new(f.ctx, m, d, "darts", &o, &r), "'unrolled' has no value");
    const char *const bad_bool[] = {"unrolled", "2", NULL};
    o.strategy_options = bad_bool;
    EXPECT_STATUS(f.ctx, ONESHOT_EINVAL, oneshot_run_new(f.ctx, m, d, "darts", &o, &r), "unrolled", "1 or 0");
    o = search_opts(1);
    o.lr = -1;
    EXPECT_STATUS(f.ctx, ONESHOT_EINVAL, oneshot_run_new(f.ctx, m, d, "darts", &o, &r), "lr -1");
    o = search_opts(1);
    o.momentum = 1.5f;
    EXPECT_STATUS(f.ctx, ONESHOT_EINVAL, oneshot_run_new(f.ctx, m, d, "darts", &o, &r), "momentum 1.5");
    o = search_opts(-2);
    EXPECT_STATUS(f.ctx, ONESHOT_EINVAL, oneshot_run_new(f.ctx, m, d, "darts", &o, &r), "epochs -2");
    o = search_opts(1);
    o.drop_path = NAN;
    EXPECT_STATUS(f.ctx, ONESHOT_EINVAL, oneshot_run_new(f.ctx, m, d, "darts", &o, &r), "drop_path");
    o = search_opts(1);
    o.max_skip = -7;
    EXPECT_STATUS(f.ctx, ONESHOT_EINVAL, oneshot_run_new(f.ctx, m, d, "darts", &o, &r), "max_skip -7");
    cr_expect_null(r);
    /* the model is still free to use */
    r = new_search(&f, m, d, "gdas", 1);
    oneshot_run_free(r);
    oneshot_model_free(m);
    oneshot_data_free(d);
    teardown(&f);
}

Test(api, data_errors, .timeout = 120)
{
    fx f;
    setup(&f);
    char missing[400];
    snprintf(missing, sizeof missing, "%s/nosuch", f.dir);
    oneshot_data *d = (oneshot_data *)1;
    oneshot_data_opts o;
    oneshot_data_opts_default(&o);
    o.batch = 8;
    EXPECT_STATUS(f.ctx, ONESHOT_EIO, oneshot_data_open(f.ctx, missing, &o, &d), missing);
    cr_expect_null(d);
    EXPECT_STATUS(f.ctx, ONESHOT_EIO, oneshot_data_open(f.ctx, f.dir, &o, &d), "no dataset found");
    o.format = "cifar10";
    EXPECT_STATUS(f.ctx, ONESHOT_EIO, oneshot_data_open(f.ctx, f.data, &o, &d), "data_batch_1.bin");
    o.format = "mnist";
    EXPECT_STATUS(f.ctx, ONESHOT_EINVAL, oneshot_data_open(f.ctx, f.data, &o, &d), "unknown format 'mnist'");
    oneshot_data_opts_default(&o);
    o.batch = 0;
    EXPECT_STATUS(f.ctx, ONESHOT_EINVAL, oneshot_data_open(f.ctx, f.data, &o, &d), "batch 0");
    o.batch = 40; /* 32 images in each half */
    EXPECT_STATUS(f.ctx, ONESHOT_EIO, oneshot_data_open(f.ctx, f.data, &o, &d), "fewer than one batch of 40");
    o.batch = 8;
    o.train_portion = 1.5f;
    EXPECT_STATUS(f.ctx, ONESHOT_EINVAL, oneshot_data_open(f.ctx, f.data, &o, &d), "train_portion 1.5");
    o.train_portion = 0.5f;
    o.crop_pad = -1;
    EXPECT_STATUS(f.ctx, ONESHOT_EINVAL, oneshot_data_open(f.ctx, f.data, &o, &d), "crop_pad -1");
    o.crop_pad = 0;
    o.subset = -1;
    EXPECT_STATUS(f.ctx, ONESHOT_EINVAL, oneshot_data_open(f.ctx, f.data, &o, &d), "subset -1");
    o.subset = 0;
    o.flip = 3;
    EXPECT_STATUS(f.ctx, ONESHOT_EINVAL, oneshot_data_open(f.ctx, f.data, &o, &d), "flip 3");
    /* a truncated file */
    char img[500];
    snprintf(img, sizeof img, "%s/train-images-idx3-ubyte", f.data);
    cr_assert_eq(truncate(img, 100), 0);
    oneshot_data_opts_default(&o);
    o.batch = 8;
    EXPECT_STATUS(f.ctx, ONESHOT_EIO, oneshot_data_open(f.ctx, f.data, &o, &d), "train-images-idx3-ubyte");
    cr_expect_null(d);
    teardown(&f);
}

Test(api, architecture_errors, .timeout = 120)
{
    fx f;
    setup(&f);
    oneshot_data *d = open_data(&f, f.data, 0);
    oneshot_model_opts mo = small(3);
    oneshot_model *m = (oneshot_model *)1;
    const char *cut = "{\"space\": \"nb201\", \"arch\": {";
    const char *extra = "{\"cell/0_1\": \"conv_3x3\", \"cell/9_9\": \"none\"}";
    const char *bad_op = "{\"space\": \"nb201\", \"arch\": {\"cell/0_1\": \"conv_9x9\"}}";
    EXPECT_STATUS(f.ctx, ONESHOT_EINVAL, oneshot_model_child(f.ctx, cut, NULL, d, &mo, &m), "malformed JSON");
    cr_expect_null(m);
    EXPECT_STATUS(f.ctx, ONESHOT_EINVAL, oneshot_model_child(f.ctx, extra, "nb201", d, &mo, &m),
                  "unknown key 'cell/9_9'");
    EXPECT_STATUS(f.ctx, ONESHOT_EINVAL, oneshot_model_child(f.ctx, bad_op, NULL, d, &mo, &m), "conv_9x9");
    /* an nb201 architecture where cifar_cell is expected */
    const char *nb = "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+"
                     "|skip_connect~0|nor_conv_3x3~1|skip_connect~2|";
    EXPECT_STATUS(f.ctx, ONESHOT_EINVAL, oneshot_model_child(f.ctx, nb, "cifar_cell", d, &mo, &m), "nb201",
                  "cifar_cell");
    EXPECT_STATUS(f.ctx, ONESHOT_EINVAL, oneshot_model_child(f.ctx, "darts-v2", "nb201", d, &mo, &m), "nb201");
    EXPECT_STATUS(f.ctx, ONESHOT_EINVAL, oneshot_model_child(f.ctx, "darts-v9", NULL, d, &mo, &m), "darts-v9");
    char missing[400];
    snprintf(missing, sizeof missing, "%s/nosuch/arch.json", f.dir);
    EXPECT_STATUS(f.ctx, ONESHOT_EIO, oneshot_model_child(f.ctx, missing, NULL, d, &mo, &m), missing);
    /* a file that is not JSON */
    char bad[400];
    snprintf(bad, sizeof bad, "%s/arch.json", f.dir);
    du_write(f.dir, "arch.json", "{ nope", 6, 0);
    EXPECT_STATUS(f.ctx, ONESHOT_EINVAL, oneshot_model_child(f.ctx, bad, NULL, d, &mo, &m), "arch.json");
    /* the architecture fits, the network options do not */
    mo.cells = 2;
    EXPECT_STATUS(f.ctx, ONESHOT_EINVAL, oneshot_model_child(f.ctx, "darts-v1", NULL, d, &mo, &m), "at least 3");
    cr_expect_null(m);
    /* the string form builds */
    mo = small(1);
    OK(f.ctx, oneshot_model_child(f.ctx, nb, "nb201", d, &mo, &m));
    oneshot_model_free(m);
    oneshot_data_free(d);
    teardown(&f);
}

Test(api, run_kind_and_data_mismatch, .timeout = 120)
{
    fx f;
    setup(&f);
    make_data(f.dir, "data12", 12, 0);
    char d12path[400];
    snprintf(d12path, sizeof d12path, "%s/data12", f.dir);
    oneshot_data *split = open_data(&f, f.data, 1), *whole = open_data(&f, f.data, 0);
    oneshot_data *d12 = open_data(&f, d12path, 1);
    oneshot_model *sup = supernet(&f, "nb201", split), *child = NULL;
    oneshot_model_opts mo = small(1);
    OK(f.ctx, oneshot_model_child(f.ctx, "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|"
                                         "nor_conv_3x3~1|skip_connect~2|", NULL, whole, &mo, &child));
    oneshot_run *r = (oneshot_run *)1;
    EXPECT_STATUS(f.ctx, ONESHOT_EINVAL, oneshot_run_new(f.ctx, child, whole, "darts", NULL, &r), "child",
                  "strategy NULL");
    cr_expect_null(r);
    EXPECT_STATUS(f.ctx, ONESHOT_EINVAL, oneshot_run_new(f.ctx, sup, split, NULL, NULL, &r), "supernet",
                  "strategy");
    EXPECT_STATUS(f.ctx, ONESHOT_EINVAL, oneshot_run_new(f.ctx, sup, whole, "darts", NULL, &r), "split = 1");
    EXPECT_STATUS(f.ctx, ONESHOT_EINVAL, oneshot_run_new(f.ctx, sup, d12, "darts", NULL, &r), "1x8x8", "1x12x12");
    oneshot_train_opts to;
    oneshot_train_opts_default(&to, ONESHOT_RETRAIN);
    const char *const opt[] = {"arch-lr", "1", NULL};
    to.strategy_options = opt;
    EXPECT_STATUS(f.ctx, ONESHOT_EINVAL, oneshot_run_new(f.ctx, child, whole, NULL, &to, &r), "arch-lr", "child");
    /* one run per model at a time */
    oneshot_run *a = new_search(&f, sup, split, "darts", 1);
    EXPECT_STATUS(f.ctx, ONESHOT_EINVAL, oneshot_run_new(f.ctx, sup, split, "gdas", NULL, &r), "already used");
    oneshot_run_free(a);
    a = new_search(&f, sup, split, "gdas", 1);
    oneshot_run_free(a);
    /* handles of another context */
    oneshot_ctx *other = oneshot_ctx_new();
    oneshot_model *m2 = (oneshot_model *)1;
    EXPECT_STATUS(other, ONESHOT_EINVAL, oneshot_model_supernet(other, "nb201", split, NULL, &m2), "another context");
    EXPECT_STATUS(other, ONESHOT_EINVAL, oneshot_run_new(other, sup, split, "darts", NULL, &r), "another context");
    cr_expect(strstr(oneshot_error(f.ctx), "already used"), "errors stay in their context: %s", oneshot_error(f.ctx));
    oneshot_ctx_free(other);
    /* a cifar_cell child with its auxiliary head left out cannot weigh that head */
    oneshot_model_opts no_aux = small(3);
    no_aux.auxiliary = 0;
    oneshot_model *dc = NULL;
    OK(f.ctx, oneshot_model_child(f.ctx, "darts-v1", NULL, whole, &no_aux, &dc));
    EXPECT_STATUS(f.ctx, ONESHOT_EINVAL, oneshot_run_new(f.ctx, dc, whole, NULL, NULL, &r), "auxiliary");
    to.strategy_options = NULL;
    to.auxiliary_weight = 0;
    OK(f.ctx, oneshot_run_new(f.ctx, dc, whole, NULL, &to, &r));
    oneshot_run_free(r);
    oneshot_model_free(dc);
    oneshot_model_free(child);
    oneshot_model_free(sup);
    oneshot_data_free(split);
    oneshot_data_free(whole);
    oneshot_data_free(d12);
    teardown(&f);
}

Test(api, checkpoint_errors, .timeout = 300)
{
    fx f;
    setup(&f);
    char ck[400], missing[400], junk[400];
    snprintf(ck, sizeof ck, "%s/nb.safetensors", f.dir);
    snprintf(missing, sizeof missing, "%s/nosuch.safetensors", f.dir);
    snprintf(junk, sizeof junk, "%s/junk.safetensors", f.dir);
    du_write(f.dir, "junk.safetensors", "not a checkpoint at all", 23, 0);
    oneshot_data *d = open_data(&f, f.data, 1), *whole = open_data(&f, f.data, 0);
    oneshot_model *nb = supernet(&f, "nb201", d);
    oneshot_run *r = new_search(&f, nb, d, "darts", 1);
    OK(f.ctx, oneshot_run_step(r, NULL));
    OK(f.ctx, oneshot_run_save(r, ck));
    char dir_as_file[400];
    snprintf(dir_as_file, sizeof dir_as_file, "%s/nosuch/ck.safetensors", f.dir);
    EXPECT_STATUS(f.ctx, ONESHOT_EIO, oneshot_run_save(r, dir_as_file), "nosuch");
    EXPECT_STATUS(f.ctx, ONESHOT_EIO, oneshot_run_load(r, missing), "nosuch.safetensors");
    EXPECT_STATUS(f.ctx, ONESHOT_EIO, oneshot_run_load(r, junk), "junk.safetensors");
    oneshot_run_free(r);

    /* another space */
    oneshot_model *cc = supernet(&f, "cifar_cell", d);
    r = new_search(&f, cc, d, "darts", 1);
    EXPECT_STATUS(f.ctx, ONESHOT_EINVAL, oneshot_run_load(r, ck), "space 'nb201'", "cifar_cell");
    oneshot_run_free(r);
    oneshot_model_free(cc);
    /* another strategy */
    r = new_search(&f, nb, d, "gdas", 1);
    EXPECT_STATUS(f.ctx, ONESHOT_EINVAL, oneshot_run_load(r, ck), "strategy 'darts'", "'gdas'");
    oneshot_run_free(r);
    /* other cells */
    oneshot_model_opts mo = small(2);
    oneshot_model *nb2 = NULL;
    OK(f.ctx, oneshot_model_supernet(f.ctx, "nb201", d, &mo, &nb2));
    r = new_search(&f, nb2, d, "darts", 1);
    EXPECT_STATUS(f.ctx, ONESHOT_EINVAL, oneshot_run_load(r, ck), "cells");
    /* a refused load leaves the run usable */
    OK(f.ctx, oneshot_run_step(r, NULL));
    oneshot_run_free(r);
    oneshot_model_free(nb2);
    /* a search's checkpoint into a child's training */
    oneshot_model *child = NULL;
    mo = small(1);
    OK(f.ctx, oneshot_model_child(f.ctx, "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|"
                                         "nor_conv_3x3~1|skip_connect~2|", NULL, whole, &mo, &child));
    oneshot_train_opts to;
    oneshot_train_opts_default(&to, ONESHOT_RETRAIN);
    OK(f.ctx, oneshot_run_new(f.ctx, child, whole, NULL, &to, &r));
    EXPECT_STATUS(f.ctx, ONESHOT_EINVAL, oneshot_run_load(r, ck), "search", "child");
    oneshot_run_free(r);
    oneshot_model_free(child);
    oneshot_model_free(nb);
    oneshot_data_free(d);
    oneshot_data_free(whole);
    teardown(&f);
}

Test(api, nan_loss, .timeout = 300)
{
    fx f;
    setup(&f);
    oneshot_data *d = open_data(&f, f.data, 1);
    oneshot_model *m = supernet(&f, "nb201", d);
    oneshot_train_opts o = search_opts(10);
    o.lr = 1e38f; /* without clipping the weights blow up within a few steps */
    o.grad_clip = 0;
    oneshot_run *r = NULL;
    OK(f.ctx, oneshot_run_new(f.ctx, m, d, "darts", &o, &r));
    int st = ONESHOT_OK, steps = 0;
    while (st == ONESHOT_OK && steps < 40) {
        st = oneshot_run_step(r, NULL);
        steps++;
    }
    EXPECT_STATUS(f.ctx, ONESHOT_ENAN, st, "loss is");
    oneshot_progress p;
    OK(f.ctx, oneshot_run_progress(r, &p));
    cr_expect_eq(p.global_step, steps - 1, "the failed step is not counted");
    /* the same step fails again: the run does not move on by itself */
    EXPECT_STATUS(f.ctx, ONESHOT_ENAN, oneshot_run_epoch(r, NULL, NULL), "loss is");
    /* the alphas went with it: nothing to derive */
    char *json = (char *)1;
    st = oneshot_run_derive(r, &json);
    cr_expect(st == ONESHOT_ENAN || st == ONESHOT_OK, "derive after NaN: %s: %s", oneshot_status_name(st),
              oneshot_error(f.ctx));
    if (st == ONESHOT_ENAN)
        cr_expect(strstr(oneshot_error(f.ctx), "diverged"), "%s", oneshot_error(f.ctx));
    oneshot_free(st ? NULL : json);
    double loss, acc;
    st = oneshot_run_evaluate(r, &loss, &acc);
    cr_expect(st == ONESHOT_ENAN || st == ONESHOT_OK, "evaluate after NaN: %s: %s", oneshot_status_name(st),
              oneshot_error(f.ctx));
    if (st == ONESHOT_ENAN)
        cr_expect(strstr(oneshot_error(f.ctx), "diverged"), "%s", oneshot_error(f.ctx));
    oneshot_run_free(r);
    oneshot_model_free(m);
    oneshot_data_free(d);
    teardown(&f);
}

/* ---- internal errors ----------------------------------------------------------------------- */
static void fatal_in_callback(void *user, const oneshot_step_info *s)
{
    (void)user;
    if (s->step == 1)
        os_fatal("test: a callback misused the engine at step %d", s->step + 1);
}

static void test_handler(const char *msg)
{
    (void)msg;
    abort(); /* never called: the library catches its calls' fatal errors */
}

Test(api, internal_fatal_is_caught, .timeout = 300)
{
    fx f;
    setup(&f);
    os_set_fatal_handler(test_handler);
    char ck[400];
    snprintf(ck, sizeof ck, "%s/ck.safetensors", f.dir);
    oneshot_data *d = open_data(&f, f.data, 1);
    oneshot_model *m = supernet(&f, "nb201", d);
    oneshot_run *r = new_search(&f, m, d, "gdas", 1);
    OK(f.ctx, oneshot_run_save(r, ck));
    oneshot_callbacks cb = {.on_step = fatal_in_callback};
    EXPECT_STATUS(f.ctx, ONESHOT_EINTERNAL, oneshot_run_epoch(r, &cb, NULL), "internal error",
                  "a callback misused the engine at step 2");
    cr_expect(os_set_fatal_handler(test_handler) == test_handler, "the caller's fatal handler is back");
    /* the run refuses work until a checkpoint is loaded */
    EXPECT_STATUS(f.ctx, ONESHOT_EINVAL, oneshot_run_step(r, NULL), "interrupted", "oneshot_run_load");
    EXPECT_STATUS(f.ctx, ONESHOT_EINVAL, oneshot_run_save(r, ck), "interrupted");
    OK(f.ctx, oneshot_run_load(r, ck));
    oneshot_epoch_info ei;
    OK(f.ctx, oneshot_run_epoch(r, NULL, &ei));
    cr_expect(isfinite(ei.train_loss));
    oneshot_run_free(r);
    oneshot_model_free(m);
    oneshot_data_free(d);
    cr_expect(os_set_fatal_handler(NULL) == test_handler);
    teardown(&f);
}

Test(api, constant_images_fail_without_exiting, .timeout = 120)
{
    /* every pixel 0: the normalisation's standard deviation is 0, which the
     * loader rejects as a misuse (os_fatal) — the library returns it */
    fx f;
    setup(&f);
    make_data(f.dir, "flat", 8, 1);
    char p[400];
    snprintf(p, sizeof p, "%s/flat", f.dir);
    oneshot_data_opts o;
    oneshot_data_opts_default(&o);
    o.batch = 8;
    oneshot_data *d = NULL;
    int st = oneshot_data_open(f.ctx, p, &o, &d);
    if (st == ONESHOT_OK) { /* the library may learn to normalise such data */
        oneshot_data_free(d);
    } else {
        cr_expect(st == ONESHOT_EINTERNAL || st == ONESHOT_EIO, "%s", oneshot_status_name(st));
        cr_expect(strstr(oneshot_error(f.ctx), "constant"), "%s", oneshot_error(f.ctx));
        cr_expect_null(d);
    }
    /* the context still works */
    d = open_data(&f, f.data, 1);
    oneshot_data_free(d);
    teardown(&f);
}

/* ---- logging, printing, threads ------------------------------------------------------------ */
typedef struct {
    int lines, data, network, epoch;
} log_count;

static void count_lines(void *user, const char *line)
{
    log_count *c = user;
    c->lines++;
    c->data += !strncmp(line, "data: ", 6);
    c->network += !strncmp(line, "network: ", 9);
    c->epoch += !strncmp(line, "epoch 1/1", 9);
}

static long file_size(const char *p)
{
    struct stat s;
    return stat(p, &s) ? -1 : (long)s.st_size;
}

Test(api, prints_nothing_and_logs_through_the_callback, .timeout = 300)
{
    fx f;
    setup(&f);
    char out[400];
    snprintf(out, sizeof out, "%s/stdio.txt", f.dir);
    fflush(stdout);
    fflush(stderr);
    int fd = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0644), o1 = dup(1), o2 = dup(2);
    cr_assert(fd >= 0 && o1 >= 0 && o2 >= 0);
    dup2(fd, 1);
    dup2(fd, 2);

    /* silent without a callback: happy and failing calls */
    oneshot_data *d = open_data(&f, f.data, 1), *bad = NULL;
    oneshot_data_open(f.ctx, "/nonexistent", NULL, &bad);
    oneshot_model *m = supernet(&f, "nb201", d);
    oneshot_run *r = new_search(&f, m, d, "darts", 1);
    oneshot_run_epoch(r, NULL, NULL);
    oneshot_callbacks cb = {.on_step = fatal_in_callback};
    oneshot_run_free(r);
    r = new_search(&f, m, d, "darts", 1);
    oneshot_run_epoch(r, &cb, NULL); /* internal error */
    oneshot_run_free(r);
    /* lines go to the callback */
    log_count c = {0};
    oneshot_set_log(f.ctx, count_lines, &c);
    oneshot_data *d2 = open_data(&f, f.data, 1);
    oneshot_model *m2 = supernet(&f, "nb201", d2);
    r = new_search(&f, m2, d2, "darts", 1);
    oneshot_run_epoch(r, NULL, NULL);
    oneshot_run_free(r);

    fflush(stdout);
    fflush(stderr);
    dup2(o1, 1);
    dup2(o2, 2);
    close(fd);
    close(o1);
    close(o2);
    cr_expect_eq(file_size(out), 0, "the library printed: %s", out);
    cr_expect(c.data == 1 && c.network == 1 && c.epoch == 1, "log lines: %d data, %d network, %d epoch", c.data,
              c.network, c.epoch);
    oneshot_model_free(m);
    oneshot_model_free(m2);
    oneshot_data_free(d);
    oneshot_data_free(d2);
    teardown(&f);
}

typedef struct {
    const char *data;
    int status;
    float loss;
    char err[256];
} thread_job;

static void *search_thread(void *arg)
{
    thread_job *j = arg;
    oneshot_ctx *c = oneshot_ctx_new();
    oneshot_set_threads(c, 1);
    oneshot_data_opts dopt;
    oneshot_data_opts_default(&dopt);
    dopt.batch = 8;
    oneshot_model_opts mo = small(1);
    oneshot_train_opts to = search_opts(1);
    oneshot_data *d = NULL;
    oneshot_model *m = NULL;
    oneshot_run *r = NULL;
    oneshot_step_info si = {0};
    int st = oneshot_data_open(c, j->data, &dopt, &d);
    if (!st)
        st = oneshot_model_supernet(c, "nb201", d, &mo, &m);
    if (!st)
        st = oneshot_run_new(c, m, d, "darts", &to, &r);
    for (int i = 0; i < 3 && !st; i++)
        st = oneshot_run_step(r, &si);
    j->status = st;
    j->loss = si.loss;
    snprintf(j->err, sizeof j->err, "%s", oneshot_error(c));
    oneshot_run_free(r);
    oneshot_model_free(m);
    oneshot_data_free(d);
    oneshot_ctx_free(c);
    return NULL;
}

Test(api, two_contexts_on_two_threads, .timeout = 300)
{
    fx f;
    setup(&f);
    thread_job j[2] = {{.data = f.data}, {.data = f.data}};
    pthread_t t[2];
    for (int i = 0; i < 2; i++)
        cr_assert_eq(pthread_create(&t[i], NULL, search_thread, &j[i]), 0);
    for (int i = 0; i < 2; i++)
        pthread_join(t[i], NULL);
    for (int i = 0; i < 2; i++)
        cr_expect_eq(j[i].status, ONESHOT_OK, "thread %d: %s", i, j[i].err);
    cr_expect(j[0].loss == j[1].loss, "same seeds, same losses: %.9g vs %.9g", j[0].loss, j[1].loss);
    teardown(&f);
}

Test(api, handles_keep_their_context_alive, .timeout = 120)
{
    fx f;
    setup(&f);
    oneshot_data *d = open_data(&f, f.data, 1);
    oneshot_model *m = supernet(&f, "nb201", d);
    oneshot_run *r = new_search(&f, m, d, "darts", 1);
    oneshot_ctx_free(f.ctx); /* the handles still hold it */
    oneshot_data_free(d);
    oneshot_model_free(m);
    oneshot_step_info si;
    cr_expect_eq(oneshot_run_step(r, &si), ONESHOT_OK);
    cr_expect_eq(oneshot_run_step(NULL, &si), ONESHOT_EINVAL);
    oneshot_run_free(r); /* frees the model, the data and the context */
    du_rmtree(f.dir);
}
