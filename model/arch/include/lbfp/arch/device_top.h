// The system `lbfp sim` runs: host software driving the accelerator as a device. A DevicePlatform
// (platform.h: Cpu, Router, Dram, Device) whose Cpu runs the host driver (lbfp/driver/driver.h)
// layer by layer: it places the layer's operands, exponents, bias and command descriptor in
// memory, starts the device, waits for its interrupt and reads the outputs back. Each layer runs
// on the same Accelerator as on the direct path (AcceleratorTop, the host handing it GemmJobs),
// so outputs and per-layer statistics are the same; the interface is AcceleratorTop's.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <systemc>

#include "lbfp/arch/accelerator.h"
#include "lbfp/arch/platform.h"

namespace lbfp::arch {

class DeviceTop : public sc_core::sc_module {
 public:
  // The accelerator gets `backend` (with none, the C++ array in config.mode); the memory is
  // config.dram. The device takes any layer the accelerator can run (no dimension or work
  // limit beyond the memory's).
  DeviceTop(sc_core::sc_module_name name, const AcceleratorConfig& config,
            std::unique_ptr<ArrayBackend> backend = nullptr);

  // Before sc_start: the layers to run, in order. Throws std::invalid_argument naming the layer
  // as AcceleratorTop::add_layer does (its operands must fit from address 0: A, W, outputs),
  // and when its exponents, bias and descriptor do not fit after them.
  // With a source, `layer` is the shape (its A and W may be empty; validate_shape()) and the
  // source gives the layer, codes and exponents, when the host reaches it.
  void add_layer(GemmLayer layer, LayerSource source = {});
  void set_progress(std::function<void(size_t done, size_t total)> progress) {
    progress_ = std::move(progress);
  }

  // Before sc_start: whether output() keeps each layer's outputs (the default). Without, the
  // host still reads them back, into one buffer that each layer reuses, and output() throws
  // std::out_of_range: for runs that want only the statistics (`lbfp sim`), whose outputs
  // would be memory touched for nothing.
  void keep_outputs(bool keep) { keep_outputs_ = keep; }

  // After sc_start: per-layer statistics (named after the layers) and outputs (M x N codes).
  std::vector<LayerStats> stats() const;
  const std::vector<Code>& output(size_t layer) const { return outputs_.at(layer); }
  bool finished() const { return finished_; }
  // The first error met in simulation (the accelerator's, or the host's: a device error code,
  // a refused transaction), or empty.
  const std::string& error() const;

  const AcceleratorConfig& config() const { return platform_.device().accelerator().config(); }
  const Accelerator& accelerator() const { return platform_.device().accelerator(); }
  const DevicePlatform& platform() const { return platform_; }

 private:
  static DeviceConfig device_config(const AcceleratorConfig& config);
  void program(Cpu& cpu);

  DevicePlatform platform_;
  std::vector<GemmLayer> layers_;
  std::vector<LayerSource> sources_;
  std::vector<std::vector<Code>> outputs_;
  bool keep_outputs_ = true;
  std::function<void(size_t, size_t)> progress_;
  std::string error_;
  bool finished_ = false;
};

}  // namespace lbfp::arch
