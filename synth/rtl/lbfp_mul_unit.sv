// Synthesis-only top: the LBFP8 multiplier as the paper counts it, lbfp_mul (sign XOR, zero
// detect, code adder, antilog LUT) followed by lbfp_shifter (LUT[f] << q). The product leaves in
// sign-magnitude form, as bfp_mul's leaves in two's complement: the negation that lbfp_product
// adds for the accumulator is part of the MAC unit, not of the multiplier.
module lbfp_mul_unit #(
  parameter int DataWidth = 8,
  parameter int FracBits  = 4,
  parameter int LutBits   = 8,
  localparam int LutWidth   = lbfp_pkg::lut_width(FracBits, LutBits),
  localparam int ShiftWidth = lbfp_pkg::shift_width(DataWidth, FracBits),
  localparam int MagWidth   = lbfp_pkg::product_width(DataWidth, FracBits, LutBits)
) (
  input  logic [DataWidth-1:0] a_i,
  input  logic [DataWidth-1:0] b_i,
  output logic                 neg_o,
  output logic [MagWidth-1:0]  mag_o
);
  /* verilator lint_off UNUSEDSIGNAL */
  logic                  zero;
  /* verilator lint_on UNUSEDSIGNAL */
  logic [LutWidth-1:0]   lut;
  logic [ShiftWidth-1:0] shift;

  lbfp_mul #(
    .DataWidth(DataWidth),
    .FracBits (FracBits),
    .LutBits  (LutBits)
  ) u_mul (
    .a_i    (a_i),
    .b_i    (b_i),
    .zero_i (1'b0),
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
    .mag_o  (mag_o)
  );
endmodule
