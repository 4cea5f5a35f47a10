// The operands of a workload layer in a format of spec section 13 (MXINT8, MXFP8, FP8, INT8), for
// `lbfp sim --format mxint8|...`: the same seeded values as the LBFP and BFP runs
// (workload.h's LayerValues), each format's codes and scales as its users calibrate them.
#pragma once

#include <vector>

#include "lbfp/arch/accelerator.h"
#include "lbfp/scaled_format.h"
#include "lbfp/workload/workload.h"

namespace lbfp::arch {

// The energy table's section of the format's multiplier and MAC (configs/energy/osu018_synth.yaml):
// "int8" (INT8, MXINT8), "fp8_e4m3" (FP8 and MXFP8 E4M3), "fp8_e5m2" (E5M2).
std::string energy_section(const ScaledFormat& format);

// Each group of the layer as the accelerator runs it, with GemmLayer::scaled set:
// - MX: activations and weights in 32-blocks of channels, each block's E8M0 scale by section
//   13.3 (mx_shared_exponent), per input pixel and per weight row and tap; the bias stays FP32;
// - FP8: one FP32 scale per tensor for the activations and for the weights (tensor_scale of the
//   largest magnitude), INT8 one per output channel for the weights; the output scale from the
//   largest magnitude of the exact outputs of every (M / 64)-th row (the calibration of the
//   LBFP runs); the bias as an accumulator value (bias_to_accumulator_scaled).
// ReLU after every layer, as in the LBFP and BFP runs.
std::vector<GemmLayer> make_scaled_layer_data(const LayerSpec& layer, const LayerValues& values,
                                              const ScaledFormat& format, Im2col im2col);

}  // namespace lbfp::arch
