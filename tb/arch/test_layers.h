// Random GEMM layers and their golden outputs, shared by the accelerator tests.
#pragma once

#include <random>
#include <string>
#include <type_traits>
#include <vector>

#include "lbfp/arch/accelerator.h"
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

// The golden GEMM of a layer, by the scalar reference kernel.
template <class Format>
std::vector<Code> golden(const Format& format, const GemmLayer& l) {
  std::vector<Code> b(l.k * l.n);  // K x N
  for (uint64_t j = 0; j < l.n; ++j) {
    for (uint64_t kk = 0; kk < l.k; ++kk) b[kk * l.n + j] = l.w[j * l.k + kk];
  }
  GemmProblem p;
  p.m = l.m;
  p.n = l.n;
  p.k = l.k;
  p.a = l.a.data();
  p.lda = l.k;
  p.a_exponent = l.a_exponent;
  p.b = b.data();
  p.ldb = l.n;
  p.b_exponents = l.w_exponents.data();
  p.bias = l.bias.empty() ? nullptr : l.bias.data();
  std::vector<Code> out(l.m * l.n);
  GemmOptions o;
  o.path = KernelPath::kReference;
  gemm_requantize(format, p, l.out_exponent, l.relu, out.data(), l.n, o);
  return out;
}

}  // namespace lbfp::arch
