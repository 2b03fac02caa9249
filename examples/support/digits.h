/* The digits loader: the UCI handwritten digits (tests/data/digits.csv.gz) as two-modality
 * datasets, for the examples, the experiments and the tests.
 *
 * The file holds 1797 rows of 65 comma-separated integers: the 64 pixels of an 8x8 image
 * (row-major, values 0..16) then the label 0..9 (see tests/data/README.md). The two
 * "modalities" are disjoint bands of image rows:
 *   CRMT_DIGITS_VIEW_UNBALANCED: modality 0 = image rows 0-1 (16 pixels),
 *                                modality 1 = image rows 2-7 (48 pixels);
 *                                modality 1 alone is far stronger (a built-in preference);
 *   CRMT_DIGITS_VIEW_BALANCED:   modality 0 = rows 0-3, modality 1 = rows 4-7 (32 + 32).
 *
 * Built on the public API only (plus zlib): the split is crmt_dataset_split. The source
 * (digits.c) is compiled once per flavour of the library (examples/support/CMakeLists.txt),
 * so a program links exactly one copy of libcrmt.
 *
 * Errors: failures return a crmt_status and nothing prints or exits. The public API has no
 * way for a host to record a message in crmt_last_error(), so the loader keeps its own
 * per-thread message, crmt_digits_last_error(): its own failures (I/O, CSV format, bad
 * arguments) are described there, and when a library call it makes fails, that call's
 * crmt_last_error() message is copied there too (and stays in crmt_last_error()).
 */
#ifndef CRMT_EXAMPLES_DIGITS_H
#define CRMT_EXAMPLES_DIGITS_H

#include <stddef.h>
#include <stdint.h>

#include "crmt/dataset.h"

#ifdef __cplusplus
extern "C" {
#endif

#define CRMT_DIGITS_N_SAMPLES 1797
#define CRMT_DIGITS_N_PIXELS 64
#define CRMT_DIGITS_N_CLASSES 10
/* The split the tests use. */
#define CRMT_DIGITS_DEFAULT_TEST_FRACTION 0.25
#define CRMT_DIGITS_DEFAULT_SEED 42

typedef enum crmt_digits_view {
    CRMT_DIGITS_VIEW_UNBALANCED = 0, /* rows 0-1 (16 px) / rows 2-7 (48 px) */
    CRMT_DIGITS_VIEW_BALANCED = 1    /* rows 0-3 (32 px) / rows 4-7 (32 px) */
} crmt_digits_view;

typedef struct crmt_digits {
    size_t n;        /* number of samples (1797 for the shipped file) */
    float *pixels;   /* n x 64, row-major 8x8 images, pixel value / 16 (in [0, 1]) */
    int32_t *labels; /* n labels in [0, 9] */
} crmt_digits;

/* Path of the shipped file: tests/data/digits.csv.gz of the source tree of the build
 * (absolute; CRMT_DIGITS_DEFAULT_PATH). */
const char *crmt_digits_default_path(void);

/* Message of the calling thread's last failed crmt_digits_load or crmt_digits_make_datasets
 * call ("" if none); valid until the next failing one. Successful calls leave it alone. */
const char *crmt_digits_last_error(void);

/* Load a digits CSV (gzip-compressed or plain) into *out, which is zeroed first and must be
 * released with crmt_digits_free. Every field is validated: exactly 65 integers per line,
 * pixels in [0, 16], labels in [0, 9]. Statuses: CRMT_ERR_INVALID_ARGUMENT (NULL),
 * CRMT_ERR_IO (cannot open/read), CRMT_ERR_FORMAT (bad content), CRMT_ERR_OUT_OF_MEMORY. */
crmt_status crmt_digits_load(const char *csv_gz_path, crmt_digits *out);

/* Release what crmt_digits_load allocated and zero *d. Accepts NULL and zeroed structs. */
void crmt_digits_free(crmt_digits *d);

/* Build the fixed train/test split as two-modality datasets (data copied; the datasets are
 * independent of d): all samples of d in the given view (a crmt_digits_view), in file order,
 * split by crmt_dataset_split(all, test_fraction, seed, train, test). So the samples are
 * permuted with the library's RNG seeded with seed; the first floor(test_fraction * n + 0.5)
 * samples of the permutation form the test set, the rest the training set, both in
 * permutation order. A bad test_fraction gives crmt_dataset_split's
 * CRMT_ERR_INVALID_ARGUMENT. On failure *train and *test are NULL. */
crmt_status crmt_digits_make_datasets(const crmt_digits *d, int view, double test_fraction,
                                      uint64_t seed, crmt_dataset **train,
                                      crmt_dataset **test);

/* Pixel range [*first, *first + *count) of modality m (0 or 1) in a view; 0 on success, -1
 * for a bad view or modality. */
int crmt_digits_view_pixels(int view, int modality, size_t *first, size_t *count);

#ifdef __cplusplus
}
#endif

#endif
