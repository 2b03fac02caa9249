/* tools: reading MNIST IDX files (uncompressed): images (magic 0x00000803: uint8, 3
 * dimensions n x rows x cols) and labels (magic 0x00000801: uint8, n). Big-endian
 * dimensions, as in the original files. The file size must match the header exactly. */
#ifndef CRMT_TOOLS_IDX_H
#define CRMT_TOOLS_IDX_H

#include <stddef.h>

/* Read an IDX file of ndim (1 or 3) uint8 dimensions. *data (malloc'd, caller frees) gets
 * dims[0] * ... bytes; dims gets the ndim dimensions. Returns 0, or -1 with a message. */
int tool_idx_read(const char *path, int ndim, unsigned char **data, size_t *dims, char *err,
                  size_t errlen);

#endif
