// A TLM-2.0 extension for a DMA descriptor of equal rows (a tile written back, a 2-D block):
// the payload itself is the first row (address, data pointer, length); the extension adds
// rows 1 .. rows - 1, row r at address + r * pitch with its bytes at data + r * length. The rows
// are issued back to back: each one when the one before it has completed, as an initiator that
// passes the delay b_transport returned on to the next transaction. So one transaction costs the
// TLM path once instead of once per row, and the memory's timing, counts and contents are those
// of the rows issued one by one.
//
// A target that honours it (Dram) moves every row and sets rows_done to rows. One that does not,
// or cannot (a later row outside its range, a router that would send later rows elsewhere),
// treats the payload as the plain first row and leaves rows_done at 0; the initiator then issues
// the other rows itself, so an error names the row it happens in, as without the extension.
//
// The extension belongs to the initiator: it is set on the payload for one transaction and
// cleared after it (a payload deletes the extensions still set on it).
#pragma once

#include <cstdint>

#include <tlm>

namespace lbfp::arch {

struct RowBurst : tlm::tlm_extension<RowBurst> {
  uint64_t rows = 1;
  uint64_t pitch = 0;      // bytes from one row's address to the next one's
  uint64_t rows_done = 0;  // set by the target that moved them all

  tlm::tlm_extension_base* clone() const override { return new RowBurst(*this); }
  void copy_from(const tlm::tlm_extension_base& other) override {
    *this = static_cast<const RowBurst&>(other);
  }

  // The bytes from the first row's address to the end of the last row, or 0 where that does not
  // fit in 64 bits.
  uint64_t span(uint64_t length) const {
    if (rows <= 1) return length;
    const uint64_t steps = rows - 1;
    if (pitch != 0 && steps > (UINT64_MAX - length) / pitch) return 0;
    return steps * pitch + length;
  }
};

// The initiator's side: `rows` rows of `length` bytes, row r at address + r * pitch from
// data + r * length, through `transport(address, data)` (one transaction on `payload` with its
// delay passed on; false on an error response): the first with a RowBurst for all of them, then
// one transaction for each row the target did not take. Returns how many rows the first
// transaction moved (rows, or 1), or 0 where a transaction failed. rows >= 1.
template <class Transport>
uint64_t transfer_rows(tlm::tlm_generic_payload& payload, uint64_t address, uint64_t pitch,
                       unsigned char* data, uint64_t length, uint64_t rows,
                       const Transport& transport) {
  RowBurst burst;
  burst.rows = rows;
  burst.pitch = pitch;
  if (rows > 1) payload.set_extension(&burst);
  const bool ok = transport(address, data);
  if (rows > 1) payload.clear_extension(&burst);
  if (!ok) return 0;
  const uint64_t done = burst.rows_done == rows ? rows : 1;
  for (uint64_t r = done; r < rows; ++r) {
    if (!transport(address + r * pitch, data + r * length)) return 0;
  }
  return done;
}

}  // namespace lbfp::arch
