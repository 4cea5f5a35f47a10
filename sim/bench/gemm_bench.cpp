// LBFP8 and BFP8 bit-exact GEMM / convolution against OpenBLAS FP32 sgemm, in one run, with the
// same number of threads. Counters: GMACs (giga multiply-accumulates per second) and, for the
// LBFP/BFP rows, x_sgemm = GMAC/s divided by the sgemm rate of the same shape measured earlier in
// this run (the median of its repetitions). Operands are calibrated Gaussian data (ReLU'd
// activations with a per-tensor max exponent, weights with per-output-channel max exponents), as
// in inference; the fast kernels' overflow proof clears every output here (the counter
// `sequential` says how many it did not).
//
// Run it as docs/performance.md says: env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE ...
#include <benchmark/benchmark.h>
#include <cblas.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "lbfp/arith.h"
#include "lbfp/calibration.h"
#include "lbfp/conv.h"
#include "lbfp/gemm.h"

namespace {

using lbfp::Code;
// Threads on both sides: 2, or LBFP_BENCH_THREADS (1-64) for other comparisons.
int kThreads = 2;

// Shape name -> GMAC/s of every sgemm repetition so far (all of them run before the code rows).
std::map<std::string, std::vector<double>>& sgemm_rates() {
  static std::map<std::string, std::vector<double>> rates;
  return rates;
}
double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t h = v.size() / 2;
  return v.size() % 2 == 1 ? v[h] : 0.5 * (v[h - 1] + v[h]);
}

std::vector<float> gaussian(size_t n, bool relu, unsigned seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> v(n);
  for (auto& x : v) {
    x = normal(rng);
    if (relu && x < 0.0f) x = 0.0f;
  }
  return v;
}

// Activations: one max exponent. Weights (K x N, column n = output channel): one per column.
template <class Format>
struct Operands {
  std::vector<Code> a, b;
  int a_exponent = 0;
  std::vector<int> b_exponents;
  std::vector<float> bias;
};

template <class Format>
Operands<Format> quantize_gemm(const Format& format, const std::vector<float>& a,
                               const std::vector<float>& b, size_t k, size_t n) {
  Operands<Format> q;
  float amax = 0.0f;
  for (float x : a) amax = std::max(amax, std::fabs(x));
  q.a_exponent = lbfp::max_exponent(amax);
  for (float x : a) q.a.push_back(lbfp::encode(format, x, q.a_exponent));
  q.b.resize(k * n);
  for (size_t j = 0; j < n; ++j) {
    float wmax = 0.0f;
    for (size_t i = 0; i < k; ++i) wmax = std::max(wmax, std::fabs(b[i * n + j]));
    q.b_exponents.push_back(lbfp::max_exponent(wmax));
    for (size_t i = 0; i < k; ++i) q.b[i * n + j] = lbfp::encode(format, b[i * n + j], q.b_exponents[j]);
    q.bias.push_back(0.01f * static_cast<float>(j % 7));
  }
  return q;
}

// The M x K by K x N product of quantized operands (the bias too).
template <class Format>
lbfp::GemmProblem gemm_problem(const Operands<Format>& q, size_t m, size_t n, size_t k) {
  lbfp::GemmProblem p;
  p.m = m;
  p.n = n;
  p.k = k;
  p.a = q.a.data();
  p.lda = k;
  p.a_exponent = q.a_exponent;
  p.b = q.b.data();
  p.ldb = n;
  p.b_exponents = q.b_exponents.data();
  p.bias = q.bias.data();
  return p;
}

void report(benchmark::State& state, const std::string& shape, double macs, double seconds,
            bool is_sgemm) {
  const double gmacs = macs * static_cast<double>(state.iterations()) / seconds * 1e-9;
  state.counters["GMACs"] = gmacs;
  if (is_sgemm) {
    sgemm_rates()[shape].push_back(gmacs);
  } else if (sgemm_rates().count(shape) != 0) {
    state.counters["x_sgemm"] = gmacs / median(sgemm_rates()[shape]);
  }
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// ---- GEMM cubes ----------------------------------------------------------------------------------

void BM_SgemmCube(benchmark::State& state) {
  const auto n = static_cast<size_t>(state.range(0));
  const auto a = gaussian(n * n, true, 1), b = gaussian(n * n, false, 2);
  std::vector<float> c(n * n);
  const int dim = static_cast<int>(n);
  const auto t0 = std::chrono::steady_clock::now();
  for (auto _ : state) {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, dim, dim, dim, 1.0f, a.data(), dim,
                b.data(), dim, 0.0f, c.data(), dim);
    benchmark::DoNotOptimize(c.data());
  }
  report(state, "cube" + std::to_string(n), static_cast<double>(n * n * n), seconds_since(t0), true);
}

template <class Format>
void BM_CodeGemmCube(benchmark::State& state, const Format& format,
                     lbfp::KernelPath path = lbfp::KernelPath::kAuto) {
  if (!lbfp::kernel_path_available(path, format)) {
    const std::string why = "NOT RUN: path " + lbfp::to_string(path) + " unavailable on this CPU";
    state.SkipWithError(why.c_str());
    return;
  }
  const auto n = static_cast<size_t>(state.range(0));
  const auto q = quantize_gemm(format, gaussian(n * n, true, 1), gaussian(n * n, false, 2), n, n);
  const lbfp::GemmProblem p = gemm_problem(q, n, n, n);
  std::vector<int64_t> acc(n * n);
  lbfp::GemmOptions options;
  options.threads = kThreads;
  options.path = path;
  lbfp::GemmStats stats;
  const auto t0 = std::chrono::steady_clock::now();
  for (auto _ : state) {
    stats = lbfp::gemm_accumulate(format, p, acc.data(), n, nullptr, options);
    benchmark::DoNotOptimize(acc.data());
  }
  report(state, "cube" + std::to_string(n), static_cast<double>(n * n * n), seconds_since(t0), false);
  state.counters["sequential"] = static_cast<double>(stats.sequential_outputs);
  state.SetLabel(lbfp::to_string(stats.path));
}
void BM_Lbfp8GemmCube(benchmark::State& state) { BM_CodeGemmCube(state, lbfp::lbfp8()); }
void BM_Bfp8GemmCube(benchmark::State& state) { BM_CodeGemmCube(state, lbfp::bfp8()); }
// Each AVX-512 LBFP8 kernel forced, so that one run compares them on its CPU (kAuto picks one).
void BM_Lbfp8GemmCubeAvx512(benchmark::State& state) {
  BM_CodeGemmCube(state, lbfp::lbfp8(), lbfp::KernelPath::kAvx512);
}
void BM_Lbfp8GemmCubeAvx512Vbmi(benchmark::State& state) {
  BM_CodeGemmCube(state, lbfp::lbfp8(), lbfp::KernelPath::kAvx512Vbmi);
}
// Runs `p` once per iteration; reports G MAC/s, the outputs summed in order and the path.
template <class Format>
void time_product(benchmark::State& state, const Format& format, const lbfp::GemmProblem& p,
                  const lbfp::GemmOptions& options) {
  std::vector<int64_t> acc(p.m * p.n);
  lbfp::GemmStats stats;
  const auto t0 = std::chrono::steady_clock::now();
  for (auto _ : state) {
    stats = lbfp::gemm_accumulate(format, p, acc.data(), p.n, nullptr, options);
    benchmark::DoNotOptimize(acc.data());
  }
  state.counters["GMACs"] = static_cast<double>(p.m * p.n * p.k) *
                            static_cast<double>(state.iterations()) / seconds_since(t0) * 1e-9;
  state.counters["sequential"] = static_cast<double>(stats.sequential_outputs);
  state.SetLabel(lbfp::to_string(stats.path));
}

// Narrow products as `lbfp sim` makes them when a layer's weights stream 16 columns at a time
// (ResNet-18's last convolutions: M = pixels, N = 16 or 32, K = 9 x channels), one thread, as
// the simulation calls them: Args M, N, K.
template <class Format>
void BM_CodeGemmNarrow(benchmark::State& state, const Format& format, lbfp::KernelPath path) {
  if (!lbfp::kernel_path_available(path, format)) {
    const std::string why = "NOT RUN: path " + lbfp::to_string(path) + " unavailable on this CPU";
    state.SkipWithError(why.c_str());
    return;
  }
  const auto m = static_cast<size_t>(state.range(0));
  const auto n = static_cast<size_t>(state.range(1));
  const auto k = static_cast<size_t>(state.range(2));
  const auto q = quantize_gemm(format, gaussian(m * k, true, 1), gaussian(k * n, false, 2), k, n);
  lbfp::GemmOptions options;
  options.threads = 1;
  options.path = path;
  time_product(state, format, gemm_problem(q, m, n, k), options);
}
void BM_Lbfp8NarrowAuto(benchmark::State& state) {
  BM_CodeGemmNarrow(state, lbfp::lbfp8(), lbfp::KernelPath::kAuto);
}
void BM_Lbfp8NarrowAvx512(benchmark::State& state) {
  BM_CodeGemmNarrow(state, lbfp::lbfp8(), lbfp::KernelPath::kAvx512);
}
void BM_Bfp8NarrowAvx512(benchmark::State& state) {
  BM_CodeGemmNarrow(state, lbfp::bfp8(), lbfp::KernelPath::kAvx512);
}
// Long products whose outputs the overflow proof does not clear (ResNet-18's 3x3x512 layers in
// `lbfp sim`): codes of magnitudes uniform in [0, top] and random signs. Top 100: every output
// cleared (the plain product, for comparison); 112: a few uncleared; 116 and 127: all of them
// (the bound a little over the 32-bit accumulator's range, and well over), each summed in k
// order from chunk sums. Args M, N, K, top; two threads.
void BM_Lbfp8Uncleared(benchmark::State& state) {
  const auto m = static_cast<size_t>(state.range(0));
  const auto n = static_cast<size_t>(state.range(1));
  const auto k = static_cast<size_t>(state.range(2));
  const auto top = static_cast<unsigned>(state.range(3));
  std::mt19937 rng(7);
  auto code = [&] {
    return lbfp::make_code(lbfp::lbfp8(), rng() % 2 == 0, static_cast<int>(rng() % (top + 1)));
  };
  std::vector<lbfp::Code> a(m * k), b(k * n);
  for (auto& c : a) c = code();
  for (auto& c : b) c = code();
  std::vector<int> b_exponents(n, 0);
  lbfp::GemmProblem p;
  p.m = m;
  p.n = n;
  p.k = k;
  p.a = a.data();
  p.lda = k;
  p.b = b.data();
  p.ldb = n;
  p.b_exponents = b_exponents.data();
  lbfp::GemmOptions options;
  options.threads = 2;
  time_product(state, lbfp::lbfp8(), p, options);
}
// Both BFP8 kernels of an AMX CPU (kAuto takes AMX there).
void BM_Bfp8GemmCubeAvx512(benchmark::State& state) {
  BM_CodeGemmCube(state, lbfp::bfp8(), lbfp::KernelPath::kAvx512);
}
void BM_Bfp8GemmCubeAmx(benchmark::State& state) {
  BM_CodeGemmCube(state, lbfp::bfp8(), lbfp::KernelPath::kAmx);
}

// ---- ResNet-18 convolution layers ---------------------------------------------------------------

struct Layer {
  const char* name;
  size_t channels, size, out_channels, kernel, stride, pad;
};
// conv2_x, conv3_x (first, stride 2) and conv4_x 3x3 layers of ResNet-18 at batch 1.
const Layer kLayers[] = {{"resnet18_conv2", 64, 56, 64, 3, 1, 1},
                         {"resnet18_conv3_s2", 64, 56, 128, 3, 2, 1},
                         {"resnet18_conv4", 256, 14, 256, 3, 1, 1}};

lbfp::Conv2dShape conv_shape(const Layer& l) {
  lbfp::Conv2dShape s;
  s.in_channels = l.channels;
  s.in_height = s.in_width = l.size;
  s.out_channels = l.out_channels;
  s.kernel_height = s.kernel_width = l.kernel;
  s.stride_height = s.stride_width = l.stride;
  s.pad_height = s.pad_width = l.pad;
  return s;
}

// The FP32 baseline: the same im2col (rows: output pixels) and one sgemm per image.
void BM_SgemmConv(benchmark::State& state) {
  const Layer& l = kLayers[state.range(0)];
  const auto s = conv_shape(l);
  const size_t oh = s.out_height(), ow = s.out_width(), kg = l.channels * l.kernel * l.kernel;
  const auto input = gaussian(s.input_elements(), true, 3);
  const auto weights = gaussian(kg * l.out_channels, false, 4);  // K x N
  std::vector<float> cols(oh * ow * kg), out(oh * ow * l.out_channels);
  const auto t0 = std::chrono::steady_clock::now();
  for (auto _ : state) {
    lbfp::im2col(s, input.data(), 0, 0, cols.data(), kg, 1);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, static_cast<int>(oh * ow),
                static_cast<int>(l.out_channels), static_cast<int>(kg), 1.0f, cols.data(),
                static_cast<int>(kg), weights.data(), static_cast<int>(l.out_channels), 0.0f,
                out.data(), static_cast<int>(l.out_channels));
    benchmark::DoNotOptimize(out.data());
  }
  report(state, l.name, static_cast<double>(s.macs()), seconds_since(t0), true);
  state.SetLabel(l.name);
}

template <class Format>
void BM_CodeConv(benchmark::State& state, const Format& format) {
  const Layer& l = kLayers[state.range(0)];
  auto s = conv_shape(l);
  s.layout = lbfp::TensorLayout::kNhwc;
  const size_t kg = l.channels * l.kernel * l.kernel;
  // Weights drawn as K x N for the per-channel exponents, then stored OIHW.
  const auto q = quantize_gemm(format, gaussian(s.input_elements(), true, 3),
                               gaussian(kg * l.out_channels, false, 4), kg, l.out_channels);
  std::vector<Code> oihw(kg * l.out_channels);
  for (size_t o = 0; o < l.out_channels; ++o) {
    for (size_t k = 0; k < kg; ++k) oihw[o * kg + k] = q.b[k * l.out_channels + o];
  }
  lbfp::Conv2dOperands op{q.a.data(), q.a_exponent, oihw.data(), q.b_exponents.data(),
                          q.bias.data()};
  std::vector<int64_t> out(s.output_elements());
  lbfp::GemmOptions options;
  options.threads = kThreads;
  lbfp::GemmStats stats;
  const auto t0 = std::chrono::steady_clock::now();
  for (auto _ : state) {
    stats = lbfp::conv2d_accumulate(format, s, op, out.data(), nullptr, options);
    benchmark::DoNotOptimize(out.data());
  }
  report(state, l.name, static_cast<double>(s.macs()), seconds_since(t0), false);
  state.counters["sequential"] = static_cast<double>(stats.sequential_outputs);
  state.SetLabel(std::string(l.name) + " " + lbfp::to_string(stats.path));
}
void BM_Lbfp8Conv(benchmark::State& state) { BM_CodeConv(state, lbfp::lbfp8()); }
void BM_Bfp8Conv(benchmark::State& state) { BM_CodeConv(state, lbfp::bfp8()); }

// The least of the repetitions (`_min` rows): with one thread its CPU time is the figure that
// a machine shared with other jobs disturbs least.
double least(const std::vector<double>& v) { return *std::min_element(v.begin(), v.end()); }

// The cube rows' settings: wall time in microseconds, and the least repetition as `_min`.
void timed(benchmark::internal::Benchmark* b) {
  b->UseRealTime()->Unit(benchmark::kMicrosecond)->ComputeStatistics("min", least);
}
void all_cubes(benchmark::internal::Benchmark* b) {
  b->Arg(64)->Arg(256)->Arg(512)->Arg(1024);
  timed(b);
}
void cube512(benchmark::internal::Benchmark* b) {
  b->Arg(512);
  timed(b);
}

// sgemm rows first: the code rows divide by them.
BENCHMARK(BM_SgemmCube)->Apply(all_cubes);
BENCHMARK(BM_Lbfp8GemmCube)->Apply(all_cubes);
BENCHMARK(BM_Bfp8GemmCube)->Apply(all_cubes);
BENCHMARK(BM_Lbfp8GemmCubeAvx512)->Apply(cube512);
BENCHMARK(BM_Lbfp8GemmCubeAvx512Vbmi)->Apply(cube512);
BENCHMARK(BM_Bfp8GemmCubeAvx512)->Apply(cube512);
BENCHMARK(BM_Bfp8GemmCubeAmx)->Apply(cube512);
void narrow_shapes(benchmark::internal::Benchmark* b) {
  b->Args({49, 16, 4608})->Args({784, 16, 1152})->Args({3136, 16, 576})->Args({49, 32, 4608});
  b->UseRealTime()->Unit(benchmark::kMicrosecond);
}
BENCHMARK(BM_Lbfp8NarrowAuto)->Apply(narrow_shapes);
BENCHMARK(BM_Lbfp8NarrowAvx512)->Apply(narrow_shapes);
BENCHMARK(BM_Bfp8NarrowAvx512)->Apply(narrow_shapes);
BENCHMARK(BM_Lbfp8Uncleared)
    ->Args({49, 16, 4608, 100})
    ->Args({49, 16, 4608, 112})
    ->Args({49, 16, 4608, 116})
    ->Args({49, 16, 4608, 127})
    ->Args({49, 512, 4608, 100})
    ->Args({49, 512, 4608, 116})
    ->UseRealTime()
    ->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_SgemmConv)->DenseRange(0, 2)->UseRealTime()->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_Lbfp8Conv)->DenseRange(0, 2)->UseRealTime()->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_Bfp8Conv)->DenseRange(0, 2)->UseRealTime()->Unit(benchmark::kMicrosecond);

// The first "model name" of /proc/cpuinfo (empty where there is none).
std::string cpu_model() {
  std::FILE* f = std::fopen("/proc/cpuinfo", "r");
  if (f == nullptr) return "";
  char line[512];
  std::string model;
  while (std::fgets(line, sizeof line, f) != nullptr) {
    const std::string s(line);
    if (s.rfind("model name", 0) == 0 && s.find(':') != std::string::npos) {
      model = s.substr(s.find(':') + 2);
      if (!model.empty() && model.back() == '\n') model.pop_back();
      break;
    }
  }
  std::fclose(f);
  return model;
}

// The kernel path kAuto takes for a format on this CPU for the cube shapes (kAuto also looks at
// the shape: a 1 x 64 x 128 product reports the choice for wide, deep ones).
template <class Format>
std::string auto_path(const Format& format) {
  constexpr size_t kN = 64, kK = 128;
  const std::vector<Code> a(kK, lbfp::encode(format, 1.0, 1));
  const std::vector<Code> b(kK * kN, a[0]);
  const std::vector<int> exponents(kN, 1);
  lbfp::GemmProblem p;
  p.m = 1;
  p.n = kN;
  p.k = kK;
  p.a = a.data();
  p.lda = kK;
  p.a_exponent = 1;
  p.b = b.data();
  p.ldb = kN;
  p.b_exponents = exponents.data();
  std::vector<int64_t> acc(kN);
  return lbfp::to_string(lbfp::gemm_accumulate(format, p, acc.data(), kN).path);
}

}  // namespace

int main(int argc, char** argv) {
  if (const char* threads = std::getenv("LBFP_BENCH_THREADS")) {
    char* end = nullptr;
    const long value = std::strtol(threads, &end, 10);
    if (end == threads || *end != '\0' || value < 1 || value > 64) {
      std::fprintf(stderr, "lbfp_gemm_bench: LBFP_BENCH_THREADS='%s' is not a thread count 1-64\n",
                   threads);
      return 2;
    }
    kThreads = static_cast<int>(value);
  }
  openblas_set_num_threads(kThreads);
  std::printf("CPU: %s\n", cpu_model().c_str());
  std::printf("kernel paths (auto): LBFP8 %s, BFP8 %s\n", auto_path(lbfp::lbfp8()).c_str(),
              auto_path(lbfp::bfp8()).c_str());
  std::printf("OpenBLAS core: %s, config: %s, threads: %d (LBFP/BFP threads: %d)\n",
              openblas_get_corename(), openblas_get_config(), kThreads, kThreads);
  const char* coretype = std::getenv("OPENBLAS_CORETYPE");
  std::printf("OPENBLAS_CORETYPE=%s\n", coretype ? coretype : "(unset)");
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
