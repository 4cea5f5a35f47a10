// Synthesis-only top: the BFP8 baseline PE (rtl/pe.sv, UseBfp = 1). HoldZeros defaults to 0,
// the textbook baseline; the "iso" unit of `lbfp synth` sets it to 1 (LBFP8's operand hold on the
// BFP8 multiplier), as systolic_array builds it by default.
module bfp_pe #(
  parameter int DataWidth    = 8,
  parameter int AccWidth     = 32,
  parameter int PipeStages   = 1,
  parameter bit IsolateZeros = 1'b0,
  parameter bit HoldZeros    = 1'b0
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
    .UseBfp      (1'b1),
    .DataWidth   (DataWidth),
    .AccWidth    (AccWidth),
    .PipeStages  (PipeStages),
    .HoldZeros   (HoldZeros),
    .IsolateZeros(IsolateZeros)
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
