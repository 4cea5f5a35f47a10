#include "Vtb_fmt_pe.h"
#include "Vtb_units.h"
#include "bench.h"
#include "verilated_bits.h"

#include <cstdlib>
#include <functional>
#include <map>
#include <optional>
#include <random>
#include <sstream>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "lbfp/arith.h"
#include "lbfp/rtl/cosim.h"
#include "lbfp/scaled_format.h"

namespace lbfp::rtl {
namespace {

using vl::get_bits;
using vl::low_mask;
using vl::put_bits;
using vl::sign_extend;

std::string hex(unsigned code) {
  std::ostringstream s;
  s << "0x" << std::hex << code;
  return s.str();
}

}  // namespace

// ---- multipliers --------------------------------------------------------------------------------

CosimReport cosim_lbfp_mul() {
  const LbfpFormat& format = lbfp8();
  CosimReport report;
  report.name = "lbfp8 multiplier + shifter (isolating and held-operand), exhaustive";
  Bench<Vtb_units> bench("lbfp_mul");
  auto& top = bench.top();
  for (unsigned a = 0; a < 256; ++a) {
    for (unsigned b = 0; b < 256; ++b) {
      const LbfpProduct golden = multiply(format, static_cast<Code>(a), static_cast<Code>(b));
      top.lbfp_a_i = static_cast<CData>(a);
      top.lbfp_b_i = static_cast<CData>(b);
      top.lbfp_held_zero_i = golden.is_zero() ? 1 : 0;
      bench.eval();
      ++report.cases;
      const int64_t held_value = sign_extend(top.lbfp_held_prod_o, 25);
      // The held-operand PE raises the flag on any codes it keeps through a zero product.
      top.lbfp_held_zero_i = 1;
      bench.eval();
      const int64_t held_flagged = sign_extend(top.lbfp_held_prod_o, 25);
      const int64_t golden_value = golden.to_int64().value();
      const bool rtl_zero = top.lbfp_zero_o != 0;
      const bool rtl_neg = top.lbfp_neg_o != 0;
      const uint32_t rtl_lut = top.lbfp_lut_o;
      const int rtl_shift = top.lbfp_shift_o;
      const int64_t rtl_value = sign_extend(top.lbfp_prod_o, 25);
      const bool same = rtl_zero == golden.is_zero() && rtl_value == golden_value &&
                        (golden.is_zero() ? (rtl_lut == 0 && rtl_shift == 0 && !rtl_neg)
                                          : (rtl_neg == golden.negative &&
                                             rtl_lut == golden.lut_value &&
                                             rtl_shift == golden.shift)) &&
                        held_value == golden_value && held_flagged == 0;
      if (!same) {
        std::ostringstream s;
        s << "a=" << hex(a) << " b=" << hex(b) << ": rtl {zero=" << rtl_zero << " neg=" << rtl_neg
          << " lut=" << rtl_lut << " shift=" << rtl_shift << " product=" << rtl_value
          << "} golden {zero=" << golden.is_zero() << " neg=" << golden.negative
          << " lut=" << golden.lut_value << " shift=" << golden.shift
          << " product=" << golden_value << "}; held-operand product " << held_value
          << ", with the zero flag raised " << held_flagged;
        report.add_mismatch(s.str());
      }
    }
  }
  return report;
}

CosimReport cosim_bfp_mul() {
  const BfpFormat& format = bfp8();
  CosimReport report;
  report.name = "bfp8 multiplier (plain and isolated), exhaustive";
  Bench<Vtb_units> bench("bfp_mul");
  auto& top = bench.top();
  for (unsigned a = 0; a < 256; ++a) {
    for (unsigned b = 0; b < 256; ++b) {
      top.bfp_a_i = static_cast<CData>(a);
      top.bfp_b_i = static_cast<CData>(b);
      bench.eval();
      ++report.cases;
      const bool in_format = a != 0x80 && b != 0x80;
      const int64_t expected =
          in_format ? multiply(format, static_cast<Code>(a), static_cast<Code>(b))
                    : int64_t{static_cast<int8_t>(a)} * static_cast<int8_t>(b);
      const int64_t rtl = sign_extend(top.bfp_prod_o, 16);
      const int64_t rtl_iso = sign_extend(top.bfp_iso_prod_o, 16);
      if (rtl != expected || rtl_iso != expected) {
        std::ostringstream s;
        s << "a=" << hex(a) << " b=" << hex(b) << ": rtl " << rtl << ", with operand isolation "
          << rtl_iso << ", expected " << expected
          << (in_format ? " (golden)" : " (integer product of the unused code)");
        report.add_mismatch(s.str());
      }
    }
  }
  return report;
}

namespace {

// A Verilated wide port (VlWide, 32-bit words) or a plain integer port as a signed 128-bit value.
__extension__ typedef unsigned __int128 UInt128;

template <typename Port>
Int128 signed_port(const Port& port, int bits) {
  UInt128 raw = 0;
  if constexpr (std::is_integral_v<Port>) {
    raw = static_cast<uint64_t>(port);
  } else {
    for (int w = (bits + 31) / 32 - 1; w >= 0; --w) raw = (raw << 32) | port[w];
  }
  const UInt128 sign = static_cast<UInt128>(1) << (bits - 1);
  raw &= (sign << 1) - 1;
  return static_cast<Int128>(raw ^ sign) - static_cast<Int128>(sign);
}

// The golden product, or nothing for a code pair that the format rejects (NaN, infinity).
std::optional<Int128> golden_scaled(const ScaledFormat& format, unsigned a, unsigned b) {
  try {
    return multiply(format, static_cast<Code>(a), static_cast<Code>(b));
  } catch (const std::out_of_range&) {
    return std::nullopt;
  }
}

}  // namespace

CosimReport cosim_int8_mul() {
  // MXINT8 shares INT8's product integer (only L differs); both are checked.
  const ScaledFormat int8(ElementKind::kInt8, ScaleKind::kTensor);
  const ScaledFormat mxint8(ElementKind::kInt8, ScaleKind::kMxBlock);
  CosimReport report;
  report.name = "int8 / mxint8 multiplier (bfp_mul, plain and isolated), exhaustive";
  Bench<Vtb_units> bench("int8_mul");
  auto& top = bench.top();
  for (unsigned a = 0; a < 256; ++a) {
    for (unsigned b = 0; b < 256; ++b) {
      top.bfp_a_i = static_cast<CData>(a);
      top.bfp_b_i = static_cast<CData>(b);
      bench.eval();
      ++report.cases;
      const Int128 golden = multiply(int8, static_cast<Code>(a), static_cast<Code>(b));
      const Int128 golden_mx = multiply(mxint8, static_cast<Code>(a), static_cast<Code>(b));
      const Int128 rtl = signed_port(top.bfp_prod_o, 16);
      const Int128 rtl_iso = signed_port(top.bfp_iso_prod_o, 16);
      if (rtl != golden || rtl_iso != golden || golden_mx != golden) {
        std::ostringstream s;
        s << "a=" << hex(a) << " b=" << hex(b) << ": rtl " << to_decimal(rtl)
          << ", with operand isolation " << to_decimal(rtl_iso) << ", golden int8 "
          << to_decimal(golden) << ", mxint8 " << to_decimal(golden_mx);
        report.add_mismatch(s.str());
      }
    }
  }
  return report;
}

CosimReport cosim_fp8_mul() {
  const ScaledFormat e4m3(ElementKind::kE4M3, ScaleKind::kTensor);
  const ScaledFormat e5m2(ElementKind::kE5M2, ScaleKind::kTensor);
  const ScaledFormat mx_e4m3(ElementKind::kE4M3, ScaleKind::kMxBlock);
  const ScaledFormat mx_e5m2(ElementKind::kE5M2, ScaleKind::kMxBlock);
  CosimReport report;
  report.name = "fp8 e4m3 / e5m2 multipliers (fp8_mul; also mxfp8), exhaustive";
  Bench<Vtb_units> bench("fp8_mul");
  auto& top = bench.top();
  for (unsigned a = 0; a < 256; ++a) {
    for (unsigned b = 0; b < 256; ++b) {
      top.fp8_a_i = static_cast<CData>(a);
      top.fp8_b_i = static_cast<CData>(b);
      bench.eval();
      report.cases += 2;
      struct Check {
        const char* name;
        std::optional<Int128> golden, golden_mx;
        bool invalid;
        Int128 rtl;
      };
      const Check checks[] = {
          {"e4m3", golden_scaled(e4m3, a, b), golden_scaled(mx_e4m3, a, b),
           top.e4m3_invalid_o != 0, signed_port(top.e4m3_prod_o, 37)},
          {"e5m2", golden_scaled(e5m2, a, b), golden_scaled(mx_e5m2, a, b),
           top.e5m2_invalid_o != 0, signed_port(top.e5m2_prod_o, 65)}};
      for (const Check& c : checks) {
        // A rejected code pair must raise invalid_o (its product is unspecified).
        const bool same = c.golden == c.golden_mx &&
                          (c.golden ? (!c.invalid && c.rtl == *c.golden) : c.invalid);
        if (!same) {
          std::ostringstream s;
          s << c.name << " a=" << hex(a) << " b=" << hex(b) << ": rtl {invalid=" << c.invalid
            << " product=" << to_decimal(c.rtl) << "} golden "
            << (c.golden ? to_decimal(*c.golden) : std::string("rejected"));
          report.add_mismatch(s.str());
        }
      }
    }
  }
  return report;
}

// ---- MACs of the section 13 formats -------------------------------------------------------------

namespace {

// One operation of a MAC stream: the codes and flags of one clock cycle.
struct MacOp {
  unsigned a = 0;
  unsigned b = 0;
  bool valid = true;
  bool first = false;
};

// The golden MAC of one format: lbfp::multiply and WideAccumulator's saturating step in k order,
// restarted from zero by `first`. A code the format rejects (NaN, infinity) ends the reduction
// without a result (`invalid`) until the next `first`.
class GoldenMac {
 public:
  explicit GoldenMac(const ScaledFormat& format) : format_(format), acc_(format.acc_bits()) {}
  void step(const MacOp& op) {
    if (!op.valid) return;
    if (op.first) {
      acc_ = WideAccumulator(format_.acc_bits());
      invalid_ = false;
    }
    if (invalid_) return;
    try {
      acc_.add(multiply(format_, static_cast<Code>(op.a), static_cast<Code>(op.b)));
    } catch (const std::out_of_range&) {
      invalid_ = true;
    }
  }
  const ScaledFormat& format() const { return format_; }
  Int128 value() const { return acc_.value(); }
  bool overflowed() const { return acc_.overflow_count() > 0; }
  bool invalid() const { return invalid_; }

 private:
  ScaledFormat format_;
  WideAccumulator acc_;
  bool invalid_ = false;
};

// A positive (or negative) product of `format` of every magnitude it has, one code pair each,
// largest magnitude first: the steps of a reduction that lands exactly on a value.
struct ProductStep {
  Int128 magnitude;
  unsigned a, b;
};
std::vector<ProductStep> product_steps(const ScaledFormat& format, bool negative) {
  std::map<Int128, std::pair<unsigned, unsigned>, std::greater<Int128>> by_magnitude;
  for (unsigned a = 0; a < 256; ++a) {
    for (unsigned b = 0; b < 256; ++b) {
      std::optional<Int128> p = golden_scaled(format, a, b);
      if (!p || *p == 0 || (*p < 0) != negative) continue;
      by_magnitude.emplace(negative ? -*p : *p, std::make_pair(a, b));
    }
  }
  std::vector<ProductStep> steps;
  for (const auto& [m, codes] : by_magnitude) steps.push_back({m, codes.first, codes.second});
  return steps;
}

// Appends a reduction of `format`'s products whose exact sum is `target` (same sign as the steps,
// |target| reachable since 1 is a product of every format): largest steps first.
void append_exact_sum(const std::vector<ProductStep>& steps, Int128 target, bool first,
                      std::vector<MacOp>& ops) {
  Int128 left = target < 0 ? -target : target;
  for (const ProductStep& s : steps) {
    while (left >= s.magnitude) {
      ops.push_back({s.a, s.b, true, first});
      first = false;
      left -= s.magnitude;
    }
  }
}

// The saturating and boundary reductions of one format: exactly onto the accumulator's largest
// value, one LSB beyond it (saturates), one LSB back (the flag stays); the same at the smallest
// value; then a run far past each limit, and back.
void append_boundary_streams(const ScaledFormat& format, std::vector<MacOp>& ops) {
  const std::vector<ProductStep> up = product_steps(format, false);
  const std::vector<ProductStep> down = product_steps(format, true);
  const Int128 max = (static_cast<Int128>(1) << (format.acc_bits() - 1)) - 1;
  const ProductStep& one_up = up.back();  // magnitude 1
  const ProductStep& one_down = down.back();
  // Exactly the largest value, no overflow; then +1 (saturates), -1.
  append_exact_sum(up, max, true, ops);
  ops.push_back({one_up.a, one_up.b, false, false});  // an idle cycle at the limit
  ops.push_back({one_up.a, one_up.b, true, false});
  ops.push_back({one_down.a, one_down.b, true, false});
  // Exactly the smallest value -2^(A-1): -(max) then -1; then -1 more (saturates), +1.
  append_exact_sum(down, -max, true, ops);
  ops.push_back({one_down.a, one_down.b, true, false});
  ops.push_back({one_down.a, one_down.b, true, false});
  ops.push_back({one_up.a, one_up.b, true, false});
  // Far past the largest value with the largest product, then down past the smallest.
  for (int i = 0; i < 2; ++i) {
    const ProductStep& big = i == 0 ? up.front() : down.front();
    const Int128 steps = (max / big.magnitude) * 5 / 4 + 2;
    for (Int128 k = 0; k < steps; ++k) ops.push_back({big.a, big.b, true, k == 0});
    const ProductStep& back = i == 0 ? down.front() : up.front();
    for (Int128 k = 0; k < 2 * steps; ++k) ops.push_back({back.a, back.b, true, false});
  }
}

}  // namespace

namespace {

// The INT8 MAC and PE are also MXINT8's, the FP8 ones also MXFP8's (the E8M0 scale is outside);
// one product and accumulator step each, so the per-tensor formats are the golden models.
const ScaledFormat& fmt_format(size_t f) {
  static const ScaledFormat formats[] = {ScaledFormat(ElementKind::kInt8, ScaleKind::kTensor),
                                         ScaledFormat(ElementKind::kE4M3, ScaleKind::kTensor),
                                         ScaledFormat(ElementKind::kE5M2, ScaleKind::kTensor)};
  return formats[f];
}
constexpr size_t kFmtCount = 3;

// The stream of the section 13 MACs and PEs: every code pair as a one-term reduction, then
// reductions of random codes (`random_ops` operations, starting at *random_begin), then each
// format's boundary and saturating reductions.
std::vector<MacOp> fmt_stream(uint64_t seed, int random_ops, size_t* random_begin,
                              size_t* random_end) {
  // 1. Every code pair as a one-term reduction: the product, exhaustively.
  std::vector<MacOp> ops;
  ops.reserve(65536 * 2);
  for (unsigned a = 0; a < 256; ++a) {
    for (unsigned b = 0; b < 256; ++b) ops.push_back({a, b, true, true});
  }
  // 2. Random reductions of 1..96 terms with idle cycles, codes drawn from the values of every
  // format (no E5M2 NaN / infinity code, which also leaves out E4M3's NaN), one in 256 a NaN or
  // infinity code instead.
  *random_begin = ops.size();
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<unsigned> code(0, 255);
  std::uniform_int_distribution<int> length(1, 96);
  auto draw = [&]() {
    for (;;) {
      const unsigned c = code(rng);
      if ((c & 0x7c) != 0x7c || code(rng) == 0) return c;
    }
  };
  while (static_cast<int>(ops.size()) < 65536 + random_ops) {
    const int n = length(rng);
    for (int k = 0; k < n; ++k) {
      if (code(rng) < 24) ops.push_back({draw(), draw(), false, k == 0});  // idle
      ops.push_back({draw(), draw(), true, k == 0});
    }
  }
  *random_end = ops.size();
  // 3. Each format's boundary and saturating reductions (all three MACs see each stream).
  for (size_t f = 0; f < kFmtCount; ++f) append_boundary_streams(fmt_format(f), ops);
  return ops;
}

}  // namespace

CosimReport cosim_fmt_mac(uint64_t seed, int random_ops) {
  GoldenMac golden[] = {GoldenMac(fmt_format(0)), GoldenMac(fmt_format(1)),
                        GoldenMac(fmt_format(2))};
  size_t random_begin = 0;
  size_t random_end = 0;
  const std::vector<MacOp> ops = fmt_stream(seed, random_ops, &random_begin, &random_end);

  CosimReport report;
  report.name = "int8 / mxint8 (bfp_mac, A=32), fp8 e4m3 (A=42) and e5m2 (A=70) MACs: every "
                "pair, random, boundary and saturating reductions";
  Bench<Vtb_units> bench("fmt_mac");
  auto& top = bench.top();
  top.rst_ni = 0;
  top.mac_valid_i = 0;
  bench.cycle();
  top.rst_ni = 1;
  uint64_t saturated = 0;
  for (size_t i = 0; i < ops.size(); ++i) {
    const MacOp& op = ops[i];
    top.mac_a_i = static_cast<CData>(op.a);
    top.mac_b_i = static_cast<CData>(op.b);
    top.mac_valid_i = op.valid ? 1 : 0;
    top.mac_first_i = op.first ? 1 : 0;
    bench.cycle();
    struct Rtl {
      Int128 acc;
      bool ovf, invalid;
    };
    const Rtl rtl[] = {
        {signed_port(top.int8_acc_o, 32), top.int8_ovf_o != 0, false},
        {signed_port(top.e4m3_acc_o, 42), top.e4m3_ovf_o != 0, top.e4m3_mac_invalid_o != 0},
        {signed_port(top.e5m2_acc_o, 70), top.e5m2_ovf_o != 0, top.e5m2_mac_invalid_o != 0}};
    for (size_t f = 0; f < 3; ++f) {
      GoldenMac& g = golden[f];
      g.step(op);
      ++report.cases;
      // After a NaN or infinity the reduction has no value: only the flag is checked.
      const bool same = rtl[f].invalid == g.invalid() &&
                        (g.invalid() || (rtl[f].acc == g.value() && rtl[f].ovf == g.overflowed()));
      if (op.valid && g.overflowed() && !g.invalid()) ++saturated;
      if (!same) {
        std::ostringstream s;
        s << g.format().name() << " operation " << i << " (a=" << hex(op.a) << " b=" << hex(op.b)
          << " valid=" << op.valid << " first=" << op.first << "): rtl {acc=" << to_decimal(rtl[f].acc)
          << " ovf=" << rtl[f].ovf << " invalid=" << rtl[f].invalid << "} golden {acc="
          << to_decimal(g.value()) << " ovf=" << g.overflowed() << " invalid=" << g.invalid()
          << "}";
        report.add_mismatch(s.str());
      }
    }
  }
  report.saturated_outputs = saturated;
  return report;
}

namespace {

// A signed field of `width` bits (up to 126) at `lsb` of a Verilated port.
template <typename Port>
Int128 signed_field(const Port& port, int lsb, int width) {
  const int low = width < 64 ? width : 64;
  using Raw = UInt128;
  Raw raw = get_bits(port, lsb, low);
  if (width > 64) raw |= static_cast<Raw>(get_bits(port, lsb + 64, width - 64)) << 64;
  const Raw sign = static_cast<Raw>(1) << (width - 1);
  return static_cast<Int128>(raw ^ sign) - static_cast<Int128>(sign);
}

// Writes a signed value into a `width`-bit port (two's complement).
template <typename Port>
void put_signed(Port& port, int width, Int128 value) {
  const int low = width < 64 ? width : 64;
  put_bits(port, 0, low, static_cast<uint64_t>(value));
  if (width > 64) put_bits(port, 64, width - 64, static_cast<uint64_t>(value >> 64));
}

// The golden PE of one format: the golden MAC started from the reduction's bias and sticky
// overflow flag (pe.sv's bias_i, init_ovf_i) instead of zero.
class GoldenPe {
 public:
  explicit GoldenPe(const ScaledFormat& format) : format_(format), acc_(format.acc_bits()) {}
  void step(const MacOp& op, Int128 bias, bool init_ovf) {
    if (!op.valid) return;
    if (op.first) {
      acc_ = WideAccumulator(format_.acc_bits(), bias);
      init_ovf_ = init_ovf;
      invalid_ = false;
    }
    if (invalid_) return;
    try {
      acc_.add(multiply(format_, static_cast<Code>(op.a), static_cast<Code>(op.b)));
    } catch (const std::out_of_range&) {
      invalid_ = true;
    }
  }
  const ScaledFormat& format() const { return format_; }
  Int128 value() const { return acc_.value(); }
  bool overflowed() const { return init_ovf_ || acc_.overflow_count() > 0; }
  bool invalid() const { return invalid_; }

 private:
  ScaledFormat format_;
  WideAccumulator acc_;
  bool init_ovf_ = false;
  bool invalid_ = false;
};

}  // namespace

CosimReport cosim_fmt_pe(uint64_t seed, int random_ops) {
  size_t random_begin = 0;
  size_t random_end = 0;
  std::vector<MacOp> ops = fmt_stream(seed, random_ops, &random_begin, &random_end);
  ops.push_back({0, 0, false, false});  // an idle cycle that lets the last product through
  // last_i: a valid operation whose next valid one opens a reduction (or that has none).
  std::vector<bool> last(ops.size(), false);
  bool next_first = true;
  for (size_t i = ops.size(); i-- > 0;) {
    if (!ops[i].valid) continue;
    last[i] = next_first;
    next_first = ops[i].first;
  }
  // Start values: a random bias over each accumulator's whole range for one random reduction in
  // four, with the sticky overflow flag set for one in eight of those (a K split's partial sum);
  // zero elsewhere, so that the exhaustive and boundary reductions land where the MACs' do.
  struct Start {
    Int128 raw = 0;  // each format takes its own A low bits, sign-extended
    bool ovf = false;
  };
  std::vector<Start> start(ops.size());
  std::mt19937_64 rng(seed ^ 0x5045ULL);
  for (size_t i = random_begin; i < random_end; ++i) {
    if (!ops[i].valid || !ops[i].first || rng() % 4 != 0) continue;
    const uint64_t high = rng();
    const uint64_t low = rng();
    start[i].raw = static_cast<Int128>((static_cast<UInt128>(high) << 64) | low);
    start[i].ovf = rng() % 8 == 0;
  }
  const int acc_bits[kFmtCount] = {fmt_format(0).acc_bits(), fmt_format(1).acc_bits(),
                                   fmt_format(2).acc_bits()};  // 32, 42, 70: tb_fmt_pe's ports

  // Per format, the textbook PE and the one with the operand hold: one golden model each (both
  // must equal it).
  GoldenPe golden[] = {GoldenPe(fmt_format(0)), GoldenPe(fmt_format(1)), GoldenPe(fmt_format(2))};
  CosimReport report;
  report.name = "int8 / mxint8 (pe, bfp_mul, A=32), fp8 e4m3 (pe_fp8, A=42) and e5m2 (A=70) PEs, "
                "plain and with the operand hold: every pair, random reductions with biases, "
                "boundary and saturating reductions";
  Bench<Vtb_fmt_pe> bench("fmt_pe");
  auto& top = bench.top();
  top.rst_ni = 0;
  top.valid_i = 0;
  bench.cycle();
  top.rst_ni = 1;
  uint64_t saturated = 0;
  Int128 bias[kFmtCount] = {0, 0, 0};
  for (size_t j = 0; j < ops.size(); ++j) {
    const MacOp& op = ops[j];
    top.a_i = static_cast<CData>(op.a);
    top.b_i = static_cast<CData>(op.b);
    top.valid_i = op.valid ? 1 : 0;
    top.first_i = op.first ? 1 : 0;
    top.last_i = last[j] ? 1 : 0;
    // The accumulator takes operation j - 1 at this clock edge, with its start value.
    const bool has_prev = j > 0;
    const size_t p = has_prev ? j - 1 : 0;
    for (size_t f = 0; f < kFmtCount; ++f) {
      const Int128 raw = has_prev ? start[p].raw : 0;
      const Int128 sign = static_cast<Int128>(1) << (acc_bits[f] - 1);
      const Int128 low = raw & ((sign << 1) - 1);
      bias[f] = (low ^ sign) - sign;
    }
    put_signed(top.int8_bias_i, 32, bias[0]);
    put_signed(top.e4m3_bias_i, 42, bias[1]);
    put_signed(top.e5m2_bias_i, 70, bias[2]);
    top.init_ovf_i = has_prev && start[p].ovf ? 1 : 0;
    bench.cycle();

    struct Rtl {
      Int128 acc[2];
      bool ovf[2], invalid[2], done[2];
      uint64_t fwd[2];
    };
    Rtl rtl[kFmtCount];
    for (int h = 0; h < 2; ++h) {
      rtl[0].acc[h] = signed_field(top.int8_acc_o, 32 * h, 32);
      rtl[1].acc[h] = signed_field(top.e4m3_acc_o, 42 * h, 42);
      rtl[2].acc[h] = signed_field(top.e5m2_acc_o, 70 * h, 70);
      rtl[0].ovf[h] = ((top.int8_ovf_o >> h) & 1) != 0;
      rtl[1].ovf[h] = ((top.e4m3_ovf_o >> h) & 1) != 0;
      rtl[2].ovf[h] = ((top.e5m2_ovf_o >> h) & 1) != 0;
      rtl[0].invalid[h] = false;
      rtl[1].invalid[h] = ((top.e4m3_invalid_o >> h) & 1) != 0;
      rtl[2].invalid[h] = ((top.e5m2_invalid_o >> h) & 1) != 0;
      rtl[0].done[h] = ((top.int8_done_o >> h) & 1) != 0;
      rtl[1].done[h] = ((top.e4m3_done_o >> h) & 1) != 0;
      rtl[2].done[h] = ((top.e5m2_done_o >> h) & 1) != 0;
      rtl[0].fwd[h] = get_bits(top.int8_fwd_o, 19 * h, 19);
      rtl[1].fwd[h] = get_bits(top.e4m3_fwd_o, 19 * h, 19);
      rtl[2].fwd[h] = get_bits(top.e5m2_fwd_o, 19 * h, 19);
    }
    // After the edge: a and b with their flags forwarded from operation j, the accumulator and
    // done_o of operation j - 1.
    const uint64_t fwd = (uint64_t{op.valid} << 18) | (uint64_t{op.first} << 17) |
                         (uint64_t{last[j]} << 16) | (uint64_t{op.a} << 8) | op.b;
    const bool done = has_prev && ops[p].valid && last[p];
    for (size_t f = 0; f < kFmtCount; ++f) {
      GoldenPe& g = golden[f];
      if (has_prev) g.step(ops[p], bias[f], start[p].ovf);
      if (has_prev && ops[p].valid && g.overflowed() && !g.invalid()) ++saturated;
      for (int h = 0; h < 2; ++h) {
        ++report.cases;
        // After a NaN or infinity the reduction has no value: only the flag is checked.
        const bool same =
            rtl[f].fwd[h] == fwd && rtl[f].done[h] == done && rtl[f].invalid[h] == g.invalid() &&
            (g.invalid() || (rtl[f].acc[h] == g.value() && rtl[f].ovf[h] == g.overflowed()));
        if (!same) {
          std::ostringstream s;
          s << g.format().name() << (h ? " (operand hold)" : "") << " cycle " << j
            << " (a=" << hex(op.a) << " b=" << hex(op.b) << " valid=" << op.valid
            << " first=" << op.first << " last=" << last[j]
            << "): rtl {fwd=" << hex(static_cast<unsigned>(rtl[f].fwd[h]))
            << " acc=" << to_decimal(rtl[f].acc[h])
            << " ovf=" << rtl[f].ovf[h] << " invalid=" << rtl[f].invalid[h]
            << " done=" << rtl[f].done[h] << "} expected {fwd=" << hex(static_cast<unsigned>(fwd))
            << " acc=" << to_decimal(g.value()) << " ovf=" << g.overflowed()
            << " invalid=" << g.invalid() << " done=" << done << "}";
          report.add_mismatch(s.str());
        }
      }
    }
  }
  report.saturated_outputs = saturated;
  return report;
}

// ---- requantizer --------------------------------------------------------------------------------

CosimReport cosim_requant(int acc_bits, uint64_t seed, int random_cases) {
  if (acc_bits != 32 && acc_bits != 16) {
    throw std::invalid_argument("the requantizer is verilated for A = 32 and A = 16, not A = " +
                                std::to_string(acc_bits));
  }
  const LbfpFormat format(8, 4, 8, acc_bits);
  CosimReport report;
  report.name = "lbfp8 requantizer, A=" + std::to_string(acc_bits);
  Bench<Vtb_units> bench("requant_a" + std::to_string(acc_bits));
  auto& top = bench.top();
  std::mt19937_64 rng(seed);
  const int64_t acc_max = (int64_t{1} << (acc_bits - 1)) - 1;
  const int64_t acc_min = -acc_max - 1;

  // exp_shift = scale - out_exp; the golden model takes the two apart, the RTL their difference.
  auto check = [&](int64_t acc, int exp_shift, bool relu) {
    std::uniform_int_distribution<int> out_exp_dist(-20, 20);
    const int out_exp = out_exp_dist(rng);
    const int scale = exp_shift + out_exp;
    top.rq_exp_shift_i = static_cast<SData>(static_cast<unsigned>(exp_shift) & 0xfffu);
    top.rq_relu_i = relu ? 1 : 0;
    if (acc_bits == 32) {
      top.rq32_acc_i = static_cast<IData>(static_cast<uint64_t>(acc) & low_mask(32));
    } else {
      top.rq16_acc_i = static_cast<SData>(static_cast<uint64_t>(acc) & low_mask(16));
    }
    bench.eval();
    ++report.cases;
    const unsigned rtl = acc_bits == 32 ? top.rq32_code_o : top.rq16_code_o;
    const unsigned golden = requantize(format, acc, scale, out_exp, relu);
    if (rtl != golden) {
      std::ostringstream s;
      s << "acc=" << acc << " scale=" << scale << " out_exp=" << out_exp << " (exp_shift "
        << exp_shift << ") relu=" << relu << ": rtl " << hex(rtl) << ", golden " << hex(golden);
      report.add_mismatch(s.str());
    }
  };

  // Every boundary constant, scaled to every leading-one position: the magnitudes just below, at
  // and just above the rounding threshold, with exponent offsets that put the code in range, at
  // the saturation limit and at the flush-to-zero limit.
  std::bernoulli_distribution coin(0.5);
  for (int j = 0; j < (1 << format.frac_bits()); ++j) {
    const uint64_t boundary = format.requant_boundary(j);
    for (int lead = 0; lead < acc_bits; ++lead) {
      const int64_t at = static_cast<int64_t>(boundary >> (acc_bits - 1 - lead));
      for (int64_t d = -1; d <= 2; ++d) {
        const int64_t mag = at + d;
        if (mag < 1 || mag > acc_max + 1) continue;
        // code = 2^F (lead + exp_shift + 2^I) + r: these offsets give codes around 0 (flush),
        // mid-range, and around 2^(W-1) - 1 (saturation).
        for (const int offset : {-9, -8, -4, -1, 0}) {
          const int exp_shift = -lead + offset;
          if (mag <= acc_max) check(mag, exp_shift, coin(rng));
          check(-mag, exp_shift, coin(rng));
        }
      }
    }
  }
  // The range limits and zero.
  for (const int64_t acc : {int64_t{0}, int64_t{1}, int64_t{-1}, acc_max, acc_min}) {
    for (int exp_shift = -acc_bits - 12; exp_shift <= 4; ++exp_shift) {
      check(acc, exp_shift, false);
      check(acc, exp_shift, true);
    }
  }
  // Random accumulators, uniform over the range and log-uniform in magnitude.
  std::uniform_int_distribution<int64_t> uniform_acc(acc_min, acc_max);
  std::uniform_int_distribution<int> lead_dist(0, acc_bits - 2);  // |acc| < 2^(A-1)
  std::uniform_int_distribution<int> near_shift(-14, 6);
  std::uniform_int_distribution<int> any_shift(-2048, 2047);
  for (int i = 0; i < random_cases; ++i) {
    int64_t acc = 0;
    if (i % 2 == 0) {
      acc = uniform_acc(rng);
    } else {
      const int lead = lead_dist(rng);
      acc = static_cast<int64_t>((uint64_t{1} << lead) | (rng() & low_mask(lead)));
      if (coin(rng)) acc = -acc;
    }
    const int lead = acc == 0 ? 0 : 63 - __builtin_clzll(static_cast<uint64_t>(std::llabs(acc)));
    const int exp_shift = i % 8 == 7 ? any_shift(rng) : -lead - 4 + near_shift(rng);
    check(acc, exp_shift, coin(rng));
  }
  return report;
}

}  // namespace lbfp::rtl
