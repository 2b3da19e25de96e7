/* supernet/genotype.h — DARTS cell architectures: derive, print, read, write.
 *
 * A genotype holds, for the normal and the reduction cell, two (op, input)
 * pairs per intermediate node 2..5, in DARTS order (the stronger edge first).
 * Inputs 0 and 1 are the cell inputs, 2.. earlier nodes.
 *
 * Formats:
 *  - DARTS text: Genotype(normal=[('sep_conv_3x3', 0), ...], normal_concat=[2, 3, 4, 5], reduce=[...], reduce_concat=[2, 3, 4, 5])
 *  - NNI labels (nni/nas/hub/pytorch/nasnet.py): {"normal/op_2_0": "sep_conv_3x3", "normal/input_2_0": [0], ...}
 */
#ifndef OS_GENOTYPE_H
#define OS_GENOTYPE_H

#include <cjson/cJSON.h>

#define OS_CELL_NODES 4
#define OS_CELL_EDGES 14 /* 2 + 3 + 4 + 5 */

typedef struct {
    int op[2][2 * OS_CELL_NODES]; /* [normal=0/reduce=1][pair] darts op index */
    int in[2][2 * OS_CELL_NODES];
} os_genotype;

extern const os_genotype os_darts_v1, os_darts_v2;
extern const char *const os_cell_type_names[2]; /* "normal", "reduce" */

/* Edge index (0..13) of node i (2..5) from input j (0..i-1). */
static inline int os_cell_edge(int node, int input)
{
    int e = 0;
    for (int n = 2; n < node; n++)
        e += n;
    return e + input;
}

/* DARTS selection rule on probabilities probs[type][edge][op] (softmax of
 * alpha): per node keep the 2 incoming edges with the largest non-none weight
 * (ties: lower input first), each with its best non-none op. max_skip >= 0
 * keeps at most that many skip_connect in the normal cell: the weakest
 * selected skip edge loses its skip option and the node is re-derived, until
 * the count fits (P-DARTS). */
void os_genotype_derive(const float probs[2][OS_CELL_EDGES][8], int max_skip, os_genotype *g);
int os_genotype_count(const os_genotype *g, int type, int op);

/* DARTS text into buf; returns the length. */
int os_genotype_str(const os_genotype *g, char *buf, int size);
/* NNI label dict (a new cJSON object). */
cJSON *os_genotype_to_nni(const os_genotype *g);
/* From an NNI label dict, or from our arch.json (an object with "arch"), or
 * from "darts-v1"/"darts-v2". Returns 0, or -1 with os_error() naming the key. */
int os_genotype_from_json(const cJSON *j, os_genotype *g);
int os_genotype_load(const char *file_or_name, os_genotype *g);

#endif
