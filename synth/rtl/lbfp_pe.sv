// Synthesis-only top: the LBFP8 PE as systolic_array builds it (rtl/pe.sv, UseBfp = 0; the
// operand hold on by default).
module lbfp_pe #(
  parameter int DataWidth  = 8,
  parameter int FracBits   = 4,
  parameter int LutBits    = 8,
  parameter int AccWidth   = 32,
  parameter int PipeStages = 1,
  parameter bit HoldZeros  = 1'b1
) (
  input  logic                 clk_i,
  input  logic                 rst_ni,
  input  logic                 valid_i,
  input  logic                 first_i,
  input  logic                 last_i,
  input  logic [DataWidth-1:0] a_i,
  input  logic [DataWidth-1:0] b_i,
  input  logic [AccWidth-1:0]  bias_i,
  output logic                 valid_o,
  output logic                 first_o,
  output logic                 last_o,
  output logic [DataWidth-1:0] a_o,
  output logic [DataWidth-1:0] b_o,
  output logic [AccWidth-1:0]  acc_o,
  output logic                 ovf_o,
  output logic                 done_o
);
  pe #(
    .UseBfp    (1'b0),
    .DataWidth (DataWidth),
    .FracBits  (FracBits),
    .LutBits   (LutBits),
    .AccWidth  (AccWidth),
    .PipeStages(PipeStages),
    .HoldZeros (HoldZeros)
  ) u_pe (
    .clk_i  (clk_i),
    .rst_ni (rst_ni),
    .valid_i(valid_i),
    .first_i(first_i),
    .last_i (last_i),
    .a_i    (a_i),
    .b_i    (b_i),
    .bias_i (bias_i),
    .init_ovf_i(1'b0),  // a reduction always starts with a clear flag here
    .valid_o(valid_o),
    .first_o(first_o),
    .last_o (last_o),
    .a_o    (a_o),
    .b_o    (b_o),
    .acc_o  (acc_o),
    .ovf_o  (ovf_o),
    .done_o (done_o)
  );
endmodule
