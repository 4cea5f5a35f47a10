// A whole architecture simulation: reads the architecture, the workload and the energy table,
// builds one accelerator per number format, runs them in one SystemC simulation and returns
// every layer's statistics and energy (report.h renders them).
#pragma once

#include <cstdint>
#include <functional>
#include <stdexcept>
#include <string>
#include <vector>

#include "lbfp/arch/report.h"
#include "lbfp/config_error.h"

namespace lbfp::arch {

struct SimulationRequest {
  std::string arch;      // empty: the embedded default (input.h)
  std::string workload;  // "gemm:M,N,K", a topology CSV or an ONNX model; empty: ResNet-18
  std::string format = "both";  // lbfp8, bfp8, both or arch
  std::string mode;             // tile, cycle, or empty: tile (cycle with the RTL array)
  std::string array = "cpp";    // cpp or rtl
  // A waveform: with the RTL array an FST of the RTL (for `trace_window`, "FIRST:LAST" RTL
  // cycles, or the whole run), else a VCD of the SystemC model (accelerator_trace.h).
  std::string trace;
  std::string trace_window;
  std::string rtl_cache;  // on-demand RTL models (lbfp/rtl/ondemand.h); empty: the default
  std::string energy;           // empty: the arch file's
  std::string im2col = "chip";  // convolutions lowered on chip or on the host (workload.h)
  // os, ws, is (or their long names) over the arch file's array.dataflow; best: every layer in
  // each dataflow, the cheapest by `best_by` (cycles or energy) chosen per layer; empty: the
  // arch file's.
  std::string dataflow;
  std::string best_by = "cycles";
  uint64_t seed = 1;
  std::vector<std::string> overrides;  // "dotted.key=value" applied to the arch file
  // The most host memory the operands may take (refused before allocating); 0: no limit.
  uint64_t max_host_bytes = 0;
  // false (default): host software drives the accelerator as a device through the driver
  // (device_top.h: descriptors, START, the interrupt); true: the host hands the accelerator
  // GemmJobs (accelerator_top.h). Both give the same report.
  bool direct = false;
  // Called with each warning about the inputs (a SCALE-Sim .cfg's unmapped keys) once they are
  // read, before the simulation; optional.
  std::function<void(const std::string&)> warn;
};

// The simulation ran but did not finish (a failed DMA transaction, a backend error).
class SimulationError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Per format, after each layer: the format's name, layers done, layers in all.
using SimProgress = std::function<void(const std::string& format, size_t done, size_t total)>;

// The --format and --mode values a simulation takes; throw ConfigError naming the option
// otherwise. A sweep checks its points with them before running any.
void check_format_choice(const std::string& format);
void check_mode_choice(const std::string& mode);
void check_dataflow_choice(const std::string& dataflow, const std::string& best_by);

// Bad input throws ConfigError or std::invalid_argument before anything is simulated; `ready`
// (optional) is called once the inputs are read and checked, before the simulation starts (a
// front end checks its outputs there). A simulation that stops early throws SimulationError.
// Callable again in the same process (each call after the first gets a fresh SystemC context);
// not from two threads at once.
SimReport simulate(const SimulationRequest& request, const SimProgress& progress = {},
                   const std::function<void()>& ready = {});

}  // namespace lbfp::arch
