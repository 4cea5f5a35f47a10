// Synthesis-only top: the FP8 E4M3 PE, also MXFP8 E4M3's (rtl/pe_fp8.sv): fp8_mul
// into the 42-bit saturating accumulator of spec section 13.5, with the operand forwarding, the
// pipeline register and the bias input of the LBFP8 and BFP8 PEs; the section 13 twin of lbfp_pe
// and bfp_pe. HoldZeros defaults to 0, the textbook PE as bfp_pe; the "iso" unit of `lbfp synth`
// sets it to 1 (LBFP8's operand hold).
module fp8e4m3_pe #(
  parameter int AccWidth   = 42,
  parameter int PipeStages = 1,
  parameter bit HoldZeros  = 1'b0
) (
  input  logic                clk_i,
  input  logic                rst_ni,
  input  logic                valid_i,
  input  logic                first_i,
  input  logic                last_i,
  input  logic [7:0]          a_i,
  input  logic [7:0]          b_i,
  input  logic [AccWidth-1:0] bias_i,
  output logic                valid_o,
  output logic                first_o,
  output logic                last_o,
  output logic [7:0]          a_o,
  output logic [7:0]          b_o,
  output logic [AccWidth-1:0] acc_o,
  output logic                ovf_o,
  output logic                invalid_o,
  output logic                done_o
);
  pe_fp8 #(
    .ExpBits   (4),
    .MantBits  (3),
    .HasInf    (1'b0),
    .AccWidth  (AccWidth),
    .PipeStages(PipeStages),
    .HoldZeros (HoldZeros)
  ) u_pe (
    .clk_i     (clk_i),
    .rst_ni    (rst_ni),
    .valid_i   (valid_i),
    .first_i   (first_i),
    .last_i    (last_i),
    .a_i       (a_i),
    .b_i       (b_i),
    .bias_i    (bias_i),
    .init_ovf_i(1'b0),  // a reduction always starts with a clear flag here
    .valid_o   (valid_o),
    .first_o   (first_o),
    .last_o    (last_o),
    .a_o       (a_o),
    .b_o       (b_o),
    .acc_o     (acc_o),
    .ovf_o     (ovf_o),
    .invalid_o (invalid_o),
    .done_o    (done_o)
  );
endmodule
