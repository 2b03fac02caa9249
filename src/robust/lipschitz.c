/* Lipschitz constants: sound bounds (Gram iteration, head folded into the trailing linear
 * run) and empirical estimates (largest input-gradient norm). See lipschitz.h. */
#include "robust/lipschitz.h"

#include <cblas.h>
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "model/model.h"

/* Samples per chunk of the empirical pass. */
#define EMPIRICAL_CHUNK 128

static void symmetrize_upper(double *a, int s)
{
    for (int i = 0; i < s; i++)
        for (int j = 0; j < i; j++)
            a[(size_t)i * s + j] = a[(size_t)j * s + i];
}

static double frobenius(const double *a, size_t n)
{
    double ss = 0.0;
    for (size_t i = 0; i < n; i++)
        ss += a[i] * a[i];
    return sqrt(ss);
}

crmt_status crmti_spectral_norm_bound(const double *w, int rows, int cols, double *bound)
{
    *bound = 0.0;
    if (rows < 1 || cols < 1)
        return CRMT_OK;
    const int s = rows < cols ? rows : cols;
    const int big = rows < cols ? cols : rows;
    const size_t ss = (size_t)s * (size_t)s;
    double *a = malloc(sizeof(double) * ss);
    double *b = malloc(sizeof(double) * ss);
    if (!a || !b) {
        free(a);
        free(b);
        return crmti_fail(NULL, CRMT_ERR_OUT_OF_MEMORY,
                          "cannot allocate a %d x %d Gram matrix for a spectral norm", s, s);
    }
    /* A_0 = w w^T (s = rows) or w^T w (s = cols); sigma_1(A_0) = ||w||_2^2. */
    if (rows <= cols)
        cblas_dsyrk(CblasRowMajor, CblasUpper, CblasNoTrans, s, cols, 1.0, w, cols, 0.0, a, s);
    else
        cblas_dsyrk(CblasRowMajor, CblasUpper, CblasTrans, s, rows, 1.0, w, cols, 0.0, a, s);
    symmetrize_upper(a, s);
    /* log ||w|| = 1/2 log sigma(A_0); log sigma(A_t) = log r_t + 1/2 log sigma(A_{t+1});
     * the last sigma is bounded by the Frobenius norm. */
    double log_bound = 0.0, weight = 0.5;
    for (int t = 0;; t++) {
        double r = frobenius(a, ss);
        if (r == 0.0) {
            free(a);
            free(b);
            return CRMT_OK; /* w = 0 */
        }
        log_bound += weight * log(r);
        if (t == CRMTI_GRAM_ITERS)
            break;
        const double inv = 1.0 / r;
        for (size_t i = 0; i < ss; i++)
            b[i] = a[i] * inv;
        cblas_dsyrk(CblasRowMajor, CblasUpper, CblasTrans, s, s, 1.0, b, s, 0.0, a, s);
        symmetrize_upper(a, s);
        weight *= 0.5;
    }
    free(a);
    free(b);
    *bound = exp(log_bound) *
             (1.0 + CRMTI_LIP_SLACK + 2.0 * (double)s * ((double)big + 2.0) * DBL_EPSILON);
    return CRMT_OK;
}

void crmti_lipschitz_release(crmti_lipschitz *lip)
{
    if (!lip)
        return;
    free(lip->block);
    memset(lip, 0, sizeof *lip);
}

static crmt_status alloc_tables(crmti_lipschitz *out, const crmt_model *model, int sound)
{
    memset(out, 0, sizeof *out);
    const size_t M = (size_t)model->n_mod, K = (size_t)model->n_classes;
    size_t per_mod = K + (sound ? K * K + K : 0);
    out->block = calloc(M * per_mod, sizeof(double));
    if (!out->block)
        return crmti_fail(NULL, CRMT_ERR_OUT_OF_MEMORY,
                          "cannot allocate Lipschitz tables (%zu modalities x %zu classes)", M,
                          K);
    double *p = out->block;
    for (size_t m = 0; m < M; m++) {
        out->tau[m] = p;
        p += K;
        if (sound) {
            out->gram[m] = p;
            p += K * K;
            out->absnorm[m] = p;
            p += K;
        }
    }
    out->n_mod = model->n_mod;
    out->n_classes = model->n_classes;
    out->method = sound ? CRMT_LIPSCHITZ_SOUND : CRMT_LIPSCHITZ_EMPIRICAL;
    return CRMT_OK;
}

/* Double copy of layer l's weights (out x in), optionally absolute values. */
static void layer_weights(const crmt_model *model, const crmti_layer *layer, double *dst,
                          int absval)
{
    const float *w = model->params + layer->w_offset;
    const size_t n = (size_t)layer->out_size * (size_t)layer->in_size;
    for (size_t i = 0; i < n; i++)
        dst[i] = absval ? fabs((double)w[i]) : (double)w[i];
}

/* Bound of the spectral norm of the product of the linear layers first..last (no ReLU in
 * between), W_last ... W_first, including the rounding of forming the product in double. */
static crmt_status run_bound(const crmt_model *model, const crmti_encoder *enc, int first,
                             int last, double *bound)
{
    const crmti_layer *lf = &enc->layers[first];
    size_t cols = (size_t)lf->in_size, rows = (size_t)lf->out_size;
    size_t widest = rows;
    for (int l = first; l <= last; l++)
        if ((size_t)enc->layers[l].out_size > widest)
            widest = (size_t)enc->layers[l].out_size;
    double *p = malloc(sizeof(double) * widest * cols);
    double *pa = malloc(sizeof(double) * widest * cols);
    double *q = malloc(sizeof(double) * widest * cols);
    double *w = malloc(sizeof(double) * widest * widest);
    crmt_status st = CRMT_OK;
    if (!p || !pa || !q || !w) {
        st = crmti_fail(NULL, CRMT_ERR_OUT_OF_MEMORY,
                        "cannot allocate the product of encoder layers %d..%d", first, last);
        goto done;
    }
    layer_weights(model, lf, p, 0);
    layer_weights(model, lf, pa, 1);
    double inner = 0.0;
    for (int l = first + 1; l <= last; l++) {
        const crmti_layer *ly = &enc->layers[l];
        const int o = ly->out_size, in = ly->in_size;
        layer_weights(model, ly, w, 0);
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, o, (int)cols, in, 1.0, w, in, p,
                    (int)cols, 0.0, q, (int)cols);
        memcpy(p, q, sizeof(double) * (size_t)o * cols);
        layer_weights(model, ly, w, 1);
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, o, (int)cols, in, 1.0, w, in, pa,
                    (int)cols, 0.0, q, (int)cols);
        memcpy(pa, q, sizeof(double) * (size_t)o * cols);
        rows = (size_t)o;
        inner += (double)in + 2.0;
    }
    st = crmti_spectral_norm_bound(p, (int)rows, (int)cols, bound);
    if (st == CRMT_OK && inner > 0.0) {
        /* |computed - exact| <= gamma |W_last| ... |W_first| elementwise, and
         * ||E||_2 <= ||E||_F. */
        *bound += 2.0 * inner * DBL_EPSILON * frobenius(pa, rows * cols);
    }
done:
    free(p);
    free(pa);
    free(q);
    free(w);
    return st;
}

/* Sound constants of one modality. */
static crmt_status sound_modality(crmti_lipschitz *out, const crmt_model *model, int m)
{
    const crmti_encoder *enc = &model->enc[m];
    const int K = model->n_classes, d = enc->out_size;
    for (int l = 0; l < enc->n_layers; l++)
        if ((int)enc->layers[l].kind < 0 || (int)enc->layers[l].kind >= CRMTI_LAYER_KINDS)
            return crmti_fail(NULL, CRMT_ERR_UNSUPPORTED,
                              "modality %d layer %d: no sound Lipschitz bound for this layer "
                              "kind",
                              m, l);
    /* The folded run is the linear layers after the last layer that is neither linear nor
     * flatten (ReLU, conv2d, pooling); flatten is the identity and is skipped everywhere. */
    int last_relu = -1;
    for (int l = 0; l < enc->n_layers; l++)
        if (enc->layers[l].kind != CRMTI_LAYER_LINEAR && enc->layers[l].kind != CRMTI_LAYER_FLATTEN)
            last_relu = l;

    /* Prefix: runs of linear layers, and each conv2d or pooling layer as its own factor
     * (crmti_layer_lipschitz_bound, docs/conv.md); ReLU and flatten are 1-Lipschitz. */
    double prefix = 1.0;
    for (int l = 0; l <= last_relu;) {
        const crmti_layer_kind kind = enc->layers[l].kind;
        if (kind == CRMTI_LAYER_RELU || kind == CRMTI_LAYER_FLATTEN) {
            l++;
            continue;
        }
        double b = 0.0;
        crmt_status st;
        if (kind != CRMTI_LAYER_LINEAR) {
            st = crmti_layer_lipschitz_bound(&enc->layers[l], model->params, &b);
            if (st != CRMT_OK)
                return st;
            prefix *= b;
            l++;
            continue;
        }
        int first = l;
        while (l + 1 <= last_relu && enc->layers[l + 1].kind == CRMTI_LAYER_LINEAR)
            l++;
        st = run_bound(model, enc, first, l, &b);
        if (st != CRMT_OK)
            return st;
        prefix *= b;
        l++;
    }

    /* Fold the head into the trailing run: U = H W_L ... W_s, A = |H| |W_L| ... |W_s|. */
    size_t widest = (size_t)d;
    for (int l = last_relu + 1; l < enc->n_layers; l++)
        if ((size_t)enc->layers[l].in_size > widest)
            widest = (size_t)enc->layers[l].in_size;
    int n_fold = 0; /* linear layers in the folded run */
    for (int l = last_relu + 1; l < enc->n_layers; l++)
        n_fold += enc->layers[l].kind == CRMTI_LAYER_LINEAR;
    const size_t KW = (size_t)K * widest;
    float *hf = malloc(sizeof(float) * (size_t)K * (size_t)d);
    double *u = malloc(sizeof(double) * KW), *ua = malloc(sizeof(double) * KW);
    double *tmp = malloc(sizeof(double) * KW);
    double *w = NULL;
    crmt_status st = CRMT_OK;
    if (n_fold > 0) {
        size_t wmax = 0;
        for (int l = last_relu + 1; l < enc->n_layers; l++) {
            if (enc->layers[l].kind != CRMTI_LAYER_LINEAR)
                continue;
            size_t n = (size_t)enc->layers[l].out_size * (size_t)enc->layers[l].in_size;
            if (n > wmax)
                wmax = n;
        }
        w = malloc(sizeof(double) * wmax);
        if (!w)
            st = CRMT_ERR_OUT_OF_MEMORY;
    }
    if (!hf || !u || !ua || !tmp || st != CRMT_OK) {
        st = crmti_fail(NULL, CRMT_ERR_OUT_OF_MEMORY,
                        "cannot allocate the folded head of modality %d", m);
        goto done;
    }
    st = crmti_head_rows(model, m, hf);
    if (st != CRMT_OK)
        goto done;
    size_t cols = (size_t)d;
    for (size_t i = 0; i < (size_t)K * cols; i++) {
        u[i] = (double)hf[i];
        ua[i] = fabs((double)hf[i]);
    }
    double inner = 0.0;
    for (int l = enc->n_layers - 1; l > last_relu; l--) {
        const crmti_layer *ly = &enc->layers[l];
        if (ly->kind == CRMTI_LAYER_FLATTEN)
            continue; /* identity: same width in and out */
        const int o = ly->out_size, in = ly->in_size;
        layer_weights(model, ly, w, 0);
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, K, in, o, 1.0, u, o, w, in, 0.0,
                    tmp, in);
        memcpy(u, tmp, sizeof(double) * (size_t)K * (size_t)in);
        layer_weights(model, ly, w, 1);
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, K, in, o, 1.0, ua, o, w, in, 0.0,
                    tmp, in);
        memcpy(ua, tmp, sizeof(double) * (size_t)K * (size_t)in);
        cols = (size_t)in;
        inner += (double)o + 2.0;
    }
    inner += (double)cols + 2.0; /* forming G */
    double *g = out->gram[m];
    cblas_dsyrk(CblasRowMajor, CblasUpper, CblasNoTrans, K, (int)cols, 1.0, u, (int)cols, 0.0, g,
                K);
    symmetrize_upper(g, K);
    for (int k = 0; k < K; k++)
        out->absnorm[m][k] = frobenius(ua + (size_t)k * cols, cols);
    /* Rounding allowance of the pair bound (generous: 8x the first-order gamma terms). */
    out->fp[m] = 16.0 * (inner + 16.0) * DBL_EPSILON;
    out->prefix[m] = prefix * (1.0 + CRMTI_LIP_SLACK);
    for (int k = 0; k < K; k++) {
        double nk = out->absnorm[m][k];
        double gkk = g[(size_t)k * K + k];
        out->tau[m][k] = out->prefix[m] * sqrt((gkk > 0.0 ? gkk : 0.0) + out->fp[m] * nk * nk);
    }
done:
    free(hf);
    free(u);
    free(ua);
    free(tmp);
    free(w);
    return st;
}

crmt_status crmti_lipschitz_sound(crmti_lipschitz *out, const crmt_model *model)
{
    crmt_status st = alloc_tables(out, model, 1);
    if (st != CRMT_OK)
        return st;
    for (int m = 0; m < model->n_mod; m++) {
        st = sound_modality(out, model, m);
        if (st != CRMT_OK) {
            crmti_lipschitz_release(out);
            return st;
        }
    }
    return CRMT_OK;
}

crmt_status crmti_lipschitz_empirical(crmti_lipschitz *out, const crmt_model *model,
                                      const float *const *inputs, size_t n)
{
    crmt_status st = alloc_tables(out, model, 0);
    if (st != CRMT_OK)
        return st;
    const int K = model->n_classes;
    const int chunk = n < EMPIRICAL_CHUNK ? (int)n : EMPIRICAL_CHUNK;
    size_t dmax = 1;
    for (int m = 0; m < model->n_mod; m++)
        if ((size_t)model->enc[m].out_size > dmax)
            dmax = (size_t)model->enc[m].out_size;
    crmti_ws *ws = chunk > 0 ? crmti_ws_create(model, chunk) : NULL;
    float *h = malloc(sizeof(float) * (size_t)K * dmax);
    if ((chunk > 0 && !ws) || !h) {
        crmti_ws_destroy(ws);
        free(h);
        crmti_lipschitz_release(out);
        return crmti_fail(NULL, CRMT_ERR_OUT_OF_MEMORY,
                          "cannot allocate the empirical Lipschitz workspace");
    }
    for (int m = 0; m < model->n_mod && st == CRMT_OK; m++) {
        const crmti_encoder *enc = &model->enc[m];
        const int d = enc->out_size, nin = enc->in_size;
        st = crmti_head_rows(model, m, h);
        if (st != CRMT_OK)
            break;
        double *tau = out->tau[m];
        for (size_t start = 0; start < n; start += (size_t)chunk) {
            const int b = (n - start < (size_t)chunk) ? (int)(n - start) : chunk;
            const float *x = inputs[m] + start * (size_t)nin;
            crmti_encode(model, ws, m, x, b);
            for (int k = 0; k < K; k++) {
                const float *row = h + (size_t)k * d;
                float *dout = ws->grad_a, *din = ws->grad_b;
                for (int i = 0; i < b; i++)
                    memcpy(dout + (size_t)i * d, row, sizeof(float) * (size_t)d);
                for (int l = enc->n_layers - 1; l >= 0; l--) {
                    const float *in = (l == 0) ? x : ws->act[m][l - 1];
                    crmti_layer_backward_ws(&enc->layers[l], model->params, in,
                                            ws->act[m][l], dout, din, NULL, b,
                                            ws->layer_scratch);
                    float *t = dout;
                    dout = din;
                    din = t;
                }
                for (int i = 0; i < b; i++) {
                    const float *gi = dout + (size_t)i * nin;
                    double ss = 0.0;
                    for (int c = 0; c < nin; c++)
                        ss += (double)gi[c] * gi[c];
                    double nrm = sqrt(ss);
                    if (nrm > tau[k])
                        tau[k] = nrm;
                }
            }
        }
    }
    crmti_ws_destroy(ws);
    free(h);
    if (st != CRMT_OK) {
        crmti_lipschitz_release(out);
        return st;
    }
    out->n_samples = n;
    return CRMT_OK;
}

double crmti_lipschitz_pair_grad(const crmti_lipschitz *lip, int m, int y, int j, double cy,
                                 double cj, double *d_cy, double *d_cj)
{
    const double sy = cy > 0.0 ? 1.0 : (cy < 0.0 ? -1.0 : 0.0);
    const double sj = cj > 0.0 ? 1.0 : (cj < 0.0 ? -1.0 : 0.0);
    if (lip->method == CRMT_LIPSCHITZ_EMPIRICAL) {
        const double ty = lip->tau[m][y], tj = lip->tau[m][j];
        if (d_cy)
            *d_cy = sy * ty;
        if (d_cj)
            *d_cj = sj * tj;
        return fabs(cy) * ty + fabs(cj) * tj;
    }
    const size_t K = (size_t)lip->n_classes;
    const double *g = lip->gram[m];
    const double gyy = g[(size_t)y * K + (size_t)y], gjj = g[(size_t)j * K + (size_t)j];
    const double gyj = g[(size_t)y * K + (size_t)j];
    const double ny = lip->absnorm[m][y], nj = lip->absnorm[m][j], fp = lip->fp[m];
    const double q = cy * cy * gyy - 2.0 * cy * cj * gyj + cj * cj * gjj;
    const double s = fabs(cy) * ny + fabs(cj) * nj;
    const double big_q = (q > 0.0 ? q : 0.0) + fp * s * s;
    const double root = sqrt(big_q);
    const double p = lip->prefix[m];
    if (d_cy || d_cj) {
        double dqy = (q > 0.0 ? 2.0 * cy * gyy - 2.0 * cj * gyj : 0.0) + 2.0 * fp * s * sy * ny;
        double dqj = (q > 0.0 ? 2.0 * cj * gjj - 2.0 * cy * gyj : 0.0) + 2.0 * fp * s * sj * nj;
        double f = root > 0.0 ? p / (2.0 * root) : 0.0;
        if (d_cy)
            *d_cy = f * dqy;
        if (d_cj)
            *d_cj = f * dqj;
    }
    return p * root;
}

double crmti_lipschitz_pair(const crmti_lipschitz *lip, int m, int y, int j, double cy,
                            double cj)
{
    return crmti_lipschitz_pair_grad(lip, m, y, j, cy, cj, NULL, NULL);
}
