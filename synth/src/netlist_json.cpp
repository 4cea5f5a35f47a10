#include "netlist_json.h"

#include <fstream>
#include <stdexcept>

namespace lbfp::synth {

nlohmann::json read_netlist_json(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error("cannot read netlist " + path);
  try {
    return nlohmann::json::parse(in);
  } catch (const std::exception& e) {
    throw std::runtime_error(path + ": " + e.what());
  }
}

const nlohmann::json& netlist_top_module(const nlohmann::json& doc, const std::string& path) {
  const nlohmann::json* top = nullptr;
  if (doc.is_object() && doc.contains("modules")) {
    for (const auto& [name, module] : doc.at("modules").items()) {
      if (module.contains("attributes") && module["attributes"].contains("top")) top = &module;
    }
  }
  if (!top) throw std::runtime_error(path + ": no top module");
  return *top;
}

double output_port_load_pf(const LibertyLibrary& library, double requested_pf) {
  return requested_pf < 0.0 ? library.cell("INVX1").pin("A")->capacitance_pf : requested_pf;
}

}  // namespace lbfp::synth
