// A reader for the parts of a Liberty (.lib) standard-cell library that the area and energy
// estimate needs: cell area, pin capacitance, pin functions, flip-flop groups, the internal-power
// tables and the NLDM timing arcs of the output pins (for the timed activity simulation).
// Enough for the OSU 0.18 um library; not a general Liberty front end.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace lbfp::synth {

// A one- or two-dimensional look-up table. index_1 runs over the rows of `values`, index_2 over
// the columns (a one-dimensional table has a single row and an empty index_2... or index_1 only).
struct LibertyTable {
  std::vector<double> index_1;
  std::vector<double> index_2;
  std::vector<std::vector<double>> values;
  // The template's variable_1 / variable_2 ("total_output_net_capacitance",
  // "input_net_transition", ...); empty when the template does not name them.
  std::string variable_1;
  std::string variable_2;
  std::string source;  // "file:line" of the table's group, for error messages
  // Bilinear interpolation, clamped to the table's range.
  double lookup(double x1, double x2 = 0.0) const;
  // A delay or transition table at an output load and an input transition, whatever the order
  // of its template's variables. Throws std::runtime_error naming `source` for a template over
  // anything else.
  double lookup_load_slew(double load_pf, double slew_ns) const;
};

// One timing() group of an output pin: the NLDM delay and output-transition tables of the arc
// from related_pin to this pin (OSU: index_1 the output load in pF, index_2 the input
// transition in ns, per the delay_template_* templates; lookup_load_slew reads either order).
struct LibertyTiming {
  std::vector<std::string> related_pins;  // related_pin may name several pins
  std::string timing_sense;               // positive_unate, negative_unate, non_unate
  std::string timing_type;                // empty for a combinational arc
  std::optional<LibertyTable> cell_rise;
  std::optional<LibertyTable> cell_fall;
  std::optional<LibertyTable> rise_transition;
  std::optional<LibertyTable> fall_transition;
  std::string source;  // "file:line" of the timing() group
};

struct InternalPower {
  std::string related_pin;  // empty for an input pin's own (passive) power
  std::optional<LibertyTable> rise;
  std::optional<LibertyTable> fall;
};

struct LibertyPin {
  std::string name;
  bool is_output = false;
  double capacitance_pf = 0.0;
  std::string function;  // Liberty syntax: juxtaposition AND, + OR, ^ XOR, ! NOT
  bool is_clock = false;
  std::vector<InternalPower> internal_power;
  std::vector<LibertyTiming> timing;  // output pins only
};

struct LibertyFlipFlop {
  std::string state;  // the state variable (first name of ff(...))
  std::string state_inverted;
  std::string next_state;
  std::string clocked_on;
  std::string clear;   // empty if none
  std::string preset;  // empty if none
};

struct LibertyCell {
  std::string name;
  double area = 0.0;          // square micrometres in the OSU library
  double leakage_nw = 0.0;
  std::vector<LibertyPin> pins;
  std::optional<LibertyFlipFlop> ff;
  bool is_latch_or_tristate = false;  // not modelled

  const LibertyPin* pin(const std::string& name) const;
};

struct LibertyLibrary {
  std::string name;
  double nominal_voltage = 0.0;
  std::map<std::string, LibertyCell> cells;

  const LibertyCell& cell(const std::string& name) const;  // throws std::out_of_range
};

// Throws std::runtime_error naming the file (and line) when it cannot be read or parsed.
LibertyLibrary read_liberty(const std::string& path);

// The truth table of a Liberty boolean function over `inputs`: entry m is the function's value
// when input i is bit i of m. Operators: ! and postfix ' (NOT), ^ (XOR), & * and juxtaposition
// (AND), | + (OR), parentheses, constants 0 and 1; precedence as in the Liberty reference: NOT,
// then XOR, then AND, then OR. Throws std::runtime_error for a syntax error or a name not in
// `inputs` (at most 16 inputs).
std::vector<uint8_t> liberty_function_truth_table(const std::string& function,
                                                  const std::vector<std::string>& inputs);

// A Liberty boolean function as a Verilog expression ("(!((A B)+C))" -> "(~((A & B)|C))").
std::string liberty_function_to_verilog(const std::string& function);

// Simple behavioural Verilog models of every combinational cell and flip-flop of the library, that
// Verilator can simulate (the library's own models use sequential UDPs, which it cannot).
std::string cell_models_verilog(const LibertyLibrary& library);

}  // namespace lbfp::synth
