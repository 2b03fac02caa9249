#include "api/options.h"

#include <string.h>

crmt_status crmti_read_options(void *dst, size_t known_size, const void *src, size_t min_size,
                               const char *init_name, char *msg)
{
    size_t given;
    memcpy(&given, src, sizeof given);
    if (given < min_size)
        return crmti_fail(msg, CRMT_ERR_INVALID_ARGUMENT,
                          "options struct_size %zu is too small (initialise the options with "
                          "%s)",
                          given, init_name);
    const unsigned char *bytes = src;
    for (size_t i = known_size; i < given; i++)
        if (bytes[i])
            return crmti_fail(msg, CRMT_ERR_INVALID_ARGUMENT,
                              "options set fields this library version does not know "
                              "(struct_size %zu, known %zu)",
                              given, known_size);
    memcpy(dst, src, given < known_size ? given : known_size);
    memcpy(dst, &known_size, sizeof known_size);
    return CRMT_OK;
}
