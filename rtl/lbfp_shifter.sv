// The product magnitude p = LUT[f] << q (spec step 5): a barrel shifter, the only wide part of
// the LBFP multiplier.
module lbfp_shifter #(
  parameter int LutWidth   = 9,
  parameter int ShiftWidth = 4,
  parameter int OutWidth   = 24  // LutWidth + the largest q the caller can present
) (
  input  logic [LutWidth-1:0]   lut_i,
  input  logic [ShiftWidth-1:0] shift_i,
  output logic [OutWidth-1:0]   mag_o
);
  assign mag_o = OutWidth'(lut_i) << shift_i;

`ifndef SYNTHESIS
  initial begin
    assert (LutWidth >= 1 && ShiftWidth >= 1)
      else $fatal(1, "lbfp_shifter: LutWidth %0d, ShiftWidth %0d", LutWidth, ShiftWidth);
    assert (OutWidth >= LutWidth)
      else $fatal(1, "lbfp_shifter: OutWidth %0d < LutWidth %0d", OutWidth, LutWidth);
  end
`endif
endmodule
