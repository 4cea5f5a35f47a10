#include "lbfp/arch/stats.h"

#include <algorithm>

namespace lbfp::arch {

void accumulate_stats(LayerStats& into, const LayerStats& g) {
  into.tiles += g.tiles;
  into.total_cycles += g.total_cycles;
  into.compute_cycles += g.compute_cycles;
  into.stall_cycles += g.stall_cycles;
  into.macs += g.macs;
  into.zero_macs += g.zero_macs;
  into.outputs_saturated += g.outputs_saturated;
  into.overflow_steps += g.overflow_steps;
  into.dram_bytes_read += g.dram_bytes_read;
  into.dram_bytes_written += g.dram_bytes_written;
  into.sram_bytes_read += g.sram_bytes_read;
  into.sram_bytes_written += g.sram_bytes_written;
  into.multiplies += g.multiplies;
  into.shifts += g.shifts;
  into.accumulates += g.accumulates;
  into.requantizations += g.requantizations;
  into.fill_drain_cycles += g.fill_drain_cycles;
  into.stall_ifmap_cycles += g.stall_ifmap_cycles;
  into.stall_filter_cycles += g.stall_filter_cycles;
  into.stall_output_cycles += g.stall_output_cycles;
  into.writeback_cycles += g.writeback_cycles;
  into.ifmap += g.ifmap;
  into.filter += g.filter;
  into.ofmap += g.ofmap;
  into.psum += g.psum;
  into.dram_lower_bound += g.dram_lower_bound;
  into.k_chunks = std::max(into.k_chunks, g.k_chunks);
  // Groups run the same plan; a total over layers shows where the orders differ.
  if (into.loop_order.empty()) {
    into.loop_order = g.loop_order;
  } else if (into.loop_order != g.loop_order) {
    into.loop_order = "mixed";
  }
  into.double_buffered = g.double_buffered;
  into.weights_resident = g.weights_resident;
}

void finish_stats(LayerStats& s, const ArrayGeometry& g) {
  const double pes = static_cast<double>(g.rows) * static_cast<double>(g.cols);
  s.array_pe_cycles = static_cast<uint64_t>(pes) * s.compute_cycles;
  s.utilization = s.total_cycles == 0
                      ? 0.0
                      : static_cast<double>(s.macs) / (pes * static_cast<double>(s.total_cycles));
}

}  // namespace lbfp::arch
