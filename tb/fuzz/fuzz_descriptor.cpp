// The command descriptor decoder of the accelerator device (model/driver/src/descriptor.cpp,
// docs/registers.md). The first 16 input bytes give the memory window (base, size), the rest is
// the descriptor, of any length. Any input must give an error code, or a descriptor that
// encodes back to the same bytes, with positive consistent shapes and every tensor inside the
// window.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>

#include "fuzz_check.h"
#include "lbfp/driver/descriptor.h"

namespace {

using lbfp::driver::Descriptor;
using lbfp::driver::DeviceError;

uint64_t le64(const uint8_t* p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v |= uint64_t{p[i]} << (8 * i);
  return v;
}

void check_inside(uint64_t address, uint64_t bytes, const lbfp::driver::DecodeLimits& l,
                  const char* what) {
  const unsigned __int128 end = static_cast<unsigned __int128>(address) + bytes;
  const unsigned __int128 limit = static_cast<unsigned __int128>(l.memory_base) + l.memory_bytes;
  if (address < l.memory_base || end > limit) {
    lbfp::fuzz::fail(std::string(what) + " accepted outside the memory window");
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 16) return 0;
  lbfp::driver::DecodeLimits limits;
  limits.memory_base = le64(data);
  limits.memory_bytes = le64(data + 8);
  const uint8_t* bytes = data + 16;
  const size_t length = size - 16;
  Descriptor d;
  const DeviceError error = lbfp::driver::decode_descriptor(bytes, length, limits, &d);
  if (static_cast<unsigned>(error) > static_cast<unsigned>(lbfp::driver::kLastDeviceError)) {
    lbfp::fuzz::fail("undocumented error code");
  }
  if (error != DeviceError::kNone) return 0;
  if (length < lbfp::driver::kDescriptorBytes) lbfp::fuzz::fail("short descriptor accepted");
  const auto again = lbfp::driver::encode_descriptor(d);
  if (std::memcmp(again.data(), bytes, again.size()) != 0) {
    lbfp::fuzz::fail("accepted descriptor does not encode back to its bytes");
  }
  if (d.m == 0 || d.n == 0 || d.k == 0) lbfp::fuzz::fail("zero dimension accepted");
  if (d.m > limits.max_dim || d.n > limits.max_dim || d.k > limits.max_dim) {
    lbfp::fuzz::fail("dimension over the limit accepted");
  }
  if (static_cast<unsigned __int128>(d.m) * d.n * d.k > limits.max_macs) {
    lbfp::fuzz::fail("work over the limit accepted");
  }
  if (d.kind == lbfp::driver::LayerKind::kConv) {
    if (d.pad >= d.filter_h || d.pad >= d.filter_w) lbfp::fuzz::fail("padding accepted");
    if (d.groups == 0 || d.channels % d.groups != 0 || d.n % d.groups != 0) {
      lbfp::fuzz::fail("groups accepted");
    }
    const uint64_t in_h = lbfp::driver::padded_h(d), in_w = lbfp::driver::padded_w(d);
    if (d.stride == 0 || d.filter_h > in_h || d.filter_w > in_w ||
        static_cast<unsigned __int128>(d.m) !=
            static_cast<unsigned __int128>((in_h - d.filter_h) / d.stride + 1) *
                ((in_w - d.filter_w) / d.stride + 1) ||
        static_cast<unsigned __int128>(d.k) * d.groups !=
            static_cast<unsigned __int128>(d.channels) * d.filter_h * d.filter_w) {
      lbfp::fuzz::fail("inconsistent convolution accepted");
    }
  } else if (d.pad != 0 || d.groups != 1) {
    lbfp::fuzz::fail("GEMM with padding or groups accepted");
  }
  if (d.a_exponent < -127 || d.out_exponent < -127) lbfp::fuzz::fail("exponent -128 accepted");
  check_inside(d.a_address, lbfp::driver::a_bytes(d), limits, "A");
  check_inside(d.w_address, lbfp::driver::w_bytes(d), limits, "W");
  check_inside(d.out_address, lbfp::driver::out_bytes(d), limits, "outputs");
  check_inside(d.w_exponents_address, d.n, limits, "exponents");
  if (d.has_bias) check_inside(d.bias_address, 4 * d.n, limits, "bias");
  if (d.next_address != 0) {
    check_inside(d.next_address, lbfp::driver::kDescriptorBytes, limits, "next descriptor");
    if (d.next_address % lbfp::driver::kDescriptorAlign != 0) {
      lbfp::fuzz::fail("misaligned next descriptor accepted");
    }
  }
  return 0;
}
