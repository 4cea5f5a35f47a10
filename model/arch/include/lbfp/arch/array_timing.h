// Cycle timing of the output-stationary systolic array (rtl/systolic_array.sv), the one formula
// that the RTL testbenches, `lbfp cosim` and the SystemC model are all held to. The derivation,
// stage by stage, is in docs/microarchitecture.md ("Latency").
#pragma once

#include <cstdint>

namespace lbfp::arch {

struct ArrayGeometry {
  int rows = 4;         // R
  int cols = 4;         // C
  int pipe_stages = 1;  // registers between a PE's multiplier and its accumulator
};

// Cycles of one tile with a K-step reduction fed without gaps, counted from the cycle the first
// operand is presented at the array's edge to the cycle the last result is on its outputs, both
// included: K + 2R + C + pipe_stages. Of these, K are input, R - 1 + C - 1 the skew, pipe_stages
// + 1 the PE's multiplier pipeline and accumulator, R the drain (one row per cycle; its first
// cycle is the one that captures the last PE's result) and 1 the output register.
constexpr int64_t array_tile_cycles(const ArrayGeometry& g, int64_t k) {
  return k + 2 * int64_t{g.rows} + g.cols + g.pipe_stages;
}

// The cycle (0 = first operand presented) at which the first result row is on the outputs.
constexpr int64_t array_first_result_cycle(const ArrayGeometry& g, int64_t k) {
  return array_tile_cycles(g, k) - g.rows;
}

}  // namespace lbfp::arch
