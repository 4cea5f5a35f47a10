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

// kKl: KL divergence over a histogram whose bins are uniform where the format's codes are (LBFP:
// in log2|x|, a LogHistogram; BFP: in x, a Histogram). kKlLinear: the spec's literal method, a
// linear histogram for both formats (for BFP the same as kKl). docs/format.md, "Choosing E".
enum class CalibrationMethod { kMax, kKl, kKlLinear, kMse, kPercentile };
// "max", "kl", "kl-linear", "mse", "percentile"
CalibrationMethod parse_calibration_method(const std::string& name);
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

// A histogram of log2|x| in bins of 1/128 binade: bin b holds 2^(b/128) <= |x| < 2^((b+1)/128).
// LBFP codes are uniform in log2|x|, and with F <= 6 each code's rounding interval
// [2^(E - 2^I + (2m-1)/2^(F+1)), 2^(E - 2^I + (2m+1)/2^(F+1))) is exactly 2^(7-F) whole bins, for
// every E: KL can compare the candidates on one grid. The bin is decided exactly (the mantissa
// against floor(2^63 * 2^(k/128)), the table that decides every LBFP constant), never by a
// floating-point log. Covers every non-zero float; zeros and infinities are counted apart.
class LogHistogram {
 public:
  static constexpr int kBinsPerBinade = 128;
  static constexpr int kFirstBin = -150 * kBinsPerBinade;  // below the smallest float denormal
  static constexpr int kEndBin = 128 * kBinsPerBinade;      // 2^128: above the largest float

  LogHistogram();
  // Throws std::domain_error for NaN.
  void add(const float* data, size_t n);
  void add(const std::vector<float>& data) { add(data.data(), data.size()); }

  // floor(128 * log2 magnitude) for a finite magnitude > 0 (exact).
  static int bin_of(double magnitude);
  // bin_of(|x|) for a float x != 0, finite (the same bin, by a table for normal floats).
  static int bin_of_float(float x);
  uint64_t count(int bin) const;  // 0 outside [kFirstBin, kEndBin)
  // The smallest and one past the largest bin holding a value (both 0 when there is none).
  int lowest_bin() const { return lowest_; }
  int end_bin() const { return end_; }
  double abs_max() const { return amax_; }  // finite values only
  uint64_t total() const { return total_; }  // every value added, zeros and infinities included
  uint64_t zeros() const { return zeros_; }
  uint64_t infinities() const { return infinities_; }

 private:
  std::vector<uint64_t> counts_;  // index: bin - kFirstBin
  int lowest_ = 0;
  int end_ = 0;
  double amax_ = 0.0;
  uint64_t total_ = 0;
  uint64_t zeros_ = 0;
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
// KL over a LogHistogram (LBFP only, F <= 6; `calibrate(..., kKl, ...)` and `lbfp eval --calib kl`
// for LBFP): the same candidates, with P and Q on the log grid, where every code spans 2^(7-F)
// bins for every E (on a linear histogram a code spans 2^E / bin width bins, and the mass of a
// point mass or any structure inside a code costs KL about log of that count: lowering E lowers
// it for every value and pays until clipping costs more; docs/accuracy.md). Each bin's count is
// weighted by the bin's magnitude, the share a value brings into the sums of the next layer, so
// that flushing a small value does not cost as much as clipping a large one. P: the bins from the
// lowest value up to the top code's magnitude 2^(E - 1/2^F), the mass above (and infinities)
// added to the last. Q: the same bins before that addition, quantized to E's codes: the bins of
// each code's rounding interval form a group, and so do all the bins below code 1's lower
// boundary (they flush to code 0); each group's mass is spread evenly over the group's bins that
// are non-zero in P (as MXNet's reference). Smoothing relative to the mean mass, then the least
// KL(P||Q), ties to the larger E. Throws std::invalid_argument for F > 6.
CalibrationResult calibrate_kl(const LbfpFormat& format, const LogHistogram& histogram,
                               int span = -1);
// MSE: the candidate E of least mean squared error of decode(encode(x)) over the bin centres.
CalibrationResult calibrate_mse(const LbfpFormat& format, const Histogram& histogram,
                                int span = -1);
CalibrationResult calibrate_mse(const BfpFormat& format, const Histogram& histogram,
                                int span = -1);
// Percentile: max_exponent of the histogram's percentile value (e.g. 99.99).
CalibrationResult calibrate_percentile(const Histogram& histogram, double percentile);

// One call for any method over raw data (builds the histogram when the method needs one: kKl
// with LBFP a LogHistogram, otherwise a 65,536-bin Histogram).
template <class Format>
CalibrationResult calibrate(const Format& format, CalibrationMethod method,
                            const std::vector<float>& data, double percentile = 99.99);
// The same over histograms already filled with every batch (streamed calibration: `lbfp eval`,
// the Python package): max from the histogram's amax, kKl for LBFP on `log_histogram`, every
// other method on `histogram`.
template <class Format>
CalibrationResult calibrate(const Format& format, CalibrationMethod method,
                            const Histogram& histogram, const LogHistogram& log_histogram,
                            double percentile = 99.99);

}  // namespace lbfp
