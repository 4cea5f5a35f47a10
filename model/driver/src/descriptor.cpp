#include "lbfp/driver/descriptor.h"

#include <algorithm>
#include <cstring>

namespace lbfp::driver {
namespace {

// Byte offsets of the version 1 layout (docs/registers.md).
namespace off {
constexpr size_t kMagic = 0, kVersion = 4, kKind = 6, kFlags = 8, kReserved0 = 12;
constexpr size_t kM = 16, kN = 24, kK = 32, kInH = 40, kInW = 48, kChannels = 56;
constexpr size_t kFilterH = 64, kFilterW = 68, kStride = 72, kPad = 76, kGroups = 80;
constexpr size_t kAExp = 84, kOutExp = 85, kReserved1 = 86;
constexpr size_t kA = 88, kW = 96, kOut = 104, kWExp = 112, kBias = 120, kNext = 128;
constexpr size_t kReserved2 = 136;
}  // namespace off

template <typename T>
void put(uint8_t* p, size_t at, T v) {
  for (size_t i = 0; i < sizeof(T); ++i) p[at + i] = static_cast<uint8_t>(uint64_t(v) >> (8 * i));
}
template <typename T>
T get(const uint8_t* p, size_t at) {
  uint64_t v = 0;
  for (size_t i = 0; i < sizeof(T); ++i) v |= uint64_t{p[at + i]} << (8 * i);
  return static_cast<T>(v);
}

// [address, address + bytes) inside memory, without overflow.
bool inside(uint64_t address, uint64_t bytes, const DecodeLimits& l) {
  if (address < l.memory_base) return false;
  const uint64_t offset = address - l.memory_base;
  return offset <= l.memory_bytes && bytes <= l.memory_bytes - offset;
}

}  // namespace

const char* device_error_name(DeviceError error) {
  switch (error) {
    case DeviceError::kNone: return "none";
    case DeviceError::kBadMagic: return "bad magic or layout version";
    case DeviceError::kBadKind: return "bad layer kind";
    case DeviceError::kBadShape: return "bad shape";
    case DeviceError::kTooLarge: return "layer too large";
    case DeviceError::kBadAddress: return "address outside memory or misaligned";
    case DeviceError::kDescriptorLoop: return "descriptor loop";
    case DeviceError::kUnsupported: return "reserved or unsupported field";
    case DeviceError::kBadExponent: return "exponent out of range";
    case DeviceError::kBusError: return "bus error";
    case DeviceError::kBadPadding: return "padding not below the filter size";
    case DeviceError::kBadGroups: return "groups not dividing the channels";
  }
  return "unknown";
}

uint64_t a_bytes(const Descriptor& d) {
  return d.kind == LayerKind::kConv ? d.in_h * d.in_w * d.channels : d.m * d.k;
}
uint64_t w_bytes(const Descriptor& d) { return d.n * d.k; }
uint64_t out_bytes(const Descriptor& d) { return d.m * d.n; }
uint64_t padded_h(const Descriptor& d) { return d.in_h + 2 * uint64_t{d.pad}; }
uint64_t padded_w(const Descriptor& d) { return d.in_w + 2 * uint64_t{d.pad}; }

std::array<uint8_t, kDescriptorBytes> encode_descriptor(const Descriptor& d) {
  std::array<uint8_t, kDescriptorBytes> b{};
  uint8_t* p = b.data();
  put<uint32_t>(p, off::kMagic, kDescriptorMagic);
  put<uint16_t>(p, off::kVersion, kDescriptorVersion);
  put<uint16_t>(p, off::kKind, static_cast<uint16_t>(d.kind));
  put<uint32_t>(p, off::kFlags, (d.relu ? kFlagRelu : 0) | (d.has_bias ? kFlagBias : 0));
  put<uint64_t>(p, off::kM, d.m);
  put<uint64_t>(p, off::kN, d.n);
  put<uint64_t>(p, off::kK, d.k);
  put<uint64_t>(p, off::kInH, d.in_h);
  put<uint64_t>(p, off::kInW, d.in_w);
  put<uint64_t>(p, off::kChannels, d.channels);
  put<uint32_t>(p, off::kFilterH, d.filter_h);
  put<uint32_t>(p, off::kFilterW, d.filter_w);
  put<uint32_t>(p, off::kStride, d.stride);
  put<uint32_t>(p, off::kPad, d.pad);
  put<uint32_t>(p, off::kGroups, d.groups);
  put<uint8_t>(p, off::kAExp, static_cast<uint8_t>(static_cast<int8_t>(d.a_exponent)));
  put<uint8_t>(p, off::kOutExp, static_cast<uint8_t>(static_cast<int8_t>(d.out_exponent)));
  put<uint64_t>(p, off::kA, d.a_address);
  put<uint64_t>(p, off::kW, d.w_address);
  put<uint64_t>(p, off::kOut, d.out_address);
  put<uint64_t>(p, off::kWExp, d.w_exponents_address);
  put<uint64_t>(p, off::kBias, d.bias_address);
  put<uint64_t>(p, off::kNext, d.next_address);
  return b;
}

DeviceError decode_descriptor(const uint8_t* p, size_t size, const DecodeLimits& limits,
                              Descriptor* out) {
  if (p == nullptr || size < kDescriptorBytes) return DeviceError::kBusError;
  if (get<uint32_t>(p, off::kMagic) != kDescriptorMagic ||
      get<uint16_t>(p, off::kVersion) != kDescriptorVersion) {
    return DeviceError::kBadMagic;
  }
  Descriptor d;
  const uint16_t kind = get<uint16_t>(p, off::kKind);
  if (kind != uint16_t(LayerKind::kGemm) && kind != uint16_t(LayerKind::kConv)) {
    return DeviceError::kBadKind;
  }
  d.kind = static_cast<LayerKind>(kind);
  const uint32_t flags = get<uint32_t>(p, off::kFlags);
  if ((flags & ~(kFlagRelu | kFlagBias)) != 0 || get<uint32_t>(p, off::kReserved0) != 0 ||
      get<uint16_t>(p, off::kReserved1) != 0 || get<uint64_t>(p, off::kReserved2) != 0) {
    return DeviceError::kUnsupported;
  }
  d.relu = (flags & kFlagRelu) != 0;
  d.has_bias = (flags & kFlagBias) != 0;
  d.m = get<uint64_t>(p, off::kM);
  d.n = get<uint64_t>(p, off::kN);
  d.k = get<uint64_t>(p, off::kK);
  d.in_h = get<uint64_t>(p, off::kInH);
  d.in_w = get<uint64_t>(p, off::kInW);
  d.channels = get<uint64_t>(p, off::kChannels);
  d.filter_h = get<uint32_t>(p, off::kFilterH);
  d.filter_w = get<uint32_t>(p, off::kFilterW);
  d.stride = get<uint32_t>(p, off::kStride);
  d.pad = get<uint32_t>(p, off::kPad);
  d.groups = get<uint32_t>(p, off::kGroups);
  d.a_exponent = static_cast<int8_t>(get<uint8_t>(p, off::kAExp));
  d.out_exponent = static_cast<int8_t>(get<uint8_t>(p, off::kOutExp));
  d.a_address = get<uint64_t>(p, off::kA);
  d.w_address = get<uint64_t>(p, off::kW);
  d.out_address = get<uint64_t>(p, off::kOut);
  d.w_exponents_address = get<uint64_t>(p, off::kWExp);
  d.bias_address = get<uint64_t>(p, off::kBias);
  d.next_address = get<uint64_t>(p, off::kNext);

  if (d.m == 0 || d.n == 0 || d.k == 0) return DeviceError::kBadShape;
  const uint64_t max_dim = std::min(limits.max_dim, uint64_t{1} << 32);
  if (d.m > max_dim || d.n > max_dim || d.k > max_dim) {
    return DeviceError::kTooLarge;
  }
  if (d.kind == LayerKind::kGemm) {
    if (d.in_h != 0 || d.in_w != 0 || d.channels != 0 || d.filter_h != 0 || d.filter_w != 0 ||
        d.stride != 0 || d.pad != 0 || d.groups != 1) {
      return DeviceError::kUnsupported;
    }
  } else {
    if (d.in_h == 0 || d.in_w == 0 || d.channels == 0 || d.filter_h == 0 || d.filter_w == 0 ||
        d.stride == 0) {
      return DeviceError::kBadShape;
    }
    if (d.in_h > max_dim || d.in_w > max_dim || d.channels > max_dim ||
        d.filter_h > max_dim || d.filter_w > max_dim) {
      return DeviceError::kTooLarge;
    }
    // A border as wide as the filter would give windows of padding only.
    if (d.pad >= d.filter_h || d.pad >= d.filter_w) return DeviceError::kBadPadding;
    if (d.groups == 0 || d.channels % d.groups != 0 || d.n % d.groups != 0) {
      return DeviceError::kBadGroups;
    }
    // in_h, in_w and pad are below 2^32 here: the padded sizes are below 3 x 2^32.
    const uint64_t in_h = padded_h(d), in_w = padded_w(d);
    if (d.filter_h > in_h || d.filter_w > in_w) return DeviceError::kBadShape;
    const uint64_t out_h = (in_h - d.filter_h) / d.stride + 1;
    const uint64_t out_w = (in_w - d.filter_w) / d.stride + 1;
    // out_h x out_w once both are at most max_dim (2^32) wraps at worst to 0, never to M;
    // K against a group's channels x taps by division, as a product of three could overflow.
    const uint64_t taps = uint64_t{d.filter_h} * d.filter_w;
    if (out_h > max_dim || out_w > max_dim || d.m != out_h * out_w || d.k % taps != 0 ||
        d.k / taps != d.channels / d.groups) {
      return DeviceError::kBadShape;
    }
    if (d.in_h * d.in_w > limits.max_macs / d.channels) return DeviceError::kTooLarge;
  }
  if (d.m * d.n > limits.max_macs / d.k) return DeviceError::kTooLarge;  // M N K, no overflow
  if (d.a_exponent < -127 || d.out_exponent < -127) return DeviceError::kBadExponent;
  if (!d.has_bias && d.bias_address != 0) return DeviceError::kUnsupported;

  if (!inside(d.a_address, a_bytes(d), limits) || !inside(d.w_address, w_bytes(d), limits) ||
      !inside(d.out_address, out_bytes(d), limits) ||
      !inside(d.w_exponents_address, d.n, limits) ||
      (d.has_bias && !inside(d.bias_address, 4 * d.n, limits))) {
    return DeviceError::kBadAddress;
  }
  if (d.next_address != 0 && (d.next_address % kDescriptorAlign != 0 ||
                              !inside(d.next_address, kDescriptorBytes, limits))) {
    return DeviceError::kBadAddress;
  }
  if (out != nullptr) *out = d;
  return DeviceError::kNone;
}

}  // namespace lbfp::driver
