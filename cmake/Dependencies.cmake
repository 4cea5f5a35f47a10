# Every dependency is a Debian package installed by scripts/setup.sh. All are found here, even
# those only later parts of the project use, so that a fresh machine proves the whole set.
find_package(PkgConfig REQUIRED)
find_package(Threads REQUIRED)

# SystemC 2.3.4 (libsystemc-dev) ships no CMake config: pkg-config it is. TLM-2.0 is header-only
# and lives in the same include tree.
pkg_check_modules(SYSTEMC REQUIRED IMPORTED_TARGET systemc>=2.3.3)

find_package(verilator 5.006 REQUIRED HINTS /usr/share/verilator $ENV{VERILATOR_ROOT})
find_program(YOSYS_EXECUTABLE yosys REQUIRED)

find_package(fmt REQUIRED)
find_package(CLI11 REQUIRED)
find_package(yaml-cpp REQUIRED)
find_package(nlohmann_json 3 REQUIRED)
find_package(GTest REQUIRED)
find_package(benchmark REQUIRED)
# The accuracy evaluator (model/eval): gzipped IDX data, ONNX models (Debian's ONNX config needs
# protobuf::libprotobuf defined first).
find_package(ZLIB REQUIRED)
find_package(Protobuf REQUIRED)
find_package(ONNX CONFIG REQUIRED)
find_package(OpenBLAS CONFIG QUIET)
if(NOT OpenBLAS_FOUND)
  pkg_check_modules(OPENBLAS REQUIRED IMPORTED_TARGET openblas)
endif()

message(STATUS "SystemC ${SYSTEMC_VERSION}, Verilator ${verilator_VERSION}, Yosys ${YOSYS_EXECUTABLE}")
