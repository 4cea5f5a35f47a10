// How much data a run (`lbfp sim`, `lbfp eval`, the Python module) may hold in memory: it
// refuses work above this before allocating, with a message, instead of being killed by the
// kernel half-way.
#pragma once

#include <unistd.h>

#include <cstdint>

namespace lbfp {

// Half the machine's physical memory (4 GiB when the system does not say).
inline uint64_t host_memory_budget_bytes() {
  const long pages = ::sysconf(_SC_PHYS_PAGES);
  const long page_size = ::sysconf(_SC_PAGE_SIZE);
  if (pages <= 0 || page_size <= 0) return uint64_t{4} << 30;
  return static_cast<uint64_t>(pages) / 2 * static_cast<uint64_t>(page_size);
}

}  // namespace lbfp
