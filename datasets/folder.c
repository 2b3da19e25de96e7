/* datasets/folder.c — image folders: ROOT/{train,test}/<class>/<image>.
 *
 * Classes are the subfolders of the split folder in byte order (torchvision's
 * ImageFolder convention); the test split must have the same class folders as
 * the train split when both exist, so a label means the same class in both.
 * Files with the extensions png, jpg, jpeg, bmp (any case) are read in byte
 * order; names starting with '.' and other files are ignored. A class folder
 * without images is an error.
 *
 * The first image fixes the size and the channel count (see datasets.h); the
 * rest are decoded in parallel (OpenMP), and when several fail the one that
 * comes first in file order is reported, so the message does not depend on
 * the thread timing. */
#include "datasets/internal.h"
#include "tensor/error.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "stb_image.h"
#include "stb_image_resize.h"

typedef struct {
    char **v;
    int n, cap;
} strlist;

static void sl_free(strlist *s)
{
    for (int i = 0; i < s->n; i++)
        free(s->v[i]);
    free(s->v);
    memset(s, 0, sizeof *s);
}

static int sl_push(strlist *s, const char *str)
{
    if (s->n == s->cap) {
        int nc = s->cap ? 2 * s->cap : 16;
        char **nv = realloc(s->v, sizeof *nv * (size_t)nc);
        if (!nv)
            return os_error("out of memory listing files");
        s->v = nv;
        s->cap = nc;
    }
    if (!(s->v[s->n] = strdup(str)))
        return os_error("out of memory listing files");
    s->n++;
    return 0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static bool is_image_name(const char *name)
{
    const char *dot = strrchr(name, '.');
    if (!dot)
        return false;
    return !strcasecmp(dot, ".png") || !strcasecmp(dot, ".jpg") || !strcasecmp(dot, ".jpeg") ||
           !strcasecmp(dot, ".bmp");
}

/* The entries of dir that are directories (dirs) or image files (!dirs), sorted. */
static int list_dir(const char *dir, bool dirs, strlist *out)
{
    memset(out, 0, sizeof *out);
    DIR *d = opendir(dir);
    if (!d)
        return os_error("cannot open folder %s: %s", dir, strerror(errno));
    struct dirent *e;
    int r = 0;
    while (r == 0 && (e = readdir(d))) {
        if (e->d_name[0] == '.' || (!dirs && !is_image_name(e->d_name)))
            continue;
        bool isdir = e->d_type == DT_DIR, isreg = e->d_type == DT_REG;
        if (e->d_type == DT_UNKNOWN || e->d_type == DT_LNK) {
            char p[4096];
            struct stat st;
            if (os_ds_join(p, sizeof p, dir, e->d_name) != 0) {
                r = -1;
                break;
            }
            isdir = stat(p, &st) == 0 && S_ISDIR(st.st_mode);
            isreg = stat(p, &st) == 0 && S_ISREG(st.st_mode);
        }
        if (dirs ? isdir : isreg)
            r = sl_push(out, e->d_name);
    }
    closedir(d);
    if (r != 0) {
        sl_free(out);
        return -1;
    }
    if (out->n > 1)
        qsort(out->v, (size_t)out->n, sizeof *out->v, cmp_str);
    return 0;
}

bool os_ds_folder_present(const char *root)
{
    const char *splits[] = {"train", "test"};
    for (int s = 0; s < 2; s++) {
        char p[4096];
        strlist cl;
        if (os_ds_join(p, sizeof p, root, splits[s]) != 0 || !os_ds_is_dir(p) ||
            list_dir(p, true, &cl) != 0)
            continue;
        int n = cl.n;
        sl_free(&cl);
        if (n > 0)
            return true;
    }
    return false;
}

/* The test split's classes must be the train split's. */
static int check_same_classes(const char *root, const strlist *test)
{
    char p[4096];
    strlist tr;
    if (os_ds_join(p, sizeof p, root, "train") != 0)
        return -1;
    if (!os_ds_is_dir(p))
        return 0;
    if (list_dir(p, true, &tr) != 0)
        return -1;
    int r = 0;
    for (int i = 0; r == 0 && i < (tr.n > test->n ? tr.n : test->n); i++) {
        const char *a = i < tr.n ? tr.v[i] : "(none)", *b = i < test->n ? test->v[i] : "(none)";
        if (strcmp(a, b) != 0)
            r = os_error("%s/test: class folders differ from %s/train: class %d is '%s' in test "
                         "but '%s' in train",
                         root, root, i, b, a);
    }
    sl_free(&tr);
    return r;
}

/* Read, decode, check or resize, and store image i as CHW. */
static int load_one(const char *path, int channels, int c, int h, int w, bool resize,
                    const char *first, uint8_t *dst)
{
    uint8_t *buf, *hwc;
    size_t len;
    int ic, ih, iw;
    if (os_read_file(path, &buf, &len) != 0)
        return -1;
    int r = os_ds_image_decode_hwc(buf, len, path, channels, &hwc, &ic, &ih, &iw);
    free(buf);
    if (r != 0)
        return -1;
    if (ih != h || iw != w) {
        if (!resize) {
            stbi_image_free(hwc);
            return os_error("%s: image is %dx%d (w x h) but the first image %s is %dx%d; "
                            "resize the images or load with resize on",
                            path, iw, ih, first, w, h);
        }
        uint8_t *rs = malloc((size_t)c * h * w);
        if (!rs || !stbir_resize_uint8(hwc, iw, ih, 0, rs, w, h, 0, c)) {
            free(rs);
            stbi_image_free(hwc);
            return os_error("%s: cannot resize %dx%d to %dx%d", path, iw, ih, w, h);
        }
        os_ds_hwc_to_chw(rs, c, h, w, dst);
        free(rs);
    } else {
        os_ds_hwc_to_chw(hwc, c, h, w, dst);
    }
    stbi_image_free(hwc);
    return 0;
}

int os_ds_load_folder(const char *root, const os_load_opts *o, os_dataset *out)
{
    memset(out, 0, sizeof *out);
    if (o->channels != 0 && o->channels != 1 && o->channels != 3)
        return os_error("image folder: channels must be 0 (from the first image), 1 or 3, not %d",
                        o->channels);
    const char *split = o->split == OS_SPLIT_TRAIN ? "train" : "test";
    char sdir[4096];
    if (os_ds_join(sdir, sizeof sdir, root, split) != 0)
        return -1;
    if (!os_ds_is_dir(sdir))
        return os_error("image folder: %s is not a folder (expected %s/%s/<class>/*.png|jpg|bmp)",
                        sdir, root, split);
    strlist classes, files = {0};
    if (list_dir(sdir, true, &classes) != 0)
        return -1;
    int32_t *cls = NULL;
    int r = 0, ncls = classes.n;
    if (ncls == 0)
        r = os_error("image folder: %s has no class folders", sdir);
    if (r == 0 && o->split == OS_SPLIT_TEST)
        r = check_same_classes(root, &classes);
    /* every file, class by class */
    for (int k = 0; r == 0 && k < ncls; k++) {
        char cdir[4096];
        strlist f;
        if ((r = os_ds_join(cdir, sizeof cdir, sdir, classes.v[k])) != 0 ||
            (r = list_dir(cdir, false, &f)) != 0)
            break;
        if (f.n == 0)
            r = os_error("image folder: %s: empty class folder (no .png, .jpg, .jpeg or .bmp "
                         "files)", cdir);
        int take = o->max_per_class > 0 && o->max_per_class < f.n ? o->max_per_class : f.n;
        int32_t *nc = r == 0 ? realloc(cls, sizeof *cls * (size_t)(files.n + take)) : NULL;
        if (r == 0 && !nc)
            r = os_error("out of memory listing files");
        if (nc)
            cls = nc;
        for (int i = 0; r == 0 && i < take; i++) {
            char p[4096];
            if ((r = os_ds_join(p, sizeof p, cdir, f.v[i])) == 0) {
                cls[files.n] = k;
                r = sl_push(&files, p);
            }
        }
        sl_free(&f);
    }
    /* the first image fixes the geometry */
    uint8_t *first = NULL;
    int c = 0, h = 0, w = 0;
    if (r == 0) {
        uint8_t *buf;
        size_t len;
        if ((r = os_read_file(files.v[0], &buf, &len)) == 0) {
            r = os_image_decode(buf, len, files.v[0], o->channels, &first, &c, &h, &w);
            free(buf);
        }
    }
    if (r == 0)
        r = os_ds_alloc(out, files.n, c, h, w, sdir);
    if (r == 0) {
        size_t per = (size_t)c * h * w;
        memcpy(out->pixels, first, per);
        int bad = files.n;
        char msg[1024] = "";
#pragma omp parallel for schedule(dynamic, 32)
        for (int i = 1; i < files.n; i++) {
            int b;
#pragma omp atomic read
            b = bad;
            if (i > b)
                continue; /* an earlier image failed: only earlier ones matter now */
            if (load_one(files.v[i], c, c, h, w, o->resize, files.v[0], out->pixels + per * i)) {
#pragma omp critical(os_folder_error)
                if (i < bad) {
                    snprintf(msg, sizeof msg, "%s", os_last_error());
#pragma omp atomic write
                    bad = i;
                }
            }
        }
        if (bad < files.n) {
            os_dataset_free(out);
            r = os_error("%s", msg);
        }
    }
    free(first);
    if (r == 0) {
        for (int i = 0; i < files.n; i++)
            out->labels[i] = cls[i];
        out->num_classes = ncls;
        r = os_ds_set_names(out, classes.v, ncls);
        snprintf(out->format, sizeof out->format, "folder");
        os_ds_set_source(out, sdir);
        snprintf(out->first, sizeof out->first, "%.*s", (int)sizeof out->first - 1, files.v[0]);
        if (r != 0)
            os_dataset_free(out);
    }
    free(cls);
    sl_free(&files);
    sl_free(&classes);
    return r == 0 ? 0 : -1;
}
