// Checks of command-line values that CLI11 2.1 would otherwise convert silently: it wraps "-1"
// into an unsigned option (2^64 - 1), saturates a number too large for it, and lets "nan" through
// a CLI::Range (every comparison with NaN is false).
#pragma once

#include <CLI/CLI.hpp>

#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <string>

namespace lbfp::cli {

// A decimal integer in 0 .. 2^64 - 1, for unsigned options (seeds, image counts, batch sizes).
inline CLI::Validator unsigned_integer() {
  return CLI::Validator(
      [](std::string& text) -> std::string {
        uint64_t value = 0;
        const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
        if (text.empty() || ec != std::errc() || end != text.data() + text.size()) {
          return "expected a non-negative decimal integer below 2^64, got '" + text + "'";
        }
        return {};
      },
      "UINT");
}

// A finite number (no nan, no inf), for real-valued options; combine with CLI::Range.
inline CLI::Validator finite_number() {
  return CLI::Validator(
      [](std::string& text) -> std::string {
        char* end = nullptr;
        const double value = std::strtod(text.c_str(), &end);
        if (text.empty() || end != text.c_str() + text.size() || !std::isfinite(value)) {
          return "expected a finite number, got '" + text + "'";
        }
        return {};
      },
      "REAL");
}

}  // namespace lbfp::cli
