// GEMM driver: argument checks, bias, kernel choice, threads, the per-output overflow proof, the
// sequential fallback and the epilogue (raw accumulators or requantized codes).
//
// Why reordering is exact where it is used. The spec adds the products in k order into an A-bit
// saturating accumulator. If |bias| + sum_k |p_k| <= 2^(A-1) - 1, no partial sum in any order
// leaves the A-bit range, so no step saturates and the result is the plain integer sum. If that
// bound is also <= 2^31 - 1, the sum and every partial sum fit int32, so the kernels' wrapping
// int32 lanes give it exactly. Each output gets three upper bounds of sum_k |p_k|, all computed
// from the codes in O(MK + KN):
//   row bound    R_m = sum_k |p(a_mk, bmax_k)|,   bmax_k = the largest magnitude in row k of B
//   column bound C_n = sum_k |p(amax_k, b_kn)|,   amax_k = the largest magnitude in column k of A
//   Cauchy-Schwarz    ||U_m||_2 ||V_n||_2, with |p(a, b)| <= U(a) V(b) for all codes (U, V >= 0
//                     in double, checked over every code pair with a relative margin; the
//                     AVX-512 LBFP8 path sums U^2 rounded up to int16 multiples of a unit,
//                     exactly, which only enlarges the bound)
// (|p| grows with each magnitude, so the first two hold). An output is cleared when the least of
// them plus |bias| is within the limit; every other output is recomputed in k order: in int64
// from a table of the golden terms, and by lbfp::dot where a partial sum leaves the A-bit range.
#include "lbfp/gemm.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstring>
#include <exception>
#include <functional>
#include <limits>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <tuple>
#include <utility>
#include <vector>

#include "gemm_kernels.h"
#include "lbfp/arith.h"

namespace lbfp {
namespace {

using detail::BfpKernelTables;
using detail::LbfpKernelTables;
using detail::SumBlock;

// ---- tables, built once per format from the golden arithmetic ----------------------------------

// The signed accumulator term of one product (what Accumulator::add adds before saturating),
// and its exact value where it fits int64.
int64_t signed_term(const LbfpFormat& format, const LbfpProduct& p) {
  return accumulator_term(p, format.acc_bits());
}
int64_t signed_term(const BfpFormat&, int64_t p) { return p; }
std::optional<int64_t> exact_value(const LbfpProduct& p) { return p.to_int64(); }
std::optional<int64_t> exact_value(int64_t p) { return p; }

// The in-order sums of `count` outputs that share the column `b`, each from its start value in
// sums[], in int64 from the golden terms; ok[r] stays true where no partial sum left [lo, hi]:
// then no step saturated and sums[r] is the accumulator's result. Blocks of 64 steps that start
// far enough inside the range cannot leave it and skip the per-step check.
void in_order_sums(const int32_t* terms, int64_t max_term, const Code* const* rows, size_t count,
                   const Code* b, size_t k, int64_t lo, int64_t hi, int64_t* sums, bool* ok) {
  constexpr size_t kBlock = 64;
  const int64_t margin = static_cast<int64_t>(kBlock) * max_term;
  for (size_t r = 0; r < count; ++r) ok[r] = sums[r] >= lo && sums[r] <= hi;
  for (size_t k0 = 0; k0 < k; k0 += kBlock) {
    const size_t k1 = std::min(k, k0 + kBlock);
    bool safe = count == 4;
    for (size_t r = 0; r < count; ++r) {
      safe = safe && sums[r] >= lo + margin && sums[r] <= hi - margin;
    }
    if (safe) {  // four independent chains
      int64_t s0 = sums[0], s1 = sums[1], s2 = sums[2], s3 = sums[3];
      const Code *r0 = rows[0], *r1 = rows[1], *r2 = rows[2], *r3 = rows[3];
      for (size_t kk = k0; kk < k1; ++kk) {
        const size_t bb = b[kk];
        s0 += terms[size_t{r0[kk]} << 8 | bb];
        s1 += terms[size_t{r1[kk]} << 8 | bb];
        s2 += terms[size_t{r2[kk]} << 8 | bb];
        s3 += terms[size_t{r3[kk]} << 8 | bb];
      }
      sums[0] = s0;
      sums[1] = s1;
      sums[2] = s2;
      sums[3] = s3;
      continue;
    }
    for (size_t r = 0; r < count; ++r) {
      int64_t s = sums[r];
      bool in_range = ok[r];
      for (size_t kk = k0; kk < k1; ++kk) {
        s += terms[size_t{rows[r][kk]} << 8 | b[kk]];
        in_range = in_range && s >= lo && s <= hi;
      }
      sums[r] = s;
      ok[r] = in_range;
    }
  }
}

// Per format: which codes are valid, each code's magnitude class, |p| per magnitude pair, the
// Cauchy-Schwarz factors, and the kernels' tables.
template <class Format>
struct FormatTables {
  bool valid[256] = {};
  int magnitude[256] = {};              // index into the |p| table (LBFP: m; BFP: |n|)
  int max_magnitude = 0;
  std::vector<int64_t> abs_products;    // (max_magnitude + 1)^2, or empty if some |p| > int64
  double cs_square[256] = {};           // U(code)^2 = V(code)^2
  bool products_fit_int32 = false;      // every |p| <= 2^24: the kernels' per-product range
  int invalid_codes = 0;                // how many of the 256 byte values are not codes
  int only_invalid = -1;                // the invalid byte when there is exactly one
  LbfpKernelTables lbfp;                // LBFP only
  BfpKernelTables bfp;                  // BFP only
  // The in-order fallback's 256 x 256 signed accumulator terms (each within its product's
  // magnitude, or 2^A below it where the term saturates: within int32 when the products are),
  // built at their first use (terms_of): most runs never need them.
  Format format;
  mutable std::once_flag terms_once;
  mutable std::vector<int32_t> terms;
  explicit FormatTables(const Format& f) : format(f) {}
};

// The terms of t, from the golden product of every pair of valid codes (zero where either is
// invalid); t.products_fit_int32 must hold.
template <class Format>
const int32_t* terms_of(const FormatTables<Format>& t) {
  std::call_once(t.terms_once, [&t] {
    std::vector<int32_t> terms(size_t{256} * 256, 0);
    for (int a = 0; a < 256; ++a) {
      if (!t.valid[a]) continue;
      for (int b = 0; b < 256; ++b) {
        if (!t.valid[b]) continue;
        const int64_t term = signed_term(t.format, multiply(t.format, Code(a), Code(b)));
        terms[size_t{256} * a + b] = static_cast<int32_t>(term);
      }
    }
    t.terms = std::move(terms);
  });
  return t.terms.data();
}

void build_kernel_tables(const LbfpFormat& format, FormatTables<LbfpFormat>& t) {
  LbfpKernelTables& k = t.lbfp;
  k.usable = false;
  if (format.width() != 8 || format.frac_bits() != 4 || 2 * int64_t{format.lut(15)} > 32767) {
    return;
  }
  for (int code = 0; code < 256; ++code) {
    const auto c = static_cast<Code>(code);
    const int m = magnitude(format, c);
    const bool neg = is_negative(format, c);
    // V_a[fb] = p(a, +(16 + fb)) / 2: that weight has qb = 1, fb = fb.
    for (int fb = 0; fb < 16; ++fb) {
      int64_t v = 0;
      if (m != 0) {
        v = *multiply(format, c, make_code(format, false, 16 + fb)).to_int64() / 2;
      }
      k.a_values[code][fb] = static_cast<int32_t>(v);
      k.a_pairs[code][2 * fb] = static_cast<int16_t>(v & 127);
      k.a_pairs[code][2 * fb + 1] = static_cast<int16_t>(v >> 7);
    }
    const int qb = m >> 4;
    const int fb = m & 15;
    const int y = m == 0 ? 0 : (neg ? -(1 << qb) : (1 << qb));
    k.b_scale[code] = y;
    k.b_index8[code] = static_cast<int32_t>(static_cast<uint32_t>(fb) |
                                            (static_cast<uint32_t>(fb >> 3) << 31));
    k.b_pair_index[code] = static_cast<uint32_t>(2 * fb) | (static_cast<uint32_t>(2 * fb + 1) << 16);
    k.b_pair_scale[code] = (static_cast<uint32_t>(y) & 0xffffu) |
                           ((static_cast<uint32_t>(y * 128) & 0xffffu) << 16);
  }
  int h[16][16];
  for (int fa = 0; fa < 16; ++fa) {
    for (int fb = 0; fb < 16; ++fb) {
      // ma = 16 + fa, mb = 16 + fb: qa = qb = 1, so the product is H[fa][fb] << 2.
      h[fa][fb] = static_cast<int>(*multiply(format, make_code(format, false, 16 + fa),
                                             make_code(format, false, 16 + fb))
                                        .to_int64() >>
                                   2);
      if (h[fa][fb] > 32767) return;
    }
  }
  auto signed_h = [&](int table, int fb) {  // table = fa | sa << 4
    return (table & 16) ? -h[table & 15][fb] : h[table & 15][fb];
  };
  for (int pair = 0; pair < 1024; ++pair) {
    for (int fb = 0; fb < 16; ++fb) {
      k.pair_h[pair][fb] = static_cast<int16_t>(signed_h(pair & 31, fb));
      k.pair_h[pair][16 + fb] = static_cast<int16_t>(signed_h(pair >> 5, fb));
    }
  }
  for (int code = 0; code < 256; ++code) {
    const auto c = static_cast<Code>(code);
    const int m = magnitude(format, c);
    const bool neg = is_negative(format, c);
    const int y = m == 0 ? 0 : (neg ? -(1 << (m >> 4)) : (1 << (m >> 4)));
    k.a_table[code] = static_cast<uint16_t>((m & 15) | (neg ? 16 : 0));
    k.a_shift[code] = static_cast<uint16_t>(m == 0 ? 16 : m >> 4);
    k.b_frac[code] = static_cast<int16_t>(m & 15);
    k.b_sign_pow[code] = static_cast<int16_t>(y);
  }
  // The bit-field form of the tables (the VBMI kernel's), and the VBMI split (gemm_kernels.h):
  // x16 = Ha[fb] << (qa - 2e), the table value of a times 2^qa, as the product with a weight of
  // qb = 0 (code 16 * 0 + fb, or its sign) divided by 2^(2e).
  bool bit_fields = true;
  for (int c = 0; c < 256; ++c) {
    const int m = c & 127;
    const int q = (m >> 4) & 7;
    const int yb = m == 0 ? 0 : ((c & 128) ? -(1 << q) : (1 << q));
    // (A zero code's table is never read: its shift of 16 zeroes the product.)
    bit_fields = bit_fields && (m == 0 || k.a_table[c] == ((c & 15) | ((c >> 7) << 4))) &&
                 k.a_shift[c] == (m == 0 ? 16 : q) && k.b_frac[c] == (c & 15) &&
                 k.b_sign_pow[c] == yb;
  }
  bool vbmi = bit_fields;
  for (int a = 0; a < 256 && vbmi; ++a) {
    const int m = a & 127;
    const int qa = m >> 4;
    const int e = m != 0 && qa >= 6 ? 1 : 0;
    k.e2[a] = static_cast<uint8_t>(e);
    for (int fb = 0; fb < 16; ++fb) {
      int64_t x = 0;
      if (m != 0) {
        const int64_t p0 = int64_t{k.pair_h[k.a_table[a]][fb]} * (int64_t{1} << qa);
        if (p0 % (int64_t{1} << (2 * e)) != 0) vbmi = false;
        x = p0 / (int64_t{1} << (2 * e));
      }
      if (x < -32768 || x > 32767) vbmi = false;
      k.x16[a][fb] = static_cast<int16_t>(x);
    }
  }
  // The factorisations are proven by exhaustion, against the golden multiply, in every form the
  // kernels use (the shift as vpsllvw does it: a count above 15 gives 0), the VBMI split too
  // where it applies.
  for (int a = 0; a < 256; ++a) {
    for (int b = 0; b < 256; ++b) {
      const std::optional<int64_t> exact = multiply(format, Code(a), Code(b)).to_int64();
      if (!exact) return;
      const int64_t p = *exact;
      const int fb = k.b_index8[b] & 15;
      const int64_t y = k.b_scale[b];
      const int64_t via_values = int64_t{k.a_values[a][fb]} * y;
      const int64_t via_pairs =
          int64_t{k.a_pairs[a][2 * fb]} * y + int64_t{k.a_pairs[a][2 * fb + 1]} * (y * 128);
      const unsigned shift = k.a_shift[a];
      const auto yb16 = static_cast<uint16_t>(k.b_sign_pow[b]);
      const auto shifted =
          static_cast<int16_t>(shift > 15 ? 0 : static_cast<uint16_t>(yb16 << shift));
      const int64_t exact_shifted = shift > 15 ? 0 : int64_t{k.b_sign_pow[b]} * (1 << shift);
      const int64_t via_h = int64_t{k.pair_h[k.a_table[a]][k.b_frac[b]]} * shifted;
      if (via_values != p || via_pairs != p || k.a_pairs[a][2 * fb] < 0 || via_h != p ||
          exact_shifted != shifted) {
        return;
      }
      if (vbmi) {
        const int64_t yv = int64_t{k.b_sign_pow[b]} * (int64_t{1} << (2 * k.e2[a]));
        vbmi = yv >= -32768 && yv <= 32767 && int64_t{k.x16[a][b & 15]} * yv == p;
      }
    }
  }
  k.usable = true;
  k.bit_fields = bit_fields;
  k.vbmi_usable = vbmi;
  // The int16 Cauchy-Schwarz terms (t.cs_square is ready: build_tables computes it first).
  double largest_cs = 0.0;
  for (double v : t.cs_square) largest_cs = std::max(largest_cs, v);
  if (!k.bit_fields || !(largest_cs > 0.0)) return;
  k.cs_unit = largest_cs / 32000.0;
  k.cs16_usable = true;
  for (int m = 0; m < 128; ++m) {
    const double v = std::max(t.cs_square[m], t.cs_square[m | 128]);
    auto units = static_cast<int64_t>(std::ceil(v / k.cs_unit));
    while (static_cast<double>(units) * k.cs_unit < v) ++units;
    if (units > 32767) {
      k.cs16_usable = false;
      return;
    }
    k.cs16[m] = static_cast<int16_t>(units);
  }
}

void build_kernel_tables(const BfpFormat& format, FormatTables<BfpFormat>& t) {
  bool identity = true;
  for (int code = 0; code < 256; ++code) {
    t.bfp.mantissa[code] =
        t.valid[code] ? static_cast<int8_t>(mantissa(format, static_cast<Code>(code))) : int8_t{0};
    identity = identity && (!t.valid[code] || t.bfp.mantissa[code] == static_cast<int8_t>(code));
  }
  t.bfp.identity = identity && t.valid[0x7f];
}

template <class Format>
int magnitude_class(const Format& format, Code code);
template <>
int magnitude_class(const LbfpFormat& format, Code code) { return magnitude(format, code); }
template <>
int magnitude_class(const BfpFormat& format, Code code) {
  const int m = mantissa(format, code);
  return m < 0 ? -m : m;
}

template <class Format>
std::unique_ptr<FormatTables<Format>> build_tables(const Format& format) {
  auto t = std::make_unique<FormatTables<Format>>(format);
  const int codes = format.code_count();
  Code representative[256] = {};  // a code of each magnitude class
  for (int code = 0; code < 256; ++code) {
    if (code >= codes) continue;
    try {
      check_code(format, static_cast<unsigned>(code));
    } catch (const std::out_of_range&) {
      continue;
    }
    t->valid[code] = true;
    const int m = magnitude_class(format, static_cast<Code>(code));
    t->magnitude[code] = m;
    representative[m] = static_cast<Code>(code);
    t->max_magnitude = std::max(t->max_magnitude, m);
  }
  for (int code = 0; code < 256; ++code) {
    if (!t->valid[code]) {
      ++t->invalid_codes;
      t->only_invalid = code;
    }
  }
  const int classes = t->max_magnitude + 1;
  // |p| per pair of magnitude classes, from the golden product of a code of each.
  bool fits_int64 = true;
  t->abs_products.assign(static_cast<size_t>(classes * classes), 0);
  for (int x = 0; x < classes && fits_int64; ++x) {
    for (int y = 0; y < classes && fits_int64; ++y) {
      const std::optional<int64_t> p =
          exact_value(multiply(format, representative[x], representative[y]));
      fits_int64 = p.has_value();
      t->abs_products[static_cast<size_t>(x * classes + y)] = p && *p < 0 ? -*p : p.value_or(0);
    }
  }
  if (!fits_int64) t->abs_products.clear();
  if (fits_int64) {
    // U(x) = sqrt(c) w(x), w(x) = |p(x, top)| / sqrt(|p(top, top)|): products are nearly
    // multiplicative (|p(x, y)| ~ w(x) w(y)), and c = max |p(x, y)| / (w(x) w(y)) over all pairs,
    // enlarged by a margin, makes |p(x, y)| <= U(x) U(y) hold for every pair.
    const int top = t->max_magnitude;
    const double top_square =
        std::sqrt(static_cast<double>(t->abs_products[static_cast<size_t>(top * classes + top)]));
    std::vector<double> w(static_cast<size_t>(classes), 0.0);
    for (int x = 1; x < classes; ++x) {
      w[static_cast<size_t>(x)] =
          static_cast<double>(t->abs_products[static_cast<size_t>(x * classes + top)]) /
          top_square;
    }
    double c = 0.0;
    int64_t largest = 0;
    for (int x = 1; x < classes; ++x) {
      for (int y = 1; y < classes; ++y) {
        const int64_t p = t->abs_products[static_cast<size_t>(x * classes + y)];
        largest = std::max(largest, p);
        const double ww = w[static_cast<size_t>(x)] * w[static_cast<size_t>(y)];
        if (ww > 0.0) c = std::max(c, static_cast<double>(p) / ww);
      }
    }
    const double root_c = std::sqrt(c * (1.0 + 1e-9));
    for (int code = 0; code < 256; ++code) {
      const double u = root_c * w[static_cast<size_t>(t->magnitude[code])];
      if (t->valid[code]) t->cs_square[code] = u * u * (1.0 + 1e-9);
    }
    t->products_fit_int32 = largest <= (int64_t{1} << 24);
  }
  build_kernel_tables(format, *t);
  return t;
}

template <class Format>
auto format_key(const Format& f);
template <>
auto format_key(const LbfpFormat& f) {
  return std::make_tuple(f.width(), f.frac_bits(), f.lut_bits(), f.acc_bits());
}
template <>
auto format_key(const BfpFormat& f) { return std::make_tuple(f.width(), f.acc_bits(), 0, 0); }

template <class Format>
const FormatTables<Format>& tables_for(const Format& format) {
  static std::mutex mutex;
  static std::map<std::tuple<int, int, int, int>, std::unique_ptr<FormatTables<Format>>> cache;
  std::lock_guard<std::mutex> lock(mutex);
  auto& slot = cache[format_key(format)];
  if (!slot) slot = build_tables(format);
  return *slot;
}

// ---- kernel choice -----------------------------------------------------------------------------

template <class Format>
bool fast_format(const FormatTables<Format>& t);
template <>
bool fast_format(const FormatTables<LbfpFormat>& t) {
  return t.lbfp.usable && t.products_fit_int32;
}
template <>
bool fast_format(const FormatTables<BfpFormat>& t) { return t.products_fit_int32; }

// Whether the format has a VBMI kernel (LBFP8 only).
bool vbmi_format(const FormatTables<LbfpFormat>& t) { return t.lbfp.vbmi_usable; }
bool vbmi_format(const FormatTables<BfpFormat>&) { return false; }
// Whether the format has an AMX kernel (BFP only: its products are int8 x int8).
bool amx_format(const FormatTables<LbfpFormat>&) { return false; }
bool amx_format(const FormatTables<BfpFormat>&) { return true; }

template <class Format>
bool available(KernelPath path, const Format& format) {
  switch (path) {
    case KernelPath::kAuto:
    case KernelPath::kReference:
      return true;
    case KernelPath::kPortable:
      return fast_format(tables_for(format));
    case KernelPath::kAvx2:
      return fast_format(tables_for(format)) && detail::cpu_has_avx2();
    case KernelPath::kAvx512:
      return fast_format(tables_for(format)) && detail::cpu_has_avx512();
    case KernelPath::kAvx512Vbmi:
      return fast_format(tables_for(format)) && vbmi_format(tables_for(format)) &&
             detail::cpu_has_avx512_vbmi();
    case KernelPath::kAmx:
      return fast_format(tables_for(format)) && amx_format(tables_for(format)) &&
             detail::cpu_has_amx_int8();
  }
  return false;
}

// Whether a format is BFP (its products are int8 x int8: AMX applies).
bool is_bfp(const LbfpFormat&) { return false; }
bool is_bfp(const BfpFormat&) { return true; }

template <class Format>
KernelPath choose_path(const Format& format, KernelPath requested, size_t n, size_t k) {
  if (requested != KernelPath::kAuto) {
    if (!available(requested, format)) {
      throw std::invalid_argument("gemm: kernel path " + to_string(requested) +
                                  " is not available for " + format.name() + " on this CPU");
    }
    return requested;
  }
  // Narrow or shallow products (depthwise and grouped convolutions: N = channels per group,
  // K = the taps): the whole-call kernels compute 32- or 64-column panels and pack per k pair,
  // which for N of a few columns or K of a few taps costs more than the products. Measured on
  // an Intel Xeon (Sapphire Rapids class), M = 39,200 (docs/performance.md): LBFP8 N = 1, K = 9
  // portable 1.8 ms, AVX2 2.2, VBMI 3.5, vpermw 12.0; N = 16, K = 9 AVX2 3.5, VBMI 4.7, vpermw
  // 13.2; BFP8 K = 32 and 64 (N = 64, 128) the AVX-512 kernel 1.4-2x AMX, whose k steps are 64.
  if (!is_bfp(format)) {
    if (n <= 4 && available(KernelPath::kPortable, format)) return KernelPath::kPortable;
    if (k <= 16 && n <= 32 && available(KernelPath::kAvx2, format)) return KernelPath::kAvx2;
  }
  // On Intel (Golden Cove measured) the VBMI kernel is about 1.8x the vpermw one; on AMD Zen 4
  // the vpermw kernel is the one measured (docs/performance.md), so it stays first there, except
  // for panels of at most 32 columns: the VBMI kernel computes only their 16-column groups, the
  // vpermw kernel all 64 columns (Zen 4, one thread: 49 x 16 x 4608 1.8x, 3136 x 16 x 576 1.6x,
  // 49 x 32 x 4608 1.35x faster).
  if ((detail::cpu_is_intel() || n <= 32) && available(KernelPath::kAvx512Vbmi, format)) {
    return KernelPath::kAvx512Vbmi;
  }
  if (available(KernelPath::kAmx, format) && (k > 64 || n <= 16)) return KernelPath::kAmx;
  for (KernelPath p : {KernelPath::kAvx512, KernelPath::kAvx2, KernelPath::kPortable}) {
    if (available(p, format)) return p;
  }
  return KernelPath::kReference;
}

void run_sums(const FormatTables<LbfpFormat>& t, KernelPath path, const SumBlock& blk) {
  switch (path) {
    case KernelPath::kAvx2: detail::lbfp_sums_avx2(t.lbfp, blk); break;
    default: detail::lbfp_sums_portable(t.lbfp, blk); break;
  }
}
void run_sums(const FormatTables<BfpFormat>& t, KernelPath path, const SumBlock& blk) {
  switch (path) {
    case KernelPath::kAvx2: detail::bfp_sums_avx2(t.bfp, blk); break;
    default: detail::bfp_sums_portable(t.bfp, blk); break;
  }
}

// Worker threads that live for the process: a thread per call would cost its start-up and lose
// its thread-local packing buffers every time. One parallel region runs at a time.
// Between regions a worker spins for a short while before it sleeps, and the calling thread
// spins for the workers' end before it sleeps: a wake-up through the kernel takes tens of
// microseconds on a virtual machine, a sizeable part of a 512^3 product, while calls usually
// follow one another closely. The spins pause, and end after kSpin either way.
class WorkerPool {
 public:
  static WorkerPool& instance() {
    static WorkerPool pool;
    return pool;
  }
  // Runs tasks[0] on the calling thread and the others on workers; returns when all are done.
  void run(const std::vector<std::function<void()>>& tasks) {
    std::lock_guard<std::mutex> region(region_mutex_);
    {
      std::unique_lock<std::mutex> lock(mutex_);
      while (workers_.size() + 1 < tasks.size()) {
        workers_.emplace_back([this, id = workers_.size()] { loop(id); });
      }
      tasks_ = &tasks;
      pending_.store(tasks.size() - 1, std::memory_order_relaxed);
      generation_.fetch_add(1, std::memory_order_release);
    }
    wake_.notify_all();
    std::exception_ptr error;
    try {
      tasks[0]();
    } catch (...) {
      error = std::current_exception();
    }
    spin_until([this] { return pending_.load(std::memory_order_acquire) == 0; });
    std::unique_lock<std::mutex> lock(mutex_);
    done_.wait(lock, [this] { return pending_.load(std::memory_order_relaxed) == 0; });
    tasks_ = nullptr;
    if (!error) error = worker_error_;
    worker_error_ = nullptr;
    if (error) std::rethrow_exception(error);
  }
  ~WorkerPool() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stop_ = true;
      generation_.fetch_add(1, std::memory_order_release);  // ends the workers' spins
    }
    wake_.notify_all();
    for (auto& w : workers_) w.join();
  }

 private:
  static constexpr auto kSpin = std::chrono::microseconds(50);

  // Spins (pausing) until done() or kSpin has passed.
  template <class Done>
  static void spin_until(const Done& done) {
    const auto until = std::chrono::steady_clock::now() + kSpin;
    while (!done() && std::chrono::steady_clock::now() < until) {
      for (int i = 0; i < 64; ++i) spin_pause();
    }
  }
  static void spin_pause() {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
  }

  void loop(size_t id) {
    uint64_t seen = 0;
    while (true) {
      spin_until([&] { return generation_.load(std::memory_order_acquire) != seen; });
      std::unique_lock<std::mutex> lock(mutex_);
      wake_.wait(lock, [&] {
        return stop_ || generation_.load(std::memory_order_relaxed) != seen;
      });
      if (stop_) return;
      seen = generation_.load(std::memory_order_relaxed);
      const auto* tasks = tasks_;
      if (tasks == nullptr || id + 1 >= tasks->size()) continue;
      lock.unlock();
      std::exception_ptr error;
      try {
        (*tasks)[id + 1]();
      } catch (...) {
        error = std::current_exception();
      }
      lock.lock();
      if (error && !worker_error_) worker_error_ = error;
      if (pending_.fetch_sub(1, std::memory_order_acq_rel) == 1) done_.notify_all();
    }
  }

  std::mutex region_mutex_;
  std::mutex mutex_;  // guards tasks_, stop_, worker_error_ and the changes of the atomics
  std::condition_variable wake_;
  std::condition_variable done_;
  std::vector<std::thread> workers_;
  const std::vector<std::function<void()>>* tasks_ = nullptr;
  std::atomic<size_t> pending_{0};
  std::atomic<uint64_t> generation_{0};
  bool stop_ = false;
  std::exception_ptr worker_error_;
};

// Splits the block over `threads` workers: by columns (64-aligned) when N is wide, else by rows.
// `first` and `second` run before the sums on the calling thread and on the first worker (the
// two halves of the overflow bounds, which so overlap with the other thread's sums).
template <class Tables>
void run_sums_threaded(const Tables& t, KernelPath path, const SumBlock& blk, int threads,
                       const std::function<void()>& first, const std::function<void()>& second) {
  const size_t workers = static_cast<size_t>(std::max(1, threads));
  std::vector<SumBlock> parts;
  if (workers > 1 && blk.n >= 128 * workers) {
    size_t start = 0;
    for (size_t w = 0; w < workers; ++w) {
      size_t end = w + 1 == workers ? blk.n : (blk.n * (w + 1) / workers + 63) / 64 * 64;
      end = std::min(end, blk.n);
      if (end <= start) continue;
      SumBlock part = blk;
      part.n = end - start;
      part.b = blk.b + start;
      part.c = blk.c + start;
      parts.push_back(part);
      start = end;
    }
  } else if (workers > 1 && blk.m >= 8 * workers && blk.m * blk.n * blk.k >= (size_t{1} << 18)) {
    size_t start = 0;
    for (size_t w = 0; w < workers; ++w) {
      const size_t end = w + 1 == workers ? blk.m : (blk.m * (w + 1) / workers + 7) / 8 * 8;
      if (end <= start) continue;
      SumBlock part = blk;
      part.m = std::min(end, blk.m) - start;
      part.a = blk.a + start * blk.lda;
      part.c = blk.c + start * blk.ldc;
      parts.push_back(part);
      start = std::min(end, blk.m);
    }
  } else {
    parts.push_back(blk);
  }
  if (parts.size() == 1) {
    first();
    second();
    run_sums(t, path, parts[0]);
    return;
  }
  std::vector<std::function<void()>> tasks;
  tasks.emplace_back([&] {
    first();
    run_sums(t, path, parts[0]);
  });
  for (size_t i = 1; i < parts.size(); ++i) {
    tasks.emplace_back([&t, &second, path, part = parts[i], i] {
      if (i == 1) second();
      run_sums(t, path, part);
    });
  }
  WorkerPool::instance().run(tasks);
}

// The AVX-512 kernels schedule a whole call themselves over the worker pool.
void parallel_for(size_t count, const std::function<void(size_t)>& body) {
  std::vector<std::function<void()>> tasks;
  for (size_t i = 0; i < count; ++i) tasks.emplace_back([&body, i] { body(i); });
  WorkerPool::instance().run(tasks);
}

// The kernels pack all of A at once (4 bytes per LBFP code); a tall A goes in row ranges of about
// 64 MiB packed, so the scratch stays bounded (B is then packed once per range).
template <class Run>
void in_row_ranges(const detail::GemmCall& call, const Run& run) {
  const size_t bytes_per_row = 4 * std::max<size_t>(1, call.k);
  const size_t rows = std::max<size_t>(64, (size_t{64} << 20) / bytes_per_row);
  for (size_t r0 = 0; r0 < call.m; r0 += rows) {
    detail::GemmCall part = call;
    part.m = std::min(rows, call.m - r0);
    part.a = call.a + r0 * call.lda;
    part.out = call.out + r0 * call.ldo;
    part.a_sq = call.a_sq + r0;
    run(part);
  }
}
void run_gemm_avx512(const FormatTables<LbfpFormat>& t, const detail::GemmCall& call,
                     size_t threads, KernelPath path) {
  in_row_ranges(call, [&](const detail::GemmCall& part) {
    if (path == KernelPath::kAvx512Vbmi) {
      detail::lbfp_gemm_avx512_vbmi(t.lbfp, part, threads, parallel_for);
    } else {
      detail::lbfp_gemm_avx512(t.lbfp, part, threads, parallel_for);
    }
  });
}
void run_gemm_avx512(const FormatTables<BfpFormat>& t, const detail::GemmCall& call,
                     size_t threads, KernelPath path) {
  in_row_ranges(call, [&](const detail::GemmCall& part) {
    if (path == KernelPath::kAmx) {
      detail::bfp_gemm_amx(t.bfp, part, threads, parallel_for);
    } else {
      detail::bfp_gemm_avx512(t.bfp, part, threads, parallel_for);
    }
  });
}

// ---- the driver ----------------------------------------------------------------------------------

template <class Format>
void check_problem(const Format& format, const GemmProblem& p, size_t ldc, const void* out,
                   const GemmOptions& options) {
  auto fail = [](const std::string& what) { throw std::invalid_argument("gemm: " + what); };
  if (options.threads < 1) fail("threads must be >= 1, got " + std::to_string(options.threads));
  if (p.m == 0 || p.n == 0) return;
  if (out == nullptr) fail("null output");
  if (ldc < p.n) fail("ldc " + std::to_string(ldc) + " < n " + std::to_string(p.n));
  if (p.b_exponents == nullptr) fail("null b_exponents");
  if (p.k > 0) {
    if (p.a == nullptr || p.b == nullptr) fail("null A or B with k > 0");
    if (p.lda < p.k) fail("lda " + std::to_string(p.lda) + " < k " + std::to_string(p.k));
    if (p.ldb < p.n) fail("ldb " + std::to_string(p.ldb) + " < n " + std::to_string(p.n));
  }
  check_exponent(p.a_exponent);
  for (size_t j = 0; j < p.n; ++j) check_exponent(p.b_exponents[j]);
  if (p.initial_acc != nullptr) {
    if (p.bias != nullptr) fail("both a bias and initial accumulators");
    if (p.ld_initial < p.n) {
      fail("ld_initial " + std::to_string(p.ld_initial) + " < n " + std::to_string(p.n));
    }
    const int64_t max = (int64_t{1} << (format.acc_bits() - 1)) - 1;
    for (size_t i = 0; i < p.m; ++i) {
      for (size_t j = 0; j < p.n; ++j) {
        const int64_t v = p.initial_acc[i * p.ld_initial + j];
        if (v > max || v < -max - 1) {
          fail("initial accumulator " + std::to_string(v) + " at (" + std::to_string(i) + ", " +
               std::to_string(j) + ") outside the " + std::to_string(format.acc_bits()) +
               "-bit range");
        }
      }
    }
  }
}

template <class Format>
void check_codes(const Format& format, const FormatTables<Format>& t, const Code* data,
                 size_t rows, size_t cols, size_t ld) {
  if (t.invalid_codes == 0) return;
  if (ld == cols && rows > 1) {  // contiguous rows: one row as long as all of them
    check_codes(format, t, data, 1, rows * cols, rows * cols);
    return;
  }
  for (size_t i = 0; i < rows; ++i) {
    const Code* row = data + i * ld;
    if (t.invalid_codes == 1) {  // one compare per byte, vectorised
      const auto bad = static_cast<Code>(t.only_invalid);
      if (std::memchr(row, bad, cols) == nullptr) continue;
    }
    for (size_t j = 0; j < cols; ++j) {
      if (!t.valid[row[j]]) check_code(format, row[j]);  // throws with the format's message
    }
  }
}

// The finest chunk of chunk_sums_in_order: 64 k steps.
constexpr size_t kInOrderBlock = 64;

// The kernels' part of a product: acc[i * ldc + j] = initial[j] + the int32 wrapped sum over k
// of the products (exact where the caller's proof holds), and with `squares` also a_sq[i] and
// b_sq[j], the sums of cs_square over row i of A and column j of B (the Cauchy-Schwarz terms;
// the AVX-512 kernels compute them while they pack the operands, the other paths on both threads
// beside the sums).
template <class Format>
void kernel_sums(const FormatTables<Format>& t, KernelPath path, const GemmProblem& p,
                 const int64_t* initial, int64_t* acc, size_t ldc, bool squares, double* a_sq,
                 double* b_sq, int threads) {
  if (path == KernelPath::kAvx512 || path == KernelPath::kAvx512Vbmi ||
      path == KernelPath::kAmx) {
    detail::GemmCall call;
    call.m = p.m;
    call.n = p.n;
    call.k = p.k;
    call.a = p.a;
    call.lda = p.lda;
    call.b = p.b;
    call.ldb = p.ldb;
    call.out = acc;
    call.ldo = ldc;
    call.initial = initial;
    call.cs_square = squares ? t.cs_square : nullptr;
    call.a_sq = a_sq;
    call.b_sq = b_sq;
    run_gemm_avx512(t, call, static_cast<size_t>(threads), path);
    return;
  }
  thread_local std::vector<int32_t> sums_buffer;
  if (sums_buffer.size() < p.m * p.n) sums_buffer.resize(p.m * p.n);
  int32_t* sums = sums_buffer.data();
  SumBlock blk;
  blk.m = p.m;
  blk.n = p.n;
  blk.k = p.k;
  blk.a = p.a;
  blk.lda = p.lda;
  blk.b = p.b;
  blk.ldb = p.ldb;
  blk.c = sums;
  blk.ldc = p.n;
  auto a_squares = [&] {
    if (!squares) return;
    for (size_t i = 0; i < p.m; ++i) {
      const Code* arow = p.a + i * p.lda;
      double sq[4] = {0.0, 0.0, 0.0, 0.0};  // four chains: the adds are latency-bound
      size_t k = 0;
      for (; k + 4 <= p.k; k += 4) {
        for (size_t u = 0; u < 4; ++u) sq[u] += t.cs_square[arow[k + u]];
      }
      for (; k < p.k; ++k) sq[0] += t.cs_square[arow[k]];
      a_sq[i] = (sq[0] + sq[1]) + (sq[2] + sq[3]);
    }
  };
  auto b_squares = [&] {
    if (!squares) return;
    std::fill(b_sq, b_sq + p.n, 0.0);
    for (size_t k = 0; k < p.k; ++k) {
      const Code* brow = p.b + k * p.ldb;
      for (size_t j = 0; j < p.n; ++j) b_sq[j] += t.cs_square[brow[j]];
    }
  };
  run_sums_threaded(t, path, blk, threads, a_squares, b_squares);
  for (size_t i = 0; i < p.m; ++i) {
    const int32_t* srow = sums + i * p.n;
    int64_t* arow = acc + i * ldc;
    const size_t n = p.n;  // a local: the stores through arow could alias p
    for (size_t j = 0; j < n; ++j) arow[j] = initial[j] + srow[j];
  }
}

// The whole product as the first pass left it, for chunk_sums_in_order: acc[i * ldc + j] less
// the output's start value is the kernels' int32 sum over all of k, exact modulo 2^32, and
// a_sq, b_sq are its sums of squares (before the square roots).
struct WholePass {
  const int64_t* acc = nullptr;
  size_t ldc = 0;
  const double* a_sq = nullptr;
  const double* b_sq = nullptr;
};

// A first pass run in chunks of k (gemm_impl, for a shape whose previous call on the thread
// walked chunks): each chunk's kernel sums and sums of squares, chunk-major.
struct ChunkPass {
  size_t chunk = 0;           // k steps per chunk (the last one may be shorter)
  std::vector<int64_t> sums;  // chunks x m x n, each chunk's int32 sums (sign-extended)
  std::vector<double> a_sq;   // chunks x m
  std::vector<double> b_sq;   // chunks x n
};

// The chunks the last walk of a shape used, per thread (gemm_impl): k, n, and the count (0: its
// outputs were all cleared).
struct ChunkPlan {
  size_t k = 0;
  size_t n = 0;
  size_t chunks = 0;
};

// The chunk length for about `chunks` chunks of k: a multiple of 64 steps.
size_t chunk_length(size_t k, size_t chunks) {
  return ((k + chunks - 1) / chunks + kInOrderBlock - 1) / kInOrderBlock * kInOrderBlock;
}

// The sums in k order of a list of outputs (column, row), from the kernels' sums of chunks of
// `chunk` k steps: each output walks its chunks in k order. Within a chunk every step moves the
// partial sum by |p_k|, and those add up to at most that chunk's Cauchy-Schwarz bound
// ||U_i|| ||V_j|| (with the relative margin of gemm_impl). Where the bound fits between the
// output's partial sum and both ends of [lo, hi], and within int32, no step of the chunk leaves
// the range and the chunk's int32 sum is exact: it is added in one step. Any other chunk is
// summed step by step from the term table and checked. With `pass`, its chunks are read; else
// each chunk is run, but for the last: its sum is the whole pass's less the partial sum before
// it, modulo 2^32 (exact where its bound is within int32), and its sums of squares are the whole
// pass's less the other chunks', enlarged by 1e-6 of the whole's (each computed sum of k
// non-negative terms, and so their difference, is within (2k + chunks) 2^-53 < 2.5e-7 of it for
// k < 2^30). `done(i, j, sum)` takes the outputs that never left the range, `redo(i, j)` the
// others (the accumulator's own order).
template <class Format, class Start, class Done, class Redo>
void chunk_sums_in_order(const FormatTables<Format>& t, KernelPath path, const GemmProblem& p,
                         const WholePass& whole, const ChunkPass* pass,
                         const std::vector<std::pair<size_t, size_t>>& outputs, Start start,
                         int64_t lo, int64_t hi, size_t chunk, int threads, Done done,
                         Redo redo) {
  if (pass != nullptr) chunk = pass->chunk;
  constexpr double kMargin = 1.0 + 1e-6;
  constexpr double kInt32Max = 2147483647.0;
  std::vector<int64_t> sums(outputs.size());
  std::vector<char> ok(outputs.size());
  for (size_t o = 0; o < outputs.size(); ++o) {
    sums[o] = start(outputs[o].second, outputs[o].first);
    ok[o] = sums[o] >= lo && sums[o] <= hi;
  }
  std::vector<int64_t> block(p.m * p.n);
  const std::vector<int64_t> zero(p.n, 0);
  std::vector<double> a_sq(p.m);
  std::vector<double> b_sq(p.n);
  std::vector<double> a_before(p.m, 0.0);  // the sums of squares of the chunks so far
  std::vector<double> b_before(p.n, 0.0);
  std::vector<double> a_bound(p.m);
  std::vector<double> b_bound(p.n);
  for (size_t k0 = 0, c = 0; k0 < p.k; k0 += chunk, ++c) {
    const size_t k1 = std::min(p.k, k0 + chunk);
    const bool last = k1 == p.k && pass == nullptr;
    const int64_t* chunk_sums = block.data();
    if (pass != nullptr) {
      chunk_sums = pass->sums.data() + c * p.m * p.n;
      for (size_t i = 0; i < p.m; ++i) a_bound[i] = std::sqrt(pass->a_sq[c * p.m + i]);
      for (size_t j = 0; j < p.n; ++j) b_bound[j] = std::sqrt(pass->b_sq[c * p.n + j]);
    } else if (!last) {
      GemmProblem slice = p;
      slice.k = k1 - k0;
      slice.a = p.a + k0;
      slice.b = p.b + k0 * p.ldb;
      kernel_sums(t, path, slice, zero.data(), block.data(), p.n, true, a_sq.data(),
                  b_sq.data(), threads);
      for (size_t i = 0; i < p.m; ++i) {
        a_before[i] += a_sq[i];
        a_bound[i] = std::sqrt(a_sq[i]);
      }
      for (size_t j = 0; j < p.n; ++j) {
        b_before[j] += b_sq[j];
        b_bound[j] = std::sqrt(b_sq[j]);
      }
    } else {
      for (size_t i = 0; i < p.m; ++i) {
        a_bound[i] =
            std::sqrt(std::max(0.0, whole.a_sq[i] - a_before[i]) + 1e-6 * whole.a_sq[i]);
      }
      for (size_t j = 0; j < p.n; ++j) {
        b_bound[j] =
            std::sqrt(std::max(0.0, whole.b_sq[j] - b_before[j]) + 1e-6 * whole.b_sq[j]);
      }
    }
    for (size_t o = 0; o < outputs.size(); ++o) {
      if (ok[o] == 0) continue;  // redone from the start below
      const auto [j, i] = outputs[o];
      int64_t s = sums[o];
      const double bound = a_bound[i] * b_bound[j] * kMargin;
      if (bound <= kInt32Max && bound <= static_cast<double>(hi - s) &&
          bound <= static_cast<double>(s - lo)) {
        if (!last) {
          sums[o] = s + chunk_sums[i * p.n + j];
        } else {  // s less the start is the exact sum of the steps before: the rest mod 2^32
          const auto at = static_cast<uint64_t>(whole.acc[i * whole.ldc + j]);
          const auto rest = static_cast<uint32_t>(at - static_cast<uint64_t>(s));
          sums[o] = s + static_cast<int32_t>(rest);
        }
        continue;
      }
      const Code* arow = p.a + i * p.lda;
      const int32_t* terms = terms_of(t);
      bool in_range = true;
      for (size_t kk = k0; kk < k1; ++kk) {
        s += terms[size_t{arow[kk]} << 8 | p.b[kk * p.ldb + j]];
        in_range = in_range && s >= lo && s <= hi;
      }
      sums[o] = s;
      ok[o] = in_range;
    }
  }
  for (size_t o = 0; o < outputs.size(); ++o) {
    const auto [j, i] = outputs[o];
    if (ok[o] != 0) {
      done(i, j, sums[o]);
    } else {
      redo(i, j);
    }
  }
}

template <class Format>
GemmStats gemm_impl(const Format& format, const GemmProblem& p, int64_t* acc, size_t ldc,
                    uint32_t* overflows, const GemmOptions& options) {
  check_problem(format, p, ldc, acc, options);
  GemmStats stats;
  stats.path = choose_path(format, options.path, p.n, p.k);
  if (p.m == 0 || p.n == 0) return stats;

  std::vector<int64_t> initial(p.n, 0);
  if (p.bias != nullptr) {
    for (size_t j = 0; j < p.n; ++j) {
      initial[j] = bias_to_accumulator(format.acc_bits(), static_cast<double>(p.bias[j]),
                                       format.product_scale(p.a_exponent, p.b_exponents[j]));
    }
  }

  // A resumed reduction starts each output from its own value: the kernels sum from zero
  // (initial stays 0) and the value is added per output below.
  const int64_t* resume = p.initial_acc;
  auto start = [&](size_t i, size_t j) {
    return resume != nullptr ? resume[i * p.ld_initial + j] : initial[j];
  };
  std::vector<Code> column(p.k);
  auto sequential = [&](size_t i, size_t j) {
    const DotResult r = dot(format, p.a + i * p.lda, column.data(), p.k, start(i, j));
    acc[i * ldc + j] = r.acc;
    if (overflows) overflows[i * ldc + j] = static_cast<uint32_t>(r.overflows);
    stats.overflows += r.overflows;
  };
  auto load_column = [&](size_t j) {
    for (size_t k = 0; k < p.k; ++k) column[k] = p.b[k * p.ldb + j];
  };

  if (stats.path == KernelPath::kReference || p.k == 0) {
    for (size_t j = 0; j < p.n; ++j) {
      load_column(j);
      for (size_t i = 0; i < p.m; ++i) sequential(i, j);
    }
    return stats;
  }

  const FormatTables<Format>& t = tables_for(format);
  check_codes(format, t, p.a, p.m, p.k, p.lda);
  check_codes(format, t, p.b, p.k, p.n, p.ldb);

  // A first bound needs no pass over the data: k times the largest product.
  int64_t largest_initial = 0;
  for (int64_t v : initial) largest_initial = std::max(largest_initial, v < 0 ? -v : v);
  if (resume != nullptr) {
    for (size_t i = 0; i < p.m; ++i) {
      for (size_t j = 0; j < p.n; ++j) {
        const int64_t v = start(i, j);
        largest_initial = std::max(largest_initial, v < 0 ? -v : v);
      }
    }
  }
  const int64_t limit = std::min<int64_t>((int64_t{1} << (format.acc_bits() - 1)) - 1,
                                          int64_t{2147483647});
  const auto largest_product = static_cast<uint64_t>(t.abs_products.back());
  const bool trivially_cleared =
      largest_initial <= limit &&
      (p.k == 0 || largest_product <= static_cast<uint64_t>(limit - largest_initial) / p.k);

  // The sums, and the Cauchy-Schwarz sums of squares of the header comment (computed while
  // the AVX-512 kernels pack the operands, or meanwhile on the other paths).
  std::vector<double> a_sq(p.m, 0.0);
  std::vector<double> b_sq(p.n, 0.0);
  // Where the previous call of this k and n on this thread walked its outputs in chunks (the
  // 16-column calls of a layer whose weights stream: dozens alike in a row), the first pass runs
  // in that call's chunks, which the walk then reads instead of running them again; the whole
  // product's sums and squares are the chunks' (its int32 sums modulo 2^32, as one pass leaves
  // them). Only the speed depends on this guess.
  thread_local ChunkPlan plan;
  const bool chunkable = !trivially_cleared && t.products_fit_int32 && p.k > kInOrderBlock;
  ChunkPass pass;
  if (chunkable && plan.k == p.k && plan.n == p.n && plan.chunks >= 2) {
    pass.chunk = chunk_length(p.k, plan.chunks);
    const size_t count = (p.k + pass.chunk - 1) / pass.chunk;
    pass.sums.resize(count * p.m * p.n);
    pass.a_sq.resize(count * p.m);
    pass.b_sq.resize(count * p.n);
    const std::vector<int64_t> zero(p.n, 0);
    std::vector<uint32_t> wrapped(p.m * p.n, 0);
    for (size_t c = 0; c < count; ++c) {
      GemmProblem slice = p;
      slice.a = p.a + c * pass.chunk;
      slice.b = p.b + c * pass.chunk * p.ldb;
      slice.k = std::min(pass.chunk, p.k - c * pass.chunk);
      int64_t* sums = pass.sums.data() + c * p.m * p.n;
      kernel_sums(t, stats.path, slice, zero.data(), sums, p.n, true, pass.a_sq.data() + c * p.m,
                  pass.b_sq.data() + c * p.n, options.threads);
      for (size_t i = 0; i < p.m * p.n; ++i) wrapped[i] += static_cast<uint32_t>(sums[i]);
      for (size_t i = 0; i < p.m; ++i) a_sq[i] += pass.a_sq[c * p.m + i];
      for (size_t j = 0; j < p.n; ++j) b_sq[j] += pass.b_sq[c * p.n + j];
    }
    for (size_t i = 0; i < p.m; ++i) {
      for (size_t j = 0; j < p.n; ++j) {
        acc[i * ldc + j] = initial[j] + static_cast<int32_t>(wrapped[i * p.n + j]);
      }
    }
  } else {
    kernel_sums(t, stats.path, p, initial.data(), acc, ldc, !trivially_cleared, a_sq.data(),
                b_sq.data(), options.threads);
  }
  if (chunkable) plan = {p.k, p.n, 0};  // until the walk below says otherwise
  if (resume != nullptr) {
    for (size_t i = 0; i < p.m; ++i) {
      for (size_t j = 0; j < p.n; ++j) acc[i * ldc + j] += start(i, j);
    }
  }
  if (overflows) {
    for (size_t i = 0; i < p.m; ++i) std::fill(overflows + i * ldc, overflows + i * ldc + p.n, 0u);
  }
  if (trivially_cleared) return stats;

  // Relative error of the double norms is below k * 2^-52 per factor (in any summation order,
  // the terms being non-negative); 1e-6 covers k < 2^30.
  std::vector<double> a_norm(p.m);
  std::vector<double> b_norm(p.n);
  for (size_t i = 0; i < p.m; ++i) a_norm[i] = std::sqrt(a_sq[i]);
  for (size_t j = 0; j < p.n; ++j) b_norm[j] = std::sqrt(b_sq[j]);
  constexpr double kMargin = 1.0 + 1e-6;
  // The room each output leaves for its products: the limit less its starting value.
  std::vector<int64_t> room(p.n);
  int64_t least_room = limit;
  for (size_t j = 0; j < p.n; ++j) {
    room[j] = limit - (initial[j] < 0 ? -initial[j] : initial[j]);
    least_room = std::min(least_room, room[j]);
  }
  auto room_at = [&](size_t i, size_t j) {
    if (resume == nullptr) return room[j];
    const int64_t v = start(i, j);
    return limit - (v < 0 ? -v : v);
  };
  if (resume != nullptr) least_room = limit - largest_initial;
  const double largest_a = *std::max_element(a_norm.begin(), a_norm.end());
  const double largest_b = *std::max_element(b_norm.begin(), b_norm.end());
  if (least_room >= 0 && largest_a * largest_b * kMargin <= static_cast<double>(least_room)) {
    return stats;
  }

  // Every output got bias + sum above; the uncleared ones are redone below.
  std::vector<std::pair<size_t, size_t>> uncleared;  // (column, row)
  for (size_t i = 0; i < p.m; ++i) {
    for (size_t j = 0; j < p.n; ++j) {
      const int64_t r = room_at(i, j);
      if (r < 0 || a_norm[i] * b_norm[j] * kMargin > static_cast<double>(r)) {
        uncleared.emplace_back(j, i);
      }
    }
  }
  if (uncleared.empty()) return stats;
  const int64_t acc_max = (int64_t{1} << (format.acc_bits() - 1)) - 1;
  const auto max_term = static_cast<int64_t>(t.abs_products.back());
  // Many uncleared outputs (ResNet-18's 3x3x512 layers: almost all, k = 4608), or a product
  // whose kernel pass costs about what the row and column bounds' pass over A and B would
  // (m n <= 64 (m + n)): every uncleared output is summed in k order from the kernels' sums of
  // chunks of k (chunk_sums_in_order). A bound grows about in proportion to the steps it covers,
  // so chunks of 1 / c of k, c the whole product's largest bound over half the limit, leave most
  // partial sums room for their chunk's bound.
  const bool by_chunks = t.products_fit_int32 && p.k > kInOrderBlock;
  auto keep_sum = [&](size_t i, size_t j, int64_t sum) {
    acc[i * ldc + j] = sum;
    if (overflows) overflows[i * ldc + j] = 0;
  };
  auto redo = [&](size_t i, size_t j) {
    load_column(j);
    sequential(i, j);
  };
  if (by_chunks && (uncleared.size() * 16 >= p.m * p.n || p.m * p.n <= 64 * (p.m + p.n))) {
    const double wanted = std::ceil(2.0 * largest_a * largest_b * kMargin /
                                    static_cast<double>(limit));
    const size_t most = (p.k + kInOrderBlock - 1) / kInOrderBlock;  // chunks of 64 steps (>= 2)
    const size_t chunks = wanted >= static_cast<double>(most)
                              ? most
                              : std::max<size_t>(2, static_cast<size_t>(wanted));
    const size_t chunk = chunk_length(p.k, chunks);
    plan = {p.k, p.n, chunks};
    // In row order, as listed: each chunk's sums are read along its rows.
    stats.sequential_outputs += uncleared.size();
    WholePass whole;
    whole.acc = acc;
    whole.ldc = ldc;
    whole.a_sq = a_sq.data();
    whole.b_sq = b_sq.data();
    // The first pass's chunks where they are at least as fine as these.
    const ChunkPass* ready = !pass.sums.empty() && pass.chunk <= chunk ? &pass : nullptr;
    chunk_sums_in_order(t, stats.path, p, whole, ready, uncleared, start, -acc_max - 1, acc_max,
                        chunk, options.threads, keep_sum, redo);
    return stats;
  }

  // The exact row and column bounds, only when the norms left some output uncleared.
  std::vector<int> amax(p.k, 0);
  std::vector<int> bmax(p.k, 0);
  for (size_t i = 0; i < p.m; ++i) {
    const Code* arow = p.a + i * p.lda;
    for (size_t k = 0; k < p.k; ++k) amax[k] = std::max(amax[k], t.magnitude[arow[k]]);
  }
  for (size_t k = 0; k < p.k; ++k) {
    const Code* brow = p.b + k * p.ldb;
    int mx = 0;
    for (size_t j = 0; j < p.n; ++j) mx = std::max(mx, t.magnitude[brow[j]]);
    bmax[k] = mx;
  }
  const auto classes = static_cast<size_t>(t.max_magnitude + 1);
  std::vector<uint64_t> row_bound(p.m, 0);
  std::vector<uint64_t> col_bound(p.n, 0);
  for (size_t i = 0; i < p.m; ++i) {
    const Code* arow = p.a + i * p.lda;
    uint64_t sum = 0;
    for (size_t k = 0; k < p.k; ++k) {
      sum += static_cast<uint64_t>(
          t.abs_products[static_cast<size_t>(t.magnitude[arow[k]]) * classes +
                         static_cast<size_t>(bmax[k])]);
    }
    row_bound[i] = sum;
  }
  for (size_t k = 0; k < p.k; ++k) {
    const Code* brow = p.b + k * p.ldb;
    const int64_t* by_a = t.abs_products.data() + static_cast<size_t>(amax[k]) * classes;
    for (size_t j = 0; j < p.n; ++j) {
      col_bound[j] += static_cast<uint64_t>(by_a[t.magnitude[brow[j]]]);
    }
  }
  std::sort(uncleared.begin(), uncleared.end());
  // The rest are summed in k order: from the term table in int64, where no partial sum leaves
  // the A-bit range (the common case), else by lbfp::dot.
  size_t loaded = p.n;
  constexpr size_t kGroup = 4;
  size_t group_rows[kGroup];
  const Code* group_a[kGroup];
  int64_t group_sums[kGroup];
  bool group_ok[kGroup];
  size_t pending = 0;
  auto flush = [&] {
    for (size_t r = 0; r < pending; ++r) {
      group_a[r] = p.a + group_rows[r] * p.lda;
      group_sums[r] = start(group_rows[r], loaded);
    }
    in_order_sums(terms_of(t), max_term, group_a, pending, column.data(), p.k, -acc_max - 1,
                  acc_max, group_sums, group_ok);
    for (size_t r = 0; r < pending; ++r) {
      if (group_ok[r]) {
        acc[group_rows[r] * ldc + loaded] = group_sums[r];
        if (overflows) overflows[group_rows[r] * ldc + loaded] = 0;
      } else {
        sequential(group_rows[r], loaded);
      }
    }
    pending = 0;
  };
  for (const auto& [j, i] : uncleared) {
    const int64_t r = room_at(i, j);
    if (r >= 0 && std::min(row_bound[i], col_bound[j]) <= static_cast<uint64_t>(r)) {
      continue;
    }
    if (loaded != j) {
      if (pending > 0) flush();
      load_column(j);
    }
    loaded = j;
    ++stats.sequential_outputs;
    if (!t.products_fit_int32) {
      sequential(i, j);
      continue;
    }
    group_rows[pending++] = i;
    if (pending == kGroup) flush();
  }
  if (pending > 0) flush();
  return stats;
}

template <class Format>
GemmStats gemm_requantize_impl(const Format& format, const GemmProblem& p, int out_exponent,
                               bool relu, Code* out, size_t ldc, const GemmOptions& options) {
  check_exponent(out_exponent);
  check_problem(format, p, ldc, out, options);
  std::vector<int64_t> acc(p.m * p.n);
  const GemmStats stats = gemm_accumulate(format, p, acc.data(), p.n, nullptr, options);
  for (size_t j = 0; j < p.n; ++j) {
    const int scale = format.product_scale(p.a_exponent, p.b_exponents[j]);
    for (size_t i = 0; i < p.m; ++i) {
      out[i * ldc + j] = requantize(format, acc[i * p.n + j], scale, out_exponent, relu);
    }
  }
  return stats;
}

}  // namespace

std::string to_string(KernelPath path) {
  switch (path) {
    case KernelPath::kAuto: return "auto";
    case KernelPath::kReference: return "reference";
    case KernelPath::kPortable: return "portable";
    case KernelPath::kAvx2: return "avx2";
    case KernelPath::kAvx512: return "avx512";
    case KernelPath::kAvx512Vbmi: return "avx512_vbmi";
    case KernelPath::kAmx: return "amx";
  }
  return "unknown";
}

bool kernel_path_available(KernelPath path, const LbfpFormat& format) {
  return available(path, format);
}
bool kernel_path_available(KernelPath path, const BfpFormat& format) {
  return available(path, format);
}
void prepare_kernels(const LbfpFormat& format) { tables_for(format); }
void prepare_kernels(const BfpFormat& format) { tables_for(format); }

GemmStats gemm_accumulate(const LbfpFormat& format, const GemmProblem& problem, int64_t* acc,
                          size_t ldc, uint32_t* overflows, const GemmOptions& options) {
  return gemm_impl(format, problem, acc, ldc, overflows, options);
}
GemmStats gemm_accumulate(const BfpFormat& format, const GemmProblem& problem, int64_t* acc,
                          size_t ldc, uint32_t* overflows, const GemmOptions& options) {
  return gemm_impl(format, problem, acc, ldc, overflows, options);
}
GemmStats gemm_requantize(const LbfpFormat& format, const GemmProblem& problem, int out_exponent,
                          bool relu, Code* out, size_t ldc, const GemmOptions& options) {
  return gemm_requantize_impl(format, problem, out_exponent, relu, out, ldc, options);
}
GemmStats gemm_requantize(const BfpFormat& format, const GemmProblem& problem, int out_exponent,
                          bool relu, Code* out, size_t ldc, const GemmOptions& options) {
  return gemm_requantize_impl(format, problem, out_exponent, relu, out, ldc, options);
}

}  // namespace lbfp
