// The whole system, in the shape of the TLM-2.0 lt examples' lt_top: a top module that
// instantiates and binds the host, the accelerator, the interconnect and the memory. No module
// makes its own memory; the accelerator reaches it only through its DMA socket, the host only
// through debug transactions.
//
//   Host --memory_socket--> +-----+
//     | job / done fifos    | Bus |--initiator_socket--> Dram (memory)
//   Accelerator --dma_socket-> +-----+
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <systemc>

#include "lbfp/arch/accelerator.h"
#include "lbfp/arch/bus.h"
#include "lbfp/arch/dram.h"
#include "lbfp/arch/host.h"

namespace lbfp::arch {

class AcceleratorTop : public sc_core::sc_module {
 public:
  // The accelerator gets `backend` (with none, the C++ array in config.mode); the memory is
  // config.dram.
  AcceleratorTop(sc_core::sc_module_name name, const AcceleratorConfig& config,
                 std::unique_ptr<ArrayBackend> backend = nullptr);

  // Before sc_start: the layers to run, in order. Checks that each is well formed and fits the
  // buffers and the memory (throws std::invalid_argument naming the layer); the host places its
  // operands from address 0: A, then W, then the outputs, each 64-byte aligned.
  // With a source, `layer` is the shape (its A and W may be empty; validate_shape()) and the
  // source gives the layer, codes and exponents, when the host reaches it.
  void add_layer(GemmLayer layer, LayerSource source = {});
  void set_progress(std::function<void(size_t done, size_t total)> progress) {
    host_.set_progress(std::move(progress));
  }

  // As Host::keep_outputs.
  void keep_outputs(bool keep) { host_.keep_outputs(keep); }

  // After sc_start: per-layer statistics and outputs (M x N codes, row-major; an MX format's
  // M x N FP32 sums, 4 bytes each, little-endian).
  const std::vector<LayerStats>& stats() const { return accelerator_.stats(); }
  const std::vector<Code>& output(size_t layer) const { return host_.output(layer); }
  bool finished() const { return host_.finished(); }
  // The first error met in simulation, or empty.
  const std::string& error() const {
    return accelerator_.error().empty() ? host_.error() : accelerator_.error();
  }

  const AcceleratorConfig& config() const { return accelerator_.config(); }
  Host& host() { return host_; }
  const Accelerator& accelerator() const { return accelerator_; }
  const Dram& memory() const { return memory_; }

 private:
  Host host_;
  Accelerator accelerator_;
  Bus bus_;
  Dram memory_;
  sc_core::sc_fifo<const GemmJob*> jobs_;
  sc_core::sc_fifo<const GemmJob*> done_;
};

}  // namespace lbfp::arch
