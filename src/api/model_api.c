/* Public spec and model functions: argument checking and handle lifetime. */
#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "model/model.h"
#include "train/trainer.h"

/* Queries process inputs in chunks of this many samples (bounded workspace). */
#define QUERY_CHUNK 256

crmt_status crmt_spec_create(crmt_spec **out, int n_classes)
{
    if (!out)
        return crmti_fail(NULL, CRMT_ERR_INVALID_ARGUMENT, "out is NULL");
    *out = NULL;
    if (n_classes < 2 || n_classes > CRMTI_MAX_CLASSES)
        return crmti_fail(NULL, CRMT_ERR_INVALID_ARGUMENT, "n_classes %d outside [2, %d]",
                          n_classes, CRMTI_MAX_CLASSES);
    crmt_spec *spec = calloc(1, sizeof *spec);
    if (!spec)
        return crmti_fail(NULL, CRMT_ERR_OUT_OF_MEMORY, "cannot allocate a spec");
    spec->n_classes = n_classes;
    spec->head = CRMT_HEAD_JT;
    spec->head_norm = CRMT_NORM_AUTO;
    spec->integration_init = 0.1;
    *out = spec;
    return CRMT_OK;
}

void crmt_spec_destroy(crmt_spec *spec) { free(spec); }

crmt_status crmt_spec_add_modality(crmt_spec *spec, const char *name, int input_dim,
                                   int *index_out)
{
    if (!spec)
        return crmti_fail(NULL, CRMT_ERR_INVALID_ARGUMENT, "spec is NULL");
    if (spec->n_modalities >= CRMT_MAX_MODALITIES)
        return crmti_fail(NULL, CRMT_ERR_INVALID_ARGUMENT, "already %d modalities (the maximum)",
                          CRMT_MAX_MODALITIES);
    if (input_dim < 1 || input_dim > CRMTI_MAX_DIM)
        return crmti_fail(NULL, CRMT_ERR_INVALID_ARGUMENT, "input_dim %d outside [1, %d]",
                          input_dim, CRMTI_MAX_DIM);
    if (name && strlen(name) >= CRMTI_NAME_SIZE)
        return crmti_fail(NULL, CRMT_ERR_INVALID_ARGUMENT, "modality name longer than %d bytes",
                          CRMTI_NAME_SIZE - 1);
    int m = spec->n_modalities++;
    crmti_modality_spec *ms = &spec->mod[m];
    memset(ms, 0, sizeof *ms);
    if (name)
        memcpy(ms->name, name, strlen(name) + 1);
    ms->input_dim = input_dim;
    if (index_out)
        *index_out = m;
    return CRMT_OK;
}

static crmt_status add_layer(crmt_spec *spec, int modality, int kind, int out_dim)
{
    if (!spec)
        return crmti_fail(NULL, CRMT_ERR_INVALID_ARGUMENT, "spec is NULL");
    if (modality < 0 || modality >= spec->n_modalities)
        return crmti_fail(NULL, CRMT_ERR_INVALID_ARGUMENT,
                          "modality %d does not exist (%d defined)", modality,
                          spec->n_modalities);
    crmti_modality_spec *ms = &spec->mod[modality];
    if (ms->n_layers >= CRMTI_MAX_LAYERS)
        return crmti_fail(NULL, CRMT_ERR_INVALID_ARGUMENT, "modality %d already has %d layers",
                          modality, CRMTI_MAX_LAYERS);
    memset(&ms->layers[ms->n_layers], 0, sizeof ms->layers[ms->n_layers]);
    ms->layers[ms->n_layers].kind = kind;
    ms->layers[ms->n_layers].out_dim = out_dim;
    ms->n_layers++;
    return CRMT_OK;
}

crmt_status crmt_spec_add_modality_image(crmt_spec *spec, const char *name, int channels,
                                         int height, int width, int *index_out)
{
    if (!spec)
        return crmti_fail(NULL, CRMT_ERR_INVALID_ARGUMENT, "spec is NULL");
    if (channels < 1 || height < 1 || width < 1)
        return crmti_fail(NULL, CRMT_ERR_INVALID_ARGUMENT,
                          "image shape %d x %d x %d: channels, height and width must be >= 1",
                          channels, height, width);
    if ((double)channels * height * width > CRMTI_MAX_DIM)
        return crmti_fail(NULL, CRMT_ERR_INVALID_ARGUMENT,
                          "image shape %d x %d x %d has more than %d values", channels, height,
                          width, CRMTI_MAX_DIM);
    int m;
    crmt_status st = crmt_spec_add_modality(spec, name, channels * height * width, &m);
    if (st != CRMT_OK)
        return st;
    spec->mod[m].channels = channels;
    spec->mod[m].height = height;
    spec->mod[m].width = width;
    if (index_out)
        *index_out = m;
    return CRMT_OK;
}

/* Append an image-shaped layer after checking it against the shape of its input (the
 * output of the layers already there). */
static crmt_status add_image_layer(crmt_spec *spec, int modality, crmti_layer_spec ls)
{
    if (!spec)
        return crmti_fail(NULL, CRMT_ERR_INVALID_ARGUMENT, "spec is NULL");
    if (modality < 0 || modality >= spec->n_modalities)
        return crmti_fail(NULL, CRMT_ERR_INVALID_ARGUMENT,
                          "modality %d does not exist (%d defined)", modality,
                          spec->n_modalities);
    crmti_modality_spec *ms = &spec->mod[modality];
    if (ms->n_layers >= CRMTI_MAX_LAYERS)
        return crmti_fail(NULL, CRMT_ERR_INVALID_ARGUMENT, "modality %d already has %d layers",
                          modality, CRMTI_MAX_LAYERS);
    crmti_shape shape;
    crmti_modality_shape(ms, &shape);
    for (int l = 0; l <= ms->n_layers; l++) {
        crmt_status st = crmti_layer_spec_check(l < ms->n_layers ? &ms->layers[l] : &ls, &shape,
                                                modality, l, NULL);
        if (st != CRMT_OK)
            return st;
    }
    ms->layers[ms->n_layers++] = ls;
    return CRMT_OK;
}

crmt_status crmt_spec_add_conv2d(crmt_spec *spec, int modality, int out_channels, int kernel,
                                 int stride, int padding)
{
    crmti_layer_spec ls = {CRMTI_LAYER_CONV2D, out_channels, kernel, stride, padding};
    return add_image_layer(spec, modality, ls);
}

crmt_status crmt_spec_add_avgpool(crmt_spec *spec, int modality, int kernel, int stride)
{
    crmti_layer_spec ls = {CRMTI_LAYER_AVGPOOL, 0, kernel, stride, 0};
    return add_image_layer(spec, modality, ls);
}

crmt_status crmt_spec_add_maxpool(crmt_spec *spec, int modality, int kernel, int stride)
{
    crmti_layer_spec ls = {CRMTI_LAYER_MAXPOOL, 0, kernel, stride, 0};
    return add_image_layer(spec, modality, ls);
}

crmt_status crmt_spec_add_flatten(crmt_spec *spec, int modality)
{
    crmti_layer_spec ls = {CRMTI_LAYER_FLATTEN, 0, 0, 0, 0};
    return add_image_layer(spec, modality, ls);
}

crmt_status crmt_spec_add_linear(crmt_spec *spec, int modality, int out_dim)
{
    if (out_dim < 1 || out_dim > CRMTI_MAX_DIM)
        return crmti_fail(NULL, CRMT_ERR_INVALID_ARGUMENT, "out_dim %d outside [1, %d]", out_dim,
                          CRMTI_MAX_DIM);
    return add_layer(spec, modality, CRMTI_LAYER_LINEAR, out_dim);
}

crmt_status crmt_spec_add_relu(crmt_spec *spec, int modality)
{
    return add_layer(spec, modality, CRMTI_LAYER_RELU, 0);
}

crmt_status crmt_spec_set(crmt_spec *spec, crmt_spec_param param, double value)
{
    if (!spec)
        return crmti_fail(NULL, CRMT_ERR_INVALID_ARGUMENT, "spec is NULL");
    switch (param) {
    case CRMT_SPEC_HEAD:
        if (value != CRMT_HEAD_JT && value != CRMT_HEAD_CRMT)
            return crmti_fail(NULL, CRMT_ERR_INVALID_ARGUMENT, "unknown head kind %g", value);
        spec->head = (int)value;
        return CRMT_OK;
    case CRMT_SPEC_HEAD_NORM:
        if (value != CRMT_NORM_AUTO && value != CRMT_NORM_ROWS && value != CRMT_NORM_ORTHONORMAL)
            return crmti_fail(NULL, CRMT_ERR_INVALID_ARGUMENT, "unknown head norm %g", value);
        spec->head_norm = (int)value;
        return CRMT_OK;
    case CRMT_SPEC_INTEGRATION_INIT:
        if (!(value >= 0.0 && value <= 1e3))
            return crmti_fail(NULL, CRMT_ERR_INVALID_ARGUMENT,
                              "integration init %g outside [0, 1000]", value);
        spec->integration_init = value;
        return CRMT_OK;
    }
    return crmti_fail(NULL, CRMT_ERR_INVALID_ARGUMENT, "unknown spec parameter %d", (int)param);
}

crmt_status crmt_model_create(crmt_model **out, const crmt_spec *spec, uint64_t seed)
{
    if (!out)
        return crmti_fail(NULL, CRMT_ERR_INVALID_ARGUMENT, "out is NULL");
    *out = NULL;
    if (!spec)
        return crmti_fail(NULL, CRMT_ERR_INVALID_ARGUMENT, "spec is NULL");
    if (spec->n_modalities == 0)
        return crmti_fail(NULL, CRMT_ERR_STATE, "the spec has no modalities yet");
    crmt_status st = crmti_spec_validate(spec, NULL);
    if (st != CRMT_OK)
        return st;
    return crmti_model_build(out, spec, seed);
}

void crmt_model_destroy(crmt_model *model)
{
    if (!model)
        return;
    crmti_train_state_destroy(model->train_state);
    free(model->params);
    free(model->grads);
    free(model);
}

const char *crmt_model_errmsg(const crmt_model *model)
{
    return model ? model->errmsg : "";
}

int crmt_model_num_modalities(const crmt_model *model) { return model ? model->n_mod : -1; }

int crmt_model_num_classes(const crmt_model *model) { return model ? model->n_classes : -1; }

int crmt_model_input_dim(const crmt_model *model, int modality)
{
    if (!model || modality < 0 || modality >= model->n_mod)
        return -1;
    return model->enc[modality].in_size;
}

int crmt_model_feature_dim(const crmt_model *model, int modality)
{
    if (!model || modality < 0 || modality >= model->n_mod)
        return -1;
    return model->enc[modality].out_size;
}

crmt_head_kind crmt_model_head(const crmt_model *model)
{
    return model ? (crmt_head_kind)model->spec.head : CRMT_HEAD_JT;
}

size_t crmt_model_num_parameters(const crmt_model *model) { return model ? model->n_params : 0; }

crmt_status crmt_model_predict(const crmt_model *model, const float *const *inputs, size_t n,
                               int32_t *labels_out, float *logits_out)
{
    if (!model)
        return crmti_fail(NULL, CRMT_ERR_INVALID_ARGUMENT, "model is NULL");
    if (!labels_out && !logits_out)
        return crmti_fail(NULL, CRMT_ERR_INVALID_ARGUMENT,
                          "labels_out and logits_out are both NULL");
    crmt_status st = crmti_check_inputs(model, inputs, n, NULL);
    if (st != CRMT_OK)
        return st;
    const int K = model->n_classes;
    int chunk = n < QUERY_CHUNK ? (int)n : QUERY_CHUNK;
    crmti_ws *ws = crmti_ws_create(model, chunk);
    if (!ws)
        return crmti_fail(NULL, CRMT_ERR_OUT_OF_MEMORY, "cannot allocate a workspace");
    const float *batch_in[CRMT_MAX_MODALITIES];
    for (size_t start = 0; start < n; start += (size_t)chunk) {
        int b = (n - start < (size_t)chunk) ? (int)(n - start) : chunk;
        for (int m = 0; m < model->n_mod; m++)
            batch_in[m] = inputs[m] + start * (size_t)model->enc[m].in_size;
        crmti_forward(model, ws, batch_in, b);
        for (int i = 0; i < b; i++) {
            const float *row = ws->logits + (size_t)i * K;
            if (logits_out)
                memcpy(logits_out + (start + (size_t)i) * K, row, sizeof(float) * (size_t)K);
            if (labels_out) {
                int best = 0;
                for (int k = 1; k < K; k++)
                    if (row[k] > row[best])
                        best = k;
                labels_out[start + (size_t)i] = best;
            }
        }
    }
    crmti_ws_destroy(ws);
    return CRMT_OK;
}

crmt_status crmt_model_unimodal_logits(const crmt_model *model, int modality, const float *input,
                                       size_t n, float *logits_out)
{
    if (!model)
        return crmti_fail(NULL, CRMT_ERR_INVALID_ARGUMENT, "model is NULL");
    if (model->spec.head != CRMT_HEAD_CRMT)
        return crmti_fail(NULL, CRMT_ERR_UNSUPPORTED,
                          "uni-modal logits need a CRMT head; this model has a JT head");
    if (modality < 0 || modality >= model->n_mod)
        return crmti_fail(NULL, CRMT_ERR_INVALID_ARGUMENT, "modality %d out of range [0, %d)",
                          modality, model->n_mod);
    if (!input || !logits_out)
        return crmti_fail(NULL, CRMT_ERR_INVALID_ARGUMENT, "input or logits_out is NULL");
    if (n == 0 || n > (size_t)INT32_MAX)
        return crmti_fail(NULL, CRMT_ERR_INVALID_ARGUMENT, "bad sample count %zu", n);
    const size_t in_size = (size_t)model->enc[modality].in_size;
    if (!crmti_all_finite(input, n * in_size))
        return crmti_fail(NULL, CRMT_ERR_NON_FINITE, "input contains NaN or infinity");
    const int K = model->n_classes, d = model->enc[modality].out_size;
    int chunk = n < QUERY_CHUNK ? (int)n : QUERY_CHUNK;
    crmti_ws *ws = crmti_ws_create(model, chunk);
    float *wt = malloc(sizeof(float) * (size_t)K * (size_t)d);
    if (!ws || !wt || crmti_head_rows(model, modality, wt) != CRMT_OK) {
        crmti_ws_destroy(ws);
        free(wt);
        return crmti_fail(NULL, CRMT_ERR_OUT_OF_MEMORY, "cannot allocate a workspace");
    }
    for (size_t start = 0; start < n; start += (size_t)chunk) {
        int b = (n - start < (size_t)chunk) ? (int)(n - start) : chunk;
        const float *z = crmti_encode(model, ws, modality, input + start * in_size, b);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, b, K, d, 1.0f, z, d, wt, d, 0.0f,
                    logits_out + start * (size_t)K, K);
    }
    free(wt);
    crmti_ws_destroy(ws);
    return CRMT_OK;
}

crmt_status crmt_model_get_integration(const crmt_model *model, int modality, float *out,
                                       size_t capacity)
{
    if (!model || !out)
        return crmti_fail(NULL, CRMT_ERR_INVALID_ARGUMENT, "model or out is NULL");
    if (model->spec.head != CRMT_HEAD_CRMT)
        return crmti_fail(NULL, CRMT_ERR_UNSUPPORTED, "a JT head has no integration weights");
    if (modality < 0 || modality >= model->n_mod)
        return crmti_fail(NULL, CRMT_ERR_INVALID_ARGUMENT, "modality %d out of range [0, %d)",
                          modality, model->n_mod);
    if (capacity < (size_t)model->n_classes)
        return crmti_fail(NULL, CRMT_ERR_INVALID_ARGUMENT, "capacity %zu < %d classes", capacity,
                          model->n_classes);
    memcpy(out, crmti_integration(model) + (size_t)modality * model->n_classes,
           sizeof(float) * (size_t)model->n_classes);
    return CRMT_OK;
}
