// The ONNX loader on the shipped models and on hostile graphs built here.
#include <gtest/gtest.h>
#include <onnx/onnx_pb.h>

#include <string>
#include <vector>

#include "lbfp/eval/graph.h"

namespace lbfp::eval {
namespace {

std::string model_path(const std::string& name) { return std::string(LBFP_MODELS_DIR) + "/" + name; }

size_t count(const Graph& g, OpKind kind) {
  size_t n = 0;
  for (const auto& node : g.nodes) n += node.kind == kind;
  return n;
}

TEST(OnnxLoader, LeNet5) {
  Graph g = load_onnx(model_path("lenet5.onnx"));
  EXPECT_EQ(g.tensor_shapes[static_cast<size_t>(g.input)].str(), "1x28x28");
  EXPECT_EQ(count(g, OpKind::kConv), 2u);
  EXPECT_EQ(count(g, OpKind::kMaxPool), 2u);
  EXPECT_EQ(count(g, OpKind::kGemm), 3u);
  EXPECT_EQ(count(g, OpKind::kRelu), 0u);  // every ReLU fused into its Conv / Gemm
  EXPECT_EQ(g.tensor_shapes[static_cast<size_t>(g.output)].elements(), 10u);
  EXPECT_EQ(g.nodes.back().output, g.output);
  EXPECT_FALSE(g.nodes.back().relu);
}

TEST(OnnxLoader, ResidualNetworkFoldsEveryBatchNorm) {
  Graph g = load_onnx(model_path("resnet10.onnx"));
  EXPECT_GE(count(g, OpKind::kConv), 8u);
  EXPECT_EQ(count(g, OpKind::kAdd), 4u);
  EXPECT_EQ(count(g, OpKind::kGlobalAvgPool), 1u);
  for (const auto& n : g.nodes) {
    if (n.kind == OpKind::kConv) {
      EXPECT_TRUE(n.folded_batch_norm) << n.name;
    }
    if (n.kind == OpKind::kAdd) {
      EXPECT_TRUE(n.relu) << n.name;
    }
  }
}

TEST(OnnxLoader, MobileNetHasDepthwiseConvolutions) {
  Graph g = load_onnx(model_path("mobilenet.onnx"));
  size_t depthwise = 0;
  for (const auto& n : g.nodes) {
    if (n.kind == OpKind::kConv && n.groups > 1) {
      ++depthwise;
      EXPECT_EQ(n.groups, n.out_channels) << n.name;
      EXPECT_EQ(n.weights.size(), n.out_channels * 9) << n.name;
    }
  }
  EXPECT_EQ(depthwise, 5u);
}

// A builder for small graphs on a 1 x 1 x 4 x 4 input.
struct GraphBuilder {
  onnx::ModelProto model;
  onnx::GraphProto* g;

  GraphBuilder() : g(model.mutable_graph()) {
    model.set_ir_version(7);
    model.add_opset_import()->set_version(13);
    auto* in = g->add_input();
    in->set_name("x");
    auto* t = in->mutable_type()->mutable_tensor_type();
    t->set_elem_type(onnx::TensorProto::FLOAT);
    for (int64_t d : {1, 1, 4, 4}) t->mutable_shape()->add_dim()->set_dim_value(d);
  }
  onnx::NodeProto* node(const std::string& op, std::vector<std::string> inputs,
                        const std::string& output) {
    auto* n = g->add_node();
    n->set_op_type(op);
    n->set_name(op + "_" + output);
    for (const auto& i : inputs) n->add_input(i);
    n->add_output(output);
    return n;
  }
  void init(const std::string& name, std::vector<int64_t> dims, float value) {
    auto* t = g->add_initializer();
    t->set_name(name);
    t->set_data_type(onnx::TensorProto::FLOAT);
    int64_t n = 1;
    for (auto d : dims) {
      t->add_dims(d);
      n *= d;
    }
    for (int64_t i = 0; i < n; ++i) t->add_float_data(value);
  }
  void output(const std::string& name) { g->add_output()->set_name(name); }
  std::string bytes() const { return model.SerializeAsString(); }
};

std::string load_error(const GraphBuilder& b) {
  try {
    load_onnx_bytes(b.bytes(), "test.onnx");
  } catch (const ModelError& e) {
    return e.what();
  }
  return "(loaded without error)";
}

TEST(OnnxLoader, AcceptsASmallConvGraph) {
  GraphBuilder b;
  b.init("w", {2, 1, 3, 3}, 0.5f);
  b.node("Conv", {"x", "w"}, "c");
  b.node("Relu", {"c"}, "y");
  b.output("y");
  Graph g = load_onnx_bytes(b.bytes(), "test.onnx");
  ASSERT_EQ(g.nodes.size(), 1u);
  EXPECT_TRUE(g.nodes[0].relu);
  EXPECT_EQ(g.tensor_shapes[static_cast<size_t>(g.output)].str(), "2x2x2");
}

TEST(OnnxLoader, UnsupportedOperatorIsNamed) {
  GraphBuilder b;
  b.node("Softmax", {"x"}, "y");
  b.output("y");
  const std::string msg = load_error(b);
  EXPECT_NE(msg.find("unsupported ONNX operator 'Softmax'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("test.onnx"), std::string::npos) << msg;
}

TEST(OnnxLoader, MissingInitializerIsNamed) {
  GraphBuilder b;
  b.node("Conv", {"x", "conv.weight"}, "y");  // no initializer named conv.weight
  b.output("y");
  const std::string msg = load_error(b);
  EXPECT_NE(msg.find("'conv.weight'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("missing initializer"), std::string::npos) << msg;
}

TEST(OnnxLoader, CycleIsAnError) {
  GraphBuilder b;
  b.node("Add", {"x", "b"}, "a");
  b.node("Relu", {"a"}, "b");
  b.output("b");
  const std::string msg = load_error(b);
  EXPECT_NE(msg.find("cycle"), std::string::npos) << msg;
  EXPECT_NE(msg.find("Add 'Add_a'"), std::string::npos) << msg;
}

TEST(OnnxLoader, NodeWithoutInputIsNamed) {
  // Found by tb/fuzz/fuzz_onnx (tb/fuzz/regressions/onnx/node_without_input).
  GraphBuilder b;
  b.node("Relu", {"x"}, "r");
  b.node("MaxPool", {}, "y");
  b.output("y");
  const std::string msg = load_error(b);
  EXPECT_NE(msg.find("MaxPool 'MaxPool_y': no input"), std::string::npos) << msg;
  EXPECT_NE(msg.find("test.onnx"), std::string::npos) << msg;
}

TEST(OnnxLoader, ZeroChannelConvIsRefused) {
  // Found by tb/fuzz (regressions/onnx/zero_channel_conv_then_batchnorm): folding a
  // BatchNormalization into it divided by its zero channel count.
  GraphBuilder b;
  b.init("w", {0, 1, 3, 3}, 1.0f);
  for (const char* p : {"s", "bb", "m", "v"}) b.init(p, {0}, 1.0f);
  b.node("Conv", {"x", "w"}, "c");
  b.node("BatchNormalization", {"c", "s", "bb", "m", "v"}, "y");
  b.output("y");
  const std::string msg = load_error(b);
  EXPECT_NE(msg.find("Conv 'Conv_c': weights have a zero dimension"), std::string::npos) << msg;
}

TEST(OnnxLoader, BatchNormWithoutConvIsAnError) {
  GraphBuilder b;
  for (const char* p : {"s", "bb", "m", "v"}) b.init(p, {1}, 1.0f);
  b.node("BatchNormalization", {"x", "s", "bb", "m", "v"}, "y");
  b.output("y");
  EXPECT_NE(load_error(b).find("only right after a Conv"), std::string::npos);
}

TEST(OnnxLoader, BatchNormIsFoldedIntoTheConv) {
  GraphBuilder b;
  b.init("w", {1, 1, 1, 1}, 2.0f);
  b.init("s", {1}, 3.0f);
  b.init("bb", {1}, 0.5f);
  b.init("m", {1}, 1.0f);
  b.init("v", {1}, 4.0f);
  b.node("Conv", {"x", "w"}, "c");
  auto* bn = b.node("BatchNormalization", {"c", "s", "bb", "m", "v"}, "y");
  auto* eps = bn->add_attribute();
  eps->set_name("epsilon");
  eps->set_type(onnx::AttributeProto::FLOAT);
  eps->set_f(0.0f);
  b.output("y");
  Graph g = load_onnx_bytes(b.bytes(), "test.onnx");
  ASSERT_EQ(g.nodes.size(), 1u);
  // y = 3 * (2x - 1) / sqrt(4) + 0.5 = 3x - 1
  EXPECT_FLOAT_EQ(g.nodes[0].weights[0], 3.0f);
  EXPECT_FLOAT_EQ(g.nodes[0].bias[0], -1.0f);
}

TEST(OnnxLoader, GarbageIsNotAModel) {
  EXPECT_THROW(load_onnx_bytes("this is not protobuf", "junk.onnx"), ModelError);
  EXPECT_THROW(load_onnx("/nonexistent.onnx"), ModelError);
}

}  // namespace
}  // namespace lbfp::eval
