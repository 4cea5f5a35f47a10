// The line parsers of `lbfp golden` (sim/lbfp/golden_command.cpp, run_golden). A 10-byte header
// gives what the command line would (operation, format, F, P, A, exponent, scale, ReLU); the rest
// is stdin. Whatever the input: exit status 0 with one result line per input line and nothing on
// stderr, or status 2 with nothing on stdout and one message on stderr that names the line (or
// the bad option).
//
// Header: op (mod 10: encode decode mul dot requant encode-fp32 decode-fp32 requant-fp32
// tensor-scale mx-scale), family (mod 10: lbfp8 bfp8 lbfpW bfpW mxint8 mxfp8-e4m3 mxfp8-e5m2
// fp8-e4m3 fp8-e5m2 int8), W, flags (bit 0..4: F, P, A, exponent, scale given; bit 5: ReLU;
// bit 6: the FP32 scales given, each (1 + P / 256) * 2^exponent), F, P, A, exponent (int8),
// scale (int16, little-endian). A seed is `printf 'HEADER' ; cat lines`.
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <sstream>
#include <string>

#include "fuzz_check.h"
#include "golden.h"

namespace {

using lbfp::fuzz::fail;

constexpr size_t kHeaderBytes = 10;

std::optional<int> option(uint8_t flags, int bit, int value) {
  return (flags >> bit) & 1 ? std::optional<int>(value) : std::nullopt;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < kHeaderBytes) return 0;
  static const char* const kOperations[] = {"encode",      "decode",       "mul",
                                            "dot",         "requant",      "encode-fp32",
                                            "decode-fp32", "requant-fp32", "tensor-scale",
                                            "mx-scale"};
  static const char* const kFormats[] = {"lbfp8",    "bfp8",       "lbfp",       "bfp",
                                         "mxint8",   "mxfp8-e4m3", "mxfp8-e5m2", "fp8-e4m3",
                                         "fp8-e5m2", "int8"};
  lbfp::cli::GoldenOptions options;
  options.operation = kOperations[data[0] % 10];
  const int family = data[1] % 10;
  options.format = kFormats[family];
  if (family == 2 || family == 3) options.format += std::to_string(data[2]);
  const uint8_t flags = data[3];
  options.frac_bits = option(flags, 0, data[4]);
  options.lut_bits = option(flags, 1, data[5]);
  options.acc_bits = option(flags, 2, data[6]);
  options.exponent = option(flags, 3, static_cast<int8_t>(data[7]));
  options.scale = option(flags, 4, static_cast<int16_t>(data[8] | (data[9] << 8)));
  options.relu = (flags >> 5) & 1;
  if ((flags >> 6) & 1) {
    const double s = std::ldexp(1.0 + data[5] / 256.0, static_cast<int8_t>(data[7]));
    options.fp32_scale = options.scale_a = options.scale_b = options.scale_out = s;
  }
  const std::string text(reinterpret_cast<const char*>(data) + kHeaderBytes, size - kHeaderBytes);

  std::istringstream input(text);
  std::ostringstream out, err;
  const int status = lbfp::cli::run_golden(options, input, out, err);
  if (status == 0) {
    if (!err.str().empty()) fail("status 0 with a message: " + err.str());
    // One result per line that std::getline reads.
    size_t lines = static_cast<size_t>(std::count(text.begin(), text.end(), '\n'));
    if (!text.empty() && text.back() != '\n') ++lines;
    const std::string results = out.str();
    if (static_cast<size_t>(std::count(results.begin(), results.end(), '\n')) != lines) {
      fail("status 0 but not one result line per input line");
    }
  } else if (status == lbfp::cli::kExitBadInput) {
    if (!out.str().empty()) fail("status 2 with output on stdout");
    const std::string message = err.str();
    if (message.rfind("lbfp golden", 0) != 0 ||
        std::count(message.begin(), message.end(), '\n') != 1) {
      fail("status 2 without exactly one 'lbfp golden' message: " + message);
    }
  } else {
    fail("unexpected exit status " + std::to_string(status));
  }
  return 0;
}
