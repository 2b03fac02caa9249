/* libcrmt: status codes, error messages, export macro, runtime version.
 *
 * Error model (the same for every function of the library):
 *  - every fallible call returns a crmt_status; CRMT_OK is 0, errors are negative;
 *  - values are pinned forever: a new status gets a new number, none is reused;
 *  - "not certified", "stopped by the host" and similar outcomes are results, reported
 *    through output fields, never through an error status;
 *  - every failing call stores a detailed message for the calling thread, read with
 *    crmt_last_error(); calls that take a non-const handle also store it in the handle
 *    (crmt_model_errmsg() and friends);
 *  - nothing in the library prints, exits or aborts.
 */
#ifndef CRMT_COMMON_H
#define CRMT_COMMON_H

#include <stddef.h>
#include <stdint.h>

#include "crmt/version.h"

#if defined(CRMT_STATIC_DEFINE)
#define CRMT_API
#elif defined(_WIN32)
#if defined(CRMT_BUILDING_LIBRARY)
#define CRMT_API __declspec(dllexport)
#else
#define CRMT_API __declspec(dllimport)
#endif
#elif defined(__GNUC__) || defined(__clang__)
#define CRMT_API __attribute__((visibility("default")))
#else
#define CRMT_API
#endif

#ifdef __cplusplus
extern "C" {
#endif

/** Status of a call. Values are part of the ABI and never change. */
typedef enum crmt_status {
    CRMT_OK = 0,
    /** A pointer was NULL, a size was zero or too large, or an option was out of range. */
    CRMT_ERR_INVALID_ARGUMENT = -1,
    /** An allocation failed. The handle is unchanged. */
    CRMT_ERR_OUT_OF_MEMORY = -2,
    /** Input data contained NaN or infinity. */
    CRMT_ERR_NON_FINITE = -3,
    /** Modality count, dimension or class count does not match the model or dataset. */
    CRMT_ERR_SHAPE = -4,
    /** The operating system refused a file operation (open, read, write, rename). */
    CRMT_ERR_IO = -5,
    /** A file or buffer is truncated, corrupted or not in the expected format. */
    CRMT_ERR_FORMAT = -6,
    /** A file was written by a newer format version than this library reads. */
    CRMT_ERR_VERSION = -7,
    /** A valid request this build or this model does not support (e.g. an .npy dtype). */
    CRMT_ERR_UNSUPPORTED = -8,
    /** A call made in the wrong state: e.g. a certifier whose model changed after creation. */
    CRMT_ERR_STATE = -9,
    /** Training produced a non-finite loss; the last good parameters were kept. */
    CRMT_ERR_DIVERGED = -10
} crmt_status;

/** Static English text for a status ("invalid argument", ...). Never NULL. */
CRMT_API const char *crmt_status_string(crmt_status status);

/** Detailed message of the last failed call on this thread ("" if none). Valid until the next
 *  failing call on the same thread. */
CRMT_API const char *crmt_last_error(void);

/** Forget the calling thread's last error message. */
CRMT_API void crmt_clear_error(void);

/** Runtime version: CRMT_VERSION_NUMBER and CRMT_VERSION_STRING of the library actually
 *  linked. A host can compare them with the header's macros (sqlite-style check). */
CRMT_API unsigned crmt_version_number(void);
CRMT_API const char *crmt_version_string(void);

/** Ownership of host buffers handed to the library. */
typedef enum crmt_ownership {
    /** The library copies the data; the host may free its buffer on return. */
    CRMT_COPY = 0,
    /** The library keeps the pointer; the buffer must outlive the handle and stay unchanged. */
    CRMT_BORROW = 1
} crmt_ownership;

/** How Lipschitz constants of the encoders are obtained. Values pinned.
 *  Every result built on them says which one was used. */
typedef enum crmt_lipschitz_method {
    /** Guaranteed upper bounds (provable operator-norm bounds): certificates are sound. */
    CRMT_LIPSCHITZ_SOUND = 0,
    /** Largest input-gradient norm seen on a dataset: an estimate, not a guarantee. */
    CRMT_LIPSCHITZ_EMPIRICAL = 1
} crmt_lipschitz_method;

/** Largest number of modalities a model can have. */
#define CRMT_MAX_MODALITIES 16

#ifdef __cplusplus
}
#endif

#endif /* CRMT_COMMON_H */
