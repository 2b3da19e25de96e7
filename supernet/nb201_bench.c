/* supernet/nb201_bench.c — the NAS-Bench-201 table: reader, checks, lookup.
 * For scoring only (see the header): nothing in a search reads it. */
#include "supernet/nb201_bench.h"
#include "supernet/spaces/spaces.h"
#include "tensor/error.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *const header =
    "CIFAR10TestAccuracy200Epochs,CIFAR100TestAccuracy200Epochs,ImageNetTestAccuracy200Epochs,ArchitectureString";
static const char *const bench_ops[5] = {"none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3"};
static const char *const nni_ops[5] = {"none", "skip_connect", "conv_1x1", "conv_3x3", "avg_pool_3x3"};
static const char *const edges[6] = {"cell/0_1", "cell/0_2", "cell/1_2", "cell/0_3", "cell/1_3", "cell/2_3"};
static const int edge_src[6] = {0, 0, 1, 0, 1, 2};

/* the six op digits of a child, edge order above */
static int digits_of(const os_arch *child, int *d)
{
    for (int e = 0; e < 6; e++) {
        int ci = os_arch_find(child, edges[e]);
        int k = ci < 0 ? -1 : os_arch_chosen_one(&child->c[ci]);
        if (ci < 0 || k < 0 || child->c[ci].chosen != 1u << k)
            return os_error("nb201 benchmark: the architecture has no single op for '%s'", edges[e]);
        const char *nm = child->c[ci].names[k];
        d[e] = -1;
        for (int o = 0; o < 5; o++)
            if (nm && (!strcmp(nm, nni_ops[o]) || !strcmp(nm, bench_ops[o])))
                d[e] = o;
        if (d[e] < 0)
            return os_error("nb201 benchmark: '%s' has op '%s', which is not an nb201 op", edges[e], nm ? nm : "?");
    }
    return 0;
}

int os_nb201_index(const os_arch *child)
{
    int d[6];
    if (digits_of(child, d))
        return -1;
    int idx = 0;
    for (int e = 0; e < 6; e++)
        idx = idx * 5 + d[e];
    return idx;
}

int os_nb201_arch_str(const os_arch *child, char *buf, size_t n)
{
    int d[6];
    if (digits_of(child, d))
        return -1;
    size_t o = 0;
    for (int e = 0; e < 6; e++) {
        const char *sep = e == 1 || e == 3 ? "+|" : "";
        o += (size_t)snprintf(buf + o, o < n ? n - o : 0, "%s%s%s~%d|", e == 0 ? "|" : "", sep, bench_ops[d[e]],
                              edge_src[e]);
    }
    return o < n ? 0 : os_error("nb201 arch string: buffer too small");
}

const os_nb201_entry *os_nb201_lookup(const os_nb201_bench *b, const os_arch *child)
{
    int idx = os_nb201_index(child);
    return idx < 0 ? NULL : &b->e[idx];
}

static int cmp_desc(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return (x < y) - (x > y);
}

/* rank = 1 + the number of architectures strictly better on CIFAR-10 */
static void rank_cifar10(os_nb201_bench *b)
{
    float *s = malloc(sizeof(float) * OS_NB201_ARCHS);
    for (int i = 0; i < OS_NB201_ARCHS; i++)
        s[i] = b->e[i].cifar10;
    qsort(s, OS_NB201_ARCHS, sizeof *s, cmp_desc);
    for (int i = 0; i < OS_NB201_ARCHS; i++) {
        int lo = 0, hi = OS_NB201_ARCHS; /* first position whose value is not above ours */
        while (lo < hi) {
            int mid = (lo + hi) / 2;
            if (s[mid] > b->e[i].cifar10)
                lo = mid + 1;
            else
                hi = mid;
        }
        b->e[i].rank_cifar10 = lo + 1;
    }
    free(s);
}

static char *read_all(const char *path, long *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        os_error("benchmark table %s: cannot open: %s", path, strerror(errno));
        return NULL;
    }
    char *buf = NULL;
    size_t n = 0, cap = 0;
    for (;;) {
        if (n + 65536 + 1 > cap) {
            cap = cap ? cap * 2 : 4u << 20;
            if (cap > (64u << 20)) {
                free(buf);
                fclose(f);
                os_error("benchmark table %s: larger than 64 MB, so not the NAS-Bench-201 table (about 2 MB)", path);
                return NULL;
            }
            buf = realloc(buf, cap);
        }
        size_t r = fread(buf + n, 1, 65536, f);
        n += r;
        if (r < 65536)
            break;
    }
    int err = ferror(f);
    fclose(f);
    if (err) {
        free(buf);
        os_error("benchmark table %s: read error", path);
        return NULL;
    }
    buf[n] = 0;
    *len = (long)n;
    return buf;
}

/* one accuracy column: a number in 0..100 */
static int parse_acc(const char *path, int line, const char *col, char **p, float *out)
{
    char *end;
    errno = 0;
    double v = strtod(*p, &end);
    if (end == *p || *end != ',' || errno || !isfinite(v))
        return os_error("benchmark table %s: line %d: %s is not a number followed by ','", path, line, col);
    if (v < 0 || v > 100)
        return os_error("benchmark table %s: line %d: %s %g is outside 0..100 (accuracies are percent)", path, line,
                        col, v);
    *out = (float)v;
    *p = end + 1;
    return 0;
}

os_nb201_bench *os_nb201_bench_load(const char *path)
{
    long len;
    char *txt = read_all(path, &len);
    if (!txt)
        return NULL;
    os_nb201_bench *b = calloc(1, sizeof *b);
    int *line_of = calloc(OS_NB201_ARCHS, sizeof *line_of);
    snprintf(b->path, sizeof b->path, "%s", path);
    int rows = 0, line = 0, bad = 0;
    char *p = txt;
    static const char *const cols[3] = {"the CIFAR-10 accuracy", "the CIFAR-100 accuracy",
                                        "the ImageNet16-120 accuracy"};
    while (*p && !bad) {
        char *nl = strchr(p, '\n');
        if (nl)
            *nl = 0;
        size_t l = strlen(p);
        if (l && p[l - 1] == '\r')
            p[--l] = 0;
        line++;
        if (line == 1) {
            if (strcmp(p, header))
                bad = os_error("benchmark table %s: line 1 must be the header '%s' (the columns of "
                               "nats_tss_200ep.csv), found '%.200s'", path, header, p);
        } else if (l) {
            float acc[3];
            for (int k = 0; k < 3 && !bad; k++)
                bad = parse_acc(path, line, cols[k], &p, &acc[k]);
            os_arch child = {0};
            if (!bad) {
                int r = os_space_nb201.parse(p, &child);
                if (r) {
                    char msg[600];
                    snprintf(msg, sizeof msg, "%s", r > 0 ? "not an arch string |op~0|+|op~0|op~1|+|...|" : os_last_error());
                    bad = os_error("benchmark table %s: line %d: architecture '%.200s': %s", path, line, p, msg);
                }
            }
            int idx = bad ? -1 : os_nb201_index(&child);
            os_arch_free(&child);
            if (!bad && idx < 0)
                bad = -1;
            if (!bad && line_of[idx])
                bad = os_error("benchmark table %s: line %d: architecture '%s' is already on line %d (each of the "
                               "15,625 must appear once)", path, line, p, line_of[idx]);
            if (!bad) {
                line_of[idx] = line;
                b->e[idx] = (os_nb201_entry){.cifar10 = acc[0], .cifar100 = acc[1], .imagenet16 = acc[2]};
                rows++;
            }
        }
        if (!nl)
            break;
        p = nl + 1;
    }
    if (!bad && line == 0)
        bad = os_error("benchmark table %s: the file is empty", path);
    if (!bad && rows != OS_NB201_ARCHS)
        bad = os_error("benchmark table %s: %d architecture rows, expected %d (every architecture of the nb201 space "
                       "once)", path, rows, OS_NB201_ARCHS);
    free(txt);
    free(line_of);
    if (bad) {
        free(b);
        return NULL;
    }
    rank_cifar10(b);
    return b;
}

void os_nb201_bench_free(os_nb201_bench *b) { free(b); }

void os_nb201_default_path(const char *data_dir, char *buf, size_t n, int *explicit_env)
{
    buf[0] = 0;
    *explicit_env = 0;
    const char *env = getenv("ONESHOT_NB201");
    if (env && env[0]) {
        snprintf(buf, n, "%s", env);
        *explicit_env = 1;
        return;
    }
    if (data_dir && data_dir[0]) {
        char d[1024];
        snprintf(d, sizeof d, "%s", data_dir);
        size_t l = strlen(d);
        while (l > 1 && d[l - 1] == '/')
            d[--l] = 0;
        char *slash = strrchr(d, '/');
        if (slash)
            slash == d ? (void)(d[1] = 0) : (void)(*slash = 0);
        else
            snprintf(d, sizeof d, ".");
        char cand[1200];
        snprintf(cand, sizeof cand, "%s/nb201/%s", d, OS_NB201_FILE);
        if (access(cand, R_OK) == 0 && strlen(cand) < n) {
            snprintf(buf, n, "%s", cand);
            return;
        }
    }
    const char *rel = "../shared/data/nb201/" OS_NB201_FILE;
    if (access(rel, R_OK) == 0)
        snprintf(buf, n, "%s", rel);
}
