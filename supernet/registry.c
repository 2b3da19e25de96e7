/* supernet/registry.c — the search spaces by name. A new space: one file in
 * supernet/spaces/, one line in spaces.h and one here. */
#include "supernet/spaces/spaces.h"

#include <string.h>

static const os_space *const spaces[] = {
    &os_space_cifar_cell,
    &os_space_nb201,
    &os_space_enas_macro,
    &os_space_enas_micro,
    &os_space_proxyless,
};

int os_space_count(void) { return (int)(sizeof spaces / sizeof spaces[0]); }
const os_space *os_space_at(int i) { return (i >= 0 && i < os_space_count()) ? spaces[i] : NULL; }

const os_space *os_space_find(const char *name)
{
    for (int i = 0; i < os_space_count(); i++)
        if (!strcmp(spaces[i]->name, name))
            return spaces[i];
    return NULL;
}
