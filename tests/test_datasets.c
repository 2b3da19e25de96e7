/* tests/test_datasets.c — readers: synthetic files of every format, decoded
 * exactly; one corrupt variant per error path; detection; the real sets when
 * they are installed. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <math.h>

#include "tests/ds_util.h"

static const uint8_t LAB7[7] = {3, 0, 1, 2, 1, 0, 3};

/* every pixel and label of an IDX-made dataset */
static void check_idx(const os_dataset *d, int n, int h, int w, const uint8_t *labels)
{
    cr_assert_eq(d->n, n);
    cr_assert_eq(d->c, 1);
    cr_assert_eq(d->h, h);
    cr_assert_eq(d->w, w);
    int bad = 0, maxl = 0;
    for (int i = 0; i < n; i++) {
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++)
                bad += d->pixels[(i * h + y) * w + x] != du_px(i, 0, y, x);
        bad += d->labels[i] != labels[i];
        maxl = labels[i] > maxl ? labels[i] : maxl;
    }
    cr_expect_eq(bad, 0, "%d pixels or labels differ", bad);
    cr_expect_eq(d->num_classes, maxl + 1);
    cr_expect_str_eq(d->format, "idx");
}

Test(datasets, idx_plain_and_gzip)
{
    for (int gz = 0; gz < 2; gz++) {
        char dir[256];
        du_tmpdir(dir, sizeof dir);
        const char *sfx = gz ? ".gz" : "";
        char a[64], b[64], c[64], e[64];
        snprintf(a, 64, "train-images-idx3-ubyte%s", sfx);
        snprintf(b, 64, "train-labels-idx1-ubyte%s", sfx);
        snprintf(c, 64, "t10k-images-idx3-ubyte%s", sfx);
        snprintf(e, 64, "t10k-labels-idx1-ubyte%s", sfx);
        du_write_idx(dir, a, b, 7, 5, 4, LAB7, gz);
        du_write_idx(dir, c, e, 3, 5, 4, (const uint8_t[]){2, 2, 0}, gz);
        cr_expect_str_eq(os_dataset_detect(dir), "idx");
        os_dataset d;
        cr_assert_eq(os_dataset_load(dir, NULL, OS_SPLIT_TRAIN, &d), 0, "%s", os_last_error());
        check_idx(&d, 7, 5, 4, LAB7);
        cr_expect(strstr(d.source, a) != NULL, "source %s", d.source);
        os_dataset_free(&d);
        cr_assert_eq(os_dataset_load(dir, "idx", OS_SPLIT_TEST, &d), 0, "%s", os_last_error());
        cr_expect_eq(d.n, 3);
        cr_expect_eq(d.num_classes, 4, "test split takes the training class count");
        cr_expect_eq(d.labels[0], 2);
        cr_expect_eq(d.pixels[5 * 4 + 3], du_px(1, 0, 0, 3));
        os_dataset_free(&d);
        du_rmtree(dir);
    }
}

Test(datasets, idx_dotted_names_and_max_per_class)
{
    char dir[256];
    du_tmpdir(dir, sizeof dir);
    du_write_idx(dir, "train-images.idx3-ubyte", "train-labels.idx1-ubyte", 7, 3, 3, LAB7, 0);
    os_load_opts o = {.split = OS_SPLIT_TRAIN, .max_per_class = 1};
    os_dataset d;
    cr_assert_eq(os_dataset_load_opts(dir, &o, &d), 0, "%s", os_last_error());
    /* first image of each class in file order: 0 (class 3), 1 (0), 2 (1), 3 (2) */
    cr_assert_eq(d.n, 4);
    for (int i = 0; i < 4; i++) {
        cr_expect_eq(d.labels[i], LAB7[i]);
        cr_expect_eq(d.pixels[i * 9 + 4], du_px(i, 0, 1, 1));
    }
    os_dataset_free(&d);
    du_rmtree(dir);
}

/* A valid IDX pair in memory, to corrupt. */
static size_t mk_idx(uint8_t *img, uint8_t *lab, size_t *lab_len, int n)
{
    uint32_t di[3] = {(uint32_t)n, 2, 3}, dl[1] = {(uint32_t)n};
    size_t o = du_idx_header(img, 8, 3, di);
    for (int i = 0; i < n * 6; i++)
        img[o + i] = (uint8_t)i;
    size_t ol = du_idx_header(lab, 8, 1, dl);
    for (int i = 0; i < n; i++)
        lab[ol + i] = (uint8_t)(i % 3);
    *lab_len = ol + n;
    return o + (size_t)n * 6;
}

Test(datasets, idx_errors_in_memory)
{
    uint8_t img[64], lab[32];
    size_t ll, il = mk_idx(img, lab, &ll, 4);
    os_dataset d;
    cr_assert_eq(os_idx_decode(img, il, "I", lab, ll, "L", 0, &d), 0, "%s", os_last_error());
    cr_expect_eq(d.num_classes, 3);
    os_dataset_free(&d);

    img[3] = 1; /* 1 dimension for images */
    DU_EXPECT_ERROR(os_idx_decode(img, il, "I", lab, ll, "L", 0, &d), "I", "magic", "byte offset 0");
    img[3] = 3;
    img[2] = 0x0d; /* float elements */
    DU_EXPECT_ERROR(os_idx_decode(img, il, "I", lab, ll, "L", 0, &d), "I", "element type 0x0d");
    img[2] = 8;
    lab[0] = 1;
    DU_EXPECT_ERROR(os_idx_decode(img, il, "I", lab, ll, "L", 0, &d), "L", "magic");
    lab[0] = 0;
    DU_EXPECT_ERROR(os_idx_decode(img, il - 7, "I", lab, ll, "L", 0, &d), "I", "truncated",
                    "record 2", "byte offset 28");
    DU_EXPECT_ERROR(os_idx_decode(img, 10, "I", lab, ll, "L", 0, &d), "I", "truncated IDX header");
    DU_EXPECT_ERROR(os_idx_decode(img, il + 1, "I", lab, ll, "L", 0, &d), "I", "1 trailing bytes",
                    "byte offset 40");
    DU_EXPECT_ERROR(os_idx_decode(img, il, "I", lab, ll - 1, "L", 0, &d), "L", "truncated",
                    "record 3");
    /* counts differ: header says 4 images, 3 labels */
    lab[7] = 3;
    DU_EXPECT_ERROR(os_idx_decode(img, il, "I", lab, ll - 1, "L", 0, &d), "I has 4 images",
                    "L has 3 labels");
    lab[7] = 4;
    lab[8 + 2] = 9;
    DU_EXPECT_ERROR(os_idx_decode(img, il, "I", lab, ll, "L", 5, &d), "L", "label 9",
                    "record 2", "byte offset 10", "5 classes");
    img[4 + 4 * 1 + 3] = 0; /* h = 0 */
    DU_EXPECT_ERROR(os_idx_decode(img, il, "I", lab, ll, "L", 0, &d), "I", "dimension 1 is 0");
    cr_expect_null(d.pixels, "nothing left allocated on failure");
}

Test(datasets, idx_file_errors)
{
    char dir[256], p[512];
    du_tmpdir(dir, sizeof dir);
    os_dataset d;
    /* images and labels of different counts, gzip'd */
    du_write_idx(dir, "train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", 7, 2, 2, LAB7, 1);
    du_write_idx(dir, "t10k-images-idx3-ubyte.gz", "x-labels", 3, 2, 2, LAB7, 1);
    du_write_idx(dir, "x-images", "t10k-labels-idx1-ubyte.gz", 4, 2, 2, LAB7, 1);
    DU_EXPECT_ERROR(os_dataset_load(dir, NULL, OS_SPLIT_TEST, &d), "t10k-images-idx3-ubyte.gz has 3",
                    "t10k-labels-idx1-ubyte.gz has 4");
    /* a test label beyond the training classes (4) */
    du_write_idx(dir, "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz", 2, 2, 2,
                 (const uint8_t[]){1, 7}, 1);
    DU_EXPECT_ERROR(os_dataset_load(dir, NULL, OS_SPLIT_TEST, &d), "t10k-labels-idx1-ubyte.gz",
                    "label 7", "record 1", "byte offset 9", "4 classes");
    /* truncated gzip */
    uint8_t *buf;
    size_t len;
    du_path(p, sizeof p, dir, "train-images-idx3-ubyte.gz");
    cr_assert_eq(os_read_file(p, &buf, &len), 0);
    du_write(dir, "train-images-idx3-ubyte.gz", buf, len - 6, 0);
    DU_EXPECT_ERROR(os_dataset_load(dir, NULL, OS_SPLIT_TRAIN, &d), "train-images-idx3-ubyte.gz",
                    "truncated gzip", "byte offset");
    /* corrupt gzip: a flipped byte in the deflate data (caught by the data or the CRC) */
    buf[len / 2] ^= 0x55;
    buf[len / 2 + 1] ^= 0xaa;
    du_write(dir, "train-images-idx3-ubyte.gz", buf, len, 0);
    DU_EXPECT_ERROR(os_dataset_load(dir, NULL, OS_SPLIT_TRAIN, &d), "train-images-idx3-ubyte.gz",
                    "corrupt gzip", "byte offset");
    free(buf);
    /* a missing labels file */
    du_path(p, sizeof p, dir, "train-labels-idx1-ubyte.gz");
    remove(p);
    du_write_idx(dir, "train-images-idx3-ubyte.gz", "y-labels", 7, 2, 2, LAB7, 1);
    DU_EXPECT_ERROR(os_dataset_load(dir, NULL, OS_SPLIT_TRAIN, &d), "no IDX labels file",
                    "train-labels-idx1-ubyte");
    cr_expect_null(d.pixels);
    du_rmtree(dir);
}

Test(datasets, gunzip_members_trailing_and_cap)
{
    char dir[256], p[512];
    du_tmpdir(dir, sizeof dir);
    du_path(p, sizeof p, dir, "m.gz");
    for (int m = 0; m < 2; m++) { /* two members, as `cat a.gz b.gz` makes */
        gzFile f = gzopen(p, m ? "ab" : "wb");
        gzwrite(f, m ? "world" : "hello ", m ? 5 : 6);
        gzclose(f);
    }
    uint8_t *buf, *out;
    size_t len, ol;
    cr_assert_eq(os_read_file(p, &buf, &len), 0);
    cr_assert_eq(os_gunzip(buf, len, 1 << 20, "m.gz", &out, &ol), 0, "%s", os_last_error());
    cr_expect_eq(ol, 11);
    cr_expect(memcmp(out, "hello world", 11) == 0);
    free(out);
    DU_EXPECT_ERROR(os_gunzip(buf, len, 8, "m.gz", &out, &ol), "m.gz", "exceeds 8 bytes");
    uint8_t *junk = malloc(len + 3);
    memcpy(junk, buf, len);
    memcpy(junk + len, "xyz", 3);
    DU_EXPECT_ERROR(os_gunzip(junk, len + 3, 1 << 20, "m.gz", &out, &ol), "trailing bytes",
                    "byte offset");
    DU_EXPECT_ERROR(os_gunzip(buf + 1, len - 1, 1 << 20, "m.gz", &out, &ol), "not gzip");
    cr_expect_null(out);
    free(junk);
    free(buf);
    du_rmtree(dir);
}

/* CIFAR-10: five training files of 3 records, a test file of 2. */
static void mk_cifar10(const char *dir)
{
    static const uint8_t lab[15] = {6, 9, 9, 4, 1, 1, 2, 7, 8, 3, 4, 7, 7, 2, 9};
    char name[32];
    for (int f = 0; f < 5; f++) {
        snprintf(name, sizeof name, "data_batch_%d.bin", f + 1);
        du_write_cifar(dir, name, 3, 3 * f, lab + 3 * f, NULL);
    }
    du_write_cifar(dir, "test_batch.bin", 2, 100, (const uint8_t[]){3, 8}, NULL);
    const char *meta = "airplane\nautomobile\nbird\ncat\ndeer\ndog\nfrog\nhorse\nship\ntruck\n\n";
    du_write(dir, "batches.meta.txt", meta, strlen(meta), 0);
}

static int cifar_pixels_ok(const os_dataset *d, int first)
{
    int bad = 0;
    for (int i = 0; i < d->n; i++)
        for (int k = 0; k < 3; k++)
            for (int y = 0; y < 32; y++)
                for (int x = 0; x < 32; x++)
                    bad += d->pixels[((i * 3 + k) * 32 + y) * 32 + x] != du_px(first + i, k, y, x);
    return bad;
}

Test(datasets, cifar10_read)
{
    char root[256], dir[512];
    du_tmpdir(root, sizeof root);
    du_mkdir(root, "cifar-10-batches-bin");
    du_path(dir, sizeof dir, root, "cifar-10-batches-bin");
    mk_cifar10(dir);
    cr_expect_str_eq(os_dataset_detect(root), "cifar10", "the tarball's folder is looked into");
    os_dataset d;
    cr_assert_eq(os_dataset_load(root, NULL, OS_SPLIT_TRAIN, &d), 0, "%s", os_last_error());
    cr_assert_eq(d.n, 15);
    cr_expect_eq(d.num_classes, 10);
    cr_expect_eq(cifar_pixels_ok(&d, 0), 0);
    cr_expect_eq(d.labels[0], 6);
    cr_expect_eq(d.labels[14], 9);
    cr_assert_not_null(d.class_names);
    cr_expect_str_eq(d.class_names[9], "truck");
    os_dataset_free(&d);
    cr_assert_eq(os_dataset_load(dir, "cifar10", OS_SPLIT_TEST, &d), 0, "%s", os_last_error());
    cr_expect_eq(d.n, 2);
    cr_expect_eq(cifar_pixels_ok(&d, 100), 0);
    cr_expect_eq(d.labels[1], 8);
    os_dataset_free(&d);
    os_load_opts o = {.split = OS_SPLIT_TRAIN, .max_per_class = 1};
    cr_assert_eq(os_dataset_load_opts(dir, &o, &d), 0, "%s", os_last_error());
    cr_expect_eq(d.n, 8, "classes 6 9 4 1 2 7 8 3; 0 and 5 absent");
    cr_expect_eq(d.labels[3], 1);
    cr_expect_eq(d.pixels[3 * 3072], du_px(4, 0, 0, 0));
    os_dataset_free(&d);
    du_rmtree(root);
}

Test(datasets, cifar10_errors)
{
    char dir[256], p[512];
    du_tmpdir(dir, sizeof dir);
    mk_cifar10(dir);
    os_dataset d;
    /* truncated: record 2 of data_batch_3 is cut */
    du_write_cifar(dir, "data_batch_3.bin", 3, 0, (const uint8_t[]){1, 2, 3}, NULL);
    du_path(p, sizeof p, dir, "data_batch_3.bin");
    cr_assert_eq(truncate(p, 3073 * 2 + 100), 0);
    DU_EXPECT_ERROR(os_dataset_load(dir, NULL, OS_SPLIT_TRAIN, &d), "data_batch_3.bin", "truncated",
                    "record 2", "byte offset 6146");
    /* label out of range in record 1 */
    du_write_cifar(dir, "data_batch_3.bin", 3, 0, (const uint8_t[]){1, 10, 3}, NULL);
    DU_EXPECT_ERROR(os_dataset_load(dir, NULL, OS_SPLIT_TRAIN, &d), "data_batch_3.bin",
                    "record 1", "byte offset 3073", "label 10", "0..9");
    /* empty file */
    du_write(dir, "data_batch_3.bin", "", 0, 0);
    DU_EXPECT_ERROR(os_dataset_load(dir, NULL, OS_SPLIT_TRAIN, &d), "data_batch_3.bin", "empty");
    /* missing file, and a folder where a file should be */
    remove(p);
    DU_EXPECT_ERROR(os_dataset_load(dir, NULL, OS_SPLIT_TRAIN, &d), "data_batch_3.bin",
                    "No such file");
    du_mkdir(dir, "data_batch_3.bin");
    DU_EXPECT_ERROR(os_dataset_load(dir, NULL, OS_SPLIT_TRAIN, &d), "data_batch_3.bin",
                    "is a directory");
    cr_expect_null(d.pixels);
    du_rmtree(dir);
}

Test(datasets, cifar100_fine_coarse_and_errors)
{
    char dir[256];
    du_tmpdir(dir, sizeof dir);
    const uint8_t fine[4] = {99, 0, 42, 7}, coarse[4] = {19, 4, 0, 11};
    du_write_cifar(dir, "train.bin", 4, 10, fine, coarse);
    du_write_cifar(dir, "test.bin", 1, 20, fine, coarse);
    du_write(dir, "coarse_label_names.txt", "a\nb\nc\nd\ne\nf\ng\nh\ni\nj\nk\nl\nm\nn\no\np\nq\nr\ns\nt\n",
             40, 0);
    cr_expect_str_eq(os_dataset_detect(dir), "cifar100");
    os_dataset d;
    cr_assert_eq(os_dataset_load(dir, NULL, OS_SPLIT_TRAIN, &d), 0, "%s", os_last_error());
    cr_expect_eq(d.num_classes, 100);
    cr_expect_eq(cifar_pixels_ok(&d, 10), 0);
    for (int i = 0; i < 4; i++)
        cr_expect_eq(d.labels[i], fine[i]);
    cr_expect_null(d.class_names, "no fine_label_names.txt");
    os_dataset_free(&d);
    os_load_opts o = {.split = OS_SPLIT_TRAIN, .coarse = true};
    cr_assert_eq(os_dataset_load_opts(dir, &o, &d), 0, "%s", os_last_error());
    cr_expect_eq(d.num_classes, 20);
    for (int i = 0; i < 4; i++)
        cr_expect_eq(d.labels[i], coarse[i]);
    cr_assert_not_null(d.class_names);
    cr_expect_str_eq(d.class_names[19], "t");
    os_dataset_free(&d);
    du_write_cifar(dir, "test.bin", 2, 0, (const uint8_t[]){5, 100}, (const uint8_t[]){1, 1});
    DU_EXPECT_ERROR(os_dataset_load(dir, NULL, OS_SPLIT_TEST, &d), "test.bin", "record 1",
                    "byte offset 3075", "fine label 100");
    du_write_cifar(dir, "test.bin", 2, 0, (const uint8_t[]){5, 6}, (const uint8_t[]){1, 20});
    DU_EXPECT_ERROR(os_dataset_load(dir, NULL, OS_SPLIT_TEST, &d), "test.bin", "record 1",
                    "byte offset 3074", "coarse label 20");
    du_rmtree(dir);
}

/* folder with classes "zebra" and "ant" (sorted: ant = 0, zebra = 1) */
static void mk_folder(const char *root, const char *split, const char *ext, int smooth)
{
    char sd[512], cd[640];
    du_mkdir(root, split);
    du_path(sd, sizeof sd, root, split);
    const char *cls[2] = {"zebra", "ant"};
    for (int k = 0; k < 2; k++) {
        du_mkdir(sd, cls[k]);
        du_path(cd, sizeof cd, sd, cls[k]);
        for (int i = 0; i < 3; i++) {
            char name[32];
            snprintf(name, sizeof name, "%d%s", i, ext);
            du_write_image(cd, name, 10 * k + i, smooth, 3, 6, 5);
        }
    }
}

/* image j of the folder: class ant files 0..2 (seeds 10..12), then zebra (0..2) */
static int folder_seed(int j) { return j < 3 ? 10 + j : j - 3; }

Test(datasets, folder_png_bmp_exact)
{
    const char *exts[] = {".png", ".bmp", ".PNG"};
    for (int e = 0; e < 3; e++) {
        char root[256];
        du_tmpdir(root, sizeof root);
        mk_folder(root, "train", exts[e], 0);
        du_write(root, "train/ant/notes.txt", "x", 1, 0); /* ignored: not an image */
        du_write(root, "train/ant/.hidden.png", "x", 1, 0);
        cr_expect_str_eq(os_dataset_detect(root), "folder");
        os_dataset d;
        cr_assert_eq(os_dataset_load(root, NULL, OS_SPLIT_TRAIN, &d), 0, "%s", os_last_error());
        cr_assert_eq(d.n, 6);
        cr_assert_eq(d.c, 3);
        cr_assert_eq(d.h, 6);
        cr_assert_eq(d.w, 5);
        cr_expect_eq(d.num_classes, 2);
        cr_expect_str_eq(d.class_names[0], "ant");
        cr_expect_str_eq(d.class_names[1], "zebra");
        int bad = 0;
        for (int j = 0; j < 6; j++) {
            bad += d.labels[j] != (j < 3 ? 0 : 1);
            for (int k = 0; k < 3; k++)
                for (int y = 0; y < 6; y++)
                    for (int x = 0; x < 5; x++)
                        bad += d.pixels[((j * 3 + k) * 6 + y) * 5 + x] !=
                               du_px(folder_seed(j), k, y, x);
        }
        cr_expect_eq(bad, 0, "%s: %d values differ", exts[e], bad);
        os_dataset_free(&d);
        du_rmtree(root);
    }
}

Test(datasets, folder_jpeg_within_loss)
{
    char root[256];
    du_tmpdir(root, sizeof root);
    mk_folder(root, "train", ".jpg", 1);
    mk_folder(root, "test", ".jpeg", 1);
    for (int s = 0; s < 2; s++) {
        os_dataset d;
        cr_assert_eq(os_dataset_load(root, "folder", s ? OS_SPLIT_TEST : OS_SPLIT_TRAIN, &d), 0,
                     "%s", os_last_error());
        cr_assert_eq(d.n, 6);
        int worst = 0;
        for (int j = 0; j < 6; j++)
            for (int k = 0; k < 3; k++)
                for (int y = 0; y < 6; y++)
                    for (int x = 0; x < 5; x++) {
                        int v = d.pixels[((j * 3 + k) * 6 + y) * 5 + x];
                        int e = du_img_px(folder_seed(j), 1, k, y, x);
                        worst = abs(v - e) > worst ? abs(v - e) : worst;
                    }
        cr_expect_leq(worst, 4, "JPEG quality 100 error %d", worst);
        os_dataset_free(&d);
    }
    du_rmtree(root);
}

Test(datasets, folder_channels_and_sizes)
{
    char root[256], cd[512];
    du_tmpdir(root, sizeof root);
    du_mkdir(root, "train");
    du_mkdir(root, "train/a");
    du_path(cd, sizeof cd, root, "train/a");
    du_write_image(cd, "0.png", 1, 0, 3, 4, 4);  /* RGB: fixes 3 channels, 4x4 */
    du_write_image(cd, "1.png", 2, 0, 1, 4, 4);  /* grey -> replicated */
    du_write_image(cd, "2.png", 3, 0, 4, 4, 4);  /* RGBA -> alpha dropped */
    os_dataset d;
    cr_assert_eq(os_dataset_load(root, NULL, OS_SPLIT_TRAIN, &d), 0, "%s", os_last_error());
    cr_assert_eq(d.c, 3);
    int bad = 0;
    for (int k = 0; k < 3; k++)
        for (int p = 0; p < 16; p++) {
            bad += d.pixels[(1 * 3 + k) * 16 + p] != du_px(2, 0, p / 4, p % 4);
            bad += d.pixels[(2 * 3 + k) * 16 + p] != du_px(3, k, p / 4, p % 4);
        }
    cr_expect_eq(bad, 0);
    os_dataset_free(&d);
    /* forced grey: luma of the RGB image */
    os_load_opts o = {.split = OS_SPLIT_TRAIN, .channels = 1};
    cr_assert_eq(os_dataset_load_opts(root, &o, &d), 0, "%s", os_last_error());
    cr_assert_eq(d.c, 1);
    for (int p = 0; p < 16; p++) {
        double y = 0.299 * du_px(1, 0, p / 4, p % 4) + 0.587 * du_px(1, 1, p / 4, p % 4) +
                   0.114 * du_px(1, 2, p / 4, p % 4);
        cr_expect(fabs(d.pixels[p] - y) <= 1.5, "luma %d vs %.1f", d.pixels[p], y);
    }
    os_dataset_free(&d);
    o.channels = 2;
    DU_EXPECT_ERROR(os_dataset_load_opts(root, &o, &d), "channels must be");
    /* another size: rejected, or resized on request */
    du_write_image(cd, "3.png", 4, 0, 3, 8, 6);
    DU_EXPECT_ERROR(os_dataset_load(root, NULL, OS_SPLIT_TRAIN, &d), "3.png", "is 6x8",
                    "0.png is 4x4");
    uint8_t flat[8 * 6 * 3];
    memset(flat, 77, sizeof flat);
    char p[640];
    du_path(p, sizeof p, cd, "3.png");
    cr_assert(stbi_write_png(p, 6, 8, 3, flat, 18));
    o = (os_load_opts){.split = OS_SPLIT_TRAIN, .resize = true};
    cr_assert_eq(os_dataset_load_opts(root, &o, &d), 0, "%s", os_last_error());
    cr_assert_eq(d.n, 4);
    for (int i = 0; i < 48; i++)
        cr_expect_eq(d.pixels[3 * 48 + i], 77, "a flat image stays flat when resized");
    os_dataset_free(&d);
    du_rmtree(root);
}

Test(datasets, folder_errors)
{
    char root[256], p[512];
    du_tmpdir(root, sizeof root);
    os_dataset d;
    DU_EXPECT_ERROR(os_dataset_load(root, "folder", OS_SPLIT_TRAIN, &d), "train", "not a folder");
    du_mkdir(root, "train");
    DU_EXPECT_ERROR(os_dataset_load(root, "folder", OS_SPLIT_TRAIN, &d), "no class folders");
    mk_folder(root, "train", ".png", 0);
    du_mkdir(root, "train/empty");
    du_write(root, "train/empty/readme.txt", "x", 1, 0);
    DU_EXPECT_ERROR(os_dataset_load(root, NULL, OS_SPLIT_TRAIN, &d), "train/empty",
                    "empty class folder");
    du_path(p, sizeof p, root, "train/empty/readme.txt");
    remove(p);
    du_path(p, sizeof p, root, "train/empty");
    rmdir(p);
    /* undecodable: garbage behind a PNG signature; a broken zlib stream in a
       well-formed chunk chain; text named .png; a cut PNG */
    du_write(root, "train/zebra/1.png", "\x89PNG\r\n\x1a\ngarbage-garbage", 23, 0);
    DU_EXPECT_ERROR(os_dataset_load(root, NULL, OS_SPLIT_TRAIN, &d), "train/zebra/1.png",
                    "corrupt PNG");
    du_write_image(root, "train/zebra/1.png", 1, 0, 3, 6, 5);
    uint8_t *png;
    size_t png_len;
    du_path(p, sizeof p, root, "train/zebra/1.png");
    cr_assert_eq(os_read_file(p, &png, &png_len), 0);
    cr_assert(memcmp(png + 37, "IDAT", 4) == 0, "stb writes IHDR then IDAT");
    png[41] ^= 0xff; /* the zlib header byte */
    du_write(root, "train/zebra/1.png", png, png_len, 0);
    DU_EXPECT_ERROR(os_dataset_load(root, NULL, OS_SPLIT_TRAIN, &d), "train/zebra/1.png",
                    "cannot decode PNG");
    free(png);
    du_write_image(root, "train/zebra/1.png", 1, 0, 3, 6, 5);
    du_write(root, "train/ant/2.png", "hello, not an image", 19, 0);
    DU_EXPECT_ERROR(os_dataset_load(root, NULL, OS_SPLIT_TRAIN, &d), "train/ant/2.png",
                    "not a PNG, JPEG or BMP");
    du_write_image(root, "train/ant/2.png", 12, 0, 3, 6, 5);
    du_path(p, sizeof p, root, "train/zebra/2.png");
    cr_assert_eq(truncate(p, 60), 0);
    DU_EXPECT_ERROR(os_dataset_load(root, NULL, OS_SPLIT_TRAIN, &d), "train/zebra/2.png",
                    "truncated or corrupt PNG", "IDAT");
    /* when several images are bad, the first in file order is named */
    du_write(root, "train/ant/1.png", "BMxx", 4, 0);
    DU_EXPECT_ERROR(os_dataset_load(root, NULL, OS_SPLIT_TRAIN, &d), "train/ant/1.png");
    du_write_image(root, "train/ant/1.png", 11, 0, 3, 6, 5);
    du_write_image(root, "train/zebra/2.png", 2, 0, 3, 6, 5);
    cr_assert_eq(os_dataset_load(root, NULL, OS_SPLIT_TRAIN, &d), 0, "%s", os_last_error());
    os_dataset_free(&d);
    /* test classes that differ from the training classes */
    mk_folder(root, "test", ".png", 0);
    du_mkdir(root, "test/bee");
    du_write_image(root, "test/bee/0.png", 1, 0, 3, 6, 5);
    DU_EXPECT_ERROR(os_dataset_load(root, NULL, OS_SPLIT_TEST, &d), "test", "differ", "'bee'");
    /* a file that cannot be read */
    if (geteuid() != 0) {
        du_path(p, sizeof p, root, "train/ant/0.png");
        chmod(p, 0);
        DU_EXPECT_ERROR(os_dataset_load(root, NULL, OS_SPLIT_TRAIN, &d), "train/ant/0.png",
                        "Permission denied");
    }
    cr_expect_null(d.pixels);
    du_rmtree(root);
}

Test(datasets, detection_and_paths)
{
    char root[256], p[512];
    du_tmpdir(root, sizeof root);
    os_dataset d;
    DU_EXPECT_ERROR(os_dataset_load(root, NULL, OS_SPLIT_TRAIN, &d), root, "no dataset found",
                    "CIFAR-10", "IDX", "image folder");
    du_path(p, sizeof p, root, "missing");
    DU_EXPECT_ERROR(os_dataset_load(p, NULL, OS_SPLIT_TRAIN, &d), "missing", "No such file");
    DU_EXPECT_ERROR(os_dataset_load(root, "parquet", OS_SPLIT_TRAIN, &d), "unknown dataset format",
                    "parquet");
    /* both an image folder and IDX files: auto picks IDX, the option overrides */
    mk_folder(root, "train", ".png", 0);
    du_write_idx(root, "train-images-idx3-ubyte", "train-labels-idx1-ubyte", 7, 2, 2, LAB7, 0);
    cr_assert_eq(os_dataset_load(root, NULL, OS_SPLIT_TRAIN, &d), 0, "%s", os_last_error());
    cr_expect_str_eq(d.format, "idx");
    os_dataset_free(&d);
    cr_assert_eq(os_dataset_load(root, "folder", OS_SPLIT_TRAIN, &d), 0, "%s", os_last_error());
    cr_expect_str_eq(d.format, "folder");
    cr_expect_eq(d.n, 6);
    char line[1024];
    os_dataset_describe(&d, line, sizeof line);
    cr_expect(strstr(line, "6 x 3x6x5, 2 classes") != NULL, "%s", line);
    os_dataset_free(&d);
    DU_EXPECT_ERROR(os_dataset_load(root, "cifar10", OS_SPLIT_TRAIN, &d), "data_batch_1.bin");
    du_rmtree(root);
}

Test(datasets, default_dataset)
{
    const char *f = os_dataset_detect(NULL);
    struct stat st;
    if (stat(OS_DEFAULT_DATA_DIR, &st) != 0) {
        cr_expect_null(f);
        cr_expect(strstr(os_last_error(), "dataset-fashion-mnist") != NULL, "%s", os_last_error());
        cr_expect(strstr(os_last_error(), "--data") != NULL);
    } else {
        cr_expect_str_eq(f, "idx");
    }
}

/* ---- the real sets, when installed ---------------------------------------- */

Test(datasets_real, fashion_mnist)
{
    if (!os_dataset_detect(NULL))
        cr_skip_test("Fashion-MNIST not installed (%s)", OS_DEFAULT_DATA_DIR);
    os_dataset d;
    cr_assert_eq(os_dataset_load(NULL, NULL, OS_SPLIT_TRAIN, &d), 0, "%s", os_last_error());
    cr_expect_eq(d.n, 60000);
    cr_expect_eq(d.c * d.h * d.w, 784);
    cr_expect_eq(d.num_classes, 10);
    int cnt[10] = {0};
    for (int i = 0; i < d.n; i++)
        cnt[d.labels[i]]++;
    for (int k = 0; k < 10; k++)
        cr_expect_eq(cnt[k], 6000);
    float m, s;
    os_dataset_channel_stats(&d, NULL, 0, &m, &s);
    /* published: mean 0.2860, std 0.3530 */
    cr_expect(fabsf(m - 0.2860f) < 5e-4f && fabsf(s - 0.3530f) < 5e-4f, "%f %f", m, s);
    os_dataset_free(&d);
    cr_assert_eq(os_dataset_load(NULL, "idx", OS_SPLIT_TEST, &d), 0, "%s", os_last_error());
    cr_expect_eq(d.n, 10000);
    os_dataset_free(&d);
}

/* ../shared/data/cifar10-jpg from the repository root, or $OS_CIFAR_JPG */
static const char *cifar_jpg(void)
{
    const char *e = getenv("OS_CIFAR_JPG");
    static const char *cands[] = {NULL, "../shared/data/cifar10-jpg", "/work/shared/data/cifar10-jpg"};
    cands[0] = e && *e ? e : NULL;
    for (int i = 0; i < 3; i++) {
        char p[1024];
        if (!cands[i])
            continue;
        snprintf(p, sizeof p, "%s/train", cands[i]);
        struct stat st;
        if (stat(p, &st) == 0 && S_ISDIR(st.st_mode))
            return cands[i];
    }
    return NULL;
}

Test(datasets_real, cifar10_jpg_subset)
{
    const char *root = cifar_jpg();
    if (!root)
        cr_skip_test("CIFAR-10 JPEG folder not found (set OS_CIFAR_JPG)");
    static const char *names[10] = {"airplane", "automobile", "bird", "cat", "deer",
                                    "dog", "frog", "horse", "ship", "truck"};
    for (int s = 0; s < 2; s++) {
        os_load_opts o = {.split = s ? OS_SPLIT_TEST : OS_SPLIT_TRAIN, .max_per_class = 30};
        os_dataset d;
        cr_assert_eq(os_dataset_load_opts(root, &o, &d), 0, "%s", os_last_error());
        cr_expect_str_eq(d.format, "folder");
        cr_expect_eq(d.n, 300);
        cr_expect(d.c == 3 && d.h == 32 && d.w == 32);
        for (int k = 0; k < 10; k++)
            cr_expect_str_eq(d.class_names[k], names[k]);
        for (int i = 0; i < 300; i++)
            cr_expect_eq(d.labels[i], i / 30);
        float m[3], sd[3];
        os_dataset_channel_stats(&d, NULL, 0, m, sd);
        /* CIFAR-10's training means are 0.491, 0.482, 0.447; 300 images land near */
        for (int k = 0; k < 3; k++)
            cr_expect(m[k] > 0.38f && m[k] < 0.58f && sd[k] > 0.18f && sd[k] < 0.32f, "%f %f",
                      m[k], sd[k]);
        os_dataset_free(&d);
    }
}

/* ---- single images, in memory ---------------------------------------------- */

typedef struct {
    uint8_t b[16384];
    size_t n;
} du_mem;

static void du_to_mem(void *ctx, void *data, int size)
{
    du_mem *m = ctx;
    cr_assert(m->n + (size_t)size <= sizeof m->b);
    memcpy(m->b + m->n, data, (size_t)size);
    m->n += (size_t)size;
}

static void mk_image_mem(du_mem *m, int kind, int c, int h, int w)
{
    uint8_t px[32 * 32 * 4];
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            for (int k = 0; k < c; k++)
                px[(y * w + x) * c + k] = du_img_px(1, 1, k, y, x);
    m->n = 0;
    int ok = kind == 0   ? stbi_write_png_to_func(du_to_mem, m, w, h, c, px, w * c)
             : kind == 1 ? stbi_write_jpg_to_func(du_to_mem, m, w, h, c, px, 90)
                         : stbi_write_bmp_to_func(du_to_mem, m, w, h, c, px);
    cr_assert(ok);
}

Test(datasets, image_decode_errors)
{
    static du_mem m;
    uint8_t *px;
    int c, h, w;
    for (int kind = 0; kind < 3; kind++) {
        mk_image_mem(&m, kind, 3, 12, 10);
        cr_assert_eq(os_image_decode(m.b, m.n, "img", 0, &px, &c, &h, &w), 0, "%s",
                     os_last_error());
        cr_expect(c == 3 && h == 12 && w == 10);
        free(px);
        /* cut in the middle of the pixel data */
        DU_EXPECT_ERROR(os_image_decode(m.b, m.n * 2 / 3, "img", 0, &px, &c, &h, &w), "img");
        const char *what = kind == 0 ? "truncated or corrupt PNG" : kind == 1 ? "truncated JPEG"
                                                                       : "truncated BMP";
        cr_expect(strstr(os_last_error(), what) != NULL, "'%s' lacks '%s'", os_last_error(), what);
        DU_EXPECT_ERROR(os_image_decode(m.b, m.n, "img", 5, &px, &c, &h, &w), "5 channels");
        cr_expect_null(px);
    }
    /* a JPEG Huffman table with more than 256 codes (stb_image 2.27 overflows) */
    mk_image_mem(&m, 1, 3, 12, 10);
    size_t at = 0;
    while (at + 1 < m.n && !(m.b[at] == 0xff && m.b[at + 1] == 0xc4))
        at++;
    cr_assert(at + 21 < m.n, "no DHT segment");
    for (int k = 0; k < 16; k++) /* counts of the first table: 16 x 20 = 320 codes */
        m.b[at + 5 + k] = 20;
    DU_EXPECT_ERROR(os_image_decode(m.b, m.n, "huff.jpg", 0, &px, &c, &h, &w), "huff.jpg",
                    "Huffman table", "byte offset");
    /* a scan that names Huffman table AC 2, which no DHT defined */
    mk_image_mem(&m, 1, 3, 12, 10);
    at = 0;
    while (at + 1 < m.n && !(m.b[at] == 0xff && m.b[at + 1] == 0xda))
        at++;
    cr_assert(at + 6 < m.n, "no SOS segment");
    m.b[at + 6] = (uint8_t)((m.b[at + 6] & 0xf0) | 2); /* first component: AC table 2 */
    DU_EXPECT_ERROR(os_image_decode(m.b, m.n, "sos.jpg", 0, &px, &c, &h, &w), "sos.jpg",
                    "Huffman table AC 2", "not defined");
    /* ... or quantisation table 3 (SOF0: 8 bytes of header, then 3 bytes a component) */
    mk_image_mem(&m, 1, 3, 12, 10);
    at = 0;
    while (at + 1 < m.n && !(m.b[at] == 0xff && m.b[at + 1] == 0xc0))
        at++;
    m.b[at + 2 + 8 + 2] = 3; /* Tq of the first component */
    DU_EXPECT_ERROR(os_image_decode(m.b, m.n, "dqt.jpg", 0, &px, &c, &h, &w), "dqt.jpg",
                    "quantisation table 3");
    /* BMP whose header declares a giant image in a few bytes */
    mk_image_mem(&m, 2, 3, 4, 4);
    m.b[22] = 0xff, m.b[23] = 0xff, m.b[24] = 0x00, m.b[25] = 0x01; /* height 0x0100ffff */
    DU_EXPECT_ERROR(os_image_decode(m.b, m.n, "big.bmp", 0, &px, &c, &h, &w), "big.bmp");
}

/* Inputs the fuzzers found (fuzz/regress/<harness>/): no crash, and an
 * image that does decode has a sane shape. */
Test(datasets, fuzz_regressions)
{
    const char *dirs[] = {"fuzz/regress/image"};
    int seen = 0;
    for (int d = 0; d < 1; d++) {
        DIR *dp = opendir(dirs[d]);
        if (!dp)
            cr_skip_test("run from the repository root (no %s)", dirs[d]);
        struct dirent *e;
        while ((e = readdir(dp))) {
            if (e->d_name[0] == '.')
                continue;
            char p[1024];
            snprintf(p, sizeof p, "%s/%s", dirs[d], e->d_name);
            uint8_t *b, *px;
            size_t len;
            int c, h, w;
            cr_assert_eq(os_read_file(p, &b, &len), 0, "%s", os_last_error());
            /* the harness input: 1 byte channel request, then the file */
            int r = os_image_decode(b + 1, len - 1, p, b[0] % 5, &px, &c, &h, &w);
            if (r == 0) {
                cr_expect(c >= 1 && c <= 4 && h > 0 && w > 0 && (size_t)h * w <= (1u << 24));
                free(px);
            } else {
                cr_expect_null(px);
            }
            free(b);
            seen++;
        }
        closedir(dp);
    }
    cr_expect_gt(seen, 0);
}

Test(datasets, more_error_paths)
{
    char dir[256], p[512];
    du_tmpdir(dir, sizeof dir);
    os_dataset d;
    /* a file where the folder should be; bad options */
    du_write(dir, "plain.txt", "x", 1, 0);
    du_path(p, sizeof p, dir, "plain.txt");
    DU_EXPECT_ERROR(os_dataset_load(p, NULL, OS_SPLIT_TRAIN, &d), "plain.txt", "not a folder");
    os_load_opts o = {.split = (os_split)7};
    DU_EXPECT_ERROR(os_dataset_load_opts(dir, &o, &d), "unknown split 7");
    o = (os_load_opts){.max_per_class = -2};
    DU_EXPECT_ERROR(os_dataset_load_opts(dir, &o, &d), "max_per_class");
    /* IDX: labels but no images for the split; images of absurd size */
    du_write_idx(dir, "x-images", "t10k-labels-idx1-ubyte", 2, 2, 2, LAB7, 0);
    DU_EXPECT_ERROR(os_dataset_load(dir, "idx", OS_SPLIT_TEST, &d), "no IDX images file",
                    "t10k-images-idx3-ubyte");
    uint8_t hdr[16];
    uint32_t dims[3] = {1, 70000, 2};
    du_idx_header(hdr, 8, 3, dims);
    uint8_t lab[9] = {0, 0, 8, 1, 0, 0, 0, 1, 0};
    DU_EXPECT_ERROR(os_idx_decode(hdr, 16, "I", lab, 9, "L", 0, &d), "I", "70000x2", "too large");
    uint8_t tiny[3] = {0, 0, 8};
    DU_EXPECT_ERROR(os_idx_decode(tiny, 3, "I", lab, 9, "L", 0, &d), "I", "truncated IDX header");
    /* images: a PNG header declaring 5000 x 5000, a BMP cut inside its header,
       a BMP of 2 bits per pixel */
    static const uint8_t png_big[45] = {
        0x89, 'P', 'N', 'G', 0x0d, 0x0a, 0x1a, 0x0a,                       /* signature */
        0, 0, 0, 13, 'I', 'H', 'D', 'R', 0, 0, 0x13, 0x88, 0, 0, 0x13, 0x88, /* 5000 x 5000 */
        8, 2, 0, 0, 0, 0, 0, 0, 0,                                         /* RGB, CRC */
        0, 0, 0, 0, 'I', 'E', 'N', 'D', 0xae, 0x42, 0x60, 0x82};
    uint8_t *px;
    int c, h, w;
    DU_EXPECT_ERROR(os_image_decode(png_big, 45, "big.png", 0, &px, &c, &h, &w), "big.png",
                    "5000x5000", "too large");
    DU_EXPECT_ERROR(os_image_decode(png_big, 33, "cut.png", 0, &px, &c, &h, &w), "cut.png",
                    "byte offset 33", "no IEND");
    uint8_t bmp[64] = {'B', 'M'};
    DU_EXPECT_ERROR(os_image_decode(bmp, 20, "cut.bmp", 0, &px, &c, &h, &w), "cut.bmp",
                    "truncated BMP header");
    bmp[10] = 54, bmp[14] = 40, bmp[18] = 2, bmp[22] = 2, bmp[26] = 1, bmp[28] = 2;
    DU_EXPECT_ERROR(os_image_decode(bmp, 64, "b2.bmp", 0, &px, &c, &h, &w), "b2.bmp",
                    "2 bits per pixel");
    cr_expect_null(d.pixels);
    du_rmtree(dir);
}

/* A progressive JPEG (written by Pillow 9.4, tests/data/progressive.jpg): the
 * structural checks must let it through, and it decodes within JPEG loss. */
Test(datasets, progressive_jpeg)
{
    uint8_t *b, *px;
    size_t len;
    int c, h, w;
    if (os_read_file("tests/data/progressive.jpg", &b, &len) != 0)
        cr_skip_test("run from the repository root");
    cr_assert_eq(os_image_decode(b, len, "progressive.jpg", 0, &px, &c, &h, &w), 0, "%s",
                 os_last_error());
    cr_assert(c == 3 && h == 12 && w == 10);
    int worst = 0;
    for (int k = 0; k < 3; k++)
        for (int y = 0; y < 12; y++)
            for (int x = 0; x < 10; x++) {
                int e = abs(px[(k * 12 + y) * 10 + x] - du_img_px(1, 1, k, y, x));
                worst = e > worst ? e : worst;
            }
    cr_expect_leq(worst, 6, "error %d", worst);
    free(px);
    free(b);
}

/* ---- a run's data: the splits agree, the settings fit (search/data.c) ------ */
#include "search/data.h"

/* root/split/<class k>/<i>.png, c channels of h x w; blue (channel 2) zero when flat_blue */
static void mk_split(const char *root, const char *split, int classes, int per, int c, int h, int w, int flat_blue)
{
    char sd[512], cd[640], p[700];
    du_mkdir(root, split);
    du_path(sd, sizeof sd, root, split);
    for (int k = 0; k < classes; k++) {
        char cls[16];
        snprintf(cls, sizeof cls, "c%d", k);
        du_mkdir(sd, cls);
        du_path(cd, sizeof cd, sd, cls);
        for (int i = 0; i < per; i++) {
            uint8_t *px = malloc((size_t)c * h * w);
            for (int q = 0; q < h * w; q++)
                for (int ch = 0; ch < c; ch++)
                    px[q * c + ch] = flat_blue && ch == 2 ? 0 : du_px(k * per + i, ch, q / w, q % w);
            snprintf(p, sizeof p, "%s/%d.png", cd, i);
            cr_assert(stbi_write_png(p, w, h, c, px, w * c));
            free(px);
        }
    }
}

static os_data_settings run_settings(const char *path)
{
    return (os_data_settings){.path = path, .batch = 2, .seed = 1, .search = 1, .train_portion = 0.5f,
                              .need_train = 1, .crop_pad = 1, .flip = 1, .cutout = 2};
}

/* open must fail with every substring in the message, and no internal name */
#define RD_EXPECT_ERROR(settings, ...)                                                       \
    do {                                                                                    \
        os_run_data d_;                                                                     \
        os_data_settings s_ = (settings);                                                   \
        DU_EXPECT_ERROR(os_run_data_open(&d_, &s_), __VA_ARGS__);                           \
        cr_expect(!strstr(os_last_error(), "os_loader") && !strstr(os_last_error(), "os_run") && \
                      !strstr(os_last_error(), "os_split") && !strstr(os_last_error(), "max_per_class"),  \
                  "internal name: %s", os_last_error());                                    \
    } while (0)

Test(run_data, folder_splits_agree)
{
    char root[256], first[700];
    du_tmpdir(root, sizeof root);
    mk_split(root, "train", 2, 4, 3, 8, 8, 0);
    mk_split(root, "test", 2, 2, 3, 8, 8, 0);
    os_run_data d;
    os_data_settings s = run_settings(root);
    cr_assert_eq(os_run_data_open(&d, &s), 0, "%s", os_last_error());
    snprintf(first, sizeof first, "%s/train/c0/0.png", root);
    cr_expect_str_eq(d.train.first, first);
    cr_expect_str_eq(d.train.warning, "");
    os_run_data_close(&d);

    /* test images of another size, then grey ones: both first images named */
    char test_first[700];
    snprintf(test_first, sizeof test_first, "%s/test/c0/0.png", root);
    for (int v = 0; v < 2; v++) {
        char cmd[600];
        snprintf(cmd, sizeof cmd, "rm -rf '%s/test'", root);
        cr_assert_eq(system(cmd), 0);
        mk_split(root, "test", 2, 2, v ? 1 : 3, v ? 8 : 4, v ? 8 : 4, 0);
        RD_EXPECT_ERROR(run_settings(root), "the test images are", v ? "1x8x8" : "3x4x4", "3x8x8", first,
                        test_first);
    }
    du_rmtree(root);
}

Test(run_data, idx_splits_agree_and_sparse_labels)
{
    char dir[256];
    du_tmpdir(dir, sizeof dir);
    uint8_t lab[8] = {0, 1, 0, 1, 0, 1, 0, 1};
    du_write_idx(dir, "train-images-idx3-ubyte", "train-labels-idx1-ubyte", 8, 6, 6, lab, 0);
    du_write_idx(dir, "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte", 4, 5, 6, lab, 0);
    RD_EXPECT_ERROR(run_settings(dir), "1x5x6", "1x6x6", "t10k-images-idx3-ubyte", "train-images-idx3-ubyte");

    /* one label 9 among 0 and 1: 10 classes, 7 without an image */
    du_write_idx(dir, "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte", 4, 6, 6, lab, 0);
    lab[7] = 9;
    du_write_idx(dir, "train-images-idx3-ubyte", "train-labels-idx1-ubyte", 8, 6, 6, lab, 0);
    os_run_data d;
    os_data_settings s = run_settings(dir);
    cr_assert_eq(os_run_data_open(&d, &s), 0, "%s", os_last_error());
    cr_expect_eq(d.train.num_classes, 10);
    const char *w = d.train.warning;
    cr_expect(strstr(w, "train-labels-idx1-ubyte") && strstr(w, "10 classes inferred from the largest label, 9") &&
              strstr(w, "7 of them have no image") && strstr(w, "label 2, 3, 4, 5, 6, 7, ..."), "warning: %s", w);
    cr_expect_str_eq(d.test.warning, "");
    os_run_data_close(&d);
    du_rmtree(dir);
}

Test(run_data, one_class_and_constant_channels)
{
    char root[256];
    du_tmpdir(root, sizeof root);
    mk_split(root, "train", 1, 6, 3, 8, 8, 0);
    mk_split(root, "test", 1, 2, 3, 8, 8, 0);
    RD_EXPECT_ERROR(run_settings(root), "every training image (6) is of class 0 ('c0')", "at least two classes");
    du_rmtree(root);

    du_tmpdir(root, sizeof root);
    mk_split(root, "train", 2, 4, 3, 8, 8, 1);
    mk_split(root, "test", 2, 2, 3, 8, 8, 1);
    char first[700];
    snprintf(first, sizeof first, "%s/train/c0/0.png", root);
    RD_EXPECT_ERROR(run_settings(root), "channel 2 (blue)", "is constant (every pixel 0 of 255)", "/train", first);
    du_rmtree(root);

    /* IDX: all labels 3 (4 classes inferred, one used), then blank images */
    char dir[256];
    du_tmpdir(dir, sizeof dir);
    uint8_t lab[6] = {3, 3, 3, 3, 3, 3};
    du_write_idx(dir, "train-images-idx3-ubyte", "train-labels-idx1-ubyte", 6, 4, 4, lab, 0);
    du_write_idx(dir, "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte", 2, 4, 4, lab, 0);
    RD_EXPECT_ERROR(run_settings(dir), "every training image (6) is of class 3");
    uint8_t img[16 + 6 * 16] = {0}, l2[8 + 6] = {0};
    du_idx_header(img, 8, 3, (const uint32_t[]){6, 4, 4});
    du_idx_header(l2, 8, 1, (const uint32_t[]){6});
    for (int i = 0; i < 6; i++)
        l2[8 + i] = (uint8_t)(i % 2);
    du_write(dir, "train-images-idx3-ubyte", img, sizeof img, 0);
    du_write(dir, "train-labels-idx1-ubyte", l2, sizeof l2, 0);
    du_write_idx(dir, "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte", 2, 4, 4, l2 + 8, 0);
    RD_EXPECT_ERROR(run_settings(dir), "channel 0 (grey)", "is constant (every pixel 0 of 255)");
    du_rmtree(dir);
}

/* distinct labels among y[0..n-1] (labels < 16) */
static int n_labels(const int32_t *y, int n)
{
    int seen[16] = {0}, k = 0;
    for (int i = 0; i < n; i++)
        k += !seen[y[i]]++;
    return k;
}

/* The image files hold a class after another; the evaluation loaders (test,
 * and the architecture half for evolve) must still give batches of mixed
 * classes, the same on every pass, each image once a pass, unaugmented.
 * (In file order a partial pass saw one class, and batch-statistics BN
 * normalised every batch within one class.) */
Test(run_data, evaluation_loaders_mix_the_classes)
{
    char dir[256];
    du_tmpdir(dir, sizeof dir);
    uint8_t tr[80], te[40];
    for (int i = 0; i < 80; i++)
        tr[i] = (uint8_t)(i / 20);
    for (int i = 0; i < 40; i++)
        te[i] = (uint8_t)(i / 10);
    du_write_idx(dir, "train-images-idx3-ubyte", "train-labels-idx1-ubyte", 80, 4, 4, tr, 0);
    du_write_idx(dir, "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte", 40, 4, 4, te, 0);
    os_data_settings s = run_settings(dir);
    s.batch = 8;
    for (int need_train = 1; need_train >= 0; need_train--) {
        s.need_train = need_train;
        os_run_data d;
        cr_assert_eq(os_run_data_open(&d, &s), 0, "%s", os_last_error());
        cr_assert(d.vl && d.tl);
        cr_expect_eq(os_loader_batch_size(d.vl), 8, "the architecture half's batch is --batch's");
        os_loader *ls[2] = {d.vl, d.tl};
        int want[2] = {d.n_a, 40};
        for (int k = 0; k < 2; k++) {
            float x0[8 * 16], x[8 * 16];
            int32_t y0[8], y[8];
            int counts[4] = {0}, seen = 0, n;
            os_loader_seek(ls[k], 0, 0);
            cr_assert_eq(os_loader_next(ls[k], x0, y0), 8);
            cr_expect_geq(n_labels(y0, 8), 3, "loader %d: the first batch holds %d classes", k, n_labels(y0, 8));
            for (int i = 0; i < 8; i++)
                counts[y0[i]]++;
            seen = 8;
            while ((n = os_loader_next(ls[k], x, y)) > 0) {
                for (int i = 0; i < n; i++)
                    counts[y[i]]++;
                seen += n;
            }
            cr_expect_eq(seen, want[k], "loader %d: a pass reads every image once", k);
            if (k == 1)
                for (int c = 0; c < 4; c++)
                    cr_expect_eq(counts[c], 10, "test class %d: %d images in a pass", c, counts[c]);
            /* the next pass (a seek to its start, as evaluations do) is the same */
            os_loader_seek(ls[k], 0, 0);
            cr_assert_eq(os_loader_next(ls[k], x, y), 8);
            cr_expect(!memcmp(x, x0, sizeof x) && !memcmp(y, y0, sizeof y), "loader %d: another order on a new pass", k);
            /* unaugmented (the run has crop, flip and cutout): another epoch's pass holds the same images */
            static float all[40 * 16];
            int m = 0;
            os_loader_seek(ls[k], 3, 0);
            while ((n = os_loader_next(ls[k], all + 16 * m, y)) > 0)
                m += n;
            cr_assert_eq(m, want[k]);
            for (int i = 0; i < 8; i++) {
                int found = 0;
                for (int j = 0; j < m && !found; j++)
                    found = !memcmp(x0 + 16 * i, all + 16 * j, sizeof(float) * 16);
                cr_expect(found, "loader %d: image %d of the first batch is not in epoch 3's pass as it was", k, i);
            }
        }
        os_run_data_close(&d);
    }
    /* evaluation only, a test split smaller than --batch: the test batches shrink, the architecture half's do not */
    du_write_idx(dir, "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte", 4, 4, 4, (const uint8_t[]){0, 1, 2, 3}, 0);
    s.need_train = 0;
    os_run_data d;
    cr_assert_eq(os_run_data_open(&d, &s), 0, "%s", os_last_error());
    cr_expect_eq(d.batch, 4);
    cr_expect_eq(os_loader_batch_size(d.tl), 4);
    cr_expect_eq(os_loader_batch_size(d.vl), 8);
    os_run_data_close(&d);
    du_rmtree(dir);
}

Test(run_data, settings_in_user_terms)
{
    char dir[256];
    du_tmpdir(dir, sizeof dir);
    uint8_t lab[8] = {0, 1, 0, 1, 0, 1, 0, 1};
    du_write_idx(dir, "train-images-idx3-ubyte", "train-labels-idx1-ubyte", 8, 6, 7, lab, 0);
    du_write_idx(dir, "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte", 4, 6, 7, lab, 0);
    os_data_settings s = run_settings(dir);
    s.batch = 0;
    RD_EXPECT_ERROR(s, "--batch 0", "at least 1");
    s = run_settings(dir), s.batch = 5;
    RD_EXPECT_ERROR(s, "fewer than one batch of 5", "lower --batch");
    s = run_settings(dir), s.crop_pad = -1;
    RD_EXPECT_ERROR(s, "--crop-pad -1");
    s = run_settings(dir), s.crop_pad = 1000;
    RD_EXPECT_ERROR(s, "--crop-pad 1000", "smaller than the image (6x7");
    s = run_settings(dir), s.crop_pad = 6;
    RD_EXPECT_ERROR(s, "--crop-pad 6");
    s = run_settings(dir), s.cutout = -2;
    RD_EXPECT_ERROR(s, "--cutout -2");
    s = run_settings(dir), s.cutout = 8;
    RD_EXPECT_ERROR(s, "--cutout 8", "larger than the image (6x7", "at most 7");
    s = run_settings(dir), s.subset = -1;
    RD_EXPECT_ERROR(s, "--subset -1");
    s = run_settings(dir), s.test_subset = -1;
    RD_EXPECT_ERROR(s, "--test-subset -1");
    s = run_settings(dir), s.train_portion = 1.5f;
    RD_EXPECT_ERROR(s, "--train-portion 1.5", "between 0 and 1");
    s = run_settings(dir), s.train_portion = 0;
    RD_EXPECT_ERROR(s, "--train-portion 0");
    /* the edges that fit */
    os_run_data d;
    s = run_settings(dir), s.crop_pad = 5, s.cutout = 7;
    cr_expect_eq(os_run_data_open(&d, &s), 0, "%s", os_last_error());
    os_run_data_close(&d);
    /* evaluation only: the batch is only the test batches' size, capped at the test split */
    s = run_settings(dir), s.need_train = 0, s.batch = 1000000;
    cr_assert_eq(os_run_data_open(&d, &s), 0, "%s", os_last_error());
    cr_expect_eq(d.batch, 4);
    float *x = d.xb;
    int32_t *y = d.yb;
    cr_expect_eq(os_loader_next(d.tl, x, y), 4);
    os_run_data_close(&d);
    du_rmtree(dir);
}

Test(datasets, first_image_of_each_format)
{
    char dir[256];
    du_tmpdir(dir, sizeof dir);
    mk_cifar10(dir);
    os_dataset d;
    cr_assert_eq(os_dataset_load(dir, "cifar10", OS_SPLIT_TRAIN, &d), 0, "%s", os_last_error());
    cr_expect(strstr(d.first, "/data_batch_1.bin"), "%s", d.first);
    os_dataset_free(&d);
    cr_assert_eq(os_dataset_load(dir, "cifar10", OS_SPLIT_TEST, &d), 0, "%s", os_last_error());
    cr_expect(strstr(d.first, "/test_batch.bin"), "%s", d.first);
    os_dataset_free(&d);
    du_rmtree(dir);
    du_tmpdir(dir, sizeof dir);
    du_write_idx(dir, "train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", 7, 3, 3, LAB7, 1);
    cr_assert_eq(os_dataset_load(dir, "idx", OS_SPLIT_TRAIN, &d), 0, "%s", os_last_error());
    cr_expect(strstr(d.first, "/train-images-idx3-ubyte.gz"), "%s", d.first);
    cr_expect_str_eq(d.warning, "", "labels 0..3 all present");
    os_dataset_free(&d);
    du_rmtree(dir);
}
