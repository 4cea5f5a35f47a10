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

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <vector>

#include "lbfp/format.h"
#include "lbfp/gemm.h"

namespace lbfp {

// The output size along one axis of a window (convolution or pooling) of `kernel` values moved by
// `stride` over `in` values with `pad` zeros on either side. The window must fit:
// in + 2 * pad >= kernel. The one place this formula is written.
constexpr size_t conv_output_size(size_t in, size_t kernel, size_t stride, size_t pad = 0) {
  return (in + 2 * pad - kernel) / stride + 1;
}

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

// The input position under kernel tap (kh, kw) of output pixel (oy, ox), channel `channel` of image
// `image`: an index into the input in shape.layout, or kConvPadding where the tap falls on the
// zero border.
inline constexpr size_t kConvPadding = std::numeric_limits<size_t>::max();
inline size_t conv2d_input_index(const Conv2dShape& s, size_t image, size_t channel, size_t oy,
                                 size_t ox, size_t kh, size_t kw) {
  const size_t iy = oy * s.stride_height + kh;  // in padded coordinates
  const size_t ix = ox * s.stride_width + kw;
  if (iy < s.pad_height || iy - s.pad_height >= s.in_height || ix < s.pad_width ||
      ix - s.pad_width >= s.in_width) {
    return kConvPadding;
  }
  const size_t y = iy - s.pad_height;
  const size_t x = ix - s.pad_width;
  return s.layout == TensorLayout::kNhwc
             ? ((image * s.in_height + y) * s.in_width + x) * s.in_channels + channel
             : ((image * s.in_channels + channel) * s.in_height + y) * s.in_width + x;
}

namespace detail {
// dst[c * dst_stride + r] = src[r * src_stride + c] for r < rows, c < cols: a byte matrix
// transposed in 16 x 16 blocks in SSE2 registers (x86-64), edges included. src must be readable
// 15 bytes past the end of each of its rows.
void transpose_bytes(const uint8_t* src, size_t src_stride, size_t rows, size_t cols,
                     uint8_t* dst, size_t dst_stride);
}  // namespace detail

// im2col of group `group` of image `image`: the GEMM operand whose row p = oy * out_width() + ox
// is an output pixel and whose column k = (c, kh, kw), kw fastest, runs over the group's
// in_channels / groups channels (the order of an OIHW weight row). Element (p, k) is written to
// out[p * row_stride + k * col_stride]: (K, 1) for pixels x K, (1, pixels) for K x pixels.
// Padding is T{} (the zero code, 0.0f). The one im2col of the project: the kernels, the
// evaluator's FP32 path and the simulator's workloads all lower convolutions through it.
template <class T>
void im2col(const Conv2dShape& s, const T* input, size_t image, size_t group, T* out,
            size_t row_stride, size_t col_stride) {
  const size_t oh = s.out_height();
  const size_t ow = s.out_width();
  const size_t cg = s.in_channels / s.groups;
  const bool nhwc = s.layout == TensorLayout::kNhwc;
  // Input strides of channel, row and column, so that the loops below are layout-free.
  const size_t cs = nhwc ? 1 : s.in_height * s.in_width;
  const size_t ys = nhwc ? s.in_width * s.in_channels : s.in_width;
  const size_t xs = nhwc ? s.in_channels : 1;
  const T* base = input + image * s.in_channels * s.in_height * s.in_width + group * cg * cs;
  // The valid output columns of a tap are one range per row, [lo, hi) by kw, so no element pays
  // for a bounds check (the same values as conv2d_input_index gives). Output row by output row,
  // every column (c, kh, kw) of it: a row's part of `out` (ow x K elements) stays in cache while
  // all the taps write it (tap by tap over the whole image swept it K times).
  std::vector<size_t> lo_of(s.kernel_width), hi_of(s.kernel_width);
  for (size_t kw = 0; kw < s.kernel_width; ++kw) {
    // ox is valid when pad_width <= ox * stride + kw < pad_width + in_width.
    size_t lo = 0;
    if (kw < s.pad_width) lo = (s.pad_width - kw + s.stride_width - 1) / s.stride_width;
    size_t hi = 0;  // first invalid ox
    if (s.pad_width + s.in_width > kw) {
      hi = (s.pad_width + s.in_width - kw + s.stride_width - 1) / s.stride_width;
    }
    hi = hi < ow ? hi : ow;
    lo_of[kw] = lo < hi ? lo : hi;
    hi_of[kw] = hi;
  }
  // Output row oy, element (ox, k) to row_out[ox * px_stride + k * k_stride].
  auto fill_row = [&](size_t oy, T* row_out, size_t px_stride, size_t k_stride) {
    size_t k = 0;
    for (size_t c = 0; c < cg; ++c) {
      for (size_t kh = 0; kh < s.kernel_height; ++kh) {
        const size_t iy = oy * s.stride_height + kh;
        const bool row_in = iy >= s.pad_height && iy - s.pad_height < s.in_height;
        const T* src = row_in ? base + c * cs + (iy - s.pad_height) * ys : nullptr;
        for (size_t kw = 0; kw < s.kernel_width; ++kw, ++k) {
          T* dst = row_out + k * k_stride;
          if (!row_in) {
            for (size_t ox = 0; ox < ow; ++ox) dst[ox * px_stride] = T{};
            continue;
          }
          const size_t lo = lo_of[kw];
          const size_t hi = hi_of[kw];
          for (size_t ox = 0; ox < lo; ++ox) dst[ox * px_stride] = T{};
          const size_t x0 = lo * s.stride_width + kw - s.pad_width;
          if (px_stride == 1 && xs == 1 && s.stride_width == 1) {
            if (hi > lo) std::memcpy(dst + lo, src + x0, (hi - lo) * sizeof(T));
          } else {
            const size_t step = s.stride_width * xs;
            const T* p = src + x0 * xs;
            for (size_t ox = lo; ox < hi; ++ox, p += step) dst[ox * px_stride] = *p;
          }
          for (size_t ox = hi; ox < ow; ++ox) dst[ox * px_stride] = T{};
        }
      }
    }
  };
  const size_t k_total = cg * s.kernel_height * s.kernel_width;
  if (cg == 1 && col_stride == 1 && xs == 1 && s.kernel_width == 3) {
    // Depthwise 3-wide windows in pixel-major rows: per output pixel, each kernel row's three
    // inputs are one 3-byte copy where the window is inside the row (the others element by
    // element); a tap-major write would store 9 elements at a stride of 9.
    const size_t in_lo = std::max(lo_of[0], std::max(lo_of[1], lo_of[2]));
    const size_t in_hi = std::min(hi_of[0], std::min(hi_of[1], hi_of[2]));
    for (size_t oy = 0; oy < oh; ++oy) {
      T* row_out = out + oy * ow * row_stride;
      for (size_t kh = 0; kh < s.kernel_height; ++kh) {
        const size_t iy = oy * s.stride_height + kh;
        const bool row_in = iy >= s.pad_height && iy - s.pad_height < s.in_height;
        T* dst = row_out + 3 * kh;
        if (!row_in) {
          for (size_t ox = 0; ox < ow; ++ox) {
            dst[ox * row_stride] = T{};
            dst[ox * row_stride + 1] = T{};
            dst[ox * row_stride + 2] = T{};
          }
          continue;
        }
        // (ox * stride + kw - pad_width is the input column of tap kw.)
        const T* src = base + (iy - s.pad_height) * ys;
        for (size_t ox = 0; ox < ow; ++ox) {
          T* d = dst + ox * row_stride;
          if (ox >= in_lo && ox < in_hi) {
            std::memcpy(d, src + ox * s.stride_width - s.pad_width, 3 * sizeof(T));
            continue;
          }
          for (size_t kw = 0; kw < 3; ++kw) {
            d[kw] = ox >= lo_of[kw] && ox < hi_of[kw] ? src[ox * s.stride_width + kw - s.pad_width]
                                                      : T{};
          }
        }
      }
    }
    return;
  }
  if constexpr (sizeof(T) == 1) {
    // Codes in pixel-major rows: a block of output rows is first written tap-major into a buffer
    // (each tap a contiguous run, as in the K x pixels layout), then transposed 16 x 16 at a time
    // (a tap-by-tap write into pixel-major rows is one byte store per element).
    if (col_stride == 1 && ow >= 14 && s.stride_width == 1) {
      const size_t block_rows = std::min(oh, std::max<size_t>(1, 64 / ow));
      const size_t block_pixels = block_rows * ow;
      thread_local std::vector<uint8_t> buffer;
      if (buffer.size() < k_total * block_pixels + 16) buffer.resize(k_total * block_pixels + 16);
      T* tap_major = reinterpret_cast<T*>(buffer.data());
      for (size_t oy0 = 0; oy0 < oh; oy0 += block_rows) {
        const size_t rows = std::min(block_rows, oh - oy0);
        for (size_t r = 0; r < rows; ++r) fill_row(oy0 + r, tap_major + r * ow, 1, block_pixels);
        detail::transpose_bytes(buffer.data(), block_pixels, k_total, rows * ow,
                                reinterpret_cast<uint8_t*>(out + oy0 * ow * row_stride),
                                row_stride);
      }
      return;
    }
  }
  for (size_t oy = 0; oy < oh; ++oy) fill_row(oy, out + oy * ow * row_stride, row_stride, col_stride);
}

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
