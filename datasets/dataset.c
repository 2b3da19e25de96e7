/* datasets/dataset.c — the dataset record: allocation, class names, freeing. */
#include "datasets/internal.h"
#include "tensor/error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int os_ds_alloc(os_dataset *d, long n, int c, int h, int w, const char *what)
{
    memset(d, 0, sizeof *d);
    if (n <= 0 || c <= 0 || h <= 0 || w <= 0)
        return os_error("%s: no images (%ld of %dx%dx%d)", what, n, c, h, w);
    size_t per = (size_t)c * (size_t)h * (size_t)w;
    if (n > INT32_MAX || per > SIZE_MAX / (size_t)n)
        return os_error("%s: %ld images of %dx%dx%d are too many", what, n, c, h, w);
    d->pixels = malloc(per * (size_t)n);
    d->labels = malloc(sizeof(int32_t) * (size_t)n);
    if (!d->pixels || !d->labels) {
        free(d->pixels);
        free(d->labels);
        d->pixels = NULL;
        d->labels = NULL;
        return os_error("%s: out of memory for %ld images of %dx%dx%d", what, n, c, h, w);
    }
    d->n = (int)n;
    d->c = c;
    d->h = h;
    d->w = w;
    return 0;
}

void os_dataset_free(os_dataset *d)
{
    if (!d)
        return;
    if (d->class_names)
        for (int i = 0; i < d->num_classes; i++)
            free(d->class_names[i]);
    free(d->class_names);
    free(d->pixels);
    free(d->labels);
    memset(d, 0, sizeof *d);
}

int os_ds_set_names(os_dataset *d, char **names, int count)
{
    if (count < d->num_classes || d->num_classes <= 0)
        return 0;
    char **v = calloc((size_t)d->num_classes, sizeof *v);
    if (!v)
        return os_error("out of memory for class names");
    for (int i = 0; i < d->num_classes; i++)
        if (!(v[i] = strdup(names[i]))) {
            for (int j = 0; j < i; j++)
                free(v[j]);
            free(v);
            return os_error("out of memory for class names");
        }
    d->class_names = v;
    return 0;
}

void os_ds_read_names(os_dataset *d, const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return;
    char *names[256];
    int count = 0;
    char line[256];
    while (count < 256 && fgets(line, sizeof line, f)) {
        size_t l = strlen(line);
        while (l > 0 && (line[l - 1] == '\n' || line[l - 1] == '\r' || line[l - 1] == ' '))
            line[--l] = 0;
        if (l == 0)
            continue;
        if (!(names[count] = strdup(line)))
            break;
        count++;
    }
    fclose(f);
    os_ds_set_names(d, names, count); /* names are optional: ignore failure */
    for (int i = 0; i < count; i++)
        free(names[i]);
}

void os_ds_set_source(os_dataset *d, const char *s)
{
    snprintf(d->source, sizeof d->source, "%.*s", (int)sizeof d->source - 1, s);
}

int os_ds_join(char *buf, size_t len, const char *dir, const char *name)
{
    int r = snprintf(buf, len, "%s/%s", dir, name);
    if (r < 0 || (size_t)r >= len)
        return os_error("path too long: %s/%s", dir, name);
    return 0;
}

bool os_ds_is_dir(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

bool os_ds_is_file(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

int os_ds_limit_per_class(os_dataset *d, int per_class)
{
    if (per_class <= 0)
        return 0;
    int32_t *keep;
    int n;
    if (os_subset_per_class(d, NULL, d->n, per_class, &keep, &n) != 0)
        return -1;
    size_t per = (size_t)d->c * d->h * d->w;
    for (int i = 0; i < n; i++) { /* keep[i] >= i: moving down in place is safe */
        if (keep[i] != i)
            memcpy(d->pixels + per * i, d->pixels + per * keep[i], per);
        d->labels[i] = d->labels[keep[i]];
    }
    free(keep);
    d->n = n;
    uint8_t *p = realloc(d->pixels, per * (size_t)n); /* shrink; keeping the old block is fine */
    if (p)
        d->pixels = p;
    return 0;
}

void os_dataset_describe(const os_dataset *d, char *buf, size_t len)
{
    snprintf(buf, len, "%s %s: %d x %dx%dx%d, %d classes", d->format, d->source, d->n, d->c, d->h,
             d->w, d->num_classes);
}
