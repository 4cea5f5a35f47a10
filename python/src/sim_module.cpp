// The Python extension `lbfp._sim`: architecture simulations (model/arch, lbfp/arch/simulate.h)
// in the interpreter's own process. A call runs the very simulate() that `lbfp sim` runs and
// returns the very layers.csv and summary.json that `lbfp sim --out` writes (report.h), so the two
// cannot disagree. Separate from lbfp._core so that `import lbfp` does not load SystemC and the
// Verilated arrays.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cstdint>
#include <cstdlib>
#include <mutex>
#include <stdexcept>
#include <string>
#include <vector>

#include "lbfp/host_memory.h"
#include "lbfp/arch/report.h"
#include "lbfp/arch/simulate.h"
#include "lbfp/config_error.h"

namespace py = pybind11;

// libsystemc.so calls sc_main from a main() of its own, so it refers to the symbol; the
// interpreter loads this module with RTLD_NOW, which needs every reference resolved. Never called:
// the simulations start the kernel through simulate().
extern "C" __attribute__((visibility("default"))) int sc_main(int /*argc*/, char** /*argv*/) {
  return 1;
}

namespace lbfp::python {
namespace {

// One SystemC context per process: simulations from several Python threads run one at a time.
std::mutex simulation_mutex;

py::dict simulate(const arch::SimulationRequest& base) {
  arch::SimulationRequest request = base;
  request.max_host_bytes = host_memory_budget_bytes();  // as `lbfp sim` refuses
  std::vector<std::string> warnings;
  request.warn = [&warnings](const std::string& w) { warnings.push_back(w); };
  std::string layers, summary;
  double data_seconds = 0, simulation_seconds = 0, wall_seconds = 0, data_cpu_seconds = 0;
  {
    py::gil_scoped_release release;
    const std::lock_guard<std::mutex> lock(simulation_mutex);
    try {
      const arch::SimReport report = arch::simulate(request);
      layers = arch::layers_csv(report);
      summary = arch::summary_json(report);
      data_seconds = report.data_seconds;
      simulation_seconds = report.simulation_seconds;
      wall_seconds = report.wall_seconds;
      data_cpu_seconds = report.data_cpu_seconds;
    } catch (const arch::SimulationError& e) {
      throw std::runtime_error(std::string("simulation failed: ") + e.what());
    } catch (const ConfigError& e) {
      throw py::value_error(e.what());
    } catch (const std::invalid_argument& e) {
      throw py::value_error(e.what());
    }
  }
  py::dict out;
  out["layers_csv"] = layers;
  out["summary_json"] = summary;
  out["warnings"] = warnings;
  out["data_seconds"] = data_seconds;
  out["simulation_seconds"] = simulation_seconds;
  out["wall_seconds"] = wall_seconds;
  out["data_cpu_seconds"] = data_cpu_seconds;
  return out;
}

}  // namespace
}  // namespace lbfp::python

PYBIND11_MODULE(_sim, m) {
  ::setenv("SYSTEMC_DISABLE_COPYRIGHT_MESSAGE", "1", 0);  // keep the interpreter's stdout clean
  m.doc() = "lbfp.sim's simulations in this process (use lbfp.sim.run)";
  m.def(
      "simulate",
      [](const std::string& arch, const std::string& workload, const std::string& format,
         const std::string& mode, const std::string& array, const std::string& dataflow,
         const std::string& best_by, const std::string& im2col, const std::string& energy,
         uint64_t seed, const std::vector<std::string>& overrides, const std::string& trace,
         const std::string& trace_window, const std::string& rtl_cache, bool direct) {
        lbfp::arch::SimulationRequest r;
        r.arch = arch;
        r.workload = workload;
        r.format = format;
        r.mode = mode;
        r.array = array;
        r.dataflow = dataflow;
        r.best_by = best_by;
        r.im2col = im2col;
        r.energy = energy;
        r.seed = seed;
        r.overrides = overrides;
        r.trace = trace;
        r.trace_window = trace_window;
        r.rtl_cache = rtl_cache;
        r.direct = direct;
        return lbfp::python::simulate(r);
      },
      py::arg("arch"), py::arg("workload"), py::arg("format"), py::arg("mode"), py::arg("array"),
      py::arg("dataflow"), py::arg("best_by"), py::arg("im2col"), py::arg("energy"),
      py::arg("seed"), py::arg("overrides"), py::arg("trace"), py::arg("trace_window"),
      py::arg("rtl_cache"), py::arg("direct"),
      "One simulation (lbfp/arch/simulate.h): a dict of layers_csv and summary_json (the texts "
      "`lbfp sim --out` writes), warnings, and the data / simulation / wall seconds. Bad input: "
      "ValueError; a simulation that stops early: RuntimeError.");
}
