/* tools: IDX reader. See idx.h. */
#include "idx.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int tool_idx_read(const char *path, int ndim, unsigned char **data, size_t *dims, char *err,
                  size_t errlen)
{
    *data = NULL;
    if (ndim != 1 && ndim != 3) {
        snprintf(err, errlen, "idx: bad dimension count %d", ndim);
        return -1;
    }
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errlen, "idx: cannot open %s: %s", path, strerror(errno));
        return -1;
    }
    unsigned char h[16];
    size_t hlen = 4 + 4 * (size_t)ndim;
    int rc = -1;
    if (fread(h, 1, hlen, f) != hlen) {
        snprintf(err, errlen, "idx: %s: truncated header", path);
        goto done;
    }
    if (h[0] != 0 || h[1] != 0 || h[2] != 0x08 || h[3] != ndim) {
        snprintf(err, errlen, "idx: %s: not a uint8 IDX file of %d dimension(s)", path, ndim);
        goto done;
    }
    size_t total = 1;
    for (int i = 0; i < ndim; i++) {
        const unsigned char *p = h + 4 + 4 * i;
        size_t d = (size_t)p[0] << 24 | (size_t)p[1] << 16 | (size_t)p[2] << 8 | p[3];
        if (d == 0 || d > (1u << 24) || total > ((size_t)1 << 32) / d) {
            snprintf(err, errlen, "idx: %s: bad dimension %zu", path, d);
            goto done;
        }
        dims[i] = d;
        total *= d;
    }
    *data = malloc(total);
    if (!*data) {
        snprintf(err, errlen, "idx: out of memory");
        goto done;
    }
    if (fread(*data, 1, total, f) != total || fgetc(f) != EOF) {
        snprintf(err, errlen, "idx: %s: size does not match its header", path);
        free(*data);
        *data = NULL;
        goto done;
    }
    rc = 0;
done:
    fclose(f);
    return rc;
}
