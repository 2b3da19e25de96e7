/* supernet/spaces/spaces.h — every search space, for the registry. */
#ifndef OS_SPACES_H
#define OS_SPACES_H
#include "supernet/supernet.h"
extern const os_space os_space_cifar_cell;
extern const os_space os_space_nb201;
extern const os_space os_space_enas_macro;
extern const os_space os_space_enas_micro;
extern const os_space os_space_proxyless;
/* proxyless: 1 when an input of h x w takes the small-input variant (/8), 0 for ImageNet's (/32) */
int os_proxyless_small_variant(int h, int w);
#endif
