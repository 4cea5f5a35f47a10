// FP32 and bit-exact quantized (LBFP8, BFP8) inference of a Graph, and the calibration that picks
// every exponent of the quantized inference. docs/accuracy.md states the quantization of every
// tensor; in short:
//
//   tensor                         exponent                        how the codes are computed
//   graph input (pixel / 255)      per tensor, calibrated          encode (exact rounding)
//   Conv / Gemm weights            per output channel, max or KL   encode
//   Conv / Gemm output             per tensor, calibrated          the golden kernels of conv.h /
//                                  (kChannel: per channel where    gemm.h: bias, A-bit accumulator,
//                                  only depthwise convs read it)   fused ReLU, requantize
//   last layer (logits)            per output channel (Ea + Eb)    read from the accumulators:
//                                                                  acc * 2^product_scale, exact
//   MaxPool, Relu, Flatten         the input's                     on the codes: exact, because
//                                                                  encode is monotone
//   Add, AveragePool, Global...    per tensor, calibrated          decode the inputs to doubles,
//                                                                  add (and divide by the window
//                                                                  size), fused ReLU, encode
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "lbfp/calibration.h"
#include "lbfp/conv.h"
#include "lbfp/eval/graph.h"
#include "lbfp/format.h"
#include "lbfp/gemm.h"

namespace lbfp::eval {

// The arithmetic an inference runs in: FP32, the BFP8 / LBFP8 number formats, or the industry
// formats of spec section 13 (scaled_inference.h: MXINT8, MXFP8, FP8 per tensor, INT8).
enum class Arithmetic {
  kFp32, kBfp8, kLbfp8, kMxint8, kMxfp8E4m3, kMxfp8E5m2, kFp8E4m3, kFp8E5m2, kInt8
};
const char* to_string(Arithmetic format);
// "fp32", "bfp8", "lbfp8", and the names of `lbfp golden --format`: "mxint8", "mxfp8-e4m3",
// "mxfp8-e5m2", "fp8-e4m3", "fp8-e5m2", "int8".
Arithmetic parse_arithmetic(const std::string& name);
// True for the formats of spec section 13 (scaled_inference.h runs them).
bool is_scaled(Arithmetic format);

// kLbfp8 stands for the whole LBFP family of spec section 12 (LbfpFormat(W, F, P = 8, A = 32));
// which member a configuration or plan runs is its `lbfp` format, LBFP8 (F = 4) by default.
// Names: "lbfp8" for LBFP8 F = 4, otherwise "lbfpWfF" ("lbfp7f3"); other formats to_string's.
std::string format_name(Arithmetic format, const LbfpFormat& lbfp);
struct NamedFormat {
  Arithmetic format = Arithmetic::kFp32;
  LbfpFormat lbfp;  // LBFP8 unless format is kLbfp8
};
// parse_arithmetic's names, and the LBFP family: "lbfpW" (F = `frac_bits` if given, else W / 2 as
// `lbfp golden` takes it) and "lbfpWfF" (W in 2..8, F in 0..W-2). Throws std::invalid_argument
// naming the value for anything else (a bad W or F, or `frac_bits` with "lbfpWfF").
NamedFormat parse_named_format(const std::string& name, std::optional<int> frac_bits = {});

// Activation exponents one per tensor (the spec's default), or one per channel for the tensors
// that allow it exactly (channel_exponent_tensors).
enum class ActivationGranularity { kTensor, kChannel };
const char* to_string(ActivationGranularity granularity);
ActivationGranularity parse_activation_granularity(const std::string& name);  // "tensor", "channel"

// By tensor id: true for the tensors that may carry one exponent per channel without breaking the
// spec's shared scale: produced by a Conv (which requantizes each output element, so each channel
// to its own exponent), not the graph output, and consumed only by depthwise convolutions (one
// input channel per group: each output channel reduces over one input channel, so its products
// share Ea[c] + Eb[o]). Tensors read by any other node (a normal conv, Gemm, Add, pooling) stay
// per tensor.
std::vector<bool> channel_exponent_tensors(const Graph& graph);

// The kernels' shape of Conv node `n` over `batch` images (NCHW).
Conv2dShape conv_shape(const Graph& graph, const Node& n, size_t batch);

// One tensor per graph tensor id, batch x elements (NCHW), float.
using Activations = std::vector<std::vector<float>>;

// FP32 reference inference of `batch` images (batch x C x H x W in `input`). With
// `pre_activations`: by tensor id, each Conv / Gemm output before its fused ReLU (empty for the
// other tensors). With `after_node`: called with each node's output tensor id and values before
// the next node reads them, which it may change (the fake quantization of the ablation study in
// tb/eval/ablation_main.cpp). Convolutions, Gemm and pooling split the images over `threads`
// threads; every value is the same for any thread count and batch size (each conv / Gemm output
// is a chain of fused multiply-adds in its reduction order from +0, on every CPU).
using Fp32Hook = std::function<void(int tensor, std::vector<float>& values)>;
Activations run_fp32(const Graph& graph, const std::vector<float>& input, size_t batch,
                     Activations* pre_activations = nullptr, const Fp32Hook& after_node = {},
                     size_t threads = 1);
// The same into `out`, whose tensors keep their memory from one batch to the next (a loop over
// batches then allocates, and the kernel zero-fills, its activations once). Without a hook or
// pre-activations the pass runs the whole network on a few images at a time (the same values).
void run_fp32_into(const Graph& graph, const std::vector<float>& input, size_t batch,
                   Activations& out, size_t threads = 1);

// Where an FP32 pass met a value that is not finite: the lowest tensor id holding one (the
// input included) and that tensor's first such value in element order (its image, NaN or
// infinite). tensor is -1 where every value is finite.
struct NotFinite {
  int tensor = -1;
  size_t image = 0;
  bool nan = false;
};

// The first value of `activations` (batch images per tensor) that is not finite.
NotFinite find_not_finite(const Activations& activations, size_t batch);

// Each thread's tensors for a few images, kept from one run_fp32_output_into call to the next.
struct Fp32Scratch {
  std::vector<Activations> workers;
};

// The FP32 pass when only the graph's output is wanted (`output`: batch x its elements, the
// values of run_fp32's output tensor): each thread runs the whole network on a few images at a
// time in its own tensors (in `scratch`, reused by the next call), so they stay in cache and
// no other activation of the batch is written to memory. Every tensor of each few images is
// checked for values that are not finite while it is in cache; the first is returned.
NotFinite run_fp32_output_into(const Graph& graph, const std::vector<float>& input, size_t batch,
                               std::vector<float>& output, Fp32Scratch& scratch,
                               size_t threads = 1);

// Every exponent and weight code of one quantized inference.
struct QuantPlan {
  Arithmetic format = Arithmetic::kLbfp8;
  // The LBFP family member when format is kLbfp8 (LBFP8, F = 4, by default).
  LbfpFormat lbfp = lbfp8();
  CalibrationMethod activation_method = CalibrationMethod::kKl;
  CalibrationMethod weight_method = CalibrationMethod::kMax;
  ActivationGranularity granularity = ActivationGranularity::kTensor;
  // By tensor id. For a tensor with channel exponents: the largest of them (what is printed).
  std::vector<int> tensor_exponents;
  std::vector<bool> tensor_calibrated;             // false: inherited from the input tensor
  // By tensor id: one exponent per channel, or empty (the tensor's exponent holds everywhere).
  std::vector<std::vector<int>> channel_exponents;
  std::vector<std::vector<int>> weight_exponents;  // by node index, one per output channel
  // By node index: Conv OIHW codes; Gemm K x N codes (the GEMM's B operand).
  std::vector<std::vector<Code>> weight_codes;
  // By node index: the real bias a Conv / Gemm adds (it enters the accumulator first, rounded to
  // accumulator units as the spec says), or empty for the node's own bias. correct_biases fills
  // it; make_plan leaves it empty.
  std::vector<std::vector<float>> biases;
  bool bias_corrected = false;
  // The section 13 formats (scaled_inference.h; tensor_exponents then all 0). FP8 and INT8: by
  // tensor id, the FP32 scale of each tensor (calibrated, or inherited as exponents are); by node
  // index, the weights' FP32 scales (FP8 one, INT8 one per output channel). MX: the weights' E8M0
  // exponents per block in weight_exponents, the activations' chosen per block as they are read.
  std::vector<float> tensor_scales;
  std::vector<std::vector<float>> weight_scales;
};

// The bias node `node_index` adds in `plan`: the plan's where it has one, else the node's.
const std::vector<float>& plan_bias(const Graph& graph, const QuantPlan& plan, size_t node_index);

// Histograms of |x| of every tensor (by tensor id) over calibration images run in FP32: linear
// (65,536 bins) and logarithmic (LogHistogram), exact zeros left out of both; and the same per
// channel for the tensors of channel_exponent_tensors (unless per_channel is false: a per-tensor
// plan needs none of them, and MobileNet's take about 240 MiB).
class ActivationStats {
 public:
  explicit ActivationStats(const Graph& graph, bool per_channel = true);
  // `threads`: the tensors' histograms are filled side by side (the counts do not depend on it).
  void add(const Activations& activations, size_t threads = 1);
  // Per channel: empty vectors for a tensor that cannot carry channel exponents.
  const std::vector<Histogram>& channel_histograms(int tensor) const {
    return channel_histograms_[static_cast<size_t>(tensor)];
  }
  const std::vector<LogHistogram>& channel_log_histograms(int tensor) const {
    return channel_log_histograms_[static_cast<size_t>(tensor)];
  }
  const Histogram& histogram(int tensor) const { return histograms_[static_cast<size_t>(tensor)]; }
  // The same values on the log grid (LBFP8's KL calibration).
  const LogHistogram& log_histogram(int tensor) const {
    return log_histograms_[static_cast<size_t>(tensor)];
  }

 private:
  std::vector<Histogram> histograms_;
  std::vector<LogHistogram> log_histograms_;
  std::vector<size_t> planes_;  // H x W of each tensor
  std::vector<std::vector<Histogram>> channel_histograms_;
  std::vector<std::vector<LogHistogram>> channel_log_histograms_;

  void add_tensor(size_t tensor, const std::vector<float>& values, std::vector<float>& nonzero);
};

// Picks the exponents: activations per tensor by `activation_method` over `stats` (with kChannel,
// per channel for the tensors of channel_exponent_tensors, each channel by the same method over
// its own values; a channel without a non-zero calibration value keeps the tensor's); weights per
// output channel by `weight_method`. Tensors of MaxPool, Relu and Flatten keep their input's.
// With kLbfp8, `lbfp` is the family member (the KL on the log grid needs F <= 6).
QuantPlan make_plan(const Graph& graph, Arithmetic format, CalibrationMethod activation_method,
                    CalibrationMethod weight_method, const ActivationStats& stats,
                    ActivationGranularity granularity = ActivationGranularity::kTensor,
                    const LbfpFormat& lbfp = lbfp8());

// Replaces node `node`'s weight exponents (one per output channel) and re-encodes its weights
// with them (a plan read back from a saved exponents file). Throws std::invalid_argument for a
// node without weights or a wrong count, std::out_of_range for an exponent outside [-127, 127].
void set_weight_exponents(const Graph& graph, QuantPlan& plan, size_t node,
                          std::vector<int> exponents);

struct QuantizedResult {
  std::vector<std::vector<Code>> codes;  // by tensor id (the logits tensor: empty)
  std::vector<double> logits;            // batch x classes, real values of the last accumulators
  uint64_t overflows = 0;                // saturating accumulator steps
  // With keep_pre_activations, by tensor id: each Conv / Gemm's accumulators as real values
  // (acc * 2^scale, exact), before the fused ReLU and the requantization; empty elsewhere.
  std::vector<std::vector<double>> pre_activations;
  // The section 13 formats: by tensor id, every tensor's real values (MX tensors are FP32 between
  // layers; FP8 / INT8 codes decoded with their scale), what dequantize gives for the others.
  std::vector<std::vector<double>> values;
};

// Bit-exact quantized inference (BFP8 or LBFP8, as the plan says) of `batch` pixel images
// (batch x C x H x W bytes, the network's input being pixel / 255).
QuantizedResult run_quantized(const Graph& graph, const QuantPlan& plan,
                              const std::vector<uint8_t>& pixels, size_t batch,
                              const GemmOptions& options = {}, bool keep_pre_activations = false);

// Buffers a quantized pass keeps from one batch to the next (im2col of the codes, the weights
// transposed, the accumulators): a loop over batches allocates and faults them in once.
struct QuantScratch {
  std::vector<Code> columns;
  std::vector<Code> weights;
  std::vector<int64_t> acc;
  std::vector<int64_t> plane_acc;
  std::vector<int> scales;
};

// The same into `result`, whose tensors keep their memory from one batch to the next (every
// value the same as run_quantized's).
void run_quantized_into(const Graph& graph, const QuantPlan& plan,
                        const std::vector<uint8_t>& pixels, size_t batch,
                        const GemmOptions& options, QuantizedResult& result,
                        QuantScratch& scratch);

// For each term: signal += x^2 and noise += (x - xq)^2 over a tensor's FP32 values x and its
// codes' real values xq (dequantize's), element after element, without the copy. The codes may be
// those of some of the batch's images: x is then the codes' count of values of *reference from
// `offset` (the first of those images' values) on.
struct ErrorTerm {
  int tensor = 0;
  const std::vector<Code>* codes = nullptr;
  const std::vector<float>* reference = nullptr;
  double signal = 0;
  double noise = 0;
  size_t offset = 0;
};
void add_squared_errors(const Graph& graph, const QuantPlan& plan, std::vector<ErrorTerm>& terms);

// Empirical bias correction (Nagel et al. 2019, "Data-Free Quantization Through Weight
// Equalization and Bias Correction", sec. 4.2; Banner et al. 2019): log rounding and the flush of
// small values to zero do not err evenly around zero in the linear domain, and a sum of many
// products keeps that mean error. For each Conv / Gemm in topological order, the mean per output
// channel over the calibration images of (quantized - FP32) pre-activation (before the fused
// ReLU; the quantized one with the corrections of the layers before already in place) is
// subtracted from the layer's bias in `plan` (plan.biases). The arithmetic stays the spec's: the
// corrected bias is a real number that enters the accumulator first like any bias. `pixels`:
// `images` calibration images (never test images), run `batch` at a time.
void correct_biases(const Graph& graph, QuantPlan& plan, const std::vector<uint8_t>& pixels,
                    size_t images, size_t batch, const GemmOptions& options = {});

// The mean per output channel of (quantized - FP32) pre-activation of every Conv / Gemm (by node
// index; empty for the other nodes) over `images` pixel images: what correct_biases removes.
std::vector<std::vector<double>> mean_pre_activation_error(const Graph& graph,
                                                           const QuantPlan& plan,
                                                           const std::vector<uint8_t>& pixels,
                                                           size_t images, size_t batch,
                                                           const GemmOptions& options = {});

// The real values of a tensor's codes (batch x elements, NCHW; its exponents from the plan).
std::vector<double> dequantize(const Graph& graph, const QuantPlan& plan, int tensor,
                               const std::vector<Code>& codes);

}  // namespace lbfp::eval
