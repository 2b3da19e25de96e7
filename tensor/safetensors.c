/* tensor/safetensors.c — safetensors reader (validating) and atomic writer. */
#include "tensor/safetensors.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "safetensors data is little-endian");

#define ST_MAX_HEADER (100u << 20)   /* larger headers are refused, as upstream */
#define ST_MAX_INDEX ((int64_t)1 << 53) /* JSON numbers are exact up to here */

/* ---- shared ------------------------------------------------------------------ */
static int dtype_size(const char *d)
{
    static const struct { const char *name; int size; } table[] = {
        {"BOOL", 1}, {"U8", 1}, {"I8", 1}, {"F8_E5M2", 1}, {"F8_E4M3", 1},
        {"I16", 2}, {"U16", 2}, {"F16", 2}, {"BF16", 2},
        {"I32", 4}, {"U32", 4}, {"F32", 4},
        {"I64", 8}, {"U64", 8}, {"F64", 8},
    };
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
        if (!strcmp(d, table[i].name))
            return table[i].size;
    return 0;
}

/* numel of a shape, or -1 when it overflows the JSON-exact range */
static int64_t shape_numel(int ndim, const int64_t *shape)
{
    int64_t n = 1;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] != 0 && n > ST_MAX_INDEX / shape[i])
            return -1;
        n *= shape[i];
    }
    return n;
}

/* ---- reader -------------------------------------------------------------------- */
typedef struct {
    os_st_info info;   /* info.name / info.dtype point into the strings below */
    char *name;
    char dtype[16];
    int elem_size;
    int64_t begin, end; /* within the data section */
    int has_crc;        /* the metadata holds "crc32/<name>" */
    uint32_t crc;
} st_entry;

struct os_st_file {
    char *path;
    int fd;
    int64_t data_start, data_size;
    st_entry *e;       /* in file order (by data offset) */
    st_entry **by_name; /* the same, sorted by name: lookups in O(log n) */
    int n;
    char **meta_key, **meta_val;
    int *meta_sorted;   /* indices of the metadata, by key */
    int n_meta;
};

#define ST_FAIL(f, key, ...) st_fail((f)->path, key, __VA_ARGS__)

#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
static int st_fail(const char *path, const char *key, const char *fmt, ...)
{
    char what[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    if (key)
        return os_error("safetensors: %s: %s, key '%s'", path, what, key);
    return os_error("safetensors: %s: %s", path, what);
}

void os_st_close(os_st_file *f)
{
    if (!f)
        return;
    if (f->fd >= 0)
        close(f->fd);
    for (int i = 0; i < f->n; i++)
        free(f->e[i].name);
    for (int i = 0; i < f->n_meta; i++) {
        free(f->meta_key[i]);
        free(f->meta_val[i]);
    }
    free(f->e);
    free(f->by_name);
    free(f->meta_key);
    free(f->meta_val);
    free(f->meta_sorted);
    free(f->path);
    free(f);
}

/* a JSON number that is a whole number in [0, 2^53] */
static int json_index(const cJSON *j, int64_t *out)
{
    if (!cJSON_IsNumber(j))
        return -1;
    double v = j->valuedouble;
    if (!(v >= 0 && v <= (double)ST_MAX_INDEX) || v != (double)(int64_t)v)
        return -1;
    *out = (int64_t)v;
    return 0;
}

static int by_key(const void *pa, const void *pb, void *keys)
{
    char **k = keys;
    return strcmp(k[*(const int *)pa], k[*(const int *)pb]);
}

static int parse_metadata(os_st_file *f, const cJSON *m)
{
    if (!cJSON_IsObject(m))
        return ST_FAIL(f, "__metadata__", "metadata is not an object");
    int n = cJSON_GetArraySize(m);
    f->meta_key = calloc((size_t)n + 1, sizeof(char *));
    f->meta_val = calloc((size_t)n + 1, sizeof(char *));
    if (!f->meta_key || !f->meta_val)
        return ST_FAIL(f, NULL, "out of memory");
    for (const cJSON *kv = m->child; kv; kv = kv->next) {
        if (!cJSON_IsString(kv))
            return ST_FAIL(f, kv->string, "metadata value is not a string");
        f->meta_key[f->n_meta] = strdup(kv->string);
        f->meta_val[f->n_meta] = strdup(kv->valuestring);
        f->n_meta++;
        if (!f->meta_key[f->n_meta - 1] || !f->meta_val[f->n_meta - 1])
            return ST_FAIL(f, NULL, "out of memory");
    }
    /* an index by key; a key given twice is an error */
    if (!(f->meta_sorted = malloc(sizeof *f->meta_sorted * (size_t)(f->n_meta ? f->n_meta : 1))))
        return ST_FAIL(f, NULL, "out of memory");
    for (int i = 0; i < f->n_meta; i++)
        f->meta_sorted[i] = i;
    qsort_r(f->meta_sorted, (size_t)f->n_meta, sizeof *f->meta_sorted, by_key, f->meta_key);
    for (int i = 1; i < f->n_meta; i++)
        if (!strcmp(f->meta_key[f->meta_sorted[i - 1]], f->meta_key[f->meta_sorted[i]]))
            return ST_FAIL(f, f->meta_key[f->meta_sorted[i]], "duplicate metadata key");
    return 0;
}

static int parse_entry(os_st_file *f, const cJSON *t, st_entry *e)
{
    const char *key = t->string;
    if (!key[0])
        return ST_FAIL(f, key, "empty tensor name");
    e->name = strdup(key);
    if (!e->name)
        return ST_FAIL(f, key, "out of memory");
    e->info.name = e->name;
    if (!cJSON_IsObject(t))
        return ST_FAIL(f, key, "tensor entry is not an object");
    const cJSON *dt = cJSON_GetObjectItemCaseSensitive(t, "dtype");
    const cJSON *sh = cJSON_GetObjectItemCaseSensitive(t, "shape");
    const cJSON *off = cJSON_GetObjectItemCaseSensitive(t, "data_offsets");
    if (!cJSON_IsString(dt) || !cJSON_IsArray(sh) || !cJSON_IsArray(off))
        return ST_FAIL(f, key, "entry needs dtype (string), shape and data_offsets (arrays)");
    e->elem_size = dtype_size(dt->valuestring);
    if (!e->elem_size)
        return ST_FAIL(f, key, "unknown dtype '%.16s'", dt->valuestring);
    snprintf(e->dtype, sizeof e->dtype, "%s", dt->valuestring);
    e->info.dtype = e->dtype;
    int nd = cJSON_GetArraySize(sh);
    if (nd > OS_ST_MAX_DIMS)
        return ST_FAIL(f, key, "%d dimensions, at most %d supported", nd, OS_ST_MAX_DIMS);
    e->info.ndim = nd;
    for (int d = 0; d < nd; d++)
        if (json_index(cJSON_GetArrayItem(sh, d), &e->info.shape[d]))
            return ST_FAIL(f, key, "shape entry %d is not a non-negative integer", d);
    e->info.numel = shape_numel(nd, e->info.shape);
    if (e->info.numel < 0)
        return ST_FAIL(f, key, "shape too large");
    if (cJSON_GetArraySize(off) != 2 || json_index(cJSON_GetArrayItem(off, 0), &e->begin) ||
        json_index(cJSON_GetArrayItem(off, 1), &e->end))
        return ST_FAIL(f, key, "data_offsets is not two non-negative integers");
    if (e->begin > e->end || e->end > f->data_size)
        return ST_FAIL(f, key, "data_offsets [%lld, %lld] out of range (data has %lld bytes)",
                       (long long)e->begin, (long long)e->end, (long long)f->data_size);
    if (e->end - e->begin != e->info.numel * e->elem_size)
        return ST_FAIL(f, key, "%lld bytes of data for %lld elements of %s",
                       (long long)(e->end - e->begin), (long long)e->info.numel, e->dtype);
    return 0;
}

static int by_offset(const void *pa, const void *pb)
{
    const st_entry *a = pa, *b = pb;
    if (a->begin != b->begin)
        return a->begin < b->begin ? -1 : 1;
    return (a->end > b->end) - (a->end < b->end);
}

/* the entries, sorted by offset, must tile the data section exactly */
static int check_layout(os_st_file *f)
{
    qsort(f->e, (size_t)f->n, sizeof *f->e, by_offset);
    int64_t at = 0;
    for (int i = 0; i < f->n; i++) {
        st_entry *e = &f->e[i];
        e->info.name = e->name; /* qsort moved the entries */
        e->info.dtype = e->dtype;
        if (e->begin < at)
            return ST_FAIL(f, e->name, "data_offsets [%lld, %lld] overlap the previous tensor",
                           (long long)e->begin, (long long)e->end);
        if (e->begin > at)
            return ST_FAIL(f, e->name, "hole in the data before offset %lld", (long long)e->begin);
        at = e->end;
    }
    if (at != f->data_size)
        return ST_FAIL(f, NULL, "%lld data bytes not covered by any tensor", (long long)(f->data_size - at));
    return 0;
}

static int by_name(const void *pa, const void *pb)
{
    return strcmp((*(st_entry *const *)pa)->name, (*(st_entry *const *)pb)->name);
}

/* f->by_name for the entries where they are now; a name given twice is an
 * error (called before check_layout moves the entries, and after it) */
static int index_names(os_st_file *f)
{
    free(f->by_name);
    if (!(f->by_name = malloc(sizeof *f->by_name * (size_t)(f->n ? f->n : 1))))
        return ST_FAIL(f, NULL, "out of memory");
    for (int i = 0; i < f->n; i++)
        f->by_name[i] = &f->e[i];
    qsort(f->by_name, (size_t)f->n, sizeof *f->by_name, by_name);
    for (int i = 1; i < f->n; i++)
        if (!strcmp(f->by_name[i - 1]->name, f->by_name[i]->name))
            return ST_FAIL(f, f->by_name[i]->name, "duplicate tensor name");
    return 0;
}

static st_entry *find_entry(const os_st_file *f, const char *name);

/* 8 lowercase or uppercase hex digits */
static int parse_crc(const char *s, uint32_t *out)
{
    uint32_t v = 0;
    int i = 0;
    for (; s[i] && i < 9; i++) {
        int c = (unsigned char)s[i], d = c >= '0' && c <= '9'   ? c - '0'
                                         : c >= 'a' && c <= 'f' ? c - 'a' + 10
                                         : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                                                : -1;
        if (d < 0)
            return -1;
        v = v << 4 | (uint32_t)d;
    }
    if (i != 8 || s[i])
        return -1;
    *out = v;
    return 0;
}

/* "crc32/<name>" metadata: each names a tensor and holds 8 hex digits; when
 * any tensor has one, every tensor must */
static int attach_checksums(os_st_file *f)
{
    const size_t pl = strlen(OS_ST_CRC_PREFIX);
    int n_crc = 0;
    for (int i = 0; i < f->n_meta; i++) {
        const char *k = f->meta_key[i];
        if (strncmp(k, OS_ST_CRC_PREFIX, pl))
            continue;
        st_entry *e = find_entry(f, k + pl);
        if (!e)
            return ST_FAIL(f, k, "checksum for a tensor that is not in the file (the header is damaged)");
        if (e->has_crc)
            return ST_FAIL(f, k, "duplicate checksum (the header is damaged)");
        if (parse_crc(f->meta_val[i], &e->crc))
            return ST_FAIL(f, k, "checksum '%.40s' is not 8 hex digits (the header is damaged)", f->meta_val[i]);
        e->has_crc = 1;
        n_crc++;
    }
    for (int i = 0; n_crc && i < f->n; i++)
        if (!f->e[i].has_crc)
            return ST_FAIL(f, f->e[i].name, "no checksum for this tensor while the others have one "
                           "(the header is damaged)");
    return 0;
}

static int parse_header(os_st_file *f, const char *text, size_t len)
{
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(text, len, &end, 0);
    if (!root)
        return ST_FAIL(f, NULL, "header is not valid JSON (near byte %lld)",
                       (long long)(cJSON_GetErrorPtr() ? cJSON_GetErrorPtr() - text : 0));
    int rc = 0;
    for (const char *c = end; c < text + len && !rc; c++)
        if (*c != ' ' && *c != '\t' && *c != '\n' && *c != '\r')
            rc = ST_FAIL(f, NULL, "trailing bytes after the JSON header");
    if (!rc && !cJSON_IsObject(root))
        rc = ST_FAIL(f, NULL, "header is not a JSON object");
    int n = rc ? 0 : cJSON_GetArraySize(root);
    if (!rc && !(f->e = calloc((size_t)n + 1, sizeof *f->e)))
        rc = ST_FAIL(f, NULL, "out of memory");
    for (const cJSON *t = rc ? NULL : root->child; t && !rc; t = t->next) {
        if (!strcmp(t->string, "__metadata__")) {
            if (f->meta_key)
                rc = ST_FAIL(f, "__metadata__", "duplicate metadata");
            else
                rc = parse_metadata(f, t);
        } else {
            rc = parse_entry(f, t, &f->e[f->n++]);
        }
    }
    cJSON_Delete(root);
    return rc || index_names(f) || check_layout(f) || index_names(f) ? -1 : attach_checksums(f);
}

static int read_exact(int fd, void *buf, size_t n, int64_t at)
{
    char *p = buf;
    while (n) {
        ssize_t r = pread(fd, p, n, (off_t)at);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return -1;
        p += r;
        n -= (size_t)r;
        at += r;
    }
    return 0;
}

os_st_file *os_st_open(const char *path)
{
    os_st_file *f = calloc(1, sizeof *f);
    if (!f || !(f->path = strdup(path))) {
        free(f);
        os_error("safetensors: %s: out of memory", path);
        return NULL;
    }
    f->fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat sb;
    unsigned char len8[8];
    char *header = NULL;
    int rc = 0;
    if (f->fd < 0 || fstat(f->fd, &sb))
        rc = ST_FAIL(f, NULL, "cannot open: %s", strerror(errno));
    else if (!S_ISREG(sb.st_mode))
        rc = ST_FAIL(f, NULL, "not a regular file");
    else if (sb.st_size < 8)
        rc = ST_FAIL(f, NULL, "truncated: %lld bytes, shorter than the 8-byte header length",
                     (long long)sb.st_size);
    else if (read_exact(f->fd, len8, 8, 0))
        rc = ST_FAIL(f, NULL, "cannot read the header length");
    if (!rc) {
        uint64_t hlen = 0;
        for (int i = 7; i >= 0; i--)
            hlen = hlen << 8 | len8[i];
        if (hlen > (uint64_t)sb.st_size - 8)
            rc = ST_FAIL(f, NULL, "header length %llu beyond the file (%lld bytes)",
                         (unsigned long long)hlen, (long long)sb.st_size);
        else if (hlen > ST_MAX_HEADER)
            rc = ST_FAIL(f, NULL, "header length %llu too large", (unsigned long long)hlen);
        else if (!(header = malloc(hlen + 1)))
            rc = ST_FAIL(f, NULL, "out of memory");
        else if (read_exact(f->fd, header, hlen, 8))
            rc = ST_FAIL(f, NULL, "cannot read the header");
        if (!rc) {
            header[hlen] = 0;
            f->data_start = 8 + (int64_t)hlen;
            f->data_size = (int64_t)sb.st_size - f->data_start;
            rc = parse_header(f, header, hlen);
        }
    }
    free(header);
    if (rc) {
        os_st_close(f);
        return NULL;
    }
    return f;
}

static void check_handle(const os_st_file *f, const char *fn)
{
    if (!f)
        os_fatal("%s: NULL safetensors file", fn);
}

int os_st_count(const os_st_file *f)
{
    check_handle(f, "st_count");
    return f->n;
}

const os_st_info *os_st_at(const os_st_file *f, int i)
{
    check_handle(f, "st_at");
    if (i < 0 || i >= f->n)
        os_fatal("st_at: index %d out of range 0..%d in %s", i, f->n - 1, f->path);
    return &f->e[i].info;
}

static st_entry *find_entry(const os_st_file *f, const char *name)
{
    int lo = 0, hi = f->n - 1;
    while (lo <= hi) {
        int mid = lo + (hi - lo) / 2, c = strcmp(f->by_name[mid]->name, name);
        if (!c)
            return f->by_name[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid - 1;
    }
    return NULL;
}

const os_st_info *os_st_find(const os_st_file *f, const char *name)
{
    check_handle(f, "st_find");
    st_entry *e = find_entry(f, name);
    return e ? &e->info : NULL;
}

/* the raw bytes of tensor `name` if its dtype is one of the allowed ones */
static void *read_raw(os_st_file *f, const char *name, const char *const *dtypes, int n_dtypes,
                      st_entry **out)
{
    check_handle(f, "st_read");
    st_entry *e = find_entry(f, name);
    if (!e) {
        ST_FAIL(f, name, "no such tensor");
        return NULL;
    }
    int ok = 0;
    for (int i = 0; i < n_dtypes; i++)
        ok |= !strcmp(e->dtype, dtypes[i]);
    if (!ok) {
        ST_FAIL(f, name, "dtype %s, expected %s%s%s", e->dtype, dtypes[0],
                n_dtypes > 1 ? " or " : "", n_dtypes > 1 ? dtypes[1] : "");
        return NULL;
    }
    size_t bytes = (size_t)(e->end - e->begin);
    void *buf = malloc(bytes ? bytes : 1);
    if (!buf) {
        ST_FAIL(f, name, "out of memory for %zu bytes", bytes);
        return NULL;
    }
    if (read_exact(f->fd, buf, bytes, f->data_start + e->begin)) {
        free(buf);
        ST_FAIL(f, name, "cannot read the data (file changed or truncated?)");
        return NULL;
    }
    uint32_t crc;
    if (e->has_crc && (crc = (uint32_t)crc32_z(0L, buf, bytes)) != e->crc) {
        free(buf);
        os_error("safetensors: %s: tensor '%s' fails its CRC32 check (data %08x, checksum %08x): the file "
                 "was damaged after it was written; use an intact copy", f->path, name, crc, e->crc);
        return NULL;
    }
    *out = e;
    return buf;
}

float *os_st_read_f32(os_st_file *f, const char *name, const os_st_info **info)
{
    static const char *const dt[] = {"F32"};
    st_entry *e;
    float *v = read_raw(f, name, dt, 1, &e);
    if (v && info)
        *info = &e->info;
    return v;
}

int32_t *os_st_read_i32(os_st_file *f, const char *name, const os_st_info **info)
{
    static const char *const dt[] = {"I32", "I64"};
    st_entry *e;
    void *raw = read_raw(f, name, dt, 2, &e);
    if (!raw)
        return NULL;
    if (!strcmp(e->dtype, "I64")) {
        const int64_t *w = raw;
        int32_t *v = raw; /* narrowing in place: v[i] is written after w[i] is read */
        for (int64_t i = 0; i < e->info.numel; i++) {
            int64_t x = w[i];
            if (x < INT32_MIN || x > INT32_MAX) {
                free(raw);
                ST_FAIL(f, name, "I64 value %lld at index %lld does not fit int32", (long long)x, (long long)i);
                return NULL;
            }
            v[i] = (int32_t)x;
        }
    }
    if (info)
        *info = &e->info;
    return raw;
}

int os_st_read_into(os_st_file *f, const char *name, os_tensor *t)
{
    check_handle(f, "st_read_into");
    st_entry *e = find_entry(f, name);
    int same = e && e->info.ndim == t->ndim;
    for (int d = 0; same && d < t->ndim; d++)
        same = e->info.shape[d] == t->shape[d];
    if (e && !same) {
        char fs[96] = "[";
        for (int d = 0; d < e->info.ndim; d++)
            snprintf(fs + strlen(fs), sizeof fs - strlen(fs), "%s%lld", d ? "," : "",
                     (long long)e->info.shape[d]);
        snprintf(fs + strlen(fs), sizeof fs - strlen(fs), "]");
        return ST_FAIL(f, name, "shape %s in the file, %s expected", fs, os_shape_str(t));
    }
    float *v = os_st_read_f32(f, name, NULL);
    if (!v)
        return -1;
    os_tensor_from_host(t, v);
    free(v);
    return 0;
}

const char *os_st_meta(const os_st_file *f, const char *key)
{
    check_handle(f, "st_meta");
    int lo = 0, hi = f->n_meta - 1;
    while (lo <= hi) {
        int mid = lo + (hi - lo) / 2, k = f->meta_sorted[mid], c = strcmp(f->meta_key[k], key);
        if (!c)
            return f->meta_val[k];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid - 1;
    }
    return NULL;
}

int os_st_meta_count(const os_st_file *f)
{
    check_handle(f, "st_meta_count");
    return f->n_meta;
}

const char *os_st_meta_key(const os_st_file *f, int i)
{
    check_handle(f, "st_meta_key");
    if (i < 0 || i >= f->n_meta)
        os_fatal("st_meta_key: index %d out of range 0..%d in %s", i, f->n_meta - 1, f->path);
    return f->meta_key[i];
}
