/* libcrmt: datasets of multi-modal samples with integer labels.
 *
 * A dataset holds n samples of M modalities: for modality m a sample-major float matrix
 * n x dim_m, and n labels in [0, n_classes). Data comes from host buffers (copied or
 * borrowed, see crmt_ownership) or from NumPy .npy files (always copied).
 *
 * .npy support: format versions 1.0, 2.0 and 3.0, C order (fortran_order False), little-
 * or big-endian. Feature arrays: float32 ('<f4', '>f4'), float64 ('<f8', '>f8', converted to
 * float32) or uint8 ('|u1', converted to float32 without scaling), shape (n,) or
 * (n, d1, d2, ...) flattened to (n, d1*d2*...). Label arrays: uint8 ('|u1'), int32 ('<i4',
 * '>i4') or int64 ('<i8', '>i8'), shape (n,), values in [0, INT32_MAX]. The file must hold
 * exactly the data its header describes. Failures:
 *   CRMT_ERR_IO           the file cannot be opened or read, or is not a regular file;
 *   CRMT_ERR_FORMAT       not an .npy file, corrupt header, truncated header or data,
 *                         trailing bytes, a shape whose size overflows;
 *   CRMT_ERR_VERSION      a format version above 3.0;
 *   CRMT_ERR_UNSUPPORTED  any other dtype (named in the message), Fortran order, a feature
 *                         dimension above 2^24;
 *   CRMT_ERR_SHAPE        first dimension != n_samples, labels not 1-D, an empty array;
 *   CRMT_ERR_NON_FINITE   NaN or infinity in features (or a float64 beyond float32 range);
 *   CRMT_ERR_INVALID_ARGUMENT  a negative label or one above INT32_MAX.
 * Sizes are checked against the file before anything is allocated. A failed call leaves
 * the dataset as it was.
 *
 * Limits: 1 <= n_samples <= INT32_MAX, 1 <= n_modalities <= CRMT_MAX_MODALITIES,
 * 1 <= dim <= 2^24 (16777216).
 *
 * Errors: every failing call records a message for the calling thread (crmt_last_error());
 * calls taking a non-const dataset also store it in the dataset (crmt_dataset_errmsg()).
 *
 * Threading: a dataset is read-only once complete; const calls may run concurrently.
 */
#ifndef CRMT_DATASET_H
#define CRMT_DATASET_H

#include "crmt/common.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct crmt_dataset crmt_dataset;

/** Create an empty dataset of n_samples samples and n_modalities modalities. Every modality
 *  and the labels must then be set before the dataset is used. *out is NULL on failure
 *  (CRMT_ERR_INVALID_ARGUMENT for NULL out or sizes out of the limits above). */
CRMT_API crmt_status crmt_dataset_create(crmt_dataset **out, size_t n_samples,
                                         int n_modalities);
/** Free the dataset and the data it owns (never borrowed buffers). Accepts NULL. */
CRMT_API void crmt_dataset_destroy(crmt_dataset *dataset);
/** Message of the last failed call on this dataset; "" if none or when dataset is NULL. */
CRMT_API const char *crmt_dataset_errmsg(const crmt_dataset *dataset);

/** Set modality m (0 <= m < n_modalities) from a host buffer of n_samples * dim floats
 *  (sample-major). NaN/Inf are refused (CRMT_ERR_NON_FINITE). Replaces any earlier data of
 *  that modality; with CRMT_BORROW, crmt_dataset_data() then returns data itself. A bad
 *  modality index, NULL data, dim out of range or an unknown ownership give
 *  CRMT_ERR_INVALID_ARGUMENT. On failure the modality keeps its earlier data. */
CRMT_API crmt_status crmt_dataset_set_modality(crmt_dataset *dataset, int modality,
                                               const float *data, size_t dim,
                                               crmt_ownership ownership);
/** Set the labels (n_samples values, each >= 0; a negative one gives
 *  CRMT_ERR_INVALID_ARGUMENT). Labels are always copied. Whether they are below the model's
 *  class count is checked by the calls that use a model. */
CRMT_API crmt_status crmt_dataset_set_labels(crmt_dataset *dataset, const int32_t *labels);

/** Set modality m from an .npy file (see above); its first dimension must equal n_samples.
 *  The data is copied into the dataset. */
CRMT_API crmt_status crmt_dataset_load_npy_modality(crmt_dataset *dataset, int modality,
                                                    const char *path);
/** Set the labels from an .npy file of n_samples integers. */
CRMT_API crmt_status crmt_dataset_load_npy_labels(crmt_dataset *dataset, const char *path);

/** A new dataset holding copies of the given samples (indices may repeat), in the order of
 *  indices. The source must be complete (CRMT_ERR_STATE otherwise); every index must be
 *  below n_samples and 1 <= n_indices <= INT32_MAX (CRMT_ERR_INVALID_ARGUMENT). The source
 *  is const: failures are reported through crmt_last_error() only. *out is NULL on
 *  failure. */
CRMT_API crmt_status crmt_dataset_subset(crmt_dataset **out, const crmt_dataset *dataset,
                                         const size_t *indices, size_t n_indices);

/** Split a complete dataset at random into a training set and a test set, both new datasets
 *  holding copies of the samples (as crmt_dataset_subset makes them; they do not depend on
 *  the source). The sample indices 0..n-1 are shuffled by the library's own RNG seeded with
 *  seed (the same seed gives the same split); the first n_test = floor(test_fraction * n +
 *  0.5) samples of that permutation form *test, the remaining n - n_test form *train, both
 *  in permutation order. test_fraction must be finite and in (0, 1), and n_test must leave
 *  at least one sample on each side (CRMT_ERR_INVALID_ARGUMENT); NULL train, test or
 *  dataset, or train == test, give CRMT_ERR_INVALID_ARGUMENT; an incomplete source gives
 *  CRMT_ERR_STATE. The source is const: failures are reported through crmt_last_error()
 *  only. *train and *test are NULL on failure. */
CRMT_API crmt_status crmt_dataset_split(const crmt_dataset *dataset, double test_fraction,
                                        uint64_t seed, crmt_dataset **train,
                                        crmt_dataset **test);

/** n_samples, or 0 for NULL. */
CRMT_API size_t crmt_dataset_num_samples(const crmt_dataset *dataset);
/** n_modalities, or 0 for NULL. */
CRMT_API int crmt_dataset_num_modalities(const crmt_dataset *dataset);
/** Dimension of modality m, or 0 when unset / out of range. */
CRMT_API size_t crmt_dataset_dim(const crmt_dataset *dataset, int modality);
/** Pointer to modality m's data (n_samples * dim floats), NULL when unset / out of range. */
CRMT_API const float *crmt_dataset_data(const crmt_dataset *dataset, int modality);
/** Pointer to the labels (n_samples values), NULL when unset. */
CRMT_API const int32_t *crmt_dataset_labels(const crmt_dataset *dataset);

#ifdef __cplusplus
}
#endif

#endif /* CRMT_DATASET_H */
