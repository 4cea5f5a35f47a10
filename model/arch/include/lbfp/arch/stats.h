// Derived layer statistics, computed in one place: the accelerator finishes each layer's with
// it, and a report sums groups into layers and layers into a network with it.
#pragma once

#include "lbfp/arch/accelerator.h"

namespace lbfp::arch {

// Adds `group`'s statistics into `into` (cycles, bytes and counts add); call finish_stats after
// the last one, which recomputes what does not add (utilization, PE cycles).
void accumulate_stats(LayerStats& into, const LayerStats& group);

// Sets array_pe_cycles (R C compute_cycles) and utilization (macs / (R C total_cycles); 0 for a
// layer of no cycles) for an array of geometry `g`.
void finish_stats(LayerStats& s, const ArrayGeometry& g);

}  // namespace lbfp::arch
