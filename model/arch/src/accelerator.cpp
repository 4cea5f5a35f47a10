#include "lbfp/arch/accelerator.h"

#include <algorithm>
#include <atomic>
#include <climits>
#include <cstdint>
#include <cstring>
#include <deque>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>

#include "lbfp/arch/limits.h"
#include "lbfp/arch/row_burst.h"
#include "lbfp/arch/stats.h"
#include "lbfp/x86_intrinsics.h"
#include "thread_end.h"
#include "timed_array.h"

namespace lbfp::arch {
namespace {

using sc_core::sc_time;

std::string bytes_text(uint64_t b) { return std::to_string(b) + " bytes"; }

uint64_t ceil_div(uint64_t a, uint64_t b) { return (a + b - 1) / b; }

// A convolution's feature-map band in the activation buffer: the input rows (and columns) the
// output rows of a block need, NHWC with the chunk's channels. Where the stride exceeds the
// filter, the rows (columns) between windows are skipped, so the band holds filter_h rows per
// output row.
uint64_t band_rows(const ConvGeometry& g, uint64_t out_rows) {
  return g.stride <= g.filter_h ? (out_rows - 1) * g.stride + g.filter_h : out_rows * g.filter_h;
}
uint64_t band_cols(const ConvGeometry& g) {
  return g.stride <= g.filter_w ? g.in_w : g.out_w() * g.filter_w;
}
uint64_t band_input_row(const ConvGeometry& g, uint64_t oy0, uint64_t j) {
  return g.stride <= g.filter_h ? oy0 * g.stride + j
                                : (oy0 + j / g.filter_h) * g.stride + j % g.filter_h;
}
uint64_t band_input_col(const ConvGeometry& g, uint64_t b) {
  return g.stride <= g.filter_w ? b : (b / g.filter_w) * g.stride + b % g.filter_w;
}
// The band as a convolution input of its own (lbfp/conv.h): output row oy - oy0 of the block
// reads band rows from (oy - oy0) min(stride, filter_h).
Conv2dShape band_shape(const ConvGeometry& g, uint64_t rows, uint64_t channels) {
  Conv2dShape s;
  s.in_channels = channels;
  s.in_height = rows;
  s.in_width = band_cols(g);
  s.kernel_height = g.filter_h;
  s.kernel_width = g.filter_w;
  s.stride_height = std::min(g.stride, g.filter_h);
  s.stride_width = std::min(g.stride, g.filter_w);
  s.layout = TensorLayout::kNhwc;
  return s;
}
// Of the `count` band rows from output row oy0 (of the band's columns), those inside the stored
// map: a padded map's border is not in memory.
uint64_t stored_rows(const ConvGeometry& g, uint64_t oy0, uint64_t count) {
  if (g.pad == 0) return count;
  uint64_t n = 0;
  for (uint64_t j = 0; j < count; ++j) {
    const uint64_t iy = band_input_row(g, oy0, j);
    n += iy >= g.pad && iy - g.pad < g.stored_h();
  }
  return n;
}
uint64_t stored_cols(const ConvGeometry& g) {
  if (g.pad == 0) return band_cols(g);
  uint64_t n = 0;
  for (uint64_t b = 0; b < band_cols(g); ++b) {
    const uint64_t ix = band_input_col(g, b);
    n += ix >= g.pad && ix - g.pad < g.stored_w();
  }
  return n;
}
// The code of zero the loader writes for a padded map's border.
Code zero_code(const AcceleratorConfig& config) {
  if (config.scaled) return encode(*config.scaled, 0.0, 0);
  return std::visit([](const auto& f) { return encode(f, 0.0, 0); }, config.format);
}
bool is_mx(const AcceleratorConfig& config) { return config.scaled && config.scaled->is_mx(); }
// Output rows spanned by the output pixels [p0, p0 + count).
uint64_t out_rows_spanned(const ConvGeometry& g, uint64_t p0, uint64_t count) {
  return (p0 + count - 1) / g.out_w() - p0 / g.out_w() + 1;
}

// The A side of a layer for the planner: block bytes and DRAM bytes per block row count.
struct ASide {
  const GemmJob& job;
  const AcceleratorConfig& config;
  // Largest A block of `block_m` rows and `kc` of K (with its scale bytes, spec section 13).
  uint64_t block_bytes(uint64_t block_m, uint64_t kc) const {
    if (!job.conv) {
      const uint64_t rows = std::min(block_m, job.m);
      return rows * kc + a_scale_bytes(config, job, rows, kc, false);
    }
    const ConvGeometry& g = *job.conv;
    uint64_t rows = 0;
    for (uint64_t p0 = 0; p0 < job.m; p0 += block_m) {
      rows = std::max(rows, band_rows(g, out_rows_spanned(g, p0, std::min(block_m, job.m - p0))));
    }
    const uint64_t cc = kc / g.taps();
    return rows * band_cols(g) * cc + a_scale_bytes(config, job, rows * band_cols(g), cc, true);
  }
  // DRAM bytes of loading every block of A once (all of K).
  uint64_t once(uint64_t block_m) const {
    if (!job.conv) return job.m * job.k + a_scale_bytes(config, job, job.m, job.k, false);
    const ConvGeometry& g = *job.conv;
    uint64_t bytes = 0;
    for (uint64_t p0 = 0; p0 < job.m; p0 += block_m) {
      const uint64_t rows = band_rows(g, out_rows_spanned(g, p0, std::min(block_m, job.m - p0)));
      const uint64_t pixels = stored_rows(g, p0 / g.out_w(), rows) * stored_cols(g);
      bytes += pixels * g.channels + a_scale_bytes(config, job, pixels, g.channels, true);
    }
    return bytes;
  }
};

// The output tile one array pass computes and the reduction it takes at most: output-stationary
// R x C outputs over any K; weight-stationary a stream of M rows x C columns over K <= R;
// input-stationary C rows x a stream of N columns over K <= R. The stream is as long as the
// output buffer holds twice (double-buffered), the partial-sum store four times when K is
// split into folds, and the streamed operand's buffer twice; tiles of a stream are balanced.
struct TileShape {
  uint64_t m = 0;
  uint64_t n = 0;
  uint64_t fold = UINT64_MAX;  // K per array pass
};

TileShape tile_shape(const GemmJob& job, const AcceleratorConfig& config) {
  const auto R = static_cast<uint64_t>(config.array.rows);
  const auto C = static_cast<uint64_t>(config.array.cols);
  const Dataflow d = config.array.dataflow;
  if (d == Dataflow::kOutputStationary) return {R, C, UINT64_MAX};
  const BufferConfig& b = config.buffers;
  const bool ws = d == Dataflow::kWeightStationary;
  const uint64_t dim = ws ? job.m : job.n;
  const uint64_t unit = job.conv ? job.conv->taps() : 1;
  uint64_t s = std::min<uint64_t>(dim, uint64_t{1} << 20);  // TileJob counts rows in an int
  s = std::min(s, std::max<uint64_t>(1, b.output_bytes / (2 * C)));
  if (job.k > R) {
    const uint64_t entry = psum_entry_bytes(config);
    s = std::min(s, std::max<uint64_t>(1, b.psum_bytes / (4 * C * entry)));
  }
  const ASide a{job, config};
  while (s > 1 && (ws ? a.block_bytes(s, unit) : s * unit) * 2 >
                      (ws ? b.activation_bytes : b.weight_bytes)) {
    s = (s + 1) / 2;
  }
  const uint64_t row = job.conv && ws ? job.conv->out_w() : 1;
  if (s >= row && row > 1) {
    // Whole output rows of a convolution: blocks of such tiles start at a row, so their
    // feature-map bands do not overlap (as the R-row blocks of output-stationary mostly do not).
    const uint64_t rows = ceil_div(dim, row);
    s = ceil_div(rows, ceil_div(rows, s / row)) * row;
  } else {
    s = ceil_div(dim, ceil_div(dim, s));  // equal tiles
  }
  return ws ? TileShape{s, C, R} : TileShape{C, s, R};
}

void put_psum(Code* to, int64_t value, uint8_t flag, int acc, uint64_t bytes) {
  const uint64_t mask = (uint64_t{1} << acc) - 1;
  const uint64_t word = (static_cast<uint64_t>(value) & mask) | (uint64_t{flag} << acc);
  for (uint64_t i = 0; i < bytes; ++i) to[i] = static_cast<Code>(word >> (8 * i));
}
void get_psum(const Code* from, int acc, uint64_t bytes, int64_t& value, uint8_t& flag) {
  uint64_t word = 0;
  for (uint64_t i = 0; i < bytes; ++i) word |= uint64_t{from[i]} << (8 * i);
  flag = static_cast<uint8_t>((word >> acc) & 1);
  const uint64_t mask = (uint64_t{1} << acc) - 1;
  const uint64_t sign = uint64_t{1} << (acc - 1);
  const uint64_t v = word & mask;
  value = static_cast<int64_t>((v ^ sign) - sign);  // sign-extends the A-bit value
}

// The same for n entries one after another (a tile's partial sums): where eight bytes from an
// entry lie inside the n entries, one 8-byte load or store each (little-endian hosts; a store's
// bytes past its entry are the next entry's, written after it), the rest byte by byte.
constexpr bool kLittleEndian = __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__;

void put_psums(Code* to, const int64_t* values, const uint8_t* flags, uint64_t n, int acc,
               uint64_t bytes) {
  const uint64_t mask = (uint64_t{1} << acc) - 1;
  uint64_t j = 0;
  if (kLittleEndian && bytes <= 8) {
    for (; j < n && j * bytes + 8 <= n * bytes; ++j) {
      const uint64_t word =
          (static_cast<uint64_t>(values[j]) & mask) | (uint64_t{flags[j]} << acc);
      std::memcpy(to + j * bytes, &word, 8);
    }
  }
  for (; j < n; ++j) put_psum(to + j * bytes, values[j], flags[j], acc, bytes);
}

void get_psums(const Code* from, uint64_t n, int acc, uint64_t bytes, int64_t* values,
               uint8_t* flags) {
  const uint64_t mask = (uint64_t{1} << acc) - 1;
  const uint64_t sign = uint64_t{1} << (acc - 1);
  uint64_t j = 0;
  if (kLittleEndian && bytes <= 8) {
    const uint64_t entry = bytes == 8 ? ~uint64_t{0} : (uint64_t{1} << (8 * bytes)) - 1;
    for (; j < n && j * bytes + 8 <= n * bytes; ++j) {
      uint64_t word;
      std::memcpy(&word, from + j * bytes, 8);
      word &= entry;
      flags[j] = static_cast<uint8_t>((word >> acc) & 1);
      values[j] = static_cast<int64_t>(((word & mask) ^ sign) - sign);
    }
  }
  for (; j < n; ++j) get_psum(from + j * bytes, acc, bytes, values[j], flags[j]);
}

// A partial sum of a format of spec section 13 in the store: FP8 / INT8 the A-bit sum (up to 126
// bits), MX the FP32 sum's bits (acc 32); the sticky flag above it, little-endian.
__extension__ typedef unsigned __int128 U128;  // GCC/Clang, as lbfp::Int128
void put_psum_wide(Code* to, Int128 value, uint8_t flag, int acc, uint64_t bytes) {
  const U128 mask = (U128{1} << acc) - 1;
  const U128 word = (static_cast<U128>(value) & mask) | (U128{flag} << acc);
  for (uint64_t i = 0; i < bytes; ++i) to[i] = static_cast<Code>(word >> (8 * i));
}
void get_psum_wide(const Code* from, int acc, uint64_t bytes, Int128& value, uint8_t& flag) {
  U128 word = 0;
  for (uint64_t i = 0; i < bytes; ++i) word |= U128{from[i]} << (8 * i);
  flag = static_cast<uint8_t>((word >> acc) & 1);
  const U128 mask = (U128{1} << acc) - 1;
  const U128 sign = U128{1} << (acc - 1);
  value = static_cast<Int128>(((word & mask) ^ sign) - sign);
}

// Checked before the members it sizes (the buffers) are built.
const AcceleratorConfig& validated(const AcceleratorConfig& config) {
  config.validate();
  return config;
}

// The C++ array behind the ArrayBackend interface: each tile's results from the array model (its
// PE schedule cycle by cycle, or the fast kernel), its timing from ArrayTimeline, the events
// released in the simulated cycle they happen.
class CppArray : public TimedArray {
 public:
  CppArray(const ArrayGeometry& geometry, const NumberFormat& format, SimMode mode)
      : TimedArray(geometry, mode), model_(geometry, format) {}
  std::string name() const override { return mode() == SimMode::kCycle ? "c++ cycle" : "c++ tile"; }
  const ArrayGeometry& geometry() const override { return model_.geometry(); }
  int64_t run_tile(const TileJob& job, const Tick& tick) override {
    model_.start(job);
    if (mode() == SimMode::kTile) {
      model_.compute_whole_tile();
    } else {
      model_.run_to_completion();
    }
    // The result moves on with the tile; the model takes a reported tile's buffers for the
    // next one (a copy cost four allocations per tile).
    TileResult result = spare();
    model_.swap_result(result);
    return schedule(job, model_.tile_steps(job), std::move(result), tick);
  }
  ArrayActivity activity() const override { return model_.activity(); }
  bool computes_ahead() const override { return mode() == SimMode::kTile; }

 private:
  ArrayModel model_;
};

}  // namespace

std::unique_ptr<ArrayBackend> make_cpp_array(const ArrayGeometry& geometry,
                                             const NumberFormat& format, SimMode mode) {
  return std::make_unique<CppArray>(geometry, format, mode);
}

uint64_t output_bytes(const AcceleratorConfig& config) { return is_mx(config) ? 4 : 1; }

uint64_t psum_entry_bytes(const AcceleratorConfig& config) {
  if (!config.scaled) return psum_entry_bytes(acc_bits(config.format));
  return psum_entry_bytes(config.scaled->is_mx() ? 32 : config.scaled->acc_bits());
}

uint64_t a_scale_bytes(const AcceleratorConfig& config, const GemmJob& job, uint64_t rows,
                       uint64_t row_codes, bool pixels) {
  if (!is_mx(config) || !job.scaled || rows == 0) return 0;
  // A pixel of a feature map holds channels of one tap; a row of A all its taps.
  const uint64_t taps = pixels ? 1 : job.scaled->taps;
  const uint64_t channels = row_codes / taps;
  return rows * taps * ceil_div(channels, ScaledFormat::kMxBlockSize);
}

uint64_t w_scale_bytes(const AcceleratorConfig& config, const GemmJob& job, uint64_t cols,
                       uint64_t kc) {
  if (!config.scaled || !job.scaled || cols == 0) return 0;
  if (config.scaled->is_mx()) {
    const uint64_t taps = job.scaled->taps;
    return cols * taps * ceil_div(kc / taps, ScaledFormat::kMxBlockSize);
  }
  return config.scaled->element() == ElementKind::kInt8 ? 4 * cols : 4;
}

void AcceleratorConfig::validate() const {
  constexpr auto kDim = ArchLimits::kArrayDim;
  if (array.rows < kDim.lo || array.cols < kDim.lo) {
    throw std::invalid_argument("array rows and cols must be positive (got " +
                                std::to_string(array.rows) + "x" + std::to_string(array.cols) +
                                ")");
  }
  if (array.rows > kDim.hi || array.cols > kDim.hi) {
    throw std::invalid_argument("array of " + std::to_string(array.rows) + "x" +
                                std::to_string(array.cols) + " PEs is larger than " +
                                std::to_string(kDim.hi) + "x" + std::to_string(kDim.hi));
  }
  if (!ArchLimits::kPipeStages.contains(array.pipe_stages)) {
    throw std::invalid_argument("array pipe_stages must be in " +
                                std::to_string(ArchLimits::kPipeStages.lo) + ".." +
                                std::to_string(ArchLimits::kPipeStages.hi));
  }
  if (buffers.activation_bytes == 0 || buffers.weight_bytes == 0 || buffers.output_bytes == 0 ||
      buffers.psum_bytes == 0) {
    throw std::invalid_argument("buffer sizes must be positive");
  }
  if (clock_period == sc_core::SC_ZERO_TIME) {
    throw std::invalid_argument("the accelerator's clock_period must be positive");
  }
  dram.validate();
  if (scaled && scaled->is_mx() && array.dataflow != Dataflow::kOutputStationary) {
    throw std::invalid_argument(
        scaled->name() + " runs on the output-stationary array only: a weight- or "
        "input-stationary fold of R reduction steps would split its 32-element blocks "
        "(docs/formats.md)");
  }
}

namespace {

#if defined(__x86_64__)
// A 3 x 3 window's row of the im2col operand: out[c * 9 + t] = tap[t][c] for c < channels.
// Sixteen channels at a time: the nine taps' 16 bytes (masked loads past the last channel) in
// three registers, taps 0-3, 4-7 and 8, and each 64-byte piece of the 144 output bytes as a
// two-register byte permute of the first two, blended with a permute of the third where the
// byte is tap 8's (VBMI).
struct Window9Indices {
  alignas(64) uint8_t index[3][64] = {};  // per output piece: byte t * 16 + c of the taps, mod 128
  uint64_t from_last[3] = {};             // per piece: the bytes that are tap 8's
  Window9Indices() {
    for (int j = 0; j < 144; ++j) {
      const int source = (j % 9) * 16 + j / 9;
      index[j / 64][j % 64] = static_cast<uint8_t>(source % 128);
      if (source >= 128) from_last[j / 64] |= uint64_t{1} << (j % 64);
    }
  }
};

__attribute__((target("avx512f,avx512bw,avx512vl,avx512vbmi"))) void gather_window9(
    const Code* const tap[9], uint64_t channels, Code* out) {
  static const Window9Indices table;
  const __m512i index[3] = {_mm512_load_si512(table.index[0]), _mm512_load_si512(table.index[1]),
                            _mm512_load_si512(table.index[2])};
  for (uint64_t c0 = 0; c0 < channels; c0 += 16) {
    const uint64_t n = std::min<uint64_t>(16, channels - c0);
    const auto in = static_cast<__mmask16>(n == 16 ? 0xffffu : (1u << n) - 1);
    __m128i x[9];
    for (int t = 0; t < 9; ++t) x[t] = _mm_maskz_loadu_epi8(in, tap[t] + c0);
    __m512i z[3];
    for (int g = 0; g < 2; ++g) {
      z[g] = _mm512_inserti32x4(
          _mm512_inserti32x4(_mm512_inserti32x4(_mm512_zextsi128_si512(x[4 * g]), x[4 * g + 1], 1),
                             x[4 * g + 2], 2),
          x[4 * g + 3], 3);
    }
    z[2] = _mm512_zextsi128_si512(x[8]);
    const uint64_t bytes = 9 * n;  // of this block's output
    Code* to = out + 9 * c0;
    for (uint64_t piece = 0; piece * 64 < bytes; ++piece) {
      const __m512i code = _mm512_mask_blend_epi8(
          table.from_last[piece], _mm512_permutex2var_epi8(z[0], index[piece], z[1]),
          _mm512_permutexvar_epi8(index[piece], z[2]));
      const uint64_t left = std::min<uint64_t>(64, bytes - 64 * piece);
      const __mmask64 keep = left == 64 ? ~__mmask64{0} : (__mmask64{1} << left) - 1;
      _mm512_mask_storeu_epi8(to + 64 * piece, keep, code);
    }
  }
}

bool have_vbmi() {
  static const bool vbmi = __builtin_cpu_supports("avx512f") != 0 &&
                           __builtin_cpu_supports("avx512bw") != 0 &&
                           __builtin_cpu_supports("avx512vl") != 0 &&
                           __builtin_cpu_supports("avx512vbmi") != 0;
  return vbmi;
}
#endif

// GemmLayer::validate (codes: also the sizes of A and W) and validate_shape.
void validate_layer(const GemmLayer& l, bool codes) {
  const std::string who = "layer '" + l.name + "': ";
  if (l.m == 0 || l.n == 0 || l.k == 0) {
    throw std::invalid_argument(who + "M, N and K must be positive (got " + std::to_string(l.m) +
                                ", " + std::to_string(l.n) + ", " + std::to_string(l.k) + ")");
  }
  if (codes && l.w.size() != l.n * l.k) {
    throw std::invalid_argument(who + "W must hold N*K codes");
  }
  if (l.w_exponents.size() != l.n) throw std::invalid_argument(who + "W needs N exponents");
  if (!l.bias.empty() && l.bias.size() != l.n) {
    throw std::invalid_argument(who + "bias needs N values");
  }
  if (l.conv) {
    const ConvGeometry& g = *l.conv;
    if (g.filter_h > g.in_h || g.filter_w > g.in_w || g.stride == 0 || g.channels == 0 ||
        2 * g.pad >= g.in_h || 2 * g.pad >= g.in_w || g.pixel_pitch() < g.channels) {
      throw std::invalid_argument(who + "inconsistent convolution geometry");
    }
    if (l.m != g.out_h() * g.out_w() || l.k != g.channels * g.taps()) {
      throw std::invalid_argument(who + "M must be the output pixels and K channels x taps");
    }
    if (codes && l.a.size() != g.ifmap_bytes()) {
      throw std::invalid_argument(who + "the input feature map must hold H*W*C codes (padding "
                                        "excluded)");
    }
  } else if (codes && l.a.size() != l.m * l.k) {
    throw std::invalid_argument(who + "A must hold M*K codes");
  }
  check_exponent(l.a_exponent);
  check_exponent(l.out_exponent);
  for (int e : l.w_exponents) check_exponent(e);
}

}  // namespace

void GemmLayer::validate() const { validate_layer(*this, true); }

void GemmLayer::validate_shape() const { validate_layer(*this, false); }

void check_same_shape(const GemmLayer& made, const GemmLayer& shape) {
  const auto geometry = [](const std::optional<ConvGeometry>& g) {
    return g ? std::vector<uint64_t>{g->in_h, g->in_w, g->channels, g->filter_h, g->filter_w,
                                     g->stride, g->pad, g->pixel_channels}
             : std::vector<uint64_t>{};
  };
  if (made.name != shape.name || made.m != shape.m || made.n != shape.n || made.k != shape.k ||
      geometry(made.conv) != geometry(shape.conv) ||
      made.w_exponents.size() != shape.w_exponents.size() ||
      made.bias.size() != shape.bias.size()) {
    throw std::logic_error("layer '" + shape.name + "': its codes were made for another shape");
  }
}

OperandTraffic& OperandTraffic::operator+=(const OperandTraffic& o) {
  dram_read += o.dram_read;
  dram_write += o.dram_write;
  sram_read += o.sram_read;
  sram_write += o.sram_write;
  return *this;
}

Conv2dShape ConvGeometry::shape(uint64_t out_channels) const {
  Conv2dShape s;
  s.in_channels = channels;
  s.in_height = in_h;
  s.in_width = in_w;
  s.out_channels = out_channels;
  s.kernel_height = filter_h;
  s.kernel_width = filter_w;
  s.stride_height = s.stride_width = stride;
  s.layout = TensorLayout::kNhwc;
  return s;
}

bool LayerPlan::weights_resident() const {
  return k_chunks == 1 && dram_w != 0 && w_slot_bytes == dram_w &&
         (order == Order::kMNK || order == Order::kMKN);
}

std::string LayerPlan::order_name() const {
  if (weights_resident()) return "weights-resident";
  switch (order) {
    case Order::kMNK: return "m>n>k";
    case Order::kMKN: return "m>k>n";
    case Order::kNMK: return "n>m>k";
    case Order::kNKM: return "n>k>m";
  }
  return "?";
}

uint64_t dram_lower_bound(const GemmJob& job) {
  // Of a convolution's input feature map, the positions some window reads (a stride longer than
  // the filter skips rows and columns; SCALE-Sim's padded IFMAP may have unread edges).
  // A padded map's border is not read.
  const uint64_t input =
      job.conv ? stored_rows(*job.conv, 0, band_rows(*job.conv, job.conv->out_h())) *
                     stored_cols(*job.conv) * job.conv->channels
               : job.m * job.k;
  return input + job.n * job.k + job.m * job.n;
}

LayerPlan plan_layer(const GemmJob& job, const AcceleratorConfig& config) {
  using Order = LayerPlan::Order;
  const TileShape shape = tile_shape(job, config);
  const uint64_t TM = shape.m;  // a tile's output rows and columns
  const uint64_t TN = shape.n;
  const BufferConfig& b = config.buffers;
  // K chunks are whole channels; an MX format's whole 32-channel blocks (of every tap).
  const bool mx = is_mx(config) && job.scaled;
  const uint64_t mx_channels =
      mx ? std::min<uint64_t>(job.scaled->channels, ScaledFormat::kMxBlockSize) : 0;
  const uint64_t unit = mx ? job.scaled->taps * mx_channels : job.conv ? job.conv->taps() : 1;
  const uint64_t units = mx ? ceil_div(job.k, unit) : job.k / unit;
  const uint64_t entry = psum_entry_bytes(config);
  const uint64_t tile_psum = TM * TN * entry;
  const uint64_t all_m = ceil_div(job.m, TM) * TM;
  const uint64_t all_n = ceil_div(job.n, TN) * TN;
  const ASide a{job, config};
  const uint64_t out_bytes = output_bytes(config);

  // The smallest buffers: one row of tiles (TM outputs) of one chunk of one unit of K.
  const std::string who = "layer '" + job.name + "': ";
  auto too_small = [&](const char* buffer, uint64_t have, uint64_t need, const std::string& what) {
    throw std::invalid_argument(who + "the " + buffer + " buffer (" + bytes_text(have) +
                                ") is too small: the smallest that works is " +
                                bytes_text(need) + " (" + what + ")");
  };
  const uint64_t a_min = a.block_bytes(TM, unit);
  if (b.activation_bytes < a_min) {
    too_small("activation", b.activation_bytes, a_min,
              "the activations of " + std::to_string(TM) + " output rows for one K chunk of " +
                  std::to_string(unit));
  }
  const uint64_t w_min =
      std::min(TN, job.n) * unit + w_scale_bytes(config, job, std::min(TN, job.n), unit);
  if (b.weight_bytes < w_min) {
    too_small("weight", b.weight_bytes, w_min,
              std::to_string(std::min(TN, job.n)) + " columns of one K chunk of " +
                  std::to_string(unit));
  }
  if (b.output_bytes < TM * TN * out_bytes) {
    too_small("output", b.output_bytes, TM * TN * out_bytes,
              "one " + std::to_string(TM) + " x " + std::to_string(TN) + " tile");
  }

  // Candidate chunk counts: every K chunk length from all of K down to one unit, thinned
  // geometrically.
  std::vector<uint64_t> chunk_units;
  for (uint64_t nk = 1; nk <= units; nk = std::max(nk + 1, nk * 5 / 4)) {
    const uint64_t cu = ceil_div(units, nk);
    if (chunk_units.empty() || chunk_units.back() != cu) chunk_units.push_back(cu);
  }
  if (chunk_units.back() != 1) chunk_units.push_back(1);

  std::optional<LayerPlan> best;
  double best_cost = 0;
  for (uint64_t cu : chunk_units) {
    const uint64_t kc = cu * unit;
    const uint64_t nk = ceil_div(units, cu);
    for (int a_slots : {2, 1}) {
      // The largest block of rows that fits the slot.
      uint64_t mb = 0;
      for (uint64_t t = all_m; t >= TM; t -= TM) {
        if (a.block_bytes(t, kc) * static_cast<uint64_t>(a_slots) <= b.activation_bytes) {
          mb = t;
          break;
        }
        if (t > 64 * TM) t = std::max(TM, t - t / 8 / TM * TM) + TM;  // coarse steps far up
      }
      if (mb == 0) continue;
      for (int w_slots : {2, 1}) {
        // Weight columns per slot (an MX column's scale bytes with it; INT8 / FP8: at most 4).
        const uint64_t col_bytes = kc + (mx ? w_scale_bytes(config, job, 1, kc) : 0);
        const uint64_t extra = config.scaled && !mx ? 4 : 0;
        const uint64_t w_room = b.weight_bytes / static_cast<uint64_t>(w_slots);
        const uint64_t nb_fit = w_room > extra ? (w_room - extra) / (col_bytes + extra) / TN * TN
                                               : 0;
        uint64_t nb = std::min(all_n, nb_fit);
        if (nb == 0) {
          if (job.n < TN && (job.n * (col_bytes + extra) + extra) *
                                    static_cast<uint64_t>(w_slots) <= b.weight_bytes) {
            nb = TN;
          } else {
            continue;
          }
        }
        for (Order order : {Order::kMNK, Order::kMKN, Order::kNMK, Order::kNKM}) {
          uint64_t bm = mb;
          uint64_t bn = nb;
          const bool split = nk > 1 || kc > shape.fold;  // chunks or folds of K
          if (split) {  // the partial sums of a block (region) stay in the store
            const uint64_t allowed = b.psum_bytes / tile_psum;
            uint64_t tm = ceil_div(std::min(bm, job.m), TM);
            uint64_t tn = ceil_div(std::min(bn, job.n), TN);
            const uint64_t all_tm = ceil_div(job.m, TM);
            const uint64_t all_tn = ceil_div(job.n, TN);
            if (allowed == 0) continue;
            if (order == Order::kMKN) {
              tm = std::min(tm, allowed / all_tn);
            } else if (order == Order::kNKM) {
              tn = std::min(tn, allowed / all_tm);
            } else if (tm * tn > allowed) {
              tm = std::min(tm, std::max<uint64_t>(1, allowed / tn));
              if (tm * tn > allowed) tn = std::min(tn, allowed / tm);
            }
            if (tm == 0 || tn == 0) continue;
            // A block's tiles cover each other's partial-sum round trips between chunks (folds),
            // so the last block is made as large as the others (a lone tile there serializes).
            tm = ceil_div(all_tm, ceil_div(all_tm, tm));
            tn = ceil_div(all_tn, ceil_div(all_tn, tn));
            bm = tm * TM;
            bn = tn * TN;
            // A convolution's band is not monotone in the block (it depends on where the block
            // starts in an output row): a smaller block is checked again.
            while (bm > TM && a.block_bytes(bm, kc) * static_cast<uint64_t>(a_slots) >
                                 b.activation_bytes) {
              bm -= TM;
            }
            if (a.block_bytes(bm, kc) * static_cast<uint64_t>(a_slots) > b.activation_bytes) {
              continue;
            }
          }
          const uint64_t nm = ceil_div(job.m, bm);
          const uint64_t nn = ceil_div(job.n, bn);
          uint64_t fa = 1;
          uint64_t fw = 1;
          switch (order) {
            case Order::kMNK:
              fa = nk > 1 ? nn : 1;
              fw = nn * nk == 1 ? 1 : nm;
              break;
            case Order::kMKN:
              fw = nn * nk == 1 ? 1 : nm;
              break;
            case Order::kNMK:
              fa = nm * nk == 1 ? 1 : nn;
              fw = nk == 1 ? 1 : nm;
              break;
            case Order::kNKM:
              fa = nm * nk == 1 ? 1 : nn;
              break;
          }
          LayerPlan p;
          p.order = order;
          p.block_m = bm;
          p.block_n = bn;
          p.chunk_k = kc;
          p.k_chunks = nk;
          p.tile_m = TM;
          p.tile_n = TN;
          p.fold_k = std::min(shape.fold, job.k);
          p.a_slots = nm * nk * fa > 1 ? a_slots : 1;
          p.w_slots = nn * nk * fw > 1 ? w_slots : 1;
          p.a_slot_bytes = a.block_bytes(bm, kc);
          p.w_slot_bytes = std::min(bn, job.n) * kc +
                           w_scale_bytes(config, job, std::min(bn, job.n), kc);
          if (split) {
            const uint64_t tm = ceil_div(std::min(bm, job.m), TM);
            const uint64_t tn = ceil_div(std::min(bn, job.n), TN);
            p.psum_bytes = (order == Order::kMKN   ? tm * ceil_div(job.n, TN)
                            : order == Order::kNKM ? ceil_div(job.m, TM) * tn
                                                   : tm * tn) *
                           tile_psum;
          }
          p.dram_a = a.once(bm) * fa;
          p.dram_w = (job.n * job.k + w_scale_bytes(config, job, job.n, job.k)) * fw;
          p.dram_out = job.m * job.n * out_bytes;
          // Traffic decides; an operand reloaded into a single slot stalls the array on every
          // load, so it must save more than a tenth of the traffic to be chosen.
          double cost = static_cast<double>(p.dram_a + p.dram_w + p.dram_out);
          if (nm * nk * fa > 1 && p.a_slots == 1) cost *= 1.1;
          if (nn * nk * fw > 1 && p.w_slots == 1) cost *= 1.1;
          if (split && shape.fold != UINT64_MAX) {
            // Weight-/input-stationary folds: a tile's next fold resumes its partial sums once
            // they have left the array (2R + C + p cycles after its last step, counting the
            // next fold's preload), so the block's other tiles must stream that long or the
            // folds serialize; such a plan must save a third of the traffic to be chosen.
            // The smallest block (the last one in M and in N) decides; a fold takes at least
            // R + 1 cycles (its weight rows). Folds of a chunk that is no multiple of R are
            // partly empty: their share of extra folds is added to the cost.
            const uint64_t last_m = job.m - (nm - 1) * bm;
            const uint64_t last_n = job.n - (nn - 1) * bn;
            const uint64_t block_tiles = ceil_div(std::min(bm, last_m), TM) *
                                         ceil_div(std::min(bn, last_n), TN);
            const uint64_t stream = config.array.dataflow == Dataflow::kWeightStationary
                                        ? std::min(TM, job.m)
                                        : std::min(TN, job.n);
            const auto R = static_cast<uint64_t>(config.array.rows);
            const auto gap = static_cast<uint64_t>(2 * config.array.rows + config.array.cols +
                                                   config.array.pipe_stages);
            if ((block_tiles - 1) * std::max(stream, R + 1) < gap) cost *= 1.5;
            cost *= static_cast<double>(nk * ceil_div(kc, R)) /
                    static_cast<double>(ceil_div(job.k, R));
          }
          if (!best || cost < best_cost) {
            best = p;
            best_cost = cost;
          }
        }
      }
    }
  }
  if (!best) {
    too_small("partial-sum", b.psum_bytes, tile_psum,
              "the partial sums of one " + std::to_string(TM) + " x " + std::to_string(TN) +
                  " tile, " + std::to_string(entry) + " bytes each");
  }
  return *best;
}

// Output tile slots at most (the ring's index is an int).
constexpr uint64_t kMaxOutputSlots = 1 << 20;
// The most outputs of a fold chain the tile mode holds the sums of (13 bytes each); a block
// pair with more takes its folds one by one.
constexpr uint64_t kMaxChainOutputs = uint64_t{1} << 21;

struct Accelerator::Plan {
  const GemmJob* job = nullptr;
  size_t index = 0;
  LayerPlan layout;
  std::vector<Block> a_blocks;
  std::vector<Block> w_blocks;
  std::vector<Tile> tiles;
  std::vector<size_t> loads_wait_for;  // tile i's loads need this many tiles computed first
  size_t out_tiles = 0;                // tiles of the last K chunk (written to DRAM)
  int out_slots = 1;
  uint64_t out_slot_bytes = 0;
  uint64_t weight_tag = 0;  // TileJob::weight_tag once all resident weights are loaded
  size_t loaded = 0;
  size_t consumed = 0;  // tiles whose operands the array no longer needs
  size_t computed = 0;  // tiles whose results have left the array
  size_t written = 0;  // output tiles
  size_t outputs_computed = 0;  // output tiles in the output buffer or written
  uint64_t w_bytes_read = 0;  // the loader's weight traffic (the rest it reads is the input)
  // Per tile: when the input bytes its loads read are in the buffer (its weights follow them
  // on the DRAM channel); splits the array's waits for operands into input and weights.
  std::vector<sc_time> a_arrives;
  sc_time start;
  LayerStats stats;
};

Accelerator::Accelerator(sc_core::sc_module_name name, const AcceleratorConfig& config,
                         std::unique_ptr<ArrayBackend> backend)
    : sc_module(name),
      dma_socket("dma_socket"),
      job_in("job_in"),
      done_out("done_out"),
      config_(validated(config)),
      backend_(backend             ? std::move(backend)
               : config_.scaled ? make_scaled_array(config_.array, *config_.scaled, config_.mode)
                                : make_cpp_array(config_.array, config_.format, config_.mode)),
      activation_buffer_("activation_buffer", config_.buffers.activation_bytes),
      weight_buffer_("weight_buffer", config_.buffers.weight_bytes),
      output_buffer_("output_buffer", config_.buffers.output_bytes),
      psum_buffer_("psum_buffer", config_.buffers.psum_bytes) {
  SC_THREAD(controller_thread);
  SC_THREAD(loader_thread);
  SC_THREAD(compute_thread);
  SC_THREAD(writer_thread);
}

Accelerator::~Accelerator() = default;

void Accelerator::check_fits(const GemmJob& job) const { plan_of(job); }

const LayerPlan& Accelerator::plan_of(const GemmJob& job) const {
  std::vector<uint64_t> key = {job.m, job.n, job.k, job.conv.has_value(), job.scaled != nullptr};
  if (job.conv) {
    const ConvGeometry& g = *job.conv;
    key.insert(key.end(), {g.in_h, g.in_w, g.channels, g.filter_h, g.filter_w, g.stride, g.pad,
                           g.pixel_channels});
  }
  if (job.scaled) key.insert(key.end(), {job.scaled->taps, job.scaled->channels});
  const auto it = plans_.find(key);
  if (it != plans_.end()) return it->second;
  return plans_.emplace(std::move(key), plan_layer(job, config_)).first->second;
}

uint64_t Accelerator::cycles(const sc_time& t) const {
  return static_cast<uint64_t>(t / config_.clock_period + 0.5);
}

namespace {
// `payload` set up for one transaction of `length` bytes at `address`, not yet answered.
void set_transaction(tlm::tlm_generic_payload& payload, tlm::tlm_command command,
                     uint64_t address, unsigned char* data, uint64_t length) {
  payload.set_command(command);
  payload.set_address(address);
  payload.set_data_ptr(data);
  payload.set_data_length(static_cast<unsigned int>(length));
  payload.set_streaming_width(static_cast<unsigned int>(length));
  payload.set_byte_enable_ptr(nullptr);
  payload.set_dmi_allowed(false);
  payload.set_response_status(tlm::TLM_INCOMPLETE_RESPONSE);
}
}  // namespace

bool Accelerator::transfer(tlm::tlm_generic_payload& payload, tlm::tlm_command command,
                           uint64_t address, unsigned char* data, uint64_t length,
                           sc_time& delay) {
  set_transaction(payload, command, address, data, length);
  ++trace_.dma_in_flight;  // until the caller has waited the delay
  dma_socket->b_transport(payload, delay);
  if (payload.is_response_error()) {
    fail(std::string("DMA ") + (command == tlm::TLM_READ_COMMAND ? "read" : "write") + " of " +
         bytes_text(length) + " at DRAM address " + std::to_string(address) +
         " failed: " + payload.get_response_string());
    return false;
  }
  (command == tlm::TLM_READ_COMMAND ? dma_bytes_read_ : dma_bytes_written_) += length;
  return true;
}

void Accelerator::controller_thread() {
  run_controller();
  end_thread();
}

void Accelerator::run_controller() {
  using Order = LayerPlan::Order;
  for (size_t li = 0;; ++li) {
    const GemmJob* job = job_in.read();
    if (job == nullptr) {
      // The host has no more work: the workers end (see loader_thread).
      no_more_work_ = true;
      layer_start_.notify(sc_core::SC_ZERO_TIME);
      return;
    }
    const GemmJob& layer = *job;
    auto plan = std::make_unique<Plan>();
    Plan& p = *plan;
    p.job = job;
    p.index = li;
    p.layout = plan_of(layer);  // checked when the layer was added
    const LayerPlan& lp = p.layout;
    const uint64_t TM = lp.tile_m;  // a tile's outputs (the array's R x C when output-stationary)
    const uint64_t TN = lp.tile_n;
    // The output buffer is a ring of tile slots: as many as it holds, so that the writer's DRAM
    // latency does not hold up tiles whose results leave the array meanwhile.
    const uint64_t out_bytes = output_bytes(config_);
    p.out_slots = static_cast<int>(std::clamp<uint64_t>(
        config_.buffers.output_bytes / (TM * TN * out_bytes), 1, kMaxOutputSlots));
    p.out_slot_bytes = TM * TN * out_bytes;
    const uint64_t entry = psum_entry_bytes(config_);
    const uint64_t nm = ceil_div(layer.m, lp.block_m);
    const uint64_t nn = ceil_div(layer.n, lp.block_n);
    const uint64_t nk = lp.k_chunks;
    const uint64_t all_tn = ceil_div(layer.n, TN);

    // The block loops in the plan's order; within a block, tiles M-major so that the tiles of
    // a row share their activations. A block is loaded when it differs from the last one
    // loaded, into the next slot once the tiles using that slot's content are computed.
    std::vector<size_t> slot_last_use_a(2, 0), slot_last_use_w(2, 0);
    std::vector<bool> slot_used_a(2, false), slot_used_w(2, false);
    size_t last_a = SIZE_MAX, last_w = SIZE_MAX;
    uint64_t last_a_key = UINT64_MAX, last_w_key = UINT64_MAX;
    auto emit = [&](uint64_t mi, uint64_t ni, uint64_t ki) {
      const uint64_t m_first = mi * lp.block_m;
      const uint64_t m_count = std::min(lp.block_m, layer.m - m_first);
      const uint64_t n_first = ni * lp.block_n;
      const uint64_t n_count = std::min(lp.block_n, layer.n - n_first);
      const uint64_t k0 = ki * lp.chunk_k;
      const uint64_t kc = std::min(lp.chunk_k, layer.k - k0);
      bool new_a = false, new_w = false;
      if (mi * nk + ki != last_a_key) {
        Block blk{m_first, m_count, k0, kc, 0};
        blk.slot = static_cast<int>(p.a_blocks.size() % static_cast<size_t>(lp.a_slots));
        if (layer.conv) {
          blk.band_oy0 = m_first / layer.conv->out_w();
          blk.band_rows = band_rows(*layer.conv, out_rows_spanned(*layer.conv, m_first, m_count));
        }
        p.a_blocks.push_back(blk);
        last_a = p.a_blocks.size() - 1;
        last_a_key = mi * nk + ki;
        new_a = true;
      }
      if (ni * nk + ki != last_w_key) {
        Block blk{n_first, n_count, k0, kc, 0};
        blk.slot = static_cast<int>(p.w_blocks.size() % static_cast<size_t>(lp.w_slots));
        p.w_blocks.push_back(blk);
        last_w = p.w_blocks.size() - 1;
        last_w_key = ni * nk + ki;
        new_w = true;
      }
      const auto a_slot = static_cast<size_t>(p.a_blocks[last_a].slot);
      const auto w_slot = static_cast<size_t>(p.w_blocks[last_w].slot);
      // Weight-/input-stationary: the chunk in folds of at most R, each over the block's
      // tiles before the next resumes their partial sums.
      const uint64_t folds = ceil_div(kc, lp.fold_k);
      // In the tile mode a chunk of several folds is one fold chain, whose sums are held
      // for the pair's outputs (a partial-sum store's worth: at most kMaxChainOutputs).
      const bool chained = folds > 1 && !config_.scaled && backend_->computes_ahead() &&
                           m_count * n_count <= kMaxChainOutputs;
      for (uint64_t f = 0; f < folds; ++f) {
        for (uint64_t m0 = m_first; m0 < m_first + m_count; m0 += TM) {
          for (uint64_t n0 = n_first; n0 < n_first + n_count; n0 += TN) {
            const size_t i = p.tiles.size();
            Tile t;
            t.m0 = m0;
            t.n0 = n0;
            t.k_off = f * lp.fold_k;
            t.kf = std::min(lp.fold_k, kc - t.k_off);
            t.rows = static_cast<int>(std::min(TM, layer.m - m0));
            t.cols = static_cast<int>(std::min(TN, layer.n - n0));
            t.a_block = last_a;
            t.w_block = last_w;
            t.load_a = new_a;
            t.load_w = new_w;
            t.first_chunk = ki == 0 && f == 0;
            t.last_chunk = ki + 1 == nk && f + 1 == folds;
            t.chained = chained;
            // The partial sums of the region the K loop runs over.
            uint64_t slot = 0;
            if (lp.order == Order::kMKN) {
              slot = (m0 - m_first) / TM * all_tn + n0 / TN;
            } else if (lp.order == Order::kNKM) {
              slot = m0 / TM * ceil_div(n_count, TN) + (n0 - n_first) / TN;
            } else {
              slot = (m0 - m_first) / TM * ceil_div(n_count, TN) + (n0 - n_first) / TN;
            }
            t.psum_offset = slot * TM * TN * entry;
            t.out_index = t.last_chunk ? p.out_tiles++ : 0;
            size_t need = 0;
            if (new_a && slot_used_a[a_slot]) need = slot_last_use_a[a_slot] + 1;
            if (new_w && slot_used_w[w_slot]) need = std::max(need, slot_last_use_w[w_slot] + 1);
            p.loads_wait_for.push_back(need);
            p.tiles.push_back(t);
            new_a = new_w = false;
            slot_last_use_a[a_slot] = slot_last_use_w[w_slot] = i;
            slot_used_a[a_slot] = slot_used_w[w_slot] = true;
          }
        }
      }
    };
    // Every (block of M, block of N, chunk) once: R x C tiles over the layer per fold.
    uint64_t folds_per_tile = 0;
    for (uint64_t ki = 0; ki < nk; ++ki) {
      folds_per_tile += ceil_div(std::min(lp.chunk_k, layer.k - ki * lp.chunk_k), lp.fold_k);
    }
    const uint64_t tiles = ceil_div(layer.m, TM) * all_tn * folds_per_tile;
    p.tiles.reserve(tiles);
    p.loads_wait_for.reserve(tiles);
    switch (lp.order) {
      case Order::kMNK:
        for (uint64_t mi = 0; mi < nm; ++mi)
          for (uint64_t ni = 0; ni < nn; ++ni)
            for (uint64_t ki = 0; ki < nk; ++ki) emit(mi, ni, ki);
        break;
      case Order::kMKN:
        for (uint64_t mi = 0; mi < nm; ++mi)
          for (uint64_t ki = 0; ki < nk; ++ki)
            for (uint64_t ni = 0; ni < nn; ++ni) emit(mi, ni, ki);
        break;
      case Order::kNMK:
        for (uint64_t ni = 0; ni < nn; ++ni)
          for (uint64_t mi = 0; mi < nm; ++mi)
            for (uint64_t ki = 0; ki < nk; ++ki) emit(mi, ni, ki);
        break;
      case Order::kNKM:
        for (uint64_t ni = 0; ni < nn; ++ni)
          for (uint64_t ki = 0; ki < nk; ++ki)
            for (uint64_t mi = 0; mi < nm; ++mi) emit(mi, ni, ki);
        break;
    }

    LayerStats& s = p.stats;
    s.name = layer.name;
    s.m = layer.m;
    s.n = layer.n;
    s.k = layer.k;
    s.tiles = p.tiles.size();
    s.double_buffered = (lp.a_slots == 2 || p.a_blocks.size() == 1) &&
                        (lp.w_slots == 2 || p.w_blocks.size() == 1);
    s.weights_resident = lp.weights_resident();
    s.loop_order = lp.order_name();
    s.k_chunks = lp.k_chunks;
    s.dram_lower_bound = dram_lower_bound(layer);
    if (config_.scaled) {  // the outputs' other bytes (MX: FP32) and every scale byte once
      const uint64_t pixels = layer.conv ? layer.conv->stored_h() * layer.conv->stored_w() : 0;
      s.dram_lower_bound +=
          layer.m * layer.n * (output_bytes(config_) - 1) +
          (layer.conv ? a_scale_bytes(config_, layer, pixels, layer.conv->channels, true)
                      : a_scale_bytes(config_, layer, layer.m, layer.k, false)) +
          w_scale_bytes(config_, layer, layer.n, layer.k);
    }
    const ArrayActivity activity_before = backend_->activity();
    const uint64_t dma_read_before = dma_bytes_read_;
    const uint64_t dma_written_before = dma_bytes_written_;
    const Sram* buffers[] = {&activation_buffer_, &weight_buffer_, &output_buffer_, &psum_buffer_};
    OperandTraffic* operands[] = {&s.ifmap, &s.filter, &s.ofmap, &s.psum};
    uint64_t read_before[4], written_before[4];
    for (int b = 0; b < 4; ++b) {
      read_before[b] = buffers[b]->bytes_read();
      written_before[b] = buffers[b]->bytes_written();
    }
    p.a_arrives.assign(p.tiles.size(), sc_core::SC_ZERO_TIME);
    p.start = sc_core::sc_time_stamp();
    plan_ = std::move(plan);
    layer_start_.notify(sc_core::SC_ZERO_TIME);

    while (plan_->written < plan_->out_tiles && error_.empty()) wait(written_);
    if (!error_.empty()) {
      sc_core::sc_stop();
      return;
    }

    s.total_cycles = cycles(sc_core::sc_time_stamp() - p.start);
    const uint64_t array_done = s.compute_cycles + s.stall_cycles;
    s.writeback_cycles = s.total_cycles > array_done ? s.total_cycles - array_done : 0;
    s.macs = layer.m * layer.n * layer.k;
    finish_stats(s, config_.array);
    const ArrayActivity after = backend_->activity();
    s.zero_macs = after.zero_macs - activity_before.zero_macs;
    s.multiplies = s.macs - s.zero_macs;
    s.shifts = !config_.scaled && is_lbfp(config_.format) ? s.multiplies : 0;
    s.accumulates = s.macs - s.zero_macs;
    s.requantizations = layer.m * layer.n;
    s.dram_bytes_read = dma_bytes_read_ - dma_read_before;
    s.dram_bytes_written = dma_bytes_written_ - dma_written_before;
    s.sram_bytes_read = s.sram_bytes_written = 0;
    for (int b = 0; b < 4; ++b) {
      operands[b]->sram_read = buffers[b]->bytes_read() - read_before[b];
      operands[b]->sram_write = buffers[b]->bytes_written() - written_before[b];
      s.sram_bytes_read += operands[b]->sram_read;
      s.sram_bytes_written += operands[b]->sram_write;
    }
    // DRAM per operand: the loader reads the input feature map and the weights, the writer
    // writes the outputs; partial sums never leave the chip.
    s.ofmap.dram_write = s.dram_bytes_written;
    s.filter.dram_read = p.w_bytes_read;
    s.ifmap.dram_read = s.dram_bytes_read - p.w_bytes_read;
    stats_.push_back(s);
    done_out.write(job);
  }
}

Accelerator::Plan* Accelerator::wait_for_layer(size_t next) {
  while (!no_more_work_ && (!plan_ || plan_->index != next)) wait(layer_start_);
  return no_more_work_ ? nullptr : plan_.get();
}

// The three workers' work ends when the host has no more work, so that no buffer outlives the
// simulation on a suspended thread's stack (LeakSanitizer does not scan SystemC's coroutine
// stacks). Their heap state lives in members (plan_, staging_) for the same reason: after an
// error they stay suspended when the controller stops the simulation.
void Accelerator::loader_thread() {
  run_loader();
  end_thread();
}

void Accelerator::run_loader() {
  tlm::tlm_generic_payload& payload = loader_payload_;
  std::vector<Code>& staging = staging_;
  const Code zero = zero_code(config_);
  for (size_t next = 0;; ++next) {
    Plan* plan = wait_for_layer(next);
    if (plan == nullptr) return;
    Plan& p = *plan;
    const GemmJob& layer = *p.job;
    const LayerPlan& lp = p.layout;
    const uint64_t k = layer.k;
    for (size_t i = 0; i < p.tiles.size(); ++i) {
      const Tile& t = p.tiles[i];
      while (p.consumed < p.loads_wait_for[i]) wait(computed_);  // the slot is free again
      // One descriptor per block: its reads are all issued now (the memory's channel serializes
      // their transfers and overlaps their latencies) and the thread waits for the last.
      sc_time delay = sc_core::SC_ZERO_TIME;
      const auto read = [&](uint64_t address, Code* data, uint64_t length) {
        sc_time d = sc_core::SC_ZERO_TIME;
        const bool ok = transfer(payload, tlm::TLM_READ_COMMAND, address, data, length, d);
        delay = std::max(delay, d);
        return ok;
      };
      // A format of spec section 13: a block's scale bytes follow its codes, in memory (one
      // transaction) and in the buffer slot.
      const auto load_scales = [&](Sram& buffer, uint64_t address, uint64_t offset,
                                   uint64_t dram_bytes, uint64_t sram_bytes) {
        if (sram_bytes == 0) return true;
        scale_staging_.assign(sram_bytes, 0);
        if (dram_bytes > 0 && !read(address, scale_staging_.data(), dram_bytes)) return false;
        Code* to = buffer.write({offset, 1, sram_bytes, sram_bytes});
        std::copy(scale_staging_.begin(), scale_staging_.end(), to);
        return true;
      };
      if (t.load_a) {
        const Block& blk = p.a_blocks[t.a_block];
        const uint64_t base = static_cast<uint64_t>(blk.slot) * lp.a_slot_bytes;
        uint64_t a_read = 0;  // codes read from memory
        if (layer.conv) {
          // The feature-map band: its rows (and columns) of the chunk's channels, NHWC.
          const ConvGeometry& g = *layer.conv;
          const uint64_t cc = blk.kc / g.taps();
          const uint64_t c0 = blk.k0 / g.taps();
          const uint64_t cols = band_cols(g);
          const uint64_t bytes = blk.band_rows * cols * cc;
          Code* band = activation_buffer_.write({base, 1, bytes, bytes});
          // A padded map's border: the loader writes zero codes, memory holds no byte of it.
          const auto stored_col = [&](uint64_t b) {
            const uint64_t ix = band_input_col(g, b);
            return ix >= g.pad && ix - g.pad < g.stored_w();
          };
          const uint64_t pitch = g.pixel_pitch();
          for (uint64_t j = 0; j < blk.band_rows; ++j) {
            const uint64_t iy = band_input_row(g, blk.band_oy0, j);
            Code* row = band + j * cols * cc;
            if (iy < g.pad || iy - g.pad >= g.stored_h()) {
              std::fill(row, row + cols * cc, zero);
              continue;
            }
            for (uint64_t x = 0; x < cols;) {
              if (!stored_col(x)) {
                std::fill(row + x * cc, row + (x + 1) * cc, zero);
                ++x;
                continue;
              }
              // A run of band columns contiguous in memory: whole pixels, consecutive columns.
              uint64_t run = 1;
              if (cc == pitch) {
                while (x + run < cols && stored_col(x + run) &&
                       band_input_col(g, x + run) == band_input_col(g, x) + run) {
                  ++run;
                }
              }
              const uint64_t address =
                  layer.a_address +
                  (((iy - g.pad) * g.stored_w() + band_input_col(g, x) - g.pad) * pitch + c0);
              if (!read(address, row + x * cc, run * cc)) return;
              a_read += run * cc;
              x += run;
            }
          }
          if (config_.scaled &&
              !load_scales(activation_buffer_, layer.a_scale_address, base + bytes,
                           a_scale_bytes(config_, layer, a_read / cc, cc, true),
                           a_scale_bytes(config_, layer, blk.band_rows * cols, cc, true))) {
            return;
          }
        } else {
          Code* slot = activation_buffer_.write({base, blk.count, blk.kc, blk.kc});
          const bool whole = blk.kc == k;
          for (uint64_t r = 0; r < (whole ? 1 : blk.count); ++r) {
            const uint64_t bytes = whole ? blk.count * k : blk.kc;
            if (!read(layer.a_address + (blk.first + r) * k + blk.k0, slot + r * blk.kc, bytes)) {
              return;
            }
          }
          const uint64_t scale = a_scale_bytes(config_, layer, blk.count, blk.kc, false);
          if (config_.scaled && !load_scales(activation_buffer_, layer.a_scale_address,
                                             base + blk.count * blk.kc, scale, scale)) {
            return;
          }
        }
      }
      p.a_arrives[i] = sc_core::sc_time_stamp() + delay;
      if (t.load_w) {
        // Weight rows are contiguous in memory (one per output channel); the DMA stores the
        // chunk transposed, kc x columns, as the array reads it.
        const Block& blk = p.w_blocks[t.w_block];
        const uint64_t bytes = blk.count * blk.kc;
        staging.resize(bytes + 15);  // detail::transpose_bytes reads 15 bytes past a row
        for (uint64_t c = 0; c < blk.count; ++c) {
          if (!read(layer.w_address + (blk.first + c) * k + blk.k0, staging.data() + c * blk.kc,
                    blk.kc)) {
            return;
          }
        }
        p.w_bytes_read += bytes;
        const uint64_t ldb = blk.count;
        Code* block = weight_buffer_.write(
            {static_cast<uint64_t>(blk.slot) * lp.w_slot_bytes, blk.kc, blk.count, ldb});
        detail::transpose_bytes(staging.data(), blk.kc, blk.count, blk.kc, block, ldb);
        if (config_.scaled) {
          const uint64_t scale = w_scale_bytes(config_, layer, blk.count, blk.kc);
          if (!load_scales(weight_buffer_, layer.w_scale_address,
                           static_cast<uint64_t>(blk.slot) * lp.w_slot_bytes + bytes, scale,
                           scale)) {
            return;
          }
          p.w_bytes_read += scale;
        }
      }
      wait(delay);
      p.loaded = i + 1;
      trace_.input_tiles = p.loaded - p.consumed;
      loaded_.notify(sc_core::SC_ZERO_TIME);
    }
  }
}

void Accelerator::compute_thread() {
  run_compute();
  end_thread();
}

void Accelerator::run_compute() {
  const sc_time period = config_.clock_period;
  const auto tick = [&](int64_t n) { wait(period * static_cast<double>(n)); };
  const int acc = config_.scaled ? (config_.scaled->is_mx() ? 32 : config_.scaled->acc_bits())
                                 : acc_bits(config_.format);
  const uint64_t entry = psum_entry_bytes(config_);
  // The array reports each tile's events from inside the backend calls below, in hand-over order.
  backend_->set_listener(
      {[this](uint64_t tile) {
         const auto [plan, i] = handed_[static_cast<size_t>(tile - first_handed_)];
         plan->consumed = i + 1;  // its operand slots are free again
         trace_.input_tiles = plan->loaded - plan->consumed;
         computed_.notify(sc_core::SC_ZERO_TIME);
       },
       [this](uint64_t tile, const TileResult& r) {
         const auto [plan, i] = handed_.front();
         if (tile != first_handed_) fail("the array finished tiles out of order");
         handed_.pop_front();
         ++first_handed_;
         finish_tile(*plan, i, r);
       }});
  for (size_t next = 0;; ++next) {
    Plan* plan = wait_for_layer(next);
    if (plan == nullptr) return;
    Plan& p = *plan;
    const GemmJob& layer = *p.job;
    const LayerPlan& lp = p.layout;
    LayerStats& s = p.stats;
    const auto out_slots = static_cast<size_t>(p.out_slots);
    size_t gathered_block = SIZE_MAX;  // the windows_ the address generator last formed
    uint64_t streamed = 0;             // cycles in which the array takes an operand step
    // The (A block, W block) pair whose tiles the tile mode may compute in one kernel call.
    size_t pair_a = SIZE_MAX, pair_w = SIZE_MAX;
    uint64_t pair_tag = 0;
    bool pair_ahead = false;  // the pair's tiles are computed over weights_ahead_
    // The (A block, W block) pair of the fold chain in flight (Tile::chained).
    size_t chain_a = SIZE_MAX, chain_w = SIZE_MAX;
    uint64_t chain_tag = 0;
    size_t resident_a = SIZE_MAX;  // the activation block of last_reuse_tag_ (resident weights)
    // TileJob::a_tag: a new tag whenever the tiles move to another activation block, which
    // stays whole in its slot (and its windows in windows_) while its tiles are computed,
    // whatever weights they meet. (Unique in the process: nothing keyed by one can outlive
    // its accelerator and meet another's.)
    size_t tagged_a = SIZE_MAX;
    uint64_t a_tag = 0;
    auto a_tag_of = [&](size_t a_block) {
      static std::atomic<uint64_t> tags{0};
      if (a_block != tagged_a) {
        tagged_a = a_block;
        a_tag = ++tags;
      }
      return a_tag;
    };
    // The tiles whose operands' release a load waits for: the loader resumes in that cycle.
    // (The writer waits for the last chunk's results; this thread sees every event up to the
    // cycle it resumes in. The tile mode stops for no other event: TileJob::release_watched.)
    std::vector<bool> release_watched(p.tiles.size(), trace_every_event_);
    for (const size_t need : p.loads_wait_for) {
      if (need > 0) release_watched[need - 1] = true;
    }
    // K split: each tile's previous chunk of the same outputs (its partial sums must have left
    // the array and be in the store before this chunk resumes them).
    std::vector<size_t> previous_chunk(p.tiles.size(), SIZE_MAX);
    {
      std::map<std::pair<uint64_t, uint64_t>, size_t> last;
      for (size_t i = 0; i < p.tiles.size(); ++i) {
        const auto key = std::make_pair(p.tiles[i].m0, p.tiles[i].n0);
        const auto it = last.find(key);
        if (!p.tiles[i].first_chunk && it != last.end()) previous_chunk[i] = it->second;
        last[key] = i;
      }
    }
    try {
      for (size_t i = 0; i < p.tiles.size(); ++i) {
        const Tile& t = p.tiles[i];
        const Block& ab = p.a_blocks[t.a_block];
        const Block& wb = p.w_blocks[t.w_block];
        trace_.layer = next;
        trace_.tile = i;
        // Waiting for operands, output space or the previous chunk's partial sums; the array
        // meanwhile finishes earlier tiles. Each check follows a delta cycle: the loader and the
        // writer, woken in the same cycle, have then made their updates, whatever order the
        // kernel runs the processes in.
        const auto no_output_space = [&] {
          return t.last_chunk && t.out_index >= p.written + out_slots;
        };
        const auto partial_sums_pending = [&] {
          return previous_chunk[i] != SIZE_MAX && p.computed <= previous_chunk[i];
        };
        const auto ready = [&] {
          return p.loaded > i && !no_output_space() && !partial_sums_pending();
        };
        // The counts only grow: a tile ready now is ready at the cycle the array can take it,
        // and after a delta cycle. The tile mode then hands it over at that cycle, without the
        // simulated time first going there (TileJob::handover_ahead) and without the delta
        // cycle; else the time catches up with the array first. (The cycle mode, the
        // reference, always takes both steps.)
        const bool tile_mode = config_.mode == SimMode::kTile;
        const bool ahead = tile_mode && !trace_every_event_ && ready();
        if (!ahead) s.compute_cycles += static_cast<uint64_t>(backend_->catch_up(tick));
        const sc_time waiting = sc_core::sc_time_stamp();
        uint64_t busy = 0;
        sc_time waiting_loads = sc_core::SC_ZERO_TIME;  // idle with operands missing
        sc_time waiting_input = sc_core::SC_ZERO_TIME;  // of that, their input bytes missing
        if (!tile_mode || !ready()) wait(sc_core::SC_ZERO_TIME);
        while ((p.loaded <= i || no_output_space() || partial_sums_pending()) && error_.empty()) {
          trace_.stall = p.loaded <= i ? kWaitOperands
                         : no_output_space() ? kWaitOutputSpace
                                             : kNoStall;
          if (backend_->busy()) {
            // Waiting for partial sums alone: they come with a tile's results, and the counts
            // already there only grow, so the tile mode goes straight to the next results.
            const bool sums_alone = p.loaded > i && !no_output_space();
            busy += static_cast<uint64_t>(sums_alone ? backend_->step_to_results(tick)
                                                     : backend_->step(tick));
            trace_.array_busy = backend_->busy();
            wait(sc_core::SC_ZERO_TIME);
          } else if (partial_sums_pending()) {
            fail("layer '" + layer.name + "': tile " + std::to_string(i) +
                 " waits for partial sums the array does not hold");
          } else {
            // Idle: operands missing come first, then output space.
            const bool loads = trace_.stall == kWaitOperands;
            const size_t loading = p.loaded;
            const sc_time idle_from = sc_core::sc_time_stamp();
            wait(loaded_ | written_);
            const sc_time idle_to = sc_core::sc_time_stamp();
            if (loads) {
              waiting_loads += idle_to - idle_from;
              const sc_time input_to = std::min(idle_to, p.a_arrives[loading]);
              if (input_to > idle_from) waiting_input += input_to - idle_from;
            }
          }
        }
        trace_.stall = kNoStall;
        if (!error_.empty()) return;
        s.compute_cycles += busy;
        const uint64_t stalled = cycles(sc_core::sc_time_stamp() - waiting) - busy;
        const uint64_t stalled_loads = std::min(stalled, cycles(waiting_loads));
        const uint64_t stalled_input = std::min(stalled_loads, cycles(waiting_input));
        s.stall_cycles += stalled;
        s.stall_ifmap_cycles += stalled_input;
        s.stall_filter_cycles += stalled_loads - stalled_input;
        s.stall_output_cycles += stalled - stalled_loads;

        const auto rows = static_cast<uint64_t>(t.rows);
        const auto cols = static_cast<uint64_t>(t.cols);
        const uint64_t kc = ab.kc;
        const uint64_t kf = t.kf;  // this fold's part of the chunk, from t.k_off
        TileJob job;
        ScaledTile scaled_tile;
        job.rows = t.rows;
        job.cols = t.cols;
        job.k = static_cast<int64_t>(kf);
        // The array reads the fold's rows x kf activations and kf x cols weights (each once: the
        // stationary operand into the PEs, the other streamed).
        const uint64_t a_base = static_cast<uint64_t>(ab.slot) * lp.a_slot_bytes;
        if (layer.conv) {
          // The address generator forms the windows of the tile's output pixels from the band.
          const ConvGeometry& g = *layer.conv;
          const uint64_t cc = kc / g.taps();
          const uint64_t band_bytes = ab.band_rows * band_cols(g) * cc;
          const Code* band =
              activation_buffer_.read({a_base, 1, band_bytes, band_bytes}, rows * kf);
          // The windows of all the block's output pixels at once (the tile mode may compute
          // the block's later tiles ahead from them); each tile still reads its own bytes.
          if (gathered_block != t.a_block) {
            // Window element (c, kh, kw) of output pixel (oy, ox) is the band's NHWC element
            // (oy sh + kh, ox sw + kw, c) (conv2d_input_index on band_shape, which has no
            // padding: the band holds its zeros): per tap, the pixel's cc channels are
            // contiguous in the band and go to every taps-th byte of the window.
            const Conv2dShape shape = band_shape(g, ab.band_rows, cc);
            const uint64_t taps = g.filter_h * g.filter_w;
            const uint64_t width = shape.in_width;
            windows_.resize(ab.count * kc);
#if defined(__x86_64__)
            const bool by_nine = taps == 9 && have_vbmi();
#else
            const bool by_nine = false;
#endif
            if (taps > 1 && !by_nine) {
              // Window element (c, kh, kw) is the band byte (kh * width + kw) * cc + c after
              // the window's top-left pixel.
              window_offsets_.resize(kc);
              for (uint64_t c = 0; c < cc; ++c) {
                for (uint64_t kh = 0; kh < g.filter_h; ++kh) {
                  for (uint64_t kw = 0; kw < g.filter_w; ++kw) {
                    window_offsets_[c * taps + kh * g.filter_w + kw] =
                        static_cast<uint32_t>((kh * width + kw) * cc + c);
                  }
                }
              }
            }
            for (uint64_t r = 0; r < ab.count; ++r) {
              const uint64_t oy = (ab.first + r) / g.out_w() - ab.band_oy0;
              const uint64_t ox = (ab.first + r) % g.out_w();
              Code* row = windows_.data() + r * kc;
#if defined(__x86_64__)
              if (by_nine) {
                const Code* tap[9];
                for (uint64_t w = 0; w < 9; ++w) {  // window element w = kh * filter_w + kw
                  const uint64_t kh = w / g.filter_w, kw = w % g.filter_w;
                  tap[w] = band + ((oy * shape.stride_height + kh) * width +
                                   ox * shape.stride_width + kw) * cc;
                }
                gather_window9(tap, cc, row);
                continue;
              }
#endif
              const Code* origin =
                  band + (oy * shape.stride_height * width + ox * shape.stride_width) * cc;
              if (taps == 1) {
                std::memcpy(row, origin, cc);
                continue;
              }
              // Every window's bytes lie at the same offsets from its top-left pixel.
              const uint32_t* offsets = window_offsets_.data();
              for (uint64_t e = 0; e < kc; ++e) row[e] = origin[offsets[e]];
            }
            gathered_block = t.a_block;
          }
          job.a = windows_.data() + (t.m0 - ab.first) * kc + t.k_off;
        } else {
          job.a = activation_buffer_.read(
              {a_base + (t.m0 - ab.first) * kc + t.k_off, rows, kf, kc});
        }
        job.lda = kc;
        if (config_.scaled) {
          // The tile's scale bytes, after the codes in each slot.
          const uint64_t a_codes = layer.conv ? ab.band_rows * band_cols(*layer.conv) *
                                                    (kc / layer.conv->taps())
                                              : ab.count * kc;
          const uint64_t a_slot_scales = lp.a_slot_bytes - a_codes;
          const uint64_t a_scales = a_scale_bytes(config_, layer, rows, kf, false);
          if (a_scales > 0) {
            activation_buffer_.read({a_base + a_codes, 1, a_slot_scales, a_slot_scales},
                                    a_scales);
          }
          const uint64_t w_codes = wb.count * kc;
          const uint64_t w_scales =
              is_mx(config_) || t.last_chunk ? w_scale_bytes(config_, layer, cols, kf) : 0;
          if (w_scales > 0) {
            const uint64_t w_slot_scales = w_scale_bytes(config_, layer, wb.count, kc);
            weight_buffer_.read({static_cast<uint64_t>(wb.slot) * lp.w_slot_bytes + w_codes, 1,
                                 w_slot_scales, w_slot_scales},
                                w_scales);
          }
          scaled_tile.layer = layer.scaled.get();
          scaled_tile.row0 = t.m0;
          scaled_tile.col0 = t.n0;
          scaled_tile.c0 = layer.scaled ? (ab.k0 + t.k_off) / layer.scaled->taps : 0;
          job.scaled = &scaled_tile;
        }
        const uint64_t ldb = wb.count;
        job.b = weight_buffer_.read({static_cast<uint64_t>(wb.slot) * lp.w_slot_bytes +
                                         t.k_off * ldb + (t.n0 - wb.first),
                                     kf, cols, ldb});
        job.ldb = ldb;
        const bool os = config_.array.dataflow == Dataflow::kOutputStationary;
        if (t.chained) {
          // The pair's tiles take the chunk's folds in turn (fold-major), both blocks whole in
          // their slots meanwhile: one fold chain over the pair's region.
          if (t.a_block != chain_a || t.w_block != chain_w) {
            chain_a = t.a_block;
            chain_w = t.w_block;
            chain_tag = ++reuse_tags_;
            ++compute_ahead_.fold_chains;
          }
          job.chunk_k = static_cast<int64_t>(kc);
          job.fold_k0 = static_cast<int64_t>(t.k_off);
          job.fold_tag = chain_tag;
          job.lookahead_rows = static_cast<int64_t>(ab.first + ab.count - t.m0 - rows);
          job.lookahead_cols = static_cast<int64_t>(wb.first + wb.count - t.n0 - cols);
          // The fold's A view is the same for the pair's tiles in a row, its B view for those
          // in a column: their activity counts are taken once.
          job.a_tag = a_tag_of(t.a_block);
          job.weight_tag = chain_tag;
        } else if (os && lp.weights_resident() && t.m0 > 0) {
          // The later tiles of the activation block use the same activations (the block stays
          // whole in its slot until they are computed) and the weights, all loaded once the
          // first row of tiles is done: the rest of the row and the rows below.
          job.lookahead_cols = static_cast<int64_t>(layer.n - t.n0) - t.cols;
          job.lookahead_rows = static_cast<int64_t>(ab.first + ab.count - t.m0) - t.rows;
          if (t.a_block != resident_a) {  // a new activation block
            resident_a = t.a_block;
            last_reuse_tag_ = ++reuse_tags_;
          }
          job.reuse_tag = last_reuse_tag_;
          job.a_tag = a_tag_of(t.a_block);
          if (p.weight_tag == 0) p.weight_tag = ++reuse_tags_;
          job.weight_tag = p.weight_tag;
        } else if (os && t.first_chunk) {
          // Both blocks are whole in their slots from the pair's first tile until its last
          // tile is computed, and the pair's tiles follow one another (rows of tiles, M-major):
          // the tiles below and to the right, up to the blocks' ends, read the same codes.
          if (t.a_block != pair_a || t.w_block != pair_w) {
            pair_a = t.a_block;
            pair_w = t.w_block;
            pair_tag = ++reuse_tags_;
            pair_ahead = !lp.weights_resident() && !config_.scaled &&
                         backend_->computes_ahead() &&
                         weights_ahead(p, i, job.b - (t.n0 - wb.first));
          }
          const uint64_t b_end = pair_ahead ? weights_ahead_.c1 : wb.first + wb.count;
          job.lookahead_cols = static_cast<int64_t>(b_end - t.n0) - t.cols;
          // With resident weights the rows below take the branch above (all weights loaded).
          job.lookahead_rows = lp.weights_resident()
                                   ? 0
                                   : static_cast<int64_t>(ab.first + ab.count - t.m0) - t.rows;
          job.reuse_tag = pair_tag;
          if (pair_ahead) {  // the same codes as the slot's, in the columns read ahead
            const WeightsAhead& w = weights_ahead_;
            job.ahead_b = w.codes.data() + (t.n0 - w.c0);
            job.ahead_ldb = w.c1 - w.c0;
            job.reuse_tag = w.tag;
            job.weight_tag = pair_tag;  // the slot's codes, the same for the pair's tiles
          }
          job.a_tag = a_tag_of(t.a_block);
        }
        job.a_exponent = layer.a_exponent;
        job.b_exponents = layer.w_exponents.data() + t.n0;
        job.bias = layer.bias.empty() || !t.first_chunk ? nullptr : layer.bias.data() + t.n0;
        job.out_exponent = layer.out_exponent;
        job.relu = layer.relu;
        trace_.array_busy = true;
        // K split: resume the partial sums the previous chunk left in the store.
        const uint64_t psum_bytes = rows * cols * entry;
        if (!t.first_chunk && config_.scaled) {
          const Code* from = psum_buffer_.read({t.psum_offset, 1, psum_bytes, psum_bytes});
          resume_flags_.resize(rows * cols);
          resume_wide_.resize(rows * cols);
          for (uint64_t j = 0; j < rows * cols; ++j) {
            get_psum_wide(from + j * entry, acc, entry, resume_wide_[j], resume_flags_[j]);
          }
          if (is_mx(config_)) {
            resume_sums_.resize(rows * cols);
            for (uint64_t j = 0; j < rows * cols; ++j) {
              const auto bits = static_cast<uint32_t>(resume_wide_[j]);
              std::memcpy(&resume_sums_[j], &bits, 4);
            }
            scaled_tile.init_sum = resume_sums_.data();
          } else {
            scaled_tile.init_acc = resume_wide_.data();
          }
          job.init_overflow = resume_flags_.data();
        } else if (t.chained && t.k_off > 0) {
          // A later fold of a chain: the backend holds the sums; their bytes are counted.
          psum_buffer_.read({t.psum_offset, 1, psum_bytes, psum_bytes});
        } else if (!t.first_chunk) {
          const Code* from = psum_buffer_.read({t.psum_offset, 1, psum_bytes, psum_bytes});
          resume_acc_.resize(rows * cols);
          resume_flags_.resize(rows * cols);
          get_psums(from, rows * cols, acc, entry, resume_acc_.data(), resume_flags_.data());
          job.init_acc = resume_acc_.data();
          job.init_overflow = resume_flags_.data();
        }
        job.requantize = t.last_chunk;
        job.keep_sums = !t.last_chunk;  // finish_tile stores only a last chunk's codes
        job.release_watched = release_watched[i];
        job.done_watched = t.last_chunk || trace_every_event_;
        job.handover_ahead = ahead;
        handed_.emplace_back(&p, i);
        // The array takes one operand step per k of the tile (output-stationary), per row
        // (weight-stationary) or per column (input-stationary).
        streamed += static_cast<uint64_t>(
            array_tile_steps(backend_->geometry(), job.rows, job.cols, job.k));
        try {
          s.compute_cycles += static_cast<uint64_t>(backend_->run_tile(job, tick));
        } catch (const std::exception& e) {
          fail("layer '" + layer.name + "' (" + std::to_string(next) + "), tile " +
               std::to_string(i) + " (outputs from row " + std::to_string(t.m0) + ", column " +
               std::to_string(t.n0) + "): " + e.what());
          return;
        }
        trace_.array_busy = backend_->busy();
      }
      // The layer's last tiles drain before the next layer starts.
      s.compute_cycles += static_cast<uint64_t>(backend_->flush(tick));
      s.fill_drain_cycles = s.compute_cycles > streamed ? s.compute_cycles - streamed : 0;
      trace_.array_busy = false;
    } catch (const std::exception& e) {
      fail("layer '" + layer.name + "' (" + std::to_string(next) + "): " + e.what());
      return;
    }
  }
}

bool Accelerator::weights_ahead(const Plan& p, size_t i, const Code* block) {
  const Tile& t = p.tiles[i];
  const GemmJob& layer = *p.job;
  const Block& wb = p.w_blocks[t.w_block];
  const uint64_t k = layer.k;
  WeightsAhead& w = weights_ahead_;
  const bool same_block = w.layer == p.index && w.a_block == t.a_block;
  // A new activation block, or the next run of the same (the last ended at its size limit).
  if (!same_block || (w.valid && wb.first == w.c1)) {
    w.layer = p.index;
    w.a_block = t.a_block;
    w.valid = false;
    // The run: the weight blocks the activation block meets next, in column order, each of
    // the whole reduction (one chunk, one fold). Its sums within one call of the array model
    // (every row of the activation block, in whole tiles), its codes within 1 MiB (in L2 for
    // the checks and the activity counts).
    constexpr uint64_t kMaxBytes = uint64_t{1} << 20;
    const Block& ab = p.a_blocks[t.a_block];
    const uint64_t rows = ceil_div(ab.count, static_cast<uint64_t>(t.rows)) *
                          static_cast<uint64_t>(t.rows);
    const uint64_t max_cols =
        std::min(kMaxBytes / k, static_cast<uint64_t>(ArrayModel::kAheadOutputs) / rows);
    if (ab.kc != k) return false;
    uint64_t c1 = wb.first;
    size_t blocks = 0;
    size_t last = SIZE_MAX;
    for (size_t j = i; j < p.tiles.size() && p.tiles[j].a_block == t.a_block; ++j) {
      const Tile& u = p.tiles[j];
      if (!u.first_chunk || !u.last_chunk || u.k_off != 0 || u.kf != k) break;
      if (u.w_block == last) continue;
      const Block& b = p.w_blocks[u.w_block];
      if (b.first != c1 || b.kc != k || b.first + b.count - wb.first > max_cols) break;
      c1 = b.first + b.count;
      last = u.w_block;
      ++blocks;
    }
    if (blocks < 2) return false;
    // Weight rows (one per output channel) from memory, then transposed as the DMA stores them.
    const uint64_t cols = c1 - wb.first;
    if (w.codes.size() < k * cols) w.codes.resize(k * cols);  // (kept at its largest)
    const uint64_t step = std::max<uint64_t>(1, (uint64_t{256} << 10) / k);
    for (uint64_t r0 = 0; r0 < cols; r0 += step) {
      const uint64_t n = std::min(step, cols - r0);
      // (detail::transpose_bytes reads 15 bytes past a row)
      if (w.rows.size() < n * k + 15) w.rows.resize(n * k + 15);
      set_transaction(w.payload, tlm::TLM_READ_COMMAND, layer.w_address + (wb.first + r0) * k,
                      w.rows.data(), n * k);
      if (dma_socket->transport_dbg(w.payload) != n * k) return false;  // the loads will tell
      detail::transpose_bytes(w.rows.data(), k, n, k, w.codes.data() + r0, cols);
    }
    w.c0 = wb.first;
    w.c1 = c1;
    w.tag = ++reuse_tags_;
    w.valid = true;
    ++compute_ahead_.runs;
  }
  if (!w.valid || wb.first < w.c0 || wb.first + wb.count > w.c1) return false;
  // The block in its slot (k x count) against its columns read ahead.
  const uint64_t cols = w.c1 - w.c0;
  const Code* ahead = w.codes.data() + (wb.first - w.c0);
  // (Eight bytes at a time, the differences of all rows or'ed together: a reduction per row
  // cost more than its loads.)
  uint64_t diff = 0;
  const uint64_t words = wb.count / 8 * 8;
  for (uint64_t kk = 0; kk < k; ++kk) {
    const Code* x = block + kk * wb.count;
    const Code* y = ahead + kk * cols;
    for (uint64_t c = 0; c < words; c += 8) {
      uint64_t u, v;
      std::memcpy(&u, x + c, 8);
      std::memcpy(&v, y + c, 8);
      diff |= u ^ v;
    }
    for (uint64_t c = words; c < wb.count; ++c) diff |= static_cast<uint64_t>(x[c] ^ y[c]);
  }
  if (diff != 0) {
    ++compute_ahead_.changed;
    return false;
  }
  ++compute_ahead_.blocks;
  return true;
}

void Accelerator::finish_tile(Plan& p, size_t i, const TileResult& r) {
  const Tile& t = p.tiles[i];
  const auto rows = static_cast<uint64_t>(t.rows);
  const auto cols = static_cast<uint64_t>(t.cols);
  const auto out_slots = static_cast<size_t>(p.out_slots);
  LayerStats& s = p.stats;
  const int acc = config_.scaled ? (config_.scaled->is_mx() ? 32 : config_.scaled->acc_bits())
                                 : acc_bits(config_.format);
  const uint64_t entry = psum_entry_bytes(config_);
  const uint64_t psum_bytes = rows * cols * entry;
  const uint64_t out_row = cols * output_bytes(config_);
  // (Summed in locals: through the stats the loops would not vectorize.)
  uint64_t steps = 0;
  for (const uint64_t n : r.overflow_steps) steps += n;
  s.overflow_steps += steps;
  if (t.last_chunk) {
    Code* out = output_buffer_.write(
        {(t.out_index % out_slots) * p.out_slot_bytes, rows, out_row, out_row});
    std::copy(r.codes.begin(), r.codes.end(), out);
    uint64_t saturated = 0;
    for (const uint8_t flag : r.overflow) saturated += flag;
    s.outputs_saturated += saturated;
  } else if (config_.scaled) {
    Code* to = psum_buffer_.write({t.psum_offset, 1, psum_bytes, psum_bytes});
    for (uint64_t j = 0; j < rows * cols; ++j) {
      Int128 value = 0;
      if (is_mx(config_)) {
        uint32_t bits = 0;
        std::memcpy(&bits, &r.sums[j], 4);
        value = bits;
      } else {
        value = r.acc_wide[j];
      }
      put_psum_wide(to + j * entry, value, r.overflow[j], acc, entry);
    }
  } else {
    Code* to = psum_buffer_.write({t.psum_offset, 1, psum_bytes, psum_bytes});
    // A fold before its chain's last gives no sums (the backend holds them): counted only.
    if (!t.chained || t.k_off + t.kf == p.a_blocks[t.a_block].kc) {
      put_psums(to, r.acc.data(), r.overflow.data(), rows * cols, acc, entry);
    }
  }
  p.computed = i + 1;
  if (t.last_chunk) p.outputs_computed = t.out_index + 1;
  trace_.output_tiles = p.outputs_computed - p.written;
  computed_.notify(sc_core::SC_ZERO_TIME);
}

void Accelerator::writer_thread() {
  run_writer();
  end_thread();
}

void Accelerator::run_writer() {
  tlm::tlm_generic_payload& payload = writer_payload_;
  for (size_t next = 0;; ++next) {
    Plan* plan = wait_for_layer(next);
    if (plan == nullptr) return;
    Plan& p = *plan;
    const GemmJob& layer = *p.job;
    for (size_t i = 0; i < p.tiles.size(); ++i) {
      const Tile& t = p.tiles[i];
      if (!t.last_chunk) continue;
      while (p.computed <= i) wait(computed_);
      const auto rows = static_cast<uint64_t>(t.rows);
      const auto cols = static_cast<uint64_t>(t.cols);
      const uint64_t ob = output_bytes(config_);
      const Code* tile = output_buffer_.read(
          {(t.out_index % static_cast<size_t>(p.out_slots)) * p.out_slot_bytes, rows, cols * ob,
           cols * ob});
      // One 2-D descriptor: its rows issued back to back (loosely timed: the delays accumulate
      // and the thread waits once).
      sc_time delay = sc_core::SC_ZERO_TIME;
      const uint64_t pitch = layer.out_row_pitch == 0 ? layer.n : layer.out_row_pitch;
      // The payload's data pointer is not const; a write only reads through it.
      const uint64_t burst = transfer_rows(
          payload, layer.out_address + (t.m0 * pitch + t.n0) * ob, pitch * ob,
          const_cast<Code*>(tile), cols * ob, rows, [&](uint64_t address, Code* data) {
            return transfer(payload, tlm::TLM_WRITE_COMMAND, address, data, cols * ob, delay);
          });
      if (burst == 0) return;
      // The rows the burst moved were one transaction; each counts as its own.
      trace_.dma_in_flight += burst - 1;
      dma_bytes_written_ += (burst - 1) * cols * ob;
      wait(delay);
      trace_.dma_in_flight -= rows;
      p.written = t.out_index + 1;
      trace_.output_tiles = p.outputs_computed - p.written;
      written_.notify(sc_core::SC_ZERO_TIME);
    }
  }
}

void Accelerator::fail(const std::string& what) {
  if (error_.empty()) error_ = what;
  written_.notify(sc_core::SC_ZERO_TIME);  // wakes the controller, which stops
}

}  // namespace lbfp::arch
