// The section 13 formats' exact GEMM (lbfp/scaled_gemm.h) against lbfp::dot per sum, in one run:
// for each format, one layer-shaped product (M = 256 output pixels, N = 64 outputs, K = 576 =
// 3x3 taps of 64 channels; MX in blocks of 32) on calibrated Gaussian codes, through the
// reference path (lbfp::dot, the WideAccumulator step by step), the portable kernel and the
// fastest kernel of this CPU. Prints the products per second of each and its ratio to the
// reference of the same format measured in the same run, and checks that all three agree.
//
// Usage: lbfp_scaled_gemm_bench [seconds per measurement, default 0.5]
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include "lbfp/scaled_gemm.h"

namespace {

using lbfp::Code;
using lbfp::Int128;

double rate(const lbfp::ScaledFormat& f, const lbfp::ScaledGemmProblem& p, lbfp::KernelPath path,
            double seconds, std::vector<Int128>& acc, size_t ldc) {
  lbfp::GemmOptions options;
  options.path = path;
  size_t runs = 0;
  const auto t0 = std::chrono::steady_clock::now();
  double elapsed = 0.0;
  do {
    lbfp::gemm_accumulate(f, p, acc.data(), ldc, options);
    ++runs;
    elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  } while (elapsed < seconds);
  return static_cast<double>(runs) * static_cast<double>(p.m * p.n * p.k) / elapsed;
}

}  // namespace

int main(int argc, char** argv) {
  const double seconds = argc > 1 ? std::atof(argv[1]) : 0.5;
  constexpr size_t kM = 256, kN = 64, kK = 576;
  std::printf("%-11s %14s %14s %14s %9s %9s  %s\n", "format", "reference/s", "portable/s",
              "fastest/s", "x ref", "x port", "fastest path");
  using lbfp::ElementKind;
  using lbfp::ScaleKind;
  for (auto [e, s] : {std::pair{ElementKind::kInt8, ScaleKind::kMxBlock},
                      {ElementKind::kE4M3, ScaleKind::kMxBlock},
                      {ElementKind::kE5M2, ScaleKind::kMxBlock},
                      {ElementKind::kE4M3, ScaleKind::kTensor},
                      {ElementKind::kE5M2, ScaleKind::kTensor},
                      {ElementKind::kInt8, ScaleKind::kTensor}}) {
    const lbfp::ScaledFormat f(e, s);
    std::mt19937 rng(1);
    std::normal_distribution<double> normal(0.0, 1.0);
    // ReLU'd activations and signed weights, scaled as calibration would (max near the top).
    const int exp = f.is_float() ? -6 : -6 - (f.is_mx() ? 0 : 6);
    std::vector<Code> a(kM * kK), b(kN * kK);
    for (auto& c : a) c = lbfp::encode(f, std::max(0.0, normal(rng)), exp);
    for (auto& c : b) c = lbfp::encode(f, normal(rng), exp);
    lbfp::ScaledGemmProblem p;
    p.m = kM;
    p.n = kN;
    p.k = kK;
    p.a = a.data();
    p.lda = kK;
    p.b = b.data();
    p.ldb = kK;
    p.block = f.is_mx() ? 32 : 0;
    const size_t ldc = kN * lbfp::scaled_gemm_blocks(p);
    std::vector<Int128> ref(kM * ldc), port(kM * ldc), fast(kM * ldc);
    const double r = rate(f, p, lbfp::KernelPath::kReference, seconds, ref, ldc);
    const double q = rate(f, p, lbfp::KernelPath::kPortable, seconds, port, ldc);
    const double x = rate(f, p, lbfp::KernelPath::kAuto, seconds, fast, ldc);
    if (ref != port || ref != fast) {
      std::fprintf(stderr, "%s: the kernels disagree with the reference\n", f.name().c_str());
      return 1;
    }
    const bool avx512 = lbfp::kernel_path_available(lbfp::KernelPath::kAvx512, f);
    std::printf("%-11s %14.3e %14.3e %14.3e %9.1f %9.1f  %s\n", f.name().c_str(), r, q, x, x / r,
                x / q, avx512 ? "avx512" : "portable");
  }
  return 0;
}
