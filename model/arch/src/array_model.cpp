#include "arch/array_model.h"

#include <algorithm>
#include <stdexcept>
#include <string>

#include "lbfp/gemm.h"

namespace lbfp::arch {

std::vector<uint8_t> zero_code_table(const NumberFormat& format) {
  std::vector<uint8_t> zero(size_t{1} << code_bits(format));
  for (size_t c = 0; c < zero.size(); ++c) zero[c] = is_zero_code(format, static_cast<Code>(c)) ? 1 : 0;
  return zero;
}

ArrayActivity tile_activity(const std::vector<uint8_t>& zero, const TileJob& job) {
  // Every real output takes K steps; a step is gateable when either code is zero. A code is zero
  // exactly when its bits under a mask are (LBFP: the magnitude bits; BFP: all of them), which
  // the loops below test branch-free so that they vectorize; the table pins the mask down.
  unsigned varying = 0;  // bits that differ among the zero codes (LBFP: the sign)
  for (size_t c = 0; c < zero.size(); ++c) {
    if (zero[c]) varying |= static_cast<unsigned>(c);
  }
  const auto mask = static_cast<Code>((zero.size() - 1) & ~varying);
  for (size_t c = 0; c < zero.size(); ++c) {
    if ((zero[c] != 0) != ((c & mask) == 0)) {
      throw std::logic_error("tile_activity: the zero codes are not a mask pattern");
    }
  }
  ArrayActivity activity;
  const auto rows = static_cast<uint64_t>(job.rows);
  const auto cols = static_cast<uint64_t>(job.cols);
  const auto k_steps = static_cast<size_t>(job.k);
  std::vector<uint32_t> zero_a(k_steps, 0);
  for (int r = 0; r < job.rows; ++r) {
    const Code* row = job.a + static_cast<size_t>(r) * job.lda;
    for (size_t k = 0; k < k_steps; ++k) zero_a[k] += (row[k] & mask) == 0 ? 1u : 0u;
  }
  for (size_t k = 0; k < k_steps; ++k) {
    const Code* brow = job.b + k * job.ldb;
    uint32_t zero_b = 0;
    for (int c = 0; c < job.cols; ++c) zero_b += (brow[c] & mask) == 0 ? 1u : 0u;
    const uint64_t za = zero_a[k];
    activity.zero_macs += za * cols + zero_b * rows - za * zero_b;
  }
  activity.macs = rows * cols * static_cast<uint64_t>(job.k);
  activity.requantizations = rows * cols;
  return activity;
}

ArrayModel::ArrayModel(const ArrayGeometry& geometry, const NumberFormat& format)
    : geometry_(geometry), format_(format) {
  if (geometry.rows < 1 || geometry.cols < 1 || geometry.pipe_stages < 0) {
    throw std::invalid_argument("array geometry " + std::to_string(geometry.rows) + "x" +
                                std::to_string(geometry.cols) + " with " +
                                std::to_string(geometry.pipe_stages) +
                                " pipeline stages is not valid");
  }
  // Every product of two codes, from the golden multiply, as an accumulator term.
  const int bits = code_bits(format);
  const int count = 1 << bits;
  const int acc = acc_bits(format);
  product_.resize(static_cast<size_t>(count) * static_cast<size_t>(count));
  for (int a = 0; a < count; ++a) {
    for (int b = 0; b < count; ++b) {
      int64_t term = 0;
      if (const auto* l = std::get_if<LbfpFormat>(&format)) {
        term = accumulator_term(multiply(*l, static_cast<Code>(a), static_cast<Code>(b)), acc);
      } else {
        const auto& bf = std::get<BfpFormat>(format);
        const bool valid = a != (1 << (bits - 1)) && b != (1 << (bits - 1));
        term = valid ? multiply(bf, static_cast<Code>(a), static_cast<Code>(b)) : 0;
      }
      product_[static_cast<size_t>(a) * static_cast<size_t>(count) + static_cast<size_t>(b)] =
          term;
    }
  }
  acc_.assign(static_cast<size_t>(geometry.rows) * static_cast<size_t>(geometry.cols),
              Accumulator(acc));
  zero_ = zero_code_table(format);
  codes_ = static_cast<size_t>(count);
}

void ArrayModel::start(const TileJob& job) {
  if (busy_) throw std::logic_error("ArrayModel::start: the array is busy");
  if (job.rows < 1 || job.rows > geometry_.rows || job.cols < 1 || job.cols > geometry_.cols) {
    throw std::invalid_argument("tile of " + std::to_string(job.rows) + "x" +
                                std::to_string(job.cols) + " does not fit a " +
                                std::to_string(geometry_.rows) + "x" +
                                std::to_string(geometry_.cols) + " array");
  }
  if (job.k < 1) throw std::invalid_argument("a tile needs at least one reduction step");
  if (job.b_exponents == nullptr) throw std::invalid_argument("a tile needs its weight exponents");
  job_ = job;
  scales_.resize(static_cast<size_t>(job.cols));
  for (int c = 0; c < job.cols; ++c) {
    scales_[static_cast<size_t>(c)] = product_scale(format_, job.a_exponent, job.b_exponents[c]);
  }
  accumulators_ready_ = false;  // set up by the first clock(): the tile mode needs none
  result_.rows = job.rows;
  result_.cols = job.cols;
  const auto n = static_cast<size_t>(job.rows) * static_cast<size_t>(job.cols);
  result_.acc.assign(n, 0);
  result_.overflow.assign(n, 0);
  result_.overflow_steps.assign(n, 0);
  result_.codes.assign(n, 0);
  busy_ = true;
  cycle_ = 0;
  total_cycles_ = tile_cycles(job.k);
  output_row_ = -1;
}

inline void ArrayModel::mac(int r, int c, int64_t k) {
  const Code a = job_.a[static_cast<size_t>(r) * job_.lda + static_cast<size_t>(k)];
  const Code b = job_.b[static_cast<size_t>(k) * job_.ldb + static_cast<size_t>(c)];
  ++activity_.macs;
  activity_.zero_macs += zero_[a] | zero_[b];
  acc_[static_cast<size_t>(r * geometry_.cols + c)].add(product_[a * codes_ + b]);
}

void ArrayModel::drain_row(int r) {
  output_row_ = r;
  if (r >= job_.rows) return;
  for (int c = 0; c < job_.cols; ++c) {
    const Accumulator& a = acc_[static_cast<size_t>(r * geometry_.cols + c)];
    const auto i = static_cast<size_t>(r * job_.cols + c);
    result_.acc[i] = a.value();
    result_.overflow_steps[i] = a.overflow_count();
    result_.overflow[i] = a.overflow_count() > 0 ? 1 : 0;
    result_.codes[i] = std::visit(
        [&](const auto& f) {
          return requantize(f, a.value(), scales_[static_cast<size_t>(c)], job_.out_exponent,
                            job_.relu);
        },
        format_);
    ++activity_.requantizations;
  }
}

void ArrayModel::reset_accumulators() {
  // Each real PE starts from its column's bias in accumulator units (0 without a bias).
  const int acc = acc_bits(format_);
  std::vector<int64_t> initial(static_cast<size_t>(job_.cols), 0);
  if (job_.bias != nullptr) {
    for (int c = 0; c < job_.cols; ++c) {
      initial[static_cast<size_t>(c)] =
          bias_to_accumulator(acc, job_.bias[c], scales_[static_cast<size_t>(c)]);
    }
  }
  for (int r = 0; r < geometry_.rows; ++r) {
    for (int c = 0; c < geometry_.cols; ++c) {
      const bool real = r < job_.rows && c < job_.cols;
      const int64_t init = real ? initial[static_cast<size_t>(c)] : 0;
      acc_[static_cast<size_t>(r * geometry_.cols + c)] = Accumulator(acc, init);
    }
  }
  accumulators_ready_ = true;
}

bool ArrayModel::clock() {
  if (!busy_) return false;
  if (!accumulators_ready_) reset_accumulators();
  const int rows = geometry_.rows;
  // The anti-diagonal band of PEs whose operands meet in this cycle: k = t - r - c. Padding rows
  // and columns multiply zero codes: their accumulators never change, so they are skipped.
  for (int r = 0; r < job_.rows; ++r) {
    const int64_t base = cycle_ - r;  // k + c
    if (base < 0) break;
    const int64_t c_lo = std::max<int64_t>(0, base - (job_.k - 1));
    const int64_t c_hi = std::min<int64_t>(job_.cols - 1, base);
    for (int64_t c = c_lo; c <= c_hi; ++c) mac(r, static_cast<int>(c), base - c);
  }
  // The drain: rows leave bottom first in the last R cycles of the tile.
  const int64_t drain_start = total_cycles_ - rows;
  output_row_ = -1;
  if (cycle_ >= drain_start) drain_row(static_cast<int>(rows - 1 - (cycle_ - drain_start)));
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

int64_t ArrayModel::compute_whole_tile() {
  if (!busy_) throw std::logic_error("ArrayModel::compute_whole_tile: no tile started");
  // The fast kernel forms the same saturated sums as the PEs (it proves per call where it may
  // reorder and recomputes the rest in order), bias first. With resident weights the tiles to the
  // right share A, so one call computes them all and later tiles take their slice.
  const bool cached = job_.reuse_tag != 0 && ahead_.tag == job_.reuse_tag &&
                      ahead_.rows == job_.rows && job_.b >= ahead_.b &&
                      job_.b + job_.cols <= ahead_.b + ahead_.cols;
  if (!cached) {
    const int64_t cols = job_.cols + job_.lookahead_cols;
    GemmProblem problem;
    problem.m = static_cast<size_t>(job_.rows);
    problem.n = static_cast<size_t>(cols);
    problem.k = static_cast<size_t>(job_.k);
    problem.a = job_.a;
    problem.lda = job_.lda;
    problem.a_exponent = job_.a_exponent;
    problem.b = job_.b;
    problem.ldb = job_.ldb;
    problem.b_exponents = job_.b_exponents;
    problem.bias = job_.bias;
    ahead_.acc.resize(problem.m * problem.n);
    ahead_.overflows.resize(problem.m * problem.n);
    GemmOptions options;
    options.threads = 1;
    std::visit(
        [&](const auto& f) {
          gemm_accumulate(f, problem, ahead_.acc.data(), problem.n, ahead_.overflows.data(),
                          options);
        },
        format_);
    ahead_.tag = job_.reuse_tag;
    ahead_.b = job_.b;
    ahead_.cols = cols;
    ahead_.rows = job_.rows;
  }
  const auto offset = static_cast<size_t>(job_.b - ahead_.b);
  const auto stride = static_cast<size_t>(ahead_.cols);
  std::vector<uint32_t> overflows(result_.acc.size());
  for (int r = 0; r < job_.rows; ++r) {
    for (int c = 0; c < job_.cols; ++c) {
      const size_t from = static_cast<size_t>(r) * stride + offset + static_cast<size_t>(c);
      result_.acc[static_cast<size_t>(r * job_.cols + c)] = ahead_.acc[from];
      overflows[static_cast<size_t>(r * job_.cols + c)] = ahead_.overflows[from];
    }
  }
  std::visit(  // one dispatch on the format for the whole tile
      [&](const auto& f) {
        for (int r = 0; r < job_.rows; ++r) {
          for (int c = 0; c < job_.cols; ++c) {
            const auto i = static_cast<size_t>(r * job_.cols + c);
            result_.overflow_steps[i] = overflows[i];
            result_.overflow[i] = overflows[i] > 0 ? 1 : 0;
            result_.codes[i] = requantize(f, result_.acc[i], scales_[static_cast<size_t>(c)],
                                          job_.out_exponent, job_.relu);
          }
        }
      },
      format_);
  const ArrayActivity a = tile_activity(zero_, job_);
  activity_.macs += a.macs;
  activity_.zero_macs += a.zero_macs;
  activity_.requantizations += a.requantizations;
  output_row_ = -1;
  busy_ = false;
  cycle_ = total_cycles_;
  return total_cycles_;
}

}  // namespace lbfp::arch
