/* supernet/arch.h — one architecture type for every space and strategy.
 *
 * An os_arch lists choices by label. For each: its candidates, and either
 * the chosen candidate(s) (a bit mask) or mixing weights (probabilities), or
 * both. Strategies produce one in the supernet form (os_strategy.derive),
 * spaces turn it into the child form (os_space.derive) and build children
 * from that; a supernet runs one path of it (os_net_choose_arch).
 *
 * JSON is NNI's label format: {"<label>": "<op name>"} for a layer choice,
 * {"<label>": [i, ...]} for an input choice (a subset choice, k == 0: any
 * list of distinct indices, [] included). A layer choice whose candidate
 * names are all decimal integers (a depth: "1".."4") is written as a JSON
 * number ({"s2_depth": 2}, as NNI does) and read from a number or a string. arch.json wraps it:
 *   {"space": "...", "arch": {NNI labels}, <space extras: "genotype",
 *    "arch_str">, "probs": {"<supernet label>": {"<op>": p, ...}}}
 * and os_arch_load() reads that file, a bare NNI dict, a named architecture
 * (darts-v1) or a string form (an nb201 arch string).
 */
#ifndef OS_ARCH_H
#define OS_ARCH_H

#include "supernet/supernet.h"

typedef struct os_arch_choice {
    char label[OS_LABEL_MAX];
    os_choice_kind kind;
    int n, k;                                /* candidates; input choice: how many chosen
                                                (0 = any subset) */
    const char *names[OS_MAX_CANDIDATES];    /* layer choice: candidate names (static strings) */
    unsigned chosen;                         /* bit mask; 0 = not decided; a subset
                                                choice that keeps nothing:
                                                OS_CHOSEN_NONE */
    int has_weights;
    float w[OS_MAX_CANDIDATES];              /* probabilities when has_weights (a
                                                subset choice: per input) */
    int gate, gate_min;                      /* as os_choice: runs only when choice `gate`
                                                (an index in this arch, earlier) has chosen
                                                a candidate >= gate_min; -1 = always */
} os_arch_choice;

typedef struct os_arch {
    char space[32];
    int n;
    os_arch_choice *c;
    /* NNI's NDS spaces (its DARTS and ENAS, our cifar_cell and enas_micro)
     * may also sample the network's `width` (our --channels) and `depth`
     * (our --cells, all cells counted); a dict that carried them sets these,
     * else 0. They size the child, they are not choices of it. */
    int width, depth;
} os_arch;

void os_arch_init(os_arch *a, const char *space);
void os_arch_free(os_arch *a);
void os_arch_copy(os_arch *dst, const os_arch *src);
/* Add a choice (names: layer choices only, NULL for input choices); returns its index. */
int os_arch_add(os_arch *a, const char *label, os_choice_kind kind, int n, int k, const char *const *names);
int os_arch_find(const os_arch *a, const char *label);
/* Choice i runs only when choice `gate` (< i) picks a candidate >= min. */
void os_arch_gate(os_arch *a, int i, int gate, int min);
/* 1 when choice i does not run: its gate is decided and picks a candidate
 * below gate_min. Such a choice need not be decided (os_arch_complete), is
 * left out of NNI dicts and may be missing from them (os_arch_from_nni). */
int os_arch_gated_off(const os_arch *a, int i);
/* The supernet form of a net: its choices, nothing decided. */
void os_arch_of_net(const os_net *net, os_arch *a);
/* The net's alphas as weights (softmax; a subset choice per-input sigmoid), in the supernet form. -1 with
 * os_error() naming the choice when an alpha is NaN or infinite. */
int os_arch_from_alpha(const os_net *net, os_arch *a);
/* The candidate index of a name in choice i, or -1. */
int os_arch_name_index(const os_arch_choice *c, const char *name);
/* Index of the only chosen candidate (lowest bit), -1 if none. */
int os_arch_chosen_one(const os_arch_choice *c);
/* The chosen candidates as a plain mask (OS_CHOSEN_NONE dropped). */
static inline unsigned os_arch_mask(const os_arch_choice *c) { return c->chosen & ~OS_CHOSEN_NONE; }
/* 1 when every choice is decided. */
int os_arch_complete(const os_arch *a);
int os_arch_equal(const os_arch *a, const os_arch *b); /* same labels and choices */

/* NNI labels of the decided choices (a new cJSON object). */
struct cJSON *os_arch_to_nni(const os_arch *a);
/* Fill a template's choices from an NNI dict: every key must be a label of
 * the template and every label present. 0, or -1 with os_error() naming the
 * key (src is prefixed to messages when not NULL). */
int os_arch_from_nni(os_arch *a, const struct cJSON *dict, const char *src);
/* For NDS spaces' from_nni: reads NNI's `width` and `depth` keys (positive
 * integers, when present) into a->width / a->depth and returns a copy of dict
 * without them, for the label parser (cJSON_Delete it); NULL with os_error()
 * naming the key. */
struct cJSON *os_arch_nds_sizes(const struct cJSON *dict, os_arch *a);

/* arch.json text for a child (malloc'd): space, NNI labels, the space's
 * extras, and the probabilities of `weights` (supernet form; may be NULL). */
char *os_arch_json(const os_space *sp, const os_arch *child, const os_arch *weights);

/* Read an architecture from `src`: a file (arch.json with "space", or a bare
 * NNI dict), a named architecture or a string form. A file must be a regular
 * file (not a folder, FIFO or device) of at most OS_ARCH_MAX_FILE bytes; it
 * is read whole. The space is the file's
 * "space" field or the one whose form `src` is; `space` (may be NULL) is the
 * one the caller expects: a disagreement is an error naming both. A bare
 * NNI dict is read as `space`'s, or, when that is NULL, as the one space
 * whose labels it matches. On success *sp is the space and child holds the
 * child form. 0, or with os_error() naming src and the key: -1 when src
 * cannot be read or is not a JSON object (a bad file: exit 1 in the CLI),
 * OS_ARCH_MISFIT when it was read but does not describe an architecture of
 * the space (an unknown or missing label, a value out of range, a space that
 * disagrees: a usage error, exit 2). */
#define OS_ARCH_MISFIT (-2)
#define OS_ARCH_MAX_FILE ((size_t)16 << 20)
int os_arch_load(const char *src, const char *space, const os_space **sp, os_arch *child);
/* The same from JSON text already in memory (what = the name for messages). */
int os_arch_parse_json(const char *text, const char *what, const char *space, const os_space **sp,
                       os_arch *child);

/* Install a chooser on a supernet that runs exactly the path `a` (supernet
 * form, every choice decided; no weights). a must outlive its use. */
void os_net_choose_arch(os_net *net, const os_arch *a);

#endif
