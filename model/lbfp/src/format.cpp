#include "lbfp/format.h"

#include <cmath>
#include <stdexcept>
#include <string>

#include "lbfp/bigint.h"

namespace lbfp {

namespace detail {
void throw_exponent_out_of_range(int exponent) {
  throw std::out_of_range("exponent " + std::to_string(exponent) + " is outside [" +
                          std::to_string(kMinExponent) + ", " + std::to_string(kMaxExponent) +
                          "]");
}
}  // namespace detail

void check_acc_bits(int acc_bits) {
  if (acc_bits < 2 || acc_bits > kMaxAccBits) {
    throw std::invalid_argument("accumulator bits A=" + std::to_string(acc_bits) +
                                " must be in 2.." + std::to_string(kMaxAccBits));
  }
}

namespace detail {
namespace {

// floor(2^63 * 2^(k/N)), N = 2^G, decided exactly: the unique K with K^N <= 2^(63N + k) <
// (K+1)^N (equality is impossible for 0 < k < N: the value is irrational). A long double exp2 gives
// a candidate that is usually exact; big-integer powers confirm it, and a bisection over a
// bracket around it settles the rare (or imprecise-long-double) case where it is not.
uint64_t exact_q63_power(int k, int log2_n) {
  const int n = 1 << log2_n;
  if (k == 0) return uint64_t{1} << 63;
  const BigUint target = BigUint::power_of_two(63 * n + k);
  const long double estimate =
      std::ldexp(std::exp2(static_cast<long double>(k) / static_cast<long double>(n)), 63);
  const auto candidate = static_cast<uint64_t>(estimate);
  auto at_most = [&](uint64_t base) { return BigUint(base).squared_times(log2_n) <= target; };
  if (at_most(candidate) && !at_most(candidate + 1)) return candidate;
  // The answer lies in [2^63, 2^64): widen a bracket around the candidate until it holds the
  // answer, then bisect (at most 64 steps).
  uint64_t lo = uint64_t{1} << 63;  // lo^N <= target
  uint64_t hi = ~uint64_t{0};       // hi^N > target (2^(k/N) < 2 - 2^-63 for k < N)
  for (uint64_t width = 1024; width != 0 && width < (uint64_t{1} << 62); width <<= 4) {
    const uint64_t a = candidate > lo + width ? candidate - width : lo;
    const uint64_t b = candidate < hi - width ? candidate + width : hi;
    if (at_most(a) && !at_most(b)) {
      lo = a;
      hi = b;
      break;
    }
  }
  while (hi - lo > 1) {
    const uint64_t mid = lo + (hi - lo) / 2;
    if (at_most(mid)) {
      lo = mid;
    } else {
      hi = mid;
    }
  }
  return lo;
}

}  // namespace

const LogTables& log_tables() {
  static const LogTables tables = [] {
    LogTables t{};
    for (int k = 0; k < LogTables::kPoints; ++k) {
      t.q63[k] = exact_q63_power(k, LogTables::kLog2Points);
    }
    return t;
  }();
  return tables;
}

}  // namespace detail

LbfpFormat::LbfpFormat(int width, int frac_bits, int lut_bits, int acc_bits)
    : width_(width), frac_bits_(frac_bits), lut_bits_(lut_bits), acc_bits_(acc_bits) {
  if (width < 2 || width > 8) {
    throw std::invalid_argument("LBFP width W=" + std::to_string(width) +
                                " is not supported (2..8)");
  }
  if (frac_bits < 0 || frac_bits > width - 2) {
    throw std::invalid_argument("LBFP fraction bits F=" + std::to_string(frac_bits) +
                                " must be in 0..W-2 = 0.." + std::to_string(width - 2));
  }
  if (lut_bits < 0 || lut_bits > 30) {
    throw std::invalid_argument("LBFP LUT bits P=" + std::to_string(lut_bits) +
                                " must be in 0..30");
  }
  check_acc_bits(acc_bits);
  const detail::LogTables& tables = detail::log_tables();
  // Entry k of the 128-point table is 2^(k/128); F fraction bits use every 2^(6-F)-th point.
  const int stride = 1 << (detail::LogTables::kLog2Points - 1 - frac_bits);
  const int entries = 1 << frac_bits;
  lut_.resize(static_cast<size_t>(entries));
  boundaries_q63_.resize(static_cast<size_t>(entries));
  for (int j = 0; j < entries; ++j) {
    // floor(2^P * 2^(f/2^F) + 1/2) = (floor(2^(P+1) * c) + 1) >> 1 with c = 2^(f/2^F), and
    // floor(2^(P+1) c) = floor(2^63 c) >> (62 - P) because flooring commutes with the shift.
    const uint64_t point = tables.q63[2 * j * stride];
    lut_[static_cast<size_t>(j)] = static_cast<uint32_t>(((point >> (62 - lut_bits)) + 1) >> 1);
    boundaries_q63_[static_cast<size_t>(j)] = tables.q63[(2 * j + 1) * stride];
  }
  // floor(c * 2^(A-1)) = floor(c * 2^63) >> (64 - A).
  for (uint64_t b : boundaries_q63_) requant_boundaries_.push_back(b >> (64 - acc_bits_));
  for (uint64_t b : requant_boundaries_) rank_boundaries_.push_back(b << (64 - acc_bits_));
  // Bucket t covers [2^63 + t 2^55, 2^63 + (t+1) 2^55). Boundaries are at least a factor
  // 2^(1/64) (1.09 %) apart before truncation to A bits, wider than a bucket (1/256 of 2^63),
  // but a small A truncates several to one value: then the linear scan stays.
  constexpr int kBuckets = 256;
  rank_count_.assign(kBuckets, 0);
  rank_next_.assign(kBuckets, ~uint64_t{0});
  rank_bucketed_ = true;
  for (int t = 0; t < kBuckets; ++t) {
    const uint64_t start = (uint64_t{1} << 63) + (static_cast<uint64_t>(t) << 55);
    const uint64_t last = start + ((uint64_t{1} << 55) - 1);
    int below = 0;
    int inside = 0;
    for (uint64_t b : rank_boundaries_) {
      below += b < start ? 1 : 0;
      inside += b >= start && b <= last ? 1 : 0;
    }
    rank_count_[static_cast<size_t>(t)] = static_cast<uint8_t>(below);
    if (below < entries) rank_next_[static_cast<size_t>(t)] = rank_boundaries_[static_cast<size_t>(below)];
    if (inside > 1) rank_bucketed_ = false;
  }
}

uint64_t LbfpFormat::requant_boundary(int j) const {
  if (j < 0 || j >= (1 << frac_bits_)) {
    throw std::out_of_range("requant boundary index " + std::to_string(j) + " is outside 0.." +
                            std::to_string((1 << frac_bits_) - 1));
  }
  return requant_boundaries_[static_cast<size_t>(j)];
}

std::string LbfpFormat::name() const {
  if (*this == LbfpFormat()) return "lbfp8";
  return "lbfp(W=" + std::to_string(width_) + ",F=" + std::to_string(frac_bits_) +
         ",P=" + std::to_string(lut_bits_) + ",A=" + std::to_string(acc_bits_) + ")";
}

BfpFormat::BfpFormat(int width, int acc_bits) : width_(width), acc_bits_(acc_bits) {
  if (width < 2 || width > 8) {
    throw std::invalid_argument("BFP width W=" + std::to_string(width) +
                                " is not supported (2..8)");
  }
  check_acc_bits(acc_bits);
}

std::string BfpFormat::name() const {
  if (*this == BfpFormat()) return "bfp8";
  return "bfp(W=" + std::to_string(width_) + ",A=" + std::to_string(acc_bits_) + ")";
}

}  // namespace lbfp
