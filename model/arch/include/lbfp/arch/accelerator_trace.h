// A VCD waveform of the SystemC model (`lbfp sim --trace FILE`): per accelerator, the layer and
// tile in flight, whether the array is busy, why it stalls, the buffers' occupancy in tiles and
// the DMA transactions in flight (Accelerator::TraceState), through sc_trace. docs/cosim.md walks
// through it in GTKWave.
#pragma once

#include <string>
#include <vector>

#include <systemc>

#include "lbfp/arch/accelerator.h"

namespace lbfp::arch {

class AcceleratorTrace {
 public:
  // Opens `path` (".vcd" is appended unless it ends so). Create before sc_start.
  explicit AcceleratorTrace(const std::string& path);
  ~AcceleratorTrace();
  AcceleratorTrace(const AcceleratorTrace&) = delete;
  AcceleratorTrace& operator=(const AcceleratorTrace&) = delete;

  // Traces one accelerator's state as <prefix>.<signal>; before sc_start.
  void add(const Accelerator& accelerator, const std::string& prefix);

  // The signals add() traces, without the prefix, in order.
  static std::vector<std::string> signal_names();

 private:
  sc_core::sc_trace_file* file_;
};

}  // namespace lbfp::arch
