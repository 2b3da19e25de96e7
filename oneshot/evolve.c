/* oneshot/evolve.c — `oneshot evolve`: SPOS's evolutionary search (or random
 * search, --random N) on a trained single-path supernet (search/evolve.h).
 *
 * It opens the run as `eval` does (oneshot/trained.h: its config and
 * checkpoint give the same space, widths, data and split), rebuilds the
 * supernet and loads its weights. Each candidate path then gets its BN
 * statistics recalibrated on --bn-batches batches of the run's weight half
 * of the training set (the same batches for every candidate, augmented as
 * in training) and is validated on the run's architecture half (not
 * augmented; --val-batches). A run whose BN uses batch statistics
 * (--protocol nb201) keeps no statistics: nothing is recalibrated.
 *
 * Files, in --out (default: the run directory):
 *   evolution.jsonl         one line per evaluated candidate: index,
 *                           generation, origin, the child's NNI labels (and
 *                           arch_str / genotype), val_acc, val_loss, params,
 *                           madds, latency_ms when a table is given, seconds
 *   evolution-state.json    the search's whole state, replaced atomically
 *                           after every candidate: an interrupted search
 *                           (SIGINT, SIGTERM, --stop-after) resumes from it
 *                           when run again with the same flags
 *   arch.json               the best candidate's child, with its figures
 */
#include "oneshot/query.h"
#include "oneshot/run.h"
#include "oneshot/runfiles.h"
#include "oneshot/trained.h"
#include "search/evolve.h"
#include "search/trainer.h"
#include "tensor/arena.h"
#include "tensor/backend.h"
#include "tensor/clock.h"

#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t stop_requested;
static void on_signal(int sig) { stop_requested = sig; }

static void fmt_eta(double s, char *b, size_t n)
{
    long t = (long)s;
    if (t >= 3600)
        snprintf(b, n, "%ldh%02ldm", t / 3600, t / 60 % 60);
    else
        snprintf(b, n, "%ldm%02lds", t / 60, t % 60);
}

/* "250000", "0.25M", "40m", "1.5G", "12k": a count; "" = no limit (0) */
static int parse_count(const char *flag, const char *s, double *out)
{
    *out = 0;
    if (!s[0])
        return 0;
    char *end;
    double v = strtod(s, &end);
    double mul = 1;
    if (*end == 'k' || *end == 'K')
        mul = 1e3, end++;
    else if (*end == 'm' || *end == 'M')
        mul = 1e6, end++;
    else if (*end == 'g' || *end == 'G')
        mul = 1e9, end++;
    if (end == s || *end || !isfinite(v) || v <= 0)
        return os_error("--%s: '%s' is not a positive count (e.g. 250000, 0.25M, 40M)", flag, s);
    *out = v * mul;
    return 0;
}

typedef struct {
    os_config *c;          /* the command line */
    os_trained t;          /* the run: its config, data and supernet */
    char out[600], state_path[700], log_path[700], arch_path[700];
    os_path_space ps;
    os_evolution e;
    os_evolve_settings s;
    cJSON *settings;       /* what must match to resume */
    int tty;
} evo;

static int fail(int code)
{
    fprintf(stderr, "oneshot: %s\n", os_last_error());
    return code;
}

static int open_run(evo *v)
{
    os_config *c = v->c;
    if (os_trained_config(&v->t, c))
        return 1;
    os_config *rc = &v->t.rc;
    const os_strategy *st = os_strategy_find(rc->strategy);
    if (rc->cmd != OS_CMD_TRAIN || !st || !st->single_path) {
        char list[256] = "";
        size_t o = 0;
        for (int i = 0; i < os_strategy_count(); i++)
            if (os_strategy_at(i)->single_path)
                o += (size_t)snprintf(list + o, sizeof list - o, "%s%s", o ? ", " : "", os_strategy_at(i)->name);
        if (rc->cmd != OS_CMD_TRAIN)
            fprintf(stderr, "oneshot: %s is a retrain run: evolve searches a single-path supernet (a search run "
                            "trained with %s)\n", c->run, list);
        else
            fprintf(stderr, "oneshot: %s was searched with %s, not a single-path supernet: evolve needs one trained "
                            "with %s (each step one uniformly sampled path)\n", c->run, rc->strategy, list);
        return 2;
    }
    return os_trained_open(&v->t, c);
}

static int setup_search(evo *v)
{
    os_config *c = v->c;
    if (os_path_space_init(&v->ps, &v->t.net, v->t.sp, 1))
        return fail(1);
    if (c->latency_table[0] && os_path_latency_load(&v->ps, c->latency_table))
        return fail(2); /* a table of another space or input, or one that lacks candidates */
    if (os_evolution_init(&v->e, &v->ps, &v->s))
        return fail(2);
    os_path_cost lo;
    os_path_min_cost(&v->ps, &lo);
    printf("supernet: %s, %d choices; a path has at least %.0f parameters and %.0f multiply-adds per image%s\n",
           v->t.rc.space, v->t.net.n_choices, lo.params, lo.madds, v->ps.has_latency ? " (latency table loaded)" : "");
    return 0;
}

/* ---- state and log files --------------------------------------------------------------- */
static long file_size(const char *path)
{
    struct stat st;
    return stat(path, &st) ? 0 : (long)st.st_size;
}

static int save_state(evo *v)
{
    cJSON *j = cJSON_CreateObject();
    cJSON_AddItemToObject(j, "settings", cJSON_Duplicate(v->settings, 1));
    cJSON_AddNumberToObject(j, "log_bytes", (double)file_size(v->log_path));
    cJSON_AddItemToObject(j, "evolution", os_evolution_to_json(&v->e));
    char *txt = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    int rc = os_write_file_atomic(v->state_path, txt);
    free(txt);
    return rc;
}

/* a previous, unfinished search in --out: continue it. 0 fresh, 1 resumed,
 * -1 error (2 returned by the caller for other settings). */
static int try_resume(evo *v, int *usage)
{
    *usage = 0;
    if (access(v->state_path, F_OK))
        return 0;
    char *txt = NULL;
    FILE *f = fopen(v->state_path, "rb");
    if (f) {
        fseek(f, 0, SEEK_END);
        long n = ftell(f);
        fseek(f, 0, SEEK_SET);
        txt = malloc((size_t)(n > 0 ? n : 0) + 1);
        size_t got = fread(txt, 1, (size_t)(n > 0 ? n : 0), f);
        txt[got] = 0;
        fclose(f);
    }
    cJSON *j = txt ? cJSON_Parse(txt) : NULL;
    free(txt);
    const cJSON *ev = cJSON_GetObjectItemCaseSensitive(j, "evolution");
    const cJSON *st = cJSON_GetObjectItemCaseSensitive(j, "settings");
    const cJSON *lb = cJSON_GetObjectItemCaseSensitive(j, "log_bytes");
    if (!j || !ev || !st || !cJSON_IsNumber(lb)) {
        cJSON_Delete(j);
        return os_error("%s: unreadable evolution state (delete it to start over)", v->state_path);
    }
    if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(ev, "finished"))) {
        cJSON_Delete(j);
        return 0; /* a finished search: start a new one */
    }
    if (!cJSON_Compare(st, v->settings, 1)) {
        const cJSON *bad = NULL;
        for (const cJSON *it = v->settings->child; it && !bad; it = it->next) {
            const cJSON *t = cJSON_GetObjectItemCaseSensitive(st, it->string);
            if (!t || !cJSON_Compare(it, t, 1))
                bad = it;
        }
        char *want = bad ? cJSON_PrintUnformatted(cJSON_GetObjectItemCaseSensitive(st, bad->string)) : NULL;
        os_error("%s holds an unfinished search with other settings (%s %s there): run it again with the same "
                 "flags to continue it, or delete that file to start over", v->state_path,
                 bad ? bad->string : "?", want ? want : "?");
        free(want);
        cJSON_Delete(j);
        *usage = 1;
        return -1;
    }
    int rc = os_evolution_from_json(&v->e, ev);
    long bytes = (long)lb->valuedouble;
    cJSON_Delete(j);
    if (rc)
        return -1;
    if (file_size(v->log_path) < bytes)
        return os_error("%s is shorter than the state says (%ld bytes)", v->log_path, bytes);
    if (truncate(v->log_path, bytes))
        return os_error("%s: cannot truncate", v->log_path);
    return 1;
}

static int append_line(const char *path, const char *line)
{
    FILE *f = fopen(path, "ab");
    if (!f)
        return os_error("%s: cannot append", path);
    int bad = fputs(line, f) < 0 || fputc('\n', f) == EOF;
    bad |= fclose(f) != 0;
    return bad ? os_error("%s: write failed", path) : 0;
}

/* the child of a path, as NNI labels (+ the space's extras) into obj */
static int add_child(evo *v, const os_arch *path, cJSON *obj, os_arch *child_out)
{
    os_arch child;
    os_derive_opts o = {.max_skip = -1};
    if (v->t.sp->derive(path, &o, &child))
        return -1;
    cJSON_AddItemToObject(obj, "arch", os_arch_to_nni(&child));
    if (v->t.sp->describe)
        v->t.sp->describe(&child, obj);
    if (child_out)
        *child_out = child;
    else
        os_arch_free(&child);
    return 0;
}

static void add_costs(const os_evo_record *r, cJSON *o)
{
    cJSON_AddNumberToObject(o, "params", r->cost.params);
    cJSON_AddNumberToObject(o, "madds", r->cost.madds);
    if (r->cost.latency >= 0)
        cJSON_AddNumberToObject(o, "latency_ms", r->cost.latency);
}

static int log_candidate(evo *v, const os_evo_record *r, double secs)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "index", r->index);
    cJSON_AddNumberToObject(o, "generation", r->generation);
    cJSON_AddStringToObject(o, "origin", os_evo_origin_names[r->origin]);
    if (add_child(v, &r->path, o, NULL)) {
        cJSON_Delete(o);
        return -1;
    }
    cJSON_AddItemToObject(o, "val_acc", isfinite(r->acc) ? cJSON_CreateNumber(r->acc) : cJSON_CreateNull());
    cJSON_AddItemToObject(o, "val_loss", isfinite(r->loss) ? cJSON_CreateNumber(r->loss) : cJSON_CreateNull());
    add_costs(r, o);
    cJSON_AddNumberToObject(o, "seconds", secs);
    char *txt = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    int rc = append_line(v->log_path, txt);
    free(txt);
    return rc;
}

/* nb201: the NAS-Bench-201 entry of the answer (scoring only: the search
 * above never saw the table) */
static void print_benchmark(evo *v, const os_arch *child)
{
    if (strcmp(v->t.sp->name, "nb201"))
        return;
    os_bench_report(v->c->benchmark, v->t.rc.benchmark, v->t.rc.data, child);
}

static int write_best(evo *v)
{
    const os_evo_record *b = os_evolution_best(&v->e);
    if (!b)
        return os_error("no candidate was evaluated (no architecture under the limits was found)");
    os_arch child;
    cJSON *tmp = cJSON_CreateObject();
    int rc = add_child(v, &b->path, tmp, &child);
    cJSON_Delete(tmp);
    if (rc)
        return -1;
    char *txt = os_arch_json(v->t.sp, &child, NULL);
    cJSON *j = cJSON_Parse(txt);
    free(txt);
    cJSON *o = cJSON_AddObjectToObject(j, "evolution");
    cJSON_AddStringToObject(o, "method", v->s.random > 0 ? "random" : "evolution");
    cJSON_AddStringToObject(o, "run", v->c->run);
    cJSON_AddNumberToObject(o, "evaluations", v->e.n_done);
    cJSON_AddNumberToObject(o, "index", b->index);
    cJSON_AddNumberToObject(o, "generation", b->generation);
    cJSON_AddNumberToObject(o, "val_acc", b->acc);
    cJSON_AddNumberToObject(o, "val_loss", b->loss);
    add_costs(b, o);
    txt = cJSON_Print(j);
    cJSON_Delete(j);
    rc = os_write_text(v->arch_path, txt);
    free(txt);
    if (!rc) {
        cJSON *k = cJSON_CreateObject();
        if (v->t.sp->describe)
            v->t.sp->describe(&child, k);
        const cJSON *g = cJSON_GetObjectItem(k, "genotype"), *s = cJSON_GetObjectItem(k, "arch_str");
        char *flat = NULL;
        if (!cJSON_IsString(g) && !cJSON_IsString(s)) {
            cJSON *nni = os_arch_to_nni(&child);
            flat = cJSON_PrintUnformatted(nni);
            cJSON_Delete(nni);
        }
        printf("best of %d candidates: val acc %.2f%%, %.0f parameters, %.0f multiply-adds", v->e.n_done,
               100.0 * b->acc, b->cost.params, b->cost.madds);
        if (b->cost.latency >= 0)
            printf(", %.3f ms", b->cost.latency);
        printf(" (%s):\n  %s\n", v->arch_path,
               cJSON_IsString(g) ? g->valuestring : cJSON_IsString(s) ? s->valuestring : flat);
        free(flat);
        cJSON_Delete(k);
        print_benchmark(v, &child);
    }
    os_arch_free(&child);
    return rc;
}

/* ---- the loop ------------------------------------------------------------------------------ */
static void progress(evo *v, const os_evo_record *r, double per, int here)
{
    const os_evo_record *b = os_evolution_best(&v->e);
    long planned = os_evolution_planned(&v->e);
    char eta[32];
    fmt_eta(per * (double)(planned - v->e.n_done), eta, sizeof eta);
    int gens = v->s.random > 0 ? 1 : v->s.generations + 1;
    if (v->tty) {
        fprintf(stderr, "\rgeneration %d/%d  candidate %d/%d  evaluated %d/%ld  acc %.2f%%  best %.2f%%  %.1f s each  "
                        "ETA %s   ", r->generation + 1, gens, v->e.next, v->e.n_pending, v->e.n_done, planned,
                100 * r->acc, 100 * b->acc, per, eta);
    } else if (here % (v->c->log_every > 0 ? v->c->log_every : 10) == 0 || v->e.next == v->e.n_pending) {
        printf("generation %d/%d candidate %d/%d evaluated %d/%ld acc %.2f%% best %.2f%% %.1f s each ETA %s\n",
               r->generation + 1, gens, v->e.next, v->e.n_pending, v->e.n_done, planned, 100 * r->acc, 100 * b->acc,
               per, eta);
        fflush(stdout);
    }
}

static void generation_summary(evo *v, int gen)
{
    double best = -1, sum = 0;
    int n = 0;
    for (int i = 0; i < v->e.n_done; i++)
        if (v->e.done[i].generation == gen && isfinite(v->e.done[i].acc)) {
            best = fmax(best, v->e.done[i].acc);
            sum += v->e.done[i].acc;
            n++;
        }
    const os_evo_record *b = os_evolution_best(&v->e);
    if (v->tty)
        fprintf(stderr, "\n");
    printf("generation %d: %d candidates, val acc best %.2f%% mean %.2f%%; best so far %.2f%% (%.0f parameters, "
           "%.0f multiply-adds)\n", gen + 1, n, 100 * best, n ? 100 * sum / n : 0.0, 100 * b->acc, b->cost.params,
           b->cost.madds);
    fflush(stdout);
}

static int loop(evo *v)
{
    os_config *c = v->c;
    double spent = 0;
    int here = 0;
    const os_evo_record *r;
    while ((r = os_evolution_next(&v->e))) {
        if (stop_requested)
            break;
        double t0 = os_seconds(), loss, acc;
        os_path_evaluate(&v->t.net, &r->path, os_trained_batch, &v->t.recal, c->bn_batches, os_trained_batch,
                         &v->t.val, c->val_batches, &loss, &acc);
        int gen = r->generation;
        os_evolution_tell(&v->e, acc, loss);
        double secs = os_seconds() - t0;
        spent += secs;
        here++;
        if (log_candidate(v, &v->e.done[v->e.n_done - 1], secs) || save_state(v))
            return fail(1);
        progress(v, &v->e.done[v->e.n_done - 1], spent / here, here);
        if (v->e.next == v->e.n_pending)
            generation_summary(v, gen);
        if (c->stop_after > 0 && here >= c->stop_after)
            stop_requested = SIGINT;
    }
    if (stop_requested && !v->e.finished) {
        if (v->tty)
            fprintf(stderr, "\n");
        fprintf(stderr, "oneshot: interrupted after %d evaluations; the search is saved in %s. Continue it with the "
                        "same command (oneshot evolve --run %s ...)\n", v->e.n_done, v->state_path, c->run);
        return 130;
    }
    if (save_state(v) || write_best(v))
        return fail(1);
    return 0;
}

int os_cmd_evolve(os_config *c)
{
    if (!c->run[0])
        return fprintf(stderr, "oneshot: evolve needs --run DIR (a search run trained with a single-path "
                               "strategy)\n"), 2;
    evo v = {.c = c};
    os_evolve_defaults(&v.s);
    v.s.population = c->population;
    v.s.generations = c->generations;
    v.s.top = c->top;
    v.s.mutations = c->mutations;
    v.s.crossovers = c->crossovers;
    v.s.mutation_prob = c->mutation_prob;
    v.s.seed = (uint64_t)c->seed;
    v.s.random = c->random_n;
    v.s.limits.max_latency = c->max_latency;
    if (parse_count("max-params", c->max_params, &v.s.limits.max_params) ||
        parse_count("max-madds", c->max_madds, &v.s.limits.max_madds) || os_evolve_check(&v.s))
        return fail(2);
    if (c->max_latency < 0 || (c->max_latency > 0 && !c->latency_table[0]))
        return fprintf(stderr, "oneshot: --max-latency needs a positive number of ms and --latency-table FILE\n"), 2;
    if (c->bn_batches < 0 || c->val_batches < 0 || c->batch < 0)
        return fprintf(stderr, "oneshot: --bn-batches, --val-batches and --batch must not be negative\n"), 2;
    if (c->threads >= 0)
        os_set_threads(c->threads);
    snprintf(v.out, sizeof v.out, "%s", c->out[0] ? c->out : c->run);
    if (os_mkdirs(v.out))
        return fail(1);
    snprintf(v.state_path, sizeof v.state_path, "%s/evolution-state.json", v.out);
    snprintf(v.log_path, sizeof v.log_path, "%s/evolution.jsonl", v.out);
    snprintf(v.arch_path, sizeof v.arch_path, "%s/arch.json", v.out);

    int rc = open_run(&v);
    if (!rc)
        rc = setup_search(&v);
    if (!rc) {
        /* what a resumed search must share with this one */
        v.settings = os_evolve_settings_json(&v.s);
        cJSON_AddStringToObject(v.settings, "run", c->run);
        cJSON_AddNumberToObject(v.settings, "bn_batches", c->bn_batches);
        cJSON_AddNumberToObject(v.settings, "val_batches", c->val_batches);
        cJSON_AddNumberToObject(v.settings, "batch", c->batch > 0 ? c->batch : v.t.rc.batch);
        cJSON_AddStringToObject(v.settings, "latency_table", c->latency_table);
        int usage, r = try_resume(&v, &usage);
        if (r < 0) {
            rc = fail(usage ? 2 : 1);
        } else if (r == 1) {
            printf("resumed the search in %s after %d evaluations\n", v.out, v.e.n_done);
        } else {
            unlink(v.log_path);
            if (save_state(&v))
                rc = fail(1);
        }
    }
    if (!rc) {
        v.tty = isatty(STDERR_FILENO);
        if (v.s.random > 0)
            printf("random search: %d candidates, BN recalibrated on %d batches, out %s\n", v.s.random,
                   c->bn_batches, v.out);
        else
            printf("evolution: population %d, %d generations, top %d, %d mutations (p %.2f) + %d crossovers; up to "
                   "%ld evaluations, BN recalibrated on %d batches, out %s\n", v.s.population, v.s.generations,
                   v.s.top, v.s.mutations, (double)v.s.mutation_prob, v.s.crossovers, os_evolution_planned(&v.e),
                   c->bn_batches, v.out);
        fflush(stdout);
        struct sigaction sa = {0};
        sa.sa_handler = on_signal;
        sigaction(SIGINT, &sa, NULL);
        sigaction(SIGTERM, &sa, NULL);
        stop_requested = 0;
        rc = loop(&v);
        signal(SIGINT, SIG_DFL);
        signal(SIGTERM, SIG_DFL);
    }
    cJSON_Delete(v.settings);
    os_evolution_free(&v.e);
    os_path_space_free(&v.ps);
    os_trained_close(&v.t);
    os_step_shutdown();
    return rc;
}
