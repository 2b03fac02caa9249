/* Model serialisation: the little-endian, checksummed file format described in
 * docs/file-format.md, atomic saves to files, and loads that validate every field and every
 * size before allocating anything big.
 *
 * Every load (file or buffer) goes through one parser over bytes in memory (load_mem), which
 * is the code the fuzz target tests/fuzz/fuzz_model_load.c exercises. Loading a file reads
 * it into memory after its header has been parsed and the size it implies checked against
 * the file's size, so a lying header never causes a big allocation. */
#include "model/serialize.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include "model/model.h"

_Static_assert(sizeof(float) == 4, "the format stores IEEE-754 binary32 parameters");
_Static_assert(sizeof(double) == 8, "the format stores an IEEE-754 binary64 value");

#define TMP_SUFFIX ".tmp.XXXXXX"
/* Bytes staged before each call of the write function when saving to a file. */
#define STAGE_SIZE 8192
/* Bytes read at a time while the header of a file is not yet parsed. */
#define READ_CHUNK 65536

static const uint32_t crc_table[256] = {
    0x00000000u, 0x77073096u, 0xee0e612cu, 0x990951bau, 0x076dc419u, 0x706af48fu,
    0xe963a535u, 0x9e6495a3u, 0x0edb8832u, 0x79dcb8a4u, 0xe0d5e91eu, 0x97d2d988u,
    0x09b64c2bu, 0x7eb17cbdu, 0xe7b82d07u, 0x90bf1d91u, 0x1db71064u, 0x6ab020f2u,
    0xf3b97148u, 0x84be41deu, 0x1adad47du, 0x6ddde4ebu, 0xf4d4b551u, 0x83d385c7u,
    0x136c9856u, 0x646ba8c0u, 0xfd62f97au, 0x8a65c9ecu, 0x14015c4fu, 0x63066cd9u,
    0xfa0f3d63u, 0x8d080df5u, 0x3b6e20c8u, 0x4c69105eu, 0xd56041e4u, 0xa2677172u,
    0x3c03e4d1u, 0x4b04d447u, 0xd20d85fdu, 0xa50ab56bu, 0x35b5a8fau, 0x42b2986cu,
    0xdbbbc9d6u, 0xacbcf940u, 0x32d86ce3u, 0x45df5c75u, 0xdcd60dcfu, 0xabd13d59u,
    0x26d930acu, 0x51de003au, 0xc8d75180u, 0xbfd06116u, 0x21b4f4b5u, 0x56b3c423u,
    0xcfba9599u, 0xb8bda50fu, 0x2802b89eu, 0x5f058808u, 0xc60cd9b2u, 0xb10be924u,
    0x2f6f7c87u, 0x58684c11u, 0xc1611dabu, 0xb6662d3du, 0x76dc4190u, 0x01db7106u,
    0x98d220bcu, 0xefd5102au, 0x71b18589u, 0x06b6b51fu, 0x9fbfe4a5u, 0xe8b8d433u,
    0x7807c9a2u, 0x0f00f934u, 0x9609a88eu, 0xe10e9818u, 0x7f6a0dbbu, 0x086d3d2du,
    0x91646c97u, 0xe6635c01u, 0x6b6b51f4u, 0x1c6c6162u, 0x856530d8u, 0xf262004eu,
    0x6c0695edu, 0x1b01a57bu, 0x8208f4c1u, 0xf50fc457u, 0x65b0d9c6u, 0x12b7e950u,
    0x8bbeb8eau, 0xfcb9887cu, 0x62dd1ddfu, 0x15da2d49u, 0x8cd37cf3u, 0xfbd44c65u,
    0x4db26158u, 0x3ab551ceu, 0xa3bc0074u, 0xd4bb30e2u, 0x4adfa541u, 0x3dd895d7u,
    0xa4d1c46du, 0xd3d6f4fbu, 0x4369e96au, 0x346ed9fcu, 0xad678846u, 0xda60b8d0u,
    0x44042d73u, 0x33031de5u, 0xaa0a4c5fu, 0xdd0d7cc9u, 0x5005713cu, 0x270241aau,
    0xbe0b1010u, 0xc90c2086u, 0x5768b525u, 0x206f85b3u, 0xb966d409u, 0xce61e49fu,
    0x5edef90eu, 0x29d9c998u, 0xb0d09822u, 0xc7d7a8b4u, 0x59b33d17u, 0x2eb40d81u,
    0xb7bd5c3bu, 0xc0ba6cadu, 0xedb88320u, 0x9abfb3b6u, 0x03b6e20cu, 0x74b1d29au,
    0xead54739u, 0x9dd277afu, 0x04db2615u, 0x73dc1683u, 0xe3630b12u, 0x94643b84u,
    0x0d6d6a3eu, 0x7a6a5aa8u, 0xe40ecf0bu, 0x9309ff9du, 0x0a00ae27u, 0x7d079eb1u,
    0xf00f9344u, 0x8708a3d2u, 0x1e01f268u, 0x6906c2feu, 0xf762575du, 0x806567cbu,
    0x196c3671u, 0x6e6b06e7u, 0xfed41b76u, 0x89d32be0u, 0x10da7a5au, 0x67dd4accu,
    0xf9b9df6fu, 0x8ebeeff9u, 0x17b7be43u, 0x60b08ed5u, 0xd6d6a3e8u, 0xa1d1937eu,
    0x38d8c2c4u, 0x4fdff252u, 0xd1bb67f1u, 0xa6bc5767u, 0x3fb506ddu, 0x48b2364bu,
    0xd80d2bdau, 0xaf0a1b4cu, 0x36034af6u, 0x41047a60u, 0xdf60efc3u, 0xa867df55u,
    0x316e8eefu, 0x4669be79u, 0xcb61b38cu, 0xbc66831au, 0x256fd2a0u, 0x5268e236u,
    0xcc0c7795u, 0xbb0b4703u, 0x220216b9u, 0x5505262fu, 0xc5ba3bbeu, 0xb2bd0b28u,
    0x2bb45a92u, 0x5cb36a04u, 0xc2d7ffa7u, 0xb5d0cf31u, 0x2cd99e8bu, 0x5bdeae1du,
    0x9b64c2b0u, 0xec63f226u, 0x756aa39cu, 0x026d930au, 0x9c0906a9u, 0xeb0e363fu,
    0x72076785u, 0x05005713u, 0x95bf4a82u, 0xe2b87a14u, 0x7bb12baeu, 0x0cb61b38u,
    0x92d28e9bu, 0xe5d5be0du, 0x7cdcefb7u, 0x0bdbdf21u, 0x86d3d2d4u, 0xf1d4e242u,
    0x68ddb3f8u, 0x1fda836eu, 0x81be16cdu, 0xf6b9265bu, 0x6fb077e1u, 0x18b74777u,
    0x88085ae6u, 0xff0f6a70u, 0x66063bcau, 0x11010b5cu, 0x8f659effu, 0xf862ae69u,
    0x616bffd3u, 0x166ccf45u, 0xa00ae278u, 0xd70dd2eeu, 0x4e048354u, 0x3903b3c2u,
    0xa7672661u, 0xd06016f7u, 0x4969474du, 0x3e6e77dbu, 0xaed16a4au, 0xd9d65adcu,
    0x40df0b66u, 0x37d83bf0u, 0xa9bcae53u, 0xdebb9ec5u, 0x47b2cf7fu, 0x30b5ffe9u,
    0xbdbdf21cu, 0xcabac28au, 0x53b39330u, 0x24b4a3a6u, 0xbad03605u, 0xcdd70693u,
    0x54de5729u, 0x23d967bfu, 0xb3667a2eu, 0xc4614ab8u, 0x5d681b02u, 0x2a6f2b94u,
    0xb40bbe37u, 0xc30c8ea1u, 0x5a05df1bu, 0x2d02ef8du,
};

uint32_t crmti_crc32(uint32_t crc, const void *data, size_t n)
{
    const unsigned char *p = data;
    uint32_t c = crc ^ 0xffffffffu;
    for (size_t i = 0; i < n; i++)
        c = crc_table[(c ^ p[i]) & 0xffu] ^ (c >> 8);
    return c ^ 0xffffffffu;
}

static size_t default_write(const void *data, size_t size, FILE *fp)
{
    return fwrite(data, 1, size, fp);
}

static crmti_write_fn write_hook = NULL;

void crmti_serialize_set_write_hook(crmti_write_fn fn) { write_hook = fn; }

/* ---- little-endian encoding, byte by byte (independent of the host's byte order) ---- */

static void le32(unsigned char *b, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        b[i] = (unsigned char)(v >> (8 * i));
}

static void le64(unsigned char *b, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        b[i] = (unsigned char)(v >> (8 * i));
}

static uint32_t get32(const unsigned char *b)
{
    return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
}

static uint64_t get64(const unsigned char *b)
{
    return (uint64_t)get32(b) | (uint64_t)get32(b + 4) << 32;
}

/* ---- records ---- */

/* Number of u32 fields of a layer record of this kind in a file of this format version, or
 * -1 when that version cannot store the kind. Version 1: linear, ReLU; version 2 adds
 * conv2d, average and max pooling, flatten. A new kind gets its field count here together
 * with a new format version. */
static int layer_field_count(int kind, uint32_t version)
{
    switch (kind) {
    case CRMTI_LAYER_LINEAR: return 1;  /* out_dim */
    case CRMTI_LAYER_RELU: return 0;
    case CRMTI_LAYER_CONV2D: return version >= 2 ? 4 : -1;  /* out_channels, kernel, stride,
                                                                padding */
    case CRMTI_LAYER_AVGPOOL:
    case CRMTI_LAYER_MAXPOOL: return version >= 2 ? 2 : -1; /* kernel, stride */
    case CRMTI_LAYER_FLATTEN: return version >= 2 ? 0 : -1;
    default: return -1;
    }
}

/* The lowest format version able to store the spec (the one written): 2 when a modality is
 * an image or a layer is conv2d, pooling or flatten; 1 otherwise. */
static uint32_t spec_version(const crmt_spec *spec)
{
    for (int m = 0; m < spec->n_modalities; m++) {
        if (spec->mod[m].channels > 0)
            return 2;
        for (int l = 0; l < spec->mod[m].n_layers; l++)
            if (layer_field_count(spec->mod[m].layers[l].kind, 1) < 0)
                return 2;
    }
    return 1;
}

/* Bytes of a modality record before its layer records: name[32], input_dim, n_layers, and
 * from version 2 the image shape (channels, height, width; zeros for a vector). */
static size_t modality_record_size(uint32_t version)
{
    return CRMTI_MODALITY_RECORD_SIZE + (version >= 2 ? 12 : 0);
}

static size_t name_length(const char *name)
{
    const char *z = memchr(name, '\0', CRMTI_NAME_SIZE);
    return z ? (size_t)(z - name) : CRMTI_NAME_SIZE - 1;
}

/* Bytes before the parameters: fixed header, modality and layer records, n_params. */
static size_t header_size(const crmt_spec *spec)
{
    const uint32_t version = spec_version(spec);
    size_t n = CRMTI_OFF_MODALITIES;
    for (int m = 0; m < spec->n_modalities; m++) {
        n += modality_record_size(version);
        for (int l = 0; l < spec->mod[m].n_layers; l++)
            n += 8 + 4 * (size_t)layer_field_count(spec->mod[m].layers[l].kind, version);
    }
    return n + 8;
}

static size_t serialized_size(const crmt_model *model)
{
    return header_size(&model->spec) + 4 * model->n_params + CRMTI_CHECKSUM_SIZE;
}

/* Number of parameters crmti_model_build lays out for a validated spec (see the layout in
 * model/model.h), computed without allocating. */
static uint64_t implied_param_count(const crmt_spec *spec)
{
    const uint64_t K = (uint64_t)spec->n_classes;
    uint64_t n = 0;
    for (int m = 0; m < spec->n_modalities; m++) {
        const crmti_modality_spec *ms = &spec->mod[m];
        crmti_shape shape;
        crmti_modality_shape(ms, &shape);
        for (int l = 0; l < ms->n_layers; l++) {
            const crmti_layer_spec *ls = &ms->layers[l];
            const uint64_t in = (uint64_t)shape.c * (uint64_t)shape.h * (uint64_t)shape.w;
            if (ls->kind == CRMTI_LAYER_LINEAR)
                n += (uint64_t)ls->out_dim * (in + 1);
            else if (ls->kind == CRMTI_LAYER_CONV2D)
                n += (uint64_t)ls->out_dim *
                     ((uint64_t)shape.c * (uint64_t)ls->kernel * (uint64_t)ls->kernel + 1);
            crmti_layer_spec_check(ls, &shape, m, l, NULL); /* validated: output shape */
        }
        n += K * (uint64_t)shape.c * (uint64_t)shape.h * (uint64_t)shape.w;
    }
    if (spec->head == CRMT_HEAD_CRMT)
        n += (uint64_t)spec->n_modalities * K;
    return n + K;
}

/* Whether the model can be written in the current format (all layer kinds storable). */
static crmt_status check_storable(const crmt_model *model)
{
    for (int m = 0; m < model->spec.n_modalities; m++)
        for (int l = 0; l < model->spec.mod[m].n_layers; l++)
            if (layer_field_count(model->spec.mod[m].layers[l].kind, CRMTI_FORMAT_VERSION) < 0)
                return crmti_fail(NULL, CRMT_ERR_UNSUPPORTED,
                                  "modality %d layer %d: layer kind %d cannot be stored in "
                                  "model format version %d",
                                  m, l, model->spec.mod[m].layers[l].kind,
                                  CRMTI_FORMAT_VERSION);
    return CRMT_OK;
}

static crmt_status check_finite_params(const crmt_model *model)
{
    for (size_t i = 0; i < model->n_params; i++)
        if (!isfinite(model->params[i]))
            return crmti_fail(NULL, CRMT_ERR_NON_FINITE,
                              "parameter %zu of %zu is NaN or infinite; a model that could "
                              "not be loaded back is not saved",
                              i, model->n_params);
    return CRMT_OK;
}

/* ---- writing ---- */

/* Destination of the bytes of a model: memory (mem != NULL; capacity checked beforehand)
 * or a file through the write function, staged in blocks. Keeps the running checksum. */
typedef struct sink {
    unsigned char *mem;
    FILE *fp;
    crmti_write_fn write;
    int err;       /* errno of the first failed write, 0 while all is well */
    uint32_t crc;  /* CRC-32 of everything emitted through sink_put */
    size_t pos;    /* bytes emitted */
    size_t staged;
    unsigned char stage[STAGE_SIZE];
} sink;

static void sink_flush(sink *s)
{
    if (!s->mem && !s->err && s->staged > 0) {
        errno = 0;
        if (s->write(s->stage, s->staged, s->fp) != s->staged)
            s->err = errno ? errno : EIO;
    }
    s->staged = 0;
}

/* Emit bytes without folding them into the checksum (the checksum itself). */
static void sink_raw(sink *s, const void *data, size_t n)
{
    const unsigned char *p = data;
    if (s->mem) {
        memcpy(s->mem + s->pos, p, n);
        s->pos += n;
        return;
    }
    while (n > 0 && !s->err) {
        size_t k = STAGE_SIZE - s->staged;
        if (k > n)
            k = n;
        memcpy(s->stage + s->staged, p, k);
        s->staged += k;
        s->pos += k;
        p += k;
        n -= k;
        if (s->staged == STAGE_SIZE)
            sink_flush(s);
    }
}

static void sink_put(sink *s, const void *data, size_t n)
{
    s->crc = crmti_crc32(s->crc, data, n);
    sink_raw(s, data, n);
}

static void put_u32(sink *s, uint32_t v)
{
    unsigned char b[4];
    le32(b, v);
    sink_put(s, b, sizeof b);
}

static void put_u64(sink *s, uint64_t v)
{
    unsigned char b[8];
    le64(b, v);
    sink_put(s, b, sizeof b);
}

/* Emit the whole model, checksum included, and flush. The model must be storable. */
static void emit_model(sink *s, const crmt_model *model)
{
    const crmt_spec *spec = &model->spec;
    const uint32_t version = spec_version(spec);
    sink_put(s, CRMTI_FORMAT_MAGIC, CRMTI_FORMAT_MAGIC_SIZE);
    put_u32(s, CRMTI_FORMAT_BOM);
    put_u32(s, version);
    put_u32(s, (uint32_t)spec->n_classes);
    put_u32(s, (uint32_t)spec->n_modalities);
    put_u32(s, (uint32_t)spec->head);
    put_u32(s, (uint32_t)spec->head_norm);
    uint64_t bits;
    memcpy(&bits, &spec->integration_init, sizeof bits);
    put_u64(s, bits);
    for (int m = 0; m < spec->n_modalities; m++) {
        const crmti_modality_spec *ms = &spec->mod[m];
        unsigned char name[CRMTI_NAME_SIZE] = {0}; /* zero padded: canonical bytes */
        memcpy(name, ms->name, name_length(ms->name));
        sink_put(s, name, sizeof name);
        put_u32(s, (uint32_t)ms->input_dim);
        put_u32(s, (uint32_t)ms->n_layers);
        if (version >= 2) {
            put_u32(s, (uint32_t)ms->channels);
            put_u32(s, (uint32_t)ms->height);
            put_u32(s, (uint32_t)ms->width);
        }
        for (int l = 0; l < ms->n_layers; l++) {
            const crmti_layer_spec *ls = &ms->layers[l];
            put_u32(s, (uint32_t)ls->kind);
            put_u32(s, (uint32_t)layer_field_count(ls->kind, version));
            switch (ls->kind) {
            case CRMTI_LAYER_LINEAR:
                put_u32(s, (uint32_t)ls->out_dim);
                break;
            case CRMTI_LAYER_CONV2D:
                put_u32(s, (uint32_t)ls->out_dim);
                put_u32(s, (uint32_t)ls->kernel);
                put_u32(s, (uint32_t)ls->stride);
                put_u32(s, (uint32_t)ls->pad);
                break;
            case CRMTI_LAYER_AVGPOOL:
            case CRMTI_LAYER_MAXPOOL:
                put_u32(s, (uint32_t)ls->kernel);
                put_u32(s, (uint32_t)ls->stride);
                break;
            default:
                break;
            }
        }
    }
    put_u64(s, (uint64_t)model->n_params);
    unsigned char block[4096];
    const size_t per_block = sizeof block / 4;
    for (size_t i = 0; i < model->n_params; i += per_block) {
        size_t k = model->n_params - i < per_block ? model->n_params - i : per_block;
        for (size_t j = 0; j < k; j++) {
            uint32_t b;
            memcpy(&b, &model->params[i + j], sizeof b);
            le32(block + 4 * j, b);
        }
        sink_put(s, block, 4 * k);
    }
    unsigned char crc[CRMTI_CHECKSUM_SIZE];
    le32(crc, s->crc);
    sink_raw(s, crc, sizeof crc);
    sink_flush(s);
}

crmt_status crmt_model_save_buffer(const crmt_model *model, void *buffer, size_t capacity,
                                   size_t *size_out)
{
    if (!model)
        return crmti_fail(NULL, CRMT_ERR_INVALID_ARGUMENT, "model is NULL");
    if (!size_out)
        return crmti_fail(NULL, CRMT_ERR_INVALID_ARGUMENT, "size_out is NULL");
    crmt_status st = check_storable(model);
    if (st != CRMT_OK)
        return st;
    const size_t need = serialized_size(model);
    *size_out = need;
    if (!buffer)
        return CRMT_OK;
    if (capacity < need)
        return crmti_fail(NULL, CRMT_ERR_INVALID_ARGUMENT,
                          "buffer capacity %zu is smaller than the %zu bytes needed", capacity,
                          need);
    st = check_finite_params(model);
    if (st != CRMT_OK)
        return st;
    sink *s = malloc(sizeof *s);
    if (!s)
        return crmti_fail(NULL, CRMT_ERR_OUT_OF_MEMORY, "cannot allocate a serialiser");
    memset(s, 0, offsetof(sink, stage));
    s->mem = buffer;
    emit_model(s, model);
    free(s);
    return CRMT_OK;
}

/* Thread-safe text of an errno value. */
static void errno_text(int err, char *buf, size_t size)
{
    if (strerror_r(err, buf, size) != 0)
        snprintf(buf, size, "error %d", err);
}

/* Mode of a new file as fopen() would create it (0666 minus the umask). The umask is read
 * from /proc/self/status because umask() can only be read by changing it, which would race
 * with other threads; where it cannot be read, mkstemp's 0600 is kept. */
static mode_t new_file_mode(void)
{
    mode_t mode = 0600;
    FILE *f = fopen("/proc/self/status", "r");
    if (!f)
        return mode;
    char line[128];
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, "Umask:", 6) == 0) {
            char *end;
            unsigned long mask = strtoul(line + 6, &end, 8);
            if (end != line + 6 && mask <= 0777)
                mode = (mode_t)(0666 & ~mask);
            break;
        }
    }
    fclose(f);
    return mode;
}

/* Best effort: make the rename durable by syncing the directory that holds path. */
static void sync_parent_dir(const char *path)
{
    const char *slash = strrchr(path, '/');
    size_t len = slash ? (slash == path ? 1 : (size_t)(slash - path)) : 1;
    char *dir = malloc(len + 1);
    if (!dir)
        return;
    if (slash)
        memcpy(dir, path, len);
    else
        dir[0] = '.';
    dir[len] = '\0';
    int fd = open(dir, O_RDONLY);
    if (fd >= 0) {
        (void)fsync(fd);
        close(fd);
    }
    free(dir);
}

crmt_status crmt_model_save(const crmt_model *model, const char *path)
{
    if (!model)
        return crmti_fail(NULL, CRMT_ERR_INVALID_ARGUMENT, "model is NULL");
    if (!path)
        return crmti_fail(NULL, CRMT_ERR_INVALID_ARGUMENT, "path is NULL");
    if (!path[0])
        return crmti_fail(NULL, CRMT_ERR_INVALID_ARGUMENT, "path is empty");
    crmt_status st = check_storable(model);
    if (st == CRMT_OK)
        st = check_finite_params(model);
    if (st != CRMT_OK)
        return st;

    const size_t plen = strlen(path);
    char *tmp = malloc(plen + sizeof TMP_SUFFIX);
    sink *s = malloc(sizeof *s);
    if (!tmp || !s) {
        free(tmp);
        free(s);
        return crmti_fail(NULL, CRMT_ERR_OUT_OF_MEMORY, "cannot allocate a serialiser");
    }
    memcpy(tmp, path, plen);
    memcpy(tmp + plen, TMP_SUFFIX, sizeof TMP_SUFFIX);
    char why[128];
    int fd = mkstemp(tmp);
    if (fd < 0) {
        errno_text(errno, why, sizeof why);
        free(tmp);
        free(s);
        return crmti_fail(NULL, CRMT_ERR_IO,
                          "cannot save model: cannot create a temporary file in the target's "
                          "directory: %s (path '%s')",
                          why, path);
    }
    /* Keep the permissions of the file being replaced; a new file gets fopen()'s. */
    struct stat sb;
    mode_t mode = (stat(path, &sb) == 0 && S_ISREG(sb.st_mode)) ? (sb.st_mode & 0777)
                                                                 : new_file_mode();
    if (fchmod(fd, mode) != 0) {
        /* Not fatal: the file keeps mkstemp's 0600. */
    }

    const char *step = NULL;
    int err = 0;
    FILE *fp = fdopen(fd, "wb");
    if (!fp) {
        err = errno;
        step = "open";
        close(fd);
    } else {
        memset(s, 0, offsetof(sink, stage));
        s->fp = fp;
        s->write = write_hook ? write_hook : default_write;
        emit_model(s, model);
        if (s->err) {
            err = s->err;
            step = "write";
        } else if (fflush(fp) != 0) {
            err = errno;
            step = "write";
        } else if (fsync(fileno(fp)) != 0) {
            err = errno;
            step = "sync";
        }
        if (fclose(fp) != 0 && !err) {
            err = errno;
            step = "close";
        }
    }
    if (!err && rename(tmp, path) != 0) {
        err = errno;
        step = "rename";
    }
    if (err) {
        unlink(tmp);
        free(tmp);
        free(s);
        errno_text(err, why, sizeof why);
        return crmti_fail(NULL, CRMT_ERR_IO,
                          "cannot save model: %s of the temporary file failed: %s; any "
                          "existing file is unchanged (path '%s')",
                          step, why, path);
    }
    sync_parent_dir(path);
    free(tmp);
    free(s);
    return CRMT_OK;
}

/* ---- reading ---- */

typedef struct reader {
    const unsigned char *p;
    size_t size, pos;
    int truncated; /* a read ran past the end */
} reader;

/* Next n bytes, or NULL (failure recorded) when fewer remain. */
static const unsigned char *take(reader *r, size_t n, const char *what)
{
    if (n > r->size - r->pos) {
        r->truncated = 1;
        crmti_fail(NULL, CRMT_ERR_FORMAT,
                   "truncated model data: %s at byte %zu needs %zu bytes, %zu left", what,
                   r->pos, n, r->size - r->pos);
        return NULL;
    }
    const unsigned char *q = r->p + r->pos;
    r->pos += n;
    return q;
}

static int read_u32(reader *r, uint32_t *v, const char *what)
{
    const unsigned char *q = take(r, 4, what);
    if (!q)
        return 0;
    *v = get32(q);
    return 1;
}

/* Read a u32 that must lie in [lo, hi]; the failure message names the field. */
static crmt_status read_range(reader *r, int *out, uint32_t lo, uint32_t hi, const char *what)
{
    uint32_t v;
    if (!read_u32(r, &v, what))
        return CRMT_ERR_FORMAT;
    if (v < lo || v > hi)
        return crmti_fail(NULL, CRMT_ERR_FORMAT, "%s is %" PRIu32 ", outside [%" PRIu32
                          ", %" PRIu32 "]", what, v, lo, hi);
    *out = (int)v;
    return CRMT_OK;
}

/* Parse and validate everything before the parameters: magic, byte order, version, the
 * model structure (a spec), and the parameter count, which must equal the count the
 * structure implies. Allocates nothing. On a failure caused by the data ending early,
 * r->truncated is set. */
static crmt_status parse_header(reader *r, crmt_spec *spec, uint64_t *n_params)
{
    memset(spec, 0, sizeof *spec);
    if (r->size == 0) {
        r->truncated = 1;
        return crmti_fail(NULL, CRMT_ERR_FORMAT, "empty input: no model data");
    }
    size_t have = r->size < CRMTI_FORMAT_MAGIC_SIZE ? r->size : CRMTI_FORMAT_MAGIC_SIZE;
    if (memcmp(r->p, CRMTI_FORMAT_MAGIC, have) != 0)
        return crmti_fail(NULL, CRMT_ERR_FORMAT,
                          "not a libcrmt model: wrong magic bytes at the start");
    if (!take(r, CRMTI_FORMAT_MAGIC_SIZE, "magic"))
        return CRMT_ERR_FORMAT;
    uint32_t bom, version;
    if (!read_u32(r, &bom, "byte-order marker"))
        return CRMT_ERR_FORMAT;
    if (bom != CRMTI_FORMAT_BOM)
        return crmti_fail(NULL, CRMT_ERR_FORMAT,
                          "bad byte-order marker 0x%08" PRIx32 " (expected bytes 04 03 02 01: "
                          "model files are always little-endian)",
                          bom);
    if (!read_u32(r, &version, "format version"))
        return CRMT_ERR_FORMAT;
    if (version > CRMTI_FORMAT_VERSION)
        return crmti_fail(NULL, CRMT_ERR_VERSION,
                          "model format version %" PRIu32 " is newer than version %d, the "
                          "newest this libcrmt (%s) reads; upgrade libcrmt",
                          version, CRMTI_FORMAT_VERSION, CRMT_VERSION_STRING);
    if (version < 1)
        return crmti_fail(NULL, CRMT_ERR_FORMAT,
                          "unknown model format version %" PRIu32 " (versions start at 1)",
                          version);

    crmt_status st;
    if ((st = read_range(r, &spec->n_classes, 2, CRMTI_MAX_CLASSES, "n_classes")) != CRMT_OK ||
        (st = read_range(r, &spec->n_modalities, 1, CRMT_MAX_MODALITIES, "n_modalities")) !=
            CRMT_OK ||
        (st = read_range(r, &spec->head, CRMT_HEAD_JT, CRMT_HEAD_CRMT, "head kind")) !=
            CRMT_OK ||
        (st = read_range(r, &spec->head_norm, CRMT_NORM_AUTO, CRMT_NORM_ORTHONORMAL,
                         "head norm")) != CRMT_OK)
        return st;
    const unsigned char *q = take(r, 8, "integration init");
    if (!q)
        return CRMT_ERR_FORMAT;
    uint64_t bits = get64(q);
    memcpy(&spec->integration_init, &bits, sizeof bits);
    if (!(spec->integration_init >= 0.0 && spec->integration_init <= 1e3))
        return crmti_fail(NULL, CRMT_ERR_FORMAT, "integration init %g outside [0, 1000]",
                          spec->integration_init);

    char what[96];
    for (int m = 0; m < spec->n_modalities; m++) {
        crmti_modality_spec *ms = &spec->mod[m];
        snprintf(what, sizeof what, "modality %d name", m);
        if (!(q = take(r, CRMTI_NAME_SIZE, what)))
            return CRMT_ERR_FORMAT;
        size_t len = name_length((const char *)q);
        if (len == CRMTI_NAME_SIZE - 1 && q[len] != 0)
            return crmti_fail(NULL, CRMT_ERR_FORMAT, "modality %d: name is not NUL-terminated",
                              m);
        for (size_t i = len; i < CRMTI_NAME_SIZE; i++)
            if (q[i] != 0)
                return crmti_fail(NULL, CRMT_ERR_FORMAT,
                                  "modality %d: nonzero byte after the end of the name", m);
        memcpy(ms->name, q, CRMTI_NAME_SIZE);
        snprintf(what, sizeof what, "modality %d input_dim", m);
        if ((st = read_range(r, &ms->input_dim, 1, CRMTI_MAX_DIM, what)) != CRMT_OK)
            return st;
        snprintf(what, sizeof what, "modality %d layer count", m);
        if ((st = read_range(r, &ms->n_layers, 0, CRMTI_MAX_LAYERS, what)) != CRMT_OK)
            return st;
        if (version >= 2) {
            int *shape[3] = {&ms->channels, &ms->height, &ms->width};
            static const char *const dims[3] = {"channels", "height", "width"};
            for (int i = 0; i < 3; i++) {
                snprintf(what, sizeof what, "modality %d image %s", m, dims[i]);
                if ((st = read_range(r, shape[i], 0, CRMTI_MAX_DIM, what)) != CRMT_OK)
                    return st;
            }
        }
        for (int l = 0; l < ms->n_layers; l++) {
            crmti_layer_spec *ls = &ms->layers[l];
            uint32_t kind, n_fields;
            snprintf(what, sizeof what, "modality %d layer %d kind", m, l);
            if (!read_u32(r, &kind, what))
                return CRMT_ERR_FORMAT;
            snprintf(what, sizeof what, "modality %d layer %d field count", m, l);
            if (!read_u32(r, &n_fields, what))
                return CRMT_ERR_FORMAT;
            int expect =
                kind <= (uint32_t)INT32_MAX ? layer_field_count((int)kind, version) : -1;
            if (expect < 0)
                return crmti_fail(NULL, CRMT_ERR_FORMAT,
                                  "modality %d layer %d: unknown layer kind %" PRIu32
                                  " for format version %" PRIu32,
                                  m, l, kind, version);
            if (n_fields != (uint32_t)expect)
                return crmti_fail(NULL, CRMT_ERR_FORMAT,
                                  "modality %d layer %d: %" PRIu32 " fields for a layer of "
                                  "kind %" PRIu32 " (expected %d)",
                                  m, l, n_fields, kind, expect);
            ls->kind = (int)kind;
            /* the fields of this kind in record order; each in [1, max], padding [0, max] */
            int *field[4] = {NULL, NULL, NULL, NULL};
            const char *fname[4] = {NULL, NULL, NULL, NULL};
            if (kind == CRMTI_LAYER_LINEAR) {
                field[0] = &ls->out_dim;
                fname[0] = "out_dim";
            } else if (kind == CRMTI_LAYER_CONV2D) {
                field[0] = &ls->out_dim;
                field[1] = &ls->kernel;
                field[2] = &ls->stride;
                field[3] = &ls->pad;
                fname[0] = "out_channels";
                fname[1] = "kernel";
                fname[2] = "stride";
                fname[3] = "padding";
            } else if (kind == CRMTI_LAYER_AVGPOOL || kind == CRMTI_LAYER_MAXPOOL) {
                field[0] = &ls->kernel;
                field[1] = &ls->stride;
                fname[0] = "kernel";
                fname[1] = "stride";
            }
            for (int i = 0; i < expect; i++) {
                const uint32_t lo = field[i] == &ls->pad ? 0 : 1;
                snprintf(what, sizeof what, "modality %d layer %d %s", m, l, fname[i]);
                if ((st = read_range(r, field[i], lo, CRMTI_MAX_DIM, what)) != CRMT_OK)
                    return st;
            }
        }
    }
    char msg[CRMTI_ERRMSG_SIZE];
    if (crmti_spec_validate(spec, msg) != CRMT_OK)
        return crmti_fail(NULL, CRMT_ERR_FORMAT, "invalid model structure: %s", msg);
    /* One encoding per model: the version must be the lowest able to store it. */
    if (version != spec_version(spec))
        return crmti_fail(NULL, CRMT_ERR_FORMAT,
                          "format version %" PRIu32 " for a model that version %" PRIu32
                          " stores (files carry the lowest version able to store the model)",
                          version, spec_version(spec));
    if (!(q = take(r, 8, "parameter count")))
        return CRMT_ERR_FORMAT;
    *n_params = get64(q);
    const uint64_t implied = implied_param_count(spec);
    if (*n_params != implied)
        return crmti_fail(NULL, CRMT_ERR_FORMAT,
                          "parameter count %" PRIu64 " does not match the %" PRIu64
                          " parameters the model structure implies",
                          *n_params, implied);
    return CRMT_OK;
}

/* Total size in bytes of a model whose header (up to and including the parameter count)
 * takes header_bytes. n_params is bounded by parse_header (it equals the implied count of
 * a validated spec, far below 2^50), so this cannot overflow. */
static uint64_t total_size(uint64_t header_bytes, uint64_t n_params)
{
    return header_bytes + 4 * n_params + CRMTI_CHECKSUM_SIZE;
}

static crmt_status load_mem(crmt_model **out, const unsigned char *buf, size_t size)
{
    reader r = {buf, size, 0, 0};
    crmt_spec spec;
    uint64_t n_params;
    crmt_status st = parse_header(&r, &spec, &n_params);
    if (st != CRMT_OK)
        return st;
    const uint64_t expected = total_size(r.pos, n_params);
    if ((uint64_t)size < expected)
        return crmti_fail(NULL, CRMT_ERR_FORMAT,
                          "truncated model data: %zu bytes, but the header describes a "
                          "%" PRIu64 "-byte model",
                          size, expected);
    if ((uint64_t)size > expected)
        return crmti_fail(NULL, CRMT_ERR_FORMAT,
                          "%" PRIu64 " unexpected bytes after the end of the model "
                          "(trailing data)",
                          (uint64_t)size - expected);
    const uint32_t stored = get32(buf + size - CRMTI_CHECKSUM_SIZE);
    const uint32_t computed = crmti_crc32(0, buf, size - CRMTI_CHECKSUM_SIZE);
    if (stored != computed)
        return crmti_fail(NULL, CRMT_ERR_FORMAT,
                          "checksum mismatch (stored 0x%08" PRIx32 ", computed 0x%08" PRIx32
                          "): the model data is corrupted",
                          stored, computed);

    /* Everything is validated; the allocation below is bounded by the input's size. */
    crmt_model *model = NULL;
    st = crmti_model_build(&model, &spec, 0);
    if (st == CRMT_ERR_OUT_OF_MEMORY)
        return st;
    if (st != CRMT_OK) {
        char msg[CRMTI_ERRMSG_SIZE];
        snprintf(msg, sizeof msg, "%s", crmt_last_error());
        return crmti_fail(NULL, CRMT_ERR_FORMAT, "invalid model structure: %s", msg);
    }
    if ((uint64_t)model->n_params != n_params) {
        size_t built = model->n_params;
        crmt_model_destroy(model);
        return crmti_fail(NULL, CRMT_ERR_FORMAT,
                          "internal error: the model built from the file has %zu parameters, "
                          "the file %" PRIu64,
                          built, n_params);
    }
    const unsigned char *p = buf + r.pos;
    for (size_t i = 0; i < model->n_params; i++) {
        uint32_t b = get32(p + 4 * i);
        float v;
        memcpy(&v, &b, sizeof v);
        if (!isfinite(v)) {
            crmt_model_destroy(model);
            return crmti_fail(NULL, CRMT_ERR_FORMAT, "parameter %zu of %" PRIu64
                              " is NaN or infinite", i, n_params);
        }
        model->params[i] = v;
    }
    *out = model;
    return CRMT_OK;
}

crmt_status crmt_model_load_buffer(crmt_model **out, const void *buffer, size_t size)
{
    if (!out)
        return crmti_fail(NULL, CRMT_ERR_INVALID_ARGUMENT, "out is NULL");
    *out = NULL;
    if (!buffer)
        return crmti_fail(NULL, CRMT_ERR_INVALID_ARGUMENT, "buffer is NULL");
    return load_mem(out, buffer, size);
}

/* Read a model file into memory. Until its header is parsed the file is read in chunks;
 * then the size the header implies is compared with the file's size (regular files) before
 * the rest is read, and never more than that size plus one byte (to detect trailing data)
 * is buffered, so pipes and devices are bounded too. */
static crmt_status read_model_file(FILE *fp, const char *path, unsigned char **buf_out,
                                   size_t *len_out)
{
    struct stat sb;
    int regular = 0;
    uint64_t file_size = 0;
    if (fstat(fileno(fp), &sb) == 0) {
        if (S_ISDIR(sb.st_mode))
            return crmti_fail(NULL, CRMT_ERR_IO, "cannot load model: path is a directory ('%s')",
                              path);
        if (S_ISREG(sb.st_mode)) {
            regular = 1;
            file_size = (uint64_t)sb.st_size;
        }
    }
    unsigned char *buf = NULL;
    size_t len = 0, cap = 0;
    uint64_t expected = 0;
    int have_expected = 0;
    crmt_status st = CRMT_OK;
    for (;;) {
        size_t want = READ_CHUNK;
        if (have_expected) {
            if ((uint64_t)len > expected)
                break;
            want = (size_t)(expected + 1 - len);
        }
        if (want > cap - len) {
            size_t new_cap = have_expected ? len + want
                                           : (cap * 2 > len + want ? cap * 2 : len + want);
            unsigned char *grown = realloc(buf, new_cap);
            if (!grown) {
                st = crmti_fail(NULL, CRMT_ERR_OUT_OF_MEMORY,
                                "cannot allocate %zu bytes to read a model file", new_cap);
                break;
            }
            buf = grown;
            cap = new_cap;
        }
        size_t got = fread(buf + len, 1, want, fp);
        len += got;
        int eof = got < want;
        if (eof && ferror(fp)) {
            char why[128];
            errno_text(errno ? errno : EIO, why, sizeof why);
            st = crmti_fail(NULL, CRMT_ERR_IO, "cannot read model file: %s (path '%s')", why,
                            path);
            break;
        }
        if (!have_expected) {
            reader r = {buf, len, 0, 0};
            crmt_spec spec;
            uint64_t n_params;
            st = parse_header(&r, &spec, &n_params);
            if (st == CRMT_OK) {
                expected = total_size(r.pos, n_params);
                have_expected = 1;
                if (regular && file_size != expected) {
                    st = crmti_fail(NULL, CRMT_ERR_FORMAT,
                                    "model file has %" PRIu64 " bytes but its header "
                                    "describes a %" PRIu64 "-byte model (%s; path '%s')",
                                    file_size, expected,
                                    file_size < expected ? "truncated" : "trailing data",
                                    path);
                    break;
                }
                if (expected >= (uint64_t)SIZE_MAX) {
                    st = crmti_fail(NULL, CRMT_ERR_OUT_OF_MEMORY,
                                    "a %" PRIu64 "-byte model does not fit in memory", expected);
                    break;
                }
            } else if (!r.truncated || eof) {
                break;
            }
            st = CRMT_OK;
        }
        if (eof)
            break;
    }
    if (st != CRMT_OK) {
        free(buf);
        return st;
    }
    *buf_out = buf;
    *len_out = len;
    return CRMT_OK;
}

crmt_status crmt_model_load(crmt_model **out, const char *path)
{
    if (!out)
        return crmti_fail(NULL, CRMT_ERR_INVALID_ARGUMENT, "out is NULL");
    *out = NULL;
    if (!path)
        return crmti_fail(NULL, CRMT_ERR_INVALID_ARGUMENT, "path is NULL");
    FILE *fp = fopen(path, "rb");
    if (!fp) {
        char why[128];
        errno_text(errno, why, sizeof why);
        return crmti_fail(NULL, CRMT_ERR_IO, "cannot open model file: %s (path '%s')", why,
                          path);
    }
    unsigned char *buf = NULL;
    size_t len = 0;
    crmt_status st = read_model_file(fp, path, &buf, &len);
    fclose(fp);
    if (st != CRMT_OK)
        return st;
    st = load_mem(out, buf, len);
    free(buf);
    return st;
}
