// One complete LBFP product in accumulator units: lbfp_mul (add + LUT), lbfp_shifter (shift) and
// the sign applied as two's complement, ready for the saturating accumulator.
//
// ZeroFlagIn = 1 (held operands, see lbfp_mul): zero_i flags a zero product, whose shifted
// magnitude (that of the held codes) is gated to 0 here, after the shifter, so that the shifter
// holds still through a run of zero products. With ZeroFlagIn = 0, zero_i is unused.
module lbfp_product #(
  parameter int DataWidth  = 8,     // W
  parameter int FracBits   = 4,     // F
  parameter int LutBits    = 8,     // P
  parameter bit ZeroFlagIn = 1'b0,
  localparam int LutWidth   = lbfp_pkg::lut_width(FracBits, LutBits),
  localparam int ShiftWidth = lbfp_pkg::shift_width(DataWidth, FracBits),
  localparam int MagWidth   = lbfp_pkg::product_width(DataWidth, FracBits, LutBits),
  localparam int ProdWidth  = MagWidth + 1
) (
  input  logic [DataWidth-1:0]  a_i,
  input  logic [DataWidth-1:0]  b_i,
  input  logic                  zero_i,  // ZeroFlagIn: the product is zero
  output logic                  neg_o,
  output logic                  zero_o,
  output logic [LutWidth-1:0]   lut_o,
  output logic [ShiftWidth-1:0] shift_o,
  output logic [MagWidth-1:0]   mag_o,
  output logic [ProdWidth-1:0]  prod_o  // signed
);
  logic [MagWidth-1:0] shifted;

  lbfp_mul #(
    .DataWidth (DataWidth),
    .FracBits  (FracBits),
    .LutBits   (LutBits),
    .ZeroFlagIn(ZeroFlagIn)
  ) u_mul (
    .a_i    (a_i),
    .b_i    (b_i),
    .zero_i (zero_i),
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
    .mag_o  (shifted)
  );

  if (ZeroFlagIn) begin : gen_gate
    assign mag_o = zero_o ? '0 : shifted;
  end else begin : gen_pass
    assign mag_o = shifted;  // 0 already for a zero product
  end

  assign prod_o = neg_o ? -{1'b0, mag_o} : {1'b0, mag_o};

`ifndef SYNTHESIS
  // F and P are checked in lbfp_mul; the sign needs a code of at least two bits.
  initial begin
    assert (DataWidth >= 2) else $fatal(1, "lbfp_product: DataWidth %0d < 2", DataWidth);
  end
`endif
endmodule
