// The TLM-2.0 DRAM target: data, timing (latency and bandwidth), errors, debug transport and DMI;
// the RowBurst extension through the DRAM, the router and a target that ignores it.
#include <gtest/gtest.h>
#include <sys/sysinfo.h>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <stdexcept>
#include <vector>

#include <systemc>
#include <tlm>
#include <tlm_utils/simple_initiator_socket.h>
#include <tlm_utils/simple_target_socket.h>

#include "lbfp/arch/dram.h"
#include "lbfp/arch/platform.h"
#include "lbfp/arch/row_burst.h"

namespace lbfp::arch {
namespace {

using sc_core::SC_NS;
using sc_core::sc_time;

struct Initiator : sc_core::sc_module {
  tlm_utils::simple_initiator_socket<Initiator> socket{"socket"};
  explicit Initiator(sc_core::sc_module_name n) : sc_module(n) {}

  tlm::tlm_response_status transfer(tlm::tlm_command cmd, uint64_t address, unsigned char* data,
                                    unsigned length, sc_time& delay) {
    tlm::tlm_generic_payload p;
    p.set_command(cmd);
    p.set_address(address);
    p.set_data_ptr(data);
    p.set_data_length(length);
    p.set_streaming_width(length);
    p.set_response_status(tlm::TLM_INCOMPLETE_RESPONSE);
    socket->b_transport(p, delay);
    return p.get_response_status();
  }

  // rows rows through row_burst.h's transfer_rows on one payload (as the accelerator's writer
  // issues a tile); returns what it returns.
  uint64_t transfer_rows(tlm::tlm_command cmd, uint64_t address, uint64_t pitch,
                         unsigned char* data, unsigned length, uint64_t rows, sc_time& delay) {
    tlm::tlm_generic_payload p;
    return lbfp::arch::transfer_rows(p, address, pitch, data, length, rows,
                                     [&](uint64_t at, unsigned char* bytes) {
                                       p.set_command(cmd);
                                       p.set_address(at);
                                       p.set_data_ptr(bytes);
                                       p.set_data_length(length);
                                       p.set_streaming_width(length);
                                       p.set_response_status(tlm::TLM_INCOMPLETE_RESPONSE);
                                       socket->b_transport(p, delay);
                                       return p.get_response_status() == tlm::TLM_OK_RESPONSE;
                                     });
  }

  unsigned debug(tlm::tlm_command cmd, uint64_t address, unsigned char* data, unsigned length) {
    tlm::tlm_generic_payload p;
    p.set_command(cmd);
    p.set_address(address);
    p.set_data_ptr(data);
    p.set_data_length(length);
    return socket->transport_dbg(p);
  }
};

DramConfig small_dram() {
  DramConfig c;
  c.size_bytes = 4096;
  c.latency_cycles = 20;
  c.bytes_per_cycle = 8;
  c.clock_period = sc_time(1, SC_NS);
  return c;
}

TEST(Dram, ReadsBackWritesWithLatencyAndBandwidth) {
  Dram dram("dram", small_dram());
  Initiator init("init");
  init.socket.bind(dram.socket);
  unsigned char data[64];
  for (int i = 0; i < 64; ++i) data[i] = static_cast<unsigned char>(i * 3);
  sc_time delay = sc_core::SC_ZERO_TIME;
  // A 64-byte write: 8 transfer cycles, posted.
  ASSERT_EQ(init.transfer(tlm::TLM_WRITE_COMMAND, 100, data, 64, delay), tlm::TLM_OK_RESPONSE);
  EXPECT_EQ(delay, sc_time(8, SC_NS));
  // A read issued at the same time waits for the channel: 8 + 8 transfer cycles + 20 latency.
  unsigned char back[64] = {};
  sc_time read_delay = sc_core::SC_ZERO_TIME;
  ASSERT_EQ(init.transfer(tlm::TLM_READ_COMMAND, 100, back, 64, read_delay),
            tlm::TLM_OK_RESPONSE);
  EXPECT_EQ(read_delay, sc_time(36, SC_NS));
  for (int i = 0; i < 64; ++i) ASSERT_EQ(back[i], data[i]);
  EXPECT_EQ(dram.stats().bytes_written, 64u);
  EXPECT_EQ(dram.stats().bytes_read, 64u);
  // A partial bandwidth cycle rounds up: 9 bytes take 2 cycles.
  sc_time later = sc_time(100, SC_NS);
  ASSERT_EQ(init.transfer(tlm::TLM_READ_COMMAND, 0, back, 9, later), tlm::TLM_OK_RESPONSE);
  EXPECT_EQ(later, sc_time(122, SC_NS));
}

TEST(Dram, OutOfRangeAccessesGetTheAddressError) {
  Dram dram("dram", small_dram());
  Initiator init("init");
  init.socket.bind(dram.socket);
  unsigned char data[16] = {};
  sc_time delay = sc_core::SC_ZERO_TIME;
  EXPECT_EQ(init.transfer(tlm::TLM_READ_COMMAND, 4096, data, 1, delay),
            tlm::TLM_ADDRESS_ERROR_RESPONSE);
  EXPECT_EQ(init.transfer(tlm::TLM_WRITE_COMMAND, 4090, data, 16, delay),
            tlm::TLM_ADDRESS_ERROR_RESPONSE);
  EXPECT_EQ(init.transfer(tlm::TLM_READ_COMMAND, ~uint64_t{0} - 4, data, 16, delay),
            tlm::TLM_ADDRESS_ERROR_RESPONSE);
  EXPECT_EQ(dram.stats().errors, 3u);
  EXPECT_EQ(dram.stats().bytes_read, 0u);
}

TEST(Dram, DebugTransportIsUntimedUncountedAndStopsAtTheEnd) {
  Dram dram("dram", small_dram());
  Initiator init("init");
  init.socket.bind(dram.socket);
  unsigned char data[16];
  for (int i = 0; i < 16; ++i) data[i] = static_cast<unsigned char>(200 - i);
  EXPECT_EQ(init.debug(tlm::TLM_WRITE_COMMAND, 1000, data, 16), 16u);
  // A timed read sees what the debug write placed.
  unsigned char back[16] = {};
  sc_time delay = sc_core::SC_ZERO_TIME;
  ASSERT_EQ(init.transfer(tlm::TLM_READ_COMMAND, 1000, back, 16, delay), tlm::TLM_OK_RESPONSE);
  for (int i = 0; i < 16; ++i) ASSERT_EQ(back[i], data[i]);
  EXPECT_EQ(dram.stats().bytes_written, 0u);
  EXPECT_EQ(dram.stats().bytes_read, 16u);
  // Debug transactions move what lies inside the memory, and say how much.
  EXPECT_EQ(init.debug(tlm::TLM_WRITE_COMMAND, 4095, data, 2), 1u);
  EXPECT_EQ(init.debug(tlm::TLM_READ_COMMAND, 4096, back, 2), 0u);
  EXPECT_EQ(dram.stats().errors, 0u);
}

// The DMI region the DRAM grants for address 0 (an end address of 0 where it grants none).
tlm::tlm_dmi dmi_from_zero(Initiator& init) {
  tlm::tlm_generic_payload p;
  p.set_address(0);
  tlm::tlm_dmi dmi;
  EXPECT_TRUE(init.socket->get_direct_mem_ptr(p, dmi));
  return dmi;
}

TEST(Dram, GrantsDmiAndRejectsBadConfigs) {
  Dram dram("dram", small_dram());
  Initiator init("init");
  init.socket.bind(dram.socket);
  const tlm::tlm_dmi dmi = dmi_from_zero(init);
  ASSERT_EQ(dmi.get_end_address(), 4095u);
  EXPECT_TRUE(dmi.is_read_write_allowed());
  dmi.get_dmi_ptr()[7] = 42;
  unsigned char v = 0;
  EXPECT_EQ(init.debug(tlm::TLM_READ_COMMAND, 7, &v, 1), 1u);
  EXPECT_EQ(v, 42);
  DramConfig bad = small_dram();
  bad.size_bytes = 0;
  EXPECT_THROW(bad.validate(), std::invalid_argument);
  bad = small_dram();
  bad.bytes_per_cycle = 0;
  EXPECT_THROW(bad.validate(), std::invalid_argument);
  bad = small_dram();
  bad.clock_period = sc_core::SC_ZERO_TIME;
  EXPECT_THROW(bad.validate(), std::invalid_argument);
}

// The memory starts zeroed, from a 2 MiB boundary on Linux (so that its first pages can be huge
// pages: the layers are placed from address 0), and takes bytes at both ends.
TEST(Dram, MemoryStartsZeroedOnAHugePageBoundary) {
  DramConfig config = small_dram();
  config.size_bytes = (uint64_t{5} << 20) + 3;  // not a whole number of pages
  Dram dram("dram", config);
  Initiator init("init");
  init.socket.bind(dram.socket);
  const tlm::tlm_dmi dmi = dmi_from_zero(init);
  ASSERT_EQ(dmi.get_end_address(), config.size_bytes - 1);
  const unsigned char* memory = dmi.get_dmi_ptr();
#if defined(__linux__)
  EXPECT_EQ(reinterpret_cast<uintptr_t>(memory) % (uintptr_t{2} << 20), 0u);
#endif
  for (uint64_t at = 0; at < config.size_bytes; at += 4093) EXPECT_EQ(memory[at], 0) << at;
  EXPECT_EQ(memory[config.size_bytes - 1], 0);
  unsigned char ends[2] = {0x5a, 0xa5};
  EXPECT_EQ(init.debug(tlm::TLM_WRITE_COMMAND, 0, &ends[0], 1), 1u);
  EXPECT_EQ(init.debug(tlm::TLM_WRITE_COMMAND, config.size_bytes - 1, &ends[1], 1), 1u);
  EXPECT_EQ(memory[0], 0x5a);
  EXPECT_EQ(memory[config.size_bytes - 1], 0xa5);
}

// A DRAM larger than the system will map is refused with the size, not a crash (`lbfp sim`
// prints the message and exits 1). Where the system would map it (memory and swap of 1 TiB, or
// vm.overcommit_memory 1, which maps anything) the check cannot be made and the test says so.
TEST(Dram, ADramTheSystemCannotMapIsRefusedWithItsSize) {
  DramConfig config = small_dram();
  config.size_bytes = uint64_t{1} << 40;  // the largest DramConfig::validate takes
  struct sysinfo info {};
  ::sysinfo(&info);
  const double memory = (static_cast<double>(info.totalram) + static_cast<double>(info.totalswap)) *
                        static_cast<double>(info.mem_unit);
  std::ifstream overcommit_file("/proc/sys/vm/overcommit_memory");
  int overcommit = 0;
  overcommit_file >> overcommit;
  if (memory >= 0x1p40 || overcommit == 1) {
    GTEST_SKIP() << "NOT RUN: this system may map a 1 TiB DRAM (memory and swap " << memory
                 << " bytes, vm.overcommit_memory " << overcommit << ")";
  }
  try {
    Dram dram("huge_dram", config);
    FAIL() << "a 1 TiB DRAM was mapped";
  } catch (const std::runtime_error& e) {
    EXPECT_STREQ(e.what(), "cannot allocate 1099511627776 bytes of simulated DRAM");
  }
}

// The memory after a RowBurst is the memory after its rows issued one by one, each with the
// delay the one before returned: the same bytes, counts, delays and channel (a read issued
// after both sees the same wait), for writes and reads, rows apart or overlapping.
TEST(Dram, RowBurstMovesTimesAndCountsEachRowAsItsOwnTransaction) {
  struct Shape {
    uint64_t rows, pitch;
    unsigned length;
  };
  for (const Shape& shape : {Shape{5, 100, 9}, Shape{16, 64, 16}, Shape{3, 4, 8}, Shape{2, 0, 5}}) {
    for (tlm::tlm_command cmd : {tlm::TLM_WRITE_COMMAND, tlm::TLM_READ_COMMAND}) {
      SCOPED_TRACE(std::to_string(shape.rows) + " rows, pitch " + std::to_string(shape.pitch) +
                   (cmd == tlm::TLM_WRITE_COMMAND ? ", writes" : ", reads"));
      Dram burst_dram("burst_dram", small_dram()), rows_dram("rows_dram", small_dram());
      Initiator burst_init("burst_init"), rows_init("rows_init");
      burst_init.socket.bind(burst_dram.socket);
      rows_init.socket.bind(rows_dram.socket);
      std::vector<unsigned char> memory(4096);
      for (size_t i = 0; i < memory.size(); ++i) memory[i] = static_cast<unsigned char>(i * 7 + 1);
      burst_init.debug(tlm::TLM_WRITE_COMMAND, 0, memory.data(), 4096);
      rows_init.debug(tlm::TLM_WRITE_COMMAND, 0, memory.data(), 4096);
      // The channel busy for a while first, so that issue times and channel waits both count.
      unsigned char first[40] = {};
      sc_time burst_delay = sc_time(3, SC_NS), rows_delay = sc_time(3, SC_NS);
      burst_init.transfer(tlm::TLM_WRITE_COMMAND, 3000, first, 40, burst_delay);
      rows_init.transfer(tlm::TLM_WRITE_COMMAND, 3000, first, 40, rows_delay);
      std::vector<unsigned char> burst_data(shape.rows * shape.length), rows_data(burst_data.size());
      for (size_t i = 0; i < burst_data.size(); ++i) {
        burst_data[i] = rows_data[i] = static_cast<unsigned char>(250 - i);
      }
      EXPECT_EQ(burst_init.transfer_rows(cmd, 40, shape.pitch, burst_data.data(), shape.length,
                                         shape.rows, burst_delay),
                shape.rows);
      for (uint64_t r = 0; r < shape.rows; ++r) {
        ASSERT_EQ(rows_init.transfer(cmd, 40 + r * shape.pitch, rows_data.data() + r * shape.length,
                                     shape.length, rows_delay),
                  tlm::TLM_OK_RESPONSE);
      }
      EXPECT_EQ(burst_delay, rows_delay);
      EXPECT_EQ(burst_data, rows_data);
      std::vector<unsigned char> burst_memory(4096), rows_memory(4096);
      burst_init.debug(tlm::TLM_READ_COMMAND, 0, burst_memory.data(), 4096);
      rows_init.debug(tlm::TLM_READ_COMMAND, 0, rows_memory.data(), 4096);
      EXPECT_EQ(burst_memory, rows_memory);
      EXPECT_EQ(burst_dram.stats().reads, rows_dram.stats().reads);
      EXPECT_EQ(burst_dram.stats().writes, rows_dram.stats().writes);
      EXPECT_EQ(burst_dram.stats().writes + burst_dram.stats().reads, shape.rows + 1);
      EXPECT_EQ(burst_dram.stats().bytes_read, rows_dram.stats().bytes_read);
      EXPECT_EQ(burst_dram.stats().bytes_written, rows_dram.stats().bytes_written);
      unsigned char back[8];
      sc_time burst_after = sc_core::SC_ZERO_TIME, rows_after = sc_core::SC_ZERO_TIME;
      burst_init.transfer(tlm::TLM_READ_COMMAND, 0, back, 8, burst_after);
      rows_init.transfer(tlm::TLM_READ_COMMAND, 0, back, 8, rows_after);
      EXPECT_EQ(burst_after, rows_after);
    }
  }
}

// A burst whose last row is past the memory: the DRAM moves the first row alone, as a plain
// transaction, and the initiator's next rows get the address error, row by row.
TEST(Dram, RowBurstPastTheEndFallsBackToRowsAndFailsAtTheRowOutside) {
  Dram dram("dram", small_dram());
  Initiator init("init");
  init.socket.bind(dram.socket);
  unsigned char data[48];
  for (int i = 0; i < 48; ++i) data[i] = static_cast<unsigned char>(i + 1);
  sc_time delay = sc_core::SC_ZERO_TIME;
  // Rows at 4000, 4048 (4048 + 16 = 4064 <= 4096) and 4096 (past the end).
  EXPECT_EQ(init.transfer_rows(tlm::TLM_WRITE_COMMAND, 4000, 48, data, 16, 3, delay), 0u);
  EXPECT_EQ(dram.stats().writes, 2u);
  EXPECT_EQ(dram.stats().errors, 1u);
  unsigned char back[16];
  init.debug(tlm::TLM_READ_COMMAND, 4048, back, 16);
  EXPECT_EQ(std::memcmp(back, data + 16, 16), 0);
  // A span that wraps 64 bits is no burst either.
  RowBurst wraps;
  wraps.rows = 3;
  wraps.pitch = ~uint64_t{0} / 2;
  EXPECT_EQ(wraps.span(16), 0u);
}

// A target that does not know the extension: a register file that takes every write as one
// plain transaction of its length.
struct PlainTarget : sc_core::sc_module {
  tlm_utils::simple_target_socket<PlainTarget> socket{"socket"};
  std::vector<std::pair<uint64_t, unsigned>> writes;
  explicit PlainTarget(sc_core::sc_module_name n) : sc_module(n) {
    socket.register_b_transport(this, &PlainTarget::b_transport);
  }
  void b_transport(tlm::tlm_generic_payload& p, sc_time& delay) {
    writes.emplace_back(p.get_address(), p.get_data_length());
    delay += sc_time(1, SC_NS);
    p.set_response_status(tlm::TLM_OK_RESPONSE);
  }
};

TEST(Router, PassesARowBurstOnlyWhereEveryRowIsInTheFirstRowsTarget) {
  Router router("router");
  Dram dram("dram", small_dram());
  PlainTarget plain("plain");
  Initiator init("init");
  init.socket.bind(router.target_socket);
  router.initiator_socket.bind(dram.socket);
  router.initiator_socket.bind(plain.socket);
  // The router gives the memory only its first half: a burst the memory itself could take
  // whole may still have rows the router sends elsewhere.
  router.add_range(0, 2048);
  router.add_range(2048, 256);
  unsigned char data[64];
  for (int i = 0; i < 64; ++i) data[i] = static_cast<unsigned char>(i);
  // (The router's multi-sockets are bound at the end of elaboration: the transactions run in
  // a process of the simulation.)
  bool ran = false;
  sc_core::sc_spawn([&] {
    sc_time delay = sc_core::SC_ZERO_TIME;
    // In the memory: one transaction moves all four rows.
    EXPECT_EQ(init.transfer_rows(tlm::TLM_WRITE_COMMAND, 100, 32, data, 16, 4, delay), 4u);
    EXPECT_EQ(dram.stats().writes, 4u);
    unsigned char back[16];
    init.debug(tlm::TLM_READ_COMMAND, 196, back, 16);
    EXPECT_EQ(std::memcmp(back, data + 48, 16), 0);
    // Rows running from the memory's range into the other target's: the memory sees the first
    // row alone, the other target the second.
    EXPECT_EQ(init.transfer_rows(tlm::TLM_WRITE_COMMAND, 2032, 32, data, 16, 2, delay), 1u);
    EXPECT_EQ(dram.stats().writes, 5u);
    init.debug(tlm::TLM_READ_COMMAND, 2032, back, 16);
    EXPECT_EQ(std::memcmp(back, data, 16), 0);
    EXPECT_EQ(dram.stats().bytes_written, 5u * 16);
    // In the target that ignores the extension: each row its own transaction, in order.
    EXPECT_EQ(init.transfer_rows(tlm::TLM_WRITE_COMMAND, 2048 + 64, 16, data, 8, 3, delay), 1u);
    EXPECT_EQ(dram.stats().writes, 5u);
    const std::vector<std::pair<uint64_t, unsigned>> expected = {
        {16, 16}, {64, 8}, {80, 8}, {96, 8}};  // relative to the range
    EXPECT_EQ(plain.writes, expected);
    ran = true;
  });
  sc_core::sc_start();
  EXPECT_TRUE(ran);
}

}  // namespace
}  // namespace lbfp::arch
