#include "lbfp/arch/accelerator.h"

#include <algorithm>
#include <deque>
#include <stdexcept>
#include <string>

#include "lbfp/arch/limits.h"
#include "lbfp/arch/stats.h"

namespace lbfp::arch {
namespace {

using sc_core::sc_time;

std::string bytes_text(uint64_t b) { return std::to_string(b) + " bytes"; }

// Checked before the members it sizes (the buffers) are built.
const AcceleratorConfig& validated(const AcceleratorConfig& config) {
  config.validate();
  return config;
}

// The C++ array behind the ArrayBackend interface: each tile's results from the array model (its
// PE schedule cycle by cycle, or the fast kernel), its timing from ArrayTimeline, the events
// released in the simulated cycle they happen.
class CppArray : public ArrayBackend {
 public:
  CppArray(const ArrayGeometry& geometry, const NumberFormat& format, SimMode mode)
      : model_(geometry, format), mode_(mode), timeline_(geometry) {}
  std::string name() const override { return mode_ == SimMode::kCycle ? "c++ cycle" : "c++ tile"; }
  const ArrayGeometry& geometry() const override { return model_.geometry(); }
  int64_t run_tile(const TileJob& job, const Tick& tick) override {
    model_.start(job);
    if (mode_ == SimMode::kTile) {
      model_.compute_whole_tile();
    } else {
      model_.run_to_completion();
    }
    const ArrayTimeline::Tile t = timeline_.add(now_, job.k);
    pending_.push_back({next_tile_++, t.last + 1, t.end + 1, false, model_.result()});
    return advance_to(t.next_handover, tick);
  }
  bool busy() const override { return !pending_.empty(); }
  int64_t step(const Tick& tick) override { return busy() ? advance_to(now_ + 1, tick) : 0; }
  ArrayActivity activity() const override { return model_.activity(); }

 private:
  struct Pending {
    uint64_t tile;
    int64_t release_at;  // the cycle after its last step
    int64_t done_at;     // the cycle after its last result row
    bool released;
    TileResult result;
  };

  // Advances to cycle `target`, reporting each event in its cycle.
  int64_t advance_to(int64_t target, const Tick& tick) {
    const int64_t from = now_;
    fire();
    while (now_ < target) {
      int64_t next = target;
      if (mode_ == SimMode::kCycle) {
        next = now_ + 1;
      } else {
        for (const Pending& p : pending_) {
          if (!p.released) next = std::min(next, p.release_at);
          next = std::min(next, p.done_at);
        }
      }
      tick(next - now_);
      now_ = next;
      fire();
    }
    return now_ - from;
  }
  void fire() {
    for (Pending& p : pending_) {
      if (!p.released && p.release_at <= now_) {
        p.released = true;
        released(p.tile);
      }
    }
    while (!pending_.empty() && pending_.front().done_at <= now_) {
      const Pending p = std::move(pending_.front());
      pending_.pop_front();
      finished(p.tile, p.result);
    }
  }

  ArrayModel model_;
  SimMode mode_;
  ArrayTimeline timeline_;
  int64_t now_ = 0;
  uint64_t next_tile_ = 0;
  std::deque<Pending> pending_;
};

}  // namespace

std::unique_ptr<ArrayBackend> make_cpp_array(const ArrayGeometry& geometry,
                                             const NumberFormat& format, SimMode mode) {
  return std::make_unique<CppArray>(geometry, format, mode);
}

void AcceleratorConfig::validate() const {
  constexpr auto kDim = ArchLimits::kArrayDim;
  if (array.rows < kDim.lo || array.cols < kDim.lo) {
    throw std::invalid_argument("array rows and cols must be positive (got " +
                                std::to_string(array.rows) + "x" + std::to_string(array.cols) +
                                ")");
  }
  if (array.rows > kDim.hi || array.cols > kDim.hi) {
    throw std::invalid_argument("array of " + std::to_string(array.rows) + "x" +
                                std::to_string(array.cols) + " PEs is larger than " +
                                std::to_string(kDim.hi) + "x" + std::to_string(kDim.hi));
  }
  if (!ArchLimits::kPipeStages.contains(array.pipe_stages)) {
    throw std::invalid_argument("array pipe_stages must be in " +
                                std::to_string(ArchLimits::kPipeStages.lo) + ".." +
                                std::to_string(ArchLimits::kPipeStages.hi));
  }
  if (buffers.activation_bytes == 0 || buffers.weight_bytes == 0 || buffers.output_bytes == 0) {
    throw std::invalid_argument("buffer sizes must be positive");
  }
  if (clock_period == sc_core::SC_ZERO_TIME) {
    throw std::invalid_argument("the accelerator's clock_period must be positive");
  }
  dram.validate();
}

void GemmLayer::validate() const {
  const std::string who = "layer '" + name + "': ";
  if (m == 0 || n == 0 || k == 0) {
    throw std::invalid_argument(who + "M, N and K must be positive (got " + std::to_string(m) +
                                ", " + std::to_string(n) + ", " + std::to_string(k) + ")");
  }
  if (a.size() != m * k) throw std::invalid_argument(who + "A must hold M*K codes");
  if (w.size() != n * k) throw std::invalid_argument(who + "W must hold N*K codes");
  if (w_exponents.size() != n) throw std::invalid_argument(who + "W needs N exponents");
  if (!bias.empty() && bias.size() != n) throw std::invalid_argument(who + "bias needs N values");
  check_exponent(a_exponent);
  check_exponent(out_exponent);
  for (int e : w_exponents) check_exponent(e);
}

struct Accelerator::Plan {
  const GemmJob* job = nullptr;
  size_t index = 0;
  std::vector<Tile> tiles;
  std::vector<size_t> loads_wait_for;  // tile i's loads need this many tiles computed first
  int a_slots = 1;
  int w_slots = 1;
  int out_slots = 1;
  bool weights_resident = false;
  uint64_t weight_tag = 0;  // TileJob::weight_tag once all resident weights are loaded
  // Buffer layout: activation slot s holds R x K codes from s R K; weight slot s holds K x C
  // codes (row pitch C) from s K C, or all K x N (pitch N) when resident; output slot s holds
  // R x C codes from s R C.
  uint64_t a_slot_bytes = 0;
  uint64_t w_slot_bytes = 0;
  uint64_t w_pitch = 0;
  uint64_t out_slot_bytes = 0;
  size_t loaded = 0;
  size_t consumed = 0;  // tiles whose operands the array no longer needs
  size_t computed = 0;  // tiles whose results are in the output buffer
  size_t written = 0;
  sc_time start;
  LayerStats stats;
};

Accelerator::Accelerator(sc_core::sc_module_name name, const AcceleratorConfig& config,
                         std::unique_ptr<ArrayBackend> backend)
    : sc_module(name),
      dma_socket("dma_socket"),
      job_in("job_in"),
      done_out("done_out"),
      config_(validated(config)),
      backend_(backend ? std::move(backend)
                       : make_cpp_array(config_.array, config_.format, config_.mode)),
      activation_buffer_("activation_buffer", config_.buffers.activation_bytes),
      weight_buffer_("weight_buffer", config_.buffers.weight_bytes),
      output_buffer_("output_buffer", config_.buffers.output_bytes) {
  SC_THREAD(controller_thread);
  SC_THREAD(loader_thread);
  SC_THREAD(compute_thread);
  SC_THREAD(writer_thread);
}

Accelerator::~Accelerator() = default;

void Accelerator::check_fits(const GemmJob& job) const {
  const auto rows = static_cast<uint64_t>(config_.array.rows);
  const auto cols = static_cast<uint64_t>(config_.array.cols);
  const BufferConfig& b = config_.buffers;
  const std::string who = "layer '" + job.name + "': ";
  // One tile must fit; bytes are codes (W <= 8 bits, one byte each).
  if (b.activation_bytes < rows * job.k) {
    throw std::invalid_argument(who + "the activation buffer (" + bytes_text(b.activation_bytes) +
                                ") cannot hold one " + std::to_string(rows) + " x K=" +
                                std::to_string(job.k) + " tile (" + bytes_text(rows * job.k) +
                                ")");
  }
  if (b.weight_bytes < cols * job.k) {
    throw std::invalid_argument(who + "the weight buffer (" + bytes_text(b.weight_bytes) +
                                ") cannot hold one K=" + std::to_string(job.k) + " x " +
                                std::to_string(cols) + " tile (" + bytes_text(cols * job.k) +
                                ")");
  }
  if (b.output_bytes < rows * cols) {
    throw std::invalid_argument(who + "the output buffer (" + bytes_text(b.output_bytes) +
                                ") cannot hold one " + std::to_string(rows) + " x " +
                                std::to_string(cols) + " tile");
  }
}

uint64_t Accelerator::cycles(const sc_time& t) const {
  return static_cast<uint64_t>(t / config_.clock_period + 0.5);
}

bool Accelerator::transfer(tlm::tlm_command command, uint64_t address, unsigned char* data,
                           uint64_t length, sc_time& delay) {
  tlm::tlm_generic_payload payload;
  payload.set_command(command);
  payload.set_address(address);
  payload.set_data_ptr(data);
  payload.set_data_length(static_cast<unsigned int>(length));
  payload.set_streaming_width(static_cast<unsigned int>(length));
  payload.set_byte_enable_ptr(nullptr);
  payload.set_dmi_allowed(false);
  payload.set_response_status(tlm::TLM_INCOMPLETE_RESPONSE);
  dma_socket->b_transport(payload, delay);
  if (payload.is_response_error()) {
    fail(std::string("DMA ") + (command == tlm::TLM_READ_COMMAND ? "read" : "write") + " of " +
         bytes_text(length) + " at DRAM address " + std::to_string(address) +
         " failed: " + payload.get_response_string());
    return false;
  }
  (command == tlm::TLM_READ_COMMAND ? dma_bytes_read_ : dma_bytes_written_) += length;
  return true;
}

bool Accelerator::dma(tlm::tlm_command command, uint64_t address, unsigned char* data,
                      uint64_t length) {
  sc_time delay = sc_core::SC_ZERO_TIME;
  if (!transfer(command, address, data, length, delay)) return false;
  wait(delay);
  return true;
}

void Accelerator::controller_thread() {
  for (size_t li = 0;; ++li) {
    const GemmJob* job = job_in.read();
    if (job == nullptr) {
      // The host has no more work: the workers end (see loader_thread).
      no_more_work_ = true;
      layer_start_.notify(sc_core::SC_ZERO_TIME);
      return;
    }
    const GemmJob& layer = *job;
    auto plan = std::make_unique<Plan>();
    Plan& p = *plan;
    p.job = job;
    p.index = li;
    const auto R = static_cast<uint64_t>(config_.array.rows);
    const auto C = static_cast<uint64_t>(config_.array.cols);
    const BufferConfig& b = config_.buffers;
    p.weights_resident = layer.n * layer.k <= b.weight_bytes;
    p.a_slots = b.activation_bytes >= 2 * R * layer.k ? 2 : 1;
    p.w_slots = p.weights_resident ? 1 : (b.weight_bytes >= 2 * C * layer.k ? 2 : 1);
    p.out_slots = b.output_bytes >= 2 * R * C ? 2 : 1;
    p.a_slot_bytes = R * layer.k;
    p.w_pitch = p.weights_resident ? layer.n : C;
    p.w_slot_bytes = p.w_pitch * layer.k;
    p.out_slot_bytes = R * C;

    // Tiles, M-major so that an activation tile serves a whole row of output tiles.
    std::vector<size_t> last_tile_of_mrow;
    size_t mrow = 0;
    for (uint64_t m0 = 0; m0 < layer.m; m0 += R, ++mrow) {
      for (uint64_t n0 = 0; n0 < layer.n; n0 += C) {
        Tile t;
        t.m0 = m0;
        t.n0 = n0;
        t.rows = static_cast<int>(std::min(R, layer.m - m0));
        t.cols = static_cast<int>(std::min(C, layer.n - n0));
        t.load_a = n0 == 0;
        t.load_w = !p.weights_resident || m0 == 0;
        t.a_slot = static_cast<int>(mrow % static_cast<size_t>(p.a_slots));
        t.w_slot = p.weights_resident ? 0 : static_cast<int>(p.tiles.size() %
                                                             static_cast<size_t>(p.w_slots));
        // A slot reuse: the m-row a_slots back must be computed; W slot reuse likewise.
        size_t need = 0;
        if (t.load_a && mrow >= static_cast<size_t>(p.a_slots)) {
          need = last_tile_of_mrow[mrow - static_cast<size_t>(p.a_slots)] + 1;
        }
        if (!p.weights_resident && p.tiles.size() >= static_cast<size_t>(p.w_slots)) {
          need = std::max(need, p.tiles.size() - static_cast<size_t>(p.w_slots) + 1);
        }
        p.loads_wait_for.push_back(need);
        p.tiles.push_back(t);
      }
      last_tile_of_mrow.push_back(p.tiles.size() - 1);
    }

    LayerStats& s = p.stats;
    s.name = layer.name;
    s.m = layer.m;
    s.n = layer.n;
    s.k = layer.k;
    s.tiles = p.tiles.size();
    s.double_buffered = p.a_slots == 2 && (p.weights_resident || p.w_slots == 2);
    s.weights_resident = p.weights_resident;
    const ArrayActivity activity_before = backend_->activity();
    const uint64_t dma_read_before = dma_bytes_read_;
    const uint64_t dma_written_before = dma_bytes_written_;
    const Sram* buffers[] = {&activation_buffer_, &weight_buffer_, &output_buffer_};
    uint64_t sram_read_before = 0;
    uint64_t sram_written_before = 0;
    for (const Sram* buffer : buffers) {
      sram_read_before += buffer->bytes_read();
      sram_written_before += buffer->bytes_written();
    }
    p.start = sc_core::sc_time_stamp();
    plan_ = std::move(plan);
    layer_start_.notify(sc_core::SC_ZERO_TIME);

    while (plan_->written < plan_->tiles.size() && error_.empty()) wait(written_);
    if (!error_.empty()) {
      sc_core::sc_stop();
      return;
    }

    s.total_cycles = cycles(sc_core::sc_time_stamp() - p.start);
    s.macs = layer.m * layer.n * layer.k;
    finish_stats(s, config_.array);
    const ArrayActivity after = backend_->activity();
    s.zero_macs = after.zero_macs - activity_before.zero_macs;
    s.multiplies = s.macs - s.zero_macs;
    s.shifts = is_lbfp(config_.format) ? s.multiplies : 0;
    s.accumulates = s.macs - s.zero_macs;
    s.requantizations = layer.m * layer.n;
    s.dram_bytes_read = dma_bytes_read_ - dma_read_before;
    s.dram_bytes_written = dma_bytes_written_ - dma_written_before;
    uint64_t sram_read = 0;
    uint64_t sram_written = 0;
    for (const Sram* buffer : buffers) {
      sram_read += buffer->bytes_read();
      sram_written += buffer->bytes_written();
    }
    s.sram_bytes_read = sram_read - sram_read_before;
    s.sram_bytes_written = sram_written - sram_written_before;
    stats_.push_back(s);
    done_out.write(job);
  }
}

Accelerator::Plan* Accelerator::wait_for_layer(size_t next) {
  while (!no_more_work_ && (!plan_ || plan_->index != next)) wait(layer_start_);
  return no_more_work_ ? nullptr : plan_.get();
}

// The three workers end when the host has no more work, so that no buffer outlives the
// simulation on a suspended thread's stack (LeakSanitizer does not scan SystemC's coroutine
// stacks). Their heap state lives in members (plan_, staging_) for the same reason: after an
// error they stay suspended when the controller stops the simulation.
void Accelerator::loader_thread() {
  std::vector<Code>& staging = staging_;
  for (size_t next = 0;; ++next) {
    Plan* plan = wait_for_layer(next);
    if (plan == nullptr) return;
    Plan& p = *plan;
    const GemmJob& layer = *p.job;
    const uint64_t k = layer.k;
    for (size_t i = 0; i < p.tiles.size(); ++i) {
      const Tile& t = p.tiles[i];
      while (p.consumed < p.loads_wait_for[i]) wait(computed_);  // the slot is free again
      if (t.load_a) {
        const uint64_t bytes = static_cast<uint64_t>(t.rows) * k;
        Code* slot = activation_buffer_.write(
            {static_cast<uint64_t>(t.a_slot) * p.a_slot_bytes, 1, bytes, bytes});
        if (!dma(tlm::TLM_READ_COMMAND, layer.a_address + t.m0 * k, slot, bytes)) return;
      }
      if (t.load_w) {
        // Weight rows are contiguous in memory (one per output channel); the DMA stores them
        // transposed, K x C (or K x N when all weights stay resident), as the array reads them.
        const uint64_t bytes = static_cast<uint64_t>(t.cols) * k;
        staging.resize(bytes);
        if (!dma(tlm::TLM_READ_COMMAND, layer.w_address + t.n0 * k, staging.data(), bytes)) {
          return;
        }
        const uint64_t offset = p.weights_resident
                                    ? t.n0
                                    : static_cast<uint64_t>(t.w_slot) * p.w_slot_bytes;
        const uint64_t ldb = p.w_pitch;
        Code* block = weight_buffer_.write({offset, k, static_cast<uint64_t>(t.cols), ldb});
        for (uint64_t c = 0; c < static_cast<uint64_t>(t.cols); ++c) {
          for (uint64_t kk = 0; kk < k; ++kk) block[kk * ldb + c] = staging[c * k + kk];
        }
      }
      p.loaded = i + 1;
      loaded_.notify(sc_core::SC_ZERO_TIME);
    }
  }
}

void Accelerator::compute_thread() {
  const sc_time period = config_.clock_period;
  const auto tick = [&](int64_t n) { wait(period * static_cast<double>(n)); };
  // The array reports each tile's events from inside the backend calls below, in hand-over order.
  backend_->set_listener(
      {[this](uint64_t tile) {
         const auto [plan, i] = handed_[static_cast<size_t>(tile - first_handed_)];
         plan->consumed = i + 1;  // its operand slots are free again
         computed_.notify(sc_core::SC_ZERO_TIME);
       },
       [this](uint64_t tile, const TileResult& r) {
         const auto [plan, i] = handed_.front();
         if (tile != first_handed_) fail("the array finished tiles out of order");
         handed_.pop_front();
         ++first_handed_;
         finish_tile(*plan, i, r);
       }});
  for (size_t next = 0;; ++next) {
    Plan* plan = wait_for_layer(next);
    if (plan == nullptr) return;
    Plan& p = *plan;
    const GemmJob& layer = *p.job;
    LayerStats& s = p.stats;
    const auto out_slots = static_cast<size_t>(p.out_slots);
    try {
      for (size_t i = 0; i < p.tiles.size(); ++i) {
        const Tile& t = p.tiles[i];
        // Waiting for operands or output space; the array meanwhile finishes earlier tiles.
        // Each check follows a delta cycle: the loader and the writer, woken in the same cycle,
        // have then made their updates, whatever order the kernel runs the processes in.
        const sc_time waiting = sc_core::sc_time_stamp();
        uint64_t busy = 0;
        wait(sc_core::SC_ZERO_TIME);
        while ((p.loaded <= i || i >= p.written + out_slots) && error_.empty()) {
          if (backend_->busy()) {
            busy += static_cast<uint64_t>(backend_->step(tick));
            wait(sc_core::SC_ZERO_TIME);
          } else {
            wait(loaded_ | written_);
          }
        }
        if (!error_.empty()) return;
        s.compute_cycles += busy;
        s.stall_cycles += cycles(sc_core::sc_time_stamp() - waiting) - busy;

        const auto rows = static_cast<uint64_t>(t.rows);
        const auto cols = static_cast<uint64_t>(t.cols);
        TileJob job;
        job.rows = t.rows;
        job.cols = t.cols;
        job.k = static_cast<int64_t>(layer.k);
        // The array streams the tile's rows x K activations and K x cols weights.
        job.a = activation_buffer_.read({static_cast<uint64_t>(t.a_slot) * p.a_slot_bytes, 1,
                                         rows * layer.k, rows * layer.k});
        job.lda = layer.k;
        if (p.weights_resident) {
          job.b = weight_buffer_.read({t.n0, layer.k, cols, layer.n});
          job.ldb = layer.n;
          // The row's later tiles use the same activations: all their weights are loaded once
          // the first row of tiles is done.
          if (t.m0 > 0) {
            job.lookahead_cols = static_cast<int64_t>(layer.n - t.n0) - t.cols;
            if (t.n0 == 0) last_reuse_tag_ = ++reuse_tags_;  // a new row of tiles
            job.reuse_tag = last_reuse_tag_;
            if (p.weight_tag == 0) p.weight_tag = ++reuse_tags_;
            job.weight_tag = p.weight_tag;
          }
        } else {
          job.b = weight_buffer_.read(
              {static_cast<uint64_t>(t.w_slot) * p.w_slot_bytes, layer.k, cols, p.w_pitch});
          job.ldb = static_cast<size_t>(p.w_pitch);
        }
        job.a_exponent = layer.a_exponent;
        job.b_exponents = layer.w_exponents.data() + t.n0;
        job.bias = layer.bias.empty() ? nullptr : layer.bias.data() + t.n0;
        job.out_exponent = layer.out_exponent;
        job.relu = layer.relu;
        handed_.emplace_back(&p, i);
        s.compute_cycles += static_cast<uint64_t>(backend_->run_tile(job, tick));
      }
      // The layer's last tiles drain before the next layer starts.
      s.compute_cycles += static_cast<uint64_t>(backend_->flush(tick));
    } catch (const std::exception& e) {
      fail("layer '" + layer.name + "': " + e.what());
      return;
    }
  }
}

void Accelerator::finish_tile(Plan& p, size_t i, const TileResult& r) {
  const Tile& t = p.tiles[i];
  const auto rows = static_cast<uint64_t>(t.rows);
  const auto cols = static_cast<uint64_t>(t.cols);
  const auto out_slots = static_cast<size_t>(p.out_slots);
  Code* out = output_buffer_.write({(i % out_slots) * p.out_slot_bytes, rows, cols, cols});
  std::copy(r.codes.begin(), r.codes.end(), out);
  for (size_t j = 0; j < r.overflow.size(); ++j) {
    p.stats.outputs_saturated += r.overflow[j];
    p.stats.overflow_steps += r.overflow_steps[j];
  }
  p.computed = i + 1;
  computed_.notify(sc_core::SC_ZERO_TIME);
}

void Accelerator::writer_thread() {
  for (size_t next = 0;; ++next) {
    Plan* plan = wait_for_layer(next);
    if (plan == nullptr) return;
    Plan& p = *plan;
    const GemmJob& layer = *p.job;
    for (size_t i = 0; i < p.tiles.size(); ++i) {
      const Tile& t = p.tiles[i];
      while (p.computed <= i) wait(computed_);
      const auto rows = static_cast<uint64_t>(t.rows);
      const auto cols = static_cast<uint64_t>(t.cols);
      const Code* tile = output_buffer_.read(
          {(i % static_cast<size_t>(p.out_slots)) * p.out_slot_bytes, rows, cols, cols});
      // One 2-D descriptor: a row per transaction, issued back to back (loosely timed: the
      // delays accumulate and the thread waits once).
      sc_time delay = sc_core::SC_ZERO_TIME;
      for (uint64_t r = 0; r < rows; ++r) {
        const uint64_t address = layer.out_address + (t.m0 + r) * layer.n + t.n0;
        // The payload's data pointer is not const; a write only reads through it.
        if (!transfer(tlm::TLM_WRITE_COMMAND, address, const_cast<Code*>(tile) + r * cols, cols,
                      delay)) {
          return;
        }
      }
      wait(delay);
      p.written = i + 1;
      written_.notify(sc_core::SC_ZERO_TIME);
    }
  }
}

void Accelerator::fail(const std::string& what) {
  if (error_.empty()) error_ = what;
  written_.notify(sc_core::SC_ZERO_TIME);  // wakes the controller, which stops
}

}  // namespace lbfp::arch
