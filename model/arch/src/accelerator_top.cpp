#include "lbfp/arch/accelerator_top.h"

#include <stdexcept>

namespace lbfp::arch {
namespace {

uint64_t align64(uint64_t v) { return (v + 63) / 64 * 64; }

std::string bytes_text(uint64_t b) { return std::to_string(b) + " bytes"; }

}  // namespace

AcceleratorTop::AcceleratorTop(sc_core::sc_module_name name, const AcceleratorConfig& config,
                               std::unique_ptr<ArrayBackend> backend)
    : sc_module(name),
      host_("host"),
      accelerator_("accelerator", config, std::move(backend)),
      bus_("bus"),
      memory_("memory", config.dram),
      jobs_("jobs"),
      done_("done") {
  host_.memory_socket.bind(bus_.target_socket);
  accelerator_.dma_socket.bind(bus_.target_socket);
  bus_.initiator_socket.bind(memory_.socket);
  host_.job_out(jobs_);
  accelerator_.job_in(jobs_);
  accelerator_.done_out(done_);
  host_.done_in(done_);
}

void AcceleratorTop::add_layer(GemmLayer layer, LayerSource source) {
  // The threads take the layers there are when the simulation starts.
  if (sc_core::sc_start_of_simulation_invoked()) {
    throw std::logic_error("layer '" + layer.name + "': layers must be added before sc_start");
  }
  source ? layer.validate_shape() : layer.validate();
  GemmJob job;
  job.name = layer.name;
  job.m = layer.m;
  job.n = layer.n;
  job.k = layer.k;
  job.a_address = 0;
  job.w_address = align64(layer.a_codes());  // A, or the input feature map of a convolution
  job.out_address = job.w_address + align64(layer.n * layer.k);
  job.a_exponent = layer.a_exponent;
  job.w_exponents = layer.w_exponents;
  job.bias = layer.bias;
  job.out_exponent = layer.out_exponent;
  job.relu = layer.relu;
  job.conv = layer.conv;
  // A format of spec section 13: its scales, their bytes after the outputs (MX: FP32 outputs).
  const AcceleratorConfig& config = accelerator_.config();
  job.scaled = layer.scaled;
  job.out_bytes = output_bytes(config);
  uint64_t footprint = job.out_address + align64(layer.m * layer.n * job.out_bytes);
  if (config.scaled) {
    if (!layer.scaled) {
      throw std::invalid_argument("layer '" + layer.name + "': " + config.scaled->name() +
                                  " needs the layer's scales");
    }
    const uint64_t pixels = layer.conv ? layer.conv->stored_h() * layer.conv->stored_w() : 0;
    job.a_scale_address = footprint;
    footprint += align64(layer.conv ? a_scale_bytes(config, job, pixels, layer.conv->channels,
                                                    true)
                                    : a_scale_bytes(config, job, layer.m, layer.k, false));
    job.w_scale_address = footprint;
    footprint += align64(w_scale_bytes(config, job, layer.n, layer.k));
  }
  accelerator_.check_fits(job);
  const uint64_t memory = memory_.config().size_bytes;
  if (footprint > memory) {
    throw std::invalid_argument("layer '" + layer.name + "': needs " + bytes_text(footprint) +
                                " of DRAM, the DRAM has " + bytes_text(memory));
  }
  host_.add_layer(std::move(layer), std::move(job), std::move(source));
}

}  // namespace lbfp::arch
