// The R x C systolic array as plain C++ state advanced once per clock: the cycle-by-cycle model
// the SystemC accelerator runs, held to the RTL's documented timing (rtl/systolic_array.sv,
// docs/microarchitecture.md; the weight-/input-stationary array in docs/dataflows.md).
//
// Output-stationary (the geometry's dataflow):
// The tile's R preload cycles come first (cycles 0 .. R-1: every PE takes its start value, the
// bias or a resumed partial sum). Operand movement is implicit: with the edge skew, A[r][k] and
// B[k][c] meet in PE(r,c) at cycle R + k + r + c of the tile, so each clock advances the
// anti-diagonal band of PEs whose operands arrive in that cycle, in reduction order, through the
// golden accumulator. The array's outputs follow the RTL's: row 0 first, one row per cycle, the
// last in cycle array_tile_cycles(K) - 1. How consecutive tiles overlap is ArrayTimeline's
// business (array_timing.h); this model runs one tile's schedule.
//
// Weight-/input-stationary: the R weight rows (the stationary operand) preload in cycles 0..R-1;
// step s (an output row m = s, or an output column n = s) is taken in cycle R + s, and its
// product of reduction index k = r meets the partial sum flowing south in PE(r, c) in cycle
// R + s + r + c, so every output adds its K products in k order. Output step s leaves in cycle
// R + s + R + C + p, the last in array_tile_cycles(steps) - 1.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <tuple>
#include <unordered_map>
#include <utility>
#include <vector>

#include "lbfp/arch/array_timing.h"
#include "lbfp/gemm.h"
#include "lbfp/number_format.h"
#include "lbfp/scaled_format.h"

namespace lbfp::arch {

// One tile: rows x k codes of A (row stride lda), k x cols codes of B (row stride ldb). What must
// fit the R x C array depends on the dataflow: output-stationary rows <= R, cols <= C (any k);
// weight-stationary k <= R, cols <= C (any rows); input-stationary k <= R, rows <= C (any
// cols). The rest of the array computes on zero codes (as the RTL pads).
struct ScaledLayer;  // accelerator.h

// What a tile of a format of spec section 13 needs beside TileJob: its place in the layer (for
// the layer's scales) and, after the first K chunk, the partial sums it resumes.
struct ScaledTile {
  const ScaledLayer* layer = nullptr;
  uint64_t row0 = 0;  // the tile's first output row and column in the layer
  uint64_t col0 = 0;
  uint64_t c0 = 0;    // MX: the K chunk's first channel (a multiple of 32)
  const Int128* init_acc = nullptr;  // FP8 / INT8: resumed sums (rows x cols), else the bias
  const float* init_sum = nullptr;   // MX: resumed FP32 sums, else TileJob::bias
};

struct TileJob {
  int rows = 0;
  int cols = 0;
  int64_t k = 0;
  const Code* a = nullptr;
  size_t lda = 0;
  const Code* b = nullptr;
  size_t ldb = 0;
  // Exponents: A's block exponent, each column's weight exponent (cols values); a real bias per
  // column (or nullptr) entering the accumulator first, as in the golden GEMM (the RTL array has
  // no bias input: its tiles start from zero); then ReLU and requantization to out_exponent.
  int a_exponent = 0;
  const int* b_exponents = nullptr;
  const float* bias = nullptr;
  int out_exponent = 0;
  bool relu = false;
  // K split: when init_acc is set, each real PE resumes this partial sum (rows x cols, row-major,
  // stride cols) and its sticky overflow flag (init_overflow, 0/1; nullptr: all clear) instead
  // of starting from the bias; the controller passes bias = nullptr for every chunk but the
  // first.
  const int64_t* init_acc = nullptr;
  const uint8_t* init_overflow = nullptr;
  // false for every chunk but the last: no requantization; TileResult::acc / overflow are the
  // partial sums to store (TileResult::codes is not meaningful).
  bool requantize = true;
  // false when only the codes are wanted (a requantized tile whose sums nobody stores): a
  // backend may then leave TileResult::acc empty, and overflow_steps empty where no step
  // saturated. The codes, flags and cycles are the same either way.
  bool keep_sums = true;
  // The B view (with its exponents and bias) continues `lookahead_cols` columns to the right
  // with the same layout, and the same A will be used for them next (resident weights): the
  // tile-level mode may compute those tiles in the same kernel call.
  int64_t lookahead_cols = 0;
  // Likewise the A view continues `lookahead_rows` rows below (stride lda) and those rows will
  // be used next with the same B: the tile-level mode may compute them in the same call too.
  int64_t lookahead_rows = 0;
  // The same codes as the B view, in another view (row stride ahead_ldb) that continues
  // lookahead_cols columns to the right where b's does not (weights read ahead of their loads:
  // Accelerator::ComputeAhead); nullptr: b's own view continues.
  const Code* ahead_b = nullptr;
  size_t ahead_ldb = 0;
  // Identifies the content of A and B for that reuse (one value per layer and row of tiles;
  // buffers are reloaded at the same addresses, so pointers alone do not). 0: no reuse.
  uint64_t reuse_tag = 0;
  // Identifies the content of the whole B buffer while it stays the same (resident weights of
  // one layer, all loaded): tiles with the same b, cols and weight_tag read the same codes.
  // 0: no reuse.
  uint64_t weight_tag = 0;
  // Identifies the content of the A view (a, lda, rows, k and the rows ahead below) while it
  // stays the same: the whole activation block of the tile, whichever weights it meets (the
  // tile-level mode keeps A's activity counts per view while it holds). 0: no reuse.
  uint64_t a_tag = 0;
  // Weight-/input-stationary folds: the tile is one fold of a K chunk of chunk_k steps, fold_k0
  // steps into it, and its A view continues over the whole chunk (fold_k0 columns to the left,
  // the rest to the right, stride lda), as does B's (rows, stride ldb); with lookahead_rows and
  // lookahead_cols, over the region of its block pair's tiles. The region's tiles take the
  // chunk's folds in order, all the region's tiles of a fold before the next fold's, each
  // resuming the fold before through the partial-sum store; fold_tag identifies the chain (the
  // pair and the chunk; 0: none). A backend that computes ahead (ArrayBackend::computes_ahead)
  // then computes the region's sums over the whole chunk once, at its last fold: the caller
  // passes init_acc only at the chunk's first fold (a resumed chunk) and neither stores nor
  // reloads the sums between folds, which such a backend does not give (TileResult's vectors
  // are then empty); the last fold's results are the whole chunk's. Other backends ignore
  // these fields.
  int64_t chunk_k = 0;
  int64_t fold_k0 = 0;
  uint64_t fold_tag = 0;
  const ScaledTile* scaled = nullptr;  // a format of spec section 13 (its own array)
  // Whether something waits, in the very cycle, for the tile's operands to be released (a load
  // into the slots the tile frees, a waveform) or for its results to leave the array (the
  // writer, a waveform). The caller sees every event up to the cycle it next resumes in either
  // way; where nothing waits, the tile-level mode reports the event at the next cycle it stops
  // in, instead of stopping for it (the events, their order and every cycle count the same).
  bool release_watched = true;
  bool done_watched = true;
  // The caller found the tile ready before the cycle the array can take it (operands, output
  // space and the partial sums it resumes all there, each only ever growing) and nothing
  // watches the hand-over itself (no waveform): the tile-level mode takes it at that cycle
  // without advancing the simulated time to it first; ArrayBackend::catch_up advances later,
  // when the caller must wait for something.
  bool handover_ahead = false;
};

struct TileResult {
  int rows = 0;
  int cols = 0;
  std::vector<int64_t> acc;       // rows x cols
  // rows x cols: 1 when any step saturated (the RTL's flag), or the resumed flag was set
  std::vector<uint8_t> overflow;
  std::vector<uint64_t> overflow_steps;  // saturating steps of this tile (chunk) only
  std::vector<Code> codes;        // rows x cols, requantized (when the job asked for it);
                                  // MX: 4 bytes per output, its FP32 sum little-endian
  std::vector<Int128> acc_wide;   // FP8 / INT8 (spec section 13): the sums, acc unused
  std::vector<float> sums;        // MX: the FP32 sums, acc unused
};

struct ArrayActivity {
  uint64_t macs = 0;           // multiply-accumulate steps on real (non-padding) outputs
  uint64_t zero_macs = 0;      // of those, steps with a zero operand (gateable)
  uint64_t requantizations = 0;  // outputs requantized (tiles with requantize only)
};

// Per code of the format: 1 when it is a zero.
std::vector<uint8_t> zero_code_table(const NumberFormat& format);
// The bits that decide zero: a code is zero exactly when (code & mask) == 0 (LBFP: the
// magnitude bits, BFP: all bits). Checked against zero_code_table; throws std::logic_error if
// a format ever breaks the pattern.
Code zero_code_mask(const NumberFormat& format);
// Per reduction step k of a tile: how many of its rows have a non-zero A code, and how many of
// its columns a non-zero B code.
std::vector<uint32_t> nonzero_a_counts(Code zero_mask, const TileJob& job);
std::vector<uint32_t> nonzero_b_counts(Code zero_mask, const TileJob& job);
// Multiply-accumulate steps of a tile on real outputs (rows x cols x K) and how many of them
// have a zero operand, counted from the operand codes (or from their counts above).
ArrayActivity tile_activity(const TileJob& job, const std::vector<uint32_t>& nonzero_a,
                            const std::vector<uint32_t>& nonzero_b);
ArrayActivity tile_activity(Code zero_mask, const TileJob& job);

class ArrayModel {
 public:
  ArrayModel(const ArrayGeometry& geometry, const NumberFormat& format);

  // Tile mode: the most sums one kernel call computes ahead (1 MiB of them, in L2 while the
  // later tiles take their slices); more rows come in the call of the first tile past them.
  // At least one tile's, whatever its width.
  static constexpr int64_t kAheadOutputs = int64_t{1} << 17;

  const ArrayGeometry& geometry() const { return geometry_; }
  // Cycles of one tile of `steps` steps (array_tile_steps), first preload row in to last result
  // out.
  int64_t tile_cycles(int64_t steps) const { return array_tile_cycles(geometry_, steps); }
  // The steps of a tile in this array's dataflow: K, its rows or its cols.
  int64_t tile_steps(const TileJob& job) const {
    return array_tile_steps(geometry_, job.rows, job.cols, job.k);
  }

  // Starts a tile; the array must be idle. Throws std::invalid_argument for a tile larger than
  // the array, an empty reduction, a bias with init_acc or an init_acc outside the A-bit range.
  void start(const TileJob& job);
  // Advances one clock cycle. Returns true while the tile is in flight.
  bool clock();
  bool busy() const { return busy_; }
  // The current cycle's output port: which row drained (output-stationary), which step's outputs
  // (weight-/input-stationary: an output row / column), or -1.
  int output_row() const { return output_row_; }

  // Runs a started tile to completion, cycle by cycle; returns the cycles it took.
  int64_t run_to_completion();
  // The same outputs without stepping cycles, from the fast GEMM kernel (the tile-level mode;
  // a fold chain's folds as TileJob::fold_tag describes); returns tile_cycles(steps). Throws
  // std::logic_error for a fold outside its chain's region or out of the chain's order.
  int64_t compute_whole_tile();

  const TileResult& result() const { return result_; }
  // Exchanges the result with `other` (the next start() sets it up again): the caller keeps
  // this tile's, the model `other`'s buffers.
  void swap_result(TileResult& other) { std::swap(result_, other); }
  const ArrayActivity& activity() const { return activity_; }

 private:
  void mac(int r, int c, int64_t k);
  void reset_accumulators();
  void drain_row(int r);
  void drain_step(int64_t s);  // weight-/input-stationary
  void clock_stationary();     // weight-/input-stationary: this cycle's products
  void drain_output(size_t i, int c, const Accumulator& a);
  bool resumed_overflow(size_t i) const;  // the job's init_overflow of output i

  ArrayGeometry geometry_;
  NumberFormat format_;
  void build_products();
  // Tile mode: computes the sums of `problem` into ahead_ (its scales from the exponents).
  void compute_ahead(const GemmProblem& problem);
  // A fold chain's tile (TileJob::fold_tag): records a resumed chunk's start values at its
  // first fold and computes the region's sums at its last; false for a fold before the last
  // (no sums), else the tile's first row and column in ahead_ and where its resumed flags lie.
  bool fold_chain(size_t& first_row, size_t& offset, const uint8_t*& resumed_flags,
                  size_t& flags_ld);
  // The tile's results from ahead_: its sums from `first_row` and column `offset` there, its
  // resumed flags (or nullptr) rows flags_ld apart, the codes requantized once for the block.
  void take_sums(size_t first_row, size_t offset, const uint8_t* resumed_flags, size_t flags_ld);
  std::vector<int64_t> product_;  // exact products of every code pair, clamped to +-2^A
  std::vector<uint8_t> zero_;     // per code: 1 when it is a zero
  Code zero_mask_ = 0;            // zero_code_mask
  size_t codes_ = 0;              // 2^W
  TileJob job_;
  std::vector<int> scales_;  // per column: exponent of one accumulator LSB
  std::vector<int> tile_scales_;  // the block's column scales, repeated for a group of its rows
  // Tile mode: sums computed ahead for the tiles after the current one (see lookahead_cols and
  // lookahead_rows).
  struct Ahead {
    uint64_t tag = 0;
    const Code* a = nullptr;  // first row computed
    size_t lda = 0;
    const Code* b = nullptr;  // first column computed
    int64_t cols = 0;
    int64_t rows = 0;
    // rows x cols each, written whole by every kernel call before they are read: they grow
    // without copying or zeroing (a grown std::vector would copy and zero the block, whose
    // pages a first write touches anyway). `overflows` only where `saturated` (some step of
    // the call saturated); else every output's count is 0 and it is not written.
    std::unique_ptr<int64_t[]> acc;
    std::unique_ptr<uint32_t[]> overflows;
    size_t capacity = 0;  // elements of each
    bool saturated = false;
    // Each column's scale (from the exponents of the call that computed the block), and the
    // whole block's codes once a tile is requantized (rows x cols, requantized at once for
    // codes_exponent and codes_relu).
    std::vector<int> scales;
    std::vector<Code> codes;
    bool coded = false;
    int codes_exponent = 0;
    bool codes_relu = false;
  } ahead_;
  // Activity counts per (operand, rows or columns, k) while the tag that vouches for the
  // operand's codes holds (a job without one gets them afresh): A's while the activation
  // block's a_tag holds (else the row of tiles' reuse_tag), so that every weight block the
  // activation block meets reuses them; B's while the resident weights' weight_tag (else the
  // reuse_tag) holds.
  struct KeptCounts {
    using Key = std::tuple<const Code*, int, int64_t>;
    std::pair<bool, uint64_t> tag{false, 0};  // (an a_tag rather than another kind, the tag)
    struct KeyHash {
      size_t operator()(const Key& k) const {
        uint64_t h = reinterpret_cast<uintptr_t>(std::get<0>(k));
        h = (h ^ static_cast<uint64_t>(std::get<1>(k))) * 0x9e3779b97f4a7c15ull;
        h = (h ^ static_cast<uint64_t>(std::get<2>(k))) * 0x9e3779b97f4a7c15ull;
        return static_cast<size_t>(h ^ (h >> 29));
      }
    };
    std::unordered_map<Key, std::vector<uint32_t>, KeyHash> counts;
    std::vector<uint32_t> fresh;
    // The last key asked for and its counts (the tiles of a row share their A view): no lookup.
    // (Elements of an unordered_map stay where they are while it grows.)
    const Key* last_key = nullptr;
    const std::vector<uint32_t>* last = nullptr;
    template <class Count>
    const std::vector<uint32_t>& get(std::pair<bool, uint64_t> t, const Key& key,
                                     const Count& count) {
      if (t.second == 0) {
        fresh = count();
        return fresh;
      }
      if (tag != t) {
        counts.clear();
        last_key = nullptr;
        tag = t;
      } else if (last_key != nullptr && *last_key == key) {
        return *last;
      }
      auto [it, added] = counts.try_emplace(key);
      if (added) it->second = count();
      last_key = &it->first;
      last = &it->second;
      return it->second;
    }
  };
  KeptCounts nonzero_a_, nonzero_b_;
  // The fold chain in flight (TileJob::fold_tag): the product over its region from the
  // chunk's first step, and a resumed chunk's start values as its first fold's tiles gave them
  // (m x n each, problem.initial_acc).
  struct FoldChain {
    uint64_t tag = 0;
    GemmProblem problem;
    bool resumed = false;
    std::vector<int64_t> init;
    std::vector<uint8_t> init_flags;
    size_t init_outputs = 0;  // start values recorded so far
    bool computed = false;
  } chain_;
  bool busy_ = false;
  bool accumulators_ready_ = false;
  int64_t cycle_ = 0;
  int64_t total_cycles_ = 0;
  int output_row_ = -1;
  // The golden saturating accumulators: output-stationary R x C (one per PE); weight-/input-
  // stationary rows x cols (one per output, the partial sum travelling down its column).
  std::vector<Accumulator> acc_;
  TileResult result_;
  ArrayActivity activity_;
};

}  // namespace lbfp::arch
