/* Internal: the NumPy .npy reader.
 *
 * The parser works on a memory image of a whole .npy file so that it can be fuzzed
 * directly; loading a file is "read the whole file, then parse". It never reads outside
 * [buf, buf + size), validates every size (shape product overflow, shape against the bytes
 * present) before allocating, and reports every failure through crmti_fail().
 *
 * Accepted: format versions 1.0, 2.0 and 3.0; a header dict with exactly the keys 'descr',
 * 'fortran_order' and 'shape' in any order (single or double quotes, any whitespace, optional
 * trailing comma, Python 2 'L' suffixes on dimensions); fortran_order False; data of exactly
 * prod(shape) items right after the header (trailing bytes are refused).
 *   features: '<f4' '>f4' '<f8' '>f8' '|u1' (also '=' native order), converted to float32;
 *             NaN, infinity and float64 values beyond the float32 range are refused;
 *             shape (n,) or (n, d1, ..., dk), flattened to n x (d1 * ... * dk).
 *   labels:   '|u1' '<i4' '>i4' '<i8' '>i8', shape (n,), values in [0, INT32_MAX].
 *
 * Statuses: CRMT_ERR_FORMAT (bad magic, corrupt header, truncated header or data, trailing
 * bytes, shape overflow), CRMT_ERR_VERSION (format version above 3.0), CRMT_ERR_UNSUPPORTED
 * (dtype, fortran order, feature dimension above CRMTI_DATASET_MAX_DIM), CRMT_ERR_SHAPE
 * (wrong number of dimensions, empty array, first dimension != expected_n),
 * CRMT_ERR_NON_FINITE (features), CRMT_ERR_INVALID_ARGUMENT (label out of range, bad
 * arguments), CRMT_ERR_OUT_OF_MEMORY, CRMT_ERR_IO (crmti_npy_read_file only).
 */
#ifndef CRMTI_NPY_H
#define CRMTI_NPY_H

#include <stddef.h>
#include <stdint.h>

#include "crmt/common.h"

/* NumPy 2 allows 64 dimensions. */
#define CRMTI_NPY_MAX_DIMS 64
/* Longest descr kept (longer ones are unsupported anyway; kept for messages). */
#define CRMTI_NPY_DESCR_SIZE 32

typedef enum crmti_npy_kind {
    CRMTI_NPY_FEATURES = 0, /* float32 output, n x dim */
    CRMTI_NPY_LABELS = 1    /* int32 output, n */
} crmti_npy_kind;

/* What the header says, as parsed (no dtype-support decision yet). */
typedef struct crmti_npy_header {
    int major, minor;                   /* format version */
    size_t data_offset;                 /* first data byte */
    char descr[CRMTI_NPY_DESCR_SIZE];   /* NUL-terminated, non-printable bytes as '?' */
    int descr_truncated;                /* 1 when the descr was longer than kept */
    int fortran_order;
    int ndim;
    uint64_t shape[CRMTI_NPY_MAX_DIMS];
} crmti_npy_header;

/* A parsed array. Exactly one of f32 / i32 is set (malloc'd, owned by the caller; free with
 * crmti_npy_array_free). For labels dim is 1. */
typedef struct crmti_npy_array {
    size_t n, dim;
    float *f32;
    int32_t *i32;
} crmti_npy_array;

/* Parse the prefix and header dict of an .npy image. Does not look at the data nor decide
 * whether the dtype string is supported, except that a structured dtype (a list instead of a
 * string) is refused with CRMT_ERR_UNSUPPORTED. msg: NULL or a CRMTI_ERRMSG_SIZE buffer. */
crmt_status crmti_npy_parse_header(const unsigned char *buf, size_t size,
                                   crmti_npy_header *hdr, char *msg);

/* Parse a whole .npy image as features or labels. expected_n = 0 accepts any first
 * dimension; otherwise it must match (CRMT_ERR_SHAPE, checked before allocating). On
 * failure *out is zeroed and nothing is allocated. */
crmt_status crmti_npy_parse(const unsigned char *buf, size_t size, crmti_npy_kind kind,
                            size_t expected_n, crmti_npy_array *out, char *msg);

/* Read a whole regular file into a malloc'd buffer (*buf is non-NULL on success even for an
 * empty file). CRMT_ERR_IO when it cannot be opened or read. */
crmt_status crmti_npy_read_file(const char *path, unsigned char **buf, size_t *size,
                                char *msg);

/* crmti_npy_read_file + crmti_npy_parse. Messages name the file. */
crmt_status crmti_npy_load(const char *path, crmti_npy_kind kind, size_t expected_n,
                           crmti_npy_array *out, char *msg);

void crmti_npy_array_free(crmti_npy_array *a);

#endif
