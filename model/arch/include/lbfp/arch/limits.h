// The ranges an architecture may take: one table, read by the YAML schema (config.h) and by
// AcceleratorConfig::validate, so that a file and a program are held to the same limits.
#pragma once

#include <cstdint>

namespace lbfp::arch {

template <typename T>
struct Range {
  T lo;
  T hi;
  constexpr bool contains(T v) const { return v >= lo && v <= hi; }
};

struct ArchLimits {
  static constexpr Range<int64_t> kArrayDim{1, 4096};            // rows, cols
  static constexpr Range<int64_t> kPipeStages{0, 16};
  static constexpr Range<int64_t> kCodeWidth{2, 8};              // format.width
  static constexpr Range<int64_t> kFracBits{0, 6};               // format.frac_bits (F <= W-2)
  static constexpr Range<int64_t> kLutBits{0, 30};               // format.lut_bits
  static constexpr Range<int64_t> kAccBits{2, 62};               // format.acc_bits
  static constexpr Range<double> kClockMhz{1e-3, 1e6};
  static constexpr Range<int64_t> kBufferKib{1, int64_t{1} << 22};  // up to 4 GiB
  static constexpr Range<int64_t> kDramMib{1, 64 * 1024};
  static constexpr Range<int64_t> kDramLatencyCycles{0, 1000000};
  static constexpr Range<double> kDramBytesPerCycle{1e-3, 1e6};
};

}  // namespace lbfp::arch
