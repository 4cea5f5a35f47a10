// Operand streams of real layers of the shipped models (sim/models/*.onnx), quantized exactly as
// `lbfp eval` quantizes them by default: the plans of its own evaluation (eval::evaluate with KL
// activation exponents from evenly spaced training images, per tensor or per channel as eval
// decides; weight exponents per output channel by max), activation codes from the bit-exact
// quantized inference of test images (so a layer's inputs are the requantized outputs of the
// quantized layers before it), weight codes from the same plan. Each format has its own plan and
// its own inference, so LBFP8 and BFP8 see the same real workload, each in its own codes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "lbfp/synth/flow.h"

namespace lbfp::synth {

struct ModelLayer {
  std::string model;    // file name under sim/models/, without .onnx
  std::string dataset;  // as `lbfp eval --data` takes it: mnist, fashion-mnist
  std::string node;     // the ONNX node name of a Conv or Gemm
  std::string label;    // the row's name in the report
};

// The layers `lbfp synth` measures: each model's first conv, a middle conv, MobileNet's depthwise
// and pointwise convs, and each model's fully-connected layer (LeNet-5: fc1).
std::vector<ModelLayer> default_model_layers();

// Every Conv and Gemm node of the three shipped models (LeNet-5, ResNet-10, MobileNet), in graph
// order, read from sim/models/*.onnx under `source_dir`: the layers whose MAC-weighted sum is the
// multiplier energy of one whole inference (`lbfp synth --layers all`). Throws
// std::runtime_error when a model is missing.
std::vector<ModelLayer> all_model_layers(const std::string& source_dir);

// "LeNet-5", "ResNet-10", "MobileNet" for the shipped models' file names; other names unchanged.
std::string model_display_name(const std::string& model);

struct ModelStreamOptions {
  size_t calib_images = 1000;  // `lbfp eval`'s default
  size_t test_images = 4;      // test images 0.. whose activations feed the streams
  size_t ops = 16384;          // operations per stream (whole outputs; the last one is cut)
};

struct LayerOperands {
  ModelLayer layer;
  size_t reduction = 0;  // K: products per output (C/groups x kh x kw, or the Gemm's K)
  size_t outputs = 0;    // outputs the stream samples
  // Multiply-accumulates of the whole layer for one image: out_h x out_w x O x (C / groups) x
  // kh x kw for a Conv, K x N for a Gemm (one row per image).
  uint64_t macs = 0;
  std::string shape;     // "Conv 16x3x3 s1 g16, in 16x28x28" and the like
  std::vector<Op> lbfp8;
  std::vector<Op> bfp8;
};

// One stream per layer, in the order given. A PE of the output-stationary array computes one
// output: its stream is the K products (activation code, weight code) of that output in
// reduction order (input channel, kernel row, kernel column; zero padding enters as code 0),
// first / last marked. Output t of the sample is channel t mod O of image (t div O) mod images,
// at position (t x 7919) mod (H x W) of the output map, so the sample covers every channel,
// spreads over the positions and uses the same outputs in both formats. Throws
// std::runtime_error when a model, a data set or a node is missing.
std::vector<LayerOperands> model_layer_streams(const std::string& source_dir,
                                               const std::vector<ModelLayer>& layers,
                                               const ModelStreamOptions& options);

// The median |BFP8 mantissa| of the non-zero operands of a BFP8 stream (both sides), 0 when
// there are none.
double median_bfp_mantissa(const std::vector<Op>& bfp8_stream);

}  // namespace lbfp::synth
