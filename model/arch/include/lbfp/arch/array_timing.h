// Cycle timing of the systolic arrays (rtl/systolic_array.sv, output-stationary;
// rtl/systolic_array_ws.sv, weight- and input-stationary), the one set of formulas that the RTL
// testbenches, `lbfp cosim` and the SystemC model are all held to. The derivations, stage by
// stage, are in docs/microarchitecture.md ("Latency", "Weight- and input-stationary array").
// array_tile_cycles is also the weight- and input-stationary fold's closed form with K -> M (N).
#pragma once

#include <algorithm>
#include <cstdint>

namespace lbfp::arch {

// Which operand stays in the PEs: output-stationary (rtl/systolic_array.sv: the sums stay, K
// streams), weight-stationary (rtl/systolic_array_ws.sv: a K chunk of weights stays, M streams)
// or input-stationary (the same array with the operands' roles swapped: N streams).
enum class Dataflow { kOutputStationary, kWeightStationary, kInputStationary };

struct ArrayGeometry {
  int rows = 4;         // R
  int cols = 4;         // C
  int pipe_stages = 1;  // registers between a PE's multiplier and its accumulator
  Dataflow dataflow = Dataflow::kOutputStationary;
};

// Cycles between a tile's first step and the first preload row of the next: max(p, 1).
constexpr int64_t array_preload_gap(const ArrayGeometry& g) {
  return g.pipe_stages > 1 ? g.pipe_stages : 1;
}

// Cycles between two tiles' last steps at least: max(R, C) (one result row leaves per cycle,
// and PE (r, 0) of a tile may not finish before row r of the previous one has left).
constexpr int64_t array_last_gap(const ArrayGeometry& g) { return std::max(g.rows, g.cols); }

// Cycles of one isolated tile with a K-step reduction fed without gaps, counted from the cycle
// its first preload row is presented to the cycle its last result row is on the outputs, both
// included: K + 2R + C + pipe_stages. Of these, R preload the start values (one row per cycle),
// K are input, R - 1 + C - 1 the skew, pipe_stages + 1 the PE's multiplier pipeline and
// accumulator, then the rows leave one per cycle (R - 1 after the first) and 1 is the output
// register.
constexpr int64_t array_tile_cycles(const ArrayGeometry& g, int64_t k) {
  return k + 2 * int64_t{g.rows} + g.cols + g.pipe_stages;
}

// Cycles from one tile's first step to the next tile's first step in a steady stream of tiles
// of the same K, each handed over as soon as the array takes it: max(K, R + max(p, 1), C). The
// next tile's preload (R rows) starts max(p, 1) cycles after the previous first step, and last
// steps are at least max(R, C) apart (array_last_gap; R + max(p, 1) > R).
constexpr int64_t array_tile_interval(const ArrayGeometry& g, int64_t k) {
  return std::max({k, int64_t{g.rows} + array_preload_gap(g), int64_t{g.cols}});
}

// The cycle (0 = first preload row presented) at which the first result row is on the outputs
// of an isolated tile.
constexpr int64_t array_first_result_cycle(const ArrayGeometry& g, int64_t k) {
  return array_tile_cycles(g, k) - g.rows;
}

// The array's flow control as arithmetic: for tiles handed over one after another, the cycles
// at which each one's preload starts, its first and last steps are taken and its last result
// row is on the outputs, given the cycle it was handed over (its preload may be presented from
// then on; the operand steps follow the previous tile's without a gap). Cycle numbers are the
// caller's; the RTL driver and the C++ array use the same ones.
class ArrayTimeline {
 public:
  struct Tile {
    int64_t preload = 0;  // first preload row taken (rows follow one per cycle)
    int64_t first = 0;    // first step taken
    int64_t last = 0;     // last step taken: the operands are no longer needed after it
    int64_t end = 0;      // the last result row is on the outputs in this cycle
    // The earliest hand-over of the next tile that does not delay it: its preload may start.
    int64_t next_handover = 0;
  };

  explicit ArrayTimeline(const ArrayGeometry& g) : g_(g) {}

  // `steps`: K for output-stationary, M (tile rows) for weight-stationary, N (tile columns) for
  // input-stationary. A weight- or input-stationary fold preloads its R weight rows from one
  // cycle after the previous fold's first step, and its steps follow the previous fold's.
  Tile add(int64_t handed_over, int64_t steps) {
    Tile t;
    const int64_t rows = g_.rows;
    if (g_.dataflow != Dataflow::kOutputStationary) {
      t.preload = started_ ? std::max(handed_over, first_ + 1) : handed_over;
      t.first = std::max(t.preload + rows, started_ ? last_ + 1 : 0);
      t.last = t.first + steps - 1;
      t.end = t.last + rows + g_.cols + g_.pipe_stages;
      t.next_handover = t.first + 1;
      first_ = t.first;
      last_ = t.last;
      started_ = true;
      return t;
    }
    const int64_t k = steps;
    t.preload = started_ ? std::max(handed_over, first_ + array_preload_gap(g_)) : handed_over;
    if (k == 1) {  // the first step is the last one
      t.first = std::max(t.preload + rows, started_ ? last_ + array_last_gap(g_) : 0);
      t.last = t.first;
    } else {
      t.first = std::max(t.preload + rows, started_ ? last_ + 1 : 0);
      t.last = std::max(t.first + k - 1, started_ ? last_ + array_last_gap(g_) : 0);
    }
    t.end = t.last + rows + g_.cols + g_.pipe_stages;
    t.next_handover = t.first + array_preload_gap(g_);
    first_ = t.first;
    last_ = t.last;
    started_ = true;
    return t;
  }

 private:
  ArrayGeometry g_;
  bool started_ = false;
  int64_t first_ = 0;
  int64_t last_ = 0;
};

}  // namespace lbfp::arch
