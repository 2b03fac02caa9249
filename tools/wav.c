/* tools: WAV reader. See wav.h. */
#include "wav.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define WAV_MAX_FILE (256u << 20)

static uint32_t le32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint16_t le16(const unsigned char *p)
{
    return (uint16_t)(p[0] | p[1] << 8);
}

int tool_wav_parse(const unsigned char *buf, size_t len, tool_wav *out, char *err,
                   size_t errlen)
{
    if (!buf || !out) {
        snprintf(err, errlen, "wav: bad arguments");
        return -1;
    }
    memset(out, 0, sizeof *out);
    if (len < 12 || memcmp(buf, "RIFF", 4) != 0 || memcmp(buf + 8, "WAVE", 4) != 0) {
        snprintf(err, errlen, "wav: not a RIFF/WAVE file");
        return -1;
    }
    uint32_t riff_size = le32(buf + 4);
    if (riff_size < 4 || (size_t)riff_size > len - 8) {
        snprintf(err, errlen, "wav: RIFF size %lu does not fit the %zu bytes present",
                 (unsigned long)riff_size, len);
        return -1;
    }
    size_t end = 8 + (size_t)riff_size;
    size_t pos = 12;
    int have_fmt = 0;
    while (pos < end) {
        if (end - pos < 8) {
            snprintf(err, errlen, "wav: truncated chunk header at byte %zu", pos);
            return -1;
        }
        const unsigned char *id = buf + pos;
        uint32_t size = le32(buf + pos + 4);
        pos += 8;
        if ((size_t)size > end - pos) {
            snprintf(err, errlen, "wav: chunk '%.4s' of %lu bytes overruns the file", (const char *)id,
                     (unsigned long)size);
            return -1;
        }
        if (memcmp(id, "fmt ", 4) == 0) {
            if (size < 16) {
                snprintf(err, errlen, "wav: fmt chunk of %lu bytes (need 16)", (unsigned long)size);
                return -1;
            }
            const unsigned char *f = buf + pos;
            uint16_t format = le16(f), channels = le16(f + 2), align = le16(f + 12),
                     bits = le16(f + 14);
            uint32_t rate = le32(f + 4), byte_rate = le32(f + 8);
            if (format != 1) {
                snprintf(err, errlen, "wav: format %u is not PCM (1)", (unsigned)format);
                return -1;
            }
            if (channels != 1 || bits != 16) {
                snprintf(err, errlen, "wav: %u channel(s) of %u bits (need mono 16-bit)",
                         (unsigned)channels, (unsigned)bits);
                return -1;
            }
            if (rate < 1 || rate > 1000000 || align != 2 || byte_rate != 2 * rate) {
                snprintf(err, errlen, "wav: inconsistent fmt (rate %lu, byte rate %lu, align %u)",
                         (unsigned long)rate, (unsigned long)byte_rate, (unsigned)align);
                return -1;
            }
            out->sample_rate = rate;
            have_fmt = 1;
        } else if (memcmp(id, "data", 4) == 0) {
            if (!have_fmt) {
                snprintf(err, errlen, "wav: data chunk before the fmt chunk");
                return -1;
            }
            if (size % 2 != 0) {
                snprintf(err, errlen, "wav: data chunk of odd size %lu", (unsigned long)size);
                return -1;
            }
            out->n_samples = size / 2;
            out->data = buf + pos;
            return 0;
        }
        pos += size + (size & 1u);
    }
    snprintf(err, errlen, have_fmt ? "wav: no data chunk" : "wav: no fmt chunk");
    return -1;
}

int tool_wav_read_file(const char *path, float **samples, size_t *n_samples,
                       uint32_t *sample_rate, char *err, size_t errlen)
{
    *samples = NULL;
    *n_samples = 0;
    *sample_rate = 0;
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errlen, "wav: cannot open %s: %s", path, strerror(errno));
        return -1;
    }
    size_t cap = 1 << 16, len = 0;
    unsigned char *buf = malloc(cap);
    int rc = -1;
    if (!buf) {
        snprintf(err, errlen, "wav: out of memory");
        goto done;
    }
    for (;;) {
        if (len == cap) {
            if (cap >= WAV_MAX_FILE) {
                snprintf(err, errlen, "wav: %s is larger than %u bytes", path, WAV_MAX_FILE);
                goto done;
            }
            unsigned char *nb = realloc(buf, cap * 2);
            if (!nb) {
                snprintf(err, errlen, "wav: out of memory");
                goto done;
            }
            buf = nb;
            cap *= 2;
        }
        size_t got = fread(buf + len, 1, cap - len, f);
        len += got;
        if (got == 0)
            break;
    }
    if (ferror(f)) {
        snprintf(err, errlen, "wav: cannot read %s", path);
        goto done;
    }
    tool_wav w;
    char perr[200];
    if (tool_wav_parse(buf, len, &w, perr, sizeof perr) != 0) {
        snprintf(err, errlen, "%s: %s", path, perr);
        goto done;
    }
    float *x = malloc((w.n_samples ? w.n_samples : 1) * sizeof *x);
    if (!x) {
        snprintf(err, errlen, "wav: out of memory");
        goto done;
    }
    for (size_t i = 0; i < w.n_samples; i++) {
        long v = le16(w.data + 2 * i);
        if (v >= 32768)
            v -= 65536; /* two's complement, without an implementation-defined cast */
        x[i] = (float)v / 32768.0f;
    }
    *samples = x;
    *n_samples = w.n_samples;
    *sample_rate = w.sample_rate;
    rc = 0;
done:
    free(buf);
    fclose(f);
    return rc;
}
