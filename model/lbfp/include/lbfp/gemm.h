// Bit-exact LBFP and BFP matrix multiplication: C[M,N] = A[M,K] x B[K,N] with the spec's A-bit
// saturating accumulator (docs/spec.md), a bias that enters first, and an optional ReLU +
// requantization to the next layer's codes.
//
// A holds activation codes with one exponent for the whole tensor; B holds weight codes with one
// exponent per output column n, so output n accumulates in units of 2^product_scale(Ea, Eb[n]).
//
// Every result equals the scalar reference (lbfp::dot over k = 0, 1, ...) to the bit, including
// the saturated value and the overflow count. The fast kernels reorder the sum, which the spec
// allows only where no step can overflow: each call proves that per output from a bound computed
// from the codes (see gemm.cpp), and the outputs it cannot clear are recomputed sequentially.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "lbfp/format.h"

namespace lbfp {

// The kernel that computes the sums. kAuto picks the fastest one the CPU, the format and the
// shape allow (a narrow or shallow product goes to the portable or AVX2 kernel).
enum class KernelPath {
  kAuto,
  kReference,  // lbfp::dot per output: obviously the spec, slow
  kPortable,   // plain C++ with an exact product table, any CPU
  kAvx2,       // AVX2 (+ FMA-era integer ops)
  kAvx512,     // AVX-512 BW + VNNI (vpermw + vpdpwssd for LBFP8, vpdpbusd for BFP8)
  kAvx512Vbmi,  // LBFP8: AVX-512 VBMI + VNNI (vpermb + vpdpwssd, no shift); kAuto's choice on
                // Intel. BFP8 has no VBMI kernel: this path is not available for BFP.
  kAmx,  // BFP: AMX-INT8 tiles (tdpbssd), kAuto's choice where the CPU and the OS allow them.
         // LBFP has no AMX kernel: this path is not available for LBFP.
};
std::string to_string(KernelPath path);

struct GemmOptions {
  KernelPath path = KernelPath::kAuto;
  int threads = 2;  // worker threads, >= 1
};

// A non-owning view of one multiplication. Leading dimensions are in elements (codes).
struct GemmProblem {
  size_t m = 0;
  size_t n = 0;
  size_t k = 0;
  const Code* a = nullptr;  // M x K, row-major, row stride lda
  size_t lda = 0;
  int a_exponent = 0;
  const Code* b = nullptr;  // K x N, row-major, row stride ldb
  size_t ldb = 0;
  const int* b_exponents = nullptr;  // N exponents, one per output column
  const float* bias = nullptr;       // N real biases, or nullptr for none
  // Resuming a split reduction: M x N accumulator values (row stride ld_initial) the sums start
  // from instead of a bias (bias must then be nullptr), each within the A-bit range. The
  // result is the k-order saturating sum from that value, as if the earlier part of the
  // reduction had run in the same call; overflow counts cover this call's steps only.
  const int64_t* initial_acc = nullptr;
  size_t ld_initial = 0;
};

struct GemmStats {
  uint64_t overflows = 0;           // saturating accumulator steps, all outputs together
  uint64_t sequential_outputs = 0;  // outputs the overflow bound did not clear (recomputed in order)
  KernelPath path = KernelPath::kAuto;  // the kernel that ran
};

// Whether `path` can run `format` on this CPU (kAuto and kReference always can).
bool kernel_path_available(KernelPath path, const LbfpFormat& format);
bool kernel_path_available(KernelPath path, const BfpFormat& format);

// Builds the format's kernel tables now (they are built once per format and process, else at
// its first product): a model can pay for them when it is set up rather than in its first step.
void prepare_kernels(const LbfpFormat& format);
void prepare_kernels(const BfpFormat& format);

// Raw accumulators: acc[m * ldc + n] gets the saturated A-bit sum (bias first, converted with
// bias_to_accumulator at product_scale(Ea, Eb[n]), or initial_acc[m * ld_initial + n]),
// overflows[m * ldc + n] (when not null) the number of saturating steps of that output. Throws std::invalid_argument for a bad view (null
// pointers with non-zero sizes, strides below the row length, threads < 1) or a forced path that
// is not available, std::out_of_range for an invalid code or exponent, std::domain_error for a
// NaN bias.
GemmStats gemm_accumulate(const LbfpFormat& format, const GemmProblem& problem, int64_t* acc,
                          size_t ldc, uint32_t* overflows = nullptr,
                          const GemmOptions& options = {});
GemmStats gemm_accumulate(const BfpFormat& format, const GemmProblem& problem, int64_t* acc,
                          size_t ldc, uint32_t* overflows = nullptr,
                          const GemmOptions& options = {});

// Next layer's codes: out[m * ldc + n] = requantize(acc, product_scale(Ea, Eb[n]), out_exponent,
// relu) for the accumulator above.
GemmStats gemm_requantize(const LbfpFormat& format, const GemmProblem& problem, int out_exponent,
                          bool relu, Code* out, size_t ldc, const GemmOptions& options = {});
GemmStats gemm_requantize(const BfpFormat& format, const GemmProblem& problem, int out_exponent,
                          bool relu, Code* out, size_t ldc, const GemmOptions& options = {});

}  // namespace lbfp
