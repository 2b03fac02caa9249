/* Internal: dataset storage and the .npy reader. */
#ifndef CRMTI_DATASET_H
#define CRMTI_DATASET_H

#include <stdint.h>

#include "api/error.h"
#include "crmt/dataset.h"

/* Largest modality dimension (the model's CRMTI_MAX_DIM bound) and largest sample count.
 * Together they keep n * dim * sizeof(float) far from size_t overflow on 64-bit hosts;
 * products are still checked explicitly everywhere. */
#define CRMTI_DATASET_MAX_DIM ((size_t)1 << 24)
#define CRMTI_DATASET_MAX_SAMPLES ((size_t)INT32_MAX)

struct crmt_dataset {
    size_t n;
    int n_mod;
    const float *data[CRMT_MAX_MODALITIES]; /* n x dim[m], sample-major */
    float *owned[CRMT_MAX_MODALITIES];      /* non-NULL when the dataset owns data[m] */
    size_t dim[CRMT_MAX_MODALITIES];
    int32_t *labels;                        /* owned; NULL until set */
    char errmsg[CRMTI_ERRMSG_SIZE];
};

/* 1 when every modality and the labels are set. */
int crmti_dataset_complete(const crmt_dataset *ds);

#endif
