#include "model/model.h"

#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "model/head_norm.h"
#include "tensor/rng.h"

void crmti_modality_shape(const crmti_modality_spec *ms, crmti_shape *shape)
{
    if (ms->channels > 0) {
        shape->c = ms->channels;
        shape->h = ms->height;
        shape->w = ms->width;
        shape->image = 1;
    } else {
        shape->c = ms->input_dim;
        shape->h = shape->w = 1;
        shape->image = 0;
    }
}

static const char *kind_name(int kind)
{
    switch (kind) {
    case CRMTI_LAYER_LINEAR: return "linear";
    case CRMTI_LAYER_RELU: return "relu";
    case CRMTI_LAYER_CONV2D: return "conv2d";
    case CRMTI_LAYER_AVGPOOL: return "avgpool";
    case CRMTI_LAYER_MAXPOOL: return "maxpool";
    case CRMTI_LAYER_FLATTEN: return "flatten";
    default: return "unknown";
    }
}

crmt_status crmti_layer_spec_check(const crmti_layer_spec *ls, crmti_shape *shape, int m, int l,
                                   char *msg)
{
    const crmt_status bad = CRMT_ERR_INVALID_ARGUMENT;
    const int64_t size = (int64_t)shape->c * shape->h * shape->w;
    const char *name = kind_name(ls->kind);
    switch (ls->kind) {
    case CRMTI_LAYER_LINEAR:
        if (ls->out_dim < 1 || ls->out_dim > CRMTI_MAX_DIM)
            return crmti_fail(msg, bad, "modality %d layer %d: out_dim %d outside [1, %d]", m, l,
                              ls->out_dim, CRMTI_MAX_DIM);
        if ((double)ls->out_dim * (double)size > 1e9)
            return crmti_fail(msg, bad, "modality %d layer %d: %d x %d weights is too large", m,
                              l, ls->out_dim, (int)size);
        shape->c = ls->out_dim;
        shape->h = shape->w = 1;
        shape->image = 0;
        return CRMT_OK;
    case CRMTI_LAYER_RELU:
        if (ls->out_dim != 0)
            return crmti_fail(msg, bad, "modality %d layer %d: relu with a size", m, l);
        return CRMT_OK;
    case CRMTI_LAYER_CONV2D:
    case CRMTI_LAYER_AVGPOOL:
    case CRMTI_LAYER_MAXPOOL:
    case CRMTI_LAYER_FLATTEN:
        break;
    default:
        return crmti_fail(msg, bad, "modality %d layer %d: unknown layer kind %d", m, l,
                          ls->kind);
    }
    if (!shape->image)
        return crmti_fail(msg, bad,
                          "modality %d layer %d: %s needs an image-shaped input (C x H x W) but "
                          "gets a vector of %lld values; declare the modality with "
                          "crmt_spec_add_modality_image and put %s before any linear layer or "
                          "flatten",
                          m, l, name, (long long)size, name);
    if (ls->kind == CRMTI_LAYER_FLATTEN) {
        if (ls->out_dim != 0 || ls->kernel != 0 || ls->stride != 0 || ls->pad != 0)
            return crmti_fail(msg, bad, "modality %d layer %d: flatten with parameters", m, l);
        shape->c = (int)size;
        shape->h = shape->w = 1;
        shape->image = 0;
        return CRMT_OK;
    }
    const int conv = ls->kind == CRMTI_LAYER_CONV2D;
    const int k = ls->kernel, s = ls->stride, p = ls->pad;
    if (k < 1 || k > CRMTI_MAX_DIM)
        return crmti_fail(msg, bad, "modality %d layer %d: %s kernel %d outside [1, %d]", m, l,
                          name, k, CRMTI_MAX_DIM);
    if (s < 1 || s > CRMTI_MAX_DIM)
        return crmti_fail(msg, bad, "modality %d layer %d: %s stride %d outside [1, %d]", m, l,
                          name, s, CRMTI_MAX_DIM);
    if (!conv && (p != 0 || ls->out_dim != 0))
        return crmti_fail(msg, bad, "modality %d layer %d: %s with padding or channels", m, l,
                          name);
    if (conv && (ls->out_dim < 1 || ls->out_dim > CRMTI_MAX_DIM))
        return crmti_fail(msg, bad, "modality %d layer %d: conv2d out_channels %d outside [1, %d]",
                          m, l, ls->out_dim, CRMTI_MAX_DIM);
    if (conv && (p < 0 || p > k / 2))
        return crmti_fail(msg, bad,
                          "modality %d layer %d: conv2d padding %d outside [0, kernel / 2 = %d]",
                          m, l, p, k / 2);
    const int64_t ph = (int64_t)shape->h + 2 * (int64_t)p;
    const int64_t pw = (int64_t)shape->w + 2 * (int64_t)p;
    if (ph < k || pw < k)
        return crmti_fail(msg, bad,
                          "modality %d layer %d: %s kernel %d is larger than its input %d x %d x "
                          "%d (padding %d): the output would be empty",
                          m, l, name, k, shape->c, shape->h, shape->w, p);
    const int64_t oh = (ph - k) / s + 1, ow = (pw - k) / s + 1;
    const int64_t oc = conv ? ls->out_dim : shape->c;
    if ((double)oc * (double)oh * (double)ow > CRMTI_MAX_DIM)
        return crmti_fail(msg, bad,
                          "modality %d layer %d: %s output %lld x %lld x %lld has more than %d "
                          "values",
                          m, l, name, (long long)oc, (long long)oh, (long long)ow, CRMTI_MAX_DIM);
    if (conv) {
        const double ckk = (double)shape->c * (double)k * (double)k;
        if (ckk * (double)oc > 1e9)
            return crmti_fail(msg, bad,
                              "modality %d layer %d: conv2d weights %lld x %d x %d x %d is too "
                              "large",
                              m, l, (long long)oc, shape->c, k, k);
        if (ckk * (double)oh * (double)ow > 1e9)
            return crmti_fail(msg, bad,
                              "modality %d layer %d: conv2d lowering of one sample (%.0f values) "
                              "is too large",
                              m, l, ckk * (double)oh * (double)ow);
    }
    shape->c = (int)oc;
    shape->h = (int)oh;
    shape->w = (int)ow;
    return CRMT_OK;
}

crmt_status crmti_spec_validate(const crmt_spec *spec, char *msg)
{
    if (spec->n_classes < 2 || spec->n_classes > CRMTI_MAX_CLASSES)
        return crmti_fail(msg, CRMT_ERR_INVALID_ARGUMENT, "n_classes %d outside [2, %d]",
                          spec->n_classes, CRMTI_MAX_CLASSES);
    if (spec->n_modalities < 1 || spec->n_modalities > CRMT_MAX_MODALITIES)
        return crmti_fail(msg, CRMT_ERR_INVALID_ARGUMENT, "%d modalities; need 1 to %d",
                          spec->n_modalities, CRMT_MAX_MODALITIES);
    if (spec->head != CRMT_HEAD_JT && spec->head != CRMT_HEAD_CRMT)
        return crmti_fail(msg, CRMT_ERR_INVALID_ARGUMENT, "unknown head kind %d", spec->head);
    if (spec->head_norm < CRMT_NORM_AUTO || spec->head_norm > CRMT_NORM_ORTHONORMAL)
        return crmti_fail(msg, CRMT_ERR_INVALID_ARGUMENT, "unknown head norm %d",
                          spec->head_norm);
    if (!(spec->integration_init >= 0.0 && spec->integration_init <= 1e3))
        return crmti_fail(msg, CRMT_ERR_INVALID_ARGUMENT,
                          "integration init %g outside [0, 1000]", spec->integration_init);
    for (int m = 0; m < spec->n_modalities; m++) {
        const crmti_modality_spec *ms = &spec->mod[m];
        if (ms->input_dim < 1 || ms->input_dim > CRMTI_MAX_DIM)
            return crmti_fail(msg, CRMT_ERR_INVALID_ARGUMENT,
                              "modality %d: input_dim %d outside [1, %d]", m, ms->input_dim,
                              CRMTI_MAX_DIM);
        /* c h <= input_dim <= 2^24 is checked before the last product, which then stays
         * below 2^48 (each dimension alone can be 2^24, e.g. from a file) */
        if ((ms->channels != 0 || ms->height != 0 || ms->width != 0) &&
            (ms->channels < 1 || ms->height < 1 || ms->width < 1 ||
             (int64_t)ms->channels * ms->height > ms->input_dim ||
             (int64_t)ms->channels * ms->height * ms->width != ms->input_dim))
            return crmti_fail(msg, CRMT_ERR_INVALID_ARGUMENT,
                              "modality %d: image shape %d x %d x %d does not match input_dim %d",
                              m, ms->channels, ms->height, ms->width, ms->input_dim);
        if (ms->n_layers < 0 || ms->n_layers > CRMTI_MAX_LAYERS)
            return crmti_fail(msg, CRMT_ERR_INVALID_ARGUMENT, "modality %d: %d layers", m,
                              ms->n_layers);
        if (memchr(ms->name, '\0', CRMTI_NAME_SIZE) == NULL)
            return crmti_fail(msg, CRMT_ERR_INVALID_ARGUMENT, "modality %d: unterminated name",
                              m);
        crmti_shape shape;
        crmti_modality_shape(ms, &shape);
        for (int l = 0; l < ms->n_layers; l++) {
            crmt_status st = crmti_layer_spec_check(&ms->layers[l], &shape, m, l, msg);
            if (st != CRMT_OK)
                return st;
        }
        const int size = shape.c * shape.h * shape.w;
        if ((double)size * spec->n_classes > 1e9)
            return crmti_fail(msg, CRMT_ERR_INVALID_ARGUMENT,
                              "modality %d: head of %d x %d is too large", m, spec->n_classes,
                              size);
    }
    return CRMT_OK;
}

crmt_status crmti_model_build(crmt_model **out, const crmt_spec *spec, uint64_t seed)
{
    crmt_model *model = calloc(1, sizeof *model);
    if (!model)
        return crmti_fail(NULL, CRMT_ERR_OUT_OF_MEMORY, "cannot allocate a model");
    model->spec = *spec;
    model->n_mod = spec->n_modalities;
    model->n_classes = spec->n_classes;
    size_t off = 0;
    const size_t K = (size_t)spec->n_classes;
    for (int m = 0; m < model->n_mod; m++) {
        const crmti_modality_spec *ms = &spec->mod[m];
        crmti_encoder *enc = &model->enc[m];
        enc->n_layers = ms->n_layers;
        enc->in_size = ms->input_dim;
        int size = ms->input_dim;
        crmti_shape shape;
        crmti_modality_shape(ms, &shape);
        for (int l = 0; l < ms->n_layers; l++) {
            crmti_layer *layer = &enc->layers[l];
            const crmti_layer_spec *ls = &ms->layers[l];
            layer->kind = (crmti_layer_kind)ls->kind;
            layer->in_size = size;
            const crmti_shape in_shape = shape;
            /* the spec is validated: this only computes the output shape */
            crmti_layer_spec_check(ls, &shape, m, l, NULL);
            layer->out_size = shape.c * shape.h * shape.w;
            if (layer->kind != CRMTI_LAYER_LINEAR && layer->kind != CRMTI_LAYER_RELU) {
                layer->in_c = in_shape.c;
                layer->in_h = in_shape.h;
                layer->in_w = in_shape.w;
                layer->out_c = shape.c;
                layer->out_h = shape.h;
                layer->out_w = shape.w;
                layer->kernel = ls->kernel;
                layer->stride = ls->stride;
                layer->pad = ls->pad;
            }
            const size_t nw = crmti_layer_n_weights(layer), nb = crmti_layer_n_bias(layer);
            if (nw > 0) {
                layer->w_offset = off;
                off += nw;
                layer->b_offset = off;
                off += nb;
                layer->n_params = nw + nb;
            }
            size = layer->out_size;
        }
        enc->out_size = size;
        int norm = spec->head_norm;
        if (norm == CRMT_NORM_AUTO)
            norm = (spec->n_classes <= size) ? CRMT_NORM_ORTHONORMAL : CRMT_NORM_ROWS;
        if (spec->head == CRMT_HEAD_CRMT && norm == CRMT_NORM_ORTHONORMAL &&
            spec->n_classes > size) {
            free(model);
            return crmti_fail(NULL, CRMT_ERR_UNSUPPORTED,
                              "modality %d: orthonormal head rows need n_classes (%d) <= "
                              "feature size (%d)",
                              m, spec->n_classes, size);
        }
        model->orthonormal[m] = (norm == CRMT_NORM_ORTHONORMAL);
        model->head_w_offset[m] = off;
        off += K * (size_t)size;
    }
    if (spec->head == CRMT_HEAD_CRMT) {
        model->head_a_offset = off;
        off += (size_t)model->n_mod * K;
    }
    model->head_b_offset = off;
    off += K;
    model->n_params = off;
    model->params = calloc(off, sizeof(float));
    model->grads = calloc(off, sizeof(float));
    if (!model->params || !model->grads) {
        free(model->params);
        free(model->grads);
        free(model);
        return crmti_fail(NULL, CRMT_ERR_OUT_OF_MEMORY, "cannot allocate %zu parameters", off);
    }
    crmti_rng rng;
    crmti_rng_seed(&rng, seed);
    for (int m = 0; m < model->n_mod; m++) {
        const crmti_encoder *enc = &model->enc[m];
        for (int l = 0; l < enc->n_layers; l++)
            crmti_layer_init(&enc->layers[l], model->params, &rng);
        /* Head rows: nn.Linear default, U(-1/sqrt(d), 1/sqrt(d)). */
        double bound = 1.0 / sqrt((double)enc->out_size);
        size_t n = K * (size_t)enc->out_size;
        for (size_t i = 0; i < n; i++)
            model->params[model->head_w_offset[m] + i] =
                (float)((2.0 * crmti_rng_uniform(&rng) - 1.0) * bound);
    }
    if (spec->head == CRMT_HEAD_CRMT)
        for (size_t i = 0; i < (size_t)model->n_mod * K; i++)
            model->params[model->head_a_offset + i] = (float)spec->integration_init;
    /* Fused bias starts at zero: it only shifts logits and plays no part in robustness. */
    *out = model;
    return CRMT_OK;
}

static size_t max_size(size_t a, size_t b) { return a > b ? a : b; }

/* A flatten layer after the first changes no value: its output is its input's buffer. */
static int shares_buffer(const crmti_encoder *enc, int l)
{
    return l > 0 && enc->layers[l].kind == CRMTI_LAYER_FLATTEN;
}

crmti_ws *crmti_ws_create(const crmt_model *model, int max_batch)
{
    const size_t B = (size_t)max_batch, K = (size_t)model->n_classes;
    size_t floats = 0, doubles = 0, widest = 0;
    size_t scratch = 0;
    size_t layer_scratch = 0;
    for (int m = 0; m < model->n_mod; m++) {
        const crmti_encoder *enc = &model->enc[m];
        widest = max_size(widest, (size_t)enc->in_size);
        for (int l = 0; l < enc->n_layers; l++) {
            if (!shares_buffer(enc, l))
                floats += B * (size_t)enc->layers[l].out_size;
            widest = max_size(widest, (size_t)enc->layers[l].out_size);
            layer_scratch =
                max_size(layer_scratch, crmti_layer_scratch_size(&enc->layers[l], max_batch));
        }
        floats += 3 * K * (size_t)enc->out_size; /* wt, dwt, head_key */
        floats += 2 * B * K;                     /* g, dg */
        doubles += crmti_head_norm_cache_size((int)K, enc->out_size, model->orthonormal[m]);
        scratch = max_size(scratch, crmti_head_norm_scratch_size((int)K, enc->out_size));
    }
    floats += 2 * B * K + 2 * B * widest + layer_scratch;
    crmti_ws *ws = calloc(1, sizeof *ws);
    float *fbuf = calloc(floats, sizeof(float));
    double *dbuf = calloc(doubles + scratch, sizeof(double));
    if (!ws || !fbuf || !dbuf) {
        free(ws);
        free(fbuf);
        free(dbuf);
        return NULL;
    }
    ws->max_batch = max_batch;
    float *f = fbuf;
    double *d = dbuf;
    for (int m = 0; m < model->n_mod; m++) {
        const crmti_encoder *enc = &model->enc[m];
        for (int l = 0; l < enc->n_layers; l++) {
            if (shares_buffer(enc, l)) {
                ws->act[m][l] = ws->act[m][l - 1];
                continue;
            }
            ws->act[m][l] = f;
            f += B * (size_t)enc->layers[l].out_size;
        }
        ws->wt[m] = f;
        f += K * (size_t)enc->out_size;
        ws->dwt[m] = f;
        f += K * (size_t)enc->out_size;
        ws->head_key[m] = f;
        f += K * (size_t)enc->out_size;
        ws->g[m] = f;
        f += B * K;
        ws->dg[m] = f;
        f += B * K;
        ws->norm_cache[m] = d;
        d += crmti_head_norm_cache_size((int)K, enc->out_size, model->orthonormal[m]);
    }
    ws->logits = f;
    f += B * K;
    ws->dlogits = f;
    f += B * K;
    ws->grad_a = f;
    f += B * widest;
    ws->grad_b = f;
    f += B * widest;
    ws->layer_scratch = layer_scratch ? f : NULL;
    ws->scratch = d;
    ws->float_block = fbuf;
    ws->double_block = dbuf;
    return ws;
}

void crmti_ws_destroy(crmti_ws *ws)
{
    if (!ws)
        return;
    free(ws->float_block);
    free(ws->double_block);
    free(ws);
}

const float *crmti_encode(const crmt_model *model, crmti_ws *ws, int m, const float *input,
                          int batch)
{
    const crmti_encoder *enc = &model->enc[m];
    const float *x = input;
    for (int l = 0; l < enc->n_layers; l++) {
        crmti_layer_forward_ws(&enc->layers[l], model->params, x, ws->act[m][l], batch,
                               ws->layer_scratch);
        x = ws->act[m][l];
    }
    ws->feat[m] = x;
    return x;
}

/* Head rows of modality m into ws->wt[m] (normalised for CRMT, with backward state). The
 * CRMT normalisation (an eigen-decomposition in double for orthonormal rows) is a function of
 * V_m and the row mode only: when both are what ws->wt[m] was computed from, wt[m] and
 * norm_cache[m] are reused as they are (bit-identical to recomputing them). */
static void prepare_head_rows(const crmt_model *model, crmti_ws *ws, int m)
{
    const int K = model->n_classes, d = model->enc[m].out_size;
    const size_t bytes = sizeof(float) * (size_t)K * (size_t)d;
    const float *w = model->params + model->head_w_offset[m];
    if (model->spec.head != CRMT_HEAD_CRMT) {
        memcpy(ws->wt[m], w, bytes);
        return;
    }
    if (ws->head_valid[m] && ws->head_key_ortho[m] == model->orthonormal[m] &&
        memcmp(ws->head_key[m], w, bytes) == 0)
        return;
    crmti_head_norm_forward(w, K, d, model->orthonormal[m], ws->wt[m], ws->norm_cache[m]);
    memcpy(ws->head_key[m], w, bytes);
    ws->head_key_ortho[m] = model->orthonormal[m];
    ws->head_valid[m] = 1;
}

crmt_status crmti_head_rows(const crmt_model *model, int m, float *out)
{
    const int K = model->n_classes, d = model->enc[m].out_size;
    const float *w = model->params + model->head_w_offset[m];
    if (model->spec.head != CRMT_HEAD_CRMT) {
        memcpy(out, w, sizeof(float) * (size_t)K * (size_t)d);
        return CRMT_OK;
    }
    size_t n = crmti_head_norm_cache_size(K, d, model->orthonormal[m]);
    double *cache = malloc(sizeof(double) * n);
    if (!cache)
        return crmti_fail(NULL, CRMT_ERR_OUT_OF_MEMORY, "cannot allocate head cache");
    crmti_head_norm_forward(w, K, d, model->orthonormal[m], out, cache);
    free(cache);
    return CRMT_OK;
}

const float *crmti_integration(const crmt_model *model)
{
    return model->spec.head == CRMT_HEAD_CRMT ? model->params + model->head_a_offset : NULL;
}

void crmti_forward(const crmt_model *model, crmti_ws *ws, const float *const *inputs,
                   int batch)
{
    const int K = model->n_classes;
    const float *b = model->params + model->head_b_offset;
    for (int i = 0; i < batch; i++)
        memcpy(ws->logits + (size_t)i * K, b, sizeof(float) * (size_t)K);
    for (int m = 0; m < model->n_mod; m++) {
        const int d = model->enc[m].out_size;
        const float *z = crmti_encode(model, ws, m, inputs[m], batch);
        prepare_head_rows(model, ws, m);
        if (model->spec.head == CRMT_HEAD_CRMT) {
            /* g_m = z Wt_m^T; logits += a_m o g_m */
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, batch, K, d, 1.0f, z, d,
                        ws->wt[m], d, 0.0f, ws->g[m], K);
            const float *a = model->params + model->head_a_offset + (size_t)m * K;
            for (int i = 0; i < batch; i++) {
                float *h = ws->logits + (size_t)i * K;
                const float *g = ws->g[m] + (size_t)i * K;
                for (int k = 0; k < K; k++)
                    h[k] += a[k] * g[k];
            }
        } else {
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, batch, K, d, 1.0f, z, d,
                        ws->wt[m], d, 1.0f, ws->logits, K);
        }
    }
}

/* ReLU backward, din = dout where out > 0, else 0: the values of crmti_layer_backward, but
 * with unconditional loads so that the compiler emits a branch-free (vectorised) loop; the
 * branchy loop mispredicts on about half of the elements (random activation signs). */
static void relu_backward(const float *restrict out, const float *restrict dout,
                          float *restrict din, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const float d = dout[i];
        din[i] = out[i] > 0.0f ? d : 0.0f;
    }
}

/* Backward through modality m's encoder, from dL/dfeat in ws->grad_a. */
static void encoder_backward(const crmt_model *model, crmti_ws *ws, int m, const float *input,
                             int batch, float *dparams, float *dinput)
{
    const crmti_encoder *enc = &model->enc[m];
    float *dout = ws->grad_a, *din = ws->grad_b;
    for (int l = enc->n_layers - 1; l >= 0; l--) {
        const float *in = (l == 0) ? input : ws->act[m][l - 1];
        float *target = (l == 0) ? dinput : din;
        if (l == 0 && !dinput && !dparams)
            break;
        if (enc->layers[l].kind == CRMTI_LAYER_RELU && target)
            relu_backward(ws->act[m][l], dout, target,
                          (size_t)batch * (size_t)enc->layers[l].out_size);
        else
            crmti_layer_backward_ws(&enc->layers[l], model->params, in, ws->act[m][l], dout,
                                    target, dparams, batch, ws->layer_scratch);
        float *t = dout;
        dout = din;
        din = t;
    }
    if (enc->n_layers == 0 && dinput)
        memcpy(dinput, ws->grad_a, sizeof(float) * (size_t)batch * (size_t)enc->in_size);
}

void crmti_backward(const crmt_model *model, crmti_ws *ws, const float *const *inputs,
                    int batch, float *dparams, float *const *dinputs)
{
    const int K = model->n_classes;
    const int crmt = model->spec.head == CRMT_HEAD_CRMT;
    if (dparams) {
        float *db = dparams + model->head_b_offset;
        memset(db, 0, sizeof(float) * (size_t)K);
        for (int i = 0; i < batch; i++) {
            const float *dl = ws->dlogits + (size_t)i * K;
            for (int k = 0; k < K; k++)
                db[k] += dl[k];
        }
    }
    for (int m = 0; m < model->n_mod; m++) {
        const int d = model->enc[m].out_size;
        const float *z = ws->feat[m];
        const float *dhead = ws->dlogits; /* gradient w.r.t. this modality's head outputs */
        if (crmt) {
            const float *a = model->params + model->head_a_offset + (size_t)m * K;
            float *da = dparams ? dparams + model->head_a_offset + (size_t)m * K : NULL;
            if (da)
                memset(da, 0, sizeof(float) * (size_t)K);
            for (int i = 0; i < batch; i++) {
                const float *dl = ws->dlogits + (size_t)i * K, *g = ws->g[m] + (size_t)i * K;
                float *dgi = ws->dg[m] + (size_t)i * K;
                if (da)
                    for (int k = 0; k < K; k++)
                        da[k] += dl[k] * g[k];
                for (int k = 0; k < K; k++)
                    dgi[k] = dl[k] * a[k] + (ws->dg_active ? dgi[k] : 0.0f);
            }
            dhead = ws->dg[m];
        }
        if (dparams) {
            /* dW (K x d) = dhead^T z */
            float *dw = crmt ? ws->dwt[m] : dparams + model->head_w_offset[m];
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, K, d, batch, 1.0f, dhead, K, z,
                        d, 0.0f, dw, d);
            if (crmt) {
                float *dv = dparams + model->head_w_offset[m];
                memset(dv, 0, sizeof(float) * (size_t)K * (size_t)d); /* the backward adds */
                crmti_head_norm_backward(ws->dwt[m], K, d, model->orthonormal[m],
                                         ws->norm_cache[m], ws->scratch, dv);
            }
        }
        float *dinput = dinputs ? dinputs[m] : NULL;
        if (!dparams && !dinput)
            continue;
        /* dfeat (B x d) = dhead Wt */
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, batch, d, K, 1.0f, dhead, K,
                    ws->wt[m], d, 0.0f, ws->grad_a, d);
        encoder_backward(model, ws, m, inputs[m], batch, dparams, dinput);
    }
    ws->dg_active = 0;
}

crmt_status crmti_check_inputs(const crmt_model *model, const float *const *inputs, size_t n,
                               char *msg)
{
    if (!inputs)
        return crmti_fail(msg, CRMT_ERR_INVALID_ARGUMENT, "inputs is NULL");
    if (n == 0)
        return crmti_fail(msg, CRMT_ERR_INVALID_ARGUMENT, "zero samples");
    if (n > (size_t)INT32_MAX)
        return crmti_fail(msg, CRMT_ERR_INVALID_ARGUMENT, "%zu samples is too many", n);
    for (int m = 0; m < model->n_mod; m++) {
        if (!inputs[m])
            return crmti_fail(msg, CRMT_ERR_INVALID_ARGUMENT, "input of modality %d is NULL",
                              m);
        if (!crmti_all_finite(inputs[m], n * (size_t)model->enc[m].in_size))
            return crmti_fail(msg, CRMT_ERR_NON_FINITE,
                              "input of modality %d contains NaN or infinity", m);
    }
    return CRMT_OK;
}
