// Bit-exact matrix products of the section 13 formats (MXINT8, MXFP8, FP8, INT8; docs/spec.md):
// every sum is lbfp::dot of the golden reference, the A-bit saturating accumulator of section
// 13.5 added in k order, to the bit (saturated value and overflow count included).
//
// acc[i][j] (or, with blocks, acc[i][j][q]) = dot(a row i, b row j) over K, from initial[j]. Both
// operands hold their K codes in a row (A: an image's patches, B: the weights of one output), so
// a layer with its outputs' weights stored [o][k] needs no transposition.
//
// The fast kernels compute each sum as an exact integer in int64 lanes in any order: every code
// of these formats has an integer value v with multiply(a, b) = v(a) v(b) (proven by exhaustion
// against lbfp::multiply when the tables are built). The spec adds in k order with saturation;
// the order is irrelevant, and the result the plain sum, whenever |initial| + sum |p_k| stays
// below 2^(A-1). Each call proves that per sum from the codes (the largest product times the
// length, else the row, column and Cauchy-Schwarz bounds of lbfp/gemm.h), and the sums it cannot
// clear are recomputed in k order (in 128 bits where no partial sum leaves the A-bit range, else
// by lbfp::dot).
#pragma once

#include <cstddef>
#include <cstdint>

#include "lbfp/gemm.h"
#include "lbfp/scaled_format.h"

namespace lbfp {

// A non-owning view of one product. Leading dimensions are in codes.
struct ScaledGemmProblem {
  size_t m = 0;
  size_t n = 0;
  size_t k = 0;
  const Code* a = nullptr;  // M x K, row-major, row stride lda
  size_t lda = 0;
  const Code* b = nullptr;  // N x K, row-major, row stride ldb: output j's codes in row j
  size_t ldb = 0;
  // 0: one sum over K per output. Else K splits into consecutive blocks of `block` codes (the
  // last may be shorter), each its own sum from 0: the block pairs of an MX format (1..32).
  size_t block = 0;
  // N start values (the bias as an accumulator value), each within the A-bit range, or nullptr
  // for 0. Only with block 0.
  const Int128* initial = nullptr;
};

struct ScaledGemmStats {
  uint64_t overflows = 0;        // saturating steps, all sums together
  uint64_t sequential_sums = 0;  // sums the bounds did not clear (recomputed in k order)
  KernelPath path = KernelPath::kAuto;  // the kernel that ran
};

// Sums per output: 1 for block 0, else ceil(K / block).
size_t scaled_gemm_blocks(const ScaledGemmProblem& problem);

// kAuto and kReference always; kPortable for the formats whose products factorise (all six at
// their default A); kAvx512 where the CPU has AVX-512 F/BW/VL/VNNI as well. No AVX2 or VBMI
// kernel exists for these formats.
bool kernel_path_available(KernelPath path, const ScaledFormat& format);

// acc[i * ldc + j * blocks + q] gets sum q of output (i, j) (blocks = scaled_gemm_blocks), the
// value lbfp::dot gives for those codes. Throws std::invalid_argument for a bad view (null
// pointers with non-zero sizes, strides below K, ldc below N * blocks, an MX block outside
// 1..32 or MX without blocks, initial with blocks, threads < 1) or a forced path that is not
// available, std::out_of_range for an invalid code or an initial value outside the A-bit range.
// Single-threaded (options.threads is checked, not used): lbfp eval runs its configurations
// side by side.
ScaledGemmStats gemm_accumulate(const ScaledFormat& format, const ScaledGemmProblem& problem,
                                Int128* acc, size_t ldc, const GemmOptions& options = {});

}  // namespace lbfp
