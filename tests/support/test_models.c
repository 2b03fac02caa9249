#include "test_models.h"

#include <stddef.h>
#include <stdio.h>
#include <string.h>

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

/* One layer token of crmt_test_build_image_model; *used = characters consumed. */
static crmt_status add_layer_token(crmt_spec *spec, int m, const char *tok, int *used)
{
    int a = 0, b = 0, c = 0, d = 0;
    *used = 0;
    switch (tok[0]) {
    case 'c':
        if (sscanf(tok, "c%d/%d/%d/%d%n", &a, &b, &c, &d, used) == 4)
            return crmt_spec_add_conv2d(spec, m, a, b, c, d);
        break;
    case 'm':
    case 'a':
        if (sscanf(tok + 1, "%d/%d%n", &a, &b, used) == 2) {
            (*used)++;
            return tok[0] == 'm' ? crmt_spec_add_maxpool(spec, m, a, b)
                                 : crmt_spec_add_avgpool(spec, m, a, b);
        }
        break;
    case 'l':
        if (sscanf(tok, "l%d%n", &a, used) == 1)
            return crmt_spec_add_linear(spec, m, a);
        break;
    case 'r':
        *used = 1;
        return crmt_spec_add_relu(spec, m);
    case 'f':
        *used = 1;
        return crmt_spec_add_flatten(spec, m);
    }
    return CRMT_ERR_INVALID_ARGUMENT;
}

crmt_model *crmt_test_build_image_model(int k, int n_mod, const int (*shapes)[3],
                                        const char *const *names, const char *const *layers,
                                        crmt_head_kind head, uint64_t seed)
{
    crmt_spec *spec = NULL;
    crmt_model *model = NULL;
    crmt_status st = crmt_spec_create(&spec, k);
    for (int m = 0; st == CRMT_OK && m < n_mod; m++) {
        st = crmt_spec_add_modality_image(spec, names ? names[m] : NULL, shapes[m][0],
                                          shapes[m][1], shapes[m][2], NULL);
        for (const char *p = layers[m]; st == CRMT_OK && *p;) {
            if (*p == ' ') {
                p++;
                continue;
            }
            int used = 0;
            st = add_layer_token(spec, m, p, &used);
            p += used;
        }
    }
    if (st == CRMT_OK)
        st = crmt_spec_set(spec, CRMT_SPEC_HEAD, head);
    if (st == CRMT_OK)
        crmt_model_create(&model, spec, seed);
    crmt_spec_destroy(spec);
    return model;
}
