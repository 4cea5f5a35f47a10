#include "lbfp/synth/power.h"

#include <cstddef>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "netlist_json.h"

namespace lbfp::synth {
namespace {

struct PinRef {
  const LibertyCell* cell = nullptr;
  const LibertyPin* pin = nullptr;
};

struct Net {
  std::vector<PinRef> drivers;
  std::vector<PinRef> loads;
  bool output_port = false;
};

// Mean internal energy of one output transition over the pin's related-pin tables.
double output_internal_pj(const LibertyPin& pin, bool rise, double load_pf, double slew_ns) {
  double sum = 0.0;
  int n = 0;
  for (const InternalPower& p : pin.internal_power) {
    const auto& table = rise ? p.rise : p.fall;
    if (!table) continue;
    sum += table->lookup(load_pf, slew_ns);
    ++n;
  }
  return n ? sum / n : 0.0;
}

// An input pin's own internal energy for one transition (flip-flop clock and data pins).
double input_internal_pj(const LibertyPin& pin, bool rise, double slew_ns) {
  for (const InternalPower& p : pin.internal_power) {
    if (!p.related_pin.empty()) continue;
    const auto& table = rise ? p.rise : p.fall;
    if (table) return table->lookup(slew_ns);
  }
  return 0.0;
}

// A named net bit as the activity may report it, with everything its pricing needs.
struct Candidate {
  size_t net = 0;        // dense index of the Yosys bit id
  std::string key;       // "name" for a one-bit n-net, else "name[i]"
  std::string fallback;  // "name" for a one-bit net, tried when key is not reported
  double load_pf = 0.0;
  std::vector<std::pair<double, double>> driver_pj;  // per driver: rise, fall internal energy
  std::vector<std::pair<double, double>> load_pj;    // per load pin: its own rise, fall energy
};

}  // namespace

struct NetlistEnergy::Impl {
  double v2 = 0.0;
  double leakage_nw = 0.0;
  size_t net_count = 0;
  std::vector<Candidate> candidates;  // in the netlist's netnames order
  std::vector<size_t> driven;         // dense indices of the nets some cell drives
};

NetlistEnergy::NetlistEnergy(const LibertyLibrary& library, const std::string& netlist_json,
                             const EnergyOptions& options)
    : impl_(std::make_unique<Impl>()) {
  const nlohmann::json doc = read_netlist_json(netlist_json);
  const nlohmann::json* top = &netlist_top_module(doc, netlist_json);
  const double output_load = output_port_load_pf(library, options.output_load_pf);
  Impl& m = *impl_;
  m.v2 = options.voltage * options.voltage;

  std::map<int64_t, Net> nets;  // by Yosys bit id; constants ("0", "1") are not nets
  for (const auto& [name, port] : top->at("ports").items()) {
    if (port.at("direction") != "output") continue;
    for (const auto& bit : port.at("bits")) {
      if (bit.is_number()) nets[bit.get<int64_t>()].output_port = true;
    }
  }
  for (const auto& [name, cell] : top->at("cells").items()) {
    const LibertyCell& lc = library.cell(cell.at("type").get<std::string>());
    m.leakage_nw += lc.leakage_nw;
    for (const auto& [pin_name, bits] : cell.at("connections").items()) {
      const LibertyPin* pin = lc.pin(pin_name);
      if (!pin) throw std::runtime_error("cell " + lc.name + " has no pin " + pin_name);
      for (const auto& bit : bits) {
        if (!bit.is_number()) continue;
        Net& net = nets[bit.get<int64_t>()];
        (pin->is_output ? net.drivers : net.loads).push_back({&lc, pin});
      }
    }
  }

  std::map<int64_t, size_t> dense;
  auto index = [&](int64_t id) { return dense.emplace(id, dense.size()).first->second; };
  for (const auto& [id, net] : nets) {
    const size_t n = index(id);
    if (!net.drivers.empty()) m.driven.push_back(n);
  }
  for (const auto& [name, names] : top->at("netnames").items()) {
    const auto& bits = names.at("bits");
    for (size_t i = 0; i < bits.size(); ++i) {
      if (!bits[i].is_number()) continue;
      const int64_t id = bits[i].get<int64_t>();
      Candidate c;
      c.net = index(id);
      c.key = bits.size() == 1 && name.rfind("n", 0) == 0 ? name
                                                          : name + "[" + std::to_string(i) + "]";
      if (bits.size() == 1) c.fallback = name;
      auto it = nets.find(id);
      const Net net = it == nets.end() ? Net{} : it->second;
      c.load_pf = net.output_port ? output_load : 0.0;
      for (const PinRef& p : net.loads) c.load_pf += p.pin->capacitance_pf;
      for (const PinRef& d : net.drivers) {
        c.driver_pj.emplace_back(output_internal_pj(*d.pin, true, c.load_pf, options.input_slew_ns),
                                 output_internal_pj(*d.pin, false, c.load_pf, options.input_slew_ns));
      }
      for (const PinRef& l : net.loads) {
        c.load_pj.emplace_back(input_internal_pj(*l.pin, true, options.input_slew_ns),
                               input_internal_pj(*l.pin, false, options.input_slew_ns));
      }
      m.candidates.push_back(std::move(c));
    }
  }
  m.net_count = dense.size();
}

NetlistEnergy::NetlistEnergy(NetlistEnergy&&) noexcept = default;
NetlistEnergy& NetlistEnergy::operator=(NetlistEnergy&&) noexcept = default;
NetlistEnergy::~NetlistEnergy() = default;

Energy NetlistEnergy::estimate(const Activity& activity) const {
  const Impl& m = *impl_;
  Energy e;
  e.leakage_nw = m.leakage_nw;
  std::vector<bool> priced(m.net_count, false);
  for (const Candidate& c : m.candidates) {
    if (priced[c.net]) continue;  // one net, several names
    auto t = activity.nets.find(c.key);
    if (t == activity.nets.end() && !c.fallback.empty()) t = activity.nets.find(c.fallback);
    if (t == activity.nets.end()) continue;
    priced[c.net] = true;
    ++e.nets_priced;
    const double rises = static_cast<double>(t->second.rises);
    const double falls = static_cast<double>(t->second.falls);
    e.switching_pj += 0.5 * c.load_pf * m.v2 * (rises + falls);  // pF * V^2 = pJ
    for (const auto& [rise_pj, fall_pj] : c.driver_pj) {
      e.internal_pj += rises * rise_pj + falls * fall_pj;
    }
    for (const auto& [rise_pj, fall_pj] : c.load_pj) {
      e.internal_pj += rises * rise_pj + falls * fall_pj;
    }
  }
  for (size_t n : m.driven) {
    if (!priced[n]) ++e.nets_missing;
  }
  if (activity.ops > 0) {
    e.per_op_pj = (e.switching_pj + e.internal_pj) / static_cast<double>(activity.ops);
  }
  return e;
}

Energy estimate_energy(const LibertyLibrary& library, const std::string& netlist_json,
                       const Activity& activity, const EnergyOptions& options) {
  return NetlistEnergy(library, netlist_json, options).estimate(activity);
}

}  // namespace lbfp::synth
