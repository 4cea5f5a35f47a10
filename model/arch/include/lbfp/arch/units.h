// The datapath units as clocked SystemC modules, one register stage each, for unit-level
// models and tests: the LBFP multiplier (sign XOR, zero detect, code adder, LUT), the shifter
// (LUT value << q) and the requantizer. Their arithmetic is the golden reference's.
#pragma once

#include <cstdint>

#include <systemc>

#include "lbfp/arith.h"
#include "lbfp/format.h"

namespace lbfp::arch {

// Registers {negative, LUT value, shift} of a x b on each rising clock edge.
SC_MODULE(LbfpMultiplier) {
  SC_HAS_PROCESS(LbfpMultiplier);
  sc_core::sc_in<bool> clk{"clk"};
  sc_core::sc_in<uint32_t> a{"a"};
  sc_core::sc_in<uint32_t> b{"b"};
  sc_core::sc_out<bool> negative{"negative"};
  sc_core::sc_out<uint32_t> lut_value{"lut_value"};
  sc_core::sc_out<uint32_t> shift{"shift"};

  LbfpMultiplier(sc_core::sc_module_name name, const LbfpFormat& format);

 private:
  void step();
  LbfpFormat format_;
};

// Registers the signed product (-1)^negative * (lut_value << shift), clamped to an A-bit
// accumulator term, on each rising clock edge.
SC_MODULE(LbfpShifter) {
  SC_HAS_PROCESS(LbfpShifter);
  sc_core::sc_in<bool> clk{"clk"};
  sc_core::sc_in<bool> negative{"negative"};
  sc_core::sc_in<uint32_t> lut_value{"lut_value"};
  sc_core::sc_in<uint32_t> shift{"shift"};
  sc_core::sc_out<int64_t> product{"product"};

  LbfpShifter(sc_core::sc_module_name name, const LbfpFormat& format);

 private:
  void step();
  LbfpFormat format_;
};

// Registers requantize(acc, scale, out_exp, relu) on each rising clock edge.
SC_MODULE(LbfpRequantizer) {
  SC_HAS_PROCESS(LbfpRequantizer);
  sc_core::sc_in<bool> clk{"clk"};
  sc_core::sc_in<int64_t> acc{"acc"};
  sc_core::sc_in<int> scale{"scale"};
  sc_core::sc_in<int> out_exponent{"out_exponent"};
  sc_core::sc_in<bool> relu{"relu"};
  sc_core::sc_out<uint32_t> code{"code"};

  LbfpRequantizer(sc_core::sc_module_name name, const LbfpFormat& format);

 private:
  void step();
  LbfpFormat format_;
};

}  // namespace lbfp::arch
