/* libcrmt: certifiable robust multi-modal training.
 *
 * Umbrella header: include this one. Anything not declared in include/crmt is not API.
 * See docs/api.md for ownership, threading and error rules.
 */
#ifndef CRMT_CRMT_H
#define CRMT_CRMT_H

#include "crmt/version.h"
#include "crmt/common.h"
#include "crmt/model.h"
#include "crmt/dataset.h"
#include "crmt/optimizer.h"
#include "crmt/train.h"
#include "crmt/certify.h"
#include "crmt/evaluate.h"

#endif /* CRMT_CRMT_H */
