#include "lbfp/arch/sram.h"

#include <cstdlib>
#include <stdexcept>
#include <string>

namespace lbfp::arch {

Sram::Sram(const char* name, uint64_t capacity_bytes)
    : sc_object(name), capacity_bytes_(capacity_bytes) {
  if (capacity_bytes == 0) {
    throw std::invalid_argument(std::string(this->name()) + ": the capacity must be positive");
  }
  storage_.reset(static_cast<Code*>(std::calloc(capacity_bytes, 1)));
  if (!storage_) {
    throw std::runtime_error(std::string(this->name()) + ": cannot allocate " +
                             std::to_string(capacity_bytes) + " bytes");
  }
}

void Sram::FreeDeleter::operator()(Code* p) const { std::free(p); }

Code* Sram::locate(const SramBlock& block, const char* access) {
  const uint64_t capacity = capacity_bytes_;
  const bool empty = block.rows == 0 || block.row_bytes == 0;
  // The last row ends at offset + (rows - 1) pitch + row_bytes; checked without overflow.
  const bool fits =
      block.offset <= capacity &&
      (empty || (block.row_bytes <= capacity - block.offset &&
                 (block.rows == 1 || (block.pitch >= block.row_bytes &&
                                      block.pitch <= (capacity - block.offset - block.row_bytes) /
                                                         (block.rows - 1)))));
  if (!fits) {
    throw std::out_of_range(std::string(name()) + ": " + access + " of " +
                            std::to_string(block.rows) + " x " + std::to_string(block.row_bytes) +
                            " bytes (pitch " + std::to_string(block.pitch) + ") at offset " +
                            std::to_string(block.offset) + " is outside its " +
                            std::to_string(capacity) + " bytes");
  }
  return storage_.get() + block.offset;
}

Code* Sram::write(const SramBlock& block) {
  Code* where = locate(block, "write");
  bytes_written_ += block.bytes();
  return where;
}

const Code* Sram::read(const SramBlock& block) {
  const Code* where = locate(block, "read");
  bytes_read_ += block.bytes();
  return where;
}

const Code* Sram::read(const SramBlock& block, uint64_t bytes) {
  const Code* where = locate(block, "read");
  bytes_read_ += bytes;
  return where;
}

}  // namespace lbfp::arch
