// The accelerator as a SystemC/TLM-2.0 model: a DRAM target, on-chip activation, weight and
// output buffers, a DMA/controller that tiles each GEMM onto the R x C array with double
// buffering, and the array itself (the C++ cycle model, its tile-level fast mode, or the
// Verilated RTL). Data really flows DRAM -> buffers -> array -> buffers -> DRAM, so outputs are
// checked bit for bit against the golden GEMM, and every byte and cycle is counted.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <systemc>
#include <tlm>
#include <tlm_utils/simple_initiator_socket.h>

#include "lbfp/arch/array_model.h"
#include "lbfp/arch/dram.h"
#include "lbfp/number_format.h"

namespace lbfp::arch {

enum class SimMode { kCycle, kTile };

struct BufferConfig {
  uint64_t activation_bytes = 256 * 1024;
  uint64_t weight_bytes = 256 * 1024;
  uint64_t output_bytes = 64 * 1024;
};

struct AcceleratorConfig {
  ArrayGeometry array{16, 16, 1};
  NumberFormat format = LbfpFormat();
  DramConfig dram;
  BufferConfig buffers;
  SimMode mode = SimMode::kCycle;
  // Throws std::invalid_argument naming the field.
  void validate() const;
};

// C[M,N] = A[M,K] x W[N,K]^T: activations row-major M x K (an im2col'ed input for a conv), one
// weight row per output channel; requantized (with optional ReLU) to out_exponent.
struct GemmLayer {
  std::string name;
  uint64_t m = 0;
  uint64_t n = 0;
  uint64_t k = 0;
  std::vector<Code> a;
  int a_exponent = 0;
  std::vector<Code> w;
  std::vector<int> w_exponents;
  std::vector<float> bias;  // N values, or empty
  int out_exponent = 0;
  bool relu = true;
  void validate() const;  // throws std::invalid_argument naming the layer and the field
};

struct LayerStats {
  std::string name;
  uint64_t m = 0;
  uint64_t n = 0;
  uint64_t k = 0;
  uint64_t tiles = 0;
  uint64_t total_cycles = 0;    // layer start to its last output written to DRAM
  uint64_t compute_cycles = 0;  // cycles the array is busy with tiles
  uint64_t stall_cycles = 0;    // cycles the array waits for operands or output space
  uint64_t macs = 0;            // useful multiply-accumulates (M N K)
  uint64_t zero_macs = 0;       // of those, with a zero operand (gateable)
  uint64_t array_pe_cycles = 0; // R C compute_cycles: what the array could have done
  double utilization = 0.0;     // macs / (R C total_cycles)
  uint64_t outputs_saturated = 0;   // outputs whose accumulator saturated at least once
  uint64_t overflow_steps = 0;      // saturating accumulator steps (C++ array; RTL reports flags)
  uint64_t dram_bytes_read = 0;
  uint64_t dram_bytes_written = 0;
  uint64_t sram_bytes_read = 0;
  uint64_t sram_bytes_written = 0;
  bool double_buffered = false;
  bool weights_resident = false;
  // Action counts for the energy model.
  uint64_t multiplies = 0;   // non-gated multiplier (LBFP: adder + LUT) operations
  uint64_t shifts = 0;       // LBFP shifter operations (0 for BFP)
  uint64_t accumulates = 0;  // accumulator updates
  uint64_t requantizations = 0;
};

// An array implementation: runs one tile to completion and returns the cycles it took (waiting
// that long in simulated time is the caller's business).
class ArrayBackend {
 public:
  virtual ~ArrayBackend() = default;
  virtual std::string name() const = 0;
  virtual const ArrayGeometry& geometry() const = 0;
  // Cycle mode backends call `tick` once per simulated clock (the SystemC thread waits a clock
  // period there); tile mode backends call it once with the whole tile's cycle count.
  virtual int64_t run_tile(const TileJob& job, const std::function<void(int64_t)>& tick) = 0;
  virtual const TileResult& result() const = 0;
  virtual ArrayActivity activity() const = 0;
  // Whether the backend counts saturating steps (the RTL only raises a flag per output).
  virtual bool counts_overflow_steps() const { return true; }
};

// The C++ array: cycle by cycle (mode kCycle) or whole tiles with the fast kernel (kTile).
std::unique_ptr<ArrayBackend> make_cpp_array(const ArrayGeometry& geometry,
                                             const NumberFormat& format, SimMode mode);

class Accelerator : public sc_core::sc_module {
 public:
  SC_HAS_PROCESS(Accelerator);
  tlm_utils::simple_initiator_socket<Accelerator> dma_socket;

  // With no backend, the C++ array in config.mode. The accelerator owns its DRAM.
  Accelerator(sc_core::sc_module_name name, const AcceleratorConfig& config,
              std::unique_ptr<ArrayBackend> backend = nullptr);
  ~Accelerator() override;

  // Before sc_start: the layers to run, in order. Checks that each fits the buffers and DRAM.
  void add_layer(GemmLayer layer);

  // Called by the controller after each layer (in simulation): layers done, layers in all.
  void set_progress(std::function<void(size_t done, size_t total)> progress) {
    progress_ = std::move(progress);
  }

  // After sc_start: per-layer statistics and outputs (M x N codes, row-major).
  const std::vector<LayerStats>& stats() const { return stats_; }
  const std::vector<Code>& output(size_t layer) const { return outputs_.at(layer); }
  bool finished() const { return finished_; }
  // The first error met in simulation (a failed DMA transaction), or empty.
  const std::string& error() const { return error_; }

  const AcceleratorConfig& config() const { return config_; }
  Dram& dram() { return *dram_; }
  const ArrayBackend& array() const { return *backend_; }

 private:
  struct Tile {
    uint64_t m0, n0;
    int rows, cols;
    bool load_a, load_w;
    int a_slot, w_slot;
  };
  struct Plan;

  void controller_thread();
  void loader_thread();
  void compute_thread();
  void writer_thread();
  // One blocking DMA transaction; on an error response records it (see error()) and returns
  // false.
  bool dma(tlm::tlm_command command, uint64_t address, unsigned char* data, uint64_t length);
  // The same without waiting: the transaction's cost is added to `delay` (loosely timed).
  bool transfer(tlm::tlm_command command, uint64_t address, unsigned char* data, uint64_t length,
                sc_core::sc_time& delay);
  void fail(const std::string& what);
  uint64_t cycles(const sc_core::sc_time& t) const;

  AcceleratorConfig config_;
  std::unique_ptr<Dram> dram_;
  std::unique_ptr<ArrayBackend> backend_;
  std::vector<GemmLayer> layers_;
  std::vector<LayerStats> stats_;
  std::vector<std::vector<Code>> outputs_;
  std::string error_;
  bool finished_ = false;
  std::function<void(size_t, size_t)> progress_;
  uint64_t reuse_tags_ = 0;  // tile-level reuse of a row of tiles (TileJob::reuse_tag)
  uint64_t last_reuse_tag_ = 0;

  std::unique_ptr<Plan> plan_;  // the layer in flight
  std::vector<Code> staging_;   // the loader's weight rows before the transpose
  sc_core::sc_event layer_start_, layer_done_, loaded_, computed_, written_, freed_;
};

}  // namespace lbfp::arch
