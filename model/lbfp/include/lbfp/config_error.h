// The error a user can act on: a bad input file, option or value, or an output that cannot be
// written. The message names the file, line and key (or the option and value); the `lbfp`
// front end prints it and exits with status 2.
#pragma once

#include <stdexcept>

namespace lbfp {

class ConfigError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

}  // namespace lbfp
