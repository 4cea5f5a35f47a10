// Simulated MACs per second of the architecture model's three array implementations on the same
// 16 x 16 LBFP8 configuration and workload: the C++ array stepped cycle by cycle in SystemC, the
// Verilated RTL array in its place, and the tile-level mode. A SystemC simulation elaborates once
// per process, so each runs in a child process of this one run; the ratios are to the RTL's rate
// measured in the same run. The C++ modes run several times (in fresh children) and report the
// median, since one of their runs lasts only milliseconds.
//
//   build/default/sim/bench/lbfp_arch_bench [M N K [rtl|cycle|tile]]   (default 512 512 256)
#include <fmt/format.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>
#include <systemc>

#include "lbfp/arch/accelerator_top.h"
#include "lbfp/arch/rtl_array.h"

namespace {

using namespace lbfp;
using namespace lbfp::arch;

struct Measurement {
  double seconds = 0;
  uint64_t cycles = 0;
  uint64_t macs = 0;
  int ok = 0;
};

GemmLayer workload(uint64_t m, uint64_t n, uint64_t k) {
  std::mt19937 rng(1);
  std::uniform_int_distribution<int> code(0, 255);
  std::uniform_int_distribution<int> zero(0, 1);
  GemmLayer l;
  l.name = "bench";
  l.m = m;
  l.n = n;
  l.k = k;
  for (uint64_t i = 0; i < m * k; ++i) l.a.push_back(zero(rng) ? Code{0} : static_cast<Code>(code(rng) & 0x7f));
  for (uint64_t i = 0; i < n * k; ++i) l.w.push_back(static_cast<Code>(code(rng)));
  l.a_exponent = 2;
  l.w_exponents.assign(n, 0);
  l.out_exponent = 8;
  return l;
}

Measurement run(const std::string& mode, uint64_t m, uint64_t n, uint64_t k) {
  AcceleratorConfig cfg;
  cfg.array = {16, 16, 1};
  cfg.format = LbfpFormat();
  cfg.mode = mode == "tile" ? SimMode::kTile : SimMode::kCycle;
  cfg.dram.size_bytes = uint64_t{1} << 28;
  std::unique_ptr<ArrayBackend> backend;
  if (mode == "rtl") backend = make_rtl_array(cfg.array, cfg.format);
  AcceleratorTop acc("acc", cfg, std::move(backend));
  acc.add_layer(workload(m, n, k));
  const auto start = std::chrono::steady_clock::now();
  sc_core::sc_start();
  Measurement r;
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  r.cycles = acc.stats().at(0).total_cycles;
  r.macs = acc.stats().at(0).macs;
  r.ok = acc.finished() ? 1 : 0;
  return r;
}

// Runs one mode in a child process and reads its measurement back through a pipe.
Measurement in_child(const std::string& mode, uint64_t m, uint64_t n, uint64_t k) {
  int fds[2];
  if (pipe(fds) != 0) std::exit(1);
  const pid_t pid = fork();
  if (pid == 0) {
    close(fds[0]);
    Measurement r = run(mode, m, n, k);
    if (write(fds[1], &r, sizeof r) != static_cast<ssize_t>(sizeof r)) _exit(1);
    _exit(0);
  }
  close(fds[1]);
  Measurement r;
  if (read(fds[0], &r, sizeof r) != static_cast<ssize_t>(sizeof r)) r.ok = 0;
  close(fds[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  return r;
}

}  // namespace

int sc_main(int argc, char** argv) {
  sc_core::sc_report_handler::set_actions(sc_core::SC_INFO, sc_core::SC_DO_NOTHING);
  uint64_t m = 512, n = 512, k = 256;
  std::string only;  // a fifth argument runs one mode in this process (for profilers)
  if (argc == 5) only = argv[4];
  if (argc == 4 || argc == 5) {
    m = std::strtoull(argv[1], nullptr, 10);
    n = std::strtoull(argv[2], nullptr, 10);
    k = std::strtoull(argv[3], nullptr, 10);
  }
  fmt::print("LBFP8 16x16 output-stationary array, GEMM M={} N={} K={}, DRAM 16 B/cycle\n", m, n,
             k);
  fmt::print("{:<34} {:>12} {:>9} {:>14} {:>14} {:>9}\n", "array implementation", "cycles",
             "wall s", "Mcycles/s", "MMAC/s", "x RTL");
  if (!only.empty()) {
    const Measurement r = run(only, m, n, k);
    fmt::print("{}: {} cycles in {:.4f} s\n", only, r.cycles, r.seconds);
    return r.ok ? 0 : 1;
  }
  // The RTL runs once (seconds); the C++ modes take milliseconds, so each runs in several
  // children and the median is reported, with the spread, to keep one noisy run from deciding.
  const char* modes[] = {"rtl", "cycle", "tile"};
  const int repetitions[] = {1, 5, 9};
  const char* names[] = {"Verilated RTL in SystemC", "C++ array, cycle by cycle",
                         "C++ array, tile level (kernel)"};
  double rtl_rate = 0;
  int failures = 0;
  for (int i = 0; i < 3; ++i) {
    std::vector<Measurement> runs;
    for (int rep = 0; rep < repetitions[i]; ++rep) {
      const Measurement r = in_child(modes[i], m, n, k);
      if (!r.ok) break;
      runs.push_back(r);
    }
    if (runs.size() != static_cast<size_t>(repetitions[i])) {
      fmt::print("{:<34} failed\n", names[i]);
      ++failures;
      continue;
    }
    std::sort(runs.begin(), runs.end(),
              [](const Measurement& a, const Measurement& b) { return a.seconds < b.seconds; });
    const Measurement& r = runs[runs.size() / 2];
    const auto rate_of = [](const Measurement& x) { return static_cast<double>(x.macs) / x.seconds; };
    const double rate = rate_of(r);
    if (i == 0) rtl_rate = rate;
    std::string spread;
    if (runs.size() > 1 && rtl_rate > 0) {
      spread = fmt::format("  (median of {}, {:.1f}..{:.1f})", runs.size(),
                           rate_of(runs.back()) / rtl_rate, rate_of(runs.front()) / rtl_rate);
    }
    fmt::print("{:<34} {:>12} {:>9.3f} {:>14.3f} {:>14.1f} {:>9.1f}{}\n", names[i], r.cycles,
               r.seconds, static_cast<double>(r.cycles) / r.seconds * 1e-6, rate * 1e-6,
               rtl_rate > 0 ? rate / rtl_rate : 0.0, spread);
  }
  return failures == 0 ? 0 : 1;
}
