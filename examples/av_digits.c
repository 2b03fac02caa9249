/* AV-digits: an image modality (real MNIST handwritten digits, 1x28x28) with a convolutional
 * encoder and an audio modality (espeak-ng synthesized speech of the digit words, 560 band
 * energies, standardised) with an MLP encoder. Trains plain joint training (JT) and CRMT-JT
 * on part of the training split and shows the modality preference CRMT addresses: JT leans
 * on the audio, so removing the audio hurts far more than removing the image; CRMT-JT keeps
 * much more accuracy without the audio. Also prints l2 PGD accuracy, per-modality mean
 * certified radii (sound) and one sample's certificate.
 *
 * Usage: av_digits [DATA_DIR]
 *   DATA_DIR holds {train,val,test}_{m0,m1,y}.npy as written by scripts/prepare-avdigits.sh
 *   (default: data/generated/avdigits/clean). Without the data the program prints how to
 *   make it and exits with 77 (ctest reports the test as skipped).
 *
 * The model is that of the avdigits-clean-conv experiment of scripts/run-experiments.sh and
 * the hyperparameters are the validation choices of its first pass (grid A: JT lr 0.05;
 * CRMT-JT lr 0.005, rho 0.1; docs/results.md); this example does no search of its own and
 * trains one seed. Public API only. About 30 s with one OpenBLAS thread on an idle core.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <crmt/crmt.h>

#define EXIT_SKIP 77
#define N_TRAIN 6000
#define EPOCHS 10

#define CHECK(call)                                                                  \
    do {                                                                             \
        crmt_status st_ = (call);                                                    \
        if (st_ != CRMT_OK) {                                                        \
            fprintf(stderr, "%s failed: %s: %s\n", #call, crmt_status_string(st_),   \
                    crmt_last_error());                                              \
            exit(1);                                                                 \
        }                                                                            \
    } while (0)

/* First dimension of an .npy file (the library checks the whole file when it loads it);
 * -1 when the file is missing or unreadable. */
static long npy_rows(const char *path)
{
    unsigned char h[12];
    char text[1024];
    size_t len;
    long rows = -1;
    FILE *f = fopen(path, "rb");
    if (!f)
        return -1;
    if (fread(h, 1, 10, f) == 10 && memcmp(h, "\x93NUMPY", 6) == 0) {
        len = (size_t)h[8] | (size_t)h[9] << 8;
        if (h[6] >= 2 && fread(h + 10, 1, 2, f) == 2)
            len |= (size_t)h[10] << 16 | (size_t)h[11] << 24;
        if (len < sizeof text && fread(text, 1, len, f) == len) {
            text[len] = 0;
            const char *p = strstr(text, "'shape':");
            if (p && (p = strchr(p, '(')) != NULL)
                rows = strtol(p + 1, NULL, 10);
        }
    }
    fclose(f);
    return rows;
}

/* Load split (train, val or test); NULL when its files are missing. */
static crmt_dataset *load_split(const char *dir, const char *split)
{
    char path[4096];
    crmt_dataset *d;
    snprintf(path, sizeof path, "%s/%s_y.npy", dir, split);
    long n = npy_rows(path);
    if (n < 1)
        return NULL;
    CHECK(crmt_dataset_create(&d, (size_t)n, 2));
    CHECK(crmt_dataset_load_npy_labels(d, path));
    for (int m = 0; m < 2; m++) {
        snprintf(path, sizeof path, "%s/%s_m%d.npy", dir, split, m);
        CHECK(crmt_dataset_load_npy_modality(d, m, path));
    }
    return d;
}

static crmt_model *make_model(crmt_head_kind head)
{
    crmt_spec *spec;
    crmt_model *model;
    int img, aud;
    CHECK(crmt_spec_create(&spec, 10));
    /* image: conv 8@5x5 stride 2 -> 8x14x14, conv 16@3x3 stride 2 -> 16x7x7, linear 128 */
    CHECK(crmt_spec_add_modality_image(spec, "image", 1, 28, 28, &img));
    CHECK(crmt_spec_add_conv2d(spec, img, 8, 5, 2, 2));
    CHECK(crmt_spec_add_relu(spec, img));
    CHECK(crmt_spec_add_conv2d(spec, img, 16, 3, 2, 1));
    CHECK(crmt_spec_add_relu(spec, img));
    CHECK(crmt_spec_add_flatten(spec, img));
    CHECK(crmt_spec_add_linear(spec, img, 128));
    /* audio: 560 -> 256 -> ReLU -> 128 */
    CHECK(crmt_spec_add_modality(spec, "audio", 560, &aud));
    CHECK(crmt_spec_add_linear(spec, aud, 256));
    CHECK(crmt_spec_add_relu(spec, aud));
    CHECK(crmt_spec_add_linear(spec, aud, 128));
    CHECK(crmt_spec_set(spec, CRMT_SPEC_HEAD, head));
    CHECK(crmt_model_create(&model, spec, 1));
    crmt_spec_destroy(spec);
    return model;
}

static crmt_model *train(crmt_head_kind head, crmt_train_method method, double lr, double rho,
                         const crmt_dataset *fit, const crmt_dataset *val)
{
    crmt_model *model = make_model(head);
    crmt_optimizer *opt;
    crmt_train_options o;
    crmt_train_result r;
    CHECK(crmt_optimizer_create(&opt, model, CRMT_OPTIMIZER_SGD));
    CHECK(crmt_optimizer_set(opt, CRMT_OPT_LR, lr));
    CHECK(crmt_optimizer_set(opt, CRMT_OPT_MOMENTUM, 0.9));
    CHECK(crmt_optimizer_set(opt, CRMT_OPT_WEIGHT_DECAY, 1e-4));
    CHECK(crmt_train_options_init(&o, sizeof o));
    o.method = method;
    o.epochs = EPOCHS;
    o.batch_size = 64;
    o.seed = 1;
    o.rho = rho;
    if (method == CRMT_METHOD_CRMT) {
        o.integration_epochs = 10;
        o.integration_lr = 0.002;
        o.validation = val; /* step 2 may cost at most 1 point of validation accuracy */
    }
    memset(&r, 0, sizeof r);
    r.struct_size = sizeof r;
    CHECK(crmt_train(model, opt, fit, &o, &r));
    printf("  trained in %.1f s (final loss %.4f; step-2 epochs kept %d)\n", r.seconds,
           r.final_loss, r.integration_epochs_run);
    crmt_optimizer_destroy(opt);
    return model;
}

int main(int argc, char **argv)
{
    const char *dir = argc > 1 ? argv[1] : "data/generated/avdigits/clean";
    const char *names[2] = {"JT", "CRMT-JT"};
    crmt_dataset *full = load_split(dir, "train"), *val = load_split(dir, "val"),
                 *test = load_split(dir, "test"), *fit;
    crmt_model *models[2];
    crmt_evaluation_report rep[2];
    static const double radii[] = {0.5, 1.0, 2.0};

    if (!full || !val || !test) {
        printf("av_digits: no AV-digits data in %s: run `bash scripts/prepare-avdigits.sh` "
               "(skipped)\n", dir);
        crmt_dataset_destroy(full);
        crmt_dataset_destroy(val);
        crmt_dataset_destroy(test);
        return EXIT_SKIP;
    }
    {
        size_t n = crmt_dataset_num_samples(full) < N_TRAIN ? crmt_dataset_num_samples(full)
                                                            : N_TRAIN;
        size_t *idx = malloc(n * sizeof *idx);
        if (!idx)
            return 1;
        for (size_t i = 0; i < n; i++)
            idx[i] = i;
        CHECK(crmt_dataset_subset(&fit, full, idx, n));
        free(idx);
    }
    printf("AV-digits (real MNIST images + espeak-ng synthesized speech) from %s:\n"
           "%zu training pairs used, %zu validation, %zu test; image 1x28x28 (conv encoder), "
           "audio 560 features (MLP encoder)\n",
           dir, crmt_dataset_num_samples(fit), crmt_dataset_num_samples(val),
           crmt_dataset_num_samples(test));

    printf("JT (SGD lr 0.05, %d epochs)\n", EPOCHS);
    models[0] = train(CRMT_HEAD_JT, CRMT_METHOD_JT, 0.05, 0.0, fit, val);
    printf("CRMT-JT (SGD lr 0.005, rho 0.1, %d epochs, then step 2)\n", EPOCHS);
    models[1] = train(CRMT_HEAD_CRMT, CRMT_METHOD_CRMT, 0.005, 0.1, fit, val);

    for (int k = 0; k < 2; k++) {
        crmt_evaluate_options eo;
        CHECK(crmt_evaluate_options_init(&eo, sizeof eo));
        eo.fgm_epsilon = 1.0;
        eo.pgd_epsilon = 1.0;
        eo.fill_mean_data = fit; /* a missing modality is replaced by its training mean */
        eo.radii = radii;
        eo.n_radii = sizeof radii / sizeof radii[0];
        memset(&rep[k], 0, sizeof rep[k]);
        rep[k].struct_size = sizeof rep[k];
        CHECK(crmt_evaluate(models[k], test, &eo, &rep[k]));
    }
    printf("\nTest split (l2 PGD: epsilon 1, 4 steps; missing = training mean; radii: sound)\n"
           "| method  | clean | PGD   | PGD image | PGD audio | missing image | missing audio |"
           " cert@1 | mean r_image | mean r_audio |\n"
           "|---------|-------|-------|-----------|-----------|---------------|---------------|"
           "--------|--------------|--------------|\n");
    for (int k = 0; k < 2; k++)
        printf("| %-7s | %.3f | %.3f | %9.3f | %9.3f | %13.3f | %13.3f | %6.3f | %12.3f | "
               "%12.3f |\n",
               names[k], rep[k].clean_accuracy, rep[k].pgd_accuracy,
               rep[k].pgd_modality_accuracy[0], rep[k].pgd_modality_accuracy[1],
               rep[k].missing_accuracy[0], rep[k].missing_accuracy[1],
               rep[k].certified_accuracy[1], rep[k].modality_mean_certified_radius[0],
               rep[k].modality_mean_certified_radius[1]);
    {
        int pref = rep[0].missing_accuracy[1] < rep[0].missing_accuracy[0]; /* 1 = audio */
        printf("JT prefers the %s: removing it costs %.1f points, removing the %s %.1f.\n",
               pref ? "audio" : "image",
               100.0 * (rep[0].clean_accuracy - rep[0].missing_accuracy[pref]),
               pref ? "image" : "audio",
               100.0 * (rep[0].clean_accuracy - rep[0].missing_accuracy[1 - pref]));
    }

    /* One certificate: the first test sample, CRMT-JT. */
    {
        crmt_certifier_options co;
        crmt_certifier *cert;
        crmt_certificate c;
        const float *in[2] = {crmt_dataset_data(test, 0), crmt_dataset_data(test, 1)};
        CHECK(crmt_certifier_options_init(&co, sizeof co));
        co.fill_mean_data = fit;
        CHECK(crmt_certifier_create(&cert, models[1], &co));
        memset(&c, 0, sizeof c);
        c.struct_size = sizeof c;
        CHECK(crmt_certify_radius(cert, in, crmt_dataset_labels(test)[0], &c));
        printf("\nCRMT-JT, test sample 0 (label %d): predicted %d, certified %d (sound), joint "
               "radius %.3f, image-only %.3f, audio-only %.3f; survives missing image %d, "
               "missing audio %d\n",
               (int)c.label, (int)c.predicted, c.certified, c.radius, c.modality_radius[0],
               c.modality_radius[1], c.missing_survives[0], c.missing_survives[1]);
        crmt_certifier_destroy(cert);
    }

    int ok = rep[0].clean_accuracy > 0.8 && rep[1].clean_accuracy > 0.8;
    for (int k = 0; k < 2; k++)
        crmt_model_destroy(models[k]);
    crmt_dataset_destroy(fit);
    crmt_dataset_destroy(full);
    crmt_dataset_destroy(val);
    crmt_dataset_destroy(test);
    if (!ok) {
        fprintf(stderr, "av_digits: clean accuracy below 0.8: something is wrong\n");
        return 1;
    }
    return 0;
}
