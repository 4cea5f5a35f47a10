#include "lbfp/arch/config.h"

#include <filesystem>
#include <optional>
#include <sstream>
#include <stdexcept>

#include "lbfp/arch/input.h"
#include "lbfp/arch/limits.h"
#include "lbfp/arch/scalesim_config.h"
#include "yaml_fields.h"

namespace lbfp::arch {
namespace {

namespace fs = std::filesystem;
using yaml::check_keys;
using yaml::fail;
using yaml::get_int;
using yaml::get_real;
using yaml::get_string;

// "a.b.c=value": sets root[a][b][c] to the YAML scalar value; "a.b.c=" removes the key.
void apply_override(YAML::Node root, const std::string& assignment) {
  const size_t eq = assignment.find('=');
  if (eq == std::string::npos || eq == 0) {
    throw ConfigError("--set " + assignment + ": expected key=value (e.g. array.rows=32)");
  }
  const std::string path = assignment.substr(0, eq);
  const std::string value = assignment.substr(eq + 1);
  std::vector<std::string> keys;
  std::stringstream ss(path);
  for (std::string part; std::getline(ss, part, '.');) {
    if (part.empty()) throw ConfigError("--set " + assignment + ": empty key in '" + path + "'");
    keys.push_back(part);
  }
  // Each level below is checked on the way down; the file's own top level too (a scalar document
  // made yaml-cpp throw BadSubscript, which named neither --set nor the file: tb/fuzz).
  if (!root.IsMap()) {
    throw ConfigError("--set " + assignment + ": the file's top level is not a mapping");
  }
  std::vector<YAML::Node> chain = {root};
  for (size_t i = 0; i + 1 < keys.size(); ++i) {
    YAML::Node next = chain.back()[keys[i]];
    if (!next.IsDefined() || next.IsNull()) {
      chain.back()[keys[i]] = YAML::Node(YAML::NodeType::Map);
      next = chain.back()[keys[i]];
    }
    if (!next.IsMap()) throw ConfigError("--set " + assignment + ": '" + keys[i] + "' is not a mapping");
    chain.push_back(next);
  }
  if (value.empty()) {
    chain.back().remove(keys.back());  // "key=" removes the key
  } else {
    // A new node (not the file's, re-assigned), so that an error names --set, not the file's line.
    chain.back().remove(keys.back());
    chain.back()[keys.back()] = value;
  }
}

}  // namespace

std::optional<Dataflow> parse_dataflow(const std::string& name) {
  for (Dataflow d : {Dataflow::kOutputStationary, Dataflow::kWeightStationary,
                     Dataflow::kInputStationary}) {
    if (name == dataflow_name(d) || name == dataflow_short_name(d)) return d;
  }
  return std::nullopt;
}

ArchSpec load_arch(const std::string& path, const std::vector<std::string>& overrides,
                   const std::string& cfg_format) {
  const fs::path p(path);
  const std::string text = read_text_file(path);
  if (!is_scalesim_config(path, text)) {
    return parse_arch(text, path, p.parent_path().string(), overrides);
  }
  return parse_scalesim_arch(text, path, overrides, cfg_format);
}

ArchSpec parse_arch(const std::string& text, const std::string& source,
                    const std::string& base_dir, const std::vector<std::string>& overrides) {
  using L = ArchLimits;
  YAML::Node root = yaml::parse(text, source);
  for (const auto& o : overrides) apply_override(root, o);
  check_keys(source, root, "",
             {"name", "array", "format", "clock_mhz", "buffers", "dram", "energy"});
  ArchSpec spec;
  spec.path = source;
  spec.name = get_string(source, root, "", "name", std::string("unnamed"));

  const YAML::Node array = root["array"];
  if (!array) fail(source, root, "array", "missing");
  check_keys(source, array, "array", {"rows", "cols", "pipe_stages", "dataflow"});
  auto& g = spec.accel.array;
  g.rows = static_cast<int>(get_int(source, array, "array", "rows", L::kArrayDim, std::nullopt));
  g.cols = static_cast<int>(get_int(source, array, "array", "cols", L::kArrayDim, std::nullopt));
  g.pipe_stages = static_cast<int>(get_int(source, array, "array", "pipe_stages", L::kPipeStages, 1));
  const std::string dataflow =
      get_string(source, array, "array", "dataflow", std::string("output-stationary"));
  const std::optional<Dataflow> d = parse_dataflow(dataflow);
  if (!d) {
    fail(source, array["dataflow"], "array.dataflow",
         "'" + dataflow +
             "' is not output-stationary, weight-stationary or input-stationary (os, ws, is)");
  }
  g.dataflow = *d;

  const YAML::Node format = root["format"];
  if (!format) fail(source, root, "format", "missing");
  check_keys(source, format, "format", {"type", "width", "frac_bits", "lut_bits", "acc_bits"});
  const std::string type = get_string(source, format, "format", "type", std::nullopt);
  const int width = static_cast<int>(get_int(source, format, "format", "width", L::kCodeWidth, 8));
  const int acc = static_cast<int>(get_int(source, format, "format", "acc_bits", L::kAccBits, 32));
  try {
    if (type == "lbfp") {
      const int f = static_cast<int>(
          get_int(source, format, "format", "frac_bits", L::kFracBits, width / 2));
      const int p = static_cast<int>(get_int(source, format, "format", "lut_bits", L::kLutBits, 8));
      spec.accel.format = LbfpFormat(width, f, p, acc);
    } else if (type == "bfp") {
      if (format["frac_bits"] || format["lut_bits"]) {
        fail(source, format, "format", "frac_bits and lut_bits apply to type lbfp only");
      }
      spec.accel.format = BfpFormat(width, acc);
    } else {
      fail(source, format["type"], "format.type", "'" + type + "' is not lbfp or bfp");
    }
  } catch (const std::invalid_argument& e) {
    fail(source, format, "format", e.what());
  }

  spec.clock_mhz = get_real(source, root, "", "clock_mhz", L::kClockMhz, 1000.0);
  spec.accel.clock_period = sc_core::sc_time(1e3 / spec.clock_mhz, sc_core::SC_NS);
  spec.accel.dram.clock_period = spec.accel.clock_period;  // dram: cycles are the accelerator's

  const YAML::Node buffers = root["buffers"];
  if (buffers) {
    check_keys(source, buffers, "buffers",
               {"kib", "activation_kib", "weight_kib", "output_kib", "psum_kib"});
    // `kib` sizes every buffer at once, over their own keys (a buffer-size sweep:
    // --vary buffers.kib=8,16,...).
    const std::optional<int64_t> all =
        buffers["kib"] ? std::optional<int64_t>(
                             get_int(source, buffers, "buffers", "kib", L::kBufferKib, 0))
                       : std::nullopt;
    auto kib = [&](const char* key, int64_t fallback) {
      return static_cast<uint64_t>(
          (all ? *all : get_int(source, buffers, "buffers", key, L::kBufferKib, fallback)) * 1024);
    };
    spec.accel.buffers.activation_bytes = kib("activation_kib", 256);
    spec.accel.buffers.weight_bytes = kib("weight_kib", 256);
    spec.accel.buffers.output_bytes = kib("output_kib", 64);
    spec.accel.buffers.psum_bytes = kib("psum_kib", 64);
  }

  const YAML::Node dram = root["dram"];
  if (dram) {
    check_keys(source, dram, "dram", {"size_mib", "latency_cycles", "bandwidth_bytes_per_cycle"});
    spec.accel.dram.size_bytes = static_cast<uint64_t>(
        get_int(source, dram, "dram", "size_mib", L::kDramMib, 1024) * 1024 * 1024);
    spec.accel.dram.latency_cycles = static_cast<uint64_t>(
        get_int(source, dram, "dram", "latency_cycles", L::kDramLatencyCycles, 100));
    spec.accel.dram.bytes_per_cycle =
        get_real(source, dram, "dram", "bandwidth_bytes_per_cycle", L::kDramBytesPerCycle, 16.0);
  }

  const std::string energy = get_string(source, root, "", "energy", std::string());
  if (!energy.empty()) {
    const fs::path e(energy);
    spec.energy_path = e.is_absolute() || base_dir.empty() ? e.string()
                                                             : (fs::path(base_dir) / e).string();
  }
  try {
    spec.accel.validate();
  } catch (const std::invalid_argument& e) {
    throw ConfigError(source + ": " + e.what());
  }
  return spec;
}

}  // namespace lbfp::arch
