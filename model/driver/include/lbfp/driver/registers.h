// The accelerator device's programming interface: its register map and error codes
// (docs/registers.md). Plain C++: shared by the SystemC device (lbfp/arch/device.h) and the host
// driver (lbfp/driver/driver.h), so both read the same numbers.
#pragma once

#include <cstdint>

namespace lbfp::driver {

// Register offsets from the device's base address. Every register is 32 bits wide and is
// accessed by aligned 32-bit transactions only; 64-bit values are LO/HI pairs.
namespace reg {
inline constexpr uint32_t kId = 0x00;            // RO: kDeviceId
inline constexpr uint32_t kVersion = 0x04;       // RO: major[31:16] minor[15:8] descriptor[7:0]
inline constexpr uint32_t kArray = 0x08;         // RO: cols[31:16] rows[15:0]
inline constexpr uint32_t kCtrl = 0x10;          // WO (reads 0): kCtrlStart, kCtrlSoftReset
inline constexpr uint32_t kStatus = 0x14;        // RO: busy, done, error code[15:8]
inline constexpr uint32_t kIrqEnable = 0x18;     // RW: kIrqDone, kIrqError
inline constexpr uint32_t kIrqStatus = 0x1c;     // RW1C: kIrqDone, kIrqError
inline constexpr uint32_t kDescLo = 0x20;        // RW: first descriptor's address
inline constexpr uint32_t kDescHi = 0x24;
inline constexpr uint32_t kErrorDescLo = 0x28;   // RO: the descriptor the run stopped at
inline constexpr uint32_t kErrorDescHi = 0x2c;
inline constexpr uint32_t kLayersDone = 0x30;    // RO: layers completed in this run
inline constexpr uint32_t kCyclesLo = 0x40;      // RO counters, zeroed by START and reset
inline constexpr uint32_t kCyclesHi = 0x44;
inline constexpr uint32_t kStallCyclesLo = 0x48;
inline constexpr uint32_t kStallCyclesHi = 0x4c;
inline constexpr uint32_t kMacsLo = 0x50;
inline constexpr uint32_t kMacsHi = 0x54;
inline constexpr uint32_t kDramReadLo = 0x58;
inline constexpr uint32_t kDramReadHi = 0x5c;
inline constexpr uint32_t kDramWrittenLo = 0x60;
inline constexpr uint32_t kDramWrittenHi = 0x64;
inline constexpr uint32_t kWindowBytes = 0x100;  // the device's address window
}  // namespace reg

inline constexpr uint32_t kDeviceId = 0x4c424650;  // "LBFP" read as a little-endian word
inline constexpr uint32_t kVersionMajor = 1;
inline constexpr uint32_t kVersionMinor = 1;  // 1: the device pads and runs groups
inline constexpr uint32_t kDescriptorVersion = 1;

inline constexpr uint32_t kCtrlStart = 1u << 0;
inline constexpr uint32_t kCtrlSoftReset = 1u << 1;
inline constexpr uint32_t kStatusBusy = 1u << 0;
inline constexpr uint32_t kStatusDone = 1u << 1;
inline constexpr uint32_t kStatusErrorShift = 8;
inline constexpr uint32_t kStatusErrorMask = 0xffu << kStatusErrorShift;
inline constexpr uint32_t kIrqDone = 1u << 0;
inline constexpr uint32_t kIrqError = 1u << 1;

// STATUS.error: why a run stopped (0: it did not).
enum class DeviceError : uint8_t {
  kNone = 0,
  kBadMagic = 1,       // descriptor magic or layout version not this device's
  kBadKind = 2,        // kind neither GEMM nor convolution
  kBadShape = 3,       // a zero or inconsistent dimension
  kTooLarge = 4,       // a dimension or the work past the device's limits, or no tiling fits
  kBadAddress = 5,     // a descriptor or tensor outside memory, or a misaligned descriptor
  kDescriptorLoop = 6, // the chain revisits a descriptor or is longer than the device allows
  kUnsupported = 7,    // reserved bits set, or convolution fields in a GEMM
  kBadExponent = 8,    // an exponent outside [-127, 127]
  kBusError = 9,       // the memory answered a DMA transaction with an error response
  kBadPadding = 10,    // a convolution's pad not below its filter height and width
  kBadGroups = 11,     // groups 0, or not dividing the input or the output channels
};
inline constexpr DeviceError kLastDeviceError = DeviceError::kBadGroups;

const char* device_error_name(DeviceError error);

}  // namespace lbfp::driver
