# The RTL sources, the Verilator arguments and the fixed array configurations of the Verilated
# designs: variables only, read by rtl/verilated/CMakeLists.txt (which builds the designs) and by
# whatever lints or synthesizes the same sources.

set(LBFP_RTL_DIR ${PROJECT_SOURCE_DIR}/rtl)
set(LBFP_RTL_SOURCES
  ${LBFP_RTL_DIR}/lbfp_pkg.sv
  ${LBFP_RTL_DIR}/lbfp_mul.sv
  ${LBFP_RTL_DIR}/lbfp_shifter.sv
  ${LBFP_RTL_DIR}/lbfp_product.sv
  ${LBFP_RTL_DIR}/bfp_mul.sv
  ${LBFP_RTL_DIR}/sat_add.sv
  ${LBFP_RTL_DIR}/sat_accumulator.sv
  ${LBFP_RTL_DIR}/delay_line.sv
  ${LBFP_RTL_DIR}/operand_hold.sv
  ${LBFP_RTL_DIR}/pe.sv
  ${LBFP_RTL_DIR}/pe_ws.sv
  ${LBFP_RTL_DIR}/lbfp_requant.sv
  ${LBFP_RTL_DIR}/systolic_array.sv
  ${LBFP_RTL_DIR}/systolic_array_ws.sv
)
# The multipliers and MACs of the industry formats (spec section 13), outside LBFP_RTL_SOURCES: the
# arrays, the on-demand models and the synthesis units of LBFP8 and BFP8 do not read them.
set(LBFP_RTL_FORMAT_SOURCES ${LBFP_RTL_DIR}/fp8_mul.sv ${LBFP_RTL_DIR}/fp8_mac.sv)
# The output-stationary PE of FP8 (spec section 13; the INT8 one is pe.sv), which also reads
# LBFP_RTL_FORMAT_SOURCES, and the testbench top that co-simulates the PEs of the three formats.
set(LBFP_RTL_FMT_PE_SOURCES ${LBFP_RTL_DIR}/pe_fp8.sv)
set(LBFP_RTL_TB_FMT_PE ${PROJECT_SOURCE_DIR}/rtl/verilated/hdl/tb_fmt_pe.sv)
# The unit wrapper that `lbfp cosim` and the unit testbenches drive (one top for all units), and
# the BFP8 MAC's synthesis top, which it co-simulates as the INT8 / MXINT8 MAC.
set(LBFP_RTL_TB_UNITS ${PROJECT_SOURCE_DIR}/synth/rtl/bfp_mac.sv
  ${PROJECT_SOURCE_DIR}/rtl/verilated/hdl/tb_units.sv)

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
# The 16 x 16 LBFP8 array of the shipped presets (configs/arch/lbfp8_16x16.yaml), for
# `lbfp sim --array rtl` and the architecture benchmark.
set(LBFP_RTL_PRESET_ROWS 16)
set(LBFP_RTL_PRESET_COLS 16)
set(LBFP_RTL_PRESET_PIPE 1)
set(LBFP_RTL_PRESET_ACC 32)

# Weight-stationary arrays (rtl/systolic_array_ws.sv, which also runs input-stationary): the same
# three shapes, formats, accumulators and pipeline depths as the output-stationary test arrays.
set(LBFP_RTL_WS_LBFP8_ROWS 4)
set(LBFP_RTL_WS_LBFP8_COLS 4)
set(LBFP_RTL_WS_LBFP8_PIPE 1)
set(LBFP_RTL_WS_LBFP8_ACC 32)
set(LBFP_RTL_WS_BFP8_ROWS 4)
set(LBFP_RTL_WS_BFP8_COLS 4)
set(LBFP_RTL_WS_BFP8_PIPE 2)
set(LBFP_RTL_WS_BFP8_ACC 32)
set(LBFP_RTL_WS_NARROW_ROWS 3)
set(LBFP_RTL_WS_NARROW_COLS 2)
set(LBFP_RTL_WS_NARROW_PIPE 0)
set(LBFP_RTL_WS_NARROW_ACC 16)

set(LBFP_VERILATOR_ARGS -O3 --x-assign fast --x-initial fast --assert -I${LBFP_RTL_DIR})
