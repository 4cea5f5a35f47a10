# The Verilated RTL designs and the co-simulation harness, shared by the RTL testbenches
# (tb/rtl/CMakeLists.txt) and `lbfp cosim` (sim/CMakeLists.txt). Each design is verilated once,
# into its own static library; the array configurations are fixed here and passed to the harness
# as compile definitions, so the -G parameters and the C++ side cannot disagree. Included from
# both places: the variables are set each time, the targets defined once.

set(LBFP_RTL_DIR ${PROJECT_SOURCE_DIR}/rtl)
set(LBFP_RTL_SOURCES
  ${LBFP_RTL_DIR}/lbfp_pkg.sv
  ${LBFP_RTL_DIR}/lbfp_mul.sv
  ${LBFP_RTL_DIR}/lbfp_shifter.sv
  ${LBFP_RTL_DIR}/lbfp_product.sv
  ${LBFP_RTL_DIR}/bfp_mul.sv
  ${LBFP_RTL_DIR}/sat_accumulator.sv
  ${LBFP_RTL_DIR}/delay_line.sv
  ${LBFP_RTL_DIR}/operand_hold.sv
  ${LBFP_RTL_DIR}/pe.sv
  ${LBFP_RTL_DIR}/lbfp_requant.sv
  ${LBFP_RTL_DIR}/systolic_array.sv
)
set(LBFP_RTL_TB_UNITS ${CMAKE_CURRENT_LIST_DIR}/hdl/tb_units.sv)

# Array configurations: LBFP8 (A = 32), the BFP8 baseline, and LBFP8 with a 16-bit accumulator
# that saturates on real data. Three pipeline depths and a non-square shape keep the latency
# formula honest. The LBFP8 (PipeStages 1) and BFP8 (2) arrays hold their operands on zero
# products (HoldZeros, the array's default); the narrow one (0) isolates them in lbfp_mul.
set(LBFP_RTL_LBFP8_ROWS 4)
set(LBFP_RTL_LBFP8_COLS 4)
set(LBFP_RTL_LBFP8_PIPE 1)
set(LBFP_RTL_LBFP8_ACC 32)
set(LBFP_RTL_BFP8_ROWS 4)
set(LBFP_RTL_BFP8_COLS 4)
set(LBFP_RTL_BFP8_PIPE 2)
set(LBFP_RTL_BFP8_ACC 32)
set(LBFP_RTL_NARROW_ROWS 3)
set(LBFP_RTL_NARROW_COLS 2)
set(LBFP_RTL_NARROW_PIPE 0)
set(LBFP_RTL_NARROW_ACC 16)

set(LBFP_VERILATOR_ARGS -O3 --x-assign fast --x-initial fast --assert -I${LBFP_RTL_DIR})

if(TARGET lbfp_rtl_harness)
  return()
endif()

# lbfp_rtl_verilate(<library> <top> <prefix> [-G...]): one Verilated design as a static library.
# Its include directories are marked SYSTEM so that the project's warning flags do not apply to
# Verilator's headers in the code that uses it.
# With LBFP_RTL_NO_TRACE set by the caller, the design is built without FST tracing (faster to
# compile; for designs only simulated for speed).
function(lbfp_rtl_verilate library top prefix)
  set(trace TRACE_FST)
  if(LBFP_RTL_NO_TRACE)
    set(trace "")
  endif()
  add_library(${library} STATIC)
  set(sources ${LBFP_RTL_SOURCES})
  if(top STREQUAL "tb_units")
    list(APPEND sources ${LBFP_RTL_TB_UNITS})
  endif()
  verilate(${library}
    SOURCES ${sources}
    TOP_MODULE ${top}
    PREFIX ${prefix}
    DIRECTORY ${PROJECT_BINARY_DIR}/verilated/${prefix}
    ${trace}
    VERILATOR_ARGS ${LBFP_VERILATOR_ARGS} ${ARGN})
  target_link_libraries(${library} PUBLIC Threads::Threads)
  if(LBFP_SANITIZE)
    # Verilator's generated C++ is not ours to fix, and instrumenting it makes the sanitizer
    # build several times slower; the code that drives it (harness, rtl_array) stays checked.
    # No debug information either: with -g, clang 14 takes over 15 minutes and 9 GiB for one
    # file of the 16 x 16 array, and 5 s without.
    target_compile_options(${library} PRIVATE -fno-sanitize=all -g0)
  endif()
  get_target_property(dirs ${library} INTERFACE_INCLUDE_DIRECTORIES)
  set_property(TARGET ${library} APPEND PROPERTY INTERFACE_SYSTEM_INCLUDE_DIRECTORIES ${dirs})
endfunction()

lbfp_rtl_verilate(lbfp_vl_units tb_units Vtb_units)
lbfp_rtl_verilate(lbfp_vl_array systolic_array Vlbfp_array
  -GNumRows=${LBFP_RTL_LBFP8_ROWS} -GNumCols=${LBFP_RTL_LBFP8_COLS}
  -GPipeStages=${LBFP_RTL_LBFP8_PIPE} -GAccWidth=${LBFP_RTL_LBFP8_ACC} -GUseBfp=0)
lbfp_rtl_verilate(lbfp_vl_array_bfp systolic_array Vbfp_array
  -GNumRows=${LBFP_RTL_BFP8_ROWS} -GNumCols=${LBFP_RTL_BFP8_COLS}
  -GPipeStages=${LBFP_RTL_BFP8_PIPE} -GAccWidth=${LBFP_RTL_BFP8_ACC} -GUseBfp=1 -GHoldZeros=1'b1)
lbfp_rtl_verilate(lbfp_vl_array_a16 systolic_array Vlbfp_array_a16
  -GNumRows=${LBFP_RTL_NARROW_ROWS} -GNumCols=${LBFP_RTL_NARROW_COLS}
  -GPipeStages=${LBFP_RTL_NARROW_PIPE} -GAccWidth=${LBFP_RTL_NARROW_ACC} -GUseBfp=0 -GHoldZeros=1'b0)

add_library(lbfp_rtl_harness STATIC ${CMAKE_CURRENT_LIST_DIR}/harness.cpp)
target_include_directories(lbfp_rtl_harness
  PUBLIC ${CMAKE_CURRENT_LIST_DIR}
  PRIVATE ${PROJECT_SOURCE_DIR}/model/arch/include ${PROJECT_SOURCE_DIR}/model/arch/rtl)
# The verilated array configurations as compile definitions, for every C++ file that names them.
add_library(lbfp_rtl_configs INTERFACE)
target_compile_definitions(lbfp_rtl_configs INTERFACE
  LBFP_RTL_LBFP8_ROWS=${LBFP_RTL_LBFP8_ROWS} LBFP_RTL_LBFP8_COLS=${LBFP_RTL_LBFP8_COLS}
  LBFP_RTL_LBFP8_PIPE=${LBFP_RTL_LBFP8_PIPE} LBFP_RTL_LBFP8_ACC=${LBFP_RTL_LBFP8_ACC}
  LBFP_RTL_BFP8_ROWS=${LBFP_RTL_BFP8_ROWS} LBFP_RTL_BFP8_COLS=${LBFP_RTL_BFP8_COLS}
  LBFP_RTL_BFP8_PIPE=${LBFP_RTL_BFP8_PIPE} LBFP_RTL_BFP8_ACC=${LBFP_RTL_BFP8_ACC}
  LBFP_RTL_NARROW_ROWS=${LBFP_RTL_NARROW_ROWS} LBFP_RTL_NARROW_COLS=${LBFP_RTL_NARROW_COLS}
  LBFP_RTL_NARROW_PIPE=${LBFP_RTL_NARROW_PIPE} LBFP_RTL_NARROW_ACC=${LBFP_RTL_NARROW_ACC})
target_link_libraries(lbfp_rtl_harness
  PUBLIC lbfp_golden
  PRIVATE lbfp_vl_units lbfp_vl_array lbfp_vl_array_bfp lbfp_vl_array_a16 lbfp_rtl_configs
          lbfp_warnings)
