/* TEMPORARY (this session): adversarial training and step 2 land with the attack and
 * Lipschitz modules; until then they refuse clearly instead of doing something else. */
#include "train/trainer.h"

crmt_status crmti_adversarial_batch(crmt_model *model, crmti_ws *ws, const float *const *x,
                                    const int32_t *y, int batch, const crmt_train_options *o,
                                    struct crmti_rng *rng, float *const *x_adv,
                                    float *const *grad)
{
    (void)ws, (void)x, (void)y, (void)batch, (void)o, (void)rng, (void)x_adv, (void)grad;
    return crmti_fail(model->errmsg, CRMT_ERR_UNSUPPORTED, "adversarial training not built yet");
}

crmt_status crmti_integration_step(crmt_model *model, const crmt_dataset *data,
                                   const crmt_train_options *o, crmt_train_result *result)
{
    (void)data, (void)result;
    if (o->integration_epochs == 0)
        return CRMT_OK;
    return crmti_fail(model->errmsg, CRMT_ERR_UNSUPPORTED, "step 2 not built yet");
}
