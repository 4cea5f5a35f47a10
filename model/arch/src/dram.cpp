#include "lbfp/arch/dram.h"

#if defined(__linux__)
#include <sys/mman.h>
#endif

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <stdexcept>

#include "lbfp/arch/row_burst.h"

namespace lbfp::arch {

void DramConfig::validate() const {
  if (size_bytes == 0) throw std::invalid_argument("dram.size_bytes must be positive");
  if (size_bytes > (uint64_t{1} << 40)) {
    throw std::invalid_argument("dram.size_bytes " + std::to_string(size_bytes) +
                                " exceeds the 1 TiB the model will allocate");
  }
  if (!(bytes_per_cycle > 0.0) || !std::isfinite(bytes_per_cycle)) {
    throw std::invalid_argument("dram.bytes_per_cycle must be a positive number");
  }
  if (clock_period == sc_core::SC_ZERO_TIME) {
    throw std::invalid_argument("dram.clock_period must be positive");
  }
}

std::unique_ptr<unsigned char[], Dram::Release> Dram::allocate(size_t bytes) {
#if defined(__linux__)
  constexpr size_t kHuge = size_t{2} << 20;
  if (bytes <= SIZE_MAX - kHuge) {
    const size_t mapped = bytes + kHuge;
    void* base =
        ::mmap(nullptr, mapped, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (base == MAP_FAILED) return {nullptr, Release{0, 0}};
    const auto at = reinterpret_cast<uintptr_t>(base);
    const size_t offset = ((at + kHuge - 1) & ~uintptr_t{kHuge - 1}) - at;
    auto* p = static_cast<unsigned char*>(base) + offset;
#if defined(MADV_HUGEPAGE)
    ::madvise(p, bytes, MADV_HUGEPAGE);
#endif
    return {p, Release{offset, mapped}};
  }
#endif
  return {static_cast<unsigned char*>(std::calloc(bytes, 1)), Release{0, 0}};
}

Dram::Dram(sc_core::sc_module_name name, const DramConfig& config)
    : sc_module(name), socket("socket"), config_(config) {
  config_.validate();
  memory_ = allocate(config_.size_bytes);
  if (!memory_) {
    throw std::runtime_error("cannot allocate " + std::to_string(config_.size_bytes) +
                             " bytes of simulated DRAM");
  }
  socket.register_b_transport(this, &Dram::b_transport);
  socket.register_get_direct_mem_ptr(this, &Dram::get_direct_mem_ptr);
  socket.register_transport_dbg(this, &Dram::transport_dbg);
}

void Dram::Release::operator()(unsigned char* p) const {
#if defined(__linux__)
  if (mapped != 0) {
    ::munmap(p - offset, mapped);
    return;
  }
#endif
  std::free(p);
}

bool Dram::in_range(uint64_t address, uint64_t length) const {
  const uint64_t size = config_.size_bytes;
  return address < size && length <= size - address;
}

void Dram::b_transport(tlm::tlm_generic_payload& payload, sc_core::sc_time& delay) {
  const uint64_t address = payload.get_address();
  const uint64_t length = payload.get_data_length();
  const tlm::tlm_command command = payload.get_command();
  if (!in_range(address, length)) {
    payload.set_response_status(tlm::TLM_ADDRESS_ERROR_RESPONSE);
    ++stats_.errors;
    return;
  }
  if (payload.get_byte_enable_ptr() != nullptr) {
    payload.set_response_status(tlm::TLM_BYTE_ENABLE_ERROR_RESPONSE);
    ++stats_.errors;
    return;
  }
  if (payload.get_streaming_width() < length) {
    payload.set_response_status(tlm::TLM_BURST_ERROR_RESPONSE);
    ++stats_.errors;
    return;
  }
  // Rows of a RowBurst (row_burst.h), all of them in the memory: each as a transaction of its
  // own, issued when the one before has completed.
  RowBurst* burst = payload.get_extension<RowBurst>();
  const uint64_t span = burst != nullptr ? burst->span(length) : length;
  const uint64_t rows = burst != nullptr && burst->rows > 1 && span != 0 &&
                                in_range(address, span)
                            ? burst->rows
                            : 1;
  unsigned char* data = payload.get_data_ptr();
  // Timing: wait for the channel, transfer, then the access latency. Reads return their data
  // `latency` cycles after the transfer; writes are posted.
  const sc_core::sc_time now = sc_core::sc_time_stamp();
  const sc_core::sc_time transfer =
      config_.clock_period *
      std::ceil(static_cast<double>(length) / config_.bytes_per_cycle);
  const sc_core::sc_time latency =
      command == tlm::TLM_READ_COMMAND
          ? config_.clock_period * static_cast<double>(config_.latency_cycles)
          : sc_core::SC_ZERO_TIME;
  for (uint64_t r = 0; r < rows; ++r) {
    const uint64_t at = address + r * (rows > 1 ? burst->pitch : 0);
    if (command == tlm::TLM_READ_COMMAND) {
      std::memcpy(data + r * length, memory_.get() + at, length);
      stats_.bytes_read += length;
      ++stats_.reads;
    } else if (command == tlm::TLM_WRITE_COMMAND) {
      std::memcpy(memory_.get() + at, data + r * length, length);
      stats_.bytes_written += length;
      ++stats_.writes;
    }
    channel_free_ = std::max(now + delay, channel_free_) + transfer;
    delay = channel_free_ + latency - now;
  }
  if (rows > 1) burst->rows_done = rows;
  payload.set_dmi_allowed(config_.allow_dmi);
  payload.set_response_status(tlm::TLM_OK_RESPONSE);
}

bool Dram::get_direct_mem_ptr(tlm::tlm_generic_payload& payload, tlm::tlm_dmi& dmi) {
  if (!config_.allow_dmi || !in_range(payload.get_address(), 1)) return false;
  dmi.allow_read_write();
  dmi.set_dmi_ptr(memory_.get());
  dmi.set_start_address(0);
  dmi.set_end_address(config_.size_bytes - 1);
  dmi.set_read_latency(config_.clock_period * static_cast<double>(config_.latency_cycles));
  dmi.set_write_latency(config_.clock_period * static_cast<double>(config_.latency_cycles));
  return true;
}

// Untimed and uncounted (loaders and debuggers): moves the bytes inside the memory and returns
// how many.
unsigned int Dram::transport_dbg(tlm::tlm_generic_payload& payload) {
  const uint64_t address = payload.get_address();
  if (address >= config_.size_bytes) return 0;
  const uint64_t length =
      std::min<uint64_t>(payload.get_data_length(), config_.size_bytes - address);
  if (payload.get_command() == tlm::TLM_READ_COMMAND) {
    std::memcpy(payload.get_data_ptr(), memory_.get() + address, length);
  } else if (payload.get_command() == tlm::TLM_WRITE_COMMAND) {
    std::memcpy(memory_.get() + address, payload.get_data_ptr(), length);
  }
  return static_cast<unsigned int>(length);
}

}  // namespace lbfp::arch
