/* Example: save a model to a file and to a memory buffer, load both back and check that
 * the loaded models give bit-identical logits.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <crmt/crmt.h>

#define N 64
#define D0 12
#define D1 6
#define K 3

#define CHECK(call)                                                                  \
    do {                                                                             \
        crmt_status st_ = (call);                                                    \
        if (st_ != CRMT_OK) {                                                        \
            fprintf(stderr, "%s failed: %s: %s\n", #call, crmt_status_string(st_),   \
                    crmt_last_error());                                              \
            return 1;                                                                \
        }                                                                            \
    } while (0)

static float x0[N * D0], x1[N * D1];
static int32_t y[N];
static float logits_ref[N * K], logits_file[N * K], logits_buf[N * K];

int main(void)
{
    const char *path = "save_load_example.crmt";
    crmt_spec *spec;
    crmt_model *model, *from_file, *from_buf;
    crmt_optimizer *opt;
    const float *inputs[2] = {x0, x1};
    unsigned char *buf;
    size_t size = 0;
    double loss = 0.0;
    uint32_t s = 12345u;
    int a, b, i, step;

    for (i = 0; i < N * D0; i++)
        x0[i] = (float)((s = s * 1664525u + 1013904223u) >> 8) / 16777216.0f;
    for (i = 0; i < N * D1; i++)
        x1[i] = (float)((s = s * 1664525u + 1013904223u) >> 8) / 16777216.0f;
    for (i = 0; i < N; i++) {
        y[i] = i % K;
        x0[i * D0 + y[i]] += 1.0f;
        x1[i * D1 + y[i]] += 1.0f;
    }

    CHECK(crmt_spec_create(&spec, K));
    CHECK(crmt_spec_add_modality(spec, "a", D0, &a));
    CHECK(crmt_spec_add_linear(spec, a, 16));
    CHECK(crmt_spec_add_relu(spec, a));
    CHECK(crmt_spec_add_linear(spec, a, 8));
    CHECK(crmt_spec_add_modality(spec, "b", D1, &b));
    CHECK(crmt_spec_add_linear(spec, b, 8));
    CHECK(crmt_spec_set(spec, CRMT_SPEC_HEAD, CRMT_HEAD_CRMT));
    CHECK(crmt_model_create(&model, spec, 5));
    crmt_spec_destroy(spec);

    /* A few training steps so the parameters are not just the initialisation. */
    CHECK(crmt_optimizer_create(&opt, model, CRMT_OPTIMIZER_ADAM));
    CHECK(crmt_optimizer_set(opt, CRMT_OPT_LR, 0.01));
    for (step = 0; step < 20; step++)
        CHECK(crmt_train_step(model, opt, inputs, y, N, NULL, &loss));
    printf("trained 20 steps, last loss %.4f\n", loss);
    CHECK(crmt_model_predict(model, inputs, N, NULL, logits_ref));

    /* File round trip (the save is atomic: temporary file, then rename). */
    CHECK(crmt_model_save(model, path));
    CHECK(crmt_model_load(&from_file, path));
    CHECK(crmt_model_predict(from_file, inputs, N, NULL, logits_file));
    remove(path);

    /* Memory round trip: ask for the size, then serialise into a buffer of that size. */
    CHECK(crmt_model_save_buffer(model, NULL, 0, &size));
    buf = malloc(size);
    if (!buf)
        return 1;
    CHECK(crmt_model_save_buffer(model, buf, size, &size));
    CHECK(crmt_model_load_buffer(&from_buf, buf, size));
    CHECK(crmt_model_predict(from_buf, inputs, N, NULL, logits_buf));
    printf("serialised model: %zu bytes, %zu parameters\n", size,
           crmt_model_num_parameters(model));

    int same_file = memcmp(logits_ref, logits_file, sizeof logits_ref) == 0;
    int same_buf = memcmp(logits_ref, logits_buf, sizeof logits_ref) == 0;
    printf("file round trip: logits %s\n", same_file ? "identical" : "DIFFER");
    printf("buffer round trip: logits %s\n", same_buf ? "identical" : "DIFFER");

    free(buf);
    crmt_optimizer_destroy(opt);
    crmt_model_destroy(from_buf);
    crmt_model_destroy(from_file);
    crmt_model_destroy(model);
    return same_file && same_buf ? 0 : 1;
}
