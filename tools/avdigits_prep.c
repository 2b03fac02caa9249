/* avdigits_prep: the AV-digits data (real MNIST handwritten images + espeak-ng synthesized
 * speech of the digit words) as two-modality .npy files. See docs/data.md.
 *
 *   avdigits_prep plan [--seed N] [--clips-per K] [--test-voices T] [--val-voices V]
 *                      VOICES_FILE
 *       Reads the espeak-ng variant names (one a line, e.g. "f3" or "Mr serious"), splits
 *       the voices (sorted, then shuffled with the seed: the first T are test voices, the
 *       next V validation voices, the rest training voices) and prints the synthesis plan
 *       on stdout: for every voice and digit, K clips with a speed in [110, 209] and a
 *       pitch in [0, 99] drawn with the seed (no two alike). One tab-separated line a clip:
 *           split digit word voice speed pitch file
 *
 *   avdigits_prep build --plan PLAN --clips DIR --mnist DIR --out DIR [--seed N]
 *                       [--train N] [--val N] [--test N] [--audio-snr DB]
 *                       [--image-noise SD] [--raw-audio]
 *       Reads the clips of the plan (DIR/file, 16-bit mono WAV) and the MNIST IDX files,
 *       pairs every image with a random clip of the same digit from the same split and
 *       writes OUT/{train,val,test}_{m0,m1,y,src}.npy and OUT/info.txt:
 *         m0  float32 n x 784, the image, pixel / 255 (plus N(0, SD^2) noise per pixel with
 *             --image-noise SD, not clipped);
 *         m1  float32 n x 560, the audio features of audio_features.h of the trimmed clip
 *             (plus white noise at DB dB SNR with --audio-snr DB, added to the trimmed
 *             waveform before the features), standardised per feature with the training
 *             split's mean and standard deviation unless --raw-audio;
 *         y   int64 n, the digit;
 *         src int64 n x 2, the MNIST index (in the training file for train and val, in the
 *             test file for test) and the clip's line number (0-based) in the plan.
 *       Training and validation images are disjoint draws from the MNIST training file, test
 *       images from the MNIST test file. The images and clips chosen depend only on the
 *       seed and the counts, so every preset (noise option) of one seed has the same pairs.
 *       The noise of pair i of split s comes from its own stream of the seed.
 */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "audio_features.h"
#include "idx.h"
#include "npy_write.h"
#include "rng.h"
#include "wav.h"

#define N_DIGITS 10
#define IMG_DIM 784
#define MAX_VOICES 4096
#define MAX_NAME 128
#define SPEED_MIN 110
#define SPEED_SPAN 100
#define PITCH_SPAN 100

static const char *const words[N_DIGITS] = {"zero", "one", "two",   "three", "four",
                                            "five", "six", "seven", "eight", "nine"};
static const char *const split_names[3] = {"train", "val", "test"};

static double now_seconds(void)
{
    struct timespec ts;
    timespec_get(&ts, TIME_UTC);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int parse_ull(const char *s, unsigned long long max, unsigned long long *out)
{
    char *end;
    errno = 0;
    if (*s == '-')
        return -1;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s || *end || v > max)
        return -1;
    *out = v;
    return 0;
}

static int parse_dbl(const char *s, double lo, double hi, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !(v >= lo && v <= hi))
        return -1;
    *out = v;
    return 0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void chomp(char *s)
{
    size_t n = strlen(s);
    while (n > 0 && (s[n - 1] == '\n' || s[n - 1] == '\r'))
        s[--n] = '\0';
}

/* ------------------------------------------------------------------------------------ */
/* plan                                                                                 */

static int cmd_plan(int argc, char **argv)
{
    unsigned long long seed = 1, clips_per = 12, n_test = 20, n_val = 16;
    int i = 0;
    for (; i < argc && strncmp(argv[i], "--", 2) == 0; i += 2) {
        if (i + 1 >= argc)
            goto usage;
        unsigned long long *dst = strcmp(argv[i], "--seed") == 0          ? &seed
                                  : strcmp(argv[i], "--clips-per") == 0   ? &clips_per
                                  : strcmp(argv[i], "--test-voices") == 0 ? &n_test
                                  : strcmp(argv[i], "--val-voices") == 0  ? &n_val
                                                                          : NULL;
        unsigned long long max = dst == &seed ? UINT64_MAX : dst == &clips_per ? 1000 : MAX_VOICES;
        if (!dst || parse_ull(argv[i + 1], max, dst) != 0) {
            fprintf(stderr, "avdigits_prep plan: bad option %s %s\n", argv[i], argv[i + 1]);
            return 2;
        }
    }
    if (argc - i != 1 || clips_per < 1)
        goto usage;

    FILE *f = fopen(argv[i], "r");
    if (!f) {
        fprintf(stderr, "avdigits_prep plan: cannot open %s: %s\n", argv[i], strerror(errno));
        return 1;
    }
    static char *voices[MAX_VOICES];
    size_t nv = 0;
    char line[512];
    while (fgets(line, sizeof line, f)) {
        chomp(line);
        if (!line[0])
            continue;
        if (strlen(line) >= MAX_NAME || strchr(line, '\t') || nv == MAX_VOICES) {
            fprintf(stderr, "avdigits_prep plan: bad voice line '%s'\n", line);
            fclose(f);
            return 1;
        }
        voices[nv] = malloc(strlen(line) + 1);
        if (!voices[nv]) {
            fclose(f);
            return 1;
        }
        strcpy(voices[nv++], line);
    }
    fclose(f);
    qsort(voices, nv, sizeof *voices, cmp_str);
    /* Unique names, and unique file-name forms (non-alphanumerics become '_'). */
    static char sane[MAX_VOICES][MAX_NAME];
    size_t u = 0;
    for (size_t v = 0; v < nv; v++) {
        if (u > 0 && strcmp(voices[u - 1], voices[v]) == 0) {
            free(voices[v]);
            continue;
        }
        voices[u++] = voices[v];
    }
    nv = u;
    for (size_t v = 0; v < nv; v++) {
        size_t k = 0;
        for (const char *c = voices[v]; *c; c++)
            sane[v][k++] = (char)(((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
                                   (*c >= '0' && *c <= '9') || *c == '-')
                                      ? *c
                                      : '_');
        sane[v][k] = '\0';
        for (size_t w = 0; w < v; w++)
            if (strcmp(sane[w], sane[v]) == 0) {
                fprintf(stderr, "avdigits_prep plan: voices '%s' and '%s' share a file name\n",
                        voices[w], voices[v]);
                return 1;
            }
    }
    if (nv < n_test + n_val + 1) {
        fprintf(stderr, "avdigits_prep plan: %zu voices, need more than %llu test + %llu "
                        "validation voices\n", nv, n_test, n_val);
        return 1;
    }
    size_t order[MAX_VOICES];
    int split_of[MAX_VOICES];
    for (size_t v = 0; v < nv; v++)
        order[v] = v;
    tool_rng rng;
    tool_rng_seed(&rng, seed);
    tool_rng_shuffle(&rng, order, nv);
    for (size_t k = 0; k < nv; k++)
        split_of[order[k]] = k < n_test ? 2 : k < n_test + n_val ? 1 : 0;

    for (size_t v = 0; v < nv; v++) {
        for (int d = 0; d < N_DIGITS; d++) {
            unsigned char used[SPEED_SPAN * PITCH_SPAN];
            memset(used, 0, sizeof used);
            for (unsigned long long c = 0; c < clips_per; c++) {
                uint64_t code;
                do
                    code = tool_rng_below(&rng, SPEED_SPAN * PITCH_SPAN);
                while (used[code]);
                used[code] = 1;
                int speed = SPEED_MIN + (int)(code / PITCH_SPAN), pitch = (int)(code % PITCH_SPAN);
                printf("%s\t%d\t%s\t%s\t%d\t%d\t%s-%d-s%d-p%d.wav\n", split_names[split_of[v]], d,
                       words[d], voices[v], speed, pitch, sane[v], d, speed, pitch);
            }
        }
    }
    for (size_t v = 0; v < nv; v++)
        free(voices[v]);
    return fflush(stdout) == 0 ? 0 : 1;
usage:
    fprintf(stderr, "usage: avdigits_prep plan [--seed N] [--clips-per K] [--test-voices T] "
                    "[--val-voices V] VOICES_FILE\n");
    return 2;
}

/* ------------------------------------------------------------------------------------ */
/* build                                                                                */

typedef struct clip {
    int split, digit;
    int16_t *pcm; /* trimmed samples */
    size_t n;
} clip;

/* Read the plan's clips (trimmed). Returns the count, or -1. */
static long load_clips(const char *plan_path, const char *clip_dir, clip **out)
{
    FILE *f = fopen(plan_path, "r");
    if (!f) {
        fprintf(stderr, "avdigits_prep: cannot open %s: %s\n", plan_path, strerror(errno));
        return -1;
    }
    size_t n = 0, cap = 0;
    clip *clips = NULL;
    char line[1024], path[4096], err[512];
    long rc = -1;
    while (fgets(line, sizeof line, f)) {
        chomp(line);
        char *field[7] = {NULL, NULL, NULL, NULL, NULL, NULL, NULL};
        int nf = 0;
        for (char *p = line; nf < 7;) {
            field[nf++] = p;
            char *t = strchr(p, '\t');
            if (!t)
                break;
            *t = '\0';
            p = t + 1;
        }
        int split = -1;
        for (int s = 0; s < 3 && nf == 7; s++)
            if (strcmp(field[0], split_names[s]) == 0)
                split = s;
        if (split < 0 || !field[1] || !field[6] || strlen(field[1]) != 1 || field[1][0] < '0' || field[1][0] > '9' ||
            strchr(field[6], '/')) {
            fprintf(stderr, "avdigits_prep: %s:%zu: bad plan line\n", plan_path, n + 1);
            goto done;
        }
        if (n == cap) {
            cap = cap ? 2 * cap : 4096;
            clip *nc = realloc(clips, cap * sizeof *nc);
            if (!nc)
                goto done;
            clips = nc;
        }
        clip *c = &clips[n];
        memset(c, 0, sizeof *c);
        c->split = split;
        c->digit = field[1][0] - '0';
        snprintf(path, sizeof path, "%s/%s", clip_dir, field[6]);
        float *x;
        size_t nx, first, count;
        uint32_t rate;
        if (tool_wav_read_file(path, &x, &nx, &rate, err, sizeof err) != 0) {
            fprintf(stderr, "avdigits_prep: %s\n", err);
            goto done;
        }
        if (tool_trim(x, nx, TOOL_AUDIO_TRIM_FRACTION, &first, &count) != 0) {
            fprintf(stderr, "avdigits_prep: %s: silent clip\n", path);
            free(x);
            goto done;
        }
        c->pcm = malloc(count * sizeof *c->pcm);
        if (!c->pcm) {
            free(x);
            goto done;
        }
        for (size_t k = 0; k < count; k++)
            c->pcm[k] = (int16_t)lrintf(x[first + k] * 32768.0f); /* exact: x = pcm / 32768 */
        c->n = count;
        free(x);
        n++;
    }
    if (ferror(f)) {
        fprintf(stderr, "avdigits_prep: cannot read %s\n", plan_path);
        goto done;
    }
    rc = (long)n;
done:
    fclose(f);
    if (rc < 0) {
        for (size_t k = 0; k < n; k++)
            free(clips[k].pcm);
        free(clips);
        clips = NULL;
    }
    *out = clips;
    return rc;
}

static int write_npy(const char *dir, const char *split, const char *name, tool_npy_dtype dt,
                     int ndim, const size_t *shape, const void *data)
{
    char path[4096], err[512];
    snprintf(path, sizeof path, "%s/%s_%s.npy", dir, split, name);
    if (tool_npy_write(path, dt, ndim, shape, data, err, sizeof err) != 0) {
        fprintf(stderr, "avdigits_prep: %s\n", err);
        return -1;
    }
    return 0;
}

static int cmd_build(int argc, char **argv)
{
    const char *plan = NULL, *clip_dir = NULL, *mnist = NULL, *out = NULL;
    unsigned long long seed = 1, count[3] = {12000, 2000, 2000};
    double snr = NAN, image_sd = 0.0;
    int raw_audio = 0;
    for (int i = 0; i < argc; i++) {
        const char *o = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        int bad = 0;
        if (strcmp(o, "--raw-audio") == 0) {
            raw_audio = 1;
            continue;
        }
        if (!v)
            bad = 1;
        else if (strcmp(o, "--plan") == 0)
            plan = v;
        else if (strcmp(o, "--clips") == 0)
            clip_dir = v;
        else if (strcmp(o, "--mnist") == 0)
            mnist = v;
        else if (strcmp(o, "--out") == 0)
            out = v;
        else if (strcmp(o, "--seed") == 0)
            bad = parse_ull(v, UINT64_MAX, &seed);
        else if (strcmp(o, "--train") == 0)
            bad = parse_ull(v, 60000, &count[0]);
        else if (strcmp(o, "--val") == 0)
            bad = parse_ull(v, 60000, &count[1]);
        else if (strcmp(o, "--test") == 0)
            bad = parse_ull(v, 10000, &count[2]);
        else if (strcmp(o, "--audio-snr") == 0)
            bad = parse_dbl(v, -100.0, 100.0, &snr);
        else if (strcmp(o, "--image-noise") == 0)
            bad = parse_dbl(v, 0.0, 100.0, &image_sd);
        else
            bad = 1;
        if (bad) {
            fprintf(stderr, "avdigits_prep build: bad option %s%s%s\n", o, v ? " " : "", v ? v : "");
            return 2;
        }
        i++;
    }
    if (!plan || !clip_dir || !mnist || !out || count[0] < 1 || count[1] < 1 || count[2] < 1 ||
        count[0] + count[1] > 60000) {
        fprintf(stderr, "usage: avdigits_prep build --plan PLAN --clips DIR --mnist DIR --out DIR "
                        "[--seed N] [--train N] [--val N] [--test N] [--audio-snr DB] "
                        "[--image-noise SD] [--raw-audio]\n");
        return 2;
    }
    double t0 = now_seconds();

    /* MNIST. */
    static const char *const files[4] = {"train-images-idx3-ubyte", "train-labels-idx1-ubyte",
                                         "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"};
    unsigned char *idx[4];
    size_t dims[4][3];
    char path[4096], err[512];
    for (int k = 0; k < 4; k++) {
        snprintf(path, sizeof path, "%s/%s", mnist, files[k]);
        if (tool_idx_read(path, k % 2 ? 1 : 3, &idx[k], dims[k], err, sizeof err) != 0) {
            fprintf(stderr, "avdigits_prep: %s\n", err);
            return 1;
        }
    }
    for (int k = 0; k < 4; k += 2)
        if (dims[k][1] * dims[k][2] != IMG_DIM || dims[k][0] != dims[k + 1][0]) {
            fprintf(stderr, "avdigits_prep: MNIST files of unexpected shapes\n");
            return 1;
        }
    if (dims[0][0] < count[0] + count[1] || dims[2][0] < count[2]) {
        fprintf(stderr, "avdigits_prep: not enough MNIST images for the counts asked\n");
        return 1;
    }
    for (int k = 1; k < 4; k += 2)
        for (size_t i = 0; i < dims[k][0]; i++)
            if (idx[k][i] >= N_DIGITS) {
                fprintf(stderr, "avdigits_prep: MNIST label out of range\n");
                return 1;
            }

    /* Clips. */
    clip *clips;
    long n_clips = load_clips(plan, clip_dir, &clips);
    if (n_clips < 0)
        return 1;
    size_t *by_class[3][N_DIGITS], n_by_class[3][N_DIGITS];
    memset(n_by_class, 0, sizeof n_by_class);
    for (int s = 0; s < 3; s++)
        for (int d = 0; d < N_DIGITS; d++) {
            by_class[s][d] = malloc((size_t)(n_clips ? n_clips : 1) * sizeof(size_t));
            if (!by_class[s][d])
                return 1;
        }
    size_t max_len = 1;
    for (long c = 0; c < n_clips; c++) {
        by_class[clips[c].split][clips[c].digit][n_by_class[clips[c].split][clips[c].digit]++] =
            (size_t)c;
        if (clips[c].n > max_len)
            max_len = clips[c].n;
    }
    for (int s = 0; s < 3; s++)
        for (int d = 0; d < N_DIGITS; d++)
            if (n_by_class[s][d] == 0) {
                fprintf(stderr, "avdigits_prep: no %s clip of digit %d in the plan\n",
                        split_names[s], d);
                return 1;
            }
    double t_load = now_seconds();

    tool_audio audio;
    if (tool_audio_init(&audio) != 0)
        return 1;
    float *wave = malloc(max_len * sizeof *wave);
    float *clip_feat = NULL; /* per-clip features when the audio is clean */
    if (!wave)
        return 1;
    if (isnan(snr)) {
        clip_feat = malloc((size_t)n_clips * TOOL_AUDIO_DIM * sizeof *clip_feat);
        if (!clip_feat)
            return 1;
        for (long c = 0; c < n_clips; c++) {
            for (size_t k = 0; k < clips[c].n; k++)
                wave[k] = (float)clips[c].pcm[k] / 32768.0f;
            if (tool_audio_features(&audio, wave, clips[c].n,
                                    clip_feat + (size_t)c * TOOL_AUDIO_DIM) != 0)
                return 1;
        }
    }

    /* Pairs: the MNIST images of each split, then a clip of the same digit for each. */
    tool_rng rng;
    tool_rng_seed(&rng, seed);
    size_t n_train_file = dims[0][0], n_test_file = dims[2][0];
    size_t *perm_train = malloc(n_train_file * sizeof *perm_train);
    size_t *perm_test = malloc(n_test_file * sizeof *perm_test);
    if (!perm_train || !perm_test)
        return 1;
    for (size_t i = 0; i < n_train_file; i++)
        perm_train[i] = i;
    for (size_t i = 0; i < n_test_file; i++)
        perm_test[i] = i;
    tool_rng_shuffle(&rng, perm_train, n_train_file);
    tool_rng_shuffle(&rng, perm_test, n_test_file);

    size_t n_max = count[0] > count[2] ? count[0] : count[2];
    if (count[1] > n_max)
        n_max = count[1];
    float *m0 = malloc(n_max * IMG_DIM * sizeof *m0);
    float *m1[3];
    int64_t *y[3], *src[3];
    for (int s = 0; s < 3; s++) {
        m1[s] = malloc(count[s] * TOOL_AUDIO_DIM * sizeof *m1[s]);
        y[s] = malloc(count[s] * sizeof *y[s]);
        src[s] = malloc(count[s] * 2 * sizeof *src[s]);
        if (!m1[s] || !y[s] || !src[s])
            return 1;
    }
    if (!m0)
        return 1;
    for (int s = 0; s < 3; s++) {
        const unsigned char *lab = s == 2 ? idx[3] : idx[1];
        const size_t *perm = s == 2 ? perm_test : perm_train + (s == 1 ? count[0] : 0);
        for (size_t i = 0; i < count[s]; i++) {
            size_t mi = perm[i];
            int d = lab[mi];
            size_t c = by_class[s][d][tool_rng_below(&rng, n_by_class[s][d])];
            y[s][i] = d;
            src[s][2 * i] = (int64_t)mi;
            src[s][2 * i + 1] = (int64_t)c;
        }
    }

    /* Features. m0 is written split by split; m1 is kept for the standardisation. */
    size_t img_shape[2] = {0, IMG_DIM}, aud_shape[2] = {0, TOOL_AUDIO_DIM}, y_shape[1],
           src_shape[2] = {0, 2};
    double snr_power = isnan(snr) ? 0.0 : pow(10.0, snr / 10.0);
    for (int s = 0; s < 3; s++) {
        const unsigned char *img = s == 2 ? idx[2] : idx[0];
        for (size_t i = 0; i < count[s]; i++) {
            size_t mi = (size_t)src[s][2 * i], c = (size_t)src[s][2 * i + 1];
            tool_rng noise;
            /* Stream of pair i of split s: images and audio draw from separate streams. */
            tool_rng_seed2(&noise, seed, ((uint64_t)(s * 2 + 1) << 40) | i);
            for (int p = 0; p < IMG_DIM; p++) {
                double v = img[mi * IMG_DIM + (size_t)p] / 255.0;
                if (image_sd > 0.0)
                    v += image_sd * tool_rng_normal(&noise);
                m0[i * IMG_DIM + (size_t)p] = (float)v;
            }
            float *f = m1[s] + i * TOOL_AUDIO_DIM;
            if (clip_feat) {
                memcpy(f, clip_feat + c * TOOL_AUDIO_DIM, TOOL_AUDIO_DIM * sizeof *f);
            } else {
                tool_rng_seed2(&noise, seed, ((uint64_t)(s * 2 + 2) << 40) | i);
                const clip *cl = &clips[c];
                double power = 0.0;
                for (size_t k = 0; k < cl->n; k++) {
                    double v = cl->pcm[k] / 32768.0;
                    power += v * v;
                }
                power /= (double)cl->n;
                double sd = sqrt(power / snr_power);
                for (size_t k = 0; k < cl->n; k++)
                    wave[k] = (float)(cl->pcm[k] / 32768.0 + sd * tool_rng_normal(&noise));
                if (tool_audio_features(&audio, wave, cl->n, f) != 0)
                    return 1;
            }
        }
        img_shape[0] = count[s];
        if (write_npy(out, split_names[s], "m0", TOOL_NPY_F4, 2, img_shape, m0) != 0)
            return 1;
    }

    /* Standardise the audio with the training split's statistics. */
    double mean[TOOL_AUDIO_DIM], sdev[TOOL_AUDIO_DIM];
    for (int j = 0; j < TOOL_AUDIO_DIM; j++) {
        double s1 = 0.0, s2 = 0.0;
        for (size_t i = 0; i < count[0]; i++)
            s1 += m1[0][i * TOOL_AUDIO_DIM + (size_t)j];
        mean[j] = s1 / (double)count[0];
        for (size_t i = 0; i < count[0]; i++) {
            double dlt = m1[0][i * TOOL_AUDIO_DIM + (size_t)j] - mean[j];
            s2 += dlt * dlt;
        }
        sdev[j] = sqrt(s2 / (double)count[0]);
        if (!(sdev[j] > 1e-12))
            sdev[j] = 1.0;
    }
    for (int s = 0; s < 3; s++) {
        if (!raw_audio)
            for (size_t i = 0; i < count[s]; i++)
                for (int j = 0; j < TOOL_AUDIO_DIM; j++) {
                    float *v = &m1[s][i * TOOL_AUDIO_DIM + (size_t)j];
                    *v = (float)((*v - mean[j]) / sdev[j]);
                }
        aud_shape[0] = count[s];
        y_shape[0] = count[s];
        src_shape[0] = count[s];
        if (write_npy(out, split_names[s], "m1", TOOL_NPY_F4, 2, aud_shape, m1[s]) != 0 ||
            write_npy(out, split_names[s], "y", TOOL_NPY_I8, 1, y_shape, y[s]) != 0 ||
            write_npy(out, split_names[s], "src", TOOL_NPY_I8, 2, src_shape, src[s]) != 0)
            return 1;
    }
    double t_end = now_seconds();

    /* info.txt */
    size_t used_clips[3] = {0, 0, 0};
    unsigned char *seen = calloc((size_t)(n_clips ? n_clips : 1), 1);
    if (!seen)
        return 1;
    for (int s = 0; s < 3; s++)
        for (size_t i = 0; i < count[s]; i++) {
            size_t c = (size_t)src[s][2 * i + 1];
            if (!seen[c]) {
                seen[c] = 1;
                used_clips[s]++;
            }
        }
    size_t plan_clips[3] = {0, 0, 0};
    for (long c = 0; c < n_clips; c++)
        plan_clips[clips[c].split]++;
    snprintf(path, sizeof path, "%s/info.txt", out);
    FILE *info = fopen(path, "w");
    if (!info) {
        fprintf(stderr, "avdigits_prep: cannot write %s\n", path);
        return 1;
    }
    char snr_text[64];
    if (isnan(snr))
        snprintf(snr_text, sizeof snr_text, "clean");
    else
        snprintf(snr_text, sizeof snr_text, "white noise at %g dB SNR", snr);
    fprintf(info, "AV-digits (real MNIST handwritten images + espeak-ng synthesized speech), "
                  "written by avdigits_prep\n");
    fprintf(info, "seed %llu; audio: %s, %s; image noise sd %g\n", seed, snr_text,
            raw_audio ? "raw log band energies" : "standardised with training statistics",
            image_sd);
    fprintf(info, "m0: image, float32 x 784 (pixel / 255%s)\n",
            image_sd > 0.0 ? " + Gaussian noise, not clipped" : "");
    fprintf(info, "m1: audio, float32 x 560 (28 log bands x 20 steps, band-major)\n");
    fprintf(info, "y: int64 digit 0..9; src: int64 (MNIST index, plan line of the clip)\n");
    for (int s = 0; s < 3; s++) {
        size_t per[N_DIGITS] = {0};
        for (size_t i = 0; i < count[s]; i++)
            per[y[s][i]]++;
        fprintf(info, "%-5s %5llu pairs (%zu of the split's %zu clips used), per digit:",
                split_names[s], count[s], used_clips[s], plan_clips[s]);
        for (int d = 0; d < N_DIGITS; d++)
            fprintf(info, " %zu", per[d]);
        fprintf(info, "\n");
    }
    if (fclose(info) != 0) {
        fprintf(stderr, "avdigits_prep: cannot write %s\n", path);
        return 1;
    }
    printf("avdigits_prep: %s: %llu/%llu/%llu pairs from %ld clips (audio %s, image sd %g); "
           "load %.1fs, features %.1fs\n",
           out, count[0], count[1], count[2], n_clips, snr_text, image_sd, t_load - t0,
           t_end - t_load);

    free(seen);
    for (int s = 0; s < 3; s++) {
        free(m1[s]);
        free(y[s]);
        free(src[s]);
        for (int d = 0; d < N_DIGITS; d++)
            free(by_class[s][d]);
    }
    free(m0);
    free(perm_train);
    free(perm_test);
    free(wave);
    free(clip_feat);
    tool_audio_free(&audio);
    for (long c = 0; c < n_clips; c++)
        free(clips[c].pcm);
    free(clips);
    for (int k = 0; k < 4; k++)
        free(idx[k]);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], "plan") == 0)
        return cmd_plan(argc - 2, argv + 2);
    if (argc >= 2 && strcmp(argv[1], "build") == 0)
        return cmd_build(argc - 2, argv + 2);
    fprintf(stderr, "usage: avdigits_prep plan ... | avdigits_prep build ... "
                    "(see docs/data.md)\n");
    return 2;
}
