/* Public certifier functions: argument checking, options, chunking. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "api/options.h"
#include "data/dataset.h"
#include "robust/certify.h"

/* Samples certified per chunk (bounded workspace). */
#define CERT_CHUNK CRMTI_CERT_CHUNK

/* Size of the first published crmt_certifier_options / crmt_certificate: hosts must pass at
 * least this much. Later versions only append fields. */
#define OPTIONS_V1_SIZE (offsetof(crmt_certifier_options, input_scale) + sizeof(const double *))
#define CERTIFICATE_V1_SIZE                                                                    \
    (offsetof(crmt_certificate, modality_radius_raw) + sizeof(double) * CRMT_MAX_MODALITIES)


crmt_status crmt_certifier_options_init(crmt_certifier_options *opts, size_t struct_size)
{
    if (!opts)
        return crmti_fail(NULL, CRMT_ERR_INVALID_ARGUMENT, "opts is NULL");
    if (struct_size < OPTIONS_V1_SIZE)
        return crmti_fail(NULL, CRMT_ERR_INVALID_ARGUMENT,
                          "struct_size %zu is smaller than any crmt_certifier_options (%zu)",
                          struct_size, (size_t)OPTIONS_V1_SIZE);
    memset(opts, 0, struct_size);
    opts->struct_size = struct_size;
    opts->lipschitz = CRMT_LIPSCHITZ_SOUND;
    return CRMT_OK;
}

crmt_status crmt_certifier_create(crmt_certifier **out, const crmt_model *model,
                                  const crmt_certifier_options *opts)
{
    if (!out)
        return crmti_fail(NULL, CRMT_ERR_INVALID_ARGUMENT, "out is NULL");
    *out = NULL;
    if (!model)
        return crmti_fail(NULL, CRMT_ERR_INVALID_ARGUMENT, "model is NULL");
    crmt_certifier_options o;
    crmt_certifier_options_init(&o, sizeof o);
    if (opts) {
        crmt_status rs = crmti_read_options(&o, sizeof o, opts, OPTIONS_V1_SIZE,
                                            "crmt_certifier_options_init", NULL);
        if (rs != CRMT_OK)
            return rs;
    }
    if (o.lipschitz != CRMT_LIPSCHITZ_SOUND && o.lipschitz != CRMT_LIPSCHITZ_EMPIRICAL)
        return crmti_fail(NULL, CRMT_ERR_INVALID_ARGUMENT, "unknown Lipschitz method %d",
                          (int)o.lipschitz);
    const float *emp[CRMT_MAX_MODALITIES] = {0};
    size_t emp_n = 0;
    crmt_status st;
    if (o.lipschitz == CRMT_LIPSCHITZ_EMPIRICAL) {
        if (!o.lipschitz_data)
            return crmti_fail(NULL, CRMT_ERR_INVALID_ARGUMENT,
                              "the empirical Lipschitz method needs lipschitz_data");
        st = crmti_check_dataset(model, o.lipschitz_data, 0, "lipschitz_data");
        if (st != CRMT_OK)
            return st;
        for (int m = 0; m < model->n_mod; m++)
            emp[m] = o.lipschitz_data->data[m];
        emp_n = o.lipschitz_data->n;
    }
    const float *fill[CRMT_MAX_MODALITIES] = {0};
    float *mean_block = NULL;
    if (o.fill) {
        for (int m = 0; m < model->n_mod; m++) {
            fill[m] = o.fill[m];
            if (fill[m] && !crmti_all_finite(fill[m], (size_t)model->enc[m].in_size))
                return crmti_fail(NULL, CRMT_ERR_NON_FINITE,
                                  "fill vector of modality %d contains NaN or infinity", m);
        }
    } else if (o.fill_mean_data) {
        st = crmti_check_dataset(model, o.fill_mean_data, 0, "fill_mean_data");
        if (st != CRMT_OK)
            return st;
        size_t total = 0;
        for (int m = 0; m < model->n_mod; m++)
            total += (size_t)model->enc[m].in_size;
        mean_block = malloc(sizeof(float) * total);
        if (!mean_block)
            return crmti_fail(NULL, CRMT_ERR_OUT_OF_MEMORY, "cannot allocate fill vectors");
        float *p = mean_block;
        for (int m = 0; m < model->n_mod; m++) {
            crmti_dataset_mean(o.fill_mean_data, m, p);
            fill[m] = p;
            p += model->enc[m].in_size;
        }
    }
    if (o.input_scale) {
        for (int m = 0; m < model->n_mod; m++)
            if (!(o.input_scale[m] > 0.0 && isfinite(o.input_scale[m]))) {
                free(mean_block);
                return crmti_fail(NULL, CRMT_ERR_INVALID_ARGUMENT,
                                  "input_scale[%d] = %g must be positive and finite", m,
                                  o.input_scale[m]);
            }
    }
    st = crmti_certifier_build(out, model, o.lipschitz, emp, emp_n, o.fill || mean_block ? fill : NULL,
                               o.input_scale);
    free(mean_block);
    return st;
}

void crmt_certifier_destroy(crmt_certifier *certifier) { crmti_certifier_free(certifier); }

crmt_lipschitz_method crmt_certifier_lipschitz(const crmt_certifier *certifier)
{
    return certifier ? certifier->lip.method : CRMT_LIPSCHITZ_SOUND;
}

crmt_status crmt_certifier_tau(const crmt_certifier *certifier, int modality, int class_index,
                               double *tau_out)
{
    if (!certifier || !tau_out)
        return crmti_fail(NULL, CRMT_ERR_INVALID_ARGUMENT, "certifier or tau_out is NULL");
    if (modality < 0 || modality >= certifier->n_mod)
        return crmti_fail(NULL, CRMT_ERR_INVALID_ARGUMENT, "modality %d out of range [0, %d)",
                          modality, certifier->n_mod);
    if (class_index < 0 || class_index >= certifier->n_classes)
        return crmti_fail(NULL, CRMT_ERR_INVALID_ARGUMENT, "class %d out of range [0, %d)",
                          class_index, certifier->n_classes);
    *tau_out = certifier->lip.tau[modality][class_index];
    return CRMT_OK;
}

static crmt_status check_usable(const crmt_certifier *c)
{
    if (!c)
        return crmti_fail(NULL, CRMT_ERR_INVALID_ARGUMENT, "certifier is NULL");
    if (crmti_certifier_stale(c))
        return crmti_fail(NULL, CRMT_ERR_STATE,
                          "the model's parameters changed after the certifier was created "
                          "(generation %llu, now %llu): create a new certifier",
                          (unsigned long long)c->generation,
                          (unsigned long long)c->model->generation);
    return CRMT_OK;
}

/* Shared body of crmt_certify_radius / crmt_certify_batch. */
static crmt_status certify_n(const crmt_certifier *c, const float *const *inputs, size_t n,
                             const int32_t *labels, int32_t single_label, crmt_certificate *out)
{
    crmt_status st = check_usable(c);
    if (st != CRMT_OK)
        return st;
    if (!out)
        return crmti_fail(NULL, CRMT_ERR_INVALID_ARGUMENT, "out is NULL");
    const size_t stride = out->struct_size;
    if (stride < CERTIFICATE_V1_SIZE)
        return crmti_fail(NULL, CRMT_ERR_INVALID_ARGUMENT,
                          "out->struct_size %zu is too small: set it to "
                          "sizeof(crmt_certificate) (%zu)",
                          stride, sizeof(crmt_certificate));
    st = crmti_check_inputs(c->model, inputs, n, NULL);
    if (st != CRMT_OK)
        return st;
    if (labels) {
        for (size_t i = 0; i < n; i++)
            if (labels[i] < 0 || labels[i] >= c->n_classes)
                return crmti_fail(NULL, CRMT_ERR_INVALID_ARGUMENT,
                                  "label %d of sample %zu is outside [0, %d)", (int)labels[i], i,
                                  c->n_classes);
    } else if (single_label != CRMT_LABEL_PREDICTED &&
               (single_label < 0 || single_label >= c->n_classes)) {
        return crmti_fail(NULL, CRMT_ERR_INVALID_ARGUMENT,
                          "label %d is outside [0, %d) and is not CRMT_LABEL_PREDICTED",
                          (int)single_label, c->n_classes);
    }
    const int chunk = n < CERT_CHUNK ? (int)n : CERT_CHUNK;
    crmti_cert_ws *ws = crmti_cert_ws_create(c, chunk);
    crmt_certificate *tmp = malloc(sizeof(crmt_certificate) * (size_t)chunk);
    if (!ws || !tmp) {
        crmti_cert_ws_destroy(ws);
        free(tmp);
        return crmti_fail(NULL, CRMT_ERR_OUT_OF_MEMORY, "cannot allocate a certify workspace");
    }
    const size_t copy = stride < sizeof(crmt_certificate) ? stride : sizeof(crmt_certificate);
    unsigned char *dst = (unsigned char *)out;
    const float *in[CRMT_MAX_MODALITIES];
    for (size_t start = 0; start < n; start += (size_t)chunk) {
        const int b = (n - start < (size_t)chunk) ? (int)(n - start) : chunk;
        for (int m = 0; m < c->n_mod; m++)
            in[m] = inputs[m] + start * (size_t)c->model->enc[m].in_size;
        const int32_t *lab = labels ? labels + start : NULL;
        if (!labels && single_label != CRMT_LABEL_PREDICTED)
            lab = &single_label; /* n == 1 */
        crmti_certify_chunk(c, ws, in, b, lab, tmp);
        for (int i = 0; i < b; i++) {
            unsigned char *slot = dst + (start + (size_t)i) * stride;
            memcpy(slot, &tmp[i], copy);
            memcpy(slot, &stride, sizeof stride); /* keep the host's struct_size */
        }
    }
    crmti_cert_ws_destroy(ws);
    free(tmp);
    return CRMT_OK;
}

crmt_status crmt_certify_radius(const crmt_certifier *certifier, const float *const *inputs,
                                int32_t label, crmt_certificate *out)
{
    return certify_n(certifier, inputs, 1, NULL, label, out);
}

crmt_status crmt_certify_batch(const crmt_certifier *certifier, const float *const *inputs,
                               size_t n, const int32_t *labels, crmt_certificate *out)
{
    return certify_n(certifier, inputs, n, labels, CRMT_LABEL_PREDICTED, out);
}

crmt_status crmt_certified_accuracy(const crmt_certifier *certifier, const crmt_dataset *data,
                                    const double *radii, size_t n_radii, double *joint_accuracy,
                                    double *modality_accuracy, double *mean_radius)
{
    crmt_status st = check_usable(certifier);
    if (st != CRMT_OK)
        return st;
    if (!data)
        return crmti_fail(NULL, CRMT_ERR_INVALID_ARGUMENT, "data is NULL");
    if (n_radii > 0 && (!radii || !joint_accuracy))
        return crmti_fail(NULL, CRMT_ERR_INVALID_ARGUMENT,
                          "radii or joint_accuracy is NULL with n_radii = %zu", n_radii);
    for (size_t r = 0; r < n_radii; r++)
        if (!(radii[r] >= 0.0))
            return crmti_fail(NULL, CRMT_ERR_INVALID_ARGUMENT, "radius %zu is %g (must be >= 0)",
                              r, radii[r]);
    st = crmti_check_dataset(certifier->model, data, 1, "data");
    if (st != CRMT_OK)
        return st;
    const int M = certifier->n_mod;
    const size_t n = data->n;
    size_t *joint = calloc(n_radii + 1, sizeof(size_t));
    size_t *per_mod = calloc((size_t)M * n_radii + 1, sizeof(size_t));
    if (!joint || !per_mod) {
        free(joint);
        free(per_mod);
        return crmti_fail(NULL, CRMT_ERR_OUT_OF_MEMORY, "cannot allocate counters");
    }
    double sum_radius = 0.0;
    st = crmti_certified_stats(certifier, data, radii, n_radii, joint, per_mod, &sum_radius,
                               NULL, NULL);
    if (st == CRMT_OK) {
        for (size_t r = 0; r < n_radii; r++) {
            joint_accuracy[r] = (double)joint[r] / (double)n;
            if (modality_accuracy)
                for (int m = 0; m < M; m++)
                    modality_accuracy[(size_t)m * n_radii + r] =
                        (double)per_mod[(size_t)m * n_radii + r] / (double)n;
        }
        if (mean_radius)
            *mean_radius = sum_radius / (double)n;
    }
    free(joint);
    free(per_mod);
    return st;
}
