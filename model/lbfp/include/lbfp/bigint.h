// Arbitrary-precision unsigned integers, just enough to decide the irrational LBFP constants
// exactly (K^N against 2^M) and to print products whose shift exceeds 64 bits.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace lbfp {

class BigUint {
 public:
  BigUint() = default;
  explicit BigUint(uint64_t value);

  static BigUint power_of_two(int exponent);

  BigUint operator*(const BigUint& other) const;
  BigUint shifted_left(int bits) const;
  // x^(2^n) by n squarings.
  BigUint squared_times(int n) const;

  int compare(const BigUint& other) const;  // -1, 0, +1
  bool operator<(const BigUint& other) const { return compare(other) < 0; }
  bool operator<=(const BigUint& other) const { return compare(other) <= 0; }
  bool operator==(const BigUint& other) const { return compare(other) == 0; }

  bool is_zero() const { return limbs_.empty(); }
  std::string to_decimal() const;

 private:
  void trim();
  std::vector<uint32_t> limbs_;  // little-endian, no leading zero limbs
};

}  // namespace lbfp
