#include "dynamic_model.h"

#include <dlfcn.h>

#include <cstdint>
#include <string>

#include "lbfp/rtl/ondemand.h"
#include "ws_array_model.h"

namespace lbfp::rtl {
namespace {

// The C interface of ondemand_shim.cpp.
struct Functions {
  const char* (*ports)();
  void* (*create)();
  void (*destroy)(void*);
  void (*eval)(void*);
  int (*trace)(void*, const char*);
  void (*dumping)(void*, int);
  void (*set)(void*, int, int, int, uint64_t);
  uint64_t (*get)(void*, int, int, int);
};

template <class F>
void bind(void* handle, const char* name, F& f, const std::string& library) {
  f = reinterpret_cast<F>(::dlsym(handle, name));
  if (f == nullptr) {
    throw ModelBuildError(library + " has no " + name + ": delete the cache entry to rebuild it");
  }
}

// The shared object's functions behind the interface `Base` (ArrayModel or WsArrayModel), whose
// ports are `Port`, named (in order) by `names`.
template <class Base, class Port>
class DynamicModel : public Base {
 public:
  DynamicModel(const std::string& library, const std::string& expected_ports) {
    // The handle stays open for the process: models of one library may outlive each other.
    handle_ = ::dlopen(library.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (handle_ == nullptr) {
      const char* why = ::dlerror();
      throw ModelBuildError("cannot load the RTL model " + library + ": " +
                            (why != nullptr ? why : "unknown error"));
    }
    bind(handle_, "lbfp_array_ports", f_.ports, library);
    bind(handle_, "lbfp_array_create", f_.create, library);
    bind(handle_, "lbfp_array_destroy", f_.destroy, library);
    bind(handle_, "lbfp_array_eval", f_.eval, library);
    bind(handle_, "lbfp_array_trace", f_.trace, library);
    bind(handle_, "lbfp_array_dumping", f_.dumping, library);
    bind(handle_, "lbfp_array_set", f_.set, library);
    bind(handle_, "lbfp_array_get", f_.get, library);
    if (expected_ports != f_.ports()) {
      throw ModelBuildError(library + " has other ports (" + f_.ports() + ") than this program (" +
                            expected_ports + ")");
    }
    array_ = f_.create();
  }
  DynamicModel(const DynamicModel&) = delete;
  DynamicModel& operator=(const DynamicModel&) = delete;
  ~DynamicModel() override { f_.destroy(array_); }

  void set_bits(Port port, int lsb, int width, uint64_t value) override {
    f_.set(array_, static_cast<int>(port), lsb, width, value);
  }
  uint64_t get_bits(Port port, int lsb, int width) override {
    return f_.get(array_, static_cast<int>(port), lsb, width);
  }
  void eval() override { f_.eval(array_); }
  bool open_trace(const std::string& path) override { return f_.trace(array_, path.c_str()) != 0; }
  void set_dumping(bool on) override { f_.dumping(array_, on ? 1 : 0); }

 private:
  void* handle_ = nullptr;
  Functions f_{};
  void* array_ = nullptr;
};

}  // namespace

std::unique_ptr<ArrayModel> load_dynamic_model(const std::string& library) {
  std::string ports;
  for (const char* name : kArrayPortNames) ports += std::string(name) + " ";
  return std::make_unique<DynamicModel<ArrayModel, ArrayPort>>(library, ports);
}

std::unique_ptr<WsArrayModel> load_dynamic_ws_model(const std::string& library) {
  static constexpr const char* kWsPortNames[] = {
#define LBFP_WS_ARRAY_PORT(name) #name,
#include "ws_array_ports.def"
#undef LBFP_WS_ARRAY_PORT
  };
  std::string ports;
  for (const char* name : kWsPortNames) ports += std::string(name) + " ";
  return std::make_unique<DynamicModel<WsArrayModel, WsPort>>(library, ports);
}

}  // namespace lbfp::rtl
