// Every GEMM kernel path this CPU supports, forced one at a time, against the scalar reference
// (lbfp::dot per output in k order): accumulators and overflow counts identical to the bit.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <iostream>
#include <iterator>
#include <random>
#include <string>
#include <vector>

#include "lbfp/arith.h"
#include "lbfp/gemm.h"

namespace lbfp {
namespace {

const KernelPath kFastPaths[] = {KernelPath::kPortable, KernelPath::kAvx2, KernelPath::kAvx512,
                                 KernelPath::kAvx512Vbmi, KernelPath::kAmx};

struct Shape {
  size_t m, n, k;
};
// K not a multiple of any vector width, M or N of 1, edges of every micro-tile, last panels of
// 1-16 and 17-32 columns (the narrow VBMI and BFP8 micro-kernels; 16, 17, 32 and 33 among
// them), one over several k slices, and tall
// products of 1-4 columns (the portable path's product tables; depthwise convolutions are
// m = pixels, n = 1, k = 9).
const Shape kShapes[] = {{1, 1, 1},     {1, 77, 33},  {37, 1, 100}, {5, 130, 67},
                         {67, 65, 129}, {13, 200, 3}, {9, 64, 513}, {130, 129, 70},
                         {300, 1, 9},   {257, 4, 31}, {23, 27, 90}, {21, 96, 70},
                         {6, 20, 1030}, {11, 17, 45},  {19, 81, 130}, {7, 33, 64}};

// How codes are drawn: the full range (large products, saturating small accumulators) or the
// values of calibrated Gaussian data (mostly mid-range magnitudes, some zeros).
// kTop: only the largest magnitudes, so that even a 32-bit accumulator saturates.
enum class Codes { kUniform, kRealistic, kTop };

template <class Format>
Code random_code(const Format& format, Codes kind, std::mt19937& rng);
template <>
Code random_code(const LbfpFormat& format, Codes kind, std::mt19937& rng) {
  if (kind == Codes::kUniform) return static_cast<Code>(rng() % format.code_count());
  if (kind == Codes::kTop) {
    return make_code(format, rng() % 8 == 0, format.max_magnitude() - static_cast<int>(rng() % 4));
  }
  std::normal_distribution<double> normal(0.0, 1.0);
  return encode(format, normal(rng), 2);  // |x| < 4 mostly
}
template <>
Code random_code(const BfpFormat& format, Codes kind, std::mt19937& rng) {
  const int top = format.max_mantissa();
  if (kind == Codes::kUniform) {
    return make_code(format, static_cast<int>(rng() % (2 * top + 1)) - top);
  }
  if (kind == Codes::kTop) return make_code(format, rng() % 8 == 0 ? -top : top);
  std::normal_distribution<double> normal(0.0, 1.0);
  return encode(format, normal(rng), 2);
}

template <class Format>
struct Case {
  Shape shape;
  size_t lda, ldb;
  std::vector<Code> a, b;
  std::vector<int> b_exponents;
  std::vector<float> bias;
  GemmProblem problem(bool with_bias) const {
    GemmProblem p;
    p.m = shape.m;
    p.n = shape.n;
    p.k = shape.k;
    p.a = a.data();
    p.lda = lda;
    p.a_exponent = 1;
    p.b = b.data();
    p.ldb = ldb;
    p.b_exponents = b_exponents.data();
    p.bias = with_bias ? bias.data() : nullptr;
    return p;
  }
};

template <class Format>
Case<Format> make_case(const Format& format, Shape s, Codes kind, unsigned seed) {
  std::mt19937 rng(seed);
  Case<Format> c;
  c.shape = s;
  c.lda = s.k + seed % 3;  // strided views too
  c.ldb = s.n + seed % 5;
  c.a.resize(s.m * c.lda);
  c.b.resize(s.k * c.ldb);
  for (auto& x : c.a) x = random_code(format, kind, rng);
  for (auto& x : c.b) x = random_code(format, kind, rng);
  std::uniform_int_distribution<int> exp(-3, 3);
  std::normal_distribution<double> normal(0.0, 1.0);
  for (size_t j = 0; j < s.n; ++j) {
    c.b_exponents.push_back(exp(rng));
    c.bias.push_back(static_cast<float>(normal(rng) * 8.0));
  }
  return c;
}

// Large enough (over 4 million multiply-adds) for the AVX-512 kernels to split the call over
// the worker threads, with several k slices and edge tiles on every side.
const Shape kParallelShapes[] = {{143, 261, 151}, {41, 130, 1101}};

template <class Format>
void expect_paths_match(const Format& format, Codes kind, bool expect_saturation,
                        const std::vector<Shape>& shapes = {std::begin(kShapes),
                                                            std::end(kShapes)},
                        const std::vector<int>& thread_counts = {1, 2},
                        const std::vector<KernelPath>& paths = {std::begin(kFastPaths),
                                                                std::end(kFastPaths)},
                        const std::vector<bool>& biases = {false, true}) {
  uint64_t saturated = 0;
  unsigned seed = 1;
  for (const Shape& s : shapes) {
    const auto c = make_case(format, s, kind, seed++);
    for (bool with_bias : biases) {
      const GemmProblem p = c.problem(with_bias);
      std::vector<int64_t> ref(s.m * s.n);
      std::vector<uint32_t> ref_over(s.m * s.n);
      GemmOptions ref_options;
      ref_options.path = KernelPath::kReference;
      const GemmStats ref_stats =
          gemm_accumulate(format, p, ref.data(), s.n, ref_over.data(), ref_options);
      saturated += ref_stats.overflows;
      for (KernelPath path : paths) {
        if (!kernel_path_available(path, format)) continue;
        for (int threads : thread_counts) {
          GemmOptions options;
          options.path = path;
          options.threads = threads;
          std::vector<int64_t> acc(s.m * s.n, -1);
          std::vector<uint32_t> over(s.m * s.n, 99);
          const GemmStats st = gemm_accumulate(format, p, acc.data(), s.n, over.data(), options);
          const std::string where = format.name() + " path " + to_string(path) + " threads " +
                                    std::to_string(threads) + " m,n,k " + std::to_string(s.m) +
                                    "," + std::to_string(s.n) + "," + std::to_string(s.k) +
                                    (with_bias ? " bias" : "");
          ASSERT_EQ(st.path, path) << where;
          ASSERT_EQ(st.overflows, ref_stats.overflows) << where;
          for (size_t i = 0; i < acc.size(); ++i) {
            ASSERT_EQ(acc[i], ref[i]) << where << " output " << i;
            ASSERT_EQ(over[i], ref_over[i]) << where << " output " << i;
          }
        }
      }
    }
  }
  if (expect_saturation) {
    EXPECT_GT(saturated, 0u) << "the case set never saturated";
  }
}

TEST(GemmTest, ThisMachineHasTheFastPaths) {
  // Not a requirement of the library; it documents which paths the other tests covered here.
  for (KernelPath path : kFastPaths) {
    std::cout << to_string(path) << ": lbfp8 " << kernel_path_available(path, lbfp8())
              << ", bfp8 " << kernel_path_available(path, bfp8()) << "\n";
  }
  EXPECT_TRUE(kernel_path_available(KernelPath::kPortable, lbfp8()));
  EXPECT_TRUE(kernel_path_available(KernelPath::kPortable, bfp8()));
  EXPECT_FALSE(kernel_path_available(KernelPath::kAvx512Vbmi, bfp8()));  // no BFP VBMI kernel
  EXPECT_FALSE(kernel_path_available(KernelPath::kAmx, lbfp8()));  // no LBFP AMX kernel
#if defined(__x86_64__)
  // LBFP8's tables pass their exhaustive proofs, the VBMI split's too: a CPU with VBMI gets it.
  if (kernel_path_available(KernelPath::kAvx512, lbfp8()) &&
      __builtin_cpu_supports("avx512vbmi")) {
    EXPECT_TRUE(kernel_path_available(KernelPath::kAvx512Vbmi, lbfp8()));
  }
#endif
}

// The paths the other tests skip where the CPU lacks them: each is named here, and reported as
// NOT RUN (skipped) on such a machine rather than passing.
// The LBFP paths and the BFP paths are separate suites: a path with no kernel for a format
// (VBMI for BFP, AMX for LBFP) is not a test there.
class GemmPathTest : public ::testing::TestWithParam<KernelPath> {};
class BfpGemmPathTest : public ::testing::TestWithParam<KernelPath> {};
}  // namespace
// The parameter's name in test listings (found by argument-dependent lookup in lbfp).
void PrintTo(KernelPath path, std::ostream* os) { *os << to_string(path); }
namespace {
TEST_P(GemmPathTest, Lbfp8PathMatchesReferenceOnThisCpu) {
  const KernelPath path = GetParam();
  if (!kernel_path_available(path, lbfp8())) {
    GTEST_SKIP() << "NOT RUN: kernel path " << to_string(path)
                 << " needs a CPU feature this machine lacks";
  }
  // Realistic, full-range and saturating codes, one small and one threaded shape each.
  for (Codes kind : {Codes::kRealistic, Codes::kUniform, Codes::kTop}) {
    const auto c = make_case(lbfp8(), {67, 65, 129}, kind, 11);
    const GemmProblem p = c.problem(true);
    std::vector<int64_t> ref(67 * 65), acc(67 * 65, -1);
    std::vector<uint32_t> ref_over(67 * 65), over(67 * 65, 99);
    GemmOptions options;
    options.path = KernelPath::kReference;
    gemm_accumulate(lbfp8(), p, ref.data(), 65, ref_over.data(), options);
    options.path = path;
    EXPECT_EQ(gemm_accumulate(lbfp8(), p, acc.data(), 65, over.data(), options).path, path);
    EXPECT_EQ(acc, ref);
    EXPECT_EQ(over, ref_over);
  }
}
// BFP (W = 8, read in place where k allows, and W = 6 through the mantissa table), every shape
// edge of the 32 x 64 AMX blocks, saturating accumulators, one thread and two.
TEST_P(BfpGemmPathTest, BfpPathMatchesReferenceOnThisCpu) {
  const KernelPath path = GetParam();
  if (!kernel_path_available(path, bfp8())) {
    GTEST_SKIP() << "NOT RUN: kernel path " << to_string(path)
                 << " needs a CPU feature this machine lacks";
  }
  const std::vector<Shape> shapes = {{1, 1, 1}, {31, 33, 63}, {32, 64, 64}, {33, 65, 128},
                                     {70, 130, 200}};
  for (const Codes kind : {Codes::kUniform, Codes::kRealistic}) {
    expect_paths_match(bfp8(), kind, false, shapes, {1, 2}, {path});
    expect_paths_match(BfpFormat(6, 32), kind, false, shapes, {2}, {path});
  }
  expect_paths_match(BfpFormat(8, 20), Codes::kTop, true, shapes, {2}, {path});
  // Over 4 million multiply-adds: the call is split over two threads.
  expect_paths_match(bfp8(), Codes::kUniform, false, {{48, 70, 1280}}, {2}, {path});
}
INSTANTIATE_TEST_SUITE_P(Paths, GemmPathTest,
                         ::testing::Values(KernelPath::kAvx2, KernelPath::kAvx512,
                                           KernelPath::kAvx512Vbmi),
                         [](const ::testing::TestParamInfo<KernelPath>& path_info) {
                           return to_string(path_info.param);
                         });
INSTANTIATE_TEST_SUITE_P(Paths, BfpGemmPathTest,
                         ::testing::Values(KernelPath::kAvx2, KernelPath::kAvx512,
                                           KernelPath::kAmx),
                         [](const ::testing::TestParamInfo<KernelPath>& path_info) {
                           return to_string(path_info.param);
                         });

// kAuto looks at the shape: a product a few columns wide (a depthwise convolution's group) goes
// to the portable kernel, a shallow and narrow one to AVX2, both exact like every path; wide
// and deep products keep the format's fastest whole-call kernel; a deep product at most 32
// columns wide takes the VBMI kernel (its narrow micro-kernels) wherever the CPU has VBMI.
TEST(GemmTest, AutoTakesTheNarrowKernelsForNarrowProducts) {
  for (const Shape s :
       {Shape{300, 1, 9}, Shape{300, 16, 9}, Shape{70, 130, 200}, Shape{300, 24, 200}}) {
    const auto c = make_case(lbfp8(), s, Codes::kRealistic, 5);
    const GemmProblem p = c.problem(true);
    std::vector<int64_t> ref(s.m * s.n), acc(s.m * s.n);
    GemmOptions options;
    options.path = KernelPath::kReference;
    gemm_accumulate(lbfp8(), p, ref.data(), s.n, nullptr, options);
    options.path = KernelPath::kAuto;
    const KernelPath path = gemm_accumulate(lbfp8(), p, acc.data(), s.n, nullptr, options).path;
    EXPECT_EQ(acc, ref) << to_string(path);
    if (s.n == 1) {
      EXPECT_EQ(path, KernelPath::kPortable);
    } else if (s.k <= 16) {
      EXPECT_EQ(path, kernel_path_available(KernelPath::kAvx2, lbfp8()) ? KernelPath::kAvx2
                                                                         : KernelPath::kPortable);
    } else if (s.n <= 32 && kernel_path_available(KernelPath::kAvx512Vbmi, lbfp8())) {
      EXPECT_EQ(path, KernelPath::kAvx512Vbmi);
    } else {
      EXPECT_NE(path, KernelPath::kPortable);
      EXPECT_NE(path, KernelPath::kReference);
    }
  }
}

TEST(GemmTest, Lbfp8RealisticCodesMatchReference) {
  expect_paths_match(lbfp8(), Codes::kRealistic, false);
}
TEST(GemmTest, TallNarrowProductsSplitOverThreadsMatchReference) {
  // m n k >= 2^18 with one column: the portable path's product tables, the rows split over two
  // threads (each with its own tables).
  const std::vector<Shape> tall = {{7000, 1, 40}};
  expect_paths_match(lbfp8(), Codes::kRealistic, false, tall);
  expect_paths_match(bfp8(), Codes::kUniform, false, tall);
}
TEST(GemmTest, Lbfp8LargeCodesMatchReference) {
  expect_paths_match(lbfp8(), Codes::kUniform, false);
  expect_paths_match(lbfp8(), Codes::kTop, true);  // saturates A = 32
}
TEST(GemmTest, Lbfp8SaturatingAccumulatorsMatchReference) {
  expect_paths_match(LbfpFormat(8, 4, 8, 16), Codes::kRealistic, true);
  expect_paths_match(LbfpFormat(8, 4, 8, 20), Codes::kUniform, true);
}
TEST(GemmTest, Lbfp8WideAccumulatorMatchesReference) {
  expect_paths_match(LbfpFormat(8, 4, 8, 40), Codes::kUniform, false);
}
TEST(GemmTest, Bfp8MatchesReference) {
  expect_paths_match(bfp8(), Codes::kUniform, false);
  expect_paths_match(bfp8(), Codes::kRealistic, false);
}
TEST(GemmTest, Bfp8SaturatingAccumulatorsMatchReference) {
  expect_paths_match(BfpFormat(8, 16), Codes::kUniform, true);
  expect_paths_match(BfpFormat(8, 20), Codes::kUniform, true);
}
// W = 8 BFP with k a multiple of 4: the AVX-512 kernel reads full row blocks of A in place
// (strided rows, lda not a multiple of 4) and packs only the last partial block; one k slice
// and several, one thread and two (the last shape has over 4 million multiply-adds).
TEST(GemmTest, Bfp8InPlaceRowsMatchReference) {
  const std::vector<Shape> shapes = {{6, 64, 4}, {37, 130, 100}, {13, 65, 516}};
  expect_paths_match(bfp8(), Codes::kUniform, false, shapes);
  expect_paths_match(bfp8(), Codes::kRealistic, false, shapes);
  expect_paths_match(BfpFormat(8, 16), Codes::kTop, true, shapes);
  expect_paths_match(bfp8(), Codes::kUniform, false, {{70, 64, 1028}}, {2});
}
// The calls split over threads, with a bias (the calls without are the same split; the golden
// reference takes most of the time, so each (format, codes) pair is checked once).
TEST(GemmTest, ParallelCallsMatchReference) {
  const std::vector<Shape> shapes(std::begin(kParallelShapes), std::end(kParallelShapes));
  const std::vector<KernelPath> paths(std::begin(kFastPaths), std::end(kFastPaths));
  expect_paths_match(lbfp8(), Codes::kRealistic, false, shapes, {2, 3}, paths, {true});
  expect_paths_match(lbfp8(), Codes::kUniform, false, shapes, {2}, paths, {true});
  expect_paths_match(LbfpFormat(8, 4, 8, 24), Codes::kTop, true, shapes, {2}, paths, {true});
  expect_paths_match(bfp8(), Codes::kUniform, false, shapes, {2, 3}, paths, {true});
  expect_paths_match(BfpFormat(8, 24), Codes::kTop, true, shapes, {2}, paths, {true});
}

// A reduction cut into K chunks, each resumed from the previous chunk's accumulators
// (initial_acc), on every path: the final sums equal the unsplit reference bit for bit (the
// saturating sum runs on from the clamped value) and the chunks' overflow counts add up.
template <class Format>
void expect_split_matches(const Format& format, Codes kind, bool expect_saturation) {
  uint64_t saturated = 0;
  unsigned seed = 11;
  for (const Shape& s : kShapes) {
    if (s.k < 2) continue;
    const auto c = make_case(format, s, kind, seed++);
    const GemmProblem whole = c.problem(true);
    std::vector<int64_t> ref(s.m * s.n);
    std::vector<uint32_t> ref_over(s.m * s.n);
    GemmOptions ref_options;
    ref_options.path = KernelPath::kReference;
    saturated += gemm_accumulate(format, whole, ref.data(), s.n, ref_over.data(), ref_options)
                     .overflows;
    // Chunk boundaries: one step, then a third, then the rest.
    const size_t cuts[] = {0, 1, std::max<size_t>(2, s.k / 3), s.k};
    for (KernelPath path : {KernelPath::kReference, KernelPath::kPortable, KernelPath::kAvx2,
                            KernelPath::kAvx512, KernelPath::kAvx512Vbmi, KernelPath::kAmx}) {
      if (!kernel_path_available(path, format)) continue;
      GemmOptions options;
      options.path = path;
      options.threads = 2;
      std::vector<int64_t> acc(s.m * s.n);
      std::vector<uint32_t> total_over(s.m * s.n, 0);
      for (size_t j = 0; j + 1 < std::size(cuts); ++j) {
        if (cuts[j] >= cuts[j + 1]) continue;
        GemmProblem chunk = whole;
        chunk.k = cuts[j + 1] - cuts[j];
        chunk.a = c.a.data() + cuts[j];
        chunk.b = c.b.data() + cuts[j] * c.ldb;
        const std::vector<int64_t> before = acc;
        if (j > 0) {
          chunk.bias = nullptr;
          chunk.initial_acc = before.data();
          chunk.ld_initial = s.n;
        }
        std::vector<uint32_t> over(s.m * s.n, 99);
        gemm_accumulate(format, chunk, acc.data(), s.n, over.data(), options);
        for (size_t i = 0; i < over.size(); ++i) total_over[i] += over[i];
      }
      const std::string where = format.name() + " path " + to_string(path) + " m,n,k " +
                                std::to_string(s.m) + "," + std::to_string(s.n) + "," +
                                std::to_string(s.k);
      for (size_t i = 0; i < acc.size(); ++i) {
        ASSERT_EQ(acc[i], ref[i]) << where << " output " << i;
        ASSERT_EQ(total_over[i], ref_over[i]) << where << " output " << i;
      }
    }
  }
  if (expect_saturation) {
    EXPECT_GT(saturated, 0u) << "the case set never saturated";
  }
}

TEST(GemmTest, SplitReductionResumesExactly) {
  expect_split_matches(lbfp8(), Codes::kRealistic, false);
  expect_split_matches(lbfp8(), Codes::kTop, true);
  expect_split_matches(LbfpFormat(8, 4, 8, 16), Codes::kRealistic, true);
  expect_split_matches(bfp8(), Codes::kUniform, false);
  expect_split_matches(BfpFormat(8, 16), Codes::kUniform, true);
}

TEST(GemmTest, InitialAccumulatorsAreChecked) {
  const auto c = make_case(lbfp8(), {2, 3, 4}, Codes::kUniform, 3);
  std::vector<int64_t> acc(6);
  std::vector<int64_t> init(6, 0);
  GemmProblem p = c.problem(true);
  p.initial_acc = init.data();
  p.ld_initial = 3;
  EXPECT_THROW(gemm_accumulate(lbfp8(), p, acc.data(), 3), std::invalid_argument);  // and bias
  p.bias = nullptr;
  p.ld_initial = 2;
  EXPECT_THROW(gemm_accumulate(lbfp8(), p, acc.data(), 3), std::invalid_argument);
  p.ld_initial = 3;
  init[4] = int64_t{1} << 31;  // outside A = 32
  EXPECT_THROW(gemm_accumulate(lbfp8(), p, acc.data(), 3), std::invalid_argument);
}

// A dense product: A m x k and B k x n row-major, B's exponents `b_exponents`.
GemmProblem dense_problem(const std::vector<Code>& a, const std::vector<Code>& b,
                          const std::vector<int>& b_exponents, size_t m, size_t n, size_t k) {
  GemmProblem p;
  p.m = m;
  p.n = n;
  p.k = k;
  p.a = a.data();
  p.lda = k;
  p.b = b.data();
  p.ldb = n;
  p.b_exponents = b_exponents.data();
  return p;
}

// The accumulators, overflow counts and statistics of `p` on `path`.
struct PathSums {
  std::vector<int64_t> acc;
  std::vector<uint32_t> over;
  GemmStats stats;
};
template <class Format>
PathSums sums_on(const Format& format, const GemmProblem& p, KernelPath path) {
  PathSums r;
  r.acc.assign(p.m * p.n, -1);
  r.over.assign(p.m * p.n, 99);
  GemmOptions options;
  options.path = path;
  r.stats = gemm_accumulate(format, p, r.acc.data(), p.n, r.over.data(), options);
  return r;
}

// Every pair of codes on every path: row a of A all code a, column b of B all code b, so that
// output (a, b) is k times the product of a and b (k = 1 and 5: one step, and a k loop with a
// remainder). LBFP8 with LUTs of 0, 5 and 8 bits (the kernels' tables and their exhaustive
// proofs are built per format), and BFP8 (its one invalid byte left out).
template <class Format>
void expect_every_pair_matches(const Format& format) {
  std::vector<Code> codes;
  for (unsigned c = 0; c < 256; ++c) {
    try {
      check_code(format, c);
      codes.push_back(static_cast<Code>(c));
    } catch (const std::out_of_range&) {
    }
  }
  const size_t n = codes.size();
  for (size_t k : {size_t{1}, size_t{5}}) {
    std::vector<Code> a(n * k), b(k * n);
    for (size_t i = 0; i < n; ++i) {
      for (size_t kk = 0; kk < k; ++kk) {
        a[i * k + kk] = codes[i];
        b[kk * n + i] = codes[i];
      }
    }
    const std::vector<int> b_exponents(n, 0);
    const GemmProblem p = dense_problem(a, b, b_exponents, n, n, k);
    const PathSums ref = sums_on(format, p, KernelPath::kReference);
    for (KernelPath path : kFastPaths) {
      if (!kernel_path_available(path, format)) continue;
      EXPECT_EQ(sums_on(format, p, path).acc, ref.acc)
          << format.name() << " " << to_string(path) << " k " << k;
    }
  }
}

TEST(GemmTest, EveryCodePairMatchesReferenceOnEveryPath) {
  for (int lut_bits : {0, 5, 8}) {
    const LbfpFormat format(8, 4, lut_bits, 32);
    EXPECT_TRUE(kernel_path_available(KernelPath::kPortable, format)) << format.name();
    expect_every_pair_matches(format);
  }
  expect_every_pair_matches(bfp8());
}

TEST(GemmTest, OtherFormatsFallBackToReference) {
  const LbfpFormat narrow(6, 3, 8, 24);
  EXPECT_FALSE(kernel_path_available(KernelPath::kAvx512, narrow));
  const auto c = make_case(narrow, {7, 9, 11}, Codes::kUniform, 5);
  std::vector<int64_t> acc(63);
  const GemmStats st = gemm_accumulate(narrow, c.problem(true), acc.data(), 9);
  EXPECT_EQ(st.path, KernelPath::kReference);
  GemmOptions forced;
  forced.path = KernelPath::kAvx512;
  EXPECT_THROW(gemm_accumulate(narrow, c.problem(true), acc.data(), 9, nullptr, forced),
               std::invalid_argument);
}

// The per-call overflow proof must clear calibrated data with a long reduction (a 3x3x256
// convolution), or the fast kernels would fall back to the sequential path where they matter.
TEST(GemmTest, OverflowProofClearsCalibratedData) {
  const size_t m = 16, n = 64, k = 2304;
  std::mt19937 rng(9);
  std::normal_distribution<double> normal(0.0, 1.0);
  std::vector<Code> a(m * k), b(k * n);
  for (auto& x : a) x = encode(lbfp8(), std::max(0.0, normal(rng)), 3);  // ReLU'd, amax < 8
  for (auto& x : b) x = encode(lbfp8(), normal(rng), 3);
  const std::vector<int> b_exponents(n, 3);
  GemmProblem p = dense_problem(a, b, b_exponents, m, n, k);
  p.a_exponent = 3;
  std::vector<int64_t> acc(m * n);
  const GemmStats st = gemm_accumulate(lbfp8(), p, acc.data(), n);
  EXPECT_EQ(st.sequential_outputs, 0u);
  std::vector<int64_t> ref(m * n);
  GemmOptions options;
  options.path = KernelPath::kReference;
  gemm_accumulate(lbfp8(), p, ref.data(), n, nullptr, options);
  EXPECT_EQ(acc, ref);
}

// A long reduction the proof cannot clear (a 3x3x512 convolution's k, codes near the top):
// those outputs are summed in k order from chunk sums and the term table, or by lbfp::dot where
// a partial sum saturates (rows of the largest codes against columns of the largest positive
// codes, or of the largest negative ones); both must equal the reference bit for bit.
// k = 4608 and 1037 (chunks of 64-step multiples and a shorter last one): the in-order sums take
// a chunk's sum from the kernels (the last one from the whole product's) where its bound cannot
// leave the range, and sum it step by step where it may.
void expect_uncleared_outputs_summed_in_order(size_t k) {
  SCOPED_TRACE("k = " + std::to_string(k));
  const size_t m = 9, n = 19;
  std::mt19937 rng(11);
  std::normal_distribution<double> normal(0.0, 1.0);
  std::vector<Code> a(m * k), b(k * n);
  for (size_t i = 0; i < m; ++i) {
    for (size_t kk = 0; kk < k; ++kk) {
      a[i * k + kk] = i % 3 == 2 ? random_code(lbfp8(), Codes::kTop, rng)
                                 : encode(lbfp8(), std::min(3.9, std::abs(normal(rng))), 2);
    }
  }
  for (size_t kk = 0; kk < k; ++kk) {
    for (size_t j = 0; j < n; ++j) {  // columns 0, 5, ... positive top codes, 3, 8, ...
      const int top = lbfp8().max_magnitude() - static_cast<int>(rng() % 4);  // negative ones
      b[kk * n + j] = j % 5 == 0   ? make_code(lbfp8(), false, top)
                      : j % 5 == 3 ? make_code(lbfp8(), true, top)
                                   : encode(lbfp8(), std::max(-3.9, std::min(3.9, normal(rng))), 2);
    }
  }
  const std::vector<int> b_exponents(n, 2);
  std::vector<float> bias(n);
  for (auto& x : bias) x = static_cast<float>(normal(rng) * 4.0);
  GemmProblem p = dense_problem(a, b, b_exponents, m, n, k);
  p.a_exponent = 2;
  p.bias = bias.data();
  const PathSums ref = sums_on(lbfp8(), p, KernelPath::kReference);
  EXPECT_GT(ref.stats.overflows, 0u);
  size_t in_range = 0;
  for (uint32_t o : ref.over) in_range += o == 0 ? 1 : 0;
  for (KernelPath path : kFastPaths) {
    if (!kernel_path_available(path, lbfp8())) continue;
    const PathSums got = sums_on(lbfp8(), p, path);
    const GemmStats& st = got.stats;
    EXPECT_GT(st.sequential_outputs, m * n / 3) << to_string(path);
    EXPECT_GT(in_range, m * n / 3);
    EXPECT_EQ(got.acc, ref.acc) << to_string(path);
    EXPECT_EQ(got.over, ref.over) << to_string(path);
    EXPECT_EQ(st.overflows, ref.stats.overflows) << to_string(path);
  }
}

TEST(GemmTest, UnclearedOutputsSummedInOrderMatchReference) {
  expect_uncleared_outputs_summed_in_order(4608);
  expect_uncleared_outputs_summed_in_order(1037);
}

// Calls of one shape in a row, as a layer whose weights stream makes them: after a call whose
// outputs were walked in chunks, the next call's first pass runs in those chunks and the walk
// reads them. Uncleared products (twice), a cleared one, a saturating one and an uncleared one
// with a bias, all of the same k and n, each equal to the reference, on every path.
TEST(GemmTest, CallsOfOneShapeInARowMatchReference) {
  const size_t m = 11, n = 16, k = 4608;
  std::mt19937 rng(31);
  auto codes = [&](int top, bool positive) {
    std::vector<Code> v(k * std::max(m, n));
    for (Code& c : v) {
      c = make_code(lbfp8(), !positive && rng() % 2 == 0, static_cast<int>(rng() % (top + 1)));
    }
    return v;
  };
  struct Step {
    int top;
    bool positive;
    bool bias;
  };
  const Step steps[] = {{118, false, false}, {121, false, false}, {100, false, false},
                        {127, true, false},  {118, false, true}};
  std::vector<float> bias(n);
  for (auto& x : bias) x = static_cast<float>(static_cast<int>(rng() % 2001) - 1000);
  std::vector<int> b_exponents(n, 0);
  for (KernelPath path : kFastPaths) {
    if (!kernel_path_available(path, lbfp8())) continue;
    for (const Step& step : steps) {
      const std::vector<Code> a = codes(step.top, step.positive);
      const std::vector<Code> b = codes(step.top, step.positive);
      GemmProblem p = dense_problem(a, b, b_exponents, m, n, k);
      p.a_exponent = 8;
      p.bias = step.bias ? bias.data() : nullptr;
      const PathSums ref = sums_on(lbfp8(), p, KernelPath::kReference);
      const PathSums got = sums_on(lbfp8(), p, path);
      EXPECT_EQ(got.acc, ref.acc) << to_string(path) << " top " << step.top;
      EXPECT_EQ(got.over, ref.over) << to_string(path) << " top " << step.top;
      if (step.top >= 118) {
        EXPECT_GT(got.stats.sequential_outputs, 0u) << to_string(path);
      }
    }
  }
}

// A 40-bit accumulator over large positive products: sums beyond 2^31 that never saturate. The
// kernels' sums are exact only modulo 2^32, so no output is cleared; each is summed from chunk
// sums within int32, the last chunk's taken from the whole product's wrapped sum less the
// partial sum before it. Those outputs must equal the reference, as must the columns of mixed
// signs (cleared or not).
TEST(GemmTest, WideAccumulatorSumsBeyondInt32MatchReference) {
  const LbfpFormat wide(8, 4, 8, 40);
  std::mt19937 rng(23);
  for (size_t k : {size_t{4608}, size_t{1037}}) {
    const size_t m = 7, n = 21;
    std::vector<Code> a(m * k), b(k * n);
    for (Code& c : a) c = make_code(wide, false, 100 + static_cast<int>(rng() % 28));
    for (size_t kk = 0; kk < k; ++kk) {
      for (size_t j = 0; j < n; ++j) {  // columns 0, 3, ... large positive codes
        b[kk * n + j] = j % 3 == 0 ? make_code(wide, false, 100 + static_cast<int>(rng() % 28))
                                   : random_code(wide, Codes::kUniform, rng);
      }
    }
    const std::vector<int> b_exponents(n, 0);
    const GemmProblem p = dense_problem(a, b, b_exponents, m, n, k);
    const PathSums ref = sums_on(wide, p, KernelPath::kReference);
    EXPECT_EQ(ref.stats.overflows, 0u);
    size_t beyond_int32 = 0;
    for (int64_t v : ref.acc) beyond_int32 += v > int64_t{1} << 32 ? 1 : 0;
    EXPECT_GE(beyond_int32, m * (n / 3)) << "k " << k;
    for (KernelPath path : kFastPaths) {
      if (!kernel_path_available(path, wide)) continue;
      const PathSums got = sums_on(wide, p, path);
      EXPECT_GE(got.stats.sequential_outputs, m * (n / 3)) << to_string(path) << " k " << k;
      EXPECT_EQ(got.acc, ref.acc) << to_string(path) << " k " << k;
      EXPECT_EQ(got.over, ref.over) << to_string(path) << " k " << k;
    }
  }
}

// A 20-bit accumulator: no block of 64 steps is safe (64 times the largest term exceeds the
// range), so the block path checks every step; k = 60 takes the term table (no blocks), with
// a few uncleared outputs among cleared ones.
TEST(GemmTest, NarrowAccumulatorInOrderSumsMatchReference) {
  const LbfpFormat narrow(8, 4, 8, 20);
  std::mt19937 rng(5);
  for (size_t k : {size_t{60}, size_t{1037}}) {
    const size_t m = 23, n = 17;
    std::vector<Code> a(m * k), b(k * n);
    for (size_t i = 0; i < m * k; ++i) {
      a[i] = i / k == 3 ? random_code(narrow, Codes::kTop, rng)
                     : random_code(narrow, Codes::kRealistic, rng);
    }
    for (Code& c : b) c = random_code(narrow, Codes::kUniform, rng);
    const std::vector<int> b_exponents(n, 0);
    const GemmProblem p = dense_problem(a, b, b_exponents, m, n, k);
    const PathSums ref = sums_on(narrow, p, KernelPath::kReference);
    for (KernelPath path : kFastPaths) {
      if (!kernel_path_available(path, narrow)) continue;
      const PathSums got = sums_on(narrow, p, path);
      EXPECT_GT(got.stats.sequential_outputs, 0u) << to_string(path) << " k " << k;
      EXPECT_EQ(got.acc, ref.acc) << to_string(path) << " k " << k;
      EXPECT_EQ(got.over, ref.over) << to_string(path) << " k " << k;
    }
  }
}

TEST(GemmTest, RequantizeMatchesReferenceRequantize) {
  for (bool relu : {false, true}) {
    const auto c = make_case(lbfp8(), {33, 70, 45}, Codes::kRealistic, 11);
    const GemmProblem p = c.problem(true);
    std::vector<int64_t> acc(33 * 70);
    GemmOptions ref;
    ref.path = KernelPath::kReference;
    gemm_accumulate(lbfp8(), p, acc.data(), 70, nullptr, ref);
    std::vector<Code> out(33 * 70);
    gemm_requantize(lbfp8(), p, 4, relu, out.data(), 70);
    for (size_t i = 0; i < 33; ++i) {
      for (size_t j = 0; j < 70; ++j) {
        ASSERT_EQ(out[i * 70 + j],
                  requantize(lbfp8(), acc[i * 70 + j],
                             lbfp8().product_scale(1, c.b_exponents[j]), 4, relu));
      }
    }
    const auto cb = make_case(bfp8(), {20, 9, 31}, Codes::kRealistic, 12);
    const GemmProblem pb = cb.problem(true);
    std::vector<int64_t> accb(20 * 9);
    gemm_accumulate(bfp8(), pb, accb.data(), 9, nullptr, ref);
    std::vector<Code> outb(20 * 9);
    gemm_requantize(bfp8(), pb, 3, relu, outb.data(), 9);
    for (size_t i = 0; i < 20 * 9; ++i) {
      ASSERT_EQ(outb[i], requantize(bfp8(), accb[i],
                                    bfp8().product_scale(1, cb.b_exponents[i % 9]), 3, relu));
    }
  }
}

TEST(GemmTest, RejectsBadArguments) {
  const auto c = make_case(bfp8(), {4, 4, 4}, Codes::kUniform, 3);
  std::vector<int64_t> acc(16);
  GemmProblem p = c.problem(false);
  GemmOptions zero_threads;
  zero_threads.threads = 0;
  EXPECT_THROW(gemm_accumulate(bfp8(), p, acc.data(), 4, nullptr, zero_threads),
               std::invalid_argument);
  EXPECT_THROW(gemm_accumulate(bfp8(), p, acc.data(), 3), std::invalid_argument);
  std::vector<Code> bad = c.a;
  bad[5] = 0x80;  // the unused BFP8 pattern
  p.a = bad.data();
  EXPECT_THROW(gemm_accumulate(bfp8(), p, acc.data(), 4), std::out_of_range);
  std::vector<float> nan_bias(4, std::nanf(""));
  p = c.problem(false);
  p.bias = nan_bias.data();
  EXPECT_THROW(gemm_accumulate(bfp8(), p, acc.data(), 4), std::domain_error);
}

}  // namespace
}  // namespace lbfp
