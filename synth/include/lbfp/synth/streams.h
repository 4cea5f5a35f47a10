// Operand streams for the activity simulations. The same real values feed the LBFP8 and the BFP8
// unit (each quantized in its own format), so the two see the same workload.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "lbfp/format.h"
#include "lbfp/synth/flow.h"
#include "lbfp/synth/layer_tile.h"

namespace lbfp::synth {

// The tile's activations (m x k) and weights (k x n, row-major) as codes of `format`, quantized
// as layer_stream quantizes them.
struct QuantizedTile {
  int m = 0;
  int k = 0;
  int n = 0;
  std::vector<Code> a;
  std::vector<Code> b;
};
QuantizedTile quantize_tile(const LayerTile& tile, const std::string& format);
// A real layer: the tile's FP32 activations and weights (the LeNet-5 fc1 tile, see
// layer_tile.h), quantized as the RTL array testbench quantizes them: activations per tensor and
// weights per output channel with max calibration, each format with its own golden encoder. The
// stream is the output-stationary order of the GEMM: for each output (row, column), its K
// products, first / last marked; the tile repeats when `ops` exceeds m * n * k.
// The section 13 formats int8, fp8-e4m3 and fp8-e5m2 take FP32 scales (section 13.3): activations
// and FP8 weights per tensor, INT8 weights per output channel. Their MX variants mxint8,
// mxfp8-e4m3 and mxfp8-e5m2 take an E8M0 scale per block of 32 along K (mx_shared_exponent; rows
// of the activations, columns of the weights), and each block is one reduction (first / last
// every 32 operations of an output, the last block of K = 400 16 long): MX hardware sums the
// blocks outside the MAC (spec section 13.7).
std::vector<Op> layer_stream(const LayerTile& tile, const std::string& format, size_t ops);
// Whether an operation's product is zero: a zero operand (LBFP8, FP8: zero magnitude; BFP8, INT8:
// zero code).
bool zero_product(const std::string& format, const Op& op);
// The fraction of operations with a zero operand.
double zero_operand_fraction(const std::string& format, const std::vector<Op>& stream);
// What the multiplier behind a PE's operand hold sees (rtl/pe.sv, LBFP8 and BFP8, with
// HoldZeros): a valid operation with a non-zero product passes with zero = false and its codes
// become the held ones; every other operation (a zero product, or valid = false) carries the
// held codes (0 before the first load, as after reset) with zero = true. In the PE this happens
// through a register, one cycle later; the order of the operations is the same.
std::vector<Op> held_operand_stream(const std::string& format, const std::vector<Op>& stream);
// Uniformly random codes: every LBFP8 code, every BFP8 and INT8 code but -128 (which the encoders
// never produce), every FP8 code but NaN and infinity; an MX format draws its element type's
// codes (the same draws) in reductions of 32.
std::vector<Op> uniform_stream(const std::string& format, size_t ops, uint64_t seed,
                               int reduction = 64);
// All 65,536 (a, b) pairs, a major.
std::vector<Op> exhaustive_stream();
// All 2^W x 2^W pairs of W-bit codes, a major (W = 8: exhaustive_stream()).
std::vector<Op> exhaustive_stream(int width);

// The LBFP family points of `lbfp synth --units lbfpmul` (docs/hardware-cost.md): the format
// "lbfp{W}f{F}" is LbfpFormat(W, F, 8, 32), the LUT precision and accumulator of LBFP8 (lbfp7f3:
// W = 7, F = 3). Its streams (layer_stream, uniform_stream, zero_product) take that name.
// The name of one point.
std::string lbfp_family_name(int width, int frac_bits);
// The format of a family name; std::nullopt for any other name (lbfp8 included).
std::optional<LbfpFormat> lbfp_family_format(const std::string& format);

}  // namespace lbfp::synth
