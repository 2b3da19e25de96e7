/* supernet/spaces/spaces.h — every search space, for the registry. */
#ifndef OS_SPACES_H
#define OS_SPACES_H
#include "supernet/supernet.h"
extern const os_space os_space_cifar_cell;
extern const os_space os_space_nb201;
extern const os_space os_space_enas_macro;
extern const os_space os_space_enas_micro;
#endif
