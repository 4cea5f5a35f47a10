// The C interface of an array model built on demand (ondemand.h): compiled with the Verilated
// class LBFP_TOP into one shared object per configuration, loaded with dlopen. Only these
// functions are exported (a version script hides Verilator's runtime, which the program itself
// may also link).
#include LBFP_TOP_HEADER

#include <cstdint>

#include "verilated_model.h"

using Array = lbfp::rtl::VerilatedArray<LBFP_TOP>;

namespace {
constexpr const char* kPortNames =
#define LBFP_ARRAY_PORT(name) #name " "
#include "array_ports.def"
#undef LBFP_ARRAY_PORT
    "";
}  // namespace

extern "C" {

const char* lbfp_array_ports() { return kPortNames; }
void* lbfp_array_create() { return new Array(); }
void lbfp_array_destroy(void* array) { delete static_cast<Array*>(array); }
void lbfp_array_eval(void* array) { static_cast<Array*>(array)->eval(); }
uint64_t lbfp_array_time(void* array) { return static_cast<Array*>(array)->time(); }
int lbfp_array_trace(void* array, const char* path) {
  return static_cast<Array*>(array)->open_trace(path) ? 1 : 0;
}
void lbfp_array_dumping(void* array, int on) { static_cast<Array*>(array)->set_dumping(on != 0); }
void lbfp_array_set(void* array, int port, int lsb, int width, uint64_t value) {
  static_cast<Array*>(array)->set_bits(port, lsb, width, value);
}
uint64_t lbfp_array_get(void* array, int port, int lsb, int width) {
  return static_cast<Array*>(array)->get_bits(port, lsb, width);
}

}  // extern "C"
