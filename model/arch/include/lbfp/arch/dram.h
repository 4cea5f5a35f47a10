// A TLM-2.0 DRAM target: a byte array behind a simple_target_socket, with an access latency and
// a bandwidth in bytes per cycle of its own clock. Transfers share one channel: a transaction
// waits for the channel and occupies it for ceil(bytes / bandwidth) cycles; a read completes
// `latency` cycles after its transfer (latencies of back-to-back requests overlap, transfers do
// not), a write is posted and completes with its transfer. Loosely timed: the cost is returned as
// annotated delay from b_transport. Addresses outside the memory get TLM_ADDRESS_ERROR_RESPONSE.
// Loaders and debuggers fill and read it untimed and uncounted through transport_dbg (or DMI).
// It honours the RowBurst extension (row_burst.h): the rows of one transaction, back to back.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <systemc>
#include <tlm>
#include <tlm_utils/simple_target_socket.h>

namespace lbfp::arch {

struct DramConfig {
  uint64_t size_bytes = uint64_t{1} << 28;
  uint64_t latency_cycles = 100;   // in cycles of clock_period
  double bytes_per_cycle = 16.0;   // likewise
  sc_core::sc_time clock_period = sc_core::sc_time(1, sc_core::SC_NS);  // the memory's clock
  bool allow_dmi = true;  // DMI is for debuggers and loaders; timed traffic uses b_transport

  // Throws std::invalid_argument naming the field.
  void validate() const;
};

struct DramStats {
  uint64_t bytes_read = 0;
  uint64_t bytes_written = 0;
  uint64_t reads = 0;
  uint64_t writes = 0;
  uint64_t errors = 0;  // transactions answered with an error response
};

class Dram : public sc_core::sc_module {
 public:
  tlm_utils::simple_target_socket<Dram> socket;

  Dram(sc_core::sc_module_name name, const DramConfig& config);

  const DramConfig& config() const { return config_; }
  const DramStats& stats() const { return stats_; }
  void reset_stats() { stats_ = DramStats{}; }

 private:
  void b_transport(tlm::tlm_generic_payload& payload, sc_core::sc_time& delay);
  bool get_direct_mem_ptr(tlm::tlm_generic_payload& payload, tlm::tlm_dmi& dmi);
  unsigned int transport_dbg(tlm::tlm_generic_payload& payload);
  bool in_range(uint64_t address, uint64_t length) const;

  // Gives back the memory below: the mapping it starts `offset` bytes into (Linux), or calloc's.
  struct Release {
    size_t offset;
    size_t mapped;  // 0: calloc'ed
    void operator()(unsigned char* p) const;
  };
  // `bytes` of it, zeroed (see memory_); null when there is not that much.
  static std::unique_ptr<unsigned char[], Release> allocate(size_t bytes);

  DramConfig config_;
  // Zero pages mapped lazily by the operating system, so a large DRAM costs only what the
  // workload touches; on Linux from a 2 MiB boundary, in 2 MiB pages where the kernel has them
  // (the layers fill it from address 0: a 512th of the page faults, the same bytes zeroed).
  std::unique_ptr<unsigned char[], Release> memory_;
  DramStats stats_;
  sc_core::sc_time channel_free_;  // absolute time the transfer channel becomes free
};

}  // namespace lbfp::arch
