// Workloads of the architecture model: a GEMM on the command line (gemm:M,N,K), SCALE-Sim
// topology CSV files (convolution form and GEMM form), ONNX models, and the codes each layer runs
// on. Bad input throws lbfp::ConfigError naming the file, line and column.
#pragma once

#include <cstdint>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "lbfp/arch/accelerator.h"
#include "lbfp/config_error.h"
#include "lbfp/conv.h"

namespace lbfp {

struct LayerSpec {
  std::string name;
  bool is_conv = false;
  // Convolution, SCALE-Sim semantics: the IFMAP size includes the padding; no padding is added.
  uint64_t ifmap_h = 0, ifmap_w = 0, filter_h = 0, filter_w = 0;
  uint64_t channels = 0, filters = 0, stride = 1, groups = 1;
  uint64_t pad_h = 0, pad_w = 0;  // of an ONNX convolution: the IFMAP's zero border
  // Real parameters (from an ONNX model): one row per output channel (OIHW for a convolution,
  // [out][in] for a fully-connected layer) and one bias per output channel. Empty: generated.
  std::vector<float> weights;
  std::vector<float> bias;
  // GEMM form (and each group of a convolution): C[M,N] = A[M,K] x B[K,N].
  uint64_t m = 0, n = 0, k = 0;

  uint64_t out_h() const { return conv_output_size(ifmap_h, filter_h, stride); }
  uint64_t out_w() const { return conv_output_size(ifmap_w, filter_w, stride); }
  // The GEMM of one group (all of it for a plain GEMM layer).
  uint64_t gemm_m() const { return is_conv ? out_h() * out_w() : m; }
  uint64_t gemm_n() const { return is_conv ? filters / groups : n; }
  uint64_t gemm_k() const { return is_conv ? channels / groups * filter_h * filter_w : k; }
  uint64_t group_count() const { return is_conv ? groups : 1; }
  uint64_t macs() const { return gemm_m() * gemm_n() * gemm_k() * group_count(); }
  std::string shape_text() const;
  // The kernels' shape of a convolution layer: one image, the IFMAP as given (padding included).
  Conv2dShape conv_shape() const;
};

struct Workload {
  std::string name;
  std::string source;  // the file, "command line" or "<embedded>"
  std::vector<LayerSpec> layers;
  bool real_weights = false;  // from an ONNX model
};

// Reads a topology file whole; throws ConfigError naming it when it cannot (the caller's reader
// may serve built-in files too).
using TextReader = std::function<std::string(const std::string& path)>;

// "gemm:M,N,K", a topology CSV path (read with `read_text`), or an ONNX model (*.onnx: its Conv
// and Gemm layers with their real weights and biases). Throws ConfigError naming the file, line
// and column.
Workload load_workload(const std::string& spec, const TextReader& read_text);
Workload parse_topology(const std::string& text, const std::string& source);

// The codes of each group of a layer from a seeded generator: activations ReLU'd N(0,1) per
// tensor (an input feature map, im2col'ed for convolutions on the host), weights N(0, 2/fan_in) per output
// channel, exponents by max calibration, the output exponent by max calibration of a sample of
// the exact outputs. Throws ConfigError when a group would not fit `max_bytes` (checked before
// anything is allocated).
// The host memory make_layer_data takes for the layer (its input as floats and codes, and every
// group's operand and result codes), for refusing a workload before anything is allocated.
uint64_t layer_data_bytes(const LayerSpec& layer);

// Where a convolution is lowered to a GEMM: on the host (the accelerator gets the im2col'ed
// M x K activations) or on chip (it gets the NHWC input feature map and the geometry, and forms
// the windows itself: GemmLayer::conv).
enum class Im2col { kHost, kChip };
// "host" or "chip"; throws ConfigError naming --im2col otherwise.
Im2col parse_im2col(const std::string& choice);

std::vector<arch::GemmLayer> make_layer_data(const LayerSpec& layer,
                                             const NumberFormat& format, uint64_t seed,
                                             uint64_t max_bytes, Im2col im2col = Im2col::kChip);

// The same in two steps, so that several formats share one draw: the seeded real values (the
// input, and each group's weights unless the layer has its own; checked against max_bytes
// first), then their codes in one format.
struct LayerValues {
  std::vector<float> input;                 // C x H x W (convolution) or M x K, ReLU'd
  std::vector<std::vector<float>> weights;  // per group, N x K; empty with the layer's weights
};
LayerValues make_layer_values(const LayerSpec& layer, uint64_t seed, uint64_t max_bytes);
// The same values in the memory of `reuse` (the values of an earlier layer, given back; their
// contents do not matter): a loop over layers touches no new pages where the layers fit.
LayerValues make_layer_values(const LayerSpec& layer, uint64_t seed, uint64_t max_bytes,
                              LayerValues reuse);
// make_layer_values' check alone: throws its ConfigError when the layer does not fit max_bytes.
void check_layer_values(const LayerSpec& layer, uint64_t max_bytes);
// Values for make_layer_values' `reuse` with room for the largest of `layers` that the check
// accepts at max_bytes (input, and the draws that become the first group's weights): a loop
// that passes them back and forth then never moves them to new memory (page faults) when a
// layer outgrows the last. Without room where the system will not reserve that much.
LayerValues reserved_layer_values(const std::vector<LayerSpec>& layers, uint64_t max_bytes);

// std::mt19937_64's draws, bit for bit (the same seeding, recurrence and tempering), made 312
// at a time by loops the compiler vectorizes (AVX-512 where the CPU has it): the library's
// engine makes them one at a time. A uniform random bit generator, like the engine.
class Mt64 {
 public:
  using result_type = uint64_t;
  static constexpr size_t kStateWords = 312;
  explicit Mt64(uint64_t seed);
  static constexpr result_type min() { return 0; }
  static constexpr result_type max() { return ~uint64_t{0}; }
  result_type operator()() {
    if (next_ == kStateWords) refill();
    return out_[next_++];
  }
  // The next n draws, as n calls of operator() return them.
  void generate(uint64_t* out, size_t n);

 private:
  void refill();  // the next 312 states, tempered into out_
  uint64_t state_[kStateWords];
  uint64_t out_[kStateWords];
  size_t next_ = kStateWords;
};

// The two standard normal values of one 64-bit draw, in float arithmetic defined here so that
// they are the same bits on every CPU and with every compiler and library (Box-Muller):
// x = r cos(phi), y = r sin(phi) with
// - r = sqrt(-2 ln u), u = float(draw >> 32) 2^-32 + 2^-33, in (0, 1] (so r <= 6.77);
//   ln u = e ln 2 + 2 atanh(s): u = m 2^e with m in (sqrt(1/2), sqrt(2)], s = (m - 1) / (m + 1),
//   atanh's series to s^9, ln 2 in two parts;
// - phi from the low 32 bits: theta = (bits 0-23) 2^-24 pi / 4, cos and sin of theta by their
//   Taylor series (to theta^10 and theta^9); bit 29 swaps the two, bit 30 negates the cosine,
//   bit 31 the sine (the eight octants).
// Each operation rounded to nearest in float, in the order the definition in workload.cpp
// writes them, without fused multiply-adds. Within 6 x 2^-24 r of the exact values of that u
// and theta (tb/workload checks it over a million draws and the fields' ends).
void standard_normal_pair(uint64_t draw, float* pair);

// `count` values: the pairs of `count / 2` (rounded up) successive draws of `rng`, x then y of
// each (the last y left out for an odd count), computed 16 pairs at a time where the CPU has
// AVX-512 (the same bits as standard_normal_pair).
std::vector<float> standard_normals(std::mt19937_64& rng, size_t count);
std::vector<float> standard_normals(Mt64& rng, size_t count);
std::vector<arch::GemmLayer> make_layer_data(const LayerSpec& layer, const LayerValues& values,
                                             const NumberFormat& format,
                                             Im2col im2col = Im2col::kChip);

// The groups make_layer_data gives, without their codes (A and W empty, every exponent 0):
// names, M, N, K, geometry, bias and N weight exponents, for arch::LayerSource.
std::vector<arch::GemmLayer> make_layer_shapes(const LayerSpec& layer,
                                               Im2col im2col = Im2col::kChip);

}  // namespace lbfp
