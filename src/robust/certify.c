/* The certifier: cached Lipschitz constants, a double-precision copy of the model, and the
 * radius computation of CRMT section 3.
 *
 * Margins come from a double-precision forward pass. Its rounding error is bounded per
 * sample from norms alone (layer_error_gains, build_path): with gamma_n = n u / (1 - n u),
 * a dot product of n terms errs by at most gamma_n sum |w_i x_i| <= gamma_n ||w|| ||x||, so
 * one l2 error bound per sample and layer, carried through the layers by the weights'
 * Frobenius norms, needs only ||x|| of each computed activation: O(width) per sample
 * instead of a second, absolute-value pass. Cauchy-Schwarz loosens the bound by at most
 * sqrt(n) over the elementwise one, which in double (gamma ~ 1e-13) leaves the radii
 * unchanged to about 1e-11 relative. When the encoder ends with a linear layer it is folded
 * into the head (t = (H W_L) x + H b_L, formed in double with its own bound) where that
 * saves work. The certifier subtracts the bound from every margin before dividing by the
 * Lipschitz constant, so the radii are sound for the exact real-arithmetic function of the
 * float parameters. */
#include "robust/certify.h"

#include <cblas.h>
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "data/dataset.h"

int crmti_certifier_stale(const crmt_certifier *c)
{
    return c->model->generation != c->generation;
}

void crmti_certifier_free(crmt_certifier *c)
{
    if (!c)
        return;
    crmti_lipschitz_release(&c->lip);
    free(c->pair);
    free(c->dblock);
    free(c->fblock);
    free(c);
}

/* Check that data matches model (complete, modality count and dims, labels < K when
 * need_labels). */
crmt_status crmti_check_dataset(const crmt_model *model, const crmt_dataset *data,
                                int need_labels, const char *what)
{
    if (data->n == 0)
        return crmti_fail(NULL, CRMT_ERR_INVALID_ARGUMENT, "%s has no samples", what);
    if (data->n > (size_t)INT32_MAX)
        return crmti_fail(NULL, CRMT_ERR_INVALID_ARGUMENT, "%s: %zu samples is too many", what,
                          data->n);
    if (data->n_mod != model->n_mod)
        return crmti_fail(NULL, CRMT_ERR_SHAPE, "%s has %d modalities, the model %d", what,
                          data->n_mod, model->n_mod);
    for (int m = 0; m < model->n_mod; m++) {
        if (!data->data[m])
            return crmti_fail(NULL, CRMT_ERR_STATE, "%s: modality %d is not set", what, m);
        if (data->dim[m] != (size_t)model->enc[m].in_size)
            return crmti_fail(NULL, CRMT_ERR_SHAPE,
                              "%s: modality %d has dimension %zu, the model expects %d", what, m,
                              data->dim[m], model->enc[m].in_size);
    }
    if (need_labels) {
        if (!data->labels)
            return crmti_fail(NULL, CRMT_ERR_STATE, "%s has no labels", what);
        for (size_t i = 0; i < data->n; i++)
            if (data->labels[i] < 0 || data->labels[i] >= model->n_classes)
                return crmti_fail(NULL, CRMT_ERR_SHAPE,
                                  "%s: label %d of sample %zu is outside [0, %d)", what,
                                  (int)data->labels[i], i, model->n_classes);
    }
    return CRMT_OK;
}

void crmti_dataset_mean(const crmt_dataset *data, int m, float *out)
{
    const size_t n = data->n, d = data->dim[m];
    const float *x = data->data[m];
    for (size_t k = 0; k < d; k++) {
        double s = 0.0;
        for (size_t i = 0; i < n; i++)
            s += x[i * d + k];
        out[k] = (float)(n ? s / (double)n : 0.0);
    }
}

/* L_{m,y,j} for every modality (out[0..M)), then sqrt(sum_m L^2) and sqrt(sum_m (L s_m)^2)
 * (out[M], out[M + 1]), accumulated in modality order. */
static void pair_constants(const crmt_certifier *c, int y, int j, double *out)
{
    const int K = c->n_classes, M = c->n_mod;
    double den2 = 0.0, den2_raw = 0.0;
    for (int m = 0; m < M; m++) {
        const double *cm = c->coef + (size_t)m * K;
        const double L = crmti_lipschitz_pair(&c->lip, m, y, j, cm[y], cm[j]);
        den2 += L * L;
        den2_raw += (L * c->scale[m]) * (L * c->scale[m]);
        out[m] = L;
    }
    out[M] = sqrt(den2);
    out[M + 1] = sqrt(den2_raw);
}

/* ---- the double pass and its error bounds ------------------------------------------------ */

/* The two arithmetics bounded here: the certifier's double pass and the model's float
 * forward pass. Every rounding is counted with `unit` = the machine epsilon, twice the unit
 * roundoff: that factor of 2 also absorbs the few roundings of the bound arithmetic itself;
 * `tiny` bounds the absolute error of one rounding in gradual underflow. */
typedef struct arithmetic {
    double unit, tiny;
} arithmetic;
static const arithmetic DOUBLE_PASS = {DBL_EPSILON, DBL_MIN};
static const arithmetic FLOAT_PASS = {FLT_EPSILON, FLT_MIN};

static double gamma_of(int n, arithmetic a)
{
    const double nu = (double)n * a.unit;
    return nu / (1.0 - nu);
}

static double gamma_n(int n) { return gamma_of(n, DOUBLE_PASS); }

/* A norm bound of the float pass's activations, or infinity where they may overflow
 * (which leaves the prediction to the float pass itself). */
static double float_norm(double bound) { return bound < 1e30 ? bound : INFINITY; }

static size_t max_size(size_t a, size_t b) { return a > b ? a : b; }

/* sqrt(sum_squares) of n terms, rounded up: the sum of squares and the square root round by
 * at most gamma_n relative; squares below DBL_MIN may underflow, hence the absolute term. */
static double norm_from_squares(double sum_squares, size_t n)
{
    return sqrt(sum_squares) * (1.0 + (double)(n + 4) * DBL_EPSILON) + sqrt((double)n) * 1e-154;
}

/* Upper bounds of ||v||_2 for double and float vectors. */
static double norm_up(const double *v, size_t n)
{
    double s = 0.0;
    for (size_t i = 0; i < n; i++)
        s += v[i] * v[i];
    return norm_from_squares(s, n);
}

static double norm_up_f(const float *v, size_t n)
{
    double s = 0.0;
    for (size_t i = 0; i < n; i++)
        s += (double)v[i] * (double)v[i];
    return norm_from_squares(s, n);
}

/* Fold the last layer into the head when it is linear and H W_L (K x in) is cheaper than
 * W_L then H (out x in + K x out multiply-adds per sample). */
static int fold_last_layer(const crmti_encoder *enc, int K)
{
    if (enc->n_layers == 0)
        return 0;
    const crmti_layer *ly = &enc->layers[enc->n_layers - 1];
    if (ly->kind != CRMTI_LAYER_LINEAR)
        return 0;
    const double in = ly->in_size, out = ly->out_size;
    return (double)K * in < out * in + (double)K * out;
}

/* Error bound of one layer of the double pass. For an output computed from the computed
 * input x (whose error is at most e in l2) the error of the output is at most
 *   norm_gain ||x|| + err_gain e + floor:
 * - linear (y = b + W x, dot products of n terms plus the bias): each output rounds by at
 *   most gamma_{n+2} (|b_i| + |W_i| |x|) <= gamma (|b_i| + ||W_i|| ||x||) (Cauchy-Schwarz), in
 *   l2 over the outputs gamma (||b|| + ||W||_F ||x||); the input error passes through W,
 *   ||W e|| <= ||W||_F e;
 * - conv2d: the same per output pixel with the filter's norm and the patch's norm; the
 *   patches cover an input cell at most `cover` times, so sum_patches ||patch||^2 <=
 *   cover ||x||^2: gamma (sqrt(P) ||b|| + sqrt(cover) ||W||_F ||x||), err_gain sqrt(cover) ||W||_F;
 * - average pooling (k^2 terms, one scaling by the rounded 1/k^2): |mean of a window| <=
 *   ||window|| / k, so gamma_{k^2+2} sqrt(cover) / k ||x||, err_gain sqrt(cover) / k;
 * - max pooling: no rounding, |max(x+d) - max(x)| <= max |d| <= ||d over the window||:
 *   err_gain sqrt(cover);
 * - ReLU (1-Lipschitz elementwise), flatten: no rounding, err_gain 1.
 * The floor covers gradual underflow (arith.tiny per rounding). The same bounds hold for the
 * float forward pass (linear and conv2d: the bias plus a dot product, in any order, with or
 * without fused multiply-adds). The weight norms are the double values of the float
 * weights, so exact up to norm_up's rounding. */
static void layer_error_gains(const crmti_layer *ly, const float *params, arithmetic arith,
                              double *norm_gain, double *err_gain, double *floor_)
{
    const int dot = crmti_layer_dot_length(ly);
    const double gam = gamma_of(dot + 2, arith);
    const double underflow =
        (double)(dot + 2) * sqrt((double)ly->out_size) * arith.tiny * (1.0 + 4 * DBL_EPSILON);
    const double cover =
        (ly->kind == CRMTI_LAYER_CONV2D || ly->kind == CRMTI_LAYER_AVGPOOL ||
         ly->kind == CRMTI_LAYER_MAXPOOL)
            ? sqrt((double)crmti_layer_max_cover(ly)) * (1.0 + 4 * DBL_EPSILON)
            : 1.0;
    *norm_gain = 0.0;
    *err_gain = 1.0;
    *floor_ = 0.0;
    switch (ly->kind) {
    case CRMTI_LAYER_LINEAR:
    case CRMTI_LAYER_CONV2D: {
        const double wn = norm_up_f(params + ly->w_offset, crmti_layer_n_weights(ly));
        const double bn = norm_up_f(params + ly->b_offset, crmti_layer_n_bias(ly));
        const double pixels =
            ly->kind == CRMTI_LAYER_CONV2D ? sqrt((double)ly->out_h * (double)ly->out_w) : 1.0;
        *norm_gain = gam * cover * wn;
        *err_gain = cover * wn;
        *floor_ = gam * pixels * (1.0 + 4 * DBL_EPSILON) * bn + underflow;
        break;
    }
    case CRMTI_LAYER_AVGPOOL:
        *norm_gain = gam * cover / (double)ly->kernel;
        *err_gain = cover / (double)ly->kernel;
        *floor_ = underflow;
        break;
    case CRMTI_LAYER_MAXPOOL:
        *err_gain = cover;
        break;
    case CRMTI_LAYER_RELU:
    case CRMTI_LAYER_FLATTEN:
        break;
    }
}

/* Fill modality path pa from its encoder and head rows (K x out_size floats), taking its
 * arrays from p; returns the end of what it took. scratch: fold_scratch doubles (build). */
static double *build_path(crmti_cert_path *pa, const crmt_model *model,
                          const crmti_encoder *enc, const float *rows, double *p,
                          double *scratch)
{
    const int K = model->n_classes;
    const int fold = fold_last_layer(enc, K);
    pa->n_layers = enc->n_layers - fold;
    for (int l = 0; l < pa->n_layers; l++) {
        const crmti_layer *ly = &enc->layers[l];
        const size_t nw = crmti_layer_n_weights(ly), nb = crmti_layer_n_bias(ly);
        double unused;
        layer_error_gains(ly, model->params, DOUBLE_PASS, &pa->norm_gain[l], &pa->err_gain[l],
                          &pa->floor[l]);
        layer_error_gains(ly, model->params, FLOAT_PASS, &pa->norm_gain_f[l], &unused,
                          &pa->floor_f[l]);
        pa->w[l] = pa->b[l] = NULL;
        if (nw == 0)
            continue;
        pa->w[l] = p;
        p += nw;
        pa->b[l] = p;
        p += nb;
        for (size_t i = 0; i < nw; i++)
            pa->w[l][i] = (double)model->params[ly->w_offset + i];
        for (size_t o = 0; o < nb; o++)
            pa->b[l][o] = (double)model->params[ly->b_offset + o];
    }
    const crmti_layer *last = fold ? &enc->layers[enc->n_layers - 1] : NULL;
    const int d = last ? last->in_size : enc->out_size;
    pa->head_in = d;
    pa->head = p;
    p += (size_t)K * (size_t)d;
    pa->head_norm_gain = p;
    p += K;
    pa->head_err_gain = p;
    p += K;
    pa->head_floor = p;
    p += K;
    pa->row_norm = p;
    p += K;
    for (int k = 0; k < K; k++)
        pa->row_norm[k] = norm_up_f(rows + (size_t)k * enc->out_size, (size_t)enc->out_size);
    pa->head_bias = NULL;
    pa->folded = fold;
    pa->last_norm_gain_f = pa->last_err_gain = pa->last_floor_f = pa->last_bias_norm = 0.0;
    const double gam = gamma_n(d + 2);
    const double underflow = (double)(d + 2) * DBL_MIN * (1.0 + 4 * DBL_EPSILON);
    if (!last) {
        /* t = H phi: H is exact (double of the float rows) */
        for (size_t i = 0; i < (size_t)K * (size_t)d; i++)
            pa->head[i] = (double)rows[i];
        for (int k = 0; k < K; k++) {
            const double rn = norm_up(pa->head + (size_t)k * d, (size_t)d);
            pa->head_norm_gain[k] = gam * rn;
            pa->head_err_gain[k] = rn;
            pa->head_floor[k] = underflow;
        }
        return p;
    }
    /* Folded: t = U x + cb with U = H W_L and cb = H b_L formed in double. Each entry of U
     * (and of cb) is a dot product of o = out_size terms: |U - fl(U)| <= gamma_{o+1} |H| |W_L|
     * elementwise (twice that covers the rounding of |H| |W_L| itself). With R_k = ||fl(U)_k||
     * and dU_k = 2 gamma || (|H| |W_L|)_k ||, the exact row satisfies ||U_k|| <= R_k + dU_k, so
     *   |computed t_k - exact t_k| <= gamma_{d+2} (|cb_k| + R_k ||x||) + dc_k + dU_k ||x||
     *                                 + (R_k + dU_k) e. */
    pa->head_bias = p;
    p += K;
    layer_error_gains(last, model->params, FLOAT_PASS, &pa->last_norm_gain_f,
                      &pa->last_err_gain, &pa->last_floor_f);
    pa->last_bias_norm = norm_up_f(model->params + last->b_offset, crmti_layer_n_bias(last));
    const int o = last->out_size;
    const size_t nw = (size_t)o * (size_t)d, nh = (size_t)K * (size_t)o;
    double *wl = scratch, *wl_abs = wl + nw, *h = wl_abs + nw, *h_abs = h + nh,
           *u_abs = h_abs + nh;
    const float *w = model->params + last->w_offset, *b = model->params + last->b_offset;
    for (size_t i = 0; i < nw; i++) {
        wl[i] = (double)w[i];
        wl_abs[i] = fabs(wl[i]);
    }
    for (size_t i = 0; i < nh; i++) {
        h[i] = (double)rows[i];
        h_abs[i] = fabs(h[i]);
    }
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, K, d, o, 1.0, h, o, wl, d, 0.0,
                pa->head, d);
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, K, d, o, 1.0, h_abs, o, wl_abs, d,
                0.0, u_abs, d);
    const double gam_fold = 2.0 * gamma_n(o + 2);
    for (int k = 0; k < K; k++) {
        double cb = 0.0, cb_abs = 0.0;
        for (int j = 0; j < o; j++) {
            cb += h[(size_t)k * o + j] * (double)b[j];
            cb_abs += h_abs[(size_t)k * o + j] * fabs((double)b[j]);
        }
        pa->head_bias[k] = cb;
        const double rn = norm_up(pa->head + (size_t)k * d, (size_t)d);
        const double du = gam_fold * norm_up(u_abs + (size_t)k * d, (size_t)d) +
                          (double)(o + 2) * sqrt((double)d) * DBL_MIN;
        const double dc = gam_fold * cb_abs;
        pa->head_norm_gain[k] = gam * rn + du;
        pa->head_err_gain[k] = rn + du;
        pa->head_floor[k] = gam * fabs(cb) + dc + 2.0 * underflow;
    }
    return p;
}

crmt_status crmti_certifier_build(crmt_certifier **out, const crmt_model *model,
                                  crmt_lipschitz_method method, const float *const *emp_inputs,
                                  size_t emp_n, const float *const *fill, const double *scale)
{
    *out = NULL;
    crmt_certifier *c = calloc(1, sizeof *c);
    if (!c)
        return crmti_fail(NULL, CRMT_ERR_OUT_OF_MEMORY, "cannot allocate a certifier");
    c->model = model;
    c->generation = model->generation;
    c->n_mod = model->n_mod;
    c->n_classes = model->n_classes;
    const int M = model->n_mod, K = model->n_classes;
    crmt_status st = (method == CRMT_LIPSCHITZ_SOUND)
                         ? crmti_lipschitz_sound(&c->lip, model)
                         : crmti_lipschitz_empirical(&c->lip, model, emp_inputs, emp_n);
    if (st != CRMT_OK) {
        free(c);
        return st;
    }

    /* Sizes: double copies of the layers the pass runs, every head stage, coefficients and
     * bias; fill vectors; scratch for folding a last layer. */
    size_t doubles = (size_t)M * (size_t)K + (size_t)K, floats = 0, widest = 1, dmax = 1;
    size_t fold_scratch = 0;
    for (int m = 0; m < M; m++) {
        const crmti_encoder *enc = &model->enc[m];
        const int fold = fold_last_layer(enc, K);
        floats += (size_t)enc->in_size;
        widest = max_size(widest, (size_t)enc->in_size);
        dmax = max_size(dmax, (size_t)enc->out_size);
        for (int l = 0; l < enc->n_layers - fold; l++) {
            const crmti_layer *ly = &enc->layers[l];
            widest = max_size(widest, (size_t)ly->out_size);
            doubles += crmti_layer_n_weights(ly) + crmti_layer_n_bias(ly);
        }
        const crmti_layer *last = fold ? &enc->layers[enc->n_layers - 1] : NULL;
        const size_t head_in = (size_t)(last ? last->in_size : enc->out_size);
        doubles += (size_t)K * head_in + 5 * (size_t)K;
        if (last)
            fold_scratch = max_size(fold_scratch,
                                    2 * (size_t)last->out_size * head_in +
                                        2 * (size_t)K * (size_t)last->out_size +
                                        (size_t)K * head_in);
    }
    c->widest = widest;
    c->dblock = malloc(sizeof(double) * doubles);
    c->fblock = calloc(floats, sizeof(float));
    float *rows = malloc(sizeof(float) * (size_t)K * dmax);
    double *scratch = fold_scratch ? malloc(sizeof(double) * fold_scratch) : NULL;
    if (!c->dblock || !c->fblock || !rows || (fold_scratch && !scratch)) {
        free(rows);
        free(scratch);
        crmti_certifier_free(c);
        return crmti_fail(NULL, CRMT_ERR_OUT_OF_MEMORY,
                          "cannot allocate the certifier's copy of the model (%zu doubles)",
                          doubles);
    }
    double *p = c->dblock;
    float *f = c->fblock;
    for (int m = 0; m < M; m++) {
        const crmti_encoder *enc = &model->enc[m];
        st = crmti_head_rows(model, m, rows);
        if (st != CRMT_OK) {
            free(rows);
            free(scratch);
            crmti_certifier_free(c);
            return st;
        }
        p = build_path(&c->path[m], model, enc, rows, p, scratch);
        c->fill[m] = f;
        if (fill && fill[m])
            memcpy(f, fill[m], sizeof(float) * (size_t)enc->in_size);
        f += enc->in_size;
        if (scale) {
            c->scale[m] = scale[m];
            c->has_scale = 1;
        } else {
            c->scale[m] = 1.0;
        }
    }
    free(rows);
    free(scratch);
    c->gamma_fuse = gamma_n(M + 4);
    /* Each float logit is the bias plus, per modality, a dot product of d_m terms (JT: one
     * sgemm accumulating into the logits; CRMT: g = Wt z, then logits += a g): a sum of at
     * most D + M + 1 rounded terms, D = sum_m d_m. */
    int total_width = 0;
    for (int m = 0; m < M; m++)
        total_width += model->enc[m].out_size;
    c->gamma_logits_f = gamma_of(total_width + M + 4, FLOAT_PASS);
    c->coef = p;
    p += (size_t)M * (size_t)K;
    const float *a = crmti_integration(model);
    for (size_t i = 0; i < (size_t)M * (size_t)K; i++)
        c->coef[i] = a ? (double)a[i] : 1.0;
    c->bias = p;
    for (int k = 0; k < K; k++)
        c->bias[k] = (double)model->params[model->head_b_offset + (size_t)k];
    /* Pair constants of every (y, j): optional cache (2^18 doubles, 2 MB, at most); built with
     * pair_constants, the function the radius loop calls without it. */
    const size_t stride = (size_t)M + 2;
    if ((size_t)K * (size_t)K * stride <= ((size_t)1 << 18)) {
        c->pair = malloc(sizeof(double) * (size_t)K * (size_t)K * stride);
        if (!c->pair) {
            crmti_certifier_free(c);
            return crmti_fail(NULL, CRMT_ERR_OUT_OF_MEMORY,
                              "cannot allocate the certifier's pair constants");
        }
        for (int y = 0; y < K; y++)
            for (int j = 0; j < K; j++)
                if (j != y)
                    pair_constants(c, y, j, c->pair + ((size_t)y * K + (size_t)j) * stride);
    }
    *out = c;
    return CRMT_OK;
}

crmti_cert_ws *crmti_cert_ws_create(const crmt_certifier *c, int max_batch)
{
    crmti_cert_ws *ws = calloc(1, sizeof *ws);
    if (!ws)
        return NULL;
    const size_t B = (size_t)max_batch, K = (size_t)c->n_classes;
    size_t lscratch = 0; /* the double pass of the conv layers (one sample's im2col) */
    for (int m = 0; m < c->n_mod; m++)
        for (int l = 0; l < c->model->enc[m].n_layers; l++) {
            const size_t n = crmti_layer_scratch_size_f64(&c->model->enc[m].layers[l]);
            if (n > lscratch)
                lscratch = n;
        }
    ws->max_batch = max_batch;
    ws->fws = crmti_ws_create(c->model, max_batch);
    size_t inputs = 0;
    for (int m = 0; m < c->n_mod; m++)
        inputs += (size_t)c->model->enc[m].in_size;
    ws->block = malloc(sizeof(double) * (2 * B * c->widest + 2 * B + 4 * B * K +
                                         B * (size_t)c->n_mod + lscratch));
    ws->pred = malloc(sizeof(int) * 2 * B);
    ws->gather = malloc(sizeof(float) * B * inputs);
    if (!ws->fws || !ws->block || !ws->pred || !ws->gather) {
        crmti_cert_ws_destroy(ws);
        return NULL;
    }
    double *p = ws->block;
    ws->x = p;
    p += B * c->widest;
    ws->y = p;
    p += B * c->widest;
    ws->err = p;
    p += B;
    ws->err_f = p;
    p += B;
    ws->t = p;
    p += B * K;
    ws->h = p;
    p += B * K;
    ws->e = p;
    p += B * K;
    ws->e_f = p;
    p += B * K;
    ws->dist = p;
    p += B * (size_t)c->n_mod;
    ws->lscratch = p;
    ws->redo = ws->pred + B;
    return ws;
}

void crmti_cert_ws_destroy(crmti_cert_ws *ws)
{
    if (!ws)
        return;
    crmti_ws_destroy(ws->fws);
    free(ws->block);
    free(ws->pred);
    free(ws->gather);
    free(ws);
}

/* Double forward pass of b samples: ws->h = fused logits, ws->e = a bound of their rounding
 * error, ws->e_f = a bound of the float forward pass's error (per sample and class), from
 * the per-layer bounds of build_path. The float pass's activations are within e + e_f of
 * the computed double ones, so their norms are bounded by ||x|| + e + e_f. */
static void forward_double(const crmt_certifier *c, crmti_cert_ws *ws,
                           const float *const *inputs, int b)
{
    const crmt_model *model = c->model;
    const int K = c->n_classes;
    const double gf = c->gamma_fuse;
    const double gl = c->gamma_logits_f;
    for (int i = 0; i < b; i++)
        for (int k = 0; k < K; k++) {
            ws->h[(size_t)i * K + k] = c->bias[k];
            ws->e[(size_t)i * K + k] = gf * fabs(c->bias[k]);
            ws->e_f[(size_t)i * K + k] = gl * fabs(c->bias[k]);
        }
    for (int m = 0; m < c->n_mod; m++) {
        const crmti_encoder *enc = &model->enc[m];
        const crmti_cert_path *pa = &c->path[m];
        const size_t n_in = (size_t)b * (size_t)enc->in_size;
        double *x = ws->x, *y = ws->y;
        for (size_t i = 0; i < n_in; i++)
            x[i] = (double)inputs[m][i];
        for (int i = 0; i < b; i++)
            ws->err[i] = ws->err_f[i] = 0.0; /* the float inputs convert exactly */
        int width = enc->in_size;
        for (int l = 0; l < pa->n_layers; l++) {
            const crmti_layer *ly = &enc->layers[l];
            const double ng = pa->norm_gain[l], eg = pa->err_gain[l], fl = pa->floor[l];
            const double ng_f = pa->norm_gain_f[l], fl_f = pa->floor_f[l];
            for (int i = 0; i < b; i++) {
                const double n = ng > 0.0 ? norm_up(x + (size_t)i * width, (size_t)width) : 0.0;
                const double e = ws->err[i], e_f = ws->err_f[i];
                ws->err[i] = ng * n + eg * e + fl;
                ws->err_f[i] = ng_f * float_norm(n + e + e_f) + eg * e_f + fl_f;
            }
            crmti_layer_forward_f64(ly, pa->w[l], pa->b[l], x, y, b, ws->lscratch);
            double *t = x;
            x = y;
            y = t;
            width = ly->out_size;
        }
        /* head stage: t = head_bias + x head^T */
        const int d = pa->head_in;
        if (pa->head_bias)
            for (int i = 0; i < b; i++)
                memcpy(ws->t + (size_t)i * K, pa->head_bias, sizeof(double) * (size_t)K);
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, b, K, d, 1.0, x, d, pa->head, d,
                    pa->head_bias ? 1.0 : 0.0, ws->t, K);
        const double *cm = c->coef + (size_t)m * K;
        for (int i = 0; i < b; i++) {
            const double n = norm_up(x + (size_t)i * d, (size_t)d), err = ws->err[i];
            /* the float pass's phi_m: its error and a bound of its norm */
            double phi_err_f = ws->err_f[i], phi_norm_f = float_norm(n + err + phi_err_f);
            if (pa->folded) {
                phi_err_f = pa->last_norm_gain_f * phi_norm_f + pa->last_err_gain * phi_err_f +
                            pa->last_floor_f;
                phi_norm_f = float_norm(pa->last_err_gain * (n + err) + pa->last_bias_norm +
                                        phi_err_f);
            }
            for (int k = 0; k < K; k++) {
                const size_t s = (size_t)i * K + (size_t)k;
                const double ck = cm[k], t = ws->t[s];
                const double t_err = pa->head_norm_gain[k] * n + pa->head_err_gain[k] * err +
                                     pa->head_floor[k];
                ws->h[s] += ck * t;
                ws->e[s] += fabs(ck) * (t_err + gf * fabs(t));
                /* float: |g - exact| <= gamma ||H_k|| ||phi_f|| + ||H_k|| phi_err, and the
                 * fusion rounds |a g| once more (gamma counts every rounding of the sum) */
                ws->e_f[s] += fabs(ck) * pa->row_norm[k] * (2.0 * gl * phi_norm_f + phi_err_f);
            }
        }
    }
}

/* ws->dist[i M + m] = ||x_m - fill_m||^2 of the b samples, each summed in index order as a
 * sample-by-sample loop would; four samples run side by side so that their four dependent
 * chains of additions overlap. */
static void missing_distances(const crmt_certifier *c, crmti_cert_ws *ws,
                              const float *const *inputs, int b)
{
    const int M = c->n_mod;
    for (int m = 0; m < M; m++) {
        const size_t n = (size_t)c->model->enc[m].in_size;
        const float *fv = c->fill[m];
        int i = 0;
        for (; i + 4 <= b; i += 4) {
            const float *x0 = inputs[m] + (size_t)i * n, *x1 = x0 + n, *x2 = x1 + n,
                        *x3 = x2 + n;
            double s0 = 0.0, s1 = 0.0, s2 = 0.0, s3 = 0.0;
            for (size_t k = 0; k < n; k++) {
                const double f = (double)fv[k];
                const double d0 = (double)x0[k] - f, d1 = (double)x1[k] - f,
                             d2 = (double)x2[k] - f, d3 = (double)x3[k] - f;
                s0 += d0 * d0;
                s1 += d1 * d1;
                s2 += d2 * d2;
                s3 += d3 * d3;
            }
            ws->dist[(size_t)i * M + m] = s0;
            ws->dist[(size_t)(i + 1) * M + m] = s1;
            ws->dist[(size_t)(i + 2) * M + m] = s2;
            ws->dist[(size_t)(i + 3) * M + m] = s3;
        }
        for (; i < b; i++) {
            const float *x = inputs[m] + (size_t)i * n;
            double ss = 0.0;
            for (size_t k = 0; k < n; k++) {
                const double dlt = (double)x[k] - (double)fv[k];
                ss += dlt * dlt;
            }
            ws->dist[(size_t)i * M + m] = ss;
        }
    }
}

/* The float prediction of each sample into ws->pred: from the double logits where they
 * settle it -- the exact logit of the argmax p exceeds every other by more than both passes'
 * error bounds, so the float pass's logit p is strictly the largest -- otherwise from the
 * model's float forward pass, run once on the unsettled samples gathered together. */
static void float_predictions(const crmt_certifier *c, crmti_cert_ws *ws,
                              const float *const *inputs, int b)
{
    const int K = c->n_classes, M = c->n_mod;
    int n_redo = 0;
    for (int i = 0; i < b; i++) {
        const double *h = ws->h + (size_t)i * K, *e = ws->e + (size_t)i * K,
                     *ef = ws->e_f + (size_t)i * K;
        int p = 0;
        for (int k = 1; k < K; k++)
            if (h[k] > h[p])
                p = k;
        int settled = 1;
        for (int j = 0; j < K && settled; j++) {
            if (j == p)
                continue;
            /* 4 eps (|h_p| + |h_j|): the rounding of this expression while it is positive */
            const double gap = h[p] - h[j] - (e[p] + e[j]) -
                               4.0 * DBL_EPSILON * (fabs(h[p]) + fabs(h[j])) - (ef[p] + ef[j]);
            settled = gap > 0.0; /* NaN (overflowing bounds) is unsettled */
        }
        ws->pred[i] = p;
        if (!settled)
            ws->redo[n_redo++] = i;
    }
    ws->n_float_pass = n_redo;
    if (n_redo == 0)
        return;
    const float *gathered[CRMT_MAX_MODALITIES];
    float *g = ws->gather;
    for (int m = 0; m < M; m++) {
        const size_t n = (size_t)c->model->enc[m].in_size;
        gathered[m] = g;
        for (int r = 0; r < n_redo; r++, g += n)
            memcpy(g, inputs[m] + (size_t)ws->redo[r] * n, sizeof(float) * n);
    }
    crmti_forward(c->model, ws->fws, gathered, n_redo);
    for (int r = 0; r < n_redo; r++) {
        const float *fl = ws->fws->logits + (size_t)r * K;
        int p = 0;
        for (int k = 1; k < K; k++)
            if (fl[k] > fl[p])
                p = k;
        ws->pred[ws->redo[r]] = p;
    }
}

static double safe_div(double num, double den)
{
    if (den > 0.0)
        return num / den;
    return num > 0.0 ? INFINITY : (num < 0.0 ? -INFINITY : 0.0);
}

void crmti_certify_chunk(const crmt_certifier *c, crmti_cert_ws *ws, const float *const *inputs,
                         int b, const int32_t *labels, crmt_certificate *out)
{
    const crmt_model *model = c->model;
    const int K = c->n_classes, M = c->n_mod;
    forward_double(c, ws, inputs, b);
    float_predictions(c, ws, inputs, b);
    missing_distances(c, ws, inputs, b);
    const size_t stride = (size_t)M + 2;
    double pc[CRMT_MAX_MODALITIES + 2];
    for (int i = 0; i < b; i++) {
        crmt_certificate *ct = &out[i];
        memset(ct, 0, sizeof *ct);
        ct->struct_size = sizeof *ct;
        ct->lipschitz = c->lip.method;
        ct->n_modalities = M;
        ct->has_raw_units = c->has_scale;
        const int pred = ws->pred[i];
        const int y = labels ? labels[i] : pred;
        ct->predicted = pred;
        ct->label = y;
        const double *h = ws->h + (size_t)i * K, *e = ws->e + (size_t)i * K;
        double best = INFINITY, best_raw = INFINITY, best_margin = 0.0;
        int closest = -1;
        double rm[CRMT_MAX_MODALITIES];
        for (int m = 0; m < M; m++)
            rm[m] = INFINITY;
        for (int j = 0; j < K; j++) {
            if (j == y)
                continue;
            const double margin = h[y] - h[j];
            const double allow = e[y] + e[j] + 2.0 * DBL_EPSILON * (fabs(h[y]) + fabs(h[j]));
            const double mc = margin - allow;
            const double *L = pc;
            if (c->pair)
                L = c->pair + ((size_t)y * K + (size_t)j) * stride;
            else
                pair_constants(c, y, j, pc);
            for (int m = 0; m < M; m++) {
                const double r = safe_div(mc, L[m]);
                if (r < rm[m])
                    rm[m] = r;
            }
            const double r = safe_div(mc, L[M]);
            if (closest < 0 || r < best) {
                best = r;
                closest = j;
                best_margin = margin;
            }
            const double rr = safe_div(mc, L[M + 1]);
            if (rr < best_raw)
                best_raw = rr;
        }
        ct->closest_class = closest;
        ct->margin = best_margin;
        int certified = (y == pred) && best > 0.0;
        for (int m = 0; m < M && certified; m++)
            if (!(rm[m] > 0.0))
                certified = 0;
        ct->certified = certified;
        for (int m = 0; m < M; m++) {
            const size_t n_in = (size_t)model->enc[m].in_size;
            const double ss = ws->dist[(size_t)i * M + m];
            /* sqrt rounding: one ulp up keeps the survive test conservative */
            const double dist = sqrt(ss) * (1.0 + 4.0 * (double)(n_in + 2) * DBL_EPSILON);
            ct->missing_distance[m] = dist;
            if (certified) {
                ct->modality_radius[m] = rm[m];
                ct->missing_survives[m] = dist < rm[m];
                if (c->has_scale)
                    ct->modality_radius_raw[m] = rm[m] / c->scale[m];
            }
        }
        if (certified) {
            ct->radius = best;
            if (c->has_scale)
                ct->radius_raw = best_raw;
        }
    }
}

crmt_status crmti_certified_stats(const crmt_certifier *c, const crmt_dataset *data,
                                  const double *radii, size_t n_radii, size_t *joint,
                                  size_t *per_mod, double *sum_radius, double *sum_mod_radius,
                                  size_t *missing)
{
    const int M = c->n_mod;
    const size_t n = data->n;
    memset(joint, 0, sizeof(size_t) * n_radii);
    if (per_mod)
        memset(per_mod, 0, sizeof(size_t) * n_radii * (size_t)M);
    if (sum_mod_radius)
        memset(sum_mod_radius, 0, sizeof(double) * (size_t)M);
    if (missing)
        memset(missing, 0, sizeof(size_t) * (size_t)M);
    *sum_radius = 0.0;
    const int chunk = n < CRMTI_CERT_CHUNK ? (int)n : CRMTI_CERT_CHUNK;
    crmti_cert_ws *ws = crmti_cert_ws_create(c, chunk);
    crmt_certificate *tmp = malloc(sizeof(crmt_certificate) * (size_t)chunk);
    if (!ws || !tmp) {
        crmti_cert_ws_destroy(ws);
        free(tmp);
        return crmti_fail(NULL, CRMT_ERR_OUT_OF_MEMORY, "cannot allocate a certify workspace");
    }
    const float *in[CRMT_MAX_MODALITIES];
    for (size_t start = 0; start < n; start += (size_t)chunk) {
        const int b = (n - start < (size_t)chunk) ? (int)(n - start) : chunk;
        for (int m = 0; m < M; m++)
            in[m] = data->data[m] + start * data->dim[m];
        crmti_certify_chunk(c, ws, in, b, data->labels + start, tmp);
        for (int i = 0; i < b; i++) {
            const crmt_certificate *ct = &tmp[i];
            if (!ct->certified)
                continue;
            *sum_radius += ct->radius;
            for (int m = 0; m < M; m++) {
                if (sum_mod_radius)
                    sum_mod_radius[m] += ct->modality_radius[m];
                if (missing && ct->missing_survives[m])
                    missing[m]++;
            }
            for (size_t r = 0; r < n_radii; r++) {
                if (ct->radius >= radii[r])
                    joint[r]++;
                if (per_mod)
                    for (int m = 0; m < M; m++)
                        if (ct->modality_radius[m] >= radii[r])
                            per_mod[(size_t)m * n_radii + r]++;
            }
        }
    }
    crmti_cert_ws_destroy(ws);
    free(tmp);
    return CRMT_OK;
}
