// The host side of the system: it holds the workload (each layer's codes), places a layer's
// operands in memory and reads its outputs back through debug transactions (transport_dbg:
// untimed and not counted as traffic, as a loader or debugger would), and hands the accelerator
// one layer at a time, waiting until it is done before the next.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include <systemc>
#include <tlm>
#include <tlm_utils/simple_initiator_socket.h>

#include "lbfp/arch/accelerator.h"

namespace lbfp::arch {

class Host : public sc_core::sc_module {
 public:
  SC_HAS_PROCESS(Host);
  tlm_utils::simple_initiator_socket<Host> memory_socket;  // debug transactions only
  sc_core::sc_fifo_out<const GemmJob*> job_out;  // to the accelerator
  sc_core::sc_fifo_in<const GemmJob*> done_in;   // from the accelerator

  explicit Host(sc_core::sc_module_name name);

  // Before sc_start: a layer and the job that runs it (its operands go to the job's addresses).
  // With a source, `layer` is its shape and the source gives the layer when the host reaches it
  // (the job's exponents and bias are then the source's).
  void add_layer(GemmLayer layer, GemmJob job, LayerSource source = {});
  // Called after each layer's outputs are read back: layers done, layers in all.
  void set_progress(std::function<void(size_t done, size_t total)> progress) {
    progress_ = std::move(progress);
  }

  // Debug access to memory, once the system is elaborated: throws std::out_of_range naming the
  // address when the memory does not take every byte.
  void write(uint64_t address, const void* data, uint64_t length);
  void read(uint64_t address, void* data, uint64_t length);

  // Before sc_start: whether output() keeps each layer's outputs (the default). Without, the
  // host still reads them back, into one buffer that each layer reuses, and output() throws
  // std::out_of_range: for runs that want only the statistics (`lbfp sim`), whose outputs
  // would be memory touched for nothing.
  void keep_outputs(bool keep) { keep_outputs_ = keep; }

  // After sc_start: each layer's outputs (M x N codes, row-major), read back from memory.
  const std::vector<Code>& output(size_t layer) const { return outputs_.at(layer); }
  size_t layers() const { return layers_.size(); }
  bool finished() const { return finished_; }
  // The first error met in simulation (a debug transaction the memory refused), or empty.
  const std::string& error() const { return error_; }

 private:
  void run_thread();  // run_layers(), then the thread ends (see thread_end.h)
  void run_layers();
  // Replaces layer i's shape with its source's layer; false (error_ set, simulation stopped)
  // when the source throws or gives another shape.
  bool take_from_source(size_t i);
  void debug(tlm::tlm_command command, uint64_t address, unsigned char* data, uint64_t length);

  std::vector<GemmLayer> layers_;
  std::vector<GemmJob> jobs_;
  std::vector<LayerSource> sources_;
  std::vector<std::vector<Code>> outputs_;
  bool keep_outputs_ = true;
  std::function<void(size_t, size_t)> progress_;
  std::string error_;
  bool finished_ = false;
};

}  // namespace lbfp::arch
