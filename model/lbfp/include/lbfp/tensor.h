// Tensors of codes with their shared exponents. A tensor is split into blocks that share one
// exponent: the whole tensor, one block per index of a channel axis, or groups of k consecutive
// elements along an axis (the reduction axis). The exponents always travel with the codes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "lbfp/arith.h"
#include "lbfp/format.h"

namespace lbfp {

enum class BlockKind { kPerTensor, kPerChannel, kGroup };

struct Blocking {
  BlockKind kind = BlockKind::kPerTensor;
  int axis = 0;            // kPerChannel: the channel axis; kGroup: the axis the groups run along
  int64_t group_size = 0;  // kGroup only: elements per group (the last group may be shorter)

  static Blocking per_tensor() { return {}; }
  static Blocking per_channel(int axis) { return {BlockKind::kPerChannel, axis, 0}; }
  static Blocking groups(int axis, int64_t size) { return {BlockKind::kGroup, axis, size}; }
  std::string describe() const;
};

// Maps a row-major element index to its block. Throws std::invalid_argument for an axis outside
// the shape, a non-positive group size or a non-positive dimension.
class BlockMap {
 public:
  BlockMap(std::vector<int64_t> shape, Blocking blocking);

  size_t element_count() const { return elements_; }
  size_t block_count() const { return blocks_; }
  size_t block_of(size_t flat_index) const;
  const std::vector<int64_t>& shape() const { return shape_; }
  const Blocking& blocking() const { return blocking_; }

 private:
  std::vector<int64_t> shape_;
  Blocking blocking_;
  size_t elements_ = 1;
  size_t blocks_ = 1;
  size_t inner_ = 1;       // product of the dimensions after the axis
  size_t axis_dim_ = 1;
  size_t axis_groups_ = 1;  // blocks along the axis
};

template <class Format>
struct QuantizedTensor {
  Format format;
  std::vector<int64_t> shape;
  Blocking blocking;
  std::vector<Code> codes;     // row-major, one per element
  std::vector<int> exponents;  // one per block, in block order

  int exponent_of(size_t flat_index) const {
    return exponents[BlockMap(shape, blocking).block_of(flat_index)];
  }
  std::vector<double> dequantize() const;
};

using LbfpTensor = QuantizedTensor<LbfpFormat>;
using BfpTensor = QuantizedTensor<BfpFormat>;

// Encodes data (row-major, `shape`) with one given exponent per block. Throws std::domain_error
// naming the element index for NaN, std::invalid_argument when the exponent count is not the
// block count, std::out_of_range for an exponent outside [-127, 127].
template <class Format>
QuantizedTensor<Format> quantize(const Format& format, const std::vector<float>& data,
                                 const std::vector<int64_t>& shape, const Blocking& blocking,
                                 const std::vector<int>& exponents);

// The largest |x| of each block (NaN is an error naming the element).
std::vector<float> block_abs_max(const std::vector<float>& data, const BlockMap& map);

}  // namespace lbfp
