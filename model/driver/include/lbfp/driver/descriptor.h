// Command descriptors: one per layer, in memory, chained by address (docs/registers.md gives the
// binary layout). Plain C++: the host encodes them (the driver), the device decodes and
// validates them; decode_descriptor never throws and never reads past the bytes it is given.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

#include "lbfp/driver/registers.h"

namespace lbfp::driver {

inline constexpr uint32_t kDescriptorMagic = 0x4446424c;  // "LBFD" little-endian
inline constexpr size_t kDescriptorBytes = 144;
inline constexpr uint64_t kDescriptorAlign = 16;

enum class LayerKind : uint16_t { kGemm = 1, kConv = 2 };

inline constexpr uint32_t kFlagRelu = 1u << 0;
inline constexpr uint32_t kFlagBias = 1u << 1;

struct Descriptor {
  LayerKind kind = LayerKind::kGemm;
  bool relu = false;
  bool has_bias = false;
  uint64_t m = 0, n = 0, k = 0;  // GEMM: C[M,N] = A[M,K] W[N,K]^T
  // Convolution: the input feature map as in memory (NHWC, in_h x in_w x channels, without the
  // padding), the filter, the zero border the device adds on each side (pad < filter_h and
  // filter_w) and the groups (each of channels / groups inputs and n / groups outputs;
  // k = channels / groups x filter_h x filter_w).
  uint64_t in_h = 0, in_w = 0, channels = 0;
  uint32_t filter_h = 0, filter_w = 0, stride = 0, pad = 0, groups = 1;
  int a_exponent = 0;
  int out_exponent = 0;
  uint64_t a_address = 0;            // A (M x K codes) or the input feature map
  uint64_t w_address = 0;            // N x K codes
  uint64_t out_address = 0;          // M x N codes
  uint64_t w_exponents_address = 0;  // N signed bytes
  uint64_t bias_address = 0;         // N little-endian float32, when has_bias
  uint64_t next_address = 0;         // 0: the last layer
};

// What the device can reach and run.
struct DecodeLimits {
  uint64_t memory_base = 0;
  uint64_t memory_bytes = 0;
  uint64_t max_dim = uint64_t{1} << 24;      // each of M, N, K, H, W, C; at most 2^32
  uint64_t max_macs = uint64_t{1} << 36;     // M N K of one layer
};

std::array<uint8_t, kDescriptorBytes> encode_descriptor(const Descriptor& d);

// Decodes and validates `size` bytes (kDescriptorBytes of them are needed): the fields, the
// shapes and that every tensor lies inside memory. On kNone, `out` holds the descriptor.
DeviceError decode_descriptor(const uint8_t* data, size_t size, const DecodeLimits& limits,
                              Descriptor* out);

// Bytes of each tensor a descriptor names.
uint64_t a_bytes(const Descriptor& d);
uint64_t w_bytes(const Descriptor& d);
uint64_t out_bytes(const Descriptor& d);
// A convolution's padded input height and width (in_h + 2 pad, in_w + 2 pad).
uint64_t padded_h(const Descriptor& d);
uint64_t padded_w(const Descriptor& d);

}  // namespace lbfp::driver
