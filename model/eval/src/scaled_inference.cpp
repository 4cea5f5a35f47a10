#include "lbfp/eval/scaled_inference.h"

#include <algorithm>
#include <cmath>
#include <memory>
#include <stdexcept>
#include <string>

#include "lbfp/float_encoder.h"
#include "lbfp/scaled_gemm.h"
#include "pooling.h"

namespace lbfp::eval {

ScaledFormat scaled_format(Arithmetic format) {
  switch (format) {
    case Arithmetic::kMxint8: return ScaledFormat(ElementKind::kInt8, ScaleKind::kMxBlock);
    case Arithmetic::kMxfp8E4m3: return ScaledFormat(ElementKind::kE4M3, ScaleKind::kMxBlock);
    case Arithmetic::kMxfp8E5m2: return ScaledFormat(ElementKind::kE5M2, ScaleKind::kMxBlock);
    case Arithmetic::kFp8E4m3: return ScaledFormat(ElementKind::kE4M3, ScaleKind::kTensor);
    case Arithmetic::kFp8E5m2: return ScaledFormat(ElementKind::kE5M2, ScaleKind::kTensor);
    case Arithmetic::kInt8: return ScaledFormat(ElementKind::kInt8, ScaleKind::kTensor);
    default: break;
  }
  throw std::invalid_argument(std::string(to_string(format)) + " is not a section 13 format");
}

namespace {

constexpr size_t kBlock = ScaledFormat::kMxBlockSize;

const ActShape& shape_of(const Graph& g, int id) {
  return g.tensor_shapes[static_cast<size_t>(id)];
}

bool is_linear(const Node& n) { return n.kind == OpKind::kConv || n.kind == OpKind::kGemm; }

size_t blocks_of(size_t n) { return (n + kBlock - 1) / kBlock; }

// The reduction length of one output and the channels of one group.
size_t group_channels(const Graph& g, const Node& n) {
  return n.kind == OpKind::kConv ? shape_of(g, n.inputs[0]).c / n.groups
                                 : shape_of(g, n.inputs[0]).elements();
}

// MX: codes and exponents of `n` values in blocks of 32 (the OCP choice per block).
void quantize_blocks(const ScaledFormat& f, const float* v, size_t n, Code* codes, int* exps) {
  for (size_t first = 0, j = 0; first < n; first += kBlock, ++j) {
    const size_t len = std::min(kBlock, n - first);
    const int e = mx_shared_exponent(f, v + first, len);
    exps[j] = e;
    for (size_t i = 0; i < len; ++i) codes[first + i] = encode(f, v[first + i], e);
  }
}

float percentile_or_max(CalibrationMethod method, const Histogram& h) {
  const double amax = method == CalibrationMethod::kPercentile ? h.percentile_value(99.99)
                                                               : h.abs_max();
  return static_cast<float>(amax);
}

}  // namespace

QuantPlan make_scaled_plan(const Graph& g, Arithmetic format, CalibrationMethod activation_method,
                           CalibrationMethod weight_method, const ActivationStats& stats) {
  const ScaledFormat f = scaled_format(format);
  if (!f.is_mx()) {
    if (activation_method != CalibrationMethod::kMax &&
        activation_method != CalibrationMethod::kPercentile) {
      throw std::invalid_argument(f.name() + " calibrates activations by max or percentile, not " +
                                  to_string(activation_method));
    }
  }
  if (weight_method != CalibrationMethod::kMax) {
    throw std::invalid_argument(f.name() + " calibrates weights by max, not " +
                                to_string(weight_method));
  }
  QuantPlan plan;
  plan.format = format;
  plan.activation_method = activation_method;
  plan.weight_method = weight_method;
  const size_t tensors = g.tensor_names.size();
  plan.tensor_exponents.assign(tensors, 0);
  plan.tensor_calibrated.assign(tensors, false);
  plan.channel_exponents.assign(tensors, {});
  plan.weight_exponents.resize(g.nodes.size());
  plan.weight_codes.resize(g.nodes.size());
  plan.weight_scales.resize(g.nodes.size());
  if (!f.is_mx()) {
    plan.tensor_scales.assign(tensors, 1.0f);
    auto calibrate_tensor = [&](int id) {
      const auto t = static_cast<size_t>(id);
      plan.tensor_scales[t] = tensor_scale(f, percentile_or_max(activation_method,
                                                                stats.histogram(id)));
      plan.tensor_calibrated[t] = true;
    };
    calibrate_tensor(g.input);
    for (const Node& n : g.nodes) {
      if (n.kind == OpKind::kMaxPool || n.kind == OpKind::kRelu || n.kind == OpKind::kFlatten) {
        plan.tensor_scales[static_cast<size_t>(n.output)] =
            plan.tensor_scales[static_cast<size_t>(n.inputs[0])];
      } else {
        calibrate_tensor(n.output);
      }
    }
  }
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    const Node& n = g.nodes[i];
    if (!is_linear(n)) continue;
    const size_t per = n.weights.size() / n.out_channels;
    std::vector<Code>& codes = plan.weight_codes[i];
    codes.resize(n.weights.size());
    if (f.is_mx()) {
      // [o][kh][kw][c]: one output's taps, each tap's channels in blocks of 32.
      const size_t cg = group_channels(g, n);
      const size_t taps = per / cg;
      const size_t nb = blocks_of(cg);
      std::vector<int>& exps = plan.weight_exponents[i];
      exps.resize(n.out_channels * taps * nb);
      std::vector<float> row(cg);
      for (size_t o = 0; o < n.out_channels; ++o) {
        for (size_t t = 0; t < taps; ++t) {
          for (size_t c = 0; c < cg; ++c) row[c] = n.weights[o * per + c * taps + t];
          quantize_blocks(f, row.data(), cg, codes.data() + (o * taps + t) * cg,
                          exps.data() + (o * taps + t) * nb);
        }
      }
      continue;
    }
    // FP8: one scale for the tensor; INT8: one per output channel.
    std::vector<float>& scales = plan.weight_scales[i];
    auto amax_of = [&](size_t first, size_t count) {
      float m = 0.0f;
      for (size_t k = first; k < first + count; ++k) m = std::max(m, std::fabs(n.weights[k]));
      return m;
    };
    if (f.element() == ElementKind::kInt8) {
      for (size_t o = 0; o < n.out_channels; ++o) {
        scales.push_back(tensor_scale(f, amax_of(o * per, per)));
      }
    } else {
      scales.push_back(tensor_scale(f, amax_of(0, n.weights.size())));
    }
    for (size_t k = 0; k < n.weights.size(); ++k) {
      codes[k] = encode_scaled(f, n.weights[k], scales.size() == 1 ? scales[0] : scales[k / per]);
    }
  }
  return plan;
}

namespace {

using detail::pool;

// Rows of A per kernel call: enough to amortise packing B, few enough that the sums stay in
// cache (MX keeps one sum per block pair).
constexpr size_t kCallBytes = size_t{2} << 20;

// One batch through the graph in a section 13 format; the sums by lbfp's scaled GEMM.
class ScaledRun {
 public:
  ScaledRun(const Graph& g, const QuantPlan& plan, const GemmOptions& options)
      : g_(g), plan_(plan), f_(scaled_format(plan.format)), options_(options) {}

  QuantizedResult run(const std::vector<uint8_t>& pixels, size_t batch, size_t stop_after) {
    batch_ = batch;
    QuantizedResult r;
    const size_t tensors = g_.tensor_names.size();
    r.values.resize(tensors);
    codes_.assign(tensors, {});
    floats_.assign(tensors, {});
    const auto in = static_cast<size_t>(g_.input);
    if (f_.is_mx()) {
      floats_[in].resize(pixels.size());
      for (size_t i = 0; i < pixels.size(); ++i) {
        floats_[in][i] = static_cast<float>(pixels[i]) / 255.0f;
      }
    } else {
      Code table[256];
      for (int p = 0; p < 256; ++p) {
        table[p] = encode_scaled(f_, static_cast<float>(p) / 255.0f, plan_.tensor_scales[in]);
      }
      codes_[in].resize(pixels.size());
      for (size_t i = 0; i < pixels.size(); ++i) codes_[in][i] = table[pixels[i]];
    }
    record_values(r, g_.input);
    for (size_t ni = 0; ni < g_.nodes.size() && ni <= stop_after; ++ni) {
      const Node& n = g_.nodes[ni];
      const bool last = n.output == g_.output;
      if (is_linear(n)) {
        std::vector<float> out(batch * shape_of(g_, n.output).elements());
        if (f_.is_mx()) {
          linear_mx(ni, out, r.overflows);
        } else {
          linear_tensor(ni, last, out, r.overflows);
        }
        if (last) {
          r.logits.assign(out.begin(), out.end());
          r.values[static_cast<size_t>(n.output)] = r.logits;
          continue;
        }
        if (f_.is_mx()) floats_[static_cast<size_t>(n.output)] = std::move(out);
      } else if (f_.is_mx()) {
        other_mx(n);
      } else {
        other_tensor(n);
      }
      record_values(r, n.output);
      if (last) r.logits = r.values[static_cast<size_t>(n.output)];
    }
    if (!f_.is_mx()) r.codes = std::move(codes_);
    return r;
  }

 private:
  float scale(int id) const { return plan_.tensor_scales[static_cast<size_t>(id)]; }

  void record_values(QuantizedResult& r, int id) {
    const auto t = static_cast<size_t>(id);
    std::vector<double>& v = r.values[t];
    if (f_.is_mx()) {
      v.assign(floats_[t].begin(), floats_[t].end());
      return;
    }
    const float s = scale(id);
    v.resize(codes_[t].size());
    for (size_t i = 0; i < v.size(); ++i) v[i] = decode_scaled(f_, codes_[t][i], s);
  }

  // quantize_blocks with lbfp::FloatEncoder, one per shared exponent (bit-identical to encode).
  void quantize_blocks_fast(const float* v, size_t n, Code* codes, int* exps) {
    for (size_t first = 0, j = 0; first < n; first += kBlock, ++j) {
      const size_t len = std::min(kBlock, n - first);
      const int e = mx_shared_exponent(f_, v + first, len);
      exps[j] = e;
      auto& slot = encoders_[static_cast<size_t>(e + 127)];
      if (!slot) slot = std::make_unique<FloatEncoder<ScaledFormat>>(f_, e);
      for (size_t i = 0; i < len; ++i) codes[first + i] = (*slot)(v[first + i]);
    }
  }

  // How many rows one kernel call takes.
  static size_t rows_per_call(size_t row_codes, size_t row_sums) {
    const size_t bytes = row_codes + row_sums * sizeof(Int128);
    return std::max<size_t>(16, kCallBytes / std::max<size_t>(1, bytes));
  }

  // FP8 / INT8 Conv or Gemm: codes in, codes (or, last, the logits in `out`) out.
  void linear_tensor(size_t ni, bool last, std::vector<float>& out, uint64_t& overflows) {
    const Node& n = g_.nodes[ni];
    const auto& x = codes_[static_cast<size_t>(n.inputs[0])];
    const auto& w = plan_.weight_codes[ni];
    const auto& ws = plan_.weight_scales[ni];
    const float sa = scale(n.inputs[0]);
    const float so = last ? 1.0f : scale(n.output);
    const std::vector<float>& bias = plan_bias(g_, plan_, ni);
    const ActShape& is = shape_of(g_, n.inputs[0]);
    const ActShape& os = shape_of(g_, n.output);
    const bool conv = n.kind == OpKind::kConv;
    const size_t cg = group_channels(g_, n);
    const size_t og = n.out_channels / n.groups;
    const size_t kk = n.weights.size() / n.out_channels;
    const size_t pixels = os.h * os.w;
    std::vector<Int128> bias_acc(n.out_channels);
    std::vector<double> multiplier(n.out_channels);
    for (size_t o = 0; o < n.out_channels; ++o) {
      const float sb = ws.size() == 1 ? ws[0] : ws[o];
      bias_acc[o] = bias_to_accumulator_scaled(f_, bias[o], sa, sb);
      multiplier[o] = requant_multiplier(f_, sa, sb, so);
    }
    std::vector<Code> y(last ? 0 : out.size());
    const size_t rows = batch_ * pixels;
    const size_t step = rows_per_call(kk, og);
    std::vector<Code> a(conv ? std::min(rows, step) * kk : 0);
    std::vector<Int128> acc(std::min(rows, step) * og);
    for (size_t grp = 0; grp < n.groups; ++grp) {
      for (size_t first = 0; first < rows; first += step) {
        const size_t count = std::min(step, rows - first);
        ScaledGemmProblem p;
        p.m = count;
        p.n = og;
        p.k = kk;
        p.lda = kk;
        p.b = w.data() + grp * og * kk;
        p.ldb = kk;
        p.initial = bias_acc.data() + grp * og;
        if (conv) {
          // Each row the patch in (c, kh, kw) order; padding is code 0, whose products are 0.
          for (size_t r = 0; r < count; ++r) {
            const size_t b = (first + r) / pixels, px = (first + r) % pixels;
            const size_t oy = px / os.w, ox = px % os.w;
            Code* patch = a.data() + r * kk;
            size_t k = 0;
            for (size_t c = 0; c < cg; ++c) {
              const Code* plane = x.data() + (b * is.c + grp * cg + c) * is.h * is.w;
              for (size_t ky = 0; ky < n.kernel_h; ++ky) {
                const long iy =
                    static_cast<long>(oy * n.stride_h + ky) - static_cast<long>(n.pad_h);
                for (size_t kx = 0; kx < n.kernel_w; ++kx, ++k) {
                  const long ix =
                      static_cast<long>(ox * n.stride_w + kx) - static_cast<long>(n.pad_w);
                  const bool inside = iy >= 0 && ix >= 0 && iy < static_cast<long>(is.h) &&
                                      ix < static_cast<long>(is.w);
                  patch[k] = inside ? plane[static_cast<size_t>(iy) * is.w +
                                            static_cast<size_t>(ix)]
                                    : Code{0};
                }
              }
            }
          }
          p.a = a.data();
        } else {
          p.a = x.data() + first * kk;  // Gemm: one row per image, pixels = 1
        }
        overflows += gemm_accumulate(f_, p, acc.data(), og, options_).overflows;
        for (size_t r = 0; r < count; ++r) {
          const size_t b = (first + r) / pixels, px = (first + r) % pixels;
          for (size_t oi = 0; oi < og; ++oi) {
            const size_t o = grp * og + oi;
            const Int128 sum = acc[r * og + oi];
            const size_t at = (b * n.out_channels + o) * pixels + px;
            if (last) {
              float v = dequantize_accumulator(sum, multiplier[o]);
              if (n.relu && v < 0.0f) v = 0.0f;
              out[at] = v;
            } else {
              y[at] = requantize_scaled(f_, sum, multiplier[o], n.relu);
            }
          }
        }
      }
    }
    if (!last) codes_[static_cast<size_t>(n.output)] = std::move(y);
  }

  // MX Conv or Gemm: FP32 in, FP32 out (before it, the fused ReLU).
  void linear_mx(size_t ni, std::vector<float>& out, uint64_t& overflows) {
    const Node& n = g_.nodes[ni];
    const auto& x = floats_[static_cast<size_t>(n.inputs[0])];
    const auto& w = plan_.weight_codes[ni];
    const auto& we = plan_.weight_exponents[ni];
    const std::vector<float>& bias = plan_bias(g_, plan_, ni);
    const ActShape& is = shape_of(g_, n.inputs[0]);
    const ActShape& os = shape_of(g_, n.output);
    const bool conv = n.kind == OpKind::kConv;
    const size_t cg = group_channels(g_, n);
    const size_t nb = blocks_of(cg);
    const size_t og = n.out_channels / n.groups;
    const size_t taps = conv ? n.kernel_h * n.kernel_w : 1;
    const size_t in_pixels = conv ? is.h * is.w : 1;
    const size_t pixels = os.h * os.w;
    // The input per image, pixel and group: cg codes in blocks of 32 and their exponents.
    std::vector<Code> xq(batch_ * in_pixels * n.groups * cg);
    std::vector<int> xe(batch_ * in_pixels * n.groups * nb);
    std::vector<float> v(cg);
    const size_t channels = conv ? is.c : cg;
    for (size_t b = 0; b < batch_; ++b) {
      for (size_t ip = 0; ip < in_pixels; ++ip) {
        for (size_t grp = 0; grp < n.groups; ++grp) {
          for (size_t c = 0; c < cg; ++c) {
            v[c] = x[(b * channels + grp * cg + c) * in_pixels + ip];
          }
          const size_t at = (b * in_pixels + ip) * n.groups + grp;
          quantize_blocks_fast(v.data(), cg, xq.data() + at * cg, xe.data() + at * nb);
        }
      }
    }
    // The kernel's K runs over taps, each tap's channels padded to whole blocks of 32 when a
    // tap has more than one block (a padded code 0 adds a product 0): every block pair of the
    // spec is one of the kernel's blocks, tap t's block j the sum t * nb + j.
    const size_t block = cg <= kBlock ? cg : kBlock;
    const size_t cgp = nb * block;
    const size_t kk = taps * cgp;
    const size_t sums = taps * nb;
    std::vector<Code> wp;  // the weights with that padding, when there is some
    if (cgp != cg) {
      wp.assign(n.out_channels * kk, Code{0});
      for (size_t o = 0; o < n.out_channels; ++o) {
        for (size_t t = 0; t < taps; ++t) {
          std::copy(w.begin() + static_cast<std::ptrdiff_t>((o * taps + t) * cg),
                    w.begin() + static_cast<std::ptrdiff_t>((o * taps + t + 1) * cg),
                    wp.begin() + static_cast<std::ptrdiff_t>(o * kk + t * cgp));
        }
      }
    }
    const Code* wk = cgp != cg ? wp.data() : w.data();
    const size_t rows = batch_ * pixels;
    const size_t step = rows_per_call(kk, og * sums);
    std::vector<Code> a(std::min(rows, step) * kk);
    std::vector<Int128> acc(std::min(rows, step) * og * sums);
    std::vector<size_t> tap_at(std::min(rows, step) * taps);  // input pixel, or SIZE_MAX
    for (size_t grp = 0; grp < n.groups; ++grp) {
      for (size_t first = 0; first < rows; first += step) {
        const size_t count = std::min(step, rows - first);
        for (size_t r = 0; r < count; ++r) {
          const size_t b = (first + r) / pixels, px = (first + r) % pixels;
          size_t* at = tap_at.data() + r * taps;
          if (conv) {
            const size_t oy = px / os.w, ox = px % os.w;
            for (size_t ky = 0, t = 0; ky < n.kernel_h; ++ky) {
              const long iy =
                  static_cast<long>(oy * n.stride_h + ky) - static_cast<long>(n.pad_h);
              for (size_t kx = 0; kx < n.kernel_w; ++kx, ++t) {
                const long ix =
                    static_cast<long>(ox * n.stride_w + kx) - static_cast<long>(n.pad_w);
                const bool inside = iy >= 0 && ix >= 0 && iy < static_cast<long>(is.h) &&
                                    ix < static_cast<long>(is.w);
                at[t] = inside ? static_cast<size_t>(iy) * is.w + static_cast<size_t>(ix)
                               : SIZE_MAX;
              }
            }
          } else {
            at[0] = 0;
          }
          Code* row = a.data() + r * kk;
          std::fill(row, row + kk, Code{0});
          for (size_t t = 0; t < taps; ++t) {
            if (at[t] == SIZE_MAX) continue;
            const Code* xc = xq.data() + ((b * in_pixels + at[t]) * n.groups + grp) * cg;
            std::copy(xc, xc + cg, row + t * cgp);
          }
        }
        ScaledGemmProblem p;
        p.m = count;
        p.n = og;
        p.k = kk;
        p.a = a.data();
        p.lda = kk;
        p.b = wk + grp * og * kk;
        p.ldb = kk;
        p.block = block;
        overflows += gemm_accumulate(f_, p, acc.data(), og * sums, options_).overflows;
        for (size_t r = 0; r < count; ++r) {
          const size_t b = (first + r) / pixels, px = (first + r) % pixels;
          const size_t* at = tap_at.data() + r * taps;
          for (size_t oi = 0; oi < og; ++oi) {
            const size_t o = grp * og + oi;
            const Int128* s = acc.data() + (r * og + oi) * sums;
            float sum = bias[o];
            for (size_t t = 0; t < taps; ++t) {
              if (at[t] == SIZE_MAX) continue;  // padding: no block pair
              const int* xb = xe.data() + ((b * in_pixels + at[t]) * n.groups + grp) * nb;
              const int* wb = we.data() + (o * taps + t) * nb;
              for (size_t j = 0; j < nb; ++j) {
                sum = mx_accumulate(f_, sum, s[t * nb + j], xb[j], wb[j]);
              }
            }
            if (n.relu && sum < 0.0f) sum = 0.0f;
            out[(b * n.out_channels + o) * pixels + px] = sum;
          }
        }
      }
    }
  }

  // MX: the other operators in FP32, as run_fp32 computes them.
  void other_mx(const Node& n) {
    const auto& x = floats_[static_cast<size_t>(n.inputs[0])];
    auto& y = floats_[static_cast<size_t>(n.output)];
    y.assign(batch_ * shape_of(g_, n.output).elements(), 0.0f);
    switch (n.kind) {
      case OpKind::kRelu:
        for (size_t i = 0; i < y.size(); ++i) y[i] = std::max(x[i], 0.0f);
        break;
      case OpKind::kFlatten: y = x; break;
      case OpKind::kAdd: {
        const auto& x2 = floats_[static_cast<size_t>(n.inputs[1])];
        for (size_t i = 0; i < y.size(); ++i) {
          y[i] = x[i] + x2[i];
          if (n.relu && y[i] < 0.0f) y[i] = 0.0f;
        }
        break;
      }
      case OpKind::kMaxPool:
        pool(g_, n, x.data(), y.data(), batch_, [](const std::vector<float>& w, size_t) {
          return *std::max_element(w.begin(), w.end());
        });
        break;
      case OpKind::kAvgPool:
      case OpKind::kGlobalAvgPool:
        pool(g_, n, x.data(), y.data(), batch_, [](const std::vector<float>& w, size_t count) {
          float s = 0.0f;
          for (float v : w) s += v;
          return s / static_cast<float>(count);
        });
        break;
      default: throw std::logic_error("other_mx: " + n.name);
    }
  }

  // FP8 / INT8: Relu, MaxPool and Flatten on the codes (encoding is monotone); Add and the
  // average pools decode to FP32 (fp32(element * s)), compute in FP32 and encode with the
  // output's scale, as ONNX Runtime's QLinearAdd / QLinearAveragePool.
  void other_tensor(const Node& n) {
    const auto& x = codes_[static_cast<size_t>(n.inputs[0])];
    auto& y = codes_[static_cast<size_t>(n.output)];
    y.assign(batch_ * shape_of(g_, n.output).elements(), 0);
    double value[256];
    for (unsigned c = 0; c < 256; ++c) {
      try {
        value[c] = element_value(f_, static_cast<Code>(c));
      } catch (const std::out_of_range&) {
        value[c] = 0.0;
      }
    }
    auto fp32_table = [&](float s) {
      std::vector<float> t(256);
      for (size_t c = 0; c < 256; ++c) t[c] = static_cast<float>(value[c] * static_cast<double>(s));
      return t;
    };
    const float so = scale(n.output);
    switch (n.kind) {
      case OpKind::kRelu:
        for (size_t i = 0; i < y.size(); ++i) y[i] = value[x[i]] > 0.0 ? x[i] : Code{0};
        break;
      case OpKind::kFlatten: y = x; break;
      case OpKind::kMaxPool:
        pool(g_, n, x.data(), y.data(), batch_, [&](const std::vector<Code>& w, size_t) {
          return *std::max_element(w.begin(), w.end(),
                                   [&](Code a, Code b) { return value[a] < value[b]; });
        });
        break;
      case OpKind::kAdd: {
        const auto& x2 = codes_[static_cast<size_t>(n.inputs[1])];
        const auto ta = fp32_table(scale(n.inputs[0]));
        const auto tb = fp32_table(scale(n.inputs[1]));
        for (size_t i = 0; i < y.size(); ++i) {
          float s = ta[x[i]] + tb[x2[i]];
          if (n.relu && s < 0.0f) s = 0.0f;
          y[i] = encode_scaled(f_, s, so);
        }
        break;
      }
      case OpKind::kAvgPool:
      case OpKind::kGlobalAvgPool: {
        const auto t = fp32_table(scale(n.inputs[0]));
        pool(g_, n, x.data(), y.data(), batch_, [&](const std::vector<Code>& w, size_t count) {
          float s = 0.0f;
          for (Code c : w) s += t[c];
          return encode_scaled(f_, s / static_cast<float>(count), so);
        });
        break;
      }
      default: throw std::logic_error("other_tensor: " + n.name);
    }
  }

  const Graph& g_;
  const QuantPlan& plan_;
  ScaledFormat f_;
  GemmOptions options_;
  std::vector<std::unique_ptr<FloatEncoder<ScaledFormat>>> encoders_ =
      std::vector<std::unique_ptr<FloatEncoder<ScaledFormat>>>(255);  // by E + 127
  size_t batch_ = 0;
  std::vector<std::vector<Code>> codes_;
  std::vector<std::vector<float>> floats_;
};

}  // namespace

QuantizedResult run_scaled(const Graph& g, const QuantPlan& plan,
                           const std::vector<uint8_t>& pixels, size_t batch,
                           const GemmOptions& options, size_t stop_after) {
  if (pixels.size() != batch * shape_of(g, g.input).elements()) {
    throw std::invalid_argument("run_quantized: input size does not match the batch");
  }
  return ScaledRun(g, plan, options).run(pixels, batch, stop_after);
}

}  // namespace lbfp::eval
