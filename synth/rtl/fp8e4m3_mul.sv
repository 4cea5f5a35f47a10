// Synthesis-only top: the FP8 E4M3 multiplier (rtl/fp8_mul.sv), also MXFP8 E4M3's, with its
// two's-complement product in units of 2^-18 as the exact accumulator adds it.
module fp8e4m3_mul (
  input  logic [7:0]  a_i,
  input  logic [7:0]  b_i,
  output logic        invalid_o,
  output logic [36:0] prod_o
);
  fp8_mul #(
    .ExpBits (4),
    .MantBits(3),
    .HasInf  (1'b0)
  ) u_mul (
    .a_i      (a_i),
    .b_i      (b_i),
    .invalid_o(invalid_o),
    .prod_o   (prod_o)
  );
endmodule
