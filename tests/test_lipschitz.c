/* Lipschitz constants (src/robust/lipschitz.c): the Gram-iteration spectral bound against
 * the exact spectral norm (Jacobi eigen-decomposition in double), the sound per-pair bounds
 * against input-gradient norms, the folded bound against its closed form for linear
 * encoders, and the derivative used by CRMT step 2. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crmt/crmt.h"
#include "reference.h"
#include "test_models.h"
#include "model/model.h"
#include "robust/lipschitz.h"
#include "tensor/rng.h"

START_TEST(test_spectral_bound_random_matrices)
{
    crmti_rng rng;
    crmti_rng_seed(&rng, 11);
    const int shapes[][2] = {{1, 1},  {1, 7},  {7, 1},   {5, 5},   {3, 40}, {40, 3},
                             {16, 32}, {32, 16}, {64, 48}, {10, 10}, {50, 50}};
    double worst_ratio = 1.0;
    int cases = 0;
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        for (int rep = 0; rep < 4; rep++) {
            const int rows = shapes[s][0], cols = shapes[s][1];
            double *w = malloc(sizeof(double) * rows * cols);
            for (int i = 0; i < rows * cols; i++)
                w[i] = crmti_rng_normal(&rng) * (rep == 3 ? 1e-3 : 1.0);
            if (rep == 2 && rows > 1) /* rank one plus a duplicated row: nearly degenerate */
                for (int c = 0; c < cols; c++)
                    w[cols + c] = w[c];
            double bound = 0.0;
            ck_assert_int_eq(crmti_spectral_norm_bound(w, rows, cols, &bound), CRMT_OK);
            const double exact = crmt_test_exact_spectral_norm(w, rows, cols);
            ck_assert_msg(bound >= exact, "%dx%d: bound %.17g < exact %.17g", rows, cols, bound,
                          exact);
            const double ratio = bound / exact;
            ck_assert_msg(ratio <= 1.0 + 1e-4, "%dx%d: bound %.17g too loose (exact %.17g)",
                          rows, cols, bound, exact);
            if (ratio > worst_ratio)
                worst_ratio = ratio;
            cases++;
            free(w);
        }
    }
    /* the zero matrix and a matrix with two equal top singular values */
    double z[6] = {0}, bound = -1.0;
    ck_assert_int_eq(crmti_spectral_norm_bound(z, 2, 3, &bound), CRMT_OK);
    ck_assert(bound == 0.0);
    double eye[9] = {2, 0, 0, 0, 2, 0, 0, 0, 1};
    ck_assert_int_eq(crmti_spectral_norm_bound(eye, 3, 3, &bound), CRMT_OK);
    ck_assert(bound >= 2.0 && bound <= 2.0 * (1 + 1e-4));
    printf("spectral bound: %d random matrices, worst bound/exact = 1 + %.3g\n", cases,
           worst_ratio - 1.0);
}
END_TEST

/* ---- models ---------------------------------------------------------------------------- */

/* layers: string per modality, 'L' = linear (width from widths[]), 'R' = ReLU. */
static crmt_model *build(int k, int n_mod, const int *in_dims, const char *const *layers,
                         const int *widths, crmt_head_kind head, int norm, uint64_t seed)
{
    crmt_model *model = crmt_test_build_model(k, n_mod, in_dims, layers, widths, head,
                                              (crmt_head_norm)norm, seed);
    ck_assert_msg(model != NULL, "model: %s", crmt_last_error());
    return model;
}

/* Random integration weights in [0.05, 2] so that the pair coefficients differ. */
static void randomise_integration(crmt_model *model, crmti_rng *rng)
{
    if (model->spec.head != CRMT_HEAD_CRMT)
        return;
    float *a = model->params + model->head_a_offset;
    for (int i = 0; i < model->n_mod * model->n_classes; i++)
        a[i] = (float)(0.05 + 1.95 * crmti_rng_uniform(rng));
}

/* ||d/dx_m (c_y g_{m,y} - c_j g_{m,j})|| at x (one sample) by the encoder backward pass. */
static double pair_grad_norm(const crmt_model *model, crmti_ws *ws, int m, const float *x,
                             const float *h, int y, int j, double cy, double cj)
{
    const crmti_encoder *enc = &model->enc[m];
    const int d = enc->out_size, n = enc->in_size;
    crmti_encode(model, ws, m, x, 1);
    float *dout = ws->grad_a, *din = ws->grad_b;
    for (int c = 0; c < d; c++)
        dout[c] = (float)(cy * h[(size_t)y * d + c] - cj * h[(size_t)j * d + c]);
    for (int l = enc->n_layers - 1; l >= 0; l--) {
        const float *in = l == 0 ? x : ws->act[m][l - 1];
        crmti_layer_backward(&enc->layers[l], model->params, in, ws->act[m][l], dout, din, NULL,
                             1);
        float *t = dout;
        dout = din;
        din = t;
    }
    double ss = 0.0;
    for (int c = 0; c < n; c++)
        ss += (double)dout[c] * dout[c];
    return sqrt(ss);
}

typedef struct arch {
    const char *layers[2];
    int widths[6];
    int in_dims[2];
} arch;

static const arch archs[] = {
    {{"", ""}, {0}, {6, 9}},                          /* no encoder layers */
    {{"L", "L"}, {12, 7}, {6, 9}},                    /* linear */
    {{"LRL", "LR"}, {16, 12, 14}, {6, 9}},            /* MLP; second ends with ReLU */
    {{"LLRL", "RLLL"}, {10, 14, 8, 12, 12, 12}, {6, 9}}, /* runs of linear layers */
};

START_TEST(test_sound_bounds_dominate_gradients)
{
    crmti_rng rng;
    crmti_rng_seed(&rng, 5);
    const int K = 4;
    long checks = 0;
    double tightest = INFINITY;
    for (size_t a = 0; a < sizeof archs / sizeof archs[0]; a++)
        for (int head = 0; head < 2; head++)
            for (int norm = 1; norm <= 2; norm++) {
                if (head == CRMT_HEAD_JT && norm == 2)
                    continue;
                const arch *ar = &archs[a];
                crmt_model *model = build(K, 2, ar->in_dims, ar->layers, ar->widths,
                                          (crmt_head_kind)head, norm, 100 + a);
                if (head == CRMT_HEAD_CRMT && norm == 2 &&
                    (model->enc[0].out_size < K || model->enc[1].out_size < K)) {
                    crmt_model_destroy(model);
                    continue;
                }
                randomise_integration(model, &rng);
                crmti_lipschitz lip;
                ck_assert_int_eq(crmti_lipschitz_sound(&lip, model), CRMT_OK);
                ck_assert_int_eq(lip.method, CRMT_LIPSCHITZ_SOUND);
                /* random samples: empirical constants must stay below the sound ones */
                const int n = 200;
                float *x[2];
                for (int m = 0; m < 2; m++) {
                    x[m] = malloc(sizeof(float) * n * ar->in_dims[m]);
                    for (int i = 0; i < n * ar->in_dims[m]; i++)
                        x[m][i] = (float)(2.0 * crmti_rng_normal(&rng));
                }
                crmti_lipschitz emp;
                ck_assert_int_eq(
                    crmti_lipschitz_empirical(&emp, model, (const float *const *)x, n), CRMT_OK);
                ck_assert_int_eq(emp.method, CRMT_LIPSCHITZ_EMPIRICAL);
                ck_assert_uint_eq(emp.n_samples, (size_t)n);
                crmti_ws *ws = crmti_ws_create(model, 1);
                const float *a_int = crmti_integration(model);
                for (int m = 0; m < 2; m++) {
                    const int d = model->enc[m].out_size;
                    float *h = malloc(sizeof(float) * K * d);
                    ck_assert_int_eq(crmti_head_rows(model, m, h), CRMT_OK);
                    for (int k = 0; k < K; k++) {
                        ck_assert_msg(emp.tau[m][k] <= lip.tau[m][k],
                                      "arch %zu head %d m %d k %d: empirical %.9g > sound %.9g",
                                      a, head, m, k, emp.tau[m][k], lip.tau[m][k]);
                        ck_assert(emp.tau[m][k] > 0.0);
                        checks++;
                    }
                    for (int y = 0; y < K; y++)
                        for (int j = 0; j < K; j++) {
                            if (j == y)
                                continue;
                            double cy = a_int ? a_int[m * K + y] : 1.0;
                            double cj = a_int ? a_int[m * K + j] : 1.0;
                            double L = crmti_lipschitz_pair(&lip, m, y, j, cy, cj);
                            for (int i = 0; i < 25; i++) {
                                double gn = pair_grad_norm(model, ws, m,
                                                           x[m] + (size_t)i * ar->in_dims[m], h,
                                                           y, j, cy, cj);
                                ck_assert_msg(gn <= L, "arch %zu: gradient %.9g > bound %.9g", a,
                                              gn, L);
                                if (gn > 0 && L / gn < tightest)
                                    tightest = L / gn;
                                checks++;
                            }
                            /* empirical pair = triangle inequality on the estimates */
                            double le = crmti_lipschitz_pair(&emp, m, y, j, cy, cj);
                            ck_assert(fabs(le - (fabs(cy) * emp.tau[m][y] +
                                                 fabs(cj) * emp.tau[m][j])) <= 1e-12 * le);
                        }
                    free(h);
                }
                crmti_ws_destroy(ws);
                crmti_lipschitz_release(&emp);
                crmti_lipschitz_release(&lip);
                crmti_lipschitz_release(&lip); /* idempotent */
                for (int m = 0; m < 2; m++)
                    free(x[m]);
                crmt_model_destroy(model);
            }
    printf("sound >= empirical: %ld checks, smallest bound/gradient ratio %.6f\n", checks,
           tightest);
}
END_TEST

/* Linear encoders: the folded bound is the exact norm of the effective row. */
START_TEST(test_linear_fold_is_exact)
{
    const int K = 5;
    const arch *ar = &archs[3]; /* LLRL / RLLL: trailing runs of 1 and 3 linear layers */
    const arch lin = {{"LL", "L"}, {7, 5, 6}, {6, 9}};
    const arch *list[2] = {&lin, ar};
    for (int t = 0; t < 2; t++) {
        crmt_model *model = build(K, 2, list[t]->in_dims, list[t]->layers, list[t]->widths,
                                  CRMT_HEAD_JT, 0, 7 + t);
        crmti_lipschitz lip;
        ck_assert_int_eq(crmti_lipschitz_sound(&lip, model), CRMT_OK);
        for (int m = 0; m < 2; m++) {
            const crmti_encoder *enc = &model->enc[m];
            int last_relu = -1;
            for (int l = 0; l < enc->n_layers; l++)
                if (enc->layers[l].kind == CRMTI_LAYER_RELU)
                    last_relu = l;
            if (t == 0)
                ck_assert(fabs(lip.prefix[m] - (1.0 + CRMTI_LIP_SLACK)) < 1e-15);
            /* effective rows: H W_L ... W_s in double by hand */
            const int d = enc->out_size;
            float *h = malloc(sizeof(float) * K * d);
            ck_assert_int_eq(crmti_head_rows(model, m, h), CRMT_OK);
            int cols = d;
            double *u = malloc(sizeof(double) * K * 64);
            for (int i = 0; i < K * d; i++)
                u[i] = h[i];
            for (int l = enc->n_layers - 1; l > last_relu; l--) {
                const crmti_layer *ly = &enc->layers[l];
                const float *w = model->params + ly->w_offset;
                double *nu = calloc((size_t)K * ly->in_size, sizeof(double));
                for (int k = 0; k < K; k++)
                    for (int c = 0; c < ly->in_size; c++)
                        for (int o = 0; o < ly->out_size; o++)
                            nu[k * ly->in_size + c] += u[k * cols + o] * w[o * ly->in_size + c];
                memcpy(u, nu, sizeof(double) * K * ly->in_size);
                free(nu);
                cols = ly->in_size;
            }
            for (int y = 0; y < K; y++)
                for (int j = 0; j < K; j++) {
                    if (y == j)
                        continue;
                    double ss = 0.0;
                    for (int c = 0; c < cols; c++) {
                        double v = u[y * cols + c] - u[j * cols + c];
                        ss += v * v;
                    }
                    const double want = lip.prefix[m] * sqrt(ss);
                    const double got = crmti_lipschitz_pair(&lip, m, y, j, 1.0, 1.0);
                    ck_assert_msg(got >= want / (1.0 + CRMTI_LIP_SLACK) &&
                                      got <= want * (1.0 + 1e-9),
                                  "pair (%d,%d) of modality %d: %.17g vs %.17g", y, j, m, got,
                                  want);
                }
            free(u);
            free(h);
        }
        crmti_lipschitz_release(&lip);
        crmt_model_destroy(model);
    }
}
END_TEST

START_TEST(test_pair_gradient_matches_finite_differences)
{
    const arch *ar = &archs[2];
    crmt_model *model =
        build(4, 2, ar->in_dims, ar->layers, ar->widths, CRMT_HEAD_CRMT, 1, 3);
    crmti_lipschitz lip;
    ck_assert_int_eq(crmti_lipschitz_sound(&lip, model), CRMT_OK);
    const double pts[][2] = {{0.3, 0.7}, {1.5, 0.2}, {0.1, 0.1}, {-0.4, 0.9}};
    for (size_t p = 0; p < sizeof pts / sizeof pts[0]; p++)
        for (int m = 0; m < 2; m++) {
            double dy, dj;
            const double cy = pts[p][0], cj = pts[p][1], h = 1e-6;
            crmti_lipschitz_pair_grad(&lip, m, 1, 3, cy, cj, &dy, &dj);
            double fy = (crmti_lipschitz_pair(&lip, m, 1, 3, cy + h, cj) -
                         crmti_lipschitz_pair(&lip, m, 1, 3, cy - h, cj)) /
                        (2 * h);
            double fj = (crmti_lipschitz_pair(&lip, m, 1, 3, cy, cj + h) -
                         crmti_lipschitz_pair(&lip, m, 1, 3, cy, cj - h)) /
                        (2 * h);
            ck_assert_msg(fabs(dy - fy) <= 1e-6 * (1 + fabs(fy)), "d/dcy %.9g vs %.9g", dy, fy);
            ck_assert_msg(fabs(dj - fj) <= 1e-6 * (1 + fabs(fj)), "d/dcj %.9g vs %.9g", dj, fj);
        }
    /* zero coefficients: bound and derivative 0, no NaN */
    double dy = 1, dj = 1;
    ck_assert(crmti_lipschitz_pair_grad(&lip, 0, 0, 1, 0.0, 0.0, &dy, &dj) == 0.0);
    ck_assert(dy == 0.0 && dj == 0.0);
    crmti_lipschitz_release(&lip);
    crmt_model_destroy(model);
}
END_TEST

/* Orthonormal CRMT rows and a linear-free encoder: tau_{m,k} is 1 (unit rows). */
START_TEST(test_unit_rows_tau)
{
    const char *layers[2] = {"", ""};
    const int in_dims[2] = {8, 8};
    crmt_model *model = build(3, 2, in_dims, layers, NULL, CRMT_HEAD_CRMT, 2, 1);
    crmti_lipschitz lip;
    ck_assert_int_eq(crmti_lipschitz_sound(&lip, model), CRMT_OK);
    for (int m = 0; m < 2; m++)
        for (int k = 0; k < 3; k++)
            ck_assert_msg(fabs(lip.tau[m][k] - 1.0) < 1e-4, "tau %.9g", lip.tau[m][k]);
    /* orthonormal rows: pair bound = sqrt(cy^2 + cj^2) */
    double L = crmti_lipschitz_pair(&lip, 0, 0, 2, 0.3, 0.4);
    ck_assert_msg(fabs(L - 0.5) < 1e-4, "L %.9g", L);
    crmti_lipschitz_release(&lip);
    crmt_model_destroy(model);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("lipschitz");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_spectral_bound_random_matrices);
    tcase_add_test(tc, test_sound_bounds_dominate_gradients);
    tcase_add_test(tc, test_linear_fold_is_exact);
    tcase_add_test(tc, test_pair_gradient_matches_finite_differences);
    tcase_add_test(tc, test_unit_rows_tau);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
