/* Example: load a saved model and certify a batch of test samples with crmt_certify_batch,
 * printing each sample's certified l2 radius (jointly and per modality).
 *
 * Usage: certify_saved_model [model-file]   (default: ./digits_crmt.crmt, as written by
 * train_two_modalities)
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include <crmt/crmt.h>

#include "digits.h"

#define N_CERTIFY 16

/* Stop on a failed call, printing the message of whoever failed: the library (CHECK) or
 * the digits loader (CHECK_DIGITS, digits.h). */
#define CHECK_MSG(call, message)                                                     \
    do {                                                                             \
        crmt_status st_ = (call);                                                    \
        if (st_ != CRMT_OK) {                                                        \
            fprintf(stderr, "%s failed: %s: %s\n", #call, crmt_status_string(st_),   \
                    (message));                                                      \
            return 1;                                                                \
        }                                                                            \
    } while (0)
#define CHECK(call) CHECK_MSG(call, crmt_last_error())
#define CHECK_DIGITS(call) CHECK_MSG(call, crmt_digits_last_error())

int main(int argc, char **argv)
{
    const char *path = argc > 1 ? argv[1] : "digits_crmt.crmt";
    crmt_digits digits;
    crmt_dataset *train = NULL, *test = NULL;
    crmt_model *model = NULL;
    crmt_certifier *cert = NULL;
    crmt_certifier_options co;
    crmt_certificate out[N_CERTIFY];
    const float *inputs[2];
    const int32_t *labels;
    int n_certified = 0;

    CHECK(crmt_model_load(&model, path));
    printf("loaded %s: %d modalities, %d classes, %zu parameters\n", path,
           crmt_model_num_modalities(model), crmt_model_num_classes(model),
           crmt_model_num_parameters(model));

    CHECK_DIGITS(crmt_digits_load(crmt_digits_default_path(), &digits));
    CHECK_DIGITS(crmt_digits_make_datasets(&digits, CRMT_DIGITS_VIEW_UNBALANCED,
                                           CRMT_DIGITS_DEFAULT_TEST_FRACTION,
                                           CRMT_DIGITS_DEFAULT_SEED, &train, &test));
    if (crmt_dataset_num_samples(test) < N_CERTIFY) {
        fprintf(stderr, "test set too small\n");
        return 1;
    }

    /* Sound Lipschitz bounds; a missing modality is filled with the training mean. */
    CHECK(crmt_certifier_options_init(&co, sizeof co));
    co.lipschitz = CRMT_LIPSCHITZ_SOUND;
    co.fill_mean_data = train;
    CHECK(crmt_certifier_create(&cert, model, &co));

    /* The first N_CERTIFY test samples: dataset storage is sample-major per modality, so
     * the first n samples are the first n * n_m floats. */
    inputs[0] = crmt_dataset_data(test, 0);
    inputs[1] = crmt_dataset_data(test, 1);
    labels = crmt_dataset_labels(test);
    out[0].struct_size = sizeof out[0];
    CHECK(crmt_certify_batch(cert, inputs, N_CERTIFY, labels, out));

    printf("%6s %5s %9s %9s %10s %10s %10s %7s\n", "sample", "label", "predicted", "certified",
           "radius", "r(rows0-1)", "r(rows2-7)", "closest");
    for (int i = 0; i < N_CERTIFY; i++) {
        printf("%6d %5d %9d %9d %10.4f %10.4f %10.4f %7d\n", i, (int)out[i].label,
               (int)out[i].predicted, out[i].certified, out[i].radius,
               out[i].modality_radius[0], out[i].modality_radius[1], (int)out[i].closest_class);
        n_certified += out[i].certified;
    }
    printf("%d of %d samples certified (%s Lipschitz bound)\n", n_certified, N_CERTIFY,
           crmt_certifier_lipschitz(cert) == CRMT_LIPSCHITZ_SOUND ? "sound" : "empirical");

    crmt_certifier_destroy(cert);
    crmt_model_destroy(model);
    crmt_dataset_destroy(train);
    crmt_dataset_destroy(test);
    crmt_digits_free(&digits);
    return n_certified > 0 ? 0 : 1;
}
