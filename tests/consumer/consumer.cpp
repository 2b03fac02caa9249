// Out-of-tree consumer of an installed libcrmt (C++11): the public headers must be usable
// from C++ (extern "C", no C-only constructs). Built by scripts/consumer-check.sh.
#include <crmt/crmt.h>

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <memory>
#include <vector>

namespace {

struct SpecDeleter {
    void operator()(crmt_spec *s) const { crmt_spec_destroy(s); }
};
struct ModelDeleter {
    void operator()(crmt_model *m) const { crmt_model_destroy(m); }
};

bool ok(crmt_status st, const char *what)
{
    if (st != CRMT_OK) {
        std::fprintf(stderr, "consumer (C++): %s failed: %s (%s)\n", what,
                     crmt_status_string(st), crmt_last_error());
        return false;
    }
    return true;
}

} // namespace

int main()
{
    if (crmt_version_number() != static_cast<unsigned>(CRMT_VERSION_NUMBER) ||
        std::strcmp(crmt_version_string(), CRMT_VERSION_STRING) != 0) {
        std::fprintf(stderr, "consumer (C++): header/library version mismatch\n");
        return 1;
    }

    const int n_classes = 3;
    const std::size_t n = 2;
    crmt_spec *raw_spec = nullptr;
    if (!ok(crmt_spec_create(&raw_spec, n_classes), "crmt_spec_create"))
        return 1;
    std::unique_ptr<crmt_spec, SpecDeleter> spec(raw_spec);

    int m0 = -1, m1 = -1;
    if (!ok(crmt_spec_add_modality(spec.get(), "left", 6, &m0), "crmt_spec_add_modality") ||
        !ok(crmt_spec_add_linear(spec.get(), m0, 4), "crmt_spec_add_linear") ||
        !ok(crmt_spec_add_modality(spec.get(), "right", 3, &m1), "crmt_spec_add_modality") ||
        !ok(crmt_spec_add_linear(spec.get(), m1, 4), "crmt_spec_add_linear"))
        return 1;

    crmt_model *raw_model = nullptr;
    if (!ok(crmt_model_create(&raw_model, spec.get(), 7), "crmt_model_create"))
        return 1;
    std::unique_ptr<crmt_model, ModelDeleter> model(raw_model);

    std::vector<float> left(n * 6, 0.0f), right(n * 3, 0.0f);
    const float *inputs[2];
    inputs[m0] = left.data();
    inputs[m1] = right.data();
    std::vector<std::int32_t> labels(n, -1);
    std::vector<float> logits(n * n_classes);
    if (!ok(crmt_model_predict(model.get(), inputs, n, labels.data(), logits.data()),
            "crmt_model_predict"))
        return 1;
    for (std::size_t i = 0; i < n; i++)
        if (labels[i] < 0 || labels[i] >= n_classes)
            return 1;
    for (float v : logits)
        if (!std::isfinite(v))
            return 1;
    std::printf("consumer (C++): libcrmt %s, zero input -> class %d\n", crmt_version_string(),
                static_cast<int>(labels[0]));
    return 0;
}
