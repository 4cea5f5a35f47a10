// One tile of a real layer as text: FP32 activations (m x k), weights (k x n) and bias (n), as
// data/make_lenet5_tile.py writes them from sim/models/lenet5.onnx. Read by the RTL array
// testbench and by `lbfp synth` (the layer operand stream).
#pragma once

#include <string>
#include <vector>

namespace lbfp::synth {

struct LayerTile {
  int m = 0;
  int k = 0;
  int n = 0;
  std::vector<float> x;     // m x k, row-major
  std::vector<float> w;     // k x n, row-major
  std::vector<float> bias;  // n
};

// Blocks "activations m k", "weights k n", "bias n", each followed by its values; '#' lines are
// comments. Throws std::runtime_error naming the file on a missing, truncated or mismatched block.
LayerTile read_layer_tile(const std::string& path);

// The committed LeNet-5 fc1 tile of a source tree: data/lenet5_fc1_tile.txt.
std::string lenet5_fc1_tile_path(const std::string& source_dir);

}  // namespace lbfp::synth
