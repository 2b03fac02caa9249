/* Model files and buffers: round trips (bit-identical parameters and predictions),
 * deterministic bytes, rejection of every corruption and truncation, version handling,
 * headers that claim huge sizes, atomic saves that fail midway, argument checking.
 *
 * With the environment variable CRMT_WRITE_FUZZ_CORPUS=<dir>, the test also writes the seed
 * corpus of tests/fuzz/fuzz_model_load.c into <dir> (see test_fuzz_corpus). */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "crmt/crmt.h"
#include "model/model.h"
#include "model/serialize.h"

#define CORPUS_DIR CRMT_TEST_DATA_DIR "/../fuzz/corpus/model"

#if defined(__SANITIZE_ADDRESS__)
#define UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define UNDER_ASAN 1
#endif
#endif
#ifndef UNDER_ASAN
#define UNDER_ASAN 0
#endif

/* ---- helpers ---- */

/* A model with n_mod modalities of varied encoders: no layers, linear+relu, and
 * linear+relu+linear; parameters perturbed away from any seed's initialisation. */
static crmt_model *make_model(crmt_head_kind head, int n_mod, int n_classes, uint64_t seed,
                              crmt_head_norm norm)
{
    crmt_spec *spec = NULL;
    ck_assert_int_eq(crmt_spec_create(&spec, n_classes), CRMT_OK);
    ck_assert_int_eq(crmt_spec_set(spec, CRMT_SPEC_HEAD, head), CRMT_OK);
    ck_assert_int_eq(crmt_spec_set(spec, CRMT_SPEC_HEAD_NORM, norm), CRMT_OK);
    ck_assert_int_eq(crmt_spec_set(spec, CRMT_SPEC_INTEGRATION_INIT, 0.37), CRMT_OK);
    for (int m = 0; m < n_mod; m++) {
        char name[32];
        snprintf(name, sizeof name, "modality-%d", m);
        int idx = -1;
        ck_assert_int_eq(crmt_spec_add_modality(spec, m == 1 ? NULL : name, 3 + m, &idx),
                         CRMT_OK);
        ck_assert_int_eq(idx, m);
        switch (m % 3) {
        case 0: /* no layers: the input is the feature */
            break;
        case 1:
            ck_assert_int_eq(crmt_spec_add_linear(spec, m, 5), CRMT_OK);
            ck_assert_int_eq(crmt_spec_add_relu(spec, m), CRMT_OK);
            break;
        default:
            ck_assert_int_eq(crmt_spec_add_linear(spec, m, 6), CRMT_OK);
            ck_assert_int_eq(crmt_spec_add_relu(spec, m), CRMT_OK);
            ck_assert_int_eq(crmt_spec_add_linear(spec, m, 4), CRMT_OK);
            break;
        }
    }
    crmt_model *model = NULL;
    ck_assert_int_eq(crmt_model_create(&model, spec, seed), CRMT_OK);
    crmt_spec_destroy(spec);
    /* As if trained: a loaded model must not merely look like a fresh seed-0 model. */
    for (size_t i = 0; i < model->n_params; i++)
        model->params[i] += (float)(0.001 * (double)((i * 7919u + seed) % 97u) - 0.05);
    return model;
}

static float **make_inputs(const crmt_model *model, size_t n)
{
    float **in = calloc(CRMT_MAX_MODALITIES, sizeof *in);
    unsigned state = 12345u;
    for (int m = 0; m < crmt_model_num_modalities(model); m++) {
        size_t count = n * (size_t)crmt_model_input_dim(model, m);
        in[m] = malloc(sizeof(float) * count);
        for (size_t i = 0; i < count; i++) {
            state = state * 1103515245u + 12345u;
            in[m][i] = (float)((double)(state >> 8) / (double)(1u << 24) * 4.0 - 2.0);
        }
    }
    return in;
}

static void free_inputs(float **in)
{
    for (int m = 0; m < CRMT_MAX_MODALITIES; m++)
        free(in[m]);
    free(in);
}

static unsigned char *save_to_buffer(const crmt_model *model, size_t *size)
{
    ck_assert_int_eq(crmt_model_save_buffer(model, NULL, 0, size), CRMT_OK);
    unsigned char *buf = malloc(*size);
    size_t written = 0;
    ck_assert_int_eq(crmt_model_save_buffer(model, buf, *size, &written), CRMT_OK);
    ck_assert_uint_eq(written, *size);
    return buf;
}

static unsigned char *read_all(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    ck_assert_msg(f != NULL, "cannot open %s", path);
    size_t cap = 1024, n = 0;
    unsigned char *buf = malloc(cap);
    size_t got;
    while ((got = fread(buf + n, 1, cap - n, f)) > 0) {
        n += got;
        if (n == cap)
            buf = realloc(buf, cap *= 2);
    }
    fclose(f);
    *len = n;
    return buf;
}

static void write_all(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    ck_assert_msg(f != NULL, "cannot create %s", path);
    ck_assert_uint_eq(fwrite(data, 1, len, f), len);
    ck_assert_int_eq(fclose(f), 0);
}

static char *make_temp_dir(void)
{
    const char *base = getenv("TMPDIR");
    char *dir = malloc(4096);
    snprintf(dir, 4096, "%s/crmt-ser-XXXXXX", base && *base ? base : "/tmp");
    ck_assert_msg(mkdtemp(dir) != NULL, "mkdtemp failed: %s", strerror(errno));
    return dir;
}

static void remove_tree(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *e;
    char path[4096];
    while ((e = readdir(d)) != NULL) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        struct stat sb;
        if (lstat(path, &sb) == 0 && S_ISDIR(sb.st_mode)) {
            chmod(path, 0700);
            remove_tree(path);
        } else {
            unlink(path);
        }
    }
    closedir(d);
    rmdir(dir);
}

/* Number of directory entries whose name contains ".tmp." (leftover temporary files). */
static int count_temp_files(const char *dir)
{
    DIR *d = opendir(dir);
    ck_assert_msg(d != NULL, "cannot list %s", dir);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        if (strstr(e->d_name, ".tmp."))
            n++;
    closedir(d);
    return n;
}

static void put32(unsigned char *b, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        b[i] = (unsigned char)(v >> (8 * i));
}

static void put64(unsigned char *b, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        b[i] = (unsigned char)(v >> (8 * i));
}

static uint32_t get32(const unsigned char *b)
{
    return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
}

/* Recompute the trailing checksum after patching a buffer. */
static void fix_checksum(unsigned char *buf, size_t size)
{
    put32(buf + size - 4, crmti_crc32(0, buf, size - 4));
}

/* Offset of the parameter count (8 bytes before the parameters). */
static size_t params_offset(const crmt_model *model, size_t size)
{
    return size - 4 - 4 * model->n_params;
}

static void assert_same_spec(const crmt_model *a, const crmt_model *b)
{
    ck_assert_int_eq(crmt_model_num_modalities(a), crmt_model_num_modalities(b));
    ck_assert_int_eq(crmt_model_num_classes(a), crmt_model_num_classes(b));
    ck_assert_int_eq(crmt_model_head(a), crmt_model_head(b));
    ck_assert_uint_eq(crmt_model_num_parameters(a), crmt_model_num_parameters(b));
    for (int m = 0; m < crmt_model_num_modalities(a); m++) {
        ck_assert_int_eq(crmt_model_input_dim(a, m), crmt_model_input_dim(b, m));
        ck_assert_int_eq(crmt_model_feature_dim(a, m), crmt_model_feature_dim(b, m));
        ck_assert_str_eq(a->spec.mod[m].name, b->spec.mod[m].name);
        ck_assert_int_eq(a->orthonormal[m], b->orthonormal[m]);
    }
    ck_assert(memcmp(&a->spec, &b->spec, sizeof a->spec) == 0);
}

/* Bit-identical parameters and bit-identical fused logits on a few samples. */
static void assert_same_model(const crmt_model *a, const crmt_model *b)
{
    assert_same_spec(a, b);
    ck_assert(memcmp(a->params, b->params, sizeof(float) * a->n_params) == 0);
    const size_t n = 9;
    const int K = crmt_model_num_classes(a);
    float **in = make_inputs(a, n);
    float *la = malloc(sizeof(float) * n * (size_t)K), *lb = malloc(sizeof(float) * n * (size_t)K);
    int32_t ya[9], yb[9];
    ck_assert_int_eq(crmt_model_predict(a, (const float *const *)in, n, ya, la), CRMT_OK);
    ck_assert_int_eq(crmt_model_predict(b, (const float *const *)in, n, yb, lb), CRMT_OK);
    ck_assert(memcmp(la, lb, sizeof(float) * n * (size_t)K) == 0);
    ck_assert(memcmp(ya, yb, sizeof ya) == 0);
    free(la);
    free(lb);
    free_inputs(in);
}

/* Save a to a buffer and load it back: the same model. */
static void assert_buffer_roundtrip(const crmt_model *a)
{
    size_t size;
    unsigned char *buf = save_to_buffer(a, &size);
    crmt_model *b = NULL;
    ck_assert_int_eq(crmt_model_load_buffer(&b, buf, size), CRMT_OK);
    assert_same_model(a, b);
    free(buf);
    crmt_model_destroy(b);
}

/* Loading must fail with FORMAT or VERSION, leave *out NULL, and say why. */
static crmt_status expect_rejected_buffer(const unsigned char *buf, size_t size)
{
    crmt_model *out = (crmt_model *)(uintptr_t)1;
    crmt_clear_error();
    crmt_status st = crmt_model_load_buffer(&out, buf, size);
    ck_assert_msg(st == CRMT_ERR_FORMAT || st == CRMT_ERR_VERSION,
                  "size %zu: status %d (%s)", size, st, crmt_last_error());
    ck_assert_ptr_null(out);
    ck_assert_msg(crmt_last_error()[0] != '\0', "no error message");
    return st;
}

/* The same for a file: crmt_model_load fails with FORMAT or VERSION, leaves *out NULL and
 * says why. */
static crmt_status expect_rejected_file(const char *path)
{
    crmt_model *out = (crmt_model *)(uintptr_t)1;
    crmt_clear_error();
    crmt_status st = crmt_model_load(&out, path);
    ck_assert_msg(st == CRMT_ERR_FORMAT || st == CRMT_ERR_VERSION, "%s: status %d (%s)", path,
                  st, crmt_last_error());
    ck_assert_ptr_null(out);
    ck_assert_msg(crmt_last_error()[0] != '\0', "no error message");
    return st;
}

/* ---- tests ---- */

START_TEST(test_crc32_known_values)
{
    ck_assert_uint_eq(crmti_crc32(0, "123456789", 9), 0xCBF43926u);
    ck_assert_uint_eq(crmti_crc32(0, "", 0), 0u);
    uint32_t part = crmti_crc32(0, "12345", 5);
    ck_assert_uint_eq(crmti_crc32(part, "6789", 4), 0xCBF43926u);
}
END_TEST

static const crmt_head_kind heads[2] = {CRMT_HEAD_JT, CRMT_HEAD_CRMT};

/* Loop index i: head = heads[i / 8], modalities = i % 8 + 1. */
START_TEST(test_roundtrip_buffer)
{
    crmt_head_kind head = heads[_i / 8];
    int n_mod = _i % 8 + 1;
    crmt_model *a = make_model(head, n_mod, 3, 1000u + (uint64_t)_i, CRMT_NORM_AUTO);
    size_t size;
    unsigned char *buf = save_to_buffer(a, &size);
    crmt_model *b = NULL;
    ck_assert_int_eq(crmt_model_load_buffer(&b, buf, size), CRMT_OK);
    assert_same_model(a, b);
    /* Saving the loaded model gives the same bytes. */
    size_t size2;
    unsigned char *buf2 = save_to_buffer(b, &size2);
    ck_assert_uint_eq(size, size2);
    ck_assert(memcmp(buf, buf2, size) == 0);
    if (head == CRMT_HEAD_CRMT) {
        float wa[3], wb[3];
        for (int m = 0; m < n_mod; m++) {
            ck_assert_int_eq(crmt_model_get_integration(a, m, wa, 3), CRMT_OK);
            ck_assert_int_eq(crmt_model_get_integration(b, m, wb, 3), CRMT_OK);
            ck_assert(memcmp(wa, wb, sizeof wa) == 0);
        }
    }
    free(buf);
    free(buf2);
    crmt_model_destroy(a);
    crmt_model_destroy(b);
}
END_TEST

START_TEST(test_roundtrip_file)
{
    crmt_head_kind head = heads[_i / 8];
    int n_mod = _i % 8 + 1;
    char *dir = make_temp_dir();
    char path[4200];
    snprintf(path, sizeof path, "%s/model.crmt", dir);
    crmt_model *a = make_model(head, n_mod, 4, 77u + (uint64_t)_i, CRMT_NORM_AUTO);
    ck_assert_int_eq(crmt_model_save(a, path), CRMT_OK);
    crmt_model *b = NULL;
    ck_assert_int_eq(crmt_model_load(&b, path), CRMT_OK);
    assert_same_model(a, b);
    /* The file holds exactly the buffer serialisation. */
    size_t size, flen;
    unsigned char *buf = save_to_buffer(a, &size);
    unsigned char *file = read_all(path, &flen);
    ck_assert_uint_eq(size, flen);
    ck_assert(memcmp(buf, file, size) == 0);
    /* Overwriting an existing file works too. */
    ck_assert_int_eq(crmt_model_save(b, path), CRMT_OK);
    ck_assert_int_eq(count_temp_files(dir), 0);
    free(buf);
    free(file);
    crmt_model_destroy(a);
    crmt_model_destroy(b);
    remove_tree(dir);
    free(dir);
}
END_TEST

START_TEST(test_roundtrip_head_norms)
{
    /* K = 3 with feature sizes 3 (no layers), 5, 4: every norm is valid. */
    const crmt_head_norm norms[3] = {CRMT_NORM_AUTO, CRMT_NORM_ROWS, CRMT_NORM_ORTHONORMAL};
    for (int k = 0; k < 3; k++) {
        crmt_model *a = make_model(CRMT_HEAD_CRMT, 3, 3, 5u, norms[k]);
        assert_buffer_roundtrip(a);
        crmt_model_destroy(a);
    }
    /* K = 7 > some feature sizes: AUTO resolves to rows there. */
    crmt_model *a = make_model(CRMT_HEAD_CRMT, 4, 7, 6u, CRMT_NORM_AUTO);
    assert_buffer_roundtrip(a);
    crmt_model_destroy(a);
}
END_TEST

START_TEST(test_same_seed_same_bytes)
{
    for (int h = 0; h < 2; h++) {
        crmt_model *a = make_model(heads[h], 5, 3, 42u, CRMT_NORM_AUTO);
        crmt_model *b = make_model(heads[h], 5, 3, 42u, CRMT_NORM_AUTO);
        crmt_model *c = make_model(heads[h], 5, 3, 43u, CRMT_NORM_AUTO);
        size_t sa, sb, sc;
        unsigned char *ba = save_to_buffer(a, &sa), *bb = save_to_buffer(b, &sb),
                      *bc = save_to_buffer(c, &sc);
        ck_assert_uint_eq(sa, sb);
        ck_assert(memcmp(ba, bb, sa) == 0);
        ck_assert_uint_eq(sa, sc);
        ck_assert(memcmp(ba, bc, sa) != 0);
        free(ba);
        free(bb);
        free(bc);
        crmt_model_destroy(a);
        crmt_model_destroy(b);
        crmt_model_destroy(c);
    }
}
END_TEST

/* The byte layout documented in docs/file-format.md. */
START_TEST(test_documented_layout)
{
    crmt_model *a = make_model(CRMT_HEAD_CRMT, 2, 3, 9u, CRMT_NORM_ROWS);
    size_t size;
    unsigned char *buf = save_to_buffer(a, &size);
    static const unsigned char magic[8] = {0x89, 'C', 'R', 'M', 'T', '\r', '\n', 0x1a};
    ck_assert(memcmp(buf, magic, 8) == 0);
    static const unsigned char bom[4] = {4, 3, 2, 1};
    ck_assert(memcmp(buf + 8, bom, 4) == 0);
    ck_assert_uint_eq(get32(buf + CRMTI_OFF_VERSION), 1);
    ck_assert_uint_eq(get32(buf + CRMTI_OFF_N_CLASSES), 3);
    ck_assert_uint_eq(get32(buf + CRMTI_OFF_N_MODALITIES), 2);
    ck_assert_uint_eq(get32(buf + CRMTI_OFF_HEAD), CRMT_HEAD_CRMT);
    ck_assert_uint_eq(get32(buf + CRMTI_OFF_HEAD_NORM), CRMT_NORM_ROWS);
    double init;
    uint64_t bits = (uint64_t)get32(buf + 32) | (uint64_t)get32(buf + 36) << 32;
    memcpy(&init, &bits, 8);
    ck_assert(init == 0.37);
    /* Modality 0: "modality-0", input 3, no layers. */
    const unsigned char *p = buf + CRMTI_OFF_MODALITIES;
    ck_assert_str_eq((const char *)p, "modality-0");
    for (size_t i = strlen("modality-0"); i < 32; i++)
        ck_assert_uint_eq(p[i], 0);
    ck_assert_uint_eq(get32(p + 32), 3);
    ck_assert_uint_eq(get32(p + 36), 0);
    /* Modality 1: unnamed, input 4, linear(5) [kind 0, 1 field, 5], relu [kind 1, 0 fields]. */
    p += 40;
    for (size_t i = 0; i < 32; i++)
        ck_assert_uint_eq(p[i], 0);
    ck_assert_uint_eq(get32(p + 32), 4);
    ck_assert_uint_eq(get32(p + 36), 2);
    ck_assert_uint_eq(get32(p + 40), 0);
    ck_assert_uint_eq(get32(p + 44), 1);
    ck_assert_uint_eq(get32(p + 48), 5);
    ck_assert_uint_eq(get32(p + 52), 1);
    ck_assert_uint_eq(get32(p + 56), 0);
    p += 60;
    ck_assert_uint_eq(get32(p), a->n_params);
    ck_assert_uint_eq(get32(p + 4), 0);
    p += 8;
    ck_assert_uint_eq((size_t)(p - buf), params_offset(a, size));
    ck_assert_uint_eq((size_t)(p - buf) % 4, 0);
    for (size_t i = 0; i < a->n_params; i++) {
        uint32_t b;
        memcpy(&b, &a->params[i], 4);
        ck_assert_uint_eq(get32(p + 4 * i), b);
    }
    ck_assert_uint_eq(size, (size_t)(p - buf) + 4 * a->n_params + 4);
    ck_assert_uint_eq(get32(buf + size - 4), crmti_crc32(0, buf, size - 4));
    free(buf);
    crmt_model_destroy(a);
}
END_TEST

START_TEST(test_save_buffer_capacity)
{
    crmt_model *a = make_model(CRMT_HEAD_JT, 3, 3, 1u, CRMT_NORM_AUTO);
    size_t need = 0;
    ck_assert_int_eq(crmt_model_save_buffer(a, NULL, 12345, &need), CRMT_OK);
    ck_assert_uint_gt(need, 40);
    unsigned char *buf = malloc(need + 16);
    memset(buf, 0xAB, need + 16);
    size_t got = 0;
    crmt_clear_error();
    ck_assert_int_eq(crmt_model_save_buffer(a, buf, need - 1, &got), CRMT_ERR_INVALID_ARGUMENT);
    ck_assert_uint_eq(got, need);
    ck_assert_ptr_nonnull(strstr(crmt_last_error(), "capacity"));
    got = 0;
    ck_assert_int_eq(crmt_model_save_buffer(a, buf, 0, &got), CRMT_ERR_INVALID_ARGUMENT);
    ck_assert_uint_eq(got, need);
    got = 0;
    ck_assert_int_eq(crmt_model_save_buffer(a, buf, need + 16, &got), CRMT_OK);
    ck_assert_uint_eq(got, need);
    for (size_t i = need; i < need + 16; i++)
        ck_assert_uint_eq(buf[i], 0xAB); /* nothing written past the model */
    crmt_model *b = NULL;
    ck_assert_int_eq(crmt_model_load_buffer(&b, buf, need), CRMT_OK);
    assert_same_model(a, b);
    free(buf);
    crmt_model_destroy(a);
    crmt_model_destroy(b);
}
END_TEST

/* Flip every byte of a small saved model in three ways: never a crash; always rejected
 * (a single-byte change always changes a CRC-32), or at worst an identical model. */
START_TEST(test_every_byte_corruption)
{
    crmt_model *models[2] = {make_model(CRMT_HEAD_JT, 1, 2, 3u, CRMT_NORM_AUTO),
                             make_model(CRMT_HEAD_CRMT, 3, 2, 4u, CRMT_NORM_AUTO)};
    static const unsigned char flips[3] = {0x01, 0x80, 0xFF};
    for (int k = 0; k < 2; k++) {
        size_t size;
        unsigned char *buf = save_to_buffer(models[k], &size);
        unsigned char *bad = malloc(size);
        int versions = 0;
        for (size_t i = 0; i < size; i++) {
            for (int f = 0; f < 3; f++) {
                memcpy(bad, buf, size);
                bad[i] ^= flips[f];
                crmt_model *out = NULL;
                crmt_status st = crmt_model_load_buffer(&out, bad, size);
                if (st == CRMT_OK) {
                    assert_same_model(models[k], out); /* cannot happen with a CRC */
                    crmt_model_destroy(out);
                    continue;
                }
                ck_assert_msg(st == CRMT_ERR_FORMAT || st == CRMT_ERR_VERSION,
                              "byte %zu ^ 0x%02x: status %d", i, flips[f], st);
                ck_assert_ptr_null(out);
                ck_assert(crmt_last_error()[0] != '\0');
                if (st == CRMT_ERR_VERSION) {
                    ck_assert(i >= CRMTI_OFF_VERSION && i < CRMTI_OFF_VERSION + 4);
                    versions++;
                }
            }
        }
        ck_assert_int_gt(versions, 0);
        free(bad);
        free(buf);
        crmt_model_destroy(models[k]);
    }
}
END_TEST

START_TEST(test_every_truncation)
{
    crmt_model *a = make_model(CRMT_HEAD_CRMT, 3, 3, 8u, CRMT_NORM_AUTO);
    size_t size;
    unsigned char *buf = save_to_buffer(a, &size);
    for (size_t len = 0; len < size; len++)
        ck_assert_int_eq(expect_rejected_buffer(buf, len), CRMT_ERR_FORMAT);
    /* The same from files (every length). */
    char *dir = make_temp_dir();
    char path[4200];
    snprintf(path, sizeof path, "%s/cut.crmt", dir);
    for (size_t len = 0; len < size; len++) {
        write_all(path, buf, len);
        ck_assert_int_eq(expect_rejected_file(path), CRMT_ERR_FORMAT);
    }
    /* The full length loads. */
    write_all(path, buf, size);
    crmt_model *b = NULL;
    ck_assert_int_eq(crmt_model_load(&b, path), CRMT_OK);
    assert_same_model(a, b);
    crmt_model_destroy(b);
    remove_tree(dir);
    free(dir);
    free(buf);
    crmt_model_destroy(a);
}
END_TEST

START_TEST(test_trailing_garbage)
{
    crmt_model *a = make_model(CRMT_HEAD_JT, 2, 3, 8u, CRMT_NORM_AUTO);
    size_t size;
    unsigned char *buf = save_to_buffer(a, &size);
    unsigned char *longer = calloc(size + 100, 1);
    memcpy(longer, buf, size);
    for (size_t extra = 1; extra <= 100; extra += 33) {
        ck_assert_int_eq(expect_rejected_buffer(longer, size + extra), CRMT_ERR_FORMAT);
        ck_assert_ptr_nonnull(strstr(crmt_last_error(), "trailing"));
    }
    /* A second model appended is trailing data too. */
    unsigned char *twice = malloc(2 * size);
    memcpy(twice, buf, size);
    memcpy(twice + size, buf, size);
    ck_assert_int_eq(expect_rejected_buffer(twice, 2 * size), CRMT_ERR_FORMAT);
    char *dir = make_temp_dir();
    char path[4200];
    snprintf(path, sizeof path, "%s/long.crmt", dir);
    write_all(path, twice, 2 * size);
    ck_assert_int_eq(expect_rejected_file(path), CRMT_ERR_FORMAT);
    ck_assert_ptr_nonnull(strstr(crmt_last_error(), "trailing"));
    remove_tree(dir);
    free(dir);
    free(twice);
    free(longer);
    free(buf);
    crmt_model_destroy(a);
}
END_TEST

START_TEST(test_wrong_magic)
{
    static const char *inputs[] = {"hello", "\x89PNG\r\n\x1a\n\0\0\0\0", "CRMT", "\x89" "CRMX"};
    for (size_t i = 0; i < sizeof inputs / sizeof inputs[0]; i++) {
        ck_assert_int_eq(expect_rejected_buffer((const unsigned char *)inputs[i],
                                                strlen(inputs[i]) + 1),
                         CRMT_ERR_FORMAT);
        ck_assert_ptr_nonnull(strstr(crmt_last_error(), "magic"));
    }
    unsigned char zeros[256] = {0};
    ck_assert_int_eq(expect_rejected_buffer(zeros, sizeof zeros), CRMT_ERR_FORMAT);
    ck_assert_ptr_nonnull(strstr(crmt_last_error(), "magic"));
    /* A big-endian byte-order marker. */
    crmt_model *a = make_model(CRMT_HEAD_JT, 1, 2, 8u, CRMT_NORM_AUTO);
    size_t size;
    unsigned char *buf = save_to_buffer(a, &size);
    static const unsigned char be[4] = {1, 2, 3, 4};
    memcpy(buf + CRMTI_OFF_BOM, be, 4);
    fix_checksum(buf, size);
    ck_assert_int_eq(expect_rejected_buffer(buf, size), CRMT_ERR_FORMAT);
    ck_assert_ptr_nonnull(strstr(crmt_last_error(), "little-endian"));
    free(buf);
    crmt_model_destroy(a);
}
END_TEST

START_TEST(test_versions)
{
    crmt_model *a = make_model(CRMT_HEAD_CRMT, 2, 3, 8u, CRMT_NORM_AUTO);
    size_t size;
    unsigned char *buf = save_to_buffer(a, &size);
    static const uint32_t newer[3] = {CRMTI_FORMAT_VERSION + 1, 1000, 0xFFFFFFFFu};
    for (int i = 0; i < 3; i++) {
        put32(buf + CRMTI_OFF_VERSION, newer[i]);
        fix_checksum(buf, size);
        ck_assert_int_eq(expect_rejected_buffer(buf, size), CRMT_ERR_VERSION);
        ck_assert_ptr_nonnull(strstr(crmt_last_error(), "newer"));
        /* Whatever follows a newer version is not looked at: the rest may differ. */
        ck_assert_int_eq(expect_rejected_buffer(buf, CRMTI_OFF_VERSION + 4), CRMT_ERR_VERSION);
    }
    put32(buf + CRMTI_OFF_VERSION, 0);
    fix_checksum(buf, size);
    ck_assert_int_eq(expect_rejected_buffer(buf, size), CRMT_ERR_FORMAT);
    ck_assert_ptr_nonnull(strstr(crmt_last_error(), "version 0"));
    /* From a file. */
    put32(buf + CRMTI_OFF_VERSION, CRMTI_FORMAT_VERSION + 1);
    fix_checksum(buf, size);
    char *dir = make_temp_dir();
    char path[4200];
    snprintf(path, sizeof path, "%s/newer.crmt", dir);
    write_all(path, buf, size);
    ck_assert_int_eq(expect_rejected_file(path), CRMT_ERR_VERSION);
    remove_tree(dir);
    free(dir);
    free(buf);
    crmt_model_destroy(a);
}
END_TEST

/* Cap the address space (not under ASan, which reserves terabytes) so that any big
 * allocation made while loading fails and shows up as CRMT_ERR_OUT_OF_MEMORY. */
static int limit_address_space(struct rlimit *saved)
{
    if (UNDER_ASAN)
        return 0;
    FILE *f = fopen("/proc/self/statm", "r");
    unsigned long pages = 0;
    if (!f)
        return 0;
    int ok = fscanf(f, "%lu", &pages) == 1;
    fclose(f);
    if (!ok || getrlimit(RLIMIT_AS, saved) != 0)
        return 0;
    struct rlimit lim = *saved;
    rlim_t want = (rlim_t)pages * (rlim_t)sysconf(_SC_PAGESIZE) + ((rlim_t)256 << 20);
    if (lim.rlim_cur != RLIM_INFINITY && lim.rlim_cur < want)
        return 0;
    lim.rlim_cur = want;
    return setrlimit(RLIMIT_AS, &lim) == 0;
}

/* A hand-made header: one modality, input_dim, one linear layer of out_dim, K classes, JT;
 * n_params as given; then `tail` bytes of zeros and a correct checksum. */
static unsigned char *forge(uint32_t input_dim, uint32_t out_dim, uint32_t K, uint64_t n_params,
                            size_t tail, size_t *size)
{
    *size = 40 + 40 + 12 + 8 + tail + 4;
    unsigned char *b = calloc(*size, 1);
    memcpy(b, CRMTI_FORMAT_MAGIC, 8);
    put32(b + 8, CRMTI_FORMAT_BOM);
    put32(b + 12, 1);
    put32(b + 16, K);
    put32(b + 20, 1);
    put32(b + 24, CRMT_HEAD_JT);
    put32(b + 28, CRMT_NORM_AUTO);
    put64(b + 32, 0);
    memcpy(b + 40, "big", 3);
    put32(b + 72, input_dim);
    put32(b + 76, 1);
    put32(b + 80, 0);
    put32(b + 84, 1);
    put32(b + 88, out_dim);
    put64(b + 92, n_params);
    fix_checksum(b, *size);
    return b;
}

START_TEST(test_huge_sizes_do_not_allocate)
{
    struct rlimit saved;
    int limited = limit_address_space(&saved);
    /* n_params = 2^60 in an otherwise valid header. */
    size_t size;
    unsigned char *b = forge(4, 3, 2, (uint64_t)1 << 60, 64, &size);
    ck_assert_int_eq(expect_rejected_buffer(b, size), CRMT_ERR_FORMAT);
    ck_assert_ptr_nonnull(strstr(crmt_last_error(), "parameter count"));
    free(b);
    /* A consistent header describing ~10^9 parameters (4 GB) in a tiny input. */
    const uint32_t in = 1u << 24, out = 59, K = 59;
    uint64_t implied = (uint64_t)out * (in + 1) + (uint64_t)K * out + K;
    b = forge(in, out, K, implied, 64, &size);
    ck_assert_int_eq(expect_rejected_buffer(b, size), CRMT_ERR_FORMAT);
    ck_assert_ptr_nonnull(strstr(crmt_last_error(), "truncated"));
    /* The same as a file: rejected from its size, before reading or allocating. */
    char *dir = make_temp_dir();
    char path[4200];
    snprintf(path, sizeof path, "%s/huge.crmt", dir);
    write_all(path, b, size);
    ck_assert_int_eq(expect_rejected_file(path), CRMT_ERR_FORMAT);
    ck_assert_ptr_nonnull(strstr(crmt_last_error(), "truncated"));
    free(b);
    /* Out-of-range counts and dimensions, one field at a time (then restored). */
    b = forge(4, 3, 2, 3 * (4 + 1) + 2 * 3 + 2, 4 * 23, &size);
    ck_assert_int_eq(size, 40 + 40 + 12 + 8 + 4 * 23 + 4);
    static const struct {
        size_t offset;
        uint32_t bad, valid;
        const char *message; /* a word the error message must contain, or NULL */
    } fields[] = {
        {20, 1000000000u, 1, NULL}, /* n_modalities */
        {76, 0xFFFFFFFFu, 1, NULL}, /* n_layers */
        {16, 0x7FFFFFFFu, 2, NULL}, /* n_classes */
        {72, 0x80000000u, 4, NULL}, /* input_dim */
        {84, 1000000u, 1, NULL},    /* field count */
        {80, 7, 0, "kind"},         /* unknown layer kind */
    };
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) {
        put32(b + fields[i].offset, fields[i].bad);
        fix_checksum(b, size);
        ck_assert_int_eq(expect_rejected_buffer(b, size), CRMT_ERR_FORMAT);
        if (fields[i].message)
            ck_assert_ptr_nonnull(strstr(crmt_last_error(), fields[i].message));
        put32(b + fields[i].offset, fields[i].valid);
    }
    fix_checksum(b, size);
    /* Restored, the forged model (all parameters zero) is valid. */
    crmt_model *m = NULL;
    ck_assert_int_eq(crmt_model_load_buffer(&m, b, size), CRMT_OK);
    crmt_model_destroy(m);
    if (limited)
        setrlimit(RLIMIT_AS, &saved);
    remove_tree(dir);
    free(dir);
    free(b);
}
END_TEST

START_TEST(test_non_finite_parameters)
{
    crmt_model *a = make_model(CRMT_HEAD_CRMT, 2, 3, 8u, CRMT_NORM_AUTO);
    size_t size;
    unsigned char *buf = save_to_buffer(a, &size);
    const size_t off = params_offset(a, size) + 4 * 3;
    static const uint32_t bad[3] = {0x7FC00000u, 0x7F800000u, 0xFF800000u};
    for (int i = 0; i < 3; i++) {
        unsigned char *copy = malloc(size);
        memcpy(copy, buf, size);
        put32(copy + off, bad[i]);
        fix_checksum(copy, size);
        ck_assert_int_eq(expect_rejected_buffer(copy, size), CRMT_ERR_FORMAT);
        ck_assert_ptr_nonnull(strstr(crmt_last_error(), "NaN"));
        free(copy);
    }
    /* A model with a NaN parameter is not saved. */
    char *dir = make_temp_dir();
    char path[4200];
    snprintf(path, sizeof path, "%s/nan.crmt", dir);
    a->params[1] = NAN;
    size_t need;
    ck_assert_int_eq(crmt_model_save_buffer(a, buf, size, &need), CRMT_ERR_NON_FINITE);
    ck_assert_int_eq(crmt_model_save(a, path), CRMT_ERR_NON_FINITE);
    ck_assert_int_eq(access(path, F_OK), -1);
    ck_assert_int_eq(count_temp_files(dir), 0);
    remove_tree(dir);
    free(dir);
    free(buf);
    crmt_model_destroy(a);
}
END_TEST

/* Write hook failing with ENOSPC once `budget` bytes have been written. */
static size_t write_budget;

static size_t failing_write(const void *data, size_t size, FILE *fp)
{
    size_t n = size <= write_budget ? size : write_budget;
    size_t done = n ? fwrite(data, 1, n, fp) : 0;
    write_budget -= done;
    if (done < size)
        errno = ENOSPC;
    return done;
}

static void assert_file_is(const char *path, const unsigned char *want, size_t size)
{
    size_t len;
    unsigned char *got = read_all(path, &len);
    ck_assert_uint_eq(len, size);
    ck_assert(memcmp(got, want, size) == 0);
    free(got);
}

START_TEST(test_failed_save_keeps_previous_file)
{
    char *dir = make_temp_dir();
    char path[4200];
    snprintf(path, sizeof path, "%s/model.crmt", dir);
    crmt_model *old = make_model(CRMT_HEAD_JT, 1, 2, 1u, CRMT_NORM_AUTO);
    ck_assert_int_eq(crmt_model_save(old, path), CRMT_OK);
    size_t old_size;
    unsigned char *old_bytes = read_all(path, &old_size);
    /* A bigger model (several write blocks) to save over it. */
    crmt_spec *spec;
    ck_assert_int_eq(crmt_spec_create(&spec, 10), CRMT_OK);
    ck_assert_int_eq(crmt_spec_add_modality(spec, "wide", 200, NULL), CRMT_OK);
    ck_assert_int_eq(crmt_spec_add_linear(spec, 0, 30), CRMT_OK);
    crmt_model *big;
    ck_assert_int_eq(crmt_model_create(&big, spec, 2), CRMT_OK);
    crmt_spec_destroy(spec);
    size_t big_size;
    ck_assert_int_eq(crmt_model_save_buffer(big, NULL, 0, &big_size), CRMT_OK);
    ck_assert_uint_gt(big_size, 3 * 8192);

    const size_t budgets[] = {0, 1, 39, 100, 8191, 8192, 8193, 16384, big_size / 2,
                              big_size - 5, big_size - 1};
    for (size_t i = 0; i < sizeof budgets / sizeof budgets[0]; i++) {
        write_budget = budgets[i];
        crmti_serialize_set_write_hook(failing_write);
        crmt_clear_error();
        crmt_status st = crmt_model_save(big, path);
        crmti_serialize_set_write_hook(NULL);
        ck_assert_msg(st == CRMT_ERR_IO, "budget %zu: status %d", budgets[i], st);
        ck_assert_ptr_nonnull(strstr(crmt_last_error(), strerror(ENOSPC)));
        assert_file_is(path, old_bytes, old_size);
        ck_assert_int_eq(count_temp_files(dir), 0);
    }
    /* Enough budget: the hook is used and the save succeeds. */
    write_budget = big_size;
    crmti_serialize_set_write_hook(failing_write);
    ck_assert_int_eq(crmt_model_save(big, path), CRMT_OK);
    crmti_serialize_set_write_hook(NULL);
    ck_assert_uint_eq(write_budget, 0);
    crmt_model *back = NULL;
    ck_assert_int_eq(crmt_model_load(&back, path), CRMT_OK);
    assert_same_model(big, back);
    crmt_model_destroy(back);
    ck_assert_int_eq(crmt_model_save(old, path), CRMT_OK);

    /* A file size limit (EFBIG from the kernel, a real failing write). */
    struct rlimit saved, lim;
    ck_assert_int_eq(getrlimit(RLIMIT_FSIZE, &saved), 0);
    lim = saved;
    lim.rlim_cur = (rlim_t)(big_size / 2);
    void (*prev)(int) = signal(SIGXFSZ, SIG_IGN);
    ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &lim), 0);
    crmt_status st = crmt_model_save(big, path);
    setrlimit(RLIMIT_FSIZE, &saved);
    signal(SIGXFSZ, prev);
    ck_assert_int_eq(st, CRMT_ERR_IO);
    assert_file_is(path, old_bytes, old_size);
    ck_assert_int_eq(count_temp_files(dir), 0);

    /* Unwritable directory: no temporary file can be created. Privileged users (root)
     * write anyway, so this part only runs when the directory really is read-only. */
    ck_assert_int_eq(chmod(dir, 0555), 0);
    char probe[4300];
    snprintf(probe, sizeof probe, "%s/probe", dir);
    int fd = open(probe, O_WRONLY | O_CREAT | O_EXCL, 0600);
    if (fd >= 0) {
        close(fd);
        unlink(probe);
    } else {
        crmt_clear_error();
        ck_assert_int_eq(crmt_model_save(big, path), CRMT_ERR_IO);
        ck_assert_ptr_nonnull(strstr(crmt_last_error(), strerror(EACCES)));
        assert_file_is(path, old_bytes, old_size);
    }
    ck_assert_int_eq(chmod(dir, 0700), 0);
    ck_assert_int_eq(count_temp_files(dir), 0);

    /* A file name so long that "<name>.tmp.XXXXXX" exceeds NAME_MAX (fails even for root). */
    char longpath[4400];
    int base = snprintf(longpath, sizeof longpath, "%s/", dir);
    memset(longpath + base, 'm', 250);
    longpath[base + 250] = '\0';
    write_all(longpath, old_bytes, old_size); /* (a save to it could not even start) */
    crmt_clear_error();
    ck_assert_int_eq(crmt_model_save(big, longpath), CRMT_ERR_IO);
    ck_assert_ptr_nonnull(strstr(crmt_last_error(), "temporary"));
    assert_file_is(longpath, old_bytes, old_size);
    ck_assert_int_eq(count_temp_files(dir), 0);

    /* The target is a directory: the rename fails, the temporary file is removed. */
    char sub[4300];
    snprintf(sub, sizeof sub, "%s/subdir", dir);
    ck_assert_int_eq(mkdir(sub, 0700), 0);
    char inner[4400];
    snprintf(inner, sizeof inner, "%s/keep", sub);
    write_all(inner, "x", 1);
    ck_assert_int_eq(crmt_model_save(big, sub), CRMT_ERR_IO);
    ck_assert_ptr_nonnull(strstr(crmt_last_error(), "rename"));
    assert_file_is(inner, (const unsigned char *)"x", 1);
    ck_assert_int_eq(count_temp_files(dir), 0);

    /* A missing directory. */
    char missing[4300];
    snprintf(missing, sizeof missing, "%s/no/such/dir/model.crmt", dir);
    ck_assert_int_eq(crmt_model_save(big, missing), CRMT_ERR_IO);
    ck_assert_ptr_nonnull(strstr(crmt_last_error(), strerror(ENOENT)));

    assert_file_is(path, old_bytes, old_size);
    free(old_bytes);
    crmt_model_destroy(old);
    crmt_model_destroy(big);
    remove_tree(dir);
    free(dir);
}
END_TEST

START_TEST(test_save_keeps_permissions)
{
    char *dir = make_temp_dir();
    char path[4200];
    snprintf(path, sizeof path, "%s/model.crmt", dir);
    crmt_model *a = make_model(CRMT_HEAD_JT, 1, 2, 1u, CRMT_NORM_AUTO);
    mode_t mask = umask(022);
    ck_assert_int_eq(crmt_model_save(a, path), CRMT_OK);
    struct stat sb;
    ck_assert_int_eq(stat(path, &sb), 0);
    ck_assert_uint_eq(sb.st_mode & 0777, 0644); /* like fopen() with umask 022 */
    ck_assert_int_eq(chmod(path, 0640), 0);
    ck_assert_int_eq(crmt_model_save(a, path), CRMT_OK);
    ck_assert_int_eq(stat(path, &sb), 0);
    ck_assert_uint_eq(sb.st_mode & 0777, 0640); /* an existing file keeps its mode */
    umask(mask);
    crmt_model_destroy(a);
    remove_tree(dir);
    free(dir);
}
END_TEST

START_TEST(test_load_file_errors)
{
    crmt_model *out = (crmt_model *)(uintptr_t)1;
    crmt_clear_error();
    ck_assert_int_eq(crmt_model_load(&out, "/nonexistent/dir/model.crmt"), CRMT_ERR_IO);
    ck_assert_ptr_null(out);
    ck_assert_ptr_nonnull(strstr(crmt_last_error(), strerror(ENOENT)));
    char *dir = make_temp_dir();
    crmt_clear_error();
    ck_assert_int_eq(crmt_model_load(&out, dir), CRMT_ERR_IO);
    ck_assert_ptr_nonnull(strstr(crmt_last_error(), "directory"));
    remove_tree(dir);
    free(dir);
}
END_TEST

/* Loading from a pipe (no size known in advance): bounded reads, same validation. */
START_TEST(test_load_from_fifo)
{
    crmt_model *a = make_model(CRMT_HEAD_CRMT, 3, 3, 21u, CRMT_NORM_AUTO);
    size_t size;
    unsigned char *buf = save_to_buffer(a, &size);
    char *dir = make_temp_dir();
    char path[4200];
    snprintf(path, sizeof path, "%s/fifo", dir);
    ck_assert_int_eq(mkfifo(path, 0600), 0);
    for (int variant = 0; variant < 3; variant++) {
        /* 0: the model; 1: with trailing bytes; 2: truncated. */
        size_t len = variant == 0 ? size : variant == 1 ? size + 3 : size - 10;
        unsigned char *data = calloc(len, 1);
        memcpy(data, buf, len < size ? len : size);
        pid_t pid = fork();
        ck_assert_int_ge(pid, 0);
        if (pid == 0) {
            signal(SIGPIPE, SIG_IGN);
            int fd = open(path, O_WRONLY);
            if (fd >= 0) {
                for (size_t off = 0; off < len;) {
                    ssize_t w = write(fd, data + off, len - off);
                    if (w <= 0)
                        break;
                    off += (size_t)w;
                }
                close(fd);
            }
            _exit(0);
        }
        crmt_model *b = NULL;
        crmt_status st = crmt_model_load(&b, path);
        int status;
        waitpid(pid, &status, 0);
        if (variant == 0) {
            ck_assert_int_eq(st, CRMT_OK);
            assert_same_model(a, b);
            crmt_model_destroy(b);
        } else {
            ck_assert_int_eq(st, CRMT_ERR_FORMAT);
            ck_assert_ptr_null(b);
        }
        free(data);
    }
    remove_tree(dir);
    free(dir);
    free(buf);
    crmt_model_destroy(a);
}
END_TEST

START_TEST(test_null_arguments)
{
    crmt_model *a = make_model(CRMT_HEAD_JT, 1, 2, 1u, CRMT_NORM_AUTO);
    size_t size;
    unsigned char *buf = save_to_buffer(a, &size);
    crmt_model *out = (crmt_model *)(uintptr_t)1;

#define EXPECT_INVALID(call)                                                                   \
    do {                                                                                       \
        crmt_clear_error();                                                                    \
        ck_assert_int_eq((call), CRMT_ERR_INVALID_ARGUMENT);                                   \
        ck_assert_msg(crmt_last_error()[0] != '\0', "no message for " #call);                  \
    } while (0)

    EXPECT_INVALID(crmt_model_save(NULL, "/tmp/x.crmt"));
    EXPECT_INVALID(crmt_model_save(a, NULL));
    EXPECT_INVALID(crmt_model_save(a, ""));
    EXPECT_INVALID(crmt_model_load(NULL, "/tmp/x.crmt"));
    EXPECT_INVALID(crmt_model_load(&out, NULL));
    ck_assert_ptr_null(out);
    EXPECT_INVALID(crmt_model_save_buffer(NULL, buf, size, &size));
    EXPECT_INVALID(crmt_model_save_buffer(a, buf, size, NULL));
    EXPECT_INVALID(crmt_model_save_buffer(a, NULL, 0, NULL));
    EXPECT_INVALID(crmt_model_load_buffer(NULL, buf, size));
    out = (crmt_model *)(uintptr_t)1;
    EXPECT_INVALID(crmt_model_load_buffer(&out, NULL, size));
    ck_assert_ptr_null(out);
    EXPECT_INVALID(crmt_model_load_buffer(&out, NULL, 0));
#undef EXPECT_INVALID
    /* An empty (non-NULL) buffer is a truncated model. */
    ck_assert_int_eq(expect_rejected_buffer(buf, 0), CRMT_ERR_FORMAT);
    free(buf);
    crmt_model_destroy(a);
}
END_TEST

/* Seed corpus of tests/fuzz/fuzz_model_load.c: small valid models of different shapes. */
static crmt_model *corpus_model(int which)
{
    crmt_spec *spec;
    crmt_model *m = NULL;
    switch (which) {
    case 0: /* JT, one modality, no layers */
        ck_assert_int_eq(crmt_spec_create(&spec, 2), CRMT_OK);
        ck_assert_int_eq(crmt_spec_add_modality(spec, "x", 3, NULL), CRMT_OK);
        break;
    case 1: /* JT, two modalities with linear + relu */
        ck_assert_int_eq(crmt_spec_create(&spec, 3), CRMT_OK);
        ck_assert_int_eq(crmt_spec_add_modality(spec, "audio", 4, NULL), CRMT_OK);
        ck_assert_int_eq(crmt_spec_add_modality(spec, "video", 2, NULL), CRMT_OK);
        for (int i = 0; i < 2; i++) {
            ck_assert_int_eq(crmt_spec_add_linear(spec, i, 3), CRMT_OK);
            ck_assert_int_eq(crmt_spec_add_relu(spec, i), CRMT_OK);
        }
        break;
    case 2: /* CRMT, orthonormal rows, two linear layers */
        ck_assert_int_eq(crmt_spec_create(&spec, 2), CRMT_OK);
        ck_assert_int_eq(crmt_spec_set(spec, CRMT_SPEC_HEAD, CRMT_HEAD_CRMT), CRMT_OK);
        ck_assert_int_eq(crmt_spec_set(spec, CRMT_SPEC_HEAD_NORM, CRMT_NORM_ORTHONORMAL),
                         CRMT_OK);
        ck_assert_int_eq(crmt_spec_add_modality(spec, NULL, 3, NULL), CRMT_OK);
        ck_assert_int_eq(crmt_spec_add_linear(spec, 0, 4), CRMT_OK);
        ck_assert_int_eq(crmt_spec_add_relu(spec, 0), CRMT_OK);
        ck_assert_int_eq(crmt_spec_add_linear(spec, 0, 2), CRMT_OK);
        break;
    default: /* CRMT, row norm, three mixed modalities */
        ck_assert_int_eq(crmt_spec_create(&spec, 4), CRMT_OK);
        ck_assert_int_eq(crmt_spec_set(spec, CRMT_SPEC_HEAD, CRMT_HEAD_CRMT), CRMT_OK);
        ck_assert_int_eq(crmt_spec_set(spec, CRMT_SPEC_HEAD_NORM, CRMT_NORM_ROWS), CRMT_OK);
        ck_assert_int_eq(crmt_spec_add_modality(spec, "a", 2, NULL), CRMT_OK);
        ck_assert_int_eq(crmt_spec_add_modality(spec, "b", 3, NULL), CRMT_OK);
        ck_assert_int_eq(crmt_spec_add_modality(spec, "c", 2, NULL), CRMT_OK);
        ck_assert_int_eq(crmt_spec_add_relu(spec, 1), CRMT_OK);
        ck_assert_int_eq(crmt_spec_add_linear(spec, 2, 2), CRMT_OK);
        break;
    }
    ck_assert_int_eq(crmt_model_create(&m, spec, 1234u + (uint64_t)which), CRMT_OK);
    crmt_spec_destroy(spec);
    return m;
}

static const char *const corpus_names[4] = {"jt_1mod_nolayers.crmt", "jt_2mod_linear_relu.crmt",
                                            "crmt_orthonormal_2linear.crmt",
                                            "crmt_rows_3mod_mixed.crmt"};

START_TEST(test_fuzz_corpus)
{
    const char *out_dir = getenv("CRMT_WRITE_FUZZ_CORPUS");
    char path[4200];
    for (int i = 0; i < 4; i++) {
        crmt_model *m = corpus_model(i);
        size_t size;
        unsigned char *buf = save_to_buffer(m, &size);
        if (out_dir && *out_dir) {
            snprintf(path, sizeof path, "%s/%s", out_dir, corpus_names[i]);
            write_all(path, buf, size);
        }
        /* The committed seeds load and re-save to the same bytes (files carry the lowest
         * version able to store their model, so every version re-saves identically). */
        snprintf(path, sizeof path, "%s/%s", CORPUS_DIR, corpus_names[i]);
        if (access(path, R_OK) == 0) {
            size_t len;
            unsigned char *seed = read_all(path, &len);
            crmt_model *back = NULL;
            ck_assert_msg(crmt_model_load_buffer(&back, seed, len) == CRMT_OK, "%s: %s", path,
                          crmt_last_error());
            if (get32(seed + CRMTI_OFF_VERSION) <= CRMTI_FORMAT_VERSION) {
                size_t len2;
                unsigned char *again = save_to_buffer(back, &len2);
                ck_assert_uint_eq(len, len2);
                ck_assert(memcmp(seed, again, len) == 0);
                free(again);
            }
            crmt_model_destroy(back);
            free(seed);
        }
        free(buf);
        crmt_model_destroy(m);
    }
}
END_TEST

static Suite *serialize_suite(void)
{
    Suite *s = suite_create("serialize");
    TCase *tc = tcase_create("format");
    tcase_add_test(tc, test_crc32_known_values);
    tcase_add_loop_test(tc, test_roundtrip_buffer, 0, 16);
    tcase_add_loop_test(tc, test_roundtrip_file, 0, 16);
    tcase_add_test(tc, test_roundtrip_head_norms);
    tcase_add_test(tc, test_same_seed_same_bytes);
    tcase_add_test(tc, test_documented_layout);
    tcase_add_test(tc, test_save_buffer_capacity);
    tcase_add_test(tc, test_fuzz_corpus);
    suite_add_tcase(s, tc);

    tc = tcase_create("hostile input");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_every_byte_corruption);
    tcase_add_test(tc, test_every_truncation);
    tcase_add_test(tc, test_trailing_garbage);
    tcase_add_test(tc, test_wrong_magic);
    tcase_add_test(tc, test_versions);
    tcase_add_test(tc, test_huge_sizes_do_not_allocate);
    tcase_add_test(tc, test_non_finite_parameters);
    suite_add_tcase(s, tc);

    tc = tcase_create("files");
    tcase_add_test(tc, test_failed_save_keeps_previous_file);
    tcase_add_test(tc, test_save_keeps_permissions);
    tcase_add_test(tc, test_load_file_errors);
    tcase_add_test(tc, test_load_from_fifo);
    tcase_add_test(tc, test_null_arguments);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(serialize_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
