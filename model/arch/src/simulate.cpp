#include "lbfp/arch/simulate.h"

#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <ctime>
#include <cerrno>
#include <exception>
#include <future>
#include <memory>
#include <optional>
#include <stdexcept>
#include <thread>
#include <systemc>
#include <utility>
#include <vector>

#if defined(__linux__)
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif

#include "lbfp/arch/accelerator_top.h"
#include "lbfp/arch/accelerator_trace.h"
#include "lbfp/arch/device_top.h"
#include "lbfp/arch/input.h"
#include "lbfp/arch/rtl_array.h"
#include "lbfp/arch/scaled_layers.h"
#include "lbfp/arch/stats.h"

namespace lbfp::arch {
namespace {

std::vector<std::pair<std::string, NumberFormat>> formats_for(const std::string& choice,
                                                              const NumberFormat& arch_format) {
  check_format_choice(choice);
  if (scaled_format_named(choice)) return {{choice, arch_format}};  // section 13
  const int acc = acc_bits(arch_format);
  const bool arch_lbfp = is_lbfp(arch_format);
  const NumberFormat lbfp = arch_lbfp ? arch_format : NumberFormat(LbfpFormat(8, 4, 8, acc));
  const NumberFormat bfp = arch_lbfp ? NumberFormat(BfpFormat(8, acc)) : arch_format;
  if (choice == "arch") return {{format_name(arch_format), arch_format}};
  if (choice == "lbfp8") return {{format_name(lbfp), lbfp}};
  if (choice == "bfp8") return {{format_name(bfp), bfp}};
  return {{format_name(lbfp), lbfp}, {format_name(bfp), bfp}};  // both
}

std::string data_origin(const Workload& w, uint64_t seed) {
  return w.real_weights
             ? fmt::format("weights and biases from {}; activations seeded random (mt19937_64, "
                           "seed {}) ReLU(N(0,1)) per tensor; exponents by max calibration",
                           w.source, seed)
             : fmt::format("seeded random (mt19937_64, seed {}): activations ReLU(N(0,1)) per "
                           "tensor, weights N(0, 2/fan_in) per output channel, exponents by max "
                           "calibration",
                           seed);
}

// Every layer's codes are made before the simulation starts, for each format: refused when
// they would not fit the host memory budget.
void check_host_memory(const SimulationRequest& r, const Workload& w, size_t formats) {
  if (r.max_host_bytes == 0) return;
  long double host_bytes = 0;
  for (const LayerSpec& spec : w.layers) host_bytes += layer_data_bytes(spec);
  host_bytes *= static_cast<long double>(formats);
  if (host_bytes > static_cast<long double>(r.max_host_bytes)) {
    throw ConfigError(fmt::format(
        "{}: the workload's operands take {:.1f} GiB of memory for {} format(s), more than half "
        "of this machine's memory ({:.1f} GiB); refused before allocating",
        r.workload.empty() ? w.source : "--workload " + r.workload,
        static_cast<double>(host_bytes) / (1 << 30), formats,
        static_cast<double>(r.max_host_bytes) / (1 << 29)));
  }
}

// The per-group statistics of one accelerator summed into its workload's layers and the total.
void collect(FormatRun& run, const Workload& w, const std::vector<LayerStats>& stats,
             const std::vector<size_t>& owner, const ArchSpec& arch, const EnergyTable& energy,
             Dataflow dataflow) {
  run.layers.resize(w.layers.size());
  for (size_t li = 0; li < w.layers.size(); ++li) {
    const LayerSpec& spec = w.layers[li];
    LayerResult& l = run.layers[li];
    l.dataflow = dataflow;
    l.name = spec.name;
    l.shape = spec.shape_text();
    l.groups = spec.group_count();
    l.stats.name = spec.name;
    l.stats.m = spec.gemm_m();
    l.stats.n = spec.gemm_n() * spec.group_count();
    l.stats.k = spec.gemm_k();
  }
  for (size_t i = 0; i < stats.size(); ++i) accumulate_stats(run.layers[owner[i]].stats, stats[i]);
  for (LayerResult& l : run.layers) {
    finish_stats(l.stats, arch.accel.array);
    l.energy = layer_energy_for(l.stats,
                                run.datapath.empty() ? (run.lbfp ? "lbfp" : "bfp") : run.datapath,
                                energy, arch.accel.buffers, dataflow);
    accumulate_stats(run.total, l.stats);
    run.energy += l.energy;
  }
  finish_stats(run.total, arch.accel.array);
}

// --dataflow best: per layer, the run (one per dataflow) with the fewest cycles (or the least
// energy; a tie keeps the earlier dataflow: os, ws, is), summed into one run.
FormatRun choose_per_layer(const std::vector<FormatRun>& runs,
                           const std::vector<Dataflow>& dataflows, const std::string& by,
                           const ArchSpec& arch) {
  FormatRun best;
  best.format = runs.front().format;
  best.lbfp = runs.front().lbfp;
  best.datapath = runs.front().datapath;
  for (size_t d = 0; d < runs.size(); ++d) {
    best.fixed.push_back({dataflows[d], runs[d].total, runs[d].energy, 0, {}, {}});
    for (const LayerResult& l : runs[d].layers) {
      best.fixed.back().layer_cycles.push_back(l.stats.total_cycles);
      best.fixed.back().layer_energy_pj.push_back(l.energy.total_pj());
    }
  }
  const auto cost = [&by](const LayerResult& l) {
    return by == "energy" ? l.energy.total_pj() : static_cast<double>(l.stats.total_cycles);
  };
  for (size_t li = 0; li < runs.front().layers.size(); ++li) {
    size_t pick = 0;
    for (size_t d = 1; d < runs.size(); ++d) {
      if (cost(runs[d].layers[li]) < cost(runs[pick].layers[li])) pick = d;
    }
    best.layers.push_back(runs[pick].layers[li]);
    ++best.fixed[pick].layers_chosen;
    accumulate_stats(best.total, best.layers.back().stats);
    best.energy += best.layers.back().energy;
  }
  finish_stats(best.total, arch.accel.array);
  return best;
}

// One accelerator's system: the device that host software drives through the driver
// (DeviceTop), or the direct path (AcceleratorTop).
class System {
 public:
  System(const std::string& name, const AcceleratorConfig& config,
         std::unique_ptr<ArrayBackend> backend, bool direct) {
    if (direct) {
      top_ = std::make_unique<AcceleratorTop>(name.c_str(), config, std::move(backend));
    } else {
      device_ = std::make_unique<DeviceTop>(name.c_str(), config, std::move(backend));
    }
  }
  void add_layer(GemmLayer layer, LayerSource source = {}) {
    device_ ? device_->add_layer(std::move(layer), std::move(source))
            : top_->add_layer(std::move(layer), std::move(source));
  }
  void set_progress(std::function<void(size_t, size_t)> progress) {
    device_ ? device_->set_progress(std::move(progress)) : top_->set_progress(std::move(progress));
  }
  void keep_outputs(bool keep) {
    device_ ? device_->keep_outputs(keep) : top_->keep_outputs(keep);
  }
  const Accelerator& accelerator() const {
    return device_ ? device_->accelerator() : top_->accelerator();
  }
  std::vector<LayerStats> stats() const { return device_ ? device_->stats() : top_->stats(); }
  bool finished() const { return device_ ? device_->finished() : top_->finished(); }
  const std::string& error() const { return device_ ? device_->error() : top_->error(); }

 private:
  std::unique_ptr<DeviceTop> device_;
  std::unique_ptr<AcceleratorTop> top_;
};

// The `lbfp sim` command that reruns this simulation for one format (a mismatch report's).
std::string reproduce_command(const SimulationRequest& r, const std::string& format) {
  std::string command = "lbfp sim --array rtl --format " + format;
  if (!r.arch.empty()) command += " --arch " + r.arch;
  if (!r.workload.empty()) command += " --workload " + r.workload;
  if (!r.energy.empty()) command += " --energy " + r.energy;
  for (const std::string& o : r.overrides) command += " --set " + o;
  command += " --seed " + std::to_string(r.seed);
  if (!r.rtl_cache.empty()) command += " --rtl-cache " + r.rtl_cache;
  return command;
}

// A SystemC context elaborates once: after sc_start(), making a module in it fails (SystemC
// 2.3.4: "(E529) insert module failed: simulation running"). A simulation after another in the
// same process (the Python package's lbfp.sim.run, tests) gets a fresh context, as
// sc_get_curr_simcontext() makes the first one. The used context is left allocated: after
// sc_start() returns, its thread processes are suspended coroutines of modules already
// destroyed, which its destructor would touch; what stays allocated is measured in
// docs/python.md. The used contexts stay reachable from a list, so a leak checker (the
// sanitizer stage's LeakSanitizer) does not report them.
void fresh_simcontext() {
  // Never destroyed, and never deletes them (see above).
  static auto* const retired = new std::vector<sc_core::sc_simcontext*>;
  sc_core::sc_simcontext* used = sc_core::sc_get_curr_simcontext();
  if (!used->elaboration_done() && sc_core::sc_get_top_level_objects(used).empty()) return;
  retired->push_back(used);
  sc_core::sc_curr_simcontext = new sc_core::sc_simcontext;
  sc_core::sc_default_global_context = sc_core::sc_curr_simcontext;
}

// Lowers the calling thread's scheduling priority (nice 10 above its own) on Linux, where each
// thread has its own nice value and the threads it starts inherit it; elsewhere nothing. The
// data threads run ahead of the simulation, which is the critical path: when both want a core,
// the SystemC thread and the kernels' worker go first, and the data threads take what is left
// (they get the cores whenever the simulation waits for them). The values do not depend on it.
void lower_priority() {
#if defined(__linux__)
  const auto tid = static_cast<id_t>(syscall(SYS_gettid));
  errno = 0;
  const int now = getpriority(PRIO_PROCESS, tid);
  if (errno == 0) setpriority(PRIO_PROCESS, tid, std::min(19, now + 10));
#endif
}

// The calling thread's CPU time so far, in nanoseconds (0 where there is no such clock).
int64_t thread_cpu_ns() {
#if defined(CLOCK_THREAD_CPUTIME_ID)
  timespec t{};
  if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t) == 0) {
    return static_cast<int64_t>(t.tv_sec) * 1000000000 + t.tv_nsec;
  }
#endif
  return 0;
}

// Adds the CPU time the calling thread takes from its construction to its destruction to a
// total.
class ThreadCpuTime {
 public:
  explicit ThreadCpuTime(std::atomic<int64_t>& total) : total_(total), start_(thread_cpu_ns()) {}
  ThreadCpuTime(const ThreadCpuTime&) = delete;
  ThreadCpuTime& operator=(const ThreadCpuTime&) = delete;
  ~ThreadCpuTime() { total_.fetch_add(thread_cpu_ns() - start_, std::memory_order_relaxed); }

 private:
  std::atomic<int64_t>& total_;
  const int64_t start_;
};

// Makes every layer's codes, in order, on threads of its own while the simulation runs, and
// hands each group to the accelerators of its format when their hosts reach it (from the
// SystemC thread; only that thread calls take()). The values do not depend on the threads or
// on the timing: one seeded draw per layer, as before the simulation.
class LayerFeed {
 public:
  LayerFeed(const std::vector<LayerSpec>& layers,
            const std::vector<std::pair<std::string, NumberFormat>>& formats,
            std::vector<size_t> consumers, uint64_t seed, uint64_t dram_bytes, Im2col im2col)
      : layers_(layers), formats_(formats), consumers_(std::move(consumers)), seed_(seed),
        dram_bytes_(dram_bytes), im2col_(im2col), slots_(layers.size() * formats.size()) {
    for (Slot& slot : slots_) slot.future = slot.promise.get_future();
  }
  LayerFeed(const LayerFeed&) = delete;
  LayerFeed& operator=(const LayerFeed&) = delete;
  ~LayerFeed() {
    stopping_ = true;
    if (producer_.joinable()) producer_.join();
  }

  void start() { producer_ = std::thread([this] { produce(); }); }

  // Group g of layer li in format f, waiting until it is made. The last accelerator of the
  // format to take it gets the codes themselves, the others a copy. A data error stops the
  // simulation (sc_stop) and is rethrown by stop().
  GemmLayer take(size_t li, size_t f, size_t g) {
    Slot& slot = slots_[li * formats_.size() + f];
    if (!slot.taken) {
      const auto wait_started = std::chrono::steady_clock::now();
      try {
        slot.groups = slot.future.get();
      } catch (...) {
        error_ = std::current_exception();
        sc_core::sc_stop();
        throw;
      }
      waited_seconds_ += std::chrono::duration<double>(std::chrono::steady_clock::now() -
                                                       wait_started).count();
      slot.taken = true;
      slot.takers_left.assign(slot.groups.size(), consumers_[f]);
    }
    if (--slot.takers_left.at(g) == 0) return std::move(slot.groups[g]);
    return slot.groups[g];
  }

  double waited_seconds() const { return waited_seconds_; }
  // The data threads' CPU time (complete after stop()).
  double cpu_seconds() const { return 1e-9 * static_cast<double>(cpu_ns_.load()); }

  // After the simulation: waits for the data threads; rethrows the first data error.
  void stop() {
    stopping_ = true;
    if (producer_.joinable()) producer_.join();
    if (error_) std::rethrow_exception(error_);
  }

 private:
  struct Slot {
    std::promise<std::vector<GemmLayer>> promise;
    std::future<std::vector<GemmLayer>> future;
    std::vector<GemmLayer> groups;
    std::vector<size_t> takers_left;
    bool taken = false;
  };

  void produce() {
    const ThreadCpuTime cpu(cpu_ns_);
    lower_priority();  // the threads it starts inherit it
    size_t set = 0;  // slots whose promise is kept, in order
    try {
      // Each layer's values are drawn into the memory of those of two layers before (`spare`),
      // so that the draws touch no new pages.
      auto draw = [this](size_t li, LayerValues reuse) {
        return std::async(std::launch::async, [this, li, reuse = std::move(reuse)]() mutable {
          const ThreadCpuTime draw_cpu(cpu_ns_);
          return make_layer_values(layers_[li], seed_ * 1000003u + li, dram_bytes_,
                                   std::move(reuse));
        });
      };
      // The two buffers the layers take turns in, with room for the largest layer.
      auto reserved = [this] { return reserved_layer_values(layers_, dram_bytes_); };
      LayerValues spare = reserved();
      std::future<LayerValues> next =
          layers_.empty() ? std::future<LayerValues>() : draw(0, reserved());
      for (size_t li = 0; li < layers_.size() && !stopping_; ++li) {
        LayerValues values = next.get();
        if (li + 1 < layers_.size()) next = draw(li + 1, std::move(spare));
        // Each format's codes from the shared values: the later formats on their own threads.
        std::vector<std::future<std::vector<GemmLayer>>> later;
        for (size_t f = 1; f < formats_.size(); ++f) {
          later.push_back(std::async(std::launch::async, [this, &values, li, f] {
            const ThreadCpuTime format_cpu(cpu_ns_);
            return make_layer_data(layers_[li], values, formats_[f].second, im2col_);
          }));
        }
        for (size_t f = 0; f < formats_.size(); ++f) {
          slots_[set].promise.set_value(
              f == 0 ? make_layer_data(layers_[li], values, formats_[f].second, im2col_)
                     : later[f - 1].get());
          ++set;
        }
        spare = std::move(values);
      }
      if (next.valid()) next.wait();
    } catch (...) {
      for (; set < slots_.size(); ++set) {
        slots_[set].promise.set_exception(std::current_exception());
      }
      return;
    }
    // Stopped early (the simulation failed): nobody waits for the rest.
    for (; set < slots_.size(); ++set) {
      slots_[set].promise.set_exception(std::make_exception_ptr(
          std::runtime_error("the layers' data were not made: the simulation stopped")));
    }
  }

  const std::vector<LayerSpec>& layers_;
  const std::vector<std::pair<std::string, NumberFormat>>& formats_;
  const std::vector<size_t> consumers_;
  const uint64_t seed_;
  const uint64_t dram_bytes_;
  const Im2col im2col_;
  std::vector<Slot> slots_;  // layer-major, then format
  std::thread producer_;
  std::atomic<bool> stopping_{false};
  std::exception_ptr error_;
  double waited_seconds_ = 0;
  std::atomic<int64_t> cpu_ns_{0};
};

}  // namespace

void check_format_choice(const std::string& format) {
  if (scaled_format_named(format)) return;  // spec section 13 (docs/formats.md)
  if (format != "lbfp8" && format != "bfp8" && format != "both" && format != "arch") {
    throw ConfigError("--format " + format + ": expected lbfp8, bfp8, both, arch, mxint8, "
                      "mxfp8-e4m3, mxfp8-e5m2, fp8-e4m3, fp8-e5m2 or int8");
  }
}

void check_dataflow_choice(const std::string& dataflow, const std::string& best_by) {
  if (!dataflow.empty() && dataflow != "best" && !parse_dataflow(dataflow)) {
    throw ConfigError("--dataflow " + dataflow + ": expected os, ws, is or best");
  }
  if (best_by != "cycles" && best_by != "energy") {
    throw ConfigError("--best-by " + best_by + ": expected cycles or energy");
  }
}

void check_mode_choice(const std::string& mode) {
  if (!mode.empty() && mode != "cycle" && mode != "tile") {
    throw ConfigError("--mode " + mode + ": expected cycle or tile");
  }
}

SimReport simulate(const SimulationRequest& r, const SimProgress& progress,
                   const std::function<void()>& ready) {
  const auto started = std::chrono::steady_clock::now();
  fresh_simcontext();
  SimReport report;
  report.arch = load_arch(r.arch.empty() ? kDefaultArch : r.arch, r.overrides,
                          r.format == "bfp8" ? "bfp8" : "lbfp8");
  if (r.warn) {
    for (const std::string& w : report.arch.warnings) r.warn(w);
  }
  report.workload =
      load_workload(r.workload.empty() ? kDefaultWorkload : r.workload, read_text_file);
  if (r.workload.empty()) report.workload.source = "<embedded> ResNet-18 (sim/workloads/resnet18.csv)";
  const std::string energy_path = !r.energy.empty() ? r.energy : report.arch.energy_path;
  if (energy_path.empty()) {
    throw ConfigError(report.arch.path + ": no energy table: add 'energy: FILE' or pass --energy");
  }
  report.energy = load_energy(energy_path);
  report.seed = r.seed;
  report.array = r.array;
  if (r.array != "cpp" && r.array != "rtl") {
    throw ConfigError("--array " + r.array + ": expected cpp or rtl");
  }
  const std::string mode = r.mode.empty() ? (r.array == "rtl" ? "cycle" : "tile") : r.mode;
  check_mode_choice(mode);
  if (r.array == "rtl" && mode != "cycle") {
    throw ConfigError("--array rtl runs cycle by cycle: use --mode cycle");
  }
  report.mode = mode;
  if (!r.trace_window.empty() && (r.array != "rtl" || r.trace.empty())) {
    throw ConfigError("--trace-window " + r.trace_window +
                      ": a window of RTL cycles needs --array rtl and --trace");
  }
  if (r.array == "rtl" && !r.trace.empty() && formats_for(r.format, report.arch.accel.format).size() > 1) {
    throw ConfigError("--trace " + r.trace + " with --array rtl traces one array: add --format "
                      "lbfp8, bfp8 or arch");
  }
  check_dataflow_choice(r.dataflow, r.best_by);
  report.dataflow = r.dataflow;
  report.best_by = r.dataflow == "best" ? r.best_by : "";
  std::vector<Dataflow> dataflows = {report.arch.accel.array.dataflow};
  if (r.dataflow == "best") {
    if (r.array == "rtl") {
      throw ConfigError("--dataflow best runs every dataflow on the C++ array: use --array cpp");
    }
    dataflows = {Dataflow::kOutputStationary, Dataflow::kWeightStationary,
                 Dataflow::kInputStationary};
  } else if (!r.dataflow.empty()) {
    report.arch.accel.array.dataflow = *parse_dataflow(r.dataflow);
    dataflows = {report.arch.accel.array.dataflow};
  }
  const Im2col im2col = parse_im2col(r.im2col);
  report.im2col = r.im2col;
  report.data_origin = data_origin(report.workload, r.seed);

  // A format of spec section 13 (docs/formats.md, "The architecture model"): its own array, the
  // host's direct path (the driver's descriptor has no field for its scales), its datapath's
  // energy from the table's synthesis figures.
  const std::optional<ScaledFormat> scaled = scaled_format_named(r.format);
  std::string scaled_datapath;
  if (scaled) {
    const std::string what = "--format " + r.format;
    if (r.array == "rtl") {
      throw ConfigError(what + ": the model has no RTL array of " + r.format +
                        "; use --array cpp");
    }
    if (scaled->is_mx()) {
      for (Dataflow d : dataflows) {
        if (d != Dataflow::kOutputStationary) {
          throw ConfigError(what + " runs on the output-stationary array only (the " +
                            std::string(dataflow_name(d)) + " array's folds of R reduction "
                            "steps would split its 32-element blocks): use --dataflow os");
        }
      }
    }
    report.data_origin +=
        "; " + r.format + " codes and scales from those values: " +
        (scaled->is_mx() ? std::string("an E8M0 scale per 32-channel block (spec 13.3)")
                         : std::string("FP32 scales by max calibration, per tensor") +
                               (scaled->is_float() ? "" : " (weights per output channel)"));
    scaled_datapath = energy_section(*scaled);
    for (const char* action : {"_multiply", "_accumulate"}) {
      const std::string key = scaled_datapath + action;
      const auto it = report.energy.format_pj.find(key);
      if (it == report.energy.format_pj.end()) {
        throw ConfigError(report.energy.path + ": no energy for '" + key + "' (" + what +
                          "): a table prices it from its 'synthesis:' file's " +
                          scaled_datapath + " section (configs/energy/osu018_synth.yaml)");
      }
      report.energy.pj[key] = it->second;
      report.energy.sources[key] = report.energy.format_sources.at(key);
    }
  }
  const auto formats =
      scaled ? std::vector<std::pair<std::string, NumberFormat>>{{scaled->name(),
                                                                 report.arch.accel.format}}
             : formats_for(r.format, report.arch.accel.format);
  check_host_memory(r, report.workload, formats.size());
  // The layers' data: one seeded draw per layer, shared by the formats (the same values, each
  // format's codes, made side by side), the next layer's drawn on another thread meanwhile;
  // all of it while the accelerators are built and the simulation runs, which waits for a
  // layer's codes only when its host reaches the layer. Every layer is checked and added, with
  // its shape, before the start (a layer that fails its check throws here, before the data
  // threads could report it; they stop with the feed). One accelerator per format and dataflow.
  const auto& layers = report.workload.layers;
  const uint64_t dram_bytes = report.arch.accel.dram.size_bytes;
  LayerFeed feed(layers, formats, std::vector<size_t>(formats.size(), dataflows.size()), r.seed,
                 dram_bytes, im2col);
  if (!scaled) feed.start();
  std::vector<std::unique_ptr<System>> accelerators;
  std::vector<std::vector<size_t>> owners;  // per accelerator: workload layer of each group
  std::vector<Dataflow> accelerator_dataflows;
  std::unique_ptr<AcceleratorTrace> trace;
  std::vector<size_t> accelerator_formats;  // per accelerator: its index in formats
  size_t format_index = 0;
  if (r.array != "rtl" && !r.trace.empty()) trace = std::make_unique<AcceleratorTrace>(r.trace);
  for (const auto& [format_label, format] : formats) {
    for (Dataflow dataflow : dataflows) {
      // One accelerator per format (and per dataflow for `best`, named after it).
      const std::string name =
          dataflows.size() == 1 ? format_label : format_label + "_" + dataflow_short_name(dataflow);
      AcceleratorConfig cfg = report.arch.accel;
      cfg.array.dataflow = dataflow;
      cfg.format = format;
      cfg.mode = mode == "cycle" ? SimMode::kCycle : SimMode::kTile;
      cfg.scaled = scaled;
      std::unique_ptr<ArrayBackend> backend;
      if (r.array == "rtl") {
        RtlArrayOptions rtl_options;
        rtl_options.rtl_cache = r.rtl_cache;
        rtl_options.trace = r.trace;
        rtl_options.trace_window = r.trace_window;
        rtl_options.reproduce = reproduce_command(r, name == format_name(report.arch.accel.format)
                                                         ? "arch"
                                                         : (is_lbfp(format) ? "lbfp8" : "bfp8"));
        backend = make_rtl_array(cfg.array, format, rtl_options);
      }
      auto acc = std::make_unique<System>(name, cfg, std::move(backend), r.direct || scaled);
      acc->keep_outputs(false);  // the report is made of the statistics
      if (trace) trace->add(acc->accelerator(), name);
      accelerator_formats.push_back(format_index);
      if (progress) {
        acc->set_progress([&progress, name = name](size_t done, size_t total) {
          progress(name, done, total);
        });
      }
      FormatRun run;
      run.format = format_label;
      run.lbfp = !scaled && is_lbfp(format);
      run.datapath = scaled_datapath;
      report.runs.push_back(run);
      accelerators.push_back(std::move(acc));
      owners.emplace_back();
      accelerator_dataflows.push_back(dataflow);
    }
    ++format_index;
  }
  double scaled_data_seconds = 0;
  std::atomic<int64_t> scaled_data_cpu_ns{0};
  for (size_t li = 0; li < layers.size(); ++li) {
    check_layer_values(layers[li], dram_bytes);
    if (scaled) {
      // A format of spec section 13 runs alone, its layers made before the start: the planner
      // sizes their scale blocks from the layer's scales (lbfp/arch/scaled_layers.h).
      const auto data_started = std::chrono::steady_clock::now();
      std::vector<GemmLayer> groups;
      {  // the data's CPU time over the same work as its wall time
        const ThreadCpuTime cpu(scaled_data_cpu_ns);
        const LayerValues values =
            make_layer_values(layers[li], r.seed * 1000003u + li, dram_bytes);
        groups = make_scaled_layer_data(layers[li], values, *scaled, im2col);
      }
      scaled_data_seconds +=
          std::chrono::duration<double>(std::chrono::steady_clock::now() - data_started).count();
      for (size_t a = 0; a < accelerators.size(); ++a) {
        for (const GemmLayer& g : groups) {
          accelerators[a]->add_layer(g);
          owners[a].push_back(li);
        }
      }
      continue;
    }
    const std::vector<GemmLayer> shapes = make_layer_shapes(layers[li], im2col);
    for (size_t f = 0; f < formats.size(); ++f) {
      for (size_t a = 0; a < accelerators.size(); ++a) {
        if (accelerator_formats[a] != f) continue;
        for (size_t g = 0; g < shapes.size(); ++g) {
          accelerators[a]->add_layer(shapes[g], [&feed, li, f, g] { return feed.take(li, f, g); });
          owners[a].push_back(li);
        }
      }
    }
  }
  if (ready) ready();

  const auto simulation_started = std::chrono::steady_clock::now();
  sc_core::sc_start();
  const double waited_seconds = feed.waited_seconds();
  feed.stop();  // rethrows the error that stopped the data, if one did
  // The simulation's wait for data; the rest of the data's time overlaps the simulation.
  report.data_seconds = scaled_data_seconds + waited_seconds;
  report.data_cpu_seconds =
      1e-9 * static_cast<double>(scaled_data_cpu_ns.load()) + feed.cpu_seconds();
  report.simulation_seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - simulation_started)
          .count() -
      waited_seconds;
  for (const auto& acc : accelerators) {
    if (!acc->finished()) {
      throw SimulationError(acc->error().empty() ? "the model stopped early" : acc->error());
    }
  }
  for (size_t f = 0; f < accelerators.size(); ++f) {
    collect(report.runs[f], report.workload, accelerators[f]->stats(), owners[f], report.arch,
            report.energy, accelerator_dataflows[f]);
  }
  if (dataflows.size() > 1) {
    std::vector<FormatRun> chosen;
    for (size_t f = 0; f < report.runs.size(); f += dataflows.size()) {
      chosen.push_back(choose_per_layer(
          std::vector<FormatRun>(report.runs.begin() + static_cast<long>(f),
                                 report.runs.begin() + static_cast<long>(f + dataflows.size())),
          dataflows, r.best_by, report.arch));
    }
    report.runs = std::move(chosen);
  }
  report.wall_seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  return report;
}

}  // namespace lbfp::arch
