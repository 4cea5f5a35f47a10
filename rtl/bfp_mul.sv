// The fixed-point (BFP8) baseline multiplier: a W x W signed integer multiplier with a 2W-bit
// product (spec "The fixed-point baseline").
module bfp_mul #(
  parameter int DataWidth = 8
) (
  input  logic [DataWidth-1:0]   a_i,
  input  logic [DataWidth-1:0]   b_i,
  output logic [2*DataWidth-1:0] prod_o  // signed
);
  assign prod_o = $signed(a_i) * $signed(b_i);
endmodule
