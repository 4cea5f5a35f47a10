// Synthesis-only top: the FP8 E5M2 multiplier (rtl/fp8_mul.sv), also MXFP8 E5M2's, with its
// two's-complement product in units of 2^-32 as the exact accumulator adds it.
module fp8e5m2_mul (
  input  logic [7:0]  a_i,
  input  logic [7:0]  b_i,
  output logic        invalid_o,
  output logic [64:0] prod_o
);
  fp8_mul #(
    .ExpBits (5),
    .MantBits(2),
    .HasInf  (1'b1)
  ) u_mul (
    .a_i      (a_i),
    .b_i      (b_i),
    .invalid_o(invalid_o),
    .prod_o   (prod_o)
  );
endmodule
