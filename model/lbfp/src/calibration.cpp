#include "lbfp/calibration.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>

#include "lbfp/arith.h"

namespace lbfp {

CalibrationMethod parse_calibration_method(const std::string& name) {
  if (name == "max") return CalibrationMethod::kMax;
  if (name == "kl") return CalibrationMethod::kKl;
  if (name == "mse") return CalibrationMethod::kMse;
  if (name == "percentile") return CalibrationMethod::kPercentile;
  throw std::invalid_argument("unknown calibration method '" + name +
                              "' (expected max, kl, mse or percentile)");
}

std::string to_string(CalibrationMethod method) {
  switch (method) {
    case CalibrationMethod::kMax:
      return "max";
    case CalibrationMethod::kKl:
      return "kl";
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

double kl_divergence(std::vector<double> p, std::vector<double> q) {
  smooth(p);
  smooth(q);
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

std::vector<int> candidates(const Histogram& h, int span) {
  const int emax = max_exponent(h.abs_max());
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
  const std::vector<int> candidate_list = candidates(h, span);
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
    std::vector<double> q(kept, 0.0);
    size_t start = 0;
    while (start < kept) {
      const int level = level_of(format, (static_cast<double>(start) + 0.5) * width, e);
      size_t end = start + 1;
      while (end < kept && level_of(format, (static_cast<double>(end) + 0.5) * width, e) == level) {
        ++end;
      }
      double mass = 0.0;
      size_t nonzero = 0;
      for (size_t i = start; i < end; ++i) {
        mass += sliced[i];
        nonzero += sliced[i] > 0.0 ? 1 : 0;
      }
      for (size_t i = start; i < end; ++i) {
        q[i] = sliced[i] > 0.0 ? mass / static_cast<double>(nonzero) : 0.0;
      }
      start = end;
    }
    scores.emplace_back(e, kl_divergence(std::move(p), std::move(q)));
  }
  return pick_least(std::move(scores));
}

template <class Format>
CalibrationResult mse_impl(const Format& format, const Histogram& h, int span) {
  if (span < 0) span = default_span(format);
  if (h.total() == 0 || h.abs_max() == 0.0) return CalibrationResult{};
  const auto& counts = h.counts();
  std::vector<std::pair<int, double>> scores;
  for (int e : candidates(h, span)) {
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
  Histogram h;
  h.add(data);
  switch (method) {
    case CalibrationMethod::kKl:
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
template CalibrationResult calibrate(const LbfpFormat&, CalibrationMethod,
                                     const std::vector<float>&, double);
template CalibrationResult calibrate(const BfpFormat&, CalibrationMethod,
                                     const std::vector<float>&, double);

}  // namespace lbfp
