// The clocked multiplier -> shifter pipeline and the requantizer, driven through SystemC signals
// on every LBFP8 operand pair, against the golden reference.
#include <gtest/gtest.h>

#include <random>
#include <systemc>

#include "lbfp/arch/units.h"
#include "lbfp/arith.h"

namespace lbfp::arch {
namespace {

using sc_core::SC_NS;
using sc_core::sc_time;

TEST(SystemCUnits, MultiplierAndShifterOnEveryPair) {
  const LbfpFormat& f = lbfp8();
  sc_core::sc_clock clk("clk", sc_time(1, SC_NS));
  sc_core::sc_signal<uint32_t> a("a"), b("b"), lut("lut"), shift("shift");
  sc_core::sc_signal<bool> negative("negative");
  sc_core::sc_signal<int64_t> product("product");
  LbfpMultiplier mul("mul", f);
  LbfpShifter sh("sh", f);
  mul.clk(clk);
  mul.a(a);
  mul.b(b);
  mul.negative(negative);
  mul.lut_value(lut);
  mul.shift(shift);
  sh.clk(clk);
  sh.negative(negative);
  sh.lut_value(lut);
  sh.shift(shift);
  sh.product(product);

  // Operands change just after each rising edge (t = n + 0.25 ns); the product of the pair
  // applied in cycle n leaves the shifter two edges later.
  sc_core::sc_start(sc_time(0.25, SC_NS));
  uint64_t mismatches = 0;
  for (int i = 0; i <= 65536; ++i) {
    if (i < 65536) {
      a.write(static_cast<uint32_t>(i >> 8));
      b.write(static_cast<uint32_t>(i & 255));
    }
    sc_core::sc_start(sc_time(1, SC_NS));
    const int j = i - 1;  // the pair whose product is now registered in the shifter
    if (j >= 0) {
      const int64_t want = accumulator_term(
          multiply(f, static_cast<Code>(j >> 8), static_cast<Code>(j & 255)), f.acc_bits());
      if (product.read() != want && ++mismatches < 5) {
        ADD_FAILURE() << std::hex << "a=" << (j >> 8) << " b=" << (j & 255) << std::dec
                      << " got " << product.read() << " want " << want;
      }
    }
  }
  EXPECT_EQ(mismatches, 0u);
}

TEST(SystemCUnits, RequantizerAgainstGolden) {
  const LbfpFormat& f = lbfp8();
  sc_core::sc_clock clk("clk", sc_time(1, SC_NS));
  sc_core::sc_signal<int64_t> acc("acc");
  sc_core::sc_signal<int> scale("scale"), out_exp("out_exp");
  sc_core::sc_signal<bool> relu("relu");
  sc_core::sc_signal<uint32_t> code("code");
  LbfpRequantizer rq("rq", f);
  rq.clk(clk);
  rq.acc(acc);
  rq.scale(scale);
  rq.out_exponent(out_exp);
  rq.relu(relu);
  rq.code(code);
  std::mt19937 rng(3);
  std::uniform_int_distribution<int64_t> accs(-(int64_t{1} << 31), (int64_t{1} << 31) - 1);
  std::uniform_int_distribution<int> exps(-30, 10);
  sc_core::sc_start(sc_time(0.25, SC_NS));
  for (int i = 0; i < 5000; ++i) {
    const int64_t v = accs(rng) >> (i % 31);
    const int s = exps(rng);
    const int e = exps(rng) / 3;
    const bool r = (i & 1) != 0;
    acc.write(v);
    scale.write(s);
    out_exp.write(e);
    relu.write(r);
    sc_core::sc_start(sc_time(1, SC_NS));
    ASSERT_EQ(code.read(), requantize(f, v, s, e, r)) << v << " " << s << " " << e;
  }
}

}  // namespace
}  // namespace lbfp::arch
