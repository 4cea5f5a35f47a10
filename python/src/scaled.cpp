// lbfp._core's bindings of the industry 8-bit formats of docs/spec.md section 13 (MXINT8, MXFP8
// E4M3 / E5M2, FP8 with an FP32 scale per tensor, INT8 with FP32 scales per channel) over the
// golden reference (lbfp/scaled_format.h) and its exact GEMM (lbfp/scaled_gemm.h). As in
// module.cpp, nothing is computed here: arrays are checked, handed to the library and wrapped.
// Accumulators are 128-bit integers in C++; they come back as int64 arrays when the format's
// accumulator has at most 64 bits and E5M2 is not involved, else as object arrays of Python ints
// (exact).
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

#include "lbfp/scaled_format.h"
#include "lbfp/scaled_gemm.h"
#include "library_call.h"

namespace py = pybind11;

namespace lbfp::python {
namespace {

[[noreturn]] void fail(const std::string& message) { throw py::value_error(message); }

ScaledFormat format_named(const std::string& name, int acc_bits) {
  if (scaled_format_named(name)) {
    return library_call([&] { return *scaled_format_named(name, acc_bits); });
  }
  fail("fmt: unknown format '" + name +
       "' (mxint8, mxfp8-e4m3, mxfp8-e5m2, fp8-e4m3, fp8-e5m2, int8)");
}

// A format name of section 13 or a ScaledFormat.
ScaledFormat to_scaled(const py::object& fmt) {
  if (py::isinstance<ScaledFormat>(fmt)) return fmt.cast<ScaledFormat>();
  if (py::isinstance<py::str>(fmt)) return format_named(fmt.cast<std::string>(), 0);
  fail("fmt must be a section 13 format name or a ScaledFormat, not " +
       py::repr(fmt).cast<std::string>());
}

// Python ints for the accumulators: int64 cannot hold E5M2 products (65 bits) or sums beyond it.
bool wide(const ScaledFormat& f) {
  return f.element() == ElementKind::kE5M2 || f.acc_bits() > 64;
}

py::object int128_object(Int128 v) {
  if (v >= std::numeric_limits<int64_t>::min() && v <= std::numeric_limits<int64_t>::max()) {
    return py::int_(static_cast<int64_t>(v));
  }
  const std::string text = to_decimal(v);
  return py::reinterpret_steal<py::object>(PyLong_FromString(text.c_str(), nullptr, 10));
}

// A Python int (or numpy integer) as a 128-bit value; ValueError beyond +-2^126.
Int128 int128_of(const py::handle& h, const std::string& what) {
  if (!PyLong_Check(h.ptr()) && !PyIndex_Check(h.ptr())) {
    fail(what + " must be an int, not " + py::repr(py::type::of(h)).cast<std::string>());
  }
  const py::int_ v = py::reinterpret_borrow<py::object>(h);
  int overflow = 0;
  const long long small = PyLong_AsLongLongAndOverflow(v.ptr(), &overflow);
  if (overflow == 0) {
    if (small == -1 && PyErr_Occurred()) throw py::error_already_set();
    return small;
  }
  const std::string text = static_cast<std::string>(py::str(static_cast<const py::handle&>(v)));
  const bool negative = text[0] == '-';
  const Int128 limit = Int128{1} << ScaledFormat::kMaxAccBits;
  Int128 magnitude = 0;
  for (size_t i = negative ? 1 : 0; i < text.size(); ++i) {
    magnitude = magnitude * 10 + (text[i] - '0');
    if (magnitude > limit) fail(what + " = " + text + " is outside the 126-bit accumulator range");
  }
  return negative ? -magnitude : magnitude;
}

std::vector<py::ssize_t> shape_of(const py::array& a) {
  return std::vector<py::ssize_t>(a.shape(), a.shape() + a.ndim());
}

// The array itself when it has the dtype and is C-contiguous: never a silent copy.
template <class T>
py::array_t<T> checked(const py::object& object, const std::string& what) {
  if (!py::isinstance<py::array>(object)) {
    fail(what + " must be a numpy array, not " +
         py::repr(py::type::of(object)).cast<std::string>());
  }
  auto a = py::reinterpret_borrow<py::array>(object);
  if (!a.dtype().is(py::dtype::of<T>())) {
    fail(what + " must have dtype " + py::str(py::dtype::of<T>()).cast<std::string>() + ", not " +
         py::str(a.dtype()).cast<std::string>());
  }
  if (!(a.flags() & py::array::c_style)) {
    fail(what + " must be C-contiguous (use numpy.ascontiguousarray)");
  }
  return py::reinterpret_borrow<py::array_t<T>>(a);
}

// Accumulators: an int64 array or an object array of Python ints, any shape.
std::vector<Int128> int128_values(const py::object& object, const std::string& what,
                                  std::vector<py::ssize_t>* shape) {
  if (!py::isinstance<py::array>(object)) {
    fail(what + " must be a numpy array of int64 or of Python ints (dtype object)");
  }
  const auto a = py::reinterpret_borrow<py::array>(object);
  std::vector<Int128> out;
  out.reserve(static_cast<size_t>(a.size()));
  if (a.dtype().kind() == 'O') {
    if (!(a.flags() & py::array::c_style)) fail(what + " must be C-contiguous");
    auto* items = static_cast<PyObject* const*>(a.data());
    for (py::ssize_t i = 0; i < a.size(); ++i) {
      out.push_back(int128_of(items[i], what + "[" + std::to_string(i) + "]"));
    }
  } else {
    const auto v = checked<int64_t>(object, what);
    out.assign(v.data(), v.data() + v.size());
  }
  *shape = shape_of(a);
  return out;
}

py::array int128_array(const ScaledFormat& f, const Int128* v, size_t n,
                       const std::vector<py::ssize_t>& shape) {
  if (!wide(f)) {
    py::array_t<int64_t> out(shape);
    int64_t* o = out.mutable_data();
    for (size_t i = 0; i < n; ++i) o[i] = static_cast<int64_t>(v[i]);
    return std::move(out);
  }
  py::array out(py::dtype("O"), shape);
  auto** o = static_cast<PyObject**>(out.mutable_data());
  for (size_t i = 0; i < n; ++i) {
    py::object item = int128_object(v[i]);
    Py_XDECREF(o[i]);
    o[i] = item.release().ptr();
  }
  return out;
}

void check_codes(const ScaledFormat& f, const Code* codes, size_t n, const std::string& what) {
  for (size_t i = 0; i < n; ++i) {
    try {
      check_code(f, codes[i]);
    } catch (const std::out_of_range&) {
      fail(what + "[" + std::to_string(i) + "] = " + std::to_string(codes[i]) +
           " is not a code of " + f.name() + " (NaN and infinity codes are refused)");
    }
  }
}

void check_exponent(int e, const std::string& what) {
  if (e < -127 || e > 127) fail(what + " " + std::to_string(e) + " is outside [-127, 127]");
}

// One value per block: an int / float applied to every block, or an array with one per block.
template <class T>
std::vector<T> per_block(const py::object& v, size_t blocks, const std::string& what) {
  if (!py::isinstance<py::array>(v)) {  // one number (a Python or NumPy scalar) for every block
    T one{};
    try {
      one = v.cast<T>();
    } catch (const py::cast_error&) {
      fail(what + " must be a number or a numpy array, not " +
           py::repr(py::type::of(v)).cast<std::string>());
    }
    return std::vector<T>(blocks, one);
  }
  const auto a = checked<T>(v, what);
  if (static_cast<size_t>(a.size()) != blocks) {
    fail(what + ": " + std::to_string(a.size()) + " values for " + std::to_string(blocks) +
         " blocks");
  }
  return std::vector<T>(a.data(), a.data() + a.size());
}

// Blocks of x along its last axis: `block` consecutive elements (the last block of each row may
// be shorter), or block 0: the whole array is one block. block_of(i) numbers them in order.
struct Blocks {
  size_t count = 1;
  size_t row = 0;     // last-axis length
  size_t block = 0;   // 0: one block
  size_t per_row = 1;
  size_t of(size_t i) const {
    if (block == 0) return 0;
    return (i / row) * per_row + (i % row) / block;
  }
};

Blocks blocks_of(const py::array& x, int64_t block) {
  Blocks b;
  if (x.size() == 0) fail("x is empty");
  if (block < 0) fail("block " + std::to_string(block) + " must be positive (or 0: one block)");
  if (block == 0) return b;
  b.row = x.ndim() == 0 ? 1 : static_cast<size_t>(x.shape(x.ndim() - 1));
  b.block = static_cast<size_t>(block);
  b.per_row = (b.row + b.block - 1) / b.block;
  b.count = static_cast<size_t>(x.size()) / b.row * b.per_row;
  return b;
}

void check_not_nan(const float* d, size_t n, const std::string& what) {
  for (size_t i = 0; i < n; ++i) {
    if (std::isnan(d[i])) fail(what + "[" + std::to_string(i) + "] is NaN");
  }
}

// ---- encode / decode ----------------------------------------------------------------------

// Power-of-two scales: exponent None takes the OCP choice (mx_shared_exponent) of each block.
py::tuple encode_pow2(const py::object& x_obj, const py::object& exponent, const py::object& fmt,
                      int64_t block) {
  const ScaledFormat f = to_scaled(fmt);
  const auto x = checked<float>(x_obj, "x");
  const Blocks b = blocks_of(x, block);
  const auto n = static_cast<size_t>(x.size());
  const float* d = x.data();
  check_not_nan(d, n, "x");
  std::vector<int> exps;
  if (exponent.is_none()) {
    if (!f.is_mx()) {
      fail("exponent: " + f.name() + " has an FP32 scale (encode_scaled); give a power-of-two "
           "exponent to encode with 2^E");
    }
    // Every block is a contiguous range: [r * row + j * block, ...) of row r, or all of x.
    exps.reserve(b.count);
    if (b.block == 0) {
      exps.push_back(library_call([&] { return mx_shared_exponent(f, d, n); }));
    }
    for (size_t first = 0; b.block != 0 && first < n; first += b.row) {
      for (size_t j = 0; j < b.row; j += b.block) {
        const size_t len = std::min(b.block, b.row - j);
        exps.push_back(library_call([&] { return mx_shared_exponent(f, d + first + j, len); }));
      }
    }
  } else {
    exps = per_block<int>(exponent, b.count, "exponent");
    for (int e : exps) check_exponent(e, "exponent");
  }
  py::array_t<uint8_t> codes(shape_of(x));
  Code* out = codes.mutable_data();
  for (size_t i = 0; i < n; ++i) out[i] = encode(f, static_cast<double>(d[i]), exps[b.of(i)]);
  return py::make_tuple(codes, py::array_t<int32_t>(static_cast<py::ssize_t>(exps.size()),
                                                   exps.data()));
}

py::array decode_pow2(const py::object& codes_obj, const py::object& exponent,
                      const py::object& fmt, int64_t block) {
  const ScaledFormat f = to_scaled(fmt);
  const auto codes = checked<uint8_t>(codes_obj, "codes");
  const Blocks b = blocks_of(codes, block);
  const std::vector<int> exps = per_block<int>(exponent, b.count, "exponent");
  for (int e : exps) check_exponent(e, "exponent");
  const auto n = static_cast<size_t>(codes.size());
  check_codes(f, codes.data(), n, "codes");
  py::array_t<double> values(shape_of(codes));
  double* out = values.mutable_data();
  for (size_t i = 0; i < n; ++i) out[i] = decode(f, codes.data()[i], exps[b.of(i)]);
  return std::move(values);
}

// FP32 scales: scale None takes tensor_scale of each block's amax.
py::tuple encode_fp32(const py::object& x_obj, const py::object& scale, const py::object& fmt,
                      int64_t block) {
  const ScaledFormat f = to_scaled(fmt);
  const auto x = checked<float>(x_obj, "x");
  const Blocks b = blocks_of(x, block);
  const auto n = static_cast<size_t>(x.size());
  const float* d = x.data();
  check_not_nan(d, n, "x");
  std::vector<float> scales;
  if (scale.is_none()) {
    std::vector<float> amax(b.count, 0.0f);
    for (size_t i = 0; i < n; ++i) amax[b.of(i)] = std::max(amax[b.of(i)], std::fabs(d[i]));
    for (float a : amax) scales.push_back(library_call([&] { return tensor_scale(f, a); }));
  } else {
    scales = per_block<float>(scale, b.count, "scale");
  }
  py::array_t<uint8_t> codes(shape_of(x));
  Code* out = codes.mutable_data();
  library_call([&] {
    for (size_t i = 0; i < n; ++i) out[i] = encode_scaled(f, d[i], scales[b.of(i)]);
    return 0;
  });
  return py::make_tuple(codes, py::array_t<float>(static_cast<py::ssize_t>(scales.size()),
                                                 scales.data()));
}

py::array decode_fp32(const py::object& codes_obj, const py::object& scale, const py::object& fmt,
                      int64_t block) {
  const ScaledFormat f = to_scaled(fmt);
  const auto codes = checked<uint8_t>(codes_obj, "codes");
  const Blocks b = blocks_of(codes, block);
  const std::vector<float> scales = per_block<float>(scale, b.count, "scale");
  const auto n = static_cast<size_t>(codes.size());
  check_codes(f, codes.data(), n, "codes");
  py::array_t<double> values(shape_of(codes));
  double* out = values.mutable_data();
  library_call([&] {
    for (size_t i = 0; i < n; ++i) out[i] = decode_scaled(f, codes.data()[i], scales[b.of(i)]);
    return 0;
  });
  return std::move(values);
}

// ---- multiply / dot -----------------------------------------------------------------------

py::array py_multiply(const py::object& a_obj, const py::object& b_obj, const py::object& fmt) {
  const ScaledFormat f = to_scaled(fmt);
  const auto a = checked<uint8_t>(a_obj, "a");
  const auto b = checked<uint8_t>(b_obj, "b");
  if (shape_of(a) != shape_of(b)) fail("a and b must have the same shape");
  const auto n = static_cast<size_t>(a.size());
  check_codes(f, a.data(), n, "a");
  check_codes(f, b.data(), n, "b");
  std::vector<Int128> p(n);
  for (size_t i = 0; i < n; ++i) p[i] = multiply(f, a.data()[i], b.data()[i]);
  return int128_array(f, p.data(), n, shape_of(a));
}

void check_pair(const py::array& a, const py::array& b) {
  if (a.ndim() != 1 || b.ndim() != 1 || a.size() != b.size()) {
    fail("a and b must be 1-D of the same length");
  }
}

py::tuple py_dot(const py::object& a_obj, const py::object& b_obj, const py::object& fmt,
                 const py::object& initial) {
  const ScaledFormat f = to_scaled(fmt);
  const auto a = checked<uint8_t>(a_obj, "a");
  const auto b = checked<uint8_t>(b_obj, "b");
  check_pair(a, b);
  const auto n = static_cast<size_t>(a.size());
  check_codes(f, a.data(), n, "a");
  check_codes(f, b.data(), n, "b");
  const Int128 start = int128_of(initial, "initial");
  const Int128 limit = Int128{1} << (f.acc_bits() - 1);
  if (start < -limit || start >= limit) {
    fail("initial " + to_decimal(start) + " is outside the " + std::to_string(f.acc_bits()) +
         "-bit accumulator of " + f.name());
  }
  const WideDotResult r = library_call([&] { return dot(f, a.data(), b.data(), n, start); });
  return py::make_tuple(int128_object(r.acc), r.overflows);
}

py::tuple py_mx_dot(const py::object& a_obj, const py::object& a_exps_obj,
                    const py::object& b_obj, const py::object& b_exps_obj, const py::object& fmt,
                    float initial) {
  const ScaledFormat f = to_scaled(fmt);
  if (!f.is_mx()) fail("fmt: mx_dot needs an MX format, not " + f.name());
  const auto a = checked<uint8_t>(a_obj, "a");
  const auto b = checked<uint8_t>(b_obj, "b");
  check_pair(a, b);
  const auto n = static_cast<size_t>(a.size());
  check_codes(f, a.data(), n, "a");
  check_codes(f, b.data(), n, "b");
  const size_t blocks = (n + 31) / 32;
  const std::vector<int> ae = per_block<int32_t>(a_exps_obj, blocks, "a_exponents");
  const std::vector<int> be = per_block<int32_t>(b_exps_obj, blocks, "b_exponents");
  for (int e : ae) check_exponent(e, "a_exponents");
  for (int e : be) check_exponent(e, "b_exponents");
  if (std::isnan(initial)) fail("initial is NaN");
  const MxDotResult r = library_call(
      [&] { return mx_dot(f, a.data(), ae.data(), b.data(), be.data(), n, initial); });
  return py::make_tuple(r.value, r.overflows);
}

// ---- gemm ---------------------------------------------------------------------------------

KernelPath path_of(const std::string& name) {
  if (name == "auto") return KernelPath::kAuto;
  if (name == "reference") return KernelPath::kReference;
  if (name == "portable") return KernelPath::kPortable;
  if (name == "avx512") return KernelPath::kAvx512;
  fail("path: unknown kernel path '" + name + "' (auto, reference, portable, avx512)");
}

// Rows of A per kernel call: enough to amortise packing B, few enough that the 128-bit sums stay
// in cache (lbfp eval's choice).
size_t rows_per_call(size_t row_codes, size_t row_sums) {
  constexpr size_t kCallBytes = size_t{2} << 20;
  const size_t bytes = row_codes + row_sums * sizeof(Int128);
  return std::max<size_t>(16, kCallBytes / std::max<size_t>(1, bytes));
}

struct Product {
  ScaledGemmProblem p;
  std::vector<Int128> initial;
  size_t blocks = 1;
};

// a: M x K, b: N x K (output j's codes in row j).
Product product_of(const ScaledFormat& f, const py::array_t<uint8_t>& a,
                   const py::array_t<uint8_t>& b, int64_t block) {
  if (a.ndim() != 2 || b.ndim() != 2) fail("a and b must be 2-D (M x K and N x K)");
  if (a.shape(1) != b.shape(1)) {
    fail("a is " + std::to_string(a.shape(0)) + " x " + std::to_string(a.shape(1)) + " but b is " +
         std::to_string(b.shape(0)) + " x " + std::to_string(b.shape(1)) +
         " (both hold K codes per row)");
  }
  Product r;
  r.p.m = static_cast<size_t>(a.shape(0));
  r.p.n = static_cast<size_t>(b.shape(0));
  r.p.k = static_cast<size_t>(a.shape(1));
  r.p.a = a.data();
  r.p.lda = r.p.k;
  r.p.b = b.data();
  r.p.ldb = r.p.k;
  if (f.is_mx() && block == 0) block = ScaledFormat::kMxBlockSize;
  if (block < 0 || block > ScaledFormat::kMxBlockSize) {
    fail("block " + std::to_string(block) + " is outside 0..32");
  }
  if (block != 0 && !f.is_mx()) fail("block: " + f.name() + " has no blocks");
  r.p.block = static_cast<size_t>(block);
  r.blocks = scaled_gemm_blocks(r.p);
  return r;
}

GemmOptions options_of(const std::string& path) {
  GemmOptions o;
  o.threads = 1;
  o.path = path_of(path);
  return o;
}

// The N per-output multipliers of requant_multiplier: a float64 array of N values, or one number.
std::vector<double> column_multipliers(const py::object& m, size_t n) {
  if (m.is_none()) fail("multiplier: output 'codes' and 'float' need the requant multipliers");
  std::vector<double> out;
  if (py::isinstance<py::array>(m)) {
    const auto a = checked<double>(m, "multiplier");
    if (a.ndim() != 1 || static_cast<size_t>(a.size()) != n) {
      fail("multiplier must hold " + std::to_string(n) + " values (one per output), not " +
           std::to_string(a.size()));
    }
    out.assign(a.data(), a.data() + n);
  } else {
    out.assign(n, m.cast<double>());
  }
  for (size_t j = 0; j < n; ++j) {
    if (!std::isfinite(out[j])) fail("multiplier[" + std::to_string(j) + "] is not finite");
  }
  return out;
}

py::tuple py_gemm(const py::object& a_obj, const py::object& b_obj, const py::object& fmt,
                  const py::object& initial, int64_t block, const std::string& path,
                  const py::object& multiplier, const std::string& output, bool relu) {
  const ScaledFormat f = to_scaled(fmt);
  const auto a = checked<uint8_t>(a_obj, "a");
  const auto b = checked<uint8_t>(b_obj, "b");
  Product pr = product_of(f, a, b, block);
  if (!initial.is_none()) {
    if (f.is_mx()) fail("initial: MX sums start from 0 in every block (mx_gemm takes the bias)");
    std::vector<py::ssize_t> shape;
    pr.initial = int128_values(initial, "initial", &shape);
    if (pr.initial.size() != pr.p.n) {
      fail("initial has " + std::to_string(pr.initial.size()) + " values for " +
           std::to_string(pr.p.n) + " outputs");
    }
    pr.p.initial = pr.initial.data();
  }
  if (output != "acc" && output != "codes" && output != "float") {
    fail("output must be 'acc', 'codes' or 'float', not '" + output + "'");
  }
  if (output != "acc" && f.is_mx()) fail("output: MX block sums are reduced by mx_gemm");
  if (output == "acc" && (relu || !multiplier.is_none())) {
    fail("multiplier and relu apply to output 'codes' or 'float'");
  }
  const std::vector<double> m = output == "acc" ? std::vector<double>()
                                                : column_multipliers(multiplier, pr.p.n);
  const GemmOptions options = options_of(path);
  std::vector<py::ssize_t> shape = {static_cast<py::ssize_t>(pr.p.m),
                                    static_cast<py::ssize_t>(pr.p.n)};
  if (f.is_mx()) shape.push_back(static_cast<py::ssize_t>(pr.blocks));
  if (output == "acc") {
    std::vector<Int128> acc(pr.p.m * pr.p.n * pr.blocks);
    const ScaledGemmStats stats = library_call([&] {
      py::gil_scoped_release release;
      return gemm_accumulate(f, pr.p, acc.data(), pr.p.n * pr.blocks, options);
    });
    return py::make_tuple(int128_array(f, acc.data(), acc.size(), shape), stats.overflows);
  }
  // requantize_scaled (the next layer's codes) or dequantize_accumulator (a last layer's real
  // outputs, then the ReLU) per output column j with its multiplier, a cache-sized run of rows
  // at a time.
  const size_t n = pr.p.n;
  const size_t step = rows_per_call(pr.p.k, n);
  std::vector<Int128> acc(std::min(pr.p.m, step) * n);
  py::array result = output == "codes" ? py::array(py::array_t<uint8_t>(shape))
                                       : py::array(py::array_t<float>(shape));
  void* data = result.mutable_data();
  const bool codes = output == "codes";
  const uint64_t overflows = library_call([&] {
    py::gil_scoped_release release;
    uint64_t total = 0;
    for (size_t first = 0; first < pr.p.m; first += step) {
      ScaledGemmProblem p = pr.p;
      p.m = std::min(step, pr.p.m - first);
      p.a = pr.p.a + first * pr.p.lda;
      total += gemm_accumulate(f, p, acc.data(), n, options).overflows;
      for (size_t r = 0; r < p.m; ++r) {
        const Int128* row = acc.data() + r * n;
        if (codes) {
          Code* o = static_cast<Code*>(data) + (first + r) * n;
          for (size_t j = 0; j < n; ++j) o[j] = requantize_scaled(f, row[j], m[j], relu);
        } else {
          float* o = static_cast<float*>(data) + (first + r) * n;
          for (size_t j = 0; j < n; ++j) {
            const float v = dequantize_accumulator(row[j], m[j]);
            o[j] = relu && v < 0.0f ? 0.0f : v;
          }
        }
      }
    }
    return total;
  });
  return py::make_tuple(result, overflows);
}

// MX: the exact block sums (gemm_accumulate), each added to the FP32 sum from the bias by
// mx_accumulate in block order; a block whose `a_skip` is set has no block pair (padding).
py::tuple py_mx_gemm(const py::object& a_obj, const py::object& a_exps_obj,
                     const py::object& b_obj, const py::object& b_exps_obj,
                     const py::object& fmt, const py::object& bias_obj, bool relu,
                     int64_t block, const py::object& a_skip_obj, const std::string& path) {
  const ScaledFormat f = to_scaled(fmt);
  if (!f.is_mx()) fail("fmt: mx_gemm needs an MX format, not " + f.name());
  const auto a = checked<uint8_t>(a_obj, "a");
  const auto b = checked<uint8_t>(b_obj, "b");
  Product pr = product_of(f, a, b, block);
  const size_t m = pr.p.m, n = pr.p.n, nb = pr.blocks;
  auto exps = [&](const py::object& obj, size_t rows, const char* what) {
    const auto e = checked<int32_t>(obj, what);
    if (e.ndim() != 2 || static_cast<size_t>(e.shape(0)) != rows ||
        static_cast<size_t>(e.shape(1)) != nb) {
      fail(std::string(what) + " must be " + std::to_string(rows) + " x " + std::to_string(nb) +
           " (one exponent per row and block)");
    }
    for (py::ssize_t i = 0; i < e.size(); ++i) check_exponent(e.data()[i], what);
    return e;
  };
  const auto ae = exps(a_exps_obj, m, "a_exponents");
  const auto be = exps(b_exps_obj, n, "b_exponents");
  std::vector<float> bias(n, 0.0f);
  if (!bias_obj.is_none()) {
    const auto bv = checked<float>(bias_obj, "bias");
    if (static_cast<size_t>(bv.size()) != n) {
      fail("bias has " + std::to_string(bv.size()) + " values for " + std::to_string(n) +
           " outputs");
    }
    bias.assign(bv.data(), bv.data() + n);
    check_not_nan(bias.data(), n, "bias");
  }
  const uint8_t* skip = nullptr;
  py::array_t<uint8_t> skip_array;
  if (!a_skip_obj.is_none()) {
    skip_array = checked<uint8_t>(a_skip_obj, "a_skip");
    if (skip_array.ndim() != 2 || static_cast<size_t>(skip_array.shape(0)) != m ||
        static_cast<size_t>(skip_array.shape(1)) != nb) {
      fail("a_skip must be " + std::to_string(m) + " x " + std::to_string(nb));
    }
    skip = skip_array.data();
  }
  const GemmOptions options = options_of(path);
  // Rows per kernel call: their block sums stay in cache (about 2 MiB), as lbfp eval calls it.
  const size_t step = rows_per_call(pr.p.k, n * nb);
  std::vector<Int128> acc(std::min(m, step) * n * nb);
  py::array_t<float> out(std::vector<py::ssize_t>{static_cast<py::ssize_t>(m),
                                                  static_cast<py::ssize_t>(n)});
  float* o = out.mutable_data();
  const uint64_t overflows = library_call([&] {
    py::gil_scoped_release release;
    uint64_t total = 0;
    for (size_t first = 0; first < m; first += step) {
      ScaledGemmProblem p = pr.p;
      p.m = std::min(step, m - first);
      p.a = pr.p.a + first * pr.p.lda;
      total += gemm_accumulate(f, p, acc.data(), n * nb, options).overflows;
      for (size_t r = 0; r < p.m; ++r) {
        const size_t i = first + r;
        for (size_t j = 0; j < n; ++j) {
          float sum = bias[j];
          for (size_t q = 0; q < nb; ++q) {
            if (skip && skip[i * nb + q]) continue;
            sum = mx_accumulate(f, sum, acc[(r * n + j) * nb + q], ae.data()[i * nb + q],
                                be.data()[j * nb + q]);
          }
          o[i * n + j] = relu && sum < 0.0f ? 0.0f : sum;
        }
      }
    }
    return total;
  });
  return py::make_tuple(out, overflows);
}

// ---- requantize / dequantize --------------------------------------------------------------

py::array py_requantize(const py::object& acc_obj, const py::object& scale, int out_exponent,
                        const py::object& fmt, bool relu) {
  const ScaledFormat f = to_scaled(fmt);
  std::vector<py::ssize_t> shape;
  const std::vector<Int128> acc = int128_values(acc_obj, "acc", &shape);
  const std::vector<int> scales = per_block<int32_t>(scale, acc.size(), "scale");
  check_exponent(out_exponent, "out_exponent");
  py::array_t<uint8_t> codes(shape);
  Code* out = codes.mutable_data();
  for (size_t i = 0; i < acc.size(); ++i) {
    out[i] = library_call([&] { return requantize(f, acc[i], scales[i], out_exponent, relu); });
  }
  return std::move(codes);
}

std::vector<double> multipliers_of(const py::object& m, size_t n) {
  if (py::isinstance<py::float_>(m) || py::isinstance<py::int_>(m)) {
    return std::vector<double>(n, m.cast<double>());
  }
  const auto a = checked<double>(m, "multiplier");
  if (static_cast<size_t>(a.size()) != n) {
    fail("multiplier has " + std::to_string(a.size()) + " values for " + std::to_string(n) +
         " accumulators (a float, or a float64 array shaped as acc)");
  }
  for (py::ssize_t i = 0; i < a.size(); ++i) {
    if (!std::isfinite(a.data()[i])) fail("multiplier[" + std::to_string(i) + "] is not finite");
  }
  return std::vector<double>(a.data(), a.data() + a.size());
}

py::array py_requantize_scaled(const py::object& acc_obj, const py::object& multiplier,
                               const py::object& fmt, bool relu) {
  const ScaledFormat f = to_scaled(fmt);
  std::vector<py::ssize_t> shape;
  const std::vector<Int128> acc = int128_values(acc_obj, "acc", &shape);
  const std::vector<double> m = multipliers_of(multiplier, acc.size());
  py::array_t<uint8_t> codes(shape);
  Code* out = codes.mutable_data();
  library_call([&] {
    for (size_t i = 0; i < acc.size(); ++i) out[i] = requantize_scaled(f, acc[i], m[i], relu);
    return 0;
  });
  return std::move(codes);
}

py::array py_dequantize(const py::object& acc_obj, const py::object& multiplier) {
  std::vector<py::ssize_t> shape;
  const std::vector<Int128> acc = int128_values(acc_obj, "acc", &shape);
  const std::vector<double> m = multipliers_of(multiplier, acc.size());
  py::array_t<float> out(shape);
  float* o = out.mutable_data();
  for (size_t i = 0; i < acc.size(); ++i) o[i] = dequantize_accumulator(acc[i], m[i]);
  return std::move(out);
}

float finite_float(double v, const char* what) {
  if (!std::isfinite(v)) fail(std::string(what) + " is not finite");
  return static_cast<float>(v);
}

}  // namespace

void add_scaled_bindings(py::module_& m) {
  py::class_<ScaledFormat>(m, "ScaledFormat",
                           "A section 13 format (docs/spec.md): MXINT8, MXFP8, FP8 or INT8.")
      .def(py::init([](const std::string& name, int acc_bits) {
             return format_named(name, acc_bits);
           }),
           py::arg("name"), py::arg("acc_bits") = 0)
      .def_property_readonly("name", &ScaledFormat::name)
      .def_property_readonly("acc_bits", &ScaledFormat::acc_bits)
      .def_property_readonly("is_mx", &ScaledFormat::is_mx)
      .def_property_readonly("is_float", &ScaledFormat::is_float)
      .def_property_readonly("block_size", &ScaledFormat::block_size)
      .def_property_readonly("product_lsb", &ScaledFormat::product_lsb)
      .def_property_readonly("emax_elem", &ScaledFormat::emax_elem)
      .def_property_readonly("max_element", &ScaledFormat::max_element)
      .def_property_readonly("wide", [](const ScaledFormat& f) { return wide(f); })
      .def_property_readonly("element", [](const ScaledFormat& f) {
        switch (f.element()) {
          case ElementKind::kInt8: return "int8";
          case ElementKind::kE4M3: return "e4m3";
          case ElementKind::kE5M2: return "e5m2";
        }
        return "?";
      })
      .def("product_scale", &ScaledFormat::product_scale, py::arg("ea"), py::arg("eb"))
      .def("__repr__", [](const ScaledFormat& f) { return "ScaledFormat('" + f.name() + "')"; })
      .def("__eq__", [](const ScaledFormat& a, const ScaledFormat& b) { return a == b; });

  m.def("scaled_encode", &encode_pow2, py::arg("x"), py::arg("exponent"), py::arg("fmt"),
        py::arg("block"));
  m.def("scaled_decode", &decode_pow2, py::arg("codes"), py::arg("exponent"), py::arg("fmt"),
        py::arg("block"));
  m.def("scaled_encode_fp32", &encode_fp32, py::arg("x"), py::arg("scale"), py::arg("fmt"),
        py::arg("block"));
  m.def("scaled_decode_fp32", &decode_fp32, py::arg("codes"), py::arg("scale"), py::arg("fmt"),
        py::arg("block"));
  m.def("scaled_multiply", &py_multiply, py::arg("a"), py::arg("b"), py::arg("fmt"));
  m.def("scaled_dot", &py_dot, py::arg("a"), py::arg("b"), py::arg("fmt"), py::arg("initial"));
  m.def("mx_dot", &py_mx_dot, py::arg("a"), py::arg("a_exponents"), py::arg("b"),
        py::arg("b_exponents"), py::arg("fmt"), py::arg("initial") = 0.0f);
  m.def("scaled_gemm", &py_gemm, py::arg("a"), py::arg("b"), py::arg("fmt"),
        py::arg("initial") = py::none(), py::arg("block") = 0, py::arg("path") = "auto",
        py::arg("multiplier") = py::none(), py::arg("output") = "acc", py::arg("relu") = false);
  m.def("mx_gemm", &py_mx_gemm, py::arg("a"), py::arg("a_exponents"), py::arg("b"),
        py::arg("b_exponents"), py::arg("fmt"), py::arg("bias") = py::none(),
        py::arg("relu") = false, py::arg("block") = 0, py::arg("a_skip") = py::none(),
        py::arg("path") = "auto");
  m.def("scaled_requantize", &py_requantize, py::arg("acc"), py::arg("scale"),
        py::arg("out_exponent"), py::arg("fmt"), py::arg("relu") = false);
  m.def("requantize_scaled", &py_requantize_scaled, py::arg("acc"), py::arg("multiplier"),
        py::arg("fmt"), py::arg("relu") = false);
  m.def("dequantize", &py_dequantize, py::arg("acc"), py::arg("multiplier"));
  m.def("requant_multiplier", [](double sa, double sb, double so, const py::object& fmt) {
    const ScaledFormat f = to_scaled(fmt);
    return library_call([&] {
      return requant_multiplier(f, finite_float(sa, "sa"), finite_float(sb, "sb"),
                                finite_float(so, "so"));
    });
  }, py::arg("sa"), py::arg("sb"), py::arg("so"), py::arg("fmt"));
  m.def("bias_to_accumulator_scaled", [](double bias, double sa, double sb,
                                         const py::object& fmt) {
    const ScaledFormat f = to_scaled(fmt);
    if (std::isnan(bias)) fail("bias is NaN");
    return int128_object(library_call([&] {
      return bias_to_accumulator_scaled(f, static_cast<float>(bias), finite_float(sa, "sa"),
                                        finite_float(sb, "sb"));
    }));
  }, py::arg("bias"), py::arg("sa"), py::arg("sb"), py::arg("fmt"));
  m.def("tensor_scale", [](double amax, const py::object& fmt) {
    const ScaledFormat f = to_scaled(fmt);
    if (std::isnan(amax)) fail("amax is NaN");
    return library_call([&] { return tensor_scale(f, static_cast<float>(amax)); });
  }, py::arg("amax"), py::arg("fmt"));
  m.def("mx_shared_exponent", [](const py::object& x_obj, const py::object& fmt) {
    const ScaledFormat f = to_scaled(fmt);
    const auto x = checked<float>(x_obj, "x");
    check_not_nan(x.data(), static_cast<size_t>(x.size()), "x");
    return library_call(
        [&] { return mx_shared_exponent(f, x.data(), static_cast<size_t>(x.size())); });
  }, py::arg("x"), py::arg("fmt"));
  m.def("element_value", [](unsigned code, const py::object& fmt) {
    const ScaledFormat f = to_scaled(fmt);
    if (code > 0xff) fail("code " + std::to_string(code) + " is above 0xff");
    return library_call([&] {
      check_code(f, code);
      return element_value(f, static_cast<Code>(code));
    });
  }, py::arg("code"), py::arg("fmt"));
}

}  // namespace lbfp::python
