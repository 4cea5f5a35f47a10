// The array's ports (array_ports.def) on one Verilated class, by number: compiled into the
// prebuilt models (static_model.h) and into every model built on demand (ondemand_shim.cpp), so
// the two cannot disagree. Self-contained (Verilator's headers, verilated_bits.h and
// array_ports.def only): it is copied into the cache's build folders.
#pragma once

#include <verilated.h>
#include <verilated_fst_c.h>

#include <cstdint>
#include <memory>
#include <string>
#include <type_traits>
#include <utility>

#include "verilated_bits.h"

namespace lbfp::rtl {

// Whether the design was verilated with FST tracing (a design built without it has no trace()).
template <class Model, class = void>
struct ModelHasFst : std::false_type {};
template <class Model>
struct ModelHasFst<Model, std::void_t<decltype(std::declval<Model&>().trace(
                              std::declval<VerilatedFstC*>(), 0))>> : std::true_type {};

template <class Model>
class VerilatedArray {
 public:
  VerilatedArray() : ctx_(std::make_unique<VerilatedContext>()) {
    // Tracing must be allowed before the model is built; costs nothing until a trace opens.
    if constexpr (ModelHasFst<Model>::value) ctx_->traceEverOn(true);
    top_ = std::make_unique<Model>(ctx_.get(), "top");
  }
  VerilatedArray(const VerilatedArray&) = delete;
  VerilatedArray& operator=(const VerilatedArray&) = delete;
  ~VerilatedArray() {
    top_->final();
    if (fst_) fst_->close();
  }

  void set_bits(int port, int lsb, int width, uint64_t value) {
    int index = 0;
#define LBFP_ARRAY_PORT(name) \
  if (port == index++) vl::put_bits(top_->name, lsb, width_of(top_->name, lsb, width), value);
#include "array_ports.def"
#undef LBFP_ARRAY_PORT
  }

  uint64_t get_bits(int port, int lsb, int width) {
    int index = 0;
#define LBFP_ARRAY_PORT(name) \
  if (port == index++) return vl::get_bits(top_->name, lsb, width_of(top_->name, lsb, width));
#include "array_ports.def"
#undef LBFP_ARRAY_PORT
    return 0;
  }

  void eval() {
    top_->eval();
    if (fst_ && dumping_) fst_->dump(ctx_->time());
    ctx_->timeInc(1);
  }

  uint64_t time() const { return ctx_->time(); }

  bool open_trace(const std::string& path) {
    if constexpr (ModelHasFst<Model>::value) {
      fst_ = std::make_unique<VerilatedFstC>();
      top_->trace(fst_.get(), 99);
      fst_->open(path.c_str());
      return fst_->isOpen();
    }
    (void)path;
    return false;
  }

  void set_dumping(bool on) { dumping_ = on; }

 private:
  // The bits of a port that [lsb, lsb + width) may touch: a whole-port access (width 64) is
  // clipped to the port's storage.
  template <class T>
  static int width_of(const T& port, int lsb, int width) {
    const int bits = static_cast<int>(sizeof(port) * 8) - lsb;
    return width < bits ? width : bits;
  }

  std::unique_ptr<VerilatedContext> ctx_;
  std::unique_ptr<Model> top_;
  std::unique_ptr<VerilatedFstC> fst_;
  bool dumping_ = true;
};

}  // namespace lbfp::rtl
