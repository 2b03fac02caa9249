/* libFuzzer target: the model file parser, through the public crmt_model_load_buffer().
 *
 * Besides the sanitizers (ASan, UBSan, leaks), the documented contract is checked and a
 * violation aborts:
 *  - the status is CRMT_OK or one of the statuses a loader may return (FORMAT, VERSION,
 *    UNSUPPORTED, INVALID_ARGUMENT, OUT_OF_MEMORY, NON_FINITE, SHAPE);
 *  - a failure leaves *out NULL and a non-empty crmt_last_error();
 *  - a loaded model answers its queries consistently, serialises with
 *    crmt_model_save_buffer (size query, then the bytes), reloads from those bytes, and the
 *    reloaded model serialises to the same bytes (save/load is a fixed point), and predicts
 *    one all-zero sample with a label in [0, K) when its inputs are small;
 *  - the format is canonical: a model that loads saves back to exactly the input bytes.
 * Each input is loaded twice: as it is, and with its last 4 bytes replaced by the CRC-32 of
 * the rest (crmti_crc32), so that mutations reach the structure and parameter checks instead
 * of stopping at the checksum.
 * Seeds: tests/fuzz/corpus/model/ (files written by crmt_model_save; regenerate them with
 *   CRMT_WRITE_FUZZ_CORPUS=tests/fuzz/corpus/model build/tests/test_serialize).
 * Run with scripts/fuzz.sh. To build by hand from the repository root, once any build
 * directory (here build/) has generated crmt/version.h:
 *   clang -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all -g -O1 \
 *       -DCRMT_STATIC_DEFINE -D_POSIX_C_SOURCE=200809L -Iinclude -Ibuild/include -Isrc \
 *       tests/fuzz/fuzz_model_load.c $(find src -name '*.c') \
 *       $(pkg-config --cflags --libs openblas) -lm -o fuzz_model_load
 *   mkdir -p corpus-work && ./fuzz_model_load corpus-work tests/fuzz/corpus/model */
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <crmt/crmt.h>

#include "model/serialize.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fail(const char *what, crmt_status st)
{
    fprintf(stderr, "fuzz_model_load: contract violated: %s (status %d, message \"%s\")\n",
            what, (int)st, crmt_last_error());
    abort();
}

static int documented(crmt_status st)
{
    switch (st) {
    case CRMT_OK:
    case CRMT_ERR_FORMAT:
    case CRMT_ERR_VERSION:
    case CRMT_ERR_UNSUPPORTED:
    case CRMT_ERR_INVALID_ARGUMENT:
    case CRMT_ERR_OUT_OF_MEMORY:
    case CRMT_ERR_NON_FINITE:
    case CRMT_ERR_SHAPE:
        return 1;
    default:
        return 0;
    }
}

/* Serialise model into a malloc'd buffer; aborts on any failure. */
static unsigned char *save(const crmt_model *model, size_t *size)
{
    size_t need = 0;
    crmt_status st = crmt_model_save_buffer(model, NULL, 0, &need);
    if (st != CRMT_OK || need == 0)
        fail("save_buffer size query of a loaded model", st);
    unsigned char *buf = malloc(need);
    if (!buf)
        abort();
    size_t got = 0;
    st = crmt_model_save_buffer(model, buf, need, &got);
    if (st != CRMT_OK || got != need)
        fail("save_buffer of a loaded model", st);
    *size = got;
    return buf;
}

static void check_model(const crmt_model *model, const uint8_t *data, size_t size)
{
    int M = crmt_model_num_modalities(model), K = crmt_model_num_classes(model);
    if (M < 1 || M > CRMT_MAX_MODALITIES || K < 2)
        fail("loaded model with an impossible modality or class count", CRMT_OK);
    size_t total_in = 0;
    for (int m = 0; m < M; m++) {
        int n_in = crmt_model_input_dim(model, m), d = crmt_model_feature_dim(model, m);
        if (n_in < 1 || d < 1)
            fail("loaded model with a non-positive dimension", CRMT_OK);
        total_in += (size_t)n_in;
    }
    if (crmt_model_input_dim(model, M) != -1 || crmt_model_num_parameters(model) == 0)
        fail("loaded model queries inconsistent", CRMT_OK);
    crmt_head_kind head = crmt_model_head(model);
    if (head != CRMT_HEAD_JT && head != CRMT_HEAD_CRMT)
        fail("loaded model with an unknown head", CRMT_OK);

    /* save -> load -> save is a fixed point. */
    size_t n1, n2;
    unsigned char *b1 = save(model, &n1);
    if (n1 != size || memcmp(b1, data, size) != 0)
        fail("not canonical: save(load(bytes)) differs from bytes", CRMT_OK);
    crmt_model *again = NULL;
    crmt_status st = crmt_model_load_buffer(&again, b1, n1);
    if (st != CRMT_OK || !again)
        fail("a saved loaded model does not load again", st);
    unsigned char *b2 = save(again, &n2);
    if (n1 != n2 || memcmp(b1, b2, n1) != 0)
        fail("save(load(save(model))) differs from save(model)", CRMT_OK);
    free(b1);
    free(b2);
    crmt_model_destroy(again);

    /* One all-zero sample, when the inputs and the parameters are small enough to be quick. */
    if (total_in <= 4096 && crmt_model_num_parameters(model) <= ((size_t)1 << 20) && K <= 4096) {
        float *zeros = calloc(total_in, sizeof(float));
        float *logits = malloc((size_t)K * sizeof(float));
        const float *inputs[CRMT_MAX_MODALITIES];
        int32_t label = -1;
        if (!zeros || !logits)
            abort();
        size_t off = 0;
        for (int m = 0; m < M; m++) {
            inputs[m] = zeros + off;
            off += (size_t)crmt_model_input_dim(model, m);
        }
        st = crmt_model_predict(model, inputs, 1, &label, logits);
        if (st != CRMT_OK)
            fail("predict on a loaded model", st);
        if (label < 0 || label >= K)
            fail("predict gave a label outside [0, K)", st);
        /* Extreme (finite) parameters may overflow the logits: only the label is checked. */
        free(zeros);
        free(logits);
    }
}

static void load_one(const uint8_t *data, size_t size)
{
    crmt_model *model = (crmt_model *)(uintptr_t)1; /* must be overwritten */
    crmt_clear_error();
    crmt_status st = crmt_model_load_buffer(&model, data, size);
    if (!documented(st))
        fail("undocumented status", st);
    if (st != CRMT_OK) {
        if (model != NULL)
            fail("failure left *out non-NULL", st);
        if (crmt_last_error()[0] == '\0')
            fail("failure without a message", st);
        return;
    }
    if (!model)
        fail("success with *out NULL", st);
    check_model(model, data, size);
    crmt_model_destroy(model);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    load_one(data, size);
    if (size > CRMTI_CHECKSUM_SIZE) {
        uint8_t *fixed = malloc(size);
        if (!fixed)
            abort();
        memcpy(fixed, data, size);
        uint32_t crc = crmti_crc32(0, fixed, size - CRMTI_CHECKSUM_SIZE);
        for (int i = 0; i < CRMTI_CHECKSUM_SIZE; i++)
            fixed[size - CRMTI_CHECKSUM_SIZE + (size_t)i] = (uint8_t)(crc >> (8 * i));
        if (memcmp(fixed, data, size) != 0)
            load_one(fixed, size);
        free(fixed);
    }
    return 0;
}
