#include "lbfp/synth/array_stream.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include "lbfp/arith.h"
#include "lbfp/synth/streams.h"

namespace lbfp::synth {
namespace {

constexpr int kAccBits = 32;
constexpr int kCodeBits = 8;

DotResult dot_of(const std::string& format, const std::vector<Code>& a, const std::vector<Code>& b,
                 int64_t initial) {
  return format == "lbfp8" ? dot(lbfp8(), a, b, initial) : dot(bfp8(), a, b, initial);
}

int bit_length(uint64_t v) {
  int bits = 0;
  for (; v != 0; v >>= 1) ++bits;
  return bits;
}

}  // namespace

ArrayStream array_stream(const std::string& format, bool weight_stationary, int rows, int cols,
                         int m, int k, int n, const std::vector<Code>& a,
                         const std::vector<Code>& b) {
  if (format != "lbfp8" && format != "bfp8")
    throw std::invalid_argument("unknown format " + format);
  if (rows < 1 || cols < 1 || m < 1 || k < 1 || n < 1 || n % cols != 0 ||
      (weight_stationary ? k % rows : m % rows) != 0) {
    throw std::invalid_argument(
        fmt::format("array_stream: a {} x {} x {} GEMM does not tile a {} x {} "
                    "array",
                    m, k, n, rows, cols));
  }
  if (a.size() != static_cast<size_t>(m) * k || b.size() != static_cast<size_t>(k) * n) {
    throw std::invalid_argument("array_stream: operand sizes do not match the shape");
  }
  const bool lbfp = format == "lbfp8";
  ArrayStream s;
  s.weight_stationary = weight_stationary;
  s.rows = rows;
  s.cols = cols;
  s.m = m;
  s.k = k;
  s.n = n;
  s.macs = static_cast<uint64_t>(m) * k * n;

  // The golden sums, after each R-step chunk of the reduction (the weight-stationary folds'
  // partial sums; the last chunk is the output).
  const int chunks = weight_stationary ? k / rows : 1;
  const int chunk_len = k / chunks;
  std::vector<DotResult> partial(static_cast<size_t>(chunks) * m * n);
  auto at = [&](int f, int i, int j) -> DotResult& {
    return partial[(static_cast<size_t>(f) * m + i) * n + j];
  };
  for (int i = 0; i < m; ++i) {
    for (int j = 0; j < n; ++j) {
      DotResult sum;
      for (int f = 0; f < chunks; ++f) {
        std::vector<Code> x(static_cast<size_t>(chunk_len)), w(static_cast<size_t>(chunk_len));
        for (int t = 0; t < chunk_len; ++t) {
          x[t] = a[static_cast<size_t>(i) * k + f * chunk_len + t];
          w[t] = b[static_cast<size_t>(f * chunk_len + t) * n + j];
        }
        const DotResult d = dot_of(format, x, w, sum.acc);
        sum.acc = d.acc;
        sum.overflows += d.overflows;
        at(f, i, j) = sum;
      }
    }
  }
  std::vector<int> shift(static_cast<size_t>(n));
  for (int j = 0; j < n; ++j) {
    uint64_t most = 0;
    for (int i = 0; i < m; ++i) {
      most = std::max(most, static_cast<uint64_t>(std::llabs(at(chunks - 1, i, j).acc)));
    }
    shift[j] = -bit_length(most);
  }
  auto row_out = [&](const DotResult* sums, int j0) {
    ArrayRow r;
    for (int c = 0; c < cols; ++c) {
      r.acc.push_back(sums[c].acc);
      if (sums[c].overflows > 0) r.ovf |= 1u << c;
      if (lbfp) {
        const Code code = requantize(lbfp8(), sums[c].acc, shift[j0 + c], 0, false);
        r.code |= uint64_t{code} << (c * kCodeBits);
      }
    }
    return r;
  };
  auto shifts_text = [&](int j0) {
    std::string t;
    for (int c = 0; c < cols; ++c) t += fmt::format(" {}", shift[j0 + c]);
    return t;
  };

  if (!weight_stationary) {
    for (int i0 = 0; i0 < m; i0 += rows) {
      for (int j0 = 0; j0 < n; j0 += cols) {
        std::string zeros = "i 0";
        for (int c = 0; c < cols; ++c) zeros += " 0";
        for (int r = 0; r < rows; ++r) s.beats.push_back(zeros);
        for (int t = 0; t < k; ++t) {
          std::string beat = fmt::format("s {} {} 0 0", t == 0 ? 1 : 0, t == k - 1 ? 1 : 0);
          for (int r = 0; r < rows; ++r)
            beat += fmt::format(" {}", a[static_cast<size_t>(i0 + r) * k + t]);
          for (int c = 0; c < cols; ++c)
            beat += fmt::format(" {}", b[static_cast<size_t>(t) * n + j0 + c]);
          for (int c = 0; c < cols; ++c) beat += " 0";
          s.beats.push_back(beat + shifts_text(j0));
        }
        for (int r = 0; r < rows; ++r) {
          std::vector<DotResult> sums;
          for (int c = 0; c < cols; ++c) sums.push_back(at(0, i0 + r, j0 + c));
          s.expected.push_back(row_out(sums.data(), j0));
        }
      }
    }
    return s;
  }
  for (int j0 = 0; j0 < n; j0 += cols) {
    for (int f = 0; f < chunks; ++f) {
      const int k0 = f * rows;
      for (int r = 0; r < rows; ++r) {
        std::string beat = "w";
        for (int c = 0; c < cols; ++c)
          beat += fmt::format(" {}", b[static_cast<size_t>(k0 + r) * n + j0 + c]);
        s.beats.push_back(beat);
      }
      for (int i = 0; i < m; ++i) {
        uint32_t ovf_in = 0;
        std::string starts;
        for (int c = 0; c < cols; ++c) {
          const DotResult start = f == 0 ? DotResult{} : at(f - 1, i, j0 + c);
          if (start.overflows > 0) ovf_in |= 1u << c;
          starts += fmt::format(" {}", start.acc);
        }
        std::string beat = fmt::format("s {} {} 0 {}", i == 0 ? 1 : 0, i == m - 1 ? 1 : 0, ovf_in);
        for (int r = 0; r < rows; ++r)
          beat += fmt::format(" {}", a[static_cast<size_t>(i) * k + k0 + r]);
        for (int c = 0; c < cols; ++c) beat += " 0";
        s.beats.push_back(beat + starts + shifts_text(j0));
        std::vector<DotResult> sums;
        for (int c = 0; c < cols; ++c) sums.push_back(at(f, i, j0 + c));
        s.expected.push_back(row_out(sums.data(), j0));
      }
    }
  }
  return s;
}

void array_gemm_shape(const LayerTile& tile, int rows, int cols, size_t ops, int& m, int& k,
                      int& n) {
  m = tile.m / rows * rows;
  k = tile.k / rows * rows;
  const int most_n = tile.n / cols * cols;
  if (m == 0 || k == 0 || most_n == 0) {
    throw std::invalid_argument(
        fmt::format("a {} x {} x {} layer tile does not fill a {} x {} array", tile.m, tile.k,
                    tile.n, rows, cols));
  }
  const size_t per_column = static_cast<size_t>(m) * static_cast<size_t>(k);
  n = static_cast<int>(std::min<size_t>(ops / per_column, static_cast<size_t>(most_n))) / cols *
      cols;
  n = std::max(n, cols);
}

ArrayStream layer_array_stream(const LayerTile& tile, const std::string& format,
                               bool weight_stationary, int rows, int cols, size_t ops) {
  int m = 0, k = 0, n = 0;
  array_gemm_shape(tile, rows, cols, ops, m, k, n);
  const QuantizedTile q = quantize_tile(tile, format);
  std::vector<Code> a, b;
  for (int i = 0; i < m; ++i) {
    for (int t = 0; t < k; ++t) a.push_back(q.a[static_cast<size_t>(i) * q.k + t]);
  }
  for (int t = 0; t < k; ++t) {
    for (int j = 0; j < n; ++j) b.push_back(q.b[static_cast<size_t>(t) * q.n + j]);
  }
  return array_stream(format, weight_stationary, rows, cols, m, k, n, a, b);
}

ArrayStream uniform_array_stream(const LayerTile& tile, const std::string& format,
                                 bool weight_stationary, int rows, int cols, size_t ops,
                                 uint64_t seed) {
  int m = 0, k = 0, n = 0;
  array_gemm_shape(tile, rows, cols, ops, m, k, n);
  const size_t count = std::max(static_cast<size_t>(m) * k, static_cast<size_t>(k) * n);
  const std::vector<Op> codes = uniform_stream(format, count, seed);
  std::vector<Code> a, b;
  for (size_t i = 0; i < static_cast<size_t>(m) * k; ++i) a.push_back(codes[i].a);
  for (size_t i = 0; i < static_cast<size_t>(k) * n; ++i) b.push_back(codes[i].b);
  return array_stream(format, weight_stationary, rows, cols, m, k, n, a, b);
}

void write_array_stream(const ArrayStream& s, const std::string& path) {
  std::ofstream out(path);
  out << "dims " << s.rows << ' ' << s.cols << ' ' << s.macs << ' ' << s.expected.size() << '\n';
  for (const std::string& beat : s.beats) out << beat << '\n';
  if (!out) throw std::runtime_error("cannot write " + path);
}

std::vector<ArrayRow> read_array_outputs(const std::string& path, int cols) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error("cannot read " + path);
  std::vector<ArrayRow> rows;
  std::string line;
  size_t number = 0;
  while (std::getline(in, line)) {
    ++number;
    std::istringstream ls(line);
    ls >> std::hex;
    ArrayRow r;
    for (int c = 0; c < cols; ++c) {
      uint64_t v = 0;
      if (!(ls >> v))
        throw std::runtime_error(fmt::format("{}:{}: short output row", path, number));
      // A-bit two's complement.
      const int64_t wide = static_cast<int64_t>(v << (64 - kAccBits)) >> (64 - kAccBits);
      r.acc.push_back(wide);
    }
    if (!(ls >> r.ovf >> r.code)) {
      throw std::runtime_error(fmt::format("{}:{}: short output row", path, number));
    }
    rows.push_back(std::move(r));
  }
  return rows;
}

std::string compare_array_outputs(const ArrayStream& s, const std::vector<ArrayRow>& got) {
  if (got.size() != s.expected.size()) {
    return fmt::format("{} output rows, {} expected", got.size(), s.expected.size());
  }
  for (size_t i = 0; i < got.size(); ++i) {
    const ArrayRow& g = got[i];
    const ArrayRow& e = s.expected[i];
    if (g == e) continue;
    std::string text = fmt::format("output row {}: got", i);
    for (int64_t v : g.acc) text += fmt::format(" {}", v);
    text += fmt::format(" ovf {:x} codes {:x}; golden", g.ovf, g.code);
    for (int64_t v : e.acc) text += fmt::format(" {}", v);
    return text + fmt::format(" ovf {:x} codes {:x}", e.ovf, e.code);
  }
  return "";
}

}  // namespace lbfp::synth
