// A small inference graph for the networks of docs/accuracy.md, loaded from ONNX. The loader does
// the rewriting that the quantized inference needs once and in one place: BatchNormalization is
// folded into the preceding convolution, a ReLU that is the only consumer of a Conv / Gemm / Add
// is fused into it (the accelerator applies ReLU before requantization), and the nodes are put in
// topological order.
#pragma once

#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

namespace lbfp::eval {

class ModelError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

enum class OpKind { kConv, kGemm, kRelu, kMaxPool, kAvgPool, kGlobalAvgPool, kAdd, kFlatten };
const char* to_string(OpKind kind);

// The shape of one image's activation: channels x height x width (a flat vector has h = w = 1).
struct ActShape {
  size_t c = 0;
  size_t h = 1;
  size_t w = 1;
  size_t elements() const { return c * h * w; }
  std::string str() const;
};

struct Node {
  OpKind kind = OpKind::kRelu;
  std::string name;          // the ONNX node name (or its output name when unnamed)
  std::vector<int> inputs;   // tensor ids
  int output = -1;           // tensor id
  bool relu = false;         // a fused ReLU (Conv, Gemm, Add)
  // Conv: OIHW weights; Gemm: [out][in] (the transB = 1 layout). Bias: one per output (may be 0).
  std::vector<float> weights;
  std::vector<float> bias;
  size_t out_channels = 0;   // Conv: O; Gemm: N
  size_t kernel_h = 1, kernel_w = 1, stride_h = 1, stride_w = 1, pad_h = 0, pad_w = 0;
  size_t groups = 1;
  bool count_include_pad = false;  // AveragePool
  bool folded_batch_norm = false;  // Conv: a BatchNormalization was folded into it
};

struct Graph {
  std::vector<Node> nodes;                // topological order
  std::vector<std::string> tensor_names;  // by tensor id
  std::vector<ActShape> tensor_shapes;    // per image, by tensor id
  int input = -1;
  int output = -1;
  std::string name;

  // The node that produces tensor `id`, or -1 for the graph input.
  int producer(int id) const;
};

// Loads an ONNX model. The input must be one float tensor N x C x H x W (N free). Throws ModelError
// naming the node for: an unsupported operator or attribute, a missing initializer or input, a
// cycle, a BatchNormalization that does not follow a Conv, inconsistent shapes, a file that is not
// ONNX.
Graph load_onnx(const std::string& path);
Graph load_onnx_bytes(const std::string& bytes, const std::string& name);

}  // namespace lbfp::eval
