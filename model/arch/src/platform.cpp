#include "lbfp/arch/platform.h"

#include <algorithm>
#include <stdexcept>

#include "lbfp/arch/row_burst.h"
#include "thread_end.h"

namespace lbfp::arch {

Router::Router(sc_core::sc_module_name name)
    : sc_module(name), target_socket("target_socket"), initiator_socket("initiator_socket") {
  target_socket.register_b_transport(this, &Router::b_transport);
  target_socket.register_transport_dbg(this, &Router::transport_dbg);
}

int Router::decode(uint64_t address, uint64_t length) const {
  for (size_t i = 0; i < ranges_.size(); ++i) {
    const Range& r = ranges_[i];
    if (address >= r.base && address - r.base < r.size && length <= r.size - (address - r.base)) {
      return static_cast<int>(i);
    }
  }
  return -1;
}

void Router::b_transport(int /*id*/, tlm::tlm_generic_payload& payload,
                         sc_core::sc_time& delay) {
  const uint64_t address = payload.get_address();
  const uint64_t length = payload.get_data_length();
  const int target = decode(address, length);
  if (target < 0) {
    payload.set_response_status(tlm::TLM_ADDRESS_ERROR_RESPONSE);
    return;
  }
  // The rows of a RowBurst go on together only where they all are in the first row's target;
  // else it sees the plain first row (the initiator issues the others).
  RowBurst* burst = payload.get_extension<RowBurst>();
  if (burst != nullptr) {
    const uint64_t span = burst->span(length);
    if (span == 0 || decode(address, span) != target) {
      payload.clear_extension(burst);
    } else {
      burst = nullptr;  // passed on as it is
    }
  }
  payload.set_address(address - ranges_[static_cast<size_t>(target)].base);
  initiator_socket[target]->b_transport(payload, delay);
  payload.set_address(address);
  if (burst != nullptr) payload.set_extension(burst);
}

unsigned int Router::transport_dbg(int /*id*/, tlm::tlm_generic_payload& payload) {
  const uint64_t address = payload.get_address();
  const int target = decode(address, payload.get_data_length());
  if (target < 0) return 0;
  payload.set_address(address - ranges_[static_cast<size_t>(target)].base);
  const unsigned int moved = initiator_socket[target]->transport_dbg(payload);
  payload.set_address(address);
  return moved;
}

Cpu::Cpu(sc_core::sc_module_name name, std::function<void(Cpu&)> program)
    : sc_module(name), socket("socket"), irq("irq"), program_(std::move(program)) {
  SC_THREAD(run_thread);
}

void Cpu::run_thread() {
  try {
    if (program_) program_(*this);
    finished_ = true;
  } catch (const std::exception& e) {
    error_ = e.what();
  }
  end_thread();
}

tlm::tlm_response_status Cpu::transact(tlm::tlm_command command, uint64_t address, void* data,
                                       uint64_t length) {
  tlm::tlm_generic_payload payload;
  payload.set_command(command);
  payload.set_address(address);
  payload.set_data_ptr(static_cast<unsigned char*>(data));
  payload.set_data_length(static_cast<unsigned int>(length));
  payload.set_streaming_width(static_cast<unsigned int>(length));
  payload.set_byte_enable_ptr(nullptr);
  payload.set_dmi_allowed(false);
  payload.set_response_status(tlm::TLM_INCOMPLETE_RESPONSE);
  sc_core::sc_time delay = sc_core::SC_ZERO_TIME;
  socket->b_transport(payload, delay);
  wait(delay);
  return payload.get_response_status();
}

void Cpu::checked(tlm::tlm_command command, uint64_t address, void* data, uint64_t length) {
  const tlm::tlm_response_status status = transact(command, address, data, length);
  if (status != tlm::TLM_OK_RESPONSE) {
    tlm::tlm_generic_payload p;
    p.set_response_status(status);
    throw std::runtime_error(std::string(name()) + ": " +
                             (command == tlm::TLM_READ_COMMAND ? "read" : "write") + " of " +
                             std::to_string(length) + " bytes at " + std::to_string(address) +
                             ": " + p.get_response_string());
  }
}

uint32_t Cpu::read32(uint64_t address) {
  uint32_t value = 0;
  checked(tlm::TLM_READ_COMMAND, address, &value, 4);
  return value;
}

void Cpu::write32(uint64_t address, uint32_t value) {
  checked(tlm::TLM_WRITE_COMMAND, address, &value, 4);
}

// A payload's length is an unsigned int: longer transfers go in pieces.
constexpr uint64_t kMaxTransferBytes = uint64_t{1} << 30;

void Cpu::read(uint64_t address, void* data, uint64_t length) {
  auto* bytes = static_cast<unsigned char*>(data);
  for (uint64_t done = 0; done < length; done += kMaxTransferBytes) {
    checked(tlm::TLM_READ_COMMAND, address + done, bytes + done,
            std::min(length - done, kMaxTransferBytes));
  }
}

void Cpu::write(uint64_t address, const void* data, uint64_t length) {
  // A write only reads through the payload's (non-const) data pointer.
  auto* bytes = static_cast<unsigned char*>(const_cast<void*>(data));
  for (uint64_t done = 0; done < length; done += kMaxTransferBytes) {
    checked(tlm::TLM_WRITE_COMMAND, address + done, bytes + done,
            std::min(length - done, kMaxTransferBytes));
  }
}

void Cpu::wait_for_interrupt() {
  while (!irq.read()) wait(irq.value_changed_event());
}

DeviceConfig DevicePlatform::with_memory(DeviceConfig config) {
  config.memory_base = 0;
  config.memory_bytes = config.accelerator.dram.size_bytes;
  return config;
}

DevicePlatform::DevicePlatform(sc_core::sc_module_name name, DeviceConfig config,
                               std::function<void(Cpu&)> program,
                               std::unique_ptr<ArrayBackend> backend)
    : sc_module(name),
      cpu_("cpu", std::move(program)),
      router_("router"),
      memory_("memory", config.accelerator.dram),
      device_("device", with_memory(config), std::move(backend)),
      irq_("irq") {
  cpu_.socket.bind(router_.target_socket);
  device_.dma_socket.bind(router_.target_socket);
  router_.initiator_socket.bind(memory_.socket);
  router_.add_range(0, config.accelerator.dram.size_bytes);
  router_.initiator_socket.bind(device_.reg_socket);
  router_.add_range(kDeviceBase, driver::reg::kWindowBytes);
  device_.irq(irq_);
  cpu_.irq(irq_);
}

}  // namespace lbfp::arch
