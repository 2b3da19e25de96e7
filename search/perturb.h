/* search/perturb.h — perturbation-based architecture selection on a trained
 * mixture supernet (DARTS-PT's operation selection: Wang et al., "Rethinking
 * Architecture Selection in Differentiable NAS", ICLR 2021).
 *
 * An alpha's size need not say how much its candidate matters to the
 * supernet: on nb201 DARTS's alphas drift to skip_connect while the
 * supernet's accuracy rests on its convolutions. Perturbation asks the
 * supernet instead. The choices are decided one at a time, in a random
 * order (the seed's). For the choice at hand each candidate in turn is
 * removed from its mixture (the others keep their softmax(alpha) weights,
 * not renormalized) and the supernet is validated; the candidate whose
 * removal costs the most accuracy is chosen (ties: the larger loss, then the
 * lower index), and from then on that choice runs it alone, unscaled. The
 * choices not decided yet mix every candidate by softmax(alpha), as DARTS
 * evaluates. A first probe per choice validates the supernet as it stands
 * (the baseline, for the log); removing `none` changes nothing (its output
 * is zero), so it is not probed: its figures are the baseline's. The
 * selection trains nothing: DARTS-PT tunes the supernet's weights between
 * decisions, and a caller may do so (`oneshot perturb --tune-steps`) with
 * this chooser installed.
 *
 * independent: every choice is judged on the supernet as trained, none
 * decided before (the choices decided so far keep their mixture until the
 * end); one baseline serves them all. A decided candidate alone, unscaled,
 * shifts what the layers after it see: without tuning, a progressive
 * selection probes a network whose accuracy may fall to chance after a few
 * decisions.
 *
 * Layer choices only, ungated: a supernet with an input choice or a gated
 * choice is refused (the DARTS cell's edge selection by perturbation, the
 * paper's topology step, is not built).
 *
 * Like search/evolve.h the selection asks for evaluations and is told their
 * results; it evaluates nothing itself:
 *
 *   os_perturb p;
 *   os_perturb_init(&p, net, seed, 0);
 *   os_net_set_chooser(net, os_perturb_choose, &p);  // runs the current probe
 *   while (os_perturb_next(&p)) {                    // p.choice, p.removed
 *       ... validate net: acc, loss ...
 *       if (os_perturb_tell(&p, acc, loss) >= 0)     // a choice was decided
 *           log p.decided[that], p.base_acc, p.acc[], p.loss[]
 *   }
 *   os_perturb_result(&p, &path);                    // supernet form, decided
 *   os_perturb_free(&p);
 */
#ifndef OS_PERTURB_H
#define OS_PERTURB_H

#include "supernet/arch.h"

typedef struct os_perturb {
    const os_net *net;
    int n;                  /* the net's choices */
    int32_t *order;         /* the choices in the order they are decided */
    int *decided;           /* per choice: the chosen candidate, -1 while open */
    int step;               /* position in order[] of the choice being decided; n: done */
    int choice;             /* the probe: the choice being decided (-1 when done) */
    int removed;            /* ... the candidate left out of its mixture; -1: none (the baseline) */
    int n_probes;           /* evaluations told so far */
    int independent;        /* decided choices keep mixing until the end (see the top) */
    int fresh;              /* the choice was opened: its figures are set at its first answer */
    double base_acc, base_loss;                 /* the choice's baseline */
    double acc[OS_MAX_CANDIDATES], loss[OS_MAX_CANDIDATES]; /* with candidate k removed */
} os_perturb;

/* 0, or -1 with os_error() naming a choice that is not an ungated layer
 * choice. Choices of one candidate are decided at once. */
int os_perturb_init(os_perturb *p, const os_net *net, uint64_t seed, int independent);
void os_perturb_free(os_perturb *p);
/* 1 when a probe is to be evaluated (p->choice, p->removed set), 0 when
 * every choice is decided. */
int os_perturb_next(os_perturb *p);
/* The probe's validation accuracy and loss. Returns the choice this answer
 * decided (its candidate in p->decided, its figures still in p->base_*,
 * p->acc and p->loss until the next call), or -1. */
int os_perturb_tell(os_perturb *p, double acc, double loss);
/* The chooser (os_net_set_chooser, arg: the os_perturb): decided choices run
 * their candidate alone (independent: they mix, as open ones do); open ones
 * mix every candidate by softmax(alpha), the probed choice without
 * p->removed. */
void os_perturb_choose(os_net *net, const os_forward_ctx *ctx, void *arg);
/* Every choice decided: the path, supernet form (a is overwritten). 0, or -1
 * with os_error() while choices are open. */
int os_perturb_result(const os_perturb *p, os_arch *a);
/* The planned evaluations in all: per choice of n > 1 candidates one per
 * candidate but `none`, and its baseline (independent: one baseline). */
long os_perturb_planned(const os_perturb *p);

#endif
