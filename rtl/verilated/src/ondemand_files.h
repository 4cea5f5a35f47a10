// What an on-demand model is built from, embedded in the program (so it needs no checkout):
// the RTL sources ("rtl/...") and the C++ glue compiled with the Verilated class ("glue/...").
#pragma once

#include <string>
#include <vector>

namespace lbfp::rtl {

struct EmbeddedFile {
  std::string name;  // "rtl/pe.sv", "glue/ondemand_shim.cpp"
  std::string text;
};

// In the order the RTL sources are given to Verilator.
const std::vector<EmbeddedFile>& ondemand_files();

}  // namespace lbfp::rtl
