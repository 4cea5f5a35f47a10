// Synthesis-only top: the FP8 E4M3 MAC (rtl/fp8_mac.sv), also MXFP8 E4M3's: fp8_mul into the
// 42-bit saturating accumulator of spec section 13.5, in units of 2^-18; the section 13 twin of
// lbfp_mac and bfp_mac.
module fp8e4m3_mac (
  input  logic        clk_i,
  input  logic        rst_ni,
  input  logic        valid_i,
  input  logic        first_i,
  input  logic [7:0]  a_i,
  input  logic [7:0]  b_i,
  output logic [41:0] acc_o,
  output logic        ovf_o,
  output logic        invalid_o
);
  fp8_mac #(
    .ExpBits (4),
    .MantBits(3),
    .HasInf  (1'b0),
    .AccWidth(42)
  ) u_mac (
    .clk_i    (clk_i),
    .rst_ni   (rst_ni),
    .valid_i  (valid_i),
    .first_i  (first_i),
    .a_i      (a_i),
    .b_i      (b_i),
    .acc_o    (acc_o),
    .ovf_o    (ovf_o),
    .invalid_o(invalid_o)
  );
endmodule
