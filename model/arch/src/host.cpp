#include "lbfp/arch/host.h"

#include <algorithm>
#include <stdexcept>

#include "thread_end.h"

namespace lbfp::arch {
namespace {

// transport_dbg takes an unsigned int length: longer transfers go in pieces.
constexpr uint64_t kMaxDebugBytes = uint64_t{1} << 30;

}  // namespace

Host::Host(sc_core::sc_module_name name)
    : sc_module(name), memory_socket("memory_socket"), job_out("job_out"), done_in("done_in") {
  SC_THREAD(run_thread);
}

void Host::add_layer(GemmLayer layer, GemmJob job, LayerSource source) {
  layers_.push_back(std::move(layer));
  jobs_.push_back(std::move(job));
  sources_.push_back(std::move(source));
}

void Host::debug(tlm::tlm_command command, uint64_t address, unsigned char* data,
                 uint64_t length) {
  for (uint64_t done = 0; done < length;) {
    const auto piece = static_cast<unsigned int>(std::min(length - done, kMaxDebugBytes));
    tlm::tlm_generic_payload payload;
    payload.set_command(command);
    payload.set_address(address + done);
    payload.set_data_ptr(data + done);
    payload.set_data_length(piece);
    const unsigned int moved = memory_socket->transport_dbg(payload);
    if (moved != piece) {
      throw std::out_of_range(
          std::string(name()) + ": debug " +
          (command == tlm::TLM_READ_COMMAND ? "read" : "write") + " of " +
          std::to_string(length) + " bytes at address " + std::to_string(address) +
          " reached only " + std::to_string(done + moved) + " bytes of memory");
    }
    done += piece;
  }
}

void Host::write(uint64_t address, const void* data, uint64_t length) {
  // The payload's data pointer is not const; a debug write only reads through it.
  debug(tlm::TLM_WRITE_COMMAND, address,
        const_cast<unsigned char*>(static_cast<const unsigned char*>(data)), length);
}

void Host::read(uint64_t address, void* data, uint64_t length) {
  debug(tlm::TLM_READ_COMMAND, address, static_cast<unsigned char*>(data), length);
}

bool Host::take_from_source(size_t i) {
  try {
    GemmLayer made = sources_[i]();
    check_same_shape(made, layers_[i]);
    made.validate();
    GemmJob& job = jobs_[i];
    job.a_exponent = made.a_exponent;
    job.w_exponents = made.w_exponents;
    job.bias = made.bias;
    job.out_exponent = made.out_exponent;
    job.relu = made.relu;
    layers_[i] = std::move(made);
    sources_[i] = nullptr;
    return true;
  } catch (const std::exception& e) {
    error_ = e.what();
    sc_core::sc_stop();
    return false;
  }
}

void Host::run_thread() {
  run_layers();
  end_thread();
}

void Host::run_layers() {
  std::vector<Code> unkept;  // the outputs read back when they are not kept
  try {
    for (size_t i = 0; i < layers_.size(); ++i) {
      if (sources_[i] && !take_from_source(i)) return;
      const GemmLayer& layer = layers_[i];
      const GemmJob& job = jobs_[i];
      // The layer's operands are in memory when it starts (placed by the host, untimed).
      write(job.a_address, layer.a.data(), layer.a.size());
      write(job.w_address, layer.w.data(), layer.w.size());
      job_out.write(&job);
      done_in.read();
      std::vector<Code>& out = keep_outputs_ ? outputs_.emplace_back() : unkept;
      out.resize(job.m * job.n * job.out_bytes);
      read(job.out_address, out.data(), out.size());
      if (progress_) progress_(i + 1, layers_.size());
    }
  } catch (const std::out_of_range& e) {
    error_ = e.what();
    sc_core::sc_stop();
    return;
  }
  job_out.write(nullptr);  // no more work: the accelerator's threads end
  finished_ = true;
}

}  // namespace lbfp::arch
