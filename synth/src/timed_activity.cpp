#include "lbfp/synth/timed_activity.h"

#include <algorithm>
#include <map>
#include <nlohmann/json.hpp>
#include <queue>
#include <stdexcept>

#include "netlist_json.h"

namespace lbfp::synth {
namespace {

// Output ports recorded, in the harness's order.
const char* const kOutputPorts[] = {"neg_o", "mag_o", "prod_o", "acc_o", "ovf_o"};

// A guard against a combinational loop (or zero delays around one): no operation of the units
// measured comes near this many events.
constexpr uint64_t kMaxEventsPerOp = 10'000'000;

struct Arc {
  const LibertyTable* rise_delay = nullptr;
  const LibertyTable* fall_delay = nullptr;
  const LibertyTable* rise_slew = nullptr;
  const LibertyTable* fall_slew = nullptr;
  const LibertyTiming* timing = nullptr;  // null: no arc (a flip-flop's D to Q)
};

// A flip-flop's behaviour (the liberty ff group) as truth tables over the cell's inputs.
struct FlipFlop {
  std::vector<uint8_t> clocked_on;  // the clock expression; its rising value is the edge
  std::vector<uint8_t> next_state;
  std::vector<uint8_t> clear;       // empty: none
  std::vector<uint8_t> preset;      // empty: none
  uint8_t clock = 0;                // the clock expression's last value
  uint8_t state = 0;
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
  std::string type;
  std::vector<int> inputs;  // net per input slot
  std::vector<Output> outputs;
  // A flip-flop: its outputs' truth tables also take the state (input bit n) and its inverse
  // (bit n + 1), n the number of inputs.
  bool is_ff = false;
  FlipFlop ff;
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
  double apply_inputs(const Op& op, int clock, int reset_n);
  bool clocked = false;  // the netlist has clk_i
  std::vector<int> changed_inputs;
};

void TimedSimulator::Impl::load(const LibertyLibrary& library, const std::string& netlist_json) {
  path = netlist_json;
  const nlohmann::json doc = read_netlist_json(netlist_json);
  const nlohmann::json* top = &netlist_top_module(doc, netlist_json);
  const double output_load = output_port_load_pf(library, options.output_load_pf);

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
      // The stream's ports, clk_i and rst_ni are driven; any other input (a PE's bias_i) stays
      // 0, as in the Verilator harness.
      if (name == "clk_i") clocked = true;
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
    if (lc.is_latch_or_tristate) {
      throw std::runtime_error(netlist_json + ": cell " + cell_name + " is a " + type +
                               " (latch or tri-state): the timed activity simulation does not "
                               "model it");
    }
    Cell c;
    c.name = cell_name;
    c.type = type;
    c.is_ff = lc.ff.has_value();
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
      const auto truth_table = [&](const std::string& function,
                                   const std::vector<std::string>& pin_names) {
        try {
          return liberty_function_truth_table(function, pin_names);
        } catch (const std::exception& e) {
          // c.name, not the structured binding: clang 14 cannot capture one in a lambda.
          throw std::runtime_error(netlist_json + ": cell " + c.name + " (" + type +
                                   ", pin " + pin.name + "): " + e.what());
        }
      };
      if (c.is_ff) {
        std::vector<std::string> with_state = input_pins;
        with_state.push_back(lc.ff->state);
        with_state.push_back(lc.ff->state_inverted);
        out.truth = truth_table(pin.function, with_state);
        if (c.outputs.empty()) {
          c.ff.clocked_on = truth_table(lc.ff->clocked_on, input_pins);
          c.ff.next_state = truth_table(lc.ff->next_state, input_pins);
          if (!lc.ff->clear.empty()) c.ff.clear = truth_table(lc.ff->clear, input_pins);
          if (!lc.ff->preset.empty()) c.ff.preset = truth_table(lc.ff->preset, input_pins);
        }
      } else {
        out.truth = truth_table(pin.function, input_pins);
      }
      // Combinational cells: an arc from every input. Flip-flops: the clock edge, clear and
      // preset arcs; the data input has none (it changes the output only through the clock).
      for (const std::string& input : input_pins) {
        Arc arc;
        for (const LibertyTiming& t : pin.timing) {
          const bool usable =
              c.is_ff ? (t.timing_type == "rising_edge" || t.timing_type == "falling_edge" ||
                         t.timing_type == "clear" || t.timing_type == "preset")
                      : (t.timing_type.empty() || t.timing_type == "combinational");
          if (!usable) continue;
          if (std::find(t.related_pins.begin(), t.related_pins.end(), input) ==
              t.related_pins.end()) {
            continue;
          }
          arc.timing = &t;
          arc.rise_delay = t.cell_rise ? &*t.cell_rise : nullptr;
          arc.fall_delay = t.cell_fall ? &*t.cell_fall : nullptr;
          arc.rise_slew = t.rise_transition ? &*t.rise_transition : nullptr;
          arc.fall_slew = t.fall_transition ? &*t.fall_transition : nullptr;
          if (!c.is_ff &&
              (!arc.rise_delay || !arc.fall_delay || !arc.rise_slew || !arc.fall_slew)) {
            throw std::runtime_error(t.source + ": the arc " + input + " -> " + pin.name +
                                     " of " + type +
                                     " lacks cell_rise, cell_fall, rise_transition or "
                                     "fall_transition");
          }
          break;
        }
        if (!arc.timing && !c.is_ff) {
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
  if (c.is_ff) {
    // Asynchronous clear, then preset, then the clock's rising edge samples next_state.
    FlipFlop& ff = c.ff;
    const uint8_t clock = ff.clocked_on[m];
    const bool edge = clock && !ff.clock;
    ff.clock = clock;
    if (!ff.clear.empty() && ff.clear[m]) {
      ff.state = 0;
    } else if (!ff.preset.empty() && ff.preset[m]) {
      ff.state = 1;
    } else if (edge) {
      ff.state = ff.next_state[m];
    }
    const uint32_t n = static_cast<uint32_t>(c.inputs.size());
    m |= (uint32_t{ff.state} << n) | (uint32_t{ff.state ? 0u : 1u} << (n + 1));
  }
  const double in_slew = nets[static_cast<size_t>(c.inputs[static_cast<size_t>(slot)])].slew_ns;
  for (size_t o = 0; o < c.outputs.size(); ++o) {
    Output& out = c.outputs[o];
    Net& net = nets[static_cast<size_t>(out.net)];
    const uint8_t v = out.truth[m];
    const Arc& arc = out.arcs[static_cast<size_t>(slot)];
    // A flip-flop's data input has no arc: it cannot change the output by itself.
    if (!arc.timing && c.is_ff) continue;
    const auto table = [&](const LibertyTable* t, const char* what) -> const LibertyTable& {
      if (!t) {
        throw std::runtime_error(arc.timing->source + ": cell " + c.type + " needs a " + what +
                                 " table on this arc (instance " + c.name + ")");
      }
      return *t;
    };
    const auto delay_ns = [&]() {
      return std::max(0.0, table(v ? arc.rise_delay : arc.fall_delay,
                                 v ? "cell_rise" : "cell_fall")
                               .lookup_load_slew(net.load_pf, in_slew));
    };
    const auto slew_ns = [&]() {
      return table(v ? arc.rise_slew : arc.fall_slew, v ? "rise_transition" : "fall_transition")
          .lookup_load_slew(net.load_pf, in_slew);
    };
    if (options.transport) {
      // VHDL transport semantics: a new change replaces those scheduled at or after it.
      const uint8_t before = out.scheduled.empty() ? net.value : out.scheduled.back().value;
      if (v == before && out.scheduled.empty()) continue;
      const double t = now + delay_ns();
      while (!out.scheduled.empty() && out.scheduled.back().time >= t) out.scheduled.pop_back();
      const uint8_t projected = out.scheduled.empty() ? net.value : out.scheduled.back().value;
      if (v == projected) continue;
      out.scheduled.push_back({t, ++seq, v, slew_ns()});
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
    const double t = now + delay_ns();
    if (out.pending && out.pending_time <= t) continue;  // already on its way to v, sooner
    out.pending = true;
    out.pending_seq = ++seq;
    out.pending_time = t;
    out.pending_slew = slew_ns();
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

// All inputs 0 and every net settled by a zero-delay fixpoint (flip-flops: clear and preset
// only, no clock edge): the state the stream starts from. Nothing is counted.
void TimedSimulator::Impl::settle_initial() {
  counting = false;
  now = 0.0;
  for (Net& n : nets) {
    if (!n.constant) n.value = 0;
    n.slew_ns = options.input_slew_ns;
    n.rises = n.falls = 0;
  }
  for (Cell& c : cells) {
    c.ff = FlipFlop{c.ff.clocked_on, c.ff.next_state, c.ff.clear, c.ff.preset, 0, 0};
    for (Output& o : c.outputs) {
      o.pending = false;
      o.scheduled.clear();
    }
  }
  while (!queue.empty()) queue.pop();
  for (size_t iteration = 0;; ++iteration) {
    bool changed = false;
    for (Cell& c : cells) {
      uint32_t m = 0;
      for (size_t i = 0; i < c.inputs.size(); ++i) {
        m |= uint32_t{nets[static_cast<size_t>(c.inputs[i])].value} << i;
      }
      if (c.is_ff) {
        c.ff.clock = c.ff.clocked_on[m];
        if (!c.ff.clear.empty() && c.ff.clear[m]) {
          c.ff.state = 0;
        } else if (!c.ff.preset.empty() && c.ff.preset[m]) {
          c.ff.state = 1;
        }
        const uint32_t n = static_cast<uint32_t>(c.inputs.size());
        m |= (uint32_t{c.ff.state} << n) | (uint32_t{c.ff.state ? 0u : 1u} << (n + 1));
      }
      for (const Output& o : c.outputs) {
        Net& net = nets[static_cast<size_t>(o.net)];
        if (net.value != o.truth[m]) {
          net.value = o.truth[m];
          changed = true;
        }
      }
    }
    if (!changed) break;
    if (iteration > cells.size()) {
      throw std::runtime_error(path + ": the netlist does not settle (a combinational loop?)");
    }
  }
}

// Sets the input ports (the stream's, clk_i and rst_ni; others stay 0) at time 0 and runs the
// events out. All changed inputs are applied before any reader is evaluated, so the inputs
// change together. Returns the time of the last change.
double TimedSimulator::Impl::apply_inputs(const Op& op, int clock, int reset_n) {
  now = 0.0;
  changed_inputs.clear();
  for (const Port& p : inputs) {
    uint64_t value = 0;
    if (p.name == "a_i") value = op.a;
    if (p.name == "b_i") value = op.b;
    if (p.name == "valid_i") value = op.valid;
    if (p.name == "first_i") value = op.first;
    if (p.name == "last_i") value = op.last;
    if (p.name == "zero_i") value = op.zero;
    if (p.name == "clk_i") value = static_cast<uint64_t>(clock);
    if (p.name == "rst_ni") value = static_cast<uint64_t>(reset_n);
    for (size_t i = 0; i < p.nets.size(); ++i) {
      Net& n = nets[static_cast<size_t>(p.nets[i])];
      const uint8_t v = (value >> i) & 1u;
      if (n.constant || n.value == v) continue;
      n.value = v;
      n.slew_ns = options.input_slew_ns;
      if (counting) ++(v ? n.rises : n.falls);
      changed_inputs.push_back(p.nets[i]);
    }
  }
  for (int n : changed_inputs) {
    for (const auto& [cell_index, slot] : nets[static_cast<size_t>(n)].fanout) {
      evaluate(cell_index, slot);
    }
  }
  run_queue();
  return now;
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
  if (s.clocked) {
    // Reset as the Verilator harness does, not counted: a clock cycle with rst_ni low.
    const Op idle{0, 0, false, false, false};
    s.apply_inputs(idle, 0, 0);
    s.apply_inputs(idle, 1, 0);
    s.apply_inputs(idle, 0, 1);
  }
  s.counting = true;
  double settle_sum = 0.0;
  Activity a;
  a.ops = stream.size();
  for (const Op& op : stream) {
    double settle_ns = 0.0;
    if (s.clocked) {
      // Inputs change with the falling edge; the rising edge samples them. Each phase runs
      // until no event is left.
      settle_ns = s.apply_inputs(op, 0, 1);
      settle_ns = std::max(settle_ns, s.apply_inputs(op, 1, 1));
    } else {
      settle_ns = s.apply_inputs(op, 0, 1);
    }
    settle_sum += settle_ns;
    s.stats.max_settle_ns = std::max(s.stats.max_settle_ns, settle_ns);
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
