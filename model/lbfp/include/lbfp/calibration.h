// Choosing the shared exponent E of a block before inference: max, KL divergence (the paper's
// method, after TensorRT's entropy calibration), MSE and percentile.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "lbfp/format.h"

namespace lbfp {

enum class CalibrationMethod { kMax, kKl, kMse, kPercentile };
CalibrationMethod parse_calibration_method(const std::string& name);  // "max", "kl", "mse", ...
std::string to_string(CalibrationMethod method);

// max: E = floor(log2 amax) + 1, so that amax < 2^E, clamped to [-127, 127]. amax == 0 gives 0.
// Exact (read from the binary exponent, not from a floating-point log).
int max_exponent(double amax);

// A linear histogram of |x| over [0, range). The range starts at the first batch's amax and
// doubles (merging adjacent bins, which is exact) whenever a later value exceeds it, so batches can
// be streamed in. Zeros are counted in bin 0 like any other value.
class Histogram {
 public:
  explicit Histogram(size_t bins = 65536);

  // Throws std::domain_error for NaN; +-Inf are counted in the last bin and in `infinities()`.
  void add(const float* data, size_t n);
  void add(const std::vector<float>& data) { add(data.data(), data.size()); }

  size_t bins() const { return counts_.size(); }
  double bin_width() const { return width_; }
  double range() const { return width_ * static_cast<double>(counts_.size()); }
  double abs_max() const { return amax_; }
  uint64_t total() const { return total_; }
  uint64_t infinities() const { return infinities_; }
  const std::vector<uint64_t>& counts() const { return counts_; }
  // The |x| below which a fraction `percentile` (0..100] of the values lie (bin upper edge).
  double percentile_value(double percentile) const;

 private:
  void grow_to(double value);
  std::vector<uint64_t> counts_;
  double width_ = 0.0;
  double amax_ = 0.0;
  uint64_t total_ = 0;
  uint64_t infinities_ = 0;
};

struct CalibrationResult {
  int exponent = 0;
  // Each candidate exponent with its score (KL divergence, or mean squared error), best first.
  std::vector<std::pair<int, double>> scores;
};

// KL: for each candidate E in [Emax - span, Emax] (Emax from max_exponent; span = 2 * 2^I for LBFP,
// W - 1 for BFP by default), P is the histogram clipped at the top code's magnitude with the
// clipped mass added to the last kept bin; Q is the kept bins (before that addition, as in
// TensorRT) quantized to E's codes: bins grouped by the code of their centre, each group's mass
// spread evenly over its non-zero bins. Both are smoothed (eps = 1e-4 moved onto zero bins) and
// the E of least KL(P||Q) wins; ties go to the larger E. A candidate that keeps fewer than 128
// bins is not scored (too coarse to judge), so the histogram's bin count sets how far below Emax
// KL can look: 65536 bins reach Emax - 9.
CalibrationResult calibrate_kl(const LbfpFormat& format, const Histogram& histogram,
                               int span = -1);
CalibrationResult calibrate_kl(const BfpFormat& format, const Histogram& histogram,
                               int span = -1);
// MSE: the candidate E of least mean squared error of decode(encode(x)) over the bin centres.
CalibrationResult calibrate_mse(const LbfpFormat& format, const Histogram& histogram,
                                int span = -1);
CalibrationResult calibrate_mse(const BfpFormat& format, const Histogram& histogram,
                                int span = -1);
// Percentile: max_exponent of the histogram's percentile value (e.g. 99.99).
CalibrationResult calibrate_percentile(const Histogram& histogram, double percentile);

// One call for any method over raw data (builds the histogram when the method needs one).
template <class Format>
CalibrationResult calibrate(const Format& format, CalibrationMethod method,
                            const std::vector<float>& data, double percentile = 99.99);

}  // namespace lbfp
