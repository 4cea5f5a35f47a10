// Bit-exact inference in the industry 8-bit formats of docs/spec.md section 13 (MXINT8, MXFP8
// E4M3 / E5M2, FP8 with per-tensor scales, INT8 with per-channel weight scales), with the
// calibration each format's users expect. The golden reference (lbfp/scaled_format.h) decides the
// arithmetic; every sum goes through its exact GEMM (lbfp/scaled_gemm.h), MX activations through
// lbfp::FloatEncoder, and every other conversion through its functions.
// docs/formats.md, "Accuracy", states the quantization of every tensor; in short:
//
//   FP8, INT8 (ONNX Runtime's QOperator form): every tensor carries codes and one FP32 scale per
//   tensor, s = fp32(amax / max_element) with amax the calibration images' largest |x| (max) or
//   their 99.99th percentile (percentile); weights by max, one scale per tensor (FP8) or per
//   output channel (INT8). A Conv / Gemm accumulates the exact products from its bias
//   (bias_to_accumulator_scaled) in the A-bit accumulator and requantizes with
//   requantize_scaled; the last layer's logits are dequantize_accumulator. Add and the average
//   pools decode to FP32, compute in FP32 and encode; MaxPool, Relu and Flatten act on the codes.
//
//   MX (dynamic, no calibration): tensors are FP32 between layers. A Conv / Gemm quantizes its
//   input and weights in blocks of 32 along the reduction's channel axis (at each pixel and tap,
//   within one group; a Gemm's along its input features) with the OCP scale choice
//   (mx_shared_exponent) and sums each block's exact dot product into an FP32 sum from the bias
//   by mx_accumulate, taps in (kh, kw) order, blocks in channel order, taps on the padding
//   skipped; ReLU then applies in FP32. Everything else runs in FP32 as run_fp32 does.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "lbfp/eval/graph.h"
#include "lbfp/eval/inference.h"
#include "lbfp/scaled_format.h"

namespace lbfp::eval {

// The golden format of a section 13 Arithmetic; std::invalid_argument for another one.
ScaledFormat scaled_format(Arithmetic format);

// FP8 / INT8: the scales of every tensor and the weight codes. Activations by max or percentile
// (others: std::invalid_argument naming the format), weights by max. MX: the weight codes and
// block exponents; the methods are recorded, not used. Weight codes: Conv OIHW (FP8, INT8) or
// [o][kh][kw][c] (MX, so that a block is contiguous), Gemm [o][k].
QuantPlan make_scaled_plan(const Graph& graph, Arithmetic format,
                           CalibrationMethod activation_method, CalibrationMethod weight_method,
                           const ActivationStats& stats);

// The inference of `batch` pixel images with a plan of make_scaled_plan; fills codes (FP8, INT8;
// empty for MX), values (every tensor) and logits. `stop_after`: the last node to run.
QuantizedResult run_scaled(const Graph& graph, const QuantPlan& plan,
                           const std::vector<uint8_t>& pixels, size_t batch,
                           const GemmOptions& options, size_t stop_after = SIZE_MAX);

}  // namespace lbfp::eval
