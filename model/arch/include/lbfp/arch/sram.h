// An on-chip buffer (SRAM) as a named object in the module hierarchy: its capacity, its storage,
// and the bytes written into it and read out of it. Every access goes through write() or read(),
// which count the bytes of the block they hand out, so the layer statistics' SRAM traffic is what
// the buffers saw.
#pragma once

#include <cstdint>
#include <memory>

#include <systemc>

#include "lbfp/number_format.h"

namespace lbfp::arch {

// A 2-D block of a buffer: `rows` rows of `row_bytes` bytes, `pitch` bytes apart, from `offset`.
// A contiguous run is one row.
struct SramBlock {
  uint64_t offset = 0;
  uint64_t rows = 1;
  uint64_t row_bytes = 0;
  uint64_t pitch = 0;
  uint64_t bytes() const { return rows * row_bytes; }
};

class Sram : public sc_core::sc_object {
 public:
  // Named in the hierarchy of the module under construction (e.g. "top.accelerator.weight_buffer").
  Sram(const char* name, uint64_t capacity_bytes);

  const char* kind() const override { return "lbfp_sram"; }
  uint64_t capacity_bytes() const { return capacity_bytes_; }
  uint64_t bytes_read() const { return bytes_read_; }
  uint64_t bytes_written() const { return bytes_written_; }

  // Where the block is stored, for the writer to fill (the bytes of the block at pitch strides);
  // counts the block's bytes as written. Throws std::out_of_range naming the buffer when the block
  // does not fit its capacity (a planning error, never a workload's).
  Code* write(const SramBlock& block);
  // Where the block is stored, for the reader to stream; counts the block's bytes as read.
  const Code* read(const SramBlock& block);
  // Where the block is stored, for an address generator that reads `bytes` scattered inside it
  // (a convolution's windows); counts those bytes as read.
  const Code* read(const SramBlock& block, uint64_t bytes);

 private:
  Code* locate(const SramBlock& block, const char* access);

  struct FreeDeleter {
    void operator()(Code* p) const;
  };
  uint64_t capacity_bytes_;
  // calloc'ed: the operating system maps zero pages lazily, so a large buffer costs only what
  // the layers use.
  std::unique_ptr<Code[], FreeDeleter> storage_;
  uint64_t bytes_read_ = 0;
  uint64_t bytes_written_ = 0;
};

}  // namespace lbfp::arch
