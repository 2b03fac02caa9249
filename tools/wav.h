/* tools: reading PCM WAV files (RIFF/WAVE, 16-bit signed little-endian PCM, mono), the
 * files `espeak-ng -w FILE` writes (22050 Hz, a 16-byte "fmt " chunk, then "data").
 *
 * Parsing rules: "RIFF" size "WAVE", then chunks (4-byte id, 32-bit little-endian size,
 * payload padded to an even length). The "fmt " chunk must come before "data" and say
 * format 1 (PCM), 1 channel, 16 bits, a sample rate in [1, 1000000], block align 2 and byte
 * rate = 2 * sample rate. Other chunks (LIST, ...) are skipped. The RIFF size must not
 * exceed the bytes present; the data chunk must lie inside the RIFF size and hold an even
 * number of bytes. Anything else is refused with a message; nothing is read out of
 * bounds.
 */
#ifndef CRMT_TOOLS_WAV_H
#define CRMT_TOOLS_WAV_H

#include <stddef.h>
#include <stdint.h>

typedef struct tool_wav {
    uint32_t sample_rate;
    size_t n_samples;
    const unsigned char *data; /* n_samples * 2 bytes of little-endian int16, inside buf */
} tool_wav;

/* Parse a WAV image held in memory. Returns 0, or -1 with a message in err. */
int tool_wav_parse(const unsigned char *buf, size_t len, tool_wav *out, char *err,
                   size_t errlen);

/* Read a WAV file and convert its samples to floats (sample / 32768, in [-1, 1)).
 * *samples is malloc'd (at least one element even for an empty clip) and owned by the
 * caller. Files above 256 MiB are refused. Returns 0, or -1 with a message in err. */
int tool_wav_read_file(const char *path, float **samples, size_t *n_samples,
                       uint32_t *sample_rate, char *err, size_t errlen);

#endif
