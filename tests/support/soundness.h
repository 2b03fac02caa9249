/* Test support: the property certificates promise, checked by attack -- PGD with the margin
 * loss and random restarts must not find a label flip inside a certified radius (used by
 * test_certify for MLPs and test_conv for conv encoders). */
#ifndef CRMT_TEST_SOUNDNESS_H
#define CRMT_TEST_SOUNDNESS_H

#include "crmt/dataset.h"
#include "crmt/model.h"

typedef struct crmt_test_attack_tally {
    long samples;     /* certified samples attacked */
    long attacks;     /* PGD runs inside the radii (restarts counted) */
    long float_flips; /* float predictions flipped while the exact margin stayed positive */
    long flips_at_2r, tried_at_2r; /* how loose: flips at twice the joint radius */
} crmt_test_attack_tally;

/* Certify every sample of data for its label with a sound certifier; fail the test when
 * fewer than min_certified_fraction are certified. Then attack up to max_samples certified
 * samples (spread evenly over the certified ones): jointly at 0.999 r and on each modality
 * alone at 0.999 r_m, 100 PGD steps from the sample and from 5 random starts each, failing
 * the test when the exact (double, tests/support/reference.c) margin of any result is
 * negative; jointly at 2 r, counted in t. Prints one line with name. */
void crmt_test_soundness(const crmt_model *model, const crmt_dataset *data, const char *name,
                         int max_samples, double min_certified_fraction,
                         crmt_test_attack_tally *t);

#endif
