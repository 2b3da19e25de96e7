/* tensor/safetensors.h — read and write the safetensors format.
 *
 * Layout: an 8-byte little-endian header length H, H bytes of JSON
 *     {"name": {"dtype": "F32", "shape": [2, 3], "data_offsets": [b, e]}, ...,
 *      "__metadata__": {"key": "value", ...}}
 * then the raw little-endian data; tensor bytes are data[b, e).
 *
 * Checksums: the writer puts the CRC32 (zlib's crc32, of the tensor's bytes
 * as stored) of every tensor in the metadata, under "crc32/<tensor name>",
 * as 8 lowercase hex digits, e.g. "crc32/weights/stem.conv": "1c291ca3".
 * The reader checks a tensor's checksum each time it reads the tensor: a
 * mismatch is an error naming the tensor. Files without checksums (written
 * before they existed, or by other programs) are read as before; in a file
 * with any checksum every tensor must have one, each must name a tensor of
 * the file and be 8 hex digits (else os_st_open fails). The "crc32/" keys
 * are the writer's: os_st_set_meta refuses them; os_st_meta and
 * os_st_meta_key list them like any other key.
 *
 * Reader: os_st_open validates the whole header against the file (header
 * length within the file, JSON object, known dtype, non-negative shape,
 * offsets in range, e - b = numel * dtype size, no overlaps and no holes,
 * string metadata) and keeps the file open; tensors are read on request.
 * Floats come from F32 tensors; integers (labels) from I32 or I64 tensors,
 * converted to int32 (an I64 value outside int32 is an error).
 *
 * Writer: collect tensors (copied) and metadata, then os_st_write writes
 * PATH atomically, with a checksum per tensor: to "PATH.tmp", fflush + fsync, rename over PATH, fsync the
 * directory. On any failure the temp file is removed and PATH is untouched
 * (except for a failing directory fsync, which comes after the rename).
 *
 * Failures on files are recoverable: functions return NULL or -1 and set
 * os_last_error() to "safetensors: FILE: what[, key 'name']"
 * (tensor/error.h). Misuse (NULL handle, bad index) is fatal.
 */
#ifndef OS_SAFETENSORS_H
#define OS_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>
#include "tensor/tensor.h"

#define OS_ST_MAX_DIMS 8
/* Metadata key prefix of the per-tensor checksums (see above). */
#define OS_ST_CRC_PREFIX "crc32/"

typedef struct {
    const char *name;
    const char *dtype;  /* as in the file: "F32", "I64", "F16", ... */
    int ndim;
    int64_t shape[OS_ST_MAX_DIMS];
    int64_t numel;
} os_st_info;

/* ---- reading ---------------------------------------------------------------- */
typedef struct os_st_file os_st_file;

os_st_file *os_st_open(const char *path); /* NULL + os_error on failure */
void os_st_close(os_st_file *f);
int os_st_count(const os_st_file *f);
/* Tensor i in file order (by data offset), or the one called name (NULL if absent). */
const os_st_info *os_st_at(const os_st_file *f, int i);
const os_st_info *os_st_find(const os_st_file *f, const char *name);

/* malloc'd copy of an F32 tensor (caller frees); *info (if given) describes
 * it. NULL + os_error if absent, of another dtype, unreadable or failing its
 * checksum. */
float *os_st_read_f32(os_st_file *f, const char *name, const os_st_info **info);
/* malloc'd int32 copy of an I32 or I64 tensor. */
int32_t *os_st_read_i32(os_st_file *f, const char *name, const os_st_info **info);
/* Fill t (any device, contiguous) from an F32 tensor of exactly t's shape.
 * 0, or -1 + os_error. */
int os_st_read_into(os_st_file *f, const char *name, os_tensor *t);

/* Metadata value, or NULL if the key is absent. */
const char *os_st_meta(const os_st_file *f, const char *key);
int os_st_meta_count(const os_st_file *f);
const char *os_st_meta_key(const os_st_file *f, int i);

/* ---- writing ---------------------------------------------------------------- */
typedef struct os_st_writer os_st_writer;

os_st_writer *os_st_writer_new(void);
void os_st_writer_free(os_st_writer *w);
/* Add a tensor (data copied now). -1 + os_error on a duplicate or reserved
 * name or a negative dimension. */
int os_st_add_f32(os_st_writer *w, const char *name, int ndim, const int64_t *shape, const float *data);
int os_st_add_i32(os_st_writer *w, const char *name, int ndim, const int64_t *shape, const int32_t *data);
int os_st_add_tensor(os_st_writer *w, const char *name, const os_tensor *t); /* any device/strides */
/* Set (or replace) a metadata string. -1 + os_error for a key starting with
 * "crc32/" (the writer's own, see above). */
int os_st_set_meta(os_st_writer *w, const char *key, const char *value);
/* Write everything to path atomically (see above). 0, or -1 + os_error. */
int os_st_write(const os_st_writer *w, const char *path);

#endif
