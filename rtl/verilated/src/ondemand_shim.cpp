// The C interface of an array model built on demand (ondemand.h): compiled with the Verilated
// class LBFP_TOP into one shared object per configuration, loaded with dlopen. Only these
// functions are exported (a version script hides Verilator's runtime, which the program itself
// may also link). With LBFP_WS_ARRAY, LBFP_TOP is the weight-/input-stationary array
// (systolic_array_ws) and the ports are ws_array_ports.def's; else the output-stationary array's
// (array_ports.def). lbfp_array_ports() names them, so a loader cannot mistake one for the other.
#include LBFP_TOP_HEADER

#include <cstdint>

#include "verilated_model.h"

#ifdef LBFP_WS_ARRAY
#include "ws_array_model.h"
using Array = lbfp::rtl::StaticWsArrayModel<LBFP_TOP>;
using Port = lbfp::rtl::WsPort;
#else
using Array = lbfp::rtl::VerilatedArray<LBFP_TOP>;
using Port = int;
#endif

namespace {
constexpr const char* kPortNames =
#ifdef LBFP_WS_ARRAY
#define LBFP_WS_ARRAY_PORT(name) #name " "
#include "ws_array_ports.def"
#undef LBFP_WS_ARRAY_PORT
#else
#define LBFP_ARRAY_PORT(name) #name " "
#include "array_ports.def"
#undef LBFP_ARRAY_PORT
#endif
    "";
}  // namespace

extern "C" {

const char* lbfp_array_ports() { return kPortNames; }
void* lbfp_array_create() { return new Array(); }
void lbfp_array_destroy(void* array) { delete static_cast<Array*>(array); }
void lbfp_array_eval(void* array) { static_cast<Array*>(array)->eval(); }
int lbfp_array_trace(void* array, const char* path) {
  return static_cast<Array*>(array)->open_trace(path) ? 1 : 0;
}
void lbfp_array_dumping(void* array, int on) { static_cast<Array*>(array)->set_dumping(on != 0); }
void lbfp_array_set(void* array, int port, int lsb, int width, uint64_t value) {
  static_cast<Array*>(array)->set_bits(static_cast<Port>(port), lsb, width, value);
}
uint64_t lbfp_array_get(void* array, int port, int lsb, int width) {
  return static_cast<Array*>(array)->get_bits(static_cast<Port>(port), lsb, width);
}

}  // extern "C"
