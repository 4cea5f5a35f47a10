// Operand streams for the activity simulations. The same real values feed the LBFP8 and the BFP8
// unit (each quantized in its own format), so the two see the same workload.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "lbfp_synth/flow.h"

namespace lbfp::synth {

// A synthetic fully-connected layer (no trained model ships with the repository yet):
// activations ReLU(N(0, 1)) (about half are zero), weights N(0, 1/sqrt(K)) per output channel,
// each block's exponent chosen by max calibration, quantized with lbfp::encode. The stream is the
// output-stationary order of the GEMM: for each output, its K products (first / last marked).
std::vector<Op> layer_stream(const std::string& format, size_t ops, uint64_t seed,
                             int reduction = 64);
// Uniformly random codes: every LBFP8 code, every BFP8 code but the unused -128.
std::vector<Op> uniform_stream(const std::string& format, size_t ops, uint64_t seed,
                               int reduction = 64);
// All 65,536 (a, b) pairs, a major.
std::vector<Op> exhaustive_stream();

}  // namespace lbfp::synth
