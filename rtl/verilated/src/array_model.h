// One Verilated array behind an abstract port interface: the prebuilt models (static_model.h) and
// the ones built on demand (ondemand.cpp, a shared object with a C interface) both implement it,
// and the array driver talks to either through ArrayTop, whose members are named after the RTL's
// ports (array_ports.def), so the driver reads like code written against the Verilated class.
#pragma once

#include <cstdint>
#include <string>

namespace lbfp::rtl {

enum class ArrayPort : int {
#define LBFP_ARRAY_PORT(name) name,
#include "array_ports.def"
#undef LBFP_ARRAY_PORT
  kCount
};

inline constexpr const char* kArrayPortNames[] = {
#define LBFP_ARRAY_PORT(name) #name,
#include "array_ports.def"
#undef LBFP_ARRAY_PORT
};

class ArrayModel {
 public:
  virtual ~ArrayModel() = default;
  // Bits [lsb, lsb + width) of a port (width <= 64).
  virtual void set_bits(ArrayPort port, int lsb, int width, uint64_t value) = 0;
  virtual uint64_t get_bits(ArrayPort port, int lsb, int width) = 0;
  // Settles the logic, dumps the trace (if open and dumping) and advances time by one step.
  virtual void eval() = 0;
  // Opens an FST trace of every signal; false when the model was built without tracing.
  virtual bool open_trace(const std::string& path) = 0;
  // Whether eval() dumps into an open trace (the trace window).
  virtual void set_dumping(bool on) = 0;
};

// A port of an ArrayModel, used like a Verilated port member: assign it, read it, or take bit
// fields of it with put_bits/get_bits.
class PortRef {
 public:
  PortRef(ArrayModel& model, ArrayPort port) : model_(&model), port_(port) {}
  PortRef& operator=(uint64_t value) {
    model_->set_bits(port_, 0, 64, value);
    return *this;
  }
  operator uint64_t() const { return model_->get_bits(port_, 0, 64); }
  void put(int lsb, int width, uint64_t value) { model_->set_bits(port_, lsb, width, value); }
  uint64_t get(int lsb, int width) const { return model_->get_bits(port_, lsb, width); }

 private:
  ArrayModel* model_;
  ArrayPort port_;
};

struct ArrayTop {
  explicit ArrayTop(ArrayModel& model)
      :
#define LBFP_ARRAY_PORT(name) name(model, ArrayPort::name),
#include "array_ports.def"
#undef LBFP_ARRAY_PORT
        model_(&model) {
  }
#define LBFP_ARRAY_PORT(name) PortRef name;
#include "array_ports.def"
#undef LBFP_ARRAY_PORT
  ArrayModel* model_;
};

namespace vl {
inline void put_bits(PortRef port, int lsb, int width, uint64_t value) {
  port.put(lsb, width, value);
}
inline uint64_t get_bits(const PortRef& port, int lsb, int width) { return port.get(lsb, width); }
}  // namespace vl

}  // namespace lbfp::rtl
