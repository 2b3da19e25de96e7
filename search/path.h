/* search/path.h — single paths through a supernet, for the single-path
 * strategies (spos, random) and evolution (search/evolve.h): uniform
 * sampling, mutation, crossover, validity, costs and latency, batch-norm
 * recalibration and a path's validation accuracy.
 *
 * A PATH is an os_arch in the supernet form (os_arch_of_net) with every
 * choice decided and no weights: a layer choice runs one candidate, an input
 * choice k of its n inputs. os_net_choose_arch(net, path) runs it.
 *
 * Which paths exist is the space's business: by default every choice is
 * free (nb201: 5^6 paths, each a child). A space whose supernet path is not
 * itself a child names GROUPS of layer choices (os_space.path_groups): of a
 * group's m choices exactly `keep` run a candidate other than `none`, the
 * others `none` (cifar_cell: the edges into a node, 2 kept, so that a path
 * is a DARTS cell and derive() returns exactly the cell the path runs).
 *
 *  - sampling: a free layer choice takes each of its n candidates with
 *    probability 1/n, an input choice each k-subset of its n inputs with
 *    probability 1 / C(n, k), a subset choice (k == 0) each input
 *    independently with probability 1/2 (every subset 1 / 2^n); a group each keep-subset of its members with
 *    probability 1 / C(m, keep), and each kept member each of its n - 1
 *    candidates other than `none` with probability 1 / (n - 1);
 *  - mutation (SPOS): every free choice is redrawn as in sampling with
 *    probability p (a subset choice: its whole subset); in a group, every kept slot (in member order) redraws
 *    with probability p which member it is (uniformly among itself and the
 *    members not kept) and, independently with probability p, its candidate
 *    (as the child's input_N_K / op_N_K labels would be);
 *  - crossover (SPOS): every free choice, and every group as a whole, comes
 *    from either parent with probability 1/2.
 * All three give valid paths only (tests/test_spos.c checks it on every
 * space).
 *
 * Costs: per candidate (os_net_candidate_costs: parameters and multiply-adds
 * per image at the supernet's input shape, summed over the cells sharing
 * its label) plus the fixed rest of the network; a path's cost is their sum,
 * exactly os_net_cost of the supernet running that path. They are the
 * searched supernet's (its cells and channels), not a retrained child's.
 *
 * Latency: a table given as JSON text (os_path_latency_load), per layer
 * choice label the milliseconds of each candidate, plus an optional
 * top-level number "fixed" (the rest of the network):
 *   {"fixed": 0.8, "cell/0_1": {"none": 0, "skip_connect": 0.01, ...}, ...}
 * Every layer choice of the supernet and every one of its candidates must
 * be there; a path's latency is "fixed" plus its candidates' entries. A
 * depth choice (one that gates others, os_choice.gate) needs no entry: the
 * blocks it gates off count nothing. For a strategy that weighs candidates
 * (ProxylessNAS' expected latency): E[latency] = fixed + sum over choices i
 * of P(i runs) * sum_k p_ik lat_ik, with P(i runs) = 1 for an ungated choice
 * and, for a block gated by depth choice g from candidate m (os_choice.gate,
 * gate_min), the sum of g's probabilities of candidates m and up (the depths
 * that run it). Tables written by `oneshot latency`
 * (search/latency.h) carry metadata keys; when present they are checked:
 * "space" must be the supernet's, "input" its [C, H, W], "batch" and
 * "threads" ps->expect_batch / expect_threads when those are set: a
 * mismatch is an error naming both values.
 */
#ifndef OS_PATH_H
#define OS_PATH_H

#include "search/step.h"
#include "supernet/arch.h"
#include "ops/count.h"

typedef struct os_path_space {
    os_arch tmpl;          /* the supernet's choices, nothing decided */
    int n;                 /* choices */
    int *group;            /* [n] the choice's group, -1 = free */
    int *keep;             /* [n_groups] */
    int *zero;             /* [n] the `none` candidate of each choice, or -1 */
    int n_groups;
    int has_costs;
    os_cost *cand;         /* [n * OS_MAX_CANDIDATES] */
    os_cost fixed;         /* everything outside the layer choices */
    int has_latency;
    double *lat;           /* [n * OS_MAX_CANDIDATES] ms */
    double lat_fixed;
    int in_c, in_h, in_w;  /* the supernet's input (a table's "input" must match) */
    int expect_batch;      /* set before loading a table: its "batch" and */
    int expect_threads;    /* "threads" must match (0 = not checked) */
    int lat_batch, lat_threads; /* the loaded table's (0 = not recorded) */
} os_path_space;

/* The paths of a supernet. costs: also measure the candidates' costs (one
 * forward of one image through every candidate, one through a path). 0, or
 * -1 with os_error() when the space's groups are not usable (a member
 * without `none`, fewer members than kept). */
int os_path_space_init(os_path_space *ps, os_net *net, const os_space *sp, int costs);
void os_path_space_free(os_path_space *ps);

/* path gets a fresh copy of the template (any earlier content is freed;
 * initialise with {0} or os_arch_init first). */
void os_path_sample(const os_path_space *ps, os_rng *r, os_arch *path);
void os_path_mutate(const os_path_space *ps, os_rng *r, float prob, const os_arch *src, os_arch *path);
void os_path_crossover(const os_path_space *ps, os_rng *r, const os_arch *a, const os_arch *b, os_arch *path);
/* 0 when `path` is one of the space's paths; -1 with os_error() naming the
 * first choice (or group) that is not. */
int os_path_check(const os_path_space *ps, const os_arch *path);
/* 1 when the two paths choose the same candidates (a choice that neither
 * runs, gated off in both by a depth, does not count: the same child). */
int os_path_same(const os_arch *a, const os_arch *b);

/* What a path costs; latency < 0 when no table is loaded. */
typedef struct os_path_cost {
    double params, madds, latency;
} os_path_cost;
void os_path_cost_of(const os_path_space *ps, const os_arch *path, os_path_cost *c);
/* The least parameters, multiply-adds and latency any path has, each on
 * its own (different paths may reach them). */
void os_path_min_cost(const os_path_space *ps, os_path_cost *c);

/* Limits on a path's costs; 0 (or less) = no limit. */
typedef struct os_path_limits {
    double max_params, max_madds, max_latency;
} os_path_limits;
/* 1 when c is within every limit (a latency limit needs a known latency). */
int os_path_within(const os_path_cost *c, const os_path_limits *l);
/* 0 when some path may meet the limits (each limit at least the least cost
 * of its measure); -1 with os_error() naming the limit no path can meet. */
int os_path_limits_check(const os_path_space *ps, const os_path_limits *l);

/* Load a latency table from JSON text (what = a name for messages). 0, or
 * -1 with os_error() naming the label or candidate. */
int os_path_latency_parse(os_path_space *ps, const char *json, const char *what);
int os_path_latency_load(os_path_space *ps, const char *path);

/* ---- evaluation on data ---------------------------------------------------------- */
/* A source of batches: batch i (0, 1, ...) into *b; 1 when given, 0 when
 * there are no more. */
typedef int (*os_batch_fn)(void *arg, int i, os_batch *b);

/* Batch-norm recalibration (SPOS): the running statistics of every batch
 * norm the net's current path runs are recomputed as the plain average over
 * up to max_batches batches (PyTorch's momentum = None: mean of the batch
 * means, mean of the unbiased batch variances), from forward passes in
 * training mode without gradients. The batch norms the path does not run
 * keep their statistics. Returns the batches used. A net whose batch norms
 * use batch statistics (os_net.bn_batch_stats, the nb201 protocol) keeps
 * none: nothing is done, 0. */
int os_bn_recalibrate(os_net *net, os_batch_fn next, void *arg, int max_batches);

/* The net's validation loss and accuracy as its chooser stands: BN
 * statistics recalibrated on up to n_recal batches of `recal` (0: as they
 * are), then up to n_val batches of `val` (0: all it gives) in evaluation
 * mode. Returns the images evaluated. */
long os_net_evaluate(os_net *net, os_batch_fn recal, void *recal_arg, int n_recal, os_batch_fn val, void *val_arg,
                     int n_val, double *loss, double *acc);

/* A path's validation loss and accuracy: os_net_evaluate with the path
 * installed (n_recal 0: the supernet's running statistics as they are).
 * The net's chooser is restored; the recalibrated statistics stay (every evaluation
 * recalibrates its own path). Returns the images evaluated. */
long os_path_evaluate(os_net *net, const os_arch *path, os_batch_fn recal, void *recal_arg, int n_recal,
                      os_batch_fn val, void *val_arg, int n_val, double *loss, double *acc);

#endif
