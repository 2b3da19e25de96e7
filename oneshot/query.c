/* oneshot/query.c — `oneshot query ARCH`: an nb201 architecture's entry in
 * the NAS-Bench-201 table; and the table's use by train and export. */
#include "oneshot/query.h"
#include "oneshot/run.h"
#include "tensor/error.h"

#include <stdio.h>
#include <string.h>

int os_bench_open(const char *given, const char *data_dir, os_nb201_bench **b, char *used, size_t n)
{
    *b = NULL;
    used[0] = 0;
    char path[1024];
    int env = 0;
    if (given && given[0])
        snprintf(path, sizeof path, "%s", given);
    else
        os_nb201_default_path(data_dir, path, sizeof path, &env);
    if (!path[0])
        return 0;
    *b = os_nb201_bench_load(path);
    if (!*b) {
        if (env) {
            char msg[1024];
            snprintf(msg, sizeof msg, "%s", os_last_error());
            return os_error("%s (from $ONESHOT_NB201)", msg);
        }
        return -1;
    }
    snprintf(used, n, "%s", path);
    return 0;
}

cJSON *os_bench_entry_json(const os_nb201_bench *b, const os_arch *child)
{
    char s[160];
    const os_nb201_entry *e = os_nb201_lookup(b, child);
    if (!e || os_nb201_arch_str(child, s, sizeof s))
        return NULL;
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "arch_str", s);
    cJSON_AddNumberToObject(j, "cifar10", e->cifar10);
    cJSON_AddNumberToObject(j, "cifar100", e->cifar100);
    cJSON_AddNumberToObject(j, "imagenet16_120", e->imagenet16);
    cJSON_AddNumberToObject(j, "rank_cifar10", e->rank_cifar10);
    return j;
}

void os_bench_print(const os_nb201_bench *b, const os_arch *child)
{
    const os_nb201_entry *e = os_nb201_lookup(b, child);
    if (!e) {
        fprintf(stderr, "oneshot: benchmark: %s\n", os_last_error());
        return;
    }
    printf("NAS-Bench-201 (200 epochs, test): CIFAR-10 %.2f %%, CIFAR-100 %.2f %%, ImageNet16-120 %.2f %%; rank %d "
           "of %d on CIFAR-10\n", e->cifar10, e->cifar100, e->imagenet16, e->rank_cifar10, OS_NB201_ARCHS);
}

void os_bench_report(const char *given, const char *run_benchmark, const char *data_dir, const os_arch *child)
{
    os_nb201_bench *b;
    char used[1024];
    if (os_bench_open(given[0] ? given : run_benchmark, data_dir, &b, used, sizeof used))
        fprintf(stderr, "oneshot: benchmark not read: %s\n", os_last_error());
    else if (b)
        os_bench_print(b, child);
    os_nb201_bench_free(b);
}

int os_cmd_query(os_config *c)
{
    if (!c->arch[0]) {
        fprintf(stderr, "oneshot: query needs an architecture: oneshot query ARCH [--benchmark FILE], ARCH an nb201 "
                        "string |op~0|+|op~0|op~1|+|op~0|op~1|op~2|, an arch.json or an NNI dict file\n");
        return 2;
    }
    const os_space *sp;
    os_arch child = {0};
    int rc = os_arch_load(c->arch, "nb201", &sp, &child);
    if (rc) {
        fprintf(stderr, "oneshot: query: %s\n", os_last_error());
        return rc == OS_ARCH_MISFIT ? 2 : 1;
    }
    os_nb201_bench *b;
    char used[1024];
    rc = 0;
    if (os_bench_open(c->benchmark, NULL, &b, used, sizeof used)) {
        fprintf(stderr, "oneshot: query: %s\n", os_last_error());
        rc = 1;
    } else if (!b) {
        fprintf(stderr, "oneshot: query: no NAS-Bench-201 table: pass --benchmark FILE (the table "
                        "nats_tss_200ep.csv) or set ONESHOT_NB201\n");
        rc = 2;
    } else {
        char s[160];
        const os_nb201_entry *e = os_nb201_lookup(b, &child);
        if (!e || os_nb201_arch_str(&child, s, sizeof s)) {
            fprintf(stderr, "oneshot: query: %s\n", os_last_error());
            rc = 1;
        } else {
            printf("%s\n", s);
            printf("  cifar10         %6.2f %%   rank %d of %d\n", e->cifar10, e->rank_cifar10, OS_NB201_ARCHS);
            printf("  cifar100        %6.2f %%\n", e->cifar100);
            printf("  imagenet16-120  %6.2f %%\n", e->imagenet16);
            printf("  (NAS-Bench-201 test accuracy after 200 epochs; table %s)\n", used);
        }
    }
    os_nb201_bench_free(b);
    os_arch_free(&child);
    return rc;
}
