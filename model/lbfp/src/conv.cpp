// Convolution as one GEMM per group: A = im2col of the input (rows: batch x output pixels,
// columns: (c, kh, kw) of the group), B = the group's weights transposed (K x out channels).
#include "lbfp/conv.h"

#include <algorithm>
#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

#include "lbfp/arith.h"
#include "lbfp/x86_intrinsics.h"

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

namespace detail {

void transpose_bytes(const uint8_t* src, size_t src_stride, size_t rows, size_t cols,
                     uint8_t* dst, size_t dst_stride) {
  size_t r0 = 0;
#if defined(__x86_64__)
  for (; r0 < rows; r0 += 16) {
    const size_t nr = std::min<size_t>(16, rows - r0);
    size_t c0 = 0;
    for (; c0 < cols; c0 += 16) {
      const size_t nc = std::min<size_t>(16, cols - c0);
      // Rows past `rows` are zero; columns past `cols` are read (the slack) but never stored.
      __m128i a[16];
      for (size_t r = 0; r < 16; ++r) {
        a[r] = r < nr ? _mm_loadu_si128(
                            reinterpret_cast<const __m128i*>(src + (r0 + r) * src_stride + c0))
                      : _mm_setzero_si128();
      }
      __m128i b[16];
      for (int j = 0; j < 8; ++j) {  // row pairs, columns 0-7 / 8-15
        b[2 * j] = _mm_unpacklo_epi8(a[2 * j], a[2 * j + 1]);
        b[2 * j + 1] = _mm_unpackhi_epi8(a[2 * j], a[2 * j + 1]);
      }
      __m128i c[4][4];  // row quad g: columns 4q .. 4q + 3
      for (int g = 0; g < 4; ++g) {
        c[g][0] = _mm_unpacklo_epi16(b[4 * g], b[4 * g + 2]);
        c[g][1] = _mm_unpackhi_epi16(b[4 * g], b[4 * g + 2]);
        c[g][2] = _mm_unpacklo_epi16(b[4 * g + 1], b[4 * g + 3]);
        c[g][3] = _mm_unpackhi_epi16(b[4 * g + 1], b[4 * g + 3]);
      }
      for (int q = 0; q < 4; ++q) {
        __m128i d[2][2];  // rows 0-7 / 8-15; columns (4q, 4q + 1) / (4q + 2, 4q + 3)
        for (int h = 0; h < 2; ++h) {
          d[h][0] = _mm_unpacklo_epi32(c[2 * h][q], c[2 * h + 1][q]);
          d[h][1] = _mm_unpackhi_epi32(c[2 * h][q], c[2 * h + 1][q]);
        }
        for (int t = 0; t < 2; ++t) {
          const __m128i col[2] = {_mm_unpacklo_epi64(d[0][t], d[1][t]),
                                  _mm_unpackhi_epi64(d[0][t], d[1][t])};
          for (int u = 0; u < 2; ++u) {
            const size_t cc = static_cast<size_t>(4 * q + 2 * t + u);
            if (cc >= nc) continue;
            uint8_t* out = dst + (c0 + cc) * dst_stride + r0;
            if (nr == 16) {
              _mm_storeu_si128(reinterpret_cast<__m128i*>(out), col[u]);
            } else {
              alignas(16) uint8_t lane[16];
              _mm_store_si128(reinterpret_cast<__m128i*>(lane), col[u]);
              size_t r = 0;
              if (nr >= 8) {
                std::memcpy(out, lane, 8);
                r = 8;
              }
              for (; r < nr; ++r) out[r] = lane[r];
            }
          }
        }
      }
    }
  }
#endif
  for (size_t r = r0; r < rows; ++r) {
    for (size_t c = 0; c < cols; ++c) dst[c * dst_stride + r] = src[r * src_stride + c];
  }
}

}  // namespace detail

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
