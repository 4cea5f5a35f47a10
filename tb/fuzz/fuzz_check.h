// Shared by the libFuzzer harnesses: a broken invariant prints what broke and aborts, so that
// libFuzzer keeps the input as a crash reproducer (docs/fuzzing.md).
#pragma once

#include <cstdio>
#include <cstdlib>
#include <string>

namespace lbfp::fuzz {

[[noreturn]] inline void fail(const std::string& what) {
  std::fprintf(stderr, "fuzz invariant broken: %s\n", what.c_str());
  std::abort();
}

// An error message a user can act on names the input it is about.
inline void check_names_source(const std::string& message, const std::string& source) {
  if (message.find(source) == std::string::npos) {
    fail("error message does not name '" + source + "': " + message);
  }
}

}  // namespace lbfp::fuzz
