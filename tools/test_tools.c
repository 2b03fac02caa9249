/* The data preparation tools' code (tools/): WAV parsing, the FFTs against a naive DFT, the
 * band edges, trimming, resampling, the 560 audio features against NumPy, the RNG, IDX
 * reading, and the .npy writer (byte-identical to numpy.save, and a round trip through the
 * library's crmt_dataset_load_npy_modality / _labels), and the two tools end to end: their
 * output (satellite from the committed CSV, AV-digits from a tiny fake MNIST and tone clips)
 * loads into crmt_datasets with the expected shapes, labels and pairing.
 *
 * Reference numbers marked "NumPy" were computed once with NumPy 1.24.2 (Debian
 * python3-numpy) and pasted here; the script is in the comment above each. */
#include <check.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "audio_features.h"
#include "crmt/crmt.h"
#include "idx.h"
#include "npy_write.h"
#include "rng.h"
#include "wav.h"

static char tmpdir[256];

static void tmp_setup(void)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/crmt_test_tools_XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(tmpdir));
}

static void tmp_teardown(void)
{
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0)
        fprintf(stderr, "test_tools: could not remove %s\n", tmpdir);
}

static void tmp_path(char *buf, size_t cap, const char *name)
{
    snprintf(buf, cap, "%s/%s", tmpdir, name);
}

static void write_file(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(data, 1, len, f), len);
    ck_assert_int_eq(fclose(f), 0);
}

/* ------------------------------------------------------------------------------------------
 * WAV */

/* The 44-byte header espeak-ng 1.51 wrote for `-w t.wav seven` (22050 Hz, 20433 samples),
 * with the sizes patched for n samples. */
static const unsigned char espeak_header[44] = {
    'R', 'I', 'F', 'F', 0xc6, 0x9f, 0x00, 0x00, 'W', 'A', 'V', 'E', 'f', 'm', 't', ' ',
    0x10, 0x00, 0x00, 0x00, 0x01, 0x00, 0x01, 0x00, 0x22, 0x56, 0x00, 0x00, 0x44, 0xac, 0x00, 0x00,
    0x02, 0x00, 0x10, 0x00, 'd', 'a', 't', 'a', 0xa2, 0x9f, 0x00, 0x00};

static void put32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)v;
    p[1] = (unsigned char)(v >> 8);
    p[2] = (unsigned char)(v >> 16);
    p[3] = (unsigned char)(v >> 24);
}

/* An espeak-ng style file of n samples s[i] = (i * 997) % 65536 - 32768 (all int16 values). */
static unsigned char *make_wav(size_t n, size_t *len)
{
    *len = 44 + 2 * n;
    unsigned char *b = malloc(*len);
    ck_assert_ptr_nonnull(b);
    memcpy(b, espeak_header, 44);
    put32(b + 4, (uint32_t)(36 + 2 * n));
    put32(b + 40, (uint32_t)(2 * n));
    for (size_t i = 0; i < n; i++) {
        long v = (long)((i * 997) % 65536) - 32768;
        b[44 + 2 * i] = (unsigned char)(v & 0xff);
        b[45 + 2 * i] = (unsigned char)((v >> 8) & 0xff);
    }
    return b;
}

START_TEST(test_wav_espeak_header)
{
    size_t len;
    unsigned char *b = make_wav(100, &len);
    tool_wav w;
    char err[200];
    ck_assert_int_eq(tool_wav_parse(b, len, &w, err, sizeof err), 0);
    ck_assert_uint_eq(w.sample_rate, 22050);
    ck_assert_uint_eq(w.n_samples, 100);
    ck_assert_ptr_eq(w.data, b + 44);

    /* The same through a file, as floats. */
    char path[300];
    tmp_path(path, sizeof path, "a.wav");
    write_file(path, b, len);
    float *x;
    size_t n;
    uint32_t rate;
    ck_assert_int_eq(tool_wav_read_file(path, &x, &n, &rate, err, sizeof err), 0);
    ck_assert_uint_eq(n, 100);
    ck_assert_uint_eq(rate, 22050);
    for (size_t i = 0; i < n; i++) {
        long v = (long)((i * 997) % 65536) - 32768;
        ck_assert_float_eq(x[i], (float)v / 32768.0f);
    }
    ck_assert_float_eq(x[0], -1.0f);
    free(x);

    /* Zero samples, and extra chunks (LIST, odd-sized with a pad byte) before the data. */
    unsigned char *e = make_wav(0, &len);
    ck_assert_int_eq(tool_wav_parse(e, len, &w, err, sizeof err), 0);
    ck_assert_uint_eq(w.n_samples, 0);
    free(e);
    unsigned char c[44 + 10 + 2 * 3];
    memcpy(c, b, 36);
    memcpy(c + 36, "LIST", 4);
    put32(c + 40, 1);
    c[44] = 'x';
    c[45] = 0; /* pad */
    memcpy(c + 46, "data", 4);
    put32(c + 50, 6);
    memcpy(c + 54, b + 44, 6);
    put32(c + 4, (uint32_t)(sizeof c - 8));
    ck_assert_int_eq(tool_wav_parse(c, sizeof c, &w, err, sizeof err), 0);
    ck_assert_uint_eq(w.n_samples, 3);
    ck_assert_ptr_eq(w.data, c + 54);
    /* Trailing bytes after the RIFF chunk are ignored. */
    unsigned char *t = make_wav(5, &len);
    unsigned char longer[64];
    memset(longer, 0x55, sizeof longer);
    memcpy(longer, t, len);
    ck_assert_int_eq(tool_wav_parse(longer, sizeof longer, &w, err, sizeof err), 0);
    ck_assert_uint_eq(w.n_samples, 5);
    free(t);
    free(b);
}
END_TEST

/* Each malformed variant of a valid 8-sample file is refused with a message. */
START_TEST(test_wav_malformed)
{
    size_t len;
    unsigned char *good = make_wav(8, &len);
    unsigned char b[64];
    ck_assert_uint_eq(len, 60);
    tool_wav w;
    char err[200];
    struct {
        size_t off;
        unsigned char value;
        const char *what;
    } edits[] = {
        {0, 'X', "RIFF magic"},  {8, 'X', "WAVE magic"},    {4, 0xff, "RIFF size too big"},
        {7, 0x01, "RIFF size huge"}, {12, 'X', "no fmt chunk"}, {16, 0xff, "fmt size overrun"},
        {16, 0x0e, "fmt too short"}, {20, 0x03, "float format"}, {22, 0x02, "stereo"},
        {34, 0x08, "8 bits"},    {34, 0x18, "24 bits"},     {24, 0x11, "byte rate mismatch"},
        {32, 0x04, "block align"}, {36, 'X', "no data chunk"}, {40, 0x11, "odd data size"},
        {40, 0x12, "data overrun"}, {24, 0x00, "zero rate"},
    };
    for (size_t k = 0; k < sizeof edits / sizeof edits[0]; k++) {
        memcpy(b, good, len);
        b[edits[k].off] = edits[k].value;
        if (edits[k].off == 24 && edits[k].value == 0) {
            memset(b + 24, 0, 8); /* rate 0, byte rate 0 */
        }
        err[0] = '\0';
        ck_assert_msg(tool_wav_parse(b, len, &w, err, sizeof err) == -1, "accepted: %s",
                      edits[k].what);
        ck_assert_msg(err[0] != '\0', "no message: %s", edits[k].what);
    }
    /* Every truncation of the file is refused (the RIFF size no longer fits). */
    for (size_t cut = 0; cut < len; cut++) {
        memcpy(b, good, len);
        ck_assert_int_eq(tool_wav_parse(b, cut, &w, err, sizeof err), -1);
    }
    /* data before fmt */
    unsigned char c[60];
    memcpy(c, good, 12);
    memcpy(c + 12, good + 36, 8 + 16);
    memcpy(c + 36, good + 12, 24);
    ck_assert_int_eq(tool_wav_parse(c, sizeof c, &w, err, sizeof err), -1);
    ck_assert_ptr_nonnull(strstr(err, "before"));
    /* Files: missing, and a malformed one. */
    char path[300];
    float *x = (float *)&w;
    size_t n = 1;
    uint32_t rate = 1;
    tmp_path(path, sizeof path, "missing.wav");
    ck_assert_int_eq(tool_wav_read_file(path, &x, &n, &rate, err, sizeof err), -1);
    ck_assert_ptr_null(x);
    ck_assert_uint_eq(n, 0);
    tmp_path(path, sizeof path, "bad.wav");
    write_file(path, good, 30);
    ck_assert_int_eq(tool_wav_read_file(path, &x, &n, &rate, err, sizeof err), -1);
    ck_assert_ptr_null(x);
    ck_assert_ptr_nonnull(strstr(err, "bad.wav"));
    free(good);
}
END_TEST

/* ------------------------------------------------------------------------------------------
 * FFT */

static void naive_dft(const double *xr, const double *xi, size_t n, double *yr, double *yi)
{
    for (size_t k = 0; k < n; k++) {
        long double sr = 0, si = 0;
        for (size_t j = 0; j < n; j++) {
            long double a = -2.0L * 3.14159265358979323846264338327950288L *
                            (long double)((j * k) % n) / (long double)n;
            sr += xr[j] * cosl(a) - xi[j] * sinl(a);
            si += xr[j] * sinl(a) + xi[j] * cosl(a);
        }
        yr[k] = (double)sr;
        yi[k] = (double)si;
    }
}

START_TEST(test_fft_against_naive_dft)
{
    tool_rng rng;
    tool_rng_seed(&rng, 7);
    for (size_t n = 1; n <= 1024; n *= 2) {
        double *xr = malloc(n * sizeof *xr), *xi = malloc(n * sizeof *xi);
        double *yr = malloc(n * sizeof *yr), *yi = malloc(n * sizeof *yi);
        ck_assert(xr && xi && yr && yi);
        for (size_t j = 0; j < n; j++) {
            xr[j] = tool_rng_normal(&rng);
            xi[j] = tool_rng_normal(&rng);
        }
        naive_dft(xr, xi, n, yr, yi);
        tool_fft_plan p;
        ck_assert_int_eq(tool_fft_plan_init(&p, n), 0);
        tool_fft(&p, xr, xi);
        double tol = 1e-11 * (double)n;
        for (size_t k = 0; k < n; k++) {
            ck_assert_double_eq_tol(xr[k], yr[k], tol);
            ck_assert_double_eq_tol(xi[k], yi[k], tol);
        }
        tool_fft_plan_free(&p);
        free(xr);
        free(xi);
        free(yr);
        free(yi);
    }
    tool_fft_plan bad;
    ck_assert_int_eq(tool_fft_plan_init(&bad, 0), -1);
    ck_assert_int_eq(tool_fft_plan_init(&bad, 12), -1);
    tool_fft_plan_free(&bad);
    tool_fft_plan_free(NULL);
}
END_TEST

START_TEST(test_rfft_against_naive_dft)
{
    tool_rng rng;
    tool_rng_seed(&rng, 8);
    for (size_t n = 2; n <= 1024; n *= 2) {
        double *x = malloc(n * sizeof *x), *zero = calloc(n, sizeof *zero);
        double *yr = malloc(n * sizeof *yr), *yi = malloc(n * sizeof *yi);
        double *re = malloc((n / 2 + 1) * sizeof *re), *im = malloc((n / 2 + 1) * sizeof *im);
        ck_assert(x && zero && yr && yi && re && im);
        for (size_t j = 0; j < n; j++)
            x[j] = tool_rng_normal(&rng);
        naive_dft(x, zero, n, yr, yi);
        tool_rfft_plan p;
        ck_assert_int_eq(tool_rfft_plan_init(&p, n), 0);
        tool_rfft(&p, x, re, im);
        double tol = 1e-11 * (double)n;
        for (size_t k = 0; k <= n / 2; k++) {
            ck_assert_double_eq_tol(re[k], yr[k], tol);
            ck_assert_double_eq_tol(im[k], yi[k], tol);
        }
        tool_rfft_plan_free(&p);
        free(x);
        free(zero);
        free(yr);
        free(yi);
        free(re);
        free(im);
    }
    /* A cosine at bin 5 of 512: all power in bins 5 (and its mirror, not returned). */
    double x[512], re[257], im[257];
    for (int j = 0; j < 512; j++)
        x[j] = cos(2.0 * 3.14159265358979323846 * 5.0 * j / 512.0);
    tool_rfft_plan p;
    ck_assert_int_eq(tool_rfft_plan_init(&p, 512), 0);
    tool_rfft(&p, x, re, im);
    for (int k = 0; k <= 256; k++) {
        ck_assert_double_eq_tol(re[k], k == 5 ? 256.0 : 0.0, 1e-9);
        ck_assert_double_eq_tol(im[k], 0.0, 1e-9);
    }
    tool_rfft_plan_free(&p);
    ck_assert_int_eq(tool_rfft_plan_init(&p, 1), -1);
    ck_assert_int_eq(tool_rfft_plan_init(&p, 100), -1);
    tool_rfft_plan_free(&p);
}
END_TEST

/* ------------------------------------------------------------------------------------------
 * Band edges, trimming, resampling, features */

/* NumPy: np.unique(np.geomspace(2, 257, 33).astype(int)) */
static const int numpy_edges[29] = {2,  3,  4,  5,  6,  7,  9,   10,  12,  14,  16,  19,  22, 26, 30,
                                    35, 41, 48, 56, 65, 76, 88, 103, 120, 140, 163, 189, 220, 257};

START_TEST(test_band_edges)
{
    int e[40];
    ck_assert_int_eq(tool_band_edges(2, 257, 33, e, 40), 29);
    for (int i = 0; i < 29; i++)
        ck_assert_int_eq(e[i], numpy_edges[i]);
    ck_assert_int_eq(tool_band_edges(2, 257, 33, e, 28), -1); /* cap too small */
    ck_assert_int_eq(tool_band_edges(0, 257, 33, e, 40), -1);
    ck_assert_int_eq(tool_band_edges(5, 5, 33, e, 40), -1);
    ck_assert_int_eq(tool_band_edges(2, 257, 1, e, 40), -1);
    /* NumPy: np.unique(np.geomspace(1, 8, 4).astype(int)) == [1, 2, 4, 8] */
    ck_assert_int_eq(tool_band_edges(1, 8, 4, e, 40), 4);
    ck_assert_int_eq(e[1], 2);
    ck_assert_int_eq(e[2], 4);
    ck_assert_int_eq(e[3], 8);
    tool_audio a;
    ck_assert_int_eq(tool_audio_init(&a), 0);
    for (int i = 0; i < 29; i++)
        ck_assert_int_eq(a.edges[i], numpy_edges[i]);
    tool_audio_free(&a);
}
END_TEST

START_TEST(test_trim)
{
    float x[10] = {0.0f, 0.01f, -0.019f, 0.5f, -1.0f, 0.0f, 0.3f, -0.025f, 0.0199f, 0.0f};
    size_t first, count;
    ck_assert_int_eq(tool_trim(x, 10, 0.02, &first, &count), 0);
    ck_assert_uint_eq(first, 3); /* 0.01 and -0.019 are below 2% of 1.0 */
    ck_assert_uint_eq(count, 5); /* up to -0.025 (index 7); 0.0199 is below */
    float one[1] = {-0.5f};
    ck_assert_int_eq(tool_trim(one, 1, 0.02, &first, &count), 0);
    ck_assert_uint_eq(first, 0);
    ck_assert_uint_eq(count, 1);
    float silent[3] = {0.0f, 0.0f, -0.0f};
    ck_assert_int_eq(tool_trim(silent, 3, 0.02, &first, &count), -1);
    ck_assert_int_eq(tool_trim(silent, 0, 0.02, &first, &count), -1);
    float bad[2] = {0.5f, NAN};
    ck_assert_int_eq(tool_trim(bad, 2, 0.02, &first, &count), -1);
}
END_TEST

START_TEST(test_resample_linear)
{
    double out[20];
    /* NumPy: np.interp(np.linspace(0, 2, 5), [0, 1, 2], [0, 10, 5]) = [0, 5, 10, 7.5, 5] */
    const double in3[3] = {0.0, 10.0, 5.0};
    tool_resample_linear(in3, 3, out, 5);
    const double want[5] = {0.0, 5.0, 10.0, 7.5, 5.0};
    for (int j = 0; j < 5; j++)
        ck_assert_double_eq_tol(out[j], want[j], 1e-12);
    /* One frame: constant. */
    const double in1[1] = {-3.25};
    tool_resample_linear(in1, 1, out, 20);
    for (int j = 0; j < 20; j++)
        ck_assert_double_eq(out[j], -3.25);
    /* Same length: identity; a ramp stays a ramp; downsampling keeps the end points. */
    double ramp[57];
    for (int i = 0; i < 57; i++)
        ramp[i] = 2.0 * i - 7.0;
    tool_resample_linear(ramp, 20, out, 20);
    for (int j = 0; j < 20; j++)
        ck_assert_double_eq_tol(out[j], ramp[j], 1e-12);
    tool_resample_linear(ramp, 57, out, 20);
    for (int j = 0; j < 20; j++)
        ck_assert_double_eq_tol(out[j], -7.0 + 2.0 * 56.0 * j / 19.0, 1e-9);
    ck_assert_double_eq(out[19], ramp[56]);
    /* NumPy: np.interp(np.linspace(0, 6, 4), range(7), [1, 4, 9, 16, 25, 36, 49])
     *        = [1, 9, 25, 49] */
    const double sq[7] = {1, 4, 9, 16, 25, 36, 49};
    tool_resample_linear(sq, 7, out, 4);
    ck_assert_double_eq_tol(out[1], 9.0, 1e-12);
    ck_assert_double_eq_tol(out[2], 25.0, 1e-12);
    /* NumPy: np.interp(np.linspace(0, 3, 3), range(4), [0, 1, 4, 9]) = [0, 2.5, 9] */
    const double q[4] = {0, 1, 4, 9};
    tool_resample_linear(q, 4, out, 3);
    ck_assert_double_eq_tol(out[1], 2.5, 1e-12);
}
END_TEST

/* NumPy reference of the whole feature pipeline (frames, periodic Hann, rfft power, bands,
 * log(x + 1e-6), np.interp to 20 steps, band-major):
 *   w = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(512) / 512)
 *   F = 1 + (n - 512) // 256; fr = [x[f*256 : f*256+512] * w for f in range(F)]
 *   P = np.abs(np.fft.rfft(fr, axis=1)) ** 2; e = edges above
 *   L = np.log([P[:, e[b]:e[b+1]].sum(1) for b in range(28)] + 1e-6)
 *   out = [np.interp(np.linspace(0, F - 1, 20), np.arange(F), L[b]) for b in range(28)]
 * for x = float32(sin(0.05 i) exp(-i / 3000) + 0.3 sin(1.3 i)), i < 5000 (18 frames), and
 * for the 300-sample x = float32(0.5 cos(0.2 i)) (zero-padded to one frame). */
START_TEST(test_features_against_numpy)
{
    float *x = malloc(5000 * sizeof *x);
    ck_assert_ptr_nonnull(x);
    for (int i = 0; i < 5000; i++)
        x[i] = (float)(sin(0.05 * i) * exp(-i / 3000.0) + 0.3 * sin(1.3 * i));
    tool_audio a;
    ck_assert_int_eq(tool_audio_init(&a), 0);
    ck_assert_uint_eq(tool_audio_num_frames(5000), 18);
    ck_assert_uint_eq(tool_audio_num_frames(512), 1);
    ck_assert_uint_eq(tool_audio_num_frames(767), 1);
    ck_assert_uint_eq(tool_audio_num_frames(768), 2);
    ck_assert_uint_eq(tool_audio_num_frames(1), 1);
    float f[TOOL_AUDIO_DIM];
    ck_assert_int_eq(tool_audio_features(&a, x, 5000, f), 0);
    ck_assert_double_eq_tol(f[0], 0.5671996031904981, 2e-5);
    ck_assert_double_eq_tol(f[19], -2.248318782798624, 2e-5);
    ck_assert_double_eq_tol(f[147], -7.002813152155149, 2e-5);
    ck_assert_double_eq_tol(f[300], -13.298483820695225, 2e-5);
    ck_assert_double_eq_tol(f[559], -13.815464389957462, 2e-5);
    double sum = 0.0;
    for (int k = 0; k < TOOL_AUDIO_DIM; k++)
        sum += f[k];
    ck_assert_double_eq_tol(sum, -4537.751810975178, 2e-3);

    for (int i = 0; i < 300; i++)
        x[i] = (float)(0.5 * cos(0.2 * i));
    ck_assert_int_eq(tool_audio_features(&a, x, 300, f), 0);
    ck_assert_double_eq_tol(f[0], -1.2526047776236908, 2e-5);
    ck_assert_double_eq_tol(f[100], 1.4649072052747094, 2e-5);
    sum = 0.0;
    for (int k = 0; k < TOOL_AUDIO_DIM; k++)
        sum += f[k];
    ck_assert_double_eq_tol(sum, 999.7938817498174, 2e-3);
    for (int b = 0; b < TOOL_AUDIO_BANDS; b++) /* one frame: constant bands */
        for (int j = 1; j < TOOL_AUDIO_STEPS; j++)
            ck_assert_float_eq(f[b * TOOL_AUDIO_STEPS + j], f[b * TOOL_AUDIO_STEPS]);
    /* A long clip after a short one reuses the grown scratch. */
    for (int i = 0; i < 5000; i++)
        x[i] = (float)(sin(0.05 * i) * exp(-i / 3000.0) + 0.3 * sin(1.3 * i));
    ck_assert_int_eq(tool_audio_features(&a, x, 5000, f), 0);
    ck_assert_double_eq_tol(f[0], 0.5671996031904981, 2e-5);
    tool_audio_free(&a);
    tool_audio_free(NULL);
    free(x);
}
END_TEST

/* ------------------------------------------------------------------------------------------
 * RNG, IDX */

START_TEST(test_rng)
{
    tool_rng a, b;
    tool_rng_seed(&a, 42);
    tool_rng_seed(&b, 42);
    for (int i = 0; i < 100; i++)
        ck_assert_uint_eq(tool_rng_next(&a), tool_rng_next(&b));
    tool_rng_seed2(&a, 42, 1);
    tool_rng_seed2(&b, 42, 2);
    ck_assert_uint_ne(tool_rng_next(&a), tool_rng_next(&b));
    /* Uniform range, below() range, normal moments. */
    double s1 = 0, s2 = 0;
    int hist[7] = {0};
    for (int i = 0; i < 70000; i++) {
        double u = tool_rng_uniform(&a);
        ck_assert(u >= 0.0 && u < 1.0);
        uint64_t k = tool_rng_below(&a, 7);
        ck_assert_uint_lt(k, 7);
        hist[k]++;
        double z = tool_rng_normal(&a);
        s1 += z;
        s2 += z * z;
    }
    for (int k = 0; k < 7; k++)
        ck_assert(hist[k] > 9400 && hist[k] < 10600);
    ck_assert_double_eq_tol(s1 / 70000, 0.0, 0.02);
    ck_assert_double_eq_tol(s2 / 70000, 1.0, 0.03);
    size_t idx[50];
    int seen[50] = {0};
    for (size_t i = 0; i < 50; i++)
        idx[i] = i;
    tool_rng_shuffle(&a, idx, 50);
    for (size_t i = 0; i < 50; i++)
        seen[idx[i]]++;
    for (size_t i = 0; i < 50; i++)
        ck_assert_int_eq(seen[i], 1);
}
END_TEST

START_TEST(test_idx)
{
    char path[300], err[200];
    unsigned char img[16 + 2 * 4] = {0, 0, 8, 3, 0, 0, 0, 2, 0, 0, 0, 2, 0, 0, 0, 2,
                                     1, 2, 3, 4, 5, 6, 7, 255};
    tmp_path(path, sizeof path, "img.idx");
    write_file(path, img, sizeof img);
    unsigned char *data;
    size_t dims[3];
    ck_assert_int_eq(tool_idx_read(path, 3, &data, dims, err, sizeof err), 0);
    ck_assert_uint_eq(dims[0], 2);
    ck_assert_uint_eq(dims[1], 2);
    ck_assert_uint_eq(dims[2], 2);
    ck_assert_uint_eq(data[7], 255);
    free(data);
    /* Wrong dimension count, short data, trailing byte. */
    ck_assert_int_eq(tool_idx_read(path, 1, &data, dims, err, sizeof err), -1);
    write_file(path, img, sizeof img - 1);
    ck_assert_int_eq(tool_idx_read(path, 3, &data, dims, err, sizeof err), -1);
    ck_assert_ptr_null(data);
    unsigned char lab[8 + 4] = {0, 0, 8, 1, 0, 0, 0, 3, 7, 8, 9, 0};
    write_file(path, lab, sizeof lab);
    ck_assert_int_eq(tool_idx_read(path, 1, &data, dims, err, sizeof err), -1);
    write_file(path, lab, sizeof lab - 1);
    ck_assert_int_eq(tool_idx_read(path, 1, &data, dims, err, sizeof err), 0);
    ck_assert_uint_eq(dims[0], 3);
    ck_assert_uint_eq(data[2], 9);
    free(data);
}
END_TEST

/* ------------------------------------------------------------------------------------------
 * .npy writer */

/* NumPy: np.save(f, np.zeros((3, 4), '<f4')) starts with these 128 bytes. */
START_TEST(test_npy_header_matches_numpy)
{
    char h[256];
    size_t shape[2] = {3, 4};
    size_t n = tool_npy_header(h, sizeof h, TOOL_NPY_F4, 2, shape);
    ck_assert_uint_eq(n, 128);
    const char *dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }";
    ck_assert_int_eq(memcmp(h, "\x93NUMPY\x01\x00\x76\x00", 10), 0);
    ck_assert_int_eq(memcmp(h + 10, dict, strlen(dict)), 0);
    for (size_t i = 10 + strlen(dict); i < 127; i++)
        ck_assert_int_eq(h[i], ' ');
    ck_assert_int_eq(h[127], '\n');
    /* 1-D: "(5,)"; other dtypes. */
    size_t s1[1] = {5};
    n = tool_npy_header(h, sizeof h, TOOL_NPY_I8, 1, s1);
    ck_assert_uint_eq(n, 128);
    ck_assert_ptr_nonnull(strstr(h + 10, "{'descr': '<i8', 'fortran_order': False, 'shape': (5,), }"));
    n = tool_npy_header(h, sizeof h, TOOL_NPY_U1, 1, s1);
    ck_assert_ptr_nonnull(strstr(h + 10, "'descr': '|u1'"));
    ck_assert_uint_eq(tool_npy_header(h, 64, TOOL_NPY_F4, 2, shape), 0); /* buffer too small */
    ck_assert_uint_eq(tool_npy_header(h, sizeof h, TOOL_NPY_F4, 0, shape), 0);
    ck_assert_uint_eq(tool_npy_header(h, sizeof h, (tool_npy_dtype)9, 2, shape), 0);
}
END_TEST

START_TEST(test_npy_round_trip_through_library)
{
    enum { N = 37, D = 5 };
    float feat[N * D];
    int64_t y8[N];
    int32_t y4[N];
    uint8_t u1[N * 3];
    for (int i = 0; i < N * D; i++)
        feat[i] = (float)(i * 0.37 - 20.0) * (i % 3 ? 1.0f : -1e-3f);
    for (int i = 0; i < N; i++) {
        y8[i] = (i * 7) % 6;
        y4[i] = (i * 5) % 10;
    }
    for (int i = 0; i < N * 3; i++)
        u1[i] = (uint8_t)(i * 11);
    char pf[300], py8[300], py4[300], pu[300], err[200];
    tmp_path(pf, sizeof pf, "train_m0.npy");
    tmp_path(py8, sizeof py8, "train_y.npy");
    tmp_path(py4, sizeof py4, "train_y4.npy");
    tmp_path(pu, sizeof pu, "train_m1.npy");
    size_t s2[2] = {N, D}, s1[1] = {N}, s3[3] = {N, 1, 3};
    ck_assert_int_eq(tool_npy_write(pf, TOOL_NPY_F4, 2, s2, feat, err, sizeof err), 0);
    ck_assert_int_eq(tool_npy_write(py8, TOOL_NPY_I8, 1, s1, y8, err, sizeof err), 0);
    ck_assert_int_eq(tool_npy_write(py4, TOOL_NPY_I4, 1, s1, y4, err, sizeof err), 0);
    ck_assert_int_eq(tool_npy_write(pu, TOOL_NPY_U1, 3, s3, u1, err, sizeof err), 0);
    ck_assert_int_eq(access(pf, F_OK), 0);
    char tmp[320];
    snprintf(tmp, sizeof tmp, "%s.tmp", pf);
    ck_assert_int_ne(access(tmp, F_OK), 0); /* renamed into place */

    crmt_dataset *ds;
    ck_assert_int_eq(crmt_dataset_create(&ds, N, 2), CRMT_OK);
    ck_assert_int_eq(crmt_dataset_load_npy_modality(ds, 0, pf), CRMT_OK);
    ck_assert_int_eq(crmt_dataset_load_npy_modality(ds, 1, pu), CRMT_OK);
    ck_assert_int_eq(crmt_dataset_load_npy_labels(ds, py8), CRMT_OK);
    ck_assert_uint_eq(crmt_dataset_dim(ds, 0), D);
    ck_assert_uint_eq(crmt_dataset_dim(ds, 1), 3);
    const float *m0 = crmt_dataset_data(ds, 0), *m1 = crmt_dataset_data(ds, 1);
    ck_assert_int_eq(memcmp(m0, feat, sizeof feat), 0);
    for (int i = 0; i < N * 3; i++)
        ck_assert_float_eq(m1[i], (float)u1[i]);
    const int32_t *lab = crmt_dataset_labels(ds);
    for (int i = 0; i < N; i++)
        ck_assert_int_eq(lab[i], (int32_t)y8[i]);
    ck_assert_int_eq(crmt_dataset_load_npy_labels(ds, py4), CRMT_OK);
    lab = crmt_dataset_labels(ds);
    for (int i = 0; i < N; i++)
        ck_assert_int_eq(lab[i], y4[i]);
    crmt_dataset_destroy(ds);

    /* Overwriting an existing file; a folder that does not exist fails cleanly. */
    ck_assert_int_eq(tool_npy_write(pf, TOOL_NPY_F4, 2, s2, feat, err, sizeof err), 0);
    char nodir[320];
    snprintf(nodir, sizeof nodir, "%s/no/such.npy", tmpdir);
    err[0] = '\0';
    ck_assert_int_eq(tool_npy_write(nodir, TOOL_NPY_F4, 2, s2, feat, err, sizeof err), -1);
    ck_assert(err[0] != '\0');
}
END_TEST

/* ------------------------------------------------------------------------------------------
 * The tools end to end: their output loads into a crmt_dataset. */

static crmt_dataset *load_split(const char *dir, const char *split, size_t n, int n_modalities)
{
    char path[1024];
    crmt_dataset *ds;
    ck_assert_int_eq(crmt_dataset_create(&ds, n, n_modalities), CRMT_OK);
    for (int m = 0; m < n_modalities; m++) {
        snprintf(path, sizeof path, "%s/%s_m%d.npy", dir, split, m);
        ck_assert_msg(crmt_dataset_load_npy_modality(ds, m, path) == CRMT_OK, "%s: %s", path,
                      crmt_last_error());
    }
    snprintf(path, sizeof path, "%s/%s_y.npy", dir, split);
    ck_assert_msg(crmt_dataset_load_npy_labels(ds, path) == CRMT_OK, "%s: %s", path,
                  crmt_last_error());
    return ds;
}

/* Read an '<i8' .npy file of count values whose shape is printed by shape_fmt. */
static void read_npy_i8(const char *path, size_t count, const char *shape_fmt, size_t n,
                        int64_t *out)
{
    FILE *f = fopen(path, "rb");
    ck_assert_ptr_nonnull(f);
    unsigned char pre[10];
    ck_assert_uint_eq(fread(pre, 1, 10, f), 10);
    ck_assert_int_eq(memcmp(pre, "\x93NUMPY\x01\x00", 8), 0);
    size_t hlen = pre[8] | (size_t)pre[9] << 8;
    char header[1024], want[128], shape[64];
    ck_assert_uint_lt(hlen, sizeof header);
    ck_assert_uint_eq(fread(header, 1, hlen, f), hlen);
    header[hlen] = '\0';
    snprintf(shape, sizeof shape, shape_fmt, n);
    snprintf(want, sizeof want, "{'descr': '<i8', 'fortran_order': False, 'shape': %s, }", shape);
    ck_assert_ptr_nonnull(strstr(header, want));
    for (size_t i = 0; i < count; i++) {
        unsigned char b[8];
        ck_assert_uint_eq(fread(b, 1, 8, f), 8);
        uint64_t v = 0;
        for (int k = 7; k >= 0; k--)
            v = v << 8 | b[k];
        memcpy(&out[i], &v, 8);
    }
    ck_assert_int_eq(fgetc(f), EOF);
    fclose(f);
}

#ifdef CRMT_TOOLS_PREPARE_SATELLITE
START_TEST(test_prepare_satellite_end_to_end)
{
    char cmd[8192];
    snprintf(cmd, sizeof cmd, "'%s' --seed 1 '%s' '%s' >/dev/null", CRMT_TOOLS_PREPARE_SATELLITE,
             CRMT_TOOLS_SATELLITE_CSV, tmpdir);
    ck_assert_int_eq(system(cmd), 0);
    const char *splits[3] = {"train", "val", "test"};
    const size_t n[3] = {3862, 1288, 1285};
    /* Class counts of the 6435 rows: red soil, cotton crop, grey soil, damp grey soil,
     * vegetation stubble, very damp grey soil. */
    const size_t want_class[6] = {1533, 703, 1358, 626, 707, 1508};
    size_t class_count[6] = {0};
    for (int s = 0; s < 3; s++) {
        crmt_dataset *ds = load_split(tmpdir, splits[s], n[s], 2);
        ck_assert_uint_eq(crmt_dataset_dim(ds, 0), 18);
        ck_assert_uint_eq(crmt_dataset_dim(ds, 1), 18);
        const int32_t *y = crmt_dataset_labels(ds);
        for (size_t i = 0; i < n[s]; i++) {
            ck_assert(y[i] >= 0 && y[i] < 6);
            class_count[y[i]]++;
        }
        if (s == 0) /* standardised with the training statistics */
            for (int m = 0; m < 2; m++) {
                const float *x = crmt_dataset_data(ds, m);
                for (int j = 0; j < 18; j++) {
                    double s1 = 0, s2 = 0;
                    for (size_t i = 0; i < n[s]; i++) {
                        s1 += x[i * 18 + (size_t)j];
                        s2 += (double)x[i * 18 + (size_t)j] * x[i * 18 + (size_t)j];
                    }
                    ck_assert_double_eq_tol(s1 / (double)n[s], 0.0, 1e-4);
                    ck_assert_double_eq_tol(s2 / (double)n[s], 1.0, 1e-4);
                }
            }
        crmt_dataset_destroy(ds);
    }
    for (int c = 0; c < 6; c++)
        ck_assert_uint_eq(class_count[c], want_class[c]);
    /* Bad input: a missing file and a malformed CSV are refused. */
    snprintf(cmd, sizeof cmd, "'%s' '%s/none.csv.gz' '%s' 2>/dev/null", CRMT_TOOLS_PREPARE_SATELLITE,
             tmpdir, tmpdir);
    ck_assert_int_ne(system(cmd), 0);
    char bad[400];
    tmp_path(bad, sizeof bad, "bad.csv");
    const char *text = "\"x.1\",\"classes\"\n1,2,\"red soil\"\n";
    write_file(bad, text, strlen(text));
    snprintf(cmd, sizeof cmd, "'%s' '%s' '%s' 2>/dev/null", CRMT_TOOLS_PREPARE_SATELLITE, bad, tmpdir);
    ck_assert_int_ne(system(cmd), 0);
}
END_TEST
#endif

/* A tiny AV-digits: 40 fake MNIST training images and 20 test images (image i has all
 * pixels equal to i and label i % 10), one clip per split and digit (a tone whose frequency
 * depends on the digit, with silence around it), and the plan naming them. */
static void write_fake_avdigits(void)
{
    char path[400];
    unsigned char hdr[16] = {0, 0, 8, 3, 0, 0, 0, 0, 0, 0, 0, 28, 0, 0, 0, 28};
    unsigned char lhdr[8] = {0, 0, 8, 1, 0, 0, 0, 0};
    const char *names[2][2] = {{"train-images-idx3-ubyte", "train-labels-idx1-ubyte"},
                               {"t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"}};
    for (int f = 0; f < 2; f++) {
        int n = f == 0 ? 40 : 20;
        size_t len = 16 + (size_t)n * 784;
        unsigned char *img = malloc(len), lab[8 + 40];
        ck_assert_ptr_nonnull(img);
        memcpy(img, hdr, 16);
        img[7] = (unsigned char)n;
        memcpy(lab, lhdr, 8);
        lab[7] = (unsigned char)n;
        for (int i = 0; i < n; i++) {
            memset(img + 16 + (size_t)i * 784, i * 5 + f, 784);
            lab[8 + i] = (unsigned char)(i % 10);
        }
        tmp_path(path, sizeof path, names[f][0]);
        write_file(path, img, len);
        tmp_path(path, sizeof path, names[f][1]);
        write_file(path, lab, 8 + (size_t)n);
        free(img);
    }
    tmp_path(path, sizeof path, "plan.tsv");
    FILE *plan = fopen(path, "w");
    ck_assert_ptr_nonnull(plan);
    const char *splits[3] = {"train", "val", "test"};
    for (int s = 0; s < 3; s++)
        for (int d = 0; d < 10; d++) {
            char file[64];
            snprintf(file, sizeof file, "v%d-%d-s150-p50.wav", s, d);
            fprintf(plan, "%s\t%d\tword\tv%d\t150\t50\t%s\n", splits[s], d, s, file);
            size_t n = 3000 + 100 * (size_t)d, len;
            unsigned char *w = make_wav(n, &len);
            for (size_t i = 0; i < n; i++) {
                double v = (i < 200 || i + 200 >= n) ? 0.0
                                                     : 0.5 * sin(0.05 * (d + 1) * (double)i);
                long q = lrint(v * 32767.0);
                w[44 + 2 * i] = (unsigned char)(q & 0xff);
                w[45 + 2 * i] = (unsigned char)((q >> 8) & 0xff);
            }
            tmp_path(path, sizeof path, file);
            write_file(path, w, len);
            free(w);
        }
    ck_assert_int_eq(fclose(plan), 0);
}

START_TEST(test_avdigits_build_end_to_end)
{
    write_fake_avdigits();
    char out[400], cmd[8192];
    tmp_path(out, sizeof out, "out");
    snprintf(cmd, sizeof cmd, "mkdir '%s' && '%s' build --plan '%s/plan.tsv' --clips '%s' "
             "--mnist '%s' --out '%s' --train 25 --val 15 --test 20 --seed 3 >/dev/null",
             out, CRMT_TOOLS_AVDIGITS_PREP, tmpdir, tmpdir, tmpdir, out);
    ck_assert_int_eq(system(cmd), 0);
    const char *splits[3] = {"train", "val", "test"};
    const size_t n[3] = {25, 15, 20};
    int seen_train[40] = {0};
    for (int s = 0; s < 3; s++) {
        crmt_dataset *ds = load_split(out, splits[s], n[s], 2);
        ck_assert_uint_eq(crmt_dataset_dim(ds, 0), 784);
        ck_assert_uint_eq(crmt_dataset_dim(ds, 1), 560);
        const float *img = crmt_dataset_data(ds, 0), *aud = crmt_dataset_data(ds, 1);
        const int32_t *y = crmt_dataset_labels(ds);
        /* src: the MNIST index and the plan line of the clip ('<i8', n x 2; read here: the
         * library takes integer arrays as labels only). */
        char path[1024];
        snprintf(path, sizeof path, "%s/%s_src.npy", out, splits[s]);
        int64_t sv[2 * 25];
        read_npy_i8(path, n[s] * 2, "(%zu, 2)", n[s], sv);
        for (size_t i = 0; i < n[s]; i++) {
            int mi = (int)sv[2 * i], line = (int)sv[2 * i + 1];
            ck_assert_int_eq(y[i], mi % 10);           /* the image's label */
            ck_assert_int_eq(line, s * 10 + y[i]);     /* the split's clip of that digit */
            ck_assert_float_eq(img[i * 784 + 5], (float)((mi * 5 + (s == 2)) / 255.0));
            if (s < 2) {
                ck_assert_int_lt(mi, 40);
                ck_assert_int_eq(seen_train[mi]++, 0); /* train and val images disjoint */
            }
            /* Pairs of one digit (same clip) have the same audio features. */
            for (size_t k = 0; k < i; k++)
                if (y[k] == y[i])
                    ck_assert_int_eq(memcmp(aud + k * 560, aud + i * 560, 560 * sizeof *aud), 0);
        }
        crmt_dataset_destroy(ds);
    }

    /* The same seed gives the same files; a noise preset keeps the pairs and the labels. */
    char out2[400];
    tmp_path(out2, sizeof out2, "out2");
    snprintf(cmd, sizeof cmd, "mkdir '%s' && '%s' build --plan '%s/plan.tsv' --clips '%s' "
             "--mnist '%s' --out '%s' --train 25 --val 15 --test 20 --seed 3 --audio-snr -10 "
             "--image-noise 0.5 >/dev/null && cmp -s '%s/test_src.npy' '%s/test_src.npy' && "
             "cmp -s '%s/train_y.npy' '%s/train_y.npy' && ! cmp -s '%s/train_m1.npy' "
             "'%s/train_m1.npy' && ! cmp -s '%s/train_m0.npy' '%s/train_m0.npy'",
             out2, CRMT_TOOLS_AVDIGITS_PREP, tmpdir, tmpdir, tmpdir, out2, out, out2, out, out2,
             out, out2, out, out2);
    ck_assert_int_eq(system(cmd), 0);
    /* Bad options and a missing clip are refused. */
    snprintf(cmd, sizeof cmd, "'%s' build --plan '%s/plan.tsv' --clips '%s' --mnist '%s' "
             "--out '%s' --train 0 2>/dev/null", CRMT_TOOLS_AVDIGITS_PREP, tmpdir, tmpdir,
             tmpdir, out);
    ck_assert_int_ne(system(cmd), 0);
    snprintf(cmd, sizeof cmd, "rm '%s/v2-3-s150-p50.wav' && '%s' build --plan '%s/plan.tsv' "
             "--clips '%s' --mnist '%s' --out '%s' --train 25 --val 15 --test 20 2>/dev/null",
             tmpdir, CRMT_TOOLS_AVDIGITS_PREP, tmpdir, tmpdir, tmpdir, out);
    ck_assert_int_ne(system(cmd), 0);
}
END_TEST

START_TEST(test_avdigits_plan)
{
    char voices[400], cmd[8192], planf[400];
    tmp_path(voices, sizeof voices, "voices.txt");
    const char *text = "f3\nMr serious\nm1\nAlex\nf3\nklatt\ncroak\n";
    write_file(voices, text, strlen(text));
    tmp_path(planf, sizeof planf, "plan.tsv");
    snprintf(cmd, sizeof cmd, "'%s' plan --seed 5 --clips-per 3 --test-voices 2 --val-voices 1 "
             "'%s' > '%s'", CRMT_TOOLS_AVDIGITS_PREP, voices, planf);
    ck_assert_int_eq(system(cmd), 0);
    FILE *f = fopen(planf, "r");
    ck_assert_ptr_nonnull(f);
    char line[512];
    int lines = 0, per_split[3] = {0};
    while (fgets(line, sizeof line, f)) {
        char split[8], word[16], voice[64], file[128];
        int digit, speed, pitch;
        /* The voice may hold a space: split on tabs. */
        ck_assert_int_eq(sscanf(line, "%7[^\t]\t%d\t%15[^\t]\t%63[^\t]\t%d\t%d\t%127[^\n]", split,
                                &digit, word, voice, &speed, &pitch, file), 7);
        ck_assert(speed >= 110 && speed <= 209 && pitch >= 0 && pitch <= 99);
        ck_assert(digit >= 0 && digit <= 9);
        per_split[strcmp(split, "train") == 0 ? 0 : strcmp(split, "val") == 0 ? 1 : 2]++;
        if (strcmp(voice, "Mr serious") == 0) {
            char want[128];
            snprintf(want, sizeof want, "Mr_serious-%d-s%d-p%d.wav", digit, speed, pitch);
            ck_assert_str_eq(file, want);
        }
        lines++;
    }
    fclose(f);
    ck_assert_int_eq(lines, 6 * 10 * 3); /* 6 unique voices */
    ck_assert_int_eq(per_split[2], 2 * 30);
    ck_assert_int_eq(per_split[1], 1 * 30);
    ck_assert_int_eq(per_split[0], 3 * 30);
    /* Deterministic; too few voices refused. */
    snprintf(cmd, sizeof cmd, "'%s' plan --seed 5 --clips-per 3 --test-voices 2 --val-voices 1 "
             "'%s' | cmp -s - '%s'", CRMT_TOOLS_AVDIGITS_PREP, voices, planf);
    ck_assert_int_eq(system(cmd), 0);
    snprintf(cmd, sizeof cmd, "'%s' plan --test-voices 5 --val-voices 1 '%s' >/dev/null 2>&1",
             CRMT_TOOLS_AVDIGITS_PREP, voices);
    ck_assert_int_ne(system(cmd), 0);
}
END_TEST

static Suite *tools_suite(void)
{
    Suite *s = suite_create("tools");
    TCase *tc = tcase_create("tools");
    tcase_add_checked_fixture(tc, tmp_setup, tmp_teardown);
    tcase_add_test(tc, test_wav_espeak_header);
    tcase_add_test(tc, test_wav_malformed);
    tcase_add_test(tc, test_fft_against_naive_dft);
    tcase_add_test(tc, test_rfft_against_naive_dft);
    tcase_add_test(tc, test_band_edges);
    tcase_add_test(tc, test_trim);
    tcase_add_test(tc, test_resample_linear);
    tcase_add_test(tc, test_features_against_numpy);
    tcase_add_test(tc, test_rng);
    tcase_add_test(tc, test_idx);
    tcase_add_test(tc, test_npy_header_matches_numpy);
    tcase_add_test(tc, test_npy_round_trip_through_library);
    suite_add_tcase(s, tc);
    TCase *e2e = tcase_create("end_to_end");
    tcase_add_checked_fixture(e2e, tmp_setup, tmp_teardown);
#ifdef CRMT_TOOLS_PREPARE_SATELLITE
    tcase_add_test(e2e, test_prepare_satellite_end_to_end);
#endif
    tcase_add_test(e2e, test_avdigits_build_end_to_end);
    tcase_add_test(e2e, test_avdigits_plan);
    suite_add_tcase(s, e2e);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(tools_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
