#include "lbfp/eval/inference.h"

#include <algorithm>
#include <climits>
#include <cmath>
#include <cstdint>
#include <exception>
#include <stdexcept>
#include <thread>
#include <type_traits>

#include "lbfp/arith.h"
#include "lbfp/conv.h"
#include "lbfp/eval/scaled_inference.h"
#include "lbfp/tensor.h"
#include "lbfp/eval/fp32_gemm.h"
#include "parallel.h"
#include "pooling.h"

namespace lbfp::eval {

const char* to_string(Arithmetic format) {
  switch (format) {
    case Arithmetic::kFp32: return "fp32";
    case Arithmetic::kBfp8: return "bfp8";
    case Arithmetic::kLbfp8: return "lbfp8";
    case Arithmetic::kMxint8: return "mxint8";
    case Arithmetic::kMxfp8E4m3: return "mxfp8-e4m3";
    case Arithmetic::kMxfp8E5m2: return "mxfp8-e5m2";
    case Arithmetic::kFp8E4m3: return "fp8-e4m3";
    case Arithmetic::kFp8E5m2: return "fp8-e5m2";
    case Arithmetic::kInt8: return "int8";
  }
  return "?";
}

Arithmetic parse_arithmetic(const std::string& name) {
  for (Arithmetic a : {Arithmetic::kFp32, Arithmetic::kBfp8, Arithmetic::kLbfp8,
                       Arithmetic::kMxint8, Arithmetic::kMxfp8E4m3, Arithmetic::kMxfp8E5m2,
                       Arithmetic::kFp8E4m3, Arithmetic::kFp8E5m2, Arithmetic::kInt8}) {
    if (name == to_string(a)) return a;
  }
  throw std::invalid_argument("unknown number format '" + name +
                              "' (fp32, bfp8, lbfp8, mxint8, mxfp8-e4m3, mxfp8-e5m2, fp8-e4m3, "
                              "fp8-e5m2 or int8)");
}

bool is_scaled(Arithmetic format) {
  return format != Arithmetic::kFp32 && format != Arithmetic::kBfp8 &&
         format != Arithmetic::kLbfp8;
}

std::string format_name(Arithmetic format, const LbfpFormat& lbfp) {
  if (format != Arithmetic::kLbfp8 || lbfp == lbfp8()) return to_string(format);
  return "lbfp" + std::to_string(lbfp.width()) + "f" + std::to_string(lbfp.frac_bits());
}

namespace {

// A whole non-negative decimal number of at most two digits, or -1.
int small_number(const std::string& digits) {
  if (digits.empty() || digits.size() > 2) return -1;
  int v = 0;
  for (char c : digits) {
    if (c < '0' || c > '9') return -1;
    v = 10 * v + (c - '0');
  }
  return v;
}

}  // namespace

NamedFormat parse_named_format(const std::string& name, std::optional<int> frac_bits) {
  NamedFormat named;
  if (name.rfind("lbfp", 0) != 0) {
    named.format = parse_arithmetic(name);
    return named;
  }
  const std::string rest = name.substr(4);
  const size_t f_at = rest.find('f');
  const int width = small_number(rest.substr(0, f_at));
  const bool explicit_f = f_at != std::string::npos;
  const int frac = explicit_f ? small_number(rest.substr(f_at + 1))
                              : (frac_bits ? *frac_bits : width / 2);
  if (width < 2 || width > 8) {
    throw std::invalid_argument("number format '" + name + "': the width W must be 2..8 (lbfpW "
                                "or lbfpWfF, e.g. lbfp7f3)");
  }
  if (explicit_f && frac_bits) {
    throw std::invalid_argument("number format '" + name + "' names F itself; --frac-bits " +
                                std::to_string(*frac_bits) + " applies to lbfpW names only");
  }
  if (frac < 0 || frac > width - 2) {
    throw std::invalid_argument(
        "number format '" + name + "': F = " +
        (!explicit_f ? std::to_string(frac)
                     : f_at + 1 < rest.size() ? rest.substr(f_at + 1) : std::string("(none)")) +
        " must be in 0.." +
        std::to_string(width - 2) + " for W = " + std::to_string(width));
  }
  named.format = Arithmetic::kLbfp8;
  named.lbfp = LbfpFormat(width, frac, lbfp8().lut_bits(), lbfp8().acc_bits());
  return named;
}

const char* to_string(ActivationGranularity granularity) {
  return granularity == ActivationGranularity::kChannel ? "channel" : "tensor";
}

ActivationGranularity parse_activation_granularity(const std::string& name) {
  if (name == "tensor") return ActivationGranularity::kTensor;
  if (name == "channel") return ActivationGranularity::kChannel;
  throw std::invalid_argument("unknown activation granularity '" + name + "' (tensor or channel)");
}

std::vector<bool> channel_exponent_tensors(const Graph& g) {
  const size_t tensors = g.tensor_names.size();
  std::vector<bool> allowed(tensors, false);
  std::vector<bool> read(tensors, false);
  for (const Node& n : g.nodes) {
    if (n.kind == OpKind::kConv && n.output != g.output) allowed[static_cast<size_t>(n.output)] = true;
  }
  for (const Node& n : g.nodes) {
    for (size_t k = 0; k < n.inputs.size(); ++k) {
      const auto t = static_cast<size_t>(n.inputs[k]);
      read[t] = true;
      const bool depthwise = n.kind == OpKind::kConv && k == 0 &&
                             g.tensor_shapes[t].c == n.groups;
      if (!depthwise) allowed[t] = false;
    }
  }
  for (size_t t = 0; t < tensors; ++t) {
    allowed[t] = allowed[t] && read[t] && g.tensor_shapes[t].c > 1;
  }
  return allowed;
}

Conv2dShape conv_shape(const Graph& g, const Node& n, size_t batch) {
  const ActShape& in = g.tensor_shapes[static_cast<size_t>(n.inputs[0])];
  Conv2dShape s;
  s.batch = batch;
  s.in_channels = in.c;
  s.in_height = in.h;
  s.in_width = in.w;
  s.out_channels = n.out_channels;
  s.kernel_height = n.kernel_h;
  s.kernel_width = n.kernel_w;
  s.stride_height = n.stride_h;
  s.stride_width = n.stride_w;
  s.pad_height = n.pad_h;
  s.pad_width = n.pad_w;
  s.groups = n.groups;
  return s;
}

namespace {

const ActShape& shape_of(const Graph& g, int id) { return g.tensor_shapes[static_cast<size_t>(id)]; }

// Calls fn(first, end) over contiguous image ranges of [0, batch), one range per thread on up to
// `threads` threads. Images are independent in every FP32 layer, so the
// values do not depend on the split.
template <class Fn>
void parallel_images(size_t batch, size_t threads, const Fn& fn) {
  const size_t parts = std::max<size_t>(1, std::min(threads, batch));
  detail::parallel_tasks(parts, parts,
                         [&](size_t p) { fn(batch * p / parts, batch * (p + 1) / parts); });
}

// ---- FP32 ---------------------------------------------------------------------------------------

// The input of a convolution laid out for a direct convolution: each channel zero-padded and, for
// strides sh x sw, split into sh x sw phase planes (phase (py, px) holds the padded rows py, py +
// sh, ... and columns px, px + sw, ...). Output pixel (oy, ox) is then q = oy * wq + ox and its tap
// (c, kh, kw) is x[offset of the tap + q] for every output: one row offset per tap instead of an
// im2col copy. Columns ox >= the output width are computed and dropped.
struct PhaseLayout {
  size_t sh = 1, sw = 1;
  size_t hq = 0, wq = 0;    // rows and columns of a phase plane
  size_t plane = 0;         // hq x wq
  size_t channel = 0;       // floats per channel: sh x sw planes
  size_t floats = 0;        // the whole buffer, with slack for the dropped columns' reads
};

PhaseLayout phase_layout(const Node& n, const ActShape& is) {
  PhaseLayout l;
  l.sh = n.stride_h;
  l.sw = n.stride_w;
  l.hq = (is.h + 2 * n.pad_h + l.sh - 1) / l.sh;
  l.wq = (is.w + 2 * n.pad_w + l.sw - 1) / l.sw;
  if (l.sh == 1 && l.sw == 1 && n.pad_w > 0 && n.pad_w < n.kernel_w) {
    // Stride 1: the right padding of a row is the next row's left padding (the taps of output
    // column ox read padded columns ox .. ox + kernel_w - 1 <= w + 2 pad_w - 1, at most pad_w
    // past the row, into the next row's zeros or the bottom padding), so wq = w + pad_w: fewer
    // columns computed and dropped. wq >= the output width because pad_w <= kernel_w - 1.
    l.wq = is.w + n.pad_w;
  }
  l.plane = l.hq * l.wq;
  l.channel = l.sh * l.sw * l.plane;
  // A dropped column of the last row reads at most kernel_w past the last plane.
  l.floats = is.c * l.channel + n.kernel_w + 16;
  return l;
}

int32_t tap_offset(const PhaseLayout& l, size_t c, size_t kh, size_t kw) {
  return static_cast<int32_t>(c * l.channel + ((kh % l.sh) * l.sw + kw % l.sw) * l.plane +
                              (kh / l.sh) * l.wq + kw / l.sw);
}

// One image's channels into the layout (buf holds l.floats floats). Every image writes the same
// positions, so the zero border of a buffer zeroed once stays zero.
void fill_phases(const PhaseLayout& l, const Node& n, const ActShape& is, const float* x,
                 float* buf) {
  detail::PhaseFill f;
  f.c = is.c;
  f.h = is.h;
  f.w = is.w;
  f.sh = l.sh;
  f.sw = l.sw;
  f.ph = n.pad_h;
  f.pw = n.pad_w;
  f.wq = l.wq;
  f.plane = l.plane;
  f.channel = l.channel;
  f.kh = n.kernel_h;
  f.kw = n.kernel_w;
  detail::fp32_fill_phases(f, x, buf);
}

// A convolution, per image and group, directly over the phase layout (no im2col copy). With more
// than one output channel per group: one product og x output pixels x (c, kh, kw), each output a
// chain of fused multiply-adds in (c, kh, kw) order from +0 (fp32_gemm.h); with one (depthwise
// convolutions): each output sums its taps in (c, kh, kw) order from +0, w * x rounded, then
// added, as the row loop always did. The same floats for every batch size, thread count and CPU.
// Taps on the zero border add w * 0 = +-0 (or fma(w, 0, s)) to a sum that is never -0 (it starts
// at +0 and rounds to nearest): the values the im2col copy with its zeros gave.
// What a convolution or a fully connected layer needs besides its input, prepared once per pass
// (not per chunk of images): the layout, the tap offsets and the weights rearranged for the tiles.
struct LayerPlan {
  PhaseLayout l;
  std::vector<int32_t> off;
  std::vector<detail::PackedA> packed;  // per group, where a group has more than one output
  bool as_is = false;                   // a 1x1 convolution of stride 1 without padding
  detail::PlaneMap map;                 // the output columns kept
  detail::DepthwisePlan dw;             // depthwise: read the input as it is where dw.direct
  std::vector<uint32_t> cols;           // where not empty: fp32_conv_channels over these columns
  detail::TapShape shape;               // the convolution's plane, kernel, stride and padding
  bool skip_rows = false;               // fp32_conv_channels may leave out border rows (shape)
  bool rows = false;                    // fp32_conv_rows over the phase layout
  bool rows_direct = false;             // ... or over the unpadded planes (rows_off)
  std::vector<int32_t> rows_off;
  bool masked = false;                  // fp32_conv_masked over the unpadded planes (mt)
  detail::MaskedTaps mt;
  std::vector<float> wt;                // a fully connected layer's weights, transposed (k x nout)
};

LayerPlan conv_plan(const Graph& g, const Node& n) {
  const ActShape& is = shape_of(g, n.inputs[0]);
  const size_t cg = is.c / n.groups, og = n.out_channels / n.groups;
  const size_t kk = cg * n.kernel_h * n.kernel_w;
  LayerPlan p;
  p.l = phase_layout(n, is);
  if (p.l.floats > static_cast<size_t>(INT32_MAX)) {
    // The tap offsets are 32-bit.
    throw std::length_error("run_fp32: the input of " + n.name + " (" + is.str() +
                            ") is too large for the direct convolution");
  }
  p.off.resize(kk);
  for (size_t c = 0; c < cg; ++c) {
    for (size_t kh = 0; kh < n.kernel_h; ++kh) {
      for (size_t kw = 0; kw < n.kernel_w; ++kw) {
        p.off[(c * n.kernel_h + kh) * n.kernel_w + kw] = tap_offset(p.l, c, kh, kw);
      }
    }
  }
  // A 1x1 convolution of stride 1 without padding reads its input as it is.
  p.as_is = n.kernel_h == 1 && n.kernel_w == 1 && p.l.sh == 1 && p.l.sw == 1 && n.pad_h == 0 &&
            n.pad_w == 0;
  if (og > 1) {
    for (size_t grp = 0; grp < n.groups; ++grp) {
      p.packed.push_back(detail::fp32_pack_a(og, kk, n.weights.data() + grp * og * kk, kk));
    }
  }
  const ActShape& os = shape_of(g, n.output);
  p.map = detail::fp32_plane_map(os.h * p.l.wq, p.l.wq, os.w);
  const detail::TapShape s{is.h,       is.w,       os.h,       os.w,    n.kernel_h,
                           n.kernel_w, n.stride_h, n.stride_w, n.pad_h, n.pad_w};
  p.shape = s;
  // The taps on the zero border may be left out where every weight is finite.
  const bool finite = std::all_of(n.weights.begin(), n.weights.end(),
                                  [](float v) { return std::isfinite(v); });
  // Rows of 7, 14 or 28 outputs with sums of at least 64 products: the row tiles (instead of the
  // channel tiles and the masked pixel tiles).
  p.rows = og > 1 && kk >= 64 && detail::fp32_conv_rows_ok(p.packed[0], s);
  // Else output planes of at most 64 pixels (a 7 x 7 plane fills 4 vectors of pixels with 49, or
  // 64 with the dropped columns) and sums of at least 256 products (so that the scattered store
  // of the channel tiles weighs little): the output channels in the lanes.
  if (!p.rows && og > 1 && detail::fp32_conv_channels_ok(p.packed[0]) && os.h * os.w <= 64 &&
      kk >= 256) {
    p.cols = detail::fp32_kept_columns(p.map);
    p.skip_rows = finite;
  }
  if (p.rows) {
    p.skip_rows = finite;
    if (finite && ((n.stride_h == 1 && n.stride_w == 1) ||
                   (n.stride_h == 2 && n.stride_w == 2 && os.w != 28))) {
      // Every tap left is inside the input: read the unpadded planes (row oy at oy sh w, pixel
      // ox sw further, tap (c, kh, kw) at c h w + (kh - ph) w + kw - pw from the pixel), no
      // phase copy (rows of 28 pixels: stride 1 only, the tiles have no stride-2 variant).
      p.rows_direct = true;
      p.rows_off.resize(kk);
      for (size_t c = 0; c < cg; ++c) {
        for (size_t kh = 0; kh < n.kernel_h; ++kh) {
          for (size_t kw = 0; kw < n.kernel_w; ++kw) {
            p.rows_off[(c * n.kernel_h + kh) * n.kernel_w + kw] = static_cast<int32_t>(
                static_cast<long>(c * is.h * is.w) +
                (static_cast<long>(kh) - static_cast<long>(n.pad_h)) * static_cast<long>(is.w) +
                static_cast<long>(kw) - static_cast<long>(n.pad_w));
          }
        }
      }
    }
  }
  if (og == 1 && cg == 1) p.dw = detail::fp32_depthwise_plan(s);
  // Stride 1 with the output as wide as the input (a 3 x 3 with padding 1): the unpadded planes
  // under masks, no phase copy and no dropped column (where the row or channel tiles do not take
  // it).
  if (og > 1 && p.cols.empty() && !p.rows && !p.as_is && detail::fp32_conv_masked_ok(s, cg)) {
    p.masked = true;
    p.mt = detail::fp32_masked_taps(s, cg);
    p.map = detail::fp32_plane_map(os.h * os.w, os.w, os.w);
  }
  return p;
}

void conv_fp32(const Graph& g, const Node& n, const LayerPlan& p, const float* in, float* out,
               size_t batch, bool relu) {
  const ActShape& is = shape_of(g, n.inputs[0]);
  const ActShape& os = shape_of(g, n.output);
  const size_t cg = is.c / n.groups, og = n.out_channels / n.groups;
  const size_t kk = cg * n.kernel_h * n.kernel_w;
  const PhaseLayout& l = p.l;
  // Each thread's phase buffer, kept from one call to the next (no allocation or page fault per
  // call), zeroed once per call, so its border is zero for every image.
  const size_t plane = os.h * os.w;
  if (p.dw.direct) {
    // Depthwise, straight from the unpadded planes (fp32_depthwise_planes: the same values).
    for (size_t b = 0; b < batch; ++b) {
      detail::fp32_depthwise_planes(p.dw, n.groups, n.weights.data(), n.bias.data(), relu,
                                    in + b * is.elements(), out + b * os.c * plane);
    }
    return;
  }
  thread_local std::vector<float> buf;
  const bool copy = !p.as_is && !p.masked && !p.rows_direct;
  if (copy) {
    if (buf.size() < l.floats) buf.resize(l.floats);
    std::fill(buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(l.floats), 0.f);
  }
  for (size_t b = 0; b < batch; ++b) {
    const float* xs = in + b * is.elements();
    if (copy) {
      fill_phases(l, n, is, xs, buf.data());
      xs = buf.data();
    }
    for (size_t grp = 0; grp < n.groups; ++grp) {
      const float* x = xs + grp * cg * (copy ? l.channel : is.h * is.w);
      const size_t ch = grp * og;
      const detail::PlaneOut po{out + (b * os.c + ch) * plane, plane, n.bias.data() + ch, relu,
                                &p.map};
      if (og == 1) {
        detail::fp32_taps_plane(kk, n.weights.data() + grp * kk, x, p.off.data(), po);
      } else if (p.rows) {
        if (p.rows_direct) {
          detail::fp32_conv_rows(p.packed[grp], x, p.rows_off.data(), po, p.shape,
                                 n.stride_h * is.w, n.stride_w, p.skip_rows);
        } else {
          detail::fp32_conv_rows(p.packed[grp], x, p.off.data(), po, p.shape, l.wq, 1,
                                 p.skip_rows);
        }
      } else if (!p.cols.empty()) {
        detail::fp32_conv_channels(p.packed[grp], x, p.off.data(), p.cols, po,
                                   p.skip_rows ? &p.shape : nullptr);
      } else if (p.masked) {
        detail::fp32_conv_masked(p.packed[grp], x, p.mt, po);
      } else {
        detail::fp32_conv_packed(p.packed[grp], x, p.off.data(), po);
      }
    }
  }
}

// A fully connected layer's plan: W (nout x k) transposed, once per pass.
LayerPlan gemm_plan(const Node& n, size_t k) {
  const size_t nout = n.out_channels;
  LayerPlan p;
  p.wt.resize(k * nout);
  for (size_t o = 0; o < nout; ++o) {
    for (size_t i = 0; i < k; ++i) p.wt[i * nout + o] = n.weights[o * k + i];
  }
  return p;
}

// A fully connected layer: out = in x W^T (W is nout x k), each output summed in k order as above.
void gemm_fp32(const Node& n, const LayerPlan& p, const float* in, float* out, size_t batch,
               size_t k, bool relu) {
  const size_t nout = n.out_channels;
  detail::fp32_gemm(batch, nout, k, in, k, p.wt.data(), nout, out, nout);
  for (size_t b = 0; b < batch; ++b) {
    for (size_t o = 0; o < nout; ++o) {
      float& v = out[b * nout + o];
      v += n.bias[o];
      if (relu && v < 0.f) v = 0.f;
    }
  }
}

using detail::pool;

// Pooling of NCHW planes with pool's windows, without the copy: reduce(w, rows, cols, row
// stride, count) gets each window's in-bounds block (read in (ky, kx) order, as pool fills its
// window) and pool's count. False (nothing written) where some window has no value in bounds:
// pool handles that case.
template <class T, class Reduce>
bool pool_direct(const Graph& g, const Node& n, const T* in, T* out, size_t images,
                 const Reduce& reduce) {
  const ActShape& is = shape_of(g, n.inputs[0]);
  const ActShape& os = shape_of(g, n.output);
  auto range = [](size_t o, size_t stride, size_t pad, size_t kernel, size_t size,
                  size_t& first, size_t& end) {
    // Kernel taps k with 0 <= o * stride + k - pad < size.
    const long origin = static_cast<long>(o * stride) - static_cast<long>(pad);
    first = static_cast<size_t>(std::max<long>(0, -origin));
    end = static_cast<size_t>(
        std::max<long>(0, std::min<long>(static_cast<long>(kernel),
                                         static_cast<long>(size) - origin)));
    return first < end;
  };
  size_t a = 0, b = 0;
  for (size_t oy = 0; oy < os.h; ++oy) {
    if (!range(oy, n.stride_h, n.pad_h, n.kernel_h, is.h, a, b)) return false;
  }
  for (size_t ox = 0; ox < os.w; ++ox) {
    if (!range(ox, n.stride_w, n.pad_w, n.kernel_w, is.w, a, b)) return false;
  }
  for (size_t p = 0; p < images * is.c; ++p) {
    const T* x = in + p * is.h * is.w;
    T* y = out + p * os.h * os.w;
    for (size_t oy = 0; oy < os.h; ++oy) {
      size_t ky0 = 0, ky1 = 0;
      range(oy, n.stride_h, n.pad_h, n.kernel_h, is.h, ky0, ky1);
      const size_t row0 = oy * n.stride_h + ky0 - n.pad_h;
      for (size_t ox = 0; ox < os.w; ++ox) {
        size_t kx0 = 0, kx1 = 0;
        range(ox, n.stride_w, n.pad_w, n.kernel_w, is.w, kx0, kx1);
        const T* w = x + row0 * is.w + (ox * n.stride_w + kx0 - n.pad_w);
        const size_t rows = ky1 - ky0, cols = kx1 - kx0;
        const size_t count = n.count_include_pad ? n.kernel_h * n.kernel_w : rows * cols;
        y[oy * os.w + ox] = reduce(w, rows, cols, is.w, count);
      }
    }
  }
  return true;
}

// The window's largest value by `less`, the first of equal ones (std::max_element's rule).
template <class T, class Less>
auto window_max(const Less& less) {
  return [less](const T* w, size_t rows, size_t cols, size_t stride, size_t) {
    T v = w[0];
    for (size_t r = 0; r < rows; ++r) {
      for (size_t c = 0; c < cols; ++c) {
        if (less(v, w[r * stride + c])) v = w[r * stride + c];
      }
    }
    return v;
  };
}

// The FP32 average: the sum from +0 in window order, divided by the count.
float window_average(const float* w, size_t rows, size_t cols, size_t stride, size_t count) {
  float sum = 0.f;
  for (size_t r = 0; r < rows; ++r) {
    for (size_t c = 0; c < cols; ++c) sum += w[r * stride + c];
  }
  return sum / static_cast<float>(count);
}

}  // namespace

namespace {

// Node n over images [first, end) of the tensors in t (sized for the batch): every operator
// works image by image, so any split of the images gives the same values.
void run_node(const Graph& g, const Node& n, const LayerPlan* plan, Activations& t, size_t first,
              size_t end, bool relu) {
  const auto& xv = t[static_cast<size_t>(n.inputs[0])];
  auto& yv = t[static_cast<size_t>(n.output)];
  const size_t in_size = shape_of(g, n.inputs[0]).elements();
  const size_t out_size = shape_of(g, n.output).elements();
  const float* x = xv.data() + first * in_size;
  float* y = yv.data() + first * out_size;
  const size_t count = end - first, values = count * out_size;
  switch (n.kind) {
    case OpKind::kConv: conv_fp32(g, n, *plan, x, y, count, relu); break;
    case OpKind::kGemm: gemm_fp32(n, *plan, x, y, count, in_size, relu); break;
    case OpKind::kRelu:
      for (size_t i = 0; i < values; ++i) y[i] = std::max(x[i], 0.f);
      break;
    case OpKind::kFlatten: std::copy(x, x + values, y); break;
    case OpKind::kAdd: {
      const float* x2 = t[static_cast<size_t>(n.inputs[1])].data() + first * out_size;
      detail::fp32_add(x, x2, values, n.relu, y);
      break;
    }
    case OpKind::kMaxPool: {
      const ActShape& is = shape_of(g, n.inputs[0]);
      const ActShape& os = shape_of(g, n.output);
      const detail::PoolShape ps{is.h, is.w, os.h, os.w,
                                 n.kernel_h, n.kernel_w, n.stride_h, n.stride_w};
      if (n.pad_h == 0 && n.pad_w == 0 && detail::fp32_max_pool_ok(ps)) {
        detail::fp32_max_pool_planes(ps, count * is.c, x, y);
        break;
      }
      if (pool_direct(g, n, x, y, count,
                      window_max<float>([](float a, float b) { return a < b; }))) {
        break;
      }
      pool(g, n, x, y, count, [](const std::vector<float>& w, size_t) {
        return *std::max_element(w.begin(), w.end());
      });
      break;
    }
    case OpKind::kGlobalAvgPool: {
      // pool's window over the whole plane, without the copy: the sum in row-major order from
      // +0, then divided by the plane's size.
      // Eight planes side by side: eight independent chains of adds, each in its own order.
      const size_t plane = shape_of(g, n.inputs[0]).h * shape_of(g, n.inputs[0]).w;
      constexpr size_t kPlanes = 8;
      size_t p = 0;
      for (; p + kPlanes <= values; p += kPlanes) {
        const float* w = x + p * plane;
        float sum[kPlanes] = {};
        for (size_t i = 0; i < plane; ++i) {
          for (size_t j = 0; j < kPlanes; ++j) sum[j] += w[j * plane + i];
        }
        for (size_t j = 0; j < kPlanes; ++j) y[p + j] = sum[j] / static_cast<float>(plane);
      }
      for (; p < values; ++p) {
        const float* w = x + p * plane;
        float sum = 0.f;
        for (size_t i = 0; i < plane; ++i) sum += w[i];
        y[p] = sum / static_cast<float>(plane);
      }
      break;
    }
    case OpKind::kAvgPool:
      if (pool_direct(g, n, x, y, count, window_average)) break;
      pool(g, n, x, y, count, [](const std::vector<float>& w, size_t c) {
        float sum = 0.f;
        for (float v : w) sum += v;
        return sum / static_cast<float>(c);
      });
      break;
  }
}

// Each Conv's and Gemm's plan, by node.
std::vector<LayerPlan> fp32_plans(const Graph& g) {
  std::vector<LayerPlan> plans(g.nodes.size());
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    const Node& n = g.nodes[i];
    if (n.kind == OpKind::kConv) plans[i] = conv_plan(g, n);
    if (n.kind == OpKind::kGemm) plans[i] = gemm_plan(n, shape_of(g, n.inputs[0]).elements());
  }
  return plans;
}

void check_input_size(const Graph& g, const std::vector<float>& input, size_t batch,
                      const char* caller) {
  const ActShape& ins = shape_of(g, g.input);
  if (input.size() != batch * ins.elements()) {
    throw std::invalid_argument(std::string(caller) + ": input size does not match batch x " +
                                ins.str());
  }
}

// Images per task of the passes that run the whole network on a few images at a time (a batch
// of 200 is 50 tasks: two threads end together).
constexpr size_t kFp32Chunk = 4;

// The first value of v[0 .. n) that is not finite, as a NotFinite of `tensor` (the images
// per_image values each, numbered from `first`); tensor -1 where there is none.
NotFinite first_not_finite(int tensor, const float* v, size_t n, size_t per_image, size_t first) {
  NotFinite f;
  if (!detail::fp32_any_not_finite(v, n)) return f;
  size_t i = 0;
  while (std::isfinite(v[i])) ++i;
  f.tensor = tensor;
  f.image = first + (per_image ? i / per_image : 0);
  f.nan = std::isnan(v[i]);
  return f;
}

void fp32_pass(const Graph& g, const std::vector<float>& input, size_t batch, Activations& t,
               Activations* pre_activations, const Fp32Hook& after_node, size_t threads) {
  t.resize(g.tensor_names.size());
  if (pre_activations) pre_activations->assign(g.tensor_names.size(), {});
  check_input_size(g, input, batch, "run_fp32");
  t[static_cast<size_t>(g.input)] = input;
  // Every operator writes each of its outputs: no zero fill where the memory is reused.
  for (const Node& n : g.nodes) {
    t[static_cast<size_t>(n.output)].resize(batch * shape_of(g, n.output).elements());
  }
  const std::vector<LayerPlan> plans = fp32_plans(g);
  auto plan = [&](const Node& n) { return &plans[static_cast<size_t>(&n - g.nodes.data())]; };
  if (!pre_activations && !after_node) {
    // The whole network for a few images at a time: each layer's input is still in cache. Each
    // thread takes the next few images in turn (a thread slowed by others on its core does
    // fewer).
    constexpr size_t kChunk = kFp32Chunk;
    detail::parallel_tasks((batch + kChunk - 1) / kChunk, threads, [&](size_t i) {
      const size_t first = i * kChunk, end = std::min(batch, first + kChunk);
      for (const Node& n : g.nodes) run_node(g, n, plan(n), t, first, end, n.relu);
    });
    return;
  }
  if (after_node) after_node(g.input, t[static_cast<size_t>(g.input)]);
  for (const Node& n : g.nodes) {
    // The ReLU applied after the pre-activation is saved, where that is asked for.
    const bool linear = n.kind == OpKind::kConv || n.kind == OpKind::kGemm;
    const bool split_relu = pre_activations && n.relu && linear;
    parallel_images(batch, threads, [&](size_t first, size_t end) {
      run_node(g, n, plan(n), t, first, end, n.relu && !split_relu);
    });
    auto& y = t[static_cast<size_t>(n.output)];
    if (pre_activations && linear) {
      (*pre_activations)[static_cast<size_t>(n.output)] = y;
      if (split_relu) {
        for (float& v : y) v = std::max(v, 0.f);
      }
    }
    if (after_node) after_node(n.output, y);
  }
}

}  // namespace

Activations run_fp32(const Graph& g, const std::vector<float>& input, size_t batch,
                     Activations* pre_activations, const Fp32Hook& after_node, size_t threads) {
  Activations t;
  fp32_pass(g, input, batch, t, pre_activations, after_node, threads);
  return t;
}

void run_fp32_into(const Graph& g, const std::vector<float>& input, size_t batch,
                   Activations& out, size_t threads) {
  fp32_pass(g, input, batch, out, nullptr, {}, threads);
}

NotFinite find_not_finite(const Activations& a, size_t batch) {
  for (size_t t = 0; t < a.size(); ++t) {
    const std::vector<float>& v = a[t];
    const NotFinite f = first_not_finite(static_cast<int>(t), v.data(), v.size(),
                                         batch == 0 ? 0 : v.size() / batch, 0);
    if (f.tensor >= 0) return f;
  }
  return {};
}

NotFinite run_fp32_output_into(const Graph& g, const std::vector<float>& input, size_t batch,
                               std::vector<float>& output, Fp32Scratch& scratch,
                               size_t threads) {
  check_input_size(g, input, batch, "run_fp32_output_into");
  const std::vector<LayerPlan> plans = fp32_plans(g);
  const size_t chunks = (batch + kFp32Chunk - 1) / kFp32Chunk;
  const size_t workers = std::max<size_t>(1, std::min(threads, chunks));
  auto elements = [&](int tensor) { return shape_of(g, tensor).elements(); };
  // Each worker's tensors of kFp32Chunk images (grown, never shrunk: the next call reuses them).
  if (scratch.workers.size() < workers) scratch.workers.resize(workers);
  for (size_t w = 0; w < workers; ++w) {
    Activations& t = scratch.workers[w];
    t.resize(g.tensor_names.size());
    auto fit = [&](int tensor) {
      std::vector<float>& v = t[static_cast<size_t>(tensor)];
      if (v.size() < kFp32Chunk * elements(tensor)) v.resize(kFp32Chunk * elements(tensor));
    };
    fit(g.input);
    for (const Node& n : g.nodes) fit(n.output);
  }
  const size_t in_size = elements(g.input), out_size = elements(g.output);
  output.resize(batch * out_size);
  std::vector<NotFinite> found(chunks);  // per chunk: its first value that is not finite
  detail::parallel_worker_tasks(chunks, workers, [&](size_t w, size_t i) {
    Activations& t = scratch.workers[w];
    const size_t first = i * kFp32Chunk, count = std::min(batch, first + kFp32Chunk) - first;
    std::copy(input.data() + first * in_size, input.data() + (first + count) * in_size,
              t[static_cast<size_t>(g.input)].data());
    NotFinite& f = found[i];
    auto check = [&](int tensor) {
      if (f.tensor >= 0 && f.tensor < tensor) return;  // a lower tensor has one already
      const NotFinite here = first_not_finite(tensor, t[static_cast<size_t>(tensor)].data(),
                                              count * elements(tensor), elements(tensor), first);
      if (here.tensor >= 0) f = here;
    };
    check(g.input);
    for (const Node& n : g.nodes) {
      run_node(g, n, &plans[static_cast<size_t>(&n - g.nodes.data())], t, 0, count, n.relu);
      check(n.output);
    }
    const float* y = t[static_cast<size_t>(g.output)].data();
    std::copy(y, y + count * out_size, output.data() + first * out_size);
  });
  // The lowest tensor; for a tensor, the first chunk (the lowest images).
  NotFinite first;
  for (const NotFinite& f : found) {
    if (f.tensor >= 0 && (first.tensor < 0 || f.tensor < first.tensor)) first = f;
  }
  return first;
}

// ---- calibration ------------------------------------------------------------------------------

ActivationStats::ActivationStats(const Graph& graph, bool per_channel)
    : histograms_(graph.tensor_names.size(), Histogram(65536)),
      log_histograms_(graph.tensor_names.size()),
      planes_(graph.tensor_names.size()),
      channel_histograms_(graph.tensor_names.size()),
      channel_log_histograms_(graph.tensor_names.size()) {
  const std::vector<bool> allowed = channel_exponent_tensors(graph);
  for (size_t t = 0; t < graph.tensor_names.size(); ++t) {
    const ActShape& s = graph.tensor_shapes[t];
    planes_[t] = s.h * s.w;
    if (!per_channel || !allowed[t]) continue;
    channel_histograms_[t].assign(s.c, Histogram(65536));
    channel_log_histograms_[t].assign(s.c, LogHistogram());
  }
}

// Exact zeros (most of every post-ReLU tensor) are left out: every exponent encodes them exactly,
// so they carry no information about E, and in bin 0 of the histogram they swamp KL's P.
void ActivationStats::add(const Activations& activations, size_t threads) {
  // Each tensor's histograms are its own: the tensors are split over the threads (tensor i on
  // thread i mod threads), every count the same as one after the other.
  const size_t tensors = histograms_.size();
  const size_t parts = std::max<size_t>(1, std::min(threads, tensors));
  std::vector<std::exception_ptr> errors(parts);
  auto run = [&](size_t p) {
    try {
      std::vector<float> nonzero;
      for (size_t i = p; i < tensors; i += parts) add_tensor(i, activations[i], nonzero);
    } catch (...) {
      errors[p] = std::current_exception();
    }
  };
  std::vector<std::thread> workers;
  for (size_t p = 1; p < parts; ++p) workers.emplace_back(run, p);
  run(0);
  for (auto& w : workers) w.join();
  for (auto& e : errors) {
    if (e) std::rethrow_exception(e);
  }
}

void ActivationStats::add_tensor(size_t i, const std::vector<float>& values,
                                 std::vector<float>& nonzero) {
  nonzero.clear();
  for (float v : values) {
    if (v != 0.0f) nonzero.push_back(v);
  }
  if (!nonzero.empty()) {
    histograms_[i].add(nonzero);
    log_histograms_[i].add(nonzero);
  }
  // Per channel: NCHW, so channel c of image b is the plane at (b * C + c) * H * W.
  const size_t channels = channel_histograms_[i].size();
  if (channels == 0) return;
  const size_t plane = planes_[i];
  const size_t images = values.size() / (channels * plane);
  for (size_t c = 0; c < channels; ++c) {
    nonzero.clear();
    for (size_t b = 0; b < images; ++b) {
      const float* x = values.data() + (b * channels + c) * plane;
      for (size_t p = 0; p < plane; ++p) {
        if (x[p] != 0.0f) nonzero.push_back(x[p]);
      }
    }
    if (!nonzero.empty()) {
      channel_histograms_[i][c].add(nonzero);
      channel_log_histograms_[i][c].add(nonzero);
    }
  }
}

namespace {

template <class Format>
int calibrate_histogram(const Format& format, CalibrationMethod method, const Histogram& h,
                        const LogHistogram& log_h) {
  return calibrate(format, method, h, log_h).exponent;
}

template <class Format>
void encode_weights(const Format& format, const Graph& g, QuantPlan& plan, size_t i,
                    std::vector<int> exps) {
  const Node& n = g.nodes[i];
  const size_t per = n.weights.size() / n.out_channels;
  auto q = quantize(format, n.weights,
                    {static_cast<int64_t>(n.out_channels), static_cast<int64_t>(per)},
                    Blocking::per_channel(0), exps);
  if (n.kind == OpKind::kGemm) {
    // [N][K] to the GEMM's K x N operand.
    std::vector<Code> kn(q.codes.size());
    for (size_t o = 0; o < n.out_channels; ++o) {
      for (size_t k = 0; k < per; ++k) kn[k * n.out_channels + o] = q.codes[o * per + k];
    }
    q.codes = std::move(kn);
  }
  plan.weight_exponents[i] = std::move(exps);
  plan.weight_codes[i] = std::move(q.codes);
}

template <class Format>
void plan_weights(const Format& format, const Graph& g, QuantPlan& plan) {
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    const Node& n = g.nodes[i];
    if (n.kind != OpKind::kConv && n.kind != OpKind::kGemm) continue;
    const size_t per = n.weights.size() / n.out_channels;
    std::vector<int> exps(n.out_channels);
    for (size_t o = 0; o < n.out_channels; ++o) {
      std::vector<float> w(n.weights.begin() + static_cast<std::ptrdiff_t>(o * per),
                           n.weights.begin() + static_cast<std::ptrdiff_t>((o + 1) * per));
      exps[o] = calibrate(format, plan.weight_method, w).exponent;
    }
    encode_weights(format, g, plan, i, std::move(exps));
  }
}

}  // namespace

void set_weight_exponents(const Graph& g, QuantPlan& plan, size_t node,
                          std::vector<int> exponents) {
  const Node& n = g.nodes.at(node);
  if (n.kind != OpKind::kConv && n.kind != OpKind::kGemm) {
    throw std::invalid_argument(n.name + " has no weights");
  }
  if (exponents.size() != n.out_channels) {
    throw std::invalid_argument(n.name + ": " + std::to_string(exponents.size()) +
                                " weight exponents for " + std::to_string(n.out_channels) +
                                " output channels");
  }
  if (is_scaled(plan.format)) {
    throw std::invalid_argument(std::string(to_string(plan.format)) + " has no weight exponents");
  }
  for (int e : exponents) check_exponent(e);
  if (plan.format == Arithmetic::kLbfp8) {
    encode_weights(plan.lbfp, g, plan, node, std::move(exponents));
  } else {
    encode_weights(bfp8(), g, plan, node, std::move(exponents));
  }
}

QuantPlan make_plan(const Graph& g, Arithmetic format, CalibrationMethod activation_method,
                    CalibrationMethod weight_method, const ActivationStats& stats,
                    ActivationGranularity granularity, const LbfpFormat& lbfp) {
  if (format == Arithmetic::kFp32) throw std::invalid_argument("make_plan: fp32 has no plan");
  if (is_scaled(format)) {
    return make_scaled_plan(g, format, activation_method, weight_method, stats);
  }
  QuantPlan plan;
  plan.format = format;
  if (format == Arithmetic::kLbfp8) plan.lbfp = lbfp;
  plan.activation_method = activation_method;
  plan.weight_method = weight_method;
  plan.granularity = granularity;
  const size_t tensors = g.tensor_names.size();
  plan.tensor_exponents.assign(tensors, 0);
  plan.tensor_calibrated.assign(tensors, false);
  plan.channel_exponents.assign(tensors, {});
  plan.weight_exponents.resize(g.nodes.size());
  plan.weight_codes.resize(g.nodes.size());
  const std::vector<bool> allowed = channel_exponent_tensors(g);
  auto calibrate_one = [&](const Histogram& h, const LogHistogram& log_h) {
    return format == Arithmetic::kLbfp8
               ? calibrate_histogram(plan.lbfp, activation_method, h, log_h)
               : calibrate_histogram(bfp8(), activation_method, h, log_h);
  };
  auto calibrate_tensor = [&](int id) {
    const auto t = static_cast<size_t>(id);
    const int tensor_exponent = calibrate_one(stats.histogram(id), stats.log_histogram(id));
    plan.tensor_exponents[t] = tensor_exponent;
    plan.tensor_calibrated[t] = true;
    const auto& hs = stats.channel_histograms(id);
    if (granularity != ActivationGranularity::kChannel || !allowed[t]) return;
    if (hs.empty()) {
      throw std::invalid_argument("make_plan: per-channel exponents for " + g.tensor_names[t] +
                                  " need ActivationStats built with per_channel");
    }
    const auto& log_hs = stats.channel_log_histograms(id);
    std::vector<int>& exps = plan.channel_exponents[t];
    exps.resize(hs.size());
    for (size_t c = 0; c < hs.size(); ++c) {
      // A channel that was zero on every calibration image says nothing about its range.
      exps[c] = hs[c].total() == 0 ? tensor_exponent : calibrate_one(hs[c], log_hs[c]);
    }
    plan.tensor_exponents[t] = *std::max_element(exps.begin(), exps.end());
  };
  calibrate_tensor(g.input);
  for (const Node& n : g.nodes) {
    if (n.kind == OpKind::kMaxPool || n.kind == OpKind::kRelu || n.kind == OpKind::kFlatten) {
      plan.tensor_exponents[static_cast<size_t>(n.output)] =
          plan.tensor_exponents[static_cast<size_t>(n.inputs[0])];
    } else {
      calibrate_tensor(n.output);
    }
  }
  if (format == Arithmetic::kLbfp8) {
    plan_weights(plan.lbfp, g, plan);
  } else {
    plan_weights(bfp8(), g, plan);
  }
  return plan;
}

// ---- quantized inference -------------------------------------------------------------------

const std::vector<float>& plan_bias(const Graph& g, const QuantPlan& plan, size_t node_index) {
  if (node_index < plan.biases.size() && !plan.biases[node_index].empty()) {
    return plan.biases[node_index];
  }
  return g.nodes[node_index].bias;
}

namespace {

// Which Conv / Gemm pre-activations run_format keeps: none, all, or one node's.
constexpr long kKeepNone = -1;
constexpr long kKeepAll = -2;

template <class Format>
double decode_code(const Format& f, Code c, int e) {
  return decode(f, c, e);
}

// The order of codes by value: LBFP sign-magnitude, BFP two's complement.
int code_order(const LbfpFormat& f, Code c) {
  return is_negative(f, c) ? -magnitude(f, c) : magnitude(f, c);
}
int code_order(const BfpFormat& f, Code c) { return mantissa(f, c); }

template <class Format>
std::vector<double> decode_table(const Format& f, int e) {
  std::vector<double> table(static_cast<size_t>(f.code_count()));
  for (int c = 0; c < f.code_count(); ++c) {
    const auto code = static_cast<Code>(c);
    bool valid = true;
    try {
      check_code(f, code);
    } catch (const std::out_of_range&) {
      valid = false;
    }
    table[static_cast<size_t>(c)] = valid ? decode(f, code, e) : 0.0;
  }
  return table;
}

// conv2d_requantize / conv2d_requantize_channels (lbfp/conv.h) with the buffers kept in
// `ws`: the same im2col, the same GemmProblem per group through gemm_accumulate, the same
// requantize of every accumulator (requantize_row, one output plane at a time), so the same codes
// and overflow count; the accumulators go from the GEMM's pixel-major rows to the NCHW planes one
// plane at a time instead of through a whole NCHW copy. `out_exponents`: one per output channel,
// or nullptr for `out_exponent` everywhere.
template <class Format>
uint64_t conv_requantize_kept(const Format& f, const Conv2dShape& s, const Conv2dOperands& op,
                              int out_exponent, const int* out_exponents, bool relu, Code* out,
                              const GemmOptions& options, QuantScratch& ws) {
  s.validate();
  if (out_exponents != nullptr) {
    for (size_t o = 0; o < s.out_channels; ++o) check_exponent(out_exponents[o]);
  } else {
    check_exponent(out_exponent);
  }
  if (op.input_channel_exponents != nullptr) {
    (void)conv2d_input_exponent(s, op, 0);  // throws unless depthwise
    for (size_t c = 0; c < s.in_channels; ++c) check_exponent(op.input_channel_exponents[c]);
  }
  const size_t oh = s.out_height(), ow = s.out_width(), plane = oh * ow;
  const size_t cg = s.in_channels / s.groups, og = s.out_channels / s.groups;
  const size_t kg = cg * s.kernel_height * s.kernel_width;
  // The images go through im2col and the GEMM a few at a time, so that the column matrix (written
  // one column at a time) stays in cache; each output's sum does not depend on the rows around it.
  constexpr size_t kColumnBytes = size_t{512} << 10;
  const size_t chunk = std::min(s.batch, std::max<size_t>(1, kColumnBytes / (plane * kg)));
  // Every element of each buffer is written before it is read: no fill.
  ws.columns.resize(chunk * plane * kg);
  ws.weights.resize(kg * og);
  ws.acc.resize(chunk * plane * og);
  ws.plane_acc.resize(og * plane);
  ws.scales.resize(og * plane);
  uint64_t overflows = 0;
  for (size_t g = 0; g < s.groups; ++g) {
    for (size_t o = 0; o < og; ++o) {
      const Code* w = op.weights + (g * og + o) * kg;
      for (size_t k = 0; k < kg; ++k) ws.weights[k * og + o] = w[k];
    }
    // The scale of each accumulator of one image's planes of this group (og x plane).
    for (size_t o = 0; o < og; ++o) {
      const size_t channel = g * og + o;
      const int scale =
          f.product_scale(conv2d_input_exponent(s, op, channel), op.weight_exponents[channel]);
      std::fill(ws.scales.begin() + static_cast<std::ptrdiff_t>(o * plane),
                ws.scales.begin() + static_cast<std::ptrdiff_t>((o + 1) * plane), scale);
    }
    for (size_t first = 0; first < s.batch; first += chunk) {
      const size_t images = std::min(chunk, s.batch - first);
      for (size_t n = 0; n < images; ++n) {
        im2col(s, op.input, first + n, g, ws.columns.data() + n * plane * kg, kg, 1);
      }
      GemmProblem p;
      p.m = images * plane;
      p.n = og;
      p.k = kg;
      p.a = ws.columns.data();
      p.lda = kg;
      p.a_exponent = conv2d_input_exponent(s, op, g * og);
      p.b = ws.weights.data();
      p.ldb = og;
      p.b_exponents = op.weight_exponents + g * og;
      p.bias = op.bias ? op.bias + g * og : nullptr;
      overflows += gemm_accumulate(f, p, ws.acc.data(), og, nullptr, options).overflows;
      for (size_t n = 0; n < images; ++n) {
        // The image's accumulators, pixel-major (plane x og), to its NCHW planes (og x plane), a
        // block of pixels at a time so that the reads stay in cache.
        const int64_t* src = ws.acc.data() + n * plane * og;
        constexpr size_t kBlock = 16;
        for (size_t q0 = 0; q0 < plane; q0 += kBlock) {
          const size_t q1 = std::min(plane, q0 + kBlock);
          for (size_t o = 0; o < og; ++o) {
            int64_t* dst = ws.plane_acc.data() + o * plane;
            for (size_t q = q0; q < q1; ++q) dst[q] = src[q * og + o];
          }
        }
        Code* y = out + ((first + n) * s.out_channels + g * og) * plane;
        if (out_exponents == nullptr) {
          requantize_row(f, ws.plane_acc.data(), ws.scales.data(), og * plane, out_exponent, relu,
                         y);
          continue;
        }
        for (size_t o = 0; o < og; ++o) {
          requantize_row(f, ws.plane_acc.data() + o * plane, ws.scales.data() + o * plane, plane,
                         out_exponents[g * og + o], relu, y + o * plane);
        }
      }
    }
  }
  return overflows;
}

// `stop_after`: the last node to run (the rest is not needed when only its pre-activation is).
// `r`'s tensors keep their memory (each is written in full); `ws`: the convolutions' buffers, or
// nullptr for conv2d_requantize's own.
template <class Format>
void run_format(const Format& f, const Graph& g, const QuantPlan& plan,
                const std::vector<uint8_t>& pixels, size_t batch, const GemmOptions& options,
                QuantizedResult& r, QuantScratch* ws, long keep_pre = kKeepNone,
                size_t stop_after = SIZE_MAX) {
  r.codes.resize(g.tensor_names.size());
  r.logits.clear();
  r.overflows = 0;
  r.pre_activations.clear();
  r.values.clear();
  if (keep_pre != kKeepNone) r.pre_activations.resize(g.tensor_names.size());
  auto exp_of = [&](int id) { return plan.tensor_exponents[static_cast<size_t>(id)]; };
  auto channel_exps_of = [&](int id) -> const std::vector<int>& {
    return plan.channel_exponents[static_cast<size_t>(id)];
  };
  // The input: pixel / 255 in FP32 (as the FP32 network sees it), encoded; 256 values, one table.
  {
    const int e = exp_of(g.input);
    Code table[256];
    for (int p = 0; p < 256; ++p) table[p] = encode(f, static_cast<float>(p) / 255.0f, e);
    auto& codes = r.codes[static_cast<size_t>(g.input)];
    codes.resize(pixels.size());
    for (size_t i = 0; i < pixels.size(); ++i) codes[i] = table[pixels[i]];
  }
  for (size_t ni = 0; ni < g.nodes.size() && ni <= stop_after; ++ni) {
    const Node& n = g.nodes[ni];
    const bool last = n.output == g.output;
    const float* bias = plan_bias(g, plan, ni).data();
    const auto& x = r.codes[static_cast<size_t>(n.inputs[0])];
    auto& y = r.codes[static_cast<size_t>(n.output)];
    const ActShape& is = shape_of(g, n.inputs[0]);
    const ActShape& os = shape_of(g, n.output);
    const int ein = exp_of(n.inputs[0]);
    const int eout = exp_of(n.output);
    // Channel exponents reach only depthwise convolutions (channel_exponent_tensors); the
    // conv kernel checks that, everything else must not see them.
    const std::vector<int>& ein_channels = channel_exps_of(n.inputs[0]);
    const std::vector<int>& eout_channels = channel_exps_of(n.output);
    for (size_t k = (n.kind == OpKind::kConv ? 1 : 0); k < n.inputs.size(); ++k) {
      if (!channel_exps_of(n.inputs[k]).empty()) {
        throw std::logic_error("run_quantized: " + n.name + " reads a tensor with per-channel "
                               "exponents");
      }
    }
    if (!eout_channels.empty() && n.kind != OpKind::kConv) {
      throw std::logic_error("run_quantized: " + n.name + " cannot write per-channel exponents");
    }
    const int* ein_channel_ptr = ein_channels.empty() ? nullptr : ein_channels.data();
    const auto& wexp = plan.weight_exponents[ni];
    const auto& wcodes = plan.weight_codes[ni];
    const size_t count = batch * os.elements();
    // The accumulators' exact real values, one scale per output channel, before ReLU.
    auto accumulate_real = [&](uint64_t* overflows) {
      std::vector<int64_t> acc(count);
      GemmStats stats;
      if (n.kind == OpKind::kConv) {
        Conv2dOperands ops{x.data(), ein, wcodes.data(), wexp.data(), bias, ein_channel_ptr};
        stats = conv2d_accumulate(f, conv_shape(g, n, batch), ops, acc.data(), nullptr, options);
      } else {
        GemmProblem p{batch, n.out_channels, is.c, x.data(), is.c, ein, wcodes.data(),
                      n.out_channels, wexp.data(), bias};
        stats = gemm_accumulate(f, p, acc.data(), n.out_channels, nullptr, options);
      }
      if (overflows) *overflows += stats.overflows;
      std::vector<double> out(count);
      const size_t plane = os.h * os.w;
      const size_t per_group = n.out_channels / n.groups;
      for (size_t i = 0; i < count; ++i) {
        const size_t ch = (i / plane) % n.out_channels;
        const int e = ein_channels.empty() ? ein : ein_channels[ch / per_group];
        out[i] = std::ldexp(static_cast<double>(acc[i]), f.product_scale(e, wexp[ch]));
      }
      return out;
    };
    const bool linear = n.kind == OpKind::kConv || n.kind == OpKind::kGemm;
    if (linear && last) {
      // The logits: read from the accumulators.
      r.logits = accumulate_real(&r.overflows);
      if (keep_pre == kKeepAll || keep_pre == static_cast<long>(ni)) {
        r.pre_activations[static_cast<size_t>(n.output)] = r.logits;
      }
      if (n.relu) {
        for (double& v : r.logits) v = std::max(v, 0.0);
      }
      r.codes[static_cast<size_t>(n.output)].clear();
      continue;
    }
    if (linear && (keep_pre == kKeepAll || keep_pre == static_cast<long>(ni))) {
      // The same sums again (their overflows are counted once, below).
      r.pre_activations[static_cast<size_t>(n.output)] = accumulate_real(nullptr);
    }
    // Every operator below writes all of y.
    y.resize(count);
    switch (n.kind) {
      case OpKind::kConv: {
        Conv2dOperands ops{x.data(), ein, wcodes.data(), wexp.data(), bias, ein_channel_ptr};
        if (ws != nullptr) {
          r.overflows += conv_requantize_kept(
              f, conv_shape(g, n, batch), ops, eout,
              eout_channels.empty() ? nullptr : eout_channels.data(), n.relu, y.data(), options,
              *ws);
          break;
        }
        r.overflows += eout_channels.empty()
                           ? conv2d_requantize(f, conv_shape(g, n, batch), ops, eout, n.relu,
                                               y.data(), options).overflows
                           : conv2d_requantize_channels(f, conv_shape(g, n, batch), ops,
                                                        eout_channels.data(), n.relu, y.data(),
                                                        options).overflows;
        break;
      }
      case OpKind::kGemm: {
        GemmProblem p{batch, n.out_channels, is.c, x.data(), is.c, ein, wcodes.data(),
                      n.out_channels, wexp.data(), bias};
        r.overflows +=
            gemm_requantize(f, p, eout, n.relu, y.data(), n.out_channels, options).overflows;
        break;
      }
      case OpKind::kFlatten: y = x; break;
      case OpKind::kRelu:
        for (size_t i = 0; i < count; ++i) y[i] = code_order(f, x[i]) > 0 ? x[i] : Code{0};
        break;
      case OpKind::kMaxPool:
        if (pool_direct(g, n, x.data(), y.data(), batch, window_max<Code>([&f](Code a, Code b) {
                          return code_order(f, a) < code_order(f, b);
                        }))) {
          break;
        }
        pool(g, n, x.data(), y.data(), batch, [&f](const std::vector<Code>& w, size_t) {
          return *std::max_element(w.begin(), w.end(), [&f](Code a, Code b) {
            return code_order(f, a) < code_order(f, b);
          });
        });
        break;
      case OpKind::kAvgPool:
      case OpKind::kGlobalAvgPool: {
        const auto table = decode_table(f, ein);
        pool(g, n, x.data(), y.data(), batch, [&](const std::vector<Code>& w, size_t c) {
          double s = 0;
          for (Code v : w) s += table[v];
          return encode(f, s / static_cast<double>(c), eout);
        });
        break;
      }
      case OpKind::kAdd: {
        const auto& x2 = r.codes[static_cast<size_t>(n.inputs[1])];
        const auto ta = decode_table(f, ein);
        const auto tb = decode_table(f, exp_of(n.inputs[1]));
        auto add = [&](Code a, Code b) {
          double s = ta[a] + tb[b];
          if (n.relu && s < 0) s = 0;
          return encode(f, s, eout);
        };
        // The sum's code depends on the two codes only: with more elements than code pairs,
        // each pair is encoded once into a table (the same function of the same values).
        const auto codes = static_cast<size_t>(f.code_count());
        if (count > 2 * codes * codes) {
          std::vector<Code> table(codes * codes);
          for (size_t a = 0; a < codes; ++a) {
            for (size_t b = 0; b < codes; ++b) {
              table[a * codes + b] = add(static_cast<Code>(a), static_cast<Code>(b));
            }
          }
          for (size_t i = 0; i < count; ++i) y[i] = table[x[i] * codes + x2[i]];
        } else {
          for (size_t i = 0; i < count; ++i) y[i] = add(x[i], x2[i]);
        }
        break;
      }
    }
    (void)is;
    if (last) {
      const auto table = decode_table(f, eout);
      r.logits.resize(count);
      for (size_t i = 0; i < count; ++i) r.logits[i] = table[y[i]];
    }
  }
}

}  // namespace

namespace {

void run_quantized_until(const Graph& g, const QuantPlan& plan,
                         const std::vector<uint8_t>& pixels, size_t batch,
                         const GemmOptions& options, long keep_pre, size_t stop_after,
                         QuantizedResult& r, QuantScratch* ws) {
  if (pixels.size() != batch * shape_of(g, g.input).elements()) {
    throw std::invalid_argument("run_quantized: input size does not match the batch");
  }
  if (is_scaled(plan.format)) {
    if (keep_pre != kKeepNone) {
      throw std::invalid_argument(std::string("bias correction applies to bfp8 and lbfp8, not ") +
                                  to_string(plan.format));
    }
    r = run_scaled(g, plan, pixels, batch, options, stop_after);
    return;
  }
  if (plan.format == Arithmetic::kLbfp8) {
    run_format(plan.lbfp, g, plan, pixels, batch, options, r, ws, keep_pre, stop_after);
    return;
  }
  if (plan.format == Arithmetic::kBfp8) {
    run_format(bfp8(), g, plan, pixels, batch, options, r, ws, keep_pre, stop_after);
    return;
  }
  throw std::invalid_argument("run_quantized: fp32 is not a quantized format");
}

QuantizedResult run_quantized_until(const Graph& g, const QuantPlan& plan,
                                    const std::vector<uint8_t>& pixels, size_t batch,
                                    const GemmOptions& options, long keep_pre, size_t stop_after) {
  QuantizedResult r;
  run_quantized_until(g, plan, pixels, batch, options, keep_pre, stop_after, r, nullptr);
  return r;
}

bool is_linear(const Node& n) { return n.kind == OpKind::kConv || n.kind == OpKind::kGemm; }

// Adds each value to its channel's sum (NCHW: channel (i / plane) % channels).
template <class T>
void add_channel_sums(const std::vector<T>& values, size_t channels, size_t plane,
                      std::vector<double>& sums) {
  for (size_t i = 0; i < values.size(); ++i) sums[(i / plane) % channels] += values[i];
}

// Calls fn(count, the pixels of those images) for each batch of at most `batch` images.
template <class Fn>
void for_each_batch(const Graph& g, const std::vector<uint8_t>& pixels, size_t images,
                    size_t batch, Fn fn) {
  const size_t px = shape_of(g, g.input).elements();
  for (size_t first = 0; first < images; first += batch) {
    const size_t count = std::min(batch, images - first);
    const std::vector<uint8_t> part(
        pixels.begin() + static_cast<std::ptrdiff_t>(first * px),
        pixels.begin() + static_cast<std::ptrdiff_t>((first + count) * px));
    fn(count, part);
  }
}

// Adds node ni's pre-activations (one per channel and pixel) to its per-channel sums.
template <class T>
void add_node_sums(const Graph& g, size_t ni, const std::vector<T>& pre,
                   std::vector<double>& sums) {
  const Node& n = g.nodes[ni];
  const ActShape& os = shape_of(g, n.output);
  add_channel_sums(pre, n.out_channels, os.h * os.w, sums);
}

// Per node index (Conv / Gemm only), the per-channel sums of the FP32 pre-activations.
std::vector<std::vector<double>> fp32_channel_sums(const Graph& g,
                                                   const std::vector<uint8_t>& pixels,
                                                   size_t images, size_t batch) {
  std::vector<std::vector<double>> sums(g.nodes.size());
  for (size_t ni = 0; ni < g.nodes.size(); ++ni) {
    if (is_linear(g.nodes[ni])) sums[ni].assign(g.nodes[ni].out_channels, 0.0);
  }
  for_each_batch(g, pixels, images, batch, [&](size_t count, const std::vector<uint8_t>& part) {
    std::vector<float> input(part.size());
    for (size_t i = 0; i < part.size(); ++i) input[i] = static_cast<float>(part[i]) / 255.0f;
    Activations pre;
    run_fp32(g, input, count, &pre);
    for (size_t ni = 0; ni < g.nodes.size(); ++ni) {
      const Node& n = g.nodes[ni];
      if (is_linear(n)) add_node_sums(g, ni, pre[static_cast<size_t>(n.output)], sums[ni]);
    }
  });
  return sums;
}

// The mean over the images and pixels of each channel: sums / (images x output pixels).
void divide_by_count(const Graph& g, size_t ni, size_t images, std::vector<double>& sums) {
  const ActShape& os = shape_of(g, g.nodes[ni].output);
  for (double& v : sums) v /= static_cast<double>(images * os.h * os.w);
}

void check_images(const Graph& g, const std::vector<uint8_t>& pixels, size_t images,
                  size_t batch) {
  if (batch == 0 || images == 0 || pixels.size() != images * shape_of(g, g.input).elements()) {
    throw std::invalid_argument("bias correction: " + std::to_string(pixels.size()) +
                                " pixels are not " + std::to_string(images) +
                                " images of the input's shape (or the batch is 0)");
  }
}

}  // namespace

QuantizedResult run_quantized(const Graph& g, const QuantPlan& plan,
                              const std::vector<uint8_t>& pixels, size_t batch,
                              const GemmOptions& options, bool keep_pre_activations) {
  return run_quantized_until(g, plan, pixels, batch, options,
                             keep_pre_activations ? kKeepAll : kKeepNone, SIZE_MAX);
}

void run_quantized_into(const Graph& g, const QuantPlan& plan, const std::vector<uint8_t>& pixels,
                        size_t batch, const GemmOptions& options, QuantizedResult& result,
                        QuantScratch& scratch) {
  run_quantized_until(g, plan, pixels, batch, options, kKeepNone, SIZE_MAX, result, &scratch);
}

std::vector<std::vector<double>> mean_pre_activation_error(const Graph& g, const QuantPlan& plan,
                                                           const std::vector<uint8_t>& pixels,
                                                           size_t images, size_t batch,
                                                           const GemmOptions& options) {
  check_images(g, pixels, images, batch);
  std::vector<std::vector<double>> fp = fp32_channel_sums(g, pixels, images, batch);
  std::vector<std::vector<double>> q(g.nodes.size());
  for (size_t ni = 0; ni < g.nodes.size(); ++ni) q[ni].assign(fp[ni].size(), 0.0);
  for_each_batch(g, pixels, images, batch, [&](size_t count, const std::vector<uint8_t>& part) {
    const QuantizedResult r = run_quantized(g, plan, part, count, options, true);
    for (size_t ni = 0; ni < g.nodes.size(); ++ni) {
      const Node& n = g.nodes[ni];
      if (!is_linear(n)) continue;
      add_node_sums(g, ni, r.pre_activations[static_cast<size_t>(n.output)], q[ni]);
    }
  });
  for (size_t ni = 0; ni < g.nodes.size(); ++ni) {
    if (q[ni].empty()) continue;
    for (size_t c = 0; c < q[ni].size(); ++c) q[ni][c] -= fp[ni][c];
    divide_by_count(g, ni, images, q[ni]);
  }
  return q;
}

void correct_biases(const Graph& g, QuantPlan& plan, const std::vector<uint8_t>& pixels,
                    size_t images, size_t batch, const GemmOptions& options) {
  check_images(g, pixels, images, batch);
  // FP32 does not change with the corrections: its sums once; the quantized network's once per
  // layer, since each correction changes every layer after it.
  const std::vector<std::vector<double>> fp = fp32_channel_sums(g, pixels, images, batch);
  plan.biases.resize(g.nodes.size());
  for (size_t ni = 0; ni < g.nodes.size(); ++ni) {
    const Node& n = g.nodes[ni];
    if (!is_linear(n)) continue;
    std::vector<double> mean_error(n.out_channels, 0.0);
    for_each_batch(g, pixels, images, batch, [&](size_t count, const std::vector<uint8_t>& part) {
      const QuantizedResult r = run_quantized_until(g, plan, part, count, options,
                                                    static_cast<long>(ni), ni);
      add_node_sums(g, ni, r.pre_activations[static_cast<size_t>(n.output)], mean_error);
    });
    for (size_t c = 0; c < n.out_channels; ++c) mean_error[c] -= fp[ni][c];
    divide_by_count(g, ni, images, mean_error);
    std::vector<float> corrected = plan_bias(g, plan, ni);
    for (size_t c = 0; c < n.out_channels; ++c) {
      corrected[c] = static_cast<float>(static_cast<double>(corrected[c]) - mean_error[c]);
    }
    plan.biases[ni] = std::move(corrected);
  }
  plan.bias_corrected = true;
}

namespace {

// One tensor's running sums: signal += x^2, noise += (x - table[code])^2, element by element.
struct ErrorStream {
  const float* x;
  const Code* codes;
  const double* table;
  size_t left;
  double signal, noise;
  ErrorTerm* term;

  void step(size_t i) {
    const double v = x[i];
    signal += v * v;
    const double d = v - table[codes[i]];
    noise += d * d;
  }
  void advance(size_t n) {
    x += n;
    codes += n;
    left -= n;
  }
};

}  // namespace

void add_squared_errors(const Graph& g, const QuantPlan& plan, std::vector<ErrorTerm>& terms) {
  if (is_scaled(plan.format)) {
    throw std::invalid_argument("add_squared_errors: the values of a section 13 format are in "
                                "QuantizedResult::values");
  }
  auto table_of = [&](int e) {
    return plan.format == Arithmetic::kLbfp8 ? decode_table(plan.lbfp, e)
                                               : decode_table(bfp8(), e);
  };
  std::vector<std::vector<double>> tables;
  std::vector<ErrorStream> streams;
  tables.reserve(terms.size());
  for (ErrorTerm& t : terms) {
    const std::vector<Code>& codes = *t.codes;
    if (t.offset > t.reference->size() || codes.size() > t.reference->size() - t.offset) {
      throw std::invalid_argument("add_squared_errors: " + std::to_string(codes.size()) +
                                  " codes against " + std::to_string(t.reference->size()) +
                                  " values from " + std::to_string(t.offset));
    }
    const float* x = t.reference->data() + t.offset;
    const std::vector<int>& channels = plan.channel_exponents[static_cast<size_t>(t.tensor)];
    if (channels.empty()) {
      tables.push_back(table_of(plan.tensor_exponents[static_cast<size_t>(t.tensor)]));
      streams.push_back({x, codes.data(), tables.back().data(), codes.size(), t.signal, t.noise,
                         &t});
      continue;
    }
    // Channel exponents: one table per channel, the sums in element order.
    std::vector<std::vector<double>> channel_tables;
    for (int e : channels) channel_tables.push_back(table_of(e));
    const ActShape& s = shape_of(g, t.tensor);
    const size_t plane = s.h * s.w;
    double signal = t.signal, noise = t.noise;
    for (size_t i = 0; i < codes.size(); ++i) {
      const double v = x[i];
      signal += v * v;
      const double d = v - channel_tables[(i / plane) % s.c][codes[i]];
      noise += d * d;
    }
    t.signal = signal;
    t.noise = noise;
  }
  // Each sum is a chain of dependent additions in element order (the figures must not change):
  // four tensors' chains advance side by side so that their additions overlap.
  constexpr size_t kLanes = 4;
  size_t next = 0;
  ErrorStream* lanes[kLanes] = {};
  auto finish = [](ErrorStream& st) {
    st.term->signal = st.signal;
    st.term->noise = st.noise;
  };
  for (;;) {
    size_t active = 0;
    for (size_t l = 0; l < kLanes; ++l) {
      while (lanes[l] == nullptr && next < streams.size()) {
        ErrorStream* st = &streams[next++];
        if (st->left == 0) {
          finish(*st);
        } else {
          lanes[l] = st;
        }
      }
      active += lanes[l] != nullptr;
    }
    if (active < kLanes) break;
    size_t n = SIZE_MAX;
    for (ErrorStream* st : lanes) n = std::min(n, st->left);
    ErrorStream a = *lanes[0], b = *lanes[1], c = *lanes[2], d = *lanes[3];
    for (size_t i = 0; i < n; ++i) {
      a.step(i);
      b.step(i);
      c.step(i);
      d.step(i);
    }
    *lanes[0] = a;
    *lanes[1] = b;
    *lanes[2] = c;
    *lanes[3] = d;
    for (ErrorStream*& st : lanes) {
      st->advance(n);
      if (st->left == 0) {
        finish(*st);
        st = nullptr;
      }
    }
  }
  for (ErrorStream* st : lanes) {
    if (st == nullptr) continue;
    ErrorStream one = *st;
    for (size_t i = 0; i < one.left; ++i) one.step(i);
    finish(one);
  }
}

std::vector<double> dequantize(const Graph& g, const QuantPlan& plan, int tensor,
                               const std::vector<Code>& codes) {
  if (is_scaled(plan.format)) {
    throw std::invalid_argument("dequantize: the values of a section 13 format are in "
                                "QuantizedResult::values");
  }
  auto table_of = [&](int e) {
    return plan.format == Arithmetic::kLbfp8 ? decode_table(plan.lbfp, e)
                                               : decode_table(bfp8(), e);
  };
  std::vector<double> out(codes.size());
  const std::vector<int>& channels = plan.channel_exponents[static_cast<size_t>(tensor)];
  if (channels.empty()) {
    const auto table = table_of(plan.tensor_exponents[static_cast<size_t>(tensor)]);
    for (size_t i = 0; i < codes.size(); ++i) out[i] = table[codes[i]];
    return out;
  }
  std::vector<std::vector<double>> tables;
  for (int e : channels) tables.push_back(table_of(e));
  const ActShape& s = shape_of(g, tensor);
  const size_t plane = s.h * s.w;
  for (size_t i = 0; i < codes.size(); ++i) out[i] = tables[(i / plane) % s.c][codes[i]];
  return out;
}

}  // namespace lbfp::eval
