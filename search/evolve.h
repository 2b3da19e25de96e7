/* search/evolve.h — SPOS's evolutionary architecture search over the paths
 * of a trained single-path supernet (REFERENCE.md §7), and random search at
 * the same budget, under parameter, multiply-add and latency limits.
 *
 * The search asks for candidates and is told their fitness; it never
 * evaluates anything itself (the CLI's `oneshot evolve` recalibrates BN and
 * validates on data, the tests use synthetic fitness functions):
 *
 *   os_evolution e;
 *   os_evolution_init(&e, &path_space, &settings);
 *   const os_evo_record *c;
 *   while ((c = os_evolution_next(&e)))
 *       os_evolution_tell(&e, accuracy_of(c->path), loss_of(c->path));
 *   best = os_evolution_best(&e);
 *
 * As SPOS's search.py: generation 0 is `population` random paths; then
 * each of `generations` generations takes the `top` best paths evaluated so
 * far (by accuracy, ties: the lower loss, then the earlier), makes
 * `mutations` mutants (a parent drawn uniformly from the top, each choice
 * redrawn with probability mutation_prob) and `crossovers` crossovers (two
 * parents drawn uniformly, each choice from either), and fills up with
 * random paths to `population` (search/path.h defines the operators). A
 * candidate is LEGAL when it is within the limits and was never proposed
 * before; only legal candidates are proposed, so none over a limit is
 * evaluated, kept or returned as the best. Each operator tries at most 10
 * times the candidates it should give (SPOS), the random fill 100 times. In
 * all (1 + generations) * population evaluations by default: 1,050.
 *
 * Random search (settings.random = N): N legal random paths, one
 * generation, the same bookkeeping.
 *
 * Resuming: os_evolution_to_json() is the whole state (settings, RNG,
 * every evaluated candidate and the pending ones); from_json restores it
 * and the search continues exactly as it would have.
 */
#ifndef OS_EVOLVE_H
#define OS_EVOLVE_H

#include "search/path.h"

struct cJSON;

typedef struct os_evolve_settings {
    int population, generations, top, mutations, crossovers;
    float mutation_prob;
    uint64_t seed;
    int random;              /* > 0: random search with this many candidates */
    os_path_limits limits;
} os_evolve_settings;

/* SPOS's defaults: 50, 20, 10, 25, 25, 0.1. */
void os_evolve_defaults(os_evolve_settings *s);
/* 0, or -1 with os_error() for settings that cannot run (a population
 * smaller than the kept top, a probability outside [0, 1], ...). */
int os_evolve_check(const os_evolve_settings *s);

enum { OS_EVO_RANDOM, OS_EVO_MUTATION, OS_EVO_CROSSOVER };
extern const char *const os_evo_origin_names[3]; /* "random", "mutation", "crossover" */

typedef struct os_evo_record {
    os_arch path;
    int generation, origin, index; /* index: order of evaluation */
    os_path_cost cost;
    double acc, loss;              /* the fitness told (NAN until then) */
} os_evo_record;

typedef struct os_evolution {
    const os_path_space *ps;
    os_evolve_settings s;
    os_rng rng;
    int generation;                /* of the pending candidates */
    os_evo_record *done;           /* evaluated, in order */
    int n_done, cap_done;
    os_evo_record *pending;        /* this generation's, proposed in order */
    int n_pending, next;           /* next: the one being evaluated */
    int finished;
} os_evolution;

/* 0, or -1 with os_error(): bad settings, or limits no path can meet. */
int os_evolution_init(os_evolution *e, const os_path_space *ps, const os_evolve_settings *s);
void os_evolution_free(os_evolution *e);
/* The candidate to evaluate now (the same until told), or NULL when the
 * search is over. */
const os_evo_record *os_evolution_next(os_evolution *e);
/* The fitness of the candidate os_evolution_next() gave. */
void os_evolution_tell(os_evolution *e, double acc, double loss);
/* The best evaluated so far, or NULL. */
const os_evo_record *os_evolution_best(const os_evolution *e);
/* Evaluations planned in all (an upper bound: a small space may run out). */
long os_evolution_planned(const os_evolution *e);

/* The whole state as JSON / back into an evolution initialised with the
 * same path space and settings (a mismatch is an error naming the field). */
struct cJSON *os_evolution_to_json(const os_evolution *e);
int os_evolution_from_json(os_evolution *e, const struct cJSON *j);
/* The settings as JSON (also inside the state). */
struct cJSON *os_evolve_settings_json(const os_evolve_settings *s);

#endif
