#include "reference.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "model/model.h"
#include "tensor/linalg.h"

/* Everything is computed in long double (x87 extended precision on x86-64, a 64-bit
 * significand): accurate enough to check the library's double pass against its own rounding
 * bound, not only its float pass. */
static void layer_forward_ld(const crmti_layer *l, const float *p, int with_bias, const long double *x, long double *y)
{
    switch (l->kind) {
    case CRMTI_LAYER_LINEAR:
        for (int o = 0; o < l->out_size; o++) {
            long double s = with_bias ? (long double)p[l->b_offset + (size_t)o] : (long double)0;
            for (int i = 0; i < l->in_size; i++)
                s += (long double)p[l->w_offset + (size_t)o * l->in_size + i] * x[i];
            y[o] = s;
        }
        return;
    case CRMTI_LAYER_RELU:
        for (int i = 0; i < l->out_size; i++)
            y[i] = x[i] > 0 ? x[i] : 0;
        return;
    case CRMTI_LAYER_FLATTEN:
        memcpy(y, x, sizeof(long double) * (size_t)l->out_size);
        return;
    case CRMTI_LAYER_CONV2D:
        for (int o = 0; o < l->out_c; o++)
            for (int i = 0; i < l->out_h; i++)
                for (int j = 0; j < l->out_w; j++) {
                    long double s = with_bias ? (long double)p[l->b_offset + (size_t)o] : (long double)0;
                    for (int c = 0; c < l->in_c; c++)
                        for (int a = 0; a < l->kernel; a++)
                            for (int b = 0; b < l->kernel; b++) {
                                int r = i * l->stride - l->pad + a, q = j * l->stride - l->pad + b;
                                if (r < 0 || r >= l->in_h || q < 0 || q >= l->in_w)
                                    continue;
                                s += (long double)p[l->w_offset +
                                               (((size_t)o * l->in_c + c) * l->kernel + a) *
                                                   l->kernel +
                                               b] *
                                     x[(c * l->in_h + r) * l->in_w + q];
                            }
                    y[(o * l->out_h + i) * l->out_w + j] = s;
                }
        return;
    case CRMTI_LAYER_AVGPOOL:
    case CRMTI_LAYER_MAXPOOL:
        for (int c = 0; c < l->in_c; c++)
            for (int i = 0; i < l->out_h; i++)
                for (int j = 0; j < l->out_w; j++) {
                    long double s = 0, mx = -INFINITY;
                    for (int a = 0; a < l->kernel; a++)
                        for (int b = 0; b < l->kernel; b++) {
                            long double v = x[(c * l->in_h + i * l->stride + a) * l->in_w +
                                         j * l->stride + b];
                            s += v;
                            if (v > mx)
                                mx = v;
                        }
                    y[(c * l->out_h + i) * l->out_w + j] =
                        l->kind == CRMTI_LAYER_MAXPOOL ? mx : s / (long double)(l->kernel * l->kernel);
                }
        return;
    }
}

void crmt_test_ref_layer_forward(const crmti_layer *l, const float *p, int with_bias,
                                 const double *x, double *y)
{
    long double *xl = malloc(sizeof(long double) * (size_t)l->in_size);
    long double *yl = malloc(sizeof(long double) * (size_t)l->out_size);
    if (!xl || !yl) {
        free(xl), free(yl);
        for (int o = 0; o < l->out_size; o++)
            y[o] = NAN;
        return;
    }
    for (int i = 0; i < l->in_size; i++)
        xl[i] = x[i];
    layer_forward_ld(l, p, with_bias, xl, yl);
    for (int o = 0; o < l->out_size; o++)
        y[o] = (double)yl[o];
    free(xl), free(yl);
}

int crmt_test_exact_logits_ld(const crmt_model *model, const float *const *x, long double *h)
{
    const int K = model->n_classes;
    const float *a = crmti_integration(model);
    for (int k = 0; k < K; k++)
        h[k] = model->params[model->head_b_offset + (size_t)k];
    for (int m = 0; m < model->n_mod; m++) {
        const crmti_encoder *enc = &model->enc[m];
        int widest = enc->in_size;
        for (int l = 0; l < enc->n_layers; l++)
            if (enc->layers[l].out_size > widest)
                widest = enc->layers[l].out_size;
        const int d = enc->out_size;
        long double *cur = malloc(sizeof(long double) * (size_t)widest);
        long double *nxt = malloc(sizeof(long double) * (size_t)widest);
        float *rows = malloc(sizeof(float) * (size_t)K * (size_t)d);
        if (!cur || !nxt || !rows || crmti_head_rows(model, m, rows) != CRMT_OK) {
            free(cur), free(nxt), free(rows);
            return 0;
        }
        for (int c = 0; c < enc->in_size; c++)
            cur[c] = x[m][c];
        for (int l = 0; l < enc->n_layers; l++) {
            layer_forward_ld(&enc->layers[l], model->params, 1, cur, nxt);
            long double *t = cur;
            cur = nxt;
            nxt = t;
        }
        for (int k = 0; k < K; k++) {
            long double g = 0;
            for (int c = 0; c < d; c++)
                g += (long double)rows[(size_t)k * d + c] * cur[c];
            h[k] += (a ? (long double)a[m * K + k] : 1.0L) * g;
        }
        free(rows), free(cur), free(nxt);
    }
    return 1;
}

int crmt_test_exact_logits(const crmt_model *model, const float *const *x, double *h)
{
    long double *hl = malloc(sizeof(long double) * (size_t)model->n_classes);
    const int ok = hl && crmt_test_exact_logits_ld(model, x, hl);
    for (int k = 0; ok && k < model->n_classes; k++)
        h[k] = (double)hl[k];
    free(hl);
    return ok;
}

double crmt_test_exact_spectral_norm(const double *a, int rows, int cols)
{
    const int s = rows < cols ? rows : cols;
    double *g = calloc((size_t)s * s, sizeof(double));
    double *ev = malloc(sizeof(double) * s), *vec = malloc(sizeof(double) * s * s);
    for (int i = 0; i < s; i++)
        for (int j = 0; j < s; j++) {
            double acc = 0.0;
            if (rows <= cols)
                for (int t = 0; t < cols; t++)
                    acc += a[(size_t)i * cols + t] * a[(size_t)j * cols + t];
            else
                for (int t = 0; t < rows; t++)
                    acc += a[(size_t)t * cols + i] * a[(size_t)t * cols + j];
            g[(size_t)i * s + j] = acc;
        }
    crmti_sym_eigen(g, s, ev, vec);
    double mx = 0.0;
    for (int i = 0; i < s; i++)
        if (ev[i] > mx)
            mx = ev[i];
    free(g);
    free(ev);
    free(vec);
    return sqrt(mx);
}
