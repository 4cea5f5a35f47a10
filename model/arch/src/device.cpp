#include "lbfp/arch/device.h"

#include <algorithm>
#include <cstring>
#include <set>
#include <stdexcept>

namespace lbfp::arch {

using driver::DeviceError;
namespace reg = driver::reg;

Device::Device(sc_core::sc_module_name name, const DeviceConfig& config,
               std::unique_ptr<ArrayBackend> backend)
    : sc_module(name),
      reg_socket("reg_socket"),
      dma_socket("dma_socket"),
      irq("irq"),
      config_(config),
      accelerator_("accelerator", config.accelerator, std::move(backend)),
      bus_("bus"),
      fetch_socket_("fetch_socket"),
      jobs_("jobs", 1),
      done_("done", 1) {
  reg_socket.register_b_transport(this, &Device::b_transport);
  reg_socket.register_transport_dbg(this, &Device::transport_dbg);
  fetch_socket_.bind(bus_.target_socket);
  accelerator_.dma_socket.bind(bus_.target_socket);
  bus_.initiator_socket.bind(dma_socket);
  accelerator_.job_in(jobs_);
  accelerator_.done_out(done_);
  SC_THREAD(run_thread);
  SC_METHOD(irq_method);
  sensitive << irq_event_;
}

void Device::irq_method() { irq.write((irq_status_ & irq_enable_) != 0); }

uint64_t Device::cycles_now() const {
  if (!busy_) return cycles_;
  return static_cast<uint64_t>((sc_core::sc_time_stamp() - run_start_) /
                               config_.accelerator.clock_period);
}

void Device::reset_registers() {
  irq_enable_ = irq_status_ = 0;
  desc_ = 0;
  done_flag_ = false;
  error_ = DeviceError::kNone;
  error_desc_ = 0;
  layers_done_ = 0;
  cycles_ = stall_cycles_ = macs_ = dram_read_ = dram_written_ = 0;
  reset_pending_ = false;
  irq_event_.notify(sc_core::SC_ZERO_TIME);
}

bool Device::read_register(uint32_t offset, uint32_t* value) const {
  auto lo = [](uint64_t v) { return static_cast<uint32_t>(v); };
  auto hi = [](uint64_t v) { return static_cast<uint32_t>(v >> 32); };
  const auto& array = config_.accelerator.array;
  switch (offset) {
    case reg::kId: *value = driver::kDeviceId; break;
    case reg::kVersion:
      *value = driver::kVersionMajor << 16 | driver::kVersionMinor << 8 |
               driver::kDescriptorVersion;
      break;
    case reg::kArray:
      *value = static_cast<uint32_t>(array.cols) << 16 | static_cast<uint32_t>(array.rows);
      break;
    case reg::kCtrl: *value = 0; break;
    case reg::kStatus:
      *value = (busy_ ? driver::kStatusBusy : 0) | (done_flag_ ? driver::kStatusDone : 0) |
               static_cast<uint32_t>(error_) << driver::kStatusErrorShift;
      break;
    case reg::kIrqEnable: *value = irq_enable_; break;
    case reg::kIrqStatus: *value = irq_status_; break;
    case reg::kDescLo: *value = lo(desc_); break;
    case reg::kDescHi: *value = hi(desc_); break;
    case reg::kErrorDescLo: *value = lo(error_desc_); break;
    case reg::kErrorDescHi: *value = hi(error_desc_); break;
    case reg::kLayersDone: *value = layers_done_; break;
    case reg::kCyclesLo: *value = lo(cycles_now()); break;
    case reg::kCyclesHi: *value = hi(cycles_now()); break;
    case reg::kStallCyclesLo: *value = lo(stall_cycles_); break;
    case reg::kStallCyclesHi: *value = hi(stall_cycles_); break;
    case reg::kMacsLo: *value = lo(macs_); break;
    case reg::kMacsHi: *value = hi(macs_); break;
    case reg::kDramReadLo: *value = lo(dram_read_); break;
    case reg::kDramReadHi: *value = hi(dram_read_); break;
    case reg::kDramWrittenLo: *value = lo(dram_written_); break;
    case reg::kDramWrittenHi: *value = hi(dram_written_); break;
    default: return false;  // a hole in the map
  }
  return true;
}

tlm::tlm_response_status Device::write_register(uint32_t offset, uint32_t value) {
  constexpr uint32_t kIrqBits = driver::kIrqDone | driver::kIrqError;
  switch (offset) {
    case reg::kCtrl:
      if (value & driver::kCtrlSoftReset) {
        if (busy_) {
          reset_pending_ = true;  // the run stops after the layer in flight
        } else {
          reset_registers();
        }
      } else if ((value & driver::kCtrlStart) && !busy_) {
        busy_ = true;
        done_flag_ = false;
        error_ = DeviceError::kNone;
        error_desc_ = 0;
        layers_done_ = 0;
        cycles_ = stall_cycles_ = macs_ = dram_read_ = dram_written_ = 0;
        run_start_ = sc_core::sc_time_stamp();
        start_event_.notify(sc_core::SC_ZERO_TIME);
      }
      return tlm::TLM_OK_RESPONSE;
    case reg::kIrqEnable:
      irq_enable_ = value & kIrqBits;
      irq_event_.notify(sc_core::SC_ZERO_TIME);
      return tlm::TLM_OK_RESPONSE;
    case reg::kIrqStatus:
      irq_status_ &= ~(value & kIrqBits);  // write 1 to clear
      irq_event_.notify(sc_core::SC_ZERO_TIME);
      return tlm::TLM_OK_RESPONSE;
    case reg::kDescLo:
      desc_ = (desc_ & ~uint64_t{0xffffffff}) | value;
      return tlm::TLM_OK_RESPONSE;
    case reg::kDescHi:
      desc_ = (desc_ & uint64_t{0xffffffff}) | uint64_t{value} << 32;
      return tlm::TLM_OK_RESPONSE;
    default: {
      uint32_t ignored;
      return read_register(offset, &ignored) ? tlm::TLM_COMMAND_ERROR_RESPONSE  // read-only
                                             : tlm::TLM_ADDRESS_ERROR_RESPONSE;
    }
  }
}

tlm::tlm_response_status Device::access(tlm::tlm_generic_payload& payload, bool debug) {
  const tlm::tlm_command command = payload.get_command();
  if (command == tlm::TLM_IGNORE_COMMAND) return tlm::TLM_OK_RESPONSE;
  const uint64_t address = payload.get_address();
  if (address >= reg::kWindowBytes || address % 4 != 0) return tlm::TLM_ADDRESS_ERROR_RESPONSE;
  if (payload.get_data_length() != 4 || payload.get_streaming_width() < 4) {
    return tlm::TLM_BURST_ERROR_RESPONSE;
  }
  if (payload.get_byte_enable_ptr() != nullptr) return tlm::TLM_BYTE_ENABLE_ERROR_RESPONSE;
  const auto offset = static_cast<uint32_t>(address);
  uint32_t value = 0;
  if (command == tlm::TLM_READ_COMMAND) {
    if (!read_register(offset, &value)) return tlm::TLM_ADDRESS_ERROR_RESPONSE;
    std::memcpy(payload.get_data_ptr(), &value, 4);
    return tlm::TLM_OK_RESPONSE;
  }
  if (debug) return tlm::TLM_COMMAND_ERROR_RESPONSE;  // a debugger only looks
  std::memcpy(&value, payload.get_data_ptr(), 4);
  return write_register(offset, value);
}

void Device::b_transport(tlm::tlm_generic_payload& payload, sc_core::sc_time& delay) {
  // Take the access at its annotated time, so that START and the counters see it.
  if (delay != sc_core::SC_ZERO_TIME) {
    wait(delay);
    delay = sc_core::SC_ZERO_TIME;
  }
  payload.set_response_status(access(payload, false));
  delay += static_cast<double>(config_.register_latency_cycles) *
           config_.accelerator.clock_period;
}

unsigned int Device::transport_dbg(tlm::tlm_generic_payload& payload) {
  if (payload.get_command() != tlm::TLM_READ_COMMAND) return 0;
  return access(payload, true) == tlm::TLM_OK_RESPONSE ? 4 : 0;
}

bool Device::fetch(uint64_t address, uint8_t* data, uint64_t length) {
  if (length == 0) return true;
  tlm::tlm_generic_payload payload;
  payload.set_command(tlm::TLM_READ_COMMAND);
  payload.set_address(address);
  payload.set_data_ptr(data);
  payload.set_data_length(static_cast<unsigned int>(length));
  payload.set_streaming_width(static_cast<unsigned int>(length));
  payload.set_byte_enable_ptr(nullptr);
  payload.set_dmi_allowed(false);
  payload.set_response_status(tlm::TLM_INCOMPLETE_RESPONSE);
  sc_core::sc_time delay = sc_core::SC_ZERO_TIME;
  fetch_socket_->b_transport(payload, delay);
  wait(delay);
  if (!payload.is_response_ok()) return false;
  dram_read_ += length;
  return true;
}

DeviceError Device::run_chain() {
  driver::DecodeLimits limits;
  limits.memory_base = config_.memory_base;
  limits.memory_bytes = config_.memory_bytes;
  limits.max_macs = config_.max_layer_macs;
  limits.max_dim = std::min(config_.max_dimension, uint64_t{1} << 32);
  std::set<uint64_t> visited;
  std::vector<uint8_t> bytes(driver::kDescriptorBytes);
  std::vector<uint8_t> params;
  for (uint64_t address = desc_;;) {
    error_desc_ = address;
    if (visited.count(address) != 0 || visited.size() >= config_.max_descriptors) {
      return DeviceError::kDescriptorLoop;
    }
    visited.insert(address);
    if (address % driver::kDescriptorAlign != 0 || address < limits.memory_base ||
        address - limits.memory_base > limits.memory_bytes ||
        limits.memory_bytes - (address - limits.memory_base) < driver::kDescriptorBytes) {
      return DeviceError::kBadAddress;
    }
    if (!fetch(address, bytes.data(), bytes.size())) return DeviceError::kBusError;
    driver::Descriptor d;
    const DeviceError decoded = driver::decode_descriptor(bytes.data(), bytes.size(), limits, &d);
    if (decoded != DeviceError::kNone) return decoded;

    // The per-channel exponents and the bias, then the job the accelerator runs.
    std::vector<int> w_exponents(d.n);
    std::vector<float> bias;
    params.resize(d.n);
    if (!fetch(d.w_exponents_address, params.data(), d.n)) return DeviceError::kBusError;
    for (uint64_t i = 0; i < d.n; ++i) {
      w_exponents[i] = static_cast<int8_t>(params[i]);
      if (w_exponents[i] < -127) return DeviceError::kBadExponent;
    }
    if (d.has_bias) {
      params.resize(4 * d.n);
      if (!fetch(d.bias_address, params.data(), 4 * d.n)) return DeviceError::kBusError;
      bias.resize(d.n);
      for (uint64_t i = 0; i < d.n; ++i) {
        uint32_t bits = 0;
        for (int b = 0; b < 4; ++b) bits |= uint32_t{params[4 * i + b]} << (8 * b);
        std::memcpy(&bias[i], &bits, 4);
      }
    }
    // A grouped convolution runs as one job per group: group g reads channels [g C/G,
    // (g+1) C/G) of each input pixel and output channels [g N/G, (g+1) N/G) of the weights,
    // exponents and bias, and writes those columns of each output row.
    const uint64_t groups = d.kind == driver::LayerKind::kConv ? d.groups : 1;
    const uint64_t group_n = d.n / groups;
    const uint64_t group_c = d.channels / groups;
    for (uint64_t g = 0; g < groups; ++g) {
      GemmJob& job = job_;
      job = GemmJob{};
      job.name = "descriptor@" + std::to_string(address);
      if (groups > 1) job.name += "/g" + std::to_string(g);
      job.m = d.m;
      job.n = group_n;
      job.k = d.k;
      job.a_address = d.a_address + g * group_c;
      job.w_address = d.w_address + g * group_n * d.k;
      job.out_address = d.out_address + g * group_n;
      job.out_row_pitch = d.n;
      job.a_exponent = d.a_exponent;
      job.out_exponent = d.out_exponent;
      job.relu = d.relu;
      job.w_exponents.assign(w_exponents.begin() + g * group_n,
                             w_exponents.begin() + (g + 1) * group_n);
      if (d.has_bias) job.bias.assign(bias.begin() + g * group_n, bias.begin() + (g + 1) * group_n);
      if (d.kind == driver::LayerKind::kConv) {
        ConvGeometry geometry;
        geometry.in_h = driver::padded_h(d);
        geometry.in_w = driver::padded_w(d);
        geometry.channels = group_c;
        geometry.filter_h = d.filter_h;
        geometry.filter_w = d.filter_w;
        geometry.stride = d.stride;
        geometry.pad = d.pad;
        geometry.pixel_channels = d.channels;
        job.conv = geometry;
      }
      if (g == 0) {  // every group has the same shape
        try {
          accelerator_.check_fits(job);
        } catch (const std::invalid_argument&) {
          return DeviceError::kTooLarge;
        }
      }

      jobs_.write(&job);
      done_.read();
      if (!accelerator_.error().empty()) return DeviceError::kBusError;
      const LayerStats& s = accelerator_.stats().back();
      stall_cycles_ += s.stall_cycles;
      macs_ += s.macs;
      dram_read_ += s.dram_bytes_read;
      dram_written_ += s.dram_bytes_written;
    }
    ++layers_done_;
    if (d.next_address == 0 || reset_pending_) return DeviceError::kNone;
    address = d.next_address;
  }
}

void Device::run_thread() {
  for (;;) {
    wait(start_event_);
    const DeviceError error = run_chain();
    cycles_ = cycles_now();
    busy_ = false;
    if (reset_pending_) {
      reset_registers();
      continue;
    }
    if (error == DeviceError::kNone) {
      done_flag_ = true;
      error_desc_ = 0;
      irq_status_ |= driver::kIrqDone;
    } else {
      error_ = error;
      irq_status_ |= driver::kIrqError;
    }
    irq_event_.notify(sc_core::SC_ZERO_TIME);
  }
}

}  // namespace lbfp::arch
