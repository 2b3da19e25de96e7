/* tensor/safetensors_write.c — the safetensors writer (atomic replace).
 * The reader is in tensor/safetensors.c; the format in tensor/safetensors.h. */
#include "tensor/safetensors.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

typedef struct {
    char *name;
    const char *dtype; /* "F32" or "I32" */
    int ndim;
    int64_t shape[OS_ST_MAX_DIMS];
    void *data;
    size_t bytes;
} wr_entry;

struct os_st_writer {
    wr_entry *e;
    int n, cap;
    char **meta_key, **meta_val;
    int n_meta, meta_cap;
};

os_st_writer *os_st_writer_new(void)
{
    os_st_writer *w = calloc(1, sizeof *w);
    if (!w)
        os_fatal("st_writer_new: out of host memory");
    return w;
}

void os_st_writer_free(os_st_writer *w)
{
    if (!w)
        return;
    for (int i = 0; i < w->n; i++) {
        free(w->e[i].name);
        free(w->e[i].data);
    }
    for (int i = 0; i < w->n_meta; i++) {
        free(w->meta_key[i]);
        free(w->meta_val[i]);
    }
    free(w->e);
    free(w->meta_key);
    free(w->meta_val);
    free(w);
}

static void *grow(void *p, int *cap, size_t elem)
{
    *cap = *cap ? 2 * *cap : 16;
    p = realloc(p, elem * (size_t)*cap);
    if (!p)
        os_fatal("safetensors writer: out of host memory");
    return p;
}

/* a new entry for name/shape with room for the data, or NULL + os_error */
static wr_entry *add_entry(os_st_writer *w, const char *name, const char *dtype, int ndim,
                           const int64_t *shape)
{
    if (!w)
        os_fatal("st_add: NULL writer");
    if (!name || !name[0] || !strcmp(name, "__metadata__")) {
        os_error("safetensors: writer: invalid tensor name, key '%s'", name ? name : "(null)");
        return NULL;
    }
    for (int i = 0; i < w->n; i++)
        if (!strcmp(w->e[i].name, name)) {
            os_error("safetensors: writer: duplicate tensor name, key '%s'", name);
            return NULL;
        }
    if (ndim < 0 || ndim > OS_ST_MAX_DIMS) {
        os_error("safetensors: writer: %d dimensions (0..%d), key '%s'", ndim, OS_ST_MAX_DIMS, name);
        return NULL;
    }
    size_t numel = 1;
    for (int d = 0; d < ndim; d++) {
        if (shape[d] < 0 || (shape[d] && numel > ((size_t)1 << 50) / (size_t)shape[d])) {
            os_error("safetensors: writer: invalid dimension %lld, key '%s'", (long long)shape[d], name);
            return NULL;
        }
        numel *= (size_t)shape[d];
    }
    if (w->n == w->cap)
        w->e = grow(w->e, &w->cap, sizeof *w->e);
    wr_entry *e = &w->e[w->n];
    memset(e, 0, sizeof *e);
    e->name = strdup(name);
    e->dtype = dtype;
    e->ndim = ndim;
    if (ndim)
        memcpy(e->shape, shape, sizeof(int64_t) * (size_t)ndim);
    e->bytes = numel * 4;
    e->data = malloc(e->bytes ? e->bytes : 1);
    if (!e->name || !e->data)
        os_fatal("safetensors writer: out of host memory for '%s'", name);
    w->n++;
    return e;
}

int os_st_add_f32(os_st_writer *w, const char *name, int ndim, const int64_t *shape, const float *data)
{
    wr_entry *e = add_entry(w, name, "F32", ndim, shape);
    if (!e)
        return -1;
    memcpy(e->data, data, e->bytes);
    return 0;
}

int os_st_add_i32(os_st_writer *w, const char *name, int ndim, const int64_t *shape, const int32_t *data)
{
    wr_entry *e = add_entry(w, name, "I32", ndim, shape);
    if (!e)
        return -1;
    memcpy(e->data, data, e->bytes);
    return 0;
}

int os_st_add_tensor(os_st_writer *w, const char *name, const os_tensor *t)
{
    int64_t shape[OS_MAX_DIMS];
    for (int d = 0; d < t->ndim; d++)
        shape[d] = t->shape[d];
    wr_entry *e = add_entry(w, name, "F32", t->ndim, shape);
    if (!e)
        return -1;
    os_tensor_to_host(t, e->data);
    return 0;
}

int os_st_set_meta(os_st_writer *w, const char *key, const char *value)
{
    if (!w || !key || !value)
        os_fatal("st_set_meta: NULL argument");
    if (!strncmp(key, OS_ST_CRC_PREFIX, strlen(OS_ST_CRC_PREFIX)))
        return os_error("safetensors: writer: metadata keys starting with '%s' are the writer's checksums, "
                        "key '%s'", OS_ST_CRC_PREFIX, key);
    char *v = strdup(value);
    if (!v)
        os_fatal("st_set_meta: out of host memory");
    for (int i = 0; i < w->n_meta; i++)
        if (!strcmp(w->meta_key[i], key)) {
            free(w->meta_val[i]);
            w->meta_val[i] = v;
            return 0;
        }
    if (w->n_meta == w->meta_cap) {
        int cap = w->meta_cap;
        w->meta_key = grow(w->meta_key, &cap, sizeof(char *));
        w->meta_val = grow(w->meta_val, &w->meta_cap, sizeof(char *));
    }
    w->meta_key[w->n_meta] = strdup(key);
    w->meta_val[w->n_meta] = v;
    if (!w->meta_key[w->n_meta])
        os_fatal("st_set_meta: out of host memory");
    w->n_meta++;
    return 0;
}

/* the JSON header, padded with spaces to a multiple of 8 bytes (malloc'd) */
static char *build_header(const os_st_writer *w, size_t *len)
{
    cJSON *root = cJSON_CreateObject();
    if (w->n_meta || w->n) {
        cJSON *m = cJSON_AddObjectToObject(root, "__metadata__");
        for (int i = 0; i < w->n_meta; i++)
            cJSON_AddStringToObject(m, w->meta_key[i], w->meta_val[i]);
        for (int i = 0; i < w->n; i++) {
            size_t kl = strlen(OS_ST_CRC_PREFIX) + strlen(w->e[i].name) + 1;
            char *key = malloc(kl), crc[16];
            if (!key)
                os_fatal("safetensors writer: out of host memory for the header");
            snprintf(key, kl, "%s%s", OS_ST_CRC_PREFIX, w->e[i].name);
            snprintf(crc, sizeof crc, "%08lx", crc32_z(0L, w->e[i].data, w->e[i].bytes));
            cJSON_AddStringToObject(m, key, crc);
            free(key);
        }
    }
    size_t at = 0;
    for (int i = 0; i < w->n; i++) {
        const wr_entry *e = &w->e[i];
        cJSON *t = cJSON_AddObjectToObject(root, e->name);
        cJSON_AddStringToObject(t, "dtype", e->dtype);
        cJSON *sh = cJSON_AddArrayToObject(t, "shape");
        for (int d = 0; d < e->ndim; d++)
            cJSON_AddItemToArray(sh, cJSON_CreateNumber((double)e->shape[d]));
        cJSON *off = cJSON_AddArrayToObject(t, "data_offsets");
        cJSON_AddItemToArray(off, cJSON_CreateNumber((double)at));
        cJSON_AddItemToArray(off, cJSON_CreateNumber((double)(at + e->bytes)));
        at += e->bytes;
    }
    char *text = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    if (!text)
        os_fatal("safetensors writer: out of host memory for the header");
    size_t n = strlen(text), padded = (n + 7) & ~(size_t)7;
    char *h = realloc(text, padded + 1);
    if (!h)
        os_fatal("safetensors writer: out of host memory for the header");
    memset(h + n, ' ', padded - n);
    h[padded] = 0;
    *len = padded;
    return h;
}

/* fsync the directory holding path, so the rename is durable */
static int sync_dir(const char *path)
{
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (!slash)
        snprintf(dir, sizeof dir, ".");
    else if (slash == dir)
        dir[1] = 0;
    else
        *slash = 0;
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    int rc = fsync(fd);
    if (rc && (errno == EINVAL || errno == EROFS)) /* directories that cannot be synced */
        rc = 0;
    int e = errno;
    close(fd);
    errno = e;
    return rc;
}

int os_st_write(const os_st_writer *w, const char *path)
{
    if (!w || !path)
        os_fatal("st_write: NULL argument");
    size_t hlen;
    char *header = build_header(w, &hlen);
    size_t plen = strlen(path);
    char *tmp = malloc(plen + 5);
    if (!tmp)
        os_fatal("st_write: out of host memory");
    memcpy(tmp, path, plen);
    memcpy(tmp + plen, ".tmp", 5);

    const char *what = NULL;
    FILE *fp = fopen(tmp, "wb");
    if (!fp) {
        int e = errno;
        free(header);
        free(tmp);
        return os_error("safetensors: %s: cannot create the temp file: %s", path, strerror(e));
    }
    unsigned char len8[8];
    for (int i = 0; i < 8; i++)
        len8[i] = (unsigned char)((uint64_t)hlen >> (8 * i));
    if (fwrite(len8, 1, 8, fp) != 8 || fwrite(header, 1, hlen, fp) != hlen)
        what = "writing the header";
    for (int i = 0; i < w->n && !what; i++)
        if (fwrite(w->e[i].data, 1, w->e[i].bytes, fp) != w->e[i].bytes)
            what = "writing the data";
    if (!what && fflush(fp))
        what = "flushing";
    if (!what && fsync(fileno(fp)))
        what = "syncing";
    int e = errno;
    if (fclose(fp) && !what) {
        what = "closing";
        e = errno;
    }
    if (!what && rename(tmp, path)) {
        what = "renaming the temp file";
        e = errno;
    }
    free(header);
    if (what) {
        unlink(tmp);
        free(tmp);
        return os_error("safetensors: %s: %s failed: %s (the previous file is untouched)", path, what,
                        strerror(e));
    }
    free(tmp);
    if (sync_dir(path))
        return os_error("safetensors: %s: syncing the directory failed after the rename: %s", path,
                        strerror(errno));
    return 0;
}
