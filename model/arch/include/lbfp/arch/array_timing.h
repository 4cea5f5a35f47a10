// Cycle timing of the systolic arrays, the one set of formulas that the RTL testbenches,
// `lbfp cosim` and the SystemC model are all held to: the output-stationary array
// (rtl/systolic_array.sv) and the weight-/input-stationary one (rtl/systolic_array_ws.sv, one
// module for both). The derivations, stage by stage, are in docs/microarchitecture.md
// ("Pipeline and latency", "Weight- and input-stationary array"); the model's use of them in
// docs/dataflows.md.
#pragma once

#include <algorithm>
#include <cstdint>

namespace lbfp::arch {

// Which operand stays in the PEs (docs/dataflows.md):
// - output-stationary: PE(r,c) accumulates out[m0+r][n0+c]; K streams (tile rows <= R,
//   cols <= C, any K);
// - weight-stationary: PE(r,c) holds B[k0+r][n0+c]; the tile's M rows stream, one output row
//   per step (K <= R, cols <= C, any rows);
// - input-stationary: PE(r,c) holds A[m0+c][k0+r]; the tile's N columns stream, one output
//   column per step (K <= R, rows <= C, any cols).
enum class Dataflow { kOutputStationary, kWeightStationary, kInputStationary };

struct ArrayGeometry {
  int rows = 4;         // R
  int cols = 4;         // C
  int pipe_stages = 1;  // registers between a PE's multiplier and its accumulator
  Dataflow dataflow = Dataflow::kOutputStationary;
};

// "output-stationary", "weight-stationary", "input-stationary".
constexpr const char* dataflow_name(Dataflow d) {
  return d == Dataflow::kWeightStationary  ? "weight-stationary"
         : d == Dataflow::kInputStationary ? "input-stationary"
                                           : "output-stationary";
}
// "os", "ws", "is".
constexpr const char* dataflow_short_name(Dataflow d) {
  return d == Dataflow::kWeightStationary  ? "ws"
         : d == Dataflow::kInputStationary ? "is"
                                           : "os";
}

// The steps a tile of rows x cols outputs and a k-long reduction streams through the array:
// K (output-stationary), rows (weight-stationary) or cols (input-stationary).
constexpr int64_t array_tile_steps(const ArrayGeometry& g, int64_t rows, int64_t cols,
                                   int64_t k) {
  return g.dataflow == Dataflow::kWeightStationary  ? rows
         : g.dataflow == Dataflow::kInputStationary ? cols
                                                    : k;
}

// Cycles between a tile's first step and the first preload row of the next: max(p, 1) for
// output-stationary (the start values enter behind the PE's pipeline); 1 for weight-/input-
// stationary (the next fold's weight rows go into shadow registers, read before the pipeline).
constexpr int64_t array_preload_gap(const ArrayGeometry& g) {
  if (g.dataflow != Dataflow::kOutputStationary) return 1;
  return g.pipe_stages > 1 ? g.pipe_stages : 1;
}

// Cycles between two tiles' last steps at least: max(R, C) (one result row leaves per cycle,
// and PE (r, 0) of a tile may not finish before row r of the previous one has left).
constexpr int64_t array_last_gap(const ArrayGeometry& g) { return std::max(g.rows, g.cols); }

// Cycles of one isolated tile of `steps` steps (array_tile_steps) fed without gaps, counted from
// the cycle its first preload row is presented to the cycle its last result row is on the
// outputs, both included: steps + 2R + C + pipe_stages, for every dataflow. Output-stationary
// (steps = K): Of these, R preload the start values (one row per cycle),
// K are input, R - 1 + C - 1 the skew, pipe_stages + 1 the PE's multiplier pipeline and
// accumulator, then the rows leave one per cycle (R - 1 after the first) and 1 is the output
// register. Weight-/input-stationary (steps = M or N): R weight rows preload, then a step accepted
// in cycle t has its output row (column) on the outputs in cycle t + R + C + p.
constexpr int64_t array_tile_cycles(const ArrayGeometry& g, int64_t steps) {
  return steps + 2 * int64_t{g.rows} + g.cols + g.pipe_stages;
}

// Cycles from one tile's first step to the next tile's first step in a steady stream of tiles
// of the same K, each handed over as soon as the array takes it: max(K, R + max(p, 1), C). The
// next tile's preload (R rows) starts max(p, 1) cycles after the previous first step, and last
// steps are at least max(R, C) apart (array_last_gap; R + max(p, 1) > R). Weight-/input-
// stationary folds of `steps` steps: max(steps, R + 1) (the next fold's weight rows load into the
// shadow registers from one cycle after the previous first step).
constexpr int64_t array_tile_interval(const ArrayGeometry& g, int64_t steps) {
  if (g.dataflow != Dataflow::kOutputStationary) {
    return std::max(steps, int64_t{g.rows} + array_preload_gap(g));
  }
  return std::max({steps, int64_t{g.rows} + array_preload_gap(g), int64_t{g.cols}});
}

// The cycle (0 = first preload row presented) at which the first result row is on the outputs
// of an isolated tile (output-stationary: R rows leave, one per cycle; weight-/input-
// stationary: one output per step).
constexpr int64_t array_first_result_cycle(const ArrayGeometry& g, int64_t steps) {
  return array_tile_cycles(g, steps) -
         (g.dataflow == Dataflow::kOutputStationary ? g.rows : steps);
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

  // `steps`: array_tile_steps (K for output-stationary).
  Tile add(int64_t handed_over, int64_t steps) {
    Tile t;
    const int64_t rows = g_.rows;
    if (g_.dataflow != Dataflow::kOutputStationary) {
      // Weight rows go into shadow registers from one cycle after the previous fold's first step;
      // the fold's steps follow the previous fold's without a gap.
      t.preload = started_ ? std::max(handed_over, first_ + array_preload_gap(g_)) : handed_over;
      t.first = std::max(t.preload + rows, started_ ? last_ + 1 : 0);
      t.last = t.first + steps - 1;
      t.end = t.last + rows + g_.cols + g_.pipe_stages;
      t.next_handover = t.first + array_preload_gap(g_);
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

  // The last tile's next_handover (0 before any): a tile handed over earlier is taken then.
  int64_t next_handover() const { return started_ ? first_ + array_preload_gap(g_) : 0; }

 private:
  ArrayGeometry g_;
  bool started_ = false;
  int64_t first_ = 0;
  int64_t last_ = 0;
};

}  // namespace lbfp::arch
