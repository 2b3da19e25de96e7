/* tests/test_safetensors.c — safetensors round trip, metadata, every rejected
 * kind of bad file, and the atomic writer's failure paths. */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "tensor/safetensors.h"
#include "tests/test_util.h"

static char tdir[64];

static void make_dir(void)
{
    snprintf(tdir, sizeof tdir, "/tmp/os_st_XXXXXX");
    cr_assert(mkdtemp(tdir), "mkdtemp failed");
}

static void remove_dir(void)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tdir);
    cr_expect_eq(system(cmd), 0);
}

static const char *tpath(const char *name)
{
    static char p[4][128];
    static int k;
    k = (k + 1) % 4;
    snprintf(p[k], sizeof p[k], "%s/%s", tdir, name);
    return p[k];
}

/* a file of an 8-byte length (of the given header) + header + n raw data bytes */
static const char *raw_file(const char *name, const char *header, const void *data, size_t n)
{
    const char *p = tpath(name);
    FILE *f = fopen(p, "wb");
    cr_assert(f);
    uint64_t len = strlen(header);
    unsigned char l8[8];
    for (int i = 0; i < 8; i++)
        l8[i] = (unsigned char)(len >> (8 * i));
    fwrite(l8, 1, 8, f);
    fwrite(header, 1, len, f);
    if (n)
        fwrite(data, 1, n, f);
    fclose(f);
    return p;
}

static long file_size(const char *p)
{
    struct stat sb;
    return stat(p, &sb) ? -1 : (long)sb.st_size;
}

/* open must fail and the message must name the file and contain every substring */
#define EXPECT_BAD(path, ...)                                                              \
    do {                                                                                   \
        os_st_file *f_ = os_st_open(path);                                                 \
        cr_expect_null(f_, "%s opened", path);                                             \
        os_st_close(f_);                                                                   \
        const char *subs_[] = {path, __VA_ARGS__};                                         \
        for (size_t i_ = 0; i_ < sizeof subs_ / sizeof subs_[0]; i_++)                     \
            cr_expect(strstr(os_last_error(), subs_[i_]), "error '%s' lacks '%s'",         \
                      os_last_error(), subs_[i_]);                                         \
    } while (0)

static float data24[24];

static os_st_writer *sample_writer(void)
{
    for (int i = 0; i < 24; i++)
        data24[i] = 0.5f * (float)i - 3.25f;
    os_st_writer *w = os_st_writer_new();
    int64_t s234[3] = {2, 3, 4}, s5[1] = {5}, s0[1] = {0};
    int32_t lab[5] = {3, -1, 0, 2147483647, 7};
    cr_assert_eq(os_st_add_f32(w, "x", 3, s234, data24), 0);
    cr_assert_eq(os_st_add_i32(w, "labels", 1, s5, lab), 0);
    cr_assert_eq(os_st_add_f32(w, "scalar", 0, NULL, data24 + 3), 0);
    cr_assert_eq(os_st_add_f32(w, "empty", 1, s0, data24), 0);
    cr_assert_eq(os_st_set_meta(w, "stride", "2"), 0);
    cr_assert_eq(os_st_set_meta(w, "note", "quote \" and \\ survive"), 0);
    return w;
}

Test(safetensors, round_trip, .init = make_dir, .fini = remove_dir)
{
    os_st_writer *w = sample_writer();
    const char *p = tpath("a.safetensors");
    cr_assert_eq(os_st_write(w, p), 0, "%s", os_last_error());
    os_st_writer_free(w);
    cr_expect_eq(file_size(tpath("a.safetensors.tmp")), -1, "temp file left behind");
    /* header padded to 8 bytes: 8 + H + data, H % 8 == 0 */
    cr_expect_eq((file_size(p) - 8 - (24 + 5 + 1) * 4) % 8, 0);

    os_st_file *f = os_st_open(p);
    cr_assert_not_null(f, "%s", os_last_error());
    cr_expect_eq(os_st_count(f), 4);
    cr_expect_str_eq(os_st_at(f, 0)->name, "x"); /* file order = data order */
    cr_expect_str_eq(os_st_at(f, 1)->name, "labels");
    const os_st_info *in = NULL;
    float *x = os_st_read_f32(f, "x", &in);
    cr_assert_not_null(x, "%s", os_last_error());
    cr_expect_eq(in->ndim, 3);
    cr_expect_eq(in->shape[0], 2);
    cr_expect_eq(in->shape[2], 4);
    cr_expect_eq(in->numel, 24);
    cr_expect_str_eq(in->dtype, "F32");
    cr_expect_eq(memcmp(x, data24, sizeof data24), 0);
    free(x);
    int32_t *lab = os_st_read_i32(f, "labels", &in);
    cr_assert_not_null(lab);
    cr_expect_eq(lab[0], 3);
    cr_expect_eq(lab[1], -1);
    cr_expect_eq(lab[3], 2147483647);
    cr_expect_eq(in->numel, 5);
    free(lab);
    float *s = os_st_read_f32(f, "scalar", &in);
    cr_assert_not_null(s);
    cr_expect_eq(in->ndim, 0);
    cr_expect_eq(in->numel, 1);
    cr_expect_float_eq(s[0], data24[3], 0);
    free(s);
    float *e = os_st_read_f32(f, "empty", &in);
    cr_expect_not_null(e);
    cr_expect_eq(in->numel, 0);
    free(e);

    cr_expect_str_eq(os_st_meta(f, "stride"), "2");
    cr_expect_str_eq(os_st_meta(f, "note"), "quote \" and \\ survive");
    cr_expect_null(os_st_meta(f, "absent"));
    cr_expect_eq(os_st_meta_count(f), 2 + 4); /* and a checksum per tensor */
    const char *crc = os_st_meta(f, "crc32/x");
    cr_expect(crc && strlen(crc) == 8 && strspn(crc, "0123456789abcdef") == 8, "crc32/x = %s", crc);
    cr_expect_null(os_st_find(f, "nope"));

    /* wrong dtype and absent tensors are recoverable errors naming the key */
    cr_expect_null(os_st_read_f32(f, "labels", NULL));
    cr_expect(strstr(os_last_error(), "key 'labels'") && strstr(os_last_error(), "dtype I32"),
              "%s", os_last_error());
    cr_expect_null(os_st_read_i32(f, "x", NULL));
    cr_expect(strstr(os_last_error(), "key 'x'"), "%s", os_last_error());
    cr_expect_null(os_st_read_f32(f, "nope", NULL));
    cr_expect(strstr(os_last_error(), "no such tensor, key 'nope'"), "%s", os_last_error());

    /* into a tensor: exact shape required */
    os_tensor *t = os_tensor_new(3, (int[]){2, 3, 4});
    cr_expect_eq(os_st_read_into(f, "x", t), 0);
    cr_expect_float_eq(t->data[23], data24[23], 0);
    os_tensor *t2 = os_tensor_new(2, (int[]){6, 4});
    cr_expect_eq(os_st_read_into(f, "x", t2), -1);
    cr_expect(strstr(os_last_error(), "shape [2,3,4] in the file, [6,4] expected"), "%s", os_last_error());
    os_st_close(f);
    os_step_reset();
}

Test(safetensors, tensor_round_trip_and_rewrite, .init = make_dir, .fini = remove_dir)
{
    os_tensor *t = os_tensor_new4(2, 3, 2, 2);
    for (int i = 0; i < 24; i++)
        t->data[i] = (float)i;
    os_tensor *v = os_view_channels(t, 1, 2); /* strided view */
    os_st_writer *w = os_st_writer_new();
    cr_assert_eq(os_st_add_tensor(w, "v", v), 0);
    cr_expect_eq(os_st_add_tensor(w, "v", t), -1, "duplicate accepted");
    cr_expect(strstr(os_last_error(), "duplicate tensor name, key 'v'"));
    cr_expect_eq(os_st_add_tensor(w, "__metadata__", t), -1);
    const char *p = tpath("t.safetensors");
    cr_assert_eq(os_st_write(w, p), 0, "%s", os_last_error());
    cr_assert_eq(os_st_write(w, p), 0, "rewrite over an existing file: %s", os_last_error());
    os_st_writer_free(w);
    os_st_file *f = os_st_open(p);
    cr_assert_not_null(f);
    os_tensor *u = os_tensor_new4(2, 2, 2, 2);
    cr_assert_eq(os_st_read_into(f, "v", u), 0);
    cr_expect_float_eq(u->data[0], 4.0f, 0);
    cr_expect_float_eq(u->data[4], 8.0f, 0);
    cr_expect_float_eq(u->data[8], 16.0f, 0);
    cr_expect_float_eq(u->data[15], 23.0f, 0);
    os_st_close(f);
    os_step_reset();
}

Test(safetensors, i64_labels, .init = make_dir, .fini = remove_dir)
{
    int64_t v[3] = {4, -2, 9};
    const char *p = raw_file("i64", "{\"y\":{\"dtype\":\"I64\",\"shape\":[3],\"data_offsets\":[0,24]}}", v, 24);
    os_st_file *f = os_st_open(p);
    cr_assert_not_null(f, "%s", os_last_error());
    int32_t *y = os_st_read_i32(f, "y", NULL);
    cr_assert_not_null(y);
    cr_expect_eq(y[0], 4);
    cr_expect_eq(y[1], -2);
    cr_expect_eq(y[2], 9);
    free(y);
    os_st_close(f);

    int64_t big[3] = {1, (int64_t)1 << 40, 2};
    p = raw_file("i64big", "{\"y\":{\"dtype\":\"I64\",\"shape\":[3],\"data_offsets\":[0,24]}}", big, 24);
    f = os_st_open(p);
    cr_assert_not_null(f);
    cr_expect_null(os_st_read_i32(f, "y", NULL));
    cr_expect(strstr(os_last_error(), "does not fit int32, key 'y'"), "%s", os_last_error());
    os_st_close(f);
}

Test(safetensors, bad_files, .init = make_dir, .fini = remove_dir)
{
    float d[8] = {0};
    const char *p;
    EXPECT_BAD(tpath("missing"), "cannot open");
    p = tpath("short");
    FILE *fs = fopen(p, "wb");
    fwrite("\x10\0\0", 1, 3, fs);
    fclose(fs);
    EXPECT_BAD(p, "truncated");
    p = raw_file("dir_ok", "{}", NULL, 0);
    os_st_file *ok = os_st_open(p); /* an empty file set is valid */
    cr_expect_not_null(ok, "%s", os_last_error());
    os_st_close(ok);

    /* header length beyond the file: write a valid header then cut it */
    p = raw_file("hlen", "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", d, 8);
    cr_assert_eq(truncate(p, 20), 0);
    EXPECT_BAD(p, "header length", "beyond the file");

    EXPECT_BAD(raw_file("json", "{\"a\": {\"dtype\": \"F32\",", NULL, 0), "not valid JSON");
    EXPECT_BAD(raw_file("notobj", "[1, 2]", NULL, 0), "not a JSON object");
    EXPECT_BAD(raw_file("trail", "{} x", NULL, 0), "trailing bytes");
    EXPECT_BAD(raw_file("range", "{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}", d, 8),
               "out of range", "key 'a'");
    EXPECT_BAD(raw_file("rev", "{\"a\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[8,0]}}", d, 8),
               "out of range", "key 'a'");
    EXPECT_BAD(raw_file("overlap",
                        "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                        "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", d, 12),
               "overlap", "key 'b'");
    EXPECT_BAD(raw_file("hole",
                        "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
                        "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,12]}}", d, 12),
               "hole", "key 'b'");
    EXPECT_BAD(raw_file("extra", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", d, 8),
               "4 data bytes not covered");
    EXPECT_BAD(raw_file("dtype", "{\"a\":{\"dtype\":\"Q7\",\"shape\":[2],\"data_offsets\":[0,8]}}", d, 8),
               "unknown dtype 'Q7'", "key 'a'");
    EXPECT_BAD(raw_file("size", "{\"a\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,20]}}", d, 20),
               "20 bytes of data for 6 elements of F32", "key 'a'");
    EXPECT_BAD(raw_file("neg", "{\"a\":{\"dtype\":\"F32\",\"shape\":[-2],\"data_offsets\":[0,8]}}", d, 8),
               "shape entry 0", "key 'a'");
    EXPECT_BAD(raw_file("frac", "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,7.5]}}", d, 8),
               "data_offsets", "key 'a'");
    EXPECT_BAD(raw_file("nooff", "{\"a\":{\"dtype\":\"F32\",\"shape\":[2]}}", d, 8), "key 'a'");
    EXPECT_BAD(raw_file("entry", "{\"a\":7}", NULL, 0), "not an object", "key 'a'");
    EXPECT_BAD(raw_file("dup",
                        "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
                        "\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", d, 8),
               "duplicate tensor name", "key 'a'");
    EXPECT_BAD(raw_file("meta", "{\"__metadata__\":{\"k\":3}}", NULL, 0), "not a string", "key 'k'");
    EXPECT_BAD(raw_file("meta2", "{\"__metadata__\":[]}", NULL, 0), "metadata is not an object");
    EXPECT_BAD(raw_file("meta3", "{\"__metadata__\":{\"k\":\"1\",\"j\":\"0\",\"k\":\"2\"}}", NULL, 0),
               "duplicate metadata key", "key 'k'");
    EXPECT_BAD(raw_file("dims", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1,1,1,1,1],"
                                "\"data_offsets\":[0,4]}}", d, 4),
               "9 dimensions", "key 'a'");
}

/* every truncation of a valid file is rejected (none crashes) */
Test(safetensors, every_truncation_rejected, .init = make_dir, .fini = remove_dir)
{
    os_st_writer *w = sample_writer();
    const char *p = tpath("full");
    cr_assert_eq(os_st_write(w, p), 0);
    os_st_writer_free(w);
    long n = file_size(p);
    FILE *f = fopen(p, "rb");
    char *buf = malloc((size_t)n);
    cr_assert_eq(fread(buf, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    const char *q = tpath("cut");
    for (long len = 0; len < n; len++) {
        FILE *g = fopen(q, "wb");
        fwrite(buf, 1, (size_t)len, g);
        fclose(g);
        os_st_file *st = os_st_open(q);
        cr_expect_null(st, "truncated to %ld of %ld bytes opened", len, n);
        os_st_close(st);
    }
    free(buf);
}

/* random byte corruptions (fixed seed): the reader either rejects the file
 * or reads every tensor; under SANITIZE=1 any overrun shows */
Test(safetensors, random_corruptions, .init = make_dir, .fini = remove_dir)
{
    os_st_writer *w = sample_writer();
    const char *p = tpath("good");
    cr_assert_eq(os_st_write(w, p), 0);
    os_st_writer_free(w);
    long n = file_size(p);
    FILE *f = fopen(p, "rb");
    unsigned char *buf = malloc((size_t)n), *mut = malloc((size_t)n);
    cr_assert_eq(fread(buf, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    os_rng r;
    os_rng_seed(&r, 77);
    const char *q = tpath("mut");
    int opened = 0;
    for (int it = 0; it < 1500; it++) {
        memcpy(mut, buf, (size_t)n);
        int k = 1 + (int)os_rng_below(&r, 3);
        for (int j = 0; j < k; j++) {
            /* mostly the 8-byte length and the header, where parsing happens */
            long at = os_rng_below(&r, 4) ? (long)os_rng_below(&r, (uint32_t)(n - 120)) : os_rng_below(&r, (uint32_t)n);
            mut[at] = (unsigned char)os_rng_below(&r, 256);
        }
        FILE *g = fopen(q, "wb");
        fwrite(mut, 1, (size_t)n, g);
        fclose(g);
        os_st_file *st = os_st_open(q);
        if (!st) {
            cr_expect(strstr(os_last_error(), q), "message without the path: %s", os_last_error());
            continue;
        }
        opened++;
        for (int i = 0; i < os_st_count(st); i++) {
            const os_st_info *in = os_st_at(st, i);
            void *v = strcmp(in->dtype, "F32") ? (void *)os_st_read_i32(st, in->name, NULL)
                                               : (void *)os_st_read_f32(st, in->name, NULL);
            free(v);
        }
        os_st_close(st);
    }
    cr_expect_gt(opened, 0, "no corruption left a readable file (data bytes should be harmless)");
    free(buf);
    free(mut);
}

/* read one float back (to see which version of a file is on disk) */
static float first_x(const char *p)
{
    os_st_file *f = os_st_open(p);
    cr_assert_not_null(f, "%s", os_last_error());
    float *x = os_st_read_f32(f, "x", NULL);
    cr_assert_not_null(x);
    float v = x[0];
    free(x);
    os_st_close(f);
    return v;
}

static os_st_writer *big_writer(float v)
{
    static float big[8192];
    for (int i = 0; i < 8192; i++)
        big[i] = v;
    os_st_writer *w = os_st_writer_new();
    int64_t s[1] = {8192};
    cr_assert_eq(os_st_add_f32(w, "x", 1, s, big), 0);
    return w;
}

/* A disk that fills up mid-write (RLIMIT_FSIZE makes write() fail with
 * EFBIG): the writer reports it, removes the temp file, and the old file
 * stays. Criterion runs each test in its own process, so the limit stays here. */
Test(safetensors, failed_write_keeps_old_file, .init = make_dir, .fini = remove_dir)
{
    const char *p = tpath("ckpt.safetensors");
    os_st_writer *w = sample_writer();
    cr_assert_eq(os_st_write(w, p), 0);
    os_st_writer_free(w);
    long old_size = file_size(p);
    float old_x = first_x(p);

    struct rlimit keep, lim;
    cr_assert_eq(getrlimit(RLIMIT_FSIZE, &keep), 0);
    lim = keep;
    lim.rlim_cur = 4096; /* the new file has 32 KB of data */
    signal(SIGXFSZ, SIG_IGN);
    cr_assert_eq(setrlimit(RLIMIT_FSIZE, &lim), 0);
    w = big_writer(42.0f);
    int rc = os_st_write(w, p);
    setrlimit(RLIMIT_FSIZE, &keep);
    cr_expect_eq(rc, -1, "write past the size limit succeeded");
    cr_expect(strstr(os_last_error(), p) && strstr(os_last_error(), "failed") &&
              strstr(os_last_error(), "File too large"), "%s", os_last_error());
    cr_expect_eq(file_size(tpath("ckpt.safetensors.tmp")), -1, "temp file left behind");
    cr_expect_eq(file_size(p), old_size);
    cr_expect_float_eq(first_x(p), old_x, 0);

    /* without the limit the same writer replaces the file */
    cr_expect_eq(os_st_write(w, p), 0, "%s", os_last_error());
    cr_expect_float_eq(first_x(p), 42.0f, 0);
    os_st_writer_free(w);
}

Test(safetensors, failed_create_or_rename, .init = make_dir, .fini = remove_dir)
{
    os_st_writer *w = big_writer(1.0f);
    /* the temp file cannot be created: its directory does not exist */
    const char *p = tpath("nodir/x.safetensors");
    cr_expect_eq(os_st_write(w, p), -1);
    cr_expect(strstr(os_last_error(), "cannot create the temp file"), "%s", os_last_error());
    /* the rename fails: the target is a non-empty directory */
    p = tpath("isdir");
    cr_assert_eq(mkdir(p, 0755), 0);
    cr_assert_eq(mkdir(tpath("isdir/sub"), 0755), 0);
    cr_expect_eq(os_st_write(w, p), -1);
    cr_expect(strstr(os_last_error(), "renaming"), "%s", os_last_error());
    cr_expect_eq(file_size(tpath("isdir.tmp")), -1, "temp file left behind");
    os_st_writer_free(w);
}

/* the file's bytes */
static unsigned char *slurp(const char *p, long *n)
{
    *n = file_size(p);
    FILE *f = fopen(p, "rb");
    cr_assert(f);
    unsigned char *b = malloc((size_t)*n);
    cr_assert_eq(fread(b, 1, (size_t)*n, f), (size_t)*n);
    fclose(f);
    return b;
}

static void spit(const char *p, const unsigned char *b, long n)
{
    FILE *f = fopen(p, "wb");
    cr_assert(f);
    cr_assert_eq(fwrite(b, 1, (size_t)n, f), (size_t)n);
    fclose(f);
}

/* One flipped bit in a tensor's data: the file still opens (the header is
 * intact), reading that tensor fails naming it, the others still read. */
Test(safetensors, checksum_catches_a_flipped_byte, .init = make_dir, .fini = remove_dir)
{
    os_st_writer *w = sample_writer();
    const char *p = tpath("c.safetensors");
    cr_assert_eq(os_st_write(w, p), 0);
    os_st_writer_free(w);
    long n;
    unsigned char *b = slurp(p, &n);
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--)
        hlen = hlen << 8 | b[i];
    /* data order: x (96 bytes), labels (20), scalar (4) */
    long xat = 8 + (long)hlen + 37, lat = 8 + (long)hlen + 96 + 6;
    for (int which = 0; which < 2; which++) {
        unsigned char *m = malloc((size_t)n);
        memcpy(m, b, (size_t)n);
        m[which ? lat : xat] ^= 0x10;
        spit(p, m, n);
        free(m);
        os_st_file *f = os_st_open(p);
        cr_assert_not_null(f, "%s", os_last_error());
        const char *bad = which ? "labels" : "x", *good = which ? "x" : "labels";
        void *v = which ? (void *)os_st_read_i32(f, bad, NULL) : (void *)os_st_read_f32(f, bad, NULL);
        cr_expect_null(v, "a corrupt '%s' was read", bad);
        char want[64];
        snprintf(want, sizeof want, "tensor '%s' fails its CRC32 check", bad);
        cr_expect(strstr(os_last_error(), want) && strstr(os_last_error(), p) &&
                  strstr(os_last_error(), "intact copy"), "%s", os_last_error());
        v = which ? (void *)os_st_read_f32(f, good, NULL) : (void *)os_st_read_i32(f, good, NULL);
        cr_expect_not_null(v, "%s", os_last_error());
        free(v);
        if (!which) { /* os_st_read_into goes through the same check */
            os_tensor *t = os_tensor_new(3, (int[]){2, 3, 4});
            cr_expect_eq(os_st_read_into(f, "x", t), -1);
            os_step_reset();
        }
        os_st_close(f);
    }
    free(b);
}

/* The checksum metadata is checked when the file is opened; a file without
 * any (older files, other writers) reads as before. */
Test(safetensors, checksum_metadata, .init = make_dir, .fini = remove_dir)
{
    float d[2] = {1.5f, -2.0f};
    char h[256];
    /* the CRC32 of d, as zlib computes it */
    unsigned long c = crc32_z(0L, (const Bytef *)d, sizeof d);
    snprintf(h, sizeof h, "{\"__metadata__\":{\"crc32/a\":\"%08lx\"},"
                          "\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", c);
    os_st_file *f = os_st_open(raw_file("ok", h, d, 8));
    cr_assert_not_null(f, "%s", os_last_error());
    float *v = os_st_read_f32(f, "a", NULL);
    cr_expect_not_null(v, "%s", os_last_error());
    free(v);
    os_st_close(f);
    f = os_st_open(raw_file("none", "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", d, 8));
    cr_assert_not_null(f, "no checksums: %s", os_last_error());
    v = os_st_read_f32(f, "a", NULL);
    cr_expect_not_null(v, "%s", os_last_error());
    free(v);
    os_st_close(f);

    EXPECT_BAD(raw_file("nohex", "{\"__metadata__\":{\"crc32/a\":\"12345g78\"},"
                                 "\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", d, 8),
               "not 8 hex digits", "key 'crc32/a'");
    EXPECT_BAD(raw_file("short", "{\"__metadata__\":{\"crc32/a\":\"1234567\"},"
                                 "\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", d, 8),
               "not 8 hex digits");
    EXPECT_BAD(raw_file("orphan", "{\"__metadata__\":{\"crc32/b\":\"00000000\"},"
                                  "\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", d, 8),
               "not in the file", "key 'crc32/b'");
    snprintf(h, sizeof h, "{\"__metadata__\":{\"crc32/a\":\"%08lx\"},"
                          "\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
                          "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}",
             crc32_z(0L, (const Bytef *)d, 4));
    EXPECT_BAD(raw_file("partial", h, d, 8), "no checksum for this tensor", "key 'b'");

    /* the writer owns the prefix */
    os_st_writer *w = os_st_writer_new();
    cr_expect_eq(os_st_set_meta(w, "crc32/a", "00000000"), -1);
    cr_expect(strstr(os_last_error(), "crc32/a"), "%s", os_last_error());
    cr_expect_eq(os_st_set_meta(w, "crc", "fine"), 0);
    os_st_writer_free(w);
}
