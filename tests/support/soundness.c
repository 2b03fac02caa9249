#include "soundness.h"

#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "crmt/certify.h"
#include "model/model.h"
#include "reference.h"
#include "robust/attack.h"
#include "tensor/rng.h"

/* Classes of the models attacked here (the exact logits live on the stack). */
#define ATTACK_MAX_CLASSES 64

/* Attack x (label y) within eps (modality >= 0: only that modality moves), from x and from
 * five random starts, keeping the best iterate. Returns 1 when the exact margin of the
 * result is negative; counts runs and float-only flips in t when count. */
static int attack_flips(const crmt_model *model, crmti_ws *ws, const float *const *x, int32_t y,
                        double eps, int modality, float *const *adv, float *scratch,
                        crmti_rng *rng, crmt_test_attack_tally *t, int count)
{
    int flipped = 0;
    for (int pass = 0; pass < 2; pass++) {
        crmti_attack_cfg cfg;
        crmti_attack_cfg_pgd(&cfg, eps, 100, eps / 8.0);
        cfg.loss = CRMTI_LOSS_MARGIN;
        cfg.keep_best = 1;
        cfg.modality = modality;
        cfg.restarts = pass == 0 ? 1 : 5;
        cfg.random_start = pass == 1;
        int32_t pred;
        crmti_pgd(model, ws, x, &y, 1, &cfg, rng, adv, scratch, &pred);
        if (count)
            t->attacks += cfg.restarts;
        /* the perturbation respects the budget and the attacked modality */
        double ss = 0.0;
        for (int m = 0; m < model->n_mod; m++)
            for (int c = 0; c < model->enc[m].in_size; c++) {
                const double d = (double)adv[m][c] - (double)x[m][c];
                ss += d * d;
                if (modality >= 0 && m != modality)
                    ck_assert(d == 0.0);
            }
        ck_assert_msg(sqrt(ss) <= eps * (1 + 1e-6), "perturbation %.9g > budget %.9g", sqrt(ss),
                      eps);
        if (pred != y) {
            double h[ATTACK_MAX_CLASSES];
            ck_assert(crmt_test_exact_logits(model, (const float *const *)adv, h));
            double worst = -INFINITY;
            for (int k = 0; k < model->n_classes; k++)
                if (k != y && h[k] - h[y] > worst)
                    worst = h[k] - h[y];
            if (worst > 0.0)
                flipped = 1;
            else if (count)
                t->float_flips++;
        }
    }
    return flipped;
}

void crmt_test_soundness(const crmt_model *model, const crmt_dataset *data, const char *name,
                         int max_samples, double min_certified_fraction,
                         crmt_test_attack_tally *t)
{
    const int M = model->n_mod;
    ck_assert_int_le(model->n_classes, ATTACK_MAX_CLASSES);
    crmt_certifier *cert = NULL;
    ck_assert_int_eq(crmt_certifier_create(&cert, model, NULL), CRMT_OK);
    ck_assert_int_eq(crmt_certifier_lipschitz(cert), CRMT_LIPSCHITZ_SOUND);
    const size_t n = crmt_dataset_num_samples(data);
    crmt_certificate *cts = malloc(sizeof(crmt_certificate) * n);
    ck_assert_ptr_nonnull(cts);
    cts[0].struct_size = sizeof(crmt_certificate);
    const float *inputs[CRMT_MAX_MODALITIES];
    size_t dims[CRMT_MAX_MODALITIES];
    float *adv[CRMT_MAX_MODALITIES];
    for (int m = 0; m < M; m++) {
        inputs[m] = crmt_dataset_data(data, m);
        dims[m] = crmt_dataset_dim(data, m);
        adv[m] = malloc(sizeof(float) * dims[m]);
        ck_assert_ptr_nonnull(adv[m]);
    }
    ck_assert_int_eq(crmt_certify_batch(cert, inputs, n, crmt_dataset_labels(data), cts),
                     CRMT_OK);
    crmti_ws *ws = crmti_ws_create(model, 1);
    crmti_attack_cfg big;
    crmti_attack_cfg_pgd(&big, 1.0, 100, 0.1);
    big.restarts = 5;
    big.keep_best = 1;
    float *scratch = malloc(sizeof(float) * crmti_attack_scratch_size(model, 1, &big));
    ck_assert(ws && scratch);
    crmti_rng rng;
    crmti_rng_seed(&rng, 99);
    int used = 0, certified = 0;
    double sum_r = 0.0;
    for (size_t i = 0; i < n; i++)
        if (cts[i].certified) {
            certified++;
            sum_r += cts[i].radius;
        }
    const size_t stride = certified > max_samples ? (size_t)certified / (size_t)max_samples : 1;
    size_t seen = 0;
    for (size_t i = 0; i < n && used < max_samples; i++) {
        const crmt_certificate *ct = &cts[i];
        if (!ct->certified || seen++ % stride != 0)
            continue;
        used++;
        t->samples++;
        const float *x[CRMT_MAX_MODALITIES];
        for (int m = 0; m < M; m++)
            x[m] = inputs[m] + i * dims[m];
        ck_assert_msg(!attack_flips(model, ws, x, ct->label, 0.999 * ct->radius, -1, adv,
                                    scratch, &rng, t, 1),
                      "%s sample %zu: joint attack inside the certified radius %.6g flipped",
                      name, i, ct->radius);
        for (int m = 0; m < M; m++)
            if (isfinite(ct->modality_radius[m]))
                ck_assert_msg(!attack_flips(model, ws, x, ct->label,
                                            0.999 * ct->modality_radius[m], m, adv, scratch,
                                            &rng, t, 1),
                              "%s sample %zu: attack on modality %d inside r_m %.6g flipped",
                              name, i, m, ct->modality_radius[m]);
        t->tried_at_2r++;
        t->flips_at_2r += attack_flips(model, ws, x, ct->label, 2.0 * ct->radius, -1, adv,
                                       scratch, &rng, t, 0);
    }
    printf("  %s: %d/%zu test samples certified, mean radius (certified) %.4f, %d attacked\n",
           name, certified, n, certified ? sum_r / certified : 0.0, used);
    ck_assert_msg(certified >= min_certified_fraction * (double)n,
                  "%s: only %d of %zu certified", name, certified, n);
    for (int m = 0; m < M; m++)
        free(adv[m]);
    free(scratch);
    crmti_ws_destroy(ws);
    free(cts);
    crmt_certifier_destroy(cert);
}
