// On-demand Verilation: a configuration of an array (the output-stationary systolic_array or the
// weight-/input-stationary systolic_array_ws) that is not prebuilt is verilated, compiled into a
// shared object and kept in a per-user cache, keyed by the content of the RTL sources and the C++
// glue (both embedded in the program), the top module, the -G parameters, the Verilator version and
// the compiler. The first use builds it (a minute or two, with a line per step), every later use
// loads it. Builds are safe to race: one process builds under an exclusive lock, in a temporary
// folder renamed into place when complete; the others wait and load the finished model. Each
// entry's manifest records the hash of its shared object, so a damaged entry is rebuilt.
#pragma once

#include <functional>
#include <stdexcept>
#include <string>
#include <vector>

namespace lbfp::rtl {

// The model could not be built or loaded: no Verilator or compiler (the message names
// scripts/setup.sh), a failed build (the log's path and its last lines), an unwritable cache.
class ModelBuildError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// $XDG_CACHE_HOME/lbfp/rtl, else $HOME/.cache/lbfp/rtl.
std::string default_rtl_cache();

struct OnDemandModel {
  std::string key;        // the cache key (a hex hash)
  std::string directory;  // the cache entry
  std::string library;    // its shared object
  bool built = false;     // built by this call (else found in the cache)
};

// The array module an on-demand model is built from; each has its own port list and C interface
// (ondemand_shim.cpp).
enum class OnDemandTop {
  kOutputStationary,  // rtl/systolic_array.sv (array_ports.def)
  kWeightStationary,  // rtl/systolic_array_ws.sv, which also runs input-stationary
                      // (ws_array_ports.def)
};

// The cache entry for the array `top` with these -G parameters ("Name=Value"), building it
// when it is missing or damaged. `progress` gets a line per step of a build.
OnDemandModel ensure_array_model(const std::vector<std::string>& parameters,
                                 const std::string& cache_dir,
                                 const std::function<void(const std::string&)>& progress,
                                 OnDemandTop top = OnDemandTop::kOutputStationary);

}  // namespace lbfp::rtl
