/* Internal: model file format (see docs/file-format.md) and white-box hooks for the tests.
 *
 * Layout constants of the fixed part of the header, the checksum, and a hook that replaces
 * the function writing file bytes so that tests can simulate a failing disk. */
#ifndef CRMTI_SERIALIZE_H
#define CRMTI_SERIALIZE_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* Newest format version this library reads. Models are written in the lowest version able
 * to store them: 1 for linear/ReLU encoders on vector inputs, 2 for image inputs, conv2d,
 * pooling and flatten (docs/file-format.md). */
#define CRMTI_FORMAT_VERSION 2

/* 8 magic bytes: 0x89 'C' 'R' 'M' 'T' '\r' '\n' 0x1A (PNG-style: catches text-mode and
 * 7-bit transfers). */
#define CRMTI_FORMAT_MAGIC "\x89" "CRMT\r\n\x1a"
#define CRMTI_FORMAT_MAGIC_SIZE 8
/* Byte-order marker, stored little-endian: bytes 04 03 02 01. */
#define CRMTI_FORMAT_BOM 0x01020304u

/* Byte offsets of the fixed header fields. */
#define CRMTI_OFF_MAGIC 0
#define CRMTI_OFF_BOM 8
#define CRMTI_OFF_VERSION 12
#define CRMTI_OFF_N_CLASSES 16
#define CRMTI_OFF_N_MODALITIES 20
#define CRMTI_OFF_HEAD 24
#define CRMTI_OFF_HEAD_NORM 28
#define CRMTI_OFF_INTEGRATION_INIT 32
#define CRMTI_OFF_MODALITIES 40
/* Size of one modality record before its layer records in version 1: name[32], input_dim,
 * n_layers (version 2 appends channels, height, width). */
#define CRMTI_MODALITY_RECORD_SIZE 40
/* Size of the checksum at the end. */
#define CRMTI_CHECKSUM_SIZE 4

/* CRC-32 (IEEE 802.3 / zlib polynomial, reflected, init and final xor 0xFFFFFFFF).
 * crmti_crc32(0, data, n) equals zlib's crc32(0, data, n); calls can be chained by passing
 * the previous result as crc. */
uint32_t crmti_crc32(uint32_t crc, const void *data, size_t n);

/* Function used by crmt_model_save to write bytes to the temporary file, with fwrite's
 * contract: returns the number of bytes written; a short count is a failure, errno tells
 * why (EIO is assumed when errno is 0). */
typedef size_t (*crmti_write_fn)(const void *data, size_t size, FILE *fp);

/* White-box test hook: replace the write function (NULL restores fwrite). Not thread-safe;
 * only for single-threaded tests that simulate a failing disk. */
void crmti_serialize_set_write_hook(crmti_write_fn fn);

#endif
