/* Internal: the model, its spec, and the forward/backward passes over a workspace.
 *
 * Parameter layout (one flat float vector, gradients in a vector of the same layout):
 *   for each modality m: each linear layer of its encoder (W out x in row-major, then b),
 *     then its head block: W_m (JT) or V_m (CRMT), K x d_m
 *   CRMT only: a (M x K, row m = a_m)
 *   b (K)
 */
#ifndef CRMTI_MODEL_H
#define CRMTI_MODEL_H

#include <stdint.h>

#include "api/error.h"
#include "crmt/model.h"
#include "nn/layer.h"

#define CRMTI_MAX_LAYERS 64
#define CRMTI_NAME_SIZE 32
/* Largest accepted dimension of anything (inputs, layers, classes): keeps sizes products
 * far from overflow and lets loaders validate before allocating. */
#define CRMTI_MAX_DIM (1 << 24)
#define CRMTI_MAX_CLASSES 65536

typedef struct crmti_layer_spec {
    int kind;     /* crmti_layer_kind */
    int out_dim;  /* LINEAR: outputs; CONV2D: output channels; otherwise 0 */
    int kernel;   /* CONV2D, AVGPOOL, MAXPOOL: window size k (k x k); otherwise 0 */
    int stride;   /* CONV2D, AVGPOOL, MAXPOOL: stride; otherwise 0 */
    int pad;      /* CONV2D: zero padding on every side; otherwise 0 */
} crmti_layer_spec;

typedef struct crmti_modality_spec {
    char name[CRMTI_NAME_SIZE];
    int input_dim;
    /* Image-shaped input (crmt_spec_add_modality_image): channels x height x width =
     * input_dim, sample layout C x H x W. All three 0 for a flat vector. */
    int channels, height, width;
    int n_layers;
    crmti_layer_spec layers[CRMTI_MAX_LAYERS];
} crmti_modality_spec;

/* Shape of the values between two layers: an image C x H x W (image = 1), or a vector of c
 * values (image = 0, h = w = 1). A linear layer accepts either (an image is read in its
 * C x H x W memory order, i.e. flattened); conv2d and pooling need an image. */
typedef struct crmti_shape {
    int c, h, w;
    int image;
} crmti_shape;

/* Input shape of a (validated) modality. */
void crmti_modality_shape(const crmti_modality_spec *ms, crmti_shape *shape);

/* Check layer l (spec ls) of modality m against the shape of its input and replace *shape by
 * the shape of its output. Every field is checked (sizes, kernel, stride, padding, that the
 * layer fits its input); failures record a message naming modality and layer, into msg too
 * when it is not NULL, with status CRMT_ERR_INVALID_ARGUMENT. */
crmt_status crmti_layer_spec_check(const crmti_layer_spec *ls, crmti_shape *shape, int m, int l,
                                   char *msg);

struct crmt_spec {
    int n_classes;
    int n_modalities;
    int head;               /* crmt_head_kind */
    int head_norm;          /* crmt_head_norm as requested */
    double integration_init;
    crmti_modality_spec mod[CRMT_MAX_MODALITIES];
};

typedef struct crmti_encoder {
    int n_layers;
    int in_size, out_size;
    crmti_layer layers[CRMTI_MAX_LAYERS];
} crmti_encoder;

struct crmt_model {
    crmt_spec spec;           /* what the model was built from (saved in files) */
    int n_mod, n_classes;
    crmti_encoder enc[CRMT_MAX_MODALITIES];
    int orthonormal[CRMT_MAX_MODALITIES]; /* CRMT head: resolved norm per modality */
    size_t head_w_offset[CRMT_MAX_MODALITIES]; /* W_m (JT) or V_m (CRMT) */
    size_t head_a_offset;     /* CRMT: a (M x K) */
    size_t head_b_offset;     /* b (K) */
    size_t n_params;
    float *params;
    float *grads;             /* training scratch, same layout as params */
    uint64_t generation;      /* incremented whenever params change (stale-certifier check) */
    struct crmti_train_state *train_state; /* buffers of crmt_train / crmt_train_step, sized
                                              on first use and kept for the next steps */
    char errmsg[CRMTI_ERRMSG_SIZE];
};

/* Per-call buffers of a forward/backward pass for batches up to max_batch. Owned by one
 * thread at a time; a model can have any number of them (one per concurrent caller). */
typedef struct crmti_ws {
    int max_batch;
    /* act[m][l] = output of layer l of modality m (max_batch x out_size); the encoder
     * input is the caller's pointer. feat[m] = act[m][last] or the input when no layers.
     * A flatten layer l > 0 shares its buffer with layer l - 1 (it changes no value). */
    float *act[CRMT_MAX_MODALITIES][CRMTI_MAX_LAYERS];
    const float *feat[CRMT_MAX_MODALITIES];
    float *wt[CRMT_MAX_MODALITIES];     /* head rows used this pass: W_m (JT) or Wt_m (CRMT) */
    double *norm_cache[CRMT_MAX_MODALITIES]; /* CRMT head normalisation state for backward */
    /* CRMT: the V_m (K x d_m floats) and row mode that wt[m] and norm_cache[m] were computed
     * from; a forward pass whose V_m is bitwise the same reuses them (queries and attacks run
     * many passes with unchanged parameters). head_valid[m] = 0 until the first pass. */
    float *head_key[CRMT_MAX_MODALITIES];
    int head_key_ortho[CRMT_MAX_MODALITIES];
    int head_valid[CRMT_MAX_MODALITIES];
    float *g[CRMT_MAX_MODALITIES];      /* uni-modal logits, max_batch x K (CRMT only) */
    float *logits;                      /* fused logits, max_batch x K */
    float *dlogits;                     /* dL/dlogits, filled by the caller before backward */
    float *dwt[CRMT_MAX_MODALITIES];    /* dL/dWt_m scratch (CRMT) */
    float *dg[CRMT_MAX_MODALITIES];     /* extra dL/dg_m (CRMT), used when dg_active; the
                                           backward pass overwrites it and clears dg_active */
    int dg_active;
    float *grad_a, *grad_b;             /* ping-pong encoder gradient buffers */
    float *layer_scratch;               /* im2col buffers of the conv layers (shared; the
                                           largest crmti_layer_scratch_size, max_batch) */
    double *scratch;                    /* head normalisation scratch */
    float *float_block;                 /* the two allocations everything above points into */
    double *double_block;
} crmti_ws;

/* Spec helpers (shared by the public API and by the loader). Validate every field. */
crmt_status crmti_spec_validate(const crmt_spec *spec, char *msg);

/* Build a model from a validated spec: allocates, lays out parameters, initialises them from
 * seed. */
crmt_status crmti_model_build(crmt_model **out, const crmt_spec *spec, uint64_t seed);

crmti_ws *crmti_ws_create(const crmt_model *model, int max_batch);
void crmti_ws_destroy(crmti_ws *ws);

/* Forward pass of `batch` samples: fills act, feat, wt, g (CRMT) and logits. */
void crmti_forward(const crmt_model *model, crmti_ws *ws, const float *const *inputs,
                   int batch);

/* Backward pass after crmti_forward on the same ws and inputs. Reads ws->dlogits and, when
 * ws->dg_active, ws->dg. Writes dL/dparams into dparams (when not NULL; every parameter's
 * slot is overwritten, so dparams needs no zeroing). When dinputs is not NULL,
 * dinputs[m] (when not NULL) receives dL/dx_m (batch x n_m, overwritten). */
void crmti_backward(const crmt_model *model, crmti_ws *ws, const float *const *inputs,
                    int batch, float *dparams, float *const *dinputs);

/* Encoder of one modality alone: out = phi_m(x) for batch samples via ws buffers; returns the
 * feature pointer (inside ws or the input itself). */
const float *crmti_encode(const crmt_model *model, crmti_ws *ws, int m, const float *input,
                          int batch);

/* Head rows of modality m as used by the forward pass (W_m or normalised Wt_m), K x d_m,
 * written to out. Returns CRMT_ERR_OUT_OF_MEMORY when the normalisation cache cannot be
 * allocated. */
crmt_status crmti_head_rows(const crmt_model *model, int m, float *out);

/* Integration weights a (M x K) of a CRMT head, or NULL for JT. */
const float *crmti_integration(const crmt_model *model);

/* Check n samples of inputs against the model (non-NULL pointers, finite values). */
crmt_status crmti_check_inputs(const crmt_model *model, const float *const *inputs, size_t n,
                               char *msg);

#endif
