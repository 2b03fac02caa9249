/* Adversarial inputs for JT_AT / CRMT_AT: joint-l2 PGD on cross-entropy through the shared
 * attack code (src/robust/attack.c), official CRMT-AT setting by default (eps 0.1, 5 steps of
 * eps/5, no random start, last iterate). */
#include "robust/attack.h"
#include "train/trainer.h"

void crmti_adversarial_cfg(const crmt_train_options *o, crmti_attack_cfg *cfg)
{
    double step = o->at_step_size > 0.0 ? o->at_step_size : o->at_epsilon / o->at_steps;
    crmti_attack_cfg_pgd(cfg, o->at_epsilon, o->at_steps, step > 0.0 ? step : 1e-12);
}

crmt_status crmti_adversarial_batch(crmt_model *model, crmti_ws *ws, const float *const *x,
                                    const int32_t *y, int batch, const crmt_train_options *o,
                                    struct crmti_rng *rng, float *const *x_adv, float *scratch)
{
    crmti_attack_cfg cfg;
    crmti_adversarial_cfg(o, &cfg);
    crmti_pgd(model, ws, x, y, batch, &cfg, rng, x_adv, scratch, NULL);
    return CRMT_OK;
}
