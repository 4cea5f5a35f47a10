// A prebuilt (build-time) Verilated array as an ArrayModel.
#pragma once

#include "array_model.h"
#include "verilated_model.h"

namespace lbfp::rtl {

template <class Model>
class StaticArrayModel : public ArrayModel {
 public:
  void set_bits(ArrayPort port, int lsb, int width, uint64_t value) override {
    array_.set_bits(static_cast<int>(port), lsb, width, value);
  }
  uint64_t get_bits(ArrayPort port, int lsb, int width) override {
    return array_.get_bits(static_cast<int>(port), lsb, width);
  }
  void eval() override { array_.eval(); }
  bool open_trace(const std::string& path) override { return array_.open_trace(path); }
  void set_dumping(bool on) override { array_.set_dumping(on); }

 private:
  VerilatedArray<Model> array_;
};

}  // namespace lbfp::rtl
