// The hardware-cost flow of `lbfp synth` (docs/hardware-cost.md): each unit through Yosys onto
// the OSU 0.18 um cells (synth/flow.tcl), its gate-level netlist through Verilator with an operand
// stream, and the toggles priced with the liberty's internal-power tables and pin capacitances.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "lbfp/synth/array_stream.h"
#include "lbfp/synth/liberty.h"

namespace lbfp::synth {

// One synthesized unit. `kind` is mul, mulheld, mac, pe, pews (the weight-stationary PE), array
// or arrayws (a whole output- or weight-stationary array of kArrayRows x kArrayCols PEs), or
// fmtmul, fmtmac and fmtpe (the multipliers, MACs and PEs of the section 13 formats); `format`
// lbfp8 or bfp8, for fmtmul, fmtmac and fmtpe int8, fp8-e4m3 or fp8-e5m2, for fmtmac and fmtpe also
// mxint8, mxfp8-e4m3 or mxfp8-e5m2 (the same netlists on MX-quantized streams). `variant` is empty
// for the design as the array builds it, or "iso" for the BFP8 baseline with LBFP8's zero
// handling (top parameter IsolateZeros = 1 for the multiplier and MAC, HoldZeros = 1 for the PE,
// set by chparam before synthesis).
struct Unit {
  std::string kind;
  std::string format;
  std::string top;
  bool sequential = false;
  std::string variant;
  std::map<std::string, int> parameters;  // top-level parameter overrides
  // Played held_operand_stream(format, stream) (synth/streams.h) instead of the stream itself:
  // a multiplier as a PE with HoldZeros drives it.
  bool held = false;

  // The folder name when the top and variant do not tell two units apart (the arrays, whose
  // format is a parameter).
  std::string folder = {};
  // The unit's folder name: `folder`, else the top, with the variant appended.
  std::string name() const {
    if (!folder.empty()) return folder;
    return variant.empty() ? top : top + "_" + variant;
  }
};
// The shape of the array units.
constexpr int kArrayRows = 4;
constexpr int kArrayCols = 4;
// Whether the unit is a whole array (kind array or arrayws), played ArrayStream beats.
bool is_array(const Unit& unit);

// mul, mulheld (the multiplier behind a PE's operand hold), mac, pe, pews; per kind LBFP8, BFP8, then
// BFP8 with LBFP8's zero handling. Then fmtmul, fmtmac and fmtpe: INT8, FP8 E4M3, FP8 E5M2 (fmtpe
// also each with the operand hold, variant "iso"); then the MX MACs and PEs.
const std::vector<Unit>& units();
const Unit& unit(const std::string& kind, const std::string& format,
                 const std::string& variant = "");

// The LBFP multiplier at one point of the LBFP family (`lbfp synth --units lbfpmul
// --lbfp-points W:F,...`): kind lbfpmul, format lbfp_family_name(W, F) ("lbfp7f3"), the top of
// the mul unit (lbfp_mul_unit) with DataWidth = W and FracBits = F set by chparam (P = 8), in the
// folder lbfp_mul_unit_lbfp7f3. The LBFP8 mul unit itself is untouched (no parameter override).
// With kind lbfpmac, the MAC unit's top (lbfp_mac, A = 32) the same way, in lbfp_mac_lbfp7f3.
// Throws std::invalid_argument unless 3 <= W <= 8 and 1 <= F <= min(6, W - 2), or for another
// kind.
Unit lbfp_family_unit(int width, int frac_bits, const std::string& kind = "lbfpmul");
// A point "W:F" ("7:3") as lbfp_family_unit takes it; throws std::invalid_argument naming it.
std::pair<int, int> parse_lbfp_point(const std::string& point);

struct Tools {
  std::string yosys;
  std::string verilator;
  std::string liberty;
  std::string source_dir;  // the repository: rtl/ and synth/ below it
  std::string work_dir;    // per-unit folders are made here
  int build_jobs = 2;
};
// The tools this binary was configured with (CMake's YOSYS_EXECUTABLE etc.) and the default
// liberty location that scripts/setup.sh unpacks to.
Tools default_tools();

struct SynthResult {
  std::string dir;
  double area_um2 = 0.0;
  int64_t transistors = 0;
  int64_t cell_count = 0;
  std::map<std::string, int64_t> cells;
  std::string netlist_verilog;
  std::string netlist_json;
};

// Runs yosys -c synth/flow.tcl for the unit; throws std::runtime_error with the log's tail.
SynthResult synthesize(const Tools& tools, const Unit& unit);

// One operation of an operand stream.
struct Op {
  uint8_t a = 0;
  uint8_t b = 0;
  bool valid = true;
  bool first = false;
  bool last = false;
  bool zero = false;  // the product's zero flag, for a unit with a zero_i port (held operands)
};

// Verilates the netlist with the generated cell models and synth/harness/activity_main.cpp.
// Returns the path of the built simulator.
std::string build_activity_model(const Tools& tools, const Unit& unit, const SynthResult& synth,
                                 const LibertyLibrary& library);

struct NetToggles {
  uint64_t rises = 0;
  uint64_t falls = 0;
};
struct Activity {
  uint64_t ops = 0;
  std::map<std::string, NetToggles> nets;  // "n12", "a_i[3]"
  std::vector<std::vector<uint64_t>> outputs;  // per op: a, b, then the unit's outputs
};
// Plays the stream into the simulator; `name` labels its files in the unit's folder.
Activity run_activity(const std::string& simulator, const std::string& dir,
                      const std::string& name, const std::vector<Op>& stream,
                      bool record_outputs);
// Plays an array unit's beats (synth/harness/array_activity_main.cpp) and checks every output row
// against the golden one the stream carries: throws std::runtime_error on the first difference.
// Activity::ops is the stream's MAC count, so the energy per operation is per MAC.
Activity run_array_activity(const std::string& simulator, const std::string& dir,
                            const std::string& name, const ArrayStream& stream);

}  // namespace lbfp::synth
