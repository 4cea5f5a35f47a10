#include "lbfp/bigint.h"

#include <algorithm>
#include <stdexcept>

namespace lbfp {

BigUint::BigUint(uint64_t value) {
  while (value != 0) {
    limbs_.push_back(static_cast<uint32_t>(value));
    value >>= 32;
  }
}

BigUint BigUint::power_of_two(int exponent) {
  if (exponent < 0) throw std::invalid_argument("BigUint::power_of_two: negative exponent");
  return BigUint(1).shifted_left(exponent);
}

void BigUint::trim() {
  while (!limbs_.empty() && limbs_.back() == 0) limbs_.pop_back();
}

BigUint BigUint::operator*(const BigUint& other) const {
  BigUint result;
  if (is_zero() || other.is_zero()) return result;
  result.limbs_.assign(limbs_.size() + other.limbs_.size(), 0);
  for (size_t i = 0; i < limbs_.size(); ++i) {
    uint64_t carry = 0;
    for (size_t j = 0; j < other.limbs_.size(); ++j) {
      uint64_t cur = result.limbs_[i + j] + carry +
                     static_cast<uint64_t>(limbs_[i]) * static_cast<uint64_t>(other.limbs_[j]);
      result.limbs_[i + j] = static_cast<uint32_t>(cur);
      carry = cur >> 32;
    }
    size_t k = i + other.limbs_.size();
    while (carry != 0) {
      uint64_t cur = result.limbs_[k] + carry;
      result.limbs_[k] = static_cast<uint32_t>(cur);
      carry = cur >> 32;
      ++k;
    }
  }
  result.trim();
  return result;
}

BigUint BigUint::shifted_left(int bits) const {
  if (bits < 0) throw std::invalid_argument("BigUint::shifted_left: negative shift");
  BigUint result;
  if (is_zero()) return result;
  const size_t limb_shift = static_cast<size_t>(bits / 32);
  const int bit_shift = bits % 32;
  result.limbs_.assign(limb_shift, 0);
  uint32_t carry = 0;
  for (uint32_t limb : limbs_) {
    if (bit_shift == 0) {
      result.limbs_.push_back(limb);
    } else {
      result.limbs_.push_back((limb << bit_shift) | carry);
      carry = limb >> (32 - bit_shift);
    }
  }
  if (carry != 0) result.limbs_.push_back(carry);
  result.trim();
  return result;
}

BigUint BigUint::squared_times(int n) const {
  BigUint result = *this;
  for (int i = 0; i < n; ++i) result = result * result;
  return result;
}

int BigUint::compare(const BigUint& other) const {
  if (limbs_.size() != other.limbs_.size()) return limbs_.size() < other.limbs_.size() ? -1 : 1;
  for (size_t i = limbs_.size(); i-- > 0;) {
    if (limbs_[i] != other.limbs_[i]) return limbs_[i] < other.limbs_[i] ? -1 : 1;
  }
  return 0;
}

std::string BigUint::to_decimal() const {
  if (is_zero()) return "0";
  std::vector<uint32_t> rest = limbs_;
  std::vector<uint32_t> chunks;  // base 10^9, least significant first
  while (!rest.empty()) {
    uint64_t remainder = 0;
    for (size_t i = rest.size(); i-- > 0;) {
      uint64_t cur = (remainder << 32) | rest[i];
      rest[i] = static_cast<uint32_t>(cur / 1000000000u);
      remainder = cur % 1000000000u;
    }
    chunks.push_back(static_cast<uint32_t>(remainder));
    while (!rest.empty() && rest.back() == 0) rest.pop_back();
  }
  std::string out = std::to_string(chunks.back());
  for (size_t i = chunks.size() - 1; i-- > 0;) {
    std::string part = std::to_string(chunks[i]);
    out += std::string(9 - part.size(), '0') + part;
  }
  return out;
}

}  // namespace lbfp
