// The Python extension `lbfp._core`: NumPy views onto the golden arithmetic (model/lbfp) and the
// fast kernels. Nothing is computed here: every function checks its arrays, hands raw pointers to
// the C++ library (no copy for C-contiguous input of the right dtype) and wraps the result. The
// GIL is released around every loop over an array. Errors are ValueError naming the value.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cmath>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <variant>
#include <vector>

#include "lbfp/arith.h"
#include "lbfp/calibration.h"
#include "lbfp/conv.h"
#include "lbfp/format.h"
#include "lbfp/gemm.h"
#include "lbfp/tensor.h"
#include "library_call.h"

namespace py = pybind11;

namespace lbfp::python {

void add_scaled_bindings(py::module_& m);  // scaled.cpp: the formats of spec section 13

namespace {

using AnyFormat = std::variant<LbfpFormat, BfpFormat>;

[[noreturn]] void fail(const std::string& message) { throw py::value_error(message); }

// "lbfp8", "bfp8", or a Format object (LbfpFormat / BfpFormat).
AnyFormat to_format(const py::object& fmt) {
  if (py::isinstance<LbfpFormat>(fmt)) return fmt.cast<LbfpFormat>();
  if (py::isinstance<BfpFormat>(fmt)) return fmt.cast<BfpFormat>();
  if (py::isinstance<py::str>(fmt)) {
    const auto name = fmt.cast<std::string>();
    if (name == "lbfp8") return lbfp8();
    if (name == "bfp8") return bfp8();
    // The family of `lbfp golden`: lbfpW (F = W / 2, P = 8, A = 32) and bfpW, W in 2..8.
    for (const char* family : {"lbfp", "bfp"}) {
      const std::string prefix = family;
      if (name.size() == prefix.size() + 1 && name.compare(0, prefix.size(), prefix) == 0 &&
          name.back() >= '2' && name.back() <= '8') {
        const int width = name.back() - '0';
        if (prefix == "bfp") return BfpFormat(width, 32);
        return LbfpFormat(width, width / 2, 8, 32);
      }
    }
    fail("unknown format '" + name + "' (lbfp8, bfp8, lbfpW / bfpW with W in 2..8, an "
         "LbfpFormat / BfpFormat, or a section 13 format: mxint8, mxfp8-e4m3, mxfp8-e5m2, "
         "fp8-e4m3, fp8-e5m2, int8)");
  }
  fail("fmt must be 'lbfp8', 'bfp8', an LbfpFormat or a BfpFormat, not " +
       py::repr(fmt).cast<std::string>());
}

std::string dtype_name(const py::array& a) { return py::str(a.dtype()).cast<std::string>(); }

// The array itself when it has the dtype and is C-contiguous: never a silent copy.
template <class T>
py::array_t<T> checked(const py::object& object, const char* what) {
  if (!py::isinstance<py::array>(object)) {
    fail(std::string(what) + " must be a numpy array, not " +
         py::repr(py::type::of(object)).cast<std::string>());
  }
  auto a = py::reinterpret_borrow<py::array>(object);
  if (!a.dtype().is(py::dtype::of<T>())) {
    fail(std::string(what) + " must have dtype " + py::str(py::dtype::of<T>()).cast<std::string>() +
         ", not " + dtype_name(a));
  }
  if (!(a.flags() & py::array::c_style)) {
    fail(std::string(what) + " must be C-contiguous (use numpy.ascontiguousarray)");
  }
  return py::reinterpret_borrow<py::array_t<T>>(a);
}

std::vector<int64_t> shape_of(const py::array& a) {
  return std::vector<int64_t>(a.shape(), a.shape() + a.ndim());
}

void check_exponent_value(int e, const char* what) {
  if (e < kMinExponent || e > kMaxExponent) {
    fail(std::string(what) + " " + std::to_string(e) + " is outside [-127, 127]");
  }
}

// Exponents: an int (one for every block) or an int32 array with one per block.
std::vector<int> exponents_of(const py::object& e, size_t blocks, const char* what) {
  std::vector<int> out;
  if (py::isinstance<py::int_>(e)) {
    out.assign(blocks, e.cast<int>());
  } else {
    const auto a = checked<int32_t>(e, what);
    if (static_cast<size_t>(a.size()) != blocks) {
      fail(std::string(what) + ": " + std::to_string(a.size()) + " exponents for " +
           std::to_string(blocks) + " blocks");
    }
    out.assign(a.data(), a.data() + a.size());
  }
  for (int x : out) check_exponent_value(x, what);
  return out;
}

// block = "tensor", "channel" (along `axis`) or a positive group size k (k consecutive elements
// along `axis` share an exponent).
Blocking blocking_of(const py::object& block, int axis, size_t ndim) {
  const int n = static_cast<int>(ndim);
  if (axis < -n || axis >= (n == 0 ? 1 : n)) {
    fail("axis " + std::to_string(axis) + " is outside an array of " + std::to_string(n) +
         " dimensions");
  }
  if (axis < 0) axis += n;
  if (py::isinstance<py::str>(block)) {
    const auto name = block.cast<std::string>();
    if (name == "tensor") return Blocking::per_tensor();
    if (name == "channel") return Blocking::per_channel(axis);
    fail("unknown block '" + name + "' (tensor, channel or a group size)");
  }
  if (py::isinstance<py::int_>(block)) {
    const auto k = block.cast<int64_t>();
    if (k <= 0) fail("block size " + std::to_string(k) + " must be positive");
    return Blocking::groups(axis, k);
  }
  fail("block must be 'tensor', 'channel' or an int, not " + py::repr(block).cast<std::string>());
}

BlockMap block_map(const py::array& a, const Blocking& blocking) {
  std::vector<int64_t> shape(1, 1);  // a 0-D array is one element
  if (a.ndim() > 0) shape.assign(a.shape(), a.shape() + a.ndim());
  for (int64_t d : shape) {
    if (d <= 0) fail("cannot quantize an empty array (shape has a " + std::to_string(d) + ")");
  }
  return BlockMap(shape, blocking);
}

// Calls f(format) with the concrete format type.
template <class F>
auto visit_format(const py::object& fmt, F&& f) {
  const AnyFormat format = to_format(fmt);
  return std::visit([&](const auto& concrete) { return f(concrete); }, format);
}

// ---- encode / decode ----------------------------------------------------------------------

template <class T, class Format>
py::tuple encode_impl(const Format& format, const py::array_t<T>& x, const py::object& exponent,
                      const Blocking& blocking) {
  const BlockMap map = block_map(x, blocking);
  const size_t n = map.element_count();
  const T* data = x.data();
  std::vector<int> exps;
  if (exponent.is_none()) {
    // The max rule of spec section 11 per block.
    std::vector<double> amax(map.block_count(), 0.0);
    for (size_t i = 0; i < n; ++i) {
      if (std::isnan(data[i])) fail("x[" + std::to_string(i) + "] is NaN");
      double& m = amax[map.block_of(i)];
      m = std::max(m, std::fabs(static_cast<double>(data[i])));
    }
    exps.resize(amax.size());
    for (size_t b = 0; b < amax.size(); ++b) exps[b] = max_exponent(amax[b]);
  } else {
    exps = exponents_of(exponent, map.block_count(), "exponent");
    for (size_t i = 0; i < n; ++i) {
      if (std::isnan(data[i])) fail("x[" + std::to_string(i) + "] is NaN");
    }
  }
  py::array_t<uint8_t> codes(x.request().shape);
  Code* out = codes.mutable_data();
  {
    py::gil_scoped_release release;
    for (size_t i = 0; i < n; ++i) {
      out[i] = encode(format, static_cast<double>(data[i]), exps[map.block_of(i)]);
    }
  }
  return py::make_tuple(codes, py::array_t<int32_t>(static_cast<py::ssize_t>(exps.size()),
                                                   exps.data()));
}

py::tuple py_encode(const py::object& x, const py::object& exponent, const py::object& fmt,
                    const py::object& block, int axis) {
  if (!py::isinstance<py::array>(x)) fail("x must be a numpy array of float32 or float64");
  const auto a = py::reinterpret_borrow<py::array>(x);
  const Blocking blocking = blocking_of(block, axis, static_cast<size_t>(a.ndim()));
  return visit_format(fmt, [&](const auto& format) {
    if (a.dtype().is(py::dtype::of<double>())) {
      return encode_impl(format, checked<double>(x, "x"), exponent, blocking);
    }
    return encode_impl(format, checked<float>(x, "x"), exponent, blocking);
  });
}

template <class Format>
void check_codes(const Format& format, const Code* codes, size_t n, const char* what) {
  for (size_t i = 0; i < n; ++i) {
    try {
      check_code(format, codes[i]);
    } catch (const std::out_of_range&) {
      fail(std::string(what) + "[" + std::to_string(i) + "] = " + std::to_string(codes[i]) +
           " is not a code of " + format.name());
    }
  }
}

py::array py_decode(const py::object& codes_obj, const py::object& exponent, const py::object& fmt,
                    const py::object& block, int axis) {
  const auto codes = checked<uint8_t>(codes_obj, "codes");
  const BlockMap map = block_map(codes, blocking_of(block, axis, codes.ndim()));
  const std::vector<int> exps = exponents_of(exponent, map.block_count(), "exponent");
  py::array_t<double> values(codes.request().shape);
  double* out = values.mutable_data();
  const Code* c = codes.data();
  visit_format(fmt, [&](const auto& format) {
    check_codes(format, c, map.element_count(), "codes");
    py::gil_scoped_release release;
    for (size_t i = 0; i < map.element_count(); ++i) out[i] = decode(format, c[i], exps[map.block_of(i)]);
    return 0;
  });
  return std::move(values);
}

// ---- multiply / dot -------------------------------------------------------------------------

py::array py_multiply(const py::object& a_obj, const py::object& b_obj, const py::object& fmt) {
  const auto a = checked<uint8_t>(a_obj, "a");
  const auto b = checked<uint8_t>(b_obj, "b");
  if (shape_of(a) != shape_of(b)) fail("a and b must have the same shape");
  py::array_t<int64_t> out(a.request().shape);
  int64_t* o = out.mutable_data();
  const auto n = static_cast<size_t>(a.size());
  visit_format(fmt, [&](const auto& format) {
    using Format = std::decay_t<decltype(format)>;
    check_codes(format, a.data(), n, "a");
    check_codes(format, b.data(), n, "b");
    for (size_t i = 0; i < n; ++i) {
      if constexpr (std::is_same_v<Format, LbfpFormat>) {
        const auto p = multiply(format, a.data()[i], b.data()[i]).to_int64();
        if (!p) fail("the product of a[" + std::to_string(i) + "] and b[" + std::to_string(i) +
                     "] does not fit in 62 bits (F < 3)");
        o[i] = *p;
      } else {
        o[i] = multiply(format, a.data()[i], b.data()[i]);
      }
    }
    return 0;
  });
  return std::move(out);
}

py::tuple py_dot(const py::object& a_obj, const py::object& b_obj, const py::object& fmt,
                 int64_t initial) {
  const auto a = checked<uint8_t>(a_obj, "a");
  const auto b = checked<uint8_t>(b_obj, "b");
  if (a.ndim() != 1 || b.ndim() != 1 || a.size() != b.size()) {
    fail("a and b must be 1-D of the same length");
  }
  const auto n = static_cast<size_t>(a.size());
  const DotResult r = visit_format(fmt, [&](const auto& format) {
    check_codes(format, a.data(), n, "a");
    check_codes(format, b.data(), n, "b");
    const int64_t limit = (int64_t{1} << (format.acc_bits() - 1));
    if (initial < -limit || initial >= limit) {
      fail("initial " + std::to_string(initial) + " is outside the " +
           std::to_string(format.acc_bits()) + "-bit accumulator");
    }
    py::gil_scoped_release release;
    return dot(format, a.data(), b.data(), n, initial);
  });
  return py::make_tuple(r.acc, r.overflows);
}

// ---- gemm / conv2d --------------------------------------------------------------------------

KernelPath path_of(const std::string& name) {
  if (name == "auto") return KernelPath::kAuto;
  if (name == "reference") return KernelPath::kReference;
  if (name == "portable") return KernelPath::kPortable;
  if (name == "avx2") return KernelPath::kAvx2;
  if (name == "avx512") return KernelPath::kAvx512;
  if (name == "avx512_vbmi") return KernelPath::kAvx512Vbmi;
  if (name == "amx") return KernelPath::kAmx;
  fail("unknown kernel path '" + name +
       "' (auto, reference, portable, avx2, avx512, avx512_vbmi, amx)");
}

GemmOptions options_of(int threads, const std::string& path) {
  if (threads < 1) fail("threads " + std::to_string(threads) + " must be at least 1");
  GemmOptions o;
  o.threads = threads;
  o.path = path_of(path);
  return o;
}

std::vector<float> bias_of(const py::object& bias, size_t n) {
  if (bias.is_none()) return {};
  const auto b = checked<float>(bias, "bias");
  if (b.ndim() != 1 || static_cast<size_t>(b.size()) != n) {
    fail("bias must have " + std::to_string(n) + " elements, not " + std::to_string(b.size()));
  }
  for (py::ssize_t i = 0; i < b.size(); ++i) {
    if (std::isnan(b.data()[i])) fail("bias[" + std::to_string(i) + "] is NaN");
  }
  return std::vector<float>(b.data(), b.data() + b.size());
}

py::tuple py_gemm(const py::object& a_obj, int a_exponent, const py::object& b_obj,
                  const py::object& b_exps_obj, const py::object& fmt, const py::object& bias,
                  const py::object& out_exponent, bool relu, int threads, const std::string& path,
                  bool per_output, const py::object& out) {
  const auto a = checked<uint8_t>(a_obj, "a");
  const auto b = checked<uint8_t>(b_obj, "b");
  if (a.ndim() != 2 || b.ndim() != 2) fail("a and b must be 2-D (M x K and K x N)");
  if (a.shape(1) != b.shape(0)) {
    fail("a is " + std::to_string(a.shape(0)) + " x " + std::to_string(a.shape(1)) + " but b is " +
         std::to_string(b.shape(0)) + " x " + std::to_string(b.shape(1)));
  }
  check_exponent_value(a_exponent, "a_exponent");
  const auto m = static_cast<size_t>(a.shape(0));
  const auto k = static_cast<size_t>(a.shape(1));
  const auto n = static_cast<size_t>(b.shape(1));
  const std::vector<int> b_exps = exponents_of(b_exps_obj, n, "b_exponents");
  const std::vector<float> bias_values = bias_of(bias, n);
  const GemmOptions options = options_of(threads, path);
  GemmProblem p;
  p.m = m;
  p.n = n;
  p.k = k;
  p.a = a.data();
  p.lda = k;
  p.a_exponent = a_exponent;
  p.b = b.data();
  p.ldb = n;
  p.b_exponents = b_exps.data();
  p.bias = bias_values.empty() ? nullptr : bias_values.data();
  return visit_format(fmt, [&](const auto& format) {
    // The kernels check every code themselves (std::out_of_range -> ValueError).
    if (out_exponent.is_none()) {
      py::array_t<int64_t> acc;
      if (out.is_none()) {
        acc = py::array_t<int64_t>({m, n});
      } else {
        acc = checked<int64_t>(out, "out");
        if (acc.ndim() != 2 || static_cast<size_t>(acc.shape(0)) != m ||
            static_cast<size_t>(acc.shape(1)) != n || !acc.writeable()) {
          fail("out must be a writeable int64 array of " + std::to_string(m) + " x " +
               std::to_string(n));
        }
      }
      int64_t* acc_data = acc.mutable_data();
      if (!per_output) {
        const GemmStats stats = library_call([&] {
          py::gil_scoped_release release;
          return gemm_accumulate(format, p, acc_data, n, nullptr, options);
        });
        return py::make_tuple(acc, stats.overflows);
      }
      py::array_t<uint32_t> overflows({m, n});
      uint32_t* ovf_data = overflows.mutable_data();
      library_call([&] {
        py::gil_scoped_release release;
        return gemm_accumulate(format, p, acc_data, n, ovf_data, options);
      });
      return py::make_tuple(acc, overflows);
    }
    const int e = out_exponent.cast<int>();
    check_exponent_value(e, "out_exponent");
    py::array_t<uint8_t> codes({m, n});
    Code* code_data = codes.mutable_data();
    const GemmStats stats = library_call([&] {
      py::gil_scoped_release release;
      return gemm_requantize(format, p, e, relu, code_data, n, options);
    });
    return py::make_tuple(codes, stats.overflows);
  });
}

std::pair<size_t, size_t> pair_of(const py::object& v, const char* what) {
  if (py::isinstance<py::int_>(v)) {
    const auto x = v.cast<int64_t>();
    if (x < 0) fail(std::string(what) + " " + std::to_string(x) + " is negative");
    return {static_cast<size_t>(x), static_cast<size_t>(x)};
  }
  const auto t = v.cast<std::vector<int64_t>>();
  if (t.size() != 2 || t[0] < 0 || t[1] < 0) {
    fail(std::string(what) + " must be an int or two non-negative ints");
  }
  return {static_cast<size_t>(t[0]), static_cast<size_t>(t[1])};
}

py::tuple py_conv2d(const py::object& x_obj, const py::object& x_exponent, const py::object& w_obj,
                    const py::object& w_exps_obj, const py::object& fmt, const py::object& bias,
                    const py::object& stride, const py::object& padding, int groups,
                    const py::object& out_exponent, bool relu, int threads,
                    const std::string& path) {
  const auto x = checked<uint8_t>(x_obj, "x");
  const auto w = checked<uint8_t>(w_obj, "w");
  if (x.ndim() != 4) fail("x must be NCHW (4-D), not " + std::to_string(x.ndim()) + "-D");
  if (w.ndim() != 4) fail("w must be OIHW (4-D), not " + std::to_string(w.ndim()) + "-D");
  if (groups < 1) fail("groups " + std::to_string(groups) + " must be positive");
  Conv2dShape s;
  s.batch = static_cast<size_t>(x.shape(0));
  s.in_channels = static_cast<size_t>(x.shape(1));
  s.in_height = static_cast<size_t>(x.shape(2));
  s.in_width = static_cast<size_t>(x.shape(3));
  s.out_channels = static_cast<size_t>(w.shape(0));
  s.kernel_height = static_cast<size_t>(w.shape(2));
  s.kernel_width = static_cast<size_t>(w.shape(3));
  std::tie(s.stride_height, s.stride_width) = pair_of(stride, "stride");
  std::tie(s.pad_height, s.pad_width) = pair_of(padding, "padding");
  s.groups = static_cast<size_t>(groups);
  if (static_cast<size_t>(w.shape(1)) * s.groups != s.in_channels) {
    fail("w has " + std::to_string(w.shape(1)) + " input channels per group; x has " +
         std::to_string(s.in_channels) + " channels in " + std::to_string(groups) + " groups");
  }
  library_call([&] {
    s.validate();
    return 0;
  });
  const std::vector<int> w_exps = exponents_of(w_exps_obj, s.out_channels, "w_exponents");
  const std::vector<float> bias_values = bias_of(bias, s.out_channels);
  Conv2dOperands op;
  op.input = x.data();
  op.weights = w.data();
  op.weight_exponents = w_exps.data();
  op.bias = bias_values.empty() ? nullptr : bias_values.data();
  std::vector<int> x_exps;
  if (py::isinstance<py::int_>(x_exponent)) {
    op.input_exponent = x_exponent.cast<int>();
    check_exponent_value(op.input_exponent, "x_exponent");
  } else {
    x_exps = exponents_of(x_exponent, s.in_channels, "x_exponent");
    op.input_channel_exponents = x_exps.data();
  }
  const GemmOptions options = options_of(threads, path);
  const std::vector<py::ssize_t> out_shape = {
      static_cast<py::ssize_t>(s.batch), static_cast<py::ssize_t>(s.out_channels),
      static_cast<py::ssize_t>(s.out_height()), static_cast<py::ssize_t>(s.out_width())};
  return visit_format(fmt, [&](const auto& format) {
    // The kernels check every code themselves (std::out_of_range -> ValueError).
    if (out_exponent.is_none()) {
      py::array_t<int64_t> acc(out_shape);
      py::array_t<uint32_t> overflows(out_shape);
      int64_t* acc_data = acc.mutable_data();
      uint32_t* ovf_data = overflows.mutable_data();
      library_call([&] {
        py::gil_scoped_release release;
        return conv2d_accumulate(format, s, op, acc_data, ovf_data, options);
      });
      return py::make_tuple(acc, overflows);
    }
    py::array_t<uint8_t> codes(out_shape);
    Code* out = codes.mutable_data();
    GemmStats stats;
    if (py::isinstance<py::int_>(out_exponent)) {
      const int e = out_exponent.cast<int>();
      check_exponent_value(e, "out_exponent");
      stats = library_call([&] {
        py::gil_scoped_release release;
        return conv2d_requantize(format, s, op, e, relu, out, options);
      });
    } else {
      const std::vector<int> e = exponents_of(out_exponent, s.out_channels, "out_exponent");
      stats = library_call([&] {
        py::gil_scoped_release release;
        return conv2d_requantize_channels(format, s, op, e.data(), relu, out, options);
      });
    }
    return py::make_tuple(codes, stats.overflows);
  });
}

// ---- requantize -----------------------------------------------------------------------------

py::array py_requantize(const py::object& acc_obj, const py::object& scale, int out_exponent,
                        const py::object& fmt, bool relu) {
  const auto acc = checked<int64_t>(acc_obj, "acc");
  check_exponent_value(out_exponent, "out_exponent");
  const auto n = static_cast<size_t>(acc.size());
  std::vector<int> scales;
  if (py::isinstance<py::int_>(scale)) {
    scales.assign(n, scale.cast<int>());
  } else {
    const auto s = checked<int32_t>(scale, "scale");
    if (shape_of(s) != shape_of(acc)) fail("scale must be an int or an int32 array shaped as acc");
    scales.assign(s.data(), s.data() + n);
  }
  py::array_t<uint8_t> codes(acc.request().shape);
  Code* out = codes.mutable_data();
  visit_format(fmt, [&](const auto& format) {
    const int64_t limit = int64_t{1} << (format.acc_bits() - 1);
    for (size_t i = 0; i < n; ++i) {
      if (acc.data()[i] < -limit || acc.data()[i] >= limit) {
        fail("acc[" + std::to_string(i) + "] = " + std::to_string(acc.data()[i]) +
             " is outside the " + std::to_string(format.acc_bits()) + "-bit accumulator");
      }
    }
    py::gil_scoped_release release;
    requantize_row(format, acc.data(), scales.data(), n, out_exponent, relu, out);
    return 0;
  });
  return std::move(codes);
}

// ---- calibration ----------------------------------------------------------------------------

// Streamed calibration: add batches (float32, any shape), then ask for an exponent by any method.
class Calibrator {
 public:
  void add(const py::object& x_obj) {
    const auto x = checked<float>(x_obj, "x");
    const float* d = x.data();
    const auto n = static_cast<size_t>(x.size());
    for (size_t i = 0; i < n; ++i) {
      if (std::isnan(d[i])) fail("x[" + std::to_string(i) + "] is NaN");
    }
    py::gil_scoped_release release;
    histogram_.add(d, n);
    log_histogram_.add(d, n);
  }
  py::tuple exponent(const std::string& method_name, const py::object& fmt,
                     double percentile) const {
    CalibrationMethod method{};
    try {
      method = parse_calibration_method(method_name);
    } catch (const std::invalid_argument& e) {
      fail(e.what());
    }
    if (!(percentile > 0.0 && percentile <= 100.0)) {
      fail("percentile " + std::to_string(percentile) + " is outside (0, 100]");
    }
    if (histogram_.total() == 0) fail("no calibration data was added");
    const CalibrationResult r = visit_format(fmt, [&](const auto& format) {
      return library_call(
          [&] { return calibrate(format, method, histogram_, log_histogram_, percentile); });
    });
    return py::make_tuple(r.exponent, r.scores);
  }
  double abs_max() const { return histogram_.abs_max(); }
  double percentile_value(double percentile) const {
    if (!(percentile > 0.0 && percentile <= 100.0)) {
      fail("percentile " + std::to_string(percentile) + " is outside (0, 100]");
    }
    if (histogram_.total() == 0) fail("no calibration data was added");
    return histogram_.percentile_value(percentile);
  }
  uint64_t count() const { return histogram_.total(); }

 private:
  Histogram histogram_;
  LogHistogram log_histogram_;
};

}  // namespace
}  // namespace lbfp::python

PYBIND11_MODULE(_core, m) {
  using namespace lbfp;
  using namespace lbfp::python;
  m.doc() = "The exact LBFP / BFP arithmetic of docs/spec.md on NumPy arrays (C++ golden model).";

  py::class_<LbfpFormat>(m, "LbfpFormat", "LBFP(W, F, P, A) parameters (spec section 1).")
      .def(py::init([](int width, int frac_bits, int lut_bits, int acc_bits) {
             return library_call([&] { return LbfpFormat(width, frac_bits, lut_bits, acc_bits); });
           }),
           py::arg("width") = 8, py::arg("frac_bits") = 4, py::arg("lut_bits") = 8,
           py::arg("acc_bits") = 32)
      .def_property_readonly("width", &LbfpFormat::width)
      .def_property_readonly("frac_bits", &LbfpFormat::frac_bits)
      .def_property_readonly("lut_bits", &LbfpFormat::lut_bits)
      .def_property_readonly("acc_bits", &LbfpFormat::acc_bits)
      .def("product_scale", &LbfpFormat::product_scale, py::arg("ea"), py::arg("eb"))
      .def("__repr__", &LbfpFormat::name)
      .def_property_readonly("name", &LbfpFormat::name);
  py::class_<BfpFormat>(m, "BfpFormat", "BFP(W, A) parameters (spec section 10).")
      .def(py::init([](int width, int acc_bits) {
             return library_call([&] { return BfpFormat(width, acc_bits); });
           }),
           py::arg("width") = 8, py::arg("acc_bits") = 32)
      .def_property_readonly("width", &BfpFormat::width)
      .def_property_readonly("acc_bits", &BfpFormat::acc_bits)
      .def("product_scale", &BfpFormat::product_scale, py::arg("ea"), py::arg("eb"))
      .def("__repr__", &BfpFormat::name)
      .def_property_readonly("name", &BfpFormat::name);

  m.def("encode", &py_encode, py::arg("x"), py::arg("exponent") = py::none(),
        py::arg("fmt") = "lbfp8", py::arg("block") = "tensor", py::arg("axis") = 0);
  m.def("decode", &py_decode, py::arg("codes"), py::arg("exponent"), py::arg("fmt") = "lbfp8",
        py::arg("block") = "tensor", py::arg("axis") = 0);
  m.def("multiply", &py_multiply, py::arg("a"), py::arg("b"), py::arg("fmt") = "lbfp8");
  m.def("dot", &py_dot, py::arg("a"), py::arg("b"), py::arg("fmt") = "lbfp8",
        py::arg("initial") = 0);
  m.def("gemm", &py_gemm, py::arg("a"), py::arg("a_exponent"), py::arg("b"),
        py::arg("b_exponents"), py::arg("fmt") = "lbfp8", py::arg("bias") = py::none(),
        py::arg("out_exponent") = py::none(), py::arg("relu") = false, py::arg("threads") = 2,
        py::arg("path") = "auto", py::arg("per_output") = true, py::arg("out") = py::none());
  m.def("conv2d", &py_conv2d, py::arg("x"), py::arg("x_exponent"), py::arg("w"),
        py::arg("w_exponents"), py::arg("fmt") = "lbfp8", py::arg("bias") = py::none(),
        py::arg("stride") = 1, py::arg("padding") = 0, py::arg("groups") = 1,
        py::arg("out_exponent") = py::none(), py::arg("relu") = false, py::arg("threads") = 2,
        py::arg("path") = "auto");
  m.def("requantize", &py_requantize, py::arg("acc"), py::arg("scale"), py::arg("out_exponent"),
        py::arg("fmt") = "lbfp8", py::arg("relu") = false);
  m.def("max_exponent", [](double amax) {
    if (std::isnan(amax)) fail("amax is NaN");
    return max_exponent(amax);
  }, py::arg("amax"));
  m.def("bias_to_accumulator", [](double bias, int scale, const py::object& fmt) {
    if (std::isnan(bias)) fail("bias is NaN");
    return visit_format(fmt, [&](const auto& f) { return bias_to_accumulator(f.acc_bits(), bias, scale); });
  }, py::arg("bias"), py::arg("scale"), py::arg("fmt") = "lbfp8");

  add_scaled_bindings(m);

  py::class_<Calibrator>(m, "Calibrator")
      .def(py::init<>())
      .def("add", &Calibrator::add, py::arg("x"))
      .def("exponent", &Calibrator::exponent, py::arg("method") = "kl", py::arg("fmt") = "lbfp8",
           py::arg("percentile") = 99.99)
      .def_property_readonly("abs_max", &Calibrator::abs_max)
      .def("percentile_value", &Calibrator::percentile_value, py::arg("percentile") = 99.99)
      .def_property_readonly("count", &Calibrator::count);
}
