/* Out-of-tree consumer of an installed libcrmt (C99), built through CMake
 * (find_package(crmt) + crmt::crmt) and through pkg-config (crmt.pc) by
 * scripts/consumer-check.sh. Exits 0 on success. */
#include <crmt/crmt.h>

#include <math.h>
#include <stdio.h>
#include <string.h>

#define N_SAMPLES 3
#define N_CLASSES 4

static int check(crmt_status st, const char *what)
{
    if (st != CRMT_OK) {
        fprintf(stderr, "consumer: %s failed: %s (%s)\n", what, crmt_status_string(st),
                crmt_last_error());
        return 1;
    }
    return 0;
}

int main(void)
{
    crmt_spec *spec = NULL;
    crmt_model *model = NULL;
    int image = -1, audio = -1, failed = 1;
    float image_in[N_SAMPLES * 12];
    float audio_in[N_SAMPLES * 5];
    const float *inputs[2];
    int32_t labels[N_SAMPLES];
    float logits[N_SAMPLES * N_CLASSES];
    size_t i;

    /* sqlite-style check: the library linked is the one the headers describe. */
    if (crmt_version_number() != CRMT_VERSION_NUMBER ||
        strcmp(crmt_version_string(), CRMT_VERSION_STRING) != 0) {
        fprintf(stderr, "consumer: header version %s (%d) but library %s (%u)\n",
                CRMT_VERSION_STRING, CRMT_VERSION_NUMBER, crmt_version_string(),
                crmt_version_number());
        return 1;
    }

    if (check(crmt_spec_create(&spec, N_CLASSES), "crmt_spec_create") ||
        check(crmt_spec_add_modality(spec, "image", 12, &image), "crmt_spec_add_modality") ||
        check(crmt_spec_add_linear(spec, image, 8), "crmt_spec_add_linear") ||
        check(crmt_spec_add_modality(spec, "audio", 5, &audio), "crmt_spec_add_modality") ||
        check(crmt_spec_add_linear(spec, audio, 8), "crmt_spec_add_linear") ||
        check(crmt_model_create(&model, spec, 42), "crmt_model_create"))
        goto done;

    memset(image_in, 0, sizeof image_in);
    memset(audio_in, 0, sizeof audio_in);
    inputs[image] = image_in;
    inputs[audio] = audio_in;
    if (check(crmt_model_predict(model, inputs, N_SAMPLES, labels, logits),
              "crmt_model_predict"))
        goto done;
    for (i = 0; i < N_SAMPLES; i++) {
        if (labels[i] < 0 || labels[i] >= N_CLASSES) {
            fprintf(stderr, "consumer: label %d out of range\n", (int)labels[i]);
            goto done;
        }
    }
    for (i = 0; i < N_SAMPLES * N_CLASSES; i++) {
        if (!isfinite(logits[i])) {
            fprintf(stderr, "consumer: non-finite logit\n");
            goto done;
        }
    }
    printf("consumer (C): libcrmt %s, %d modalities, %d classes, %zu parameters, "
           "zero input -> class %d\n",
           crmt_version_string(), crmt_model_num_modalities(model),
           crmt_model_num_classes(model), crmt_model_num_parameters(model), (int)labels[0]);
    failed = 0;
done:
    crmt_model_destroy(model);
    crmt_spec_destroy(spec);
    return failed;
}
