// The array of the formats of spec section 13 (MXINT8, MXFP8, FP8, INT8) behind the
// ArrayBackend interface. Its timing is the LBFP/BFP array's (ArrayTimeline, the same PE
// schedule: one reduction step per cycle per PE); its sums are the golden reference's, computed
// when a tile is handed over:
// - FP8 / INT8: each output's A-bit saturating sum in k order from the bias (an accumulator
//   value) or the resumed partial sum (lbfp::gemm_accumulate, which gives lbfp::dot's value;
//   lbfp::dot itself where a sum saturated, for its step count), then requantize_scaled with
//   the column's multiplier (spec 13.6, 13.7);
// - MX: each block pair's exact sum (gemm_accumulate over 32-channel blocks, one call per tap;
//   lbfp::dot where a block saturates), rounded once to FP32 and added in FP32 by
//   lbfp::mx_accumulate, taps in (kh, kw) order, within a tap the chunk's blocks in channel
//   order, from the FP32 bias or the resumed FP32 sum (spec 13.7). The output is the FP32 sum
//   (ReLU'd where the layer has it), 4 bytes little-endian.
#include <algorithm>
#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

#include "lbfp/arch/accelerator.h"
#include "lbfp/scaled_gemm.h"
#include "timed_array.h"

namespace lbfp::arch {
namespace {

class ScaledArray : public TimedArray {
 public:
  ScaledArray(const ArrayGeometry& geometry, const ScaledFormat& format, SimMode mode)
      : TimedArray(geometry, mode), geometry_(geometry), format_(format) {
    // Zero codes (gated MACs): INT8 0x00; FP8 +-0 (0x00, 0x80). Both a mask pattern.
    zero_mask_ = format.is_float() ? Code{0x7f} : Code{0xff};
  }
  std::string name() const override {
    return std::string(mode() == SimMode::kCycle ? "c++ cycle " : "c++ tile ") + format_.name();
  }
  const ArrayGeometry& geometry() const override { return geometry_; }
  int64_t run_tile(const TileJob& job, const Tick& tick) override {
    check(job);
    TileResult result = compute(job);
    const ArrayActivity a = tile_activity(zero_mask_, job);
    activity_.macs += a.macs;
    activity_.zero_macs += a.zero_macs;
    activity_.requantizations += a.requantizations;
    return schedule(job, array_tile_steps(geometry_, job.rows, job.cols, job.k), std::move(result),
                    tick);
  }
  ArrayActivity activity() const override { return activity_; }

 private:
  void check(const TileJob& job) const {
    const Dataflow d = geometry_.dataflow;
    const bool fits =
        job.rows >= 1 && job.cols >= 1 && job.k >= 1 &&
        (d == Dataflow::kOutputStationary
             ? job.rows <= geometry_.rows && job.cols <= geometry_.cols
         : d == Dataflow::kWeightStationary
             ? job.k <= geometry_.rows && job.cols <= geometry_.cols
             : job.k <= geometry_.rows && job.rows <= geometry_.cols);
    if (!fits) {
      throw std::invalid_argument("tile of " + std::to_string(job.rows) + "x" +
                                  std::to_string(job.cols) + " outputs and " +
                                  std::to_string(job.k) + " reduction steps does not fit a " +
                                  std::to_string(geometry_.rows) + "x" +
                                  std::to_string(geometry_.cols) + " " + dataflow_name(d) +
                                  " array");
    }
    if (job.scaled == nullptr || job.scaled->layer == nullptr) {
      throw std::invalid_argument("a " + format_.name() + " tile needs its layer's scales");
    }
    if (format_.is_mx() && d != Dataflow::kOutputStationary) {
      throw std::invalid_argument(format_.name() + " runs on the output-stationary array only");
    }
  }

  TileResult compute(const TileJob& job) {
    const auto rows = static_cast<size_t>(job.rows);
    const auto cols = static_cast<size_t>(job.cols);
    const auto k = static_cast<size_t>(job.k);
    TileResult r;
    r.rows = job.rows;
    r.cols = job.cols;
    r.overflow.assign(rows * cols, 0);
    r.overflow_steps.assign(rows * cols, 0);
    if (format_.is_mx()) {
      compute_mx(job, r);
    } else {
      compute_tensor(job, r);
    }
    if (job.init_overflow != nullptr) {
      for (size_t i = 0; i < rows * cols; ++i) r.overflow[i] |= job.init_overflow[i] != 0;
    }
    (void)k;
    return r;
  }

  // B (k x cols, stride ldb) as the kernel's N x K rows.
  void transpose_b(const TileJob& job, size_t k0, size_t step, size_t count) {
    const auto cols = static_cast<size_t>(job.cols);
    bt_.resize(cols * count);
    for (size_t kk = 0; kk < count; ++kk) {
      const Code* row = job.b + (k0 + kk * step) * job.ldb;
      for (size_t c = 0; c < cols; ++c) bt_[c * count + kk] = row[c];
    }
  }

  void compute_tensor(const TileJob& job, TileResult& r) {
    const auto rows = static_cast<size_t>(job.rows);
    const auto cols = static_cast<size_t>(job.cols);
    const auto k = static_cast<size_t>(job.k);
    const ScaledTile& st = *job.scaled;
    const ScaledLayer& layer = *st.layer;
    transpose_b(job, 0, 1, k);
    // Each output's k-order saturating sum from its start value, as lbfp::dot gives it:
    // gemm_accumulate from the bias (an accumulator value per column), or row by row from the
    // resumed partial sums. Where a sum saturated, lbfp::dot again for its step count.
    r.acc_wide.assign(rows * cols, 0);
    ScaledGemmProblem p;
    p.m = rows;
    p.n = cols;
    p.k = k;
    p.a = job.a;
    p.lda = job.lda;
    p.b = bt_.data();
    p.ldb = k;
    uint64_t overflows = 0;
    if (st.init_acc == nullptr) {
      p.initial = layer.bias_acc.empty() ? nullptr : layer.bias_acc.data() + st.col0;
      overflows = gemm_accumulate(format_, p, r.acc_wide.data(), cols).overflows;
    } else {
      p.m = 1;
      for (size_t i = 0; i < rows; ++i) {
        p.a = job.a + i * job.lda;
        p.initial = st.init_acc + i * cols;
        overflows += gemm_accumulate(format_, p, r.acc_wide.data() + i * cols, cols).overflows;
      }
    }
    if (overflows > 0) {
      for (size_t i = 0; i < rows; ++i) {
        for (size_t j = 0; j < cols; ++j) {
          const size_t o = i * cols + j;
          const Int128 start = st.init_acc != nullptr    ? st.init_acc[o]
                               : layer.bias_acc.empty() ? Int128{0}
                                                        : layer.bias_acc[st.col0 + j];
          const WideDotResult d = dot(format_, job.a + i * job.lda, bt_.data() + j * k, k, start);
          r.acc_wide[o] = d.acc;
          r.overflow_steps[o] = d.overflows;
          r.overflow[o] = d.overflows > 0 ? 1 : 0;
        }
      }
    }
    if (!job.requantize) return;
    r.codes.assign(rows * cols, 0);
    for (size_t i = 0; i < rows; ++i) {
      for (size_t j = 0; j < cols; ++j) {
        r.codes[i * cols + j] = requantize_scaled(format_, r.acc_wide[i * cols + j],
                                                  layer.multipliers[st.col0 + j], job.relu);
      }
    }
  }

  void compute_mx(const TileJob& job, TileResult& r) {
    const auto rows = static_cast<size_t>(job.rows);
    const auto cols = static_cast<size_t>(job.cols);
    const auto k = static_cast<size_t>(job.k);
    const ScaledTile& st = *job.scaled;
    const ScaledLayer& layer = *st.layer;
    const size_t taps = layer.taps;
    const size_t cc = k / taps;  // the chunk's channels
    const size_t block = std::min<size_t>(cc, ScaledFormat::kMxBlockSize);
    const size_t nbc = (cc + block - 1) / block;
    const size_t jb0 = st.c0 / ScaledFormat::kMxBlockSize;
    const size_t row_exps = taps * layer.blocks;
    // Per tap: the tap's channels of A and B, gathered ((c, kh, kw) order: stride taps), and
    // their block sums.
    block_sums_.assign(taps * rows * cols * nbc, 0);
    at_.resize(rows * cc);
    for (size_t t = 0; t < taps; ++t) {
      for (size_t i = 0; i < rows; ++i) {
        const Code* a = job.a + i * job.lda;
        for (size_t c = 0; c < cc; ++c) at_[i * cc + c] = a[c * taps + t];
      }
      transpose_b(job, t, taps, cc);
      ScaledGemmProblem p;
      p.m = rows;
      p.n = cols;
      p.k = cc;
      p.a = at_.data();
      p.lda = cc;
      p.b = bt_.data();
      p.ldb = cc;
      p.block = block;
      Int128* sums = block_sums_.data() + t * rows * cols * nbc;
      const ScaledGemmStats stats = gemm_accumulate(format_, p, sums, cols * nbc);
      if (stats.overflows == 0) continue;
      // A block saturated: every block of this tap again by lbfp::dot, with its count.
      for (size_t i = 0; i < rows; ++i) {
        for (size_t j = 0; j < cols; ++j) {
          for (size_t q = 0; q < nbc; ++q) {
            const size_t n = std::min(block, cc - q * block);
            const WideDotResult d = dot(format_, at_.data() + i * cc + q * block,
                                        bt_.data() + j * cc + q * block, n);
            sums[i * cols * nbc + j * nbc + q] = d.acc;
            r.overflow_steps[i * cols + j] += d.overflows;
          }
        }
      }
    }
    r.sums.assign(rows * cols, 0.0f);
    for (size_t i = 0; i < rows; ++i) {
      const int* ea = layer.a_exps.data() + (st.row0 + i) * row_exps;
      for (size_t j = 0; j < cols; ++j) {
        const int* eb = layer.w_exps.data() + (st.col0 + j) * row_exps;
        const size_t o = i * cols + j;
        float sum = st.init_sum != nullptr ? st.init_sum[o]
                    : job.bias != nullptr  ? job.bias[j]
                                           : 0.0f;
        for (size_t t = 0; t < taps; ++t) {
          const Int128* s = block_sums_.data() + t * rows * cols * nbc + o * nbc;
          for (size_t q = 0; q < nbc; ++q) {
            const size_t e = t * layer.blocks + jb0 + q;
            sum = mx_accumulate(format_, sum, s[q], ea[e], eb[e]);
          }
        }
        r.sums[o] = sum;
        r.overflow[o] = r.overflow_steps[o] > 0 ? 1 : 0;
      }
    }
    if (!job.requantize) return;
    r.codes.assign(rows * cols * 4, 0);
    for (size_t o = 0; o < rows * cols; ++o) {
      float v = r.sums[o];
      if (job.relu && v < 0.0f) v = 0.0f;
      uint32_t bits = 0;
      std::memcpy(&bits, &v, 4);
      for (int b = 0; b < 4; ++b) r.codes[o * 4 + b] = static_cast<Code>(bits >> (8 * b));
    }
  }

  ArrayGeometry geometry_;
  ScaledFormat format_;
  Code zero_mask_ = 0xff;
  ArrayActivity activity_;
  std::vector<Code> at_, bt_;
  std::vector<Int128> block_sums_;
};

}  // namespace

std::unique_ptr<ArrayBackend> make_scaled_array(const ArrayGeometry& geometry,
                                                const ScaledFormat& format, SimMode mode) {
  return std::make_unique<ScaledArray>(geometry, format, mode);
}

}  // namespace lbfp::arch
