// A Verilated design with its own context and, when LBFP_RTL_FST names a directory and the
// design was verilated with tracing, an FST trace.
#pragma once

#include <verilated.h>
#include <verilated_fst_c.h>

#include <cstdlib>
#include <memory>
#include <string>
#include <type_traits>
#include <utility>

namespace lbfp::rtl {

// Whether the design was verilated with FST tracing (a design built without it has no trace()).
template <class Model, class = void>
struct HasFstTrace : std::false_type {};
template <class Model>
struct HasFstTrace<Model, std::void_t<decltype(std::declval<Model&>().trace(
                              std::declval<VerilatedFstC*>(), 0))>> : std::true_type {};

template <class Model>
class Bench {
 public:
  explicit Bench(const std::string& trace_name) : ctx_(std::make_unique<VerilatedContext>()) {
    const char* dir = std::getenv("LBFP_RTL_FST");
    const bool trace = HasFstTrace<Model>::value && dir != nullptr && *dir != '\0';
    if (trace) ctx_->traceEverOn(true);
    top_ = std::make_unique<Model>(ctx_.get(), "top");
    if constexpr (HasFstTrace<Model>::value) {
      if (trace) {
        fst_ = std::make_unique<VerilatedFstC>();
        top_->trace(fst_.get(), 99);
        fst_->open((std::string(dir) + "/" + trace_name + ".fst").c_str());
      }
    }
  }
  Bench(const Bench&) = delete;
  Bench& operator=(const Bench&) = delete;
  ~Bench() {
    top_->final();
    if (fst_) fst_->close();
  }

  Model& top() { return *top_; }

  // Settles the combinational logic and advances time by one step.
  void eval() {
    top_->eval();
    if (fst_) fst_->dump(ctx_->time());
    ctx_->timeInc(1);
  }

  // One clock cycle of a model clocked by `clk_i`: the low phase, then the rising edge.
  void cycle() {
    top_->clk_i = 0;
    eval();
    top_->clk_i = 1;
    eval();
  }

 private:
  std::unique_ptr<VerilatedContext> ctx_;
  std::unique_ptr<Model> top_;
  std::unique_ptr<VerilatedFstC> fst_;
};

}  // namespace lbfp::rtl
