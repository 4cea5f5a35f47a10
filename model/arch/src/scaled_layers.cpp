#include "lbfp/arch/scaled_layers.h"

#include <algorithm>
#include <cmath>
#include <memory>
#include <stdexcept>
#include <string>

#include "lbfp/conv.h"
#include "lbfp/scaled_gemm.h"

namespace lbfp::arch {
namespace {

constexpr uint64_t kBlock = ScaledFormat::kMxBlockSize;

uint64_t ceil_div(uint64_t a, uint64_t b) { return (a + b - 1) / b; }

float abs_max(const float* v, size_t n) {
  float m = 0.0f;
  for (size_t i = 0; i < n; ++i) {
    if (std::isnan(v[i])) throw ConfigError("a NaN among a layer's values");
    m = std::max(m, std::fabs(v[i]));
  }
  return m;
}

}  // namespace

std::string energy_section(const ScaledFormat& format) {
  switch (format.element()) {
    case ElementKind::kInt8: return "int8";
    case ElementKind::kE4M3: return "fp8_e4m3";
    case ElementKind::kE5M2: return "fp8_e5m2";
  }
  return "int8";
}

std::vector<GemmLayer> make_scaled_layer_data(const LayerSpec& layer, const LayerValues& values,
                                              const ScaledFormat& f, Im2col lowering) {
  const uint64_t m = layer.gemm_m(), n = layer.gemm_n(), k = layer.gemm_k();
  const uint64_t groups = layer.group_count();
  const uint64_t taps = layer.is_conv ? layer.filter_h * layer.filter_w : 1;
  const uint64_t cg = k / taps;  // channels of one group
  const uint64_t hw = layer.is_conv ? layer.ifmap_h * layer.ifmap_w : m;  // pixels (rows)
  const std::vector<float>& input = values.input;  // C x H x W, or M x K
  const auto weights_of = [&](uint64_t g) {
    if (layer.weights.empty()) return values.weights[g];
    return std::vector<float>(layer.weights.begin() + static_cast<std::ptrdiff_t>(g * n * k),
                              layer.weights.begin() + static_cast<std::ptrdiff_t>((g + 1) * n * k));
  };
  // FP8 / INT8: one activation scale per tensor; FP8 one weight scale per tensor (all groups).
  float sa = 1.0f, sw_tensor = 1.0f;
  if (!f.is_mx()) {
    sa = tensor_scale(f, abs_max(input.data(), input.size()));
    if (f.is_float()) {
      float wmax = 0.0f;
      for (uint64_t g = 0; g < groups; ++g) {
        const std::vector<float> w = weights_of(g);
        wmax = std::max(wmax, abs_max(w.data(), w.size()));
      }
      sw_tensor = tensor_scale(f, wmax);
    }
  }
  std::vector<GemmLayer> out;
  for (uint64_t g = 0; g < groups; ++g) {
    GemmLayer gl;
    gl.name = groups > 1 ? layer.name + "/g" + std::to_string(g) : layer.name;
    gl.m = m;
    gl.n = n;
    gl.k = k;
    gl.relu = true;
    gl.w_exponents.assign(n, 0);  // LBFP's; unused
    auto sl = std::make_shared<ScaledLayer>();
    sl->taps = taps;
    sl->channels = cg;
    const std::vector<float> w = weights_of(g);
    if (!layer.bias.empty()) {
      gl.bias.assign(layer.bias.begin() + static_cast<std::ptrdiff_t>(g * n),
                     layer.bias.begin() + static_cast<std::ptrdiff_t>((g + 1) * n));
    }
    // The group's input, pixel-major (NHWC): hw pixels of cg channels (a GEMM: M rows of K).
    std::vector<float> x(hw * cg);
    for (uint64_t p = 0; p < hw; ++p) {
      for (uint64_t c = 0; c < cg; ++c) {
        x[p * cg + c] = layer.is_conv ? input[(g * cg + c) * hw + p] : input[p * cg + c];
      }
    }
    std::vector<Code> xc(x.size());
    gl.w.resize(n * k);
    if (f.is_mx()) {
      const uint64_t nb = ceil_div(cg, kBlock);
      sl->blocks = nb;
      std::vector<int> pixel_exps(hw * nb);
      for (uint64_t p = 0; p < hw; ++p) {
        for (uint64_t j = 0; j < nb; ++j) {
          const uint64_t c0 = j * kBlock, len = std::min(kBlock, cg - c0);
          const int e = mx_shared_exponent(f, x.data() + p * cg + c0, len);
          pixel_exps[p * nb + j] = e;
          for (uint64_t c = c0; c < c0 + len; ++c) xc[p * cg + c] = encode(f, x[p * cg + c], e);
        }
      }
      // Weights: row o in (c, kh, kw) order; a block is 32 channels of one tap.
      sl->w_exps.resize(n * taps * nb);
      std::vector<float> block(kBlock);
      for (uint64_t o = 0; o < n; ++o) {
        for (uint64_t t = 0; t < taps; ++t) {
          for (uint64_t j = 0; j < nb; ++j) {
            const uint64_t c0 = j * kBlock, len = std::min(kBlock, cg - c0);
            for (uint64_t c = 0; c < len; ++c) block[c] = w[o * k + (c0 + c) * taps + t];
            const int e = mx_shared_exponent(f, block.data(), len);
            sl->w_exps[(o * taps + t) * nb + j] = e;
            for (uint64_t c = 0; c < len; ++c) {
              gl.w[o * k + (c0 + c) * taps + t] = encode(f, block[c], e);
            }
          }
        }
      }
      // Per output pixel and tap, the block scales of the input pixel the tap reads.
      sl->a_exps.resize(m * taps * nb);
      for (uint64_t r = 0; r < m; ++r) {
        for (uint64_t t = 0; t < taps; ++t) {
          uint64_t p = r;
          if (layer.is_conv) {
            const uint64_t oy = r / layer.out_w(), ox = r % layer.out_w();
            const uint64_t kh = t / layer.filter_w, kw = t % layer.filter_w;
            p = (oy * layer.stride + kh) * layer.ifmap_w + ox * layer.stride + kw;
          }
          std::copy(pixel_exps.begin() + static_cast<std::ptrdiff_t>(p * nb),
                    pixel_exps.begin() + static_cast<std::ptrdiff_t>((p + 1) * nb),
                    sl->a_exps.begin() + static_cast<std::ptrdiff_t>((r * taps + t) * nb));
        }
      }
    } else {
      for (size_t i = 0; i < x.size(); ++i) xc[i] = encode_scaled(f, x[i], sa);
      std::vector<float> sw(n, sw_tensor);
      for (uint64_t o = 0; o < n; ++o) {
        if (!f.is_float()) sw[o] = tensor_scale(f, abs_max(w.data() + o * k, k));
        for (uint64_t kk = 0; kk < k; ++kk) {
          gl.w[o * k + kk] = encode_scaled(f, w[o * k + kk], sw[o]);
        }
      }
      if (!gl.bias.empty()) {
        sl->bias_acc.resize(n);
        for (uint64_t o = 0; o < n; ++o) {
          sl->bias_acc[o] = bias_to_accumulator_scaled(f, gl.bias[o], sa, sw[o]);
        }
      }
      sl->multipliers.resize(n);
      // sw / sa folded in with so = 1 first: the sampled outputs' real values.
      for (uint64_t o = 0; o < n; ++o) sl->multipliers[o] = requant_multiplier(f, sa, sw[o], 1.0f);
    }
    // A as the GEMM rows (im2col of the group's channels, (c, kh, kw) order).
    std::vector<Code> a_rows;
    if (layer.is_conv) {
      std::vector<Code> chw(layer.channels * hw, 0);
      for (uint64_t p = 0; p < hw; ++p) {
        for (uint64_t c = 0; c < cg; ++c) chw[(g * cg + c) * hw + p] = xc[p * cg + c];
      }
      a_rows.resize(m * k);
      im2col(layer.conv_shape(), chw.data(), 0, g, a_rows.data(), k, 1);
    } else {
      a_rows = xc;
    }
    if (!f.is_mx()) {
      // The output scale: the largest exact output of every (M / 64)-th row (bias included).
      std::vector<Code> sample;
      for (uint64_t r = 0; r < m; r += std::max<uint64_t>(1, m / 64)) {
        sample.insert(sample.end(), a_rows.begin() + static_cast<std::ptrdiff_t>(r * k),
                      a_rows.begin() + static_cast<std::ptrdiff_t>((r + 1) * k));
      }
      const size_t rows = sample.size() / k;
      std::vector<Int128> acc(rows * n);
      ScaledGemmProblem p;
      p.m = rows;
      p.n = n;
      p.k = k;
      p.a = sample.data();
      p.lda = k;
      p.b = gl.w.data();
      p.ldb = k;
      p.initial = sl->bias_acc.empty() ? nullptr : sl->bias_acc.data();
      gemm_accumulate(f, p, acc.data(), n);
      float omax = 0.0f;
      for (size_t i = 0; i < rows; ++i) {
        for (uint64_t o = 0; o < n; ++o) {
          const float v = dequantize_accumulator(acc[i * n + o], sl->multipliers[o]);
          if (std::isfinite(v)) omax = std::max(omax, std::fabs(v));
        }
      }
      const float so = tensor_scale(f, omax);
      for (uint64_t o = 0; o < n; ++o) {
        const float sw = f.is_float() ? sw_tensor : tensor_scale(f, abs_max(w.data() + o * k, k));
        sl->multipliers[o] = requant_multiplier(f, sa, sw, so);
      }
    }
    if (layer.is_conv && lowering == Im2col::kChip) {
      ConvGeometry geometry;
      geometry.in_h = layer.ifmap_h;
      geometry.in_w = layer.ifmap_w;
      geometry.channels = cg;
      geometry.filter_h = layer.filter_h;
      geometry.filter_w = layer.filter_w;
      geometry.stride = layer.stride;
      gl.conv = geometry;
      gl.a = std::move(xc);  // NHWC, the group's channels
    } else {
      gl.a = std::move(a_rows);
    }
    gl.scaled = std::move(sl);
    out.push_back(std::move(gl));
  }
  return out;
}

}  // namespace lbfp::arch
