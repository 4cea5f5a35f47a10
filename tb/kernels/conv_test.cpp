// Convolution against a naive direct convolution built from lbfp::dot: for every output, the
// (c, kh, kw) patch (zero codes in the padding) dotted with the weight row, bias first.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "lbfp/arith.h"
#include "lbfp/conv.h"

namespace lbfp {
namespace {

template <class Format>
std::vector<int64_t> direct_conv(const Format& format, const Conv2dShape& s,
                                 const Conv2dOperands& op, std::vector<uint32_t>& overflows) {
  const size_t oh = s.out_height(), ow = s.out_width();
  const size_t cg = s.in_channels / s.groups, og = s.out_channels / s.groups;
  const size_t kg = cg * s.kernel_height * s.kernel_width;
  const bool nhwc = s.layout == TensorLayout::kNhwc;
  std::vector<int64_t> out(s.output_elements());
  overflows.assign(out.size(), 0);
  std::vector<Code> patch(kg);
  for (size_t n = 0; n < s.batch; ++n) {
    for (size_t oc = 0; oc < s.out_channels; ++oc) {
      const size_t g = oc / og;
      for (size_t y = 0; y < oh; ++y) {
        for (size_t x = 0; x < ow; ++x) {
          size_t idx = 0;
          for (size_t ci = 0; ci < cg; ++ci) {
            for (size_t kh = 0; kh < s.kernel_height; ++kh) {
              for (size_t kw = 0; kw < s.kernel_width; ++kw) {
                const auto iy = static_cast<long>(y * s.stride_height + kh) -
                                static_cast<long>(s.pad_height);
                const auto ix = static_cast<long>(x * s.stride_width + kw) -
                                static_cast<long>(s.pad_width);
                Code code = 0;
                if (iy >= 0 && ix >= 0 && iy < static_cast<long>(s.in_height) &&
                    ix < static_cast<long>(s.in_width)) {
                  const size_t c = g * cg + ci;
                  const auto yy = static_cast<size_t>(iy), xx = static_cast<size_t>(ix);
                  code = nhwc ? op.input[((n * s.in_height + yy) * s.in_width + xx) *
                                             s.in_channels + c]
                              : op.input[((n * s.in_channels + c) * s.in_height + yy) *
                                             s.in_width + xx];
                }
                patch[idx++] = code;
              }
            }
          }
          // Per-channel input exponents (depthwise only): group g reads input channel g.
          const int ein = op.input_channel_exponents ? op.input_channel_exponents[g]
                                                     : op.input_exponent;
          const int64_t init =
              op.bias ? bias_to_accumulator(format.acc_bits(), static_cast<double>(op.bias[oc]),
                                            format.product_scale(ein, op.weight_exponents[oc]))
                      : 0;
          const DotResult r = dot(format, patch.data(), op.weights + oc * kg, kg, init);
          const size_t dst = nhwc ? ((n * oh + y) * ow + x) * s.out_channels + oc
                                  : ((n * s.out_channels + oc) * oh + y) * ow + x;
          out[dst] = r.acc;
          overflows[dst] = static_cast<uint32_t>(r.overflows);
        }
      }
    }
  }
  return out;
}

Conv2dShape shape(size_t batch, size_t cin, size_t h, size_t w, size_t cout, size_t k,
                  size_t stride, size_t pad, size_t groups) {
  Conv2dShape s;
  s.batch = batch;
  s.in_channels = cin;
  s.in_height = h;
  s.in_width = w;
  s.out_channels = cout;
  s.kernel_height = k;
  s.kernel_width = k;
  s.stride_height = stride;
  s.stride_width = stride;
  s.pad_height = pad;
  s.pad_width = pad;
  s.groups = groups;
  return s;
}

const Conv2dShape kShapes[] = {
    shape(1, 3, 9, 9, 8, 3, 1, 1, 1),     // first layer, padding
    shape(2, 8, 7, 6, 16, 3, 2, 1, 1),    // stride 2, batch 2, non-square
    shape(1, 16, 5, 5, 70, 1, 1, 0, 1),   // 1x1, N beyond one micro-tile
    shape(1, 8, 6, 6, 8, 3, 1, 1, 4),     // grouped
    shape(2, 12, 8, 8, 12, 3, 1, 1, 12),  // depthwise
    shape(1, 6, 10, 7, 12, 5, 3, 2, 3),   // 5x5, stride 3, groups
};

template <class Format>
void expect_conv_matches(const Format& format, double scale) {
  std::mt19937 rng(7);
  std::normal_distribution<double> normal(0.0, scale);
  for (TensorLayout layout : {TensorLayout::kNchw, TensorLayout::kNhwc}) {
    for (Conv2dShape s : kShapes) {
      s.layout = layout;
      std::vector<Code> input(s.input_elements()), weights(s.weight_elements());
      for (auto& c : input) c = encode(format, normal(rng), 1);
      for (auto& c : weights) c = encode(format, normal(rng), 0);
      std::vector<int> wexp(s.out_channels);
      std::vector<float> bias(s.out_channels);
      for (size_t o = 0; o < s.out_channels; ++o) {
        wexp[o] = static_cast<int>(o % 3) - 1;
        bias[o] = static_cast<float>(normal(rng));
      }
      Conv2dOperands op{input.data(), 1, weights.data(), wexp.data(), bias.data()};
      std::vector<uint32_t> ref_over;
      const auto ref = direct_conv(format, s, op, ref_over);
      std::vector<int64_t> out(s.output_elements(), -7);
      std::vector<uint32_t> over(s.output_elements(), 99);
      conv2d_accumulate(format, s, op, out.data(), over.data());
      const std::string where = format.name() + (layout == TensorLayout::kNhwc ? " nhwc" : " nchw") +
                                " cin " + std::to_string(s.in_channels) + " groups " +
                                std::to_string(s.groups);
      for (size_t i = 0; i < out.size(); ++i) {
        ASSERT_EQ(out[i], ref[i]) << where << " output " << i;
        ASSERT_EQ(over[i], ref_over[i]) << where << " output " << i;
      }
      std::vector<Code> codes(s.output_elements());
      conv2d_requantize(format, s, op, 2, true, codes.data());
      for (size_t i = 0; i < out.size(); ++i) {
        const size_t plane = s.out_height() * s.out_width();
        const size_t oc = layout == TensorLayout::kNhwc ? i % s.out_channels
                                                        : (i / plane) % s.out_channels;
        ASSERT_EQ(codes[i], requantize(format, ref[i], format.product_scale(1, wexp[oc]), 2, true))
            << where << " output " << i;
      }
    }
  }
}

TEST(ConvTest, Lbfp8MatchesDirectConvolution) { expect_conv_matches(lbfp8(), 1.0); }
TEST(ConvTest, Lbfp8SaturatingMatchesDirectConvolution) {
  expect_conv_matches(LbfpFormat(8, 4, 8, 16), 1.0);
}
TEST(ConvTest, Bfp8MatchesDirectConvolution) { expect_conv_matches(bfp8(), 0.5); }
TEST(ConvTest, Bfp8SaturatingMatchesDirectConvolution) {
  expect_conv_matches(BfpFormat(8, 14), 0.5);
}

// A depthwise convolution whose input carries one exponent per channel and whose output is
// requantized to one exponent per channel: every output equals lbfp::dot over its one input
// channel from the bias (at scale Ea[c] + Eb[o]), requantized with lbfp::requantize to Eo[o].
template <class Format>
void expect_depthwise_channel_exponents_match(const Format& format, double scale) {
  std::mt19937 rng(11);
  std::normal_distribution<double> normal(0.0, scale);
  const Conv2dShape shapes[] = {
      shape(2, 12, 8, 8, 12, 3, 1, 1, 12),  // depthwise
      shape(1, 6, 9, 7, 12, 3, 2, 1, 6),    // depthwise, two outputs per channel, stride 2
  };
  for (TensorLayout layout : {TensorLayout::kNchw, TensorLayout::kNhwc}) {
    for (Conv2dShape s : shapes) {
      s.layout = layout;
      std::vector<int> ein(s.in_channels), eout(s.out_channels), wexp(s.out_channels);
      for (size_t c = 0; c < s.in_channels; ++c) ein[c] = static_cast<int>(c % 4) - 1;
      std::vector<Code> input(s.input_elements()), weights(s.weight_elements());
      const size_t plane = s.in_height * s.in_width;
      for (size_t i = 0; i < input.size(); ++i) {
        const size_t c = layout == TensorLayout::kNhwc ? i % s.in_channels
                                                       : (i / plane) % s.in_channels;
        input[i] = encode(format, normal(rng) * std::ldexp(1.0, ein[c] - 1), ein[c]);
      }
      for (auto& c : weights) c = encode(format, normal(rng), 0);
      std::vector<float> bias(s.out_channels);
      for (size_t o = 0; o < s.out_channels; ++o) {
        wexp[o] = static_cast<int>(o % 3) - 1;
        eout[o] = static_cast<int>(o % 5) - 1;
        bias[o] = static_cast<float>(normal(rng));
      }
      Conv2dOperands op{input.data(), 0, weights.data(), wexp.data(), bias.data(), ein.data()};
      std::vector<uint32_t> ref_over;
      const auto ref = direct_conv(format, s, op, ref_over);
      std::vector<int64_t> out(s.output_elements(), -7);
      conv2d_accumulate(format, s, op, out.data());
      std::vector<Code> codes(s.output_elements());
      conv2d_requantize_channels(format, s, op, eout.data(), true, codes.data());
      const size_t out_plane = s.out_height() * s.out_width();
      const size_t per_group = s.out_channels / s.groups;
      for (size_t i = 0; i < out.size(); ++i) {
        const size_t oc = layout == TensorLayout::kNhwc ? i % s.out_channels
                                                        : (i / out_plane) % s.out_channels;
        const std::string where = format.name() + " output " + std::to_string(i);
        ASSERT_EQ(out[i], ref[i]) << where;
        ASSERT_EQ(codes[i], requantize(format, ref[i],
                                       format.product_scale(ein[oc / per_group], wexp[oc]),
                                       eout[oc], true))
            << where;
      }
    }
  }
  // Not depthwise: the products of one output would mix input exponents.
  Conv2dShape s = shape(1, 8, 6, 6, 8, 3, 1, 1, 4);
  std::vector<Code> input(s.input_elements()), weights(s.weight_elements());
  std::vector<int> ein(s.in_channels), wexp(s.out_channels);
  std::vector<int64_t> out(s.output_elements());
  Conv2dOperands op{input.data(), 0, weights.data(), wexp.data(), nullptr, ein.data()};
  EXPECT_THROW(conv2d_accumulate(format, s, op, out.data()), std::invalid_argument);
}

TEST(ConvTest, Lbfp8DepthwisePerChannelExponentsMatchDot) {
  expect_depthwise_channel_exponents_match(lbfp8(), 1.0);
}
TEST(ConvTest, Bfp8DepthwisePerChannelExponentsMatchDot) {
  expect_depthwise_channel_exponents_match(bfp8(), 0.5);
}

TEST(ConvTest, OutputSizeCountsWholeWindows) {
  EXPECT_EQ(conv_output_size(28, 5, 1), 24u);
  EXPECT_EQ(conv_output_size(28, 3, 1, 1), 28u);
  EXPECT_EQ(conv_output_size(56, 3, 2, 1), 28u);
  EXPECT_EQ(conv_output_size(7, 7, 3), 1u);
  EXPECT_EQ(conv_output_size(8, 3, 2), 3u);  // the last partial window is dropped
}

TEST(ConvTest, Im2colRowsAreWindowsAndStridesTranspose) {
  // 2 groups of 2 channels, 5x4 NCHW input, 3x2 kernel, stride (2, 1), padding (1, 0).
  Conv2dShape s;
  s.in_channels = 4;
  s.in_height = 5;
  s.in_width = 4;
  s.out_channels = 2;
  s.kernel_height = 3;
  s.kernel_width = 2;
  s.stride_height = 2;
  s.pad_height = 1;
  s.groups = 2;
  std::vector<int> input(s.input_elements());
  for (size_t i = 0; i < input.size(); ++i) input[i] = static_cast<int>(i) + 1;
  const size_t pixels = s.out_height() * s.out_width(), k = 2 * 3 * 2;
  ASSERT_EQ(s.out_height(), 3u);
  ASSERT_EQ(s.out_width(), 3u);
  std::vector<int> rows(pixels * k), cols(pixels * k);
  im2col(s, input.data(), 0, 1, rows.data(), k, 1);
  im2col(s, input.data(), 0, 1, cols.data(), 1, pixels);
  for (size_t p = 0; p < pixels; ++p) {
    const size_t oy = p / 3, ox = p % 3;
    for (size_t c = 0; c < 2; ++c) {
      for (size_t kh = 0; kh < 3; ++kh) {
        for (size_t kw = 0; kw < 2; ++kw) {
          const size_t col = (c * 3 + kh) * 2 + kw;
          const long y = static_cast<long>(oy * 2 + kh) - 1;
          const size_t x = ox + kw;
          const int want =
              y < 0 || y >= 5 ? 0 : input[((2 + c) * 5 + static_cast<size_t>(y)) * 4 + x];
          EXPECT_EQ(rows[p * k + col], want) << p << " " << col;
          EXPECT_EQ(cols[col * pixels + p], want) << p << " " << col;
        }
      }
    }
  }
}

// im2col against conv2d_input_index, element by element, over strides, paddings wider than the
// kernel's reach, groups and both layouts.
TEST(ConvTest, Im2colEqualsInputIndexOnEveryShape) {
  for (TensorLayout layout : {TensorLayout::kNchw, TensorLayout::kNhwc}) {
    for (size_t stride = 1; stride <= 3; ++stride) {
      for (size_t pad = 0; pad <= 3; ++pad) {
        for (size_t kernel : {1, 2, 3, 5}) {
          Conv2dShape s;
          s.batch = 2;
          s.in_channels = 4;
          s.in_height = 6;
          s.in_width = 7;
          s.out_channels = 4;
          s.kernel_height = kernel;
          s.kernel_width = kernel == 1 ? 1 : kernel - 1;
          s.stride_height = stride;
          s.stride_width = stride == 3 ? 1 : stride + 1;
          s.pad_height = pad;
          s.pad_width = pad == 0 ? 0 : pad - 1;
          s.groups = 2;
          s.layout = layout;
          if (s.in_height + 2 * s.pad_height < s.kernel_height ||
              s.in_width + 2 * s.pad_width < s.kernel_width) {
            continue;
          }
          std::vector<int> input(s.input_elements());
          for (size_t i = 0; i < input.size(); ++i) input[i] = static_cast<int>(i) + 1;
          const size_t pixels = s.out_height() * s.out_width();
          const size_t k = 2 * s.kernel_height * s.kernel_width;
          for (size_t image = 0; image < 2; ++image) {
            for (size_t group = 0; group < 2; ++group) {
              std::vector<int> rows(pixels * k, -1), cols(pixels * k, -1);
              im2col(s, input.data(), image, group, rows.data(), k, 1);
              im2col(s, input.data(), image, group, cols.data(), 1, pixels);
              for (size_t p = 0; p < pixels; ++p) {
                size_t col = 0;
                for (size_t c = 0; c < 2; ++c) {
                  for (size_t kh = 0; kh < s.kernel_height; ++kh) {
                    for (size_t kw = 0; kw < s.kernel_width; ++kw, ++col) {
                      const size_t i = conv2d_input_index(s, image, group * 2 + c,
                                                          p / s.out_width(), p % s.out_width(),
                                                          kh, kw);
                      const int want = i == kConvPadding ? 0 : input[i];
                      ASSERT_EQ(rows[p * k + col], want);
                      ASSERT_EQ(cols[col * pixels + p], want);
                    }
                  }
                }
              }
            }
          }
        }
      }
    }
  }
}

// Codes (bytes) in pixel-major rows go through a buffer and a 16 x 16 transpose: against
// conv2d_input_index over images large and small, channel counts below, at and above 16 (tap
// blocks with and without an edge), 1x1 to 5x5 kernels, strides, paddings, depthwise groups
// (3-wide windows copied per pixel, 5-wide ones by taps), and rows wider than K, whose extra
// bytes must stay untouched.
TEST(ConvTest, Im2colOfCodesEqualsInputIndex) {
  struct Case {
    size_t channels, height, width, kernel, stride, pad, groups;
  };
  const Case cases[] = {{1, 28, 28, 3, 1, 1, 1},  {16, 14, 14, 1, 1, 0, 1}, {16, 28, 28, 3, 2, 1, 16},
                        {20, 7, 7, 3, 1, 1, 1},   {3, 17, 9, 5, 2, 2, 1},   {33, 6, 5, 1, 2, 0, 1},
                        {8, 4, 4, 3, 1, 1, 8},    {2, 31, 3, 2, 1, 0, 2},   {6, 9, 30, 3, 3, 1, 3},
                        {4, 5, 3, 3, 1, 0, 4},    {5, 11, 16, 3, 3, 2, 5},  {3, 6, 20, 3, 2, 0, 3},
                        {2, 16, 16, 5, 1, 2, 2}};
  for (const Case& cs : cases) {
    Conv2dShape s;
    s.batch = 2;
    s.in_channels = cs.channels;
    s.in_height = cs.height;
    s.in_width = cs.width;
    s.out_channels = cs.groups;
    s.kernel_height = cs.kernel;
    s.kernel_width = cs.kernel;
    s.stride_height = cs.stride;
    s.stride_width = cs.stride;
    s.pad_height = cs.pad;
    s.pad_width = cs.pad;
    s.groups = cs.groups;
    std::vector<Code> input(s.input_elements());
    for (size_t i = 0; i < input.size(); ++i) input[i] = static_cast<Code>(i * 7 % 251 + 1);
    const size_t pixels = s.out_height() * s.out_width();
    const size_t cg = cs.channels / cs.groups;
    const size_t k = cg * cs.kernel * cs.kernel;
    for (size_t row_stride : {k, k + 3}) {
      for (size_t image = 0; image < 2; ++image) {
        for (size_t group = 0; group < cs.groups; group += std::max<size_t>(1, cs.groups - 1)) {
          std::vector<Code> rows(pixels * row_stride, 0xEE);
          im2col(s, input.data(), image, group, rows.data(), row_stride, 1);
          for (size_t p = 0; p < pixels; ++p) {
            size_t col = 0;
            for (size_t c = 0; c < cg; ++c) {
              for (size_t kh = 0; kh < cs.kernel; ++kh) {
                for (size_t kw = 0; kw < cs.kernel; ++kw, ++col) {
                  const size_t i = conv2d_input_index(s, image, group * cg + c, p / s.out_width(),
                                                      p % s.out_width(), kh, kw);
                  const Code want = i == kConvPadding ? Code{0} : input[i];
                  ASSERT_EQ(rows[p * row_stride + col], want)
                      << "channels " << cs.channels << " " << cs.height << "x" << cs.width
                      << " kernel " << cs.kernel << " pixel " << p << " column " << col;
                }
              }
            }
            for (size_t extra = k; extra < row_stride; ++extra) {
              ASSERT_EQ(rows[p * row_stride + extra], 0xEE) << "pixel " << p;
            }
          }
        }
      }
    }
  }
}

TEST(ConvTest, RejectsInconsistentShapes) {
  Conv2dShape s = shape(1, 6, 5, 5, 4, 3, 1, 0, 4);  // groups do not divide in_channels
  EXPECT_THROW(s.validate(), std::invalid_argument);
  s = shape(1, 4, 2, 2, 4, 3, 1, 0, 1);  // kernel larger than the input
  EXPECT_THROW(s.validate(), std::invalid_argument);
}

}  // namespace
}  // namespace lbfp
