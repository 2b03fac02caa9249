/* Internal: reading the size-tagged option structs hosts pass (struct_size first). */
#ifndef CRMTI_OPTIONS_H
#define CRMTI_OPTIONS_H

#include "api/error.h"

/* Copy a host's options struct src (its first field: size_t struct_size) over dst, which
 * holds this library version's defaults and is known_size bytes long. A struct smaller than
 * min_size (the first version's size) is refused; a larger one (a newer header) is accepted
 * when every byte this version does not know is zero. init_name names the host's init
 * function in the message. msg: a handle's message buffer or NULL. */
crmt_status crmti_read_options(void *dst, size_t known_size, const void *src, size_t min_size,
                               const char *init_name, char *msg);

#endif
