#include "lbfp/arch/units.h"

namespace lbfp::arch {

LbfpMultiplier::LbfpMultiplier(sc_core::sc_module_name name, const LbfpFormat& format)
    : sc_module(name), format_(format) {
  SC_METHOD(step);
  sensitive << clk.pos();
  dont_initialize();
}

void LbfpMultiplier::step() {
  const LbfpProduct p =
      multiply(format_, static_cast<Code>(a.read()), static_cast<Code>(b.read()));
  negative.write(p.negative);
  lut_value.write(p.lut_value);
  shift.write(static_cast<uint32_t>(p.shift));
}

LbfpShifter::LbfpShifter(sc_core::sc_module_name name, const LbfpFormat& format)
    : sc_module(name), format_(format) {
  SC_METHOD(step);
  sensitive << clk.pos();
  dont_initialize();
}

void LbfpShifter::step() {
  LbfpProduct p;
  p.negative = negative.read();
  p.lut_value = lut_value.read();
  p.shift = static_cast<int>(shift.read());
  product.write(accumulator_term(p, format_.acc_bits()));
}

LbfpRequantizer::LbfpRequantizer(sc_core::sc_module_name name, const LbfpFormat& format)
    : sc_module(name), format_(format) {
  SC_METHOD(step);
  sensitive << clk.pos();
  dont_initialize();
}

void LbfpRequantizer::step() {
  code.write(requantize(format_, acc.read(), scale.read(), out_exponent.read(), relu.read()));
}

}  // namespace lbfp::arch
