#include "lbfp/arch/energy.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <iterator>
#include <set>
#include <sstream>

#include "lbfp/arch/input.h"
#include "yaml_fields.h"

namespace lbfp::arch {
namespace {

namespace fs = std::filesystem;
using yaml::check_keys;
using yaml::fail;
using yaml::get_real;
using yaml::get_string;

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

EnergyTable parse_energy_in(const std::string& text, const std::string& source,
                            const std::string& base_dir, EnergyChain& chain) {
  const YAML::Node root = yaml::parse(text, source);
  check_keys(source, root, "", {"name", "technology", "base", "synthesis", "energy_pj", "sources",
                                "sram_read_pj_per_64bit", "sram_read_source"});
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

  std::set<std::string> actions(energy_actions().begin(), energy_actions().end());
  actions.insert(stationary_energy_actions().begin(), stationary_energy_actions().end());
  if (const YAML::Node e = root["energy_pj"]) {
    check_keys(source, e, "energy_pj", actions);
    for (const auto& item : e) {
      const std::string key = item.first.as<std::string>();
      table.pj[key] = get_real(source, e, "energy_pj", key.c_str(), {0.0, 1e9}, std::nullopt);
      table.sources[key] = source;
    }
  }
  if (const YAML::Node c = root["sram_read_pj_per_64bit"]) {
    if (!c.IsMap() || c.size() == 0) {
      fail(source, c, "sram_read_pj_per_64bit", "expected a mapping of KiB to picojoules");
    }
    table.sram_curve.clear();
    for (const auto& item : c) {
      const std::string key = item.first.Scalar();
      double kib = 0;
      try {
        size_t used = 0;
        kib = std::stod(key, &used);
        if (used != key.size() || !(kib > 0)) throw std::invalid_argument(key);
      } catch (const std::exception&) {
        fail(source, item.first, "sram_read_pj_per_64bit." + key, "expected a positive KiB");
      }
      table.sram_curve[kib] =
          get_real(source, c, "sram_read_pj_per_64bit", key.c_str(), {0.0, 1e9}, std::nullopt);
    }
    table.sram_curve_source =
        get_string(source, root, "", "sram_read_source", std::string(source));
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
    const YAML::Node s = yaml::parse(read_text_file(spath), spath);
    auto figure = [&](const char* unit, const char* key) {
      const YAML::Node u = s[unit];
      if (!u || !u.IsMap()) fail(spath, s, unit, "missing");
      return get_real(spath, u, unit, key, {1e-9, 1e9}, std::nullopt);
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
    // The formats of spec section 13 (`lbfp synth --units fmtmul fmtmac`): their multiplier and
    // the rest of their MAC scaled the same way, kept apart (EnergyTable::format_pj).
    for (const char* section : {"int8", "fp8_e4m3", "fp8_e5m2"}) {
      const YAML::Node u = s[section];
      if (!u || !u.IsMap()) continue;
      const double mul = figure(section, "mul_pj");
      const double acc = figure(section, "mac_pj") - mul;
      if (acc < 0) fail(spath, u, std::string(section) + ".mac_pj", "below its mul_pj");
      const std::string name(section);
      table.format_pj[name + "_multiply"] = anchor * mul / bfp_mul;
      table.format_sources[name + "_multiply"] =
          table.sources["bfp_multiply"] + note.str() + ": " + name + " mul / BFP8 mul";
      table.format_pj[name + "_accumulate"] = anchor * acc / bfp_mul;
      table.format_sources[name + "_accumulate"] =
          "bfp_multiply" + note.str() + ": " + name + " (MAC - mul) / BFP8 mul";
    }
    // The weight-stationary PE (`lbfp synth --units pews`, pews_pj) against the
    // output-stationary PE of the same run (pews_reference_pe_pj, else pe_pj): both actions of
    // a MAC scaled by that ratio, since the PE is measured whole (multiplier, adder, registers).
    for (const char* format : {"lbfp8", "bfp8"}) {
      const YAML::Node u = s[format];
      if (!u || !u.IsMap() || !u["pews_pj"]) continue;
      const char* reference = u["pews_reference_pe_pj"] ? "pews_reference_pe_pj" : "pe_pj";
      const double ratio = figure(format, "pews_pj") / figure(format, reference);
      const std::string prefix = std::string(format) == "lbfp8" ? "lbfp" : "bfp";
      std::ostringstream why;
      why << " x " << ratio << " (" << spath << ": " << format << " pews_pj / " << reference
          << ", the weight-stationary PE over the output-stationary PE, docs/hardware-cost.md)";
      for (const char* action : {"_multiply", "_accumulate"}) {
        const std::string os = prefix + action;
        table.pj[os + "_ws"] = table.pj[os] * ratio;
        table.sources[os + "_ws"] = os + why.str();
      }
    }
  }
  for (const auto& a : energy_actions()) {
    if (table.pj.count(a) == 0) fail(source, root, "energy_pj." + a, "missing");
  }
  return table;
}

}  // namespace

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

const std::vector<std::string>& stationary_energy_actions() {
  static const std::vector<std::string> actions = {"lbfp_multiply_ws", "lbfp_accumulate_ws",
                                                   "bfp_multiply_ws", "bfp_accumulate_ws"};
  return actions;
}

EnergyTable load_energy(const std::string& path) {
  EnergyChain chain;
  return load_energy_in(path, chain);
}

EnergyTable parse_energy(const std::string& text, const std::string& source,
                         const std::string& base_dir) {
  EnergyChain chain;
  return parse_energy_in(text, source, base_dir, chain);
}

double EnergyTable::sram_byte_pj(uint64_t capacity_bytes, bool write) const {
  const double ratio = write ? at("sram_write_byte") / std::max(at("sram_read_byte"), 1e-30) : 1.0;
  if (sram_curve.empty()) return at(write ? "sram_write_byte" : "sram_read_byte");
  const double kib = static_cast<double>(capacity_bytes) / 1024.0;
  double word = 0;
  if (kib <= sram_curve.begin()->first) {
    word = sram_curve.begin()->second;
  } else if (kib >= sram_curve.rbegin()->first) {
    word = sram_curve.rbegin()->second;
  } else {
    auto hi = sram_curve.upper_bound(kib);
    auto lo = std::prev(hi);
    const double t = (std::log2(kib) - std::log2(lo->first)) /
                     (std::log2(hi->first) - std::log2(lo->first));
    word = lo->second + t * (hi->second - lo->second);
  }
  return word / 8.0 * ratio;
}

EnergyBreakdown& EnergyBreakdown::operator+=(const EnergyBreakdown& o) {
  multiply_pj += o.multiply_pj;
  accumulate_pj += o.accumulate_pj;
  requantize_pj += o.requantize_pj;
  sram_pj += o.sram_pj;
  dram_pj += o.dram_pj;
  leakage_pj += o.leakage_pj;
  return *this;
}

namespace {

EnergyBreakdown datapath_energy(const LayerStats& s, const std::string& prefix,
                                const EnergyTable& t, Dataflow dataflow) {
  auto d = [](uint64_t v) { return static_cast<double>(v); };
  // A stationary array's own PE figures when the table has them, else the output-stationary's.
  const bool stationary = dataflow != Dataflow::kOutputStationary;
  auto datapath = [&](const std::string& action) {
    return stationary && t.pj.count(action + "_ws") != 0 ? t.at(action + "_ws") : t.at(action);
  };
  EnergyBreakdown e;
  e.multiply_pj = d(s.multiplies) * datapath(prefix + "_multiply");
  e.accumulate_pj = d(s.accumulates) * datapath(prefix + "_accumulate");
  e.requantize_pj = d(s.requantizations) * t.at("requantize");
  e.sram_pj = d(s.sram_bytes_read) * t.at("sram_read_byte") +
              d(s.sram_bytes_written) * t.at("sram_write_byte");
  e.dram_pj = d(s.dram_bytes_read) * t.at("dram_read_byte") +
              d(s.dram_bytes_written) * t.at("dram_write_byte");
  e.leakage_pj = d(s.total_cycles) * t.at("leakage_per_cycle");
  return e;
}

}  // namespace

EnergyBreakdown layer_energy(const LayerStats& s, bool lbfp, const EnergyTable& t,
                             Dataflow dataflow) {
  return datapath_energy(s, lbfp ? "lbfp" : "bfp", t, dataflow);
}

EnergyBreakdown layer_energy(const LayerStats& s, bool lbfp, const EnergyTable& t,
                             const BufferConfig& buffers, Dataflow dataflow) {
  return layer_energy_for(s, lbfp ? "lbfp" : "bfp", t, buffers, dataflow);
}

EnergyBreakdown layer_energy_for(const LayerStats& s, const std::string& datapath,
                                 const EnergyTable& t, const BufferConfig& buffers,
                                 Dataflow dataflow) {
  EnergyBreakdown e = datapath_energy(s, datapath, t, dataflow);
  auto d = [](uint64_t v) { return static_cast<double>(v); };
  auto charge = [&](const OperandTraffic& o, uint64_t capacity) {
    return d(o.sram_read) * t.sram_byte_pj(capacity, false) +
           d(o.sram_write) * t.sram_byte_pj(capacity, true);
  };
  e.sram_pj = charge(s.ifmap, buffers.activation_bytes) + charge(s.filter, buffers.weight_bytes) +
              charge(s.ofmap, buffers.output_bytes) + charge(s.psum, buffers.psum_bytes);
  return e;
}

}  // namespace lbfp::arch
