// The ONNX loader of `lbfp eval` and `lbfp sim` (model/eval/src/onnx_loader.cpp,
// load_onnx_bytes). Any bytes must give a consistent Graph or a ModelError naming the file; no
// other exception, crash, leak or undefined behaviour. A graph it accepts must be usable as is:
// nodes in topological order over valid tensor ids, parameter sizes matching the shapes.
#include <cstddef>
#include <cstdint>
#include <string>

#include "fuzz_check.h"
#include "lbfp/eval/graph.h"

namespace {

using lbfp::eval::Graph;
using lbfp::eval::Node;
using lbfp::eval::OpKind;
using lbfp::fuzz::fail;

void check_graph(const Graph& g) {
  const size_t tensors = g.tensor_names.size();
  if (g.tensor_shapes.size() != tensors) fail("tensor names and shapes differ in number");
  auto valid = [&](int id) { return id >= 0 && static_cast<size_t>(id) < tensors; };
  if (!valid(g.input) || !valid(g.output)) fail("graph input or output is not a tensor");
  std::vector<bool> ready(tensors, false);
  ready[static_cast<size_t>(g.input)] = true;
  for (const Node& n : g.nodes) {
    for (int in : n.inputs) {
      if (!valid(in) || !ready[static_cast<size_t>(in)]) {
        fail("node '" + n.name + "' reads a tensor not computed before it");
      }
    }
    if (!valid(n.output)) fail("node '" + n.name + "' writes no valid tensor");
    ready[static_cast<size_t>(n.output)] = true;
    if (n.kind == OpKind::kConv || n.kind == OpKind::kGemm) {
      const auto& in = g.tensor_shapes[static_cast<size_t>(n.inputs.at(0))];
      const size_t per_output = n.kind == OpKind::kConv
                                    ? in.c / n.groups * n.kernel_h * n.kernel_w
                                    : in.elements();
      if (n.weights.size() != n.out_channels * per_output || n.bias.size() != n.out_channels) {
        fail("node '" + n.name + "': parameter sizes do not match its shapes");
      }
      if (n.kind == OpKind::kConv && (n.stride_h == 0 || n.stride_w == 0 || n.groups == 0)) {
        fail("node '" + n.name + "': zero stride or group");
      }
    }
  }
  if (!ready[static_cast<size_t>(g.output)]) fail("the graph output is never computed");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string bytes(reinterpret_cast<const char*>(data), size);
  const std::string source = "fuzz.onnx";
  try {
    check_graph(lbfp::eval::load_onnx_bytes(bytes, source));
  } catch (const lbfp::eval::ModelError& e) {
    lbfp::fuzz::check_names_source(e.what(), source);
  }
  return 0;
}
