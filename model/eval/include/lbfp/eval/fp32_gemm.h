// The FP32 matrix product of the evaluator's FP32 reference (conv and Gemm layers): each output is
// one chain of fused multiply-adds in k order from +0, c = fma(a[k], b[k], c), so its value does
// not depend on the tiling, the vector width, the thread count or the CPU (every path rounds the
// same way: AVX-512 lanes, or std::fma where AVX-512 is missing).
#pragma once

#include <cstddef>

namespace lbfp::eval::detail {

// C[i][j] = sum_k A[i][k] * B[k][j] for i < m, j < n (row-major, leading dimensions lda, ldb, ldc).
void fp32_gemm(size_t m, size_t n, size_t k, const float* a, size_t lda, const float* b,
               size_t ldb, float* c, size_t ldc);

// The same with std::fma only (the reference the vector path is tested against).
void fp32_gemm_portable(size_t m, size_t n, size_t k, const float* a, size_t lda, const float* b,
                        size_t ldb, float* c, size_t ldc);

}  // namespace lbfp::eval::detail
