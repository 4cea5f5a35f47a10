// Independent exact computations of the spec for the tests. They decide every irrational
// comparison by raising both sides to the power N = 2^(F+1) in big integers: no boundary table,
// no floating-point log, nothing shared with the library's Q1.63 constants.
#pragma once

#include <cmath>
#include <cstdint>
#include <stdexcept>

#include "lbfp/bigint.h"

namespace lbfp::testing {

// Is M * 2^e > 2^(c + o / 2^g)?  (M > 0; o / 2^g never an integer in the callers but it may be)
inline bool exceeds_power(uint64_t M, int e, int64_t c, int64_t o, int g) {
  const int64_t n = int64_t{1} << g;
  // M^n 2^(e n) > 2^(c n + o)  <=>  M^n > 2^(c n + o - e n)
  const int64_t r = c * n + o - int64_t{e} * n;
  if (r < 0) return true;        // M^n >= 1 > 2^r
  if (r >= 64 * n) return false;  // M^n < 2^(64 n) <= 2^r, without a 2^r of any size
  const BigUint lhs = BigUint(M).squared_times(g);
  return BigUint::power_of_two(static_cast<int>(r)) < lhs;
}

// The LBFP magnitude code of M * 2^e for block exponent E: the number of rounding boundaries
// 2^(E - 2^I + (2j+1)/2^(F+1)) below the value, saturated; found by bisection (monotone in j).
inline int exact_magnitude_code(int width, int frac_bits, uint64_t M, int e, int E) {
  const int int_bits = width - 1 - frac_bits;
  const int max_code = (1 << (width - 1)) - 1;
  const int64_t c = int64_t{E} - (int64_t{1} << int_bits);
  auto above = [&](int j) { return exceeds_power(M, e, c, 2 * j + 1, frac_bits + 1); };
  int lo = 0;          // invariant: value is above boundaries 0..lo-1
  int hi = max_code;   // only the first max_code boundaries matter (saturation)
  while (lo < hi) {
    const int mid = (lo + hi) / 2;
    if (above(mid)) {
      lo = mid + 1;
    } else {
      hi = mid;
    }
  }
  return lo;
}

// Splits a finite non-zero double into M * 2^e.
inline void split_double(double x, uint64_t& M, int& e) {
  int exp = 0;
  const double f = std::frexp(std::fabs(x), &exp);
  M = static_cast<uint64_t>(std::ldexp(f, 53));
  e = exp - 53;
  while ((M & 1) == 0) {
    M >>= 1;
    ++e;
  }
}

// floor(2^(P + f/2^F) + 1/2): the n with (2n-1)^N <= 2^(N(P+1)+f) < (2n+1)^N, N = 2^F.
inline uint64_t exact_lut(int frac_bits, int lut_bits, int f) {
  const int n_log = frac_bits;
  const BigUint target = BigUint::power_of_two((lut_bits + 1) * (1 << n_log) + f);
  const long double guess = std::exp2(static_cast<long double>(lut_bits) +
                                      static_cast<long double>(f) / (1 << frac_bits));
  auto n = static_cast<uint64_t>(std::floor(guess + 0.5L));
  auto lower = [&](uint64_t v) { return BigUint(2 * v - 1).squared_times(n_log); };
  while (target < lower(n)) --n;
  while (lower(n + 1) <= target) ++n;
  return n;
}

// floor(2^((2j+1)/2^(F+1)) * 2^(A-1)): the K with K^N <= 2^((A-1)N + 2j+1) < (K+1)^N.
inline uint64_t exact_requant_boundary(int frac_bits, int acc_bits, int j) {
  const int g = frac_bits + 1;
  const BigUint target = BigUint::power_of_two((acc_bits - 1) * (1 << g) + 2 * j + 1);
  const long double guess = std::ldexp(
      std::exp2(static_cast<long double>(2 * j + 1) / static_cast<long double>(1 << g)),
      acc_bits - 1);
  auto k = static_cast<uint64_t>(guess);
  while (target < BigUint(k).squared_times(g)) --k;
  while (BigUint(k + 1).squared_times(g) <= target) ++k;
  return k;
}

}  // namespace lbfp::testing
