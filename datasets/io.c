/* datasets/io.c — whole-file reads and in-memory gzip decompression. */
#include "datasets/datasets.h"
#include "tensor/error.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

int os_read_file(const char *path, uint8_t **buf, size_t *len)
{
    *buf = NULL;
    *len = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return os_error("cannot open %s: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return os_error("cannot read %s: %s", path, strerror(e));
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return os_error("cannot read %s: %s", path,
                        S_ISDIR(st.st_mode) ? "is a directory" : "not a regular file");
    }
    size_t size = (size_t)st.st_size;
    uint8_t *b = malloc(size ? size : 1);
    if (!b) {
        close(fd);
        return os_error("cannot read %s: out of memory for %zu bytes", path, size);
    }
    size_t got = 0;
    while (got < size) {
        ssize_t r = read(fd, b + got, size - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            int e = r < 0 ? errno : 0;
            close(fd);
            free(b);
            return os_error("cannot read %s: %s at byte offset %zu", path,
                            e ? strerror(e) : "file shrank while reading", got);
        }
        got += (size_t)r;
    }
    close(fd);
    *buf = b;
    *len = size;
    return 0;
}

/* Feed at most this much to zlib at once (its counters are 32-bit). */
#define GZ_CHUNK ((size_t)1 << 30)

int os_gunzip(const uint8_t *buf, size_t len, size_t max_out, const char *name, uint8_t **out,
              size_t *out_len)
{
    *out = NULL;
    *out_len = 0;
    if (len < 2 || buf[0] != 0x1f || buf[1] != 0x8b)
        return os_error("%s: not gzip data (no 1f 8b magic at byte 0)", name);
    size_t cap = len * 4 < 65536 ? 65536 : len * 4;
    if (cap > max_out)
        cap = max_out ? max_out : 1;
    uint8_t *o = malloc(cap);
    if (!o)
        return os_error("%s: out of memory decompressing", name);
    z_stream zs;
    memset(&zs, 0, sizeof zs);
    if (inflateInit2(&zs, 15 + 16) != Z_OK) {
        free(o);
        return os_error("%s: zlib init failed", name);
    }
    size_t in_pos = 0, o_len = 0;
    int rc = Z_OK;
    for (;;) {
        if (zs.avail_in == 0 && in_pos < len) {
            size_t n = len - in_pos < GZ_CHUNK ? len - in_pos : GZ_CHUNK;
            zs.next_in = (Bytef *)(buf + in_pos);
            zs.avail_in = (uInt)n;
            in_pos += n;
        }
        if (o_len == cap) {
            if (cap >= max_out) {
                inflateEnd(&zs);
                free(o);
                return os_error("%s: decompressed data exceeds %zu bytes", name, max_out);
            }
            size_t ncap = cap > max_out / 2 ? max_out : cap * 2;
            uint8_t *no = realloc(o, ncap);
            if (!no) {
                inflateEnd(&zs);
                free(o);
                return os_error("%s: out of memory decompressing (%zu bytes)", name, ncap);
            }
            o = no;
            cap = ncap;
        }
        size_t room = cap - o_len < GZ_CHUNK ? cap - o_len : GZ_CHUNK;
        zs.next_out = o + o_len;
        zs.avail_out = (uInt)room;
        size_t consumed_before = in_pos - zs.avail_in;
        rc = inflate(&zs, Z_NO_FLUSH);
        o_len += room - zs.avail_out;
        size_t consumed = in_pos - zs.avail_in;
        if (rc == Z_STREAM_END) {
            if (consumed == len)
                break;
            /* another gzip member follows, or trailing bytes */
            if (len - consumed < 2 || buf[consumed] != 0x1f || buf[consumed + 1] != 0x8b) {
                inflateEnd(&zs);
                free(o);
                return os_error("%s: trailing bytes after the gzip stream at byte offset %zu", name,
                                consumed);
            }
            inflateReset(&zs);
            continue;
        }
        if (rc == Z_BUF_ERROR && consumed == len && consumed == consumed_before && zs.avail_out > 0) {
            inflateEnd(&zs);
            free(o);
            return os_error("%s: truncated gzip data (ends at byte offset %zu)", name, len);
        }
        if (rc != Z_OK && rc != Z_BUF_ERROR) {
            size_t at = consumed;
            const char *msg = zs.msg ? zs.msg : "error";
            char m[128];
            snprintf(m, sizeof m, "%s", msg);
            inflateEnd(&zs);
            free(o);
            return os_error("%s: corrupt gzip data near byte offset %zu: %s", name, at, m);
        }
    }
    inflateEnd(&zs);
    *out = o;
    *out_len = o_len;
    return 0;
}
