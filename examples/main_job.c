/* The main job (scripts/run-main.sh): JT versus CRMT-JT on the handwritten digits split into
 * two modalities (modality 0 = image rows 0-1, modality 1 = rows 2-7), evaluated on the fixed
 * held-out test split. Prints one table row per method (clean accuracy, joint and uni-modal
 * l2 FGM / PGD with the official presets, missing-modality accuracy, certified accuracy and
 * mean certified radius with sound Lipschitz bounds) and writes
 *   <out>/certificates.csv       one row per test sample and method
 *   <out>/certified_accuracy.svg certified accuracy against radius, both methods.
 *
 * Usage: main_job [out-dir]   (default: out)
 *
 * Model selection uses only a validation split carved from the training set, with the same
 * budget for both methods (four candidates: JT's learning rate; CRMT-JT's learning rate x
 * rho), and step 2's accuracy guard uses the same validation split. The test split is only
 * evaluated.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <crmt/crmt.h>

#include "digits.h"

#define EPOCHS 30
#define INTEGRATION_EPOCHS 10
#define VALIDATION_FRACTION 0.2
#define N_CURVE 50
#define N_METHODS 2

/* Stop on a failed call, printing the message of whoever failed: the library (CHECK) or
 * the digits loader (CHECK_DIGITS, digits.h). */
#define CHECK_MSG(call, message)                                                     \
    do {                                                                             \
        crmt_status st_ = (call);                                                    \
        if (st_ != CRMT_OK) {                                                        \
            fprintf(stderr, "%s failed: %s: %s\n", #call, crmt_status_string(st_),   \
                    (message));                                                      \
            exit(1);                                                                 \
        }                                                                            \
    } while (0)
#define CHECK(call) CHECK_MSG(call, crmt_last_error())
#define CHECK_DIGITS(call) CHECK_MSG(call, crmt_digits_last_error())

static const double table_radii[] = {0.05, 0.1, 0.2, 0.5};
#define N_TABLE_RADII (sizeof table_radii / sizeof table_radii[0])

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static crmt_model *make_model(crmt_head_kind head)
{
    crmt_spec *spec;
    crmt_model *model;
    int top, bottom;
    CHECK(crmt_spec_create(&spec, CRMT_DIGITS_N_CLASSES));
    CHECK(crmt_spec_add_modality(spec, "rows0-1", 16, &top));
    CHECK(crmt_spec_add_linear(spec, top, 32));
    CHECK(crmt_spec_add_relu(spec, top));
    CHECK(crmt_spec_add_linear(spec, top, 32));
    CHECK(crmt_spec_add_modality(spec, "rows2-7", 48, &bottom));
    CHECK(crmt_spec_add_linear(spec, bottom, 64));
    CHECK(crmt_spec_add_relu(spec, bottom));
    CHECK(crmt_spec_add_linear(spec, bottom, 32));
    CHECK(crmt_spec_set(spec, CRMT_SPEC_HEAD, head));
    CHECK(crmt_model_create(&model, spec, 1));
    crmt_spec_destroy(spec);
    return model;
}

/* Train a fresh model; returns it. */
static crmt_model *train_model(crmt_head_kind head, crmt_train_method method, double lr,
                               double rho, const crmt_dataset *fit, const crmt_dataset *val)
{
    crmt_model *model = make_model(head);
    crmt_optimizer *opt;
    crmt_train_options o;
    CHECK(crmt_optimizer_create(&opt, model, CRMT_OPTIMIZER_SGD));
    CHECK(crmt_optimizer_set(opt, CRMT_OPT_LR, lr));
    CHECK(crmt_optimizer_set(opt, CRMT_OPT_MOMENTUM, 0.9));
    CHECK(crmt_optimizer_set(opt, CRMT_OPT_WEIGHT_DECAY, 1e-4));
    CHECK(crmt_train_options_init(&o, sizeof o));
    o.method = method;
    o.epochs = EPOCHS;
    o.batch_size = 32;
    o.seed = 7;
    o.rho = rho;
    if (method == CRMT_METHOD_CRMT) {
        o.integration_epochs = INTEGRATION_EPOCHS;
        o.integration_lr = 0.002;
        o.validation = val;
    }
    CHECK(crmt_train(model, opt, fit, &o, NULL));
    crmt_optimizer_destroy(opt);
    return model;
}

static int make_dir(const char *path)
{
    if (mkdir(path, 0777) != 0 && errno != EEXIST) {
        fprintf(stderr, "cannot create %s: %s\n", path, strerror(errno));
        return -1;
    }
    return 0;
}

/* Fraction of certificates with certified = 1 and radius >= eps. */
static double cert_acc(const crmt_certificate *c, size_t n, double eps)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        k += c[i].certified && c[i].radius >= eps;
    return (double)k / (double)n;
}

static const char *colors[N_METHODS] = {"#1f77b4", "#d62728"};

static int write_svg(const char *path, const char *const *names, crmt_certificate *const *certs,
                     size_t n)
{
    const double W = 640, H = 420, L = 70, R = 20, T = 45, B = 60;
    const double pw = W - L - R, ph = H - T - B;
    double rmax = 0.0, tick;
    FILE *f = fopen(path, "w");
    if (!f) {
        fprintf(stderr, "cannot write %s: %s\n", path, strerror(errno));
        return -1;
    }
    for (int m = 0; m < N_METHODS; m++)
        for (size_t i = 0; i < n; i++)
            if (certs[m][i].certified && isfinite(certs[m][i].radius) &&
                certs[m][i].radius > rmax)
                rmax = certs[m][i].radius;
    /* Round the x range up to a multiple of a tidy tick step. */
    tick = rmax > 2.0 ? 0.5 : rmax > 1.0 ? 0.25 : rmax > 0.5 ? 0.1 : 0.05;
    rmax = rmax > 0.0 ? ceil(rmax / tick - 1e-9) * tick : tick;

    fprintf(f, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\" "
               "viewBox=\"0 0 %.0f %.0f\" font-family=\"sans-serif\">\n", W, H, W, H);
    fprintf(f, "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n");
    fprintf(f, "<text x=\"%.1f\" y=\"25\" font-size=\"16\" text-anchor=\"middle\">"
               "Certified accuracy vs l2 radius (digits test split, sound bound)</text>\n",
            L + pw / 2);
    /* Grid and tick labels. */
    for (int k = 0; k <= 5; k++) {
        double v = k / 5.0, y = T + ph * (1.0 - v);
        fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#ddd\"/>\n",
                L, y, L + pw, y);
        fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" font-size=\"12\" text-anchor=\"end\">%.1f</text>\n",
                L - 6, y + 4, v);
    }
    int nt = (int)lround(rmax / tick);
    for (int k = 0; k <= nt; k++) {
        double v = k * tick, x = L + pw * v / rmax;
        fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#ddd\"/>\n",
                x, T, x, T + ph);
        fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" font-size=\"12\" text-anchor=\"middle\">%g</text>\n",
                x, T + ph + 18, v);
    }
    /* Axes. */
    fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"black\"/>\n", L,
            T + ph, L + pw, T + ph);
    fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"black\"/>\n", L, T,
            L, T + ph);
    fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" font-size=\"13\" text-anchor=\"middle\">"
               "radius (l2, joint perturbation of both modalities)</text>\n",
            L + pw / 2, H - 15);
    fprintf(f, "<text x=\"18\" y=\"%.1f\" font-size=\"13\" text-anchor=\"middle\" "
               "transform=\"rotate(-90 18 %.1f)\">certified accuracy</text>\n",
            T + ph / 2, T + ph / 2);
    /* Curves. */
    for (int m = 0; m < N_METHODS; m++) {
        fprintf(f, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"2\" points=\"",
                colors[m]);
        for (int k = 0; k < N_CURVE; k++) {
            double eps = rmax * k / (N_CURVE - 1);
            double a = cert_acc(certs[m], n, eps);
            fprintf(f, "%.1f,%.1f ", L + pw * eps / rmax, T + ph * (1.0 - a));
        }
        fprintf(f, "\"/>\n");
    }
    /* Legend (top right). */
    for (int m = 0; m < N_METHODS; m++) {
        double y = T + 15 + 20 * m, x = L + pw - 130;
        fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" "
                   "stroke-width=\"2\"/>\n", x, y, x + 25, y, colors[m]);
        fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" font-size=\"12\">%s</text>\n", x + 32, y + 4,
                names[m]);
    }
    fprintf(f, "</svg>\n");
    if (fclose(f) != 0) {
        fprintf(stderr, "cannot write %s\n", path);
        return -1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    const char *out_dir = argc > 1 ? argv[1] : "out";
    const char *names[N_METHODS] = {"JT", "CRMT-JT"};
    double t0 = now();
    crmt_digits digits;
    crmt_dataset *train, *test, *fit, *val;
    crmt_model *models[N_METHODS];
    crmt_evaluation_report rep[N_METHODS];
    crmt_certificate *certs[N_METHODS];
    double lr_used[N_METHODS] = {0}, rho_used[N_METHODS] = {0};
    char path[4096];

    CHECK_DIGITS(crmt_digits_load(crmt_digits_default_path(), &digits));
    CHECK_DIGITS(crmt_digits_make_datasets(&digits, CRMT_DIGITS_VIEW_UNBALANCED,
                                           CRMT_DIGITS_DEFAULT_TEST_FRACTION,
                                           CRMT_DIGITS_DEFAULT_SEED, &train, &test));

    /* Validation split: a seeded permutation of the training set; the last 20% validate. */
    {
        size_t n = crmt_dataset_num_samples(train), n_val = (size_t)(VALIDATION_FRACTION * n);
        size_t *idx = malloc(n * sizeof *idx);
        uint64_t s = 20240501u;
        if (!idx)
            return 1;
        for (size_t i = 0; i < n; i++)
            idx[i] = i;
        for (size_t i = n - 1; i > 0; i--) {
            s = s * 6364136223846793005ull + 1442695040888963407ull;
            size_t k = (size_t)((s >> 33) % (i + 1)), t = idx[i];
            idx[i] = idx[k];
            idx[k] = t;
        }
        CHECK(crmt_dataset_subset(&fit, train, idx, n - n_val));
        CHECK(crmt_dataset_subset(&val, train, idx + (n - n_val), n_val));
        free(idx);
    }
    size_t n_test = crmt_dataset_num_samples(test);
    printf("digits: %zu training (%zu fit + %zu validation), %zu test samples; "
           "modality 0 = rows 0-1 (16 px), modality 1 = rows 2-7 (48 px)\n",
           crmt_dataset_num_samples(train), crmt_dataset_num_samples(fit),
           crmt_dataset_num_samples(val), n_test);

    /* Model selection on the validation split, the same budget for both methods: four
     * candidates each (JT: the learning rate; CRMT-JT: learning rate x rho). */
    for (int m = 0; m < N_METHODS; m++) {
        const double lrs_jt[4] = {0.05, 0.02, 0.01, 0.005}, rhos_jt[4] = {0, 0, 0, 0};
        const double lrs_crmt[4] = {0.05, 0.05, 0.01, 0.01}, rhos_crmt[4] = {2, 1, 2, 1};
        const double *lrs = m ? lrs_crmt : lrs_jt, *rhos = m ? rhos_crmt : rhos_jt;
        double best = -1.0;
        models[m] = NULL;
        for (int c = 0; c < 4; c++) {
            crmt_model *cand = m ? train_model(CRMT_HEAD_CRMT, CRMT_METHOD_CRMT, lrs[c], rhos[c],
                                               fit, val)
                                 : train_model(CRMT_HEAD_JT, CRMT_METHOD_JT, lrs[c], 0.0, fit,
                                               val);
            double acc;
            CHECK(crmt_model_accuracy(cand, val, &acc));
            printf("%-7s lr %.3f rho %.0f: validation accuracy %.4f\n", names[m], lrs[c], rhos[c],
                   acc);
            if (acc > best) {
                crmt_model_destroy(models[m]);
                models[m] = cand;
                best = acc;
                lr_used[m] = lrs[c];
                rho_used[m] = rhos[c];
            } else {
                crmt_model_destroy(cand);
            }
        }
    }
    double t_train = now() - t0;

    /* Evaluation and certificates on the test split. */
    for (int m = 0; m < N_METHODS; m++) {
        crmt_evaluate_options eo;
        crmt_certifier_options co;
        crmt_certifier *cert;
        const float *inputs[2];
        CHECK(crmt_certifier_options_init(&co, sizeof co));
        co.lipschitz = CRMT_LIPSCHITZ_SOUND;
        co.fill_mean_data = fit;
        CHECK(crmt_certifier_create(&cert, models[m], &co));
        CHECK(crmt_evaluate_options_init(&eo, sizeof eo));
        eo.fill_mean_data = fit;
        eo.certifier = cert;
        eo.radii = table_radii;
        eo.n_radii = N_TABLE_RADII;
        memset(&rep[m], 0, sizeof rep[m]);
        rep[m].struct_size = sizeof rep[m];
        CHECK(crmt_evaluate(models[m], test, &eo, &rep[m]));

        certs[m] = calloc(n_test, sizeof *certs[m]);
        if (!certs[m])
            return 1;
        certs[m][0].struct_size = sizeof(crmt_certificate);
        inputs[0] = crmt_dataset_data(test, 0);
        inputs[1] = crmt_dataset_data(test, 1);
        CHECK(crmt_certify_batch(cert, inputs, n_test, crmt_dataset_labels(test), certs[m]));
        crmt_certifier_destroy(cert);
    }

    /* The table. */
    printf("\nTest split (%zu samples). Attacks: l2, epsilon 0.2 (FGM: 1 step; PGD: 4 steps of "
           "eps/3); missing modality = training mean.\nCertified accuracy and mean radius use "
           "SOUND Lipschitz bounds (guarantees, not estimates); m0 = rows 0-1, m1 = rows 2-7.\n\n",
           n_test);
    printf("| %-7s | %5s | %5s | %5s | %6s | %6s | %6s | %6s | %6s | %6s |", "method", "clean",
           "FGM", "PGD", "FGM m0", "FGM m1", "PGD m0", "PGD m1", "miss0", "miss1");
    for (size_t i = 0; i < N_TABLE_RADII; i++)
        printf(" cert@%-4g |", table_radii[i]);
    printf(" mean radius (sound) |\n|---------|-------|-------|-------|--------|--------|--------|"
           "--------|--------|--------|");
    for (size_t i = 0; i < N_TABLE_RADII; i++)
        printf("-----------|");
    printf("---------------------|\n");
    for (int m = 0; m < N_METHODS; m++) {
        const crmt_evaluation_report *r = &rep[m];
        printf("| %-7s | %.3f | %.3f | %.3f | %6.3f | %6.3f | %6.3f | %6.3f | %6.3f | %6.3f |",
               names[m], r->clean_accuracy, r->fgm_accuracy, r->pgd_accuracy,
               r->fgm_modality_accuracy[0], r->fgm_modality_accuracy[1],
               r->pgd_modality_accuracy[0], r->pgd_modality_accuracy[1],
               r->missing_accuracy[0], r->missing_accuracy[1]);
        for (size_t i = 0; i < N_TABLE_RADII; i++)
            printf(" %9.3f |", r->certified_accuracy[i]);
        printf(" %19.4f |\n", r->mean_certified_radius);
    }
    printf("(chosen on validation: JT lr %.3f; CRMT-JT lr %.3f rho %.0f. CRMT-JT: CRMT head, "
           "method CRMT, %d step-1 epochs, step 2 up to %d epochs with a validation guard; "
           "JT: %d epochs)\n",
           lr_used[0], lr_used[1], rho_used[1], EPOCHS, INTEGRATION_EPOCHS, EPOCHS);

    /* Files. */
    if (make_dir(out_dir) != 0)
        return 1;
    snprintf(path, sizeof path, "%s/certificates.csv", out_dir);
    {
        FILE *f = fopen(path, "w");
        if (!f) {
            fprintf(stderr, "cannot write %s: %s\n", path, strerror(errno));
            return 1;
        }
        fprintf(f, "method,index,label,predicted,certified,radius,radius_m0,radius_m1,"
                   "closest_class,lipschitz\n");
        for (int m = 0; m < N_METHODS; m++)
            for (size_t i = 0; i < n_test; i++) {
                const crmt_certificate *c = &certs[m][i];
                fprintf(f, "%s,%zu,%d,%d,%d,%.9g,%.9g,%.9g,%d,%s\n", names[m], i, (int)c->label,
                        (int)c->predicted, c->certified, c->radius, c->modality_radius[0],
                        c->modality_radius[1], (int)c->closest_class,
                        c->lipschitz == CRMT_LIPSCHITZ_SOUND ? "sound" : "empirical");
            }
        if (fclose(f) != 0) {
            fprintf(stderr, "cannot write %s\n", path);
            return 1;
        }
    }
    printf("\nwrote %s\n", path);
    snprintf(path, sizeof path, "%s/certified_accuracy.svg", out_dir);
    if (write_svg(path, names, certs, n_test) != 0)
        return 1;
    printf("wrote %s\n", path);
    printf("training %.1f s, total %.1f s\n", t_train, now() - t0);

    for (int m = 0; m < N_METHODS; m++) {
        free(certs[m]);
        crmt_model_destroy(models[m]);
    }
    crmt_dataset_destroy(fit);
    crmt_dataset_destroy(val);
    crmt_dataset_destroy(train);
    crmt_dataset_destroy(test);
    crmt_digits_free(&digits);
    return 0;
}
