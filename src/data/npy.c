/* The NumPy .npy reader: see data/npy.h for what is accepted and how failures are reported.
 *
 * Format reference (numpy/lib/format.py): 6-byte magic "\x93NUMPY", major and minor version
 * bytes, header length (uint16 LE in 1.0, uint32 LE in 2.0 and 3.0), then the header: the
 * repr() of a Python dict padded with spaces and a final '\n', then the raw data. */
#include "data/npy.h"

#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "api/error.h"
#include "data/dataset.h"

static const unsigned char npy_magic[6] = {0x93, 'N', 'U', 'M', 'P', 'Y'};

/* ------------------------------------------------------------------------------------------
 * Header dict tokenizer. Every access is bounded by c->end. */

typedef struct cursor {
    const unsigned char *p, *end;
} cursor;

static int is_space(unsigned char ch)
{
    return ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r' || ch == '\f' || ch == '\v';
}

static int is_ident(unsigned char ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
           ch == '_';
}

static int peek(cursor *c)
{
    while (c->p < c->end && is_space(*c->p))
        c->p++;
    return c->p < c->end ? *c->p : -1;
}

static int accept_char(cursor *c, int ch)
{
    if (peek(c) != ch)
        return 0;
    c->p++;
    return 1;
}

/* A Python identifier-like word (True, False) not followed by more identifier bytes. */
static int accept_word(cursor *c, const char *word)
{
    size_t n = strlen(word);
    peek(c);
    if ((size_t)(c->end - c->p) < n || memcmp(c->p, word, n) != 0)
        return 0;
    if ((size_t)(c->end - c->p) > n && is_ident(c->p[n]))
        return 0;
    c->p += n;
    return 1;
}

/* A quoted string without escapes; *s / *len give its content. */
static int parse_string(cursor *c, const unsigned char **s, size_t *len)
{
    int q = peek(c);
    if (q != '\'' && q != '"')
        return 0;
    const unsigned char *start = ++c->p;
    while (c->p < c->end && *c->p != q) {
        if (*c->p == '\\' || *c->p == '\n')
            return 0;
        c->p++;
    }
    if (c->p >= c->end)
        return 0;
    *s = start;
    *len = (size_t)(c->p - start);
    c->p++;
    return 1;
}

/* Copy up to cap-1 bytes of s into out for messages, non-printable bytes as '?'. Returns 1
 * when s did not fit. */
static int printable_copy(char *out, size_t cap, const unsigned char *s, size_t len)
{
    size_t k = len < cap - 1 ? len : cap - 1;
    for (size_t i = 0; i < k; i++)
        out[i] = (s[i] >= 0x20 && s[i] < 0x7f) ? (char)s[i] : '?';
    out[k] = '\0';
    return len > k;
}

static int key_is(const unsigned char *s, size_t len, const char *key)
{
    return len == strlen(key) && memcmp(s, key, len) == 0;
}

enum { UINT_OK = 0, UINT_SYNTAX = 1, UINT_OVERFLOW = 2 };

/* Non-negative decimal integer with an optional Python 2 'L' suffix. */
static int parse_uint(cursor *c, uint64_t *out)
{
    peek(c);
    if (c->p >= c->end || *c->p < '0' || *c->p > '9')
        return UINT_SYNTAX;
    uint64_t v = 0;
    int overflow = 0;
    while (c->p < c->end && *c->p >= '0' && *c->p <= '9') {
        unsigned digit = (unsigned)(*c->p - '0');
        if (v > (UINT64_MAX - digit) / 10)
            overflow = 1;
        else
            v = v * 10 + digit;
        c->p++;
    }
    if (c->p < c->end && (*c->p == 'L' || *c->p == 'l'))
        c->p++;
    if (c->p < c->end && is_ident(*c->p))
        return UINT_SYNTAX;
    if (overflow)
        return UINT_OVERFLOW;
    *out = v;
    return UINT_OK;
}

static crmt_status parse_shape(cursor *c, crmti_npy_header *hdr, char *msg)
{
    if (!accept_char(c, '('))
        return crmti_fail(msg, CRMT_ERR_FORMAT, ".npy header: 'shape' is not a tuple");
    hdr->ndim = 0;
    if (accept_char(c, ')'))
        return CRMT_OK;
    for (;;) {
        if (peek(c) == '-')
            return crmti_fail(msg, CRMT_ERR_FORMAT, ".npy header: negative dimension in 'shape'");
        uint64_t v = 0;
        int r = parse_uint(c, &v);
        if (r == UINT_OVERFLOW)
            return crmti_fail(msg, CRMT_ERR_FORMAT,
                              ".npy header: dimension %d of 'shape' does not fit in 64 bits",
                              hdr->ndim);
        if (r != UINT_OK)
            return crmti_fail(msg, CRMT_ERR_FORMAT,
                              ".npy header: 'shape' is not a tuple of integers");
        if (hdr->ndim == CRMTI_NPY_MAX_DIMS)
            return crmti_fail(msg, CRMT_ERR_FORMAT,
                              ".npy header: 'shape' has more than %d dimensions",
                              CRMTI_NPY_MAX_DIMS);
        hdr->shape[hdr->ndim++] = v;
        if (accept_char(c, ',')) {
            if (accept_char(c, ')'))
                return CRMT_OK;
            continue;
        }
        if (accept_char(c, ')'))
            return CRMT_OK;
        return crmti_fail(msg, CRMT_ERR_FORMAT, ".npy header: 'shape' tuple is malformed");
    }
}

static uint32_t load_u32(const unsigned char *b, int big)
{
    if (big)
        return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
    return (uint32_t)b[3] << 24 | (uint32_t)b[2] << 16 | (uint32_t)b[1] << 8 | b[0];
}

static uint64_t load_u64(const unsigned char *b, int big)
{
    uint64_t hi = load_u32(big ? b : b + 4, big), lo = load_u32(big ? b + 4 : b, big);
    return hi << 32 | lo;
}

crmt_status crmti_npy_parse_header(const unsigned char *buf, size_t size,
                                   crmti_npy_header *hdr, char *msg)
{
    if (!hdr)
        return crmti_fail(msg, CRMT_ERR_INVALID_ARGUMENT, ".npy parser: header output is NULL");
    memset(hdr, 0, sizeof *hdr);
    if (!buf && size > 0)
        return crmti_fail(msg, CRMT_ERR_INVALID_ARGUMENT, ".npy parser: buffer is NULL");
    if (size < sizeof npy_magic || memcmp(buf, npy_magic, sizeof npy_magic) != 0)
        return crmti_fail(msg, CRMT_ERR_FORMAT,
                          "not an .npy file: missing the \\x93NUMPY magic (%zu bytes)", size);
    if (size < 8)
        return crmti_fail(msg, CRMT_ERR_FORMAT, ".npy file truncated in its version field");
    hdr->major = buf[6];
    hdr->minor = buf[7];
    if (hdr->major == 0)
        return crmti_fail(msg, CRMT_ERR_FORMAT, ".npy format version %d.%d is invalid",
                          hdr->major, hdr->minor);
    if (hdr->major > 3 || hdr->minor != 0)
        return crmti_fail(msg, CRMT_ERR_VERSION,
                          ".npy format version %d.%d is not supported (1.0, 2.0, 3.0 are)",
                          hdr->major, hdr->minor);
    size_t prefix = hdr->major == 1 ? 10 : 12;
    if (size < prefix)
        return crmti_fail(msg, CRMT_ERR_FORMAT, ".npy file truncated in its header length");
    uint64_t hlen = hdr->major == 1 ? (uint64_t)(buf[8] | buf[9] << 8) : load_u32(buf + 8, 0);
    if (hlen > size - prefix)
        return crmti_fail(msg, CRMT_ERR_FORMAT,
                          ".npy header truncated: it declares %llu bytes, %zu present",
                          (unsigned long long)hlen, size - prefix);
    hdr->data_offset = prefix + (size_t)hlen;

    cursor cur = {buf + prefix, buf + hdr->data_offset};
    cursor *c = &cur;
    int seen_descr = 0, seen_fortran = 0, seen_shape = 0;
    if (!accept_char(c, '{'))
        return crmti_fail(msg, CRMT_ERR_FORMAT, ".npy header is not a dict");
    if (!accept_char(c, '}')) {
        for (;;) {
            const unsigned char *key;
            size_t key_len;
            if (!parse_string(c, &key, &key_len))
                return crmti_fail(msg, CRMT_ERR_FORMAT, ".npy header: expected a quoted key");
            if (!accept_char(c, ':'))
                return crmti_fail(msg, CRMT_ERR_FORMAT, ".npy header: expected ':' after a key");
            if (key_is(key, key_len, "descr")) {
                if (seen_descr++)
                    return crmti_fail(msg, CRMT_ERR_FORMAT, ".npy header: duplicate 'descr'");
                if (peek(c) == '[')
                    return crmti_fail(msg, CRMT_ERR_UNSUPPORTED,
                                      ".npy: structured (record) dtypes are not supported");
                const unsigned char *s;
                size_t len;
                if (!parse_string(c, &s, &len))
                    return crmti_fail(msg, CRMT_ERR_FORMAT,
                                      ".npy header: 'descr' is not a string");
                hdr->descr_truncated = printable_copy(hdr->descr, sizeof hdr->descr, s, len);
            } else if (key_is(key, key_len, "fortran_order")) {
                if (seen_fortran++)
                    return crmti_fail(msg, CRMT_ERR_FORMAT,
                                      ".npy header: duplicate 'fortran_order'");
                if (accept_word(c, "True"))
                    hdr->fortran_order = 1;
                else if (accept_word(c, "False"))
                    hdr->fortran_order = 0;
                else
                    return crmti_fail(msg, CRMT_ERR_FORMAT,
                                      ".npy header: 'fortran_order' is not True or False");
            } else if (key_is(key, key_len, "shape")) {
                if (seen_shape++)
                    return crmti_fail(msg, CRMT_ERR_FORMAT, ".npy header: duplicate 'shape'");
                crmt_status st = parse_shape(c, hdr, msg);
                if (st != CRMT_OK)
                    return st;
            } else {
                char k[40];
                printable_copy(k, sizeof k, key, key_len);
                return crmti_fail(msg, CRMT_ERR_FORMAT, ".npy header: unexpected key '%s'", k);
            }
            if (accept_char(c, ',')) {
                if (accept_char(c, '}'))
                    break;
                continue;
            }
            if (accept_char(c, '}'))
                break;
            return crmti_fail(msg, CRMT_ERR_FORMAT, ".npy header: expected ',' or '}'");
        }
    }
    if (peek(c) != -1)
        return crmti_fail(msg, CRMT_ERR_FORMAT, ".npy header: unexpected bytes after the dict");
    if (!seen_descr || !seen_fortran || !seen_shape)
        return crmti_fail(msg, CRMT_ERR_FORMAT, ".npy header lacks the '%s' key",
                          !seen_descr ? "descr" : !seen_fortran ? "fortran_order" : "shape");
    return CRMT_OK;
}

/* ------------------------------------------------------------------------------------------
 * Whole-array parsing. */

enum dtype { DT_F4, DT_F8, DT_U1, DT_I4, DT_I8 };

static int host_big_endian(void)
{
    const uint16_t one = 1;
    unsigned char b;
    memcpy(&b, &one, 1);
    return b == 0;
}

/* Decode descr into a dtype and byte order; 0 when not one this reader knows. */
static int decode_descr(const crmti_npy_header *hdr, enum dtype *dt, int *big)
{
    if (hdr->descr_truncated)
        return 0;
    const char *d = hdr->descr;
    char order = '=';
    if (*d == '<' || *d == '>' || *d == '=' || *d == '|')
        order = *d++;
    static const struct {
        const char *name;
        enum dtype dt;
    } known[] = {{"f4", DT_F4}, {"f8", DT_F8}, {"u1", DT_U1}, {"i4", DT_I4}, {"i8", DT_I8}};
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++) {
        if (strcmp(d, known[i].name) != 0)
            continue;
        if (order == '|' && known[i].dt != DT_U1)
            return 0; /* "not applicable" byte order on a multi-byte type */
        *dt = known[i].dt;
        *big = order == '>' || (order == '=' && host_big_endian());
        return 1;
    }
    return 0;
}

static size_t dtype_size(enum dtype dt)
{
    switch (dt) {
    case DT_U1: return 1;
    case DT_F4:
    case DT_I4: return 4;
    case DT_F8:
    case DT_I8: return 8;
    }
    return 1;
}

/* "(a, b, c)" for messages, truncated with "..." when long. */
static void shape_text(const crmti_npy_header *hdr, char *out, size_t cap)
{
    size_t len = 0;
    int w = snprintf(out, cap, "(");
    len = w > 0 ? (size_t)w : 0;
    for (int i = 0; i < hdr->ndim && len < cap; i++) {
        w = snprintf(out + len, cap - len, "%s%llu", i ? ", " : "",
                     (unsigned long long)hdr->shape[i]);
        if (w < 0)
            break;
        len += (size_t)w;
    }
    if (len < cap)
        snprintf(out + len, cap - len, hdr->ndim == 1 ? ",)" : ")");
    if (len >= cap && cap > 4)
        memcpy(out + cap - 4, "...", 4);
}

crmt_status crmti_npy_parse(const unsigned char *buf, size_t size, crmti_npy_kind kind,
                            size_t expected_n, crmti_npy_array *out, char *msg)
{
    if (!out)
        return crmti_fail(msg, CRMT_ERR_INVALID_ARGUMENT, ".npy parser: output is NULL");
    memset(out, 0, sizeof *out);
    if (kind != CRMTI_NPY_FEATURES && kind != CRMTI_NPY_LABELS)
        return crmti_fail(msg, CRMT_ERR_INVALID_ARGUMENT, ".npy parser: unknown kind %d",
                          (int)kind);
    crmti_npy_header hdr;
    crmt_status st = crmti_npy_parse_header(buf, size, &hdr, msg);
    if (st != CRMT_OK)
        return st;

    const char *what = kind == CRMTI_NPY_FEATURES ? "features" : "labels";
    enum dtype dt = DT_U1;
    int big = 0;
    int known = decode_descr(&hdr, &dt, &big);
    if (known && kind == CRMTI_NPY_FEATURES && dt != DT_F4 && dt != DT_F8 && dt != DT_U1)
        known = 0;
    if (known && kind == CRMTI_NPY_LABELS && dt != DT_U1 && dt != DT_I4 && dt != DT_I8)
        known = 0;
    if (!known)
        return crmti_fail(msg, CRMT_ERR_UNSUPPORTED,
                          ".npy dtype '%s%s' is not supported for %s (supported: %s)",
                          hdr.descr, hdr.descr_truncated ? "..." : "", what,
                          kind == CRMTI_NPY_FEATURES ? "<f4 >f4 <f8 >f8 |u1"
                                                     : "|u1 <i4 >i4 <i8 >i8");
    if (hdr.fortran_order)
        return crmti_fail(msg, CRMT_ERR_UNSUPPORTED,
                          ".npy arrays in Fortran order are not supported (save a C-order "
                          "array, e.g. np.ascontiguousarray)");

    char shp[96];
    shape_text(&hdr, shp, sizeof shp);
    if (hdr.ndim == 0)
        return crmti_fail(msg, CRMT_ERR_SHAPE, ".npy %s: 0-d array, expected shape (n, ...)",
                          what);
    if (kind == CRMTI_NPY_LABELS && hdr.ndim != 1)
        return crmti_fail(msg, CRMT_ERR_SHAPE, ".npy labels: shape %s, expected (n,)", shp);
    for (int i = 0; i < hdr.ndim; i++)
        if (hdr.shape[i] == 0)
            return crmti_fail(msg, CRMT_ERR_SHAPE, ".npy %s: empty array of shape %s", what,
                              shp);

    /* Sizes, with every product checked, before anything is allocated. */
    uint64_t n = hdr.shape[0], dim = 1;
    for (int i = 1; i < hdr.ndim; i++) {
        if (dim > UINT64_MAX / hdr.shape[i])
            return crmti_fail(msg, CRMT_ERR_FORMAT, ".npy %s: shape %s overflows", what, shp);
        dim *= hdr.shape[i];
    }
    uint64_t itemsize = dtype_size(dt);
    if (n > UINT64_MAX / dim || n * dim > UINT64_MAX / itemsize)
        return crmti_fail(msg, CRMT_ERR_FORMAT, ".npy %s: shape %s overflows", what, shp);
    uint64_t total = n * dim, bytes = total * itemsize;
    size_t avail = size - hdr.data_offset;
    if (bytes > avail)
        return crmti_fail(msg, CRMT_ERR_FORMAT,
                          ".npy %s truncated: shape %s of '%s' needs %llu data bytes, %zu "
                          "present",
                          what, shp, hdr.descr, (unsigned long long)bytes, avail);
    if (bytes < avail)
        return crmti_fail(msg, CRMT_ERR_FORMAT,
                          ".npy %s: %llu unexpected bytes after the data of shape %s", what,
                          (unsigned long long)(avail - bytes), shp);
    if (expected_n != 0 && n != expected_n)
        return crmti_fail(msg, CRMT_ERR_SHAPE,
                          ".npy %s: shape %s has %llu samples, the dataset has %zu", what, shp,
                          (unsigned long long)n, expected_n);
    if (n > CRMTI_DATASET_MAX_SAMPLES)
        return crmti_fail(msg, CRMT_ERR_UNSUPPORTED, ".npy %s: %llu samples exceed the limit %zu",
                          what, (unsigned long long)n, (size_t)CRMTI_DATASET_MAX_SAMPLES);
    if (dim > CRMTI_DATASET_MAX_DIM)
        return crmti_fail(msg, CRMT_ERR_UNSUPPORTED,
                          ".npy features: dimension %llu exceeds the limit %zu",
                          (unsigned long long)dim, (size_t)CRMTI_DATASET_MAX_DIM);
    /* total <= avail <= SIZE_MAX, but 4 * total may not fit (|u1 data on 32-bit hosts). */
    if (total > SIZE_MAX / sizeof(float))
        return crmti_fail(msg, CRMT_ERR_OUT_OF_MEMORY, ".npy %s: %llu values do not fit in memory",
                          what, (unsigned long long)total);

    const unsigned char *src = buf + hdr.data_offset;
    size_t count = (size_t)total;
    if (kind == CRMTI_NPY_FEATURES) {
        float *f = malloc(count * sizeof *f);
        if (!f)
            return crmti_fail(msg, CRMT_ERR_OUT_OF_MEMORY,
                              ".npy features: cannot allocate %zu floats", count);
        for (size_t i = 0; i < count; i++) {
            float v;
            if (dt == DT_U1) {
                v = (float)src[i];
            } else if (dt == DT_F4) {
                uint32_t u = load_u32(src + 4 * i, big);
                memcpy(&v, &u, sizeof v);
                if (!isfinite(v)) {
                    free(f);
                    return crmti_fail(msg, CRMT_ERR_NON_FINITE,
                                      ".npy features: %s at sample %zu, feature %zu",
                                      isnan(v) ? "NaN" : "infinity", i / (size_t)dim,
                                      i % (size_t)dim);
                }
            } else {
                uint64_t u = load_u64(src + 8 * i, big);
                double d;
                memcpy(&d, &u, sizeof d);
                if (!isfinite(d) || fabs(d) > FLT_MAX) {
                    free(f);
                    return crmti_fail(msg, CRMT_ERR_NON_FINITE,
                                      ".npy features: %s at sample %zu, feature %zu",
                                      isnan(d)      ? "NaN"
                                      : isinf(d)    ? "infinity"
                                                    : "float64 value beyond the float32 range",
                                      i / (size_t)dim, i % (size_t)dim);
                }
                v = (float)d;
            }
            f[i] = v;
        }
        out->f32 = f;
    } else {
        int32_t *l = malloc(count * sizeof *l);
        if (!l)
            return crmti_fail(msg, CRMT_ERR_OUT_OF_MEMORY,
                              ".npy labels: cannot allocate %zu labels", count);
        for (size_t i = 0; i < count; i++) {
            uint64_t u;
            int negative;
            if (dt == DT_U1) {
                u = src[i];
                negative = 0;
            } else if (dt == DT_I4) {
                u = load_u32(src + 4 * i, big);
                negative = (u >> 31) != 0;
            } else {
                u = load_u64(src + 8 * i, big);
                negative = (u >> 63) != 0;
            }
            if (negative || u > INT32_MAX) {
                free(l);
                if (negative)
                    return crmti_fail(msg, CRMT_ERR_INVALID_ARGUMENT,
                                      ".npy labels: label at index %zu is negative", i);
                return crmti_fail(msg, CRMT_ERR_INVALID_ARGUMENT,
                                  ".npy labels: label %llu at index %zu exceeds INT32_MAX",
                                  (unsigned long long)u, i);
            }
            l[i] = (int32_t)u;
        }
        out->i32 = l;
    }
    out->n = (size_t)n;
    out->dim = (size_t)dim;
    return CRMT_OK;
}

void crmti_npy_array_free(crmti_npy_array *a)
{
    if (!a)
        return;
    free(a->f32);
    free(a->i32);
    memset(a, 0, sizeof *a);
}

/* ------------------------------------------------------------------------------------------
 * Files. */

/* The last 96 bytes of a path, for messages. */
static const char *path_tail(const char *path, const char **ellipsis)
{
    size_t len = strlen(path);
    *ellipsis = len > 96 ? "..." : "";
    return len > 96 ? path + len - 96 : path;
}

static void errno_text(int err, char *out, size_t cap)
{
    if (strerror_r(err, out, cap) != 0)
        snprintf(out, cap, "errno %d", err);
}

crmt_status crmti_npy_read_file(const char *path, unsigned char **buf, size_t *size,
                                char *msg)
{
    if (!buf || !size)
        return crmti_fail(msg, CRMT_ERR_INVALID_ARGUMENT, "read file: output is NULL");
    *buf = NULL;
    *size = 0;
    if (!path)
        return crmti_fail(msg, CRMT_ERR_INVALID_ARGUMENT, "read file: path is NULL");
    const char *dots, *tail = path_tail(path, &dots);
    char why[128];
    FILE *f = fopen(path, "rb");
    if (!f) {
        errno_text(errno, why, sizeof why);
        return crmti_fail(msg, CRMT_ERR_IO, "cannot open '%s%s': %s", dots, tail, why);
    }
    struct stat sb;
    if (fstat(fileno(f), &sb) != 0) {
        errno_text(errno, why, sizeof why);
        fclose(f);
        return crmti_fail(msg, CRMT_ERR_IO, "cannot stat '%s%s': %s", dots, tail, why);
    }
    if (!S_ISREG(sb.st_mode)) {
        fclose(f);
        return crmti_fail(msg, CRMT_ERR_IO, "'%s%s' is not a regular file", dots, tail);
    }
    if (sb.st_size < 0 || (uintmax_t)sb.st_size >= SIZE_MAX) {
        fclose(f);
        return crmti_fail(msg, CRMT_ERR_OUT_OF_MEMORY, "'%s%s' is too large to load", dots,
                          tail);
    }
    size_t len = (size_t)sb.st_size;
    unsigned char *b = malloc(len ? len : 1);
    if (!b) {
        fclose(f);
        return crmti_fail(msg, CRMT_ERR_OUT_OF_MEMORY, "cannot allocate %zu bytes to read '%s%s'",
                          len, dots, tail);
    }
    size_t got = len ? fread(b, 1, len, f) : 0;
    int err = ferror(f) ? errno : 0;
    fclose(f);
    if (got != len) {
        free(b);
        if (err)
            errno_text(err, why, sizeof why);
        else
            snprintf(why, sizeof why, "file shrank while reading");
        return crmti_fail(msg, CRMT_ERR_IO, "cannot read '%s%s': %s", dots, tail, why);
    }
    *buf = b;
    *size = len;
    return CRMT_OK;
}

crmt_status crmti_npy_load(const char *path, crmti_npy_kind kind, size_t expected_n,
                           crmti_npy_array *out, char *msg)
{
    if (!out)
        return crmti_fail(msg, CRMT_ERR_INVALID_ARGUMENT, ".npy load: output is NULL");
    memset(out, 0, sizeof *out);
    unsigned char *buf;
    size_t size;
    crmt_status st = crmti_npy_read_file(path, &buf, &size, msg);
    if (st != CRMT_OK)
        return st;
    char why[CRMTI_ERRMSG_SIZE];
    st = crmti_npy_parse(buf, size, kind, expected_n, out, why);
    free(buf);
    if (st != CRMT_OK) {
        const char *dots, *tail = path_tail(path, &dots);
        return crmti_fail(msg, st, "%s (file '%s%s')", why, dots, tail);
    }
    return CRMT_OK;
}
