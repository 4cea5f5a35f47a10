// ONNX to lbfp::eval::Graph. See graph.h for what the loader rewrites.
#include <onnx/onnx_pb.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <set>
#include <sstream>
#include <vector>

#include "lbfp/conv.h"
#include "lbfp/eval/graph.h"

namespace lbfp::eval {

const char* to_string(OpKind kind) {
  switch (kind) {
    case OpKind::kConv: return "Conv";
    case OpKind::kGemm: return "Gemm";
    case OpKind::kRelu: return "Relu";
    case OpKind::kMaxPool: return "MaxPool";
    case OpKind::kAvgPool: return "AveragePool";
    case OpKind::kGlobalAvgPool: return "GlobalAveragePool";
    case OpKind::kAdd: return "Add";
    case OpKind::kFlatten: return "Flatten";
  }
  return "?";
}

std::string ActShape::str() const {
  if (h == 1 && w == 1) return std::to_string(c);
  return std::to_string(c) + "x" + std::to_string(h) + "x" + std::to_string(w);
}

int Graph::producer(int id) const {
  for (size_t i = 0; i < nodes.size(); ++i) {
    if (nodes[i].output == id) return static_cast<int>(i);
  }
  return -1;
}

namespace {

struct Initializer {
  std::vector<int64_t> dims;
  std::vector<float> floats;
  std::vector<int64_t> ints;
  bool is_float = false;
};

Initializer read_tensor(const onnx::TensorProto& t) {
  Initializer init;
  size_t count = 1;
  for (int64_t d : t.dims()) {
    if (d < 0 || d > (int64_t{1} << 28)) {
      throw ModelError("initializer '" + t.name() + "': bad dimension " + std::to_string(d));
    }
    init.dims.push_back(d);
    count *= static_cast<size_t>(d);
    if (count > (size_t{1} << 28)) throw ModelError("initializer '" + t.name() + "' too large");
  }
  if (t.data_location() == onnx::TensorProto::EXTERNAL) {
    throw ModelError("initializer '" + t.name() + "': external data is not supported");
  }
  if (t.data_type() == onnx::TensorProto::FLOAT) {
    init.is_float = true;
    if (!t.raw_data().empty()) {
      if (t.raw_data().size() != count * 4) {
        throw ModelError("initializer '" + t.name() + "': raw data size does not match dims");
      }
      init.floats.resize(count);
      std::memcpy(init.floats.data(), t.raw_data().data(), count * 4);
    } else {
      if (static_cast<size_t>(t.float_data_size()) != count) {
        throw ModelError("initializer '" + t.name() + "': float data size does not match dims");
      }
      init.floats.assign(t.float_data().begin(), t.float_data().end());
    }
    // A NaN or infinite weight would run through every format and give garbage accuracy (or a
    // NaN the encoder refuses deep inside a layer): name it here.
    for (size_t i = 0; i < init.floats.size(); ++i) {
      if (!std::isfinite(init.floats[i])) {
        throw ModelError("initializer '" + t.name() + "': value " + std::to_string(i) + " is " +
                         (std::isnan(init.floats[i]) ? "NaN" : "infinite") +
                         " (weights must be finite)");
      }
    }
  } else if (t.data_type() == onnx::TensorProto::INT64) {
    if (!t.raw_data().empty()) {
      if (t.raw_data().size() != count * 8) {
        throw ModelError("initializer '" + t.name() + "': raw data size does not match dims");
      }
      init.ints.resize(count);
      std::memcpy(init.ints.data(), t.raw_data().data(), count * 8);
    } else {
      init.ints.assign(t.int64_data().begin(), t.int64_data().end());
      if (init.ints.size() != count) {
        throw ModelError("initializer '" + t.name() + "': int64 data size does not match dims");
      }
    }
  } else {
    throw ModelError("initializer '" + t.name() + "': element type " +
                     std::to_string(t.data_type()) + " is not supported (float or int64 only)");
  }
  return init;
}

const onnx::AttributeProto* find_attr(const onnx::NodeProto& n, const std::string& name) {
  for (const auto& a : n.attribute()) {
    if (a.name() == name) return &a;
  }
  return nullptr;
}

int64_t attr_int(const onnx::NodeProto& n, const std::string& name, int64_t fallback) {
  const auto* a = find_attr(n, name);
  return a ? a->i() : fallback;
}
float attr_float(const onnx::NodeProto& n, const std::string& name, float fallback) {
  const auto* a = find_attr(n, name);
  return a ? a->f() : fallback;
}
std::vector<int64_t> attr_ints(const onnx::NodeProto& n, const std::string& name) {
  const auto* a = find_attr(n, name);
  if (!a) return {};
  return {a->ints().begin(), a->ints().end()};
}

std::string node_label(const onnx::NodeProto& n) {
  std::string name = n.name().empty() ? (n.output_size() ? n.output(0) : "?") : n.name();
  return n.op_type() + " '" + name + "'";
}

// Sizes the loader refuses: an activation tensor of more than 2^31 values per image, a pad
// above 65535 (no real network has either; both keep every size product far from wrapping).
constexpr uint64_t kMaxTensorValues = uint64_t{1} << 31;
constexpr int64_t kMaxPad = 65535;

class Loader {
 public:
  explicit Loader(const onnx::ModelProto& model) : model_(model), g_(model.graph()) {}

  Graph run(const std::string& name) {
    graph_.name = name;
    for (const auto& t : g_.initializer()) inits_[t.name()] = read_tensor(t);
    // Constant nodes are initializers in disguise.
    std::vector<const onnx::NodeProto*> nodes;
    for (const auto& n : g_.node()) {
      if (n.op_type() == "Constant") {
        const auto* v = find_attr(n, "value");
        if (!v || !v->has_t() || n.output_size() != 1) {
          throw ModelError(node_label(n) + ": only a 'value' tensor Constant is supported");
        }
        inits_[n.output(0)] = read_tensor(v->t());
        continue;
      }
      nodes.push_back(&n);
    }
    find_input();
    check_inputs_exist(nodes);
    auto order = topological_order(nodes);
    count_consumers(nodes);
    for (const auto* n : order) translate(*n);
    if (g_.output_size() != 1) {
      throw ModelError("the graph has " + std::to_string(g_.output_size()) +
                       " outputs; exactly one (the logits) is supported");
    }
    graph_.output = tensor(g_.output(0).name());
    return std::move(graph_);
  }

 private:
  void find_input() {
    std::vector<const onnx::ValueInfoProto*> inputs;
    for (const auto& in : g_.input()) {
      if (!inits_.count(in.name())) inputs.push_back(&in);
    }
    if (inputs.size() != 1) {
      throw ModelError("the graph has " + std::to_string(inputs.size()) +
                       " data inputs; exactly one image input is supported");
    }
    const auto& in = *inputs[0];
    const auto& type = in.type();
    if (!type.has_tensor_type() || type.tensor_type().elem_type() != onnx::TensorProto::FLOAT) {
      throw ModelError("input '" + in.name() + "' is not a float tensor");
    }
    const auto& shape = type.tensor_type().shape();
    if (shape.dim_size() != 4) {
      throw ModelError("input '" + in.name() + "' has " + std::to_string(shape.dim_size()) +
                       " dimensions; N x C x H x W expected");
    }
    ActShape s;
    size_t* dims[3] = {&s.c, &s.h, &s.w};
    for (int d = 1; d < 4; ++d) {
      if (!shape.dim(d).has_dim_value() || shape.dim(d).dim_value() <= 0 ||
          shape.dim(d).dim_value() > 4096) {
        throw ModelError("input '" + in.name() + "': dimension " + std::to_string(d) +
                         " must be a fixed positive size");
      }
      *dims[d - 1] = static_cast<size_t>(shape.dim(d).dim_value());
    }
    graph_.input = new_tensor(in.name(), s);
    input_name_ = in.name();
  }

  void check_inputs_exist(const std::vector<const onnx::NodeProto*>& nodes) {
    const auto names = available_names();
    std::set<std::string> known(names.begin(), names.end());
    for (const auto* n : nodes) {
      for (const auto& out : n->output()) known.insert(out);
    }
    for (const auto* n : nodes) {
      for (const auto& in : n->input()) {
        if (!in.empty() && !known.count(in)) {
          throw ModelError(node_label(*n) + ": input '" + in +
                           "' is neither an initializer, the graph input nor a node output "
                           "(missing initializer?)");
        }
      }
    }
  }

  std::vector<std::string> available_names() const {
    std::vector<std::string> names{input_name_};
    for (const auto& [k, v] : inits_) names.push_back(k);
    return names;
  }

  // Kahn's algorithm; what is left when no node is ready lies on (or behind) a cycle.
  std::vector<const onnx::NodeProto*> topological_order(
      const std::vector<const onnx::NodeProto*>& nodes) {
    const auto names = available_names();
    std::set<std::string> ready(names.begin(), names.end());
    std::vector<const onnx::NodeProto*> order;
    std::vector<bool> done(nodes.size(), false);
    bool progress = true;
    while (order.size() < nodes.size() && progress) {
      progress = false;
      for (size_t i = 0; i < nodes.size(); ++i) {
        if (done[i]) continue;
        const auto& n = *nodes[i];
        bool ok = std::all_of(n.input().begin(), n.input().end(),
                              [&](const std::string& in) { return in.empty() || ready.count(in); });
        if (!ok) continue;
        done[i] = true;
        progress = true;
        order.push_back(&n);
        for (const auto& out : n.output()) ready.insert(out);
      }
    }
    if (order.size() < nodes.size()) {
      std::string stuck;
      for (size_t i = 0; i < nodes.size(); ++i) {
        if (!done[i]) stuck += (stuck.empty() ? "" : ", ") + node_label(*nodes[i]);
      }
      throw ModelError("the graph has a cycle: no order can run " + stuck);
    }
    return order;
  }

  void count_consumers(const std::vector<const onnx::NodeProto*>& nodes) {
    for (const auto* n : nodes) {
      for (const auto& in : n->input()) ++consumers_[in];
    }
    for (const auto& out : g_.output()) ++consumers_[out.name()];
  }

  int new_tensor(const std::string& name, ActShape shape) {
    int id = static_cast<int>(graph_.tensor_names.size());
    graph_.tensor_names.push_back(name);
    graph_.tensor_shapes.push_back(shape);
    ids_[name] = id;
    return id;
  }

  int tensor(const std::string& name) const {
    auto it = ids_.find(name);
    if (it == ids_.end()) {
      throw ModelError("'" + name + "' is not an activation tensor (an initializer where a "
                       "computed input is expected?)");
    }
    return it->second;
  }

  const Initializer& init(const onnx::NodeProto& n, int index, const char* role) const {
    if (n.input_size() <= index || n.input(index).empty()) {
      throw ModelError(node_label(n) + ": missing " + role);
    }
    auto it = inits_.find(n.input(index));
    if (it == inits_.end() || !it->second.is_float) {
      throw ModelError(node_label(n) + ": " + role + " '" + n.input(index) +
                       "' must be a float initializer");
    }
    return it->second;
  }

  // The node that produced tensor `id`, when it is fusable: its only consumer is the caller.
  Node* fusable_producer(const std::string& input_name) {
    if (consumers_[input_name] != 1) return nullptr;
    int id = tensor(input_name);
    int p = graph_.producer(id);
    return p < 0 ? nullptr : &graph_.nodes[static_cast<size_t>(p)];
  }

  void alias(const std::string& name, int id) { ids_[name] = id; }

  static void pads2d(const onnx::NodeProto& n, Node& node) {
    auto pads = attr_ints(n, "pads");
    if (pads.empty()) pads = {0, 0, 0, 0};
    if (pads.size() != 4 || pads[0] != pads[2] || pads[1] != pads[3] || pads[0] < 0 ||
        pads[1] < 0) {
      throw ModelError(node_label(n) + ": only symmetric 2-D pads are supported");
    }
    if (pads[0] > kMaxPad || pads[1] > kMaxPad) {
      throw ModelError(node_label(n) + ": pads above " + std::to_string(kMaxPad) +
                       " are not supported");
    }
    node.pad_h = static_cast<size_t>(pads[0]);
    node.pad_w = static_cast<size_t>(pads[1]);
    auto strides = attr_ints(n, "strides");
    if (strides.empty()) strides = {1, 1};
    if (strides.size() != 2 || strides[0] < 1 || strides[1] < 1) {
      throw ModelError(node_label(n) + ": bad strides");
    }
    node.stride_h = static_cast<size_t>(strides[0]);
    node.stride_w = static_cast<size_t>(strides[1]);
    for (int64_t d : attr_ints(n, "dilations")) {
      if (d != 1) throw ModelError(node_label(n) + ": dilations other than 1 are not supported");
    }
    const auto* ap = find_attr(n, "auto_pad");
    if (ap && ap->s() != "NOTSET") {
      throw ModelError(node_label(n) + ": auto_pad " + ap->s() + " is not supported");
    }
  }

  static ActShape window_out(const onnx::NodeProto& n, const Node& node, const ActShape& in,
                             size_t channels) {
    if (in.h + 2 * node.pad_h < node.kernel_h || in.w + 2 * node.pad_w < node.kernel_w) {
      throw ModelError(node_label(n) + ": kernel larger than the padded input " + in.str());
    }
    return {channels, conv_output_size(in.h, node.kernel_h, node.stride_h, node.pad_h),
            conv_output_size(in.w, node.kernel_w, node.stride_w, node.pad_w)};
  }

  void push(Node node, const std::string& out_name, ActShape shape) {
    // Checked in floating point: the product of three sizes can wrap.
    const long double values = static_cast<long double>(shape.c) *
                               static_cast<long double>(shape.h) * static_cast<long double>(shape.w);
    if (values > static_cast<long double>(kMaxTensorValues)) {
      throw ModelError(to_string(node.kind) + std::string(" '") + node.name + "': its output " +
                       std::to_string(shape.c) + "x" + std::to_string(shape.h) + "x" +
                       std::to_string(shape.w) + " has more than 2^31 values per image; refused");
    }
    node.output = new_tensor(out_name, shape);
    graph_.nodes.push_back(std::move(node));
  }

  void translate(const onnx::NodeProto& n) {
    const std::string& op = n.op_type();
    if (n.output_size() < 1 || n.output(0).empty()) throw ModelError(node_label(n) + ": no output");
    // Every operator below reads input 0 (found by tb/fuzz/fuzz_onnx: protobuf's bounds check
    // threw a CHECK failure that named nothing).
    if (n.input_size() < 1) throw ModelError(node_label(n) + ": no input");
    Node node;
    node.name = n.name().empty() ? n.output(0) : n.name();
    const std::string& out = n.output(0);
    auto in_shape = [&](int i) { return graph_.tensor_shapes[static_cast<size_t>(tensor(n.input(i)))]; };
    if (op == "Identity" || op == "Dropout") {
      // torch's exporter shares equal parameters through Identity nodes on initializers.
      auto it = inits_.find(n.input(0));
      if (it != inits_.end()) {
        inits_[out] = it->second;
      } else {
        alias(out, tensor(n.input(0)));
      }
    } else if (op == "Conv") {
      node.kind = OpKind::kConv;
      node.inputs = {tensor(n.input(0))};
      const Initializer& w = init(n, 1, "weight");
      if (w.dims.size() != 4) throw ModelError(node_label(n) + ": weights must be OIHW");
      // A zero-sized layer would divide by its channel count later (BatchNormalization folding).
      if (std::count(w.dims.begin(), w.dims.end(), 0) != 0) {
        throw ModelError(node_label(n) + ": weights have a zero dimension");
      }
      ActShape in = in_shape(0);
      node.groups = static_cast<size_t>(attr_int(n, "group", 1));
      node.out_channels = static_cast<size_t>(w.dims[0]);
      node.kernel_h = static_cast<size_t>(w.dims[2]);
      node.kernel_w = static_cast<size_t>(w.dims[3]);
      if (node.groups < 1 || in.c % node.groups || node.out_channels % node.groups ||
          static_cast<size_t>(w.dims[1]) * node.groups != in.c) {
        throw ModelError(node_label(n) + ": weights " + std::to_string(w.dims[0]) + "x" +
                         std::to_string(w.dims[1]) + " do not fit input " + in.str() +
                         " with group " + std::to_string(node.groups));
      }
      pads2d(n, node);
      node.weights = w.floats;
      node.bias.assign(node.out_channels, 0.0f);
      if (n.input_size() > 2 && !n.input(2).empty()) {
        const Initializer& b = init(n, 2, "bias");
        if (b.floats.size() != node.out_channels) throw ModelError(node_label(n) + ": bias size");
        node.bias = b.floats;
      }
      ActShape shape = window_out(n, node, in, node.out_channels);
      push(std::move(node), out, shape);
    } else if (op == "BatchNormalization") {
      Node* conv = fusable_producer(n.input(0));
      if (!conv || conv->kind != OpKind::kConv || conv->relu || conv->folded_batch_norm) {
        throw ModelError(node_label(n) + ": a BatchNormalization is supported only right after "
                         "a Conv whose only consumer it is (it is folded into the Conv)");
      }
      const auto& scale = init(n, 1, "scale").floats;
      const auto& beta = init(n, 2, "B").floats;
      const auto& mean = init(n, 3, "mean").floats;
      const auto& var = init(n, 4, "var").floats;
      const size_t c = conv->out_channels;
      if (scale.size() != c || beta.size() != c || mean.size() != c || var.size() != c) {
        throw ModelError(node_label(n) + ": parameter sizes do not match " + std::to_string(c) +
                         " channels");
      }
      const double eps = attr_float(n, "epsilon", 1e-5f);
      const size_t per_channel = conv->weights.size() / c;
      for (size_t o = 0; o < c; ++o) {
        if (!(static_cast<double>(var[o]) + eps > 0)) {
          throw ModelError(node_label(n) + ": variance + epsilon of channel " + std::to_string(o) +
                           " is not positive");
        }
        const double k = scale[o] / std::sqrt(static_cast<double>(var[o]) + eps);
        for (size_t i = 0; i < per_channel; ++i) {
          float& wv = conv->weights[o * per_channel + i];
          wv = static_cast<float>(wv * k);
        }
        conv->bias[o] = static_cast<float>((conv->bias[o] - mean[o]) * k + beta[o]);
      }
      for (float v : conv->weights) {
        if (!std::isfinite(v)) {
          throw ModelError(node_label(n) + ": folding it into the Conv gives a non-finite weight");
        }
      }
      for (float v : conv->bias) {
        if (!std::isfinite(v)) {
          throw ModelError(node_label(n) + ": folding it into the Conv gives a non-finite bias");
        }
      }
      conv->folded_batch_norm = true;
      alias(out, conv->output);
    } else if (op == "Relu") {
      Node* p = fusable_producer(n.input(0));
      if (p && !p->relu &&
          (p->kind == OpKind::kConv || p->kind == OpKind::kGemm || p->kind == OpKind::kAdd)) {
        p->relu = true;
        alias(out, p->output);
      } else {
        node.kind = OpKind::kRelu;
        node.inputs = {tensor(n.input(0))};
        push(std::move(node), out, in_shape(0));
      }
    } else if (op == "MaxPool" || op == "AveragePool") {
      node.kind = op == "MaxPool" ? OpKind::kMaxPool : OpKind::kAvgPool;
      node.inputs = {tensor(n.input(0))};
      auto k = attr_ints(n, "kernel_shape");
      if (k.size() != 2 || k[0] < 1 || k[1] < 1) {
        throw ModelError(node_label(n) + ": kernel_shape must be 2-D");
      }
      node.kernel_h = static_cast<size_t>(k[0]);
      node.kernel_w = static_cast<size_t>(k[1]);
      pads2d(n, node);
      if (attr_int(n, "ceil_mode", 0) != 0) {
        throw ModelError(node_label(n) + ": ceil_mode is not supported");
      }
      if (op == "MaxPool" && (n.output_size() > 1 || attr_int(n, "storage_order", 0) != 0)) {
        throw ModelError(node_label(n) + ": the Indices output is not supported");
      }
      node.count_include_pad = attr_int(n, "count_include_pad", 0) != 0;
      ActShape in = in_shape(0);
      ActShape shape = window_out(n, node, in, in.c);
      push(std::move(node), out, shape);
    } else if (op == "GlobalAveragePool") {
      node.kind = OpKind::kGlobalAvgPool;
      node.inputs = {tensor(n.input(0))};
      push(std::move(node), out, {in_shape(0).c, 1, 1});
    } else if (op == "Flatten" || op == "Reshape") {
      ActShape in = in_shape(0);
      if (op == "Flatten" && attr_int(n, "axis", 1) != 1) {
        throw ModelError(node_label(n) + ": only axis 1 is supported");
      }
      if (op == "Reshape") {
        auto it = inits_.find(n.input_size() > 1 ? n.input(1) : "");
        if (it == inits_.end() || it->second.ints.size() != 2) {
          throw ModelError(node_label(n) + ": only a constant 2-D shape [N, C*H*W] is supported");
        }
        const auto& s = it->second.ints;
        bool first_ok = s[0] == 0 || s[0] == -1 || s[0] == 1;
        bool second_ok = s[1] == -1 || s[1] == static_cast<int64_t>(in.elements());
        if (!first_ok || !second_ok || (s[0] == -1 && s[1] == -1)) {
          throw ModelError(node_label(n) + ": only a flattening reshape is supported");
        }
      }
      node.kind = OpKind::kFlatten;
      node.inputs = {tensor(n.input(0))};
      push(std::move(node), out, {in.elements(), 1, 1});
    } else if (op == "Gemm" || op == "MatMul") {
      node.kind = OpKind::kGemm;
      node.inputs = {tensor(n.input(0))};
      ActShape in = in_shape(0);
      if (in.h != 1 || in.w != 1) {
        throw ModelError(node_label(n) + ": input " + in.str() + " is not flat (Flatten first)");
      }
      const Initializer& b = init(n, 1, "weight");
      if (b.dims.size() != 2) throw ModelError(node_label(n) + ": weight must be 2-D");
      bool trans_b = op == "Gemm" && attr_int(n, "transB", 0) != 0;
      if (op == "Gemm" && (attr_int(n, "transA", 0) != 0 || attr_float(n, "alpha", 1.f) != 1.f ||
                           attr_float(n, "beta", 1.f) != 1.f)) {
        throw ModelError(node_label(n) + ": only transA = 0, alpha = beta = 1 are supported");
      }
      const size_t rows = static_cast<size_t>(b.dims[0]), cols = static_cast<size_t>(b.dims[1]);
      if (rows == 0 || cols == 0) throw ModelError(node_label(n) + ": weight has a zero dimension");
      const size_t k = trans_b ? cols : rows, nout = trans_b ? rows : cols;
      if (k != in.c) {
        throw ModelError(node_label(n) + ": weight " + std::to_string(rows) + "x" +
                         std::to_string(cols) + " does not fit input " + in.str());
      }
      node.out_channels = nout;
      node.weights.resize(k * nout);
      for (size_t o = 0; o < nout; ++o) {
        for (size_t i = 0; i < k; ++i) {
          node.weights[o * k + i] = trans_b ? b.floats[o * k + i] : b.floats[i * nout + o];
        }
      }
      node.bias.assign(nout, 0.0f);
      if (op == "Gemm" && n.input_size() > 2 && !n.input(2).empty()) {
        const Initializer& c = init(n, 2, "bias");
        if (c.floats.size() != nout) throw ModelError(node_label(n) + ": bias must have N values");
        node.bias = c.floats;
      }
      push(std::move(node), out, {nout, 1, 1});
    } else if (op == "Add") {
      if (n.input_size() != 2) throw ModelError(node_label(n) + ": two inputs expected");
      // MatMul + Add(bias) is Gemm: fold a constant addend into the producing Gemm's bias.
      for (int c = 0; c < 2; ++c) {
        if (!inits_.count(n.input(c))) continue;
        Node* p = fusable_producer(n.input(1 - c));
        const auto& bias = inits_.at(n.input(c)).floats;
        if (!p || p->kind != OpKind::kGemm || p->relu || bias.size() != p->out_channels) {
          throw ModelError(node_label(n) + ": adding a constant is supported only as the bias "
                           "of a preceding MatMul/Gemm");
        }
        for (size_t o = 0; o < bias.size(); ++o) p->bias[o] += bias[o];
        alias(out, p->output);
        return;
      }
      node.kind = OpKind::kAdd;
      node.inputs = {tensor(n.input(0)), tensor(n.input(1))};
      ActShape a = in_shape(0), b = in_shape(1);
      if (a.c != b.c || a.h != b.h || a.w != b.w) {
        throw ModelError(node_label(n) + ": shapes " + a.str() + " and " + b.str() +
                         " differ (broadcasting is not supported)");
      }
      push(std::move(node), out, a);
    } else {
      throw ModelError("unsupported ONNX operator '" + op + "' (node '" + node.name + "')");
    }
  }

  const onnx::ModelProto& model_;
  const onnx::GraphProto& g_;
  Graph graph_;
  std::map<std::string, Initializer> inits_;
  std::map<std::string, int> ids_;
  std::map<std::string, int> consumers_;
  std::string input_name_;
};

}  // namespace

Graph load_onnx_bytes(const std::string& bytes, const std::string& name) {
  onnx::ModelProto model;
  if (!model.ParseFromString(bytes) || !model.has_graph()) {
    throw ModelError(name + ": not an ONNX model (protobuf parse failed)");
  }
  try {
    return Loader(model).run(name);
  } catch (const ModelError& e) {
    throw ModelError(name + ": " + e.what());
  }
}

Graph load_onnx(const std::string& path) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) throw ModelError(path + ": is a directory");
  std::ifstream in(path, std::ios::binary);
  if (!in) throw ModelError(path + ": cannot open");
  // Read in bounded chunks (a size from stat says nothing about /dev/zero or a pipe).
  constexpr size_t kMaxBytes = size_t{1} << 31;
  std::string bytes;
  std::vector<char> chunk(size_t{1} << 20);
  while (in) {
    in.read(chunk.data(), static_cast<std::streamsize>(chunk.size()));
    bytes.append(chunk.data(), static_cast<size_t>(in.gcount()));
    if (bytes.size() > kMaxBytes) {
      throw ModelError(path + ": larger than 2 GiB, the limit of an ONNX (protobuf) file");
    }
  }
  if (in.bad()) throw ModelError(path + ": read error");
  return load_onnx_bytes(bytes, path);
}

}  // namespace lbfp::eval
