/* search/registry.c — the strategies by name. A new strategy: one file in
 * search/ defining `const os_strategy os_strategy_<name>`, and one line in
 * the list below. */
#include "search/strategy.h"

#include <string.h>

#define STRATEGIES(X) \
    X(darts)          \
    X(gdas)           \
    X(spos)           \
    X(random)         \
    X(enas)           \
    X(proxyless)

#define DECLARE(n) extern const os_strategy os_strategy_##n;
STRATEGIES(DECLARE)
#define ENTRY(n) &os_strategy_##n,
static const os_strategy *const strategies[] = {STRATEGIES(ENTRY)};

int os_strategy_count(void) { return (int)(sizeof strategies / sizeof strategies[0]); }
const os_strategy *os_strategy_at(int i) { return (i >= 0 && i < os_strategy_count()) ? strategies[i] : NULL; }

const os_strategy *os_strategy_find(const char *name)
{
    for (int i = 0; i < os_strategy_count(); i++)
        if (!strcmp(strategies[i]->name, name))
            return strategies[i];
    return NULL;
}
