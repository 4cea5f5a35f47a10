// Random GEMM and convolution layers and their golden outputs, shared by the accelerator tests.
#pragma once

#include <random>
#include <string>
#include <type_traits>
#include <vector>

#include "lbfp/arch/accelerator.h"
#include "lbfp/conv.h"
#include "lbfp/gemm.h"

namespace lbfp::arch {

template <class Format>
GemmLayer random_layer(const Format& format, const std::string& name, uint64_t m, uint64_t n,
                       uint64_t k, uint32_t seed, bool bias) {
  (void)format;
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> code(0, 255);
  std::uniform_int_distribution<int> zero(0, 3);
  GemmLayer l;
  l.name = name;
  l.m = m;
  l.n = n;
  l.k = k;
  l.a.resize(m * k);
  l.w.resize(n * k);
  for (auto& x : l.a) {
    x = zero(rng) == 0 ? Code{0} : static_cast<Code>(code(rng));  // post-ReLU-like sparsity
    if constexpr (std::is_same_v<Format, BfpFormat>) {
      if (x == 0x80) x = 0;
    }
  }
  for (auto& x : l.w) {
    x = static_cast<Code>(code(rng));
    if constexpr (std::is_same_v<Format, BfpFormat>) {
      if (x == 0x80) x = 0x7f;
    }
  }
  l.a_exponent = 2;
  for (uint64_t j = 0; j < n; ++j) l.w_exponents.push_back(static_cast<int>(j % 3) - 1);
  if (bias) {
    for (uint64_t j = 0; j < n; ++j) l.bias.push_back(0.5f * static_cast<float>(j % 7) - 1.5f);
  }
  l.out_exponent = 7;
  l.relu = seed % 2 == 0;
  return l;
}

// A layer's GEMM for the scalar reference kernel: its weights transposed into *b (K x N).
inline GemmProblem golden_problem(const GemmLayer& l, std::vector<Code>* b) {
  b->resize(l.k * l.n);
  for (uint64_t j = 0; j < l.n; ++j) {
    for (uint64_t kk = 0; kk < l.k; ++kk) (*b)[kk * l.n + j] = l.w[j * l.k + kk];
  }
  GemmProblem p;
  p.m = l.m;
  p.n = l.n;
  p.k = l.k;
  p.a = l.a.data();
  p.lda = l.k;
  p.a_exponent = l.a_exponent;
  p.b = b->data();
  p.ldb = l.n;
  p.b_exponents = l.w_exponents.data();
  p.bias = l.bias.empty() ? nullptr : l.bias.data();
  return p;
}

// The golden GEMM of a layer, by the scalar reference kernel.
template <class Format>
std::vector<Code> golden(const Format& format, const GemmLayer& l) {
  std::vector<Code> b;
  const GemmProblem p = golden_problem(l, &b);
  std::vector<Code> out(l.m * l.n);
  GemmOptions o;
  o.path = KernelPath::kReference;
  gemm_requantize(format, p, l.out_exponent, l.relu, out.data(), l.n, o);
  return out;
}

// Its saturating steps per output (M x N), by the same kernel.
template <class Format>
std::vector<uint32_t> golden_overflows(const Format& format, const GemmLayer& l) {
  std::vector<Code> b;
  const GemmProblem p = golden_problem(l, &b);
  std::vector<int64_t> acc(l.m * l.n);
  std::vector<uint32_t> overflows(l.m * l.n);
  GemmOptions o;
  o.path = KernelPath::kReference;
  gemm_accumulate(format, p, acc.data(), l.n, overflows.data(), o);
  return overflows;
}

// Outputs whose accumulator saturated at least once, and saturating steps in all.
struct GoldenSaturation {
  uint64_t outputs = 0;
  uint64_t steps = 0;
};
template <class Format>
GoldenSaturation golden_saturation(const Format& format, const GemmLayer& l) {
  GoldenSaturation s;
  for (uint32_t n : golden_overflows(format, l)) {
    s.outputs += n > 0 ? 1 : 0;
    s.steps += n;
  }
  return s;
}

// A 3x3 stride-2 LBFP8 convolution that reaches the accelerator as one (an NHWC feature map of
// height x width x channels, the on-chip lowering), `filters` (at most 6) output channels, codes
// drawn from `seed`; *want gets the golden conv2d's output.
inline GemmLayer conv_layer_3x3(uint64_t height, uint64_t width, uint64_t channels,
                                uint64_t filters, uint32_t seed, std::vector<Code>* want) {
  Conv2dShape shape;
  shape.in_channels = channels;
  shape.in_height = height;
  shape.in_width = width;
  shape.out_channels = filters;
  shape.kernel_height = 3;
  shape.kernel_width = 3;
  shape.stride_height = 2;
  shape.stride_width = 2;
  shape.layout = TensorLayout::kNhwc;
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> code(0, 255);
  GemmLayer l;
  l.name = "conv";
  l.m = shape.out_height() * shape.out_width();
  l.n = filters;
  l.k = 9 * channels;
  l.a.resize(shape.input_elements());
  l.w.resize(shape.weight_elements());
  for (auto& x : l.a) x = static_cast<Code>(code(rng) & 0x7f);
  for (auto& x : l.w) x = static_cast<Code>(code(rng));
  l.a_exponent = 1;
  const int exponents[] = {0, 1, -1, 2, 0, 1};
  const float biases[] = {0.5f, -1.0f, 0.0f, 2.0f, 1.0f, -0.5f};
  l.w_exponents.assign(exponents, exponents + filters);
  l.bias.assign(biases, biases + filters);
  l.out_exponent = 8;
  l.relu = true;
  ConvGeometry g;
  g.in_h = height;
  g.in_w = width;
  g.channels = channels;
  g.filter_h = 3;
  g.filter_w = 3;
  g.stride = 2;
  l.conv = g;
  Conv2dOperands ops;
  ops.input = l.a.data();
  ops.input_exponent = l.a_exponent;
  ops.weights = l.w.data();
  ops.weight_exponents = l.w_exponents.data();
  ops.bias = l.bias.data();
  want->resize(shape.output_elements());
  conv2d_requantize(LbfpFormat(), shape, ops, l.out_exponent, l.relu, want->data());
  return l;
}

}  // namespace lbfp::arch
