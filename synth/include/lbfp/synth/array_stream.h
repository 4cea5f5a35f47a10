// Operand streams for the whole-array units of `lbfp synth` (kinds array and arrayws: the R x C
// output-stationary rtl/systolic_array.sv and weight-stationary rtl/systolic_array_ws.sv). A GEMM
// out = A B is played through the array's own protocol (synth/harness/array_activity_main.cpp),
// with the output rows the golden reference gives, so that the gate-level netlist is checked on
// the very stream it is measured on.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "lbfp/format.h"
#include "lbfp/synth/layer_tile.h"

namespace lbfp::synth {

// One output row of the array: C sums (A = 32 bits), their sticky overflow flags as a mask
// (column c at bit c) and the C requantized codes packed as out_code_o (0 in the BFP8 array).
struct ArrayRow {
  std::vector<int64_t> acc;
  uint32_t ovf = 0;
  uint64_t code = 0;
  bool operator==(const ArrayRow& o) const {
    return acc == o.acc && ovf == o.ovf && code == o.code;
  }
};

struct ArrayStream {
  bool weight_stationary = false;
  int rows = 0;  // R
  int cols = 0;  // C
  int m = 0;     // the GEMM: A is m x k, B k x n
  int k = 0;
  int n = 0;
  uint64_t macs = 0;               // m * k * n
  std::vector<std::string> beats;  // the harness's beat lines (array_activity_main.cpp)
  std::vector<ArrayRow> expected;  // the output rows, in the order the array puts them out
};

// The GEMM A (m x k) B (k x n), row-major codes of `format` (lbfp8 or bfp8), as the array's
// beats. Output-stationary: tiles of R rows by C columns (row tiles outer), each a preload of
// zero start values and k steps. Weight-stationary: for each C columns, folds of R reduction
// rows (k order), each R weight rows and m steps whose start values are the earlier folds'
// partial sums and flags. Column j requantizes with the offset -bitlength(max |out[.][j]|)
// (out_exp 0), so the codes cover the format's range. Throws std::invalid_argument unless R
// divides m (output-stationary) or k (weight-stationary) and C divides n.
ArrayStream array_stream(const std::string& format, bool weight_stationary, int rows, int cols,
                         int m, int k, int n, const std::vector<Code>& a,
                         const std::vector<Code>& b);
// The GEMM shape played for a budget of `ops` MACs on the tile's data: its first
// floor(m / R) R rows, floor(k / R) R reduction steps and N columns, N a multiple of C as near
// ops / (m k) as fits (at least C).
void array_gemm_shape(const LayerTile& tile, int rows, int cols, size_t ops, int& m, int& k,
                      int& n);
// The committed layer tile's GEMM (quantized as layer_stream quantizes it).
ArrayStream layer_array_stream(const LayerTile& tile, const std::string& format,
                               bool weight_stationary, int rows, int cols, size_t ops);
// The same shape with uniformly random codes (uniform_stream's codes).
ArrayStream uniform_array_stream(const LayerTile& tile, const std::string& format,
                                 bool weight_stationary, int rows, int cols, size_t ops,
                                 uint64_t seed);
// The harness's stream file: the dims line, then the beats.
void write_array_stream(const ArrayStream& stream, const std::string& path);
// The harness's outputs file; throws std::runtime_error naming the file on a malformed line.
std::vector<ArrayRow> read_array_outputs(const std::string& path, int cols);
// "" when `got` equals stream.expected, else the first difference in words.
std::string compare_array_outputs(const ArrayStream& stream, const std::vector<ArrayRow>& got);

}  // namespace lbfp::synth
