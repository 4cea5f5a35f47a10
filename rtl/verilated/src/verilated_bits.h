// Bit-field access on Verilator ports of any width (plain integers up to 64 bits, VlWide above).
#pragma once

#include <cstddef>
#include <cstdint>
#include <type_traits>

#include <verilated.h>

namespace lbfp::rtl::vl {

inline uint64_t low_mask(int width) {
  return width >= 64 ? ~uint64_t{0} : (uint64_t{1} << width) - 1;
}

inline int64_t sign_extend(uint64_t value, int width) {
  const uint64_t sign = uint64_t{1} << (width - 1);
  value &= low_mask(width);
  return static_cast<int64_t>((value ^ sign) - sign);
}

template <class T, std::enable_if_t<std::is_integral_v<T>, int> = 0>
void put_bits(T& port, int lsb, int width, uint64_t value) {
  const uint64_t mask = low_mask(width) << lsb;
  const uint64_t bits = (static_cast<uint64_t>(port) & ~mask) | ((value << lsb) & mask);
  port = static_cast<T>(bits);
}

template <std::size_t N>
void put_bits(VlWide<N>& port, int lsb, int width, uint64_t value) {
  for (int i = 0; i < width; ++i) {
    const int bit = lsb + i;
    const EData m = EData{1} << (bit % 32);
    EData& word = port[static_cast<size_t>(bit / 32)];
    word = ((value >> i) & 1) != 0 ? (word | m) : (word & ~m);
  }
}

template <class T, std::enable_if_t<std::is_integral_v<T>, int> = 0>
uint64_t get_bits(const T& port, int lsb, int width) {
  return (static_cast<uint64_t>(port) >> lsb) & low_mask(width);
}

template <std::size_t N>
uint64_t get_bits(const VlWide<N>& port, int lsb, int width) {
  uint64_t value = 0;
  for (int i = 0; i < width; ++i) {
    const int bit = lsb + i;
    const uint64_t b = (port[static_cast<size_t>(bit / 32)] >> (bit % 32)) & 1u;
    value |= b << i;
  }
  return value;
}

}  // namespace lbfp::rtl::vl
