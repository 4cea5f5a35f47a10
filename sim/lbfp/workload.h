// `lbfp sim` workloads: a GEMM on the command line (gemm:M,N,K), SCALE-Sim topology CSV files
// (convolution form and GEMM form), and the codes each layer runs on.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "lbfp/arch/accelerator.h"
#include "lbfp/arch/input.h"

namespace lbfp::cli {

using arch::read_text_file;

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

  uint64_t out_h() const { return (ifmap_h - filter_h) / stride + 1; }
  uint64_t out_w() const { return (ifmap_w - filter_w) / stride + 1; }
  // The GEMM of one group (all of it for a plain GEMM layer).
  uint64_t gemm_m() const { return is_conv ? out_h() * out_w() : m; }
  uint64_t gemm_n() const { return is_conv ? filters / groups : n; }
  uint64_t gemm_k() const { return is_conv ? channels / groups * filter_h * filter_w : k; }
  uint64_t group_count() const { return is_conv ? groups : 1; }
  uint64_t macs() const { return gemm_m() * gemm_n() * gemm_k() * group_count(); }
  std::string shape_text() const;
};

struct Workload {
  std::string name;
  std::string source;  // the file, "command line" or "<embedded>"
  std::vector<LayerSpec> layers;
  bool real_weights = false;  // from an ONNX model
};

// "gemm:M,N,K", a topology CSV path, or an ONNX model (*.onnx: its Conv and Gemm layers with
// their real weights and biases). Throws ConfigError naming the file, line and column.
Workload load_workload(const std::string& spec);
Workload parse_topology(const std::string& text, const std::string& source);

// The codes of each group of a layer from a seeded generator: activations ReLU'd N(0,1) per
// tensor (an input feature map, im2col'ed for convolutions), weights N(0, 2/fan_in) per output
// channel, exponents by max calibration, the output exponent by max calibration of a sample of
// the exact outputs. Throws ConfigError when a group would not fit `max_bytes` (checked before
// anything is allocated).
// The host memory make_layer_data takes for the layer (its input as floats and codes, and every
// group's operand and result codes), for refusing a workload before anything is allocated.
uint64_t layer_data_bytes(const LayerSpec& layer);

std::vector<arch::GemmLayer> make_layer_data(const LayerSpec& layer, const NumberFormat& format,
                                             uint64_t seed, uint64_t max_bytes);

}  // namespace lbfp::cli
