/* prepare_satellite: the Landsat "Satellite" data (data/satellite.csv.gz) as two-modality
 * .npy files. See docs/data.md.
 *
 *   prepare_satellite [--seed N] [--train-fraction F] [--val-fraction F] CSV_GZ OUT_DIR
 *
 * Input: the CSV R's write.csv wrote from mlbench's Satellite data frame: a header of 37
 * quoted names ("x.1".."x.36","classes"), then 6435 rows of 36 integers in [0, 255] and a
 * quoted class name. Column i (1-based) is spectral band (i - 1) % 4 of pixel (i - 1) / 4
 * of a 3x3 neighbourhood.
 * Output, in OUT_DIR (which must exist): {train,val,test}_m0.npy (visible bands 1 and 2, 18
 * float32 features), {train,val,test}_m1.npy (near-infrared bands 3 and 4, 18 features),
 * {train,val,test}_y.npy (int64 labels 0..5 in the order of the R factor levels), and
 * info.txt. Features keep the file's column order within a modality and are standardised
 * with the mean and (population) standard deviation of the training split. The split is
 * stratified: within each class the rows are shuffled with the seed, the first
 * round(train_fraction * n_c) go to train, the next round(val_fraction * n_c) to
 * validation, the rest to test; each split is then shuffled.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "npy_write.h"
#include "rng.h"

#define SAT_COLS 36
#define SAT_CLASSES 6
#define SAT_MAX_ROWS 100000
#define SAT_DIM (SAT_COLS / 2)

static const char *const class_names[SAT_CLASSES] = {
    "red soil", "cotton crop", "grey soil", "damp grey soil", "vegetation stubble",
    "very damp grey soil"};

static const char *const split_names[3] = {"train", "val", "test"};

static void usage(void)
{
    fprintf(stderr, "usage: prepare_satellite [--seed N] [--train-fraction F] "
                    "[--val-fraction F] CSV_GZ OUT_DIR\n");
}

/* Parse one data row: 36 integers in [0, 255], then a quoted class name. */
static int parse_row(const char *s, unsigned char *v, int *label)
{
    for (int k = 0; k < SAT_COLS; k++) {
        if (*s < '0' || *s > '9')
            return -1;
        int x = 0;
        while (*s >= '0' && *s <= '9') {
            x = x * 10 + (*s++ - '0');
            if (x > 255)
                return -1;
        }
        v[k] = (unsigned char)x;
        if (*s++ != ',')
            return -1;
    }
    if (*s++ != '"')
        return -1;
    const char *q = strchr(s, '"');
    if (!q)
        return -1;
    size_t len = (size_t)(q - s);
    *label = -1;
    for (int c = 0; c < SAT_CLASSES; c++)
        if (strlen(class_names[c]) == len && memcmp(class_names[c], s, len) == 0)
            *label = c;
    if (*label < 0)
        return -1;
    s = q + 1;
    while (*s == '\r' || *s == '\n')
        s++;
    return *s == '\0' ? 0 : -1;
}

static int parse_double(const char *s, double lo, double hi, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !(v >= lo && v <= hi))
        return -1;
    *out = v;
    return 0;
}

int main(int argc, char **argv)
{
    unsigned long long seed = 1;
    double train_fraction = 0.6, val_fraction = 0.2;
    int argi = 1;
    while (argi < argc && strncmp(argv[argi], "--", 2) == 0) {
        if (argi + 1 >= argc) {
            usage();
            return 2;
        }
        const char *opt = argv[argi], *val = argv[argi + 1];
        char *end;
        if (strcmp(opt, "--seed") == 0) {
            errno = 0;
            seed = strtoull(val, &end, 10);
            if (errno || end == val || *end) {
                fprintf(stderr, "prepare_satellite: bad seed '%s'\n", val);
                return 2;
            }
        } else if (strcmp(opt, "--train-fraction") == 0) {
            if (parse_double(val, 0.01, 0.98, &train_fraction) != 0) {
                fprintf(stderr, "prepare_satellite: bad training fraction '%s'\n", val);
                return 2;
            }
        } else if (strcmp(opt, "--val-fraction") == 0) {
            if (parse_double(val, 0.0, 0.98, &val_fraction) != 0) {
                fprintf(stderr, "prepare_satellite: bad validation fraction '%s'\n", val);
                return 2;
            }
        } else {
            usage();
            return 2;
        }
        argi += 2;
    }
    if (argc - argi != 2) {
        usage();
        return 2;
    }
    if (train_fraction + val_fraction > 0.99) {
        fprintf(stderr, "prepare_satellite: train + val fractions leave no test split\n");
        return 2;
    }
    const char *in_path = argv[argi], *out_dir = argv[argi + 1];

    gzFile gz = gzopen(in_path, "rb");
    if (!gz) {
        fprintf(stderr, "prepare_satellite: cannot open %s\n", in_path);
        return 1;
    }
    unsigned char *pix = malloc((size_t)SAT_MAX_ROWS * SAT_COLS);
    int *labels = malloc(SAT_MAX_ROWS * sizeof *labels);
    if (!pix || !labels) {
        fprintf(stderr, "prepare_satellite: out of memory\n");
        return 1;
    }
    char line[4096];
    size_t n = 0, line_no = 0;
    int bad = 0;
    while (gzgets(gz, line, (int)sizeof line)) {
        line_no++;
        if (!strchr(line, '\n') && !gzeof(gz)) {
            fprintf(stderr, "prepare_satellite: %s:%zu: line too long\n", in_path, line_no);
            bad = 1;
            break;
        }
        if (line_no == 1) {
            if (strncmp(line, "\"x.1\",", 6) != 0 || !strstr(line, ",\"classes\"")) {
                fprintf(stderr, "prepare_satellite: %s: unexpected header\n", in_path);
                bad = 1;
                break;
            }
            continue;
        }
        if (line[0] == '\n' || line[0] == '\0')
            continue;
        if (n == SAT_MAX_ROWS ||
            parse_row(line, pix + n * SAT_COLS, &labels[n]) != 0) {
            fprintf(stderr, "prepare_satellite: %s:%zu: bad row\n", in_path, line_no);
            bad = 1;
            break;
        }
        n++;
    }
    int zerr;
    const char *zmsg = gzerror(gz, &zerr);
    if (!bad && zerr != Z_OK && zerr != Z_STREAM_END) {
        fprintf(stderr, "prepare_satellite: %s: %s\n", in_path, zmsg);
        bad = 1;
    }
    gzclose(gz);
    if (bad)
        return 1;
    if (n == 0) {
        fprintf(stderr, "prepare_satellite: %s: no rows\n", in_path);
        return 1;
    }

    /* Stratified split. */
    size_t *order = malloc(n * sizeof *order), *split_rows[3];
    size_t split_n[3] = {0, 0, 0}, class_count[3][SAT_CLASSES];
    memset(class_count, 0, sizeof class_count);
    for (int s = 0; s < 3; s++)
        split_rows[s] = malloc(n * sizeof(size_t));
    if (!order || !split_rows[0] || !split_rows[1] || !split_rows[2]) {
        fprintf(stderr, "prepare_satellite: out of memory\n");
        return 1;
    }
    tool_rng rng;
    tool_rng_seed(&rng, seed);
    for (int c = 0; c < SAT_CLASSES; c++) {
        size_t nc = 0;
        for (size_t i = 0; i < n; i++)
            if (labels[i] == c)
                order[nc++] = i;
        tool_rng_shuffle(&rng, order, nc);
        size_t ntr = (size_t)floor(train_fraction * (double)nc + 0.5);
        size_t nva = (size_t)floor(val_fraction * (double)nc + 0.5);
        if (ntr + nva > nc)
            nva = nc - ntr;
        for (size_t k = 0; k < nc; k++) {
            int s = k < ntr ? 0 : k < ntr + nva ? 1 : 2;
            split_rows[s][split_n[s]++] = order[k];
            class_count[s][c]++;
        }
    }
    for (int s = 0; s < 3; s++) {
        if (split_n[s] == 0) {
            fprintf(stderr, "prepare_satellite: the %s split is empty\n", split_names[s]);
            return 1;
        }
        tool_rng_shuffle(&rng, split_rows[s], split_n[s]);
    }

    /* Training statistics of each of the 36 columns. */
    double mean[SAT_COLS], sd[SAT_COLS];
    for (int k = 0; k < SAT_COLS; k++) {
        double s1 = 0.0, s2 = 0.0;
        for (size_t r = 0; r < split_n[0]; r++)
            s1 += pix[split_rows[0][r] * SAT_COLS + k];
        mean[k] = s1 / (double)split_n[0];
        for (size_t r = 0; r < split_n[0]; r++) {
            double d = pix[split_rows[0][r] * SAT_COLS + k] - mean[k];
            s2 += d * d;
        }
        sd[k] = sqrt(s2 / (double)split_n[0]);
        if (!(sd[k] > 0.0))
            sd[k] = 1.0;
    }

    char path[4096], err[512];
    float *feat = malloc(n * SAT_DIM * sizeof *feat);
    int64_t *y = malloc(n * sizeof *y);
    if (!feat || !y) {
        fprintf(stderr, "prepare_satellite: out of memory\n");
        return 1;
    }
    for (int s = 0; s < 3; s++) {
        size_t ns = split_n[s];
        for (int m = 0; m < 2; m++) {
            /* Modality 0: bands 0 and 1 (visible); modality 1: bands 2 and 3 (near-IR). */
            for (size_t r = 0; r < ns; r++) {
                const unsigned char *row = pix + split_rows[s][r] * SAT_COLS;
                int j = 0;
                for (int k = 0; k < SAT_COLS; k++)
                    if ((k % 4) / 2 == m)
                        feat[r * SAT_DIM + j++] = (float)((row[k] - mean[k]) / sd[k]);
            }
            size_t shape[2] = {ns, SAT_DIM};
            snprintf(path, sizeof path, "%s/%s_m%d.npy", out_dir, split_names[s], m);
            if (tool_npy_write(path, TOOL_NPY_F4, 2, shape, feat, err, sizeof err) != 0) {
                fprintf(stderr, "prepare_satellite: %s\n", err);
                return 1;
            }
        }
        for (size_t r = 0; r < ns; r++)
            y[r] = labels[split_rows[s][r]];
        size_t shape1[1] = {ns};
        snprintf(path, sizeof path, "%s/%s_y.npy", out_dir, split_names[s]);
        if (tool_npy_write(path, TOOL_NPY_I8, 1, shape1, y, err, sizeof err) != 0) {
            fprintf(stderr, "prepare_satellite: %s\n", err);
            return 1;
        }
    }

    snprintf(path, sizeof path, "%s/info.txt", out_dir);
    FILE *info = fopen(path, "w");
    if (!info) {
        fprintf(stderr, "prepare_satellite: cannot write %s\n", path);
        return 1;
    }
    fprintf(info, "Landsat Satellite (UCI Statlog via R mlbench), written by prepare_satellite\n");
    fprintf(info, "source %s, %zu rows; seed %llu; fractions train %.3f val %.3f test %.3f "
                  "(stratified by class)\n",
            in_path, n, seed, train_fraction, val_fraction,
            1.0 - train_fraction - val_fraction);
    fprintf(info, "m0: visible bands 1-2 (18 float32, standardised with training statistics)\n");
    fprintf(info, "m1: near-infrared bands 3-4 (18 float32, standardised with training "
                  "statistics)\n");
    fprintf(info, "y: int64 labels:");
    for (int c = 0; c < SAT_CLASSES; c++)
        fprintf(info, " %d=%s%s", c, class_names[c], c + 1 < SAT_CLASSES ? "," : "\n");
    for (int s = 0; s < 3; s++) {
        fprintf(info, "%-5s %5zu samples, per class:", split_names[s], split_n[s]);
        for (int c = 0; c < SAT_CLASSES; c++)
            fprintf(info, " %zu", class_count[s][c]);
        fprintf(info, "\n");
    }
    if (fclose(info) != 0) {
        fprintf(stderr, "prepare_satellite: cannot write %s\n", path);
        return 1;
    }
    printf("prepare_satellite: %zu rows -> %s: train %zu, val %zu, test %zu\n", n, out_dir,
           split_n[0], split_n[1], split_n[2]);
    free(feat);
    free(y);
    for (int s = 0; s < 3; s++)
        free(split_rows[s]);
    free(order);
    free(pix);
    free(labels);
    return 0;
}
