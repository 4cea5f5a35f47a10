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

LogTables exact_log_tables() {
  LogTables t{};
  for (int k = 0; k < LogTables::kPoints; ++k) {
    t.q63[k] = exact_q63_power(k, LogTables::kLog2Points);
  }
  return t;
}

// exact_log_tables(), written out: its big-integer powers took about 12 ms of every process's
// first LBFP operation. tb/golden checks each entry against exact_log_tables().
const LogTables& log_tables() {
  static const LogTables tables = {{
      0x8000000000000000ULL, 0x80b1ed4fd999ab6cULL, 0x8164d1f3bc030773ULL, 0x8218af4373fc25ebULL,
      0x82cd8698ac2ba1d7ULL, 0x8383594eefb6ee36ULL, 0x843a28c3acde4046ULL, 0x84f1f656379c1a29ULL,
      0x85aac367cc487b14ULL, 0x8664915b923fba03ULL, 0x871f61969e8d1010ULL, 0x87db357ff698d791ULL,
      0x88980e8092da8527ULL, 0x8955ee03618e5fdcULL, 0x8a14d575496efd9aULL, 0x8ad4c6452c728924ULL,
      0x8b95c1e3ea8bd6e6ULL, 0x8c57c9c4646f4dddULL, 0x8d1adf5b7e5ba9e5ULL, 0x8ddf042022e69cd5ULL,
      0x8ea4398b45cd53c0ULL, 0x8f6a8117e6c8e5c4ULL, 0x9031dc431466b1dcULL, 0x90fa4c8beee4b12aULL,
      0x91c3d373ab11c336ULL, 0x928e727d9531f9acULL, 0x935a2b2f13e6e92bULL, 0x9426ff0fab1c04b6ULL,
      0x94f4efa8fef70961ULL, 0x95c3fe86d6cc7feeULL, 0x96942d3720185a00ULL, 0x97657d49f17ab08eULL,
      0x9837f0518db8a96fULL, 0x990b87e266c189a9ULL, 0x99e0459320b7fa64ULL, 0x9ab62afc94ff864aULL,
      0x9b8d39b9d54e5538ULL, 0x9c6573682ec32c2dULL, 0x9d3ed9a72cffb750ULL, 0x9e196e189d472420ULL,
      0x9ef5326091a111adULL, 0x9fd228256400dd05ULL, 0xa0b0510fb9714fc2ULL, 0xa18faeca8544b6e3ULL,
      0xa27043030c496818ULL, 0xa3520f68e802bb92ULL, 0xa43515ae09e6809eULL, 0xa5195786be9ef339ULL,
      0xa5fed6a9b15138eaULL, 0xa6e594cfeee86b1dULL, 0xa7cd93b4e9653569ULL, 0xa8b6d5167b320e08ULL,
      0xa9a15ab4ea7c0ef8ULL, 0xaa8d2652ec907629ULL, 0xab7a39b5a93ed337ULL, 0xac6896a4be3fe929ULL,
      0xad583eea42a14ac6ULL, 0xae493452ca35b80eULL, 0xaf3b78ad690a4374ULL, 0xb02f0dcbb6e04583ULL,
      0xb123f581d2ac258fULL, 0xb21a31a66618fe3bULL, 0xb311c412a9112489ULL, 0xb40aaea2654b9840ULL,
      0xb504f333f9de6484ULL, 0xb60093a85ed5f76bULL, 0xb6fd91e328d17791ULL, 0xb7fbefca8ca41e7cULL,
      0xb8fbaf4762fb9ee9ULL, 0xb9fcd2452c0b9deaULL, 0xbaff5ab2133e45fbULL, 0xbc034a7ef2e9fb0cULL,
      0xbd08a39f580c36beULL, 0xbe0f6809860993e2ULL, 0xbf1799b67a731082ULL, 0xc0213aa1f0d08db0ULL,
      0xc12c4cca66709456ULL, 0xc238d2311e3d6672ULL, 0xc346ccda24976407ULL, 0xc4563ecc5334cb32ULL,
      0xc5672a115506daddULL, 0xc67990b5aa245f79ULL, 0xc78d74c8abb9b15cULL, 0xc8a2d85c8ffe2c45ULL,
      0xc9b9bd866e2f27a2ULL, 0xcad2265e4290774dULL, 0xcbec14fef2727c5cULL, 0xcd078b86503dcdd1ULL,
      0xce248c151f8480e3ULL, 0xcf4318cf191918c1ULL, 0xd06333daef2b2594ULL, 0xd184df6251699ac6ULL,
      0xd2a81d91f12ae45aULL, 0xd3ccf099859ac379ULL, 0xd4f35aabcfedfa1fULL, 0xd61b5dfe9f9bce06ULL,
      0xd744fccad69d6af4ULL, 0xd870394c6db32c84ULL, 0xd99d15c278afd7b5ULL, 0xdacb946f2ac9cc71ULL,
      0xdbfbb797daf23755ULL, 0xdd2d818508324c20ULL, 0xde60f4825e0e9123ULL, 0xdf9612deb8f04420ULL,
      0xe0ccdeec2a94e111ULL, 0xe2055afffe83d368ULL, 0xe33f8972be8a5a51ULL, 0xe47b6ca0373da88dULL,
      0xe5b906e77c8348a8ULL, 0xe6f85aaaee1fce22ULL, 0xe8396a503c4bdc68ULL, 0xe97c38406c4f8c56ULL,
      0xeac0c6e7dd24392eULL, 0xec0718b64c1cbddcULL, 0xed4f301ed9942b84ULL, 0xee990f980da3025bULL,
      0xefe4b99bdcdaf5cbULL, 0xf13230a7ad094509ULL, 0xf281773c59ffb139ULL, 0xf3d28fde3a641a5aULL,
      0xf5257d152486cc2cULL, 0xf67a416c733f846dULL, 0xf7d0df730ad13bb8ULL, 0xf92959bb5dd4ba74ULL,
      0xfa83b2db722a033aULL, 0xfbdfed6ce5f09c48ULL, 0xfd3e0c0cf486c174ULL, 0xfe9e115c7b8f884bULL,
  }};
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
