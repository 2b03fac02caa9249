#include "test_models.h"

#include <stddef.h>

crmt_model *crmt_test_build_model(int k, int n_mod, const int *in_dims,
                                  const char *const *layers, const int *widths,
                                  crmt_head_kind head, crmt_head_norm norm, uint64_t seed)
{
    crmt_spec *spec = NULL;
    crmt_model *model = NULL;
    int wi = 0;
    crmt_status st = crmt_spec_create(&spec, k);
    for (int m = 0; st == CRMT_OK && m < n_mod; m++) {
        st = crmt_spec_add_modality(spec, NULL, in_dims[m], NULL);
        for (const char *c = layers[m]; st == CRMT_OK && *c; c++)
            st = (*c == 'L') ? crmt_spec_add_linear(spec, m, widths[wi++])
                             : crmt_spec_add_relu(spec, m);
    }
    if (st == CRMT_OK)
        st = crmt_spec_set(spec, CRMT_SPEC_HEAD, head);
    if (st == CRMT_OK)
        st = crmt_spec_set(spec, CRMT_SPEC_HEAD_NORM, norm);
    if (st == CRMT_OK)
        crmt_model_create(&model, spec, seed);
    crmt_spec_destroy(spec);
    return model;
}
