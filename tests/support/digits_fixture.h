/* Test support: the handwritten digits as the training suites use them -- the unbalanced
 * view (modality 0 = image rows 0-1, 16 inputs; modality 1 = rows 2-7, 48 inputs) with the
 * default train/test split -- and the models and the training several of them share. Every
 * failure fails the running Check test. */
#ifndef CRMT_TEST_DIGITS_FIXTURE_H
#define CRMT_TEST_DIGITS_FIXTURE_H

#include <stdint.h>

#include "crmt/dataset.h"
#include "crmt/model.h"
#include "crmt/optimizer.h"

typedef struct crmt_test_digits {
    crmt_dataset *train, *test;
} crmt_test_digits;

/* Load tests/data/digits.csv.gz and split it (CRMT_DIGITS_DEFAULT_TEST_FRACTION and
 * CRMT_DIGITS_DEFAULT_SEED); release with crmt_test_digits_free. */
void crmt_test_digits_load(crmt_test_digits *d);
void crmt_test_digits_free(crmt_test_digits *d);

/* The two-encoder MLP, K = 10: "rows0-1" 16 -> linear 32 -> ReLU -> linear 32 and "rows2-7"
 * 48 -> linear 64 -> ReLU -> linear 32. */
crmt_model *crmt_test_digits_mlp(crmt_head_kind head, crmt_head_norm norm, uint64_t seed);

/* K = 10 over the two views as images, "rows0-1" 1x2x8 and "rows2-7" 1x6x8, with the layers
 * layers[m] spelled as for crmt_test_build_image_model. */
crmt_model *crmt_test_digits_image_model(const char *const layers[2], crmt_head_kind head,
                                         uint64_t seed);

/* crmt_train on train for epochs (batch 32, shuffled with seed) with SGD, momentum 0.9 and
 * the given learning-rate schedule (cosine: over these epochs); by the model's head, JT with
 * lr 0.05 or CRMT step 1 with lr 0.01. */
void crmt_test_digits_train(crmt_model *model, const crmt_dataset *train, crmt_schedule schedule,
                            int epochs, uint64_t seed);

#endif
