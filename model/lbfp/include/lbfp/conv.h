// Bit-exact 2-D convolution on LBFP and BFP codes, through the GEMM of lbfp/gemm.h (im2col).
//
// Activations carry one exponent for the tensor, weights one per output channel. Where every group
// has one input channel (depthwise: groups = in_channels), the input may carry one exponent per
// channel instead: each output channel then reduces over one input channel, so its products still
// share Ea[c] + Eb[o] (docs/spec.md, section 6). Weights are
// OIHW: [out_channels][in_channels / groups][kernel_height][kernel_width]. Each output sums its
// products in the order of that weight layout, (c, kh, kw) with kw fastest, starting from the
// bias; padding contributes zero products, which never change an A-bit accumulator.
#pragma once

#include <cstddef>
#include <cstdint>

#include "lbfp/format.h"
#include "lbfp/gemm.h"

namespace lbfp {

enum class TensorLayout { kNchw, kNhwc };

struct Conv2dShape {
  size_t batch = 1;
  size_t in_channels = 1;
  size_t in_height = 1;
  size_t in_width = 1;
  size_t out_channels = 1;
  size_t kernel_height = 1;
  size_t kernel_width = 1;
  size_t stride_height = 1;
  size_t stride_width = 1;
  size_t pad_height = 0;  // zeros added above and below
  size_t pad_width = 0;   // zeros added left and right
  size_t groups = 1;      // in_channels and out_channels are multiples; depthwise: in_channels
  TensorLayout layout = TensorLayout::kNchw;  // of input and output alike

  size_t out_height() const;
  size_t out_width() const;
  size_t input_elements() const { return batch * in_channels * in_height * in_width; }
  size_t weight_elements() const;
  size_t output_elements() const { return batch * out_channels * out_height() * out_width(); }
  size_t macs() const;  // multiply-accumulates, padding included
  // Throws std::invalid_argument naming the first inconsistent field.
  void validate() const;
};

// The operands of one convolution (non-owning).
struct Conv2dOperands {
  const Code* input = nullptr;           // input_elements() codes in shape.layout
  int input_exponent = 0;
  const Code* weights = nullptr;         // weight_elements() codes, OIHW
  const int* weight_exponents = nullptr;  // out_channels
  const float* bias = nullptr;           // out_channels, or nullptr
  // in_channels exponents, one per input channel, replacing input_exponent; only for convolutions
  // with one input channel per group (std::invalid_argument otherwise).
  const int* input_channel_exponents = nullptr;
};

// The exponent of the products of output channel `out_channel`'s input: input_exponent, or the
// per-channel exponent of its group's one input channel.
int conv2d_input_exponent(const Conv2dShape& shape, const Conv2dOperands& operands,
                          size_t out_channel);

// Raw accumulators (and per-output overflow counts when not null), output_elements() each, in
// shape.layout.
GemmStats conv2d_accumulate(const LbfpFormat& format, const Conv2dShape& shape,
                            const Conv2dOperands& operands, int64_t* out,
                            uint32_t* overflows = nullptr, const GemmOptions& options = {});
GemmStats conv2d_accumulate(const BfpFormat& format, const Conv2dShape& shape,
                            const Conv2dOperands& operands, int64_t* out,
                            uint32_t* overflows = nullptr, const GemmOptions& options = {});

// Codes of the next layer (exponent out_exponent, optional ReLU), in shape.layout.
GemmStats conv2d_requantize(const LbfpFormat& format, const Conv2dShape& shape,
                            const Conv2dOperands& operands, int out_exponent, bool relu, Code* out,
                            const GemmOptions& options = {});
GemmStats conv2d_requantize(const BfpFormat& format, const Conv2dShape& shape,
                            const Conv2dOperands& operands, int out_exponent, bool relu, Code* out,
                            const GemmOptions& options = {});

// The same with one output exponent per output channel (out_channels of them): requantization is
// per output element, so each channel can round to its own exponent.
GemmStats conv2d_requantize_channels(const LbfpFormat& format, const Conv2dShape& shape,
                                     const Conv2dOperands& operands, const int* out_exponents,
                                     bool relu, Code* out, const GemmOptions& options = {});
GemmStats conv2d_requantize_channels(const BfpFormat& format, const Conv2dShape& shape,
                                     const Conv2dOperands& operands, const int* out_exponents,
                                     bool relu, Code* out, const GemmOptions& options = {});

}  // namespace lbfp
