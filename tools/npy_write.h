/* tools: a small NumPy .npy writer (format version 1.0, C order, little-endian data).
 *
 * Writes exactly what numpy.save writes for the same array: the magic "\x93NUMPY", version
 * 1.0, a header dict {'descr': ..., 'fortran_order': False, 'shape': (...), } padded with
 * spaces and ended by '\n' so that the data starts at a multiple of 64 bytes, then the data.
 * The file is written to PATH.tmp and renamed over PATH when complete, so PATH never holds
 * a partial array.
 */
#ifndef CRMT_TOOLS_NPY_WRITE_H
#define CRMT_TOOLS_NPY_WRITE_H

#include <stddef.h>
#include <stdint.h>

typedef enum tool_npy_dtype {
    TOOL_NPY_F4 = 0, /* '<f4', float */
    TOOL_NPY_U1 = 1, /* '|u1', uint8_t */
    TOOL_NPY_I4 = 2, /* '<i4', int32_t */
    TOOL_NPY_I8 = 3  /* '<i8', int64_t */
} tool_npy_dtype;

/* The header bytes (magic to '\n') of an array of ndim (1..8) dimensions into buf (cap
 * bytes). Returns the header length (a multiple of 64), or 0 when a size is out of range
 * or buf is too small. */
size_t tool_npy_header(char *buf, size_t cap, tool_npy_dtype dtype, int ndim,
                       const size_t *shape);

/* Write the array (host-order values, prod(shape) elements of the dtype) to path.
 * Returns 0, or -1 with a message in err (errlen bytes). */
int tool_npy_write(const char *path, tool_npy_dtype dtype, int ndim, const size_t *shape,
                   const void *data, char *err, size_t errlen);

#endif
