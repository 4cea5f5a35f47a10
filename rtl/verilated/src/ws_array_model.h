// One prebuilt Verilated weight-/input-stationary array (rtl/systolic_array_ws.sv) behind an
// abstract port interface (ws_array_ports.def), so that the driver (ws_array_driver.cpp) is
// written once for every configuration.
#pragma once

#include <verilated.h>
#include <verilated_fst_c.h>

#include <cstdint>
#include <memory>
#include <string>

#include "verilated_bits.h"
#include "verilated_model.h"  // ModelHasFst

namespace lbfp::rtl {

enum class WsPort : int {
#define LBFP_WS_ARRAY_PORT(name) name,
#include "ws_array_ports.def"
#undef LBFP_WS_ARRAY_PORT
  kCount
};

class WsArrayModel {
 public:
  virtual ~WsArrayModel() = default;
  // Bits [lsb, lsb + width) of a port (width <= 64).
  virtual void set_bits(WsPort port, int lsb, int width, uint64_t value) = 0;
  virtual uint64_t get_bits(WsPort port, int lsb, int width) = 0;
  // Settles the logic, dumps the trace (if open and dumping) and advances time by one step.
  virtual void eval() = 0;
  // Opens an FST trace of every signal; false when the model was built without tracing.
  virtual bool open_trace(const std::string& path) = 0;
  virtual void set_dumping(bool on) = 0;
};

template <class Model>
class StaticWsArrayModel : public WsArrayModel {
 public:
  StaticWsArrayModel() : ctx_(std::make_unique<VerilatedContext>()) {
    if constexpr (ModelHasFst<Model>::value) ctx_->traceEverOn(true);
    top_ = std::make_unique<Model>(ctx_.get(), "top");
  }
  StaticWsArrayModel(const StaticWsArrayModel&) = delete;
  StaticWsArrayModel& operator=(const StaticWsArrayModel&) = delete;
  ~StaticWsArrayModel() override {
    top_->final();
    if (fst_) fst_->close();
  }

  void set_bits(WsPort port, int lsb, int width, uint64_t value) override {
    switch (port) {
#define LBFP_WS_ARRAY_PORT(name)                                                          \
  case WsPort::name:                                                                      \
    vl::put_bits(top_->name, lsb, width_of(top_->name, lsb, width), value);               \
    return;
#include "ws_array_ports.def"
#undef LBFP_WS_ARRAY_PORT
      case WsPort::kCount:
        return;
    }
  }
  uint64_t get_bits(WsPort port, int lsb, int width) override {
    switch (port) {
#define LBFP_WS_ARRAY_PORT(name) \
  case WsPort::name:             \
    return vl::get_bits(top_->name, lsb, width_of(top_->name, lsb, width));
#include "ws_array_ports.def"
#undef LBFP_WS_ARRAY_PORT
      case WsPort::kCount:
        return 0;
    }
    return 0;
  }
  void eval() override {
    top_->eval();
    if (fst_ && dumping_) fst_->dump(ctx_->time());
    ctx_->timeInc(1);
  }
  bool open_trace(const std::string& path) override {
    if constexpr (ModelHasFst<Model>::value) {
      fst_ = std::make_unique<VerilatedFstC>();
      top_->trace(fst_.get(), 99);
      fst_->open(path.c_str());
      return fst_->isOpen();
    }
    (void)path;
    return false;
  }
  void set_dumping(bool on) override { dumping_ = on; }

 private:
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
