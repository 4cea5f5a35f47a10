// The SCALE-Sim topology reader of `lbfp sim` (model/workload, parse_topology), and the
// layer data generator behind it (make_layer_data) on a small memory budget. Any input must give
// layers with positive dimensions inside the reader's limits, or a ConfigError naming the file;
// make_layer_data must refuse a layer over its budget before allocating it.
#include <cstddef>
#include <cstdint>
#include <string>

#include "fuzz_check.h"
#include "lbfp/workload/workload.h"

extern "C" int sc_main(int /*argc*/, char** /*argv*/) { return 1; }

namespace {
// Small enough that one generated layer costs milliseconds under the sanitizers.
constexpr uint64_t kLayerBudgetBytes = 16 * 1024;
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  const std::string source = "fuzz.csv";
  lbfp::Workload workload;
  try {
    workload = lbfp::parse_topology(text, source);
  } catch (const lbfp::ConfigError& e) {
    lbfp::fuzz::check_names_source(e.what(), source);
    return 0;
  }
  if (workload.layers.empty()) lbfp::fuzz::fail("parse_topology returned no layers");
  for (const lbfp::LayerSpec& l : workload.layers) {
    if (l.gemm_m() == 0 || l.gemm_n() == 0 || l.gemm_k() == 0) {
      lbfp::fuzz::fail("layer '" + l.name + "' has a zero GEMM dimension: " + l.shape_text());
    }
  }
  // The first layers through the generator: refused, or built with the promised shapes.
  for (size_t i = 0; i < workload.layers.size() && i < 2; ++i) {
    const lbfp::LayerSpec& l = workload.layers[i];
    for (const lbfp::Im2col im2col : {lbfp::Im2col::kHost, lbfp::Im2col::kChip}) {
      try {
        const auto groups =
            lbfp::make_layer_data(l, lbfp::lbfp8(), 1, kLayerBudgetBytes, im2col);
        if (groups.size() != l.group_count()) lbfp::fuzz::fail("wrong group count");
        for (const auto& g : groups) {
          // Host lowering: the im2col'ed M x K activations; on-chip: the group's input feature
          // map, whose windows the accelerator forms.
          const uint64_t a_size =
              g.conv ? g.conv->ifmap_bytes() : l.gemm_m() * l.gemm_k();
          if (g.a.size() != a_size || g.w.size() != l.gemm_n() * l.gemm_k()) {
            lbfp::fuzz::fail("layer '" + l.name + "': operand sizes do not match the shape");
          }
          if (g.conv && (im2col == lbfp::Im2col::kHost || !l.is_conv ||
                         g.conv->out_h() * g.conv->out_w() != l.gemm_m() ||
                         g.conv->channels * g.conv->taps() != l.gemm_k())) {
            lbfp::fuzz::fail("layer '" + l.name + "': the on-chip geometry does not match");
          }
        }
      } catch (const lbfp::ConfigError&) {
        // over the budget: refused before allocating (the sanitizers' malloc limit checks that)
      }
    }
  }
  return 0;
}
