/* The certifier: cached Lipschitz constants, a double-precision copy of the model, and the
 * radius computation of CRMT section 3.
 *
 * Margins are computed by a double-precision forward pass run together with an
 * absolute-value pass a_0 = |x|, a_l = |W_l| a_{l-1} + |b_l| (ReLU: a_l = a_{l-1}). With
 * gamma_n = n u / (1 - n u) the standard dot-product bound gives, elementwise,
 *   |computed phi_m - exact phi_m| <= (sum_l gamma_{in_l + 2}) a_L,
 * and for the head logits and the fusion the same with |H| and |c|. The certifier subtracts
 * this allowance (with DBL_EPSILON = 2u, i.e. a factor 2 of safety) from every margin before
 * dividing by the Lipschitz bound, so the radii are sound for the exact real-arithmetic
 * function of the float parameters. */
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
            return crmti_fail(NULL, CRMT_ERR_INVALID_ARGUMENT, "%s: modality %d is not set",
                              what, m);
        if (data->dim[m] != (size_t)model->enc[m].in_size)
            return crmti_fail(NULL, CRMT_ERR_SHAPE,
                              "%s: modality %d has dimension %zu, the model expects %d", what, m,
                              data->dim[m], model->enc[m].in_size);
    }
    if (need_labels) {
        if (!data->labels)
            return crmti_fail(NULL, CRMT_ERR_INVALID_ARGUMENT, "%s has no labels", what);
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

    /* Sizes of the double copy and of the fill vectors. */
    size_t doubles = (size_t)M * (size_t)K + (size_t)K, floats = 0;
    size_t widest = 1;
    for (int m = 0; m < M; m++) {
        const crmti_encoder *enc = &model->enc[m];
        floats += (size_t)enc->in_size;
        if ((size_t)enc->in_size > widest)
            widest = (size_t)enc->in_size;
        for (int l = 0; l < enc->n_layers; l++) {
            const crmti_layer *ly = &enc->layers[l];
            if ((size_t)ly->out_size > widest)
                widest = (size_t)ly->out_size;
            doubles += 2 * crmti_layer_n_weights(ly) + crmti_layer_n_bias(ly);
        }
        doubles += 2 * (size_t)K * (size_t)enc->out_size;
    }
    c->widest = widest;
    c->dblock = malloc(sizeof(double) * doubles);
    c->fblock = calloc(floats, sizeof(float));
    size_t dmax = 1;
    for (int m = 0; m < M; m++)
        if ((size_t)model->enc[m].out_size > dmax)
            dmax = (size_t)model->enc[m].out_size;
    float *rows = malloc(sizeof(float) * (size_t)K * dmax);
    if (!c->dblock || !c->fblock || !rows) {
        free(rows);
        crmti_certifier_free(c);
        return crmti_fail(NULL, CRMT_ERR_OUT_OF_MEMORY,
                          "cannot allocate the certifier's copy of the model (%zu doubles)",
                          doubles);
    }
    double *p = c->dblock;
    float *f = c->fblock;
    const double u = DBL_EPSILON; /* 2x the unit roundoff: a factor 2 of safety */
    for (int m = 0; m < M; m++) {
        const crmti_encoder *enc = &model->enc[m];
        double gam = 0.0;
        for (int l = 0; l < enc->n_layers; l++) {
            const crmti_layer *ly = &enc->layers[l];
            /* linear, conv2d: dot products of dot_length terms plus the bias; average
             * pooling: k^2 terms and one scaling; ReLU, max pooling, flatten: exact */
            const int dot = crmti_layer_dot_length(ly);
            const size_t nw = crmti_layer_n_weights(ly), nb = crmti_layer_n_bias(ly);
            if (nw == 0) {
                if (dot > 0)
                    gam += ((double)dot + 2.0) * u;
                continue;
            }
            const float *w = model->params + ly->w_offset, *b = model->params + ly->b_offset;
            c->w[m][l] = p;
            p += nw;
            c->wabs[m][l] = p;
            p += nw;
            c->bias_l[m][l] = p;
            p += nb;
            for (size_t i = 0; i < nw; i++) {
                c->w[m][l][i] = (double)w[i];
                c->wabs[m][l][i] = fabs((double)w[i]);
            }
            for (size_t o = 0; o < nb; o++)
                c->bias_l[m][l][o] = (double)b[o];
            gam += ((double)dot + 2.0) * u;
        }
        const size_t nh = (size_t)K * (size_t)enc->out_size;
        st = crmti_head_rows(model, m, rows);
        if (st != CRMT_OK) {
            free(rows);
            crmti_certifier_free(c);
            return st;
        }
        c->head[m] = p;
        p += nh;
        c->head_abs[m] = p;
        p += nh;
        for (size_t i = 0; i < nh; i++) {
            c->head[m][i] = (double)rows[i];
            c->head_abs[m][i] = fabs((double)rows[i]);
        }
        gam += ((double)enc->out_size + 2.0) * u;
        c->gamma[m] = gam;
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
    c->gamma_fuse = ((double)M + 4.0) * u;
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
    ws->block = malloc(sizeof(double) *
                       (4 * B * c->widest + 4 * B * K + B * (size_t)c->n_mod + lscratch));
    if (!ws->fws || !ws->block) {
        crmti_cert_ws_destroy(ws);
        return NULL;
    }
    double *p = ws->block;
    ws->x = p;
    p += B * c->widest;
    ws->xa = p;
    p += B * c->widest;
    ws->y = p;
    p += B * c->widest;
    ws->ya = p;
    p += B * c->widest;
    ws->g = p;
    p += B * K;
    ws->ga = p;
    p += B * K;
    ws->h = p;
    p += B * K;
    ws->e = p;
    p += B * K;
    ws->dist = p;
    p += B * (size_t)c->n_mod;
    ws->lscratch = p;
    return ws;
}

void crmti_cert_ws_destroy(crmti_cert_ws *ws)
{
    if (!ws)
        return;
    crmti_ws_destroy(ws->fws);
    free(ws->block);
    free(ws);
}

/* Double forward pass of b samples: ws->h = fused logits, ws->e = their allowance. */
static void forward_double(const crmt_certifier *c, crmti_cert_ws *ws,
                           const float *const *inputs, int b)
{
    const crmt_model *model = c->model;
    const int K = c->n_classes;
    for (int i = 0; i < b; i++)
        for (int k = 0; k < K; k++) {
            ws->h[(size_t)i * K + k] = c->bias[k];
            ws->e[(size_t)i * K + k] = c->gamma_fuse * fabs(c->bias[k]);
        }
    for (int m = 0; m < c->n_mod; m++) {
        const crmti_encoder *enc = &model->enc[m];
        const size_t n_in = (size_t)b * (size_t)enc->in_size;
        double *x = ws->x, *xa = ws->xa, *y = ws->y, *ya = ws->ya;
        for (size_t i = 0; i < n_in; i++) {
            x[i] = (double)inputs[m][i];
            xa[i] = fabs(x[i]);
        }
        int width = enc->in_size;
        for (int l = 0; l < enc->n_layers; l++) {
            const crmti_layer *ly = &enc->layers[l];
            /* y = layer(x); ya = the same layer with |W|, |b| on xa >= 0 (for ReLU and max
             * pooling, which are 1-Lipschitz in the max norm, ya = relu(xa) = xa and
             * ya = max(xa)). Linear, conv2d: y = b + W x, ya = |b| + |W| xa. */
            crmti_layer_forward_f64(ly, c->w[m][l], c->bias_l[m][l], 0, x, y, b, ws->lscratch);
            crmti_layer_forward_f64(ly, c->wabs[m][l], c->bias_l[m][l], 1, xa, ya, b,
                                    ws->lscratch);
            double *t = x;
            x = y;
            y = t;
            t = xa;
            xa = ya;
            ya = t;
            width = ly->out_size;
        }
        /* g = phi H^T, ga = a |H|^T */
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, b, K, width, 1.0, x, width,
                    c->head[m], width, 0.0, ws->g, K);
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, b, K, width, 1.0, xa, width,
                    c->head_abs[m], width, 0.0, ws->ga, K);
        const double *cm = c->coef + (size_t)m * K;
        const double gm = c->gamma[m] + c->gamma_fuse;
        for (int i = 0; i < b; i++)
            for (int k = 0; k < K; k++) {
                const size_t t = (size_t)i * K + (size_t)k;
                const double ck = cm[k];
                ws->h[t] += ck * ws->g[t];
                ws->e[t] += gm * fabs(ck) * ws->ga[t];
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
    crmti_forward(model, ws->fws, inputs, b);
    forward_double(c, ws, inputs, b);
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
        const float *fl = ws->fws->logits + (size_t)i * K;
        int pred = 0;
        for (int k = 1; k < K; k++)
            if (fl[k] > fl[pred])
                pred = k;
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
