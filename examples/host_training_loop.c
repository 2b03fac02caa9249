/* Example: a host that runs its own training loop: it owns the data and the batching,
 * calls crmt_train_step for each mini-batch and crmt_optimizer_set_epoch at the start of
 * each epoch (here with a cosine learning-rate schedule), and measures accuracy itself
 * with crmt_model_predict.
 */
#include <stdio.h>
#include <string.h>

#include <crmt/crmt.h>

#define N 240
#define BATCH 24
#define EPOCHS 15
#define D0 10
#define D1 10
#define K 4

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
static float b0[BATCH * D0], b1[BATCH * D1];
static int32_t by[BATCH];
static size_t order[N];
static uint32_t rng = 2024u;

static uint32_t next(void)
{
    rng = rng * 1664525u + 1013904223u;
    return rng >> 8;
}

static float noise(void)
{
    return (float)next() / 16777216.0f - 0.5f;
}

int main(void)
{
    crmt_spec *spec;
    crmt_model *model;
    crmt_optimizer *opt;
    crmt_train_options o;
    int32_t pred[N];
    const float *all[2] = {x0, x1};
    const float *batch[2] = {b0, b1};
    int m0, m1, i, epoch;
    size_t start, j;

    /* Toy data: class k raises feature k of modality 0 and feature k+1 of modality 1. */
    for (i = 0; i < N; i++) {
        y[i] = i % K;
        for (j = 0; j < D0; j++)
            x0[i * D0 + j] = noise();
        for (j = 0; j < D1; j++)
            x1[i * D1 + j] = noise();
        x0[i * D0 + y[i]] += 0.8f;
        x1[i * D1 + y[i] + 1] += 0.8f;
        order[i] = (size_t)i;
    }

    CHECK(crmt_spec_create(&spec, K));
    CHECK(crmt_spec_add_modality(spec, "left", D0, &m0));
    CHECK(crmt_spec_add_linear(spec, m0, 16));
    CHECK(crmt_spec_add_relu(spec, m0));
    CHECK(crmt_spec_add_linear(spec, m0, 8));
    CHECK(crmt_spec_add_modality(spec, "right", D1, &m1));
    CHECK(crmt_spec_add_linear(spec, m1, 16));
    CHECK(crmt_spec_add_relu(spec, m1));
    CHECK(crmt_spec_add_linear(spec, m1, 8));
    CHECK(crmt_spec_set(spec, CRMT_SPEC_HEAD, CRMT_HEAD_CRMT));
    CHECK(crmt_model_create(&model, spec, 3));
    crmt_spec_destroy(spec);

    CHECK(crmt_optimizer_create(&opt, model, CRMT_OPTIMIZER_SGD));
    CHECK(crmt_optimizer_set(opt, CRMT_OPT_LR, 0.05));
    CHECK(crmt_optimizer_set(opt, CRMT_OPT_MOMENTUM, 0.9));
    CHECK(crmt_optimizer_set(opt, CRMT_OPT_SCHEDULE, CRMT_SCHEDULE_COSINE));
    CHECK(crmt_optimizer_set(opt, CRMT_OPT_TOTAL_EPOCHS, EPOCHS));

    /* Step 1 of CRMT (CE + margin regulariser) one batch at a time. */
    CHECK(crmt_train_options_init(&o, sizeof o));
    o.method = CRMT_METHOD_CRMT;
    o.rho = 1.0;

    for (epoch = 0; epoch < EPOCHS; epoch++) {
        double sum = 0.0;
        int batches = 0;
        CHECK(crmt_optimizer_set_epoch(opt, epoch));
        /* The host's own shuffle (Fisher-Yates). */
        for (i = N - 1; i > 0; i--) {
            size_t k = next() % (uint32_t)(i + 1), t = order[i];
            order[i] = order[k];
            order[k] = t;
        }
        for (start = 0; start + BATCH <= N; start += BATCH) {
            double loss = 0.0;
            for (j = 0; j < BATCH; j++) {
                size_t s = order[start + j];
                memcpy(b0 + j * D0, x0 + s * D0, sizeof(float) * D0);
                memcpy(b1 + j * D1, x1 + s * D1, sizeof(float) * D1);
                by[j] = y[s];
            }
            CHECK(crmt_train_step(model, opt, batch, by, BATCH, &o, &loss));
            sum += loss;
            batches++;
        }
        if (epoch % 5 == 0 || epoch == EPOCHS - 1)
            printf("epoch %2d  lr %.4f  mean loss %.4f\n", epoch,
                   crmt_optimizer_current_lr(opt), sum / batches);
    }

    CHECK(crmt_model_predict(model, all, N, pred, NULL));
    int correct = 0;
    for (i = 0; i < N; i++)
        correct += pred[i] == y[i];
    printf("training accuracy %.3f\n", (double)correct / N);

    crmt_optimizer_destroy(opt);
    crmt_model_destroy(model);
    return correct > N * 3 / 4 ? 0 : 1;
}
