#include "sim_config.h"

#include "embedded.h"

#include <yaml-cpp/depthguard.h>
#include <yaml-cpp/yaml.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <set>
#include <sstream>

namespace lbfp::cli {
namespace {

namespace fs = std::filesystem;

// Where a node came from, for messages: "file:line" (1-based) or "file (--set)".
std::string where(const std::string& source, const YAML::Node& node) {
  const YAML::Mark mark = node.Mark();
  if (mark.is_null() || mark.line < 0) return source + " (--set)";
  return source + ":" + std::to_string(mark.line + 1);
}

[[noreturn]] void fail(const std::string& source, const YAML::Node& node, const std::string& key,
                       const std::string& what) {
  throw ConfigError(where(source, node) + ": " + key + ": " + what);
}

void check_keys(const std::string& source, const YAML::Node& map, const std::string& prefix,
                const std::set<std::string>& allowed) {
  if (!map.IsMap()) fail(source, map, prefix.empty() ? "(top)" : prefix, "expected a mapping");
  std::set<std::string> seen;
  for (const auto& item : map) {
    if (!item.first.IsScalar()) {
      fail(source, item.first, prefix.empty() ? "(top)" : prefix, "a key must be a plain name");
    }
    const std::string key = item.first.Scalar();
    if (!seen.insert(key).second) {
      // yaml-cpp keeps both entries and map[key] would silently read the first one.
      fail(source, item.first, prefix.empty() ? key : prefix + "." + key, "duplicate key");
    }
    if (allowed.count(key) == 0) {
      std::string list;
      for (const auto& a : allowed) list += (list.empty() ? "" : ", ") + a;
      fail(source, item.first, prefix.empty() ? key : prefix + "." + key,
           "unknown key (expected one of: " + list + ")");
    }
  }
}

std::string scalar_text(const YAML::Node& n) { return n.IsScalar() ? n.Scalar() : "<not a scalar>"; }

int64_t get_int(const std::string& source, const YAML::Node& map, const std::string& prefix,
                const char* key, int64_t lo, int64_t hi, std::optional<int64_t> fallback) {
  const std::string full = prefix.empty() ? key : prefix + "." + key;
  const YAML::Node n = map[key];
  if (!n) {
    if (fallback) return *fallback;
    fail(source, map, full, "missing");
  }
  int64_t v = 0;
  try {
    if (!n.IsScalar()) throw YAML::BadConversion(n.Mark());
    v = n.as<int64_t>();
  } catch (const YAML::Exception&) {
    fail(source, n, full, "expected an integer, got '" + scalar_text(n) + "'");
  }
  if (v < lo || v > hi) {
    fail(source, n, full,
         std::to_string(v) + " is outside " + std::to_string(lo) + ".." + std::to_string(hi));
  }
  return v;
}

double get_real(const std::string& source, const YAML::Node& map, const std::string& prefix,
                const char* key, double lo, double hi, std::optional<double> fallback) {
  const std::string full = prefix.empty() ? key : prefix + "." + key;
  const YAML::Node n = map[key];
  if (!n) {
    if (fallback) return *fallback;
    fail(source, map, full, "missing");
  }
  double v = 0;
  try {
    if (!n.IsScalar()) throw YAML::BadConversion(n.Mark());
    v = n.as<double>();
  } catch (const YAML::Exception&) {
    fail(source, n, full, "expected a number, got '" + scalar_text(n) + "'");
  }
  if (!std::isfinite(v) || v < lo || v > hi) {
    std::ostringstream s;
    s << v << " is outside " << lo << ".." << hi;
    fail(source, n, full, s.str());
  }
  return v;
}

std::string get_string(const std::string& source, const YAML::Node& map, const std::string& prefix,
                       const char* key, std::optional<std::string> fallback) {
  const std::string full = prefix.empty() ? key : prefix + "." + key;
  const YAML::Node n = map[key];
  if (!n) {
    if (fallback) return *fallback;
    fail(source, map, full, "missing");
  }
  if (!n.IsScalar()) fail(source, n, full, "expected a string");
  return n.Scalar();
}

YAML::Node parse_yaml(const std::string& text, const std::string& source) {
  try {
    YAML::Node root = YAML::Load(text);
    if (!root || root.IsNull()) throw ConfigError(source + ": the file is empty");
    return root;
  } catch (const YAML::DeepRecursion& e) {  // its own message says "bad file"
    throw ConfigError(source + ":" + std::to_string(e.mark.line + 1) +
                      ": not valid YAML: nested too deeply");
  } catch (const YAML::ParserException& e) {
    throw ConfigError(source + ":" + std::to_string(e.mark.line + 1) + ": not valid YAML: " +
                      e.msg);
  }
}

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

std::string read_text_file(const std::string& path) {
  if (path.rfind(kEmbeddedPrefix, 0) == 0) {
    if (auto text = embedded_file(path)) return *text;
    throw ConfigError(path + ": no such embedded file");
  }
  std::error_code ec;
  if (fs::is_directory(path, ec)) throw ConfigError(path + ": is a directory, not a file");
  std::ifstream in(path, std::ios::binary);
  if (!in) throw ConfigError(path + ": cannot open the file");
  // Read in bounded chunks: /dev/zero or a runaway pipe must end in an error, not fill memory.
  constexpr size_t kMaxBytes = size_t{64} << 20;
  std::string text;
  std::vector<char> chunk(size_t{1} << 16);
  while (in) {
    in.read(chunk.data(), static_cast<std::streamsize>(chunk.size()));
    text.append(chunk.data(), static_cast<size_t>(in.gcount()));
    if (text.size() > kMaxBytes) {
      throw ConfigError(path + ": larger than 64 MiB; not a configuration, topology or summary file");
    }
  }
  if (in.bad()) throw ConfigError(path + ": read error");
  return text;
}

double EnergyTable::at(const std::string& action) const {
  const auto it = pj.find(action);
  if (it == pj.end()) throw ConfigError(path + ": no energy for '" + action + "'");
  return it->second;
}

const std::vector<std::string>& energy_actions() {
  static const std::vector<std::string> actions = {
      "bfp_multiply",    "lbfp_multiply",   "bfp_accumulate", "lbfp_accumulate",
      "requantize",      "sram_read_byte",  "sram_write_byte", "dram_read_byte",
      "dram_write_byte", "leakage_per_cycle"};
  return actions;
}

ArchSpec load_arch(const std::string& path, const std::vector<std::string>& overrides) {
  const fs::path p(path);
  return parse_arch(read_text_file(path), path, p.parent_path().string(), overrides);
}

ArchSpec parse_arch(const std::string& text, const std::string& source,
                    const std::string& base_dir, const std::vector<std::string>& overrides) {
  YAML::Node root = parse_yaml(text, source);
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
  g.rows = static_cast<int>(get_int(source, array, "array", "rows", 1, 1024, std::nullopt));
  g.cols = static_cast<int>(get_int(source, array, "array", "cols", 1, 1024, std::nullopt));
  g.pipe_stages = static_cast<int>(get_int(source, array, "array", "pipe_stages", 0, 16, 1));
  const std::string dataflow =
      get_string(source, array, "array", "dataflow", std::string("output-stationary"));
  if (dataflow != "output-stationary") {
    fail(source, array["dataflow"], "array.dataflow",
         "'" + dataflow + "' is not modelled (only output-stationary)");
  }

  const YAML::Node format = root["format"];
  if (!format) fail(source, root, "format", "missing");
  check_keys(source, format, "format", {"type", "width", "frac_bits", "lut_bits", "acc_bits"});
  const std::string type = get_string(source, format, "format", "type", std::nullopt);
  const int width = static_cast<int>(get_int(source, format, "format", "width", 2, 8, 8));
  const int acc = static_cast<int>(get_int(source, format, "format", "acc_bits", 2, 62, 32));
  try {
    if (type == "lbfp") {
      const int f = static_cast<int>(get_int(source, format, "format", "frac_bits", 0, 6, width / 2));
      const int p = static_cast<int>(get_int(source, format, "format", "lut_bits", 0, 30, 8));
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

  spec.clock_mhz = get_real(source, root, "", "clock_mhz", 1e-3, 1e6, 1000.0);
  spec.accel.clock_period = sc_core::sc_time(1e3 / spec.clock_mhz, sc_core::SC_NS);
  spec.accel.dram.clock_period = spec.accel.clock_period;  // dram: cycles are the accelerator's

  const YAML::Node buffers = root["buffers"];
  if (buffers) {
    check_keys(source, buffers, "buffers", {"activation_kib", "weight_kib", "output_kib"});
    const int64_t max_kib = int64_t{1} << 22;  // 4 GiB
    spec.accel.buffers.activation_bytes = static_cast<uint64_t>(
        get_int(source, buffers, "buffers", "activation_kib", 1, max_kib, 256) * 1024);
    spec.accel.buffers.weight_bytes = static_cast<uint64_t>(
        get_int(source, buffers, "buffers", "weight_kib", 1, max_kib, 256) * 1024);
    spec.accel.buffers.output_bytes = static_cast<uint64_t>(
        get_int(source, buffers, "buffers", "output_kib", 1, max_kib, 64) * 1024);
  }

  const YAML::Node dram = root["dram"];
  if (dram) {
    check_keys(source, dram, "dram", {"size_mib", "latency_cycles", "bandwidth_bytes_per_cycle"});
    spec.accel.dram.size_bytes = static_cast<uint64_t>(
        get_int(source, dram, "dram", "size_mib", 1, 64 * 1024, 1024) * 1024 * 1024);
    spec.accel.dram.latency_cycles = static_cast<uint64_t>(
        get_int(source, dram, "dram", "latency_cycles", 0, 1000000, 100));
    spec.accel.dram.bytes_per_cycle =
        get_real(source, dram, "dram", "bandwidth_bytes_per_cycle", 1e-3, 1e6, 16.0);
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

namespace {

// The `base:` files being read, outermost first: a table that includes itself, directly or
// through others, is an error instead of a recursion without end.
using EnergyChain = std::vector<std::string>;

EnergyTable parse_energy_in(const std::string& text, const std::string& source,
                            const std::string& base_dir, EnergyChain& chain);

EnergyTable load_energy_in(const std::string& path, EnergyChain& chain) {
  std::error_code ec;
  const std::string key = fs::weakly_canonical(path, ec).string();
  const std::string id = ec || key.empty() ? path : key;
  for (const std::string& seen : chain) {
    if (seen == id) {
      std::string cycle;
      for (const std::string& c : chain) cycle += c + " -> ";
      throw ConfigError(path + ": energy tables include each other through 'base:' (" + cycle +
                        id + ")");
    }
  }
  if (chain.size() >= 16) throw ConfigError(path + ": more than 16 nested 'base:' energy tables");
  chain.push_back(id);
  EnergyTable table =
      parse_energy_in(read_text_file(path), path, fs::path(path).parent_path().string(), chain);
  chain.pop_back();
  return table;
}

}  // namespace

EnergyTable load_energy(const std::string& path) {
  EnergyChain chain;
  return load_energy_in(path, chain);
}

EnergyTable parse_energy(const std::string& text, const std::string& source,
                         const std::string& base_dir) {
  EnergyChain chain;
  return parse_energy_in(text, source, base_dir, chain);
}

namespace {

EnergyTable parse_energy_in(const std::string& text, const std::string& source,
                            const std::string& base_dir, EnergyChain& chain) {
  const YAML::Node root = parse_yaml(text, source);
  check_keys(source, root, "", {"name", "technology", "base", "synthesis", "energy_pj", "sources"});
  auto resolve = [&](const std::string& f) {
    const fs::path p(f);
    return p.is_absolute() || base_dir.empty() ? p.string() : (fs::path(base_dir) / p).string();
  };
  EnergyTable table;
  const std::string base = get_string(source, root, "", "base", std::string());
  if (!base.empty()) table = load_energy_in(resolve(base), chain);
  table.path = source;
  table.name = get_string(source, root, "", "name", table.name.empty() ? "unnamed" : table.name);
  table.technology = get_string(source, root, "", "technology", table.technology);

  const std::set<std::string> actions(energy_actions().begin(), energy_actions().end());
  if (const YAML::Node e = root["energy_pj"]) {
    check_keys(source, e, "energy_pj", actions);
    for (const auto& item : e) {
      const std::string key = item.first.as<std::string>();
      table.pj[key] = get_real(source, e, "energy_pj", key.c_str(), 0.0, 1e9, std::nullopt);
      table.sources[key] = source;
    }
  }
  if (const YAML::Node s = root["sources"]) {
    check_keys(source, s, "sources", actions);
    for (const auto& item : s) {
      if (!item.second.IsScalar()) {
        fail(source, item.second, "sources." + item.first.Scalar(), "expected a string");
      }
      table.sources[item.first.Scalar()] = item.second.Scalar();
    }
  }

  // The project's synthesis results (an `lbfp synth` energy table): the LBFP8 multiplier and both
  // accumulators scaled from the BFP8 multiplier by the measured ratios, in this table's
  // technology.
  const std::string synthesis = get_string(source, root, "", "synthesis", std::string());
  if (!synthesis.empty()) {
    const std::string spath = resolve(synthesis);
    const YAML::Node s = parse_yaml(read_text_file(spath), spath);
    auto figure = [&](const char* unit, const char* key) {
      const YAML::Node u = s[unit];
      if (!u || !u.IsMap()) fail(spath, s, unit, "missing");
      return get_real(spath, u, unit, key, 1e-9, 1e9, std::nullopt);
    };
    const double bfp_mul = figure("bfp8", "mul_pj");
    const double lbfp_mul = figure("lbfp8", "mul_pj");
    const double bfp_acc = figure("bfp8", "mac_pj") - bfp_mul;
    const double lbfp_acc = figure("lbfp8", "mac_pj") - lbfp_mul;
    if (bfp_acc < 0 || lbfp_acc < 0) {
      fail(spath, s, "mac_pj", "a MAC's energy is below its multiplier's (mul_pj)");
    }
    const double anchor = table.at("bfp_multiply");
    std::ostringstream note;
    note << " x synthesized ratio from " << spath << " (docs/hardware-cost.md)";
    table.pj["lbfp_multiply"] = anchor * lbfp_mul / bfp_mul;
    table.sources["lbfp_multiply"] =
        table.sources["bfp_multiply"] + note.str() + ": LBFP8 mul+shift / BFP8 mul";
    table.pj["lbfp_accumulate"] = anchor * lbfp_acc / bfp_mul;
    table.sources["lbfp_accumulate"] = "bfp_multiply" + note.str() + ": LBFP8 (MAC - mul) / BFP8 mul";
    table.pj["bfp_accumulate"] = anchor * bfp_acc / bfp_mul;
    table.sources["bfp_accumulate"] = "bfp_multiply" + note.str() + ": BFP8 (MAC - mul) / BFP8 mul";
  }
  for (const auto& a : energy_actions()) {
    if (table.pj.count(a) == 0) fail(source, root, "energy_pj." + a, "missing");
  }
  return table;
}

}  // namespace

}  // namespace lbfp::cli
