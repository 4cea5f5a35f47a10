#include "lbfp/synth/model_layers.h"

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fmt/format.h>
#include <map>
#include <stdexcept>

#include "lbfp/arith.h"
#include "lbfp/eval/evaluate.h"
#include "lbfp/eval/graph.h"
#include "lbfp/eval/idx.h"
#include "lbfp/eval/inference.h"

namespace lbfp::synth {
namespace {

// A step coprime with every output map size of the shipped models (28 x 28, 14 x 14, 7 x 7, 1),
// so that consecutive outputs of one channel land far apart.
constexpr size_t kPositionStep = 7919;

int find_node(const eval::Graph& g, const std::string& name, const std::string& model) {
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    const eval::Node& n = g.nodes[i];
    if (n.name == name) {
      if (n.kind != eval::OpKind::kConv && n.kind != eval::OpKind::kGemm) {
        throw std::runtime_error(model + ": node " + name + " is not a Conv or Gemm");
      }
      return static_cast<int>(i);
    }
  }
  throw std::runtime_error(model + ": no node " + name);
}

// The stream of one format: outputs sampled as model_layer_streams describes, each output's K
// products in reduction order.
std::vector<Op> format_stream(const eval::Graph& g, int node_index, const eval::QuantPlan& plan,
                              const eval::QuantizedResult& q, size_t images, size_t ops,
                              size_t* outputs_used) {
  const eval::Node& n = g.nodes[static_cast<size_t>(node_index)];
  const eval::ActShape& in = g.tensor_shapes[static_cast<size_t>(n.inputs[0])];
  const eval::ActShape& out = g.tensor_shapes[static_cast<size_t>(n.output)];
  const std::vector<Code>& x = q.codes[static_cast<size_t>(n.inputs[0])];
  const std::vector<Code>& w = plan.weight_codes[static_cast<size_t>(node_index)];
  if (x.size() != images * in.elements()) {
    throw std::runtime_error(n.name + ": the quantized inference kept no input codes");
  }
  const bool conv = n.kind == eval::OpKind::kConv;
  const size_t channels = n.out_channels;
  const size_t group_in = conv ? in.c / n.groups : in.elements();
  const size_t group_out = conv ? channels / n.groups : channels;
  const size_t reduction = conv ? group_in * n.kernel_h * n.kernel_w : in.elements();
  const size_t positions = conv ? out.h * out.w : 1;
  const Conv2dShape shape = conv ? eval::conv_shape(g, n, 1) : Conv2dShape{};  // one image

  std::vector<Op> stream;
  stream.reserve(ops);
  size_t t = 0;
  for (; stream.size() < ops; ++t) {
    const size_t o = t % channels;
    const size_t image = (t / channels) % images;
    const size_t pos = (t * kPositionStep) % positions;
    const size_t oy = pos / std::max<size_t>(out.w, 1);
    const size_t ox = pos % std::max<size_t>(out.w, 1);
    const Code* xi = x.data() + image * in.elements();
    for (size_t k = 0; k < reduction && stream.size() < ops; ++k) {
      Op op;
      if (conv) {
        const size_t ci = k / (n.kernel_h * n.kernel_w);
        const size_t ky = (k / n.kernel_w) % n.kernel_h;
        const size_t kx = k % n.kernel_w;
        const size_t c = (o / group_out) * group_in + ci;
        const size_t i = conv2d_input_index(shape, 0, c, oy, ox, ky, kx);
        op.a = i == kConvPadding ? Code{0} : xi[i];
        op.b = w[o * reduction + k];  // OIHW: [o][ci][ky][kx]
      } else {
        op.a = xi[k];
        op.b = w[k * channels + o];  // the Gemm's B operand, K x N
      }
      op.first = k == 0;
      op.last = k + 1 == reduction;
      stream.push_back(op);
    }
  }
  *outputs_used = t;
  return stream;
}

std::string shape_text(const eval::Graph& g, const eval::Node& n) {
  const eval::ActShape& in = g.tensor_shapes[static_cast<size_t>(n.inputs[0])];
  if (n.kind == eval::OpKind::kGemm) {
    return fmt::format("Gemm {} -> {}", in.elements(), n.out_channels);
  }
  const char* kind = n.groups == 1 ? (n.kernel_h * n.kernel_w == 1 ? "pointwise " : "")
                                   : (n.groups == in.c ? "depthwise " : "grouped ");
  return fmt::format("{}Conv {}x{} {} -> {}, stride {}, in {}", kind, n.kernel_h, n.kernel_w, in.c,
                     n.out_channels, n.stride_h, in.str());
}

// Multiply-accumulates per image of a Conv or Gemm node, from the layer shape.
uint64_t layer_macs(const eval::Graph& g, const eval::Node& n) {
  const eval::ActShape& in = g.tensor_shapes[static_cast<size_t>(n.inputs[0])];
  const eval::ActShape& out = g.tensor_shapes[static_cast<size_t>(n.output)];
  if (n.kind == eval::OpKind::kGemm) return uint64_t{in.elements()} * n.out_channels;
  return uint64_t{out.h} * out.w * n.out_channels * (in.c / n.groups) * n.kernel_h * n.kernel_w;
}

struct ShippedModel {
  const char* model;
  const char* dataset;
  const char* display;
};
constexpr ShippedModel kShippedModels[] = {{"lenet5", "mnist", "LeNet-5"},
                                           {"resnet10", "fashion-mnist", "ResNet-10"},
                                           {"mobilenet", "fashion-mnist", "MobileNet"}};

// "/blocks/blocks.2/a/a.0/Conv" -> "blocks.2/a.0": the node's path without the operator, each
// segment dropped that only repeats as the prefix of the next one (PyTorch's module names).
std::string short_node_name(const std::string& node) {
  std::vector<std::string> parts;
  size_t begin = 0;
  while (begin <= node.size()) {
    const size_t end = std::min(node.find('/', begin), node.size());
    if (end > begin) parts.push_back(node.substr(begin, end - begin));
    begin = end + 1;
  }
  if (parts.size() > 1 && (parts.back() == "Conv" || parts.back() == "Gemm")) parts.pop_back();
  std::string s;
  for (size_t i = 0; i < parts.size(); ++i) {
    if (i + 1 < parts.size() && parts[i + 1].rfind(parts[i] + ".", 0) == 0) continue;
    s += (s.empty() ? "" : "/") + parts[i];
  }
  return s;
}

}  // namespace

std::vector<ModelLayer> all_model_layers(const std::string& source_dir) {
  std::vector<ModelLayer> layers;
  for (const ShippedModel& m : kShippedModels) {
    const std::string path =
        (std::filesystem::path(source_dir) / "sim" / "models" / (std::string(m.model) + ".onnx"))
            .string();
    const eval::Graph g = eval::load_onnx(path);
    for (const eval::Node& n : g.nodes) {
      if (n.kind != eval::OpKind::kConv && n.kind != eval::OpKind::kGemm) continue;
      const eval::ActShape& in = g.tensor_shapes[static_cast<size_t>(n.inputs[0])];
      const char* what = n.kind == eval::OpKind::kGemm ? "fc"
                         : n.groups > 1 && n.groups == in.c ? "dw"
                         : n.kernel_h * n.kernel_w == 1 ? "pw" : "conv";
      layers.push_back({m.model, m.dataset, n.name,
                        fmt::format("{} {} ({})", m.display, short_node_name(n.name), what)});
    }
  }
  return layers;
}

std::string model_display_name(const std::string& model) {
  for (const ShippedModel& m : kShippedModels) {
    if (model == m.model) return m.display;
  }
  return model;
}

std::vector<ModelLayer> default_model_layers() {
  return {
      {"lenet5", "mnist", "/conv1/Conv", "LeNet-5 conv1 (first)"},
      {"lenet5", "mnist", "/conv2/Conv", "LeNet-5 conv2"},
      {"lenet5", "mnist", "/fc1/Gemm", "LeNet-5 fc1"},
      {"resnet10", "fashion-mnist", "/stem/stem.0/Conv", "ResNet-10 stem (first)"},
      {"resnet10", "fashion-mnist", "/blocks/blocks.2/a/a.0/Conv", "ResNet-10 block 2 conv a"},
      {"resnet10", "fashion-mnist", "/fc/Gemm", "ResNet-10 fc"},
      {"mobilenet", "fashion-mnist", "/features/features.0/features.0.0/Conv",
       "MobileNet conv 0 (first)"},
      {"mobilenet", "fashion-mnist", "/features/features.2/features.2.0/Conv",
       "MobileNet conv 2 (depthwise)"},
      {"mobilenet", "fashion-mnist", "/features/features.8/features.8.0/Conv",
       "MobileNet conv 8 (pointwise)"},
      {"mobilenet", "fashion-mnist", "/fc/Gemm", "MobileNet fc"},
  };
}

std::vector<LayerOperands> model_layer_streams(const std::string& source_dir,
                                               const std::vector<ModelLayer>& layers,
                                               const ModelStreamOptions& options) {
  if (options.test_images == 0) throw std::invalid_argument("model_layer_streams: no test images");
  std::vector<LayerOperands> result(layers.size());
  // One calibration and one inference per model and format, shared by its layers.
  std::map<std::string, std::vector<size_t>> by_model;
  for (size_t i = 0; i < layers.size(); ++i) by_model[layers[i].model].push_back(i);
  for (const auto& [model, indices] : by_model) {
    const std::string path =
        (std::filesystem::path(source_dir) / "sim" / "models" / (model + ".onnx")).string();
    const eval::Graph g = eval::load_onnx(path);
    const std::string& dataset = layers[indices.front()].dataset;
    const eval::Dataset train = eval::load_dataset(dataset, eval::Split::kTrain);
    const eval::Dataset test = eval::load_dataset(dataset, eval::Split::kTest);
    const size_t images = std::min(options.test_images, test.size());
    // The plans come from `lbfp eval`'s own evaluation with its defaults (KL activations, max
    // weights, its batching and granularity), so that the codes are the ones it measures.
    eval::EvalOptions eo;
    eo.calib_images = options.calib_images;
    eo.test_images = images;
    eo.configs = {{eval::Arithmetic::kLbfp8, CalibrationMethod::kKl, CalibrationMethod::kMax},
                  {eval::Arithmetic::kBfp8, CalibrationMethod::kKl, CalibrationMethod::kMax}};
    const eval::EvalReport report = eval::evaluate(g, train, test, eo);
    const std::vector<uint8_t> pixels = eval::pixel_batch(test, 0, images);
    for (const eval::ConfigResult& config : report.results) {
      const eval::Arithmetic format = config.config.format;
      const eval::QuantPlan& plan = config.plan;
      const eval::QuantizedResult q = eval::run_quantized(g, plan, pixels, images);
      for (const size_t i : indices) {
        const int node = find_node(g, layers[i].node, model);
        LayerOperands& r = result[i];
        r.layer = layers[i];
        r.shape = shape_text(g, g.nodes[static_cast<size_t>(node)]);
        size_t outputs = 0;
        std::vector<Op> s = format_stream(g, node, plan, q, images, options.ops, &outputs);
        r.outputs = outputs;
        const eval::Node& n = g.nodes[static_cast<size_t>(node)];
        const eval::ActShape& in = g.tensor_shapes[static_cast<size_t>(n.inputs[0])];
        r.reduction = n.kind == eval::OpKind::kConv ? in.c / n.groups * n.kernel_h * n.kernel_w
                                                    : in.elements();
        r.macs = layer_macs(g, n);
        (format == eval::Arithmetic::kLbfp8 ? r.lbfp8 : r.bfp8) = std::move(s);
      }
    }
  }
  return result;
}

double median_bfp_mantissa(const std::vector<Op>& bfp8_stream) {
  std::vector<int> values;
  values.reserve(2 * bfp8_stream.size());
  for (const Op& op : bfp8_stream) {
    for (const Code c : {op.a, op.b}) {
      const int n = std::abs(mantissa(bfp8(), c));
      if (n != 0) values.push_back(n);
    }
  }
  if (values.empty()) return 0.0;
  const size_t mid = values.size() / 2;
  std::nth_element(values.begin(), values.begin() + static_cast<long>(mid), values.end());
  const int upper = values[mid];
  if (values.size() % 2 == 1) return upper;
  const int lower = *std::max_element(values.begin(), values.begin() + static_cast<long>(mid));
  return 0.5 * (lower + upper);
}

}  // namespace lbfp::synth
