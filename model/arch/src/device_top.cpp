#include "lbfp/arch/device_top.h"

#include <limits>
#include <stdexcept>

#include "lbfp/driver/driver.h"

namespace lbfp::arch {
namespace {

uint64_t align64(uint64_t v) { return (v + 63) / 64 * 64; }

std::string bytes_text(uint64_t b) { return std::to_string(b) + " bytes"; }

// The descriptor of `layer` with its shape fields; the host fills in the addresses.
driver::Descriptor shape_of(const GemmLayer& layer) {
  driver::Descriptor d;
  d.kind = layer.conv ? driver::LayerKind::kConv : driver::LayerKind::kGemm;
  d.m = layer.m;
  d.n = layer.n;
  d.k = layer.k;
  if (layer.conv) {
    const ConvGeometry& g = *layer.conv;
    d.in_h = g.in_h;
    d.in_w = g.in_w;
    d.channels = g.channels;
    // The decoder refuses a filter or stride of 2^32 or more as a bad shape (it reads 0 or less).
    d.filter_h = static_cast<uint32_t>(g.filter_h);
    d.filter_w = static_cast<uint32_t>(g.filter_w);
    d.stride = static_cast<uint32_t>(g.stride);
  }
  d.a_exponent = layer.a_exponent;
  d.out_exponent = layer.out_exponent;
  d.relu = layer.relu;
  return d;
}

// Where the host places one layer, from address 0 (the driver's 64-byte-aligned allocation
// order): A (or the input feature map), W and the outputs at AcceleratorTop's addresses, then
// the weight exponents, the bias and the descriptor.
struct Placement {
  uint64_t a, w, out, w_exponents, bias, descriptor, end;
};

Placement placement(const GemmLayer& layer) {
  Placement p;
  p.a = 0;
  p.w = align64(layer.a_codes());
  p.out = p.w + align64(layer.n * layer.k);
  p.w_exponents = p.out + align64(layer.m * layer.n);
  p.bias = p.w_exponents + align64(layer.n);
  p.descriptor = p.bias + (layer.bias.empty() ? 0 : align64(4 * layer.n));
  p.end = p.descriptor + align64(driver::kDescriptorBytes);
  return p;
}

}  // namespace

DeviceConfig DeviceTop::device_config(const AcceleratorConfig& config) {
  DeviceConfig c;
  c.accelerator = config;
  // The direct path has no limits of its own: the memory bounds a layer.
  c.max_dimension = uint64_t{1} << 32;
  c.max_layer_macs = std::numeric_limits<uint64_t>::max();
  return c;
}

DeviceTop::DeviceTop(sc_core::sc_module_name name, const AcceleratorConfig& config,
                     std::unique_ptr<ArrayBackend> backend)
    : sc_module(name),
      platform_("platform", device_config(config), [this](Cpu& cpu) { program(cpu); },
                std::move(backend)) {}

void DeviceTop::add_layer(GemmLayer layer, LayerSource source) {
  if (sc_core::sc_start_of_simulation_invoked()) {
    throw std::logic_error("layer '" + layer.name + "': layers must be added before sc_start");
  }
  source ? layer.validate_shape() : layer.validate();
  const Placement p = placement(layer);
  GemmJob job;  // what the device will build from the descriptor, for the buffer check
  job.name = layer.name;
  job.m = layer.m;
  job.n = layer.n;
  job.k = layer.k;
  job.w_exponents = layer.w_exponents;
  job.conv = layer.conv;
  accelerator().check_fits(job);
  const uint64_t memory = platform_.memory().config().size_bytes;
  if (p.w_exponents > memory) {
    throw std::invalid_argument("layer '" + layer.name + "': needs " + bytes_text(p.w_exponents) +
                                " of DRAM, the DRAM has " + bytes_text(memory));
  }
  if (p.end > memory) {
    throw std::invalid_argument("layer '" + layer.name + "': needs " + bytes_text(p.end) +
                                " of DRAM with its weight exponents, bias and command "
                                "descriptor, the DRAM has " + bytes_text(memory));
  }
  // The device's own checks, before anything runs (the layer checks above make them pass).
  driver::Descriptor d = shape_of(layer);
  d.a_address = p.a;
  d.w_address = p.w;
  d.out_address = p.out;
  d.w_exponents_address = p.w_exponents;
  d.has_bias = !layer.bias.empty();
  d.bias_address = d.has_bias ? p.bias : 0;
  const DeviceConfig& c = platform_.device().config();
  driver::DecodeLimits limits;
  limits.memory_base = c.memory_base;
  limits.memory_bytes = c.memory_bytes;
  limits.max_dim = c.max_dimension;
  limits.max_macs = c.max_layer_macs;
  const auto bytes = driver::encode_descriptor(d);
  const driver::DeviceError error =
      driver::decode_descriptor(bytes.data(), bytes.size(), limits, nullptr);
  if (error != driver::DeviceError::kNone) {
    throw std::invalid_argument("layer '" + layer.name + "': the device refuses its descriptor (" +
                                driver::device_error_name(error) + ")");
  }
  layers_.push_back(std::move(layer));
  sources_.push_back(std::move(source));
}

void DeviceTop::program(Cpu& cpu) {
  const uint64_t memory = platform_.memory().config().size_bytes;
  driver::Driver drv(cpu, DevicePlatform::kDeviceBase, 0, memory);
  drv.probe();
  std::vector<Code> unkept;  // the outputs read back when they are not kept
  for (size_t i = 0; i < layers_.size(); ++i) {
    if (sources_[i]) {  // a throw here stops the program (Cpu::error)
      GemmLayer made = sources_[i]();
      check_same_shape(made, layers_[i]);
      made.validate();
      layers_[i] = std::move(made);
      sources_[i] = nullptr;
    }
    GemmLayer& layer = layers_[i];
    // One layer at a time from address 0, as the direct path's host places it.
    drv.release_all();
    driver::Descriptor d = shape_of(layer);
    d.a_address = drv.place(layer.a.data(), layer.a.size());
    d.w_address = drv.place(layer.w.data(), layer.w.size());
    // The device reads its operands from memory: the host's copies go (their memory serves the
    // layers still to be made).
    std::vector<Code>().swap(layer.a);
    std::vector<Code>().swap(layer.w);
    d.out_address = drv.allocate(layer.m * layer.n);
    const std::vector<int8_t> exponents(layer.w_exponents.begin(), layer.w_exponents.end());
    drv.place_parameters(exponents, layer.bias, &d);
    const uint64_t descriptor = drv.allocate(driver::kDescriptorBytes);
    drv.write_descriptor(descriptor, d);
    const driver::RunResult result = drv.run(descriptor);
    if (!accelerator().error().empty()) return;  // the simulation stops with it
    if (!result.ok()) {
      throw std::runtime_error("layer '" + layer.name + "': the device stopped with error " +
                               std::to_string(static_cast<int>(result.error)) + " (" +
                               driver::device_error_name(result.error) + ")");
    }
    std::vector<Code>& out = keep_outputs_ ? outputs_.emplace_back() : unkept;
    out.resize(layer.m * layer.n);
    drv.read_output(d.out_address, out.data(), out.size());
    if (progress_) progress_(i + 1, layers_.size());
  }
  finished_ = true;
}

std::vector<LayerStats> DeviceTop::stats() const {
  std::vector<LayerStats> stats = accelerator().stats();
  for (size_t i = 0; i < stats.size() && i < layers_.size(); ++i) stats[i].name = layers_[i].name;
  return stats;
}

const std::string& DeviceTop::error() const {
  return accelerator().error().empty() ? platform_.cpu().error() : accelerator().error();
}

}  // namespace lbfp::arch
