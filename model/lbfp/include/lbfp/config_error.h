// The error a user can act on: a bad input file, option or value, or an output that cannot be
// written. The message names the file, line and key (or the option and value); `lbfp` prints it
// and exits with status 2. Thrown by the libraries that read user input (workloads, the
// evaluator's plan) and by the command-line front end alike, so one handler covers them.
#pragma once

#include <stdexcept>

namespace lbfp {

class ConfigError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

}  // namespace lbfp
