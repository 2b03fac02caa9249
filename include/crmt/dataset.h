/* libcrmt: datasets of multi-modal samples with integer labels.
 *
 * A dataset holds n samples of M modalities: for modality m a sample-major float matrix
 * n x dim_m, and n labels in [0, n_classes). Data comes from host buffers (copied or
 * borrowed, see crmt_ownership) or from NumPy .npy files (always copied).
 *
 * .npy support: format versions 1.0, 2.0 and 3.0, C order (fortran_order False), little-
 * or big-endian. Feature arrays: float32 ('<f4'), float64 ('<f8', converted to float32) or
 * uint8 ('|u1', converted to float32 without scaling), shape (n,) or (n, d1, d2, ...)
 * flattened to (n, d1*d2*...). Label arrays: uint8, int32 or int64, shape (n,).
 * Anything else is refused with CRMT_ERR_UNSUPPORTED or CRMT_ERR_FORMAT and a message.
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
 *  and the labels must then be set before the dataset is used. */
CRMT_API crmt_status crmt_dataset_create(crmt_dataset **out, size_t n_samples,
                                         int n_modalities);
CRMT_API void crmt_dataset_destroy(crmt_dataset *dataset);
CRMT_API const char *crmt_dataset_errmsg(const crmt_dataset *dataset);

/** Set modality m from a host buffer of n_samples * dim floats (sample-major). NaN/Inf are
 *  refused (CRMT_ERR_NON_FINITE). Replaces any earlier data of that modality. */
CRMT_API crmt_status crmt_dataset_set_modality(crmt_dataset *dataset, int modality,
                                               const float *data, size_t dim,
                                               crmt_ownership ownership);
/** Set the labels (n_samples values, each >= 0). Labels are always copied. */
CRMT_API crmt_status crmt_dataset_set_labels(crmt_dataset *dataset, const int32_t *labels);

/** Set modality m from an .npy file; its first dimension must equal n_samples. */
CRMT_API crmt_status crmt_dataset_load_npy_modality(crmt_dataset *dataset, int modality,
                                                    const char *path);
/** Set the labels from an .npy file of n_samples integers. */
CRMT_API crmt_status crmt_dataset_load_npy_labels(crmt_dataset *dataset, const char *path);

/** A new dataset holding copies of the given samples (indices may repeat). */
CRMT_API crmt_status crmt_dataset_subset(crmt_dataset **out, const crmt_dataset *dataset,
                                         const size_t *indices, size_t n_indices);

CRMT_API size_t crmt_dataset_num_samples(const crmt_dataset *dataset);
CRMT_API int crmt_dataset_num_modalities(const crmt_dataset *dataset);
/** Dimension of modality m, or 0 when unset / out of range. */
CRMT_API size_t crmt_dataset_dim(const crmt_dataset *dataset, int modality);
/** Pointer to modality m's data (n_samples * dim floats), NULL when unset. */
CRMT_API const float *crmt_dataset_data(const crmt_dataset *dataset, int modality);
/** Pointer to the labels, NULL when unset. */
CRMT_API const int32_t *crmt_dataset_labels(const crmt_dataset *dataset);

#ifdef __cplusplus
}
#endif

#endif /* CRMT_DATASET_H */
