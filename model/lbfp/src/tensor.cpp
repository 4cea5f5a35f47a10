#include "lbfp/tensor.h"

#include <cmath>
#include <stdexcept>
#include <string>

namespace lbfp {
namespace {

size_t checked_dim(int64_t dim, size_t index) {
  if (dim <= 0) {
    throw std::invalid_argument("tensor dimension " + std::to_string(index) + " is " +
                                std::to_string(dim) + "; dimensions must be positive");
  }
  return static_cast<size_t>(dim);
}

size_t checked_mul(size_t a, size_t b) {
  size_t out = 0;
  if (__builtin_mul_overflow(a, b, &out)) {
    throw std::invalid_argument("tensor element count overflows");
  }
  return out;
}

}  // namespace

std::string Blocking::describe() const {
  switch (kind) {
    case BlockKind::kPerTensor:
      return "per-tensor";
    case BlockKind::kPerChannel:
      return "per-channel(axis=" + std::to_string(axis) + ")";
    case BlockKind::kGroup:
      return "groups(axis=" + std::to_string(axis) + ",size=" + std::to_string(group_size) + ")";
  }
  return "unknown";
}

BlockMap::BlockMap(std::vector<int64_t> shape, Blocking blocking)
    : shape_(std::move(shape)), blocking_(blocking) {
  for (size_t i = 0; i < shape_.size(); ++i) {
    elements_ = checked_mul(elements_, checked_dim(shape_[i], i));
  }
  if (blocking_.kind == BlockKind::kPerTensor) return;
  if (blocking_.axis < 0 || static_cast<size_t>(blocking_.axis) >= shape_.size()) {
    throw std::invalid_argument("block axis " + std::to_string(blocking_.axis) +
                                " is outside a tensor of rank " + std::to_string(shape_.size()));
  }
  const auto axis = static_cast<size_t>(blocking_.axis);
  axis_dim_ = static_cast<size_t>(shape_[axis]);
  for (size_t i = axis + 1; i < shape_.size(); ++i) inner_ *= static_cast<size_t>(shape_[i]);
  const size_t outer = elements_ / (inner_ * axis_dim_);
  if (blocking_.kind == BlockKind::kPerChannel) {
    blocks_ = axis_dim_;
    return;
  }
  if (blocking_.group_size <= 0) {
    throw std::invalid_argument("block group size " + std::to_string(blocking_.group_size) +
                                " must be positive");
  }
  const auto k = static_cast<size_t>(blocking_.group_size);
  axis_groups_ = (axis_dim_ + k - 1) / k;
  blocks_ = outer * axis_groups_ * inner_;
}

size_t BlockMap::block_of(size_t flat_index) const {
  switch (blocking_.kind) {
    case BlockKind::kPerTensor:
      return 0;
    case BlockKind::kPerChannel:
      return (flat_index / inner_) % axis_dim_;
    case BlockKind::kGroup: {
      const size_t inner_index = flat_index % inner_;
      const size_t axis_index = (flat_index / inner_) % axis_dim_;
      const size_t outer_index = flat_index / (inner_ * axis_dim_);
      const size_t group = axis_index / static_cast<size_t>(blocking_.group_size);
      return (outer_index * axis_groups_ + group) * inner_ + inner_index;
    }
  }
  return 0;
}

template <class Format>
std::vector<double> QuantizedTensor<Format>::dequantize() const {
  const BlockMap map(shape, blocking);
  std::vector<double> out(codes.size());
  for (size_t i = 0; i < codes.size(); ++i) {
    out[i] = decode(format, codes[i], exponents[map.block_of(i)]);
  }
  return out;
}

template <class Format>
QuantizedTensor<Format> quantize(const Format& format, const std::vector<float>& data,
                                 const std::vector<int64_t>& shape, const Blocking& blocking,
                                 const std::vector<int>& exponents) {
  const BlockMap map(shape, blocking);
  if (data.size() != map.element_count()) {
    throw std::invalid_argument("tensor has " + std::to_string(data.size()) +
                                " values but its shape holds " +
                                std::to_string(map.element_count()));
  }
  if (exponents.size() != map.block_count()) {
    throw std::invalid_argument(blocking.describe() + " blocking needs " +
                                std::to_string(map.block_count()) + " exponents, got " +
                                std::to_string(exponents.size()));
  }
  for (int e : exponents) check_exponent(e);
  QuantizedTensor<Format> out{format, shape, blocking, std::vector<Code>(data.size()), exponents};
  for (size_t i = 0; i < data.size(); ++i) {
    if (std::isnan(data[i])) {
      throw std::domain_error("element " + std::to_string(i) + " is NaN");
    }
    out.codes[i] = encode(format, data[i], exponents[map.block_of(i)]);
  }
  return out;
}

std::vector<float> block_abs_max(const std::vector<float>& data, const BlockMap& map) {
  if (data.size() != map.element_count()) {
    throw std::invalid_argument("tensor has " + std::to_string(data.size()) +
                                " values but its shape holds " +
                                std::to_string(map.element_count()));
  }
  std::vector<float> amax(map.block_count(), 0.0f);
  for (size_t i = 0; i < data.size(); ++i) {
    if (std::isnan(data[i])) {
      throw std::domain_error("element " + std::to_string(i) + " is NaN");
    }
    float& m = amax[map.block_of(i)];
    m = std::max(m, std::fabs(data[i]));
  }
  return amax;
}

template struct QuantizedTensor<LbfpFormat>;
template struct QuantizedTensor<BfpFormat>;
template LbfpTensor quantize(const LbfpFormat&, const std::vector<float>&,
                             const std::vector<int64_t>&, const Blocking&, const std::vector<int>&);
template BfpTensor quantize(const BfpFormat&, const std::vector<float>&,
                            const std::vector<int64_t>&, const Blocking&, const std::vector<int>&);

}  // namespace lbfp
