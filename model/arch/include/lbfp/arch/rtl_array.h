// The Verilated RTL array (rtl/systolic_array.sv) as an ArrayBackend: a SystemC module that
// clocks the RTL once per simulated cycle, so whole layers stream from the TLM memory through
// the real RTL (`lbfp sim --array rtl`). The RTL keeps one saturation flag per output, not a
// count of saturating steps. Only the verilated configurations exist; each is
// built once (rtl/verilated/models.cmake).
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

// The verilated array configurations.
std::vector<RtlArrayConfig> rtl_array_configs();

// An RTL array for this geometry and format; throws std::invalid_argument naming the verilated
// configurations when there is none. Must be created before sc_start (it is an sc_module).
std::unique_ptr<ArrayBackend> make_rtl_array(const ArrayGeometry& geometry,
                                             const NumberFormat& format);

}  // namespace lbfp::arch
