// Convolution as one GEMM per group: A = im2col of the input (rows: batch x output pixels,
// columns: (c, kh, kw) of the group), B = the group's weights transposed (K x out channels).
#include "lbfp/conv.h"

#include <stdexcept>
#include <string>
#include <vector>

#include "lbfp/arith.h"

namespace lbfp {

size_t Conv2dShape::out_height() const {
  return conv_output_size(in_height, kernel_height, stride_height, pad_height);
}
size_t Conv2dShape::out_width() const {
  return conv_output_size(in_width, kernel_width, stride_width, pad_width);
}
size_t Conv2dShape::weight_elements() const {
  return out_channels * (in_channels / groups) * kernel_height * kernel_width;
}
size_t Conv2dShape::macs() const {
  return output_elements() * (in_channels / groups) * kernel_height * kernel_width;
}

void Conv2dShape::validate() const {
  auto fail = [](const std::string& what) { throw std::invalid_argument("conv2d: " + what); };
  if (batch == 0 || in_channels == 0 || in_height == 0 || in_width == 0 || out_channels == 0 ||
      kernel_height == 0 || kernel_width == 0) {
    fail("every dimension must be positive");
  }
  if (stride_height == 0 || stride_width == 0) fail("strides must be positive");
  if (groups == 0 || in_channels % groups != 0 || out_channels % groups != 0) {
    fail("groups " + std::to_string(groups) + " must divide in_channels " +
         std::to_string(in_channels) + " and out_channels " + std::to_string(out_channels));
  }
  if (in_height + 2 * pad_height < kernel_height || in_width + 2 * pad_width < kernel_width) {
    fail("kernel larger than the padded input");
  }
}

int conv2d_input_exponent(const Conv2dShape& s, const Conv2dOperands& op, size_t out_channel) {
  if (op.input_channel_exponents == nullptr) return op.input_exponent;
  if (s.in_channels != s.groups) {
    throw std::invalid_argument(
        "conv2d: per-channel input exponents need one input channel per group (depthwise); "
        "in_channels " + std::to_string(s.in_channels) + ", groups " + std::to_string(s.groups) +
        ": the products of one output would not share one scale");
  }
  return op.input_channel_exponents[out_channel / (s.out_channels / s.groups)];
}

namespace {

template <class Format>
GemmStats conv_impl(const Format& format, const Conv2dShape& s, const Conv2dOperands& op,
                    int64_t* out, uint32_t* overflows, const GemmOptions& options) {
  s.validate();
  if (op.input == nullptr || op.weights == nullptr || op.weight_exponents == nullptr ||
      out == nullptr) {
    throw std::invalid_argument("conv2d: null input, weights, weight exponents or output");
  }
  const size_t oh = s.out_height();
  const size_t ow = s.out_width();
  const size_t pixels = s.batch * oh * ow;
  const size_t cg = s.in_channels / s.groups;
  const size_t og = s.out_channels / s.groups;
  const size_t kg = cg * s.kernel_height * s.kernel_width;
  const bool nhwc = s.layout == TensorLayout::kNhwc;
  if (op.input_channel_exponents != nullptr) {
    (void)conv2d_input_exponent(s, op, 0);  // throws unless depthwise
    for (size_t c = 0; c < s.in_channels; ++c) check_exponent(op.input_channel_exponents[c]);
  }

  std::vector<Code> a(pixels * kg);
  std::vector<Code> b(kg * og);
  std::vector<int64_t> c(nhwc ? 0 : pixels * og);
  std::vector<uint32_t> c_over(nhwc || overflows == nullptr ? 0 : pixels * og);
  GemmStats total;
  for (size_t g = 0; g < s.groups; ++g) {
    // im2col: row = (n, y, x), column = (c, kh, kw); padding is the zero code.
    for (size_t n = 0; n < s.batch; ++n) {
      im2col(s, op.input, n, g, a.data() + n * oh * ow * kg, kg, 1);
    }
    for (size_t o = 0; o < og; ++o) {
      const Code* w = op.weights + (g * og + o) * kg;
      for (size_t k = 0; k < kg; ++k) b[k * og + o] = w[k];
    }
    GemmProblem p;
    p.m = pixels;
    p.n = og;
    p.k = kg;
    p.a = a.data();
    p.lda = kg;
    p.a_exponent = conv2d_input_exponent(s, op, g * og);
    p.b = b.data();
    p.ldb = og;
    p.b_exponents = op.weight_exponents + g * og;
    p.bias = op.bias ? op.bias + g * og : nullptr;
    GemmStats st;
    if (nhwc) {
      // NHWC output rows are exactly the GEMM rows; the group is a column offset.
      st = gemm_accumulate(format, p, out + g * og, s.out_channels,
                           overflows ? overflows + g * og : nullptr, options);
    } else {
      st = gemm_accumulate(format, p, c.data(), og, overflows ? c_over.data() : nullptr,
                           options);
      for (size_t n = 0; n < s.batch; ++n) {
        for (size_t o = 0; o < og; ++o) {
          const size_t channel = g * og + o;
          for (size_t q = 0; q < oh * ow; ++q) {
            const size_t dst = (n * s.out_channels + channel) * oh * ow + q;
            const size_t src = (n * oh * ow + q) * og + o;
            out[dst] = c[src];
            if (overflows) overflows[dst] = c_over[src];
          }
        }
      }
    }
    total.overflows += st.overflows;
    total.sequential_outputs += st.sequential_outputs;
    total.path = st.path;
  }
  return total;
}

// out_exponents: one per output channel, or nullptr for out_exponent everywhere.
template <class Format>
GemmStats conv_requantize_impl(const Format& format, const Conv2dShape& s,
                               const Conv2dOperands& op, int out_exponent,
                               const int* out_exponents, bool relu, Code* out,
                               const GemmOptions& options) {
  s.validate();
  if (out_exponents != nullptr) {
    for (size_t o = 0; o < s.out_channels; ++o) check_exponent(out_exponents[o]);
  } else {
    check_exponent(out_exponent);
  }
  if (out == nullptr) throw std::invalid_argument("conv2d: null output");
  std::vector<int64_t> acc(s.output_elements());
  const GemmStats st = conv_impl(format, s, op, acc.data(), nullptr, options);
  const size_t plane = s.out_height() * s.out_width();
  // The scale and the output exponent of each channel once, not per element.
  std::vector<int> scales(s.out_channels), exps(s.out_channels);
  for (size_t o = 0; o < s.out_channels; ++o) {
    scales[o] = format.product_scale(conv2d_input_exponent(s, op, o), op.weight_exponents[o]);
    exps[o] = out_exponents ? out_exponents[o] : out_exponent;
  }
  if (s.layout == TensorLayout::kNhwc) {
    for (size_t i = 0; i < acc.size(); ++i) {
      const size_t channel = i % s.out_channels;
      out[i] = requantize(format, acc[i], scales[channel], exps[channel], relu);
    }
  } else {
    for (size_t i = 0; i < acc.size(); i += plane) {
      const size_t channel = (i / plane) % s.out_channels;
      for (size_t p = i; p < i + plane; ++p) {
        out[p] = requantize(format, acc[p], scales[channel], exps[channel], relu);
      }
    }
  }
  return st;
}

}  // namespace

GemmStats conv2d_accumulate(const LbfpFormat& format, const Conv2dShape& shape,
                            const Conv2dOperands& operands, int64_t* out, uint32_t* overflows,
                            const GemmOptions& options) {
  return conv_impl(format, shape, operands, out, overflows, options);
}
GemmStats conv2d_accumulate(const BfpFormat& format, const Conv2dShape& shape,
                            const Conv2dOperands& operands, int64_t* out, uint32_t* overflows,
                            const GemmOptions& options) {
  return conv_impl(format, shape, operands, out, overflows, options);
}
GemmStats conv2d_requantize(const LbfpFormat& format, const Conv2dShape& shape,
                            const Conv2dOperands& operands, int out_exponent, bool relu, Code* out,
                            const GemmOptions& options) {
  return conv_requantize_impl(format, shape, operands, out_exponent, nullptr, relu, out, options);
}
GemmStats conv2d_requantize(const BfpFormat& format, const Conv2dShape& shape,
                            const Conv2dOperands& operands, int out_exponent, bool relu, Code* out,
                            const GemmOptions& options) {
  return conv_requantize_impl(format, shape, operands, out_exponent, nullptr, relu, out, options);
}
GemmStats conv2d_requantize_channels(const LbfpFormat& format, const Conv2dShape& shape,
                                     const Conv2dOperands& operands, const int* out_exponents,
                                     bool relu, Code* out, const GemmOptions& options) {
  if (out_exponents == nullptr) throw std::invalid_argument("conv2d: null output exponents");
  return conv_requantize_impl(format, shape, operands, 0, out_exponents, relu, out, options);
}
GemmStats conv2d_requantize_channels(const BfpFormat& format, const Conv2dShape& shape,
                                     const Conv2dOperands& operands, const int* out_exponents,
                                     bool relu, Code* out, const GemmOptions& options) {
  if (out_exponents == nullptr) throw std::invalid_argument("conv2d: null output exponents");
  return conv_requantize_impl(format, shape, operands, 0, out_exponents, relu, out, options);
}

}  // namespace lbfp
