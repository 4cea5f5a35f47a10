#include "lbfp_synth/power.h"

#include <map>
#include <nlohmann/json.hpp>
#include <stdexcept>
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

}  // namespace

Energy estimate_energy(const LibertyLibrary& library, const std::string& netlist_json,
                       const Activity& activity, const EnergyOptions& options) {
  const nlohmann::json doc = read_netlist_json(netlist_json);
  const nlohmann::json* top = &netlist_top_module(doc, netlist_json);
  const double output_load = output_port_load_pf(library, options.output_load_pf);

  Energy e;
  std::map<int64_t, Net> nets;  // by Yosys bit id; constants ("0", "1") are not nets
  for (const auto& [name, port] : top->at("ports").items()) {
    if (port.at("direction") != "output") continue;
    for (const auto& bit : port.at("bits")) {
      if (bit.is_number()) nets[bit.get<int64_t>()].output_port = true;
    }
  }
  for (const auto& [name, cell] : top->at("cells").items()) {
    const LibertyCell& lc = library.cell(cell.at("type").get<std::string>());
    e.leakage_nw += lc.leakage_nw;
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

  const double v2 = options.voltage * options.voltage;
  std::map<int64_t, bool> priced;
  for (const auto& [name, names] : top->at("netnames").items()) {
    const auto& bits = names.at("bits");
    for (size_t i = 0; i < bits.size(); ++i) {
      if (!bits[i].is_number()) continue;
      const int64_t id = bits[i].get<int64_t>();
      if (priced[id]) continue;  // one net, several names
      const std::string key = bits.size() == 1 && name.rfind("n", 0) == 0
                                  ? name
                                  : name + "[" + std::to_string(i) + "]";
      auto t = activity.nets.find(key);
      if (t == activity.nets.end() && bits.size() == 1) t = activity.nets.find(name);
      if (t == activity.nets.end()) continue;
      priced[id] = true;
      const Net& net = nets[id];
      double load_pf = net.output_port ? output_load : 0.0;
      for (const PinRef& p : net.loads) load_pf += p.pin->capacitance_pf;
      const double rises = static_cast<double>(t->second.rises);
      const double falls = static_cast<double>(t->second.falls);
      e.switching_pj += 0.5 * load_pf * v2 * (rises + falls);  // pF * V^2 = pJ
      for (const PinRef& d : net.drivers) {
        e.internal_pj += rises * output_internal_pj(*d.pin, true, load_pf, options.input_slew_ns) +
                         falls * output_internal_pj(*d.pin, false, load_pf, options.input_slew_ns);
      }
      for (const PinRef& l : net.loads) {
        e.internal_pj += rises * input_internal_pj(*l.pin, true, options.input_slew_ns) +
                         falls * input_internal_pj(*l.pin, false, options.input_slew_ns);
      }
    }
  }
  for (const auto& [id, net] : nets) {
    if (!net.drivers.empty() && !priced[id]) ++e.nets_missing;
    if (priced[id]) ++e.nets_priced;
  }
  if (activity.ops > 0) {
    e.per_op_pj = (e.switching_pj + e.internal_pj) / static_cast<double>(activity.ops);
  }
  return e;
}

}  // namespace lbfp::synth
