/* The .npy reader: every supported dtype and byte order, format versions 1.0/2.0/3.0, header
 * dict variants, and malformed input (bad magic, truncation, unsupported dtypes, Fortran
 * order, non-finite values, bad shapes, huge shapes, out-of-range labels).
 *
 * The .npy images are written byte by byte by this file (no Python at test time), to a
 * temporary directory for the file API and as memory buffers for crmti_npy_parse. Two tiny
 * files written once by real NumPy (tests/data/small_*.npy, see tests/data/README.md) check
 * compatibility with the real writer. */
#include <check.h>
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "crmt/crmt.h"
#include "data/dataset.h"
#include "data/npy.h"

#ifndef CRMT_TEST_DATA_DIR
#error "CRMT_TEST_DATA_DIR must be defined by the build"
#endif

/* ------------------------------------------------------------------------------------------
 * Building .npy images. */

#define IMG_CAP (1u << 20)

typedef struct image {
    unsigned char *b;
    size_t n;
} image;

/* An .npy image: magic, version major.0, header = dict padded with spaces and '\n' so that
 * the data starts at a multiple of 64 (as NumPy does), then data. */
static image npy_image(int major, const char *dict, const void *data, size_t data_len)
{
    image im;
    size_t prefix = major == 1 ? 10 : 12, dl = strlen(dict);
    size_t hlen = dl + 1;
    while ((prefix + hlen) % 64)
        hlen++;
    im.n = prefix + hlen + data_len;
    im.b = malloc(im.n ? im.n : 1);
    ck_assert_ptr_nonnull(im.b);
    memcpy(im.b, "\x93NUMPY", 6);
    im.b[6] = (unsigned char)major;
    im.b[7] = 0;
    if (major == 1) {
        ck_assert_uint_lt(hlen, 65536);
        im.b[8] = (unsigned char)(hlen & 0xff);
        im.b[9] = (unsigned char)(hlen >> 8);
    } else {
        for (int i = 0; i < 4; i++)
            im.b[8 + i] = (unsigned char)(hlen >> (8 * i));
    }
    memcpy(im.b + prefix, dict, dl);
    memset(im.b + prefix + dl, ' ', hlen - dl - 1);
    im.b[prefix + hlen - 1] = '\n';
    if (data_len)
        memcpy(im.b + prefix + hlen, data, data_len);
    return im;
}

/* An image with a raw, unpadded header (for header-parser corner cases). */
static image raw_image(int major, const char *header, const void *data, size_t data_len)
{
    image im;
    size_t prefix = major == 1 ? 10 : 12, hlen = strlen(header);
    im.n = prefix + hlen + data_len;
    im.b = malloc(im.n);
    ck_assert_ptr_nonnull(im.b);
    memcpy(im.b, "\x93NUMPY", 6);
    im.b[6] = (unsigned char)major;
    im.b[7] = 0;
    for (size_t i = 0; i < prefix - 8; i++)
        im.b[8 + i] = (unsigned char)(hlen >> (8 * i));
    memcpy(im.b + prefix, header, hlen);
    if (data_len)
        memcpy(im.b + prefix + hlen, data, data_len);
    return im;
}

static void put_u32(unsigned char *p, uint32_t v, int big)
{
    for (int i = 0; i < 4; i++)
        p[big ? 3 - i : i] = (unsigned char)(v >> (8 * i));
}

static void put_u64(unsigned char *p, uint64_t v, int big)
{
    for (int i = 0; i < 8; i++)
        p[big ? 7 - i : i] = (unsigned char)(v >> (8 * i));
}

static void put_f32(unsigned char *p, float v, int big)
{
    uint32_t u;
    memcpy(&u, &v, 4);
    put_u32(p, u, big);
}

static void put_f64(unsigned char *p, double v, int big)
{
    uint64_t u;
    memcpy(&u, &v, 8);
    put_u64(p, u, big);
}

/* Encode count doubles as dtype descr ("<f4", ">f8", "|u1", "<i4", ">i8", ...) into out;
 * returns the number of bytes. */
static size_t encode(const char *descr, const double *v, size_t count, unsigned char *out)
{
    int big = descr[0] == '>';
    char kind = descr[1];
    int size = descr[2] - '0';
    for (size_t i = 0; i < count; i++) {
        unsigned char *p = out + i * (size_t)size;
        if (kind == 'f' && size == 4)
            put_f32(p, (float)v[i], big);
        else if (kind == 'f' && size == 8)
            put_f64(p, v[i], big);
        else if (kind == 'u' && size == 1)
            p[0] = (unsigned char)v[i];
        else if (kind == 'i' && size == 4)
            put_u32(p, (uint32_t)(int32_t)v[i], big);
        else if (kind == 'i' && size == 8)
            put_u64(p, (uint64_t)(int64_t)v[i], big);
        else
            ck_abort_msg("encode: bad descr %s", descr);
    }
    return count * (size_t)size;
}

/* An image of count values in dtype descr with the given shape text, e.g. "(3, 2)". */
static image typed_image(int major, const char *descr, const char *shape, const double *v,
                         size_t count)
{
    unsigned char data[4096];
    ck_assert_uint_le(count * 8, sizeof data);
    size_t len = encode(descr, v, count, data);
    char dict[256];
    snprintf(dict, sizeof dict, "{'descr': '%s', 'fortran_order': False, 'shape': %s, }",
             descr, shape);
    return npy_image(major, dict, data, len);
}

/* ------------------------------------------------------------------------------------------
 * Temporary directory (one per test: Check forks each test, fixtures run in the child). */

static char tmp_dir[256];
static int tmp_count;

static void tmp_setup(void)
{
    snprintf(tmp_dir, sizeof tmp_dir, "/tmp/crmt_test_npy_XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(tmp_dir));
    tmp_count = 0;
}

static void tmp_teardown(void)
{
    char path[512];
    for (int i = 0; i < tmp_count; i++) {
        snprintf(path, sizeof path, "%s/f%d.npy", tmp_dir, i);
        unlink(path);
    }
    rmdir(tmp_dir);
}

/* Write bytes to a new file of the temp dir; returns its path (static storage, one per
 * call up to 8 live paths). */
static const char *write_tmp(const void *bytes, size_t n)
{
    static char paths[8][512];
    char *path = paths[tmp_count % 8];
    snprintf(path, sizeof paths[0], "%s/f%d.npy", tmp_dir, tmp_count++);
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    if (n)
        ck_assert_uint_eq(fwrite(bytes, 1, n, f), n);
    ck_assert_int_eq(fclose(f), 0);
    return path;
}

/* Load an image as modality 0 of a new dataset of n samples; returns the status and leaves
 * the dataset in *out (always created). Frees the image. */
static crmt_status load_features(image im, size_t n, crmt_dataset **out)
{
    ck_assert_int_eq(crmt_dataset_create(out, n, 1), CRMT_OK);
    const char *path = write_tmp(im.b, im.n);
    free(im.b);
    return crmt_dataset_load_npy_modality(*out, 0, path);
}

static crmt_status load_labels(image im, size_t n, crmt_dataset **out)
{
    ck_assert_int_eq(crmt_dataset_create(out, n, 1), CRMT_OK);
    const char *path = write_tmp(im.b, im.n);
    free(im.b);
    return crmt_dataset_load_npy_labels(*out, path);
}

/* Parse a memory image as features with any first dimension; frees the image and the
 * result; returns the status. */
static crmt_status parse_status(image im, crmti_npy_kind kind)
{
    crmti_npy_array a;
    char msg[CRMTI_ERRMSG_SIZE] = "";
    crmt_status st = crmti_npy_parse(im.b, im.n, kind, 0, &a, msg);
    if (st != CRMT_OK) {
        ck_assert_msg(msg[0] != '\0', "failure without a message");
        ck_assert_ptr_null(a.f32);
        ck_assert_ptr_null(a.i32);
    }
    crmti_npy_array_free(&a);
    free(im.b);
    return st;
}

static const double fvals[6] = {1.5, -2.25, 3.0, 0.0, 0.125, 100.0};

/* ------------------------------------------------------------------------------------------
 * Valid files. */

START_TEST(test_feature_dtypes_and_versions)
{
    static const char *descr[] = {"<f4", ">f4", "<f8", ">f8", "|u1"};
    static const double u1vals[6] = {0, 1, 16, 128, 254, 255};
    for (int major = 1; major <= 3; major++) {
        for (size_t d = 0; d < sizeof descr / sizeof descr[0]; d++) {
            const double *v = descr[d][1] == 'u' ? u1vals : fvals;
            crmt_dataset *ds;
            crmt_status st = load_features(typed_image(major, descr[d], "(3, 2)", v, 6), 3, &ds);
            ck_assert_msg(st == CRMT_OK, "v%d %s: %s", major, descr[d], crmt_last_error());
            ck_assert_uint_eq(crmt_dataset_dim(ds, 0), 2);
            const float *x = crmt_dataset_data(ds, 0);
            ck_assert_ptr_nonnull(x);
            for (int i = 0; i < 6; i++)
                ck_assert_msg(x[i] == (float)v[i], "v%d %s value %d: %g != %g", major,
                              descr[d], i, (double)x[i], v[i]);
            crmt_dataset_destroy(ds);
        }
    }
}
END_TEST

START_TEST(test_feature_shapes_flatten)
{
    crmt_dataset *ds;
    /* (6,) -> 6 x 1 */
    ck_assert_int_eq(load_features(typed_image(1, "<f4", "(6,)", fvals, 6), 6, &ds), CRMT_OK);
    ck_assert_uint_eq(crmt_dataset_dim(ds, 0), 1);
    ck_assert(crmt_dataset_data(ds, 0)[5] == 100.0f);
    crmt_dataset_destroy(ds);
    /* (1, 2, 3) -> 1 x 6, C order kept */
    ck_assert_int_eq(load_features(typed_image(1, "<f8", "(1, 2, 3)", fvals, 6), 1, &ds),
                     CRMT_OK);
    ck_assert_uint_eq(crmt_dataset_dim(ds, 0), 6);
    for (int i = 0; i < 6; i++)
        ck_assert(crmt_dataset_data(ds, 0)[i] == (float)fvals[i]);
    crmt_dataset_destroy(ds);
    /* (2, 1, 3, 1) -> 2 x 3 */
    ck_assert_int_eq(load_features(typed_image(2, ">f4", "(2,1,3,1)", fvals, 6), 2, &ds),
                     CRMT_OK);
    ck_assert_uint_eq(crmt_dataset_dim(ds, 0), 3);
    crmt_dataset_destroy(ds);
}
END_TEST

START_TEST(test_label_dtypes)
{
    static const char *descr[] = {"|u1", "<i4", ">i4", "<i8", ">i8"};
    static const double small[5] = {0, 1, 9, 200, 255};
    static const double wide[5] = {0, 1, 9, 65536, 2147483647.0};
    for (int major = 1; major <= 3; major++) {
        for (size_t d = 0; d < sizeof descr / sizeof descr[0]; d++) {
            const double *v = descr[d][1] == 'u' ? small : wide;
            crmt_dataset *ds;
            crmt_status st = load_labels(typed_image(major, descr[d], "(5,)", v, 5), 5, &ds);
            ck_assert_msg(st == CRMT_OK, "v%d %s: %s", major, descr[d], crmt_last_error());
            const int32_t *l = crmt_dataset_labels(ds);
            ck_assert_ptr_nonnull(l);
            for (int i = 0; i < 5; i++)
                ck_assert_int_eq(l[i], (int32_t)v[i]);
            crmt_dataset_destroy(ds);
        }
    }
}
END_TEST

START_TEST(test_header_variants)
{
    unsigned char data[24];
    encode("<f4", fvals, 6, data);
    static const char *dicts[] = {
        "{'shape': (3, 2), 'fortran_order': False, 'descr': '<f4'}",
        "{\"descr\": \"<f4\", \"fortran_order\": False, \"shape\": (3, 2)}",
        "{ 'fortran_order' :False ,'descr':'<f4','shape':( 3 ,2 , ) , }",
        "{\n\t'descr': '<f4',\n\t'fortran_order': False,\n\t'shape': (3L, 2L),\n}",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (3,2)}",
    };
    for (size_t i = 0; i < sizeof dicts / sizeof dicts[0]; i++) {
        crmt_dataset *ds;
        crmt_status st = load_features(npy_image(1, dicts[i], data, sizeof data), 3, &ds);
        ck_assert_msg(st == CRMT_OK, "dict %zu: %s", i, crmt_last_error());
        ck_assert_uint_eq(crmt_dataset_dim(ds, 0), 2);
        ck_assert(crmt_dataset_data(ds, 0)[1] == -2.25f);
        crmt_dataset_destroy(ds);
    }
    /* Unpadded header without the final newline. */
    image im = raw_image(1, "{'descr':'<f4','fortran_order':False,'shape':(3,2)}", data,
                         sizeof data);
    ck_assert_int_eq(parse_status(im, CRMTI_NPY_FEATURES), CRMT_OK);
    /* '<u1' and native '=' orders. */
    static const double u[3] = {1, 2, 3};
    ck_assert_int_eq(parse_status(typed_image(1, "|u1", "(3,)", u, 3), CRMTI_NPY_LABELS),
                     CRMT_OK);
    unsigned char ub[3] = {1, 2, 3};
    im = npy_image(1, "{'descr': '<u1', 'fortran_order': False, 'shape': (3,), }", ub, 3);
    ck_assert_int_eq(parse_status(im, CRMTI_NPY_FEATURES), CRMT_OK);
    /* '=' is the host order: write host-order floats. */
    float host[6];
    for (int i = 0; i < 6; i++)
        host[i] = (float)fvals[i];
    im = npy_image(1, "{'descr': '=f4', 'fortran_order': False, 'shape': (6,), }", host,
                   sizeof host);
    crmti_npy_array a;
    ck_assert_int_eq(crmti_npy_parse(im.b, im.n, CRMTI_NPY_FEATURES, 6, &a, NULL), CRMT_OK);
    ck_assert(a.f32[1] == -2.25f && a.f32[5] == 100.0f);
    crmti_npy_array_free(&a);
    free(im.b);
}
END_TEST

START_TEST(test_v2_long_header)
{
    /* A 2.0 header longer than the 65535 bytes a 1.0 header can hold. */
    size_t len = 70000;
    char *dict = malloc(len + 1);
    ck_assert_ptr_nonnull(dict);
    const char *head = "{'descr': '<f8', 'fortran_order': False, 'shape': (2, 3), ";
    memset(dict, ' ', len);
    memcpy(dict, head, strlen(head));
    dict[len - 1] = '}';
    dict[len] = '\0';
    unsigned char data[48];
    encode("<f8", fvals, 6, data);
    crmt_dataset *ds;
    ck_assert_int_eq(load_features(npy_image(2, dict, data, sizeof data), 2, &ds), CRMT_OK);
    ck_assert_uint_eq(crmt_dataset_dim(ds, 0), 3);
    ck_assert(crmt_dataset_data(ds, 0)[5] == 100.0f);
    crmt_dataset_destroy(ds);
    free(dict);
}
END_TEST

START_TEST(test_parse_api_memory)
{
    image im = typed_image(1, "<f4", "(3, 2)", fvals, 6);
    crmti_npy_array a;
    ck_assert_int_eq(crmti_npy_parse(im.b, im.n, CRMTI_NPY_FEATURES, 0, &a, NULL), CRMT_OK);
    ck_assert_uint_eq(a.n, 3);
    ck_assert_uint_eq(a.dim, 2);
    ck_assert_ptr_nonnull(a.f32);
    ck_assert_ptr_null(a.i32);
    crmti_npy_array_free(&a);
    ck_assert_ptr_null(a.f32);
    crmti_npy_array_free(NULL);

    crmti_npy_header h;
    ck_assert_int_eq(crmti_npy_parse_header(im.b, im.n, &h, NULL), CRMT_OK);
    ck_assert_int_eq(h.major, 1);
    ck_assert_str_eq(h.descr, "<f4");
    ck_assert_int_eq(h.ndim, 2);
    ck_assert_uint_eq(h.data_offset, im.n - 24);
    ck_assert_uint_eq(h.data_offset % 64, 0);

    char msg[CRMTI_ERRMSG_SIZE];
    ck_assert_int_eq(crmti_npy_parse(im.b, im.n, CRMTI_NPY_FEATURES, 0, NULL, msg),
                     CRMT_ERR_INVALID_ARGUMENT);
    ck_assert_int_eq(crmti_npy_parse(NULL, 10, CRMTI_NPY_FEATURES, 0, &a, msg),
                     CRMT_ERR_INVALID_ARGUMENT);
    ck_assert_int_eq(crmti_npy_parse(NULL, 0, CRMTI_NPY_FEATURES, 0, &a, msg), CRMT_ERR_FORMAT);
    ck_assert_int_eq(crmti_npy_parse(im.b, im.n, (crmti_npy_kind)7, 0, &a, msg),
                     CRMT_ERR_INVALID_ARGUMENT);
    ck_assert_int_eq(crmti_npy_parse_header(im.b, im.n, NULL, msg), CRMT_ERR_INVALID_ARGUMENT);
    free(im.b);
}
END_TEST

START_TEST(test_real_numpy_files)
{
    crmt_dataset *ds;
    ck_assert_int_eq(crmt_dataset_create(&ds, 4, 1), CRMT_OK);
    crmt_status st =
        crmt_dataset_load_npy_modality(ds, 0, CRMT_TEST_DATA_DIR "/small_f4.npy");
    ck_assert_msg(st == CRMT_OK, "%s", crmt_dataset_errmsg(ds));
    ck_assert_uint_eq(crmt_dataset_dim(ds, 0), 3);
    static const float want[12] = {1.5f, -2.25f, 3.0f,   0.0f,  0.001f, 65504.0f,
                                   -1e-3f, 1e30f, -7.0f, 0.5f, 0.25f,  0.125f};
    const float *x = crmt_dataset_data(ds, 0);
    for (int i = 0; i < 12; i++)
        ck_assert_msg(x[i] == want[i], "value %d: %g", i, (double)x[i]);
    st = crmt_dataset_load_npy_labels(ds, CRMT_TEST_DATA_DIR "/small_labels_i8.npy");
    ck_assert_msg(st == CRMT_OK, "%s", crmt_dataset_errmsg(ds));
    const int32_t *l = crmt_dataset_labels(ds);
    ck_assert_int_eq(l[0], 0);
    ck_assert_int_eq(l[1], 3);
    ck_assert_int_eq(l[2], 9);
    ck_assert_int_eq(l[3], INT32_MAX);
    ck_assert(crmti_dataset_complete(ds));
    crmt_dataset_destroy(ds);

    /* The same features file into a dataset of another size: shape error. */
    ck_assert_int_eq(crmt_dataset_create(&ds, 5, 1), CRMT_OK);
    ck_assert_int_eq(crmt_dataset_load_npy_modality(ds, 0, CRMT_TEST_DATA_DIR "/small_f4.npy"),
                     CRMT_ERR_SHAPE);
    ck_assert_ptr_nonnull(strstr(crmt_dataset_errmsg(ds), "small_f4.npy"));
    crmt_dataset_destroy(ds);
}
END_TEST

/* ------------------------------------------------------------------------------------------
 * Malformed files. */

START_TEST(test_bad_magic_and_truncated_prefix)
{
    image im = typed_image(1, "<f4", "(3, 2)", fvals, 6);
    crmt_dataset *ds;
    ck_assert_int_eq(crmt_dataset_create(&ds, 3, 1), CRMT_OK);
    /* Empty file, a few bytes, a bad magic. */
    ck_assert_int_eq(crmt_dataset_load_npy_modality(ds, 0, write_tmp("", 0)), CRMT_ERR_FORMAT);
    for (size_t cut = 1; cut < 12; cut++)
        ck_assert_int_eq(crmt_dataset_load_npy_modality(ds, 0, write_tmp(im.b, cut)),
                         CRMT_ERR_FORMAT);
    im.b[1] = 'n';
    ck_assert_int_eq(crmt_dataset_load_npy_modality(ds, 0, write_tmp(im.b, im.n)),
                     CRMT_ERR_FORMAT);
    ck_assert_ptr_nonnull(strstr(crmt_dataset_errmsg(ds), "magic"));
    ck_assert_int_eq(crmt_dataset_load_npy_modality(ds, 0, write_tmp("PK\x03\x04 zip", 8)),
                     CRMT_ERR_FORMAT);
    ck_assert_ptr_null(crmt_dataset_data(ds, 0));
    crmt_dataset_destroy(ds);
    free(im.b);
}
END_TEST

START_TEST(test_versions)
{
    image im = typed_image(1, "<f4", "(3, 2)", fvals, 6);
    im.b[6] = 4;
    ck_assert_int_eq(parse_status(im, CRMTI_NPY_FEATURES), CRMT_ERR_VERSION);
    im = typed_image(1, "<f4", "(3, 2)", fvals, 6);
    im.b[7] = 1;
    ck_assert_int_eq(parse_status(im, CRMTI_NPY_FEATURES), CRMT_ERR_VERSION);
    im = typed_image(1, "<f4", "(3, 2)", fvals, 6);
    im.b[6] = 0;
    ck_assert_int_eq(parse_status(im, CRMTI_NPY_FEATURES), CRMT_ERR_FORMAT);
    im = typed_image(2, "<f4", "(3, 2)", fvals, 6);
    im.b[6] = 255;
    ck_assert_int_eq(parse_status(im, CRMTI_NPY_FEATURES), CRMT_ERR_VERSION);
}
END_TEST

START_TEST(test_truncated_header_and_data)
{
    /* Header length beyond the end of the file. */
    image im = typed_image(1, "<f4", "(3, 2)", fvals, 6);
    im.n = 40;
    ck_assert_int_eq(parse_status(im, CRMTI_NPY_FEATURES), CRMT_ERR_FORMAT);
    im = typed_image(2, "<f4", "(3, 2)", fvals, 6);
    im.b[11] = 0x7f; /* v2 header length ~2 GiB */
    ck_assert_int_eq(parse_status(im, CRMTI_NPY_FEATURES), CRMT_ERR_FORMAT);

    /* Data one byte and one value short, through the file API. */
    crmt_dataset *ds;
    im = typed_image(1, "<f8", "(3, 2)", fvals, 6);
    im.n -= 1;
    ck_assert_int_eq(load_features(im, 3, &ds), CRMT_ERR_FORMAT);
    ck_assert_ptr_nonnull(strstr(crmt_dataset_errmsg(ds), "truncated"));
    ck_assert_ptr_null(crmt_dataset_data(ds, 0));
    crmt_dataset_destroy(ds);
    im = typed_image(1, "<i8", "(5,)", fvals, 5);
    im.n -= 8;
    ck_assert_int_eq(load_labels(im, 5, &ds), CRMT_ERR_FORMAT);
    crmt_dataset_destroy(ds);

    /* Every strict prefix of a valid image fails with CRMT_ERR_FORMAT. */
    image full = typed_image(3, ">f4", "(3, 2)", fvals, 6);
    for (size_t cut = 0; cut < full.n; cut++) {
        unsigned char *b = malloc(cut ? cut : 1);
        memcpy(b, full.b, cut);
        crmti_npy_array a;
        ck_assert_int_eq(crmti_npy_parse(b, cut, CRMTI_NPY_FEATURES, 3, &a, NULL),
                         CRMT_ERR_FORMAT);
        free(b);
    }
    free(full.b);

    /* Trailing bytes after the data. */
    unsigned char data[25];
    encode("<f4", fvals, 6, data);
    data[24] = 0;
    im = npy_image(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (3, 2), }", data, 25);
    ck_assert_int_eq(parse_status(im, CRMTI_NPY_FEATURES), CRMT_ERR_FORMAT);
}
END_TEST

START_TEST(test_unsupported)
{
    unsigned char data[64] = {0};
    static const char *features_bad[] = {"<c8", "<f2", "|f4", "<i8", ">i4", "|b1", "<U3",
                                         "|O", "<M8[ns]", "f4x",
                                         "<f4_a_very_long_descr_that_does_not_fit_at_all"};
    for (size_t i = 0; i < sizeof features_bad / sizeof features_bad[0]; i++) {
        char dict[256];
        snprintf(dict, sizeof dict, "{'descr': '%s', 'fortran_order': False, 'shape': (2,), }",
                 features_bad[i]);
        crmt_dataset *ds;
        crmt_status st = load_features(npy_image(1, dict, data, 2), 2, &ds);
        ck_assert_msg(st == CRMT_ERR_UNSUPPORTED, "%s: status %d", features_bad[i], st);
        char want[16];
        snprintf(want, sizeof want, "%.3s", features_bad[i]);
        ck_assert_msg(strstr(crmt_dataset_errmsg(ds), want) != NULL, "message '%s' lacks %s",
                      crmt_dataset_errmsg(ds), want);
        crmt_dataset_destroy(ds);
    }
    static const char *labels_bad[] = {"<f4", ">f8", "<u4", "<i2", "|i1"};
    for (size_t i = 0; i < sizeof labels_bad / sizeof labels_bad[0]; i++) {
        char dict[256];
        snprintf(dict, sizeof dict, "{'descr': '%s', 'fortran_order': False, 'shape': (2,), }",
                 labels_bad[i]);
        image im = npy_image(1, dict, data, 16);
        crmti_npy_array a;
        char msg[CRMTI_ERRMSG_SIZE];
        ck_assert_int_eq(crmti_npy_parse(im.b, im.n, CRMTI_NPY_LABELS, 0, &a, msg),
                         CRMT_ERR_UNSUPPORTED);
        ck_assert_ptr_nonnull(strstr(msg, labels_bad[i]));
        free(im.b);
    }
    /* Fortran order, structured dtype. */
    crmt_dataset *ds;
    ck_assert_int_eq(
        load_features(npy_image(1, "{'descr': '<f4', 'fortran_order': True, 'shape': (2, 2), }",
                                data, 16),
                      2, &ds),
        CRMT_ERR_UNSUPPORTED);
    ck_assert_ptr_nonnull(strstr(crmt_dataset_errmsg(ds), "Fortran"));
    crmt_dataset_destroy(ds);
    image im = npy_image(
        1, "{'descr': [('x', '<f4'), ('y', '<f4')], 'fortran_order': False, 'shape': (2,), }",
        data, 16);
    ck_assert_int_eq(parse_status(im, CRMTI_NPY_FEATURES), CRMT_ERR_UNSUPPORTED);
}
END_TEST

START_TEST(test_malformed_dicts)
{
    unsigned char data[8] = {0};
    static const char *dicts[] = {
        "",                                                              /* no dict */
        "['descr', '<f4']",                                              /* not a dict */
        "{'descr': '<f4', 'fortran_order': False}",                      /* no shape */
        "{'fortran_order': False, 'shape': (2,)}",                       /* no descr */
        "{'descr': '<f4', 'shape': (2,)}",                               /* no fortran_order */
        "{}",                                                            /* empty */
        "{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (2,)}",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), 'extra': 1}",
        "{'descr': '<f4', 'fortran_order': false, 'shape': (2,)}",
        "{'descr': '<f4', 'fortran_order': Falsey, 'shape': (2,)}",
        "{'descr': '<f4', 'fortran_order': 0, 'shape': (2,)}",
        "{'descr': <f4, 'fortran_order': False, 'shape': (2,)}",
        "{'descr': '<f4, 'fortran_order': False, 'shape': (2,)}",
        "{'descr': '<f4', 'fortran_order': False, 'shape': [2]}",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (2,}",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (2 2)}",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (-2,)}",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (2.0,)}",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (0x2,)}",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (,)}",
        "{'descr': '<f4' 'fortran_order': False, 'shape': (2,)}",
        "{'descr' '<f4', 'fortran_order': False, 'shape': (2,)}",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (2,)",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (2,)} junk",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (2,)}}",
        "{'des\\cr': '<f4', 'fortran_order': False, 'shape': (2,)}",
        "{descr: '<f4', 'fortran_order': False, 'shape': (2,)}",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (2,),,}",
    };
    for (size_t i = 0; i < sizeof dicts / sizeof dicts[0]; i++) {
        image im = npy_image(1, dicts[i], data, 8);
        crmti_npy_array a;
        char msg[CRMTI_ERRMSG_SIZE] = "";
        crmt_status st = crmti_npy_parse(im.b, im.n, CRMTI_NPY_FEATURES, 0, &a, msg);
        ck_assert_msg(st == CRMT_ERR_FORMAT, "dict %zu (%s): status %d (%s)", i, dicts[i], st,
                      msg);
        ck_assert(msg[0] != '\0');
        free(im.b);
    }
    /* A NUL inside the header. */
    image im = raw_image(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2,)}  ", data, 8);
    im.b[im.n - 8 - 1] = '\0'; /* the last header byte */
    ck_assert_int_eq(parse_status(im, CRMTI_NPY_FEATURES), CRMT_ERR_FORMAT);
}
END_TEST

START_TEST(test_non_finite)
{
    struct {
        const char *descr;
        double bad;
        const char *word;
    } cases[] = {
        {"<f4", NAN, "NaN"},      {">f4", INFINITY, "infinity"}, {"<f4", -INFINITY, "infinity"},
        {"<f8", NAN, "NaN"},      {">f8", -INFINITY, "infinity"}, {"<f8", 1e300, "float32"},
        {">f8", -1e39, "float32"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        double v[6];
        memcpy(v, fvals, sizeof v);
        v[3] = cases[i].bad; /* sample 1, feature 1 */
        crmt_dataset *ds;
        crmt_status st = load_features(typed_image(1, cases[i].descr, "(3, 2)", v, 6), 3, &ds);
        ck_assert_msg(st == CRMT_ERR_NON_FINITE, "case %zu: status %d", i, st);
        const char *msg = crmt_dataset_errmsg(ds);
        ck_assert_msg(strstr(msg, cases[i].word) && strstr(msg, "sample 1, feature 1"),
                      "case %zu: %s", i, msg);
        ck_assert_ptr_null(crmt_dataset_data(ds, 0));
        crmt_dataset_destroy(ds);
    }
    /* The largest float32 in a float64 file is accepted. */
    double v[2] = {FLT_MAX, -FLT_MAX};
    crmt_dataset *ds;
    ck_assert_int_eq(load_features(typed_image(1, "<f8", "(2,)", v, 2), 2, &ds), CRMT_OK);
    ck_assert(crmt_dataset_data(ds, 0)[1] == -FLT_MAX);
    crmt_dataset_destroy(ds);
}
END_TEST

START_TEST(test_shape_errors)
{
    crmt_dataset *ds;
    /* First dimension differs from n_samples. */
    ck_assert_int_eq(load_features(typed_image(1, "<f4", "(3, 2)", fvals, 6), 4, &ds),
                     CRMT_ERR_SHAPE);
    ck_assert_ptr_null(crmt_dataset_data(ds, 0));
    crmt_dataset_destroy(ds);
    ck_assert_int_eq(load_features(typed_image(1, "<f4", "(2, 3)", fvals, 6), 3, &ds),
                     CRMT_ERR_SHAPE);
    crmt_dataset_destroy(ds);
    static const double l[6] = {0, 1, 2, 3, 4, 5};
    ck_assert_int_eq(load_labels(typed_image(1, "<i4", "(6,)", l, 6), 5, &ds), CRMT_ERR_SHAPE);
    ck_assert_ptr_null(crmt_dataset_labels(ds));
    crmt_dataset_destroy(ds);
    /* Labels must be 1-D. */
    ck_assert_int_eq(load_labels(typed_image(1, "<i4", "(3, 2)", l, 6), 3, &ds), CRMT_ERR_SHAPE);
    crmt_dataset_destroy(ds);
    ck_assert_int_eq(load_labels(typed_image(1, "<i4", "(6, 1)", l, 6), 6, &ds), CRMT_ERR_SHAPE);
    crmt_dataset_destroy(ds);
    /* 0-d and empty arrays. */
    ck_assert_int_eq(parse_status(typed_image(1, "<f4", "()", fvals, 1), CRMTI_NPY_FEATURES),
                     CRMT_ERR_SHAPE);
    ck_assert_int_eq(parse_status(typed_image(1, "<f4", "(0,)", fvals, 0), CRMTI_NPY_FEATURES),
                     CRMT_ERR_SHAPE);
    ck_assert_int_eq(parse_status(typed_image(1, "<f4", "(3, 0)", fvals, 0), CRMTI_NPY_FEATURES),
                     CRMT_ERR_SHAPE);
    ck_assert_int_eq(parse_status(typed_image(1, "|u1", "(0,)", fvals, 0), CRMTI_NPY_LABELS),
                     CRMT_ERR_SHAPE);
}
END_TEST

START_TEST(test_huge_shapes_do_not_allocate)
{
    /* Each of these must be refused from the header alone: the data is a few bytes, and an
     * attempt to allocate what the shape claims would be a failure of the test (the status
     * would be CRMT_ERR_OUT_OF_MEMORY or the process would run out of memory). */
    static const char *shapes[] = {
        "(18446744073709551615, 2)",     /* n * dim overflows */
        "(4294967296, 4294967296)",      /* n * dim = 2^64 */
        "(2, 4294967296, 4294967296)",   /* dim overflows */
        "(4611686018427387904,)",        /* n * itemsize overflows */
        "(1000000000000,)",              /* 4 TB claimed */
        "(2000000000, 1000000)",         /* 8 EB claimed */
        "(99999999999999999999999, 1)",  /* does not fit in 64 bits */
    };
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
        image im = typed_image(1, "<f4", shapes[i], fvals, 2);
        ck_assert_msg(parse_status(im, CRMTI_NPY_FEATURES) == CRMT_ERR_FORMAT, "%s", shapes[i]);
        im = typed_image(2, "<i8", shapes[i], fvals, 2);
        ck_assert_msg(parse_status(im, CRMTI_NPY_LABELS) != CRMT_OK, "%s", shapes[i]);
    }
    /* Through a dataset whose n_samples matches the claimed first dimension. */
    crmt_dataset *ds;
    ck_assert_int_eq(load_features(typed_image(1, "<f4", "(2000000000, 1000000)", fvals, 2),
                                   2000000000, &ds),
                     CRMT_ERR_FORMAT);
    ck_assert_ptr_nonnull(strstr(crmt_dataset_errmsg(ds), "truncated"));
    crmt_dataset_destroy(ds);
    /* More dimensions than NumPy allows. */
    char shape[1024] = "(";
    for (int i = 0; i < CRMTI_NPY_MAX_DIMS + 1; i++)
        strcat(shape, "1,");
    strcat(shape, ")");
    ck_assert_int_eq(parse_status(typed_image(1, "<f4", shape, fvals, 1), CRMTI_NPY_FEATURES),
                     CRMT_ERR_FORMAT);
    /* A consistent file whose feature dimension exceeds the limit: refused before any
     * allocation by the limit (the data is all there). */
    size_t dim = CRMTI_DATASET_MAX_DIM + 1;
    unsigned char *zeros = calloc(dim, 1);
    ck_assert_ptr_nonnull(zeros);
    char dict[128];
    snprintf(dict, sizeof dict, "{'descr': '|u1', 'fortran_order': False, 'shape': (1, %zu), }",
             dim);
    ck_assert_int_eq(parse_status(npy_image(1, dict, zeros, dim), CRMTI_NPY_FEATURES),
                     CRMT_ERR_UNSUPPORTED);
    free(zeros);
}
END_TEST

START_TEST(test_label_ranges)
{
    struct {
        const char *descr;
        int64_t bad;
    } cases[] = {{"<i4", -1},        {">i4", -5},       {"<i4", INT32_MIN},
                 {"<i8", -1},        {">i8", INT64_MIN}, {"<i8", (int64_t)INT32_MAX + 1},
                 {">i8", INT64_MAX}, {"<i8", -4294967296LL}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int big = cases[i].descr[0] == '>', wide = cases[i].descr[2] == '8';
        int64_t v[3] = {0, 1, cases[i].bad};
        unsigned char data[24];
        for (int k = 0; k < 3; k++) {
            if (wide)
                put_u64(data + 8 * k, (uint64_t)v[k], big);
            else
                put_u32(data + 4 * k, (uint32_t)(int32_t)v[k], big);
        }
        char dict[128];
        snprintf(dict, sizeof dict, "{'descr': '%s', 'fortran_order': False, 'shape': (3,), }",
                 cases[i].descr);
        crmt_dataset *ds;
        crmt_status st = load_labels(npy_image(1, dict, data, wide ? 24 : 12), 3, &ds);
        ck_assert_msg(st == CRMT_ERR_INVALID_ARGUMENT, "case %zu: status %d", i, st);
        ck_assert_ptr_nonnull(strstr(crmt_dataset_errmsg(ds), "index 2"));
        ck_assert_ptr_null(crmt_dataset_labels(ds));
        crmt_dataset_destroy(ds);
    }
}
END_TEST

START_TEST(test_io_errors_and_state_kept)
{
    crmt_dataset *ds;
    ck_assert_int_eq(crmt_dataset_create(&ds, 3, 2), CRMT_OK);
    float host[6] = {1, 2, 3, 4, 5, 6};
    ck_assert_int_eq(crmt_dataset_set_modality(ds, 0, host, 2, CRMT_BORROW), CRMT_OK);
    int32_t labels[3] = {1, 2, 3};
    ck_assert_int_eq(crmt_dataset_set_labels(ds, labels), CRMT_OK);
    const int32_t *old_labels = crmt_dataset_labels(ds);

    char missing[512];
    snprintf(missing, sizeof missing, "%s/does_not_exist.npy", tmp_dir);
    crmt_clear_error();
    ck_assert_int_eq(crmt_dataset_load_npy_modality(ds, 0, missing), CRMT_ERR_IO);
    ck_assert_ptr_nonnull(strstr(crmt_dataset_errmsg(ds), "does_not_exist.npy"));
    ck_assert_str_eq(crmt_last_error(), crmt_dataset_errmsg(ds));
    ck_assert_int_eq(crmt_dataset_load_npy_labels(ds, missing), CRMT_ERR_IO);
    ck_assert_int_eq(crmt_dataset_load_npy_modality(ds, 0, tmp_dir), CRMT_ERR_IO);
    ck_assert_int_eq(crmt_dataset_load_npy_labels(ds, tmp_dir), CRMT_ERR_IO);
    /* Failed loads keep the previous data. */
    image im = typed_image(1, "<f4", "(3, 2)", fvals, 6);
    im.n -= 4;
    ck_assert_int_eq(crmt_dataset_load_npy_modality(ds, 0, write_tmp(im.b, im.n)),
                     CRMT_ERR_FORMAT);
    free(im.b);
    ck_assert_ptr_eq(crmt_dataset_data(ds, 0), host);
    ck_assert_ptr_eq(crmt_dataset_labels(ds), old_labels);
    /* Bad arguments. */
    ck_assert_int_eq(crmt_dataset_load_npy_modality(NULL, 0, missing), CRMT_ERR_INVALID_ARGUMENT);
    ck_assert_int_eq(crmt_dataset_load_npy_modality(ds, 0, NULL), CRMT_ERR_INVALID_ARGUMENT);
    ck_assert_int_eq(crmt_dataset_load_npy_modality(ds, 2, missing), CRMT_ERR_INVALID_ARGUMENT);
    ck_assert_int_eq(crmt_dataset_load_npy_modality(ds, -1, missing), CRMT_ERR_INVALID_ARGUMENT);
    ck_assert_int_eq(crmt_dataset_load_npy_labels(NULL, missing), CRMT_ERR_INVALID_ARGUMENT);
    ck_assert_int_eq(crmt_dataset_load_npy_labels(ds, NULL), CRMT_ERR_INVALID_ARGUMENT);
    /* A successful load replaces a borrowed modality by an owned copy. */
    ck_assert_int_eq(crmt_dataset_load_npy_modality(ds, 0, write_tmp("", 0)), CRMT_ERR_FORMAT);
    im = typed_image(1, "<f4", "(3, 2)", fvals, 6);
    ck_assert_int_eq(crmt_dataset_load_npy_modality(ds, 1, write_tmp(im.b, im.n)), CRMT_OK);
    ck_assert_int_eq(crmt_dataset_load_npy_modality(ds, 0, write_tmp(im.b, im.n)), CRMT_OK);
    free(im.b);
    ck_assert_ptr_ne(crmt_dataset_data(ds, 0), host);
    ck_assert(crmt_dataset_data(ds, 0)[1] == -2.25f);
    ck_assert(crmti_dataset_complete(ds));
    crmt_dataset_destroy(ds);
}
END_TEST

/* Cheap in-test fuzzing: every single-byte mutation of the prefix and header of valid
 * images must give a status (never a crash or an out-of-bounds read under ASan), and a
 * success must return consistent sizes. */
START_TEST(test_byte_mutations)
{
    static const unsigned char values[] = {0x00, 0x01, 0x20, 0x27, 0x28, 0x29, 0x2c, 0x30,
                                           0x39, 0x3a, 0x7b, 0x7d, 0x7f, 0x80, 0xff};
    image bases[2] = {typed_image(1, "<f4", "(3, 2)", fvals, 6),
                      typed_image(2, ">i8", "(5,)", fvals, 5)};
    for (int b = 0; b < 2; b++) {
        image base = bases[b];
        crmti_npy_kind kind = b == 0 ? CRMTI_NPY_FEATURES : CRMTI_NPY_LABELS;
        for (size_t pos = 0; pos < 64; pos++) { /* prefix and header of both images */
            for (size_t v = 0; v < sizeof values; v++) {
                unsigned char *buf = malloc(base.n);
                memcpy(buf, base.b, base.n);
                buf[pos] = values[v];
                crmti_npy_array a;
                char msg[CRMTI_ERRMSG_SIZE] = "";
                crmt_status st = crmti_npy_parse(buf, base.n, kind, 0, &a, msg);
                if (st == CRMT_OK) {
                    ck_assert_uint_ge(a.n, 1);
                    ck_assert_uint_ge(a.dim, 1);
                    ck_assert(kind == CRMTI_NPY_FEATURES ? a.f32 != NULL : a.i32 != NULL);
                } else {
                    ck_assert_int_lt(st, 0);
                    ck_assert_int_ge(st, CRMT_ERR_UNSUPPORTED);
                    ck_assert_msg(msg[0] != '\0', "pos %zu value %u: no message", pos,
                                  values[v]);
                }
                crmti_npy_array_free(&a);
                free(buf);
            }
        }
        free(base.b);
    }
}
END_TEST

static Suite *npy_suite(void)
{
    Suite *s = suite_create("npy");
    TCase *ok = tcase_create("valid");
    tcase_add_checked_fixture(ok, tmp_setup, tmp_teardown);
    tcase_add_test(ok, test_feature_dtypes_and_versions);
    tcase_add_test(ok, test_feature_shapes_flatten);
    tcase_add_test(ok, test_label_dtypes);
    tcase_add_test(ok, test_header_variants);
    tcase_add_test(ok, test_v2_long_header);
    tcase_add_test(ok, test_parse_api_memory);
    tcase_add_test(ok, test_real_numpy_files);
    suite_add_tcase(s, ok);
    TCase *bad = tcase_create("malformed");
    tcase_add_checked_fixture(bad, tmp_setup, tmp_teardown);
    tcase_add_test(bad, test_bad_magic_and_truncated_prefix);
    tcase_add_test(bad, test_versions);
    tcase_add_test(bad, test_truncated_header_and_data);
    tcase_add_test(bad, test_unsupported);
    tcase_add_test(bad, test_malformed_dicts);
    tcase_add_test(bad, test_non_finite);
    tcase_add_test(bad, test_shape_errors);
    tcase_add_test(bad, test_huge_shapes_do_not_allocate);
    tcase_add_test(bad, test_label_ranges);
    tcase_add_test(bad, test_io_errors_and_state_kept);
    tcase_add_test(bad, test_byte_mutations);
    suite_add_tcase(s, bad);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(npy_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
