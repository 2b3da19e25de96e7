/* supernet/genotype.c — DARTS genotype selection, text and NNI formats. */
#include "supernet/genotype.h"
#include "supernet/darts_ops.h"
#include "tensor/error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *const os_cell_type_names[2] = {"normal", "reduce"};

#define P(op, in) {DARTS_##op, in}
/* quark0/darts genotypes.py, as quoted in REFERENCE.md §2 */
static const int v1_pairs[2][8][2] = {
    {P(SEP3, 1), P(SEP3, 0), P(SKIP, 0), P(SEP3, 1), P(SKIP, 0), P(SEP3, 1), P(SEP3, 0), P(SKIP, 2)},
    {P(MAX_POOL, 0), P(MAX_POOL, 1), P(SKIP, 2), P(MAX_POOL, 0), P(MAX_POOL, 0), P(SKIP, 2), P(SKIP, 2), P(AVG_POOL, 0)},
};
static const int v2_pairs[2][8][2] = {
    {P(SEP3, 0), P(SEP3, 1), P(SEP3, 0), P(SEP3, 1), P(SEP3, 1), P(SKIP, 0), P(SKIP, 0), P(DIL3, 2)},
    {P(MAX_POOL, 0), P(MAX_POOL, 1), P(SKIP, 2), P(MAX_POOL, 1), P(MAX_POOL, 0), P(SKIP, 2), P(SKIP, 2), P(MAX_POOL, 1)},
};
#undef P

#define G(pairs)                                                                               \
    {.op = {{pairs[0][0][0], pairs[0][1][0], pairs[0][2][0], pairs[0][3][0], pairs[0][4][0],   \
             pairs[0][5][0], pairs[0][6][0], pairs[0][7][0]},                                  \
            {pairs[1][0][0], pairs[1][1][0], pairs[1][2][0], pairs[1][3][0], pairs[1][4][0],   \
             pairs[1][5][0], pairs[1][6][0], pairs[1][7][0]}},                                 \
     .in = {{pairs[0][0][1], pairs[0][1][1], pairs[0][2][1], pairs[0][3][1], pairs[0][4][1],   \
             pairs[0][5][1], pairs[0][6][1], pairs[0][7][1]},                                  \
            {pairs[1][0][1], pairs[1][1][1], pairs[1][2][1], pairs[1][3][1], pairs[1][4][1],   \
             pairs[1][5][1], pairs[1][6][1], pairs[1][7][1]}}}

const os_genotype os_darts_v1 = G(v1_pairs);
const os_genotype os_darts_v2 = G(v2_pairs);

static void derive_cell(const float p[OS_CELL_EDGES][8], int *op, int *in)
{
    for (int node = 2; node < 2 + OS_CELL_NODES; node++) {
        int best_op[8];
        float strength[8];
        for (int j = 0; j < node; j++) {
            const float *w = p[os_cell_edge(node, j)];
            int b = -1;
            for (int k = 0; k < DARTS_NUM_OPS; k++)
                if (k != DARTS_NONE && w[k] >= 0 && (b < 0 || w[k] > w[b]))
                    b = k;
            best_op[j] = b;
            strength[j] = b < 0 ? -1.0f : w[b];
        }
        /* top 2 by strength, stable (a lower input wins ties), stronger first */
        int first = -1, second = -1;
        for (int j = 0; j < node; j++) {
            if (first < 0 || strength[j] > strength[first]) {
                second = first;
                first = j;
            } else if (second < 0 || strength[j] > strength[second]) {
                second = j;
            }
        }
        int pr = 2 * (node - 2);
        op[pr] = best_op[first];
        in[pr] = first;
        op[pr + 1] = best_op[second];
        in[pr + 1] = second;
    }
}

int os_genotype_count(const os_genotype *g, int type, int op)
{
    int c = 0;
    for (int i = 0; i < 2 * OS_CELL_NODES; i++)
        c += g->op[type][i] == op;
    return c;
}

void os_genotype_derive(const float probs[2][OS_CELL_EDGES][8], int max_skip, os_genotype *g)
{
    float p[OS_CELL_EDGES][8];
    for (int t = 0; t < 2; t++)
        derive_cell(probs[t], g->op[t], g->in[t]);
    if (max_skip < 0)
        return;
    memcpy(p, probs[0], sizeof p);
    while (os_genotype_count(g, 0, DARTS_SKIP) > max_skip) {
        int weakest = -1;
        float wv = 2.0f;
        for (int i = 0; i < 2 * OS_CELL_NODES; i++) {
            if (g->op[0][i] != DARTS_SKIP)
                continue;
            int e = os_cell_edge(2 + i / 2, g->in[0][i]);
            if (p[e][DARTS_SKIP] < wv) {
                wv = p[e][DARTS_SKIP];
                weakest = e;
            }
        }
        p[weakest][DARTS_SKIP] = -1.0f; /* no longer selectable */
        derive_cell((const float (*)[8])p, g->op[0], g->in[0]); /* C11 adds const to the rows only by cast */
    }
}

int os_genotype_str(const os_genotype *g, char *buf, int size)
{
    int o = 0;
    o += snprintf(buf + o, size - o, "Genotype(");
    for (int t = 0; t < 2; t++) {
        o += snprintf(buf + o, size > o ? size - o : 0, "%s=[", os_cell_type_names[t]);
        for (int i = 0; i < 2 * OS_CELL_NODES; i++)
            o += snprintf(buf + o, size > o ? size - o : 0, "%s('%s', %d)", i ? ", " : "",
                          os_darts_op_names[g->op[t][i]], g->in[t][i]);
        o += snprintf(buf + o, size > o ? size - o : 0, "], %s_concat=[2, 3, 4, 5]%s",
                      os_cell_type_names[t], t ? ")" : ", ");
    }
    return o;
}

cJSON *os_genotype_to_nni(const os_genotype *g)
{
    cJSON *o = cJSON_CreateObject();
    char key[48];
    for (int t = 0; t < 2; t++)
        for (int node = 2; node < 2 + OS_CELL_NODES; node++)
            for (int k = 0; k < 2; k++) {
                int i = 2 * (node - 2) + k;
                snprintf(key, sizeof key, "%s/op_%d_%d", os_cell_type_names[t], node, k);
                cJSON_AddStringToObject(o, key, os_darts_op_names[g->op[t][i]]);
                snprintf(key, sizeof key, "%s/input_%d_%d", os_cell_type_names[t], node, k);
                cJSON *arr = cJSON_CreateArray();
                cJSON_AddItemToArray(arr, cJSON_CreateNumber(g->in[t][i]));
                cJSON_AddItemToObject(o, key, arr);
            }
    return o;
}

int os_genotype_from_json(const cJSON *j, os_genotype *g)
{
    if (!cJSON_IsObject(j))
        return os_error("architecture: expected a JSON object");
    const cJSON *inner = cJSON_GetObjectItemCaseSensitive(j, "arch");
    if (cJSON_IsObject(inner))
        j = inner;
    /* every key must be one this space knows */
    for (const cJSON *it = j->child; it; it = it->next) {
        int node, k, end = -1;
        char kind[8], tname[8];
        /* the whole key must match: "normal/op_2_0x" is not "normal/op_2_0" */
        if (sscanf(it->string, "%7[a-z]/%5[a-z]_%d_%d%n", tname, kind, &node, &k, &end) != 4 ||
            it->string[end] != 0 || (strcmp(tname, "normal") && strcmp(tname, "reduce")) ||
            (strcmp(kind, "op") && strcmp(kind, "input")) || node < 2 || node > 5 || k < 0 || k > 1)
            return os_error("architecture: unknown key '%s' (cifar_cell expects normal|reduce/op_N_K "
                            "and normal|reduce/input_N_K with N in 2..5, K in 0..1)", it->string);
    }
    char key[48];
    for (int t = 0; t < 2; t++)
        for (int node = 2; node < 2 + OS_CELL_NODES; node++)
            for (int k = 0; k < 2; k++) {
                int i = 2 * (node - 2) + k;
                snprintf(key, sizeof key, "%s/op_%d_%d", os_cell_type_names[t], node, k);
                const cJSON *op = cJSON_GetObjectItemCaseSensitive(j, key);
                if (!cJSON_IsString(op))
                    return os_error("architecture: key '%s' is missing or not a string", key);
                int idx = os_darts_op_index(op->valuestring);
                if (idx < 0 || idx == DARTS_NONE)
                    return os_error("architecture: key '%s': unknown op '%s' (expected one of max_pool_3x3, "
                                    "avg_pool_3x3, skip_connect, sep_conv_3x3, sep_conv_5x5, dil_conv_3x3, "
                                    "dil_conv_5x5)", key, op->valuestring);
                g->op[t][i] = idx;
                snprintf(key, sizeof key, "%s/input_%d_%d", os_cell_type_names[t], node, k);
                const cJSON *in = cJSON_GetObjectItemCaseSensitive(j, key);
                if (cJSON_IsArray(in) && cJSON_GetArraySize(in) == 1)
                    in = cJSON_GetArrayItem(in, 0);
                if (!cJSON_IsNumber(in) || in->valuedouble != (double)in->valueint)
                    return os_error("architecture: key '%s' is missing or not [index] (an integer)", key);
                if (in->valueint < 0 || in->valueint >= node)
                    return os_error("architecture: key '%s': input %d out of range 0..%d", key,
                                    in->valueint, node - 1);
                g->in[t][i] = in->valueint;
            }
    return 0;
}

int os_genotype_load(const char *src, os_genotype *g)
{
    if (!strcmp(src, "darts-v1")) {
        *g = os_darts_v1;
        return 0;
    }
    if (!strcmp(src, "darts-v2")) {
        *g = os_darts_v2;
        return 0;
    }
    FILE *f = fopen(src, "rb");
    if (!f)
        return os_error("%s: cannot open architecture file (or use darts-v1 / darts-v2)", src);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    if (n < 0 || n > (16 << 20)) {
        fclose(f);
        return os_error("%s: not a readable architecture file", src);
    }
    char *buf = malloc((size_t)n + 1);
    size_t got = fread(buf, 1, (size_t)n, f);
    fclose(f);
    buf[got] = 0;
    cJSON *j = cJSON_Parse(buf);
    free(buf);
    if (!j)
        return os_error("%s: malformed JSON", src);
    int rc = os_genotype_from_json(j, g);
    cJSON_Delete(j);
    if (rc) {
        char msg[1024];
        snprintf(msg, sizeof msg, "%s", os_last_error());
        return os_error("%s: %s", src, msg);
    }
    return 0;
}
