/* bench_conv: one conv2d layer's forward + backward (parameter and input gradients) against
 * the sgemm calls it lowers to, with the same M, N, K, timed in the same run
 * (docs/conv.md, "Performance").
 *
 * The layer is the one crmt_model_create builds for an image modality followed by
 * crmt_spec_add_conv2d; it runs through the model workspace's im2col scratch exactly as in
 * training (crmti_layer_forward_ws / crmti_layer_backward_ws). For out_c filters of
 * in_c x k x k, P = out_h out_w output pixels and batch B, the lowering is
 *   forward   tmp  (out_c x B P)   = W (out_c x in_c k k) col (in_c k k x B P)
 *   backward  dW   (out_c x in_c k k) += dOut (out_c x B P) col^T
 *             dcol (in_c k k x B P)   = W^T dOut
 * and the reference is these three sgemm calls alone on preallocated operands (no im2col, no
 * col2im, no layout changes). The ratio conv / sgemm is what the lowering costs on top of the
 * BLAS work; the target is <= 2. The machine may be shared: each round times the conv and
 * the sgemm calls back to back, and the ratio reported is the median over rounds of the ratio
 * within a round (best and median times are printed too).
 *
 * Shapes (default): batch 64, 1x28x28 -> 16 channels k5 s1 p2, and 16x28x28 -> 32 k3 s2 p1.
 * Usage: bench_conv [--reps R] [--batch B]     (defaults: 30 rounds after 2 warm-ups, 64)
 * One thread is meant (OPENBLAS_NUM_THREADS=1); the OpenBLAS kernel in use is printed.
 * Machine-readable lines: "RESULT <name> <value> <unit> <kernel>". */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cblas.h>

#include "bench_common.h"
#include "crmt/crmt.h"
#include "model/model.h"
#include "nn/layer.h"

static float *xalloc(size_t n)
{
    float *p = malloc(sizeof(float) * (n ? n : 1));
    if (!p) {
        fprintf(stderr, "bench_conv: out of memory (%zu floats)\n", n);
        exit(1);
    }
    for (size_t i = 0; i < n; i++)
        p[i] = (float)((double)((i * 2654435761u) % 1000u) / 1000.0 - 0.5);
    return p;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Best and median of n timings (sorts v). The machine may be shared: noise only ever slows a
 * run down, so the ratios use the best times. */
static double best_of(double *v, int n, double *med)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    *med = n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
    return v[0];
}

typedef struct shape {
    int c, h, w, oc, k, s, p;
} shape;

static void run(const shape *sh, int batch, int reps)
{
    crmt_spec *spec;
    bench_check(crmt_spec_create(&spec, 2), "crmt_spec_create");
    bench_check(crmt_spec_add_modality_image(spec, "img", sh->c, sh->h, sh->w, NULL), "image");
    bench_check(crmt_spec_add_conv2d(spec, 0, sh->oc, sh->k, sh->s, sh->p), "conv2d");
    crmt_model *model;
    bench_check(crmt_model_create(&model, spec, 1), "crmt_model_create");
    crmt_spec_destroy(spec);
    const crmti_layer *l = &model->enc[0].layers[0];
    crmti_ws *ws = crmti_ws_create(model, batch);
    if (!ws) {
        fprintf(stderr, "bench_conv: cannot allocate a workspace\n");
        exit(1);
    }
    const int M = l->out_c, K = l->in_c * l->kernel * l->kernel;
    const int P = l->out_h * l->out_w, N = batch * P;
    float *x = xalloc((size_t)batch * l->in_size), *y = ws->act[0][0];
    float *dy = xalloc((size_t)batch * l->out_size), *dx = xalloc((size_t)batch * l->in_size);
    float *dp = xalloc(model->n_params);
    /* the sgemm operands: col (K x N), tmp / dOut (M x N), W (M x K), dW (M x K) */
    float *col = xalloc((size_t)K * N), *tmp = xalloc((size_t)M * N);
    float *w = xalloc((size_t)M * K), *dw = xalloc((size_t)M * K);
    double *t_conv = malloc(sizeof(double) * reps), *t_fwd = malloc(sizeof(double) * reps);
    double *t_gemm = malloc(sizeof(double) * reps), *t_gfwd = malloc(sizeof(double) * reps);
    double *r_all = malloc(sizeof(double) * reps), *r_fwd = malloc(sizeof(double) * reps);
    for (int r = -2; r < reps; r++) { /* two warm-up rounds */
        double t0 = bench_now();
        crmti_layer_forward_ws(l, model->params, x, y, batch, ws->layer_scratch);
        double t1 = bench_now();
        crmti_layer_backward_ws(l, model->params, x, y, dy, dx, dp, batch, ws->layer_scratch);
        double t2 = bench_now();
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, M, N, K, 1.0f, w, K, col, N, 0.0f,
                    tmp, N);
        double t3 = bench_now();
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, M, K, N, 1.0f, tmp, N, col, N, 1.0f,
                    dw, K);
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, K, N, M, 1.0f, w, K, tmp, N, 0.0f,
                    col, N);
        double t4 = bench_now();
        if (r >= 0) {
            t_fwd[r] = t1 - t0;
            t_conv[r] = t2 - t0;
            t_gfwd[r] = t3 - t2;
            t_gemm[r] = t4 - t2;
            r_all[r] = t_conv[r] / t_gemm[r];
            r_fwd[r] = t_fwd[r] / t_gfwd[r];
        }
    }
    double conv_med, fwd_med, gemm_med, gfwd_med;
    const double conv = best_of(t_conv, reps, &conv_med), fwd = best_of(t_fwd, reps, &fwd_med);
    const double gemm = best_of(t_gemm, reps, &gemm_med);
    const double gfwd = best_of(t_gfwd, reps, &gfwd_med);
    double ratio, ratio_fwd; /* median over rounds of the ratio within a round */
    best_of(r_all, reps, &ratio);
    best_of(r_fwd, reps, &ratio_fwd);
    const double flops = 3.0 * 2.0 * (double)M * N * K;
    char name[96];
    snprintf(name, sizeof name, "%dx%dx%d->%d_k%d_s%d_p%d_b%d", sh->c, sh->h, sh->w, sh->oc,
             sh->k, sh->s, sh->p, batch);
    printf("\nconv %s: out %dx%dx%d; sgemm M=%d N=%d K=%d (forward), im2col group %d samples\n",
           name, l->out_c, l->out_h, l->out_w, M, N, K,
           (int)(crmti_layer_scratch_size(l, batch) / ((size_t)(K + M) * P)));
    printf("  %-32s %9s %9s\n", "(ms)", "best", "median");
    printf("  %-32s %9.3f %9.3f\n", "conv forward", 1e3 * fwd, 1e3 * fwd_med);
    printf("  %-32s %9.3f %9.3f\n", "sgemm forward (same M, N, K)", 1e3 * gfwd, 1e3 * gfwd_med);
    printf("  %-32s %9.3f %9.3f   (%.2f GFLOP/s)\n", "conv forward + backward", 1e3 * conv,
           1e3 * conv_med, flops / conv * 1e-9);
    printf("  %-32s %9.3f %9.3f   (%.2f GFLOP/s)\n", "the 3 sgemm calls alone", 1e3 * gemm,
           1e3 * gemm_med, flops / gemm * 1e-9);
    printf("  ratio conv / sgemm: forward %.2f, forward + backward %.2f (median over rounds of the "
           "ratio within a round; of the best times: %.2f, %.2f); target <= 2\n",
           ratio_fwd, ratio, fwd / gfwd, conv / gemm);
    char rn[160];
    snprintf(rn, sizeof rn, "conv_%s_fwd_bwd_ms", name);
    bench_result(rn, 1e3 * conv, "ms");
    snprintf(rn, sizeof rn, "conv_%s_sgemm_ms", name);
    bench_result(rn, 1e3 * gemm, "ms");
    snprintf(rn, sizeof rn, "conv_%s_ratio", name);
    bench_result(rn, ratio, "x");
    free(x), free(dy), free(dx), free(dp), free(col), free(tmp), free(w), free(dw);
    free(t_conv), free(t_fwd), free(t_gemm), free(t_gfwd), free(r_all), free(r_fwd);
    crmti_ws_destroy(ws);
    crmt_model_destroy(model);
}

int main(int argc, char **argv)
{
    int reps = 30, batch = 64;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--reps") && i + 1 < argc)
            reps = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--batch") && i + 1 < argc)
            batch = atoi(argv[++i]);
        else {
            fprintf(stderr, "usage: bench_conv [--reps R] [--batch B]\n");
            return 2;
        }
    }
    if (reps < 1 || batch < 1) {
        fprintf(stderr, "bench_conv: reps and batch must be >= 1\n");
        return 2;
    }
    bench_start("bench_conv");
    const char *threads = getenv("OPENBLAS_NUM_THREADS");
    const char *core = getenv("OPENBLAS_CORETYPE");
    printf("bench_conv: OpenBLAS kernel %s (OPENBLAS_CORETYPE=%s), OPENBLAS_NUM_THREADS=%s, "
           "batch %d, %d timed rounds\n",
           bench_kernel, core ? core : "unset", threads ? threads : "unset", batch, reps);
    const shape shapes[2] = {{1, 28, 28, 16, 5, 1, 2}, {16, 28, 28, 32, 3, 2, 1}};
    for (int i = 0; i < 2; i++)
        run(&shapes[i], batch, reps);
    return 0;
}
