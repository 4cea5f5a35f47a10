// The IDX reader of `lbfp eval` (model/eval/src/idx.cpp). The first input byte picks the path:
// even, parse_idx on the remaining bytes; odd, read_idx on them written to a ".gz" file (zlib
// reads a plain file through gzopen too, so both a gzip stream and raw bytes go through it).
// Any input must give an array whose data matches its dimensions, or an IdxError naming the file.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include "fuzz_check.h"
#include "lbfp/eval/idx.h"

namespace {

// One scratch file per process, rewritten for every input and removed at exit.
struct ScratchFile {
  std::string path;
  ScratchFile() {
    const char* tmp = std::getenv("TMPDIR");
    path = std::string(tmp && *tmp ? tmp : "/tmp") + "/lbfp_fuzz_idx_" +
           std::to_string(::getpid()) + ".gz";
  }
  ~ScratchFile() { std::remove(path.c_str()); }
};

const std::string& scratch_path() {
  static const ScratchFile file;
  return file.path;
}

void check_array(const lbfp::eval::IdxArray& a) {
  uint64_t count = 1;
  for (uint32_t d : a.dims) count *= d;
  if (a.dims.empty() || a.dims.size() > 4 || count != a.data.size()) {
    lbfp::fuzz::fail("IdxArray data size does not match its dimensions");
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const std::vector<uint8_t> bytes(data + 1, data + size);
  if (data[0] % 2 == 0) {
    try {
      check_array(lbfp::eval::parse_idx(bytes, "fuzz.idx"));
    } catch (const lbfp::eval::IdxError& e) {
      lbfp::fuzz::check_names_source(e.what(), "fuzz.idx");
    }
    return 0;
  }
  const std::string& path = scratch_path();
  {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  }
  try {
    check_array(lbfp::eval::read_idx(path));
  } catch (const lbfp::eval::IdxError& e) {
    lbfp::fuzz::check_names_source(e.what(), path);
  }
  return 0;
}
