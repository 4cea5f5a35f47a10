// The Verilated RTL array (rtl/systolic_array.sv; weight- and input-stationary geometries:
// rtl/systolic_array_ws.sv, one fold per tile) as an ArrayBackend: a SystemC module that clocks
// the RTL once per simulated cycle, so whole layers stream from the TLM memory through the real
// RTL (`lbfp sim --array rtl`). The RTL keeps one saturation flag per output, not a count of
// saturating steps. The prebuilt configurations (rtl/verilated/models.cmake) are linked in; any
// other output-stationary one is verilated on first use into a per-user cache
// (lbfp/rtl/ondemand.h); the weight-stationary array exists only in its prebuilt shapes.
// Every tile's outputs are checked against the golden reference as they come out: the first
// difference stops the simulation with the tile, row, column, cycle, both values and a command
// that reproduces it with a trace around that cycle.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "lbfp/arch/accelerator.h"

namespace lbfp::arch {

struct RtlArrayConfig {
  ArrayGeometry geometry;
  NumberFormat format;
  std::string name;
};

// The prebuilt array configurations (the weight-stationary ones once per stationary dataflow).
std::vector<RtlArrayConfig> rtl_array_configs();

struct RtlArrayOptions {
  std::string rtl_cache;     // on-demand models' cache; empty: the default (ondemand.h)
  std::string trace;         // an FST of the RTL; empty: none
  std::string trace_window;  // "FIRST:LAST" cycles of the RTL; empty: the whole run
  // The command that reran this simulation (for the mismatch report); the report appends
  // --trace and --trace-window.
  std::string reproduce;
};

// An RTL array for this geometry and format, prebuilt or on demand (built now when not cached);
// throws std::invalid_argument outside what the RTL supports (LBFP8 W=8 F=4 P=8 or BFP8 W=8,
// the limits of rtl::array_config_for; a weight-/input-stationary geometry that is not a
// prebuilt weight-stationary array), rtl::ModelBuildError when it cannot be built. Must be
// created before sc_start (it is an sc_module).
std::unique_ptr<ArrayBackend> make_rtl_array(const ArrayGeometry& geometry,
                                             const NumberFormat& format,
                                             const RtlArrayOptions& options = {});

}  // namespace lbfp::arch
