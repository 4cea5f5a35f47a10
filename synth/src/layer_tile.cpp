#include "lbfp/synth/layer_tile.h"

#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace lbfp::synth {
namespace {

constexpr size_t kMaxTileValues = size_t{1} << 24;

// "<tag> <dims...>" followed by the values.
std::vector<float> read_block(std::istream& in, const std::string& tag, int dims,
                              std::vector<int>& shape) {
  std::string word;
  in >> word;
  if (word != tag) throw std::runtime_error("expected '" + tag + "', found '" + word + "'");
  shape.assign(static_cast<size_t>(dims), 0);
  size_t count = 1;
  for (int& d : shape) {
    in >> d;
    if (!in || d <= 0) throw std::runtime_error("bad dimensions of block '" + tag + "'");
    count *= static_cast<size_t>(d);
    // A tile is a sample of a layer: refuse a header that would allocate gigabytes.
    if (count > kMaxTileValues) {
      throw std::runtime_error("block '" + tag + "' claims more than " +
                               std::to_string(kMaxTileValues) + " values");
    }
  }
  std::vector<float> values(count);
  for (float& v : values) in >> v;
  if (!in) throw std::runtime_error("truncated block '" + tag + "'");
  return values;
}

}  // namespace

LayerTile read_layer_tile(const std::string& path) {
  std::ifstream file(path);
  if (!file) throw std::runtime_error("cannot open layer tile " + path);
  std::stringstream text;
  std::string line;
  while (std::getline(file, line)) {
    if (!line.empty() && line[0] != '#') text << line << "\n";
  }
  try {
    LayerTile t;
    std::vector<int> shape;
    t.x = read_block(text, "activations", 2, shape);
    t.m = shape[0];
    t.k = shape[1];
    t.w = read_block(text, "weights", 2, shape);
    if (shape[0] != t.k) throw std::runtime_error("weights do not match the activations");
    t.n = shape[1];
    t.bias = read_block(text, "bias", 1, shape);
    if (shape[0] != t.n) throw std::runtime_error("bias does not match the weights");
    return t;
  } catch (const std::runtime_error& e) {
    throw std::runtime_error(path + ": " + e.what());
  }
}

std::string lenet5_fc1_tile_path(const std::string& source_dir) {
  return (std::filesystem::path(source_dir) / "data" / "lenet5_fc1_tile.txt")
      .string();
}

}  // namespace lbfp::synth
