/* datasets/load.c — format detection and the loading entry points. */
#include "datasets/internal.h"
#include "tensor/error.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

static const char *const FORMATS[] = {"cifar10", "cifar100", "idx", "folder"};

static const char *check_path(const char *path)
{
    struct stat st;
    if (stat(path, &st) != 0) {
        os_error("--data %s: %s", path, strerror(errno));
        return NULL;
    }
    if (!S_ISDIR(st.st_mode)) {
        os_error("--data %s: not a folder (pass the folder that holds the dataset's files)", path);
        return NULL;
    }
    return path;
}

const char *os_dataset_detect(const char *path)
{
    if (!path) {
        if (!os_ds_is_dir(OS_DEFAULT_DATA_DIR) || !os_ds_idx_present(OS_DEFAULT_DATA_DIR)) {
            os_error("no --data given and the default dataset, Fashion-MNIST, is not installed in "
                     "%s: install it (apt-get install dataset-fashion-mnist) or pass --data PATH "
                     "(CIFAR-10/100 binary, IDX files or an image folder)",
                     OS_DEFAULT_DATA_DIR);
            return NULL;
        }
        return "idx";
    }
    if (!check_path(path))
        return NULL;
    char dir[4096];
    if (os_ds_cifar10_dir(path, dir, sizeof dir) == 0)
        return "cifar10";
    if (os_ds_cifar100_dir(path, dir, sizeof dir) == 0)
        return "cifar100";
    if (os_ds_idx_present(path))
        return "idx";
    if (os_ds_folder_present(path))
        return "folder";
    os_error("--data %s: no dataset found there; expected CIFAR-10 binary (data_batch_1.bin .. "
             "test_batch.bin, or a cifar-10-batches-bin folder), CIFAR-100 binary (train.bin, "
             "test.bin, or cifar-100-binary), IDX files (train-images-idx3-ubyte[.gz], "
             "train-labels-idx1-ubyte[.gz], t10k-...), or an image folder (train/<class>/*.png|jpg)",
             path);
    return NULL;
}

int os_dataset_load_opts(const char *path, const os_load_opts *o, os_dataset *out)
{
    memset(out, 0, sizeof *out);
    if (o->split != OS_SPLIT_TRAIN && o->split != OS_SPLIT_TEST)
        return os_error("dataset: unknown split %d", (int)o->split);
    if (o->max_per_class < 0)
        return os_error("dataset: max_per_class must be >= 0, not %d", o->max_per_class);
    const char *fmt = o->format;
    if (fmt && strcmp(fmt, "auto") != 0) {
        bool known = false;
        for (size_t i = 0; i < sizeof FORMATS / sizeof *FORMATS; i++)
            known |= strcmp(fmt, FORMATS[i]) == 0;
        if (!known)
            return os_error("unknown dataset format '%s' (cifar10, cifar100, idx, folder or auto)",
                            fmt);
        if (path && !check_path(path))
            return -1;
    } else if (!(fmt = os_dataset_detect(path))) {
        return -1;
    }
    const char *where = path ? path : OS_DEFAULT_DATA_DIR;
    char dir[4096];
    if (strcmp(fmt, "cifar10") == 0 || strcmp(fmt, "cifar100") == 0) {
        bool c100 = strcmp(fmt, "cifar100") == 0;
        if ((c100 ? os_ds_cifar100_dir : os_ds_cifar10_dir)(where, dir, sizeof dir) != 0)
            snprintf(dir, sizeof dir, "%s", where); /* the reader names the missing file */
        return os_ds_load_cifar(dir, o, c100, out);
    }
    if (strcmp(fmt, "idx") == 0)
        return os_ds_load_idx(where, o, out);
    return os_ds_load_folder(where, o, out);
}

int os_dataset_load(const char *path, const char *format, os_split split, os_dataset *out)
{
    os_load_opts o = {.format = format, .split = split};
    return os_dataset_load_opts(path, &o, out);
}
