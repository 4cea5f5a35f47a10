// SystemC's library owns main() and calls sc_main(). A SystemC simulation can be elaborated once
// per process, so every test that builds modules runs in a process of its own: ctest runs each
// discovered test separately (gtest_discover_tests); run one at a time with --gtest_filter.
#include <gtest/gtest.h>

#include <systemc>

int sc_main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  sc_core::sc_report_handler::set_actions(sc_core::SC_INFO, sc_core::SC_DO_NOTHING);
  return RUN_ALL_TESTS();
}
