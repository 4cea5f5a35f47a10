// One complete LBFP product in accumulator units: lbfp_mul (add + LUT), lbfp_shifter (shift) and
// the sign applied as two's complement, ready for the saturating accumulator.
module lbfp_product #(
  parameter int DataWidth = 8,  // W
  parameter int FracBits  = 4,  // F
  parameter int LutBits   = 8,  // P
  localparam int LutWidth   = lbfp_pkg::lut_width(FracBits, LutBits),
  localparam int ShiftWidth = lbfp_pkg::shift_width(DataWidth, FracBits),
  localparam int MagWidth   = lbfp_pkg::product_width(DataWidth, FracBits, LutBits),
  localparam int ProdWidth  = MagWidth + 1
) (
  input  logic [DataWidth-1:0]  a_i,
  input  logic [DataWidth-1:0]  b_i,
  output logic                  neg_o,
  output logic                  zero_o,
  output logic [LutWidth-1:0]   lut_o,
  output logic [ShiftWidth-1:0] shift_o,
  output logic [MagWidth-1:0]   mag_o,
  output logic [ProdWidth-1:0]  prod_o  // signed
);
  lbfp_mul #(
    .DataWidth(DataWidth),
    .FracBits (FracBits),
    .LutBits  (LutBits)
  ) u_mul (
    .a_i    (a_i),
    .b_i    (b_i),
    .neg_o  (neg_o),
    .zero_o (zero_o),
    .lut_o  (lut_o),
    .shift_o(shift_o)
  );

  lbfp_shifter #(
    .LutWidth  (LutWidth),
    .ShiftWidth(ShiftWidth),
    .OutWidth  (MagWidth)
  ) u_shifter (
    .lut_i  (lut_o),
    .shift_i(shift_o),
    .mag_o  (mag_o)
  );

  assign prod_o = neg_o ? -{1'b0, mag_o} : {1'b0, mag_o};
endmodule
