// `lbfp sim`'s default run (ResNet-18, LBFP8 and BFP8, every output exact) against the bare GEMM
// kernels computing the same multiply-accumulates on the same operands, in one run of this
// program: the ratio of the two times is the simulator's overhead over the arithmetic it must do.
// Also SCALE-Sim's ResNet-18 topology (the same embedded file) at 16 x 16 in one format, against
// SCALE-Sim v2's 703.6 s for it.
//
// A SystemC simulation elaborates once per process, so each simulation runs in a child process:
// `simulate()` and the report files' contents (built in memory, as `lbfp sim` builds them before
// writing), timed in wall-clock and CPU time. The kernels run in this process on the layers'
// im2col'ed operands (the same seeded values and codes as the simulation's), each group one
// `gemm_accumulate` call with 2 threads, in a child process too, the data made beforehand
// (untimed). The runs alternate and the medians are reported.
//
//   build/default/sim/bench/lbfp_sim_bench [REPETITIONS]   (default 5)
#include <fmt/format.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <systemc>
#include <vector>

#include "lbfp/arch/config.h"
#include "lbfp/arch/input.h"
#include "lbfp/arch/report.h"
#include "lbfp/arch/scalesim_report.h"
#include "lbfp/arch/simulate.h"
#include "lbfp/gemm.h"
#include "lbfp/workload/workload.h"

namespace {

using namespace lbfp;
using namespace lbfp::arch;

constexpr double kScaleSimSeconds = 703.6;  // SCALE-Sim v2, ResNet-18, 16 x 16, one format

struct Measurement {
  double wall_s = 0;        // simulate() and the reports' contents
  double cpu_s = 0;         // user + system time of the child, all its threads
  double data_s = 0;        // SimReport::data_seconds
  double simulation_s = 0;  // SimReport::simulation_seconds
  double data_cpu_s = 0;    // SimReport::data_cpu_seconds
  double reports_s = 0;
  uint64_t macs = 0;
  int ok = 0;
};

double cpu_seconds(int who) {
  rusage u{};
  getrusage(who, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         1e-6 * static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec);
}

// The default `lbfp sim` run (format "both") or one format, in this process.
Measurement simulate_once(const std::string& format) {
  SimulationRequest request;
  request.format = format;
  const auto start = std::chrono::steady_clock::now();
  const SimReport report = simulate(request);
  const auto reports_start = std::chrono::steady_clock::now();
  std::ostringstream printed;
  print_report(printed, report);
  size_t bytes = printed.str().size() + layers_csv(report).size() + summary_json(report).size() +
                 plot_svg(report).size() + report_html(report).size();
  for (const auto& file : report_charts(report)) bytes += file.second.size();
  for (const auto& file : scalesim_reports(report)) bytes += file.second.size();
  const auto end = std::chrono::steady_clock::now();
  Measurement m;
  m.wall_s = std::chrono::duration<double>(end - start).count();
  m.reports_s = std::chrono::duration<double>(end - reports_start).count();
  m.data_s = report.data_seconds;
  m.simulation_s = report.simulation_seconds;
  m.data_cpu_s = report.data_cpu_seconds;
  for (const FormatRun& run : report.runs) m.macs += run.total.macs;
  m.ok = bytes > 0 ? 1 : 0;
  return m;
}

Measurement in_child(const std::string& format) {
  int fds[2];
  if (pipe(fds) != 0) std::exit(1);
  const pid_t pid = fork();
  if (pid == 0) {
    close(fds[0]);
    Measurement r;
    try {
      r = simulate_once(format);
    } catch (const std::exception& e) {
      fmt::print(stderr, "lbfp_sim_bench: {}\n", e.what());
    }
    if (write(fds[1], &r, sizeof r) != static_cast<ssize_t>(sizeof r)) _exit(1);
    _exit(0);
  }
  close(fds[1]);
  Measurement r;
  if (read(fds[0], &r, sizeof r) != static_cast<ssize_t>(sizeof r)) r.ok = 0;
  close(fds[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  r.cpu_s = cpu_seconds(RUSAGE_CHILDREN);  // cumulative: the caller takes differences
  return r;
}

// The default run's layers, both formats, as plain GEMMs (im2col'ed A).
struct KernelWork {
  std::vector<std::pair<NumberFormat, GemmLayer>> groups;
  uint64_t macs = 0;
};

KernelWork kernel_work() {
  const ArchSpec arch = load_arch(kDefaultArch, {}, "lbfp8");
  const Workload w = load_workload(kDefaultWorkload, read_text_file);
  const NumberFormat lbfp = arch.accel.format;
  const NumberFormat bfp = BfpFormat(8, acc_bits(lbfp));
  KernelWork work;
  const uint64_t seed = SimulationRequest().seed;
  for (size_t li = 0; li < w.layers.size(); ++li) {
    // The seed of layer li as simulate() draws it.
    const LayerValues values =
        make_layer_values(w.layers[li], seed * 1000003u + li, arch.accel.dram.size_bytes);
    for (const NumberFormat& f : {lbfp, bfp}) {
      for (GemmLayer& g : make_layer_data(w.layers[li], values, f, Im2col::kHost)) {
        work.macs += g.m * g.n * g.k;
        work.groups.emplace_back(f, std::move(g));
      }
    }
  }
  return work;
}

// Every group's full product once, the weights transposed to K x N beforehand (untimed).
double time_kernels(const KernelWork& work,
                    const std::vector<std::vector<Code>>& b_transposed) {
  GemmOptions options;
  options.threads = 2;
  std::vector<int64_t> acc;
  const auto start = std::chrono::steady_clock::now();
  for (size_t i = 0; i < work.groups.size(); ++i) {
    const NumberFormat& format = work.groups[i].first;
    const GemmLayer& g = work.groups[i].second;
    GemmProblem p;
    p.m = g.m;
    p.n = g.n;
    p.k = g.k;
    p.a = g.a.data();
    p.lda = g.k;
    p.a_exponent = g.a_exponent;
    p.b = b_transposed[i].data();
    p.ldb = g.n;
    p.b_exponents = g.w_exponents.data();
    p.bias = g.bias.empty() ? nullptr : g.bias.data();
    acc.resize(g.m * g.n);
    std::visit([&](const auto& f) { gemm_accumulate(f, p, acc.data(), g.n, nullptr, options); },
               format);
  }
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// In a child as well: the kernels' worker threads do not survive a fork, so this process starts
// none of them before forking the simulations.
double time_kernels_in_child(const KernelWork& work,
                             const std::vector<std::vector<Code>>& b_transposed) {
  int fds[2];
  if (pipe(fds) != 0) std::exit(1);
  const pid_t pid = fork();
  if (pid == 0) {
    close(fds[0]);
    const double seconds = time_kernels(work, b_transposed);
    if (write(fds[1], &seconds, sizeof seconds) != static_cast<ssize_t>(sizeof seconds)) _exit(1);
    _exit(0);
  }
  close(fds[1]);
  double seconds = 0;
  if (read(fds[0], &seconds, sizeof seconds) != static_cast<ssize_t>(sizeof seconds)) seconds = 0;
  close(fds[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  return seconds;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0.0 : v[v.size() / 2];
}

std::string cpu_model() {
  std::ifstream in("/proc/cpuinfo");
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("model name", 0) == 0) return line.substr(line.find(':') + 2);
  }
  return "unknown CPU";
}

}  // namespace

int sc_main(int argc, char** argv) {
  sc_core::sc_report_handler::set_actions(sc_core::SC_INFO, sc_core::SC_DO_NOTHING);
  const int repetitions = argc > 1 ? std::max(1, std::atoi(argv[1])) : 5;
  fmt::print("CPU: {}, {} hardware threads\n", cpu_model(), sysconf(_SC_NPROCESSORS_ONLN));

  const KernelWork work = kernel_work();
  std::vector<std::vector<Code>> b_transposed;
  for (const auto& [format, g] : work.groups) {
    std::vector<Code> b(g.k * g.n);
    for (uint64_t j = 0; j < g.n; ++j) {
      for (uint64_t kk = 0; kk < g.k; ++kk) b[kk * g.n + j] = g.w[j * g.k + kk];
    }
    b_transposed.push_back(std::move(b));
  }

  std::vector<double> wall, cpu, data, simulation, reports, data_cpu, kernels, kernels_cpu,
      one_format;
  uint64_t sim_macs = 0;
  double children_cpu = cpu_seconds(RUSAGE_CHILDREN);
  for (int rep = 0; rep < repetitions; ++rep) {
    const Measurement m = in_child("both");
    if (!m.ok) {
      fmt::print("the default run failed\n");
      return 1;
    }
    wall.push_back(m.wall_s);
    cpu.push_back(m.cpu_s - children_cpu);
    children_cpu = m.cpu_s;
    data.push_back(m.data_s);
    simulation.push_back(m.simulation_s);
    reports.push_back(m.reports_s);
    data_cpu.push_back(m.data_cpu_s);
    sim_macs = m.macs;
    kernels.push_back(time_kernels_in_child(work, b_transposed));
    kernels_cpu.push_back(cpu_seconds(RUSAGE_CHILDREN) - children_cpu);  // with its untimed start
    children_cpu = cpu_seconds(RUSAGE_CHILDREN);
    if (kernels.back() <= 0) {
      fmt::print("the kernel run failed\n");
      return 1;
    }
    const Measurement one = in_child("lbfp8");
    if (!one.ok) {
      fmt::print("the one-format run failed\n");
      return 1;
    }
    children_cpu = one.cpu_s;
    one_format.push_back(one.wall_s);
  }
  if (sim_macs != work.macs) {
    fmt::print("MACs differ: simulation {}, kernels {}\n", sim_macs, work.macs);
    return 1;
  }
  fmt::print("ResNet-18 (embedded sim/workloads/resnet18.csv), LBFP8 16x16 preset, seed 1: "
             "{:.3f} G MACs in LBFP8 and BFP8; medians of {} alternating runs\n",
             1e-9 * static_cast<double>(work.macs), repetitions);
  fmt::print("default run (simulate + reports' contents): wall {:.3f} s, CPU {:.3f} s "
             "(data {:.3f} s, simulation {:.3f} s, reports {:.3f} s; the data's CPU {:.3f} s)\n",
             median(wall), median(cpu), median(data), median(simulation), median(reports),
             median(data_cpu));
  fmt::print("bare kernels, same MACs, 2 threads:         wall {:.3f} s, CPU {:.3f} s\n",
             median(kernels), median(kernels_cpu));
  fmt::print("default run / bare kernels:                 {:.2f}x wall, {:.2f}x CPU   "
             "(target <= 3x)\n",
             median(wall) / median(kernels), median(cpu) / median(kernels_cpu));
  fmt::print("SCALE-Sim's ResNet-18 at 16x16, LBFP8 only: wall {:.3f} s = {:.0f}x faster than "
             "SCALE-Sim v2's {:.1f} s   (target >= 1000x)\n",
             median(one_format), kScaleSimSeconds / median(one_format), kScaleSimSeconds);
  return 0;
}
