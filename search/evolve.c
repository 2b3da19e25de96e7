/* search/evolve.c — evolutionary and random search over paths (evolve.h). */
#include "search/evolve.h"
#include "tensor/error.h"

#include <cjson/cJSON.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *const os_evo_origin_names[3] = {"random", "mutation", "crossover"};

void os_evolve_defaults(os_evolve_settings *s)
{
    memset(s, 0, sizeof *s);
    s->population = 50;
    s->generations = 20;
    s->top = 10;
    s->mutations = 25;
    s->crossovers = 25;
    s->mutation_prob = 0.1f;
    s->seed = 2;
}

int os_evolve_check(const os_evolve_settings *s)
{
    if (s->random < 0)
        return os_error("--random must be positive (the number of random candidates), got %d", s->random);
    if (s->random > 0)
        return 0;
    if (s->population < 1)
        return os_error("--population must be at least 1, got %d", s->population);
    if (s->top < 1)
        return os_error("--top must be at least 1, got %d", s->top);
    if (s->population < s->top)
        return os_error("--population %d is smaller than --top %d: the kept top comes from the population",
                        s->population, s->top);
    if (s->generations < 0 || s->mutations < 0 || s->crossovers < 0)
        return os_error("--generations, --mutations and --crossovers must not be negative");
    if (!(s->mutation_prob >= 0.0f && s->mutation_prob <= 1.0f))
        return os_error("--mutation-prob must be in [0, 1], got %g", (double)s->mutation_prob);
    return 0;
}

static void rec_free(os_evo_record *r) { os_arch_free(&r->path); }

int os_evolution_init(os_evolution *e, const os_path_space *ps, const os_evolve_settings *s)
{
    memset(e, 0, sizeof *e);
    if (os_evolve_check(s) || os_path_limits_check(ps, &s->limits))
        return -1;
    e->ps = ps;
    e->s = *s;
    os_rng_seed(&e->rng, s->seed * 1000003u + 41);
    return 0;
}

void os_evolution_free(os_evolution *e)
{
    for (int i = 0; i < e->n_done; i++)
        rec_free(&e->done[i]);
    for (int i = 0; i < e->n_pending; i++)
        rec_free(&e->pending[i]);
    free(e->done);
    free(e->pending);
    memset(e, 0, sizeof *e);
}

/* ---- proposing a generation ------------------------------------------------------------ */
static int seen(const os_evolution *e, const os_arch *p, int n_new)
{
    for (int i = 0; i < e->n_done; i++)
        if (os_path_same(&e->done[i].path, p))
            return 1;
    for (int i = 0; i < n_new; i++)
        if (os_path_same(&e->pending[i].path, p))
            return 1;
    return 0;
}

/* accept p as the next pending candidate when it is legal */
static int propose(os_evolution *e, os_arch *p, int origin, int *n_new)
{
    os_path_cost c;
    os_path_cost_of(e->ps, p, &c);
    if (!os_path_within(&c, &e->s.limits) || seen(e, p, *n_new))
        return 0;
    os_evo_record *r = &e->pending[(*n_new)++];
    memset(r, 0, sizeof *r);
    r->path = *p;
    memset(p, 0, sizeof *p);
    r->generation = e->generation;
    r->origin = origin;
    r->cost = c;
    r->acc = r->loss = NAN;
    return 1;
}

static int better(const os_evo_record *a, const os_evo_record *b)
{
    double x = isfinite(a->acc) ? a->acc : -INFINITY, y = isfinite(b->acc) ? b->acc : -INFINITY;
    if (x != y)
        return x > y;
    double lx = isnan(a->loss) ? INFINITY : a->loss, ly = isnan(b->loss) ? INFINITY : b->loss;
    if (lx != ly)
        return lx < ly;
    return a->index < b->index;
}

static int cmp_rec(const void *pa, const void *pb)
{
    const os_evo_record *a = *(const os_evo_record *const *)pa, *b = *(const os_evo_record *const *)pb;
    return better(a, b) ? -1 : better(b, a) ? 1 : 0;
}

static void new_generation(os_evolution *e)
{
    const os_evolve_settings *s = &e->s;
    for (int i = 0; i < e->n_pending; i++)
        rec_free(&e->pending[i]);
    e->n_pending = e->next = 0;
    int want = s->random > 0 ? s->random
             : e->generation == 0 ? s->population
             : (s->mutations + s->crossovers > s->population ? s->mutations + s->crossovers : s->population);
    free(e->pending);
    e->pending = calloc((size_t)want, sizeof *e->pending);
    if (!e->pending)
        os_fatal("evolve: out of memory");
    int n = 0;
    os_arch p = {0};
    if (e->generation > 0 && e->n_done > 0) {
        /* the top so far */
        const os_evo_record **order = malloc(sizeof *order * (size_t)e->n_done);
        for (int i = 0; i < e->n_done; i++)
            order[i] = &e->done[i];
        qsort(order, (size_t)e->n_done, sizeof *order, cmp_rec);
        int top = s->top < e->n_done ? s->top : e->n_done;
        int got = 0;
        for (long t = 0; got < s->mutations && t < 10L * s->mutations; t++) {
            const os_arch *parent = &order[os_rng_below(&e->rng, (uint32_t)top)]->path;
            os_path_mutate(e->ps, &e->rng, s->mutation_prob, parent, &p);
            got += propose(e, &p, OS_EVO_MUTATION, &n);
        }
        got = 0;
        for (long t = 0; got < s->crossovers && t < 10L * s->crossovers; t++) {
            const os_arch *a = &order[os_rng_below(&e->rng, (uint32_t)top)]->path;
            const os_arch *b = &order[os_rng_below(&e->rng, (uint32_t)top)]->path;
            os_path_crossover(e->ps, &e->rng, a, b, &p);
            got += propose(e, &p, OS_EVO_CROSSOVER, &n);
        }
        free(order);
    }
    for (long t = 0; n < want && t < 100L * want; t++) {
        os_path_sample(e->ps, &e->rng, &p);
        propose(e, &p, OS_EVO_RANDOM, &n);
    }
    os_arch_free(&p);
    e->n_pending = n;
}

const os_evo_record *os_evolution_next(os_evolution *e)
{
    while (!e->finished && e->next >= e->n_pending) {
        int last = e->s.random > 0 ? 0 : e->s.generations;
        if (e->n_pending > 0 || e->n_done > 0) {
            /* this generation is done */
            if (e->generation >= last) {
                e->finished = 1;
                break;
            }
            e->generation++;
        }
        new_generation(e);
        if (e->n_pending == 0)
            e->finished = 1; /* the space has no legal candidate left */
    }
    return e->finished ? NULL : &e->pending[e->next];
}

void os_evolution_tell(os_evolution *e, double acc, double loss)
{
    if (e->finished || e->next >= e->n_pending)
        os_fatal("evolve: told a fitness with no candidate pending");
    if (e->n_done == e->cap_done) {
        e->cap_done = e->cap_done ? 2 * e->cap_done : 64;
        e->done = realloc(e->done, sizeof *e->done * (size_t)e->cap_done);
        if (!e->done)
            os_fatal("evolve: out of memory");
    }
    os_evo_record *r = &e->done[e->n_done];
    *r = e->pending[e->next];
    os_arch_copy(&r->path, &e->pending[e->next].path);
    r->acc = acc;
    r->loss = loss;
    r->index = e->n_done++;
    e->next++;
}

const os_evo_record *os_evolution_best(const os_evolution *e)
{
    const os_evo_record *b = NULL;
    for (int i = 0; i < e->n_done; i++)
        if (!b || better(&e->done[i], b))
            b = &e->done[i];
    return b;
}

long os_evolution_planned(const os_evolution *e)
{
    const os_evolve_settings *s = &e->s;
    if (s->random > 0)
        return s->random;
    long per = s->mutations + s->crossovers > s->population ? s->mutations + s->crossovers : s->population;
    return s->population + (long)s->generations * per;
}

/* ---- state as JSON ------------------------------------------------------------------------ */
cJSON *os_evolve_settings_json(const os_evolve_settings *s)
{
    cJSON *j = cJSON_CreateObject();
    char b[32];
    cJSON_AddNumberToObject(j, "population", s->population);
    cJSON_AddNumberToObject(j, "generations", s->generations);
    cJSON_AddNumberToObject(j, "top", s->top);
    cJSON_AddNumberToObject(j, "mutations", s->mutations);
    cJSON_AddNumberToObject(j, "crossovers", s->crossovers);
    cJSON_AddNumberToObject(j, "mutation_prob", s->mutation_prob);
    snprintf(b, sizeof b, "%" PRIu64, s->seed);
    cJSON_AddStringToObject(j, "seed", b);
    cJSON_AddNumberToObject(j, "random", s->random);
    cJSON_AddNumberToObject(j, "max_params", s->limits.max_params);
    cJSON_AddNumberToObject(j, "max_madds", s->limits.max_madds);
    cJSON_AddNumberToObject(j, "max_latency", s->limits.max_latency);
    return j;
}

static cJSON *path_json(const os_arch *p)
{
    cJSON *a = cJSON_CreateArray();
    for (int i = 0; i < p->n; i++)
        cJSON_AddItemToArray(a, cJSON_CreateNumber(p->c[i].chosen));
    return a;
}

static cJSON *num(double v) { return isfinite(v) ? cJSON_CreateNumber(v) : cJSON_CreateNull(); }

static cJSON *rec_json(const os_evo_record *r)
{
    cJSON *j = cJSON_CreateObject();
    cJSON_AddItemToObject(j, "path", path_json(&r->path));
    cJSON_AddNumberToObject(j, "generation", r->generation);
    cJSON_AddNumberToObject(j, "origin", r->origin);
    cJSON_AddItemToObject(j, "acc", num(r->acc));
    cJSON_AddItemToObject(j, "loss", num(r->loss));
    return j;
}

cJSON *os_evolution_to_json(const os_evolution *e)
{
    cJSON *j = cJSON_CreateObject();
    cJSON_AddItemToObject(j, "settings", os_evolve_settings_json(&e->s));
    char b[80];
    snprintf(b, sizeof b, "%016" PRIx64 "%016" PRIx64 "%016" PRIx64 "%016" PRIx64, e->rng.s[0], e->rng.s[1],
             e->rng.s[2], e->rng.s[3]);
    cJSON_AddStringToObject(j, "rng", b);
    cJSON_AddNumberToObject(j, "generation", e->generation);
    cJSON_AddNumberToObject(j, "next", e->next);
    cJSON_AddBoolToObject(j, "finished", e->finished);
    cJSON *d = cJSON_AddArrayToObject(j, "evaluated");
    for (int i = 0; i < e->n_done; i++)
        cJSON_AddItemToArray(d, rec_json(&e->done[i]));
    cJSON *p = cJSON_AddArrayToObject(j, "pending");
    for (int i = 0; i < e->n_pending; i++)
        cJSON_AddItemToArray(p, rec_json(&e->pending[i]));
    return j;
}

static int path_from(const os_path_space *ps, const cJSON *a, os_arch *p)
{
    if (!cJSON_IsArray(a) || cJSON_GetArraySize(a) != ps->n)
        return os_error("evolution state: a path must list %d choices", ps->n);
    os_arch_copy(p, &ps->tmpl);
    int i = 0;
    for (const cJSON *v = a->child; v; v = v->next, i++) {
        if (!cJSON_IsNumber(v) || v->valuedouble < 0 || v->valuedouble > 4294967295.0)
            return os_error("evolution state: choice %d of a path is not a mask", i);
        p->c[i].chosen = (unsigned)v->valuedouble;
    }
    if (os_path_check(ps, p))
        return os_error("evolution state: a path does not fit this supernet: %s", os_last_error());
    return 0;
}

static int rec_from(const os_evolution *e, const cJSON *j, os_evo_record *r)
{
    memset(r, 0, sizeof *r);
    const cJSON *g = cJSON_GetObjectItemCaseSensitive(j, "generation"),
                *o = cJSON_GetObjectItemCaseSensitive(j, "origin"), *a = cJSON_GetObjectItemCaseSensitive(j, "acc"),
                *l = cJSON_GetObjectItemCaseSensitive(j, "loss");
    if (!cJSON_IsNumber(g) || !cJSON_IsNumber(o) || o->valueint < 0 || o->valueint > 2)
        return os_error("evolution state: a candidate lacks its generation or origin");
    if (path_from(e->ps, cJSON_GetObjectItemCaseSensitive(j, "path"), &r->path))
        return -1;
    r->generation = g->valueint;
    r->origin = o->valueint;
    r->acc = cJSON_IsNumber(a) ? a->valuedouble : NAN;
    r->loss = cJSON_IsNumber(l) ? l->valuedouble : NAN;
    os_path_cost_of(e->ps, &r->path, &r->cost);
    return 0;
}

int os_evolution_from_json(os_evolution *e, const cJSON *j)
{
    cJSON *mine = os_evolve_settings_json(&e->s);
    const cJSON *theirs = cJSON_GetObjectItemCaseSensitive(j, "settings");
    int same = theirs && cJSON_Compare(mine, theirs, 1);
    if (!same) {
        for (const cJSON *it = mine->child; it; it = it->next) {
            const cJSON *t = theirs ? cJSON_GetObjectItemCaseSensitive(theirs, it->string) : NULL;
            if (!t || !cJSON_Compare(it, t, 1)) {
                char *a = cJSON_PrintUnformatted(it), *b = t ? cJSON_PrintUnformatted(t) : strdup("none");
                os_error("the saved evolution has %s %s, this one %s", it->string, b, a);
                free(a);
                free(b);
                break;
            }
        }
        cJSON_Delete(mine);
        return -1;
    }
    cJSON_Delete(mine);
    const cJSON *rng = cJSON_GetObjectItemCaseSensitive(j, "rng"), *gen = cJSON_GetObjectItemCaseSensitive(j, "generation"),
                *next = cJSON_GetObjectItemCaseSensitive(j, "next"), *fin = cJSON_GetObjectItemCaseSensitive(j, "finished"),
                *done = cJSON_GetObjectItemCaseSensitive(j, "evaluated"),
                *pend = cJSON_GetObjectItemCaseSensitive(j, "pending");
    if (!cJSON_IsString(rng) || strlen(rng->valuestring) != 64 || strspn(rng->valuestring, "0123456789abcdef") != 64 ||
        !cJSON_IsNumber(gen) || !cJSON_IsNumber(next) || !cJSON_IsArray(done) || !cJSON_IsArray(pend))
        return os_error("evolution state: missing or malformed keys");
    os_evolution t = {.ps = e->ps, .s = e->s};
    for (int i = 0; i < 4; i++) {
        char part[17];
        memcpy(part, rng->valuestring + 16 * i, 16);
        part[16] = 0;
        t.rng.s[i] = strtoull(part, NULL, 16);
    }
    t.generation = gen->valueint;
    t.finished = cJSON_IsTrue(fin);
    int nd = cJSON_GetArraySize(done), np = cJSON_GetArraySize(pend);
    t.cap_done = nd > 0 ? nd : 1;
    t.done = calloc((size_t)t.cap_done, sizeof *t.done);
    t.pending = calloc((size_t)(np > 0 ? np : 1), sizeof *t.pending);
    int rc = 0;
    for (const cJSON *it = done->child; it && !rc; it = it->next) {
        rc = rec_from(&t, it, &t.done[t.n_done]);
        if (!rc) {
            t.done[t.n_done].index = t.n_done;
            t.n_done++;
        }
    }
    for (const cJSON *it = pend->child; it && !rc; it = it->next)
        if (!(rc = rec_from(&t, it, &t.pending[t.n_pending])))
            t.n_pending++;
    t.next = next->valueint;
    if (!rc && (t.next < 0 || t.next > t.n_pending))
        rc = os_error("evolution state: next %d of %d pending", t.next, t.n_pending);
    if (rc) {
        os_evolution_free(&t);
        return -1;
    }
    os_evolution_free(e);
    *e = t;
    return 0;
}
