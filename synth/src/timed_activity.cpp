#include "lbfp_synth/timed_activity.h"

#include <algorithm>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <queue>
#include <stdexcept>

namespace lbfp::synth {
namespace {

// Input ports the operand stream drives, and output ports recorded, in the harness's order.
const char* const kInputPorts[] = {"a_i", "b_i", "valid_i", "first_i", "last_i"};
const char* const kOutputPorts[] = {"neg_o", "mag_o", "prod_o", "acc_o", "ovf_o"};

// A guard against a combinational loop (or zero delays around one): no operation of the units
// measured comes near this many events.
constexpr uint64_t kMaxEventsPerOp = 10'000'000;

struct Arc {
  const LibertyTable* rise_delay = nullptr;
  const LibertyTable* fall_delay = nullptr;
  const LibertyTable* rise_slew = nullptr;
  const LibertyTable* fall_slew = nullptr;
};

struct Output {
  int net = -1;
  std::vector<uint8_t> truth;  // by the cell's input values, input i at bit i
  std::vector<Arc> arcs;       // per input slot
  // The one pending change (inertial delay): its value is always the complement of the net's.
  bool pending = false;
  uint64_t pending_seq = 0;
  double pending_time = 0.0;
  double pending_slew = 0.0;
  // Transport delay: every scheduled change, in time order (each the complement of the one
  // before it, the first the complement of the net's value).
  struct Scheduled {
    double time = 0.0;
    uint64_t seq = 0;
    uint8_t value = 0;
    double slew = 0.0;
  };
  std::vector<Scheduled> scheduled;
};

struct Cell {
  std::string name;
  std::vector<int> inputs;  // net per input slot
  std::vector<Output> outputs;
};

struct Net {
  uint8_t value = 0;
  double slew_ns = 0.0;
  double load_pf = 0.0;
  bool constant = false;
  std::vector<std::pair<int, int>> fanout;  // (cell, input slot)
  uint64_t rises = 0;
  uint64_t falls = 0;
};

struct Event {
  double time = 0.0;
  uint64_t seq = 0;
  int cell = 0;
  int output = 0;
  bool operator>(const Event& o) const {
    return time != o.time ? time > o.time : seq > o.seq;
  }
};

struct Port {
  std::string name;
  std::vector<int> nets;  // lsb first
};

struct NetName {
  std::string key;  // the Activity key, as estimate_energy() looks it up
  int net = 0;
};

}  // namespace

struct TimedSimulator::Impl {
  std::string path;
  std::vector<Net> nets;
  std::vector<Cell> cells;
  std::vector<Port> inputs;
  std::vector<Port> outputs;
  std::vector<NetName> names;
  TimedOptions options;
  TimedStats stats;
  std::priority_queue<Event, std::vector<Event>, std::greater<Event>> queue;
  uint64_t seq = 0;
  uint64_t op_events = 0;
  double now = 0.0;
  bool counting = false;

  void load(const LibertyLibrary& library, const std::string& netlist_json);
  void evaluate(int cell_index, int slot);
  void fire(const Event& e);
  void run_queue();
  void settle_initial();
};

void TimedSimulator::Impl::load(const LibertyLibrary& library, const std::string& netlist_json) {
  path = netlist_json;
  std::ifstream in(netlist_json);
  if (!in) throw std::runtime_error("cannot read netlist " + netlist_json);
  nlohmann::json doc;
  try {
    doc = nlohmann::json::parse(in);
  } catch (const std::exception& e) {
    throw std::runtime_error(netlist_json + ": " + e.what());
  }
  const nlohmann::json* top = nullptr;
  for (const auto& [name, module] : doc.at("modules").items()) {
    if (module.contains("attributes") && module["attributes"].contains("top")) top = &module;
  }
  if (!top) throw std::runtime_error(netlist_json + ": no top module");

  double output_load = options.output_load_pf;
  if (output_load < 0.0) output_load = library.cell("INVX1").pin("A")->capacitance_pf;

  // Nets by Yosys bit id; the constants "0" and "1" become two constant nets.
  std::map<int64_t, int> by_id;
  const auto net_of = [&](const nlohmann::json& bit) -> int {
    if (bit.is_string()) {
      const std::string s = bit.get<std::string>();
      if (s != "0" && s != "1") {
        throw std::runtime_error(netlist_json + ": undriven or unknown bit '" + s + "'");
      }
      const int64_t id = s == "0" ? -1 : -2;
      auto it = by_id.find(id);
      if (it != by_id.end()) return it->second;
      Net n;
      n.constant = true;
      n.value = s == "1" ? 1 : 0;
      nets.push_back(n);
      return by_id[id] = static_cast<int>(nets.size()) - 1;
    }
    const int64_t id = bit.get<int64_t>();
    auto it = by_id.find(id);
    if (it != by_id.end()) return it->second;
    nets.emplace_back();
    return by_id[id] = static_cast<int>(nets.size()) - 1;
  };

  for (const auto& [name, port] : top->at("ports").items()) {
    Port p;
    p.name = name;
    for (const auto& bit : port.at("bits")) p.nets.push_back(net_of(bit));
    const std::string direction = port.at("direction").get<std::string>();
    if (direction == "input") {
      if (std::find(std::begin(kInputPorts), std::end(kInputPorts), name) ==
          std::end(kInputPorts)) {
        throw std::runtime_error(netlist_json + ": input port " + name +
                                 " (a clock or reset?): the timed activity simulation plays "
                                 "combinational units only");
      }
      inputs.push_back(std::move(p));
    } else if (direction == "output") {
      for (int n : p.nets) nets[static_cast<size_t>(n)].load_pf += output_load;
      outputs.push_back(std::move(p));
    } else {
      throw std::runtime_error(netlist_json + ": port " + name + " is " + direction);
    }
  }

  std::vector<int> driver(nets.size(), -1);
  for (const auto& [cell_name, cell] : top->at("cells").items()) {
    const std::string type = cell.at("type").get<std::string>();
    auto lc_it = library.cells.find(type);
    if (lc_it == library.cells.end()) {
      throw std::runtime_error(netlist_json + ": cell " + cell_name + " is a " + type +
                               ", not in library " + library.name);
    }
    const LibertyCell& lc = lc_it->second;
    if (lc.ff || lc.is_latch_or_tristate) {
      throw std::runtime_error(netlist_json + ": cell " + cell_name + " is a " + type +
                               " (flip-flop, latch or tri-state): the timed activity simulation "
                               "plays combinational units only");
    }
    Cell c;
    c.name = cell_name;
    std::vector<std::string> input_pins;
    std::vector<const LibertyPin*> output_pins;
    std::vector<int> output_nets;
    for (const auto& [pin_name, bits] : cell.at("connections").items()) {
      const LibertyPin* pin = lc.pin(pin_name);
      if (!pin) throw std::runtime_error(netlist_json + ": cell " + type + " has no pin " + pin_name);
      if (bits.size() != 1) {
        throw std::runtime_error(netlist_json + ": pin " + pin_name + " of " + cell_name +
                                 " is not one bit");
      }
      const int n = net_of(bits[0]);
      if (static_cast<size_t>(n) >= driver.size()) driver.resize(nets.size(), -1);
      if (pin->is_output) {
        output_pins.push_back(pin);
        output_nets.push_back(n);
      } else {
        input_pins.push_back(pin_name);
        c.inputs.push_back(n);
        nets[static_cast<size_t>(n)].load_pf += pin->capacitance_pf;
      }
    }
    for (size_t o = 0; o < output_pins.size(); ++o) {
      const LibertyPin& pin = *output_pins[o];
      const int n = output_nets[o];
      if (nets[static_cast<size_t>(n)].constant || driver[static_cast<size_t>(n)] >= 0) {
        throw std::runtime_error(netlist_json + ": net of " + cell_name + "." + pin.name +
                                 " has another driver");
      }
      driver[static_cast<size_t>(n)] = static_cast<int>(cells.size());
      Output out;
      out.net = n;
      try {
        out.truth = liberty_function_truth_table(pin.function, input_pins);
      } catch (const std::exception& e) {
        throw std::runtime_error(netlist_json + ": cell " + cell_name + " (" + type + ", pin " +
                                 pin.name + "): " + e.what());
      }
      for (const std::string& input : input_pins) {
        Arc arc;
        for (const LibertyTiming& t : pin.timing) {
          if (!t.timing_type.empty() && t.timing_type != "combinational") continue;
          if (std::find(t.related_pins.begin(), t.related_pins.end(), input) ==
              t.related_pins.end()) {
            continue;
          }
          arc.rise_delay = t.cell_rise ? &*t.cell_rise : nullptr;
          arc.fall_delay = t.cell_fall ? &*t.cell_fall : nullptr;
          arc.rise_slew = t.rise_transition ? &*t.rise_transition : nullptr;
          arc.fall_slew = t.fall_transition ? &*t.fall_transition : nullptr;
          if (!arc.rise_delay || !arc.fall_delay || !arc.rise_slew || !arc.fall_slew) {
            throw std::runtime_error(t.source + ": the arc " + input + " -> " + pin.name +
                                     " of " + type +
                                     " lacks cell_rise, cell_fall, rise_transition or "
                                     "fall_transition");
          }
          break;
        }
        if (!arc.rise_delay) {
          throw std::runtime_error(netlist_json + ": cell " + type + " has no timing arc from " +
                                   input + " to " + pin.name + " in the liberty");
        }
        out.arcs.push_back(arc);
      }
      c.outputs.push_back(std::move(out));
    }
    cells.push_back(std::move(c));
  }
  for (size_t ci = 0; ci < cells.size(); ++ci) {
    for (size_t s = 0; s < cells[ci].inputs.size(); ++s) {
      nets[static_cast<size_t>(cells[ci].inputs[s])].fanout.emplace_back(static_cast<int>(ci),
                                                                          static_cast<int>(s));
    }
  }
  // Every net must be a constant, a primary input or driven by a cell.
  driver.resize(nets.size(), -1);
  std::vector<bool> is_input(nets.size(), false);
  for (const Port& p : inputs) {
    for (int n : p.nets) is_input[static_cast<size_t>(n)] = true;
  }
  for (size_t n = 0; n < nets.size(); ++n) {
    if (!nets[n].constant && !is_input[n] && driver[n] < 0 && !nets[n].fanout.empty()) {
      throw std::runtime_error(netlist_json + ": a net read by cell " +
                               cells[static_cast<size_t>(nets[n].fanout.front().first)].name +
                               " has no driver");
    }
  }

  // Activity keys, as estimate_energy() looks them up: "name" for a one-bit net, else
  // "name[i]"; every name of a net is reported.
  for (const auto& [name, names_entry] : top->at("netnames").items()) {
    const auto& bits = names_entry.at("bits");
    for (size_t i = 0; i < bits.size(); ++i) {
      if (!bits[i].is_number()) continue;
      auto it = by_id.find(bits[i].get<int64_t>());
      if (it == by_id.end()) continue;  // a name of a net that nothing connects
      names.push_back({bits.size() == 1 ? name : name + "[" + std::to_string(i) + "]",
                       it->second});
    }
  }
}

// Cell `cell_index` sees a change on input `slot` at `now`: re-evaluates its outputs and
// schedules, keeps or cancels each output's pending change.
void TimedSimulator::Impl::evaluate(int cell_index, int slot) {
  Cell& c = cells[static_cast<size_t>(cell_index)];
  uint32_t m = 0;
  for (size_t i = 0; i < c.inputs.size(); ++i) {
    m |= uint32_t{nets[static_cast<size_t>(c.inputs[i])].value} << i;
  }
  const double in_slew = nets[static_cast<size_t>(c.inputs[static_cast<size_t>(slot)])].slew_ns;
  for (size_t o = 0; o < c.outputs.size(); ++o) {
    Output& out = c.outputs[o];
    Net& net = nets[static_cast<size_t>(out.net)];
    const uint8_t v = out.truth[m];
    if (options.transport) {
      // VHDL transport semantics: a new change replaces those scheduled at or after it.
      const Arc& arc = out.arcs[static_cast<size_t>(slot)];
      const double t = now + std::max(0.0, (v ? arc.rise_delay : arc.fall_delay)
                                               ->lookup_load_slew(net.load_pf, in_slew));
      while (!out.scheduled.empty() && out.scheduled.back().time >= t) out.scheduled.pop_back();
      const uint8_t projected = out.scheduled.empty() ? net.value : out.scheduled.back().value;
      if (v == projected) continue;
      const double slew =
          (v ? arc.rise_slew : arc.fall_slew)->lookup_load_slew(net.load_pf, in_slew);
      out.scheduled.push_back({t, ++seq, v, slew});
      queue.push(Event{t, seq, cell_index, static_cast<int>(o)});
      continue;
    }
    if (v == net.value) {
      if (out.pending) {  // the pulse is shorter than the gate's delay: filtered
        out.pending = false;
        if (counting) ++stats.filtered_pulses;
      }
      continue;
    }
    const Arc& arc = out.arcs[static_cast<size_t>(slot)];
    const double delay =
        std::max(0.0, (v ? arc.rise_delay : arc.fall_delay)->lookup_load_slew(net.load_pf, in_slew));
    const double t = now + delay;
    if (out.pending && out.pending_time <= t) continue;  // already on its way to v, sooner
    out.pending = true;
    out.pending_seq = ++seq;
    out.pending_time = t;
    out.pending_slew = (v ? arc.rise_slew : arc.fall_slew)->lookup_load_slew(net.load_pf, in_slew);
    queue.push(Event{t, out.pending_seq, cell_index, static_cast<int>(o)});
  }
}

void TimedSimulator::Impl::fire(const Event& e) {
  Output& out = cells[static_cast<size_t>(e.cell)].outputs[static_cast<size_t>(e.output)];
  double slew = 0.0;
  if (options.transport) {
    if (out.scheduled.empty() || out.scheduled.front().seq != e.seq) return;  // replaced
    slew = out.scheduled.front().slew;
    out.scheduled.erase(out.scheduled.begin());
  } else {
    if (!out.pending || out.pending_seq != e.seq) return;  // cancelled or superseded
    out.pending = false;
    slew = out.pending_slew;
  }
  Net& net = nets[static_cast<size_t>(out.net)];
  net.value ^= 1u;
  net.slew_ns = slew;
  if (counting) {
    ++(net.value ? net.rises : net.falls);
    ++stats.events;
  }
  if (++op_events > kMaxEventsPerOp) {
    throw std::runtime_error(path + ": more than " + std::to_string(kMaxEventsPerOp) +
                             " events in one operation (a combinational loop?)");
  }
  for (const auto& [cell_index, slot] : net.fanout) evaluate(cell_index, slot);
}

void TimedSimulator::Impl::run_queue() {
  op_events = 0;
  while (!queue.empty()) {
    const Event e = queue.top();
    queue.pop();
    now = e.time;
    fire(e);
  }
}

// All inputs 0 and every cell evaluated once, then the events run out: the settled state the
// stream starts from (the Verilator harness also starts from inputs 0). Nothing is counted.
void TimedSimulator::Impl::settle_initial() {
  counting = false;
  now = 0.0;
  for (Net& n : nets) {
    if (!n.constant) n.value = 0;
    n.slew_ns = options.input_slew_ns;
    n.rises = n.falls = 0;
  }
  for (Cell& c : cells) {
    for (Output& o : c.outputs) {
      o.pending = false;
      o.scheduled.clear();
    }
  }
  while (!queue.empty()) queue.pop();
  for (size_t ci = 0; ci < cells.size(); ++ci) {
    if (!cells[ci].inputs.empty()) {
      evaluate(static_cast<int>(ci), 0);
    } else {
      // A tie cell: no inputs, its function is a constant.
      for (Output& o : cells[ci].outputs) nets[static_cast<size_t>(o.net)].value = o.truth[0];
    }
  }
  run_queue();
}

TimedSimulator::TimedSimulator(const LibertyLibrary& library, const std::string& netlist_json,
                               const TimedOptions& options)
    : impl_(std::make_unique<Impl>()) {
  impl_->options = options;
  impl_->load(library, netlist_json);
}

TimedSimulator::~TimedSimulator() = default;

const TimedStats& TimedSimulator::stats() const { return impl_->stats; }

Activity TimedSimulator::run(const std::vector<Op>& stream, bool record_outputs) {
  Impl& s = *impl_;
  s.stats = TimedStats{};
  s.settle_initial();
  s.counting = true;
  double settle_sum = 0.0;
  std::vector<int> changed;
  Activity a;
  a.ops = stream.size();
  for (const Op& op : stream) {
    s.now = 0.0;
    changed.clear();
    for (const Port& p : s.inputs) {
      uint64_t value = 0;
      if (p.name == "a_i") value = op.a;
      if (p.name == "b_i") value = op.b;
      if (p.name == "valid_i") value = op.valid;
      if (p.name == "first_i") value = op.first;
      if (p.name == "last_i") value = op.last;
      for (size_t i = 0; i < p.nets.size(); ++i) {
        Net& n = s.nets[static_cast<size_t>(p.nets[i])];
        const uint8_t v = (value >> i) & 1u;
        if (n.constant || n.value == v) continue;
        n.value = v;
        n.slew_ns = s.options.input_slew_ns;
        ++(v ? n.rises : n.falls);
        changed.push_back(p.nets[i]);
      }
    }
    // The inputs change together: every reader sees all new values in its first evaluation.
    for (int n : changed) {
      for (const auto& [cell_index, slot] : s.nets[static_cast<size_t>(n)].fanout) {
        s.evaluate(cell_index, slot);
      }
    }
    s.run_queue();
    settle_sum += s.now;
    s.stats.max_settle_ns = std::max(s.stats.max_settle_ns, s.now);
    if (record_outputs) {
      std::vector<uint64_t> row = {op.a, op.b};
      for (const char* name : kOutputPorts) {
        for (const Port& p : s.outputs) {
          if (p.name != name) continue;
          uint64_t v = 0;
          for (size_t i = 0; i < p.nets.size() && i < 64; ++i) {
            v |= uint64_t{s.nets[static_cast<size_t>(p.nets[i])].value} << i;
          }
          row.push_back(v);
        }
      }
      a.outputs.push_back(std::move(row));
    }
  }
  if (!stream.empty()) s.stats.mean_settle_ns = settle_sum / static_cast<double>(stream.size());
  for (const NetName& n : s.names) {
    const Net& net = s.nets[static_cast<size_t>(n.net)];
    if (net.constant) continue;
    a.nets[n.key] = NetToggles{net.rises, net.falls};
  }
  return a;
}

}  // namespace lbfp::synth
