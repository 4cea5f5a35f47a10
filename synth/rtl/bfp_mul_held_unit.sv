// Synthesis-only top: the BFP8 multiplier as bfp_pe with HoldZeros drives it (rtl/pe.sv), the
// like-for-like twin of lbfp_mul_held_unit: the plain bfp_mul on held operands, its product gated
// by the registered zero flag.
module bfp_mul_held_unit #(
  parameter int DataWidth = 8
) (
  input  logic [DataWidth-1:0]   a_i,
  input  logic [DataWidth-1:0]   b_i,
  input  logic                   zero_i,  // the registered zero flag of the product
  output logic [2*DataWidth-1:0] prod_o   // signed
);
  logic [2*DataWidth-1:0] prod;

  bfp_mul #(
    .DataWidth(DataWidth)
  ) u_mul (
    .a_i   (a_i),
    .b_i   (b_i),
    .prod_o(prod)
  );

  assign prod_o = zero_i ? '0 : prod;
endmodule
