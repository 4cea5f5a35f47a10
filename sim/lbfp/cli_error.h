// The error a user can act on (lbfp/config_error.h): `lbfp` prints it and exits with status 2
// (kExitBadInput).
#pragma once

#include "lbfp/config_error.h"

namespace lbfp::cli {

using lbfp::ConfigError;

}  // namespace lbfp::cli
