/* libcrmt: model definition (spec), model handle, queries, save and load.
 *
 * A model has M modalities (1..CRMT_MAX_MODALITIES). Modality m has its own encoder
 * phi_m: R^{n_m} -> R^{d_m}, a stack of layers added in order with crmt_spec_add_*().
 * The encoders feed one linear fusion head over K classes:
 *  - CRMT_HEAD_JT (joint training): logits = sum_m W_m phi_m(x_m) + b;
 *  - CRMT_HEAD_CRMT: uni-modal logits g_m = Wt_m phi_m(x_m) with unit-norm class rows
 *    (Wt_m derived from a free parameter on every forward pass), fused logits
 *    h_k = sum_m a_{m,k} g_{m,k} + b_k with per-modality integration weights a_m.
 *
 * Inputs of a batch of n samples are passed as M pointers, one per modality; pointer m
 * addresses n * n_m floats, sample-major (sample i starts at i * n_m).
 *
 * Threading: a crmt_model may be used by one thread at a time for calls that take a
 * non-const pointer (training, optimizer steps). Calls that take a const crmt_model*
 * (queries, save) may run concurrently with each other on the same model. Distinct
 * handles are independent.
 */
#ifndef CRMT_MODEL_H
#define CRMT_MODEL_H

#include "crmt/common.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Model definition under construction. Owned by the host; destroy with crmt_spec_destroy. */
typedef struct crmt_spec crmt_spec;
/** A model: encoders, head and parameters. Destroy with crmt_model_destroy. */
typedef struct crmt_model crmt_model;

/** Fusion head. Values pinned. */
typedef enum crmt_head_kind {
    CRMT_HEAD_JT = 0,
    CRMT_HEAD_CRMT = 1
} crmt_head_kind;

/** How a CRMT head maps its free parameter V_m to Wt_m. Values pinned. */
typedef enum crmt_head_norm {
    /** Orthonormal rows when K <= d_m, otherwise row-normalised (the default). */
    CRMT_NORM_AUTO = 0,
    /** Each row centred and scaled to unit l2 norm (the official release's choice). */
    CRMT_NORM_ROWS = 1,
    /** Orthonormal rows, Wt Wt^T = I (the paper's intent; needs K <= d_m). */
    CRMT_NORM_ORTHONORMAL = 2
} crmt_head_norm;

/** Spec options, set with crmt_spec_set(). Values pinned. */
typedef enum crmt_spec_param {
    /** crmt_head_kind; default CRMT_HEAD_JT. */
    CRMT_SPEC_HEAD = 0,
    /** crmt_head_norm; default CRMT_NORM_AUTO. Only used by CRMT heads. */
    CRMT_SPEC_HEAD_NORM = 1,
    /** Initial value of every integration weight a_{m,k}; default 0.1, range [0, 1e3]. */
    CRMT_SPEC_INTEGRATION_INIT = 2
} crmt_spec_param;

CRMT_API crmt_status crmt_spec_create(crmt_spec **out, int n_classes);
CRMT_API void crmt_spec_destroy(crmt_spec *spec);

/** Add a modality whose input is a flat vector of input_dim floats. Its index (0, 1, ...)
 *  is written to *index_out when index_out is not NULL. name: up to 31 bytes, may be NULL. */
CRMT_API crmt_status crmt_spec_add_modality(crmt_spec *spec, const char *name, int input_dim,
                                            int *index_out);
/** Append a fully connected layer with out_dim outputs to modality's encoder. */
CRMT_API crmt_status crmt_spec_add_linear(crmt_spec *spec, int modality, int out_dim);
/** Append a ReLU to modality's encoder. */
CRMT_API crmt_status crmt_spec_add_relu(crmt_spec *spec, int modality);
/** Add a modality whose input is an image of channels x height x width floats per sample,
 *  stored channel by channel, each channel row-major (NCHW for a batch: value (c, y, x) of
 *  sample i at i * C*H*W + (c*H + y)*W + x); its input size is C*H*W. Convolution and pooling
 *  layers may only follow an image (see docs/conv.md). */
CRMT_API crmt_status crmt_spec_add_modality_image(crmt_spec *spec, const char *name,
                                                  int channels, int height, int width,
                                                  int *index_out);
/** Append a 2-D convolution with out_channels filters of kernel x kernel, the given stride
 *  (>= 1) and zero padding (0 .. kernel/2) on every side. Output size per dimension:
 *  (in + 2 padding - kernel) / stride + 1, which must be >= 1. Needs an image-shaped input. */
CRMT_API crmt_status crmt_spec_add_conv2d(crmt_spec *spec, int modality, int out_channels,
                                          int kernel, int stride, int padding);
/** Append average pooling over kernel x kernel windows with the given stride (windows may
 *  overlap), per channel, without padding: output (in - kernel) / stride + 1. */
CRMT_API crmt_status crmt_spec_add_avgpool(crmt_spec *spec, int modality, int kernel,
                                           int stride);
/** Append max pooling (as crmt_spec_add_avgpool, taking the maximum of each window). */
CRMT_API crmt_status crmt_spec_add_maxpool(crmt_spec *spec, int modality, int kernel,
                                           int stride);
/** Append a flatten: the C x H x W image becomes a vector of C*H*W values (no value changes).
 *  Optional before a linear layer, which reads an image in this order anyway; after it (or
 *  after any linear layer) no convolution or pooling may follow. */
CRMT_API crmt_status crmt_spec_add_flatten(crmt_spec *spec, int modality);
/** Set a spec option (see crmt_spec_param); out-of-range values are rejected. */
CRMT_API crmt_status crmt_spec_set(crmt_spec *spec, crmt_spec_param param, double value);

/** Build a model from a spec, initialising parameters deterministically from seed
 *  (the same spec and seed give bit-identical parameters). The spec is not retained. */
CRMT_API crmt_status crmt_model_create(crmt_model **out, const crmt_spec *spec, uint64_t seed);
CRMT_API void crmt_model_destroy(crmt_model *model);

/** Detailed message of the last failed call that took this model as non-const ("" if none,
 *  and "" for a NULL model, like the other handles). */
CRMT_API const char *crmt_model_errmsg(const crmt_model *model);

CRMT_API int crmt_model_num_modalities(const crmt_model *model);
CRMT_API int crmt_model_num_classes(const crmt_model *model);
/** Input size n_m of a modality, or -1 when model is NULL or modality out of range. */
CRMT_API int crmt_model_input_dim(const crmt_model *model, int modality);
/** Feature size d_m (encoder output), or -1. */
CRMT_API int crmt_model_feature_dim(const crmt_model *model, int modality);
CRMT_API crmt_head_kind crmt_model_head(const crmt_model *model);
/** Number of trainable scalars. */
CRMT_API size_t crmt_model_num_parameters(const crmt_model *model);

/** Predict n samples. labels_out (n values) and logits_out (n*K fused logits, sample-major)
 *  may each be NULL, not both. Inputs containing NaN/Inf give CRMT_ERR_NON_FINITE. */
CRMT_API crmt_status crmt_model_predict(const crmt_model *model, const float *const *inputs,
                                        size_t n, int32_t *labels_out, float *logits_out);

/** Uni-modal logits g_m of a CRMT head for modality m only (n*K floats). Needs only that
 *  modality's input. JT heads give CRMT_ERR_UNSUPPORTED. */
CRMT_API crmt_status crmt_model_unimodal_logits(const crmt_model *model, int modality,
                                                const float *input, size_t n,
                                                float *logits_out);

/** Integration weights of a CRMT head: K floats for modality m. */
CRMT_API crmt_status crmt_model_get_integration(const crmt_model *model, int modality,
                                                float *out, size_t capacity);

/** Save to a file, atomically (temporary file in the same directory, then rename): on any
 *  failure an existing file at path is left as it was. */
CRMT_API crmt_status crmt_model_save(const crmt_model *model, const char *path);
/** Load a model saved by crmt_model_save. */
CRMT_API crmt_status crmt_model_load(crmt_model **out, const char *path);
/** Serialise to memory. With buffer NULL (capacity ignored), only writes the needed size to
 *  *size_out. With a buffer smaller than needed, returns CRMT_ERR_INVALID_ARGUMENT and the
 *  needed size. */
CRMT_API crmt_status crmt_model_save_buffer(const crmt_model *model, void *buffer,
                                            size_t capacity, size_t *size_out);
CRMT_API crmt_status crmt_model_load_buffer(crmt_model **out, const void *buffer, size_t size);

#ifdef __cplusplus
}
#endif

#endif /* CRMT_MODEL_H */
