#include "lbfp/arch/scalesim_config.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstdint>
#include <filesystem>
#include <sstream>

#include "lbfp/arch/config.h"
#include "lbfp/arch/limits.h"

namespace lbfp::arch {
namespace {

std::string trim(const std::string& s) {
  const size_t b = s.find_first_not_of(" \t\r\f\v");
  if (b == std::string::npos) return "";
  const size_t e = s.find_last_not_of(" \t\r\f\v");
  return s.substr(b, e - b + 1);
}

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

// A value as a message shows it: printable ASCII, at most 60 characters.
std::string shown(const std::string& s) {
  std::string out;
  for (const char c : s.substr(0, 60)) {
    out += std::isprint(static_cast<unsigned char>(c)) != 0 ? c : '?';
  }
  if (s.size() > 60) out += "...";
  return out;
}

std::string at(const std::string& source, int line) { return source + ":" + std::to_string(line); }

// One .cfg key as messages name it: "FILE:LINE: Key".
std::string where(const std::string& source, const IniEntry& e) {
  return at(source, e.line) + ": " + e.key;
}

// An integer as Python's int() reads a configparser value (sign, decimal digits).
int64_t parse_integer(const std::string& source, const IniEntry& e, const std::string& text,
                      Range<int64_t> range) {
  std::string digits = text;
  if (!digits.empty() && digits[0] == '+') digits.erase(0, 1);
  int64_t v = 0;
  const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), v);
  if (digits.empty() || ec != std::errc() || end != digits.data() + digits.size()) {
    throw ConfigError(where(source, e) + ": expected an integer, got '" + shown(text) + "'");
  }
  if (!range.contains(v)) {
    throw ConfigError(where(source, e) + ": " + std::to_string(v) + " is outside " +
                      std::to_string(range.lo) + ".." + std::to_string(range.hi));
  }
  return v;
}

// A YAML double-quoted scalar of any text (run_name).
std::string quoted(const std::string& s) {
  std::string out = "\"";
  for (const char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (u < 0x20 || u == 0x7f) {
      static const char* const kHex = "0123456789abcdef";
      out += "\\x";
      out += kHex[u >> 4];
      out += kHex[u & 15];
    } else {
      out += c;
    }
  }
  return out + "\"";
}

// The YAML document, line by line, with the .cfg key each line came from.
class YamlWriter {
 public:
  // `text` is "  key: value" below `section` (empty: top level).
  void line(const std::string& text, const std::string& origin = "") {
    text_ += text + "\n";
    ++lines_;
    const std::string key = trim(text.substr(0, text.find(':')));
    if (text[0] != ' ') section_ = key;
    if (!origin.empty()) {
      origin_[lines_] = {text[0] == ' ' ? section_ + "." + key : key, origin};
    }
  }
  std::string text() const { return text_; }
  const std::map<int, ScaleSimMapping::Origin>& origin() const { return origin_; }

 private:
  std::string text_;
  std::string section_;
  int lines_ = 0;
  std::map<int, ScaleSimMapping::Origin> origin_;
};

}  // namespace

std::vector<IniEntry> parse_ini(const std::string& text, const std::string& source) {
  std::vector<IniEntry> entries;
  std::map<std::string, int> sections;                          // name -> line
  std::map<std::pair<std::string, std::string>, int> keys;     // (section, lower key) -> line
  const bool bom = text.rfind("\xEF\xBB\xBF", 0) == 0;
  std::istringstream in(bom ? text.substr(3) : text);
  std::string section;
  bool in_section = false;
  int number = 0;
  for (std::string raw; std::getline(in, raw);) {
    ++number;
    const std::string line = trim(raw);
    if (line.empty() || line[0] == '#' || line[0] == ';') continue;
    if (line[0] == '[') {
      if (line.back() != ']' || line.size() < 3) {
        throw ConfigError(at(source, number) + ": expected a section header '[name]', got '" +
                          shown(line) + "'");
      }
      section = line.substr(1, line.size() - 2);
      const auto [it, added] = sections.emplace(section, number);
      if (!added) {
        throw ConfigError(at(source, number) + ": [" + shown(section) +
                          "]: duplicate section (first at line " + std::to_string(it->second) +
                          ")");
      }
      in_section = true;
      continue;
    }
    const size_t split = line.find_first_of("=:");
    if (split == std::string::npos || split == 0) {
      throw ConfigError(at(source, number) +
                        ": expected 'key = value', '[section]' or a comment, got '" + shown(line) +
                        "'");
    }
    IniEntry e;
    e.section = section;
    e.key = trim(line.substr(0, split));
    e.value = trim(line.substr(split + 1));
    e.line = number;
    if (!in_section) {
      throw ConfigError(where(source, e) + ": a key before any [section]");
    }
    const auto [it, added] = keys.emplace(std::make_pair(section, lower(e.key)), number);
    if (!added) {
      throw ConfigError(where(source, e) + ": duplicate key in [" + shown(section) +
                        "] (first at line " + std::to_string(it->second) + ")");
    }
    entries.push_back(std::move(e));
  }
  return entries;
}

bool is_scalesim_config(const std::string& path, const std::string& text) {
  const std::string ext = lower(std::filesystem::path(path).extension().string());
  if (ext == ".cfg") return true;
  if (ext == ".yaml" || ext == ".yml") return false;
  std::istringstream in(text);
  for (std::string raw; std::getline(in, raw);) {
    const std::string line = trim(raw);
    if (line.empty() || line[0] == '#' || line[0] == ';') continue;
    return line.size() >= 3 && line[0] == '[' && line.back() == ']' &&
           line.find_first_of("[],", 1) == line.size() - 1;
  }
  return false;
}

ScaleSimMapping map_scalesim_config(const std::string& text, const std::string& source,
                                    const std::string& format) {
  using L = ArchLimits;
  if (format != "lbfp8" && format != "bfp8") {
    throw ConfigError(source + ": a SCALE-Sim configuration runs in lbfp8 or bfp8, not '" +
                      format + "'");
  }
  const std::vector<IniEntry> entries = parse_ini(text, source);
  if (entries.empty()) throw ConfigError(source + ": the file is empty");
  ScaleSimMapping m;

  // Every entry starts unmapped; the keys below are taken out as they are read.
  std::map<std::pair<std::string, std::string>, const IniEntry*> pending;
  std::map<std::string, bool> has_section;
  for (const IniEntry& e : entries) {
    pending[{e.section, lower(e.key)}] = &e;
    has_section[e.section] = true;
  }
  for (const char* s : {"general", "architecture_presets", "run_presets"}) {
    if (!has_section[s]) {
      throw ConfigError(source + ": [" + std::string(s) +
                        "]: missing section (a SCALE-Sim v2 configuration has [general], "
                        "[architecture_presets] and [run_presets])");
    }
  }
  auto take = [&](const std::string& section, const std::string& key,
                   bool required) -> const IniEntry* {
    const auto it = pending.find({section, lower(key)});
    if (it == pending.end()) {
      if (required) throw ConfigError(source + ": [" + section + "] " + key + ": missing");
      return nullptr;
    }
    const IniEntry* e = it->second;
    pending.erase(it);
    return e;
  };
  auto origin = [&](const IniEntry& e) { return where(source, e) + ": " + shown(e.value); };
  std::vector<std::pair<int, std::string>> notes;  // (line, warning)
  auto warn = [&](const IniEntry& e, const std::string& why) {
    notes.emplace_back(e.line, where(source, e) + ": not mapped: " + why);
  };

  const IniEntry& run_name = *take("general", "run_name", true);
  const IniEntry& mode = *take("run_presets", "InterfaceBandwidth", true);
  if (mode.value != "CALC" && mode.value != "USER") {
    throw ConfigError(where(source, mode) + ": expected CALC or USER, got '" + shown(mode.value) +
                      "'");
  }
  const std::string arch = "architecture_presets";
  const IniEntry& height = *take(arch, "ArrayHeight", true);
  const IniEntry& width = *take(arch, "ArrayWidth", true);
  const IniEntry& ifmap = *take(arch, "IfmapSramSzkB", true);
  const IniEntry& filter = *take(arch, "FilterSramSzkB", true);
  const IniEntry& ofmap = *take(arch, "OfmapSramSzkB", true);
  const IniEntry& dataflow = *take(arch, "Dataflow", true);
  const int64_t rows = parse_integer(source, height, height.value, L::kArrayDim);
  const int64_t cols = parse_integer(source, width, width.value, L::kArrayDim);
  const int64_t ifmap_kib = parse_integer(source, ifmap, ifmap.value, L::kBufferKib);
  const int64_t filter_kib = parse_integer(source, filter, filter.value, L::kBufferKib);
  const int64_t ofmap_kib = parse_integer(source, ofmap, ofmap.value, L::kBufferKib);
  const std::string df = lower(dataflow.value);
  std::string dataflow_name;
  if (df == "os") {
    dataflow_name = "output-stationary";
  } else if (df == "ws") {
    dataflow_name = "weight-stationary";
  } else if (df == "is") {
    dataflow_name = "input-stationary";
  } else {
    throw ConfigError(where(source, dataflow) + ": '" + shown(dataflow.value) +
                      "' is not os, ws or is");
  }

  // Bandwidth: words (bytes) per cycle of each buffer's DRAM port in USER mode; CALC ignores it.
  const IniEntry* bandwidth = take(arch, "Bandwidth", mode.value == "USER");
  std::string dram_bandwidth = "16";
  std::string dram_origin;
  if (mode.value == "USER") {
    std::vector<std::string> values;
    std::stringstream list(bandwidth->value);
    for (std::string v; std::getline(list, v, ',');) values.push_back(trim(v));
    if (values.empty()) values.emplace_back();
    int64_t first = 0;
    for (size_t i = 0; i < values.size(); ++i) {
      const int64_t v = parse_integer(source, *bandwidth, values[i], {1, 1000000});
      if (i == 0) first = v;
    }
    dram_bandwidth = std::to_string(first);
    dram_origin = origin(*bandwidth);
    if (values.size() > 1) {
      notes.emplace_back(bandwidth->line, where(source, *bandwidth) + ": only the first value (" +
                                              dram_bandwidth + ") is used, as SCALE-Sim does");
    }
  } else {
    warn(mode, "CALC (SCALE-Sim estimates the DRAM bandwidth the array needs) has no "
               "equivalent here: dram.bandwidth_bytes_per_cycle is 16 (change it with --set)");
    if (bandwidth != nullptr) warn(*bandwidth, "SCALE-Sim ignores it with InterfaceBandwidth CALC");
  }
  for (const char* key : {"IfmapOffset", "FilterOffset", "OfmapOffset"}) {
    if (const IniEntry* e = take(arch, key, false)) {
      parse_integer(source, *e, e->value, {INT64_MIN, INT64_MAX});
      warn(*e, "SCALE-Sim's DRAM trace addresses; this model lays out DRAM itself");
    }
  }
  if (const IniEntry* e = take(arch, "MemoryBanks", false)) {
    warn(*e, "each buffer here is one SRAM of its size");
  }
  if (const IniEntry* e = take("network_presets", "TopologyCsvLoc", false)) {
    warn(*e, "give the topology with --workload");
  }
  for (const auto& [key, e] : pending) {
    warn(*e, "[" + shown(e->section) + "] " + shown(e->key) + " has no equivalent in this model");
  }
  std::stable_sort(notes.begin(), notes.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  for (auto& note : notes) m.warnings.push_back(std::move(note.second));

  YamlWriter y;
  y.line("name: " + quoted(run_name.value), origin(run_name));
  y.line("array:");
  y.line("  rows: " + std::to_string(rows), origin(height));
  y.line("  cols: " + std::to_string(cols), origin(width));
  y.line("  pipe_stages: 1");
  y.line("  dataflow: " + dataflow_name, origin(dataflow));
  y.line("format:");
  if (format == "lbfp8") {
    y.line("  type: lbfp");
    y.line("  width: 8");
    y.line("  frac_bits: 4");
    y.line("  lut_bits: 8");
  } else {
    y.line("  type: bfp");
    y.line("  width: 8");
  }
  y.line("  acc_bits: 32");
  y.line("clock_mhz: 1000");
  y.line("buffers:");
  y.line("  activation_kib: " + std::to_string(ifmap_kib), origin(ifmap));
  y.line("  weight_kib: " + std::to_string(filter_kib), origin(filter));
  y.line("  output_kib: " + std::to_string(ofmap_kib), origin(ofmap));
  y.line("  psum_kib: 64");
  y.line("dram:");
  y.line("  size_mib: 1024");
  y.line("  latency_cycles: 100");
  y.line("  bandwidth_bytes_per_cycle: " + dram_bandwidth, dram_origin);
  y.line("energy: \"<embedded>/configs/energy/horowitz45-synth.yaml\"");
  m.yaml = y.text();
  m.origin = y.origin();
  return m;
}

ArchSpec parse_scalesim_arch(const std::string& text, const std::string& source,
                             const std::vector<std::string>& overrides,
                             const std::string& format) {
  const ScaleSimMapping mapped = map_scalesim_config(text, source, format);
  try {
    ArchSpec spec = parse_arch(mapped.yaml, source, "", overrides);
    spec.warnings = mapped.warnings;
    return spec;
  } catch (const ConfigError& e) {
    // "SOURCE:LINE: key: what" of the mapped YAML: say which .cfg key the line came from.
    const std::string message = e.what();
    const std::string prefix = source + ":";
    if (message.rfind(prefix, 0) != 0) throw;
    const size_t colon = message.find(": ", prefix.size());
    if (colon == std::string::npos) throw;
    const std::string number = message.substr(prefix.size(), colon - prefix.size());
    if (number.empty() || number.size() > 9 ||
        number.find_first_not_of("0123456789") != std::string::npos) {
      throw;
    }
    const std::string rest = message.substr(colon + 2);
    const auto it = mapped.origin.find(std::stoi(number));
    if (it != mapped.origin.end() && rest.rfind(it->second.key + ":", 0) == 0) {
      throw ConfigError(it->second.cfg + ", mapped to " + rest);
    }
    throw ConfigError(source + " (mapped from SCALE-Sim): " + rest);
  }
}

}  // namespace lbfp::arch
