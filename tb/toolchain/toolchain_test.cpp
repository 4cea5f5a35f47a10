// Proves on a fresh machine that every Debian library the project builds on links and works
// as the later parts of the project use it: YAML configs with line numbers in errors, JSON
// reports, logging, SystemC time and TLM-2.0 payloads.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>
#include <yaml-cpp/yaml.h>

#include <sstream>
#include <systemc>
#include <tlm>

namespace {

TEST(Toolchain, YamlCppReportsTheLineOfABadValue) {
  const YAML::Node config = YAML::Load("array:\n  rows: 16\n  cols: sixteen\n");
  EXPECT_EQ(config["array"]["rows"].as<int>(), 16);
  try {
    (void)config["array"]["cols"].as<int>();
    FAIL() << "a string converted to int";
  } catch (const YAML::BadConversion& e) {
    EXPECT_EQ(e.mark.line, 2);  // zero-based: the third line
  }
}

TEST(Toolchain, NlohmannJsonRoundTrips) {
  const nlohmann::json report = {{"total_cycles", 12345}, {"energy_pj", 6.5}};
  const nlohmann::json back = nlohmann::json::parse(report.dump());
  EXPECT_EQ(back["total_cycles"].get<int>(), 12345);
  EXPECT_DOUBLE_EQ(back["energy_pj"].get<double>(), 6.5);
}

TEST(Toolchain, SpdlogWritesToASink) {
  std::ostringstream out;
  auto sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(out);
  spdlog::logger logger("test", sink);
  logger.set_pattern("%l %v");
  logger.warn("stall of {} cycles", 7);
  EXPECT_EQ(out.str(), "warning stall of 7 cycles\n");
}

TEST(Toolchain, SystemCTimeAndTlmPayload) {
  const sc_core::sc_time period(2, sc_core::SC_NS);
  EXPECT_EQ(period * 5.0, sc_core::sc_time(10, sc_core::SC_NS));
  tlm::tlm_generic_payload payload;
  unsigned char data[4] = {1, 2, 3, 4};
  payload.set_command(tlm::TLM_READ_COMMAND);
  payload.set_address(0x1000);
  payload.set_data_ptr(data);
  payload.set_data_length(4);
  payload.set_response_status(tlm::TLM_ADDRESS_ERROR_RESPONSE);
  EXPECT_TRUE(payload.is_response_error());
  EXPECT_EQ(payload.get_address(), 0x1000u);
}

}  // namespace

// SystemC's library owns main() and calls sc_main(); the tests run from there.
int sc_main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
