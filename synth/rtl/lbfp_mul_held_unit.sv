// Synthesis-only top: the LBFP8 multiplier as a PE with HoldZeros drives it (rtl/pe.sv).
// The PE's register in front of the multiplier keeps the codes of the last non-zero product and
// registers the product's zero flag; this unit is what lies behind that register: lbfp_mul with
// ZeroFlagIn (no zero detect, no isolation), lbfp_shifter, and the zero flag's gate on the shifted
// magnitude and the sign. Same outputs as lbfp_mul_unit, in sign-magnitude form. `lbfp synth`
// plays it the held operand stream (synth/src/streams.cpp, held_operand_stream); the register and
// its enable are counted in the PE.
module lbfp_mul_held_unit #(
  parameter int DataWidth = 8,
  parameter int FracBits  = 4,
  parameter int LutBits   = 8,
  localparam int LutWidth   = lbfp_pkg::lut_width(FracBits, LutBits),
  localparam int ShiftWidth = lbfp_pkg::shift_width(DataWidth, FracBits),
  localparam int MagWidth   = lbfp_pkg::product_width(DataWidth, FracBits, LutBits)
) (
  input  logic [DataWidth-1:0] a_i,
  input  logic [DataWidth-1:0] b_i,
  input  logic                 zero_i,  // the registered zero flag of the product
  output logic                 neg_o,
  output logic [MagWidth-1:0]  mag_o
);
  /* verilator lint_off UNUSEDSIGNAL */
  logic                  zero;
  /* verilator lint_on UNUSEDSIGNAL */
  logic [LutWidth-1:0]   lut;
  logic [ShiftWidth-1:0] shift;
  logic [MagWidth-1:0]   shifted;

  lbfp_mul #(
    .DataWidth (DataWidth),
    .FracBits  (FracBits),
    .LutBits   (LutBits),
    .ZeroFlagIn(1'b1)
  ) u_mul (
    .a_i    (a_i),
    .b_i    (b_i),
    .zero_i (zero_i),
    .neg_o  (neg_o),
    .zero_o (zero),
    .lut_o  (lut),
    .shift_o(shift)
  );

  lbfp_shifter #(
    .LutWidth  (LutWidth),
    .ShiftWidth(ShiftWidth),
    .OutWidth  (MagWidth)
  ) u_shifter (
    .lut_i  (lut),
    .shift_i(shift),
    .mag_o  (shifted)
  );

  assign mag_o = zero_i ? '0 : shifted;
endmodule
