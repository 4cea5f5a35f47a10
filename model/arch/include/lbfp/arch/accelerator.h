// The accelerator as a SystemC/TLM-2.0 module: on-chip activation, weight and output buffers
// (Sram objects), a controller/DMA that tiles each GEMM onto the R x C array with double
// buffering, and the array itself (the C++ cycle model, its tile-level fast mode, or the
// Verilated RTL). Its only way to memory is its DMA initiator socket; a host hands it one layer
// at a time (a GemmJob: the shape, the operands' addresses, the per-layer constants) and is told
// when the layer's outputs are in memory. Data really flows memory -> buffers -> array ->
// buffers -> memory, so outputs are checked bit for bit against the golden GEMM, and every byte
// and cycle is counted. AcceleratorTop (accelerator_top.h) builds the whole system.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <systemc>
#include <tlm>
#include <tlm_utils/simple_initiator_socket.h>

#include "lbfp/arch/array_model.h"
#include "lbfp/arch/dram.h"
#include "lbfp/arch/sram.h"
#include "lbfp/conv.h"
#include "lbfp/number_format.h"
#include "lbfp/scaled_format.h"

namespace lbfp::arch {

enum class SimMode { kCycle, kTile };

struct BufferConfig {
  uint64_t activation_bytes = 256 * 1024;
  uint64_t weight_bytes = 256 * 1024;
  uint64_t output_bytes = 64 * 1024;
  uint64_t psum_bytes = 64 * 1024;  // partial sums of K-split outputs (psum_entry_bytes each)
};

// Bytes of one partial sum in the partial-sum store: the A-bit accumulator and its sticky
// overflow flag, rounded up to whole bytes.
constexpr uint64_t psum_entry_bytes(int acc_bits) {
  return (static_cast<uint64_t>(acc_bits) + 1 + 7) / 8;
}

// One group of a convolution that reaches the accelerator as a convolution: its input feature
// map is in memory NHWC, and the address generator next to the activation buffer forms the GEMM
// rows (output pixels) and columns (c, kh, kw), kw fastest, the order of an OIHW weight row.
// in_h x in_w is the padded map (SCALE-Sim's convention); with pad 0 it is all in memory.
// With pad p, memory holds only the (in_h - 2p) x (in_w - 2p) interior and the loader supplies
// the format's zero code for the border (it reads no byte of it). A group of a grouped
// convolution reads `channels` of the pixel_channels stored per pixel (the job's a_address
// points at the group's first channel).
struct ConvGeometry {
  uint64_t in_h = 1;
  uint64_t in_w = 1;
  uint64_t channels = 1;
  uint64_t filter_h = 1;
  uint64_t filter_w = 1;
  uint64_t stride = 1;
  uint64_t pad = 0;             // zero rows / columns on each side, not in memory
  uint64_t pixel_channels = 0;  // codes per pixel in memory; 0: channels
  uint64_t out_h() const { return conv_output_size(in_h, filter_h, stride); }
  uint64_t out_w() const { return conv_output_size(in_w, filter_w, stride); }
  uint64_t taps() const { return filter_h * filter_w; }
  uint64_t pixel_pitch() const { return pixel_channels == 0 ? channels : pixel_channels; }
  uint64_t stored_h() const { return in_h - 2 * pad; }
  uint64_t stored_w() const { return in_w - 2 * pad; }
  // The codes of the map in memory (the whole pixel, every group's channels).
  uint64_t ifmap_bytes() const { return stored_h() * stored_w() * pixel_pitch(); }
  // The lbfp/conv.h shape (NHWC, one group), for its im2col and conv2d_input_index.
  Conv2dShape shape(uint64_t out_channels) const;
};

struct AcceleratorConfig {
  ArrayGeometry array{16, 16, 1};
  NumberFormat format = LbfpFormat();
  // One of the formats of spec section 13 (MX, FP8, INT8) instead of `format`: the array
  // computes through lbfp/scaled_format.h and lbfp/scaled_gemm.h, the layers carry their scales
  // (GemmLayer::scaled). Output-stationary only for MX (validate()).
  std::optional<ScaledFormat> scaled;
  sc_core::sc_time clock_period = sc_core::sc_time(1, sc_core::SC_NS);  // the accelerator's clock
  DramConfig dram;  // the memory AcceleratorTop attaches, with its own clock
  BufferConfig buffers;
  SimMode mode = SimMode::kCycle;
  // Throws std::invalid_argument naming the field.
  void validate() const;
};

// The scales of a layer in a format of spec section 13, beside its codes (GemmLayer::a, w). K is
// `channels` x `taps` in (c, kh, kw) order, as the accelerator reads it (a fully connected layer:
// taps 1).
struct ScaledLayer {
  uint64_t taps = 1;
  uint64_t channels = 0;
  // MX: E8M0 exponents of the 32-blocks of channels, `blocks` = ceil(channels / 32) per tap, in
  // (tap, block) order: per row of A (an output pixel; each tap's block is that of the input
  // pixel the tap reads) M x taps x blocks, per weight row N x taps x blocks.
  uint64_t blocks = 0;
  std::vector<int> a_exps;
  std::vector<int> w_exps;
  // FP8 / INT8: per output column the requantization multiplier M of section 13.6 (the FP32
  // scales sa, sb, so folded in) and the bias as an accumulator value (empty: no bias).
  std::vector<double> multipliers;
  std::vector<Int128> bias_acc;
};

// C[M,N] = A[M,K] x W[N,K]^T: activations row-major M x K (an im2col'ed input for a conv
// lowered on the host), one weight row per output channel; requantized (with optional ReLU) to
// out_exponent. With `conv`, `a` is the input feature map instead (ConvGeometry), M its output
// pixels and K = channels x taps: the accelerator forms the windows on chip.
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
  std::optional<ConvGeometry> conv;
  std::shared_ptr<const ScaledLayer> scaled;  // a format of spec section 13, else null
  void validate() const;  // throws std::invalid_argument naming the layer and the field
  // The same checks except that A and W hold their codes (a layer whose codes come from a
  // LayerSource: they are checked with validate() when they arrive).
  void validate_shape() const;
  // The codes A holds: the input feature map of a convolution, else M x K.
  uint64_t a_codes() const { return conv ? conv->ifmap_bytes() : m * k; }
};

// A layer's codes made while the simulation runs: called (from the simulation's thread, which
// waits meanwhile; simulated time does not depend on it) when the host reaches a layer added
// with its shape only, and returns the whole layer, of that shape.
using LayerSource = std::function<GemmLayer()>;
// Throws std::logic_error naming the layer unless `made` has the shape a layer was added with
// (name, M, N, K, geometry, the number of exponents and bias values).
void check_same_shape(const GemmLayer& made, const GemmLayer& shape);

// What the host hands the accelerator to run one layer: the GEMM's shape, where its operands
// are in memory (A row-major M x K, W one row of K per output channel, outputs row-major M x N)
// and the layer's constants. The operand codes themselves are in memory.
struct GemmJob {
  std::string name;
  uint64_t m = 0;
  uint64_t n = 0;
  uint64_t k = 0;
  uint64_t a_address = 0;
  uint64_t w_address = 0;
  uint64_t out_address = 0;
  int a_exponent = 0;
  std::vector<int> w_exponents;
  std::vector<float> bias;  // N values, or empty
  int out_exponent = 0;
  bool relu = true;
  std::optional<ConvGeometry> conv;  // a_address holds the input feature map (NHWC)
  uint64_t out_row_pitch = 0;  // codes from one output row to the next in memory; 0: n
  // A format of spec section 13: the layer's scales, and where their bytes are in memory (the
  // DMA reads them with the blocks they belong to; the array takes their values from `scaled`).
  std::shared_ptr<const ScaledLayer> scaled;
  uint64_t a_scale_address = 0;
  uint64_t w_scale_address = 0;
  uint64_t out_bytes = 1;  // output_bytes() of the accelerator's configuration
};

// Bytes of one output in memory and in the output buffer: 4 for an MX format (its FP32 sums,
// spec section 13.7), else 1 (a code).
uint64_t output_bytes(const AcceleratorConfig& config);
// psum_entry_bytes of the configuration's accumulator: an MX partial sum is its FP32 sum.
uint64_t psum_entry_bytes(const AcceleratorConfig& config);
// Scale bytes that travel with operand codes of a layer in a format of spec section 13 (0 for
// LBFP and BFP, whose exponents ride in the job): `rows` rows of A (or pixels of a feature-map
// band, conv true) of `row_codes` codes each, an E8M0 byte per 32-block of channels per tap
// (MX); `cols` weight columns of `kc` codes: MX likewise, INT8 an FP32 multiplier per column,
// FP8 one FP32 multiplier.
uint64_t a_scale_bytes(const AcceleratorConfig& config, const GemmJob& job, uint64_t rows,
                       uint64_t row_codes, bool pixels);
uint64_t w_scale_bytes(const AcceleratorConfig& config, const GemmJob& job, uint64_t cols,
                       uint64_t kc);

// Traffic of one operand, bytes, as SCALE-Sim's DETAILED_ACCESS_REPORT splits it.
struct OperandTraffic {
  uint64_t dram_read = 0;
  uint64_t dram_write = 0;
  uint64_t sram_read = 0;
  uint64_t sram_write = 0;
  OperandTraffic& operator+=(const OperandTraffic& o);
};

// How the controller tiles a layer (chosen per layer to minimize DRAM traffic for the buffers).
struct LayerPlan {
  // Block loops, outer to inner: m (output pixels / rows), n (output channels), k (K chunks).
  enum class Order { kMNK, kMKN, kNMK, kNKM };
  Order order = Order::kMNK;
  uint64_t block_m = 0;  // outputs rows per block, a multiple of the array's rows (or M)
  uint64_t block_n = 0;  // output columns per block, a multiple of its cols (or N)
  uint64_t chunk_k = 0;  // K per chunk (whole channels for a convolution)
  uint64_t k_chunks = 1;
  // A tile: tile_m x tile_n outputs (output-stationary: the array's R x C; weight-stationary:
  // a stream of rows x C; input-stationary: C x a stream of columns), its K chunk run as folds
  // of at most fold_k (weight-/input-stationary: R; output-stationary: the whole chunk).
  uint64_t tile_m = 0;
  uint64_t tile_n = 0;
  uint64_t fold_k = 0;
  int a_slots = 1;  // 2: double-buffered
  int w_slots = 1;
  uint64_t a_slot_bytes = 0;
  uint64_t w_slot_bytes = 0;
  uint64_t psum_bytes = 0;  // partial-sum store the plan uses (0 without a K split)
  // What the plan moves over DRAM (bytes).
  uint64_t dram_a = 0;
  uint64_t dram_w = 0;
  uint64_t dram_out = 0;
  bool weights_resident() const;
  // "weights-resident", or the block loop order ("m>n>k", "n>m>k", ...).
  std::string order_name() const;
};

// The plan the controller runs for `job` on `config`. Throws std::invalid_argument naming the
// layer, the buffer and the smallest size that works when no tiling fits.
LayerPlan plan_layer(const GemmJob& job, const AcceleratorConfig& config);
// Every input, weight and output crossing DRAM exactly once: input feature map (or A), W and
// the outputs, bytes.
uint64_t dram_lower_bound(const GemmJob& job);

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
  uint64_t dram_bytes_read = 0;     // the DMA's TLM traffic
  uint64_t dram_bytes_written = 0;
  uint64_t sram_bytes_read = 0;     // the three buffers' own counts
  uint64_t sram_bytes_written = 0;
  bool double_buffered = false;
  bool weights_resident = false;
  std::string loop_order;           // LayerPlan::order_name()
  uint64_t k_chunks = 1;
  uint64_t dram_lower_bound = 0;    // dram_lower_bound(): bytes
  OperandTraffic ifmap, filter, ofmap, psum;  // per operand (activation, weight, output
                                              // buffers and the partial-sum store)
  // Action counts for the energy model.
  uint64_t multiplies = 0;   // non-gated multiplier (LBFP: adder + LUT) operations
  uint64_t shifts = 0;       // LBFP shifter operations (0 for BFP)
  uint64_t accumulates = 0;  // accumulator updates
  uint64_t requantizations = 0;
  // Where the layer's cycles go, in parts that add up to total_cycles exactly: compute_cycles +
  // stall_ifmap_cycles + stall_filter_cycles + stall_output_cycles + writeback_cycles.
  uint64_t fill_drain_cycles = 0;    // of compute_cycles: busy without taking an operand step
                                     // (preload, skew, pipeline, drain)
  uint64_t stall_ifmap_cycles = 0;   // of stall_cycles: idle while the DMA reads input data
  uint64_t stall_filter_cycles = 0;  // of stall_cycles: idle while the DMA reads weights
  uint64_t stall_output_cycles = 0;  // of stall_cycles: idle, the output buffer full until the
                                     // DMA has written outputs to DRAM
  uint64_t writeback_cycles = 0;     // after the array's last result: the last outputs to DRAM
};

// An array implementation. Tiles overlap: the array takes the next tile (its preload, then its
// operand steps) while earlier ones still reduce and drain, with the timing of ArrayTimeline
// (array_timing.h). The caller hands tiles over with run_tile, which advances simulated time
// to the earliest cycle at which the next hand-over does not delay the array (a tile-level
// backend may leave that to catch_up: TileJob::handover_ahead); what happens to a tile later
// is reported through the listener, in hand-over order, in the simulated cycle it happens
// (from inside run_tile, step, catch_up or flush; a tile-level backend may report the events
// TileJob's *_watched leave unwatched at its next stop). Tiles are numbered from 0 in
// hand-over order over the backend's life.
class ArrayBackend {
 public:
  struct Listener {
    // The tile's last operand step has been taken: its operand buffers may be reused.
    std::function<void(uint64_t tile)> operands_released;
    // The tile's results have left the array (valid during the call).
    std::function<void(uint64_t tile, const TileResult& result)> results_ready;
  };
  // Cycle mode backends call `tick` once per simulated clock (the SystemC thread waits a clock
  // period there); tile mode backends call it with runs of cycles between events.
  using Tick = std::function<void(int64_t)>;

  virtual ~ArrayBackend() = default;
  virtual std::string name() const = 0;
  virtual const ArrayGeometry& geometry() const = 0;
  void set_listener(Listener listener) { listener_ = std::move(listener); }
  // Hands a tile over; returns the cycles it advanced (ticked). Throws std::invalid_argument
  // for a tile the array cannot run.
  virtual int64_t run_tile(const TileJob& job, const Tick& tick) = 0;
  // Whether a tile handed over has not yet left the array.
  virtual bool busy() const = 0;
  // Advances one cycle (when busy); returns the cycles advanced (0 or 1).
  virtual int64_t step(const Tick& tick) = 0;
  // Advances to the next cycle in which a tile's results leave the array, or one cycle where
  // the backend takes every cycle; returns the cycles advanced (0 when not busy).
  virtual int64_t step_to_results(const Tick& tick) { return step(tick); }
  // Advances to the cycle the array can take the next tile, where tiles handed over ahead of
  // time (TileJob::handover_ahead) left the simulated time behind it; returns the cycles
  // advanced.
  virtual int64_t catch_up(const Tick& /*tick*/) { return 0; }
  // Advances until every tile handed over has left the array; returns the cycles advanced.
  virtual int64_t flush(const Tick& tick) {
    int64_t cycles = 0;
    while (busy()) cycles += step(tick);
    return cycles;
  }
  virtual ArrayActivity activity() const = 0;
  // Whether the backend counts saturating steps (the RTL only raises a flag per output).
  virtual bool counts_overflow_steps() const { return true; }
  // Whether the backend computes the tiles a job offers ahead (TileJob::lookahead_cols and
  // lookahead_rows) in the call of the first: the accelerator then offers it weights it has
  // not loaded yet (Accelerator::ComputeAhead).
  virtual bool computes_ahead() const { return false; }

 protected:
  void released(uint64_t tile) const {
    if (listener_.operands_released) listener_.operands_released(tile);
  }
  void finished(uint64_t tile, const TileResult& result) const {
    if (listener_.results_ready) listener_.results_ready(tile, result);
  }

 private:
  Listener listener_;
};

// The C++ array: cycle by cycle (mode kCycle) or whole tiles with the fast kernel (kTile).
std::unique_ptr<ArrayBackend> make_cpp_array(const ArrayGeometry& geometry,
                                             const NumberFormat& format, SimMode mode);
// The array of a format of spec section 13 (scaled_array.cpp): the timing of ArrayTimeline (every
// clock ticked in kCycle, runs of cycles between events in kTile), each tile's sums from the
// golden reference (lbfp::gemm_accumulate, lbfp::dot, lbfp::mx_accumulate, requantize_scaled).
std::unique_ptr<ArrayBackend> make_scaled_array(const ArrayGeometry& geometry,
                                                const ScaledFormat& format, SimMode mode);

class Accelerator : public sc_core::sc_module {
 public:
  SC_HAS_PROCESS(Accelerator);
  tlm_utils::simple_initiator_socket<Accelerator> dma_socket;  // to memory
  sc_core::sc_fifo_in<const GemmJob*> job_in;     // the next layer; nullptr: no more work
  sc_core::sc_fifo_out<const GemmJob*> done_out;  // each layer once its outputs are in memory

  // With no backend, the C++ array in config.mode.
  Accelerator(sc_core::sc_module_name name, const AcceleratorConfig& config,
              std::unique_ptr<ArrayBackend> backend = nullptr);
  ~Accelerator() override;

  // Throws std::invalid_argument naming the layer, the buffer and the smallest size that works
  // when no tiling of the job fits the buffers (plan_layer).
  void check_fits(const GemmJob& job) const;

  // Per-layer statistics, in the order the layers ran.
  const std::vector<LayerStats>& stats() const { return stats_; }
  // The first error met in simulation (a failed DMA transaction, a tile the array refused), or
  // empty.
  const std::string& error() const { return error_; }

  const AcceleratorConfig& config() const { return config_; }
  const ArrayBackend& array() const { return *backend_; }
  const Sram& activation_buffer() const { return activation_buffer_; }
  const Sram& weight_buffer() const { return weight_buffer_; }
  const Sram& output_buffer() const { return output_buffer_; }
  const Sram& psum_buffer() const { return psum_buffer_; }

  // The controller's state as a waveform shows it (accelerator_trace.h); kept up to date by the
  // threads, read by sc_trace at the end of each time step.
  enum StallCause : int { kNoStall = 0, kWaitOperands = 1, kWaitOutputSpace = 2 };
  struct TraceState {
    uint64_t layer = 0;          // the layer in flight, from 0
    uint64_t tile = 0;           // the tile of that layer the array works on (or waits for)
    bool array_busy = false;     // the array runs a tile
    int stall = kNoStall;        // why the array waits (StallCause)
    uint64_t input_tiles = 0;    // tiles loaded into the input buffers, operands not yet used
    uint64_t output_tiles = 0;   // tiles computed into the output buffer, not yet written
    uint64_t dma_in_flight = 0;  // DMA transactions issued and not yet complete
  };
  const TraceState& trace_state() const { return trace_; }
  // A waveform samples trace_state() at the end of every time step: the array's events then
  // each take their own cycle (TileJob::release_watched, done_watched), as the state they
  // change shows. Called by AcceleratorTrace::add, before sc_start.
  void trace_every_event() const { trace_every_event_ = true; }

  // The tile mode's sums computed ahead of the weights' loads. Where the weights stream
  // through their buffer, an activation block meets the weight blocks one after another, each
  // in its own kernel call of a few columns. Instead, when the block meets its first weight
  // block, the columns of the whole run of blocks it meets next are read from memory
  // (untimed, through the debug transport: no traffic, no cycles) and the array computes all
  // their tiles in one call. A tile takes its sums from that call only if its weight block,
  // as the DMA loaded it into its slot, holds the same bytes as that read (checked once per
  // block); otherwise (the memory was written meanwhile) its tiles are computed from the slot
  // as before. The outputs, cycles and traffic are the same either way.
  // Weight-/input-stationary: a K chunk of several folds is one fold chain, its block pair's
  // sums computed over the whole chunk at once (TileJob::fold_tag, Tile::chained).
  struct ComputeAhead {
    uint64_t runs = 0;     // runs of weight blocks read ahead from memory
    uint64_t blocks = 0;   // weight blocks whose tiles took sums computed ahead
    uint64_t changed = 0;  // weight blocks that differed from the read ahead: computed apart
    uint64_t fold_chains = 0;  // block pairs' K chunks computed as one fold chain
  };
  const ComputeAhead& compute_ahead() const { return compute_ahead_; }

 private:
  // A block of A (rows m0.. of one K chunk; for a convolution the feature-map band those
  // output pixels need) or of W (columns n0.. of one K chunk), loaded into a buffer slot.
  struct Block {
    uint64_t first, count;  // rows of A or columns of W
    uint64_t k0, kc;
    int slot;
    uint64_t band_oy0 = 0, band_rows = 0;  // convolution: first output row, band rows held
  };
  struct Tile {
    uint64_t m0, n0;
    int rows, cols;
    size_t a_block, w_block;  // indices into Plan::a_blocks / w_blocks
    uint64_t k_off, kf;       // the fold: K from k_off into the blocks' chunk, kf long
    bool load_a, load_w;      // the tile's first use of its blocks: load them first
    bool first_chunk, last_chunk;  // of the reduction (chunks and folds)
    uint64_t psum_offset;     // bytes into the partial-sum store
    size_t out_index;         // last chunk: index among the output tiles
    // Weight-/input-stationary, tile mode: the folds of the tile's chunk are a fold chain the
    // backend computes at once (TileJob::fold_tag): between them no sums are stored or
    // reloaded, only their bytes counted.
    bool chained;
  };
  struct Plan;

  // The SystemC threads, each running its run_*() and then ending (see thread_end.h).
  void controller_thread();
  void loader_thread();
  void compute_thread();
  void writer_thread();
  void run_controller();
  void run_loader();
  void run_compute();
  // A tile's results have left the array: into the output buffer, counted.
  void finish_tile(Plan& p, size_t i, const TileResult& result);
  void run_writer();
  // Tile mode, weights streamed (ComputeAhead): whether the tiles of tile i's block pair may
  // take sums computed over weights_ahead_, whose columns then hold its weight block (at
  // `block` in its slot, kc x count). At an activation block's first pair it reads the run of
  // weight blocks that block meets next from memory first.
  bool weights_ahead(const Plan& p, size_t i, const Code* block);
  // The layer in flight, once the controller has planned the `next`-th; nullptr when the host
  // has no more work.
  Plan* wait_for_layer(size_t next);
  // One DMA transaction through `payload` (the calling thread's own, reused: constructing one
  // allocates its extension array), without waiting: its cost is added to `delay` (loosely
  // timed). On an error response records it (see error()) and returns false.
  bool transfer(tlm::tlm_generic_payload& payload, tlm::tlm_command command, uint64_t address,
                unsigned char* data, uint64_t length, sc_core::sc_time& delay);
  void fail(const std::string& what);
  uint64_t cycles(const sc_core::sc_time& t) const;
  // plan_layer(job, config_), made once per shape: a layer is checked when it is added, by the
  // device when it decodes its descriptor and planned by the controller, and a network repeats
  // its shapes.
  const LayerPlan& plan_of(const GemmJob& job) const;

  AcceleratorConfig config_;
  std::unique_ptr<ArrayBackend> backend_;
  Sram activation_buffer_;
  Sram weight_buffer_;
  Sram output_buffer_;
  Sram psum_buffer_;
  std::vector<LayerStats> stats_;
  std::string error_;
  uint64_t dma_bytes_read_ = 0;
  uint64_t dma_bytes_written_ = 0;
  uint64_t reuse_tags_ = 0;  // tile-level reuse of a row of tiles (TileJob::reuse_tag)
  uint64_t last_reuse_tag_ = 0;
  bool no_more_work_ = false;
  TraceState trace_;
  mutable bool trace_every_event_ = false;  // an observer's need (a waveform), not model state

  std::unique_ptr<Plan> plan_;  // the layer in flight
  std::deque<std::pair<Plan*, size_t>> handed_;  // tiles in the array, in hand-over order
  uint64_t first_handed_ = 0;                    // the backend's number of handed_.front()
  std::vector<Code> staging_;   // the loader's weight rows before the transpose
  // The loader's and the writer's DMA payloads, each reused for all its transactions (members:
  // a thread's stack is not unwound when the simulation ends).
  tlm::tlm_generic_payload loader_payload_;
  tlm::tlm_generic_payload writer_payload_;
  std::vector<Code> windows_;   // the address generator's tile rows of a convolution
  std::vector<uint32_t> window_offsets_;  // a window's bytes from its top-left pixel in the band
  std::vector<int64_t> resume_acc_;  // partial sums read back from the store for one tile
  std::vector<uint8_t> resume_flags_;
  std::vector<Int128> resume_wide_;   // the same for a format of spec section 13
  std::vector<float> resume_sums_;    // an MX format's FP32 partial sums
  std::vector<Code> scale_staging_;   // scale bytes on their way from memory to a buffer
  // weights_ahead(): columns [c0, c1) of the layer in flight as memory held them when
  // activation block a_block met its first weight block, k x (c1 - c0) like a weight slot.
  struct WeightsAhead {
    size_t layer = SIZE_MAX;  // Plan::index
    size_t a_block = SIZE_MAX;
    bool valid = false;
    uint64_t c0 = 0, c1 = 0;
    uint64_t tag = 0;  // TileJob::reuse_tag of the tiles computed over them
    std::vector<Code> codes;
    std::vector<Code> rows;  // weight rows on their way from memory to codes
    tlm::tlm_generic_payload payload;
  };
  WeightsAhead weights_ahead_;
  ComputeAhead compute_ahead_;
  // plan_of's plans, by what plan_layer reads of a job: M, N, K, the convolution's geometry and
  // the scales' taps and channels (spec section 13); the name only names a failure, which is
  // not kept.
  mutable std::map<std::vector<uint64_t>, LayerPlan> plans_;
  sc_core::sc_event layer_start_, loaded_, computed_, written_;
};

}  // namespace lbfp::arch
