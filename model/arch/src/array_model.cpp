#include "lbfp/arch/array_model.h"

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <string>
#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include "lbfp/gemm.h"

namespace lbfp::arch {

std::vector<uint8_t> zero_code_table(const NumberFormat& format) {
  std::vector<uint8_t> zero(size_t{1} << code_bits(format));
  for (size_t c = 0; c < zero.size(); ++c) zero[c] = is_zero_code(format, static_cast<Code>(c)) ? 1 : 0;
  return zero;
}

Code zero_code_mask(const NumberFormat& format) {
  // A code is zero exactly when its bits under a mask are (LBFP: the magnitude bits; BFP: all of
  // them): the mask is every bit on which the zero codes agree, checked against each code.
  const std::vector<uint8_t> zero = zero_code_table(format);
  unsigned varying = 0;  // bits that differ among the zero codes (LBFP: the sign)
  for (size_t c = 0; c < zero.size(); ++c) {
    if (zero[c]) varying |= static_cast<unsigned>(c);
  }
  const auto mask = static_cast<Code>((zero.size() - 1) & ~varying);
  for (size_t c = 0; c < zero.size(); ++c) {
    if ((zero[c] != 0) != ((c & mask) == 0)) {
      throw std::logic_error("zero_code_mask: the zero codes are not a mask pattern");
    }
  }
  return mask;
}

namespace {

// Codes among n consecutive ones with a bit under the mask set: sixteen at a time with SSE2
// (the zero bytes of code & mask, counted by a sum of absolute differences), then eight at a
// time: a byte of (x & 0x7f) + 0x7f reaches bit 7 exactly when its low seven bits are not all
// zero.
uint32_t count_nonzero(const Code* p, size_t n, Code mask) {
  constexpr uint64_t kLow7 = 0x7f7f7f7f7f7f7f7full;
  constexpr uint64_t kHigh = 0x8080808080808080ull;
  const uint64_t masks = 0x0101010101010101ull * mask;
  uint32_t count = 0;
  size_t i = 0;
#if defined(__SSE2__) && defined(__x86_64__)
  if (n >= 16) {
    const __m128i m = _mm_set1_epi8(static_cast<char>(mask));
    const __m128i zero = _mm_setzero_si128(), one = _mm_set1_epi8(1);
    __m128i zeros = zero;  // per 64-bit half: the zero codes seen
    for (; i + 16 <= n; i += 16) {
      const __m128i v = _mm_and_si128(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p + i)), m);
      zeros = _mm_add_epi64(zeros, _mm_sad_epu8(_mm_and_si128(_mm_cmpeq_epi8(v, zero), one), zero));
    }
    const auto low = static_cast<uint64_t>(_mm_cvtsi128_si64(zeros));
    const auto high = static_cast<uint64_t>(_mm_cvtsi128_si64(_mm_unpackhi_epi64(zeros, zeros)));
    count = static_cast<uint32_t>(i - low - high);
  }
#endif
  for (; i + 8 <= n; i += 8) {
    uint64_t w = 0;
    std::memcpy(&w, p + i, 8);
    w &= masks;
    const uint64_t flags = ((((w & kLow7) + kLow7) | w) & kHigh) >> 7;  // 0 or 1 per byte
    count += static_cast<uint32_t>((flags * 0x0101010101010101ull) >> 56);  // their sum
  }
  for (; i < n; ++i) count += (p[i] & mask) != 0 ? 1u : 0u;
  return count;
}

#if defined(__x86_64__)
// AVX-512: 64 codes at a time, a masked load for the last ones (its lanes past the end are
// neither read nor counted). A's counts per column k are summed in bytes over at most 255 rows,
// then widened and added to the 32-bit counts.
__attribute__((target("avx512f,avx512bw"))) void nonzero_a_avx512(Code mask, const TileJob& job,
                                                                   uint32_t* counts) {
  const __m512i m = _mm512_set1_epi8(static_cast<char>(mask));
  const __m512i one = _mm512_set1_epi8(1);
  const auto k = static_cast<size_t>(job.k);
  for (size_t k0 = 0; k0 < k; k0 += 64) {
    const size_t lanes = std::min<size_t>(64, k - k0);
    const __mmask64 in = lanes == 64 ? ~__mmask64{0} : (__mmask64{1} << lanes) - 1;
    for (int r0 = 0; r0 < job.rows; r0 += 255) {
      __m512i sum = _mm512_setzero_si512();
      for (int r = r0; r < std::min(job.rows, r0 + 255); ++r) {
        const __m512i v =
            _mm512_maskz_loadu_epi8(in, job.a + static_cast<size_t>(r) * job.lda + k0);
        sum = _mm512_mask_add_epi8(sum, _mm512_test_epi8_mask(v, m), sum, one);
      }
      alignas(64) uint8_t bytes[64];
      _mm512_store_si512(bytes, sum);
      for (size_t q = 0; q * 16 < lanes; ++q) {
        const auto part = static_cast<__mmask16>(in >> (16 * q));
        uint32_t* to = counts + k0 + 16 * q;
        const __m512i added = _mm512_add_epi32(
            _mm512_maskz_loadu_epi32(part, to),
            _mm512_maskz_cvtepu8_epi32(
                part, _mm_load_si128(reinterpret_cast<const __m128i*>(bytes + 16 * q))));
        _mm512_mask_storeu_epi32(to, part, added);
      }
    }
  }
}

__attribute__((target("avx512f,avx512bw,popcnt"))) void nonzero_b_avx512(Code mask,
                                                                          const TileJob& job,
                                                                          uint32_t* counts) {
  const __m512i m = _mm512_set1_epi8(static_cast<char>(mask));
  const auto cols = static_cast<size_t>(job.cols);
  for (size_t k = 0; k < static_cast<size_t>(job.k); ++k) {
    const Code* row = job.b + k * job.ldb;
    uint64_t count = 0;
    for (size_t c0 = 0; c0 < cols; c0 += 64) {
      const size_t lanes = std::min<size_t>(64, cols - c0);
      const __mmask64 in = lanes == 64 ? ~__mmask64{0} : (__mmask64{1} << lanes) - 1;
      const __m512i v = _mm512_maskz_loadu_epi8(in, row + c0);
      count += static_cast<uint64_t>(__builtin_popcountll(_mm512_test_epi8_mask(v, m)));
    }
    counts[k] = static_cast<uint32_t>(count);
  }
}

// The sum of a[k] * b[k] over k < n in 64 bits: eight products at a time (vpmuludq on the
// zero-extended counts).
__attribute__((target("avx512f"))) uint64_t dot_counts_avx512(const uint32_t* a,
                                                              const uint32_t* b, size_t n) {
  __m512i sum = _mm512_setzero_si512();
  size_t k = 0;
  for (; k + 8 <= n; k += 8) {
    // (The zero-masked forms: GCC 12 warns that the plain ones read an undefined register.)
    const __m512i x = _mm512_maskz_cvtepu32_epi64(
        0xff, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(a + k)));
    const __m512i y = _mm512_maskz_cvtepu32_epi64(
        0xff, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b + k)));
    sum = _mm512_add_epi64(sum, _mm512_maskz_mul_epu32(0xff, x, y));
  }
  alignas(64) uint64_t lanes[8];
  _mm512_store_si512(lanes, sum);
  uint64_t total = 0;
  for (uint64_t v : lanes) total += v;
  for (; k < n; ++k) total += uint64_t{a[k]} * b[k];
  return total;
}

bool have_avx512bw() {
  static const bool avx512 =
      __builtin_cpu_supports("avx512f") != 0 && __builtin_cpu_supports("avx512bw") != 0;
  return avx512;
}
#endif

}  // namespace

std::vector<uint32_t> nonzero_a_counts(Code mask, const TileJob& job) {
  std::vector<uint32_t> counts(static_cast<size_t>(job.k), 0);
#if defined(__x86_64__)
  if (have_avx512bw()) {
    nonzero_a_avx512(mask, job, counts.data());
    return counts;
  }
#endif
  for (int r = 0; r < job.rows; ++r) {
    const Code* row = job.a + static_cast<size_t>(r) * job.lda;
    for (size_t k = 0; k < counts.size(); ++k) counts[k] += (row[k] & mask) != 0 ? 1u : 0u;
  }
  return counts;
}

std::vector<uint32_t> nonzero_b_counts(Code mask, const TileJob& job) {
  std::vector<uint32_t> counts(static_cast<size_t>(job.k));
#if defined(__x86_64__)
  if (have_avx512bw()) {
    nonzero_b_avx512(mask, job, counts.data());
    return counts;
  }
#endif
  for (size_t k = 0; k < counts.size(); ++k) {
    counts[k] = count_nonzero(job.b + k * job.ldb, static_cast<size_t>(job.cols), mask);
  }
  return counts;
}

ArrayActivity tile_activity(const TileJob& job, const std::vector<uint32_t>& nonzero_a,
                            const std::vector<uint32_t>& nonzero_b) {
  // Every real output takes K steps; a step is gateable when either code is zero, so the
  // ungateable ones in step k are (non-zero A codes in column k) x (non-zero B codes in row k).
  ArrayActivity activity;
  activity.macs = static_cast<uint64_t>(job.rows) * static_cast<uint64_t>(job.cols) *
                  static_cast<uint64_t>(job.k);
  uint64_t busy = 0;
  const auto k_steps = static_cast<size_t>(job.k);
#if defined(__x86_64__)
  if (have_avx512bw()) {
    busy = dot_counts_avx512(nonzero_a.data(), nonzero_b.data(), k_steps);
  } else
#endif
  {
    for (size_t k = 0; k < k_steps; ++k) busy += uint64_t{nonzero_a[k]} * nonzero_b[k];
  }
  activity.zero_macs = activity.macs - busy;
  activity.requantizations =
      job.requantize ? static_cast<uint64_t>(job.rows) * static_cast<uint64_t>(job.cols) : 0;
  return activity;
}

ArrayActivity tile_activity(Code mask, const TileJob& job) {
  return tile_activity(job, nonzero_a_counts(mask, job), nonzero_b_counts(mask, job));
}

ArrayModel::ArrayModel(const ArrayGeometry& geometry, const NumberFormat& format)
    : geometry_(geometry), format_(format) {
  if (geometry.rows < 1 || geometry.cols < 1 || geometry.pipe_stages < 0) {
    throw std::invalid_argument("array geometry " + std::to_string(geometry.rows) + "x" +
                                std::to_string(geometry.cols) + " with " +
                                std::to_string(geometry.pipe_stages) +
                                " pipeline stages is not valid");
  }
  // The fast kernels' tables of the format (the tile mode's products), built now rather than
  // at the first tile: once per format and process.
  std::visit([](const auto& f) { prepare_kernels(f); }, format);
  const int bits = code_bits(format);
  const int count = 1 << bits;
  const int acc = acc_bits(format);
  acc_.assign(static_cast<size_t>(geometry.rows) * static_cast<size_t>(geometry.cols),
              Accumulator(acc));
  zero_ = zero_code_table(format);
  zero_mask_ = zero_code_mask(format);
  codes_ = static_cast<size_t>(count);
}

void ArrayModel::build_products() {
  // Every product of two codes, from the golden multiply, as an accumulator term (the cycle
  // mode's PEs; built at the first cycle).
  const int bits = code_bits(format_);
  const int count = 1 << bits;
  const int acc = acc_bits(format_);
  product_.resize(static_cast<size_t>(count) * static_cast<size_t>(count));
  for (int a = 0; a < count; ++a) {
    for (int b = 0; b < count; ++b) {
      int64_t term = 0;
      if (const auto* l = std::get_if<LbfpFormat>(&format_)) {
        term = accumulator_term(multiply(*l, static_cast<Code>(a), static_cast<Code>(b)), acc);
      } else {
        const auto& bf = std::get<BfpFormat>(format_);
        const bool valid = a != (1 << (bits - 1)) && b != (1 << (bits - 1));
        term = valid ? multiply(bf, static_cast<Code>(a), static_cast<Code>(b)) : 0;
      }
      product_[static_cast<size_t>(a) * static_cast<size_t>(count) + static_cast<size_t>(b)] =
          term;
    }
  }
}

void ArrayModel::start(const TileJob& job) {
  if (busy_) throw std::logic_error("ArrayModel::start: the array is busy");
  const Dataflow d = geometry_.dataflow;
  const bool fits =
      job.rows >= 1 && job.cols >= 1 &&
      (d == Dataflow::kOutputStationary
           ? job.rows <= geometry_.rows && job.cols <= geometry_.cols
       : d == Dataflow::kWeightStationary ? job.k <= geometry_.rows && job.cols <= geometry_.cols
                                          : job.k <= geometry_.rows && job.rows <= geometry_.cols);
  if (job.k < 1) throw std::invalid_argument("a tile needs at least one reduction step");
  if (!fits) {
    throw std::invalid_argument(
        "tile of " + std::to_string(job.rows) + "x" + std::to_string(job.cols) + " outputs and " +
        std::to_string(job.k) + " reduction steps does not fit a " +
        std::to_string(geometry_.rows) + "x" + std::to_string(geometry_.cols) + " " +
        dataflow_name(d) + " array" +
        (d == Dataflow::kOutputStationary   ? ""
         : d == Dataflow::kWeightStationary ? " (K at most its rows, cols at most its cols)"
                                            : " (K at most its rows, rows at most its cols)"));
  }
  if (job.b_exponents == nullptr) throw std::invalid_argument("a tile needs its weight exponents");
  if (job.init_acc != nullptr) {
    if (job.bias != nullptr) {
      throw std::invalid_argument("a tile resumes partial sums or starts from a bias, not both");
    }
    const Accumulator range(acc_bits(format_));
    for (int i = 0; i < job.rows * job.cols; ++i) {
      const int64_t v = job.init_acc[i];
      if (v < range.min_value() || v > range.max_value()) {
        throw std::invalid_argument("partial sum " + std::to_string(v) + " of output " +
                                    std::to_string(i) + " is outside the accumulator's range");
      }
    }
  }
  job_ = job;
  scales_.resize(static_cast<size_t>(job.cols));
  for (int c = 0; c < job.cols; ++c) {
    scales_[static_cast<size_t>(c)] = product_scale(format_, job.a_exponent, job.b_exponents[c]);
  }
  // The accumulators and the results are set up by the first clock(); compute_whole_tile
  // writes every result itself, and leaves the sums out where only the codes are wanted.
  accumulators_ready_ = false;
  result_.rows = job.rows;
  result_.cols = job.cols;
  const auto n = static_cast<size_t>(job.rows) * static_cast<size_t>(job.cols);
  // A fold before its chain's last: compute_whole_tile gives no results (the cycle mode's
  // first clock sizes them).
  const bool no_results = job.fold_tag != 0 && job.fold_k0 + job.k < job.chunk_k;
  result_.overflow.resize(no_results ? 0 : n);
  result_.codes.resize(no_results ? 0 : n);
  if (!no_results && (job.keep_sums || !job.requantize)) {
    result_.acc.resize(n);
    result_.overflow_steps.resize(n);
  } else {  // (a vector grown from empty would be zeroed first)
    result_.acc.clear();
    result_.overflow_steps.clear();
  }
  busy_ = true;
  cycle_ = 0;
  total_cycles_ = tile_cycles(tile_steps(job));
  output_row_ = -1;
}

inline void ArrayModel::mac(int r, int c, int64_t k) {
  const Code a = job_.a[static_cast<size_t>(r) * job_.lda + static_cast<size_t>(k)];
  const Code b = job_.b[static_cast<size_t>(k) * job_.ldb + static_cast<size_t>(c)];
  ++activity_.macs;
  activity_.zero_macs += zero_[a] | zero_[b];
  acc_[static_cast<size_t>(r * geometry_.cols + c)].add(product_[a * codes_ + b]);
}

bool ArrayModel::resumed_overflow(size_t i) const {
  return job_.init_acc != nullptr && job_.init_overflow != nullptr && job_.init_overflow[i] != 0;
}

void ArrayModel::drain_output(size_t i, int c, const Accumulator& a) {
  result_.acc[i] = a.value();
  result_.overflow_steps[i] = a.overflow_count();
  result_.overflow[i] = a.overflow_count() > 0 || resumed_overflow(i) ? 1 : 0;
  if (!job_.requantize) return;
  result_.codes[i] = std::visit(
      [&](const auto& f) {
        return requantize(f, a.value(), scales_[static_cast<size_t>(c)], job_.out_exponent,
                          job_.relu);
      },
      format_);
  ++activity_.requantizations;
}

void ArrayModel::drain_row(int r) {
  output_row_ = r;
  if (r >= job_.rows) return;
  for (int c = 0; c < job_.cols; ++c) {
    drain_output(static_cast<size_t>(r * job_.cols + c), c,
                 acc_[static_cast<size_t>(r * geometry_.cols + c)]);
  }
}

void ArrayModel::drain_step(int64_t s) {
  // Weight-stationary: output row m = s; input-stationary: output column n = s.
  output_row_ = static_cast<int>(s);
  const auto cols = static_cast<size_t>(job_.cols);
  if (geometry_.dataflow == Dataflow::kWeightStationary) {
    for (int n = 0; n < job_.cols; ++n) {
      const size_t i = static_cast<size_t>(s) * cols + static_cast<size_t>(n);
      drain_output(i, n, acc_[i]);
    }
  } else {
    for (int m = 0; m < job_.rows; ++m) {
      const size_t i = static_cast<size_t>(m) * cols + static_cast<size_t>(s);
      drain_output(i, static_cast<int>(s), acc_[i]);
    }
  }
}

void ArrayModel::reset_accumulators() {
  // Each real PE starts from its partial sum (a resumed K chunk) or its column's bias in
  // accumulator units (0 without a bias).
  const int acc = acc_bits(format_);
  std::vector<int64_t> initial(static_cast<size_t>(job_.cols), 0);
  if (job_.bias != nullptr) {
    for (int c = 0; c < job_.cols; ++c) {
      initial[static_cast<size_t>(c)] =
          bias_to_accumulator(acc, job_.bias[c], scales_[static_cast<size_t>(c)]);
    }
  }
  if (geometry_.dataflow != Dataflow::kOutputStationary) {
    // One accumulator per output: the start value fed at the north edge with its step.
    acc_.assign(static_cast<size_t>(job_.rows) * static_cast<size_t>(job_.cols), Accumulator(acc));
    for (int m = 0; m < job_.rows; ++m) {
      for (int n = 0; n < job_.cols; ++n) {
        const auto i = static_cast<size_t>(m * job_.cols + n);
        acc_[i] = Accumulator(
            acc, job_.init_acc != nullptr ? job_.init_acc[i] : initial[static_cast<size_t>(n)]);
      }
    }
    accumulators_ready_ = true;
    return;
  }
  acc_.assign(static_cast<size_t>(geometry_.rows) * static_cast<size_t>(geometry_.cols),
              Accumulator(acc));
  for (int r = 0; r < geometry_.rows; ++r) {
    for (int c = 0; c < geometry_.cols; ++c) {
      const bool real = r < job_.rows && c < job_.cols;
      int64_t init = real ? initial[static_cast<size_t>(c)] : 0;
      if (real && job_.init_acc != nullptr) init = job_.init_acc[r * job_.cols + c];
      acc_[static_cast<size_t>(r * geometry_.cols + c)] = Accumulator(acc, init);
    }
  }
  accumulators_ready_ = true;
}

void ArrayModel::clock_stationary() {
  // PE(r, c) adds the product of reduction index k = r to the partial sum of step
  // s = t - R - r - c passing through it (padding rows and columns carry zero codes and are
  // skipped). Weight-stationary: c is the output column n, s the output row m; input-stationary:
  // c is the output row m, s the output column n.
  const bool ws = geometry_.dataflow == Dataflow::kWeightStationary;
  const int64_t steps = ws ? job_.rows : job_.cols;
  const int lanes = ws ? job_.cols : job_.rows;  // real array columns
  for (int64_t r = 0; r < job_.k; ++r) {
    const int64_t base = cycle_ - geometry_.rows - r;  // s + c
    if (base < 0) break;
    const int64_t c_lo = std::max<int64_t>(0, base - (steps - 1));
    const int64_t c_hi = std::min<int64_t>(lanes - 1, base);
    for (int64_t c = c_lo; c <= c_hi; ++c) {
      const int64_t s = base - c;
      const int m = static_cast<int>(ws ? s : c);
      const int n = static_cast<int>(ws ? c : s);
      const Code a = job_.a[static_cast<size_t>(m) * job_.lda + static_cast<size_t>(r)];
      const Code b = job_.b[static_cast<size_t>(r) * job_.ldb + static_cast<size_t>(n)];
      ++activity_.macs;
      activity_.zero_macs += zero_[a] | zero_[b];
      acc_[static_cast<size_t>(m * job_.cols + n)].add(product_[a * codes_ + b]);
    }
  }
  // Step s leaves R + C + p cycles after it was taken (cycle R + s): the last `steps` cycles.
  const int64_t drain_start = total_cycles_ - steps;
  output_row_ = -1;
  if (cycle_ >= drain_start) drain_step(cycle_ - drain_start);
}

bool ArrayModel::clock() {
  if (!busy_) return false;
  if (product_.empty()) build_products();
  if (!accumulators_ready_) {
    reset_accumulators();
    const auto n = static_cast<size_t>(job_.rows) * static_cast<size_t>(job_.cols);
    result_.acc.assign(n, 0);
    result_.overflow.assign(n, 0);
    result_.overflow_steps.assign(n, 0);
    result_.codes.assign(n, 0);
  }
  if (geometry_.dataflow != Dataflow::kOutputStationary) {
    clock_stationary();
    ++cycle_;
    if (cycle_ == total_cycles_) busy_ = false;
    return busy_;
  }
  const int rows = geometry_.rows;
  // After the R preload cycles, the anti-diagonal band of PEs whose operands meet in this cycle:
  // k = t - R - r - c. Padding rows and columns multiply zero codes: their accumulators never
  // change, so they are skipped.
  for (int r = 0; r < job_.rows; ++r) {
    const int64_t base = cycle_ - rows - r;  // k + c
    if (base < 0) break;
    const int64_t c_lo = std::max<int64_t>(0, base - (job_.k - 1));
    const int64_t c_hi = std::min<int64_t>(job_.cols - 1, base);
    for (int64_t c = c_lo; c <= c_hi; ++c) mac(r, static_cast<int>(c), base - c);
  }
  // The rows leave top first in the last R cycles of the tile.
  const int64_t drain_start = total_cycles_ - rows;
  output_row_ = -1;
  if (cycle_ >= drain_start) drain_row(static_cast<int>(cycle_ - drain_start));
  ++cycle_;
  if (cycle_ == total_cycles_) busy_ = false;
  return busy_;
}

int64_t ArrayModel::run_to_completion() {
  const int64_t begin = cycle_;
  while (clock()) {
  }
  return cycle_ - begin;
}

void ArrayModel::compute_ahead(const GemmProblem& problem) {
  const size_t elements = problem.m * problem.n;
  if (elements > ahead_.capacity) {
    const size_t grown = std::max(elements, ahead_.capacity + ahead_.capacity / 2);
    ahead_.acc.reset(new int64_t[grown]);  // default-initialised: not zeroed
    ahead_.overflows.reset(new uint32_t[grown]);
    ahead_.capacity = grown;
  }
  // Both cores for a large call (the kernel keeps a small one on this thread); the sums do
  // not depend on the thread count. The per-output counts of saturating steps only where a
  // step saturated (rare: the call again, with them), so that the usual call neither writes
  // nor reads them.
  GemmOptions options;
  options.threads = 2;
  std::visit(
      [&](const auto& f) {
        const GemmStats stats =
            gemm_accumulate(f, problem, ahead_.acc.get(), problem.n, nullptr, options);
        ahead_.saturated = stats.overflows > 0;
        if (ahead_.saturated) {
          gemm_accumulate(f, problem, ahead_.acc.get(), problem.n, ahead_.overflows.get(),
                          options);
        }
      },
      format_);
  ahead_.coded = false;
  ahead_.scales.resize(problem.n);
  for (size_t c = 0; c < problem.n; ++c) {
    ahead_.scales[c] = product_scale(format_, problem.a_exponent, problem.b_exponents[c]);
  }
  ahead_.a = problem.a;
  ahead_.lda = problem.lda;
  ahead_.b = problem.b;
  ahead_.cols = static_cast<int64_t>(problem.n);
  ahead_.rows = static_cast<int64_t>(problem.m);
}

bool ArrayModel::fold_chain(size_t& first_row, size_t& offset, const uint8_t*& resumed_flags,
                            size_t& flags_ld) {
  FoldChain& c = chain_;
  const TileJob& j = job_;
  if (j.chunk_k < 1 || j.fold_k0 < 0 || j.fold_k0 + j.k > j.chunk_k) {
    throw std::logic_error("fold of " + std::to_string(j.k) + " steps at " +
                           std::to_string(j.fold_k0) + " is not inside its chunk of " +
                           std::to_string(j.chunk_k));
  }
  // The tile's first row and column at the chunk's first step.
  const uintptr_t a_at =
      reinterpret_cast<uintptr_t>(j.a) - static_cast<uintptr_t>(j.fold_k0);
  const uintptr_t b_at =
      reinterpret_cast<uintptr_t>(j.b) - static_cast<uintptr_t>(j.fold_k0) * j.ldb;
  GemmProblem& p = c.problem;
  if (j.fold_tag != c.tag) {
    if (j.fold_k0 != 0) {
      throw std::logic_error("a fold " + std::to_string(j.fold_k0) +
                             " steps into its chunk starts a fold chain");
    }
    c.tag = j.fold_tag;
    p = GemmProblem{};
    p.m = static_cast<size_t>(j.rows + j.lookahead_rows);
    p.n = static_cast<size_t>(j.cols + j.lookahead_cols);
    p.k = static_cast<size_t>(j.chunk_k);
    p.a = j.a;
    p.lda = j.lda;
    p.a_exponent = j.a_exponent;
    p.b = j.b;
    p.ldb = j.ldb;
    p.b_exponents = j.b_exponents;
    p.bias = j.bias;
    p.ld_initial = p.n;
    c.resumed = j.init_acc != nullptr;
    c.init_outputs = 0;
    c.computed = false;
    if (c.resumed) {
      c.init.resize(p.m * p.n);
      c.init_flags.resize(p.m * p.n);
    }
    p.initial_acc = c.resumed ? c.init.data() : nullptr;
  }
  const uintptr_t a0 = reinterpret_cast<uintptr_t>(p.a);
  const uintptr_t b0 = reinterpret_cast<uintptr_t>(p.b);
  const bool inside = j.lda == p.lda && j.ldb == p.ldb &&
                      static_cast<size_t>(j.chunk_k) == p.k && a_at >= a0 &&
                      (a_at - a0) % p.lda == 0 && (a_at - a0) / p.lda + j.rows <= p.m &&
                      b_at >= b0 && b_at - b0 + j.cols <= p.n;
  if (!inside) throw std::logic_error("a fold's tile lies outside its chain's region");
  first_row = (a_at - a0) / p.lda;
  offset = b_at - b0;
  const size_t stride = p.n;
  if (j.fold_k0 == 0 && c.resumed != (j.init_acc != nullptr)) {
    throw std::logic_error("the first fold's tiles of a chain disagree on resuming sums");
  }
  if (j.fold_k0 == 0 && c.resumed) {
    const auto cols = static_cast<size_t>(j.cols);
    for (size_t r = 0; r < static_cast<size_t>(j.rows); ++r) {
      const size_t to = (first_row + r) * stride + offset;
      std::copy(j.init_acc + r * cols, j.init_acc + (r + 1) * cols, c.init.data() + to);
      uint8_t* flags = c.init_flags.data() + to;
      if (j.init_overflow != nullptr) {
        std::copy(j.init_overflow + r * cols, j.init_overflow + (r + 1) * cols, flags);
      } else {
        std::fill(flags, flags + cols, uint8_t{0});
      }
    }
    c.init_outputs += static_cast<size_t>(j.rows) * cols;
  } else if (j.init_acc != nullptr) {
    throw std::logic_error("a fold after the first of its chain resumes sums");
  }
  if (static_cast<size_t>(j.fold_k0 + j.k) < p.k) return false;  // before the last: no sums
  if (!c.computed) {
    if (c.resumed && c.init_outputs != p.m * p.n) {
      throw std::logic_error("a fold chain's last fold comes before its region's first fold");
    }
    compute_ahead(p);
    ahead_.tag = 0;  // no other tile's (TileJob::reuse_tag)
    c.computed = true;
  }
  resumed_flags = c.resumed ? c.init_flags.data() + first_row * stride + offset : nullptr;
  flags_ld = stride;
  return true;
}

void ArrayModel::take_sums(size_t first_row, size_t offset, const uint8_t* resumed_flags,
                           size_t flags_ld) {
  const auto stride = static_cast<size_t>(ahead_.cols);
  // (Through local pointers: the stores through result_'s vectors could alias the loads of
  // the members, which kept the loop scalar with every pointer reloaded per output.)
  const auto cols = static_cast<size_t>(job_.cols);
  // The codes: the whole block computed ahead is requantized once (its rows are contiguous,
  // each output with its column's scale), and each tile takes its slice. Where only the codes
  // are wanted, the tile's sums are left out.
  const bool codes_only = !job_.keep_sums && job_.requantize;
  if (job_.requantize && !(ahead_.coded && ahead_.codes_exponent == job_.out_exponent &&
                           ahead_.codes_relu == job_.relu)) {
    const auto outputs = static_cast<size_t>(ahead_.rows) * stride;
    ahead_.codes.resize(outputs);
    // Row groups of about 4,096 outputs per call, with the scales repeated for each row.
    const size_t group = std::max<size_t>(1, 4096 / stride);
    tile_scales_.resize(std::min(group, static_cast<size_t>(ahead_.rows)) * stride);
    for (size_t i = 0; i < tile_scales_.size(); i += stride) {
      std::copy(ahead_.scales.begin(), ahead_.scales.end(),
                tile_scales_.begin() + static_cast<ptrdiff_t>(i));
    }
    for (size_t r0 = 0; r0 < static_cast<size_t>(ahead_.rows); r0 += group) {
      const size_t n = std::min(group, static_cast<size_t>(ahead_.rows) - r0) * stride;
      std::visit(
          [&](const auto& f) {
            requantize_row(f, ahead_.acc.get() + r0 * stride, tile_scales_.data(), n,
                           job_.out_exponent, job_.relu, ahead_.codes.data() + r0 * stride);
          },
          format_);
    }
    ahead_.coded = true;
    ahead_.codes_exponent = job_.out_exponent;
    ahead_.codes_relu = job_.relu;
  }
  if (codes_only) {  // start() left the sums out
    result_.acc.clear();
    result_.overflow_steps.resize(ahead_.saturated ? static_cast<size_t>(job_.rows) * cols : 0);
  }
  for (int r = 0; r < job_.rows; ++r) {
    const size_t from = (first_row + static_cast<size_t>(r)) * stride + offset;
    const auto to = static_cast<size_t>(r) * cols;
    const uint8_t* resumed =
        resumed_flags != nullptr ? resumed_flags + static_cast<size_t>(r) * flags_ld : nullptr;
    const int64_t* sums = ahead_.acc.get() + from;
    uint8_t* __restrict flags = result_.overflow.data() + to;  // (uint8_t aliases all)
    if (!codes_only) std::copy(sums, sums + cols, result_.acc.data() + to);
    if (ahead_.saturated) {
      const uint32_t* steps = ahead_.overflows.get() + from;
      uint64_t* acc_steps = result_.overflow_steps.data() + to;
      for (size_t c = 0; c < cols; ++c) acc_steps[c] = steps[c];
      for (size_t c = 0; c < cols; ++c) {
        flags[c] = steps[c] > 0 || (resumed != nullptr && resumed[c] != 0) ? 1 : 0;
      }
    } else {
      if (!codes_only) {
        std::fill(result_.overflow_steps.data() + to, result_.overflow_steps.data() + to + cols,
                  uint64_t{0});
      }
      for (size_t c = 0; c < cols; ++c) {
        flags[c] = resumed != nullptr && resumed[c] != 0 ? 1 : 0;
      }
    }
    if (job_.requantize) {
      const Code* codes = ahead_.codes.data() + from;
      std::copy(codes, codes + cols, result_.codes.data() + to);
    }
  }
  if (!job_.requantize) std::fill(result_.codes.begin(), result_.codes.end(), 0);
}

int64_t ArrayModel::compute_whole_tile() {
  if (!busy_) throw std::logic_error("ArrayModel::compute_whole_tile: no tile started");
  const auto cols = static_cast<size_t>(job_.cols);
  size_t first_row = 0;
  size_t offset = 0;
  const uint8_t* resumed_flags = nullptr;  // the resumed flags of the tile's first row
  size_t flags_ld = cols;
  bool sums = true;  // false: a fold before its chain's last, whose sums are not given
  if (job_.fold_tag != 0) {
    sums = fold_chain(first_row, offset, resumed_flags, flags_ld);
  } else {
    // The fast kernel forms the same saturated sums as the PEs (it proves per call where it
    // may reorder and recomputes the rest in order), bias first. With resident weights the
    // tiles to the right share A, so one call computes them all and later tiles take their
    // slice. A resumed chunk starts each output from its own partial sum: no look-ahead (the
    // sums to the right would need theirs).
    const bool resumed = job_.init_acc != nullptr;
    // The rows computed ahead start at ahead_.a, lda apart: this tile's first row among them.
    const auto a_at = reinterpret_cast<uintptr_t>(job_.a);
    const auto ahead_a_at = reinterpret_cast<uintptr_t>(ahead_.a);
    const size_t a_offset = a_at >= ahead_a_at ? a_at - ahead_a_at : 0;
    // The B view the columns ahead continue.
    const Code* const b = job_.ahead_b != nullptr ? job_.ahead_b : job_.b;
    const size_t ldb = job_.ahead_b != nullptr ? job_.ahead_ldb : job_.ldb;
    const bool cached = !resumed && job_.reuse_tag != 0 && ahead_.tag == job_.reuse_tag &&
                        job_.lda > 0 && job_.lda == ahead_.lda && a_at >= ahead_a_at &&
                        a_offset % job_.lda == 0 &&
                        static_cast<int64_t>(a_offset / job_.lda) + job_.rows <= ahead_.rows &&
                        b >= ahead_.b && b + job_.cols <= ahead_.b + ahead_.cols;
    if (!cached) {
      const int64_t cols_ahead = job_.cols + (resumed ? 0 : job_.lookahead_cols);
      // The rows ahead in whole tiles, their sums within kAheadOutputs.
      const int64_t cap =
          std::max<int64_t>(job_.rows, kAheadOutputs / cols_ahead / job_.rows * job_.rows);
      const int64_t rows = std::min(job_.rows + (resumed ? 0 : job_.lookahead_rows), cap);
      GemmProblem problem;
      problem.m = static_cast<size_t>(rows);
      problem.n = static_cast<size_t>(cols_ahead);
      problem.k = static_cast<size_t>(job_.k);
      problem.a = job_.a;
      problem.lda = job_.lda;
      problem.a_exponent = job_.a_exponent;
      problem.b = b;
      problem.ldb = ldb;
      problem.b_exponents = job_.b_exponents;
      problem.bias = job_.bias;
      problem.initial_acc = job_.init_acc;
      problem.ld_initial = cols;
      compute_ahead(problem);
      ahead_.tag = resumed ? 0 : job_.reuse_tag;
    }
    first_row = cached ? a_offset / job_.lda : 0;
    offset = static_cast<size_t>(b - ahead_.b);
    resumed_flags = resumed ? job_.init_overflow : nullptr;  // as resumed_overflow()
  }
  if (sums) take_sums(first_row, offset, resumed_flags, flags_ld);  // (else start() left none)
  // The tiles of one row share A, and with resident weights every row shares B: their non-zero
  // counts are taken once per row of tiles and once per column of tiles.
  // (An a_tag and the other kinds of tag count apart: a job may carry either.)
  const std::vector<uint32_t>& nonzero_a =
      nonzero_a_.get({job_.a_tag != 0, job_.a_tag != 0 ? job_.a_tag : job_.reuse_tag},
                     {job_.a, job_.rows, job_.k},
                     [&] { return nonzero_a_counts(zero_mask_, job_); });
  const std::vector<uint32_t>& nonzero_b =
      nonzero_b_.get({false, job_.weight_tag != 0 ? job_.weight_tag : job_.reuse_tag},
                     {job_.b, job_.cols, job_.k},
                     [&] { return nonzero_b_counts(zero_mask_, job_); });
  const ArrayActivity a = tile_activity(job_, nonzero_a, nonzero_b);
  activity_.macs += a.macs;
  activity_.zero_macs += a.zero_macs;
  activity_.requantizations += a.requantizations;
  output_row_ = -1;
  busy_ = false;
  cycle_ = total_cycles_;
  return total_cycles_;
}

}  // namespace lbfp::arch
