/* tools: .npy writer. See npy_write.h. */
#include "npy_write.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *descr_of(tool_npy_dtype dtype, size_t *size)
{
    switch (dtype) {
    case TOOL_NPY_F4: *size = 4; return "<f4";
    case TOOL_NPY_U1: *size = 1; return "|u1";
    case TOOL_NPY_I4: *size = 4; return "<i4";
    case TOOL_NPY_I8: *size = 8; return "<i8";
    }
    *size = 0;
    return NULL;
}

size_t tool_npy_header(char *buf, size_t cap, tool_npy_dtype dtype, int ndim,
                       const size_t *shape)
{
    size_t esize;
    const char *descr = descr_of(dtype, &esize);
    if (!descr || ndim < 1 || ndim > 8 || !shape || !buf)
        return 0;
    char dict[512];
    int len = snprintf(dict, sizeof dict, "{'descr': '%s', 'fortran_order': False, 'shape': (",
                       descr);
    for (int i = 0; i < ndim; i++) {
        if (len < 0 || (size_t)len >= sizeof dict)
            return 0;
        len += snprintf(dict + len, sizeof dict - (size_t)len, i == 0 ? "%zu" : ", %zu",
                        shape[i]);
    }
    if (len < 0 || (size_t)len >= sizeof dict)
        return 0;
    /* numpy writes a 1-tuple as "(n,)". */
    len += snprintf(dict + len, sizeof dict - (size_t)len, ndim == 1 ? ",), }" : "), }");
    if (len < 0 || (size_t)len >= sizeof dict)
        return 0;
    /* magic (6) + version (2) + header length (2) + dict + padding + '\n' */
    size_t total = 10 + (size_t)len + 1;
    total = (total + 63) / 64 * 64;
    if (total > cap || total - 10 > 65535)
        return 0;
    memcpy(buf, "\x93NUMPY\x01\x00", 8);
    size_t hlen = total - 10;
    buf[8] = (char)(hlen & 0xff);
    buf[9] = (char)(hlen >> 8);
    memcpy(buf + 10, dict, (size_t)len);
    memset(buf + 10 + len, ' ', total - 10 - (size_t)len - 1);
    buf[total - 1] = '\n';
    return total;
}

static int host_is_little_endian(void)
{
    const uint16_t one = 1;
    unsigned char b;
    memcpy(&b, &one, 1);
    return b == 1;
}

int tool_npy_write(const char *path, tool_npy_dtype dtype, int ndim, const size_t *shape,
                   const void *data, char *err, size_t errlen)
{
    char header[1024];
    size_t esize;
    if (!path || !data || !descr_of(dtype, &esize)) {
        snprintf(err, errlen, "npy: bad arguments");
        return -1;
    }
    size_t hlen = tool_npy_header(header, sizeof header, dtype, ndim, shape);
    if (!hlen) {
        snprintf(err, errlen, "npy: bad shape for %s", path);
        return -1;
    }
    size_t count = 1;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] != 0 && count > SIZE_MAX / 8 / shape[i]) {
            snprintf(err, errlen, "npy: array too large for %s", path);
            return -1;
        }
        count *= shape[i];
    }
    size_t plen = strlen(path);
    char *tmp = malloc(plen + 5);
    if (!tmp) {
        snprintf(err, errlen, "npy: out of memory");
        return -1;
    }
    memcpy(tmp, path, plen);
    memcpy(tmp + plen, ".tmp", 5);
    FILE *f = fopen(tmp, "wb");
    if (!f) {
        snprintf(err, errlen, "npy: cannot create %s: %s", tmp, strerror(errno));
        free(tmp);
        return -1;
    }
    int ok = fwrite(header, 1, hlen, f) == hlen;
    if (ok && (esize == 1 || host_is_little_endian())) {
        ok = count == 0 || fwrite(data, esize, count, f) == count;
    } else if (ok) {
        /* Big-endian host: swap each element into little-endian order. */
        const unsigned char *p = data;
        unsigned char e[8];
        for (size_t i = 0; ok && i < count; i++) {
            for (size_t b = 0; b < esize; b++)
                e[b] = p[i * esize + esize - 1 - b];
            ok = fwrite(e, 1, esize, f) == esize;
        }
    }
    if (fclose(f) != 0)
        ok = 0;
    if (!ok) {
        snprintf(err, errlen, "npy: cannot write %s", tmp);
        remove(tmp);
        free(tmp);
        return -1;
    }
    if (rename(tmp, path) != 0) {
        snprintf(err, errlen, "npy: cannot rename %s to %s: %s", tmp, path, strerror(errno));
        remove(tmp);
        free(tmp);
        return -1;
    }
    free(tmp);
    return 0;
}
