#include "lbfp/calibration.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <stdexcept>
#include <string>
#include <type_traits>

#include "lbfp/arith.h"

namespace lbfp {

CalibrationMethod parse_calibration_method(const std::string& name) {
  if (name == "max") return CalibrationMethod::kMax;
  if (name == "kl") return CalibrationMethod::kKl;
  if (name == "kl-linear") return CalibrationMethod::kKlLinear;
  if (name == "mse") return CalibrationMethod::kMse;
  if (name == "percentile") return CalibrationMethod::kPercentile;
  throw std::invalid_argument("unknown calibration method '" + name +
                              "' (expected max, kl, kl-linear, mse or percentile)");
}

std::string to_string(CalibrationMethod method) {
  switch (method) {
    case CalibrationMethod::kMax:
      return "max";
    case CalibrationMethod::kKl:
      return "kl";
    case CalibrationMethod::kKlLinear:
      return "kl-linear";
    case CalibrationMethod::kMse:
      return "mse";
    case CalibrationMethod::kPercentile:
      return "percentile";
  }
  return "unknown";
}

int max_exponent(double amax) {
  if (std::isnan(amax)) throw std::domain_error("max_exponent: amax is NaN");
  amax = std::fabs(amax);
  if (amax == 0.0) return 0;
  if (std::isinf(amax)) return kMaxExponent;
  int e = 0;
  std::frexp(amax, &e);  // amax = f * 2^e, f in [0.5, 1): floor(log2 amax) = e - 1
  return std::clamp(e, kMinExponent, kMaxExponent);
}

Histogram::Histogram(size_t bins) : counts_(bins, 0) {
  if (bins == 0) throw std::invalid_argument("a histogram needs at least one bin");
}

void Histogram::grow_to(double value) {
  if (width_ == 0.0) {
    width_ = value / static_cast<double>(counts_.size());
    return;
  }
  while (value > range()) {
    const size_t n = counts_.size();
    for (size_t i = 0; i < n; ++i) {
      const size_t lo = 2 * i;
      counts_[i] = (lo < n ? counts_[lo] : 0) + (lo + 1 < n ? counts_[lo + 1] : 0);
    }
    width_ *= 2.0;
  }
}

void Histogram::add(const float* data, size_t n) {
  double batch_max = 0.0;
  for (size_t i = 0; i < n; ++i) {
    if (std::isnan(data[i])) {
      throw std::domain_error("histogram input element " + std::to_string(i) + " is NaN");
    }
    const double a = std::fabs(static_cast<double>(data[i]));
    if (std::isfinite(a)) batch_max = std::max(batch_max, a);
  }
  if (batch_max > 0.0) grow_to(batch_max);
  amax_ = std::max(amax_, batch_max);
  const size_t last = counts_.size() - 1;
  for (size_t i = 0; i < n; ++i) {
    const double a = std::fabs(static_cast<double>(data[i]));
    size_t bin = 0;
    if (std::isinf(a)) {
      ++infinities_;
      bin = last;
    } else if (width_ > 0.0) {
      bin = std::min(last, static_cast<size_t>(a / width_));
    }
    ++counts_[bin];
  }
  total_ += n;
}

double Histogram::percentile_value(double percentile) const {
  if (!(percentile > 0.0 && percentile <= 100.0)) {
    throw std::invalid_argument("percentile " + std::to_string(percentile) +
                                " is outside (0, 100]");
  }
  if (total_ == 0) return 0.0;
  const double wanted = percentile / 100.0 * static_cast<double>(total_);
  uint64_t seen = 0;
  for (size_t i = 0; i < counts_.size(); ++i) {
    seen += counts_[i];
    if (static_cast<double>(seen) >= wanted) {
      return std::min(amax_, width_ * static_cast<double>(i + 1));
    }
  }
  return amax_;
}

LogHistogram::LogHistogram() : counts_(static_cast<size_t>(kEndBin - kFirstBin), 0) {}

int LogHistogram::bin_of(double magnitude) {
  if (!(magnitude > 0.0) || std::isinf(magnitude)) {
    throw std::domain_error("LogHistogram::bin_of needs a finite magnitude above 0");
  }
  // magnitude = r * 2^k, r in [1, 2), r exactly in Q1.63. For k in [1, 128) the table's
  // floor(2^63 * 2^(k/128)) is below r_q63 exactly when 2^(k/128) < r (the power is irrational),
  // so the count of such entries is floor(128 * log2 r).
  int e = 0;
  const double fraction = std::frexp(magnitude, &e);  // [0.5, 1) * 2^e
  const uint64_t r_q63 = static_cast<uint64_t>(std::ldexp(fraction, 53)) << 11;
  const auto& q63 = detail::log_tables().q63;
  const auto below = std::lower_bound(q63 + 1, q63 + kBinsPerBinade, r_q63) - (q63 + 1);
  return (e - 1) * kBinsPerBinade + static_cast<int>(below);
}

uint64_t LogHistogram::count(int bin) const {
  if (bin < kFirstBin || bin >= kEndBin) return 0;
  return counts_[static_cast<size_t>(bin - kFirstBin)];
}

namespace {

// bin_of for a normal float, without the binary search: with |x| = (1 + m / 2^23) * 2^(b - 127),
// bin_of's r_q63 is (2^23 + m) << 40, which exceeds q63[k] exactly when m >= T_k =
// (q63[k] >> 40) + 1 - 2^23. The T_k are more than 2^14 apart (2^(1/128) - 1 > 2^-9), so each
// bucket of 2^14 mantissas holds at most one: the count of T_k <= m is the count at the bucket's
// start plus one if m reaches the bucket's next T_k. tb/lbfp checks it against bin_of on every
// mantissa.
struct FloatLogBins {
  static constexpr int kBucketBits = 14;
  static constexpr size_t kBuckets = size_t{1} << (23 - kBucketBits);
  uint8_t base[kBuckets];
  uint32_t next[kBuckets];  // 2^23 (above every mantissa) when none

  FloatLogBins() {
    const auto& q63 = detail::log_tables().q63;
    uint32_t t[LogHistogram::kBinsPerBinade];
    for (int k = 1; k < LogHistogram::kBinsPerBinade; ++k) {
      t[k] = static_cast<uint32_t>((q63[k] >> 40) + 1 - (uint64_t{1} << 23));
    }
    for (size_t b = 0; b < kBuckets; ++b) {
      const uint32_t start = static_cast<uint32_t>(b << kBucketBits);
      const uint32_t end = start + (uint32_t{1} << kBucketBits);
      int below = 0, inside = 0;
      next[b] = uint32_t{1} << 23;
      for (int k = 1; k < LogHistogram::kBinsPerBinade; ++k) {
        if (t[k] <= start) {
          ++below;
        } else if (t[k] < end) {
          ++inside;
          next[b] = t[k];
        }
      }
      if (inside > 1) throw std::logic_error("FloatLogBins: two boundaries in one bucket");
      base[b] = static_cast<uint8_t>(below);
    }
  }

  // floor(128 * log2 |x|) for a normal float's bits (sign cleared).
  int bin(uint32_t bits) const {
    const int biased = static_cast<int>(bits >> 23);
    const uint32_t m = bits & ((uint32_t{1} << 23) - 1);
    const size_t b = m >> kBucketBits;
    return (biased - 127) * LogHistogram::kBinsPerBinade + base[b] + (m >= next[b] ? 1 : 0);
  }
};

const FloatLogBins& float_log_bins() {
  static const FloatLogBins bins;
  return bins;
}

}  // namespace

int LogHistogram::bin_of_float(float magnitude) {
  uint32_t bits = 0;
  static_assert(sizeof bits == sizeof magnitude, "IEEE binary32");
  std::memcpy(&bits, &magnitude, sizeof bits);
  bits &= 0x7fffffffu;
  const uint32_t biased = bits >> 23;
  // Zero, denormals, infinities and NaN: the general path (which throws for the invalid ones).
  if (biased == 0 || biased == 255) return bin_of(static_cast<double>(std::fabs(magnitude)));
  return float_log_bins().bin(bits);
}

void LogHistogram::add(const float* data, size_t n) {
  for (size_t i = 0; i < n; ++i) {
    if (std::isnan(data[i])) {
      throw std::domain_error("histogram input element " + std::to_string(i) + " is NaN");
    }
  }
  const FloatLogBins& bins = float_log_bins();
  for (size_t i = 0; i < n; ++i) {
    const double a = std::fabs(static_cast<double>(data[i]));
    ++total_;
    if (a == 0.0) {
      ++zeros_;
      continue;
    }
    if (std::isinf(a)) {
      ++infinities_;
      continue;
    }
    amax_ = std::max(amax_, a);
    uint32_t bits = 0;
    std::memcpy(&bits, &data[i], sizeof bits);
    bits &= 0x7fffffffu;
    // Normal floats by the table, denormals by bin_of (zeros and infinities are out above).
    const int bin = (bits >> 23) != 0 ? bins.bin(bits) : bin_of(a);
    ++counts_[static_cast<size_t>(bin - kFirstBin)];
    if (lowest_ == end_) {
      lowest_ = bin;
      end_ = bin + 1;
    } else {
      lowest_ = std::min(lowest_, bin);
      end_ = std::max(end_, bin + 1);
    }
  }
}

namespace {

constexpr size_t kMinKeptBins = 128;

// Magnitude level of a value's code: the LBFP magnitude code or the BFP |mantissa|.
int level_of(const LbfpFormat& format, double v, int e) {
  return magnitude(format, encode(format, v, e));
}
int level_of(const BfpFormat& format, double v, int e) {
  return std::abs(mantissa(format, encode(format, v, e)));
}
double top_magnitude(const LbfpFormat& format, int e) {
  return decode(format, make_code(format, false, format.max_magnitude()), e);
}
double top_magnitude(const BfpFormat& format, int e) {
  return decode(format, make_code(format, format.max_mantissa()), e);
}
int default_span(const LbfpFormat& format) { return 2 * format.exponent_offset(); }
int default_span(const BfpFormat& format) { return format.width() - 1; }

// TensorRT / MXNet smoothing: move eps onto every zero bin, taken evenly from the non-zero ones.
void smooth(std::vector<double>& dist) {
  constexpr double kEps = 1e-4;
  const auto zeros = static_cast<double>(std::count(dist.begin(), dist.end(), 0.0));
  const double nonzeros = static_cast<double>(dist.size()) - zeros;
  if (nonzeros == 0.0) return;
  const double eps1 = kEps * zeros / nonzeros;
  for (double& d : dist) d += d == 0.0 ? kEps : -eps1;
}

// The same for masses that need not be counts (the magnitude-weighted log histogram, where one
// small value weighs far less than 1): eps relative to the mean non-zero mass, taken from the
// non-zero bins in proportion to their mass, so none turns negative.
void smooth_relative(std::vector<double>& dist) {
  constexpr double kEps = 1e-4;
  double mass = 0.0;
  size_t zeros = 0;
  for (double d : dist) {
    mass += d;
    zeros += d == 0.0 ? 1 : 0;
  }
  if (zeros == 0 || zeros == dist.size()) return;
  const double eps = kEps * mass / static_cast<double>(dist.size() - zeros);
  const double keep = 1.0 - eps * static_cast<double>(zeros) / mass;
  for (double& d : dist) d = d == 0.0 ? eps : d * keep;
}

enum class Smoothing { kCounts, kRelative };

double kl_divergence(std::vector<double> p, std::vector<double> q,
                     Smoothing smoothing = Smoothing::kCounts) {
  if (smoothing == Smoothing::kCounts) {
    smooth(p);
    smooth(q);
  } else {
    smooth_relative(p);
    smooth_relative(q);
  }
  double sp = 0.0;
  double sq = 0.0;
  for (size_t i = 0; i < p.size(); ++i) {
    sp += p[i];
    sq += q[i];
  }
  double kl = 0.0;
  for (size_t i = 0; i < p.size(); ++i) {
    if (p[i] <= 0.0) continue;
    const double pi = p[i] / sp;
    const double qi = q[i] / sq;
    kl += pi * std::log(pi / qi);
  }
  return kl;
}

// Q of KL: the bins grouped into runs of equal group_of(i) (a code; codes are monotone in the
// value, so a code's bins are one run), each group's mass spread evenly over its non-zero bins.
// `support` says which bins are non-zero (by default the sliced bins themselves).
template <class GroupOf>
std::vector<double> expand_groups(const std::vector<double>& sliced, GroupOf group_of,
                                  const std::vector<double>* support = nullptr) {
  const std::vector<double>& nz = support ? *support : sliced;
  std::vector<double> q(sliced.size(), 0.0);
  size_t start = 0;
  while (start < sliced.size()) {
    const auto group = group_of(start);
    size_t end = start + 1;
    while (end < sliced.size() && group_of(end) == group) ++end;
    double mass = 0.0;
    size_t nonzero = 0;
    for (size_t i = start; i < end; ++i) {
      mass += sliced[i];
      nonzero += nz[i] > 0.0 ? 1 : 0;
    }
    for (size_t i = start; i < end; ++i) {
      q[i] = nz[i] > 0.0 ? mass / static_cast<double>(nonzero) : 0.0;
    }
    start = end;
  }
  return q;
}

std::vector<int> candidates(double amax, int span) {
  const int emax = max_exponent(amax);
  std::vector<int> out;
  for (int e = emax; e >= std::max(kMinExponent, emax - span); --e) out.push_back(e);
  return out;
}

CalibrationResult pick_least(std::vector<std::pair<int, double>> scores) {
  // Stable: candidates arrive largest E first, so an exact tie keeps the larger E.
  std::stable_sort(scores.begin(), scores.end(),
                   [](const auto& a, const auto& b) { return a.second < b.second; });
  CalibrationResult result;
  result.exponent = scores.empty() ? 0 : scores.front().first;
  result.scores = std::move(scores);
  return result;
}

template <class Format>
CalibrationResult kl_impl(const Format& format, const Histogram& h, int span) {
  if (span < 0) span = default_span(format);
  if (h.total() == 0 || h.abs_max() == 0.0) return CalibrationResult{};
  const auto& counts = h.counts();
  const double width = h.bin_width();
  std::vector<std::pair<int, double>> scores;
  const std::vector<int> candidate_list = candidates(h.abs_max(), span);
  for (int e : candidate_list) {
    // Bins below the top code's magnitude are kept; the mass above goes into the last kept bin.
    const double top = top_magnitude(format, e);
    const auto kept = static_cast<size_t>(
        std::clamp(std::ceil(top / width), 1.0, static_cast<double>(counts.size())));
    // Too few bins cannot show what the codes do to the distribution (a single kept bin has
    // KL = 0): such candidates are not scored, as TensorRT starts at 128 bins.
    if (kept < kMinKeptBins && e != candidate_list.front()) continue;
    // P: the kept bins with the clipped mass folded into the last one. Q is quantized from the
    // kept bins *before* that fold, as in TensorRT's reference implementation; quantizing P
    // itself would make clipping free (see docs/format.md, "Choosing E").
    const std::vector<double> sliced(counts.begin(),
                                     counts.begin() + static_cast<std::ptrdiff_t>(kept));
    std::vector<double> p = sliced;
    for (size_t i = kept; i < counts.size(); ++i) p[kept - 1] += static_cast<double>(counts[i]);
    // Bins are grouped by the code of their centre (codes are monotone in the value, so groups
    // are runs); each group's mass is spread evenly over its non-zero bins.
    std::vector<double> q = expand_groups(sliced, [&](size_t i) {
      return level_of(format, (static_cast<double>(i) + 0.5) * width, e);
    });
    scores.emplace_back(e, kl_divergence(std::move(p), std::move(q)));
  }
  return pick_least(std::move(scores));
}

// 2^(k/128) for k <= 0, from the exact table (deterministic, no libm).
double power_of_bins(int k) {
  const int frac = k & (LogHistogram::kBinsPerBinade - 1);
  const int binade = (k - frac) / LogHistogram::kBinsPerBinade;
  return std::ldexp(static_cast<double>(detail::log_tables().q63[frac]), binade - 63);
}

CalibrationResult kl_log_impl(const LbfpFormat& format, const LogHistogram& h, int span) {
  const int per_code = LogHistogram::kBinsPerBinade >> format.frac_bits();  // bins per code
  if (per_code < 2) {
    throw std::invalid_argument("KL over a LogHistogram needs F <= 6 (F = " +
                                std::to_string(format.frac_bits()) + ")");
  }
  if (span < 0) span = default_span(format);
  if (h.lowest_bin() == h.end_bin()) return CalibrationResult{};
  // Each bin's count weighted by its magnitude (relative to the largest): the mass a value brings
  // into the sums of the next layer, so that flushing a value costs what it is worth there, not
  // as much as clipping one 256 times larger. Infinities weigh as much as the largest bin.
  const int ref = h.end_bin();
  auto mass = [&](int b) { return static_cast<double>(h.count(b)) * power_of_bins(b - ref); };
  std::vector<std::pair<int, double>> scores;
  const auto candidate_list = candidates(h.abs_max(), span);
  for (int e : candidate_list) {
    // In bins: 2^(E - 2^I) is `origin`; code m >= 1 rounds from origin + (2m-1) per_code / 2 up
    // to origin + (2m+1) per_code / 2; the top code's magnitude is origin + max_magnitude per_code.
    const int origin = LogHistogram::kBinsPerBinade * (e - format.exponent_offset());
    const int code1 = origin + per_code / 2;
    const int top = origin + format.max_magnitude() * per_code;
    // Kept: from the lowest value (or code 1's boundary) up to the top code's magnitude, so the
    // values that flush to code 0 stay in P where they are, one group of Q.
    const int base = std::min(h.lowest_bin(), code1);
    std::vector<double> sliced(static_cast<size_t>(top - base));
    for (int b = base; b < top; ++b) sliced[static_cast<size_t>(b - base)] = mass(b);
    double clipped = static_cast<double>(h.infinities()) * power_of_bins(-1);
    for (int b = std::max(top, h.lowest_bin()); b < h.end_bin(); ++b) clipped += mass(b);
    std::vector<double> p = sliced;
    p.back() += clipped;
    // A P with one non-zero bin (every value clipped into the last bin, but those already in it)
    // has KL = 0 whatever it clips: not scored, like the linear KL's candidates of too few bins.
    // A channel's histogram can have such a candidate: one stray value just below 2^(Emax - 16).
    if (e != candidate_list.front() &&
        std::count_if(p.begin(), p.end(), [](double v) { return v > 0.0; }) < 2) {
      continue;
    }
    // Spread over P's non-zero bins, the last one included when only clipped mass is there (as
    // MXNet's reference does): otherwise Q would have nothing where P keeps the clipped mass and
    // the score would hang on whether the one bin below the top happens to hold a value.
    std::vector<double> q = expand_groups(
        sliced,
        [&](size_t i) {
          const int b = base + static_cast<int>(i);
          return b < code1 ? 0 : (b - code1) / per_code + 1;
        },
        &p);
    scores.emplace_back(e, kl_divergence(std::move(p), std::move(q), Smoothing::kRelative));
  }
  return pick_least(std::move(scores));
}

template <class Format>
CalibrationResult mse_impl(const Format& format, const Histogram& h, int span) {
  if (span < 0) span = default_span(format);
  if (h.total() == 0 || h.abs_max() == 0.0) return CalibrationResult{};
  const auto& counts = h.counts();
  std::vector<std::pair<int, double>> scores;
  for (int e : candidates(h.abs_max(), span)) {
    double err = 0.0;
    for (size_t i = 0; i < counts.size(); ++i) {
      if (counts[i] == 0) continue;
      const double centre = (static_cast<double>(i) + 0.5) * h.bin_width();
      const double d = centre - decode(format, encode(format, centre, e), e);
      err += static_cast<double>(counts[i]) * d * d;
    }
    scores.emplace_back(e, err / static_cast<double>(h.total()));
  }
  return pick_least(std::move(scores));
}

}  // namespace

CalibrationResult calibrate_kl(const LbfpFormat& format, const Histogram& histogram, int span) {
  return kl_impl(format, histogram, span);
}
CalibrationResult calibrate_kl(const BfpFormat& format, const Histogram& histogram, int span) {
  return kl_impl(format, histogram, span);
}
CalibrationResult calibrate_kl(const LbfpFormat& format, const LogHistogram& histogram, int span) {
  return kl_log_impl(format, histogram, span);
}
CalibrationResult calibrate_mse(const LbfpFormat& format, const Histogram& histogram, int span) {
  return mse_impl(format, histogram, span);
}
CalibrationResult calibrate_mse(const BfpFormat& format, const Histogram& histogram, int span) {
  return mse_impl(format, histogram, span);
}

CalibrationResult calibrate_percentile(const Histogram& histogram, double percentile) {
  CalibrationResult result;
  result.exponent = max_exponent(histogram.percentile_value(percentile));
  return result;
}

template <class Format>
CalibrationResult calibrate(const Format& format, CalibrationMethod method,
                            const std::vector<float>& data, double percentile) {
  if (method == CalibrationMethod::kMax) {
    double amax = 0.0;
    for (size_t i = 0; i < data.size(); ++i) {
      if (std::isnan(data[i])) {
        throw std::domain_error("calibration input element " + std::to_string(i) + " is NaN");
      }
      amax = std::max(amax, std::fabs(static_cast<double>(data[i])));
    }
    CalibrationResult result;
    result.exponent = max_exponent(amax);
    return result;
  }
  if constexpr (std::is_same_v<Format, LbfpFormat>) {
    if (method == CalibrationMethod::kKl) {
      LogHistogram log_h;
      log_h.add(data);
      return calibrate_kl(format, log_h);
    }
  }
  Histogram h;
  h.add(data);
  switch (method) {
    case CalibrationMethod::kKl:
    case CalibrationMethod::kKlLinear:
      return calibrate_kl(format, h);
    case CalibrationMethod::kMse:
      return calibrate_mse(format, h);
    case CalibrationMethod::kPercentile:
      return calibrate_percentile(h, percentile);
    case CalibrationMethod::kMax:
      break;
  }
  return {};
}
template <class Format>
CalibrationResult calibrate(const Format& format, CalibrationMethod method,
                            const Histogram& histogram, const LogHistogram& log_histogram,
                            double percentile) {
  switch (method) {
    case CalibrationMethod::kMax: {
      CalibrationResult result;
      result.exponent = max_exponent(histogram.abs_max());
      return result;
    }
    case CalibrationMethod::kKl:
      // LBFP's codes are uniform in log2|x|, BFP's in x: each on the grid of its codes.
      if constexpr (std::is_same_v<Format, LbfpFormat>) return calibrate_kl(format, log_histogram);
      return calibrate_kl(format, histogram);
    case CalibrationMethod::kKlLinear: return calibrate_kl(format, histogram);
    case CalibrationMethod::kMse: return calibrate_mse(format, histogram);
    case CalibrationMethod::kPercentile: return calibrate_percentile(histogram, percentile);
  }
  return {};
}

template CalibrationResult calibrate(const LbfpFormat&, CalibrationMethod, const Histogram&,
                                     const LogHistogram&, double);
template CalibrationResult calibrate(const BfpFormat&, CalibrationMethod, const Histogram&,
                                     const LogHistogram&, double);
template CalibrationResult calibrate(const LbfpFormat&, CalibrationMethod,
                                     const std::vector<float>&, double);
template CalibrationResult calibrate(const BfpFormat&, CalibrationMethod,
                                     const std::vector<float>&, double);

}  // namespace lbfp
