/* Test support: small models described compactly, shared by the certifier, attack and
 * Lipschitz suites. */
#ifndef CRMT_TEST_MODELS_H
#define CRMT_TEST_MODELS_H

#include <stdint.h>

#include "crmt/model.h"

/* A model of k classes and n_mod modalities: modality m has in_dims[m] inputs and the layers
 * spelled by layers[m] ('L' = linear, taking the next width from widths; 'R' = ReLU), head
 * kind head with row normalisation norm, initialised from seed. NULL on any failure (the
 * reason is in crmt_last_error()). */
crmt_model *crmt_test_build_model(int k, int n_mod, const int *in_dims,
                                  const char *const *layers, const int *widths,
                                  crmt_head_kind head, crmt_head_norm norm, uint64_t seed);

/* A model of k classes over n_mod image modalities (shapes[m] = C, H, W; names NULL or one
 * per modality) whose layers are
 * spelled by layers[m], space-separated: "c<out>/<kernel>/<stride>/<pad>" conv2d,
 * "m<k>/<s>" max pooling, "a<k>/<s>" average pooling, "f" flatten, "l<width>" linear, "r"
 * ReLU. NULL on any failure (the reason is in crmt_last_error(), or a malformed token). */
crmt_model *crmt_test_build_image_model(int k, int n_mod, const int (*shapes)[3],
                                        const char *const *names, const char *const *layers,
                                        crmt_head_kind head, uint64_t seed);

#endif
