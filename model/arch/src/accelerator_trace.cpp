#include "lbfp/arch/accelerator_trace.h"

namespace lbfp::arch {

AcceleratorTrace::AcceleratorTrace(const std::string& path) {
  const std::string suffix = ".vcd";
  const bool has_suffix = path.size() > suffix.size() &&
                          path.compare(path.size() - suffix.size(), suffix.size(), suffix) == 0;
  file_ = sc_core::sc_create_vcd_trace_file(
      (has_suffix ? path.substr(0, path.size() - suffix.size()) : path).c_str());
  // The accelerator's clock is in ns or ps; the default unit (1 ps) shows both.
}

AcceleratorTrace::~AcceleratorTrace() { sc_core::sc_close_vcd_trace_file(file_); }

std::vector<std::string> AcceleratorTrace::signal_names() {
  return {"layer",      "tile_index",        "array_busy",         "stall_cause",
          "input_buffer_tiles", "output_buffer_tiles", "dma_in_flight"};
}

void AcceleratorTrace::add(const Accelerator& accelerator, const std::string& prefix) {
  accelerator.trace_every_event();
  const Accelerator::TraceState& s = accelerator.trace_state();
  const std::vector<std::string> n = signal_names();
  sc_core::sc_trace(file_, s.layer, prefix + "." + n[0], 16);
  sc_core::sc_trace(file_, s.tile, prefix + "." + n[1], 32);
  sc_core::sc_trace(file_, s.array_busy, prefix + "." + n[2]);
  // 0: none, 1: waiting for operands (loads), 2: waiting for output buffer space (writes).
  sc_core::sc_trace(file_, s.stall, prefix + "." + n[3], 2);
  sc_core::sc_trace(file_, s.input_tiles, prefix + "." + n[4], 8);
  sc_core::sc_trace(file_, s.output_tiles, prefix + "." + n[5], 8);
  sc_core::sc_trace(file_, s.dma_in_flight, prefix + "." + n[6], 16);
}

}  // namespace lbfp::arch
