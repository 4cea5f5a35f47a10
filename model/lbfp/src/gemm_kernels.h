// Internal to the GEMM: the factorised product tables and the sum kernels. Not installed.
//
// Every kernel computes, for a block of outputs, the plain sum over k of the exact products,
// modulo 2^32 (int32 lanes that wrap). The caller only keeps a sum where its overflow bound
// proves that the true sum, and every partial sum in any order, fits the accumulator (and int32),
// so the wrapped value is the exact one and the order does not matter.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>

#include "lbfp/format.h"

namespace lbfp::detail {

// LBFP8 factorisation. For a = (sa, ma = 16 qa + fa) and b = (sb, mb = 16 qb + fb), ma, mb >= 1:
//   t = ma + mb = 16 (qa + qb) + (fa + fb), so q = qa + qb + [fa + fb >= 16], f = (fa + fb) & 15,
//   p = (-1)^(sa^sb) LUT[f] << q = V_a[fb] * Y_b,
//   V_a[fb] = (-1)^sa LUT[(fa + fb) & 15] << (qa + [fa + fb >= 16])   (|V| <= 2 LUT[15] 2^7 < 2^17)
//   Y_b     = (-1)^sb 2^qb                                              (|Y| <= 2^7)
// with V_a = 0 when ma == 0 and Y_b = 0 when mb == 0. V_a depends on the activation code only, so
// it is a 16-entry table per code that a vector permute indexes with fb; Y_b is per weight code.
//
// The AVX-512 kernel uses a second split of the same product that keeps every factor in int16
// and handles two k at once (the word pair of one vpdpwssd lane):
//   p = Ha[fb] * (Yb << qa),  Ha[fb] = (-1)^sa LUT[(fa + fb) & 15] << [fa + fb >= 16]
//   (|Ha| <= 2 LUT[15]), Yb = (-1)^sb 2^qb, |Yb << qa| <= 2^14; a zero A code shifts by 16
//   (vpsllvw gives 0), a zero B code has Yb = 0.
// Ha depends on sa and fa only: per k pair of an A row, a 32-word table (Ha_k[.], Ha_k+1[.]) of
// the 1024 built in advance is indexed by vpermw with fb (even words) and 16 + fb (odd words);
// vpsllvw shifts the weights' Yb pair by the broadcast (qa_k, qa_k+1); vpdpwssd adds the two
// products. (vpsllvw, unlike vpmullw, does not compete with vpdpwssd for an execution port on
// Zen 4.)
struct LbfpKernelTables {
  bool usable = false;  // the factorisation holds for this format (W = 8, F = 4, fits int16)
  alignas(64) int16_t a_pairs[256][32];  // (lo, hi) of V_a[fb] at words 2 fb, 2 fb + 1
  alignas(64) int32_t a_values[256][16];  // V_a[fb]
  uint32_t b_pair_index[256];             // words (2 fb, 2 fb + 1)
  uint32_t b_pair_scale[256];             // int16 words (Y, 128 Y)
  int32_t b_index8[256];                  // fb | (bit 3 of fb) << 31: vpermd index + blend mask
  int32_t b_scale[256];                   // Y
  // The pair form: pair_h[t0 | t1 << 5] = (Ha[0..15] of t0, Ha[0..15] of t1), t = fa | sa << 4.
  alignas(64) int16_t pair_h[1024][32];
  uint16_t a_table[256];  // fa | sa << 4
  uint16_t a_shift[256];  // qa, or 16 for a zero code
  int16_t b_frac[256];    // fb
  int16_t b_sign_pow[256];  // Yb
  // The tables above are the bit fields of the code (sign bit 7, magnitude m = code & 127,
  // fa = m & 15, qa = m >> 4), checked for all 256 codes: packing may compute them in vectors.
  bool bit_fields = false;
  // The Cauchy-Schwarz terms of the caller's overflow proof (FormatTables::cs_square) rounded up
  // to integer multiples of cs_unit, by magnitude: cs16[code & 127] * cs_unit >= cs_square[code]
  // for every code (checked). Packing adds them up exactly in int32 lanes.
  bool cs16_usable = false;
  alignas(64) int16_t cs16[128];
  double cs_unit = 0.0;
  // The VBMI kernel's split, without a shift in the loop: p = x16[a][fb] * y, y the weight's
  // (-1)^sb 2^(qb + 2 e2[a]), where x16[a][fb] = (-1)^sa Ha[fb] 2^(qa - 2 e2[a]) and e2[a] = 1
  // for qa >= 6 (|x16| <= 980 * 2^5, |y| <= 2^9: both int16; checked for all code pairs).
  // The B panel holds y for the four (e2[a_k], e2[a_k+1]) of a k pair; A names its variant.
  bool vbmi_usable = false;  // also requires bit_fields
  alignas(64) int16_t x16[256][16];
  uint8_t e2[256];
};

// BFP: the signed mantissa of every code (codes are W-bit two's complement, W <= 8).
struct BfpKernelTables {
  int8_t mantissa[256];
  bool identity = false;  // W = 8: the code byte is the mantissa (packing without look-ups)
};

// A block of the product: C[i * ldc + j] = sum_k A[i, k] B[k, j] mod 2^32, i < m, j < n.
struct SumBlock {
  size_t m = 0;
  size_t n = 0;
  size_t k = 0;
  const Code* a = nullptr;
  size_t lda = 0;
  const Code* b = nullptr;
  size_t ldb = 0;
  int32_t* c = nullptr;
  size_t ldc = 0;
};

void lbfp_sums_portable(const LbfpKernelTables& tables, const SumBlock& block);
void lbfp_sums_avx2(const LbfpKernelTables& tables, const SumBlock& block);

void bfp_sums_portable(const BfpKernelTables& tables, const SumBlock& block);
void bfp_sums_avx2(const BfpKernelTables& tables, const SumBlock& block);

// A whole product for the AVX-512 kernels: out[i * ldo + j] = initial[j] + (the int32 wrapped
// sum over k of A[i, k] B[k, j]), sign-extended. With cs_square set, also a_sq[i] = sum_k
// cs_square[A[i, k]] and b_sq[j] = sum_k cs_square[B[k, j]] (the Cauchy-Schwarz terms of the
// caller's overflow proof), computed while the operands are packed.
struct GemmCall {
  size_t m = 0;
  size_t n = 0;
  size_t k = 0;
  const Code* a = nullptr;
  size_t lda = 0;
  const Code* b = nullptr;
  size_t ldb = 0;
  int64_t* out = nullptr;
  size_t ldo = 0;
  const int64_t* initial = nullptr;  // n values
  const double* cs_square = nullptr;  // 256 values, or nullptr: no sums of squares
  double* a_sq = nullptr;             // m values
  double* b_sq = nullptr;             // n values
};

// Runs body(0), ..., body(count - 1) at the same time, body(0) on the calling thread.
using ParallelFor = std::function<void(size_t count, const std::function<void(size_t)>& body)>;

void lbfp_gemm_avx512(const LbfpKernelTables& tables, const GemmCall& call, size_t threads,
                      const ParallelFor& parallel);
// The same product through the VBMI kernel (tables.vbmi_usable, cpu_has_avx512_vbmi()).
void lbfp_gemm_avx512_vbmi(const LbfpKernelTables& tables, const GemmCall& call,
                           size_t threads, const ParallelFor& parallel);
void bfp_gemm_avx512(const BfpKernelTables& tables, const GemmCall& call, size_t threads,
                     const ParallelFor& parallel);
// The same BFP product through AMX-INT8 tiles (cpu_has_amx_int8()).
void bfp_gemm_amx(const BfpKernelTables& tables, const GemmCall& call, size_t threads,
                  const ParallelFor& parallel);

bool cpu_has_avx2();
bool cpu_has_avx512();  // F, BW, VL and VNNI
bool cpu_has_avx512_vbmi();  // the above and VBMI
bool cpu_has_amx_int8();  // the AVX-512 set above, AMX-TILE and AMX-INT8, enabled by the OS
bool cpu_is_intel();

}  // namespace lbfp::detail
