// Activity harness for the gate-level netlist of a whole systolic array (rtl/systolic_array.sv,
// output-stationary, or rtl/systolic_array_ws.sv, weight-stationary), built at run time by
// lbfp synth with `verilator --cc --exe --build --trace --prefix Vnetlist`. It plays the array's
// own protocol: a queue of weight rows (w_valid_i / w_ready_o, WS), a queue of preload rows
// (init_valid_i / init_ready_o, OS) and a queue of steps (in_valid_i / in_ready_o), each beat
// presented as soon as the array takes it; it counts every net's transitions as
// activity_main.cpp does and writes every output row.
//
//   array_activity <stream> <toggles-out> <outputs-out>
// stream (synth/array_stream.h, write_array_stream): "dims R C macs rows", then one beat a line:
//   w c_0 .. c_{C-1}                          WS weight row
//   i ovf acc_0 .. acc_{C-1}                  OS preload row (ovf: the column flags as a mask)
//   s first last relu ovf a_0..a_{R-1} b_0..b_{C-1} acc_0..acc_{C-1} shift_0..shift_{C-1}
// outputs-out: per output row "acc_0 .. acc_{C-1} ovf code" (hex; acc as A-bit two's complement,
// code the C output codes packed as out_code_o).
#include <cstdint>
#include <fstream>
#include <iostream>
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

#define LBFP_HAS_MEMBER(name)                                                       \
  template <class T, class = void>                                                  \
  struct has_##name : std::false_type {};                                           \
  template <class T>                                                                \
  struct has_##name<T, std::void_t<decltype(std::declval<T&>().name)>> : std::true_type {};
LBFP_HAS_MEMBER(w_valid_i)
LBFP_HAS_MEMBER(init_valid_i)
LBFP_HAS_MEMBER(b_i)
LBFP_HAS_MEMBER(step_shift_i)
#undef LBFP_HAS_MEMBER

// The array units' widths (their tops' defaults): A = 32, ExpWidth = 12, W = 8.
constexpr int kAccBits = 32;
constexpr int kExpBits = 12;
constexpr int kCodeBits = 8;

struct Beat {
  char channel = 's';
  std::vector<int64_t> fields;
};

// Little-endian 32-bit words of a port's value.
class Bits {
 public:
  void put(int64_t value, int width) {
    for (int i = 0; i < width; ++i, ++pos_) {
      if (pos_ / 32 >= static_cast<int>(words_.size())) words_.push_back(0);
      if ((static_cast<uint64_t>(value) >> i) & 1u) words_[pos_ / 32] |= 1u << (pos_ % 32);
    }
  }
  uint32_t word(size_t i) const { return i < words_.size() ? words_[i] : 0u; }

 private:
  std::vector<uint32_t> words_;
  int pos_ = 0;
};

template <class Port>
void assign(Port& port, const Bits& bits) {
  if constexpr (std::is_integral<Port>::value) {
    port = static_cast<Port>(uint64_t{bits.word(0)} | (uint64_t{bits.word(1)} << 32));
  } else {
    for (size_t i = 0; i < sizeof(port) / sizeof(uint32_t); ++i) port[i] = bits.word(i);
  }
}

template <class Port>
uint32_t word_of(const Port& port, size_t i) {
  if constexpr (std::is_integral<Port>::value) {
    return static_cast<uint32_t>(static_cast<uint64_t>(port) >> (32 * i));
  } else {
    return port[i];
  }
}

template <class Port>
uint64_t field_of(const Port& port, int lsb, int width) {
  uint64_t v = 0;
  for (int i = 0; i < width; ++i) {
    const int bit = lsb + i;
    if ((word_of(port, static_cast<size_t>(bit / 32)) >> (bit % 32)) & 1u) v |= uint64_t{1} << i;
  }
  return v;
}

template <class Top>
void set_inputs(Top& top, int rows, int cols, const Beat* w, const Beat* init, const Beat* step) {
  if constexpr (has_w_valid_i<Top>::value) {
    top.w_valid_i = w != nullptr;
    Bits bits;
    for (int c = 0; c < cols; ++c) bits.put(w ? w->fields[c] : 0, kCodeBits);
    assign(top.w_i, bits);
  }
  if constexpr (has_init_valid_i<Top>::value) {
    top.init_valid_i = init != nullptr;
    top.init_ovf_i = init ? static_cast<uint8_t>(init->fields[0]) : 0;
    Bits bits;
    for (int c = 0; c < cols; ++c) bits.put(init ? init->fields[1 + c] : 0, kAccBits);
    assign(top.init_acc_i, bits);
  }
  const std::vector<int64_t> none(static_cast<size_t>(4 + rows + 3 * cols), 0);
  const std::vector<int64_t>& f = step ? step->fields : none;
  top.in_valid_i = step != nullptr;
  top.in_first_i = static_cast<uint8_t>(f[0]);
  top.in_last_i = static_cast<uint8_t>(f[1]);
  top.relu_i = static_cast<uint8_t>(f[2]);
  size_t at = 4;
  Bits a, b, acc, shift;
  for (int r = 0; r < rows; ++r) a.put(f[at++], kCodeBits);
  for (int c = 0; c < cols; ++c) b.put(f[at++], kCodeBits);
  for (int c = 0; c < cols; ++c) acc.put(f[at++], kAccBits);
  for (int c = 0; c < cols; ++c) shift.put(f[at++], kExpBits);
  assign(top.a_i, a);
  assign(top.exp_shift_i, shift);
  if constexpr (has_b_i<Top>::value) assign(top.b_i, b);
  if constexpr (has_step_shift_i<Top>::value) {
    top.step_shift_i = 0;
    top.init_ovf_i = static_cast<uint8_t>(f[3]);
    assign(top.init_acc_i, acc);
  }
}

template <class Top>
bool w_ready(Top& top) {
  if constexpr (has_w_valid_i<Top>::value) return top.w_ready_o;
  return false;
}
template <class Top>
bool init_ready(Top& top) {
  if constexpr (has_init_valid_i<Top>::value) return top.init_ready_o;
  return false;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 4) {
    std::cerr << "usage: array_activity <stream> <toggles-out> <outputs-out>\n";
    return 2;
  }
  std::ifstream in(argv[1]);
  std::string word;
  int rows = 0, cols = 0;
  uint64_t macs = 0, out_rows = 0;
  if (!(in >> word >> rows >> cols >> macs >> out_rows) || word != "dims") {
    std::cerr << "array_activity: " << argv[1] << ": no dims line\n";
    return 2;
  }
  std::vector<Beat> queues[3];  // w, i, s
  std::string line;
  std::getline(in, line);
  while (std::getline(in, line)) {
    std::istringstream ls(line);
    Beat beat;
    if (!(ls >> beat.channel)) continue;
    int64_t v = 0;
    while (ls >> v) beat.fields.push_back(v);
    const int q = beat.channel == 'w' ? 0 : beat.channel == 'i' ? 1 : 2;
    queues[q].push_back(std::move(beat));
  }
  size_t next[3] = {0, 0, 0};
  std::ofstream outputs(argv[3]);

  auto ctx = std::make_unique<VerilatedContext>();
  ctx->traceEverOn(true);
  auto top = std::make_unique<Vnetlist>(ctx.get());
  top->clk_i = 0;
  top->rst_ni = 0;
  set_inputs(*top, rows, cols, nullptr, nullptr, nullptr);
  top->eval();
  top->clk_i = 1;
  top->eval();
  top->clk_i = 0;
  top->rst_ni = 1;
  top->eval();
  lbfp::synth::ToggleCounter counter;
  auto trace = std::make_unique<VerilatedVcdC>(&counter);
  top->trace(trace.get(), 99);
  trace->open("activity.vcd");
  uint64_t time = 0;
  trace->dump(time++);

  uint64_t seen = 0;
  // Generous: every beat one cycle, plus the array's drain, many times over.
  const uint64_t limit = 8 * (queues[0].size() + queues[1].size() + queues[2].size()) + 1000;
  for (uint64_t cycle = 0; seen < out_rows && cycle < limit; ++cycle) {
    const Beat* beats[3];
    for (int q = 0; q < 3; ++q) {
      beats[q] = next[q] < queues[q].size() ? &queues[q][next[q]] : nullptr;
    }
    top->clk_i = 0;
    set_inputs(*top, rows, cols, beats[0], beats[1], beats[2]);
    top->eval();
    const bool taken[3] = {beats[0] && w_ready(*top), beats[1] && init_ready(*top),
                           beats[2] && top->in_ready_o};
    trace->dump(time++);
    top->clk_i = 1;
    top->eval();
    trace->dump(time++);
    for (int q = 0; q < 3; ++q) next[q] += taken[q] ? 1 : 0;
    if (top->out_valid_o) {
      ++seen;
      outputs << std::hex;
      for (int c = 0; c < cols; ++c) {
        outputs << field_of(top->out_acc_o, c * kAccBits, kAccBits) << ' ';
      }
      outputs << field_of(top->out_ovf_o, 0, cols) << ' '
              << field_of(top->out_code_o, 0, cols * kCodeBits) << std::dec << '\n';
    }
  }
  trace->close();
  top->final();
  if (seen < out_rows) {
    std::cerr << "array_activity: " << seen << " of " << out_rows << " output rows came out\n";
    return 1;
  }
  std::ofstream toggles(argv[2]);
  toggles << "# ops " << macs << "\n";
  counter.write_counts(toggles);
  return toggles && outputs ? 0 : 1;
}
