#include "lbfp/synth/streams.h"

#include <algorithm>
#include <cmath>
#include <random>
#include <stdexcept>
#include <string>
#include <utility>

#include "lbfp/arith.h"
#include "lbfp/calibration.h"
#include "lbfp/scaled_format.h"

namespace lbfp::synth {
namespace {

// `family`: the format of an LBFP family name (lbfp_family_format), else null.
Code quantize(const std::string& format, const LbfpFormat* family, double x, int exponent) {
  if (family != nullptr) return encode(*family, x, exponent);
  if (format == "lbfp8") return encode(lbfp8(), x, exponent);
  if (format == "bfp8") return encode(bfp8(), x, exponent);
  throw std::invalid_argument("unknown format " + format);
}

// The section 13 formats that have a multiplier unit (flow.cpp, kind fmtmul), with the per-tensor
// scales of section 13.3 (INT8 weights: per output channel).
bool is_scaled(const std::string& format) {
  return format == "int8" || format == "fp8-e4m3" || format == "fp8-e5m2";
}
// Their MX variants (kinds fmtmac and fmtpe): the same elements with an E8M0 scale per block of
// 32 along the reduction.
bool is_mx(const std::string& format) {
  return format == "mxint8" || format == "mxfp8-e4m3" || format == "mxfp8-e5m2";
}
// The element type's per-tensor name: "mxfp8-e4m3" -> "fp8-e4m3", "mxint8" -> "int8".
std::string element_name(const std::string& format) {
  if (!is_mx(format)) return format;
  return format == "mxint8" ? "int8" : format.substr(2);
}

ScaledFormat scaled_format(const std::string& format) {
  const std::string e = element_name(format);
  const ElementKind element = e == "int8"       ? ElementKind::kInt8
                              : e == "fp8-e4m3" ? ElementKind::kE4M3
                                                : ElementKind::kE5M2;
  return ScaledFormat(element, is_mx(format) ? ScaleKind::kMxBlock : ScaleKind::kTensor);
}

// MX codes of `n` values (one block of at most 32): the shared exponent of section 13.3
// (mx_shared_exponent), then each element q(x / 2^E).
void encode_mx_block(const ScaledFormat& format, const float* values, size_t n, Code* codes,
                     size_t stride) {
  const int exponent = mx_shared_exponent(format, values, n);
  for (size_t i = 0; i < n; ++i) codes[i * stride] = encode(format, values[i], exponent);
}

// An MX format's reductions: each output's K products in blocks of 32 (the last one shorter when
// K is not a multiple of 32), one reduction of the MAC per block, as MX hardware adds the block
// sums outside the MAC (spec section 13.7). Operation i is element i % K of its output.
void mark_mx_reductions(std::vector<Op>& ops, size_t k_len) {
  const size_t block = static_cast<size_t>(ScaledFormat::kMxBlockSize);
  for (size_t i = 0; i < ops.size(); ++i) {
    const size_t k = i % k_len;
    ops[i].valid = true;
    ops[i].first = k % block == 0;
    ops[i].last = k % block == block - 1 || k + 1 == k_len;
  }
}

// Codes of `values` with one FP32 scale from their largest magnitude, as the golden encoder
// quantizes a tensor (s = fp32(amax / max_element); section 13.3).
std::vector<Code> encode_tensor(const ScaledFormat& format, const std::vector<float>& values) {
  float amax = 0.0f;
  for (float x : values) amax = std::max(amax, std::fabs(x));
  const float scale = tensor_scale(format, amax);
  std::vector<Code> codes(values.size());
  for (size_t i = 0; i < values.size(); ++i) codes[i] = encode_scaled(format, values[i], scale);
  return codes;
}

void mark_reductions(std::vector<Op>& ops, int reduction) {
  for (size_t i = 0; i < ops.size(); ++i) {
    const size_t k = i % static_cast<size_t>(reduction);
    ops[i].valid = true;
    ops[i].first = k == 0;
    ops[i].last = k + 1 == static_cast<size_t>(reduction);
  }
}

// (W, F) of an LBFP family name, "lbfp" W "f" F with one digit each (the names lbfp_family_name
// makes, and nothing else); std::nullopt for any other name. Cheap: zero_product asks per op.
std::optional<std::pair<int, int>> family_point(const std::string& format) {
  if (format.size() != 7 || format.compare(0, 4, "lbfp") != 0 || format[5] != 'f' ||
      format[4] < '0' || format[4] > '9' || format[6] < '0' || format[6] > '9') {
    return std::nullopt;
  }
  const int width = format[4] - '0';
  const int frac_bits = format[6] - '0';
  if (width < 2 || width > 8 || frac_bits > width - 2) return std::nullopt;
  return std::make_pair(width, frac_bits);
}

}  // namespace

QuantizedTile quantize_tile(const LayerTile& tile, const std::string& format) {
  const size_t m = static_cast<size_t>(tile.m);
  const size_t n = static_cast<size_t>(tile.n);
  const size_t k_len = static_cast<size_t>(tile.k);
  if (m == 0 || n == 0 || k_len == 0) throw std::invalid_argument("empty layer tile");

  QuantizedTile q;
  q.m = tile.m;
  q.k = tile.k;
  q.n = tile.n;
  q.a.resize(tile.x.size());
  q.b.resize(tile.w.size());  // k x n, as in the tile
  if (is_mx(format)) {
    // Activations per row and weights per output column, in blocks of 32 along K.
    const ScaledFormat f = scaled_format(format);
    const size_t block = static_cast<size_t>(ScaledFormat::kMxBlockSize);
    for (size_t r = 0; r < m; ++r) {
      for (size_t k0 = 0; k0 < k_len; k0 += block) {
        const size_t len = std::min(block, k_len - k0);
        encode_mx_block(f, &tile.x[r * k_len + k0], len, &q.a[r * k_len + k0], 1);
      }
    }
    std::vector<float> column(k_len);
    for (size_t c = 0; c < n; ++c) {
      for (size_t k = 0; k < k_len; ++k) column[k] = tile.w[k * n + c];
      for (size_t k0 = 0; k0 < k_len; k0 += block) {
        const size_t len = std::min(block, k_len - k0);
        encode_mx_block(f, &column[k0], len, &q.b[k0 * n + c], n);
      }
    }
    return q;
  }
  if (is_scaled(format)) {
    // Activations per tensor; FP8 weights per tensor, INT8 weights per output channel.
    const ScaledFormat f = scaled_format(format);
    q.a = encode_tensor(f, tile.x);
    if (format != "int8") q.b = encode_tensor(f, tile.w);
    for (size_t c = 0; c < n && format == "int8"; ++c) {
      std::vector<float> column(k_len);
      for (size_t k = 0; k < k_len; ++k) column[k] = tile.w[k * n + c];
      const std::vector<Code> codes = encode_tensor(f, column);
      for (size_t k = 0; k < k_len; ++k) q.b[k * n + c] = codes[k];
    }
    return q;
  }
  const std::optional<LbfpFormat> family_format = lbfp_family_format(format);
  const LbfpFormat* family = family_format ? &*family_format : nullptr;
  double act_max = 0.0;
  for (float x : tile.x) act_max = std::max(act_max, std::fabs(double{x}));
  const int act_exp = max_exponent(act_max);
  for (size_t i = 0; i < tile.x.size(); ++i) q.a[i] = quantize(format, family, tile.x[i], act_exp);
  for (size_t c = 0; c < n; ++c) {
    double w_max = 0.0;
    for (size_t k = 0; k < k_len; ++k) {
      w_max = std::max(w_max, std::fabs(double{tile.w[k * n + c]}));
    }
    const int w_exp = max_exponent(w_max);
    for (size_t k = 0; k < k_len; ++k) {
      q.b[k * n + c] = quantize(format, family, tile.w[k * n + c], w_exp);
    }
  }
  return q;
}

std::vector<Op> layer_stream(const LayerTile& tile, const std::string& format, size_t ops) {
  const size_t m = static_cast<size_t>(tile.m);
  const size_t n = static_cast<size_t>(tile.n);
  const size_t k_len = static_cast<size_t>(tile.k);
  const QuantizedTile q = quantize_tile(tile, format);
  const std::vector<Code>& act_codes = q.a;
  const std::vector<Code>& weight_codes = q.b;  // k x n, as in the tile

  std::vector<Op> stream;
  stream.reserve(ops);
  while (stream.size() < ops) {
    for (size_t r = 0; r < m && stream.size() < ops; ++r) {
      for (size_t c = 0; c < n && stream.size() < ops; ++c) {
        for (size_t k = 0; k < k_len && stream.size() < ops; ++k) {
          Op op;
          op.a = act_codes[r * k_len + k];
          op.b = weight_codes[k * n + c];
          stream.push_back(op);
        }
      }
    }
  }
  if (is_mx(format)) {
    mark_mx_reductions(stream, k_len);
  } else {
    mark_reductions(stream, tile.k);
  }
  return stream;
}

bool zero_product(const std::string& format, const Op& op) {
  // Sign-magnitude codes (LBFP8, FP8: 0x80 is zero too) or two's complement (BFP8, INT8); an
  // LBFP family point's magnitude is its W - 1 low bits.
  if (const std::optional<std::pair<int, int>> point = family_point(format)) {
    const int magnitude_mask = (1 << (point->first - 1)) - 1;
    return (op.a & magnitude_mask) == 0 || (op.b & magnitude_mask) == 0;
  }
  const uint8_t magnitude_mask =
      format == "bfp8" || format == "int8" || format == "mxint8" ? 0xff : 0x7f;
  return (op.a & magnitude_mask) == 0 || (op.b & magnitude_mask) == 0;
}

double zero_operand_fraction(const std::string& format, const std::vector<Op>& stream) {
  const size_t zeros = static_cast<size_t>(std::count_if(
      stream.begin(), stream.end(), [&](const Op& op) { return zero_product(format, op); }));
  return stream.empty() ? 0.0 : static_cast<double>(zeros) / static_cast<double>(stream.size());
}

std::vector<Op> held_operand_stream(const std::string& format, const std::vector<Op>& stream) {
  std::vector<Op> held = stream;
  uint8_t a = 0, b = 0;
  for (Op& op : held) {
    const bool load = op.valid && !zero_product(format, op);
    if (load) {
      a = op.a;
      b = op.b;
    }
    op.a = a;
    op.b = b;
    op.zero = !load;
  }
  return held;
}

std::vector<Op> uniform_stream(const std::string& mx_or_format, size_t ops, uint64_t seed,
                               int reduction) {
  // An MX format draws its element type's codes, in reductions of one block.
  const std::string format = element_name(mx_or_format);
  if (is_mx(mx_or_format)) reduction = ScaledFormat::kMxBlockSize;
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<int> lbfp_code(0, 255);
  std::uniform_int_distribution<int> bfp_mantissa(-127, 127);
  // An LBFP family point: every W-bit code (the same draws as LBFP8's, masked to W bits).
  const std::optional<LbfpFormat> family = lbfp_family_format(format);
  const unsigned family_mask = family ? static_cast<unsigned>(family->code_count() - 1) : 0u;
  auto draw = [&]() -> Code {
    if (family) return static_cast<Code>(static_cast<unsigned>(lbfp_code(rng)) & family_mask);
    if (format == "lbfp8") return static_cast<Code>(lbfp_code(rng));
    if (format == "bfp8") return make_code(bfp8(), bfp_mantissa(rng));
    if (format == "int8") return static_cast<Code>(static_cast<uint8_t>(bfp_mantissa(rng)));
    if (format == "fp8-e4m3" || format == "fp8-e5m2") {
      // Every value code: NaN (E4M3 S.1111.111; E5M2 S.11111.xx, infinities too) is drawn again.
      const unsigned special = format == "fp8-e4m3" ? 0x7f : 0x7c;
      for (;;) {
        const unsigned c = static_cast<unsigned>(lbfp_code(rng));
        if ((c & special) != special) return static_cast<Code>(c);
      }
    }
    throw std::invalid_argument("unknown format " + format);
  };
  std::vector<Op> stream(ops);
  for (Op& op : stream) {
    op.a = draw();
    op.b = draw();
  }
  mark_reductions(stream, reduction);
  return stream;
}

std::vector<Op> exhaustive_stream() { return exhaustive_stream(8); }

std::vector<Op> exhaustive_stream(int width) {
  if (width < 1 || width > 8) {
    throw std::invalid_argument("exhaustive_stream: width " + std::to_string(width) +
                                " is outside 1..8");
  }
  const unsigned codes = 1u << width;
  std::vector<Op> stream;
  stream.reserve(codes * codes);
  for (unsigned a = 0; a < codes; ++a) {
    for (unsigned b = 0; b < codes; ++b) {
      Op op;
      op.a = static_cast<uint8_t>(a);
      op.b = static_cast<uint8_t>(b);
      stream.push_back(op);
    }
  }
  return stream;
}

std::string lbfp_family_name(int width, int frac_bits) {
  return "lbfp" + std::to_string(width) + "f" + std::to_string(frac_bits);
}

std::optional<LbfpFormat> lbfp_family_format(const std::string& format) {
  const std::optional<std::pair<int, int>> point = family_point(format);
  if (!point) return std::nullopt;
  return LbfpFormat(point->first, point->second, 8, 32);
}

}  // namespace lbfp::synth
