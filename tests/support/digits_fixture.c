#include "digits_fixture.h"

#include <check.h>

#include "crmt/train.h"
#include "digits.h"
#include "test_models.h"

void crmt_test_digits_load(crmt_test_digits *d)
{
    crmt_digits digits;
    ck_assert_int_eq(crmt_digits_load(crmt_digits_default_path(), &digits), CRMT_OK);
    ck_assert_int_eq(crmt_digits_make_datasets(&digits, CRMT_DIGITS_VIEW_UNBALANCED,
                                               CRMT_DIGITS_DEFAULT_TEST_FRACTION,
                                               CRMT_DIGITS_DEFAULT_SEED, &d->train, &d->test),
                     CRMT_OK);
    crmt_digits_free(&digits); /* the datasets hold copies */
}

void crmt_test_digits_free(crmt_test_digits *d)
{
    crmt_dataset_destroy(d->train);
    crmt_dataset_destroy(d->test);
    d->train = d->test = NULL;
}

crmt_model *crmt_test_digits_mlp(crmt_head_kind head, crmt_head_norm norm, uint64_t seed)
{
    /* rows 0-1 (16 px): linear 32, ReLU, linear 32; rows 2-7 (48 px): linear 64, ReLU,
     * linear 32 */
    static const int in_dims[2] = {16, 48}, widths[4] = {32, 32, 64, 32};
    static const char *const layers[2] = {"LRL", "LRL"};
    crmt_model *model = crmt_test_build_model(10, 2, in_dims, layers, widths, head, norm, seed);
    ck_assert_msg(model != NULL, "digits MLP: %s", crmt_last_error());
    return model;
}

crmt_model *crmt_test_digits_image_model(const char *const layers[2], crmt_head_kind head,
                                         uint64_t seed)
{
    static const int shapes[2][3] = {{1, 2, 8}, {1, 6, 8}};
    static const char *const names[2] = {"rows0-1", "rows2-7"};
    crmt_model *model = crmt_test_build_image_model(10, 2, shapes, names, layers, head, seed);
    ck_assert_msg(model != NULL, "conv model: %s", crmt_last_error());
    return model;
}

void crmt_test_digits_train(crmt_model *model, const crmt_dataset *train, crmt_schedule schedule,
                            int epochs, uint64_t seed)
{
    const int is_crmt = crmt_model_head(model) == CRMT_HEAD_CRMT;
    crmt_optimizer *opt = NULL;
    ck_assert_int_eq(crmt_optimizer_create(&opt, model, CRMT_OPTIMIZER_SGD), CRMT_OK);
    /* CRMT step 1 with lr 0.05 and momentum 0.9 is unstable on these models */
    ck_assert_int_eq(crmt_optimizer_set(opt, CRMT_OPT_LR, is_crmt ? 0.01 : 0.05), CRMT_OK);
    ck_assert_int_eq(crmt_optimizer_set(opt, CRMT_OPT_MOMENTUM, 0.9), CRMT_OK);
    ck_assert_int_eq(crmt_optimizer_set(opt, CRMT_OPT_SCHEDULE, schedule), CRMT_OK);
    ck_assert_int_eq(crmt_optimizer_set(opt, CRMT_OPT_TOTAL_EPOCHS, epochs), CRMT_OK);
    crmt_train_options o;
    ck_assert_int_eq(crmt_train_options_init(&o, sizeof o), CRMT_OK);
    o.method = is_crmt ? CRMT_METHOD_CRMT : CRMT_METHOD_JT;
    o.epochs = epochs;
    o.batch_size = 32;
    o.seed = seed;
    ck_assert_int_eq(crmt_train(model, opt, train, &o, NULL), CRMT_OK);
    crmt_optimizer_destroy(opt);
}
