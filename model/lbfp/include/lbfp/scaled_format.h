// The industry 8-bit formats of docs/spec.md section 13: MXINT8, MXFP8 (E4M3, E5M2) with an E8M0
// block scale, FP8 with a per-tensor FP32 scale and INT8 with per-channel FP32 scales. Their
// products are exact integers accumulated in a fixed-point accumulator up to 126 bits wide (E5M2
// products alone need 65), hence the 128-bit accumulator beside the int64 one of LBFP and BFP.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "lbfp/format.h"

namespace lbfp {

__extension__ typedef __int128 Int128;  // GCC/Clang; -Wpedantic knows it as an extension

// The exact decimal text of a 128-bit integer.
std::string to_decimal(Int128 value);

enum class ElementKind { kInt8, kE4M3, kE5M2 };
// kMxBlock: blocks of 32 sharing an E8M0 scale 2^E. kTensor: an FP32 scale per tensor (FP8) or
// per channel (INT8), or a power of two 2^E where the caller chooses one.
enum class ScaleKind { kMxBlock, kTensor };

class ScaledFormat {
 public:
  static constexpr int kMxBlockSize = 32;
  static constexpr int kMaxAccBits = 126;

  // acc_bits 0 takes the default of section 13.5 (32, 42 or 70). Throws std::invalid_argument
  // for another value outside [2, 126].
  ScaledFormat(ElementKind element, ScaleKind scale, int acc_bits = 0);

  static int default_acc_bits(ElementKind element);

  ElementKind element() const { return element_; }
  ScaleKind scale_kind() const { return scale_; }
  bool is_mx() const { return scale_ == ScaleKind::kMxBlock; }
  bool is_float() const { return element_ != ElementKind::kInt8; }
  int width() const { return 8; }
  int code_count() const { return 256; }
  int acc_bits() const { return acc_bits_; }
  // 32 for MX, 0 (no fixed block) otherwise.
  int block_size() const { return is_mx() ? kMxBlockSize : 0; }
  // L: the exponent of one product LSB relative to the product of the scales (0, -12, -18, -32).
  int product_lsb() const;
  // emax_elem of the MX scale choice: 0 (INT8 elements), 8 (E4M3), 15 (E5M2).
  int emax_elem() const;
  // The largest element magnitude: 127 (INT8), 127/64 (MXINT8), 448, 57344.
  double max_element() const;
  // Exponent of one accumulator LSB for power-of-two scales 2^ea and 2^eb: ea + eb + L.
  int product_scale(int ea, int eb) const { return ea + eb + product_lsb(); }

  // "mxint8", "mxfp8-e4m3", "mxfp8-e5m2", "fp8-e4m3", "fp8-e5m2", "int8"; "(A=..)" appended when
  // the accumulator is not the default.
  std::string name() const;

  bool operator==(const ScaledFormat& o) const {
    return element_ == o.element_ && scale_ == o.scale_ && acc_bits_ == o.acc_bits_;
  }
  bool operator!=(const ScaledFormat& o) const { return !(*this == o); }

 private:
  ElementKind element_;
  ScaleKind scale_;
  int acc_bits_;
};

// The format a command line names: "mxint8", "mxfp8-e4m3", "mxfp8-e5m2", "fp8-e4m3", "fp8-e5m2"
// or "int8" (name() without an accumulator), with A = acc_bits (0: the element's default;
// ScaledFormat's constructor rejects a bad A); none for any other name.
std::optional<ScaledFormat> scaled_format_named(const std::string& name, int acc_bits = 0);

// ---- codes and element values ----------------------------------------------------------------

// Throws std::out_of_range naming the code when it is above 0xff or an FP8 NaN / infinity code.
void check_code(const ScaledFormat& format, unsigned code);
// The exact value of an element code without its scale (section 13.1); 0x80 of FP8 gives +0.
double element_value(const ScaledFormat& format, Code code);
// q(v) of section 13.2: round to the element grid, ties to even, saturate; NaN is an error.
Code quantize_element(const ScaledFormat& format, double v);

// ---- encode / decode -------------------------------------------------------------------------

// With a power-of-two scale 2^E (MX, or FP8/INT8 whose scale is a power of two): q(x / 2^E).
// Throws std::domain_error for NaN, std::out_of_range for E outside [-127, 127].
Code encode(const ScaledFormat& format, double x, int exponent);
double decode(const ScaledFormat& format, Code code, int exponent);
// With an FP32 scale s (FP8 per tensor, INT8 per channel): q(fp32(x / s)). Throws
// std::invalid_argument unless s is finite and positive.
Code encode_scaled(const ScaledFormat& format, float x, float scale);
double decode_scaled(const ScaledFormat& format, Code code, float scale);

// ---- scale choice (section 13.3) -------------------------------------------------------------

// E = floor(log2 amax) - emax_elem, clamped to [-127, 127]; amax = 0 gives -emax_elem, an
// infinity 127. Throws std::domain_error for NaN.
int mx_shared_exponent(const ScaledFormat& format, const float* values, size_t n);
// s = fp32(amax / max_element) (INT8: amax / 127), 1 for amax = 0. Throws std::domain_error for
// a NaN, infinite or negative amax.
float tensor_scale(const ScaledFormat& format, float amax);

// ---- multiply and accumulate -----------------------------------------------------------------

// The exact product in units of 2^L (section 13.4).
Int128 multiply(const ScaledFormat& format, Code a, Code b);

// An A-bit (A <= 126) saturating accumulator with the rules of section 6.
class WideAccumulator {
 public:
  // Throws std::invalid_argument for A outside [2, 126] and std::out_of_range for an initial
  // value outside the A-bit range.
  explicit WideAccumulator(int acc_bits, Int128 initial = 0);
  void add(Int128 term);
  Int128 value() const { return value_; }
  uint64_t overflow_count() const { return overflows_; }

 private:
  Int128 min_;
  Int128 max_;
  Int128 value_;
  uint64_t overflows_ = 0;
};

struct WideDotResult {
  Int128 acc = 0;
  uint64_t overflows = 0;
  bool operator==(const WideDotResult& o) const {
    return acc == o.acc && overflows == o.overflows;
  }
};

// sum_k a[k] * b[k] in order from `initial`, saturating. MX: n <= 32 (one block pair), else
// std::invalid_argument.
WideDotResult dot(const ScaledFormat& format, const Code* a, const Code* b, size_t n,
                  Int128 initial = 0);
WideDotResult dot(const ScaledFormat& format, const std::vector<Code>& a,
                  const std::vector<Code>& b, Int128 initial = 0);

// ---- requantization (section 13.6) -----------------------------------------------------------

// Power-of-two scales: q(acc * 2^(scale - out_exp)), exact; relu zeroes acc <= 0 first. Throws
// std::out_of_range for acc outside the A-bit range or out_exp outside [-127, 127].
Code requantize(const ScaledFormat& format, Int128 acc, int scale, int out_exp, bool relu);
// FP32 scales: M = fp32(fp32(sa * sb) / so) * 2^L, returned as the exact double.
double requant_multiplier(const ScaledFormat& format, float sa, float sb, float so);
// q(fp32(fp32(acc) * multiplier)); relu zeroes acc <= 0 first.
Code requantize_scaled(const ScaledFormat& format, Int128 acc, double multiplier, bool relu);
// fp32(v): the nearest float, ties to even (one rounding, for any 128-bit value).
float to_float(Int128 v);
// fp32(v * 2^exp): one rounding to nearest, ties to even, subnormal results included; beyond the
// largest float it is +-infinity (the IEEE overflow of round to nearest).
float to_float_scaled(Int128 v, int exp);

// ---- reductions across MX blocks (section 13.7) ----------------------------------------------

// One step of an MX reduction: fp32(sum + fp32(block_acc * 2^(ea + eb + L))), the block dot
// product (exact, at product scale ea + eb + L) rounded once to FP32 and added to the FP32 sum.
float mx_accumulate(const ScaledFormat& format, float sum, Int128 block_acc, int ea, int eb);

struct MxDotResult {
  float value = 0.0f;
  uint64_t overflows = 0;  // saturating steps inside the blocks' accumulators
};

// sum_k a[k] * b[k] of an MX format over n elements in blocks of 32 (the last may be shorter),
// block j with the exponents a_exps[j] and b_exps[j]: from `initial` (the bias, FP32), each
// block's exact dot (section 13.5) added by mx_accumulate in block order. Throws
// std::invalid_argument for a format that is not MX.
MxDotResult mx_dot(const ScaledFormat& format, const Code* a, const int* a_exps, const Code* b,
                   const int* b_exps, size_t n, float initial = 0.0f);

// ---- FP32-scale layers (section 13.7) ------------------------------------------------------

// The bias of a layer with FP32 scales as an accumulator value: round(fp32(bias / fp32(sa * sb))
// * 2^-L), nearest with ties to even (ONNX Runtime's int32 bias at L = 0), saturated to the
// A-bit range. Throws std::domain_error for a NaN bias.
Int128 bias_to_accumulator_scaled(const ScaledFormat& format, float bias, float sa, float sb);
// A last layer's real output: fp32(fp32(acc) * multiplier), multiplier from requant_multiplier
// with so = 1 (ReLU, where the layer has it, is the caller's).
float dequantize_accumulator(Int128 acc, double multiplier);

}  // namespace lbfp
