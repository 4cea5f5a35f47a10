// A reader for the parts of a Liberty (.lib) standard-cell library that the area and energy
// estimate needs: cell area, pin capacitance, pin functions, flip-flop groups and the
// internal-power tables. Enough for the OSU 0.18 um library; not a general Liberty front end.
#pragma once

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
  // Bilinear interpolation, clamped to the table's range.
  double lookup(double x1, double x2 = 0.0) const;
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

// A Liberty boolean function as a Verilog expression ("(!((A B)+C))" -> "(~((A & B)|C))").
std::string liberty_function_to_verilog(const std::string& function);

// Simple behavioural Verilog models of every combinational cell and flip-flop of the library, that
// Verilator can simulate (the library's own models use sequential UDPs, which it cannot).
std::string cell_models_verilog(const LibertyLibrary& library);

}  // namespace lbfp::synth
