// The TLM-2.0 DRAM target: data, timing (latency and bandwidth), errors, debug transport and DMI.
#include <gtest/gtest.h>

#include <systemc>
#include <tlm>
#include <tlm_utils/simple_initiator_socket.h>

#include "lbfp/arch/dram.h"

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

TEST(Dram, GrantsDmiAndRejectsBadConfigs) {
  Dram dram("dram", small_dram());
  Initiator init("init");
  init.socket.bind(dram.socket);
  tlm::tlm_generic_payload p;
  p.set_address(0);
  tlm::tlm_dmi dmi;
  ASSERT_TRUE(init.socket->get_direct_mem_ptr(p, dmi));
  EXPECT_EQ(dmi.get_end_address(), 4095u);
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

}  // namespace
}  // namespace lbfp::arch
