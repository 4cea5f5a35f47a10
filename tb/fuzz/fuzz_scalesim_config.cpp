// The SCALE-Sim .cfg reader (model/arch/src/scalesim_config.cpp: parse_ini, the mapping onto the
// architecture schema and parse_arch of the mapping). Any input must give either a valid ArchSpec
// or a ConfigError that names the file; no other exception, crash, leak or undefined behaviour.
// Lines ";set key=value" of the input (INI comments) are also applied as --set overrides.
#include <cstddef>
#include <cstdint>
#include <sstream>
#include <string>
#include <vector>

#include "fuzz_check.h"
#include "lbfp/arch/limits.h"
#include "lbfp/arch/scalesim_config.h"

// libsystemc owns a main() that calls sc_main; libFuzzer's main() is used instead.
extern "C" int sc_main(int /*argc*/, char** /*argv*/) { return 1; }

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  std::vector<std::string> overrides;
  std::istringstream lines(text);
  for (std::string line; std::getline(lines, line);) {
    if (line.rfind(";set ", 0) == 0) overrides.push_back(line.substr(5));
  }
  const std::string source = "fuzz.cfg";
  // The first byte picks the format, so both mappings are fuzzed.
  const std::string format = size > 0 && (data[0] & 1) != 0 ? "bfp8" : "lbfp8";
  try {
    const lbfp::arch::ArchSpec spec =
        lbfp::arch::parse_scalesim_arch(text, source, overrides, format);
    const auto& g = spec.accel.array;
    constexpr auto kDim = lbfp::arch::ArchLimits::kArrayDim;
    if (!kDim.contains(g.rows) || !kDim.contains(g.cols) || g.pipe_stages < 0) {
      lbfp::fuzz::fail("parse_scalesim_arch accepted an out-of-range array");
    }
    for (const std::string& w : spec.warnings) lbfp::fuzz::check_names_source(w, source);
  } catch (const lbfp::ConfigError& e) {
    const std::string message = e.what();
    if (message.rfind("--set ", 0) != 0) lbfp::fuzz::check_names_source(message, source);
  }
  return 0;
}
