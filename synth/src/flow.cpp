#include "lbfp/synth/flow.h"

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <regex>
#include <sstream>
#include <stdexcept>

#include "lbfp/synth/streams.h"

namespace lbfp::synth {
namespace fs = std::filesystem;
namespace {

std::string quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'') {
      out += "'\\''";
    } else {
      out += c;
    }
  }
  return out + "'";
}

std::string read_text(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error("cannot read " + path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

std::string tail(const std::string& text, size_t chars = 3000) {
  return text.size() <= chars ? text : "..." + text.substr(text.size() - chars);
}

// Runs a shell command with its output in `log`; throws naming the command and the log's tail.
void run_logged(const std::string& command, const std::string& log, const std::string& what) {
  const std::string full = command + " > " + quote(log) + " 2>&1";
  const int status = std::system(full.c_str());
  if (status != 0) {
    std::string text;
    try {
      text = read_text(log);
    } catch (const std::exception&) {
    }
    throw std::runtime_error(what + " failed (" + log + "):\n" + tail(text));
  }
}

Activity read_toggles(const std::string& path) {
  Activity a;
  std::ifstream toggles(path);
  std::string line;
  while (std::getline(toggles, line)) {
    std::istringstream in(line);
    if (line.rfind("# ops", 0) == 0) {
      std::string hash, word;
      in >> hash >> word >> a.ops;
      continue;
    }
    std::string net;
    NetToggles t;
    if (in >> net >> t.rises >> t.falls) a.nets[net] = t;
  }
  return a;
}

}  // namespace

bool is_array(const Unit& unit) { return unit.kind == "array" || unit.kind == "arrayws"; }

const std::vector<Unit>& units() {
  const std::map<std::string, int> isolate = {{"IsolateZeros", 1}};
  // The PE's like-for-like BFP8 twin holds its operands on zero products, as lbfp_pe does.
  const std::map<std::string, int> hold = {{"HoldZeros", 1}};
  const auto array = [](int use_bfp, int hold_zeros) {
    return std::map<std::string, int>{{"NumRows", kArrayRows}, {"NumCols", kArrayCols},
                                      {"UseBfp", use_bfp}, {"HoldZeros", hold_zeros}};
  };
  static const std::vector<Unit> all = {
      {"mul", "lbfp8", "lbfp_mul_unit", false, "", {}},
      {"mul", "bfp8", "bfp_mul", false, "", {}},
      {"mul", "bfp8", "bfp_mul", false, "iso", isolate},
      // The multipliers behind the operand hold of lbfp_pe / bfp_pe (HoldZeros), played the held
      // operands; the plain BFP8 multiplier, as the baseline PE drives it, plays the stream as is.
      {"mulheld", "lbfp8", "lbfp_mul_held_unit", false, "", {}, true},
      {"mulheld", "bfp8", "bfp_mul", false, "", {}},
      {"mulheld", "bfp8", "bfp_mul_held_unit", false, "iso", {}, true},
      {"mac", "lbfp8", "lbfp_mac", true, "", {}},
      {"mac", "bfp8", "bfp_mac", true, "", {}},
      {"mac", "bfp8", "bfp_mac", true, "iso", isolate},
      {"pe", "lbfp8", "lbfp_pe", true, "", {}},
      {"pe", "bfp8", "bfp_pe", true, "", {}},
      {"pe", "bfp8", "bfp_pe", true, "iso", hold},
      // The weight-stationary PE (rtl/pe_ws.sv), measured with `--units pews`.
      {"pews", "lbfp8", "lbfp_pe_ws", true, "", {}},
      {"pews", "bfp8", "bfp_pe_ws", true, "", {}},
      {"pews", "bfp8", "bfp_pe_ws", true, "iso", hold},
      // Whole arrays (`--units array arrayws`): rtl/systolic_array.sv and rtl/systolic_array_ws.sv
      // themselves, kArrayRows x kArrayCols PEs with their edges and requantizers; the BFP8
      // baseline without the operand hold, as bfp_pe.
      {"array", "lbfp8", "systolic_array", true, "", array(0, 1), false, "systolic_array_lbfp8"},
      {"array", "bfp8", "systolic_array", true, "", array(1, 0), false, "systolic_array_bfp8"},
      {"arrayws", "lbfp8", "systolic_array_ws", true, "", array(0, 1), false,
       "systolic_array_ws_lbfp8"},
      {"arrayws", "bfp8", "systolic_array_ws", true, "", array(1, 0), false,
       "systolic_array_ws_bfp8"},
      // The multipliers of the spec's section 13 formats, measured with `--units fmtmul`: INT8
      // (and MXINT8) is the BFP8 multiplier bfp_mul itself, played INT8 codes; FP8 E4M3 and E5M2
      // (and MXFP8) are rtl/fp8_mul.sv.
      {"fmtmul", "int8", "bfp_mul", false, "", {}},
      {"fmtmul", "fp8-e4m3", "fp8e4m3_mul", false, "", {}},
      {"fmtmul", "fp8-e5m2", "fp8e5m2_mul", false, "", {}},
      // Their MACs (`--units fmtmac`), the multipliers into the saturating accumulators of spec
      // section 13.5: INT8 (and MXINT8) is the BFP8 MAC bfp_mac itself (A = 32), played INT8
      // codes; FP8 E4M3 (A = 42) and E5M2 (A = 70) are rtl/fp8_mac.sv.
      {"fmtmac", "int8", "bfp_mac", true, "", {}},
      {"fmtmac", "fp8-e4m3", "fp8e4m3_mac", true, "", {}},
      {"fmtmac", "fp8-e5m2", "fp8e5m2_mac", true, "", {}},
      // Their output-stationary PEs (`--units fmtpe`), each the format's multiplier and
      // accumulator with the operand forwarding, pipeline register and bias input of lbfp_pe and
      // bfp_pe: INT8 (and MXINT8) is the BFP8 PE bfp_pe itself (A = 32), played INT8 codes; FP8
      // E4M3 (A = 42) and E5M2 (A = 70) are rtl/pe_fp8.sv. As bfp_pe, the textbook PE, and the
      // "iso" twin with LBFP8's operand hold (HoldZeros = 1).
      {"fmtpe", "int8", "bfp_pe", true, "", {}},
      {"fmtpe", "fp8-e4m3", "fp8e4m3_pe", true, "", {}},
      {"fmtpe", "fp8-e5m2", "fp8e5m2_pe", true, "", {}},
      {"fmtpe", "int8", "bfp_pe", true, "iso", hold},
      {"fmtpe", "fp8-e4m3", "fp8e4m3_pe", true, "iso", hold},
      {"fmtpe", "fp8-e5m2", "fp8e5m2_pe", true, "iso", hold},
      // The MX variants of the MACs and of the textbook PEs: the same netlists played the MX
      // layer stream (an E8M0 scale per block of 32, one reduction per block; synth/streams.h).
      {"fmtmac", "mxint8", "bfp_mac", true, "", {}},
      {"fmtmac", "mxfp8-e4m3", "fp8e4m3_mac", true, "", {}},
      {"fmtmac", "mxfp8-e5m2", "fp8e5m2_mac", true, "", {}},
      {"fmtpe", "mxint8", "bfp_pe", true, "", {}},
      {"fmtpe", "mxfp8-e4m3", "fp8e4m3_pe", true, "", {}},
      {"fmtpe", "mxfp8-e5m2", "fp8e5m2_pe", true, "", {}},
  };
  return all;
}

const Unit& unit(const std::string& kind, const std::string& format, const std::string& variant) {
  for (const Unit& u : units()) {
    if (u.kind == kind && u.format == format && u.variant == variant) return u;
  }
  throw std::invalid_argument("no unit " + kind + " for " + format +
                              (variant.empty() ? "" : " (" + variant + ")"));
}

Unit lbfp_family_unit(int width, int frac_bits, const std::string& kind) {
  if (kind != "lbfpmul" && kind != "lbfpmac") {
    throw std::invalid_argument("no LBFP family unit " + kind + " (lbfpmul or lbfpmac)");
  }
  // The RTL's LUT generator covers F <= 6 (rtl/lbfp_pkg.sv); the model needs F <= W - 2.
  if (width < 3 || width > 8 || frac_bits < 1 || frac_bits > std::min(6, width - 2)) {
    throw std::invalid_argument("LBFP family point W = " + std::to_string(width) + ", F = " +
                                std::to_string(frac_bits) +
                                ": needs 3 <= W <= 8 and 1 <= F <= min(6, W - 2)");
  }
  const std::string format = lbfp_family_name(width, frac_bits);
  const bool mac = kind == "lbfpmac";
  const std::string top = mac ? "lbfp_mac" : "lbfp_mul_unit";
  return {kind, format, top, mac, "", {{"DataWidth", width}, {"FracBits", frac_bits}}, false,
          top + "_" + format};
}

std::pair<int, int> parse_lbfp_point(const std::string& point) {
  const std::regex form(R"(([0-9]+):([0-9]+))");
  std::smatch m;
  if (!std::regex_match(point, m, form) || m[1].length() > 2 || m[2].length() > 2) {
    throw std::invalid_argument("LBFP family point '" + point + "' is not W:F (e.g. 7:3)");
  }
  const int width = std::stoi(m[1]);
  const int frac_bits = std::stoi(m[2]);
  lbfp_family_unit(width, frac_bits);  // throws outside the family
  return {width, frac_bits};
}

Tools default_tools() {
  Tools t;
  t.yosys = LBFP_YOSYS_EXECUTABLE;
  t.verilator = LBFP_VERILATOR_EXECUTABLE;
  t.liberty = LBFP_DEFAULT_LIBERTY;
  t.source_dir = LBFP_SOURCE_DIR;
  t.work_dir = (fs::temp_directory_path() / "lbfp-synth").string();
  return t;
}

SynthResult synthesize(const Tools& tools, const Unit& unit) {
  if (!fs::exists(tools.liberty)) {
    throw std::runtime_error("liberty file " + tools.liberty + " not found");
  }
  SynthResult r;
  r.dir = (fs::path(tools.work_dir) / unit.name()).string();
  fs::create_directories(r.dir);
  const fs::path rtl = fs::path(tools.source_dir) / "rtl";
  const fs::path wrappers = fs::path(tools.source_dir) / "synth" / "rtl";
  // Yosys numbers its internal objects in the order it reads them, and ABC's mapping follows
  // that order: every unit reads the same files in the same order, and the weight-stationary
  // PE's files come after them (read by the pews and array units only), then the arrays' (read by
  // the array units only), so adding them left the other units' netlists, and the figures
  // docs/hardware-cost.md gives for them, unchanged.
  std::string sources;
  for (const char* f : {"lbfp_pkg.sv", "lbfp_mul.sv", "lbfp_shifter.sv", "lbfp_product.sv",
                        "bfp_mul.sv", "sat_accumulator.sv", "delay_line.sv", "operand_hold.sv",
                        "pe.sv"}) {
    sources += (rtl / f).string() + " ";
  }
  for (const char* f : {"lbfp_mul_unit.sv", "lbfp_mul_held_unit.sv", "bfp_mul_held_unit.sv",
                        "lbfp_mac.sv", "bfp_mac.sv", "lbfp_pe.sv", "bfp_pe.sv"}) {
    sources += (wrappers / f).string() + " ";
  }
  // The FP8 multipliers', MACs' and PEs' files come last, read by their units only (INT8's
  // bfp_mul, bfp_mac and bfp_pe read the list above, so their netlists are the mul, mac and pe
  // units').
  if (unit.top == "fp8e4m3_mul" || unit.top == "fp8e5m2_mul") {
    sources += (rtl / "fp8_mul.sv").string() + " " + (wrappers / (unit.top + ".sv")).string() + " ";
  }
  if (unit.top == "fp8e4m3_mac" || unit.top == "fp8e5m2_mac") {
    sources += (rtl / "fp8_mul.sv").string() + " " + (rtl / "fp8_mac.sv").string() + " " +
               (wrappers / (unit.top + ".sv")).string() + " ";
  }
  if (unit.top == "fp8e4m3_pe" || unit.top == "fp8e5m2_pe") {
    sources += (rtl / "fp8_mul.sv").string() + " " + (rtl / "pe_fp8.sv").string() + " " +
               (wrappers / (unit.top + ".sv")).string() + " ";
  }
  if (unit.kind == "pews" || is_array(unit)) {
    sources += (rtl / "sat_add.sv").string() + " " + (rtl / "pe_ws.sv").string() + " ";
    for (const char* f : {"lbfp_pe_ws.sv", "bfp_pe_ws.sv"}) {
      sources += (wrappers / f).string() + " ";
    }
  }
  // The arrays' files last of all, read by the array units only (as above).
  if (is_array(unit)) {
    for (const char* f : {"lbfp_requant.sv", "systolic_array.sv", "systolic_array_ws.sv"}) {
      sources += (rtl / f).string() + " ";
    }
  }
  std::string parameters;
  for (const auto& [name, value] : unit.parameters) {
    parameters += name + " " + std::to_string(value) + " ";
  }
  const std::string command =
      "LBFP_SYNTH_TOP=" + quote(unit.top) + " LBFP_SYNTH_SOURCES=" + quote(sources) +
      " LBFP_SYNTH_PARAMS=" + quote(parameters) +
      " LBFP_SYNTH_LIBERTY=" + quote(tools.liberty) + " LBFP_SYNTH_OUT=" + quote(r.dir) + " " +
      quote(tools.yosys) + " -q -c " + quote((fs::path(tools.source_dir) / "synth" / "flow.tcl").string());
  run_logged(command, (fs::path(r.dir) / "yosys.log").string(),
             "yosys synthesis of " + unit.name());

  // stat -liberty: "     AND2X1     8" rows and "Chip area for module '\top': 5160.000000".
  const std::string area = read_text((fs::path(r.dir) / "area.txt").string());
  std::smatch m;
  if (!std::regex_search(area, m, std::regex(R"(Chip area for module '[^']*': ([0-9.]+))"))) {
    throw std::runtime_error("no chip area in " + r.dir + "/area.txt");
  }
  r.area_um2 = std::stod(m[1]);
  const std::regex cell_row(R"(\n\s+([A-Z][A-Z0-9_]*)\s+([0-9]+))");
  for (auto it = std::sregex_iterator(area.begin(), area.end(), cell_row);
       it != std::sregex_iterator(); ++it) {
    r.cells[(*it)[1]] = std::stoll((*it)[2]);
    r.cell_count += std::stoll((*it)[2]);
  }
  const std::string cmos = read_text((fs::path(r.dir) / "cmos.txt").string());
  if (!std::regex_search(cmos, m, std::regex(R"(Estimated number of transistors:\s+([0-9]+)(\+?))"))) {
    throw std::runtime_error("no transistor count in " + r.dir + "/cmos.txt");
  }
  if (m[2] == "+") {
    throw std::runtime_error("stat -tech cmos met cells it cannot price in " + r.dir);
  }
  r.transistors = std::stoll(m[1]);
  r.netlist_verilog = (fs::path(r.dir) / "netlist.v").string();
  r.netlist_json = (fs::path(r.dir) / "netlist.json").string();
  return r;
}

namespace {

// Verilator's runtime (verilated.cpp, its VCD writer and thread pool) compiles to the same
// objects for every netlist, and --build compiles it in each model's folder: about 10
// CPU-seconds a model. The first model built in a process (with a given verilator) lends its
// objects to the later ones: copied into their folder before the build, newer than Verilator's
// sources, they are up to date for make.
const char* const kRuntimeObjects[] = {"verilated.o", "verilated_vcd_c.o", "verilated_threads.o"};

struct RuntimeObjects {
  std::mutex mutex;
  std::string verilator;
  fs::path dir;  // a built model's obj folder, or empty
};

RuntimeObjects& runtime_objects() {
  static RuntimeObjects r;
  return r;
}

// Copies the lent objects into `obj`; false (and nothing copied that could be stale) if there are
// none or one is missing.
bool borrow_runtime_objects(const std::string& verilator, const fs::path& obj) {
  RuntimeObjects& r = runtime_objects();
  std::lock_guard<std::mutex> lock(r.mutex);
  if (r.dir.empty() || r.verilator != verilator || r.dir == obj) return false;
  std::error_code ec;
  for (const char* name : kRuntimeObjects) {
    if (!fs::is_regular_file(r.dir / name, ec)) return false;
  }
  fs::create_directories(obj, ec);
  for (const char* name : kRuntimeObjects) {
    fs::copy_file(r.dir / name, obj / name, fs::copy_options::overwrite_existing, ec);
    if (ec) {
      for (const char* n : kRuntimeObjects) fs::remove(obj / n, ec);
      return false;
    }
  }
  return true;
}

void lend_runtime_objects(const std::string& verilator, const fs::path& obj) {
  RuntimeObjects& r = runtime_objects();
  std::lock_guard<std::mutex> lock(r.mutex);
  if (!r.dir.empty()) return;
  r.verilator = verilator;
  r.dir = obj;
}

}  // namespace

std::string build_activity_model(const Tools& tools, const Unit& unit, const SynthResult& synth,
                                 const LibertyLibrary& library) {
  const fs::path dir(synth.dir);
  const fs::path cells = dir / "cells.v";
  {
    std::ofstream out(cells);
    out << cell_models_verilog(library);
    if (!out) throw std::runtime_error("cannot write " + cells.string());
  }
  const fs::path obj = dir / "obj";
  const fs::path harness = fs::path(tools.source_dir) / "synth" / "harness";
  const char* main_file = is_array(unit) ? "array_activity_main.cpp" : "activity_main.cpp";
  // Borrowed runtime objects are older than the makefile Verilator writes, on which verilated.mk
  // makes them depend: make is told to take that makefile as old.
  const bool borrowed = borrow_runtime_objects(tools.verilator, obj);
  const std::string command =
      quote(tools.verilator) + " --cc --exe --build -j " + std::to_string(tools.build_jobs) +
      (borrowed ? " -MAKEFLAGS --old-file=Vnetlist.mk" : "") +
      " -O3 --x-assign fast --x-initial fast -Wno-fatal -Wno-lint -Wno-style --trace"
      " --prefix Vnetlist --top-module " + quote(unit.top) + " -Mdir " + quote(obj.string()) +
      " -CFLAGS -O1 -CFLAGS " + quote("-I" + harness.string()) + " -o activity " +
      quote(cells.string()) + " " + quote(synth.netlist_verilog) + " " +
      quote((harness / main_file).string());
  run_logged(command, (dir / "verilator.log").string(), "verilator build of " + unit.name());
  if (!borrowed) lend_runtime_objects(tools.verilator, obj);
  return (obj / "activity").string();
}

Activity run_activity(const std::string& simulator, const std::string& dir,
                      const std::string& name, const std::vector<Op>& stream,
                      bool record_outputs) {
  const fs::path base(dir);
  const std::string stream_path = (base / (name + ".ops")).string();
  const std::string toggles_path = (base / (name + ".toggles")).string();
  const std::string outputs_path = (base / (name + ".outputs")).string();
  {
    std::ofstream out(stream_path);
    for (const Op& op : stream) {
      out << unsigned{op.a} << ' ' << unsigned{op.b} << ' ' << op.valid << ' ' << op.first << ' '
          << op.last << ' ' << op.zero << '\n';
    }
    if (!out) throw std::runtime_error("cannot write " + stream_path);
  }
  std::string command = quote(simulator) + " " + quote(stream_path) + " " + quote(toggles_path);
  if (record_outputs) command += " " + quote(outputs_path);
  run_logged(command, (base / (name + ".log")).string(), "simulation " + name);

  Activity a = read_toggles(toggles_path);
  std::string line;
  if (record_outputs) {
    std::ifstream outputs(outputs_path);
    while (std::getline(outputs, line)) {
      std::istringstream in(line);
      in >> std::hex;
      std::vector<uint64_t> row;
      uint64_t v = 0;
      while (in >> v) row.push_back(v);
      a.outputs.push_back(std::move(row));
    }
  }
  return a;
}

Activity run_array_activity(const std::string& simulator, const std::string& dir,
                            const std::string& name, const ArrayStream& stream) {
  const fs::path base(dir);
  const std::string stream_path = (base / (name + ".beats")).string();
  const std::string toggles_path = (base / (name + ".toggles")).string();
  const std::string outputs_path = (base / (name + ".outputs")).string();
  write_array_stream(stream, stream_path);
  run_logged(quote(simulator) + " " + quote(stream_path) + " " + quote(toggles_path) + " " +
                 quote(outputs_path),
             (base / (name + ".log")).string(), "simulation " + name);
  const std::string mismatch =
      compare_array_outputs(stream, read_array_outputs(outputs_path, stream.cols));
  if (!mismatch.empty()) {
    throw std::runtime_error("the gate-level array of " + dir + " differs from the golden "
                             "reference on stream " + name + ": " + mismatch);
  }
  return read_toggles(toggles_path);
}

}  // namespace lbfp::synth
