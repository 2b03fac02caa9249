// Example: a C++ host that builds and trains a small CRMT model through the C API and
// certifies a few samples with crmt_certify_radius. Every handle is owned by a RAII
// wrapper (std::unique_ptr with the library's destroy function), and failed calls throw.
#include <crmt/crmt.h>

#include <cstdio>
#include <cstring>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

struct SpecDeleter {
    void operator()(crmt_spec *p) const { crmt_spec_destroy(p); }
};
struct ModelDeleter {
    void operator()(crmt_model *p) const { crmt_model_destroy(p); }
};
struct OptimizerDeleter {
    void operator()(crmt_optimizer *p) const { crmt_optimizer_destroy(p); }
};
struct DatasetDeleter {
    void operator()(crmt_dataset *p) const { crmt_dataset_destroy(p); }
};
struct CertifierDeleter {
    void operator()(crmt_certifier *p) const { crmt_certifier_destroy(p); }
};

typedef std::unique_ptr<crmt_spec, SpecDeleter> Spec;
typedef std::unique_ptr<crmt_model, ModelDeleter> Model;
typedef std::unique_ptr<crmt_optimizer, OptimizerDeleter> Optimizer;
typedef std::unique_ptr<crmt_dataset, DatasetDeleter> Dataset;
typedef std::unique_ptr<crmt_certifier, CertifierDeleter> Certifier;

void check(crmt_status st, const char *what)
{
    if (st != CRMT_OK)
        throw std::runtime_error(std::string(what) + ": " + crmt_status_string(st) + ": " +
                                 crmt_last_error());
}

const int kN = 300, kD0 = 8, kD1 = 12, kK = 3;

// Toy data: class k shifts feature k of each modality.
struct ToyData {
    std::vector<float> x0, x1;
    std::vector<int32_t> y;
    ToyData() : x0(kN * kD0), x1(kN * kD1), y(kN)
    {
        uint32_t s = 99u;
        for (int i = 0; i < kN; i++) {
            y[i] = i % kK;
            for (int j = 0; j < kD0; j++) {
                s = s * 1664525u + 1013904223u;
                x0[i * kD0 + j] = 0.3f * ((float)(s >> 8) / 16777216.0f - 0.5f);
            }
            for (int j = 0; j < kD1; j++) {
                s = s * 1664525u + 1013904223u;
                x1[i * kD1 + j] = 0.3f * ((float)(s >> 8) / 16777216.0f - 0.5f);
            }
            x0[i * kD0 + y[i]] += 1.0f;
            x1[i * kD1 + y[i]] += 1.0f;
        }
    }
};

int run()
{
    ToyData data;

    crmt_spec *raw_spec = NULL;
    check(crmt_spec_create(&raw_spec, kK), "crmt_spec_create");
    Spec spec(raw_spec);
    int m0 = 0, m1 = 0;
    check(crmt_spec_add_modality(spec.get(), "small", kD0, &m0), "add_modality");
    check(crmt_spec_add_linear(spec.get(), m0, 16), "add_linear");
    check(crmt_spec_add_relu(spec.get(), m0), "add_relu");
    check(crmt_spec_add_linear(spec.get(), m0, 8), "add_linear");
    check(crmt_spec_add_modality(spec.get(), "large", kD1, &m1), "add_modality");
    check(crmt_spec_add_linear(spec.get(), m1, 16), "add_linear");
    check(crmt_spec_add_relu(spec.get(), m1), "add_relu");
    check(crmt_spec_add_linear(spec.get(), m1, 8), "add_linear");
    check(crmt_spec_set(spec.get(), CRMT_SPEC_HEAD, CRMT_HEAD_CRMT), "spec_set");

    crmt_model *raw_model = NULL;
    check(crmt_model_create(&raw_model, spec.get(), 11), "crmt_model_create");
    Model model(raw_model);
    spec.reset(); // the model does not retain the spec

    crmt_dataset *raw_ds = NULL;
    check(crmt_dataset_create(&raw_ds, kN, 2), "crmt_dataset_create");
    Dataset ds(raw_ds);
    check(crmt_dataset_set_modality(ds.get(), m0, data.x0.data(), kD0, CRMT_BORROW), "set_modality");
    check(crmt_dataset_set_modality(ds.get(), m1, data.x1.data(), kD1, CRMT_BORROW), "set_modality");
    check(crmt_dataset_set_labels(ds.get(), data.y.data()), "set_labels");

    crmt_optimizer *raw_opt = NULL;
    check(crmt_optimizer_create(&raw_opt, model.get(), CRMT_OPTIMIZER_SGD), "optimizer_create");
    Optimizer opt(raw_opt);
    check(crmt_optimizer_set(opt.get(), CRMT_OPT_LR, 0.05), "optimizer_set");
    check(crmt_optimizer_set(opt.get(), CRMT_OPT_MOMENTUM, 0.9), "optimizer_set");

    crmt_train_options o;
    check(crmt_train_options_init(&o, sizeof o), "train_options_init");
    o.method = CRMT_METHOD_CRMT;
    o.epochs = 15;
    o.batch_size = 32;
    o.integration_epochs = 3;
    crmt_train_result r;
    std::memset(&r, 0, sizeof r);
    r.struct_size = sizeof r;
    check(crmt_train(model.get(), opt.get(), ds.get(), &o, &r), "crmt_train");
    double acc = 0.0;
    check(crmt_model_accuracy(model.get(), ds.get(), &acc), "crmt_model_accuracy");
    std::printf("trained %d + %d epochs, training accuracy %.3f\n", r.epochs_run,
                r.integration_epochs_run, acc);

    // The certifier must be created after training (it records the parameter generation).
    crmt_certifier *raw_cert = NULL;
    check(crmt_certifier_create(&raw_cert, model.get(), NULL), "crmt_certifier_create");
    Certifier cert(raw_cert);

    int certified = 0;
    for (int i = 0; i < 6; i++) {
        const float *inputs[2] = {&data.x0[i * kD0], &data.x1[i * kD1]};
        crmt_certificate c;
        std::memset(&c, 0, sizeof c);
        c.struct_size = sizeof c;
        check(crmt_certify_radius(cert.get(), inputs, data.y[i], &c), "crmt_certify_radius");
        std::printf("sample %d: label %d predicted %d certified %d radius %.4f "
                    "(small only %.4f, large only %.4f)\n",
                    i, (int)c.label, (int)c.predicted, c.certified, c.radius,
                    c.modality_radius[m0], c.modality_radius[m1]);
        certified += c.certified;
    }
    std::printf("%d of 6 samples certified (sound bound)\n", certified);
    return certified > 0 ? 0 : 1;
}

} // namespace

int main()
{
    try {
        return run();
    } catch (const std::exception &e) {
        std::fprintf(stderr, "error: %s\n", e.what());
        return 1;
    }
}
