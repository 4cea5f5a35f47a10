// The section 13 formats' matrix products (lbfp/scaled_gemm.h), every kernel path this CPU has,
// against the golden reference: each sum is lbfp::dot (the WideAccumulator in k order) over the
// same codes from the same start, accumulator and overflow count identical to the bit, on random,
// boundary and saturating data, at the default accumulator widths and at narrow ones.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <iostream>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "lbfp/scaled_gemm.h"

namespace lbfp {
namespace {

const KernelPath kPaths[] = {KernelPath::kReference, KernelPath::kPortable, KernelPath::kAvx512,
                             KernelPath::kAuto};

std::vector<ScaledFormat> formats() {
  std::vector<ScaledFormat> out;
  for (ElementKind e : {ElementKind::kInt8, ElementKind::kE4M3, ElementKind::kE5M2}) {
    for (ScaleKind s : {ScaleKind::kMxBlock, ScaleKind::kTensor}) {
      out.emplace_back(e, s);  // the default A
    }
  }
  // Narrow accumulators that real data saturates.
  out.emplace_back(ElementKind::kInt8, ScaleKind::kTensor, 16);
  out.emplace_back(ElementKind::kInt8, ScaleKind::kMxBlock, 12);
  out.emplace_back(ElementKind::kE4M3, ScaleKind::kTensor, 24);
  out.emplace_back(ElementKind::kE4M3, ScaleKind::kMxBlock, 30);
  out.emplace_back(ElementKind::kE5M2, ScaleKind::kTensor, 40);
  out.emplace_back(ElementKind::kE5M2, ScaleKind::kMxBlock, 50);
  return out;
}

bool valid(const ScaledFormat& f, unsigned c) {
  try {
    check_code(f, c);
    return true;
  } catch (const std::out_of_range&) {
    return false;
  }
}

// kUniform: every valid code alike. kSmall: the magnitudes of calibrated data (the codes of
// values around 1 with E = 0), some zeros. kTop: the largest magnitudes, which saturate.
enum class Codes { kUniform, kSmall, kTop };

Code draw(const ScaledFormat& f, Codes kind, std::mt19937& rng) {
  while (true) {
    Code c = static_cast<Code>(rng() & 0xff);
    if (kind == Codes::kSmall) {
      std::normal_distribution<double> normal(0.0, 1.0);
      c = encode(f, normal(rng), f.is_float() ? 0 : -6);
    } else if (kind == Codes::kTop) {
      // The largest magnitude (0x7f INT8, 0x7e E4M3, 0x7b E5M2) or one below, either sign.
      const unsigned top = f.element() == ElementKind::kInt8   ? 0x7f
                           : f.element() == ElementKind::kE4M3 ? 0x7e
                                                               : 0x7b;
      c = static_cast<Code>((top - (rng() % 2)) | ((rng() % 4 == 0) ? 0x80 : 0));
    }
    if (valid(f, c)) return c;
  }
}

struct Case {
  size_t m, n, k, block;
  size_t lda, ldb;
  std::vector<Code> a, b;
  std::vector<Int128> initial;  // empty: nullptr
};

Case make_case(const ScaledFormat& f, size_t m, size_t n, size_t k, size_t block, Codes kind,
               bool with_initial, std::mt19937& rng) {
  Case c{m, n, k, block, k + 3, k + 1, {}, {}, {}};
  c.a.resize(m * c.lda);
  c.b.resize(n * c.ldb);
  for (auto& x : c.a) x = draw(f, kind, rng);
  for (auto& x : c.b) x = draw(f, kind, rng);
  if (with_initial) {
    const Int128 max = (Int128{1} << (f.acc_bits() - 1)) - 1;
    for (size_t j = 0; j < n; ++j) {
      switch (j % 5) {
        case 0: c.initial.push_back(max); break;        // the range's ends
        case 1: c.initial.push_back(-max - 1); break;
        case 2: c.initial.push_back(0); break;
        default: {
          const Int128 v = static_cast<Int128>(static_cast<int64_t>(rng() % 2001) - 1000) *
                           static_cast<Int128>(rng() % 1000);
          c.initial.push_back(std::min(max, std::max(-max - 1, v)));
        }
      }
    }
  }
  return c;
}

ScaledGemmProblem view(const Case& c) {
  ScaledGemmProblem p;
  p.m = c.m;
  p.n = c.n;
  p.k = c.k;
  p.a = c.a.data();
  p.lda = c.lda;
  p.b = c.b.data();
  p.ldb = c.ldb;
  p.block = c.block;
  p.initial = c.initial.empty() ? nullptr : c.initial.data();
  return p;
}

// Every sum against lbfp::dot; returns the sums the golden reference saturated.
uint64_t check_case(const ScaledFormat& f, const Case& c, const std::string& what) {
  const ScaledGemmProblem p = view(c);
  const size_t blocks = scaled_gemm_blocks(p);
  const size_t len = c.block == 0 ? c.k : c.block;
  std::vector<WideDotResult> want(c.m * c.n * blocks);
  uint64_t want_overflows = 0;
  for (size_t i = 0; i < c.m; ++i) {
    for (size_t j = 0; j < c.n; ++j) {
      for (size_t q = 0; q < blocks; ++q) {
        const size_t k0 = std::min(c.k, q * len);
        const size_t k1 = std::min(c.k, k0 + len);
        const Int128 start = c.initial.empty() ? 0 : c.initial[j];
        want[(i * c.n + j) * blocks + q] =
            dot(f, c.a.data() + i * c.lda + k0, c.b.data() + j * c.ldb + k0, k1 - k0, start);
        want_overflows += want[(i * c.n + j) * blocks + q].overflows;
      }
    }
  }
  for (KernelPath path : kPaths) {
    if (!kernel_path_available(path, f)) continue;  // ScaledGemm.PathsAvailable says so
    GemmOptions options;
    options.path = path;
    const size_t ldc = c.n * blocks + 2;
    std::vector<Int128> acc(c.m * ldc, Int128{12345});
    const ScaledGemmStats stats = gemm_accumulate(f, p, acc.data(), ldc, options);
    EXPECT_EQ(stats.overflows, want_overflows) << what << " path " << to_string(path);
    size_t wrong = 0;
    for (size_t i = 0; i < c.m; ++i) {
      for (size_t j = 0; j < c.n; ++j) {
        for (size_t q = 0; q < blocks; ++q) {
          if (acc[i * ldc + j * blocks + q] != want[(i * c.n + j) * blocks + q].acc && ++wrong < 4) {
            ADD_FAILURE() << what << " path " << to_string(path) << " sum (" << i << ", " << j
                          << ", " << q << "): " << to_decimal(acc[i * ldc + j * blocks + q])
                          << " != " << to_decimal(want[(i * c.n + j) * blocks + q].acc);
          }
        }
        // The padding past N * blocks is left alone.
        EXPECT_EQ(acc[i * ldc + c.n * blocks], Int128{12345});
      }
    }
    EXPECT_EQ(wrong, 0u) << what << " path " << to_string(path);
  }
  return want_overflows;
}

struct Shape {
  size_t m, n, k;
};
// Edges of the 4 x 16 and 2 x 16 tiles, M or N of 1, K of 1, 0, and not a multiple of a block.
const Shape kShapes[] = {{1, 1, 1}, {3, 17, 33}, {5, 1, 100}, {9, 33, 64}, {2, 16, 0}, {7, 40, 97}};

TEST(ScaledGemm, PathsAvailable) {
  // Every path is expected on this project's CPUs; a missing one is reported loudly, since the
  // comparisons below then cover fewer kernels.
  for (const ScaledFormat& f : formats()) {
    EXPECT_TRUE(kernel_path_available(KernelPath::kPortable, f)) << f.name();
    if (!kernel_path_available(KernelPath::kAvx512, f)) {
      std::cout << "NOT RUN: the AVX-512 kernel for " << f.name() << " (this CPU lacks AVX-512 "
                << "F/BW/VL/VNNI)\n";
    }
  }
  EXPECT_FALSE(kernel_path_available(KernelPath::kAvx2, ScaledFormat(ElementKind::kInt8,
                                                                      ScaleKind::kTensor)));
}

TEST(ScaledGemm, EqualsGoldenDotRandomAndBoundary) {
  std::mt19937 rng(21);
  for (const ScaledFormat& f : formats()) {
    for (const Shape& s : kShapes) {
      for (Codes kind : {Codes::kUniform, Codes::kSmall, Codes::kTop}) {
        const std::string what = f.name() + " " + std::to_string(s.m) + "x" +
                                 std::to_string(s.n) + "x" + std::to_string(s.k) + " codes " +
                                 std::to_string(static_cast<int>(kind));
        if (f.is_mx()) {
          for (size_t block : {size_t{1}, size_t{7}, size_t{32}}) {
            check_case(f, make_case(f, s.m, s.n, s.k, block, kind, false, rng),
                       what + " block " + std::to_string(block));
          }
        } else {
          check_case(f, make_case(f, s.m, s.n, s.k, 0, kind, false, rng), what);
          check_case(f, make_case(f, s.m, s.n, s.k, 0, kind, true, rng), what + " initial");
        }
      }
    }
  }
}

TEST(ScaledGemm, SaturatesAsTheGoldenAccumulator) {
  // Top magnitudes in narrow accumulators: the bounds clear nothing, the sums saturate, and the
  // fallback must give lbfp::dot's value and count.
  std::mt19937 rng(7);
  for (const ScaledFormat& f : formats()) {
    if (f.acc_bits() == ScaledFormat::default_acc_bits(f.element())) continue;
    const size_t block = f.is_mx() ? 32 : 0;
    const Case c = make_case(f, 6, 20, 96, block, Codes::kTop, !f.is_mx(), rng);
    EXPECT_GT(check_case(f, c, f.name() + " saturating"), 0u) << f.name();
    GemmOptions options;
    options.path = KernelPath::kPortable;
    std::vector<Int128> acc(c.m * c.n * 3);
    const ScaledGemmStats stats = gemm_accumulate(f, view(c), acc.data(), c.n * 3, options);
    EXPECT_GT(stats.sequential_sums, 0u) << f.name();
  }
}

TEST(ScaledGemm, DefaultWidthsClearEveryMxBlock) {
  // Section 13.5: one MX block pair of 32 products never saturates at the default A, so the
  // kernels prove every block at once, even with the largest codes.
  std::mt19937 rng(3);
  for (ElementKind e : {ElementKind::kInt8, ElementKind::kE4M3, ElementKind::kE5M2}) {
    const ScaledFormat f(e, ScaleKind::kMxBlock);
    const Case c = make_case(f, 4, 16, 64, 32, Codes::kTop, false, rng);
    std::vector<Int128> acc(c.m * c.n * 2);
    const ScaledGemmStats stats = gemm_accumulate(f, view(c), acc.data(), c.n * 2);
    EXPECT_EQ(stats.sequential_sums, 0u) << f.name();
    EXPECT_EQ(stats.overflows, 0u) << f.name();
  }
}

TEST(ScaledGemm, RejectsBadViews) {
  const ScaledFormat mx(ElementKind::kE4M3, ScaleKind::kMxBlock);
  const ScaledFormat fp8(ElementKind::kE4M3, ScaleKind::kTensor);
  std::vector<Code> a(64, 0x38), b(64, 0x38);
  std::vector<Int128> acc(64);
  ScaledGemmProblem p;
  p.m = 1;
  p.n = 1;
  p.k = 40;
  p.a = a.data();
  p.lda = 40;
  p.b = b.data();
  p.ldb = 40;
  p.block = 0;
  EXPECT_THROW(gemm_accumulate(mx, p, acc.data(), 2), std::invalid_argument);  // MX, no blocks
  p.block = 33;
  EXPECT_THROW(gemm_accumulate(mx, p, acc.data(), 2), std::invalid_argument);
  p.block = 32;
  EXPECT_THROW(gemm_accumulate(mx, p, acc.data(), 1), std::invalid_argument);  // ldc < 2 blocks
  EXPECT_NO_THROW(gemm_accumulate(mx, p, acc.data(), 2));
  const Int128 too_big = Int128{1} << 41;
  p.initial = &too_big;
  EXPECT_THROW(gemm_accumulate(fp8, p, acc.data(), 2), std::invalid_argument);  // with blocks
  p.block = 0;
  EXPECT_THROW(gemm_accumulate(fp8, p, acc.data(), 2), std::out_of_range);  // beyond A = 42
  p.initial = nullptr;
  p.lda = 39;
  EXPECT_THROW(gemm_accumulate(fp8, p, acc.data(), 2), std::invalid_argument);
  p.lda = 40;
  a[17] = 0x7f;  // an E4M3 NaN code
  for (KernelPath path : {KernelPath::kReference, KernelPath::kPortable}) {
    GemmOptions o;
    o.path = path;
    EXPECT_THROW(gemm_accumulate(fp8, p, acc.data(), 2, o), std::out_of_range);
  }
  a[17] = 0x38;
  GemmOptions o;
  o.path = KernelPath::kAvx2;
  EXPECT_THROW(gemm_accumulate(fp8, p, acc.data(), 2, o), std::invalid_argument);
  o.path = KernelPath::kAuto;
  o.threads = 0;
  EXPECT_THROW(gemm_accumulate(fp8, p, acc.data(), 2, o), std::invalid_argument);
}

}  // namespace
}  // namespace lbfp
