/* search/perturb.c — perturbation-based selection (search/perturb.h). */
#include "search/perturb.h"
#include "ops/ops.h"
#include "tensor/error.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* the next probe of choice p->choice after candidate `after` (-1: the
 * baseline): a candidate other than `none`, or n when all were probed */
static int next_candidate(const os_perturb *p, int after)
{
    const os_choice *c = &p->net->choices[p->choice];
    int k = after + 1;
    while (k < c->n && k == c->zero_index)
        k++;
    return k;
}

/* the figures of the choice's baseline: `none` removed has them too */
static void set_baseline(os_perturb *p, double acc, double loss)
{
    const os_choice *c = &p->net->choices[p->choice];
    p->base_acc = acc, p->base_loss = loss;
    for (int k = 0; k < c->n; k++)
        p->acc[k] = p->loss[k] = NAN;
    if (c->zero_index >= 0) /* its output is zero: removing it changes nothing */
        p->acc[c->zero_index] = acc, p->loss[c->zero_index] = loss;
}

/* the choice at order[step] on, skipping decided ones; -1 when done. Its
 * first probe is its baseline, but in an independent selection the
 * supernet does not change: the first baseline serves every choice. The
 * decided choice's figures stay until the next answer (fresh). */
static void open_choice(os_perturb *p)
{
    while (p->step < p->n && p->decided[p->order[p->step]] >= 0)
        p->step++;
    p->choice = p->step < p->n ? p->order[p->step] : -1;
    p->removed = -1;
    p->fresh = 1;
    if (p->choice >= 0 && p->independent && p->n_probes > 0)
        p->removed = next_candidate(p, -1);
}

int os_perturb_init(os_perturb *p, const os_net *net, uint64_t seed, int independent)
{
    memset(p, 0, sizeof *p);
    p->independent = independent != 0;
    for (int i = 0; i < net->n_choices; i++) {
        const os_choice *c = &net->choices[i];
        if (c->kind != OS_CHOICE_LAYER)
            return os_error("perturbation selects layer choices; '%s' of the %s supernet is an input choice", c->label,
                            net->space);
        if (c->gate >= 0)
            return os_error("perturbation selects ungated choices; '%s' of the %s supernet runs only when '%s' "
                            "decides so", c->label, net->space, net->choices[c->gate].label);
    }
    p->net = net;
    p->n = net->n_choices;
    p->order = malloc(sizeof *p->order * (size_t)(p->n ? p->n : 1));
    p->decided = malloc(sizeof *p->decided * (size_t)(p->n ? p->n : 1));
    if (!p->order || !p->decided) {
        os_perturb_free(p);
        return os_error("out of memory");
    }
    for (int i = 0; i < p->n; i++) {
        p->order[i] = i;
        p->decided[i] = net->choices[i].n == 1 ? 0 : -1;
    }
    os_rng r;
    os_rng_seed(&r, seed);
    os_rng_shuffle(&r, p->order, p->n);
    open_choice(p);
    return 0;
}

void os_perturb_free(os_perturb *p)
{
    free(p->order);
    free(p->decided);
    p->order = NULL;
    p->decided = NULL;
}

int os_perturb_next(os_perturb *p) { return p->choice >= 0; }

int os_perturb_tell(os_perturb *p, double acc, double loss)
{
    if (p->choice < 0)
        return -1;
    const os_choice *c = &p->net->choices[p->choice];
    if (p->fresh) /* the choice's first answer: its baseline, or (independent) the first one's */
        set_baseline(p, p->removed < 0 ? acc : p->base_acc, p->removed < 0 ? loss : p->base_loss);
    p->fresh = 0;
    p->n_probes++;
    if (p->removed >= 0)
        p->acc[p->removed] = acc, p->loss[p->removed] = loss;
    p->removed = next_candidate(p, p->removed);
    if (p->removed < c->n)
        return -1;
    /* every candidate probed: the one whose removal hurts the most (a NaN
     * accuracy, a diverged probe, never wins) */
    int best = -1;
    for (int k = 0; k < c->n; k++) {
        if (isnan(p->acc[k]))
            continue;
        if (best < 0 || p->acc[k] < p->acc[best] ||
            (p->acc[k] == p->acc[best] && p->loss[k] > p->loss[best]))
            best = k;
    }
    int decided = p->choice;
    p->decided[decided] = best >= 0 ? best : 0;
    p->step++;
    open_choice(p);
    return decided;
}

void os_perturb_choose(os_net *net, const os_forward_ctx *ctx, void *arg)
{
    (void)ctx;
    const os_perturb *p = arg;
    if (p->n != net->n_choices)
        os_fatal("%s supernet: the selection has %d choices, the net %d", net->space, p->n, net->n_choices);
    for (int i = 0; i < net->n_choices; i++) {
        const os_choice *c = &net->choices[i];
        if (p->decided[i] >= 0 && (!p->independent || p->choice < 0)) {
            os_net_mix_set(net, i, 1u << p->decided[i], NULL);
            continue;
        }
        unsigned m = os_mask_all(c->n);
        if (i == p->choice && p->removed >= 0)
            m &= ~(1u << p->removed);
        os_net_mix_set(net, i, m, os_softmax(c->alpha, 0));
    }
}

int os_perturb_result(const os_perturb *p, os_arch *a)
{
    for (int i = 0; i < p->n; i++)
        if (p->decided[i] < 0)
            return os_error("perturbation: choice '%s' is not decided yet", p->net->choices[i].label);
    os_arch_of_net(p->net, a);
    for (int i = 0; i < p->n; i++)
        a->c[i].chosen = 1u << p->decided[i];
    return 0;
}

long os_perturb_planned(const os_perturb *p)
{
    long n = 0, baselines = 0;
    for (int i = 0; i < p->n; i++) {
        const os_choice *c = &p->net->choices[i];
        if (c->n > 1)
            n += c->n - (c->zero_index >= 0), baselines++;
    }
    return n + (p->independent && baselines ? 1 : baselines);
}
