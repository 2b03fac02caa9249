/* Internal: l2 gradient attacks (FGM and PGD) on the fused logits, jointly over all
 * modalities or on one modality. Reused by adversarial training (CRMT-AT, JT-AT) and by the
 * evaluation code. Does not allocate: the caller provides the workspace and buffers.
 *
 * One step on sample i (delta = x_adv - x):
 *   g = d loss / d x_adv          (crmti_forward, ws->dlogits, crmti_backward)
 *   joint:        x_adv_m += step * g_m / (||g||_joint + 1e-13)   for every m
 *   modality m:   x_adv_m += step * g_m / (||g_m|| + 1e-13), other modalities untouched
 *   projection:   delta *= min(1, eps / ||delta||) (joint norm, or modality m's norm)
 *   optional clip of x_adv to [clip_min, clip_max] (after the projection)
 * FGM is one step with step = eps from x. Official presets (GeWu-Lab release, rob_test.py):
 *   FGM eps 0.2; PGD eps 0.2, 4 steps of eps/3, no random start, last iterate returned;
 *   CRMT-AT training: joint PGD eps 0.1, 5 steps of eps/5, no random start.
 * Random start: delta uniform in the ball (Gaussian direction, radius eps U^(1/D), D the
 * number of perturbed coordinates). With restarts > 1 or keep_best, x_adv receives, per
 * sample, the first iterate that is misclassified, else the iterate of highest loss. */
#ifndef CRMTI_ATTACK_H
#define CRMTI_ATTACK_H

#include <stddef.h>
#include <stdint.h>

#include "model/model.h"
#include "tensor/rng.h"

typedef enum crmti_attack_loss {
    CRMTI_LOSS_CE = 0,     /* cross-entropy of the fused logits */
    CRMTI_LOSS_MARGIN = 1  /* max_{j != y} h_j - h_y (CW-style, attacks the margin) */
} crmti_attack_loss;

typedef struct crmti_attack_cfg {
    double epsilon;     /* l2 budget: joint, or of the attacked modality; >= 0 */
    int steps;          /* >= 1 (FGM: 1) */
    double step_size;   /* > 0 (FGM: epsilon) */
    int restarts;       /* >= 1 independent runs */
    int random_start;   /* 1: each run starts uniformly in the ball; 0: from x */
    int modality;       /* -1: all modalities jointly; else only this one */
    int loss;           /* crmti_attack_loss */
    int keep_best;      /* 1: return the best iterate (see above); 0: the last one */
    int clip;           /* 1: clip x_adv to [clip_min, clip_max] */
    float clip_min, clip_max;
} crmti_attack_cfg;

/* Presets: FGM (eps), official PGD (eps, 4 steps of eps/3), CRMT-AT PGD (eps, 5 of eps/5). */
void crmti_attack_cfg_fgm(crmti_attack_cfg *cfg, double eps);
void crmti_attack_cfg_pgd(crmti_attack_cfg *cfg, double eps, int steps, double step_size);

/* Floats of scratch crmti_pgd needs for a batch (depends on keep_best / restarts). */
size_t crmti_attack_scratch_size(const crmt_model *model, int batch,
                                 const crmti_attack_cfg *cfg);

/* Run the attack on batch samples (x: one pointer per modality, batch x n_m floats; y: the
 * labels to move away from). x_adv: one pointer per modality, batch x n_m floats, distinct
 * from x; receives the adversarial inputs (modalities not attacked are copied from x).
 * scratch: crmti_attack_scratch_size floats. rng: used for random starts only (may be NULL
 * when random_start is 0). ws: max_batch >= batch. Leaves ws holding the forward pass of
 * the last iterate evaluated. adv_pred (may be NULL): batch predictions of the returned
 * x_adv. Inputs must be finite and cfg valid (checked by the caller). */
void crmti_pgd(const crmt_model *model, crmti_ws *ws, const float *const *x, const int32_t *y,
               int batch, const crmti_attack_cfg *cfg, crmti_rng *rng, float *const *x_adv,
               float *scratch, int32_t *adv_pred);

#endif
