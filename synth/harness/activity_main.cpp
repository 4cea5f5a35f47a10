// Activity harness for one Verilated gate-level netlist (built at run time by lbfp synth with
// `verilator --cc --exe --build --trace --prefix Vnetlist`). It plays an operand stream into the
// unit and counts, for every net of the netlist's top module, its rising and falling transitions
// (zero-delay: one settled value per half clock cycle, glitches are not seen).
//
//   activity <stream> <toggles-out> [<outputs-out>]
// stream: one operation per line, "a b valid first last zero" (decimal). toggles-out: "net rises
// falls" per net bit. outputs-out: "a b" and the unit's outputs (hex) after each operation.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "Vnetlist.h"
#include "verilated.h"
#include "verilated_vcd_c.h"

#include "toggle_counter.h"

namespace {

using lbfp::synth::ToggleCounter;

// Ports are optional: a combinational multiplier has no clock, a MAC no last_i.
#define LBFP_HAS_MEMBER(name)                                                       \
  template <class T, class = void>                                                  \
  struct has_##name : std::false_type {};                                           \
  template <class T>                                                                \
  struct has_##name<T, std::void_t<decltype(std::declval<T&>().name)>> : std::true_type {};
LBFP_HAS_MEMBER(clk_i)
LBFP_HAS_MEMBER(rst_ni)
LBFP_HAS_MEMBER(valid_i)
LBFP_HAS_MEMBER(first_i)
LBFP_HAS_MEMBER(last_i)
LBFP_HAS_MEMBER(zero_i)
LBFP_HAS_MEMBER(neg_o)
LBFP_HAS_MEMBER(mag_o)
LBFP_HAS_MEMBER(prod_o)
LBFP_HAS_MEMBER(acc_o)
LBFP_HAS_MEMBER(ovf_o)
#undef LBFP_HAS_MEMBER

struct Op {
  unsigned a, b, valid, first, last, zero;
};

template <class Top>
void set_inputs(Top& top, const Op& op) {
  top.a_i = static_cast<uint8_t>(op.a);
  top.b_i = static_cast<uint8_t>(op.b);
  if constexpr (has_valid_i<Top>::value) top.valid_i = static_cast<uint8_t>(op.valid);
  if constexpr (has_first_i<Top>::value) top.first_i = static_cast<uint8_t>(op.first);
  if constexpr (has_last_i<Top>::value) top.last_i = static_cast<uint8_t>(op.last);
  if constexpr (has_zero_i<Top>::value) top.zero_i = static_cast<uint8_t>(op.zero);
}

// One output port: an integer, or a port wider than 64 bits (VlWide) as its 32-bit words, least
// significant first (the FP8 E5M2 multiplier's 65-bit product, its MAC's 70-bit accumulator).
template <class Port>
void write_port(const Port& port, std::ostream& out) {
  if constexpr (std::is_integral_v<Port>) {
    out << ' ' << static_cast<uint64_t>(port);
  } else {
    constexpr size_t kWords = sizeof(Port) / sizeof(uint32_t);  // VlWide holds only its words
    for (size_t w = 0; w < kWords; ++w) out << ' ' << static_cast<uint64_t>(port.at(w));
  }
}

template <class Top>
void write_outputs(Top& top, const Op& op, std::ostream& out) {
  out << std::hex << op.a << ' ' << op.b;
  if constexpr (has_neg_o<Top>::value) out << ' ' << static_cast<uint64_t>(top.neg_o);
  if constexpr (has_mag_o<Top>::value) out << ' ' << static_cast<uint64_t>(top.mag_o);
  if constexpr (has_prod_o<Top>::value) write_port(top.prod_o, out);
  if constexpr (has_acc_o<Top>::value) write_port(top.acc_o, out);
  if constexpr (has_ovf_o<Top>::value) out << ' ' << static_cast<uint64_t>(top.ovf_o);
  out << std::dec << '\n';
}

// Resets the unit (not counted), then plays the stream with the trace on.
template <class Top>
void play(Top& top, const std::vector<Op>& ops, ToggleCounter& counter, std::ofstream& outputs) {
  if constexpr (has_clk_i<Top>::value) {
    top.clk_i = 0;
    if constexpr (has_rst_ni<Top>::value) top.rst_ni = 0;
    set_inputs(top, Op{0, 0, 0, 0, 0, 0});
    top.eval();
    top.clk_i = 1;
    top.eval();
    top.clk_i = 0;
    if constexpr (has_rst_ni<Top>::value) top.rst_ni = 1;
    top.eval();
  } else {
    set_inputs(top, Op{0, 0, 0, 0, 0, 0});
    top.eval();
  }
  auto trace = std::make_unique<VerilatedVcdC>(&counter);
  top.trace(trace.get(), 99);
  trace->open("activity.vcd");
  uint64_t time = 0;
  trace->dump(time++);

  for (const Op& op : ops) {
    if constexpr (has_clk_i<Top>::value) {
      // Inputs change after the falling edge; the rising edge samples them.
      top.clk_i = 0;
      set_inputs(top, op);
      top.eval();
      trace->dump(time++);
      top.clk_i = 1;
      top.eval();
      trace->dump(time++);
    } else {
      set_inputs(top, op);
      top.eval();
      trace->dump(time++);
    }
    if (outputs.is_open()) write_outputs(top, op, outputs);
  }
  trace->close();
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::cerr << "usage: activity <stream> <toggles-out> [<outputs-out>]\n";
    return 2;
  }
  std::vector<Op> ops;
  {
    std::ifstream in(argv[1]);
    if (!in) {
      std::cerr << "activity: cannot read " << argv[1] << "\n";
      return 2;
    }
    Op op{};
    while (in >> op.a >> op.b >> op.valid >> op.first >> op.last >> op.zero) ops.push_back(op);
  }
  std::ofstream outputs;
  if (argc > 3) outputs.open(argv[3]);

  auto ctx = std::make_unique<VerilatedContext>();
  ctx->traceEverOn(true);
  auto top = std::make_unique<Vnetlist>(ctx.get());
  ToggleCounter counter;
  play(*top, ops, counter, outputs);
  top->final();

  std::ofstream toggles(argv[2]);
  toggles << "# ops " << ops.size() << "\n";
  counter.write_counts(toggles);
  return toggles ? 0 : 1;
}
