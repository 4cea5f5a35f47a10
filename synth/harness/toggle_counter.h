// The transition counter of the activity harnesses (activity_main.cpp, array_activity_main.cpp):
// a VerilatedVcdFile that parses the VCD text as Verilator writes it.
#pragma once
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <map>
#include <ostream>
#include <sstream>
#include <string>
#include <vector>

#include "verilated_vcd_c.h"

namespace lbfp::synth {

// Parses the VCD text as Verilator writes it and counts transitions per identifier code.
class ToggleCounter : public VerilatedVcdFile {
 public:
  bool open(const std::string&) override { return true; }
  void close() override {}
  ssize_t write(const char* bufp, ssize_t len) override {
    if (copy_) copy_.write(bufp, len);
    for (ssize_t i = 0; i < len; ++i) {
      if (bufp[i] == '\n') {
        line(pending_);
        pending_.clear();
      } else {
        pending_ += bufp[i];
      }
    }
    return len;
  }

  void write_counts(std::ostream& out) const {
    for (const auto& [code, var] : vars_) {
      for (const std::string& name : var.names) {
        for (int bit = 0; bit < var.width; ++bit) {
          const auto& c = counts_.at(code);
          out << name;
          if (var.vector) out << '[' << (var.lsb + bit) << ']';
          out << ' ' << c.rises[static_cast<size_t>(bit)] << ' '
              << c.falls[static_cast<size_t>(bit)] << '\n';
        }
      }
    }
  }

 private:
  struct Var {
    int width = 1;
    bool vector = false;
    int lsb = 0;
    std::vector<std::string> names;
  };
  struct Count {
    std::string value;  // current bits, msb first; empty before the first value
    std::vector<uint64_t> rises, falls;
  };

  void line(const std::string& raw) {
    const size_t first = raw.find_first_not_of(" \t");
    if (first == std::string::npos) return;
    const std::string text = raw.substr(first);
    if (text.rfind("$scope", 0) == 0) {
      ++depth_;
      return;
    }
    if (text.rfind("$upscope", 0) == 0) {
      --depth_;
      return;
    }
    if (text.rfind("$var", 0) == 0) {
      // $var wire 8 # a_i [7:0] $end  -- only the netlist's own nets (TOP.<module>)
      if (depth_ != 2) return;
      std::istringstream in(text);
      std::string kw, type, code, name, range;
      int width = 1;
      in >> kw >> type >> width >> code >> name >> range;
      Var& var = vars_[code];
      var.width = width;
      if (range.size() > 2 && range[0] == '[') {
        var.vector = true;
        var.lsb = std::stoi(range.substr(range.find(':') + 1));
      }
      var.names.push_back(name);
      Count& c = counts_[code];
      c.rises.assign(static_cast<size_t>(width), 0);
      c.falls.assign(static_cast<size_t>(width), 0);
      return;
    }
    if (text[0] == '$' || text[0] == '#') return;
    std::string value, code;
    if (text[0] == 'b') {
      const size_t space = text.find(' ');
      value = text.substr(1, space - 1);
      code = text.substr(space + 1);
    } else {
      value = text.substr(0, 1);
      code = text.substr(1);
    }
    auto it = counts_.find(code);
    if (it == counts_.end()) return;
    Count& c = it->second;
    const size_t width = c.rises.size();
    if (value.size() < width) value.insert(0, width - value.size(), '0');
    if (!c.value.empty()) {
      for (size_t i = 0; i < width; ++i) {
        const size_t bit = width - 1 - i;  // value is msb first
        if (c.value[i] == '0' && value[i] == '1') ++c.rises[bit];
        if (c.value[i] == '1' && value[i] == '0') ++c.falls[bit];
      }
    }
    c.value = value;
  }

  std::string pending_;
  // LBFP_ACTIVITY_VCD=<file> also writes the VCD text there, for debugging.
  std::ofstream copy_{std::getenv("LBFP_ACTIVITY_VCD") ? std::getenv("LBFP_ACTIVITY_VCD") : ""};
  int depth_ = 0;
  std::map<std::string, Var> vars_;
  std::map<std::string, Count> counts_;
};

}  // namespace lbfp::synth
