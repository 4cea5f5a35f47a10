#include "lbfp/workload/workload.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <map>
#include <exception>
#include <new>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <sstream>
#include <type_traits>


#include "lbfp/arith.h"
#include "lbfp/calibration.h"
#include "lbfp/conv.h"
#include "lbfp/float_encoder.h"
#include "lbfp/gemm.h"
#include "lbfp/x86_intrinsics.h"
#include "lbfp/eval/graph.h"
#include "lbfp/tensor.h"

namespace lbfp {
namespace {

std::string trim(const std::string& s) {
  const size_t b = s.find_first_not_of(" \t\r");
  if (b == std::string::npos) return "";
  const size_t e = s.find_last_not_of(" \t\r");
  return s.substr(b, e - b + 1);
}

std::vector<std::string> split_csv(const std::string& line) {
  std::vector<std::string> out;
  std::stringstream ss(line);
  for (std::string cell; std::getline(ss, cell, ',');) out.push_back(trim(cell));
  while (!out.empty() && out.back().empty()) out.pop_back();  // SCALE-Sim's trailing comma
  return out;
}

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

constexpr uint64_t kMaxDimension = uint64_t{1} << 31;

uint64_t parse_dim(const std::string& cell, const std::string& where, const std::string& column) {
  uint64_t v = 0;
  size_t used = 0;
  try {
    if (cell.empty() || cell[0] == '-' || cell[0] == '+') throw std::invalid_argument(cell);
    v = std::stoull(cell, &used);
  } catch (const std::exception&) {
    throw ConfigError(where + ": " + column + ": expected a positive integer, got '" + cell + "'");
  }
  if (used != cell.size()) {
    throw ConfigError(where + ": " + column + ": expected a positive integer, got '" + cell + "'");
  }
  if (v == 0) throw ConfigError(where + ": " + column + ": must be positive, got 0");
  if (v > kMaxDimension) {
    throw ConfigError(where + ": " + column + ": " + cell + " is larger than 2^31");
  }
  return v;
}

// A layer's sizes in long double, from its dimensions themselves: products of dimensions up to
// 2^31 wrap in 64 bits (a 2^31 x 2^31 filter's gemm_k() does), so nothing is trusted before this.
struct LayerSize {
  long double input = 0;        // the input feature map (convolutions), values
  long double group_bytes = 0;  // A, B and C of one group, one byte per value
  long double groups = 1;
  long double macs = 0;
};

LayerSize layer_size(const LayerSpec& l) {
  LayerSize s;
  if (l.is_conv) {
    if (l.stride == 0 || l.groups == 0 || l.filter_h > l.ifmap_h || l.filter_w > l.ifmap_w) {
      throw ConfigError("layer '" + l.name + "': inconsistent dimensions " + l.shape_text());
    }
    const long double m =
        static_cast<long double>(l.out_h()) * static_cast<long double>(l.out_w());
    const long double n = static_cast<long double>(l.filters / l.groups);
    const long double k = static_cast<long double>(l.channels / l.groups) *
                          static_cast<long double>(l.filter_h) * static_cast<long double>(l.filter_w);
    s.input = static_cast<long double>(l.channels) * static_cast<long double>(l.ifmap_h) *
              static_cast<long double>(l.ifmap_w);
    s.groups = static_cast<long double>(l.groups);
    s.group_bytes = m * k + n * k + m * n;
    s.macs = m * n * k * s.groups;
  } else {
    const long double m = l.m, n = l.n, k = l.k;
    s.group_bytes = m * k + n * k + m * n;
    s.macs = m * n * k;
  }
  return s;
}

// Refuse layers whose data could not be simulated before anything is allocated (and before any
// 64-bit product of their dimensions is formed).
void check_size(const LayerSpec& l, const std::string& where) {
  const LayerSize s = layer_size(l);
  const long double limit = static_cast<long double>(uint64_t{1} << 40);
  auto refuse = [&](const char* what, long double v) {
    std::ostringstream m;
    m << where << ": layer '" << l.name << "' (" << l.shape_text() << ") needs " << v << " " << what
      << "; the model refuses layers over 1 TiB";
    throw ConfigError(m.str());
  };
  if (s.input > limit) refuse("values of input feature map", s.input);
  if (s.group_bytes > limit) refuse("bytes of operands and results per group", s.group_bytes);
  if (s.group_bytes * s.groups > limit) refuse("bytes of operands and results", s.group_bytes * s.groups);
  if (s.macs > static_cast<long double>(uint64_t{1} << 62)) {
    refuse("multiply-accumulates", s.macs);
  }
}

// The decoded weights of outputs j0 .. j0 + lanes - 1, interleaved: block[kk * stride + l] is
// output j0 + l's value at k index kk; the lanes past the last output stay 0.
void fill_weight_block(const double* const* w_tables, const Code* w, uint64_t k, uint64_t j0,
                       uint64_t lanes, uint64_t stride, std::vector<double>& block) {
  if (lanes < stride) std::fill(block.begin(), block.end(), 0.0);
  for (uint64_t l = 0; l < lanes; ++l) {
    const double* wt = w_tables[j0 + l];
    const Code* wrow = w + (j0 + l) * k;
    for (uint64_t kk = 0; kk < k; ++kk) block[kk * stride + l] = wt[wrow[kk]];
  }
}

// The largest of the outputs of the sampled A rows: each output's decoded products added in
// k order from 0.0, then its bias, in doubles (one multiplication and one addition per term,
// never fused: this file is compiled with -ffp-contract=off). Every output's sum is the same
// double whichever way the outputs are grouped, so the result does not depend on the path.
// Portable path: eight outputs side by side (their weights' values interleaved in a block that
// stays in cache), so that the additions overlap.
double largest_sampled_output_portable(const double* a_values, const double* const* w_tables,
                                       const Code* w, uint64_t n, uint64_t k,
                                       const std::vector<const Code*>& rows, const float* bias) {
  double amax = 0.0;
  constexpr uint64_t kLanes = 8;
  std::vector<double> block(k * kLanes);
  for (uint64_t j0 = 0; j0 < n; j0 += kLanes) {
    const uint64_t lanes = std::min(kLanes, n - j0);
    fill_weight_block(w_tables, w, k, j0, lanes, kLanes, block);
    for (const Code* arow : rows) {
      double s[kLanes] = {};
      const double* wv = block.data();
      for (uint64_t kk = 0; kk < k; ++kk, wv += kLanes) {
        const double av = a_values[arow[kk]];
        for (uint64_t l = 0; l < kLanes; ++l) s[l] += av * wv[l];
      }
      for (uint64_t l = 0; l < lanes; ++l) {
        if (bias != nullptr) s[l] += bias[j0 + l];
        amax = std::max(amax, s[l]);
      }
    }
  }
  return amax;
}

#if defined(__x86_64__)
// AVX-512 path: four rows x sixteen outputs (eight independent vector sums) per pass over a
// block of sixteen outputs' weight values, separate vmulpd and vaddpd, the same doubles.
__attribute__((target("avx512f"))) double largest_sampled_output_avx512(
    const double* a_values, const double* const* w_tables, const Code* w, uint64_t n, uint64_t k,
    const std::vector<const Code*>& rows, const float* bias) {
  double amax = 0.0;
  constexpr uint64_t kLanes = 16;
  constexpr size_t kRows = 4;
  std::vector<double> block(k * kLanes);
  for (uint64_t j0 = 0; j0 < n; j0 += kLanes) {
    const uint64_t lanes = std::min(kLanes, n - j0);
    fill_weight_block(w_tables, w, k, j0, lanes, kLanes, block);
    for (size_t r0 = 0; r0 < rows.size(); r0 += kRows) {
      const size_t count = std::min(kRows, rows.size() - r0);
      const Code* a[kRows];
      for (size_t r = 0; r < kRows; ++r) a[r] = rows[r0 + std::min(r, count - 1)];
      __m512d s[kRows][2];
      for (auto& row : s) row[0] = row[1] = _mm512_setzero_pd();
      const double* wv = block.data();
      for (uint64_t kk = 0; kk < k; ++kk, wv += kLanes) {
        const __m512d w0 = _mm512_loadu_pd(wv);
        const __m512d w1 = _mm512_loadu_pd(wv + 8);
        for (size_t r = 0; r < kRows; ++r) {
          const __m512d av = _mm512_set1_pd(a_values[a[r][kk]]);
          s[r][0] = _mm512_add_pd(s[r][0], _mm512_mul_pd(av, w0));
          s[r][1] = _mm512_add_pd(s[r][1], _mm512_mul_pd(av, w1));
        }
      }
      for (size_t r = 0; r < count; ++r) {
        alignas(64) double out[kLanes];
        _mm512_store_pd(out, s[r][0]);
        _mm512_store_pd(out + 8, s[r][1]);
        for (uint64_t l = 0; l < lanes; ++l) {
          if (bias != nullptr) out[l] += bias[j0 + l];
          amax = std::max(amax, out[l]);
        }
      }
    }
  }
  return amax;
}
#endif

// BFP: every value is its integer mantissa times a power of two, so each product above is
// n_a n_w 2^s, s = the column's product_scale, and every partial sum an integer multiple of 2^s
// below 2^53 in magnitude ((2^(W-1))^2 k of them, k < 2^38): the k-order double sum is exact
// and equals the exact integer sum times 2^s. The integer sums come from the exact GEMM kernels
// (A-bit accumulators wide enough that nothing saturates); each output is then that sum scaled
// (exact) plus its bias (the one rounding, as above): the same doubles, the same largest one.
double largest_sampled_output_bfp(const BfpFormat& format, const std::vector<const Code*>& rows,
                                  const arch::GemmLayer& gl, uint64_t n, uint64_t k) {
  // The transposed product, W (N x K, read in place) times the sampled rows as K x rows: only
  // the small sample is copied.
  const size_t m = rows.size();
  std::vector<Code> sample(k * m);
  for (size_t r = 0; r < m; ++r) {
    for (uint64_t kk = 0; kk < k; ++kk) sample[kk * m + r] = rows[r][kk];
  }
  const BfpFormat wide(format.width(), kMaxAccBits);
  const std::vector<int> no_exponents(m, 0);
  GemmProblem p;
  p.m = n;
  p.n = m;
  p.k = k;
  p.a = gl.w.data();
  p.lda = k;
  p.b = sample.data();
  p.ldb = m;
  p.b_exponents = no_exponents.data();
  std::vector<int64_t> sums(n * m);
  GemmOptions options;
  options.threads = 1;  // the data threads already run beside the simulation
  gemm_accumulate(wide, p, sums.data(), m, nullptr, options);
  double amax = 0.0;
  for (uint64_t j = 0; j < n; ++j) {
    const int scale = format.product_scale(gl.a_exponent, gl.w_exponents[j]);
    const double bias = gl.bias.empty() ? 0.0 : static_cast<double>(gl.bias[j]);
    for (size_t r = 0; r < m; ++r) {
      double out = std::ldexp(static_cast<double>(sums[j * m + r]), scale);
      if (!gl.bias.empty()) out += bias;
      amax = std::max(amax, out);
    }
  }
  return amax;
}

#if defined(__x86_64__)
// out[kk * stride] = float(table[codes[kk]] * scale) for kk < k; returns the double norm of the
// scaled values (four partial sums of squares: a single chain waits on every addition).
double scaled_floats(const double* table, const Code* codes, uint64_t k, double scale,
                     float* out, size_t stride) {
  double sq[4] = {};
  uint64_t kk = 0;
  for (; kk + 4 <= k; kk += 4) {
    for (int i = 0; i < 4; ++i) {
      const double v = table[codes[kk + i]] * scale;
      out[(kk + i) * stride] = static_cast<float>(v);
      sq[i] += v * v;
    }
  }
  for (; kk < k; ++kk) {
    const double v = table[codes[kk]] * scale;
    out[kk * stride] = static_cast<float>(v);
    sq[0] += v * v;
  }
  return std::sqrt((sq[0] + sq[1]) + (sq[2] + sq[3]));
}

// The same largest output, most outputs ruled out first by float sums. In each output's own
// units (A's values times 2^-Ea, W's times 2^-Ew, both then rounded to float: a relative error
// below 2^-24 (1 + 2^-27) each), the sums s_f of four rows by 32 outputs by vfmadd231ps
// (k roundings) are within c_k sum |a w| of the double sums S_d 2^-(Ea+Ew) above, with
//   c_k = 1.1 (k + 1) 2^-24   the float sum (gamma_(k+1), k <= 2^20),
//       + 2^-22               the operands' rounding to float, twice, and its effect,
//       + k 2^-51             the double sum's own error and its products' roundings,
// and sum |a w| <= |a|_2 |w|_2 (Cauchy-Schwarz; the norms in doubles, rounded up). Every value
// and product stays a normal float (the caller checks the tables' range), so no step underflows.
// Rounding to nearest is monotone: an output's double value plus its bias lies between
// lo + bias and hi + bias (each rounded), lo/hi = s_f 2^(Ea+Ew) -/+ that bound (widened for
// their own roundings). An output whose upper end is below the largest lower end (or below 0,
// where the search starts) cannot be the largest; the others are summed in doubles exactly as
// the loops above do. Returns nothing (the caller sums every output) where too few outputs are
// ruled out for it to pay.
__attribute__((target("avx512f"))) std::optional<double> largest_sampled_output_pruned(
    const double* a_values, const double* const* w_tables, const Code* w, uint64_t n,
    uint64_t k, const std::vector<const Code*>& rows, const float* bias, int a_exponent,
    const std::vector<int>& w_exponents) {
  constexpr uint64_t kLanes = 32;
  constexpr size_t kRows = 4;
  const size_t m = rows.size();
  const double ku = static_cast<double>(k);
  const double c_k = 1.1 * (ku + 1) * 0x1p-24 + 0x1p-22 + ku * 0x1p-51;
  const double norm_up = (1 + (ku + 8) * 0x1p-52) * (1 + 0x1p-30);
  // The sampled rows' scaled values as floats, and their norms.
  std::vector<float> a_rows(m * k);
  std::vector<double> a_norm(m);
  const double a_scale = std::ldexp(1.0, -a_exponent);
  for (size_t r = 0; r < m; ++r) {
    a_norm[r] = scaled_floats(a_values, rows[r], k, a_scale, a_rows.data() + r * k, 1) * norm_up;
  }
  std::vector<float> block(k * kLanes);
  std::vector<double> hi(n * m);
  double floor = 0.0;
  for (uint64_t j0 = 0; j0 < n; j0 += kLanes) {
    const uint64_t lanes = std::min(kLanes, n - j0);
    double w_norm[kLanes] = {};
    if (lanes < kLanes) std::fill(block.begin(), block.end(), 0.0f);
    for (uint64_t l = 0; l < lanes; ++l) {
      const double* wt = w_tables[j0 + l];
      const Code* wrow = w + (j0 + l) * k;
      const double w_scale = std::ldexp(1.0, -w_exponents[j0 + l]);
      w_norm[l] = scaled_floats(wt, wrow, k, w_scale, block.data() + l, kLanes) * norm_up;
    }
    for (size_t r0 = 0; r0 < m; r0 += kRows) {
      const size_t count = std::min(kRows, m - r0);
      const float* a[kRows];
      for (size_t r = 0; r < kRows; ++r) a[r] = a_rows.data() + (r0 + std::min(r, count - 1)) * k;
      // Named accumulators: in an array GCC stores them to the stack at every step.
      __m512 s00 = _mm512_setzero_ps(), s01 = s00, s10 = s00, s11 = s00, s20 = s00, s21 = s00,
             s30 = s00, s31 = s00;
      const float* wv = block.data();
      for (uint64_t kk = 0; kk < k; ++kk, wv += kLanes) {
        const __m512 w0 = _mm512_loadu_ps(wv);
        const __m512 w1 = _mm512_loadu_ps(wv + 16);
        __m512 av = _mm512_set1_ps(a[0][kk]);
        s00 = _mm512_fmadd_ps(av, w0, s00);
        s01 = _mm512_fmadd_ps(av, w1, s01);
        av = _mm512_set1_ps(a[1][kk]);
        s10 = _mm512_fmadd_ps(av, w0, s10);
        s11 = _mm512_fmadd_ps(av, w1, s11);
        av = _mm512_set1_ps(a[2][kk]);
        s20 = _mm512_fmadd_ps(av, w0, s20);
        s21 = _mm512_fmadd_ps(av, w1, s21);
        av = _mm512_set1_ps(a[3][kk]);
        s30 = _mm512_fmadd_ps(av, w0, s30);
        s31 = _mm512_fmadd_ps(av, w1, s31);
      }
      alignas(64) float sums[kRows][kLanes];
      _mm512_store_ps(sums[0], s00);
      _mm512_store_ps(sums[0] + 16, s01);
      _mm512_store_ps(sums[1], s10);
      _mm512_store_ps(sums[1] + 16, s11);
      _mm512_store_ps(sums[2], s20);
      _mm512_store_ps(sums[2] + 16, s21);
      _mm512_store_ps(sums[3], s30);
      _mm512_store_ps(sums[3] + 16, s31);
      for (size_t r = 0; r < count; ++r) {
        const float* out = sums[r];
        for (uint64_t l = 0; l < lanes; ++l) {
          const uint64_t j = j0 + l;
          // 2^scale: exponents are within +-127, so the power is a normal double and each
          // product rounds as ldexp would.
          const double power = power_of_two(a_exponent + w_exponents[j]);
          const double mid = static_cast<double>(out[l]) * power;
          const double reach = (c_k * a_norm[r0 + r] * w_norm[l]) * power * (1 + 0x1p-30) +
                               std::fabs(mid) * 0x1p-50;
          double low = mid - reach;
          double up = mid + reach;
          if (bias != nullptr) {
            low += bias[j];
            up += bias[j];
          }
          floor = std::max(floor, low);  // a NaN (from a NaN bias) is never taken, as below
          hi[j * m + r0 + r] = up;
        }
      }
    }
  }
  std::vector<std::pair<uint64_t, size_t>> candidates;
  for (uint64_t j = 0; j < n; ++j) {
    for (size_t r = 0; r < m; ++r) {
      if (hi[j * m + r] >= floor) candidates.emplace_back(j, r);
    }
  }
  if (candidates.size() > n * m / 8) return std::nullopt;
  double amax = 0.0;
  for (const auto& [j, r] : candidates) {
    const double* wt = w_tables[j];
    const Code* wrow = w + j * k;
    const Code* arow = rows[r];
    double out = 0.0;
    for (uint64_t kk = 0; kk < k; ++kk) out += a_values[arow[kk]] * wt[wrow[kk]];
    if (bias != nullptr) out += bias[j];
    amax = std::max(amax, out);
  }
  return amax;
}

// Whether every nonzero value of the tables, scaled by 2^-E, lies in [2^-40, 2^40]: then their
// products (at most k = 2^20 of them summed) stay normal floats in largest_sampled_output_pruned.
bool scaled_values_in_float_range(const double* table, int exponent) {
  for (int c = 0; c < 256; ++c) {
    const double v = std::fabs(std::ldexp(table[c], -exponent));
    if (v != 0.0 && !(v >= 0x1p-40 && v <= 0x1p40)) return false;
  }
  return true;
}
#endif

double largest_sampled_output(const double* a_values, const double* const* w_tables,
                              const Code* w, uint64_t n, uint64_t k,
                              const std::vector<const Code*>& rows, const float* bias) {
#if defined(__x86_64__)
  static const bool avx512 = __builtin_cpu_supports("avx512f") != 0;
  if (avx512) return largest_sampled_output_avx512(a_values, w_tables, w, n, k, rows, bias);
#endif
  return largest_sampled_output_portable(a_values, w_tables, w, n, k, rows, bias);
}

}  // namespace

std::string LayerSpec::shape_text() const {
  std::ostringstream s;
  if (is_conv) {
    s << ifmap_h << "x" << ifmap_w << "x" << channels << " * " << filter_h << "x" << filter_w
      << "x" << filters << " /" << stride;
    if (groups > 1) s << " g" << groups;
  } else {
    s << "M" << m << " N" << n << " K" << k;
  }
  return s.str();
}

Conv2dShape LayerSpec::conv_shape() const {
  Conv2dShape s;
  s.in_channels = channels;
  s.in_height = ifmap_h;
  s.in_width = ifmap_w;
  s.out_channels = filters;
  s.kernel_height = filter_h;
  s.kernel_width = filter_w;
  s.stride_height = s.stride_width = stride;
  s.groups = groups;
  return s;
}

Workload parse_topology(const std::string& text, const std::string& source) {
  Workload w;
  w.source = source;
  w.name = std::filesystem::path(source).stem().string();
  // A spreadsheet's UTF-8 byte order mark is not part of the header.
  const bool bom = text.rfind("\xEF\xBB\xBF", 0) == 0;
  std::stringstream in(bom ? text.substr(3) : text);
  std::string line;
  size_t line_number = 0;
  bool header_seen = false;
  bool gemm_form = false;
  bool has_groups = false;
  size_t columns = 0;
  while (std::getline(in, line)) {
    ++line_number;
    const std::string where = source + ":" + std::to_string(line_number);
    if (trim(line).empty() || trim(line)[0] == '#') continue;
    const std::vector<std::string> cells = split_csv(line);
    if (!header_seen) {
      const std::string h0 = cells.empty() ? "" : lower(cells[0]);
      if (cells.size() >= 4 && (h0 == "layer" || h0 == "layer name") && lower(cells[1]) == "m") {
        gemm_form = true;
        columns = 4;
      } else if (cells.size() >= 8 && h0 == "layer name" && lower(cells[1]) == "ifmap height") {
        columns = 8;
        has_groups = cells.size() >= 9 && lower(cells[8]) == "groups";
        if (has_groups) columns = 9;
      } else {
        throw ConfigError(where + ": not a SCALE-Sim topology header (expected 'Layer name, IFMAP "
                          "Height, IFMAP Width, Filter Height, Filter Width, Channels, Num "
                          "Filter, Strides,' or 'Layer, M, N, K,')");
      }
      header_seen = true;
      continue;
    }
    if (cells.size() < columns) {
      throw ConfigError(where + ": expected " + std::to_string(columns) + " columns, got " +
                        std::to_string(cells.size()));
    }
    LayerSpec l;
    l.name = cells[0].empty() ? "layer" + std::to_string(w.layers.size()) : cells[0];
    if (gemm_form) {
      l.m = parse_dim(cells[1], where, "M");
      l.n = parse_dim(cells[2], where, "N");
      l.k = parse_dim(cells[3], where, "K");
    } else {
      l.is_conv = true;
      l.ifmap_h = parse_dim(cells[1], where, "IFMAP Height");
      l.ifmap_w = parse_dim(cells[2], where, "IFMAP Width");
      l.filter_h = parse_dim(cells[3], where, "Filter Height");
      l.filter_w = parse_dim(cells[4], where, "Filter Width");
      l.channels = parse_dim(cells[5], where, "Channels");
      l.filters = parse_dim(cells[6], where, "Num Filter");
      l.stride = parse_dim(cells[7], where, "Strides");
      if (has_groups) l.groups = parse_dim(cells[8], where, "Groups");
      if (l.filter_h > l.ifmap_h || l.filter_w > l.ifmap_w) {
        throw ConfigError(where + ": the " + cells[3] + "x" + cells[4] + " filter is larger than the " +
                          cells[1] + "x" + cells[2] + " IFMAP");
      }
      if (l.channels % l.groups != 0 || l.filters % l.groups != 0) {
        throw ConfigError(where + ": Channels and Num Filter must be multiples of Groups");
      }
    }
    check_size(l, where);
    w.layers.push_back(l);
  }
  if (!header_seen) throw ConfigError(source + ": the topology file is empty");
  if (w.layers.empty()) throw ConfigError(source + ": the topology has no layers");
  return w;
}

Workload load_onnx_workload(const std::string& path) {
  eval::Graph g;
  try {
    g = eval::load_onnx(path);
  } catch (const std::exception& e) {
    throw ConfigError(std::string(e.what()));
  }
  Workload w;
  w.source = path;
  w.name = std::filesystem::path(path).stem().string();
  w.real_weights = true;
  for (const eval::Node& node : g.nodes) {
    if (node.kind != eval::OpKind::kConv && node.kind != eval::OpKind::kGemm) continue;
    const eval::ActShape in = g.tensor_shapes.at(static_cast<size_t>(node.inputs.at(0)));
    LayerSpec l;
    l.name = node.name;
    if (node.kind == eval::OpKind::kConv) {
      l.is_conv = true;
      l.pad_h = node.pad_h;
      l.pad_w = node.pad_w;
      l.ifmap_h = in.h + 2 * node.pad_h;
      l.ifmap_w = in.w + 2 * node.pad_w;
      l.filter_h = node.kernel_h;
      l.filter_w = node.kernel_w;
      l.channels = in.c;
      l.filters = node.out_channels;
      if (node.stride_h != node.stride_w) {
        throw ConfigError(path + ": node '" + node.name + "': unequal strides are not modelled");
      }
      l.stride = node.stride_h;
      l.groups = node.groups;
    } else {
      l.m = 1;  // one image
      l.n = node.out_channels;
      l.k = in.elements();
    }
    check_size(l, path);
    l.weights = node.weights;
    l.bias = node.bias;
    if (l.weights.size() != l.gemm_n() * l.group_count() * l.gemm_k()) {
      throw ConfigError(path + ": node '" + node.name + "': " +
                        std::to_string(l.weights.size()) + " weights for a " + l.shape_text() +
                        " layer");
    }
    w.layers.push_back(std::move(l));
  }
  if (w.layers.empty()) throw ConfigError(path + ": the model has no Conv or Gemm layer");
  return w;
}

Workload load_workload(const std::string& spec, const TextReader& read_text) {
  if (spec.size() > 5 && spec.compare(spec.size() - 5, 5, ".onnx") == 0) {
    return load_onnx_workload(spec);
  }
  if (spec.rfind("gemm:", 0) == 0) {
    std::vector<std::string> cells = split_csv(spec.substr(5));
    if (cells.size() != 3) {
      throw ConfigError("--workload " + spec + ": expected gemm:M,N,K (e.g. gemm:512,512,512)");
    }
    LayerSpec l;
    l.name = "gemm";
    const std::string where = "--workload " + spec;
    l.m = parse_dim(cells[0], where, "M");
    l.n = parse_dim(cells[1], where, "N");
    l.k = parse_dim(cells[2], where, "K");
    check_size(l, where);
    Workload w;
    w.name = "gemm-" + cells[0] + "x" + cells[1] + "x" + cells[2];
    w.source = "command line";
    w.layers.push_back(l);
    return w;
  }
  return parse_topology(read_text(spec), spec);
}

uint64_t layer_data_bytes(const LayerSpec& layer) {
  const LayerSize s = layer_size(layer);
  // The input as floats and codes, then every group's codes.
  const long double bytes = 5 * s.input + s.group_bytes * s.groups;
  const long double cap = static_cast<long double>(uint64_t{1} << 62);
  return bytes > cap ? uint64_t{1} << 62 : static_cast<uint64_t>(bytes);
}

Im2col parse_im2col(const std::string& choice) {
  if (choice == "host") return Im2col::kHost;
  if (choice == "chip") return Im2col::kChip;
  throw ConfigError("--im2col " + choice + ": expected host or chip");
}

namespace {

// The encoder of a format at an exponent, made once per process: its tables (about 200 KB)
// take longer to build than most layers take to encode with them, and a network's layers share
// a few exponents. Safe from any thread; the encoder stays alive while a caller holds it. At
// most kMaxEncoders are kept (then the cache starts over), so sweeps over many formats stay
// bounded in memory.
template <class Format>
std::shared_ptr<const FloatEncoder<Format>> shared_encoder(const Format& format, int exponent) {
  constexpr size_t kMaxEncoders = 256;
  static std::mutex mutex;
  static std::map<std::pair<std::string, int>, std::shared_ptr<const FloatEncoder<Format>>>
      encoders;
  const std::pair<std::string, int> key(format.name(), exponent);
  {
    const std::lock_guard<std::mutex> lock(mutex);
    const auto it = encoders.find(key);
    if (it != encoders.end()) return it->second;
  }
  auto made = std::make_shared<const FloatEncoder<Format>>(format, exponent);
  const std::lock_guard<std::mutex> lock(mutex);
  if (encoders.size() >= kMaxEncoders) encoders.clear();
  return encoders.emplace(key, std::move(made)).first->second;  // or the one made meanwhile
}

// The constants of standard_normal_pair (workload.h), shared by its scalar and vector forms.
namespace normal_pair {
constexpr float kLn2High = 0x1.62e4p-1f;     // ln 2's first 15 bits: e * kLn2High is exact
constexpr float kLn2Low = 0x1.7f7d1cp-20f;   // ln 2 - kLn2High, rounded
constexpr float kQuarterPi = 0x1.921fb6p-1f;  // pi / 4, rounded
constexpr uint32_t kSqrt2Bits = 0x3fb504f3;  // sqrt(2), rounded up
// 2 atanh(s) / (2 s) = 1 + z / 3 + z^2 / 5 + ..., z = s^2, |s| <= 3 - 2 sqrt(2)
constexpr float kLog3 = 1.0f / 3.0f, kLog5 = 1.0f / 5.0f, kLog7 = 1.0f / 7.0f,
                kLog9 = 1.0f / 9.0f;
// Taylor's coefficients of cos and sin in w = theta^2 (theta <= pi / 4)
constexpr float kCos2 = -1.0f / 2.0f, kCos4 = 1.0f / 24.0f, kCos6 = -1.0f / 720.0f,
                kCos8 = 1.0f / 40320.0f, kCos10 = -1.0f / 3628800.0f;
constexpr float kSin3 = -1.0f / 6.0f, kSin5 = 1.0f / 120.0f, kSin7 = -1.0f / 5040.0f,
                kSin9 = 1.0f / 362880.0f;
}  // namespace normal_pair

// count values (count / 2 rounded up draws) into out, x then y of each draw.
void normal_values(const uint64_t* draws, float* out, size_t count) {
  for (size_t i = 0; i < count; i += 2) {
    float pair[2];
    standard_normal_pair(draws[i / 2], pair);
    out[i] = pair[0];
    if (i + 1 < count) out[i + 1] = pair[1];
  }
}

#if defined(__x86_64__)
// standard_normal_pair on 16 draws' halves (hi: the radius's 32 bits, lo: the angle's), the
// same float operations in the same order (this file is compiled with -ffp-contract=off; IEEE
// division and square root round as the scalar ones do), so the same bits.
__attribute__((target("avx512f"))) void normal_pairs_avx512(__m512i hi, __m512i lo,
                                                             __m512* x, __m512* y) {
  using namespace normal_pair;
  const __m512 u = _mm512_add_ps(_mm512_mul_ps(_mm512_cvtepu32_ps(hi), _mm512_set1_ps(0x1p-32f)),
                                 _mm512_set1_ps(0x1p-33f));
  const __m512i bits = _mm512_castps_si512(u);
  __m512i e = _mm512_sub_epi32(_mm512_srli_epi32(bits, 23), _mm512_set1_epi32(127));
  __m512i mbits = _mm512_or_si512(_mm512_and_si512(bits, _mm512_set1_epi32(0x7fffff)),
                                  _mm512_set1_epi32(0x3f800000));
  const __mmask16 above = _mm512_cmpgt_epi32_mask(mbits, _mm512_set1_epi32(kSqrt2Bits));
  mbits = _mm512_mask_sub_epi32(mbits, above, mbits, _mm512_set1_epi32(0x00800000));
  e = _mm512_mask_add_epi32(e, above, e, _mm512_set1_epi32(1));
  const __m512 m = _mm512_castsi512_ps(mbits);
  const __m512 one = _mm512_set1_ps(1.0f);
  const __m512 s = _mm512_div_ps(_mm512_sub_ps(m, one), _mm512_add_ps(m, one));
  const __m512 z = _mm512_mul_ps(s, s);
  __m512 q = _mm512_add_ps(_mm512_set1_ps(kLog7), _mm512_mul_ps(z, _mm512_set1_ps(kLog9)));
  q = _mm512_add_ps(_mm512_set1_ps(kLog5), _mm512_mul_ps(z, q));
  q = _mm512_add_ps(_mm512_set1_ps(kLog3), _mm512_mul_ps(z, q));
  q = _mm512_mul_ps(z, q);
  const __m512 ln_m = _mm512_mul_ps(_mm512_add_ps(s, _mm512_mul_ps(s, q)), _mm512_set1_ps(2.0f));
  const __m512 fe = _mm512_cvtepi32_ps(_mm512_sub_epi32(_mm512_setzero_si512(), e));
  const __m512 neg_ln = _mm512_add_ps(
      _mm512_mul_ps(fe, _mm512_set1_ps(kLn2High)),
      _mm512_sub_ps(_mm512_mul_ps(fe, _mm512_set1_ps(kLn2Low)), ln_m));
  const __m512 r = _mm512_sqrt_ps(_mm512_mul_ps(neg_ln, _mm512_set1_ps(2.0f)));

  const __m512i angle = _mm512_and_si512(lo, _mm512_set1_epi32(0xffffff));
  const __m512 t = _mm512_mul_ps(_mm512_cvtepi32_ps(angle), _mm512_set1_ps(0x1p-24f));
  const __m512 th = _mm512_mul_ps(t, _mm512_set1_ps(kQuarterPi));
  const __m512 w = _mm512_mul_ps(th, th);
  __m512 c = _mm512_add_ps(_mm512_set1_ps(kCos8), _mm512_mul_ps(w, _mm512_set1_ps(kCos10)));
  c = _mm512_add_ps(_mm512_set1_ps(kCos6), _mm512_mul_ps(w, c));
  c = _mm512_add_ps(_mm512_set1_ps(kCos4), _mm512_mul_ps(w, c));
  c = _mm512_add_ps(_mm512_set1_ps(kCos2), _mm512_mul_ps(w, c));
  c = _mm512_add_ps(one, _mm512_mul_ps(w, c));
  __m512 sn = _mm512_add_ps(_mm512_set1_ps(kSin7), _mm512_mul_ps(w, _mm512_set1_ps(kSin9)));
  sn = _mm512_add_ps(_mm512_set1_ps(kSin5), _mm512_mul_ps(w, sn));
  sn = _mm512_add_ps(_mm512_set1_ps(kSin3), _mm512_mul_ps(w, sn));
  sn = _mm512_add_ps(th, _mm512_mul_ps(th, _mm512_mul_ps(w, sn)));
  const __mmask16 swap = _mm512_test_epi32_mask(lo, _mm512_set1_epi32(1 << 29));
  const __m512 cs = _mm512_mask_blend_ps(swap, c, sn);
  const __m512 sc = _mm512_mask_blend_ps(swap, sn, c);
  const __m512i sign = _mm512_set1_epi32(static_cast<int>(0x80000000u));
  // Bit 30 flips the cosine's sign, bit 31 the sine's: moved to bit 31 and masked.
  const __m512i flip_c = _mm512_and_si512(_mm512_slli_epi32(lo, 1), sign);
  const __m512i flip_s = _mm512_and_si512(lo, sign);
  const __m512 cf = _mm512_castsi512_ps(_mm512_xor_si512(_mm512_castps_si512(cs), flip_c));
  const __m512 sf = _mm512_castsi512_ps(_mm512_xor_si512(_mm512_castps_si512(sc), flip_s));
  *x = _mm512_mul_ps(r, cf);
  *y = _mm512_mul_ps(r, sf);
}

// normal_values 16 pairs at a time, the values interleaved (x, y of each draw), the last pairs
// one by one.
__attribute__((target("avx512f"))) void normal_values_avx512(const uint64_t* draws,
                                                              float* out, size_t count) {
  // (first[0], second[0], first[1], second[1], ...): lanes 0-7 of each, then lanes 8-15.
  const __m512i interleave_low =
      _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
  const __m512i interleave_high =
      _mm512_setr_epi32(8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
  size_t i = 0;
  for (; i + 32 <= count; i += 32) {
    const __m512i d0 = _mm512_loadu_si512(draws + i / 2);
    const __m512i d1 = _mm512_loadu_si512(draws + i / 2 + 8);
    const __m512i lo = _mm512_inserti64x4(_mm512_castsi256_si512(_mm512_cvtepi64_epi32(d0)),
                                          _mm512_cvtepi64_epi32(d1), 1);
    const __m512i hi = _mm512_inserti64x4(
        _mm512_castsi256_si512(_mm512_cvtepi64_epi32(_mm512_srli_epi64(d0, 32))),
        _mm512_cvtepi64_epi32(_mm512_srli_epi64(d1, 32)), 1);
    __m512 x, y;
    normal_pairs_avx512(hi, lo, &x, &y);
    _mm512_storeu_ps(out + i, _mm512_permutex2var_ps(x, interleave_low, y));
    _mm512_storeu_ps(out + i + 16, _mm512_permutex2var_ps(x, interleave_high, y));
  }
  normal_values(draws + i / 2, out + i, count - i);
}
#endif

// The largest bit pattern of n floats read as int32 (0 at least), and of their magnitudes'
// (sign bit cleared) read as uint32: integer maxima, which the compiler vectorizes; built for
// SSE2 (no packed 32-bit maximum: compares and blends) and for AVX2 (vpmaxsd / vpmaxud),
// chosen at run time. The same values either way.
__attribute__((always_inline)) inline int32_t top_bits(const float* v, size_t n) {
  int32_t top = 0;
  for (size_t i = 0; i < n; ++i) {
    int32_t bits = 0;
    std::memcpy(&bits, v + i, sizeof bits);
    top = std::max(top, bits);
  }
  return top;
}
__attribute__((always_inline)) inline uint32_t top_magnitude_bits(const float* v, size_t n) {
  uint32_t top = 0;
  for (size_t i = 0; i < n; ++i) {
    uint32_t bits = 0;
    std::memcpy(&bits, v + i, sizeof bits);
    top = std::max(top, bits & 0x7fffffffu);
  }
  return top;
}
#if defined(__x86_64__)
__attribute__((target("avx2"))) int32_t top_bits_avx2(const float* v, size_t n) {
  return top_bits(v, n);
}
__attribute__((target("avx2"))) uint32_t top_magnitude_bits_avx2(const float* v, size_t n) {
  return top_magnitude_bits(v, n);
}
bool have_avx2() {
  static const bool avx2 = __builtin_cpu_supports("avx2") != 0;
  return avx2;
}
#endif
int32_t largest_bits(const float* v, size_t n) {
#if defined(__x86_64__)
  if (have_avx2()) return top_bits_avx2(v, n);
#endif
  return top_bits(v, n);
}
uint32_t largest_magnitude_bits(const float* v, size_t n) {
#if defined(__x86_64__)
  if (have_avx2()) return top_magnitude_bits_avx2(v, n);
#endif
  return top_magnitude_bits(v, n);
}

// std::mersenne_twister_engine's recurrence for mt19937_64 (libstdc++'s _M_gen_rand) in three
// runs whose steps are independent of one another within each run (each reads words the run
// has not written yet, or words an earlier run wrote), so that they vectorize; then the
// tempering of every word.
constexpr uint64_t kMtUpper = ~uint64_t{0} << 31;
constexpr uint64_t kMtLower = ~kMtUpper;
constexpr uint64_t kMtMatrix = 0xb5026f5aa96619e9ULL;
constexpr size_t kMtShift = 156;

__attribute__((always_inline)) inline uint64_t mt_step(uint64_t far, uint64_t here,
                                                       uint64_t next) {
  const uint64_t y = (here & kMtUpper) | (next & kMtLower);
  return far ^ (y >> 1) ^ ((0 - (y & 1)) & kMtMatrix);
}

__attribute__((always_inline)) inline void mt_refill(uint64_t* x, uint64_t* out) {
  constexpr size_t n = Mt64::kStateWords, m = kMtShift;
  for (size_t k = 0; k < n - m; ++k) x[k] = mt_step(x[k + m], x[k], x[k + 1]);
  for (size_t k = n - m; k < n - 1; ++k) x[k] = mt_step(x[k - (n - m)], x[k], x[k + 1]);
  x[n - 1] = mt_step(x[m - 1], x[n - 1], x[0]);
  for (size_t i = 0; i < n; ++i) {
    uint64_t z = x[i];
    z ^= (z >> 29) & 0x5555555555555555ULL;
    z ^= (z << 17) & 0x71d67fffeda60000ULL;
    z ^= (z << 37) & 0xfff7eee000000000ULL;
    z ^= z >> 43;
    out[i] = z;
  }
}

void mt_refill_portable(uint64_t* x, uint64_t* out) { mt_refill(x, out); }
#if defined(__x86_64__)
__attribute__((target("avx512f"))) void mt_refill_avx512(uint64_t* x, uint64_t* out) {
  mt_refill(x, out);
}
#endif

// `count` values into out, which keeps its memory when it has room (its values do not matter).
template <class Engine>
void standard_normals_into(Engine& rng, size_t count, std::vector<float>& out) {
  if (out.capacity() < count) out = std::vector<float>();  // not the old values copied over
  out.resize(count);
  constexpr size_t kBlock = 512;  // draws per step
  alignas(64) uint64_t draws[kBlock];
#if defined(__x86_64__)
  static const bool avx512 = __builtin_cpu_supports("avx512f") != 0;
#endif
  for (size_t done = 0; done < count;) {
    const size_t values = std::min(count - done, 2 * kBlock);
    const size_t pairs = (values + 1) / 2;
    if constexpr (std::is_same_v<Engine, Mt64>) {
      rng.generate(draws, pairs);
    } else {
      for (size_t i = 0; i < pairs; ++i) draws[i] = rng();
    }
#if defined(__x86_64__)
    if (avx512) {
      normal_values_avx512(draws, out.data() + done, values);
    } else {
      normal_values(draws, out.data() + done, values);
    }
#else
    normal_values(draws, out.data() + done, values);
#endif
    done += values;
  }
}

template <class Engine>
std::vector<float> standard_normals_of(Engine& rng, size_t count) {
  std::vector<float> out;
  standard_normals_into(rng, count, out);
  return out;
}

}  // namespace

Mt64::Mt64(uint64_t seed) {
  // std::mersenne_twister_engine::seed(value), mt19937_64's constants.
  state_[0] = seed;
  for (size_t i = 1; i < kStateWords; ++i) {
    state_[i] = 6364136223846793005ULL * (state_[i - 1] ^ (state_[i - 1] >> 62)) + i;
  }
}

void Mt64::generate(uint64_t* out, size_t n) {
  while (n > 0) {
    if (next_ == kStateWords) refill();
    const size_t take = std::min(n, kStateWords - next_);
    std::memcpy(out, out_ + next_, take * sizeof(uint64_t));
    next_ += take;
    out += take;
    n -= take;
  }
}

void Mt64::refill() {
#if defined(__x86_64__)
  static const bool avx512 = __builtin_cpu_supports("avx512f") != 0;
  if (avx512) {
    mt_refill_avx512(state_, out_);
    next_ = 0;
    return;
  }
#endif
  mt_refill_portable(state_, out_);
  next_ = 0;
}

void standard_normal_pair(uint64_t draw, float* pair) {
  using namespace normal_pair;
  const uint32_t hi = static_cast<uint32_t>(draw >> 32), lo = static_cast<uint32_t>(draw);
  // The radius: sqrt(-2 ln u), u = hi 2^-32 + 2^-33 in (0, 1]; ln u = e ln 2 + ln m with m in
  // (sqrt(1/2), sqrt(2)], ln m = 2 atanh(s), s = (m - 1) / (m + 1).
  const float u = static_cast<float>(hi) * 0x1p-32f + 0x1p-33f;
  uint32_t bits = 0;
  std::memcpy(&bits, &u, sizeof bits);
  int32_t e = static_cast<int32_t>(bits >> 23) - 127;
  uint32_t mbits = (bits & 0x7fffffu) | 0x3f800000u;
  if (mbits > kSqrt2Bits) {
    mbits -= 0x00800000u;
    e += 1;
  }
  float m = 0.0f;
  std::memcpy(&m, &mbits, sizeof m);
  const float s = (m - 1.0f) / (m + 1.0f);
  const float z = s * s;
  float q = kLog7 + z * kLog9;
  q = kLog5 + z * q;
  q = kLog3 + z * q;
  q = z * q;
  const float ln_m = (s + s * q) * 2.0f;
  const float fe = static_cast<float>(-e);
  const float neg_ln = fe * kLn2High + (fe * kLn2Low - ln_m);
  const float r = std::sqrt(neg_ln * 2.0f);
  // The angle: theta = t pi / 4 with t the low 24 bits 2^-24, then (cos, sin) swapped by bit
  // 29, the cosine's sign flipped by bit 30, the sine's by bit 31.
  const float t = static_cast<float>(static_cast<int32_t>(lo & 0xffffffu)) * 0x1p-24f;
  const float th = t * kQuarterPi;
  const float w = th * th;
  float c = kCos8 + w * kCos10;
  c = kCos6 + w * c;
  c = kCos4 + w * c;
  c = kCos2 + w * c;
  c = 1.0f + w * c;
  float sn = kSin7 + w * kSin9;
  sn = kSin5 + w * sn;
  sn = kSin3 + w * sn;
  sn = th + th * (w * sn);
  if (lo & (1u << 29)) std::swap(c, sn);
  if (lo & (1u << 30)) c = -c;
  if (lo & (1u << 31)) sn = -sn;
  pair[0] = r * c;
  pair[1] = r * sn;
}

std::vector<float> standard_normals(std::mt19937_64& rng, size_t count) {
  return standard_normals_of(rng, count);
}

std::vector<float> standard_normals(Mt64& rng, size_t count) {
  return standard_normals_of(rng, count);
}

void check_layer_values(const LayerSpec& layer, uint64_t max_bytes) {
  const LayerSize size = layer_size(layer);
  if (size.group_bytes > static_cast<long double>(max_bytes)) {
    std::ostringstream s;
    s << "layer '" << layer.name << "' needs " << static_cast<uint64_t>(size.group_bytes)
      << " bytes of DRAM per group, more than the " << max_bytes << " the architecture has";
    throw ConfigError(s.str());
  }
  if (size.input > static_cast<long double>(max_bytes)) {
    std::ostringstream s;
    s << "layer '" << layer.name << "' has an input feature map of "
      << static_cast<uint64_t>(size.input) << " values, more than the " << max_bytes
      << " bytes of DRAM the architecture has";
    throw ConfigError(s.str());
  }
}

namespace {
// The values make_layer_values draws for a layer that passed its check: the input's, and in
// all (the input, then every group's weights unless the layer has its own).
struct ValueCounts {
  size_t input = 0;
  size_t draws = 0;
};
ValueCounts value_counts(const LayerSpec& layer) {
  ValueCounts c;
  c.input = layer.is_conv ? layer.channels * layer.ifmap_h * layer.ifmap_w
                          : layer.gemm_m() * layer.gemm_k();
  c.draws = c.input +
            (layer.weights.empty() ? layer.group_count() * layer.gemm_n() * layer.gemm_k() : 0);
  return c;
}
}  // namespace

LayerValues reserved_layer_values(const std::vector<LayerSpec>& layers, uint64_t max_bytes) {
  ValueCounts largest;
  for (const LayerSpec& l : layers) {
    try {
      check_layer_values(l, max_bytes);  // a refused layer's sizes may not be representable
    } catch (const std::exception&) {
      continue;
    }
    const ValueCounts c = value_counts(l);
    largest.input = std::max(largest.input, c.input);
    largest.draws = std::max(largest.draws, c.draws);
  }
  LayerValues v;
  try {
    v.input.reserve(largest.input);
    v.weights.emplace_back().reserve(largest.draws);
  } catch (const std::bad_alloc&) {
    return LayerValues();
  }
  return v;
}

LayerValues make_layer_values(const LayerSpec& layer, uint64_t seed, uint64_t max_bytes) {
  return make_layer_values(layer, seed, max_bytes, LayerValues());
}

LayerValues make_layer_values(const LayerSpec& layer, uint64_t seed, uint64_t max_bytes,
                              LayerValues reuse) {
  check_layer_values(layer, max_bytes);
  const uint64_t n = layer.gemm_n(), k = layer.gemm_k();
  Mt64 rng(seed);  // std::mt19937_64's draws, made faster
  LayerValues values;
  // The draws' buffer (it becomes the first group's weights) and the input's take the memory
  // of the values given back, every element written below.
  std::vector<float> normals;
  if (!reuse.weights.empty()) normals = std::move(reuse.weights[0]);
  values.input = std::move(reuse.input);

  // The input: a feature map (C x H x W) for a convolution, an M x K matrix for a GEMM.
  const ValueCounts counts = value_counts(layer);
  std::vector<float>& input = values.input;
  input.resize(counts.input);
  // One stream of N(0, 1) draws: the input's values, then each group's weights.
  standard_normals_into(rng, counts.draws, normals);
  for (size_t i = 0; i < input.size(); ++i) input[i] = std::max(0.0f, normals[i]);
  if (layer.is_conv && (layer.pad_h > 0 || layer.pad_w > 0)) {
    for (uint64_t c = 0; c < layer.channels; ++c) {
      for (uint64_t y = 0; y < layer.ifmap_h; ++y) {
        for (uint64_t x = 0; x < layer.ifmap_w; ++x) {
          const bool border = y < layer.pad_h || y >= layer.ifmap_h - layer.pad_h ||
                              x < layer.pad_w || x >= layer.ifmap_w - layer.pad_w;
          if (border) input[(c * layer.ifmap_h + y) * layer.ifmap_w + x] = 0.0f;
        }
      }
    }
  }
  // Then each group's weights, in this order from the one generator (the draws of one format
  // and of the other are the same values).
  if (layer.weights.empty()) {
    const float sigma = std::sqrt(2.0f / static_cast<float>(k));
    values.weights.resize(layer.group_count());
    size_t next = input.size();
    for (size_t g = 1; g < values.weights.size(); ++g) {
      std::vector<float>& w = values.weights[g];
      if (g < reuse.weights.size()) w = std::move(reuse.weights[g]);
      w.resize(n * k);
      for (size_t i = 0; i < n * k; ++i) w[i] = sigma * normals[next + g * n * k + i];
    }
    // The first group's in the draws' own buffer, moved down over the input's.
    for (size_t i = 0; i < n * k; ++i) normals[i] = sigma * normals[next + i];
    normals.resize(n * k);
    values.weights[0] = std::move(normals);
  }
  return values;
}

std::vector<arch::GemmLayer> make_layer_data(const LayerSpec& layer, const LayerValues& values,
                                             const NumberFormat& format, Im2col lowering) {
  const uint64_t m = layer.gemm_m(), n = layer.gemm_n(), k = layer.gemm_k();
  const std::vector<float>& input = values.input;
  std::vector<arch::GemmLayer> groups;
  // std::max from 0: a float >= +0 orders as its bits, and a negative one (sign bit set) is
  // below 0 as an int32, so the integer maximum is the same float (vectorized; a float max chain
  // waits on every element), unless it is a NaN, which the chain does not take.
  const int32_t input_top = largest_bits(input.data(), input.size());
  float input_max = 0.0f;
  if (input_top > 0x7f800000) {
    for (float v : input) input_max = std::max(input_max, v);
  } else {
    std::memcpy(&input_max, &input_top, sizeof input_max);
  }
  const int a_exp = max_exponent(input_max);
  // (15 bytes more: detail::transpose_bytes reads them past the last channel's plane, below.)
  std::vector<Code> input_codes(input.size() + 15);
  std::visit(
      [&](const auto& f) {
        // lbfp::encode by table, bit for bit
        shared_encoder(f, a_exp)->encode_all(input.data(), input_codes.data(), input.size());
      },
      format);

  for (uint64_t g = 0; g < layer.group_count(); ++g) {
    arch::GemmLayer gl;
    gl.name = layer.group_count() > 1 ? layer.name + "/g" + std::to_string(g) : layer.name;
    gl.m = m;
    gl.n = n;
    gl.k = k;
    gl.a_exponent = a_exp;
    // The rows whose exact outputs calibrate the output exponent (below).
    std::vector<uint64_t> sampled;
    for (uint64_t i = 0; i < m; i += std::max<uint64_t>(1, m / 64)) sampled.push_back(i);
    const bool on_chip = layer.is_conv && lowering == Im2col::kChip;
    std::vector<Code> sampled_rows;  // on chip: only the sampled rows of the im2col operand
    if (on_chip) {
      // im2col's rows (y, x), columns (c, ky, kx) of this group's channels, as im2col makes them.
      const Conv2dShape shape = layer.conv_shape();
      const uint64_t cg = layer.channels / layer.groups;
      const uint64_t ow = layer.out_w();
      sampled_rows.resize(sampled.size() * k);
      Code* out = sampled_rows.data();
      for (uint64_t i : sampled) {
        for (uint64_t c = 0; c < cg; ++c) {
          for (uint64_t ky = 0; ky < layer.filter_h; ++ky) {
            for (uint64_t kx = 0; kx < layer.filter_w; ++kx) {
              const size_t at =
                  conv2d_input_index(shape, 0, g * cg + c, i / ow, i % ow, ky, kx);
              *out++ = at == kConvPadding ? Code{} : input_codes[at];
            }
          }
        }
      }
    } else if (layer.is_conv) {
      // im2col: row (y, x), column (c, ky, kx) of this group's channels.
      gl.a.resize(m * k);
      im2col(layer.conv_shape(), input_codes.data(), 0, g, gl.a.data(), k, 1);
    } else {
      gl.a.assign(input_codes.begin(), input_codes.begin() + static_cast<std::ptrdiff_t>(m * k));
    }
    // Weights: one row of K per output channel, the model's or He-normal; exponents per
    // channel by max calibration.
    const float* w = nullptr;  // n x k, read in place
    if (!layer.weights.empty()) {
      w = layer.weights.data() + g * n * k;
      if (!layer.bias.empty()) {
        gl.bias.assign(layer.bias.begin() + static_cast<std::ptrdiff_t>(g * n),
                       layer.bias.begin() + static_cast<std::ptrdiff_t>((g + 1) * n));
      }
    } else {
      w = values.weights[g].data();
    }
    // block_abs_max per output channel (row of K), a row at a time; a NaN goes to
    // block_abs_max itself for its error naming the element.
    // |v| orders as the bits of v with the sign cleared (a NaN above +inf), so a row's largest
    // |v| is an integer maximum, which the compiler vectorizes (a float max chain, in order,
    // waited on every element): the same float as std::max over fabs when no v is NaN.
    bool nan = false;
    for (uint64_t j = 0; j < n; ++j) {
      const uint32_t top = largest_magnitude_bits(w + j * k, k);
      nan = nan || top > 0x7f800000u;
      float amax = 0.0f;
      std::memcpy(&amax, &top, sizeof amax);
      gl.w_exponents.push_back(nan ? 0 : max_exponent(amax));
    }
    if (nan) {
      block_abs_max(std::vector<float>(w, w + n * k),
                    BlockMap({static_cast<int64_t>(n), static_cast<int64_t>(k)},
                             Blocking::per_channel(0)));
    }
    gl.w.resize(n * k);
    std::visit(
        [&](const auto& f) {
          std::map<int, std::shared_ptr<const FloatEncoder<std::decay_t<decltype(f)>>>> encoders;
          for (uint64_t j = 0; j < n; ++j) {
            const int e = gl.w_exponents[j];
            auto it = encoders.find(e);
            if (it == encoders.end()) it = encoders.emplace(e, shared_encoder(f, e)).first;
            it->second->encode_all(w + j * k, gl.w.data() + j * k, k);
          }
        },
        format);
    // Output exponent: max calibration over the exact outputs of a sample of rows, from
    // per-exponent tables of the code values.
    auto value_table = [&](int e) {
      std::vector<double> t(256, 0.0);
      for (int c = 0; c < std::visit([](const auto& f) { return f.code_count(); }, format); ++c) {
        t[static_cast<size_t>(c)] = std::visit(
            [&](const auto& f) {
              if constexpr (std::is_same_v<std::decay_t<decltype(f)>, BfpFormat>) {
                if (c == (1 << (f.width() - 1))) return 0.0;  // not a BFP code
              }
              return decode(f, static_cast<Code>(c), e);
            },
            format);
      }
      return t;
    };
    // Each output's sum in k order, then its bias (the largest of these picks the exponent).
    std::vector<const Code*> rows;
    for (size_t r = 0; r < sampled.size(); ++r) {
      rows.push_back(on_chip ? sampled_rows.data() + r * k : gl.a.data() + sampled[r] * k);
    }
    const auto* bfp = std::get_if<BfpFormat>(&format);
    double amax = 0.0;
    if (bfp != nullptr && k < (uint64_t{1} << 38)) {
      amax = largest_sampled_output_bfp(*bfp, rows, gl, n, k);
    } else {
      const std::vector<double> a_values = value_table(a_exp);
      std::map<int, std::vector<double>> w_values;
      for (int e : gl.w_exponents) {
        if (w_values.count(e) == 0) w_values[e] = value_table(e);
      }
      std::vector<const double*> w_tables(n);
      for (uint64_t j = 0; j < n; ++j) w_tables[j] = w_values[gl.w_exponents[j]].data();
      std::optional<double> pruned;
#if defined(__x86_64__)
      static const bool avx512 = __builtin_cpu_supports("avx512f") != 0;
      bool in_range = avx512 && k <= (uint64_t{1} << 20) && !rows.empty() &&
                      scaled_values_in_float_range(a_values.data(), a_exp);
      for (const auto& [e, table] : w_values) {
        in_range = in_range && scaled_values_in_float_range(table.data(), e);
      }
      if (in_range) {
        pruned = largest_sampled_output_pruned(a_values.data(), w_tables.data(), gl.w.data(), n,
                                               k, rows, gl.bias.empty() ? nullptr
                                                                        : gl.bias.data(),
                                               a_exp, gl.w_exponents);
      }
#endif
      amax = pruned ? *pruned
                    : largest_sampled_output(a_values.data(), w_tables.data(), gl.w.data(), n, k,
                                             rows, gl.bias.empty() ? nullptr : gl.bias.data());
    }
    gl.out_exponent = max_exponent(amax);
    gl.relu = true;
    if (on_chip) {
      // The accelerator gets this group's channels of the input feature map, NHWC.
      const uint64_t cg = layer.channels / layer.groups;
      arch::ConvGeometry geometry;
      geometry.in_h = layer.ifmap_h;
      geometry.in_w = layer.ifmap_w;
      geometry.channels = cg;
      geometry.filter_h = layer.filter_h;
      geometry.filter_w = layer.filter_w;
      geometry.stride = layer.stride;
      gl.conv = geometry;
      gl.a.assign(geometry.ifmap_bytes(), 0);
      const uint64_t hw = layer.ifmap_h * layer.ifmap_w;
      detail::transpose_bytes(input_codes.data() + g * cg * hw, hw, cg, hw, gl.a.data(), cg);
    }
    groups.push_back(std::move(gl));
  }
  return groups;
}

// The fields below are set as make_layer_data sets them (a test compares the two).
std::vector<arch::GemmLayer> make_layer_shapes(const LayerSpec& layer, Im2col lowering) {
  std::vector<arch::GemmLayer> groups;
  for (uint64_t g = 0; g < layer.group_count(); ++g) {
    arch::GemmLayer gl;
    gl.name = layer.group_count() > 1 ? layer.name + "/g" + std::to_string(g) : layer.name;
    gl.m = layer.gemm_m();
    gl.n = layer.gemm_n();
    gl.k = layer.gemm_k();
    if (!layer.weights.empty() && !layer.bias.empty()) {
      gl.bias.assign(layer.bias.begin() + static_cast<std::ptrdiff_t>(g * gl.n),
                     layer.bias.begin() + static_cast<std::ptrdiff_t>((g + 1) * gl.n));
    }
    gl.w_exponents.assign(gl.n, 0);
    gl.relu = true;
    if (layer.is_conv && lowering == Im2col::kChip) {
      arch::ConvGeometry geometry;
      geometry.in_h = layer.ifmap_h;
      geometry.in_w = layer.ifmap_w;
      geometry.channels = layer.channels / layer.groups;
      geometry.filter_h = layer.filter_h;
      geometry.filter_w = layer.filter_w;
      geometry.stride = layer.stride;
      gl.conv = geometry;
    }
    groups.push_back(std::move(gl));
  }
  return groups;
}

std::vector<arch::GemmLayer> make_layer_data(const LayerSpec& layer,
                                             const NumberFormat& format, uint64_t seed,
                                             uint64_t max_bytes, Im2col lowering) {
  return make_layer_data(layer, make_layer_values(layer, seed, max_bytes), format, lowering);
}

}  // namespace lbfp
